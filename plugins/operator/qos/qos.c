/*
 * qos.c - the descriptor of the `qos` operator plugin (qos::backpressure, qos::percentile,
 * qos::roundrobin) and the helpers its operators share.
 *
 * Thread contract: the descriptor is static data (any thread); the helpers are reentrant.
 */
#include "qos.h"

qos_health tbop_qos_health(const tb_contraflow *cf, uint64_t timeout_ns) {
    switch (cf->kind) {
    case TB_CF_FAIL:
    case TB_CF_CIRCUIT_OPEN: return QOS_BAD;
    case TB_CF_ACK: return cf->latency_ns > timeout_ns ? QOS_BAD : QOS_GOOD;
    default: return QOS_NEUTRAL;
    }
}

tb_event *tbop_qos_forward(tb_batch *out, const tb_event *e, uint16_t port, bool transactional) {
    tb_event *o = tb_batch_push(out);
    if (!o) return NULL;
    *o = *e;
    o->port = port;
    if (transactional) o->flags |= TB_EF_TRANSACTIONAL;
    return o;
}

void tbop_qos_metric_register(const tb_host_api *host, tb_context *ctx, const char *name,
                              uint32_t type, uint32_t *id) {
    if (host->metric_register(ctx, name, type, id) != TB_OK) *id = UINT32_MAX;
}

void tbop_qos_metric_add(const tb_host_api *host, tb_context *ctx, uint32_t id, int64_t n) {
    if (id != UINT32_MAX) host->metric_add(ctx, id, n);
}

void tbop_qos_metric_set(const tb_host_api *host, tb_context *ctx, uint32_t id, int64_t v) {
    if (id != UINT32_MAX) host->metric_set(ctx, id, v);
}

tb_value *tbop_qos_put(tb_arena *arena, tb_value *obj, const char *key) {
    size_t n = strlen(key);
    const char *copy = tb_arena_dup(arena, key, n);
    return copy ? tb_object_append(arena, obj, copy, n) : NULL;
}

bool tbop_qos_get_u64(const tb_value *obj, const char *key, uint64_t *out) {
    const tb_value *v = tb_object_getz(obj, key);
    if (v && v->type == TB_U64) {
        *out = v->as.u;
        return true;
    }
    if (v && v->type == TB_I64 && v->as.i >= 0) {
        *out = (uint64_t)v->as.i;
        return true;
    }
    return false;
}

static const tb_component *const components[] = {
    &tbop_qos_backpressure,
    &tbop_qos_percentile,
    &tbop_qos_roundrobin,
};

static const tb_plugin_descriptor descriptor = {
    TB_DESCRIPTOR_HEAD,
    .flags = TB_PLUGIN_UNLOAD_SAFE,
    .name = "qos",
    .version = "0.1.0",
    .description = "Tremor's quality-of-service operators: backpressure, percentile, roundrobin",
    .components = components,
    .component_count = sizeof components / sizeof components[0],
};

TB_PLUGIN_ENTRY(qos) { return &descriptor; }
