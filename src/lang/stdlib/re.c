/*
 * re.c - std::re: regular expressions given as strings at run time - replace the first or
 * every match, test for a match, split at matches (Tremor 0.13's re module), on PCRE2.
 *
 * Tremor uses Rust's regex crate; PCRE2 (in UTF mode with Unicode properties, so \d, \w
 * and \s are Unicode-aware as in Rust) accepts the same common syntax, named groups
 * (?P<name>...) included. Where the engines agree on syntax they find the same leftmost
 * matches for the usual patterns; exotic constructs may differ (PCRE2 backtracks and
 * prefers the first alternative, Rust's engine is leftmost-first too).
 *
 * Match iteration follows Rust's: after a match, the search continues at its end, and an
 * empty match touching the end of the previous match is skipped. Replacement templates
 * follow Rust's Captures::expand: $1, ${1}, $name, ${name}, $$ for a dollar; an unknown
 * group expands to nothing and a lone $ stays.
 *
 * The pattern is compiled on every call: the functions receive it as a value, so it may
 * differ from call to call; a script with a constant pattern should use the language's
 * regex extractor, which is compiled once. All of PCRE2's memory comes from the call's
 * arena (a general context whose free does nothing), so nothing leaks when a call fails.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <string.h>

#include "lang/fn.h"
#include "lang/stdlib/util.h"

/* Backtracking frames are capped well under PCRE2's default (20 GB) since they live in the
 * batch arena until the batch is done. */
#define RE_HEAP_LIMIT_KIB (64u * 1024u)

static void *re_malloc(PCRE2_SIZE size, void *arena) {
    return tb_arena_alloc((tb_arena *)arena, size ? size : 1, 16);
}

static void re_free(void *p, void *arena) {
    (void)p; /* the arena releases everything with the batch */
    (void)arena;
}

typedef struct re_state {
    pcre2_code *code;
    pcre2_match_data *md;
    pcre2_match_context *mc;
    const char *s;     /* the subject */
    size_t n;
    size_t pos;        /* where the next search starts */
    bool have_last;    /* a match was returned; last_end is its end */
    size_t last_end;
    size_t start, end; /* the current match */
} re_state;

static int re_message(tbr_fn_ctx *cx, const char *fn, const char *what, int code) {
    PCRE2_UCHAR msg[160];
    if (pcre2_get_error_message(code, msg, sizeof msg) < 0) strcpy((char *)msg, "unknown error");
    return tbr_fn_error(cx, "%s: %s: %s", fn, what, (const char *)msg);
}

/* Compiles pattern and prepares to search subject. */
static int re_open(tbr_fn_ctx *cx, const char *fn, const tb_value *pattern,
                   const tb_value *subject, re_state *st) {
    int err;
    PCRE2_SIZE err_off;
    memset(st, 0, sizeof *st);
    st->s = sl_text(subject);
    st->n = subject->len;
    pcre2_general_context *gc = pcre2_general_context_create(re_malloc, re_free, cx->arena);
    pcre2_compile_context *cc = gc ? pcre2_compile_context_create(gc) : NULL;
    st->mc = gc ? pcre2_match_context_create(gc) : NULL;
    if (!cc || !st->mc) return sl_oom(cx, fn);
    pcre2_set_heap_limit(st->mc, RE_HEAP_LIMIT_KIB);
    uint32_t options = PCRE2_UTF | PCRE2_UCP;
#ifdef PCRE2_MATCH_INVALID_UTF
    options |= PCRE2_MATCH_INVALID_UTF; /* a subject with invalid bytes still matches */
#else
    if (!sl_utf8_valid(st->s, st->n))
        return tbr_fn_error(cx, "%s: the input is not valid UTF-8", fn);
#endif
    st->code = pcre2_compile((PCRE2_SPTR)sl_text(pattern), pattern->len, options, &err, &err_off,
                             cc);
    if (!st->code) {
        PCRE2_UCHAR msg[160];
        if (err == PCRE2_ERROR_NOMEMORY) return sl_oom(cx, fn);
        if (pcre2_get_error_message(err, msg, sizeof msg) < 0) strcpy((char *)msg, "?");
        return tbr_fn_error(cx, "%s: invalid regular expression at offset %zu: %s", fn,
                            (size_t)err_off, (const char *)msg);
    }
    st->md = pcre2_match_data_create_from_pattern(st->code, gc);
    if (!st->md) return sl_oom(cx, fn);
    return TB_OK;
}

