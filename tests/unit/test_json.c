/* test_json.c - the runtime's JSON reader and writer (src/value/json_read.c, json_write.c). */
#include <float.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "value/arena.h"
#include "value/json.h"
#include "fixed_arena.h"

/* ---------------------------------------------------------------------------------------
 * Helpers
 * ------------------------------------------------------------------------------------- */

static bool same_double(double a, double b) { return memcmp(&a, &b, sizeof a) == 0; }

/* Deep structural equality: same types, exact numbers (floats bit for bit), same bytes, same
 * items, same members with the same keys in the same order. */
static bool value_equal(const tb_value *a, const tb_value *b) {
    if (a->type != b->type) return false;
    switch (a->type) {
    case TB_NULL: return true;
    case TB_BOOL: return a->as.b == b->as.b;
    case TB_I64: return a->as.i == b->as.i;
    case TB_U64: return a->as.u == b->as.u;
    case TB_F64: return same_double(a->as.f, b->as.f);
    case TB_STRING:
        return a->len == b->len && (a->len == 0 || memcmp(a->as.s, b->as.s, a->len) == 0);
    case TB_BYTES:
        return a->len == b->len && (a->len == 0 || memcmp(a->as.bytes, b->as.bytes, a->len) == 0);
    case TB_ARRAY:
        if (a->len != b->len) return false;
        for (uint32_t i = 0; i < a->len; i++)
            if (!value_equal(&a->as.items[i], &b->as.items[i])) return false;
        return true;
    case TB_OBJECT:
        if (a->len != b->len) return false;
        for (uint32_t i = 0; i < a->len; i++) {
            const tb_member *ma = &a->as.members[i], *mb = &b->as.members[i];
            if (ma->key_len != mb->key_len) return false;
            if (ma->key_len && memcmp(ma->key, mb->key, ma->key_len) != 0) return false;
            if (!value_equal(&ma->value, &mb->value)) return false;
        }
        return true;
    default: return false;
    }
}

typedef struct fixture {
    tb_arena *arena;
    char err[256];
} fixture;

