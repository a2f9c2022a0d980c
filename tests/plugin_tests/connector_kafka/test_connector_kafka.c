/*
 * test_connector_kafka.c - the kafka plugin's two connectors (plugins/connector/kafka),
 * loaded from the build's plugins directory through the registry and driven through their
 * vtables with a real event loop, against librdkafka's mock cluster (one broker, created by
 * the group setup, speaking the Kafka protocol on a loopback port). Plain librdkafka clients
 * in the test produce what the consumer reads, read back what the producer sent, and ask the
 * group coordinator what was committed.
 *
 * Producer: messages with key, headers and partition from metadata (or the key option), each
 * batch's delivery reported through host->delivered; a delivery failure; a full queue that
 * opens the circuit breaker and loses nothing, in order; drain; every broker down (on a
 * cluster of three of its own), while sending or idle, opening the circuit breaker until one
 * is back, losing nothing.
 * Consumer: messages of a 3-partition topic with their metadata, streams and ids; committed
 * offsets equal to what was acknowledged; an unacknowledged event holding back its partition's
 * commits; a failed event replayed (with what followed it); pause and resume; a rebalance:
 * acknowledgements of events from before it commit nothing, the partition kept starts again
 * from the commit on a new stream, the old streams end; bad configurations.
 *
 * Everything that waits polls until its condition holds, with generous deadlines (the mock
 * cluster's group joins take seconds on a loaded machine). Thread contract: the test's one
 * thread drives the instances; librdkafka runs its own. Ownership: each test owns its fixture
 * and loop; the group owns the mock cluster.
 */
#define _GNU_SOURCE
#define TB_FIX_IMPLEMENTATION
#include "plugin_fix.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "host/context.h"
#include "host/loop.h"

#define DEADLINE_NS (60ull * 1000000000ull)
#define OFFSET_BITS 44 /* the consumer's event ids: partition key << 44 | offset */

static rd_kafka_t *keeper;         /* the mock cluster's bookkeeping handle */
static rd_kafka_mock_cluster_t *mc;
static char brokers[256];          /* the mock cluster's bootstrap servers */

/* ---- plain librdkafka clients --------------------------------------------------------- */

/* A client of the cluster whose bootstrap servers are boot, with props (name, value pairs). */
static rd_kafka_t *plain_on(const char *boot, rd_kafka_type_t type, const char *const *props) {
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", boot, err, sizeof err))
        fail_msg("bootstrap.servers: %s", err);
    for (; props && *props; props += 2)
        if (rd_kafka_conf_set(conf, props[0], props[1], err, sizeof err)) fail_msg("%s: %s", props[0], err);
    rd_kafka_t *rk = rd_kafka_new(type, conf, err, sizeof err);
    if (!rk) fail_msg("rd_kafka_new: %s", err);
    return rk;
}

static rd_kafka_t *plain(rd_kafka_type_t type, const char *const *props) { return plain_on(brokers, type, props); }

static void topic_create(const char *topic, int partitions) {
    assert_int_equal(rd_kafka_mock_topic_create(mc, topic, partitions, 1), RD_KAFKA_RESP_ERR_NO_ERROR);
}

/* Produces n messages "p<P>-<i>" with key "k<i>" and header "seq" to each of partitions
 * 0..nparts-1 of topic, offsets from base on. */
static void produce_plain(const char *topic, int nparts, int n, int base) {
    rd_kafka_t *rk = plain(RD_KAFKA_PRODUCER, NULL);
    char value[32], key[32], seq[32];
    for (int p = 0; p < nparts; p++)
        for (int i = base; i < base + n; i++) {
            int vlen = snprintf(value, sizeof value, "p%d-%d", p, i);
            int klen = snprintf(key, sizeof key, "k%d", i);
            snprintf(seq, sizeof seq, "%d", i);
            assert_int_equal(rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(p),
                                               RD_KAFKA_V_VALUE(value, (size_t)vlen), RD_KAFKA_V_KEY(key, (size_t)klen),
                                               RD_KAFKA_V_HEADER("seq", seq, -1), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                               RD_KAFKA_V_END),
                             RD_KAFKA_RESP_ERR_NO_ERROR);
        }
    assert_int_equal(rd_kafka_flush(rk, 30000), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_destroy(rk);
}

/* The offsets group committed for partitions 0..n-1 of topic (RD_KAFKA_OFFSET_INVALID: none). */
static void committed(const char *group, const char *topic, int n, int64_t *out) {
    static const char *props[] = {"group.id", NULL, "enable.auto.commit", "false", NULL};
    props[1] = group;
    rd_kafka_t *rk = plain(RD_KAFKA_CONSUMER, props);
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(n);
    for (int p = 0; p < n; p++) rd_kafka_topic_partition_list_add(list, topic, p);
    rd_kafka_resp_err_t err = rd_kafka_committed(rk, list, 10000);
    for (int p = 0; p < n; p++) out[p] = err ? -2 : list->elems[p].offset;
    rd_kafka_topic_partition_list_destroy(list);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
}

/* ---- instances and the loop ----------------------------------------------------------- */

static const tb_connector_vtable *vt(tb_fix *f) { return &f->inst->component->vt.connector; }

static bool past(uint64_t deadline) { return tbr_now_ns() > deadline; }

