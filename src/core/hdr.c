/*
 * hdr.c - the HDR histogram of hdr.h.
 *
 * Index arithmetic (as in HdrHistogram): bucket k holds values of 2^(k + unit_magnitude)
 * resolution; bucket 0 uses all sub_bucket_count sub-buckets, every later bucket only its
 * top half (its bottom half is what the buckets below already cover). The counts array is
 * thus (bucket_count + 1) * sub_bucket_half_count slots, and the slot of a value is a few
 * shifts away, independent of bucket_count.
 *
 * Ownership and threads: see hdr.h. The read-outs reproduce the Rust hdrhistogram crate's
 * arithmetic step for step (same folds, same order of floating-point operations), because
 * Tremor's outputs are defined by it.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <temblor/temblor.h>

#include "core/hdr.h"

#define ORIGINAL_MIN UINT64_MAX
#define ORIGINAL_MAX 0u

/* ---- helpers ------------------------------------------------------------------------------ */

static uint64_t sat_add(uint64_t a, uint64_t b) { return a > UINT64_MAX - b ? UINT64_MAX : a + b; }

static unsigned clz64(uint64_t v) { return v ? (unsigned)__builtin_clzll(v) : 64u; }

/* A double as uint64 the way Rust's `as` converts: NaN and negatives give 0, too large
 * gives UINT64_MAX (a plain C cast would be undefined there). */
static uint64_t f64_to_u64(double d) {
    if (!(d > 0)) return 0;
    if (d >= 18446744073709551616.0) return UINT64_MAX;
    return (uint64_t)d;
}

/* ---- index arithmetic -------------------------------------------------------------------- */

static unsigned bucket_for(const tbr_hdr *h, uint64_t value) {
    /* powers of two by which value exceeds the largest value of bucket 0; the mask keeps
     * small values in bucket 0 */
    return h->leading_zero_count_base - clz64(value | h->sub_bucket_mask);
}

static uint32_t sub_bucket_for(const tbr_hdr *h, uint64_t value, unsigned bucket) {
    return (uint32_t)(value >> (bucket + h->unit_magnitude));
}

static uint64_t value_from_loc(const tbr_hdr *h, unsigned bucket, uint32_t sub_bucket) {
    return (uint64_t)sub_bucket << (bucket + h->unit_magnitude);
}

static size_t index_for(const tbr_hdr *h, uint64_t value) {
    unsigned bucket = bucket_for(h, value);
    uint32_t sub = sub_bucket_for(h, value, bucket);
    /* bucket 0's bottom half lands below its base: base is half a bucket in */
    size_t base = (size_t)(bucket + 1) << h->sub_bucket_half_count_magnitude;
    return base + sub - h->sub_bucket_half_count;
}

/* The lowest value counted at index. */
static uint64_t value_for(const tbr_hdr *h, size_t index) {
    long bucket = (long)(index >> h->sub_bucket_half_count_magnitude) - 1;
    uint32_t sub = (uint32_t)(index & (h->sub_bucket_half_count - 1)) + h->sub_bucket_half_count;
    if (bucket < 0) { /* the bottom half of bucket 0 */
        sub -= h->sub_bucket_half_count;
        bucket = 0;
    }
    return value_from_loc(h, (unsigned)bucket, sub);
}

uint64_t tbr_hdr_lowest_equivalent(const tbr_hdr *h, uint64_t value) {
    unsigned bucket = bucket_for(h, value);
    return value_from_loc(h, bucket, sub_bucket_for(h, value, bucket));
}

uint64_t tbr_hdr_equivalent_range(const tbr_hdr *h, uint64_t value) {
    return (uint64_t)1 << (h->unit_magnitude + bucket_for(h, value));
}

uint64_t tbr_hdr_highest_equivalent(const tbr_hdr *h, uint64_t value) {
    if (value == UINT64_MAX) return UINT64_MAX;
    uint64_t next = sat_add(tbr_hdr_lowest_equivalent(h, value), tbr_hdr_equivalent_range(h, value));
    return next - 1;
}

uint64_t tbr_hdr_median_equivalent(const tbr_hdr *h, uint64_t value) {
    return tbr_hdr_lowest_equivalent(h, value) + (tbr_hdr_equivalent_range(h, value) >> 1);
}

