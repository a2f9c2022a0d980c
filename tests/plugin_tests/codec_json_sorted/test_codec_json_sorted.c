/*
 * test_codec_json_sorted.c - the `json-sorted` codec plugin (a component of plugins/codec/json), loaded
 * from the build's plugins directory: object keys sorted bytewise at every depth (inside
 * arrays too), duplicates kept in order, values untouched, structured and decoded input alike,
 * raw events left alone; decoding identical to the json codec's on good and bad input; no
 * options; memory given back.
 *
 * Thread contract: single-threaded. Ownership: each test owns its fixtures (codec_fix.h).
 */
#include "codec_fix.h"

/* Encodes the structured value json with a fresh batch of f; returns the text. */
static const char *encode_value(cf_fix *f, const char *json) {
    cf_begin(f);
    cf_value(f, json);
    assert_int_equal(cf_encode(f), TB_OK);
    return cf_bytes_text(f, &f->b.events[0]);
}

static void test_sorted(void **state) {
    cf_fix f;
    (void)state;
    cf_start(&f, "json-sorted", NULL);
    assert_string_equal(encode_value(&f, "{\"b\":1,\"a\":2}"), "{\"a\":2,\"b\":1}");
    assert_string_equal(
        encode_value(&f, "{\"b\":1,\"a\":{\"d\":1,\"c\":[{\"z\":0,\"y\":0}]},\"ab\":3,\"\":0}"),
        "{\"\":0,\"a\":{\"c\":[{\"y\":0,\"z\":0}],\"d\":1},\"ab\":3,\"b\":1}");
    /* bytewise: upper case before lower case, a prefix first, UTF-8 after ASCII */
    assert_string_equal(encode_value(&f, "{\"\xc3\xa9\":1,\"z\":2,\"Z\":3,\"aa\":4,\"a\":5}"),
                        "{\"Z\":3,\"a\":5,\"aa\":4,\"z\":2,\"\xc3\xa9\":1}");
    /* duplicate keys keep their order (and both are written) */
    assert_string_equal(encode_value(&f, "{\"k\":2,\"a\":0,\"k\":1}"), "{\"a\":0,\"k\":2,\"k\":1}");
    /* arrays keep their order; scalars and empty containers are as json writes them */
    assert_string_equal(encode_value(&f, "[3,{\"y\":[],\"x\":{}},\"s\",1.5,null,true,-7]"),
                        "[3,{\"x\":{},\"y\":[]},\"s\",1.5,null,true,-7]");
    assert_string_equal(encode_value(&f, "\"plain\""), "\"plain\"");
    cf_stop(&f);
}

/* The encoder sorts what it writes, not the value: the event's input stays as it was. */
static void test_input_untouched(void **state) {
    cf_fix f;
    (void)state;
    cf_start(&f, "json-sorted", NULL);
    cf_begin(&f);
    tb_event *e = cf_value(&f, "{\"b\":{\"d\":1,\"c\":2},\"a\":3}");
    tb_value before = e->data;
    tb_member first = before.as.members[0], inner = before.as.members[0].value.as.members[0];
    assert_int_equal(cf_encode(&f), TB_OK);
    assert_int_equal(first.key_len, 1);
    assert_memory_equal(before.as.members[0].key, "b", 1);
    assert_true(before.as.members[0].key == first.key);
    assert_true(before.as.members[0].value.as.members[0].key == inner.key);
    assert_string_equal(cf_bytes_text(&f, &f.b.events[0]), "{\"a\":3,\"b\":{\"c\":2,\"d\":1}}");
    cf_stop(&f);
}

/* Decode, then encode: what json-sorted does to text from the wire. Raw events are left
 * alone by encode. */
