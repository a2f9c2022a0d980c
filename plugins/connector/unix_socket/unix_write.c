/*
 * unix_write.c - the sink half of both unix_socket connectors: each event's bytes go to one
 * connection (the server's: the one the event names, see route; the client's: its own), in
 * order, with one sendmsg per run of events for the same connection.
 *
 * What the socket does not take at once waits, without a copy: the connection queues pieces
 * that point into the batch, push answers TB_EPENDING (the runtime keeps the batch), the
 * connection is watched for TB_FD_WRITE, and once the last piece of the batch is written,
 * or has failed, host->delivered reports it. Bytes for a connection that already has a queue
 * join it, so order holds. An event that cannot be delivered (its connection is gone, it is
 * not raw bytes) fails its batch: with nothing waiting, push reports that at once through
 * host->delivered and answers TB_EPENDING, because an error status from push would make the
 * runtime restart a server or reconnect a client that is fine.
 *
 * Bounds: a server connection with more than write_buffer_size bytes waiting is not read
 * until it is down to half (a peer that does not read its replies stops being answered,
 * others go on); when everything waiting exceeds circuit_bytes the circuit opens, pausing
 * the sources that feed the sink, and it closes again at half. A connection whose peer takes
 * nothing for write_timeout_ms while bytes wait is given up: its pieces fail.
 *
 * Ownership: pieces and pending batches are host memory, freed when reported; the bytes they
 * point at are the runtime's, valid until the report. Thread contract: the instance's thread.
 */
#define _GNU_SOURCE
#include "unix_socket.h"

#include <errno.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/uio.h>

#define MAX_IOV 64 /* iovecs per sendmsg: well under every system's IOV_MAX */

static void report(us_inst *u, us_pending *b) {
    if (b->prev) b->prev->next = b->next;
    else u->pending = b->next;
    if (b->next) b->next->prev = b->prev;
    u->host->delivered(u->ctx, b->token, b->status);
    u->host->free(u->ctx, b);
}

static void piece_done(us_inst *u, us_piece *p, int status) {
    us_pending *b = p->batch;
    if (status != TB_OK && b->status == TB_OK) b->status = status;
    if (--b->left == 0 && b->linked) report(u, b);
}

/* Takes the first n bytes waiting on c as written. */
static void consume(us_inst *u, us_conn *c, size_t n) {
    while (n > 0 && c->out_head) {
        us_piece *p = c->out_head;
        size_t k = n < p->len ? n : p->len;
        p->p += k;
        p->len -= k;
        c->out_bytes -= k;
        u->out_total -= k;
        n -= k;
        if (p->len) break;
        c->out_head = p->next;
        if (!c->out_head) c->out_tail = NULL;
        piece_done(u, p, TB_OK);
    }
}

void tbp_us_fail_queue(us_inst *u, us_conn *c, int status) {
    us_piece *p = c->out_head;
    c->out_head = c->out_tail = NULL;
    u->out_total -= c->out_bytes;
    c->out_bytes = 0;
    while (p) {
        us_piece *next = p->next;
        piece_done(u, p, status);
        p = next;
    }
    tbp_us_check_bounds(u, c);
}

void tbp_us_fail_pending(us_inst *u, int status) {
    while (u->pending) {
        u->pending->status = status;
        report(u, u->pending);
    }
}

static void TB_CALL on_timeout_tick(void *user, uint64_t timer_id) {
    us_inst *u = user;
    uint64_t now = u->host->now_ns();
    (void)timer_id;
    for (uint32_t i = u->nlive; i-- > 0;) {
        us_conn *c = u->live[i];
        if (!c->out_head || c->write_dead || now - c->progress_ns < u->write_timeout_ns) continue;
        tb_log(u->host, u->ctx, TB_LOG_WARN,
               "%s: giving up a connection (stream %u): its peer took nothing of %zu waiting "
               "bytes for %llu ms",
               u->path, c->stream, c->out_bytes,
               (unsigned long long)(u->write_timeout_ns / 1000000u));
        tbp_us_conn_give_up(u, c);
        c->closing = true;
        shutdown(c->fd, SHUT_RDWR); /* the peer sees the end too */
        tbp_us_conn_reap(u, c);
    }
    if (!u->out_total) {
        u->host->timer_stop(u->ctx, u->timeout_timer);
        u->timeout_timer = 0;
    }
}

