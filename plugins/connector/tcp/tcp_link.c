/*
 * tcp_link.c - one non-blocking TCP socket, plain or TLS, for both connectors: the connect
 * and handshake state machine, reads, writes buffered in order, and the readiness watch.
 *
 * Readiness. The runtime's loop is level-triggered, so the link watches only what it is
 * waiting for right now: the reader after a read said "would block", the writer while bytes
 * are buffered, connect and the handshake while they are under way. A socket with data that
 * is not read (the flow is paused or full) is therefore not reported again and again. An
 * error or hang-up, which epoll reports whatever the interest, ends the watch for good:
 * nothing on that socket can block any more (reads give the rest and the end, writes fail).
 * With TLS either direction may need the other (SSL_read wanting to write and SSL_write
 * wanting to read), which is why the reader and the writer each say what they wait for.
 *
 * Writes. A push hands bytes to tbp_tcp_link_send: on plain TCP they go straight to the
 * socket with sendmsg when nothing is buffered (MSG_NOSIGNAL: a closed peer is an error, not
 * a signal); what the socket does not take is copied, in order, into the link's buffer and
 * written as it becomes writable. Positions in the byte stream (queued, sent) tell which
 * pending batches are done (tcp_track.c). TLS bytes always go through the buffer: SSL_write
 * must be repeated with the same length after a "want", and records are better large.
 *
 * Ownership: the link owns its fd, SSL object, buffer and marks (host memory of its
 * instance). Thread contract: the instance's thread.
 */
#define _GNU_SOURCE
#include "tcp.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>

#define KEEP_BUFFER (64u * 1024u) /* an emptied buffer larger than this is given back */

static void TB_CALL on_fd(void *user, int fd, uint32_t events);

/* Registers, changes or leaves the watch so that it asks for what the link waits for. */
static int update_watch(tcp_link *l) {
    uint32_t want = l->rd_wait | l->wr_wait | l->hs_wait;
    int rc = TB_OK;
    if (l->fd < 0 || l->hup) return TB_OK;
    if (!l->watch_id) {
        if (!want) return TB_OK;
        rc = l->host->fd_watch(l->ctx, l->fd, want, on_fd, l, &l->watch_id);
        if (rc != TB_OK) l->watch_id = 0;
    } else if (want != l->watching) {
        /* interest 0 keeps the registration: epoll still reports an error or hang-up */
        rc = l->host->fd_modify(l->ctx, l->watch_id, want);
    }
    if (rc == TB_OK) l->watching = want;
    return rc;
}

static void release_marks(tcp_link *l, int status) {
    while (l->mcount) {
        tcp_mark m = l->marks[l->mhead];
        l->mhead = (l->mhead + 1) % l->mcap;
        l->mcount--;
        tbp_tcp_track_release(l->track, m.slot, status);
    }
}

void tbp_tcp_link_close(tcp_link *l, bool graceful, int status) {
    if (l->watch_id) l->host->fd_unwatch(l->ctx, l->watch_id);
    l->watch_id = 0;
    l->watching = 0;
    if (l->ssl) {
        /* one try at a close_notify: never wait for it */
        if (graceful && l->state == TCP_LINK_OPEN && !l->hup) {
            ERR_clear_error();
            SSL_shutdown(l->ssl);
        }
        SSL_free(l->ssl);
        l->ssl = NULL;
        ERR_clear_error();
    }
    if (l->fd >= 0) close(l->fd);
    l->fd = -1;
    /* bytes still buffered are lost: the batches they belong to failed */
    if (l->track) release_marks(l, status != TB_OK ? status : TB_ECLOSED);
    if (l->host) {
        l->host->free(l->ctx, l->out);
        l->host->free(l->ctx, l->marks);
    }
    l->out = NULL;
    l->marks = NULL;
    l->head = l->len = l->cap = 0;
    l->mhead = l->mcount = l->mcap = 0;
    if (l->over) tbp_tcp_track_over(l->track, false);
    l->over = false;
    l->rd_wait = l->wr_wait = l->hs_wait = 0;
    l->hup = false;
    l->ssl_retry = 0;
    if (l->state != TCP_LINK_BROKEN) l->state = TCP_LINK_CLOSED;
}

