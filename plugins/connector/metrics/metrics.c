/*
 * metrics.c - the `metrics` connector: a source that emits the runtime's own metrics as
 * events every `interval_ms`, one event per measurement (a stage's counters, a port's event
 * count), as Tremor's metrics connector does. The figures come from the host extension
 * "temblor.metrics/1". Connect it to a pipeline like any source; a sink can be anything.
 *
 * Ownership: the instance is host memory; events are built in the batch's arena.
 * Thread contract: every callback, and the timer, on the instance's thread.
 */
#include <temblor/temblor.h>

typedef struct metrics {
    const tb_host_api *host;
    tb_context *ctx;
    const tb_ext_metrics *ext;
    uint64_t interval_ns;
    uint64_t timer;
    uint64_t seq;
    bool due;
} metrics;

static const tb_option options[] = {
    TB_OPTION("interval_ms", TB_OPT_UINT, "10000", 0, "how often the metrics are emitted, in milliseconds"),
};

static void TB_CALL tick(void *user, uint64_t timer_id) {
    (void)timer_id;
    ((metrics *)user)->due = true;
}

static int TB_CALL create(const tb_create_args *args, void **out) {
    uint64_t ms = tb_config_u64(args->config, "interval_ms", 10000);
    const tb_ext_metrics *ext = args->host->get_extension(args->ctx, TB_EXT_METRICS);
    if (!ms) return tb_fail(args->host, args->ctx, TB_EINVAL, "interval_ms must be at least 1");
    if (!ext) return tb_fail(args->host, args->ctx, TB_ENOTSUP, "this runtime does not provide " TB_EXT_METRICS);
    metrics *m = args->host->alloc(args->ctx, sizeof *m);
    if (!m) return TB_ENOMEM;
    *m = (metrics){args->host, args->ctx, ext, ms * 1000000u, 0, 0, false};
    *out = m;
    return TB_OK;
}

static void TB_CALL destroy(void *instance) {
    metrics *m = instance;
    m->host->free(m->ctx, m);
}

static int TB_CALL start(void *instance) {
    metrics *m = instance;
    return m->host->timer_start(m->ctx, m->interval_ns, m->interval_ns, tick, m, &m->timer);
}

static int TB_CALL stop(void *instance) {
    metrics *m = instance;
    if (m->timer) m->host->timer_stop(m->ctx, m->timer);
    m->timer = 0;
    return TB_OK;
}

static int TB_CALL pull(void *instance, tb_batch *out) {
    metrics *m = instance;
    tb_value all;
    if (!m->due) return TB_EAGAIN;
    m->due = false;
    int rc = m->ext->snapshot(m->ctx, out->arena, &all);
    if (rc != TB_OK) return rc == TB_ENOTSUP ? TB_EAGAIN : rc;
    for (uint32_t i = 0; i < all.len; i++) {
        tb_event *e = tb_batch_push(out);
        if (!e) return TB_ENOMEM;
        e->data = all.as.items[i];
        e->meta = tb_object();
        e->id = m->seq++;
    }
    return TB_OK;
}

static const tb_connector_vtable vtable = {
    .struct_size = sizeof(tb_connector_vtable),
    .flags = TB_CONNECTOR_SOURCE | TB_CONNECTOR_STRUCTURED,
    .create = create,
    .destroy = destroy,
    .start = start,
    .stop = stop,
    .pull = pull,
};

static const tb_component component = {
    .struct_size = sizeof(tb_component),
    .kind = TB_KIND_CONNECTOR,
    .name = "metrics",
    .description = "emits the runtime's metrics (per stage and port) as events",
    .options = options,
    .option_count = sizeof options / sizeof options[0],
    .vtable = &vtable,
};

static const tb_component *const components[] = {&component};

static const tb_plugin_descriptor descriptor = {
    TB_DESCRIPTOR_HEAD,
    .flags = TB_PLUGIN_UNLOAD_SAFE,
    .name = "metrics",
    .version = "0.1.0",
    .description = "The metrics connector",
    .components = components,
    .component_count = 1,
};

TB_PLUGIN_ENTRY(metrics) { return &descriptor; }
