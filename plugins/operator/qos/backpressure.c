/*
 * backpressure.c - qos::backpressure, as Tremor 0.13 has it (tremor-pipeline
 * op/qos/backpressure.rs): stepped backoff while downstream is slow or failing.
 *
 * Every event is passed on marked transactional, so its delivery is reported back. A bad
 * report (a failed delivery, a circuit opening, or an ack whose latency exceeds `timeout`
 * nanoseconds) moves the backoff up to the next of `steps` (milliseconds; it stays at the
 * last), counted from the ingest time of the reported event; a good ack resets it to 0. A
 * circuit closing changes nothing, as in Tremor.
 *
 * While backing off, with method "discard" (the default), events go to "overflow" until the
 * backoff has passed; then one event goes out and the next backoff period starts from its
 * ingest time. With method "pause" every event still goes out, and the operator opens its
 * circuit breaker instead (host->circuit: the runtime pauses the sources feeding it, as
 * Tremor's pause mode triggers theirs), closing it when the backoff ends.
 *
 * Time is event time: ingest_ns of events and the now_ns of ticks, never a clock of its
 * own. A tick at or after the end of the backoff resets it, as Tremor's tick signal does.
 * Temblor's contraflow names the event by id but not its ingest time, so the instance
 * remembers the ingest times of the last events it passed (BP_RECENT, by id); for a report
 * on an event no longer remembered, and for a circuit opening, it uses the latest time it
 * has seen instead.
 *
 * On a reload the new instance takes over (save/restore) the backoff, when it ends, the
 * latest time seen and the remembered ingest times:
 *   {"backoff": ns, "next": ns, "clock": ns, "recent": [{"id", "ingest_ns"}, ...]}
 * and, in pause mode while backing off, opens its own circuit breaker as the old one had.
 *
 * Thread contract: create/destroy on the control thread; process, tick, contraflow, save and
 * restore on the instance's thread.
 */
#include "qos.h"

/* Ingest times remembered, direct-mapped by id. */
#define BP_RECENT 1024u

typedef struct recent {
    uint64_t id;
    uint64_t ingest_ns;
    bool used;
} recent;

typedef struct backpressure {
    const tb_host_api *host;
    tb_context *ctx;
    uint64_t timeout_ns;
    uint64_t *steps; /* nanoseconds, as configured */
    uint32_t nsteps;
    bool pause;
    uint64_t backoff;  /* the current step, 0 when healthy */
    uint64_t next;     /* events before this ingest time are held back */
    uint64_t clock;    /* the latest event or tick time seen */
    recent recent[BP_RECENT];
    uint32_t m_overflow, m_backoff;
} backpressure;

static const tb_option options[] = {
    TB_OPTION("timeout", TB_OPT_UINT, NULL, TB_OPT_REQUIRED,
              "nanoseconds a delivery may take before backoff starts"),
    TB_OPTION("steps", TB_OPT_ARRAY, "[50, 100, 250, 500, 1000, 5000, 10000]", 0,
              "backoff steps in milliseconds, climbed one per slow or failed delivery"),
    TB_OPTION("method", TB_OPT_STRING, "discard", 0,
              "discard: hold events back to overflow while backing off; pause: pass them and "
              "open the circuit breaker instead"),
};

static uint64_t sat_add(uint64_t a, uint64_t b) { return a > UINT64_MAX - b ? UINT64_MAX : a + b; }

/* --- lifecycle -------------------------------------------------------------------------------- */

/* Reads the steps option into b->steps (nanoseconds). */
static int read_steps(backpressure *b, const tb_value *steps) {
    uint32_t n = steps && steps->type == TB_ARRAY ? steps->len : 0;
    if (n == 0) return TB_OK; /* no steps: never backs off, as Tremor with [] */
    b->steps = b->host->alloc(b->ctx, (size_t)n * sizeof *b->steps);
    if (!b->steps) return tb_fail(b->host, b->ctx, TB_ENOMEM, "qos::backpressure: out of memory");
    for (uint32_t i = 0; i < n; i++) {
        const tb_value *v = &steps->as.items[i];
        uint64_t ms;
        if (v->type == TB_U64) ms = v->as.u;
        else if (v->type == TB_I64 && v->as.i >= 0) ms = (uint64_t)v->as.i;
        else
            return tb_fail(b->host, b->ctx, TB_EINVAL,
                           "qos::backpressure: steps[%u] must be a non-negative integer "
                           "(milliseconds), found %s",
                           i, tb_type_name(v->type));
        b->steps[i] = ms > UINT64_MAX / 1000000u ? UINT64_MAX : ms * 1000000u;
    }
    b->nsteps = n;
    return TB_OK;
}

