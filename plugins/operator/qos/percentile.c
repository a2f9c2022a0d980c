/*
 * percentile.c - qos::percentile, as Tremor 0.13 has it (tremor-pipeline
 * op/qos/percentile.rs): passes a fraction of the events, shrinking it while downstream is
 * slow or failing and growing it back while deliveries are healthy.
 *
 * The fraction starts at 1. A bad report (a failed delivery, a circuit opening, or an ack
 * whose latency exceeds `timeout` nanoseconds) lowers it by `step_down`, down to 0; a good
 * ack raises it by `step_up`, up to 1; a circuit closing changes nothing. Each event draws
 * a number r in [0, 1) and goes to "overflow" when r exceeds the fraction, else to "out",
 * marked transactional so its delivery is reported back, as Tremor marks it.
 *
 * The draw: without `seed`, Tremor's own, (ingest_ns mod 65535) / 65535, which needs no
 * state and is deterministic in event time; with `seed`, the instance's own generator
 * (splitmix64) started from it, which spreads events sharing an ingest time, and gives the
 * same decisions for the same seed and events.
 *
 * On a reload the new instance takes over (save/restore) the fraction passed and the
 * generator's state, so it goes on with the same decisions: {"perc": f, "rng": state}.
 *
 * Thread contract: create/destroy on the control thread; process, contraflow, save and
 * restore on the instance's thread.
 */
#include "qos.h"

typedef struct percentile {
    const tb_host_api *host;
    tb_context *ctx;
    uint64_t timeout_ns;
    double step_up, step_down;
    double perc;    /* the fraction passed */
    bool seeded;
    uint64_t state; /* splitmix64's, with seeded */
    uint32_t m_overflow, m_perc;
} percentile;

static const tb_option options[] = {
    TB_OPTION("timeout", TB_OPT_UINT, NULL, TB_OPT_REQUIRED,
              "nanoseconds a delivery may take before it counts as slow"),
    TB_OPTION("step_down", TB_OPT_FLOAT, "0.05", 0,
              "fraction taken off what passes on each slow or failed delivery"),
    TB_OPTION("step_up", TB_OPT_FLOAT, "0.001", 0,
              "fraction given back to what passes on each timely delivery"),
    TB_OPTION("seed", TB_OPT_UINT, NULL, 0,
              "seed of the instance's random draw; absent: Tremor's draw from ingest_ns"),
};

static bool valid_step(double d) { return d >= 0.0 && d <= 1.0; } /* false for NaN too */

static int TB_CALL perc_create(const tb_create_args *args, void **out) {
    const tb_host_api *host = args->host;
    double up = tb_config_f64(args->config, "step_up", 0.001);
    double down = tb_config_f64(args->config, "step_down", 0.05);
    if (!valid_step(up) || !valid_step(down))
        return tb_fail(host, args->ctx, TB_EINVAL,
                       "qos::percentile: step_up and step_down must be between 0 and 1, found "
                       "%g and %g",
                       up, down);
    percentile *p = host->alloc(args->ctx, sizeof *p);
    if (!p) return tb_fail(host, args->ctx, TB_ENOMEM, "qos::percentile: out of memory");
    memset(p, 0, sizeof *p);
    p->host = host;
    p->ctx = args->ctx;
    p->timeout_ns = tb_config_u64(args->config, "timeout", 0);
    p->step_up = up;
    p->step_down = down;
    p->perc = 1.0;
    const tb_value *seed = tb_object_getz(args->config, "seed");
    p->seeded = seed && seed->type != TB_NULL;
    p->state = tb_config_u64(args->config, "seed", 0);
    tbop_qos_metric_register(host, p->ctx, "overflow", TB_METRIC_COUNTER, &p->m_overflow);
    tbop_qos_metric_register(host, p->ctx, "pass_ppm", TB_METRIC_GAUGE, &p->m_perc);
    tbop_qos_metric_set(host, p->ctx, p->m_perc, 1000000);
    *out = p;
    return TB_OK;
}

static void TB_CALL perc_destroy(void *instance) {
    percentile *p = instance;
    p->host->free(p->ctx, p);
}

