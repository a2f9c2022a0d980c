/* queue.c - the bounded multi-producer, single-consumer message queue. A mutex guards the
 * list: with batches of hundreds of events it is taken once per batch, never per event. */
#include "engine/queue.h"

#include <stdlib.h>

int tbr_queue_init(tbr_queue *q, uint32_t capacity, tbr_loop *consumer) {
    *q = (tbr_queue){.capacity = capacity ? capacity : 1, .consumer = consumer};
    atomic_init(&q->depth, 0);
    atomic_init(&q->producer_waiting, false);
    atomic_init(&q->pushed, 0);
    return pthread_mutex_init(&q->lock, NULL) ? TB_ENOMEM : TB_OK;
}

void tbr_queue_drop_all(tbr_queue *q, int status) {
    tbr_msg *m = tbr_queue_take_all(q);
    uint32_t n = 0;
    while (m) {
        tbr_msg *next = m->next;
        tbr_msg_free(m, status);
        m = next;
        n++;
    }
    if (n) atomic_fetch_sub(&q->depth, n);
}

void tbr_queue_fini(tbr_queue *q) {
    tbr_queue_drop_all(q, TB_EIO);
    free(q->producers);
    pthread_mutex_destroy(&q->lock);
}

int tbr_queue_add_producer(tbr_queue *q, tbr_loop *producer) {
    for (uint32_t i = 0; i < q->nproducers; i++)
        if (q->producers[i] == producer) return TB_OK;
    tbr_loop **n = realloc(q->producers, (q->nproducers + 1) * sizeof *n);
    if (!n) return TB_ENOMEM;
    n[q->nproducers++] = producer;
    q->producers = n;
    return TB_OK;
}

bool tbr_queue_has_room(tbr_queue *q) {
    if (atomic_load(&q->depth) < q->capacity) return true;
    atomic_store(&q->producer_waiting, true);
    /* the consumer may have made room between the two loads and missed the flag: look again */
    return atomic_load(&q->depth) < q->capacity;
}

void tbr_queue_push(tbr_queue *q, tbr_msg *m) {
    m->next = NULL;
    pthread_mutex_lock(&q->lock);
    bool was_empty = q->head == NULL;
    if (q->tail) q->tail->next = m;
    else q->head = m;
    q->tail = m;
    atomic_fetch_add(&q->depth, 1);
    pthread_mutex_unlock(&q->lock);
    atomic_fetch_add_explicit(&q->pushed, 1, memory_order_relaxed);
    /* the consumer drains its queue before it sleeps, so only the first message wakes it */
    if (was_empty && q->consumer) tbr_loop_wake(q->consumer);
}

tbr_msg *tbr_queue_take_all(tbr_queue *q) {
    if (!atomic_load_explicit(&q->depth, memory_order_acquire)) return NULL;
    pthread_mutex_lock(&q->lock);
    tbr_msg *m = q->head;
    q->head = q->tail = NULL;
    pthread_mutex_unlock(&q->lock);
    return m;
}

void tbr_queue_consumed(tbr_queue *q, uint32_t count) {
    uint32_t depth = atomic_fetch_sub(&q->depth, count) - count;
    if (depth <= q->capacity / 2 && atomic_exchange(&q->producer_waiting, false))
        for (uint32_t i = 0; i < q->nproducers; i++) tbr_loop_wake(q->producers[i]);
}
