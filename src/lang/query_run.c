/* query_run.c - a pipeline instance: routes events through selects, scripts, operators and
 * streams; keeps windows and aggregate state per select and group. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "lang/aggr.h"
#include "lang/eval_internal.h"
#include "lang/query.h"
#include "host/context.h"
#include "plugin/instance.h"
#include "plugin/options.h"
#include "value/arena.h"
#include "value/clone.h"
#include "value/ops.h"

#define MAX_HOPS 64

/* --- windows and groups -------------------------------------------------------------------- */

/* One event a sliding window keeps, in an arena of its own so evicting it frees it. */
typedef struct kept {
    tb_value data, meta;
    uint64_t ns;
    tb_arena *arena;
} kept;

typedef struct window_state {
    uint64_t count;     /* events (first window) or emissions of the window below */
    uint64_t start_ns;  /* time of the first event, for interval windows */
    void **states;      /* one per aggregate site */
    tb_arena *keep;     /* values the aggregates and last event keep */
    tb_value last_data, last_meta;
    kept *ring;         /* sliding windows */
    uint32_t ring_len, ring_cap, ring_head;
} window_state;

typedef struct group {
    uint64_t hash;
    enum { SLOT_EMPTY, SLOT_USED, SLOT_DELETED } slot;
    tb_value key;
    tb_arena *key_arena;  /* the key and the aggregates' constant arguments */
    tb_value *const_args; /* per site: its constant arguments (an array) */
    window_state *wins;
} group;

typedef struct select_state {
    const tbr_select *sel;
    group *groups;
    uint32_t cap, used; /* used counts deleted slots too, for the load factor */
    tb_value *locals;
} select_state;

typedef struct node_state {
    tbr_script_instance script;
    bool has_script;
    tbr_instance *op;
    const char *const *op_ports;
    uint32_t op_nports;
} node_state;

struct tbr_pipeline {
    const tbr_query *q;
    select_state *selects;
    node_state *nodes;
    tb_arena *args_arena; /* owns args */
    tb_value args;        /* the pipeline's arguments (`args` in its selects); null if none */
    char error[512];
};

static const tb_value null_value = {TB_NULL, 0, 0, 0, {.u = 0}};
/* An operator's output ports when it names none. */
static const char *const default_op_ports[] = {"out", "err", NULL};

void tbr_pipeline_out_free(tbr_pipeline_out *out) {
    free(out->items);
    memset(out, 0, sizeof *out);
}

static int out_push(tbr_pipeline_out *out, const char *port, const tb_event *ev) {
    if (out->count == out->cap) {
        size_t ncap = out->cap ? out->cap * 2 : 16;
        tbr_pipeline_event *n = realloc(out->items, ncap * sizeof *n);
        if (!n) return TB_ENOMEM;
        out->items = n;
        out->cap = ncap;
    }
    out->items[out->count].port = port;
    out->items[out->count].event = *ev;
    out->count++;
    return TB_OK;
}

/* The running context of one push or tick. */
typedef struct run {
    tbr_pipeline *pl;
    tb_arena *arena;
    tbr_pipeline_out *out;
    int hops;
} run;

static int deliver(run *r, uint32_t node, const char *port, tb_event *ev);
static int emit_from(run *r, uint32_t node, const char *port, tb_event *ev);

/* The pipeline's err output node. */
static uint32_t err_node(const struct run *r);

static uint32_t err_node(const run *r) {
    const tbr_query *q = r->pl->q;
    for (uint32_t i = 0; i < q->nnodes; i++)
        if (q->nodes[i].kind == QNODE_OUTPUT && q->nodes[i].name_len == 3 && !memcmp(q->nodes[i].name, "err", 3)) return i;
    return 0;
}

/* An error event: {"error": msg, "event": data}, on the err port of node (or the pipeline's). */
static int route_error(run *r, uint32_t node, const tb_event *ev, const char *msg) {
    tb_event e = *ev;
    tb_value rec = tb_object();
    size_t n = strlen(msg);
    const char *copy = tb_arena_dup(r->arena, msg, n);
    tb_value *slot;
    if (!copy || !(slot = tb_object_append(r->arena, &rec, "error", 5))) return TB_ENOMEM;
    *slot = tb_string(copy, n);
    if (!(slot = tb_object_append(r->arena, &rec, "event", 5))) return TB_ENOMEM;
    *slot = ev->data;
    e.data = rec;
    e.flags |= TB_EF_ERROR;
    /* out of a script or operator's err port; straight into the pipeline's err output */
    if (r->pl->q->nodes[node].kind == QNODE_OUTPUT) return deliver(r, node, "err", &e);
    return emit_from(r, node, "err", &e);
}

static void env_for(tbr_eval_env *env, run *r, select_state *ss, tb_value *data, tb_value *meta) {
    tbr_eval_env_init(env, r->arena);
    env->event = data;
    env->meta = meta;
    env->locals = ss->locals;
    env->nlocals = ss->sel->nlocals;
    env->args = &r->pl->args;
}

static int fail_msg(run *r, const tbr_eval_env *env, char *buf, size_t n) {
    unsigned line, col;
    tbr_source_position(r->pl->q->src, env->error_span.start, &line, &col);
    snprintf(buf, n, "%s:%u:%u: %s", r->pl->q->src->name, line, col, env->error);
    return TB_OK;
}

