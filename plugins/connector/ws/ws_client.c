/*
 * ws_client.c - the `ws_client` connector, as Tremor's: it connects to url
 * ("ws://host:port/path", or wss:// for TLS, verified against the system's CAs unless the tls
 * option says otherwise), performs the WebSocket handshake with the extra request headers of
 * the headers option, sends every event as one message (its sink half) and emits every message
 * from the server as one raw event (its source half), one stream per connection.
 *
 * Connecting never blocks the thread: connect starts a non-blocking connect (the tcp plugin's
 * tcp_dial.c: a refusal on the same machine is known at once and answered TB_EIO, which the
 * runtime retries with backoff), queues the upgrade request, and the TCP connect, the TLS
 * handshake and the server's answer complete on fd readiness, all within connect_timeout_ms.
 * Pushes meanwhile are queued (copied by wslay) and answered TB_EPENDING; they go out once the
 * server has answered 101. If the server refuses the upgrade (the HTTP status is in the
 * message), the connection fails, a deadline passes, the server closes (a close frame, or the
 * TCP connection), a protocol error occurs or a ping goes unanswered, the next pull or push
 * answers TB_EIO (TB_ECLOSED for a clean close) with the reason, and the runtime reconnects
 * with backoff: connect closes what is left and starts again, on a new stream. Before that,
 * pull ends the connection's stream. Batches still buffered when a connection is lost are
 * reported failed through host->delivered.
 *
 * Ownership: the instance, its header text and pending list are host memory; it owns its
 * ws_conn (socket, TLS state, wslay context) and its SSL_CTX. Thread contract: create and
 * destroy on a control thread, everything else on the instance's thread.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>

#include "ws.h"

#define TURN_BYTES (64u * 1024u)
#define HEADERS_MAX 4096u /* the extra request headers, as text */

static const tb_option options[] = {
    TB_OPTION("url", TB_OPT_STRING, NULL, TB_OPT_REQUIRED,
              "where to connect: \"ws://host:port/path\" or \"wss://host:port/path\""),
    TB_OPTION("headers", TB_OPT_OBJECT, NULL, 0,
              "extra request headers: {\"name\": \"value\"} (a value may be an array of strings: one header each)"),
    TB_OPTION("max_message", TB_OPT_UINT, WS_DEFAULT_MAX_MESSAGE, 0,
              "the largest message accepted, in bytes; a larger one closes the connection with status 1009"),
    TB_OPTION("ping_interval_ms", TB_OPT_UINT, "0", 0,
              "send a ping this often; a server that answered nothing for a whole interval is dropped (0: no pings)"),
    TB_OPTION("binary", TB_OPT_BOOL, "false", 0,
              "send binary messages (else text, unless $ws_client.binary or $ws.binary says otherwise)"),
    TB_OPTION("no_delay", TB_OPT_BOOL, "true", 0, "TCP_NODELAY: send small writes at once"),
    TB_OPTION("connect_timeout_ms", TB_OPT_UINT, "10000", 0,
              "a connection (TCP, TLS and WebSocket handshakes) not established in this time has failed"),
    TB_OPTION("max_buffered", TB_OPT_UINT, "4194304", 0,
              "unsent bytes held before the circuit breaker pauses the sources feeding the sink"),
    TB_OPTION("tls", TB_OPT_ANY, NULL, 0,
              "true (verify the server against the system's CAs; the default with wss://), false, or "
              "{\"cafile\", \"domain\", \"cert\", \"key\", \"verify\"}"),
};

typedef struct ws_client {
    const tb_host_api *host;
    tb_context *ctx;
    ws_url url;
    tcp_dial dial;                 /* the address (url's), TLS, the connect deadline */
    char where[TCP_HOST_MAX + WS_PATH_MAX + 16]; /* the url, for messages */
    char host_header[TCP_HOST_MAX + 8];
    char *headers;                 /* extra request header lines, CRLF each (host memory) */
    uint64_t max_message;
    uint64_t ping_ns;
    bool binary;
    tcp_track track;
    ws_conn conn;
    char key[WS_KEY_LEN + 1];

    uint32_t stream;
    uint32_t next_stream;
    uint64_t next_id;
    bool has_data, ended;
    int lost;                      /* TB_EIO or TB_ECLOSED once the connection is lost; 0 */
    char why[400];
    uint64_t ping_timer;
    bool stopped;

    uint32_t *pending;             /* track slots of batches queued before the opening */
    uint32_t npending, pending_cap;

    tb_batch *out;                 /* the batch pull fills */
    uint32_t limit;
    size_t taken;
    uint64_t now;

    uint32_t m_connects, m_in, m_out, m_protocol, m_bad_handshakes;
} ws_client;

