/*
 * test_grouper.c - grouper::bucket, checked against Tremor 0.13's behaviour (its unit test
 * in op/grouper/bucket.rs and the sliding TimeWindow of its `window` crate), against the
 * bounds temblor adds (classes, windows, memory) and against odd metadata.
 *
 * Time is the events' ingest_ns throughout; MS turns milliseconds into it.
 *
 * Thread contract: single-threaded cmocka tests.
 */
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define MS 1000000ull

/* Processes one event with meta_json at t_ns in a batch of its own; returns its port. */
static const char *judge(op_fix *f, const char *meta_json, uint64_t t_ns) {
    op_begin(f);
    op_event(f, "\"snot\"", meta_json, 1, t_ns);
    assert_int_equal(op_process(f), TB_OK);
    assert_int_equal(f->out.count, 1);
    return op_port_name(f, f->out.events[0].port);
}

#define ASSERT_PORT(f, meta, t, port) assert_string_equal(judge(f, meta, t), port)

/* Tremor's `bucket` test, step by step. */
static void test_bucket_tremor(void **state) {
    (void)state;
    op_fix f;
    op_start(&f, "grouper::bucket", NULL);
    op_begin(&f);
    op_event(&f, "\"snot\"", NULL, 1, 1);
    assert_int_equal(op_process(&f), TB_OK);
    op_assert_ports(&f, "err");
    op_assert_failed(&f, 0, "grouper::bucket: $class is missing", "\"snot\"");

    const char *meta = "{\"class\":\"test\",\"rate\":2}";
    op_begin(&f);
    tb_event *e = op_event(&f, "\"snot\"", meta, 1, 1);
    e->flags = TB_EF_TRANSACTIONAL;
    op_event(&f, "\"snot\"", meta, 2, 1);
    op_event(&f, "\"snot\"", meta, 3, 1);
    assert_int_equal(op_process(&f), TB_OK);
    op_assert_ports(&f, "out,out,overflow");
    /* events pass unchanged, metadata kept */
    for (uint32_t i = 0; i < 3; i++) {
        tb_event want = f.in.events[i];
        want.port = f.out.events[i].port;
        assert_memory_equal(&f.out.events[i], &want, sizeof want);
    }
    /* ten seconds later the window is empty again */
    ASSERT_PORT(&f, meta, 10000000002ull, "out");
    assert_int_equal(op_metric(&f, "pass"), 3);
    assert_int_equal(op_metric(&f, "overflow"), 1);
    assert_int_equal(op_metric(&f, "errors"), 1);
    assert_int_equal(op_metric(&f, "classes"), 1);
    assert_int_equal(op_metric(&f, "dimensions"), 1);
    op_stop(&f);
}

/* The window slides one slot (time_range / windows ms) at a time, as Tremor's TimeWindow:
 * a slot moves only once more than a slot has passed since the window last moved. */
static void test_bucket_sliding(void **state) {
    (void)state;
    op_fix f;
    op_start(&f, "grouper::bucket", NULL);
    const char *meta = "{\"class\":\"c\",\"rate\":2,\"time_range\":1000,\"windows\":10}";
    ASSERT_PORT(&f, meta, 1000 * MS, "out");
    ASSERT_PORT(&f, meta, 1000 * MS, "out");
    ASSERT_PORT(&f, meta, 1050 * MS, "overflow");
    ASSERT_PORT(&f, meta, 1150 * MS, "overflow"); /* one slot on: both still in the window */
    ASSERT_PORT(&f, meta, 1990 * MS, "overflow"); /* eight more: still in */
    ASSERT_PORT(&f, meta, 2100 * MS, "out");      /* the tenth slot drops them */
    ASSERT_PORT(&f, meta, 2100 * MS, "out");
    /* exactly a slot later: the window does not move, nor does the time it last moved */
    ASSERT_PORT(&f, meta, 2200 * MS, "overflow");
    /* so more than the whole window after that move (2100 ms) it is empty */
    ASSERT_PORT(&f, meta, 3101 * MS, "out");
    ASSERT_PORT(&f, meta, 5000 * MS, "out");
    /* an event older than the window's last move counts in the current slot */
    ASSERT_PORT(&f, meta, 1 * MS, "out");
    ASSERT_PORT(&f, meta, 1 * MS, "overflow");
    op_stop(&f);
}

