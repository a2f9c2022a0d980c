/*
 * ws_server.c - the `ws_server` connector, as Tremor's: it listens on url, optionally over TLS,
 * and answers every WebSocket upgrade request (RFC 6455 section 4) for its path; every
 * connection is a stream. Its source half emits each message as one raw event on that stream
 * (ws_server_io.c); its sink half sends each event as one message to the connection its
 * stream (or $ws_server.stream) names. This file holds the options, the lifecycle, accepting,
 * the handshake, keep-alive pings and the end of connections; the listening socket and the set
 * of connections are the tcp plugin's (tcp_listen.c, tcp_conns.c), shared with tcp_server.
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

#include <netinet/tcp.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#define CLOSING_NS 5000000000ull /* a finished connection whose peer reads nothing: 5 s */
#define LINGER_NS 2000000000ull  /* after our close or refusal, the peer has 2 s to close too */

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

/* Metrics, ignoring those that could not be registered. */
static void count(ws_server *s, uint32_t id, int64_t delta) { tbp_tcp_count(s->host, s->ctx, id, delta); }

/* ---- the end of a connection ------------------------------------------------------------- */

void tbp_ws_server_drop(ws_server *s, ws_sconn *c, const char *why) {
    tbp_tcp_conns_remove(&s->conns, &c->node, why);
    if (c->timer_id) s->host->timer_stop(s->ctx, c->timer_id);
    tbp_ws_conn_free(&c->ws, !why, TB_ECLOSED);
    s->host->free(s->ctx, c);
}

