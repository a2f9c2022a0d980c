/*
 * httpc_config.c - the checks of `http_client`'s options (declared in httpc_connector.c): url (http:// or https://,
 * parsed by curl), method (a token of letters, upper-cased), headers (name -> string or array
 * of strings), the batching, concurrency, retry and response bounds, tls and auth. Every
 * refusal names the option and the value, and create returns TB_EINVAL with it.
 *
 * Ownership: what tbp_httpc_conf_read puts in the conf (strings, header lines) is host memory
 * of the instance, freed by tbp_httpc_conf_free. Thread contract: create's thread, except the
 * pure checks (url, method, header names), which any thread may call.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <strings.h>
#include <unistd.h>

#include "httpc.h"

char *tbp_httpc_strndup(const tb_host_api *host, tb_context *ctx, const char *s, size_t n) {
    char *p = host->alloc(ctx, n + 1);
    if (!p) return NULL;
    if (n) memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

const char *tbp_httpc_url_problem(const char *url) {
    if (strncasecmp(url, "http://", 7) != 0 && strncasecmp(url, "https://", 8) != 0)
        return "the scheme must be http:// or https://";
    CURLU *u = curl_url();
    if (!u) return "out of memory";
    CURLUcode rc = curl_url_set(u, CURLUPART_URL, url, 0);
    const char *why = NULL;
    char *host = NULL;
    if (rc != CURLUE_OK) why = curl_url_strerror(rc);
    else if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || !host || !host[0]) why = "no host";
    curl_free(host);
    curl_url_cleanup(u);
    return why;
}

bool tbp_httpc_method_norm(const char *m, size_t len, char *out) {
    if (len == 0 || len >= HTTPC_METHOD_MAX) return false;
    for (size_t i = 0; i < len; i++) {
        char ch = m[i];
        if (ch >= 'a' && ch <= 'z') ch = (char)(ch - 'a' + 'A');
        if (ch < 'A' || ch > 'Z') return false;
        out[i] = ch;
    }
    out[len] = '\0';
    return true;
}

bool tbp_httpc_header_name_ok(const char *name, size_t len) {
    static const char extra[] = "!#$%&'*+-.^_`|~";
    if (!len) return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)name[i];
        bool alnum = (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
        if (!alnum && (!ch || !strchr(extra, ch))) return false;
    }
    return true;
}

bool tbp_httpc_header_value_ok(const char *v, size_t len) {
    for (size_t i = 0; i < len; i++)
        if (v[i] == '\r' || v[i] == '\n' || v[i] == '\0') return false;
    return true;
}

bool tbp_httpc_line_names(const char *line, const char *name, size_t len) {
    return strncasecmp(line, name, len) == 0 && line[len] == ':';
}

/* Appends "name: value" to conf->headers. */
static int add_line(const tb_host_api *host, tb_context *ctx, httpc_conf *conf, const tb_member *m,
                    const tb_value *v) {
    size_t vlen;
    const char *s = tb_value_str(v, &vlen);
    if (!s)
        return tb_fail(host, ctx, TB_EINVAL, "headers.%.*s: a header value must be a string or an array of strings, found %s",
                       (int)m->key_len, m->key, tb_type_name(v->type));
    if (!tbp_httpc_header_value_ok(s, vlen))
        return tb_fail(host, ctx, TB_EINVAL, "headers.%.*s: a header value must not hold CR, LF or NUL",
                       (int)m->key_len, m->key);
    char **n = host->realloc(ctx, conf->headers, (conf->nheaders + 1) * sizeof *n);
    if (!n) return TB_ENOMEM;
    conf->headers = n;
    size_t len = m->key_len + 2 + vlen;
    char *line = host->alloc(ctx, len + 1);
    if (!line) return TB_ENOMEM;
    snprintf(line, len + 1, "%.*s: %.*s", (int)m->key_len, m->key, (int)vlen, s);
    conf->headers[conf->nheaders++] = line;
    return TB_OK;
}

