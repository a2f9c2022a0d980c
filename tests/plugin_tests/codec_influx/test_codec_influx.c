/*
 * test_codec_influx.c - the `influx` codec plugin (plugins/codec/influx), loaded from the
 * build's plugins directory and driven through its vtable: known vectors (every distinct line
 * of bench-data/data.influx, Tremor's own test lines, plus extras) with exact output, zero
 * copy, the ingest_ns default timestamp, empty lines and comments, every error class with its
 * exact message and byte offset, round trips and encode errors.
 *
 * Thread contract: single-threaded. Ownership: each test owns its fixture (codec_fix.h).
 */
#include "codec_fix.h"

typedef struct vec {
    const char *in;
    const char *out; /* JSON of the decoded record, or the error message */
} vec;

/* Decodes one line; returns the event. */
static tb_event *dec1(cf_fix *f, const char *line) {
    cf_begin(f);
    cf_raws(f, line);
    f->b.events[0].ingest_ns = 777;
    assert_int_equal(cf_decode(f), TB_OK);
    assert_int_equal(f->b.count, 1);
    return &f->b.events[0];
}

static const vec decode_vectors[] = {
    /* the distinct lines of bench-data/data.influx */
    {"weather,location=us-midwest temperature=82 1465839830100400200",
     "{\"measurement\":\"weather\",\"tags\":{\"location\":\"us-midwest\"},\"fields\":{\"temperature\":82.0},\"timestamp\":1465839830100400200}"},
    {"weather temperature=82 1465839830100400200",
     "{\"measurement\":\"weather\",\"tags\":{},\"fields\":{\"temperature\":82.0},\"timestamp\":1465839830100400200}"},
    {"weather temperature_i=82i 1465839830100400200",
     "{\"measurement\":\"weather\",\"tags\":{},\"fields\":{\"temperature_i\":82},\"timestamp\":1465839830100400200}"},
    {"weather,location=us\\,midwest temperature=82 1465839830100400200",
     "{\"measurement\":\"weather\",\"tags\":{\"location\":\"us,midwest\"},\"fields\":{\"temperature\":82.0},\"timestamp\":1465839830100400200}"},
    {"weather,location\\ place=us-midwest temperature=82 1465839830100400200",
     "{\"measurement\":\"weather\",\"tags\":{\"location place\":\"us-midwest\"},\"fields\":{\"temperature\":82.0},\"timestamp\":1465839830100400200}"},
    {"wea\\,ther,location=us-midwest temperature=82 1465839830100400200",
     "{\"measurement\":\"wea,ther\",\"tags\":{\"location\":\"us-midwest\"},\"fields\":{\"temperature\":82.0},\"timestamp\":1465839830100400200}"},
    {"wea\\ ther,location=us-midwest temperature=82 1465839830100400200",
     "{\"measurement\":\"wea ther\",\"tags\":{\"location\":\"us-midwest\"},\"fields\":{\"temperature\":82.0},\"timestamp\":1465839830100400200}"},
    {"weather,location=us-midwest temp\\=rature=82 1465839830100400200",
     "{\"measurement\":\"weather\",\"tags\":{\"location\":\"us-midwest\"},\"fields\":{\"temp=rature\":82.0},\"timestamp\":1465839830100400200}"},
    {"weacrther,location=us-midwest too_hot=F 1465839830100400200",
     "{\"measurement\":\"weacrther\",\"tags\":{\"location\":\"us-midwest\"},\"fields\":{\"too_hot\":false},\"timestamp\":1465839830100400200}"},
    {"weather,location=us-midwest,season=summer temperature=82 1465839830100400200",
     "{\"measurement\":\"weather\",\"tags\":{\"location\":\"us-midwest\",\"season\":\"summer\"},\"fields\":{\"temperature\":82.0},\"timestamp\":1465839830100400200}"},
    {"weather,location=us-midwest temperature_str=\"too hot/cold\" 1465839830100400201",
     "{\"measurement\":\"weather\",\"tags\":{\"location\":\"us-midwest\"},\"fields\":{\"temperature_str\":\"too hot/cold\"},\"timestamp\":1465839830100400201}"},
    {"weather,location=us-midwest temperature_str=\"too hot\\cold\" 1465839830100400202",
     "{\"measurement\":\"weather\",\"tags\":{\"location\":\"us-midwest\"},\"fields\":{\"temperature_str\":\"too hot\\\\cold\"},\"timestamp\":1465839830100400202}"},
    {"weather,location=us-midwest temperature_str=\"too hot\\\\cold\" 1465839830100400203",
     "{\"measurement\":\"weather\",\"tags\":{\"location\":\"us-midwest\"},\"fields\":{\"temperature_str\":\"too hot\\\\cold\"},\"timestamp\":1465839830100400203}"},
    {"weather,location=us-midwest temperature_str=\"too hot\\\\\\cold\" 1465839830100400204",
     "{\"measurement\":\"weather\",\"tags\":{\"location\":\"us-midwest\"},\"fields\":{\"temperature_str\":\"too hot\\\\\\\\cold\"},\"timestamp\":1465839830100400204}"},
    {"weather,location=us-midwest temperature_str=\"too hot\\\\\\\\cold\" 1465839830100400205",
     "{\"measurement\":\"weather\",\"tags\":{\"location\":\"us-midwest\"},\"fields\":{\"temperature_str\":\"too hot\\\\\\\\cold\"},\"timestamp\":1465839830100400205}"},
    {"weather,location=us-midwest temperature_str=\"too hot\\\\\\\\\\cold\" 1465839830100400206",
     "{\"measurement\":\"weather\",\"tags\":{\"location\":\"us-midwest\"},\"fields\":{\"temperature_str\":\"too hot\\\\\\\\\\\\cold\"},\"timestamp\":1465839830100400206}"},
    {"weather,location=us-midwest temperature_str=\"too warm\" 1465839830100400200",
     "{\"measurement\":\"weather\",\"tags\":{\"location\":\"us-midwest\"},\"fields\":{\"temperature_str\":\"too warm\"},\"timestamp\":1465839830100400200}"},
    {"weather,location=us-midwest temperature_str=\"too\\\"hot\\\"\" 1465839830100400200",
     "{\"measurement\":\"weather\",\"tags\":{\"location\":\"us-midwest\"},\"fields\":{\"temperature_str\":\"too\\\"hot\\\"\"},\"timestamp\":1465839830100400200}"},
    {"weather,location=us-midwest too_hot=true 1465839830100400200",
     "{\"measurement\":\"weather\",\"tags\":{\"location\":\"us-midwest\"},\"fields\":{\"too_hot\":true},\"timestamp\":1465839830100400200}"},
    {"weather,location=us-midwest too_hot=True 1", "{\"measurement\":\"weather\",\"tags\":{\"location\":\"us-midwest\"},\"fields\":{\"too_hot\":true},\"timestamp\":1}"},
    {"weather,location=us-midwest too_hot=TRUE 1", "{\"measurement\":\"weather\",\"tags\":{\"location\":\"us-midwest\"},\"fields\":{\"too_hot\":true},\"timestamp\":1}"},
    {"weather,location=us-midwest too_hot=t 1", "{\"measurement\":\"weather\",\"tags\":{\"location\":\"us-midwest\"},\"fields\":{\"too_hot\":true},\"timestamp\":1}"},
    {"weather,location=us-midwest too_hot=T 1", "{\"measurement\":\"weather\",\"tags\":{\"location\":\"us-midwest\"},\"fields\":{\"too_hot\":true},\"timestamp\":1}"},
    {"weather,location=us-midwest too_hot=false 1", "{\"measurement\":\"weather\",\"tags\":{\"location\":\"us-midwest\"},\"fields\":{\"too_hot\":false},\"timestamp\":1}"},
    {"weather,location=us-midwest too_hot=False 1", "{\"measurement\":\"weather\",\"tags\":{\"location\":\"us-midwest\"},\"fields\":{\"too_hot\":false},\"timestamp\":1}"},
    {"weather,location=us-midwest too_hot=FALSE 1", "{\"measurement\":\"weather\",\"tags\":{\"location\":\"us-midwest\"},\"fields\":{\"too_hot\":false},\"timestamp\":1}"},
    {"weather,location=us-midwest too_hot=f 1", "{\"measurement\":\"weather\",\"tags\":{\"location\":\"us-midwest\"},\"fields\":{\"too_hot\":false},\"timestamp\":1}"},
    /* extras */
    {"  m,b=2,a=1 x=-1.5e3,y=-9223372036854775808i,z=\"a, b=c\",w=.5 18446744073709551615 \n",
     "{\"measurement\":\"m\",\"tags\":{\"b\":\"2\",\"a\":\"1\"},\"fields\":{\"x\":-1500.0,\"y\":-9223372036854775808,\"z\":\"a, b=c\",\"w\":0.5},\"timestamp\":18446744073709551615}"},
    {"m x=1", "{\"measurement\":\"m\",\"tags\":{},\"fields\":{\"x\":1.0},\"timestamp\":777}"},
    {"m,k=1,k=2 x=1,x=2i,y=3", "{\"measurement\":\"m\",\"tags\":{\"k\":\"2\"},\"fields\":{\"x\":2,\"y\":3.0},\"timestamp\":777}"},
    {"m\\=x,t\\=k=v\\=w\\\\ f\\ g=1", /* field keys keep escapes other than \= and \\ */
     "{\"measurement\":\"m\\\\=x\",\"tags\":{\"t=k\":\"v=w\\\\\"},\"fields\":{\"f\\\\ g\":1.0},\"timestamp\":777}"},
    {"m x=1\\2", "{\"measurement\":\"m\",\"tags\":{},\"fields\":{\"x\":12.0},\"timestamp\":777}"},
    {"m x=+7i,y=\"\"", "{\"measurement\":\"m\",\"tags\":{},\"fields\":{\"x\":7,\"y\":\"\"},\"timestamp\":777}"},
    {"m\xc3\xa9 x=1 5", "{\"measurement\":\"m\xc3\xa9\",\"tags\":{},\"fields\":{\"x\":1.0},\"timestamp\":5}"},
};

