/*
 * influx.c - the `influx` codec: InfluxDB line protocol to temblor values and back, with the
 * semantics and record shape of Tremor 0.13 (tremor-influx).
 *
 * Decode: one line (surrounding whitespace trimmed) becomes
 *   {"measurement": str, "tags": {str: str}, "fields": {str: value}, "timestamp": int}
 *  - measurement ends at an unescaped ',' (tags follow) or ' ' (fields follow); "\,", "\ "
 *    and "\\" are unescaped, any other backslash is kept;
 *  - tag keys and values end at '=', ' ' or ','; "\=", "\,", "\ " and "\\" are unescaped;
 *  - field keys end at '=' ("\=" and "\\" unescaped); field values are "quoted strings"
 *    ("\"" and "\\" unescaped), integers with an `i` suffix (int64), the booleans
 *    t/T/true/True/TRUE/f/F/false/False/FALSE, and floats otherwise (Rust's f64 grammar:
 *    inf/infinity/nan too). Like Tremor 0.13 there is no `u` (unsigned) suffix: "1u" is an
 *    invalid float;
 *  - the timestamp is an unsigned 64-bit integer; when absent it is the event's ingest_ns;
 *  - repeated tag or field keys: the later value replaces the earlier one in place;
 *  - strings without escapes point INTO the input bytes (zero copy), others are unescaped
 *    into the batch arena;
 *  - an empty line or a '#' comment decodes to nothing, as in Tremor: the event is marked
 *    TB_EF_DROPPED (its data null), so the runtime acknowledges it and sends it no further;
 *  - invalid lines fail the event (err port) with "influx codec: <reason> at byte <offset>",
 *    the offset counting bytes of the event's data.
 * Encode writes Tremor's line: escaped measurement, tags sorted by key (non-string tag values
 * skipped), a space, fields sorted by key (strings quoted, integers with `i`, floats in the
 * shortest text that reads back exactly, with ".0" for integral values, booleans as
 * true/false), a space and the timestamp. Missing or ill-typed parts fail the event.
 *
 * Ownership: stateless (no instance memory); every value and every byte
 * of output belongs to the batch arena. Thread contract: create/destroy on the control
 * thread; decode/encode of one instance on one thread at a time. No global mutable state.
 */
#include <temblor/temblor.h>

#include <math.h>
#include <stdlib.h>

/* ---------------------------------------------------------------------------------------
 * Decoding
 * ------------------------------------------------------------------------------------- */

typedef struct dec {
    tb_arena *arena;
    const uint8_t *p;
    size_t n; /* end of the trimmed line */
    int status;
    size_t err_pos;
    char err[96];
} dec;

static int fail(dec *d, size_t pos, const char *msg) {
    d->status = TB_EINVAL;
    d->err_pos = pos;
    snprintf(d->err, sizeof d->err, "%s", msg);
    return TB_EINVAL;
}

static int nomem(dec *d) {
    d->status = TB_ENOMEM;
    return TB_ENOMEM;
}

/* Offset of the first invalid UTF-8 byte of p[0..n), or n when it is all valid. */
static size_t utf8_check(const uint8_t *p, size_t n) {
    size_t i = 0;
    while (i < n) {
        uint8_t c0 = p[i];
        size_t len;
        if (c0 < 0x80) {
            i++;
            continue;
        }
        if (c0 >= 0xC2 && c0 <= 0xDF) len = 2;
        else if (c0 >= 0xE0 && c0 <= 0xEF) len = 3;
        else if (c0 >= 0xF0 && c0 <= 0xF4) len = 4;
        else return i;
        if (n - i < len) return i;
        for (size_t k = 1; k < len; k++)
            if ((p[i + k] & 0xC0) != 0x80) return i;
        if (c0 == 0xE0 && p[i + 1] < 0xA0) return i;
        if (c0 == 0xED && p[i + 1] > 0x9F) return i;
        if (c0 == 0xF0 && p[i + 1] < 0x90) return i;
        if (c0 == 0xF4 && p[i + 1] > 0x8F) return i;
        i += len;
    }
    return n;
}

static bool is_end(const char *ends, uint8_t c) { return c && memchr(ends, c, strlen(ends)); }

