/*
 * unix_conn.c - one connection of a unix_socket connector: its slot and stream id, its fd
 * watch, and its end.
 *
 * The runtime's loop is level-triggered, and a connection that is readable but not pulled
 * (the flow is paused or full) must not make it spin. So reading is one-shot: a pull that
 * meets EAGAIN arms TB_FD_READ, the callback disarms it and marks the connection readable,
 * and the runtime pulls after the callback. Writing is watched only while bytes wait. In
 * between, the fd stays registered with no interest, which still reports a hang-up; the
 * callback then drops the watch altogether (a hung-up socket would report it forever) and
 * leaves what is unread to pull, which reads it to its end and ends the stream.
 *
 * Ownership: a connection is host memory owned by its instance, as is its fd. Thread
 * contract: the instance's thread (create and destroy's thread for tbp_us_conn_close_all).
 */
#define _GNU_SOURCE
#include "unix_socket.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

void tbp_us_warn_limited(us_inst *u, uint64_t *count, const char *fmt, ...) {
    char msg[600];
    va_list ap;
    uint64_t n = ++*count;
    if (n > 10 && n % 1000 != 0) return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (n > 10)
        tb_log(u->host, u->ctx, TB_LOG_WARN, "%s (%llu times so far)", msg, (unsigned long long)n);
    else
        u->host->log(u->ctx, TB_LOG_WARN, msg);
}

static void TB_CALL on_ready(void *user, int fd, uint32_t events);

us_conn *tbp_us_conn_of_stream(us_inst *u, uint32_t stream) {
    uint32_t slot = stream & ((1u << u->slot_bits) - 1);
    us_conn *c = slot < u->nslots ? u->slots[slot] : NULL;
    return c && c->stream == stream ? c : NULL;
}

us_conn *tbp_us_conn_new(us_inst *u, int fd) {
    uint32_t slot;
    for (slot = 0; slot < u->nslots && u->slots[slot]; slot++) {
    }
    us_conn *c = slot < u->nslots ? u->host->alloc(u->ctx, sizeof *c) : NULL;
    if (!c) {
        close(fd);
        return NULL;
    }
    memset(c, 0, sizeof *c);
    c->in = u;
    c->fd = fd;
    c->slot = slot;
    /* a generation that fills the bits above the slot; the stream id wraps after 2^32
     * connections, by which time nothing refers to the old one. The generation part is never
     * 0, so no connection has stream 0: events that lost their stream on the way (a
     * preprocessor's last record at a stream's end comes with stream 0) match none. */
    uint32_t gen = u->gens[slot]++;
    if ((uint32_t)(gen << u->slot_bits) == 0) gen = u->gens[slot]++;
    c->stream = (uint32_t)(gen << u->slot_bits) | slot;
    c->readable = true; /* the first pull reads it, and arms the watch at EAGAIN */
    u->slots[slot] = c;
    u->live[u->nlive++] = c;
    return c;
}

int tbp_us_conn_watch(us_inst *u, us_conn *c) {
    uint32_t want = (c->read_armed ? TB_FD_READ : 0u) | (c->out_head ? TB_FD_WRITE : 0u);
    int rc;
    if (c->hup || c->fd < 0) {
        if (c->watch_id) u->host->fd_unwatch(u->ctx, c->watch_id);
        c->watch_id = 0;
        c->watched = 0;
        return TB_OK;
    }
    if (c->watch_id && want == c->watched) return TB_OK;
    if (c->watch_id)
        rc = u->host->fd_modify(u->ctx, c->watch_id, want);
    else
        rc = u->host->fd_watch(u->ctx, c->fd, want, on_ready, c, &c->watch_id);
    if (rc != TB_OK) {
        c->watch_id = 0;
        return tb_fail(u->host, u->ctx, TB_EIO, "%s: cannot watch a connection: fd_watch failed (%d)",
                       u->path, rc);
    }
    c->watched = want;
    return TB_OK;
}

static void TB_CALL on_ready(void *user, int fd, uint32_t events) {
    us_conn *c = user;
    us_inst *u = c->in;
    (void)fd;
    if (events & TB_FD_READ) {
        c->read_armed = false;
        c->readable = true;
    }
    if (events & TB_FD_WRITE) tbp_us_flush(u, c);
    /* hung up, or an error: nothing more can be written; what is still unread is read by
     * pull, which then ends the stream */
    if (events & TB_FD_ERROR) tbp_us_conn_give_up(u, c);
    if (!tbp_us_conn_reap(u, c)) tbp_us_conn_watch(u, c); /* a failure leaves it unwatched */
}

/* Takes c out of the slot table and the live list. */
static void unlink_conn(us_inst *u, us_conn *c) {
    u->slots[c->slot] = NULL;
    for (uint32_t i = 0; i < u->nlive; i++)
        if (u->live[i] == c) {
            u->live[i] = u->live[--u->nlive];
            break;
        }
}

void tbp_us_conn_free(us_inst *u, us_conn *c) {
    tb_log(u->host, u->ctx, TB_LOG_DEBUG, "%s: connection (stream %u) closed", u->path, c->stream);
    if (c->watch_id) u->host->fd_unwatch(u->ctx, c->watch_id);
    c->watch_id = 0;
    tbp_us_fail_queue(u, c, TB_ECLOSED);
    if (c->fd >= 0) close(c->fd);
    c->fd = -1;
    unlink_conn(u, c);
    tbp_us_stream_gone(u, c->stream);
    u->host->free(u->ctx, c);
}

int tbp_us_conn_release(us_inst *u, us_conn *c) {
    int fd = c->fd;
    if (c->watch_id) u->host->fd_unwatch(u->ctx, c->watch_id);
    unlink_conn(u, c);
    u->host->free(u->ctx, c);
    return fd;
}

us_conn *tbp_us_conn_adopt(us_inst *u, int fd, uint32_t stream) {
    uint32_t slot = stream & ((1u << u->slot_bits) - 1);
    us_conn *c = slot < u->nslots && !u->slots[slot] ? u->host->alloc(u->ctx, sizeof *c) : NULL;
    if (!c) return NULL;
    memset(c, 0, sizeof *c);
    c->in = u;
    c->fd = fd;
    c->slot = slot;
    c->stream = stream;
    c->readable = true; /* what arrived during the reload is read by the first pull */
    u->slots[slot] = c;
    u->live[u->nlive++] = c;
    return c;
}

void tbp_us_stream_gone(us_inst *u, uint32_t stream) {
    if (u->streams && !u->stopping) u->streams->sink_stream_done(u->ctx, stream);
}

void tbp_us_conn_give_up(us_inst *u, us_conn *c) {
    tbp_us_fail_queue(u, c, TB_ECLOSED);
    c->write_dead = true;
    c->hup = true;
    c->read_armed = false;
    c->readable = !c->ended;
    if (!u->server) u->lost = true;
    tbp_us_conn_watch(u, c); /* drops the watch: a hung-up fd would report it forever */
}

bool tbp_us_conn_reap(us_inst *u, us_conn *c) {
    /* a peer that only shut its writing down may still read replies: it stays */
    if (!c->ended || !(c->hup || c->write_dead)) return false;
    tbp_us_conn_free(u, c);
    return true;
}

void tbp_us_conn_close_all(us_inst *u) {
    while (u->nlive) tbp_us_conn_free(u, u->live[u->nlive - 1]);
}