/* Emits a finished select result: having, then into. */
static int select_output(run *r, select_state *ss, tb_value result, tb_value meta, const tb_event *origin,
                         tbr_eval_env *env) {
    const tbr_select *sel = ss->sel;
    tb_event e = *origin;
    e.data = result;
    e.meta = meta;
    if (sel->having) {
        tb_value h;
        tb_value *saved = env->event;
        env->event = &e.data;
        int rc = tbr_eval(env, sel->having, &h);
        env->event = saved;
        if (rc == TBR_EVAL_ERROR) {
            char msg[768];
            fail_msg(r, env, msg, sizeof msg);
            return route_error(r, err_node(r), origin, msg);
        }
        if (!tbr_truthy(&h)) return TB_OK;
    }
    return deliver(r, sel->into_node, sel->into_port ? sel->into_port : "in", &e);
}

/* --- group keys -------------------------------------------------------------------------------------- */

/* The keys an event belongs to: each(...) fans out, set(...) combines. */
static int group_keys(tbr_eval_env *env, const tbr_group_def *g, tb_arena *a, tb_value *keys, uint32_t *n, uint32_t max) {
    tb_value v;
    int rc;
    switch (g->kind) {
    case GROUP_EXPR:
        if ((rc = tbr_eval(env, g->expr, &v))) return rc;
        keys[0] = v;
        *n = 1;
        return TBR_EVAL_OK;
    case GROUP_EACH:
        if ((rc = tbr_eval(env, g->expr, &v))) return rc;
        if (v.type == TB_ARRAY) {
            *n = 0;
            for (uint32_t i = 0; i < v.len && *n < max; i++) keys[(*n)++] = v.as.items[i];
        } else if (v.type == TB_OBJECT) {
            *n = 0;
            for (uint32_t i = 0; i < v.len && *n < max; i++) {
                tb_value pair = tb_array();
                tb_value *s1 = tb_array_push(a, &pair), *s2 = s1 ? tb_array_push(a, &pair) : NULL;
                if (!s2) return tbr_eval_oom(env, g->expr->span);
                pair.as.items[0] = tb_string(v.as.members[i].key, v.as.members[i].key_len);
                pair.as.items[1] = v.as.members[i].value;
                keys[(*n)++] = pair;
            }
        } else {
            return tbr_eval_fail(env, g->expr->span, "each() needs an array or a record, found %s", tb_type_name(v.type));
        }
        return TBR_EVAL_OK;
    case GROUP_SET: {
        /* the cartesian product of the dimensions' keys, each key an array */
        tb_value acc[64];
        uint32_t nacc = 1;
        acc[0] = tb_array();
        for (uint32_t d = 0; d < g->nitems; d++) {
            tb_value dim[64];
            uint32_t nd = 0;
            if ((rc = group_keys(env, &g->items[d], a, dim, &nd, 64))) return rc;
            tb_value next[64];
            uint32_t nn = 0;
            for (uint32_t i = 0; i < nacc; i++)
                for (uint32_t j = 0; j < nd && nn < 64; j++) {
                    tb_value k = tb_array();
                    for (uint32_t x = 0; x < acc[i].len; x++) {
                        tb_value *slot = tb_array_push(a, &k);
                        if (!slot) return tbr_eval_oom(env, g->expr ? g->expr->span : (tbr_span){0, 0});
                        *slot = acc[i].as.items[x];
                    }
                    tb_value *slot = tb_array_push(a, &k);
                    if (!slot) return TBR_EVAL_ERROR;
                    *slot = dim[j];
                    next[nn++] = k;
                }
            memcpy(acc, next, nn * sizeof *next);
            nacc = nn;
        }
        for (uint32_t i = 0; i < nacc && i < max; i++) keys[i] = acc[i];
        *n = nacc < max ? nacc : max;
        return TBR_EVAL_OK;
    }
    }
    return TBR_EVAL_OK;
}

/* --- aggregate state ------------------------------------------------------------------------------------ */

static void window_fini(const tbr_select *sel, window_state *w) {
    for (uint32_t i = 0; w->states && i < sel->naggrs; i++) {
        const tbr_aggr_fn *fn = sel->aggrs[i]->u.call.aggr;
        if (w->states[i] && fn->fini) fn->fini(w->states[i]);
        free(w->states ? w->states[i] : NULL);
    }
    free(w->states);
    w->states = NULL;
    for (uint32_t i = 0; i < w->ring_cap; i++) tbr_arena_free(w->ring[i].arena);
    free(w->ring);
    w->ring = NULL;
    w->ring_len = w->ring_cap = w->ring_head = 0;
    tbr_arena_free(w->keep);
    w->keep = NULL;
}