static int read_method(backpressure *b, const tb_value *config) {
    size_t len;
    const char *m = tb_config_str(config, "method", "discard", &len);
    if (len == 7 && memcmp(m, "discard", 7) == 0) b->pause = false;
    else if (len == 5 && memcmp(m, "pause", 5) == 0) b->pause = true;
    else
        return tb_fail(b->host, b->ctx, TB_EINVAL,
                       "qos::backpressure: method must be \"discard\" or \"pause\", found \"%.*s\"",
                       (int)len, m);
    return TB_OK;
}

static void TB_CALL bp_destroy(void *instance) {
    backpressure *b = instance;
    b->host->free(b->ctx, b->steps);
    b->host->free(b->ctx, b);
}

static int TB_CALL bp_create(const tb_create_args *args, void **out) {
    backpressure *b = args->host->alloc(args->ctx, sizeof *b);
    if (!b) return tb_fail(args->host, args->ctx, TB_ENOMEM, "qos::backpressure: out of memory");
    memset(b, 0, sizeof *b);
    b->host = args->host;
    b->ctx = args->ctx;
    b->timeout_ns = tb_config_u64(args->config, "timeout", 0);
    int rc = read_method(b, args->config);
    if (!rc) rc = read_steps(b, tb_object_getz(args->config, "steps"));
    if (rc) {
        bp_destroy(b);
        return rc;
    }
    tbop_qos_metric_register(b->host, b->ctx, "overflow", TB_METRIC_COUNTER, &b->m_overflow);
    tbop_qos_metric_register(b->host, b->ctx, "backoff_ns", TB_METRIC_GAUGE, &b->m_backoff);
    *out = b;
    return TB_OK;
}

/* --- the ingest times of recent events -------------------------------------------------------- */

static recent *recent_slot(backpressure *b, uint64_t id) {
    /* ids are often offsets or sequence numbers: mix them so they spread over the table */
    uint64_t h = id * 0x9e3779b97f4a7c15ull;
    return &b->recent[(h >> 32) % BP_RECENT];
}

static void remember(backpressure *b, uint64_t id, uint64_t ingest_ns) {
    recent *r = recent_slot(b, id);
    r->id = id;
    r->ingest_ns = ingest_ns;
    r->used = true;
}

/* The ingest time of the event a contraflow names, or the latest time seen. */
static uint64_t ingest_of(backpressure *b, const tb_contraflow *cf) {
    if (cf->kind == TB_CF_ACK || cf->kind == TB_CF_FAIL) {
        const recent *r = recent_slot(b, cf->event_id);
        if (r->used && r->id == cf->event_id) return r->ingest_ns;
    }
    return b->clock;
}

/* --- backoff ---------------------------------------------------------------------------------- */

/* The first step above current, or the last one (Tremor's next_backoff). */
static uint64_t next_step(const backpressure *b) {
    uint64_t step = 0;
    for (uint32_t i = 0; i < b->nsteps; i++) {
        step = b->steps[i];
        if (step > b->backoff) break;
    }
    return step;
}

static void set_backoff(backpressure *b, uint64_t backoff, uint64_t next) {
    bool was = b->backoff > 0;
    b->backoff = backoff;
    b->next = next;
    /* pause mode: the circuit breaker follows the backoff, only on changes */
    if (b->pause && was != (backoff > 0)) b->host->circuit(b->ctx, backoff > 0);
    int64_t gauge = backoff > INT64_MAX ? INT64_MAX : (int64_t)backoff;
    tbop_qos_metric_set(b->host, b->ctx, b->m_backoff, gauge);
}

/* --- callbacks -------------------------------------------------------------------------------- */

static int TB_CALL bp_process(void *instance, uint32_t in_port, tb_batch *in, tb_batch *out) {
    backpressure *b = instance;
    for (uint32_t i = 0; i < in->count; i++) {
        const tb_event *e = &in->events[i];
        uint16_t port = QOS_PORT_OUT;
        if (e->ingest_ns > b->clock) b->clock = e->ingest_ns;
        if (b->next <= e->ingest_ns) {
            /* the backoff has passed: this one goes out and starts the next period */
            b->next = sat_add(e->ingest_ns, b->backoff);
        } else if (!b->pause) {
            port = QOS_PORT_OVERFLOW;
            tbop_qos_metric_add(b->host, b->ctx, b->m_overflow, 1);
        }
        if (!tbop_qos_forward(out, e, port, true)) return TB_ENOMEM;
        if (port == QOS_PORT_OUT) remember(b, e->id, e->ingest_ns);
    }
    return TB_OK;
}

static int TB_CALL bp_tick(void *instance, uint64_t now_ns, tb_batch *out) {
    backpressure *b = instance;
    (void)out;
    if (now_ns > b->clock) b->clock = now_ns;
    if (b->backoff > 0 && b->next <= now_ns) set_backoff(b, 0, 0);
    return TB_OK;
}

