/*
 * http_request.c - requests arriving at the `http_server` connector, and the source half.
 *
 * libmicrohttpd calls the access handler first when a request's headers are in, then once per
 * piece of body, then once with nothing when the body is complete. The body is collected in
 * host memory up to max_body (a Content-Length over it is answered 413 at once, before any of
 * the body is read; a chunked body that grows past it is read to its end, discarded, and
 * answered 413). A complete request gets the next sequence number, goes into the table and on
 * the pull queue, and its connection is suspended until it is answered (http_response.c).
 * Answering resumes it, and the access handler, called once more, queues the answer.
 *
 * Pull emits each queued request as one event on the request's own stream, transactional (so
 * its acknowledgement or failure reaches ack/fail), its id the sequence number. A body is raw
 * bytes flagged as the stream's end (so preprocessors that split it, such as `separate`, flush
 * at once); a request without a body (a GET) is the value null, which no codec or processor
 * touches, so the pipeline sees every request. Its meta is
 *   {"http_server": {"stream": N, "request": {"method", "url", "path", "query", "version",
 *                                            "headers", "peer": {"host", "port"}, "tls"}}}
 * with header names in lower case, a repeated header as an array of its values, and query
 * arguments as a record (a repeated one as an array too).
 *
 * Ownership: the request and its body are host memory; the strings libmicrohttpd hands over
 * (method, url, version, header values) are its own, valid while the request lives, and copied
 * into the batch's arena for the event. Thread contract: the instance's thread.
 */
#define _GNU_SOURCE
#include "http_server.h"

#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

/* An answer that needs no memory of ours: the text is static. */
static enum MHD_Result reply_static(struct MHD_Connection *conn, unsigned status, const char *text) {
    struct MHD_Response *resp = MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_PERSISTENT);
    if (!resp) return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain");
    enum MHD_Result rc = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return rc;
}

static enum MHD_Result too_large(hs_server *s, hs_request *r) {
    tbp_hs_count(s, s->m_too_large, 1);
    r->state = HS_ANSWERED;
    return reply_static(r->conn, MHD_HTTP_CONTENT_TOO_LARGE, "request body too large\n");
}

static bool append_body(hs_server *s, hs_request *r, const char *data, size_t n) {
    if (r->len + n > s->max_body) {
        r->too_large = true;
        return true;
    }
    if (r->len + n > r->cap) {
        size_t ncap = r->cap ? r->cap : 4096;
        while (ncap < r->len + n) ncap *= 2;
        if (ncap > s->max_body) ncap = (size_t)s->max_body;
        uint8_t *b = s->host->realloc(s->ctx, r->body, ncap);
        if (!b) return false;
        r->body = b;
        r->cap = ncap;
    }
    memcpy(r->body + r->len, data, n);
    r->len += n;
    return true;
}

static void enqueue(hs_server *s, hs_request *r) {
    r->prev = s->queue_tail;
    r->next = NULL;
    if (s->queue_tail) s->queue_tail->next = r;
    else s->queue_head = r;
    s->queue_tail = r;
}

void tbp_hs_unqueue(hs_server *s, hs_request *r) {
    if (r->state != HS_QUEUED) return;
    if (r->prev) r->prev->next = r->next;
    else s->queue_head = r->next;
    if (r->next) r->next->prev = r->prev;
    else s->queue_tail = r->prev;
    r->prev = r->next = NULL;
}

