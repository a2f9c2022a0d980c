/*
 * test_codec_msgpack.c - the `msgpack` codec plugin (plugins/codec/msgpack), loaded from the
 * build's plugins directory and driven through its vtable: hand-written vectors from the
 * MessagePack spec for every type and format, zero-copy str/bin/keys, every error class with
 * its exact message and offset, smallest-form encoding at every format boundary, round
 * trips, every truncation of a valid document and the 512-level nesting limit both ways.
 *
 * Thread contract: single-threaded. Ownership: each test owns its fixture (codec_fix.h).
 */
#include "codec_fix.h"

#define B(...) ((const uint8_t[]){__VA_ARGS__}), sizeof((const uint8_t[]){__VA_ARGS__})

/* Decodes p[0..n) and returns its value; fails the test when it does not decode. */
static const tb_value *dec(cf_fix *f, const uint8_t *p, size_t n) {
    cf_begin(f);
    cf_raw(f, p, n);
    assert_int_equal(cf_decode(f), TB_OK);
    if (f->b.events[0].flags & (TB_EF_ERROR | TB_EF_RAW))
        fail_msg("did not decode: %s", cf_text(f, &f->b.events[0].data));
    return &f->b.events[0].data;
}

/* Decodes p[0..n) and checks that it fails with exactly reason. */
static void dec_err(cf_fix *f, const uint8_t *p, size_t n, const char *reason) {
    cf_begin(f);
    cf_raw(f, p, n);
    assert_int_equal(cf_decode(f), TB_OK);
    cf_assert_failed(f, 0, reason);
}

/* The JSON text of decoding p[0..n). */
static const char *dec_text(cf_fix *f, const uint8_t *p, size_t n) {
    return cf_text(f, dec(f, p, n));
}

static void assert_bytes(const tb_event *e, const uint8_t *p, size_t n) {
    assert_int_equal(e->data.type, TB_BYTES);
    assert_true(e->flags & TB_EF_RAW);
    if (e->data.len != n || memcmp(e->data.as.bytes, p, n) != 0) {
        char got[256] = "";
        size_t k, w = 0;
        for (k = 0; k < e->data.len && w + 4 < sizeof got; k++)
            w += (size_t)snprintf(got + w, sizeof got - w, "%02x ", e->data.as.bytes[k]);
        fail_msg("encoded %u bytes: %s(expected %zu bytes)", e->data.len, got, n);
    }
}

/* Encodes the value of json and checks the bytes. */
static void enc(cf_fix *f, const char *json, const uint8_t *p, size_t n) {
    cf_begin(f);
    cf_value(f, json);
    assert_int_equal(cf_encode(f), TB_OK);
    assert_bytes(&f->b.events[0], p, n);
}

