/* test_extract_kv.c - the kv extractor (src/lang/extract/kv.c): Tremor's docs, the
 * tremor-kv crate's tests, and its pattern errors. */
#include "extract_test.h"

/* The docs: all these patterns are equivalent on "foo:bar snot:badger". */
static void test_docs_equivalent_patterns(void **state) {
    (void)state;
    static const char *const patterns[] = {
        "", " ", "%{key}:%{val}", "%{key}:%{val} ", " %{key}:%{val}", "%{key}:%{val} %{key}:%{val} %{key}:%{val}",
    };
    for (size_t i = 0; i < sizeof patterns / sizeof patterns[0]; i++)
        xt_match("kv", patterns[i], "foo:bar snot:badger", "{\"foo\": \"bar\", \"snot\": \"badger\"}");
}

/* The docs' second example: query parameters. */
static void test_docs_query_parameters(void **state) {
    (void)state;
    xt_match("kv", "%{key}=%{val}&", "a=1&b=two&c=", "{\"a\": \"1\", \"b\": \"two\", \"c\": \"\"}");
}

/* Tremor's unit and is_exclusive_to tests. */
static void test_tremor_cases(void **state) {
    (void)state;
    xt_match("kv", "", "a:b c:d", "{\"a\": \"b\", \"c\": \"d\"}");
    xt_no_match("kv", "", "sn!ot");
    xt_no_match("kv", "", "badger snot");
    xt_match("kv", "", "a:2", "{\"a\": \"2\"}");
    xt_match("kv", "", "ip:1.2.3.4 error:REFUSED", "{\"ip\": \"1.2.3.4\", \"error\": \"REFUSED\"}");
}

/* The tremor-kv crate's tests. */
static void test_crate_cases(void **state) {
    (void)state;
    xt_match("kv", "%{key}=%{val}", "this=is a=test", "{\"this\": \"is\", \"a\": \"test\"}");
    xt_match("kv", "&%{key}=%{val}", "this=is&a=test", "{\"this\": \"is\", \"a\": \"test\"}");
    xt_match("kv", "\\n%{key}=%{val}", "this=is\na=test", "{\"this\": \"is\", \"a\": \"test\"}");
    xt_match("kv", "&", "this:is&a:test", "{\"this\": \"is\", \"a\": \"test\"}");
    xt_match("kv", "%{key}%{%{val}", "this%{is a%{test", "{\"this\": \"is\", \"a\": \"test\"}");
    xt_match("kv", "%{key}%{key}%{val}", "this%{key}is a%{key}test", "{\"this\": \"is\", \"a\": \"test\"}");
    xt_match("kv", "%{key}=%{val}", "this=is", "{\"this\": \"is\"}");
    xt_no_match("kv", "%{key}=%{val}", "this is a test");
    xt_match("kv", "%{key}=%{val};%{key}:%{val} %{key}:%{val}", "this=is;a=test for:seperators",
             "{\"this\": \"is\", \"a\": \"test\", \"for\": \"seperators\"}");
    xt_match("kv", "%{key}=%{val}%{key}:%{val} %{key}:%{val};", "this=is;a=test for:seperators",
             "{\"this\": \"is\", \"a\": \"test\", \"for\": \"seperators\"}");
}

/* Pieces that are not exactly key + value are dropped; a repeated key keeps the last. */
static void test_pieces(void **state) {
    (void)state;
    xt_match("kv", "", "a:b:c d:e", "{\"d\": \"e\"}");
    xt_match("kv", "", "a:1 a:2", "{\"a\": \"2\"}");
    xt_match("kv", "", "a:1  b:2", "{\"a\": \"1\", \"b\": \"2\"}"); /* the empty piece is dropped */
    xt_match("kv", "", ":v k:", "{\"\": \"v\", \"k\": \"\"}");
    xt_no_match("kv", "", "");
    xt_match("kv", "\\t%{key}=%{val}", "a=1\tb=2", "{\"a\": \"1\", \"b\": \"2\"}");
    xt_match("kv", "\\\\", "a:1\\b:2", "{\"a\": \"1\", \"b\": \"2\"}");
}

/* The keys and values point into the input. */
static void test_zero_copy(void **state) {
    (void)state;
    const char *input = "k:v";
    tbr_extractor *x = xt_compile("kv", "");
    tb_arena *arena = tbr_arena_new(0);
    tb_value in = tb_stringz(input), out;
    assert_int_equal(tbr_extractor_run(x, &in, arena, &out), 1);
    assert_ptr_equal(out.as.members[0].key, input);
    assert_ptr_equal(out.as.members[0].value.as.s, input + 2);
    tbr_extractor_free(x);
    tbr_arena_free(arena);
}

static void test_errors(void **state) {
    (void)state;
    /* the crate's invalid_pattern cases */
    xt_error("kv", "%{key} %{val} ",
             "kv: separator ' ' is used both between keys and values and between pairs at offset 13");
    xt_error("kv", "%{key}=%{val}; %{key}:%{val} %{key}:%{val}",
             "kv: separator ' ' is part of separator '; ' at offset 28");
    xt_error("kv", "%{key}=%{val};%{key}:%{val} :%{key}:%{val}",
             "kv: separator ':' is used both between keys and values and between pairs at offset 20");
    xt_error("kv", "%{key}", "kv: '%{key}' without a following '%{val}' at offset 0");
    xt_error("kv", "&%{key}=%{val}&%{key}", "kv: '%{key}' without a following '%{val}' at offset 15");
    xt_error("kv", "a\\qb", "kv: invalid escape sequence '\\q' at offset 1");
    xt_error("kv", "&\\", "kv: unterminated escape at offset 1");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_docs_equivalent_patterns),
        cmocka_unit_test(test_docs_query_parameters),
        cmocka_unit_test(test_tremor_cases),
        cmocka_unit_test(test_crate_cases),
        cmocka_unit_test(test_pieces),
        cmocka_unit_test(test_zero_copy),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests_name("extract_kv", tests, NULL, NULL);
}
