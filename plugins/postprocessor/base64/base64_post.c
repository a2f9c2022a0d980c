/*
 * base64_post.c - plugin `base64_post`, the `base64` postprocessor: encodes each raw
 * event's bytes as base64 (RFC 4648 standard alphabet, with '=' padding), as Tremor's
 * `base64` postprocessor does. Empty input encodes to an empty event. The plugin is
 * `base64_post` because the plugin name `base64` belongs to the preprocessor.
 *
 * Ownership: stateless (no instance memory); encoded bytes are in
 * the batch's arena. Nothing is kept across calls.
 * Thread contract: create/destroy on the control (or stream) thread; process on the
 * instance's thread, one call at a time. No shared state between instances.
 */
#include <temblor/temblor.h>

static const char alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Encodes in[0..n) into out (room for (n + 2) / 3 * 4 bytes); returns the length. */
static size_t encode(const uint8_t *in, size_t n, uint8_t *out) {
    size_t o = 0, i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t w = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = (uint8_t)alphabet[w >> 18];
        out[o++] = (uint8_t)alphabet[(w >> 12) & 63];
        out[o++] = (uint8_t)alphabet[(w >> 6) & 63];
        out[o++] = (uint8_t)alphabet[w & 63];
    }
    if (n - i == 1) {
        uint32_t w = (uint32_t)in[i] << 16;
        out[o++] = (uint8_t)alphabet[w >> 18];
        out[o++] = (uint8_t)alphabet[(w >> 12) & 63];
        out[o++] = '=';
        out[o++] = '=';
    } else if (n - i == 2) {
        uint32_t w = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        out[o++] = (uint8_t)alphabet[w >> 18];
        out[o++] = (uint8_t)alphabet[(w >> 12) & 63];
        out[o++] = (uint8_t)alphabet[(w >> 6) & 63];
        out[o++] = '=';
    }
    return o;
}

static int TB_CALL process(void *instance, const tb_batch *in, tb_batch *out) {
    (void)instance;
    for (uint32_t i = 0; i < in->count; i++) {
        const tb_event *src = &in->events[i];
        tb_event *e = tb_batch_push(out);
        if (!e) return TB_ENOMEM;
        *e = *src;
        if (!(src->flags & TB_EF_RAW)) continue; /* not ours: passed on untouched */
        if (src->data.type != TB_BYTES) {
            if (!tb_event_failf(out, e, "base64: event data is %s, not bytes",
                                tb_type_name(src->data.type)))
                return TB_ENOMEM;
            continue;
        }
        size_t n = src->data.len;
        /* the encoded length must fit tb_value.len (uint32_t) */
        size_t cap = (n + 2) / 3 * 4;
        if (cap > UINT32_MAX) {
            if (!tb_event_failf(out, e, "base64: event of %zu bytes is too large to encode", n))
                return TB_ENOMEM;
            continue;
        }
        uint8_t *buf = tb_arena_alloc(out->arena, cap ? cap : 1, 1);
        if (!buf) return TB_ENOMEM;
        e->data = tb_bytes(buf, encode(src->data.as.bytes, n, buf));
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
    .kind = TB_KIND_POSTPROCESSOR,
    .name = "base64",
    .description = "encodes raw bytes as base64 (standard alphabet, padded)",
    .vtable = &vtable,
};

static const tb_component *const components[] = {&component};

static const tb_plugin_descriptor descriptor = {
    TB_DESCRIPTOR_HEAD,
    .flags = TB_PLUGIN_UNLOAD_SAFE,
    .name = "base64_post",
    .version = "0.1.0",
    .description = "The base64 postprocessor",
    .components = components,
    .component_count = 1,
};

TB_PLUGIN_ENTRY(base64_post) { return &descriptor; }
