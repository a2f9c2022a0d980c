/*
 * tcp_server.c - the `tcp_server` connector, as Tremor's: it listens on url (or host and
 * port), and every connection it accepts is a stream. Its source half emits what each
 * connection sends as raw chunks on that connection's stream, with the peer in the metadata,
 * and ends the stream when the peer closes or fails (tcp_server_io.c); its sink half writes
 * each event to the connection its stream names, so a flow can answer on the connection an
 * event came from. This file holds the options, the lifecycle, accepting, and the end of
 * connections; the listening socket (tcp_listen.c) and the set of connections (tcp_conns.c)
 * are shared with ws_server.
 *
 * Limits: connections past max_connections are accepted and closed at once (refused),
 * counted and logged; reads are chunks of at most buf_size bytes, so a peer that never sends
 * a newline costs one chunk at a time (splitting and bounding lines is the preprocessors'
 * job); unsent bytes past max_buffered on a connection open the circuit breaker (tcp_track.c).
 * With TLS, a handshake that does not finish within handshake_timeout_ms is dropped.
 *
 * The listening socket is opened in connect, so a port in use is an I/O error the runtime
 * retries with backoff (reconnect). On a reload of the plugin the listening socket and the
 * plain connections move to the new build (tcp_handover.c); TLS sessions do not, and close.
 *
 * Ownership and threads: see tcp_server.h.
 */
#define _GNU_SOURCE
#include "tcp_server.h"

#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

static const tb_option options[] = {
    TB_OPTION("url", TB_OPT_STRING, NULL, 0,
              "where to listen: \"host:port\" (\"0.0.0.0:4242\", \"[::]:4242\"); port 0 picks a free one"),
    TB_OPTION("host", TB_OPT_STRING, NULL, 0, "instead of url: the address to listen on (default 0.0.0.0)"),
    TB_OPTION("port", TB_OPT_UINT, NULL, 0, "instead of url: the port to listen on"),
    TB_OPTION("backlog", TB_OPT_UINT, "128", 0, "connections the kernel queues before they are accepted"),
    TB_OPTION("max_connections", TB_OPT_UINT, "1024", 0,
              "connections open at once; more are accepted and closed at once (refused)"),
    TB_OPTION("buf_size", TB_OPT_UINT, "65536", 0, "most bytes read from a connection into one event"),
    TB_OPTION("no_delay", TB_OPT_BOOL, "true", 0, "TCP_NODELAY on accepted connections"),
    TB_OPTION("linger_ms", TB_OPT_UINT, "1000", 0,
              "after a peer closes its side, keep writing answers to it until nothing was written for this long"),
    TB_OPTION("max_buffered", TB_OPT_UINT, "4194304", 0,
              "unsent bytes one connection may hold before the circuit breaker pauses the sources feeding the sink"),
    TB_OPTION("handshake_timeout_ms", TB_OPT_UINT, "10000", 0, "with tls: drop a connection whose handshake takes longer"),
    TB_OPTION("tls", TB_OPT_OBJECT, NULL, 0,
              "serve TLS: {\"cert\": PEM chain, \"key\": PEM key, \"cafile\": CA to require client certificates (optional)}"),
};

/* ---- the end of a connection ------------------------------------------------------------- */

void tbp_tcp_server_drop(tcp_server *s, tcp_conn *c, const char *why) {
    tbp_tcp_conns_remove(&s->conns, &c->node, why);
    if (c->timer_id) s->host->timer_stop(s->ctx, c->timer_id);
    tbp_tcp_link_close(&c->link, !why, TB_ECLOSED);
    s->host->free(s->ctx, c);
}

static void TB_CALL on_linger(void *user, uint64_t timer_id) {
    tcp_conn *c = user;
    tcp_server *s = c->srv;
    (void)timer_id;
    c->timer_id = 0;
    /* answers went out since: wait on, until a whole linger passes without any */
    if (c->link.state == TCP_LINK_OPEN && c->link.sent != c->linger_sent) {
        tbp_tcp_server_linger(s, c);
        return;
    }
    tbp_tcp_server_drop(s, c, c->link.len ? "the peer stopped reading after closing its side" : NULL);
}

void tbp_tcp_server_linger(tcp_server *s, tcp_conn *c) {
    c->rd_eof = true;
    tbp_tcp_conns_ready(&s->conns, &c->node, false);
    if (c->timer_id) s->host->timer_stop(s->ctx, c->timer_id);
    c->timer_id = 0;
    c->linger_sent = c->link.sent;
    if (!s->linger_ns && !c->link.len) {
        tbp_tcp_server_drop(s, c, NULL);
        return;
    }
    if (s->host->timer_start(s->ctx, s->linger_ns ? s->linger_ns : 1000000u, 0, on_linger, c,
                             &c->timer_id) != TB_OK) {
        c->timer_id = 0;
        tbp_tcp_server_drop(s, c, NULL); /* no timer: close now rather than never */
    }
}