static void test_vectors(void **state) {
    cf_fix f;
    (void)state;
    cf_start(&f, "influx", NULL);
    for (size_t k = 0; k < sizeof decode_vectors / sizeof decode_vectors[0]; k++) {
        tb_event *e = dec1(&f, decode_vectors[k].in);
        if (e->flags & (TB_EF_ERROR | TB_EF_RAW))
            fail_msg("%s did not decode: %s", decode_vectors[k].in, cf_text(&f, &e->data));
        const char *got = cf_text(&f, &e->data);
        if (strcmp(got, decode_vectors[k].out) != 0)
            fail_msg("decode %s\n  expected %s\n  found    %s", decode_vectors[k].in,
                     decode_vectors[k].out, got);
    }
    cf_stop(&f);
}

static bool inside(const void *p, const uint8_t *buf, size_t n) {
    return (const uint8_t *)p >= buf && (const uint8_t *)p < buf + n;
}

static void test_zero_copy(void **state) {
    cf_fix f;
    const char *line = "cpu,host=a\\ b load=0.5,msg=\"hi\" 10";
    const uint8_t *in;
    const tb_value *v;
    (void)state;
    cf_start(&f, "influx", NULL);
    cf_begin(&f);
    in = cf_raws(&f, line);
    assert_int_equal(cf_decode(&f), TB_OK);
    v = &f.b.events[0].data;
    assert_true(inside(tb_object_getz(v, "measurement")->as.s, in, strlen(line)));
    const tb_value *tags = tb_object_getz(v, "tags");
    assert_true(inside(tags->as.members[0].key, in, strlen(line)));
    assert_false(inside(tags->as.members[0].value.as.s, in, strlen(line)));
    assert_true(tb_value_str_eq(&tags->as.members[0].value, "a b"));
    assert_true(inside(tb_object_getz(tb_object_getz(v, "fields"), "msg")->as.s, in, strlen(line)));
    cf_stop(&f);
}

