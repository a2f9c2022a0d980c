/*
 * aggr_test.h - fixture and helpers of the aggregate functions' tests: a tiny stand-in for
 * the query executor. A window (tw) is one aggregate call site's state with its own keep
 * arena; values are written as JSON; every event value lives in an arena of its own that is
 * freed right after accumulate, and a window's arena is freed when it is closed or merged
 * away, so under ASan a state or result that kept a pointer into either fails loudly.
 * Results are compared strictly (3 is an int, 3.0 a float; records in order).
 */
#ifndef TB_TEST_AGGR_TEST_H
#define TB_TEST_AGGR_TEST_H

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lang/aggr.h"
#include "value/arena.h"
#include "value/json.h"
#include "value_same.h"

typedef struct fx {
    tb_arena *out;     /* results (the output batch's arena) */
    tb_arena *scratch; /* expected values */
    char err[512];
} fx;

/* One call site's state in one window. */
typedef struct tw {
    const tbr_aggr_fn *fn;
    void *state;
    tb_arena *keep;
} tw;

static inline int fx_setup(void **state) {
    fx *f = calloc(1, sizeof *f);
    if (!f) return -1;
    f->out = tbr_arena_new(4096);
    f->scratch = tbr_arena_new(4096);
    if (!f->out || !f->scratch) return -1;
    *state = f;
    return 0;
}

static inline int fx_teardown(void **state) {
    fx *f = *state;
    tbr_arena_free(f->out);
    tbr_arena_free(f->scratch);
    free(f);
    return 0;
}

#define FX_TEST(t) cmocka_unit_test_setup_teardown(t, fx_setup, fx_teardown)

/* A value from JSON text, in arena a (fails the test on a parse error). */
static inline tb_value J_in(tb_arena *a, const char *json) {
    tb_value v;
    char err[128];
    if (tbr_json_parse(a, json, strlen(json), &v, err, sizeof err) != TB_OK)
        fail_msg("bad JSON in test: %s: %s", json, err);
    return v;
}
#define J(f, json) J_in((f)->scratch, json)

/* The aggregate "module::name" (fails the test when absent). */
static inline const tbr_aggr_fn *A(const char *qualified) {
    const char *sep = strrchr(qualified, ':');
    if (!sep || sep == qualified) fail_msg("not a qualified name: %s", qualified);
    const tbr_aggr_fn *fn = tbr_aggr_lookup(qualified, (size_t)(sep - 1 - qualified), sep + 1,
                                            strlen(sep + 1));
    if (!fn) fail_msg("no aggregate %s", qualified);
    return fn;
}

static inline tbr_aggr_ctx ctx_for(fx *f, tw *w) {
    tbr_aggr_ctx cx = {w ? w->keep : NULL, f->out, f->err, sizeof f->err};
    return cx;
}

/* Opens a window for qualified, with the constant arguments in the JSON array consts (NULL:
 * none). Returns init's status in *rc when rc is given, else fails the test on an error. */
static inline tw *tw_open_rc(fx *f, const char *qualified, const char *consts, int *rc) {
    tw *w = calloc(1, sizeof *w);
    if (!w) fail_msg("out of memory");
    w->fn = A(qualified);
    w->state = calloc(1, w->fn->state_size ? w->fn->state_size : 1);
    w->keep = tbr_arena_new(1024);
    if (!w->state || !w->keep) fail_msg("out of memory");
    tb_arena *ca = tbr_arena_new(1024);
    tb_value c = consts ? J_in(ca, consts) : tb_array();
    assert_int_equal(c.type, TB_ARRAY);
    tbr_aggr_ctx cx = ctx_for(f, w);
    f->err[0] = '\0';
    int r = w->fn->init(&cx, w->state, c.as.items, c.len);
    /* constants are evaluated once and may die after init: the state must have copied */
    tbr_arena_free(ca);
    if (rc)
        *rc = r;
    else if (r != TB_OK)
        fail_msg("init of %s failed (%d): %s", qualified, r, f->err);
    return w;
}
#define tw_open(f, q, consts) tw_open_rc(f, q, consts, NULL)