void tbp_tcp_link_fail(tcp_link *l, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(l->err, sizeof l->err, fmt, ap);
    va_end(ap);
    l->state = TCP_LINK_BROKEN;
    tbp_tcp_link_close(l, false, TB_ECLOSED);
}

int tbp_tcp_link_release(tcp_link *l) {
    int fd = l->fd;
    l->fd = -1;
    tbp_tcp_link_close(l, false, TB_OK); /* unwatched, its buffers freed; fd stays open */
    return fd;
}

int tbp_tcp_link_open(tcp_link *l, const tb_host_api *host, tb_context *ctx, tcp_track *track,
                      tcp_note_fn note, void *owner, int fd, SSL *ssl, uint32_t state) {
    memset(l, 0, sizeof *l);
    l->host = host;
    l->ctx = ctx;
    l->track = track;
    l->note = note;
    l->owner = owner;
    l->fd = fd;
    l->ssl = ssl;
    l->state = state;
    if (ssl && SSL_set_fd(ssl, fd) != 1) {
        char why[200];
        tbp_tcp_tls_error(why, sizeof why, "out of memory");
        tbp_tcp_link_fail(l, "cannot set up TLS: %s", why);
        return TB_EIO;
    }
    if (state == TCP_LINK_CONNECTING)
        l->hs_wait = TB_FD_WRITE; /* writable: connect finished, one way or the other */
    else if (state == TCP_LINK_HANDSHAKE)
        /* the server waits for the ClientHello; the client sends it once it may write */
        l->hs_wait = SSL_is_server(ssl) ? TB_FD_READ : TB_FD_WRITE;
    else
        l->rd_wait = TB_FD_READ;
    int rc = update_watch(l);
    if (rc != TB_OK) {
        tbp_tcp_link_fail(l, "cannot watch the socket: fd_watch failed (%d)", rc);
        return TB_EIO;
    }
    return TB_OK;
}

/* ---- writing ---------------------------------------------------------------------------- */

/* n more bytes went out: marks up to there are done. */
static void advance(tcp_link *l, size_t n) {
    l->head += n;
    l->len -= n;
    l->sent += n;
    while (l->mcount && l->marks[l->mhead].end <= l->sent) {
        tcp_mark m = l->marks[l->mhead];
        l->mhead = (l->mhead + 1) % l->mcap;
        l->mcount--;
        tbp_tcp_track_release(l->track, m.slot, TB_OK);
    }
}

