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

/* --- handover on a reload --------------------------------------------------------------------- */

/* Classes and windows of every shape, with evictions (classes, cardinality, all windows) and
 * windows sliding, emptying and seeing late events. */
static void bucket_step(op_fix *f, uint32_t step) {
    static const char *const metas[] = {
        "{\"class\":\"a\",\"rate\":2,\"cardinality\":2,\"time_range\":100,\"windows\":10,"
        "\"dimensions\":\"x\"}",
        "{\"class\":\"a\",\"rate\":2,\"time_range\":100,\"windows\":10,\"dimensions\":[1,\"y\"]}",
        "{\"class\":\"a\",\"rate\":2,\"time_range\":100,\"windows\":10,"
        "\"dimensions\":{\"h\":\"a\",\"p\":-1}}",
        "{\"class\":\"b\",\"rate\":1,\"time_range\":60,\"windows\":4}",
        "{\"class\":\"b\",\"rate\":3,\"time_range\":60,\"windows\":4,"
        "\"dimensions\":18446744073709551615}",
        "{\"class\":\"c\",\"rate\":2,\"dimensions\":1.5}",
        "{\"class\":\"c\",\"rate\":2,\"dimensions\":[true,false,null,[],{},\"\",-0.0]}",
        "{\"class\":\"d\",\"rate\":1,\"time_range\":20,\"windows\":4,\"dimensions\":\"\"}",
        "{\"class\":\"\",\"rate\":2,\"dimensions\":-7}",
        "{\"rate\":1}",
        "{\"class\":\"b\",\"rate\":2,\"dimensions\":7}",
    };
    const uint32_t n = sizeof metas / sizeof metas[0];
    uint64_t t = (uint64_t)step * 13 * MS;
    if (step % 5 == 4) t -= 40 * MS; /* late events */
    for (uint32_t i = 0; i < 5; i++) {
        const char *meta = metas[(step * 7 + i * 3) % n];
        tb_event *e = op_event(f, "\"snot\"", meta, step * 10 + i, t + i * MS);
        if (i == 4 && step % 3 == 0) {
            /* bytes, which JSON cannot give */
            uint8_t *bytes = tb_arena_alloc(f->arena, 3, 1);
            memcpy(bytes, "\x00\xff\x01", 3);
            e->meta = tb_object();
            *tb_object_append(f->arena, &e->meta, "class", 5) = tb_stringz("e");
            *tb_object_append(f->arena, &e->meta, "rate", 4) = tb_u64(1);
            *tb_object_append(f->arena, &e->meta, "dimensions", 10) = tb_bytes(bytes, 3);
        }
    }
    assert_int_equal(op_process(f), TB_OK);
}

/* The new instance limits, slides and evicts exactly as one instance would have. */
static void test_bucket_handover(void **state) {
    (void)state;
    op_assert_handover("grouper::bucket", NULL, bucket_step, 30);
    op_assert_handover("grouper::bucket", "{\"max_classes\":3,\"max_dimensions\":5}",
                       bucket_step, 30);
    op_assert_handover("grouper::bucket", "{\"max_classes\":6,\"max_dimensions\":4}",
                       bucket_step, 30);
}

/* What save describes: classes and windows, most recently used first, the slots from the
 * oldest to the current one; and the gauges follow into the new instance. */
