/*
 * test_generic.c - generic::counter and generic::batch, checked against Tremor 0.13's
 * behaviour (its own unit tests: op/generic/counter.rs, op/generic/batch.rs) and against
 * temblor's rules: held events outlive their batch's arena, odd input goes to err.
 *
 * Thread contract: single-threaded cmocka tests.
 */
#include <stdlib.h>
#include <string.h>

#include "harness.h"

/* --- generic::counter ------------------------------------------------------------------------- */

static void test_counter(void **state) {
    (void)state;
    op_fix f;
    op_start(&f, "generic::counter", NULL);
    op_begin(&f);
    op_event(&f, "\"snot\"", "{\"m\":1}", 7, 10);
    op_event(&f, "{\"a\":[1,2]}", NULL, 8, 20);
    op_event(&f, "null", NULL, 9, 30);
    assert_int_equal(op_process(&f), TB_OK);
    op_assert_ports(&f, "out,out,out");
    op_assert_json(&f.out.events[0].data, "{\"count\":1,\"event\":\"snot\"}");
    op_assert_json(&f.out.events[1].data, "{\"count\":2,\"event\":{\"a\":[1,2]}}");
    op_assert_json(&f.out.events[2].data, "{\"count\":3,\"event\":null}");
    /* the count is unsigned, as Tremor's; metadata, id and times are kept */
    assert_int_equal(tb_object_getz(&f.out.events[0].data, "count")->type, TB_U64);
    op_assert_json(&f.out.events[0].meta, "{\"m\":1}");
    assert_int_equal(f.out.events[1].id, 8);
    assert_int_equal(f.out.events[2].ingest_ns, 30);

    /* the count goes on across batches */
    op_begin(&f);
    op_event(&f, "1", NULL, 10, 40);
    assert_int_equal(op_process(&f), TB_OK);
    op_assert_json(&f.out.events[0].data, "{\"count\":4,\"event\":1}");

    /* and starts again from 1 in a new instance */
    op_stop(&f);
    op_start(&f, "generic::counter", NULL);
    op_begin(&f);
    op_event(&f, "true", NULL, 1, 1);
    assert_int_equal(op_process(&f), TB_OK);
    op_assert_json(&f.out.events[0].data, "{\"count\":1,\"event\":true}");
    op_stop(&f);
}

/* --- generic::batch --------------------------------------------------------------------------- */

/* One event in its own batch (a fresh arena each), processed. */
static void feed(op_fix *f, const char *data, const char *meta, uint64_t id, uint64_t ingest_ns) {
    op_begin(f);
    op_event(f, data, meta, id, ingest_ns);
    assert_int_equal(op_process(f), TB_OK);
}

/* Tremor's `size` test: count 2 emits every second event, as one. */
static void test_batch_count(void **state) {
    (void)state;
    op_fix f;
    op_start(&f, "generic::batch", "{\"count\":2}");
    feed(&f, "\"snot\"", "{\"k\":\"v\"}", 100, 1);
    assert_int_equal(f.out.count, 0);
    feed(&f, "\"badger\"", NULL, 101, 1);
    op_assert_ports(&f, "out");
    const tb_event *b = &f.out.events[0];
    op_assert_json(&b->data, "[\"snot\",\"badger\"]");
    /* every original id, with its metadata, for acks and fails */
    op_assert_json(&b->meta,
                   "{\"batch\":[{\"id\":100,\"source\":5,\"stream\":3,\"ingest_ns\":1,"
                   "\"meta\":{\"k\":\"v\"}},{\"id\":101,\"source\":5,\"stream\":3,"
                   "\"ingest_ns\":1,\"meta\":{}}]}");
    assert_int_equal(b->id, 0); /* the instance's own batch sequence */
    assert_int_equal(b->ingest_ns, 1);
    assert_int_equal(b->source, 5);
    assert_int_equal(b->stream, 3);
    assert_int_equal(b->flags, 0);

    feed(&f, "\"snot\"", NULL, 102, 1);
    assert_int_equal(f.out.count, 0);
    feed(&f, "3", NULL, 103, 2);
    op_assert_ports(&f, "out");
    op_assert_json(&f.out.events[0].data, "[\"snot\",3]");
    assert_int_equal(f.out.events[0].id, 1);
    assert_int_equal(op_metric(&f, "batches"), 2);
    assert_int_equal(op_metric(&f, "events_batched"), 4);
    op_stop(&f);
}