static void test_scalars(void **state) {
    cf_fix f;
    const tb_value *v;
    (void)state;
    cf_start(&f, "msgpack", NULL);
    v = dec(&f, B(0x00));
    assert_int_equal(v->type, TB_I64);
    assert_int_equal(v->as.i, 0);
    assert_true(dec(&f, B(0x7f))->as.i == 127);
    assert_true(dec(&f, B(0xe0))->as.i == -32);
    assert_true(dec(&f, B(0xff))->as.i == -1);
    assert_int_equal(dec(&f, B(0xc0))->type, TB_NULL);
    v = dec(&f, B(0xc2));
    assert_int_equal(v->type, TB_BOOL);
    assert_false(v->as.b);
    assert_true(dec(&f, B(0xc3))->as.b);
    assert_true(dec(&f, B(0xcc, 0xff))->as.i == 255);
    assert_true(dec(&f, B(0xcd, 0x01, 0x00))->as.i == 256);
    assert_true(dec(&f, B(0xce, 0xff, 0xff, 0xff, 0xff))->as.i == 4294967295);
    v = dec(&f, B(0xcf, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff));
    assert_int_equal(v->type, TB_I64);
    assert_true(v->as.i == INT64_MAX);
    v = dec(&f, B(0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff));
    assert_int_equal(v->type, TB_U64);
    assert_true(v->as.u == UINT64_MAX);
    assert_true(dec(&f, B(0xd0, 0x80))->as.i == -128);
    assert_true(dec(&f, B(0xd0, 0x7f))->as.i == 127);
    assert_true(dec(&f, B(0xd1, 0x80, 0x00))->as.i == -32768);
    assert_true(dec(&f, B(0xd1, 0xff, 0xfe))->as.i == -2);
    assert_true(dec(&f, B(0xd2, 0x80, 0x00, 0x00, 0x00))->as.i == INT32_MIN);
    v = dec(&f, B(0xd3, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00));
    assert_int_equal(v->type, TB_I64);
    assert_true(v->as.i == INT64_MIN);
    assert_true(dec(&f, B(0xd3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff))->as.i == -1);
    v = dec(&f, B(0xca, 0x3f, 0xc0, 0x00, 0x00));
    assert_int_equal(v->type, TB_F64);
    assert_true(v->as.f == 1.5);
    v = dec(&f, B(0xcb, 0x3f, 0xf8, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00));
    assert_int_equal(v->type, TB_F64);
    assert_true(v->as.f == 1.5);
    v = dec(&f, B(0xcb, 0xc0, 0x09, 0x21, 0xfb, 0x54, 0x44, 0x2d, 0x18));
    assert_true(v->as.f == -3.141592653589793);
    v = dec(&f, B(0xa0));
    assert_int_equal(v->type, TB_STRING);
    assert_int_equal(v->len, 0);
    assert_string_equal(dec_text(&f, B(0xa3, 'a', 'b', 'c')), "\"abc\"");
    assert_string_equal(dec_text(&f, B(0xd9, 0x03, 'a', 'b', 'c')), "\"abc\"");
    assert_string_equal(dec_text(&f, B(0xda, 0x00, 0x03, 'a', 'b', 'c')), "\"abc\"");
    assert_string_equal(dec_text(&f, B(0xdb, 0x00, 0x00, 0x00, 0x03, 'a', 'b', 'c')), "\"abc\"");
    assert_string_equal(dec_text(&f, B(0xa2, 0xc3, 0xa9)), "\"\xc3\xa9\"");
    v = dec(&f, B(0xc4, 0x02, 0x01, 0xff));
    assert_int_equal(v->type, TB_BYTES);
    assert_int_equal(v->len, 2);
    assert_int_equal(v->as.bytes[1], 0xff);
    v = dec(&f, B(0xc5, 0x00, 0x01, 0x07));
    assert_int_equal(v->type, TB_BYTES);
    assert_int_equal(v->len, 1);
    v = dec(&f, B(0xc6, 0x00, 0x00, 0x00, 0x00));
    assert_int_equal(v->type, TB_BYTES);
    assert_int_equal(v->len, 0);
    cf_stop(&f);
}

static void test_structures(void **state) {
    cf_fix f;
    (void)state;
    cf_start(&f, "msgpack", NULL);
    assert_string_equal(dec_text(&f, B(0x90)), "[]");
    assert_string_equal(dec_text(&f, B(0x80)), "{}");
    /* {"a":1,"b":[true,null]} */
    assert_string_equal(dec_text(&f, B(0x82, 0xa1, 'a', 0x01, 0xa1, 'b', 0x92, 0xc3, 0xc0)),
                        "{\"a\":1,\"b\":[true,null]}");
    assert_string_equal(dec_text(&f, B(0xdc, 0x00, 0x02, 0x01, 0x02)), "[1,2]");
    assert_string_equal(dec_text(&f, B(0xdd, 0x00, 0x00, 0x00, 0x01, 0x90)), "[[]]");
    assert_string_equal(dec_text(&f, B(0xde, 0x00, 0x01, 0xa1, 'k', 0x05)), "{\"k\":5}");
    assert_string_equal(dec_text(&f, B(0xdf, 0x00, 0x00, 0x00, 0x01, 0xa1, 'k', 0x80)),
                        "{\"k\":{}}");
    /* duplicate keys are kept; lookups take the last */
    const tb_value *v = dec(&f, B(0x82, 0xa1, 'k', 0x01, 0xa1, 'k', 0x02));
    assert_int_equal(v->len, 2);
    assert_int_equal(tb_object_getz(v, "k")->as.i, 2);
    cf_stop(&f);
}

static bool inside(const void *p, const uint8_t *buf, size_t n) {
    return (const uint8_t *)p >= buf && (const uint8_t *)p < buf + n;
}

