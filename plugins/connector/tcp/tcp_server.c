/*
 * tcp_server.c - the `tcp_server` connector, as Tremor's: it listens on url (or host and
 * port), and every connection it accepts is a stream. Its source half emits what each
 * connection sends as raw chunks on that connection's stream, with the peer in the metadata,
 * and ends the stream when the peer closes or fails (tcp_server_io.c); its sink half writes
 * each event to the connection its stream names, so a flow can answer on the connection an
 * event came from. This file holds the options, the lifecycle, listening and accepting, and
 * the end of connections.
 *
 * Limits: connections past max_connections are accepted and closed at once (refused),
 * counted and logged; reads are chunks of at most buf_size bytes, so a peer that never sends
 * a newline costs one chunk at a time (splitting and bounding lines is the preprocessors'
 * job); unsent bytes past max_buffered on a connection open the circuit breaker (tcp_track.c).
 * With TLS, a handshake that does not finish within handshake_timeout_ms is dropped.
 *
 * The listening socket is opened in connect, so a port in use is an I/O error the runtime
 * retries with backoff (reconnect). On a reload of the plugin the instance starts afresh: the
 * old build's connections are closed and the new one listens again (no save/restore: sockets
 * and TLS sessions are not handed over).
 *
 * Ownership and threads: see tcp_server.h.
 */
#define _GNU_SOURCE
#include "tcp_server.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#define ACCEPTS_PER_CALL 64            /* then the loop runs other callbacks */
#define ACCEPT_PAUSE_NS 100000000ull   /* out of descriptors: accept again after 100 ms */
#define MAX_CONNECTIONS_LIMIT 1000000u

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

void tbp_tcp_server_count(tcp_server *s, uint32_t id, int64_t delta) {
    if (id != UINT32_MAX) s->host->metric_add(s->ctx, id, delta);
}

static void metric(tcp_server *s, const char *name, uint32_t type, uint32_t *id) {
    if (s->host->metric_register(s->ctx, name, type, id) != TB_OK) *id = UINT32_MAX;
}

/* ---- the connection table and the ready list ---------------------------------------------- */

