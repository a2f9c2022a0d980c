/*
 * integer.c - std::integer: parsing integers from strings (Tremor 0.13's integer module;
 * its signed and unsigned submodules only hold constants, written in Tremor itself).
 */
#include "lang/fn.h"
#include "lang/stdlib/util.h"

/* integer::parse follows Rust's i64::from_str: an optional sign, then decimal digits and
 * nothing else (no spaces, no "0x"); the messages are Rust's. */
SL_NATIVE(fn_parse) {
    static const char fn[] = "integer::parse";
    SL_WANT(cx, fn, 0, "string", &args[0], TB_STRING);
    const char *s = sl_text(&args[0]);
    size_t n = args[0].len, i = 0;
    bool neg = false;
    if (n == 0) return tbr_fn_error(cx, "%s: cannot parse integer from empty string", fn);
    if (s[0] == '+' || s[0] == '-') {
        neg = s[0] == '-';
        i = 1;
        if (n == 1) return tbr_fn_error(cx, "%s: invalid digit found in string", fn);
    }
    /* accumulate the magnitude as unsigned, so INT64_MIN parses */
    uint64_t limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX, v = 0;
    for (; i < n; i++) {
        unsigned d = (unsigned)((unsigned char)s[i] - '0');
        if (d > 9) return tbr_fn_error(cx, "%s: invalid digit found in string", fn);
        /* like Rust, report the overflow where it happens, before any later bad digit */
        if (v > (limit - d) / 10)
            return tbr_fn_error(cx, "%s: number too %s to fit in target type", fn,
                                neg ? "small" : "large");
        v = v * 10 + d;
    }
    if (!neg) *out = tb_i64((int64_t)v);
    else *out = tb_i64(v > (uint64_t)INT64_MAX ? INT64_MIN : -(int64_t)v);
    return TB_OK;
}

const tbr_fn tbr_stdlib_integer[] = {
    SL_FN("integer", "parse", 1, 1, TBR_FN_PURE, fn_parse, "integer::parse(string) -> int",
          "The integer written in decimal in the string."),
    SL_END,
};
