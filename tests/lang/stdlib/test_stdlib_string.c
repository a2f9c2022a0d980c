/* test_stdlib_string.c - std::string (src/lang/stdlib/string.c). */
#include "stdlib_test.h"

/* True when the string result r lies inside the string argument a (a slice, no copy). */
static bool inside(const tb_value *r, const tb_value *a) {
    return r->as.s >= a->as.s && r->as.s + r->len <= a->as.s + a->len;
}

static void test_len_bytes_is_empty(void **state) {
    fx *f = *state;
    OK(f, "string::len", "[\"abc\"]", "3");
    OK(f, "string::len", "[\"\"]", "0");
    OK(f, "string::len", "[\"this is another test \\u2665\"]", "22");
    OK(f, "string::len", "[\"\\ud834\\udd1e\"]", "1"); /* one code point, four bytes */
    OK(f, "string::bytes", "[\"this is another test \\u2665\"]", "24");
    OK(f, "string::bytes", "[\"\"]", "0");
    OK(f, "string::is_empty", "[\"\"]", "true");
    OK(f, "string::is_empty", "[\" \"]", "false");
    /* invalid bytes count one character each; a truncated sequence counts once */
    tb_value bad = STR("a\xff\xfe" "b"), trunc = STR("\xF0\x90\x80"), four = J(f, "4"),
             one = J(f, "1");
    OK_V(f, "string::len", &bad, 1, &four);
    OK_V(f, "string::len", &trunc, 1, &one);
    ERR(f, "string::len", "[1]", "string::len: expected a string, found int");
    ERR(f, "string::bytes", "[null]", "string::bytes: expected a string, found null");
    ERR(f, "string::is_empty", "[[]]", "string::is_empty: expected a string, found array");
}

static void test_replace(void **state) {
    fx *f = *state;
    OK(f, "string::replace", "[\"this is a test\", \"test\", \"cake\"]", "\"this is a cake\"");
    OK(f, "string::replace",
       "[\"this is a test with test present twice\", \"test\", \"cake\"]",
       "\"this is a cake with cake present twice\"");
    OK(f, "string::replace", "[\"aaa\", \"aa\", \"b\"]", "\"ba\""); /* non-overlapping */
    OK(f, "string::replace", "[\"abc\", \"x\", \"y\"]", "\"abc\"");
    OK(f, "string::replace", "[\"abc\", \"b\", \"\"]", "\"ac\"");
    OK(f, "string::replace", "[\"\", \"a\", \"b\"]", "\"\"");
    /* an empty pattern matches around every character, as in Rust */
    OK(f, "string::replace", "[\"abc\", \"\", \"-\"]", "\"-a-b-c-\"");
    OK(f, "string::replace", "[\"\", \"\", \"-\"]", "\"-\"");
    OK(f, "string::replace", "[\"\\u2665\\u2665\", \"\", \".\"]", "\".\\u2665.\\u2665.\"");
    ERR(f, "string::replace", "[1, \"a\", \"b\"]",
        "string::replace: expected a string as argument 1 (input), found int");
    ERR(f, "string::replace", "[\"a\", null, \"b\"]",
        "string::replace: expected a string as argument 2 (from), found null");
    ERR(f, "string::replace", "[\"a\", \"b\", 1.5]",
        "string::replace: expected a string as argument 3 (to), found float");
}

static void test_replace_huge_result_is_refused(void **state) {
    fx *f = *state;
    /* 64 KiB input, an empty pattern and a 64 KiB replacement: 4 GiB, refused up front */
    size_t n = 64 * 1024;
    char *big = tb_arena_alloc(f->arena, n, 1);
    assert_non_null(big);
    memset(big, 'x', n);
    tb_value args[3] = {tb_string(big, n), tb_string("", 0), tb_string(big, n)};
    tb_value out;
    assert_int_equal(call_n(f, "string::replace", args, 3, &out), TB_EINVAL);
    assert_string_equal(f->err, "string::replace: the result would be larger than 268435456 bytes");
}

