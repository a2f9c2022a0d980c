/* test_stdlib_scalars.c - std::math, std::type, std::json, std::base64, std::integer,
 * std::float, std::binary and std::random (math.c ... random.c). */
#include "stdlib_test.h"

/* ---- math ------------------------------------------------------------------------------ */

static void test_math_rounding(void **state) {
    fx *f = *state;
    OK(f, "math::floor", "[42]", "42");
    OK(f, "math::floor", "[42.9]", "42");
    OK(f, "math::floor", "[-42.1]", "-43");
    OK(f, "math::ceil", "[42]", "42");
    OK(f, "math::ceil", "[41.1]", "42");
    OK(f, "math::ceil", "[-41.9]", "-41");
    OK(f, "math::round", "[42]", "42");
    OK(f, "math::round", "[41.4]", "41");
    OK(f, "math::round", "[41.5]", "42");
    OK(f, "math::round", "[-41.5]", "-42"); /* halves away from zero */
    OK(f, "math::trunc", "[42.9]", "42");
    OK(f, "math::trunc", "[-42.9]", "-42");
    OK(f, "math::trunc", "[-0.5]", "0");
    OK(f, "math::floor", "[18446744073709551615]", "18446744073709551615");
    /* saturation, as Rust's `as` */
    OK(f, "math::floor", "[1e300]", "18446744073709551615");
    OK(f, "math::floor", "[-1e300]", "-9223372036854775808");
    OK(f, "math::round", "[1e19]", "10000000000000000000");
    tb_value nan = tb_f64(NAN), inf = tb_f64(INFINITY), zero = J(f, "0"),
             max = J(f, "18446744073709551615");
    OK_V(f, "math::floor", &nan, 1, &zero);
    OK_V(f, "math::ceil", &inf, 1, &max);
    ERR(f, "math::floor", "[\"1\"]", "math::floor: expected a number, found string");
    ERR(f, "math::ceil", "[null]", "math::ceil: expected a number, found null");
    ERR(f, "math::round", "[[]]", "math::round: expected a number, found array");
    ERR(f, "math::trunc", "[true]", "math::trunc: expected a number, found bool");
}

static void test_math_max_min(void **state) {
    fx *f = *state;
    OK(f, "math::max", "[41, 42]", "42");
    OK(f, "math::max", "[41.5, 42]", "42.0"); /* a float on either side: a float */
    OK(f, "math::max", "[-1, -2]", "-1");
    OK(f, "math::max", "[18446744073709551615, 1]", "18446744073709551615");
    OK(f, "math::max", "[-1, 18446744073709551615]", "1.8446744073709552e19");
    OK(f, "math::min", "[42, 43]", "42");
    OK(f, "math::min", "[42, 42.5]", "42.0");
    OK(f, "math::min", "[-5, 3]", "-5");
    OK(f, "math::min", "[1.5, -2.5]", "-2.5");
    ERR(f, "math::max", "[\"a\", 1]",
        "math::max: expected a number as argument 1 (n1), found string");
    ERR(f, "math::min", "[1, null]", "math::min: expected a number as argument 2 (n2), found null");
}

/* ---- type ------------------------------------------------------------------------------ */

