/*
 * udp_send.c - the sink half of both udp connectors: each event's bytes are one datagram.
 * The server sends it to the peer the event's meta names ($udp_server.peer, which its source
 * recorded and which any pipeline that keeps the event's meta carries on), else to the
 * default_peer option; the client sends it to its connected peer.
 *
 * A datagram the socket cannot take now (EAGAIN: the send buffer is full) waits, with every
 * later one, as a piece pointing into its batch: push answers TB_EPENDING, the socket is
 * watched for TB_FD_WRITE, and host->delivered reports the batch once its last datagram is
 * sent or failed. More than write_buffer_size bytes waiting open the circuit (the sources
 * feeding the sink pause); it closes at half.
 *
 * A datagram that cannot be sent (no peer, a peer of the wrong family, too big for UDP, an
 * unreachable network) fails its batch and the others go on: with nothing waiting, push
 * reports that at once through host->delivered and answers TB_EPENDING, since an error status
 * would make the runtime restart the connector. The client's peer refusing (ECONNREFUSED, an
 * ICMP answer to an earlier datagram) is different: the connection is lost, push says TB_EIO
 * and the runtime reconnects as reconnect says.
 *
 * Ownership: pieces and pending batches are host memory, freed when reported. Thread
 * contract: the instance's thread.
 */
#define _GNU_SOURCE
#include "udp.h"

#include <errno.h>

static void report(udp_inst *u, udp_pending *b) {
    if (b->prev) b->prev->next = b->next;
    else u->pending = b->next;
    if (b->next) b->next->prev = b->prev;
    u->host->delivered(u->ctx, b->token, b->status);
    u->host->free(u->ctx, b);
}

static void piece_done(udp_inst *u, udp_piece *p, int status) {
    udp_pending *b = p->batch;
    if (status != TB_OK && b->status == TB_OK) b->status = status;
    if (--b->left == 0 && b->linked) report(u, b);
}

static void check_circuit(udp_inst *u) {
    if (!u->circuit_open && u->out_bytes > u->write_buffer_size) {
        u->circuit_open = true;
        u->host->circuit(u->ctx, true);
    } else if (u->circuit_open && u->out_bytes <= u->write_buffer_size / 2) {
        u->circuit_open = false;
        u->host->circuit(u->ctx, false);
    }
}

/* Takes the first waiting datagram off the queue, done with status. */
static void pop(udp_inst *u, int status) {
    udp_piece *p = u->out_head;
    u->out_head = p->next;
    if (!u->out_head) u->out_tail = NULL;
    u->out_bytes -= p->len;
    piece_done(u, p, status);
}

void tbp_udp_fail_queue(udp_inst *u, int status) {
    while (u->out_head) pop(u, status);
    check_circuit(u);
    tbp_udp_watch(u);
}

