/*
 * test_codec_json.c - the `json` codec plugin (plugins/codec/json), loaded from the build's
 * plugins directory and driven through its vtable: known vectors, exact integers, zero-copy
 * strings, every error class with its exact message and offset, round trips, sorted mode,
 * float formatting, a 1 MB input (with a decode throughput printout), the nesting limit and
 * invalid UTF-8.
 *
 * Thread contract: single-threaded. Ownership: each test owns its fixture (codec_fix.h).
 */
#include "codec_fix.h"

#include <math.h>
#include <time.h>

/* Decodes one document and returns its value; fails the test when it does not decode. */
static const tb_value *dec1(cf_fix *f, const char *json) {
    cf_begin(f);
    cf_raws(f, json);
    assert_int_equal(cf_decode(f), TB_OK);
    if (f->b.events[0].flags & (TB_EF_ERROR | TB_EF_RAW))
        fail_msg("%s did not decode: %s", json, cf_text(f, &f->b.events[0].data));
    return &f->b.events[0].data;
}

/* Decodes then encodes json; returns the encoded text. */
static const char *roundtrip(cf_fix *f, const char *json) {
    dec1(f, json);
    assert_int_equal(cf_encode(f), TB_OK);
    return cf_bytes_text(f, &f->b.events[0]);
}

static void test_scalars(void **state) {
    cf_fix f;
    const tb_value *v;
    (void)state;
    cf_start(&f, "json", NULL);
    v = dec1(&f, "42");
    assert_int_equal(v->type, TB_I64);
    assert_int_equal(v->as.i, 42);
    v = dec1(&f, " \t\r\n-17 \n");
    assert_int_equal(v->type, TB_I64);
    assert_int_equal(v->as.i, -17);
    v = dec1(&f, "-0");
    assert_int_equal(v->type, TB_I64);
    assert_int_equal(v->as.i, 0);
    v = dec1(&f, "9223372036854775807");
    assert_int_equal(v->type, TB_I64);
    assert_true(v->as.i == INT64_MAX);
    v = dec1(&f, "-9223372036854775808");
    assert_int_equal(v->type, TB_I64);
    assert_true(v->as.i == INT64_MIN);
    v = dec1(&f, "9223372036854775808");
    assert_int_equal(v->type, TB_U64);
    assert_true(v->as.u == (uint64_t)INT64_MAX + 1);
    v = dec1(&f, "18446744073709551615");
    assert_int_equal(v->type, TB_U64);
    assert_true(v->as.u == UINT64_MAX);
    v = dec1(&f, "18446744073709551616");
    assert_int_equal(v->type, TB_F64);
    assert_true(v->as.f == 18446744073709551616.0);
    v = dec1(&f, "-9223372036854775809");
    assert_int_equal(v->type, TB_F64);
    assert_true(v->as.f == -9223372036854775808.0);
    v = dec1(&f, "1.5");
    assert_int_equal(v->type, TB_F64);
    assert_true(v->as.f == 1.5);
    v = dec1(&f, "1E2");
    assert_int_equal(v->type, TB_F64);
    assert_true(v->as.f == 100.0);
    v = dec1(&f, "-0.0");
    assert_int_equal(v->type, TB_F64);
    assert_true(v->as.f == 0.0 && signbit(v->as.f));
    v = dec1(&f, "0.1");
    assert_true(v->as.f == 0.1);
    v = dec1(&f, "2.5e-3");
    assert_true(v->as.f == 2.5e-3);
    v = dec1(&f, "123456789012345678901234567890");
    assert_int_equal(v->type, TB_F64);
    assert_true(v->as.f == 123456789012345678901234567890.0);
    v = dec1(&f, "1.7976931348623157e308");
    assert_true(v->as.f == 1.7976931348623157e308);
    v = dec1(&f, "4.9406564584124654e-324");
    assert_true(v->as.f == 4.9406564584124654e-324);
    v = dec1(&f, "2.2250738585072014E-308");
    assert_true(v->as.f == 2.2250738585072014e-308);
    v = dec1(&f, "0.30000000000000004");
    assert_true(v->as.f == 0.30000000000000004);
    v = dec1(&f, "1e-400");
    assert_true(v->as.f == 0.0);
    v = dec1(&f, "true");
    assert_int_equal(v->type, TB_BOOL);
    assert_true(v->as.b);
    v = dec1(&f, "false");
    assert_int_equal(v->type, TB_BOOL);
    assert_false(v->as.b);
    v = dec1(&f, " null ");
    assert_int_equal(v->type, TB_NULL);
    v = dec1(&f, "\"\"");
    assert_int_equal(v->type, TB_STRING);
    assert_int_equal(v->len, 0);
    cf_stop(&f);
}

