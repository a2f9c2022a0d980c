/* json_read.c - JSON text into tb_value (recursive descent, depth-limited). */
#include "value/json.h"
#include "value/utf8.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

typedef struct reader {
    const char *start;
    const char *p;
    const char *end;
    tb_arena *arena;
    char *err;
    size_t err_size;
    int status;
} reader;

static int fail_at(reader *r, const char *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail_at(reader *r, const char *at, const char *fmt, ...) {
    if (r->status != TB_OK) return r->status;
    r->status = TB_EINVAL;
    if (r->err && r->err_size) {
        unsigned line = 1, col = 1;
        for (const char *q = r->start; q < at; q++) {
            if (*q == '\n') {
                line++;
                col = 1;
            } else if (((unsigned char)*q & 0xC0) != 0x80) {
                col++; /* count characters, not UTF-8 continuation bytes */
            }
        }
        char reason[200];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(reason, sizeof reason, fmt, ap);
        va_end(ap);
        snprintf(r->err, r->err_size, "line %u, column %u: %s", line, col, reason);
    }
    return r->status;
}

static int oom(reader *r) {
    if (r->status == TB_OK) {
        r->status = TB_ENOMEM;
        if (r->err && r->err_size) snprintf(r->err, r->err_size, "out of memory");
    }
    return r->status;
}

static void skip_ws(reader *r) {
    while (r->p < r->end && (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r'))
        r->p++;
}

static const char *describe(reader *r) {
    if (r->p >= r->end) return "end of input";
    return NULL;
}

static int unexpected(reader *r, const char *wanted) {
    const char *what = describe(r);
    if (what) return fail_at(r, r->p, "expected %s, found %s", wanted, what);
    unsigned char c = (unsigned char)*r->p;
    if (c >= 0x20 && c < 0x7f) return fail_at(r, r->p, "expected %s, found '%c'", wanted, c);
    return fail_at(r, r->p, "expected %s, found byte 0x%02x", wanted, c);
}

static int hex4(reader *r, const char *at, uint32_t *out) {
    uint32_t v = 0;
    if (r->end - at < 4) return fail_at(r, at, "truncated \\u escape");
    for (int i = 0; i < 4; i++) {
        char c = at[i];
        v <<= 4;
        if (c >= '0' && c <= '9') v |= (uint32_t)(c - '0');
        else if (c >= 'a' && c <= 'f') v |= (uint32_t)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') v |= (uint32_t)(c - 'A' + 10);
        else return fail_at(r, at + i, "invalid hex digit in \\u escape");
    }
    *out = v;
    return TB_OK;
}



/* Parses the string whose opening quote is at r->p. */
static int parse_string(reader *r, const char **out, uint32_t *out_len) {
    const char *open = r->p++;
    const char *s = r->p;
    bool escaped = false;
    /* first pass: find the end, validate, and learn whether a copy is needed */
    while (r->p < r->end && *r->p != '"') {
        unsigned char c = (unsigned char)*r->p;
        if (c == '\\') {
            escaped = true;
            if (r->end - r->p < 2) {
                r->p = r->end; /* a backslash as the last byte: unterminated */
                break;
            }
            r->p += 2;
        } else if (c < 0x20) {
            return fail_at(r, r->p, "control character 0x%02x in string", c);
        } else if (c < 0x80) {
            r->p++;
        } else {
            size_t n = tbr_utf8_seq((const unsigned char *)r->p, (const unsigned char *)r->end);
            if (!n) return fail_at(r, r->p, "invalid UTF-8 in string");
            r->p += n;
        }
    }
    if (r->p >= r->end) return fail_at(r, open, "unterminated string");
    const char *close = r->p++;
    if ((size_t)(close - s) > UINT32_MAX) return fail_at(r, open, "string too long");
    if (!escaped) {
        *out = s;
        *out_len = (uint32_t)(close - s);
        return TB_OK;
    }
    /* escapes only ever shrink the text, so its length bounds the copy */
    char *dst = tb_arena_alloc(r->arena, (size_t)(close - s) + 1, 1);
    if (!dst) return oom(r);
    char *o = dst;
    for (const char *q = s; q < close;) {
        if (*q != '\\') {
            *o++ = *q++;
            continue;
        }
        const char *esc = q;
        q++;
        switch (*q++) {
        case '"': *o++ = '"'; break;
        case '\\': *o++ = '\\'; break;
        case '/': *o++ = '/'; break;
        case 'b': *o++ = '\b'; break;
        case 'f': *o++ = '\f'; break;
        case 'n': *o++ = '\n'; break;
        case 'r': *o++ = '\r'; break;
        case 't': *o++ = '\t'; break;
        case 'u': {
            uint32_t cp;
            if (hex4(r, q, &cp)) return r->status;
            q += 4;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                uint32_t lo;
                if (close - q < 6 || q[0] != '\\' || q[1] != 'u')
                    return fail_at(r, esc, "unpaired high surrogate");
                if (hex4(r, q + 2, &lo)) return r->status;
                if (lo < 0xDC00 || lo > 0xDFFF) return fail_at(r, esc, "unpaired high surrogate");
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                q += 6;
            } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                return fail_at(r, esc, "unpaired low surrogate");
            }
            o += tbr_utf8_put(o, cp);
            break;
        }
        default: return fail_at(r, esc, "invalid escape '\\%c'", q[-1]);
        }
    }
    *out = dst;
    *out_len = (uint32_t)(o - dst);
    return TB_OK;
}

static int parse_number(reader *r, tb_value *out) {
    const char *s = r->p;
    const char *q = s;
    bool neg = false, is_float = false;
    if (q < r->end && *q == '-') neg = true, q++;
    if (q >= r->end || *q < '0' || *q > '9') return fail_at(r, s, "invalid number");
    if (*q == '0') {
        q++;
        if (q < r->end && *q >= '0' && *q <= '9')
            return fail_at(r, s, "leading zero in number");
    } else {
        while (q < r->end && *q >= '0' && *q <= '9') q++;
    }
    if (q < r->end && *q == '.') {
        is_float = true;
        q++;
        if (q >= r->end || *q < '0' || *q > '9') return fail_at(r, q, "digit expected after '.'");
        while (q < r->end && *q >= '0' && *q <= '9') q++;
    }
    if (q < r->end && (*q == 'e' || *q == 'E')) {
        is_float = true;
        q++;
        if (q < r->end && (*q == '+' || *q == '-')) q++;
        if (q >= r->end || *q < '0' || *q > '9') return fail_at(r, q, "digit expected in exponent");
        while (q < r->end && *q >= '0' && *q <= '9') q++;
    }
    r->p = q;
    if (!is_float) {
        /* exact integer accumulation; fall back to double only on overflow */
        uint64_t mag = 0;
        bool overflow = false;
        for (const char *d = s + neg; d < q; d++) {
            uint64_t digit = (uint64_t)(*d - '0');
            if (mag > (UINT64_MAX - digit) / 10) {
                overflow = true;
                break;
            }
            mag = mag * 10 + digit;
        }
        if (!overflow) {
            if (!neg) {
                *out = mag <= (uint64_t)INT64_MAX ? tb_i64((int64_t)mag) : tb_u64(mag);
                return TB_OK;
            }
            if (mag <= (uint64_t)INT64_MAX + 1) {
                *out = tb_i64(mag == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)mag);
                return TB_OK;
            }
        }
    }
    char buf[512];
    size_t n = (size_t)(q - s);
    if (n >= sizeof buf) return fail_at(r, s, "number too long");
    memcpy(buf, s, n);
    buf[n] = '\0';
    errno = 0;
    double d = strtod(buf, NULL);
    if (errno == ERANGE && isinf(d)) return fail_at(r, s, "number out of range");
    *out = tb_f64(d);
    return TB_OK;
}

