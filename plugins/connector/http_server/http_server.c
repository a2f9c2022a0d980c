/*
 * http_server.c - the `http_server` connector: options, lifecycle, and libmicrohttpd on the
 * instance's event loop.
 *
 * The daemon runs without a thread of its own (external polling with epoll): the runtime
 * watches the daemon's epoll fd and calls MHD_run when it is readable; MHD_get_timeout, asked
 * after every run, sets a one-shot timer for the daemon's own deadlines (idle connections). A
 * periodic sweep answers requests whose response did not come in time. Suspended connections
 * (requests waiting for an answer) and resumed ones are signalled through the daemon's
 * inter-thread channel, which is part of its epoll set, so a resume from push, ack or fail is
 * seen at once (push also runs the daemon itself, for latency).
 *
 * Requests waiting for an answer are kept in a table by sequence number (so by stream), which
 * only grows at the end: lookup is a binary search, removal a move of the tail.
 *
 * Ownership and thread contract: as http_server.h says.
 */
#define _GNU_SOURCE
#include "http_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define MAX_CONNECTIONS_LIMIT 65536u

static const tb_option options[] = {
    TB_OPTION("url", TB_OPT_STRING, NULL, 0,
              "where to listen: \"host:port\", \"http://host:port\" or \"[v6]:port\"; port 0 picks a free port"),
    TB_OPTION("host", TB_OPT_STRING, NULL, 0, "instead of url: the address to listen on (default 0.0.0.0)"),
    TB_OPTION("port", TB_OPT_UINT, NULL, 0, "instead of url: the port to listen on"),
    TB_OPTION("max_connections", TB_OPT_UINT, "1024", 0,
              "connections open at once; more are refused (a request waiting for its answer holds one)"),
    TB_OPTION("max_body", TB_OPT_UINT, "16777216", 0, "a request body larger than this is answered 413"),
    TB_OPTION("response_timeout_ms", TB_OPT_UINT, "10000", 0,
              "a request not answered in this time is answered 504 Gateway Timeout"),
    TB_OPTION("idle_timeout_s", TB_OPT_UINT, "60", 0, "an idle keep-alive connection is closed after this"),
    TB_OPTION("ack_status", TB_OPT_UINT, "200", 0,
              "the answer (empty) to a request whose event every sink took, when no event answered it"),
    TB_OPTION("fail_status", TB_OPT_UINT, "503", 0, "the answer to a request whose event could not be delivered"),
    TB_OPTION("content_type", TB_OPT_STRING, NULL, 0,
              "Content-Type of answers made from events, unless their meta sets one"),
    TB_OPTION("tls", TB_OPT_ANY, "null", 0, "{\"cert\": PEM file, \"key\": PEM file}: serve HTTPS"),
};

void tbp_hs_count(hs_server *s, uint32_t id, int64_t delta) {
    if (id != UINT32_MAX) s->host->metric_add(s->ctx, id, delta);
}
void tbp_hs_gauge(hs_server *s, uint32_t id, int64_t value) {
    if (id != UINT32_MAX) s->host->metric_set(s->ctx, id, value);
}

/* ---- the table of waiting requests ------------------------------------------------------- */

