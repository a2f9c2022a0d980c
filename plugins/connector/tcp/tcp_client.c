/*
 * tcp_client.c - the `tcp_client` connector, as Tremor's: it connects to url (or host and
 * port), optionally over TLS; its sink half writes the bytes of every event to the server, its
 * source half emits what the server sends as raw chunks, one stream per connection.
 *
 * Connecting never blocks the thread. connect resolves the name (getaddrinfo, on this thread: a
 * numeric address needs no lookup), starts a non-blocking connect to each address in turn and
 * looks once, without waiting, whether it already failed (tcp_dial.c): a refusal on the same
 * machine is known at once and answered TB_EIO, which the runtime retries with backoff (troy
 * reconnect). Otherwise connect answers TB_OK while the connection (and the TLS handshake)
 * completes on fd readiness; pushes meanwhile are buffered and answered TB_EPENDING. If it
 * fails later, or connect_timeout_ms passes, or the server closes or breaks the connection, the
 * next pull or push answers TB_EIO (TB_ECLOSED for a clean close) with the reason, and the
 * runtime reconnects with backoff: connect closes what is left and starts again, with a new
 * stream. Before that, pull emits the end of the connection's stream (TB_EF_STREAM_END), so its
 * preprocessors flush.
 *
 * A sink-only client learns of a lost connection at its next push (the runtime offers no way
 * to report it in between): that push fails and reconnects. Batches still buffered when a
 * connection is lost are reported failed through host->delivered.
 *
 * Ownership: the instance and its read buffer are host memory; it owns its link (socket, TLS
 * state, buffer) and its SSL_CTX. Thread contract: create and destroy on a control thread,
 * everything else on the instance's thread.
 */
#define _GNU_SOURCE
#include <stdio.h>

#include "tcp.h"

#define MAX_IOV 64

static const tb_option options[] = {
    TB_OPTION("url", TB_OPT_STRING, NULL, 0, "where to connect: \"host:port\" (\"localhost:4242\", \"[::1]:4242\")"),
    TB_OPTION("host", TB_OPT_STRING, NULL, 0, "instead of url: the host to connect to"),
    TB_OPTION("port", TB_OPT_UINT, NULL, 0, "instead of url: the port to connect to"),
    TB_OPTION("buf_size", TB_OPT_UINT, "65536", 0, "most bytes read from the server into one event"),
    TB_OPTION("no_delay", TB_OPT_BOOL, "true", 0, "TCP_NODELAY: send small writes at once"),
    TB_OPTION("connect_timeout_ms", TB_OPT_UINT, "10000", 0,
              "a connection (with its TLS handshake) not established in this time has failed"),
    TB_OPTION("max_buffered", TB_OPT_UINT, "4194304", 0,
              "unsent bytes held before the circuit breaker pauses the sources feeding the sink"),
    TB_OPTION("tls", TB_OPT_ANY, "false", 0,
              "true (verify the server against the system's CAs), or {\"cafile\", \"domain\", \"cert\", \"key\", \"verify\"}"),
};

typedef struct tcp_client {
    const tb_host_api *host;
    tb_context *ctx;
    tcp_dial dial;                 /* the address, TLS, the connect deadline */
    char where[TCP_HOST_MAX + 8];
    size_t buf_size;
    uint8_t *scratch;              /* buf_size bytes: every read lands here first */
    tcp_track track;
    tcp_link link;

    uint32_t stream;               /* this connection's */
    uint32_t next_stream;
    uint64_t offset;               /* bytes read on it: the next event's id */
    bool has_data, ended;          /* an event of the stream was emitted / its end was */
    int lost;                      /* TB_EIO or TB_ECLOSED once the connection is lost; 0 */
    char why[300];
    bool stopped;                  /* stop was called: no connecting again before connect */
} tcp_client;

static void lost(tcp_client *c, int status, const char *why) {
    if (!c->lost) {
        c->lost = status;
        snprintf(c->why, sizeof c->why, "%s", why);
    }
    tbp_tcp_dial_disarm(&c->dial);
}