/* Reads from *pi up to the first unescaped character of ends (1 to 3 characters). A
 * backslash before '\\' or one of ends yields that character; before anything else it is
 * kept. On success *out is the text, *endc the terminator and *pi is just past it. expected
 * names the terminators for the error message. */
static int scan_to(dec *d, size_t *pi, const char *ends, const char *expected, tb_value *out,
                   char *endc) {
    const uint8_t *p = d->p;
    size_t n = d->n, start = *pi, i = start;
    bool esc = false;
    for (;;) {
        if (i >= n) {
            char m[64];
            snprintf(m, sizeof m, "expected %s", expected);
            return fail(d, n, m);
        }
        uint8_t c = p[i];
        if (c != '\\' && is_end(ends, c)) break;
        if (c == '\\') {
            if (i + 1 >= n) return fail(d, i, "escape at the end of the line");
            if (p[i + 1] == '\\' || is_end(ends, p[i + 1])) esc = true;
            i += 2;
            continue;
        }
        i++;
    }
    *endc = (char)p[i];
    *pi = i + 1;
    if (!esc) {
        *out = tb_string((const char *)p + start, i - start);
        return TB_OK;
    }
    char *o = tb_arena_alloc(d->arena, i - start, 1);
    size_t w = 0;
    if (!o) return nomem(d);
    for (size_t k = start; k < i;) {
        if (p[k] == '\\' && (p[k + 1] == '\\' || is_end(ends, p[k + 1]))) {
            o[w++] = (char)p[k + 1];
            k += 2;
        } else if (p[k] == '\\') {
            o[w++] = '\\';
            o[w++] = (char)p[k + 1];
            k += 2;
        } else {
            o[w++] = (char)p[k++];
        }
    }
    *out = tb_string(o, w);
    return TB_OK;
}

/* Rust's i64 grammar: [+-]?[0-9]+, in range. */
static bool parse_i64(const char *s, size_t n, int64_t *out) {
    size_t i = 0;
    bool neg = false;
    uint64_t m = 0, lim;
    if (i < n && (s[i] == '+' || s[i] == '-')) neg = s[i++] == '-';
    if (i >= n) return false;
    lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    for (; i < n; i++) {
        unsigned dg;
        if (s[i] < '0' || s[i] > '9') return false;
        dg = (unsigned)(s[i] - '0');
        if (m > (lim - dg) / 10) return false;
        m = m * 10 + dg;
    }
    *out = neg ? (m == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)m) : (int64_t)m;
    return true;
}

/* Rust's u64 grammar: +?[0-9]+, in range. */
static bool parse_u64(const char *s, size_t n, uint64_t *out) {
    size_t i = 0;
    uint64_t m = 0;
    if (i < n && s[i] == '+') i++;
    if (i >= n) return false;
    for (; i < n; i++) {
        unsigned dg;
        if (s[i] < '0' || s[i] > '9') return false;
        dg = (unsigned)(s[i] - '0');
        if (m > (UINT64_MAX - dg) / 10) return false;
        m = m * 10 + dg;
    }
    *out = m;
    return true;
}

static bool ieq(const char *s, size_t n, const char *word) {
    size_t k = strlen(word);
    if (n != k) return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c >= 'A' && c <= 'Z') c = (char)(c - 'A' + 'a');
        if (c != word[i]) return false;
    }
    return true;
}

/* Rust's f64 grammar ([+-]? then inf, infinity, nan or a decimal with an optional exponent),
 * converted with strtod. */
static bool parse_f64(dec *d, const char *s, size_t n, double *out) {
    size_t i = 0, digits = 0;
    bool neg = false;
    if (i < n && (s[i] == '+' || s[i] == '-')) neg = s[i++] == '-';
    if (ieq(s + i, n - i, "inf") || ieq(s + i, n - i, "infinity")) {
        *out = neg ? -INFINITY : INFINITY;
        return true;
    }
    if (ieq(s + i, n - i, "nan")) {
        *out = NAN;
        return true;
    }
    while (i < n && s[i] >= '0' && s[i] <= '9') i++, digits++;
    if (i < n && s[i] == '.') {
        i++;
        while (i < n && s[i] >= '0' && s[i] <= '9') i++, digits++;
    }
    if (!digits) return false;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-')) i++;
        if (i >= n || s[i] < '0' || s[i] > '9') return false;
        while (i < n && s[i] >= '0' && s[i] <= '9') i++;
    }
    if (i != n) return false;
    char local[128];
    char *text = local;
    if (n >= sizeof local) {
        text = tb_arena_alloc(d->arena, n + 1, 1);
        if (!text) return false;
    }
    memcpy(text, s, n);
    text[n] = '\0';
    *out = strtod(text, NULL);
    return true;
}

