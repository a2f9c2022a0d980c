/* test_stream_map.c - the stream id index of the chain sets (src/engine/stream_map.c):
 * lookups, updates, removals that shift later entries back (with ids that collide on their
 * home slot and runs that wrap around the table's end), checked against a plain array over
 * many random operations. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "engine/stream_map.h"

static void test_empty(void **state) {
    (void)state;
    tbr_stream_map m = {0};
    assert_int_equal(tbr_stream_map_get(&m, 7), -1);
    tbr_stream_map_remove(&m, 7); /* nothing there: nothing happens */
    assert_int_equal(m.count, 0);
    tbr_stream_map_fini(&m);
}

static void test_put_get_update_remove(void **state) {
    (void)state;
    tbr_stream_map m = {0};
    for (uint32_t s = 0; s < 1000; s++) assert_true(tbr_stream_map_put(&m, s * 16, s));
    assert_int_equal(m.count, 1000);
    assert_true(m.cap >= 2000); /* at most half full */
    for (uint32_t s = 0; s < 1000; s++) assert_int_equal(tbr_stream_map_get(&m, s * 16), s);
    assert_int_equal(tbr_stream_map_get(&m, 8), -1);
    assert_true(tbr_stream_map_put(&m, 32, 77)); /* an update, not a second entry */
    assert_int_equal(m.count, 1000);
    assert_int_equal(tbr_stream_map_get(&m, 32), 77);
    for (uint32_t s = 0; s < 1000; s += 2) tbr_stream_map_remove(&m, s * 16);
    assert_int_equal(m.count, 500);
    for (uint32_t s = 0; s < 1000; s++)
        assert_int_equal(tbr_stream_map_get(&m, s * 16), s % 2 ? (int64_t)s : -1);
    tbr_stream_map_fini(&m);
}

/* The id of index k: odd ones hash to the table's last slot whatever its size (175 times the
 * hash's multiplier is 255 modulo 256, and the bits above are multiples of 0x10000), even
 * ones to slot 0, so runs collide and wrap around the end. */
static uint32_t id_of(uint32_t k) { return (k / 2) * 0x10000u + (k % 2 ? 175u : 0u); }

/* Against a reference: random puts and removes; every id checked after every operation. */
static void test_random_against_reference(void **state) {
    (void)state;
    enum { IDS = 64, ROUNDS = 20000 };
    int64_t ref[IDS];
    for (int i = 0; i < IDS; i++) ref[i] = -1;
    tbr_stream_map m = {0};
    srand(12345);
    for (int r = 0; r < ROUNDS; r++) {
        uint32_t i = (uint32_t)(rand() % IDS), id = id_of(i);
        if (rand() % 3) {
            uint32_t pos = (uint32_t)(rand() % 1000);
            assert_true(tbr_stream_map_put(&m, id, pos));
            ref[i] = pos;
        } else {
            tbr_stream_map_remove(&m, id);
            ref[i] = -1;
        }
        uint32_t live = 0;
        for (uint32_t k = 0; k < IDS; k++) {
            assert_int_equal(tbr_stream_map_get(&m, id_of(k)), ref[k]);
            live += ref[k] >= 0;
        }
        assert_int_equal(m.count, live);
    }
    tbr_stream_map_fini(&m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_put_get_update_remove),
        cmocka_unit_test(test_random_against_reference),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