/* Several full batches out of one input batch, in order. */
static void test_batch_many_in_one(void **state) {
    (void)state;
    op_fix f;
    op_start(&f, "generic::batch", "{\"count\":3}");
    static const char *const data[] = {"1", "2", "3", "4", "5", "6", "7"};
    op_batch(&f, 9, data, 7);
    assert_int_equal(op_process(&f), TB_OK);
    op_assert_ports(&f, "out,out");
    op_assert_json(&f.out.events[0].data, "[1,2,3]");
    op_assert_json(&f.out.events[1].data, "[4,5,6]");
    op_begin(&f);
    op_event(&f, "8", NULL, 8, 9);
    op_event(&f, "9", NULL, 9, 9);
    assert_int_equal(op_process(&f), TB_OK);
    op_assert_ports(&f, "out");
    op_assert_json(&f.out.events[0].data, "[7,8,9]");
    op_stop(&f);
}

/* Tremor's `time` test: timeout 1 ns; the second event, 2 ms after the first, closes it. */
static void test_batch_timeout_on_event(void **state) {
    (void)state;
    op_fix f;
    op_start(&f, "generic::batch", "{\"count\":100,\"timeout\":1}");
    feed(&f, "\"snot\"", NULL, 1, 1);
    assert_int_equal(f.out.count, 0);
    feed(&f, "\"badger\"", NULL, 2, 2000000);
    op_assert_ports(&f, "out");
    op_assert_json(&f.out.events[0].data, "[\"snot\",\"badger\"]");
    assert_int_equal(f.out.events[0].ingest_ns, 1);
    /* 1 ns apart is not more than the timeout */
    feed(&f, "\"snot\"", NULL, 3, 1);
    assert_int_equal(f.out.count, 0);
    feed(&f, "\"snot\"", NULL, 4, 2);
    assert_int_equal(f.out.count, 0);
    /* an event older than the first (out-of-order ingest) has waited nothing */
    feed(&f, "0", NULL, 5, 0);
    assert_int_equal(f.out.count, 0);
    feed(&f, "\"late\"", NULL, 6, 3);
    op_assert_ports(&f, "out");
    op_assert_json(&f.out.events[0].data, "[\"snot\",\"snot\",0,\"late\"]");
    op_stop(&f);
}

/* Tremor's `signal` test: a tick past the timeout emits the partial batch. */
static void test_batch_timeout_on_tick(void **state) {
    (void)state;
    op_fix f;
    op_start(&f, "generic::batch", "{\"count\":100,\"timeout\":1000000}");
    feed(&f, "\"snot\"", "{\"a\":{\"b\":[\"c\"]}}", 1, 1);
    assert_int_equal(f.out.count, 0);
    op_begin(&f);
    assert_int_equal(op_tick(&f, 1000001), TB_OK); /* exactly the timeout: not more */
    assert_int_equal(f.out.count, 0);
    assert_int_equal(op_tick(&f, 2000000), TB_OK);
    op_assert_ports(&f, "out");
    op_assert_json(&f.out.events[0].data, "[\"snot\"]");
    op_assert_json(&f.out.events[0].meta,
                   "{\"batch\":[{\"id\":1,\"source\":5,\"stream\":3,\"ingest_ns\":1,"
                   "\"meta\":{\"a\":{\"b\":[\"c\"]}}}]}");
    feed(&f, "\"snot\"", NULL, 2, 1);
    assert_int_equal(f.out.count, 0);
    feed(&f, "\"snot\"", NULL, 3, 2);
    assert_int_equal(f.out.count, 0);
    op_stop(&f);
}

