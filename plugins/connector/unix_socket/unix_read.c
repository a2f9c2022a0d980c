/*
 * unix_read.c - the source half of both unix_socket connectors: the bytes of every
 * connection as raw chunks of at most buf_size, each connection its own stream.
 *
 * A pull reads the readable connections in turn, one chunk each per round, so a busy peer
 * cannot starve the others, until the batch holds out->capacity events or TB_BATCH_BYTES of
 * input. Reads land in the instance's buffer and only the bytes read are copied into the
 * batch: memory per connection is nothing while it is idle, and a 10 MB message is as many
 * chunks. A connection that says EAGAIN is watched for TB_FD_READ (one-shot, unix_conn.c).
 *
 * At a connection's end (EOF, a reset, or the instance giving it up) comes an empty event
 * flagged TB_EF_STREAM_END for its stream, so the runtime flushes that stream's
 * preprocessors. A server keeps a connection whose peer only shut its writing down, to answer
 * it; the client's connection is lost at its end, and the pull after the one that ended it
 * says TB_ECLOSED (events are only kept from a pull that succeeds).
 *
 * Server events carry meta {"unix_socket_server": {"stream": N, "peer": {"pid", "uid",
 * "gid"}}}: the stream to answer on, and the peer's credentials (SO_PEERCRED).
 *
 * Ownership: event bytes and meta belong to the batch's arena (meta keys are literals of
 * this library, which the runtime keeps mapped while events hold them). Thread contract: the
 * instance's thread.
 */
#define _GNU_SOURCE
#include "unix_socket.h"

#include <errno.h>
#include <time.h>
#include <unistd.h>

static uint64_t realtime_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static bool put(tb_arena *a, tb_value *obj, const char *key, tb_value v) {
    tb_value *slot = tb_object_append(a, obj, key, strlen(key));
    if (!slot) return false;
    *slot = v;
    return true;
}

/* {"unix_socket_server": {"stream": N, "peer": {"pid": P, "uid": U, "gid": G}}} */
static bool server_meta(tb_arena *a, const us_conn *c, tb_value *meta) {
    tb_value inner = tb_object(), peer = tb_object();
    *meta = tb_object();
    if (!put(a, &inner, "stream", tb_u64(c->stream))) return false;
    if (c->has_cred) {
        if (!put(a, &peer, "pid", tb_i64(c->pid)) || !put(a, &peer, "uid", tb_u64(c->uid)) ||
            !put(a, &peer, "gid", tb_u64(c->gid)) || !put(a, &inner, "peer", peer))
            return false;
    }
    return put(a, meta, "unix_socket_server", inner);
}

static int emit(us_inst *u, tb_batch *out, us_conn *c, const void *p, size_t len,
                uint16_t flags, uint64_t now) {
    tb_event *e = tb_batch_push(out);
    if (!e || (u->server && !server_meta(out->arena, c, &e->meta)))
        return tb_fail(u->host, u->ctx, TB_ENOMEM, "%s: out of memory for an event", u->path);
    e->data = tb_bytes(p, len);
    e->id = u->next_id++;
    e->ingest_ns = now;
    e->stream = c->stream;
    e->flags = flags;
    c->emitted = true;
    return TB_OK;
}

/* Ends c's stream: the empty marker, and nothing more is read. */
static int end_stream(us_inst *u, tb_batch *out, us_conn *c, uint64_t now) {
    c->ended = true;
    c->readable = false;
    c->read_armed = false;
    if (!u->server) tbp_us_conn_give_up(u, c); /* the server went: the client is lost */
    else tbp_us_conn_watch(u, c);
    return emit(u, out, c, NULL, 0, TB_EF_RAW | TB_EF_STREAM_END, now);
}

/* Reads one chunk of c into out. */
static int read_chunk(us_inst *u, tb_batch *out, us_conn *c, size_t *taken, uint64_t now) {
    ssize_t n;
    if (c->closing) return end_stream(u, out, c, now);
    while ((n = read(c->fd, u->buf, u->buf_size)) < 0 && errno == EINTR) {
    }
    if (n > 0) {
        const char *p = tb_arena_dup(out->arena, u->buf, (size_t)n);
        if (!p) return tb_fail(u->host, u->ctx, TB_ENOMEM, "%s: out of memory for %zd bytes", u->path, n);
        *taken += (size_t)n;
        return emit(u, out, c, p, (size_t)n, TB_EF_RAW, now);
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && !c->hup) {
        c->readable = false;
        c->read_armed = true;
        return tbp_us_conn_watch(u, c);
    }
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
        /* a reset: the peer went without reading what it was sent */
        tb_log(u->host, u->ctx, TB_LOG_DEBUG, "%s: reading stream %u failed: %s", u->path,
               c->stream, strerror(errno));
        tbp_us_conn_give_up(u, c);
    }
    return end_stream(u, out, c, now);
}

int TB_CALL tbp_us_pull(void *instance, tb_batch *out) {
    us_inst *u = instance;
    /* stop at the batch's capacity, but always leave room for one event */
    uint32_t limit = out->capacity > out->count ? out->capacity : out->count + 1;
    uint64_t now = realtime_ns();
    size_t taken = 0;
    bool more = true, full = false;
    int rc = TB_OK;
    /* no connection is added or freed in the loop: the live list holds still */
    uint32_t n = u->nlive, start = n ? u->rr % n : 0;
    while (more && rc == TB_OK && !full) {
        more = false;
        for (uint32_t k = 0; k < n && rc == TB_OK; k++) {
            if (out->count >= limit || taken >= TB_BATCH_BYTES) {
                full = true;
                break;
            }
            us_conn *c = u->live[(start + k) % n];
            if (!c->readable || c->ended || (c->throttled && !c->closing)) continue;
            rc = read_chunk(u, out, c, &taken, now);
            more = more || c->readable;
        }
    }
    u->rr = start + 1;
    for (uint32_t i = u->nlive; i-- > 0;) tbp_us_conn_reap(u, u->live[i]);
    if (rc != TB_OK) return rc;
    if (out->count || full) return TB_OK;
    if (!u->server && u->lost && !u->nlive)
        return tb_fail(u->host, u->ctx, TB_ECLOSED, "%s: the server closed the connection", u->path);
    return TB_EAGAIN;
}
