/*
 * test_hdr.c - the HDR histogram (src/core/hdr.c): parameters, known distributions within
 * the precision bound, the exact read-outs Tremor's tests expect, coordinated-omission
 * correction against hand-computed counts, merge, reset, iteration and the extremes of the
 * value range.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <temblor/temblor.h>

#include "core/hdr.h"

static tbr_hdr make(uint64_t lowest, uint64_t highest, int sigfigs) {
    tbr_hdr h;
    int rc = tbr_hdr_init(&h, lowest, highest, sigfigs);
    if (rc != TB_OK) fail_msg("tbr_hdr_init(%llu, %llu, %d) = %d", (unsigned long long)lowest,
                              (unsigned long long)highest, sigfigs, rc);
    return h;
}

/* got is within the histogram's precision of want: not below the exact value and at most
 * 10^-sigfigs of it above (read-outs report the highest value of a slot). */
static void assert_within(uint64_t got, uint64_t want, int sigfigs) {
    double bound = (double)want / pow(10.0, sigfigs);
    if (got < want || (double)(got - want) > bound)
        fail_msg("%llu is not within %g of %llu", (unsigned long long)got, bound,
                 (unsigned long long)want);
}

static void test_parameters(void **state) {
    tbr_hdr h;
    assert_int_equal(tbr_hdr_init(&h, 0, 100, 2), TB_EINVAL);   /* lowest 0 */
    assert_int_equal(tbr_hdr_init(&h, 10, 19, 2), TB_EINVAL);   /* highest < 2 * lowest */
    assert_int_equal(tbr_hdr_init(&h, 1, 100, 0), TB_EINVAL);   /* sigfigs */
    assert_int_equal(tbr_hdr_init(&h, 1, 100, 6), TB_EINVAL);
    assert_null(h.counts); /* a failed init leaves it zeroed */
    /* a unit so large that the sub-buckets cannot be shifted by it */
    assert_int_equal(tbr_hdr_init(&h, (uint64_t)1 << 60, UINT64_MAX, 3), TB_EINVAL);
    for (int s = 1; s <= 5; s++) {
        h = make(1, 3600000000ull, s);
        assert_true(h.counts_len > 0);
        /* unit resolution up to 2 * 10^s */
        uint64_t exact = 2;
        for (int i = 0; i < s; i++) exact *= 10;
        assert_int_equal(tbr_hdr_equivalent_range(&h, exact - 1), 1);
        tbr_hdr_fini(&h);
    }
    h = make(1, UINT64_MAX, 5);
    tbr_hdr_fini(&h);
    tbr_hdr_fini(NULL);
}

/* A histogram never initialised is empty, reads as 0 everywhere and refuses records. */
static void test_zeroed_is_empty(void **state) {
    tbr_hdr h;
    memset(&h, 0, sizeof h);
    assert_int_equal(tbr_hdr_total_count(&h), 0);
    assert_int_equal(tbr_hdr_min(&h), 0);
    assert_int_equal(tbr_hdr_max(&h), 0);
    assert_true(tbr_hdr_mean(&h) == 0.0);
    assert_true(tbr_hdr_stdev(&h) == 0.0);
    assert_int_equal(tbr_hdr_value_at_percentile(&h, 50), 0);
    assert_int_equal(tbr_hdr_count_at(&h, 5), 0);
    assert_int_equal(tbr_hdr_record(&h, 5), TB_EINVAL);
    tbr_hdr_iter it;
    tbr_hdr_iter_recorded(&it, &h);
    assert_false(tbr_hdr_iter_next(&it));
    tbr_hdr_iter_percentiles(&it, &h, 5);
    assert_false(tbr_hdr_iter_next(&it));
    tbr_hdr g = make(1, 1000, 2);
    assert_int_equal(tbr_hdr_merge(&g, &h), TB_OK); /* an empty source merges */
    assert_int_equal(tbr_hdr_merge(&h, &g), TB_OK); /* nothing to add into it */
    tbr_hdr_record(&g, 5);
    assert_int_equal(tbr_hdr_merge(&h, &g), TB_EINVAL);
    tbr_hdr_fini(&g);
    tbr_hdr_fini(&h);
}

