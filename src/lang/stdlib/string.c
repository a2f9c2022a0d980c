/*
 * string.c - std::string: length, slicing, case, trimming, splitting, searching and
 * formatting of strings (Tremor 0.13's string module, plus starts_with and ends_with).
 *
 * Strings are UTF-8 but may hold invalid bytes (a decoder may have let them through): every
 * function here walks them by units (see sl_utf8_next), so an invalid byte counts as one
 * character and is never split. Results that are a part of the input (trim, substr, split)
 * point into it; everything built goes to the call's arena.
 */
#include <string.h>

#include "lang/fn.h"
#include "lang/stdlib/util.h"

/* ---- helpers ---------------------------------------------------------------------------- */

/* Byte offset of character (unit) number idx of s, or n when s has fewer characters. */
static size_t char_offset(const char *s, size_t n, uint64_t idx) {
    size_t i = 0;
    uint32_t cp;
    while (i < n && idx > 0) {
        i += sl_utf8_next(s, n, i, &cp);
        idx--;
    }
    return i;
}

/* First occurrence of needle (nn > 0) in hay at or after from; n when absent. */
static size_t find(const char *hay, size_t n, size_t from, const char *needle, size_t nn) {
    if (nn > n) return n;
    for (size_t i = from; i + nn <= n; i++) {
        const char *p = memchr(hay + i, needle[0], n - nn + 1 - i);
        if (!p) return n;
        i = (size_t)(p - hay);
        if (memcmp(p, needle, nn) == 0) return i;
    }
    return n;
}

static bool is_cased(uint32_t cp) {
    return cp != SL_BAD_CP && (sl_lower(cp) != cp || sl_upper(cp) != cp);
}

/* ---- functions --------------------------------------------------------------------------- */

SL_NATIVE(fn_len) {
    SL_WANT(cx, "string::len", 0, "input", &args[0], TB_STRING);
    const char *s = sl_text(&args[0]);
    size_t n = args[0].len, count = 0;
    uint32_t cp;
    for (size_t i = 0; i < n; count++) {
        /* the ASCII fast path; counting continuation bytes would miscount invalid input */
        if ((unsigned char)s[i] < 0x80) i++;
        else i += sl_utf8_next(s, n, i, &cp);
    }
    *out = tb_i64((int64_t)count);
    return TB_OK;
}

SL_NATIVE(fn_bytes) {
    SL_WANT(cx, "string::bytes", 0, "input", &args[0], TB_STRING);
    *out = tb_i64((int64_t)args[0].len);
    return TB_OK;
}

SL_NATIVE(fn_is_empty) {
    SL_WANT(cx, "string::is_empty", 0, "input", &args[0], TB_STRING);
    *out = tb_bool(args[0].len == 0);
    return TB_OK;
}

SL_NATIVE(fn_replace) {
    static const char fn[] = "string::replace";
    SL_WANT(cx, fn, 1, "input", &args[0], TB_STRING);
    SL_WANT(cx, fn, 2, "from", &args[1], TB_STRING);
    SL_WANT(cx, fn, 3, "to", &args[2], TB_STRING);
    const char *s = sl_text(&args[0]), *from = sl_text(&args[1]), *to = sl_text(&args[2]);
    size_t n = args[0].len, pn = args[1].len, tn = args[2].len, count = 0;
    uint32_t cp;
    /* count first: the size is then known, so a result beyond the cap is refused before
     * anything is built, and the result is allocated once */
    if (pn == 0) {
        /* as Rust's str::replace: an empty pattern matches before every character and at
         * the end */
        for (size_t i = 0; i < n; count++) i += sl_utf8_next(s, n, i, &cp);
        count++;
    } else {
        for (size_t at = find(s, n, 0, from, pn); at < n; at = find(s, n, at + pn, from, pn))
            count++;
    }
    if (count == 0) { /* nothing to replace: the input itself */
        *out = args[0];
        return TB_OK;
    }
    /* n - count * pn + count * tn, checked (count * pn <= n) */
    if (tn > pn && (tn - pn > SL_MAX_STRING / count || n + count * (tn - pn) > SL_MAX_STRING))
        return tbr_fn_error(cx, "%s: the result would be larger than %zu bytes", fn,
                            (size_t)SL_MAX_STRING);
    size_t size = n - count * pn + count * tn;
    char *r = tb_arena_alloc(cx->arena, size ? size : 1, 1);
    if (!r) return sl_oom(cx, fn);
    size_t o = 0;
    if (pn == 0) {
        for (size_t i = 0; i < n;) {
            size_t u = sl_utf8_next(s, n, i, &cp);
            if (tn) memcpy(r + o, to, tn);
            memcpy(r + o + tn, s + i, u);
            o += tn + u;
            i += u;
        }
        if (tn) memcpy(r + o, to, tn);
    } else {
        size_t last = 0;
        for (size_t at = find(s, n, 0, from, pn); at < n; at = find(s, n, last, from, pn)) {
            memcpy(r + o, s + last, at - last);
            o += at - last;
            if (tn) memcpy(r + o, to, tn);
            o += tn;
            last = at + pn;
        }
        memcpy(r + o, s + last, n - last);
    }
    *out = tb_string(r, size);
    return TB_OK;
}

