/*
 * glob.c - the `glob|...|` extractor: Unix shell-style wildcards over the whole input, as
 * Tremor's (Rust's glob crate, default match options): `?` one character, `*` any run of
 * characters (slashes included), `**` a run of whole path components, `[...]` / `[!...]`
 * a set or its negation with ranges (`]` first in the set is literal, `-` first or last
 * is literal). There is no backslash escape: `[*]` matches a star. Characters are Unicode
 * code points. The result of a match is true.
 *
 * Matching tracks, token by token, the set of input offsets the pattern can have reached
 * (a bit set), so it takes O(tokens x input) time whatever the stars, where backtracking
 * would go exponential on patterns like `*a*a*a*b`.
 *
 * Thread contract: compile and destroy on the control thread; run on one thread at a time
 * per extractor (the bit sets are scratch space kept in the state).
 */
#include <stdlib.h>
#include <string.h>

#include "lang/extract/kinds.h"

enum { G_CHAR, G_ANY, G_STAR, G_DSTAR, G_SET, G_NOTSET };

typedef struct glob_tok {
    uint8_t kind;
    uint32_t c;           /* G_CHAR: the code point */
    uint32_t first, count; /* G_SET, G_NOTSET: ranges[first .. first+count) */
} glob_tok;

typedef struct glob_range {
    uint32_t lo, hi; /* inclusive; a single character has lo == hi */
} glob_range;

typedef struct glob_state {
    glob_tok *toks;
    uint32_t ntoks;
    glob_range *ranges;
    uint32_t nranges;
    uint64_t *bits; /* scratch: two bit sets of words each */
    size_t words;
} glob_state;

/* A byte that does not start valid UTF-8 decodes to a value no real character has, so it
 * only ever equals the same stray byte. */
#define STRAY_BYTE 0x110000u

/* Decodes the character at s[0..n), n > 0; sets *len to its byte length. */
static uint32_t decode(const unsigned char *s, size_t n, size_t *len) {
    unsigned char b = s[0];
    uint32_t c;
    size_t need;
    if (b < 0x80) {
        *len = 1;
        return b;
    } else if (b >= 0xC2 && b <= 0xDF) {
        need = 2;
        c = b & 0x1Fu;
    } else if (b >= 0xE0 && b <= 0xEF) {
        need = 3;
        c = b & 0x0Fu;
    } else if (b >= 0xF0 && b <= 0xF4) {
        need = 4;
        c = b & 0x07u;
    } else {
        *len = 1;
        return STRAY_BYTE + b;
    }
    if (n < need) {
        *len = 1;
        return STRAY_BYTE + b;
    }
    for (size_t i = 1; i < need; i++) {
        if ((s[i] & 0xC0) != 0x80) {
            *len = 1;
            return STRAY_BYTE + b;
        }
        c = c << 6 | (s[i] & 0x3Fu);
    }
    /* overlong forms and surrogates are not characters either */
    if ((need == 3 && c < 0x800) || (need == 4 && (c < 0x10000 || c > 0x10FFFF)) ||
        (c >= 0xD800 && c <= 0xDFFF)) {
        *len = 1;
        return STRAY_BYTE + b;
    }
    *len = need;
    return c;
}

static void glob_destroy(void *p) {
    glob_state *st = p;
    if (!st) return;
    free(st->toks);
    free(st->ranges);
    free(st->bits);
    free(st);
}

/* The pattern as code points, each with its byte offset (for messages). */
typedef struct cps {
    uint32_t *c;
    size_t *off;
    size_t n;
} cps;

static int to_cps(const char *pattern, size_t len, cps *out) {
    out->c = malloc((len + 1) * sizeof *out->c);
    out->off = malloc((len + 1) * sizeof *out->off);
    out->n = 0;
    if (!out->c || !out->off) return TB_ENOMEM;
    for (size_t i = 0; i < len;) {
        size_t l;
        out->off[out->n] = i;
        out->c[out->n++] = decode((const unsigned char *)pattern + i, len - i, &l);
        i += l;
    }
    out->off[out->n] = len;
    return TB_OK;
}

