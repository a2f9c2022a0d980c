/*
 * test_aggr_stats.c - the registry of aggregate functions and aggr::stats::*: results and
 * their types for known sequences (Tremor's own test values where it has them), empty
 * windows, merging (equal to accumulating both sequences), and the errors for wrong
 * arguments.
 */
#include "aggr_test.h"

/* ---- registry ---------------------------------------------------------------------------- */

static const tbr_aggr_fn *lookup(const char *module, const char *name) {
    return tbr_aggr_lookup(module, strlen(module), name, strlen(name));
}

static void test_lookup(void **state) {
    const tbr_aggr_fn *sum = lookup("stats", "sum");
    assert_non_null(sum);
    assert_string_equal(sum->module, "stats");
    assert_string_equal(sum->name, "sum");
    assert_ptr_equal(lookup("aggr::stats", "sum"), sum);
    assert_ptr_equal(lookup("std::aggr::stats", "sum"), sum);
    assert_non_null(lookup("aggr::win", "collect_nested"));
    assert_non_null(lookup("std::aggr::win", "first"));
    assert_non_null(lookup("stats", "hdr"));
    assert_non_null(lookup("stats", "percentile"));
    assert_null(lookup("std::stats", "sum"));
    assert_null(lookup("aggr::aggr::stats", "sum"));
    assert_null(lookup("stats", "summ"));
    assert_null(lookup("stats", "su"));
    assert_null(lookup("win", "sum"));
    assert_null(lookup("", "sum"));
    assert_null(tbr_aggr_lookup(NULL, 0, "sum", 3));
    /* lengths are honoured: no NUL needed */
    assert_ptr_equal(tbr_aggr_lookup("statsXX", 5, "sumXX", 3), sum);
    /* a quoted identifier may hold NULs: no match, and no read past the table's string */
    assert_null(tbr_aggr_lookup("stats", 5, "sum\0\0\0\0\0\0\0\0\0\0\0\0", 16));
}

static void test_table(void **state) {
    static const char *const want[] = {
        "stats::count", "stats::sum",   "stats::min",       "stats::max",
        "stats::mean",  "stats::var",   "stats::stdev",     "stats::percentile",
        "stats::hdr",   "win::first",   "win::last",        "win::collect_flattened",
        "win::collect_nested",
    };
    size_t n = 0;
    const tbr_aggr_fn *f;
    for (; (f = tbr_aggr_at(n)); n++) {
        char q[64];
        snprintf(q, sizeof q, "%s::%s", f->module, f->name);
        assert_true(n < sizeof want / sizeof want[0]);
        assert_string_equal(q, want[n]);
        assert_non_null(f->init);
        assert_non_null(f->accumulate);
        assert_non_null(f->merge);
        assert_non_null(f->emit);
        assert_true(f->state_size > 0);
        assert_true(f->min_args >= 0 && f->min_args <= f->max_args);
        assert_true(f->const_args >= 0 && f->const_args <= f->max_args);
        assert_non_null(strstr(f->signature, f->name));
        assert_true(strlen(f->doc) > 10);
        assert_ptr_equal(lookup(f->module, f->name), f);
    }
    assert_int_equal(n, sizeof want / sizeof want[0]);
    assert_null(tbr_aggr_at(n + 1));
}

/* ---- count ------------------------------------------------------------------------------- */

static void test_count(void **state) {
    fx *f = *state;
    tw *a = tw_open(f, "aggr::stats::count", NULL);
    tw_feed(f, a, "[1, \"x\", null]"); /* no argument is looked at */
    EQ(f, tw_emit(f, a), "3");
    tw *b = tw_open(f, "aggr::stats::count", NULL);
    tw_feed(f, b, "[1]");
    assert_int_equal(tw_merge_close(f, b, a), TB_OK);
    EMIT_CLOSE_EQ(f, b, "4");
    EQ(f, run(f, "aggr::stats::count", NULL, "[]"), "0");
}

/* ---- sum, mean, min, max ----------------------------------------------------------------- */

