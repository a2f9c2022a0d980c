/*
 * fixed_arena.h - for tests: a tb_arena over a fixed buffer whose grow always fails (and
 * counts the attempts), to drive the out-of-memory paths of arena users.
 */
#ifndef TB_TEST_FIXED_ARENA_H
#define TB_TEST_FIXED_ARENA_H

#include <string.h>
#include <temblor/temblor.h>

typedef struct fixed_arena {
    tb_arena pub; /* first: the grow callback casts back */
    unsigned grow_calls;
    _Alignas(16) uint8_t mem[256];
} fixed_arena;

static inline void *TB_CALL fixed_arena_failing_grow(tb_arena *a, size_t size, size_t align) {
    (void)size;
    (void)align;
    ((fixed_arena *)a)->grow_calls++;
    return NULL;
}

/* Makes usable bytes (at most sizeof mem) of the buffer available. */
static inline void fixed_arena_init(fixed_arena *fa, size_t usable) {
    memset(fa, 0, sizeof *fa);
    fa->pub.cur = fa->mem;
    fa->pub.end = fa->mem + usable;
    fa->pub.grow = fixed_arena_failing_grow;
}

#endif
