/*
 * kafka_push.c - kafka_producer's sink half. Each event that is not dropped becomes one
 * message: the value is the event's encoded bytes, and $kafka_producer in its metadata may
 * say
 *
 *   {"key": <string|bytes>, "headers": {"name": <string|bytes|null>, ...},
 *    "partition": <int>, "timestamp": <ms since the epoch>}
 *
 * (no key: the `key` option, else none; no partition: the configured partitioner picks one,
 * from the key). A value of the wrong type is logged and left out, never fatal.
 *
 * push hands every message to librdkafka (which copies it) and answers TB_EPENDING; a
 * record per batch counts the messages still without a delivery report, and the last report
 * calls host->delivered(token, TB_OK, or TB_EIO if any message failed). A message librdkafka
 * refuses outright (too large, unknown partition) fails its batch the same way, so a bad
 * record is replayed by its source rather than restarting the instance.
 *
 * Backpressure: when librdkafka's queue is full (queue.buffering.max.messages / .kbytes), the
 * rest of the batch is copied into the record's backlog, the circuit breaker opens (the
 * runtime stops pushing and pauses the sources), and the pump hands the backlog on as
 * delivery reports free the queue, in push order, then closes the circuit. Nothing is dropped.
 * The circuit has a second reason, every broker down (kafka_producer.c): it is open while
 * either holds (tbp_kafka_circuit), and a delivery report that acknowledges a message ends
 * the second one.
 *
 * Ownership: a record and its backlog are host memory, freed once reported; headers built for
 * a message belong to librdkafka once it took the message. Event bytes are read during push
 * only. Thread contract: the instance's thread (tbp_kafka_delivery runs inside rd_kafka_poll
 * or rd_kafka_flush, which only this thread calls).
 */
#define _GNU_SOURCE
#include "kafka.h"

#include <inttypes.h>
#include <stdio.h>

/* Logs a problem with one message: the first ten, then every thousandth. */
static void warn(kp_producer *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void warn(kp_producer *p, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    p->warned++;
    if (p->warned > 10 && p->warned % 1000 != 0) return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    p->host->log(p->ctx, TB_LOG_WARN, msg);
}

/* ---- records ---------------------------------------------------------------------------- */

static kp_record *record_new(kp_producer *p, uint64_t token) {
    kp_record *r = p->host->alloc(p->ctx, sizeof *r);
    if (!r) return NULL;
    memset(r, 0, sizeof *r);
    r->token = token;
    r->prev = p->records_tail;
    if (p->records_tail) p->records_tail->next = r;
    else p->records = r;
    p->records_tail = r;
    return r;
}

static void record_free(kp_producer *p, kp_record *r) {
    if (r->prev) r->prev->next = r->next;
    else p->records = r->next;
    if (r->next) r->next->prev = r->prev;
    else p->records_tail = r->prev;
    for (uint32_t i = r->sent; i < r->nbacklog; i++)
        if (r->backlog[i].headers) rd_kafka_headers_destroy(r->backlog[i].headers);
    p->host->free(p->ctx, r->backlog);
    p->host->free(p->ctx, r->bytes);
    p->host->free(p->ctx, r);
}

static void record_failed(kp_record *r, int status) {
    if (r->status == TB_OK) r->status = status;
}

/* A message of r was not delivered, because of err. */
static void message_failed(kp_record *r, rd_kafka_resp_err_t err) {
    if (!r->failed++) r->first_err = err;
    record_failed(r, err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE || err == RD_KAFKA_RESP_ERR__INVALID_ARG ? TB_EINVAL
                                                                                                   : TB_EIO);
}

/* Reports and frees r once it waits for nothing more; one line for its failures. */
static void record_check(kp_producer *p, kp_record *r) {
    if (!r->sealed || r->outstanding) return;
    if (r->failed)
        warn(p, "a batch of %u messages to %s failed (its source replays it): %u not delivered, the first because: %s",
             r->total, p->topic, r->failed, rd_kafka_err2str(r->first_err));
    p->host->delivered(p->ctx, r->token, r->status);
    record_free(p, r);
}

void tbp_kafka_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
    kp_producer *p = opaque;
    kp_record *r = m->_private;
    (void)rk;
    if (!r) return;
    if (m->err) message_failed(r, m->err);
    /* reports and errors are served in the order librdkafka queued them, so an
     * acknowledgement served after the "all brokers down" error came after it: one is back */
    else if (p->brokers_down) tbp_kafka_brokers_back(p, "a message was acknowledged");
    if (r->outstanding) r->outstanding--;
    record_check(p, r);
}