static void test_sum(void **state) {
    fx *f = *state;
    /* always a float, as in Tremor */
    EQ(f, run(f, "aggr::stats::sum", NULL, "[1, 2, 3]"), "6.0");
    EQ(f, run(f, "aggr::stats::sum", NULL, "[1.5, 2, -0.25]"), "3.25");
    EQ(f, run(f, "aggr::stats::sum", NULL, "[18446744073709551615]"), "1.8446744073709552e19");
    EQ(f, run(f, "aggr::stats::sum", NULL, "[]"), "0.0");
    /* Tremor's test: 1 + 2 + 3, then 4, then an empty state merged in */
    tw *a = tw_open(f, "aggr::stats::sum", NULL);
    tw_feed(f, a, "[1, 2, 3]");
    EQ(f, tw_emit(f, a), "6.0");
    tw_feed(f, a, "[4]");
    assert_int_equal(tw_merge_close(f, a, tw_open(f, "aggr::stats::sum", NULL)), TB_OK);
    EMIT_CLOSE_EQ(f, a, "10.0");
}

static void test_mean(void **state) {
    fx *f = *state;
    EQ(f, run(f, "aggr::stats::mean", NULL, "[1, 2, 3]"), "2.0");
    EQ(f, run(f, "aggr::stats::mean", NULL, "[1, 2, 3, 4]"), "2.5");
    EQ(f, run(f, "aggr::stats::mean", NULL, "[-1.5]"), "-1.5");
    /* the mean of nothing: null */
    EQ(f, run(f, "aggr::stats::mean", NULL, "[]"), "null");
    tw *a = tw_open(f, "aggr::stats::mean", NULL);
    assert_int_equal(tw_merge_close(f, a, tw_open(f, "aggr::stats::mean", NULL)), TB_OK);
    EMIT_CLOSE_EQ(f, a, "null");
}

static void test_min_max(void **state) {
    fx *f = *state;
    EQ(f, run(f, "aggr::stats::min", NULL, "[3, 1, 2]"), "1.0");
    EQ(f, run(f, "aggr::stats::max", NULL, "[3, 1, 2]"), "3.0");
    EQ(f, run(f, "aggr::stats::min", NULL, "[-3, 2.5, 9223372036854775807]"), "-3.0");
    EQ(f, run(f, "aggr::stats::max", NULL, "[-3, 2.5, -9]"), "2.5");
    EQ(f, run(f, "aggr::stats::min", NULL, "[]"), "0.0");
    EQ(f, run(f, "aggr::stats::max", NULL, "[]"), "0.0");
    /* merging with an empty state, either way round (Tremor loses min here) */
    const char *fns[] = {"aggr::stats::min", "aggr::stats::max"};
    const char *want[] = {"5.0", "7.0"};
    for (int i = 0; i < 2; i++) {
        tw *full = tw_open(f, fns[i], NULL), *empty = tw_open(f, fns[i], NULL);
        tw_feed(f, full, "[5, 7]");
        assert_int_equal(tw_merge_close(f, full, empty), TB_OK);
        EQ(f, tw_emit(f, full), want[i]);
        empty = tw_open(f, fns[i], NULL);
        assert_int_equal(tw_merge_close(f, empty, full), TB_OK);
        EMIT_CLOSE_EQ(f, empty, want[i]);
    }
}

/* ---- var and stdev ----------------------------------------------------------------------- */

static double emitted_f64(fx *f, tw *w) {
    tb_value v = tw_emit(f, w);
    assert_int_equal(v.type, TB_F64);
    return v.as.f;
}

static void assert_close(double got, double want) {
    if (!(fabs(got - want) <= 1e-12 * fabs(want) + 1e-12)) fail_msg("%.17g != %.17g", got, want);
}

