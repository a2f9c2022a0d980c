/*
 * array.c - std::array: length, membership, building (push, concatenate, zip, unzip,
 * flatten, coalesce), joining, sorting and reversing arrays (Tremor 0.13's array module).
 *
 * No function changes its argument: every array returned has storage of its own, and its
 * items are copies (sl_copy), so updating the result in place cannot change the input.
 */
#include <string.h>

#include "lang/fn.h"
#include "lang/stdlib/util.h"
#include "value/ops.h"

/* An array value of n null items in fresh storage; false when out of memory. */
static bool new_array(tb_arena *a, uint32_t n, tb_value *out) {
    *out = tb_array();
    if (n == 0) return true;
    tb_value *items = tb_arena_alloc(a, (size_t)n * sizeof *items, 8);
    if (!items) return false;
    for (uint32_t i = 0; i < n; i++) items[i] = tb_null();
    out->as.items = items;
    out->len = n;
    return true;
}

/* Copies n items into dst[0..n). */
static int copy_items(tbr_fn_ctx *cx, const char *fn, const tb_value *src, uint32_t n,
                      tb_value *dst) {
    for (uint32_t i = 0; i < n; i++) {
        int rc = sl_copy(cx, fn, &src[i], &dst[i]);
        if (rc != TB_OK) return rc;
    }
    return TB_OK;
}

SL_NATIVE(fn_len) {
    SL_WANT(cx, "array::len", 0, "array", &args[0], TB_ARRAY);
    *out = tb_i64(args[0].len);
    return TB_OK;
}

SL_NATIVE(fn_is_empty) {
    SL_WANT(cx, "array::is_empty", 0, "array", &args[0], TB_ARRAY);
    *out = tb_bool(args[0].len == 0);
    return TB_OK;
}

SL_NATIVE(fn_contains) {
    SL_WANT(cx, "array::contains", 1, "array", &args[0], TB_ARRAY);
    bool found = false;
    /* the language's equality: 1 == 1.0, records regardless of key order */
    for (uint32_t i = 0; i < args[0].len && !found; i++)
        found = tbr_value_eq(&args[0].as.items[i], &args[1]);
    *out = tb_bool(found);
    return TB_OK;
}

SL_NATIVE(fn_push) {
    static const char fn[] = "array::push";
    SL_WANT(cx, fn, 1, "array", &args[0], TB_ARRAY);
    const tb_value *a = &args[0];
    tb_value r;
    if (a->len >= UINT32_MAX / 2) return sl_oom(cx, fn);
    if (!new_array(cx->arena, a->len + 1, &r)) return sl_oom(cx, fn);
    int rc = copy_items(cx, fn, a->as.items, a->len, r.as.items);
    if (rc == TB_OK) rc = sl_copy(cx, fn, &args[1], &r.as.items[a->len]);
    if (rc == TB_OK) *out = r;
    return rc;
}

SL_NATIVE(fn_concatenate) {
    static const char fn[] = "array::concatenate";
    SL_WANT(cx, fn, 1, "left", &args[0], TB_ARRAY);
    SL_WANT(cx, fn, 2, "right", &args[1], TB_ARRAY);
    const tb_value *l = &args[0], *r = &args[1];
    tb_value res;
    if ((uint64_t)l->len + r->len >= UINT32_MAX / 2) return sl_oom(cx, fn);
    if (!new_array(cx->arena, l->len + r->len, &res)) return sl_oom(cx, fn);
    int rc = copy_items(cx, fn, l->as.items, l->len, res.as.items);
    if (rc == TB_OK && r->len) rc = copy_items(cx, fn, r->as.items, r->len, res.as.items + l->len);
    if (rc == TB_OK) *out = res;
    return rc;
}

