/* connector.c - a connector instance as a stage: lifecycle, source half, sink half. The
 * stream-processing chains are in chain.c; this file decides when to call what. */
#define _GNU_SOURCE
#include "engine/connector.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "engine/chain.h"
#include "engine/engine.h"
#include "engine/ticket.h"
#include "host/context.h"
#include "plugin/instance.h"
#include "value/arena.h"
#include "value/clone.h"

typedef enum conn_state {
    CONN_IDLE,       /* created, not connected */
    CONN_BACKOFF,    /* waiting for the retry timer */
    CONN_CONNECTING, /* connect is due (now) */
    CONN_RUNNING,
    CONN_FAILED,     /* given up: reported, events it is sent fail */
    CONN_STOPPED
} conn_state;

static const char *const state_names[] = {"idle", "backing off", "connecting", "running", "failed", "stopped"};

/* Restarts allowed in RESTART_WINDOW before the instance is given up. */
#define RESTART_LIMIT 5
#define RESTART_WINDOW_NS (60ull * 1000000000ull)

typedef struct pending {
    uint64_t token;
    tbr_msg *msg;
} pending;

typedef struct conn_stage {
    tbr_stage base;
    tbr_connector_spec spec;     /* values copied into arena */
    tb_arena *arena;
    const tb_connector_vtable *vt;
    uint32_t flags;              /* TB_CONNECTOR_* */
    tbr_instance *inst;
    uint32_t source_id;
    conn_state state;
    uint32_t failures;           /* consecutive connect failures */
    uint64_t restarts[RESTART_LIMIT];
    uint32_t nrestarts;
    uint64_t retry_timer;

    /* source half */
    tbr_chain_set pre;           /* preprocessors per stream, then the codec */
    bool pull_ready;             /* pull may yield: not waiting for a callback or wake */
    bool eof;
    bool quiescing;              /* phase QUIESCE or later: no more pulls */
    bool paused;                 /* pause was called: a circuit is open downstream */
    bool pulled_once;
    tbr_stage **sinks;            /* connector stages downstream, whose breakers pause us */
    uint32_t nsinks;
    uint64_t next_id;            /* ids for events the source left at 0 */
    pthread_mutex_t settled_lock;
    tbr_ticket *settled;         /* tickets whose every copy has been delivered or failed */
    _Atomic bool any_settled;    /* settled is not empty: looked at without the lock */

    /* sink half */
    tbr_chain_set post;          /* the codec, then postprocessors */
    pending *pending;            /* batches push answered TB_EPENDING for */
    uint32_t npending, pending_cap;
    _Atomic bool circuit_open;   /* this sink cannot deliver now */
    _Atomic bool failed;         /* given up for good */
    tbr_stage **sources;          /* connector stages upstream, woken when the breaker closes */
    uint32_t nsources;
} conn_stage;

static _Atomic uint32_t next_source_id = 1;

static conn_stage *as_conn(tbr_stage *n) { return (conn_stage *)n; }

/* --- lifecycle ------------------------------------------------------------------------------ */

static void set_state(conn_stage *c, conn_state s) {
    if (c->state == s) return;
    tbr_log(s == CONN_FAILED ? TB_LOG_ERROR : TB_LOG_INFO, c->base.name, "%s -> %s", state_names[c->state],
            state_names[s]);
    c->state = s;
    bool open = s != CONN_RUNNING || (c->inst && tbr_context_circuit_open(c->inst->ctx));
    if (atomic_exchange(&c->circuit_open, open) != open)
        for (uint32_t i = 0; i < c->nsources; i++) tbr_loop_wake(c->sources[i]->loop);
}

static const char *last_error(conn_stage *c, int rc) {
    const char *msg = c->inst ? tbr_context_error(c->inst->ctx) : "";
    return msg[0] ? msg : tbr_status_name(rc);
}

