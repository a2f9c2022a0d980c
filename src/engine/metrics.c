/* metrics.c - the engine's metrics as values, for the "temblor.metrics/1" extension: one
 * record per stage, one per connector whose plugin registers metrics of its own, and one per
 * output port, in the measurement/tags/fields/timestamp shape
 * Tremor's metrics events have. Read with relaxed atomics from any thread: the figures of
 * one snapshot are each exact, not a consistent cut across stages. */
#define _GNU_SOURCE
#include <string.h>
#include <time.h>

#include "engine/engine.h"
#include "engine/stage.h"

static tb_value str(tb_arena *a, const char *s) {
    size_t n = strlen(s);
    const char *copy = tb_arena_dup(a, s, n);
    return copy ? tb_string(copy, n) : tb_null();
}

static bool put(tb_arena *a, tb_value *obj, const char *key, tb_value v) {
    tb_value *slot = tb_object_append(a, obj, key, strlen(key));
    if (!slot) return false;
    *slot = v;
    return true;
}

static bool count(tb_arena *a, tb_value *fields, const char *key, _Atomic uint64_t *x) {
    return put(a, fields, key, tb_u64(atomic_load_explicit(x, memory_order_relaxed)));
}

static tb_value *record(tb_arena *a, tb_value *out, const char *measurement, uint64_t now) {
    tb_value *r = tb_array_push(a, out);
    if (!r) return NULL;
    *r = tb_object();
    if (!put(a, r, "measurement", str(a, measurement)) || !put(a, r, "tags", tb_object()) ||
        !put(a, r, "fields", tb_object()) || !put(a, r, "timestamp", tb_u64(now)))
        return NULL;
    return r;
}

static int build(tbr_engine *e, tb_arena *a, tb_value *out) {
    uint64_t now = tbr_realtime_ns();
    *out = tb_array();
    for (size_t i = 0; i < tbr_engine_stage_count(e); i++) {
        tbr_stage *s = tbr_engine_stage_at(e, i);
        tbr_stage_metrics *m = &s->m;
        tb_value *r = record(a, out, "stage", now);
        if (!r) return TB_ENOMEM;
        tb_value *tags = tb_object_getz(r, "tags"), *f = tb_object_getz(r, "fields");
        uint64_t lat_n = atomic_load_explicit(&m->latency_count, memory_order_relaxed);
        bool ok = put(a, tags, "stage", str(a, s->name)) && put(a, tags, "kind", str(a, s->kind)) &&
                  count(a, f, "events_in", &m->events_in) && count(a, f, "bytes_in", &m->bytes_in) &&
                  count(a, f, "events_out", &m->events_out) && count(a, f, "bytes_out", &m->bytes_out) &&
                  count(a, f, "errors", &m->errors) && count(a, f, "dropped", &m->dropped) &&
                  put(a, f, "queue_depth", tb_u64(atomic_load_explicit(&s->inbox.depth, memory_order_relaxed)));
        if (ok && !strcmp(s->kind, "connector")) ok = count(a, f, "streams", &m->streams);
        if (ok && lat_n)
            ok = put(a, f, "latency_mean_ns", tb_u64(atomic_load_explicit(&m->latency_sum_ns, memory_order_relaxed) / lat_n)) &&
                 count(a, f, "latency_max_ns", &m->latency_max_ns);
        if (!ok) return TB_ENOMEM;
        if (s->ops->plugin_metrics) {
            /* what the connector's plugin counts itself, when it counts anything */
            tb_value fields = tb_object();
            const char *plugin = NULL;
            if (!s->ops->plugin_metrics(s, a, &fields, &plugin)) return TB_ENOMEM;
            if (fields.len) {
                tb_value *pr = record(a, out, "connector", now);
                if (!pr) return TB_ENOMEM;
                tags = tb_object_getz(pr, "tags");
                if (!put(a, tags, "stage", str(a, s->name)) || !put(a, tags, "plugin", str(a, plugin))) return TB_ENOMEM;
                *tb_object_getz(pr, "fields") = fields;
            }
        }
        for (uint32_t p = 0; p < s->nouts; p++) {
            tb_value *pr = record(a, out, "port_events", now);
            if (!pr) return TB_ENOMEM;
            tags = tb_object_getz(pr, "tags");
            f = tb_object_getz(pr, "fields");
            if (!put(a, tags, "stage", str(a, s->name)) || !put(a, tags, "port", str(a, s->outs[p].name)) ||
                !count(a, f, "count", &s->outs[p].events))
                return TB_ENOMEM;
        }
    }
    return TB_OK;
}

int tbr_engine_metrics(tbr_engine *e, tb_arena *a, tb_value *out) {
    /* the stage list changes when flows are deployed and undeployed */
    tbr_engine_lock(e);
    int rc = build(e, a, out);
    tbr_engine_unlock(e);
    return rc;
}
