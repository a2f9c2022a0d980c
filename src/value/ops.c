/* ops.c - structural equality, ordering and hashing of values. */
#include "value/ops.h"

#include <math.h>
#include <string.h>

/* Numbers compare exactly across representations: an int and a uint by sign and magnitude,
 * an integer and a float through the float only when the integer converts exactly. */
static int cmp_int_uint(int64_t i, uint64_t u) {
    if (i < 0) return -1;
    return (uint64_t)i < u ? -1 : (uint64_t)i > u;
}

static bool cmp_numbers(const tb_value *a, const tb_value *b, int *out) {
    if (a->type == TB_I64 && b->type == TB_I64) {
        *out = (a->as.i > b->as.i) - (a->as.i < b->as.i);
        return true;
    }
    if (a->type == TB_U64 && b->type == TB_U64) {
        *out = (a->as.u > b->as.u) - (a->as.u < b->as.u);
        return true;
    }
    if (a->type == TB_I64 && b->type == TB_U64) {
        *out = cmp_int_uint(a->as.i, b->as.u);
        return true;
    }
    if (a->type == TB_U64 && b->type == TB_I64) {
        *out = -cmp_int_uint(b->as.i, a->as.u);
        return true;
    }
    double x = 0, y = 0;
    tb_value_as_f64(a, &x);
    tb_value_as_f64(b, &y);
    if (isnan(x) || isnan(y)) return false;
    *out = (x > y) - (x < y);
    return true;
}

static int cmp_bytes(const void *a, uint32_t an, const void *b, uint32_t bn) {
    int c = memcmp(a, b, an < bn ? an : bn);
    if (c) return c < 0 ? -1 : 1;
    return (an > bn) - (an < bn);
}

bool tbr_value_cmp(const tb_value *a, const tb_value *b, int *out) {
    if (tbr_value_is_number(a) && tbr_value_is_number(b)) return cmp_numbers(a, b, out);
    if (a->type != b->type) return false;
    switch (a->type) {
    case TB_NULL: *out = 0; return true;
    case TB_BOOL: *out = (int)a->as.b - (int)b->as.b; return true;
    case TB_STRING:
    case TB_BYTES: *out = cmp_bytes(a->as.s, a->len, b->as.s, b->len); return true;
    case TB_ARRAY:
        for (uint32_t i = 0; i < a->len && i < b->len; i++) {
            if (!tbr_value_cmp(&a->as.items[i], &b->as.items[i], out)) return false;
            if (*out) return true;
        }
        *out = (a->len > b->len) - (a->len < b->len);
        return true;
    default: return false;
    }
}

/* The number of distinct keys of an object (a repeated key counts once). */
static uint32_t distinct_keys(const tb_value *o) {
    uint32_t n = 0;
    for (uint32_t i = 0; i < o->len; i++) {
        const tb_member *m = &o->as.members[i];
        if (tb_object_get(o, m->key, m->key_len) == &m->value) n++;
    }
    return n;
}

bool tbr_value_eq(const tb_value *a, const tb_value *b) {
    if (tbr_value_is_number(a) && tbr_value_is_number(b)) {
        int c;
        return cmp_numbers(a, b, &c) && c == 0;
    }
    if (a->type != b->type) return false;
    switch (a->type) {
    case TB_NULL: return true;
    case TB_BOOL: return a->as.b == b->as.b;
    case TB_STRING:
    case TB_BYTES: return a->len == b->len && memcmp(a->as.s, b->as.s, a->len) == 0;
    case TB_ARRAY:
        if (a->len != b->len) return false;
        for (uint32_t i = 0; i < a->len; i++)
            if (!tbr_value_eq(&a->as.items[i], &b->as.items[i])) return false;
        return true;
    case TB_OBJECT: {
        /* the common case first: same keys in the same order, no repeats */
        bool same_order = a->len == b->len;
        for (uint32_t i = 0; same_order && i < a->len; i++) {
            const tb_member *x = &a->as.members[i], *y = &b->as.members[i];
            same_order = x->key_len == y->key_len && memcmp(x->key, y->key, x->key_len) == 0;
        }
        if (same_order) {
            for (uint32_t i = 0; i < a->len; i++)
                if (!tbr_value_eq(&a->as.members[i].value, &b->as.members[i].value)) return false;
            return true;
        }
        if (distinct_keys(a) != distinct_keys(b)) return false;
        for (uint32_t i = 0; i < a->len; i++) {
            const tb_member *m = &a->as.members[i];
            if (tb_object_get(a, m->key, m->key_len) != &m->value) continue; /* shadowed */
            const tb_value *other = tb_object_get(b, m->key, m->key_len);
            if (!other || !tbr_value_eq(&m->value, other)) return false;
        }
        return true;
    }
    default: return false;
    }
}

static uint64_t mix(uint64_t h, uint64_t x) {
    h ^= x + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
    return h;
}

static uint64_t hash_bytes(const void *p, size_t n) {
    /* FNV-1a: small and good enough for grouping keys */
    const unsigned char *s = p;
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) h = (h ^ s[i]) * 0x100000001b3ull;
    return h;
}

uint64_t tbr_value_hash(const tb_value *v) {
    switch (v->type) {
    case TB_NULL: return 0x6e756c6cull;
    case TB_BOOL: return v->as.b ? 0x74727565ull : 0x66616c73ull;
    case TB_I64:
    case TB_U64:
    case TB_F64: {
        /* equal numbers must hash alike across types: hash integral values as integers */
        double d = 0;
        tb_value_as_f64(v, &d);
        if (v->type == TB_U64 && v->as.u > (uint64_t)INT64_MAX) return mix(3, v->as.u);
        int64_t i;
        if (tb_value_as_i64(v, &i)) return mix(3, (uint64_t)i);
        uint64_t bits;
        memcpy(&bits, &d, sizeof bits);
        return mix(4, bits);
    }
    case TB_STRING: return mix(5, hash_bytes(v->as.s, v->len));
    case TB_BYTES: return mix(6, hash_bytes(v->as.bytes, v->len));
    case TB_ARRAY: {
        uint64_t h = 7;
        for (uint32_t i = 0; i < v->len; i++) h = mix(h, tbr_value_hash(&v->as.items[i]));
        return h;
    }
    case TB_OBJECT: {
        /* order-independent: sum the hashes of distinct members */
        uint64_t h = 8;
        for (uint32_t i = 0; i < v->len; i++) {
            const tb_member *m = &v->as.members[i];
            if (tb_object_get(v, m->key, m->key_len) != &m->value) continue;
            h += mix(hash_bytes(m->key, m->key_len), tbr_value_hash(&m->value));
        }
        return h;
    }
    default: return 0;
    }
}
