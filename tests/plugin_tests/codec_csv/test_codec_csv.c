/*
 * test_codec_csv.c - the `csv` codec plugin (plugins/codec/csv), loaded from the build's
 * plugins directory and driven through its vtable: Tremor's documented example, RFC 4180
 * quoting and "" escapes, line ends and discarded following lines, zero-copy fields, every
 * error with its exact message and offset, encoding with quoting where needed, non-string
 * items as JSON text, and round trips.
 *
 * Thread contract: single-threaded. Ownership: each test owns its fixture (codec_fix.h).
 */
#include "codec_fix.h"

/* Decodes the line and returns the JSON text of the value; fails when it does not decode. */
static const char *dec(cf_fix *f, const char *line, size_t n) {
    cf_begin(f);
    cf_raw(f, line, n);
    assert_int_equal(cf_decode(f), TB_OK);
    if (f->b.events[0].flags & (TB_EF_ERROR | TB_EF_RAW))
        fail_msg("%s did not decode: %s", line, cf_text(f, &f->b.events[0].data));
    return cf_text(f, &f->b.events[0].data);
}
#define DEC(f, s) dec((f), (s), sizeof(s) - 1)

static void dec_err(cf_fix *f, const char *line, const char *reason) {
    cf_begin(f);
    cf_raws(f, line);
    assert_int_equal(cf_decode(f), TB_OK);
    cf_assert_failed(f, 0, reason);
}

/* Encodes the value of json and returns the line. */
static const char *enc(cf_fix *f, const char *json) {
    cf_begin(f);
    cf_value(f, json);
    assert_int_equal(cf_encode(f), TB_OK);
    if (f->b.events[0].flags & TB_EF_ERROR)
        fail_msg("%s did not encode: %s", json, cf_text(f, &f->b.events[0].data));
    return cf_bytes_text(f, &f->b.events[0]);
}

static void test_decode(void **state) {
    cf_fix f;
    (void)state;
    cf_start(&f, "csv", NULL);
    /* Tremor's documented example */
    assert_string_equal(DEC(&f, "\"some \"\" field\",1234567,other_text,\"2020-01-01 00:00:00\""),
                        "[\"some \\\" field\",\"1234567\",\"other_text\",\"2020-01-01 00:00:00\"]");
    assert_string_equal(DEC(&f, "a,b,c,123"), "[\"a\",\"b\",\"c\",\"123\"]");
    assert_string_equal(DEC(&f, "a"), "[\"a\"]");
    assert_string_equal(DEC(&f, ""), "[]");
    assert_string_equal(DEC(&f, ","), "[\"\",\"\"]");
    assert_string_equal(DEC(&f, "a,,b"), "[\"a\",\"\",\"b\"]");
    assert_string_equal(DEC(&f, "a,"), "[\"a\",\"\"]");
    assert_string_equal(DEC(&f, "\"\""), "[\"\"]");
    assert_string_equal(DEC(&f, "\"\",\"\""), "[\"\",\"\"]");
    assert_string_equal(DEC(&f, " a , b "), "[\" a \",\" b \"]");
    assert_string_equal(DEC(&f, "\"a,b\",c"), "[\"a,b\",\"c\"]");
    assert_string_equal(DEC(&f, "\"x\r\ny\",z"), "[\"x\\r\\ny\",\"z\"]");
    assert_string_equal(DEC(&f, "\"\"\"\""), "[\"\\\"\"]");
    assert_string_equal(DEC(&f, "\"a\"\"\",\"\"\"b\""), "[\"a\\\"\",\"\\\"b\"]");
    /* a quote inside an unquoted field is kept, as the Rust csv reader does */
    assert_string_equal(DEC(&f, "ab\"c,d"), "[\"ab\\\"c\",\"d\"]");
    /* line ends: the record ends there and what follows is discarded */
    assert_string_equal(DEC(&f, "a,b\n"), "[\"a\",\"b\"]");
    assert_string_equal(DEC(&f, "a,b\r\n"), "[\"a\",\"b\"]");
    assert_string_equal(DEC(&f, "a,\"b\"\r\n"), "[\"a\",\"b\"]");
    assert_string_equal(DEC(&f, "a,b\nc,d"), "[\"a\",\"b\"]");
    assert_string_equal(DEC(&f, "h\xc3\xa9,\xf0\x9f\x98\x80"),
                        "[\"h\xc3\xa9\",\"\xf0\x9f\x98\x80\"]");
    assert_string_equal(DEC(&f, "a\0b,c"), "[\"a\\u0000b\",\"c\"]");
    cf_stop(&f);
}

static bool inside(const void *p, const uint8_t *buf, size_t n) {
    return (const uint8_t *)p >= buf && (const uint8_t *)p < buf + n;
}

static void test_zero_copy(void **state) {
    cf_fix f;
    const char *line = "plain,\"quoted\",\"esc\"\"aped\"";
    const uint8_t *in;
    const tb_value *v;
    (void)state;
    cf_start(&f, "csv", NULL);
    cf_begin(&f);
    in = cf_raws(&f, line);
    assert_int_equal(cf_decode(&f), TB_OK);
    v = &f.b.events[0].data;
    assert_int_equal(v->type, TB_ARRAY);
    assert_int_equal(v->len, 3);
    assert_true(v->as.items[0].as.s == (const char *)in);
    assert_true(v->as.items[1].as.s == (const char *)in + 7);
    assert_false(inside(v->as.items[2].as.s, in, strlen(line)));
    assert_true(tb_value_str_eq(&v->as.items[2], "esc\"aped"));
    cf_stop(&f);
}