int tbp_tcp_link_flush(tcp_link *l) {
    if (l->state == TCP_LINK_BROKEN) return TB_EIO;
    if (l->state != TCP_LINK_OPEN) return TB_OK; /* written once open */
    l->wr_wait = 0;
    while (l->len) {
        if (l->ssl) {
            int want = l->ssl_retry ? l->ssl_retry : (int)(l->len < INT_MAX ? l->len : INT_MAX);
            ERR_clear_error();
            errno = 0;
            int n = SSL_write(l->ssl, l->out + l->head, want);
            if (n > 0) {
                l->ssl_retry = 0;
                advance(l, (size_t)n);
                continue;
            }
            int e = SSL_get_error(l->ssl, n);
            if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) {
                l->ssl_retry = want; /* OpenSSL wants the same write again */
                l->wr_wait = e == SSL_ERROR_WANT_WRITE ? TB_FD_WRITE : TB_FD_READ;
                break;
            }
            char why[200];
            tbp_tcp_tls_error(why, sizeof why, e == SSL_ERROR_SYSCALL && errno ? strerror(errno)
                                                                               : "connection closed");
            tbp_tcp_link_fail(l, "cannot write: %s", why);
            return TB_EIO;
        }
        ssize_t n = send(l->fd, l->out + l->head, l->len, MSG_NOSIGNAL);
        if (n > 0) {
            advance(l, (size_t)n);
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            l->wr_wait = TB_FD_WRITE;
            break;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else {
            tbp_tcp_link_fail(l, "cannot write: %s", n < 0 ? strerror(errno) : "it took no bytes");
            return TB_EIO;
        }
    }
    if (!l->len) {
        l->head = 0;
        if (l->cap > KEEP_BUFFER) {
            l->host->free(l->ctx, l->out);
            l->out = NULL;
            l->cap = 0;
        }
    }
    if (l->over && l->len <= l->track->max_buffered / 2) {
        l->over = false;
        tbp_tcp_track_over(l->track, false);
    }
    if (l->wr_wait && l->hup) {
        tbp_tcp_link_fail(l, "cannot write: the connection is closed");
        return TB_EIO;
    }
    int rc = update_watch(l);
    if (rc != TB_OK) {
        tbp_tcp_link_fail(l, "cannot watch the socket: fd_modify failed (%d)", rc);
        return TB_EIO;
    }
    return TB_OK;
}

/* Room for n more buffered bytes, compacting or growing the buffer (OpenSSL accepts a moved
 * buffer for a repeated write: SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER). */
static bool reserve(tcp_link *l, size_t n) {
    if (l->cap - l->head - l->len >= n) return true;
    if (l->head && l->cap - l->len >= n) {
        memmove(l->out, l->out + l->head, l->len);
        l->head = 0;
        return true;
    }
    if (n > SIZE_MAX / 4 - l->len) return false;
    size_t ncap = l->cap ? l->cap : 4096;
    while (ncap - l->len < n) ncap *= 2;
    uint8_t *p = l->host->alloc(l->ctx, ncap);
    if (!p) return false;
    if (l->len) memcpy(p, l->out + l->head, l->len);
    l->host->free(l->ctx, l->out);
    l->out = p;
    l->cap = ncap;
    l->head = 0;
    return true;
}

int tbp_tcp_link_send(tcp_link *l, const struct iovec *iov, int cnt) {
    size_t total = 0, skip = 0;
    if (l->state == TCP_LINK_BROKEN || l->state == TCP_LINK_CLOSED) return TB_EIO;
    for (int i = 0; i < cnt; i++) total += iov[i].iov_len;
    if (!total) return TB_OK;
    l->queued += total;
    if (l->state == TCP_LINK_OPEN && !l->ssl && !l->len && !l->wr_wait) {
        /* nothing waits before these bytes: straight to the socket */
        struct msghdr msg = {.msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)cnt};
        ssize_t n;
        while ((n = sendmsg(l->fd, &msg, MSG_NOSIGNAL)) < 0 && errno == EINTR) {
        }
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
            tbp_tcp_link_fail(l, "cannot write: %s", strerror(errno));
            return TB_EIO;
        }
        if (n > 0) {
            skip = (size_t)n;
            l->sent += (uint64_t)n;
        }
        if (skip == total) return TB_OK;
        l->wr_wait = TB_FD_WRITE; /* the socket is full: wait before writing again */
    }
    if (!reserve(l, total - skip)) {
        tbp_tcp_link_fail(l, "out of memory buffering %zu bytes", total - skip);
        return TB_EIO;
    }
    for (int i = 0; i < cnt; i++) {
        size_t len = iov[i].iov_len;
        if (skip >= len) {
            skip -= len;
            continue;
        }
        memcpy(l->out + l->head + l->len, (const uint8_t *)iov[i].iov_base + skip, len - skip);
        l->len += len - skip;
        skip = 0;
    }
    if (!l->over && l->len > l->track->max_buffered) {
        l->over = true;
        tbp_tcp_track_over(l->track, true);
    }
    if (l->state != TCP_LINK_OPEN) return TB_OK;
    if (l->wr_wait) {
        int rc = update_watch(l);
        if (rc == TB_OK) return TB_OK;
        tbp_tcp_link_fail(l, "cannot watch the socket: fd_modify failed (%d)", rc);
        return TB_EIO;
    }
    return tbp_tcp_link_flush(l);
}

