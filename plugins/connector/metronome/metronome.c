/*
 * metronome.c - the `metronome` connector: a structured source that emits one event every
 * `interval` milliseconds, as Tremor's metronome does. The data of each event is
 *     {"onramp": "metronome", "ingest_ns": <CLOCK_REALTIME ns>, "id": <0, 1, 2, ...>}
 * and the event's own id and ingest_ns carry the same two numbers.
 *
 * A periodic host timer (started by start, stopped by pause and stop, restarted by resume)
 * marks a tick; pull turns a pending tick into an event and otherwise answers TB_EAGAIN, so
 * the runtime pulls again after the next timer callback. Ticks that the flow does not pull in
 * time (backpressure, a slow sink) coalesce into one event: the metronome never bursts to
 * catch up, and the host's timer skips missed periods for the same reason.
 *
 * Ownership: the instance is host memory; events hold only literals and numbers, built in
 * the batch arena. Thread contract: create/destroy on the control thread; start, pause,
 * resume, stop, pull and the timer callback on the instance's thread, never concurrently.
 */
#include <temblor/temblor.h>

#include <time.h>

#define NS_PER_MS 1000000ull

typedef struct metronome {
    const tb_host_api *host;
    tb_context *ctx;
    uint64_t interval_ns;
    uint64_t timer; /* 0: not running */
    bool tick;      /* a tick not pulled yet */
    uint64_t seq;   /* the next event's id */
} metronome;

static const tb_option options[] = {
    TB_OPTION("interval", TB_OPT_UINT, NULL, TB_OPT_REQUIRED,
              "time between two events, in milliseconds (at least 1)"),
};

static int TB_CALL create(const tb_create_args *args, void **out) {
    uint64_t interval = tb_config_u64(args->config, "interval", 0);
    metronome *m;
    if (interval == 0 || interval > UINT64_MAX / NS_PER_MS)
        return tb_fail(args->host, args->ctx, TB_EINVAL,
                       "metronome: 'interval' must be a number of milliseconds from 1 to %llu",
                       (unsigned long long)(UINT64_MAX / NS_PER_MS));
    m = args->host->alloc(args->ctx, sizeof *m);
    if (!m) return TB_ENOMEM;
    memset(m, 0, sizeof *m);
    m->host = args->host;
    m->ctx = args->ctx;
    m->interval_ns = interval * NS_PER_MS;
    *out = m;
    return TB_OK;
}

static void halt(metronome *m) {
    if (m->timer) m->host->timer_stop(m->ctx, m->timer);
    m->timer = 0;
}

static void TB_CALL destroy(void *instance) {
    metronome *m = instance;
    halt(m);
    m->host->free(m->ctx, m);
}

static void TB_CALL on_tick(void *user, uint64_t timer_id) {
    metronome *m = user;
    (void)timer_id;
    m->tick = true;
}

/* The first event comes one interval after the start, as in Tremor. */
static int TB_CALL start_source(void *instance) {
    metronome *m = instance;
    int rc;
    if (m->timer) return TB_OK;
    rc = m->host->timer_start(m->ctx, m->interval_ns, m->interval_ns, on_tick, m, &m->timer);
    if (rc) {
        m->timer = 0;
        return tb_fail(m->host, m->ctx, rc, "metronome: cannot start its timer (status %d)", rc);
    }
    return TB_OK;
}

static int TB_CALL pause_source(void *instance) {
    halt(instance);
    return TB_OK;
}

static int TB_CALL stop_source(void *instance) {
    halt(instance);
    return TB_OK;
}

static bool put(tb_arena *a, tb_value *obj, const char *key, tb_value v) {
    tb_value *slot = tb_object_append(a, obj, key, strlen(key));
    if (slot) *slot = v;
    return slot != NULL;
}

static int TB_CALL pull(void *instance, tb_batch *out) {
    metronome *m = instance;
    struct timespec ts;
    tb_value data = tb_object();
    tb_event *e;
    if (!m->tick) return TB_EAGAIN;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t now = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
    /* numbers as int, the form decoders give integers that fit */
    if (!put(out->arena, &data, "onramp", tb_stringz("metronome")) ||
        !put(out->arena, &data, "ingest_ns", tb_i64((int64_t)now)) ||
        !put(out->arena, &data, "id", tb_i64((int64_t)m->seq)) || !(e = tb_batch_push(out)))
        return TB_ENOMEM;
    e->data = data;
    e->meta = tb_object();
    e->id = m->seq++;
    e->ingest_ns = now;
    m->tick = false;
    return TB_OK;
}

static const tb_connector_vtable vtable = {
    .struct_size = sizeof(tb_connector_vtable),
    .flags = TB_CONNECTOR_SOURCE | TB_CONNECTOR_STRUCTURED,
    .create = create,
    .destroy = destroy,
    .start = start_source,
    .pause = pause_source,
    .resume = start_source, /* a fresh period from now */
    .stop = stop_source,
    .pull = pull,
};

static const tb_component component = {
    .struct_size = sizeof(tb_component),
    .kind = TB_KIND_CONNECTOR,
    .name = "metronome",
    .description = "emits an event every `interval` milliseconds",
    .options = options,
    .option_count = sizeof options / sizeof options[0],
    .vtable = &vtable,
};

static const tb_component *const components[] = {&component};

static const tb_plugin_descriptor descriptor = {
    TB_DESCRIPTOR_HEAD,
    .flags = TB_PLUGIN_UNLOAD_SAFE,
    .name = "metronome",
    .version = "0.1.0",
    .description = "The metronome connector",
    .components = components,
    .component_count = 1,
};

TB_PLUGIN_ENTRY(metronome) { return &descriptor; }