/* Empty but initialised: the same zeros. */
static void test_empty(void **state) {
    tbr_hdr h = make(1, 1000000, 3);
    assert_int_equal(tbr_hdr_total_count(&h), 0);
    assert_int_equal(tbr_hdr_min(&h), 0);
    assert_int_equal(tbr_hdr_max(&h), 0);
    assert_true(tbr_hdr_mean(&h) == 0.0 && tbr_hdr_stdev(&h) == 0.0);
    assert_int_equal(tbr_hdr_value_at_quantile(&h, 0.0), 0);
    assert_int_equal(tbr_hdr_value_at_quantile(&h, 1.0), 0);
    tbr_hdr_fini(&h);
}

/* 1..10000 once each: every percentile within the precision bound of the exact rank. */
static void check_uniform(int sigfigs) {
    tbr_hdr h = make(1, 3600000000ull, sigfigs);
    for (uint64_t v = 1; v <= 10000; v++) assert_int_equal(tbr_hdr_record(&h, v), TB_OK);
    assert_int_equal(tbr_hdr_total_count(&h), 10000);
    assert_int_equal(tbr_hdr_min(&h), 1);
    assert_within(tbr_hdr_max(&h), 10000, sigfigs);
    /* the value of rank ceil(q * n) is the rank itself; only the lookup's precision may
     * add to it (the rank is computed with the histogram's arithmetic on purpose: this is
     * about slots, not about rounding p / 100) */
    for (double p = 0.5; p <= 100.0; p += 0.5) {
        uint64_t rank = (uint64_t)ceil(p / 100.0 * 10000.0);
        assert_within(tbr_hdr_value_at_percentile(&h, p), rank, sigfigs);
    }
    assert_within(tbr_hdr_value_at_percentile(&h, 99.99), (uint64_t)ceil(99.99 / 100.0 * 10000.0),
                  sigfigs);
    assert_int_equal(tbr_hdr_value_at_quantile(&h, 0.0), 1);
    /* mean and stdev: each value counted at the middle of its slot */
    double tol = pow(10.0, -sigfigs);
    assert_true(fabs(tbr_hdr_mean(&h) - 5000.5) <= 5000.5 * tol);
    double sd = sqrt((10000.0 * 10000.0 - 1.0) / 12.0); /* population stdev of 1..n */
    assert_true(fabs(tbr_hdr_stdev(&h) - sd) <= sd * tol);
    tbr_hdr_fini(&h);
}

static void test_uniform_1_to_10000(void **state) {
    for (int s = 1; s <= 5; s++) check_uniform(s);
}

/* With 3 digits every value up to 2048 has a slot of its own: exact answers. */
static void test_exact_below_resolution_limit(void **state) {
    tbr_hdr h = make(1, 100000, 3);
    for (uint64_t v = 1; v <= 2000; v++) tbr_hdr_record(&h, v);
    assert_int_equal(tbr_hdr_value_at_percentile(&h, 50), 1000);
    assert_int_equal(tbr_hdr_value_at_percentile(&h, 99), 1980);
    assert_int_equal(tbr_hdr_value_at_percentile(&h, 100), 2000);
    assert_int_equal(tbr_hdr_max(&h), 2000);
    assert_true(tbr_hdr_mean(&h) == 1000.5);
    assert_int_equal(tbr_hdr_count_at(&h, 1234), 1);
    tbr_hdr_fini(&h);
}

/* What Tremor's own test of aggr::stats::hdr expects for 1..100 at 2 digits, exactly. */
static void test_tremor_reference(void **state) {
    tbr_hdr h = make(1, 4, 2);
    tbr_hdr_set_auto_resize(&h, true);
    for (uint64_t v = 1; v <= 100; v++) assert_int_equal(tbr_hdr_record(&h, v), TB_OK);
    assert_int_equal(tbr_hdr_total_count(&h), 100);
    assert_int_equal(tbr_hdr_min(&h), 1);
    assert_int_equal(tbr_hdr_max(&h), 100);
    assert_true(tbr_hdr_mean(&h) == 50.5);
    assert_true(tbr_hdr_stdev(&h) == 28.86607004772212);
    assert_true(pow(tbr_hdr_stdev(&h), 2.0) == 833.25);
    assert_int_equal(tbr_hdr_value_at_percentile(&h, 0.5 * 100), 50);
    assert_int_equal(tbr_hdr_value_at_percentile(&h, 0.9 * 100), 90);
    assert_int_equal(tbr_hdr_value_at_percentile(&h, 0.95 * 100), 95);
    assert_int_equal(tbr_hdr_value_at_percentile(&h, 0.99 * 100), 99);
    assert_int_equal(tbr_hdr_value_at_percentile(&h, 0.999 * 100), 100);
    assert_int_equal(tbr_hdr_value_at_percentile(&h, 0.9999 * 100), 100);
    tbr_hdr_fini(&h);
}

