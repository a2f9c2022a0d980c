/*
 * hdr.h - an HDR ("high dynamic range") histogram: counts of unsigned integer values over a
 * configurable range, at a configurable number of significant decimal digits, in constant
 * memory, with constant-time recording. The layout and the read-outs follow Gil Tene's
 * HdrHistogram (and its Rust port, which Tremor's aggr::stats::hdr is built on), so the same
 * samples give the same percentiles, mean and standard deviation.
 *
 * Layout: values are kept in "buckets" of 2^(k + unit magnitude) resolution, each split into
 * sub-buckets; every value up to 2 * 10^sigfigs (times the lowest discernible value) is
 * counted exactly, and above that every value shares its slot with values at most
 * 10^-sigfigs relatively away. The slot of a value depends only on (lowest, sigfigs), never
 * on the highest trackable value, which is what makes growing (auto-resize) and merging a
 * matter of extending and adding count arrays.
 *
 * Ownership: a tbr_hdr is a plain struct the caller embeds or allocates; tbr_hdr_init
 * mallocs its one counts array and tbr_hdr_fini frees it. A zero-filled tbr_hdr that was
 * never initialised reads as an empty histogram (every read-out gives 0) and may be passed
 * to tbr_hdr_fini, so an owner may initialise lazily, on its first record.
 *
 * Thread contract: not thread-safe. A histogram has one owner at a time; reads may run
 * concurrently with each other but not with a record, merge, reset or fini.
 */
#ifndef TBR_CORE_HDR_H
#define TBR_CORE_HDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The fields are internal; use the functions. */
typedef struct tbr_hdr {
    uint64_t lowest;               /* lowest discernible value, >= 1 */
    uint64_t highest;              /* highest trackable value (grows when auto_resize) */
    int sigfigs;                   /* 1..5 */
    bool auto_resize;
    uint8_t unit_magnitude;        /* floor(log2(lowest)) */
    uint8_t sub_bucket_half_count_magnitude;
    uint8_t leading_zero_count_base;
    uint32_t sub_bucket_count;
    uint32_t sub_bucket_half_count;
    uint64_t sub_bucket_mask;
    uint64_t unit_magnitude_mask;
    uint64_t *counts;              /* counts_len slots, malloc'd */
    size_t counts_len;
    uint64_t total_count;          /* saturates at UINT64_MAX */
    uint64_t max_value;            /* largest value recorded (unit-rounded up), 0 if none */
    uint64_t min_non_zero_value;   /* smallest non-zero value recorded, UINT64_MAX if none */
} tbr_hdr;

/* Initialises h to count values with `sigfigs` significant decimal digits (1..5) from
 * `lowest` (>= 1; values below it are counted with the resolution of lowest) up to
 * `highest` (>= 2 * lowest; may be UINT64_MAX). Returns TB_OK, TB_EINVAL for bad
 * parameters, TB_ENOMEM. On failure h is left zero-filled (empty, safe to fini). */
int tbr_hdr_init(tbr_hdr *h, uint64_t lowest, uint64_t highest, int sigfigs);

/* Frees the counts array and zero-fills h. NULL and never-initialised histograms are fine. */
void tbr_hdr_fini(tbr_hdr *h);

/* With auto-resize on, a value above the highest trackable one grows the counts array
 * instead of failing (off by default). */
void tbr_hdr_set_auto_resize(tbr_hdr *h, bool on);

/* Records value once, or count times. Returns TB_OK; TB_EINVAL when value is above the
 * highest trackable value and auto-resize is off, or h was never initialised (nothing is
 * recorded); TB_ENOMEM when growing failed. A count of 0 records nothing. Counts saturate
 * instead of wrapping. */
int tbr_hdr_record(tbr_hdr *h, uint64_t value);
int tbr_hdr_record_n(tbr_hdr *h, uint64_t value, uint64_t count);

/* Records value, correcting for coordinated omission as HdrHistogram's
 * recordValueWithExpectedInterval does: a measurement that took longer than the expected
 * interval between samples hid the samples that should have been taken meanwhile, so
 * value - interval, value - 2 * interval, ... down to (and including) the last one still
 * >= interval are recorded too. expected_interval 0 disables the correction. On an error
 * from a later record, what was recorded before it stays. */
int tbr_hdr_record_corrected(tbr_hdr *h, uint64_t value, uint64_t expected_interval);
int tbr_hdr_record_corrected_n(tbr_hdr *h, uint64_t value, uint64_t count,
                               uint64_t expected_interval);