/* Tremor's test, exactly: [2, 4, 19, 9], then [2, 4] merged with it, then [2, 4] again. */
static void test_var_tremor(void **state) {
    fx *f = *state;
    tw *a = tw_open(f, "aggr::stats::var", NULL);
    tw_feed(f, a, "[2, 4, 19, 9]");
    assert_true(emitted_f64(f, a) == 173.0 / 3.0);
    tw *b = tw_open(f, "aggr::stats::var", NULL);
    tw_feed(f, b, "[2, 4]");
    assert_int_equal(tw_merge_close(f, b, a), TB_OK);
    assert_close(emitted_f64(f, b), 43.06666666666667);
    tw *c = tw_open(f, "aggr::stats::var", NULL);
    tw_feed(f, c, "[2, 4]");
    assert_true(emitted_f64(f, c) == 2.0);
    assert_int_equal(tw_merge_close(f, b, c), TB_OK);
    assert_close(emitted_f64(f, b), 33.92857142857143);
    tw_close(b);
}

static void test_var(void **state) {
    fx *f = *state;
    /* sample variance: n - 1 */
    EQ(f, run(f, "aggr::stats::var", NULL, "[1, 2, 3, 4]"), "1.6666666666666667");
    EQ(f, run(f, "aggr::stats::var", NULL, "[]"), "0.0");
    /* one value: 0 / 0 */
    tb_value one = run(f, "aggr::stats::var", NULL, "[5]");
    assert_int_equal(one.type, TB_F64);
    assert_true(isnan(one.as.f));
    /* the shift keeps large, close values exact */
    EQ(f, run(f, "aggr::stats::var", NULL, "[1000000001, 1000000002, 1000000003]"), "1.0");
    /* merging states whose first values differ (Tremor adds the shifts: wrong) */
    tw *a = tw_open(f, "aggr::stats::var", NULL), *b = tw_open(f, "aggr::stats::var", NULL);
    tw_feed(f, a, "[10, 12, 30]");
    tw_feed(f, b, "[-7, 100, 3, 3]");
    assert_int_equal(tw_merge_close(f, a, b), TB_OK);
    tb_value merged = tw_emit(f, a);
    tw_close(a);
    tb_value all = run(f, "aggr::stats::var", NULL, "[10, 12, 30, -7, 100, 3, 3]");
    assert_true(same_value(&merged, &all));
    /* an empty state takes the other's as is */
    a = tw_open(f, "aggr::stats::var", NULL);
    b = tw_open(f, "aggr::stats::var", NULL);
    tw_feed(f, b, "[1, 2, 3, 4]");
    assert_int_equal(tw_merge_close(f, a, b), TB_OK);
    EMIT_CLOSE_EQ(f, a, "1.6666666666666667");
}

static void test_stdev(void **state) {
    fx *f = *state;
    /* Tremor's test: [2, 4, 19] */
    tw *a = tw_open(f, "aggr::stats::stdev", NULL);
    tw_feed(f, a, "[2, 4, 19]");
    assert_close(emitted_f64(f, a), sqrt(259.0 / 3.0));
    tw *b = tw_open(f, "aggr::stats::stdev", NULL);
    assert_int_equal(tw_merge_close(f, b, a), TB_OK);
    assert_close(emitted_f64(f, b), sqrt(259.0 / 3.0));
    tw_close(b);
    EQ(f, run(f, "aggr::stats::stdev", NULL, "[2, 4, 4, 4, 5, 5, 7, 9]"),
       "2.138089935299395"); /* sqrt(32 / 7) */
    EQ(f, run(f, "aggr::stats::stdev", NULL, "[]"), "0.0");
    tb_value one = run(f, "aggr::stats::stdev", NULL, "[5]");
    assert_true(one.type == TB_F64 && isnan(one.as.f));
}

/* ---- hdr --------------------------------------------------------------------------------- */

static const char *const ONE_TO_100 =
    "[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31,32,"
    "33,34,35,36,37,38,39,40,41,42,43,44,45,46,47,48,49,50,51,52,53,54,55,56,57,58,59,60,61,"
    "62,63,64,65,66,67,68,69,70,71,72,73,74,75,76,77,78,79,80,81,82,83,84,85,86,87,88,89,90,"
    "91,92,93,94,95,96,97,98,99,100]";