static bool is_word(const char *s, size_t n, const char *w) {
    return strlen(w) == n && memcmp(s, w, n) == 0;
}

/* A field value at *pi: a string, an integer (i suffix), a boolean or a float. *endc is
 * the terminator read after it (',' or ' ') or 0 at the end of the line. */
static int parse_value(dec *d, size_t *pi, tb_value *out, char *endc) {
    const uint8_t *p = d->p;
    size_t n = d->n, start = *pi, i = start;
    bool esc = false, is_int = false;
    if (i >= n || p[i] == ' ' || p[i] == ',') return fail(d, i, "missing field value");
    if (p[i] == '"') {
        char q;
        i++;
        if (scan_to(d, &i, "\"", "'\"'", out, &q)) return d->status;
        if (i >= n) {
            *endc = 0;
        } else if (p[i] == ',' || p[i] == ' ') {
            *endc = (char)p[i++];
        } else {
            return fail(d, i, "trailing character after a string value");
        }
        *pi = i;
        return TB_OK;
    }
    i++; /* the first character is taken as it is */
    for (;;) {
        if (i >= n || p[i] == ',' || p[i] == ' ') break;
        if (p[i] == 'i') {
            if (i + 1 < n && p[i + 1] != ' ' && p[i + 1] != ',')
                return fail(d, i + 1, "expected ' ' or ','");
            is_int = true;
            break;
        }
        if (p[i] == '\\') {
            if (i + 1 >= n) return fail(d, i, "escape at the end of the line");
            esc = true;
            i += 2;
            continue;
        }
        i++;
    }
    size_t end = i; /* the raw text is p[start..end) */
    if (is_int) i++;
    *endc = i < n ? (char)p[i++] : 0;
    *pi = i;
    const char *s = (const char *)p + start;
    size_t len = end - start;
    if (esc) {
        char *o = tb_arena_alloc(d->arena, len, 1);
        size_t w = 0;
        if (!o) return nomem(d);
        o[w++] = s[0];
        for (size_t k = 1; k < len;) {
            if (s[k] == '\\') k++;
            o[w++] = s[k++];
        }
        s = o;
        len = w;
    }
    if (is_int) {
        int64_t v;
        if (!parse_i64(s, len, &v)) return fail(d, start, "invalid integer");
        *out = tb_i64(v);
        return TB_OK;
    }
    if (is_word(s, len, "t") || is_word(s, len, "T") || is_word(s, len, "true") ||
        is_word(s, len, "True") || is_word(s, len, "TRUE")) {
        *out = tb_bool(true);
        return TB_OK;
    }
    if (is_word(s, len, "f") || is_word(s, len, "F") || is_word(s, len, "false") ||
        is_word(s, len, "False") || is_word(s, len, "FALSE")) {
        *out = tb_bool(false);
        return TB_OK;
    }
    double f;
    if (!parse_f64(d, s, len, &f)) return d->status ? d->status : fail(d, start, "invalid float");
    *out = tb_f64(f);
    return TB_OK;
}

