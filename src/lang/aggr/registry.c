/*
 * registry.c - the registry of aggregate functions (aggr::stats::*, aggr::win::*): lookup
 * by module and name for the query compiler, iteration, and the error helpers the modules
 * share.
 *
 * The registry is the module tables themselves (static, immutable). Lookup is a linear
 * scan over a dozen entries, run when a query is compiled, never per event.
 *
 * Thread contract: reentrant; any thread.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "lang/aggr/internal.h"

/* Every table, in the order tbr_aggr_at walks them; two share the module "stats". */
static const tbr_aggr_fn *const tables[] = {tbr_aggr_stats, tbr_aggr_stats_hist, tbr_aggr_win};
#define TABLE_COUNT (sizeof tables / sizeof tables[0])

int ag_error(tbr_aggr_ctx *cx, const char *fmt, ...) {
    if (cx && cx->error && cx->error_size > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(cx->error, cx->error_size, fmt, ap);
        va_end(ap);
    }
    return TB_EINVAL;
}

int ag_oom(tbr_aggr_ctx *cx, const char *fn) {
    ag_error(cx, "%s: out of memory", fn);
    return TB_ENOMEM;
}

int ag_no_value(tbr_aggr_ctx *cx, const char *fn) {
    return ag_error(cx, "%s: expected a value argument, found none", fn);
}

int ag_number(tbr_aggr_ctx *cx, const char *fn, const tb_value *args, uint32_t argc,
              double *out) {
    if (argc < 1) return ag_no_value(cx, fn);
    if (tb_value_as_f64(&args[0], out)) return TB_OK;
    return ag_error(cx, "%s: expected a number, found %s", fn, tb_type_name(args[0].type));
}

/* Drops prefix from the front of *s when it is there. */
static void strip(const char **s, size_t *len, const char *prefix) {
    size_t n = strlen(prefix);
    if (*len >= n && memcmp(*s, prefix, n) == 0) {
        *s += n;
        *len -= n;
    }
}

static bool name_is(const char *z, const char *s, size_t n) {
    return strlen(z) == n && memcmp(z, s, n) == 0;
}

const tbr_aggr_fn *tbr_aggr_lookup(const char *module, size_t module_len, const char *name,
                                   size_t name_len) {
    if (!module || !name) return NULL;
    /* "std::aggr::stats", "aggr::stats" and "stats" all name the module "stats" */
    const char *m = module;
    size_t mlen = module_len;
    strip(&m, &mlen, "std::");
    const char *before = m;
    strip(&m, &mlen, "aggr::");
    if (m == before && module != m) return NULL; /* "std::stats" is not an aggregate module */
    for (size_t t = 0; t < TABLE_COUNT; t++) {
        /* every entry of a table shares its module: test it once per table */
        if (!tables[t][0].name || !name_is(tables[t][0].module, m, mlen)) continue;
        for (const tbr_aggr_fn *f = tables[t]; f->name; f++)
            if (name_is(f->name, name, name_len)) return f;
    }
    return NULL;
}

const tbr_aggr_fn *tbr_aggr_at(size_t i) {
    for (size_t t = 0; t < TABLE_COUNT; t++) {
        for (const tbr_aggr_fn *f = tables[t]; f->name; f++) {
            if (i == 0) return f;
            i--;
        }
    }
    return NULL;
}
