/* connector_source.c - a connector's source half: pull, stamp, preprocess and decode, route to
 * out and err, and tell a transactional source what became of its batches. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "engine/connector_private.h"
#include "engine/engine.h"
#include "host/context.h"
#include "value/arena.h"

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
void tbr_conn_deliver_settled(conn_stage *c) {
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
        if (c->outstanding) c->outstanding--;
        tbr_ticket_free(t);
        t = next;
    }
}

bool tbr_conn_circuit_allows(conn_stage *c) {
    /* when every sink it feeds has been given up, nothing it pulls can be delivered */
    bool all_failed = c->nsinks > 0;
    for (uint32_t i = 0; i < c->nsinks && all_failed; i++) all_failed = atomic_load(&as_conn(c->sinks[i])->failed);
    if (all_failed) {
        tbr_log(TB_LOG_ERROR, c->base.name, "stopping: every sink it feeds has failed");
        tbr_conn_source_ended(c);
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
/* Grows the stage's routing scratch to hold count events; false when out of memory. */
static bool scratch_for(conn_stage *c, uint32_t count) {
    if (count <= c->scratch_cap) return true;
    const tb_event **ptrs = realloc(c->scratch_ptrs, count * sizeof *ptrs);
    if (ptrs) c->scratch_ptrs = ptrs;
    uint64_t *ids = realloc(c->scratch_ids, count * sizeof *ids);
    if (ids) c->scratch_ids = ids;
    if (!ptrs || !ids) return false;
    c->scratch_cap = count;
    return true;
}

void tbr_conn_route_source_batch(conn_stage *c, tb_batch *b) {
    tbr_ticket *ticket = NULL;
    if (!scratch_for(c, b->count)) {
        tbr_log(TB_LOG_ERROR, c->base.name, "out of memory: %u events lost", b->count);
        atomic_fetch_add(&c->base.m.errors, b->count);
        tbr_arena_free(b->arena);
        return;
    }
    const tb_event **ptrs = c->scratch_ptrs;
    uint64_t *ids = c->scratch_ids;
    uint32_t nout = 0, nerr = b->count, nids = 0, dropped = 0;
    /* every event of a transactional connector is tracked, and any event another source
     * flags TB_EF_TRANSACTIONAL itself (a per-instance choice, like bench's is_transactional) */
    bool transactional = c->vt->ack || c->vt->fail;
    for (uint32_t i = 0; i < b->count; i++) {
        const tb_event *e = &b->events[i];
        if (transactional && (e->flags & TB_EF_TRANSACTIONAL)) ids[nids++] = e->id;
        if (e->flags & TB_EF_DROPPED) {
            dropped++;
        } else if (e->flags & TB_EF_ERROR) {
            /* on the err port it is a record ({"error", "data"}) like any other */
            b->events[i].flags &= (uint16_t)~TB_EF_ERROR;
            ptrs[--nerr] = e;
        } else {
            ptrs[nout++] = e;
        }
    }
    /* the failed events were filled in from the end: back to arrival order */
    for (uint32_t lo = nerr, hi = b->count; hi > lo + 1; lo++, hi--) {
        const tb_event *t = ptrs[lo];
        ptrs[lo] = ptrs[hi - 1];
        ptrs[hi - 1] = t;
    }
    if (dropped) atomic_fetch_add_explicit(&c->base.m.dropped, dropped, memory_order_relaxed);
    if (nids) ticket = tbr_ticket_new(settle, c, ids, nids);
    if (ticket) c->outstanding++;
    if (nids && !ticket) tbr_log(TB_LOG_ERROR, c->base.name, "out of memory tracking a batch: it will not be acknowledged");
    tbr_route routes[2] = {{tbr_stage_out(&c->base, "out"), ptrs, nout, NULL},
                           {tbr_stage_out(&c->base, "err"), ptrs ? ptrs + nerr : NULL, b->count - nerr, NULL}};
    tbr_stage_route(&c->base, b->arena, ticket, routes, 2);
    tbr_ticket_release(ticket, TB_OK);
}

void tbr_conn_flush_source_streams(conn_stage *c) {
    if (!(c->flags & TB_CONNECTOR_SOURCE) || (c->flags & TB_CONNECTOR_STRUCTURED)) return;
    tbr_conn_finish_decoding(c);
    tb_arena *a = tbr_arena_new_batch(0);
    tb_batch b = {0};
    b.arena = a;
    if (a && tbr_chain_decode(&c->pre, &b, true) == TB_OK) tbr_conn_route_source_batch(c, &b);
    else tbr_arena_free(a);
}

void tbr_conn_finish_decoding(conn_stage *c) {
    if (!c->has_decoding) return;
    c->has_decoding = false;
    if (tbr_chain_decode_complete(&c->pre, &c->decoding, true) != TB_OK) atomic_fetch_add(&c->base.m.errors, 1);
    tbr_conn_route_source_batch(c, &c->decoding);
}

/* Pulls one batch and sends it on; returns whether another pull may yield at once. With a codec
 * in a plugin host, the batch is sent to it and sent on at the next pull, after the next
 * batch went to the host: the host decodes one while the runtime pulls, and takes in, the
 * other. */
bool tbr_conn_pull_once(conn_stage *c) {
    const tbr_engine_opts *o = tbr_engine_opts_of(c->base.engine);
    tb_arena *a = tbr_arena_new_batch(64 * 1024);
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
        tbr_conn_finish_decoding(c);
        if (rc == TB_EIO || rc == TB_ECLOSED) tbr_conn_connection_lost(c, "pull", rc);
        else tbr_conn_supervise(c, "pull", rc);
        return false;
    }
    if (rc == TB_EAGAIN) c->pull_ready = false;
    uint64_t now = 0;
    for (uint32_t i = 0; i < b.count; i++) {
        tb_event *e = &b.events[i];
        e->source = c->source_id;
        if (!e->ingest_ns) {
            if (!now) now = tbr_realtime_ns();
            e->ingest_ns = now;
        }
        if (c->flags & TB_CONNECTOR_TRANSACTIONAL) e->flags |= TB_EF_TRANSACTIONAL;
        if ((e->flags & TB_EF_RAW) && e->data.type == TB_BYTES) atomic_fetch_add_explicit(&c->base.m.bytes_in, e->data.len, memory_order_relaxed);
    }
    atomic_fetch_add_explicit(&c->base.m.events_in, b.count, memory_order_relaxed);
    if (b.count || rc == TB_EOF) {
        bool submitted = false;
        if (!(c->flags & TB_CONNECTOR_STRUCTURED) && tbr_chain_decode_submit(&c->pre, &b, rc == TB_EOF, &submitted) != TB_OK)
            atomic_fetch_add(&c->base.m.errors, 1);
        tbr_conn_finish_decoding(c); /* the one before, in order */
        if (submitted) {
            c->decoding = b;
            c->has_decoding = true;
        } else {
            if (!(c->flags & TB_CONNECTOR_STRUCTURED) && tbr_chain_decode_complete(&c->pre, &b, false) != TB_OK)
                atomic_fetch_add(&c->base.m.errors, 1);
            tbr_conn_route_source_batch(c, &b);
        }
    } else {
        tbr_arena_free(a);
    }
    /* only while pulls follow at once may a batch wait in its host */
    if (rc != TB_OK) tbr_conn_finish_decoding(c);
    if (rc == TB_EOF) {
        tbr_log(TB_LOG_INFO, c->base.name, "source ended");
        tbr_conn_source_ended(c);
        return false;
    }
    return rc == TB_OK;
}
