/* eval_match.c - matching a value against a case pattern, with extractions and bindings. */
#include <string.h>

#include "lang/eval_internal.h"
#include "value/ops.h"

/* A record pattern; a binding gets a new record of what the field tests produced: present
 * and compared fields with their values, tested fields with their extraction (under their
 * alias if any), nested patterns with their own result. */
static int match_record(tbr_eval_env *env, const tbr_pattern *pat, const tb_value *v, tb_value *result) {
    if (v->type != TB_OBJECT) return 0;
    tb_value out = tb_object();
    for (uint32_t i = 0; i < pat->nfields; i++) {
        const tbr_field_pattern *f = &pat->fields[i];
        const tb_value *field = tb_object_get(v, f->key, f->key_len);
        tb_value produced;
        switch (f->kind) {
        case FIELD_PRESENT:
            if (!field) return 0;
            produced = *field;
            break;
        case FIELD_ABSENT:
            if (field) return 0;
            continue;
        case FIELD_CMP: {
            if (!field) return 0;
            tb_value rhs;
            int rc = tbr_eval(env, f->expr, &rhs);
            if (rc) return rc;
            bool ok;
            if (f->op == OP_EQ) ok = tbr_value_eq(field, &rhs);
            else if (f->op == OP_NE) ok = !tbr_value_eq(field, &rhs);
            else {
                int c;
                /* values that cannot be compared simply do not match */
                if (!tbr_value_cmp(field, &rhs, &c)) return 0;
                ok = f->op == OP_LT ? c < 0 : f->op == OP_LE ? c <= 0 : f->op == OP_GT ? c > 0 : c >= 0;
            }
            if (!ok) return 0;
            produced = *field;
            break;
        }
        case FIELD_TEST:
        case FIELD_PATTERN: {
            if (!field) return 0;
            int m;
            if (f->kind == FIELD_TEST) {
                m = tbr_extractor_run(f->test, field, env->arena, result ? &produced : NULL);
                if (m == TB_ENOMEM) return tbr_eval_oom(env, f->span);
            } else {
                m = tbr_eval_pattern(env, f->sub, field, result ? &produced : NULL);
                if (m < 0) return m;
            }
            if (!m) return 0;
            break;
        }
        default: continue;
        }
        if (!result) continue;
        const char *key = f->alias ? f->alias : f->key;
        uint32_t key_len = f->alias ? f->alias_len : f->key_len;
        tb_value *slot = tb_object_set(env->arena, &out, key, key_len);
        if (!slot) return tbr_eval_oom(env, f->span);
        *slot = produced;
    }
    if (result) *result = out;
    return 1;
}

static int match_items(tbr_eval_env *env, const tbr_pattern *pat, const tb_value *v, tb_value *result) {
    if (v->type != TB_ARRAY) return 0;
    if (pat->kind == PAT_TUPLE) {
        if (v->len < pat->nitems || (!pat->open && v->len != pat->nitems)) return 0;
        /* a binding gets what the element patterns produced; an open tail is not tested,
         * so it is not part of it */
        tb_value out = tb_array();
        for (uint32_t i = 0; i < pat->nitems; i++) {
            tb_value item = v->as.items[i];
            int m = tbr_eval_pattern(env, pat->items[i], &v->as.items[i], result ? &item : NULL);
            if (m <= 0) return m;
            if (result) {
                tb_value *slot = tb_array_push(env->arena, &out);
                if (!slot) return tbr_eval_oom(env, pat->span);
                *slot = item;
            }
        }
        if (result) *result = out;
        return 1;
    }
    /* %[ ... ]: every item pattern must match some element; the binding holds the elements
     * that matched, in order */
    tb_value out = tb_array();
    for (uint32_t k = 0; k < pat->nitems; k++) {
        bool found = false;
        for (uint32_t i = 0; i < v->len; i++) {
            tb_value item;
            int m = tbr_eval_pattern(env, pat->items[k], &v->as.items[i], result ? &item : NULL);
            if (m < 0) return m;
            if (!m) continue;
            found = true;
            if (result) {
                tb_value *slot = tb_array_push(env->arena, &out);
                if (!slot) return tbr_eval_oom(env, pat->span);
                *slot = item;
            }
        }
        if (!found) return 0;
    }
    if (result) *result = pat->nitems ? out : *v;
    return 1;
}

int tbr_eval_pattern(tbr_eval_env *env, const tbr_pattern *pat, const tb_value *v, tb_value *result) {
    switch (pat->kind) {
    case PAT_ANY:
        if (result) *result = *v;
        return 1;
    case PAT_EXPR: {
        tb_value e;
        int rc = tbr_eval(env, pat->expr, &e);
        if (rc) return rc;
        if (!tbr_value_eq(v, &e)) return 0;
        if (result) *result = *v;
        return 1;
    }
    case PAT_TEST: {
        int m = tbr_extractor_run(pat->test, v, env->arena, result);
        if (m == TB_ENOMEM) return tbr_eval_oom(env, pat->span);
        return m > 0;
    }
    case PAT_RECORD: return match_record(env, pat, v, result);
    case PAT_ARRAY:
    case PAT_TUPLE: return match_items(env, pat, v, result);
    case PAT_BIND: {
        tb_value bound;
        int m = tbr_eval_pattern(env, pat->sub, v, &bound);
        if (m <= 0) return m;
        /* the binding is a local of the script: give it its own copy of containers */
        if (bound.type == TB_ARRAY || bound.type == TB_OBJECT) {
            tbr_node fake = {.kind = N_PATH, .span = pat->span};
            int rc = tbr_eval_own(env, &fake, env->arena, &bound);
            if (rc) return rc;
        }
        env->locals[pat->slot] = bound;
        if (result) *result = bound;
        return 1;
    }
    }
    return 0;
}
