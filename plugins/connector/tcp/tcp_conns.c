/*
 * tcp_conns.c - a server's connections (tcp_server's and ws_server's): the table sorted by seq
 * for lookup by stream, the ready list pull serves round-robin, the stream ends queued for the
 * next pull, and admission under max_connections.
 *
 * A connection's stream is the set's base plus its seq, and seq only grows, so appending keeps
 * the table sorted and a lookup is a binary search. The base starts somewhere arbitrary, which
 * keeps these opaque ids apart from the small ids other sources use, should their events be
 * routed to this sink by mistake.
 *
 * Ownership and threads: see tcp.h.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <unistd.h>

#include "tcp.h"

void tbp_tcp_conns_init(tcp_conns *set, const tb_host_api *host, tb_context *ctx, uint32_t max,
                        const void *salt) {
    memset(set, 0, sizeof *set);
    set->host = host;
    set->ctx = ctx;
    set->max = max;
    uint64_t t = host->now_ns() ^ (uint64_t)(uintptr_t)salt;
    set->stream_base = (uint32_t)(t ^ (t >> 32)) * 2654435761u;
    tbp_tcp_metric(host, ctx, "connections_accepted", TB_METRIC_COUNTER, &set->m_accepted);
    tbp_tcp_metric(host, ctx, "connections_refused", TB_METRIC_COUNTER, &set->m_refused);
    tbp_tcp_metric(host, ctx, "connections_open", TB_METRIC_GAUGE, &set->m_open);
    set->streams = host->get_extension(ctx, TB_EXT_STREAMS);
}

void tbp_tcp_sink_stream_done(const tb_host_api *host, tb_context *ctx, uint32_t stream) {
    const tb_ext_streams *x = host->get_extension(ctx, TB_EXT_STREAMS);
    if (x) x->sink_stream_done(ctx, stream);
}

void tbp_tcp_conns_stream_gone(tcp_conns *set, uint32_t stream) {
    if (set->streams && !set->stopping) set->streams->sink_stream_done(set->ctx, stream);
}

void tbp_tcp_conns_fini(tcp_conns *set) {
    set->host->free(set->ctx, set->table);
    set->host->free(set->ctx, set->ends);
    set->table = NULL;
    set->ends = NULL;
    set->n = set->cap = set->nends = set->ends_cap = 0;
}

bool tbp_tcp_conns_admit(tcp_conns *set, int fd, const char *host, uint16_t port) {
    if (set->n < set->max) return true;
    close(fd);
    set->refused++;
    tbp_tcp_count(set->host, set->ctx, set->m_refused, 1);
    if (tbp_tcp_worth_logging(set->refused))
        tb_log(set->host, set->ctx, TB_LOG_WARN,
               "refused a connection from %s:%u: max_connections (%u) are open (%llu refused so far)", host,
               (unsigned)port, set->max, (unsigned long long)set->refused);
    return false;
}

/* ---- the table ------------------------------------------------------------------------------ */

