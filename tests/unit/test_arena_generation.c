/* test_arena_generation.c - generations of batch arenas, which decide when a retired plugin
 * library may be unmapped (tbr_arena_new_batch, tbr_arena_retire_generation,
 * tbr_arena_batches_alive_upto in src/value/arena.c).
 *
 * The generation counter is process-global, so every test works relative to what
 * tbr_arena_retire_generation returns, and every test frees all the batch arenas it made
 * before it ends: a test that left one alive would make the next ones fail. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "value/arena.h"

#define SLOTS 64u /* GENERATION_SLOTS in arena.c */

/* Retires the current generation and returns the one that is current afterwards, asserting
 * that the counter moved on by one (it does whenever no batch arena 64 generations old is
 * alive, as in every test here at the points it is called). */
static uint32_t next_generation(void) {
    uint32_t ended = tbr_arena_retire_generation();
    uint32_t ended2 = tbr_arena_retire_generation();
    assert_int_equal(ended2, ended + 1);
    return ended2 + 1;
}

/* Puts some bytes in the arena, so a test also covers arenas in use. */
static void fill(tb_arena *a, size_t n) {
    void *p = tb_arena_alloc(a, n, 8);
    assert_non_null(p);
    memset(p, 0xab, n);
}

static void test_batch_before_retirement_alive_until_freed(void **state) {
    (void)state;
    uint32_t cur = next_generation();
    tb_arena *a = tbr_arena_new_batch(0);
    assert_non_null(a);
    fill(a, 100);

    uint32_t g = tbr_arena_retire_generation();
    assert_int_equal(g, cur); /* the generation a was made in is the one that ended */
    assert_true(tbr_arena_batches_alive_upto(g));
    assert_true(tbr_arena_batches_alive_upto(g + 1)); /* "g or earlier": later ones too */
    assert_false(tbr_arena_batches_alive_upto(g - 1)); /* a is not older than g */

    /* a reset is not a free: the arena still holds a batch */
    tbr_arena_reset(a);
    assert_true(tbr_arena_batches_alive_upto(g));
    fill(a, 200000); /* a big allocation, in a chunk of its own */
    assert_true(tbr_arena_batches_alive_upto(g));

    /* later retirements still see it */
    uint32_t g2 = tbr_arena_retire_generation();
    assert_int_equal(g2, g + 1);
    assert_true(tbr_arena_batches_alive_upto(g));
    assert_true(tbr_arena_batches_alive_upto(g2));

    tbr_arena_free(a);
    assert_false(tbr_arena_batches_alive_upto(g));
    assert_false(tbr_arena_batches_alive_upto(g2));
}

static void test_batch_after_retirement_not_counted(void **state) {
    (void)state;
    uint32_t g = tbr_arena_retire_generation();
    tb_arena *b = tbr_arena_new_batch(1024);
    assert_non_null(b);
    fill(b, 64);
    assert_false(tbr_arena_batches_alive_upto(g)); /* b belongs to g + 1 */

    uint32_t g2 = tbr_arena_retire_generation();
    assert_int_equal(g2, g + 1);
    assert_true(tbr_arena_batches_alive_upto(g2));
    assert_false(tbr_arena_batches_alive_upto(g));

    tbr_arena_free(b);
    assert_false(tbr_arena_batches_alive_upto(g2));
}

static void test_several_batches_counted_each(void **state) {
    (void)state;
    (void)next_generation();
    tb_arena *a = tbr_arena_new_batch(0);
    tb_arena *b = tbr_arena_new_batch(0);
    assert_non_null(a);
    assert_non_null(b);
    uint32_t g = tbr_arena_retire_generation();
    tb_arena *c = tbr_arena_new_batch(0); /* generation g + 1 */
    assert_non_null(c);

    tbr_arena_free(a);
    assert_true(tbr_arena_batches_alive_upto(g)); /* b still alive */
    tbr_arena_free(b);
    assert_false(tbr_arena_batches_alive_upto(g));
    assert_true(tbr_arena_batches_alive_upto(g + 1)); /* c */
    tbr_arena_free(c);
    assert_false(tbr_arena_batches_alive_upto(g + 1));
}

static void test_plain_arenas_never_count(void **state) {
    (void)state;
    (void)next_generation();
    tb_arena *p = tbr_arena_new(0);
    assert_non_null(p);
    fill(p, 1000);
    uint32_t g = tbr_arena_retire_generation();
    assert_false(tbr_arena_batches_alive_upto(g));
    assert_false(tbr_arena_batches_alive_upto(g + 1));
    tbr_arena_free(p);

    /* freeing a plain arena must not take a batch arena's count away */
    tb_arena *b = tbr_arena_new_batch(0);
    assert_non_null(b);
    tb_arena *p2 = tbr_arena_new(0);
    assert_non_null(p2);
    uint32_t g2 = tbr_arena_retire_generation();
    assert_int_equal(g2, g + 1);
    tbr_arena_free(p2);
    assert_true(tbr_arena_batches_alive_upto(g2));
    tbr_arena_free(b);
    assert_false(tbr_arena_batches_alive_upto(g2));

    tbr_arena_free(NULL); /* ignored, and counts nothing */
    assert_false(tbr_arena_batches_alive_upto(g2));

    /* plain arenas freed by the dozen leave every slot's count alone: a batch arena made in
     * any generation, whatever its slot, is still seen */
    for (int i = 0; i < 10; i++) tbr_arena_free(tbr_arena_new(0));
    for (uint32_t i = 0; i < SLOTS; i++) {
        tb_arena *x = tbr_arena_new_batch(0);
        assert_non_null(x);
        uint32_t gx = tbr_arena_retire_generation();
        assert_true(tbr_arena_batches_alive_upto(gx));
        assert_false(tbr_arena_batches_alive_upto(gx - 1));
        tbr_arena_free(x);
        assert_false(tbr_arena_batches_alive_upto(gx));
    }
}

