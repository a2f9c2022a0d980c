/*
 * test_proc_separate_post.c - the `separate` postprocessor (plugin separate_post): appends
 * the separator; the `separate` preprocessor splits the result back, across any chunking.
 *
 * Thread contract: single-threaded cmocka tests.
 */
#include <stdio.h>
#include <string.h>

#include "proc_harness.h"

#define PRE TB_KIND_PREPROCESSOR
#define POST TB_KIND_POSTPROCESSOR

static void appends_newline(void **state) {
    (void)state;
    pf f;
    pf_start(&f, POST, "separate", NULL);
    pf_begin(&f);
    pf_text(&f, "abc");
    pf_text(&f, "");
    pf_chunk(&f, "x\0y", 3, 11);
    assert_int_equal(pf_process(&f), TB_OK);
    assert_int_equal(f.out.count, 3);
    pf_assert_text(&f, 0, "abc\n");
    pf_assert_text(&f, 1, "\n");
    pf_assert_bytes(&f, 2, "x\0y\n", 4);
    assert_int_equal(f.out.events[2].id, 3);
    assert_int_equal(f.out.events[2].ingest_ns, 11);
    assert_int_equal(pf_finish(&f), TB_OK);
    assert_int_equal(f.out.count, 3);
    pf_stop(&f);
}

static void custom_separator(void **state) {
    (void)state;
    pf f;
    pf_start(&f, POST, "separate", "{\"separator\":\"|\"}");
    pf_begin(&f);
    pf_text(&f, "abc");
    assert_int_equal(pf_process(&f), TB_OK);
    pf_assert_text(&f, 0, "abc|");
    pf_stop(&f);
}

static void bad_separator(void **state) {
    (void)state;
    static const char *const configs[] = {"{\"separator\":\"ab\"}", "{\"separator\":\"\"}"};
    static const char *const why[] = {"separator must be exactly one byte, found 2",
                                      "separator must be exactly one byte, found 0"};
    for (int i = 0; i < 2; i++) {
        pf f;
        char err[512] = "";
        assert_int_equal(pf_try_start(&f, POST, "separate", configs[i], err, sizeof err),
                         TB_EINVAL);
        if (!strstr(err, why[i])) fail_msg("error \"%s\" does not say \"%s\"", err, why[i]);
        assert_null(f.inst);
        pf_stop(&f);
    }
}

static void empty_and_not_raw(void **state) {
    (void)state;
    pf f;
    pf_start(&f, POST, "separate", NULL);
    pf_begin(&f);
    assert_int_equal(pf_process(&f), TB_OK);
    assert_int_equal(f.out.count, 0);
    pf_begin(&f);
    tb_event *e = pf_text(&f, "abc");
    e->flags = TB_EF_ERROR;
    e = pf_text(&f, "x");
    e->data = tb_null();
    assert_int_equal(pf_process(&f), TB_OK);
    assert_int_equal(f.out.count, 2);
    assert_int_equal(f.out.events[0].data.len, 3);
    assert_int_equal(f.out.events[0].flags, TB_EF_ERROR);
    pf_assert_failed(&f, 1, "separate: event data is null, not bytes", NULL, 0);
    pf_stop(&f);
}

/* post then pre: the records come back, whatever the chunk size of the stream between. */
static void round_trip(void **state) {
    (void)state;
    static const char *const recs[] = {"one", "two words", "", "x", "a longer record here"};
    const uint32_t n = sizeof recs / sizeof recs[0];
    uint8_t stream[256];
    pf post;
    pf_start(&post, POST, "separate", NULL);
    pf_begin(&post);
    for (uint32_t i = 0; i < n; i++) pf_text(&post, recs[i]);
    assert_int_equal(pf_process(&post), TB_OK);
    size_t len = pf_collect(&post, stream, sizeof stream);
    for (size_t chunk = 1; chunk <= len; chunk++) {
        pf pre;
        pf_start(&pre, PRE, "separate", NULL);
        pf_begin(&pre);
        for (size_t at = 0; at < len; at += chunk)
            pf_chunk(&pre, stream + at, len - at < chunk ? len - at : chunk, 0);
        assert_int_equal(pf_process(&pre), TB_OK);
        assert_int_equal(pf_finish(&pre), TB_OK);
        assert_int_equal(pre.out.count, n);
        for (uint32_t i = 0; i < n; i++) pf_assert_text(&pre, i, recs[i]);
        pf_stop(&pre);
    }
    pf_stop(&post);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(appends_newline), cmocka_unit_test(custom_separator),
        cmocka_unit_test(bad_separator),   cmocka_unit_test(empty_and_not_raw),
        cmocka_unit_test(round_trip),
    };
    return cmocka_run_group_tests(tests, pf_group_setup, pf_group_teardown);
}
