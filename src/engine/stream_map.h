/*
 * stream_map.h - an index from a stream id to a position in a dense array (the chains of a
 * chain set), so finding a stream's chain costs the same with ten thousand connections as
 * with one. Open addressing with linear probing; a removal shifts the entries after it back
 * instead of leaving tombstones, so lookups never slow down as streams come and go.
 *
 * Ownership: the map owns its slots. Thread contract: its owner's thread only.
 */
#ifndef TBR_ENGINE_STREAM_MAP_H
#define TBR_ENGINE_STREAM_MAP_H

#include <stdbool.h>
#include <stdint.h>

typedef struct tbr_stream_slot {
    uint32_t stream;
    uint32_t pos; /* position + 1 in the owner's array; 0: the slot is empty */
} tbr_stream_slot;

typedef struct tbr_stream_map {
    tbr_stream_slot *slots;
    uint32_t cap; /* a power of two, or 0 */
    uint32_t count;
} tbr_stream_map;

void tbr_stream_map_fini(tbr_stream_map *m);

/* The position stored for stream, or -1 when there is none. */
int64_t tbr_stream_map_get(const tbr_stream_map *m, uint32_t stream);

/* Stores pos for stream. Replacing a position stored before never fails; adding one may
 * (false: out of memory). */
bool tbr_stream_map_put(tbr_stream_map *m, uint32_t stream, uint32_t pos);

/* Forgets stream; nothing when it is not there. */
void tbr_stream_map_remove(tbr_stream_map *m, uint32_t stream);

#endif