static void test_zero_copy(void **state) {
    cf_fix f;
    const uint8_t *in;
    const tb_value *v;
    static const uint8_t doc[] = {0x82, 0xa3, 'k', 'e', 'y', 0xa3, 'v', 'a', 'l',
                                  0xa3, 'b', 'i', 'n', 0xc4, 0x02, 0x00, 0x01};
    (void)state;
    cf_start(&f, "msgpack", NULL);
    cf_begin(&f);
    in = cf_raw(&f, doc, sizeof doc);
    assert_int_equal(cf_decode(&f), TB_OK);
    v = &f.b.events[0].data;
    assert_int_equal(v->type, TB_OBJECT);
    assert_int_equal(f.b.events[0].flags & TB_EF_RAW, 0);
    assert_true(inside(v->as.members[0].key, in, sizeof doc));
    assert_true(inside(v->as.members[0].value.as.s, in, sizeof doc));
    assert_true(v->as.members[0].value.as.s == (const char *)in + 6);
    assert_true(v->as.members[1].value.as.bytes == in + 15);
    cf_stop(&f);
}

static void test_errors(void **state) {
    cf_fix f;
    (void)state;
    cf_start(&f, "msgpack", NULL);
    dec_err(&f, (const uint8_t *)"", 0, "msgpack codec: unexpected end of input at byte 0");
    dec_err(&f, B(0xc1), "msgpack codec: invalid marker byte 0xc1 at byte 0");
    dec_err(&f, B(0x91, 0xc1), "msgpack codec: invalid marker byte 0xc1 at byte 1");
    dec_err(&f, B(0x93, 0x01, 0x02), "msgpack codec: unexpected end of input in array at byte 0");
    dec_err(&f, B(0x92, 0x01, 0xd9), "msgpack codec: unexpected end of input in str at byte 2");
    dec_err(&f, B(0xa3, 'a', 'b'), "msgpack codec: unexpected end of input in str at byte 0");
    dec_err(&f, B(0xc4, 0x05, 0x00), "msgpack codec: unexpected end of input in bin at byte 0");
    dec_err(&f, B(0xdb, 0xff, 0xff, 0xff, 0xff, 'a'),
            "msgpack codec: unexpected end of input in str at byte 0");
    dec_err(&f, B(0xcd, 0x01), "msgpack codec: unexpected end of input in uint16 at byte 0");
    dec_err(&f, B(0xd2, 0x01), "msgpack codec: unexpected end of input in int32 at byte 0");
    dec_err(&f, B(0xca, 0x00), "msgpack codec: unexpected end of input in float32 at byte 0");
    dec_err(&f, B(0xcb, 0x00), "msgpack codec: unexpected end of input in float64 at byte 0");
    dec_err(&f, B(0xdd, 0xff, 0xff, 0xff, 0xff),
            "msgpack codec: unexpected end of input in array at byte 0");
    dec_err(&f, B(0xdf, 0x00, 0x00, 0x01, 0x00, 0xa0, 0x01),
            "msgpack codec: unexpected end of input in map at byte 0");
    dec_err(&f, B(0xde, 0x00), "msgpack codec: unexpected end of input in map at byte 0");
    dec_err(&f, B(0x81, 0xa1, 'k'), "msgpack codec: unexpected end of input at byte 3");
    dec_err(&f, B(0xd4, 0x05, 0x01), "msgpack codec: ext type 5 is not supported at byte 0");
    dec_err(&f, B(0xd6, 0xff, 0x00, 0x00, 0x00, 0x00),
            "msgpack codec: ext type -1 is not supported at byte 0");
    dec_err(&f, B(0x91, 0xc7, 0x01, 0x02, 0x00),
            "msgpack codec: ext type 2 is not supported at byte 1");
    dec_err(&f, B(0xc8, 0x00), "msgpack codec: unexpected end of input in ext at byte 0");
    dec_err(&f, B(0x81, 0x01, 0x02), "msgpack codec: map key must be a string, found int at byte 1");
    dec_err(&f, B(0x81, 0xc4, 0x00, 0x02),
            "msgpack codec: map key must be a string, found bytes at byte 1");
    dec_err(&f, B(0xa2, 0xc3, 0x28), "msgpack codec: invalid UTF-8 in string at byte 1");
    dec_err(&f, B(0xa4, 'a', 0xed, 0xa0, 0x80),
            "msgpack codec: invalid UTF-8 in string at byte 2");
    dec_err(&f, B(0x01, 0x02), "msgpack codec: trailing bytes after the value at byte 1");
    /* one bad event does not stop the others */
    cf_begin(&f);
    cf_raw(&f, B(0xc1));
    cf_raw(&f, B(0x2a));
    assert_int_equal(cf_decode(&f), TB_OK);
    cf_assert_failed(&f, 0, "msgpack codec: invalid marker byte 0xc1 at byte 0");
    assert_int_equal(f.b.events[1].data.as.i, 42);
    cf_stop(&f);
}