bool tbp_tcp_link_mark(tcp_link *l, uint32_t slot) {
    if (!l->len) return true;
    if (l->mcount) {
        tcp_mark *last = &l->marks[(l->mhead + l->mcount - 1) % l->mcap];
        if (last->slot == slot) {
            last->end = l->queued;
            return true;
        }
    }
    if (l->mcount == l->mcap) {
        uint32_t ncap = l->mcap ? l->mcap * 2 : 8;
        tcp_mark *n = l->host->alloc(l->ctx, (size_t)ncap * sizeof *n);
        if (!n) return false;
        for (uint32_t i = 0; i < l->mcount; i++) n[i] = l->marks[(l->mhead + i) % l->mcap];
        l->host->free(l->ctx, l->marks);
        l->marks = n;
        l->mcap = ncap;
        l->mhead = 0;
    }
    l->marks[(l->mhead + l->mcount++) % l->mcap] = (tcp_mark){l->queued, slot};
    tbp_tcp_track_hold(l->track, slot);
    return true;
}

/* ---- reading ---------------------------------------------------------------------------- */

int tbp_tcp_link_read(tcp_link *l, void *buf, size_t cap, size_t *got) {
    *got = 0;
    if (l->state == TCP_LINK_BROKEN || l->state == TCP_LINK_CLOSED) return TB_EIO;
    if (l->state != TCP_LINK_OPEN) return TB_EAGAIN; /* OPENED is noted once it is */
    if (l->ssl) {
        ERR_clear_error();
        errno = 0;
        int n = SSL_read(l->ssl, buf, (int)(cap < INT_MAX ? cap : INT_MAX));
        if (n > 0) {
            *got = (size_t)n;
            return TB_OK;
        }
        int e = SSL_get_error(l->ssl, n);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
            if (l->hup) return TB_EOF; /* nothing more will come */
            l->rd_wait = e == SSL_ERROR_WANT_READ ? TB_FD_READ : TB_FD_WRITE;
        } else if (e == SSL_ERROR_ZERO_RETURN || (e == SSL_ERROR_SYSCALL && !errno)) {
            ERR_clear_error();
            return TB_EOF;
        } else {
            char why[200];
            tbp_tcp_tls_error(why, sizeof why, e == SSL_ERROR_SYSCALL ? strerror(errno) : "TLS error");
            tbp_tcp_link_fail(l, "cannot read: %s", why);
            return TB_EIO;
        }
    } else {
        ssize_t n;
        while ((n = recv(l->fd, buf, cap, 0)) < 0 && errno == EINTR) {
        }
        if (n > 0) {
            *got = (size_t)n;
            return TB_OK;
        }
        if (n == 0) return TB_EOF;
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            tbp_tcp_link_fail(l, "cannot read: %s", strerror(errno));
            return TB_EIO;
        }
        if (l->hup) return TB_EOF;
        l->rd_wait = TB_FD_READ;
    }
    int rc = update_watch(l);
    if (rc != TB_OK) {
        tbp_tcp_link_fail(l, "cannot watch the socket: fd_modify failed (%d)", rc);
        return TB_EIO;
    }
    return TB_EAGAIN;
}

int tbp_tcp_read_chunk(tcp_link *l, tb_arena *a, uint8_t *scratch, size_t chunk, const uint8_t **data,
                       size_t *got) {
    *data = NULL;
    int rc = tbp_tcp_link_read(l, scratch, chunk, got);
    if (rc != TB_OK) return rc;
    /* most reads are short: only what was read takes room in the arena (a chunk-sized
     * allocation per read would hold buf_size bytes for every few bytes of input, and the
     * runtime's arenas give a large allocation a block of its own that cannot shrink) */
    if (!(*data = (const uint8_t *)tb_arena_dup(a, scratch, *got))) return TB_ENOMEM;
    return TB_OK;
}