/* Buckets needed so that value has a slot. */
static unsigned buckets_to_cover(const tbr_hdr *h, uint64_t value) {
    uint64_t smallest_untrackable = (uint64_t)h->sub_bucket_count << h->unit_magnitude;
    unsigned buckets = 1;
    while (smallest_untrackable <= value) {
        /* the next shift would overflow: one more bucket reaches UINT64_MAX */
        if (smallest_untrackable > UINT64_MAX / 2) return buckets + 1;
        smallest_untrackable <<= 1;
        buckets++;
    }
    return buckets;
}

/* Grows (never shrinks) the counts array to cover high, zero-filling the new slots. */
static int resize(tbr_hdr *h, uint64_t high) {
    size_t len = (size_t)(buckets_to_cover(h, high) + 1) * h->sub_bucket_half_count;
    if (len > h->counts_len) {
        uint64_t *c = realloc(h->counts, len * sizeof *c);
        if (!c) return TB_ENOMEM;
        memset(c + h->counts_len, 0, (len - h->counts_len) * sizeof *c);
        h->counts = c;
        h->counts_len = len;
    }
    h->highest = tbr_hdr_highest_equivalent(h, value_for(h, h->counts_len - 1));
    if (h->highest < high) h->highest = high;
    return TB_OK;
}

/* ---- life cycle -------------------------------------------------------------------------- */

/* ceil(log2(2 * 10^sigfigs)): sub-buckets enough for unit resolution up to that value */
static unsigned sub_bucket_count_magnitude(int sigfigs) {
    uint64_t largest = 2;
    for (int i = 0; i < sigfigs; i++) largest *= 10;
    unsigned m = 0;
    while (((uint64_t)1 << m) < largest) m++;
    return m;
}

int tbr_hdr_init(tbr_hdr *h, uint64_t lowest, uint64_t highest, int sigfigs) {
    memset(h, 0, sizeof *h);
    if (lowest < 1 || lowest > UINT64_MAX / 2 || highest < 2 * lowest || sigfigs < 1 ||
        sigfigs > 5)
        return TB_EINVAL;
    unsigned unit = 63u - clz64(lowest);
    unsigned sbcm = sub_bucket_count_magnitude(sigfigs);
    /* the sub-buckets, shifted by the unit, must fit in 63 bits */
    if (unit + sbcm > 63) return TB_EINVAL;
    h->lowest = lowest;
    h->sigfigs = sigfigs;
    h->unit_magnitude = (uint8_t)unit;
    h->unit_magnitude_mask = ((uint64_t)1 << unit) - 1;
    h->sub_bucket_half_count_magnitude = (uint8_t)(sbcm - 1);
    h->sub_bucket_count = (uint32_t)1 << sbcm;
    h->sub_bucket_half_count = h->sub_bucket_count / 2;
    h->sub_bucket_mask = ((uint64_t)h->sub_bucket_count - 1) << unit;
    h->leading_zero_count_base = (uint8_t)(64 - unit - sbcm);
    h->max_value = ORIGINAL_MAX;
    h->min_non_zero_value = ORIGINAL_MIN;
    int rc = resize(h, highest);
    if (rc != TB_OK) memset(h, 0, sizeof *h);
    return rc;
}

void tbr_hdr_fini(tbr_hdr *h) {
    if (!h) return;
    free(h->counts);
    memset(h, 0, sizeof *h);
}

void tbr_hdr_set_auto_resize(tbr_hdr *h, bool on) { h->auto_resize = on; }

void tbr_hdr_reset(tbr_hdr *h) {
    if (h->counts) memset(h->counts, 0, h->counts_len * sizeof *h->counts);
    h->total_count = 0;
    h->max_value = ORIGINAL_MAX;
    h->min_non_zero_value = ORIGINAL_MIN;
}

/* ---- recording --------------------------------------------------------------------------- */

/* min and max are kept unit-rounded (as HdrHistogram does) so that a value below the unit
 * does not pass for a non-zero minimum */
static void update_min_max(tbr_hdr *h, uint64_t value) {
    uint64_t up = value | h->unit_magnitude_mask;
    if (up > h->max_value) h->max_value = up;
    if (value != 0 && value > h->unit_magnitude_mask) {
        uint64_t down = value & ~h->unit_magnitude_mask;
        if (down < h->min_non_zero_value) h->min_non_zero_value = down;
    }
}