static int read_headers(const tb_host_api *host, tb_context *ctx, const tb_value *h, httpc_conf *conf) {
    int rc;
    if (!h || h->type == TB_NULL) return TB_OK;
    if (h->type != TB_OBJECT)
        return tb_fail(host, ctx, TB_EINVAL, "headers must be an object of name -> string or array of strings, found %s",
                       tb_type_name(h->type));
    for (uint32_t i = 0; i < h->len; i++) {
        const tb_member *m = &h->as.members[i];
        if (!tbp_httpc_header_name_ok(m->key, m->key_len))
            return tb_fail(host, ctx, TB_EINVAL, "headers: \"%.*s\" is not a header name", (int)m->key_len, m->key);
        if (m->value.type == TB_ARRAY) {
            for (uint32_t k = 0; k < m->value.len; k++)
                if ((rc = add_line(host, ctx, conf, m, &m->value.as.items[k])) != TB_OK) return rc;
        } else if ((rc = add_line(host, ctx, conf, m, &m->value)) != TB_OK) {
            return rc;
        }
        conf->has_content_type |= m->key_len == 12 && strncasecmp(m->key, "content-type", 12) == 0;
        conf->has_expect |= m->key_len == 6 && strncasecmp(m->key, "expect", 6) == 0;
        conf->has_user_agent |= m->key_len == 10 && strncasecmp(m->key, "user-agent", 10) == 0;
    }
    return TB_OK;
}

/* A string field of an object option into *out (host memory); absent or null leaves it NULL. */
static int take_str(const tb_host_api *host, tb_context *ctx, const tb_value *obj, const char *opt,
                    const char *field, bool file, char **out) {
    const tb_value *v = tb_object_getz(obj, field);
    size_t n;
    if (!v || v->type == TB_NULL) return TB_OK;
    const char *s = tb_value_str(v, &n);
    if (!s) return tb_fail(host, ctx, TB_EINVAL, "%s.%s must be a string, found %s", opt, field, tb_type_name(v->type));
    if (!(*out = tbp_httpc_strndup(host, ctx, s, n))) return TB_ENOMEM;
    if (file && access(*out, R_OK) != 0)
        return tb_fail(host, ctx, TB_EINVAL, "%s.%s \"%s\": %s", opt, field, *out, strerror(errno));
    return TB_OK;
}

/* Refuses fields of obj not in allowed (NULL-terminated). */
static int only_fields(const tb_host_api *host, tb_context *ctx, const tb_value *obj, const char *opt,
                       const char *const *allowed, const char *list) {
    for (uint32_t i = 0; i < obj->len; i++) {
        const tb_member *m = &obj->as.members[i];
        bool known = false;
        for (const char *const *a = allowed; *a && !known; a++) known = strlen(*a) == m->key_len && !memcmp(*a, m->key, m->key_len);
        if (!known)
            return tb_fail(host, ctx, TB_EINVAL, "%s: unknown field \"%.*s\" (expected %s)", opt, (int)m->key_len, m->key, list);
    }
    return TB_OK;
}

static int read_tls(const tb_host_api *host, tb_context *ctx, const tb_value *t, httpc_conf *conf) {
    static const char *const fields[] = {"cafile", "cert", "key", "verify", NULL};
    int rc;
    conf->verify = true;
    if (!t || t->type == TB_NULL) return TB_OK;
    if (t->type == TB_BOOL) {
        /* https always verifies unless told otherwise; false does not turn it off */
        return TB_OK;
    }
    if (t->type != TB_OBJECT)
        return tb_fail(host, ctx, TB_EINVAL, "tls must be true or an object {\"cafile\", \"cert\", \"key\", \"verify\"}, found %s",
                       tb_type_name(t->type));
    if ((rc = only_fields(host, ctx, t, "tls", fields, "cafile, cert, key, verify")) != TB_OK) return rc;
    if ((rc = take_str(host, ctx, t, "tls", "cafile", true, &conf->cafile)) != TB_OK) return rc;
    if ((rc = take_str(host, ctx, t, "tls", "cert", true, &conf->cert)) != TB_OK) return rc;
    if ((rc = take_str(host, ctx, t, "tls", "key", true, &conf->key)) != TB_OK) return rc;
    if (conf->key && !conf->cert) return tb_fail(host, ctx, TB_EINVAL, "tls.key needs tls.cert");
    const tb_value *v = tb_object_getz(t, "verify");
    if (v && v->type != TB_NULL) {
        if (v->type != TB_BOOL) return tb_fail(host, ctx, TB_EINVAL, "tls.verify must be a bool, found %s", tb_type_name(v->type));
        conf->verify = v->as.b;
    }
    return TB_OK;
}

