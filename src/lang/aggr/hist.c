/*
 * hist.c - the histogram-based aggregates of aggr::stats: hdr (Tremor 0.13,
 * tremor-script/src/std_lib/stats.rs) and percentile (temblor's own), both on the HDR
 * histogram of core/hdr.h configured as Tremor configures it: lowest discernible value 1,
 * 2 significant digits, growing as needed (so exact up to 255, within 1% above).
 *
 * aggr::stats::hdr(n[, percentiles]) -> record
 *   {"count": int, "min": int, "max": int, "mean": float, "stdev": float, "var": float,
 *    "percentiles": {"<p>": int, ...}}
 *   in that order. percentiles is a constant array of strings such as ["0.5", "0.99"]
 *   (quantiles, 0..1), default ["0.5", "0.9", "0.95", "0.99", "0.999", "0.9999",
 *   "0.99999"]; each string is a key of "percentiles" exactly as written, its value the
 *   histogram's value at that quantile (a repeated key counts once). stdev is the
 *   population standard deviation, var its square. An empty window gives 0 everywhere.
 * aggr::stats::percentile(n, q) -> int
 *   The value at quantile q (a constant number, or a string like hdr's, within 0..1),
 *   exactly as hdr reports it for the same q; 0 for an empty window.
 *
 * As in Tremor, values are truncated to integers (2.7 counts as 2) and negative values are
 * skipped (the histogram cannot hold them). Unlike Tremor, which skips non-numbers
 * silently and drops non-string percentiles, both are errors here ("aggr::stats::hdr:
 * expected a number, found string"): a silently wrong statistic is worse than a failed event.
 *
 * Ownership: a state owns its histogram's counts array (fini frees it); the percentile keys
 * live in cx->keep (or are static defaults). Thread contract: aggr.h.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/hdr.h"
#include "lang/aggr/internal.h"

/* Tremor's configuration of the histogram. */
#define HIST_LOWEST 1
#define HIST_INITIAL_HIGHEST 4
#define HIST_SIGFIGS 2

/* A requested percentile: its key as written and its quantile. */
typedef struct {
    const char *key;
    uint32_t key_len;
    double q;
} pct;

static const pct default_pcts[] = {
    {"0.5", 3, 0.5},       {"0.9", 3, 0.9},         {"0.95", 4, 0.95},
    {"0.99", 4, 0.99},     {"0.999", 5, 0.999},     {"0.9999", 6, 0.9999},
    {"0.99999", 7, 0.99999},
};
#define DEFAULT_PCT_COUNT (sizeof default_pcts / sizeof default_pcts[0])

/* ---- shared ------------------------------------------------------------------------------ */

/* The histogram is created at the first value, so empty groups and windows cost nothing. */
static int hist_ready(tbr_aggr_ctx *cx, const char *fn, tbr_hdr *h) {
    if (h->counts) return TB_OK;
    int rc = tbr_hdr_init(h, HIST_LOWEST, HIST_INITIAL_HIGHEST, HIST_SIGFIGS);
    if (rc != TB_OK) return ag_oom(cx, fn);
    tbr_hdr_set_auto_resize(h, true);
    return TB_OK;
}

/* Records a number as Tremor does: negatives skipped, the rest truncated to an unsigned
 * integer the way Rust's `as` converts (NaN to 0, beyond the range to the maximum). */
static int hist_add(tbr_aggr_ctx *cx, const char *fn, tbr_hdr *h, const tb_value *args,
                    uint32_t argc) {
    if (argc < 1) return ag_no_value(cx, fn);
    const tb_value *v = &args[0];
    uint64_t u;
    switch (v->type) {
    case TB_I64:
        if (v->as.i < 0) return TB_OK;
        u = (uint64_t)v->as.i;
        break;
    case TB_U64: u = v->as.u; break;
    case TB_F64:
        if (v->as.f < 0) return TB_OK;
        if (!(v->as.f == v->as.f)) u = 0;
        else if (v->as.f >= 18446744073709551616.0) u = UINT64_MAX;
        else u = (uint64_t)v->as.f;
        break;
    default:
        return ag_error(cx, "%s: expected a number, found %s", fn, tb_type_name(v->type));
    }
    int rc = hist_ready(cx, fn, h);
    if (rc != TB_OK) return rc;
    /* it grows as needed: only memory can fail */
    rc = tbr_hdr_record(h, u);
    return rc == TB_OK ? TB_OK : ag_oom(cx, fn);
}