/* The body is complete: into the table and the queue, the connection suspended. */
static enum MHD_Result complete(hs_server *s, hs_request *r) {
    if (s->stopping) {
        r->state = HS_ANSWERED;
        return reply_static(r->conn, MHD_HTTP_SERVICE_UNAVAILABLE, "the server is stopping\n");
    }
    r->seq = s->next_seq++;
    if (!tbp_hs_table_add(s, r)) {
        r->state = HS_ANSWERED;
        tb_log(s->host, s->ctx, TB_LOG_ERROR, "out of memory: a request was refused with 503");
        return reply_static(r->conn, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory\n");
    }
    r->state = HS_QUEUED;
    r->deadline_ns = s->host->now_ns() + s->response_timeout_ns;
    enqueue(s, r);
    MHD_suspend_connection(r->conn);
    tbp_hs_count(s, s->m_requests, 1);
    return MHD_YES;
}

enum MHD_Result tbp_hs_access(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                              const char *version, const char *upload_data, size_t *upload_data_size,
                              void **con_cls) {
    hs_server *s = cls;
    hs_request *r = *con_cls;
    if (!r) {
        /* the headers are in */
        if (!(r = s->host->alloc(s->ctx, sizeof *r))) return MHD_NO; /* libmicrohttpd closes it */
        memset(r, 0, sizeof *r);
        r->srv = s;
        r->conn = conn;
        r->track = UINT32_MAX;
        r->method = method;
        r->url = url;
        r->version = version;
        *con_cls = r;
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl && strtoull(cl, NULL, 10) > s->max_body) {
            r->too_large = true;
            return too_large(s, r);
        }
        return MHD_YES;
    }
    switch (r->state) {
    case HS_RECEIVING:
        if (*upload_data_size) {
            size_t n = *upload_data_size;
            *upload_data_size = 0;
            if (r->too_large) return MHD_YES;
            if (!append_body(s, r, upload_data, n)) {
                r->state = HS_ANSWERED;
                tb_log(s->host, s->ctx, TB_LOG_ERROR, "out of memory: a request was refused with 503");
                return reply_static(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory\n");
            }
            return MHD_YES;
        }
        if (r->too_large) return too_large(s, r);
        return complete(s, r);
    case HS_ANSWERED:
        if (r->resp) {
            /* resumed with its answer */
            enum MHD_Result rc = MHD_queue_response(conn, r->status, r->resp);
            MHD_destroy_response(r->resp);
            r->resp = NULL;
            return rc;
        }
        if (*upload_data_size) *upload_data_size = 0; /* the rest of a refused body */
        return MHD_YES;
    default:
        return MHD_YES; /* suspended: libmicrohttpd does not call, but would find nothing to do */
    }
}

void tbp_hs_completed(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode toe) {
    hs_server *s = cls;
    hs_request *r = *con_cls;
    (void)conn;
    if (!r) return;
    *con_cls = NULL;
    tbp_hs_unqueue(s, r);
    tbp_hs_table_remove(s, r);
    if (r->track != UINT32_MAX) tbp_hs_sent(s, r->track, toe == MHD_REQUEST_TERMINATED_COMPLETED_OK);
    if (r->resp) MHD_destroy_response(r->resp);
    s->host->free(s->ctx, r->body);
    s->host->free(s->ctx, r);
}

/* ---- the event ------------------------------------------------------------------------- */

static bool put(tb_arena *a, tb_value *obj, const char *key, tb_value v) {
    tb_value *slot = tb_object_append(a, obj, key, strlen(key));
    if (!slot) return false;
    *slot = v;
    return true;
}

static bool put_str(tb_arena *a, tb_value *obj, const char *key, const char *text) {
    size_t n = text ? strlen(text) : 0;
    const char *copy = n ? tb_arena_dup(a, text, n) : "";
    return copy && put(a, obj, key, tb_string(copy, n));
}

/* Adds key: value to obj, or makes a repeated key an array of its values. */
static bool put_repeated(tb_arena *a, tb_value *obj, const char *key, size_t klen, tb_value v) {
    tb_value *old = tb_object_get(obj, key, klen);
    if (!old) {
        tb_value *slot = tb_object_append(a, obj, key, klen);
        if (!slot) return false;
        *slot = v;
        return true;
    }
    if (old->type != TB_ARRAY) {
        tb_value first = *old;
        *old = tb_array();
        tb_value *p = tb_array_push(a, old);
        if (!p) return false;
        *p = first;
    }
    tb_value *p = tb_array_push(a, old);
    if (!p) return false;
    *p = v;
    return true;
}

typedef struct collect {
    tb_arena *arena;
    tb_value obj;
    bool lower; /* header names: lower case */
    bool failed;
} collect;

static enum MHD_Result collect_one(void *cls, enum MHD_ValueKind kind, const char *key, const char *value) {
    collect *c = cls;
    (void)kind;
    size_t kl = strlen(key), vl = value ? strlen(value) : 0;
    char *k = tb_arena_dup(c->arena, key, kl);
    const char *v = vl ? tb_arena_dup(c->arena, value, vl) : "";
    if (!k || !v) {
        c->failed = true;
        return MHD_NO;
    }
    if (c->lower)
        for (size_t i = 0; i < kl; i++)
            if (k[i] >= 'A' && k[i] <= 'Z') k[i] = (char)(k[i] - 'A' + 'a');
    if (!put_repeated(c->arena, &c->obj, k, kl, tb_string(v, vl))) {
        c->failed = true;
        return MHD_NO;
    }
    return MHD_YES;
}

static bool collect_values(tb_arena *a, struct MHD_Connection *conn, enum MHD_ValueKind kind, bool lower, tb_value *out) {
    collect c = {a, tb_object(), lower, false};
    MHD_get_connection_values(conn, kind, collect_one, &c);
    *out = c.obj;
    return !c.failed;
}

static bool peer_meta(tb_arena *a, struct MHD_Connection *conn, tb_value *peer) {
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    char host[NI_MAXHOST] = "", port[NI_MAXSERV] = "0";
    *peer = tb_object();
    if (ci && ci->client_addr) {
        socklen_t len = ci->client_addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
        if (getnameinfo(ci->client_addr, len, host, sizeof host, port, sizeof port, NI_NUMERICHOST | NI_NUMERICSERV))
            host[0] = '\0';
    }
    return put_str(a, peer, "host", host) && put(a, peer, "port", tb_u64(strtoull(port, NULL, 10)));
}

/* The raw query string of the request, or "" (libmicrohttpd hands over the path alone). */
static bool request_meta(hs_server *s, tb_arena *a, hs_request *r, tb_value *meta) {
    tb_value inner = tb_object(), req = tb_object(), headers, query, peer;
    *meta = tb_object();
    return put_str(a, &req, "method", r->method) && put_str(a, &req, "path", r->url) &&
           collect_values(a, r->conn, MHD_GET_ARGUMENT_KIND, false, &query) && put(a, &req, "query", query) &&
           put_str(a, &req, "version", r->version) &&
           collect_values(a, r->conn, MHD_HEADER_KIND, true, &headers) && put(a, &req, "headers", headers) &&
           peer_meta(a, r->conn, &peer) && put(a, &req, "peer", peer) &&
           put(a, &req, "tls", tb_bool(s->tls_cert != NULL)) &&
           put(a, &inner, "stream", tb_u64(s->stream_base + (uint32_t)r->seq)) && put(a, &inner, "request", req) &&
           put(a, meta, "http_server", inner);
}

static uint64_t realtime_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int TB_CALL tbp_hs_pull(void *instance, tb_batch *out) {
    hs_server *s = instance;
    size_t bytes = 0;
    uint64_t now = realtime_ns();
    while (s->queue_head && out->count < out->capacity && bytes < TB_BATCH_BYTES) {
        hs_request *r = s->queue_head;
        tb_event *e = tb_batch_push(out);
        const uint8_t *body = r->len ? (const uint8_t *)tb_arena_dup(out->arena, r->body, r->len) : NULL;
        if (!e || (r->len && !body) || !request_meta(s, out->arena, r, &e->meta)) {
            if (e) out->count--;
            return tb_fail(s->host, s->ctx, TB_ENOMEM, "out of memory emitting a request");
        }
        e->id = r->seq;
        e->ingest_ns = now;
        e->stream = s->stream_base + (uint32_t)r->seq;
        if (r->len) {
            e->data = tb_bytes(body, r->len);
            e->flags = TB_EF_RAW | TB_EF_TRANSACTIONAL | TB_EF_STREAM_END;
        } else {
            /* no body: a value already (null), which no codec or processor touches */
            e->data = tb_null();
            e->flags = TB_EF_TRANSACTIONAL;
        }
        tbp_hs_unqueue(s, r);
        r->state = HS_EMITTED;
        bytes += r->len;
        s->host->free(s->ctx, r->body);
        r->body = NULL;
        r->len = r->cap = 0;
    }
    return out->count ? TB_OK : TB_EAGAIN;
}
