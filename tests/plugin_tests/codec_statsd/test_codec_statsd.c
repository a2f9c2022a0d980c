/*
 * test_codec_statsd.c - the `statsd` codec plugin (plugins/codec/statsd), loaded from the
 * build's plugins directory and driven through its vtable: Tremor's own test vectors with
 * exact output and exact round trips, gauge actions, sample rates, every error class with
 * its exact message and byte offset, and encode errors.
 *
 * Thread contract: single-threaded. Ownership: each test owns its fixture (codec_fix.h).
 */
#include "codec_fix.h"

typedef struct vec {
    const char *in;
    const char *out;
} vec;

static tb_event *dec1(cf_fix *f, const char *line) {
    cf_begin(f);
    cf_raws(f, line);
    assert_int_equal(cf_decode(f), TB_OK);
    return &f->b.events[0];
}

static const vec decode_vectors[] = {
    {"gorets:1|c", "{\"metric\":\"gorets\",\"type\":\"c\",\"value\":1}"},
    {"glork:320|ms", "{\"metric\":\"glork\",\"type\":\"ms\",\"value\":320}"},
    {"gaugor:333|g", "{\"metric\":\"gaugor\",\"type\":\"g\",\"value\":333}"},
    {"uniques:765|s", "{\"metric\":\"uniques\",\"type\":\"s\",\"value\":765}"},
    {"horst:42.23|h", "{\"metric\":\"horst\",\"type\":\"h\",\"value\":42.23}"},
    {"sam:7|c|@0.1", "{\"metric\":\"sam\",\"type\":\"c\",\"sample_rate\":0.1,\"value\":7}"},
    {"addy:+123|g", "{\"metric\":\"addy\",\"action\":\"add\",\"type\":\"g\",\"value\":123}"},
    {"subastian:-234|g", "{\"metric\":\"subastian\",\"action\":\"sub\",\"type\":\"g\",\"value\":234}"},
    {"f:-1.5|g|@1", "{\"metric\":\"f\",\"action\":\"sub\",\"type\":\"g\",\"sample_rate\":1.0,\"value\":1.5}"},
    {"neg:-3|c", "{\"metric\":\"neg\",\"type\":\"c\",\"value\":-3}"},
    {"pos:+3|ms", "{\"metric\":\"pos\",\"type\":\"ms\",\"value\":3}"},
    {"a.b-c_d:.5|h|@1e-2", "{\"metric\":\"a.b-c_d\",\"type\":\"h\",\"sample_rate\":0.01,\"value\":0.5}"},
    {":0|c", "{\"metric\":\"\",\"type\":\"c\",\"value\":0}"},
};

static void test_vectors(void **state) {
    cf_fix f;
    (void)state;
    cf_start(&f, "statsd", NULL);
    for (size_t k = 0; k < sizeof decode_vectors / sizeof decode_vectors[0]; k++) {
        tb_event *e = dec1(&f, decode_vectors[k].in);
        if (e->flags & (TB_EF_ERROR | TB_EF_RAW))
            fail_msg("%s did not decode: %s", decode_vectors[k].in, cf_text(&f, &e->data));
        const char *got = cf_text(&f, &e->data);
        if (strcmp(got, decode_vectors[k].out) != 0)
            fail_msg("decode %s\n  expected %s\n  found    %s", decode_vectors[k].in,
                     decode_vectors[k].out, got);
    }
    /* the metric is zero copy */
    cf_begin(&f);
    const uint8_t *in = cf_raws(&f, "zc:1|c");
    assert_int_equal(cf_decode(&f), TB_OK);
    assert_ptr_equal(tb_object_getz(&f.b.events[0].data, "metric")->as.s, (const char *)in);
    cf_stop(&f);
}

static const vec roundtrips[] = {
    {"gorets:1|c", "gorets:1|c"},
    {"glork:320|ms", "glork:320|ms"},
    {"gaugor:333|g", "gaugor:333|g"},
    {"uniques:765|s", "uniques:765|s"},
    {"horst:42.23|h", "horst:42.23|h"},
    {"sam:7|c|@0.1", "sam:7|c|@0.1"},
    {"addy:+123|g", "addy:+123|g"},
    {"subastian:-234|g", "subastian:-234|g"},
    {"f:-1.5|g|@1", "f:-1.5|g|@1.0"},
    {"neg:-3|c", "neg:-3|c"},
    {"pos:+3|ms", "pos:3|ms"},
    {"a:1.0|h", "a:1.0|h"},
};

static void test_roundtrip(void **state) {
    cf_fix f;
    (void)state;
    cf_start(&f, "statsd", NULL);
    for (size_t k = 0; k < sizeof roundtrips / sizeof roundtrips[0]; k++) {
        tb_event *e = dec1(&f, roundtrips[k].in);
        if (e->flags & TB_EF_ERROR) fail_msg("%s: %s", roundtrips[k].in, cf_text(&f, &e->data));
        assert_int_equal(cf_encode(&f), TB_OK);
        const char *got = cf_bytes_text(&f, &f.b.events[0]);
        if (strcmp(got, roundtrips[k].out) != 0)
            fail_msg("round trip %s\n  expected %s\n  found    %s", roundtrips[k].in,
                     roundtrips[k].out, got);
    }
    cf_stop(&f);
}

