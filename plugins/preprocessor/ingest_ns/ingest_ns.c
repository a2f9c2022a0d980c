/*
 * ingest_ns.c - the `ingest-ns` preprocessor, as Tremor's: each raw event starts with its
 * ingest timestamp as an unsigned 64-bit big-endian integer (what the `ingest-ns`
 * postprocessor writes). The prefix is read
 * into the event's ingest_ns and stripped; the rest of the bytes (a slice of the input, no
 * copy) is the event's data. An event shorter than 8 bytes goes to the err port.
 *
 * Each event is read on its own: frame the stream first (e.g. `length_prefixed`).
 *
 * Ownership: stateless (no instance memory); output points into
 * the input bytes (in->arena is out->arena). Nothing is kept across calls.
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
        if (src->data.len < 8) {
            if (!tb_event_failf(out, e,
                                "ingest-ns: event of %u bytes is shorter than the 8-byte "
                                "timestamp prefix",
                                (unsigned)src->data.len))
                return TB_ENOMEM;
            continue;
        }
        const uint8_t *p = src->data.as.bytes;
        uint64_t ns = 0;
        for (int k = 0; k < 8; k++) ns = ns << 8 | p[k];
        e->ingest_ns = ns;
        e->data = tb_bytes(p + 8, src->data.len - 8);
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
    .name = "ingest-ns",
    .description = "reads and strips an 8-byte big-endian ingest timestamp prefix "
                   "(Tremor's ingest-ns)",
    .vtable = &vtable,
};

static const tb_component *const components[] = {&component};

static const tb_plugin_descriptor descriptor = {
    TB_DESCRIPTOR_HEAD,
    .flags = TB_PLUGIN_UNLOAD_SAFE,
    .name = "ingest-ns",
    .version = "0.1.0",
    .description = "The ingest_ns preprocessor",
    .components = components,
    .component_count = 1,
};

TB_PLUGIN_ENTRY(ingest_ns) { return &descriptor; }
