/*
 * test_proc_ingest_ns.c - the `ingest_ns` preprocessor (reads and strips an 8-byte
 * big-endian timestamp prefix) and postprocessor (plugin ingest_ns_post, prepends it):
 * known vectors, round trips, short input with its exact err message, empty input.
 *
 * Thread contract: single-threaded cmocka tests.
 */
#include <string.h>

#include "proc_harness.h"

#define PRE TB_KIND_PREPROCESSOR
#define POST TB_KIND_POSTPROCESSOR

static const uint8_t framed[] = {1, 2, 3, 4, 5, 6, 7, 8, 'a', 'b', 'c'};

static void pre_vector(void **state) {
    (void)state;
    pf f;
    pf_start(&f, PRE, "ingest-ns", NULL);
    pf_begin(&f);
    pf_chunk(&f, framed, sizeof framed, 42);
    pf_chunk(&f, framed, 8, 42); /* exactly the prefix: empty data */
    assert_int_equal(pf_process(&f), TB_OK);
    assert_int_equal(f.out.count, 2);
    pf_assert_text(&f, 0, "abc");
    assert_int_equal(f.out.events[0].ingest_ns, 0x0102030405060708ull);
    assert_int_equal(f.out.events[0].id, 1);
    assert_non_null(tb_object_getz(&f.out.events[0].meta, "k"));
    pf_assert_text(&f, 1, "");
    assert_int_equal(f.out.events[1].ingest_ns, 0x0102030405060708ull);
    pf_stop(&f);
}

static void post_vector(void **state) {
    (void)state;
    pf f;
    pf_start(&f, POST, "ingest-ns", NULL);
    pf_begin(&f);
    pf_chunk(&f, "abc", 3, 0x0102030405060708ull);
    pf_chunk(&f, "", 0, 0);
    assert_int_equal(pf_process(&f), TB_OK);
    assert_int_equal(f.out.count, 2);
    pf_assert_bytes(&f, 0, framed, sizeof framed);
    pf_assert_bytes(&f, 1, "\0\0\0\0\0\0\0\0", 8);
    assert_int_equal(f.out.events[0].ingest_ns, 0x0102030405060708ull);
    pf_stop(&f);
}

static void round_trip(void **state) {
    (void)state;
    static const uint64_t times[] = {0, 1, 255, 256, 1700000000123456789ull, UINT64_MAX};
    pf post, pre;
    pf_start(&post, POST, "ingest-ns", NULL);
    pf_start(&pre, PRE, "ingest-ns", NULL);
    pf_begin(&post);
    for (size_t i = 0; i < sizeof times / sizeof times[0]; i++)
        pf_chunk(&post, "payload\n", i, times[i]);
    assert_int_equal(pf_process(&post), TB_OK);
    pf_begin(&pre);
    for (uint32_t i = 0; i < post.out.count; i++) {
        /* the timestamp must come from the bytes, not from the event */
        pf_chunk(&pre, post.out.events[i].data.as.bytes, post.out.events[i].data.len, 7);
    }
    assert_int_equal(pf_process(&pre), TB_OK);
    assert_int_equal(pre.out.count, sizeof times / sizeof times[0]);
    for (uint32_t i = 0; i < pre.out.count; i++) {
        pf_assert_bytes(&pre, i, "payload\n", i);
        assert_int_equal(pre.out.events[i].ingest_ns, times[i]);
    }
    pf_stop(&pre);
    pf_stop(&post);
}

static void too_short(void **state) {
    (void)state;
    pf f;
    pf_start(&f, PRE, "ingest-ns", NULL);
    pf_begin(&f);
    pf_chunk(&f, framed, 7, 9);
    pf_chunk(&f, "", 0, 9);
    pf_chunk(&f, framed, sizeof framed, 9);
    tb_event *e = pf_text(&f, "x");
    e->data = tb_i64(5);
    assert_int_equal(pf_process(&f), TB_OK);
    assert_int_equal(f.out.count, 4);
    pf_assert_failed(&f, 0,
                     "ingest-ns: event of 7 bytes is shorter than the 8-byte timestamp prefix",
                     framed, 7);
    pf_assert_failed(&f, 1,
                     "ingest-ns: event of 0 bytes is shorter than the 8-byte timestamp prefix",
                     "", 0);
    assert_int_equal(f.out.events[1].ingest_ns, 9); /* left alone */
    pf_assert_text(&f, 2, "abc");
    pf_assert_failed(&f, 3, "ingest-ns: event data is int, not bytes", NULL, 0);
    pf_stop(&f);
}

static void empty_and_not_raw(void **state) {
    (void)state;
    for (int kind = PRE; kind <= POST; kind++) {
        pf f;
        pf_start(&f, (uint32_t)kind, "ingest-ns", NULL);
        pf_begin(&f);
        assert_int_equal(pf_process(&f), TB_OK);
        assert_int_equal(f.out.count, 0);
        pf_begin(&f);
        tb_event *e = pf_text(&f, "abc");
        e->flags = TB_EF_ERROR;
        assert_int_equal(pf_process(&f), TB_OK);
        assert_int_equal(f.out.count, 1);
        assert_int_equal(f.out.events[0].flags, TB_EF_ERROR);
        assert_int_equal(f.out.events[0].data.len, 3);
        pf_stop(&f);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pre_vector), cmocka_unit_test(post_vector),
        cmocka_unit_test(round_trip), cmocka_unit_test(too_short),
        cmocka_unit_test(empty_and_not_raw),
    };
    return cmocka_run_group_tests(tests, pf_group_setup, pf_group_teardown);
}
