/*
 * stats.c - aggr::stats::{count, sum, mean, min, max, var, stdev}: moments of the values of a
 * window, as Tremor 0.13 defines them (tremor-script/src/std_lib/stats.rs):
 *
 *   count()   -> int    events seen; 0 for an empty window
 *   sum(n)    -> float  always a float (1 + 2 gives 3.0); 0.0 when empty
 *   mean(n)   -> float  null when empty
 *   min(n), max(n) -> float   0.0 when empty
 *   var(n)    -> float  sample variance (n - 1 in the denominator); 0.0 when empty, NaN for
 *                       a single value (0 / 0, as in Tremor)
 *   stdev(n)  -> float  the square root of var
 *
 * A value that is not a number (int, uint or float) fails the event with
 * "aggr::stats::<name>: expected a number, found <type>".
 *
 * Merging (tilt frames) combines states so that the result equals accumulating both
 * windows' values. Tremor's merge differs in two corner cases that are bugs there: min of an
 * empty state merged with a full one stays empty, and var adds the shift constants of both
 * states (right only when both first values were equal); here both are exact.
 *
 * States are plain numbers: no memory is owned, fini is NULL. Thread contract: aggr.h.
 */
#include <math.h>
#include <string.h>

#include "lang/aggr/internal.h"

/* ---- count ------------------------------------------------------------------------------- */

typedef struct {
    int64_t n;
} count_state;

static int count_init(tbr_aggr_ctx *cx, void *st, const tb_value *c, uint32_t nc) {
    memset(st, 0, sizeof(count_state));
    return TB_OK;
}

static int count_accumulate(tbr_aggr_ctx *cx, void *st, const tb_value *args, uint32_t argc) {
    ((count_state *)st)->n++;
    return TB_OK;
}

static int count_merge(tbr_aggr_ctx *cx, void *st, const void *other) {
    ((count_state *)st)->n += ((const count_state *)other)->n;
    return TB_OK;
}

static int count_emit(tbr_aggr_ctx *cx, const void *st, tb_value *out) {
    *out = tb_i64(((const count_state *)st)->n);
    return TB_OK;
}

/* ---- sum --------------------------------------------------------------------------------- */

typedef struct {
    double sum;
} sum_state;

static int sum_init(tbr_aggr_ctx *cx, void *st, const tb_value *c, uint32_t nc) {
    memset(st, 0, sizeof(sum_state));
    return TB_OK;
}

static int sum_accumulate(tbr_aggr_ctx *cx, void *st, const tb_value *args, uint32_t argc) {
    double v;
    int rc = ag_number(cx, "aggr::stats::sum", args, argc, &v);
    if (rc == TB_OK) ((sum_state *)st)->sum += v;
    return rc;
}

static int sum_merge(tbr_aggr_ctx *cx, void *st, const void *other) {
    ((sum_state *)st)->sum += ((const sum_state *)other)->sum;
    return TB_OK;
}

static int sum_emit(tbr_aggr_ctx *cx, const void *st, tb_value *out) {
    *out = tb_f64(((const sum_state *)st)->sum);
    return TB_OK;
}

/* ---- mean -------------------------------------------------------------------------------- */

typedef struct {
    int64_t n;
    double sum;
} mean_state;

static int mean_init(tbr_aggr_ctx *cx, void *st, const tb_value *c, uint32_t nc) {
    memset(st, 0, sizeof(mean_state));
    return TB_OK;
}

static int mean_accumulate(tbr_aggr_ctx *cx, void *st, const tb_value *args, uint32_t argc) {
    mean_state *s = st;
    double v;
    int rc = ag_number(cx, "aggr::stats::mean", args, argc, &v);
    if (rc != TB_OK) return rc;
    s->n++;
    s->sum += v;
    return TB_OK;
}

static int mean_merge(tbr_aggr_ctx *cx, void *st, const void *other) {
    mean_state *s = st;
    const mean_state *o = other;
    s->n += o->n;
    s->sum += o->sum;
    return TB_OK;
}

static int mean_emit(tbr_aggr_ctx *cx, const void *st, tb_value *out) {
    const mean_state *s = st;
    /* the mean of nothing is undefined: null, as in Tremor */
    *out = s->n ? tb_f64(s->sum / (double)s->n) : tb_null();
    return TB_OK;
}

/* ---- min and max ------------------------------------------------------------------------- */

typedef struct {
    bool has;
    double v;
} extreme_state;

static int extreme_init(tbr_aggr_ctx *cx, void *st, const tb_value *c, uint32_t nc) {
    memset(st, 0, sizeof(extreme_state));
    return TB_OK;
}

/* Keeps v when it beats the current extreme; comparisons with NaN are false, so a NaN only
 * ever stays when it came first (as in Tremor). */
static void extreme_offer(extreme_state *s, double v, bool want_max) {
    if (!s->has || (want_max ? v > s->v : v < s->v)) {
        s->v = v;
        s->has = true;
    }
}

static int min_accumulate(tbr_aggr_ctx *cx, void *st, const tb_value *args, uint32_t argc) {
    double v;
    int rc = ag_number(cx, "aggr::stats::min", args, argc, &v);
    if (rc == TB_OK) extreme_offer(st, v, false);
    return rc;
}

