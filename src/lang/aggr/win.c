/*
 * win.c - aggr::win::{first, last, collect_flattened, collect_nested}: the values of a
 * window themselves, as Tremor 0.13 defines them (tremor-script/src/std_lib/win.rs):
 *
 *   first(v) -> any       the first value of the window; null when empty
 *   last(v)  -> any       the last value; null when empty
 *   collect_flattened(v) -> [any]   every value, in order
 *   collect_nested(v)    -> [any]   every value, in order
 *
 * The two collections differ in tilt frames (`from in[w1, w2, w3]`), where a window's state
 * is merged into the next one's when it emits: collect_flattened appends the lower window's
 * values, so every level is one flat array of events; collect_nested appends the lower
 * window's collection as one array, so w2 emits [[e, ...], ...] and w3 [[[e, ...], ...], ...].
 * In a merge first keeps its own value unless it had none, last takes the other's if any.
 *
 * Ownership: values outlive their event, so they are deep-copied: first and the collected
 * values into cx->keep (the window's arena), last into an arena of its own that is reset at
 * every replacement (a window of a million events keeps one value, not a million). The
 * collections' item arrays are malloc'd. fini frees what a state owns. emit deep-copies into
 * cx->out, since the window's arena is reset after emission. Thread contract: aggr.h.
 */
#include <stdlib.h>
#include <string.h>

#include "lang/aggr/internal.h"
#include "value/arena.h"
#include "value/clone.h"

/* Small: most kept values are scalars or small records; bigger ones get chunks of their own. */
#define LAST_ARENA_CHUNK 512

static int emit_copy(tbr_aggr_ctx *cx, const char *fn, bool has, const tb_value *v,
                     tb_value *out) {
    if (!has) {
        *out = tb_null();
        return TB_OK;
    }
    return tbr_value_clone(cx->out, v, out) == TB_OK ? TB_OK : ag_oom(cx, fn);
}

/* ---- first ------------------------------------------------------------------------------- */

typedef struct {
    bool has;
    tb_value v;
} first_state;

static int first_init(tbr_aggr_ctx *cx, void *st, const tb_value *c, uint32_t nc) {
    memset(st, 0, sizeof(first_state));
    return TB_OK;
}

static int first_keep(tbr_aggr_ctx *cx, first_state *s, const tb_value *v) {
    if (s->has) return TB_OK;
    if (tbr_value_clone(cx->keep, v, &s->v) != TB_OK) return ag_oom(cx, "aggr::win::first");
    s->has = true;
    return TB_OK;
}

static int first_accumulate(tbr_aggr_ctx *cx, void *st, const tb_value *args, uint32_t argc) {
    return argc ? first_keep(cx, st, &args[0]) : ag_no_value(cx, "aggr::win::first");
}

/* this state is the earlier one: it keeps its value, unless it had none */
static int first_merge(tbr_aggr_ctx *cx, void *st, const void *other) {
    const first_state *o = other;
    return o->has ? first_keep(cx, st, &o->v) : TB_OK;
}

static int first_emit(tbr_aggr_ctx *cx, const void *st, tb_value *out) {
    const first_state *s = st;
    return emit_copy(cx, "aggr::win::first", s->has, &s->v, out);
}

/* ---- last -------------------------------------------------------------------------------- */

typedef struct {
    bool has;
    tb_value v;
    tb_arena *own; /* holds v only */
} last_state;

static int last_init(tbr_aggr_ctx *cx, void *st, const tb_value *c, uint32_t nc) {
    memset(st, 0, sizeof(last_state));
    return TB_OK;
}

static int last_keep(tbr_aggr_ctx *cx, last_state *s, const tb_value *v) {
    if (!s->own && !(s->own = tbr_arena_new(LAST_ARENA_CHUNK))) return ag_oom(cx, "aggr::win::last");
    /* the previous value goes; v never points into this arena (it is an event's, or another
     * state's) */
    tbr_arena_reset(s->own);
    s->has = false;
    if (tbr_value_clone(s->own, v, &s->v) != TB_OK) return ag_oom(cx, "aggr::win::last");
    s->has = true;
    return TB_OK;
}

static int last_accumulate(tbr_aggr_ctx *cx, void *st, const tb_value *args, uint32_t argc) {
    return argc ? last_keep(cx, st, &args[0]) : ag_no_value(cx, "aggr::win::last");
}

/* this state is the earlier one: the other's value is later, if it has one */
static int last_merge(tbr_aggr_ctx *cx, void *st, const void *other) {
    const last_state *o = other;
    return o->has ? last_keep(cx, st, &o->v) : TB_OK;
}