int tbr_hdr_record_n(tbr_hdr *h, uint64_t value, uint64_t count) {
    if (!h->counts) return TB_EINVAL; /* never initialised */
    if (count == 0) return TB_OK;
    size_t i = index_for(h, value);
    if (i >= h->counts_len) {
        if (!h->auto_resize) return TB_EINVAL;
        int rc = resize(h, value);
        if (rc != TB_OK) return rc;
    }
    h->counts[i] = sat_add(h->counts[i], count);
    h->total_count = sat_add(h->total_count, count);
    update_min_max(h, value);
    return TB_OK;
}

int tbr_hdr_record(tbr_hdr *h, uint64_t value) { return tbr_hdr_record_n(h, value, 1); }

int tbr_hdr_record_corrected_n(tbr_hdr *h, uint64_t value, uint64_t count,
                               uint64_t expected_interval) {
    int rc = tbr_hdr_record_n(h, value, count);
    if (rc != TB_OK || expected_interval == 0 || value <= expected_interval) return rc;
    for (uint64_t missing = value - expected_interval; missing >= expected_interval;
         missing -= expected_interval) {
        rc = tbr_hdr_record_n(h, missing, count);
        if (rc != TB_OK) return rc;
    }
    return TB_OK;
}

int tbr_hdr_record_corrected(tbr_hdr *h, uint64_t value, uint64_t expected_interval) {
    return tbr_hdr_record_corrected_n(h, value, 1, expected_interval);
}

int tbr_hdr_merge(tbr_hdr *dst, const tbr_hdr *src) {
    if (src->total_count == 0) return TB_OK;
    if (!dst->counts || dst->unit_magnitude != src->unit_magnitude ||
        dst->sub_bucket_count != src->sub_bucket_count)
        return TB_EINVAL;
    /* the slots of src from its last non-zero one down; dst must have them all */
    size_t last = src->counts_len;
    while (last > 0 && src->counts[last - 1] == 0) last--;
    if (last > dst->counts_len) {
        if (!dst->auto_resize) return TB_EINVAL;
        int rc = resize(dst, value_for(src, last - 1));
        if (rc != TB_OK) return rc;
    }
    for (size_t i = 0; i < last; i++)
        if (src->counts[i]) dst->counts[i] = sat_add(dst->counts[i], src->counts[i]);
    dst->total_count = sat_add(dst->total_count, src->total_count);
    if (src->max_value > dst->max_value) dst->max_value = src->max_value;
    if (src->min_non_zero_value < dst->min_non_zero_value)
        dst->min_non_zero_value = src->min_non_zero_value;
    return TB_OK;
}

/* ---- read-outs --------------------------------------------------------------------------- */

uint64_t tbr_hdr_total_count(const tbr_hdr *h) { return h->total_count; }

uint64_t tbr_hdr_min(const tbr_hdr *h) {
    /* a recorded 0 is the minimum; else the smallest non-zero value */
    if (h->total_count == 0 || h->counts[0] != 0) return 0;
    return tbr_hdr_lowest_equivalent(h, h->min_non_zero_value);
}

uint64_t tbr_hdr_max(const tbr_hdr *h) {
    if (h->total_count == 0 || h->max_value == ORIGINAL_MAX) return 0;
    return tbr_hdr_highest_equivalent(h, h->max_value);
}

double tbr_hdr_mean(const tbr_hdr *h) {
    if (h->total_count == 0) return 0.0;
    /* each slot weighted by count / total as it goes, as the Rust crate folds it, so the
     * result is bit-identical to Tremor's */
    double total = 0.0;
    for (size_t i = 0; i < h->counts_len; i++) {
        if (!h->counts[i]) continue;
        double mid = (double)tbr_hdr_median_equivalent(h, value_for(h, i));
        total = total + mid * (double)h->counts[i] / (double)h->total_count;
    }
    return total;
}

double tbr_hdr_stdev(const tbr_hdr *h) {
    if (h->total_count == 0) return 0.0;
    double mean = tbr_hdr_mean(h);
    double dev_total = 0.0;
    for (size_t i = 0; i < h->counts_len; i++) {
        if (!h->counts[i]) continue;
        double dev = (double)tbr_hdr_median_equivalent(h, value_for(h, i)) - mean;
        dev_total = dev_total + (dev * dev) * (double)h->counts[i];
    }
    return sqrt(dev_total / (double)h->total_count);
}

