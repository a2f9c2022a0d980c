/*
 * udp.c - the `udp_server` and `udp_client` connectors. The server binds url and emits every
 * datagram it receives as a raw event carrying its peer; its sink half sends each event's
 * bytes to the peer in the event's meta (answers), or to default_peer. The client connects a
 * datagram socket to url: its sink sends each event's bytes as a datagram, its source emits
 * what the peer sends back. This file holds the options, create (addresses are resolved
 * there, once), the socket's lifecycle and fd watch, and the descriptor; the halves are
 * udp_recv.c and udp_send.c.
 *
 * The socket is opened in connect, so a failure (the address is taken, the network is
 * unreachable) is TB_EIO, which the runtime retries with backoff as reconnect says. On a
 * reload it moves to the new build (save and restore). It is
 * non-blocking and watched through the host: nothing waits on the instance's thread.
 *
 * Ownership: see udp.h. Thread contract: create and destroy on a control thread, every other
 * callback and the fd callback on the instance's thread.
 */
#define _GNU_SOURCE
#include "udp.h"

#include <errno.h>
#include <unistd.h>

#define MAX_DATAGRAM (1u << 16)     /* nothing larger comes over UDP */
#define MAX_WRITE_BUFFER (1ull << 40)

static const tb_option server_options[] = {
    TB_OPTION("url", TB_OPT_STRING, NULL, TB_OPT_REQUIRED,
              "where to listen: \"host:port\", \"[ipv6]:port\" or \":port\" (udp:// optional)"),
    TB_OPTION("buf_size", TB_OPT_UINT, "65536", 0,
              "largest datagram taken whole; a longer one goes to err, cut to this size"),
    TB_OPTION("default_peer", TB_OPT_STRING, NULL, 0,
              "\"host:port\" the sink sends events to that carry no $udp_server.peer"),
    TB_OPTION("write_buffer_size", TB_OPT_UINT, "1048576", 0,
              "bytes waiting to be sent before the circuit opens (it closes at half)"),
};

static const tb_option client_options[] = {
    TB_OPTION("url", TB_OPT_STRING, NULL, TB_OPT_REQUIRED,
              "the peer: \"host:port\" or \"[ipv6]:port\" (udp:// optional)"),
    TB_OPTION("bind", TB_OPT_STRING, NULL, 0, "the local \"host:port\" to send from (default: any)"),
    TB_OPTION("buf_size", TB_OPT_UINT, "65536", 0,
              "largest datagram taken whole; a longer one goes to err, cut to this size"),
    TB_OPTION("write_buffer_size", TB_OPT_UINT, "1048576", 0,
              "bytes waiting to be sent before the circuit opens (it closes at half)"),
};

static void TB_CALL on_ready(void *user, int fd, uint32_t events) {
    udp_inst *u = user;
    (void)fd;
    if (events & TB_FD_READ) u->read_armed = false; /* the runtime pulls after this */
    if (events & TB_FD_ERROR) {
        /* a pending socket error (an ICMP answer) keeps the fd reporting until it is read */
        int err = 0;
        socklen_t len = sizeof err;
        if (getsockopt(u->fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err) {
            if (!u->server && err == ECONNREFUSED) {
                if (!u->broken) u->broken = err;
                tbp_udp_fail_queue(u, TB_EIO);
            } else {
                tbp_udp_warn(u, "udp %s: %s", u->url, strerror(err));
            }
        }
    }
    if (events & TB_FD_WRITE) tbp_udp_flush(u);
    tbp_udp_watch(u);
}

int tbp_udp_watch(udp_inst *u) {
    uint32_t want = (u->read_armed ? TB_FD_READ : 0u) | (u->out_head ? TB_FD_WRITE : 0u);
    int rc;
    if (u->fd < 0) return TB_OK;
    if (u->watch_id && want == u->watched) return TB_OK;
    if (u->watch_id) rc = u->host->fd_modify(u->ctx, u->watch_id, want);
    else rc = u->host->fd_watch(u->ctx, u->fd, want, on_ready, u, &u->watch_id);
    if (rc != TB_OK) {
        u->watch_id = 0;
        return tb_fail(u->host, u->ctx, TB_EIO, "udp %s: cannot watch the socket: fd_watch failed (%d)",
                       u->url, rc);
    }
    u->watched = want;
    return TB_OK;
}

static void close_socket(udp_inst *u) {
    if (u->watch_id) u->host->fd_unwatch(u->ctx, u->watch_id);
    u->watch_id = 0;
    u->watched = 0;
    u->read_armed = false;
    if (u->fd >= 0) close(u->fd);
    u->fd = -1;
}

static int TB_CALL connect_(void *instance) {
    udp_inst *u = instance;
    char host[64];
    const char *what;
    if (u->fd >= 0 && !u->broken) return TB_OK;
    tbp_udp_fail_queue(u, TB_EIO);
    close_socket(u);
    u->broken = 0;
    int fd = socket(u->addr.ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return tb_fail(u->host, u->ctx, TB_EIO, "udp %s: cannot make a socket: %s", u->url, strerror(errno));
    if (u->server) {
        what = "bind";
        if (bind(fd, (const struct sockaddr *)&u->addr.ss, u->addr.len) != 0) goto fail;
    } else {
        what = "bind";
        if (u->local.len && bind(fd, (const struct sockaddr *)&u->local.ss, u->local.len) != 0) goto fail;
        what = "connect";
        if (connect(fd, (const struct sockaddr *)&u->addr.ss, u->addr.len) != 0) goto fail;
    }
    u->fd = fd;
    u->family = u->addr.ss.ss_family;
    int rc = tbp_udp_watch(u); /* no interest yet: a socket error is still reported */
    if (rc != TB_OK) {
        close_socket(u);
        return rc;
    }
    if (u->server) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof ss;
        if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0) {
            uint16_t port = tbp_udp_format((const struct sockaddr *)&ss, host, sizeof host);
            tb_log(u->host, u->ctx, TB_LOG_INFO, "listening on udp %s port %u", host, port);
        }
    }
    return TB_OK;

fail: {
    int e = errno;
    close(fd);
    return tb_fail(u->host, u->ctx, TB_EIO, "udp %s: cannot %s: %s", u->url, what, strerror(e));
}
}