/* Tremor's `forbid_empty_batches`: a tick never emits an empty batch. */
static void test_batch_no_empty_batches(void **state) {
    (void)state;
    op_fix f;
    op_start(&f, "generic::batch", "{\"count\":2,\"timeout\":100000}");
    op_begin(&f);
    assert_int_equal(op_tick(&f, 1000000), TB_OK);
    assert_int_equal(f.out.count, 0);
    feed(&f, "\"snot\"", NULL, 1, 2000000);
    assert_int_equal(f.out.count, 0);
    op_begin(&f);
    assert_int_equal(op_tick(&f, 3000000), TB_OK);
    op_assert_ports(&f, "out");
    op_begin(&f);
    assert_int_equal(op_tick(&f, 4000000), TB_OK);
    assert_int_equal(f.out.count, 0);
    op_stop(&f);
}

/* Without a timeout, ticks never emit. */
static void test_batch_no_timeout(void **state) {
    (void)state;
    op_fix f;
    op_start(&f, "generic::batch", "{\"count\":5}");
    feed(&f, "1", NULL, 1, 1);
    op_begin(&f);
    assert_int_equal(op_tick(&f, UINT64_MAX), TB_OK);
    assert_int_equal(f.out.count, 0);
    op_stop(&f); /* destroyed with an event held: its memory goes back too */
}

/* The batched event is transactional when any of its events is; source and stream only
 * when all share them. */
static void test_batch_header(void **state) {
    (void)state;
    op_fix f;
    op_start(&f, "generic::batch", "{\"count\":2}");
    op_begin(&f);
    tb_event *a = op_event(&f, "1", NULL, 1, 10);
    a->flags = TB_EF_TRANSACTIONAL | TB_EF_STREAM_END;
    tb_event *b = op_event(&f, "2", NULL, 2, 20);
    b->source = 6;
    assert_int_equal(op_process(&f), TB_OK);
    op_assert_ports(&f, "out");
    assert_int_equal(f.out.events[0].flags, TB_EF_TRANSACTIONAL);
    assert_int_equal(f.out.events[0].source, 0);
    assert_int_equal(f.out.events[0].stream, 3);
    assert_int_equal(f.out.events[0].ingest_ns, 10);
    op_stop(&f);
}

/* Every kind of value survives being held across batches, including bytes, empty strings
 * and containers, and values built with spare capacity. */
static void test_batch_values(void **state) {
    (void)state;
    op_fix f;
    op_start(&f, "generic::batch", "{\"count\":3}");
    feed(&f, "{\"s\":\"x\\ny\",\"e\":\"\",\"n\":-5,\"u\":18446744073709551615,\"f\":0.5,"
             "\"t\":true,\"z\":null,\"a\":[],\"o\":{},\"deep\":[[[{\"k\":[\"v\"]}]]]}",
         "{\"m\":[1,{\"x\":\"y\"}]}", 1, 1);
    op_begin(&f);
    tb_event *e = op_event(&f, "null", NULL, 2, 2);
    uint8_t *bytes = tb_arena_alloc(f.arena, 3, 1);
    memcpy(bytes, "\x00\xff\x10", 3);
    e->data = tb_bytes(bytes, 3);
    tb_value arr = tb_array();
    for (int i = 0; i < 5; i++) *tb_array_push(f.arena, &arr) = tb_i64(i); /* capacity 8 */
    *tb_object_append(f.arena, &e->meta, "arr", 3) = arr;
    assert_int_equal(op_process(&f), TB_OK);
    assert_int_equal(f.out.count, 0);
    feed(&f, "\"last\"", NULL, 3, 3);
    op_assert_ports(&f, "out");
    op_assert_json(&f.out.events[0].data,
                   "[{\"s\":\"x\\ny\",\"e\":\"\",\"n\":-5,\"u\":18446744073709551615,\"f\":0.5,"
                   "\"t\":true,\"z\":null,\"a\":[],\"o\":{},\"deep\":[[[{\"k\":[\"v\"]}]]]},"
                   "[0,255,16],\"last\"]");
    const tb_value *items = f.out.events[0].data.as.items;
    assert_int_equal(items[1].type, TB_BYTES);
    assert_int_equal(tb_object_getz(&items[0], "u")->type, TB_U64);
    const tb_value *records = tb_object_getz(&f.out.events[0].meta, "batch")->as.items;
    op_assert_json(tb_object_getz(&records[0], "meta"), "{\"m\":[1,{\"x\":\"y\"}]}");
    op_assert_json(tb_object_getz(&records[1], "meta"), "{\"arr\":[0,1,2,3,4]}");
    /* the output lives in the output batch's arena, not the instance's memory */
    op_stop(&f);
}