/* A rate of 0 lets nothing through; the window of a pair is shaped by its first event. */
static void test_bucket_shapes(void **state) {
    (void)state;
    op_fix f;
    op_start(&f, "grouper::bucket", NULL);
    ASSERT_PORT(&f, "{\"class\":\"none\",\"rate\":0}", 1, "overflow");
    ASSERT_PORT(&f, "{\"class\":\"none\",\"rate\":100}", 2, "overflow");
    /* once a window exists, $rate is not needed (nor read), as in Tremor */
    ASSERT_PORT(&f, "{\"class\":\"one\",\"rate\":1}", 1, "out");
    ASSERT_PORT(&f, "{\"class\":\"one\"}", 2, "overflow");
    ASSERT_PORT(&f, "{\"class\":\"one\",\"rate\":\"junk\"}", 3, "overflow");
    /* defaults: 1000 ms in 100 slots of 10 ms */
    ASSERT_PORT(&f, "{\"class\":\"one\"}", 1011 * MS, "out");
    op_stop(&f);
}

/* Each distinct $dimensions value has its own window; absent is null. */
static void test_bucket_dimensions(void **state) {
    (void)state;
    op_fix f;
    op_start(&f, "grouper::bucket", NULL);
    static const char *const metas[] = {
        "{\"class\":\"c\",\"rate\":1}",
        "{\"class\":\"c\",\"rate\":1,\"dimensions\":null}",
        "{\"class\":\"c\",\"rate\":1,\"dimensions\":\"a\"}",
        "{\"class\":\"c\",\"rate\":1,\"dimensions\":[\"a\"]}",
        "{\"class\":\"c\",\"rate\":1,\"dimensions\":{\"host\":\"a\",\"port\":1}}",
        "{\"class\":\"c\",\"rate\":1,\"dimensions\":{\"port\":1,\"host\":\"a\"}}",
        "{\"class\":\"c\",\"rate\":1,\"dimensions\":1}",
        "{\"class\":\"c\",\"rate\":1,\"dimensions\":1.0}",
        "{\"class\":\"c\",\"rate\":1,\"dimensions\":\"1\"}",
        "{\"class\":\"d\",\"rate\":1,\"dimensions\":\"a\"}",
    };
    /* null and absent are one; every other value its own (objects in member order, as
     * Tremor's JSON-encoded key) */
    static const char *const first[] = {"out", "overflow", "out", "out", "out",
                                        "out", "out",      "out", "out", "out"};
    size_t n = sizeof metas / sizeof metas[0];
    for (size_t i = 0; i < n; i++) ASSERT_PORT(&f, metas[i], 5, first[i]);
    for (size_t i = 0; i < n; i++) ASSERT_PORT(&f, metas[i], 6, "overflow");
    assert_int_equal(op_metric(&f, "dimensions"), 9);
    assert_int_equal(op_metric(&f, "classes"), 2);

    /* an integer is the same key whether signed or unsigned, as in JSON */
    op_begin(&f);
    tb_event *e = op_event(&f, "0", "{\"class\":\"c\"}", 1, 7);
    *tb_object_append(f.arena, &e->meta, "dimensions", 10) = tb_u64(1);
    assert_int_equal(op_process(&f), TB_OK);
    op_assert_ports(&f, "overflow");
    op_stop(&f);
}

