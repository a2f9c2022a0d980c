/*
 * null.c - the `null` connector: a sink that accepts and discards every event (counting
 * them), and a source that never produces one.
 */
#include <temblor/temblor.h>

typedef struct null_connector {
    const tb_host_api *host;
    tb_context *ctx;
    uint32_t metric_events;
} null_connector;

static int TB_CALL create(const tb_create_args *args, void **out) {
    null_connector *n = args->host->alloc(args->ctx, sizeof *n);
    if (!n) return TB_ENOMEM;
    n->host = args->host;
    n->ctx = args->ctx;
    int rc = args->host->metric_register(args->ctx, "discarded", TB_METRIC_COUNTER,
                                         &n->metric_events);
    if (rc) {
        args->host->free(args->ctx, n);
        return rc;
    }
    *out = n;
    return TB_OK;
}

static void TB_CALL destroy(void *instance) {
    null_connector *n = instance;
    n->host->free(n->ctx, n);
}

static int TB_CALL pull(void *instance, tb_batch *out) {
    (void)instance;
    (void)out;
    return TB_EAGAIN; /* nothing, ever; the runtime waits for a wake that never comes */
}

static int TB_CALL push(void *instance, tb_batch *in) {
    null_connector *n = instance;
    n->host->metric_add(n->ctx, n->metric_events, in->count);
    return TB_OK;
}

static const tb_connector_vtable vtable = {
    .struct_size = sizeof(tb_connector_vtable),
    .flags = TB_CONNECTOR_SOURCE | TB_CONNECTOR_SINK | TB_CONNECTOR_SINK_VALUES,
    .create = create,
    .destroy = destroy,
    .pull = pull,
    .push = push,
};

static const tb_component component = {
    .struct_size = sizeof(tb_component),
    .kind = TB_KIND_CONNECTOR,
    .name = "null",
    .description = "discards every event it is sent; produces none",
    .vtable = &vtable,
};

static const tb_component *const components[] = {&component};

static const tb_plugin_descriptor descriptor = {
    TB_DESCRIPTOR_HEAD,
    .flags = TB_PLUGIN_UNLOAD_SAFE,
    .name = "null",
    .version = "0.1.0",
    .description = "The null connector",
    .components = components,
    .component_count = 1,
};

TB_PLUGIN_ENTRY(null) { return &descriptor; }
