/*
 * nanos.c - std::time::nanos: durations as integer nanoseconds, the unit of window
 * intervals (`define window w from tumbling with interval = nanos::from_seconds(10) end`).
 * In Tremor these are written in tremor-script; here they are native and pure, so a window
 * interval folds to a constant when the query is compiled.
 */
#include <stdint.h>

#include "lang/fn.h"

/* value * factor as an integer, refusing non-integers, negatives and overflow. */
static int scaled(tbr_fn_ctx *cx, const char *name, const tb_value *v, int64_t factor, tb_value *out) {
    int64_t n;
    if (!tb_value_as_i64(v, &n) || v->type == TB_F64)
        return tbr_fn_error(cx, "time::nanos::%s: expected an integer, found %s", name, tb_type_name(v->type));
    if (n < 0) return tbr_fn_error(cx, "time::nanos::%s: expected a non-negative integer, found %lld", name, (long long)n);
    if (n > INT64_MAX / factor) return tbr_fn_error(cx, "time::nanos::%s: %lld is too large", name, (long long)n);
    *out = tb_i64(n * factor);
    return TB_OK;
}

#define NANOS_FN(fname, factor)                                                                  \
    static int fn_##fname(tbr_fn_ctx *cx, const tb_value *args, uint32_t argc, tb_value *out) { \
        (void)argc;                                                                              \
        return scaled(cx, #fname, &args[0], (factor), out);                                     \
    }

NANOS_FN(from_micros, 1000)
NANOS_FN(from_millis, 1000000)
NANOS_FN(from_seconds, 1000000000)
NANOS_FN(from_minutes, 60ll * 1000000000)
NANOS_FN(from_hours, 3600ll * 1000000000)
NANOS_FN(from_days, 86400ll * 1000000000)

/* nanoseconds to a unit: a division, so a float (as every / is) */
static int divided(tbr_fn_ctx *cx, const char *name, const tb_value *v, double factor, tb_value *out) {
    double d;
    if (!tb_value_as_f64(v, &d))
        return tbr_fn_error(cx, "time::nanos::%s: expected a number, found %s", name, tb_type_name(v->type));
    *out = tb_f64(d / factor);
    return TB_OK;
}

#define NANOS_TO(fname, factor)                                                                  \
    static int fn_##fname(tbr_fn_ctx *cx, const tb_value *args, uint32_t argc, tb_value *out) { \
        (void)argc;                                                                              \
        return divided(cx, #fname, &args[0], (factor), out);                                    \
    }

NANOS_TO(to_micros, 1e3)
NANOS_TO(to_millis, 1e6)
NANOS_TO(to_seconds, 1e9)
NANOS_TO(to_minutes, 60e9)
NANOS_TO(to_hours, 3600e9)
NANOS_TO(to_days, 86400e9)

const tbr_fn tbr_stdlib_nanos[] = {
    {"time::nanos", "from_micros", 1, 1, TBR_FN_PURE, fn_from_micros, "time::nanos::from_micros(n) -> int", "n microseconds in nanoseconds"},
    {"time::nanos", "from_millis", 1, 1, TBR_FN_PURE, fn_from_millis, "time::nanos::from_millis(n) -> int", "n milliseconds in nanoseconds"},
    {"time::nanos", "from_seconds", 1, 1, TBR_FN_PURE, fn_from_seconds, "time::nanos::from_seconds(n) -> int", "n seconds in nanoseconds"},
    {"time::nanos", "from_minutes", 1, 1, TBR_FN_PURE, fn_from_minutes, "time::nanos::from_minutes(n) -> int", "n minutes in nanoseconds"},
    {"time::nanos", "from_hours", 1, 1, TBR_FN_PURE, fn_from_hours, "time::nanos::from_hours(n) -> int", "n hours in nanoseconds"},
    {"time::nanos", "from_days", 1, 1, TBR_FN_PURE, fn_from_days, "time::nanos::from_days(n) -> int", "n days in nanoseconds"},
    {"time::nanos", "to_micros", 1, 1, TBR_FN_PURE, fn_to_micros, "time::nanos::to_micros(ns) -> float", "nanoseconds in microseconds"},
    {"time::nanos", "to_millis", 1, 1, TBR_FN_PURE, fn_to_millis, "time::nanos::to_millis(ns) -> float", "nanoseconds in milliseconds"},
    {"time::nanos", "to_seconds", 1, 1, TBR_FN_PURE, fn_to_seconds, "time::nanos::to_seconds(ns) -> float", "nanoseconds in seconds"},
    {"time::nanos", "to_minutes", 1, 1, TBR_FN_PURE, fn_to_minutes, "time::nanos::to_minutes(ns) -> float", "nanoseconds in minutes"},
    {"time::nanos", "to_hours", 1, 1, TBR_FN_PURE, fn_to_hours, "time::nanos::to_hours(ns) -> float", "nanoseconds in hours"},
    {"time::nanos", "to_days", 1, 1, TBR_FN_PURE, fn_to_days, "time::nanos::to_days(ns) -> float", "nanoseconds in days"},
    {NULL, NULL, 0, 0, 0, NULL, NULL, NULL},
};

/* The constants of std::time::nanos, as Tremor defines them. */
const tbr_const tbr_stdlib_constants[] = {
    {"time::nanos", "NANOS_PER_MICRO", 1000},
    {"time::nanos", "NANOS_PER_MILLI", 1000000},
    {"time::nanos", "NANOS_PER_SECOND", 1000000000},
    {"time::nanos", "NANOS_PER_MINUTE", 60ll * 1000000000},
    {"time::nanos", "NANOS_PER_HOUR", 3600ll * 1000000000},
    {"time::nanos", "NANOS_PER_DAY", 86400ll * 1000000000},
    {"time::nanos", "NANOS_PER_WEEK", 7ll * 86400 * 1000000000},
    {NULL, NULL, 0},
};