/* $cardinality bounds a class's windows, the least recently used forgotten first. */
static void test_bucket_cardinality(void **state) {
    (void)state;
    op_fix f;
    op_start(&f, "grouper::bucket", NULL);
    const char *a = "{\"class\":\"c\",\"rate\":1,\"cardinality\":2,\"dimensions\":\"a\"}";
    const char *b = "{\"class\":\"c\",\"rate\":1,\"dimensions\":\"b\"}";
    const char *c = "{\"class\":\"c\",\"rate\":1,\"dimensions\":\"c\"}";
    ASSERT_PORT(&f, a, 1, "out");
    ASSERT_PORT(&f, b, 1, "out");
    ASSERT_PORT(&f, a, 1, "overflow"); /* a is now the most recent */
    ASSERT_PORT(&f, c, 1, "out");      /* forgets b */
    ASSERT_PORT(&f, a, 1, "overflow"); /* a kept */
    ASSERT_PORT(&f, b, 1, "out");      /* a fresh window; forgets c */
    ASSERT_PORT(&f, c, 1, "out");      /* forgets a */
    ASSERT_PORT(&f, a, 1, "out");
    assert_int_equal(op_metric(&f, "dimensions"), 2);
    assert_int_equal(op_metric(&f, "evicted"), 4);
    /* the cardinality is the class's from its first event */
    ASSERT_PORT(&f, "{\"class\":\"c\",\"rate\":1,\"cardinality\":100,\"dimensions\":\"d\"}", 1,
                "out");
    assert_int_equal(op_metric(&f, "dimensions"), 2);
    op_stop(&f);
}

/* max_classes bounds the classes, the least recently used forgotten with its windows. */
static void test_bucket_max_classes(void **state) {
    (void)state;
    op_fix f;
    op_start(&f, "grouper::bucket", "{\"max_classes\":2}");
    const char *x = "{\"class\":\"x\",\"rate\":1}";
    const char *y = "{\"class\":\"y\",\"rate\":1}";
    const char *z = "{\"class\":\"z\",\"rate\":1}";
    ASSERT_PORT(&f, x, 1, "out");
    ASSERT_PORT(&f, y, 1, "out");
    ASSERT_PORT(&f, x, 1, "overflow");
    ASSERT_PORT(&f, z, 1, "out"); /* forgets y */
    ASSERT_PORT(&f, x, 1, "overflow");
    ASSERT_PORT(&f, y, 1, "out"); /* y anew; forgets z */
    ASSERT_PORT(&f, z, 1, "out");
    assert_int_equal(op_metric(&f, "classes"), 2);
    assert_int_equal(op_metric(&f, "dimensions"), 2);
    op_stop(&f);
}

/* max_dimensions bounds the windows of all classes together. */
static void test_bucket_max_dimensions(void **state) {
    (void)state;
    op_fix f;
    op_start(&f, "grouper::bucket", "{\"max_dimensions\":3}");
    char meta[128];
    for (int i = 0; i < 20; i++) {
        snprintf(meta, sizeof meta, "{\"class\":\"c%d\",\"rate\":1,\"dimensions\":%d}", i % 2, i);
        ASSERT_PORT(&f, meta, 1, "out");
    }
    assert_int_equal(op_metric(&f, "dimensions"), 3);
    assert_int_equal(op_metric(&f, "classes"), 2);
    assert_int_equal(op_metric(&f, "evicted"), 17);
    /* the three most recent are still limited, older ones start afresh */
    ASSERT_PORT(&f, "{\"class\":\"c1\",\"rate\":1,\"dimensions\":19}", 1, "overflow");
    ASSERT_PORT(&f, "{\"class\":\"c0\",\"rate\":1,\"dimensions\":18}", 1, "overflow");
    ASSERT_PORT(&f, "{\"class\":\"c0\",\"rate\":1,\"dimensions\":0}", 1, "out");
    op_stop(&f);
}

