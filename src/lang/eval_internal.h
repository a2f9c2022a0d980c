/*
 * eval_internal.h - what the evaluator's files share: errors, value copies for stores, and
 * the path, operator, pattern and patch entry points. Internal to src/lang/eval*.c.
 */
#ifndef TBR_LANG_EVAL_INTERNAL_H
#define TBR_LANG_EVAL_INTERNAL_H

#include "lang/eval.h"

/* Sets the error and returns TBR_EVAL_ERROR. */
int tbr_eval_fail(tbr_eval_env *env, tbr_span span, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int tbr_eval_oom(tbr_eval_env *env, tbr_span span);

/* The value v produced by node, made safe to store: containers not built by this
 * evaluation are deep-copied into arena. */
int tbr_eval_own(tbr_eval_env *env, const tbr_node *node, tb_arena *arena, tb_value *v);

/* Operators. */
int tbr_eval_unary(tbr_eval_env *env, const tbr_node *n, const tb_value *a, tb_value *out);
int tbr_eval_binary(tbr_eval_env *env, const tbr_node *n, const tb_value *a, const tb_value *b,
                    tb_value *out);

/* Paths. get: *out is a shallow copy of the value at the path; missing=true (instead of an
 * error) when absent_ok and a segment is missing. */
int tbr_eval_path(tbr_eval_env *env, const tbr_node *path, tb_value *out, bool absent_ok,
                  bool *missing);
/* let path = value (value already owned). */
int tbr_eval_assign(tbr_eval_env *env, const tbr_node *path, tb_value value);

/* Patterns: 1 matched, 0 not, or TBR_EVAL_ERROR. When result is not NULL and it matched,
 * *result is the value with extractions applied (what a binding `x = pattern` holds). */
int tbr_eval_pattern(tbr_eval_env *env, const tbr_pattern *pat, const tb_value *v, tb_value *result);

/* patch and merge. */
int tbr_eval_patch(tbr_eval_env *env, const tbr_node *n, tb_value *out);
int tbr_eval_merge(tbr_eval_env *env, const tbr_node *n, tb_value *out);
/* Merges source into target (RFC 7396: null erases), building in arena. */
int tbr_merge_values(tb_arena *arena, const tb_value *target, const tb_value *source, tb_value *out);

#endif