/* (Re)creates the aggregate states of a window, empty. */
static int window_init(const tbr_select *sel, group *g, window_state *w, char *err, size_t n) {
    for (uint32_t i = 0; w->states && i < sel->naggrs; i++) {
        const tbr_aggr_fn *fn = sel->aggrs[i]->u.call.aggr;
        if (fn->fini) fn->fini(w->states[i]);
    }
    if (!w->keep && !(w->keep = tbr_arena_new(4096))) return TB_ENOMEM;
    tbr_arena_reset(w->keep);
    if (!w->states && sel->naggrs && !(w->states = calloc(sel->naggrs, sizeof *w->states))) return TB_ENOMEM;
    for (uint32_t i = 0; i < sel->naggrs; i++) {
        const tbr_aggr_fn *fn = sel->aggrs[i]->u.call.aggr;
        if (!w->states[i] && !(w->states[i] = malloc(fn->state_size ? fn->state_size : 1))) return TB_ENOMEM;
        memset(w->states[i], 0, fn->state_size);
        tbr_aggr_ctx cx = {w->keep, w->keep, err, n};
        const tb_value *cargs = g->const_args[i].as.items;
        int rc = fn->init ? fn->init(&cx, w->states[i], cargs, g->const_args[i].len) : TB_OK;
        if (rc) return rc;
    }
    w->count = 0;
    w->last_data = w->last_meta = tb_null();
    return TB_OK;
}

/* How many of a call site's arguments are constants given to init: those at positions from
 * max_args - const_args on (so hdr(x) has none and hdr(x, [...]) one). */
static uint32_t const_count(const tbr_node *site) {
    const tbr_aggr_fn *fn = site->u.call.aggr;
    if (fn->const_args <= 0) return 0;
    int first = fn->max_args >= 0 ? fn->max_args - fn->const_args : fn->min_args;
    return (int)site->u.call.argc > first ? site->u.call.argc - (uint32_t)first : 0;
}

static int accumulate(tbr_eval_env *env, const tbr_select *sel, window_state *w, char *err, size_t n) {
    for (uint32_t i = 0; i < sel->naggrs; i++) {
        const tbr_node *site = sel->aggrs[i];
        const tbr_aggr_fn *fn = site->u.call.aggr;
        uint32_t nargs = site->u.call.argc - const_count(site);
        tb_value args[16];
        for (uint32_t a = 0; a < nargs && a < 16; a++) {
            int rc = tbr_eval(env, site->u.call.args[a], &args[a]);
            if (rc) return rc;
        }
        tbr_aggr_ctx cx = {w->keep, w->keep, err, n};
        int rc = fn->accumulate(&cx, w->states[i], args, nargs);
        if (rc == TB_ENOMEM) return tbr_eval_oom(env, site->span);
        if (rc) return tbr_eval_fail(env, site->span, "%s", err[0] ? err : "aggregate failed");
    }
    return TBR_EVAL_OK;
}

/* --- groups: an open-addressing table keyed by value -------------------------------------------------- */

static void group_free(const tbr_select *sel, group *g) {
    for (uint32_t w = 0; g->wins && w < sel->nwindows; w++) window_fini(sel, &g->wins[w]);
    free(g->wins);
    tbr_arena_free(g->key_arena);
    memset(g, 0, sizeof *g);
    g->slot = SLOT_DELETED;
}

static int grow_groups(select_state *ss) {
    uint32_t ncap = ss->cap ? ss->cap * 2 : 16;
    group *n = calloc(ncap, sizeof *n);
    if (!n) return TB_ENOMEM;
    uint32_t live = 0;
    for (uint32_t i = 0; i < ss->cap; i++) {
        if (ss->groups[i].slot != SLOT_USED) continue;
        uint32_t j = (uint32_t)(ss->groups[i].hash & (ncap - 1));
        while (n[j].slot == SLOT_USED) j = (j + 1) & (ncap - 1);
        n[j] = ss->groups[i];
        live++;
    }
    free(ss->groups);
    ss->groups = n;
    ss->cap = ncap;
    ss->used = live;
    return TB_OK;
}

/* Finds or creates the group of key (creating copies the key and evaluates constant args). */
static group *group_get(tbr_eval_env *env, select_state *ss, const tb_value *key, char *err, size_t n) {
    const tbr_select *sel = ss->sel;
    if ((ss->used + 1) * 10 > ss->cap * 7 && grow_groups(ss)) return NULL;
    uint64_t h = tbr_value_hash(key);
    uint32_t mask = ss->cap - 1, i = (uint32_t)(h & mask), free_slot = UINT32_MAX;
    for (;; i = (i + 1) & mask) {
        group *g = &ss->groups[i];
        if (g->slot == SLOT_EMPTY) break;
        if (g->slot == SLOT_DELETED) {
            if (free_slot == UINT32_MAX) free_slot = i;
            continue;
        }
        if (g->hash == h && tbr_value_eq(&g->key, key)) return g;
    }
    group *g = &ss->groups[free_slot != UINT32_MAX ? free_slot : i];
    if (free_slot == UINT32_MAX) ss->used++;
    memset(g, 0, sizeof *g);
    g->slot = SLOT_USED;
    g->hash = h;
    if (!(g->key_arena = tbr_arena_new(1024)) || tbr_value_clone(g->key_arena, key, &g->key)) goto fail;
    if (sel->naggrs && !(g->const_args = tb_arena_alloc(g->key_arena, sel->naggrs * sizeof *g->const_args, 8))) goto fail;
    for (uint32_t a = 0; a < sel->naggrs; a++) {
        const tbr_node *site = sel->aggrs[a];
        uint32_t nconst = const_count(site);
        tb_value arr = tb_array();
        for (uint32_t c = site->u.call.argc - nconst; c < site->u.call.argc; c++) {
            tb_value v, copy;
            if (tbr_eval(env, site->u.call.args[c], &v)) goto fail;
            tb_value *slot = tb_array_push(g->key_arena, &arr);
            if (!slot || tbr_value_clone(g->key_arena, &v, &copy)) goto fail;
            *slot = copy;
        }
        g->const_args[a] = arr;
    }
    if (!(g->wins = calloc(sel->nwindows, sizeof *g->wins))) goto fail;
    for (uint32_t w = 0; w < sel->nwindows; w++)
        if (window_init(sel, g, &g->wins[w], err, n)) goto fail;
    return g;
fail:
    group_free(sel, g);
    return NULL;
}