static void test_errors(void **state) {
    cf_fix f;
    tb_event *e;
    (void)state;
    cf_start(&f, "csv", NULL);
    dec_err(&f, "\"abc", "csv codec: unterminated quoted field at byte 0");
    dec_err(&f, "a,\"b\"\"", "csv codec: unterminated quoted field at byte 2");
    dec_err(&f, "a,\"b\"c", "csv codec: unexpected character 'c' after a quoted field at byte 5");
    dec_err(&f, "\"b\" ,c", "csv codec: unexpected byte 0x20 after a quoted field at byte 3");
    dec_err(&f, "a\xff", "csv codec: invalid UTF-8 at byte 1");
    dec_err(&f, "ok,\"\xc3\x28\"", "csv codec: invalid UTF-8 at byte 4");
    /* one bad event does not stop the others; non-bytes raw data fails */
    cf_begin(&f);
    cf_raws(&f, "\"x");
    cf_raws(&f, "y");
    e = tb_batch_push(&f.b);
    e->data = tb_stringz("z");
    e->flags = TB_EF_RAW;
    cf_value(&f, "{\"keep\":1}");
    assert_int_equal(cf_decode(&f), TB_OK);
    cf_assert_failed(&f, 0, "csv codec: unterminated quoted field at byte 0");
    assert_string_equal(cf_text(&f, &f.b.events[1].data), "[\"y\"]");
    cf_assert_failed(&f, 2, "csv codec: raw event data is not bytes");
    assert_string_equal(cf_text(&f, &f.b.events[3].data), "{\"keep\":1}");
    /* encode: only arrays */
    cf_begin(&f);
    cf_value(&f, "{\"a\":1}");
    cf_value(&f, "\"a,b\"");
    cf_raws(&f, "left alone");
    assert_int_equal(cf_encode(&f), TB_OK);
    cf_assert_failed(&f, 0,
                     "csv codec: only an array can be encoded as a CSV record, not a value of "
                     "type object");
    cf_assert_failed(&f, 1,
                     "csv codec: only an array can be encoded as a CSV record, not a value of "
                     "type string");
    assert_string_equal(cf_bytes_text(&f, &f.b.events[2]), "left alone");
    cf_stop(&f);
}

static void test_encode(void **state) {
    cf_fix f;
    (void)state;
    cf_start(&f, "csv", NULL);
    /* Tremor's own test */
    assert_string_equal(enc(&f, "[\"a\",\"b\",\"c\",123]"), "a,b,c,123");
    assert_string_equal(enc(&f, "[]"), "");
    assert_string_equal(enc(&f, "[\"\"]"), "\"\"");
    assert_string_equal(enc(&f, "[\"\",\"\"]"), ",");
    assert_string_equal(enc(&f, "[\"x,y\",\"q\\\"r\",\"l\\nm\",\"c\\rr\",\"\"]"),
                        "\"x,y\",\"q\"\"r\",\"l\nm\",\"c\rr\",");
    assert_string_equal(enc(&f, "[\" sp \",\"h\\u00e9\"]"), " sp ,h\xc3\xa9");
    assert_string_equal(enc(&f, "[null,true,false,-7,1.5,18446744073709551615]"),
                        "null,true,false,-7,1.5,18446744073709551615");
    assert_string_equal(enc(&f, "[[1,2],{\"a\":\"b\"},[]]"),
                        "\"[1,2]\",\"{\"\"a\"\":\"\"b\"\"}\",[]");
    assert_string_equal(enc(&f, "[[1]]"), "[1]");
    cf_stop(&f);
}

static void test_roundtrip(void **state) {
    cf_fix f;
    static const char *const lines[][2] = {
        {"\"some \"\" field\",1234567,other_text,\"2020-01-01 00:00:00\"",
         "\"some \"\" field\",1234567,other_text,2020-01-01 00:00:00"},
        {"a,\"b,c\",\"d\ne\",,\"\"\"\"", "a,\"b,c\",\"d\ne\",,\"\"\"\""},
        {"\"\"", "\"\""},
        {"x\r\n", "x"},
    };
    (void)state;
    cf_start(&f, "csv", NULL);
    for (size_t k = 0; k < sizeof lines / sizeof lines[0]; k++) {
        const char *want;
        cf_begin(&f);
        cf_raws(&f, lines[k][0]);
        assert_int_equal(cf_decode(&f), TB_OK);
        want = cf_text(&f, &f.b.events[0].data);
        assert_int_equal(cf_encode(&f), TB_OK);
        assert_string_equal(cf_bytes_text(&f, &f.b.events[0]), lines[k][1]);
        /* and the encoded line decodes to the same value */
        assert_int_equal(cf_decode(&f), TB_OK);
        assert_string_equal(cf_text(&f, &f.b.events[0].data), want);
    }
    cf_stop(&f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode),
        cmocka_unit_test(test_zero_copy),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_encode),
        cmocka_unit_test(test_roundtrip),
    };
    return cmocka_run_group_tests(tests, cf_group_setup, cf_group_teardown);
}
