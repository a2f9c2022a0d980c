/*
 * ws_http.c - the HTTP/1.1 side of WebSocket (RFC 6455 section 4): the Upgrade request a
 * server checks (GET, HTTP/1.1, Host, Upgrade: websocket, Connection: upgrade, a
 * Sec-WebSocket-Key of 16 base64 bytes, Sec-WebSocket-Version 13), Sec-WebSocket-Accept
 * (base64 of SHA-1 of the key and the protocol's GUID, with OpenSSL), the answer a client
 * checks, and the "url" option of both connectors.
 *
 * Heads are parsed where they lie (the connection's head buffer, at most WS_HEAD_MAX bytes):
 * nothing here allocates. Header names compare without case, list values ("Connection:
 * keep-alive, Upgrade") by token.
 *
 * Ownership: nothing is kept. Thread contract: any thread (pure functions, and OpenSSL's
 * thread-safe digest and random generator).
 */
#define _GNU_SOURCE
#include "ws.h"

#include <ctype.h>
#include <stdio.h>
#include <strings.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

static const char ws_guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

bool tbp_ws_accept_for(const char *key, size_t n, char out[WS_ACCEPT_LEN + 1]) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    bool ok = false;
    EVP_MD_CTX *m = EVP_MD_CTX_new();
    if (!m) return false;
    if (EVP_DigestInit_ex(m, EVP_sha1(), NULL) == 1 && EVP_DigestUpdate(m, key, n) == 1 &&
        EVP_DigestUpdate(m, ws_guid, sizeof ws_guid - 1) == 1 && EVP_DigestFinal_ex(m, md, &mdlen) == 1 &&
        mdlen == 20)
        ok = EVP_EncodeBlock((unsigned char *)out, md, 20) == (int)WS_ACCEPT_LEN;
    EVP_MD_CTX_free(m);
    return ok;
}

bool tbp_ws_new_key(char out[WS_KEY_LEN + 1]) {
    unsigned char raw[16];
    if (RAND_bytes(raw, sizeof raw) != 1) return false;
    return EVP_EncodeBlock((unsigned char *)out, raw, sizeof raw) == (int)WS_KEY_LEN;
}

size_t tbp_ws_head_end(const uint8_t *p, size_t n) {
    for (size_t i = 3; i < n; i++)
        if (p[i] == '\n' && p[i - 1] == '\r' && p[i - 2] == '\n' && p[i - 3] == '\r') return i + 1;
    return 0;
}

/* ---- reading a head ------------------------------------------------------------------------ */

typedef struct span {
    const char *p;
    size_t n;
} span;

static bool span_ieq(span s, const char *z) {
    size_t n = strlen(z);
    return s.n == n && strncasecmp(s.p, z, n) == 0;
}

/* Whether the comma-separated list s holds token z (without case). */
static bool has_token(span s, const char *z) {
    size_t i = 0;
    while (i < s.n) {
        size_t j = i;
        while (j < s.n && s.p[j] != ',') j++;
        span t = {s.p + i, j - i};
        while (t.n && (t.p[0] == ' ' || t.p[0] == '\t')) t.p++, t.n--;
        while (t.n && (t.p[t.n - 1] == ' ' || t.p[t.n - 1] == '\t')) t.n--;
        if (span_ieq(t, z)) return true;
        i = j + 1;
    }
    return false;
}

/* The next line of head (without its CRLF) from *pos; false at the blank line or the end. A
 * bare LF or CR inside a line makes *bad true. */
static bool next_line(const char *head, size_t n, size_t *pos, span *line, bool *bad) {
    size_t i = *pos;
    while (i + 1 < n && !(head[i] == '\r' && head[i + 1] == '\n')) {
        if (head[i] == '\r' || head[i] == '\n' || head[i] == '\0') *bad = true;
        i++;
    }
    if (i + 1 >= n) {
        *bad = true;
        return false;
    }
    line->p = head + *pos;
    line->n = i - *pos;
    *pos = i + 2;
    return line->n != 0;
}

/* Splits "Name: value" (value trimmed); false when it is no header line. */
static bool split_header(span line, span *name, span *value) {
    const char *colon = memchr(line.p, ':', line.n);
    if (!colon || colon == line.p) return false;
    name->p = line.p;
    name->n = (size_t)(colon - line.p);
    for (size_t i = 0; i < name->n; i++)
        if (!isgraph((unsigned char)name->p[i])) return false; /* also rejects obsolete folding */
    value->p = colon + 1;
    value->n = line.n - name->n - 1;
    while (value->n && (value->p[0] == ' ' || value->p[0] == '\t')) value->p++, value->n--;
    while (value->n && (value->p[value->n - 1] == ' ' || value->p[value->n - 1] == '\t')) value->n--;
    return true;
}

static bool is_b64(char ch) { return isalnum((unsigned char)ch) || ch == '+' || ch == '/'; }