static int TB_CALL drain(void *instance) {
    udp_inst *u = instance;
    return u->out_head ? TB_EAGAIN : TB_OK;
}

static int TB_CALL stop(void *instance) {
    udp_inst *u = instance;
    tbp_udp_fail_queue(u, TB_ECLOSED);
    close_socket(u);
    if (u->circuit_open) u->host->circuit(u->ctx, false);
    u->circuit_open = false;
    return TB_OK;
}

/* A reload: the socket moves to the new build ("temblor.handover/1"), so no datagram sent
 * meanwhile meets a closed port, and a client keeps its local port. Not with datagrams still
 * waiting to be sent, or a client whose peer refused: then stop closes it as before. */
static int TB_CALL save(void *instance, tb_arena *a, tb_value *out) {
    udp_inst *u = instance;
    const tb_ext_handover *x = u->host->get_extension(u->ctx, TB_EXT_HANDOVER);
    *out = tb_object();
    if (!x || u->fd < 0 || u->broken || u->out_head) return TB_OK;
    uint64_t h = x->give_fd(u->ctx, u->fd);
    if (!h) return TB_OK;
    if (u->watch_id) u->host->fd_unwatch(u->ctx, u->watch_id);
    u->watch_id = 0;
    u->fd = -1; /* the runtime holds it now: stop does not close it */
    tb_value *slot = tb_object_append(a, out, "fd", 2);
    if (slot) *slot = tb_u64(h);
    if (slot && (slot = tb_object_append(a, out, "next_id", 7))) *slot = tb_u64(u->next_id);
    return slot ? TB_OK : TB_ENOMEM;
}

static int TB_CALL restore(void *instance, const tb_value *saved) {
    udp_inst *u = instance;
    const tb_ext_handover *x = u->host->get_extension(u->ctx, TB_EXT_HANDOVER);
    int fd = x && saved->type == TB_OBJECT ? x->take_fd(u->ctx, tb_config_u64(saved, "fd", 0)) : -1;
    if (fd < 0) return TB_OK; /* connect opens a socket of its own */
    u->fd = fd;
    u->family = u->addr.ss.ss_family;
    u->next_id = tb_config_u64(saved, "next_id", 0);
    if (tbp_udp_watch(u) != TB_OK) {
        close_socket(u);
        return TB_OK;
    }
    tb_log(u->host, u->ctx, TB_LOG_INFO, "udp %s: took over the socket", u->url);
    return TB_OK;
}

static void TB_CALL destroy(void *instance) {
    udp_inst *u = instance;
    stop(u);
    u->host->free(u->ctx, u->buf);
    u->host->free(u->ctx, u);
}

/* Resolves the string option name into out if it is set. */
static int resolve_opt(udp_inst *u, const tb_value *config, const char *name, bool passive, udp_addr *out) {
    size_t len;
    const char *s = tb_config_str(config, name, NULL, &len);
    if (!s) return TB_OK;
    return tbp_udp_resolve(u, name, s, len, passive, out);
}

