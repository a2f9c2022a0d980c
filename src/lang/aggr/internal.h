/*
 * internal.h - what the aggregate functions' modules (src/lang/aggr) share: the module
 * tables the registry walks, error reporting, numeric arguments.
 *
 * Thread contract: the tables are immutable static data; the helpers are reentrant.
 */
#ifndef TBR_LANG_AGGR_INTERNAL_H
#define TBR_LANG_AGGR_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <temblor/temblor.h>

#include "lang/aggr.h"

/* The module tables, each ending with an entry whose name is NULL: stats.c has the
 * moments (count, sum, mean, ...), hist.c the histogram-based ones of the same module. */
extern const tbr_aggr_fn tbr_aggr_stats[];
extern const tbr_aggr_fn tbr_aggr_stats_hist[];
extern const tbr_aggr_fn tbr_aggr_win[];

/* Formats the failure message into cx ("aggr::stats::sum: expected ...": callers pass the
 * qualified name first) and returns TB_EINVAL. */
int ag_error(tbr_aggr_ctx *cx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* "<fn>: out of memory"; returns TB_ENOMEM. */
int ag_oom(tbr_aggr_ctx *cx, const char *fn);

/* The error for an accumulate given no value argument: the parser checks the arity, so
 * only a caller that split off too many constant arguments gets it (the constant ones are
 * those from position max_args - const_args on). Returns TB_EINVAL. */
int ag_no_value(tbr_aggr_ctx *cx, const char *fn);

/* The number args[0] as a double; "<fn>: expected a number, found <type>" when it is not,
 * ag_no_value when argc is 0. */
int ag_number(tbr_aggr_ctx *cx, const char *fn, const tb_value *args, uint32_t argc,
              double *out);

/* An integer result: int, and uint only above INT64_MAX (the value model's convention). */
static inline tb_value ag_uint(uint64_t u) {
    return u <= (uint64_t)INT64_MAX ? tb_i64((int64_t)u) : tb_u64(u);
}

#endif
