/*
 * base64.c - the `base64` preprocessor: decodes each raw event's bytes from base64 (RFC 4648
 * standard alphabet, '=' padding required), as Tremor's `base64` preprocessor does. Each
 * event is decoded on its own: there is no state across chunks (frame first, e.g. with
 * `separate`, then decode).
 *
 * Malformed input (a byte outside the alphabet, a length that is not a multiple of 4, bad
 * padding, non-zero trailing bits) goes to the err port through tb_event_fail with the
 * offending input as data, and the batch goes on. Empty input decodes to an empty event.
 *
 * Ownership: stateless (no instance memory); decoded bytes are in
 * the batch's arena. The plugin keeps nothing across calls.
 * Thread contract: create/destroy on the control (or stream) thread; process on the
 * instance's thread, one call at a time. No shared state between instances.
 */
#include <temblor/temblor.h>

/* The 6-bit value of c, or -1 when c is not in the standard alphabet. */
static int sextet(uint8_t c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

/* Decodes in[0..n) into out (room for n / 4 * 3 bytes). Returns the decoded length, or
 * (size_t)-1 with a reason in msg. */
static size_t decode(const uint8_t *in, size_t n, uint8_t *out, char *msg, size_t msg_size) {
    size_t o = 0;
    if (n % 4) {
        snprintf(msg, msg_size, "base64: invalid length %zu: not a multiple of 4", n);
        return (size_t)-1;
    }
    for (size_t i = 0; i < n; i += 4) {
        int v[4] = {0, 0, 0, 0};
        size_t pad = 0;
        bool last = i + 4 == n;
        for (size_t j = 0; j < 4; j++) {
            uint8_t c = in[i + j];
            if (c == '=' && last && j >= 2) {
                /* '=' only at the end: "xx==" or "xxx=" */
                if (j == 2 && in[i + 3] != '=') {
                    snprintf(msg, msg_size, "base64: invalid padding at offset %zu", i + j);
                    return (size_t)-1;
                }
                pad = 4 - j;
                break;
            }
            v[j] = sextet(c);
            if (v[j] < 0) {
                snprintf(msg, msg_size, "base64: invalid byte 0x%02x at offset %zu", c, i + j);
                return (size_t)-1;
            }
        }
        uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12;
        if (pad < 2) w |= (uint32_t)v[2] << 6;
        if (pad < 1) w |= (uint32_t)v[3];
        /* the bits the padding drops must be zero (canonical encoding) */
        if ((pad == 2 && (w & 0xffffu)) || (pad == 1 && (w & 0xffu))) {
            snprintf(msg, msg_size, "base64: non-zero trailing bits at offset %zu", i + 3 - pad);
            return (size_t)-1;
        }
        out[o++] = (uint8_t)(w >> 16);
        if (pad < 2) out[o++] = (uint8_t)(w >> 8);
        if (pad < 1) out[o++] = (uint8_t)w;
    }
    return o;
}

static tb_event *emit(tb_batch *out, const tb_event *src, tb_value data) {
    tb_event *e = tb_batch_push(out);
    if (!e) return NULL;
    *e = *src;
    e->data = data;
    return e;
}

static int TB_CALL process(void *instance, const tb_batch *in, tb_batch *out) {
    (void)instance;
    for (uint32_t i = 0; i < in->count; i++) {
        const tb_event *src = &in->events[i];
        tb_event *e;
        if (!(src->flags & TB_EF_RAW)) {
            /* not ours (an error event, say): passed on untouched */
            if (!emit(out, src, src->data)) return TB_ENOMEM;
            continue;
        }
        if (src->data.type != TB_BYTES) {
            if (!(e = emit(out, src, src->data))) return TB_ENOMEM;
            if (!tb_event_failf(out, e, "base64: event data is %s, not bytes",
                                tb_type_name(src->data.type)))
                return TB_ENOMEM;
            continue;
        }
        size_t n = src->data.len;
        uint8_t *buf = tb_arena_alloc(out->arena, n / 4 * 3 + 1, 1);
        char msg[128];
        if (!buf) return TB_ENOMEM;
        size_t len = decode(src->data.as.bytes, n, buf, msg, sizeof msg);
        if (len == (size_t)-1) {
            if (!(e = emit(out, src, src->data))) return TB_ENOMEM;
            if (!tb_event_fail(out, e, msg)) return TB_ENOMEM;
            continue;
        }
        if (!emit(out, src, tb_bytes(buf, len))) return TB_ENOMEM;
    }
    return TB_OK;
}

static const tb_processor_vtable vtable = {
    .struct_size = sizeof(tb_processor_vtable),
    .create = tb_stateless_create,
    .destroy = tb_stateless_destroy,
    .process = process,
};

static const tb_component component = {
    .struct_size = sizeof(tb_component),
    .kind = TB_KIND_PREPROCESSOR,
    .name = "base64",
    .description = "decodes base64 (standard alphabet, padded) to raw bytes",
    .vtable = &vtable,
};

static const tb_component *const components[] = {&component};

static const tb_plugin_descriptor descriptor = {
    TB_DESCRIPTOR_HEAD,
    .flags = TB_PLUGIN_UNLOAD_SAFE,
    .name = "base64",
    .version = "0.1.0",
    .description = "The base64 preprocessor",
    .components = components,
    .component_count = 1,
};

TB_PLUGIN_ENTRY(base64) { return &descriptor; }