/* Many classes and windows: the tables grow, lookups stay right. */
static void test_bucket_many(void **state) {
    (void)state;
    op_fix f;
    op_start(&f, "grouper::bucket", NULL);
    char meta[160];
    for (int round = 0; round < 2; round++) {
        op_begin(&f);
        for (int i = 0; i < 3000; i++) {
            snprintf(meta, sizeof meta,
                     "{\"class\":\"class-%d\",\"rate\":1,\"cardinality\":5000,"
                     "\"dimensions\":{\"host\":\"h%d\"}}", i % 300, i);
            op_event(&f, "1", meta, (uint64_t)i, 1);
        }
        assert_int_equal(op_process(&f), TB_OK);
        assert_int_equal(f.out.count, 3000);
        for (uint32_t i = 0; i < 3000; i++)
            assert_string_equal(op_port_name(&f, f.out.events[i].port), round ? "overflow" : "out");
    }
    assert_int_equal(op_metric(&f, "classes"), 300);
    assert_int_equal(op_metric(&f, "dimensions"), 3000);
    op_stop(&f);
}

/* Odd metadata goes to err with a reason, and the operator goes on. */
static void test_bucket_refusals(void **state) {
    (void)state;
    static const struct {
        const char *meta, *reason;
    } cases[] = {
        {"\"not a record\"", "grouper::bucket: $class is missing"},
        {"{\"class\":null,\"rate\":1}", "grouper::bucket: $class is missing"},
        {"{\"class\":42,\"rate\":1}", "grouper::bucket: $class must be a string, found int"},
        {"{\"class\":[\"c\"],\"rate\":1}", "grouper::bucket: $class must be a string, found array"},
        {"{\"class\":\"c\"}", "grouper::bucket: $rate is missing"},
        {"{\"class\":\"c\",\"rate\":null}", "grouper::bucket: $rate is missing"},
        {"{\"class\":\"c\",\"rate\":-1}",
         "grouper::bucket: $rate must be a non-negative integer, found a negative int"},
        {"{\"class\":\"c\",\"rate\":1.5}",
         "grouper::bucket: $rate must be a non-negative integer, found float"},
        {"{\"class\":\"c\",\"rate\":\"10\"}",
         "grouper::bucket: $rate must be a non-negative integer, found string"},
        {"{\"class\":\"c\",\"rate\":1,\"windows\":0}",
         "grouper::bucket: $windows must be between 1 and 1000, found 0"},
        {"{\"class\":\"c\",\"rate\":1,\"windows\":1001,\"time_range\":100000}",
         "grouper::bucket: $windows must be between 1 and 1000, found 1001"},
        {"{\"class\":\"c\",\"rate\":1,\"windows\":true}",
         "grouper::bucket: $windows must be a non-negative integer, found bool"},
        {"{\"class\":\"c\",\"rate\":1,\"time_range\":50}",
         "grouper::bucket: $time_range (50 ms) must be at least $windows (100): a window slot "
         "cannot be shorter than 1 ms"},
        {"{\"class\":\"c\",\"rate\":1,\"time_range\":{}}",
         "grouper::bucket: $time_range must be a non-negative integer, found object"},
        {"{\"class\":\"new\",\"rate\":1,\"cardinality\":0}",
         "grouper::bucket: $cardinality must be at least 1"},
        {"{\"class\":\"new2\",\"rate\":1,\"cardinality\":\"many\"}",
         "grouper::bucket: $cardinality must be a non-negative integer, found string"},
    };
    op_fix f;
    op_start(&f, "grouper::bucket", NULL);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        op_begin(&f);
        op_event(&f, "{\"payload\":1}", cases[i].meta, i, 1);
        assert_int_equal(op_process(&f), TB_OK);
        op_assert_failed(&f, 0, cases[i].reason, "{\"payload\":1}");
    }
    /* dimensions too big to be a key */
    op_begin(&f);
    tb_event *e = op_event(&f, "1", "{\"class\":\"c\",\"rate\":1}", 1, 1);
    char *big = tb_arena_alloc(f.arena, 5000, 1);
    memset(big, 'd', 5000);
    *tb_object_append(f.arena, &e->meta, "dimensions", 10) = tb_string(big, 5000);
    tb_event *deep = op_event(&f, "2", "{\"class\":\"c\",\"rate\":1}", 2, 1);
    tb_value v = tb_null();
    for (int i = 0; i < 70; i++) {
        tb_value arr = tb_array();
        *tb_array_push(f.arena, &arr) = v;
        v = arr;
    }
    *tb_object_append(f.arena, &deep->meta, "dimensions", 10) = v;
    assert_int_equal(op_process(&f), TB_OK);
    op_assert_failed(&f, 0, "grouper::bucket: $dimensions is too large: at most 4096 bytes and "
                            "64 levels deep", "1");
    op_assert_failed(&f, 1, "grouper::bucket: $dimensions is too large: at most 4096 bytes and "
                            "64 levels deep", "2");
    assert_int_equal(op_metric(&f, "errors"), sizeof cases / sizeof cases[0] + 2);
    /* the refused class "new" was never made; "c" was, with no window */
    assert_int_equal(op_metric(&f, "classes"), 1);
    assert_int_equal(op_metric(&f, "dimensions"), 0);
    ASSERT_PORT(&f, "{\"class\":\"c\",\"rate\":1}", 1, "out");
    op_stop(&f);
}