static void TB_CALL on_handshake_timeout(void *user, uint64_t timer_id) {
    tcp_conn *c = user;
    (void)timer_id;
    c->timer_id = 0;
    if (c->link.state == TCP_LINK_HANDSHAKE) tbp_tcp_server_drop(c->srv, c, "the TLS handshake timed out");
}

/* What a connection's socket reported (tcp_link.c). */
void tbp_tcp_server_note(void *owner, tcp_link *l, uint32_t notes) {
    tcp_conn *c = owner;
    tcp_server *s = c->srv;
    if (notes & TCP_NOTE_BROKEN) {
        if (strncmp(l->err, "TLS handshake", 13) != 0) {
            tbp_tcp_server_drop(s, c, l->err);
            return;
        }
        /* a scan or a client that does not trust us: the first few, then every thousandth */
        if (tbp_tcp_worth_logging(++s->tls_failures))
            tb_log(s->host, s->ctx, TB_LOG_WARN, "connection from %s:%u: %s (%llu so far)", c->node.host,
                   (unsigned)c->node.port, l->err, (unsigned long long)s->tls_failures);
        tbp_tcp_server_drop(s, c, NULL);
        return;
    }
    if ((notes & TCP_NOTE_OPENED) && c->timer_id) {
        s->host->timer_stop(s->ctx, c->timer_id);
        c->timer_id = 0;
    }
    if ((notes & TCP_NOTE_READABLE) && !c->rd_eof) tbp_tcp_conns_ready(&s->conns, &c->node, true);
}

/* ---- accepting and listening ----------------------------------------------------------------- */

static int add_conn(tcp_server *s, int fd, const char *host, uint16_t port) {
    char why[256];
    SSL *ssl = NULL;
    if (!tbp_tcp_conns_reserve(&s->conns)) goto fail_fd;
    tcp_conn *c = s->host->alloc(s->ctx, sizeof *c);
    if (!c) goto fail_fd;
    memset(c, 0, sizeof *c);
    c->srv = s;
    tbp_tcp_conns_number(&s->conns, &c->node, c, host, port);
    if (s->no_delay) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    if (s->tls && !(ssl = tbp_tcp_tls_new(s->tls, true, NULL, false, why, sizeof why))) {
        tb_log(s->host, s->ctx, TB_LOG_ERROR, "cannot set up TLS for %s:%u: %s", host, (unsigned)port, why);
        s->host->free(s->ctx, c);
        goto fail_fd;
    }
    if (tbp_tcp_link_open(&c->link, s->host, s->ctx, &s->track, tbp_tcp_server_note, c, fd, ssl,
                          ssl ? TCP_LINK_HANDSHAKE : TCP_LINK_OPEN) != TB_OK) {
        /* the link closed fd and ssl */
        tb_log(s->host, s->ctx, TB_LOG_ERROR, "connection from %s:%u: %s", host, (unsigned)port, c->link.err);
        s->host->free(s->ctx, c);
        return TB_EIO;
    }
    if (ssl && s->host->timer_start(s->ctx, s->handshake_ns, 0, on_handshake_timeout, c, &c->timer_id) != TB_OK)
        c->timer_id = 0;
    tbp_tcp_conns_insert(&s->conns, &c->node);
    tb_log(s->host, s->ctx, TB_LOG_DEBUG, "connection from %s:%u is stream %u", host, (unsigned)port, c->node.stream);
    return TB_OK;
fail_fd:
    tb_log(s->host, s->ctx, TB_LOG_ERROR, "out of memory: closing the connection from %s:%u", host, (unsigned)port);
    close(fd);
    return TB_ENOMEM;
}

/* The listener accepted a connection (tcp_listen.c): refused over max_connections. */
static void on_accepted(void *owner, int fd, const char *host, uint16_t port) {
    tcp_server *s = owner;
    if (tbp_tcp_conns_admit(&s->conns, fd, host, port)) add_conn(s, fd, host, port);
}

int tbp_tcp_server_listen(tcp_server *s) {
    int rc;
    if (s->listener.fd >= 0) return TB_OK;
    if (s->stopped) return tb_fail(s->host, s->ctx, TB_EIO, "the connector is stopped");
    if ((rc = tbp_tcp_listen_open(&s->listener)) != TB_OK) return rc;
    tbp_tcp_listen_announce(&s->listener, s->m_port, s->tls != NULL);
    return TB_OK;
}

/* ---- lifecycle ----------------------------------------------------------------------------- */