static bool push_tok(glob_state *st, glob_tok t) {
    glob_tok *n = realloc(st->toks, (st->ntoks + 1) * sizeof *n);
    if (!n) return false;
    st->toks = n;
    st->toks[st->ntoks++] = t;
    return true;
}

/* Parses the set members p[0..m): `a-z` is a range, anything else a single character. */
static bool push_set(glob_state *st, const uint32_t *p, size_t m, uint8_t kind) {
    glob_range *n = realloc(st->ranges, (st->nranges + m + 1) * sizeof *n);
    if (!n) return false;
    st->ranges = n;
    glob_tok t = {kind, 0, st->nranges, 0};
    for (size_t k = 0; k < m;) {
        if (k + 3 <= m && p[k + 1] == '-') {
            st->ranges[st->nranges++] = (glob_range){p[k], p[k + 2]};
            k += 3;
        } else {
            st->ranges[st->nranges++] = (glob_range){p[k], p[k]};
            k++;
        }
    }
    t.count = st->nranges - t.first;
    return push_tok(st, t);
}

/* Position of the first ']' in c[from..n), or n. */
static size_t find_close(const cps *p, size_t from) {
    while (from < p->n && p->c[from] != ']') from++;
    return from;
}

static int bad(const cps *p, size_t pos, const char *why, char *err, size_t err_size) {
    return tbr_extract_fail(err, err_size, "glob: %s at offset %zu", why, p->off[pos < p->n ? pos : p->n]);
}

/* `*` and `**` starting at p->c[*i]. */
static int parse_stars(glob_state *st, const cps *p, size_t *i, char *err, size_t err_size) {
    size_t old = *i;
    while (*i < p->n && p->c[*i] == '*') (*i)++;
    size_t count = *i - old;
    if (count > 2) return bad(p, old + 2, "wildcards are either regular '*' or recursive '**'", err, err_size);
    if (count == 1) return push_tok(st, (glob_tok){G_STAR, 0, 0, 0}) ? TB_OK : TB_ENOMEM;
    /* `**` must be a whole path component (between slashes or at an end): not a** nor **b */
    if (old > 0 && p->c[old - 1] != '/')
        return bad(p, old - 1, "recursive wildcards must form a single path component", err, err_size);
    if (*i < p->n && p->c[*i] == '/')
        (*i)++; /* the separator belongs to the wildcard */
    else if (*i != p->n)
        return bad(p, *i, "recursive wildcards must form a single path component", err, err_size);
    /* consecutive `**` collapse into one (the crate only looks past the first token) */
    if (st->ntoks > 1 && st->toks[st->ntoks - 1].kind == G_DSTAR) return TB_OK;
    return push_tok(st, (glob_tok){G_DSTAR, 0, 0, 0}) ? TB_OK : TB_ENOMEM;
}

static int parse_set(glob_state *st, const cps *p, size_t *i, char *err, size_t err_size) {
    size_t at = *i, n = p->n;
    if (at + 4 <= n && p->c[at + 1] == '!') {
        size_t j = find_close(p, at + 3); /* `]` right after `[!` is a member */
        if (j < n) {
            *i = j + 1;
            return push_set(st, p->c + at + 2, j - (at + 2), G_NOTSET) ? TB_OK : TB_ENOMEM;
        }
    } else if (at + 3 <= n && p->c[at + 1] != '!') {
        size_t j = find_close(p, at + 2); /* `]` right after `[` is a member */
        if (j < n) {
            *i = j + 1;
            return push_set(st, p->c + at + 1, j - (at + 1), G_SET) ? TB_OK : TB_ENOMEM;
        }
    }
    return bad(p, at, "invalid range pattern", err, err_size);
}

static int parse(glob_state *st, const cps *p, char *err, size_t err_size) {
    for (size_t i = 0; i < p->n;) {
        int rc = TB_OK;
        switch (p->c[i]) {
        case '?':
            rc = push_tok(st, (glob_tok){G_ANY, 0, 0, 0}) ? TB_OK : TB_ENOMEM;
            i++;
            break;
        case '*': rc = parse_stars(st, p, &i, err, err_size); break;
        case '[': rc = parse_set(st, p, &i, err, err_size); break;
        default:
            rc = push_tok(st, (glob_tok){G_CHAR, p->c[i], 0, 0}) ? TB_OK : TB_ENOMEM;
            i++;
            break;
        }
        if (rc != TB_OK) return rc;
    }
    return TB_OK;
}