static uint64_t backoff_ns(const tbr_retry *r, uint32_t failures) {
    double d = (double)r->interval_ns * pow(r->growth, failures ? failures - 1 : 0);
    if (d > (double)r->max_interval_ns) d = (double)r->max_interval_ns;
    uint64_t ns = (uint64_t)d;
    /* jitter keeps many instances from retrying in step against a recovering peer */
    if (r->randomized && ns > 1) ns = ns / 2 + (uint64_t)((double)(ns / 2) * ((double)rand() / RAND_MAX));
    return ns;
}

static void TB_CALL retry_due(void *user, uint64_t timer_id) {
    conn_stage *c = user;
    (void)timer_id;
    c->retry_timer = 0;
    if (c->state == CONN_BACKOFF) c->state = CONN_CONNECTING;
}

static void schedule_retry(conn_stage *c) {
    uint64_t delay = backoff_ns(&c->spec.reconnect, c->failures);
    tbr_log(TB_LOG_INFO, c->base.name, "retrying in %.0f ms", (double)delay / 1e6);
    set_state(c, CONN_BACKOFF);
    if (tbr_loop_timer_start(c->base.loop, delay, 0, retry_due, c, &c->retry_timer) != TB_OK)
        c->state = CONN_CONNECTING; /* no timer: retry at once rather than never */
}

static void source_ended(conn_stage *c) {
    if (c->eof || !(c->flags & TB_CONNECTOR_SOURCE)) return;
    c->eof = true;
    tbr_engine_source_done(c->base.engine);
}

static void give_up(conn_stage *c, const char *why) {
    tbr_log(TB_LOG_ERROR, c->base.name, "stopped for good: %s", why);
    atomic_store(&c->failed, true);
    tbr_engine_stage_failed(c->base.engine);
    set_state(c, CONN_FAILED);
    if (c->inst && c->vt->stop) c->vt->stop(c->inst->state);
    source_ended(c);
}

static int create_instance(conn_stage *c, char *err, size_t n) {
    return tbr_instance_create(tbr_engine_registry(c->base.engine), c->spec.connector.component, c->base.name,
                               &c->spec.connector.config, c->base.loop, 0, &c->inst, err, n);
}

/* A callback failed: restart the instance with backoff, unless it keeps failing. */
static void supervise(conn_stage *c, const char *what, int rc) {
    char why[600];
    snprintf(why, sizeof why, "%s failed: %s", what, last_error(c, rc));
    tbr_log(TB_LOG_ERROR, c->base.name, "%s", why);
    uint64_t now = tbr_now_ns();
    uint32_t recent = 0;
    for (uint32_t i = 0; i < c->nrestarts && i < RESTART_LIMIT; i++)
        if (now - c->restarts[i] < RESTART_WINDOW_NS) recent++;
    if (recent >= RESTART_LIMIT) {
        give_up(c, "it failed more than 5 times in a minute");
        return;
    }
    c->restarts[c->nrestarts++ % RESTART_LIMIT] = now;
    if (c->vt->stop) c->vt->stop(c->inst->state);
    tbr_instance_destroy(c->inst);
    c->inst = NULL;
    char err[512];
    if (create_instance(c, err, sizeof err) != TB_OK) {
        give_up(c, err);
        return;
    }
    c->pull_ready = true;
    c->failures++;
    tbr_log(TB_LOG_WARN, c->base.name, "restarting (restart %u)", c->nrestarts);
    schedule_retry(c);
}

/* The external connection broke (a callback said TB_EIO or TB_ECLOSED): not a fault of the
 * instance, so it is kept and reconnected with backoff; its circuit is open meanwhile. */
static void connection_lost(conn_stage *c, const char *what, int rc) {
    tbr_log(TB_LOG_WARN, c->base.name, "%s: connection lost: %s", what, last_error(c, rc));
    if (!c->spec.reconnect.enabled) {
        give_up(c, "its connection is lost and reconnect is \"none\"");
        return;
    }
    c->failures = 1;
    schedule_retry(c);
}

