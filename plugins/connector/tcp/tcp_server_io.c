/*
 * tcp_server_io.c - the `tcp_server` connector's two halves.
 *
 * Source (pull). Connections with something to read wait on the ready list; pull serves them
 * round-robin, one chunk of at most buf_size bytes each in turn (read into the instance's
 * buffer, and only the bytes read copied into the batch's arena), until the batch holds
 * out->capacity events or about TB_BATCH_BYTES bytes, so no connection starves the others and
 * one batch stays bounded whatever a peer sends. Each event is raw bytes on its connection's
 * stream, its id the byte offset in that stream, with meta
 * {"tcp_server": {"peer": {"host", "port"}, "tls"}}. When a peer closes its side (or its
 * connection fails) the stream ends with an empty TB_EF_STREAM_END event, so the runtime
 * flushes that stream's preprocessors (a last line without a newline); other streams go on.
 *
 * Sink (push). Every event goes to the connection its stream names, consecutive events of one
 * connection in one write. What a socket does not take at once is buffered (tcp_link.c) and
 * the batch answered TB_EPENDING, reported through host->delivered once written. An event for
 * a stream with no open connection (it closed, or the event came from another source) is not
 * delivered: it is counted, logged (the first ten, then every thousandth) and its batch is
 * reported failed, never by an error status, which would make the runtime restart the whole
 * server.
 *
 * Ownership: event bytes and values live in the batch's arena. Thread contract: the
 * instance's thread.
 */
#define _GNU_SOURCE
#include "tcp_server.h"

#include <stdio.h>

#define MAX_IOV 64 /* iovecs per write: well under every system's IOV_MAX */

static int push_event(tcp_server *s, tb_batch *out, tcp_conn *c, const uint8_t *p, size_t n, uint64_t now) {
    const tcp_node *nd = &c->node;
    size_t hlen = strlen(nd->host);
    tb_event *e = tb_batch_push(out);
    const char *h = tb_arena_dup(out->arena, nd->host, hlen);
    if (!e || !h || !tbp_tcp_peer_meta(out->arena, &e->meta, "tcp_server", h, hlen, nd->port, c->link.ssl != NULL))
        return tb_fail(s->host, s->ctx, TB_ENOMEM, "out of memory reading from %s:%u", nd->host, (unsigned)nd->port);
    e->data = tb_bytes(p, n);
    e->id = nd->next_id;
    e->ingest_ns = now;
    e->stream = nd->stream;
    e->flags = TB_EF_RAW;
    return TB_OK;
}

int TB_CALL tbp_tcp_server_pull(void *instance, tb_batch *out) {
    tcp_server *s = instance;
    int rc;
    if (s->listener.fd < 0 && !s->stopped && (rc = tbp_tcp_server_listen(s)) != TB_OK) return rc;
    /* stop at the batch's capacity, but always leave room for one event */
    uint32_t limit = out->capacity > out->count ? out->capacity : out->count + 1;
    uint64_t now = tbp_tcp_realtime_ns();
    size_t taken = 0;
    /* streams whose connection went away since the last pull */
    if ((rc = tbp_tcp_conns_emit_ends(&s->conns, out, limit, now)) != TB_OK) return rc;
    while (s->conns.ready_head && out->count < limit && taken < TB_BATCH_BYTES) {
        tcp_conn *c = s->conns.ready_head->conn;
        const uint8_t *p;
        size_t n;
        rc = tbp_tcp_read_chunk(&c->link, out->arena, s->scratch, s->buf_size, &p, &n);
        if (rc == TB_OK) {
            if ((rc = push_event(s, out, c, p, n, now)) != TB_OK) return rc;
            c->node.has_data = true;
            c->node.next_id += n;
            taken += n;
            tbp_tcp_conns_rotate(&s->conns); /* the next connection's turn */
        } else if (rc == TB_EAGAIN) {
            tbp_tcp_conns_ready(&s->conns, &c->node, false); /* its watch is armed again */
        } else if (rc == TB_EOF) {
            /* the stream ends here, in this batch */
            if ((rc = tbp_tcp_conns_end_here(&s->conns, out, &c->node, now)) != TB_OK) return rc;
            tbp_tcp_server_linger(s, c);
        } else if (rc == TB_EIO) {
            if ((rc = tbp_tcp_conns_end_here(&s->conns, out, &c->node, now)) != TB_OK) return rc;
            tbp_tcp_server_drop(s, c, c->link.err);
        } else {
            return tb_fail(s->host, s->ctx, rc, "out of memory reading from %s:%u", c->node.host,
                           (unsigned)c->node.port);
        }
    }
    return out->count ? TB_OK : TB_EAGAIN;
}

