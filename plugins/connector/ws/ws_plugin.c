/*
 * ws_plugin.c - the `ws` plugin: its descriptor, the two connectors it provides
 * (ws_server.c, ws_client.c) and the permissions they need.
 *
 * Unloading: the plugin registers no thread-local destructors or atexit handlers of its own;
 * every OpenSSL object and wslay context it makes belongs to an instance and is freed by its
 * destroy. libssl and libcrypto pin themselves in memory when first initialised, and wslay
 * keeps no global state, so unmapping this library is safe.
 *
 * Ownership: static data. Thread contract: any thread.
 */
#include "ws.h"

static const tb_component *const components[] = {&tbp_ws_server_component, &tbp_ws_client_component};

static const tb_permission permissions[] = {
    TB_PERMISSION(TB_PERM_NET_LISTEN, NULL, "url", "ws_server listens on url"),
    TB_PERMISSION(TB_PERM_NET_CONNECT, NULL, "url", "ws_client connects to url"),
    TB_PERMISSION(TB_PERM_FS_READ, NULL, NULL, "with tls: the certificate, key and CA files it names"),
};

static const tb_plugin_descriptor descriptor = {
    TB_DESCRIPTOR_HEAD,
    .flags = TB_PLUGIN_UNLOAD_SAFE,
    .name = "ws",
    .version = "0.1.0",
    .description = "WebSocket connectors (RFC 6455, over TCP or TLS): ws_server and ws_client",
    .components = components,
    .component_count = sizeof components / sizeof components[0],
    .permissions = permissions,
    .permission_count = sizeof permissions / sizeof permissions[0],
};

TB_PLUGIN_ENTRY(ws) { return &descriptor; }
