/* test_stdlib_re.c - std::re (src/lang/stdlib/re.c). Patterns in the JSON below are doubly
 * escaped: "\\\\d" in C is \\d in JSON is \d for the regex. */
#include "stdlib_test.h"

static void test_replace(void **state) {
    fx *f = *state;
    OK(f, "re::replace", "[\"t...\", \"this is a test\", \"cake\"]", "\"cake is a test\"");
    OK(f, "re::replace", "[\"x\", \"this is a test\", \"cake\"]", "\"this is a test\"");
    OK(f, "re::replace", "[\"\", \"abc\", \"-\"]", "\"-abc\"");
    OK(f, "re::replace", "[\"(\\\\w+) (\\\\w+)\", \"hello world\", \"$2 $1\"]", "\"world hello\"");
    OK(f, "re::replace", "[\"(?P<first>\\\\w+) (?P<last>\\\\w+)\", \"Springsteen Bruce\", \"$last $first\"]",
       "\"Bruce Springsteen\"");
    /* templates as Rust's: ${..}, $$, unknown groups empty, a lone $ literal */
    OK(f, "re::replace", "[\"(a)(b)\", \"ab\", \"${2}x$1_y$$ $ $9 ${nope}.\"]", "\"bx$ $  .\"");
    OK(f, "re::replace", "[\"(a)\", \"a\", \"${1\"]", "\"${1\"");
    OK(f, "re::replace", "[\"(a)?b\", \"b\", \"[$1]\"]", "\"[]\""); /* a group that took no part */
}

static void test_replace_all(void **state) {
    fx *f = *state;
    OK(f, "re::replace_all", "[\"t...\", \"this is a test\", \"cake\"]", "\"cake is a cake\"");
    OK(f, "re::replace_all", "[\"\\\\d+\", \"a1b22c333\", \"#\"]", "\"a#b#c#\"");
    OK(f, "re::replace_all", "[\"(\\\\d)\", \"a1b2\", \"<$1>\"]", "\"a<1>b<2>\"");
    /* empty matches as Rust finds them: not right after a previous match */
    OK(f, "re::replace_all", "[\"\", \"abc\", \"-\"]", "\"-a-b-c-\"");
    OK(f, "re::replace_all", "[\"a*\", \"baaac\", \"-\"]", "\"-b-c-\"");
    OK(f, "re::replace_all", "[\"x\", \"\", \"-\"]", "\"\"");
    /* Unicode classes, as Rust's Unicode-aware \\w */
    OK(f, "re::replace_all", "[\"\\\\w\", \"\\u00e9-\\u03b1\", \"x\"]", "\"x-x\"");
    OK(f, "re::replace_all", "[\".\", \"\\u2665\\u2665\", \"x\"]", "\"xx\"");
}

static void test_is_match(void **state) {
    fx *f = *state;
    OK(f, "re::is_match", "[\"t...\", \"this is a test\"]", "true");
    OK(f, "re::is_match", "[\"x...\", \"this is a test\"]", "false");
    OK(f, "re::is_match", "[\"^$\", \"\"]", "true");
    OK(f, "re::is_match", "[\"(?i)TEST\", \"a test\"]", "true");
    OK(f, "re::is_match", "[\"^\\\\d{3}-\\\\d{4}$\", \"555-1234\"]", "true");
}

static void test_split(void **state) {
    fx *f = *state;
    OK(f, "re::split", "[\" \", \"this is a test\"]", "[\"this\", \"is\", \"a\", \"test\"]");
    OK(f, "re::split", "[\"\\\\s*,\\\\s*\", \"a , b,c,\"]", "[\"a\", \"b\", \"c\", \"\"]");
    OK(f, "re::split", "[\"x\", \"abc\"]", "[\"abc\"]");
    OK(f, "re::split", "[\"x\", \"\"]", "[\"\"]");
    OK(f, "re::split", "[\"\", \"abc\"]", "[\"\", \"a\", \"b\", \"c\", \"\"]");
    OK(f, "re::split", "[\"a*\", \"baaac\"]", "[\"\", \"b\", \"c\", \"\"]");
}

static void test_invalid_utf8_subject(void **state) {
    fx *f = *state;
    tb_value args[3] = {STR("b"), STR("a\xff" "b\xfe" "b"), STR("x")};
    tb_value want = STR("a\xff" "x\xfe" "x");
    OK_V(f, "re::replace_all", args, 3, &want);
    tb_value t = tb_bool(true);
    OK_V(f, "re::is_match", args, 2, &t);
}

static void test_errors(void **state) {
    fx *f = *state;
    ERR(f, "re::is_match", "[\"(\", \"x\"]",
        "re::is_match: invalid regular expression at offset 1: missing closing parenthesis");
    ERR(f, "re::replace", "[\"[a\", \"x\", \"y\"]",
        "re::replace: invalid regular expression at offset 2: missing terminating ] for "
        "character class");
    ERR(f, "re::replace", "[1, \"x\", \"y\"]",
        "re::replace: expected a string as argument 1 (regex), found int");
    ERR(f, "re::replace_all", "[\"a\", null, \"y\"]",
        "re::replace_all: expected a string as argument 2 (input), found null");
    ERR(f, "re::replace_all", "[\"a\", \"x\", []]",
        "re::replace_all: expected a string as argument 3 (to), found array");
    ERR(f, "re::split", "[\"a\", 1]", "re::split: expected a string as argument 2 (input), found int");
    ERR(f, "re::is_match", "[{}, \"x\"]",
        "re::is_match: expected a string as argument 1 (regex), found object");
    /* a pattern that is not UTF-8 */
    tb_value bad[2] = {STR("\xff"), STR("x")}, out;
    assert_int_equal(call_n(f, "re::is_match", bad, 2, &out), TB_EINVAL);
    assert_string_equal(f->err, "re::is_match: invalid regular expression at offset 0: UTF-8 "
                                "error: illegal byte (0xfe or 0xff)");
}

static void test_catastrophic_backtracking_is_bounded(void **state) {
    fx *f = *state;
    char subject[64];
    memset(subject, 'a', 40);
    subject[40] = '!';
    tb_value args[2] = {STR("^(a+)+$"), tb_string(subject, 41)}, out;
    int rc = call_n(f, "re::is_match", args, 2, &out);
    /* PCRE2's limits end it: either an answer or a "matching failed" error, never a hang */
    if (rc == TB_OK) assert_false(out.as.b);
    else assert_string_equal(f->err, "re::is_match: matching failed: match limit exceeded");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        FX_TEST(test_replace),
        FX_TEST(test_replace_all),
        FX_TEST(test_is_match),
        FX_TEST(test_split),
        FX_TEST(test_invalid_utf8_subject),
        FX_TEST(test_errors),
        FX_TEST(test_catastrophic_backtracking_is_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
