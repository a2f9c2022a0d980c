/*
 * udp_addr.c - addresses of the udp connectors: "host:port" to a socket address (at create,
 * on the control thread: a numeric host is parsed without asking anyone, a name goes to the
 * resolver, which may wait for DNS), and a peer's socket address to the {"host", "port"} the
 * events carry and back.
 *
 * A server bound to an IPv6 address also hears IPv4 peers, as IPv4-mapped addresses; their
 * host is written as plain IPv4, and mapped back when a reply is sent to it.
 *
 * Ownership: nothing is kept. Thread contract: any thread of the instance.
 */
#define _GNU_SOURCE
#include "udp.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

void tbp_udp_warn(udp_inst *u, const char *fmt, ...) {
    char msg[600];
    va_list ap;
    uint64_t n = ++u->warned;
    if (n > 10 && n % 1000 != 0) return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (n > 10)
        tb_log(u->host, u->ctx, TB_LOG_WARN, "%s (%llu messages of this kind so far)", msg,
               (unsigned long long)n);
    else
        u->host->log(u->ctx, TB_LOG_WARN, msg);
}

int tbp_udp_resolve(udp_inst *u, const char *what, const char *text, size_t len, bool passive,
                    udp_addr *out) {
    char host[256], port[8];
    const char *h, *p, *end = text + len;
    size_t hlen;
    if (len >= 6 && memcmp(text, "udp://", 6) == 0) text += 6;
    if (text < end && *text == '[') {
        const char *close = memchr(text, ']', (size_t)(end - text));
        if (!close || close + 1 == end || close[1] != ':') goto fail_form;
        h = text + 1;
        hlen = (size_t)(close - h);
        p = close + 2;
    } else {
        const char *colon = NULL;
        for (const char *s = text; s < end; s++)
            if (*s == ':') colon = s;
        if (!colon) goto fail_form;
        h = text;
        hlen = (size_t)(colon - text);
        p = colon + 1;
    }
    if (hlen >= sizeof host || (size_t)(end - p) == 0 || (size_t)(end - p) >= sizeof port) goto fail_form;
    for (const char *s = p; s < end; s++)
        if (*s < '0' || *s > '9') goto fail_form;
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    memcpy(port, p, (size_t)(end - p));
    port[end - p] = '\0';
    if (atoi(port) > 65535) goto fail_form;
    if (!hlen && !passive) goto fail_form;

    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_DGRAM;
    hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
    int rc = getaddrinfo(hlen ? host : NULL, port, &hints, &res);
    if (rc != 0 || !res)
        return tb_fail(u->host, u->ctx, TB_EINVAL, "%s \"%.*s\": cannot resolve %s: %s", what,
                       (int)len, text, host, gai_strerror(rc));
    memcpy(&out->ss, res->ai_addr, res->ai_addrlen);
    out->len = res->ai_addrlen;
    freeaddrinfo(res);
    return TB_OK;

fail_form:
    return tb_fail(u->host, u->ctx, TB_EINVAL,
                   "%s must be \"host:port\" (or \"[ipv6]:port\"%s), found \"%.*s\"", what,
                   passive ? ", or \":port\" for every address" : "", (int)len, text);
}

uint16_t tbp_udp_format(const struct sockaddr *sa, char *buf, size_t size) {
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)sa;
        if (IN6_IS_ADDR_V4MAPPED(&a->sin6_addr))
            inet_ntop(AF_INET, &a->sin6_addr.s6_addr[12], buf, (socklen_t)size);
        else
            inet_ntop(AF_INET6, &a->sin6_addr, buf, (socklen_t)size);
        return ntohs(a->sin6_port);
    }
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &a->sin_addr, buf, (socklen_t)size);
        return ntohs(a->sin_port);
    }
    snprintf(buf, size, "?");
    return 0;
}

bool tbp_udp_peer_of(const tb_value *peer, int family, udp_addr *out) {
    char host[INET6_ADDRSTRLEN];
    size_t len;
    int64_t port;
    const char *h = tb_value_str(tb_object_getz(peer, "host"), &len);
    if (!h || len >= sizeof host || !tb_value_as_i64(tb_object_getz(peer, "port"), &port) || port < 0 ||
        port > 65535)
        return false;
    memcpy(host, h, len);
    host[len] = '\0';
    memset(out, 0, sizeof *out);
    struct in_addr v4;
    struct in6_addr v6;
    if (inet_pton(AF_INET, host, &v4) == 1) {
        if (family == AF_INET6) { /* to an IPv4 peer through an IPv6 socket: mapped */
            struct sockaddr_in6 *a = (struct sockaddr_in6 *)&out->ss;
            a->sin6_family = AF_INET6;
            a->sin6_port = htons((uint16_t)port);
            a->sin6_addr.s6_addr[10] = 0xff;
            a->sin6_addr.s6_addr[11] = 0xff;
            memcpy(&a->sin6_addr.s6_addr[12], &v4, 4);
            out->len = sizeof *a;
        } else {
            struct sockaddr_in *a = (struct sockaddr_in *)&out->ss;
            a->sin_family = AF_INET;
            a->sin_port = htons((uint16_t)port);
            a->sin_addr = v4;
            out->len = sizeof *a;
        }
        return true;
    }
    if (inet_pton(AF_INET6, host, &v6) == 1) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&out->ss;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons((uint16_t)port);
        a->sin6_addr = v6;
        out->len = sizeof *a;
        return true;
    }
    return false;
}