/* --- window emission ---------------------------------------------------------------------------------------- */

/* Builds the select's result for a window of a group and sends it on. */
static int emit_window(run *r, select_state *ss, group *g, uint32_t wi, const tb_event *origin) {
    const tbr_select *sel = ss->sel;
    window_state *w = &g->wins[wi];
    const tbr_window_def *def = &r->pl->q->windows[sel->windows[wi]];
    char err[256] = "";
    tb_value *vals = sel->naggrs ? tb_arena_alloc(r->arena, sel->naggrs * sizeof *vals, 8) : NULL;
    if (sel->naggrs && !vals) return TB_ENOMEM;
    for (uint32_t i = 0; i < sel->naggrs; i++) {
        const tbr_aggr_fn *fn = sel->aggrs[i]->u.call.aggr;
        tbr_aggr_ctx cx = {w->keep, r->arena, err, sizeof err};
        if (fn->emit(&cx, w->states[i], &vals[i])) return route_error(r, err_node(r), origin, err[0] ? err : "aggregate failed");
    }
    tb_value data, meta, win = tb_string(def->name, def->name_len), result;
    if (tbr_value_clone(r->arena, &w->last_data, &data) || tbr_value_clone(r->arena, &w->last_meta, &meta)) return TB_ENOMEM;
    tbr_eval_env env;
    env_for(&env, r, ss, &data, &meta);
    env.group = &g->key;
    env.window = &win;
    env.aggr_values = vals;
    int rc = tbr_eval(&env, sel->target, &result);
    if (rc == TBR_EVAL_ERROR) {
        char msg[768];
        fail_msg(r, &env, msg, sizeof msg);
        return route_error(r, err_node(r), origin, msg);
    }
    if (rc) return TB_OK;
    if (tbr_eval_own(&env, sel->target, r->arena, &result)) return TB_ENOMEM;
    tb_event e = *origin;
    e.ingest_ns = origin->ingest_ns;
    return select_output(r, ss, result, meta, &e, &env);
}

/* Closes window wi of g: emits, hands its state up the tilt frame, starts it empty. */
static int close_window(run *r, select_state *ss, group *g, uint32_t wi, const tb_event *origin) {
    const tbr_select *sel = ss->sel;
    window_state *w = &g->wins[wi];
    int rc = emit_window(r, ss, g, wi, origin);
    if (rc) return rc;
    char err[256] = "";
    if (wi + 1 < sel->nwindows) {
        window_state *up = &g->wins[wi + 1];
        for (uint32_t i = 0; i < sel->naggrs; i++) {
            const tbr_aggr_fn *fn = sel->aggrs[i]->u.call.aggr;
            tbr_aggr_ctx cx = {up->keep, up->keep, err, sizeof err};
            if (fn->merge && (rc = fn->merge(&cx, up->states[i], w->states[i]))) return rc;
        }
        if (tbr_value_clone(up->keep, &w->last_data, &up->last_data) || tbr_value_clone(up->keep, &w->last_meta, &up->last_meta))
            return TB_ENOMEM;
        if (up->count == 0) up->start_ns = w->start_ns;
        up->count++;
        const tbr_window_def *def = &r->pl->q->windows[sel->windows[wi + 1]];
        if (def->size && up->count >= def->size && (rc = close_window(r, ss, g, wi + 1, origin))) return rc;
    }
    return window_init(sel, g, w, err, sizeof err);
}

/* A sliding window: keeps the last events, re-aggregates them on every event. */
static int slide(run *r, select_state *ss, group *g, const tb_event *ev, tbr_eval_env *env) {
    const tbr_select *sel = ss->sel;
    window_state *w = &g->wins[0];
    const tbr_window_def *def = &r->pl->q->windows[sel->windows[0]];
    /* evict what fell out of the window */
    while (w->ring_len && ((def->size && w->ring_len >= def->size) ||
                           (def->interval_ns && ev->ingest_ns >= w->ring[w->ring_head].ns + def->interval_ns))) {
        w->ring_head = (w->ring_head + 1) % w->ring_cap;
        w->ring_len--;
    }
    if (w->ring_len == w->ring_cap) {
        uint32_t ncap = w->ring_cap ? w->ring_cap * 2 : 8;
        kept *n = calloc(ncap, sizeof *n);
        if (!n) return TB_ENOMEM;
        for (uint32_t i = 0; i < w->ring_len; i++) n[i] = w->ring[(w->ring_head + i) % w->ring_cap];
        for (uint32_t i = w->ring_len; i < w->ring_cap; i++) n[i] = w->ring[(w->ring_head + i) % w->ring_cap];
        free(w->ring);
        w->ring = n;
        w->ring_head = 0;
        w->ring_cap = ncap;
    }
    kept *k = &w->ring[(w->ring_head + w->ring_len) % w->ring_cap];
    if (!k->arena && !(k->arena = tbr_arena_new(1024))) return TB_ENOMEM;
    tbr_arena_reset(k->arena);
    if (tbr_value_clone(k->arena, &ev->data, &k->data) || tbr_value_clone(k->arena, &ev->meta, &k->meta)) return TB_ENOMEM;
    k->ns = ev->ingest_ns;
    w->ring_len++;
    /* re-aggregate the kept events */
    char err[256] = "";
    int rc = window_init(sel, g, w, err, sizeof err);
    if (rc) return rc;
    for (uint32_t i = 0; i < w->ring_len; i++) {
        kept *x = &w->ring[(w->ring_head + i) % w->ring_cap];
        tbr_eval_env kenv = *env;
        kenv.event = &x->data;
        kenv.meta = &x->meta;
        if ((rc = accumulate(&kenv, sel, w, err, sizeof err))) {
            char msg[768];
            fail_msg(r, &kenv, msg, sizeof msg);
            return route_error(r, err_node(r), ev, msg);
        }
    }
    w->last_data = k->data;
    w->last_meta = k->meta;
    return emit_window(r, ss, g, 0, ev);
}

