/*
 * msgpack.c - the `msgpack` codec: MessagePack (https://msgpack.org spec) to temblor values
 * and back, written by hand (no library), with Tremor 0.13's semantics.
 *
 * Decode reads exactly one MessagePack value per event:
 *  - nil, bool, every int format (positive values as int, above INT64_MAX as uint), float32
 *    (widened) and float64, str (UTF-8 checked) and bin, array and map;
 *  - str and bin values point INTO the input bytes (zero copy); map keys too;
 *  - map keys must be strings (Tremor's records have string keys); ext and fixext types are
 *    refused, as Tremor's decoder refuses them;
 *  - nesting deeper than MP_MAX_DEPTH (512) levels, the never-used marker 0xc1, truncated
 *    input and bytes after the value fail the event with
 *    "msgpack codec: <reason> at byte <offset>" (tb_event_fail: it goes to the err port); the
 *    other events go on.
 * Encode writes the smallest encoding of every integer, floats as float64, strings as str,
 * bytes as bin, arrays and objects (members in order) into a tb_buf in the batch arena.
 *
 * Ownership: stateless (no instance memory); every value and
 * every output byte belongs to the batch arena. Decoded strings/bytes point into the input.
 * Thread contract: create/destroy on the control thread; decode/encode of one instance on
 * one thread at a time. No global mutable state.
 */
#include <temblor/temblor.h>

#define MP_MAX_DEPTH 512

/* ---------------------------------------------------------------------------------------
 * Decoding
 * ------------------------------------------------------------------------------------- */

typedef struct reader {
    tb_arena *arena;
    const uint8_t *p;
    size_t n;
    size_t i;
    int status; /* TB_EINVAL or TB_ENOMEM once failed */
    size_t err_pos;
    char err[96];
} reader;

static int rfail(reader *r, size_t pos, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
static int rfail(reader *r, size_t pos, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->err, sizeof r->err, fmt, ap);
    va_end(ap);
    r->status = TB_EINVAL;
    r->err_pos = pos;
    return TB_EINVAL;
}

static uint64_t be(const uint8_t *p, size_t k) {
    uint64_t v = 0;
    for (size_t j = 0; j < k; j++) v = (v << 8) | p[j];
    return v;
}

/* Length of the valid UTF-8 sequence at p[i] (a byte >= 0x80), or 0 if it is not valid. */
static size_t utf8_seq(const uint8_t *p, size_t n, size_t i) {
    uint8_t c0 = p[i];
    size_t len;
    if (c0 >= 0xC2 && c0 <= 0xDF) len = 2;
    else if (c0 >= 0xE0 && c0 <= 0xEF) len = 3;
    else if (c0 >= 0xF0 && c0 <= 0xF4) len = 4;
    else return 0;
    if (n - i < len) return 0;
    for (size_t k = 1; k < len; k++)
        if ((p[i + k] & 0xC0) != 0x80) return 0;
    if (c0 == 0xE0 && p[i + 1] < 0xA0) return 0;
    if (c0 == 0xED && p[i + 1] > 0x9F) return 0;
    if (c0 == 0xF0 && p[i + 1] < 0x90) return 0;
    if (c0 == 0xF4 && p[i + 1] > 0x8F) return 0;
    return len;
}

/* Offset of the first invalid UTF-8 byte in p[s..e), or e when it is all valid. */
static size_t utf8_check(const uint8_t *p, size_t s, size_t e) {
    size_t i = s;
    while (i < e) {
        /* ASCII, the common case, eight bytes at a time: no high bit, nothing to check */
        while (e - i >= 8) {
            uint64_t x;
            memcpy(&x, p + i, 8);
            if (x & 0x8080808080808080ull) break;
            i += 8;
        }
        if (i >= e) break;
        if (p[i] < 0x80) {
            i++;
            continue;
        }
        size_t l = utf8_seq(p, e, i);
        if (!l) return i;
        i += l;
    }
    return e;
}

/* Reads k big-endian bytes of the value whose marker is at m; fails when truncated. */
static int need(reader *r, size_t m, size_t k, const char *what) {
    if (r->n - r->i < k)
        return rfail(r, m, "unexpected end of input in %s", what);
    return TB_OK;
}

static int read_value(reader *r, tb_value *out, unsigned depth);