static void test_empty_and_comments(void **state) {
    cf_fix f;
    (void)state;
    cf_start(&f, "influx", NULL);
    cf_begin(&f);
    cf_raws(&f, "");
    cf_raws(&f, "m x=1 1");
    cf_raws(&f, "  \t\r\n");
    cf_raws(&f, "# a comment");
    cf_raws(&f, "m x=2 2");
    tb_event *e = tb_batch_push(&f.b); /* not raw: left alone */
    e->data = tb_i64(5);
    cf_raws(&f, "#end");
    f.b.events[f.b.count - 1].flags |= TB_EF_STREAM_END;
    assert_int_equal(cf_decode(&f), TB_OK);
    /* nothing is removed: empty lines and comments are marked dropped, with their ids kept */
    assert_int_equal(f.b.count, 7);
    const uint32_t dropped[] = {0, 2, 3, 6};
    for (size_t k = 0; k < sizeof dropped / sizeof *dropped; k++) {
        const tb_event *d = &f.b.events[dropped[k]];
        assert_true(d->flags & TB_EF_DROPPED);
        assert_false(d->flags & TB_EF_RAW);
        assert_int_equal(d->data.type, TB_NULL);
        assert_int_equal(d->id, dropped[k] + 1);
    }
    assert_true(f.b.events[6].flags & TB_EF_STREAM_END);
    assert_false(f.b.events[1].flags & TB_EF_DROPPED);
    assert_int_equal(f.b.events[1].id, 2);
    assert_int_equal(tb_object_getz(&f.b.events[1].data, "timestamp")->as.i, 1);
    assert_int_equal(f.b.events[4].id, 5);
    assert_int_equal(tb_object_getz(&f.b.events[4].data, "timestamp")->as.i, 2);
    assert_int_equal(f.b.events[5].data.type, TB_I64);
    cf_stop(&f);
}