/* Tremor's test of hdr, to the bit: 1..100 with its percentile list. */
static void test_hdr_tremor(void **state) {
    fx *f = *state;
    static const char *const want =
        "{\"count\":100,\"min\":1,\"max\":100,\"mean\":50.5,\"stdev\":28.86607004772212,"
        "\"var\":833.25,\"percentiles\":{\"0.5\":50,\"0.9\":90,\"0.95\":95,\"0.99\":99,"
        "\"0.999\":100,\"0.9999\":100}}";
    const char *pcts = "[[\"0.5\", \"0.9\", \"0.95\", \"0.99\", \"0.999\", \"0.9999\"]]";
    tw *a = tw_open(f, "aggr::stats::hdr", pcts);
    tw_feed(f, a, ONE_TO_100);
    EQ(f, tw_emit(f, a), want);
    /* and merged into an empty state */
    tw *b = tw_open(f, "aggr::stats::hdr", pcts);
    assert_int_equal(tw_merge_close(f, b, a), TB_OK);
    EMIT_CLOSE_EQ(f, b, want);
}

/* Tremor's hdr_empty test: zeros, with the default percentiles. */
static void test_hdr_empty(void **state) {
    fx *f = *state;
    static const char *const want =
        "{\"count\":0,\"min\":0,\"max\":0,\"mean\":0.0,\"stdev\":0.0,\"var\":0.0,"
        "\"percentiles\":{\"0.5\":0,\"0.9\":0,\"0.95\":0,\"0.99\":0,\"0.999\":0,\"0.9999\":0,"
        "\"0.99999\":0}}";
    EQ(f, run(f, "aggr::stats::hdr", NULL, "[]"), want);
    tw *a = tw_open(f, "aggr::stats::hdr", NULL);
    assert_int_equal(tw_merge_close(f, a, tw_open(f, "aggr::stats::hdr", NULL)), TB_OK);
    EMIT_CLOSE_EQ(f, a, want);
    /* an empty list: no percentiles */
    EQ(f, run(f, "aggr::stats::hdr", "[[]]", "[]"),
       "{\"count\":0,\"min\":0,\"max\":0,\"mean\":0.0,\"stdev\":0.0,\"var\":0.0,"
       "\"percentiles\":{}}");
}

static void test_hdr_values(void **state) {
    fx *f = *state;
    /* floats truncate, negatives are skipped, keys are kept as written, once */
    EQ(f, run(f, "aggr::stats::hdr", "[[\"0.50\", \"1\", \"0.50\", \"5e-1\"]]",
              "[2.7, -1, -0.5, 3, 3.99]"),
       "{\"count\":3,\"min\":2,\"max\":3,\"mean\":2.6666666666666665,"
       "\"stdev\":0.4714045207910317,\"var\":0.2222222222222222,"
       "\"percentiles\":{\"0.50\":3,\"1\":3,\"5e-1\":3}}");
    /* 0 is a value */
    EQ(f, run(f, "aggr::stats::hdr", "[[\"0\", \"0.5\"]]", "[0, 0, 10]"),
       "{\"count\":3,\"min\":0,\"max\":10,\"mean\":3.3333333333333335,"
       "\"stdev\":4.714045207910316,\"var\":22.222222222222214,"
       "\"percentiles\":{\"0\":0,\"0.5\":0}}");
    /* beyond 255 values share slots of 1% */
    tb_value big = run(f, "aggr::stats::hdr", "[[\"0.5\"]]", "[1000000, 1000000000000, 3]");
    tb_value *max = tb_object_getz(&big, "max");
    assert_non_null(max);
    assert_int_equal(max->type, TB_I64);
    assert_true(max->as.i >= 1000000000000 && max->as.i <= 1010000000000);
    tb_value *p50 = tb_object_getz(tb_object_getz(&big, "percentiles"), "0.5");
    assert_true(p50->as.i >= 1000000 && p50->as.i <= 1010000);
    /* a huge value: the top of the range */
    tb_value huge = run(f, "aggr::stats::hdr", "[[\"1\"]]", "[1e300, 18446744073709551615]");
    EQ(f, *tb_object_getz(&huge, "max"), "18446744073709551615");
    EQ(f, *tb_object_getz(&huge, "count"), "2");
}