static int last_emit(tbr_aggr_ctx *cx, const void *st, tb_value *out) {
    const last_state *s = st;
    return emit_copy(cx, "aggr::win::last", s->has, &s->v, out);
}

static void last_fini(void *st) {
    last_state *s = st;
    tbr_arena_free(s->own);
    memset(s, 0, sizeof *s);
}

/* ---- collect_flattened and collect_nested ------------------------------------------------ */

typedef struct {
    tb_value *items; /* malloc'd; the values' contents are in cx->keep */
    uint32_t len;
    uint32_t cap;
} collect_state;

static const char FLAT[] = "aggr::win::collect_flattened";
static const char NESTED[] = "aggr::win::collect_nested";

static int collect_init(tbr_aggr_ctx *cx, void *st, const tb_value *c, uint32_t nc) {
    memset(st, 0, sizeof(collect_state));
    return TB_OK;
}

/* Appends a copy of v (into cx->keep). */
static int collect_push(tbr_aggr_ctx *cx, const char *fn, collect_state *s, const tb_value *v) {
    if (s->len == s->cap) {
        /* an array value holds at most UINT32_MAX items */
        if (s->cap >= UINT32_MAX / 2) return ag_error(cx, "%s: too many values in the window", fn);
        uint32_t ncap = s->cap ? s->cap * 2 : 16;
        tb_value *n = realloc(s->items, (size_t)ncap * sizeof *n);
        if (!n) return ag_oom(cx, fn);
        s->items = n;
        s->cap = ncap;
    }
    if (tbr_value_clone(cx->keep, v, &s->items[s->len]) != TB_OK) return ag_oom(cx, fn);
    s->len++;
    return TB_OK;
}

static int flat_accumulate(tbr_aggr_ctx *cx, void *st, const tb_value *args, uint32_t argc) {
    return argc ? collect_push(cx, FLAT, st, &args[0]) : ag_no_value(cx, FLAT);
}

static int nested_accumulate(tbr_aggr_ctx *cx, void *st, const tb_value *args, uint32_t argc) {
    return argc ? collect_push(cx, NESTED, st, &args[0]) : ag_no_value(cx, NESTED);
}

/* the lower window's values, one by one after this window's */
static int flat_merge(tbr_aggr_ctx *cx, void *st, const void *other) {
    const collect_state *o = other;
    for (uint32_t i = 0; i < o->len; i++) {
        int rc = collect_push(cx, FLAT, st, &o->items[i]);
        if (rc != TB_OK) return rc;
    }
    return TB_OK;
}

/* the lower window's collection, as one array item */
static int nested_merge(tbr_aggr_ctx *cx, void *st, const void *other) {
    const collect_state *o = other;
    tb_value frame = tb_array();
    frame.len = o->len;
    frame.as.items = o->items;
    return collect_push(cx, NESTED, st, &frame);
}

static int collect_emit_as(tbr_aggr_ctx *cx, const char *fn, const collect_state *s,
                           tb_value *out) {
    tb_value all = tb_array();
    all.len = s->len;
    all.as.items = s->items;
    return tbr_value_clone(cx->out, &all, out) == TB_OK ? TB_OK : ag_oom(cx, fn);
}

static int flat_emit(tbr_aggr_ctx *cx, const void *st, tb_value *out) {
    return collect_emit_as(cx, FLAT, st, out);
}

static int nested_emit(tbr_aggr_ctx *cx, const void *st, tb_value *out) {
    return collect_emit_as(cx, NESTED, st, out);
}

static void collect_fini(void *st) {
    collect_state *s = st;
    free(s->items);
    memset(s, 0, sizeof *s);
}

/* ---- the table --------------------------------------------------------------------------- */

const tbr_aggr_fn tbr_aggr_win[] = {
    {"win", "first", 1, 1, sizeof(first_state), 0, first_init, first_accumulate, first_merge,
     first_emit, NULL, "aggr::win::first(v) -> any", "The first value of the window."},
    {"win", "last", 1, 1, sizeof(last_state), 0, last_init, last_accumulate, last_merge,
     last_emit, last_fini, "aggr::win::last(v) -> any", "The last value of the window."},
    {"win", "collect_flattened", 1, 1, sizeof(collect_state), 0, collect_init, flat_accumulate,
     flat_merge, flat_emit, collect_fini, "aggr::win::collect_flattened(v) -> array",
     "Every value of the window; in tilt frames the lower windows' values, flattened."},
    {"win", "collect_nested", 1, 1, sizeof(collect_state), 0, collect_init, nested_accumulate,
     nested_merge, nested_emit, collect_fini, "aggr::win::collect_nested(v) -> array",
     "Every value of the window; in tilt frames one array per lower window, nested."},
    {NULL, NULL, 0, 0, 0, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL},
};
