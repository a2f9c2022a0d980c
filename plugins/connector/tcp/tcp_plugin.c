/*
 * tcp_plugin.c - the `tcp` plugin: its descriptor, the two connectors it provides
 * (tcp_server.c, tcp_client.c) and the permissions they need.
 *
 * Unloading: the plugin registers no thread-local destructors or atexit handlers of its own,
 * and every OpenSSL object it makes belongs to an instance and is freed by its destroy. libssl
 * and libcrypto pin themselves in memory when first initialised (OpenSSL's default build), so
 * unmapping this library leaves their global state, and its atexit clean-up, intact.
 *
 * Ownership: static data. Thread contract: any thread.
 */
#include "tcp.h"

static const tb_component *const components[] = {&tbp_tcp_server_component, &tbp_tcp_client_component};

static const tb_permission permissions[] = {
    TB_PERMISSION(TB_PERM_NET_LISTEN, NULL, "url", "tcp_server listens on url (or host and port)"),
    TB_PERMISSION(TB_PERM_NET_CONNECT, NULL, "url", "tcp_client connects to url (or host and port)"),
    TB_PERMISSION(TB_PERM_FS_READ, NULL, NULL, "with tls: the certificate, key and CA files it names"),
};

static const tb_plugin_descriptor descriptor = {
    TB_DESCRIPTOR_HEAD,
    .flags = TB_PLUGIN_UNLOAD_SAFE,
    .name = "tcp",
    .version = "0.1.0",
    .description = "TCP and TLS connectors: tcp_server and tcp_client",
    .components = components,
    .component_count = sizeof components / sizeof components[0],
    .permissions = permissions,
    .permission_count = sizeof permissions / sizeof permissions[0],
};

TB_PLUGIN_ENTRY(tcp) { return &descriptor; }
