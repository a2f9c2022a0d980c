/* test_stdlib_registry.c - the registry (src/lang/stdlib/registry.c): lookup, suggestions,
 * iteration, tbr_fn_error, tbr_fn_random; and a sweep calling every function with many
 * kinds of arguments, which must never crash (run it under ASan and UBSan). */
#include "stdlib_test.h"

static const tbr_fn *lookup(const char *module, const char *name) {
    return tbr_fn_lookup(module, strlen(module), name, strlen(name));
}

static void test_lookup(void **state) {
    (void)state;
    const tbr_fn *a = lookup("string", "len"), *b = lookup("std::string", "len");
    assert_non_null(a);
    assert_ptr_equal(a, b);
    assert_string_equal(a->module, "string");
    assert_string_equal(a->name, "len");
    assert_int_equal(a->min_args, 1);
    assert_int_equal(a->max_args, 1);
    assert_string_equal(a->signature, "string::len(input) -> int");
    assert_null(lookup("string", "nope"));
    assert_null(lookup("strings", "len"));
    assert_null(lookup("std::", "len"));
    assert_null(lookup("", ""));
    assert_null(lookup("std::std::string", "len"));
    assert_null(lookup("string", "le"));   /* no prefix matches */
    assert_null(lookup("string", "lenx"));
    /* the texts need not be terminated: a longer buffer, lengths given */
    const char *src = "std::record::keys(x)";
    const tbr_fn *k = tbr_fn_lookup(src, 11, src + 13, 4);
    assert_non_null(k);
    assert_string_equal(k->name, "keys");
    assert_non_null(lookup("path", "try_default"));
    assert_non_null(lookup("std::datetime", "with_timezone"));
    assert_null(tbr_fn_lookup(NULL, 0, "len", 3));
    /* a quoted identifier may hold NULs: "merge" then NULs is not merge, and nothing is read
     * past the table's string (the fuzzer found the read; ASan caught it) */
    static const char nuls[] = "merge\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0";
    assert_null(tbr_fn_lookup("record", 6, nuls, sizeof nuls - 1));
    assert_null(tbr_fn_lookup("record\0\0\0\0\0\0\0\0", 14, "merge", 5));
}

static void test_table_contents(void **state) {
    (void)state;
    size_t count = 0;
    for (const tbr_fn *f = tbr_fn_at(0); f; f = tbr_fn_at(++count)) {
        assert_non_null(f->module);
        assert_non_null(f->name);
        assert_non_null(f->fn);
        assert_non_null(f->signature);
        assert_non_null(f->doc);
        assert_true(f->min_args >= 0);
        assert_true(f->max_args == -1 || f->max_args >= f->min_args);
        /* the signature starts with module::name( */
        char head[96];
        snprintf(head, sizeof head, "%s::%s(", f->module, f->name);
        assert_true(strncmp(f->signature, head, strlen(head)) == 0);
        /* each name once, and lookup finds this very entry */
        assert_ptr_equal(lookup(f->module, f->name), f);
        /* only the random module has effects */
        bool random = strcmp(f->module, "random") == 0;
        assert_int_equal((f->flags & TBR_FN_PURE) != 0, !random);
    }
    assert_true(count > 90);
    assert_null(tbr_fn_at(count));
    assert_null(tbr_fn_at(count + 1000));
    assert_null(tbr_fn_at(SIZE_MAX));
    /* the modules in the fixed order */
    assert_string_equal(tbr_fn_at(0)->module, "string");
    assert_string_equal(tbr_fn_at(count - 1)->module, "time::nanos");
}

static void test_suggest(void **state) {
    (void)state;
    const tbr_fn *out[5];
    size_t n = tbr_fn_suggest("string", 6, "lenn", 4, out, 5);
    assert_int_equal(n, 1);
    assert_ptr_equal(out[0], lookup("string", "len"));
    n = tbr_fn_suggest("std::strng", 10, "len", 3, out, 5);
    assert_int_equal(n, 1);
    assert_ptr_equal(out[0], lookup("string", "len"));
    n = tbr_fn_suggest("record", 6, "merg", 4, out, 5);
    assert_int_equal(n, 1);
    assert_ptr_equal(out[0], lookup("record", "merge"));
    n = tbr_fn_suggest("arry", 4, "len", 3, out, 1);
    assert_int_equal(n, 1);
    assert_ptr_equal(out[0], lookup("array", "len"));
    n = tbr_fn_suggest("string", 6, "trim_en", 7, out, 3); /* ordered by distance */
    assert_int_equal(n, 2);
    assert_ptr_equal(out[0], lookup("string", "trim_end"));
    assert_ptr_equal(out[1], lookup("string", "trim"));
    /* a longer or shorter spelling of a name in the right module */
    n = tbr_fn_suggest("string", 6, "lenght", 6, out, 3);
    assert_int_equal(n, 1);
    assert_ptr_equal(out[0], lookup("string", "len"));
    n = tbr_fn_suggest("string", 6, "upper", 5, out, 3);
    assert_int_equal(n, 1);
    assert_ptr_equal(out[0], lookup("string", "uppercase"));
    /* two about as near: both, in registry order */
    n = tbr_fn_suggest("math", 4, "mix", 3, out, 3);
    assert_int_equal(n, 2);
    assert_ptr_equal(out[0], lookup("math", "max"));
    assert_ptr_equal(out[1], lookup("math", "min"));
    /* nothing close: no noise */
    assert_int_equal(tbr_fn_suggest("zzzzzzzz", 8, "qqqqqqqq", 8, out, 5), 0);
    assert_int_equal(tbr_fn_suggest("json", 4, "parse", 5, out, 5), 0);
    assert_int_equal(tbr_fn_suggest("string", 6, "len", 3, out, 0), 0);
    assert_int_equal(tbr_fn_suggest(NULL, 0, "len", 3, out, 5), 0);
    /* very long input does not overflow anything */
    char big[1000];
    memset(big, 'x', sizeof big);
    assert_int_equal(tbr_fn_suggest(big, sizeof big, big, sizeof big, out, 5), 0);
}

