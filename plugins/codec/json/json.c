/*
 * json.c - the `json` codec: RFC 8259 JSON text to temblor values and back.
 *
 * Written by hand (no library) because it decodes straight into the event layout of the PDK:
 *  - decode is one pass over the input with an explicit container stack (never recursion),
 *    refusing nesting deeper than JSON_MAX_DEPTH levels;
 *  - strings without escapes point INTO the input bytes (zero copy); strings with escapes are
 *    decoded into the batch arena;
 *  - integers are exact: int64, uint64 above INT64_MAX, float otherwise (and for fractions
 *    and exponents);
 *  - the children of an array or object are collected on a scratch stack owned by the
 *    instance and copied once into exactly sized arena storage when the container closes;
 *  - every RFC 8259 violation, and invalid UTF-8 in strings, fails the event with
 *    "json codec: <reason> at byte <offset>" (tb_event_fail: it goes to the err port) and
 *    the other events go on.
 * Encode writes compact JSON into a tb_buf in the batch arena: floats in the shortest of
 * %.15g/%.16g/%.17g that reads back exactly (with ".0" when it would read back as an
 * integer), non-finite floats as null, bytes as arrays of numbers. Option `mode`
 * ("unsorted", the default, or "sorted") is Tremor's: sorted writes object members ordered
 * by key (bytewise), for tests that compare text. Objects keep duplicate keys as decoded
 * (the PDK's rule: lookups take the last).
 *
 * Ownership: the instance (host->alloc) owns its scratch stacks; every value and every byte
 * of output belongs to the batch arena. Decoded values may point into the input bytes,
 * which live in the same arena.
 * Thread contract: create/destroy on the control thread; decode/encode of one instance on
 * one thread at a time (the scratch stacks are per instance). No global mutable state.
 */
#include <temblor/temblor.h>

#include <math.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#include <stdlib.h>

#define JSON_MAX_DEPTH 512

enum { K_ARRAY = 0, K_OBJECT = 1 };

typedef struct frame {
    uint32_t kind;
    uint32_t start; /* index in the scratch stack where this container's children begin */
} frame;

typedef struct codec {
    const tb_host_api *host;
    tb_context *ctx;
    bool sorted;
    tb_value *vals; /* scratch: items of open arrays */
    size_t vals_cap;
    tb_member *mems; /* scratch: members of open objects */
    size_t mems_cap;
    frame frames[JSON_MAX_DEPTH];
} codec;

/* ---------------------------------------------------------------------------------------
 * Decoding
 * ------------------------------------------------------------------------------------- */

typedef struct parser {
    codec *c;
    tb_arena *arena;
    const uint8_t *p;
    size_t n;
    size_t nvals, nmems;
    int status;      /* TB_EINVAL (syntax) or TB_ENOMEM once failed */
    size_t err_pos;
    char err[112];
} parser;

/* Character classes inside strings: 0 plain, 1 quote, 2 backslash, 3 control, 4 non-ASCII. */
static const uint8_t str_class[256] = {
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
    3, 3, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,
    4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,
    4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,
    4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,
    4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4};

static int fail(parser *ps, size_t pos, const char *msg) {
    ps->status = TB_EINVAL;
    ps->err_pos = pos;
    snprintf(ps->err, sizeof ps->err, "%s", msg);
    return TB_EINVAL;
}

/* "<what>, found 'c'" (or "found byte 0xNN", or "unexpected end of input" at the end). */
static int fail_found(parser *ps, size_t pos, const char *what) {
    ps->status = TB_EINVAL;
    ps->err_pos = pos;
    if (pos >= ps->n) {
        snprintf(ps->err, sizeof ps->err, "unexpected end of input");
    } else {
        uint8_t ch = ps->p[pos];
        if (ch > 0x20 && ch < 0x7f)
            snprintf(ps->err, sizeof ps->err, "%s, found '%c'", what, (char)ch);
        else
            snprintf(ps->err, sizeof ps->err, "%s, found byte 0x%02x", what, (unsigned)ch);
    }
    return TB_EINVAL;
}

static int nomem(parser *ps) {
    ps->status = TB_ENOMEM;
    return TB_ENOMEM;
}

static inline size_t skip_ws(const uint8_t *p, size_t n, size_t i) {
    while (i < n && (p[i] == ' ' || p[i] == '\n' || p[i] == '\r' || p[i] == '\t')) i++;
    return i;
}

static int hexval(uint8_t ch) {
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return -1;
}

