/*
 * unix_client.c - `unix_socket_client`'s connection. A connect to a unix socket never waits:
 * it succeeds at once, or fails at once (no file: ENOENT; a file nobody accepts on:
 * ECONNREFUSED; a full backlog: EAGAIN), and every failure is TB_EIO, which the runtime
 * retries with backoff when the connector's reconnect says so.
 *
 * Each connection is a new stream. When the runtime connects again after losing the
 * previous connection, that one's stream may not have ended yet (its end is emitted by a
 * pull, which may not have come): it stays in its slot, marked closing, and the next pull
 * ends it before reading the new one. Hence the client's two slots. A connection nothing was
 * read from (a client used only as a sink is never pulled) needs no end and goes at once.
 *
 * Ownership: the connection is the instance's. Thread contract: the instance's thread.
 */
#define _GNU_SOURCE
#include "unix_socket.h"

#include <errno.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int tbp_us_connect_client(us_inst *u) {
    struct sockaddr_un a;
    if (!u->lost) {
        for (uint32_t i = 0; i < u->nlive; i++)
            if (!u->live[i]->closing && !u->live[i]->write_dead) return TB_OK; /* connected */
    }
    for (uint32_t i = u->nlive; i-- > 0;) {
        us_conn *c = u->live[i];
        tbp_us_conn_give_up(u, c);
        c->closing = true;
        /* a stream nothing came from needs no end (a client used only as a sink) */
        if (!c->emitted) c->ended = true;
        tbp_us_conn_reap(u, c);
    }
    /* still no room (two losses between pulls): the oldest goes without its end */
    if (u->nlive == u->nslots) tbp_us_conn_free(u, u->live[0]);
    u->lost = false;
    memset(&a, 0, sizeof a);
    a.sun_family = AF_UNIX;
    size_t n = strlen(u->path); /* create checked it fits */
    memcpy(a.sun_path, u->path, n);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return tb_fail(u->host, u->ctx, TB_EIO, "%s: cannot make a socket: %s", u->path, strerror(errno));
    if (connect(fd, (const struct sockaddr *)&a, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1)) != 0) {
        int e = errno;
        close(fd);
        return tb_fail(u->host, u->ctx, TB_EIO, "cannot connect to %s: %s", u->path,
                       e == EAGAIN ? "the server's backlog is full" : strerror(e));
    }
    us_conn *c = tbp_us_conn_new(u, fd);
    if (!c) return tb_fail(u->host, u->ctx, TB_ENOMEM, "%s: out of memory for the connection", u->path);
    int rc = tbp_us_conn_watch(u, c); /* no interest yet: a hang-up is reported */
    if (rc != TB_OK) tbp_us_conn_free(u, c);
    return rc;
}
