/*
 * ops.h - comparisons of values, as the language defines them.
 *
 * Equality is structural: numbers compare by value across int, uint and float (1 == 1.0),
 * strings and bytes by content, arrays item by item, objects as sets of keys (order does not
 * matter; a repeated key counts once, the last one). Ordering (tbr_value_cmp) is defined
 * for numbers with numbers, strings with strings, bytes with bytes, arrays with arrays
 * (lexicographic) and bools with bools; anything else is not comparable.
 *
 * Thread contract: pure functions; any thread.
 */
#ifndef TBR_VALUE_OPS_H
#define TBR_VALUE_OPS_H

#include <stdbool.h>
#include <temblor/temblor.h>

bool tbr_value_eq(const tb_value *a, const tb_value *b);

/* Sets *out to <0, 0 or >0 and returns true, or returns false when a and b are not
 * comparable. NaN is not comparable. */
bool tbr_value_cmp(const tb_value *a, const tb_value *b, int *out);

/* True for TB_I64, TB_U64 and TB_F64. */
static inline bool tbr_value_is_number(const tb_value *v) {
    return v->type == TB_I64 || v->type == TB_U64 || v->type == TB_F64;
}

/* A 64-bit hash consistent with tbr_value_eq (equal values hash alike), for group by. */
uint64_t tbr_value_hash(const tb_value *v);

#endif
