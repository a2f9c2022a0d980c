/* test_value.c - the PDK value model: frozen layouts, constructors and the inline builders
 * of include/temblor/temblor.h (arrays, objects, numbers, batches, event failure, tb_buf). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "value/arena.h"
#include "fixed_arena.h"

/* ---------------------------------------------------------------------------------------
 * Helpers
 * ------------------------------------------------------------------------------------- */

static bool same_double(double a, double b) { return memcmp(&a, &b, sizeof a) == 0; }

static bool all_zero(const void *p, size_t n) {
    const unsigned char *c = p;
    for (size_t i = 0; i < n; i++)
        if (c[i]) return false;
    return true;
}


/* ---------------------------------------------------------------------------------------
 * Layout
 * ------------------------------------------------------------------------------------- */

static void test_layout_sizes(void **state) {
    (void)state;
    assert_int_equal(sizeof(tb_value), 16);
    assert_int_equal(sizeof(tb_member), 32);
    assert_int_equal(sizeof(tb_event), 64);
    assert_int_equal(sizeof(tb_batch), 48);
    assert_int_equal(sizeof(tb_arena), 32);
}

static void test_layout_offsets(void **state) {
    (void)state;
    assert_int_equal(offsetof(tb_value, type), 0);
    assert_int_equal(offsetof(tb_value, flags), 1);
    assert_int_equal(offsetof(tb_value, reserved), 2);
    assert_int_equal(offsetof(tb_value, len), 4);
    assert_int_equal(offsetof(tb_value, as), 8);
    assert_int_equal(sizeof(((tb_value *)0)->as), 8);

    assert_int_equal(offsetof(tb_member, key), 0);
    assert_int_equal(offsetof(tb_member, key_len), 8);
    assert_int_equal(offsetof(tb_member, reserved), 12);
    assert_int_equal(offsetof(tb_member, value), 16);

    assert_int_equal(offsetof(tb_event, data), 0);
    assert_int_equal(offsetof(tb_event, meta), 16);
    assert_int_equal(offsetof(tb_event, id), 32);
    assert_int_equal(offsetof(tb_event, ingest_ns), 40);
    assert_int_equal(offsetof(tb_event, stream), 48);
    assert_int_equal(offsetof(tb_event, port), 52);
    assert_int_equal(offsetof(tb_event, flags), 54);
    assert_int_equal(offsetof(tb_event, source), 56);
    assert_int_equal(offsetof(tb_event, reserved), 60);

    assert_int_equal(offsetof(tb_batch, events), 0);
    assert_int_equal(offsetof(tb_batch, count), 8);
    assert_int_equal(offsetof(tb_batch, capacity), 12);
    assert_int_equal(offsetof(tb_batch, arena), 16);
    assert_int_equal(offsetof(tb_batch, token), 24);
    assert_int_equal(offsetof(tb_batch, reserved), 32);

    assert_int_equal(offsetof(tb_arena, cur), 0);
    assert_int_equal(offsetof(tb_arena, end), 8);
    assert_int_equal(offsetof(tb_arena, grow), 16);
    assert_int_equal(offsetof(tb_arena, host_private), 24);
}

static void test_enum_values(void **state) {
    (void)state;
    /* frozen ABI numbers */
    assert_int_equal(TB_NULL, 0);
    assert_int_equal(TB_BOOL, 1);
    assert_int_equal(TB_I64, 2);
    assert_int_equal(TB_U64, 3);
    assert_int_equal(TB_F64, 4);
    assert_int_equal(TB_STRING, 5);
    assert_int_equal(TB_BYTES, 6);
    assert_int_equal(TB_ARRAY, 7);
    assert_int_equal(TB_OBJECT, 8);
    assert_int_equal(TB_VF_CAP_POW2, 1);
    assert_int_equal(TB_EF_RAW, 1);
    assert_int_equal(TB_EF_ERROR, 2);
    assert_int_equal(TB_EF_TRANSACTIONAL, 4);
    assert_int_equal(TB_EF_STREAM_END, 8);
    assert_int_equal(TB_PLUGIN_MAGIC, 0x524c4254u);
    assert_memory_equal("TBLR", &(uint32_t){TB_PLUGIN_MAGIC}, 4); /* little-endian host */
}

static void test_has_field(void **state) {
    (void)state;
    tb_host_api api;
    memset(&api, 0, sizeof api);
    api.struct_size = (uint32_t)offsetof(tb_host_api, now_ns);
    assert_false(TB_HAS_FIELD(&api, tb_host_api, now_ns));
    assert_true(TB_HAS_FIELD(&api, tb_host_api, get_extension));
    api.struct_size = (uint32_t)(offsetof(tb_host_api, now_ns) + sizeof api.now_ns - 1);
    assert_false(TB_HAS_FIELD(&api, tb_host_api, now_ns));
    api.struct_size = (uint32_t)sizeof api;
    assert_true(TB_HAS_FIELD(&api, tb_host_api, now_ns));
}