void tbp_kafka_fail_records(kp_producer *p, int status) {
    p->queue_head = p->queue_tail = NULL;
    while (p->records) {
        kp_record *r = p->records;
        record_failed(r, status);
        p->host->delivered(p->ctx, r->token, r->status);
        record_free(p, r);
    }
}

/* ---- messages --------------------------------------------------------------------------- */

/* The text of a string or bytes value; false for any other type. */
static bool octets(const tb_value *v, const uint8_t **out, uint32_t *len) {
    if (!v || (v->type != TB_STRING && v->type != TB_BYTES)) return false;
    *out = v->type == TB_STRING ? (const uint8_t *)v->as.s : v->as.bytes;
    *len = v->len;
    return true;
}

static rd_kafka_headers_t *make_headers(kp_producer *p, const tb_value *h) {
    rd_kafka_headers_t *hdrs;
    if (!h || h->type == TB_NULL) return NULL;
    if (h->type != TB_OBJECT) {
        warn(p, "$kafka_producer.headers must be a record, found %s: sent without headers", tb_type_name(h->type));
        return NULL;
    }
    if (!h->len || !(hdrs = rd_kafka_headers_new(h->len))) return NULL;
    for (uint32_t i = 0; i < h->len; i++) {
        const tb_member *m = &h->as.members[i];
        const uint8_t *val = NULL;
        uint32_t len = 0;
        if (m->value.type != TB_NULL && !octets(&m->value, &val, &len)) {
            warn(p, "$kafka_producer.headers.%.*s must be a string, bytes or null, found %s: left out",
                 (int)m->key_len, m->key, tb_type_name(m->value.type));
            continue;
        }
        rd_kafka_header_add(hdrs, m->key, (ssize_t)m->key_len, val, val ? (ssize_t)len : 0);
    }
    return hdrs;
}

/* The message event e becomes, pointing into the event (key and value) and owning new
 * headers; false when e cannot be sent at all (not bytes). */
static bool message_of(kp_producer *p, const tb_event *e, kp_msg *m) {
    const tb_value *kp = tb_object_getz(&e->meta, "kafka_producer");
    const tb_value *v;
    int64_t i;
    memset(m, 0, sizeof *m);
    m->partition = RD_KAFKA_PARTITION_UA;
    if (e->data.type != TB_BYTES && e->data.type != TB_STRING) {
        warn(p, "an event is not bytes (%s): the kafka_producer needs a codec", tb_type_name(e->data.type));
        return false;
    }
    octets(&e->data, &m->value, &m->value_len);
    if (kp && kp->type != TB_OBJECT) kp = NULL;
    if (kp && (v = tb_object_getz(kp, "key")) && v->type != TB_NULL) {
        if (octets(v, &m->key, &m->key_len)) m->has_key = true;
        else warn(p, "$kafka_producer.key must be a string or bytes, found %s: sent without a key", tb_type_name(v->type));
    } else if (p->key) {
        m->key = (const uint8_t *)p->key;
        m->key_len = (uint32_t)p->key_len;
        m->has_key = true;
    }
    if (kp && (v = tb_object_getz(kp, "partition")) && v->type != TB_NULL) {
        if (tb_value_as_i64(v, &i) && i >= 0 && i <= INT32_MAX) m->partition = (int32_t)i;
        else warn(p, "$kafka_producer.partition must be an integer from 0, found %s: the partitioner picks",
                  tb_type_name(v->type));
    }
    if (kp && (v = tb_object_getz(kp, "timestamp")) && v->type != TB_NULL) {
        if (tb_value_as_i64(v, &i) && i >= 0) m->timestamp_ms = i;
        else warn(p, "$kafka_producer.timestamp must be milliseconds since the epoch: the time of sending is used");
    }
    m->headers = kp ? make_headers(p, tb_object_getz(kp, "headers")) : NULL;
    return true;
}

