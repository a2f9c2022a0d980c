/* admin.c - the admin thread: the Unix socket (one JSON request per line, one response per
 * line), the plugin watcher, the HTTP transport, and the reaper of retired plugins. */
#define _GNU_SOURCE
#include "admin/admin.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/log.h"
#include "engine/plugins.h"
#include "host/loop.h"

/* A request line longer than this is refused (a deployment is sent by path, not inline). */
#define MAX_REQUEST (1u << 20)
#define MAX_CLIENTS 64

typedef struct client {
    struct tbr_admin *admin;
    int fd;
    uint64_t watch;
    char *buf;
    size_t len, cap;
} client;

struct tbr_admin {
    tbr_engine *engine;
    tbr_loop *loop;
    pthread_t thread;
    _Atomic bool stop;
    pthread_mutex_t exec_lock; /* one request at a time, whichever transport */
    char *socket_path;
    int listen_fd;
    uint64_t listen_watch, reap_timer;
    client *clients[MAX_CLIENTS];
    tbr_plugin_watch *watch;
    tbr_admin_http *http;
};

char *tbr_admin_execute(tbr_admin *a, const char *request, size_t len) {
    pthread_mutex_lock(&a->exec_lock);
    char *resp = tbr_admin_run_command(a->engine, request, len);
    pthread_mutex_unlock(&a->exec_lock);
    return resp;
}

static void client_close(client *c) {
    tbr_admin *a = c->admin;
    for (int i = 0; i < MAX_CLIENTS; i++)
        if (a->clients[i] == c) a->clients[i] = NULL;
    tbr_loop_unwatch(a->loop, c->watch);
    close(c->fd);
    free(c->buf);
    free(c);
}

/* Writes all of s (the socket is blocking for writes: responses are small and the client
 * waits for them). */
static bool write_all(int fd, const char *s, size_t n) {
    while (n) {
        ssize_t put = send(fd, s, n, MSG_NOSIGNAL);
        if (put < 0 && errno == EINTR) continue;
        if (put <= 0) return false;
        s += put;
        n -= (size_t)put;
    }
    return true;
}

/* Runs every complete line in c's buffer; false when the client is to be closed. */
static bool run_lines(client *c) {
    size_t start = 0;
    for (size_t i = 0; i < c->len; i++) {
        if (c->buf[i] != '\n') continue;
        size_t n = i - start;
        if (n) {
            char *resp = tbr_admin_execute(c->admin, c->buf + start, n);
            bool ok = resp && write_all(c->fd, resp, strlen(resp));
            free(resp);
            if (!ok) return false;
        }
        start = i + 1;
    }
    memmove(c->buf, c->buf + start, c->len - start);
    c->len -= start;
    return true;
}

static void TB_CALL on_client(void *user, int fd, uint32_t events) {
    client *c = user;
    (void)events;
    for (;;) {
        if (c->cap - c->len < 4096) {
            size_t ncap = c->cap ? c->cap * 2 : 8192;
            char *nb = ncap <= MAX_REQUEST + 8192 ? realloc(c->buf, ncap) : NULL;
            if (!nb) {
                static const char too_long[] = "{\"ok\":false,\"error\":\"the request is longer than 1 MiB\"}\n";
                write_all(fd, too_long, sizeof too_long - 1);
                client_close(c);
                return;
            }
            c->buf = nb;
            c->cap = ncap;
        }
        ssize_t got = recv(fd, c->buf + c->len, c->cap - c->len, MSG_DONTWAIT);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
        if (got <= 0) {
            /* a last request without a newline still counts */
            if (c->len && c->len < c->cap) {
                c->buf[c->len++] = '\n';
                run_lines(c);
            }
            client_close(c);
            return;
        }
        c->len += (size_t)got;
        if (!run_lines(c)) {
            client_close(c);
            return;
        }
    }
}

static void TB_CALL on_accept(void *user, int fd, uint32_t events) {
    tbr_admin *a = user;
    (void)events;
    int cfd;
    while ((cfd = accept4(fd, NULL, NULL, SOCK_CLOEXEC)) >= 0) {
        int slot = -1;
        for (int i = 0; i < MAX_CLIENTS && slot < 0; i++)
            if (!a->clients[i]) slot = i;
        client *c = slot >= 0 ? calloc(1, sizeof *c) : NULL;
        if (!c) {
            static const char busy[] = "{\"ok\":false,\"error\":\"too many admin connections\"}\n";
            write_all(cfd, busy, sizeof busy - 1);
            close(cfd);
            continue;
        }
        *c = (client){.admin = a, .fd = cfd};
        if (tbr_loop_watch(a->loop, cfd, TB_FD_READ, on_client, c, &c->watch) != TB_OK) {
            close(cfd);
            free(c);
            continue;
        }
        a->clients[slot] = c;
    }
}