/* A long run through tiny arenas: many pool chunks, big values, every batch right. */
static void test_batch_volume(void **state) {
    (void)state;
    op_fix f;
    op_start(&f, "generic::batch", "{\"count\":50}");
    char text[3000];
    for (uint32_t n = 0; n < 500; n++) {
        size_t used = (size_t)snprintf(text, sizeof text, "{\"n\":%u,\"pad\":\"", n);
        for (uint32_t k = 0; k < (n % 7) * 300; k++) text[used++] = (char)('a' + k % 26);
        snprintf(text + used, sizeof text - used, "\"}");
        feed(&f, text, NULL, n, n);
        if (n % 50 != 49) {
            assert_int_equal(f.out.count, 0);
            continue;
        }
        op_assert_ports(&f, "out");
        const tb_value *data = &f.out.events[0].data;
        assert_int_equal(data->len, 50);
        for (uint32_t k = 0; k < 50; k++) {
            const tb_value *v = tb_object_getz(&data->as.items[k], "n");
            assert_int_equal(v->as.i, n - 49 + k);
            uint32_t want = ((n - 49 + k) % 7) * 300;
            assert_int_equal(tb_object_getz(&data->as.items[k], "pad")->len, want);
        }
    }
    assert_int_equal(op_metric(&f, "batches"), 10);
    op_stop(&f);
}

/* Nests arrays depth deep in arena; the innermost holds 1. */
static tb_value nested(tb_arena *a, int depth) {
    tb_value v = tb_i64(1);
    for (int i = 0; i < depth; i++) {
        tb_value arr = tb_array();
        *tb_array_push(a, &arr) = v;
        v = arr;
    }
    return v;
}

static char *nested_json(int depth) {
    char *s = malloc((size_t)depth * 2 + 2);
    assert_non_null(s);
    memset(s, '[', (size_t)depth);
    s[depth] = '1';
    memset(s + depth + 1, ']', (size_t)depth);
    s[2 * depth + 1] = '\0';
    return s;
}