static const vec error_vectors[] = {
    {"", "statsd codec: expected ':' after the metric name at byte 0"},
    {"gorets", "statsd codec: expected ':' after the metric name at byte 6"},
    {"gorets:1", "statsd codec: expected '|' after the value at byte 8"},
    {"gorets:1|", "statsd codec: expected a type (c, ms, g, h or s) at byte 9"},
    {"gorets:1|x", "statsd codec: expected a type (c, ms, g, h or s) at byte 9"},
    {"gorets:1|m", "statsd codec: expected a type (c, ms, g, h or s) at byte 9"},
    {"gorets:1|mx", "statsd codec: expected a type (c, ms, g, h or s) at byte 9"},
    {"gorets:1|cc", "statsd codec: expected '|' or the end after the type at byte 10"},
    {"gorets:1|c|", "statsd codec: expected '@' before the sample rate at byte 11"},
    {"gorets:1|c|0.1", "statsd codec: expected '@' before the sample rate at byte 11"},
    {"gorets:1|c|@", "statsd codec: invalid sample rate at byte 12"},
    {"gorets:1|c|@x", "statsd codec: invalid sample rate at byte 12"},
    {"gorets:|c", "statsd codec: invalid integer value at byte 7"},
    {"gorets:abc|c", "statsd codec: invalid integer value at byte 7"},
    {"gorets:1e3|c", "statsd codec: invalid integer value at byte 7"},
    {"gorets:99999999999999999999|c", "statsd codec: invalid integer value at byte 7"},
    {"gorets:1.2.3|c", "statsd codec: invalid float value at byte 7"},
    {"gorets:.|c", "statsd codec: invalid float value at byte 7"},
    {"g\xff:1|c", "statsd codec: metric name is not valid UTF-8 at byte 0"},
};

static void test_errors(void **state) {
    cf_fix f;
    (void)state;
    cf_start(&f, "statsd", NULL);
    for (size_t k = 0; k < sizeof error_vectors / sizeof error_vectors[0]; k++) {
        tb_event *e = dec1(&f, error_vectors[k].in);
        if (!(e->flags & TB_EF_ERROR))
            fail_msg("%s decoded: %s", error_vectors[k].in, cf_text(&f, &e->data));
        cf_assert_failed(&f, 0, error_vectors[k].out);
    }
    cf_begin(&f);
    tb_event *e = tb_batch_push(&f.b);
    e->data = tb_stringz("a:1|c");
    e->flags = TB_EF_RAW;
    e = tb_batch_push(&f.b); /* not raw: left alone */
    e->data = tb_i64(3);
    assert_int_equal(cf_decode(&f), TB_OK);
    cf_assert_failed(&f, 0, "statsd codec: raw event data is not bytes");
    assert_int_equal(f.b.events[1].data.type, TB_I64);
    cf_stop(&f);
}

static const vec encode_vectors[] = {
    {"{\"metric\":\"m\",\"type\":\"g\",\"action\":\"add\",\"value\":2.5,\"sample_rate\":1}", "m:+2.5|g|@1"},
    {"{\"metric\":\"m\",\"type\":\"c\",\"action\":\"sub\",\"value\":-2}", "m:-2|c"},
    {"{\"metric\":\"m\",\"type\":\"g\",\"action\":\"other\",\"value\":9223372036854775807}", "m:9223372036854775807|g"},
};

static const vec encode_errors[] = {
    {"1", "statsd codec: expected an object"},
    {"{\"type\":\"c\",\"value\":1}", "statsd codec: 'metric' must be a string"},
    {"{\"metric\":\"m\",\"value\":1}", "statsd codec: 'type' must be a string"},
    {"{\"metric\":\"m\",\"type\":\"c\"}", "statsd codec: 'value' must be an integer or a finite float"},
    {"{\"metric\":\"m\",\"type\":\"c\",\"value\":\"1\"}", "statsd codec: 'value' must be an integer or a finite float"},
    {"{\"metric\":\"m\",\"type\":\"c\",\"value\":18446744073709551615}", "statsd codec: 'value' must be an integer or a finite float"},
    {"{\"metric\":\"m\",\"type\":\"c\",\"value\":1,\"sample_rate\":null}", "statsd codec: 'sample_rate' must be an integer or a finite float"},
};

static void test_encode(void **state) {
    cf_fix f;
    (void)state;
    cf_start(&f, "statsd", NULL);
    for (size_t k = 0; k < sizeof encode_vectors / sizeof encode_vectors[0]; k++) {
        cf_begin(&f);
        cf_value(&f, encode_vectors[k].in);
        assert_int_equal(cf_encode(&f), TB_OK);
        assert_string_equal(cf_bytes_text(&f, &f.b.events[0]), encode_vectors[k].out);
    }
    for (size_t k = 0; k < sizeof encode_errors / sizeof encode_errors[0]; k++) {
        cf_begin(&f);
        cf_value(&f, encode_errors[k].in);
        assert_int_equal(cf_encode(&f), TB_OK);
        cf_assert_failed(&f, 0, encode_errors[k].out);
    }
    cf_stop(&f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vectors),
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_encode),
    };
    return cmocka_run_group_tests(tests, cf_group_setup, cf_group_teardown);
}
