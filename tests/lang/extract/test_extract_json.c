/* test_extract_json.c - the json extractor (src/lang/extract/json.c). */
#include "extract_test.h"

/* Tremor's unit test. */
static void test_tremor_example(void **state) {
    (void)state;
    xt_match("json", "", "{\"a\":\"b\", \"c\":\"d\"}", "{\"a\": \"b\", \"c\": \"d\"}");
}

/* Tremor's is_exclusive_to cases: any JSON value at the top level. */
static void test_any_value(void **state) {
    (void)state;
    xt_match("json", "", "2", "2");
    xt_match("json", "", "[]", "[]");
    xt_match("json", "", " {\"n\": [1, 2.5, null, true, \"x\"]} ", "{\"n\": [1, 2.5, null, true, \"x\"]}");
    xt_match("json", "", "\"caf\\u00e9\"", "\"caf\xc3\xa9\"");
    xt_no_match("json", "", "\"sn!ot");
    xt_no_match("json", "", "{badger snot");
    xt_no_match("json", "", "");
    xt_no_match("json", "", "[1,]");
    xt_no_match("json", "", "1 2");
}

/* Like Tremor, whatever is between the bars is ignored. */
static void test_pattern_ignored(void **state) {
    (void)state;
    xt_match("json", "anything at all", "{}", "{}");
}

/* Repeated keys: the later one wins, as in Tremor's json codec. */
static void test_duplicate_keys(void **state) {
    (void)state;
    tbr_extractor *x = xt_compile("json", "");
    tb_arena *arena = tbr_arena_new(0);
    tb_value in = tb_stringz("{\"a\": 1, \"a\": 2}"), out;
    assert_int_equal(tbr_extractor_run(x, &in, arena, &out), 1);
    const tb_value *a = tb_object_getz(&out, "a");
    assert_non_null(a);
    assert_int_equal(a->type, TB_I64);
    assert_int_equal(a->as.i, 2);
    tbr_extractor_free(x);
    tbr_arena_free(arena);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tremor_example),
        cmocka_unit_test(test_any_value),
        cmocka_unit_test(test_pattern_ignored),
        cmocka_unit_test(test_duplicate_keys),
    };
    return cmocka_run_group_tests_name("extract_json", tests, NULL, NULL);
}