static void TB_CALL on_reap(void *user, uint64_t id) {
    (void)id;
    tbr_admin *a = user;
    pthread_mutex_lock(&a->exec_lock);
    tbr_engine_reap_plugins(a->engine);
    pthread_mutex_unlock(&a->exec_lock);
}

/* Binds the Unix socket at path, owner-only (0600). A socket file nobody listens on (a
 * runtime that crashed) is replaced; one somebody listens on is not. */
static int listen_unix(tbr_admin *a, const char *path, char *err, size_t n) {
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof sa.sun_path) {
        snprintf(err, n, "admin socket %s: the path is longer than %zu bytes", path, sizeof sa.sun_path - 1);
        return TB_EINVAL;
    }
    strcpy(sa.sun_path, path);
    int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (probe >= 0 && connect(probe, (struct sockaddr *)&sa, sizeof sa) == 0) {
        close(probe);
        snprintf(err, n, "admin socket %s: another runtime is listening there", path);
        return TB_EINVAL;
    }
    if (probe >= 0) close(probe);
    struct stat st;
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            snprintf(err, n, "admin socket %s: a file that is not a socket is in the way", path);
            return TB_EINVAL;
        }
        unlink(path);
    }
    a->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    mode_t old = umask(0177);
    int rc = a->listen_fd < 0 ? -1 : bind(a->listen_fd, (struct sockaddr *)&sa, sizeof sa);
    umask(old);
    if (rc || listen(a->listen_fd, 16)) {
        snprintf(err, n, "admin socket %s: %s", path, strerror(errno));
        return TB_EIO;
    }
    a->socket_path = strdup(path);
    return tbr_loop_watch(a->loop, a->listen_fd, TB_FD_READ, on_accept, a, &a->listen_watch);
}

/* Frees what the admin owns once no thread of it runs. */
static void release(tbr_admin *a) {
    for (int i = 0; i < MAX_CLIENTS; i++)
        if (a->clients[i]) client_close(a->clients[i]);
    tbr_plugin_watch_stop(a->watch);
    if (a->listen_fd >= 0) close(a->listen_fd);
    if (a->socket_path) unlink(a->socket_path);
    free(a->socket_path);
    tbr_loop_free(a->loop);
    pthread_mutex_destroy(&a->exec_lock);
    free(a);
}

static void *admin_main(void *arg) {
    tbr_admin *a = arg;
    while (!atomic_load(&a->stop)) tbr_loop_run_once(a->loop, -1);
    return NULL;
}

tbr_admin *tbr_admin_start(tbr_engine *e, const tbr_admin_opts *o, char *err, size_t n) {
    tbr_admin *a = calloc(1, sizeof *a);
    if (!a) return NULL;
    /* the threads started here (ours, libmicrohttpd's) leave signals to the control thread */
    sigset_t all, saved;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &saved);
    a->engine = e;
    a->listen_fd = -1;
    pthread_mutex_init(&a->exec_lock, NULL);
    if (!(a->loop = tbr_loop_new())) goto fail;
    if (o->socket_path && listen_unix(a, o->socket_path, err, n)) goto fail;
    if (o->watch_plugins && !(a->watch = tbr_plugin_watch_start(a, e, a->loop, err, n))) goto fail;
    if (o->http_addr && !(a->http = tbr_admin_http_start(a, o->http_addr, o->token, err, n))) goto fail;
    if (tbr_loop_timer_start(a->loop, 200000000ull, 200000000ull, on_reap, a, &a->reap_timer)) goto fail;
    if (pthread_create(&a->thread, NULL, admin_main, a)) {
        snprintf(err, n, "cannot start the admin thread");
        goto fail;
    }
    pthread_sigmask(SIG_SETMASK, &saved, NULL);
    if (a->socket_path) tbr_log(TB_LOG_INFO, "admin", "listening on %s", a->socket_path);
    return a;
fail:
    pthread_sigmask(SIG_SETMASK, &saved, NULL);
    if (!err[0]) snprintf(err, n, "cannot start the admin interface: out of memory");
    tbr_admin_http_stop(a->http);
    release(a);
    return NULL;
}

void tbr_admin_stop(tbr_admin *a) {
    if (!a) return;
    /* HTTP first: its own threads call in */
    tbr_admin_http_stop(a->http);
    atomic_store(&a->stop, true);
    tbr_loop_wake(a->loop);
    pthread_join(a->thread, NULL);
    release(a);
}