/* An event that cannot be held goes to err and the batch goes on without it. */
static void test_batch_refusals(void **state) {
    (void)state;
    op_fix f;
    op_start(&f, "generic::batch", "{\"count\":2}");
    op_begin(&f);
    op_event(&f, "\"a\"", NULL, 1, 1);
    tb_event *deep = op_event(&f, "null", NULL, 2, 2);
    deep->data = nested(f.arena, 600);
    op_event(&f, "\"b\"", NULL, 3, 3);
    assert_int_equal(op_process(&f), TB_OK);
    op_assert_ports(&f, "err,out");
    char *json = nested_json(600);
    op_assert_failed(&f, 0, "generic::batch: cannot hold the event: its value is nested more "
                            "than 512 levels deep", json);
    free(json);
    assert_int_equal(f.out.events[0].id, 2);
    op_assert_json(&f.out.events[1].data, "[\"a\",\"b\"]");
    /* 512 levels are fine */
    op_begin(&f);
    tb_event *ok = op_event(&f, "null", NULL, 4, 4);
    ok->data = nested(f.arena, 511);
    op_event(&f, "\"c\"", NULL, 5, 5);
    assert_int_equal(op_process(&f), TB_OK);
    op_assert_ports(&f, "out");
    assert_int_equal(op_metric(&f, "events_failed"), 1);

    /* out of memory (a limit on the plugin): the event is refused, not lost silently; it is
     * bigger than the pool's chunk, so holding it needs new memory */
    char *big = malloc(9003);
    assert_non_null(big);
    big[0] = '"';
    memset(big + 1, 'x', 9000);
    memcpy(big + 9001, "\"", 2);
    tbr_plugin *p = f.inst->component->plugin;
    p->mem_limit = atomic_load(&p->mem_live) + 64;
    feed(&f, big, NULL, 6, 6);
    p->mem_limit = 0;
    op_assert_ports(&f, "err");
    op_assert_failed(&f, 0, "generic::batch: cannot hold the event: out of memory", big);
    free(big);
    feed(&f, "1", NULL, 7, 7);
    feed(&f, "2", NULL, 8, 8);
    op_assert_ports(&f, "out");
    op_assert_json(&f.out.events[0].data, "[1,2]");
    op_stop(&f);
}

static void expect_bad_config(const char *config, const char *needle) {
    op_fix f;
    char err[512] = "";
    assert_int_equal(op_try_start(&f, "generic::batch", config, err, sizeof err), TB_EINVAL);
    if (!strstr(err, needle)) fail_msg("config %s: \"%s\" lacks \"%s\"", config, err, needle);
    op_stop(&f);
}

static void test_batch_config(void **state) {
    (void)state;
    expect_bad_config(NULL, "required option 'count' (uint) is missing");
    expect_bad_config("{\"count\":0}", "count must be between 1 and 4294967295, found 0");
    expect_bad_config("{\"count\":4294967296}", "found 4294967296");
    expect_bad_config("{\"count\":-1}", "option 'count': expected uint, found int");
    expect_bad_config("{\"count\":2,\"timeout\":\"1s\"}", "option 'timeout': expected uint");
    expect_bad_config("{\"count\":2,\"size\":1}", "unknown option 'size'");
}

/* --- handover on a reload --------------------------------------------------------------------- */

static void counter_step(op_fix *f, uint32_t step) {
    for (uint32_t i = 0; i <= step % 3; i++) op_event(f, "\"e\"", NULL, step * 10 + i, step);
    assert_int_equal(op_process(f), TB_OK);
}

/* The count goes on in the new instance. */
static void test_counter_handover(void **state) {
    (void)state;
    op_assert_handover("generic::counter", NULL, counter_step, 6);

    op_fix f;
    op_start(&f, "generic::counter", NULL);
    op_begin(&f);
    counter_step(&f, 2);
    tb_arena *a = tbr_arena_new(0);
    assert_non_null(a);
    tb_value saved = op_save(&f, a);
    op_assert_json(&saved, "{\"count\":3}");
    /* a newer build's members are ignored */
    *tb_object_append(a, &saved, "future", 6) = tb_stringz("x");
    saved.as.members[0].value = tb_i64(41);
    op_stop(&f);
    op_start(&f, "generic::counter", NULL);
    char err[256];
    assert_int_equal(op_restore(&f, &saved, err, sizeof err), TB_OK);
    tbr_arena_free(a);
    op_begin(&f);
    op_event(&f, "true", NULL, 1, 1);
    assert_int_equal(op_process(&f), TB_OK);
    op_assert_json(&f.out.events[0].data, "{\"count\":42,\"event\":true}");
    op_stop(&f);
}