/* Where seq is, or would be, in the table. */
static uint32_t table_index(const tcp_conns *set, uint32_t seq) {
    uint32_t lo = 0, hi = set->n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (set->table[mid]->seq < seq) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

bool tbp_tcp_conns_reserve(tcp_conns *set) {
    if (set->n < set->cap) return true;
    uint32_t ncap = set->cap ? set->cap * 2 : 16;
    tcp_node **n = set->host->realloc(set->ctx, set->table, (size_t)ncap * sizeof *n);
    if (!n) return false;
    set->table = n;
    set->cap = ncap;
    return true;
}

void tbp_tcp_conns_number(tcp_conns *set, tcp_node *node, void *conn, const char *host, uint16_t port) {
    node->conn = conn;
    node->seq = set->next_seq++;
    node->stream = set->stream_base + node->seq;
    snprintf(node->host, sizeof node->host, "%s", host);
    node->port = port;
}

bool tbp_tcp_conns_adopt(tcp_conns *set, tcp_node *node, void *conn, uint32_t seq, const char *host, uint16_t port) {
    if ((set->n && set->table[set->n - 1]->seq >= seq) || seq >= set->next_seq || !tbp_tcp_conns_reserve(set)) return false;
    node->conn = conn;
    node->seq = seq;
    node->stream = set->stream_base + seq;
    snprintf(node->host, sizeof node->host, "%s", host);
    node->port = port;
    set->table[set->n++] = node; /* the largest seq yet: the table stays sorted */
    tbp_tcp_count(set->host, set->ctx, set->m_open, 1);
    return true;
}

void tbp_tcp_conns_insert(tcp_conns *set, tcp_node *node) {
    set->table[set->n++] = node; /* seq only grows: the table stays sorted */
    tbp_tcp_count(set->host, set->ctx, set->m_accepted, 1);
    tbp_tcp_count(set->host, set->ctx, set->m_open, 1);
}

void *tbp_tcp_conns_find(tcp_conns *set, uint32_t stream) {
    /* unsigned arithmetic: the counter, whatever the base and however the ids wrap */
    uint32_t i = table_index(set, stream - set->stream_base);
    return i < set->n && set->table[i]->stream == stream ? set->table[i]->conn : NULL;
}

static void table_remove(tcp_conns *set, tcp_node *node) {
    uint32_t i = table_index(set, node->seq);
    if (i < set->n && set->table[i] == node) {
        memmove(&set->table[i], &set->table[i + 1], (set->n - i - 1) * sizeof *set->table);
        set->n--;
    }
}

void tbp_tcp_conns_detach(tcp_conns *set, tcp_node *node) {
    tbp_tcp_conns_ready(set, node, false);
    table_remove(set, node);
    tbp_tcp_count(set->host, set->ctx, set->m_open, -1);
}

/* ---- the ready list ------------------------------------------------------------------------- */

void tbp_tcp_conns_ready(tcp_conns *set, tcp_node *node, bool ready) {
    if (ready == node->ready) return;
    node->ready = ready;
    if (ready) {
        node->prev = set->ready_tail;
        node->next = NULL;
        if (set->ready_tail) set->ready_tail->next = node;
        else set->ready_head = node;
        set->ready_tail = node;
        return;
    }
    if (node->prev) node->prev->next = node->next;
    else set->ready_head = node->next;
    if (node->next) node->next->prev = node->prev;
    else set->ready_tail = node->prev;
    node->prev = node->next = NULL;
}

void tbp_tcp_conns_rotate(tcp_conns *set) {
    tcp_node *node = set->ready_head;
    if (!node || node == set->ready_tail) return;
    tbp_tcp_conns_ready(set, node, false);
    tbp_tcp_conns_ready(set, node, true);
}

/* ---- the end of a connection and of its stream ---------------------------------------------- */

static void queue_end(tcp_conns *set, tcp_node *node) {
    if (!node->has_data || node->ended) return;
    node->ended = true;
    if (set->nends == set->ends_cap) {
        uint32_t ncap = set->ends_cap ? set->ends_cap * 2 : 16;
        tcp_end *n = set->host->realloc(set->ctx, set->ends, (size_t)ncap * sizeof *n);
        if (!n) {
            /* the stream's preprocessors flush at the next end of the source instead */
            tb_log(set->host, set->ctx, TB_LOG_ERROR, "out of memory ending stream %u", node->stream);
            return;
        }
        set->ends = n;
        set->ends_cap = ncap;
    }
    set->ends[set->nends++] = (tcp_end){node->stream, node->next_id};
}

void tbp_tcp_conns_remove(tcp_conns *set, tcp_node *node, const char *why) {
    if (why)
        tb_log(set->host, set->ctx, TB_LOG_INFO, "connection from %s:%u (stream %u) closed: %s", node->host,
               (unsigned)node->port, node->stream, why);
    else
        tb_log(set->host, set->ctx, TB_LOG_DEBUG, "connection from %s:%u (stream %u) closed", node->host,
               (unsigned)node->port, node->stream);
    queue_end(set, node);
    tbp_tcp_conns_ready(set, node, false);
    table_remove(set, node);
    tbp_tcp_conns_stream_gone(set, node->stream);
    tbp_tcp_count(set->host, set->ctx, set->m_open, -1);
}

static int push_end(tcp_conns *set, tb_batch *out, uint32_t stream, uint64_t id, uint64_t now) {
    tb_event *e = tb_batch_push(out);
    if (!e) return tb_fail(set->host, set->ctx, TB_ENOMEM, "out of memory ending stream %u", stream);
    e->data = tb_bytes(NULL, 0);
    e->id = id;
    e->ingest_ns = now;
    e->stream = stream;
    e->flags = TB_EF_RAW | TB_EF_STREAM_END;
    return TB_OK;
}

int tbp_tcp_conns_emit_ends(tcp_conns *set, tb_batch *out, uint32_t limit, uint64_t now) {
    uint32_t ends = 0;
    int rc;
    while (ends < set->nends && out->count < limit) {
        if ((rc = push_end(set, out, set->ends[ends].stream, set->ends[ends].id, now)) != TB_OK) return rc;
        ends++;
    }
    if (ends) {
        memmove(set->ends, set->ends + ends, (set->nends - ends) * sizeof *set->ends);
        set->nends -= ends;
    }
    return TB_OK;
}

int tbp_tcp_conns_end_here(tcp_conns *set, tb_batch *out, tcp_node *node, uint64_t now) {
    if (!node->has_data || node->ended) return TB_OK;
    node->ended = true;
    return push_end(set, out, node->stream, node->next_id, now);
}
