/*
 * http_response.c - answers of the `http_server` connector, and its sink half.
 *
 * Every request is answered exactly once, by the first of:
 *  - events pushed to the sink for its stream (or for the stream `$http_server.stream` names):
 *    a run of consecutive events for one request is one answer, their bytes (encoded and
 *    postprocessed by the runtime) concatenated as its body; the status and headers come from
 *    the first event's `$http_server.response` ({"status": 201, "headers": {...}}), default
 *    200, with `content_type` from the configuration unless the headers set one;
 *  - its event acknowledged with no answer yet (it was filtered out, or went only to other
 *    sinks): `ack_status` with no body;
 *  - its event failed: `fail_status`;
 *  - no answer within response_timeout_ms: 504 (the sweep).
 * An event for a request already answered, or for a stream this server does not have, is not
 * delivered: counted, logged (the first ten, then every thousandth), and its batch reported
 * failed through host->delivered, never by an error status (which would restart the server).
 *
 * A push that answered requests returns TB_EPENDING: the batch is reported delivered once
 * libmicrohttpd has sent every answer of it, or failed if a connection went first.
 *
 * Ownership: answers are libmicrohttpd responses holding a copy of their body; the batch
 * slots are host memory of the instance. Thread contract: the instance's thread.
 */
#define _GNU_SOURCE
#include "http_server.h"

#include <stdio.h>
#include <string.h>

/* ---- delivery of pushed batches ---------------------------------------------------------- */

static uint32_t batch_open(hs_server *s, uint64_t token) {
    uint32_t i;
    for (i = 0; i < s->nbatches; i++)
        if (!s->batches[i].token) break;
    if (i == s->nbatches) {
        if (s->nbatches == s->batches_cap) {
            uint32_t ncap = s->batches_cap ? s->batches_cap * 2 : 16;
            hs_batch *n = s->host->realloc(s->ctx, s->batches, (size_t)ncap * sizeof *n);
            if (!n) return UINT32_MAX;
            s->batches = n;
            s->batches_cap = ncap;
        }
        s->nbatches++;
    }
    s->batches[i].token = token ? token : 1;
    s->batches[i].remaining = 1;
    s->batches[i].status = TB_OK;
    return i;
}

static void batch_release(hs_server *s, uint32_t slot, int status) {
    hs_batch *b = &s->batches[slot];
    if (status != TB_OK && b->status == TB_OK) b->status = status;
    if (--b->remaining) return;
    s->host->delivered(s->ctx, b->token, b->status);
    b->token = 0;
    while (s->nbatches && !s->batches[s->nbatches - 1].token) s->nbatches--;
}

void tbp_hs_sent(hs_server *s, uint32_t track, bool ok) {
    if (track < s->nbatches && s->batches[track].token) batch_release(s, track, ok ? TB_OK : TB_ECLOSED);
}

/* The push is done with slot: TB_OK when nothing is pending or failed, else TB_EPENDING. */
static int batch_finish(hs_server *s, uint32_t slot, int status) {
    hs_batch *b = &s->batches[slot];
    if (status != TB_OK && b->status == TB_OK) b->status = status;
    if (b->remaining == 1 && b->status == TB_OK) {
        b->token = 0;
        while (s->nbatches && !s->batches[s->nbatches - 1].token) s->nbatches--;
        return TB_OK;
    }
    batch_release(s, slot, TB_OK);
    return TB_EPENDING;
}

/* ---- answers ------------------------------------------------------------------------------ */

/* Adds one header; the value is a string, a number or a bool. */
static void add_header(hs_server *s, struct MHD_Response *resp, const char *key, size_t klen, const tb_value *v,
                       bool *has_type) {
    char name[256], value[8192];
    size_t vlen;
    const char *text = tb_value_str(v, &vlen);
    if (klen == 0 || klen >= sizeof name) goto bad;
    memcpy(name, key, klen);
    name[klen] = '\0';
    if (text) {
        if (vlen >= sizeof value) goto bad;
        memcpy(value, text, vlen);
        value[vlen] = '\0';
    } else if (v->type == TB_U64) {
        snprintf(value, sizeof value, "%llu", (unsigned long long)v->as.u);
    } else if (v->type == TB_I64) {
        snprintf(value, sizeof value, "%lld", (long long)v->as.i);
    } else if (v->type == TB_BOOL) {
        snprintf(value, sizeof value, "%s", v->as.b ? "true" : "false");
    } else {
        goto bad;
    }
    if (MHD_add_response_header(resp, name, value) != MHD_YES) goto bad;
    if (!strcasecmp(name, MHD_HTTP_HEADER_CONTENT_TYPE)) *has_type = true;
    return;
bad:
    tb_log(s->host, s->ctx, TB_LOG_WARN, "response header \"%.*s\" left out: not a valid name and value",
           (int)(klen > 200 ? 200 : klen), key);
}