uint64_t tbr_hdr_value_at_quantile(const tbr_hdr *h, double q) {
    if (q > 1.0) q = 1.0;
    /* part-way into the next count means that count; at least the first value */
    uint64_t want = f64_to_u64(ceil(q * (double)h->total_count));
    if (want == 0) want = 1;
    uint64_t running = 0;
    for (size_t i = 0; i < h->counts_len; i++) {
        running = sat_add(running, h->counts[i]);
        if (running >= want) {
            uint64_t v = value_for(h, i);
            return q == 0.0 ? tbr_hdr_lowest_equivalent(h, v) : tbr_hdr_highest_equivalent(h, v);
        }
    }
    return 0;
}

uint64_t tbr_hdr_value_at_percentile(const tbr_hdr *h, double percentile) {
    return tbr_hdr_value_at_quantile(h, percentile / 100.0);
}

uint64_t tbr_hdr_count_at(const tbr_hdr *h, uint64_t value) {
    if (!h->counts) return 0;
    size_t i = index_for(h, value);
    return i < h->counts_len ? h->counts[i] : 0;
}

/* ---- iteration --------------------------------------------------------------------------- */

static void iter_start(tbr_hdr_iter *it, const tbr_hdr *h) {
    memset(it, 0, sizeof *it);
    it->h = h;
    it->done = h->total_count == 0;
}

void tbr_hdr_iter_recorded(tbr_hdr_iter *it, const tbr_hdr *h) { iter_start(it, h); }

void tbr_hdr_iter_percentiles(tbr_hdr_iter *it, const tbr_hdr *h, uint32_t ticks_per_half_distance) {
    iter_start(it, h);
    it->percentiles = true;
    it->ticks = ticks_per_half_distance ? ticks_per_half_distance : 1;
}

/* Moves to the next slot with a count; false past the end (or when everything counted was
 * passed, which also guards against a total that saturated). */
static bool advance(tbr_hdr_iter *it) {
    const tbr_hdr *h = it->h;
    size_t i = it->started ? it->index + 1 : 0;
    if (it->started && it->cumulative >= h->total_count) return false;
    while (i < h->counts_len && h->counts[i] == 0) i++;
    if (i >= h->counts_len) return false;
    it->started = true;
    it->index = i;
    it->cumulative = sat_add(it->cumulative, h->counts[i]);
    return true;
}

static void fill_step(tbr_hdr_iter *it) {
    const tbr_hdr *h = it->h;
    it->value = tbr_hdr_highest_equivalent(h, value_for(h, it->index));
    it->count_at_value = h->counts[it->index];
    it->count_since_last = it->cumulative - it->prev_cumulative;
    it->prev_cumulative = it->cumulative;
}

/* The next percentile level: ticks equal steps per half of the distance left to 100%. */
static double next_level(const tbr_hdr_iter *it) {
    double q = it->quantile_to;
    unsigned halvings = (unsigned)log2(1.0 / (1.0 - q));
    if (halvings > 60) return 1.0;
    double total_ticks = (double)it->ticks * (double)((uint64_t)1 << (halvings + 1));
    double next = q + 1.0 / total_ticks;
    /* the step no longer moves a double this close to 1 */
    return next == q || next > 1.0 ? 1.0 : next;
}

static bool next_percentile(tbr_hdr_iter *it) {
    const tbr_hdr *h = it->h;
    for (;;) {
        if (it->started) {
            double reached = (double)it->cumulative / (double)h->total_count;
            if (reached >= it->quantile_to) {
                fill_step(it);
                it->percentile = 100.0 * it->quantile_to;
                if (it->quantile_to >= 1.0)
                    it->done = true;
                else if (it->cumulative >= h->total_count)
                    it->quantile_to = 1.0; /* the last slot: the remaining levels are all it */
                else
                    it->quantile_to = next_level(it);
                return true;
            }
        }
        if (!advance(it)) {
            it->done = true;
            return false;
        }
    }
}

bool tbr_hdr_iter_next(tbr_hdr_iter *it) {
    if (it->done) return false;
    if (it->percentiles) return next_percentile(it);
    if (!advance(it)) {
        it->done = true;
        return false;
    }
    fill_step(it);
    it->percentile = 100.0 * (double)it->cumulative / (double)it->h->total_count;
    return true;
}
