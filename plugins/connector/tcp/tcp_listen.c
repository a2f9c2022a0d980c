/*
 * tcp_listen.c - a server's listening socket (tcp_server's and ws_server's): resolving the
 * address, binding, listening, and accepting on fd readiness.
 *
 * Accepting takes at most ACCEPTS_PER_CALL connections per callback, then lets the loop run
 * other callbacks. When accept fails for want of descriptors or memory the socket stays
 * readable, so instead of spinning the listener stops watching it for ACCEPT_PAUSE_NS.
 *
 * Ownership and threads: see tcp.h.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tcp.h"

#define ACCEPTS_PER_CALL 64            /* then the loop runs other callbacks */
#define ACCEPT_PAUSE_NS 100000000ull   /* out of descriptors: accept again after 100 ms */
#define MAX_CONNECTIONS_LIMIT 1000000u

int tbp_tcp_listen_config(const tb_host_api *host, tb_context *ctx, const tb_value *config, uint32_t *backlog,
                          uint32_t *max_connections) {
    uint64_t b = tb_config_u64(config, "backlog", 128);
    uint64_t max_conn = tb_config_u64(config, "max_connections", 1024);
    if (b == 0 || b > 65535)
        return tb_fail(host, ctx, TB_EINVAL, "backlog must be between 1 and 65535, found %llu", (unsigned long long)b);
    if (max_conn == 0 || max_conn > MAX_CONNECTIONS_LIMIT)
        return tb_fail(host, ctx, TB_EINVAL, "max_connections must be between 1 and %u, found %llu",
                       MAX_CONNECTIONS_LIMIT, (unsigned long long)max_conn);
    *backlog = (uint32_t)b;
    *max_connections = (uint32_t)max_conn;
    return TB_OK;
}

void tbp_tcp_listen_init(tcp_listener *l, const tb_host_api *host, tb_context *ctx, const tcp_addr *addr,
                         uint32_t backlog, tcp_accept_fn accepted, void *owner) {
    memset(l, 0, sizeof *l);
    l->host = host;
    l->ctx = ctx;
    l->addr = *addr;
    tbp_tcp_addr_format(addr->host, addr->port, l->where, sizeof l->where);
    l->backlog = backlog;
    l->fd = -1;
    l->accepted = accepted;
    l->owner = owner;
}

static void TB_CALL on_accept_again(void *user, uint64_t timer_id) {
    tcp_listener *l = user;
    (void)timer_id;
    l->pause_timer = 0;
    if (l->watch) l->host->fd_modify(l->ctx, l->watch, TB_FD_READ);
}

static void TB_CALL on_accept(void *user, int fd, uint32_t events) {
    tcp_listener *l = user;
    (void)events;
    for (int i = 0; i < ACCEPTS_PER_CALL; i++) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof ss;
        char host[INET6_ADDRSTRLEN];
        uint16_t port;
        int c = accept4(fd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (c < 0) {
            if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) return;
            /* out of descriptors or memory: the socket stays readable, so stop watching it for
             * a while instead of spinning */
            tb_log(l->host, l->ctx, TB_LOG_WARN, "cannot accept on %s: %s; trying again in 100 ms",
                   l->where, strerror(errno));
            if (!l->pause_timer &&
                l->host->timer_start(l->ctx, ACCEPT_PAUSE_NS, 0, on_accept_again, l, &l->pause_timer) == TB_OK)
                l->host->fd_modify(l->ctx, l->watch, 0);
            return;
        }
        tbp_tcp_sockaddr_text(&ss, host, sizeof host, &port);
        l->accepted(l->owner, c, host, port);
    }
}

void tbp_tcp_listen_close(tcp_listener *l) {
    if (l->pause_timer) l->host->timer_stop(l->ctx, l->pause_timer);
    l->pause_timer = 0;
    if (l->watch) l->host->fd_unwatch(l->ctx, l->watch);
    l->watch = 0;
    if (l->fd >= 0) close(l->fd);
    l->fd = -1;
}

int tbp_tcp_listen_release(tcp_listener *l) {
    int fd = l->fd;
    l->fd = -1;
    tbp_tcp_listen_close(l); /* unwatched, its timer stopped; fd is no longer its own */
    return fd;
}

int tbp_tcp_listen_adopt(tcp_listener *l, int fd) {
    l->fd = fd;
    if (l->host->fd_watch(l->ctx, fd, TB_FD_READ, on_accept, l, &l->watch) == TB_OK) return TB_OK;
    l->watch = 0;
    tbp_tcp_listen_close(l);
    return tb_fail(l->host, l->ctx, TB_EIO, "cannot listen on the socket handed over: fd_watch failed");
}

/* Opens, binds and listens on one address of the resolution; TB_OK, or TB_EIO with errno's
 * reason in *err. */
static int listen_on(tcp_listener *l, const struct addrinfo *ai, int *err) {
    int one = 1;
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) goto fail;
    /* a restarted server must not wait for the old connections' TIME_WAIT */
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, (int)l->backlog) != 0) goto fail_fd;
    l->fd = fd;
    return TB_OK;
fail_fd:
    *err = errno;
    close(fd);
    return TB_EIO;
fail:
    *err = errno;
    return TB_EIO;
}

int tbp_tcp_listen_open(tcp_listener *l) {
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    char port[8];
    int err = 0, rc;
    snprintf(port, sizeof port, "%u", (unsigned)l->addr.port);
    /* names resolve once per listen, on this thread (a numeric address needs no lookup) */
    rc = getaddrinfo(l->addr.host, port, &hints, &res);
    if (rc != 0)
        return tb_fail(l->host, l->ctx, TB_EIO, "cannot listen on %s: %s", l->where,
                       rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
    rc = TB_EIO;
    for (const struct addrinfo *ai = res; ai && rc != TB_OK; ai = ai->ai_next) rc = listen_on(l, ai, &err);
    freeaddrinfo(res);
    if (rc != TB_OK) return tb_fail(l->host, l->ctx, TB_EIO, "cannot listen on %s: %s", l->where, strerror(err));
    rc = l->host->fd_watch(l->ctx, l->fd, TB_FD_READ, on_accept, l, &l->watch);
    if (rc != TB_OK) {
        l->watch = 0;
        tbp_tcp_listen_close(l);
        return tb_fail(l->host, l->ctx, TB_EIO, "cannot listen on %s: fd_watch failed (%d)", l->where, rc);
    }
    return TB_OK;
}

void tbp_tcp_listen_announce(tcp_listener *l, uint32_t port_metric, bool tls) {
    struct sockaddr_storage bound;
    socklen_t len = sizeof bound;
    char host[INET6_ADDRSTRLEN];
    uint16_t bound_port;
    if (getsockname(l->fd, (struct sockaddr *)&bound, &len) == 0) {
        tbp_tcp_sockaddr_text(&bound, host, sizeof host, &bound_port);
        tbp_tcp_addr_format(host, bound_port, l->where, sizeof l->where);
        if (port_metric != UINT32_MAX) l->host->metric_set(l->ctx, port_metric, bound_port);
    }
    tb_log(l->host, l->ctx, TB_LOG_INFO, "listening on %s%s", l->where, tls ? " (TLS)" : "");
}
