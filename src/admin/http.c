/* http.c - the admin interface over HTTP on loopback (libmicrohttpd): POST /v1/admin with the
 * same JSON requests as the Unix socket, and GET /v1/status, /v1/plugins, /v1/flows for the
 * read-only ones. Every request carries `Authorization: Bearer TOKEN`; without the right
 * token it gets 401 and runs nothing.
 *
 * libmicrohttpd is opened (dlopen) only when --admin-http asks for it: linked in, it and the
 * TLS stack it pulls in (gnutls, nettle, gmp, p11-kit...) would add 2.7 MB to every temblor
 * process, most of which never serves HTTP. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dlfcn.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin/admin.h"
#include "core/log.h"

#define MAX_BODY (1u << 20)

/* The functions of libmicrohttpd this file calls, resolved when HTTP is first asked for. */
static struct {
    __typeof__(&MHD_start_daemon) start_daemon;
    __typeof__(&MHD_stop_daemon) stop_daemon;
    __typeof__(&MHD_create_response_from_buffer) create_response_from_buffer;
    __typeof__(&MHD_add_response_header) add_response_header;
    __typeof__(&MHD_queue_response) queue_response;
    __typeof__(&MHD_destroy_response) destroy_response;
    __typeof__(&MHD_lookup_connection_value) lookup_connection_value;
} mhd;

/* Opens libmicrohttpd (TBR_MHD_LIBRARY, the file the build found, else its soname) once;
 * false with the reason in err. */
static bool load_mhd(char *err, size_t n) {
    static void *lib;
    if (lib) return true;
    const char *names[] = {TBR_MHD_LIBRARY, "libmicrohttpd.so.12", "libmicrohttpd.so"};
    for (size_t i = 0; i < sizeof names / sizeof *names && !lib; i++) lib = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        snprintf(err, n, "admin HTTP needs libmicrohttpd (apt-get install libmicrohttpd12): %s", dlerror());
        return false;
    }
    void **slots[] = {(void **)&mhd.start_daemon, (void **)&mhd.stop_daemon, (void **)&mhd.create_response_from_buffer,
                      (void **)&mhd.add_response_header, (void **)&mhd.queue_response, (void **)&mhd.destroy_response,
                      (void **)&mhd.lookup_connection_value};
    const char *syms[] = {"MHD_start_daemon", "MHD_stop_daemon", "MHD_create_response_from_buffer", "MHD_add_response_header",
                          "MHD_queue_response", "MHD_destroy_response", "MHD_lookup_connection_value"};
    for (size_t i = 0; i < sizeof syms / sizeof *syms; i++)
        if (!(*slots[i] = dlsym(lib, syms[i]))) {
            snprintf(err, n, "admin HTTP: libmicrohttpd lacks %s", syms[i]);
            dlclose(lib);
            lib = NULL;
            return false;
        }
    return true;
}

struct tbr_admin_http {
    tbr_admin *admin;
    struct MHD_Daemon *daemon;
    char *token;
};

typedef struct body {
    char *data;
    size_t len;
    bool too_big;
} body;

/* Compares in time that depends on the lengths only, not on where they differ. */
static bool same_secret(const char *a, const char *b) {
    size_t na = strlen(a), nb = strlen(b);
    unsigned char diff = na != nb;
    for (size_t i = 0; i < na && i < nb; i++) diff |= (unsigned char)(a[i] ^ b[i]);
    return diff == 0;
}

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned code, const char *json) {
    struct MHD_Response *r = mhd.create_response_from_buffer(strlen(json), (void *)json, MHD_RESPMEM_MUST_COPY);
    if (!r) return MHD_NO;
    mhd.add_response_header(r, "Content-Type", "application/json");
    enum MHD_Result rc = mhd.queue_response(conn, code, r);
    mhd.destroy_response(r);
    return rc;
}

