/*
 * context_private.h - the layout of tb_context, shared by the files of src/host/ only.
 */
#ifndef TBR_HOST_CONTEXT_PRIVATE_H
#define TBR_HOST_CONTEXT_PRIVATE_H

#include <pthread.h>

#include "host/context.h"

struct tb_context {
    tbr_plugin *plugin;
    const tbr_component *component; /* NULL for a plugin context */
    char *label;                    /* "plugin-name" or "kind name/instance" */
    const tb_value *config;
    struct tbr_loop *loop;

    /* the message of the failing call; written by the thread of that call */
    char error[512];

    pthread_mutex_t lock;           /* metric registration and the delivery queue */
    tbr_metric *metrics[TBR_MAX_METRICS];
    _Atomic uint32_t metric_count;

    _Atomic bool woken;
    _Atomic uint32_t wrong_thread_calls; /* host calls refused for coming from another thread */
    _Atomic bool circuit_open;
    tbr_delivery *deliveries;
    size_t delivery_count, delivery_cap;
    /* streams the sink half said are over ("temblor.streams/1"); the instance's thread only */
    uint32_t *streams_done;
    uint32_t streams_done_count, streams_done_cap;

    /* fd watches and timers the instance started on its loop (stale ids included: stopping
     * one is harmless), removed when the context is freed; the context's thread only */
    uint64_t *handles;
    uint32_t nhandles, handle_cap;
};

/* Records a watch (is_timer false) or timer id of ctx, to be removed with it. */
void tbr_context_track(tb_context *ctx, uint64_t id, bool is_timer);

/* The host API functions, defined across src/host/ and gathered in host_api.c. */
const tb_value *TB_CALL tbr_host_config(tb_context *ctx);
void TB_CALL tbr_host_set_error(tb_context *ctx, const char *msg);
int TB_CALL tbr_host_metric_register(tb_context *ctx, const char *name, uint32_t type,
                                     uint32_t *out_id);
void TB_CALL tbr_host_metric_add(tb_context *ctx, uint32_t id, int64_t delta);
void TB_CALL tbr_host_metric_set(tb_context *ctx, uint32_t id, int64_t value);
void TB_CALL tbr_host_delivered(tb_context *ctx, uint64_t token, int status);
void TB_CALL tbr_host_circuit(tb_context *ctx, bool open);
void TB_CALL tbr_host_sink_stream_done(tb_context *ctx, uint32_t stream);
void *TB_CALL tbr_host_alloc(tb_context *ctx, size_t size);
void *TB_CALL tbr_host_realloc(tb_context *ctx, void *ptr, size_t size);
void TB_CALL tbr_host_free(tb_context *ctx, void *ptr);

#endif