static void test_type(void **state) {
    fx *f = *state;
    OK(f, "type::as_string", "[null]", "\"null\"");
    OK(f, "type::as_string", "[true]", "\"bool\"");
    OK(f, "type::as_string", "[42]", "\"integer\"");
    OK(f, "type::as_string", "[18446744073709551615]", "\"integer\"");
    OK(f, "type::as_string", "[42.0]", "\"float\"");
    OK(f, "type::as_string", "[\"this is a test\"]", "\"string\"");
    OK(f, "type::as_string", "[[]]", "\"array\"");
    OK(f, "type::as_string", "[{}]", "\"record\"");
    tb_value b = BYTES("x"), bs = STR("bytes");
    OK_V(f, "type::as_string", &b, 1, &bs);
    struct {
        const char *fn, *yes, *no;
    } cases[] = {
        {"type::is_null", "null", "0"},
        {"type::is_bool", "false", "null"},
        {"type::is_integer", "-3", "3.0"},
        {"type::is_float", "3.0", "3"},
        {"type::is_number", "3.5", "\"3\""},
        {"type::is_string", "\"\"", "[]"},
        {"type::is_array", "[]", "{}"},
        {"type::is_record", "{}", "[]"},
    };
    char args[64];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(args, sizeof args, "[%s]", cases[i].yes);
        OK(f, cases[i].fn, args, "true");
        snprintf(args, sizeof args, "[%s]", cases[i].no);
        OK(f, cases[i].fn, args, "false");
    }
    OK(f, "type::is_integer", "[18446744073709551615]", "true");
    OK(f, "type::is_number", "[1]", "true");
    tb_value t = tb_bool(true), fl = tb_bool(false), s = STR("x");
    OK_V(f, "type::is_binary", &b, 1, &t);
    OK_V(f, "type::is_binary", &s, 1, &fl);
}

/* ---- json ------------------------------------------------------------------------------ */

static void test_json_decode(void **state) {
    fx *f = *state;
    OK(f, "json::decode", "[\"[\\\"this\\\",\\\"is\\\",\\\"a\\\",\\\"cake\\\"]\"]",
       "[\"this\", \"is\", \"a\", \"cake\"]");
    OK(f, "json::decode", "[\"{\\\"a\\\": [1, 2.5, null, true]}\"]", "{\"a\": [1, 2.5, null, true]}");
    OK(f, "json::decode", "[\"  42 \"]", "42");
    OK(f, "json::decode", "[\"\\\"\\\\u00e9\\\"\"]", "\"\\u00e9\"");
    ERR(f, "json::decode", "[\"[1,\"]", "json::decode: line 1, column 4: expected a value, found end of input");
    ERR(f, "json::decode", "[\"\"]", "json::decode: line 1, column 1: expected a value, found end of input");
    ERR(f, "json::decode", "[1]", "json::decode: expected a string, found int");
}

static void test_json_encode(void **state) {
    fx *f = *state;
    OK(f, "json::encode", "[[\"this\", \"is\", \"a\", \"cake\"]]",
       "\"[\\\"this\\\",\\\"is\\\",\\\"a\\\",\\\"cake\\\"]\"");
    OK(f, "json::encode", "[{\"a\": 1, \"b\": [true, null], \"c\": {}}]",
       "\"{\\\"a\\\":1,\\\"b\\\":[true,null],\\\"c\\\":{}}\"");
    OK(f, "json::encode", "[\"a\\\"b\\\\c\\n\\u0001\\u00e9\"]",
       "\"\\\"a\\\\\\\"b\\\\\\\\c\\\\n\\\\u0001\\u00e9\\\"\"");
    /* floats as Rust writes them: shortest round trip, ".0" when integral */
    OK(f, "json::encode", "[[1.0, 0.1, 1.5e300, 1e-7, 123456.0, -0.0, 1e16, 0.00001]]",
       "\"[1.0,0.1,1.5e300,1e-7,123456.0,-0.0,1e16,0.00001]\"");
    OK(f, "json::encode", "[[18446744073709551615, -9223372036854775808]]",
       "\"[18446744073709551615,-9223372036854775808]\"");
    tb_value nan = tb_f64(NAN), null_text = STR("null");
    OK_V(f, "json::encode", &nan, 1, &null_text);
    tb_value b = BYTES("\x01\xff"), bt = STR("[1,255]");
    OK_V(f, "json::encode", &b, 1, &bt);
    /* a repeated key is written once, with its last value */
    OK(f, "json::encode", "[{\"a\": 1, \"a\": 2}]", "\"{\\\"a\\\":2}\"");
}