/* --- selects ------------------------------------------------------------------------------------------------ */

static int run_select(run *r, select_state *ss, const tb_event *in) {
    const tbr_select *sel = ss->sel;
    tb_event ev = *in;
    tbr_eval_env env;
    env_for(&env, r, ss, &ev.data, &ev.meta);
    for (uint32_t i = 0; i < sel->nlocals; i++) ss->locals[i] = tb_null();
    char msg[768];
    int rc;
    if (sel->where) {
        tb_value w;
        rc = tbr_eval(&env, sel->where, &w);
        if (rc == TBR_EVAL_ERROR) return fail_msg(r, &env, msg, sizeof msg), route_error(r, err_node(r), in, msg);
        if (!tbr_truthy(&w)) return TB_OK;
    }
    if (!sel->nwindows) {
        tb_value keys[1] = {null_value};
        uint32_t nkeys = 1;
        if (sel->group && (rc = group_keys(&env, sel->group, r->arena, keys, &nkeys, 1)) == TBR_EVAL_ERROR)
            return fail_msg(r, &env, msg, sizeof msg), route_error(r, err_node(r), in, msg);
        env.group = &keys[0];
        tb_value result;
        rc = tbr_eval(&env, sel->target, &result);
        if (rc == TBR_EVAL_ERROR) return fail_msg(r, &env, msg, sizeof msg), route_error(r, err_node(r), in, msg);
        if (rc) return TB_OK;
        if (!(sel->target->kind == N_PATH && sel->target->u.path.root == ROOT_EVENT && !sel->target->u.path.nsegs) &&
            tbr_eval_own(&env, sel->target, r->arena, &result))
            return TB_ENOMEM;
        return select_output(r, ss, result, ev.meta, &ev, &env);
    }
    tb_value keys[64];
    uint32_t nkeys = 1;
    keys[0] = null_value;
    if (sel->group && (rc = group_keys(&env, sel->group, r->arena, keys, &nkeys, 64)) == TBR_EVAL_ERROR)
        return fail_msg(r, &env, msg, sizeof msg), route_error(r, err_node(r), in, msg);
    const tbr_window_def *first = &r->pl->q->windows[sel->windows[0]];
    for (uint32_t k = 0; k < nkeys; k++) {
        env.group = &keys[k];
        group *g = group_get(&env, ss, &keys[k], msg, sizeof msg);
        if (!g) return TB_ENOMEM;
        if (first->kind == WINDOW_SLIDING) {
            if ((rc = slide(r, ss, g, &ev, &env))) return rc;
            continue;
        }
        window_state *w = &g->wins[0];
        /* a time window that has ended emits before the event that shows it */
        if (first->interval_ns && w->count && ev.ingest_ns >= w->start_ns + first->interval_ns &&
            (rc = close_window(r, ss, g, 0, &ev)))
            return rc;
        if (w->count == 0) w->start_ns = ev.ingest_ns;
        msg[0] = '\0';
        if ((rc = accumulate(&env, sel, w, msg, sizeof msg)) == TBR_EVAL_ERROR) {
            fail_msg(r, &env, msg, sizeof msg);
            return route_error(r, err_node(r), in, msg);
        }
        if (tbr_value_clone(w->keep, &ev.data, &w->last_data) || tbr_value_clone(w->keep, &ev.meta, &w->last_meta)) return TB_ENOMEM;
        w->count++;
        if (first->size && w->count >= first->size && (rc = close_window(r, ss, g, 0, &ev))) return rc;
    }
    return TB_OK;
}

/* --- nodes ---------------------------------------------------------------------------------------------------- */

static bool port_is(const char *port, const char *name) { return !port || strcmp(port, name) == 0; }

/* Sends ev out of node on port: into every select that reads it, or to the pipeline's err. */
static int emit_from(run *r, uint32_t node, const char *port, tb_event *ev) {
    const tbr_query *q = r->pl->q;
    bool taken = false;
    for (uint32_t i = 0; i < q->nselects; i++) {
        const tbr_select *sel = &q->selects[i];
        if (sel->from_node != node) continue;
        /* `from x` reads x's out port; `from x/p` reads port p */
        if (sel->from_port ? strcmp(sel->from_port, port) != 0 : strcmp(port, "out") != 0) continue;
        taken = true;
        int rc = run_select(r, &r->pl->selects[i], ev);
        if (rc) return rc;
    }
    /* errors nobody selects are the pipeline's errors */
    if (!taken && strcmp(port, "err") == 0) return out_push(r->out, "err", ev);
    return TB_OK;
}

