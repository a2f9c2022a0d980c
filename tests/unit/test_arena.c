/* test_arena.c - the runtime's chunked bump allocator (src/value/arena.c) behind tb_arena,
 * driven through the inline tb_arena_alloc/tb_arena_dup of the PDK header. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "value/arena.h"

static bool is_aligned(const void *p, size_t align) { return ((uintptr_t)p & (align - 1)) == 0; }

static void test_new_and_free(void **state) {
    (void)state;
    tb_arena *a = tbr_arena_new(0);
    assert_non_null(a);
    assert_non_null(a->cur);
    assert_non_null(a->grow);
    assert_null(a->host_private);
    assert_true(a->end - a->cur >= 64 * 1024); /* the default chunk is 64 KiB */
    assert_int_equal(tbr_arena_used(a), 0);
    tbr_arena_free(a);

    a = tbr_arena_new(1000);
    assert_non_null(a);
    assert_true(a->end - a->cur >= 1000);
    assert_int_equal(tbr_arena_used(a), 0);
    tbr_arena_free(a);

    tbr_arena_free(NULL); /* ignored */
}

static void test_alignment(void **state) {
    (void)state;
    tb_arena *a = tbr_arena_new(4096);
    for (size_t align = 1; align <= 64; align <<= 1) {
        for (size_t skew = 0; skew < 9; skew++) {
            assert_non_null(tb_arena_alloc(a, skew ? skew : 1, 1)); /* misalign cur */
            uint8_t *p = tb_arena_alloc(a, 3, align);
            assert_non_null(p);
            if (!is_aligned(p, align)) fail_msg("align %zu skew %zu: %p", align, skew, (void *)p);
            assert_true(a->cur == p + 3);
            memset(p, 0x5A, 3);
        }
    }
    tbr_arena_free(a);
}

/* Many allocations of mixed size and alignment through a tiny chunk: every one aligned,
 * inside writable memory (ASan checks) and disjoint from all the others. */
static void test_alignment_across_chunks_disjoint(void **state) {
    (void)state;
    tb_arena *a = tbr_arena_new(128);
    enum { N = 2000 };
    static uint8_t *ptrs[N];
    static size_t sizes[N];
    uint32_t seed = 12345;
    for (int i = 0; i < N; i++) {
        seed = seed * 1103515245u + 12345u;
        size_t align = (size_t)1 << ((seed >> 16) % 7);  /* 1..64 */
        size_t size = ((seed >> 8) % 97) + (i % 50 == 0 ? 300 : 0); /* some above the chunk */
        uint8_t *p = tb_arena_alloc(a, size, align);
        assert_non_null(p);
        assert_true(is_aligned(p, align));
        memset(p, (int)(i & 0xff), size);
        ptrs[i] = p;
        sizes[i] = size;
    }
    for (int i = 0; i < N; i++)
        for (size_t k = 0; k < sizes[i]; k++)
            if (ptrs[i][k] != (uint8_t)(i & 0xff)) fail_msg("allocation %d was overwritten", i);
    tbr_arena_free(a);
}

static void test_big_allocations(void **state) {
    (void)state;
    tb_arena *a = tbr_arena_new(1024);
    uint8_t *small = tb_arena_alloc(a, 10, 1);
    memset(small, 1, 10);
    uint8_t *big = tb_arena_alloc(a, 100000, 1);
    assert_non_null(big);
    memset(big, 2, 100000);
    uint8_t *big64 = tb_arena_alloc(a, 50000, 64);
    assert_non_null(big64);
    assert_true(is_aligned(big64, 64));
    memset(big64, 3, 50000);
    /* small ones still work afterwards */
    uint8_t *after = tb_arena_alloc(a, 100, 8);
    assert_non_null(after);
    memset(after, 4, 100);
    for (int i = 0; i < 10; i++) assert_int_equal(small[i], 1);
    for (int i = 0; i < 100000; i++)
        if (big[i] != 2) fail_msg("big[%d] = %d", i, big[i]);
    for (int i = 0; i < 50000; i++)
        if (big64[i] != 3) fail_msg("big64[%d] = %d", i, big64[i]);
    tbr_arena_free(a);
}

