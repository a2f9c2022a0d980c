/* arena.c - chunked bump allocator behind tb_arena. */
#include "value/arena.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

#define DEFAULT_CHUNK (64u * 1024u)

typedef struct chunk {
    struct chunk *next;
    size_t size; /* usable bytes after the header */
    max_align_t data[];
} chunk;

typedef struct arena_state {
    tb_arena pub;       /* first, so a tb_arena * is an arena_state * */
    chunk *head;        /* current chunk; ->next are older and dedicated big ones */
    chunk *first;       /* kept across resets */
    size_t chunk_size;
    size_t used_before; /* bytes used in chunks before head */
    bool batch;         /* counted in generation */
    uint32_t generation;
} arena_state;

/* Batch arenas alive per generation, in a ring of slots. A slot holds only the newest
 * generation that maps to it: the generation moves on only into an empty slot. */
#define GENERATION_SLOTS 64u
static _Atomic uint32_t current_generation;
static _Atomic int64_t alive_in[GENERATION_SLOTS];

uint32_t tbr_arena_retire_generation(void) {
    uint32_t now = atomic_load(&current_generation);
    for (;;) {
        /* an arena 64 generations old still alive: stay in this generation, so what is
         * retired now waits for this generation's arenas too (later, never unsafe) */
        if (atomic_load(&alive_in[(now + 1) % GENERATION_SLOTS]) > 0) return now;
        if (atomic_compare_exchange_weak(&current_generation, &now, now + 1)) return now;
    }
}

bool tbr_arena_batches_alive_upto(uint32_t g) {
    uint32_t now = atomic_load(&current_generation);
    for (uint32_t k = 0; k < GENERATION_SLOTS; k++) {
        uint32_t newest = now - ((now - k) % GENERATION_SLOTS);
        if (newest <= g && newest <= now && atomic_load(&alive_in[k]) > 0) return true;
    }
    return false;
}

static chunk *chunk_new(size_t size) {
    /* the header on top must not wrap around, and no object exceeds PTRDIFF_MAX */
    if (size > (size_t)PTRDIFF_MAX - sizeof(chunk)) return NULL;
    chunk *c = malloc(sizeof(chunk) + size);
    if (!c) return NULL;
    c->next = NULL;
    c->size = size;
    return c;
}

static void use_chunk(arena_state *st, chunk *c) {
    st->pub.cur = (uint8_t *)c->data;
    st->pub.end = (uint8_t *)c->data + c->size;
}

static void *TB_CALL arena_grow(tb_arena *pub, size_t size, size_t align) {
    arena_state *st = (arena_state *)pub;
    size_t need = size + align;
    if (need < size) return NULL;
    if (need > st->chunk_size / 4) {
        /* a big request gets a chunk of its own, linked behind the current one, so small
         * allocations keep filling the current chunk */
        chunk *big = chunk_new(need);
        if (!big) return NULL;
        big->next = st->head->next;
        st->head->next = big;
        uintptr_t p = ((uintptr_t)big->data + (align - 1)) & ~(uintptr_t)(align - 1);
        st->used_before += size;
        return (void *)p;
    }
    chunk *c = chunk_new(st->chunk_size);
    if (!c) return NULL;
    st->used_before += (size_t)(pub->cur - (uint8_t *)st->head->data);
    c->next = st->head;
    st->head = c;
    use_chunk(st, c);
    return tb_arena_alloc(pub, size, align);
}

tb_arena *tbr_arena_new(size_t chunk_size) {
    arena_state *st = malloc(sizeof *st);
    if (!st) return NULL;
    st->chunk_size = chunk_size ? chunk_size : DEFAULT_CHUNK;
    st->first = st->head = chunk_new(st->chunk_size);
    if (!st->first) {
        free(st);
        return NULL;
    }
    st->used_before = 0;
    st->batch = false;
    st->generation = 0;
    st->pub.grow = arena_grow;
    st->pub.host_private = NULL;
    use_chunk(st, st->first);
    return &st->pub;
}

tb_arena *tbr_arena_new_batch(size_t chunk_size) {
    tb_arena *pub = tbr_arena_new(chunk_size);
    if (!pub) return NULL;
    arena_state *st = (arena_state *)pub;
    st->batch = true;
    st->generation = atomic_load_explicit(&current_generation, memory_order_acquire);
    atomic_fetch_add_explicit(&alive_in[st->generation % GENERATION_SLOTS], 1, memory_order_relaxed);
    return pub;
}

void tbr_arena_reset(tb_arena *pub) {
    arena_state *st = (arena_state *)pub;
    for (chunk *c = st->head, *next; c; c = next) {
        next = c->next;
        if (c != st->first) free(c);
    }
    st->first->next = NULL;
    st->head = st->first;
    st->used_before = 0;
    use_chunk(st, st->first);
}

void tbr_arena_free(tb_arena *pub) {
    if (!pub) return;
    arena_state *st = (arena_state *)pub;
    if (st->batch) atomic_fetch_sub_explicit(&alive_in[st->generation % GENERATION_SLOTS], 1, memory_order_release);
    tbr_arena_reset(pub);
    free(st->first);
    free(st);
}

size_t tbr_arena_used(const tb_arena *pub) {
    const arena_state *st = (const arena_state *)pub;
    return st->used_before + (size_t)(pub->cur - (const uint8_t *)st->head->data);
}
