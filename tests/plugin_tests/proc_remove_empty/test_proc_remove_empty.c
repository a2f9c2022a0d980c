/*
 * test_proc_remove_empty.c - the `remove_empty` preprocessor: empty raw events are dropped,
 * everything else passes unchanged; chained after `separate`, blank lines disappear.
 *
 * Thread contract: single-threaded cmocka tests.
 */
#include <string.h>

#include "proc_harness.h"

#define PRE TB_KIND_PREPROCESSOR

static void drops_empty(void **state) {
    (void)state;
    pf f;
    pf_start(&f, PRE, "remove-empty", NULL);
    pf_begin(&f);
    pf_text(&f, "");
    pf_text(&f, "a");
    pf_text(&f, "");
    pf_text(&f, "");
    pf_text(&f, " ");
    pf_text(&f, "");
    assert_int_equal(pf_process(&f), TB_OK);
    assert_int_equal(f.out.count, 2);
    pf_assert_text(&f, 0, "a");
    assert_int_equal(f.out.events[0].id, 2);
    pf_assert_text(&f, 1, " ");
    assert_int_equal(f.out.events[1].id, 5);
    /* no copy: the output is the input's bytes */
    assert_ptr_equal(f.out.events[0].data.as.bytes, f.in.events[1].data.as.bytes);
    assert_int_equal(pf_finish(&f), TB_OK);
    assert_int_equal(f.out.count, 2);
    pf_stop(&f);
}

static void keeps_markers_and_errors(void **state) {
    (void)state;
    pf f;
    pf_start(&f, PRE, "remove-empty", NULL);
    pf_begin(&f);
    assert_int_equal(pf_process(&f), TB_OK); /* empty batch */
    assert_int_equal(f.out.count, 0);
    pf_begin(&f);
    tb_event *e = pf_text(&f, "");
    e->flags |= TB_EF_STREAM_END; /* an empty stream-end marker is kept */
    e = pf_text(&f, "");
    e->flags = TB_EF_ERROR; /* not raw: not ours */
    assert_int_equal(pf_process(&f), TB_OK);
    assert_int_equal(f.out.count, 2);
    assert_int_equal(f.out.events[0].flags, TB_EF_RAW | TB_EF_STREAM_END);
    assert_int_equal(f.out.events[1].flags, TB_EF_ERROR);
    pf_stop(&f);
}

/* separate then remove_empty: "a\n\n\nb\n" split across chunks gives a and b only. */
static void after_separate(void **state) {
    (void)state;
    pf sep, rm;
    pf_start(&sep, PRE, "separate", NULL);
    pf_start(&rm, PRE, "remove-empty", NULL);
    pf_begin(&sep);
    pf_text(&sep, "a\n\n");
    pf_text(&sep, "\nb");
    pf_text(&sep, "\n\n");
    assert_int_equal(pf_process(&sep), TB_OK);
    pf_begin(&rm);
    for (uint32_t i = 0; i < sep.out.count; i++)
        pf_chunk(&rm, sep.out.events[i].data.as.bytes, sep.out.events[i].data.len, 0);
    assert_int_equal(rm.in.count, 5);
    assert_int_equal(pf_process(&rm), TB_OK);
    assert_int_equal(rm.out.count, 2);
    pf_assert_text(&rm, 0, "a");
    pf_assert_text(&rm, 1, "b");
    pf_stop(&rm);
    pf_stop(&sep);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(drops_empty),
        cmocka_unit_test(keeps_markers_and_errors),
        cmocka_unit_test(after_separate),
    };
    return cmocka_run_group_tests(tests, pf_group_setup, pf_group_teardown);
}
