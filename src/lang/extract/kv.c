/*
 * kv.c - the `kv|...|` extractor: splits the input into pairs, and each pair into a key and
 * a value, as Tremor's (the tremor-kv crate).
 *
 * Pattern: empty means pairs split on " " and key from value on ":". Otherwise
 * `%{key}SEP%{val}` declares SEP a key/value separator, and any text outside such a
 * %{key}..%{val} pair declares a pair separator: `%{key}=%{val}&` is "a=1&b=2",
 * `&` alone is "a:1&b:2". Several of each may be given; escapes \\ \n \t \r work in them.
 * No separator may contain another one (of either kind).
 *
 * Matching: the input is split on every pair separator in turn (in the sorted order Tremor
 * uses), each piece on every key/value separator; a piece that splits into exactly a key
 * and a value is kept, the rest is ignored. A repeated key keeps its last value. It
 * matches when at least one pair was found. Keys and values point into the input.
 *
 * Thread contract: compile and destroy on the control thread; run is reentrant (the state
 * is only read).
 */
#include <stdlib.h>
#include <string.h>

#include "lang/extract/kinds.h"

typedef struct kv_sep {
    char *s;
    size_t n;
    size_t off; /* where the pattern declared it, for messages */
} kv_sep;

typedef struct kv_seps {
    kv_sep *v;
    size_t n;
} kv_seps;

typedef struct kv_state {
    kv_seps field; /* between pairs */
    kv_seps key;   /* between a key and its value */
} kv_state;

static void free_seps(kv_seps *s) {
    for (size_t i = 0; i < s->n; i++) free(s->v[i].s);
    free(s->v);
}

static void kv_destroy(void *p) {
    kv_state *st = p;
    if (!st) return;
    free_seps(&st->field);
    free_seps(&st->key);
    free(st);
}

/* ---- compiling -------------------------------------------------------------------- */

static const char *find(const char *s, size_t n, const char *needle, size_t m) {
    if (m > n) return NULL;
    for (size_t i = 0; i + m <= n; i++)
        if (memcmp(s + i, needle, m) == 0) return s + i;
    return NULL;
}

/* Decodes the escapes of pattern[at..at+n) into a new separator. */
static int add_sep(kv_seps *seps, const char *pattern, size_t at, size_t n, char *err, size_t err_size) {
    char *s;
    size_t len;
    int rc = tbr_extract_unescape("kv", pattern, at, n, &s, &len, err, err_size);
    if (rc) return rc;
    kv_sep *v = realloc(seps->v, (seps->n + 1) * sizeof *v);
    if (!v) {
        free(s);
        return TB_ENOMEM;
    }
    seps->v = v;
    seps->v[seps->n++] = (kv_sep){s, len, at};
    return TB_OK;
}

static int add_default(kv_seps *seps, const char *text) {
    if (seps->n) return TB_OK;
    return add_sep(seps, text, 0, strlen(text), NULL, 0);
}

/* Walks the pattern: each %{key}X%{val} gives key separator X, the text between such
 * pairs (or all of it when there is none) a pair separator. */
static int parse(kv_state *st, const char *pattern, size_t len, char *err, size_t err_size) {
    static const char KEY[] = "%{key}", VAL[] = "%{val}";
    const size_t KL = sizeof KEY - 1, VL = sizeof VAL - 1;
    size_t i = 0;
    while (i < len) {
        const char *rest = pattern + i;
        if (len - i >= KL && memcmp(rest, KEY, KL) == 0) {
            const char *v = find(rest + KL, len - i - KL, VAL, VL);
            if (!v) return tbr_extract_fail(err, err_size, "kv: '%%{key}' without a following '%%{val}' at offset %zu", i);
            size_t sep = (size_t)(v - (rest + KL));
            if (sep) {
                int rc = add_sep(&st->key, pattern, i + KL, sep, err, err_size);
                if (rc != TB_OK) return rc;
            }
            i += KL + sep + VL;
            continue;
        }
        const char *k = find(rest, len - i, KEY, KL);
        size_t sep = k ? (size_t)(k - rest) : len - i;
        int rc = add_sep(&st->field, pattern, i, sep, err, err_size);
        if (rc != TB_OK) return rc;
        i += sep;
    }
    int rc = add_default(&st->field, " ");
    return rc == TB_OK ? add_default(&st->key, ":") : rc;
}

static int cmp_sep(const void *a, const void *b) {
    const kv_sep *x = a, *y = b;
    size_t n = x->n < y->n ? x->n : y->n;
    int c = memcmp(x->s, y->s, n);
    return c ? c : (x->n > y->n) - (x->n < y->n);
}