static int setup(void **state) {
    fixture *f = calloc(1, sizeof *f);
    if (!f) return -1;
    f->arena = tbr_arena_new(4096);
    if (!f->arena) {
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture *f = *state;
    tbr_arena_free(f->arena);
    free(f);
    return 0;
}

/* Parses text (its strlen) and fails the test with the parser's message on error. */
static tb_value parse_ok_n(fixture *f, const char *text, size_t len) {
    tb_value v;
    memset(&v, 0xCC, sizeof v);
    int rc = tbr_json_parse(f->arena, text, len, &v, f->err, sizeof f->err);
    if (rc != TB_OK) fail_msg("parse of <%.*s> failed (%d): %s", (int)len, text, rc, f->err);
    assert_string_equal(f->err, "");
    return v;
}

static tb_value parse_ok(fixture *f, const char *text) { return parse_ok_n(f, text, strlen(text)); }

/* Writes v compactly into a NUL-terminated arena string. */
static const char *write_str(fixture *f, const tb_value *v) {
    tb_buf buf;
    tb_buf_init(&buf, f->arena);
    assert_int_equal(tbr_json_write(v, &buf), TB_OK);
    assert_true(tb_buf_append(&buf, "", 1));
    return (const char *)buf.data;
}


/* ---------------------------------------------------------------------------------------
 * Parsing: values
 * ------------------------------------------------------------------------------------- */

static void test_parse_all_types(void **state) {
    fixture *f = *state;
    tb_value v = parse_ok(f, " { \"n\" : null , \"t\":true,\"f\":false,\"i\":-42,"
                             "\"u\":18446744073709551615,\"d\":1.5,\"s\":\"hi\","
                             "\"a\":[1,\"x\",[],{}],\"o\":{\"k\":[null]}}\t\r\n");
    assert_int_equal(v.type, TB_OBJECT);
    assert_int_equal(v.len, 9);
    assert_int_equal(tb_object_getz(&v, "n")->type, TB_NULL);
    assert_int_equal(tb_object_getz(&v, "t")->type, TB_BOOL);
    assert_true(tb_object_getz(&v, "t")->as.b);
    assert_int_equal(tb_object_getz(&v, "f")->type, TB_BOOL);
    assert_false(tb_object_getz(&v, "f")->as.b);
    assert_int_equal(tb_object_getz(&v, "i")->type, TB_I64);
    assert_true(tb_object_getz(&v, "i")->as.i == -42);
    assert_int_equal(tb_object_getz(&v, "u")->type, TB_U64);
    assert_true(tb_object_getz(&v, "u")->as.u == UINT64_MAX);
    assert_int_equal(tb_object_getz(&v, "d")->type, TB_F64);
    assert_true(same_double(tb_object_getz(&v, "d")->as.f, 1.5));
    assert_true(tb_value_str_eq(tb_object_getz(&v, "s"), "hi"));
    tb_value *a = tb_object_getz(&v, "a");
    assert_int_equal(a->type, TB_ARRAY);
    assert_int_equal(a->len, 4);
    assert_true(a->as.items[0].type == TB_I64 && a->as.items[0].as.i == 1);
    assert_true(tb_value_str_eq(&a->as.items[1], "x"));
    assert_true(a->as.items[2].type == TB_ARRAY && a->as.items[2].len == 0);
    assert_true(a->as.items[3].type == TB_OBJECT && a->as.items[3].len == 0);
    tb_value *o = tb_object_getz(&v, "o");
    assert_int_equal(o->type, TB_OBJECT);
    tb_value *k = tb_object_getz(o, "k");
    assert_true(k->type == TB_ARRAY && k->len == 1 && k->as.items[0].type == TB_NULL);
    /* insertion order */
    assert_memory_equal(v.as.members[0].key, "n", 1);
    assert_memory_equal(v.as.members[8].key, "o", 1);

    /* scalars at the top level */
    v = parse_ok(f, "true");
    assert_true(v.type == TB_BOOL && v.as.b);
    v = parse_ok(f, "  null  ");
    assert_int_equal(v.type, TB_NULL);
    v = parse_ok(f, "\"\"");
    assert_int_equal(v.type, TB_STRING);
    assert_int_equal(v.len, 0);
}

static void test_parse_integers_exact(void **state) {
    fixture *f = *state;
    static const struct { const char *text; int type; int64_t i; uint64_t u; } cases[] = {
        {"0", TB_I64, 0, 0},
        {"-0", TB_I64, 0, 0},
        {"7", TB_I64, 7, 0},
        {"-7", TB_I64, -7, 0},
        {"9007199254740993", TB_I64, INT64_C(9007199254740993), 0}, /* not a double */
        {"-9223372036854775808", TB_I64, INT64_MIN, 0},
        {"9223372036854775807", TB_I64, INT64_MAX, 0},
        {"-9223372036854775807", TB_I64, -INT64_MAX, 0},
        {"9223372036854775808", TB_U64, 0, UINT64_C(9223372036854775808)},
        {"18446744073709551615", TB_U64, 0, UINT64_MAX},
        {"18446744073709551614", TB_U64, 0, UINT64_MAX - 1},
    };
    for (size_t n = 0; n < sizeof cases / sizeof cases[0]; n++) {
        tb_value v = parse_ok(f, cases[n].text);
        if (v.type != cases[n].type) fail_msg("%s: type %d", cases[n].text, v.type);
        if (v.type == TB_I64) assert_true(v.as.i == cases[n].i);
        else assert_true(v.as.u == cases[n].u);
    }
    /* out of the integer range: floats */
    tb_value v = parse_ok(f, "18446744073709551616");
    assert_int_equal(v.type, TB_F64);
    assert_true(same_double(v.as.f, 18446744073709551616.0));
    v = parse_ok(f, "-9223372036854775809");
    assert_int_equal(v.type, TB_F64);
    assert_true(same_double(v.as.f, -9223372036854775808.0));
    v = parse_ok(f, "123456789012345678901234567890");
    assert_int_equal(v.type, TB_F64);
    assert_true(same_double(v.as.f, 1.2345678901234568e29));
    v = parse_ok(f, "-123456789012345678901234567890");
    assert_int_equal(v.type, TB_F64);
    assert_true(same_double(v.as.f, -1.2345678901234568e29));
}

static void test_parse_floats(void **state) {
    fixture *f = *state;
    static const struct { const char *text; double d; } cases[] = {
        {"0.1", 0.1},
        {"1.0", 1.0},
        {"-2.5", -2.5},
        {"1e2", 100.0},
        {"1E2", 100.0},
        {"1e+2", 100.0},
        {"1.5e-3", 0.0015},
        {"-1.5E+10", -1.5e10},
        {"0e0", 0.0},
        {"0.0", 0.0},
        {"5e-324", 5e-324},
        {"1.7976931348623157e308", DBL_MAX},
        {"2.2250738585072014e-308", DBL_MIN},
        {"3.141592653589793", 3.141592653589793},
        {"1e-400", 0.0}, /* underflow is zero, not an error */
    };
    for (size_t n = 0; n < sizeof cases / sizeof cases[0]; n++) {
        tb_value v = parse_ok(f, cases[n].text);
        if (v.type != TB_F64) fail_msg("%s: type %d", cases[n].text, v.type);
        if (!same_double(v.as.f, cases[n].d))
            fail_msg("%s: got %.17g want %.17g", cases[n].text, v.as.f, cases[n].d);
    }
    tb_value v = parse_ok(f, "-0.0");
    assert_int_equal(v.type, TB_F64);
    assert_true(v.as.f == 0.0 && signbit(v.as.f));
}

static void test_parse_respects_length(void **state) {
    fixture *f = *state;
    tb_value v = parse_ok_n(f, "[1,2]xyz", 5);
    assert_int_equal(v.type, TB_ARRAY);
    assert_int_equal(v.len, 2);
    v = parse_ok_n(f, "123", 2);
    assert_true(v.type == TB_I64 && v.as.i == 12);
    v = parse_ok_n(f, "truex", 4);
    assert_true(v.type == TB_BOOL && v.as.b);
    v = parse_ok_n(f, "\"ab\"cd", 4);
    assert_true(tb_value_str_eq(&v, "ab"));
    /* cut inside a literal, a number and a string */
    tb_value out;
    assert_int_equal(tbr_json_parse(f->arena, "true", 3, &out, f->err, sizeof f->err), TB_EINVAL);
    assert_string_equal(f->err, "line 1, column 1: expected a value, found 't'");
    assert_int_equal(tbr_json_parse(f->arena, "1.5", 2, &out, f->err, sizeof f->err), TB_EINVAL);
    assert_string_equal(f->err, "line 1, column 3: digit expected after '.'");
    assert_int_equal(tbr_json_parse(f->arena, "\"abc\"", 4, &out, f->err, sizeof f->err),
                     TB_EINVAL);
    assert_string_equal(f->err, "line 1, column 1: unterminated string");
}

static void test_parse_zero_copy_strings(void **state) {
    fixture *f = *state;
    static const char src[] = "{\"key\":\"value\",\"esc\":\"a\\nb\",\"utf\":\"h\xc3\xa9llo "
                              "\xf0\x9f\x98\x80\",\"k\\u0041\":1}";
    size_t len = sizeof src - 1;
    char *text = malloc(len); /* no NUL after it, on purpose */
    assert_non_null(text);
    memcpy(text, src, len);
    tb_value v = parse_ok_n(f, text, len);
    assert_int_equal(v.len, 4);

    const tb_member *m = &v.as.members[0];
    assert_ptr_equal(m->key, text + 2); /* "key" right after {" */
    assert_int_equal(m->key_len, 3);
    assert_ptr_equal(m->value.as.s, text + 8);
    assert_int_equal(m->value.len, 5);
    assert_true(tb_value_str_eq(&m->value, "value"));

    /* an escape forces a decoded copy, which is not in the input */
    m = &v.as.members[1];
    assert_true(m->key >= text && m->key < text + len);
    const char *s = m->value.as.s;
    assert_false(s >= text && s < text + len);
    assert_int_equal(m->value.len, 3);
    assert_memory_equal(s, "a\nb", 3);

    /* raw UTF-8 without escapes stays zero copy */
    m = &v.as.members[2];
    s = m->value.as.s;
    assert_true(s >= text && s + m->value.len <= text + len);
    assert_int_equal(m->value.len, 11);
    assert_memory_equal(s, "h\xc3\xa9llo \xf0\x9f\x98\x80", 11);

    /* an escaped key is decoded too */
    m = &v.as.members[3];
    assert_false(m->key >= text && m->key < text + len);
    assert_int_equal(m->key_len, 2);
    assert_memory_equal(m->key, "kA", 2);
    assert_non_null(tb_object_getz(&v, "kA"));
    free(text);
}

static void test_parse_escapes(void **state) {
    fixture *f = *state;
    static const struct { const char *json; const char *bytes; size_t len; } cases[] = {
        {"\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"", "\"\\/\b\f\n\r\t", 8},
        {"\"\\u00e9\"", "\xc3\xa9", 2},
        {"\"\\u00E9\"", "\xc3\xa9", 2},
        {"\"caf\\u00e9!\"", "caf\xc3\xa9!", 6},
        {"\"\\u0041\"", "A", 1},
        {"\"a\\u0000b\"", "a\0b", 3},
        {"\"\\u007f\\u0080\\u07ff\\u0800\\uffff\"", "\x7f\xc2\x80\xdf\xbf\xe0\xa0\x80\xef\xbf\xbf",
         11},
        {"\"\\u20ac\"", "\xe2\x82\xac", 3},
        {"\"\\ud83d\\ude00\"", "\xf0\x9f\x98\x80", 4},
        {"\"\\uD834\\uDD1E\"", "\xf0\x9d\x84\x9e", 4},
        {"\"\\udbff\\udfff\"", "\xf4\x8f\xbf\xbf", 4}, /* U+10FFFF */
        {"\"\\ud800\\udc00\"", "\xf0\x90\x80\x80", 4}, /* U+10000 */
        {"\"x\\\\u0041\"", "x\\u0041", 7},             /* an escaped backslash, then text */
    };
    for (size_t n = 0; n < sizeof cases / sizeof cases[0]; n++) {
        tb_value v = parse_ok(f, cases[n].json);
        assert_int_equal(v.type, TB_STRING);
        if (v.len != cases[n].len || memcmp(v.as.s, cases[n].bytes, v.len) != 0)
            fail_msg("%s decoded to %u bytes", cases[n].json, v.len);
    }
}

static void test_parse_duplicates_and_large(void **state) {
    fixture *f = *state;
    tb_value v = parse_ok(f, "{\"a\":1,\"b\":2,\"a\":3}");
    assert_int_equal(v.len, 3); /* kept, in order */
    assert_true(tb_object_getz(&v, "a")->as.i == 3);
    assert_true(v.as.members[0].value.as.i == 1);

    /* a large array: exercises growth and arena chunks */
    enum { N = 20000 };
    size_t cap = N * 8 + 16;
    char *text = malloc(cap);
    assert_non_null(text);
    size_t len = 0;
    text[len++] = '[';
    for (int i = 0; i < N; i++) len += (size_t)snprintf(text + len, cap - len, i ? ",%d" : "%d", i * 3);
    text[len++] = ']';
    v = parse_ok_n(f, text, len);
    assert_int_equal(v.len, N);
    for (int i = 0; i < N; i++) assert_true(v.as.items[i].type == TB_I64 && v.as.items[i].as.i == i * 3);
    free(text);
}

static char *nested(int depth, const char *inner) {
    size_t n = strlen(inner);
    char *s = malloc((size_t)depth * 2 + n + 1);
    if (!s) return NULL;
    memset(s, '[', (size_t)depth);
    memcpy(s + depth, inner, n);
    memset(s + depth + n, ']', (size_t)depth);
    s[2 * (size_t)depth + n] = '\0';
    return s;
}

static void test_parse_depth_limit(void **state) {
    fixture *f = *state;
    /* a value inside TBR_JSON_MAX_DEPTH containers is fine */
    char *ok = nested(TBR_JSON_MAX_DEPTH, "1");
    assert_non_null(ok);
    tb_value v = parse_ok(f, ok);
    for (int d = 0; d < TBR_JSON_MAX_DEPTH; d++) {
        assert_int_equal(v.type, TB_ARRAY);
        assert_int_equal(v.len, 1);
        v = v.as.items[0];
    }
    assert_true(v.type == TB_I64 && v.as.i == 1);
    free(ok);

    /* one more is refused, at the value that is too deep */
    char *bad = nested(TBR_JSON_MAX_DEPTH + 1, "1");
    tb_value out;
    assert_int_equal(tbr_json_parse(f->arena, bad, strlen(bad), &out, f->err, sizeof f->err),
                     TB_EINVAL);
    assert_string_equal(f->err, "line 1, column 514: nesting deeper than 512 levels");
    free(bad);

    /* far deeper input fails the same way, without exhausting the stack */
    char *deep = nested(200000, "");
    assert_int_equal(tbr_json_parse(f->arena, deep, strlen(deep), &out, f->err, sizeof f->err),
                     TB_EINVAL);
    assert_string_equal(f->err, "line 1, column 514: nesting deeper than 512 levels");
    free(deep);

    /* objects count the same */
    size_t cap = (TBR_JSON_MAX_DEPTH + 2) * 6 + 8;
    char *obj = malloc(cap);
    size_t len = 0;
    for (int d = 0; d <= TBR_JSON_MAX_DEPTH; d++) len += (size_t)snprintf(obj + len, cap - len, "{\"a\":");
    obj[len++] = '1';
    for (int d = 0; d <= TBR_JSON_MAX_DEPTH; d++) obj[len++] = '}';
    assert_int_equal(tbr_json_parse(f->arena, obj, len, &out, f->err, sizeof f->err), TB_EINVAL);
    assert_string_equal(f->err, "line 1, column 2566: nesting deeper than 512 levels");
    free(obj);
}

/* ---------------------------------------------------------------------------------------
 * Parsing: errors
 * ------------------------------------------------------------------------------------- */

typedef struct bad_case {
    const char *text;
    size_t len; /* 0: strlen(text) */
    const char *msg;
} bad_case;

static void check_bad(fixture *f, const bad_case *cases, size_t count) {
    for (size_t n = 0; n < count; n++) {
        size_t len = cases[n].len ? cases[n].len : strlen(cases[n].text);
        tb_value out;
        memset(f->err, 'X', sizeof f->err);
        int rc = tbr_json_parse(f->arena, cases[n].text, len, &out, f->err, sizeof f->err);
        if (rc != TB_EINVAL || strcmp(f->err, cases[n].msg) != 0)
            fail_msg("case %zu <%.*s>: rc %d, message\n  got:  %s\n  want: %s", n, (int)len,
                     cases[n].text, rc, f->err, cases[n].msg);
    }
}

static void test_errors_structure(void **state) {
    static const bad_case cases[] = {
        {"", 0, "line 1, column 1: expected a value, found end of input"},
        {" \n ", 0, "line 2, column 2: expected a value, found end of input"},
        {"[\n  1 }", 0, "line 2, column 5: expected ',' or ']', found '}'"},
        {"[1", 0, "line 1, column 3: expected ',' or ']', found end of input"},
        {"[1,]", 0, "line 1, column 4: expected a value, found ']'"},
        {"[,1]", 0, "line 1, column 2: expected a value, found ','"},
        {"{\"a\" 1}", 0, "line 1, column 6: expected ':', found '1'"},
        {"{1:2}", 0, "line 1, column 2: expected a string key, found '1'"},
        {"{\"a\":1,}", 0, "line 1, column 8: expected a string key, found '}'"},
        {"{\"a\":1", 0, "line 1, column 7: expected ',' or '}', found end of input"},
        {"{\"a\":1]", 0, "line 1, column 7: expected ',' or '}', found ']'"},
        {"{\"a\":}", 0, "line 1, column 6: expected a value, found '}'"},
        {"{\n  \"a\": [1,\n   2,,\n]}", 0, "line 3, column 6: expected a value, found ','"},
        {"[\"\xc3\xa9\", x]", 0, "line 1, column 7: expected a value, found 'x'"},
        {"[\r\n1 x]", 0, "line 2, column 3: expected ',' or ']', found 'x'"},
        {"tru", 0, "line 1, column 1: expected a value, found 't'"},
        {"nul", 0, "line 1, column 1: expected a value, found 'n'"},
        {"True", 0, "line 1, column 1: expected a value, found 'T'"},
        {"NaN", 0, "line 1, column 1: expected a value, found 'N'"},
        {"'a'", 0, "line 1, column 1: expected a value, found '''"},
        {"[\0]", 3, "line 1, column 2: expected a value, found byte 0x00"},
        {"\xef\xbb\xbf{}", 0, "line 1, column 1: expected a value, found byte 0xef"},
    };
    check_bad(*state, cases, sizeof cases / sizeof cases[0]);
}

static void test_errors_trailing_garbage(void **state) {
    static const bad_case cases[] = {
        {"{} x", 0, "line 1, column 4: expected end of input, found 'x'"},
        {"1 2", 0, "line 1, column 3: expected end of input, found '2'"},
        {"[1]]", 0, "line 1, column 4: expected end of input, found ']'"},
        {"nulll", 0, "line 1, column 5: expected end of input, found 'l'"},
        {"\"a\"\"b\"", 0, "line 1, column 4: expected end of input, found '\"'"},
        {"{}\n\n  ,", 0, "line 3, column 3: expected end of input, found ','"},
        {"1\0", 2, "line 1, column 2: expected end of input, found byte 0x00"},
    };
    check_bad(*state, cases, sizeof cases / sizeof cases[0]);
}

static void test_errors_strings(void **state) {
    static const bad_case cases[] = {
        {"\"abc", 0, "line 1, column 1: unterminated string"},
        {"{\"a\":\"x", 0, "line 1, column 6: unterminated string"},
        {"{\"ab", 0, "line 1, column 2: unterminated string"},
        {"[\"ab\\\"]", 0, "line 1, column 2: unterminated string"}, /* the quote is escaped */
        {"\"ab\\", 0, "line 1, column 1: unterminated string"},      /* ends in a backslash */
        {"[\"\\", 0, "line 1, column 2: unterminated string"},
        {"\"a\\qb\"", 0, "line 1, column 3: invalid escape '\\q'"},
        {"\"\\x41\"", 0, "line 1, column 2: invalid escape '\\x'"},
        {"\"\\U0041\"", 0, "line 1, column 2: invalid escape '\\U'"},
        {"\"\\ud800\"", 0, "line 1, column 2: unpaired high surrogate"},
        {"\"x\\ud800\\u0041\"", 0, "line 1, column 3: unpaired high surrogate"},
        {"\"\\ud800\\ud800\"", 0, "line 1, column 2: unpaired high surrogate"},
        {"\"\\ud800\\n\"", 0, "line 1, column 2: unpaired high surrogate"},
        {"\"\\ud800abcdef\"", 0, "line 1, column 2: unpaired high surrogate"},
        {"\"\\udc00\"", 0, "line 1, column 2: unpaired low surrogate"},
        {"\"\\ude00\\ud83d\"", 0, "line 1, column 2: unpaired low surrogate"},
        {"\"\\u12G4\"", 0, "line 1, column 6: invalid hex digit in \\u escape"},
        {"\"\\u12\"", 0, "line 1, column 4: truncated \\u escape"},
        {"\"a\tb\"", 0, "line 1, column 3: control character 0x09 in string"},
        {"\"a\nb\"", 0, "line 1, column 3: control character 0x0a in string"},
        {"[\"\x01\"]", 0, "line 1, column 3: control character 0x01 in string"},
        {"\"\x1f\"", 0, "line 1, column 2: control character 0x1f in string"},
        {"\"a\0\"", 4, "line 1, column 3: control character 0x00 in string"},
        {"{\"k\x02\":1}", 0, "line 1, column 4: control character 0x02 in string"},
    };
    check_bad(*state, cases, sizeof cases / sizeof cases[0]);
}

static void test_errors_utf8(void **state) {
    static const bad_case cases[] = {
        {"\"\xff\"", 0, "line 1, column 2: invalid UTF-8 in string"},
        {"\"\x80\"", 0, "line 1, column 2: invalid UTF-8 in string"},         /* continuation */
        {"\"\xc0\x80\"", 0, "line 1, column 2: invalid UTF-8 in string"},     /* overlong */
        {"\"\xc1\xbf\"", 0, "line 1, column 2: invalid UTF-8 in string"},     /* overlong */
        {"\"\xe0\x80\x80\"", 0, "line 1, column 2: invalid UTF-8 in string"}, /* overlong */
        {"\"\xf0\x80\x80\x80\"", 0, "line 1, column 2: invalid UTF-8 in string"},
        {"\"\xed\xa0\x80\"", 0, "line 1, column 2: invalid UTF-8 in string"}, /* surrogate */
        {"\"\xf4\x90\x80\x80\"", 0, "line 1, column 2: invalid UTF-8 in string"},
        {"\"\xf5\x80\x80\x80\"", 0, "line 1, column 2: invalid UTF-8 in string"},
        {"\"\xe2\x82\"", 0, "line 1, column 2: invalid UTF-8 in string"},     /* truncated */
        {"\"\xf0\x9f\x98", 0, "line 1, column 2: invalid UTF-8 in string"},   /* at the end */
        {"\"\xc3\xa9\x80\"", 0, "line 1, column 3: invalid UTF-8 in string"}, /* after é */
        {"{\"\xc3\":1}", 0, "line 1, column 3: invalid UTF-8 in string"},
    };
    check_bad(*state, cases, sizeof cases / sizeof cases[0]);
}

static void test_errors_numbers(void **state) {
    static const bad_case cases[] = {
        {"01", 0, "line 1, column 1: leading zero in number"},
        {"00", 0, "line 1, column 1: leading zero in number"},
        {"-012", 0, "line 1, column 1: leading zero in number"},
        {"[1,00]", 0, "line 1, column 4: leading zero in number"},
        {"1.", 0, "line 1, column 3: digit expected after '.'"},
        {"1.e5", 0, "line 1, column 3: digit expected after '.'"},
        {"1e", 0, "line 1, column 3: digit expected in exponent"},
        {"1e+", 0, "line 1, column 4: digit expected in exponent"},
        {"[1E-x]", 0, "line 1, column 5: digit expected in exponent"},
        {"-", 0, "line 1, column 1: invalid number"},
        {"-x", 0, "line 1, column 1: invalid number"},
        {"[-]", 0, "line 1, column 2: invalid number"},
        {"+1", 0, "line 1, column 1: expected a value, found '+'"},
        {".5", 0, "line 1, column 1: expected a value, found '.'"},
        {"1e400", 0, "line 1, column 1: number out of range"},
        {"[0, -1e400]", 0, "line 1, column 5: number out of range"},
        {"0x10", 0, "line 1, column 2: expected end of input, found 'x'"},
        {"1.5.5", 0, "line 1, column 4: expected end of input, found '.'"},
    };
    check_bad(*state, cases, sizeof cases / sizeof cases[0]);
}

static void test_error_buffer_handling(void **state) {
    fixture *f = *state;
    tb_value out;
    char small[10];
    assert_int_equal(tbr_json_parse(f->arena, "[1,]", 4, &out, small, sizeof small), TB_EINVAL);
    assert_string_equal(small, "line 1, c"); /* cut and terminated */
    char one[1] = {'X'};
    assert_int_equal(tbr_json_parse(f->arena, "[1,]", 4, &out, one, 1), TB_EINVAL);
    assert_int_equal(one[0], '\0');
    assert_int_equal(tbr_json_parse(f->arena, "[1,]", 4, &out, NULL, 0), TB_EINVAL);
    /* success clears a stale message */
    snprintf(f->err, sizeof f->err, "stale");
    assert_int_equal(tbr_json_parse(f->arena, "[]", 2, &out, f->err, sizeof f->err), TB_OK);
    assert_string_equal(f->err, "");
}

static void test_parse_out_of_memory(void **state) {
    (void)state;
    fixed_arena fa;
    tb_value out;
    char err[64];
    fixed_arena_init(&fa, 16);
    assert_int_equal(tbr_json_parse(&fa.pub, "[1,2]", 5, &out, err, sizeof err), TB_ENOMEM);
    assert_string_equal(err, "out of memory");
    fixed_arena_init(&fa, 0);
    assert_int_equal(tbr_json_parse(&fa.pub, "{\"a\":1}", 7, &out, err, sizeof err), TB_ENOMEM);
    assert_string_equal(err, "out of memory");
    fixed_arena_init(&fa, 2); /* a decoded string needs 4 bytes */
    assert_int_equal(tbr_json_parse(&fa.pub, "\"\\n\\n\"", 6, &out, err, sizeof err), TB_ENOMEM);
    assert_string_equal(err, "out of memory");
    /* strings without escapes and scalars need no memory at all */
    assert_int_equal(tbr_json_parse(&fa.pub, "\"plain\"", 7, &out, err, sizeof err), TB_OK);
    assert_true(tb_value_str_eq(&out, "plain"));
    assert_int_equal(tbr_json_parse(&fa.pub, "-12", 3, &out, err, sizeof err), TB_OK);
    assert_true(out.as.i == -12);
}

/* ---------------------------------------------------------------------------------------
 * Writing
 * ------------------------------------------------------------------------------------- */

static void test_write_scalars(void **state) {
    fixture *f = *state;
    tb_value v = tb_null();
    assert_string_equal(write_str(f, &v), "null");
    v = tb_bool(true);
    assert_string_equal(write_str(f, &v), "true");
    v = tb_bool(false);
    assert_string_equal(write_str(f, &v), "false");
    v = tb_i64(-42);
    assert_string_equal(write_str(f, &v), "-42");
    v = tb_i64(INT64_MIN);
    assert_string_equal(write_str(f, &v), "-9223372036854775808");
    v = tb_u64(UINT64_MAX);
    assert_string_equal(write_str(f, &v), "18446744073709551615");
    v = tb_stringz("");
    assert_string_equal(write_str(f, &v), "\"\"");
    static const uint8_t raw[] = {0, 255, 7};
    v = tb_bytes(raw, 3);
    assert_string_equal(write_str(f, &v), "[0,255,7]");
    v = tb_bytes(raw, 0);
    assert_string_equal(write_str(f, &v), "[]");
    v = tb_array();
    assert_string_equal(write_str(f, &v), "[]");
    v = tb_object();
    assert_string_equal(write_str(f, &v), "{}");
    v.type = 200; /* an unknown type writes as null */
    assert_string_equal(write_str(f, &v), "null");
}

static void test_write_floats(void **state) {
    fixture *f = *state;
    static const struct { double d; const char *text; } cases[] = {
        {1.5, "1.5"},
        {2.0, "2.0"},
        {0.0, "0.0"},
        {-0.0, "-0.0"},
        {100.0, "100.0"},
        {-3.0, "-3.0"},
        {0.1, "0.1"},  /* the shortest text that reads back the same */
        {0.30000000000000004, "0.30000000000000004"},
        {1e16, "1e+16"},
        {1e17, "1e+17"},
        {1e21, "1e+21"},
        {1e-7, "1e-07"},
        {5e-324, "4.94065645841247e-324"},
    };
    for (size_t n = 0; n < sizeof cases / sizeof cases[0]; n++) {
        tb_value v = tb_f64(cases[n].d);
        assert_string_equal(write_str(f, &v), cases[n].text);
        /* and each reads back as the same float */
        tb_value back = parse_ok(f, cases[n].text);
        assert_int_equal(back.type, TB_F64);
        assert_true(same_double(back.as.f, cases[n].d));
    }
    /* JSON has no NaN or infinity */
    tb_value v = tb_f64(NAN);
    assert_string_equal(write_str(f, &v), "null");
    v = tb_f64(INFINITY);
    assert_string_equal(write_str(f, &v), "null");
    v = tb_f64(-INFINITY);
    assert_string_equal(write_str(f, &v), "null");
}

static void test_float_round_trip(void **state) {
    fixture *f = *state;
    static const double vals[] = {0.1, 0.2, 0.30000000000000004, 1.0 / 3.0, 2.0 / 3.0, -1e-300,
                                  5e-324, DBL_MIN, DBL_MAX, -DBL_MAX, 123456.789, 1e21, 1e22,
                                  9007199254740993.0, 4503599627370497.5, 6.02214076e23, -0.0,
                                  2.0, 1e100, 3.14159265358979323846};
    tb_value arr = tb_array();
    for (size_t n = 0; n < sizeof vals / sizeof vals[0]; n++) *tb_array_push(f->arena, &arr) = tb_f64(vals[n]);
    /* plus a sweep of awkward values */
    uint64_t bits = UINT64_C(0x3ff0000000000001);
    for (int n = 0; n < 2000; n++) {
        double d;
        bits = bits * UINT64_C(6364136223846793005) + UINT64_C(1442695040888963407);
        uint64_t b = bits & ~(UINT64_C(0x7ff) << 52); /* finite: exponent field below all-ones */
        b |= (uint64_t)(n % 2046) << 52;
        memcpy(&d, &b, sizeof d);
        *tb_array_push(f->arena, &arr) = tb_f64(d);
    }
    const char *text = write_str(f, &arr);
    tb_value back = parse_ok(f, text);
    assert_int_equal(back.len, arr.len);
    for (uint32_t i = 0; i < arr.len; i++) {
        if (back.as.items[i].type != TB_F64 || !same_double(back.as.items[i].as.f, arr.as.items[i].as.f))
            fail_msg("item %u: %.17g came back as type %d %.17g", i, arr.as.items[i].as.f,
                     back.as.items[i].type, back.as.items[i].as.f);
    }
}

static void test_write_string_escapes(void **state) {
    fixture *f = *state;
    static const char in[] = "a\"b\\c\n\r\t\x01\x1f\x7f/\xc3\xa9\b\f";
    tb_value v = tb_string(in, sizeof in - 1);
    assert_string_equal(write_str(f, &v),
                        "\"a\\\"b\\\\c\\n\\r\\t\\u0001\\u001f\x7f/\xc3\xa9\\u0008\\u000c\"");
    v = tb_string("a\0b", 3);
    assert_string_equal(write_str(f, &v), "\"a\\u0000b\"");
    v = tb_string("\"", 1);
    assert_string_equal(write_str(f, &v), "\"\\\"\"");
    v = tb_string("plain text", 5); /* only len bytes */
    assert_string_equal(write_str(f, &v), "\"plain\"");

    /* every control character is escaped and decodes back */
    char all[32];
    for (int c = 0; c < 32; c++) all[c] = (char)c;
    v = tb_string(all, 32);
    const char *text = write_str(f, &v);
    for (const char *p = text; *p; p++) assert_true((unsigned char)*p >= 0x20);
    tb_value back = parse_ok(f, text);
    assert_true(value_equal(&v, &back));

    /* keys are escaped the same way */
    tb_value obj = tb_object();
    *tb_object_append(f->arena, &obj, "q\"k\n", 4) = tb_i64(1);
    assert_string_equal(write_str(f, &obj), "{\"q\\\"k\\n\":1}");
}

static void test_write_containers_and_append(void **state) {
    fixture *f = *state;
    tb_value doc = tb_object();
    tb_value *a = tb_object_append(f->arena, &doc, "a", 1);
    *a = tb_array();
    *tb_array_push(f->arena, a) = tb_i64(1);
    *tb_array_push(f->arena, a) = tb_f64(2.5);
    *tb_array_push(f->arena, a) = tb_object();
    tb_value *b = tb_object_append(f->arena, &doc, "b", 1);
    *b = tb_object();
    *tb_object_append(f->arena, b, "c", 1) = tb_null();
    *tb_object_append(f->arena, b, "d", 1) = tb_stringz("e");
    assert_string_equal(write_str(f, &doc), "{\"a\":[1,2.5,{}],\"b\":{\"c\":null,\"d\":\"e\"}}");

    /* write appends to what the buffer already holds */
    tb_buf buf;
    tb_buf_init(&buf, f->arena);
    assert_true(tb_buf_append(&buf, "x=", 2));
    tb_value one = tb_i64(1);
    assert_int_equal(tbr_json_write(&one, &buf), TB_OK);
    assert_int_equal(tbr_json_write(&one, &buf), TB_OK);
    assert_int_equal(buf.len, 4);
    assert_memory_equal(buf.data, "x=11", 4);

    /* a canonical compact form of parsed text */
    tb_value v = parse_ok(f, " { \"a\" : [ 1 , 2.5 , \"x\" , true ] ,\n \"b\" : { } } ");
    assert_string_equal(write_str(f, &v), "{\"a\":[1,2.5,\"x\",true],\"b\":{}}");
}

static void test_write_out_of_memory(void **state) {
    (void)state;
    fixed_arena fa;
    fixed_arena_init(&fa, 100); /* below tb_buf's first 256 bytes */
    tb_buf buf;
    tb_buf_init(&buf, &fa.pub);
    tb_value v = tb_stringz("hello");
    assert_int_equal(tbr_json_write(&v, &buf), TB_ENOMEM);
}

static char *print_to_string(const tb_value *v, int indent) {
    FILE *fp = tmpfile();
    if (!fp) return NULL;
    tbr_json_print(fp, v, indent);
    long n = ftell(fp);
    char *s = malloc((size_t)n + 1);
    rewind(fp);
    size_t got = fread(s, 1, (size_t)n, fp);
    s[got] = '\0';
    fclose(fp);
    return s;
}

static void test_print_indented(void **state) {
    fixture *f = *state;
    tb_value v = parse_ok(f, "{\"a\":[1,2],\"b\":{},\"c\":[],\"d\":{\"e\":\"f\\n\"}}");
    char *s = print_to_string(&v, 2);
    assert_non_null(s);
    assert_string_equal(s, "{\n"
                           "  \"a\": [\n"
                           "    1,\n"
                           "    2\n"
                           "  ],\n"
                           "  \"b\": {},\n"
                           "  \"c\": [],\n"
                           "  \"d\": {\n"
                           "    \"e\": \"f\\n\"\n"
                           "  }\n"
                           "}");
    free(s);
    /* indent 0 prints the compact form */
    s = print_to_string(&v, 0);
    assert_string_equal(s, write_str(f, &v));
    free(s);
    /* and the indented form reads back as the same value */
    s = print_to_string(&v, 4);
    tb_value back = parse_ok(f, s);
    assert_true(value_equal(&v, &back));
    free(s);
}

/* ---------------------------------------------------------------------------------------
 * Round trips
 * ------------------------------------------------------------------------------------- */

static void test_value_equal_detects_differences(void **state) {
    fixture *f = *state;
    static const char *const pairs[][2] = {
        {"1", "1.0"},       {"1", "2"},           {"\"a\"", "\"b\""},   {"\"a\"", "\"ab\""},
        {"[1,2]", "[1]"},   {"[1,2]", "[2,1]"},   {"{\"a\":1}", "{\"b\":1}"},
        {"{\"a\":1}", "{\"a\":2}"}, {"{\"a\":1,\"b\":2}", "{\"b\":2,\"a\":1}"},
        {"0.0", "-0.0"},    {"true", "false"},    {"null", "false"},
        {"9223372036854775808", "9223372036854775807"}, {"[[[1]]]", "[[[2]]]"},
    };
    for (size_t n = 0; n < sizeof pairs / sizeof pairs[0]; n++) {
        tb_value a = parse_ok(f, pairs[n][0]);
        tb_value b = parse_ok(f, pairs[n][1]);
        if (value_equal(&a, &b)) fail_msg("%s == %s", pairs[n][0], pairs[n][1]);
        assert_true(value_equal(&a, &a));
        tb_value a2 = parse_ok(f, pairs[n][0]); /* a fresh parse is equal */
        assert_true(value_equal(&a, &a2));
    }
}

static void test_round_trip_text(void **state) {
    fixture *f = *state;
    static const char doc[] =
        "{\"name\": \"temblor\", \"version\": [0, 1, 0], \"ok\": true, \"none\": null,\n"
        " \"nums\": {\"min\": -9223372036854775808, \"max\": 9223372036854775807,\n"
        "           \"umax\": 18446744073709551615, \"big\": 18446744073709551616,\n"
        "           \"pi\": 3.141592653589793, \"tiny\": 5e-324, \"neg0\": -0.0, \"two\": 2.0},\n"
        " \"text\": \"quote \\\" backslash \\\\ slash \\/ ctl \\u0001 tab \\t nl \\n \\u00e9 "
        "\\ud83d\\ude00 \xe2\x82\xac\",\n"
        " \"nested\": [[[], {}], [{\"a\": [{\"b\": [1, [2, [3, {\"c\": \"d\"}]]]}]}]],\n"
        " \"dup\": 1, \"dup\": 2, \"\": \"empty key\"}";
    tb_value v1 = parse_ok(f, doc);
    const char *t1 = write_str(f, &v1);
    tb_value v2 = parse_ok(f, t1);
    assert_true(value_equal(&v1, &v2));
    const char *t2 = write_str(f, &v2);
    assert_string_equal(t1, t2); /* the writer's output is a fixed point */
    assert_int_equal(tb_object_getz(&v2, "nums")->type, TB_OBJECT);
    assert_int_equal(tb_object_getz(tb_object_getz(&v2, "nums"), "big")->type, TB_F64);
    assert_int_equal(tb_object_getz(tb_object_getz(&v2, "nums"), "two")->type, TB_F64);
    assert_int_equal(tb_object_getz(tb_object_getz(&v2, "nums"), "umax")->type, TB_U64);
}

static void build_tree(tb_arena *a, tb_value *out, int depth) {
    *out = tb_object();
    *tb_object_append(a, out, "i", 1) = tb_i64(-depth * 1000003LL);
    *tb_object_append(a, out, "u", 1) = tb_u64(UINT64_MAX - (uint64_t)depth);
    *tb_object_append(a, out, "f", 1) = tb_f64(depth / 7.0);
    *tb_object_append(a, out, "s", 1) = tb_string("\"\\\n\x01\xc3\xa9\0z", 8);
    tb_value *arr = tb_object_append(a, out, "arr", 3);
    *arr = tb_array();
    *tb_array_push(a, arr) = tb_bool(depth % 2 == 0);
    *tb_array_push(a, arr) = tb_null();
    *tb_array_push(a, arr) = tb_f64(-0.0);
    if (depth > 0) build_tree(a, tb_array_push(a, arr), depth - 1);
}

static void test_round_trip_built_value(void **state) {
    fixture *f = *state;
    tb_value doc;
    build_tree(f->arena, &doc, 60);
    const char *text = write_str(f, &doc);
    tb_value back = parse_ok(f, text);
    assert_true(value_equal(&doc, &back));

    /* a change anywhere deep inside is noticed */
    tb_value *p = &back;
    for (int d = 0; d < 30; d++) p = &tb_object_getz(p, "arr")->as.items[3];
    tb_object_getz(p, "f")->as.f += 1.0;
    assert_false(value_equal(&doc, &back));

    /* bytes come back as an array of numbers */
    static const uint8_t raw[] = {1, 2, 250};
    tb_value b = tb_bytes(raw, 3);
    tb_value bb = parse_ok(f, write_str(f, &b));
    assert_int_equal(bb.type, TB_ARRAY);
    assert_int_equal(bb.len, 3);
    assert_true(bb.as.items[2].type == TB_I64 && bb.as.items[2].as.i == 250);
}

static void test_round_trip_large(void **state) {
    fixture *f = *state;
    tb_value arr = tb_array();
    static char strs[5000][16];
    for (int i = 0; i < 5000; i++) {
        int n = snprintf(strs[i], sizeof strs[i], "s%d\t\"%d", i, i * 7);
        *tb_array_push(f->arena, &arr) = tb_string(strs[i], (size_t)n);
    }
    const char *text = write_str(f, &arr);
    assert_true(strlen(text) > 50000);
    tb_value back = parse_ok(f, text);
    assert_true(value_equal(&arr, &back));
}

int main(void) {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_parse_all_types),
        T(test_parse_integers_exact),
        T(test_parse_floats),
        T(test_parse_respects_length),
        T(test_parse_zero_copy_strings),
        T(test_parse_escapes),
        T(test_parse_duplicates_and_large),
        T(test_parse_depth_limit),
        T(test_errors_structure),
        T(test_errors_trailing_garbage),
        T(test_errors_strings),
        T(test_errors_utf8),
        T(test_errors_numbers),
        T(test_error_buffer_handling),
        T(test_parse_out_of_memory),
        T(test_write_scalars),
        T(test_write_floats),
        T(test_float_round_trip),
        T(test_write_string_escapes),
        T(test_write_containers_and_append),
        T(test_write_out_of_memory),
        T(test_print_indented),
        T(test_value_equal_detects_differences),
        T(test_round_trip_text),
        T(test_round_trip_built_value),
        T(test_round_trip_large),
    };
#undef T
    return cmocka_run_group_tests_name("json", tests, NULL, NULL);
}
