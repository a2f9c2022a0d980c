/*
 * kafka_pull.c - kafka_consumer's source half: each message becomes one raw event whose data
 * is a copy of the value (a null value is empty bytes) and whose metadata is
 *
 *   {"kafka_consumer": {"topic": "t", "partition": 0, "offset": 42, "key": <bytes>|null,
 *                       "headers": {"name": <bytes>|null, ...}, "timestamp": <ms>|null}}
 *
 * Its stream is its partition's (per assignment: a partition handed back and forth gets a new
 * stream, with fresh preprocessors), and its id says where it came from (KC_ID). pull polls
 * with timeout 0 until the batch is full or librdkafka has nothing, and answers TB_EAGAIN
 * then: the wake-up pipe (kafka_consumer.c) makes the runtime pull again. It first emits
 * the messages held while paused, and the stream ends of revoked partitions.
 *
 * A message of a partition no longer assigned is dropped (its new owner reads it), and so is
 * one below the offset expected next: fetched before a seek back that already covers it.
 *
 * Ownership: event bytes and metadata are copies in the batch's arena; every message is
 * destroyed before pull returns. Thread contract: the instance's thread.
 */
#define _GNU_SOURCE
#include "kafka.h"

#include <inttypes.h>
#include <stdio.h>

/* Appends member key (a literal: it lives as long as the library) to obj; NULL when out of
 * memory. */
static tb_value *put(tb_arena *a, tb_value *obj, const char *key) {
    return tb_object_append(a, obj, key, strlen(key));
}

/* Bytes copied into the arena as a bytes value, or null for NULL; false when out of memory. */
static bool bytes_or_null(tb_arena *a, tb_value *slot, const void *p, size_t len) {
    char *copy;
    if (!p) {
        *slot = tb_null();
        return true;
    }
    if (!(copy = tb_arena_dup(a, p, len))) return false;
    *slot = tb_bytes(copy, len);
    return true;
}

