/*
 * tcp_tls.c - OpenSSL contexts for the tcp connectors, from their "tls" option, the SSL object
 * of one connection, and the text of OpenSSL's errors.
 *
 * Both sides: TLS 1.2 or later, no renegotiation, partial writes with a moving write buffer
 * (tcp_link.c writes from a buffer that grows and compacts), buffers released while a
 * connection is idle (many connections, little memory), and a peer that closes without a
 * close_notify is an end of stream like any other (line protocols over TLS commonly do that;
 * the bytes read before it were authenticated).
 *
 * Certificates and keys are read here, in create: a missing or unreadable file fails the
 * deployment, naming the file and OpenSSL's reason.
 *
 * Ownership: the SSL_CTX and SSL objects returned belong to the caller (SSL_CTX_free,
 * SSL_free). Thread contract: the thread of the caller; OpenSSL's global state is its own and
 * thread-safe.
 */
#define _GNU_SOURCE
#include "tcp.h"

#include <arpa/inet.h>
#include <limits.h>
#include <stdio.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

void tbp_tcp_tls_error(char *buf, size_t size, const char *fallback) {
    unsigned long e, last = 0;
    /* the last error queued is the most specific one */
    while ((e = ERR_get_error()) != 0) last = e;
    if (!last) {
        snprintf(buf, size, "%s", fallback);
        return;
    }
    const char *reason = ERR_reason_error_string(last);
    if (reason)
        snprintf(buf, size, "%s", reason);
    else
        ERR_error_string_n(last, buf, size);
}

/* A NUL-terminated copy of string member key of obj in buf; "" when absent. */
static int member_path(const tb_host_api *host, tb_context *ctx, const tb_value *obj,
                       const char *key, char *buf, size_t size) {
    const tb_value *v = tb_object_getz(obj, key);
    size_t n;
    buf[0] = '\0';
    if (!v || v->type == TB_NULL) return TB_OK;
    const char *s = tb_value_str(v, &n);
    if (!s)
        return tb_fail(host, ctx, TB_EINVAL, "tls.%s must be a string, found %s", key,
                       tb_type_name(v->type));
    if (n == 0 || n >= size || memchr(s, 0, n))
        return tb_fail(host, ctx, TB_EINVAL, "tls.%s must be a path of 1 to %zu bytes", key,
                       size - 1);
    memcpy(buf, s, n);
    buf[n] = '\0';
    return TB_OK;
}

/* Refuses members of tls other than those in allowed (NULL-terminated). */
static int only_known(const tb_host_api *host, tb_context *ctx, const tb_value *tls,
                      const char *const *allowed, const char *list) {
    for (uint32_t i = 0; i < tls->len; i++) {
        const tb_member *m = &tls->as.members[i];
        bool known = false;
        for (const char *const *a = allowed; *a && !known; a++)
            known = strlen(*a) == m->key_len && memcmp(*a, m->key, m->key_len) == 0;
        if (!known)
            return tb_fail(host, ctx, TB_EINVAL, "tls has no option \"%.*s\": it takes %s",
                           (int)m->key_len, m->key, list);
    }
    return TB_OK;
}

static SSL_CTX *new_ctx(const tb_host_api *host, tb_context *ctx, bool server) {
    SSL_CTX *c = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
    if (!c) {
        char why[256];
        tbp_tcp_tls_error(why, sizeof why, "out of memory");
        tb_fail(host, ctx, TB_ENOMEM, "cannot set up TLS: %s", why);
        return NULL;
    }
    SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION);
    SSL_CTX_set_options(c, SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_RENEGOTIATION);
    SSL_CTX_set_mode(c, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                            SSL_MODE_RELEASE_BUFFERS);
    return c;
}

