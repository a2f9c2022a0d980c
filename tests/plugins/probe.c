/*
 * probe.c - a well-behaved test plugin that lets tests watch the runtime from inside:
 * init/deinit counts, host memory, metrics, timers and options of every type. Built twice:
 * for the current ABI minor (plugin "probe") and with TB_TARGET_ABI_MINOR=0 ("probe_old"),
 * which proves the loader accepts a plugin with smaller, older structs.
 */
#include <temblor/temblor.h>

#ifndef PROBE_NAME
#define PROBE_NAME "probe"
#endif

/* What the plugin-side extension "temblor.test.probe/1" hands the test. */
typedef struct probe_counters {
    uint32_t struct_size;
    int init_calls;
    int deinit_calls;
    int timer_fires;
} probe_counters;

static probe_counters counters = {sizeof(probe_counters), 0, 0, 0};

typedef struct plugin_state {
    const tb_host_api *host;
    tb_context *ctx;
    char *scratch; /* host memory held from init to deinit */
} plugin_state;

static int TB_CALL init(const tb_host_api *host, tb_context *ctx, void **out) {
    plugin_state *st = host->alloc(ctx, sizeof *st);
    if (!st) return TB_ENOMEM;
    st->host = host;
    st->ctx = ctx;
    st->scratch = host->alloc(ctx, 1000);
    if (!st->scratch) {
        host->free(ctx, st);
        return TB_ENOMEM;
    }
    counters.init_calls++;
    *out = st;
    return TB_OK;
}

static void TB_CALL deinit(void *state) {
    plugin_state *st = state;
    st->host->free(st->ctx, st->scratch);
    st->host->free(st->ctx, st);
    counters.deinit_calls++;
}

typedef struct instance {
    const tb_host_api *host;
    tb_context *ctx;
    uint64_t timer;
    uint32_t fired_metric;
} instance;

static void TB_CALL on_timer(void *user, uint64_t timer_id) {
    instance *in = user;
    (void)timer_id;
    counters.timer_fires++;
    in->host->metric_add(in->ctx, in->fired_metric, 1);
}

static int TB_CALL create(const tb_create_args *args, void **out) {
    const tb_host_api *host = args->host;
    const tb_value *fail = tb_object_getz(args->config, "fail_create");
    if (fail && fail->type == TB_BOOL && fail->as.b)
        return tb_fail(host, args->ctx, TB_EINVAL, "asked to fail by fail_create");
    instance *in = host->alloc(args->ctx, sizeof *in);
    if (!in) return TB_ENOMEM;
    in->host = host;
    in->ctx = args->ctx;
    in->timer = 0;
    int rc = host->metric_register(args->ctx, "timer_fires", TB_METRIC_COUNTER, &in->fired_metric);
    int64_t every_ms = 0;
    if (rc == TB_OK && tb_value_as_i64(tb_object_getz(args->config, "timer_ms"), &every_ms) &&
        every_ms > 0)
        rc = host->timer_start(args->ctx, (uint64_t)every_ms * 1000000u,
                               (uint64_t)every_ms * 1000000u, on_timer, in, &in->timer);
    if (rc) {
        host->free(args->ctx, in);
        return rc;
    }
    *out = in;
    return TB_OK;
}

static void TB_CALL destroy(void *p) {
    instance *in = p;
    if (in->timer) in->host->timer_stop(in->ctx, in->timer);
    in->host->free(in->ctx, in);
}

static int TB_CALL transcode(void *p, tb_batch *batch) {
    (void)p;
    (void)batch;
    return TB_OK;
}

static const tb_option options[] = {
    TB_OPTION("timer_ms", TB_OPT_UINT, "0", 0, "fire a timer this often (0: never)"),
    TB_OPTION("fail_create", TB_OPT_BOOL, "false", 0, "make create fail"),
    TB_OPTION("ratio", TB_OPT_FLOAT, "0.5", 0, "a float"),
    TB_OPTION("offset", TB_OPT_INT, "-3", 0, "a signed integer"),
    TB_OPTION("path", TB_OPT_STRING, NULL, 0, "a string without a default"),
    TB_OPTION("tags", TB_OPT_ARRAY, "[\"a\",\"b\"]", 0, "an array"),
    TB_OPTION("extra", TB_OPT_OBJECT, "{}", 0, "an object"),
    TB_OPTION("anything", TB_OPT_ANY, NULL, 0, "any value"),
    TB_OPTION("target", TB_OPT_STRING, NULL, TB_OPT_REQUIRED, "a required string"),
};

static const tb_codec_vtable vtable = {
    .struct_size = sizeof(tb_codec_vtable),
    .create = create,
    .destroy = destroy,
    .decode = transcode,
    .encode = transcode,
};

static const tb_component component = {
    .struct_size = sizeof(tb_component),
    .kind = TB_KIND_CODEC,
    .name = PROBE_NAME,
    .description = "watches the runtime from inside",
    .options = options,
    .option_count = sizeof options / sizeof options[0],
    .vtable = &vtable,
};

static const tb_component *const components[] = {&component};

#if TB_TARGET_ABI_MINOR >= 1
static const tb_permission permissions[] = {
    TB_PERMISSION(TB_PERM_NET_CONNECT, "127.0.0.1:*", NULL, "talks to a local peer"),
    TB_PERMISSION(TB_PERM_FS_READ, NULL, "path", "reads the configured path"),
};

static const void *TB_CALL get_extension(void *state, const char *id) {
    (void)state;
    return strcmp(id, "temblor.test.probe/1") == 0 ? &counters : NULL;
}
#endif

static const tb_plugin_descriptor descriptor = {
    TB_DESCRIPTOR_HEAD,
    .flags = TB_PLUGIN_UNLOAD_SAFE,
    .name = PROBE_NAME,
    .version = "1.2.3",
    .description = "test probe",
    .components = components,
    .component_count = 1,
    .init = init,
    .deinit = deinit,
#if TB_TARGET_ABI_MINOR >= 1
    .permissions = permissions,
    .permission_count = sizeof permissions / sizeof permissions[0],
    .get_extension = get_extension,
#endif
};

TB_PLUGIN_ENTRY(probe) { return &descriptor; }