static void test_json_encode_pretty(void **state) {
    fx *f = *state;
    OK(f, "json::encode_pretty", "[[\"this\", \"is\", \"a\", \"cake\"]]",
       "\"[\\n  \\\"this\\\",\\n  \\\"is\\\",\\n  \\\"a\\\",\\n  \\\"cake\\\"\\n]\"");
    OK(f, "json::encode_pretty", "[{\"a\": [], \"b\": {\"c\": 1}}]",
       "\"{\\n  \\\"a\\\": [],\\n  \\\"b\\\": {\\n    \\\"c\\\": 1\\n  }\\n}\"");
    OK(f, "json::encode_pretty", "[1]", "\"1\"");
    OK(f, "json::encode_pretty", "[{}]", "\"{}\"");
}

static void test_json_too_deep(void **state) {
    fx *f = *state;
    /* a value nested deeper than the encoder goes (built by hand: the parser stops at 512) */
    tb_value v = tb_null();
    for (int i = 0; i < 1100; i++) {
        tb_value a = tb_array();
        *tb_array_push(f->arena, &a) = v;
        v = a;
    }
    tb_value out;
    assert_int_equal(call_n(f, "json::encode", &v, 1, &out), TB_EINVAL);
    assert_string_equal(f->err, "json::encode: value nested deeper than 1024 levels");
    assert_int_equal(call_n(f, "array::flatten", &v, 1, &out), TB_EINVAL);
    assert_string_equal(f->err, "array::flatten: value nested deeper than 1024 levels");
    tb_value pushed[2] = {v, tb_null()};
    assert_int_equal(call_n(f, "array::push", pushed, 2, &out), TB_EINVAL);
    assert_string_equal(f->err, "array::push: value nested deeper than 1024 levels");
}

/* ---- base64 ---------------------------------------------------------------------------- */