void tbp_us_check_bounds(us_inst *u, us_conn *c) {
    if (u->server && c) {
        if (!c->throttled && c->out_bytes > u->write_buffer_size) c->throttled = true;
        /* reading resumes; the runtime pulls after the callback that got it here */
        else if (c->throttled && c->out_bytes <= u->write_buffer_size / 2) c->throttled = false;
    }
    if (!u->circuit_open && u->out_total > u->circuit_bytes) {
        u->circuit_open = true;
        u->host->circuit(u->ctx, true);
    } else if (u->circuit_open && u->out_total <= u->circuit_bytes / 2) {
        u->circuit_open = false;
        u->host->circuit(u->ctx, false);
    }
    if (u->out_total && u->write_timeout_ns && !u->timeout_timer) {
        uint64_t every = u->write_timeout_ns / 4;
        if (every > 1000000000u) every = 1000000000u;
        if (every < 10000000u) every = 10000000u;
        if (u->host->timer_start(u->ctx, every, every, on_timeout_tick, u, &u->timeout_timer) != TB_OK)
            u->timeout_timer = 0; /* no timeout then; the next bytes to wait try again */
    }
}

void tbp_us_flush(us_inst *u, us_conn *c) {
    struct iovec iov[MAX_IOV];
    while (c->out_head && !c->write_dead) {
        int cnt = 0;
        for (us_piece *p = c->out_head; p && cnt < MAX_IOV; p = p->next) {
            iov[cnt].iov_base = (void *)p->p;
            iov[cnt++].iov_len = p->len;
        }
        struct msghdr m = {.msg_iov = iov, .msg_iovlen = (size_t)cnt};
        ssize_t n = sendmsg(c->fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) break;
            tb_log(u->host, u->ctx, TB_LOG_DEBUG, "%s: writing to stream %u failed: %s", u->path,
                   c->stream, strerror(errno));
            tbp_us_conn_give_up(u, c);
            return;
        }
        c->progress_ns = u->host->now_ns();
        consume(u, c, (size_t)n);
    }
    tbp_us_check_bounds(u, c);
    tbp_us_conn_watch(u, c);
}

/* What one push has gathered. */
typedef struct push_state {
    tb_batch *batch;
    us_pending *pend;   /* allocated at the first piece */
    uint32_t failed;
    int status;         /* of the first failure */
    bool gave_up;       /* a connection failed: reap it after the loop */
} push_state;

static void fail_events(push_state *ps, uint32_t n, int status) {
    if (!ps->failed) ps->status = status;
    ps->failed += n;
}

static us_piece *new_piece(us_inst *u, push_state *ps) {
    if (!ps->pend) {
        uint32_t cap = ps->batch->count;
        us_pending *b = u->host->alloc(u->ctx, sizeof *b + (size_t)cap * sizeof(us_piece));
        if (!b) return NULL;
        memset(b, 0, sizeof *b);
        b->token = ps->batch->token;
        b->cap = cap;
        ps->pend = b;
    }
    if (ps->pend->used == ps->pend->cap) return NULL; /* one per event at most: cannot be */
    us_piece *p = &ps->pend->pieces[ps->pend->used++];
    p->next = NULL;
    p->batch = ps->pend;
    ps->pend->left++;
    return p;
}

/* Writes a run of events' bytes to c, queueing what the socket does not take now. */
static void send_run(us_inst *u, push_state *ps, us_conn *c, struct iovec *iov, int cnt) {
    size_t done = 0;
    if (c->write_dead) {
        fail_events(ps, (uint32_t)cnt, TB_ECLOSED);
        return;
    }
    if (!c->out_head) {
        struct msghdr m = {.msg_iov = iov, .msg_iovlen = (size_t)cnt};
        ssize_t n;
        while ((n = sendmsg(c->fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT)) < 0 && errno == EINTR) {
        }
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
            tb_log(u->host, u->ctx, TB_LOG_DEBUG, "%s: writing to stream %u failed: %s", u->path,
                   c->stream, strerror(errno));
            tbp_us_conn_give_up(u, c);
            ps->gave_up = true;
            fail_events(ps, (uint32_t)cnt, TB_ECLOSED);
            return;
        }
        if (n > 0) done = (size_t)n;
    }
    bool was_empty = !c->out_head;
    for (int k = 0; k < cnt; k++) {
        if (done >= iov[k].iov_len) {
            done -= iov[k].iov_len;
            continue;
        }
        us_piece *p = new_piece(u, ps);
        if (!p) {
            fail_events(ps, 1, TB_ENOMEM);
            continue;
        }
        p->p = (const uint8_t *)iov[k].iov_base + done;
        p->len = iov[k].iov_len - done;
        done = 0;
        if (c->out_tail) c->out_tail->next = p;
        else c->out_head = p;
        c->out_tail = p;
        c->out_bytes += p->len;
        u->out_total += p->len;
    }
    if (was_empty && c->out_head) {
        c->progress_ns = u->host->now_ns();
        tbp_us_conn_watch(u, c); /* a failure: the write timeout gives it up */
        tbp_us_check_bounds(u, c);
    } else if (c->out_head) {
        tbp_us_check_bounds(u, c);
    }
}