static void test_error_and_random(void **state) {
    (void)state;
    char buf[16];
    uint64_t rng = 0;
    tbr_fn_ctx cx = {NULL, buf, sizeof buf, &rng};
    assert_int_equal(tbr_fn_error(&cx, "%s: %d", "abc", 42), TB_EINVAL);
    assert_string_equal(buf, "abc: 42");
    assert_int_equal(tbr_fn_error(&cx, "%s", "a message longer than the buffer"), TB_EINVAL);
    assert_string_equal(buf, "a message longe"); /* truncated, terminated */
    tbr_fn_ctx none = {NULL, NULL, 0, &rng};
    assert_int_equal(tbr_fn_error(&none, "x"), TB_EINVAL);
    /* a zero state (against the contract) still gives numbers, and leaves zero */
    uint64_t a = tbr_fn_random(&cx), b = tbr_fn_random(&cx);
    assert_true(a != b && rng != 0);
    /* xorshift64* from seed 1: its first output is known */
    rng = 1;
    assert_true(tbr_fn_random(&cx) == 0x47E4CE4B896CDD1Du);
    assert_true(rng == 0x2000001u);
}

/* ---- the sweep ------------------------------------------------------------------------- */

static tb_value samples[40];
static size_t sample_count;

static void make_samples(fx *f) {
    static const char *const json[] = {
        "null", "true", "0", "-1", "42", "18446744073709551615", "-9223372036854775808",
        "1.5", "-2.7", "1e300", "\"\"", "\"abc\"", "\"\\u00e4\\u20ac\\ud834\\udd1e\"",
        "\"%Y-%m-%d %H:%M:%S%.f%:z\"", "\"{} {{ }}\"", "\"a,b\"", "\"(\\\\w)+|$1\"", "\"UTC\"",
        "\"+01:00\"", "\"2019-06-04\"", "[]", "[1, \"a\", null]", "[[1, 2], [3, 4]]",
        "[\"a\", [\"b\", 1]]", "{}", "{\"a\": 1, \"b\": [2]}", "{\"timestamp\": 1, \"tz\": \"UTC\"}",
        "{\"a\": \"b\", \"a\": 1}", "255", "3",
    };
    sample_count = 0;
    for (size_t i = 0; i < sizeof json / sizeof json[0]; i++) samples[sample_count++] = J(f, json[i]);
    samples[sample_count++] = tb_f64(NAN);
    samples[sample_count++] = tb_f64(-INFINITY);
    samples[sample_count++] = STR("\xff\xfe" "a\xe2\x99");
    samples[sample_count++] = tb_string(NULL, 0); /* empty values may have NULL pointers */
    samples[sample_count++] = tb_bytes(NULL, 0);
    samples[sample_count++] = BYTES("\x00\x01\xff");
    tb_value nullarr = tb_array(), nullobj = tb_object();
    samples[sample_count++] = nullarr;
    samples[sample_count++] = nullobj;
}

/* Calls fn with args; success must give a valid value, failure a message naming fn. */
static void sweep_call(fx *f, const tbr_fn *fn, const tb_value *args, uint32_t argc) {
    tb_value out;
    char prefix[64];
    snprintf(prefix, sizeof prefix, "%s::%s: ", fn->module, fn->name);
    f->err[0] = '\0';
    int rc = fn->fn(&f->cx, args, argc, &out);
    if (rc == TB_OK) {
        if (out.type > TB_OBJECT) fail_msg("%s returned a bad value", prefix);
    } else {
        if (rc != TB_EINVAL && rc != TB_ENOMEM) fail_msg("%s returned %d", prefix, rc);
        if (strncmp(f->err, prefix, strlen(prefix)) != 0)
            fail_msg("%s failed with a message not naming it: %s", prefix, f->err);
    }
    tbr_arena_reset(f->arena);
}

static void test_sweep_every_function(void **state) {
    fx *f = *state;
    /* the samples live in a separate arena: f->arena is reset after every call */
    tb_arena *keep = f->arena;
    make_samples(f);
    f->arena = f->cx.arena = tbr_arena_new(0);
    assert_non_null(f->arena);
    size_t calls = 0;
    for (size_t i = 0;; i++) {
        const tbr_fn *fn = tbr_fn_at(i);
        if (!fn) break;
        int lo = fn->min_args, hi = fn->max_args < 0 ? fn->min_args + 2 : fn->max_args;
        for (int argc = lo; argc <= hi; argc++) {
            size_t combos = 1;
            for (int k = 0; k < argc; k++) combos *= sample_count;
            for (size_t c = 0; c < combos; c++) {
                tb_value args[4];
                size_t x = c;
                for (int k = 0; k < argc; k++, x /= sample_count) args[k] = samples[x % sample_count];
                sweep_call(f, fn, args, (uint32_t)argc);
                calls++;
            }
        }
    }
    assert_true(calls > 100000);
    tbr_arena_free(f->arena);
    f->arena = f->cx.arena = keep;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lookup),
        cmocka_unit_test(test_table_contents),
        cmocka_unit_test(test_suggest),
        cmocka_unit_test(test_error_and_random),
        FX_TEST(test_sweep_every_function),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