static void test_counter_restore_garbage(void **state) {
    (void)state;
    const char *why = "generic::counter: cannot restore from a";
    op_assert_restore("generic::counter", NULL, "null", TB_OK, NULL); /* no state: from 0 */
    op_assert_restore("generic::counter", NULL, "\"junk\"", TB_EINVAL, "from a string without");
    op_assert_restore("generic::counter", NULL, "[3]", TB_EINVAL, why);
    op_assert_restore("generic::counter", NULL, "{}", TB_EINVAL, why);
    op_assert_restore("generic::counter", NULL, "{\"count\":\"3\"}", TB_EINVAL, why);
    op_assert_restore("generic::counter", NULL, "{\"count\":-3}", TB_EINVAL, why);
    op_assert_restore("generic::counter", NULL, "{\"count\":1.5}", TB_EINVAL, why);
}

/* Events of every shape, held across the handover, timeouts on events and on ticks. */
static void batch_step(op_fix *f, uint32_t step) {
    const uint64_t t = (uint64_t)step * 400000; /* 0.4 ms a step; the timeout is 1 ms */
    tb_event *e;
    switch (step % 6) {
    case 0:
        e = op_event(f, "\"snot\"", "{\"k\":\"v\"}", 100 + step, t);
        e->flags = TB_EF_TRANSACTIONAL;
        break;
    case 1: {
        e = op_event(f, "{\"a\":[1,{\"b\":null}],\"u\":18446744073709551615,\"f\":-0.25}",
                     "{\"m\":[1,2],\"e\":{}}", 200 + step, t);
        e->stream = 7;
        e->source = 9;
        e = op_event(f, "null", NULL, 300 + step, t + 1);
        uint8_t *bytes = tb_arena_alloc(f->arena, 4, 1);
        memcpy(bytes, "\x00\x01\xfe\xff", 4);
        e->data = tb_bytes(bytes, 4);
        e->flags = TB_EF_STREAM_END;
        break;
    }
    case 2:
        assert_int_equal(op_tick(f, t), TB_OK);
        return;
    case 3:
        op_event(f, "[]", "\"not a record\"", 400 + step, t - 1000000); /* out of order */
        break;
    case 4:
        for (uint32_t i = 0; i < 5; i++) op_event(f, "1", NULL, 500 + step * 10 + i, t);
        break;
    default:
        assert_int_equal(op_tick(f, t + 2000000), TB_OK);
        return;
    }
    assert_int_equal(op_process(f), TB_OK);
}

/* Held events, the timeout's start and the batch sequence go on in the new instance, which
 * emits exactly what one instance would have. */
static void test_batch_handover(void **state) {
    (void)state;
    op_assert_handover("generic::batch", "{\"count\":4,\"timeout\":1000000}", batch_step, 18);
    op_assert_handover("generic::batch", "{\"count\":3}", batch_step, 18);
}