static void count(ws_client *c, uint32_t id, int64_t delta) { tbp_tcp_count(c->host, c->ctx, id, delta); }

static void stop_timers(ws_client *c) {
    tbp_tcp_dial_disarm(&c->dial);
    if (c->ping_timer) c->host->timer_stop(c->ctx, c->ping_timer);
    c->ping_timer = 0;
}

/* Batches queued before the opening: written now (ok), or failed. */
static void settle_pending(ws_client *c, bool ok) {
    for (uint32_t i = 0; i < c->npending; i++) {
        uint32_t slot = c->pending[i];
        int status = TB_ECLOSED;
        if (ok) status = tbp_tcp_link_mark(&c->conn.link, slot) ? TB_OK : TB_ENOMEM;
        tbp_tcp_track_release(&c->track, slot, status);
    }
    c->npending = 0;
}

static void lost(ws_client *c, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void lost(ws_client *c, int status, const char *fmt, ...) {
    if (!c->lost) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->why, sizeof c->why, fmt, ap);
        va_end(ap);
        c->lost = status;
    }
    stop_timers(c);
    settle_pending(c, false);
}

static int on_msg(void *owner, ws_conn *wc, const uint8_t *p, size_t n, bool binary);

/* ---- the handshake --------------------------------------------------------------------------- */

static void on_head(ws_client *c) {
    char why[300];
    int rc = tbp_ws_conn_read_head(&c->conn);
    if (rc == TB_EAGAIN) return;
    if (rc != TB_OK) {
        count(c, c->m_bad_handshakes, 1);
        if (rc == TB_EINVAL) tbp_tcp_link_fail(&c->conn.link, "the server's answer head is larger than 8 KiB");
        else if (rc == TB_EOF) tbp_tcp_link_fail(&c->conn.link, "the server closed the connection during the WebSocket handshake");
        lost(c, TB_EIO, "%s", c->conn.link.err);
        return;
    }
    if (tbp_ws_check_response((const char *)c->conn.head, c->conn.head_len, c->key, why, sizeof why) != TB_OK) {
        count(c, c->m_bad_handshakes, 1);
        tbp_tcp_link_fail(&c->conn.link, "%s", why);
        lost(c, TB_EIO, "%s", why);
        return;
    }
    if (tbp_ws_conn_open(&c->conn) != TB_OK || tbp_ws_conn_flush(&c->conn) != TB_OK) {
        if (c->conn.link.state != TCP_LINK_BROKEN) tbp_tcp_link_fail(&c->conn.link, "out of memory opening the connection");
        lost(c, TB_EIO, "%s", c->conn.link.err);
        return;
    }
    tbp_tcp_dial_disarm(&c->dial);
    settle_pending(c, true);
    count(c, c->m_connects, 1);
    tb_log(c->host, c->ctx, TB_LOG_INFO, "connected to %s", c->where);
}

static void client_note(void *owner, tcp_link *l, uint32_t notes) {
    ws_client *c = owner;
    if (notes & TCP_NOTE_BROKEN) {
        lost(c, TB_EIO, "%s", l->err);
        return;
    }
    if ((notes & TCP_NOTE_READABLE) && c->conn.phase == WS_PHASE_HTTP) on_head(c);
    /* readable once open: the runtime pulls after any callback of the instance */
}

static void TB_CALL on_connect_timeout(void *user, uint64_t timer_id) {
    ws_client *c = user;
    (void)timer_id;
    c->dial.timer_id = 0;
    if (c->conn.phase != WS_PHASE_HTTP || c->conn.link.state == TCP_LINK_BROKEN) return;
    tbp_tcp_link_fail(&c->conn.link, "%s timed out",
                      c->conn.link.state == TCP_LINK_CONNECTING  ? "connecting"
                      : c->conn.link.state == TCP_LINK_HANDSHAKE ? "the TLS handshake"
                                                                 : "the WebSocket handshake");
    lost(c, TB_EIO, "%s", c->conn.link.err);
}