static int read_array(reader *r, size_t m, uint64_t cnt, tb_value *out, unsigned depth) {
    tb_value v = tb_array();
    if (depth >= MP_MAX_DEPTH) return rfail(r, m, "nesting deeper than 512 levels");
    /* every item takes at least one byte: refuse counts the input cannot hold */
    if (cnt > r->n - r->i) return rfail(r, m, "unexpected end of input in array");
    if (cnt) {
        v.as.items = tb_arena_alloc(r->arena, (size_t)cnt * sizeof(tb_value), 8);
        if (!v.as.items) return r->status = TB_ENOMEM;
        for (uint64_t k = 0; k < cnt; k++) {
            if (read_value(r, &v.as.items[k], depth + 1)) return r->status;
        }
    }
    v.len = (uint32_t)cnt;
    *out = v;
    return TB_OK;
}

static int read_map(reader *r, size_t m, uint64_t cnt, tb_value *out, unsigned depth) {
    tb_value v = tb_object();
    if (depth >= MP_MAX_DEPTH) return rfail(r, m, "nesting deeper than 512 levels");
    /* every member takes at least two bytes */
    if (cnt > (r->n - r->i) / 2) return rfail(r, m, "unexpected end of input in map");
    if (cnt) {
        v.as.members = tb_arena_alloc(r->arena, (size_t)cnt * sizeof(tb_member), 8);
        if (!v.as.members) return r->status = TB_ENOMEM;
        for (uint64_t k = 0; k < cnt; k++) {
            tb_member *mem = &v.as.members[k];
            tb_value key;
            size_t kpos = r->i;
            if (read_value(r, &key, depth + 1)) return r->status;
            if (key.type != TB_STRING)
                return rfail(r, kpos, "map key must be a string, found %s", tb_type_name(key.type));
            mem->key = key.as.s;
            mem->key_len = key.len;
            mem->reserved = 0;
            if (read_value(r, &mem->value, depth + 1)) return r->status;
        }
    }
    v.len = (uint32_t)cnt;
    *out = v;
    return TB_OK;
}

static int read_str(reader *r, size_t m, size_t lenbytes, uint64_t len, tb_value *out,
                    bool bin) {
    const char *what = bin ? "bin" : "str";
    if (lenbytes) {
        if (need(r, m, lenbytes, what)) return r->status;
        len = be(r->p + r->i, lenbytes);
        r->i += lenbytes;
    }
    if (r->n - r->i < len) return rfail(r, m, "unexpected end of input in %s", what);
    if (bin) {
        *out = tb_bytes(r->p + r->i, (size_t)len);
    } else {
        size_t bad = utf8_check(r->p, r->i, r->i + (size_t)len);
        if (bad != r->i + len) return rfail(r, bad, "invalid UTF-8 in string");
        *out = tb_string((const char *)r->p + r->i, (size_t)len);
    }
    r->i += (size_t)len;
    return TB_OK;
}