/* What save describes: every held event in full, copied. */
static void test_batch_saved_value(void **state) {
    (void)state;
    op_fix f;
    op_start(&f, "generic::batch", "{\"count\":3}");
    feed(&f, "1", NULL, 1, 1);
    feed(&f, "2", NULL, 2, 2);
    feed(&f, "3", NULL, 3, 3); /* batch 0 out */
    op_begin(&f);
    tb_event *e = op_event(&f, "{\"x\":\"y\"}", "{\"m\":[true]}", 17, 1000);
    e->flags = TB_EF_TRANSACTIONAL | TB_EF_STREAM_END;
    e->stream = 70000;
    e->source = 6;
    assert_int_equal(op_process(&f), TB_OK);
    tb_arena *a = tbr_arena_new(64);
    assert_non_null(a);
    tb_value saved = op_save(&f, a);
    op_assert_json(&saved, "{\"next_id\":1,\"first_ns\":1000,\"events\":[{\"data\":{\"x\":\"y\"},"
                           "\"meta\":{\"m\":[true]},\"id\":17,\"ingest_ns\":1000,\"source\":6,"
                           "\"stream\":70000,\"flags\":12}]}");
    /* nothing in it points into the instance or the batch it came in */
    op_begin(&f);
    op_stop(&f);
    op_assert_json(&saved, "{\"next_id\":1,\"first_ns\":1000,\"events\":[{\"data\":{\"x\":\"y\"},"
                           "\"meta\":{\"m\":[true]},\"id\":17,\"ingest_ns\":1000,\"source\":6,"
                           "\"stream\":70000,\"flags\":12}]}");

    /* restored, with a member a newer build added, it goes on: no held event is lost */
    *tb_object_append(a, &saved, "future", 6) = tb_u64(1);
    op_start(&f, "generic::batch", "{\"count\":3}");
    char err[256];
    assert_int_equal(op_restore(&f, &saved, err, sizeof err), TB_OK);
    tbr_arena_free(a);
    feed(&f, "5", NULL, 18, 1001);
    assert_int_equal(f.out.count, 0);
    feed(&f, "6", NULL, 19, 1002);
    op_assert_ports(&f, "out");
    op_assert_json(&f.out.events[0].data, "[{\"x\":\"y\"},5,6]");
    assert_int_equal(f.out.events[0].id, 1);
    assert_int_equal(f.out.events[0].flags, TB_EF_TRANSACTIONAL);
    assert_int_equal(f.out.events[0].ingest_ns, 1000);
    assert_int_equal(f.out.events[0].stream, 0); /* 70000 and 3 */
    op_assert_json(&f.out.events[0].meta,
                   "{\"batch\":[{\"id\":17,\"source\":6,\"stream\":70000,\"ingest_ns\":1000,"
                   "\"meta\":{\"m\":[true]}},{\"id\":18,\"source\":5,\"stream\":3,\"ingest_ns\":"
                   "1001,\"meta\":{}},{\"id\":19,\"source\":5,\"stream\":3,\"ingest_ns\":1002,"
                   "\"meta\":{}}]}");
    op_stop(&f);
}

static void *TB_CALL no_grow(tb_arena *arena, size_t size, size_t align) {
    (void)arena;
    (void)size;
    (void)align;
    return NULL;
}

/* A batch left full by a flush that ran out of memory is handed over too, and goes first. */
static void test_batch_handover_full(void **state) {
    (void)state;
    op_fix f;
    op_start(&f, "generic::batch", "{\"count\":2}");
    feed(&f, "1", NULL, 1, 1);
    op_begin(&f);
    op_event(&f, "2", NULL, 2, 2);
    tb_arena_grow_fn grow = f.arena->grow;
    f.arena->grow = no_grow; /* the output batch's arena is out of memory */
    assert_int_equal(op_process(&f), TB_ENOMEM);
    f.arena->grow = grow;
    op_handover(&f, false);
    feed(&f, "3", NULL, 3, 3);
    op_assert_ports(&f, "out");
    op_assert_json(&f.out.events[0].data, "[1,2]");
    assert_int_equal(f.out.events[0].id, 0);
    feed(&f, "4", NULL, 4, 4);
    op_assert_ports(&f, "out");
    op_assert_json(&f.out.events[0].data, "[3,4]");
    assert_int_equal(f.out.events[0].id, 1);
    op_stop(&f);
}

