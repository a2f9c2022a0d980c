/*
 * separate_post.c - plugin `separate_post`, the `separate` postprocessor: appends a
 * separator byte (a newline by default, option `separator`) to each raw event's bytes, as
 * Tremor's `separate` postprocessor does. The `separate` preprocessor (plugin `separate`)
 * splits such a stream back into events; this plugin is `separate_post` because plugin names
 * are unique and `separate` is taken by the preprocessor's plugin.
 *
 * Ownership: the instance (host->alloc) is the plugin's until destroy; output bytes are in
 * the batch's arena. Nothing is kept across calls.
 * Thread contract: create/destroy on the control (or stream) thread; process on the
 * instance's thread, one call at a time. No shared state between instances.
 */
#include <temblor/temblor.h>

typedef struct sep_post {
    const tb_host_api *host;
    tb_context *ctx;
    uint8_t separator;
} sep_post;

static const tb_option options[] = {
    TB_OPTION("separator", TB_OPT_STRING, "\n", 0, "the byte appended to each event"),
};

static int TB_CALL create(const tb_create_args *args, void **out) {
    size_t sep_len;
    const char *sep = tb_config_str(args->config, "separator", "\n", &sep_len);
    if (sep_len != 1)
        return tb_fail(args->host, args->ctx, TB_EINVAL,
                       "separator must be exactly one byte, found %zu", sep_len);
    sep_post *s = args->host->alloc(args->ctx, sizeof *s);
    if (!s) return TB_ENOMEM;
    s->host = args->host;
    s->ctx = args->ctx;
    s->separator = (uint8_t)sep[0];
    *out = s;
    return TB_OK;
}

static void TB_CALL destroy(void *instance) {
    sep_post *s = instance;
    s->host->free(s->ctx, s);
}

static int TB_CALL process(void *instance, const tb_batch *in, tb_batch *out) {
    sep_post *s = instance;
    for (uint32_t i = 0; i < in->count; i++) {
        const tb_event *src = &in->events[i];
        tb_event *e = tb_batch_push(out);
        if (!e) return TB_ENOMEM;
        *e = *src;
        if (!(src->flags & TB_EF_RAW)) continue; /* not ours: passed on untouched */
        if (src->data.type != TB_BYTES) {
            if (!tb_event_failf(out, e, "separate: event data is %s, not bytes",
                                tb_type_name(src->data.type)))
                return TB_ENOMEM;
            continue;
        }
        size_t n = src->data.len;
        if (n == UINT32_MAX) {
            if (!tb_event_failf(out, e, "separate: event of %zu bytes is too large", n))
                return TB_ENOMEM;
            continue;
        }
        uint8_t *buf = tb_arena_alloc(out->arena, n + 1, 1);
        if (!buf) return TB_ENOMEM;
        if (n) memcpy(buf, src->data.as.bytes, n);
        buf[n] = s->separator;
        e->data = tb_bytes(buf, n + 1);
    }
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
    .kind = TB_KIND_POSTPROCESSOR,
    .name = "separate",
    .description = "appends a separator byte to each event",
    .options = options,
    .option_count = sizeof options / sizeof options[0],
    .vtable = &vtable,
};

static const tb_component *const components[] = {&component};

static const tb_plugin_descriptor descriptor = {
    TB_DESCRIPTOR_HEAD,
    .flags = TB_PLUGIN_UNLOAD_SAFE,
    .name = "separate_post",
    .version = "0.1.0",
    .description = "The separate postprocessor",
    .components = components,
    .component_count = 1,
};

TB_PLUGIN_ENTRY(separate_post) { return &descriptor; }
