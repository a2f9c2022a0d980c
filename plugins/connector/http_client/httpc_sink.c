/*
 * httpc_sink.c - the sink half of `http_client`. Each event's encoded bytes join the open
 * request (the batch being filled) when it has the same method, url and headers; an event's
 * $http_client.request = {"method", "url", "headers"} overrides the configuration for it, and
 * events with different overrides never share a request. The open request goes when it holds
 * batch_size events or batch_bytes bytes, when linger_ms has passed since its first event, or
 * at the end of the push when linger_ms is 0.
 *
 * At most `concurrency` requests are in flight (or waiting to retry); the next ones wait in a
 * queue, and when queue_size of them wait the circuit breaker opens, so the runtime stops
 * pushing and pauses the sources; it closes once the queue is half as long.
 *
 * push answers TB_EPENDING: every pushed batch is reported once through host->delivered, TB_OK
 * when every request holding its events got a 2xx, else the first failure (so transactional
 * sources replay it). An event that cannot be sent (not raw bytes, a bad override) fails its
 * batch the same way, logged, instead of restarting the instance.
 *
 * Ownership: batch records and requests are the instance's host memory; event bytes and the
 * $correlation value are copied out of the batch during push (nothing points into a batch
 * after push returns). Thread contract: the instance's thread.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdio.h>

#include "httpc.h"

#define MAX_HEADER_LINE 8000

/* Logs a problem with one event: the first ten, then every thousandth. */
static void warn(httpc *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void warn(httpc *c, const char *fmt, ...) {
    static const uint32_t every = 1000;
    char msg[768];
    va_list ap;
    c->warned++;
    if (c->warned > 10 && c->warned % every != 0) return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    c->host->log(c->ctx, TB_LOG_WARN, msg);
}

/* ---- batch records --------------------------------------------------------------------------- */

static httpc_token *token_new(httpc *c, uint64_t token) {
    httpc_token *t = c->host->alloc(c->ctx, sizeof *t);
    if (!t) return NULL;
    memset(t, 0, sizeof *t);
    t->token = token;
    t->refs = 1;
    t->next = c->tokens;
    if (c->tokens) c->tokens->prev = t;
    c->tokens = t;
    return t;
}

static void token_free(httpc *c, httpc_token *t) {
    if (t->prev) t->prev->next = t->next;
    else c->tokens = t->next;
    if (t->next) t->next->prev = t->prev;
    c->host->free(c->ctx, t);
}

void tbp_httpc_token_release(httpc *c, httpc_token *t, int status) {
    if (status != TB_OK && t->status == TB_OK) t->status = status;
    if (--t->refs) return;
    c->host->delivered(c->ctx, t->token, t->status);
    token_free(c, t);
}

/* ---- the queue, slots and the circuit breaker -------------------------------------------------- */

static void gauges(httpc *c) {
    tbp_httpc_metric_set(c, c->m.inflight, c->busy);
    tbp_httpc_metric_set(c, c->m.queued, c->queued);
}

static void circuit(httpc *c, bool open) {
    if (c->circuit_open == open) return;
    c->circuit_open = open;
    tb_log(c->host, c->ctx, TB_LOG_DEBUG, "circuit breaker %s: %u requests wait for a slot", open ? "opened" : "closed",
           c->queued);
    c->host->circuit(c->ctx, open);
}

static void TB_CALL on_linger(void *user, uint64_t id) {
    httpc *c = user;
    (void)id;
    c->linger_timer = 0;
    tbp_httpc_sink_flush_open(c);
}

void tbp_httpc_sink_flush_open(httpc *c) {
    httpc_req *r = c->open;
    if (c->linger_timer) c->host->timer_stop(c->ctx, c->linger_timer);
    c->linger_timer = 0;
    if (!r) return;
    c->open = NULL;
    if (!c->stopped && !c->queue && c->busy < c->conf.concurrency) {
        c->busy++;
        tbp_httpc_req_start(c, r);
    } else {
        r->state = HTTPC_REQ_QUEUED;
        r->qnext = NULL;
        if (c->queue_tail) c->queue_tail->qnext = r;
        else c->queue = r;
        c->queue_tail = r;
        c->queued++;
        if (c->queued >= c->conf.queue_size) circuit(c, true);
    }
    gauges(c);
}

static httpc_req *queue_pop(httpc *c) {
    httpc_req *r = c->queue;
    if (!r) return NULL;
    c->queue = r->qnext;
    if (!c->queue) c->queue_tail = NULL;
    r->qnext = NULL;
    c->queued--;
    return r;
}

void tbp_httpc_sink_slot_free(httpc *c) {
    while (!c->stopped && c->queue && c->busy < c->conf.concurrency) {
        httpc_req *r = queue_pop(c);
        c->busy++;
        tbp_httpc_req_start(c, r);
    }
    if (c->circuit_open && c->queued <= c->conf.queue_size / 2) circuit(c, false);
    gauges(c);
}

void tbp_httpc_sink_abort(httpc *c, int status) {
    if (c->linger_timer) c->host->timer_stop(c->ctx, c->linger_timer);
    c->linger_timer = 0;
    if (c->open) tbp_httpc_req_finish(c, c->open, status);
    httpc_req *r;
    while ((r = queue_pop(c)) != NULL) tbp_httpc_req_finish(c, r, status);
    while (c->reqs) tbp_httpc_req_finish(c, c->reqs, status);
    circuit(c, false);
    gauges(c);
}

uint32_t tbp_httpc_sink_pending(const httpc *c) {
    uint32_t n = 0;
    for (const httpc_req *r = c->reqs; r; r = r->next) n++;
    return n;
}

/* ---- per-event overrides ------------------------------------------------------------------- */

typedef struct override {
    char method[HTTPC_METHOD_MAX];
    const char *url;        /* NUL-terminated (the batch's arena or the configuration) */
    size_t url_len;
    const tb_value *headers; /* an object, or NULL */
    bool any;
} override;

static bool check_header_value(const tb_member *m, const tb_value *v, char *why, size_t n) {
    size_t len;
    const char *s = tb_value_str(v, &len);
    if (v->type == TB_NULL) return true;
    if (!s) {
        snprintf(why, n, "$http_client.request.headers.%.*s must be a string, an array of strings or null, found %s",
                 (int)m->key_len, m->key, tb_type_name(v->type));
        return false;
    }
    if (!tbp_httpc_header_value_ok(s, len) || len + m->key_len > MAX_HEADER_LINE) {
        snprintf(why, n, "$http_client.request.headers.%.*s: the value holds CR, LF or NUL, or is too long", (int)m->key_len,
                 m->key);
        return false;
    }
    return true;
}

/* Reads $http_client.request of e into o; false with the reason in why. */
static bool read_override(httpc *c, tb_arena *a, const tb_event *e, override *o, char *why, size_t n) {
    memset(o, 0, sizeof *o);
    memcpy(o->method, c->conf.method, sizeof o->method);
    o->url = c->conf.url;
    o->url_len = strlen(c->conf.url);
    const tb_value *hc = tb_object_getz(&e->meta, "http_client");
    const tb_value *req = hc ? tb_object_getz(hc, "request") : NULL;
    if (!req || req->type == TB_NULL) return true;
    if (req->type != TB_OBJECT) {
        snprintf(why, n, "$http_client.request must be an object {\"method\", \"url\", \"headers\"}, found %s",
                 tb_type_name(req->type));
        return false;
    }
    const tb_value *v;
    size_t len;
    const char *s;
    if ((v = tb_object_getz(req, "method")) && v->type != TB_NULL) {
        s = tb_value_str(v, &len);
        if (!s || !tbp_httpc_method_norm(s, len, o->method)) {
            snprintf(why, n, "$http_client.request.method: expected a method name of letters, found %s%.*s%s",
                     s ? "\"" : "", s ? (int)(len > 40 ? 40 : len) : 0, s ? s : tb_type_name(v->type), s ? "\"" : "");
            return false;
        }
        o->any = true;
    }
    if ((v = tb_object_getz(req, "url")) && v->type != TB_NULL) {
        s = tb_value_str(v, &len);
        char *z = s ? tb_arena_alloc(a, len + 1, 1) : NULL;
        if (!s) {
            snprintf(why, n, "$http_client.request.url must be a string, found %s", tb_type_name(v->type));
            return false;
        }
        if (!z) {
            snprintf(why, n, "out of memory");
            return false;
        }
        memcpy(z, s, len);
        z[len] = '\0';
        const char *p = strlen(z) != len ? "it holds a NUL byte" : tbp_httpc_url_problem(z);
        if (p) {
            snprintf(why, n, "$http_client.request.url \"%.*s\": %s", (int)(len > 200 ? 200 : len), z, p);
            return false;
        }
        o->url = z;
        o->url_len = len;
        o->any = true;
    }
    if ((v = tb_object_getz(req, "headers")) && v->type != TB_NULL) {
        if (v->type != TB_OBJECT) {
            snprintf(why, n, "$http_client.request.headers must be an object, found %s", tb_type_name(v->type));
            return false;
        }
        for (uint32_t i = 0; i < v->len; i++) {
            const tb_member *m = &v->as.members[i];
            if (!tbp_httpc_header_name_ok(m->key, m->key_len)) {
                snprintf(why, n, "$http_client.request.headers: \"%.*s\" is not a header name", (int)(m->key_len > 60 ? 60 : m->key_len),
                         m->key);
                return false;
            }
            if (m->value.type == TB_ARRAY) {
                for (uint32_t k = 0; k < m->value.len; k++)
                    if (m->value.as.items[k].type == TB_NULL || !check_header_value(m, &m->value.as.items[k], why, n)) {
                        if (m->value.as.items[k].type == TB_NULL)
                            snprintf(why, n, "$http_client.request.headers.%.*s: null inside an array", (int)m->key_len, m->key);
                        return false;
                    }
            } else if (!check_header_value(m, &m->value, why, n)) {
                return false;
            }
        }
        o->headers = v;
        o->any = true;
    }
    return true;
}

/* The grouping key of an override: "" without one, else method, url and headers spelled out. */
static bool override_key(const override *o, tb_arena *a, tb_buf *key) {
    tb_buf_init(key, a);
    if (!o->any) return true;
    bool ok = tb_buf_append(key, o->method, strlen(o->method)) && tb_buf_append(key, "\n", 1) &&
              tb_buf_append(key, o->url, o->url_len) && tb_buf_append(key, "\n", 1);
    for (uint32_t i = 0; ok && o->headers && i < o->headers->len; i++) {
        const tb_member *m = &o->headers->as.members[i];
        const tb_value *vals = m->value.type == TB_ARRAY ? m->value.as.items : &m->value;
        uint32_t nv = m->value.type == TB_ARRAY ? m->value.len : 1;
        for (uint32_t k = 0; ok && k < nv; k++) {
            ok = tb_buf_append(key, m->key, m->key_len) && tb_buf_append(key, vals[k].type == TB_NULL ? "\1" : ":", 1) &&
                 tb_buf_append(key, vals[k].as.s, vals[k].type == TB_STRING ? vals[k].len : 0) && tb_buf_append(key, "\n", 1);
        }
    }
    return ok;
}

/* ---- push ------------------------------------------------------------------------------------ */

static bool same_key(const httpc_req *r, const tb_buf *key) {
    return strlen(r->key) == key->len && (key->len == 0 || memcmp(r->key, key->data, key->len) == 0);
}

/* A new open request for the event (its override o, key, $correlation). */
static httpc_req *open_request(httpc *c, const tb_event *e, const override *o, const tb_buf *key) {
    httpc_req *r = tbp_httpc_req_new(c, o->method, o->url, o->url_len, o->headers, key->len ? (const char *)key->data : "",
                                     key->len);
    if (!r) return NULL;
    const tb_value *corr = tb_object_getz(&e->meta, "correlation");
    if (corr && c->conf.responses) {
        size_t n = tbp_httpc_value_size(corr);
        if ((r->correlation = c->host->alloc(c->ctx, n)) != NULL) tbp_httpc_value_copy(corr, r->correlation);
        else warn(c, "out of memory keeping a $correlation: the response will not carry it");
    }
    c->open = r;
    if (c->conf.linger_ns && c->conf.batch_size > 1 &&
        c->host->timer_start(c->ctx, c->conf.linger_ns, 0, on_linger, c, &c->linger_timer) != TB_OK)
        c->linger_timer = 0; /* no timer: it goes at the end of this push instead */
    return r;
}

int TB_CALL tbp_httpc_push(void *instance, tb_batch *in) {
    httpc *c = instance;
    const httpc_conf *k = &c->conf;
    char why[512];
    if (c->stopped || !c->multi) return tb_fail(c->host, c->ctx, TB_ECLOSED, "the connector is stopped");
    httpc_token *t = token_new(c, in->token);
    if (!t) return tb_fail(c->host, c->ctx, TB_ENOMEM, "out of memory tracking a batch");
    uint32_t used = 0;
    int bad = TB_OK;
    for (uint32_t i = 0; i < in->count; i++) {
        const tb_event *e = &in->events[i];
        override o;
        tb_buf key;
        if (e->flags & TB_EF_DROPPED) continue;
        if (!(e->flags & TB_EF_RAW) || e->data.type != TB_BYTES) {
            warn(c, "event %u not sent: it is not raw bytes (the http_client sink needs a codec); its batch fails", i);
            bad = bad ? bad : TB_EINVAL;
            continue;
        }
        if (!read_override(c, in->arena, e, &o, why, sizeof why)) {
            warn(c, "event %u not sent: %s; its batch fails", i, why);
            bad = bad ? bad : TB_EINVAL;
            continue;
        }
        if (!override_key(&o, in->arena, &key)) {
            bad = bad ? bad : TB_ENOMEM;
            continue;
        }
        size_t len = e->data.len;
        httpc_req *r = c->open;
        if (r && (!same_key(r, &key) || (k->batch_bytes && r->nevents && r->len + len > k->batch_bytes))) {
            tbp_httpc_sink_flush_open(c);
            r = NULL;
        }
        if (!r && !(r = open_request(c, e, &o, &key))) {
            bad = bad ? bad : TB_ENOMEM;
            continue;
        }
        if (!tbp_httpc_req_append(c, r, e->data.as.bytes, len) || !tbp_httpc_req_hold(c, r, t)) {
            warn(c, "event %u not sent: out of memory (or a body over %u bytes); its batch fails", i, HTTPC_MAX_BODY);
            bad = bad ? bad : TB_ENOMEM;
            continue;
        }
        r->nevents++;
        used++;
        if (r->nevents >= k->batch_size || (k->batch_bytes && r->len >= k->batch_bytes)) tbp_httpc_sink_flush_open(c);
    }
    if (c->open && !c->linger_timer) tbp_httpc_sink_flush_open(c);
    if (!used && !bad) {
        token_free(c, t);
        return TB_OK;
    }
    /* the push's own reference: reported now if no request holds any of it */
    tbp_httpc_token_release(c, t, bad);
    return TB_EPENDING;
}