/* Connects and starts; on a transient failure, schedules the next try. */
static void try_connect(conn_stage *c) {
    int rc = TB_OK;
    if (c->vt->connect) {
        tbr_context_clear_error(c->inst->ctx);
        rc = c->vt->connect(c->inst->state);
    }
    if (rc == TB_EIO || rc == TB_EAGAIN) {
        c->failures++;
        tbr_log(TB_LOG_WARN, c->base.name, "connect failed: %s", last_error(c, rc));
        if (!c->spec.reconnect.enabled) give_up(c, "it cannot connect and reconnect is \"none\"");
        else if (c->spec.reconnect.max_retries && c->failures > c->spec.reconnect.max_retries) give_up(c, "no retries left");
        else schedule_retry(c);
        return;
    }
    if (rc == TB_OK && c->vt->start) rc = c->vt->start(c->inst->state);
    if (rc != TB_OK) {
        supervise(c, "connect", rc);
        return;
    }
    c->failures = 0;
    c->pull_ready = true;
    c->paused = false;
    set_state(c, CONN_RUNNING);
}

/* --- source half ------------------------------------------------------------------------------ */

static void TB_CALL settle(void *owner, tbr_ticket *t) {
    conn_stage *c = owner;
    pthread_mutex_lock(&c->settled_lock);
    t->next = c->settled;
    c->settled = t;
    atomic_store(&c->any_settled, true);
    pthread_mutex_unlock(&c->settled_lock);
    tbr_loop_wake(c->base.loop);
}

/* Tells the source what became of its transactional batches. */
static void deliver_settled(conn_stage *c) {
    if (!atomic_load(&c->any_settled)) return; /* a ticket settled later also wakes the loop */
    pthread_mutex_lock(&c->settled_lock);
    tbr_ticket *t = c->settled;
    c->settled = NULL;
    atomic_store(&c->any_settled, false);
    pthread_mutex_unlock(&c->settled_lock);
    while (t) {
        tbr_ticket *next = t->next;
        int status = atomic_load(&t->status);
        void (*cb)(void *, const uint64_t *, uint32_t) = status == TB_OK ? c->vt->ack : c->vt->fail;
        /* a failed or stopped instance is told nothing more: the tickets are only freed */
        if (cb && c->inst && c->state != CONN_FAILED && c->state != CONN_STOPPED) cb(c->inst->state, t->ids, t->count);
        c->pull_ready = true; /* a failed batch is replayed; an ack may end the source */
        tbr_ticket_free(t);
        t = next;
    }
}

static bool circuit_allows(conn_stage *c) {
    /* when every sink it feeds has been given up, nothing it pulls can be delivered */
    bool all_failed = c->nsinks > 0;
    for (uint32_t i = 0; i < c->nsinks && all_failed; i++) all_failed = atomic_load(&as_conn(c->sinks[i])->failed);
    if (all_failed) {
        tbr_log(TB_LOG_ERROR, c->base.name, "stopping: every sink it feeds has failed");
        source_ended(c);
        return false;
    }
    bool open = false;
    for (uint32_t i = 0; i < c->nsinks && !open; i++) open = atomic_load(&as_conn(c->sinks[i])->circuit_open);
    if (open && !c->paused) {
        c->paused = true;
        /* before its sinks first connect a source just waits: only a later pause is news */
        tbr_log(c->pulled_once ? TB_LOG_WARN : TB_LOG_DEBUG, c->base.name, "paused: a sink downstream cannot deliver");
        if (c->vt->pause) c->vt->pause(c->inst->state);
    } else if (!open && c->paused) {
        c->paused = false;
        tbr_log(c->pulled_once ? TB_LOG_INFO : TB_LOG_DEBUG, c->base.name, "resumed");
        if (c->vt->resume) c->vt->resume(c->inst->state);
        c->pull_ready = true;
    }
    return !open;
}