static void TB_CALL on_deadline(void *user, uint64_t timer_id) {
    ws_sconn *c = user;
    (void)timer_id;
    c->timer_id = 0;
    if (c->ws.phase == WS_PHASE_HTTP) {
        ws_server *s = c->srv;
        s->bad_handshakes++;
        count(s, s->m_bad_handshakes, 1);
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
    tbp_tcp_conns_ready(&s->conns, &c->node, false);
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
        count(s, s->m_protocol, 1);
        if (tbp_tcp_worth_logging(s->protocol_errors))
            tb_log(s->host, s->ctx, TB_LOG_WARN, "connection from %s:%u (stream %u): %s, closed with status %u (%llu so far)",
                   c->node.host, (unsigned)c->node.port, c->node.stream,
                   sent == WSLAY_CODE_MESSAGE_TOO_BIG ? "a message over max_message" : tbp_ws_code_text(sent),
                   (unsigned)sent, (unsigned long long)s->protocol_errors);
    } else if (got) {
        tb_log(s->host, s->ctx, TB_LOG_DEBUG, "connection from %s:%u (stream %u): the peer closed with status %u (%s)",
               c->node.host, (unsigned)c->node.port, c->node.stream, (unsigned)got, tbp_ws_code_text(got));
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
    count(s, s->m_bad_handshakes, 1);
    if (tbp_tcp_worth_logging(s->bad_handshakes))
        tb_log(s->host, s->ctx, TB_LOG_WARN, "connection from %s:%u: refused the handshake with %d: %s (%llu so far)",
               c->node.host, (unsigned)c->node.port, status, why, (unsigned long long)s->bad_handshakes);
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
        count(s, s->m_bad_handshakes, 1);
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
    tb_log(s->host, s->ctx, TB_LOG_DEBUG, "connection from %s:%u is stream %u, path %s", c->node.host, (unsigned)c->node.port,
           c->node.stream, c->path);
    /* frames may have come with the head: pull reads them, and arms the watch */
    tbp_tcp_conns_ready(&s->conns, &c->node, true);
}

/* What a connection's socket reported (tcp_link.c). */
static void conn_note(void *owner, tcp_link *l, uint32_t notes) {
    ws_sconn *c = owner;
    ws_server *s = c->srv;
    if (notes & TCP_NOTE_BROKEN) {
        if (c->ws.phase == WS_PHASE_HTTP) {
            s->bad_handshakes++;
            count(s, s->m_bad_handshakes, 1);
            if (strncmp(l->err, "TLS handshake", 13) == 0) {
                if (tbp_tcp_worth_logging(s->bad_handshakes))
                    tb_log(s->host, s->ctx, TB_LOG_WARN, "connection from %s:%u: %s (%llu so far)",
                           c->node.host, (unsigned)c->node.port, l->err, (unsigned long long)s->bad_handshakes);
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
    else if (notes & TCP_NOTE_READABLE) tbp_tcp_conns_ready(&s->conns, &c->node, true);
}

/* ---- keep-alive ---------------------------------------------------------------------------- */

static void TB_CALL on_ping(void *user, uint64_t timer_id) {
    ws_server *s = user;
    (void)timer_id;
    for (uint32_t i = 0; i < s->conns.n;) {
        ws_sconn *c = s->conns.table[i]->conn;
        if (c->ws.phase == WS_PHASE_OPEN && !c->node.ready && !tbp_ws_conn_ping(&c->ws)) {
            s->protocol_errors++;
            count(s, s->m_protocol, 1);
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

static void add_conn(ws_server *s, int fd, const char *host, uint16_t port, bool no_delay) {
    char why[256];
    SSL *ssl = NULL;
    ws_sconn *c = NULL;
    if (!tbp_tcp_conns_reserve(&s->conns)) goto fail_fd;
    if (!(c = s->host->alloc(s->ctx, sizeof *c))) goto fail_fd;
    memset(c, 0, sizeof *c);
    if (tbp_ws_conn_init(&c->ws, s->host, s->ctx, true, s->max_message, tbp_ws_server_on_msg, c) != TB_OK)
        goto fail_c;
    c->srv = s;
    tbp_tcp_conns_number(&s->conns, &c->node, c, host, port);
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
    tbp_tcp_conns_insert(&s->conns, &c->node);
    return;
fail_c:
    s->host->free(s->ctx, c);
fail_fd:
    tb_log(s->host, s->ctx, TB_LOG_ERROR, "out of memory: closing the connection from %s:%u", host, (unsigned)port);
    close(fd);
}

/* The listener accepted a connection (tcp_listen.c): refused over max_connections. */
static void on_accepted(void *owner, int fd, const char *host, uint16_t port) {
    ws_server *s = owner;
    if (tbp_tcp_conns_admit(&s->conns, fd, host, port)) add_conn(s, fd, host, port, s->no_delay);
}

static void stop_listening(ws_server *s) {
    tbp_tcp_listen_close(&s->listener);
    if (s->ping_timer) s->host->timer_stop(s->ctx, s->ping_timer);
    s->ping_timer = 0;
}

int tbp_ws_server_listen(ws_server *s) {
    int rc;
    if (s->listener.fd >= 0) return TB_OK;
    if (s->stopped) return tb_fail(s->host, s->ctx, TB_EIO, "the connector is stopped");
    if ((rc = tbp_tcp_listen_open(&s->listener)) != TB_OK) return rc;
    if (s->ping_ns &&
        s->host->timer_start(s->ctx, s->ping_ns, s->ping_ns, on_ping, s, &s->ping_timer) != TB_OK) {
        s->ping_timer = 0;
        tb_log(s->host, s->ctx, TB_LOG_WARN, "no timer for keep-alive pings: none are sent");
    }
    tbp_tcp_listen_announce(&s->listener, s->m_port, s->tls != NULL);
    return TB_OK;
}

/* ---- lifecycle ----------------------------------------------------------------------------- */

static int TB_CALL create(const tb_create_args *args, void **out) {
    const tb_host_api *host = args->host;
    const tb_value *config = args->config;
    ws_url url;
    SSL_CTX *tls = NULL;
    size_t ulen = 0, plen = 0;
    uint32_t backlog, max_conn;
    int rc;
    const char *u = tb_config_str(config, "url", NULL, &ulen);
    const char *path = tb_config_str(config, "path", NULL, &plen);
    uint64_t max_message = tb_config_u64(config, "max_message", 16777216);
    uint64_t ping_ms = tb_config_u64(config, "ping_interval_ms", 0);
    uint64_t max_buffered = tb_config_u64(config, "max_buffered", 4194304);
    uint64_t hs_ms = tb_config_u64(config, "handshake_timeout_ms", 10000);
    if (!u) return tb_fail(host, args->ctx, TB_EINVAL, "url (\"host:port\") is required");
    if ((rc = tbp_ws_parse_url(host, args->ctx, u, ulen, true, &url)) != TB_OK) return rc;
    if (url.tls) return tb_fail(host, args->ctx, TB_EINVAL, "url \"%.*s\": a server serves wss through its tls option", (int)ulen, u);
    if (path && (plen == 0 || path[0] != '/' || plen >= WS_PATH_MAX || memchr(path, '?', plen) || memchr(path, ' ', plen)))
        return tb_fail(host, args->ctx, TB_EINVAL, "path \"%.*s\" must start with '/' and hold no query", (int)plen, path);
    if ((rc = tbp_tcp_listen_config(host, args->ctx, config, &backlog, &max_conn)) != TB_OK) return rc;
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
    tbp_tcp_listen_init(&s->listener, host, args->ctx, &url.addr, backlog, on_accepted, s);
    if (path) {
        memcpy(s->path, path, plen);
        s->path[plen] = '\0';
        s->has_path = true;
    }
    s->max_message = max_message;
    s->ping_ns = ping_ms * 1000000u;
    s->handshake_ns = hs_ms * 1000000u;
    s->binary = tb_config_bool(config, "binary", false);
    s->no_delay = tb_config_bool(config, "no_delay", true);
    s->tls = tls;
    tbp_tcp_track_init(&s->track, host, args->ctx, (size_t)max_buffered);
    /* registers connections_accepted, _refused and _open */
    tbp_tcp_conns_init(&s->conns, host, args->ctx, max_conn, s);
    tbp_tcp_metric(host, args->ctx, "handshakes_failed", TB_METRIC_COUNTER, &s->m_bad_handshakes);
    tbp_tcp_metric(host, args->ctx, "protocol_errors", TB_METRIC_COUNTER, &s->m_protocol);
    tbp_tcp_metric(host, args->ctx, "messages_in", TB_METRIC_COUNTER, &s->m_in);
    tbp_tcp_metric(host, args->ctx, "messages_out", TB_METRIC_COUNTER, &s->m_out);
    tbp_tcp_metric(host, args->ctx, "events_undeliverable", TB_METRIC_COUNTER, &s->m_undeliverable);
    tbp_tcp_metric(host, args->ctx, "port", TB_METRIC_GAUGE, &s->m_port);
    *out = s;
    return TB_OK;
}

static int TB_CALL connect_(void *instance) { return tbp_ws_server_listen(instance); }

static int TB_CALL drain(void *instance) {
    ws_server *s = instance;
    bool left = false;
    for (uint32_t i = 0; i < s->conns.n;) {
        ws_sconn *c = s->conns.table[i]->conn;
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
    s->conns.stopping = true;
    while (s->conns.n) {
        ws_sconn *c = s->conns.table[s->conns.n - 1]->conn;
        c->node.ended = true; /* nothing pulls any more */
        /* a close frame, written if the socket takes it now: stop does not wait */
        if (c->ws.phase == WS_PHASE_OPEN) tbp_ws_conn_close(&c->ws, WSLAY_CODE_GOING_AWAY, "server stopping");
        tbp_ws_server_drop(s, c, NULL);
    }
    s->conns.stopping = false;
    s->conns.nends = 0;
    s->stopped = true;
    return TB_OK;
}

static void TB_CALL destroy(void *instance) {
    ws_server *s = instance;
    stop(s);
    tbp_tcp_track_fini(&s->track);
    tbp_tcp_conns_fini(&s->conns);
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