/* ---------------------------------------------------------------------------------------
 * Constructors and accessors
 * ------------------------------------------------------------------------------------- */

static void test_constructors(void **state) {
    (void)state;
    tb_value v = tb_null();
    assert_true(all_zero(&v, sizeof v));

    v = tb_bool(true);
    assert_int_equal(v.type, TB_BOOL);
    assert_true(v.as.b);
    assert_int_equal(v.flags, 0);
    assert_int_equal(v.len, 0);
    v = tb_bool(false);
    assert_int_equal(v.type, TB_BOOL);
    assert_false(v.as.b);

    v = tb_i64(INT64_MIN);
    assert_int_equal(v.type, TB_I64);
    assert_true(v.as.i == INT64_MIN);
    v = tb_i64(-7);
    assert_true(v.as.i == -7);

    v = tb_u64(UINT64_MAX);
    assert_int_equal(v.type, TB_U64);
    assert_true(v.as.u == UINT64_MAX);

    v = tb_f64(-2.5);
    assert_int_equal(v.type, TB_F64);
    assert_true(same_double(v.as.f, -2.5));

    static const char text[] = "hello world";
    v = tb_string(text, 5);
    assert_int_equal(v.type, TB_STRING);
    assert_int_equal(v.len, 5);
    assert_ptr_equal(v.as.s, text); /* not copied */
    assert_int_equal(v.reserved, 0);
    assert_int_equal(v.flags, 0);

    v = tb_stringz(text);
    assert_int_equal(v.len, 11);
    assert_ptr_equal(v.as.s, text);

    static const uint8_t raw[3] = {0, 1, 255};
    v = tb_bytes(raw, sizeof raw);
    assert_int_equal(v.type, TB_BYTES);
    assert_int_equal(v.len, 3);
    assert_ptr_equal(v.as.bytes, raw);

    v = tb_array();
    assert_int_equal(v.type, TB_ARRAY);
    assert_int_equal(v.len, 0);
    assert_int_equal(v.flags, 0);
    assert_null(v.as.items);
    assert_int_equal(tb_value_capacity(&v), 0);

    v = tb_object();
    assert_int_equal(v.type, TB_OBJECT);
    assert_int_equal(v.len, 0);
    assert_null(v.as.members);
}

static void test_value_str(void **state) {
    (void)state;
    tb_value s = tb_string("abcdef", 3);
    size_t n = 99;
    const char *p = tb_value_str(&s, &n);
    assert_non_null(p);
    assert_int_equal(n, 3);
    assert_memory_equal(p, "abc", 3);
    assert_non_null(tb_value_str(&s, NULL));

    tb_value i = tb_i64(3);
    n = 99;
    assert_null(tb_value_str(&i, &n));
    assert_int_equal(n, 0);
    n = 99;
    assert_null(tb_value_str(NULL, &n));
    assert_int_equal(n, 0);

    assert_true(tb_value_str_eq(&s, "abc"));
    assert_false(tb_value_str_eq(&s, "abcdef")); /* the length counts, not the NUL */
    assert_false(tb_value_str_eq(&s, "ab"));
    assert_false(tb_value_str_eq(&s, "abd"));
    assert_false(tb_value_str_eq(&i, "3"));
    assert_false(tb_value_str_eq(NULL, "abc"));
    tb_value empty = tb_string("", 0);
    assert_true(tb_value_str_eq(&empty, ""));
    /* bytes are not strings */
    tb_value b = tb_bytes("abc", 3);
    assert_false(tb_value_str_eq(&b, "abc"));
}

static void test_capacity_rules(void **state) {
    (void)state;
    tb_value v = tb_array();
    v.len = 3;
    assert_int_equal(tb_value_capacity(&v), 3); /* no flag: exactly len */
    v.len = 0;
    assert_int_equal(tb_value_capacity(&v), 0);

    v.flags = TB_VF_CAP_POW2;
    static const struct { uint32_t len, cap; } cases[] = {
        {0, 4}, {1, 4}, {4, 4}, {5, 8}, {8, 8}, {9, 16}, {1000, 1024}, {1024, 1024},
        {1025, 2048}, {(1u << 30) + 1, 1u << 31}, {1u << 31, 1u << 31},
        /* beyond the last power of two that fits, the storage is exactly len */
        {(1u << 31) + 1, (1u << 31) + 1}, {UINT32_MAX, UINT32_MAX},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        v.len = cases[i].len;
        assert_int_equal(tb_value_capacity(&v), cases[i].cap);
    }
}

