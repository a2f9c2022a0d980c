/*
 * bench_hdr.h - the runtime's HDR histogram (src/core/hdr.h, documented there) as the bench
 * plugin compiles it in: every public tbr_hdr_* function renamed bench_hdr_*.
 *
 * Why: a plugin links no runtime symbol, so it cannot call the runtime's copy; and when
 * plugins are linked into the temblor binary (TEMBLOR_STATIC_PLUGINS) a second definition of
 * tbr_hdr_init & co. would clash with the runtime's at link time. Renaming with the
 * preprocessor keeps one source of truth (bench_hdr.c compiles src/core/hdr.c itself) and
 * lets bench.c use the names hdr.h documents. Should hdr.c grow a public function not listed
 * here, the static build fails with a duplicate symbol, which is the signal to add it.
 *
 * Include this instead of core/hdr.h. Ownership and thread contract: as hdr.h (tbr_hdr_init
 * mallocs the counts array; tbr_hdr_fini frees it; one owner at a time).
 */
#ifndef TBP_BENCH_HDR_H
#define TBP_BENCH_HDR_H

#define tbr_hdr_init bench_hdr_init
#define tbr_hdr_fini bench_hdr_fini
#define tbr_hdr_set_auto_resize bench_hdr_set_auto_resize
#define tbr_hdr_record bench_hdr_record
#define tbr_hdr_record_n bench_hdr_record_n
#define tbr_hdr_record_corrected bench_hdr_record_corrected
#define tbr_hdr_record_corrected_n bench_hdr_record_corrected_n
#define tbr_hdr_merge bench_hdr_merge
#define tbr_hdr_reset bench_hdr_reset
#define tbr_hdr_total_count bench_hdr_total_count
#define tbr_hdr_min bench_hdr_min
#define tbr_hdr_max bench_hdr_max
#define tbr_hdr_mean bench_hdr_mean
#define tbr_hdr_stdev bench_hdr_stdev
#define tbr_hdr_value_at_quantile bench_hdr_value_at_quantile
#define tbr_hdr_value_at_percentile bench_hdr_value_at_percentile
#define tbr_hdr_count_at bench_hdr_count_at
#define tbr_hdr_lowest_equivalent bench_hdr_lowest_equivalent
#define tbr_hdr_highest_equivalent bench_hdr_highest_equivalent
#define tbr_hdr_median_equivalent bench_hdr_median_equivalent
#define tbr_hdr_equivalent_range bench_hdr_equivalent_range
#define tbr_hdr_iter_recorded bench_hdr_iter_recorded
#define tbr_hdr_iter_percentiles bench_hdr_iter_percentiles
#define tbr_hdr_iter_next bench_hdr_iter_next

#include "core/hdr.h"

#endif