/* Reads the 4 hex digits at p[i..i+4); -1 if they are not there. */
static long hex4(const uint8_t *p, size_t n, size_t i) {
    long v = 0;
    if (n - i < 4) return -1;
    for (size_t k = 0; k < 4; k++) {
        int h = hexval(p[i + k]);
        if (h < 0) return -1;
        v = (v << 4) | h;
    }
    return v;
}

/* Length of the valid UTF-8 sequence at p[i] (a byte >= 0x80), or 0 if it is not valid. */
static size_t utf8_seq(const uint8_t *p, size_t n, size_t i) {
    uint8_t c0 = p[i];
    size_t len;
    if (c0 >= 0xC2 && c0 <= 0xDF) {
        len = 2;
    } else if (c0 >= 0xE0 && c0 <= 0xEF) {
        len = 3;
    } else if (c0 >= 0xF0 && c0 <= 0xF4) {
        len = 4;
    } else {
        return 0;
    }
    if (n - i < len) return 0;
    for (size_t k = 1; k < len; k++)
        if ((p[i + k] & 0xC0) != 0x80) return 0;
    /* overlongs, surrogates, above U+10FFFF */
    if (c0 == 0xE0 && p[i + 1] < 0xA0) return 0;
    if (c0 == 0xED && p[i + 1] > 0x9F) return 0;
    if (c0 == 0xF0 && p[i + 1] < 0x90) return 0;
    if (c0 == 0xF4 && p[i + 1] > 0x8F) return 0;
    return len;
}