/* Trims Unicode white space from the start and/or the end; the result is a slice. */
static int trim(tbr_fn_ctx *cx, const char *fn, const tb_value *arg, bool start, bool end,
                tb_value *out) {
    SL_WANT(cx, fn, 0, "input", arg, TB_STRING);
    const char *s = sl_text(arg);
    size_t n = arg->len, b = 0, e = n, i = 0;
    uint32_t cp;
    if (start) {
        while (b < n) {
            size_t u = sl_utf8_next(s, n, b, &cp);
            if (!sl_is_space(cp)) break;
            b += u;
        }
        i = b;
    }
    if (end) {
        /* forward, remembering where the last non-space unit ends: walking backwards could
         * cut an invalid sequence differently */
        e = b;
        while (i < n) {
            size_t u = sl_utf8_next(s, n, i, &cp);
            i += u;
            if (!sl_is_space(cp)) e = i;
        }
    }
    *out = tb_string(s + b, e - b);
    return TB_OK;
}

SL_NATIVE(fn_trim) {
    return trim(cx, "string::trim", &args[0], true, true, out);
}

SL_NATIVE(fn_trim_start) {
    return trim(cx, "string::trim_start", &args[0], true, false, out);
}

SL_NATIVE(fn_trim_end) {
    return trim(cx, "string::trim_end", &args[0], false, true, out);
}

SL_NATIVE(fn_lowercase) {
    static const char fn[] = "string::lowercase";
    SL_WANT(cx, fn, 0, "input", &args[0], TB_STRING);
    const char *s = sl_text(&args[0]);
    size_t n = args[0].len;
    uint32_t cp, prev = SL_BAD_CP;
    sl_sb sb;
    sb_init(&sb, cx->arena);
    for (size_t i = 0; i < n && !sb_failed(&sb);) {
        size_t u = sl_utf8_next(s, n, i, &cp);
        if (cp == SL_BAD_CP) {
            sb_put(&sb, s + i, u); /* invalid bytes pass through as they are */
        } else if (cp == 0x03A3) {
            /* Σ at the end of a word is ς (as Rust's to_lowercase: after a cased letter and
             * not before one) */
            uint32_t next = SL_BAD_CP;
            if (i + u < n) sl_utf8_next(s, n, i + u, &next);
            sb_put_cp(&sb, is_cased(prev) && !is_cased(next) ? 0x03C2 : 0x03C3);
        } else {
            sl_put_lower(&sb, cp);
        }
        prev = cp;
        i += u;
    }
    return sb_finish(cx, fn, &sb, false, out);
}

SL_NATIVE(fn_uppercase) {
    static const char fn[] = "string::uppercase";
    SL_WANT(cx, fn, 0, "input", &args[0], TB_STRING);
    const char *s = sl_text(&args[0]);
    size_t n = args[0].len;
    uint32_t cp;
    sl_sb sb;
    sb_init(&sb, cx->arena);
    for (size_t i = 0; i < n && !sb_failed(&sb);) {
        size_t u = sl_utf8_next(s, n, i, &cp);
        if (cp == SL_BAD_CP) sb_put(&sb, s + i, u);
        else sl_put_upper(&sb, cp);
        i += u;
    }
    return sb_finish(cx, fn, &sb, false, out);
}