/* Under a memory limit, old windows make way for new ones; with nothing left to forget
 * the event goes to err. */
static void test_bucket_memory_limit(void **state) {
    (void)state;
    op_fix f;
    op_start(&f, "grouper::bucket", NULL);
    char meta[128];
    for (int i = 0; i < 4; i++) {
        snprintf(meta, sizeof meta, "{\"class\":\"c\",\"rate\":1,\"dimensions\":%d}", i);
        ASSERT_PORT(&f, meta, 1, "out");
    }
    tbr_plugin *p = f.inst->component->plugin;
    /* room for about one more window of 100 slots, not two */
    p->mem_limit = atomic_load(&p->mem_live) + 1200;
    for (int i = 4; i < 8; i++) {
        snprintf(meta, sizeof meta, "{\"class\":\"c\",\"rate\":1,\"dimensions\":%d}", i);
        ASSERT_PORT(&f, meta, 1, "out");
    }
    assert_true(op_metric(&f, "evicted") >= 3);
    /* a window of 1000 slots cannot fit even with everything forgotten */
    ASSERT_PORT(&f, "{\"class\":\"c\",\"rate\":1,\"windows\":1000,\"time_range\":1000,"
                    "\"dimensions\":\"huge\"}", 1, "err");
    op_assert_failed(&f, 0, "grouper::bucket: out of memory", "\"snot\"");
    assert_int_equal(op_metric(&f, "dimensions"), 0);
    p->mem_limit = 0;
    op_stop(&f);
}

static void expect_bad_config(const char *config, const char *needle) {
    op_fix f;
    char err[512] = "";
    assert_int_equal(op_try_start(&f, "grouper::bucket", config, err, sizeof err), TB_EINVAL);
    if (!strstr(err, needle)) fail_msg("config %s: \"%s\" lacks \"%s\"", config, err, needle);
    op_stop(&f);
}

static void test_bucket_config(void **state) {
    (void)state;
    expect_bad_config("{\"max_classes\":0}", "must be at least 1");
    expect_bad_config("{\"max_windows\":0}", "must be at least 1");
    expect_bad_config("{\"max_windows\":1000000000}", "max_windows must be at most 536870911");
    expect_bad_config("{\"max_dimensions\":\"lots\"}", "option 'max_dimensions': expected uint");
    expect_bad_config("{\"rate\":10}", "unknown option 'rate'");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bucket_tremor),        cmocka_unit_test(test_bucket_sliding),
        cmocka_unit_test(test_bucket_shapes),        cmocka_unit_test(test_bucket_dimensions),
        cmocka_unit_test(test_bucket_cardinality),   cmocka_unit_test(test_bucket_max_classes),
        cmocka_unit_test(test_bucket_max_dimensions), cmocka_unit_test(test_bucket_many),
        cmocka_unit_test(test_bucket_refusals),      cmocka_unit_test(test_bucket_memory_limit),
        cmocka_unit_test(test_bucket_config),
    };
    return cmocka_run_group_tests_name("operator grouper", tests, op_group_setup,
                                       op_group_teardown);
}