static int TB_CALL create(const tb_create_args *args, void **out) {
    const tb_host_api *host = args->host;
    const tb_value *config = args->config;
    tcp_addr addr;
    SSL_CTX *tls = NULL;
    uint32_t backlog, max_conn;
    int rc;
    uint64_t buf_size = tb_config_u64(config, "buf_size", 65536);
    uint64_t linger_ms = tb_config_u64(config, "linger_ms", 1000);
    uint64_t max_buffered = tb_config_u64(config, "max_buffered", 4194304);
    uint64_t hs_ms = tb_config_u64(config, "handshake_timeout_ms", 10000);
    if ((rc = tbp_tcp_addr_from_config(host, args->ctx, config, "0.0.0.0", true, &addr)) != TB_OK) return rc;
    if ((rc = tbp_tcp_listen_config(host, args->ctx, config, &backlog, &max_conn)) != TB_OK) return rc;
    if (buf_size == 0 || buf_size > TCP_MAX_CHUNK)
        return tb_fail(host, args->ctx, TB_EINVAL, "buf_size must be between 1 and %u bytes, found %llu",
                       TCP_MAX_CHUNK, (unsigned long long)buf_size);
    if (linger_ms > 3600000 || hs_ms == 0 || hs_ms > 3600000)
        return tb_fail(host, args->ctx, TB_EINVAL,
                       "linger_ms must be at most 3600000 and handshake_timeout_ms between 1 and 3600000");
    if (max_buffered == 0) return tb_fail(host, args->ctx, TB_EINVAL, "max_buffered must be at least 1 byte");
    if ((rc = tbp_tcp_tls_server_ctx(host, args->ctx, tb_object_getz(config, "tls"), &tls)) != TB_OK) return rc;

    tcp_server *s = host->alloc(args->ctx, sizeof *s);
    if (!s) goto fail_tls;
    memset(s, 0, sizeof *s);
    if (!(s->scratch = host->alloc(args->ctx, (size_t)buf_size))) goto fail_s;
    s->host = host;
    s->ctx = args->ctx;
    tbp_tcp_listen_init(&s->listener, host, args->ctx, &addr, backlog, on_accepted, s);
    s->buf_size = (size_t)buf_size;
    s->no_delay = tb_config_bool(config, "no_delay", true);
    s->linger_ns = linger_ms * 1000000u;
    s->handshake_ns = hs_ms * 1000000u;
    s->tls = tls;
    tbp_tcp_track_init(&s->track, host, args->ctx, (size_t)max_buffered);
    /* registers connections_accepted, _refused and _open */
    tbp_tcp_conns_init(&s->conns, host, args->ctx, max_conn, s);
    tbp_tcp_metric(host, args->ctx, "events_undeliverable", TB_METRIC_COUNTER, &s->m_undeliverable);
    tbp_tcp_metric(host, args->ctx, "port", TB_METRIC_GAUGE, &s->m_port);
    *out = s;
    return TB_OK;
fail_s:
    host->free(args->ctx, s);
fail_tls:
    SSL_CTX_free(tls);
    return TB_ENOMEM;
}

static int TB_CALL connect_(void *instance) { return tbp_tcp_server_listen(instance); }

static int TB_CALL drain(void *instance) {
    tcp_server *s = instance;
    bool left = false;
    for (uint32_t i = 0; i < s->conns.n; i++) {
        tcp_conn *c = s->conns.table[i]->conn;
        if (!c->link.len) continue;
        if (tbp_tcp_link_flush(&c->link) != TB_OK) {
            tbp_tcp_server_drop(s, c, c->link.err);
            i--;
            continue;
        }
        left = left || c->link.len;
    }
    return left ? TB_EAGAIN : TB_OK;
}

static int TB_CALL stop(void *instance) {
    tcp_server *s = instance;
    tbp_tcp_listen_close(&s->listener);
    s->conns.stopping = true;
    while (s->conns.n) {
        tcp_conn *c = s->conns.table[s->conns.n - 1]->conn;
        c->node.ended = true; /* nothing pulls any more */
        tbp_tcp_server_drop(s, c, NULL);
    }
    s->conns.stopping = false;
    s->conns.nends = 0;
    s->stopped = true;
    return TB_OK;
}

static void TB_CALL destroy(void *instance) {
    tcp_server *s = instance;
    stop(s);
    tbp_tcp_track_fini(&s->track);
    tbp_tcp_conns_fini(&s->conns);
    SSL_CTX_free(s->tls);
    s->host->free(s->ctx, s->scratch);
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
    .pull = tbp_tcp_server_pull,
    .push = tbp_tcp_server_push,
    .save = tbp_tcp_server_save,
    .restore = tbp_tcp_server_restore,
};

const tb_component tbp_tcp_server_component = {
    .struct_size = sizeof(tb_component),
    .kind = TB_KIND_CONNECTOR,
    .name = "tcp_server",
    .description = "listens for TCP (or TLS) connections: each is a stream of raw bytes, answered by stream",
    .options = options,
    .option_count = sizeof options / sizeof options[0],
    .vtable = &vtable,
};