/* Sends one datagram: the bytes sent, or -1 with errno. */
static ssize_t send_one(udp_inst *u, const uint8_t *p, size_t len, const udp_addr *to) {
    ssize_t n;
    do {
        if (to && to->len)
            n = sendto(u->fd, p, len, MSG_DONTWAIT | MSG_NOSIGNAL, (const struct sockaddr *)&to->ss, to->len);
        else
            n = send(u->fd, p, len, MSG_DONTWAIT | MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    return n;
}

static bool would_block(int e) { return e == EAGAIN || e == EWOULDBLOCK || e == ENOBUFS; }

/* The client's peer refused: the connection is lost. */
static bool refused(const udp_inst *u, int e) { return !u->server && e == ECONNREFUSED; }

void tbp_udp_flush(udp_inst *u) {
    while (u->out_head) {
        udp_piece *p = u->out_head;
        udp_addr to = {.len = p->addr_len};
        if (p->addr_len) memcpy(&to.ss, &p->addr, p->addr_len);
        if (send_one(u, p->p, p->len, &to) >= 0) {
            pop(u, TB_OK);
            continue;
        }
        int e = errno;
        if (would_block(e)) break;
        if (refused(u, e)) {
            if (!u->broken) u->broken = e;
            tbp_udp_fail_queue(u, TB_EIO);
            return;
        }
        tbp_udp_warn(u, "udp %s: a datagram of %zu bytes not sent: %s", u->url, p->len, strerror(e));
        pop(u, TB_EIO);
    }
    check_circuit(u);
    tbp_udp_watch(u);
}

typedef struct push_state {
    tb_batch *batch;
    udp_pending *pend;
    uint32_t failed;
    int status;
} push_state;

static void fail_event(push_state *ps, int status) {
    if (!ps->failed) ps->status = status;
    ps->failed++;
}

/* Queues a datagram behind those waiting. */
static void queue(udp_inst *u, push_state *ps, const tb_event *e, const udp_addr *to) {
    if (!ps->pend) {
        uint32_t cap = ps->batch->count;
        udp_pending *b = u->host->alloc(u->ctx, sizeof *b + (size_t)cap * sizeof(udp_piece));
        if (!b) {
            fail_event(ps, TB_ENOMEM);
            return;
        }
        memset(b, 0, sizeof *b);
        b->token = ps->batch->token;
        b->cap = cap;
        ps->pend = b;
    }
    if (ps->pend->used == ps->pend->cap) { /* one per event: cannot be */
        fail_event(ps, TB_ENOMEM);
        return;
    }
    udp_piece *p = &ps->pend->pieces[ps->pend->used++];
    p->next = NULL;
    p->batch = ps->pend;
    p->p = e->data.as.bytes;
    p->len = e->data.len;
    p->addr_len = to ? to->len : 0;
    if (p->addr_len) memcpy(&p->addr, &to->ss, to->len);
    ps->pend->left++;
    if (u->out_tail) u->out_tail->next = p;
    else u->out_head = p;
    u->out_tail = p;
    u->out_bytes += p->len;
}

/* Where a server's event goes: $udp_server.peer, else default_peer. NULL, or why not. */
static const char *target(udp_inst *u, const tb_event *e, udp_addr *to) {
    const tb_value *m = tb_object_getz(&e->meta, "udp_server");
    const tb_value *peer = m ? tb_object_getz(m, "peer") : NULL;
    if (peer)
        return tbp_udp_peer_of(peer, u->family, to)
                   ? NULL
                   : "its $udp_server.peer is not {\"host\": an IP address, \"port\": 0 to 65535}";
    if (!u->dflt.len) return "it has no $udp_server.peer and there is no default_peer";
    *to = u->dflt;
    return NULL;
}

int TB_CALL tbp_udp_push(void *instance, tb_batch *in) {
    udp_inst *u = instance;
    push_state ps = {.batch = in, .status = TB_OK};
    if (u->broken)
        return tb_fail(u->host, u->ctx, TB_EIO, "udp %s: %s", u->url, strerror(u->broken));
    if (u->fd < 0) return tb_fail(u->host, u->ctx, TB_EIO, "udp %s: the socket is closed", u->url);
    for (uint32_t i = 0; i < in->count; i++) {
        const tb_event *e = &in->events[i];
        udp_addr to = {.len = 0};
        if (e->flags & TB_EF_DROPPED) continue;
        if (!(e->flags & TB_EF_RAW) || e->data.type != TB_BYTES) {
            tbp_udp_warn(u, "udp %s: an event is not raw bytes: not sent", u->url);
            fail_event(&ps, TB_EINVAL);
            continue;
        }
        const char *why = u->server ? target(u, e, &to) : NULL;
        if (why) {
            tbp_udp_warn(u, "udp %s: an event not sent: %s", u->url, why);
            fail_event(&ps, TB_EINVAL);
            continue;
        }
        if (u->out_head) {
            queue(u, &ps, e, &to);
            continue;
        }
        if (send_one(u, e->data.as.bytes, e->data.len, &to) >= 0) continue;
        int err = errno;
        if (would_block(err)) {
            queue(u, &ps, e, &to);
        } else if (refused(u, err)) {
            /* nothing waits (the queue was empty), so nothing of this batch is queued */
            u->broken = err;
            return tb_fail(u->host, u->ctx, TB_EIO, "udp %s: %s", u->url, strerror(err));
        } else {
            tbp_udp_warn(u, "udp %s: a datagram of %u bytes not sent: %s", u->url, e->data.len, strerror(err));
            fail_event(&ps, TB_EIO);
        }
    }
    if (ps.pend) {
        if (ps.failed) ps.pend->status = ps.status;
        ps.pend->linked = true;
        ps.pend->next = u->pending;
        if (u->pending) u->pending->prev = ps.pend;
        u->pending = ps.pend;
        check_circuit(u);
        tbp_udp_watch(u);
        return TB_EPENDING;
    }
    if (ps.failed) {
        u->host->delivered(u->ctx, in->token, ps.status);
        return TB_EPENDING;
    }
    return TB_OK;
}