/* Runs request and replies 200 when it succeeded, 400 when it did not. */
static enum MHD_Result run(tbr_admin_http *h, struct MHD_Connection *conn, const char *request, size_t len) {
    char *resp = tbr_admin_execute(h->admin, request, len);
    if (!resp) return reply(conn, 500, "{\"ok\":false,\"error\":\"out of memory\"}\n");
    enum MHD_Result rc = reply(conn, strncmp(resp, "{\"ok\":true", 10) ? 400 : 200, resp);
    free(resp);
    return rc;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size, void **state) {
    tbr_admin_http *h = cls;
    (void)version;
    body *b = *state;
    if (!b) {
        /* the first call carries the headers only: check the token before any body */
        const char *auth = mhd.lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
        if (!auth || strncmp(auth, "Bearer ", 7) || !same_secret(auth + 7, h->token))
            return reply(conn, 401, "{\"ok\":false,\"error\":\"a valid Authorization: Bearer token is required\"}\n");
        if (!(b = calloc(1, sizeof *b))) return MHD_NO;
        *state = b;
        return MHD_YES;
    }
    if (*upload_size) {
        if (b->len + *upload_size > MAX_BODY) b->too_big = true;
        char *grown = b->too_big ? NULL : realloc(b->data, b->len + *upload_size + 1);
        if (grown) {
            memcpy(grown + b->len, upload, *upload_size);
            b->data = grown;
            b->len += *upload_size;
        } else {
            b->too_big = true;
        }
        *upload_size = 0;
        return MHD_YES;
    }
    if (!strcmp(method, "POST") && !strcmp(url, "/v1/admin")) {
        if (b->too_big) return reply(conn, 413, "{\"ok\":false,\"error\":\"the request is longer than 1 MiB\"}\n");
        return run(h, conn, b->data ? b->data : "", b->len);
    }
    if (!strcmp(method, "GET")) {
        static const struct {
            const char *url, *cmd;
        } reads[] = {{"/v1/status", "{\"cmd\":\"status\"}"},
                     {"/v1/plugins", "{\"cmd\":\"plugin.list\"}"},
                     {"/v1/flows", "{\"cmd\":\"flow.status\"}"}};
        for (size_t i = 0; i < sizeof reads / sizeof *reads; i++)
            if (!strcmp(url, reads[i].url)) return run(h, conn, reads[i].cmd, strlen(reads[i].cmd));
    }
    return reply(conn, 404,
                 "{\"ok\":false,\"error\":\"unknown request: POST /v1/admin, or GET /v1/status, /v1/plugins, /v1/flows\"}\n");
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **state, enum MHD_RequestTerminationCode code) {
    (void)cls;
    (void)conn;
    (void)code;
    body *b = *state;
    if (b) free(b->data);
    free(b);
    *state = NULL;
}

/* Parses "127.0.0.1:PORT", "localhost:PORT" or "[::1]:PORT" into a loopback address. */
static bool loopback_address(const char *addr, struct sockaddr_storage *ss, socklen_t *len) {
    const char *colon = strrchr(addr, ':');
    if (!colon) return false;
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end || port < 0 || port > 65535) return false;
    size_t hn = (size_t)(colon - addr);
    char host[64];
    if (hn >= sizeof host) return false;
    memcpy(host, addr, hn);
    host[hn] = 0;
    memset(ss, 0, sizeof *ss);
    if (!strcmp(host, "[::1]")) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)port);
        s6->sin6_addr = in6addr_loopback;
        *len = sizeof *s6;
        return true;
    }
    struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
    s4->sin_family = AF_INET;
    s4->sin_port = htons((uint16_t)port);
    if (!strcmp(host, "localhost")) snprintf(host, sizeof host, "127.0.0.1");
    if (inet_pton(AF_INET, host, &s4->sin_addr) != 1 || (ntohl(s4->sin_addr.s_addr) >> 24) != 127) return false;
    *len = sizeof *s4;
    return true;
}

tbr_admin_http *tbr_admin_http_start(tbr_admin *a, const char *addr, const char *token, char *err, size_t n) {
    struct sockaddr_storage ss;
    socklen_t len;
    if (!token || strlen(token) < 16) {
        snprintf(err, n, "admin HTTP needs a token of at least 16 characters (--admin-token-file or TEMBLOR_ADMIN_TOKEN)");
        return NULL;
    }
    if (!loopback_address(addr, &ss, &len)) {
        snprintf(err, n, "admin HTTP address '%s': expected 127.x.x.x:PORT, localhost:PORT or [::1]:PORT (loopback only)", addr);
        return NULL;
    }
    if (!load_mhd(err, n)) return NULL;
    tbr_admin_http *h = calloc(1, sizeof *h);
    if (!h || !(h->token = strdup(token))) {
        free(h);
        snprintf(err, n, "out of memory");
        return NULL;
    }
    h->admin = a;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG | (ss.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0);
    h->daemon = mhd.start_daemon(flags, 0, NULL, NULL, on_request, h, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
                                 MHD_OPTION_NOTIFY_COMPLETED, on_completed, h, MHD_OPTION_CONNECTION_LIMIT, 32u,
                                 MHD_OPTION_CONNECTION_TIMEOUT, 30u, MHD_OPTION_END);
    if (!h->daemon) {
        snprintf(err, n, "admin HTTP: cannot listen on %s", addr);
        free(h->token);
        free(h);
        return NULL;
    }
    tbr_log(TB_LOG_INFO, "admin", "HTTP listening on %s", addr);
    (void)len;
    return h;
}

void tbr_admin_http_stop(tbr_admin_http *h) {
    if (!h) return;
    mhd.stop_daemon(h->daemon);
    free(h->token);
    free(h);
}