static const vec error_vectors[] = {
    {"weather", "influx codec: expected ',' or ' ' at byte 7"},
    {"weather,loc", "influx codec: expected '=', ' ' or ',' at byte 11"},
    {"weather,loc x=1", "influx codec: tag without a value at byte 11"},
    {"weather,loc, x=1", "influx codec: tag without a value at byte 11"},
    {"weather,loc=a=b x=1", "influx codec: '=' in a tag value at byte 13"},
    {"weather,loc=a", "influx codec: expected '=', ' ' or ',' at byte 13"},
    {"weather x", "influx codec: expected '=' at byte 9"},
    {"weather x=", "influx codec: missing field value at byte 10"},
    {"weather x= 1", "influx codec: missing field value at byte 10"},
    {"weather x=1,", "influx codec: expected '=' at byte 12"},
    {"weather x=1,y=,z=2", "influx codec: missing field value at byte 14"},
    {"weather x=\"abc", "influx codec: expected '\"' at byte 14"},
    {"weather x=\"abc\"d 1", "influx codec: trailing character after a string value at byte 15"},
    {"weather x=abc", "influx codec: invalid float at byte 10"},
    {"weather x=1u", "influx codec: invalid float at byte 10"},
    {"weather x=1inf", "influx codec: expected ' ' or ',' at byte 12"},
    {"weather x=1ix", "influx codec: expected ' ' or ',' at byte 12"},
    {"weather x=1.5i", "influx codec: invalid integer at byte 10"},
    {"weather x=9223372036854775808i", "influx codec: invalid integer at byte 10"},
    {"weather x=1 abc", "influx codec: invalid timestamp at byte 12"},
    {"weather x=1 -5", "influx codec: invalid timestamp at byte 12"},
    {"weather x=1 18446744073709551616", "influx codec: invalid timestamp at byte 12"},
    {"weather x=1  5", "influx codec: invalid timestamp at byte 12"},
    {"wea\\", "influx codec: escape at the end of the line at byte 3"},
    {"weather x=1\\", "influx codec: escape at the end of the line at byte 11"},
    {"wea\xff x=1", "influx codec: invalid UTF-8 at byte 3"},
};