static uint32_t table_index(hs_server *s, uint64_t seq) {
    uint32_t lo = 0, hi = s->ntable;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (s->table[mid]->seq < seq) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

hs_request *tbp_hs_find(hs_server *s, uint32_t stream) {
    uint64_t seq = (uint32_t)(stream - s->stream_base);
    /* a stream is 32 bits: the table only ever holds the latest 2^32 sequence numbers */
    if (s->ntable && s->table[s->ntable - 1]->seq >= (1ull << 32))
        seq |= s->table[s->ntable - 1]->seq & ~0xffffffffull;
    uint32_t i = table_index(s, seq);
    return i < s->ntable && s->table[i]->seq == seq ? s->table[i] : NULL;
}

bool tbp_hs_table_add(hs_server *s, hs_request *r) {
    if (s->ntable == s->table_cap) {
        uint32_t ncap = s->table_cap ? s->table_cap * 2 : 64;
        hs_request **n = s->host->realloc(s->ctx, s->table, (size_t)ncap * sizeof *n);
        if (!n) return false;
        s->table = n;
        s->table_cap = ncap;
    }
    s->table[s->ntable++] = r;
    tbp_hs_gauge(s, s->m_waiting, s->ntable);
    return true;
}

void tbp_hs_stream_gone(hs_server *s, uint32_t stream) {
    if (s->streams && !s->stopping) s->streams->sink_stream_done(s->ctx, stream);
}

void tbp_hs_table_remove(hs_server *s, hs_request *r) {
    if (!tbp_hs_waiting(r)) return;
    uint32_t i = table_index(s, r->seq);
    if (i < s->ntable && s->table[i] == r) {
        memmove(&s->table[i], &s->table[i + 1], (size_t)(s->ntable - i - 1) * sizeof *s->table);
        s->ntable--;
    }
    tbp_hs_gauge(s, s->m_waiting, s->ntable);
}

/* ---- the daemon on the event loop -------------------------------------------------------- */

static void TB_CALL on_timer(void *user, uint64_t timer_id) {
    hs_server *s = user;
    if (timer_id == s->timer_id) s->timer_id = 0;
    tbp_hs_run(s);
}

void tbp_hs_run(hs_server *s) {
    MHD_UNSIGNED_LONG_LONG ms;
    if (!s->daemon) return;
    MHD_run(s->daemon);
    if (s->timer_id) s->host->timer_stop(s->ctx, s->timer_id);
    s->timer_id = 0;
    if (MHD_get_timeout(s->daemon, &ms) == MHD_YES &&
        s->host->timer_start(s->ctx, (uint64_t)ms * 1000000u + 1, 0, on_timer, s, &s->timer_id) != TB_OK)
        s->timer_id = 0;
}

static void TB_CALL on_ready(void *user, int fd, uint32_t events) {
    (void)fd;
    (void)events;
    tbp_hs_run(user);
}

static void TB_CALL on_sweep(void *user, uint64_t timer_id) {
    hs_server *s = user;
    (void)timer_id;
    tbp_hs_sweep(s, s->host->now_ns());
    tbp_hs_run(s);
}

#if defined(__GNUC__)
__attribute__((format(printf, 2, 0)))
#endif
static void mhd_log(void *cls, const char *fmt, va_list ap) {
    hs_server *s = cls;
    char buf[512];
    vsnprintf(buf, sizeof buf, fmt, ap);
    size_t n = strlen(buf);
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r')) buf[--n] = '\0';
    tb_log(s->host, s->ctx, TB_LOG_WARN, "%s", buf);
}

/* The address to bind, from host (numeric or a name) and port. */
static int resolve(hs_server *s, struct sockaddr_storage *ss) {
    struct addrinfo hints = {0}, *res = NULL;
    char port[8];
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    snprintf(port, sizeof port, "%u", (unsigned)s->port);
    int rc = getaddrinfo(s->host_name, port, &hints, &res);
    if (rc != 0 || !res)
        return tb_fail(s->host, s->ctx, TB_EINVAL, "cannot resolve %s: %s", s->host_name, gai_strerror(rc));
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    return TB_OK;
}

static int TB_CALL connect_(void *instance) {
    hs_server *s = instance;
    struct sockaddr_storage ss;
    int rc;
    if (s->daemon) return TB_OK;
    if ((rc = resolve(s, &ss)) != TB_OK) return rc;
    unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
    if (ss.ss_family == AF_INET6) flags |= MHD_USE_IPv6;
    if (s->tls_cert) flags |= MHD_USE_TLS;
    struct MHD_OptionItem tls_opts[] = {
        {MHD_OPTION_HTTPS_MEM_CERT, 0, s->tls_cert},
        {MHD_OPTION_HTTPS_MEM_KEY, 0, s->tls_key},
        {MHD_OPTION_END, 0, NULL},
    };
    errno = 0;
    s->daemon = MHD_start_daemon(
        flags, s->port, NULL, NULL, tbp_hs_access, s, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, s,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss, MHD_OPTION_CONNECTION_LIMIT, (unsigned)s->max_connections,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)s->idle_timeout_s, MHD_OPTION_NOTIFY_COMPLETED, tbp_hs_completed, s,
        MHD_OPTION_ARRAY,
        s->tls_cert ? tls_opts : &tls_opts[2], MHD_OPTION_END);
    if (!s->daemon)
        return tb_fail(s->host, s->ctx, TB_EIO, "cannot listen on %s: %s", s->where,
                       errno ? strerror(errno) : "libmicrohttpd refused to start (see the log above)");
    const union MHD_DaemonInfo *port = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    const union MHD_DaemonInfo *efd = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_EPOLL_FD);
    if (!efd) {
        MHD_stop_daemon(s->daemon);
        s->daemon = NULL;
        return tb_fail(s->host, s->ctx, TB_EIO, "libmicrohttpd gave no epoll descriptor");
    }
    if (port && port->port) s->port = port->port;
    snprintf(s->where, sizeof s->where, strchr(s->host_name, ':') ? "[%s]:%u" : "%s:%u", s->host_name,
             (unsigned)s->port);
    if ((rc = s->host->fd_watch(s->ctx, efd->epoll_fd, TB_FD_READ, on_ready, s, &s->watch_id)) != TB_OK) {
        MHD_stop_daemon(s->daemon);
        s->daemon = NULL;
        return tb_fail(s->host, s->ctx, rc, "cannot watch the server's descriptor");
    }
    uint64_t every = s->response_timeout_ns / 8;
    if (every < 10000000u) every = 10000000u;
    if (every > 250000000u) every = 250000000u;
    if (s->host->timer_start(s->ctx, every, every, on_sweep, s, &s->sweep_id) != TB_OK) s->sweep_id = 0;
    s->quiesced = s->stopping = false;
    tbp_hs_gauge(s, s->m_port, s->port);
    tb_log(s->host, s->ctx, TB_LOG_INFO, "listening on %s%s", s->tls_cert ? "https://" : "http://", s->where);
    tbp_hs_run(s);
    return TB_OK;
}