static size_t put_utf8(uint8_t *o, uint32_t cp) {
    if (cp < 0x80) {
        o[0] = (uint8_t)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (uint8_t)(0xC0 | (cp >> 6));
        o[1] = (uint8_t)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (uint8_t)(0xE0 | (cp >> 12));
        o[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (uint8_t)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (uint8_t)(0xF0 | (cp >> 18));
    o[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (uint8_t)(0x80 | (cp & 0x3F));
    return 4;
}

/* Parses the string whose opening quote is at *pi. On success *out is the string and *pi is
 * just past the closing quote. Validates everything while scanning; only a string with
 * escapes takes a second (decoding) pass, into the arena. */
/* Whether any of the eight bytes in x ends a plain run of a JSON string: '"', '\\', a
 * control character, or, with high, a byte of a multi-byte UTF-8 sequence (which the decoder
 * validates). Word-at-a-time tests (exact about "any", never a false "none"), so long plain
 * runs, the common case in log records, cost one test per eight bytes instead of eight
 * table lookups. */
static inline bool word_has_special(uint64_t x, bool high) {
    const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
    uint64_t q = x ^ (ones * '"'), b = x ^ (ones * '\\');
    uint64_t m = ((q - ones) & ~q) | ((b - ones) & ~b) | ((x - ones * 0x20) & ~x);
    if (high) m |= x;
    return (m & highs) != 0;
}

/* The index of the first byte at or after i (and before n) that may end a plain run, or a
 * little before it: sixteen bytes at a time with SSE2 (every x86-64 has it), which finds the
 * exact byte, then eight at a time, leaving the last few to the caller's byte loop. */
static inline size_t skip_plain_words(const uint8_t *p, size_t i, size_t n, bool high) {
#if defined(__SSE2__)
    const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\');
    const __m128i below_space = _mm_set1_epi8(0x20), max_control = _mm_set1_epi8(0x1f);
    while (n - i >= 16) {
        __m128i x = _mm_loadu_si128((const __m128i *)(const void *)(p + i));
        __m128i m = _mm_or_si128(_mm_cmpeq_epi8(x, quote), _mm_cmpeq_epi8(x, bslash));
        /* signed: bytes from 0x80 compare below 0x20 too, which is what high asks for;
         * unsigned (min(x, 0x1f) == x): control characters only */
        m = _mm_or_si128(m, high ? _mm_cmplt_epi8(x, below_space)
                                 : _mm_cmpeq_epi8(_mm_min_epu8(x, max_control), x));
        int bits = _mm_movemask_epi8(m);
        if (bits) return i + (size_t)__builtin_ctz((unsigned)bits);
        i += 16;
    }
#endif
    while (n - i >= 8) {
        uint64_t x;
        memcpy(&x, p + i, 8);
        if (word_has_special(x, high)) break;
        i += 8;
    }
    return i;
}

/* Always inlined into the document loop: called, it hands its value back through memory as
 * two 8-byte stores that the caller's 16-byte load of the scratch slot cannot forward from,
 * a stall perf put at a quarter of the decoder's time. */
__attribute__((always_inline)) static inline int parse_string(parser *ps, size_t *pi, tb_value *out) {
    const uint8_t *p = ps->p;
    size_t n = ps->n;
    size_t start = *pi + 1, i = start;
    bool esc = false;
    for (;;) {
        i = skip_plain_words(p, i, n, true);
        while (i < n && str_class[p[i]] == 0) i++;
        if (i >= n) return fail(ps, n, "unterminated string");
        switch (str_class[p[i]]) {
        case 1: goto closed;
        case 3: {
            char m[48];
            snprintf(m, sizeof m, "control character 0x%02x in string", (unsigned)p[i]);
            return fail(ps, i, m);
        }
        case 4: {
            size_t l = utf8_seq(p, n, i);
            if (!l) return fail(ps, i, "invalid UTF-8 in string");
            i += l;
            break;
        }
        default: { /* backslash */
            esc = true;
            if (i + 1 >= n) return fail(ps, n, "unterminated string");
            uint8_t e = p[i + 1];
            if (e == 'u') {
                long u = hex4(p, n, i + 2);
                if (u < 0) return fail(ps, i, "invalid \\u escape: expected 4 hex digits");
                if (u >= 0xDC00 && u <= 0xDFFF)
                    return fail(ps, i, "invalid \\u escape: lone low surrogate");
                if (u >= 0xD800 && u <= 0xDBFF) {
                    long lo = -1;
                    if (n - (i + 6) >= 2 && p[i + 6] == '\\' && p[i + 7] == 'u')
                        lo = hex4(p, n, i + 8);
                    if (lo < 0xDC00 || lo > 0xDFFF)
                        return fail(ps, i,
                                    "invalid \\u escape: high surrogate without a low one");
                    i += 12;
                } else {
                    i += 6;
                }
            } else if (e == '"' || e == '\\' || e == '/' || e == 'b' || e == 'f' || e == 'n' ||
                       e == 'r' || e == 't') {
                i += 2;
            } else {
                char m[48];
                if (e > 0x20 && e < 0x7f)
                    snprintf(m, sizeof m, "invalid escape '\\%c' in string", (char)e);
                else
                    snprintf(m, sizeof m, "invalid escape in string");
                return fail(ps, i, m);
            }
            break;
        }
        }
    }
closed:
    *pi = i + 1;
    if (i - start > UINT32_MAX) return fail(ps, start, "string longer than 4 GiB");
    if (!esc) {
        /* no escape, and control characters were refused: safe to write back as it is */
        *out = tb_string((const char *)p + start, i - start);
        out->flags = TB_VF_NO_ESCAPE;
        return TB_OK;
    }
    /* decoding pass: the decoded text is never longer than the raw text */
    size_t raw = i - start;
    uint8_t *o = tb_arena_alloc(ps->arena, raw, 1);
    if (!o) return nomem(ps);
    size_t w = 0;
    for (size_t k = start; k < i;) {
        uint8_t ch = p[k];
        if (ch != '\\') {
            o[w++] = ch;
            k++;
            continue;
        }
        uint8_t e = p[k + 1];
        k += 2;
        switch (e) {
        case 'b': o[w++] = '\b'; break;
        case 'f': o[w++] = '\f'; break;
        case 'n': o[w++] = '\n'; break;
        case 'r': o[w++] = '\r'; break;
        case 't': o[w++] = '\t'; break;
        case 'u': {
            uint32_t cp = (uint32_t)hex4(p, n, k);
            k += 4;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                uint32_t lo = (uint32_t)hex4(p, n, k + 2);
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                k += 6;
            }
            w += put_utf8(o + w, cp);
            break;
        }
        default: o[w++] = e; break; /* " \ / */
        }
    }
    /* give the unused tail back when the buffer is the arena's last allocation */
    if (ps->arena->cur == o + raw) ps->arena->cur = o + w;
    *out = tb_string((const char *)o, w);
    return TB_OK;
}

static const double pow10_exact[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                       1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                       1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* Parses the number starting at *pi (a '-' or a digit). */
static int parse_number(parser *ps, size_t *pi, tb_value *out) {
    const uint8_t *p = ps->p;
    size_t n = ps->n;
    size_t start = *pi, i = start;
    bool neg = false, is_int = true, overflow = false;
    uint64_t m = 0;
    int64_t exp10 = 0;
    if (p[i] == '-') {
        neg = true;
        i++;
    }
    if (i >= n || p[i] < '0' || p[i] > '9') return fail(ps, i, "invalid number: expected a digit");
    if (p[i] == '0') {
        i++;
        if (i < n && p[i] >= '0' && p[i] <= '9') return fail(ps, i, "invalid number: leading zero");
    } else {
        while (i < n && p[i] >= '0' && p[i] <= '9') {
            unsigned d = (unsigned)(p[i] - '0');
            if (m > (UINT64_MAX - d) / 10) overflow = true;
            else m = m * 10 + d;
            i++;
        }
    }
    if (i < n && p[i] == '.') {
        is_int = false;
        i++;
        if (i >= n || p[i] < '0' || p[i] > '9')
            return fail(ps, i, "invalid number: expected a digit after the decimal point");
        while (i < n && p[i] >= '0' && p[i] <= '9') {
            unsigned d = (unsigned)(p[i] - '0');
            if (m > (UINT64_MAX - d) / 10) {
                overflow = true;
            } else if (!overflow) {
                m = m * 10 + d;
                exp10--;
            }
            i++;
        }
    }
    if (i < n && (p[i] == 'e' || p[i] == 'E')) {
        bool eneg = false;
        int64_t e = 0;
        is_int = false;
        i++;
        if (i < n && (p[i] == '+' || p[i] == '-')) eneg = p[i++] == '-';
        if (i >= n || p[i] < '0' || p[i] > '9')
            return fail(ps, i, "invalid number: expected a digit in the exponent");
        while (i < n && p[i] >= '0' && p[i] <= '9') {
            if (e < 1000000) e = e * 10 + (p[i] - '0');
            i++;
        }
        exp10 += eneg ? -e : e;
    }
    *pi = i;
    if (is_int && !overflow) {
        if (!neg) {
            *out = m <= (uint64_t)INT64_MAX ? tb_i64((int64_t)m) : tb_u64(m);
            return TB_OK;
        }
        if (m <= (uint64_t)INT64_MAX) {
            *out = tb_i64(-(int64_t)m);
            return TB_OK;
        }
        if (m == (uint64_t)INT64_MAX + 1) {
            *out = tb_i64(INT64_MIN);
            return TB_OK;
        }
    }
    /* Clinger's fast path: exact when the mantissa and the power of ten are exact doubles */
    if (!overflow && m <= (1ull << 53) && exp10 >= -22 && exp10 <= 22) {
        double d = (double)m;
        d = exp10 < 0 ? d / pow10_exact[-exp10] : d * pow10_exact[exp10];
        *out = tb_f64(neg ? -d : d);
        return TB_OK;
    }
    /* slow path: strtod on a NUL-terminated copy */
    char local[128];
    char *text = local;
    size_t len = i - start;
    if (len >= sizeof local) {
        text = tb_arena_alloc(ps->arena, len + 1, 1);
        if (!text) return nomem(ps);
    }
    memcpy(text, p + start, len);
    text[len] = '\0';
    double d = strtod(text, NULL);
    if (isinf(d)) return fail(ps, start, "invalid number: out of range");
    *out = tb_f64(d);
    return TB_OK;
}

static int grow_vals(parser *ps) {
    codec *c = ps->c;
    size_t ncap = c->vals_cap ? c->vals_cap * 2 : 256;
    tb_value *v = c->host->realloc(c->ctx, c->vals, ncap * sizeof *v);
    if (!v) return nomem(ps);
    c->vals = v;
    c->vals_cap = ncap;
    return TB_OK;
}

static int grow_mems(parser *ps) {
    codec *c = ps->c;
    size_t ncap = c->mems_cap ? c->mems_cap * 2 : 128;
    tb_member *m = c->host->realloc(c->ctx, c->mems, ncap * sizeof *m);
    if (!m) return nomem(ps);
    c->mems = m;
    c->mems_cap = ncap;
    return TB_OK;
}

static bool literal(const uint8_t *p, size_t n, size_t i, const char *word, size_t len) {
    return n - i >= len && memcmp(p + i, word, len) == 0;
}

/* Parses the whole input as one JSON document into *out. */
static int parse_document(parser *ps, tb_value *out) {
    const uint8_t *p = ps->p;
    size_t n = ps->n;
    size_t i = 0;
    uint32_t depth = 0;
    frame *fr = ps->c->frames;
    tb_value v;

value:
    i = skip_ws(p, n, i);
    if (i >= n) return fail(ps, n, "unexpected end of input");
    switch (p[i]) {
    case '{':
        if (depth == JSON_MAX_DEPTH) return fail(ps, i, "nesting deeper than 512 levels");
        fr[depth].kind = K_OBJECT;
        fr[depth].start = (uint32_t)ps->nmems;
        depth++;
        i = skip_ws(p, n, i + 1);
        if (i < n && p[i] == '}') {
            i++;
            depth--;
            v = tb_object();
            goto done;
        }
        goto key;
    case '[':
        if (depth == JSON_MAX_DEPTH) return fail(ps, i, "nesting deeper than 512 levels");
        fr[depth].kind = K_ARRAY;
        fr[depth].start = (uint32_t)ps->nvals;
        depth++;
        i = skip_ws(p, n, i + 1);
        if (i < n && p[i] == ']') {
            i++;
            depth--;
            v = tb_array();
            goto done;
        }
        goto value;
    case '"':
        if (parse_string(ps, &i, &v)) return ps->status;
        goto done;
    case 't':
        if (!literal(p, n, i, "true", 4)) return fail(ps, i, "invalid literal, expected 'true'");
        i += 4;
        v = tb_bool(true);
        goto done;
    case 'f':
        if (!literal(p, n, i, "false", 5)) return fail(ps, i, "invalid literal, expected 'false'");
        i += 5;
        v = tb_bool(false);
        goto done;
    case 'n':
        if (!literal(p, n, i, "null", 4)) return fail(ps, i, "invalid literal, expected 'null'");
        i += 4;
        v = tb_null();
        goto done;
    case '-': case '0': case '1': case '2': case '3': case '4':
    case '5': case '6': case '7': case '8': case '9':
        if (parse_number(ps, &i, &v)) return ps->status;
        goto done;
    default: return fail_found(ps, i, "expected a value");
    }

done:
    if (depth == 0) {
        i = skip_ws(p, n, i);
        if (i < n) return fail_found(ps, i, "trailing characters after the value");
        *out = v;
        return TB_OK;
    }
    {
        frame *f = &fr[depth - 1];
        if (f->kind == K_ARRAY) {
            if (ps->nvals == ps->c->vals_cap && grow_vals(ps)) return ps->status;
            ps->c->vals[ps->nvals++] = v;
            i = skip_ws(p, n, i);
            if (i < n && p[i] == ',') {
                i++;
                goto value;
            }
            if (i < n && p[i] == ']') {
                size_t cnt = ps->nvals - f->start;
                tb_value *items = tb_arena_alloc(ps->arena, cnt * sizeof *items, 8);
                if (!items) return nomem(ps);
                memcpy(items, ps->c->vals + f->start, cnt * sizeof *items);
                ps->nvals = f->start;
                v = tb_array();
                v.len = (uint32_t)cnt;
                v.as.items = items;
                i++;
                depth--;
                goto done;
            }
            return fail_found(ps, i, "expected ',' or ']'");
        }
        ps->c->mems[ps->nmems - 1].value = v;
        i = skip_ws(p, n, i);
        if (i < n && p[i] == ',') {
            i = skip_ws(p, n, i + 1);
            goto key;
        }
        if (i < n && p[i] == '}') {
            size_t cnt = ps->nmems - f->start;
            tb_member *ms = tb_arena_alloc(ps->arena, cnt * sizeof *ms, 8);
            if (!ms) return nomem(ps);
            memcpy(ms, ps->c->mems + f->start, cnt * sizeof *ms);
            ps->nmems = f->start;
            v = tb_object();
            v.len = (uint32_t)cnt;
            v.as.members = ms;
            i++;
            depth--;
            goto done;
        }
        return fail_found(ps, i, "expected ',' or '}'");
    }

key:
    if (i >= n || p[i] != '"') return fail_found(ps, i, "expected a string key");
    {
        tb_value k;
        tb_member *m;
        if (parse_string(ps, &i, &k)) return ps->status;
        if (ps->nmems == ps->c->mems_cap && grow_mems(ps)) return ps->status;
        m = &ps->c->mems[ps->nmems++];
        m->key = k.as.s;
        m->key_len = k.len;
        m->reserved = k.flags & TB_VF_NO_ESCAPE; /* a hint about the key */
        m->value = tb_null();
    }
    i = skip_ws(p, n, i);
    if (i >= n || p[i] != ':') return fail_found(ps, i, "expected ':'");
    i++;
    goto value;
}

static int TB_CALL decode(void *instance, tb_batch *batch) {
    codec *c = instance;
    for (uint32_t ei = 0; ei < batch->count; ei++) {
        tb_event *e = &batch->events[ei];
        parser ps;
        tb_value v;
        if (!(e->flags & TB_EF_RAW)) continue;
        if (e->data.type != TB_BYTES) {
            if (!tb_event_fail(batch, e, "json codec: raw event data is not bytes"))
                return TB_ENOMEM;
            continue;
        }
        ps.c = c;
        ps.arena = batch->arena;
        ps.p = e->data.as.bytes;
        ps.n = e->data.len;
        ps.nvals = ps.nmems = 0;
        ps.status = TB_OK;
        ps.err_pos = 0;
        ps.err[0] = '\0';
        if (ps.n == 0) ps.p = (const uint8_t *)""; /* a zero-length value may be NULL */
        if (parse_document(&ps, &v) == TB_OK) {
            e->data = v;
            e->flags &= (uint16_t)~TB_EF_RAW;
            continue;
        }
        if (ps.status == TB_ENOMEM) return TB_ENOMEM;
        if (!tb_event_failf(batch, e, "json codec: %s at byte %zu", ps.err, ps.err_pos))
            return TB_ENOMEM;
    }
    return TB_OK;
}

/* ---------------------------------------------------------------------------------------
 * Encoding
 * ------------------------------------------------------------------------------------- */

typedef struct writer {
    tb_buf *buf;
    bool sorted;
    const char *err; /* set with TB_EINVAL */
} writer;

static inline bool put(tb_buf *b, const void *s, size_t n) { return tb_buf_append(b, s, n); }

static inline bool putc1(tb_buf *b, char ch) {
    if (b->len == b->cap && !tb_buf_reserve(b, 1)) return false;
    b->data[b->len++] = (uint8_t)ch;
    return true;
}

static bool put_u64(tb_buf *b, uint64_t u, bool neg) {
    /* small counts and flags are most of the numbers in records */
    if (u < 10 && !neg) return putc1(b, (char)('0' + u));
    char tmp[24];
    size_t k = sizeof tmp;
    do {
        tmp[--k] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (neg) tmp[--k] = '-';
    return put(b, tmp + k, sizeof tmp - k);
}

/* The fewest digits after the point (up to 9) with which |d| reads back exactly, or -1. Most
 * floats in records look so (a latency of 125.76). m / 10^k is the nearest double to the
 * decimal m.10^-k, since both are exact doubles and IEEE division rounds correctly, so when
 * it equals |d| that decimal reads back as d; the smallest such k has no trailing zero. */
static int fixed_digits(double a, uint64_t *out_m) {
    /* where %g switches to an exponent, so is the exponent form shorter */
    if (!(a < 1e15) || (a < 1e-4 && a != 0)) return -1;
    for (int k = 0; k <= 9; k++) {
        double x = a * pow10_exact[k];
        if (x >= 9007199254740992.0) return -1;
        /* the candidate, rounded (no libm); the check below decides */
        uint64_t m = (uint64_t)(x + 0.5);
        if ((double)m / pow10_exact[k] == a) {
            *out_m = m;
            return k;
        }
    }
    return -1;
}

static bool put_f64(tb_buf *b, double d) {
    char tmp[40];
    int len = 0;
    uint64_t m;
    if (!isfinite(d)) return put(b, "null", 4);
    int k = fixed_digits(fabs(d), &m);
    if (k >= 0) {
        size_t n = sizeof tmp;
        if (k == 0) {
            /* keep it a float when read back: 1.0, not 1 */
            tmp[--n] = '0';
        } else {
            for (int i = 0; i < k; i++, m /= 10) tmp[--n] = (char)('0' + m % 10);
        }
        tmp[--n] = '.';
        do {
            tmp[--n] = (char)('0' + m % 10);
            m /= 10;
        } while (m);
        if (signbit(d)) tmp[--n] = '-';
        return put(b, tmp + n, sizeof tmp - n);
    }
    for (int prec = 15; prec <= 17; prec++) {
        len = snprintf(tmp, sizeof tmp - 2, "%.*g", prec, d);
        if (prec == 17 || strtod(tmp, NULL) == d) break;
    }
    /* keep it a float when read back: 1.0, not 1 */
    if (!memchr(tmp, '.', (size_t)len) && !memchr(tmp, 'e', (size_t)len)) {
        tmp[len++] = '.';
        tmp[len++] = '0';
    }
    return put(b, tmp, (size_t)len);
}

/* Escapes that JSON requires: quote, backslash and the control characters. */
static const uint8_t esc_class[256] = {
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 1};

/* Appends s quoted; with colon, a ':' after it (an object's key). Most strings need no
 * escape: they are found so with one scan and written with one reservation and one copy. */
static bool put_string(tb_buf *b, const char *s, size_t len, bool colon, bool no_escape) {
    static const char hex[] = "0123456789abcdef";
    const uint8_t *u = (const uint8_t *)s;
    size_t i = len;
    if (!no_escape) {
        i = skip_plain_words(u, 0, len, false);
        while (i < len && !esc_class[u[i]]) i++;
    }
    if (i == len) {
        if (!tb_buf_reserve(b, len + 3)) return false;
        uint8_t *d = b->data + b->len;
        d[0] = '"';
        if (len) memcpy(d + 1, s, len);
        d[len + 1] = '"';
        d[len + 2] = ':';
        b->len += len + 2 + colon;
        return true;
    }
    i = 0;
    if (!tb_buf_reserve(b, len + 2)) return false;
    b->data[b->len++] = '"';
    while (i < len) {
        size_t run = skip_plain_words(u, i, len, false);
        while (run < len && !esc_class[u[run]]) run++;
        if (run > i && !put(b, u + i, run - i)) return false;
        if (run == len) break;
        uint8_t ch = u[run];
        char e[6] = {'\\', 0, 0, 0, 0, 0};
        size_t el = 2;
        switch (ch) {
        case '"': e[1] = '"'; break;
        case '\\': e[1] = '\\'; break;
        case '\b': e[1] = 'b'; break;
        case '\f': e[1] = 'f'; break;
        case '\n': e[1] = 'n'; break;
        case '\r': e[1] = 'r'; break;
        case '\t': e[1] = 't'; break;
        default:
            e[1] = 'u';
            e[2] = '0';
            e[3] = '0';
            e[4] = hex[ch >> 4];
            e[5] = hex[ch & 15];
            el = 6;
        }
        if (!put(b, e, el)) return false;
        i = run + 1;
    }
    return putc1(b, '"') && (!colon || putc1(b, ':'));
}

static int cmp_member(const void *a, const void *b) {
    const tb_member *x = *(const tb_member *const *)a, *y = *(const tb_member *const *)b;
    size_t l = x->key_len < y->key_len ? x->key_len : y->key_len;
    int r = l ? memcmp(x->key, y->key, l) : 0;
    if (r) return r;
    if (x->key_len != y->key_len) return x->key_len < y->key_len ? -1 : 1;
    return x < y ? -1 : x > y; /* stable: duplicates keep their order */
}

static int write_value(writer *w, const tb_value *v, unsigned depth) {
    tb_buf *b = w->buf;
    switch (v->type) {
    case TB_NULL: return put(b, "null", 4) ? TB_OK : TB_ENOMEM;
    case TB_BOOL: return (v->as.b ? put(b, "true", 4) : put(b, "false", 5)) ? TB_OK : TB_ENOMEM;
    case TB_I64:
        return put_u64(b, v->as.i < 0 ? (uint64_t)0 - (uint64_t)v->as.i : (uint64_t)v->as.i,
                       v->as.i < 0)
                   ? TB_OK
                   : TB_ENOMEM;
    case TB_U64: return put_u64(b, v->as.u, false) ? TB_OK : TB_ENOMEM;
    case TB_F64: return put_f64(b, v->as.f) ? TB_OK : TB_ENOMEM;
    case TB_STRING:
        return put_string(b, v->as.s, v->len, false, v->flags & TB_VF_NO_ESCAPE) ? TB_OK : TB_ENOMEM;
    case TB_BYTES:
        if (!tb_buf_reserve(b, (size_t)v->len * 4 + 2)) return TB_ENOMEM;
        b->data[b->len++] = '[';
        for (uint32_t k = 0; k < v->len; k++) {
            uint8_t x = v->as.bytes[k];
            if (k) b->data[b->len++] = ',';
            if (x >= 100) b->data[b->len++] = (uint8_t)('0' + x / 100);
            if (x >= 10) b->data[b->len++] = (uint8_t)('0' + x / 10 % 10);
            b->data[b->len++] = (uint8_t)('0' + x % 10);
        }
        b->data[b->len++] = ']';
        return TB_OK;
    case TB_ARRAY:
        if (depth >= JSON_MAX_DEPTH) {
            w->err = "json codec: value nested deeper than 512 levels";
            return TB_EINVAL;
        }
        if (!putc1(b, '[')) return TB_ENOMEM;
        for (uint32_t k = 0; k < v->len; k++) {
            int rc;
            if (k && !putc1(b, ',')) return TB_ENOMEM;
            if ((rc = write_value(w, &v->as.items[k], depth + 1))) return rc;
        }
        return putc1(b, ']') ? TB_OK : TB_ENOMEM;
    case TB_OBJECT: {
        const tb_member **order = NULL;
        if (depth >= JSON_MAX_DEPTH) {
            w->err = "json codec: value nested deeper than 512 levels";
            return TB_EINVAL;
        }
        if (w->sorted && v->len > 1) {
            order = tb_arena_alloc(b->arena, (size_t)v->len * sizeof *order, 8);
            if (!order) return TB_ENOMEM;
            for (uint32_t k = 0; k < v->len; k++) order[k] = &v->as.members[k];
            qsort(order, v->len, sizeof *order, cmp_member);
        }
        if (!putc1(b, '{')) return TB_ENOMEM;
        for (uint32_t k = 0; k < v->len; k++) {
            const tb_member *m = order ? order[k] : &v->as.members[k];
            int rc;
            if (k && !putc1(b, ',')) return TB_ENOMEM;
            if (!put_string(b, m->key, m->key_len, true, m->reserved & TB_VF_NO_ESCAPE)) return TB_ENOMEM;
            if ((rc = write_value(w, &m->value, depth + 1))) return rc;
        }
        return putc1(b, '}') ? TB_OK : TB_ENOMEM;
    }
    default: w->err = "json codec: value of unknown type"; return TB_EINVAL;
    }
}

static int TB_CALL encode(void *instance, tb_batch *batch) {
    codec *c = instance;
    for (uint32_t ei = 0; ei < batch->count; ei++) {
        tb_event *e = &batch->events[ei];
        tb_buf buf;
        writer w;
        int rc;
        if (e->flags & TB_EF_RAW) continue;
        tb_buf_init(&buf, batch->arena);
        w.buf = &buf;
        w.sorted = c->sorted;
        w.err = NULL;
        rc = write_value(&w, &e->data, 0);
        if (rc == TB_ENOMEM) return TB_ENOMEM;
        if (rc) {
            if (!tb_event_fail(batch, e, w.err)) return TB_ENOMEM;
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

static int new_codec(const tb_create_args *args, bool sorted, void **out) {
    codec *c = args->host->alloc(args->ctx, sizeof *c);
    if (!c) return TB_ENOMEM;
    memset(c, 0, sizeof *c);
    c->host = args->host;
    c->ctx = args->ctx;
    c->sorted = sorted;
    *out = c;
    return TB_OK;
}

static int TB_CALL create(const tb_create_args *args, void **out) {
    size_t len = 0;
    const char *mode = args->config ? tb_config_str(args->config, "mode", "unsorted", &len)
                                    : (len = 8, "unsorted");
    if (len == 6 && memcmp(mode, "sorted", 6) == 0) return new_codec(args, true, out);
    if (len == 8 && memcmp(mode, "unsorted", 8) == 0) return new_codec(args, false, out);
    return tb_fail(args->host, args->ctx, TB_EINVAL,
                   "json codec: option 'mode' must be \"sorted\" or \"unsorted\", not \"%.*s\"",
                   (int)(len > 64 ? 64 : len), mode);
}

/* json-sorted, as Tremor names it: the json codec that always sorts. */
static int TB_CALL create_sorted(const tb_create_args *args, void **out) {
    return new_codec(args, true, out);
}

static void TB_CALL destroy(void *instance) {
    codec *c = instance;
    c->host->free(c->ctx, c->vals);
    c->host->free(c->ctx, c->mems);
    c->host->free(c->ctx, c);
}

static const tb_option options[] = {
    TB_OPTION("mode", TB_OPT_STRING, "unsorted", 0,
              "\"unsorted\" (fast) or \"sorted\": encode object members ordered by key"),
};

static const tb_codec_vtable vtable = {
    .struct_size = sizeof(tb_codec_vtable),
    .create = create,
    .destroy = destroy,
    .decode = decode,
    .encode = encode,
};

static const tb_component component = {
    .struct_size = sizeof(tb_component),
    .kind = TB_KIND_CODEC,
    .name = "json",
    .description = "JSON (RFC 8259): zero-copy decode, compact encode",
    .options = options,
    .option_count = sizeof options / sizeof options[0],
    .vtable = &vtable,
};

static const tb_codec_vtable sorted_vtable = {
    .struct_size = sizeof(tb_codec_vtable),
    .create = create_sorted,
    .destroy = destroy,
    .decode = decode,
    .encode = encode,
};

static const tb_component sorted_component = {
    .struct_size = sizeof(tb_component),
    .kind = TB_KIND_CODEC,
    .name = "json-sorted",
    .description = "JSON with object members encoded in key order (json with mode \"sorted\")",
    .vtable = &sorted_vtable,
};

static const tb_component *const components[] = {&component, &sorted_component};

static const tb_plugin_descriptor descriptor = {
    TB_DESCRIPTOR_HEAD,
    .flags = TB_PLUGIN_UNLOAD_SAFE,
    .name = "json",
    .version = "0.1.0",
    .description = "The json and json-sorted codecs",
    .components = components,
    .component_count = 2,
};

TB_PLUGIN_ENTRY(json) { return &descriptor; }