static int read_auth(const tb_host_api *host, tb_context *ctx, const tb_value *a, httpc_conf *conf) {
    static const char *const kinds[] = {"basic", "bearer", NULL};
    static const char *const basic_fields[] = {"username", "password", NULL};
    int rc;
    if (!a || a->type == TB_NULL) return TB_OK;
    if (a->type != TB_OBJECT || a->len != 1)
        return tb_fail(host, ctx, TB_EINVAL,
                       "auth must be {\"basic\": {\"username\", \"password\"}} or {\"bearer\": \"token\"}, found %s",
                       a->type == TB_OBJECT ? "an object of several fields" : tb_type_name(a->type));
    if ((rc = only_fields(host, ctx, a, "auth", kinds, "basic or bearer")) != TB_OK) return rc;
    const tb_value *b = tb_object_getz(a, "basic");
    if (b) {
        if (b->type != TB_OBJECT) return tb_fail(host, ctx, TB_EINVAL, "auth.basic must be an object {\"username\", \"password\"}");
        if ((rc = only_fields(host, ctx, b, "auth.basic", basic_fields, "username, password")) != TB_OK) return rc;
        if ((rc = take_str(host, ctx, b, "auth.basic", "username", false, &conf->username)) != TB_OK) return rc;
        if ((rc = take_str(host, ctx, b, "auth.basic", "password", false, &conf->password)) != TB_OK) return rc;
        if (!conf->username) return tb_fail(host, ctx, TB_EINVAL, "auth.basic.username is required");
        if (!conf->password && !(conf->password = tbp_httpc_strndup(host, ctx, "", 0))) return TB_ENOMEM;
        return TB_OK;
    }
    return take_str(host, ctx, a, "auth", "bearer", false, &conf->bearer);
}

/* An unsigned option in [lo, hi], or a refusal naming it. */
static int bounded(const tb_host_api *host, tb_context *ctx, const tb_value *config, const char *name, uint64_t def,
                   uint64_t lo, uint64_t hi, uint64_t *out) {
    uint64_t v = tb_config_u64(config, name, def);
    if (v < lo || v > hi)
        return tb_fail(host, ctx, TB_EINVAL, "%s must be between %llu and %llu, found %llu", name, (unsigned long long)lo,
                       (unsigned long long)hi, (unsigned long long)v);
    *out = v;
    return TB_OK;
}

