/*
 * swap.h - a request to a stage to move its instances of one plugin's components to a new
 * build of that plugin (a reload).
 *
 * The reloading thread fills a request, hands it to every stage that uses the plugin
 * (tbr_stage_request_swap) and waits for each to settle it. The stage takes it up at a batch
 * boundary: codecs and processors move at once; a connector first holds its traffic (no
 * pull, no push) until every event its source emitted is acknowledged or failed and every
 * pending delivery reported, then saves its position, stops, is replaced and restored, and
 * connects again. Events waiting in queues wait; none is dropped, and order is kept because
 * the stage, its queues and its links stay.
 *
 * Ownership: the requester owns the request and must not free it before status leaves
 * TBR_SWAP_PENDING. Thread contract: fields other than status are written by the stage
 * before it publishes status (release), read by the requester after (acquire).
 */
#ifndef TBR_ENGINE_SWAP_H
#define TBR_ENGINE_SWAP_H

#include <stdatomic.h>
#include <stdint.h>

#include "plugin/plugin.h"

struct tbr_stage;

#define TBR_SWAP_PENDING 1

typedef struct tbr_swap {
    const tbr_plugin *from;
    const tbr_plugin *to;
    _Atomic int status;       /* TBR_SWAP_PENDING, then TB_OK or an error */
    char why[512];            /* the error, with the stage's name */
    uint64_t held_ns;         /* how long the stage moved no event for the swap: the wait for
                                 what was in flight, then save, stop, create and restore */
} tbr_swap;

/* Hands sw to n and wakes it. One request per stage at a time. Any thread. */
void tbr_stage_request_swap(struct tbr_stage *n, tbr_swap *sw);

/* Settles sw with status (and a message after the stage's name when it is an error).
 * The stage's thread. */
void tbr_swap_settle(struct tbr_stage *n, tbr_swap *sw, int status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* A stage that stops settles a request it never took up. The stage's thread. */
void tbr_stage_abandon_swap(struct tbr_stage *n);

#endif
