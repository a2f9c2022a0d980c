/*
 * ws_server.c - the `ws_server` connector, as Tremor's: it listens on url, optionally over TLS,
 * and answers every WebSocket upgrade request (RFC 6455 section 4) for its path; every
 * connection is a stream. Its source half emits each message as one raw event on that stream
 * (ws_server_io.c); its sink half sends each event as one message to the connection its
 * stream (or $ws_server.stream) names. This file holds the options, the lifecycle, listening,
 * accepting, the handshake, keep-alive pings and the end of connections.
 *
 * Limits: connections past max_connections are accepted and closed at once (refused), counted
 * and logged; a handshake head is at most 8 KiB and must arrive, with the TLS handshake,
 * within handshake_timeout_ms; a bad request is answered with its HTTP status (400, 404 for
 * another path, 405, 426 for another protocol version, 431) and closed; a message over
 * max_message closes its connection with status 1009, a protocol error with 1002 (both
 * counted and logged); unsent bytes past max_buffered on a connection open the circuit
 * breaker; with ping_interval_ms, a peer that answered nothing for a whole interval is
 * dropped.
 *
 * The listening socket is opened in connect, so a port in use is an I/O error the runtime
 * retries with backoff (reconnect). No save/restore: sockets and TLS sessions are not handed
 * over on a reload.
 *
 * Ownership and threads: see ws_server.h.
 */
#define _GNU_SOURCE
#include "ws_server.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#define ACCEPTS_PER_CALL 64
#define ACCEPT_PAUSE_NS 100000000ull
#define CLOSING_NS 5000000000ull /* a finished connection whose peer reads nothing: 5 s */
#define LINGER_NS 2000000000ull  /* after our close or refusal, the peer has 2 s to close too */
#define MAX_CONNECTIONS_LIMIT 1000000u

static const tb_option options[] = {
    TB_OPTION("url", TB_OPT_STRING, NULL, TB_OPT_REQUIRED,
              "where to listen: \"host:port\", optionally with ws:// (\"0.0.0.0:8080\"); port 0 picks a free one"),
    TB_OPTION("path", TB_OPT_STRING, NULL, 0, "the only request path to accept (\"/ws\"); others get 404. Default: any"),
    TB_OPTION("backlog", TB_OPT_UINT, "128", 0, "connections the kernel queues before they are accepted"),
    TB_OPTION("max_connections", TB_OPT_UINT, "1024", 0,
              "connections open at once; more are accepted and closed at once (refused)"),
    TB_OPTION("max_message", TB_OPT_UINT, WS_DEFAULT_MAX_MESSAGE, 0,
              "the largest message accepted, in bytes; a larger one closes its connection with status 1009"),
    TB_OPTION("ping_interval_ms", TB_OPT_UINT, "0", 0,
              "send a ping this often; a peer that answered nothing for a whole interval is dropped (0: no pings)"),
    TB_OPTION("binary", TB_OPT_BOOL, "false", 0,
              "send answers as binary messages (else text, unless $ws_server.binary or $ws.binary says otherwise)"),
    TB_OPTION("no_delay", TB_OPT_BOOL, "true", 0, "TCP_NODELAY on accepted connections"),
    TB_OPTION("max_buffered", TB_OPT_UINT, "4194304", 0,
              "unsent bytes one connection may hold before the circuit breaker pauses the sources feeding the sink"),
    TB_OPTION("handshake_timeout_ms", TB_OPT_UINT, "10000", 0,
              "drop a connection whose TLS and WebSocket handshakes take longer"),
    TB_OPTION("tls", TB_OPT_OBJECT, NULL, 0,
              "serve wss: {\"cert\": PEM chain, \"key\": PEM key, \"cafile\": CA to require client certificates (optional)}"),
};

void tbp_ws_server_count(ws_server *s, uint32_t id, int64_t delta) {
    if (id != UINT32_MAX) s->host->metric_add(s->ctx, id, delta);
}

static void metric(ws_server *s, const char *name, uint32_t type, uint32_t *id) {
    if (s->host->metric_register(s->ctx, name, type, id) != TB_OK) *id = UINT32_MAX;
}

