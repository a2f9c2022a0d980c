/*
 * eval.h - the evaluator of tremor-script trees.
 *
 * Values are tb_value. Everything an evaluation builds goes into env->arena (the event's
 * batch arena, so it dies with the batch); what is stored into `state` is copied into the
 * state arena. Containers are copied when stored (let, a record or array built around them)
 * unless they were built by this very evaluation, which gives Tremor's value semantics while
 * letting `let event.x = ...` update the event in place.
 *
 * Thread contract: an env is used by one thread; the tree it runs is shared and immutable.
 */
#ifndef TBR_LANG_EVAL_H
#define TBR_LANG_EVAL_H

#include "lang/ast.h"

enum {
    TBR_EVAL_OK = 0,
    TBR_EVAL_EMIT = 1,  /* emit: env->emitted (or the event) on env->port */
    TBR_EVAL_DROP = 2,  /* drop */
    TBR_EVAL_ERROR = -1 /* env->error, at env->error_span */
};

#define TBR_EVAL_MAX_DEPTH 512

typedef struct tbr_eval_env {
    tb_arena *arena;         /* where values built by the evaluation go */
    tb_arena *state_arena;   /* where values stored into state go (NULL: no state) */
    tb_value *event;         /* the event's data: mutable in place */
    tb_value *meta;          /* its metadata ($) */
    tb_value *state;         /* the script's state */
    const tb_value *args;    /* the script's arguments */
    const tb_value *group;   /* in a select: the group */
    const tb_value *window;  /* in a select: the window name */
    const tb_value *aggr_values; /* in a windowed select: the aggregates' results */
    tb_value *locals;        /* the current frame */
    uint32_t nlocals;
    uint64_t *rng_state;

    /* results */
    tb_value emitted;        /* TBR_EVAL_EMIT: the value (event_emitted: the event itself) */
    bool event_emitted;
    bool emitted_from_event; /* emitted is the event or a part of it: nothing to copy */
    const char *port;        /* NULL: "out" */
    uint32_t port_len;
    char error[512];
    tbr_span error_span;

    int depth;
    uint64_t rng_local;
} tbr_eval_env;

/* Resets env and points it at arena, with no event, meta or state and null args, group and
 * window. */
void tbr_eval_env_init(tbr_eval_env *env, tb_arena *arena);

/* Evaluates node into *out. Returns TBR_EVAL_OK, TBR_EVAL_EMIT, TBR_EVAL_DROP or
 * TBR_EVAL_ERROR. */
int tbr_eval(tbr_eval_env *env, const tbr_node *node, tb_value *out);

/* Evaluates a sequence (a script body or a case body): the value is the last one's. */
int tbr_eval_block(tbr_eval_env *env, tbr_node *const *body, uint32_t count, tb_value *out);

/* Truthiness for where/having/guards: only the boolean true is true. */
static inline bool tbr_truthy(const tb_value *v) { return v->type == TB_BOOL && v->as.b; }

#endif
