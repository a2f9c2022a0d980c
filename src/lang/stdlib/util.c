/* util.c - helpers shared by the standard library's modules (see util.h). */
#include "lang/stdlib/util.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------------------------------
 * Errors and arguments
 * ------------------------------------------------------------------------------------- */

int sl_type_error(tbr_fn_ctx *cx, const char *fn, int argno, const char *name,
                  const char *what, const tb_value *found) {
    const char *type = tb_type_name(found->type);
    if (argno <= 0) return tbr_fn_error(cx, "%s: expected %s, found %s", fn, what, type);
    return tbr_fn_error(cx, "%s: expected %s as argument %d (%s), found %s", fn, what, argno,
                        name, type);
}

int sl_want(tbr_fn_ctx *cx, const char *fn, int argno, const char *name, const tb_value *v,
            uint8_t type) {
    static const char *const what[] = {"null",     "a bool",   "an integer", "an integer",
                                       "a float",  "a string", "binary",     "an array",
                                       "a record"};
    if (v->type == type) return TB_OK;
    return sl_type_error(cx, fn, argno, name, type <= TB_OBJECT ? what[type] : "?", v);
}

int sl_oom(tbr_fn_ctx *cx, const char *fn) {
    tbr_fn_error(cx, "%s: out of memory", fn);
    return TB_ENOMEM;
}

bool sl_as_i64(const tb_value *v, int64_t *out) {
    if (v->type == TB_I64) {
        *out = v->as.i;
        return true;
    }
    if (v->type == TB_U64 && v->as.u <= (uint64_t)INT64_MAX) {
        *out = (int64_t)v->as.u;
        return true;
    }
    return false;
}

bool sl_as_u64(const tb_value *v, uint64_t *out) {
    if (v->type == TB_I64 && v->as.i >= 0) {
        *out = (uint64_t)v->as.i;
        return true;
    }
    if (v->type == TB_U64) {
        *out = v->as.u;
        return true;
    }
    return false;
}

tb_value sl_uint(uint64_t u) {
    return u <= (uint64_t)INT64_MAX ? tb_i64((int64_t)u) : tb_u64(u);
}

/* ---------------------------------------------------------------------------------------
 * String builder
 * ------------------------------------------------------------------------------------- */

void sb_init(sl_sb *sb, tb_arena *arena) {
    tb_buf_init(&sb->buf, arena);
    sb->nomem = sb->too_large = sb->too_deep = false;
}

bool sb_failed(const sl_sb *sb) { return sb->nomem || sb->too_large || sb->too_deep; }

void sb_put(sl_sb *sb, const void *p, size_t n) {
    if (sb_failed(sb) || n == 0) return;
    if (n > SL_MAX_STRING - sb->buf.len) {
        sb->too_large = true;
        return;
    }
    if (!tb_buf_append(&sb->buf, p, n)) sb->nomem = true;
}

void sb_putc(sl_sb *sb, char c) { sb_put(sb, &c, 1); }

void sb_puts(sl_sb *sb, const char *s) { sb_put(sb, s, strlen(s)); }