static void test_errors(void **state) {
    cf_fix f;
    (void)state;
    cf_start(&f, "influx", NULL);
    for (size_t k = 0; k < sizeof error_vectors / sizeof error_vectors[0]; k++) {
        tb_event *e = dec1(&f, error_vectors[k].in);
        if (!(e->flags & TB_EF_ERROR))
            fail_msg("%s decoded: %s", error_vectors[k].in, cf_text(&f, &e->data));
        cf_assert_failed(&f, 0, error_vectors[k].out);
    }
    /* raw but not bytes */
    cf_begin(&f);
    tb_event *e = tb_batch_push(&f.b);
    e->data = tb_stringz("m x=1");
    e->flags = TB_EF_RAW;
    assert_int_equal(cf_decode(&f), TB_OK);
    cf_assert_failed(&f, 0, "influx codec: raw event data is not bytes");
    cf_stop(&f);
}

static const vec roundtrips[] = {
    {"weather,location=us-midwest temperature=82 1465839830100400200",
     "weather,location=us-midwest temperature=82.0 1465839830100400200"},
    {"weather temperature_i=82i 1465839830100400200", "weather temperature_i=82i 1465839830100400200"},
    {"weather,location=us\\,midwest temperature=82 1465839830100400200",
     "weather,location=us\\,midwest temperature=82.0 1465839830100400200"},
    {"weather,location\\ place=us-midwest temperature=82 1465839830100400200",
     "weather,location\\ place=us-midwest temperature=82.0 1465839830100400200"},
    {"wea\\,ther,location=us-midwest temperature=82 1465839830100400200",
     "wea\\,ther,location=us-midwest temperature=82.0 1465839830100400200"},
    {"wea\\ ther,location=us-midwest temperature=82 1465839830100400200",
     "wea\\ ther,location=us-midwest temperature=82.0 1465839830100400200"},
    {"weather,location=us-midwest temp\\=rature=82 1465839830100400200",
     "weather,location=us-midwest temp\\=rature=82.0 1465839830100400200"},
    {"weather,location=us-midwest too_hot=T 1465839830100400200",
     "weather,location=us-midwest too_hot=true 1465839830100400200"},
    {"weather,location=us-midwest too_hot=f 1465839830100400200",
     "weather,location=us-midwest too_hot=false 1465839830100400200"},
    {"weather,location=us-midwest temperature_str=\"too\\\"hot\\\"\" 1465839830100400200",
     "weather,location=us-midwest temperature_str=\"too\\\"hot\\\"\" 1465839830100400200"},
    {"weather,location=us-midwest temperature_str=\"too hot\\\\cold\" 1465839830100400203",
     "weather,location=us-midwest temperature_str=\"too hot\\\\cold\" 1465839830100400203"},
    {"weather,location=us-midwest,season=summer temperature=82 1465839830100400200",
     "weather,location=us-midwest,season=summer temperature=82.0 1465839830100400200"},
    /* tags and fields are written sorted by key */
    {"m,z=1,a=2 y=0.1,b=-3i,c=\"s p,a=ce\" 18446744073709551615",
     "m,a=2,z=1 b=-3i,c=\"s p,a=ce\",y=0.1 18446744073709551615"},
    {"m x=1e300,y=1.5e-7,z=0.30000000000000004 0", "m x=1e+300,y=1.5e-07,z=0.30000000000000004 0"},
};