/* ---------------------------------------------------------------------------------------
 * Arrays
 * ------------------------------------------------------------------------------------- */

static void test_array_push_many(void **state) {
    (void)state;
    tb_arena *a = tbr_arena_new(0);
    assert_non_null(a);
    tb_value arr = tb_array();
    const uint32_t n = 100000;
    for (uint32_t i = 0; i < n; i++) {
        tb_value *slot = tb_array_push(a, &arr);
        assert_non_null(slot);
        assert_int_equal(slot->type, TB_NULL); /* a fresh null slot */
        assert_true(all_zero(slot, sizeof *slot));
        *slot = tb_i64((int64_t)i * 3 - 7);
        assert_int_equal(arr.len, i + 1);
        assert_true(arr.flags & TB_VF_CAP_POW2);
        uint32_t cap = tb_value_capacity(&arr);
        assert_true(cap >= arr.len);
        assert_true((cap & (cap - 1)) == 0);
        assert_true(cap < 2 * arr.len || cap == TB_MIN_CAPACITY);
        if (i % 9973 == 0) { /* earlier items survive every move */
            for (uint32_t k = 0; k <= i; k++)
                assert_true(arr.as.items[k].type == TB_I64 &&
                            arr.as.items[k].as.i == (int64_t)k * 3 - 7);
        }
    }
    assert_int_equal(arr.len, n);
    assert_int_equal(tb_value_capacity(&arr), 131072);
    for (uint32_t k = 0; k < n; k++) {
        assert_int_equal(arr.as.items[k].type, TB_I64);
        assert_true(arr.as.items[k].as.i == (int64_t)k * 3 - 7);
    }
    tbr_arena_free(a);
}

static void test_array_push_moves_only_when_full(void **state) {
    (void)state;
    tb_arena *a = tbr_arena_new(0);
    tb_value arr = tb_array();
    tb_value *prev = NULL;
    unsigned moves = 0;
    for (uint32_t i = 0; i < 64; i++) {
        uint32_t cap_before = tb_value_capacity(&arr);
        assert_non_null(tb_array_push(a, &arr));
        if (arr.as.items != prev) {
            moves++;
            /* storage moves only when the array was full */
            assert_int_equal(i, cap_before);
        }
        prev = arr.as.items;
        assert_int_equal((uintptr_t)arr.as.items % 8, 0);
    }
    /* 0 -> 4 -> 8 -> 16 -> 32 -> 64 */
    assert_int_equal(moves, 5);
    tbr_arena_free(a);
}

static void test_array_push_exact_storage(void **state) {
    (void)state;
    /* an array over caller storage without the flag: exactly len slots, so a push must copy
     * it into the arena and leave the original untouched */
    tb_value backing[3] = {tb_i64(1), tb_i64(2), tb_i64(3)};
    tb_value arr = tb_array();
    arr.as.items = backing;
    arr.len = 3;
    tb_arena *a = tbr_arena_new(0);
    tb_value *slot = tb_array_push(a, &arr);
    assert_non_null(slot);
    *slot = tb_stringz("four");
    assert_ptr_not_equal(arr.as.items, backing);
    assert_int_equal(arr.len, 4);
    assert_true(arr.flags & TB_VF_CAP_POW2);
    assert_int_equal(tb_value_capacity(&arr), 4);
    for (int k = 0; k < 3; k++) {
        assert_true(arr.as.items[k].as.i == k + 1);
        assert_true(backing[k].as.i == k + 1);
    }
    assert_true(tb_value_str_eq(&arr.as.items[3], "four"));

    /* another push crosses 4 -> 8 */
    assert_non_null(tb_array_push(a, &arr));
    assert_int_equal(tb_value_capacity(&arr), 8);
    assert_true(tb_value_str_eq(&arr.as.items[3], "four"));
    assert_int_equal(arr.as.items[4].type, TB_NULL);
    tbr_arena_free(a);
}

static void test_array_push_oom(void **state) {
    (void)state;
    fixed_arena fa;
    fixed_arena_init(&fa, 4 * sizeof(tb_value)); /* room for the first 4 slots only */
    tb_value arr = tb_array();
    for (int i = 0; i < 4; i++) {
        tb_value *slot = tb_array_push(&fa.pub, &arr);
        assert_non_null(slot);
        *slot = tb_i64(i);
    }
    assert_int_equal(fa.grow_calls, 0);
    assert_null(tb_array_push(&fa.pub, &arr));
    assert_int_equal(fa.grow_calls, 1);
    assert_int_equal(arr.len, 4); /* untouched on failure */
    assert_ptr_equal(arr.as.items, (tb_value *)fa.mem);
    for (int i = 0; i < 4; i++) assert_true(arr.as.items[i].as.i == i);

    /* a length the slot arithmetic refuses: never allocates, never touches storage */
    tb_value huge = tb_array();
    huge.len = UINT32_MAX / 2;
    huge.as.items = NULL;
    unsigned calls = fa.grow_calls;
    assert_null(tb_array_push(&fa.pub, &huge));
    assert_int_equal(huge.len, UINT32_MAX / 2);
    assert_int_equal(fa.grow_calls, calls);
}

