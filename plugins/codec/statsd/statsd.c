/*
 * statsd.c - the `statsd` codec: one statsd line `metric:value|type[|@rate]` to a record and
 * back, with the semantics and record shape of Tremor 0.13 (src/codec/statsd.rs).
 *
 * Decode gives {"metric": str, ["action": "add"|"sub",] "type": str, ["sample_rate": float,]
 * "value": int|float} (members in that order):
 *  - metric is everything before the first ':' (zero copy, must be UTF-8);
 *  - value is the text up to the next '|': a float when it holds a '.', an int64 otherwise
 *    (Rust's grammars: an optional sign, then digits; floats may be inf/nan or carry an
 *    exponent);
 *  - type is c, h, s, ms or g; for g a leading '+' sets action "add" and a leading '-' sets
 *    action "sub" and the value is negated (so it is the magnitude); other types keep the
 *    sign in the value;
 *  - an optional `|@rate` follows (rate: a float, always decoded as float);
 *  - anything else fails the event with "statsd codec: <reason> at byte <offset>".
 * Encode writes metric ':' [+|-] value '|' type ['|@' rate]; the sign comes from action for
 * type g. value and sample_rate must be int or float (finite); integers are written as
 * such, floats in the shortest text that reads back exactly, with ".0" when integral.
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
    size_t err_pos;
    const char *err;
} dec;

static int fail(dec *d, size_t pos, const char *msg) {
    d->err_pos = pos;
    d->err = msg;
    return TB_EINVAL;
}

static bool utf8_valid(const uint8_t *p, size_t n) {
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
        else return false;
        if (n - i < len) return false;
        for (size_t k = 1; k < len; k++)
            if ((p[i + k] & 0xC0) != 0x80) return false;
        if (c0 == 0xE0 && p[i + 1] < 0xA0) return false;
        if (c0 == 0xED && p[i + 1] > 0x9F) return false;
        if (c0 == 0xF0 && p[i + 1] < 0x90) return false;
        if (c0 == 0xF4 && p[i + 1] > 0x8F) return false;
        i += len;
    }
    return true;
}

/* Rust's i64 grammar: [+-]?[0-9]+, in range. */
static bool parse_i64(const uint8_t *s, size_t n, int64_t *out) {
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

static bool ieq(const uint8_t *s, size_t n, const char *word) {
    size_t k = strlen(word);
    if (n != k) return false;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = s[i];
        if (c >= 'A' && c <= 'Z') c = (uint8_t)(c - 'A' + 'a');
        if (c != (uint8_t)word[i]) return false;
    }
    return true;
}

/* Rust's f64 grammar, converted with strtod. */
static bool parse_f64(const uint8_t *s, size_t n, double *out) {
    size_t i = 0, digits = 0;
    bool neg = false;
    char text[128];
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
    if (i != n || n >= sizeof text) return false; /* longer texts: not a statsd number */
    memcpy(text, s, n);
    text[n] = '\0';
    *out = strtod(text, NULL);
    return true;
}

static int parse_line(dec *d, tb_arena *a, const uint8_t *p, size_t n, tb_value *out) {
    size_t i = 0, vstart, vend;
    bool is_float = false;
    tb_value rec = tb_object(), value, *slot;
    const char *type;
    size_t type_len;
    while (i < n && p[i] != ':') i++;
    if (i >= n) return fail(d, n, "expected ':' after the metric name");
    if (!utf8_valid(p, i)) return fail(d, 0, "metric name is not valid UTF-8");
    if (!(slot = tb_object_append(a, &rec, "metric", 6))) return TB_ENOMEM;
    *slot = tb_string((const char *)p, i);
    vstart = ++i;
    while (i < n && p[i] != '|') {
        if (p[i] == '.') is_float = true;
        i++;
    }
    if (i >= n) return fail(d, n, "expected '|' after the value");
    vend = i++;
    if (is_float) {
        double f;
        if (!parse_f64(p + vstart, vend - vstart, &f)) return fail(d, vstart, "invalid float value");
        value = tb_f64(f);
    } else {
        int64_t v;
        if (!parse_i64(p + vstart, vend - vstart, &v)) return fail(d, vstart, "invalid integer value");
        value = tb_i64(v);
    }
    if (i >= n) return fail(d, i, "expected a type (c, ms, g, h or s)");
    type = (const char *)p + i;
    type_len = 1;
    switch (p[i]) {
    case 'c': case 'h': case 's': break;
    case 'm':
        if (i + 1 >= n || p[i + 1] != 's') return fail(d, i, "expected a type (c, ms, g, h or s)");
        type_len = 2;
        break;
    case 'g':
        if (vstart < vend && p[vstart] == '+') {
            if (!(slot = tb_object_append(a, &rec, "action", 6))) return TB_ENOMEM;
            *slot = tb_stringz("add");
        } else if (vstart < vend && p[vstart] == '-') {
            if (value.type == TB_I64) {
                if (value.as.i == INT64_MIN) return fail(d, vstart, "invalid integer value");
                value.as.i = -value.as.i;
            } else {
                value.as.f = -value.as.f;
            }
            if (!(slot = tb_object_append(a, &rec, "action", 6))) return TB_ENOMEM;
            *slot = tb_stringz("sub");
        }
        break;
    default: return fail(d, i, "expected a type (c, ms, g, h or s)");
    }
    if (!(slot = tb_object_append(a, &rec, "type", 4))) return TB_ENOMEM;
    *slot = tb_string(type, type_len);
    i += type_len;
    if (i < n) {
        double rate;
        if (p[i] != '|') return fail(d, i, "expected '|' or the end after the type");
        i++;
        if (i >= n || p[i] != '@') return fail(d, i, "expected '@' before the sample rate");
        i++;
        if (!parse_f64(p + i, n - i, &rate)) return fail(d, i, "invalid sample rate");
        if (!(slot = tb_object_append(a, &rec, "sample_rate", 11))) return TB_ENOMEM;
        *slot = tb_f64(rate);
    }
    if (!(slot = tb_object_append(a, &rec, "value", 5))) return TB_ENOMEM;
    *slot = value;
    *out = rec;
    return TB_OK;
}