bool tbp_hs_answer(hs_server *s, hs_request *r, unsigned status, const char *type, const void *body, size_t len,
                   const tb_value *headers, uint32_t track) {
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, (void *)(len ? body : ""), MHD_RESPMEM_MUST_COPY);
    bool ok = resp != NULL, has_type = false;
    if (resp && headers && headers->type == TB_OBJECT) {
        for (uint32_t i = 0; i < headers->len; i++) {
            const tb_member *m = &headers->as.members[i];
            if (m->value.type == TB_ARRAY) {
                for (uint32_t k = 0; k < m->value.len; k++)
                    add_header(s, resp, m->key, m->key_len, &m->value.as.items[k], &has_type);
            } else {
                add_header(s, resp, m->key, m->key_len, &m->value, &has_type);
            }
        }
    }
    if (resp && !has_type && len && type) MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    if (!resp) {
        static const char oom[] = "out of memory\n";
        resp = MHD_create_response_from_buffer(sizeof oom - 1, (void *)oom, MHD_RESPMEM_PERSISTENT);
        status = MHD_HTTP_INTERNAL_SERVER_ERROR;
    }
    bool waited = tbp_hs_waiting(r); /* so its connection is suspended */
    tbp_hs_unqueue(s, r);
    tbp_hs_table_remove(s, r);
    r->state = HS_ANSWERED;
    r->resp = resp; /* NULL only if even that failed: the access handler then closes it */
    r->status = status;
    if (ok && track != UINT32_MAX) {
        r->track = track;
        s->batches[track].remaining++;
    }
    if (waited) {
        MHD_resume_connection(r->conn);
        tbp_hs_stream_gone(s, s->stream_base + (uint32_t)r->seq); /* answered once: the stream is over */
    }
    tbp_hs_count(s, s->m_responses, 1);
    return ok;
}

void tbp_hs_sweep(hs_server *s, uint64_t now_ns) {
    static const char why[] = "no answer in time\n";
    uint32_t i = 0, expired = 0;
    while (i < s->ntable) {
        hs_request *r = s->table[i];
        if (r->deadline_ns > now_ns) {
            i++;
            continue;
        }
        tbp_hs_answer(s, r, MHD_HTTP_GATEWAY_TIMEOUT, "text/plain", why, sizeof why - 1, NULL, UINT32_MAX);
        expired++;
    }
    if (expired) {
        tbp_hs_count(s, s->m_timeouts, expired);
        tb_log(s->host, s->ctx, TB_LOG_WARN, "%u request%s answered 504: no answer within response_timeout_ms", expired,
               expired == 1 ? "" : "s");
    }
}

/* ---- the sink half ------------------------------------------------------------------------- */

static void undeliverable(hs_server *s, uint32_t stream, const char *why) {
    s->undeliverable++;
    tbp_hs_count(s, s->m_undeliverable, 1);
    if (s->undeliverable <= 10 || s->undeliverable % 1000 == 0)
        tb_log(s->host, s->ctx, TB_LOG_WARN, "event for stream %u not delivered: %s (%llu so far)", stream, why,
               (unsigned long long)s->undeliverable);
}

/* The stream an event answers: `$http_server.stream` if it holds one, else its own. */
static uint32_t target_of(const tb_event *e) {
    const tb_value *m = tb_object_getz(&e->meta, "http_server");
    const tb_value *st = m ? tb_object_getz(m, "stream") : NULL;
    if (st && st->type == TB_U64 && st->as.u <= UINT32_MAX) return (uint32_t)st->as.u;
    if (st && st->type == TB_I64 && st->as.i >= 0 && st->as.i <= (int64_t)UINT32_MAX) return (uint32_t)st->as.i;
    return e->stream;
}

static bool is_bytes(const tb_event *e) { return (e->flags & TB_EF_RAW) && e->data.type == TB_BYTES; }