/* Parses the line p[i..n) into *out; *empty when it is empty or a comment. */
static int parse_line(dec *d, size_t i, uint64_t ingest_ns, tb_value *out, bool *empty) {
    tb_value meas, tags = tb_object(), fields = tb_object(), *slot;
    char c;
    *empty = false;
    if (i >= d->n || d->p[i] == '#') {
        *empty = true;
        return TB_OK;
    }
    if (scan_to(d, &i, ", ", "',' or ' '", &meas, &c)) return d->status;
    if (c == ',') {
        for (;;) {
            tb_value k, v;
            if (scan_to(d, &i, "= ,", "'=', ' ' or ','", &k, &c)) return d->status;
            if (c != '=') return fail(d, i - 1, "tag without a value");
            if (scan_to(d, &i, "= ,", "'=', ' ' or ','", &v, &c)) return d->status;
            if (c == '=') return fail(d, i - 1, "'=' in a tag value");
            if (!(slot = tb_object_set(d->arena, &tags, k.as.s, k.len))) return nomem(d);
            *slot = v;
            if (c == ' ') break;
        }
    }
    for (;;) {
        tb_value k, v;
        if (scan_to(d, &i, "=", "'='", &k, &c)) return d->status;
        if (parse_value(d, &i, &v, &c)) return d->status;
        if (!(slot = tb_object_set(d->arena, &fields, k.as.s, k.len))) return nomem(d);
        *slot = v;
        if (c != ',') break;
    }
    uint64_t ts = ingest_ns;
    if (i < d->n && !parse_u64((const char *)d->p + i, d->n - i, &ts))
        return fail(d, i, "invalid timestamp");
    tb_value rec = tb_object();
    if (!(slot = tb_object_append(d->arena, &rec, "measurement", 11))) return nomem(d);
    *slot = meas;
    if (!(slot = tb_object_append(d->arena, &rec, "tags", 4))) return nomem(d);
    *slot = tags;
    if (!(slot = tb_object_append(d->arena, &rec, "fields", 6))) return nomem(d);
    *slot = fields;
    if (!(slot = tb_object_append(d->arena, &rec, "timestamp", 9))) return nomem(d);
    *slot = ts <= (uint64_t)INT64_MAX ? tb_i64((int64_t)ts) : tb_u64(ts);
    *out = rec;
    return TB_OK;
}

static bool is_space(uint8_t c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static int TB_CALL decode(void *instance, tb_batch *batch) {
    (void)instance;
    for (uint32_t ei = 0; ei < batch->count; ei++) {
        tb_event *e = &batch->events[ei];
        dec d;
        tb_value v;
        bool empty = false;
        size_t s, bad;
        if (!(e->flags & TB_EF_RAW)) continue;
        if (e->data.type != TB_BYTES) {
            if (!tb_event_fail(batch, e, "influx codec: raw event data is not bytes"))
                return TB_ENOMEM;
            continue;
        }
        d.arena = batch->arena;
        d.p = e->data.len ? e->data.as.bytes : (const uint8_t *)"";
        d.n = e->data.len;
        d.status = TB_OK;
        d.err_pos = 0;
        d.err[0] = '\0';
        bad = utf8_check(d.p, d.n);
        if (bad < d.n) {
            fail(&d, bad, "invalid UTF-8");
        } else {
            s = 0;
            while (s < d.n && is_space(d.p[s])) s++;
            while (d.n > s && is_space(d.p[d.n - 1])) d.n--;
            if (parse_line(&d, s, e->ingest_ns, &v, &empty) == TB_OK) {
                if (empty) {
                    /* dropped, as Tremor does; the runtime still acknowledges it */
                    e->data = tb_null();
                    e->flags = (uint16_t)((e->flags & ~TB_EF_RAW) | TB_EF_DROPPED);
                    continue;
                }
                e->data = v;
                e->flags &= (uint16_t)~TB_EF_RAW;
                continue;
            }
        }
        if (d.status == TB_ENOMEM) return TB_ENOMEM;
        if (!tb_event_failf(batch, e, "influx codec: %s at byte %zu", d.err, d.err_pos))
            return TB_ENOMEM;
    }
    return TB_OK;
}

/* ---------------------------------------------------------------------------------------
 * Encoding
 * ------------------------------------------------------------------------------------- */

static inline bool putc1(tb_buf *b, char ch) { return tb_buf_append(b, &ch, 1); }

/* Measurement, tag keys and values, field keys: escape '"', '\', ',', ' ' and '='. */
static bool put_key(tb_buf *b, const char *s, size_t n) {
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '"' || c == '\\' || c == ',' || c == ' ' || c == '=') {
            if (!tb_buf_append(b, s + start, i - start) || !putc1(b, '\\')) return false;
            start = i;
        }
    }
    return tb_buf_append(b, s + start, n - start);
}