static void test_trim(void **state) {
    fx *f = *state;
    OK(f, "string::trim", "[\" this is a test \"]", "\"this is a test\"");
    OK(f, "string::trim", "[\"   \"]", "\"\"");
    OK(f, "string::trim", "[\"\"]", "\"\"");
    OK(f, "string::trim", "[\"\\t\\n\\r x \\u000b\\f\"]", "\"x\"");
    /* Unicode white space: no-break space, em space, ideographic space */
    OK(f, "string::trim", "[\"\\u00a0\\u00a0this is a test\\u00a0\\u2003\\u3000\"]",
       "\"this is a test\"");
    OK(f, "string::trim_start", "[\" this is a test \"]", "\"this is a test \"");
    OK(f, "string::trim_end", "[\" this is a test \"]", "\" this is a test\"");
    OK(f, "string::trim_start", "[\"  \"]", "\"\"");
    OK(f, "string::trim_end", "[\"  \"]", "\"\"");
    /* the result is a slice of the argument */
    tb_value arg = STR("  ab  "), out;
    assert_int_equal(call_n(f, "string::trim", &arg, 1, &out), TB_OK);
    assert_true(inside(&out, &arg) && out.len == 2);
    /* invalid bytes are not white space */
    tb_value bad = STR(" \xff "), want = STR("\xff");
    OK_V(f, "string::trim", &bad, 1, &want);
    ERR(f, "string::trim", "[{}]", "string::trim: expected a string, found object");
    ERR(f, "string::trim_start", "[true]", "string::trim_start: expected a string, found bool");
    ERR(f, "string::trim_end", "[7]", "string::trim_end: expected a string, found int");
}

static void test_case(void **state) {
    fx *f = *state;
    OK(f, "string::lowercase", "[\"THIS IS A TEST\"]", "\"this is a test\"");
    OK(f, "string::uppercase", "[\"this is a test\"]", "\"THIS IS A TEST\"");
    OK(f, "string::lowercase", "[\"\"]", "\"\"");
    /* beyond ASCII: Latin-1, Latin Extended, Greek, Cyrillic, fullwidth */
    OK(f, "string::lowercase", "[\"\\u00c4\\u00d6\\u00dc \\u0141\\u00d8d\\u017d\"]",
       "\"\\u00e4\\u00f6\\u00fc \\u0142\\u00f8d\\u017e\"");
    OK(f, "string::uppercase", "[\"\\u00e4\\u00f6\\u00fc \\u0142\\u00f8d\\u017e \\u00ff\"]",
       "\"\\u00c4\\u00d6\\u00dc \\u0141\\u00d8D\\u017d \\u0178\"");
    OK(f, "string::uppercase", "[\"\\u043f\\u0440\\u0438\\u0432\\u0435\\u0442 \\u03b1\\u03b2\"]",
       "\"\\u041f\\u0420\\u0418\\u0412\\u0415\\u0422 \\u0391\\u0392\"");
    OK(f, "string::lowercase", "[\"\\uff21\\uff22\"]", "\"\\uff41\\uff42\"");
    /* full mappings: sharp s, dotted capital I, and the final sigma */
    OK(f, "string::uppercase", "[\"stra\\u00dfe\"]", "\"STRASSE\"");
    OK(f, "string::lowercase", "[\"\\u0130\"]", "\"i\\u0307\"");
    OK(f, "string::lowercase", "[\"\\u03a3\\u0391\\u03a3 \\u03a3\"]",
       "\"\\u03c3\\u03b1\\u03c2 \\u03c3\"");
    /* scripts without case, digits and invalid bytes pass through */
    OK(f, "string::uppercase", "[\"\\u65e5\\u672c 123\"]", "\"\\u65e5\\u672c 123\"");
    tb_value bad = STR("a\xff" "b"), want = STR("A\xff" "B");
    OK_V(f, "string::uppercase", &bad, 1, &want);
    ERR(f, "string::lowercase", "[1]", "string::lowercase: expected a string, found int");
    ERR(f, "string::uppercase", "[null]", "string::uppercase: expected a string, found null");
}

static void test_capitalize(void **state) {
    fx *f = *state;
    OK(f, "string::capitalize", "[\"this is a test\"]", "\"This is a test\"");
    OK(f, "string::capitalize", "[\"\"]", "\"\"");
    OK(f, "string::capitalize", "[\"1abc\"]", "\"1abc\""); /* does not skip non-letters */
    OK(f, "string::capitalize", "[\"Abc\"]", "\"Abc\"");
    OK(f, "string::capitalize", "[\"\\u00e9t\\u00e9\"]", "\"\\u00c9t\\u00e9\"");
    OK(f, "string::capitalize", "[\"\\u00dfa\"]", "\"SSa\"");
    ERR(f, "string::capitalize", "[[1]]", "string::capitalize: expected a string, found array");
}

