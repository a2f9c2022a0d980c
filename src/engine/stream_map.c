/* stream_map.c - stream id to array position, open addressing (see stream_map.h). */
#include "engine/stream_map.h"

#include <stdlib.h>

/* Stream ids are often consecutive: a multiplicative hash spreads them over the table. */
static uint32_t home(const tbr_stream_map *m, uint32_t stream) { return (stream * 2654435761u) & (m->cap - 1); }

void tbr_stream_map_fini(tbr_stream_map *m) {
    free(m->slots);
    *m = (tbr_stream_map){0};
}

int64_t tbr_stream_map_get(const tbr_stream_map *m, uint32_t stream) {
    if (!m->count) return -1;
    for (uint32_t i = home(m, stream);; i = (i + 1) & (m->cap - 1)) {
        const tbr_stream_slot *s = &m->slots[i];
        if (!s->pos) return -1;
        if (s->stream == stream) return (int64_t)s->pos - 1;
    }
}

static void insert(tbr_stream_map *m, uint32_t stream, uint32_t pos1) {
    uint32_t i = home(m, stream);
    while (m->slots[i].pos && m->slots[i].stream != stream) i = (i + 1) & (m->cap - 1);
    if (!m->slots[i].pos) m->count++;
    m->slots[i] = (tbr_stream_slot){stream, pos1};
}

/* Keeps the table at most half full. */
static bool grow(tbr_stream_map *m) {
    uint32_t ncap = m->cap ? m->cap * 2 : 16;
    tbr_stream_slot *old = m->slots, *fresh = calloc(ncap, sizeof *fresh);
    if (!fresh) return false;
    uint32_t ocap = m->cap;
    m->slots = fresh;
    m->cap = ncap;
    m->count = 0;
    for (uint32_t i = 0; i < ocap; i++)
        if (old[i].pos) insert(m, old[i].stream, old[i].pos);
    free(old);
    return true;
}

bool tbr_stream_map_put(tbr_stream_map *m, uint32_t stream, uint32_t pos) {
    /* an update never grows the table, so it cannot fail */
    if (tbr_stream_map_get(m, stream) < 0 && (m->count + 1) * 2 > m->cap && !grow(m)) return false;
    insert(m, stream, pos + 1);
    return true;
}

void tbr_stream_map_remove(tbr_stream_map *m, uint32_t stream) {
    if (!m->count) return;
    uint32_t mask = m->cap - 1, i = home(m, stream);
    while (m->slots[i].stream != stream || !m->slots[i].pos) {
        if (!m->slots[i].pos) return;
        i = (i + 1) & mask;
    }
    /* shift back each later entry of the run that may sit at the freed slot */
    for (uint32_t j = (i + 1) & mask; m->slots[j].pos; j = (j + 1) & mask) {
        uint32_t h = home(m, m->slots[j].stream);
        /* j's entry may move to i only if its home is not in (i, j] (cyclically) */
        bool stays = i <= j ? (h > i && h <= j) : (h > i || h <= j);
        if (stays) continue;
        m->slots[i] = m->slots[j];
        i = j;
    }
    m->slots[i] = (tbr_stream_slot){0};
    m->count--;
}