/* Above the exact range a value shares its slot: 2 digits give slots of 2 from 256 on. */
static void test_slots(void **state) {
    tbr_hdr h = make(1, 1000000, 2);
    assert_int_equal(tbr_hdr_lowest_equivalent(&h, 255), 255);
    assert_int_equal(tbr_hdr_highest_equivalent(&h, 255), 255);
    assert_int_equal(tbr_hdr_lowest_equivalent(&h, 257), 256);
    assert_int_equal(tbr_hdr_highest_equivalent(&h, 257), 257);
    assert_int_equal(tbr_hdr_median_equivalent(&h, 256), 257);
    assert_int_equal(tbr_hdr_equivalent_range(&h, 1000), 4);
    assert_int_equal(tbr_hdr_lowest_equivalent(&h, 1001), 1000);
    assert_int_equal(tbr_hdr_highest_equivalent(&h, 1001), 1003);
    tbr_hdr_record(&h, 1001);
    tbr_hdr_record(&h, 1002);
    assert_int_equal(tbr_hdr_count_at(&h, 1000), 2);
    assert_int_equal(tbr_hdr_min(&h), 1000); /* lowest of its slot */
    assert_int_equal(tbr_hdr_max(&h), 1003); /* highest of its slot */
    assert_true(tbr_hdr_mean(&h) == 1002.0); /* middle of the slot */
    assert_true(tbr_hdr_stdev(&h) == 0.0);
    tbr_hdr_fini(&h);
}

/* Hand-computed: value 1000 with an expected interval of 100 hid 900, 800, ..., 100. */
static void test_coordinated_omission_counts(void **state) {
    tbr_hdr h = make(1, 1000000, 3);
    assert_int_equal(tbr_hdr_record_corrected(&h, 1000, 100), TB_OK);
    assert_int_equal(tbr_hdr_total_count(&h), 10);
    for (uint64_t v = 100; v <= 1000; v += 100) assert_int_equal(tbr_hdr_count_at(&h, v), 1);
    assert_int_equal(tbr_hdr_count_at(&h, 50), 0);
    assert_int_equal(tbr_hdr_min(&h), 100);
    /* 250 with 100: 250 and 150 (50 is below the interval) */
    tbr_hdr_reset(&h);
    tbr_hdr_record_corrected(&h, 250, 100);
    assert_int_equal(tbr_hdr_total_count(&h), 2);
    assert_int_equal(tbr_hdr_count_at(&h, 250), 1);
    assert_int_equal(tbr_hdr_count_at(&h, 150), 1);
    /* at or below the interval, or no interval: just the value */
    tbr_hdr_reset(&h);
    tbr_hdr_record_corrected(&h, 100, 100);
    tbr_hdr_record_corrected(&h, 5000, 0);
    assert_int_equal(tbr_hdr_total_count(&h), 2);
    /* with a count: every generated value gets it too */
    tbr_hdr_reset(&h);
    tbr_hdr_record_corrected_n(&h, 300, 4, 100);
    assert_int_equal(tbr_hdr_total_count(&h), 12);
    assert_int_equal(tbr_hdr_count_at(&h, 200), 4);
    assert_int_equal(tbr_hdr_count_at(&h, 100), 4);
    tbr_hdr_fini(&h);
}

/* HdrHistogram's classic scenario: 10000 samples of 1 ms and one 100 s stall, at 10 ms
 * intervals (in microseconds). Uncorrected, the stall is invisible below the top 0.01%;
 * corrected, the stall's 9999 hidden samples (100 s - 10 ms down to 10 ms) show. */
