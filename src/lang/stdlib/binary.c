/*
 * binary.c - std::binary: the length of binary values and their conversion to and from
 * arrays of byte values (Tremor 0.13's binary module).
 */
#include "lang/fn.h"
#include "lang/stdlib/util.h"

SL_NATIVE(fn_len) {
    SL_WANT(cx, "binary::len", 0, "input", &args[0], TB_BYTES);
    *out = tb_i64(args[0].len);
    return TB_OK;
}

SL_NATIVE(fn_from_bytes) {
    static const char fn[] = "binary::from_bytes";
    SL_WANT(cx, fn, 0, "input", &args[0], TB_ARRAY);
    const tb_value *a = &args[0];
    uint8_t *o = tb_arena_alloc(cx->arena, a->len ? a->len : 1, 1);
    if (!o) return sl_oom(cx, fn);
    for (uint32_t i = 0; i < a->len; i++) {
        uint64_t b;
        /* integers 0..255 only; a float is not a byte even when integral, as in Tremor */
        if (!sl_as_u64(&a->as.items[i], &b) || b > 255)
            return tbr_fn_error(cx, "%s: array contains non bytes: element %u is not an integer "
                                    "from 0 to 255",
                                fn, i);
        o[i] = (uint8_t)b;
    }
    *out = tb_bytes(o, a->len);
    return TB_OK;
}

SL_NATIVE(fn_into_bytes) {
    static const char fn[] = "binary::into_bytes";
    SL_WANT(cx, fn, 0, "input", &args[0], TB_BYTES);
    const tb_value *b = &args[0];
    tb_value arr = tb_array();
    if (b->len) {
        arr.as.items = tb_arena_alloc(cx->arena, (size_t)b->len * sizeof(tb_value), 8);
        if (!arr.as.items) return sl_oom(cx, fn);
    }
    for (uint32_t i = 0; i < b->len; i++) arr.as.items[i] = tb_i64(b->as.bytes[i]);
    arr.len = b->len;
    *out = arr;
    return TB_OK;
}

#define P TBR_FN_PURE
const tbr_fn tbr_stdlib_binary[] = {
    SL_FN("binary", "len", 1, 1, P, fn_len, "binary::len(input) -> int",
          "The number of bytes."),
    SL_FN("binary", "from_bytes", 1, 1, P, fn_from_bytes, "binary::from_bytes(input) -> binary",
          "Binary from an array of integers 0 to 255."),
    SL_FN("binary", "into_bytes", 1, 1, P, fn_into_bytes, "binary::into_bytes(input) -> array",
          "The bytes as an array of integers."),
    SL_END,
};
