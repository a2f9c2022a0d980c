/*
 * ingest_ns_post.c - plugin `ingest_ns_post`, the `ingest_ns` postprocessor (Tremor:
 * `ingest-ns`; '-' is not allowed in a temblor component name): prepends each raw event's
 * ingest_ns as an unsigned 64-bit big-endian integer to its bytes. The `ingest_ns`
 * preprocessor reads it back.
 *
 * Ownership: stateless (no instance memory); output bytes are in
 * the batch's arena. Nothing is kept across calls.
 * Thread contract: create/destroy on the control (or stream) thread; process on the
 * instance's thread, one call at a time. No shared state between instances.
 */
#include <temblor/temblor.h>

static int TB_CALL process(void *instance, const tb_batch *in, tb_batch *out) {
    (void)instance;
    for (uint32_t i = 0; i < in->count; i++) {
        const tb_event *src = &in->events[i];
        tb_event *e = tb_batch_push(out);
        if (!e) return TB_ENOMEM;
        *e = *src;
        if (!(src->flags & TB_EF_RAW)) continue; /* not ours: passed on untouched */
        if (src->data.type != TB_BYTES) {
            if (!tb_event_failf(out, e, "ingest-ns: event data is %s, not bytes",
                                tb_type_name(src->data.type)))
                return TB_ENOMEM;
            continue;
        }
        size_t n = src->data.len;
        if (n > UINT32_MAX - 8) {
            if (!tb_event_failf(out, e, "ingest-ns: event of %zu bytes is too large", n))
                return TB_ENOMEM;
            continue;
        }
        uint8_t *buf = tb_arena_alloc(out->arena, n + 8, 1);
        if (!buf) return TB_ENOMEM;
        for (int k = 0; k < 8; k++) buf[k] = (uint8_t)(src->ingest_ns >> (56 - 8 * k));
        if (n) memcpy(buf + 8, src->data.as.bytes, n);
        e->data = tb_bytes(buf, n + 8);
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
    .name = "ingest-ns",
    .description = "prepends the event's ingest_ns as 8 bytes big-endian (Tremor's ingest-ns)",
    .vtable = &vtable,
};

static const tb_component *const components[] = {&component};

static const tb_plugin_descriptor descriptor = {
    TB_DESCRIPTOR_HEAD,
    .flags = TB_PLUGIN_UNLOAD_SAFE,
    .name = "ingest-ns_post",
    .version = "0.1.0",
    .description = "The ingest_ns postprocessor",
    .components = components,
    .component_count = 1,
};

TB_PLUGIN_ENTRY(ingest_ns_post) { return &descriptor; }