static void test_structures(void **state) {
    cf_fix f;
    const tb_value *v;
    (void)state;
    cf_start(&f, "json", NULL);
    v = dec1(&f, " { \"a\" : [ 1 , 2 , { } , [ ] ] , \"b\" : { \"c\" : null } } ");
    assert_string_equal(cf_text(&f, v), "{\"a\":[1,2,{},[]],\"b\":{\"c\":null}}");
    /* exactly sized storage, not the doubling of tb_array_push */
    assert_int_equal(v->flags, 0);
    assert_int_equal(v->len, 2);
    assert_int_equal(v->as.members[0].value.len, 4);
    assert_int_equal(v->as.members[0].value.flags, 0);
    /* duplicate keys are kept in order; lookups take the last */
    v = dec1(&f, "{\"k\":1,\"k\":2}");
    assert_int_equal(v->len, 2);
    assert_int_equal(tb_object_getz(v, "k")->as.i, 2);
    cf_stop(&f);
}

static bool inside(const void *p, const uint8_t *buf, size_t n) {
    return (const uint8_t *)p >= buf && (const uint8_t *)p < buf + n;
}

static void test_zero_copy(void **state) {
    cf_fix f;
    const char *doc = "{\"plain\":\"xyz\",\"esc\\n\":\"q\\u00e9\\/\\\"\",\"emoji\":\"\\ud83d\\ude00\","
                      "\"utf8\":\"h\xc3\xa9llo\"}";
    const uint8_t *in;
    const tb_value *v;
    (void)state;
    cf_start(&f, "json", NULL);
    cf_begin(&f);
    in = cf_raws(&f, doc);
    assert_int_equal(cf_decode(&f), TB_OK);
    v = &f.b.events[0].data;
    assert_int_equal(v->type, TB_OBJECT);
    assert_int_equal(v->len, 4);
    /* unescaped keys and values point into the input */
    assert_true(inside(v->as.members[0].key, in, strlen(doc)));
    assert_true(inside(v->as.members[0].value.as.s, in, strlen(doc)));
    assert_true(tb_value_str_eq(&v->as.members[0].value, "xyz"));
    assert_ptr_equal(v->as.members[0].key, (const char *)in + 2);
    /* escaped ones were decoded into the arena */
    assert_int_equal(v->as.members[1].key_len, 4);
    assert_memory_equal(v->as.members[1].key, "esc\n", 4);
    assert_false(inside(v->as.members[1].key, in, strlen(doc)));
    assert_true(tb_value_str_eq(&v->as.members[1].value, "q\xc3\xa9/\""));
    assert_false(inside(v->as.members[1].value.as.s, in, strlen(doc)));
    assert_true(tb_value_str_eq(&v->as.members[2].value, "\xf0\x9f\x98\x80"));
    assert_true(tb_value_str_eq(&v->as.members[3].value, "h\xc3\xa9llo"));
    assert_true(inside(v->as.members[3].value.as.s, in, strlen(doc)));
    cf_stop(&f);
}

typedef struct bad {
    const char *in;
    size_t len; /* 0: strlen */
    const char *msg;
} bad;