/* splitmix64 (Steele, Lea, Flood): one 64-bit state, every value once per period. */
static uint64_t splitmix64(uint64_t *state) {
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static double draw(percentile *p, uint64_t ingest_ns) {
    if (p->seeded) return (double)(splitmix64(&p->state) >> 11) * 0x1.0p-53;
    return (double)(ingest_ns % 0xFFFF) / (double)0xFFFF;
}

static int TB_CALL perc_process(void *instance, uint32_t in_port, tb_batch *in, tb_batch *out) {
    percentile *p = instance;
    for (uint32_t i = 0; i < in->count; i++) {
        const tb_event *e = &in->events[i];
        uint16_t port = draw(p, e->ingest_ns) > p->perc ? QOS_PORT_OVERFLOW : QOS_PORT_OUT;
        if (port == QOS_PORT_OVERFLOW) tbop_qos_metric_add(p->host, p->ctx, p->m_overflow, 1);
        if (!tbop_qos_forward(out, e, port, true)) return TB_ENOMEM;
    }
    return TB_OK;
}

static void TB_CALL perc_contraflow(void *instance, const tb_contraflow *cf) {
    percentile *p = instance;
    switch (tbop_qos_health(cf, p->timeout_ns)) {
    case QOS_BAD:
        p->perc -= p->step_down;
        if (p->perc < 0.0) p->perc = 0.0;
        break;
    case QOS_GOOD:
        p->perc += p->step_up;
        if (p->perc > 1.0) p->perc = 1.0;
        break;
    case QOS_NEUTRAL: return;
    }
    tbop_qos_metric_set(p->host, p->ctx, p->m_perc, (int64_t)(p->perc * 1e6 + 0.5));
}

/* --- handover on a reload --------------------------------------------------------------------- */

static int TB_CALL perc_save(void *instance, tb_arena *arena, tb_value *out) {
    percentile *p = instance;
    tb_value saved = tb_object();
    tb_value *slot;
    if (!(slot = tbop_qos_put(arena, &saved, "perc"))) goto fail_nomem;
    *slot = tb_f64(p->perc);
    /* meaningful with a seed only, saved always so the value has one shape */
    if (!(slot = tbop_qos_put(arena, &saved, "rng"))) goto fail_nomem;
    *slot = tb_u64(p->state);
    *out = saved;
    return TB_OK;
fail_nomem:
    return tb_fail(p->host, p->ctx, TB_ENOMEM, "qos::percentile: out of memory");
}

/* Takes over what perc_save wrote: null (a build that kept no state) starts at 1; members
 * this build does not know are ignored. */
static int TB_CALL perc_restore(void *instance, const tb_value *saved) {
    percentile *p = instance;
    double perc;
    uint64_t rng;
    if (saved->type == TB_NULL) return TB_OK;
    if (!tb_value_as_f64(tb_object_getz(saved, "perc"), &perc) || !valid_step(perc) ||
        !tbop_qos_get_u64(saved, "rng", &rng))
        return tb_fail(p->host, p->ctx, TB_EINVAL,
                       "qos::percentile: cannot restore from a %s without a \"perc\" between 0 "
                       "and 1 and an unsigned \"rng\"",
                       tb_type_name(saved->type));
    p->perc = perc;
    p->state = rng;
    tbop_qos_metric_set(p->host, p->ctx, p->m_perc, (int64_t)(p->perc * 1e6 + 0.5));
    return TB_OK;
}

static const char *const ports[] = {"out", "err", "overflow", NULL};

static const tb_operator_vtable vtable = {
    .struct_size = sizeof(tb_operator_vtable),
    .output_ports = ports,
    .create = perc_create,
    .destroy = perc_destroy,
    .process = perc_process,
    .contraflow = perc_contraflow,
    .save = perc_save,
    .restore = perc_restore,
};

const tb_component tbop_qos_percentile = {
    .struct_size = sizeof(tb_component),
    .kind = TB_KIND_OPERATOR,
    .name = "qos::percentile",
    .description = "passes a fraction of events that shrinks on slow or failed deliveries",
    .options = options,
    .option_count = sizeof options / sizeof options[0],
    .vtable = &vtable,
};