/* The connection a server's event goes to: $unix_socket_server.stream when the event carries
 * it (any pipeline that keeps the event's meta does), else the event's stream id. *own: it
 * goes to its own stream. */
static us_conn *route(us_inst *u, const tb_event *e, bool *own) {
    const tb_value *m = tb_object_getz(&e->meta, "unix_socket_server");
    const tb_value *s = m ? tb_object_getz(m, "stream") : NULL;
    int64_t stream;
    *own = true;
    if (s && tb_value_as_i64(s, &stream)) {
        *own = stream == e->stream;
        if (stream < 0 || stream > (int64_t)UINT32_MAX) return NULL;
        return tbp_us_conn_of_stream(u, (uint32_t)stream);
    }
    return tbp_us_conn_of_stream(u, e->stream);
}

/* The client's connection: the newest that can still be written to. */
static us_conn *client_conn(us_inst *u) {
    for (uint32_t i = u->nlive; i-- > 0;)
        if (!u->live[i]->write_dead && !u->live[i]->closing) return u->live[i];
    return NULL;
}

int TB_CALL tbp_us_push(void *instance, tb_batch *in) {
    us_inst *u = instance;
    struct iovec iov[MAX_IOV];
    us_conn *cur = NULL, *client = NULL;
    int cnt = 0;
    push_state ps = {.batch = in, .status = TB_OK};
    if (!u->server && (u->lost || !(client = client_conn(u))))
        return tb_fail(u->host, u->ctx, TB_ECLOSED, "%s: the connection is closed", u->path);
    for (uint32_t i = 0; i < in->count; i++) {
        const tb_event *e = &in->events[i];
        if (e->flags & TB_EF_DROPPED) continue;
        if (!(e->flags & TB_EF_RAW) || e->data.type != TB_BYTES) {
            tbp_us_warn_limited(u, &u->unroutable, "%s: an event is not raw bytes: not sent",
                                u->path);
            fail_events(&ps, 1, TB_EINVAL);
            continue;
        }
        if (!e->data.len) continue;
        bool own = false;
        us_conn *c = client ? client : route(u, e, &own);
        if (!c || c->write_dead) {
            tbp_us_warn_limited(u, &u->unroutable,
                                "%s: an event for stream %u not sent: no such connection "
                                "(closed, or the event is not from this server)",
                                u->path, e->stream);
            if (!c && own) tbp_us_stream_gone(u, e->stream);
            fail_events(&ps, 1, TB_ECLOSED);
            continue;
        }
        if (c != cur || cnt == MAX_IOV) {
            if (cnt) send_run(u, &ps, cur, iov, cnt);
            cnt = 0;
            cur = c;
        }
        iov[cnt].iov_base = (void *)e->data.as.bytes;
        iov[cnt++].iov_len = e->data.len;
    }
    if (cnt) send_run(u, &ps, cur, iov, cnt);
    if (ps.gave_up)
        for (uint32_t i = u->nlive; i-- > 0;) tbp_us_conn_reap(u, u->live[i]);

    us_pending *b = ps.pend;
    if (b && b->left == 0) { /* every piece already failed with its connection */
        if (b->status != TB_OK) fail_events(&ps, 1, b->status);
        u->host->free(u->ctx, b);
        b = NULL;
    }
    /* the client's connection broke: the runtime fails the batch and reconnects (its pieces,
     * if any, were queued behind others and failed with the queue) */
    if (!u->server && u->lost && !b)
        return tb_fail(u->host, u->ctx, TB_ECLOSED, "%s: the connection broke", u->path);
    if (b) {
        if (ps.failed) b->status = ps.status;
        b->linked = true;
        b->next = u->pending;
        if (u->pending) u->pending->prev = b;
        u->pending = b;
        return TB_EPENDING;
    }
    if (ps.failed) {
        u->host->delivered(u->ctx, in->token, ps.status);
        return TB_EPENDING;
    }
    return TB_OK;
}