SL_NATIVE(fn_reverse) {
    static const char fn[] = "array::reverse";
    SL_WANT(cx, fn, 0, "array", &args[0], TB_ARRAY);
    const tb_value *a = &args[0];
    tb_value r;
    if (!new_array(cx->arena, a->len, &r)) return sl_oom(cx, fn);
    for (uint32_t i = 0; i < a->len; i++) {
        int rc = sl_copy(cx, fn, &a->as.items[i], &r.as.items[a->len - 1 - i]);
        if (rc != TB_OK) return rc;
    }
    *out = r;
    return TB_OK;
}

SL_NATIVE(fn_zip) {
    static const char fn[] = "array::zip";
    SL_WANT(cx, fn, 1, "left", &args[0], TB_ARRAY);
    SL_WANT(cx, fn, 2, "right", &args[1], TB_ARRAY);
    const tb_value *l = &args[0], *r = &args[1];
    if (l->len != r->len)
        return tbr_fn_error(cx,
                            "%s: Zipping two arrays requires them to have the same length, but "
                            "the first array provided has %u elements while the second one "
                            "has %u elements",
                            fn, l->len, r->len);
    tb_value res;
    if (!new_array(cx->arena, l->len, &res)) return sl_oom(cx, fn);
    for (uint32_t i = 0; i < l->len; i++) {
        tb_value *pair = &res.as.items[i];
        if (!new_array(cx->arena, 2, pair)) return sl_oom(cx, fn);
        int rc = sl_copy(cx, fn, &l->as.items[i], &pair->as.items[0]);
        if (rc == TB_OK) rc = sl_copy(cx, fn, &r->as.items[i], &pair->as.items[1]);
        if (rc != TB_OK) return rc;
    }
    *out = res;
    return TB_OK;
}

SL_NATIVE(fn_unzip) {
    static const char fn[] = "array::unzip";
    SL_WANT(cx, fn, 0, "array", &args[0], TB_ARRAY);
    const tb_value *a = &args[0];
    tb_value res, left, right;
    for (uint32_t i = 0; i < a->len; i++) {
        const tb_value *t = &a->as.items[i];
        if (t->type != TB_ARRAY)
            return tbr_fn_error(cx,
                                "%s: Only arrays that consist of tuples (arrays of two "
                                "elements) can be unzipped but this array contained a %s",
                                fn, tb_type_name(t->type));
        if (t->len != 2)
            return tbr_fn_error(cx,
                                "%s: Only arrays that consist of tuples (arrays of two "
                                "elements) can be unzipped but this array contained %u elements",
                                fn, t->len);
    }
    if (!new_array(cx->arena, 2, &res) || !new_array(cx->arena, a->len, &left) ||
        !new_array(cx->arena, a->len, &right))
        return sl_oom(cx, fn);
    for (uint32_t i = 0; i < a->len; i++) {
        const tb_value *t = &a->as.items[i];
        int rc = sl_copy(cx, fn, &t->as.items[0], &left.as.items[i]);
        if (rc == TB_OK) rc = sl_copy(cx, fn, &t->as.items[1], &right.as.items[i]);
        if (rc != TB_OK) return rc;
    }
    res.as.items[0] = left;
    res.as.items[1] = right;
    *out = res;
    return TB_OK;
}

/* Appends the leaves of v (v itself when it is not an array) to res. */
static int flatten_into(tbr_fn_ctx *cx, const tb_value *v, tb_value *res, int depth) {
    static const char fn[] = "array::flatten";
    if (v->type != TB_ARRAY) {
        tb_value *slot = tb_array_push(cx->arena, res);
        if (!slot) return sl_oom(cx, fn);
        return sl_copy(cx, fn, v, slot);
    }
    if (depth > SL_MAX_DEPTH)
        return tbr_fn_error(cx, "%s: value nested deeper than %d levels", fn, SL_MAX_DEPTH);
    for (uint32_t i = 0; i < v->len; i++) {
        int rc = flatten_into(cx, &v->as.items[i], res, depth + 1);
        if (rc != TB_OK) return rc;
    }
    return TB_OK;
}