static int max_accumulate(tbr_aggr_ctx *cx, void *st, const tb_value *args, uint32_t argc) {
    double v;
    int rc = ag_number(cx, "aggr::stats::max", args, argc, &v);
    if (rc == TB_OK) extreme_offer(st, v, true);
    return rc;
}

static int min_merge(tbr_aggr_ctx *cx, void *st, const void *other) {
    const extreme_state *o = other;
    if (o->has) extreme_offer(st, o->v, false);
    return TB_OK;
}

static int max_merge(tbr_aggr_ctx *cx, void *st, const void *other) {
    const extreme_state *o = other;
    if (o->has) extreme_offer(st, o->v, true);
    return TB_OK;
}

static int extreme_emit(tbr_aggr_ctx *cx, const void *st, tb_value *out) {
    const extreme_state *s = st;
    *out = tb_f64(s->has ? s->v : 0.0);
    return TB_OK;
}

/* ---- var and stdev ----------------------------------------------------------------------- */

/* Sums of (v - k) and (v - k)^2 with k the first value: the shift keeps the textbook
 * formula (ex2 - ex^2 / n) / (n - 1) from cancelling catastrophically when the values are
 * large and close together. Same arithmetic as Tremor, so the same results. */
typedef struct {
    uint64_t n;
    double k;
    double ex;
    double ex2;
} var_state;

static int var_init(tbr_aggr_ctx *cx, void *st, const tb_value *c, uint32_t nc) {
    memset(st, 0, sizeof(var_state));
    return TB_OK;
}

static void var_add(var_state *s, double v) {
    if (s->n == 0) s->k = v;
    s->n++;
    s->ex += v - s->k;
    s->ex2 += (v - s->k) * (v - s->k);
}

static int var_accumulate(tbr_aggr_ctx *cx, void *st, const tb_value *args, uint32_t argc) {
    double v;
    int rc = ag_number(cx, "aggr::stats::var", args, argc, &v);
    if (rc == TB_OK) var_add(st, v);
    return rc;
}

static int stdev_accumulate(tbr_aggr_ctx *cx, void *st, const tb_value *args, uint32_t argc) {
    double v;
    int rc = ag_number(cx, "aggr::stats::stdev", args, argc, &v);
    if (rc == TB_OK) var_add(st, v);
    return rc;
}

/* Re-bases other's sums on this state's shift: with d = k_other - k,
 * sum(v - k) = ex_o + n_o d and sum((v - k)^2) = ex2_o + 2 d ex_o + n_o d^2. */
static int var_merge(tbr_aggr_ctx *cx, void *st, const void *other) {
    var_state *s = st;
    const var_state *o = other;
    if (o->n == 0) return TB_OK;
    if (s->n == 0) {
        *s = *o;
        return TB_OK;
    }
    double d = o->k - s->k;
    double n = (double)o->n;
    s->ex += o->ex + n * d;
    s->ex2 += o->ex2 + 2.0 * d * o->ex + n * d * d;
    s->n += o->n;
    return TB_OK;
}

static double var_value(const var_state *s) {
    if (s->n == 0) return 0.0;
    /* one value: 0 / 0 in Tremor's formula; spelled out so no division by zero is done */
    if (s->n == 1) return NAN;
    double n = (double)s->n;
    return (s->ex2 - (s->ex * s->ex) / n) / (n - 1.0);
}

static int var_emit(tbr_aggr_ctx *cx, const void *st, tb_value *out) {
    *out = tb_f64(var_value(st));
    return TB_OK;
}

static int stdev_emit(tbr_aggr_ctx *cx, const void *st, tb_value *out) {
    *out = tb_f64(sqrt(var_value(st)));
    return TB_OK;
}

/* ---- the table --------------------------------------------------------------------------- */

#define AGGR(nm, lo, hi, type, init, acc, merge, emit, sig, doc)                            \
    {"stats", nm, lo, hi, sizeof(type), 0, init, acc, merge, emit, NULL, sig, doc}

const tbr_aggr_fn tbr_aggr_stats[] = {
    AGGR("count", 0, 0, count_state, count_init, count_accumulate, count_merge, count_emit,
         "aggr::stats::count() -> int", "The number of events in the window."),
    AGGR("sum", 1, 1, sum_state, sum_init, sum_accumulate, sum_merge, sum_emit,
         "aggr::stats::sum(n) -> float", "The sum of the values, as a float."),
    AGGR("min", 1, 1, extreme_state, extreme_init, min_accumulate, min_merge, extreme_emit,
         "aggr::stats::min(n) -> float", "The smallest value, as a float (0.0 for none)."),
    AGGR("max", 1, 1, extreme_state, extreme_init, max_accumulate, max_merge, extreme_emit,
         "aggr::stats::max(n) -> float", "The largest value, as a float (0.0 for none)."),
    AGGR("mean", 1, 1, mean_state, mean_init, mean_accumulate, mean_merge, mean_emit,
         "aggr::stats::mean(n) -> float", "The arithmetic mean of the values (null for none)."),
    AGGR("var", 1, 1, var_state, var_init, var_accumulate, var_merge, var_emit,
         "aggr::stats::var(n) -> float", "The sample variance of the values."),
    AGGR("stdev", 1, 1, var_state, var_init, stdev_accumulate, var_merge, stdev_emit,
         "aggr::stats::stdev(n) -> float", "The sample standard deviation of the values."),
    {NULL, NULL, 0, 0, 0, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL},
};
