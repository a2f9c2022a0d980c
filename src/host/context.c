/* context.c - tb_context lifecycle, errors, metrics and sink contraflow. */
#define _GNU_SOURCE
#include "host/context_private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "host/loop.h"

static const tb_value empty_object = {TB_OBJECT, 0, 0, 0, {.members = NULL}};

static tb_context *context_new(tbr_plugin *p, const tbr_component *c, char *label,
                               const tb_value *config, struct tbr_loop *loop) {
    tb_context *ctx = calloc(1, sizeof *ctx);
    if (!ctx || !label) {
        free(ctx);
        free(label);
        return NULL;
    }
    ctx->plugin = p;
    ctx->component = c;
    ctx->label = label;
    ctx->config = config ? config : &empty_object;
    ctx->loop = loop;
    pthread_mutex_init(&ctx->lock, NULL);
    return ctx;
}

tb_context *tbr_context_new_plugin(tbr_plugin *p) {
    return context_new(p, NULL, strdup(p->desc.name), NULL, NULL);
}

tb_context *tbr_context_new_instance(const tbr_component *c, const char *label,
                                     const tb_value *config, struct tbr_loop *loop) {
    char *full = NULL;
    if (asprintf(&full, "%s %s/%s", tbr_kind_name(c->desc.kind), c->desc.name, label) < 0)
        full = NULL;
    return context_new(c->plugin, c, full, config, loop);
}

/* Ids are tagged in their top bit (never set by the loop, whose ids are generation << 32 |
 * slot with small generations) with whether they name a timer. */
#define TIMER_TAG (1ull << 63)

void tbr_context_track(tb_context *ctx, uint64_t id, bool is_timer) {
    /* compact first: most ids are stale (one-shot timers that fired, stopped watches) */
    if (ctx->nhandles == ctx->handle_cap && ctx->loop) {
        uint32_t kept = 0;
        for (uint32_t i = 0; i < ctx->nhandles; i++) {
            uint64_t h = ctx->handles[i];
            bool live = (h & TIMER_TAG) ? tbr_loop_timer_active(ctx->loop, h & ~TIMER_TAG)
                                        : tbr_loop_watch_active(ctx->loop, h);
            if (live) ctx->handles[kept++] = h;
        }
        ctx->nhandles = kept;
    }
    if (ctx->nhandles == ctx->handle_cap) {
        uint32_t ncap = ctx->handle_cap ? ctx->handle_cap * 2 : 8;
        uint64_t *n = realloc(ctx->handles, ncap * sizeof *n);
        if (!n) return; /* untracked: only the clean-up at free misses it */
        ctx->handles = n;
        ctx->handle_cap = ncap;
    }
    ctx->handles[ctx->nhandles++] = id | (is_timer ? TIMER_TAG : 0);
}

void tbr_context_free(tb_context *ctx) {
    if (!ctx) return;
    /* what the instance left running would call into freed state (or an unmapped library) */
    for (uint32_t i = 0; ctx->loop && i < ctx->nhandles; i++) {
        uint64_t h = ctx->handles[i];
        if (h & TIMER_TAG) tbr_loop_timer_stop(ctx->loop, h & ~TIMER_TAG);
        else tbr_loop_unwatch(ctx->loop, h);
    }
    free(ctx->handles);
    for (uint32_t i = 0; i < ctx->metric_count; i++) free(ctx->metrics[i]);
    free(ctx->deliveries);
    free(ctx->streams_done);
    pthread_mutex_destroy(&ctx->lock);
    free(ctx->label);
    free(ctx);
}

const char *tbr_context_error(const tb_context *ctx) { return ctx->error; }
void tbr_context_clear_error(tb_context *ctx) { ctx->error[0] = '\0'; }
const char *tbr_context_label(const tb_context *ctx) { return ctx->label; }
tbr_plugin *tbr_context_plugin(const tb_context *ctx) { return ctx->plugin; }

/* --- host API: configuration and errors --------------------------------------------- */

const tb_value *TB_CALL tbr_host_config(tb_context *ctx) { return ctx->config; }

void TB_CALL tbr_host_set_error(tb_context *ctx, const char *msg) {
    snprintf(ctx->error, sizeof ctx->error, "%s", msg ? msg : "");
}

/* --- host API: metrics ------------------------------------------------------------------ */

int TB_CALL tbr_host_metric_register(tb_context *ctx, const char *name, uint32_t type,
                                     uint32_t *out_id) {
    if (!name || !*name || strlen(name) >= sizeof ctx->metrics[0]->name ||
        (type != TB_METRIC_COUNTER && type != TB_METRIC_GAUGE))
        return TB_EINVAL;
    int rc = TB_OK;
    pthread_mutex_lock(&ctx->lock);
    uint32_t n = atomic_load(&ctx->metric_count), i;
    for (i = 0; i < n; i++)
        if (strcmp(ctx->metrics[i]->name, name) == 0) break;
    if (i < n) {
        if (ctx->metrics[i]->type != type) rc = TB_EINVAL;
    } else if (n == TBR_MAX_METRICS) {
        rc = TB_ENOMEM;
    } else {
        tbr_metric *m = calloc(1, sizeof *m);
        if (!m) {
            rc = TB_ENOMEM;
        } else {
            snprintf(m->name, sizeof m->name, "%s", name);
            m->type = type;
            ctx->metrics[n] = m;
            /* publish after the slot is filled: readers load the count first */
            atomic_store_explicit(&ctx->metric_count, n + 1, memory_order_release);
        }
    }
    pthread_mutex_unlock(&ctx->lock);
    if (rc == TB_OK) *out_id = i;
    return rc;
}