/* ---------------------------------------------------------------------------------------
 * Objects
 * ------------------------------------------------------------------------------------- */

static void test_object_append_get(void **state) {
    (void)state;
    tb_arena *a = tbr_arena_new(0);
    tb_value obj = tb_object();
    assert_null(tb_object_getz(&obj, "a"));

    tb_value *v = tb_object_append(a, &obj, "a", 1);
    assert_non_null(v);
    assert_int_equal(v->type, TB_NULL);
    *v = tb_i64(1);
    v = tb_object_append(a, &obj, "bb", 2);
    *v = tb_i64(2);
    /* keys are (pointer, length): "cc" out of "ccX" */
    static const char key3[] = "ccX";
    v = tb_object_append(a, &obj, key3, 2);
    *v = tb_i64(3);
    assert_int_equal(obj.len, 3);
    assert_ptr_equal(obj.as.members[2].key, key3); /* not copied */
    assert_int_equal(obj.as.members[2].key_len, 2);
    assert_int_equal(obj.as.members[2].reserved, 0);

    assert_true(tb_object_getz(&obj, "a")->as.i == 1);
    assert_true(tb_object_getz(&obj, "bb")->as.i == 2);
    assert_true(tb_object_getz(&obj, "cc")->as.i == 3);
    assert_null(tb_object_getz(&obj, "ccX"));
    assert_null(tb_object_getz(&obj, "b"));
    assert_null(tb_object_getz(&obj, "c"));
    assert_null(tb_object_getz(&obj, ""));
    assert_true(tb_object_get(&obj, "bbbb", 2)->as.i == 2);

    /* duplicates: appended, and the last one wins */
    v = tb_object_append(a, &obj, "a", 1);
    *v = tb_i64(10);
    assert_int_equal(obj.len, 4);
    assert_ptr_equal(tb_object_getz(&obj, "a"), &obj.as.members[3].value);
    assert_true(tb_object_getz(&obj, "a")->as.i == 10);
    assert_true(obj.as.members[0].value.as.i == 1); /* the first stays */

    /* insertion order is kept */
    assert_memory_equal(obj.as.members[0].key, "a", 1);
    assert_memory_equal(obj.as.members[1].key, "bb", 2);
    assert_memory_equal(obj.as.members[2].key, "cc", 2);
    assert_memory_equal(obj.as.members[3].key, "a", 1);

    /* empty key */
    v = tb_object_append(a, &obj, "", 0);
    *v = tb_bool(true);
    assert_non_null(tb_object_getz(&obj, ""));
    assert_int_equal(tb_object_getz(&obj, "")->type, TB_BOOL);

    /* not an object */
    tb_value arr = tb_array();
    assert_null(tb_object_getz(&arr, "a"));
    tb_value str = tb_stringz("a");
    assert_null(tb_object_getz(&str, "a"));
    tbr_arena_free(a);
}

static void test_object_set(void **state) {
    (void)state;
    tb_arena *a = tbr_arena_new(0);
    tb_value obj = tb_object();
    tb_value *v = tb_object_set(a, &obj, "x", 1);
    assert_non_null(v);
    assert_int_equal(v->type, TB_NULL);
    *v = tb_i64(1);
    assert_int_equal(obj.len, 1);

    /* existing key: the same slot, no new member */
    tb_value *again = tb_object_set(a, &obj, "x", 1);
    assert_ptr_equal(again, v);
    assert_true(again->as.i == 1); /* not reset to null */
    *again = tb_i64(2);
    assert_int_equal(obj.len, 1);
    assert_true(tb_object_getz(&obj, "x")->as.i == 2);

    /* a new key appends */
    v = tb_object_set(a, &obj, "y", 1);
    *v = tb_i64(3);
    assert_int_equal(obj.len, 2);

    /* with a duplicate present, set replaces the last one (the one get sees) */
    v = tb_object_append(a, &obj, "x", 1);
    *v = tb_i64(4);
    v = tb_object_set(a, &obj, "x", 1);
    assert_ptr_equal(v, &obj.as.members[2].value);
    *v = tb_i64(5);
    assert_int_equal(obj.len, 3);
    assert_true(obj.as.members[0].value.as.i == 2);
    assert_true(tb_object_getz(&obj, "x")->as.i == 5);
    tbr_arena_free(a);
}