static void test_coordinated_omission_percentiles(void **state) {
    tbr_hdr raw = make(1, 3600ull * 1000 * 1000, 3);
    tbr_hdr fixed = make(1, 3600ull * 1000 * 1000, 3);
    for (int i = 0; i < 10000; i++) {
        tbr_hdr_record_corrected(&raw, 1000, 0);
        tbr_hdr_record_corrected(&fixed, 1000, 10000);
    }
    tbr_hdr_record(&raw, 100000000);
    tbr_hdr_record_corrected(&fixed, 100000000, 10000);
    assert_int_equal(tbr_hdr_total_count(&raw), 10001);
    assert_int_equal(tbr_hdr_total_count(&fixed), 20000);
    assert_within(tbr_hdr_value_at_percentile(&raw, 99.99), 1000, 3);
    assert_within(tbr_hdr_value_at_percentile(&fixed, 30), 1000, 3);
    assert_within(tbr_hdr_value_at_percentile(&fixed, 50), 1000, 3);
    /* rank 15000 of the corrected: the 5000th generated value, 5000 * 10 ms */
    assert_within(tbr_hdr_value_at_percentile(&fixed, 75), 50000000, 3);
    assert_within(tbr_hdr_value_at_percentile(&fixed, 90), 80000000, 3);
    assert_within(tbr_hdr_value_at_percentile(&fixed, 99), 98000000, 3);
    assert_within(tbr_hdr_value_at_percentile(&fixed, 100), 100000000, 3);
    tbr_hdr_fini(&raw);
    tbr_hdr_fini(&fixed);
}

static void assert_same_histogram(const tbr_hdr *a, const tbr_hdr *b) {
    assert_int_equal(tbr_hdr_total_count(a), tbr_hdr_total_count(b));
    assert_int_equal(tbr_hdr_min(a), tbr_hdr_min(b));
    assert_int_equal(tbr_hdr_max(a), tbr_hdr_max(b));
    assert_true(tbr_hdr_mean(a) == tbr_hdr_mean(b));
    assert_true(tbr_hdr_stdev(a) == tbr_hdr_stdev(b));
    for (double p = 0; p <= 100; p += 2.5)
        assert_int_equal(tbr_hdr_value_at_percentile(a, p), tbr_hdr_value_at_percentile(b, p));
    size_t n = a->counts_len < b->counts_len ? a->counts_len : b->counts_len;
    for (size_t i = 0; i < n; i++) assert_int_equal(a->counts[i], b->counts[i]);
}

/* Merging equals recording both sets into one histogram. */
static void test_merge(void **state) {
    tbr_hdr a = make(1, 10000000, 3), b = make(1, 10000000, 3), all = make(1, 10000000, 3);
    uint64_t x = 88172645463325252ull;
    for (int i = 0; i < 5000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17; /* xorshift: deterministic spread */
        uint64_t v = x % 10000000;
        tbr_hdr_record(i % 3 ? &a : &b, v);
        tbr_hdr_record(&all, v);
    }
    tbr_hdr_record(&b, 0);
    tbr_hdr_record(&all, 0);
    uint64_t b_count = tbr_hdr_total_count(&b), b_max = tbr_hdr_max(&b);
    assert_int_equal(tbr_hdr_merge(&a, &b), TB_OK);
    assert_same_histogram(&a, &all);
    assert_int_equal(tbr_hdr_min(&a), 0);
    assert_int_equal(tbr_hdr_total_count(&b), b_count); /* the source is unchanged */
    assert_int_equal(tbr_hdr_max(&b), b_max);
    tbr_hdr_fini(&a);
    tbr_hdr_fini(&b);
    tbr_hdr_fini(&all);
}

static void test_merge_ranges(void **state) {
    /* a smaller destination: refused without auto-resize (and left unchanged), grown with */
    tbr_hdr small = make(1, 1000, 2), big = make(1, 1000000000, 2);
    tbr_hdr_record(&small, 10);
    tbr_hdr_record(&big, 500000000);
    tbr_hdr_record(&big, 20);
    assert_int_equal(tbr_hdr_merge(&small, &big), TB_EINVAL);
    assert_int_equal(tbr_hdr_total_count(&small), 1);
    assert_int_equal(tbr_hdr_max(&small), 10);
    tbr_hdr_set_auto_resize(&small, true);
    assert_int_equal(tbr_hdr_merge(&small, &big), TB_OK);
    assert_int_equal(tbr_hdr_total_count(&small), 3);
    assert_int_equal(tbr_hdr_max(&small), tbr_hdr_max(&big));
    assert_int_equal(tbr_hdr_min(&small), 10);
    /* a bigger destination takes a smaller source as is */
    tbr_hdr tiny = make(1, 100, 2);
    tbr_hdr_record(&tiny, 3);
    assert_int_equal(tbr_hdr_merge(&big, &tiny), TB_OK);
    assert_int_equal(tbr_hdr_min(&big), 3);
    assert_int_equal(tbr_hdr_total_count(&big), 3);
    /* other parameters: refused */
    tbr_hdr other = make(1, 1000000000, 3), unit = make(1024, 1000000000, 2);
    assert_int_equal(tbr_hdr_merge(&other, &big), TB_EINVAL);
    assert_int_equal(tbr_hdr_merge(&unit, &big), TB_EINVAL);
    tbr_hdr_fini(&small);
    tbr_hdr_fini(&big);
    tbr_hdr_fini(&tiny);
    tbr_hdr_fini(&other);
    tbr_hdr_fini(&unit);
}

