/* test_extract_re.c - the re extractor (src/lang/extract/re.c): Tremor's examples, the
 * regex-crate behaviours PCRE2 is configured to follow, and compile errors. */
#include "extract_test.h"

/* Tremor's unit test: a numbered group is not a field, the named one is. */
static void test_tremor_example(void **state) {
    (void)state;
    xt_match("re", "(snot)?foo(?P<snot>.*)", "foobar", "{\"snot\": \"bar\"}");
}

/* Tremor's docs: re|^http://.*\/$| on "http://example.com/": a match, no named groups, so
 * an empty record. */
static void test_docs_example(void **state) {
    (void)state;
    xt_match("re", "^http://.*/$", "http://example.com/", "{}");
    xt_no_match("re", "^http://.*/$", "https://example.com/");
}

static void test_named_groups(void **state) {
    (void)state;
    xt_match("re", "(?P<user>\\w+)", "alice logged in", "{\"user\": \"alice\"}");
    xt_match("re", "(?P<key>[^=]+)=(?P<val>[^&]+)", "foo=bar&baz=bat", "{\"key\": \"foo\", \"val\": \"bar\"}");
    /* Oniguruma/.NET style names work too */
    xt_match("re", "(?<a>\\d+)-(?'b'\\d+)", "10-20", "{\"a\": \"10\", \"b\": \"20\"}");
}

/* Tremor leaves out a group that did not take part; an empty match is still "". */
static void test_unmatched_and_empty_groups(void **state) {
    (void)state;
    xt_match("re", "(?P<a>x)?(?P<b>y)", "y", "{\"b\": \"y\"}");
    xt_match("re", "(?P<a>x*)y", "y", "{\"a\": \"\"}");
    xt_match("re", "(?P<snot>bla*)?", "cake", "{}"); /* Tremor's own comment case */
    xt_match("re", "(?:(?P<a>a)|(?P<b>b))", "b", "{\"b\": \"b\"}");
}

/* Unanchored: the first (leftmost) match anywhere in the input. */
static void test_search_not_anchored(void **state) {
    (void)state;
    xt_match("re", "(?P<n>\\d+)", "abc 123 def 456", "{\"n\": \"123\"}");
    xt_no_match("re", "^\\d+$", "abc 123");
}

/* Rust's regex: Unicode classes, `.` one code point, `$` only at the very end. */
static void test_rust_regex_semantics(void **state) {
    (void)state;
    xt_match("re", "(?P<w>\\w+)", "h\xc3\xa9llo w\xc3\xb6rld", "{\"w\": \"h\xc3\xa9llo\"}");
    xt_match("re", "^(?P<c>.)$", "\xc3\xa9", "{\"c\": \"\xc3\xa9\"}");
    xt_match("re", "(?P<d>\\d+)", "\xd9\xa3\xd9\xa4", "{\"d\": \"\xd9\xa3\xd9\xa4\"}"); /* Arabic-Indic 3 4 */
    xt_no_match("re", "^abc$", "abc\n");
    xt_match("re", "(?m)^(?P<l>b)$", "a\nb\nc", "{\"l\": \"b\"}");
    xt_match("re", "(?i)(?P<x>HELLO)", "say hello", "{\"x\": \"hello\"}");
    xt_match("re", "(?s)a(?P<x>.)b", "a\nb", "{\"x\": \"\\n\"}");
    xt_no_match("re", "a.b", "a\nb");
    xt_match("re", "\\p{Greek}+", "abc \xce\xb1\xce\xb2", "{}");
}

/* Inputs that are not valid UTF-8 are searched, not refused. */
static void test_invalid_utf8_input(void **state) {
    (void)state;
    tbr_extractor *x = xt_compile("re", "(?P<a>b+)");
    xt_run_match_n(x, "\xff\xfe" "bb\xc3", 5, "{\"a\": \"bb\"}");
    tbr_extractor_free(x);
}

/* Input containing NUL bytes: strings are (pointer, length). */
static void test_embedded_nul(void **state) {
    (void)state;
    tbr_extractor *x = xt_compile("re", "(?P<tail>z+)$");
    xt_run_match_n(x, "a\0zz", 4, "{\"tail\": \"zz\"}");
    tbr_extractor_free(x);
}