/* Adds every count of src into dst. Both must have the same lowest (to the power of two)
 * and sigfigs (TB_EINVAL otherwise). When src holds values above what dst can track, dst
 * grows if it auto-resizes, else TB_EINVAL and dst is unchanged. TB_ENOMEM when growing
 * failed (dst unchanged). src may be empty or never initialised. */
int tbr_hdr_merge(tbr_hdr *dst, const tbr_hdr *src);

/* Forgets every recorded value; keeps the configuration and the memory. */
void tbr_hdr_reset(tbr_hdr *h);

/* ---- read-outs (all 0 on an empty histogram) ------------------------------------------ */

uint64_t tbr_hdr_total_count(const tbr_hdr *h);
/* The smallest recorded value, as the lowest value equivalent to it (0 if 0 was recorded). */
uint64_t tbr_hdr_min(const tbr_hdr *h);
/* The largest recorded value, as the highest value equivalent to it. */
uint64_t tbr_hdr_max(const tbr_hdr *h);
/* Mean and population standard deviation, each value counted at the middle of its slot. */
double tbr_hdr_mean(const tbr_hdr *h);
double tbr_hdr_stdev(const tbr_hdr *h);

/* The value that the fraction q (0..1; above 1 counts as 1) of the recorded values are
 * smaller than or equivalent to: the highest value of the slot where the running count
 * reaches ceil(q * total) (at least 1); for q == 0 the lowest value of the first slot. */
uint64_t tbr_hdr_value_at_quantile(const tbr_hdr *h, double q);
/* The same with a percentile 0..100: value_at_quantile(percentile / 100). */
uint64_t tbr_hdr_value_at_percentile(const tbr_hdr *h, double percentile);

/* The number of recorded values equivalent to value. */
uint64_t tbr_hdr_count_at(const tbr_hdr *h, uint64_t value);

/* The slot of value: its lowest and highest equivalent values, its middle (rounded up),
 * and the number of values sharing it. Meaningful only on an initialised histogram. */
uint64_t tbr_hdr_lowest_equivalent(const tbr_hdr *h, uint64_t value);
uint64_t tbr_hdr_highest_equivalent(const tbr_hdr *h, uint64_t value);
uint64_t tbr_hdr_median_equivalent(const tbr_hdr *h, uint64_t value);
uint64_t tbr_hdr_equivalent_range(const tbr_hdr *h, uint64_t value);

/* ---- iteration ----------------------------------------------------------------------------
 *
 *   tbr_hdr_iter it;
 *   tbr_hdr_iter_percentiles(&it, h, 5);
 *   while (tbr_hdr_iter_next(&it))
 *       printf("%llu %f %llu\n", it.value, it.percentile, it.cumulative);
 *
 * The histogram must not change during an iteration.
 */
typedef struct tbr_hdr_iter {
    /* valid after tbr_hdr_iter_next returned true */
    uint64_t value;            /* the highest value of the slot reached */
    double percentile;         /* recorded: 100 * cumulative / total;
                                  percentiles: the percentile level stepped to (0..100) */
    uint64_t count_at_value;   /* the count of that slot */
    uint64_t count_since_last; /* counts passed since the previous step */
    uint64_t cumulative;       /* the count of every value up to this slot, included */
    /* internal */
    const tbr_hdr *h;
    size_t index;
    bool started;
    bool percentiles;
    bool done;
    uint32_t ticks;
    double quantile_to;
    uint64_t prev_cumulative;
} tbr_hdr_iter;

/* Every slot with a count, in increasing value order. */
void tbr_hdr_iter_recorded(tbr_hdr_iter *it, const tbr_hdr *h);

/* The percentile distribution, as HdrHistogram prints it: steps at percentile levels
 * 0, then ticks_per_half_distance (>= 1; 0 counts as 1) equal steps in each half of the
 * remaining distance to 100 (so 0, 25, 50, 62.5, 75, ... with 2), each reporting the first
 * slot at or past the level; once the last slot is reached the iteration ends with a step
 * at 100. Nothing for an empty histogram. */
void tbr_hdr_iter_percentiles(tbr_hdr_iter *it, const tbr_hdr *h, uint32_t ticks_per_half_distance);

bool tbr_hdr_iter_next(tbr_hdr_iter *it);

#endif