static void test_object_many_members(void **state) {
    (void)state;
    tb_arena *a = tbr_arena_new(1024); /* small chunks: many grow calls */
    tb_value obj = tb_object();
    enum { N = 3000 };
    static char keys[N][8];
    for (int i = 0; i < N; i++) {
        int n = snprintf(keys[i], sizeof keys[i], "k%d", i);
        tb_value *v = tb_object_set(a, &obj, keys[i], (size_t)n);
        assert_non_null(v);
        *v = tb_i64(i);
    }
    assert_int_equal(obj.len, N);
    assert_int_equal(tb_value_capacity(&obj), 4096);
    for (int i = 0; i < N; i++) {
        tb_value *v = tb_object_get(&obj, keys[i], strlen(keys[i]));
        assert_non_null(v);
        assert_true(v->as.i == i);
        assert_ptr_equal(obj.as.members[i].key, keys[i]);
    }
    tbr_arena_free(a);
}

static void test_object_append_oom(void **state) {
    (void)state;
    fixed_arena fa;
    fixed_arena_init(&fa, 0);
    tb_value obj = tb_object();
    assert_null(tb_object_append(&fa.pub, &obj, "a", 1));
    assert_null(tb_object_set(&fa.pub, &obj, "a", 1));
    assert_int_equal(obj.len, 0);
    assert_int_equal(fa.grow_calls, 2);
}

/* ---------------------------------------------------------------------------------------
 * Numbers
 * ------------------------------------------------------------------------------------- */

static void test_as_i64(void **state) {
    (void)state;
    int64_t out = 0;
    tb_value v = tb_i64(INT64_MIN);
    assert_true(tb_value_as_i64(&v, &out));
    assert_true(out == INT64_MIN);

    v = tb_u64((uint64_t)INT64_MAX);
    assert_true(tb_value_as_i64(&v, &out));
    assert_true(out == INT64_MAX);
    v = tb_u64((uint64_t)INT64_MAX + 1);
    assert_false(tb_value_as_i64(&v, &out));
    v = tb_u64(UINT64_MAX);
    assert_false(tb_value_as_i64(&v, &out));
    v = tb_u64(0);
    assert_true(tb_value_as_i64(&v, &out));
    assert_true(out == 0);

    v = tb_f64(42.0);
    assert_true(tb_value_as_i64(&v, &out));
    assert_true(out == 42);
    v = tb_f64(-1e15);
    assert_true(tb_value_as_i64(&v, &out));
    assert_true(out == -1000000000000000);
    v = tb_f64(-0.0);
    assert_true(tb_value_as_i64(&v, &out));
    assert_true(out == 0);
    v = tb_f64(-9223372036854775808.0); /* exactly INT64_MIN */
    assert_true(tb_value_as_i64(&v, &out));
    assert_true(out == INT64_MIN);
    v = tb_f64(9223372036854774784.0); /* the largest double below 2^63 */
    assert_true(tb_value_as_i64(&v, &out));
    assert_true(out == INT64_C(9223372036854774784));

    out = 12345;
    static const double refused[] = {42.5, -0.25, 1e-300, 9223372036854775808.0,
                                     -9223372036854777856.0, 1e300, -1e300};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        v = tb_f64(refused[i]);
        assert_false(tb_value_as_i64(&v, &out));
    }
    v = tb_f64(NAN);
    assert_false(tb_value_as_i64(&v, &out));
    v = tb_f64(INFINITY);
    assert_false(tb_value_as_i64(&v, &out));
    v = tb_f64(-INFINITY);
    assert_false(tb_value_as_i64(&v, &out));

    v = tb_stringz("1");
    assert_false(tb_value_as_i64(&v, &out));
    v = tb_bool(true);
    assert_false(tb_value_as_i64(&v, &out));
    v = tb_null();
    assert_false(tb_value_as_i64(&v, &out));
    assert_false(tb_value_as_i64(NULL, &out));
    assert_true(out == 12345); /* failures leave it alone */
}

static void test_as_f64(void **state) {
    (void)state;
    double out = 0;
    tb_value v = tb_i64(-3);
    assert_true(tb_value_as_f64(&v, &out));
    assert_true(same_double(out, -3.0));
    v = tb_i64(INT64_MIN);
    assert_true(tb_value_as_f64(&v, &out));
    assert_true(same_double(out, -9223372036854775808.0));
    v = tb_u64(UINT64_MAX);
    assert_true(tb_value_as_f64(&v, &out));
    assert_true(same_double(out, 18446744073709551616.0));
    v = tb_f64(0.1);
    assert_true(tb_value_as_f64(&v, &out));
    assert_true(same_double(out, 0.1));
    v = tb_f64(NAN);
    assert_true(tb_value_as_f64(&v, &out)); /* a number, if not a nice one */
    assert_true(isnan(out));
    v = tb_f64(-INFINITY);
    assert_true(tb_value_as_f64(&v, &out));
    assert_true(isinf(out) && out < 0);

    out = 7.5;
    v = tb_stringz("1.5");
    assert_false(tb_value_as_f64(&v, &out));
    v = tb_bool(false);
    assert_false(tb_value_as_f64(&v, &out));
    v = tb_array();
    assert_false(tb_value_as_f64(&v, &out));
    assert_false(tb_value_as_f64(NULL, &out));
    assert_true(same_double(out, 7.5));
}

