/*
 * record.c - std::record: size, keys and values of records, conversion to and from arrays
 * of pairs, and building records from others (extract, combine, rename) - Tremor 0.13's
 * record module. select and merge, the names of extract and combine before Tremor 0.12
 * made them keywords, are kept as aliases.
 *
 * A record may hold a key twice (a JSON decoder appends members as it reads them); as for
 * tb_object_get the last one wins, so every function here sees only the live members
 * (sl_live_members) and every record built here holds each key once.
 */
#include <string.h>

#include "lang/fn.h"
#include "lang/stdlib/util.h"

/* The live-member map of the record argument, or the error. */
#define LIVE(cx, fn, obj, live)                                \
    do {                                                       \
        (live) = sl_live_members((cx)->arena, (obj));          \
        if (!(live)) return sl_oom((cx), (fn));                \
    } while (0)

SL_NATIVE(fn_len) {
    static const char fn[] = "record::len";
    const uint8_t *live;
    SL_WANT(cx, fn, 0, "record", &args[0], TB_OBJECT);
    LIVE(cx, fn, &args[0], live);
    *out = tb_i64(sl_live_count(&args[0], live));
    return TB_OK;
}

SL_NATIVE(fn_is_empty) {
    SL_WANT(cx, "record::is_empty", 0, "record", &args[0], TB_OBJECT);
    *out = tb_bool(args[0].len == 0);
    return TB_OK;
}

SL_NATIVE(fn_contains) {
    static const char fn[] = "record::contains";
    SL_WANT(cx, fn, 1, "record", &args[0], TB_OBJECT);
    SL_WANT(cx, fn, 2, "key", &args[1], TB_STRING);
    *out = tb_bool(tb_object_get(&args[0], sl_text(&args[1]), args[1].len) != NULL);
    return TB_OK;
}

/* keys, values or [key, value] pairs of the live members, in order */
enum { KEYS, VALUES, PAIRS };

static int members_to_array(tbr_fn_ctx *cx, const char *fn, const tb_value *obj, int what,
                            tb_value *out) {
    const uint8_t *live;
    SL_WANT(cx, fn, 0, "record", obj, TB_OBJECT);
    LIVE(cx, fn, obj, live);
    uint32_t n = sl_live_count(obj, live);
    tb_value res = tb_array();
    if (n) {
        res.as.items = tb_arena_alloc(cx->arena, (size_t)n * sizeof(tb_value), 8);
        if (!res.as.items) return sl_oom(cx, fn);
    }
    for (uint32_t i = 0; i < obj->len; i++) {
        const tb_member *m = &obj->as.members[i];
        if (!live[i]) continue;
        tb_value *slot = &res.as.items[res.len++];
        if (what == KEYS) {
            *slot = tb_string(m->key, m->key_len);
        } else if (what == VALUES) {
            int rc = sl_copy(cx, fn, &m->value, slot);
            if (rc != TB_OK) return rc;
        } else {
            tb_value *pair = tb_arena_alloc(cx->arena, 2 * sizeof *pair, 8);
            if (!pair) return sl_oom(cx, fn);
            pair[0] = tb_string(m->key, m->key_len);
            int rc = sl_copy(cx, fn, &m->value, &pair[1]);
            if (rc != TB_OK) return rc;
            *slot = tb_array();
            slot->as.items = pair;
            slot->len = 2;
        }
    }
    *out = res;
    return TB_OK;
}

SL_NATIVE(fn_keys) { return members_to_array(cx, "record::keys", &args[0], KEYS, out); }

SL_NATIVE(fn_values) { return members_to_array(cx, "record::values", &args[0], VALUES, out); }

SL_NATIVE(fn_to_array) {
    return members_to_array(cx, "record::to_array", &args[0], PAIRS, out);
}

SL_NATIVE(fn_from_array) {
    static const char fn[] = "record::from_array";
    SL_WANT(cx, fn, 0, "array", &args[0], TB_ARRAY);
    const tb_value *a = &args[0];
    sl_obj o;
    if (!sl_obj_init(&o, cx->arena, a->len)) return sl_oom(cx, fn);
    for (uint32_t i = 0; i < a->len; i++) {
        const tb_value *t = &a->as.items[i];
        if (t->type != TB_ARRAY || t->len != 2)
            return tbr_fn_error(cx,
                                "%s: Only arrays that consist of tuples (arrays of two "
                                "elements) can be turned into records but element %u is %s",
                                fn, i, t->type == TB_ARRAY ? "an array of another length"
                                                           : tb_type_name(t->type));
        const tb_value *k = &t->as.items[0];
        if (k->type != TB_STRING)
            return tbr_fn_error(cx,
                                "%s: The first element of the tuple needs to be a string, "
                                "found %s in element %u",
                                fn, tb_type_name(k->type), i);
        tb_value *slot = sl_obj_set(&o, sl_text(k), k->len);
        if (!slot) return sl_oom(cx, fn);
        int rc = sl_copy(cx, fn, &t->as.items[1], slot);
        if (rc != TB_OK) return rc;
    }
    *out = o.v;
    return TB_OK;
}

/* The members of record whose key is one of the strings of keys (others are ignored), in
 * the record's order. */
