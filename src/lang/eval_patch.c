/* eval_patch.c - patch (insert, upsert, update, erase, move, copy, merge, default) and
 * merge (JSON merge patch: null erases, records merge recursively). Both build a new
 * record and leave their target unchanged. */
#include <string.h>

#include "lang/eval_internal.h"

/* A record whose members can be added and removed, over a copy of the original's. */
static int copy_record(tb_arena *arena, const tb_value *src, tb_value *out) {
    *out = tb_object();
    for (uint32_t i = 0; i < src->len; i++) {
        const tb_member *m = &src->as.members[i];
        /* skip members shadowed by a later one of the same key */
        if (tb_object_get(src, m->key, m->key_len) != &m->value) continue;
        tb_value *slot = tb_object_append(arena, out, m->key, m->key_len);
        if (!slot) return TB_ENOMEM;
        *slot = m->value;
    }
    return TB_OK;
}

static void erase(tb_value *rec, const char *key, uint32_t len) {
    for (uint32_t i = 0; i < rec->len; i++) {
        tb_member *m = &rec->as.members[i];
        if (m->key_len == len && memcmp(m->key, key, len) == 0) {
            memmove(m, m + 1, (rec->len - i - 1) * sizeof *m);
            rec->len--;
            i--;
        }
    }
}

int tbr_merge_values(tb_arena *arena, const tb_value *target, const tb_value *source, tb_value *out) {
    if (source->type != TB_OBJECT) {
        *out = *source;
        return TB_OK;
    }
    tb_value rec;
    if (target->type == TB_OBJECT) {
        if (copy_record(arena, target, &rec)) return TB_ENOMEM;
    } else {
        rec = tb_object();
    }
    for (uint32_t i = 0; i < source->len; i++) {
        const tb_member *m = &source->as.members[i];
        if (m->value.type == TB_NULL) {
            erase(&rec, m->key, m->key_len);
            continue;
        }
        tb_value *slot = tb_object_get(&rec, m->key, m->key_len);
        if (m->value.type == TB_OBJECT) {
            tb_value merged;
            tb_value none = tb_null();
            if (tbr_merge_values(arena, slot ? slot : &none, &m->value, &merged)) return TB_ENOMEM;
            if (!slot && !(slot = tb_object_append(arena, &rec, m->key, m->key_len))) return TB_ENOMEM;
            *slot = merged;
            continue;
        }
        if (!slot && !(slot = tb_object_append(arena, &rec, m->key, m->key_len))) return TB_ENOMEM;
        *slot = m->value;
    }
    *out = rec;
    return TB_OK;
}

/* Fills what target lacks from template, recursively into records both have (Tremor's
 * default => {...}): an existing value is never replaced. */
static int default_values(tb_arena *arena, const tb_value *target, const tb_value *tmpl, tb_value *out) {
    tb_value rec;
    if (copy_record(arena, target, &rec)) return TB_ENOMEM;
    for (uint32_t k = 0; k < tmpl->len; k++) {
        const tb_member *m = &tmpl->as.members[k];
        tb_value *slot = tb_object_get(&rec, m->key, m->key_len);
        if (slot) {
            if (slot->type == TB_OBJECT && m->value.type == TB_OBJECT && default_values(arena, slot, &m->value, slot))
                return TB_ENOMEM;
            continue;
        }
        if (!(slot = tb_object_append(arena, &rec, m->key, m->key_len))) return TB_ENOMEM;
        *slot = m->value;
    }
    *out = rec;
    return TB_OK;
}

static int string_key(tbr_eval_env *env, const tbr_node *node, tb_value *key) {
    int rc = tbr_eval(env, node, key);
    if (rc) return rc;
    if (key->type != TB_STRING) return tbr_eval_fail(env, node->span, "a patch key must be a string, found %s", tb_type_name(key->type));
    return TBR_EVAL_OK;
}