static int create(const tb_create_args *args, bool server, void **out) {
    const tb_host_api *host = args->host;
    const tb_value *config = args->config;
    size_t len;
    const char *url = tb_config_str(config, "url", NULL, &len);
    uint64_t buf_size = tb_config_u64(config, "buf_size", 65536);
    uint64_t wbuf = tb_config_u64(config, "write_buffer_size", 1048576);
    int rc;
    if (!url || len == 0) return tb_fail(host, args->ctx, TB_EINVAL, "url must not be empty");
    if (memchr(url, 0, len)) return tb_fail(host, args->ctx, TB_EINVAL, "url must not contain a NUL byte");
    if (buf_size == 0 || buf_size > MAX_DATAGRAM)
        return tb_fail(host, args->ctx, TB_EINVAL, "buf_size must be between 1 and %u bytes, found %llu",
                       MAX_DATAGRAM, (unsigned long long)buf_size);
    if (wbuf == 0 || wbuf > MAX_WRITE_BUFFER)
        return tb_fail(host, args->ctx, TB_EINVAL,
                       "write_buffer_size must be between 1 and %llu bytes, found %llu",
                       (unsigned long long)MAX_WRITE_BUFFER, (unsigned long long)wbuf);
    udp_inst *u = host->alloc(args->ctx, sizeof *u + len + 1);
    if (!u) return TB_ENOMEM;
    memset(u, 0, sizeof *u);
    u->host = host;
    u->ctx = args->ctx;
    u->server = server;
    u->url = (char *)(u + 1);
    memcpy(u->url, url, len);
    u->url[len] = '\0';
    u->buf_size = (size_t)buf_size;
    u->write_buffer_size = (size_t)wbuf;
    u->fd = -1;
    if ((rc = tbp_udp_resolve(u, "url", url, len, server, &u->addr)) != TB_OK ||
        (rc = resolve_opt(u, config, server ? "default_peer" : "bind", !server, server ? &u->dflt : &u->local)) != TB_OK)
        goto fail;
    if (u->local.len && u->local.ss.ss_family != u->addr.ss.ss_family) {
        rc = tb_fail(host, args->ctx, TB_EINVAL, "bind and url must be of one address family (IPv4 or IPv6)");
        goto fail;
    }
    if (!(u->buf = host->alloc(args->ctx, u->buf_size))) {
        rc = TB_ENOMEM;
        goto fail;
    }
    *out = u;
    return TB_OK;
fail:
    host->free(args->ctx, u);
    return rc;
}

static int TB_CALL create_server(const tb_create_args *args, void **out) { return create(args, true, out); }
static int TB_CALL create_client(const tb_create_args *args, void **out) { return create(args, false, out); }

static const tb_connector_vtable server_vtable = {
    .struct_size = sizeof(tb_connector_vtable),
    .flags = TB_CONNECTOR_SOURCE | TB_CONNECTOR_SINK,
    .create = create_server,
    .destroy = destroy,
    .connect = connect_,
    .drain = drain,
    .stop = stop,
    .pull = tbp_udp_pull,
    .push = tbp_udp_push,
    .save = save,
    .restore = restore,
};

static const tb_connector_vtable client_vtable = {
    .struct_size = sizeof(tb_connector_vtable),
    .flags = TB_CONNECTOR_SOURCE | TB_CONNECTOR_SINK,
    .create = create_client,
    .destroy = destroy,
    .connect = connect_,
    .drain = drain,
    .stop = stop,
    .pull = tbp_udp_pull,
    .push = tbp_udp_push,
    .save = save,
    .restore = restore,
};

static const tb_component server = {
    .struct_size = sizeof(tb_component),
    .kind = TB_KIND_CONNECTOR,
    .name = "udp_server",
    .description = "receives UDP datagrams as raw events with their peer; sends events back to it",
    .options = server_options,
    .option_count = sizeof server_options / sizeof server_options[0],
    .vtable = &server_vtable,
};

static const tb_component client = {
    .struct_size = sizeof(tb_component),
    .kind = TB_KIND_CONNECTOR,
    .name = "udp_client",
    .description = "sends raw events as UDP datagrams to one peer; receives its answers",
    .options = client_options,
    .option_count = sizeof client_options / sizeof client_options[0],
    .vtable = &client_vtable,
};

static const tb_component *const components[] = {&server, &client};

static const tb_permission permissions[] = {
    TB_PERMISSION(TB_PERM_NET_LISTEN, NULL, "url", "udp_server receives datagrams at url"),
    TB_PERMISSION(TB_PERM_NET_CONNECT, NULL, "url", "udp_client sends datagrams to url"),
};

static const tb_plugin_descriptor descriptor = {
    TB_DESCRIPTOR_HEAD,
    .flags = TB_PLUGIN_UNLOAD_SAFE,
    .name = "udp",
    .version = "0.1.0",
    .description = "The udp_server and udp_client connectors",
    .components = components,
    .component_count = 2,
    .permissions = permissions,
    .permission_count = sizeof permissions / sizeof permissions[0],
};

TB_PLUGIN_ENTRY(udp) { return &descriptor; }