/* The values point into the input (no copy); the keys do not point into the pattern. */
static void test_zero_copy_values(void **state) {
    (void)state;
    const char *input = "id=42";
    tbr_extractor *x = xt_compile("re", "id=(?P<id>\\d+)");
    tb_arena *arena = tbr_arena_new(0);
    tb_value in = tb_stringz(input), out;
    assert_int_equal(tbr_extractor_run(x, &in, arena, &out), 1);
    assert_int_equal(out.type, TB_OBJECT);
    assert_int_equal(out.len, 1);
    assert_ptr_equal(out.as.members[0].value.as.s, input + 3);
    tbr_extractor_free(x); /* the result outlives the extractor */
    assert_int_equal(out.as.members[0].key_len, 2);
    assert_memory_equal(out.as.members[0].key, "id", 2);
    tbr_arena_free(arena);
}

/* Fields come in the order of the groups in the pattern. */
static void test_field_order(void **state) {
    (void)state;
    tbr_extractor *x = xt_compile("re", "(?P<zeta>a)(?P<alpha>b)(?P<mid>c)");
    tb_arena *arena = tbr_arena_new(0);
    tb_value in = tb_stringz("abc"), out;
    assert_int_equal(tbr_extractor_run(x, &in, arena, &out), 1);
    assert_int_equal(out.len, 3);
    assert_memory_equal(out.as.members[0].key, "zeta", 4);
    assert_memory_equal(out.as.members[1].key, "alpha", 5);
    assert_memory_equal(out.as.members[2].key, "mid", 3);
    tbr_extractor_free(x);
    tbr_arena_free(arena);
}

/* One extractor, many runs: the match data is reused correctly. */
static void test_reuse(void **state) {
    (void)state;
    tbr_extractor *x = xt_compile("re", "(?P<a>a+)?(?P<b>b+)");
    xt_run_match(x, "aab", "{\"a\": \"aa\", \"b\": \"b\"}");
    xt_run_match(x, "bbb", "{\"b\": \"bbb\"}"); /* a from the previous run must not leak */
    xt_run_no_match(x, "ccc");
    xt_run_match(x, "abb", "{\"a\": \"a\", \"b\": \"bb\"}");
    tbr_extractor_free(x);
}

static void test_errors(void **state) {
    (void)state;
    xt_error("re", "(unclosed", "re: missing closing parenthesis at offset 9");
    xt_error("re", "a{2,1}", "re: numbers out of order in {} quantifier at offset 5");
    xt_error("re", "(?P<a>x)(?P<a>y)",
             "re: two named subpatterns have the same name (PCRE2_DUPNAMES not set) at offset 14");
    xt_error("re", "[z-a]", "re: range out of order in character class at offset 3");
    xt_error("re", "x**", "re: quantifier does not follow a repeatable item at offset 2");
    xt_error("re", "\\", "re: \\ at end of pattern at offset 1");
}

/* Large input: the JIT's stack limit falls back to the interpreter, not to "no match". */
static void test_deep_backtracking(void **state) {
    (void)state;
    size_t n = 200000;
    char *big = malloc(n + 1);
    assert_non_null(big);
    memset(big, 'a', n);
    big[n - 1] = 'b';
    big[n] = '\0';
    tbr_extractor *x = xt_compile("re", "^(?:a|aa)*(?P<end>b)$");
    tb_arena *arena = tbr_arena_new(0);
    tb_value in = tb_string(big, n), out;
    assert_int_equal(tbr_extractor_run(x, &in, arena, &out), 1);
    assert_int_equal(out.len, 1);
    assert_ptr_equal(out.as.members[0].value.as.s, big + n - 1);
    tbr_extractor_free(x);
    tbr_arena_free(arena);
    free(big);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tremor_example),
        cmocka_unit_test(test_docs_example),
        cmocka_unit_test(test_named_groups),
        cmocka_unit_test(test_unmatched_and_empty_groups),
        cmocka_unit_test(test_search_not_anchored),
        cmocka_unit_test(test_rust_regex_semantics),
        cmocka_unit_test(test_invalid_utf8_input),
        cmocka_unit_test(test_embedded_nul),
        cmocka_unit_test(test_zero_copy_values),
        cmocka_unit_test(test_field_order),
        cmocka_unit_test(test_reuse),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_deep_backtracking),
    };
    return cmocka_run_group_tests_name("extract_re", tests, NULL, NULL);
}
