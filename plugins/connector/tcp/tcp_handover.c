/*
 * tcp_handover.c - tcp_server's sockets across a reload of the plugin: save hands the
 * listening socket and every plain, settled connection to the runtime ("temblor.handover/1"),
 * restore takes them into the new instance, so clients stay connected, their streams (and the
 * runtime's processors of those streams) go on, and the port never stops accepting.
 *
 * What is not handed over is closed by stop as before: TLS connections (a TLS session's
 * state lives in the old build's objects), connections with bytes still unsent or in their
 * handshake or linger, and everything when the runtime has no handover (an older runtime, or
 * an instance in a plugin host). The saved value:
 *   {"listen": handle, "stream_base": N, "next_seq": N,
 *    "conns": [{"fd": handle, "seq": N, "next_id": N, "host": "...", "port": N,
 *               "has_data": bool, "ended": bool}, ...]}
 * in ascending seq, so the new set's table stays sorted.
 *
 * Ownership and threads: see tcp_server.h; save and restore run on the instance's thread.
 */
#define _GNU_SOURCE
#include "tcp_server.h"

#include <stdio.h>
#include <unistd.h>

/* Appends key: v to obj. A slot tb_object_append returns is valid only until the next append
 * to the same object, so every member is filled as it is appended. */
static bool put(tb_arena *a, tb_value *obj, const char *key, tb_value v) {
    tb_value *slot = tb_object_append(a, obj, key, strlen(key));
    if (slot) *slot = v;
    return slot != NULL;
}

/* Whether c can move as it is: plain, open, nothing unsent or waiting on a timer. */
static bool movable(const tcp_server *s, const tcp_conn *c) {
    return !s->tls && c->link.state == TCP_LINK_OPEN && !c->link.len && !c->link.mcount && !c->rd_eof &&
           !c->timer_id && !c->link.hup;
}

/* Hands c over: its description appended to conns; c leaves the server, its socket open. */
static int hand_over(tcp_server *s, const tb_ext_handover *x, tb_arena *a, tb_value *conns, tcp_conn *c) {
    tb_value *item = tb_array_push(a, conns);
    if (!item) return TB_ENOMEM;
    *item = tb_object();
    uint64_t h = x->give_fd(s->ctx, c->link.fd);
    if (!h) return TB_ENOMEM;
    size_t hlen = strlen(c->node.host);
    char *copy = tb_arena_dup(a, c->node.host, hlen);
    if (!copy || !put(a, item, "host", tb_string(copy, hlen)) || !put(a, item, "has_data", tb_bool(c->node.has_data)) ||
        !put(a, item, "ended", tb_bool(c->node.ended)) || !put(a, item, "fd", tb_u64(h)) ||
        !put(a, item, "seq", tb_u64(c->node.seq)) || !put(a, item, "next_id", tb_u64(c->node.next_id)) ||
        !put(a, item, "port", tb_u64(c->node.port)))
        return TB_ENOMEM;
    /* the runtime holds the socket now: out of the set without ending the stream, and freed
     * without closing it */
    tbp_tcp_conns_detach(&s->conns, &c->node);
    tbp_tcp_link_release(&c->link);
    s->host->free(s->ctx, c);
    return TB_OK;
}

int TB_CALL tbp_tcp_server_save(void *instance, tb_arena *a, tb_value *out) {
    tcp_server *s = instance;
    const tb_ext_handover *x = s->host->get_extension(s->ctx, TB_EXT_HANDOVER);
    *out = tb_object();
    if (!x || s->listener.fd < 0) return TB_OK; /* nothing to hand over: the new build starts afresh */
    uint64_t listen = x->give_fd(s->ctx, s->listener.fd);
    if (!listen) return TB_OK;
    tbp_tcp_listen_release(&s->listener);
    if (!put(a, out, "listen", tb_u64(listen)) || !put(a, out, "stream_base", tb_u64(s->conns.stream_base)) ||
        !put(a, out, "next_seq", tb_u64(s->conns.next_seq)) || !put(a, out, "conns", tb_array()))
        return TB_ENOMEM;
    tb_value *conns = tb_object_getz(out, "conns"); /* the last member: no append moves it now */
    uint32_t moved = 0;
    for (uint32_t i = 0; i < s->conns.n;) {
        tcp_conn *c = s->conns.table[i]->conn;
        if (!movable(s, c)) {
            i++;
            continue;
        }
        int rc = hand_over(s, x, a, conns, c); /* c leaves the table: i now names the next one */
        if (rc != TB_OK) return rc;
        moved++;
    }
    tb_log(s->host, s->ctx, TB_LOG_INFO, "handing the listening socket and %u connection%s to the new build (%u closed)",
           moved, moved == 1 ? "" : "s", s->conns.n);
    return TB_OK;
}