static void test_roundtrip(void **state) {
    cf_fix f;
    (void)state;
    cf_start(&f, "influx", NULL);
    for (size_t k = 0; k < sizeof roundtrips / sizeof roundtrips[0]; k++) {
        tb_event *e = dec1(&f, roundtrips[k].in);
        if (e->flags & TB_EF_ERROR) fail_msg("%s: %s", roundtrips[k].in, cf_text(&f, &e->data));
        assert_int_equal(cf_encode(&f), TB_OK);
        const char *got = cf_bytes_text(&f, &f.b.events[0]);
        if (strcmp(got, roundtrips[k].out) != 0)
            fail_msg("round trip %s\n  expected %s\n  found    %s", roundtrips[k].in,
                     roundtrips[k].out, got);
        /* and the encoded line decodes and encodes to itself */
        char line[512]; /* copied: the next dec1 frees the arena */
        snprintf(line, sizeof line, "%s", got);
        e = dec1(&f, line);
        assert_false(e->flags & TB_EF_ERROR);
        assert_int_equal(cf_encode(&f), TB_OK);
        assert_string_equal(cf_bytes_text(&f, &f.b.events[0]), line);
    }
    cf_stop(&f);
}

static const vec encode_vectors[] = {
    {"{\"measurement\":\"m e=a,s\",\"tags\":{\"k\":\"v\",\"n\":1},\"fields\":{\"u\":18446744073709551615,\"b\":true,\"q\":\"\\\\\\\"\"},\"timestamp\":3}",
     "m\\ e\\=a\\,s,k=v b=true,q=\"\\\\\\\"\",u=18446744073709551615i 3"},
    {"{\"measurement\":\"m\",\"tags\":{},\"fields\":{\"x\":1},\"timestamp\":0}", "m x=1i 0"},
};

static const vec encode_errors[] = {
    {"[1]", "influx codec: expected an object, not array"},
    {"{\"tags\":{},\"fields\":{},\"timestamp\":1}", "influx codec: missing string field 'measurement'"},
    {"{\"measurement\":1,\"tags\":{},\"fields\":{},\"timestamp\":1}", "influx codec: missing string field 'measurement'"},
    {"{\"measurement\":\"m\",\"fields\":{},\"timestamp\":1}", "influx codec: missing field 'tags'"},
    {"{\"measurement\":\"m\",\"tags\":[],\"fields\":{},\"timestamp\":1}", "influx codec: field 'tags' is not an object"},
    {"{\"measurement\":\"m\",\"tags\":{},\"timestamp\":1}", "influx codec: missing field 'fields'"},
    {"{\"measurement\":\"m\",\"tags\":{},\"fields\":1,\"timestamp\":1}", "influx codec: field 'fields' is not an object"},
    {"{\"measurement\":\"m\",\"tags\":{},\"fields\":{\"x\":1}}", "influx codec: missing field 'timestamp'"},
    {"{\"measurement\":\"m\",\"tags\":{},\"fields\":{\"x\":1},\"timestamp\":-1}", "influx codec: 'timestamp' must be an unsigned integer, not int"},
    {"{\"measurement\":\"m\",\"tags\":{},\"fields\":{\"x\":1},\"timestamp\":1.5}", "influx codec: 'timestamp' must be an unsigned integer, not float"},
    {"{\"measurement\":\"m\",\"tags\":{},\"fields\":{\"x\":null},\"timestamp\":1}", "influx codec: field 'x' has invalid type null"},
    {"{\"measurement\":\"m\",\"tags\":{},\"fields\":{\"x\":[1]},\"timestamp\":1}", "influx codec: field 'x' has invalid type array"},
};

static void test_encode(void **state) {
    cf_fix f;
    (void)state;
    cf_start(&f, "influx", NULL);
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
    /* non-finite floats cannot be written */
    cf_begin(&f);
    tb_event *e = cf_value(&f, "{\"measurement\":\"m\",\"tags\":{},\"fields\":{\"x\":1.0},\"timestamp\":1}");
    tb_object_getz(tb_object_getz(&e->data, "fields"), "x")->as.f = 1.0 / 0.0;
    assert_int_equal(cf_encode(&f), TB_OK);
    cf_assert_failed(&f, 0, "influx codec: field 'x' is not a finite float");
    cf_stop(&f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vectors),
        cmocka_unit_test(test_zero_copy),
        cmocka_unit_test(test_empty_and_comments),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_encode),
    };
    return cmocka_run_group_tests(tests, cf_group_setup, cf_group_teardown);
}
