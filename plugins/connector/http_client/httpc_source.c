/*
 * httpc_source.c - the source half of `http_client`: every final response (a 2xx, or the last
 * answer of a request that failed with an HTTP status) becomes an event whose data is the raw
 * body (TB_EF_RAW: preprocessors and the codec decode it; an empty body gives empty bytes) and
 * whose meta is
 *
 *   {"http_client": {"response": {"status": 200, "headers": {"content-type": "...",
 *                                  "set-cookie": ["a", "b"]}, "url": "<final url>"
 *                                  [, "truncated": true]},
 *                    "request": {"method": "POST", "url": "<request url>"}},
 *    "correlation": <the request's first event's $correlation, when it had one>}
 *
 * Each response is a stream of its own: the event is followed by an empty one flagged
 * TB_EF_STREAM_END, so the stream's preprocessors flush (the runtime drops an empty end
 * marker, so the body does not ride on it: an empty body still gives its event). Ids and
 * streams increase by one per response.
 *
 * The runtime never pulls a source half nothing is connected to, so responses are kept in a
 * bounded queue: at most max_responses of them and HTTPC_QUEUED_RESPONSE_BYTES bytes; more are
 * dropped, counted (responses_dropped) and logged. `"responses": false` keeps none at all.
 *
 * Ownership: kept responses are the instance's host memory, freed when pulled (copied into the
 * batch's arena) or at destroy. Thread contract: the instance's thread; keep runs inside curl's
 * completion handling (httpc_request.c).
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <stdio.h>

#include "httpc.h"

static void resp_free(httpc *c, httpc_resp *p) {
    c->host->free(c->ctx, p->req_url);
    c->host->free(c->ctx, p->url);
    c->host->free(c->ctx, p->body);
    c->host->free(c->ctx, p->headers);
    c->host->free(c->ctx, p->correlation);
    c->host->free(c->ctx, p);
}

static void drop(httpc *c, const char *why) {
    c->dropped++;
    tbp_httpc_metric_add(c, c->m.dropped, 1);
    if (c->dropped <= 3 || c->dropped % 1000 == 0)
        tb_log(c->host, c->ctx, TB_LOG_WARN,
               "response dropped (%llu so far): %s; connect the source half to a pipeline, or set \"responses\": false",
               (unsigned long long)c->dropped, why);
}

/* The last response's headers as "name\0value\0" pairs, names in lower case. */
static bool take_headers(httpc *c, CURL *easy, httpc_resp *p) {
    size_t total = 0;
    struct curl_header *h = NULL;
    while ((h = curl_easy_nextheader(easy, CURLH_HEADER, -1, h)) != NULL) total += strlen(h->name) + strlen(h->value) + 2;
    if (!total) return true;
    char *buf = c->host->alloc(c->ctx, total);
    if (!buf) return false;
    size_t at = 0;
    h = NULL;
    while ((h = curl_easy_nextheader(easy, CURLH_HEADER, -1, h)) != NULL && at < total) {
        size_t nl = strlen(h->name), vl = strlen(h->value);
        if (at + nl + vl + 2 > total) break;
        for (size_t i = 0; i < nl; i++) buf[at + i] = (char)tolower((unsigned char)h->name[i]);
        buf[at + nl] = '\0';
        memcpy(buf + at + nl + 1, h->value, vl + 1);
        at += nl + vl + 2;
        p->nheaders++;
    }
    p->headers = buf;
    p->headers_len = at;
    return true;
}

void tbp_httpc_source_keep(httpc *c, httpc_req *r, long status) {
    if (!c->conf.responses) return;
    if (c->nresps >= c->conf.max_responses) return drop(c, "max_responses responses wait to be pulled");
    if (c->resp_bytes + r->rlen > HTTPC_QUEUED_RESPONSE_BYTES) return drop(c, "the responses waiting to be pulled are too large");
    httpc_resp *p = c->host->alloc(c->ctx, sizeof *p);
    if (!p) return drop(c, "out of memory");
    memset(p, 0, sizeof *p);
    p->status = status;
    memcpy(p->method, r->method, sizeof p->method);
    char *eff = NULL;
    curl_easy_getinfo(r->easy, CURLINFO_EFFECTIVE_URL, &eff);
    const char *url = eff ? eff : r->url;
    p->req_url = tbp_httpc_strndup(c->host, c->ctx, r->url, strlen(r->url));
    p->url = tbp_httpc_strndup(c->host, c->ctx, url, strlen(url));
    if (!p->req_url || !p->url || !take_headers(c, r->easy, p)) {
        resp_free(c, p);
        return drop(c, "out of memory");
    }
    /* the body and the correlation move over from the request */
    p->body = r->rbody;
    p->len = r->rlen;
    p->truncated = r->truncated;
    r->rbody = NULL;
    r->rlen = r->rcap = 0;
    p->correlation = r->correlation;
    r->correlation = NULL;
    if (c->resps_tail) c->resps_tail->next = p;
    else c->resps = p;
    c->resps_tail = p;
    c->nresps++;
    c->resp_bytes += p->len + p->headers_len;
    c->host->wake(c->ctx);
}