static void TB_CALL on_ping(void *user, uint64_t timer_id) {
    ws_client *c = user;
    (void)timer_id;
    if (c->lost || c->conn.phase != WS_PHASE_OPEN) return;
    if (!tbp_ws_conn_ping(&c->conn)) {
        count(c, c->m_protocol, 1);
        tbp_tcp_link_fail(&c->conn.link, "no answer to a ping for ping_interval_ms");
        lost(c, TB_EIO, "%s", c->conn.link.err);
    } else if (c->conn.link.state == TCP_LINK_BROKEN) {
        lost(c, TB_EIO, "%s", c->conn.link.err);
    }
}

/* Closes what is left of a connection: buffered batches fail. */
static void close_conn(ws_client *c, bool graceful) {
    stop_timers(c);
    settle_pending(c, false);
    tbp_ws_conn_free(&c->conn, graceful, TB_ECLOSED);
}

static int TB_CALL connect_(void *instance) {
    ws_client *c = instance;
    SSL *ssl;
    uint32_t state;
    int fd, rc;
    close_conn(c, false);
    c->lost = 0;
    c->why[0] = '\0';
    c->stopped = false;
    if (tbp_ws_conn_init(&c->conn, c->host, c->ctx, false, c->max_message, on_msg, c) != TB_OK)
        return tb_fail(c->host, c->ctx, TB_ENOMEM, "out of memory connecting to %s", c->where);
    if ((rc = tbp_tcp_dial_start(&c->dial, c->where, &fd, &ssl, &state)) != TB_OK) {
        close_conn(c, false); /* the conn only: tbp_tcp_dial_start closed its socket */
        return rc;
    }
    if (c->next_stream) tbp_tcp_sink_stream_done(c->host, c->ctx, c->stream); /* the old connection's */
    c->stream = c->next_stream++;
    c->next_id = 0;
    c->has_data = c->ended = false;
    if (tbp_tcp_link_open(&c->conn.link, c->host, c->ctx, &c->track, client_note, c, fd, ssl, state) != TB_OK) {
        rc = tb_fail(c->host, c->ctx, TB_EIO, "cannot connect to %s: %s", c->where, c->conn.link.err);
        close_conn(c, false);
        return rc;
    }
    /* the upgrade request waits in the link until the connection (and TLS) is up */
    char req[WS_PATH_MAX + TCP_HOST_MAX + 256];
    if (!tbp_ws_new_key(c->key)) {
        close_conn(c, false);
        return tb_fail(c->host, c->ctx, TB_EIO, "cannot connect to %s: no randomness for the key", c->where);
    }
    int n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n",
                     c->url.path, c->host_header, c->key);
    struct iovec iov[3] = {{req, (size_t)n}, {c->headers, c->headers ? strlen(c->headers) : 0}, {"\r\n", 2}};
    if (tbp_ws_conn_prepare(&c->conn) != TB_OK || tbp_tcp_link_send(&c->conn.link, iov, 3) != TB_OK) {
        close_conn(c, false);
        return tb_fail(c->host, c->ctx, TB_EIO, "cannot connect to %s: out of memory", c->where);
    }
    tbp_tcp_dial_arm(&c->dial, on_connect_timeout, c);
    if (c->ping_ns && c->host->timer_start(c->ctx, c->ping_ns, c->ping_ns, on_ping, c, &c->ping_timer) != TB_OK)
        c->ping_timer = 0;
    return TB_OK;
}

static int report_lost(ws_client *c) {
    return tb_fail(c->host, c->ctx, c->lost ? c->lost : TB_EIO, "%s: %s", c->where, c->why[0] ? c->why : "not connected");
}

/* ---- source ---------------------------------------------------------------------------------- */