static void test_reset(void **state) {
    tbr_hdr h = make(1, 100000, 3);
    for (uint64_t v = 1; v < 100; v++) tbr_hdr_record(&h, v);
    size_t len = h.counts_len;
    tbr_hdr_reset(&h);
    assert_int_equal(tbr_hdr_total_count(&h), 0);
    assert_int_equal(tbr_hdr_max(&h), 0);
    assert_int_equal(tbr_hdr_min(&h), 0);
    assert_int_equal(tbr_hdr_count_at(&h, 50), 0);
    assert_int_equal(h.counts_len, len);
    tbr_hdr_record(&h, 7);
    assert_int_equal(tbr_hdr_min(&h), 7);
    assert_int_equal(tbr_hdr_max(&h), 7);
    tbr_hdr_fini(&h);
}

static void test_extremes(void **state) {
    /* the whole uint64 range */
    tbr_hdr h = make(1, UINT64_MAX, 2);
    assert_int_equal(tbr_hdr_record(&h, 0), TB_OK);
    assert_int_equal(tbr_hdr_record(&h, UINT64_MAX), TB_OK);
    assert_int_equal(tbr_hdr_min(&h), 0);
    assert_true(tbr_hdr_max(&h) == UINT64_MAX);
    /* the top slot's end saturates one short, as in HdrHistogram's Rust port */
    assert_true(tbr_hdr_value_at_percentile(&h, 100) == UINT64_MAX - 1);
    assert_int_equal(tbr_hdr_value_at_percentile(&h, 50), 0);
    assert_true(tbr_hdr_mean(&h) > 9e18);
    tbr_hdr_fini(&h);

    /* above the range: refused without auto-resize, grown with it */
    h = make(1, 1000, 2);
    assert_int_equal(tbr_hdr_record(&h, 100000), TB_EINVAL);
    assert_int_equal(tbr_hdr_total_count(&h), 0);
    tbr_hdr_set_auto_resize(&h, true);
    assert_int_equal(tbr_hdr_record(&h, 100000), TB_OK);
    assert_int_equal(tbr_hdr_record(&h, UINT64_MAX), TB_OK);
    assert_true(h.highest == UINT64_MAX);
    assert_within(tbr_hdr_value_at_percentile(&h, 50), 100000, 2);
    tbr_hdr_fini(&h);

    /* counts saturate */
    h = make(1, 1000, 2);
    assert_int_equal(tbr_hdr_record_n(&h, 5, UINT64_MAX - 1), TB_OK);
    assert_int_equal(tbr_hdr_record_n(&h, 5, 10), TB_OK);
    assert_int_equal(tbr_hdr_record_n(&h, 6, 10), TB_OK);
    assert_true(tbr_hdr_total_count(&h) == UINT64_MAX);
    assert_true(tbr_hdr_count_at(&h, 5) == UINT64_MAX);
    assert_int_equal(tbr_hdr_record_n(&h, 9, 0), TB_OK); /* count 0: nothing */
    assert_int_equal(tbr_hdr_count_at(&h, 9), 0);
    assert_int_equal(tbr_hdr_max(&h), 6);
    tbr_hdr_fini(&h);

    /* odd quantiles: above 1 is 1, below 0 and NaN find the first value */
    h = make(1, 1000, 2);
    tbr_hdr_record(&h, 10);
    tbr_hdr_record(&h, 20);
    assert_int_equal(tbr_hdr_value_at_quantile(&h, 7.0), 20);
    assert_int_equal(tbr_hdr_value_at_quantile(&h, -1.0), 10);
    assert_int_equal(tbr_hdr_value_at_quantile(&h, NAN), 10);
    assert_int_equal(tbr_hdr_value_at_quantile(&h, INFINITY), 20);
    tbr_hdr_fini(&h);

    /* a lowest discernible value above 1: values below it share slot 0 */
    h = make(1000, 1000000000, 2);
    tbr_hdr_record(&h, 3);
    assert_int_equal(tbr_hdr_min(&h), 0); /* counted with 0 */
    tbr_hdr_record(&h, 5000);
    assert_int_equal(tbr_hdr_count_at(&h, 0), 1);
    assert_int_equal(tbr_hdr_max(&h), 5119); /* slots of 512 (2^9 <= 1000) up to 2^17 */
    tbr_hdr_fini(&h);
}