/* ---------------------------------------------------------------------------------------
 * Batches and events
 * ------------------------------------------------------------------------------------- */

static void test_batch_push_growth(void **state) {
    (void)state;
    tb_arena *a = tbr_arena_new(4096);
    tb_batch b;
    memset(&b, 0, sizeof b);
    b.arena = a;
    const uint32_t n = 5000;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t cap_before = b.capacity;
        tb_event *e = tb_batch_push(&b);
        assert_non_null(e);
        assert_true(all_zero(e, sizeof *e));
        assert_ptr_equal(e, &b.events[i]);
        assert_int_equal(b.count, i + 1);
        if (i == 0) assert_int_equal(b.capacity, 16);
        else if (i == cap_before) assert_int_equal(b.capacity, cap_before * 2);
        else assert_int_equal(b.capacity, cap_before);
        e->id = (uint64_t)i * 7 + 1;
        e->stream = i;
        e->port = (uint16_t)(i & 0xffff);
        e->flags = (uint16_t)(i & 15);
        e->data = tb_i64((int64_t)i);
        e->meta = tb_u64(i);
    }
    assert_int_equal(b.capacity, 8192);
    assert_int_equal((uintptr_t)b.events % 8, 0);
    for (uint32_t i = 0; i < n; i++) {
        const tb_event *e = &b.events[i];
        assert_true(e->id == (uint64_t)i * 7 + 1);
        assert_int_equal(e->stream, i);
        assert_int_equal(e->flags, i & 15);
        assert_int_equal(e->data.type, TB_I64);
        assert_true(e->data.as.i == (int64_t)i);
        assert_true(e->meta.as.u == i);
        assert_int_equal(e->reserved, 0);
    }
    tbr_arena_free(a);
}

static void test_batch_push_zeroes_reused_memory(void **state) {
    (void)state;
    tb_arena *a = tbr_arena_new(4096);
    /* dirty the memory the batch will get after a reset */
    void *p = tb_arena_alloc(a, 2048, 8);
    assert_non_null(p);
    memset(p, 0xAB, 2048);
    tbr_arena_reset(a);
    tb_batch b;
    memset(&b, 0, sizeof b);
    b.arena = a;
    tb_event *e = tb_batch_push(&b);
    assert_ptr_equal(e, p); /* the same memory came back */
    assert_true(all_zero(e, sizeof *e));
    tbr_arena_free(a);
}

static void test_batch_push_oom(void **state) {
    (void)state;
    fixed_arena fa;
    fixed_arena_init(&fa, 100); /* less than 16 events */
    tb_batch b;
    memset(&b, 0, sizeof b);
    b.arena = &fa.pub;
    assert_null(tb_batch_push(&b));
    assert_int_equal(b.count, 0);
    assert_int_equal(b.capacity, 0);
    assert_null(b.events);
}

static void test_event_fail(void **state) {
    (void)state;
    tb_arena *a = tbr_arena_new(0);
    tb_batch b;
    memset(&b, 0, sizeof b);
    b.arena = a;
    tb_event *e = tb_batch_push(&b);
    static const uint8_t raw[] = "not json";
    e->data = tb_bytes(raw, 8);
    e->flags = TB_EF_RAW | TB_EF_TRANSACTIONAL;
    e->id = 99;

    char msg[32];
    snprintf(msg, sizeof msg, "%s", "bad input");
    assert_true(tb_event_fail(&b, e, msg));
    memset(msg, 'Z', sizeof msg - 1); /* the message must have been copied */

    assert_int_equal(e->flags, TB_EF_ERROR | TB_EF_TRANSACTIONAL);
    assert_true(e->id == 99);
    assert_int_equal(e->data.type, TB_OBJECT);
    assert_int_equal(e->data.len, 2);
    assert_int_equal(e->data.as.members[0].key_len, 5);
    assert_memory_equal(e->data.as.members[0].key, "error", 5);
    assert_int_equal(e->data.as.members[1].key_len, 4);
    assert_memory_equal(e->data.as.members[1].key, "data", 4);
    tb_value *err = tb_object_getz(&e->data, "error");
    assert_non_null(err);
    assert_true(tb_value_str_eq(err, "bad input"));
    assert_ptr_not_equal(err->as.s, msg);
    tb_value *data = tb_object_getz(&e->data, "data");
    assert_non_null(data);
    assert_int_equal(data->type, TB_BYTES);
    assert_int_equal(data->len, 8);
    assert_ptr_equal(data->as.bytes, raw);

    /* failing again wraps the first failure */
    assert_true(tb_event_fail(&b, e, "second"));
    assert_true(tb_value_str_eq(tb_object_getz(&e->data, "error"), "second"));
    tb_value *inner = tb_object_getz(&e->data, "data");
    assert_int_equal(inner->type, TB_OBJECT);
    assert_true(tb_value_str_eq(tb_object_getz(inner, "error"), "bad input"));
    assert_int_equal(tb_object_getz(inner, "data")->type, TB_BYTES);

    /* an empty message is fine */
    tb_event *e2 = tb_batch_push(&b);
    e2->data = tb_i64(5);
    assert_true(tb_event_fail(&b, e2, ""));
    assert_true(tb_value_str_eq(tb_object_getz(&b.events[1].data, "error"), ""));
    assert_true(tb_object_getz(&b.events[1].data, "data")->as.i == 5);
    assert_int_equal(b.events[1].flags, TB_EF_ERROR);
    tbr_arena_free(a);
}

