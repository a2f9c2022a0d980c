/*
 * random.c - std::random: random booleans, alphanumeric strings, integers and floats
 * (Tremor 0.13's random module), drawn from the script's generator (tbr_fn_random).
 *
 * None of these is pure: the compiler must not fold them. Ranges are exact: integers use
 * rejection sampling (no modulo bias), floats 53 random bits and never reach the upper
 * bound.
 */
#include <math.h>

#include "lang/fn.h"
#include "lang/stdlib/util.h"

/* A uniform integer in [0, n), n > 0. */
static uint64_t below(tbr_fn_ctx *cx, uint64_t n) {
    /* draws under threshold would make the low residues likelier: redraw them */
    uint64_t threshold = (0 - n) % n;
    for (;;) {
        uint64_t r = tbr_fn_random(cx);
        if (r >= threshold) return r % n;
    }
}

/* A uniform double in [0, 1). */
static double unit(tbr_fn_ctx *cx) { return (double)(tbr_fn_random(cx) >> 11) * 0x1.0p-53; }

SL_NATIVE(fn_bool) {
    *out = tb_bool(tbr_fn_random(cx) >> 63); /* the best bit of xorshift64* */
    return TB_OK;
}

SL_NATIVE(fn_string) {
    static const char fn[] = "random::string";
    static const char chars[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    uint64_t n;
    if (!sl_as_u64(&args[0], &n))
        return sl_type_error(cx, fn, 0, "length", "a non-negative integer", &args[0]);
    if (n > SL_MAX_STRING)
        return tbr_fn_error(cx, "%s: the result would be larger than %zu bytes", fn,
                            (size_t)SL_MAX_STRING);
    char *s = tb_arena_alloc(cx->arena, n ? (size_t)n : 1, 1);
    if (!s) return sl_oom(cx, fn);
    /* 6 bits per character, values 62 and 63 discarded: uniform over the 62 */
    for (size_t i = 0; i < n;) {
        uint64_t r = tbr_fn_random(cx);
        for (int k = 0; k < 10 && i < n; k++, r >>= 6)
            if ((r & 63) < 62) s[i++] = chars[r & 63];
    }
    *out = tb_string(s, (size_t)n);
    return TB_OK;
}

SL_NATIVE(fn_integer) {
    static const char fn[] = "random::integer";
    if (argc == 0) {
        *out = tb_i64((int64_t)tbr_fn_random(cx));
        return TB_OK;
    }
    if (argc == 1) {
        uint64_t n;
        if (!sl_as_u64(&args[0], &n))
            return sl_type_error(cx, fn, 0, "high", "a non-negative integer", &args[0]);
        if (n == 0)
            return tbr_fn_error(cx, "%s: Invalid arguments. Single argument value must be > 0.",
                                fn);
        *out = sl_uint(below(cx, n));
        return TB_OK;
    }
    int64_t lo, hi;
    if (!sl_as_i64(&args[0], &lo)) return sl_type_error(cx, fn, 1, "low", "an integer", &args[0]);
    if (!sl_as_i64(&args[1], &hi)) return sl_type_error(cx, fn, 2, "high", "an integer", &args[1]);
    if (lo >= hi)
        return tbr_fn_error(
            cx, "%s: Invalid arguments. First argument must be lower than second argument", fn);
    /* in unsigned arithmetic the span of any two int64s fits and wraps back exactly */
    uint64_t span = (uint64_t)hi - (uint64_t)lo;
    uint64_t r = (uint64_t)lo + below(cx, span);
    *out = tb_i64(r > (uint64_t)INT64_MAX ? (int64_t)(r - (uint64_t)INT64_MAX - 1) + INT64_MIN
                                          : (int64_t)r);
    return TB_OK;
}

SL_NATIVE(fn_float) {
    static const char fn[] = "random::float";
    double lo = 0, hi = 1;
    if (argc == 1) {
        if (!tb_value_as_f64(&args[0], &hi))
            return sl_type_error(cx, fn, 0, "high", "a number", &args[0]);
        if (!(hi > 0) || !isfinite(hi))
            return tbr_fn_error(
                cx, "%s: Invalid arguments. Single argument value must be > 0.0 and finite.", fn);
    } else if (argc >= 2) {
        if (!tb_value_as_f64(&args[0], &lo))
            return sl_type_error(cx, fn, 1, "low", "a number", &args[0]);
        if (!tb_value_as_f64(&args[1], &hi))
            return sl_type_error(cx, fn, 2, "high", "a number", &args[1]);
        if (!isfinite(lo) || !isfinite(hi))
            return tbr_fn_error(cx, "%s: Invalid arguments. Both bounds must be finite.", fn);
        if (!(lo < hi))
            return tbr_fn_error(
                cx, "%s: Invalid arguments. First argument must be lower than second argument",
                fn);
    }
    double u = unit(cx);
    /* weighted sum rather than lo + u * (hi - lo), whose span can overflow */
    double r = lo * (1 - u) + hi * u;
    if (r >= hi) r = nextafter(hi, lo);
    if (r < lo) r = lo;
    *out = tb_f64(r);
    return TB_OK;
}

const tbr_fn tbr_stdlib_random[] = {
    SL_FN("random", "bool", 0, 0, 0, fn_bool, "random::bool() -> bool", "A random boolean."),
    SL_FN("random", "string", 1, 1, 0, fn_string, "random::string(length) -> string",
          "A random string of length ASCII letters and digits."),
    SL_FN("random", "integer", 0, 2, 0, fn_integer, "random::integer([low,] [high]) -> int",
          "A random integer: any, in [0, high), or in [low, high)."),
    SL_FN("random", "float", 0, 2, 0, fn_float, "random::float([low,] [high]) -> float",
          "A random float: in [0, 1), in [0, high), or in [low, high)."),
    SL_END,
};