static void test_substr(void **state) {
    fx *f = *state;
    OK(f, "string::substr", "[\"this is a test\", 5, 7]", "\"is\"");
    OK(f, "string::substr", "[\"\\u2665 utf8\", 0, 1]", "\"\\u2665\"");
    OK(f, "string::substr", "[\"\\u2665 utf8\", 2, 6]", "\"utf8\"");
    OK(f, "string::substr", "[\"abc\", 0, 3]", "\"abc\"");
    OK(f, "string::substr", "[\"abc\", 1, 100]", "\"bc\"");   /* end clamps */
    OK(f, "string::substr", "[\"abc\", 5, 10]", "\"\"");      /* start past the end */
    OK(f, "string::substr", "[\"abc\", 2, 1]", "\"\"");       /* empty range */
    OK(f, "string::substr", "[\"abc\", 1, 1]", "\"\"");
    OK(f, "string::substr", "[\"\", 0, 0]", "\"\"");
    OK(f, "string::substr", "[\"abc\", 0, 18446744073709551615]", "\"abc\"");
    tb_value arg[3] = {STR("0123456789"), tb_i64(3), tb_i64(5)}, out;
    assert_int_equal(call_n(f, "string::substr", arg, 3, &out), TB_OK);
    assert_true(inside(&out, &arg[0]));
    /* invalid bytes are characters of their own, never split */
    tb_value bad[3] = {STR("\xe2\x99" "ab"), tb_i64(0), tb_i64(1)}, want = STR("\xe2\x99");
    OK_V(f, "string::substr", bad, 3, &want);
    ERR(f, "string::substr", "[\"abc\", -1, 2]",
        "string::substr: expected a non-negative integer as argument 2 (start), found int");
    ERR(f, "string::substr", "[\"abc\", 0, 1.0]",
        "string::substr: expected a non-negative integer as argument 3 (end), found float");
    ERR(f, "string::substr", "[1, 0, 1]",
        "string::substr: expected a string as argument 1 (input), found int");
}

static void test_split(void **state) {
    fx *f = *state;
    OK(f, "string::split", "[\"this is a test\", \" \"]", "[\"this\", \"is\", \"a\", \"test\"]");
    OK(f, "string::split", "[\"a,,b,\", \",\"]", "[\"a\", \"\", \"b\", \"\"]");
    OK(f, "string::split", "[\"\", \",\"]", "[\"\"]");
    OK(f, "string::split", "[\"abc\", \"abc\"]", "[\"\", \"\"]");
    OK(f, "string::split", "[\"a::b::c\", \"::\"]", "[\"a\", \"b\", \"c\"]");
    OK(f, "string::split", "[\"abc\", \"\"]", "[\"\", \"a\", \"b\", \"c\", \"\"]");
    OK(f, "string::split", "[\"\", \"\"]", "[\"\", \"\"]");
    tb_value arg[2] = {STR("x-y"), STR("-")}, out;
    assert_int_equal(call_n(f, "string::split", arg, 2, &out), TB_OK);
    assert_int_equal(out.len, 2);
    assert_true(inside(&out.as.items[0], &arg[0]) && inside(&out.as.items[1], &arg[0]));
    ERR(f, "string::split", "[\"a\", 1]",
        "string::split: expected a string as argument 2 (separator), found int");
}

static void test_contains_starts_ends(void **state) {
    fx *f = *state;
    OK(f, "string::contains", "[\"hello snot badger\", \"snot\"]", "true");
    OK(f, "string::contains", "[\"hello snot badger\", \"gnot\"]", "false");
    OK(f, "string::contains", "[\"snot badger\", \"snot badger\"]", "true");
    OK(f, "string::contains", "[\"snot\", \"snot badger\"]", "false");
    OK(f, "string::contains", "[\"\", \"\"]", "true");
    OK(f, "string::contains", "[\"aab\", \"ab\"]", "true");
    OK(f, "string::starts_with", "[\"badger\", \"bad\"]", "true");
    OK(f, "string::starts_with", "[\"badger\", \"ger\"]", "false");
    OK(f, "string::starts_with", "[\"b\", \"badger\"]", "false");
    OK(f, "string::starts_with", "[\"x\", \"\"]", "true");
    OK(f, "string::ends_with", "[\"badger\", \"ger\"]", "true");
    OK(f, "string::ends_with", "[\"badger\", \"bad\"]", "false");
    OK(f, "string::ends_with", "[\"r\", \"badger\"]", "false");
    OK(f, "string::ends_with", "[\"\", \"\"]", "true");
    ERR(f, "string::contains", "[\"a\", null]",
        "string::contains: expected a string as argument 2 (string), found null");
    ERR(f, "string::starts_with", "[1, \"a\"]",
        "string::starts_with: expected a string as argument 1 (input), found int");
    ERR(f, "string::ends_with", "[\"a\", []]",
        "string::ends_with: expected a string as argument 2 (suffix), found array");
}

static void test_reverse(void **state) {
    fx *f = *state;
    OK(f, "string::reverse", "[\"badger\"]", "\"regdab\"");
    OK(f, "string::reverse", "[\"\"]", "\"\"");
    OK(f, "string::reverse", "[\"a\\u2665b\\ud834\\udd1e\"]", "\"\\ud834\\udd1eb\\u2665a\"");
    tb_value bad = STR("a\xe2\x99" "b"), want = STR("b\xe2\x99" "a");
    OK_V(f, "string::reverse", &bad, 1, &want);
    ERR(f, "string::reverse", "[1]", "string::reverse: expected a string, found int");
}