/* The first ten, then every thousandth: a flood must not flood the log too. */
static bool worth_logging(uint64_t n) { return n <= 10 || n % 1000 == 0; }

/* ---- the connection table and the ready list ---------------------------------------------- */

static uint32_t table_index(const ws_server *s, uint32_t seq) {
    uint32_t lo = 0, hi = s->nconns;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (s->conns[mid]->seq < seq) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

ws_sconn *tbp_ws_server_find(ws_server *s, uint32_t stream) {
    uint32_t i = table_index(s, stream - s->stream_base);
    return i < s->nconns && s->conns[i]->stream == stream ? s->conns[i] : NULL;
}

static void table_remove(ws_server *s, ws_sconn *c) {
    uint32_t i = table_index(s, c->seq);
    if (i < s->nconns && s->conns[i] == c) {
        memmove(&s->conns[i], &s->conns[i + 1], (s->nconns - i - 1) * sizeof *s->conns);
        s->nconns--;
    }
}

void tbp_ws_server_ready(ws_server *s, ws_sconn *c, bool ready) {
    if (ready == c->ready) return;
    c->ready = ready;
    if (ready) {
        c->prev = s->ready_tail;
        c->next = NULL;
        if (s->ready_tail) s->ready_tail->next = c;
        else s->ready_head = c;
        s->ready_tail = c;
        return;
    }
    if (c->prev) c->prev->next = c->next;
    else s->ready_head = c->next;
    if (c->next) c->next->prev = c->prev;
    else s->ready_tail = c->prev;
    c->prev = c->next = NULL;
}

void tbp_ws_server_rotate(ws_server *s) {
    ws_sconn *c = s->ready_head;
    if (!c || c == s->ready_tail) return;
    tbp_ws_server_ready(s, c, false);
    tbp_ws_server_ready(s, c, true);
}

/* ---- the end of a connection ------------------------------------------------------------- */

static void queue_end(ws_server *s, ws_sconn *c) {
    if (!c->has_data || c->ended) return;
    c->ended = true;
    if (s->nends == s->ends_cap) {
        uint32_t ncap = s->ends_cap ? s->ends_cap * 2 : 16;
        ws_end *n = s->host->realloc(s->ctx, s->ends, (size_t)ncap * sizeof *n);
        if (!n) {
            tb_log(s->host, s->ctx, TB_LOG_ERROR, "out of memory ending stream %u", c->stream);
            return;
        }
        s->ends = n;
        s->ends_cap = ncap;
    }
    s->ends[s->nends++] = (ws_end){c->stream, c->next_id};
}

void tbp_ws_server_drop(ws_server *s, ws_sconn *c, const char *why) {
    if (why)
        tb_log(s->host, s->ctx, TB_LOG_INFO, "connection from %s:%u (stream %u) closed: %s", c->host,
               (unsigned)c->port, c->stream, why);
    else
        tb_log(s->host, s->ctx, TB_LOG_DEBUG, "connection from %s:%u (stream %u) closed", c->host,
               (unsigned)c->port, c->stream);
    queue_end(s, c);
    tbp_ws_server_ready(s, c, false);
    table_remove(s, c);
    if (c->timer_id) s->host->timer_stop(s->ctx, c->timer_id);
    tbp_ws_conn_free(&c->ws, !why, TB_ECLOSED);
    tbp_ws_server_count(s, s->m_open, -1);
    s->host->free(s->ctx, c);
}

static void TB_CALL on_deadline(void *user, uint64_t timer_id) {
    ws_sconn *c = user;
    (void)timer_id;
    c->timer_id = 0;
    if (c->ws.phase == WS_PHASE_HTTP) {
        ws_server *s = c->srv;
        s->bad_handshakes++;
        tbp_ws_server_count(s, s->m_bad_handshakes, 1);
        tbp_ws_server_drop(s, c, c->ws.link.state == TCP_LINK_HANDSHAKE ? "the TLS handshake timed out"
                                                                        : "the WebSocket handshake timed out");
    } else if (c->ws.phase == WS_PHASE_CLOSING) {
        tbp_ws_server_drop(c->srv, c, c->lingering || !c->ws.link.len ? NULL : "the peer read nothing of the close");
    }
}

static void arm(ws_server *s, ws_sconn *c, uint64_t ns) {
    if (c->timer_id) s->host->timer_stop(s->ctx, c->timer_id);
    c->timer_id = 0;
    if (s->host->timer_start(s->ctx, ns, 0, on_deadline, c, &c->timer_id) != TB_OK) c->timer_id = 0;
}

/* Lingering: our FIN goes once everything is written, and what the peer still sends is read
 * and dropped until it closes too, so that closing never resets a connection whose last
 * answer (a close frame, an HTTP refusal) the peer has not read yet. */
static void linger_step(ws_server *s, ws_sconn *c) {
    uint8_t sink[4096];
    size_t got;
    if (!c->ws.link.len && !c->half_closed && c->ws.link.state == TCP_LINK_OPEN) {
        c->half_closed = true;
        tbp_tcp_link_shutdown_write(&c->ws.link);
    }
    for (;;) {
        int rc = tbp_tcp_link_read(&c->ws.link, sink, sizeof sink, &got);
        if (rc == TB_OK) continue;
        if (rc != TB_EAGAIN) tbp_ws_server_drop(s, c, NULL);
        return;
    }
}

/* Closes now if nothing waits to be written, else once it is (FLUSHED) or at the deadline;
 * with linger, waits for the peer to close first (see linger_step). */
static void close_when_flushed(ws_server *s, ws_sconn *c, bool linger) {
    tbp_ws_server_ready(s, c, false);
    if (c->ws.link.state != TCP_LINK_OPEN || (!linger && !c->ws.link.len)) {
        tbp_ws_server_drop(s, c, NULL);
        return;
    }
    c->ws.phase = WS_PHASE_CLOSING;
    c->lingering = linger;
    arm(s, c, linger ? LINGER_NS : CLOSING_NS);
    if (linger) linger_step(s, c);
}

void tbp_ws_server_finish(ws_server *s, ws_sconn *c) {
    uint16_t sent = tbp_ws_conn_code_sent(&c->ws), got = tbp_ws_conn_code_received(&c->ws);
    if (!got && sent && sent != WSLAY_CODE_NORMAL_CLOSURE && sent != WSLAY_CODE_GOING_AWAY &&
        sent != WSLAY_CODE_NO_STATUS_RCVD) {
        /* wslay refused what the peer sent and said so with a close frame */
        s->protocol_errors++;
        tbp_ws_server_count(s, s->m_protocol, 1);
        if (worth_logging(s->protocol_errors))
            tb_log(s->host, s->ctx, TB_LOG_WARN, "connection from %s:%u (stream %u): %s, closed with status %u (%llu so far)",
                   c->host, (unsigned)c->port, c->stream,
                   sent == WSLAY_CODE_MESSAGE_TOO_BIG ? "a message over max_message" : tbp_ws_code_text(sent),
                   (unsigned)sent, (unsigned long long)s->protocol_errors);
    } else if (got) {
        tb_log(s->host, s->ctx, TB_LOG_DEBUG, "connection from %s:%u (stream %u): the peer closed with status %u (%s)",
               c->host, (unsigned)c->port, c->stream, (unsigned)got, tbp_ws_code_text(got));
    }
    /* we closed first (a protocol error): the peer may still be sending */
    close_when_flushed(s, c, sent && !got);
}

/* ---- the handshake --------------------------------------------------------------------------- */

static const char *status_text(int status) {
    switch (status) {
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 426: return "Upgrade Required";
    case 431: return "Request Header Fields Too Large";
    default: return "Internal Server Error";
    }
}

/* Answers a bad request with its status and closes the connection once that is written. */
static void refuse_request(ws_server *s, ws_sconn *c, int status, const char *why) {
    char resp[512];
    int n = snprintf(resp, sizeof resp,
                     "HTTP/1.1 %d %s\r\nConnection: close\r\nContent-Type: text/plain\r\n%sContent-Length: %zu\r\n\r\n%s\n",
                     status, status_text(status), status == 426   ? "Sec-WebSocket-Version: 13\r\n"
                     : status == 405 ? "Allow: GET\r\n"
                                     : "",
                     strlen(why) + 1, why);
    struct iovec iov = {resp, (size_t)n};
    s->bad_handshakes++;
    tbp_ws_server_count(s, s->m_bad_handshakes, 1);
    if (worth_logging(s->bad_handshakes))
        tb_log(s->host, s->ctx, TB_LOG_WARN, "connection from %s:%u: refused the handshake with %d: %s (%llu so far)",
               c->host, (unsigned)c->port, status, why, (unsigned long long)s->bad_handshakes);
    if (tbp_tcp_link_send(&c->ws.link, &iov, 1) != TB_OK) {
        tbp_ws_server_drop(s, c, NULL);
        return;
    }
    close_when_flushed(s, c, true);
}

static void on_head(ws_server *s, ws_sconn *c) {
    ws_request req;
    int rc = tbp_ws_conn_read_head(&c->ws);
    if (rc == TB_EAGAIN) {
        /* what is not an HTTP GET is refused at once, not at the deadline */
        if (c->ws.head_len >= 4 && memcmp(c->ws.head, "GET ", 4) != 0)
            refuse_request(s, c, 400, "not a WebSocket handshake (an HTTP GET request)");
        return;
    }
    if (rc == TB_EINVAL) {
        refuse_request(s, c, 431, "the request head is larger than 8 KiB");
        return;
    }
    if (rc != TB_OK) {
        s->bad_handshakes++;
        tbp_ws_server_count(s, s->m_bad_handshakes, 1);
        tbp_ws_server_drop(s, c, rc == TB_EOF ? "the peer left before the handshake" : c->ws.link.err);
        return;
    }
    tbp_ws_parse_request((const char *)c->ws.head, c->ws.head_len, s->has_path ? s->path : NULL, &req);
    if (req.status != 101) {
        refuse_request(s, c, req.status, req.why);
        return;
    }
    char resp[160];
    int n = snprintf(resp, sizeof resp,
                     "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Accept: %s\r\n\r\n",
                     req.accept);
    struct iovec iov = {resp, (size_t)n};
    if (tbp_ws_conn_open(&c->ws) != TB_OK) {
        refuse_request(s, c, 500, "out of memory");
        return;
    }
    memcpy(c->path, req.path, sizeof c->path);
    if (c->timer_id) s->host->timer_stop(s->ctx, c->timer_id);
    c->timer_id = 0;
    if (tbp_tcp_link_send(&c->ws.link, &iov, 1) != TB_OK) {
        tbp_ws_server_drop(s, c, c->ws.link.err);
        return;
    }
    tb_log(s->host, s->ctx, TB_LOG_DEBUG, "connection from %s:%u is stream %u, path %s", c->host, (unsigned)c->port,
           c->stream, c->path);
    /* frames may have come with the head: pull reads them, and arms the watch */
    tbp_ws_server_ready(s, c, true);
}

/* What a connection's socket reported (tcp_link.c). */
static void conn_note(void *owner, tcp_link *l, uint32_t notes) {
    ws_sconn *c = owner;
    ws_server *s = c->srv;
    if (notes & TCP_NOTE_BROKEN) {
        if (c->ws.phase == WS_PHASE_HTTP) {
            s->bad_handshakes++;
            tbp_ws_server_count(s, s->m_bad_handshakes, 1);
            if (strncmp(l->err, "TLS handshake", 13) == 0) {
                if (worth_logging(s->bad_handshakes))
                    tb_log(s->host, s->ctx, TB_LOG_WARN, "connection from %s:%u: %s (%llu so far)", c->host,
                           (unsigned)c->port, l->err, (unsigned long long)s->bad_handshakes);
                tbp_ws_server_drop(s, c, NULL);
                return;
            }
        }
        tbp_ws_server_drop(s, c, c->ws.phase == WS_PHASE_CLOSING ? NULL : l->err);
        return;
    }
    if (c->ws.phase == WS_PHASE_CLOSING) {
        if (c->lingering) linger_step(s, c);
        else if (!c->ws.link.len) tbp_ws_server_drop(s, c, NULL);
        return;
    }
    if ((notes & TCP_NOTE_READABLE) && c->ws.phase == WS_PHASE_HTTP) on_head(s, c);
    else if (notes & TCP_NOTE_READABLE) tbp_ws_server_ready(s, c, true);
}

/* ---- keep-alive ---------------------------------------------------------------------------- */

static void TB_CALL on_ping(void *user, uint64_t timer_id) {
    ws_server *s = user;
    (void)timer_id;
    for (uint32_t i = 0; i < s->nconns;) {
        ws_sconn *c = s->conns[i];
        if (c->ws.phase == WS_PHASE_OPEN && !c->ready && !tbp_ws_conn_ping(&c->ws)) {
            s->protocol_errors++;
            tbp_ws_server_count(s, s->m_protocol, 1);
            tbp_ws_server_drop(s, c, "no answer to a ping for ping_interval_ms");
            continue;
        }
        if (c->ws.link.state == TCP_LINK_BROKEN) {
            tbp_ws_server_drop(s, c, c->ws.link.err);
            continue;
        }
        i++;
    }
}

/* ---- accepting ----------------------------------------------------------------------------- */

static void refuse(ws_server *s, int fd, const char *host, uint16_t port) {
    close(fd);
    s->refused++;
    tbp_ws_server_count(s, s->m_refused, 1);
    if (worth_logging(s->refused))
        tb_log(s->host, s->ctx, TB_LOG_WARN,
               "refused a connection from %s:%u: max_connections (%u) are open (%llu refused so far)", host,
               (unsigned)port, s->max_connections, (unsigned long long)s->refused);
}

static void add_conn(ws_server *s, int fd, const char *host, uint16_t port, bool no_delay) {
    char why[256];
    SSL *ssl = NULL;
    ws_sconn *c = NULL;
    if (s->nconns == s->conns_cap) {
        uint32_t ncap = s->conns_cap ? s->conns_cap * 2 : 16;
        ws_sconn **n = s->host->realloc(s->ctx, s->conns, (size_t)ncap * sizeof *n);
        if (!n) goto fail_fd;
        s->conns = n;
        s->conns_cap = ncap;
    }
    if (!(c = s->host->alloc(s->ctx, sizeof *c))) goto fail_fd;
    memset(c, 0, sizeof *c);
    if (tbp_ws_conn_init(&c->ws, s->host, s->ctx, true, s->max_message, tbp_ws_server_on_msg, c) != TB_OK)
        goto fail_c;
    c->srv = s;
    c->seq = s->next_seq++;
    c->stream = s->stream_base + c->seq;
    snprintf(c->host, sizeof c->host, "%s", host);
    c->port = port;
    if (no_delay) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    if (s->tls && !(ssl = tbp_tcp_tls_new(s->tls, true, NULL, false, why, sizeof why))) {
        tb_log(s->host, s->ctx, TB_LOG_ERROR, "cannot set up TLS for %s:%u: %s", host, (unsigned)port, why);
        tbp_ws_conn_free(&c->ws, false, TB_ECLOSED);
        s->host->free(s->ctx, c);
        close(fd);
        return;
    }
    if (tbp_tcp_link_open(&c->ws.link, s->host, s->ctx, &s->track, conn_note, c, fd, ssl,
                          ssl ? TCP_LINK_HANDSHAKE : TCP_LINK_OPEN) != TB_OK) {
        tb_log(s->host, s->ctx, TB_LOG_ERROR, "connection from %s:%u: %s", host, (unsigned)port, c->ws.link.err);
        tbp_ws_conn_free(&c->ws, false, TB_ECLOSED);
        s->host->free(s->ctx, c);
        return;
    }
    arm(s, c, s->handshake_ns);
    s->conns[s->nconns++] = c; /* seq only grows: the table stays sorted */
    tbp_ws_server_count(s, s->m_accepted, 1);
    tbp_ws_server_count(s, s->m_open, 1);
    return;
fail_c:
    s->host->free(s->ctx, c);
fail_fd:
    tb_log(s->host, s->ctx, TB_LOG_ERROR, "out of memory: closing the connection from %s:%u", host, (unsigned)port);
    close(fd);
}

static void TB_CALL on_accept_again(void *user, uint64_t timer_id) {
    ws_server *s = user;
    (void)timer_id;
    s->accept_timer = 0;
    if (s->listen_watch) s->host->fd_modify(s->ctx, s->listen_watch, TB_FD_READ);
}

static void TB_CALL on_accept(void *user, int fd, uint32_t events) {
    ws_server *s = user;
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
            tb_log(s->host, s->ctx, TB_LOG_WARN, "cannot accept on %s: %s; trying again in 100 ms", s->where,
                   strerror(errno));
            if (!s->accept_timer &&
                s->host->timer_start(s->ctx, ACCEPT_PAUSE_NS, 0, on_accept_again, s, &s->accept_timer) == TB_OK)
                s->host->fd_modify(s->ctx, s->listen_watch, 0);
            return;
        }
        tbp_tcp_sockaddr_text(&ss, host, sizeof host, &port);
        if (s->nconns >= s->max_connections) refuse(s, c, host, port);
        else add_conn(s, c, host, port, s->no_delay);
    }
}