/* Where seq is, or would be, in the table (sorted by seq). */
static uint32_t table_index(const tcp_server *s, uint32_t seq) {
    uint32_t lo = 0, hi = s->nconns;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (s->conns[mid]->seq < seq) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

tcp_conn *tbp_tcp_server_find(tcp_server *s, uint32_t stream) {
    /* unsigned arithmetic: the counter, whatever the base and however the ids wrap */
    uint32_t i = table_index(s, stream - s->stream_base);
    return i < s->nconns && s->conns[i]->stream == stream ? s->conns[i] : NULL;
}

static void table_remove(tcp_server *s, tcp_conn *c) {
    uint32_t i = table_index(s, c->seq);
    if (i < s->nconns && s->conns[i] == c) {
        memmove(&s->conns[i], &s->conns[i + 1], (s->nconns - i - 1) * sizeof *s->conns);
        s->nconns--;
    }
}

void tbp_tcp_server_ready(tcp_server *s, tcp_conn *c, bool ready) {
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

void tbp_tcp_server_rotate(tcp_server *s) {
    tcp_conn *c = s->ready_head;
    if (!c || c == s->ready_tail) return;
    tbp_tcp_server_ready(s, c, false);
    tbp_tcp_server_ready(s, c, true);
}

/* ---- the end of a connection ------------------------------------------------------------- */

static void queue_end(tcp_server *s, tcp_conn *c) {
    if (!c->has_data || c->ended) return;
    c->ended = true;
    if (s->nends == s->ends_cap) {
        uint32_t ncap = s->ends_cap ? s->ends_cap * 2 : 16;
        tcp_end *n = s->host->realloc(s->ctx, s->ends, (size_t)ncap * sizeof *n);
        if (!n) {
            /* the stream's preprocessors flush at the next end of the source instead */
            tb_log(s->host, s->ctx, TB_LOG_ERROR, "out of memory ending stream %u", c->stream);
            return;
        }
        s->ends = n;
        s->ends_cap = ncap;
    }
    s->ends[s->nends++] = (tcp_end){c->stream, c->offset};
}

void tbp_tcp_server_drop(tcp_server *s, tcp_conn *c, const char *why) {
    if (why)
        tb_log(s->host, s->ctx, TB_LOG_INFO, "connection from %s:%u (stream %u) closed: %s", c->host,
               (unsigned)c->port, c->stream, why);
    else
        tb_log(s->host, s->ctx, TB_LOG_DEBUG, "connection from %s:%u (stream %u) closed", c->host,
               (unsigned)c->port, c->stream);
    queue_end(s, c);
    tbp_tcp_server_ready(s, c, false);
    table_remove(s, c);
    if (c->timer_id) s->host->timer_stop(s->ctx, c->timer_id);
    tbp_tcp_link_close(&c->link, !why, TB_ECLOSED);
    tbp_tcp_server_count(s, s->m_open, -1);
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
    tbp_tcp_server_ready(s, c, false);
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
static void conn_note(void *owner, tcp_link *l, uint32_t notes) {
    tcp_conn *c = owner;
    tcp_server *s = c->srv;
    if (notes & TCP_NOTE_BROKEN) {
        if (strncmp(l->err, "TLS handshake", 13) != 0) {
            tbp_tcp_server_drop(s, c, l->err);
            return;
        }
        /* a scan or a client that does not trust us: the first few, then every thousandth */
        if (s->tls_failures++ < 10 || s->tls_failures % 1000 == 0)
            tb_log(s->host, s->ctx, TB_LOG_WARN, "connection from %s:%u: %s (%llu so far)", c->host,
                   (unsigned)c->port, l->err, (unsigned long long)s->tls_failures);
        tbp_tcp_server_drop(s, c, NULL);
        return;
    }
    if ((notes & TCP_NOTE_OPENED) && c->timer_id) {
        s->host->timer_stop(s->ctx, c->timer_id);
        c->timer_id = 0;
    }
    if ((notes & TCP_NOTE_READABLE) && !c->rd_eof) tbp_tcp_server_ready(s, c, true);
}

/* ---- accepting ----------------------------------------------------------------------------- */

static void refuse(tcp_server *s, int fd, const char *host, uint16_t port) {
    close(fd);
    s->refused++;
    tbp_tcp_server_count(s, s->m_refused, 1);
    /* the first few, then every thousandth: a flood must not flood the log too */
    if (s->refused <= 10 || s->refused % 1000 == 0)
        tb_log(s->host, s->ctx, TB_LOG_WARN,
               "refused a connection from %s:%u: max_connections (%u) are open (%llu refused so far)",
               host, (unsigned)port, s->max_connections, (unsigned long long)s->refused);
}

static int add_conn(tcp_server *s, int fd, const char *host, uint16_t port) {
    char why[256];
    SSL *ssl = NULL;
    if (s->nconns == s->conns_cap) {
        uint32_t ncap = s->conns_cap ? s->conns_cap * 2 : 16;
        tcp_conn **n = s->host->realloc(s->ctx, s->conns, (size_t)ncap * sizeof *n);
        if (!n) goto fail_fd;
        s->conns = n;
        s->conns_cap = ncap;
    }
    tcp_conn *c = s->host->alloc(s->ctx, sizeof *c);
    if (!c) goto fail_fd;
    memset(c, 0, sizeof *c);
    c->srv = s;
    c->seq = s->next_seq++;
    c->stream = s->stream_base + c->seq;
    snprintf(c->host, sizeof c->host, "%s", host);
    c->port = port;
    if (s->no_delay) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    if (s->tls && !(ssl = tbp_tcp_tls_new(s->tls, true, NULL, false, why, sizeof why))) {
        tb_log(s->host, s->ctx, TB_LOG_ERROR, "cannot set up TLS for %s:%u: %s", host, (unsigned)port, why);
        s->host->free(s->ctx, c);
        goto fail_fd;
    }
    if (tbp_tcp_link_open(&c->link, s->host, s->ctx, &s->track, conn_note, c, fd, ssl,
                          ssl ? TCP_LINK_HANDSHAKE : TCP_LINK_OPEN) != TB_OK) {
        /* the link closed fd and ssl */
        tb_log(s->host, s->ctx, TB_LOG_ERROR, "connection from %s:%u: %s", host, (unsigned)port, c->link.err);
        s->host->free(s->ctx, c);
        return TB_EIO;
    }
    if (ssl && s->host->timer_start(s->ctx, s->handshake_ns, 0, on_handshake_timeout, c, &c->timer_id) != TB_OK)
        c->timer_id = 0;
    s->conns[s->nconns++] = c; /* seq only grows: the table stays sorted */
    tbp_tcp_server_count(s, s->m_accepted, 1);
    tbp_tcp_server_count(s, s->m_open, 1);
    tb_log(s->host, s->ctx, TB_LOG_DEBUG, "connection from %s:%u is stream %u", host, (unsigned)port, c->stream);
    return TB_OK;
fail_fd:
    tb_log(s->host, s->ctx, TB_LOG_ERROR, "out of memory: closing the connection from %s:%u", host, (unsigned)port);
    close(fd);
    return TB_ENOMEM;
}

static void TB_CALL on_accept_again(void *user, uint64_t timer_id) {
    tcp_server *s = user;
    (void)timer_id;
    s->accept_timer = 0;
    if (s->listen_watch) s->host->fd_modify(s->ctx, s->listen_watch, TB_FD_READ);
}

static void TB_CALL on_accept(void *user, int fd, uint32_t events) {
    tcp_server *s = user;
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
            tb_log(s->host, s->ctx, TB_LOG_WARN, "cannot accept on %s: %s; trying again in 100 ms",
                   s->where, strerror(errno));
            if (!s->accept_timer &&
                s->host->timer_start(s->ctx, ACCEPT_PAUSE_NS, 0, on_accept_again, s, &s->accept_timer) == TB_OK)
                s->host->fd_modify(s->ctx, s->listen_watch, 0);
            return;
        }
        tbp_tcp_sockaddr_text(&ss, host, sizeof host, &port);
        if (s->nconns >= s->max_connections) refuse(s, c, host, port);
        else add_conn(s, c, host, port);
    }
}

/* ---- listening --------------------------------------------------------------------------- */

static void stop_listening(tcp_server *s) {
    if (s->accept_timer) s->host->timer_stop(s->ctx, s->accept_timer);
    s->accept_timer = 0;
    if (s->listen_watch) s->host->fd_unwatch(s->ctx, s->listen_watch);
    s->listen_watch = 0;
    if (s->listen_fd >= 0) close(s->listen_fd);
    s->listen_fd = -1;
}

/* Opens, binds and listens on one address of the resolution; TB_OK, or TB_EIO with errno's
 * reason in *err. */
static int listen_on(tcp_server *s, const struct addrinfo *ai, int *err) {
    int one = 1;
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) goto fail;
    /* a restarted server must not wait for the old connections' TIME_WAIT */
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, (int)s->backlog) != 0) goto fail_fd;
    s->listen_fd = fd;
    return TB_OK;
