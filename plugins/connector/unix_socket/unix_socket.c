/*
 * unix_socket.c - the `unix_socket_server` and `unix_socket_client` connectors: stream
 * sockets in the file system (AF_UNIX, SOCK_STREAM). The server listens at path; every
 * connection is a stream of raw bytes, and its sink half answers on the connection an event
 * came from. The client connects to path; its sink writes to the server and its source reads
 * what the server sends. This file holds the options, create and destroy, the lifecycle and
 * the descriptor; the rest is in the files unix_socket.h lists.
 *
 * The socket is opened in connect, not create, so that a path that cannot be bound (a live
 * server there) or a server that is not there yet is an I/O error the runtime retries with
 * backoff, as reconnect says. On a reload the server's sockets move to the new build
 * (unix_handover.c). Nothing ever blocks: every fd is non-blocking and watched
 * through the host.
 *
 * Ownership: see unix_socket.h. Thread contract: create and destroy on a control thread,
 * every other callback on the instance's thread.
 */
#define _GNU_SOURCE
#include "unix_socket.h"

#include <sys/un.h>

#define MAX_CHUNK (1u << 30)        /* an event's bytes must fit tb_value.len */
#define MAX_CONNECTIONS 65536u
#define MAX_WRITE_BUFFER (1ull << 40)
#define CIRCUIT_FACTOR 8            /* server: the circuit opens above 8 x write_buffer_size */

static const tb_option server_options[] = {
    TB_OPTION("path", TB_OPT_STRING, NULL, TB_OPT_REQUIRED, "the socket file to listen at"),
    TB_OPTION("permissions", TB_OPT_STRING, NULL, 0,
              "mode of the socket file, in octal (\"0600\", \"660\"); default: as the umask leaves it"),
    TB_OPTION("buf_size", TB_OPT_UINT, "8192", 0, "most bytes read from a connection into one event"),
    TB_OPTION("max_connections", TB_OPT_UINT, "1024", 0,
              "connections served at once; more are accepted and closed at once"),
    TB_OPTION("write_buffer_size", TB_OPT_UINT, "1048576", 0,
              "bytes waiting for one connection before it is no longer read (until half is written)"),
    TB_OPTION("write_timeout_ms", TB_OPT_UINT, "10000", 0,
              "a connection whose peer takes no waiting byte for this long is closed (0: never)"),
};

static const tb_option client_options[] = {
    TB_OPTION("path", TB_OPT_STRING, NULL, TB_OPT_REQUIRED, "the socket file to connect to"),
    TB_OPTION("buf_size", TB_OPT_UINT, "8192", 0, "most bytes read into one event"),
    TB_OPTION("write_buffer_size", TB_OPT_UINT, "1048576", 0,
              "bytes waiting to be written before the circuit opens (it closes at half)"),
    TB_OPTION("write_timeout_ms", TB_OPT_UINT, "10000", 0,
              "the connection is dropped when the server takes no waiting byte for this long (0: never)"),
};

/* "0600", "600", "=600": an octal mode up to 07777; -1 if it is not one. */
static int parse_mode(const char *s, size_t len) {
    int mode = 0;
    size_t i = 0;
    if (len && s[0] == '=') i++;
    if (i == len || len - i > 4) return -1;
    for (; i < len; i++) {
        if (s[i] < '0' || s[i] > '7') return -1;
        mode = mode * 8 + (s[i] - '0');
    }
    return mode;
}

static void free_inst(us_inst *u) {
    const tb_host_api *host = u->host;
    host->free(u->ctx, u->buf);
    host->free(u->ctx, u->slots);
    host->free(u->ctx, u->gens);
    host->free(u->ctx, u->live);
    host->free(u->ctx, u);
}

