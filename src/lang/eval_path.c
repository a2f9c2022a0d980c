/* eval_path.c - reading a path (event.a[0].b, $meta, state, locals, expressions with
 * segments, ranges) and assigning through one (let). */
#include <stdio.h>
#include <string.h>

#include "lang/eval_internal.h"

static const char *root_name(tbr_root r) {
    switch (r) {
    case ROOT_EVENT: return "event";
    case ROOT_META: return "$";
    case ROOT_STATE: return "state";
    case ROOT_ARGS: return "args";
    case ROOT_GROUP: return "group";
    case ROOT_WINDOW: return "window";
    case ROOT_LOCAL: return "the local";
    default: return "the value";
    }
}

/* "(the record has: a, b, c)" with at most five keys, for missing-field messages. */
static void known_keys(const tb_value *obj, char *buf, size_t n) {
    size_t used = (size_t)snprintf(buf, n, "the record has ");
    if (obj->len == 0) {
        snprintf(buf + used, n - used, "no fields");
        return;
    }
    for (uint32_t i = 0; i < obj->len && i < 5 && used < n; i++)
        used += (size_t)snprintf(buf + used, n - used, "%s'%.*s'", i ? ", " : "", (int)obj->as.members[i].key_len, obj->as.members[i].key);
    if (obj->len > 5 && used < n) snprintf(buf + used, n - used, ", and %u more", obj->len - 5);
}

static int index_of(tbr_eval_env *env, const tbr_segment *s, const tbr_node *node, uint32_t len, int64_t *out) {
    tb_value iv;
    int rc = tbr_eval(env, node, &iv);
    if (rc) return rc;
    if (!tb_value_as_i64(&iv, out) || iv.type == TB_F64)
        return tbr_eval_fail(env, s->span, "an array index must be an integer, found %s", tb_type_name(iv.type));
    (void)len;
    return TBR_EVAL_OK;
}

/* Applies one segment to *cur. Sets *missing (and returns OK) for an absent field or index
 * when absent_ok. */
static int step(tbr_eval_env *env, const tbr_node *path, const tbr_segment *s, tb_value *cur, bool absent_ok, bool *missing) {
    int rc;
    switch (s->kind) {
    case SEG_FIELD: {
        if (cur->type != TB_OBJECT) {
            if (absent_ok) return *missing = true, TBR_EVAL_OK;
            return tbr_eval_fail(env, s->span, "cannot look up '%.*s' in %s: it is not a record", (int)s->key_len, s->key, tb_type_name(cur->type));
        }
        tb_value *v = tb_object_get(cur, s->key, s->key_len);
        if (!v) {
            if (absent_ok) return *missing = true, TBR_EVAL_OK;
            char keys[200];
            known_keys(cur, keys, sizeof keys);
            return tbr_eval_fail(env, s->span, "no field '%.*s' in %s (%s)", (int)s->key_len, s->key,
                                 s == path->u.path.segs ? root_name(path->u.path.root) : "the record", keys);
        }
        *cur = *v;
        return TBR_EVAL_OK;
    }
    case SEG_INDEX: {
        tb_value key;
        if ((rc = tbr_eval(env, s->index, &key))) return rc;
        if (key.type == TB_STRING) {
            /* event[expr] with a string is a field lookup */
            if (cur->type != TB_OBJECT) {
                if (absent_ok) return *missing = true, TBR_EVAL_OK;
                return tbr_eval_fail(env, s->span, "cannot look up '%.*s' in %s: it is not a record", (int)key.len, key.as.s, tb_type_name(cur->type));
            }
            tb_value *v = tb_object_get(cur, key.as.s, key.len);
            if (!v) {
                if (absent_ok) return *missing = true, TBR_EVAL_OK;
                char keys[200];
                known_keys(cur, keys, sizeof keys);
                return tbr_eval_fail(env, s->span, "no field '%.*s' (%s)", (int)key.len, key.as.s, keys);
            }
            *cur = *v;
            return TBR_EVAL_OK;
        }
        int64_t i;
        if (!tb_value_as_i64(&key, &i) || key.type == TB_F64)
            return tbr_eval_fail(env, s->span, "an index must be an integer or a string, found %s", tb_type_name(key.type));
        if (cur->type != TB_ARRAY) {
            if (absent_ok) return *missing = true, TBR_EVAL_OK;
            return tbr_eval_fail(env, s->span, "cannot index %s with [%lld]: it is not an array", tb_type_name(cur->type), (long long)i);
        }
        if (i < 0 || (uint64_t)i >= cur->len) {
            if (absent_ok) return *missing = true, TBR_EVAL_OK;
            return tbr_eval_fail(env, s->span, "index %lld is out of range for an array of %u", (long long)i, cur->len);
        }
        *cur = cur->as.items[i];
        return TBR_EVAL_OK;
    }
    case SEG_RANGE: {
        int64_t a, b;
        if (cur->type != TB_ARRAY)
            return tbr_eval_fail(env, s->span, "cannot take a range of %s: it is not an array", tb_type_name(cur->type));
        if ((rc = index_of(env, s, s->index, cur->len, &a)) || (rc = index_of(env, s, s->end, cur->len, &b))) return rc;
        if (a < 0 || b < a || (uint64_t)b > cur->len)
            return tbr_eval_fail(env, s->span, "range [%lld:%lld] is out of bounds for an array of %u", (long long)a, (long long)b, cur->len);
        tb_value slice = tb_array();
        slice.as.items = cur->as.items + a;
        slice.len = (uint32_t)(b - a);
        *cur = slice;
        return TBR_EVAL_OK;
    }
    }
    return TBR_EVAL_OK;
}

