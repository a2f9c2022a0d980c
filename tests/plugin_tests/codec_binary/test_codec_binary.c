/*
 * test_codec_binary.c - the `binary` codec plugin (plugins/codec/binary), loaded from the
 * build's plugins directory and driven through its vtable: zero-copy decode, encode of bytes
 * and strings as they are, other values as JSON (Tremor's behaviour), failures to err.
 *
 * Thread contract: single-threaded. Ownership: each test owns its fixture (codec_fix.h).
 */
#include "codec_fix.h"

static void test_decode_zero_copy(void **state) {
    cf_fix f;
    static const uint8_t raw[] = {0x00, 0xff, 0x80, 'a', '\n', 0xc0};
    const uint8_t *in;
    (void)state;
    cf_start(&f, "binary", NULL);
    cf_begin(&f);
    in = cf_raw(&f, raw, sizeof raw);
    cf_raw(&f, "", 0);
    cf_value(&f, "{\"not\":\"raw\"}");
    assert_int_equal(cf_decode(&f), TB_OK);
    /* the same pointer and length, now a bytes value that is not raw */
    assert_int_equal(f.b.events[0].data.type, TB_BYTES);
    assert_ptr_equal(f.b.events[0].data.as.bytes, in);
    assert_int_equal(f.b.events[0].data.len, sizeof raw);
    assert_int_equal(f.b.events[0].flags, 0);
    assert_int_equal(f.b.events[1].data.type, TB_BYTES);
    assert_int_equal(f.b.events[1].data.len, 0);
    assert_int_equal(f.b.events[1].flags, 0);
    /* structured events are left alone */
    assert_string_equal(cf_text(&f, &f.b.events[2].data), "{\"not\":\"raw\"}");
    cf_stop(&f);
}

static void test_decode_not_bytes(void **state) {
    cf_fix f;
    tb_event *e;
    (void)state;
    cf_start(&f, "binary", NULL);
    cf_begin(&f);
    e = cf_value(&f, "\"text\"");
    e->flags = TB_EF_RAW;
    cf_raws(&f, "after");
    assert_int_equal(cf_decode(&f), TB_OK);
    cf_assert_failed(&f, 0, "binary codec: raw event data is not bytes");
    assert_int_equal(f.b.events[1].flags, 0);
    cf_stop(&f);
}

static void test_encode(void **state) {
    cf_fix f;
    static const uint8_t raw[] = {1, 2, 3, 0};
    const char *text = "snot badger";
    (void)state;
    cf_start(&f, "binary", NULL);
    cf_begin(&f);
    tb_batch_push(&f.b)->data = tb_bytes(raw, sizeof raw);
    tb_batch_push(&f.b)->data = tb_string(text, strlen(text));
    cf_value(&f, "{\"a\":[1,2.5,null]}");
    cf_value(&f, "42");
    cf_raws(&f, "already raw");
    assert_int_equal(cf_encode(&f), TB_OK);
    /* bytes and strings as they are, zero copy */
    assert_true(f.b.events[0].flags & TB_EF_RAW);
    assert_ptr_equal(f.b.events[0].data.as.bytes, raw);
    assert_int_equal(f.b.events[0].data.len, sizeof raw);
    assert_ptr_equal(f.b.events[1].data.as.bytes, (const uint8_t *)text);
    assert_string_equal(cf_bytes_text(&f, &f.b.events[1]), "snot badger");
    /* anything else as JSON, as Tremor's binary codec does */
    assert_string_equal(cf_bytes_text(&f, &f.b.events[2]), "{\"a\":[1,2.5,null]}");
    assert_string_equal(cf_bytes_text(&f, &f.b.events[3]), "42");
    assert_string_equal(cf_bytes_text(&f, &f.b.events[4]), "already raw");
    cf_stop(&f);
}

static void test_roundtrip(void **state) {
    cf_fix f;
    uint8_t raw[256];
    (void)state;
    for (int k = 0; k < 256; k++) raw[k] = (uint8_t)(255 - k);
    cf_start(&f, "binary", NULL);
    cf_begin(&f);
    cf_raw(&f, raw, sizeof raw);
    assert_int_equal(cf_decode(&f), TB_OK);
    assert_int_equal(cf_encode(&f), TB_OK);
    assert_true(f.b.events[0].flags & TB_EF_RAW);
    assert_int_equal(f.b.events[0].data.len, sizeof raw);
    assert_memory_equal(f.b.events[0].data.as.bytes, raw, sizeof raw);
    cf_stop(&f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode_zero_copy),
        cmocka_unit_test(test_decode_not_bytes),
        cmocka_unit_test(test_encode),
        cmocka_unit_test(test_roundtrip),
    };
    return cmocka_run_group_tests(tests, cf_group_setup, cf_group_teardown);
}