/* The status of `$http_server.response.status`, or 200; out of range: 500, logged. */
static unsigned status_of(hs_server *s, const tb_value *response) {
    const tb_value *st = response ? tb_object_getz(response, "status") : NULL;
    int64_t v;
    if (!st) return MHD_HTTP_OK;
    if (st->type == TB_U64 && st->as.u <= 599) v = (int64_t)st->as.u;
    else if (st->type == TB_I64) v = st->as.i;
    else v = -1;
    if (v >= 100 && v <= 599) return (unsigned)v;
    tb_log(s->host, s->ctx, TB_LOG_WARN, "$http_server.response.status must be an HTTP status (100 to 599): answered 500");
    return MHD_HTTP_INTERNAL_SERVER_ERROR;
}

int TB_CALL tbp_hs_push(void *instance, tb_batch *in) {
    hs_server *s = instance;
    uint32_t failed = 0;
    uint32_t slot = batch_open(s, in->token);
    if (slot == UINT32_MAX) return tb_fail(s->host, s->ctx, TB_ENOMEM, "out of memory tracking a batch");
    uint32_t i = 0;
    while (i < in->count) {
        const tb_event *e = &in->events[i];
        if (e->flags & TB_EF_DROPPED) {
            i++;
            continue;
        }
        uint32_t target = target_of(e);
        if (!is_bytes(e)) {
            undeliverable(s, target, "it is not raw bytes (the http_server sink needs a codec)");
            failed++;
            i++;
            continue;
        }
        /* the run of events for this request */
        uint32_t j = i + 1;
        size_t total = e->data.len;
        while (j < in->count && (in->events[j].flags & TB_EF_DROPPED || (is_bytes(&in->events[j]) && target_of(&in->events[j]) == target))) {
            if (!(in->events[j].flags & TB_EF_DROPPED)) total += in->events[j].data.len;
            j++;
        }
        hs_request *r = tbp_hs_find(s, target);
        if (!r) {
            for (uint32_t k = i; k < j; k++)
                if (!(in->events[k].flags & TB_EF_DROPPED)) {
                    undeliverable(s, target, "no request waits on that stream (answered already, timed out, or the event did not come from this http_server)");
                    failed++;
                }
            if (target == e->stream) tbp_hs_stream_gone(s, target);
            i = j;
            continue;
        }
        const void *body = e->data.as.bytes;
        bool joined = true;
        if (j - i > 1) {
            /* several events: one body */
            tb_buf buf;
            tb_buf_init(&buf, in->arena);
            for (uint32_t k = i; k < j && joined; k++)
                if (!(in->events[k].flags & TB_EF_DROPPED))
                    joined = tb_buf_append(&buf, in->events[k].data.as.bytes, in->events[k].data.len);
            body = buf.data;
            total = buf.len;
        }
        const tb_value *m = tb_object_getz(&e->meta, "http_server");
        const tb_value *response = m ? tb_object_getz(m, "response") : NULL;
        const tb_value *headers = response ? tb_object_getz(response, "headers") : NULL;
        if (!joined) {
            static const char oom[] = "out of memory\n";
            tbp_hs_answer(s, r, MHD_HTTP_INTERNAL_SERVER_ERROR, "text/plain", oom, sizeof oom - 1, NULL, UINT32_MAX);
            failed++;
        } else if (!tbp_hs_answer(s, r, status_of(s, response), s->content_type, body, total, headers, slot)) {
            failed++;
        }
        i = j;
    }
    tbp_hs_run(s);
    return batch_finish(s, slot, failed ? TB_ECLOSED : TB_OK);
}

/* Requests whose events were settled with no answer pushed get status. */
static void settle(hs_server *s, const uint64_t *ids, uint32_t count, unsigned status, const char *text) {
    bool any = false;
    for (uint32_t i = 0; i < count; i++) {
        hs_request *r = tbp_hs_find(s, s->stream_base + (uint32_t)ids[i]);
        if (!r || r->state != HS_EMITTED || r->seq != ids[i]) continue;
        tbp_hs_answer(s, r, status, "text/plain", text, text ? strlen(text) : 0, NULL, UINT32_MAX);
        any = true;
    }
    if (any) tbp_hs_run(s);
}

void TB_CALL tbp_hs_ack(void *instance, const uint64_t *ids, uint32_t count) {
    hs_server *s = instance;
    settle(s, ids, count, s->ack_status, NULL);
}

void TB_CALL tbp_hs_fail(void *instance, const uint64_t *ids, uint32_t count) {
    hs_server *s = instance;
    settle(s, ids, count, s->fail_status, "the request's event could not be delivered\n");
}
