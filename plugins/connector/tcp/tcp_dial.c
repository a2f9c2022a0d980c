/*
 * tcp_dial.c - a client's connecting (tcp_client's and ws_client's), which never blocks the
 * thread: the name is resolved on this thread (getaddrinfo; a numeric address needs no
 * lookup), a non-blocking connect starts to each address in turn, and one look without waiting
 * tells whether it already failed: a refusal on the same machine is known at once and answered
 * TB_EIO, which the runtime retries with backoff. The rest of the connect (and the TLS
 * handshake) completes on fd readiness in the link (tcp_link.c), within the connect deadline.
 *
 * Ownership and threads: see tcp.h.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netdb.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tcp.h"

/* Starts a non-blocking connect to ai; *state is where it got without waiting. TB_OK, or
 * TB_EIO with the errno of the failure in *err (the socket closed). */
static int start_connect(const tcp_dial *d, const struct addrinfo *ai, int *fd_out, uint32_t *state, int *err) {
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
        *err = errno;
        return TB_EIO;
    }
    if (d->no_delay) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    int r;
    while ((r = connect(fd, ai->ai_addr, ai->ai_addrlen)) != 0 && errno == EINTR) {
    }
    bool done = r == 0;
    if (!done) {
        if (errno != EINPROGRESS) goto fail_fd;
        /* a look, no wait: a refusal on this machine is already known */
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        if (poll(&p, 1, 0) == 1) {
            int e = 0;
            socklen_t len = sizeof e;
            if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &len) != 0) goto fail_fd;
            if (e) {
                errno = e;
                goto fail_fd;
            }
            done = true;
        }
    }
    *fd_out = fd;
    *state = !done ? TCP_LINK_CONNECTING : d->tls ? TCP_LINK_HANDSHAKE : TCP_LINK_OPEN;
    return TB_OK;
fail_fd:
    *err = errno;
    close(fd);
    return TB_EIO;
}

int tbp_tcp_dial_start(tcp_dial *d, const char *where, int *fd, SSL **ssl, uint32_t *state) {
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    char port[8], why[256];
    int err = ECONNREFUSED, rc;
    *fd = -1;
    *ssl = NULL;
    *state = TCP_LINK_CLOSED;
    snprintf(port, sizeof port, "%u", (unsigned)d->addr.port);
    rc = getaddrinfo(d->addr.host, port, &hints, &res);
    if (rc != 0)
        return tb_fail(d->host, d->ctx, TB_EIO, "cannot connect to %s: %s", where,
                       rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
    rc = TB_EIO;
    for (const struct addrinfo *ai = res; ai && rc != TB_OK; ai = ai->ai_next) rc = start_connect(d, ai, fd, state, &err);
    freeaddrinfo(res);
    if (rc != TB_OK) return tb_fail(d->host, d->ctx, TB_EIO, "cannot connect to %s: %s", where, strerror(err));
    if (d->tls && !(*ssl = tbp_tcp_tls_new(d->tls, false, d->server_name, d->verify, why, sizeof why))) {
        close(*fd);
        *fd = -1;
        return tb_fail(d->host, d->ctx, TB_EIO, "cannot set up TLS for %s: %s", where, why);
    }
    return TB_OK;
}

void tbp_tcp_dial_arm(tcp_dial *d, tb_timer_fn fn, void *user) {
    if (d->host->timer_start(d->ctx, d->timeout_ns, 0, fn, user, &d->timer_id) != TB_OK)
        d->timer_id = 0; /* no deadline: the kernel's own connect timeout still applies */
}

void tbp_tcp_dial_disarm(tcp_dial *d) {
    if (d->timer_id) d->host->timer_stop(d->ctx, d->timer_id);
    d->timer_id = 0;
}

void tbp_tcp_dial_fini(tcp_dial *d) {
    tbp_tcp_dial_disarm(d);
    SSL_CTX_free(d->tls);
    d->tls = NULL;
}