static int create(const tb_create_args *args, bool server, void **out) {
    const tb_host_api *host = args->host;
    const tb_value *config = args->config;
    size_t len, mode_len = 0;
    const char *path = tb_config_str(config, "path", NULL, &len);
    const char *perm = server ? tb_config_str(config, "permissions", NULL, &mode_len) : NULL;
    uint64_t buf_size = tb_config_u64(config, "buf_size", 8192);
    uint64_t max_conn = server ? tb_config_u64(config, "max_connections", 1024) : 1;
    uint64_t wbuf = tb_config_u64(config, "write_buffer_size", 1048576);
    uint64_t timeout_ms = tb_config_u64(config, "write_timeout_ms", 10000);
    int mode = -1;
    if (!path || len == 0) return tb_fail(host, args->ctx, TB_EINVAL, "path must not be empty");
    if (memchr(path, 0, len))
        return tb_fail(host, args->ctx, TB_EINVAL, "path must not contain a NUL byte");
    if (len >= sizeof(((struct sockaddr_un *)0)->sun_path))
        return tb_fail(host, args->ctx, TB_EINVAL,
                       "path is %zu bytes long: a unix socket's path has at most %zu", len,
                       sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
    if (perm && (mode = parse_mode(perm, mode_len)) < 0)
        return tb_fail(host, args->ctx, TB_EINVAL,
                       "permissions must be an octal mode such as \"0600\", found \"%.*s\"",
                       (int)mode_len, perm);
    if (buf_size == 0 || buf_size > MAX_CHUNK)
        return tb_fail(host, args->ctx, TB_EINVAL, "buf_size must be between 1 and %u bytes, found %llu",
                       MAX_CHUNK, (unsigned long long)buf_size);
    if (max_conn == 0 || max_conn > MAX_CONNECTIONS)
        return tb_fail(host, args->ctx, TB_EINVAL, "max_connections must be between 1 and %u, found %llu",
                       MAX_CONNECTIONS, (unsigned long long)max_conn);
    if (wbuf == 0 || wbuf > MAX_WRITE_BUFFER)
        return tb_fail(host, args->ctx, TB_EINVAL,
                       "write_buffer_size must be between 1 and %llu bytes, found %llu",
                       (unsigned long long)MAX_WRITE_BUFFER, (unsigned long long)wbuf);
    if (timeout_ms > 86400000u)
        return tb_fail(host, args->ctx, TB_EINVAL,
                       "write_timeout_ms must be at most 86400000 (a day), found %llu",
                       (unsigned long long)timeout_ms);

    us_inst *u = host->alloc(args->ctx, sizeof *u + len + 1);
    if (!u) return TB_ENOMEM;
    memset(u, 0, sizeof *u);
    u->host = host;
    u->ctx = args->ctx;
    u->streams = host->get_extension(args->ctx, TB_EXT_STREAMS);
    u->server = server;
    u->path = (char *)(u + 1);
    memcpy(u->path, path, len);
    u->path[len] = '\0';
    u->buf_size = (size_t)buf_size;
    u->write_buffer_size = (size_t)wbuf;
    u->circuit_bytes = server ? (size_t)wbuf * CIRCUIT_FACTOR : (size_t)wbuf;
    u->write_timeout_ns = timeout_ms * 1000000u;
    u->mode = mode;
    u->max_connections = (uint32_t)max_conn;
    u->listen_fd = -1;
    /* the client keeps a lost connection until a pull has ended its stream: two slots */
    u->nslots = server ? (uint32_t)max_conn : 2;
    while ((1u << u->slot_bits) < u->nslots) u->slot_bits++;
    u->slots = host->alloc(args->ctx, u->nslots * sizeof *u->slots);
    u->gens = host->alloc(args->ctx, u->nslots * sizeof *u->gens);
    u->live = host->alloc(args->ctx, u->nslots * sizeof *u->live);
    u->buf = host->alloc(args->ctx, u->buf_size);
    if (!u->slots || !u->gens || !u->live || !u->buf) {
        free_inst(u);
        return TB_ENOMEM;
    }
    memset(u->slots, 0, u->nslots * sizeof *u->slots);
    for (uint32_t i = 0; i < u->nslots; i++) u->gens[i] = 1;
    *out = u;
    return TB_OK;
}

static int TB_CALL create_server(const tb_create_args *args, void **out) { return create(args, true, out); }
static int TB_CALL create_client(const tb_create_args *args, void **out) { return create(args, false, out); }

static int TB_CALL connect_(void *instance) {
    us_inst *u = instance;
    return u->server ? tbp_us_listen(u) : tbp_us_connect_client(u);
}

static int TB_CALL drain(void *instance) {
    us_inst *u = instance;
    return u->out_total ? TB_EAGAIN : TB_OK;
}

static int TB_CALL stop(void *instance) {
    us_inst *u = instance;
    if (u->server) tbp_us_unlisten(u);
    u->stopping = true;
    tbp_us_conn_close_all(u);
    u->stopping = false;
    tbp_us_fail_pending(u, TB_ECLOSED); /* none should be left: each went with its connection */
    if (u->timeout_timer) u->host->timer_stop(u->ctx, u->timeout_timer);
    u->timeout_timer = 0;
    if (u->circuit_open) u->host->circuit(u->ctx, false);
    u->circuit_open = false;
    u->lost = false;
    return TB_OK;
}

static void TB_CALL destroy(void *instance) {
    us_inst *u = instance;
    stop(u);
    free_inst(u);
}

static const tb_connector_vtable server_vtable = {
    .struct_size = sizeof(tb_connector_vtable),
    .flags = TB_CONNECTOR_SOURCE | TB_CONNECTOR_SINK,
    .create = create_server,
    .destroy = destroy,
    .connect = connect_,
    .drain = drain,
    .stop = stop,
    .pull = tbp_us_pull,
    .push = tbp_us_push,
    .save = tbp_us_save,
    .restore = tbp_us_restore,
};

static const tb_connector_vtable client_vtable = {
    .struct_size = sizeof(tb_connector_vtable),
    .flags = TB_CONNECTOR_SOURCE | TB_CONNECTOR_SINK,
    .create = create_client,
    .destroy = destroy,
    .connect = connect_,
    .drain = drain,
    .stop = stop,
    .pull = tbp_us_pull,
    .push = tbp_us_push,
};

static const tb_component server = {
    .struct_size = sizeof(tb_component),
    .kind = TB_KIND_CONNECTOR,
    .name = "unix_socket_server",
    .description = "listens on a unix socket: each connection a stream of raw bytes, answered "
                   "on the connection it came from",
    .options = server_options,
    .option_count = sizeof server_options / sizeof server_options[0],
    .vtable = &server_vtable,
};

static const tb_component client = {
    .struct_size = sizeof(tb_component),
    .kind = TB_KIND_CONNECTOR,
    .name = "unix_socket_client",
    .description = "connects to a unix socket: writes raw events to it, reads what comes back",
    .options = client_options,
    .option_count = sizeof client_options / sizeof client_options[0],
    .vtable = &client_vtable,
};

static const tb_component *const components[] = {&server, &client};

static const tb_permission permissions[] = {
    TB_PERMISSION(TB_PERM_NET_LISTEN, NULL, "path", "unix_socket_server listens at path"),
    TB_PERMISSION(TB_PERM_FS_WRITE, NULL, "path",
                  "unix_socket_server creates the socket file at path (and removes a stale one)"),
    TB_PERMISSION(TB_PERM_NET_CONNECT, NULL, "path", "unix_socket_client connects to path"),
};

static const tb_plugin_descriptor descriptor = {
    TB_DESCRIPTOR_HEAD,
    .flags = TB_PLUGIN_UNLOAD_SAFE,
    .name = "unix_socket",
    .version = "0.1.0",
    .description = "The unix_socket_server and unix_socket_client connectors",
    .components = components,
    .component_count = 2,
    .permissions = permissions,
    .permission_count = sizeof permissions / sizeof permissions[0],
};

TB_PLUGIN_ENTRY(unix_socket) { return &descriptor; }