static void test_event_fail_oom(void **state) {
    (void)state;
    fixed_arena fa;
    fixed_arena_init(&fa, 4); /* not even room for the message */
    tb_batch b;
    memset(&b, 0, sizeof b);
    b.arena = &fa.pub;
    tb_event ev;
    memset(&ev, 0, sizeof ev);
    ev.data = tb_bytes("xyz", 3);
    ev.flags = TB_EF_RAW;
    assert_false(tb_event_fail(&b, &ev, "a long reason that does not fit"));
    assert_true(ev.flags & TB_EF_ERROR); /* still marked */
    assert_true(ev.flags & TB_EF_RAW);   /* with its data unchanged */
    assert_int_equal(ev.data.type, TB_BYTES);
    assert_int_equal(ev.data.len, 3);

    /* the message fits but the members do not */
    fixed_arena_init(&fa, 8);
    memset(&ev, 0, sizeof ev);
    ev.data = tb_i64(1);
    assert_false(tb_event_fail(&b, &ev, "x"));
    assert_int_equal(ev.flags, TB_EF_ERROR);
    assert_int_equal(ev.data.type, TB_I64);
}

/* ---------------------------------------------------------------------------------------
 * tb_buf
 * ------------------------------------------------------------------------------------- */

static void test_buf_append_basic(void **state) {
    (void)state;
    tb_arena *a = tbr_arena_new(4096);
    tb_buf buf;
    tb_buf_init(&buf, a);
    assert_null(buf.data);
    assert_int_equal(buf.len, 0);
    assert_int_equal(buf.cap, 0);
    assert_ptr_equal(buf.arena, a);

    assert_true(tb_buf_reserve(&buf, 0)); /* nothing needed, nothing allocated */
    assert_null(buf.data);
    assert_true(tb_buf_append(&buf, "ignored", 0));
    assert_null(buf.data);

    assert_true(tb_buf_append(&buf, "hello", 5));
    assert_non_null(buf.data);
    assert_int_equal(buf.len, 5);
    assert_int_equal(buf.cap, 256);
    assert_true(tb_buf_append(&buf, ", world", 7));
    assert_int_equal(buf.len, 12);
    assert_memory_equal(buf.data, "hello, world", 12);

    /* reserve within capacity changes nothing */
    uint8_t *d = buf.data;
    assert_true(tb_buf_reserve(&buf, 244));
    assert_ptr_equal(buf.data, d);
    assert_int_equal(buf.cap, 256);

    /* a first reserve larger than the default */
    tb_buf big;
    tb_buf_init(&big, a);
    assert_true(tb_buf_reserve(&big, 1000));
    assert_int_equal(big.cap, 1024);
    assert_int_equal(big.len, 0);
    tbr_arena_free(a);
}