int tbp_httpc_conf_read(const tb_host_api *host, tb_context *ctx, const tb_value *config, httpc_conf *conf) {
    size_t n;
    int rc;
    uint64_t v;
    const char *url = tb_config_str(config, "url", NULL, &n);
    if (!url) {
        rc = tb_fail(host, ctx, TB_EINVAL, "url is required");
        goto fail;
    }
    if (!(conf->url = tbp_httpc_strndup(host, ctx, url, n))) goto fail_nomem;
    const char *why = strlen(conf->url) != n ? "it holds a NUL byte" : tbp_httpc_url_problem(conf->url);
    if (why) {
        rc = tb_fail(host, ctx, TB_EINVAL, "url \"%s\": %s", conf->url, why);
        goto fail;
    }
    const char *m = tb_config_str(config, "method", "POST", &n);
    if (!tbp_httpc_method_norm(m, n, conf->method)) {
        rc = tb_fail(host, ctx, TB_EINVAL, "method \"%.*s\": expected a method name of letters such as POST, PUT or GET",
                     (int)n, m);
        goto fail;
    }
    if ((rc = read_headers(host, ctx, tb_object_getz(config, "headers"), conf)) != TB_OK) goto fail;
    if ((rc = bounded(host, ctx, config, "batch_size", 1, 1, 1000000, &v)) != TB_OK) goto fail;
    conf->batch_size = (uint32_t)v;
    if ((rc = bounded(host, ctx, config, "batch_bytes", 1048576, 0, HTTPC_MAX_BODY, &conf->batch_bytes)) != TB_OK) goto fail;
    if ((rc = bounded(host, ctx, config, "linger_ms", 0, 0, 3600000, &v)) != TB_OK) goto fail;
    conf->linger_ns = v * 1000000u;
    if ((rc = bounded(host, ctx, config, "concurrency", 4, 1, 1024, &v)) != TB_OK) goto fail;
    conf->concurrency = (uint32_t)v;
    if ((rc = bounded(host, ctx, config, "queue_size", 16, 1, 1000000, &v)) != TB_OK) goto fail;
    conf->queue_size = (uint32_t)v;
    if ((rc = bounded(host, ctx, config, "max_retries", 3, 0, 1000, &v)) != TB_OK) goto fail;
    conf->max_retries = (uint32_t)v;
    if ((rc = bounded(host, ctx, config, "backoff_ms", 100, 1, 3600000, &conf->backoff_ms)) != TB_OK) goto fail;
    if ((rc = bounded(host, ctx, config, "max_backoff_ms", 10000, 1, 3600000, &conf->max_backoff_ms)) != TB_OK) goto fail;
    if (conf->max_backoff_ms < conf->backoff_ms) {
        rc = tb_fail(host, ctx, TB_EINVAL, "max_backoff_ms (%llu) must not be below backoff_ms (%llu)",
                     (unsigned long long)conf->max_backoff_ms, (unsigned long long)conf->backoff_ms);
        goto fail;
    }
    if ((rc = bounded(host, ctx, config, "timeout_ms", 30000, 1, 86400000, &conf->timeout_ms)) != TB_OK) goto fail;
    conf->follow_redirects = tb_config_bool(config, "follow_redirects", false);
    conf->responses = tb_config_bool(config, "responses", true);
    if ((rc = bounded(host, ctx, config, "max_responses", 1024, 1, 1000000, &v)) != TB_OK) goto fail;
    conf->max_responses = (uint32_t)v;
    if ((rc = bounded(host, ctx, config, "max_response_bytes", 16777216, 0, HTTPC_MAX_BODY, &conf->max_response_bytes)) != TB_OK)
        goto fail;
    if ((rc = read_tls(host, ctx, tb_object_getz(config, "tls"), conf)) != TB_OK) goto fail;
    if ((rc = read_auth(host, ctx, tb_object_getz(config, "auth"), conf)) != TB_OK) goto fail;
    return TB_OK;
fail_nomem:
    rc = TB_ENOMEM;
fail:
    if (rc == TB_ENOMEM) tb_fail(host, ctx, TB_ENOMEM, "out of memory reading the configuration");
    tbp_httpc_conf_free(host, ctx, conf);
    return rc;
}

void tbp_httpc_conf_free(const tb_host_api *host, tb_context *ctx, httpc_conf *conf) {
    for (uint32_t i = 0; i < conf->nheaders; i++) host->free(ctx, conf->headers[i]);
    host->free(ctx, conf->headers);
    char **strs[] = {&conf->url, &conf->cafile, &conf->cert, &conf->key, &conf->username, &conf->password, &conf->bearer};
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++) {
        host->free(ctx, *strs[i]);
        *strs[i] = NULL;
    }
    conf->headers = NULL;
    conf->nheaders = 0;
}
