/*
 * ws_server_io.c - the `ws_server` connector's two halves.
 *
 * Source (pull). Connections with frames to read wait on the ready list; pull serves them
 * round-robin, a turn of at most TURN_BYTES read from each, until the batch holds
 * out->capacity events or about TB_BATCH_BYTES bytes. Every whole message (text or binary) is
 * one raw event on its connection's stream, its bytes copied into the batch's arena, its id
 * the message's number on the stream, with meta
 * {"ws_server": {"peer": {"host", "port"}, "tls", "stream", "binary", "path"}}. When a
 * connection ends (a close handshake, the peer leaving, a protocol error) its stream ends with
 * an empty TB_EF_STREAM_END event; other streams go on.
 *
 * Sink (push). Every event is one message to the connection named by $ws_server.stream (when
 * the event carries it) or else by its stream; binary when $ws_server.binary or $ws.binary
 * says so, else as the "binary" option says (text by default). What a socket does not take at
 * once waits in the link, and the batch is answered TB_EPENDING and reported through
 * host->delivered once written. An event for a stream with no open connection is not
 * delivered: counted, logged (the first ten, then every thousandth) and its batch reported
 * failed, never by an error status (which would restart the whole server).
 *
 * Ownership: event bytes and values live in the batch's arena. Thread contract: the
 * instance's thread.
 */
#define _GNU_SOURCE
#include "ws_server.h"

#include <stdio.h>

#define TURN_BYTES (64u * 1024u)

int tbp_ws_server_on_msg(void *owner, ws_conn *wc, const uint8_t *p, size_t n, bool binary) {
    ws_sconn *c = owner;
    ws_server *s = c->srv;
    tb_batch *out = s->out;
    (void)wc;
    tcp_node *nd = &c->node;
    size_t hlen = strlen(nd->host), plen = strlen(c->path);
    tb_event *e = tb_batch_push(out);
    const char *h = tb_arena_dup(out->arena, nd->host, hlen);
    const char *path = tb_arena_dup(out->arena, c->path, plen);
    const uint8_t *data = (const uint8_t *)tb_arena_dup(out->arena, p, n);
    tb_value *inner, *slot;
    if (!e || !h || !path || !data ||
        !tbp_tcp_peer_meta(out->arena, &e->meta, "ws_server", h, hlen, nd->port, c->ws.link.ssl != NULL) ||
        !(inner = tb_object_getz(&e->meta, "ws_server")))
        goto fail;
    if (!(slot = tb_object_append(out->arena, inner, "stream", 6))) goto fail;
    *slot = tb_u64(nd->stream);
    if (!(slot = tb_object_append(out->arena, inner, "binary", 6))) goto fail;
    *slot = tb_bool(binary);
    if (!(slot = tb_object_append(out->arena, inner, "path", 4))) goto fail;
    *slot = tb_string(path, plen);
    e->data = tb_bytes(data, n);
    e->id = nd->next_id++;
    e->ingest_ns = s->now;
    e->stream = nd->stream;
    e->flags = TB_EF_RAW;
    nd->has_data = true;
    s->taken += n;
    tbp_tcp_count(s->host, s->ctx, s->m_in, 1);
    /* the batch is full: what wslay already holds still comes, nothing more is read */
    if (out->count >= s->limit || s->taken >= TB_BATCH_BYTES) c->ws.turn = 0;
    return TB_OK;
fail:
    return tb_fail(s->host, s->ctx, TB_ENOMEM, "out of memory reading a message of %zu bytes from %s:%u", n, nd->host,
                   (unsigned)nd->port);
}

