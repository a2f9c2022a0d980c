/* test_extract_glob.c - the glob extractor (src/lang/extract/glob.c): Tremor's examples,
 * the glob crate's rules for sets and `**`, and its pattern errors. */
#include "extract_test.h"

static void yes(const char *pattern, const char *input) { xt_match("glob", pattern, input, "true"); }
static void no(const char *pattern, const char *input) { xt_no_match("glob", pattern, input); }

/* Tremor's docs and test script: glob|INFO*| gives true. */
static void test_tremor_examples(void **state) {
    (void)state;
    yes("INFO*", "INFO");
    yes("INFO*", "INFO stuff");
    no("INFO*", "WARN stuff");
    yes("*INFO*", "INFO"); /* Tremor's unit test */
}

/* Tremor's is_exclusive_to tests, read as match / no match. */
static void test_tremor_exclusive_cases(void **state) {
    (void)state;
    yes("snot*", "snot");
    yes("snot*", "snot badger");
    no("snot*", "badger snot");
    no("*badger", "snot");
    no("*badger", "badger snot");
    yes("*badger", "snot badger");
    no("snot*badger", "snot");
    no("snot*badger", "badger snot");
    yes("snot*badger", "snot badger");
    yes("snot*badger", "snot snot badger");
}

/* The glob crate's own examples, and the whole-input rule. */
static void test_wildcards(void **state) {
    (void)state;
    yes("c?t", "cat");
    no("c?t", "cart");
    yes("k[!e]tteh", "kitteh");
    no("k[!e]tteh", "ketteh");
    yes("d*g", "doog");
    yes("d*g", "dg");
    no("d*g", "dog!");
    yes("", "");
    no("", "x");
    yes("*", "");
    yes("a*c", "a/b/c"); /* `*` crosses slashes with Tremor's (default) options */
    yes("h?llo", "h\xc3\xa9llo"); /* `?` is one character, not one byte */
    no("h??llo", "h\xc3\xa9llo");
    yes("Hello", "Hello");
    no("hello", "Hello"); /* case matters */
    yes("a\\b", "a\\b");   /* no escapes: a backslash is itself */
}

static void test_sets(void **state) {
    (void)state;
    yes("[0-9][0-9]", "42");
    no("[0-9]", "a");
    yes("[abc-]", "-");
    yes("[-a]", "-");
    yes("[]]", "]"); /* ']' first is a member */
    yes("[!]]", "a");
    no("[!]]", "]");
    yes("[*]", "*"); /* metacharacters in a set are literal (the docs' `[ * ]`) */
    no("[*]", "x");
    yes("[ * ]", " ");
    yes("[?]x", "?x");
    yes("[\xc3\xa9]", "\xc3\xa9");
    yes("[a-\xc3\xbf]", "\xc3\xa9"); /* ranges are over code points */
    yes("[!a-z]", "A");
}

static void test_recursive_wildcards(void **state) {
    (void)state;
    yes("a/**/c", "a/c");
    yes("a/**/c", "a/x/y/c");
    no("a/**/c", "a/xc");
    yes("**", "x/y/z");
    yes("**/b", "b");
    yes("**/b", "a/b");
    no("**/b", "ab");
    yes("a/**", "a/b/c");
    yes("a/**", "a/");
}

/* Many stars against a long non-matching input: the offset-set matcher stays linear in
 * each, where naive backtracking would not finish. */
static void test_pathological(void **state) {
    (void)state;
    size_t n = 20000;
    char *s = malloc(n + 1);
    assert_non_null(s);
    memset(s, 'a', n);
    s[n] = '\0';
    no("*a*a*a*a*a*a*a*a*a*a*b", s);
    s[n - 1] = 'b';
    yes("*a*a*a*a*a*a*a*a*a*a*b", s);
    free(s);
}

static void test_errors(void **state) {
    (void)state;
    xt_error("glob", "[", "glob: invalid range pattern at offset 0");
    xt_error("glob", "a[b", "glob: invalid range pattern at offset 1");
    xt_error("glob", "[!]", "glob: invalid range pattern at offset 0");
    xt_error("glob", "\xc3\xa9[", "glob: invalid range pattern at offset 2");
    xt_error("glob", "***", "glob: wildcards are either regular '*' or recursive '**' at offset 2");
    xt_error("glob", "a**", "glob: recursive wildcards must form a single path component at offset 0");
    xt_error("glob", "**a", "glob: recursive wildcards must form a single path component at offset 2");
    xt_error("glob", "x/**y", "glob: recursive wildcards must form a single path component at offset 4");
}

/* Invalid UTF-8 on either side: a stray byte is a character of its own. */
static void test_stray_bytes(void **state) {
    (void)state;
    yes("?", "\xff");
    yes("a?c", "a\xc3" "c"); /* truncated sequence */
    yes("\xff*", "\xff\xfe");
    no("\xff", "\xfe");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tremor_examples),
        cmocka_unit_test(test_tremor_exclusive_cases),
        cmocka_unit_test(test_wildcards),
        cmocka_unit_test(test_sets),
        cmocka_unit_test(test_recursive_wildcards),
        cmocka_unit_test(test_pathological),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_stray_bytes),
    };
    return cmocka_run_group_tests_name("extract_glob", tests, NULL, NULL);
}