static void test_not_raw_and_not_bytes(void **state) {
    cf_fix f;
    tb_event *e;
    (void)state;
    cf_start(&f, "msgpack", NULL);
    cf_begin(&f);
    cf_value(&f, "{\"keep\":1}");
    e = tb_batch_push(&f.b);
    e->data = tb_stringz("x");
    e->flags = TB_EF_RAW;
    assert_int_equal(cf_decode(&f), TB_OK);
    assert_string_equal(cf_text(&f, &f.b.events[0].data), "{\"keep\":1}");
    cf_assert_failed(&f, 1, "msgpack codec: raw event data is not bytes");
    /* encode leaves raw events alone */
    cf_begin(&f);
    cf_raws(&f, "left alone");
    assert_int_equal(cf_encode(&f), TB_OK);
    assert_string_equal(cf_bytes_text(&f, &f.b.events[0]), "left alone");
    cf_stop(&f);
}

static void test_encode(void **state) {
    cf_fix f;
    (void)state;
    cf_start(&f, "msgpack", NULL);
    enc(&f, "null", B(0xc0));
    enc(&f, "true", B(0xc3));
    enc(&f, "false", B(0xc2));
    enc(&f, "0", B(0x00));
    enc(&f, "127", B(0x7f));
    enc(&f, "128", B(0xcc, 0x80));
    enc(&f, "255", B(0xcc, 0xff));
    enc(&f, "256", B(0xcd, 0x01, 0x00));
    enc(&f, "65535", B(0xcd, 0xff, 0xff));
    enc(&f, "65536", B(0xce, 0x00, 0x01, 0x00, 0x00));
    enc(&f, "4294967295", B(0xce, 0xff, 0xff, 0xff, 0xff));
    enc(&f, "4294967296", B(0xcf, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00));
    enc(&f, "18446744073709551615", B(0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff));
    enc(&f, "-1", B(0xff));
    enc(&f, "-32", B(0xe0));
    enc(&f, "-33", B(0xd0, 0xdf));
    enc(&f, "-128", B(0xd0, 0x80));
    enc(&f, "-129", B(0xd1, 0xff, 0x7f));
    enc(&f, "-32768", B(0xd1, 0x80, 0x00));
    enc(&f, "-32769", B(0xd2, 0xff, 0xff, 0x7f, 0xff));
    enc(&f, "-2147483648", B(0xd2, 0x80, 0x00, 0x00, 0x00));
    enc(&f, "-2147483649", B(0xd3, 0xff, 0xff, 0xff, 0xff, 0x7f, 0xff, 0xff, 0xff));
    enc(&f, "-9223372036854775808", B(0xd3, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00));
    enc(&f, "1.5", B(0xcb, 0x3f, 0xf8, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00));
    enc(&f, "\"\"", B(0xa0));
    enc(&f, "\"abc\"", B(0xa3, 'a', 'b', 'c'));
    enc(&f, "[]", B(0x90));
    enc(&f, "{}", B(0x80));
    enc(&f, "{\"a\":[1,null]}", B(0x81, 0xa1, 'a', 0x92, 0x01, 0xc0));
    enc(&f, "[[],{}]", B(0x92, 0x90, 0x80));
    cf_stop(&f);
}