/* Hands m to librdkafka for record r. Returns NO_ERROR (r waits for one more report),
 * _QUEUE_FULL (nothing happened: m is still the caller's) or another error (r failed; m's
 * headers are freed). */
static rd_kafka_resp_err_t produce(kp_producer *p, kp_record *r, kp_msg *m) {
    rd_kafka_vu_t vu[8];
    size_t n = 0;
    vu[n].vtype = RD_KAFKA_VTYPE_RKT;
    vu[n++].u.rkt = p->rkt;
    vu[n].vtype = RD_KAFKA_VTYPE_PARTITION;
    vu[n++].u.i32 = m->partition;
    vu[n].vtype = RD_KAFKA_VTYPE_MSGFLAGS;
    vu[n++].u.i = RD_KAFKA_MSG_F_COPY;
    vu[n].vtype = RD_KAFKA_VTYPE_VALUE;
    vu[n].u.mem.ptr = (void *)m->value;
    vu[n++].u.mem.size = m->value_len;
    if (m->has_key) {
        vu[n].vtype = RD_KAFKA_VTYPE_KEY;
        vu[n].u.mem.ptr = (void *)m->key;
        vu[n++].u.mem.size = m->key_len;
    }
    if (m->headers) {
        vu[n].vtype = RD_KAFKA_VTYPE_HEADERS;
        vu[n++].u.headers = m->headers;
    }
    if (m->timestamp_ms) {
        vu[n].vtype = RD_KAFKA_VTYPE_TIMESTAMP;
        vu[n++].u.i64 = m->timestamp_ms;
    }
    vu[n].vtype = RD_KAFKA_VTYPE_OPAQUE;
    vu[n++].u.ptr = r;
    rd_kafka_error_t *error = rd_kafka_produceva(p->rk, vu, n);
    if (!error) {
        m->headers = NULL; /* librdkafka's now */
        r->total++;
        r->outstanding++;
        return RD_KAFKA_RESP_ERR_NO_ERROR;
    }
    rd_kafka_resp_err_t err = rd_kafka_error_code(error);
    if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) r->total++;
    if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
        message_failed(r, err);
        if (m->headers) rd_kafka_headers_destroy(m->headers);
        m->headers = NULL;
    }
    rd_kafka_error_destroy(error);
    return err;
}

/* ---- the circuit breaker ---------------------------------------------------------------- */

void tbp_kafka_circuit(kp_producer *p) {
    bool open = p->queue_full || p->brokers_down;
    if (open == p->circuit_open) return;
    p->circuit_open = open;
    p->host->circuit(p->ctx, open);
}

/* ---- the backlog ------------------------------------------------------------------------ */

/* Copies events [from, count) of in into r's backlog; false when out of memory. */
static bool backlog_copy(kp_producer *p, kp_record *r, const tb_batch *in, uint32_t from) {
    size_t bytes = 0;
    uint32_t n = 0;
    for (uint32_t i = from; i < in->count; i++) {
        kp_msg m;
        if (in->events[i].flags & TB_EF_DROPPED) continue;
        if (!message_of(p, &in->events[i], &m)) continue;
        if (m.headers) rd_kafka_headers_destroy(m.headers);
        bytes += m.value_len + (m.key != (const uint8_t *)p->key ? m.key_len : 0);
        n++;
    }
    r->backlog = p->host->alloc(p->ctx, (n ? n : 1) * sizeof *r->backlog);
    r->bytes = p->host->alloc(p->ctx, bytes ? bytes : 1);
    if (!r->backlog || !r->bytes) return false;
    uint8_t *at = r->bytes;
    for (uint32_t i = from; i < in->count; i++) {
        kp_msg *m = &r->backlog[r->nbacklog];
        if (in->events[i].flags & TB_EF_DROPPED) continue;
        if (!message_of(p, &in->events[i], m)) {
            r->total++;
            message_failed(r, RD_KAFKA_RESP_ERR__INVALID_ARG);
            continue;
        }
        memcpy(at, m->value, m->value_len);
        m->value = at;
        at += m->value_len;
        if (m->has_key && m->key != (const uint8_t *)p->key) {
            memcpy(at, m->key, m->key_len);
            m->key = at;
            at += m->key_len;
        }
        r->nbacklog++;
    }
    return true;
}