static void TB_CALL bp_contraflow(void *instance, const tb_contraflow *cf) {
    backpressure *b = instance;
    switch (tbop_qos_health(cf, b->timeout_ns)) {
    case QOS_BAD: {
        uint64_t step = next_step(b);
        set_backoff(b, step, sat_add(ingest_of(b, cf), step));
        break;
    }
    case QOS_GOOD: set_backoff(b, 0, 0); break;
    case QOS_NEUTRAL: break;
    }
}

/* --- handover on a reload --------------------------------------------------------------------- */

static int save_recent(tb_arena *a, const backpressure *b, tb_value *list) {
    *list = tb_array();
    for (uint32_t i = 0; i < BP_RECENT; i++) {
        const recent *r = &b->recent[i];
        tb_value *rec, *slot;
        if (!r->used) continue;
        if (!(rec = tb_array_push(a, list))) return TB_ENOMEM;
        *rec = tb_object();
        if (!(slot = tbop_qos_put(a, rec, "id"))) return TB_ENOMEM;
        *slot = tb_u64(r->id);
        if (!(slot = tbop_qos_put(a, rec, "ingest_ns"))) return TB_ENOMEM;
        *slot = tb_u64(r->ingest_ns);
    }
    return TB_OK;
}

static int TB_CALL bp_save(void *instance, tb_arena *arena, tb_value *out) {
    backpressure *b = instance;
    tb_value saved = tb_object();
    tb_value *slot;
    static const char *const names[] = {"backoff", "next", "clock"};
    const uint64_t values[] = {b->backoff, b->next, b->clock};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (!(slot = tbop_qos_put(arena, &saved, names[i]))) goto fail_nomem;
        *slot = tb_u64(values[i]);
    }
    if (!(slot = tbop_qos_put(arena, &saved, "recent")) || save_recent(arena, b, slot))
        goto fail_nomem;
    *out = saved;
    return TB_OK;
fail_nomem:
    return tb_fail(b->host, b->ctx, TB_ENOMEM, "qos::backpressure: out of memory");
}

/* Takes over what bp_save wrote: null (a build that kept no state) starts healthy; members
 * this build does not know are ignored. Everything is checked before the instance changes. */
static int TB_CALL bp_restore(void *instance, const tb_value *saved) {
    backpressure *b = instance;
    uint64_t backoff, next, clock, id, ingest_ns;
    if (saved->type == TB_NULL) return TB_OK;
    const tb_value *list = tb_object_getz(saved, "recent");
    if (!tbop_qos_get_u64(saved, "backoff", &backoff) || !tbop_qos_get_u64(saved, "next", &next) ||
        !tbop_qos_get_u64(saved, "clock", &clock) || !list || list->type != TB_ARRAY)
        return tb_fail(b->host, b->ctx, TB_EINVAL,
                       "qos::backpressure: cannot restore from a %s without unsigned \"backoff\", "
                       "\"next\" and \"clock\" and an array \"recent\"",
                       tb_type_name(saved->type));
    for (uint32_t i = 0; i < list->len; i++)
        if (!tbop_qos_get_u64(&list->as.items[i], "id", &id) ||
            !tbop_qos_get_u64(&list->as.items[i], "ingest_ns", &ingest_ns))
            return tb_fail(b->host, b->ctx, TB_EINVAL,
                           "qos::backpressure: cannot restore recent[%u]: expected a record of "
                           "unsigned id and ingest_ns",
                           i);
    memset(b->recent, 0, sizeof b->recent);
    for (uint32_t i = 0; i < list->len; i++) {
        tbop_qos_get_u64(&list->as.items[i], "id", &id);
        tbop_qos_get_u64(&list->as.items[i], "ingest_ns", &ingest_ns);
        remember(b, id, ingest_ns);
    }
    /* from the fresh instance's healthy state to the saved backoff: in pause mode this opens
     * the new instance's circuit breaker as the old one's was */
    b->clock = clock;
    set_backoff(b, backoff, next);
    return TB_OK;
}

static const char *const ports[] = {"out", "err", "overflow", NULL};

static const tb_operator_vtable vtable = {
    .struct_size = sizeof(tb_operator_vtable),
    .output_ports = ports,
    .create = bp_create,
    .destroy = bp_destroy,
    .process = bp_process,
    .tick = bp_tick,
    .contraflow = bp_contraflow,
    .save = bp_save,
    .restore = bp_restore,
};

const tb_component tbop_qos_backpressure = {
    .struct_size = sizeof(tb_component),
    .kind = TB_KIND_OPERATOR,
    .name = "qos::backpressure",
    .description = "backs off in steps while downstream deliveries are slow or failing",
    .options = options,
    .option_count = sizeof options / sizeof options[0],
    .vtable = &vtable,
};
