/*
 * remove_empty.c - the `remove-empty` preprocessor, as Tremor's: drops raw events whose bytes
 * are empty, and passes every other event on unchanged (same data pointer: no copy), stream-end markers
 * (TB_EF_STREAM_END) included even when empty. Best placed after a framing
 * preprocessor such as `separate`, to drop the empty records of blank lines.
 *
 * Ownership: the instance (host->alloc) is the plugin's until destroy; output events point
 * at the input's bytes (in->arena is out->arena). Nothing is kept across calls.
 * Thread contract: create/destroy on the control (or stream) thread; process on the
 * instance's thread, one call at a time. No shared state between instances.
 */
#include <temblor/temblor.h>

typedef struct remove_empty {
    const tb_host_api *host;
    tb_context *ctx;
    uint32_t metric_removed; /* UINT32_MAX: no metric */
} remove_empty;

static int TB_CALL create(const tb_create_args *args, void **out) {
    remove_empty *s = args->host->alloc(args->ctx, sizeof *s);
    if (!s) return TB_ENOMEM;
    s->host = args->host;
    s->ctx = args->ctx;
    if (s->host->metric_register(s->ctx, "removed_events", TB_METRIC_COUNTER,
                                 &s->metric_removed) != TB_OK)
        s->metric_removed = UINT32_MAX;
    *out = s;
    return TB_OK;
}

static void TB_CALL destroy(void *instance) {
    remove_empty *s = instance;
    s->host->free(s->ctx, s);
}

static int TB_CALL process(void *instance, const tb_batch *in, tb_batch *out) {
    remove_empty *s = instance;
    int64_t removed = 0;
    for (uint32_t i = 0; i < in->count; i++) {
        const tb_event *src = &in->events[i];
        /* a stream-end marker may carry no data: it is kept */
        if ((src->flags & TB_EF_RAW) && !(src->flags & TB_EF_STREAM_END) &&
            src->data.type == TB_BYTES && src->data.len == 0) {
            removed++;
            continue;
        }
        tb_event *e = tb_batch_push(out);
        if (!e) return TB_ENOMEM;
        *e = *src;
    }
    if (removed && s->metric_removed != UINT32_MAX)
        s->host->metric_add(s->ctx, s->metric_removed, removed);
    return TB_OK;
}

static const tb_processor_vtable vtable = {
    .struct_size = sizeof(tb_processor_vtable),
    .create = create,
    .destroy = destroy,
    .process = process,
};

static const tb_component component = {
    .struct_size = sizeof(tb_component),
    .kind = TB_KIND_PREPROCESSOR,
    .name = "remove-empty",
    .description = "drops empty raw events (Tremor's remove-empty)",
    .vtable = &vtable,
};

static const tb_component *const components[] = {&component};

static const tb_plugin_descriptor descriptor = {
    TB_DESCRIPTOR_HEAD,
    .flags = TB_PLUGIN_UNLOAD_SAFE,
    .name = "remove-empty",
    .version = "0.1.0",
    .description = "The remove_empty preprocessor",
    .components = components,
    .component_count = 1,
};

TB_PLUGIN_ENTRY(remove_empty) { return &descriptor; }