/* The next match into st->start/end: 1, 0 when there is none, or an error. */
static int re_next(tbr_fn_ctx *cx, const char *fn, re_state *st) {
    while (st->pos <= st->n) {
        int rc = pcre2_match(st->code, (PCRE2_SPTR)st->s, st->n, st->pos, 0, st->md, st->mc);
        if (rc == PCRE2_ERROR_NOMATCH) return 0;
        if (rc == PCRE2_ERROR_NOMEMORY) return sl_oom(cx, fn);
        if (rc < 0) return re_message(cx, fn, "matching failed", rc);
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(st->md);
        size_t s = ov[0], e = ov[1];
        if (e < s) e = s; /* \K in a lookahead can report such a match; treat it as empty */
        if (s == e && st->have_last && s == st->last_end) {
            /* Rust skips an empty match right where the previous one ended */
            uint32_t cp;
            if (s >= st->n) return 0;
            st->pos = s + sl_utf8_next(st->s, st->n, s, &cp);
            continue;
        }
        st->start = s;
        st->end = e;
        st->have_last = true;
        st->last_end = e;
        st->pos = e;
        return 1;
    }
    return 0;
}

/* Appends group g of the current match, if it took part. */
static void put_group(sl_sb *sb, re_state *st, uint32_t g) {
    if (g >= pcre2_get_ovector_count(st->md)) return;
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(st->md);
    if (ov[2 * g] == PCRE2_UNSET || ov[2 * g + 1] < ov[2 * g]) return;
    sb_put(sb, st->s + ov[2 * g], ov[2 * g + 1] - ov[2 * g]);
}

static bool is_name_char(char c) {
    return c == '_' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
           (c >= 'A' && c <= 'Z');
}

/* Appends the group a "$..." reference names: a number when it is all digits, else a
 * group name; a group that does not exist contributes nothing. */
static void put_ref(sl_sb *sb, re_state *st, const char *name, size_t len) {
    bool digits = len > 0;
    for (size_t i = 0; i < len && digits; i++) digits = name[i] >= '0' && name[i] <= '9';
    if (digits) {
        if (len > 9) return; /* beyond any group count */
        uint32_t g = 0;
        for (size_t i = 0; i < len; i++) g = g * 10 + (uint32_t)(name[i] - '0');
        put_group(sb, st, g);
        return;
    }
    char z[256];
    if (len == 0 || len >= sizeof z) return;
    memcpy(z, name, len);
    z[len] = '\0';
    int g = pcre2_substring_number_from_name(st->code, (PCRE2_SPTR)z);
    if (g > 0) put_group(sb, st, (uint32_t)g);
}

/* Appends the replacement template t[0..n) expanded for the current match. */
static void expand(sl_sb *sb, re_state *st, const char *t, size_t n) {
    size_t i = 0;
    while (i < n) {
        const char *dollar = memchr(t + i, '$', n - i);
        if (!dollar) break;
        size_t d = (size_t)(dollar - t);
        sb_put(sb, t + i, d - i);
        i = d;
        if (i + 1 < n && t[i + 1] == '$') {
            sb_putc(sb, '$');
            i += 2;
        } else if (i + 1 < n && t[i + 1] == '{') {
            const char *close = memchr(t + i + 2, '}', n - i - 2);
            if (!close) { /* no closing brace: a literal dollar */
                sb_putc(sb, '$');
                i++;
                continue;
            }
            size_t end = (size_t)(close - t);
            put_ref(sb, st, t + i + 2, end - i - 2);
            i = end + 1;
        } else {
            size_t j = i + 1;
            while (j < n && is_name_char(t[j])) j++;
            if (j == i + 1) { /* "$" then no name: a literal dollar */
                sb_putc(sb, '$');
                i++;
                continue;
            }
            put_ref(sb, st, t + i + 1, j - i - 1);
            i = j;
        }
    }
    sb_put(sb, t + i, n - i);
}