static void enqueue(kp_producer *p, kp_record *r) {
    if (p->queue_tail) p->queue_tail->queued = r;
    else p->queue_head = r;
    p->queue_tail = r;
    if (!p->queue_full) {
        p->queue_full = true;
        tb_log(p->host, p->ctx, TB_LOG_INFO, "librdkafka's queue is full: holding the sources back");
        tbp_kafka_circuit(p);
    }
}

/* Hands the backlog to librdkafka, oldest first, until its queue is full again. */
static void send_backlog(kp_producer *p) {
    while (p->queue_head) {
        kp_record *r = p->queue_head;
        while (r->sent < r->nbacklog) {
            if (produce(p, r, &r->backlog[r->sent]) == RD_KAFKA_RESP_ERR__QUEUE_FULL) return;
            r->sent++;
        }
        p->queue_head = r->queued;
        if (!p->queue_head) p->queue_tail = NULL;
        r->sealed = true;
        record_check(p, r);
    }
    if (p->queue_full) {
        p->queue_full = false;
        tb_log(p->host, p->ctx, TB_LOG_INFO, "librdkafka's queue has room again");
        tbp_kafka_circuit(p); /* stays open while every broker is down */
    }
}

void tbp_kafka_pump(kp_producer *p) {
    if (!p->rk) return;
    rd_kafka_poll(p->rk, 0);
    if (p->queue_head) send_backlog(p);
}

/* ---- push ------------------------------------------------------------------------------- */

int TB_CALL tbp_kafka_push(void *instance, tb_batch *in) {
    kp_producer *p = instance;
    char reason[512];
    uint32_t i = 0, live = 0;
    if (!p->rk) return tb_fail(p->host, p->ctx, TB_EIO, "the Kafka producer is not connected");
    if (rd_kafka_fatal_error(p->rk, reason, sizeof reason) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return tb_fail(p->host, p->ctx, TB_ERROR, "the Kafka producer failed: %s", reason);
    for (uint32_t k = 0; k < in->count; k++) live += !(in->events[k].flags & TB_EF_DROPPED);
    if (!live) return TB_OK;
    kp_record *r = record_new(p, in->token);
    if (!r) return tb_fail(p->host, p->ctx, TB_ENOMEM, "out of memory for a batch's delivery record");
    /* behind a backlog, a batch waits its turn whole: messages keep their order */
    if (!p->queue_head) {
        for (; i < in->count; i++) {
            kp_msg m;
            if (in->events[i].flags & TB_EF_DROPPED) continue;
            if (!message_of(p, &in->events[i], &m)) {
                r->total++;
                message_failed(r, RD_KAFKA_RESP_ERR__INVALID_ARG);
                continue;
            }
            if (produce(p, r, &m) == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                if (m.headers) rd_kafka_headers_destroy(m.headers); /* built again from the event */
                break;
            }
        }
    }
    if (i < in->count) {
        if (backlog_copy(p, r, in, i)) {
            enqueue(p, r);
            return TB_EPENDING;
        }
        record_failed(r, TB_ENOMEM); /* the rest is not sent: the batch fails, its source replays */
    }
    r->sealed = true;
    record_check(p, r); /* everything refused at once: reported now */
    return TB_EPENDING;
}