SL_NATIVE(fn_capitalize) {
    static const char fn[] = "string::capitalize";
    SL_WANT(cx, fn, 0, "input", &args[0], TB_STRING);
    const char *s = sl_text(&args[0]);
    size_t n = args[0].len;
    uint32_t cp;
    if (n == 0) {
        *out = args[0];
        return TB_OK;
    }
    size_t u = sl_utf8_next(s, n, 0, &cp);
    if (cp == SL_BAD_CP || (cp != 0xDF && sl_upper(cp) == cp)) {
        *out = args[0]; /* nothing to change */
        return TB_OK;
    }
    sl_sb sb;
    sb_init(&sb, cx->arena);
    sl_put_upper(&sb, cp);
    sb_put(&sb, s + u, n - u);
    return sb_finish(cx, fn, &sb, false, out);
}

SL_NATIVE(fn_substr) {
    static const char fn[] = "string::substr";
    uint64_t start, end;
    SL_WANT(cx, fn, 1, "input", &args[0], TB_STRING);
    if (!sl_as_u64(&args[1], &start))
        return sl_type_error(cx, fn, 2, "start", "a non-negative integer", &args[1]);
    if (!sl_as_u64(&args[2], &end))
        return sl_type_error(cx, fn, 3, "end", "a non-negative integer", &args[2]);
    const char *s = sl_text(&args[0]);
    size_t n = args[0].len;
    /* character indices, clamped to the string; an empty range gives "" */
    size_t b = char_offset(s, n, start);
    size_t e = end > start ? b + char_offset(s + b, n - b, end - start) : b;
    *out = tb_string(s + b, e - b);
    return TB_OK;
}

SL_NATIVE(fn_split) {
    static const char fn[] = "string::split";
    SL_WANT(cx, fn, 1, "input", &args[0], TB_STRING);
    SL_WANT(cx, fn, 2, "separator", &args[1], TB_STRING);
    const char *s = sl_text(&args[0]), *sep = sl_text(&args[1]);
    size_t n = args[0].len, sn = args[1].len;
    tb_value arr = tb_array();
    tb_value *slot;
    if (sn == 0) {
        /* as Rust's str::split(""): "", then every character, then "" */
        uint32_t cp;
        if (!(slot = tb_array_push(cx->arena, &arr))) return sl_oom(cx, fn);
        *slot = tb_string(s, 0);
        for (size_t i = 0; i < n;) {
            size_t u = sl_utf8_next(s, n, i, &cp);
            if (!(slot = tb_array_push(cx->arena, &arr))) return sl_oom(cx, fn);
            *slot = tb_string(s + i, u);
            i += u;
        }
        if (!(slot = tb_array_push(cx->arena, &arr))) return sl_oom(cx, fn);
        *slot = tb_string(s + n, 0);
    } else {
        size_t last = 0;
        for (;;) {
            size_t at = find(s, n, last, sep, sn);
            if (!(slot = tb_array_push(cx->arena, &arr))) return sl_oom(cx, fn);
            *slot = tb_string(s + last, at - last);
            if (at == n) break;
            last = at + sn;
        }
    }
    *out = arr;
    return TB_OK;
}

SL_NATIVE(fn_contains) {
    static const char fn[] = "string::contains";
    SL_WANT(cx, fn, 1, "input", &args[0], TB_STRING);
    SL_WANT(cx, fn, 2, "string", &args[1], TB_STRING);
    size_t n = args[0].len, nn = args[1].len;
    *out = tb_bool(nn == 0 || find(sl_text(&args[0]), n, 0, sl_text(&args[1]), nn) < n);
    return TB_OK;
}

SL_NATIVE(fn_starts_with) {
    static const char fn[] = "string::starts_with";
    SL_WANT(cx, fn, 1, "input", &args[0], TB_STRING);
    SL_WANT(cx, fn, 2, "prefix", &args[1], TB_STRING);
    size_t n = args[0].len, pn = args[1].len;
    *out = tb_bool(pn <= n && (pn == 0 || memcmp(sl_text(&args[0]), sl_text(&args[1]), pn) == 0));
    return TB_OK;
}