void sb_put_cp(sl_sb *sb, uint32_t cp) {
    char b[4];
    if (cp < 0x80) {
        b[0] = (char)cp;
        sb_put(sb, b, 1);
    } else if (cp < 0x800) {
        b[0] = (char)(0xC0 | (cp >> 6));
        b[1] = (char)(0x80 | (cp & 0x3F));
        sb_put(sb, b, 2);
    } else if (cp < 0x10000) {
        b[0] = (char)(0xE0 | (cp >> 12));
        b[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        b[2] = (char)(0x80 | (cp & 0x3F));
        sb_put(sb, b, 3);
    } else {
        b[0] = (char)(0xF0 | (cp >> 18));
        b[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        b[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        b[3] = (char)(0x80 | (cp & 0x3F));
        sb_put(sb, b, 4);
    }
}

void sb_put_i64(sl_sb *sb, int64_t i) {
    char num[24];
    snprintf(num, sizeof num, "%" PRId64, i);
    sb_puts(sb, num);
}

void sb_put_u64(sl_sb *sb, uint64_t u) {
    char num[24];
    snprintf(num, sizeof num, "%" PRIu64, u);
    sb_puts(sb, num);
}

void sb_put_f64(sl_sb *sb, double f) {
    if (isnan(f)) {
        sb_puts(sb, "NaN");
        return;
    }
    if (isinf(f)) {
        sb_puts(sb, f < 0 ? "-inf" : "inf");
        return;
    }
    if (f == 0) {
        sb_puts(sb, signbit(f) ? "-0.0" : "0.0");
        return;
    }
    /* the fewest significant digits that read back exactly (what ryu, behind Tremor's
     * JSON, computes directly) */
    char sci[40];
    for (int prec = 0; prec <= 17; prec++) {
        snprintf(sci, sizeof sci, "%.*e", prec, f);
        if (strtod(sci, NULL) == f) break;
    }
    /* sci is [-]d[.ddd]e(+|-)xx: split into digits and a decimal exponent */
    char digits[24];
    size_t nd = 0;
    const char *p = sci;
    bool neg = *p == '-';
    if (neg) p++;
    for (; *p && *p != 'e'; p++)
        if (*p != '.' && nd < sizeof digits) digits[nd++] = *p;
    int exp10 = *p == 'e' ? atoi(p + 1) : 0;
    while (nd > 1 && digits[nd - 1] == '0') nd--; /* %.0e of 1e20 has none, %.3e may */
    if (neg) sb_putc(sb, '-');
    if (exp10 >= -5 && exp10 < 16) {
        if (exp10 >= 0) {
            size_t whole = (size_t)exp10 + 1;
            if (nd <= whole) {
                sb_put(sb, digits, nd);
                for (size_t i = nd; i < whole; i++) sb_putc(sb, '0');
                sb_puts(sb, ".0");
            } else {
                sb_put(sb, digits, whole);
                sb_putc(sb, '.');
                sb_put(sb, digits + whole, nd - whole);
            }
        } else {
            sb_puts(sb, "0.");
            for (int i = 0; i < -exp10 - 1; i++) sb_putc(sb, '0');
            sb_put(sb, digits, nd);
        }
    } else {
        sb_putc(sb, digits[0]);
        if (nd > 1) {
            sb_putc(sb, '.');
            sb_put(sb, digits + 1, nd - 1);
        }
        sb_putc(sb, 'e');
        sb_put_i64(sb, exp10);
    }
}

int sb_finish(tbr_fn_ctx *cx, const char *fn, sl_sb *sb, bool as_bytes, tb_value *out) {
    if (sb->nomem) return sl_oom(cx, fn);
    if (sb->too_large)
        return tbr_fn_error(cx, "%s: the result would be larger than %zu bytes", fn,
                            (size_t)SL_MAX_STRING);
    if (sb->too_deep)
        return tbr_fn_error(cx, "%s: value nested deeper than %d levels", fn, SL_MAX_DEPTH);
    /* an empty result still gets a valid pointer, for callers that memcmp it */
    const char *p = sb->buf.len ? (const char *)sb->buf.data : "";
    *out = as_bytes ? tb_bytes(p, sb->buf.len) : tb_string(p, sb->buf.len);
    return TB_OK;
}

/* ---------------------------------------------------------------------------------------
 * UTF-8
 * ------------------------------------------------------------------------------------- */

size_t sl_utf8_next(const char *s, size_t n, size_t i, uint32_t *cp) {
    const uint8_t *p = (const uint8_t *)s + i;
    size_t left = n - i;
    uint8_t c = p[0];
    size_t need;
    uint32_t v;
    uint8_t lo = 0x80, hi = 0xBF; /* the allowed range of the first continuation byte */
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if (c >= 0xC2 && c <= 0xDF) {
        need = 1;
        v = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        need = 2;
        v = c & 0x0F;
        if (c == 0xE0) lo = 0xA0;      /* no overlong forms */
        else if (c == 0xED) hi = 0x9F; /* no surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 3;
        v = c & 0x07;
        if (c == 0xF0) lo = 0x90;      /* no overlong forms */
        else if (c == 0xF4) hi = 0x8F; /* nothing above U+10FFFF */
    } else {
        *cp = SL_BAD_CP;
        return 1;
    }
    for (size_t k = 1; k <= need; k++) {
        if (k >= left || p[k] < lo || p[k] > hi) {
            /* the bytes so far are the maximal invalid subpart: one unit */
            *cp = SL_BAD_CP;
            return k;
        }
        v = (v << 6) | (p[k] & 0x3Fu);
        lo = 0x80;
        hi = 0xBF;
    }
    *cp = v;
    return need + 1;
}

bool sl_utf8_valid(const char *s, size_t n) {
    uint32_t cp;
    for (size_t i = 0; i < n;) {
        if ((unsigned char)s[i] < 0x80) {
            i++;
            continue;
        }
        i += sl_utf8_next(s, n, i, &cp);
        if (cp == SL_BAD_CP) return false;
    }
    return true;
}

bool sl_is_space(uint32_t c) {
    return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
           c == 0x205F || c == 0x3000;
}

/* Upper-to-lower rules. A shift rule maps every code point of [lo, hi] by +delta; a pair
 * rule covers a run where upper and lower letters alternate, the upper ones having the
 * parity of lo. sl_upper inverts the same rules, so the table is written once. */
enum { SHIFT, PAIRS };
typedef struct case_rule {
    uint32_t lo, hi;
    int32_t delta;
    uint8_t kind;
} case_rule;

static const case_rule case_rules[] = {
    {0x0041, 0x005A, 32, SHIFT},   {0x00C0, 0x00D6, 32, SHIFT},  {0x00D8, 0x00DE, 32, SHIFT},
    {0x0100, 0x012F, 1, PAIRS},    {0x0132, 0x0137, 1, PAIRS},   {0x0139, 0x0148, 1, PAIRS},
    {0x014A, 0x0177, 1, PAIRS},    {0x0178, 0x0178, -121, SHIFT}, {0x0179, 0x017E, 1, PAIRS},
    {0x018F, 0x018F, 202, SHIFT},  {0x01CD, 0x01DC, 1, PAIRS},   {0x01DE, 0x01EF, 1, PAIRS},
    {0x01F8, 0x021F, 1, PAIRS},    {0x0222, 0x0233, 1, PAIRS},   {0x0386, 0x0386, 38, SHIFT},
    {0x0388, 0x038A, 37, SHIFT},   {0x038C, 0x038C, 64, SHIFT},  {0x038E, 0x038F, 63, SHIFT},
    {0x0391, 0x03A1, 32, SHIFT},   {0x03A3, 0x03AB, 32, SHIFT},  {0x03D8, 0x03EF, 1, PAIRS},
    {0x0400, 0x040F, 80, SHIFT},   {0x0410, 0x042F, 32, SHIFT},  {0x0460, 0x0481, 1, PAIRS},
    {0x048A, 0x04BF, 1, PAIRS},    {0x04C0, 0x04C0, 15, SHIFT},  {0x04C1, 0x04CE, 1, PAIRS},
    {0x04D0, 0x052F, 1, PAIRS},    {0x0531, 0x0556, 48, SHIFT},  {0x10A0, 0x10C5, 7264, SHIFT},
    {0x1E00, 0x1E95, 1, PAIRS},    {0x1EA0, 0x1EFF, 1, PAIRS},   {0x2160, 0x216F, 16, SHIFT},
    {0x24B6, 0x24CF, 26, SHIFT},   {0x2C00, 0x2C2F, 48, SHIFT},  {0xFF21, 0xFF3A, 32, SHIFT},
    {0x10400, 0x10427, 40, SHIFT},
};

uint32_t sl_lower(uint32_t c) {
    if (c < 0x80) return c >= 'A' && c <= 'Z' ? c + 32 : c;
    if (c == 0x0130) return 'i'; /* simple mapping of İ; the full one adds U+0307 */
    if (c == 0x1E9E) return 0x00DF;
    for (size_t i = 0; i < sizeof case_rules / sizeof case_rules[0]; i++) {
        const case_rule *r = &case_rules[i];
        if (c < r->lo || c > r->hi) continue;
        if (r->kind == SHIFT) return (uint32_t)((int32_t)c + r->delta);
        return ((c - r->lo) % 2 == 0) ? c + 1 : c;
    }
    return c;
}

uint32_t sl_upper(uint32_t c) {
    if (c < 0x80) return c >= 'a' && c <= 'z' ? c - 32 : c;
    switch (c) { /* lower case letters whose upper case is shared or outside the table */
    case 0x00B5: return 0x039C; /* micro sign */
    case 0x00FF: return 0x0178;
    case 0x0131: return 'I'; /* dotless i */
    case 0x017F: return 'S'; /* long s */
    case 0x03C2: return 0x03A3; /* final sigma */
    default: break;
    }
    for (size_t i = 0; i < sizeof case_rules / sizeof case_rules[0]; i++) {
        const case_rule *r = &case_rules[i];
        if (r->kind == SHIFT) {
            int64_t up = (int64_t)c - r->delta;
            if (up >= r->lo && up <= r->hi) return (uint32_t)up;
        } else if (c > r->lo && c <= r->hi && (c - r->lo) % 2 == 1) {
            return c - 1;
        }
    }
    return c;
}

void sl_put_upper(sl_sb *sb, uint32_t cp) {
    if (cp == 0x00DF) sb_puts(sb, "SS"); /* ß has no single upper case letter */
    else sb_put_cp(sb, sl_upper(cp));
}

void sl_put_lower(sl_sb *sb, uint32_t cp) {
    if (cp == 0x0130) sb_puts(sb, "i\xCC\x87"); /* İ: i with a combining dot above */
    else sb_put_cp(sb, sl_lower(cp));
}

/* ---------------------------------------------------------------------------------------
 * JSON
 * ------------------------------------------------------------------------------------- */

static void json_string(sl_sb *sb, const char *s, size_t n) {
    static const char hex[] = "0123456789abcdef";
    size_t run = 0;
    if (!s) s = ""; /* an empty key may have no pointer */
    sb_putc(sb, '"');
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *esc;
        char u[6] = {'\\', 'u', '0', '0', 0, 0};
        switch (c) {
        case '"': esc = "\\\""; break;
        case '\\': esc = "\\\\"; break;
        case '\n': esc = "\\n"; break;
        case '\r': esc = "\\r"; break;
        case '\t': esc = "\\t"; break;
        case '\b': esc = "\\b"; break;
        case '\f': esc = "\\f"; break;
        default:
            if (c >= 0x20) continue;
            esc = NULL;
            u[4] = hex[c >> 4];
            u[5] = hex[c & 15];
            break;
        }
        sb_put(sb, s + run, i - run);
        if (esc) sb_puts(sb, esc);
        else sb_put(sb, u, 6);
        run = i + 1;
    }
    sb_put(sb, s + run, n - run);
    sb_putc(sb, '"');
}

static void json_newline(sl_sb *sb, int indent, int depth) {
    if (indent <= 0) return;
    sb_putc(sb, '\n');
    for (int i = 0; i < indent * depth; i++) sb_putc(sb, ' ');
}

static void json_value(sl_sb *sb, const tb_value *v, int indent, int depth) {
    if (sb_failed(sb)) return;
    if (depth > SL_MAX_DEPTH) {
        sb->too_deep = true;
        return;
    }
    switch (v->type) {
    case TB_NULL: sb_puts(sb, "null"); break;
    case TB_BOOL: sb_puts(sb, v->as.b ? "true" : "false"); break;
    case TB_I64: sb_put_i64(sb, v->as.i); break;
    case TB_U64: sb_put_u64(sb, v->as.u); break;
    case TB_F64:
        if (isfinite(v->as.f)) sb_put_f64(sb, v->as.f);
        else sb_puts(sb, "null"); /* JSON has no NaN or infinity */
        break;
    case TB_STRING: json_string(sb, sl_text(v), v->len); break;
    case TB_BYTES:
        sb_putc(sb, '[');
        for (uint32_t i = 0; i < v->len; i++) {
            if (i) sb_putc(sb, ',');
            json_newline(sb, indent, depth + 1);
            sb_put_u64(sb, v->as.bytes[i]);
        }
        if (v->len) json_newline(sb, indent, depth);
        sb_putc(sb, ']');
        break;
    case TB_ARRAY:
        sb_putc(sb, '[');
        for (uint32_t i = 0; i < v->len; i++) {
            if (i) sb_putc(sb, ',');
            json_newline(sb, indent, depth + 1);
            json_value(sb, &v->as.items[i], indent, depth + 1);
        }
        if (v->len) json_newline(sb, indent, depth);
        sb_putc(sb, ']');
        break;
    case TB_OBJECT: {
        const uint8_t *live = sl_live_members(sb->buf.arena, v);
        bool first = true;
        if (!live) {
            sb->nomem = true;
            return;
        }
        sb_putc(sb, '{');
        for (uint32_t i = 0; i < v->len; i++) {
            const tb_member *m = &v->as.members[i];
            if (!live[i]) continue;
            if (!first) sb_putc(sb, ',');
            first = false;
            json_newline(sb, indent, depth + 1);
            json_string(sb, m->key, m->key_len);
            sb_puts(sb, indent > 0 ? ": " : ":");
            json_value(sb, &m->value, indent, depth + 1);
        }
        if (!first) json_newline(sb, indent, depth);
        sb_putc(sb, '}');
        break;
    }
    default: sb_puts(sb, "null"); break;
    }
}

void sl_json(sl_sb *sb, const tb_value *v, int indent) { json_value(sb, v, indent, 0); }

/* ---------------------------------------------------------------------------------------
 * Objects
 * ------------------------------------------------------------------------------------- */

static uint64_t key_hash(const char *k, size_t n) {
    uint64_t h = 0xcbf29ce484222325u; /* FNV-1a */
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)k[i]) * 0x100000001b3u;
    return h ^ (h >> 29);
}