static int end_stream(ws_client *c, tb_batch *out, uint64_t now) {
    if (!c->has_data || c->ended) return TB_OK;
    tb_event *e = tb_batch_push(out);
    if (!e) return tb_fail(c->host, c->ctx, TB_ENOMEM, "out of memory ending the stream of %s", c->where);
    c->ended = true;
    e->data = tb_bytes(NULL, 0);
    e->id = c->next_id;
    e->ingest_ns = now;
    e->stream = c->stream;
    e->flags = TB_EF_RAW | TB_EF_STREAM_END;
    return TB_OK;
}

static int on_msg(void *owner, ws_conn *wc, const uint8_t *p, size_t n, bool binary) {
    ws_client *c = owner;
    tb_batch *out = c->out;
    tb_value inner = tb_object(), *slot;
    (void)wc;
    tb_event *e = tb_batch_push(out);
    const uint8_t *data = (const uint8_t *)tb_arena_dup(out->arena, p, n);
    if (!e || !data || !(slot = tb_object_append(out->arena, &inner, "binary", 6)))
        return tb_fail(c->host, c->ctx, TB_ENOMEM, "out of memory reading a message of %zu bytes from %s", n, c->where);
    *slot = tb_bool(binary);
    e->meta = tb_object();
    if (!(slot = tb_object_append(out->arena, &e->meta, "ws_client", 9)))
        return tb_fail(c->host, c->ctx, TB_ENOMEM, "out of memory reading from %s", c->where);
    *slot = inner;
    e->data = tb_bytes(data, n);
    e->id = c->next_id++;
    e->ingest_ns = c->now;
    e->stream = c->stream;
    e->flags = TB_EF_RAW;
    c->has_data = true;
    c->taken += n;
    count(c, c->m_in, 1);
    if (out->count >= c->limit || c->taken >= TB_BATCH_BYTES) c->conn.turn = 0;
    return TB_OK;
}

/* Reading found the connection finished: why, for the reconnect. */
static void finished(ws_client *c) {
    uint16_t sent = tbp_ws_conn_code_sent(&c->conn), got = tbp_ws_conn_code_received(&c->conn);
    if (got) {
        tbp_tcp_link_fail(&c->conn.link, "the server closed the connection with status %u (%s)", (unsigned)got,
                          tbp_ws_code_text(got));
        lost(c, TB_ECLOSED, "%s", c->conn.link.err);
        return;
    }
    count(c, c->m_protocol, 1);
    tbp_tcp_link_fail(&c->conn.link, "%s: closed the connection with status %u",
                      sent == WSLAY_CODE_MESSAGE_TOO_BIG ? "a message from the server over max_message"
                                                         : tbp_ws_code_text(sent),
                      (unsigned)sent);
    lost(c, TB_EIO, "%s", c->conn.link.err);
}

static int TB_CALL pull(void *instance, tb_batch *out) {
    ws_client *c = instance;
    int rc;
    if (c->stopped) return TB_EAGAIN;
    if (c->conn.link.state == TCP_LINK_CLOSED && !c->lost && (rc = connect_(c)) != TB_OK) return rc;
    c->out = out;
    c->limit = out->capacity > out->count ? out->capacity : out->count + 1;
    c->now = tbp_tcp_realtime_ns();
    c->taken = 0;
    if (c->conn.link.state == TCP_LINK_BROKEN && !c->lost) lost(c, TB_EIO, "%s", c->conn.link.err);
    while (!c->lost && c->conn.phase == WS_PHASE_OPEN && out->count < c->limit && c->taken < TB_BATCH_BYTES) {
        size_t turn = TB_BATCH_BYTES - c->taken;
        rc = tbp_ws_conn_read(&c->conn, turn < TURN_BYTES ? turn : TURN_BYTES);
        if (rc == TB_ENOMEM || rc == TB_ERROR) {
            c->out = NULL;
            return rc;
        }
        if (rc == TB_EOF || rc == TB_EIO) {
            if (tbp_ws_conn_code_received(&c->conn)) {
                finished(c);
            } else {
                if (rc == TB_EOF) tbp_tcp_link_fail(&c->conn.link, "the server closed the connection without a close frame");
                lost(c, rc == TB_EOF ? TB_ECLOSED : TB_EIO, "%s", c->conn.link.err);
            }
        } else if (tbp_ws_conn_done(&c->conn)) {
            finished(c);
        } else if (rc == TB_EAGAIN) {
            break;
        }
    }
    c->out = NULL;
    if (c->lost) {
        /* the stream ends in this batch; the loss is reported by the next pull, since the events
         * of a failing pull are dropped */
        if ((rc = end_stream(c, out, c->now)) != TB_OK) return rc;
        if (!out->count) return report_lost(c);
    }
    return out->count ? TB_OK : TB_EAGAIN;
}