/* A Sec-WebSocket-Key: base64 of exactly 16 bytes (22 characters and "=="). */
static bool good_key(span k) {
    if (k.n != WS_KEY_LEN || k.p[22] != '=' || k.p[23] != '=') return false;
    for (size_t i = 0; i < 22; i++)
        if (!is_b64(k.p[i])) return false;
    /* the last character carries 2 bits: its 4 low bits must be zero */
    return strchr("AQgw", k.p[21]) != NULL;
}

static void refuse(ws_request *r, int status, const char *why) {
    if (r->status == 101) {
        r->status = status;
        r->why = why;
    }
}

void tbp_ws_parse_request(const char *head, size_t n, const char *want_path, ws_request *out) {
    span line, name, value, key = {NULL, 0};
    size_t pos = 0;
    bool bad = false, host = false, upgrade = false, connection = false, version = false;
    int keys = 0;
    memset(out, 0, sizeof *out);
    out->status = 101;
    if (!next_line(head, n, &pos, &line, &bad) || bad) {
        refuse(out, 400, "no request line");
        return;
    }
    /* METHOD SP target SP HTTP/1.1 */
    const char *sp1 = memchr(line.p, ' ', line.n);
    const char *sp2 = sp1 ? memchr(sp1 + 1, ' ', line.n - (size_t)(sp1 + 1 - line.p)) : NULL;
    if (!sp1 || !sp2) {
        refuse(out, 400, "a malformed request line");
        return;
    }
    span method = {line.p, (size_t)(sp1 - line.p)};
    span target = {sp1 + 1, (size_t)(sp2 - sp1 - 1)};
    span proto = {sp2 + 1, line.n - (size_t)(sp2 + 1 - line.p)};
    if (proto.n != 8 || memcmp(proto.p, "HTTP/1.", 7) != 0 || !isdigit((unsigned char)proto.p[7])) {
        refuse(out, 400, "not an HTTP/1.x request");
        return;
    }
    if (proto.p[7] == '0') refuse(out, 400, "WebSocket needs HTTP/1.1");
    if (!(method.n == 3 && memcmp(method.p, "GET", 3) == 0)) refuse(out, 405, "the method must be GET");
    if (target.n == 0 || target.p[0] != '/' || target.n >= WS_PATH_MAX) {
        refuse(out, 400, "the request target must be a path");
    } else {
        memcpy(out->path, target.p, target.n);
        out->path[target.n] = '\0';
        for (size_t i = 0; i < target.n; i++)
            if ((unsigned char)target.p[i] <= ' ' || target.p[i] == 0x7f) refuse(out, 400, "a malformed request target");
    }
    while (next_line(head, n, &pos, &line, &bad)) {
        if (!split_header(line, &name, &value)) {
            refuse(out, 400, "a malformed header line");
            continue;
        }
        if (span_ieq(name, "host")) host = true;
        else if (span_ieq(name, "upgrade")) upgrade = upgrade || has_token(value, "websocket");
        else if (span_ieq(name, "connection")) connection = connection || has_token(value, "upgrade");
        else if (span_ieq(name, "sec-websocket-key")) key = value, keys++;
        else if (span_ieq(name, "sec-websocket-version")) version = version || (value.n == 2 && memcmp(value.p, "13", 2) == 0);
    }
    if (bad) refuse(out, 400, "a malformed head");
    if (!host) refuse(out, 400, "no Host header");
    if (!upgrade) refuse(out, 400, "no \"Upgrade: websocket\" header");
    if (!connection) refuse(out, 400, "no \"Connection: Upgrade\" header");
    if (keys != 1 || !good_key(key)) refuse(out, 400, "a missing or malformed Sec-WebSocket-Key");
    if (!version) refuse(out, 426, "Sec-WebSocket-Version must be 13");
    if (out->status == 101 && want_path) {
        size_t plen = strcspn(out->path, "?");
        if (strlen(want_path) != plen || memcmp(want_path, out->path, plen) != 0) refuse(out, 404, "no WebSocket at that path");
    }
    if (out->status == 101 && !tbp_ws_accept_for(key.p, key.n, out->accept)) refuse(out, 500, "cannot compute the accept key");
}

