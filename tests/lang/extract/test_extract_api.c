/* test_extract_api.c - the extractor interface (src/lang/extract/extract.c): kind lookup
 * and its message, inputs of the wrong type for every kind, bare tests without a result,
 * and out-of-memory while building results. */
#include "extract_test.h"
#include "fixed_arena.h"

/* One working pattern and one matching input per kind. */
static const struct {
    const char *kind, *pattern, *input;
} samples[] = {
    {"re", "(?P<a>\\w+)", "word"},
    {"glob", "w*", "word"},
    {"json", "", "[1, {\"k\": \"v\"}]"},
    {"kv", "", "a:b c:d"},
    {"dissect", "%{a} %{b}", "x y"},
    {"cidr", "", "10.0.0.1"},
    {"grok", "%{WORD:w}", "word"},
};
#define NSAMPLES (sizeof samples / sizeof samples[0])

static void test_kind_names(void **state) {
    (void)state;
    size_t n = 0;
    while (tbr_extractor_kinds[n]) n++;
    assert_int_equal(n, NSAMPLES);
    for (size_t i = 0; i < n; i++) assert_string_equal(tbr_extractor_kinds[i], samples[i].kind);
}

static void test_unknown_kind(void **state) {
    (void)state;
    const char *want = "unknown extractor 'foo': expected one of re, glob, json, kv, dissect, cidr, grok";
    xt_error("foo", "", want);
    xt_error("", "x", "unknown extractor '': expected one of re, glob, json, kv, dissect, cidr, grok");
    xt_error("regex", "x", "unknown extractor 'regex': expected one of re, glob, json, kv, dissect, cidr, grok");
    /* Tremor has these, temblor not (yet) */
    xt_error("base64", "", "unknown extractor 'base64': expected one of re, glob, json, kv, dissect, cidr, grok");
    /* a kind is not NUL-terminated: only kind_len bytes count */
    char err[160];
    assert_null(tbr_extractor_new("rexx", 3, "", 0, err, sizeof err));
    assert_string_equal(err, "unknown extractor 'rex': expected one of re, glob, json, kv, dissect, cidr, grok");
    assert_null(tbr_extractor_new(NULL, 0, "", 0, err, sizeof err));
    assert_string_equal(err, "unknown extractor '': expected one of re, glob, json, kv, dissect, cidr, grok");
    /* long names are cut, and a short buffer gets a terminated prefix */
    char longname[200];
    memset(longname, 'z', sizeof longname);
    assert_null(tbr_extractor_new(longname, sizeof longname, "", 0, err, sizeof err));
    assert_non_null(strstr(err, "zzz...': expected one of"));
    char tiny[8];
    assert_null(tbr_extractor_new("foo", 3, "", 0, tiny, sizeof tiny));
    assert_string_equal(tiny, "unknown");
    assert_null(tbr_extractor_new("foo", 3, "", 0, NULL, 0));
}

/* Tremor lower-cases the kind. */
static void test_kind_case(void **state) {
    (void)state;
    xt_match("RE", "(?P<x>a)", "a", "{\"x\": \"a\"}");
    xt_match("Glob", "a*", "ab", "true");
    xt_match("JSON", "", "1", "1");
}

/* The pattern is (pointer, length): bytes past the length are not part of it, and a NULL
 * pattern is the empty one. */
static void test_pattern_length(void **state) {
    (void)state;
    char err[128];
    tbr_extractor *x = tbr_extractor_new("glob", 4, "ab*c(", 3, err, sizeof err);
    assert_non_null(x);
    xt_run_match(x, "abzzz", "true");
    tbr_extractor_free(x);
    x = tbr_extractor_new("kv", 2, NULL, 0, err, sizeof err);
    assert_non_null(x);
    xt_run_match(x, "a:b", "{\"a\": \"b\"}");
    tbr_extractor_free(x);
    tbr_extractor_free(NULL);
}

/* Extractors only look at strings: anything else is no match, never a crash. */
static void test_wrong_input_types(void **state) {
    (void)state;
    tb_value items[1] = {tb_stringz("word")};
    tb_member members[1] = {{"word", 4, 0, tb_stringz("word")}};
    tb_value arr = tb_array(), obj = tb_object();
    arr.len = 1;
    arr.as.items = items;
    obj.len = 1;
    obj.as.members = members;
    const tb_value wrong[] = {
        tb_null(), tb_bool(true), tb_i64(10), tb_u64(10), tb_f64(1.5), tb_bytes("word", 4), arr, obj,
    };
    tb_arena *arena = tbr_arena_new(0);
    for (size_t k = 0; k < NSAMPLES; k++) {
        tbr_extractor *x = xt_compile(samples[k].kind, samples[k].pattern);
        for (size_t i = 0; i < sizeof wrong / sizeof wrong[0]; i++) {
            tb_value out = tb_i64(12345);
            assert_int_equal(tbr_extractor_run(x, &wrong[i], arena, &out), 0);
            assert_int_equal(tbr_extractor_run(x, &wrong[i], NULL, NULL), 0);
            assert_int_equal(out.type, TB_I64); /* untouched */
        }
        assert_int_equal(tbr_extractor_run(x, NULL, arena, NULL), 0);
        /* and the sample itself matches, with or without a result */
        tb_value in = tb_stringz(samples[k].input), out;
        assert_int_equal(tbr_extractor_run(x, &in, arena, &out), 1);
        assert_int_equal(tbr_extractor_run(x, &in, NULL, NULL), 1);
        /* the empty string (whose pointer may be NULL) is an input like any other */
        tb_value empty = tb_string(NULL, 0);
        int rc = tbr_extractor_run(x, &empty, arena, &out);
        assert_true(rc == 0 || rc == 1);
        tbr_extractor_free(x);
    }
    assert_int_equal(tbr_extractor_run(NULL, &wrong[0], arena, NULL), 0);
    tbr_arena_free(arena);
}

/* An arena that cannot grow: the kinds that build a result report TB_ENOMEM, and a bare
 * test still works. */
static void test_out_of_memory(void **state) {
    (void)state;
    for (size_t k = 0; k < NSAMPLES; k++) {
        tbr_extractor *x = xt_compile(samples[k].kind, samples[k].pattern);
        tb_value in = tb_stringz(samples[k].input), out;
        fixed_arena fa;
        fixed_arena_init(&fa, 0);
        int rc = tbr_extractor_run(x, &in, &fa.pub, &out);
        if (strcmp(samples[k].kind, "glob") == 0)
            assert_int_equal(rc, 1); /* true needs no memory */
        else
            assert_int_equal(rc, TB_ENOMEM);
        assert_int_equal(tbr_extractor_run(x, &in, NULL, NULL), 1);
        /* with room enough, the same run succeeds */
        fixed_arena_init(&fa, sizeof fa.mem);
        assert_int_equal(tbr_extractor_run(x, &in, &fa.pub, &out), 1);
        tbr_extractor_free(x);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kind_names),
        cmocka_unit_test(test_unknown_kind),
        cmocka_unit_test(test_kind_case),
        cmocka_unit_test(test_pattern_length),
        cmocka_unit_test(test_wrong_input_types),
        cmocka_unit_test(test_out_of_memory),
    };
    return cmocka_run_group_tests_name("extract_api", tests, NULL, NULL);
}
