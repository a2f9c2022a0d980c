/*
 * httpc_plugin.c - the `http_client` plugin: its descriptor, the connector it provides
 * (httpc_connector.c), the permissions it needs, and libcurl's global initialisation.
 *
 * init calls curl_global_init, which libcurl reference-counts and, in this libcurl (7.84 and
 * later, CURL_VERSION_THREADSAFE), makes thread-safe; deinit calls curl_global_cleanup to
 * balance it. init also checks that name lookups are asynchronous (CURL_VERSION_ASYNCHDNS:
 * Debian's libcurl uses the threaded resolver), and warns when they would block the
 * instance's thread.
 *
 * Unloading: the plugin is NOT declared TB_PLUGIN_UNLOAD_SAFE. curl's threaded resolver runs
 * each lookup on a thread of libcurl's, and a lookup still running when its request is
 * cleaned up (a stop during a slow DNS answer) is detached and left to finish on its own: if
 * the runtime unmapped this library, and libcurl with it as its last user, that thread would
 * run in unmapped code. libcurl's TLS back end (OpenSSL) also keeps global state and atexit
 * handlers. So the library stays mapped once loaded; deinit still balances curl_global_init.
 *
 * Ownership: static data. Thread contract: the entry on any thread; init and deinit as
 * temblor.h says (one at a time, the registry lock held).
 */
#include "httpc.h"

static const tb_component *const components[] = {&tbp_httpc_component};

static const tb_permission permissions[] = {
    TB_PERMISSION(TB_PERM_NET_CONNECT, NULL, "url",
                  "http_client connects to the host of url (and of any url an event's $http_client.request names)"),
    TB_PERMISSION(TB_PERM_FS_READ, NULL, NULL, "with tls: the CA, certificate and key files it names"),
};

static int TB_CALL init(const tb_host_api *host, tb_context *ctx, void **out_state) {
    curl_version_info_data *v = curl_version_info(CURLVERSION_NOW);
    if (!(v->features & CURL_VERSION_THREADSAFE))
        tb_log(host, ctx, TB_LOG_WARN, "libcurl %s: curl_global_init is not thread-safe here", v->version);
    CURLcode rc = curl_global_init(CURL_GLOBAL_DEFAULT);
    if (rc != CURLE_OK) return tb_fail(host, ctx, TB_ERROR, "curl_global_init failed: %s", curl_easy_strerror(rc));
    if (!(v->features & CURL_VERSION_ASYNCHDNS))
        tb_log(host, ctx, TB_LOG_WARN, "libcurl %s resolves names synchronously: a slow DNS answer blocks the thread",
               v->version);
    *out_state = NULL;
    return TB_OK;
}

static void TB_CALL deinit(void *state) {
    (void)state;
    curl_global_cleanup();
}

static const tb_plugin_descriptor descriptor = {
    TB_DESCRIPTOR_HEAD,
    .flags = 0, /* not unload-safe: see above */
    .name = "http_client",
    .version = "0.1.0",
    .description = "HTTP client connector on libcurl: events to requests, responses to events",
    .components = components,
    .component_count = sizeof components / sizeof components[0],
    .init = init,
    .deinit = deinit,
    .permissions = permissions,
    .permission_count = sizeof permissions / sizeof permissions[0],
};

TB_PLUGIN_ENTRY(http_client) { return &descriptor; }