void tbp_httpc_source_clear(httpc *c) {
    while (c->resps) {
        httpc_resp *p = c->resps;
        c->resps = p->next;
        resp_free(c, p);
    }
    c->resps_tail = NULL;
    c->nresps = 0;
    c->resp_bytes = 0;
}

static tb_value *set(tb_arena *a, tb_value *obj, const char *key) { return tb_object_append(a, obj, key, strlen(key)); }

static bool str_value(tb_arena *a, tb_value *slot, const char *s) {
    size_t n = strlen(s);
    const char *copy = tb_arena_dup(a, s, n);
    if (!copy) return false;
    *slot = tb_string(copy, n);
    return true;
}

/* response.headers: repeated names become arrays, in order. */
static bool headers_value(tb_arena *a, const httpc_resp *p, tb_value *out) {
    *out = tb_object();
    if (!p->headers_len) return true;
    const char *buf = tb_arena_dup(a, p->headers, p->headers_len);
    if (!buf) return false;
    size_t at = 0;
    for (uint32_t i = 0; i < p->nheaders; i++) {
        const char *name = buf + at;
        size_t nl = strlen(name);
        const char *val = name + nl + 1;
        size_t vl = strlen(val);
        at += nl + vl + 2;
        tb_value v = tb_string(val, vl), *slot = tb_object_get(out, name, nl);
        if (!slot) {
            if (!(slot = tb_object_append(a, out, name, nl))) return false;
            *slot = v;
        } else {
            if (slot->type != TB_ARRAY) {
                tb_value first = *slot;
                *slot = tb_array();
                tb_value *s0 = tb_array_push(a, slot);
                if (!s0) return false;
                *s0 = first;
            }
            tb_value *s1 = tb_array_push(a, slot);
            if (!s1) return false;
            *s1 = v;
        }
    }
    return true;
}

static bool meta_value(tb_arena *a, const httpc_resp *p, tb_value *meta) {
    tb_value hc = tb_object(), resp = tb_object(), req = tb_object(), *s;
    *meta = tb_object();
    if (!(s = set(a, &resp, "status"))) return false;
    *s = tb_u64((uint64_t)p->status);
    if (!(s = set(a, &resp, "headers")) || !headers_value(a, p, s)) return false;
    if (!(s = set(a, &resp, "url")) || !str_value(a, s, p->url)) return false;
    if (p->truncated) {
        if (!(s = set(a, &resp, "truncated"))) return false;
        *s = tb_bool(true);
    }
    if (!(s = set(a, &req, "method")) || !str_value(a, s, p->method)) return false;
    if (!(s = set(a, &req, "url")) || !str_value(a, s, p->req_url)) return false;
    if (!(s = set(a, &hc, "response"))) return false;
    *s = resp;
    if (!(s = set(a, &hc, "request"))) return false;
    *s = req;
    if (!(s = set(a, meta, "http_client"))) return false;
    *s = hc;
    if (p->correlation) {
        size_t n = tbp_httpc_value_size(p->correlation);
        void *block = tb_arena_alloc(a, n, 8);
        if (!block || !(s = set(a, meta, "correlation"))) return false;
        tbp_httpc_value_copy(p->correlation, block);
        *s = *(tb_value *)block;
    }
    return true;
}

int TB_CALL tbp_httpc_pull(void *instance, tb_batch *out) {
    httpc *c = instance;
    uint32_t limit = out->capacity > 2 ? out->capacity : 2;
    size_t taken = 0;
    uint32_t before = out->count;
    while (c->resps && out->count + 2 <= limit + before && taken < TB_BATCH_BYTES) {
        httpc_resp *p = c->resps;
        tb_value meta, data = tb_bytes(NULL, 0);
        const uint8_t *body = p->len ? (const uint8_t *)tb_arena_dup(out->arena, p->body, p->len) : NULL;
        bool ok = (!p->len || body) && meta_value(out->arena, p, &meta);
        if (ok) data = tb_bytes(body, p->len);
        tb_event *e = ok ? tb_batch_push(out) : NULL;
        if (e) {
            e->data = data;
            e->meta = meta;
            e->id = c->next_id;
            e->stream = c->next_stream;
            e->flags = TB_EF_RAW;
            tb_event *end = tb_batch_push(out);
            if (end) {
                end->data = tb_bytes(NULL, 0);
                end->id = c->next_id;
                end->stream = c->next_stream;
                end->flags = TB_EF_RAW | TB_EF_STREAM_END;
            } else {
                out->count--; /* both or neither */
                e = NULL;
            }
        }
        if (!e) {
            if (out->count > before) break; /* what fits goes; the rest waits for the next pull */
            return tb_fail(c->host, c->ctx, TB_ENOMEM, "out of memory making the event of a response");
        }
        c->resps = p->next;
        if (!c->resps) c->resps_tail = NULL;
        c->nresps--;
        c->resp_bytes -= p->len + p->headers_len;
        taken += p->len;
        c->next_id++;
        if (++c->next_stream == 0) c->next_stream = 1;
        resp_free(c, p);
    }
    return out->count > before ? TB_OK : TB_EAGAIN;
}
