/*
 * msg.h - a batch in flight between two stages of a running flow: the events, the arena that
 * owns their values, the input port it is bound for, and the ticket that tracks what its
 * transactional source is owed (ack or fail) once every copy has been delivered.
 *
 * Ownership: a message owns its arena and holds one reference on its ticket. It belongs to
 * exactly one stage at a time: the producer gives it away with tbr_queue_push, the consumer
 * frees it (tbr_msg_free) or passes it on. Thread contract: used by one thread at a time.
 */
#ifndef TBR_ENGINE_MSG_H
#define TBR_ENGINE_MSG_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <temblor/temblor.h>

struct tbr_ticket;

typedef struct tbr_msg {
    struct tbr_msg *next;      /* queue link */
    tb_batch batch;            /* batch.arena is owned */
    uint32_t port;             /* the destination's input port index */
    uint32_t reserved;
    struct tbr_ticket *ticket; /* NULL when nobody waits for its delivery */
    struct tbr_ticket *cf;     /* a pipeline's operators wait for its delivery too; or NULL */
    _Atomic int64_t *live;     /* its flow's count of messages alive, decremented at free */
} tbr_msg;

/* Messages alive in the whole runtime: shutdown waits for this to reach zero. Any thread. */
extern _Atomic int64_t tbr_msgs_in_flight;

/* Called (on the freeing thread) each time the last message alive is freed; the engine
 * installs it to notice the end of a run at once. NULL: nothing is called. */
typedef void (*tbr_msgs_idle_fn)(void);
extern _Atomic(tbr_msgs_idle_fn) tbr_msgs_idle_hook;

/* A new empty message that owns arena (NULL: a new one) with room for capacity events.
 * NULL when out of memory (arena is then freed). */
tbr_msg *tbr_msg_new(tb_arena *arena, uint32_t capacity);

/* Appends a copy of e. With deep, its data and meta are cloned into the message's arena
 * (e's values live in another arena); without, they are shared (same arena). Returns TB_OK
 * or TB_ENOMEM. */
int tbr_msg_add(tbr_msg *m, const tb_event *e, bool deep);

/* Frees the message and its arena and drops its tickets' references with status (TB_OK:
 * delivered; negative: failed). NULL is ignored. */
void tbr_msg_free(tbr_msg *m, int status);

/* Gives up the message's arena to the caller (who frees it) and frees the rest as
 * tbr_msg_free does. */
tb_arena *tbr_msg_release_arena(tbr_msg *m, int status);

#endif
