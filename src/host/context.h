/*
 * context.h - tb_context, the runtime's side of a plugin or of one component instance:
 * identity for logs, configuration, last error, metrics, memory accounting, and the
 * contraflow a sink reports (deliveries, circuit breaker) until the engine collects it.
 *
 * Ownership: the runtime creates and frees contexts; the plugin only borrows them.
 * Thread contract: as each tb_host_api function states; the accessors here are for the
 * control thread unless they say otherwise.
 */
#ifndef TBR_HOST_CONTEXT_H
#define TBR_HOST_CONTEXT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <temblor/temblor.h>

#include "plugin/plugin.h"

struct tbr_loop;

#define TBR_MAX_METRICS 128

typedef struct tbr_metric {
    char name[64];
    uint32_t type;
    _Atomic int64_t value;
} tbr_metric;

/* A delivery report from a sink: batch token and status. */
typedef struct tbr_delivery {
    uint64_t token;
    int status;
} tbr_delivery;

/* Creates the context of plugin p (for init/deinit); its label is the plugin's name. */
tb_context *tbr_context_new_plugin(tbr_plugin *p);

/* Creates the context of an instance of component c called label; config is borrowed and
 * must outlive the context; loop may be NULL (fd and timer registration then fail with
 * TB_ENOTSUP). */
tb_context *tbr_context_new_instance(const tbr_component *c, const char *label,
                                     const tb_value *config, struct tbr_loop *loop);
void tbr_context_free(tb_context *ctx);

/* The host function table every plugin receives. */
const tb_host_api *tbr_host_api(void);

/* The "temblor.runtime/1" extension's shutdown requests: the engine installs a handler
 * (called on the requesting thread with the exit code; NULL uninstalls). Without one, the
 * first request's code is kept: tbr_host_shutdown_requested returns it (-1: none), and
 * tbr_host_shutdown_reset forgets it. Any thread. */
typedef void (*tbr_shutdown_fn)(int exit_code);
void tbr_host_set_shutdown_handler(tbr_shutdown_fn fn);
int tbr_host_shutdown_requested(void);
void tbr_host_shutdown_reset(void);

/* The "temblor.metrics/1" extension's snapshot: the engine installs the function that builds
 * it (NULL uninstalls; snapshot then returns TB_ENOTSUP). Any thread. */
typedef int (*tbr_metrics_fn)(tb_arena *arena, tb_value *out);
void tbr_host_set_metrics_provider(tbr_metrics_fn fn);

/* What happens when a plugin's allocation is refused for its memory limit: by default it
 * is logged and NULL returned; a plugin host installs a handler that ends the process instead
 * (docs/isolation.md). fn gets the context, the size asked for and the limit. Any thread. */
typedef void (*tbr_over_limit_fn)(tb_context *ctx, size_t size, size_t limit);
void tbr_host_set_over_limit_handler(tbr_over_limit_fn fn);

/* The message a callback set through set_error ("" if none), and clearing it before a call.
 * The thread that made the failing call. */
const char *tbr_context_error(const tb_context *ctx);
void tbr_context_clear_error(tb_context *ctx);

const char *tbr_context_label(const tb_context *ctx);
tbr_plugin *tbr_context_plugin(const tb_context *ctx);

/* Metrics of the context, for reading: index < count. Any thread. */
uint32_t tbr_context_metric_count(const tb_context *ctx);
const tbr_metric *tbr_context_metric(const tb_context *ctx, uint32_t index);

/* Contraflow reported by a sink, consumed by the engine. Any thread. */
bool tbr_context_take_wake(tb_context *ctx);
bool tbr_context_circuit_open(const tb_context *ctx);
/* Moves up to max pending delivery reports into out; returns how many. */
size_t tbr_context_take_deliveries(tb_context *ctx, tbr_delivery *out, size_t max);
/* Moves up to max of the streams the sink half said are over into out; returns how many.
 * The instance's thread. */
size_t tbr_context_take_streams_done(tb_context *ctx, uint32_t *out, size_t max);

#endif