/* ---- connect, handshake, readiness -------------------------------------------------------- */

/* Becomes open: the reader may read, and what was buffered meanwhile goes out. */
static uint32_t opened(tcp_link *l) {
    l->state = TCP_LINK_OPEN;
    l->hs_wait = 0;
    if (tbp_tcp_link_flush(l) != TB_OK) return TCP_NOTE_BROKEN;
    return TCP_NOTE_OPENED | TCP_NOTE_READABLE;
}

static uint32_t handshake(tcp_link *l) {
    ERR_clear_error();
    errno = 0;
    int r = SSL_do_handshake(l->ssl);
    if (r == 1) return opened(l);
    int e = SSL_get_error(l->ssl, r);
    if ((e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) && !l->hup) {
        l->hs_wait = e == SSL_ERROR_WANT_READ ? TB_FD_READ : TB_FD_WRITE;
        return 0;
    }
    char why[200];
    long v = SSL_get_verify_result(l->ssl);
    if (v != X509_V_OK)
        snprintf(why, sizeof why, "certificate verification failed: %s",
                 X509_verify_cert_error_string(v));
    else
        tbp_tcp_tls_error(why, sizeof why,
                          e == SSL_ERROR_SYSCALL && errno ? strerror(errno) : "the peer closed the connection");
    tbp_tcp_link_fail(l, "TLS handshake failed: %s", why);
    return TCP_NOTE_BROKEN;
}

static uint32_t finish_connect(tcp_link *l) {
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(l->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
    if (err) {
        tbp_tcp_link_fail(l, "cannot connect: %s", strerror(err));
        return TCP_NOTE_BROKEN;
    }
    if (!l->ssl) return opened(l);
    l->state = TCP_LINK_HANDSHAKE;
    return handshake(l);
}

static void TB_CALL on_fd(void *user, int fd, uint32_t events) {
    tcp_link *l = user;
    uint32_t notes = 0;
    (void)fd;
    if (events & TB_FD_ERROR) {
        /* reported whatever the interest: stop watching, nothing can block any more */
        l->host->fd_unwatch(l->ctx, l->watch_id);
        l->watch_id = 0;
        l->watching = 0;
        l->hup = true;
        events |= TB_FD_READ | TB_FD_WRITE;
    }
    if (l->state == TCP_LINK_CONNECTING && (events & l->hs_wait)) {
        notes |= finish_connect(l);
    } else if (l->state == TCP_LINK_HANDSHAKE && (events & l->hs_wait)) {
        notes |= handshake(l);
    } else if (l->state == TCP_LINK_OPEN) {
        if ((events & l->rd_wait) || l->hup) {
            l->rd_wait = 0;
            notes |= TCP_NOTE_READABLE;
        }
        if (events & l->wr_wait) {
            uint64_t before = l->sent;
            if (tbp_tcp_link_flush(l) != TB_OK) notes |= TCP_NOTE_BROKEN;
            else if (l->sent != before) notes |= TCP_NOTE_FLUSHED;
        }
    }
    if (l->state != TCP_LINK_BROKEN) {
        int rc = update_watch(l);
        if (rc != TB_OK) {
            tbp_tcp_link_fail(l, "cannot watch the socket (%d)", rc);
            notes |= TCP_NOTE_BROKEN;
        }
    }
    if (notes && l->note) l->note(l->owner, l, notes);
}

bool tbp_tcp_link_shutdown_write(tcp_link *l) {
    if (l->state != TCP_LINK_OPEN || l->len || l->ssl) return false;
    return shutdown(l->fd, SHUT_WR) == 0;
}