static bool key_eq(const tb_member *m, const char *k, size_t n) {
    return m->key_len == n && (n == 0 || memcmp(m->key, k, n) == 0);
}

/* A zeroed table of at least 2 * n slots, a power of two; *mask gets its size - 1. */
static uint32_t *index_new(tb_arena *a, uint32_t n, uint32_t *mask) {
    uint32_t cap = 8;
    while (cap < (uint64_t)n * 2u && cap < (1u << 30)) cap <<= 1;
    uint32_t *t = tb_arena_alloc(a, (size_t)cap * sizeof *t, _Alignof(uint32_t));
    if (!t) return NULL;
    memset(t, 0, (size_t)cap * sizeof *t);
    *mask = cap - 1;
    return t;
}

const uint8_t *sl_live_members(tb_arena *a, const tb_value *obj) {
    uint32_t n = obj->len;
    uint8_t *live = tb_arena_alloc(a, n ? n : 1, 1);
    if (!live) return NULL;
    if (n <= 16) { /* a scan is cheaper than a table for the common small record */
        for (uint32_t i = 0; i < n; i++) {
            const tb_member *m = &obj->as.members[i];
            live[i] = tb_object_get(obj, m->key, m->key_len) == &m->value;
        }
        return live;
    }
    uint32_t mask;
    uint32_t *t = index_new(a, n, &mask);
    if (!t) return NULL;
    /* from the end: the first occurrence seen is the last in the object, the live one */
    for (uint32_t i = n; i-- > 0;) {
        const tb_member *m = &obj->as.members[i];
        uint32_t s = (uint32_t)key_hash(m->key, m->key_len) & mask;
        live[i] = 1;
        for (; t[s]; s = (s + 1) & mask) {
            if (key_eq(&obj->as.members[t[s] - 1], m->key, m->key_len)) {
                live[i] = 0;
                break;
            }
        }
        if (live[i]) t[s] = i + 1;
    }
    return live;
}