/* Routes a decoded batch: failed events to err, dropped ones nowhere, the rest to out. */
static void route_source_batch(conn_stage *c, tb_batch *b) {
    tbr_ticket *ticket = NULL;
    const tb_event **ptrs = b->count ? malloc(b->count * sizeof *ptrs) : NULL;
    if (b->count && !ptrs) {
        tbr_log(TB_LOG_ERROR, c->base.name, "out of memory: %u events lost", b->count);
        atomic_fetch_add(&c->base.m.errors, b->count);
        tbr_arena_free(b->arena);
        return;
    }
    uint32_t nout = 0, nerr = b->count;
    /* every event of a transactional connector is tracked, and any event another source
     * flags TB_EF_TRANSACTIONAL itself (a per-instance choice, like bench's is_transactional) */
    bool transactional = c->vt->ack || c->vt->fail;
    uint64_t *ids = transactional && b->count ? malloc(b->count * sizeof *ids) : NULL;
    uint32_t nids = 0;
    for (uint32_t i = 0; i < b->count; i++) {
        const tb_event *e = &b->events[i];
        if (ids && (e->flags & TB_EF_TRANSACTIONAL)) ids[nids++] = e->id;
        if (e->flags & TB_EF_DROPPED) atomic_fetch_add(&c->base.m.dropped, 1);
        else if (e->flags & TB_EF_ERROR) {
            /* on the err port it is a record ({"error", "data"}) like any other */
            b->events[i].flags &= (uint16_t)~TB_EF_ERROR;
            ptrs[--nerr] = e;
        } else {
            ptrs[nout++] = e;
        }
    }
    if (nids) ticket = tbr_ticket_new(settle, c, ids, nids);
    free(ids);
    if (nids && !ticket) tbr_log(TB_LOG_ERROR, c->base.name, "out of memory tracking a batch: it will not be acknowledged");
    tbr_route routes[2] = {{tbr_stage_out(&c->base, "out"), ptrs, nout},
                           {tbr_stage_out(&c->base, "err"), ptrs ? ptrs + nerr : NULL, b->count - nerr}};
    tbr_stage_route(&c->base, b->arena, ticket, routes, 2);
    tbr_ticket_release(ticket, TB_OK);
    free(ptrs);
}

/* Pulls one batch and sends it on; returns whether another pull may yield at once. */
static bool pull_once(conn_stage *c) {
    const tbr_engine_opts *o = tbr_engine_opts_of(c->base.engine);
    tb_arena *a = tbr_arena_new(64 * 1024);
    tb_batch b = {0};
    if (!a) return false;
    b.arena = a;
    b.events = tb_arena_alloc(a, o->batch_size * sizeof(tb_event), 8);
    if (b.events) b.capacity = o->batch_size;
    tbr_context_clear_error(c->inst->ctx);
    c->pulled_once = true;
    int rc = c->vt->pull(c->inst->state, &b);
    if (rc != TB_OK && rc != TB_EAGAIN && rc != TB_EOF) {
        tbr_arena_free(a);
        if (rc == TB_EIO || rc == TB_ECLOSED) connection_lost(c, "pull", rc);
        else supervise(c, "pull", rc);
        return false;
    }
    if (rc == TB_EAGAIN) c->pull_ready = false;
    uint64_t now = 0;
    for (uint32_t i = 0; i < b.count; i++) {
        tb_event *e = &b.events[i];
        e->source = c->source_id;
        if (!e->ingest_ns) {
            if (!now) {
                struct timespec ts;
                clock_gettime(CLOCK_REALTIME, &ts);
                now = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
            }
            e->ingest_ns = now;
        }
        if (c->flags & TB_CONNECTOR_TRANSACTIONAL) e->flags |= TB_EF_TRANSACTIONAL;
        if ((e->flags & TB_EF_RAW) && e->data.type == TB_BYTES) atomic_fetch_add_explicit(&c->base.m.bytes_in, e->data.len, memory_order_relaxed);
    }
    atomic_fetch_add_explicit(&c->base.m.events_in, b.count, memory_order_relaxed);
    if (b.count || rc == TB_EOF) {
        if (!(c->flags & TB_CONNECTOR_STRUCTURED) && tbr_chain_decode(&c->pre, &b, rc == TB_EOF) != TB_OK)
            atomic_fetch_add(&c->base.m.errors, 1);
        route_source_batch(c, &b);
    } else {
        tbr_arena_free(a);
    }
    if (rc == TB_EOF) {
        tbr_log(TB_LOG_INFO, c->base.name, "source ended");
        source_ended(c);
        return false;
    }
    return rc == TB_OK;
}