static void test_errors(void **state) {
    static const bad cases[] = {
        {"", 0, "json codec: unexpected end of input at byte 0"},
        {"   ", 0, "json codec: unexpected end of input at byte 3"},
        {"[1,2", 0, "json codec: unexpected end of input at byte 4"},
        {"{\"a\":1", 0, "json codec: unexpected end of input at byte 6"},
        {"{\"a\"", 0, "json codec: unexpected end of input at byte 4"},
        {"@", 0, "json codec: expected a value, found '@' at byte 0"},
        {"[1,]", 0, "json codec: expected a value, found ']' at byte 3"},
        {"\xef\xbb\xbf{}", 0, "json codec: expected a value, found byte 0xef at byte 0"},
        {"tru", 0, "json codec: invalid literal, expected 'true' at byte 0"},
        {"[fals]", 0, "json codec: invalid literal, expected 'false' at byte 1"},
        {"nul", 0, "json codec: invalid literal, expected 'null' at byte 0"},
        {"NaN", 0, "json codec: expected a value, found 'N' at byte 0"},
        {"-", 0, "json codec: invalid number: expected a digit at byte 1"},
        {"-a", 0, "json codec: invalid number: expected a digit at byte 1"},
        {"+1", 0, "json codec: expected a value, found '+' at byte 0"},
        {"01", 0, "json codec: invalid number: leading zero at byte 1"},
        {"1.", 0, "json codec: invalid number: expected a digit after the decimal point at byte 2"},
        {".5", 0, "json codec: expected a value, found '.' at byte 0"},
        {"1e", 0, "json codec: invalid number: expected a digit in the exponent at byte 2"},
        {"1e+", 0, "json codec: invalid number: expected a digit in the exponent at byte 3"},
        {"1e400", 0, "json codec: invalid number: out of range at byte 0"},
        {"[-1e999]", 0, "json codec: invalid number: out of range at byte 1"},
        {"\"abc", 0, "json codec: unterminated string at byte 4"},
        {"\"ab\\", 0, "json codec: unterminated string at byte 4"},
        {"\"a\nb\"", 0, "json codec: control character 0x0a in string at byte 2"},
        {"\"a\0b\"", 5, "json codec: control character 0x00 in string at byte 2"},
        {"\"\\x\"", 0, "json codec: invalid escape '\\x' in string at byte 1"},
        {"\"\\u12\"", 0, "json codec: invalid \\u escape: expected 4 hex digits at byte 1"},
        {"\"\\u12G4\"", 0, "json codec: invalid \\u escape: expected 4 hex digits at byte 1"},
        {"\"\\udc00\"", 0, "json codec: invalid \\u escape: lone low surrogate at byte 1"},
        {"\"\\ud800\"", 0,
         "json codec: invalid \\u escape: high surrogate without a low one at byte 1"},
        {"\"\\ud800\\u0041\"", 0,
         "json codec: invalid \\u escape: high surrogate without a low one at byte 1"},
        {"[1 2]", 0, "json codec: expected ',' or ']', found '2' at byte 3"},
        {"{\"a\":1 \"b\":2}", 0, "json codec: expected ',' or '}', found '\"' at byte 7"},
        {"{\"a\" 1}", 0, "json codec: expected ':', found '1' at byte 5"},
        {"{a:1}", 0, "json codec: expected a string key, found 'a' at byte 1"},
        {"{\"a\":1,}", 0, "json codec: expected a string key, found '}' at byte 7"},
        {"{1:1}", 0, "json codec: expected a string key, found '1' at byte 1"},
        {"{} {}", 0, "json codec: trailing characters after the value, found '{' at byte 3"},
        {"12a", 0, "json codec: trailing characters after the value, found 'a' at byte 2"},
        {"1\x01", 0, "json codec: trailing characters after the value, found byte 0x01 at byte 1"},
        /* invalid UTF-8 in strings */
        {"\"\xff\"", 0, "json codec: invalid UTF-8 in string at byte 1"},
        {"\"a\x80\"", 0, "json codec: invalid UTF-8 in string at byte 2"},
        {"\"\xc0\xaf\"", 0, "json codec: invalid UTF-8 in string at byte 1"},
        {"\"\xe0\x80\xaf\"", 0, "json codec: invalid UTF-8 in string at byte 1"},
        {"\"\xed\xa0\x80\"", 0, "json codec: invalid UTF-8 in string at byte 1"},
        {"\"\xe2\x82\"", 0, "json codec: invalid UTF-8 in string at byte 1"},
        {"\"\xf4\x90\x80\x80\"", 0, "json codec: invalid UTF-8 in string at byte 1"},
        {"{\"\xfe\":1}", 0, "json codec: invalid UTF-8 in string at byte 2"},
    };
    cf_fix f;
    (void)state;
    cf_start(&f, "json", NULL);
    /* all in one batch, each between two good records: a bad record never stops the rest */
    cf_begin(&f);
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        cf_raws(&f, "{\"ok\":true}");
        cf_raw(&f, cases[k].in, cases[k].len ? cases[k].len : strlen(cases[k].in));
    }
    cf_raws(&f, "[\"last\"]");
    assert_int_equal(cf_decode(&f), TB_OK);
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        const tb_event *good = &f.b.events[2 * k];
        assert_int_equal(good->flags & (TB_EF_ERROR | TB_EF_RAW), 0);
        assert_string_equal(cf_text(&f, &good->data), "{\"ok\":true}");
        cf_assert_failed(&f, (uint32_t)(2 * k + 1), cases[k].msg);
        /* the failed event keeps its input bytes */
        assert_int_equal(tb_object_getz(&f.b.events[2 * k + 1].data, "data")->type, TB_BYTES);
    }
    assert_string_equal(cf_text(&f, &f.b.events[f.b.count - 1].data), "[\"last\"]");
    cf_stop(&f);
}

