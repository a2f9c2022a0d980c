/*
 * type.c - std::type: the type of a value as a string (type::as_string) and one predicate
 * per type (is_null ... is_binary), as Tremor 0.13 names them.
 */
#include "lang/fn.h"
#include "lang/stdlib/util.h"

SL_NATIVE(fn_as_string) {
    /* Tremor's names, which differ from the runtime's (int, object, bytes) */
    static const char *const names[] = {"null",   "bool",  "integer", "integer", "float",
                                        "string", "bytes", "array",   "record"};
    (void)cx;
    *out = tb_stringz(args[0].type <= TB_OBJECT ? names[args[0].type] : "unknown");
    return TB_OK;
}

#define IS(name, test)                          \
    SL_NATIVE(name) {                           \
        uint8_t t = args[0].type;               \
        (void)cx;                               \
        *out = tb_bool(test);                   \
        return TB_OK;                           \
    }

IS(fn_is_null, t == TB_NULL)
IS(fn_is_bool, t == TB_BOOL)
IS(fn_is_integer, t == TB_I64 || t == TB_U64)
IS(fn_is_float, t == TB_F64)
IS(fn_is_number, t == TB_I64 || t == TB_U64 || t == TB_F64)
IS(fn_is_string, t == TB_STRING)
IS(fn_is_array, t == TB_ARRAY)
IS(fn_is_record, t == TB_OBJECT)
IS(fn_is_binary, t == TB_BYTES)

#define P TBR_FN_PURE
const tbr_fn tbr_stdlib_type[] = {
    SL_FN("type", "as_string", 1, 1, P, fn_as_string, "type::as_string(value) -> string",
          "The value's type: null, bool, integer, float, string, bytes, array or record."),
    SL_FN("type", "is_null", 1, 1, P, fn_is_null, "type::is_null(value) -> bool",
          "Whether the value is null."),
    SL_FN("type", "is_bool", 1, 1, P, fn_is_bool, "type::is_bool(value) -> bool",
          "Whether the value is a boolean."),
    SL_FN("type", "is_integer", 1, 1, P, fn_is_integer, "type::is_integer(value) -> bool",
          "Whether the value is an integer."),
    SL_FN("type", "is_float", 1, 1, P, fn_is_float, "type::is_float(value) -> bool",
          "Whether the value is a float."),
    SL_FN("type", "is_number", 1, 1, P, fn_is_number, "type::is_number(value) -> bool",
          "Whether the value is an integer or a float."),
    SL_FN("type", "is_string", 1, 1, P, fn_is_string, "type::is_string(value) -> bool",
          "Whether the value is a string."),
    SL_FN("type", "is_array", 1, 1, P, fn_is_array, "type::is_array(value) -> bool",
          "Whether the value is an array."),
    SL_FN("type", "is_record", 1, 1, P, fn_is_record, "type::is_record(value) -> bool",
          "Whether the value is a record."),
    SL_FN("type", "is_binary", 1, 1, P, fn_is_binary, "type::is_binary(value) -> bool",
          "Whether the value is binary."),
    SL_END,
};
