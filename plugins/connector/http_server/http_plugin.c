/*
 * http_plugin.c - the `http_server` plugin: its descriptor, its one connector (http_server.c)
 * and the permission it needs.
 *
 * Unloading: libmicrohttpd keeps no state beyond its daemons, and every daemon belongs to an
 * instance and is stopped by its stop or destroy; the plugin registers no thread-local
 * destructors or atexit handlers. GnuTLS, which libmicrohttpd initialises for TLS, stays
 * loaded with it when the library is first used.
 *
 * Ownership: static data. Thread contract: any thread.
 */
#include "http_server.h"

static const tb_component *const components[] = {&tbp_http_server_component};

static const tb_permission permissions[] = {
    TB_PERMISSION(TB_PERM_NET_LISTEN, NULL, "url", "http_server listens on url (or host and port)"),
    TB_PERMISSION(TB_PERM_FS_READ, NULL, NULL, "with tls: the certificate and key files it names"),
};

static const tb_plugin_descriptor descriptor = {
    TB_DESCRIPTOR_HEAD,
    .flags = TB_PLUGIN_UNLOAD_SAFE,
    .name = "http_server",
    .version = "0.1.0",
    .description = "HTTP server connector on libmicrohttpd: requests in, answers out",
    .components = components,
    .component_count = sizeof components / sizeof components[0],
    .permissions = permissions,
    .permission_count = sizeof permissions / sizeof permissions[0],
};

TB_PLUGIN_ENTRY(http_server) { return &descriptor; }
