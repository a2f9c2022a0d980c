/*
 * value_same.h - for tests: strict structural equality of values (same types, exact
 * numbers with NaN equal to NaN and -0.0 distinct from 0.0, same bytes, same items, the same
 * members in the same order). Stricter than the language's ==, which is what tests want.
 */
#ifndef TB_TEST_VALUE_SAME_H
#define TB_TEST_VALUE_SAME_H

#include <math.h>
#include <stdbool.h>
#include <string.h>
#include <temblor/temblor.h>

static inline bool tb_test_same_double(double a, double b) {
    if (isnan(a) || isnan(b)) return isnan(a) && isnan(b);
    return a == b && signbit(a) == signbit(b);
}

static inline bool tb_test_same_value(const tb_value *a, const tb_value *b) {
    if (a->type != b->type) return false;
    switch (a->type) {
    case TB_NULL: return true;
    case TB_BOOL: return a->as.b == b->as.b;
    case TB_I64: return a->as.i == b->as.i;
    case TB_U64: return a->as.u == b->as.u;
    case TB_F64: return tb_test_same_double(a->as.f, b->as.f);
    case TB_STRING:
    case TB_BYTES: return a->len == b->len && (a->len == 0 || memcmp(a->as.s, b->as.s, a->len) == 0);
    case TB_ARRAY:
        if (a->len != b->len) return false;
        for (uint32_t i = 0; i < a->len; i++)
            if (!tb_test_same_value(&a->as.items[i], &b->as.items[i])) return false;
        return true;
    case TB_OBJECT:
        if (a->len != b->len) return false;
        for (uint32_t i = 0; i < a->len; i++) {
            const tb_member *x = &a->as.members[i], *y = &b->as.members[i];
            if (x->key_len != y->key_len || (x->key_len && memcmp(x->key, y->key, x->key_len) != 0)) return false;
            if (!tb_test_same_value(&x->value, &y->value)) return false;
        }
        return true;
    default: return false;
    }
}

#endif