void TB_CALL tbr_host_metric_add(tb_context *ctx, uint32_t id, int64_t delta) {
    if (id < atomic_load_explicit(&ctx->metric_count, memory_order_acquire))
        atomic_fetch_add_explicit(&ctx->metrics[id]->value, delta, memory_order_relaxed);
}

void TB_CALL tbr_host_metric_set(tb_context *ctx, uint32_t id, int64_t value) {
    if (id < atomic_load_explicit(&ctx->metric_count, memory_order_acquire))
        atomic_store_explicit(&ctx->metrics[id]->value, value, memory_order_relaxed);
}

uint32_t tbr_context_metric_count(const tb_context *ctx) {
    return atomic_load_explicit(&ctx->metric_count, memory_order_acquire);
}

const tbr_metric *tbr_context_metric(const tb_context *ctx, uint32_t index) {
    return index < tbr_context_metric_count(ctx) ? ctx->metrics[index] : NULL;
}

/* --- host API: contraflow ---------------------------------------------------------------- */

void TB_CALL tbr_host_delivered(tb_context *ctx, uint64_t token, int status) {
    pthread_mutex_lock(&ctx->lock);
    if (ctx->delivery_count == ctx->delivery_cap) {
        size_t ncap = ctx->delivery_cap ? ctx->delivery_cap * 2 : 16;
        tbr_delivery *n = realloc(ctx->deliveries, ncap * sizeof *n);
        if (!n) {
            pthread_mutex_unlock(&ctx->lock);
            /* the batch stays unacknowledged: at-least-once replays it rather than lose it */
            tbr_log(TB_LOG_ERROR, ctx->label, "out of memory recording delivery of batch %llu",
                    (unsigned long long)token);
            return;
        }
        ctx->deliveries = n;
        ctx->delivery_cap = ncap;
    }
    ctx->deliveries[ctx->delivery_count++] = (tbr_delivery){token, status};
    pthread_mutex_unlock(&ctx->lock);
    if (ctx->loop) tbr_loop_wake(ctx->loop);
}

size_t tbr_context_take_deliveries(tb_context *ctx, tbr_delivery *out, size_t max) {
    pthread_mutex_lock(&ctx->lock);
    size_t n = ctx->delivery_count < max ? ctx->delivery_count : max;
    if (n) {
        memcpy(out, ctx->deliveries, n * sizeof *out);
        memmove(ctx->deliveries, ctx->deliveries + n, (ctx->delivery_count - n) * sizeof *out);
        ctx->delivery_count -= n;
    }
    pthread_mutex_unlock(&ctx->lock);
    return n;
}

void TB_CALL tbr_host_circuit(tb_context *ctx, bool open) {
    bool was = atomic_exchange(&ctx->circuit_open, open);
    if (was != open) {
        tbr_log(TB_LOG_WARN, ctx->label, "circuit breaker %s", open ? "opened" : "closed");
        /* the engine reads the breaker on the instance's thread: let it look now */
        if (ctx->loop) tbr_loop_wake(ctx->loop);
    }
}

bool tbr_context_circuit_open(const tb_context *ctx) { return atomic_load(&ctx->circuit_open); }

void TB_CALL tbr_host_sink_stream_done(tb_context *ctx, uint32_t stream) {
    if (ctx->streams_done_count == ctx->streams_done_cap) {
        uint32_t ncap = ctx->streams_done_cap ? ctx->streams_done_cap * 2 : 16;
        uint32_t *n = realloc(ctx->streams_done, ncap * sizeof *n);
        if (!n) return; /* the stream's postprocessors are then freed at stop, not now */
        ctx->streams_done = n;
        ctx->streams_done_cap = ncap;
    }
    ctx->streams_done[ctx->streams_done_count++] = stream;
}

size_t tbr_context_take_streams_done(tb_context *ctx, uint32_t *out, size_t max) {
    size_t n = ctx->streams_done_count < max ? ctx->streams_done_count : max;
    if (!n) return 0; /* the list may not exist yet: no memcpy from NULL */
    memcpy(out, ctx->streams_done, n * sizeof *out);
    memmove(ctx->streams_done, ctx->streams_done + n, (ctx->streams_done_count - n) * sizeof *out);
    ctx->streams_done_count -= (uint32_t)n;
    return n;
}

bool tbr_context_take_wake(tb_context *ctx) { return atomic_exchange(&ctx->woken, false); }