static int TB_CALL drain(void *instance) {
    hs_server *s = instance;
    if (!s->daemon) return TB_OK;
    if (!s->quiesced) {
        /* no new connections; those open finish what they started */
        MHD_socket fd = MHD_quiesce_daemon(s->daemon);
        if (fd != MHD_INVALID_SOCKET) close(fd);
        s->quiesced = true;
    }
    tbp_hs_run(s);
    /* answers still being sent */
    for (uint32_t i = 0; i < s->nbatches; i++)
        if (s->batches[i].token) return TB_EAGAIN;
    return TB_OK;
}

static int TB_CALL stop(void *instance) {
    hs_server *s = instance;
    if (!s->daemon) return TB_OK;
    s->stopping = true;
    if (s->sweep_id) s->host->timer_stop(s->ctx, s->sweep_id);
    if (s->timer_id) s->host->timer_stop(s->ctx, s->timer_id);
    s->sweep_id = s->timer_id = 0;
    /* libmicrohttpd must not be stopped with a connection suspended: every request still
     * waiting is answered (and so resumed) first */
    while (s->ntable) {
        hs_request *r = s->table[s->ntable - 1];
        static const char why[] = "the server is stopping\n";
        tbp_hs_answer(s, r, 503, "text/plain", why, sizeof why - 1, NULL, UINT32_MAX);
    }
    s->queue_head = s->queue_tail = NULL;
    MHD_run(s->daemon);
    s->host->fd_unwatch(s->ctx, s->watch_id);
    s->watch_id = 0;
    MHD_stop_daemon(s->daemon);
    s->daemon = NULL;
    /* batches whose answers were never sent */
    for (uint32_t i = 0; i < s->nbatches; i++)
        if (s->batches[i].token) {
            s->host->delivered(s->ctx, s->batches[i].token, TB_ECLOSED);
            s->batches[i].token = 0;
        }
    return TB_OK;
}