static void start(tb_fix *f, tbr_loop *loop, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void start(tb_fix *f, tbr_loop *loop, const char *name, const char *fmt, ...) {
    char json[2048], err[512] = "";
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(json, sizeof json, fmt, ap);
    va_end(ap);
    int rc = tb_fix_try_start_on(f, TB_KIND_CONNECTOR, name, json, 0, loop, err, sizeof err);
    if (rc) fail_msg("create %s with %s: %d: %s", name, json, rc, err);
    assert_int_equal(vt(f)->connect(f->inst->state), TB_OK);
}

/* A consumer in group on topic, committing after every acknowledgement, with the short
 * session the mock cluster's rebalances need to be quick. */
static void start_consumer(tb_fix *f, tbr_loop *loop, const char *topic, const char *group) {
    start(f, loop, "kafka_consumer",
          "{\"brokers\":[\"%s\"],\"topics\":[\"%s\"],\"group_id\":\"%s\",\"commit_interval_ms\":0,"
          "\"rdkafka_options\":{\"session.timeout.ms\":6000,\"heartbeat.interval.ms\":200}}",
          brokers, topic, group);
}

/* ---- what the consumer emitted ---------------------------------------------------------- */

typedef struct ev {
    uint64_t id, pull;
    uint32_t stream;
    uint16_t flags;
    char value[32], topic[32], key[32], seq[32];
    int64_t partition, offset, timestamp;
} ev;

typedef struct got {
    ev ev[1024];
    size_t n;
    uint64_t pulls;
} got;

static void copy_text(char *dst, size_t n, const tb_value *v) {
    size_t len = v && (v->type == TB_STRING || v->type == TB_BYTES) ? v->len : 0;
    if (len >= n) len = n - 1;
    if (len) memcpy(dst, v->as.s, len);
    dst[len] = '\0';
}

static int64_t int_of(const tb_value *v) {
    int64_t i;
    return tb_value_as_i64(v, &i) ? i : -999;
}

static void record(got *g, const tb_event *e) {
    assert_true(g->n < sizeof g->ev / sizeof g->ev[0]);
    ev *r = &g->ev[g->n++];
    memset(r, 0, sizeof *r);
    r->id = e->id;
    r->pull = g->pulls;
    r->stream = e->stream;
    r->flags = e->flags;
    assert_true(e->flags & TB_EF_RAW);
    assert_int_equal(e->data.type, TB_BYTES);
    copy_text(r->value, sizeof r->value, &e->data);
    if (e->flags & TB_EF_STREAM_END) return;
    const tb_value *kc = tb_object_getz(&e->meta, "kafka_consumer");
    assert_non_null(kc);
    copy_text(r->topic, sizeof r->topic, tb_object_getz(kc, "topic"));
    assert_int_equal(tb_object_getz(kc, "key")->type, TB_BYTES);
    copy_text(r->key, sizeof r->key, tb_object_getz(kc, "key"));
    const tb_value *h = tb_object_getz(kc, "headers");
    assert_non_null(h);
    assert_int_equal(h->type, TB_OBJECT);
    copy_text(r->seq, sizeof r->seq, tb_object_getz(h, "seq"));
    r->partition = int_of(tb_object_getz(kc, "partition"));
    r->offset = int_of(tb_object_getz(kc, "offset"));
    r->timestamp = int_of(tb_object_getz(kc, "timestamp"));
    /* the id names the partition (its stream) and the offset */
    assert_int_equal(e->id >> OFFSET_BITS, e->stream);
    assert_int_equal((int64_t)(e->id & ((UINT64_C(1) << OFFSET_BITS) - 1)), r->offset);
}

/* One pull into a fresh batch of cap events; records what came. */
static int pull_once(tb_fix *f, uint32_t cap, got *g) {
    tb_fix_begin(f);
    f->out.events = tb_arena_alloc(f->arena, cap * sizeof(tb_event), 8);
    assert_non_null(f->out.events);
    f->out.capacity = cap;
    int rc = vt(f)->pull(f->inst->state, &f->out);
    assert_true(rc == TB_OK || rc == TB_EAGAIN);
    assert_true(f->out.count <= cap);
    if (f->out.count) g->pulls++;
    for (uint32_t i = 0; i < f->out.count; i++) record(g, &f->out.events[i]);
    return rc;
}

static size_t data_events(const got *g) {
    size_t n = 0;
    for (size_t i = 0; i < g->n; i++) n += !(g->ev[i].flags & TB_EF_STREAM_END);
    return n;
}

/* Pulls (running the loop when there is nothing) until g holds want data events. */
static void pull_until(tb_fix *f, tbr_loop *loop, uint32_t cap, got *g, size_t want) {
    uint64_t deadline = tbr_now_ns() + DEADLINE_NS;
    while (data_events(g) < want) {
        if (past(deadline)) fail_msg("%zu of %zu events after 60 s", data_events(g), want);
        if (pull_once(f, cap, g) == TB_EAGAIN) tbr_loop_run_once(loop, 50);
    }
}

/* Pulls for about ms milliseconds, running the loop. */
static void pull_for(tb_fix *f, tbr_loop *loop, uint32_t cap, got *g, uint64_t ms) {
    uint64_t until = tbr_now_ns() + ms * 1000000u;
    while (!past(until))
        if (pull_once(f, cap, g) == TB_EAGAIN) tbr_loop_run_once(loop, 20);
}

static const ev *find(const got *g, int64_t partition, int64_t offset) {
    for (size_t i = g->n; i-- > 0;)
        if (!(g->ev[i].flags & TB_EF_STREAM_END) && g->ev[i].partition == partition && g->ev[i].offset == offset)
            return &g->ev[i];
    return NULL;
}

/* Acknowledges (or fails) the events of g[from..to) that pass keep (NULL: all), one call
 * per pull, as the runtime does (one ticket per pulled batch). */
static void settle(tb_fix *f, const got *g, size_t from, size_t to, bool ok, bool (*keep)(const ev *, void *),
                   void *arg) {
    uint64_t ids[1024];
    size_t i = from;
    while (i < to) {
        uint64_t pull = g->ev[i].pull;
        uint32_t n = 0;
        for (; i < to && g->ev[i].pull == pull; i++)
            if (!keep || keep(&g->ev[i], arg)) ids[n++] = g->ev[i].id;
        if (n) (ok ? vt(f)->ack : vt(f)->fail)(f->inst->state, ids, n);
    }
}

/* Runs the consumer until group committed want[p] for partitions 0..n-1 of topic. */
static void wait_committed(tb_fix *f, tbr_loop *loop, got *g, const char *group, const char *topic, int n,
                           const int64_t *want) {
    uint64_t deadline = tbr_now_ns() + DEADLINE_NS;
    int64_t have[8];
    for (;;) {
        committed(group, topic, n, have);
        if (memcmp(have, want, (size_t)n * sizeof *want) == 0) return;
        if (past(deadline)) {
            char text[256];
            size_t at = 0;
            for (int p = 0; p < n; p++)
                at += (size_t)snprintf(text + at, sizeof text - at, " [%d] %" PRId64 " (want %" PRId64 ")", p, have[p],
                                       want[p]);
            fail_msg("committed after 60 s:%s", text);
        }
        pull_for(f, loop, 64, g, 100);
    }
}

/* ---- consumer tests ------------------------------------------------------------------- */

static void test_consumer_commits_acked(void **state) {
    tbr_loop *loop = tbr_loop_new();
    tb_fix f;
    got *g = calloc(1, sizeof *g);
    (void)state;
    assert_non_null(g);
    topic_create("c-commit", 3);
    produce_plain("c-commit", 3, 10, 0);
    start_consumer(&f, loop, "c-commit", "g-commit");
    pull_until(&f, loop, 7, g, 30);
    assert_int_equal(g->n, 30);
    /* every message once, in order per partition, with its metadata; one stream per partition */
    uint32_t streams[3] = {0};
    for (int p = 0; p < 3; p++) {
        int64_t last = -1;
        for (size_t i = 0; i < g->n; i++) {
            const ev *e = &g->ev[i];
            if (e->partition != p) continue;
            char want[32];
            assert_int_equal(e->offset, last + 1);
            last = e->offset;
            snprintf(want, sizeof want, "p%d-%" PRId64, p, e->offset);
            assert_string_equal(e->value, want);
            snprintf(want, sizeof want, "k%" PRId64, e->offset);
            assert_string_equal(e->key, want);
            snprintf(want, sizeof want, "%" PRId64, e->offset);
            assert_string_equal(e->seq, want);
            assert_string_equal(e->topic, "c-commit");
            assert_true(e->timestamp > 1600000000000);
            if (!streams[p]) streams[p] = e->stream;
            assert_int_equal(e->stream, streams[p]);
        }
        assert_int_equal(last, 9);
    }
    assert_true(streams[0] != streams[1] && streams[1] != streams[2] && streams[0] != streams[2]);
    /* nothing acknowledged, nothing committed */
    int64_t none[3] = {RD_KAFKA_OFFSET_INVALID, RD_KAFKA_OFFSET_INVALID, RD_KAFKA_OFFSET_INVALID};
    int64_t have[3];
    committed("g-commit", "c-commit", 3, have);
    assert_memory_equal(have, none, sizeof none);
    settle(&f, g, 0, g->n, true, NULL, NULL);
    int64_t want[3] = {10, 10, 10};
    wait_committed(&f, loop, g, "g-commit", "c-commit", 3, want);
    tb_fix_stop(&f);
    tbr_loop_free(loop);
    free(g);
}

/* The value of the instance's metric name (0 when it has none yet). */
static int64_t metric_value(tb_fix *f, const char *name) {
    uint32_t n = tbr_context_metric_count(f->inst->ctx);
    for (uint32_t i = 0; i < n; i++) {
        const tbr_metric *m = tbr_context_metric(f->inst->ctx, i);
        if (!strcmp(m->name, name)) return atomic_load(&m->value);
    }
    fail_msg("no metric %s", name);
    return -1;
}

/* Runs the consumer (pulling nothing) until metric name is want; fails after the deadline. */
static void wait_metric(tb_fix *f, tbr_loop *loop, const char *name, int64_t want) {
    uint64_t deadline = tbr_now_ns() + DEADLINE_NS;
    while (metric_value(f, name) != want) {
        if (past(deadline)) fail_msg("metric %s is %" PRId64 ", want %" PRId64 " after 60 s", name, metric_value(f, name), want);
        tbr_loop_run_once(loop, 50);
    }
}

/* The gauges: partitions assigned, and the lag behind the high watermark of what was emitted. */
static void test_consumer_lag(void **state) {
    tbr_loop *loop = tbr_loop_new();
    tb_fix f;
    got *g = calloc(1, sizeof *g);
    (void)state;
    assert_non_null(g);
    topic_create("c-lag", 1);
    produce_plain("c-lag", 1, 20, 0);
    start_consumer(&f, loop, "c-lag", "g-lag");
    pull_until(&f, loop, 1, g, 1);
    /* one message emitted, 19 behind it */
    wait_metric(&f, loop, "partitions_assigned", 1);
    wait_metric(&f, loop, "lag", 19);
    pull_until(&f, loop, 64, g, 20);
    wait_metric(&f, loop, "lag", 0);
    tb_fix_stop(&f);
    tbr_loop_free(loop);
    free(g);
}

/* Keeps the first event of each pull only. */
static bool first_of_its_pull(const ev *e, void *arg) {
    uint64_t *last = arg;
    if (e->pull == *last) return false;
    *last = e->pull;
    return true;
}

static void test_consumer_answer_covers_pull(void **state) {
    tbr_loop *loop = tbr_loop_new();
    tb_fix f;
    got *g = calloc(1, sizeof *g);
    uint64_t last = 0;
    (void)state;
    assert_non_null(g);
    topic_create("c-swallow", 3);
    produce_plain("c-swallow", 3, 10, 0);
    start_consumer(&f, loop, "c-swallow", "g-swallow");
    pull_until(&f, loop, 64, g, 30);
    /* everything failed: every partition is fetched again, while the test does not pull, so
     * that one pull takes messages of several partitions */
    settle(&f, g, 0, g->n, false, NULL, NULL);
    uint64_t until = tbr_now_ns() + 1500000000ull;
    while (!past(until)) tbr_loop_run_once(loop, 50);
    size_t before = g->n;
    bool spans = false;
    pull_until(&f, loop, 64, g, 60);
    for (size_t i = before + 1; i < g->n; i++) spans = spans || (g->ev[i].pull == g->ev[i - 1].pull &&
                                                                  g->ev[i].partition != g->ev[i - 1].partition);
    if (!spans) fail_msg("no pull took messages of two partitions: the test proves nothing");
    /* as if a preprocessor had swallowed every event of each pull but one: the runtime's
     * answer names what is left, and stands for the whole pull, in every partition */
    settle(&f, g, before, g->n, true, first_of_its_pull, &last);
    int64_t want[3] = {10, 10, 10};
    wait_committed(&f, loop, g, "g-swallow", "c-swallow", 3, want);
    tb_fix_stop(&f);
    tbr_loop_free(loop);
    free(g);
}

static bool not_p1_o4(const ev *e, void *arg) {
    (void)arg;
    return !(e->partition == 1 && e->offset == 4);
}

static void test_consumer_unacked_blocks(void **state) {
    tbr_loop *loop = tbr_loop_new();
    tb_fix f;
    got *g = calloc(1, sizeof *g);
    (void)state;
    assert_non_null(g);
    topic_create("c-block", 3);
    produce_plain("c-block", 3, 10, 0);
    start_consumer(&f, loop, "c-block", "g-block");
    /* one event per pull, so each has a ticket of its own */
    pull_until(&f, loop, 1, g, 30);
    settle(&f, g, 0, g->n, true, not_p1_o4, NULL);
    int64_t want[3] = {10, 4, 10};
    wait_committed(&f, loop, g, "g-block", "c-block", 3, want);
    /* later acknowledgements do not move it; the missing one does, to the end */
    pull_for(&f, loop, 64, g, 500);
    int64_t have[3];
    committed("g-block", "c-block", 3, have);
    assert_memory_equal(have, want, sizeof want);
    const ev *e = find(g, 1, 4);
    assert_non_null(e);
    vt(&f)->ack(f.inst->state, &e->id, 1);
    want[1] = 10;
    wait_committed(&f, loop, g, "g-block", "c-block", 3, want);
    tb_fix_stop(&f);
    tbr_loop_free(loop);
    free(g);
}

static void test_consumer_replays_failed(void **state) {
    tbr_loop *loop = tbr_loop_new();
    tb_fix f;
    got *g = calloc(1, sizeof *g);
    (void)state;
    assert_non_null(g);
    topic_create("c-replay", 3);
    produce_plain("c-replay", 3, 10, 0);
    start_consumer(&f, loop, "c-replay", "g-replay");
    pull_until(&f, loop, 1, g, 30);
    const ev *failed = find(g, 2, 5);
    assert_non_null(failed);
    (vt(&f)->fail)(f.inst->state, &failed->id, 1); /* (cmocka has a macro fail) */
    /* everything else acknowledged, the events after the failed one too */
    settle(&f, g, 0, g->n, true, not_p1_o4, NULL);
    const ev *p1o4 = find(g, 1, 4);
    vt(&f)->ack(f.inst->state, &p1o4->id, 1);
    size_t before = g->n;
    /* partition 2 comes again from offset 5, in order, and nothing else does */
    pull_until(&f, loop, 4, g, 35);
    pull_for(&f, loop, 4, g, 1000);
    assert_int_equal(g->n, before + 5);
    for (size_t i = before; i < g->n; i++) {
        char want[32];
        assert_int_equal(g->ev[i].partition, 2);
        assert_int_equal(g->ev[i].offset, 5 + (int64_t)(i - before));
        snprintf(want, sizeof want, "p2-%" PRId64, g->ev[i].offset);
        assert_string_equal(g->ev[i].value, want);
    }
    int64_t want[3] = {10, 10, 5};
    wait_committed(&f, loop, g, "g-replay", "c-replay", 3, want);
    settle(&f, g, before, g->n, true, NULL, NULL);
    want[2] = 10;
    wait_committed(&f, loop, g, "g-replay", "c-replay", 3, want);
    tb_fix_stop(&f);
    tbr_loop_free(loop);
    free(g);
}

static void test_consumer_pause_resume(void **state) {
    tbr_loop *loop = tbr_loop_new();
    tb_fix f;
    got *g = calloc(1, sizeof *g);
    (void)state;
    assert_non_null(g);
    topic_create("c-pause", 1);
    produce_plain("c-pause", 1, 5, 0);
    start_consumer(&f, loop, "c-pause", "g-pause");
    pull_until(&f, loop, 64, g, 5);
    settle(&f, g, 0, g->n, true, NULL, NULL);
    assert_int_equal(vt(&f)->pause(f.inst->state), TB_OK);
    produce_plain("c-pause", 1, 5, 5);
    /* paused: the fd and timer callbacks serve the group, the partition fetches nothing
     * (pull is called here only to look; the runtime does not pull a paused source) */
    uint64_t until = tbr_now_ns() + 2000000000ull;
    while (!past(until)) tbr_loop_run_once(loop, 50);
    assert_int_equal(pull_once(&f, 64, g), TB_EAGAIN);
    assert_int_equal(g->n, 5);
    assert_int_equal(vt(&f)->resume(f.inst->state), TB_OK);
    pull_until(&f, loop, 64, g, 10);
    for (size_t i = 0; i < g->n; i++) assert_int_equal(g->ev[i].offset, (int64_t)i);
    settle(&f, g, 5, g->n, true, NULL, NULL);
    int64_t want[1] = {10};
    wait_committed(&f, loop, g, "g-pause", "c-pause", 1, want);
    tb_fix_stop(&f);
    tbr_loop_free(loop);
    free(g);
}

static bool below_5(const ev *e, void *arg) {
    (void)arg;
    return e->offset < 5;
}

static bool from_5(const ev *e, void *arg) {
    (void)arg;
    return e->offset >= 5;
}

static void test_consumer_rebalance(void **state) {
    tbr_loop *loop = tbr_loop_new();
    tb_fix f;
    got *g = calloc(1, sizeof *g);
    (void)state;
    assert_non_null(g);
    topic_create("c-rebalance", 2);
    produce_plain("c-rebalance", 2, 10, 0);
    start_consumer(&f, loop, "c-rebalance", "g-rebalance");
    pull_until(&f, loop, 1, g, 20);
    size_t first = g->n;
    uint32_t old_stream[2] = {find(g, 0, 0)->stream, find(g, 1, 0)->stream};
    settle(&f, g, 0, first, true, below_5, NULL);
    int64_t have[2], want[2] = {5, 5};
    wait_committed(&f, loop, g, "g-rebalance", "c-rebalance", 2, want);

    /* a second member joins: the group rebalances (eager: everything is revoked, then one
     * partition each); the connector learns it in its pulls */
    static const char *props[] = {"group.id", "g-rebalance", "enable.auto.commit", "false",
                                  "auto.offset.reset", "earliest", "session.timeout.ms", "6000",
                                  "heartbeat.interval.ms", "200", NULL};
    rd_kafka_t *other = plain(RD_KAFKA_CONSUMER, props);
    rd_kafka_topic_partition_list_t *topics = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(topics, "c-rebalance", RD_KAFKA_PARTITION_UA);
    assert_int_equal(rd_kafka_subscribe(other, topics), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_topic_partition_list_destroy(topics);
    uint64_t deadline = tbr_now_ns() + DEADLINE_NS;
    int32_t theirs = -1;
    int64_t their_first = -1;
    while (theirs < 0) {
        if (past(deadline)) fail_msg("the second member got no message in 60 s");
        rd_kafka_message_t *m = rd_kafka_consumer_poll(other, 20);
        if (m) {
            if (!m->err) {
                theirs = m->partition;
                their_first = m->offset;
            }
            rd_kafka_message_destroy(m);
        }
        pull_for(&f, loop, 64, g, 20);
    }
    int32_t ours = 1 - theirs;
    /* the new member starts from the commit. (A revocation commits what was acknowledged
     * too, but the mock cluster refuses commits while the group rebalances, where Kafka
     * takes those of the current generation: here the commits came before.) */
    assert_int_equal(their_first, 5);
    /* the connector ended both old streams and reads its partition again from the commit,
     * on a new stream */
    pull_until(&f, loop, 64, g, 25);
    bool ended[2] = {false, false};
    for (size_t i = first; i < g->n; i++) {
        const ev *e = &g->ev[i];
        if (e->flags & TB_EF_STREAM_END) {
            for (int p = 0; p < 2; p++) ended[p] = ended[p] || e->stream == old_stream[p];
            continue;
        }
        assert_int_equal(e->partition, ours);
        assert_true(e->stream != old_stream[0] && e->stream != old_stream[1]);
    }
    assert_true(ended[0] && ended[1]);
    assert_int_equal(find(g, ours, 5)->stream, g->ev[g->n - 1].stream);

    /* acknowledging the rest of the events from before the rebalance commits nothing */
    settle(&f, g, 0, first, true, from_5, NULL);
    pull_for(&f, loop, 64, g, 1500);
    committed("g-rebalance", "c-rebalance", 2, have);
    assert_int_equal(have[0], 5);
    assert_int_equal(have[1], 5);
    /* acknowledging the new ones does, for our partition */
    settle(&f, g, first, g->n, true, NULL, NULL);
    want[ours] = 10;
    wait_committed(&f, loop, g, "g-rebalance", "c-rebalance", 2, want);
    tb_fix_stop(&f);
    rd_kafka_consumer_close(other);
    rd_kafka_destroy(other);
    tbr_loop_free(loop);
    free(g);
}

static void test_consumer_revoke_commits(void **state) {
    tbr_loop *loop = tbr_loop_new();
    tb_fix f;
    got *g = calloc(1, sizeof *g);
    (void)state;
    assert_non_null(g);
    topic_create("c-coop", 2);
    produce_plain("c-coop", 2, 10, 0);
    /* no periodic commit within the test: only the revocation commits. Cooperative, so that
     * the revocation comes while the group is stable (the mock cluster refuses commits
     * while it rebalances) and the partition kept keeps its state. */
    start(&f, loop, "kafka_consumer",
          "{\"brokers\":[\"%s\"],\"topics\":[\"c-coop\"],\"group_id\":\"g-coop\","
          "\"commit_interval_ms\":600000,\"rdkafka_options\":{\"session.timeout.ms\":6000,"
          "\"heartbeat.interval.ms\":200,\"partition.assignment.strategy\":\"cooperative-sticky\"}}",
          brokers);
    pull_until(&f, loop, 1, g, 20);
    size_t first = g->n;
    settle(&f, g, 0, first, true, below_5, NULL);
    pull_for(&f, loop, 64, g, 500);
    int64_t have[2];
    committed("g-coop", "c-coop", 2, have);
    assert_int_equal(have[0], RD_KAFKA_OFFSET_INVALID);
    assert_int_equal(have[1], RD_KAFKA_OFFSET_INVALID);

    static const char *props[] = {"group.id", "g-coop", "enable.auto.commit", "false",
                                  "auto.offset.reset", "earliest", "session.timeout.ms", "6000",
                                  "heartbeat.interval.ms", "200",
                                  "partition.assignment.strategy", "cooperative-sticky", NULL};
    rd_kafka_t *other = plain(RD_KAFKA_CONSUMER, props);
    rd_kafka_topic_partition_list_t *topics = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(topics, "c-coop", RD_KAFKA_PARTITION_UA);
    assert_int_equal(rd_kafka_subscribe(other, topics), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_topic_partition_list_destroy(topics);
    uint64_t deadline = tbr_now_ns() + DEADLINE_NS;
    int32_t theirs = -1;
    int64_t their_first = -1;
    while (theirs < 0) {
        if (past(deadline)) fail_msg("the second member got no message in 60 s");
        rd_kafka_message_t *m = rd_kafka_consumer_poll(other, 20);
        if (m) {
            if (!m->err) {
                theirs = m->partition;
                their_first = m->offset;
            }
            rd_kafka_message_destroy(m);
        }
        pull_for(&f, loop, 64, g, 20);
    }
    int32_t ours = 1 - theirs;
    /* the revocation committed what was acknowledged of the partition it gave up, and the
     * new owner starts there */
    assert_int_equal(their_first, 5);
    committed("g-coop", "c-coop", 2, have);
    assert_int_equal(have[theirs], 5);
    /* the partition kept was not revoked: nothing read again, its stream goes on, and its
     * acknowledgements still count (committed when it leaves the group) */
    pull_for(&f, loop, 64, g, 500);
    for (size_t i = first; i < g->n; i++) {
        assert_true(g->ev[i].flags & TB_EF_STREAM_END);
        assert_int_equal(g->ev[i].stream, find(g, theirs, 0)->stream);
    }
    settle(&f, g, 0, first, true, from_5, NULL);
    tb_fix_stop(&f);
    committed("g-coop", "c-coop", 2, have);
    assert_int_equal(have[ours], 10);
    assert_int_equal(have[theirs], 5);
    rd_kafka_consumer_close(other);
    rd_kafka_destroy(other);
    tbr_loop_free(loop);
    free(g);
}

static void test_consumer_bad_config(void **state) {
    char err[512], json[512];
    tb_fix f;
    (void)state;
    static const struct {
        const char *extra, *says;
    } cases[] = {
        {"\"mode\":\"fast\"", "mode must be transactional or performance"},
        {"\"rdkafka_options\":{\"group.id\":\"x\"}", "group.id is set by the connector: use the group_id option"},
        {"\"rdkafka_options\":{\"no.such.property\":1}", "no.such.property"},
        {"\"rdkafka_options\":{\"session.timeout.ms\":[1]}", "expected a string, a number or a boolean"},
        {"\"topics\":[]", "topics must be a non-empty array"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(json, sizeof json, "{\"brokers\":[\"%s\"],\"topics\":[\"t\"],\"group_id\":\"g\",%s}", brokers,
                 cases[i].extra);
        err[0] = '\0';
        int rc = tb_fix_try_start(&f, TB_KIND_CONNECTOR, "kafka_consumer", json, 0, err, sizeof err);
        assert_int_equal(rc, TB_EINVAL);
        if (!strstr(err, cases[i].says)) fail_msg("%s: error \"%s\" does not say \"%s\"", json, err, cases[i].says);
        tb_fix_stop(&f);
    }
}

/* ---- producer tests --------------------------------------------------------------------- */

/* Pushes one batch (token) of n events "<prefix>-<i>"; meta(i, arena) may give metadata. */
static int push_batch(tb_fix *f, uint64_t token, const char *prefix, int n, tb_value (*meta)(int, tb_arena *)) {
    tb_fix_begin(f);
    f->in.token = token;
    for (int i = 0; i < n; i++) {
        char text[32];
        int len = snprintf(text, sizeof text, "%s-%d", prefix, i);
        tb_event *e = tb_batch_push(&f->in);
        assert_non_null(e);
        char *copy = tb_arena_dup(f->arena, text, (size_t)len);
        e->data = tb_bytes(copy, (size_t)len);
        e->flags = TB_EF_RAW;
        e->meta = meta ? meta(i, f->arena) : tb_object();
    }
    return vt(f)->push(f->inst->state, &f->in);
}

/* Runs the loop until n delivery reports came; returns them in out. */
static void wait_deliveries(tb_fix *f, tbr_loop *loop, tbr_delivery *out, size_t n) {
    uint64_t deadline = tbr_now_ns() + DEADLINE_NS;
    size_t have = 0;
    while (have < n) {
        if (past(deadline)) fail_msg("%zu of %zu delivery reports after 60 s", have, n);
        tbr_loop_run_once(loop, 50);
        have += tbr_context_take_deliveries(f->inst->ctx, out + have, n - have);
    }
}

typedef struct msg {
    int32_t partition;
    int64_t offset;
    char value[32], key[32], hdr[32];
    bool has_key, has_hdr, null_hdr;
} msg;

/* Reads every message of partitions 0..nparts-1 of topic from the start, until n came. */
static void read_back(const char *topic, int nparts, msg *out, size_t n) {
    static const char *props[] = {"group.id", "reader", "enable.auto.commit", "false", NULL};
    rd_kafka_t *rk = plain(RD_KAFKA_CONSUMER, props);
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(nparts);
    for (int p = 0; p < nparts; p++) rd_kafka_topic_partition_list_add(list, topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    assert_int_equal(rd_kafka_assign(rk, list), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_topic_partition_list_destroy(list);
    uint64_t deadline = tbr_now_ns() + DEADLINE_NS;
    size_t have = 0;
    while (have < n) {
        if (past(deadline)) fail_msg("read back %zu of %zu messages of %s in 60 s", have, n, topic);
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (!m) continue;
        if (!m->err) {
            msg *o = &out[have++];
            rd_kafka_headers_t *hdrs;
            const void *val;
            size_t size;
            memset(o, 0, sizeof *o);
            o->partition = m->partition;
            o->offset = m->offset;
            snprintf(o->value, sizeof o->value, "%.*s", (int)m->len, (const char *)m->payload);
            if (m->key) snprintf(o->key, sizeof o->key, "%.*s", (int)m->key_len, (const char *)m->key);
            o->has_key = m->key != NULL;
            if (rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR) {
                if (rd_kafka_header_get_last(hdrs, "h", &val, &size) == RD_KAFKA_RESP_ERR_NO_ERROR) {
                    snprintf(o->hdr, sizeof o->hdr, "%.*s", (int)size, (const char *)val);
                    o->has_hdr = true;
                }
                o->null_hdr = rd_kafka_header_get_last(hdrs, "n", &val, &size) == RD_KAFKA_RESP_ERR_NO_ERROR && !val;
            }
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
}

static const msg *msg_named(const msg *m, size_t n, const char *value) {
    for (size_t i = 0; i < n; i++)
        if (strcmp(m[i].value, value) == 0) return &m[i];
    fail_msg("no message %s", value);
    return NULL;
}

/* Even events: key "k<i>", headers {"h": "v<i>", "n": null}, partition i % 3; odd: none. */
static tb_value meta_keyed(int i, tb_arena *a) {
    tb_value meta = tb_object();
    char *key = tb_arena_alloc(a, 16, 1), *hv = tb_arena_alloc(a, 16, 1);
    if (i % 2) return meta;
    tb_value *kp = tb_object_append(a, &meta, "kafka_producer", 14);
    *kp = tb_object();
    *tb_object_append(a, kp, "key", 3) = tb_string(key, (size_t)snprintf(key, 16, "k%d", i));
    tb_value *h = tb_object_append(a, kp, "headers", 7);
    *h = tb_object();
    *tb_object_append(a, h, "h", 1) = tb_bytes(hv, (size_t)snprintf(hv, 16, "v%d", i));
    *tb_object_append(a, h, "n", 1) = tb_null();
    *tb_object_append(a, kp, "partition", 9) = tb_i64(i % 3);
    return meta;
}

static void test_producer_delivers(void **state) {
    tbr_loop *loop = tbr_loop_new();
    tb_fix f;
    tbr_delivery d[3];
    msg *back = calloc(30, sizeof *back);
    (void)state;
    topic_create("p-keys", 3);
    start(&f, loop, "kafka_producer", "{\"brokers\":[\"%s\"],\"topic\":\"p-keys\",\"key\":\"fixed\"}", brokers);
    for (int b = 0; b < 3; b++) {
        char prefix[8];
        snprintf(prefix, sizeof prefix, "b%d", b);
        assert_int_equal(push_batch(&f, 100 + (uint64_t)b, prefix, 10, meta_keyed), TB_EPENDING);
    }
    wait_deliveries(&f, loop, d, 3);
    for (int b = 0; b < 3; b++) {
        bool seen = false;
        for (int k = 0; k < 3; k++) {
            if (d[k].token != 100 + (uint64_t)b) continue;
            seen = true;
            assert_int_equal(d[k].status, TB_OK);
        }
        assert_true(seen);
    }
    read_back("p-keys", 3, back, 30);
    for (int b = 0; b < 3; b++)
        for (int i = 0; i < 10; i++) {
            char value[32], want[32];
            snprintf(value, sizeof value, "b%d-%d", b, i);
            const msg *m = msg_named(back, 30, value);
            assert_true(m->has_key);
            if (i % 2) {
                /* no metadata: the key option, no headers, the partitioner's choice */
                assert_string_equal(m->key, "fixed");
                assert_false(m->has_hdr);
                continue;
            }
            snprintf(want, sizeof want, "k%d", i);
            assert_string_equal(m->key, want);
            snprintf(want, sizeof want, "v%d", i);
            assert_true(m->has_hdr);
            assert_string_equal(m->hdr, want);
            assert_true(m->null_hdr);
            assert_int_equal(m->partition, i % 3);
        }
    tb_fix_stop(&f);
    tbr_loop_free(loop);
    free(back);
}

static void test_producer_delivery_failure(void **state) {
    tbr_loop *loop = tbr_loop_new();
    tb_fix f;
    tbr_delivery d[2];
    (void)state;
    topic_create("p-fail", 1);
    start(&f, loop, "kafka_producer", "{\"brokers\":[\"%s\"],\"topic\":\"p-fail\"}", brokers);
    /* the broker refuses the next produce request with an error that is not retried */
    rd_kafka_mock_push_request_errors(mc, 0 /* Produce */, 1, RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE);
    assert_int_equal(push_batch(&f, 7, "x", 3, NULL), TB_EPENDING);
    wait_deliveries(&f, loop, d, 1);
    assert_int_equal(d[0].token, 7);
    assert_true(d[0].status < 0);
    rd_kafka_mock_clear_request_errors(mc, 0);
    /* the next batch goes through */
    assert_int_equal(push_batch(&f, 8, "y", 3, NULL), TB_EPENDING);
    wait_deliveries(&f, loop, d, 1);
    assert_int_equal(d[0].token, 8);
    assert_int_equal(d[0].status, TB_OK);
    tb_fix_stop(&f);
    tbr_loop_free(loop);
}

static tb_value meta_partition0(int i, tb_arena *a) {
    tb_value meta = tb_object();
    (void)i;
    tb_value *kp = tb_object_append(a, &meta, "kafka_producer", 14);
    *kp = tb_object();
    *tb_object_append(a, kp, "partition", 9) = tb_u64(0);
    return meta;
}

static void test_producer_backpressure(void **state) {
    tbr_loop *loop = tbr_loop_new();
    tb_fix f;
    tbr_delivery d[2];
    msg *back = calloc(45, sizeof *back);
    (void)state;
    topic_create("p-full", 1);
    /* room for 4 messages in librdkafka's queue */
    start(&f, loop, "kafka_producer",
          "{\"brokers\":[\"%s\"],\"topic\":\"p-full\",\"rdkafka_options\":{\"queue.buffering.max.messages\":4,"
          "\"linger.ms\":20}}",
          brokers);
    assert_int_equal(push_batch(&f, 1, "a", 30, meta_partition0), TB_EPENDING);
    assert_true(tbr_context_circuit_open(f.inst->ctx));
    /* the runtime may still push what it had taken: it waits its turn */
    assert_int_equal(push_batch(&f, 2, "b", 15, meta_partition0), TB_EPENDING);
    wait_deliveries(&f, loop, d, 2);
    assert_int_equal(d[0].token, 1);
    assert_int_equal(d[1].token, 2);
    assert_int_equal(d[0].status, TB_OK);
    assert_int_equal(d[1].status, TB_OK);
    assert_false(tbr_context_circuit_open(f.inst->ctx));
    /* nothing dropped, nothing reordered */
    read_back("p-full", 1, back, 45);
    for (int i = 0; i < 45; i++) {
        char want[32];
        snprintf(want, sizeof want, i < 30 ? "a-%d" : "b-%d", i < 30 ? i : i - 30);
        assert_string_equal(back[i].value, want);
        assert_int_equal(back[i].offset, i);
    }
    tb_fix_stop(&f);
    tbr_loop_free(loop);
    free(back);
}

static void test_producer_drain(void **state) {
    tbr_loop *loop = tbr_loop_new();
    tb_fix f;
    tbr_delivery d[1];
    (void)state;
    topic_create("p-drain", 2);
    start(&f, loop, "kafka_producer",
          "{\"brokers\":[\"%s\"],\"topic\":\"p-drain\",\"rdkafka_options\":{\"linger.ms\":200}}", brokers);
    /* a slow broker: the reports take several drain steps */
    assert_int_equal(rd_kafka_mock_broker_set_rtt(mc, 1, 300), RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(push_batch(&f, 5, "d", 50, NULL), TB_EPENDING);
    /* drain answers TB_EAGAIN in short steps until every report is in */
    uint64_t deadline = tbr_now_ns() + DEADLINE_NS;
    int steps = 0, rc;
    while ((rc = vt(&f)->drain(f.inst->state)) == TB_EAGAIN) {
        if (past(deadline)) fail_msg("drain did not finish in 60 s");
        steps++;
        tbr_loop_run_once(loop, 10);
    }
    assert_int_equal(rd_kafka_mock_broker_set_rtt(mc, 1, 0), RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(rc, TB_OK);
    assert_true(steps > 1);
    assert_int_equal(tbr_context_take_deliveries(f.inst->ctx, d, 1), 1);
    assert_int_equal(d[0].token, 5);
    assert_int_equal(d[0].status, TB_OK);
    /* nothing pending: drain is done at once */
    assert_int_equal(vt(&f)->drain(f.inst->state), TB_OK);
    tb_fix_stop(&f);
    tbr_loop_free(loop);
}

static void test_producer_stop_fails_pending(void **state) {
    tbr_loop *loop = tbr_loop_new();
    tb_fix f;
    tbr_delivery d[1];
    (void)state;
    topic_create("p-stop", 1);
    start(&f, loop, "kafka_producer",
          "{\"brokers\":[\"%s\"],\"topic\":\"p-stop\",\"rdkafka_options\":{\"linger.ms\":60000}}", brokers);
    assert_int_equal(push_batch(&f, 9, "s", 5, NULL), TB_EPENDING);
    /* stopped before the messages left (linger): reported failed, for the source to replay */
    assert_int_equal(vt(&f)->stop(f.inst->state), TB_OK);
    assert_int_equal(tbr_context_take_deliveries(f.inst->ctx, d, 1), 1);
    assert_int_equal(d[0].token, 9);
    assert_true(d[0].status < 0);
    /* and a push after stop is a broken connection, for the runtime to reconnect */
    assert_int_equal(push_batch(&f, 10, "t", 1, NULL), TB_EIO);
    assert_int_equal(vt(&f)->connect(f.inst->state), TB_OK);
    assert_int_equal(push_batch(&f, 11, "u", 1, NULL), TB_EPENDING);
    /* drain sends at once, linger or not */
    uint64_t deadline = tbr_now_ns() + DEADLINE_NS;
    while (vt(&f)->drain(f.inst->state) == TB_EAGAIN) {
        if (past(deadline)) fail_msg("drain did not finish in 60 s");
        tbr_loop_run_once(loop, 10);
    }
    assert_int_equal(tbr_context_take_deliveries(f.inst->ctx, d, 1), 1);
    assert_int_equal(d[0].token, 11);
    assert_int_equal(d[0].status, TB_OK);
    tb_fix_stop(&f);
    tbr_loop_free(loop);
}

/* ---- every broker down ------------------------------------------------------------------ */

#define DOWN_BROKERS 3

/* A cluster of its own, so that taking its brokers down cannot disturb the other tests. */
typedef struct down_cluster {
    rd_kafka_t *keeper;
    rd_kafka_mock_cluster_t *mc;
    char boot[256];      /* "host:port,host:port,..." */
    char brokers[320];   /* the same as JSON array members: "\"host:port\",..." */
} down_cluster;

static void down_cluster_new(down_cluster *dc, const char *topic) {
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    assert_int_equal(rd_kafka_conf_set(conf, "log_level", "4", err, sizeof err), RD_KAFKA_CONF_OK);
    dc->keeper = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!dc->keeper) fail_msg("rd_kafka_new: %s", err);
    dc->mc = rd_kafka_mock_cluster_new(dc->keeper, DOWN_BROKERS);
    assert_non_null(dc->mc);
    snprintf(dc->boot, sizeof dc->boot, "%s", rd_kafka_mock_cluster_bootstraps(dc->mc));
    size_t at = 0;
    for (const char *b = dc->boot; *b;) {
        size_t len = strcspn(b, ",");
        at += (size_t)snprintf(dc->brokers + at, sizeof dc->brokers - at, "%s\"%.*s\"", at ? "," : "", (int)len, b);
        assert_true(at < sizeof dc->brokers);
        b += len + (b[len] == ',');
    }
    /* three partitions: the mock cluster spreads their leaders over the brokers */
    assert_int_equal(rd_kafka_mock_topic_create(dc->mc, topic, DOWN_BROKERS, 1), RD_KAFKA_RESP_ERR_NO_ERROR);
}

static void down_cluster_free(down_cluster *dc) {
    rd_kafka_mock_cluster_destroy(dc->mc);
    rd_kafka_destroy(dc->keeper);
}

static void set_brokers(down_cluster *dc, bool up) {
    for (int32_t id = 1; id <= DOWN_BROKERS; id++)
        assert_int_equal(up ? rd_kafka_mock_broker_set_up(dc->mc, id) : rd_kafka_mock_broker_set_down(dc->mc, id),
                         RD_KAFKA_RESP_ERR_NO_ERROR);
}

/* A producer on dc whose librdkafka notices quickly that brokers are back: short reconnect
 * backoffs (the defaults go up to 10 s). It notices them gone at once: the mock cluster closes
 * the connections and refuses new ones. extra: more rdkafka_options members ("" for none);
 * without extra, messages do not time out during a test. */
static void start_down_producer(tb_fix *f, tbr_loop *loop, const down_cluster *dc, const char *topic,
                                const char *extra) {
    start(f, loop, "kafka_producer",
          "{\"brokers\":[%s],\"topic\":\"%s\",\"rdkafka_options\":{\"reconnect.backoff.ms\":50,"
          "\"reconnect.backoff.max.ms\":500,%s}}",
          dc->brokers, topic, *extra ? extra : "\"message.timeout.ms\":600000");
}

/* Runs the loop until the instance's circuit breaker is open (or closed); fails after the
 * deadline. */
static void wait_circuit(tb_fix *f, tbr_loop *loop, bool open) {
    uint64_t deadline = tbr_now_ns() + DEADLINE_NS;
    while (tbr_context_circuit_open(f->inst->ctx) != open) {
        if (past(deadline)) fail_msg("the circuit breaker did not %s in 60 s", open ? "open" : "close");
        tbr_loop_run_once(loop, 50);
    }
}

/* Runs the loop for about ms milliseconds; the circuit breaker must stay open all along. */
static void stays_open(tb_fix *f, tbr_loop *loop, uint64_t ms) {
    uint64_t until = tbr_now_ns() + ms * 1000000u;
    while (!past(until)) {
        tbr_loop_run_once(loop, 50);
        if (!tbr_context_circuit_open(f->inst->ctx)) fail_msg("the circuit breaker closed while it should be open");
    }
}

/* Reads partitions 0..nparts-1 of topic on boot from the start until every one of the n values
 * want[i] came (duplicates, from librdkafka's retries across the outage, are allowed). */
static void read_all(const char *boot, const char *topic, int nparts, char (*want)[32], size_t n) {
    static const char *props[] = {"group.id", "reader", "enable.auto.commit", "false", NULL};
    rd_kafka_t *rk = plain_on(boot, RD_KAFKA_CONSUMER, props);
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(nparts);
    bool *seen = calloc(n, sizeof *seen);
    size_t have = 0;
    assert_non_null(seen);
    for (int p = 0; p < nparts; p++) rd_kafka_topic_partition_list_add(list, topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    assert_int_equal(rd_kafka_assign(rk, list), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_topic_partition_list_destroy(list);
    uint64_t deadline = tbr_now_ns() + DEADLINE_NS;
    while (have < n) {
        if (past(deadline)) fail_msg("read back %zu of %zu messages of %s in 60 s", have, n, topic);
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (!m) continue;
        for (size_t i = 0; !m->err && i < n; i++)
            if (!seen[i] && m->len == strlen(want[i]) && !memcmp(m->payload, want[i], m->len)) {
                seen[i] = true;
                have++;
            }
        rd_kafka_message_destroy(m);
    }
    free(seen);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
}

#define DOWN_BATCH 5     /* events per batch */
#define DOWN_MAX_BATCHES 400

/* Every broker goes down while events keep coming: the circuit opens (and stays open while
 * they are down), what was pushed waits in librdkafka, and once the brokers are back the
 * circuit closes and every event is delivered: none lost. */
static void test_producer_brokers_down(void **state) {
    tbr_loop *loop = tbr_loop_new();
    tb_fix f;
    down_cluster dc;
    tbr_delivery *d = calloc(DOWN_MAX_BATCHES, sizeof *d);
    char(*values)[32] = calloc(DOWN_MAX_BATCHES * DOWN_BATCH, sizeof *values);
    uint64_t batches = 0;
    (void)state;
    assert_non_null(d);
    assert_non_null(values);
    down_cluster_new(&dc, "p-down");
    start_down_producer(&f, loop, &dc, "p-down", "");
    /* a batch goes through: every broker is known and connected */
    assert_int_equal(push_batch(&f, 1, "b1", DOWN_BATCH, NULL), TB_EPENDING);
    batches = 1;
    wait_deliveries(&f, loop, d, 1);
    assert_int_equal(d[0].status, TB_OK);
    assert_false(tbr_context_circuit_open(f.inst->ctx));
    assert_int_equal(metric_value(&f, "brokers_reachable"), 1);

    /* every broker down; the sink keeps getting events until its circuit opens */
    set_brokers(&dc, false);
    uint64_t deadline = tbr_now_ns() + DEADLINE_NS;
    while (!tbr_context_circuit_open(f.inst->ctx)) {
        char prefix[16];
        if (past(deadline) || batches == DOWN_MAX_BATCHES - 1)
            fail_msg("the circuit breaker did not open after %" PRIu64 " batches", batches);
        batches++;
        snprintf(prefix, sizeof prefix, "b%" PRIu64, batches);
        assert_int_equal(push_batch(&f, batches, prefix, DOWN_BATCH, NULL), TB_EPENDING);
        tbr_loop_run_once(loop, 50);
    }
    assert_int_equal(metric_value(&f, "brokers_reachable"), 0);
    /* the runtime may still push what it had taken: it waits in librdkafka too */
    batches++;
    assert_int_equal(push_batch(&f, batches, "last", DOWN_BATCH, NULL), TB_EPENDING);
    /* nothing is reported while the brokers are down, and nothing closes the circuit */
    stays_open(&f, loop, 1500);
    assert_int_equal(tbr_context_take_deliveries(f.inst->ctx, d, DOWN_MAX_BATCHES), 0);

    /* back: every batch pushed during the outage is delivered, each reported once; the first
     * acknowledgement closed the circuit, before its batch was reported */
    set_brokers(&dc, true);
    size_t have = 0;
    deadline = tbr_now_ns() + DEADLINE_NS;
    while (have < batches - 1) {
        if (past(deadline)) fail_msg("%zu of %" PRIu64 " delivery reports after 60 s", have, batches - 1);
        tbr_loop_run_once(loop, 50);
        size_t taken = tbr_context_take_deliveries(f.inst->ctx, d + have, DOWN_MAX_BATCHES - have);
        if (taken && !have) assert_false(tbr_context_circuit_open(f.inst->ctx));
        have += taken;
    }
    assert_false(tbr_context_circuit_open(f.inst->ctx));
    assert_int_equal(metric_value(&f, "brokers_reachable"), 1);
    for (uint64_t b = 2; b <= batches; b++) {
        size_t seen = 0;
        for (uint64_t k = 0; k < batches - 1; k++)
            if (d[k].token == b) {
                seen++;
                assert_int_equal(d[k].status, TB_OK);
            }
        if (seen != 1) fail_msg("batch %" PRIu64 " was reported %zu times", b, seen);
    }
    /* and every event is in the topic */
    size_t n = 0;
    for (uint64_t b = 1; b <= batches; b++)
        for (int i = 0; i < DOWN_BATCH; i++) {
            if (b == batches) snprintf(values[n++], sizeof values[0], "last-%d", i);
            else snprintf(values[n++], sizeof values[0], "b%" PRIu64 "-%d", b, i);
        }
    read_all(dc.boot, "p-down", DOWN_BROKERS, values, n);
    tb_fix_stop(&f);
    down_cluster_free(&dc);
    tbr_loop_free(loop);
    free(values);
    free(d);
}

/* Every broker goes down while nothing is being sent: the circuit opens; no message will ever
 * be acknowledged, yet the circuit closes once the brokers are back, and sending resumes. */
static void test_producer_brokers_down_idle(void **state) {
    tbr_loop *loop = tbr_loop_new();
    tb_fix f;
    down_cluster dc;
    tbr_delivery d[1];
    char values[DOWN_BATCH][32];
    (void)state;
    down_cluster_new(&dc, "p-idle");
    start_down_producer(&f, loop, &dc, "p-idle", "");
    assert_int_equal(push_batch(&f, 1, "before", DOWN_BATCH, NULL), TB_EPENDING);
    wait_deliveries(&f, loop, d, 1);
    assert_int_equal(d[0].status, TB_OK);

    set_brokers(&dc, false);
    wait_circuit(&f, loop, true);
    assert_int_equal(metric_value(&f, "brokers_reachable"), 0);
    /* long enough for the broker probes (the first after a second) to find nobody */
    stays_open(&f, loop, 2500);

    set_brokers(&dc, true);
    wait_circuit(&f, loop, false);
    assert_int_equal(metric_value(&f, "brokers_reachable"), 1);
    assert_int_equal(push_batch(&f, 2, "after", DOWN_BATCH, NULL), TB_EPENDING);
    wait_deliveries(&f, loop, d, 1);
    assert_int_equal(d[0].token, 2);
    assert_int_equal(d[0].status, TB_OK);
    for (int i = 0; i < DOWN_BATCH; i++) snprintf(values[i], sizeof values[0], "after-%d", i);
    read_all(dc.boot, "p-idle", DOWN_BROKERS, values, DOWN_BATCH);
    tb_fix_stop(&f);
    down_cluster_free(&dc);
    tbr_loop_free(loop);
}

/* The circuit breaker's two reasons: librdkafka's queue is full while every broker is down.
 * The queued messages time out, which makes room, and the backlog follows them (failed too:
 * reported, none dropped); the queue-full reason ends, but the circuit stays open as long as
 * the brokers are down. */
static void test_producer_brokers_down_queue_full(void **state) {
    tbr_loop *loop = tbr_loop_new();
    tb_fix f;
    down_cluster dc;
    tbr_delivery d[2];
    (void)state;
    down_cluster_new(&dc, "p-both");
    /* room for 4 messages; a message waits at most 1.5 s for a broker */
    start_down_producer(&f, loop, &dc, "p-both",
                        "\"queue.buffering.max.messages\":4,\"message.timeout.ms\":1500");
    assert_int_equal(push_batch(&f, 1, "before", 3, NULL), TB_EPENDING);
    wait_deliveries(&f, loop, d, 1);
    assert_int_equal(d[0].status, TB_OK);

    set_brokers(&dc, false);
    wait_circuit(&f, loop, true);
    /* what the runtime still pushes fills the queue: 4 messages in it, 8 in the backlog */
    assert_int_equal(push_batch(&f, 2, "x", 6, NULL), TB_EPENDING);
    assert_int_equal(push_batch(&f, 3, "y", 6, NULL), TB_EPENDING);
    /* both batches time out, the backlog's messages after the queue's */
    wait_deliveries(&f, loop, d, 2);
    assert_int_equal(d[0].token, 2);
    assert_int_equal(d[1].token, 3);
    assert_true(d[0].status < 0);
    assert_true(d[1].status < 0);
    /* the backlog is gone, the brokers are not */
    stays_open(&f, loop, 2500);
    assert_int_equal(metric_value(&f, "brokers_reachable"), 0);

    set_brokers(&dc, true);
    wait_circuit(&f, loop, false);
    assert_int_equal(push_batch(&f, 4, "after", 3, NULL), TB_EPENDING);
    wait_deliveries(&f, loop, d, 1);
    assert_int_equal(d[0].token, 4);
    assert_int_equal(d[0].status, TB_OK);
    tb_fix_stop(&f);
    down_cluster_free(&dc);
    tbr_loop_free(loop);
}

/* ---- the group ------------------------------------------------------------------------ */

static int group_setup(void **state) {
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    /* it connects nowhere: no warning about that */
    if (rd_kafka_conf_set(conf, "log_level", "4", err, sizeof err)) return -1;
    if (!(keeper = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err))) return -1;
    if (!(mc = rd_kafka_mock_cluster_new(keeper, 1))) return -1;
    snprintf(brokers, sizeof brokers, "%s", rd_kafka_mock_cluster_bootstraps(mc));
    return tb_fix_group_setup(state);
}

static int group_teardown(void **state) {
    rd_kafka_mock_cluster_destroy(mc);
    rd_kafka_destroy(keeper);
    return tb_fix_group_teardown(state);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_producer_delivers),
        cmocka_unit_test(test_producer_delivery_failure),
        cmocka_unit_test(test_producer_backpressure),
        cmocka_unit_test(test_producer_drain),
        cmocka_unit_test(test_producer_stop_fails_pending),
        cmocka_unit_test(test_producer_brokers_down),
        cmocka_unit_test(test_producer_brokers_down_idle),
        cmocka_unit_test(test_producer_brokers_down_queue_full),
        cmocka_unit_test(test_consumer_commits_acked),
        cmocka_unit_test(test_consumer_lag),
        cmocka_unit_test(test_consumer_answer_covers_pull),
        cmocka_unit_test(test_consumer_unacked_blocks),
        cmocka_unit_test(test_consumer_replays_failed),
        cmocka_unit_test(test_consumer_pause_resume),
        cmocka_unit_test(test_consumer_rebalance),
        cmocka_unit_test(test_consumer_revoke_commits),
        cmocka_unit_test(test_consumer_bad_config),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