static void test_bucket_saved_value(void **state) {
    (void)state;
    op_fix f;
    op_start(&f, "grouper::bucket", NULL);
    const char *x = "{\"class\":\"x\",\"rate\":2,\"windows\":4,\"time_range\":40,\"cardinality\":9,"
                    "\"dimensions\":[\"a\",1,{\"k\":-2.5}]}";
    ASSERT_PORT(&f, x, 1 * MS, "out");
    ASSERT_PORT(&f, x, 1 * MS, "out");
    ASSERT_PORT(&f, "{\"class\":\"y\",\"rate\":1}", 20 * MS, "out");
    ASSERT_PORT(&f, x, 25 * MS, "overflow"); /* two slots on: both still in */
    tb_arena *a = tbr_arena_new(64);
    assert_non_null(a);
    tb_value saved = op_save(&f, a);
    char want[1024];
    int used = snprintf(want, sizeof want, "%s",
                        "{\"classes\":[{\"name\":\"x\",\"cardinality\":9},{\"name\":\"y\","
                        "\"cardinality\":1000}],\"windows\":[{\"class\":0,\"dimensions\":[\"a\",1,"
                        "{\"k\":-2.5}],\"rate\":2,\"slot_ms\":10,\"last_tick\":25000000,\"slots\":"
                        "[0,2,0,0]},{\"class\":1,\"dimensions\":null,\"rate\":1,\"slot_ms\":10,"
                        "\"last_tick\":20000000,\"slots\":[");
    /* y's default window: 100 slots, the current one (the last) holding its event */
    for (int i = 0; i < 99; i++) used += snprintf(want + used, sizeof want - (size_t)used, "0,");
    snprintf(want + used, sizeof want - (size_t)used, "1]}]}");
    op_assert_json(&saved, want);
    op_stop(&f);
    op_assert_json(&saved, want); /* a copy: the instance is gone */

    /* with a newer build's members here and there */
    *tb_object_append(a, &saved, "seed", 4) = tb_u64(1);
    tb_value *win = &tb_object_getz(&saved, "windows")->as.items[0];
    *tb_object_append(a, win, "sum", 3) = tb_stringz("later");
    op_start(&f, "grouper::bucket", NULL);
    char err[256];
    assert_int_equal(op_restore(&f, &saved, err, sizeof err), TB_OK);
    tbr_arena_free(a);
    assert_int_equal(op_metric(&f, "classes"), 2);
    assert_int_equal(op_metric(&f, "dimensions"), 2);
    ASSERT_PORT(&f, x, 26 * MS, "overflow");
    ASSERT_PORT(&f, "{\"class\":\"y\"}", 21 * MS, "overflow"); /* no $rate needed: it exists */
    ASSERT_PORT(&f, x, 52 * MS, "out");  /* the two events slid out */
    ASSERT_PORT(&f, x, 52 * MS, "out");
    ASSERT_PORT(&f, x, 52 * MS, "overflow");
    op_stop(&f);
}

/* Many classes and windows, with grown tables, handed over whole. */
static void test_bucket_handover_many(void **state) {
    (void)state;
    op_fix f;
    op_start(&f, "grouper::bucket", NULL);
    char meta[160];
    op_begin(&f);
    for (int i = 0; i < 2000; i++) {
        snprintf(meta, sizeof meta, "{\"class\":\"class-%d\",\"rate\":1,\"cardinality\":5000,"
                                    "\"dimensions\":{\"host\":\"h%d\"}}", i % 200, i);
        op_event(&f, "1", meta, (uint64_t)i, 1);
    }
    assert_int_equal(op_process(&f), TB_OK);
    op_handover(&f, true);
    assert_int_equal(op_metric(&f, "classes"), 200);
    assert_int_equal(op_metric(&f, "dimensions"), 2000);
    op_begin(&f);
    for (int i = 0; i < 2000; i++) {
        snprintf(meta, sizeof meta, "{\"class\":\"class-%d\",\"dimensions\":{\"host\":\"h%d\"}}",
                 i % 200, i);
        op_event(&f, "1", meta, (uint64_t)i, 2);
    }
    assert_int_equal(op_process(&f), TB_OK);
    for (uint32_t i = 0; i < 2000; i++)
        assert_string_equal(op_port_name(&f, f.out.events[i].port), "overflow");
    op_stop(&f);
}