/* Reads a whole PEM file into host memory, NUL-terminated. */
static char *read_pem(hs_server *s, const char *path, size_t plen, const char *what) {
    char name[4096];
    if (plen >= sizeof name) {
        tb_fail(s->host, s->ctx, TB_EINVAL, "tls.%s: the path is too long", what);
        return NULL;
    }
    memcpy(name, path, plen);
    name[plen] = '\0';
    FILE *f = fopen(name, "rb");
    if (!f) {
        tb_fail(s->host, s->ctx, TB_EINVAL, "tls.%s: cannot read %s: %s", what, name, strerror(errno));
        return NULL;
    }
    size_t cap = 8192, len = 0;
    char *buf = s->host->alloc(s->ctx, cap);
    while (buf) {
        len += fread(buf + len, 1, cap - len - 1, f);
        if (len < cap - 1 || cap > (1u << 20)) break;
        char *n = s->host->realloc(s->ctx, buf, cap * 2);
        if (!n) {
            s->host->free(s->ctx, buf);
            buf = NULL;
            break;
        }
        buf = n;
        cap *= 2;
    }
    fclose(f);
    if (!buf) {
        tb_fail(s->host, s->ctx, TB_ENOMEM, "out of memory reading %s", name);
        return NULL;
    }
    buf[len] = '\0';
    return buf;
}

static int tls_from_config(hs_server *s, const tb_value *tls) {
    if (!tls || tls->type == TB_NULL) return TB_OK;
    size_t clen = 0, klen = 0;
    const char *cert = tls->type == TB_OBJECT ? tb_value_str(tb_object_getz(tls, "cert"), &clen) : NULL;
    const char *key = tls->type == TB_OBJECT ? tb_value_str(tb_object_getz(tls, "key"), &klen) : NULL;
    if (!cert || !key)
        return tb_fail(s->host, s->ctx, TB_EINVAL, "tls must be {\"cert\": FILE, \"key\": FILE}, found a %s",
                       tls->type == TB_OBJECT ? "record without both" : tb_type_name(tls->type));
    if (!MHD_is_feature_supported(MHD_FEATURE_TLS))
        return tb_fail(s->host, s->ctx, TB_ENOTSUP, "tls: this libmicrohttpd was built without TLS");
    if (!(s->tls_cert = read_pem(s, cert, clen, "cert"))) return TB_EINVAL;
    if (!(s->tls_key = read_pem(s, key, klen, "key"))) return TB_EINVAL;
    return TB_OK;
}