/* Sorts (splitting order depends on it, as in Tremor) and drops repeats. */
static void sort_unique(kv_seps *s) {
    if (!s->n) return;
    qsort(s->v, s->n, sizeof *s->v, cmp_sep);
    size_t w = 1;
    for (size_t r = 1; r < s->n; r++) {
        if (cmp_sep(&s->v[r], &s->v[w - 1]) == 0) {
            /* messages point at the first place the pattern declared it */
            if (s->v[r].off < s->v[w - 1].off) s->v[w - 1].off = s->v[r].off;
            free(s->v[r].s);
            continue;
        }
        s->v[w++] = s->v[r];
    }
    s->n = w;
}

static bool contains(const kv_sep *hay, const kv_sep *needle) {
    return find(hay->s, hay->n, needle->s, needle->n) != NULL;
}

/* A separator inside another one would make the split ambiguous; checked in Tremor's
 * order so the same separator is named. */
static int check_overlaps(const kv_seps *mine, const kv_seps *other, char *err, size_t err_size) {
    for (size_t i = 0; i < mine->n; i++) {
        const kv_sep *s = &mine->v[i];
        int shown = s->n > TBR_EXTRACT_QUOTE_MAX ? TBR_EXTRACT_QUOTE_MAX : (int)s->n;
        for (size_t j = 0; j < other->n; j++)
            if (contains(&other->v[j], s))
                return tbr_extract_fail(err, err_size,
                                        "kv: separator '%.*s' is used both between keys and values "
                                        "and between pairs at offset %zu",
                                        shown, s->s, s->off);
        for (size_t j = 0; j < mine->n; j++)
            if (j != i && contains(&mine->v[j], s))
                return tbr_extract_fail(err, err_size,
                                        "kv: separator '%.*s' is part of separator '%.*s' at offset %zu",
                                        shown, s->s, (int)(mine->v[j].n > TBR_EXTRACT_QUOTE_MAX ? TBR_EXTRACT_QUOTE_MAX : mine->v[j].n),
                                        mine->v[j].s, s->off);
    }
    return TB_OK;
}

static int kv_compile(const char *pattern, size_t len, void **state, char *err, size_t err_size) {
    kv_state *st = calloc(1, sizeof *st);
    if (!st) return TB_ENOMEM;
    int rc = parse(st, pattern, len, err, err_size);
    if (rc == TB_OK) {
        sort_unique(&st->field);
        sort_unique(&st->key);
        rc = check_overlaps(&st->field, &st->key, err, err_size);
        if (rc == TB_OK) rc = check_overlaps(&st->key, &st->field, err, err_size);
    }
    if (rc != TB_OK) {
        kv_destroy(st);
        return rc;
    }
    *state = st;
    return TB_OK;
}

/* ---- matching --------------------------------------------------------------------- */

/* Splitting by several separators one after the other yields the pieces in order; a
 * visitor receives them without any list being built. Returns false to stop early. */
typedef bool (*piece_fn)(void *ctx, const char *s, size_t n);

static bool split(const kv_seps *seps, size_t level, const char *s, size_t n, piece_fn fn, void *ctx) {
    if (level == seps->n) return fn(ctx, s, n);
    const kv_sep *sep = &seps->v[level];
    for (;;) {
        const char *at = find(s, n, sep->s, sep->n);
        size_t piece = at ? (size_t)(at - s) : n;
        if (!split(seps, level + 1, s, piece, fn, ctx)) return false;
        if (!at) return true;
        s += piece + sep->n;
        n -= piece + sep->n;
    }
}

typedef struct pair {
    unsigned count;
    const char *p[2];
    size_t n[2];
} pair;

static bool pair_piece(void *ctx, const char *s, size_t n) {
    pair *pr = ctx;
    if (pr->count < 2) {
        pr->p[pr->count] = s;
        pr->n[pr->count] = n;
    }
    return ++pr->count <= 2; /* a third piece already disqualifies the field */
}

typedef struct run_ctx {
    const kv_state *st;
    tb_arena *arena;
    tb_value *out; /* NULL for a bare test */
    bool found;
    int rc;
} run_ctx;

static bool field_piece(void *ctx, const char *s, size_t n) {
    run_ctx *rx = ctx;
    pair pr = {0, {NULL, NULL}, {0, 0}};
    split(&rx->st->key, 0, s, n, pair_piece, &pr);
    if (pr.count != 2) return true;
    rx->found = true;
    if (!rx->out) return false; /* a test needs one pair only */
    tb_value *v = tb_object_set(rx->arena, rx->out, pr.p[0], pr.n[0]);
    if (!v) {
        rx->rc = TB_ENOMEM;
        return false;
    }
    *v = tb_string(pr.p[1], pr.n[1]);
    return true;
}

static int kv_run(void *p, const char *s, size_t len, tb_arena *arena, tb_value *out) {
    run_ctx rx = {p, arena, out, false, TB_OK};
    if (out) *out = tb_object();
    split(&rx.st->field, 0, s, len, field_piece, &rx);
    if (rx.rc != TB_OK) return rx.rc;
    return rx.found;
}

const tbr_extract_kind tbr_extract_kv = {"kv", kv_compile, kv_run, kv_destroy};