static int run_script(run *r, uint32_t node, tb_event *ev) {
    node_state *ns = &r->pl->nodes[node];
    tbr_script_result res;
    tb_event e = *ev;
    tbr_script_run(&ns->script, r->arena, &e.data, &e.meta, &res);
    switch (res.outcome) {
    case TBR_SCRIPT_DROP: return TB_OK;
    case TBR_SCRIPT_ERROR: return route_error(r, node, ev, res.error);
    case TBR_SCRIPT_EMIT: {
        e.data = res.value;
        char *port = "out";
        if (res.port) {
            if (!(port = tb_arena_dup(r->arena, res.port, res.port_len + 1))) return TB_ENOMEM;
            port[res.port_len] = '\0';
        }
        return emit_from(r, node, port, &e);
    }
    }
    return TB_OK;
}

static int run_operator(run *r, uint32_t node, tb_event *ev) {
    node_state *ns = &r->pl->nodes[node];
    tb_batch in = {0}, out = {0};
    in.arena = out.arena = r->arena;
    tb_event *slot = tb_batch_push(&in);
    if (!slot) return TB_ENOMEM;
    *slot = *ev;
    tbr_context_clear_error(ns->op->ctx);
    int rc = ns->op->component->vt.op.process(ns->op->state, 0, &in, &out);
    if (rc) {
        char msg[768];
        const char *why = tbr_context_error(ns->op->ctx);
        snprintf(msg, sizeof msg, "operator %s failed to process the event: %s%s%s", ns->op->component->desc.name,
                 tbr_status_name(rc), why[0] ? ": " : "", why);
        return route_error(r, node, ev, msg);
    }
    for (uint32_t i = 0; i < out.count; i++) {
        tb_event *e = &out.events[i];
        const char *port = e->port < ns->op_nports ? ns->op_ports[e->port] : "err";
        if ((e->flags & TB_EF_ERROR) && e->port == 0) port = "err";
        if ((rc = emit_from(r, node, port, e))) return rc;
    }
    return TB_OK;
}

static int deliver(run *r, uint32_t node, const char *port, tb_event *ev) {
    if (++r->hops > MAX_HOPS) {
        r->hops--;
        return out_push(r->out, "err", ev); /* a loop in the graph: stop it here */
    }
    const tbr_qnode *qn = &r->pl->q->nodes[node];
    int rc = TB_OK;
    switch (qn->kind) {
    case QNODE_OUTPUT: rc = out_push(r->out, port_is(port, "in") ? qn->name : port, ev); break;
    case QNODE_INPUT:
    case QNODE_STREAM: rc = emit_from(r, node, "out", ev); break;
    case QNODE_SCRIPT: rc = run_script(r, node, ev); break;
    case QNODE_OPERATOR: rc = run_operator(r, node, ev); break;
    }
    r->hops--;
    return rc;
}

/* --- lifecycle ------------------------------------------------------------------------------------------------ */

tbr_pipeline *tbr_pipeline_new(const tbr_query *q, tbr_registry *reg, char *err, size_t n) {
    tbr_pipeline *pl = calloc(1, sizeof *pl);
    if (!pl) return NULL;
    pl->args = tb_null();
    pl->q = q;
    pl->selects = calloc(q->nselects ? q->nselects : 1, sizeof *pl->selects);
    pl->nodes = calloc(q->nnodes, sizeof *pl->nodes);
    if (!pl->selects || !pl->nodes) goto oom;
    for (uint32_t i = 0; i < q->nselects; i++) {
        pl->selects[i].sel = &q->selects[i];
        if (!(pl->selects[i].locals = calloc(q->selects[i].nlocals ? q->selects[i].nlocals : 1, sizeof(tb_value)))) goto oom;
        if (q->selects[i].nwindows && grow_groups(&pl->selects[i])) goto oom;
    }
    for (uint32_t i = 0; i < q->nnodes; i++) {
        const tbr_qnode *qn = &q->nodes[i];
        node_state *ns = &pl->nodes[i];
        if (qn->kind == QNODE_SCRIPT) {
            const tbr_script_def *sd = &q->scripts[qn->def];
            if (tbr_script_instance_init(&ns->script, sd->script, i + 1)) goto oom;
            ns->has_script = true;
            /* args: the definition's defaults, then create's values */
            tb_value args;
            if (tbr_value_clone(ns->script.state_arena, &sd->args, &args)) goto oom;
            for (uint32_t a = 0; a < qn->config.len; a++) {
                const tb_member *m = &qn->config.as.members[a];
                if (!tb_object_get(&sd->args, m->key, m->key_len)) {
                    snprintf(err, n, "script '%.*s': unknown argument '%.*s'", (int)qn->name_len, qn->name, (int)m->key_len, m->key);
                    goto fail;
                }
                tb_value *slot = tb_object_set(ns->script.state_arena, &args, m->key, m->key_len);
                if (!slot) goto oom;
                *slot = m->value;
            }
            ns->script.args = args;
        } else if (qn->kind == QNODE_OPERATOR) {
            const tbr_operator_def *od = &q->operators[qn->def];
            const tbr_component *c = reg ? tbr_registry_find(reg, TB_KIND_OPERATOR, od->kind) : NULL;
            if (!c) {
                snprintf(err, n, "operator '%.*s': no plugin provides the operator '%s'", (int)qn->name_len, qn->name, od->kind);
                goto fail;
            }
            tb_value config;
            tb_arena *tmp = tbr_arena_new(0);
            if (!tmp || tbr_merge_values(tmp, &od->config, &qn->config, &config)) {
                tbr_arena_free(tmp);
                goto oom;
            }
            char label[128], why[512];
            snprintf(label, sizeof label, "%.*s", (int)qn->name_len, qn->name);
            int rc = tbr_instance_create(reg, c, label, &config, NULL, 0, &ns->op, why, sizeof why);
            tbr_arena_free(tmp); /* the instance copied its configuration */
            if (rc) {
                snprintf(err, n, "operator '%s': %s", label, why);
                goto fail;
            }
            ns->op_ports = c->vt.op.output_ports ? c->vt.op.output_ports : default_op_ports;
            while (ns->op_ports[ns->op_nports]) ns->op_nports++;
        }
    }
    return pl;
oom:
    snprintf(err, n, "out of memory");
fail:
    tbr_pipeline_free(pl);
    return NULL;
}

