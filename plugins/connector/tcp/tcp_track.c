/*
 * tcp_track.c - the batches a tcp sink answered TB_EPENDING for, and its circuit breaker.
 *
 * A push writes what the sockets take at once and buffers the rest per link (tcp_link.c). A
 * batch whose bytes are all written is answered TB_OK; otherwise its slot here stays open,
 * every link holding some of its bytes marks its position, and once the last of those bytes is
 * written (or the link breaks) the slot is released and the batch reported through
 * host->delivered with TB_OK or the first failure. Slots are reused; their number is bounded
 * by the batches in flight.
 *
 * A batch some of whose events could not be written (their connection is gone) is reported
 * failed, through host->delivered too: a push that returned an error would make the runtime
 * restart or reconnect the whole connector, every other connection with it.
 *
 * A link holding more than max_buffered unsent bytes opens the instance's circuit breaker, so
 * the runtime pauses the sources that feed the sink; it closes when every such link is back
 * under half of it. Nothing is dropped and the thread never waits.
 *
 * Ownership: the slot array is host memory of the instance. Thread contract: the instance's
 * thread.
 */
#define _GNU_SOURCE
#include "tcp.h"

void tbp_tcp_track_init(tcp_track *t, const tb_host_api *host, tb_context *ctx, size_t max_buffered) {
    memset(t, 0, sizeof *t);
    t->host = host;
    t->ctx = ctx;
    t->max_buffered = max_buffered;
}

void tbp_tcp_track_fini(tcp_track *t) {
    /* the links were closed first, which released every slot they held */
    for (uint32_t i = 0; i < t->nbatches; i++)
        if (t->batches[i].token) t->host->delivered(t->ctx, t->batches[i].token, TB_ECLOSED);
    t->host->free(t->ctx, t->batches);
    t->batches = NULL;
    t->nbatches = t->cap = t->live = 0;
    if (t->over) t->host->circuit(t->ctx, false);
    t->over = 0;
}

uint32_t tbp_tcp_track_open(tcp_track *t, uint64_t token) {
    uint32_t i = 0;
    if (t->live < t->nbatches)
        while (t->batches[i].token) i++;
    else
        i = t->nbatches;
    if (i == t->cap) {
        uint32_t ncap = t->cap ? t->cap * 2 : 16;
        tcp_batch *n = t->host->realloc(t->ctx, t->batches, (size_t)ncap * sizeof *n);
        if (!n) return UINT32_MAX;
        t->batches = n;
        t->cap = ncap;
    }
    if (i == t->nbatches) t->nbatches++;
    /* the push holds it until tbp_tcp_track_finish_push, so that a link breaking under the
     * push cannot report the batch while other links are still being given its bytes; a
     * token is never 0 (the runtime numbers batches from 1), 0 marks a free slot */
    t->batches[i] = (tcp_batch){token ? token : UINT64_MAX, 1, TB_OK};
    t->live++;
    return i;
}

void tbp_tcp_track_hold(tcp_track *t, uint32_t slot) { t->batches[slot].remaining++; }

static void free_slot(tcp_track *t, uint32_t slot) {
    t->batches[slot].token = 0;
    t->live--;
    while (t->nbatches && !t->batches[t->nbatches - 1].token) t->nbatches--;
}

void tbp_tcp_track_release(tcp_track *t, uint32_t slot, int status) {
    tcp_batch *b = &t->batches[slot];
    if (status != TB_OK && b->status == TB_OK) b->status = status;
    if (--b->remaining) return;
    uint64_t token = b->token;
    int st = b->status;
    free_slot(t, slot);
    t->host->delivered(t->ctx, token, st);
}

int tbp_tcp_track_finish_push(tcp_track *t, uint32_t slot, int status) {
    tcp_batch *b = &t->batches[slot];
    if (status != TB_OK && b->status == TB_OK) b->status = status;
    if (b->remaining == 1 && b->status == TB_OK) {
        /* every byte went out during the push: an ordinary TB_OK, no report */
        free_slot(t, slot);
        return TB_OK;
    }
    tbp_tcp_track_release(t, slot, TB_OK);
    return TB_EPENDING;
}

void tbp_tcp_track_drop(tcp_track *t, uint32_t slot) {
    /* the links that held it were closed, which released their holds: only the push's is left */
    if (t->batches[slot].remaining > 1) {
        tbp_tcp_track_release(t, slot, TB_EIO);
        return;
    }
    free_slot(t, slot);
}

void tbp_tcp_track_over(tcp_track *t, bool over) {
    if (over) {
        if (t->over++ == 0) t->host->circuit(t->ctx, true);
    } else if (t->over && --t->over == 0) {
        t->host->circuit(t->ctx, false);
    }
}