int tbr_eval_patch(tbr_eval_env *env, const tbr_node *n, tb_value *out) {
    tb_value target;
    int rc = tbr_eval(env, n->u.patch.target, &target);
    if (rc) return rc;
    if (target.type != TB_OBJECT)
        return tbr_eval_fail(env, n->u.patch.target->span, "patch needs a record, found %s", tb_type_name(target.type));
    tb_value rec;
    if (copy_record(env->arena, &target, &rec)) return tbr_eval_oom(env, n->span);
    for (uint32_t i = 0; i < n->u.patch.nops; i++) {
        const tbr_patch_op *op = &n->u.patch.ops[i];
        tb_value key = tb_null(), value = tb_null();
        if (op->key && (rc = string_key(env, op->key, &key))) return rc;
        if (op->value) {
            if ((rc = tbr_eval(env, op->value, &value))) return rc;
            if ((rc = tbr_eval_own(env, op->value, env->arena, &value))) return rc;
        }
        tb_value *slot = op->key ? tb_object_get(&rec, key.as.s, key.len) : NULL;
        switch (op->kind) {
        case PATCH_INSERT:
            if (slot) return tbr_eval_fail(env, op->span, "insert: the key '%.*s' already exists (use upsert to replace it)", (int)key.len, key.as.s);
            /* fall through */
        case PATCH_UPSERT:
            if (!slot && !(slot = tb_object_append(env->arena, &rec, key.as.s, key.len))) return tbr_eval_oom(env, op->span);
            *slot = value;
            break;
        case PATCH_UPDATE:
            if (!slot) return tbr_eval_fail(env, op->span, "update: there is no key '%.*s' (use upsert to add it)", (int)key.len, key.as.s);
            *slot = value;
            break;
        case PATCH_ERASE: erase(&rec, key.as.s, key.len); break;
        case PATCH_MOVE:
        case PATCH_COPY: {
            tb_value to;
            if ((rc = string_key(env, op->to, &to))) return rc;
            if (!slot) break; /* nothing to move or copy */
            tb_value moved = *slot;
            if (op->kind == PATCH_MOVE) erase(&rec, key.as.s, key.len);
            tb_value *dst = tb_object_set(env->arena, &rec, to.as.s, to.len);
            if (!dst) return tbr_eval_oom(env, op->span);
            *dst = moved;
            break;
        }
        case PATCH_MERGE_KEY: {
            tb_value merged, none = tb_null();
            if (tbr_merge_values(env->arena, slot ? slot : &none, &value, &merged)) return tbr_eval_oom(env, op->span);
            if (!(slot = tb_object_set(env->arena, &rec, key.as.s, key.len))) return tbr_eval_oom(env, op->span);
            *slot = merged;
            break;
        }
        case PATCH_MERGE:
            if (value.type != TB_OBJECT) return tbr_eval_fail(env, op->span, "merge => needs a record, found %s", tb_type_name(value.type));
            if (tbr_merge_values(env->arena, &rec, &value, &rec)) return tbr_eval_oom(env, op->span);
            break;
        case PATCH_DEFAULT_KEY:
            if (!slot) {
                if (!(slot = tb_object_append(env->arena, &rec, key.as.s, key.len))) return tbr_eval_oom(env, op->span);
                *slot = value;
            }
            break;
        case PATCH_DEFAULT:
            if (value.type != TB_OBJECT) return tbr_eval_fail(env, op->span, "default => needs a record, found %s", tb_type_name(value.type));
            if (default_values(env->arena, &rec, &value, &rec)) return tbr_eval_oom(env, op->span);
            break;
        }
    }
    *out = rec;
    return TBR_EVAL_OK;
}

int tbr_eval_merge(tbr_eval_env *env, const tbr_node *n, tb_value *out) {
    tb_value target, source;
    int rc;
    if ((rc = tbr_eval(env, n->u.bin.a, &target)) || (rc = tbr_eval(env, n->u.bin.b, &source))) return rc;
    if (target.type != TB_OBJECT || source.type != TB_OBJECT)
        return tbr_eval_fail(env, n->span, "merge needs two records, found %s and %s", tb_type_name(target.type), tb_type_name(source.type));
    if (tbr_merge_values(env->arena, &target, &source, out)) return tbr_eval_oom(env, n->span);
    return TBR_EVAL_OK;
}