/* Format boundaries of str, bin, array and map headers. */
static void test_encode_lengths(void **state) {
    cf_fix f;
    static char text[70000];
    static const size_t lens[] = {31, 32, 255, 256, 65535, 65536};
    static const uint8_t str_heads[][5] = {{0xbf},
                                           {0xd9, 0x20},
                                           {0xd9, 0xff},
                                           {0xda, 0x01, 0x00},
                                           {0xda, 0xff, 0xff},
                                           {0xdb, 0x00, 0x01, 0x00, 0x00}};
    static const size_t str_head_len[] = {1, 2, 2, 3, 3, 5};
    static const uint8_t bin_heads[][5] = {{0xc4, 0x1f},
                                           {0xc4, 0x20},
                                           {0xc4, 0xff},
                                           {0xc5, 0x01, 0x00},
                                           {0xc5, 0xff, 0xff},
                                           {0xc6, 0x00, 0x01, 0x00, 0x00}};
    static const size_t bin_head_len[] = {2, 2, 2, 3, 3, 5};
    (void)state;
    memset(text, 'x', sizeof text);
    cf_start(&f, "msgpack", NULL);
    for (size_t k = 0; k < sizeof lens / sizeof lens[0]; k++) {
        tb_event *e;
        for (int bin = 0; bin < 2; bin++) {
            const tb_value *v;
            cf_begin_chunk(&f, 4096);
            e = tb_batch_push(&f.b);
            e->data = bin ? tb_bytes(text, lens[k]) : tb_string(text, lens[k]);
            assert_int_equal(cf_encode(&f), TB_OK);
            e = &f.b.events[0];
            size_t hl = bin ? bin_head_len[k] : str_head_len[k];
            assert_int_equal(e->data.len, hl + lens[k]);
            assert_memory_equal(e->data.as.bytes, bin ? bin_heads[k] : str_heads[k], hl);
            /* and back */
            e->flags = TB_EF_RAW;
            assert_int_equal(cf_decode(&f), TB_OK);
            v = &f.b.events[0].data;
            assert_int_equal(v->type, bin ? TB_BYTES : TB_STRING);
            assert_int_equal(v->len, lens[k]);
        }
    }
    /* arrays and maps: 15 fits a fix header, 16 takes 16 bits, 65536 takes 32 */
    static const uint32_t counts[] = {15, 16, 65535, 65536};
    static const uint8_t arr_heads[][5] = {
        {0x9f}, {0xdc, 0x00, 0x10}, {0xdc, 0xff, 0xff}, {0xdd, 0x00, 0x01, 0x00, 0x00}};
    static const uint8_t map_heads[][5] = {
        {0x8f}, {0xde, 0x00, 0x10}, {0xde, 0xff, 0xff}, {0xdf, 0x00, 0x01, 0x00, 0x00}};
    static const size_t head_len[] = {1, 3, 3, 5};
    for (size_t k = 0; k < 4; k++) {
        for (int map = 0; map < 2; map++) {
            tb_event *e;
            cf_begin_chunk(&f, 1 << 20);
            e = tb_batch_push(&f.b);
            e->data = map ? tb_object() : tb_array();
            for (uint32_t j = 0; j < counts[k]; j++) {
                tb_value *slot = map ? tb_object_append(f.arena, &e->data, "k", 1)
                                     : tb_array_push(f.arena, &e->data);
                assert_non_null(slot);
                *slot = tb_i64(1);
            }
            assert_int_equal(cf_encode(&f), TB_OK);
            e = &f.b.events[0];
            assert_int_equal(e->data.len, head_len[k] + (size_t)counts[k] * (map ? 3 : 1));
            assert_memory_equal(e->data.as.bytes, map ? map_heads[k] : arr_heads[k], head_len[k]);
            e->flags = TB_EF_RAW;
            assert_int_equal(cf_decode(&f), TB_OK);
            assert_int_equal(f.b.events[0].data.type, map ? TB_OBJECT : TB_ARRAY);
            assert_int_equal(f.b.events[0].data.len, counts[k]);
        }
    }
    cf_stop(&f);
}

