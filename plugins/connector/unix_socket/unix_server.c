/*
 * unix_server.c - `unix_socket_server`'s socket: bind, permissions, listen, accept.
 *
 * A socket file left at path by a server that died (nobody accepts on it: connect says
 * ECONNREFUSED) is removed and the path bound again. A path where a server listens is
 * refused, and so is one that holds anything but a socket: a server never removes what it
 * did not leave there. The file gets its permissions before listen, so no client connects
 * through looser ones. At stop the file is removed if it is still the one this instance
 * bound.
 *
 * Accepting runs in the listener's fd callback, not in pull, so connections are taken (and
 * refused over max_connections: accepted and closed at once, so the peer sees the end rather
 * than hanging in the backlog) even while the flow is paused. Out of file descriptors, the
 * listener is left alone for a moment: it would stay readable and spin the loop.
 *
 * Ownership: the listening fd, its watch and the retry timer are the instance's. Thread
 * contract: the instance's thread (tbp_us_unlisten also at destroy).
 */
#define _GNU_SOURCE
#include "unix_socket.h"

#include <errno.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define ACCEPT_BURST 64           /* connections taken per callback: the loop has other fds */
#define ACCEPT_RETRY_NS 100000000u /* out of fds: try again after 100 ms */

static void address(const us_inst *u, struct sockaddr_un *a, socklen_t *len) {
    memset(a, 0, sizeof *a);
    a->sun_family = AF_UNIX;
    size_t n = strlen(u->path); /* create checked it fits */
    memcpy(a->sun_path, u->path, n);
    *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
}

static void TB_CALL on_accept(void *user, int fd, uint32_t events);

static int watch_listener(us_inst *u) {
    int rc = u->host->fd_watch(u->ctx, u->listen_fd, TB_FD_READ, on_accept, u, &u->listen_watch);
    if (rc != TB_OK) {
        u->listen_watch = 0;
        return tb_fail(u->host, u->ctx, TB_EIO, "%s: cannot watch the socket: fd_watch failed (%d)",
                       u->path, rc);
    }
    return TB_OK;
}

static void TB_CALL accept_again(void *user, uint64_t timer_id) {
    us_inst *u = user;
    (void)timer_id;
    u->accept_timer = 0;
    if (u->listen_fd >= 0 && !u->listen_watch && watch_listener(u) != TB_OK)
        tb_log(u->host, u->ctx, TB_LOG_ERROR, "%s: accepting no more connections: cannot watch the socket",
               u->path);
}

static void pause_accepting(us_inst *u, const char *why) {
    tbp_us_warn_limited(u, &u->refused, "%s: cannot accept a connection: %s; trying again shortly",
                        u->path, why);
    if (u->listen_watch) u->host->fd_unwatch(u->ctx, u->listen_watch);
    u->listen_watch = 0;
    if (!u->accept_timer &&
        u->host->timer_start(u->ctx, ACCEPT_RETRY_NS, 0, accept_again, u, &u->accept_timer) != TB_OK) {
        u->accept_timer = 0;
        accept_again(u, 0); /* no timer: watch again at once rather than never */
    }
}

