/* eval_ops.c - unary and binary operators with Tremor's semantics: checked integer
 * arithmetic (overflow is an error, not a wrap), division that yields a float, string
 * concatenation with +, structural equality, and comparisons of comparable values only. */
#include <math.h>
#include <string.h>

#include "lang/eval_internal.h"
#include "value/ops.h"

static const char *op_name(tbr_op op) {
    static const char *const names[] = {
        [OP_NEG] = "-", [OP_POS] = "+", [OP_NOT] = "not", [OP_OR] = "or", [OP_XOR] = "xor",
        [OP_AND] = "and", [OP_BITXOR] = "^", [OP_BITAND] = "&", [OP_EQ] = "==", [OP_NE] = "!=",
        [OP_LT] = "<", [OP_LE] = "<=", [OP_GT] = ">", [OP_GE] = ">=", [OP_SHL] = "<<",
        [OP_SHR] = ">>", [OP_SHR_U] = ">>>", [OP_ADD] = "+", [OP_SUB] = "-", [OP_MUL] = "*",
        [OP_DIV] = "/", [OP_MOD] = "%",
    };
    return op < sizeof names / sizeof *names && names[op] ? names[op] : "?";
}

static int type_error(tbr_eval_env *env, const tbr_node *n, const tb_value *a, const tb_value *b) {
    if (b)
        return tbr_eval_fail(env, n->span, "cannot apply %s to %s and %s", op_name(n->op), tb_type_name(a->type), tb_type_name(b->type));
    return tbr_eval_fail(env, n->span, "cannot apply %s to %s", op_name(n->op), tb_type_name(a->type));
}

int tbr_eval_unary(tbr_eval_env *env, const tbr_node *n, const tb_value *a, tb_value *out) {
    switch (n->op) {
    case OP_NOT:
        if (a->type != TB_BOOL) return type_error(env, n, a, NULL);
        *out = tb_bool(!a->as.b);
        return TBR_EVAL_OK;
    case OP_POS:
        if (!tbr_value_is_number(a)) return type_error(env, n, a, NULL);
        *out = *a;
        return TBR_EVAL_OK;
    case OP_NEG:
        if (a->type == TB_I64) {
            if (a->as.i == INT64_MIN) return tbr_eval_fail(env, n->span, "arithmetic overflow in -%lld", (long long)a->as.i);
            *out = tb_i64(-a->as.i);
        } else if (a->type == TB_U64) {
            if (a->as.u > (uint64_t)INT64_MAX + 1) return tbr_eval_fail(env, n->span, "arithmetic overflow in -%llu", (unsigned long long)a->as.u);
            *out = tb_i64(a->as.u == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)a->as.u);
        } else if (a->type == TB_F64) {
            *out = tb_f64(-a->as.f);
        } else {
            return type_error(env, n, a, NULL);
        }
        return TBR_EVAL_OK;
    default: return tbr_eval_fail(env, n->span, "internal error: unary %s", op_name(n->op));
    }
}

/* An integer operand as a signed 128-bit value, so int and uint mix without loss. */
static bool as_wide(const tb_value *v, __int128 *out) {
    if (v->type == TB_I64) return *out = v->as.i, true;
    if (v->type == TB_U64) return *out = v->as.u, true;
    return false;
}

static int int_result(tbr_eval_env *env, const tbr_node *n, __int128 r, tb_value *out) {
    if (r >= INT64_MIN && r <= INT64_MAX) {
        *out = tb_i64((int64_t)r);
        return TBR_EVAL_OK;
    }
    if (r > 0 && r <= (__int128)UINT64_MAX) {
        *out = tb_u64((uint64_t)r);
        return TBR_EVAL_OK;
    }
    return tbr_eval_fail(env, n->span, "arithmetic overflow in %s", op_name(n->op));
}

static int arith(tbr_eval_env *env, const tbr_node *n, const tb_value *a, const tb_value *b, tb_value *out) {
    __int128 x, y;
    bool ints = as_wide(a, &x) && as_wide(b, &y);
    if (ints && n->op != OP_DIV) {
        switch (n->op) {
        case OP_ADD: return int_result(env, n, x + y, out);
        case OP_SUB: return int_result(env, n, x - y, out);
        case OP_MUL: {
            /* |x|,|y| < 2^64, so the product fits in 128 bits */
            return int_result(env, n, x * y, out);
        }
        case OP_MOD:
            if (y == 0) return tbr_eval_fail(env, n->span, "division by zero in %%");
            return int_result(env, n, x % y, out);
        default: break;
        }
    }
    double da, db;
    if (!tb_value_as_f64(a, &da) || !tb_value_as_f64(b, &db)) return type_error(env, n, a, b);
    switch (n->op) {
    case OP_ADD: *out = tb_f64(da + db); break;
    case OP_SUB: *out = tb_f64(da - db); break;
    case OP_MUL: *out = tb_f64(da * db); break;
    case OP_DIV:
        if (db == 0) return tbr_eval_fail(env, n->span, "division by zero");
        *out = tb_f64(da / db);
        break;
    case OP_MOD:
        if (db == 0) return tbr_eval_fail(env, n->span, "division by zero in %%");
        *out = tb_f64(fmod(da, db));
        break;
    default: return type_error(env, n, a, b);
    }
    return TBR_EVAL_OK;
}

