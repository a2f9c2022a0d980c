/*
 * registry.c - the registry of native functions: lookup by module and name for the
 * compiler, "did you mean" suggestions, iteration, the error and random-number helpers the
 * functions share.
 *
 * The registry is the module tables themselves (static, immutable); nothing is built at
 * start-up. Lookup is a linear scan over the ~150 entries: it runs when a script is
 * compiled, never per event, so a hash table would buy nothing worth its code.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "lang/fn.h"

/* Every module, in the fixed order tbr_fn_at walks them. */
static const tbr_fn *const tables[] = {
    tbr_stdlib_string,  tbr_stdlib_array,  tbr_stdlib_record,  tbr_stdlib_math,
    tbr_stdlib_type,    tbr_stdlib_json,   tbr_stdlib_base64,  tbr_stdlib_re,
    tbr_stdlib_integer, tbr_stdlib_float,  tbr_stdlib_binary,  tbr_stdlib_datetime,
    tbr_stdlib_random,  tbr_stdlib_path,   tbr_stdlib_nanos,
};
#define TABLE_COUNT (sizeof tables / sizeof tables[0])

int tbr_fn_error(tbr_fn_ctx *cx, const char *fmt, ...) {
    if (cx && cx->error && cx->error_size > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(cx->error, cx->error_size, fmt, ap);
        va_end(ap);
    }
    return TB_EINVAL;
}

uint64_t tbr_fn_random(tbr_fn_ctx *cx) {
    /* xorshift64* (Vigna): a 64-bit xorshift whose output is scrambled by a multiply, so
     * the low bits are usable too */
    uint64_t x = *cx->rng_state;
    if (x == 0) x = 0x9E3779B97F4A7C15u; /* the contract says never 0; stay alive anyway */
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *cx->rng_state = x;
    return x * 0x2545F4914F6CDD1Du;
}

/* module without a leading "std::" */
static void strip_std(const char **module, size_t *len) {
    if (*len >= 5 && memcmp(*module, "std::", 5) == 0) {
        *module += 5;
        *len -= 5;
    }
}

/* z (a table's string) is exactly the n bytes at s; s may hold NULs (a quoted identifier) */
static bool name_is(const char *z, const char *s, size_t n) {
    return strlen(z) == n && memcmp(z, s, n) == 0;
}

const tbr_fn *tbr_fn_lookup(const char *module, size_t module_len, const char *name,
                            size_t name_len) {
    if (!module || !name) return NULL;
    strip_std(&module, &module_len);
    for (size_t t = 0; t < TABLE_COUNT; t++) {
        /* every entry of a table shares its module: test it once per table */
        if (!tables[t][0].name || !name_is(tables[t][0].module, module, module_len)) continue;
        for (const tbr_fn *f = tables[t]; f->name; f++)
            if (name_is(f->name, name, name_len)) return f;
    }
    return NULL;
}

const tbr_fn *tbr_fn_at(size_t i) {
    for (size_t t = 0; t < TABLE_COUNT; t++) {
        for (const tbr_fn *f = tables[t]; f->name; f++) {
            if (i == 0) return f;
            i--;
        }
    }
    return NULL;
}

/* Levenshtein distance between a[0..an) and b[0..bn), with one row of bn + 1 cells
 * (both are "module::name" texts of at most 2 * NAME_MAX_LEN + 2 characters). */
#define NAME_MAX_LEN 64
#define QUALIFIED_MAX (2 * NAME_MAX_LEN + 2)
static size_t edit_distance(const char *a, size_t an, const char *b, size_t bn) {
    size_t row[QUALIFIED_MAX + 1];
    if (bn > QUALIFIED_MAX) bn = QUALIFIED_MAX;
    for (size_t j = 0; j <= bn; j++) row[j] = j;
    for (size_t i = 1; i <= an; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= bn; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best) best = up + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[bn];
}

/* Whether one of a[0..an) and b[0..bn) starts with the other, the shorter being at least
 * three characters: "lenght" for len, "upper" for uppercase. */
static bool prefix_related(const char *a, size_t an, const char *b, size_t bn) {
    size_t n = an < bn ? an : bn;
    return n >= 3 && memcmp(a, b, n) == 0;
}

size_t tbr_fn_suggest(const char *module, size_t module_len, const char *name, size_t name_len,
                      const tbr_fn **out, size_t max) {
    char want[QUALIFIED_MAX + 1];
    char have[QUALIFIED_MAX + 1];
    size_t dist[16];
    size_t n = 0;
    if (!out || max == 0 || !name) return 0;
    if (max > sizeof dist / sizeof dist[0]) max = sizeof dist / sizeof dist[0];
    if (!module) {
        module = "";
        module_len = 0;
    }
    strip_std(&module, &module_len);
    /* compare "module::name" as written (cut to a sane length: anything longer is far from
     * every function anyway) */
    int wn = snprintf(want, sizeof want, "%.*s::%.*s",
                      (int)(module_len < NAME_MAX_LEN ? module_len : NAME_MAX_LEN), module,
                      (int)(name_len < NAME_MAX_LEN ? name_len : NAME_MAX_LEN), name);
    if (wn < 0) return 0;
    /* a hint further away than a third of the text is noise, not a typo */
    size_t limit = (size_t)wn / 3;
    if (limit < 1) limit = 1;
    if (limit > 4) limit = 4;
    for (size_t i = 0;; i++) {
        const tbr_fn *f = tbr_fn_at(i);
        if (!f) break;
        int hn = snprintf(have, sizeof have, "%s::%s", f->module, f->name);
        if (hn < 0 || (size_t)hn >= sizeof have) continue;
        size_t d = edit_distance(want, (size_t)wn, have, (size_t)hn);
        /* a truncated or extended name in the right module is a likely intent */
        if (d > 2 && name_is(f->module, module, module_len) &&
            prefix_related(f->name, strlen(f->name), name, name_len))
            d = 2;
        if (d > limit) continue;
        /* insert in order of distance; equal distances keep registry order */
        size_t at = n;
        while (at > 0 && dist[at - 1] > d) at--;
        if (at >= max) continue;
        size_t last = n < max ? n : max - 1;
        for (size_t k = last; k > at; k--) {
            out[k] = out[k - 1];
            dist[k] = dist[k - 1];
        }
        out[at] = f;
        dist[at] = d;
        if (n < max) n++;
    }
    /* only the best and what is about as good: one clear hint beats a list */
    while (n > 1 && dist[n - 1] > dist[0] + 1) n--;
    return n;
}

const tbr_const *tbr_const_lookup(const char *module, size_t module_len, const char *name, size_t name_len) {
    strip_std(&module, &module_len);
    for (const tbr_const *c = tbr_stdlib_constants; c->name; c++)
        if (name_is(c->module, module, module_len) && strlen(c->name) == name_len && memcmp(c->name, name, name_len) == 0)
            return c;
    return NULL;
}