uint32_t sl_live_count(const tb_value *obj, const uint8_t *live) {
    uint32_t c = 0;
    for (uint32_t i = 0; i < obj->len; i++) c += live[i] != 0;
    return c;
}

bool sl_obj_init(sl_obj *o, tb_arena *a, uint32_t expect) {
    o->v = tb_object();
    o->arena = a;
    o->index = index_new(a, expect < 4 ? 4 : expect, &o->mask);
    return o->index != NULL;
}

static bool obj_rehash(sl_obj *o) {
    uint32_t mask;
    uint32_t *t = index_new(o->arena, o->mask + 1, &mask); /* twice the slots */
    if (!t) return false;
    for (uint32_t i = 0; i < o->v.len; i++) {
        const tb_member *m = &o->v.as.members[i];
        uint32_t s = (uint32_t)key_hash(m->key, m->key_len) & mask;
        while (t[s]) s = (s + 1) & mask;
        t[s] = i + 1;
    }
    o->index = t;
    o->mask = mask;
    return true;
}

tb_value *sl_obj_get(const sl_obj *o, const char *key, size_t key_len) {
    uint32_t s = (uint32_t)key_hash(key, key_len) & o->mask;
    for (; o->index[s]; s = (s + 1) & o->mask) {
        tb_member *m = &o->v.as.members[o->index[s] - 1];
        if (key_eq(m, key, key_len)) return &m->value;
    }
    return NULL;
}