static int concat(tbr_eval_env *env, const tbr_node *n, const tb_value *a, const tb_value *b, tb_value *out) {
    size_t len = (size_t)a->len + b->len;
    if (len > UINT32_MAX) return tbr_eval_fail(env, n->span, "string too long");
    char *s = tb_arena_alloc(env->arena, len ? len : 1, 1);
    if (!s) return tbr_eval_oom(env, n->span);
    if (a->len) memcpy(s, a->as.s, a->len);
    if (b->len) memcpy(s + a->len, b->as.s, b->len);
    *out = a->type == TB_STRING ? tb_string(s, len) : tb_bytes(s, len);
    return TBR_EVAL_OK;
}

static int bits(tbr_eval_env *env, const tbr_node *n, const tb_value *a, const tb_value *b, tb_value *out) {
    if ((a->type != TB_I64 && a->type != TB_U64) || (b->type != TB_I64 && b->type != TB_U64)) return type_error(env, n, a, b);
    uint64_t x = a->as.u, y = b->as.u; /* the same bits for i64 and u64 */
    bool signed_result = a->type == TB_I64;
    switch (n->op) {
    case OP_BITAND: x &= y; break;
    case OP_BITXOR: x ^= y; break;
    case OP_SHL:
    case OP_SHR:
    case OP_SHR_U:
        if (b->type == TB_I64 && b->as.i < 0) return tbr_eval_fail(env, n->span, "negative shift %lld", (long long)b->as.i);
        if (y >= 64) return tbr_eval_fail(env, n->span, "shift by %llu is 64 or more", (unsigned long long)y);
        if (n->op == OP_SHL) x <<= y;
        else if (n->op == OP_SHR_U || !signed_result) x >>= y;
        else x = (uint64_t)(a->as.i >> y); /* arithmetic: the sign is kept */
        break;
    default: return type_error(env, n, a, b);
    }
    *out = signed_result ? tb_i64((int64_t)x) : tb_u64(x);
    return TBR_EVAL_OK;
}

int tbr_eval_binary(tbr_eval_env *env, const tbr_node *n, const tb_value *a, const tb_value *b, tb_value *out) {
    switch (n->op) {
    case OP_AND:
    case OP_OR:
    case OP_XOR:
        if (a->type != TB_BOOL || b->type != TB_BOOL) return type_error(env, n, a, b);
        *out = tb_bool(n->op == OP_AND ? a->as.b && b->as.b : n->op == OP_OR ? a->as.b || b->as.b : a->as.b != b->as.b);
        return TBR_EVAL_OK;
    case OP_EQ: *out = tb_bool(tbr_value_eq(a, b)); return TBR_EVAL_OK;
    case OP_NE: *out = tb_bool(!tbr_value_eq(a, b)); return TBR_EVAL_OK;
    case OP_LT:
    case OP_LE:
    case OP_GT:
    case OP_GE: {
        int c;
        if (!tbr_value_cmp(a, b, &c)) return type_error(env, n, a, b);
        bool r = n->op == OP_LT ? c < 0 : n->op == OP_LE ? c <= 0 : n->op == OP_GT ? c > 0 : c >= 0;
        *out = tb_bool(r);
        return TBR_EVAL_OK;
    }
    case OP_ADD:
        if ((a->type == TB_STRING && b->type == TB_STRING) || (a->type == TB_BYTES && b->type == TB_BYTES))
            return concat(env, n, a, b, out);
        return arith(env, n, a, b, out);
    case OP_SUB:
    case OP_MUL:
    case OP_DIV:
    case OP_MOD: return arith(env, n, a, b, out);
    case OP_BITAND:
    case OP_BITXOR:
    case OP_SHL:
    case OP_SHR:
    case OP_SHR_U: return bits(env, n, a, b, out);
    default: return tbr_eval_fail(env, n->span, "internal error: binary %s", op_name(n->op));
    }
}