static inline void tw_close(tw *w) {
    if (!w) return;
    if (w->fn->fini) w->fn->fini(w->state);
    tbr_arena_free(w->keep);
    free(w->state);
    free(w);
}

/* Accumulates one event whose argument is the JSON value json (no argument for count). */
static inline int tw_feed1(fx *f, tw *w, const char *json) {
    tb_arena *ev = tbr_arena_new(256); /* the event's batch arena, gone after the call */
    tb_value v = J_in(ev, json);
    tbr_aggr_ctx cx = ctx_for(f, w);
    f->err[0] = '\0';
    int rc = w->fn->accumulate(&cx, w->state, &v, w->fn->min_args == 0 ? 0 : 1);
    tbr_arena_free(ev);
    return rc;
}

/* Accumulates every item of the JSON array json, one event each; fails the test on error. */
static inline void tw_feed(fx *f, tw *w, const char *json) {
    tb_value arr = J(f, json);
    assert_int_equal(arr.type, TB_ARRAY);
    tb_buf buf;
    for (uint32_t i = 0; i < arr.len; i++) {
        tb_buf_init(&buf, f->scratch);
        if (tbr_json_write(&arr.as.items[i], &buf) != TB_OK || !tb_buf_append(&buf, "", 1))
            fail_msg("out of memory");
        int rc = tw_feed1(f, w, (const char *)buf.data);
        if (rc != TB_OK) fail_msg("accumulate of %s failed (%d): %s", w->fn->name, rc, f->err);
    }
}

/* Merges src into dst (src is the window that just emitted), then closes src. */
static inline int tw_merge_close(fx *f, tw *dst, tw *src) {
    tbr_aggr_ctx cx = ctx_for(f, dst);
    f->err[0] = '\0';
    int rc = dst->fn->merge(&cx, dst->state, src->state);
    tw_close(src);
    return rc;
}

static inline tb_value tw_emit(fx *f, tw *w) {
    tb_value out;
    tbr_aggr_ctx cx = ctx_for(f, w);
    f->err[0] = '\0';
    int rc = w->fn->emit(&cx, w->state, &out);
    if (rc != TB_OK) fail_msg("emit of %s failed (%d): %s", w->fn->name, rc, f->err);
    return out;
}

/* Strict equality from tests/support. */
#define same_value tb_test_same_value

static inline const char *show(fx *f, const tb_value *v) {
    tb_buf buf;
    tb_buf_init(&buf, f->scratch);
    if (v->type > TB_OBJECT) return "<garbage>";
    if (tbr_json_write(v, &buf) != TB_OK || !tb_buf_append(&buf, "", 1)) return "<oom>";
    return (const char *)buf.data;
}

static inline void check_value(fx *f, const char *file, int line, const tb_value *got,
                               const char *want_json) {
    tb_value want = J(f, want_json);
    if (!same_value(got, &want))
        fail_msg("%s:%d: got %s %s, expected %s %s", file, line, tb_type_name(got->type),
                 show(f, got), tb_type_name(want.type), show(f, &want));
}
/* EQ(f, value, "3.0"): value is exactly that (type included). */
#define EQ(f, v, json)                                                                    \
    do {                                                                                  \
        tb_value eq_v_ = (v);                                                             \
        check_value(f, __FILE__, __LINE__, &eq_v_, json);                                 \
    } while (0)

/* Emits the window, closes it (so a result pointing into its memory shows), compares. */
#define EMIT_CLOSE_EQ(f, w, json)                                                         \
    do {                                                                                  \
        tb_value ec_v_ = tw_emit(f, w);                                                   \
        tw_close(w);                                                                      \
        check_value(f, __FILE__, __LINE__, &ec_v_, json);                                 \
    } while (0)

/* The window's result for the values in json, in a fresh window. */
static inline tb_value run(fx *f, const char *qualified, const char *consts, const char *json) {
    tw *w = tw_open(f, qualified, consts);
    tw_feed(f, w, json);
    tb_value v = tw_emit(f, w);
    tw_close(w);
    return v;
}

#endif
