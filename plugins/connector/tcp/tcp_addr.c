/*
 * tcp_addr.c - where a tcp connector listens or connects: the "url" option (Tremor's
 * "host:port", "[v6]:port", optionally with "tcp://" in front) or "host" and "port"; the text
 * of a peer's socket address; the {"peer": {"host", "port"}} metadata of events.
 *
 * Ownership: nothing is kept; metadata is built in the caller's arena. Thread contract: any
 * thread (pure functions).
 */
#define _GNU_SOURCE
#include "tcp.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <sys/socket.h>
#include <time.h>

uint64_t tbp_tcp_realtime_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Parses the decimal port in p[0..n): false unless it is 0..65535. */
static bool parse_port(const char *p, size_t n, uint16_t *out) {
    uint32_t v = 0;
    if (n == 0 || n > 5) return false;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9') return false;
        v = v * 10 + (uint32_t)(p[i] - '0');
    }
    if (v > 65535) return false;
    *out = (uint16_t)v;
    return true;
}

static int set_host(const tb_host_api *host, tb_context *ctx, tcp_addr *out, const char *h,
                    size_t n, const char *what) {
    if (n == 0) return tb_fail(host, ctx, TB_EINVAL, "%s: the host is empty", what);
    if (n >= sizeof out->host)
        return tb_fail(host, ctx, TB_EINVAL, "%s: the host is longer than %zu bytes", what,
                       sizeof out->host - 1);
    if (memchr(h, 0, n)) return tb_fail(host, ctx, TB_EINVAL, "%s: the host holds a NUL byte", what);
    memcpy(out->host, h, n);
    out->host[n] = '\0';
    return TB_OK;
}

static int parse_url(const tb_host_api *host, tb_context *ctx, const char *u, size_t n,
                     bool allow_port_0, tcp_addr *out) {
    const char *h, *colon;
    size_t hn;
    if (n >= 6 && memcmp(u, "tcp://", 6) == 0) {
        u += 6;
        n -= 6;
    } else if (memmem(u, n, "://", 3)) {
        return tb_fail(host, ctx, TB_EINVAL,
                       "url \"%.*s\": only tcp:// is understood (TLS is the tls option)", (int)n, u);
    }
    if (n && u[n - 1] == '/') n--; /* "tcp://host:1234/" */
    if (n && u[0] == '[') {
        const char *close = memchr(u, ']', n);
        if (!close || close + 1 >= u + n || close[1] != ':')
            return tb_fail(host, ctx, TB_EINVAL, "url \"%.*s\": expected [address]:port", (int)n, u);
        h = u + 1;
        hn = (size_t)(close - h);
        colon = close + 1;
    } else {
        colon = NULL;
        for (size_t i = n; i-- > 0;)
            if (u[i] == ':') {
                colon = u + i;
                break;
            }
        if (!colon)
            return tb_fail(host, ctx, TB_EINVAL, "url \"%.*s\": expected host:port", (int)n, u);
        h = u;
        hn = (size_t)(colon - u);
        if (memchr(h, ':', hn))
            return tb_fail(host, ctx, TB_EINVAL,
                           "url \"%.*s\": write an IPv6 address in brackets, [::1]:port", (int)n, u);
    }
    if (!parse_port(colon + 1, (size_t)(u + n - colon - 1), &out->port) ||
        (out->port == 0 && !allow_port_0))
        return tb_fail(host, ctx, TB_EINVAL, "url \"%.*s\": the port must be %s to 65535", (int)n,
                       u, allow_port_0 ? "0" : "1");
    return set_host(host, ctx, out, h, hn, "url");
}

int tbp_tcp_addr_from_config(const tb_host_api *host, tb_context *ctx, const tb_value *config,
                             const char *default_host, bool allow_port_0, tcp_addr *out) {
    size_t ulen = 0, hlen = 0;
    const char *url = tb_value_str(tb_object_getz(config, "url"), &ulen);
    const char *h = tb_value_str(tb_object_getz(config, "host"), &hlen);
    const tb_value *port = tb_object_getz(config, "port");
    bool has_port = port && port->type != TB_NULL;
    memset(out, 0, sizeof *out);
    if (url && (h || has_port))
        return tb_fail(host, ctx, TB_EINVAL, "give either url or host and port, not both");
    if (url) return parse_url(host, ctx, url, ulen, allow_port_0, out);
    if (!has_port)
        return tb_fail(host, ctx, TB_EINVAL, "url (\"host:port\") or %s is required",
                       default_host ? "port" : "host and port");
    uint64_t p = tb_config_u64(config, "port", UINT64_MAX);
    if (p > 65535 || (p == 0 && !allow_port_0))
        return tb_fail(host, ctx, TB_EINVAL, "port must be %s to 65535", allow_port_0 ? "0" : "1");
    out->port = (uint16_t)p;
    if (!h) {
        if (!default_host) return tb_fail(host, ctx, TB_EINVAL, "host is required with port");
        return set_host(host, ctx, out, default_host, strlen(default_host), "host");
    }
    return set_host(host, ctx, out, h, hlen, "host");
}

void tbp_tcp_addr_format(const char *host, uint16_t port, char *buf, size_t size) {
    if (strchr(host, ':'))
        snprintf(buf, size, "[%s]:%u", host, (unsigned)port);
    else
        snprintf(buf, size, "%s:%u", host, (unsigned)port);
}

void tbp_tcp_sockaddr_text(const void *sa, char *host, size_t host_size, uint16_t *port) {
    const struct sockaddr *s = sa;
    host[0] = '\0';
    *port = 0;
    if (s->sa_family == AF_INET) {
        const struct sockaddr_in *in = sa;
        inet_ntop(AF_INET, &in->sin_addr, host, (socklen_t)host_size);
        *port = ntohs(in->sin_port);
    } else if (s->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, host, (socklen_t)host_size);
        *port = ntohs(in6->sin6_port);
    } else {
        snprintf(host, host_size, "unknown");
    }
}

bool tbp_tcp_peer_meta(tb_arena *arena, tb_value *meta, const char *key, const char *host_copy,
                       size_t host_len, uint16_t port, bool tls) {
    tb_value peer = tb_object(), inner = tb_object(), *slot;
    if (!(slot = tb_object_append(arena, &peer, "host", 4))) return false;
    *slot = tb_string(host_copy, host_len);
    if (!(slot = tb_object_append(arena, &peer, "port", 4))) return false;
    *slot = tb_u64(port);
    if (!(slot = tb_object_append(arena, &inner, "peer", 4))) return false;
    *slot = peer;
    if (!(slot = tb_object_append(arena, &inner, "tls", 3))) return false;
    *slot = tb_bool(tls);
    *meta = tb_object();
    if (!(slot = tb_object_append(arena, meta, key, strlen(key)))) return false;
    *slot = inner;
    return true;
}