void tbr_pipeline_free(tbr_pipeline *pl) {
    if (!pl) return;
    tbr_arena_free(pl->args_arena);
    const tbr_query *q = pl->q;
    for (uint32_t i = 0; pl->selects && i < q->nselects; i++) {
        select_state *ss = &pl->selects[i];
        for (uint32_t g = 0; g < ss->cap; g++)
            if (ss->groups[g].slot == SLOT_USED) group_free(ss->sel, &ss->groups[g]);
        free(ss->groups);
        free(ss->locals);
    }
    for (uint32_t i = 0; pl->nodes && i < q->nnodes; i++) {
        if (pl->nodes[i].has_script) tbr_script_instance_fini(&pl->nodes[i].script);
        tbr_instance_destroy(pl->nodes[i].op);
    }
    free(pl->selects);
    free(pl->nodes);
    free(pl);
}

int tbr_pipeline_set_args(tbr_pipeline *pl, const tb_value *args) {
    tb_arena *a = tbr_arena_new(0);
    tb_value copy;
    if (!a || tbr_value_clone(a, args, &copy)) {
        tbr_arena_free(a);
        return TB_ENOMEM;
    }
    tbr_arena_free(pl->args_arena);
    pl->args_arena = a;
    pl->args = copy;
    return TB_OK;
}

int tbr_pipeline_push(tbr_pipeline *pl, const char *port, const tb_event *ev, tb_arena *arena, tbr_pipeline_out *out) {
    run r = {pl, arena, out, 0};
    tb_event e = *ev;
    /* the named input port, or the first one */
    for (uint32_t i = 0; i < pl->q->nnodes; i++) {
        const tbr_qnode *qn = &pl->q->nodes[i];
        if (qn->kind != QNODE_INPUT) continue;
        if (!port || (strlen(port) == qn->name_len && !memcmp(port, qn->name, qn->name_len)) || i + 1 == pl->q->nnodes ||
            pl->q->nodes[i + 1].kind != QNODE_INPUT)
            return deliver(&r, i, "out", &e);
    }
    return TB_EINVAL;
}

const char *tbr_pipeline_operator_using(const tbr_pipeline *pl, const struct tbr_plugin *p) {
    for (uint32_t i = 0; i < pl->q->nnodes; i++)
        if (pl->nodes[i].op && pl->nodes[i].op->component->plugin == p) return pl->nodes[i].op->component->desc.name;
    return NULL;
}

/* The operator of plugin `to` that takes the place of op, with a reason in err if none can. */
static const tbr_component *successor(const tbr_instance *op, const struct tbr_plugin *to, char *err, size_t n) {
    const tbr_component *c = op->component, *c2 = tbr_plugin_component(to, TB_KIND_OPERATOR, c->desc.name);
    if (!c2) {
        snprintf(err, n, "the new build has no operator '%s'", c->desc.name);
        return NULL;
    }
    if (op->isolated) {
        snprintf(err, n, "operator '%s' runs in a plugin host, and isolated instances are not reloaded in place yet: "
                         "undeploy the flow and deploy it again", c->desc.name);
        return NULL;
    }
    if (!c->vt.op.save || !c2->vt.op.restore) {
        snprintf(err, n, "operator '%s' cannot hand its state over (%s has no %s): undeploy the flow (or unload with drain) and deploy it again",
                 c->desc.name, !c->vt.op.save ? "the running build" : "the new build", !c->vt.op.save ? "save" : "restore");
        return NULL;
    }
    const char *const *a = c->vt.op.output_ports, *const *b = c2->vt.op.output_ports;
    bool same = !a == !b;
    for (uint32_t i = 0; same && a && (a[i] || b[i]); i++) same = a[i] && b[i] && !strcmp(a[i], b[i]);
    if (!same) {
        snprintf(err, n, "the new build's operator '%s' has other output ports", c->desc.name);
        return NULL;
    }
    return c2;
}

