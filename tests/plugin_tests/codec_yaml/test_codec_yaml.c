/*
 * test_codec_yaml.c - the `yaml` codec plugin (plugins/codec/yaml), loaded from the build's
 * plugins directory and driven through its vtable: core-schema scalar typing, collections,
 * exact encoded text, round trips and errors with their exact messages.
 *
 * Thread contract: single-threaded. Ownership: each test owns its fixture (codec_fix.h).
 */
#include "codec_fix.h"

#include <math.h>

static const tb_value *dec1(cf_fix *f, const char *text) {
    cf_begin(f);
    cf_raws(f, text);
    assert_int_equal(cf_decode(f), TB_OK);
    if (f->b.events[0].flags & (TB_EF_ERROR | TB_EF_RAW))
        fail_msg("%s did not decode: %s", text, cf_text(f, &f->b.events[0].data));
    return &f->b.events[0].data;
}

static void check_json(const char *yaml, const char *json) {
    cf_fix f;
    cf_start(&f, "yaml", NULL);
    const tb_value *v = dec1(&f, yaml);
    const char *got = cf_text(&f, v);
    if (strcmp(got, json) != 0) fail_msg("%s: expected %s got %s", yaml, json, got);
    cf_stop(&f);
}

static void test_scalars(void **state) {
    (void)state;
    check_json("42", "42");
    check_json("-17", "-17");
    check_json("0x1F", "31");
    check_json("0o17", "15");
    check_json("18446744073709551615", "18446744073709551615");
    check_json("1.5", "1.5");
    check_json("1e3", "1000.0");
    check_json("~", "null");
    check_json("null", "null");
    check_json("", "null");
    check_json("True", "true");
    check_json("FALSE", "false");
    check_json("'42'", "\"42\"");
    check_json("\"true\"", "\"true\"");
    check_json("!!str 12", "\"12\"");
    check_json("hello world", "\"hello world\"");
    check_json("yes", "\"yes\""); /* YAML 1.2: not a bool */
    cf_fix f;
    cf_start(&f, "yaml", NULL);
    const tb_value *v = dec1(&f, ".inf");
    assert_true(v->type == TB_F64 && isinf(v->as.f) && v->as.f > 0);
    v = dec1(&f, "-.Inf");
    assert_true(v->type == TB_F64 && isinf(v->as.f) && v->as.f < 0);
    v = dec1(&f, ".nan");
    assert_true(v->type == TB_F64 && isnan(v->as.f));
    cf_stop(&f);
}

static void test_structures(void **state) {
    (void)state;
    check_json("a: 1\nb: [x, 2.5, null]\nc:\n  d: true\n",
               "{\"a\":1,\"b\":[\"x\",2.5,null],\"c\":{\"d\":true}}");
    check_json("- 1\n- - 2\n  - 3\n- {}\n- []\n", "[1,[2,3],{},[]]");
    check_json("---\nkey: |\n  line1\n  line2\n", "{\"key\":\"line1\\nline2\\n\"}");
    check_json("{\"snot\": \"badger\"}", "{\"snot\":\"badger\"}");
}

static void check_encode(const char *json, const char *yaml) {
    cf_fix f;
    cf_start(&f, "yaml", NULL);
    cf_begin(&f);
    cf_value(&f, json);
    assert_int_equal(cf_encode(&f), TB_OK);
    const char *got = cf_bytes_text(&f, &f.b.events[0]);
    if (strcmp(got, yaml) != 0) fail_msg("%s: expected\n%s\ngot\n%s", json, yaml, got);
    /* and back */
    f.b.events[0].flags = TB_EF_RAW;
    assert_int_equal(cf_decode(&f), TB_OK);
    assert_false(f.b.events[0].flags & TB_EF_ERROR);
    cf_stop(&f);
}

static void test_encode(void **state) {
    (void)state;
    check_encode("{\"snot\":\"badger\"}", "snot: badger\n");
    check_encode("{\"a\":1,\"b\":[1,2.5,null,true],\"c\":\"42\",\"d\":\"\"}",
                 "a: 1\nb:\n- 1\n- 2.5\n- null\n- true\nc: '42'\nd: ''\n");
    check_encode("[]", "[]\n");
    check_encode("{}", "{}\n");
    check_encode("1.0", "1.0\n");
    check_encode("\"line1\\nline2\"", "\"line1\\nline2\"\n");
}

static void test_roundtrip(void **state) {
    (void)state;
    const char *docs[] = {
        "{\"a\":[1,-2,3.25,\"x y\",\"null\",\"0x10\"],\"b\":{\"c\":{\"d\":[[],{}]}},\"e\":false}",
        "[\"a: b\",\"- x\",\"#c\",\"' q\",\"\\\"\",\"é\"]",
    };
    for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++) {
        cf_fix f;
        cf_start(&f, "yaml", NULL);
        cf_begin(&f);
        cf_value(&f, docs[i]);
        const char *before = cf_text(&f, &f.b.events[0].data);
        assert_int_equal(cf_encode(&f), TB_OK);
        f.b.events[0].flags = TB_EF_RAW;
        assert_int_equal(cf_decode(&f), TB_OK);
        assert_false(f.b.events[0].flags & TB_EF_ERROR);
        assert_string_equal(cf_text(&f, &f.b.events[0].data), before);
        cf_stop(&f);
    }
}

static void test_errors(void **state) {
    cf_fix f;
    (void)state;
    cf_start(&f, "yaml", NULL);
    cf_begin(&f);
    cf_raws(&f, "a: [1, 2");
    cf_raws(&f, "ok: 1");
    cf_raws(&f, "a: &x 1\nb: *x\n");
    cf_raws(&f, "? [1]\n: 2\n");
    cf_raws(&f, "a: b: c");
    assert_int_equal(cf_decode(&f), TB_OK);
    cf_assert_failed(&f, 0, "yaml codec: did not find expected ',' or ']' at line 2 column 1");
    assert_false(f.b.events[1].flags & TB_EF_ERROR);
    cf_assert_failed(&f, 2, "yaml codec: aliases are not supported at line 2 column 4");
    cf_assert_failed(&f, 3, "yaml codec: mapping keys must be scalars at line 1 column 3");
    cf_assert_failed(&f, 4, "yaml codec: mapping values are not allowed in this context at line 1 column 5");
    cf_stop(&f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scalars),
        cmocka_unit_test(test_structures),
        cmocka_unit_test(test_encode),
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, cf_group_setup, cf_group_teardown);
}