SL_NATIVE(fn_ends_with) {
    static const char fn[] = "string::ends_with";
    SL_WANT(cx, fn, 1, "input", &args[0], TB_STRING);
    SL_WANT(cx, fn, 2, "suffix", &args[1], TB_STRING);
    size_t n = args[0].len, sn = args[1].len;
    const char *tail = sl_text(&args[0]) + (n - (sn <= n ? sn : n));
    *out = tb_bool(sn <= n && (sn == 0 || memcmp(tail, sl_text(&args[1]), sn) == 0));
    return TB_OK;
}

SL_NATIVE(fn_reverse) {
    static const char fn[] = "string::reverse";
    SL_WANT(cx, fn, 0, "input", &args[0], TB_STRING);
    const char *s = sl_text(&args[0]);
    size_t n = args[0].len;
    uint32_t cp;
    if (n == 0) {
        *out = args[0];
        return TB_OK;
    }
    char *r = tb_arena_alloc(cx->arena, n, 1);
    if (!r) return sl_oom(cx, fn);
    /* each unit goes, unchanged, to the mirrored place of the output */
    for (size_t i = 0; i < n;) {
        size_t u = sl_utf8_next(s, n, i, &cp);
        memcpy(r + n - i - u, s + i, u);
        i += u;
    }
    *out = tb_string(r, n);
    return TB_OK;
}

SL_NATIVE(fn_into_binary) {
    SL_WANT(cx, "string::into_binary", 0, "input", &args[0], TB_STRING);
    *out = tb_bytes(sl_text(&args[0]), args[0].len); /* the same octets, no copy */
    return TB_OK;
}

SL_NATIVE(fn_from_utf8_lossy) {
    static const char fn[] = "string::from_utf8_lossy";
    SL_WANT(cx, fn, 0, "bytes", &args[0], TB_BYTES);
    const char *s = sl_text(&args[0]);
    size_t n = args[0].len;
    uint32_t cp;
    if (n == 0) {
        *out = tb_string("", 0);
        return TB_OK;
    }
    if (sl_utf8_valid(s, n)) {
        *out = tb_string(s, n);
        return TB_OK;
    }
    sl_sb sb;
    sb_init(&sb, cx->arena);
    for (size_t i = 0; i < n && !sb_failed(&sb);) {
        size_t u = sl_utf8_next(s, n, i, &cp);
        if (cp == SL_BAD_CP) sb_put_cp(&sb, 0xFFFD); /* one per maximal invalid subpart */
        else sb_put(&sb, s + i, u);
        i += u;
    }
    return sb_finish(cx, fn, &sb, false, out);
}

/* string::format: {} takes the next argument (strings as they are, anything else as JSON),
 * {{ and }} are literal braces, and a backslash before a brace makes it literal too.
 * Positions in the messages count characters, as Tremor's do. */
SL_NATIVE(fn_format) {
    static const char fn[] = "string::format";
    if (argc == 0 || args[0].type != TB_STRING)
        return tbr_fn_error(cx,
                            "%s: expected 1st parameter to format to be a format specifier "
                            "e.g. to print a number use `string::format(\"{}\", 1)`",
                            fn);
    const char *s = sl_text(&args[0]);
    size_t n = args[0].len, pos = 0;
    uint32_t next_arg = 1, cp;
    sl_sb sb;
    sb_init(&sb, cx->arena);
    for (size_t i = 0; i < n && !sb_failed(&sb); pos++) {
        size_t u = sl_utf8_next(s, n, i, &cp);
        char c = s[i];
        i += u;
        if (c == '\\' && u == 1) {
            if (i >= n) return tbr_fn_error(cx, "%s: bad escape sequence at %zu", fn, pos);
            size_t u2 = sl_utf8_next(s, n, i, &cp);
            if (s[i] != '{' && s[i] != '}') sb_putc(&sb, '\\');
            sb_put(&sb, s + i, u2);
            i += u2;
            pos++;
        } else if (c == '{') {
            if (i < n && s[i] == '}') {
                if (next_arg >= argc)
                    return tbr_fn_error(
                        cx,
                        "%s: the arguments passed to the format function are less than the "
                        "`{}` specifiers in the format string. The placeholder at %zu can not "
                        "be filled",
                        fn, pos);
                const tb_value *a = &args[next_arg++];
                if (a->type == TB_STRING) sb_put(&sb, sl_text(a), a->len);
                else sl_json(&sb, a, 0);
            } else if (i < n && s[i] == '{') {
                sb_putc(&sb, '{');
            } else {
                return tbr_fn_error(cx,
                                    "%s: the format specifier at %zu is invalid. If you want to "
                                    "use `{` as a literal in the string, you need to escape it "
                                    "with `{{`",
                                    fn, pos);
            }
            i++;
            pos++;
        } else if (c == '}') {
            if (i >= n || s[i] != '}')
                return tbr_fn_error(cx,
                                    "%s: the format specifier at %zu is invalid. You have to "
                                    "terminate `}` with another `}` to escape it",
                                    fn, pos);
            sb_putc(&sb, '}');
            i++;
            pos++;
        } else {
            sb_put(&sb, s + i - u, u);
        }
    }
    if (!sb_failed(&sb) && next_arg < argc)
        return tbr_fn_error(cx,
                            "%s: too many parameters passed. Ensure that you have the same "
                            "number of {} in your format string",
                            fn);
    return sb_finish(cx, fn, &sb, false, out);
}