static void test_used_accounting(void **state) {
    (void)state;
    tb_arena *a = tbr_arena_new(1024);
    assert_int_equal(tbr_arena_used(a), 0);
    assert_non_null(tb_arena_alloc(a, 10, 1));
    assert_int_equal(tbr_arena_used(a), 10);
    assert_non_null(tb_arena_alloc(a, 0, 1)); /* zero bytes: nothing used */
    assert_int_equal(tbr_arena_used(a), 10);
    assert_non_null(tb_arena_alloc(a, 990, 1));
    assert_int_equal(tbr_arena_used(a), 1000);
    /* 24 bytes left: this one opens a new chunk; the lost tail is not "used" */
    assert_non_null(tb_arena_alloc(a, 100, 1));
    assert_int_equal(tbr_arena_used(a), 1100);
    /* larger than a chunk */
    assert_non_null(tb_arena_alloc(a, 5000, 1));
    assert_int_equal(tbr_arena_used(a), 6100);
    assert_non_null(tb_arena_alloc(a, 5, 1));
    assert_int_equal(tbr_arena_used(a), 6105);
    /* tb_arena_dup counts its bytes, and at least one for an empty copy */
    assert_non_null(tb_arena_dup(a, "abc", 3));
    assert_int_equal(tbr_arena_used(a), 6108);
    assert_non_null(tb_arena_dup(a, "", 0));
    assert_int_equal(tbr_arena_used(a), 6109);
    /* alignment padding is at most align - 1 */
    size_t before = tbr_arena_used(a);
    assert_non_null(tb_arena_alloc(a, 8, 64));
    assert_in_range(tbr_arena_used(a), before + 8, before + 8 + 63);

    tbr_arena_reset(a);
    assert_int_equal(tbr_arena_used(a), 0);
    assert_non_null(tb_arena_alloc(a, 33, 1));
    assert_int_equal(tbr_arena_used(a), 33);
    tbr_arena_free(a);
}

static void test_reset_reuses_memory(void **state) {
    (void)state;
    tb_arena *a = tbr_arena_new(4096);
    uint8_t *first = tb_arena_alloc(a, 100, 8);
    assert_non_null(first);
    uint8_t *cur0 = first;
    uint8_t *end0 = a->end;
    /* spill into several more chunks */
    for (int i = 0; i < 50; i++) assert_non_null(tb_arena_alloc(a, 1000, 8));
    assert_ptr_not_equal(a->end, end0);
    assert_true(tbr_arena_used(a) >= 50100);

    tbr_arena_reset(a);
    assert_int_equal(tbr_arena_used(a), 0);
    assert_ptr_equal(a->cur, cur0); /* back at the start of the first chunk */
    assert_ptr_equal(a->end, end0);
    uint8_t *again = tb_arena_alloc(a, 100, 8);
    assert_ptr_equal(again, first);

    /* many cycles: the first chunk keeps being handed out */
    for (int cycle = 0; cycle < 100; cycle++) {
        for (int i = 0; i < 10; i++) assert_non_null(tb_arena_alloc(a, 1500, 16));
        tbr_arena_reset(a);
        assert_ptr_equal(tb_arena_alloc(a, 1, 1), first);
        tbr_arena_reset(a);
    }
    tbr_arena_free(a);
}

static void test_dup(void **state) {
    (void)state;
    tb_arena *a = tbr_arena_new(64);
    char src[200];
    for (int i = 0; i < 200; i++) src[i] = (char)('a' + i % 26);
    char *c = tb_arena_dup(a, src, sizeof src); /* bigger than the chunk */
    assert_non_null(c);
    assert_ptr_not_equal(c, src);
    assert_memory_equal(c, src, sizeof src);
    char *e = tb_arena_dup(a, src, 0);
    assert_non_null(e); /* a valid pointer even for zero bytes */
    tbr_arena_free(a);
}

static void test_overflowing_sizes_return_null(void **state) {
    (void)state;
    tb_arena *a = tbr_arena_new(1024);
    assert_non_null(tb_arena_alloc(a, 16, 8));
    size_t used = tbr_arena_used(a);
    assert_null(tb_arena_alloc(a, SIZE_MAX, 1));
    assert_null(tb_arena_alloc(a, SIZE_MAX, 64));
    assert_null(tb_arena_alloc(a, SIZE_MAX - 1, 8));
    assert_null(tb_arena_alloc(a, SIZE_MAX - 32, 64));
    /* size + align does not overflow, but the chunk header on top of it would */
    assert_null(tb_arena_alloc(a, SIZE_MAX - 12, 8));
    assert_null(tb_arena_alloc(a, SIZE_MAX - 20, 1));
    /* no object can be larger than PTRDIFF_MAX */
    assert_null(tb_arena_alloc(a, (size_t)PTRDIFF_MAX, 1));
    assert_null(tb_arena_alloc(a, (size_t)PTRDIFF_MAX - 8, 16));
    /* the arena is unharmed */
    assert_int_equal(tbr_arena_used(a), used);
    uint8_t *p = tb_arena_alloc(a, 64, 8);
    assert_non_null(p);
    memset(p, 0, 64);
    assert_int_equal(tbr_arena_used(a), used + 64);
    tbr_arena_free(a);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_and_free),
        cmocka_unit_test(test_alignment),
        cmocka_unit_test(test_alignment_across_chunks_disjoint),
        cmocka_unit_test(test_big_allocations),
        cmocka_unit_test(test_used_accounting),
        cmocka_unit_test(test_reset_reuses_memory),
        cmocka_unit_test(test_dup),
        cmocka_unit_test(test_overflowing_sizes_return_null),
    };
    return cmocka_run_group_tests_name("arena", tests, NULL, NULL);
}
