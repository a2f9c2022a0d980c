/*
 * json.c - std::json: JSON text to a value (decode, with the runtime's parser) and a value
 * to JSON text (encode, encode_pretty), as Tremor 0.13 defines them.
 *
 * Encoding writes floats as Rust does (shortest round-trip form, 1.0 for integral values),
 * NaN and infinities as null, binary as an array of numbers; encode_pretty indents by two
 * spaces with ": " after keys, as serde's pretty printer.
 */
#include "lang/fn.h"
#include "lang/stdlib/util.h"
#include "value/json.h"

SL_NATIVE(fn_decode) {
    static const char fn[] = "json::decode";
    char err[160];
    SL_WANT(cx, fn, 0, "string", &args[0], TB_STRING);
    /* strings without escapes point into the argument's text, which outlives the result */
    int rc = tbr_json_parse(cx->arena, sl_text(&args[0]), args[0].len, out, err, sizeof err);
    if (rc == TB_ENOMEM) return sl_oom(cx, fn);
    if (rc != TB_OK) return tbr_fn_error(cx, "%s: %s", fn, err);
    return TB_OK;
}

static int encode(tbr_fn_ctx *cx, const char *fn, const tb_value *v, int indent,
                  tb_value *out) {
    sl_sb sb;
    sb_init(&sb, cx->arena);
    sl_json(&sb, v, indent);
    return sb_finish(cx, fn, &sb, false, out);
}

SL_NATIVE(fn_encode) { return encode(cx, "json::encode", &args[0], 0, out); }

SL_NATIVE(fn_encode_pretty) { return encode(cx, "json::encode_pretty", &args[0], 2, out); }

#define P TBR_FN_PURE
const tbr_fn tbr_stdlib_json[] = {
    SL_FN("json", "decode", 1, 1, P, fn_decode, "json::decode(string) -> any",
          "The value of a JSON text."),
    SL_FN("json", "encode", 1, 1, P, fn_encode, "json::encode(any) -> string",
          "The compact JSON text of a value."),
    SL_FN("json", "encode_pretty", 1, 1, P, fn_encode_pretty,
          "json::encode_pretty(any) -> string", "The indented JSON text of a value."),
    SL_END,
};