static bool put_headers(tb_arena *a, tb_value *slot, rd_kafka_message_t *m) {
    rd_kafka_headers_t *hdrs = NULL;
    const char *name;
    const void *val;
    size_t size;
    *slot = tb_object();
    if (rd_kafka_message_headers(m, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR) return true;
    for (size_t i = 0; rd_kafka_header_get_all(hdrs, i, &name, &val, &size) == RD_KAFKA_RESP_ERR_NO_ERROR; i++) {
        size_t nlen = strlen(name);
        char *key = tb_arena_dup(a, name, nlen);
        tb_value *v = key ? tb_object_append(a, slot, key, nlen) : NULL;
        if (!v || !bytes_or_null(a, v, val, size)) return false;
    }
    return true;
}

/* The metadata of m from partition topic (already in the arena). */
static bool build_meta(tb_arena *a, tb_value *meta, rd_kafka_message_t *m, const tb_value *topic) {
    tb_value *k, *v;
    rd_kafka_timestamp_type_t tstype;
    int64_t ts = rd_kafka_message_timestamp(m, &tstype);
    *meta = tb_object();
    if (!(k = put(a, meta, "kafka_consumer"))) return false;
    *k = tb_object();
    if (!(v = put(a, k, "topic"))) return false;
    *v = *topic;
    if (!(v = put(a, k, "partition"))) return false;
    *v = tb_i64(m->partition);
    if (!(v = put(a, k, "offset"))) return false;
    *v = tb_i64(m->offset);
    if (!(v = put(a, k, "key")) || !bytes_or_null(a, v, m->key, m->key_len)) return false;
    if (!(v = put(a, k, "headers")) || !put_headers(a, v, m)) return false;
    if (!(v = put(a, k, "timestamp"))) return false;
    *v = ts >= 0 && tstype != RD_KAFKA_TIMESTAMP_NOT_AVAILABLE ? tb_i64(ts) : tb_null();
    return true;
}

/* A message carrying an error rather than data: logged (briefly), or fatal. */
static int message_error(kc_consumer *c, const rd_kafka_message_t *m) {
    char reason[512];
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) return TB_OK;
    if (rd_kafka_fatal_error(c->rk, reason, sizeof reason) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return tb_fail(c->host, c->ctx, TB_ERROR, "the Kafka consumer failed: %s", reason);
    c->warned_errors++;
    if (c->warned_errors <= 10 || c->warned_errors % 1000 == 0)
        tb_log(c->host, c->ctx, TB_LOG_WARN, "kafka consumer: %s%s%s", rd_kafka_message_errstr(m),
               m->rkt ? " on topic " : "", m->rkt ? rd_kafka_topic_name(m->rkt) : "");
    return TB_OK;
}

typedef struct pull_state {
    uint64_t pull;        /* this pull's number */
    uint32_t topic_key;   /* the partition whose topic is in topic */
    tb_value topic;       /* its name, copied into the arena once per pull and partition */
    size_t bytes;
} pull_state;

static int take(kc_consumer *c, tb_batch *out, rd_kafka_message_t *m, pull_state *s) {
    if (m->err) return message_error(c, m);
    kc_part *p = tbp_kafka_part_of(c, m->rkt, m->partition);
    if (!p) return TB_OK;                             /* revoked since it was fetched */
    if (p->next >= 0 && m->offset < p->next) return TB_OK; /* fetched before a seek back */
    if (m->offset < 0 || (uint64_t)m->offset > KC_OFFSET_MASK)
        return tb_fail(c->host, c->ctx, TB_ERROR, "%s[%" PRId32 "]: offset %" PRId64 " is beyond what event ids hold",
                       p->topic, p->partition, m->offset);
    if (s->topic_key != p->key) {
        size_t len = strlen(p->topic);
        char *copy = tb_arena_dup(out->arena, p->topic, len);
        if (!copy) return TB_ENOMEM;
        s->topic = tb_string(copy, len);
        s->topic_key = p->key;
    }
    const void *value = m->payload ? m->payload : "";
    char *data = tb_arena_dup(out->arena, value, m->len);
    tb_event *e = data ? tb_batch_push(out) : NULL;
    if (!e || !build_meta(out->arena, &e->meta, m, &s->topic)) return TB_ENOMEM;
    e->data = tb_bytes(data, m->len);
    e->id = KC_ID(p->key, m->offset);
    e->stream = p->key;
    e->flags = TB_EF_RAW;
    if (!tbp_kafka_part_emit(c, p, m->offset, s->pull)) {
        out->count--; /* untracked, it could never be committed past: fetched again after a restart */
        return TB_ENOMEM;
    }
    s->bytes += m->len;
    return TB_OK;
}

/* The stream ends of revoked partitions: empty events, with ids no partition has. */
static int end_streams(kc_consumer *c, tb_batch *out) {
    while (c->nended) {
        tb_event *e = tb_batch_push(out);
        if (!e) return TB_ENOMEM;
        uint32_t key = c->ended[--c->nended];
        e->data = tb_bytes("", 0);
        e->id = KC_ID(key, 0);
        e->stream = key;
        e->flags = TB_EF_RAW | TB_EF_STREAM_END;
    }
    return TB_OK;
}

int TB_CALL tbp_kafka_pull(void *instance, tb_batch *out) {
    kc_consumer *c = instance;
    pull_state s = {++c->pulls, 0, {0}, 0};
    uint32_t held = 0;
    int rc = TB_OK;
    if (!c->rk) return tb_fail(c->host, c->ctx, TB_EIO, "the Kafka consumer is not connected");
    /* stop at the batch's capacity, but always leave room for one event */
    uint32_t limit = out->capacity > out->count ? out->capacity : out->count + 1;
    if ((rc = end_streams(c, out)) != TB_OK) return tb_fail(c->host, c->ctx, rc, "out of memory ending streams");
    while (out->count < limit && s.bytes < c->max_bytes) {
        rd_kafka_message_t *m = held < c->nheld ? c->held[held++] : rd_kafka_consumer_poll(c->rk, 0);
        if (!m) break;
        rc = take(c, out, m, &s);
        rd_kafka_message_destroy(m);
        if (rc == TB_ENOMEM) rc = tb_fail(c->host, c->ctx, TB_ENOMEM, "out of memory reading a message");
        if (rc) break;
        /* a rebalance inside the poll may have revoked partitions: end their streams in order */
        if (c->nended && (rc = end_streams(c, out)) != TB_OK) {
            rc = tb_fail(c->host, c->ctx, rc, "out of memory ending streams");
            break;
        }
    }
    if (held) {
        memmove(c->held, c->held + held, (c->nheld - held) * sizeof *c->held);
        c->nheld -= held;
    }
    if (rc) return rc;
    return out->count ? TB_OK : TB_EAGAIN;
}