static void test_bucket_restore_garbage(void **state) {
    (void)state;
    const char *b = "grouper::bucket";
    const char *why = "grouper::bucket: cannot restore from a";
    const char *bad_class = "grouper::bucket: cannot restore classes[0]: expected a record";
    const char *bad_window = "grouper::bucket: cannot restore windows[0]: expected a record";
#define WINDOW(fields) \
    "{\"classes\":[{\"name\":\"c\",\"cardinality\":1}],\"windows\":[{" fields "}]}"
    op_assert_restore(b, NULL, "null", TB_OK, NULL);
    op_assert_restore(b, NULL, "\"junk\"", TB_EINVAL, "from a string without");
    op_assert_restore(b, NULL, "[[],[]]", TB_EINVAL, why);
    op_assert_restore(b, NULL, "{\"classes\":[]}", TB_EINVAL, why);
    op_assert_restore(b, NULL, "{\"classes\":{},\"windows\":[]}", TB_EINVAL, why);
    op_assert_restore(b, NULL, "{\"classes\":[1],\"windows\":[]}", TB_EINVAL, bad_class);
    op_assert_restore(b, NULL, "{\"classes\":[{\"name\":1,\"cardinality\":1}],\"windows\":[]}",
                      TB_EINVAL, bad_class);
    op_assert_restore(b, NULL, "{\"classes\":[{\"name\":\"c\",\"cardinality\":0}],\"windows\":[]}",
                      TB_EINVAL, bad_class);
    op_assert_restore(b, NULL, "{\"classes\":[{\"name\":\"c\"}],\"windows\":[]}", TB_EINVAL,
                      bad_class);
    op_assert_restore(b, "{\"max_classes\":1}",
                      "{\"classes\":[{\"name\":\"c\",\"cardinality\":1},{\"name\":\"d\","
                      "\"cardinality\":1}],\"windows\":[]}",
                      TB_EINVAL, "cannot restore 2 classes and 0 windows with max_classes 1");
    op_assert_restore(b, NULL,
                      "{\"classes\":[{\"name\":\"c\",\"cardinality\":1},{\"name\":\"c\","
                      "\"cardinality\":1}],\"windows\":[]}",
                      TB_EINVAL, "cannot restore classes[0]: its name repeats another's");
    op_assert_restore(b, NULL, WINDOW("\"class\":0,\"dimensions\":null,\"rate\":1,\"slot_ms\":1,"
                                      "\"last_tick\":0,\"slots\":[0]"),
                      TB_OK, NULL);
    op_assert_restore(b, NULL, WINDOW("\"class\":1,\"dimensions\":null,\"rate\":1,\"slot_ms\":1,"
                                      "\"last_tick\":0,\"slots\":[0]"),
                      TB_EINVAL, bad_window);
    op_assert_restore(b, NULL, WINDOW("\"class\":0,\"rate\":1,\"slot_ms\":1,\"last_tick\":0,"
                                      "\"slots\":[0]"),
                      TB_EINVAL, bad_window); /* no dimensions */
    op_assert_restore(b, NULL, WINDOW("\"class\":0,\"dimensions\":null,\"rate\":1,\"slot_ms\":0,"
                                      "\"last_tick\":0,\"slots\":[0]"),
                      TB_EINVAL, bad_window); /* a slot of 0 ms would never move */
    op_assert_restore(b, NULL, WINDOW("\"class\":0,\"dimensions\":null,\"rate\":1,\"slot_ms\":1,"
                                      "\"last_tick\":0,\"slots\":[]"),
                      TB_EINVAL, bad_window);
    op_assert_restore(b, "{\"max_windows\":2}",
                      WINDOW("\"class\":0,\"dimensions\":null,\"rate\":1,\"slot_ms\":1,"
                             "\"last_tick\":0,\"slots\":[0,0,0]"),
                      TB_EINVAL, bad_window);
    op_assert_restore(b, NULL, WINDOW("\"class\":0,\"dimensions\":null,\"rate\":1,\"slot_ms\":1,"
                                      "\"last_tick\":0,\"slots\":[0,-1]"),
                      TB_EINVAL, bad_window);
    op_assert_restore(b, NULL, WINDOW("\"class\":0,\"dimensions\":null,\"rate\":1,"
                                      "\"slot_ms\":9223372036854775807,\"last_tick\":0,"
                                      "\"slots\":[0,0,0]"),
                      TB_EINVAL, bad_window); /* the window's length overflows */
    op_assert_restore(b, NULL, WINDOW("\"class\":0,\"dimensions\":null,\"rate\":1,\"slot_ms\":1,"
                                      "\"last_tick\":0,\"slots\":[18446744073709551615,1]"),
                      TB_EINVAL, bad_window); /* the sum overflows */
    op_assert_restore(b, NULL, WINDOW("\"class\":\"c\",\"dimensions\":null,\"rate\":1,"
                                      "\"slot_ms\":1,\"last_tick\":0,\"slots\":[0]"),
                      TB_EINVAL, bad_window);
    op_assert_restore(b, NULL,
                      "{\"classes\":[{\"name\":\"c\",\"cardinality\":1}],\"windows\":[{\"class\":0,"
                      "\"dimensions\":1,\"rate\":1,\"slot_ms\":1,\"last_tick\":0,\"slots\":[0]},{"
                      "\"class\":0,\"dimensions\":2,\"rate\":1,\"slot_ms\":1,\"last_tick\":0,"
                      "\"slots\":[0]}]}",
                      TB_EINVAL,
                      "cannot restore windows[0]: its class has more windows than its cardinality");
    op_assert_restore(b, NULL,
                      "{\"classes\":[{\"name\":\"c\",\"cardinality\":5}],\"windows\":[{\"class\":0,"
                      "\"dimensions\":1,\"rate\":1,\"slot_ms\":1,\"last_tick\":0,\"slots\":[0]},{"
                      "\"class\":0,\"dimensions\":1,\"rate\":1,\"slot_ms\":1,\"last_tick\":0,"
                      "\"slots\":[0]}]}",
                      TB_EINVAL, "cannot restore windows[0]: it repeats the dimensions");
    op_assert_restore(b, "{\"max_dimensions\":1}",
                      "{\"classes\":[{\"name\":\"c\",\"cardinality\":5}],\"windows\":[{\"class\":0,"
                      "\"dimensions\":1,\"rate\":1,\"slot_ms\":1,\"last_tick\":0,\"slots\":[0]},{"
                      "\"class\":0,\"dimensions\":2,\"rate\":1,\"slot_ms\":1,\"last_tick\":0,"
                      "\"slots\":[0]}]}",
                      TB_EINVAL, "with max_classes 1000 and max_dimensions 1");
    /* dimensions too large to be a key */
    char *big = malloc(5200);
    assert_non_null(big);
    int n = snprintf(big, 5200, "%s", "{\"classes\":[{\"name\":\"c\",\"cardinality\":1}],"
                                      "\"windows\":[{\"class\":0,\"rate\":1,\"slot_ms\":1,"
                                      "\"last_tick\":0,\"slots\":[0],\"dimensions\":\"");
    memset(big + n, 'd', 5000);
    snprintf(big + n + 5000, 200, "\"}]}");
    op_assert_restore(b, NULL, big, TB_EINVAL,
                      "cannot restore windows[0]: its dimensions are too large");
    free(big);
#undef WINDOW
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bucket_tremor),        cmocka_unit_test(test_bucket_sliding),
        cmocka_unit_test(test_bucket_shapes),        cmocka_unit_test(test_bucket_dimensions),
        cmocka_unit_test(test_bucket_cardinality),   cmocka_unit_test(test_bucket_max_classes),
        cmocka_unit_test(test_bucket_max_dimensions), cmocka_unit_test(test_bucket_many),
        cmocka_unit_test(test_bucket_refusals),      cmocka_unit_test(test_bucket_memory_limit),
        cmocka_unit_test(test_bucket_config),        cmocka_unit_test(test_bucket_handover),
        cmocka_unit_test(test_bucket_saved_value),   cmocka_unit_test(test_bucket_handover_many),
        cmocka_unit_test(test_bucket_restore_garbage),
    };
    return cmocka_run_group_tests_name("operator grouper", tests, op_group_setup,
                                       op_group_teardown);
}