fail_fd:
    *err = errno;
    close(fd);
    return TB_EIO;
fail:
    *err = errno;
    return TB_EIO;
}

int tbp_tcp_server_listen(tcp_server *s) {
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
    /* names resolve once per listen, on this thread (a numeric address needs no lookup) */
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
    tcp_addr addr;
    SSL_CTX *tls = NULL;
    int rc;
    uint64_t backlog = tb_config_u64(config, "backlog", 128);
    uint64_t max_conn = tb_config_u64(config, "max_connections", 1024);
    uint64_t buf_size = tb_config_u64(config, "buf_size", 65536);
    uint64_t linger_ms = tb_config_u64(config, "linger_ms", 1000);
    uint64_t max_buffered = tb_config_u64(config, "max_buffered", 4194304);
    uint64_t hs_ms = tb_config_u64(config, "handshake_timeout_ms", 10000);
    if ((rc = tbp_tcp_addr_from_config(host, args->ctx, config, "0.0.0.0", true, &addr)) != TB_OK) return rc;
    if (backlog == 0 || backlog > 65535)
        return tb_fail(host, args->ctx, TB_EINVAL, "backlog must be between 1 and 65535, found %llu",
                       (unsigned long long)backlog);
    if (max_conn == 0 || max_conn > MAX_CONNECTIONS_LIMIT)
        return tb_fail(host, args->ctx, TB_EINVAL, "max_connections must be between 1 and %u, found %llu",
                       MAX_CONNECTIONS_LIMIT, (unsigned long long)max_conn);
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
    s->addr = addr;
    tbp_tcp_addr_format(addr.host, addr.port, s->where, sizeof s->where);
    s->backlog = (uint32_t)backlog;
    s->max_connections = (uint32_t)max_conn;
    s->buf_size = (size_t)buf_size;
    s->no_delay = tb_config_bool(config, "no_delay", true);
    s->linger_ns = linger_ms * 1000000u;
    s->handshake_ns = hs_ms * 1000000u;
    s->tls = tls;
    s->listen_fd = -1;
    /* stream ids are opaque: starting somewhere arbitrary keeps them apart from the small ids
     * other sources use, should their events be routed to this sink by mistake */
    uint64_t t = host->now_ns() ^ (uint64_t)(uintptr_t)s;
    s->stream_base = (uint32_t)(t ^ (t >> 32)) * 2654435761u;
    tbp_tcp_track_init(&s->track, host, args->ctx, (size_t)max_buffered);
    metric(s, "connections_accepted", TB_METRIC_COUNTER, &s->m_accepted);
    metric(s, "connections_refused", TB_METRIC_COUNTER, &s->m_refused);
    metric(s, "connections_open", TB_METRIC_GAUGE, &s->m_open);
    metric(s, "events_undeliverable", TB_METRIC_COUNTER, &s->m_undeliverable);
    metric(s, "port", TB_METRIC_GAUGE, &s->m_port);
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
    for (uint32_t i = 0; i < s->nconns; i++) {
        tcp_conn *c = s->conns[i];
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
    stop_listening(s);
    while (s->nconns) {
        tcp_conn *c = s->conns[s->nconns - 1];
        c->ended = true; /* nothing pulls any more */
        tbp_tcp_server_drop(s, c, NULL);
    }
    s->nends = 0;
    s->stopped = true;
    return TB_OK;
}

static void TB_CALL destroy(void *instance) {
    tcp_server *s = instance;
    stop(s);
    tbp_tcp_track_fini(&s->track);
    s->host->free(s->ctx, s->conns);
    s->host->free(s->ctx, s->ends);
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
