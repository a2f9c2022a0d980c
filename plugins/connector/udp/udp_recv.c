/*
 * udp_recv.c - the source half of both udp connectors: every datagram one raw event, on one
 * stream (0): UDP has no connections, and as in Tremor the socket is the stream. A datagram
 * is best decoded whole (no preprocessor); a `separate` preprocessor would hold a datagram's
 * unterminated last line until the next datagram, from whichever peer.
 *
 * Datagrams are read with MSG_TRUNC, which gives a datagram's real length: one longer than
 * buf_size keeps its first buf_size bytes and is marked failed (tb_event_fail) with the
 * reason, so it leaves on the err port instead of going on cut short. Server events carry
 * meta {"udp_server": {"peer": {"host": "1.2.3.4", "port": N}}}, which the sink half answers
 * to.
 *
 * The client's socket is connected, so the kernel passes only its peer's datagrams, and a
 * refusal (ICMP port unreachable: nothing listens there) comes back as ECONNREFUSED, which
 * makes pull say TB_EIO (the runtime reconnects with backoff, as reconnect says).
 *
 * Reading is one-shot as in the other socket connectors: a pull that meets EAGAIN arms
 * TB_FD_READ, the callback disarms it, the runtime pulls after it.
 *
 * Ownership: event bytes and meta are in the batch's arena. Thread contract: the instance's
 * thread.
 */
#define _GNU_SOURCE
#include "udp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <time.h>

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

/* {"udp_server": {"peer": {"host": "...", "port": N}}} */
static bool server_meta(tb_arena *a, const struct sockaddr *from, tb_value *meta) {
    char host[INET6_ADDRSTRLEN];
    uint16_t port = tbp_udp_format(from, host, sizeof host);
    size_t n = strlen(host);
    const char *copy = tb_arena_dup(a, host, n);
    tb_value peer = tb_object(), inner = tb_object();
    *meta = tb_object();
    return copy && put(a, &peer, "host", tb_string(copy, n)) && put(a, &peer, "port", tb_u64(port)) &&
           put(a, &inner, "peer", peer) && put(a, meta, "udp_server", inner);
}

/* Records that the client's peer refused (or another socket error) for pull and push. */
static void broke(udp_inst *u, int err) {
    if (!u->broken) u->broken = err;
    tbp_udp_fail_queue(u, TB_EIO);
}

int TB_CALL tbp_udp_pull(void *instance, tb_batch *out) {
    udp_inst *u = instance;
    /* stop at the batch's capacity, but always leave room for one event */
    uint32_t limit = out->capacity > out->count ? out->capacity : out->count + 1;
    uint64_t now = realtime_ns();
    size_t taken = 0;
    if (u->broken)
        return tb_fail(u->host, u->ctx, TB_EIO, "udp %s: %s", u->url, strerror(u->broken));
    if (u->fd < 0) return tb_fail(u->host, u->ctx, TB_EIO, "udp %s: the socket is closed", u->url);
    while (out->count < limit && taken < TB_BATCH_BYTES) {
        struct sockaddr_storage from;
        socklen_t from_len = sizeof from;
        ssize_t n = recvfrom(u->fd, u->buf, u->buf_size, MSG_TRUNC, (struct sockaddr *)&from, &from_len);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                if (out->count) return TB_OK;
                u->read_armed = true;
                int rc = tbp_udp_watch(u);
                return rc == TB_OK ? TB_EAGAIN : rc;
            }
            /* the events read so far go on; the next pull reports it */
            broke(u, errno);
            if (out->count) return TB_OK;
            return tb_fail(u->host, u->ctx, TB_EIO, "udp %s: %s", u->url, strerror(u->broken));
        }
        size_t got = (size_t)n < u->buf_size ? (size_t)n : u->buf_size;
        const char *p = tb_arena_dup(out->arena, u->buf, got);
        tb_event *e = p ? tb_batch_push(out) : NULL;
        if (!e || (u->server && !server_meta(out->arena, (const struct sockaddr *)&from, &e->meta)))
            return tb_fail(u->host, u->ctx, TB_ENOMEM, "udp %s: out of memory for a datagram", u->url);
        e->data = tb_bytes(p, got);
        e->id = u->next_id++;
        e->ingest_ns = now;
        e->flags = TB_EF_RAW;
        taken += got;
        if ((size_t)n > u->buf_size &&
            !tb_event_failf(out, e, "datagram of %zd bytes truncated to buf_size (%zu bytes)", n, u->buf_size))
            return tb_fail(u->host, u->ctx, TB_ENOMEM, "udp %s: out of memory for a datagram", u->url);
    }
    return TB_OK;
}