int tbr_pipeline_check_swap(const tbr_pipeline *pl, const struct tbr_plugin *from, const struct tbr_plugin *to, char *err, size_t n) {
    for (uint32_t i = 0; i < pl->q->nnodes; i++) {
        const tbr_instance *op = pl->nodes[i].op;
        if (!op || op->component->plugin != from) continue;
        const tbr_component *c2 = successor(op, to, err, n);
        if (!c2) return TB_EINVAL;
        tb_arena *a = tbr_arena_new(0);
        tb_value effective;
        char why[512];
        int rc = a ? tbr_options_apply(c2, &op->config, a, &effective, why, sizeof why) : TB_ENOMEM;
        tbr_arena_free(a);
        if (rc) {
            snprintf(err, n, "its configuration of operator %s does not suit the new build: %s", op->component->desc.name,
                     rc == TB_ENOMEM ? "out of memory" : why);
            return rc;
        }
    }
    return TB_OK;
}

int tbr_pipeline_swap_operators(tbr_pipeline *pl, const struct tbr_plugin *from, const struct tbr_plugin *to, char *err, size_t n) {
    for (uint32_t i = 0; i < pl->q->nnodes; i++) {
        node_state *ns = &pl->nodes[i];
        tbr_instance *old = ns->op;
        if (!old || old->component->plugin != from) continue;
        const tbr_component *c2 = successor(old, to, err, n);
        if (!c2) return TB_EINVAL;
        const tbr_qnode *qn = &pl->q->nodes[i];
        char label[128];
        snprintf(label, sizeof label, "%.*s", (int)qn->name_len, qn->name);
        tb_arena *a = tbr_arena_new(0);
        tb_value saved = tb_null();
        tbr_instance *fresh = NULL;
        int rc = a ? TB_OK : TB_ENOMEM;
        if (!rc) {
            tbr_context_clear_error(old->ctx);
            rc = old->component->vt.op.save(old->state, a, &saved);
            if (rc) snprintf(err, n, "operator %s: save failed: %s", label, tbr_context_error(old->ctx));
        }
        /* the old instance's effective configuration: its defaults checked against the new
         * build before the reload began */
        if (!rc) rc = tbr_instance_create(old->registry, c2, label, &old->config, NULL, 0, &fresh, err, n);
        if (!rc) {
            tbr_context_clear_error(fresh->ctx);
            rc = c2->vt.op.restore(fresh->state, &saved);
            if (rc) snprintf(err, n, "operator %s: restore failed: %s", label, tbr_context_error(fresh->ctx));
        }
        tbr_arena_free(a);
        if (rc) {
            /* the old instance was never disturbed: it runs on */
            tbr_instance_destroy(fresh);
            return rc;
        }
        ns->op = fresh;
        /* the port names live in the library: the old one's go with it (same names, checked) */
        ns->op_ports = c2->vt.op.output_ports ? c2->vt.op.output_ports : default_op_ports;
        tbr_instance_destroy(old);
    }
    return TB_OK;
}

bool tbr_pipeline_wants_contraflow(const tbr_pipeline *pl) {
    for (uint32_t i = 0; i < pl->q->nnodes; i++)
        if (pl->nodes[i].op && pl->nodes[i].op->component->vt.op.contraflow) return true;
    return false;
}

void tbr_pipeline_contraflow(tbr_pipeline *pl, const tb_contraflow *cf) {
    for (uint32_t i = 0; i < pl->q->nnodes; i++) {
        const tbr_instance *op = pl->nodes[i].op;
        if (op && op->component->vt.op.contraflow) op->component->vt.op.contraflow(op->state, cf);
    }
}

int tbr_pipeline_tick(tbr_pipeline *pl, uint64_t now_ns, tb_arena *arena, tbr_pipeline_out *out) {
    run r = {pl, arena, out, 0};
    const tbr_query *q = pl->q;
    for (uint32_t i = 0; i < q->nselects; i++) {
        select_state *ss = &pl->selects[i];
        if (!ss->sel->nwindows) continue;
        const tbr_window_def *first = &q->windows[ss->sel->windows[0]];
        if (!first->interval_ns || first->kind != WINDOW_TUMBLING) continue;
        for (uint32_t g = 0; g < ss->cap; g++) {
            group *gr = &ss->groups[g];
            if (gr->slot != SLOT_USED || !gr->wins[0].count || now_ns < gr->wins[0].start_ns + first->interval_ns) continue;
            tb_event origin = {0};
            origin.data = gr->wins[0].last_data;
            origin.meta = gr->wins[0].last_meta;
            origin.ingest_ns = now_ns;
            int rc = close_window(&r, ss, gr, 0, &origin);
            if (rc) return rc;
        }
    }
    for (uint32_t i = 0; i < q->nnodes; i++) {
        node_state *ns = &pl->nodes[i];
        if (!ns->op || !ns->op->component->vt.op.tick) continue;
        tb_batch b = {0};
        b.arena = arena;
        if (ns->op->component->vt.op.tick(ns->op->state, now_ns, &b) != TB_OK) continue;
        for (uint32_t k = 0; k < b.count; k++) {
            tb_event *e = &b.events[k];
            int rc = emit_from(&r, i, e->port < ns->op_nports ? ns->op_ports[e->port] : "err", e);
            if (rc) return rc;
        }
    }
    return TB_OK;
}