/* --- sink half ------------------------------------------------------------------------------ */

static void fail_msg_back(conn_stage *c, tbr_msg *m, int status) {
    atomic_fetch_add(&c->base.m.errors, m->batch.count);
    tbr_msg_free(m, status);
}

static void settle_pending(conn_stage *c) {
    tbr_delivery d[64];
    size_t n;
    while (c->npending && (n = tbr_context_take_deliveries(c->inst->ctx, d, 64))) {
        for (size_t i = 0; i < n; i++)
            for (uint32_t k = 0; k < c->npending; k++) {
                if (c->pending[k].token != d[i].token) continue;
                tbr_msg *m = c->pending[k].msg;
                c->pending[k] = c->pending[--c->npending];
                if (d[i].status == TB_OK) atomic_fetch_add(&c->base.m.events_out, m->batch.count);
                else atomic_fetch_add(&c->base.m.errors, m->batch.count);
                tbr_msg_free(m, d[i].status);
                break;
            }
    }
}

static void record_latency(conn_stage *c, const tb_batch *b) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t now = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec, sum = 0, max = 0, n = 0;
    for (uint32_t i = 0; i < b->count; i++) {
        uint64_t at = b->events[i].ingest_ns;
        if (!at || at > now) continue;
        sum += now - at;
        if (now - at > max) max = now - at;
        n++;
    }
    if (!n) return;
    atomic_fetch_add_explicit(&c->base.m.latency_sum_ns, sum, memory_order_relaxed);
    atomic_fetch_add_explicit(&c->base.m.latency_count, n, memory_order_relaxed);
    uint64_t seen = atomic_load_explicit(&c->base.m.latency_max_ns, memory_order_relaxed);
    while (max > seen && !atomic_compare_exchange_weak(&c->base.m.latency_max_ns, &seen, max)) {
    }
}

/* Events the codec or a postprocessor could not turn into bytes are logged and counted, and
 * taken out of the batch: one bad record must not fail its neighbours at the sink. Their
 * source (if transactional) is told the batch failed, so it can replay it. */
static void drop_unencoded(conn_stage *c, tbr_msg *m) {
    tb_batch *b = &m->batch;
    uint32_t kept = 0;
    for (uint32_t i = 0; i < b->count; i++) {
        tb_event *e = &b->events[i];
        if (e->flags & TB_EF_DROPPED) continue;
        if ((e->flags & TB_EF_RAW) && e->data.type == TB_BYTES) {
            b->events[kept++] = *e;
            continue;
        }
        tbr_stage_log_failed(&c->base, e, "event not delivered: it could not be encoded");
        tbr_ticket_fail(m->ticket, TB_ERROR);
    }
    b->count = kept;
}

