/*
 * arena.h - creation and reset of tb_arena, the bump allocator that owns a batch's values.
 *
 * An arena is a chain of chunks. tb_arena_alloc (inline, in the PDK header) bumps within the
 * current chunk and calls arena_grow when it is full. Reset keeps the first chunk for reuse
 * and frees the rest, so a steady flow of batches allocates nothing from the system.
 *
 * Thread contract: an arena is used by one thread at a time. Ownership: the creator owns
 * the arena and frees it with tbr_arena_free.
 */
#ifndef TBR_VALUE_ARENA_H
#define TBR_VALUE_ARENA_H

#include <stdbool.h>
#include <stddef.h>
#include <temblor/temblor.h>

/* Creates an arena whose chunks are at least chunk_size bytes (0: a default of 64 KiB).
 * Returns NULL when out of memory. */
tb_arena *tbr_arena_new(size_t chunk_size);

/* Creates an arena that will hold events in flight (a batch), counted in the current
 * generation until it is freed: see tbr_arena_retire_generation. NULL when out of memory. */
tb_arena *tbr_arena_new_batch(size_t chunk_size);

/* Generations of batch arenas let the runtime unmap a plugin library safely. Events may
 * point into a plugin's own memory (string literals used as keys, tables of names), so a
 * library is unmapped only once every batch arena that existed while its last instance ran
 * has been freed. tbr_arena_retire_generation starts a new generation and returns the one
 * that ended; tbr_arena_batches_alive_upto(g) says whether a batch arena of generation g or
 * earlier is still alive (conservative: it may say yes for a later one). Any thread. */
uint32_t tbr_arena_retire_generation(void);
bool tbr_arena_batches_alive_upto(uint32_t generation);

/* Releases everything allocated from the arena; keeps its first chunk. */
void tbr_arena_reset(tb_arena *arena);

/* Frees the arena and all its chunks. NULL is ignored. */
void tbr_arena_free(tb_arena *arena);

/* Bytes handed out since creation or the last reset (for accounting and tests). */
size_t tbr_arena_used(const tb_arena *arena);

#endif