int tbr_eval_path(tbr_eval_env *env, const tbr_node *path, tb_value *out, bool absent_ok, bool *missing) {
    tb_value cur;
    int rc;
    switch (path->u.path.root) {
    case ROOT_EVENT: cur = *env->event; break;
    case ROOT_META: cur = *env->meta; break;
    case ROOT_STATE: cur = env->state ? *env->state : tb_null(); break;
    case ROOT_ARGS: cur = *env->args; break;
    case ROOT_GROUP: cur = *env->group; break;
    case ROOT_WINDOW: cur = *env->window; break;
    case ROOT_LOCAL: cur = env->locals[path->u.path.slot]; break;
    case ROOT_EXPR:
        if ((rc = tbr_eval(env, path->u.path.expr, &cur))) return rc;
        break;
    default: return tbr_eval_fail(env, path->span, "internal error: path root");
    }
    if (missing) *missing = false;
    for (uint32_t i = 0; i < path->u.path.nsegs; i++) {
        bool miss = false;
        if ((rc = step(env, path, &path->u.path.segs[i], &cur, absent_ok, &miss))) return rc;
        if (miss) {
            if (missing) *missing = true;
            *out = tb_null();
            return TBR_EVAL_OK;
        }
    }
    *out = cur;
    return TBR_EVAL_OK;
}

/* A shallow copy of container *v in arena, so the copy can be changed without changing
 * whoever else holds the original (metadata can be shared by the events of one chunk). */
static int unshare(tbr_eval_env *env, tb_arena *arena, tb_value *v, tbr_span span) {
    if (v->type != TB_OBJECT && v->type != TB_ARRAY) return TBR_EVAL_OK;
    size_t elem = v->type == TB_OBJECT ? sizeof(tb_member) : sizeof(tb_value);
    if (!v->len) return TBR_EVAL_OK;
    void *copy = tb_arena_alloc(arena, v->len * elem, 8);
    if (!copy) return tbr_eval_oom(env, span);
    memcpy(copy, v->as.items, v->len * elem);
    v->as.items = copy;
    v->flags = 0; /* exact size now */
    return TBR_EVAL_OK;
}

int tbr_eval_assign(tbr_eval_env *env, const tbr_node *path, tb_value value) {
    tb_value *cur;
    tb_arena *arena = env->arena;
    bool copy_spine = false;
    switch (path->u.path.root) {
    case ROOT_EVENT: cur = env->event; break;
    case ROOT_META: cur = env->meta; copy_spine = true; break;
    case ROOT_STATE:
        if (!env->state) return tbr_eval_fail(env, path->span, "there is no state here");
        cur = env->state;
        if (env->state_arena) arena = env->state_arena;
        break;
    case ROOT_LOCAL: cur = &env->locals[path->u.path.slot]; break;
    default: return tbr_eval_fail(env, path->span, "cannot assign to %s", root_name(path->u.path.root));
    }
    int rc;
    for (uint32_t i = 0; i < path->u.path.nsegs; i++) {
        const tbr_segment *s = &path->u.path.segs[i];
        if (copy_spine && (rc = unshare(env, arena, cur, s->span))) return rc;
        const char *key = s->key;
        uint32_t key_len = s->key_len;
        if (s->kind == SEG_INDEX) {
            tb_value k;
            if ((rc = tbr_eval(env, s->index, &k))) return rc;
            if (k.type == TB_STRING) {
                key = k.as.s;
                key_len = k.len;
            } else {
                int64_t idx;
                if (!tb_value_as_i64(&k, &idx) || k.type == TB_F64)
                    return tbr_eval_fail(env, s->span, "an index must be an integer or a string, found %s", tb_type_name(k.type));
                if (cur->type != TB_ARRAY)
                    return tbr_eval_fail(env, s->span, "cannot assign to [%lld] of %s: it is not an array", (long long)idx, tb_type_name(cur->type));
                if (idx < 0 || (uint64_t)idx >= cur->len)
                    return tbr_eval_fail(env, s->span, "index %lld is out of range for an array of %u", (long long)idx, cur->len);
                cur = &cur->as.items[idx];
                continue;
            }
        }
        /* a field: missing records on the way are created, as `let` builds paths */
        if (cur->type == TB_NULL) *cur = tb_object();
        if (cur->type != TB_OBJECT)
            return tbr_eval_fail(env, s->span, "cannot assign to '%.*s' in %s: it is not a record", (int)key_len, key, tb_type_name(cur->type));
        tb_value *slot = tb_object_get(cur, key, key_len);
        if (!slot) {
            /* keys of new fields must outlive the event when they go into state */
            const char *k = key;
            if (arena != env->arena && !(k = tb_arena_dup(arena, key, key_len))) return tbr_eval_oom(env, s->span);
            if (!(slot = tb_object_append(arena, cur, k, key_len))) return tbr_eval_oom(env, s->span);
            /* new intermediate levels start as records */
            if (i + 1 < path->u.path.nsegs) *slot = tb_object();
        }
        cur = slot;
    }
    *cur = value;
    return TBR_EVAL_OK;
}