static void test_iter_recorded(void **state) {
    tbr_hdr h = make(1, 100000, 3);
    uint64_t vals[] = {5, 5, 7, 100, 3000};
    for (size_t i = 0; i < 5; i++) tbr_hdr_record(&h, vals[i]);
    tbr_hdr_iter it;
    tbr_hdr_iter_recorded(&it, &h);
    assert_true(tbr_hdr_iter_next(&it));
    assert_int_equal(it.value, 5);
    assert_int_equal(it.count_at_value, 2);
    assert_int_equal(it.cumulative, 2);
    assert_true(it.percentile == 40.0);
    assert_true(tbr_hdr_iter_next(&it));
    assert_int_equal(it.value, 7);
    assert_true(tbr_hdr_iter_next(&it));
    assert_int_equal(it.value, 100);
    assert_int_equal(it.count_since_last, 1);
    assert_true(tbr_hdr_iter_next(&it));
    assert_int_equal(it.value, 3001); /* the slot of 3000 is 3000..3001 */
    assert_int_equal(it.cumulative, 5);
    assert_true(it.percentile == 100.0);
    assert_false(tbr_hdr_iter_next(&it));
    assert_false(tbr_hdr_iter_next(&it));
    tbr_hdr_fini(&h);
}

static void test_iter_percentiles(void **state) {
    tbr_hdr h = make(1, 100000, 3);
    for (uint64_t v = 1; v <= 1000; v++) tbr_hdr_record(&h, v);
    tbr_hdr_iter it;
    tbr_hdr_iter_percentiles(&it, &h, 2);
    /* 0, 25, 50, 62.5, 75, 81.25, 87.5, ... then 100 at the last value */
    static const double levels[] = {0, 25, 50, 62.5, 75, 81.25, 87.5, 90.625, 93.75};
    static const uint64_t values[] = {1, 250, 500, 625, 750, 813, 875, 907, 938};
    for (size_t i = 0; i < sizeof levels / sizeof levels[0]; i++) {
        assert_true(tbr_hdr_iter_next(&it));
        if (it.percentile != levels[i]) fail_msg("step %zu: %g", i, it.percentile);
        assert_int_equal(it.value, values[i]);
        assert_int_equal(it.cumulative, values[i]);
    }
    double last = it.percentile;
    uint64_t steps = 0, seen = it.cumulative;
    while (tbr_hdr_iter_next(&it)) {
        assert_true(it.percentile > last);
        last = it.percentile;
        seen += it.count_since_last;
        steps++;
    }
    assert_true(last == 100.0);
    assert_int_equal(it.value, 1000);
    assert_int_equal(seen, 1000);
    assert_true(steps < 100);
    assert_false(tbr_hdr_iter_next(&it));

    /* one value: a step at 0 and one at 100 */
    tbr_hdr_reset(&h);
    tbr_hdr_record_n(&h, 42, 3);
    tbr_hdr_iter_percentiles(&it, &h, 0);
    assert_true(tbr_hdr_iter_next(&it));
    assert_true(it.percentile == 0.0);
    assert_int_equal(it.value, 42);
    assert_int_equal(it.count_since_last, 3);
    assert_true(tbr_hdr_iter_next(&it));
    assert_true(it.percentile == 100.0);
    assert_int_equal(it.value, 42);
    assert_int_equal(it.count_since_last, 0);
    assert_false(tbr_hdr_iter_next(&it));
    tbr_hdr_fini(&h);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parameters),
        cmocka_unit_test(test_zeroed_is_empty),
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_uniform_1_to_10000),
        cmocka_unit_test(test_exact_below_resolution_limit),
        cmocka_unit_test(test_tremor_reference),
        cmocka_unit_test(test_slots),
        cmocka_unit_test(test_coordinated_omission_counts),
        cmocka_unit_test(test_coordinated_omission_percentiles),
        cmocka_unit_test(test_merge),
        cmocka_unit_test(test_merge_ranges),
        cmocka_unit_test(test_reset),
        cmocka_unit_test(test_extremes),
        cmocka_unit_test(test_iter_recorded),
        cmocka_unit_test(test_iter_percentiles),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