/* String field values: quoted, escape '"' and '\'. */
static bool put_quoted(tb_buf *b, const char *s, size_t n) {
    size_t start = 0;
    if (!putc1(b, '"')) return false;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '"' || s[i] == '\\') {
            if (!tb_buf_append(b, s + start, i - start) || !putc1(b, '\\')) return false;
            start = i;
        }
    }
    return tb_buf_append(b, s + start, n - start) && putc1(b, '"');
}

static bool put_u64(tb_buf *b, uint64_t u, bool neg) {
    char tmp[24];
    size_t k = sizeof tmp;
    do {
        tmp[--k] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (neg) tmp[--k] = '-';
    return tb_buf_append(b, tmp + k, sizeof tmp - k);
}

static bool put_i64(tb_buf *b, int64_t i) {
    return put_u64(b, i < 0 ? (uint64_t)0 - (uint64_t)i : (uint64_t)i, i < 0);
}

static bool put_f64(tb_buf *b, double v) {
    char tmp[40];
    int len = 0;
    for (int prec = 15; prec <= 17; prec++) {
        len = snprintf(tmp, sizeof tmp - 2, "%.*g", prec, v);
        if (prec == 17 || strtod(tmp, NULL) == v) break;
    }
    if (!memchr(tmp, '.', (size_t)len) && !memchr(tmp, 'e', (size_t)len)) {
        tmp[len++] = '.';
        tmp[len++] = '0';
    }
    return tb_buf_append(b, tmp, (size_t)len);
}

static int cmp_member(const void *a, const void *b) {
    const tb_member *x = *(const tb_member *const *)a, *y = *(const tb_member *const *)b;
    size_t l = x->key_len < y->key_len ? x->key_len : y->key_len;
    int r = l ? memcmp(x->key, y->key, l) : 0;
    if (r) return r;
    if (x->key_len != y->key_len) return x->key_len < y->key_len ? -1 : 1;
    return x < y ? -1 : x > y;
}

/* The members of obj ordered by key, in the arena; NULL when out of memory. */
static const tb_member **sorted_members(tb_arena *a, const tb_value *obj) {
    const tb_member **order = tb_arena_alloc(a, (size_t)(obj->len ? obj->len : 1) * sizeof *order, 8);
    if (!order) return NULL;
    for (uint32_t k = 0; k < obj->len; k++) order[k] = &obj->as.members[k];
    if (obj->len > 1) qsort(order, obj->len, sizeof *order, cmp_member);
    return order;
}

typedef struct enc_err {
    char msg[160];
} enc_err;

static int encode_one(tb_buf *b, const tb_value *v, enc_err *err) {
    const tb_value *m = tb_object_getz(v, "measurement");
    const tb_value *tags = tb_object_getz(v, "tags");
    const tb_value *fields = tb_object_getz(v, "fields");
    const tb_value *ts = tb_object_getz(v, "timestamp");
    const tb_member **order;
    if (v->type != TB_OBJECT) {
        snprintf(err->msg, sizeof err->msg, "influx codec: expected an object, not %s",
                 tb_type_name(v->type));
        return TB_EINVAL;
    }
    if (!m || m->type != TB_STRING) {
        snprintf(err->msg, sizeof err->msg, "influx codec: missing string field 'measurement'");
        return TB_EINVAL;
    }
    if (!tags) {
        snprintf(err->msg, sizeof err->msg, "influx codec: missing field 'tags'");
        return TB_EINVAL;
    }
    if (tags->type != TB_OBJECT) {
        snprintf(err->msg, sizeof err->msg, "influx codec: field 'tags' is not an object");
        return TB_EINVAL;
    }
    if (!fields) {
        snprintf(err->msg, sizeof err->msg, "influx codec: missing field 'fields'");
        return TB_EINVAL;
    }
    if (fields->type != TB_OBJECT) {
        snprintf(err->msg, sizeof err->msg, "influx codec: field 'fields' is not an object");
        return TB_EINVAL;
    }
    if (!ts) {
        snprintf(err->msg, sizeof err->msg, "influx codec: missing field 'timestamp'");
        return TB_EINVAL;
    }
    if (!((ts->type == TB_I64 && ts->as.i >= 0) || ts->type == TB_U64)) {
        snprintf(err->msg, sizeof err->msg,
                 "influx codec: 'timestamp' must be an unsigned integer, not %s",
                 tb_type_name(ts->type));
        return TB_EINVAL;
    }
    if (!put_key(b, m->as.s, m->len)) return TB_ENOMEM;
    if (!(order = sorted_members(b->arena, tags))) return TB_ENOMEM;
    for (uint32_t k = 0; k < tags->len; k++) {
        const tb_member *t = order[k];
        if (t->value.type != TB_STRING) continue; /* Tremor skips non-string tags */
        if (!putc1(b, ',') || !put_key(b, t->key, t->key_len) || !putc1(b, '=') ||
            !put_key(b, t->value.as.s, t->value.len))
            return TB_ENOMEM;
    }
    if (!putc1(b, ' ')) return TB_ENOMEM;
    if (!(order = sorted_members(b->arena, fields))) return TB_ENOMEM;
    for (uint32_t k = 0; k < fields->len; k++) {
        const tb_member *f = order[k];
        const tb_value *fv = &f->value;
        bool ok;
        if (k && !putc1(b, ',')) return TB_ENOMEM;
        if (!put_key(b, f->key, f->key_len) || !putc1(b, '=')) return TB_ENOMEM;
        switch (fv->type) {
        case TB_STRING: ok = put_quoted(b, fv->as.s, fv->len); break;
        case TB_BOOL: ok = fv->as.b ? tb_buf_append(b, "true", 4) : tb_buf_append(b, "false", 5); break;
        case TB_I64: ok = put_i64(b, fv->as.i) && putc1(b, 'i'); break;
        case TB_U64: ok = put_u64(b, fv->as.u, false) && putc1(b, 'i'); break;
        case TB_F64:
            if (!isfinite(fv->as.f)) {
                snprintf(err->msg, sizeof err->msg,
                         "influx codec: field '%.*s' is not a finite float",
                         (int)(f->key_len > 64 ? 64 : f->key_len), f->key);
                return TB_EINVAL;
            }
            ok = put_f64(b, fv->as.f);
            break;
        default:
            snprintf(err->msg, sizeof err->msg,
                     "influx codec: field '%.*s' has invalid type %s",
                     (int)(f->key_len > 64 ? 64 : f->key_len), f->key, tb_type_name(fv->type));
            return TB_EINVAL;
        }
        if (!ok) return TB_ENOMEM;
    }
    if (!putc1(b, ' ')) return TB_ENOMEM;
    if (!(ts->type == TB_U64 ? put_u64(b, ts->as.u, false) : put_i64(b, ts->as.i)))
        return TB_ENOMEM;
    return TB_OK;
}

static int TB_CALL encode(void *instance, tb_batch *batch) {
    (void)instance;
    for (uint32_t ei = 0; ei < batch->count; ei++) {
        tb_event *e = &batch->events[ei];
        tb_buf buf;
        enc_err err;
        int rc;
        if (e->flags & TB_EF_RAW) continue;
        tb_buf_init(&buf, batch->arena);
        err.msg[0] = '\0';
        rc = encode_one(&buf, &e->data, &err);
        if (rc == TB_ENOMEM) return TB_ENOMEM;
        if (rc) {
            if (!tb_event_fail(batch, e, err.msg)) return TB_ENOMEM;
            continue;
        }
        e->data = tb_bytes(buf.data, buf.len);
        e->flags |= TB_EF_RAW;
    }
    return TB_OK;
}

/* ---------------------------------------------------------------------------------------
 * Instances and the descriptor
 * ------------------------------------------------------------------------------------- */

static const tb_codec_vtable vtable = {
    .struct_size = sizeof(tb_codec_vtable),
    .create = tb_stateless_create,
    .destroy = tb_stateless_destroy,
    .decode = decode,
    .encode = encode,
};

static const tb_component component = {
    .struct_size = sizeof(tb_component),
    .kind = TB_KIND_CODEC,
    .name = "influx",
    .description = "InfluxDB line protocol, Tremor's record shape",
    .vtable = &vtable,
};

static const tb_component *const components[] = {&component};

static const tb_plugin_descriptor descriptor = {
    TB_DESCRIPTOR_HEAD,
    .flags = TB_PLUGIN_UNLOAD_SAFE,
    .name = "influx",
    .version = "0.1.0",
    .description = "The influx codec",
    .components = components,
    .component_count = 1,
};

TB_PLUGIN_ENTRY(influx) { return &descriptor; }