static int glob_compile(const char *pattern, size_t len, void **state, char *err, size_t err_size) {
    glob_state *st = calloc(1, sizeof *st);
    cps p = {0};
    int rc = st ? to_cps(pattern, len, &p) : TB_ENOMEM;
    if (rc == TB_OK) rc = parse(st, &p, err, err_size);
    free(p.c);
    free(p.off);
    if (rc != TB_OK) {
        glob_destroy(st);
        return rc;
    }
    *state = st;
    return TB_OK;
}

/* ---- matching ---------------------------------------------------------------------- */

static inline void bit_set(uint64_t *b, size_t i) { b[i >> 6] |= (uint64_t)1 << (i & 63); }
static inline bool bit_get(const uint64_t *b, size_t i) { return b[i >> 6] >> (i & 63) & 1; }

/* The lowest set offset in b (of words words), or SIZE_MAX when empty. */
static size_t bit_min(const uint64_t *b, size_t words) {
    for (size_t w = 0; w < words; w++)
        if (b[w]) return w * 64 + (size_t)__builtin_ctzll(b[w]);
    return SIZE_MAX;
}

static bool in_set(const glob_state *st, const glob_tok *t, uint32_t c) {
    for (uint32_t k = 0; k < t->count; k++) {
        const glob_range *r = &st->ranges[t->first + k];
        if (c >= r->lo && c <= r->hi) return true;
    }
    return false;
}

static bool one_char_matches(const glob_state *st, const glob_tok *t, uint32_t c) {
    switch (t->kind) {
    case G_CHAR: return c == t->c;
    case G_ANY: return true;
    case G_SET: return in_set(st, t, c);
    default: return !in_set(st, t, c); /* G_NOTSET */
    }
}

/* next = the offsets reachable from cur by one step of token t over s[0..len). */
static void step(const glob_state *st, const glob_tok *t, const unsigned char *s, size_t len,
                 const uint64_t *cur, uint64_t *next, size_t words) {
    memset(next, 0, words * sizeof *next);
    size_t from = bit_min(cur, words);
    if (from == SIZE_MAX) return;
    if (t->kind == G_STAR || t->kind == G_DSTAR) {
        /* `*` reaches every later character boundary; `**` only the ones after a '/', plus
         * the end (the crate lets a trailing `**` swallow the rest) */
        for (size_t p = from; p < len;) {
            size_t l;
            uint32_t c = decode(s + p, len - p, &l);
            if (t->kind == G_STAR || bit_get(cur, p)) bit_set(next, p);
            p += l;
            if (t->kind == G_STAR || c == '/') bit_set(next, p);
        }
        bit_set(next, len);
        if (t->kind == G_STAR) bit_set(next, from);
        return;
    }
    for (size_t p = from; p < len;) {
        size_t l;
        uint32_t c = decode(s + p, len - p, &l);
        if (bit_get(cur, p) && one_char_matches(st, t, c)) bit_set(next, p + l);
        p += l;
    }
}

static int glob_run(void *p, const char *s, size_t len, tb_arena *arena, tb_value *out) {
    glob_state *st = p;
    (void)arena;
    size_t words = (len + 1 + 63) / 64;
    if (words * 2 > st->words) {
        uint64_t *b = realloc(st->bits, words * 2 * sizeof *b);
        if (!b) return TB_ENOMEM;
        st->bits = b;
        st->words = words * 2;
    }
    uint64_t *cur = st->bits, *next = st->bits + words;
    memset(cur, 0, words * sizeof *cur);
    bit_set(cur, 0);
    for (uint32_t i = 0; i < st->ntoks; i++) {
        step(st, &st->toks[i], (const unsigned char *)s, len, cur, next, words);
        uint64_t *t = cur;
        cur = next;
        next = t;
    }
    if (!bit_get(cur, len)) return 0;
    if (out) *out = tb_bool(true);
    return 1;
}

const tbr_extract_kind tbr_extract_glob = {"glob", glob_compile, glob_run, glob_destroy};