static int extract(tbr_fn_ctx *cx, const char *fn, const tb_value *args, tb_value *out) {
    const uint8_t *live;
    sl_obj wanted, res;
    SL_WANT(cx, fn, 1, "record", &args[0], TB_OBJECT);
    SL_WANT(cx, fn, 2, "array", &args[1], TB_ARRAY);
    const tb_value *obj = &args[0], *keys = &args[1];
    LIVE(cx, fn, obj, live);
    if (!sl_obj_init(&wanted, cx->arena, keys->len) || !sl_obj_init(&res, cx->arena, 0))
        return sl_oom(cx, fn);
    for (uint32_t i = 0; i < keys->len; i++) {
        const tb_value *k = &keys->as.items[i];
        if (k->type == TB_STRING && !sl_obj_set(&wanted, sl_text(k), k->len)) return sl_oom(cx, fn);
    }
    for (uint32_t i = 0; i < obj->len; i++) {
        const tb_member *m = &obj->as.members[i];
        if (!live[i] || !sl_obj_get(&wanted, m->key, m->key_len)) continue;
        tb_value *slot = sl_obj_set(&res, m->key, m->key_len);
        if (!slot) return sl_oom(cx, fn);
        int rc = sl_copy(cx, fn, &m->value, slot);
        if (rc != TB_OK) return rc;
    }
    *out = res.v;
    return TB_OK;
}

SL_NATIVE(fn_extract) { return extract(cx, "record::extract", args, out); }

SL_NATIVE(fn_select) { return extract(cx, "record::select", args, out); }

/* left's members, then right's: right's values replace left's in place, right's new keys
 * follow in right's order. */
static int combine(tbr_fn_ctx *cx, const char *fn, const tb_value *args, tb_value *out) {
    sl_obj res;
    SL_WANT(cx, fn, 1, "left", &args[0], TB_OBJECT);
    SL_WANT(cx, fn, 2, "right", &args[1], TB_OBJECT);
    if (!sl_obj_init(&res, cx->arena, args[0].len + args[1].len)) return sl_oom(cx, fn);
    for (int side = 0; side < 2; side++) {
        const tb_value *obj = &args[side];
        /* repeated keys resolve by themselves here: a later set replaces an earlier one */
        for (uint32_t i = 0; i < obj->len; i++) {
            const tb_member *m = &obj->as.members[i];
            tb_value *slot = sl_obj_set(&res, m->key, m->key_len);
            if (!slot) return sl_oom(cx, fn);
            int rc = sl_copy(cx, fn, &m->value, slot);
            if (rc != TB_OK) return rc;
        }
    }
    *out = res.v;
    return TB_OK;
}

SL_NATIVE(fn_combine) { return combine(cx, "record::combine", args, out); }

SL_NATIVE(fn_merge) { return combine(cx, "record::merge", args, out); }

SL_NATIVE(fn_rename) {
    static const char fn[] = "record::rename";
    sl_obj res;
    const uint8_t *live;
    SL_WANT(cx, fn, 1, "target", &args[0], TB_OBJECT);
    SL_WANT(cx, fn, 2, "changes", &args[1], TB_OBJECT);
    const tb_value *obj = &args[0], *changes = &args[1];
    LIVE(cx, fn, obj, live);
    if (!sl_obj_init(&res, cx->arena, obj->len)) return sl_oom(cx, fn);
    for (uint32_t i = 0; i < obj->len; i++) {
        const tb_member *m = &obj->as.members[i];
        if (!live[i]) continue;
        const char *key = m->key;
        size_t key_len = m->key_len;
        /* a change whose new name is not a string leaves the key alone, as in Tremor; two
         * keys renamed to the same name: the later value wins */
        const tb_value *to = tb_object_get(changes, m->key, m->key_len);
        if (to && to->type == TB_STRING) {
            key = sl_text(to);
            key_len = to->len;
        }
        tb_value *slot = sl_obj_set(&res, key, key_len);
        if (!slot) return sl_oom(cx, fn);
        int rc = sl_copy(cx, fn, &m->value, slot);
        if (rc != TB_OK) return rc;
    }
    *out = res.v;
    return TB_OK;
}

#define P TBR_FN_PURE
const tbr_fn tbr_stdlib_record[] = {
    SL_FN("record", "len", 1, 1, P, fn_len, "record::len(record) -> int",
          "The number of fields of the record."),
    SL_FN("record", "is_empty", 1, 1, P, fn_is_empty, "record::is_empty(record) -> bool",
          "Whether the record has no fields."),
    SL_FN("record", "contains", 2, 2, P, fn_contains, "record::contains(record, key) -> bool",
          "Whether the record has a field named key."),
    SL_FN("record", "keys", 1, 1, P, fn_keys, "record::keys(record) -> array",
          "The field names, in order."),
    SL_FN("record", "values", 1, 1, P, fn_values, "record::values(record) -> array",
          "The field values, in order."),
    SL_FN("record", "to_array", 1, 1, P, fn_to_array, "record::to_array(record) -> array",
          "The fields as [key, value] pairs."),
    SL_FN("record", "from_array", 1, 1, P, fn_from_array, "record::from_array(array) -> record",
          "A record from [key, value] pairs."),
    SL_FN("record", "extract", 2, 2, P, fn_extract, "record::extract(record, array) -> record",
          "Only the fields whose names are in array."),
    SL_FN("record", "combine", 2, 2, P, fn_combine, "record::combine(left, right) -> record",
          "The fields of left and right, right's values winning."),
    SL_FN("record", "rename", 2, 2, P, fn_rename, "record::rename(target, changes) -> record",
          "Renames the fields of target named by the keys of changes to their values."),
    SL_FN("record", "select", 2, 2, P, fn_select, "record::select(record, array) -> record",
          "Alias of record::extract (its name before Tremor 0.12)."),
    SL_FN("record", "merge", 2, 2, P, fn_merge, "record::merge(left, right) -> record",
          "Alias of record::combine (its name before Tremor 0.12)."),
    SL_END,
};