static void client_note(void *owner, tcp_link *l, uint32_t notes) {
    tcp_client *c = owner;
    if (notes & TCP_NOTE_BROKEN) {
        lost(c, TB_EIO, l->err);
        return;
    }
    if (notes & TCP_NOTE_OPENED) {
        tbp_tcp_dial_disarm(&c->dial);
        tb_log(c->host, c->ctx, TB_LOG_INFO, "connected to %s%s", c->where, c->link.ssl ? " (TLS)" : "");
    }
    /* readable: the runtime pulls after any callback of the instance */
}

static void TB_CALL on_connect_timeout(void *user, uint64_t timer_id) {
    tcp_client *c = user;
    (void)timer_id;
    c->dial.timer_id = 0;
    if (c->link.state != TCP_LINK_CONNECTING && c->link.state != TCP_LINK_HANDSHAKE) return;
    tbp_tcp_link_fail(&c->link, "%s timed out", c->link.state == TCP_LINK_CONNECTING ? "connecting" : "the TLS handshake");
    lost(c, TB_EIO, c->link.err);
}

static int TB_CALL connect_(void *instance) {
    tcp_client *c = instance;
    SSL *ssl;
    uint32_t state;
    int fd, rc;
    /* a reconnect: what is left of the old connection goes, and a new stream begins */
    tbp_tcp_dial_disarm(&c->dial);
    tbp_tcp_link_close(&c->link, false, TB_ECLOSED);
    c->link.state = TCP_LINK_CLOSED;
    c->lost = 0;
    c->why[0] = '\0';
    c->stopped = false;
    if ((rc = tbp_tcp_dial_start(&c->dial, c->where, &fd, &ssl, &state)) != TB_OK) return rc;
    if (c->next_stream) tbp_tcp_sink_stream_done(c->host, c->ctx, c->stream); /* the old connection's */
    c->stream = c->next_stream++;
    c->offset = 0;
    c->has_data = c->ended = false;
    if (tbp_tcp_link_open(&c->link, c->host, c->ctx, &c->track, client_note, c, fd, ssl, state) != TB_OK)
        return tb_fail(c->host, c->ctx, TB_EIO, "cannot connect to %s: %s", c->where, c->link.err);
    if (state == TCP_LINK_OPEN) tb_log(c->host, c->ctx, TB_LOG_INFO, "connected to %s", c->where);
    else tbp_tcp_dial_arm(&c->dial, on_connect_timeout, c);
    return TB_OK;
}

/* The connection is gone: TB_EIO or TB_ECLOSED with the reason, for the runtime to reconnect. */
static int report_lost(tcp_client *c) {
    return tb_fail(c->host, c->ctx, c->lost ? c->lost : TB_EIO, "%s: %s", c->where,
                   c->why[0] ? c->why : "not connected");
}

static int end_stream(tcp_client *c, tb_batch *out, uint64_t now) {
    if (!c->has_data || c->ended) return TB_OK;
    tb_event *e = tb_batch_push(out);
    if (!e) return tb_fail(c->host, c->ctx, TB_ENOMEM, "out of memory ending the stream of %s", c->where);
    c->ended = true;
    e->data = tb_bytes(NULL, 0);
    e->id = c->offset;
    e->ingest_ns = now;
    e->stream = c->stream;
    e->flags = TB_EF_RAW | TB_EF_STREAM_END;
    return TB_OK;
}

static int push_event(tcp_client *c, tb_batch *out, const uint8_t *p, size_t n, uint64_t now) {
    size_t hlen = strlen(c->dial.addr.host);
    tb_event *e = tb_batch_push(out);
    const char *h = tb_arena_dup(out->arena, c->dial.addr.host, hlen);
    if (!e || !h || !tbp_tcp_peer_meta(out->arena, &e->meta, "tcp_client", h, hlen, c->dial.addr.port, c->dial.tls != NULL))
        return tb_fail(c->host, c->ctx, TB_ENOMEM, "out of memory reading from %s", c->where);
    e->data = tb_bytes(p, n);
    e->id = c->offset;
    e->ingest_ns = now;
    e->stream = c->stream;
    e->flags = TB_EF_RAW;
    c->offset += n;
    c->has_data = true;
    return TB_OK;
}