/* An event the sink cannot deliver: counted and logged, its batch reported failed. */
static void undeliverable(tcp_server *s, uint32_t stream, const char *why) {
    s->undeliverable++;
    tbp_tcp_count(s->host, s->ctx, s->m_undeliverable, 1);
    if (tbp_tcp_worth_logging(s->undeliverable))
        tb_log(s->host, s->ctx, TB_LOG_WARN, "event for stream %u not delivered: %s (%llu so far)", stream,
               why, (unsigned long long)s->undeliverable);
}

/* Writes a run of events of one connection; false (and the connection dropped) when it broke. */
static bool send_run(tcp_server *s, tcp_conn *c, const struct iovec *iov, int cnt, uint32_t slot, uint32_t *failed) {
    if (!cnt) return true;
    if (tbp_tcp_link_send(&c->link, iov, cnt) == TB_OK) {
        if (tbp_tcp_link_mark(&c->link, slot)) return true;
        /* its bytes go out, but nothing would say when: the batch counts as failed */
        undeliverable(s, c->node.stream, "out of memory tracking its delivery");
        (*failed)++;
        return true;
    }
    for (int i = 0; i < cnt; i++) undeliverable(s, c->node.stream, c->link.err);
    *failed += (uint32_t)cnt;
    tbp_tcp_server_drop(s, c, c->link.err);
    return false;
}

int TB_CALL tbp_tcp_server_push(void *instance, tb_batch *in) {
    tcp_server *s = instance;
    struct iovec iov[MAX_IOV];
    tcp_conn *cur = NULL;
    uint32_t failed = 0, cur_stream = 0;
    bool have_cur = false;
    int cnt = 0;
    uint32_t slot = tbp_tcp_track_open(&s->track, in->token);
    if (slot == UINT32_MAX) return tb_fail(s->host, s->ctx, TB_ENOMEM, "out of memory tracking a batch");
    for (uint32_t i = 0; i < in->count; i++) {
        const tb_event *e = &in->events[i];
        if (e->flags & TB_EF_DROPPED) continue;
        if (!(e->flags & TB_EF_RAW) || e->data.type != TB_BYTES) {
            undeliverable(s, e->stream, "it is not raw bytes (the tcp_server sink needs a codec)");
            failed++;
            continue;
        }
        if (!e->data.len) continue;
        if (!have_cur || e->stream != cur_stream) {
            if (cur && !send_run(s, cur, iov, cnt, slot, &failed)) cur = NULL;
            cnt = 0;
            cur = tbp_tcp_conns_find(&s->conns, e->stream);
            cur_stream = e->stream;
            have_cur = true;
        }
        if (!cur) {
            undeliverable(s, e->stream,
                          "no open connection has that stream (it closed, or the event did not come from this tcp_server)");
            tbp_tcp_conns_stream_gone(&s->conns, e->stream);
            failed++;
            continue;
        }
        iov[cnt].iov_base = (void *)e->data.as.bytes;
        iov[cnt].iov_len = e->data.len;
        if (++cnt == MAX_IOV) {
            if (!send_run(s, cur, iov, cnt, slot, &failed)) cur = NULL;
            cnt = 0;
        }
    }
    if (cur) send_run(s, cur, iov, cnt, slot, &failed);
    return tbp_tcp_track_finish_push(&s->track, slot, failed ? TB_ECLOSED : TB_OK);
}