static int replace(tbr_fn_ctx *cx, const char *fn, const tb_value *args, bool all,
                   tb_value *out) {
    re_state st;
    SL_WANT(cx, fn, 1, "regex", &args[0], TB_STRING);
    SL_WANT(cx, fn, 2, "input", &args[1], TB_STRING);
    SL_WANT(cx, fn, 3, "to", &args[2], TB_STRING);
    int rc = re_open(cx, fn, &args[0], &args[1], &st);
    if (rc != TB_OK) return rc;
    rc = re_next(cx, fn, &st);
    if (rc < 0) return rc;
    if (rc == 0) { /* no match: the input as it is */
        *out = args[1];
        return TB_OK;
    }
    sl_sb sb;
    size_t copied = 0;
    sb_init(&sb, cx->arena);
    do {
        sb_put(&sb, st.s + copied, st.start - copied);
        expand(&sb, &st, sl_text(&args[2]), args[2].len);
        copied = st.end;
    } while (all && !sb_failed(&sb) && (rc = re_next(cx, fn, &st)) == 1);
    if (rc < 0) return rc;
    sb_put(&sb, st.s + copied, st.n - copied);
    return sb_finish(cx, fn, &sb, false, out);
}

SL_NATIVE(fn_replace) { return replace(cx, "re::replace", args, false, out); }

SL_NATIVE(fn_replace_all) { return replace(cx, "re::replace_all", args, true, out); }

SL_NATIVE(fn_is_match) {
    static const char fn[] = "re::is_match";
    re_state st;
    SL_WANT(cx, fn, 1, "regex", &args[0], TB_STRING);
    SL_WANT(cx, fn, 2, "input", &args[1], TB_STRING);
    int rc = re_open(cx, fn, &args[0], &args[1], &st);
    if (rc != TB_OK) return rc;
    rc = re_next(cx, fn, &st);
    if (rc < 0) return rc;
    *out = tb_bool(rc == 1);
    return TB_OK;
}

SL_NATIVE(fn_split) {
    static const char fn[] = "re::split";
    re_state st;
    SL_WANT(cx, fn, 1, "regex", &args[0], TB_STRING);
    SL_WANT(cx, fn, 2, "input", &args[1], TB_STRING);
    int rc = re_open(cx, fn, &args[0], &args[1], &st);
    if (rc != TB_OK) return rc;
    tb_value arr = tb_array(), *slot;
    size_t last = 0;
    /* the pieces between matches, and always the one after the last match */
    while ((rc = re_next(cx, fn, &st)) == 1) {
        if (!(slot = tb_array_push(cx->arena, &arr))) return sl_oom(cx, fn);
        *slot = tb_string(st.s + last, st.start - last);
        last = st.end;
    }
    if (rc < 0) return rc;
    if (!(slot = tb_array_push(cx->arena, &arr))) return sl_oom(cx, fn);
    *slot = tb_string(st.s + last, st.n - last);
    *out = arr;
    return TB_OK;
}

#define P TBR_FN_PURE
const tbr_fn tbr_stdlib_re[] = {
    SL_FN("re", "replace", 3, 3, P, fn_replace, "re::replace(regex, input, to) -> string",
          "Replaces the first match of regex in input by to ($1, $name refer to groups)."),
    SL_FN("re", "replace_all", 3, 3, P, fn_replace_all,
          "re::replace_all(regex, input, to) -> string",
          "Replaces every match of regex in input by to ($1, $name refer to groups)."),
    SL_FN("re", "is_match", 2, 2, P, fn_is_match, "re::is_match(regex, input) -> bool",
          "Whether regex matches somewhere in input."),
    SL_FN("re", "split", 2, 2, P, fn_split, "re::split(regex, input) -> array",
          "Splits input at every match of regex."),
    SL_END,
};
