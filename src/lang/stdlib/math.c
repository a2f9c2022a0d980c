/*
 * math.c - std::math: rounding to integers (floor, ceil, round, trunc) and the larger or
 * smaller of two numbers (max, min), as Tremor 0.13 defines them.
 *
 * Rounding returns an integer: integers pass through; a float is rounded and converted
 * with saturation (as Rust's `as` does: beyond the range gives the extreme, NaN gives 0).
 * max and min keep integers exact when both arguments are integers and compare as floats
 * (returning a float) as soon as one is a float.
 */
#include <math.h>

#include "lang/fn.h"
#include "lang/stdlib/util.h"

/* A rounded float as an integer value: negative ones as int, the others as unsigned, each
 * saturating, then normalized (int unless above INT64_MAX). */
static tb_value saturate(double f) {
    if (f < 0) {
        if (f <= -9223372036854775808.0) return tb_i64(INT64_MIN);
        return tb_i64((int64_t)f);
    }
    if (!(f >= 0)) return tb_i64(0); /* NaN */
    if (f >= 18446744073709551616.0) return sl_uint(UINT64_MAX);
    return sl_uint((uint64_t)f);
}

static int round_with(tbr_fn_ctx *cx, const char *fn, double (*op)(double), const tb_value *v,
                      tb_value *out) {
    switch (v->type) {
    case TB_I64: *out = *v; return TB_OK;
    case TB_U64: *out = sl_uint(v->as.u); return TB_OK;
    case TB_F64: *out = saturate(op(v->as.f)); return TB_OK;
    default: return sl_type_error(cx, fn, 0, "n", "a number", v);
    }
}

SL_NATIVE(fn_floor) { return round_with(cx, "math::floor", floor, &args[0], out); }
SL_NATIVE(fn_ceil) { return round_with(cx, "math::ceil", ceil, &args[0], out); }
/* round() rounds halves away from zero, like Rust's f64::round */
SL_NATIVE(fn_round) { return round_with(cx, "math::round", round, &args[0], out); }
SL_NATIVE(fn_trunc) { return round_with(cx, "math::trunc", trunc, &args[0], out); }

static int extreme(tbr_fn_ctx *cx, const char *fn, const tb_value *a, const tb_value *b,
                   bool want_max, tb_value *out) {
    uint64_t ua, ub;
    int64_t ia, ib;
    double fa, fb;
    if (sl_as_u64(a, &ua) && sl_as_u64(b, &ub)) {
        *out = sl_uint(want_max ? (ua > ub ? ua : ub) : (ua < ub ? ua : ub));
    } else if (sl_as_i64(a, &ia) && sl_as_i64(b, &ib)) {
        *out = tb_i64(want_max ? (ia > ib ? ia : ib) : (ia < ib ? ia : ib));
    } else if (tb_value_as_f64(a, &fa) && tb_value_as_f64(b, &fb)) {
        /* a wins ties and, as in Tremor, a NaN b; a NaN a loses to b */
        *out = tb_f64(want_max ? (fa >= fb ? fa : fb) : (fa <= fb ? fa : fb));
    } else {
        const tb_value *bad = tb_value_as_f64(a, &fa) ? b : a;
        return sl_type_error(cx, fn, bad == a ? 1 : 2, bad == a ? "n1" : "n2", "a number", bad);
    }
    return TB_OK;
}

SL_NATIVE(fn_max) { return extreme(cx, "math::max", &args[0], &args[1], true, out); }
SL_NATIVE(fn_min) { return extreme(cx, "math::min", &args[0], &args[1], false, out); }

#define P TBR_FN_PURE
const tbr_fn tbr_stdlib_math[] = {
    SL_FN("math", "floor", 1, 1, P, fn_floor, "math::floor(n) -> int",
          "The largest integer less than or equal to n."),
    SL_FN("math", "ceil", 1, 1, P, fn_ceil, "math::ceil(n) -> int",
          "The smallest integer greater than or equal to n."),
    SL_FN("math", "round", 1, 1, P, fn_round, "math::round(n) -> int",
          "The integer nearest to n, halves away from zero."),
    SL_FN("math", "trunc", 1, 1, P, fn_trunc, "math::trunc(n) -> int",
          "The integer part of n."),
    SL_FN("math", "max", 2, 2, P, fn_max, "math::max(n1, n2) -> number",
          "The larger of two numbers."),
    SL_FN("math", "min", 2, 2, P, fn_min, "math::min(n1, n2) -> number",
          "The smaller of two numbers."),
    SL_END,
};