static int TB_CALL pull(void *instance, tb_batch *out) {
    tcp_client *c = instance;
    int rc;
    if (c->stopped) return TB_EAGAIN;
    if (c->link.state == TCP_LINK_CLOSED && !c->lost && (rc = connect_(c)) != TB_OK) return rc;
    uint32_t limit = out->capacity > out->count ? out->capacity : out->count + 1;
    uint64_t now = tbp_tcp_realtime_ns();
    size_t taken = 0;
    if (c->link.state == TCP_LINK_BROKEN && !c->lost) lost(c, TB_EIO, c->link.err);
    while (!c->lost && out->count < limit && taken < TB_BATCH_BYTES) {
        const uint8_t *p;
        size_t n;
        rc = tbp_tcp_read_chunk(&c->link, out->arena, c->scratch, c->buf_size, &p, &n);
        if (rc == TB_OK) {
            if ((rc = push_event(c, out, p, n, now)) != TB_OK) return rc;
            taken += n;
        } else if (rc == TB_EAGAIN) {
            break;
        } else if (rc == TB_EOF) {
            tbp_tcp_link_fail(&c->link, "the server closed the connection");
            lost(c, TB_ECLOSED, c->link.err);
        } else if (rc == TB_EIO) {
            lost(c, TB_EIO, c->link.err);
        } else {
            return tb_fail(c->host, c->ctx, rc, "out of memory reading from %s", c->where);
        }
    }
    if (c->lost) {
        /* the stream ends in this batch; the loss is reported by the next pull, since the
         * events of a failing pull are dropped */
        if ((rc = end_stream(c, out, now)) != TB_OK) return rc;
        if (!out->count) return report_lost(c);
    }
    return out->count ? TB_OK : TB_EAGAIN;
}

static int TB_CALL push(void *instance, tb_batch *in) {
    tcp_client *c = instance;
    struct iovec iov[MAX_IOV];
    uint32_t failed = 0;
    int cnt = 0, rc;
    if (c->stopped) return tb_fail(c->host, c->ctx, TB_ECLOSED, "%s: the connector is stopped", c->where);
    if (c->link.state == TCP_LINK_CLOSED && !c->lost && (rc = connect_(c)) != TB_OK) return rc;
    if (c->link.state == TCP_LINK_BROKEN && !c->lost) lost(c, TB_EIO, c->link.err);
    if (c->lost) return report_lost(c);
    uint32_t slot = tbp_tcp_track_open(&c->track, in->token);
    if (slot == UINT32_MAX) return tb_fail(c->host, c->ctx, TB_ENOMEM, "out of memory tracking a batch");
    for (uint32_t i = 0; i <= in->count; i++) {
        if (i < in->count) {
            const tb_event *e = &in->events[i];
            if (e->flags & TB_EF_DROPPED) continue;
            if (!(e->flags & TB_EF_RAW) || e->data.type != TB_BYTES) {
                tb_log(c->host, c->ctx, TB_LOG_WARN,
                       "event %u not sent: it is not raw bytes (the tcp_client sink needs a codec)", i);
                failed++;
                continue;
            }
            if (!e->data.len) continue;
            iov[cnt].iov_base = (void *)e->data.as.bytes;
            iov[cnt].iov_len = e->data.len;
            cnt++;
        }
        if (cnt && (cnt == MAX_IOV || i == in->count)) {
            if (tbp_tcp_link_send(&c->link, iov, cnt) != TB_OK) {
                lost(c, TB_EIO, c->link.err);
                tbp_tcp_track_drop(&c->track, slot);
                return report_lost(c);
            }
            cnt = 0;
        }
    }
    if (!tbp_tcp_link_mark(&c->link, slot)) failed++;
    return tbp_tcp_track_finish_push(&c->track, slot, failed ? TB_ERROR : TB_OK);
}