/* host and port from "url" ("http://h:p", "h:p", "[v6]:p", ":p") or "host" and "port". */
static int address_from_config(hs_server *s, const tb_value *config) {
    size_t len;
    const char *url = tb_config_str(config, "url", NULL, &len);
    const char *host = "0.0.0.0";
    size_t hlen = strlen(host);
    uint64_t port;
    if (url) {
        const char *p = url, *end = url + len;
        if (len >= 7 && !strncasecmp(p, "http://", 7)) p += 7;
        else if (len >= 8 && !strncasecmp(p, "https://", 8)) p += 8;
        const char *slash = memchr(p, '/', (size_t)(end - p));
        if (slash) end = slash;
        const char *colon;
        if (p < end && *p == '[') {
            const char *close = memchr(p, ']', (size_t)(end - p));
            if (!close || close + 1 >= end || close[1] != ':') goto bad;
            host = p + 1;
            hlen = (size_t)(close - host);
            colon = close + 1;
        } else {
            colon = NULL;
            for (const char *q = end; q > p; q--)
                if (q[-1] == ':') {
                    colon = q - 1;
                    break;
                }
            if (!colon) goto bad;
            if (colon > p) {
                host = p;
                hlen = (size_t)(colon - p);
            }
        }
        char digits[8];
        size_t dl = (size_t)(end - colon - 1);
        if (dl == 0 || dl >= sizeof digits) goto bad;
        memcpy(digits, colon + 1, dl);
        digits[dl] = '\0';
        char *stop;
        port = strtoull(digits, &stop, 10);
        if (*stop || port > 65535) goto bad;
    } else {
        const char *h = tb_config_str(config, "host", NULL, &len);
        if (h) {
            host = h;
            hlen = len;
        }
        const tb_value *pv = tb_object_getz(config, "port");
        if (!pv) return tb_fail(s->host, s->ctx, TB_EINVAL, "url (or port) is required: where to listen");
        port = tb_config_u64(config, "port", 65536);
        if (port > 65535) return tb_fail(s->host, s->ctx, TB_EINVAL, "port must be at most 65535");
    }
    if (hlen == 0 || hlen >= sizeof s->host_name) goto bad;
    memcpy(s->host_name, host, hlen);
    s->host_name[hlen] = '\0';
    s->port = (uint16_t)port;
    snprintf(s->where, sizeof s->where, memchr(host, ':', hlen) ? "[%s]:%u" : "%s:%u", s->host_name, (unsigned)port);
    return TB_OK;
bad:
    return tb_fail(s->host, s->ctx, TB_EINVAL,
                   "url must be \"host:port\" (\"127.0.0.1:8080\", \"http://localhost:8080\", \"[::1]:8080\"), found \"%.*s\"",
                   (int)len, url);
}

static void metric(hs_server *s, const char *name, uint32_t type, uint32_t *id) {
    if (s->host->metric_register(s->ctx, name, type, id) != TB_OK) *id = UINT32_MAX;
}

static void free_instance(hs_server *s) {
    s->host->free(s->ctx, s->content_type);
    s->host->free(s->ctx, s->tls_cert);
    s->host->free(s->ctx, s->tls_key);
    s->host->free(s->ctx, s->table);
    s->host->free(s->ctx, s->batches);
    s->host->free(s->ctx, s);
}