static int hist_merge(tbr_aggr_ctx *cx, const char *fn, tbr_hdr *h, const tbr_hdr *other) {
    if (tbr_hdr_total_count(other) == 0) return TB_OK;
    int rc = hist_ready(cx, fn, h);
    if (rc != TB_OK) return rc;
    rc = tbr_hdr_merge(h, other);
    if (rc == TB_ENOMEM) return ag_oom(cx, fn);
    /* both are made by hist_ready alike and grow: a mismatch is a bug, not a user error */
    if (rc != TB_OK) return ag_error(cx, "%s: cannot merge histograms of different shapes", fn);
    return TB_OK;
}

/* Parses a percentile written as text, accepting what Rust's f64 parser accepts (Tremor
 * parses it so): an optional sign, then digits with an optional fraction and exponent, or
 * inf, infinity, nan in any case. No spaces, no hexadecimal. */
static bool parse_quantile(const char *s, size_t n, double *out) {
    char buf[64];
    size_t i = 0, digits = 0;
    if (n == 0 || n >= sizeof buf) return false;
    memcpy(buf, s, n);
    buf[n] = '\0';
    if (buf[i] == '+' || buf[i] == '-') i++;
    const char *word = buf + i;
    if (!strcasecmp(word, "inf") || !strcasecmp(word, "infinity") || !strcasecmp(word, "nan")) {
        *out = strtod(buf, NULL);
        return true;
    }
    while (buf[i] >= '0' && buf[i] <= '9') i++, digits++;
    if (buf[i] == '.') {
        i++;
        while (buf[i] >= '0' && buf[i] <= '9') i++, digits++;
    }
    if (digits == 0) return false;
    if (buf[i] == 'e' || buf[i] == 'E') {
        size_t exp_digits = 0;
        i++;
        if (buf[i] == '+' || buf[i] == '-') i++;
        while (buf[i] >= '0' && buf[i] <= '9') i++, exp_digits++;
        if (exp_digits == 0) return false;
    }
    if (i != n) return false;
    *out = strtod(buf, NULL);
    return true;
}

/* ---- hdr --------------------------------------------------------------------------------- */

typedef struct {
    tbr_hdr h;
    const pct *pcts;
    uint32_t npcts;
} hdr_state;

static const char HDR[] = "aggr::stats::hdr";

static bool key_seen(const pct *p, uint32_t n, const char *key, size_t len) {
    for (uint32_t i = 0; i < n; i++)
        if (p[i].key_len == len && memcmp(p[i].key, key, len) == 0) return true;
    return false;
}

/* The percentile list, from the constant second argument: every item a string. */
static int hdr_percentiles(tbr_aggr_ctx *cx, hdr_state *s, const tb_value *arr) {
    if (arr->type != TB_ARRAY)
        return ag_error(cx, "%s: expected an array of percentiles such as [\"0.5\", \"0.99\"], found %s",
                        HDR, tb_type_name(arr->type));
    pct *list = arr->len ? tb_arena_alloc(cx->keep, (size_t)arr->len * sizeof *list, 8) : NULL;
    if (arr->len && !list) return ag_oom(cx, HDR);
    uint32_t n = 0;
    for (uint32_t i = 0; i < arr->len; i++) {
        const tb_value *it = &arr->as.items[i];
        size_t len;
        const char *text = tb_value_str(it, &len);
        double q;
        if (!text)
            return ag_error(cx, "%s: expected percentiles as strings such as \"0.99\", found %s",
                            HDR, tb_type_name(it->type));
        if (!parse_quantile(text, len, &q))
            return ag_error(cx, "%s: provided percentile '%.*s' isn't a float", HDR,
                            (int)(len > 64 ? 64 : len), text);
        if (key_seen(list, n, text, len)) continue; /* the first one stands, as in Tremor */
        char *key = tb_arena_dup(cx->keep, text, len);
        if (!key) return ag_oom(cx, HDR);
        list[n++] = (pct){key, (uint32_t)len, q};
    }
    s->pcts = list;
    s->npcts = n;
    return TB_OK;
}

static int hdr_init(tbr_aggr_ctx *cx, void *st, const tb_value *c, uint32_t nc) {
    hdr_state *s = st;
    memset(s, 0, sizeof *s);
    s->pcts = default_pcts;
    s->npcts = DEFAULT_PCT_COUNT;
    return nc > 0 ? hdr_percentiles(cx, s, &c[0]) : TB_OK;
}

static int hdr_accumulate(tbr_aggr_ctx *cx, void *st, const tb_value *args, uint32_t argc) {
    return hist_add(cx, HDR, &((hdr_state *)st)->h, args, argc);
}

static int hdr_merge(tbr_aggr_ctx *cx, void *st, const void *other) {
    return hist_merge(cx, HDR, &((hdr_state *)st)->h, &((const hdr_state *)other)->h);
}

static bool put(tb_arena *a, tb_value *obj, const char *key, tb_value v) {
    tb_value *slot = tb_object_append(a, obj, key, strlen(key));
    if (!slot) return false;
    *slot = v;
    return true;
}