static void test_many_retirements_wrap_the_ring(void **state) {
    (void)state;
    uint32_t first = tbr_arena_retire_generation();
    uint32_t prev = first;
    tb_arena *a = NULL;
    uint32_t a_gen = 0;
    for (uint32_t i = 0; i < 200; i++) {
        if (i == 130) {
            a = tbr_arena_new_batch(0); /* in generation prev + 1: ring slots wrapped twice */
            assert_non_null(a);
            a_gen = prev + 1;
        }
        uint32_t g = tbr_arena_retire_generation();
        assert_int_equal(g, prev + 1);
        prev = g;
        if (a) {
            assert_true(tbr_arena_batches_alive_upto(g));
            /* the same ring slot one and two turns ago: older than a, so not alive */
            assert_false(tbr_arena_batches_alive_upto(a_gen - SLOTS));
            assert_false(tbr_arena_batches_alive_upto(a_gen - 2 * SLOTS));
            assert_false(tbr_arena_batches_alive_upto(a_gen - 1));
        } else {
            assert_false(tbr_arena_batches_alive_upto(g));
        }
        if (i == 170) {
            tbr_arena_free(a);
            a = NULL;
            assert_false(tbr_arena_batches_alive_upto(g));
        }
    }
    assert_int_equal(prev, first + 200);
    assert_false(tbr_arena_batches_alive_upto(first));
    assert_false(tbr_arena_batches_alive_upto(prev));
    assert_false(tbr_arena_batches_alive_upto(a_gen));
}

static void test_oldest_slot_alive_blocks_advance(void **state) {
    (void)state;
    uint32_t c = next_generation();
    tb_arena *a = tbr_arena_new_batch(0); /* generation c, slot c % 64 */
    assert_non_null(a);

    /* 63 generations can start: slots c+1 .. c+63 are free */
    for (uint32_t i = 0; i < SLOTS - 1; i++) {
        uint32_t g = tbr_arena_retire_generation();
        assert_int_equal(g, c + i);
        assert_true(tbr_arena_batches_alive_upto(g));
    }
    /* generation c + 64 would share a's slot: the counter stays at c + 63 */
    uint32_t stuck = tbr_arena_retire_generation();
    assert_int_equal(stuck, c + SLOTS - 1);
    assert_int_equal(tbr_arena_retire_generation(), stuck);
    assert_int_equal(tbr_arena_retire_generation(), stuck);
    /* conservative: what is retired now waits for a too */
    assert_true(tbr_arena_batches_alive_upto(stuck));
    assert_true(tbr_arena_batches_alive_upto(c));
    assert_false(tbr_arena_batches_alive_upto(c - 1));

    /* an arena made now joins the stuck generation */
    tb_arena *b = tbr_arena_new_batch(0);
    assert_non_null(b);
    tbr_arena_free(a);
    assert_false(tbr_arena_batches_alive_upto(c));
    assert_false(tbr_arena_batches_alive_upto(stuck - 1));
    assert_true(tbr_arena_batches_alive_upto(stuck)); /* b */

    /* a's slot is free again: the counter moves on into it */
    assert_int_equal(tbr_arena_retire_generation(), stuck);
    assert_int_equal(tbr_arena_retire_generation(), stuck + 1);
    assert_true(tbr_arena_batches_alive_upto(stuck + 1)); /* b, generation stuck */
    tb_arena *d = tbr_arena_new_batch(0); /* generation c + 65, slot (c + 1) % 64 */
    assert_non_null(d);
    tbr_arena_free(b);
    assert_false(tbr_arena_batches_alive_upto(stuck + 1));
    assert_true(tbr_arena_batches_alive_upto(stuck + 2));
    tbr_arena_free(d);
    assert_false(tbr_arena_batches_alive_upto(stuck + 2));
    assert_int_equal(tbr_arena_retire_generation(), stuck + 2);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_batch_before_retirement_alive_until_freed),
        cmocka_unit_test(test_batch_after_retirement_not_counted),
        cmocka_unit_test(test_several_batches_counted_each),
        cmocka_unit_test(test_plain_arenas_never_count),
        cmocka_unit_test(test_many_retirements_wrap_the_ring),
        cmocka_unit_test(test_oldest_slot_alive_blocks_advance),
    };
    return cmocka_run_group_tests_name("arena_generation", tests, NULL, NULL);
}