static void test_not_raw_and_not_bytes(void **state) {
    cf_fix f;
    tb_event *e;
    (void)state;
    cf_start(&f, "json", NULL);
    cf_begin(&f);
    cf_value(&f, "{\"structured\":1}"); /* not TB_EF_RAW: left alone */
    e = cf_value(&f, "\"text\"");
    e->flags = TB_EF_RAW; /* raw but not bytes */
    assert_int_equal(cf_decode(&f), TB_OK);
    assert_int_equal(f.b.events[0].flags, 0);
    assert_string_equal(cf_text(&f, &f.b.events[0].data), "{\"structured\":1}");
    cf_assert_failed(&f, 1, "json codec: raw event data is not bytes");
    /* encode leaves raw events alone */
    cf_begin(&f);
    cf_raws(&f, "not json");
    assert_int_equal(cf_encode(&f), TB_OK);
    assert_string_equal(cf_bytes_text(&f, &f.b.events[0]), "not json");
    cf_stop(&f);
}

static void test_roundtrip(void **state) {
    static const char *const docs[] = {
        "{\"a\":[1,-2,3.5,true,false,null,\"s\\\"q\\\\\\n\\u0001\\t\\b\\f\\r\"],"
        "\"b\":{\"c\":{},\"d\":[]},\"e\":18446744073709551615,\"f\":1.0,\"g\":0.1,"
        "\"h\":1e+300,\"i\":-9223372036854775808,\"j\":\"h\xc3\xa9\xf0\x9f\x98\x80\"}",
        "[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]",
        "[{\"x\":[{\"y\":[{\"z\":\"deep\"}]}]},{},[],\"\",0,-0.5,5e-324]",
        "\"\\u007f/\"",
    };
    static const char *const expected[] = {
        NULL,
        NULL,
        "[{\"x\":[{\"y\":[{\"z\":\"deep\"}]}]},{},[],\"\",0,-0.5,4.94065645841247e-324]",
        "\"\x7f/\"",
    };
    cf_fix f;
    (void)state;
    cf_start(&f, "json", NULL);
    for (size_t k = 0; k < sizeof docs / sizeof docs[0]; k++) {
        char *out = strdup(roundtrip(&f, docs[k]));
        assert_non_null(out);
        assert_string_equal(out, expected[k] ? expected[k] : docs[k]);
        /* and the output decodes to the same thing again */
        assert_string_equal(roundtrip(&f, out), out);
        free(out);
    }
    /* unescaping on the way in, minimal escaping on the way out */
    assert_string_equal(roundtrip(&f, " [ \"\\/\\u0041\\u00e9\" ] "), "[\"/A\xc3\xa9\"]");
    cf_stop(&f);
}