static int read_value(reader *r, tb_value *out, unsigned depth) {
    size_t m = r->i;
    uint8_t b;
    if (m >= r->n) return rfail(r, m, "unexpected end of input");
    b = r->p[r->i++];
    if (b <= 0x7f) {
        *out = tb_i64(b);
        return TB_OK;
    }
    if (b >= 0xe0) {
        *out = tb_i64((int8_t)b);
        return TB_OK;
    }
    if (b >= 0x80 && b <= 0x8f) return read_map(r, m, b & 0x0f, out, depth);
    if (b >= 0x90 && b <= 0x9f) return read_array(r, m, b & 0x0f, out, depth);
    if (b >= 0xa0 && b <= 0xbf) return read_str(r, m, 0, b & 0x1f, out, false);
    switch (b) {
    case 0xc0: *out = tb_null(); return TB_OK;
    case 0xc2: *out = tb_bool(false); return TB_OK;
    case 0xc3: *out = tb_bool(true); return TB_OK;
    case 0xc4: return read_str(r, m, 1, 0, out, true);
    case 0xc5: return read_str(r, m, 2, 0, out, true);
    case 0xc6: return read_str(r, m, 4, 0, out, true);
    case 0xd9: return read_str(r, m, 1, 0, out, false);
    case 0xda: return read_str(r, m, 2, 0, out, false);
    case 0xdb: return read_str(r, m, 4, 0, out, false);
    case 0xca: {
        uint32_t u;
        float f;
        if (need(r, m, 4, "float32")) return r->status;
        u = (uint32_t)be(r->p + r->i, 4);
        memcpy(&f, &u, 4);
        r->i += 4;
        *out = tb_f64((double)f);
        return TB_OK;
    }
    case 0xcb: {
        uint64_t u;
        double d;
        if (need(r, m, 8, "float64")) return r->status;
        u = be(r->p + r->i, 8);
        memcpy(&d, &u, 8);
        r->i += 8;
        *out = tb_f64(d);
        return TB_OK;
    }
    case 0xcc: case 0xcd: case 0xce: case 0xcf: {
        static const char *const names[] = {"uint8", "uint16", "uint32", "uint64"};
        size_t k = (size_t)1 << (b - 0xcc);
        uint64_t u;
        if (need(r, m, k, names[b - 0xcc])) return r->status;
        u = be(r->p + r->i, k);
        r->i += k;
        *out = u <= (uint64_t)INT64_MAX ? tb_i64((int64_t)u) : tb_u64(u);
        return TB_OK;
    }
    case 0xd0: case 0xd1: case 0xd2: case 0xd3: {
        static const char *const names[] = {"int8", "int16", "int32", "int64"};
        unsigned k = 1u << (b - 0xd0);
        uint64_t u;
        int64_t i;
        if (need(r, m, k, names[b - 0xd0])) return r->status;
        u = be(r->p + r->i, k);
        r->i += k;
        /* sign-extend from k bytes */
        if (k < 8 && (u >> (8 * k - 1)) & 1) u |= ~(uint64_t)0 << (8 * k);
        memcpy(&i, &u, 8);
        *out = tb_i64(i);
        return TB_OK;
    }
    case 0xdc: case 0xdd: {
        size_t k = b == 0xdc ? 2 : 4;
        uint64_t cnt;
        if (need(r, m, k, "array")) return r->status;
        cnt = be(r->p + r->i, k);
        r->i += k;
        return read_array(r, m, cnt, out, depth);
    }
    case 0xde: case 0xdf: {
        size_t k = b == 0xde ? 2 : 4;
        uint64_t cnt;
        if (need(r, m, k, "map")) return r->status;
        cnt = be(r->p + r->i, k);
        r->i += k;
        return read_map(r, m, cnt, out, depth);
    }
    case 0xd4: case 0xd5: case 0xd6: case 0xd7: case 0xd8: /* fixext 1..16 */
        if (need(r, m, 1, "ext")) return r->status;
        return rfail(r, m, "ext type %d is not supported", (int)(int8_t)r->p[r->i]);
    case 0xc7: case 0xc8: case 0xc9: { /* ext 8/16/32 */
        size_t k = (size_t)1 << (b - 0xc7);
        if (need(r, m, k + 1, "ext")) return r->status;
        return rfail(r, m, "ext type %d is not supported", (int)(int8_t)r->p[r->i + k]);
    }
    default: /* 0xc1 */
        return rfail(r, m, "invalid marker byte 0x%02x", (unsigned)b);
    }
}

static int TB_CALL decode(void *instance, tb_batch *batch) {
    (void)instance;
    for (uint32_t ei = 0; ei < batch->count; ei++) {
        tb_event *e = &batch->events[ei];
        reader r;
        tb_value v;
        if (!(e->flags & TB_EF_RAW)) continue;
        if (e->data.type != TB_BYTES) {
            if (!tb_event_fail(batch, e, "msgpack codec: raw event data is not bytes"))
                return TB_ENOMEM;
            continue;
        }
        memset(&r, 0, sizeof r);
        r.arena = batch->arena;
        r.p = e->data.len ? e->data.as.bytes : (const uint8_t *)"";
        r.n = e->data.len;
        if (read_value(&r, &v, 0) == TB_OK && r.i < r.n)
            rfail(&r, r.i, "trailing bytes after the value");
        if (r.status == TB_OK) {
            e->data = v;
            e->flags &= (uint16_t)~TB_EF_RAW;
            continue;
        }
        if (r.status == TB_ENOMEM) return TB_ENOMEM;
        if (!tb_event_failf(batch, e, "msgpack codec: %s at byte %zu", r.err, r.err_pos))
            return TB_ENOMEM;
    }
    return TB_OK;
}

/* ---------------------------------------------------------------------------------------
 * Encoding
 * ------------------------------------------------------------------------------------- */

/* Appends marker m followed by the k low bytes of u, big-endian. */
static bool put_be(tb_buf *b, int m, uint64_t u, size_t k) {
    uint8_t tmp[9];
    size_t n = 0;
    if (m >= 0) tmp[n++] = (uint8_t)m;
    for (size_t j = k; j-- > 0;) tmp[n++] = (uint8_t)(u >> (8 * j));
    return tb_buf_append(b, tmp, n);
}

static bool put_uint(tb_buf *b, uint64_t u) {
    if (u <= 0x7f) return put_be(b, -1, u, 1);
    if (u <= 0xff) return put_be(b, 0xcc, u, 1);
    if (u <= 0xffff) return put_be(b, 0xcd, u, 2);
    if (u <= 0xffffffffu) return put_be(b, 0xce, u, 4);
    return put_be(b, 0xcf, u, 8);
}