static void push_one(conn_stage *c, tbr_msg *m) {
    atomic_fetch_add_explicit(&c->base.m.events_in, m->batch.count, memory_order_relaxed);
    if (c->state != CONN_RUNNING) {
        fail_msg_back(c, m, TB_EIO);
        return;
    }
    if (tbr_chain_encode(&c->post, &m->batch) != TB_OK) atomic_fetch_add(&c->base.m.errors, 1);
    if (c->post.codec) drop_unencoded(c, m);
    if (!m->batch.count) {
        tbr_msg_free(m, TB_OK); /* the ticket is already marked if anything failed */
        return;
    }
    uint64_t bytes = 0;
    for (uint32_t i = 0; i < m->batch.count; i++)
        if (m->batch.events[i].data.type == TB_BYTES) bytes += m->batch.events[i].data.len;
    m->batch.token = tbr_engine_next_token();
    tbr_context_clear_error(c->inst->ctx);
    int rc = c->vt->push(c->inst->state, &m->batch);
    if (rc == TB_OK) {
        record_latency(c, &m->batch);
        atomic_fetch_add_explicit(&c->base.m.events_out, m->batch.count, memory_order_relaxed);
        atomic_fetch_add_explicit(&c->base.m.bytes_out, bytes, memory_order_relaxed);
        tbr_msg_free(m, TB_OK);
    } else if (rc == TB_EPENDING) {
        if (c->npending == c->pending_cap) {
            uint32_t ncap = c->pending_cap ? c->pending_cap * 2 : 16;
            pending *p = realloc(c->pending, ncap * sizeof *p);
            if (!p) {
                /* cannot wait for it: fail it back now, so a replay covers it */
                fail_msg_back(c, m, TB_ENOMEM);
                return;
            }
            c->pending = p;
            c->pending_cap = ncap;
        }
        c->pending[c->npending++] = (pending){m->batch.token, m};
    } else {
        fail_msg_back(c, m, rc);
        if (rc == TB_EIO || rc == TB_ECLOSED) connection_lost(c, "push", rc);
        else supervise(c, "push", rc);
    }
}

static bool drain_inbox(conn_stage *c) {
    tbr_msg *m = tbr_queue_take_all(&c->base.inbox);
    if (!m) return false;
    while (m) {
        tbr_msg *next = m->next;
        push_one(c, m);
        tbr_queue_consumed(&c->base.inbox, 1);
        m = next;
    }
    return true;
}

/* --- stage operations ---------------------------------------------------------------------- */

static bool conn_step(tbr_stage *n) {
    conn_stage *c = as_conn(n);
    if (c->state == CONN_CONNECTING || c->state == CONN_IDLE) try_connect(c);
    if (c->inst) {
        bool open = c->state != CONN_RUNNING || tbr_context_circuit_open(c->inst->ctx);
        if (atomic_exchange(&c->circuit_open, open) != open)
            for (uint32_t i = 0; i < c->nsources; i++) tbr_loop_wake(c->sources[i]->loop);
    }
    deliver_settled(c);
    if (c->npending) settle_pending(c);
    bool more = false;
    /* while it reconnects, a sink leaves its inbox alone: the queue fills and holds sources */
    if (c->state == CONN_RUNNING || c->state == CONN_FAILED) more = drain_inbox(c);
    if ((c->flags & TB_CONNECTOR_SOURCE) && c->state == CONN_RUNNING && !c->eof && !c->quiescing && c->pull_ready &&
        circuit_allows(c) && tbr_stage_downstream_has_room(n))
        more = pull_once(c) || more;
    return more;
}

static void conn_after_wait(tbr_stage *n, int ran) {
    conn_stage *c = as_conn(n);
    /* any callback of the instance (fd ready, timer) may have made data ready */
    if (ran > 0 || (c->inst && tbr_context_take_wake(c->inst->ctx))) c->pull_ready = true;
}