int TB_CALL tbp_ws_server_pull(void *instance, tb_batch *out) {
    ws_server *s = instance;
    int rc;
    if (s->listener.fd < 0 && !s->stopped && (rc = tbp_ws_server_listen(s)) != TB_OK) return rc;
    s->limit = out->capacity > out->count ? out->capacity : out->count + 1;
    s->now = tbp_tcp_realtime_ns();
    s->taken = 0;
    s->out = out;
    /* streams whose connection went away since the last pull */
    if ((rc = tbp_tcp_conns_emit_ends(&s->conns, out, s->limit, s->now)) != TB_OK) goto done;
    while (s->conns.ready_head && out->count < s->limit && s->taken < TB_BATCH_BYTES) {
        ws_sconn *c = s->conns.ready_head->conn;
        size_t turn = TB_BATCH_BYTES - s->taken;
        int r = tbp_ws_conn_read(&c->ws, turn < TURN_BYTES ? turn : TURN_BYTES);
        if (r == TB_ENOMEM || r == TB_ERROR) {
            rc = r;
            goto done;
        }
        if (r == TB_EOF || r == TB_EIO) {
            /* the peer left (without a close frame, or before our close reply went), or the
             * link broke */
            bool closed = tbp_ws_conn_code_received(&c->ws) != 0;
            if ((rc = tbp_tcp_conns_end_here(&s->conns, out, &c->node, s->now)) != TB_OK) goto done;
            tbp_ws_server_drop(s, c, r == TB_EOF || closed ? NULL : c->ws.link.err);
        } else if (tbp_ws_conn_done(&c->ws)) {
            if ((rc = tbp_tcp_conns_end_here(&s->conns, out, &c->node, s->now)) != TB_OK) goto done;
            tbp_ws_server_finish(s, c);
        } else if (r == TB_OK) {
            tbp_tcp_conns_rotate(&s->conns);
        } else {
            tbp_tcp_conns_ready(&s->conns, &c->node, false); /* TB_EAGAIN: its watch is armed */
        }
    }
done:
    s->out = NULL;
    if (rc != TB_OK) return rc;
    return out->count ? TB_OK : TB_EAGAIN;
}

/* An event the sink cannot deliver: counted and logged, its batch reported failed. */
static void undeliverable(ws_server *s, uint32_t stream, const char *why) {
    s->undeliverable++;
    tbp_tcp_count(s->host, s->ctx, s->m_undeliverable, 1);
    if (tbp_tcp_worth_logging(s->undeliverable))
        tb_log(s->host, s->ctx, TB_LOG_WARN, "event for stream %u not delivered: %s (%llu so far)", stream, why,
               (unsigned long long)s->undeliverable);
}

/* The connection an event goes to: $ws_server.stream when the event carries it, else its
 * stream. */
static ws_sconn *target(ws_server *s, const tb_event *e, uint32_t *stream) {
    const tb_value *m = tb_object_getz(&e->meta, "ws_server");
    const tb_value *v = m ? tb_object_getz(m, "stream") : NULL;
    int64_t id;
    *stream = e->stream;
    if (v && tb_value_as_i64(v, &id)) {
        if (id < 0 || id > (int64_t)UINT32_MAX) return NULL;
        *stream = (uint32_t)id;
    }
    return tbp_tcp_conns_find(&s->conns, *stream);
}

int TB_CALL tbp_ws_server_push(void *instance, tb_batch *in) {
    ws_server *s = instance;
    uint32_t failed = 0;
    uint32_t slot = tbp_tcp_track_open(&s->track, in->token);
    if (slot == UINT32_MAX) return tb_fail(s->host, s->ctx, TB_ENOMEM, "out of memory tracking a batch");
    for (uint32_t i = 0; i < in->count; i++) {
        const tb_event *e = &in->events[i];
        uint32_t stream;
        if (e->flags & TB_EF_DROPPED) continue;
        if (!(e->flags & TB_EF_RAW) || e->data.type != TB_BYTES) {
            undeliverable(s, e->stream, "it is not raw bytes (the ws_server sink needs a codec)");
            failed++;
            continue;
        }
        ws_sconn *c = target(s, e, &stream);
        if (!c || c->ws.phase != WS_PHASE_OPEN) {
            undeliverable(s, stream,
                          c ? "its connection is closing"
                            : "no open connection has that stream (it closed, or the event did not come from this ws_server)");
            if (!c && stream == e->stream) tbp_tcp_conns_stream_gone(&s->conns, stream);
            failed++;
            continue;
        }
        bool binary = s->binary;
        if (!tbp_ws_meta_bool(&e->meta, "ws_server", "binary", &binary)) tbp_ws_meta_bool(&e->meta, "ws", "binary", &binary);
        int rc = tbp_ws_conn_send(&c->ws, e->data.as.bytes, e->data.len, binary);
        if (rc == TB_OK) {
            tbp_tcp_count(s->host, s->ctx, s->m_out, 1);
            if (!tbp_tcp_link_mark(&c->ws.link, slot)) {
                undeliverable(s, stream, "out of memory tracking its delivery");
                failed++;
            }
            continue;
        }
        failed++;
        if (rc == TB_ECLOSED) {
            undeliverable(s, stream, "its connection is closing");
            continue;
        }
        undeliverable(s, stream, c->ws.link.err);
        tbp_ws_server_drop(s, c, c->ws.link.err);
    }
    return tbp_tcp_track_finish_push(&s->track, slot, failed ? TB_ECLOSED : TB_OK);
}