static void take(us_inst *u, int cfd) {
    struct ucred cred;
    socklen_t len = sizeof cred;
    if (u->nlive >= u->max_connections) {
        tbp_us_warn_limited(u, &u->refused,
                            "%s: refusing a connection: %u connections already (max_connections)",
                            u->path, u->nlive);
        close(cfd);
        return;
    }
    us_conn *c = tbp_us_conn_new(u, cfd);
    if (!c) {
        tbp_us_warn_limited(u, &u->refused, "%s: refusing a connection: out of memory", u->path);
        return;
    }
    if (getsockopt(cfd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0) {
        c->has_cred = true;
        c->pid = cred.pid;
        c->uid = cred.uid;
        c->gid = cred.gid;
    }
    if (c->has_cred)
        tb_log(u->host, u->ctx, TB_LOG_DEBUG, "%s: connection (stream %u) from pid %d, uid %u",
               u->path, c->stream, (int)c->pid, (unsigned)c->uid);
    /* registered with no interest: a hang-up is still reported; the first pull reads it */
    if (tbp_us_conn_watch(u, c) != TB_OK) tbp_us_conn_give_up(u, c);
}

static void TB_CALL on_accept(void *user, int fd, uint32_t events) {
    us_inst *u = user;
    (void)events;
    for (int k = 0; k < ACCEPT_BURST; k++) {
        int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (cfd >= 0) {
            take(u, cfd);
            continue;
        }
        if (errno == EINTR || errno == ECONNABORTED) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return;
        pause_accepting(u, strerror(errno)); /* EMFILE, ENFILE, ENOBUFS, ENOMEM */
        return;
    }
}

/* The path is taken (bind said EADDRINUSE): removes a stale socket file, or fails. */
static int clear_stale(us_inst *u) {
    struct sockaddr_un a;
    socklen_t len;
    struct stat st;
    if (lstat(u->path, &st) != 0)
        return TB_OK; /* gone meanwhile: bind again */
    if (!S_ISSOCK(st.st_mode))
        return tb_fail(u->host, u->ctx, TB_EIO, "%s exists and is not a socket: not replacing it",
                       u->path);
    int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (probe < 0)
        return tb_fail(u->host, u->ctx, TB_EIO, "%s: cannot make a socket: %s", u->path, strerror(errno));
    address(u, &a, &len);
    int r = connect(probe, (const struct sockaddr *)&a, len), e = errno;
    close(probe);
    if (r == 0 || e == EAGAIN || e == EINPROGRESS)
        return tb_fail(u->host, u->ctx, TB_EIO, "%s: another server is listening on it", u->path);
    if (e != ECONNREFUSED)
        return tb_fail(u->host, u->ctx, TB_EIO, "%s: cannot tell whether a server listens on it: %s",
                       u->path, strerror(e));
    if (unlink(u->path) != 0 && errno != ENOENT)
        return tb_fail(u->host, u->ctx, TB_EIO, "%s: cannot remove the stale socket: %s", u->path,
                       strerror(errno));
    tb_log(u->host, u->ctx, TB_LOG_INFO, "%s: removed a stale socket file", u->path);
    return TB_OK;
}

int tbp_us_listen(us_inst *u) {
    struct sockaddr_un a;
    socklen_t len;
    struct stat st;
    int rc;
    if (u->listen_fd >= 0) return TB_OK;
    address(u, &a, &len);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return tb_fail(u->host, u->ctx, TB_EIO, "%s: cannot make a socket: %s", u->path, strerror(errno));
    if (bind(fd, (const struct sockaddr *)&a, len) != 0) {
        if (errno != EADDRINUSE) goto fail_bind;
        if ((rc = clear_stale(u)) != TB_OK) goto fail_fd;
        if (bind(fd, (const struct sockaddr *)&a, len) != 0) goto fail_bind;
    }
    if (stat(u->path, &st) != 0) {
        rc = tb_fail(u->host, u->ctx, TB_EIO, "%s: cannot stat the socket: %s", u->path, strerror(errno));
        goto fail_fd;
    }
    u->dev = st.st_dev;
    u->ino = st.st_ino;
    if (u->mode >= 0 && chmod(u->path, (mode_t)u->mode) != 0) {
        rc = tb_fail(u->host, u->ctx, TB_EIO, "%s: cannot set its permissions to %04o: %s", u->path,
                     (unsigned)u->mode, strerror(errno));
        goto fail_unlink;
    }
    if (listen(fd, SOMAXCONN) != 0) {
        rc = tb_fail(u->host, u->ctx, TB_EIO, "%s: cannot listen: %s", u->path, strerror(errno));
        goto fail_unlink;
    }
    u->listen_fd = fd;
    if ((rc = watch_listener(u)) != TB_OK) {
        u->listen_fd = -1;
        goto fail_unlink;
    }
    return TB_OK;

fail_bind:
    rc = tb_fail(u->host, u->ctx, TB_EIO, "%s: cannot bind: %s", u->path, strerror(errno));
    goto fail_fd;
fail_unlink:
    unlink(u->path);
fail_fd:
    close(fd);
    return rc;
}

int tbp_us_release_listener(us_inst *u) {
    int fd = u->listen_fd;
    u->listen_fd = -1; /* so unlisten neither closes it nor removes the file the new build serves */
    tbp_us_unlisten(u);
    return fd;
}

int tbp_us_adopt_listener(us_inst *u, int fd, dev_t dev, ino_t ino) {
    u->listen_fd = fd;
    u->dev = dev;
    u->ino = ino;
    if (watch_listener(u) == TB_OK) return TB_OK;
    close(fd);
    u->listen_fd = -1;
    return TB_EIO;
}

void tbp_us_unlisten(us_inst *u) {
    struct stat st;
    if (u->accept_timer) u->host->timer_stop(u->ctx, u->accept_timer);
    u->accept_timer = 0;
    if (u->listen_watch) u->host->fd_unwatch(u->ctx, u->listen_watch);
    u->listen_watch = 0;
    if (u->listen_fd < 0) return;
    close(u->listen_fd);
    u->listen_fd = -1;
    /* only our own socket file: another server may have taken the path since */
    if (stat(u->path, &st) == 0 && st.st_dev == u->dev && st.st_ino == u->ino) unlink(u->path);
}