static void test_buf_extends_in_place(void **state) {
    (void)state;
    tb_arena *a = tbr_arena_new(8192);
    tb_buf buf;
    tb_buf_init(&buf, a);
    uint8_t chunk[200];
    for (int i = 0; i < 200; i++) chunk[i] = (uint8_t)i;
    assert_true(tb_buf_append(&buf, chunk, 200));
    uint8_t *d = buf.data;
    assert_ptr_equal(a->cur, d + 256); /* the buffer is the arena's last allocation */
    size_t used = tbr_arena_used(a);

    assert_true(tb_buf_append(&buf, chunk, 200)); /* 400 > 256: grows to 512 */
    assert_ptr_equal(buf.data, d);                /* in place */
    assert_int_equal(buf.cap, 512);
    assert_ptr_equal(a->cur, d + 512);
    assert_int_equal(tbr_arena_used(a), used + 256);
    assert_memory_equal(buf.data, chunk, 200);
    assert_memory_equal(buf.data + 200, chunk, 200);

    /* another allocation after it: the next growth must move and copy */
    uint8_t *other = tb_arena_alloc(a, 16, 1);
    assert_ptr_equal(other, d + 512);
    memset(other, 0xEE, 16);
    assert_true(tb_buf_append(&buf, chunk, 200)); /* 600 > 512: 1024 elsewhere */
    assert_ptr_not_equal(buf.data, d);
    assert_int_equal(buf.cap, 1024);
    assert_int_equal(buf.len, 600);
    for (int k = 0; k < 3; k++) assert_memory_equal(buf.data + 200 * k, chunk, 200);
    for (int k = 0; k < 16; k++) assert_int_equal(other[k], 0xEE); /* not overwritten */
    tbr_arena_free(a);
}

static void test_buf_grows_across_chunks(void **state) {
    (void)state;
    tb_arena *a = tbr_arena_new(1024);
    tb_buf buf;
    tb_buf_init(&buf, a);
    const size_t total = 100000;
    size_t moves = 0;
    uint8_t *prev = NULL;
    uint8_t piece[7];
    size_t written = 0;
    while (written < total) {
        for (size_t k = 0; k < sizeof piece; k++) piece[k] = (uint8_t)((written + k) * 31u);
        assert_true(tb_buf_append(&buf, piece, sizeof piece));
        written += sizeof piece;
        if (buf.data != prev) moves++;
        prev = buf.data;
        assert_true(buf.cap >= buf.len);
    }
    assert_int_equal(buf.len, written);
    assert_true(moves >= 5); /* the buffer left the first 1 KiB chunk several times */
    assert_true(buf.cap >= written && buf.cap < 2 * written + 256);
    for (size_t i = 0; i < written; i++)
        if (buf.data[i] != (uint8_t)(i * 31u)) fail_msg("byte %zu differs", i);
    tbr_arena_free(a);
}

static void test_buf_reserve_huge_fails(void **state) {
    (void)state;
    tb_arena *a = tbr_arena_new(1024);
    tb_buf buf;
    tb_buf_init(&buf, a);
    assert_false(tb_buf_reserve(&buf, SIZE_MAX));
    assert_int_equal(buf.cap, 0);
    assert_true(tb_buf_append(&buf, "abc", 3));
    assert_false(tb_buf_reserve(&buf, SIZE_MAX - 2));
    assert_false(tb_buf_append(&buf, "x", SIZE_MAX - 1));
    assert_int_equal(buf.len, 3);
    assert_memory_equal(buf.data, "abc", 3);
    tbr_arena_free(a);
}

static void test_buf_oom(void **state) {
    (void)state;
    fixed_arena fa;
    fixed_arena_init(&fa, 100); /* smaller than the first 256-byte buffer */
    tb_buf buf;
    tb_buf_init(&buf, &fa.pub);
    assert_false(tb_buf_append(&buf, "x", 1));
    assert_int_equal(buf.len, 0);
    assert_null(buf.data);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layout_sizes),
        cmocka_unit_test(test_layout_offsets),
        cmocka_unit_test(test_enum_values),
        cmocka_unit_test(test_has_field),
        cmocka_unit_test(test_constructors),
        cmocka_unit_test(test_value_str),
        cmocka_unit_test(test_capacity_rules),
        cmocka_unit_test(test_array_push_many),
        cmocka_unit_test(test_array_push_moves_only_when_full),
        cmocka_unit_test(test_array_push_exact_storage),
        cmocka_unit_test(test_array_push_oom),
        cmocka_unit_test(test_object_append_get),
        cmocka_unit_test(test_object_set),
        cmocka_unit_test(test_object_many_members),
        cmocka_unit_test(test_object_append_oom),
        cmocka_unit_test(test_as_i64),
        cmocka_unit_test(test_as_f64),
        cmocka_unit_test(test_batch_push_growth),
        cmocka_unit_test(test_batch_push_zeroes_reused_memory),
        cmocka_unit_test(test_batch_push_oom),
        cmocka_unit_test(test_event_fail),
        cmocka_unit_test(test_event_fail_oom),
        cmocka_unit_test(test_buf_append_basic),
        cmocka_unit_test(test_buf_extends_in_place),
        cmocka_unit_test(test_buf_grows_across_chunks),
        cmocka_unit_test(test_buf_reserve_huge_fails),
        cmocka_unit_test(test_buf_oom),
    };
    return cmocka_run_group_tests_name("value", tests, NULL, NULL);
}