static int TB_CALL drain(void *instance) {
    tcp_client *c = instance;
    if (c->link.state == TCP_LINK_OPEN && c->link.len && tbp_tcp_link_flush(&c->link) != TB_OK) return TB_OK;
    bool alive = c->link.state == TCP_LINK_OPEN || c->link.state == TCP_LINK_CONNECTING ||
                 c->link.state == TCP_LINK_HANDSHAKE;
    return alive && c->link.len ? TB_EAGAIN : TB_OK;
}

static int TB_CALL stop(void *instance) {
    tcp_client *c = instance;
    tbp_tcp_dial_disarm(&c->dial);
    tbp_tcp_link_close(&c->link, true, TB_ECLOSED);
    c->stopped = true;
    return TB_OK;
}

static int TB_CALL create(const tb_create_args *args, void **out) {
    const tb_host_api *host = args->host;
    const tb_value *config = args->config;
    tcp_addr addr;
    SSL_CTX *tls = NULL;
    char name[TCP_HOST_MAX];
    bool verify;
    int rc;
    uint64_t buf_size = tb_config_u64(config, "buf_size", 65536);
    uint64_t timeout_ms = tb_config_u64(config, "connect_timeout_ms", 10000);
    uint64_t max_buffered = tb_config_u64(config, "max_buffered", 4194304);
    if ((rc = tbp_tcp_addr_from_config(host, args->ctx, config, NULL, false, &addr)) != TB_OK) return rc;
    if (buf_size == 0 || buf_size > TCP_MAX_CHUNK)
        return tb_fail(host, args->ctx, TB_EINVAL, "buf_size must be between 1 and %u bytes, found %llu",
                       TCP_MAX_CHUNK, (unsigned long long)buf_size);
    if (timeout_ms == 0 || timeout_ms > 3600000)
        return tb_fail(host, args->ctx, TB_EINVAL, "connect_timeout_ms must be between 1 and 3600000, found %llu",
                       (unsigned long long)timeout_ms);
    if (max_buffered == 0) return tb_fail(host, args->ctx, TB_EINVAL, "max_buffered must be at least 1 byte");
    if ((rc = tbp_tcp_tls_client_ctx(host, args->ctx, tb_object_getz(config, "tls"), addr.host, &tls, name,
                                     sizeof name, &verify)) != TB_OK)
        return rc;
    tcp_client *c = host->alloc(args->ctx, sizeof *c);
    uint8_t *scratch = host->alloc(args->ctx, (size_t)buf_size);
    if (!c || !scratch) {
        host->free(args->ctx, c);
        host->free(args->ctx, scratch);
        SSL_CTX_free(tls);
        return TB_ENOMEM;
    }
    memset(c, 0, sizeof *c);
    c->host = host;
    c->ctx = args->ctx;
    c->dial = (tcp_dial){.host = host, .ctx = args->ctx, .addr = addr,
                         .no_delay = tb_config_bool(config, "no_delay", true),
                         .timeout_ns = timeout_ms * 1000000u, .tls = tls, .verify = verify};
    memcpy(c->dial.server_name, name, sizeof name);
    tbp_tcp_addr_format(addr.host, addr.port, c->where, sizeof c->where);
    c->buf_size = (size_t)buf_size;
    c->scratch = scratch;
    c->link.fd = -1;
    tbp_tcp_track_init(&c->track, host, args->ctx, (size_t)max_buffered);
    *out = c;
    return TB_OK;
}

static void TB_CALL destroy(void *instance) {
    tcp_client *c = instance;
    stop(c);
    tbp_tcp_track_fini(&c->track);
    tbp_tcp_dial_fini(&c->dial);
    c->host->free(c->ctx, c->scratch);
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

const tb_component tbp_tcp_client_component = {
    .struct_size = sizeof(tb_component),
    .kind = TB_KIND_CONNECTOR,
    .name = "tcp_client",
    .description = "connects to a TCP (or TLS) server: writes raw events to it, emits what it sends",
    .options = options,
    .option_count = sizeof options / sizeof options[0],
    .vtable = &vtable,
};