/* Takes one connection described by item into s. */
static void adopt(tcp_server *s, const tb_ext_handover *x, const tb_value *item) {
    int fd = x->take_fd(s->ctx, tb_config_u64(item, "fd", 0));
    if (fd < 0) return;
    size_t hlen;
    const char *host = tb_value_str(tb_object_getz(item, "host"), &hlen);
    char peer[INET6_ADDRSTRLEN] = "?";
    if (host && hlen < sizeof peer) {
        memcpy(peer, host, hlen);
        peer[hlen] = '\0';
    }
    uint16_t port = (uint16_t)tb_config_u64(item, "port", 0);
    tcp_conn *c = s->host->alloc(s->ctx, sizeof *c);
    if (c) memset(c, 0, sizeof *c);
    if (!c || !tbp_tcp_conns_adopt(&s->conns, &c->node, c, (uint32_t)tb_config_u64(item, "seq", UINT32_MAX), peer, port)) {
        tb_log(s->host, s->ctx, TB_LOG_ERROR, "closing the connection from %s:%u handed over: %s", peer, (unsigned)port,
               c ? "its stream is out of order" : "out of memory");
        s->host->free(s->ctx, c);
        close(fd);
        return;
    }
    c->srv = s;
    c->node.next_id = tb_config_u64(item, "next_id", 0);
    c->node.has_data = tb_config_bool(item, "has_data", false);
    c->node.ended = tb_config_bool(item, "ended", false);
    if (tbp_tcp_link_open(&c->link, s->host, s->ctx, &s->track, tbp_tcp_server_note, c, fd, NULL, TCP_LINK_OPEN) !=
        TB_OK) {
        /* the link closed fd: the connection ends as any broken one */
        tbp_tcp_server_drop(s, c, c->link.err);
        return;
    }
    /* what arrived during the reload is read at once (the socket's readiness was the old
     * instance's news) */
    tbp_tcp_conns_ready(&s->conns, &c->node, true);
}

int TB_CALL tbp_tcp_server_restore(void *instance, const tb_value *saved) {
    tcp_server *s = instance;
    const tb_ext_handover *x = s->host->get_extension(s->ctx, TB_EXT_HANDOVER);
    if (!x || saved->type != TB_OBJECT || !tb_object_getz(saved, "listen")) return TB_OK;
    int fd = x->take_fd(s->ctx, tb_config_u64(saved, "listen", 0));
    if (fd < 0 || tbp_tcp_listen_adopt(&s->listener, fd) != TB_OK) return TB_OK; /* listens afresh in connect */
    tbp_tcp_listen_announce(&s->listener, s->m_port, s->tls != NULL);
    s->conns.stream_base = (uint32_t)tb_config_u64(saved, "stream_base", s->conns.stream_base);
    s->conns.next_seq = (uint32_t)tb_config_u64(saved, "next_seq", 0);
    const tb_value *conns = tb_object_getz(saved, "conns");
    for (uint32_t i = 0; conns && conns->type == TB_ARRAY && i < conns->len; i++) adopt(s, x, &conns->as.items[i]);
    tb_log(s->host, s->ctx, TB_LOG_INFO, "took over the listening socket and %u connection%s", s->conns.n,
           s->conns.n == 1 ? "" : "s");
    return TB_OK;
}