static void test_binary_conversions(void **state) {
    fx *f = *state;
    tb_value s = STR("badger"), b = BYTES("badger");
    OK_V(f, "string::into_binary", &s, 1, &b);
    OK_V(f, "string::from_utf8_lossy", &b, 1, &s);
    tb_value empty = BYTES(""), es = STR("");
    OK_V(f, "string::from_utf8_lossy", &empty, 1, &es);
    /* one U+FFFD per maximal invalid subpart, as Rust's String::from_utf8_lossy */
    tb_value bad = BYTES("badger\xF0\x90\x80"), want = STR("badger\xEF\xBF\xBD");
    OK_V(f, "string::from_utf8_lossy", &bad, 1, &want);
    tb_value bad2 = BYTES("\xe0\x80\x80" "a\xff"),
             want2 = STR("\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD" "a\xEF\xBF\xBD");
    OK_V(f, "string::from_utf8_lossy", &bad2, 1, &want2);
    tb_value surrogate = BYTES("\xed\xa0\x80"),
             want3 = STR("\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
    OK_V(f, "string::from_utf8_lossy", &surrogate, 1, &want3);
    /* valid input is not copied */
    tb_value out;
    assert_int_equal(call_n(f, "string::from_utf8_lossy", &b, 1, &out), TB_OK);
    assert_ptr_equal(out.as.s, (const char *)b.as.bytes);
    ERR(f, "string::into_binary", "[1]", "string::into_binary: expected a string, found int");
    ERR(f, "string::from_utf8_lossy", "[\"x\"]",
        "string::from_utf8_lossy: expected binary, found string");
}

static void test_format(void **state) {
    fx *f = *state;
    OK(f, "string::format", "[\"the {} is {}.\", \"meaning of life\", 42]",
       "\"the meaning of life is 42.\"");
    OK(f, "string::format", "[\"a string with {}\", \"more text\"]", "\"a string with more text\"");
    OK(f, "string::format", "[\"a string with {}\", 123]", "\"a string with 123\"");
    OK(f, "string::format", "[\"{{ this is a string format in parenthesis }}\"]",
       "\"{ this is a string format in parenthesis }\"");
    OK(f, "string::format", "[\"\"]", "\"\"");
    OK(f, "string::format", "[\"no placeholders\"]", "\"no placeholders\"");
    /* anything but a string is written as JSON */
    OK(f, "string::format", "[\"{}|{}|{}|{}|{}\", [1, \"a\"], {\"k\": 1.5}, null, true, 1.0]",
       "\"[1,\\\"a\\\"]|{\\\"k\\\":1.5}|null|true|1.0\"");
    OK(f, "string::format", "[\"{}{}\", \"\\u2665\", -7]", "\"\\u2665-7\"");
    /* a backslash makes a brace literal; before anything else it stays */
    OK(f, "string::format", "[\"\\\\{\\\\} \\\\n\"]", "\"{} \\\\n\"");
    ERR(f, "string::format", "[\"a string with {}\"]",
        "string::format: the arguments passed to the format function are less than the `{}` "
        "specifiers in the format string. The placeholder at 14 can not be filled");
    ERR(f, "string::format", "[\"a string with {}\", \"more text\", 123]",
        "string::format: too many parameters passed. Ensure that you have the same number of {} "
        "in your format string");
    ERR(f, "string::format", "[123]",
        "string::format: expected 1st parameter to format to be a format specifier e.g. to "
        "print a number use `string::format(\"{}\", 1)`");
    ERR(f, "string::format", "[\"\\u2665{x\"]",
        "string::format: the format specifier at 1 is invalid. If you want to use `{` as a "
        "literal in the string, you need to escape it with `{{`");
    ERR(f, "string::format", "[\"ab{\"]",
        "string::format: the format specifier at 2 is invalid. If you want to use `{` as a "
        "literal in the string, you need to escape it with `{{`");
    ERR(f, "string::format", "[\"a}b\"]",
        "string::format: the format specifier at 1 is invalid. You have to terminate `}` with "
        "another `}` to escape it");
    ERR(f, "string::format", "[\"a\\\\\"]", "string::format: bad escape sequence at 1");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        FX_TEST(test_len_bytes_is_empty),
        FX_TEST(test_replace),
        FX_TEST(test_replace_huge_result_is_refused),
        FX_TEST(test_trim),
        FX_TEST(test_case),
        FX_TEST(test_capitalize),
        FX_TEST(test_substr),
        FX_TEST(test_split),
        FX_TEST(test_contains_starts_ends),
        FX_TEST(test_reverse),
        FX_TEST(test_binary_conversions),
        FX_TEST(test_format),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
