/*
 * connector_private.h - the connector stage's state, shared by the files that run it:
 * connector.c (creation, the stage operations, shutdown phases), connector_life.c (connect,
 * backoff, restarts), connector_source.c (pulling, decoding, contraflow to the source) and
 * connector_sink.c (encoding, pushing, delivery reports).
 *
 * Ownership and threads: as connector.h says; every function here runs on the stage's thread
 * unless it says otherwise.
 */
#ifndef TBR_ENGINE_CONNECTOR_PRIVATE_H
#define TBR_ENGINE_CONNECTOR_PRIVATE_H

#include <pthread.h>
#include <stdatomic.h>

#include "engine/chain.h"
#include "engine/connector.h"
#include "engine/ticket.h"
#include "plugin/instance.h"

typedef enum conn_state {
    CONN_IDLE,       /* created, not connected */
    CONN_BACKOFF,    /* waiting for the retry timer */
    CONN_CONNECTING, /* connect is due (now) */
    CONN_RUNNING,
    CONN_FAILED,     /* given up: reported, events it is sent fail */
    CONN_STOPPED
} conn_state;

/* Restarts allowed in RESTART_WINDOW before the instance is given up. */
#define RESTART_LIMIT 5
#define RESTART_WINDOW_NS (60ull * 1000000000ull)

typedef struct pending {
    uint64_t token;
    tbr_msg *msg;
} pending;

typedef struct conn_stage {
    tbr_stage base;
    tbr_connector_spec spec;     /* values copied into arena */
    tb_arena *arena;
    const tb_connector_vtable *vt;
    uint32_t flags;              /* TB_CONNECTOR_* */
    tbr_instance *inst;          /* the stage's thread reads it freely; it changes only under
                                    inst_lock, which readers on other threads (metrics) take */
    pthread_mutex_t inst_lock;
    uint64_t lost_batches;       /* batches that failed with no source to replay them (logged) */
    tb_batch decoding;           /* a pulled batch its codec's plugin host decodes while the next
                                    is pulled (tbr_chain_decode_submit), when has_decoding */
    bool has_decoding;
    uint32_t source_id;
    conn_state state;
    uint32_t failures;           /* consecutive connect failures */
    uint64_t restarts[RESTART_LIMIT];
    uint32_t nrestarts;
    uint64_t retry_timer;

    /* a reload under way (connector_swap.c): traffic is held until the instance is idle */
    struct tbr_swap *swapping;
    uint64_t swap_t0, swap_deadline, swap_timer;
    uint32_t outstanding;        /* tickets of this source not yet told to the instance */

    /* source half */
    tbr_chain_set pre;           /* preprocessors per stream, then the codec */
    bool pull_ready;             /* pull may yield: not waiting for a callback or wake */
    bool eof;
    bool quiescing;              /* phase QUIESCE or later: no more pulls */
    bool paused;                 /* pause was called: a circuit is open downstream */
    bool pulled_once;
    const tb_event **scratch_ptrs; /* routing scratch, reused batch after batch */
    uint64_t *scratch_ids;
    uint32_t scratch_cap;
    tbr_stage **sinks;            /* connector stages downstream, whose breakers pause us */
    uint32_t nsinks;
    uint64_t next_id;            /* ids for events the source left at 0 */
    pthread_mutex_t settled_lock;
    tbr_ticket *settled;         /* tickets whose every copy has been delivered or failed */
    _Atomic bool any_settled;    /* settled is not empty: looked at without the lock */

    /* sink half */
    tbr_chain_set post;          /* the codec, then postprocessors */
    pending *pending;            /* batches push answered TB_EPENDING for */
    uint32_t npending, pending_cap;
    _Atomic bool circuit_open;   /* this sink cannot deliver now */
    _Atomic bool failed;         /* given up for good */
    tbr_stage **watchers;         /* stages upstream (sources, pipelines) woken when the breaker moves */
    uint32_t nwatchers;
    _Atomic bool ever_ran;        /* it has been running: a breaker open before that is no news */
} conn_stage;

static inline conn_stage *as_conn(tbr_stage *n) { return (conn_stage *)n; }

/* connector_life.c */
void tbr_conn_set_state(conn_stage *c, conn_state s);
/* The message the instance's failing call set, or the status's name. */
const char *tbr_conn_last_error(conn_stage *c, int rc);
/* The source half will pull no more (EOF, or given up): tells the engine once. */
void tbr_conn_source_ended(conn_stage *c);
/* Stops the connector for good and reports why. */
void tbr_conn_give_up(conn_stage *c, const char *why);
/* Creates the instance from the stage's spec and publishes it; TB_OK, or a status and err. */
int tbr_conn_create_instance(conn_stage *c, char *err, size_t n);
/* Publishes inst as the stage's instance, under inst_lock. The stage's thread. */
void tbr_conn_publish_instance(conn_stage *c, tbr_instance *inst);
/* Unpublishes the instance and destroys it (nothing when there is none). The stage's thread. */
void tbr_conn_destroy_instance(conn_stage *c);
/* A callback failed (what, rc): restart the instance with backoff, unless it keeps failing. */
void tbr_conn_supervise(conn_stage *c, const char *what, int rc);
/* A callback said the connection broke: reconnect with backoff, or give up (reconnect none). */
void tbr_conn_connection_lost(conn_stage *c, const char *what, int rc);
/* Connects and starts; on a transient failure, schedules the next try. */
void tbr_conn_try_connect(conn_stage *c);

/* connector_source.c */
/* Tells the source what became of its transactional batches. */
void tbr_conn_deliver_settled(conn_stage *c);
/* Whether the source may pull: no circuit open downstream (pauses and resumes it). */
bool tbr_conn_circuit_allows(conn_stage *c);
/* Routes a decoded batch (its arena is given away). */
void tbr_conn_route_source_batch(conn_stage *c, tb_batch *b);
/* Pulls one batch and sends it on; returns whether another pull may yield at once. */
bool tbr_conn_pull_once(conn_stage *c);
/* Takes the decoding batch's decode from its codec's host and sends the batch on; nothing when
 * none is. Before anything else uses the source's chain (a phase, a swap, a stop). */
void tbr_conn_finish_decoding(conn_stage *c);
/* What every stream's preprocessors still buffer (a last line without a newline) is decoded
 * and routed on, and the streams ended: at stop, and when a restart loses the instance whose
 * streams they were. */
void tbr_conn_flush_source_streams(conn_stage *c);
/* Frees the postprocessors of the streams the sink half said are over. */
void tbr_conn_end_sink_streams(conn_stage *c);

/* connector_swap.c */
/* Takes up a swap request, or goes on with the one under way; returns true while the stage
 * holds its traffic for it (step does nothing else). */
bool tbr_conn_swap_step(conn_stage *c);
/* The stage stops: a swap under way ends, with the old build kept. */
void tbr_conn_swap_abort(conn_stage *c);

/* connector_sink.c */
/* Pushes b (encoded, with a token) through the instance outside the inbox: postprocessor
 * output at stop or at a swap. Logs what fails. */
void tbr_conn_push_extra(conn_stage *c, tbr_msg *m, const char *what);
/* Settles the batches push answered TB_EPENDING for, as their reports arrive. */
void tbr_conn_settle_pending(conn_stage *c);
/* Fails a message back to its sources, counting its events as errors. */
void tbr_conn_fail_msg_back(conn_stage *c, tbr_msg *m, int status);
/* Pushes everything in the inbox; returns whether there was anything. */
bool tbr_conn_drain_inbox(conn_stage *c);

#endif