SL_NATIVE(fn_flatten) {
    /* any value: a non-array flattens to an array of itself, as in Tremor */
    tb_value res = tb_array();
    int rc = flatten_into(cx, &args[0], &res, 0);
    if (rc == TB_OK) *out = res;
    return rc;
}

SL_NATIVE(fn_coalesce) {
    static const char fn[] = "array::coalesce";
    SL_WANT(cx, fn, 0, "array", &args[0], TB_ARRAY);
    const tb_value *a = &args[0];
    uint32_t n = 0;
    for (uint32_t i = 0; i < a->len; i++) n += a->as.items[i].type != TB_NULL;
    tb_value res;
    if (!new_array(cx->arena, n, &res)) return sl_oom(cx, fn);
    for (uint32_t i = 0, j = 0; i < a->len; i++) {
        if (a->as.items[i].type == TB_NULL) continue;
        int rc = sl_copy(cx, fn, &a->as.items[i], &res.as.items[j++]);
        if (rc != TB_OK) return rc;
    }
    *out = res;
    return TB_OK;
}

SL_NATIVE(fn_join) {
    static const char fn[] = "array::join";
    SL_WANT(cx, fn, 1, "array", &args[0], TB_ARRAY);
    SL_WANT(cx, fn, 2, "separator", &args[1], TB_STRING);
    const tb_value *a = &args[0];
    sl_sb sb;
    sb_init(&sb, cx->arena);
    for (uint32_t i = 0; i < a->len && !sb_failed(&sb); i++) {
        const tb_value *v = &a->as.items[i];
        if (i) sb_put(&sb, sl_text(&args[1]), args[1].len);
        /* strings as they are, anything else as its JSON text */
        if (v->type == TB_STRING) sb_put(&sb, sl_text(v), v->len);
        else sl_json(&sb, v, 0);
    }
    return sb_finish(cx, fn, &sb, false, out);
}

/* ---- sort ------------------------------------------------------------------------------- */

/* A total order over all values, for sorting mixed arrays deterministically: by kind (null,
 * bool, number, string, binary, array, record), then within a kind by the language's
 * ordering; NaN after every other number; records by size, then member by member. */
static int kind_rank(const tb_value *v) {
    switch (v->type) {
    case TB_NULL: return 0;
    case TB_BOOL: return 1;
    case TB_I64:
    case TB_U64:
    case TB_F64: return 2;
    case TB_STRING: return 3;
    case TB_BYTES: return 4;
    case TB_ARRAY: return 5;
    default: return 6;
    }
}

static int total_cmp(const tb_value *a, const tb_value *b, int depth) {
    int ra = kind_rank(a), rb = kind_rank(b), c;
    if (ra != rb) return ra < rb ? -1 : 1;
    if (depth > SL_MAX_DEPTH) return 0;
    switch (ra) {
    case 2: {
        if (tbr_value_cmp(a, b, &c)) return c;
        bool na = a->type == TB_F64 && a->as.f != a->as.f;
        bool nb = b->type == TB_F64 && b->as.f != b->as.f;
        return (na > nb) - (na < nb);
    }
    case 5:
        for (uint32_t i = 0; i < a->len && i < b->len; i++)
            if ((c = total_cmp(&a->as.items[i], &b->as.items[i], depth + 1)) != 0) return c;
        return (a->len > b->len) - (a->len < b->len);
    case 6:
        if (a->len != b->len) return a->len < b->len ? -1 : 1;
        for (uint32_t i = 0; i < a->len; i++) {
            const tb_member *x = &a->as.members[i], *y = &b->as.members[i];
            uint32_t kn = x->key_len < y->key_len ? x->key_len : y->key_len;
            c = kn ? memcmp(x->key, y->key, kn) : 0;
            if (c) return c < 0 ? -1 : 1;
            if (x->key_len != y->key_len) return x->key_len < y->key_len ? -1 : 1;
            if ((c = total_cmp(&x->value, &y->value, depth + 1)) != 0) return c;
        }
        return 0;
    default: return tbr_value_cmp(a, b, &c) ? c : 0;
    }
}

