/*
 * path.c - std::path: try_default, the value at a path of record keys and array indices
 * inside a value, or a default when the path leads nowhere (Tremor 0.13's path module).
 */
#include "lang/fn.h"
#include "lang/stdlib/util.h"

/* path::try_default(base, segments, otherwise): base is a record, an array or null (null
 * always gives the default); each string segment selects a record field, each non-negative
 * integer an array element; the empty path selects base. A segment that does not apply
 * (a missing key or index, a key on an array, an index on a record, anything on a scalar)
 * gives the default: Tremor's code has quirks there (an integer segment on a record is
 * skipped when it is the first one), which this deliberately does not copy. */
SL_NATIVE(fn_try_default) {
    static const char fn[] = "path::try_default";
    const tb_value *base = &args[0], *segs = &args[1], *otherwise = &args[2];
    if (base->type == TB_NULL) return sl_copy(cx, fn, otherwise, out);
    if (base->type != TB_OBJECT && base->type != TB_ARRAY)
        return tbr_fn_error(cx,
                            "%s: Expected record or array or literal `null` as first argument, "
                            "found %s",
                            fn, tb_type_name(base->type));
    if (segs->type != TB_ARRAY)
        return tbr_fn_error(cx, "%s: Expected path segment array as second argument, found %s",
                            fn, tb_type_name(segs->type));
    const tb_value *at = base;
    for (uint32_t i = 0; i < segs->len; i++) {
        const tb_value *seg = &segs->as.items[i];
        const tb_value *next = NULL;
        uint64_t idx;
        if (seg->type == TB_STRING && at->type == TB_OBJECT)
            next = tb_object_get(at, sl_text(seg), seg->len);
        else if (at->type == TB_ARRAY && sl_as_u64(seg, &idx) && idx < at->len)
            next = &at->as.items[idx];
        if (!next) return sl_copy(cx, fn, otherwise, out);
        at = next;
    }
    return sl_copy(cx, fn, at, out);
}

const tbr_fn tbr_stdlib_path[] = {
    SL_FN("path", "try_default", 3, 3, TBR_FN_PURE, fn_try_default,
          "path::try_default(base, segments, otherwise) -> any",
          "The value at segments (keys and indices) inside base, or otherwise when absent."),
    SL_END,
};