static void conn_enter_phase(tbr_stage *n, int phase) {
    conn_stage *c = as_conn(n);
    if (phase == TBR_PHASE_QUIESCE) {
        c->quiescing = true;
        /* what preprocessors still buffer (a last line without a newline) goes on now */
        if ((c->flags & TB_CONNECTOR_SOURCE) && !(c->flags & TB_CONNECTOR_STRUCTURED) && c->state == CONN_RUNNING) {
            tb_arena *a = tbr_arena_new(0);
            tb_batch b = {0};
            b.arena = a;
            if (a && tbr_chain_decode(&c->pre, &b, true) == TB_OK) route_source_batch(c, &b);
            else tbr_arena_free(a);
        }
    } else if (phase == TBR_PHASE_STOP) {
        if (c->state == CONN_RUNNING && c->post.nchains) {
            /* postprocessors that batch or frame across events give up what they hold */
            tbr_msg *m = tbr_msg_new(NULL, 0);
            if (m && tbr_chain_flush(&c->post, &m->batch) == TB_OK && m->batch.count) {
                m->batch.token = tbr_engine_next_token();
                int rc = c->vt->push(c->inst->state, &m->batch);
                if (rc == TB_EPENDING) rc = TB_OK; /* stop comes next: nothing can settle it */
                if (rc) tbr_log(TB_LOG_WARN, c->base.name, "flushing postprocessors at stop failed: %s", last_error(c, rc));
            }
            tbr_msg_free(m, TB_OK);
        }
        if (c->state == CONN_RUNNING && c->vt->drain) {
            /* bounded: a sink that cannot flush in a second is stopped anyway */
            uint64_t until = tbr_now_ns() + 1000000000ull;
            while (c->vt->drain(c->inst->state) == TB_EAGAIN && tbr_now_ns() < until) tbr_loop_run_once(n->loop, 10);
        }
        if (c->npending) {
            uint64_t until = tbr_now_ns() + 1000000000ull;
            while (c->npending && tbr_now_ns() < until) {
                tbr_loop_run_once(n->loop, 10);
                settle_pending(c);
            }
            for (uint32_t i = 0; i < c->npending; i++) fail_msg_back(c, c->pending[i].msg, TB_EIO);
            c->npending = 0;
        }
        if (c->state == CONN_RUNNING && c->vt->stop) c->vt->stop(c->inst->state);
        deliver_settled(c);
        set_state(c, CONN_STOPPED);
    }
}

static void conn_destroy(tbr_stage *n) {
    conn_stage *c = as_conn(n);
    /* the engine emptied every inbox first, so every ticket has settled by now */
    c->state = CONN_STOPPED;
    deliver_settled(c);
    tbr_chain_set_fini(&c->pre);
    tbr_chain_set_fini(&c->post);
    tbr_instance_destroy(c->inst);
    free(c->pending);
    free(c->sinks);
    free(c->sources);
    pthread_mutex_destroy(&c->settled_lock);
    tbr_arena_free(c->arena);
}

static const tbr_stage_ops conn_ops = {conn_step, conn_after_wait, conn_enter_phase, conn_destroy};

bool tbr_stage_is_connector(const tbr_stage *n) { return n->ops == &conn_ops; }
bool tbr_connector_stage_has_source(const tbr_stage *n) { return ((const conn_stage *)n)->flags & TB_CONNECTOR_SOURCE; }
bool tbr_connector_stage_has_sink(const tbr_stage *n) { return ((const conn_stage *)n)->flags & TB_CONNECTOR_SINK; }

void tbr_connector_stage_seal(tbr_stage *n) {
    conn_stage *c = as_conn(n);
    /* a half nothing is connected to stays idle: a stdio connector used only as a sink must
     * not read stdin */
    bool linked = false;
    for (uint32_t i = 0; i < n->nouts; i++) linked = linked || n->outs[i].nlinks;
    if (!linked) c->flags &= ~(uint32_t)TB_CONNECTOR_SOURCE;
}

static int append_stage(tbr_stage ***arr, uint32_t *n, tbr_stage *x) {
    for (uint32_t i = 0; i < *n; i++)
        if ((*arr)[i] == x) return TB_OK;
    tbr_stage **grown = realloc(*arr, (*n + 1) * sizeof *grown);
    if (!grown) return TB_ENOMEM;
    grown[(*n)++] = x;
    *arr = grown;
    return TB_OK;
}

int tbr_connector_stage_watch_circuit(tbr_stage *source, tbr_stage *sink) {
    conn_stage *so = as_conn(source), *si = as_conn(sink);
    if (append_stage(&so->sinks, &so->nsinks, sink)) return TB_ENOMEM;
    return append_stage(&si->sources, &si->nsources, source);
}

