/*
 * httpc_request.c - one HTTP request of `http_client`: the body of one or more events, sent
 * with its method, url and headers through a curl easy handle, attempted again after a 5xx, a
 * 429 or a transport error (refused, reset, timed out) with exponential backoff and jitter, up
 * to max_retries times; anything else (2xx: delivered; 3xx without follow_redirects, other
 * 4xx, a certificate or url problem: refused) is final at once. Its final response, if any,
 * becomes a source event (httpc_source.c); its outcome is reported to every batch it holds
 * events of.
 *
 * A request waiting to retry keeps its concurrency slot: a failing server slows the sink down
 * instead of receiving more.
 *
 * Ownership: a request (body, url, key, header list, easy handle, response buffer, correlation
 * block) is the instance's, freed by tbp_httpc_req_finish. Thread contract: the instance's
 * thread; curl calls on_body from inside curl_multi_socket_action on that thread.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "httpc.h"

#define USER_AGENT "temblor-http_client/0.1.0"

/* ---- making one --------------------------------------------------------------------------- */

/* Whether the override headers name the configured header line. */
static bool overridden(const tb_value *over, const char *line) {
    if (!over || over->type != TB_OBJECT) return false;
    for (uint32_t i = 0; i < over->len; i++)
        if (tbp_httpc_line_names(line, over->as.members[i].key, over->as.members[i].key_len)) return true;
    return false;
}

static bool add_header(struct curl_slist **list, const char *line) {
    struct curl_slist *n = curl_slist_append(*list, line);
    if (!n) return false;
    *list = n;
    return true;
}

static bool add_override(struct curl_slist **list, const tb_member *m, const tb_value *v, bool *ct, bool *ex) {
    char line[8192];
    size_t n;
    const char *s = tb_value_str(v, &n);
    if (!s) return true; /* null: the configured header is removed, nothing is sent */
    if (m->key_len + n + 3 > sizeof line) return true; /* checked by the sink: never here */
    snprintf(line, sizeof line, "%.*s: %.*s", (int)m->key_len, m->key, (int)n, s);
    *ct |= tbp_httpc_line_names(line, "content-type", 12);
    *ex |= tbp_httpc_line_names(line, "expect", 6);
    return add_header(list, line);
}

httpc_req *tbp_httpc_req_new(httpc *c, const char *method, const char *url, size_t url_len, const tb_value *over,
                             const char *key, size_t key_len) {
    httpc_req *r = c->host->alloc(c->ctx, sizeof *r);
    if (!r) return NULL;
    memset(r, 0, sizeof *r);
    r->c = c;
    r->state = HTTPC_REQ_OPEN;
    snprintf(r->method, sizeof r->method, "%s", method);
    r->url = tbp_httpc_strndup(c->host, c->ctx, url, url_len);
    r->key = tbp_httpc_strndup(c->host, c->ctx, key, key_len);
    bool ok = r->url && r->key, ct = false, ex = false;
    for (uint32_t i = 0; ok && i < c->conf.nheaders; i++) {
        const char *line = c->conf.headers[i];
        if (overridden(over, line)) continue;
        ct |= tbp_httpc_line_names(line, "content-type", 12);
        ex |= tbp_httpc_line_names(line, "expect", 6);
        ok = add_header(&r->headers, line);
    }
    if (ok && over && over->type == TB_OBJECT) {
        for (uint32_t i = 0; ok && i < over->len; i++) {
            const tb_member *m = &over->as.members[i];
            if (m->value.type == TB_ARRAY) {
                for (uint32_t k = 0; ok && k < m->value.len; k++) ok = add_override(&r->headers, m, &m->value.as.items[k], &ct, &ex);
            } else {
                ok = add_override(&r->headers, m, &m->value, &ct, &ex);
            }
        }
    }
    /* curl's defaults that do not fit an event shipper: no form content type (the codec
     * knows better: configure one), no 100-continue round trip for larger bodies */
    if (ok && !ct) ok = add_header(&r->headers, "Content-Type:");
    if (ok && !ex) ok = add_header(&r->headers, "Expect:");
    r->next = c->reqs;
    if (c->reqs) c->reqs->prev = r;
    c->reqs = r;
    if (!ok) {
        tbp_httpc_req_finish(c, r, TB_ENOMEM);
        return NULL;
    }
    return r;
}