/* Loads the certificate chain and key (both PEM) into c. */
static int load_cert(const tb_host_api *host, tb_context *ctx, SSL_CTX *c, const char *cert,
                     const char *key) {
    char why[256];
    ERR_clear_error();
    if (SSL_CTX_use_certificate_chain_file(c, cert) != 1) {
        tbp_tcp_tls_error(why, sizeof why, "unreadable");
        return tb_fail(host, ctx, TB_EINVAL, "tls.cert %s: %s", cert, why);
    }
    if (SSL_CTX_use_PrivateKey_file(c, key, SSL_FILETYPE_PEM) != 1) {
        tbp_tcp_tls_error(why, sizeof why, "unreadable");
        return tb_fail(host, ctx, TB_EINVAL, "tls.key %s: %s", key, why);
    }
    if (SSL_CTX_check_private_key(c) != 1) {
        tbp_tcp_tls_error(why, sizeof why, "they do not match");
        return tb_fail(host, ctx, TB_EINVAL, "tls.key %s does not belong to tls.cert %s: %s", key,
                       cert, why);
    }
    return TB_OK;
}

static int load_ca(const tb_host_api *host, tb_context *ctx, SSL_CTX *c, const char *cafile) {
    char why[256];
    ERR_clear_error();
    if (SSL_CTX_load_verify_locations(c, cafile, NULL) != 1) {
        tbp_tcp_tls_error(why, sizeof why, "unreadable");
        return tb_fail(host, ctx, TB_EINVAL, "tls.cafile %s: %s", cafile, why);
    }
    return TB_OK;
}