static void test_encode_values(void **state) {
    cf_fix f;
    tb_event *e;
    static const uint8_t raw[] = {0, 1, 9, 10, 99, 100, 255};
    (void)state;
    cf_start(&f, "json", NULL);
    cf_begin(&f);
    static const double fl[] = {0.1, 1.0, -0.0, 1e21, 1.0 / 3.0, 123456.789, 1e-7, 2.0 / 3.0,
                                5e-324, 1.7976931348623157e308, 100.0, 125.76, -0.05, 0.0001,
                                0.1 + 0.2, 999999999999999.9, 1e15};
    static const char *const ft[] = {"0.1", "1.0", "-0.0", "1e+21", "0.3333333333333333",
                                     "123456.789", "1e-07", "0.6666666666666666",
                                     "4.94065645841247e-324", "1.7976931348623157e+308",
                                     "100.0", "125.76", "-0.05", "0.0001",
                                     "0.30000000000000004", "999999999999999.9", "1e+15"};
    for (size_t k = 0; k < sizeof fl / sizeof fl[0]; k++) tb_batch_push(&f.b)->data = tb_f64(fl[k]);
    tb_batch_push(&f.b)->data = tb_f64(NAN);
    tb_batch_push(&f.b)->data = tb_f64(-INFINITY);
    tb_batch_push(&f.b)->data = tb_bytes(raw, sizeof raw);
    tb_batch_push(&f.b)->data = tb_i64(INT64_MIN);
    tb_batch_push(&f.b)->data = tb_u64(UINT64_MAX);
    tb_batch_push(&f.b)->data = tb_string("\x1f\x7f", 2);
    e = tb_batch_push(&f.b);
    e->data = tb_object();
    *tb_object_append(f.arena, &e->data, "k\"", 2) = tb_bytes(NULL, 0);
    assert_int_equal(cf_encode(&f), TB_OK);
    size_t k = 0;
    for (; k < sizeof fl / sizeof fl[0]; k++) {
        assert_string_equal(cf_bytes_text(&f, &f.b.events[k]), ft[k]);
    }
    assert_string_equal(cf_bytes_text(&f, &f.b.events[k++]), "null");
    assert_string_equal(cf_bytes_text(&f, &f.b.events[k++]), "null");
    assert_string_equal(cf_bytes_text(&f, &f.b.events[k++]), "[0,1,9,10,99,100,255]");
    assert_string_equal(cf_bytes_text(&f, &f.b.events[k++]), "-9223372036854775808");
    assert_string_equal(cf_bytes_text(&f, &f.b.events[k++]), "18446744073709551615");
    assert_string_equal(cf_bytes_text(&f, &f.b.events[k++]), "\"\\u001f\x7f\"");
    assert_string_equal(cf_bytes_text(&f, &f.b.events[k++]), "{\"k\\\"\":[]}");
    /* every float written reads back bit for bit (a spread of awkward values) */
    uint64_t seed = 0x9E3779B97F4A7C15ull;
    for (int r = 0; r < 2000; r++) {
        double d;
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        memcpy(&d, &seed, sizeof d);
        if (!isfinite(d)) continue;
        cf_begin(&f);
        tb_batch_push(&f.b)->data = tb_f64(d);
        assert_int_equal(cf_encode(&f), TB_OK);
        f.b.events[0].data.type = TB_BYTES;
        assert_int_equal(cf_decode(&f), TB_OK);
        assert_int_equal(f.b.events[0].data.type, TB_F64);
        assert_memory_equal(&f.b.events[0].data.as.f, &d, sizeof d);
    }
    cf_stop(&f);
}

static void test_sorted(void **state) {
    cf_fix f;
    char err[256] = "";
    (void)state;
    cf_start(&f, "json", "{\"mode\":\"sorted\"}");
    assert_string_equal(roundtrip(&f, "{\"b\":1,\"a\":{\"d\":1,\"c\":[{\"z\":0,\"y\":0}]},\"ab\":3,\"\":0}"),
                        "{\"\":0,\"a\":{\"c\":[{\"y\":0,\"z\":0}],\"d\":1},\"ab\":3,\"b\":1}");
    cf_stop(&f);
    cf_start(&f, "json", "{\"mode\":\"unsorted\"}");
    assert_string_equal(roundtrip(&f, "{\"b\":1,\"a\":2}"), "{\"b\":1,\"a\":2}");
    cf_stop(&f);
    assert_int_not_equal(cf_try_start(&f, "json", "{\"mode\":\"random\"}", err, sizeof err), TB_OK);
    assert_non_null(strstr(err, "option 'mode' must be \"sorted\" or \"unsorted\", not \"random\""));
}

static char *nested(size_t depth, const char *open, const char *close) {
    size_t lo = strlen(open), lc = strlen(close);
    char *s = malloc(depth * (lo + lc) + 2);
    size_t w = 0;
    assert_non_null(s);
    for (size_t k = 0; k < depth; k++, w += lo) memcpy(s + w, open, lo);
    s[w++] = '1';
    for (size_t k = 0; k < depth; k++, w += lc) memcpy(s + w, close, lc);
    s[w] = '\0';
    return s;
}