static void test_base64(void **state) {
    fx *f = *state;
    tb_value snot = BYTES("snot"), enc = STR("c25vdA==");
    OK_V(f, "base64::encode", &snot, 1, &enc);
    OK_V(f, "base64::decode", &enc, 1, &snot);
    struct {
        const char *raw, *b64;
    } rfc[] = {{"", ""},          {"f", "Zg=="},        {"fo", "Zm8="},        {"foo", "Zm9v"},
               {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"}};
    for (size_t i = 0; i < sizeof rfc / sizeof rfc[0]; i++) {
        tb_value raw = tb_bytes(rfc[i].raw, strlen(rfc[i].raw)), b64 = tb_stringz(rfc[i].b64);
        OK_V(f, "base64::encode", &raw, 1, &b64);
        OK_V(f, "base64::decode", &b64, 1, &raw);
    }
    tb_value all = BYTES("\x00\xff\xfe\x80"), all64 = STR("AP/+gA==");
    OK_V(f, "base64::encode", &all, 1, &all64);
    OK_V(f, "base64::decode", &all64, 1, &all);
    /* strings are encoded as their bytes; padding may be left out when decoding */
    OK(f, "base64::encode", "[\"snot\"]", "\"c25vdA==\"");
    tb_value nopad = STR("c25vdA");
    OK_V(f, "base64::decode", &nopad, 1, &snot);
    ERR(f, "base64::decode", "[\"c25vd\"]", "base64::decode: invalid base64 length 5");
    ERR(f, "base64::decode", "[\"c2 5vdA=\"]", "base64::decode: invalid base64 byte at offset 2");
    ERR(f, "base64::decode", "[\"c25vdA=a\"]", "base64::decode: invalid base64 byte at offset 6");
    ERR(f, "base64::decode", "[\"c25vdB==\"]", "base64::decode: invalid trailing bits at offset 5");
    ERR(f, "base64::decode", "[\"_-==\"]", "base64::decode: invalid base64 byte at offset 0");
    ERR(f, "base64::encode", "[1]", "base64::encode: expected binary, found int");
    ERR(f, "base64::decode", "[[]]", "base64::decode: expected a string, found array");
}

/* ---- integer and float ----------------------------------------------------------------- */

static void test_integer_parse(void **state) {
    fx *f = *state;
    OK(f, "integer::parse", "[\"42\"]", "42");
    OK(f, "integer::parse", "[\"-42\"]", "-42");
    OK(f, "integer::parse", "[\"+7\"]", "7");
    OK(f, "integer::parse", "[\"0000\"]", "0");
    OK(f, "integer::parse", "[\"9223372036854775807\"]", "9223372036854775807");
    OK(f, "integer::parse", "[\"-9223372036854775808\"]", "-9223372036854775808");
    ERR(f, "integer::parse", "[\"\"]", "integer::parse: cannot parse integer from empty string");
    ERR(f, "integer::parse", "[\"-\"]", "integer::parse: invalid digit found in string");
    ERR(f, "integer::parse", "[\" 1\"]", "integer::parse: invalid digit found in string");
    ERR(f, "integer::parse", "[\"1.0\"]", "integer::parse: invalid digit found in string");
    ERR(f, "integer::parse", "[\"0x10\"]", "integer::parse: invalid digit found in string");
    ERR(f, "integer::parse", "[\"9223372036854775808\"]",
        "integer::parse: number too large to fit in target type");
    ERR(f, "integer::parse", "[\"-9223372036854775809\"]",
        "integer::parse: number too small to fit in target type");
    ERR(f, "integer::parse", "[\"99999999999999999999x\"]",
        "integer::parse: number too large to fit in target type");
    ERR(f, "integer::parse", "[42]", "integer::parse: expected a string, found int");
}

static void test_float_parse(void **state) {
    fx *f = *state;
    OK(f, "float::parse", "[\"42.314\"]", "42.314");
    OK(f, "float::parse", "[\"42\"]", "42.0");
    OK(f, "float::parse", "[\"-1e3\"]", "-1000.0");
    OK(f, "float::parse", "[\".5\"]", "0.5");
    OK(f, "float::parse", "[\"5.\"]", "5.0");
    OK(f, "float::parse", "[\"+2.5E-1\"]", "0.25");
    tb_value inf = STR("-Infinity"), ninf = tb_f64(-INFINITY), nan = STR("NaN"), fnan = tb_f64(NAN);
    OK_V(f, "float::parse", &inf, 1, &ninf);
    OK_V(f, "float::parse", &nan, 1, &fnan);
    ERR(f, "float::parse", "[\"\"]", "float::parse: cannot parse float from empty string");
    ERR(f, "float::parse", "[\" 1\"]", "float::parse: invalid float literal");
    ERR(f, "float::parse", "[\"0x1p3\"]", "float::parse: invalid float literal");
    ERR(f, "float::parse", "[\"1e\"]", "float::parse: invalid float literal");
    ERR(f, "float::parse", "[\".\"]", "float::parse: invalid float literal");
    ERR(f, "float::parse", "[\"infinit\"]", "float::parse: invalid float literal");
    ERR(f, "float::parse", "[1.0]", "float::parse: expected a string, found float");
}

static void test_float_classify(void **state) {
    fx *f = *state;
    tb_value nan = tb_f64(NAN), inf = tb_f64(INFINITY), seven = tb_i64(7), x = tb_f64(4.2);
    tb_value t = tb_bool(true), fl = tb_bool(false);
    OK_V(f, "float::is_finite", &nan, 1, &fl);
    OK_V(f, "float::is_finite", &inf, 1, &fl);
    OK_V(f, "float::is_finite", &seven, 1, &t);
    OK_V(f, "float::is_finite", &x, 1, &t);
    OK_V(f, "float::is_nan", &nan, 1, &t);
    OK_V(f, "float::is_nan", &inf, 1, &fl);
    OK_V(f, "float::is_nan", &seven, 1, &fl);
    OK_V(f, "float::is_infinite", &inf, 1, &t);
    OK_V(f, "float::is_infinite", &nan, 1, &fl);
    OK_V(f, "float::is_infinite", &x, 1, &fl);
    ERR(f, "float::is_nan", "[\"NaN\"]", "float::is_nan: expected a number, found string");
}

/* ---- binary ----------------------------------------------------------------------------- */

static void test_binary(void **state) {
    fx *f = *state;
    tb_value snot = BYTES("snot"), empty = BYTES("");
    tb_value four = tb_i64(4), zero = tb_i64(0);
    OK_V(f, "binary::len", &snot, 1, &four);
    OK_V(f, "binary::len", &empty, 1, &zero);
    tb_value arr = J(f, "[115, 110, 111, 116]");
    OK_V(f, "binary::from_bytes", &arr, 1, &snot);
    OK_V(f, "binary::into_bytes", &snot, 1, &arr);
    tb_value none = J(f, "[]");
    OK_V(f, "binary::from_bytes", &none, 1, &empty);
    OK_V(f, "binary::into_bytes", &empty, 1, &none);
    tb_value edge = J(f, "[0, 255]"), edge_b = BYTES("\x00\xff");
    OK_V(f, "binary::from_bytes", &edge, 1, &edge_b);
    ERR(f, "binary::from_bytes", "[[1, 256]]",
        "binary::from_bytes: array contains non bytes: element 1 is not an integer from 0 to 255");
    ERR(f, "binary::from_bytes", "[[-1]]",
        "binary::from_bytes: array contains non bytes: element 0 is not an integer from 0 to 255");
    ERR(f, "binary::from_bytes", "[[1.0]]",
        "binary::from_bytes: array contains non bytes: element 0 is not an integer from 0 to 255");
    ERR(f, "binary::len", "[\"snot\"]", "binary::len: expected binary, found string");
    ERR(f, "binary::into_bytes", "[[]]", "binary::into_bytes: expected binary, found array");
    ERR(f, "binary::from_bytes", "[\"x\"]", "binary::from_bytes: expected an array, found string");
}

/* ---- random ----------------------------------------------------------------------------- */

static void test_random_bool_and_string(void **state) {
    fx *f = *state;
    tb_value out;
    int trues = 0;
    for (int i = 0; i < 1000; i++) {
        assert_int_equal(call_n(f, "random::bool", NULL, 0, &out), TB_OK);
        assert_int_equal(out.type, TB_BOOL);
        trues += out.as.b;
    }
    assert_in_range(trues, 400, 600);
    OK(f, "random::string", "[0]", "\"\"");
    tb_value n = tb_i64(4096);
    assert_int_equal(call_n(f, "random::string", &n, 1, &out), TB_OK);
    assert_int_equal(out.type, TB_STRING);
    assert_int_equal(out.len, 4096);
    bool seen[128] = {false};
    for (uint32_t i = 0; i < out.len; i++) {
        char c = out.as.s[i];
        assert_true((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'));
        seen[(unsigned char)c] = true;
    }
    int distinct = 0;
    for (int i = 0; i < 128; i++) distinct += seen[i];
    assert_int_equal(distinct, 62);
    ERR(f, "random::string", "[-1]",
        "random::string: expected a non-negative integer, found int");
    ERR(f, "random::string", "[\"1\"]",
        "random::string: expected a non-negative integer, found string");
    ERR(f, "random::string", "[1000000000000]",
        "random::string: the result would be larger than 268435456 bytes");
}

static void test_random_integer(void **state) {
    fx *f = *state;
    OK(f, "random::integer", "[0, 1]", "0");
    OK(f, "random::integer", "[-42, -41]", "-42");
    OK(f, "random::integer", "[42, 43]", "42");
    OK(f, "random::integer", "[1]", "0");
    tb_value out, args[2];
    int counts[3] = {0, 0, 0};
    for (int i = 0; i < 3000; i++) {
        args[0] = tb_i64(-1);
        args[1] = tb_i64(2);
        assert_int_equal(call_n(f, "random::integer", args, 2, &out), TB_OK);
        assert_int_equal(out.type, TB_I64);
        assert_in_range(out.as.i + 1, 0, 2);
        counts[out.as.i + 1]++;
    }
    for (int i = 0; i < 3; i++) assert_in_range(counts[i], 850, 1150);
    /* the whole int64 range, and a single bound above INT64_MAX */
    args[0] = tb_i64(INT64_MIN);
    args[1] = tb_i64(INT64_MAX);
    assert_int_equal(call_n(f, "random::integer", args, 2, &out), TB_OK);
    assert_int_equal(out.type, TB_I64);
    args[0] = tb_u64(UINT64_MAX);
    for (int i = 0; i < 100; i++) {
        assert_int_equal(call_n(f, "random::integer", args, 1, &out), TB_OK);
        assert_true(out.type == TB_I64 || (out.type == TB_U64 && out.as.u > (uint64_t)INT64_MAX));
    }
    assert_int_equal(call_n(f, "random::integer", NULL, 0, &out), TB_OK);
    assert_int_equal(out.type, TB_I64);
    ERR(f, "random::integer", "[0]",
        "random::integer: Invalid arguments. Single argument value must be > 0.");
    ERR(f, "random::integer", "[-3]",
        "random::integer: expected a non-negative integer, found int");
    ERR(f, "random::integer", "[5, 5]",
        "random::integer: Invalid arguments. First argument must be lower than second argument");
    ERR(f, "random::integer", "[1.5, 5]",
        "random::integer: expected an integer as argument 1 (low), found float");
    ERR(f, "random::integer", "[1, 18446744073709551615]",
        "random::integer: expected an integer as argument 2 (high), found uint");
}

static void test_random_float(void **state) {
    fx *f = *state;
    tb_value out, args[2];
    for (int i = 0; i < 1000; i++) {
        assert_int_equal(call_n(f, "random::float", NULL, 0, &out), TB_OK);
        assert_true(out.type == TB_F64 && out.as.f >= 0.0 && out.as.f < 1.0);
        args[0] = tb_f64(-3.0);
        args[1] = tb_i64(-2);
        assert_int_equal(call_n(f, "random::float", args, 2, &out), TB_OK);
        assert_true(out.as.f >= -3.0 && out.as.f < -2.0);
        args[0] = tb_f64(100.0);
        assert_int_equal(call_n(f, "random::float", args, 1, &out), TB_OK);
        assert_true(out.as.f >= 0.0 && out.as.f < 100.0);
        args[0] = tb_f64(-1.7e308); /* a span beyond the largest double */
        args[1] = tb_f64(1.7e308);
        assert_int_equal(call_n(f, "random::float", args, 2, &out), TB_OK);
        assert_true(isfinite(out.as.f) && out.as.f < 1.7e308);
    }
    ERR(f, "random::float", "[0.0]",
        "random::float: Invalid arguments. Single argument value must be > 0.0 and finite.");
    ERR(f, "random::float", "[2, 1]",
        "random::float: Invalid arguments. First argument must be lower than second argument");
    ERR(f, "random::float", "[null]", "random::float: expected a number, found null");
    args[0] = tb_f64(0);
    args[1] = tb_f64(INFINITY);
    ERR_V(f, "random::float", args, 2,
          "random::float: Invalid arguments. Both bounds must be finite.");
}

static void test_random_is_reproducible(void **state) {
    fx *f = *state;
    tb_value n = tb_i64(32), a, b;
    f->rng = 12345;
    assert_int_equal(call_n(f, "random::string", &n, 1, &a), TB_OK);
    f->rng = 12345;
    assert_int_equal(call_n(f, "random::string", &n, 1, &b), TB_OK);
    assert_true(same_value(&a, &b));
    assert_true(f->rng != 12345 && f->rng != 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        FX_TEST(test_math_rounding),
        FX_TEST(test_math_max_min),
        FX_TEST(test_type),
        FX_TEST(test_json_decode),
        FX_TEST(test_json_encode),
        FX_TEST(test_json_encode_pretty),
        FX_TEST(test_json_too_deep),
        FX_TEST(test_base64),
        FX_TEST(test_integer_parse),
        FX_TEST(test_float_parse),
        FX_TEST(test_float_classify),
        FX_TEST(test_binary),
        FX_TEST(test_random_bool_and_string),
        FX_TEST(test_random_integer),
        FX_TEST(test_random_float),
        FX_TEST(test_random_is_reproducible),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
