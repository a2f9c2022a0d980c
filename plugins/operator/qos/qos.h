/*
 * qos.h - the components of the `qos` operator plugin (Tremor's quality-of-service
 * operators), one per file, and what they share: the output ports and the reading of
 * contraflow.
 *
 * Thread contract: as every operator: create/destroy on the control thread, every other
 * callback (process, tick, contraflow) of one instance on one thread at a time.
 */
#ifndef TBOP_QOS_H
#define TBOP_QOS_H

#include <temblor/temblor.h>

/* The first output ports of every qos operator: event.port indexes the vtable's list. */
enum { QOS_PORT_OUT = 0, QOS_PORT_ERR = 1, QOS_PORT_OVERFLOW = 2 };

extern const tb_component tbop_qos_backpressure; /* qos::backpressure */
extern const tb_component tbop_qos_percentile;   /* qos::percentile */
extern const tb_component tbop_qos_roundrobin;   /* qos::roundrobin */

/* What a contraflow says of the health downstream, as Tremor's is_error_insight reads an
 * insight (tremor-pipeline op/qos.rs): a failed delivery, a circuit opening, or an ack that
 * took longer than timeout_ns is BAD; any other ack is GOOD; a circuit closing says
 * nothing about deliveries and is NEUTRAL. */
typedef enum qos_health { QOS_BAD, QOS_GOOD, QOS_NEUTRAL } qos_health;
qos_health tbop_qos_health(const tb_contraflow *cf, uint64_t timeout_ns);

/* Appends a copy of e to out on port, marked transactional if asked: backpressure and
 * percentile need the contraflow of the events they pass, so they mark them as Tremor's
 * do. NULL when out of memory. */
tb_event *tbop_qos_forward(tb_batch *out, const tb_event *e, uint16_t port, bool transactional);

/* Registers a metric, leaving UINT32_MAX in *id when the host refuses it, and updates one
 * so registered (nothing for UINT32_MAX). */
void tbop_qos_metric_register(const tb_host_api *host, tb_context *ctx, const char *name,
                              uint32_t type, uint32_t *id);
void tbop_qos_metric_add(const tb_host_api *host, tb_context *ctx, uint32_t id, int64_t n);
void tbop_qos_metric_set(const tb_host_api *host, tb_context *ctx, uint32_t id, int64_t v);

/* For save, whose value may not point into the plugin's memory: appends member key, the key
 * copied into arena, to object obj and returns its null slot, or NULL when out of memory. */
tb_value *tbop_qos_put(tb_arena *arena, tb_value *obj, const char *key);
/* For restore: the unsigned integer member key of obj (TB_U64, or TB_I64 when not negative)
 * into *out. False when obj is not an object, or the member is absent or not one. */
bool tbop_qos_get_u64(const tb_value *obj, const char *key, uint64_t *out);

#endif