/* The codec of the sink half: none for a sink that takes values, unless one was named. */
static const tbr_component_ref *sink_codec(const conn_stage *c) {
    static const tbr_component_ref none = {NULL, {0}};
    return (c->flags & TB_CONNECTOR_SINK_VALUES) && !c->spec.codec_named ? &none : &c->spec.codec;
}

/* Copies a component reference's configuration into the stage's arena. */
static int own_ref(tb_arena *a, tbr_component_ref *r) { return tbr_value_clone(a, &r->config, &r->config); }

tbr_stage *tbr_connector_stage_new(struct tbr_engine *e, const char *name, const tbr_connector_spec *spec,
                                 char *err, size_t err_size) {
    conn_stage *c = calloc(1, sizeof *c);
    if (!c) goto oom;
    if (tbr_stage_init(&c->base, &conn_ops, e, name, tbr_engine_opts_of(e)->queue_capacity)) {
        free(c);
        goto oom;
    }
    pthread_mutex_init(&c->settled_lock, NULL);
    c->base.kind = "connector";
    c->spec = *spec;
    c->spec.pre = c->spec.post = NULL;
    c->spec.npre = c->spec.npost = 0;
    c->arena = tbr_arena_new(0);
    c->vt = &spec->connector.component->vt.connector;
    c->flags = c->vt->flags;
    c->source_id = atomic_fetch_add(&next_source_id, 1);
    atomic_init(&c->circuit_open, true);
    if (!c->arena) goto fail_oom;
    c->spec.pre = tb_arena_alloc(c->arena, (spec->npre + 1) * sizeof *spec->pre, 8);
    c->spec.post = tb_arena_alloc(c->arena, (spec->npost + 1) * sizeof *spec->post, 8);
    if (!c->spec.pre || !c->spec.post) goto fail_oom;
    if (spec->npre) memcpy(c->spec.pre, spec->pre, spec->npre * sizeof *spec->pre);
    if (spec->npost) memcpy(c->spec.post, spec->post, spec->npost * sizeof *spec->post);
    c->spec.npre = spec->npre;
    c->spec.npost = spec->npost;
    bool ok = !own_ref(c->arena, &c->spec.connector) && !own_ref(c->arena, &c->spec.codec);
    for (uint32_t i = 0; ok && i < c->spec.npre; i++) ok = !own_ref(c->arena, &c->spec.pre[i]);
    for (uint32_t i = 0; ok && i < c->spec.npost; i++) ok = !own_ref(c->arena, &c->spec.post[i]);
    if (!ok) goto fail_oom;

    static const char *const out_names[] = {"out", "err"};
    static const char *in_name = "in";
    c->base.outs = calloc(2, sizeof *c->base.outs);
    c->base.in_ports = malloc(sizeof *c->base.in_ports);
    if (!c->base.outs || !c->base.in_ports) goto fail_oom;
    if (c->flags & TB_CONNECTOR_SOURCE) {
        c->base.outs[0].name = out_names[0];
        c->base.outs[1].name = out_names[1];
        c->base.nouts = 2;
    }
    c->base.in_ports[0] = in_name;
    c->base.nin = (c->flags & TB_CONNECTOR_SINK) ? 1 : 0;

    if (create_instance(c, err, err_size) != TB_OK) goto fail;
    tbr_registry *reg = tbr_engine_registry(e);
    if (tbr_chain_set_init(&c->pre, reg, c->base.name, c->base.loop, c->spec.pre, c->spec.npre, &c->spec.codec, TBR_CHAIN_DECODE,
                           err, err_size) ||
        tbr_chain_set_init(&c->post, reg, c->base.name, c->base.loop, c->spec.post, c->spec.npost, sink_codec(c), TBR_CHAIN_ENCODE,
                           err, err_size))
        goto fail;
    return &c->base;
fail_oom:
    snprintf(err, err_size, "%s: out of memory", name);
fail:
    conn_destroy(&c->base);
    tbr_stage_fini(&c->base);
    free(c);
    return NULL;
oom:
    snprintf(err, err_size, "%s: out of memory", name);
    return NULL;
}