#define P TBR_FN_PURE
const tbr_fn tbr_stdlib_string[] = {
    SL_FN("string", "format", 1, -1, P, fn_format, "string::format(format, ...) -> string",
          "Replaces each {} of format by the next argument; {{ and }} are literal braces."),
    SL_FN("string", "is_empty", 1, 1, P, fn_is_empty, "string::is_empty(input) -> bool",
          "Whether the string is empty."),
    SL_FN("string", "len", 1, 1, P, fn_len, "string::len(input) -> int",
          "The number of characters (code points) of the string."),
    SL_FN("string", "bytes", 1, 1, P, fn_bytes, "string::bytes(input) -> int",
          "The number of bytes of the string's UTF-8 encoding."),
    SL_FN("string", "replace", 3, 3, P, fn_replace, "string::replace(input, from, to) -> string",
          "Replaces every occurrence of from in input by to."),
    SL_FN("string", "trim", 1, 1, P, fn_trim, "string::trim(input) -> string",
          "Removes white space from both ends."),
    SL_FN("string", "trim_start", 1, 1, P, fn_trim_start, "string::trim_start(input) -> string",
          "Removes white space from the start."),
    SL_FN("string", "trim_end", 1, 1, P, fn_trim_end, "string::trim_end(input) -> string",
          "Removes white space from the end."),
    SL_FN("string", "lowercase", 1, 1, P, fn_lowercase, "string::lowercase(input) -> string",
          "Turns all characters to lower case."),
    SL_FN("string", "uppercase", 1, 1, P, fn_uppercase, "string::uppercase(input) -> string",
          "Turns all characters to upper case."),
    SL_FN("string", "capitalize", 1, 1, P, fn_capitalize, "string::capitalize(input) -> string",
          "Turns the first character to upper case."),
    SL_FN("string", "substr", 3, 3, P, fn_substr, "string::substr(input, start, end) -> string",
          "The characters from index start up to (not including) end."),
    SL_FN("string", "split", 2, 2, P, fn_split, "string::split(input, separator) -> array",
          "Splits the string at every occurrence of separator."),
    SL_FN("string", "contains", 2, 2, P, fn_contains, "string::contains(input, string) -> bool",
          "Whether input contains string."),
    SL_FN("string", "starts_with", 2, 2, P, fn_starts_with,
          "string::starts_with(input, prefix) -> bool", "Whether input starts with prefix."),
    SL_FN("string", "ends_with", 2, 2, P, fn_ends_with, "string::ends_with(input, suffix) -> bool",
          "Whether input ends with suffix."),
    SL_FN("string", "from_utf8_lossy", 1, 1, P, fn_from_utf8_lossy,
          "string::from_utf8_lossy(bytes) -> string",
          "Turns binary into a string, invalid UTF-8 replaced by U+FFFD."),
    SL_FN("string", "into_binary", 1, 1, P, fn_into_binary, "string::into_binary(input) -> binary",
          "The bytes of the string's UTF-8 encoding."),
    SL_FN("string", "reverse", 1, 1, P, fn_reverse, "string::reverse(input) -> string",
          "The characters of the string in reverse order."),
    SL_END,
};