static void test_depth(void **state) {
    cf_fix f;
    char *ok = nested(512, "[", "]");
    char *deep = nested(513, "[", "]");
    char *huge = nested(200000, "{\"a\":", "}");
    char *mixed = nested(512, "{\"a\":[", "]}");
    (void)state;
    cf_start(&f, "json", NULL);
    assert_string_equal(roundtrip(&f, ok), ok);
    cf_begin(&f);
    cf_raws(&f, deep);
    cf_raws(&f, huge);
    cf_raws(&f, mixed);
    assert_int_equal(cf_decode(&f), TB_OK);
    cf_assert_failed(&f, 0, "json codec: nesting deeper than 512 levels at byte 512");
    cf_assert_failed(&f, 1, "json codec: nesting deeper than 512 levels at byte 2560");
    cf_assert_failed(&f, 2, "json codec: nesting deeper than 512 levels at byte 1536");
    /* encode refuses a value nested deeper than the limit, without recursing further */
    cf_begin(&f);
    tb_event *e = tb_batch_push(&f.b);
    tb_value *cur = &e->data;
    for (int k = 0; k < 100000; k++) {
        *cur = tb_array();
        cur = tb_array_push(f.arena, cur);
        assert_non_null(cur);
    }
    tb_batch_push(&f.b)->data = tb_i64(7);
    assert_int_equal(cf_encode(&f), TB_OK);
    cf_assert_failed(&f, 0, "json codec: value nested deeper than 512 levels");
    assert_string_equal(cf_bytes_text(&f, &f.b.events[1]), "7");
    cf_stop(&f);
    free(ok);
    free(deep);
    free(huge);
    free(mixed);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_large(void **state) {
    cf_fix f;
    size_t cap = (1u << 20) + 256, w = 0, records = 0;
    char *doc = malloc(cap);
    (void)state;
    assert_non_null(doc);
    doc[w++] = '[';
    while (w < (1u << 20) - 200) {
        w += (size_t)snprintf(doc + w, cap - w,
                              "%s{\"id\":%zu,\"name\":\"host-%zu\",\"load\":%zu.25,\"ok\":true,"
                              "\"tags\":[\"a\",\"b\\n\"],\"big\":1844674407370955161%zu}",
                              records ? "," : "", records, records % 97, records % 13,
                              records % 6);
        records++;
    }
    doc[w++] = ']';
    cf_start(&f, "json", NULL);
    cf_begin(&f);
    cf_raw(&f, doc, w);
    assert_int_equal(cf_decode(&f), TB_OK);
    const tb_value *v = &f.b.events[0].data;
    assert_int_equal(v->type, TB_ARRAY);
    assert_int_equal(v->len, records);
    assert_int_equal(tb_object_getz(&v->as.items[records - 1], "id")->as.i, (int64_t)records - 1);
    assert_int_equal(tb_object_getz(&v->as.items[5], "big")->type, TB_U64);
    /* round trip of the whole megabyte */
    assert_int_equal(cf_encode(&f), TB_OK);
    assert_int_equal(f.b.events[0].data.len, w);
    assert_memory_equal(f.b.events[0].data.as.bytes, doc, w);

    /* throughput: decode the same megabyte repeatedly for about a third of a second */
    int iters = 0;
    double spent = 0;
    do {
        cf_begin_chunk(&f, 0); /* the runtime's default 64 KiB chunks */
        cf_raw(&f, doc, w);
        double a = now_s();
        assert_int_equal(cf_decode(&f), TB_OK);
        spent += now_s() - a;
        iters++;
    } while (iters < 3 || (spent < 0.3 && iters < 300));
    printf("json decode throughput: %.1f MB/s (%d x %zu bytes, %zu records each)\n",
           (double)iters * (double)w / spent / 1e6, iters, w, records);
    cf_stop(&f);
    free(doc);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scalars),
        cmocka_unit_test(test_structures),
        cmocka_unit_test(test_zero_copy),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_not_raw_and_not_bytes),
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_encode_values),
        cmocka_unit_test(test_sorted),
        cmocka_unit_test(test_depth),
        cmocka_unit_test(test_large),
    };
    return cmocka_run_group_tests(tests, cf_group_setup, cf_group_teardown);
}