static void test_batch_restore_garbage(void **state) {
    (void)state;
    const char *cfg = "{\"count\":2}";
    const char *why = "generic::batch: cannot restore from a";
    const char *bad_event = "generic::batch: cannot restore events[0]: expected a record";
    op_assert_restore("generic::batch", cfg, "null", TB_OK, NULL);
    op_assert_restore("generic::batch", cfg, "\"junk\"", TB_EINVAL, "from a string without");
    op_assert_restore("generic::batch", cfg, "[]", TB_EINVAL, why);
    op_assert_restore("generic::batch", cfg, "{\"next_id\":0,\"first_ns\":0}", TB_EINVAL, why);
    op_assert_restore("generic::batch", cfg, "{\"next_id\":-1,\"first_ns\":0,\"events\":[]}",
                      TB_EINVAL, why);
    op_assert_restore("generic::batch", cfg, "{\"next_id\":0,\"first_ns\":0,\"events\":{}}",
                      TB_EINVAL, why);
    op_assert_restore("generic::batch", cfg, "{\"next_id\":0,\"first_ns\":0,\"events\":[1]}",
                      TB_EINVAL, bad_event);
    op_assert_restore("generic::batch", cfg,
                      "{\"next_id\":0,\"first_ns\":0,\"events\":[{\"data\":1,\"id\":1,"
                      "\"ingest_ns\":1,\"source\":1,\"stream\":1,\"flags\":0}]}",
                      TB_EINVAL, bad_event); /* no meta */
    op_assert_restore("generic::batch", cfg,
                      "{\"next_id\":0,\"first_ns\":0,\"events\":[{\"data\":1,\"meta\":{},"
                      "\"id\":1,\"ingest_ns\":1,\"source\":1,\"stream\":1,\"flags\":65536}]}",
                      TB_EINVAL, bad_event);
    op_assert_restore("generic::batch", cfg,
                      "{\"next_id\":0,\"first_ns\":0,\"events\":[{\"data\":1,\"meta\":{},"
                      "\"id\":\"1\",\"ingest_ns\":1,\"source\":1,\"stream\":1,\"flags\":0}]}",
                      TB_EINVAL, bad_event);
    op_assert_restore("generic::batch", cfg,
                      "{\"next_id\":0,\"first_ns\":0,\"events\":[{\"data\":1,\"meta\":{},"
                      "\"id\":1,\"ingest_ns\":1,\"source\":4294967296,\"stream\":1,\"flags\":0}]}",
                      TB_EINVAL, bad_event);
    /* more events than a batch of this configuration holds */
    op_assert_restore("generic::batch", cfg,
                      "{\"next_id\":0,\"first_ns\":0,\"events\":["
                      "{\"data\":1,\"meta\":{},\"id\":1,\"ingest_ns\":1,\"source\":1,\"stream\":1,"
                      "\"flags\":0},"
                      "{\"data\":2,\"meta\":{},\"id\":2,\"ingest_ns\":1,\"source\":1,\"stream\":1,"
                      "\"flags\":0},"
                      "{\"data\":3,\"meta\":{},\"id\":3,\"ingest_ns\":1,\"source\":1,\"stream\":1,"
                      "\"flags\":0}]}",
                      TB_EINVAL, "cannot restore a batch of 3 events with count 2");
    /* a good one: the event restored and the one op_assert_restore feeds make a batch */
    op_assert_restore("generic::batch", cfg,
                      "{\"next_id\":7,\"first_ns\":1,\"events\":[{\"data\":1,\"meta\":{},\"id\":1,"
                      "\"ingest_ns\":1,\"source\":1,\"stream\":1,\"flags\":0}],\"v\":2}",
                      TB_OK, NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counter),
        cmocka_unit_test(test_batch_count),
        cmocka_unit_test(test_batch_many_in_one),
        cmocka_unit_test(test_batch_timeout_on_event),
        cmocka_unit_test(test_batch_timeout_on_tick),
        cmocka_unit_test(test_batch_no_empty_batches),
        cmocka_unit_test(test_batch_no_timeout),
        cmocka_unit_test(test_batch_header),
        cmocka_unit_test(test_batch_values),
        cmocka_unit_test(test_batch_volume),
        cmocka_unit_test(test_batch_refusals),
        cmocka_unit_test(test_batch_config),
        cmocka_unit_test(test_counter_handover),
        cmocka_unit_test(test_counter_restore_garbage),
        cmocka_unit_test(test_batch_handover),
        cmocka_unit_test(test_batch_saved_value),
        cmocka_unit_test(test_batch_handover_full),
        cmocka_unit_test(test_batch_restore_garbage),
    };
    return cmocka_run_group_tests_name("operator generic", tests, op_group_setup,
                                       op_group_teardown);
}