bool tbp_httpc_req_append(httpc *c, httpc_req *r, const uint8_t *p, size_t n) {
    if (!n) return true;
    if (n > HTTPC_MAX_BODY - r->len) return false;
    if (r->cap - r->len < n) {
        size_t ncap = r->cap ? r->cap : 1024;
        while (ncap - r->len < n) ncap *= 2;
        uint8_t *b = c->host->realloc(c->ctx, r->body, ncap);
        if (!b) return false;
        r->body = b;
        r->cap = ncap;
    }
    memcpy(r->body + r->len, p, n);
    r->len += n;
    return true;
}

bool tbp_httpc_req_hold(httpc *c, httpc_req *r, httpc_token *t) {
    if (r->ntokens && r->tokens[r->ntokens - 1] == t) return true;
    if (r->ntokens == r->tcap) {
        uint32_t ncap = r->tcap ? r->tcap * 2 : 4;
        httpc_token **n = c->host->realloc(c->ctx, r->tokens, ncap * sizeof *n);
        if (!n) return false;
        r->tokens = n;
        r->tcap = ncap;
    }
    r->tokens[r->ntokens++] = t;
    t->refs++;
    return true;
}

/* ---- attempts ------------------------------------------------------------------------------ */

static size_t on_body(char *p, size_t size, size_t nmemb, void *user) {
    httpc_req *r = user;
    httpc *c = r->c;
    size_t n = size * nmemb;
    if (!c->conf.responses) return n;
    size_t room = c->conf.max_response_bytes > r->rlen ? (size_t)c->conf.max_response_bytes - r->rlen : 0;
    size_t take = n < room ? n : room;
    if (take < n) r->truncated = true;
    if (!take) return n;
    if (r->rcap - r->rlen < take) {
        size_t ncap = r->rcap ? r->rcap : 4096;
        while (ncap - r->rlen < take) ncap *= 2;
        uint8_t *b = c->host->realloc(c->ctx, r->rbody, ncap);
        if (!b) {
            r->truncated = true;
            return n;
        }
        r->rbody = b;
        r->rcap = ncap;
    }
    memcpy(r->rbody + r->rlen, p, take);
    r->rlen += take;
    return n;
}

