/*
 * httpc_multi.c - libcurl's multi *socket* interface on the host's event loop: curl says
 * which sockets to watch for what (CURLMOPT_SOCKETFUNCTION) and when it next needs a call
 * (CURLMOPT_TIMERFUNCTION); those become host->fd_watch/fd_modify/fd_unwatch and one host
 * timer, whose callbacks hand readiness back through curl_multi_socket_action and then collect
 * finished transfers (curl_multi_info_read) for httpc_request.c. No thread of our own, and
 * nothing blocks: name lookups go through curl's threaded resolver (checked at init, see
 * httpc_plugin.c), connects and TLS are non-blocking inside curl.
 *
 * curl's own callbacks never call back into curl (curl forbids it): a timeout of 0 is served
 * by a host timer of 0 delay, on the next turn of the loop.
 *
 * Ownership: the multi handle and the socket records are the instance's; a socket itself is
 * curl's (it asks for REMOVE before closing it, and we unwatch then). Thread contract: the
 * instance's thread; the fd and timer callbacks run there.
 */
#include <stdio.h>

#include "httpc.h"

static void collect(httpc *c) {
    CURLMsg *msg;
    int left;
    while (c->multi && (msg = curl_multi_info_read(c->multi, &left)) != NULL) {
        if (msg->msg != CURLMSG_DONE) continue;
        httpc_req *req = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&req);
        CURLcode res = msg->data.result;
        /* msg belongs to curl and dies with the next call into it: nothing of it is used after */
        if (req) tbp_httpc_req_done(c, req, res);
    }
}

static void act(httpc *c, curl_socket_t s, int mask) {
    int running;
    if (!c->multi) return;
    curl_multi_socket_action(c->multi, s, mask, &running);
    collect(c);
}

static void TB_CALL on_fd(void *user, int fd, uint32_t events) {
    httpc_sock *s = user;
    int mask = 0;
    if (events & TB_FD_READ) mask |= CURL_CSELECT_IN;
    if (events & TB_FD_WRITE) mask |= CURL_CSELECT_OUT;
    if (events & TB_FD_ERROR) mask |= CURL_CSELECT_ERR;
    act(s->c, fd, mask);
}

static void TB_CALL on_timer(void *user, uint64_t id) {
    httpc *c = user;
    if (id == c->curl_timer) c->curl_timer = 0;
    act(c, CURL_SOCKET_TIMEOUT, 0);
}

static uint32_t interest(int what) {
    switch (what) {
    case CURL_POLL_IN: return TB_FD_READ;
    case CURL_POLL_OUT: return TB_FD_WRITE;
    case CURL_POLL_INOUT: return TB_FD_READ | TB_FD_WRITE;
    default: return 0;
    }
}

static void sock_free(httpc *c, httpc_sock *s) {
    if (s->watch_id) c->host->fd_unwatch(c->ctx, s->watch_id);
    if (s->prev) s->prev->next = s->next;
    else c->socks = s->next;
    if (s->next) s->next->prev = s->prev;
    /* no curl_multi_assign(NULL): on REMOVE curl forgets the socket itself */
    c->host->free(c->ctx, s);
}

static int on_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp) {
    httpc *c = userp;
    httpc_sock *s = socketp;
    (void)easy;
    if (what == CURL_POLL_REMOVE) {
        if (s) sock_free(c, s);
        return 0;
    }
    uint32_t ev = interest(what);
    if (s) {
        if (c->host->fd_modify(c->ctx, s->watch_id, ev) != TB_OK)
            tb_log(c->host, c->ctx, TB_LOG_ERROR, "cannot change the watch of socket %d", (int)fd);
        return 0;
    }
    s = c->host->alloc(c->ctx, sizeof *s);
    if (!s) {
        tb_log(c->host, c->ctx, TB_LOG_ERROR, "out of memory watching socket %d", (int)fd);
        return -1; /* curl fails the transfer */
    }
    memset(s, 0, sizeof *s);
    s->c = c;
    s->fd = fd;
    if (c->host->fd_watch(c->ctx, fd, ev, on_fd, s, &s->watch_id) != TB_OK) {
        tb_log(c->host, c->ctx, TB_LOG_ERROR, "cannot watch socket %d", (int)fd);
        c->host->free(c->ctx, s);
        return -1;
    }
    s->next = c->socks;
    if (c->socks) c->socks->prev = s;
    c->socks = s;
    curl_multi_assign(c->multi, fd, s);
    return 0;
}

static int on_curl_timer(CURLM *multi, long timeout_ms, void *userp) {
    httpc *c = userp;
    (void)multi;
    if (c->curl_timer) c->host->timer_stop(c->ctx, c->curl_timer);
    c->curl_timer = 0;
    if (timeout_ms < 0 || c->stopped) return 0;
    if (c->host->timer_start(c->ctx, (uint64_t)timeout_ms * 1000000u, 0, on_timer, c, &c->curl_timer) != TB_OK) {
        c->curl_timer = 0;
        tb_log(c->host, c->ctx, TB_LOG_ERROR, "cannot start a timer: requests may stall");
        return -1;
    }
    return 0;
}

int tbp_httpc_multi_open(httpc *c) {
    if (c->multi) return TB_OK;
    c->multi = curl_multi_init();
    if (!c->multi) return tb_fail(c->host, c->ctx, TB_ENOMEM, "cannot create a curl multi handle");
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
    /* connections are reused between requests: keep about as many as may be in flight */
    curl_multi_setopt(c->multi, CURLMOPT_MAXCONNECTS, (long)c->conf.concurrency + 1);
    return TB_OK;
}

void tbp_httpc_multi_close(httpc *c) {
    if (c->multi) {
        for (httpc_req *r = c->reqs; r; r = r->next)
            tbp_httpc_multi_remove(c, r);
        /* closing the cached connections may tell on_socket to remove their sockets */
        CURLM *m = c->multi;
        c->multi = NULL;
        curl_multi_cleanup(m);
    }
    while (c->socks) sock_free(c, c->socks);
    if (c->curl_timer) c->host->timer_stop(c->ctx, c->curl_timer);
    c->curl_timer = 0;
}

int tbp_httpc_multi_add(httpc *c, httpc_req *req) {
    if (!c->multi) {
        snprintf(req->err, sizeof req->err, "the connector is stopped");
        return TB_ECLOSED;
    }
    CURLMcode rc = curl_multi_add_handle(c->multi, req->easy);
    if (rc != CURLM_OK) {
        snprintf(req->err, sizeof req->err, "%s", curl_multi_strerror(rc));
        return TB_ERROR;
    }
    req->in_multi = true;
    return TB_OK;
}

void tbp_httpc_multi_remove(httpc *c, httpc_req *req) {
    if (c->multi && req->in_multi) curl_multi_remove_handle(c->multi, req->easy);
    req->in_multi = false;
}