/* ---- sink ------------------------------------------------------------------------------------ */

static int TB_CALL push(void *instance, tb_batch *in) {
    ws_client *c = instance;
    uint32_t failed = 0;
    bool held = false;
    int rc;
    if (c->stopped) return tb_fail(c->host, c->ctx, TB_ECLOSED, "%s: the connector is stopped", c->where);
    if (c->conn.link.state == TCP_LINK_CLOSED && !c->lost && (rc = connect_(c)) != TB_OK) return rc;
    if (c->conn.link.state == TCP_LINK_BROKEN && !c->lost) lost(c, TB_EIO, "%s", c->conn.link.err);
    if (c->lost) return report_lost(c);
    uint32_t slot = tbp_tcp_track_open(&c->track, in->token);
    if (slot == UINT32_MAX) return tb_fail(c->host, c->ctx, TB_ENOMEM, "out of memory tracking a batch");
    for (uint32_t i = 0; i < in->count; i++) {
        const tb_event *e = &in->events[i];
        if (e->flags & TB_EF_DROPPED) continue;
        if (!(e->flags & TB_EF_RAW) || e->data.type != TB_BYTES) {
            tb_log(c->host, c->ctx, TB_LOG_WARN, "event %u not sent: it is not raw bytes (the ws_client sink needs a codec)", i);
            failed++;
            continue;
        }
        bool binary = c->binary;
        if (!tbp_ws_meta_bool(&e->meta, "ws_client", "binary", &binary)) tbp_ws_meta_bool(&e->meta, "ws", "binary", &binary);
        rc = tbp_ws_conn_send(&c->conn, e->data.as.bytes, e->data.len, binary);
        if (rc == TB_OK) {
            count(c, c->m_out, 1);
            if (!tbp_tcp_link_mark(&c->conn.link, slot)) failed++;
        } else if (rc == TB_EAGAIN) {
            count(c, c->m_out, 1);
            held = true;
        } else if (rc == TB_ECLOSED) {
            failed++; /* a close frame went out: the next pull reports why */
        } else {
            lost(c, TB_EIO, "%s", c->conn.link.err);
            tbp_tcp_track_drop(&c->track, slot);
            return report_lost(c);
        }
    }
    if (held) {
        if (c->npending == c->pending_cap) {
            uint32_t ncap = c->pending_cap ? c->pending_cap * 2 : 8;
            uint32_t *n = c->host->realloc(c->ctx, c->pending, ncap * sizeof *n);
            if (!n) {
                failed++;
                held = false;
            } else {
                c->pending = n;
                c->pending_cap = ncap;
            }
        }
        if (held) {
            tbp_tcp_track_hold(&c->track, slot);
            c->pending[c->npending++] = slot;
        }
    }
    return tbp_tcp_track_finish_push(&c->track, slot, failed ? TB_ERROR : TB_OK);
}

/* ---- lifecycle --------------------------------------------------------------------------------- */

static int TB_CALL drain(void *instance) {
    ws_client *c = instance;
    if (c->conn.link.state == TCP_LINK_OPEN && c->conn.link.len && tbp_tcp_link_flush(&c->conn.link) != TB_OK) return TB_OK;
    bool alive = c->conn.link.state == TCP_LINK_OPEN || c->conn.link.state == TCP_LINK_CONNECTING ||
                 c->conn.link.state == TCP_LINK_HANDSHAKE;
    return alive && !c->lost && (c->conn.link.len || c->npending) ? TB_EAGAIN : TB_OK;
}

static int TB_CALL stop(void *instance) {
    ws_client *c = instance;
    if (c->conn.phase == WS_PHASE_OPEN && c->conn.link.state == TCP_LINK_OPEN)
        tbp_ws_conn_close(&c->conn, WSLAY_CODE_NORMAL_CLOSURE, NULL); /* written if the socket takes it now */
    close_conn(c, true);
    c->stopped = true;
    return TB_OK;
}

