/* connector_sink.c - a connector's sink half: encode and postprocess, push, and settle what
 * was delivered, failed or is pending. */
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

/* A batch failed at this sink: counted in errors, and handed back to its sources, which
 * replay it when they are transactional. Events nobody will replay are logged as lost (the
 * first ten batches, then every thousandth), so a loss is never silent. */
static void failed(conn_stage *c, tbr_msg *m, int status) {
    atomic_fetch_add(&c->base.m.errors, m->batch.count);
    if (!m->ticket && m->batch.count) {
        c->lost_batches++;
        if (c->lost_batches <= 10 || c->lost_batches % 1000 == 0)
            tbr_log(TB_LOG_WARN, c->base.name, "%u events not delivered (%s) and lost: their source does not replay (%llu batch%s so far)",
                    m->batch.count, tbr_status_name(status), (unsigned long long)c->lost_batches,
                    c->lost_batches == 1 ? "" : "es");
    }
    tbr_msg_free(m, status);
}

void tbr_conn_fail_msg_back(conn_stage *c, tbr_msg *m, int status) { failed(c, m, status); }

void tbr_conn_end_sink_streams(conn_stage *c) {
    uint32_t done[64];
    size_t n;
    while ((n = tbr_context_take_streams_done(c->inst->ctx, done, 64)))
        for (size_t i = 0; i < n; i++) tbr_chain_end_stream(&c->post, done[i]);
}

void tbr_conn_settle_pending(conn_stage *c) {
    tbr_delivery d[64];
    size_t n;
    while (c->npending && (n = tbr_context_take_deliveries(c->inst->ctx, d, 64))) {
        for (size_t i = 0; i < n; i++)
            for (uint32_t k = 0; k < c->npending; k++) {
                if (c->pending[k].token != d[i].token) continue;
                tbr_msg *m = c->pending[k].msg;
                c->pending[k] = c->pending[--c->npending];
                if (d[i].status == TB_OK) {
                    atomic_fetch_add(&c->base.m.events_out, m->batch.count);
                    tbr_msg_free(m, TB_OK);
                } else {
                    failed(c, m, d[i].status);
                }
                break;
            }
    }
}

static void record_latency(conn_stage *c, const tb_batch *b) {
    uint64_t now = tbr_realtime_ns(), sum = 0, max = 0, n = 0;
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

/* Sends m's batch to its codec's plugin host, when the codec runs in one and the sink can take
 * it, so it is encoded while the one before is pushed; whether it was sent. */
static bool encode_ahead(conn_stage *c, tbr_msg *m) {
    bool submitted = false;
    if (c->state == CONN_RUNNING && tbr_chain_encode_submit(&c->post, &m->batch, &submitted) != TB_OK)
        atomic_fetch_add(&c->base.m.errors, 1);
    return submitted;
}

/* Encodes (or takes the encoding sent ahead of) m, and pushes it. */
static void push_one(conn_stage *c, tbr_msg *m, bool submitted) {
    atomic_fetch_add_explicit(&c->base.m.events_in, m->batch.count, memory_order_relaxed);
    if (c->state != CONN_RUNNING) {
        if (submitted) tbr_chain_encode_complete(&c->post, &m->batch, true); /* the host's answer, taken */
        tbr_conn_fail_msg_back(c, m, TB_EIO);
        return;
    }
    if (tbr_chain_encode_complete(&c->post, &m->batch, submitted) != TB_OK) atomic_fetch_add(&c->base.m.errors, 1);
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
                tbr_conn_fail_msg_back(c, m, TB_ENOMEM);
                return;
            }
            c->pending = p;
            c->pending_cap = ncap;
        }
        c->pending[c->npending++] = (pending){m->batch.token, m};
    } else {
        tbr_conn_fail_msg_back(c, m, rc);
        if (rc == TB_EIO || rc == TB_ECLOSED) tbr_conn_connection_lost(c, "push", rc);
        else tbr_conn_supervise(c, "push", rc);
    }
}

bool tbr_conn_drain_inbox(conn_stage *c) {
    tbr_msg *m = tbr_queue_take_all(&c->base.inbox);
    if (!m) return false;
    bool submitted = encode_ahead(c, m);
    while (m) {
        tbr_msg *next = m->next;
        /* the next batch goes to the codec's host before this one is pushed, behind it (never
         * ahead of one that is encoded here) */
        bool next_submitted = submitted && next && encode_ahead(c, next);
        push_one(c, m, submitted);
        tbr_queue_consumed(&c->base.inbox, 1);
        m = next;
        submitted = next_submitted || (next && encode_ahead(c, next));
    }
    return true;
}

void tbr_conn_push_extra(conn_stage *c, tbr_msg *m, const char *what) {
    if (!m || !m->batch.count || c->state != CONN_RUNNING || !c->inst) return;
    m->batch.token = tbr_engine_next_token();
    tbr_context_clear_error(c->inst->ctx);
    int rc = c->vt->push(c->inst->state, &m->batch);
    if (rc == TB_EPENDING) rc = TB_OK; /* nothing waits for this one's report */
    if (rc) tbr_log(TB_LOG_WARN, c->base.name, "%s failed: %s", what, tbr_conn_last_error(c, rc));
}
