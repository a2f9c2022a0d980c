/*
 * ticket.h - what a transactional source is owed for one of its batches. Every message
 * derived from the batch (the pipeline's outputs, the copies of a fan-out) holds a
 * reference; when the last one is dropped, the source is told once: ack for every event id
 * when all copies were delivered (or deliberately dropped), fail when any copy failed, so it
 * replays them (at-least-once).
 *
 * Ownership: reference counted; the last tbr_ticket_release hands the ticket to its owner's
 * settle callback, which frees it with tbr_ticket_free on the owner's thread.
 * Thread contract: ref and release from any thread; settle is called on the releasing
 * thread and must only queue the ticket for its owner.
 */
#ifndef TBR_ENGINE_TICKET_H
#define TBR_ENGINE_TICKET_H

#include <stdatomic.h>
#include <stdint.h>
#include <temblor/temblor.h>

typedef struct tbr_ticket tbr_ticket;
typedef void (*tbr_settle_fn)(void *owner, tbr_ticket *t);

struct tbr_ticket {
    tbr_ticket *next;         /* the owner's settled list */
    _Atomic uint32_t refs;
    _Atomic int status;       /* TB_OK, or the first failure */
    tbr_settle_fn settle;
    void *owner;
    uint32_t count;
    uint32_t port;            /* the output port the events left on (pipeline contraflow) */
    uint64_t *ingest_ns;      /* NULL, or count ingest times after ids (for latencies) */
    uint64_t ids[];           /* the source's event ids */
};

/* A ticket with one reference for the ids of events; NULL when out of memory. */
tbr_ticket *tbr_ticket_new(tbr_settle_fn settle, void *owner, const uint64_t *ids, uint32_t count);
/* A ticket for count events of a batch (their ids and ingest times), for contraflow to a
 * pipeline's operators; NULL when out of memory. */
tbr_ticket *tbr_ticket_for_events(tbr_settle_fn settle, void *owner, const tb_event *const *events, uint32_t count,
                                  uint32_t port);
tbr_ticket *tbr_ticket_ref(tbr_ticket *t);
/* Marks the whole batch failed (status < 0) without dropping a reference. NULL is ignored. */
void tbr_ticket_fail(tbr_ticket *t, int status);
/* Drops a reference; status < 0 marks the whole batch failed. NULL is ignored. */
void tbr_ticket_release(tbr_ticket *t, int status);
void tbr_ticket_free(tbr_ticket *t);

#endif