static int hdr_emit(tbr_aggr_ctx *cx, const void *st, tb_value *out) {
    const hdr_state *s = st;
    const tbr_hdr *h = &s->h;
    tb_value pcts = tb_object();
    for (uint32_t i = 0; i < s->npcts; i++) {
        /* the keys live in the window's arena, the result must outlive it */
        const char *key = tb_arena_dup(cx->out, s->pcts[i].key, s->pcts[i].key_len);
        tb_value *slot = key ? tb_object_append(cx->out, &pcts, key, s->pcts[i].key_len) : NULL;
        if (!slot) return ag_oom(cx, HDR);
        /* percent then back, as Tremor computes it: value_at_percentile(q * 100) */
        *slot = ag_uint(tbr_hdr_value_at_percentile(h, s->pcts[i].q * 100.0));
    }
    double stdev = tbr_hdr_stdev(h);
    tb_value r = tb_object();
    if (!put(cx->out, &r, "count", ag_uint(tbr_hdr_total_count(h))) ||
        !put(cx->out, &r, "min", ag_uint(tbr_hdr_min(h))) ||
        !put(cx->out, &r, "max", ag_uint(tbr_hdr_max(h))) ||
        !put(cx->out, &r, "mean", tb_f64(tbr_hdr_mean(h))) ||
        !put(cx->out, &r, "stdev", tb_f64(stdev)) ||
        !put(cx->out, &r, "var", tb_f64(pow(stdev, 2.0))) ||
        !put(cx->out, &r, "percentiles", pcts))
        return ag_oom(cx, HDR);
    *out = r;
    return TB_OK;
}

static void hdr_fini(void *st) { tbr_hdr_fini(&((hdr_state *)st)->h); }

/* ---- percentile -------------------------------------------------------------------------- */

typedef struct {
    tbr_hdr h;
    double q;
} percentile_state;

static const char PERCENTILE[] = "aggr::stats::percentile";

static int percentile_init(tbr_aggr_ctx *cx, void *st, const tb_value *c, uint32_t nc) {
    percentile_state *s = st;
    memset(s, 0, sizeof *s);
    double q = NAN;
    if (nc < 1) return ag_error(cx, "%s: expected a quantile argument", PERCENTILE);
    size_t len;
    const char *text = tb_value_str(&c[0], &len);
    bool ok = text ? parse_quantile(text, len, &q) : tb_value_as_f64(&c[0], &q);
    if (!ok || !(q >= 0.0 && q <= 1.0)) {
        if (text)
            return ag_error(cx, "%s: expected a quantile between 0 and 1 such as 0.99, found '%.*s'",
                            PERCENTILE, (int)(len > 64 ? 64 : len), text);
        if (ok)
            return ag_error(cx, "%s: expected a quantile between 0 and 1 such as 0.99, found %g",
                            PERCENTILE, q);
        return ag_error(cx, "%s: expected a quantile between 0 and 1 such as 0.99, found %s",
                        PERCENTILE, tb_type_name(c[0].type));
    }
    s->q = q;
    return TB_OK;
}

static int percentile_accumulate(tbr_aggr_ctx *cx, void *st, const tb_value *args, uint32_t argc) {
    return hist_add(cx, PERCENTILE, &((percentile_state *)st)->h, args, argc);
}

static int percentile_merge(tbr_aggr_ctx *cx, void *st, const void *other) {
    return hist_merge(cx, PERCENTILE, &((percentile_state *)st)->h,
                      &((const percentile_state *)other)->h);
}

static int percentile_emit(tbr_aggr_ctx *cx, const void *st, tb_value *out) {
    const percentile_state *s = st;
    *out = ag_uint(tbr_hdr_value_at_percentile(&s->h, s->q * 100.0));
    return TB_OK;
}

static void percentile_fini(void *st) { tbr_hdr_fini(&((percentile_state *)st)->h); }

/* ---- the table --------------------------------------------------------------------------- */

const tbr_aggr_fn tbr_aggr_stats_hist[] = {
    {"stats", "percentile", 2, 2, sizeof(percentile_state), 1, percentile_init,
     percentile_accumulate, percentile_merge, percentile_emit, percentile_fini,
     "aggr::stats::percentile(n, q) -> int",
     "The value at quantile q (0..1) of the values, from an HDR histogram (2 digits)."},
    {"stats", "hdr", 1, 2, sizeof(hdr_state), 1, hdr_init, hdr_accumulate, hdr_merge,
     hdr_emit, hdr_fini, "aggr::stats::hdr(n[, percentiles]) -> record",
     "count, min, max, mean, stdev, var and percentiles of the values, from an HDR histogram."},
    {NULL, NULL, 0, 0, 0, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL},
};