int tbp_ws_check_response(const char *head, size_t n, const char *key, char *why, size_t why_size) {
    span line, name, value;
    size_t pos = 0;
    bool bad = false, upgrade = false, connection = false, accepted = false;
    char want[WS_ACCEPT_LEN + 1];
    if (!next_line(head, n, &pos, &line, &bad) || bad || line.n < 12 || memcmp(line.p, "HTTP/1.", 7) != 0 ||
        line.p[8] != ' ' || !isdigit((unsigned char)line.p[9]) || !isdigit((unsigned char)line.p[10]) ||
        !isdigit((unsigned char)line.p[11])) {
        snprintf(why, why_size, "the server did not answer with HTTP");
        return TB_EIO;
    }
    int status = (line.p[9] - '0') * 100 + (line.p[10] - '0') * 10 + (line.p[11] - '0');
    if (status != 101) {
        span reason = {line.p + 12, line.n - 12};
        while (reason.n && reason.p[0] == ' ') reason.p++, reason.n--;
        int rn = (int)(reason.n > 100 ? 100 : reason.n);
        for (int i = 0; i < rn; i++)
            if (!isprint((unsigned char)reason.p[i])) rn = i;
        snprintf(why, why_size, "the server refused the WebSocket handshake: HTTP %d%s%.*s", status, rn ? " " : "", rn,
                 reason.p);
        return TB_EIO;
    }
    if (!tbp_ws_accept_for(key, strlen(key), want)) {
        snprintf(why, why_size, "cannot compute the accept key");
        return TB_EIO;
    }
    while (next_line(head, n, &pos, &line, &bad)) {
        if (!split_header(line, &name, &value)) continue;
        if (span_ieq(name, "upgrade")) upgrade = upgrade || has_token(value, "websocket");
        else if (span_ieq(name, "connection")) connection = connection || has_token(value, "upgrade");
        else if (span_ieq(name, "sec-websocket-accept"))
            accepted = value.n == WS_ACCEPT_LEN && memcmp(value.p, want, WS_ACCEPT_LEN) == 0;
    }
    if (!upgrade || !connection) {
        snprintf(why, why_size, "the server's 101 answer lacks \"Upgrade: websocket\" or \"Connection: Upgrade\"");
        return TB_EIO;
    }
    if (!accepted) {
        snprintf(why, why_size, "the server's Sec-WebSocket-Accept does not match the key sent");
        return TB_EIO;
    }
    return TB_OK;
}

/* ---- the url option ------------------------------------------------------------------------- */

int tbp_ws_parse_url(const tb_host_api *host, tb_context *ctx, const char *url, size_t n, bool allow_port_0,
                     ws_url *out) {
    const char *u = url;
    size_t rest = n;
    char auth[TCP_HOST_MAX + 16];
    memset(out, 0, sizeof *out);
    if (rest >= 5 && strncasecmp(u, "ws://", 5) == 0) {
        u += 5, rest -= 5, out->has_scheme = true;
    } else if (rest >= 6 && strncasecmp(u, "wss://", 6) == 0) {
        u += 6, rest -= 6, out->has_scheme = out->tls = true;
    } else if (memmem(u, rest, "://", 3)) {
        return tb_fail(host, ctx, TB_EINVAL, "url \"%.*s\": only ws:// and wss:// are understood", (int)n, url);
    }
    const char *slash = memchr(u, '/', rest);
    size_t alen = slash ? (size_t)(slash - u) : rest;
    size_t plen = slash ? rest - alen : 0;
    if (plen >= WS_PATH_MAX) return tb_fail(host, ctx, TB_EINVAL, "url \"%.*s\": the path is too long", (int)n, url);
    if (plen) {
        for (size_t i = 0; i < plen; i++)
            if ((unsigned char)slash[i] <= ' ' || slash[i] == 0x7f || slash[i] == '#')
                return tb_fail(host, ctx, TB_EINVAL, "url \"%.*s\": the path holds a space, control byte or '#'", (int)n,
                               url);
        memcpy(out->path, slash, plen);
        out->path[plen] = '\0';
    } else {
        strcpy(out->path, "/");
    }
    if (alen + 8 > sizeof auth) return tb_fail(host, ctx, TB_EINVAL, "url \"%.*s\": the host is too long", (int)n, url);
    memcpy(auth, u, alen);
    auth[alen] = '\0';
    /* "ws://example.com/x": the scheme's port */
    const char *bracket = strrchr(auth, ']');
    if (out->has_scheme && alen && !strchr(bracket ? bracket : auth, ':'))
        snprintf(auth + alen, sizeof auth - alen, ":%u", out->tls ? 443u : 80u);
    /* the tcp plugin's parser, on {"url": "host:port"}, for the same rules and messages */
    tb_member m = {"url", 3, 0, tb_string(auth, strlen(auth))};
    tb_value cfg = tb_object();
    cfg.len = 1;
    cfg.as.members = &m;
    /* its message names the host:port part, which is what it found wrong */
    return tbp_tcp_addr_from_config(host, ctx, &cfg, NULL, allow_port_0, &out->addr);
}

bool tbp_ws_meta_bool(const tb_value *meta, const char *key, const char *field, bool *out) {
    const tb_value *inner = tb_object_getz(meta, key);
    const tb_value *v = inner ? tb_object_getz(inner, field) : NULL;
    if (!v || v->type != TB_BOOL) return false;
    *out = v->as.b;
    return true;
}