/* The extra request headers as text, checked: names are tokens, values hold no line break. */
static int headers_text(const tb_host_api *host, tb_context *ctx, const tb_value *h, char **out) {
    char buf[HEADERS_MAX];
    size_t len = 0;
    *out = NULL;
    if (!h || h->type == TB_NULL) return TB_OK;
    for (uint32_t i = 0; i < h->len; i++) {
        const tb_member *m = &h->as.members[i];
        const tb_value *vals = &m->value;
        uint32_t nv = vals->type == TB_ARRAY ? vals->len : 1;
        if (!m->key_len) return tb_fail(host, ctx, TB_EINVAL, "headers: a header name is empty");
        for (uint32_t k = 0; k < m->key_len; k++)
            if (!isgraph((unsigned char)m->key[k]) || m->key[k] == ':')
                return tb_fail(host, ctx, TB_EINVAL, "headers: \"%.*s\" is no header name", (int)m->key_len, m->key);
        for (uint32_t j = 0; j < nv; j++) {
            const tb_value *v = vals->type == TB_ARRAY ? &vals->as.items[j] : vals;
            size_t vn;
            const char *s = tb_value_str(v, &vn);
            if (!s) return tb_fail(host, ctx, TB_EINVAL, "headers: the value of \"%.*s\" must be a string or an array of strings",
                                   (int)m->key_len, m->key);
            for (size_t k = 0; k < vn; k++)
                if (s[k] == '\r' || s[k] == '\n' || s[k] == '\0')
                    return tb_fail(host, ctx, TB_EINVAL, "headers: the value of \"%.*s\" holds a line break or NUL",
                                   (int)m->key_len, m->key);
            int n = snprintf(buf + len, sizeof buf - len, "%.*s: %.*s\r\n", (int)m->key_len, m->key, (int)vn, s);
            if (n < 0 || (size_t)n >= sizeof buf - len)
                return tb_fail(host, ctx, TB_EINVAL, "headers: more than %u bytes of headers", HEADERS_MAX);
            len += (size_t)n;
        }
    }
    if (!len) return TB_OK;
    if (!(*out = host->alloc(ctx, len + 1))) return TB_ENOMEM;
    memcpy(*out, buf, len + 1);
    return TB_OK;
}