static void test_hdr_errors(void **state) {
    fx *f = *state;
    tw *w = tw_open(f, "aggr::stats::hdr", NULL);
    assert_int_equal(tw_feed1(f, w, "\"12\""), TB_EINVAL);
    assert_string_equal(f->err, "aggr::stats::hdr: expected a number, found string");
    assert_int_equal(tw_feed1(f, w, "null"), TB_EINVAL);
    assert_string_equal(f->err, "aggr::stats::hdr: expected a number, found null");
    assert_int_equal(tw_feed1(f, w, "7"), TB_OK); /* the state goes on */
    EMIT_CLOSE_EQ(f, w,
                  "{\"count\":1,\"min\":7,\"max\":7,\"mean\":7.0,\"stdev\":0.0,\"var\":0.0,"
                  "\"percentiles\":{\"0.5\":7,\"0.9\":7,\"0.95\":7,\"0.99\":7,\"0.999\":7,"
                  "\"0.9999\":7,\"0.99999\":7}}");
    static const struct {
        const char *consts, *msg;
    } bad[] = {
        {"[[\"snot\", \"0.9\"]]", "aggr::stats::hdr: provided percentile 'snot' isn't a float"},
        {"[[\"\"]]", "aggr::stats::hdr: provided percentile '' isn't a float"},
        {"[[\" 0.5\"]]", "aggr::stats::hdr: provided percentile ' 0.5' isn't a float"},
        {"[[\"0x1p-1\"]]", "aggr::stats::hdr: provided percentile '0x1p-1' isn't a float"},
        {"[[\"0.5e\"]]", "aggr::stats::hdr: provided percentile '0.5e' isn't a float"},
        {"[[0.5]]", "aggr::stats::hdr: expected percentiles as strings such as \"0.99\", found float"},
        {"[\"0.5\"]",
         "aggr::stats::hdr: expected an array of percentiles such as [\"0.5\", \"0.99\"], found string"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc;
        w = tw_open_rc(f, "aggr::stats::hdr", bad[i].consts, &rc);
        assert_int_equal(rc, TB_EINVAL);
        assert_string_equal(f->err, bad[i].msg);
        tw_close(w); /* fini after a failed init is fine */
    }
    /* what Rust's float parser takes, Tremor takes */
    static const char *const good[] = {"[[\".5\", \"5.\", \"+0.5\", \"1E-1\", \"inf\", \"NaN\"]]"};
    w = tw_open(f, "aggr::stats::hdr", good[0]);
    tw_feed(f, w, "[4, 8]");
    EMIT_CLOSE_EQ(f, w,
                  "{\"count\":2,\"min\":4,\"max\":8,\"mean\":6.0,\"stdev\":2.0,\"var\":4.0,"
                  "\"percentiles\":{\".5\":4,\"5.\":8,\"+0.5\":4,\"1E-1\":4,\"inf\":8,\"NaN\":4}}");
}

/* ---- percentile -------------------------------------------------------------------------- */

static void test_percentile(void **state) {
    fx *f = *state;
    EQ(f, run(f, "aggr::stats::percentile", "[0.99]", ONE_TO_100), "99");
    EQ(f, run(f, "aggr::stats::percentile", "[\"0.5\"]", ONE_TO_100), "50");
    EQ(f, run(f, "aggr::stats::percentile", "[1]", ONE_TO_100), "100");
    EQ(f, run(f, "aggr::stats::percentile", "[0]", ONE_TO_100), "1");
    EQ(f, run(f, "aggr::stats::percentile", "[0.999]", ONE_TO_100), "100"); /* as hdr says */
    EQ(f, run(f, "aggr::stats::percentile", "[0.5]", "[]"), "0");
    /* negatives skipped, floats truncated; 1000 and 1001 share the slot 1000..1003 */
    EQ(f, run(f, "aggr::stats::percentile", "[0.5]", "[-5, 1000, 1001.9]"), "1003");
    static const struct {
        const char *consts, *msg;
    } bad[] = {
        {"[1.5]", "aggr::stats::percentile: expected a quantile between 0 and 1 such as 0.99, found 1.5"},
        {"[99]", "aggr::stats::percentile: expected a quantile between 0 and 1 such as 0.99, found 99"},
        {"[-0.1]", "aggr::stats::percentile: expected a quantile between 0 and 1 such as 0.99, found -0.1"},
        {"[\"high\"]", "aggr::stats::percentile: expected a quantile between 0 and 1 such as 0.99, found 'high'"},
        {"[\"nan\"]", "aggr::stats::percentile: expected a quantile between 0 and 1 such as 0.99, found 'nan'"},
        {"[null]", "aggr::stats::percentile: expected a quantile between 0 and 1 such as 0.99, found null"},
        {"[[0.5]]", "aggr::stats::percentile: expected a quantile between 0 and 1 such as 0.99, found array"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc;
        tw *w = tw_open_rc(f, "aggr::stats::percentile", bad[i].consts, &rc);
        assert_int_equal(rc, TB_EINVAL);
        assert_string_equal(f->err, bad[i].msg);
        tw_close(w);
    }
    tw *w = tw_open(f, "aggr::stats::percentile", "[0.5]");
    assert_int_equal(tw_feed1(f, w, "{}"), TB_EINVAL);
    assert_string_equal(f->err, "aggr::stats::percentile: expected a number, found object");
    tw_close(w);
}

/* ---- properties over every stats function ------------------------------------------------ */

static const struct {
    const char *fn, *consts;
} STATS[] = {
    {"aggr::stats::count", NULL},     {"aggr::stats::sum", NULL},
    {"aggr::stats::min", NULL},       {"aggr::stats::max", NULL},
    {"aggr::stats::mean", NULL},      {"aggr::stats::var", NULL},
    {"aggr::stats::stdev", NULL},     {"aggr::stats::percentile", "[0.9]"},
    {"aggr::stats::hdr", NULL},       {"aggr::stats::hdr", "[[\"0.1\", \"0.75\", \"1.0\"]]"},
};
#define NSTATS (sizeof STATS / sizeof STATS[0])

/* Merging the state of one window into another's gives what one window of both sequences
 * gives (integer values: every sum is exact, so even floats compare equal). */
static void check_merge(fx *f, const char *a_json, const char *b_json, const char *all_json) {
    for (size_t i = 0; i < NSTATS; i++) {
        tw *a = tw_open(f, STATS[i].fn, STATS[i].consts);
        tw *b = tw_open(f, STATS[i].fn, STATS[i].consts);
        tw_feed(f, a, a_json);
        tw_feed(f, b, b_json);
        assert_int_equal(tw_merge_close(f, a, b), TB_OK);
        tb_value merged = tw_emit(f, a);
        tw_close(a);
        tb_value all = run(f, STATS[i].fn, STATS[i].consts, all_json);
        if (!same_value(&merged, &all))
            fail_msg("%s: merged %s, accumulated %s (%s + %s)", STATS[i].fn, show(f, &merged),
                     show(f, &all), a_json, b_json);
    }
}

static void test_merge_equals_accumulate(void **state) {
    fx *f = *state;
    check_merge(f, "[5, 1, 300, 42]", "[-4, 7, 7, 100000, 0]",
                "[5, 1, 300, 42, -4, 7, 7, 100000, 0]");
    check_merge(f, "[]", "[3, 9]", "[3, 9]");
    check_merge(f, "[3, 9]", "[]", "[3, 9]");
    check_merge(f, "[]", "[]", "[]");
    check_merge(f, "[8]", "[8]", "[8, 8]");
    /* tilt frames chain merges: ((a + b) + c) */
    for (size_t i = 0; i < NSTATS; i++) {
        tw *top = tw_open(f, STATS[i].fn, STATS[i].consts);
        const char *parts[] = {"[1, 2]", "[300]", "[]", "[4, 5, 6]"};
        for (int p = 0; p < 4; p++) {
            tw *low = tw_open(f, STATS[i].fn, STATS[i].consts);
            tw_feed(f, low, parts[p]);
            assert_int_equal(tw_merge_close(f, top, low), TB_OK);
        }
        tb_value merged = tw_emit(f, top);
        tw_close(top);
        tb_value all = run(f, STATS[i].fn, STATS[i].consts, "[1, 2, 300, 4, 5, 6]");
        if (!same_value(&merged, &all))
            fail_msg("%s: chained %s, accumulated %s", STATS[i].fn, show(f, &merged), show(f, &all));
    }
}

/* An empty window emits, merges and finishes without a fault or a leak; emit leaves the
 * state as it was (emitting twice gives the same). */
static void test_empty_windows(void **state) {
    fx *f = *state;
    for (size_t i = 0; i < NSTATS; i++) {
        tw *w = tw_open(f, STATS[i].fn, STATS[i].consts);
        tb_value first = tw_emit(f, w);
        tb_value again = tw_emit(f, w);
        assert_true(same_value(&first, &again));
        assert_int_equal(tw_merge_close(f, w, tw_open(f, STATS[i].fn, STATS[i].consts)), TB_OK);
        again = tw_emit(f, w);
        assert_true(same_value(&first, &again));
        tw_close(w);
        /* opened and closed, nothing else */
        w = tw_open(f, STATS[i].fn, STATS[i].consts);
        tw_close(w);
    }
}

/* Every function but count refuses what is not a number, naming itself; the state is
 * untouched by the refused value. */
static void test_type_errors(void **state) {
    fx *f = *state;
    static const struct {
        const char *json, *type;
    } bad[] = {
        {"\"3\"", "string"}, {"null", "null"}, {"true", "bool"}, {"[1]", "array"}, {"{}", "object"},
    };
    for (size_t i = 1; i < NSTATS; i++) {
        const char *name = STATS[i].fn;
        for (size_t b = 0; b < sizeof bad / sizeof bad[0]; b++) {
            tw *w = tw_open(f, name, STATS[i].consts);
            tw_feed(f, w, "[4, 6]");
            tb_value before = tw_emit(f, w);
            assert_int_equal(tw_feed1(f, w, bad[b].json), TB_EINVAL);
            char want[160];
            snprintf(want, sizeof want, "%s: expected a number, found %s", name, bad[b].type);
            assert_string_equal(f->err, want);
            tb_value after = tw_emit(f, w);
            if (!same_value(&before, &after)) fail_msg("%s changed on a refused value", name);
            tw_close(w);
        }
    }
}

/* A caller that passes no value argument (a wrong split of the constant ones) gets an
 * error, never a read of a missing argument. */
static void test_missing_value(void **state) {
    fx *f = *state;
    const tbr_aggr_fn *fn;
    for (size_t i = 0; (fn = tbr_aggr_at(i)); i++) {
        if (fn->min_args == 0) continue;
        char q[64], want[128];
        snprintf(q, sizeof q, "aggr::%s::%s", fn->module, fn->name);
        tw *w = tw_open(f, q, strcmp(fn->name, "percentile") ? NULL : "[0.5]");
        tbr_aggr_ctx cx = ctx_for(f, w);
        assert_int_equal(fn->accumulate(&cx, w->state, NULL, 0), TB_EINVAL);
        snprintf(want, sizeof want, "%s: expected a value argument, found none", q);
        assert_string_equal(f->err, want);
        tw_close(w);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lookup),
        cmocka_unit_test(test_table),
        FX_TEST(test_count),
        FX_TEST(test_sum),
        FX_TEST(test_mean),
        FX_TEST(test_min_max),
        FX_TEST(test_var_tremor),
        FX_TEST(test_var),
        FX_TEST(test_stdev),
        FX_TEST(test_hdr_tremor),
        FX_TEST(test_hdr_empty),
        FX_TEST(test_hdr_values),
        FX_TEST(test_hdr_errors),
        FX_TEST(test_percentile),
        FX_TEST(test_merge_equals_accumulate),
        FX_TEST(test_empty_windows),
        FX_TEST(test_type_errors),
        FX_TEST(test_missing_value),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