static int TB_CALL create(const tb_create_args *args, void **out) {
    const tb_host_api *host = args->host;
    const tb_value *config = args->config;
    hs_server *s = host->alloc(args->ctx, sizeof *s);
    int rc;
    if (!s) return tb_fail(host, args->ctx, TB_ENOMEM, "out of memory");
    memset(s, 0, sizeof *s);
    s->host = host;
    s->ctx = args->ctx;
    s->streams = host->get_extension(args->ctx, TB_EXT_STREAMS);
    uint64_t max_conn = tb_config_u64(config, "max_connections", 1024);
    uint64_t max_body = tb_config_u64(config, "max_body", 16777216);
    uint64_t timeout_ms = tb_config_u64(config, "response_timeout_ms", 10000);
    uint64_t idle_s = tb_config_u64(config, "idle_timeout_s", 60);
    uint64_t ack_status = tb_config_u64(config, "ack_status", 200);
    uint64_t fail_status = tb_config_u64(config, "fail_status", 503);
    rc = address_from_config(s, config);
    if (rc == TB_OK && (max_conn == 0 || max_conn > MAX_CONNECTIONS_LIMIT))
        rc = tb_fail(host, s->ctx, TB_EINVAL, "max_connections must be between 1 and %u, found %llu",
                     MAX_CONNECTIONS_LIMIT, (unsigned long long)max_conn);
    if (rc == TB_OK && (max_body == 0 || max_body > (1u << 30)))
        rc = tb_fail(host, s->ctx, TB_EINVAL, "max_body must be between 1 and 1073741824 bytes, found %llu",
                     (unsigned long long)max_body);
    if (rc == TB_OK && (timeout_ms == 0 || timeout_ms > 3600000 || idle_s > 86400))
        rc = tb_fail(host, s->ctx, TB_EINVAL,
                     "response_timeout_ms must be between 1 and 3600000, idle_timeout_s at most 86400");
    if (rc == TB_OK && (ack_status < 100 || ack_status > 599 || fail_status < 100 || fail_status > 599))
        rc = tb_fail(host, s->ctx, TB_EINVAL, "ack_status and fail_status must be HTTP statuses (100 to 599)");
    size_t ctlen;
    const char *ct = tb_config_str(config, "content_type", NULL, &ctlen);
    if (rc == TB_OK && ct) {
        if (!(s->content_type = host->alloc(s->ctx, ctlen + 1))) rc = tb_fail(host, s->ctx, TB_ENOMEM, "out of memory");
        else {
            memcpy(s->content_type, ct, ctlen);
            s->content_type[ctlen] = '\0';
        }
    }
    if (rc == TB_OK) rc = tls_from_config(s, tb_object_getz(config, "tls"));
    if (rc == TB_OK && !MHD_is_feature_supported(MHD_FEATURE_EPOLL))
        rc = tb_fail(host, s->ctx, TB_ENOTSUP, "this libmicrohttpd was built without epoll support");
    if (rc != TB_OK) {
        free_instance(s);
        return rc;
    }
    s->max_connections = (uint32_t)max_conn;
    s->max_body = max_body;
    s->response_timeout_ns = timeout_ms * 1000000u;
    s->idle_timeout_s = (uint32_t)idle_s;
    s->ack_status = (unsigned)ack_status;
    s->fail_status = (unsigned)fail_status;
    /* stream ids are opaque: starting somewhere arbitrary keeps them apart from the small ids
     * other sources use, should their events be routed to this sink by mistake */
    uint64_t t = host->now_ns() ^ (uint64_t)(uintptr_t)s;
    s->stream_base = (uint32_t)(t ^ (t >> 32)) * 2654435761u;
    metric(s, "requests", TB_METRIC_COUNTER, &s->m_requests);
    metric(s, "responses", TB_METRIC_COUNTER, &s->m_responses);
    metric(s, "responses_timed_out", TB_METRIC_COUNTER, &s->m_timeouts);
    metric(s, "requests_too_large", TB_METRIC_COUNTER, &s->m_too_large);
    metric(s, "events_undeliverable", TB_METRIC_COUNTER, &s->m_undeliverable);
    metric(s, "requests_waiting", TB_METRIC_GAUGE, &s->m_waiting);
    metric(s, "port", TB_METRIC_GAUGE, &s->m_port);
    *out = s;
    return TB_OK;
}

static void TB_CALL destroy(void *instance) {
    hs_server *s = instance;
    stop(s);
    free_instance(s);
}

static const tb_connector_vtable vtable = {
    .struct_size = sizeof(tb_connector_vtable),
    .flags = TB_CONNECTOR_SOURCE | TB_CONNECTOR_SINK,
    .create = create,
    .destroy = destroy,
    .connect = connect_,
    .drain = drain,
    .stop = stop,
    .pull = tbp_hs_pull,
    .ack = tbp_hs_ack,
    .fail = tbp_hs_fail,
    .push = tbp_hs_push,
};

const tb_component tbp_http_server_component = {
    .struct_size = sizeof(tb_component),
    .kind = TB_KIND_CONNECTOR,
    .name = "http_server",
    .description = "serves HTTP: each request an event, answered by the events sent back for it",
    .options = options,
    .option_count = sizeof options / sizeof options[0],
    .vtable = &vtable,
};