static int TB_CALL decode(void *instance, tb_batch *batch) {
    (void)instance;
    for (uint32_t ei = 0; ei < batch->count; ei++) {
        tb_event *e = &batch->events[ei];
        dec d = {0, NULL};
        tb_value v;
        int rc;
        if (!(e->flags & TB_EF_RAW)) continue;
        if (e->data.type != TB_BYTES) {
            if (!tb_event_fail(batch, e, "statsd codec: raw event data is not bytes"))
                return TB_ENOMEM;
            continue;
        }
        rc = parse_line(&d, batch->arena,
                        e->data.len ? e->data.as.bytes : (const uint8_t *)"", e->data.len, &v);
        if (rc == TB_ENOMEM) return TB_ENOMEM;
        if (rc == TB_OK) {
            e->data = v;
            e->flags &= (uint16_t)~TB_EF_RAW;
            continue;
        }
        if (!tb_event_failf(batch, e, "statsd codec: %s at byte %zu", d.err, d.err_pos))
            return TB_ENOMEM;
    }
    return TB_OK;
}

/* ---------------------------------------------------------------------------------------
 * Encoding
 * ------------------------------------------------------------------------------------- */

static bool put_number(tb_buf *b, const tb_value *v) {
    char tmp[48];
    int len = 0;
    if (v->type == TB_I64) {
        len = snprintf(tmp, sizeof tmp, "%lld", (long long)v->as.i);
    } else if (v->type == TB_U64) {
        len = snprintf(tmp, sizeof tmp, "%llu", (unsigned long long)v->as.u);
    } else {
        for (int prec = 15; prec <= 17; prec++) {
            len = snprintf(tmp, sizeof tmp - 2, "%.*g", prec, v->as.f);
            if (prec == 17 || strtod(tmp, NULL) == v->as.f) break;
        }
        if (!memchr(tmp, '.', (size_t)len) && !memchr(tmp, 'e', (size_t)len)) {
            tmp[len++] = '.';
            tmp[len++] = '0';
        }
    }
    return tb_buf_append(b, tmp, (size_t)len);
}

/* Tremor accepts int64 (is_i64: also a uint64 within range) and float. */
static bool is_number(const tb_value *v) {
    return v && (v->type == TB_I64 || (v->type == TB_U64 && v->as.u <= (uint64_t)INT64_MAX) ||
                 (v->type == TB_F64 && isfinite(v->as.f)));
}

static int encode_one(tb_buf *b, const tb_value *v, const char **err) {
    const tb_value *metric = tb_object_getz(v, "metric");
    const tb_value *type = tb_object_getz(v, "type");
    const tb_value *value = tb_object_getz(v, "value");
    const tb_value *rate = tb_object_getz(v, "sample_rate");
    const tb_value *action = tb_object_getz(v, "action");
    if (v->type != TB_OBJECT) return *err = "statsd codec: expected an object", TB_EINVAL;
    if (!metric || metric->type != TB_STRING)
        return *err = "statsd codec: 'metric' must be a string", TB_EINVAL;
    if (!type || type->type != TB_STRING)
        return *err = "statsd codec: 'type' must be a string", TB_EINVAL;
    if (!is_number(value))
        return *err = "statsd codec: 'value' must be an integer or a finite float", TB_EINVAL;
    if (rate && !is_number(rate))
        return *err = "statsd codec: 'sample_rate' must be an integer or a finite float",
               TB_EINVAL;
    if (!tb_buf_append(b, metric->as.s, metric->len) || !tb_buf_append(b, ":", 1))
        return TB_ENOMEM;
    if (tb_value_str_eq(type, "g")) {
        if (tb_value_str_eq(action, "add") && !tb_buf_append(b, "+", 1)) return TB_ENOMEM;
        if (tb_value_str_eq(action, "sub") && !tb_buf_append(b, "-", 1)) return TB_ENOMEM;
    }
    if (!put_number(b, value) || !tb_buf_append(b, "|", 1) ||
        !tb_buf_append(b, type->as.s, type->len))
        return TB_ENOMEM;
    if (rate && (!tb_buf_append(b, "|@", 2) || !put_number(b, rate))) return TB_ENOMEM;
    return TB_OK;
}

static int TB_CALL encode(void *instance, tb_batch *batch) {
    (void)instance;
    for (uint32_t ei = 0; ei < batch->count; ei++) {
        tb_event *e = &batch->events[ei];
        tb_buf buf;
        const char *err = NULL;
        int rc;
        if (e->flags & TB_EF_RAW) continue;
        tb_buf_init(&buf, batch->arena);
        rc = encode_one(&buf, &e->data, &err);
        if (rc == TB_ENOMEM) return TB_ENOMEM;
        if (rc) {
            if (!tb_event_fail(batch, e, err)) return TB_ENOMEM;
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
    .name = "statsd",
    .description = "statsd lines, Tremor's record shape",
    .vtable = &vtable,
};

static const tb_component *const components[] = {&component};

static const tb_plugin_descriptor descriptor = {
    TB_DESCRIPTOR_HEAD,
    .flags = TB_PLUGIN_UNLOAD_SAFE,
    .name = "statsd",
    .version = "0.1.0",
    .description = "The statsd codec",
    .components = components,
    .component_count = 1,
};

TB_PLUGIN_ENTRY(statsd) { return &descriptor; }