int tbp_tcp_tls_server_ctx(const tb_host_api *host, tb_context *ctx, const tb_value *tls,
                           SSL_CTX **out) {
    static const char *const allowed[] = {"cert", "key", "cafile", NULL};
    char cert[PATH_MAX], key[PATH_MAX], cafile[PATH_MAX];
    int rc;
    *out = NULL;
    if (!tls || tls->type == TB_NULL) return TB_OK;
    if (tls->type != TB_OBJECT)
        return tb_fail(host, ctx, TB_EINVAL,
                       "tls must be a record {\"cert\": path, \"key\": path}, found %s",
                       tb_type_name(tls->type));
    if ((rc = only_known(host, ctx, tls, allowed, "cert, key and cafile")) != TB_OK ||
        (rc = member_path(host, ctx, tls, "cert", cert, sizeof cert)) != TB_OK ||
        (rc = member_path(host, ctx, tls, "key", key, sizeof key)) != TB_OK ||
        (rc = member_path(host, ctx, tls, "cafile", cafile, sizeof cafile)) != TB_OK)
        return rc;
    if (!cert[0] || !key[0])
        return tb_fail(host, ctx, TB_EINVAL, "tls needs both cert and key (PEM files)");
    SSL_CTX *c = new_ctx(host, ctx, true);
    if (!c) return TB_ENOMEM;
    if ((rc = load_cert(host, ctx, c, cert, key)) != TB_OK) goto fail_ctx;
    if (cafile[0]) {
        /* clients must show a certificate this CA signed (mutual TLS) */
        if ((rc = load_ca(host, ctx, c, cafile)) != TB_OK) goto fail_ctx;
        SSL_CTX_set_verify(c, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    }
    *out = c;
    return TB_OK;
fail_ctx:
    SSL_CTX_free(c);
    return rc;
}

int tbp_tcp_tls_client_ctx(const tb_host_api *host, tb_context *ctx, const tb_value *tls,
                           const char *default_name, SSL_CTX **out, char *server_name,
                           size_t name_size, bool *verify) {
    static const char *const allowed[] = {"cafile", "domain", "cert", "key", "verify", NULL};
    char cert[PATH_MAX], key[PATH_MAX], cafile[PATH_MAX];
    int rc;
    *out = NULL;
    *verify = true;
    snprintf(server_name, name_size, "%s", default_name);
    cert[0] = key[0] = cafile[0] = '\0';
    if (!tls || tls->type == TB_NULL || (tls->type == TB_BOOL && !tls->as.b)) return TB_OK;
    if (tls->type == TB_OBJECT) {
        const tb_value *v;
        size_t n;
        if ((rc = only_known(host, ctx, tls, allowed, "cafile, domain, cert, key and verify")) != TB_OK ||
            (rc = member_path(host, ctx, tls, "cafile", cafile, sizeof cafile)) != TB_OK ||
            (rc = member_path(host, ctx, tls, "cert", cert, sizeof cert)) != TB_OK ||
            (rc = member_path(host, ctx, tls, "key", key, sizeof key)) != TB_OK)
            return rc;
        if ((v = tb_object_getz(tls, "domain")) && v->type != TB_NULL) {
            const char *d = tb_value_str(v, &n);
            if (!d || n == 0 || n >= name_size || memchr(d, 0, n))
                return tb_fail(host, ctx, TB_EINVAL, "tls.domain must be a name of 1 to %zu bytes",
                               name_size - 1);
            memcpy(server_name, d, n);
            server_name[n] = '\0';
        }
        if ((v = tb_object_getz(tls, "verify")) && v->type != TB_NULL) {
            if (v->type != TB_BOOL)
                return tb_fail(host, ctx, TB_EINVAL, "tls.verify must be true or false, found %s",
                               tb_type_name(v->type));
            *verify = v->as.b;
        }
        if (!cert[0] != !key[0])
            return tb_fail(host, ctx, TB_EINVAL,
                           "tls.cert and tls.key go together (a client certificate and its key)");
    } else if (tls->type != TB_BOOL) {
        return tb_fail(host, ctx, TB_EINVAL,
                       "tls must be true, false or a record {\"cafile\", \"domain\", \"cert\", "
                       "\"key\", \"verify\"}, found %s",
                       tb_type_name(tls->type));
    }
    SSL_CTX *c = new_ctx(host, ctx, false);
    if (!c) return TB_ENOMEM;
    if (*verify) {
        if (cafile[0]) {
            if ((rc = load_ca(host, ctx, c, cafile)) != TB_OK) goto fail_ctx;
        } else if (SSL_CTX_set_default_verify_paths(c) != 1) {
            char why[256];
            tbp_tcp_tls_error(why, sizeof why, "unknown reason");
            rc = tb_fail(host, ctx, TB_EINVAL, "cannot load the system's CA certificates: %s", why);
            goto fail_ctx;
        }
        SSL_CTX_set_verify(c, SSL_VERIFY_PEER, NULL);
    } else {
        SSL_CTX_set_verify(c, SSL_VERIFY_NONE, NULL);
    }
    if (cert[0] && (rc = load_cert(host, ctx, c, cert, key)) != TB_OK) goto fail_ctx;
    *out = c;
    return TB_OK;
fail_ctx:
    SSL_CTX_free(c);
    return rc;
}

SSL *tbp_tcp_tls_new(SSL_CTX *c, bool server, const char *name, bool verify, char *err,
                     size_t err_size) {
    unsigned char ip[16];
    ERR_clear_error();
    SSL *ssl = SSL_new(c);
    if (!ssl) goto fail;
    if (server) {
        SSL_set_accept_state(ssl);
        return ssl;
    }
    SSL_set_connect_state(ssl);
    bool literal = inet_pton(AF_INET, name, ip) == 1 || inet_pton(AF_INET6, name, ip) == 1;
    /* SNI carries names only; an address is checked against the certificate's IP entries */
    if (!literal && SSL_set_tlsext_host_name(ssl, name) != 1) goto fail_ssl;
    if (verify) {
        int ok = literal ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name)
                         : SSL_set1_host(ssl, name);
        if (ok != 1) goto fail_ssl;
    }
    return ssl;
fail_ssl:
    SSL_free(ssl);
fail:
    tbp_tcp_tls_error(err, err_size, "out of memory");
    return NULL;
}