static void test_roundtrip(void **state) {
    cf_fix f;
    (void)state;
    cf_start(&f, "json-sorted", NULL);
    cf_begin(&f);
    cf_raws(&f,
            " {\"z\": {\"y\": 1, \"x\": [true, {\"q\": null, \"p\": \"\\u00e9\"}]}, \"a\": 0} ");
    assert_int_equal(cf_decode(&f), TB_OK);
    cf_raws(&f, "not touched");
    assert_int_equal(cf_encode(&f), TB_OK);
    assert_string_equal(cf_bytes_text(&f, &f.b.events[0]),
                        "{\"a\":0,\"z\":{\"x\":[true,{\"p\":\"\xc3\xa9\",\"q\":null}],\"y\":1}}");
    assert_string_equal(cf_bytes_text(&f, &f.b.events[1]), "not touched");
    cf_stop(&f);
}

/* Decoding is the json codec's: the same values for good input (strings still pointing into
 * the input), the same messages for bad input. */
static void test_decode_like_json(void **state) {
    static const char *const inputs[] = {
        "{\"b\":1,\"a\":[1,2,{\"c\":null}]}",
        " 42 ",
        "-9223372036854775808",
        "18446744073709551615",
        "1e400",
        "\"esc\\n\\u0041\"",
        "{\"k\":1,\"k\":2}",
        "",
        "{\"a\":}",
        "[1,2",
        "nul",
        "\"\xff\"",
        "{\"a\":1} x",
        "01",
    };
    enum { N = sizeof inputs / sizeof inputs[0] };
    char *want[N];
    uint16_t want_flags[N];
    cf_fix json, sorted;
    (void)state;
    /* json first, on its own: both codecs are one plugin, whose memory is checked per run */
    cf_start(&json, "json", NULL);
    for (size_t i = 0; i < N; i++) {
        cf_begin(&json);
        cf_raws(&json, inputs[i]);
        assert_int_equal(cf_decode(&json), TB_OK);
        want_flags[i] = json.b.events[0].flags;
        want[i] = strdup(cf_text(&json, &json.b.events[0].data));
    }
    cf_stop(&json);
    cf_start(&sorted, "json-sorted", NULL);
    for (size_t i = 0; i < N; i++) {
        cf_begin(&sorted);
        const uint8_t *raw = cf_raws(&sorted, inputs[i]);
        assert_int_equal(cf_decode(&sorted), TB_OK);
        const tb_event *b = &sorted.b.events[0];
        assert_int_equal(want_flags[i], b->flags);
        const char *tb = cf_text(&sorted, &b->data);
        if (strcmp(want[i], tb) != 0)
            fail_msg("input %zu decodes differently:\n  json:        %s\n  json-sorted: %s", i,
                     want[i], tb);
        if (i == 0) /* zero copy: the key "b" is the input's own byte */
            assert_true((const uint8_t *)b->data.as.members[0].key == raw + 2);
        free(want[i]);
    }
    /* and the message is json's own */
    cf_begin(&sorted);
    cf_raws(&sorted, "[1,2");
    assert_int_equal(cf_decode(&sorted), TB_OK);
    cf_assert_failed(&sorted, 0, "json codec: unexpected end of input at byte 4");
    cf_stop(&sorted);
}

static void test_no_options(void **state) {
    cf_fix f;
    char err[512] = "";
    (void)state;
    assert_int_not_equal(
        cf_try_start(&f, "json-sorted", "{\"mode\":\"unsorted\"}", err, sizeof err), TB_OK);
    assert_non_null(strstr(err, "unknown option 'mode'"));
    /* and the json codec itself is still unsorted by default */
    cf_start(&f, "json", NULL);
    assert_string_equal(encode_value(&f, "{\"b\":1,\"a\":2}"), "{\"b\":1,\"a\":2}");
    cf_stop(&f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sorted),           cmocka_unit_test(test_input_untouched),
        cmocka_unit_test(test_roundtrip),        cmocka_unit_test(test_decode_like_json),
        cmocka_unit_test(test_no_options),
    };
    return cmocka_run_group_tests(tests, cf_group_setup, cf_group_teardown);
}