static int TB_CALL create(const tb_create_args *args, void **out) {
    const tb_host_api *host = args->host;
    const tb_value *config = args->config;
    ws_url url;
    SSL_CTX *tls = NULL;
    char name[TCP_HOST_MAX], *headers = NULL;
    bool verify = false;
    size_t ulen = 0;
    int rc;
    const char *u = tb_config_str(config, "url", NULL, &ulen);
    uint64_t max_message = tb_config_u64(config, "max_message", 16777216);
    uint64_t ping_ms = tb_config_u64(config, "ping_interval_ms", 0);
    uint64_t timeout_ms = tb_config_u64(config, "connect_timeout_ms", 10000);
    uint64_t max_buffered = tb_config_u64(config, "max_buffered", 4194304);
    if (!u) return tb_fail(host, args->ctx, TB_EINVAL, "url (\"ws://host:port/path\") is required");
    if ((rc = tbp_ws_parse_url(host, args->ctx, u, ulen, false, &url)) != TB_OK) return rc;
    if (max_message == 0 || max_message > TCP_MAX_CHUNK)
        return tb_fail(host, args->ctx, TB_EINVAL, "max_message must be between 1 and %u bytes, found %llu", TCP_MAX_CHUNK,
                       (unsigned long long)max_message);
    if (timeout_ms == 0 || timeout_ms > 3600000 || ping_ms > 3600000)
        return tb_fail(host, args->ctx, TB_EINVAL,
                       "connect_timeout_ms must be between 1 and 3600000, ping_interval_ms at most 3600000");
    if (max_buffered == 0) return tb_fail(host, args->ctx, TB_EINVAL, "max_buffered must be at least 1 byte");
    const tb_value *tls_opt = tb_object_getz(config, "tls");
    tb_value yes = tb_bool(true);
    if (!tls_opt || tls_opt->type == TB_NULL) tls_opt = url.tls ? &yes : NULL;
    else if (url.tls && tls_opt->type == TB_BOOL && !tls_opt->as.b)
        return tb_fail(host, args->ctx, TB_EINVAL, "url \"%.*s\" is wss:// but tls is false", (int)ulen, u);
    if ((rc = tbp_tcp_tls_client_ctx(host, args->ctx, tls_opt, url.addr.host, &tls, name, sizeof name, &verify)) != TB_OK)
        return rc;
    if ((rc = headers_text(host, args->ctx, tb_object_getz(config, "headers"), &headers)) != TB_OK) {
        SSL_CTX_free(tls);
        return rc;
    }
    ws_client *c = host->alloc(args->ctx, sizeof *c);
    if (!c) {
        host->free(args->ctx, headers);
        SSL_CTX_free(tls);
        return TB_ENOMEM;
    }
    memset(c, 0, sizeof *c);
    c->host = host;
    c->ctx = args->ctx;
    c->url = url;
    c->dial = (tcp_dial){.host = host, .ctx = args->ctx, .addr = url.addr,
                         .no_delay = tb_config_bool(config, "no_delay", true),
                         .timeout_ns = timeout_ms * 1000000u, .tls = tls, .verify = verify};
    memcpy(c->dial.server_name, name, sizeof name);
    c->headers = headers;
    char hp[TCP_HOST_MAX + 8];
    tbp_tcp_addr_format(url.addr.host, url.addr.port, hp, sizeof hp);
    snprintf(c->where, sizeof c->where, "%s://%s%s", tls ? "wss" : "ws", hp, url.path);
    bool default_port = url.addr.port == (tls ? 443 : 80);
    if (default_port) {
        /* the Host header leaves out the scheme's port; brackets stay around IPv6 */
        tbp_tcp_addr_format(url.addr.host, 0, c->host_header, sizeof c->host_header);
        char *colon = strrchr(c->host_header, ':');
        if (colon) *colon = '\0';
    } else {
        memcpy(c->host_header, hp, sizeof c->host_header);
    }
    c->max_message = max_message;
    c->ping_ns = ping_ms * 1000000u;
    c->binary = tb_config_bool(config, "binary", false);
    c->conn.link.fd = -1;
    tbp_tcp_track_init(&c->track, host, args->ctx, (size_t)max_buffered);
    tbp_tcp_metric(host, args->ctx, "connections", TB_METRIC_COUNTER, &c->m_connects);
    tbp_tcp_metric(host, args->ctx, "messages_in", TB_METRIC_COUNTER, &c->m_in);
    tbp_tcp_metric(host, args->ctx, "messages_out", TB_METRIC_COUNTER, &c->m_out);
    tbp_tcp_metric(host, args->ctx, "protocol_errors", TB_METRIC_COUNTER, &c->m_protocol);
    tbp_tcp_metric(host, args->ctx, "handshakes_failed", TB_METRIC_COUNTER, &c->m_bad_handshakes);
    *out = c;
    return TB_OK;
}

static void TB_CALL destroy(void *instance) {
    ws_client *c = instance;
    stop(c);
    tbp_tcp_track_fini(&c->track);
    tbp_tcp_dial_fini(&c->dial);
    c->host->free(c->ctx, c->pending);
    c->host->free(c->ctx, c->headers);
    c->host->free(c->ctx, c);
}

static const tb_connector_vtable vtable = {
    .struct_size = sizeof(tb_connector_vtable),
    .flags = TB_CONNECTOR_SOURCE | TB_CONNECTOR_SINK,
    .create = create,
    .destroy = destroy,
    .connect = connect_,
    .drain = drain,
    .stop = stop,
    .pull = pull,
    .push = push,
};

const tb_component tbp_ws_client_component = {
    .struct_size = sizeof(tb_component),
    .kind = TB_KIND_CONNECTOR,
    .name = "ws_client",
    .description = "a WebSocket client (ws or wss): sends every event as a message, emits every message it receives",
    .options = options,
    .option_count = sizeof options / sizeof options[0],
    .vtable = &vtable,
};