static bool setup(httpc *c, httpc_req *r) {
    const httpc_conf *k = &c->conf;
    CURL *e = r->easy = curl_easy_init();
    if (!e) return false;
    bool ok = curl_easy_setopt(e, CURLOPT_URL, r->url) == CURLE_OK;
    curl_easy_setopt(e, CURLOPT_PRIVATE, (char *)r);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->err);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)k->timeout_ms);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->headers);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
    if (!k->has_user_agent) curl_easy_setopt(e, CURLOPT_USERAGENT, USER_AGENT);
    if (k->follow_redirects) {
        curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
        curl_easy_setopt(e, CURLOPT_MAXREDIRS, 10L);
        curl_easy_setopt(e, CURLOPT_POSTREDIR, (long)CURL_REDIR_POST_ALL); /* a POST stays a POST */
    }
    if (strcmp(r->method, "HEAD") == 0) {
        curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    } else if (strcmp(r->method, "GET") == 0 && r->len == 0) {
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    } else {
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->body ? (const char *)r->body : "");
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->len);
        if (strcmp(r->method, "POST") != 0) curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, r->method);
    }
    if (k->cafile) curl_easy_setopt(e, CURLOPT_CAINFO, k->cafile);
    if (k->cert) curl_easy_setopt(e, CURLOPT_SSLCERT, k->cert);
    if (k->key) curl_easy_setopt(e, CURLOPT_SSLKEY, k->key);
    if (!k->verify) {
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    if (k->username) {
        curl_easy_setopt(e, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(e, CURLOPT_USERNAME, k->username);
        curl_easy_setopt(e, CURLOPT_PASSWORD, k->password);
    } else if (k->bearer) {
        curl_easy_setopt(e, CURLOPT_HTTPAUTH, (long)CURLAUTH_BEARER);
        curl_easy_setopt(e, CURLOPT_XOAUTH2_BEARER, k->bearer);
    }
    return ok;
}

void tbp_httpc_req_start(httpc *c, httpc_req *r) {
    if (!r->easy && !setup(c, r)) {
        snprintf(r->err, sizeof r->err, "cannot set up the request (out of memory or a bad url)");
        tb_log(c->host, c->ctx, TB_LOG_WARN, "%s %s: %s", r->method, r->url, r->err);
        r->state = HTTPC_REQ_ACTIVE;
        tbp_httpc_req_finish(c, r, TB_ENOMEM);
        return;
    }
    r->rlen = 0;
    r->truncated = false;
    r->err[0] = '\0';
    r->attempt++;
    r->state = HTTPC_REQ_ACTIVE;
    tbp_httpc_metric_add(c, c->m.requests, 1);
    int rc = tbp_httpc_multi_add(c, r);
    if (rc != TB_OK) {
        tb_log(c->host, c->ctx, TB_LOG_WARN, "%s %s: %s", r->method, r->url, r->err);
        tbp_httpc_req_finish(c, r, rc);
    }
}

static void TB_CALL on_retry(void *user, uint64_t id) {
    httpc_req *r = user;
    (void)id;
    r->retry_timer = 0;
    tbp_httpc_req_start(r->c, r);
}

static uint64_t rand64(httpc *c) {
    uint64_t x = c->rng;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return c->rng = x;
}

/* Seconds of a Retry-After header of the last response, or -1. */
static long retry_after_s(httpc_req *r) {
    struct curl_header *h = NULL;
    if (curl_easy_header(r->easy, "Retry-After", 0, CURLH_HEADER, -1, &h) != CURLHE_OK || !h || !h->value) return -1;
    char *end;
    long s = strtol(h->value, &end, 10);
    return end != h->value && s >= 0 ? s : -1; /* an HTTP date is not worth a clock here */
}

/* Schedules the next attempt of r after backoff with jitter; why says what failed. */
static void retry(httpc *c, httpc_req *r, const char *why, long retry_after) {
    const httpc_conf *k = &c->conf;
    uint64_t d = k->backoff_ms;
    for (uint32_t i = 1; i < r->attempt && d < k->max_backoff_ms; i++) d *= 2;
    if (d > k->max_backoff_ms) d = k->max_backoff_ms;
    /* "equal jitter": half the delay fixed, half at random, so retries of many requests spread */
    d = d / 2 + rand64(c) % (d - d / 2 + 1);
    if (retry_after >= 0) {
        uint64_t ra = (uint64_t)retry_after * 1000u;
        if (ra > k->max_backoff_ms) ra = k->max_backoff_ms;
        if (ra > d) d = ra;
    }
    tbp_httpc_metric_add(c, c->m.retries, 1);
    tb_log(c->host, c->ctx, TB_LOG_INFO, "%s %s: %s; retrying in %llu ms (attempt %u of %u)", r->method, r->url, why,
           (unsigned long long)d, r->attempt + 1, k->max_retries + 1);
    r->state = HTTPC_REQ_BACKOFF;
    if (c->host->timer_start(c->ctx, d * 1000000u, 0, on_retry, r, &r->retry_timer) != TB_OK) {
        r->retry_timer = 0;
        tb_log(c->host, c->ctx, TB_LOG_WARN, "%s %s: cannot start the retry timer", r->method, r->url);
        tbp_httpc_req_finish(c, r, TB_EIO);
    }
}

/* Transport failures that another attempt cannot mend. */
static bool permanent(CURLcode res) {
    switch (res) {
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_TOO_MANY_REDIRECTS:
    case CURLE_LOGIN_DENIED:
    case CURLE_OUT_OF_MEMORY: return true;
    default: return false;
    }
}

/* The start of a response body, printable, for a log line. */
static void snippet(const httpc_req *r, char *buf, size_t size) {
    size_t n = 0;
    for (size_t i = 0; i < r->rlen && n + 1 < size && i < 160; i++) {
        uint8_t ch = r->rbody[i];
        buf[n++] = ch >= 0x20 && ch < 0x7f ? (char)ch : ' ';
    }
    buf[n] = '\0';
}

void tbp_httpc_req_done(httpc *c, httpc_req *r, CURLcode res) {
    const httpc_conf *k = &c->conf;
    char why[CURL_ERROR_SIZE + 128];
    tbp_httpc_multi_remove(c, r);
    bool may_retry = r->attempt <= k->max_retries && !c->stopped;
    if (res != CURLE_OK) {
        long os_errno = 0;
        curl_easy_getinfo(r->easy, CURLINFO_OS_ERRNO, &os_errno);
        /* curl's text says "Couldn't connect"; errno says refused, unreachable or reset */
        snprintf(why, sizeof why, "%s%s%s%s%s%s", curl_easy_strerror(res), r->err[0] ? ": " : "", r->err,
                 os_errno ? " (" : "", os_errno ? strerror((int)os_errno) : "", os_errno ? ")" : "");
        if (may_retry && !permanent(res)) {
            retry(c, r, why, -1);
            return;
        }
        tb_log(c->host, c->ctx, TB_LOG_WARN, "%s %s failed after %u attempt%s: %s", r->method, r->url, r->attempt,
               r->attempt == 1 ? "" : "s", why);
        tbp_httpc_req_finish(c, r, TB_EIO);
        return;
    }
    long status = 0;
    curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
    uint32_t m = status >= 500 ? c->m.r5xx : status >= 400 ? c->m.r4xx : status >= 300 ? c->m.r3xx : c->m.r2xx;
    tbp_httpc_metric_add(c, m, 1);
    if (status >= 200 && status < 300) {
        tbp_httpc_source_keep(c, r, status);
        tbp_httpc_req_finish(c, r, TB_OK);
        return;
    }
    bool transient = status == 429 || status >= 500;
    if (transient && may_retry) {
        snprintf(why, sizeof why, "HTTP %ld", status);
        retry(c, r, why, retry_after_s(r));
        return;
    }
    char body[200];
    snippet(r, body, sizeof body);
    tb_log(c->host, c->ctx, TB_LOG_WARN, "%s %s failed after %u attempt%s: HTTP %ld%s%s%s", r->method, r->url, r->attempt,
           r->attempt == 1 ? "" : "s", status, transient ? "" : " (not retried)", body[0] ? ": " : "", body);
    tbp_httpc_source_keep(c, r, status);
    tbp_httpc_req_finish(c, r, transient ? TB_EIO : TB_ERROR);
}

void tbp_httpc_req_finish(httpc *c, httpc_req *r, int status) {
    bool held_slot = r->state == HTTPC_REQ_ACTIVE || r->state == HTTPC_REQ_BACKOFF;
    if (r->retry_timer) c->host->timer_stop(c->ctx, r->retry_timer);
    r->retry_timer = 0;
    tbp_httpc_multi_remove(c, r);
    if (status != TB_OK) tbp_httpc_metric_add(c, c->m.failures, 1);
    for (uint32_t i = 0; i < r->ntokens; i++) tbp_httpc_token_release(c, r->tokens[i], status);
    if (r->prev) r->prev->next = r->next;
    else c->reqs = r->next;
    if (r->next) r->next->prev = r->prev;
    if (c->open == r) c->open = NULL;
    if (r->easy) curl_easy_cleanup(r->easy);
    curl_slist_free_all(r->headers);
    c->host->free(c->ctx, r->tokens);
    c->host->free(c->ctx, r->body);
    c->host->free(c->ctx, r->rbody);
    c->host->free(c->ctx, r->url);
    c->host->free(c->ctx, r->key);
    c->host->free(c->ctx, r->correlation);
    c->host->free(c->ctx, r);
    if (held_slot) {
        c->busy--;
        tbp_httpc_sink_slot_free(c);
    }
}