static int parse_value(reader *r, tb_value *out, int depth);

static int parse_array(reader *r, tb_value *out, int depth) {
    r->p++; /* [ */
    *out = tb_array();
    skip_ws(r);
    if (r->p < r->end && *r->p == ']') {
        r->p++;
        return TB_OK;
    }
    for (;;) {
        tb_value *slot = tb_array_push(r->arena, out);
        if (!slot) return oom(r);
        if (parse_value(r, slot, depth + 1)) return r->status;
        skip_ws(r);
        if (r->p < r->end && *r->p == ',') {
            r->p++;
            continue;
        }
        if (r->p < r->end && *r->p == ']') {
            r->p++;
            return TB_OK;
        }
        return unexpected(r, "',' or ']'");
    }
}

static int parse_object(reader *r, tb_value *out, int depth) {
    r->p++; /* { */
    *out = tb_object();
    skip_ws(r);
    if (r->p < r->end && *r->p == '}') {
        r->p++;
        return TB_OK;
    }
    for (;;) {
        const char *key;
        uint32_t key_len;
        skip_ws(r);
        if (r->p >= r->end || *r->p != '"') return unexpected(r, "a string key");
        if (parse_string(r, &key, &key_len)) return r->status;
        skip_ws(r);
        if (r->p >= r->end || *r->p != ':') return unexpected(r, "':'");
        r->p++;
        tb_value *slot = tb_object_append(r->arena, out, key, key_len);
        if (!slot) return oom(r);
        if (parse_value(r, slot, depth + 1)) return r->status;
        skip_ws(r);
        if (r->p < r->end && *r->p == ',') {
            r->p++;
            continue;
        }
        if (r->p < r->end && *r->p == '}') {
            r->p++;
            return TB_OK;
        }
        return unexpected(r, "',' or '}'");
    }
}

static int literal(reader *r, const char *word, tb_value v, tb_value *out) {
    size_t n = strlen(word);
    if ((size_t)(r->end - r->p) < n || memcmp(r->p, word, n) != 0)
        return unexpected(r, "a value");
    r->p += n;
    *out = v;
    return TB_OK;
}

static int parse_value(reader *r, tb_value *out, int depth) {
    if (depth > TBR_JSON_MAX_DEPTH)
        return fail_at(r, r->p, "nesting deeper than %d levels", TBR_JSON_MAX_DEPTH);
    skip_ws(r);
    if (r->p >= r->end) return unexpected(r, "a value");
    switch (*r->p) {
    case '{': return parse_object(r, out, depth);
    case '[': return parse_array(r, out, depth);
    case '"': {
        const char *s;
        uint32_t n;
        if (parse_string(r, &s, &n)) return r->status;
        *out = tb_string(s, n);
        return TB_OK;
    }
    case 't': return literal(r, "true", tb_bool(true), out);
    case 'f': return literal(r, "false", tb_bool(false), out);
    case 'n': return literal(r, "null", tb_null(), out);
    default:
        if (*r->p == '-' || (*r->p >= '0' && *r->p <= '9')) return parse_number(r, out);
        return unexpected(r, "a value");
    }
}

int tbr_json_parse(tb_arena *arena, const char *text, size_t len, tb_value *out, char *err,
                   size_t err_size) {
    reader r = {text, text, text + len, arena, err, err_size, TB_OK};
    if (err && err_size) err[0] = '\0';
    if (parse_value(&r, out, 0)) return r.status;
    skip_ws(&r);
    if (r.p != r.end) return unexpected(&r, "end of input");
    return TB_OK;
}