/* ---- listening --------------------------------------------------------------------------- */

static void stop_listening(ws_server *s) {
    if (s->accept_timer) s->host->timer_stop(s->ctx, s->accept_timer);
    s->accept_timer = 0;
    if (s->ping_timer) s->host->timer_stop(s->ctx, s->ping_timer);
    s->ping_timer = 0;
    if (s->listen_watch) s->host->fd_unwatch(s->ctx, s->listen_watch);
    s->listen_watch = 0;
    if (s->listen_fd >= 0) close(s->listen_fd);
    s->listen_fd = -1;
}

static int listen_on(ws_server *s, const struct addrinfo *ai, int *err) {
    int one = 1;
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
        *err = errno;
        return TB_EIO;
    }
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, (int)s->backlog) != 0) {
        *err = errno;
        close(fd);
        return TB_EIO;
    }
    s->listen_fd = fd;
    return TB_OK;
}

int tbp_ws_server_listen(ws_server *s) {
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    struct sockaddr_storage bound;
    socklen_t len = sizeof bound;
    char port[8], host[INET6_ADDRSTRLEN];
    uint16_t bound_port;
    int err = 0, rc;
    if (s->listen_fd >= 0) return TB_OK;
    if (s->stopped) return tb_fail(s->host, s->ctx, TB_EIO, "the connector is stopped");
    snprintf(port, sizeof port, "%u", (unsigned)s->addr.port);
    rc = getaddrinfo(s->addr.host, port, &hints, &res);
    if (rc != 0)
        return tb_fail(s->host, s->ctx, TB_EIO, "cannot listen on %s: %s", s->where,
                       rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
    rc = TB_EIO;
    for (const struct addrinfo *ai = res; ai && rc != TB_OK; ai = ai->ai_next) rc = listen_on(s, ai, &err);
    freeaddrinfo(res);
    if (rc != TB_OK) return tb_fail(s->host, s->ctx, TB_EIO, "cannot listen on %s: %s", s->where, strerror(err));
    rc = s->host->fd_watch(s->ctx, s->listen_fd, TB_FD_READ, on_accept, s, &s->listen_watch);
    if (rc != TB_OK) {
        s->listen_watch = 0;
        stop_listening(s);
        return tb_fail(s->host, s->ctx, TB_EIO, "cannot listen on %s: fd_watch failed (%d)", s->where, rc);
    }
    if (s->ping_ns &&
        s->host->timer_start(s->ctx, s->ping_ns, s->ping_ns, on_ping, s, &s->ping_timer) != TB_OK) {
        s->ping_timer = 0;
        tb_log(s->host, s->ctx, TB_LOG_WARN, "no timer for keep-alive pings: none are sent");
    }
    if (getsockname(s->listen_fd, (struct sockaddr *)&bound, &len) == 0) {
        tbp_tcp_sockaddr_text(&bound, host, sizeof host, &bound_port);
        tbp_tcp_addr_format(host, bound_port, s->where, sizeof s->where);
        if (s->m_port != UINT32_MAX) s->host->metric_set(s->ctx, s->m_port, bound_port);
    }
    tb_log(s->host, s->ctx, TB_LOG_INFO, "listening on %s%s", s->where, s->tls ? " (TLS)" : "");
    return TB_OK;
}

/* ---- lifecycle ----------------------------------------------------------------------------- */

static int TB_CALL create(const tb_create_args *args, void **out) {
    const tb_host_api *host = args->host;
    const tb_value *config = args->config;
    ws_url url;
    SSL_CTX *tls = NULL;
    size_t ulen = 0, plen = 0;
    int rc;
    const char *u = tb_config_str(config, "url", NULL, &ulen);
    const char *path = tb_config_str(config, "path", NULL, &plen);
    uint64_t backlog = tb_config_u64(config, "backlog", 128);
    uint64_t max_conn = tb_config_u64(config, "max_connections", 1024);
    uint64_t max_message = tb_config_u64(config, "max_message", 16777216);
    uint64_t ping_ms = tb_config_u64(config, "ping_interval_ms", 0);
    uint64_t max_buffered = tb_config_u64(config, "max_buffered", 4194304);
    uint64_t hs_ms = tb_config_u64(config, "handshake_timeout_ms", 10000);
    if (!u) return tb_fail(host, args->ctx, TB_EINVAL, "url (\"host:port\") is required");
    if ((rc = tbp_ws_parse_url(host, args->ctx, u, ulen, true, &url)) != TB_OK) return rc;
    if (url.tls) return tb_fail(host, args->ctx, TB_EINVAL, "url \"%.*s\": a server serves wss through its tls option", (int)ulen, u);
    if (path && (plen == 0 || path[0] != '/' || plen >= WS_PATH_MAX || memchr(path, '?', plen) || memchr(path, ' ', plen)))
        return tb_fail(host, args->ctx, TB_EINVAL, "path \"%.*s\" must start with '/' and hold no query", (int)plen, path);
    if (backlog == 0 || backlog > 65535)
        return tb_fail(host, args->ctx, TB_EINVAL, "backlog must be between 1 and 65535, found %llu",
                       (unsigned long long)backlog);
    if (max_conn == 0 || max_conn > MAX_CONNECTIONS_LIMIT)
        return tb_fail(host, args->ctx, TB_EINVAL, "max_connections must be between 1 and %u, found %llu",
                       MAX_CONNECTIONS_LIMIT, (unsigned long long)max_conn);
    if (max_message == 0 || max_message > TCP_MAX_CHUNK)
        return tb_fail(host, args->ctx, TB_EINVAL, "max_message must be between 1 and %u bytes, found %llu",
                       TCP_MAX_CHUNK, (unsigned long long)max_message);
    if (ping_ms > 3600000 || hs_ms == 0 || hs_ms > 3600000)
        return tb_fail(host, args->ctx, TB_EINVAL,
                       "ping_interval_ms must be at most 3600000 and handshake_timeout_ms between 1 and 3600000");
    if (max_buffered == 0) return tb_fail(host, args->ctx, TB_EINVAL, "max_buffered must be at least 1 byte");
    if ((rc = tbp_tcp_tls_server_ctx(host, args->ctx, tb_object_getz(config, "tls"), &tls)) != TB_OK) return rc;

    ws_server *s = host->alloc(args->ctx, sizeof *s);
    if (!s) {
        SSL_CTX_free(tls);
        return TB_ENOMEM;
    }
    memset(s, 0, sizeof *s);
    s->host = host;
    s->ctx = args->ctx;
    s->addr = url.addr;
    tbp_tcp_addr_format(url.addr.host, url.addr.port, s->where, sizeof s->where);
    if (path) {
        memcpy(s->path, path, plen);
        s->path[plen] = '\0';
        s->has_path = true;
    }
    s->backlog = (uint32_t)backlog;
    s->max_connections = (uint32_t)max_conn;
    s->max_message = max_message;
    s->ping_ns = ping_ms * 1000000u;
    s->handshake_ns = hs_ms * 1000000u;
    s->binary = tb_config_bool(config, "binary", false);
    s->no_delay = tb_config_bool(config, "no_delay", true);
    s->tls = tls;
    s->listen_fd = -1;
    /* stream ids are opaque: starting somewhere arbitrary keeps them apart from the small ids
     * other sources use */
    uint64_t t = host->now_ns() ^ (uint64_t)(uintptr_t)s;
    s->stream_base = (uint32_t)(t ^ (t >> 32)) * 2654435761u;
    tbp_tcp_track_init(&s->track, host, args->ctx, (size_t)max_buffered);
    metric(s, "connections_accepted", TB_METRIC_COUNTER, &s->m_accepted);
    metric(s, "connections_refused", TB_METRIC_COUNTER, &s->m_refused);
    metric(s, "connections_open", TB_METRIC_GAUGE, &s->m_open);
    metric(s, "handshakes_failed", TB_METRIC_COUNTER, &s->m_bad_handshakes);
    metric(s, "protocol_errors", TB_METRIC_COUNTER, &s->m_protocol);
    metric(s, "messages_in", TB_METRIC_COUNTER, &s->m_in);
    metric(s, "messages_out", TB_METRIC_COUNTER, &s->m_out);
    metric(s, "events_undeliverable", TB_METRIC_COUNTER, &s->m_undeliverable);
    metric(s, "port", TB_METRIC_GAUGE, &s->m_port);
    *out = s;
    return TB_OK;
}

static int TB_CALL connect_(void *instance) { return tbp_ws_server_listen(instance); }

static int TB_CALL drain(void *instance) {
    ws_server *s = instance;
    bool left = false;
    for (uint32_t i = 0; i < s->nconns;) {
        ws_sconn *c = s->conns[i];
        if (c->ws.link.len && tbp_tcp_link_flush(&c->ws.link) != TB_OK) {
            tbp_ws_server_drop(s, c, c->ws.link.err);
            continue;
        }
        left = left || c->ws.link.len;
        i++;
    }
    return left ? TB_EAGAIN : TB_OK;
}

static int TB_CALL stop(void *instance) {
    ws_server *s = instance;
    stop_listening(s);
    while (s->nconns) {
        ws_sconn *c = s->conns[s->nconns - 1];
        c->ended = true; /* nothing pulls any more */
        /* a close frame, written if the socket takes it now: stop does not wait */
        if (c->ws.phase == WS_PHASE_OPEN) tbp_ws_conn_close(&c->ws, WSLAY_CODE_GOING_AWAY, "server stopping");
        tbp_ws_server_drop(s, c, NULL);
    }
    s->nends = 0;
    s->stopped = true;
    return TB_OK;
}

static void TB_CALL destroy(void *instance) {
    ws_server *s = instance;
    stop(s);
    tbp_tcp_track_fini(&s->track);
    s->host->free(s->ctx, s->conns);
    s->host->free(s->ctx, s->ends);
    SSL_CTX_free(s->tls);
    s->host->free(s->ctx, s);
}

static const tb_connector_vtable vtable = {
    .struct_size = sizeof(tb_connector_vtable),
    .flags = TB_CONNECTOR_SOURCE | TB_CONNECTOR_SINK,
    .create = create,
    .destroy = destroy,
    .connect = connect_,
    .drain = drain,
    .stop = stop,
    .pull = tbp_ws_server_pull,
    .push = tbp_ws_server_push,
};

const tb_component tbp_ws_server_component = {
    .struct_size = sizeof(tb_component),
    .kind = TB_KIND_CONNECTOR,
    .name = "ws_server",
    .description = "a WebSocket server (ws or wss): each connection is a stream of messages, answered by stream",
    .options = options,
    .option_count = sizeof options / sizeof options[0],
    .vtable = &vtable,
};