tb_value *sl_obj_set(sl_obj *o, const char *key, size_t key_len) {
    if (key_len > UINT32_MAX) return NULL;
    /* keep the table at most half full so probes stay short */
    if ((uint64_t)(o->v.len + 1) * 2 > (uint64_t)o->mask + 1 && !obj_rehash(o)) return NULL;
    uint32_t s = (uint32_t)key_hash(key, key_len) & o->mask;
    for (; o->index[s]; s = (s + 1) & o->mask) {
        tb_member *m = &o->v.as.members[o->index[s] - 1];
        if (key_eq(m, key, key_len)) return &m->value;
    }
    tb_value *slot = tb_object_append(o->arena, &o->v, key, key_len);
    if (!slot) return NULL;
    o->index[s] = o->v.len;
    return slot;
}

/* ---------------------------------------------------------------------------------------
 * Copies
 * ------------------------------------------------------------------------------------- */

/* TB_OK, TB_ENOMEM, or TB_EINVAL when nested too deeply. */
static int copy_value(tb_arena *a, const tb_value *src, tb_value *dst, int depth) {
    if (src->type != TB_ARRAY && src->type != TB_OBJECT) {
        *dst = *src;
        return TB_OK;
    }
    if (depth > SL_MAX_DEPTH) return TB_EINVAL;
    tb_value v = src->type == TB_ARRAY ? tb_array() : tb_object();
    v.len = src->len;
    if (src->len == 0) {
        *dst = v;
        return TB_OK;
    }
    if (src->type == TB_ARRAY) {
        tb_value *items = tb_arena_alloc(a, (size_t)src->len * sizeof *items, 8);
        if (!items) return TB_ENOMEM;
        for (uint32_t i = 0; i < src->len; i++) {
            int rc = copy_value(a, &src->as.items[i], &items[i], depth + 1);
            if (rc != TB_OK) return rc;
        }
        v.as.items = items;
    } else {
        tb_member *members = tb_arena_alloc(a, (size_t)src->len * sizeof *members, 8);
        if (!members) return TB_ENOMEM;
        for (uint32_t i = 0; i < src->len; i++) {
            members[i] = src->as.members[i];
            int rc = copy_value(a, &src->as.members[i].value, &members[i].value, depth + 1);
            if (rc != TB_OK) return rc;
        }
        v.as.members = members;
    }
    *dst = v;
    return TB_OK;
}

int sl_copy(tbr_fn_ctx *cx, const char *fn, const tb_value *src, tb_value *dst) {
    int rc = copy_value(cx->arena, src, dst, 0);
    if (rc == TB_ENOMEM) return sl_oom(cx, fn);
    if (rc != TB_OK)
        return tbr_fn_error(cx, "%s: value nested deeper than %d levels", fn, SL_MAX_DEPTH);
    return TB_OK;
}