static bool put_int(tb_buf *b, int64_t i) {
    if (i >= 0) return put_uint(b, (uint64_t)i);
    if (i >= -32) return put_be(b, -1, (uint64_t)i, 1);
    if (i >= INT8_MIN) return put_be(b, 0xd0, (uint64_t)i, 1);
    if (i >= INT16_MIN) return put_be(b, 0xd1, (uint64_t)i, 2);
    if (i >= INT32_MIN) return put_be(b, 0xd2, (uint64_t)i, 4);
    return put_be(b, 0xd3, (uint64_t)i, 8);
}

/* A header with a fix form (fix_base | len when len <= fix_max, fix_max 0 for none) and
 * 8/16/32-bit length forms (m8 < 0 when there is no 8-bit form). */
static bool put_head(tb_buf *b, uint32_t len, int fix_base, uint32_t fix_max, int m8, int m16,
                     int m32) {
    if (fix_max && len <= fix_max) return put_be(b, -1, (uint64_t)fix_base | len, 1);
    if (m8 >= 0 && len <= 0xff) return put_be(b, m8, len, 1);
    if (len <= 0xffff) return put_be(b, m16, len, 2);
    return put_be(b, m32, len, 4);
}

static int write_value(tb_buf *b, const tb_value *v, unsigned depth, const char **err) {
    switch (v->type) {
    case TB_NULL: return put_be(b, 0xc0, 0, 0) ? TB_OK : TB_ENOMEM;
    case TB_BOOL: return put_be(b, v->as.b ? 0xc3 : 0xc2, 0, 0) ? TB_OK : TB_ENOMEM;
    case TB_I64: return put_int(b, v->as.i) ? TB_OK : TB_ENOMEM;
    case TB_U64: return put_uint(b, v->as.u) ? TB_OK : TB_ENOMEM;
    case TB_F64: {
        uint64_t u;
        memcpy(&u, &v->as.f, 8);
        return put_be(b, 0xcb, u, 8) ? TB_OK : TB_ENOMEM;
    }
    case TB_STRING:
        return put_head(b, v->len, 0xa0, 31, 0xd9, 0xda, 0xdb) &&
                       tb_buf_append(b, v->as.s, v->len)
                   ? TB_OK
                   : TB_ENOMEM;
    case TB_BYTES:
        return put_head(b, v->len, 0, 0, 0xc4, 0xc5, 0xc6) &&
                       tb_buf_append(b, v->as.bytes, v->len)
                   ? TB_OK
                   : TB_ENOMEM;
    case TB_ARRAY:
        if (depth >= MP_MAX_DEPTH) {
            *err = "msgpack codec: value nested deeper than 512 levels";
            return TB_EINVAL;
        }
        if (!put_head(b, v->len, 0x90, 15, -1, 0xdc, 0xdd)) return TB_ENOMEM;
        for (uint32_t k = 0; k < v->len; k++) {
            int rc = write_value(b, &v->as.items[k], depth + 1, err);
            if (rc) return rc;
        }
        return TB_OK;
    case TB_OBJECT:
        if (depth >= MP_MAX_DEPTH) {
            *err = "msgpack codec: value nested deeper than 512 levels";
            return TB_EINVAL;
        }
        if (!put_head(b, v->len, 0x80, 15, -1, 0xde, 0xdf)) return TB_ENOMEM;
        for (uint32_t k = 0; k < v->len; k++) {
            const tb_member *mem = &v->as.members[k];
            int rc;
            if (!put_head(b, mem->key_len, 0xa0, 31, 0xd9, 0xda, 0xdb) ||
                !tb_buf_append(b, mem->key, mem->key_len))
                return TB_ENOMEM;
            if ((rc = write_value(b, &mem->value, depth + 1, err))) return rc;
        }
        return TB_OK;
    default: *err = "msgpack codec: value of unknown type"; return TB_EINVAL;
    }
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
        rc = write_value(&buf, &e->data, 0, &err);
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
    .name = "msgpack",
    .description = "MessagePack: zero-copy decode, smallest-form encode",
    .vtable = &vtable,
};

static const tb_component *const components[] = {&component};

static const tb_plugin_descriptor descriptor = {
    TB_DESCRIPTOR_HEAD,
    .flags = TB_PLUGIN_UNLOAD_SAFE,
    .name = "msgpack",
    .version = "0.1.0",
    .description = "The msgpack codec",
    .components = components,
    .component_count = 1,
};

TB_PLUGIN_ENTRY(msgpack) { return &descriptor; }