/* Stable merge sort of v[0..n) by total_cmp, with scratch tmp[0..n). */
static void merge_sort(tb_value *v, tb_value *tmp, uint32_t n) {
    for (uint32_t width = 1; width < n; width *= 2) {
        for (uint32_t lo = 0; lo < n; lo += 2 * width) {
            uint32_t mid = lo + width < n ? lo + width : n;
            uint32_t hi = lo + 2 * width < n ? lo + 2 * width : n;
            uint32_t i = lo, j = mid, k = lo;
            while (i < mid && j < hi) tmp[k++] = total_cmp(&v[j], &v[i], 0) < 0 ? v[j++] : v[i++];
            while (i < mid) tmp[k++] = v[i++];
            while (j < hi) tmp[k++] = v[j++];
        }
        memcpy(v, tmp, (size_t)n * sizeof *v);
        if (width > UINT32_MAX / 2) break;
    }
}

SL_NATIVE(fn_sort) {
    static const char fn[] = "array::sort";
    SL_WANT(cx, fn, 0, "array", &args[0], TB_ARRAY);
    const tb_value *a = &args[0];
    tb_value res;
    if (!new_array(cx->arena, a->len, &res)) return sl_oom(cx, fn);
    int rc = copy_items(cx, fn, a->as.items, a->len, res.as.items);
    if (rc != TB_OK) return rc;
    if (a->len > 1) {
        tb_value *tmp = tb_arena_alloc(cx->arena, (size_t)a->len * sizeof *tmp, 8);
        if (!tmp) return sl_oom(cx, fn);
        merge_sort(res.as.items, tmp, a->len);
    }
    *out = res;
    return TB_OK;
}

#define P TBR_FN_PURE
const tbr_fn tbr_stdlib_array[] = {
    SL_FN("array", "len", 1, 1, P, fn_len, "array::len(array) -> int",
          "The number of elements of the array."),
    SL_FN("array", "is_empty", 1, 1, P, fn_is_empty, "array::is_empty(array) -> bool",
          "Whether the array has no elements."),
    SL_FN("array", "contains", 2, 2, P, fn_contains, "array::contains(array, element) -> bool",
          "Whether the array has an element equal to element."),
    SL_FN("array", "push", 2, 2, P, fn_push, "array::push(array, element) -> array",
          "The array with element added at the end."),
    SL_FN("array", "zip", 2, 2, P, fn_zip, "array::zip(left, right) -> array",
          "Pairs the elements of two arrays of the same length: [[l0, r0], [l1, r1], ...]."),
    SL_FN("array", "unzip", 1, 1, P, fn_unzip, "array::unzip(array) -> array",
          "Splits an array of pairs into an array of two arrays."),
    SL_FN("array", "flatten", 1, 1, P, fn_flatten, "array::flatten(array) -> array",
          "Flattens nested arrays recursively."),
    SL_FN("array", "coalesce", 1, 1, P, fn_coalesce, "array::coalesce(array) -> array",
          "The array without its null elements."),
    SL_FN("array", "join", 2, 2, P, fn_join, "array::join(array, separator) -> string",
          "Joins the elements (non-strings as JSON) with separator."),
    SL_FN("array", "concatenate", 2, 2, P, fn_concatenate,
          "array::concatenate(left, right) -> array", "The elements of left, then of right."),
    SL_FN("array", "sort", 1, 1, P, fn_sort, "array::sort(array) -> array",
          "The elements in ascending order (stable)."),
    SL_FN("array", "reverse", 1, 1, P, fn_reverse, "array::reverse(array) -> array",
          "The elements in reverse order."),
    SL_END,
};