static void test_roundtrip(void **state) {
    cf_fix f;
    static const char *const docs[] = {
        "{\"a\":[1,-1,300,-300,70000,-70000,5000000000,-5000000000,18446744073709551615],"
        "\"b\":{\"c\":null,\"d\":true,\"e\":false},\"f\":0.1,\"g\":\"h\\u00e9llo\",\"h\":[]}",
        "[[[[[]]]],{},\"\",-0.0,1e300]",
    };
    (void)state;
    cf_start(&f, "msgpack", NULL);
    for (size_t k = 0; k < sizeof docs / sizeof docs[0]; k++) {
        const char *want;
        tb_event *e;
        cf_begin(&f);
        e = cf_value(&f, docs[k]);
        want = cf_text(&f, &e->data);
        assert_int_equal(cf_encode(&f), TB_OK);
        /* bytes -> value -> bytes is the identity on canonical input */
        size_t n = f.b.events[0].data.len;
        uint8_t *copy = tb_arena_alloc(f.arena, n, 1);
        memcpy(copy, f.b.events[0].data.as.bytes, n);
        assert_int_equal(cf_decode(&f), TB_OK); /* a raw event: encode set TB_EF_RAW */
        assert_string_equal(cf_text(&f, &f.b.events[0].data), want);
        assert_int_equal(cf_encode(&f), TB_OK);
        assert_bytes(&f.b.events[0], copy, n);
    }
    /* float32 widens to float64 */
    cf_begin(&f);
    cf_raw(&f, B(0xca, 0x3f, 0xc0, 0x00, 0x00));
    assert_int_equal(cf_decode(&f), TB_OK);
    assert_int_equal(cf_encode(&f), TB_OK);
    assert_bytes(&f.b.events[0], B(0xcb, 0x3f, 0xf8, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00));
    cf_stop(&f);
}

/* Every proper prefix of a valid document fails cleanly (no read past the input). */
static void test_prefixes(void **state) {
    cf_fix f;
    size_t n;
    uint8_t *doc;
    (void)state;
    cf_start(&f, "msgpack", NULL);
    cf_begin(&f);
    cf_value(&f, "{\"a\":[1,300,70000,5000000000,-1,-300,-70000,-5000000000,1.5,null,true],"
                 "\"bb\":{\"c\":\"h\u00e9llo\"},\"d\":[[],{}]}");
    assert_int_equal(cf_encode(&f), TB_OK);
    n = f.b.events[0].data.len;
    doc = malloc(n);
    assert_non_null(doc);
    memcpy(doc, f.b.events[0].data.as.bytes, n);
    for (size_t k = 0; k < n; k++) {
        cf_begin(&f);
        cf_raw(&f, doc, k);
        assert_int_equal(cf_decode(&f), TB_OK);
        assert_true(f.b.events[0].flags & TB_EF_ERROR);
    }
    free(doc);
    cf_stop(&f);
}

static void test_depth(void **state) {
    cf_fix f;
    uint8_t buf[600];
    static uint8_t mbuf[1027];
    tb_event *e;
    tb_value *v;
    (void)state;
    cf_start(&f, "msgpack", NULL);
    /* 512 nested arrays decode, 513 do not */
    memset(buf, 0x91, sizeof buf);
    buf[512] = 0x01;
    assert_int_equal(dec(&f, buf, 513)->type, TB_ARRAY);
    buf[512] = 0x91;
    buf[513] = 0x01;
    dec_err(&f, buf, 514, "msgpack codec: nesting deeper than 512 levels at byte 512");
    /* maps too: {"":{"":...}} with the 513th map at byte 1024 */
    for (size_t k = 0; k < 513; k++) {
        mbuf[2 * k] = 0x81;
        mbuf[2 * k + 1] = 0xa0;
    }
    mbuf[1026] = 0x01;
    dec_err(&f, mbuf, 1027, "msgpack codec: nesting deeper than 512 levels at byte 1024");
    /* encode: 512 levels are fine, 513 fail */
    for (int depth = 512; depth <= 513; depth++) {
        cf_begin(&f);
        e = tb_batch_push(&f.b);
        v = &e->data;
        for (int k = 0; k < depth; k++) {
            *v = tb_array();
            v = tb_array_push(f.arena, v);
            assert_non_null(v);
        }
        *v = tb_i64(1);
        assert_int_equal(cf_encode(&f), TB_OK);
        if (depth == 512) {
            assert_int_equal(f.b.events[0].data.len, 513);
        } else {
            cf_assert_failed(&f, 0, "msgpack codec: value nested deeper than 512 levels");
        }
    }
    cf_stop(&f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scalars),
        cmocka_unit_test(test_structures),
        cmocka_unit_test(test_zero_copy),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_not_raw_and_not_bytes),
        cmocka_unit_test(test_encode),
        cmocka_unit_test(test_encode_lengths),
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_prefixes),
        cmocka_unit_test(test_depth),
    };
    return cmocka_run_group_tests(tests, cf_group_setup, cf_group_teardown);
}
