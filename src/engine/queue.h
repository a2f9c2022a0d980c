/*
 * queue.h - the bounded queue in front of a stage: any number of producer stages push
 * messages, its one consumer takes them in order.
 *
 * Bounded by agreement rather than by refusal: a producer asks tbr_queue_has_room before it
 * makes more work (pulls a source, takes its own next input) and a push always succeeds, so
 * each producer overshoots by at most the messages one unit of its work yields. A producer
 * that finds the queue full is woken (its loop) once the consumer has brought the depth down
 * to half, which is how a slow sink slows its sources without anyone blocking a thread.
 *
 * Ownership: the queue owns the messages in it; tbr_queue_free frees them (as failed).
 * Thread contract: push and has_room from any thread; pop and take from the consumer's
 * thread only; producers are registered on the control thread before the stages start.
 */
#ifndef TBR_ENGINE_QUEUE_H
#define TBR_ENGINE_QUEUE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "engine/msg.h"
#include "host/loop.h"

typedef struct tbr_queue {
    pthread_mutex_t lock;
    tbr_msg *head, *tail;
    _Atomic uint32_t depth;
    uint32_t capacity;
    _Atomic bool producer_waiting;
    tbr_loop *consumer;      /* woken when a push finds the queue empty */
    tbr_loop **producers;    /* woken when room returns after a producer found it full */
    uint32_t nproducers;
    _Atomic uint64_t pushed; /* messages ever pushed, for metrics */
} tbr_queue;

int tbr_queue_init(tbr_queue *q, uint32_t capacity, tbr_loop *consumer);
void tbr_queue_fini(tbr_queue *q);
/* Frees every queued message as failed (status), settling their tickets. Consumer's thread,
 * or any thread once the consumer has stopped. */
void tbr_queue_drop_all(tbr_queue *q, int status);
/* Registers a producer's loop (once per producer). TB_OK or TB_ENOMEM. */
int tbr_queue_add_producer(tbr_queue *q, tbr_loop *producer);

/* Whether the queue is below capacity. When it is not, the calling producer will be woken
 * when it is again. */
bool tbr_queue_has_room(tbr_queue *q);
void tbr_queue_push(tbr_queue *q, tbr_msg *m);
/* Takes every queued message, oldest first (a NULL-terminated list through next). */
tbr_msg *tbr_queue_take_all(tbr_queue *q);
/* The consumer has finished count messages it took: room may have returned. */
void tbr_queue_consumed(tbr_queue *q, uint32_t count);

#endif
