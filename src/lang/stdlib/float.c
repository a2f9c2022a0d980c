/*
 * float.c - std::float: parsing floats from strings and classifying them (finite, NaN,
 * infinite), as Tremor 0.13's float module.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lang/fn.h"
#include "lang/stdlib/util.h"

static bool ieq(const char *s, size_t n, const char *word) {
    size_t w = strlen(word);
    if (n != w) return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c >= 'A' && c <= 'Z') c = (char)(c - 'A' + 'a');
        if (c != word[i]) return false;
    }
    return true;
}

/* Whether s is in the grammar of Rust's f64::from_str: [+-] then inf, infinity or nan (any
 * case), or digits with an optional fraction and exponent (".5" and "5." included). strtod
 * alone would also take spaces, hex and "infinit". */
static bool float_syntax(const char *s, size_t n) {
    size_t i = 0, digits = 0;
    if (i < n && (s[i] == '+' || s[i] == '-')) i++;
    if (ieq(s + i, n - i, "inf") || ieq(s + i, n - i, "infinity") || ieq(s + i, n - i, "nan"))
        return true;
    while (i < n && s[i] >= '0' && s[i] <= '9') i++, digits++;
    if (i < n && s[i] == '.') {
        i++;
        while (i < n && s[i] >= '0' && s[i] <= '9') i++, digits++;
    }
    if (digits == 0) return false;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        size_t exp_digits = 0;
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-')) i++;
        while (i < n && s[i] >= '0' && s[i] <= '9') i++, exp_digits++;
        if (exp_digits == 0) return false;
    }
    return i == n;
}

SL_NATIVE(fn_parse) {
    static const char fn[] = "float::parse";
    SL_WANT(cx, fn, 0, "string", &args[0], TB_STRING);
    const char *s = sl_text(&args[0]);
    size_t n = args[0].len;
    if (n == 0) return tbr_fn_error(cx, "%s: cannot parse float from empty string", fn);
    if (!float_syntax(s, n)) return tbr_fn_error(cx, "%s: invalid float literal", fn);
    /* strtod wants a terminated string; the argument is not one */
    char *z = tb_arena_alloc(cx->arena, n + 1, 1);
    if (!z) return sl_oom(cx, fn);
    memcpy(z, s, n);
    z[n] = '\0';
    *out = tb_f64(strtod(z, NULL));
    return TB_OK;
}

static int classify(tbr_fn_ctx *cx, const char *fn, const tb_value *v, int what,
                    tb_value *out) {
    double f;
    if (!tb_value_as_f64(v, &f)) return sl_type_error(cx, fn, 0, "input", "a number", v);
    *out = tb_bool(what == 0 ? isfinite(f) : what == 1 ? isnan(f) : isinf(f));
    return TB_OK;
}

SL_NATIVE(fn_is_finite) { return classify(cx, "float::is_finite", &args[0], 0, out); }
SL_NATIVE(fn_is_nan) { return classify(cx, "float::is_nan", &args[0], 1, out); }
SL_NATIVE(fn_is_infinite) { return classify(cx, "float::is_infinite", &args[0], 2, out); }

#define P TBR_FN_PURE
const tbr_fn tbr_stdlib_float[] = {
    SL_FN("float", "parse", 1, 1, P, fn_parse, "float::parse(string) -> float",
          "The float written in the string."),
    SL_FN("float", "is_finite", 1, 1, P, fn_is_finite, "float::is_finite(input) -> bool",
          "Whether the number is neither infinite nor NaN."),
    SL_FN("float", "is_nan", 1, 1, P, fn_is_nan, "float::is_nan(input) -> bool",
          "Whether the number is NaN."),
    SL_FN("float", "is_infinite", 1, 1, P, fn_is_infinite, "float::is_infinite(input) -> bool",
          "Whether the number is positive or negative infinity."),
    SL_END,
};
