/* msg.c - batches in flight: creation, appending (shared or deep), release. */
#include "engine/msg.h"

#include <stdlib.h>
#include <string.h>

#include "engine/ticket.h"
#include "value/arena.h"
#include "value/clone.h"

_Atomic int64_t tbr_msgs_in_flight;
_Atomic(tbr_msgs_idle_fn) tbr_msgs_idle_hook;

/* Arena chunks sized for a batch of typical log records, so most batches use one chunk. */
#define MSG_ARENA_CHUNK (64 * 1024)

tbr_msg *tbr_msg_new(tb_arena *arena, uint32_t capacity) {
    tbr_msg *m = calloc(1, sizeof *m);
    if (!arena) arena = tbr_arena_new_batch(MSG_ARENA_CHUNK);
    if (!m || !arena) goto fail;
    m->batch.arena = arena;
    if (capacity) {
        m->batch.events = tb_arena_alloc(arena, (size_t)capacity * sizeof(tb_event), 8);
        if (!m->batch.events) goto fail;
        m->batch.capacity = capacity;
    }
    atomic_fetch_add_explicit(&tbr_msgs_in_flight, 1, memory_order_relaxed);
    return m;
fail:
    tbr_arena_free(arena);
    free(m);
    return NULL;
}

int tbr_msg_add(tbr_msg *m, const tb_event *e, bool deep) {
    tb_event *n = tb_batch_push(&m->batch);
    if (!n) return TB_ENOMEM;
    *n = *e;
    if (!deep) return TB_OK;
    if (tbr_value_clone(m->batch.arena, &e->data, &n->data) ||
        tbr_value_clone(m->batch.arena, &e->meta, &n->meta)) {
        m->batch.count--;
        return TB_ENOMEM;
    }
    return TB_OK;
}

tb_arena *tbr_msg_release_arena(tbr_msg *m, int status) {
    if (!m) return NULL;
    tb_arena *a = m->batch.arena;
    tbr_ticket_release(m->ticket, status);
    tbr_ticket_release(m->cf, status);
    if (m->live) atomic_fetch_sub_explicit(m->live, 1, memory_order_acq_rel);
    free(m);
    if (atomic_fetch_sub_explicit(&tbr_msgs_in_flight, 1, memory_order_acq_rel) == 1) {
        tbr_msgs_idle_fn idle = atomic_load_explicit(&tbr_msgs_idle_hook, memory_order_relaxed);
        if (idle) idle();
    }
    return a;
}

void tbr_msg_free(tbr_msg *m, int status) { tbr_arena_free(tbr_msg_release_arena(m, status)); }
