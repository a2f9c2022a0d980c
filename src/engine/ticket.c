/* ticket.c - reference-counted delivery tracking for transactional sources. */
#include "engine/ticket.h"

#include <stdlib.h>
#include <string.h>
#include <temblor/temblor.h>

tbr_ticket *tbr_ticket_new(tbr_settle_fn settle, void *owner, const uint64_t *ids, uint32_t count) {
    tbr_ticket *t = malloc(sizeof *t + (size_t)count * sizeof *ids);
    if (!t) return NULL;
    t->next = NULL;
    atomic_init(&t->refs, 1);
    atomic_init(&t->status, TB_OK);
    t->settle = settle;
    t->owner = owner;
    t->count = count;
    t->port = 0;
    t->ingest_ns = NULL;
    if (count) memcpy(t->ids, ids, (size_t)count * sizeof *ids);
    return t;
}

tbr_ticket *tbr_ticket_for_events(tbr_settle_fn settle, void *owner, const tb_event *const *events, uint32_t count,
                                  uint32_t port) {
    tbr_ticket *t = malloc(sizeof *t + 2 * (size_t)count * sizeof(uint64_t));
    if (!t) return NULL;
    t->next = NULL;
    atomic_init(&t->refs, 1);
    atomic_init(&t->status, TB_OK);
    t->settle = settle;
    t->owner = owner;
    t->count = count;
    t->port = port;
    t->ingest_ns = t->ids + count;
    for (uint32_t i = 0; i < count; i++) {
        t->ids[i] = events[i]->id;
        t->ingest_ns[i] = events[i]->ingest_ns;
    }
    return t;
}

tbr_ticket *tbr_ticket_ref(tbr_ticket *t) {
    if (t) atomic_fetch_add_explicit(&t->refs, 1, memory_order_relaxed);
    return t;
}

void tbr_ticket_fail(tbr_ticket *t, int status) {
    int ok = TB_OK;
    if (t && status < 0) atomic_compare_exchange_strong(&t->status, &ok, status);
}

void tbr_ticket_release(tbr_ticket *t, int status) {
    if (!t) return;
    tbr_ticket_fail(t, status);
    if (atomic_fetch_sub_explicit(&t->refs, 1, memory_order_acq_rel) == 1) t->settle(t->owner, t);
}

void tbr_ticket_free(tbr_ticket *t) { free(t); }
