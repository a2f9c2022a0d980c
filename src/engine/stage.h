/*
 * stage.h - a stage of a running flow: a connector instance or a pipeline instance, each on
 * its own thread with its own event loop, an inbox in front of it and links from its output
 * ports to the inboxes of other stages.
 *
 * Every stage thread runs the same loop: take up a phase the engine asked for, do a bounded
 * step of work (a pull, the inbox), then wait in the event loop (not at all if the step says
 * more work is ready). Plugins are only ever called from their stage's thread.
 *
 * Phases move forward only: RUN; QUIESCE (sources stop pulling and flush their streams);
 * FLUSH (pipelines close their windows); STOP (connectors drain and stop; the thread ends).
 * The engine waits for every stage to report a phase and for the messages in flight to reach
 * zero before it asks for the next.
 *
 * Ownership: the engine owns its stages; a stage owns its loop, inbox, links and instances.
 * Thread contract: fields are set on the control thread before the threads start; after
 * that, phase and the metrics are the only fields another thread touches.
 */
#ifndef TBR_ENGINE_STAGE_H
#define TBR_ENGINE_STAGE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "engine/queue.h"
#include "host/loop.h"

struct tbr_engine;
struct tbr_stage;

enum { TBR_PHASE_RUN, TBR_PHASE_QUIESCE, TBR_PHASE_FLUSH, TBR_PHASE_STOP };

typedef struct tbr_link {
    struct tbr_stage *dst;
    uint32_t port;          /* the destination's input port index */
} tbr_link;

typedef struct tbr_out_port {
    const char *name;       /* "out", "err", or a pipeline's declared port */
    tbr_link *links;
    uint32_t nlinks;
    _Atomic uint64_t events; /* events that left on this port (each link counted once) */
} tbr_out_port;

typedef struct tbr_stage_metrics {
    _Atomic uint64_t events_in, bytes_in;   /* pulled (sources) or received (inbox) */
    _Atomic uint64_t events_out, bytes_out; /* routed on (sources, pipelines) or delivered */
    _Atomic uint64_t errors;                /* events that went to err, failed deliveries */
    _Atomic uint64_t dropped;               /* events with nowhere to go, or dropped */
    _Atomic uint64_t streams;               /* connectors: streams with processors alive */
    /* sinks: ingest to delivery, over the events delivered */
    _Atomic uint64_t latency_sum_ns, latency_count, latency_max_ns;
} tbr_stage_metrics;

typedef struct tbr_stage_ops {
    /* Does a bounded amount of work; returns whether more is ready at once. */
    bool (*step)(struct tbr_stage *n);
    /* The loop ran callbacks (ran > 0) or was woken. */
    void (*after_wait)(struct tbr_stage *n, int ran);
    /* Takes up phase; returns when this stage has done what the phase asks. */
    void (*enter_phase)(struct tbr_stage *n, int phase);
    /* Frees everything the stage owns beyond struct tbr_stage (instances, pipeline). */
    void (*destroy)(struct tbr_stage *n);
    /* Optional: appends the metrics its plugin instance registered to fields (allocated in a)
     * and names the plugin; false when out of memory. Any thread, under the engine lock. */
    bool (*plugin_metrics)(struct tbr_stage *n, tb_arena *a, tb_value *fields, const char **plugin);
} tbr_stage_ops;

typedef struct tbr_stage {
    const tbr_stage_ops *ops;
    char *name;               /* "deployment::instance" */
    struct tbr_engine *engine;
    tbr_loop *loop;
    tbr_queue inbox;
    const char **in_ports;    /* input port names; a message's port indexes them */
    uint32_t nin;
    tbr_out_port *outs;
    uint32_t nouts;
    pthread_t thread;
    bool started;
    const char *kind;         /* "connector" or "pipeline", for metrics */
    _Atomic int64_t *live;    /* its flow's count of messages alive (NULL: none) */
    _Atomic(struct tbr_swap *) swap; /* a plugin swap asked of this stage, not yet taken up */
    int phase_now;            /* the stage thread's own copy */
    _Atomic int phase;        /* asked for by the engine */
    _Atomic int phase_done;   /* the last phase this stage completed (-1: none) */
    _Atomic uint64_t busy_since; /* CLOCK_MONOTONIC ns the thread last woke to work; 0 while it
                                    waits (the loop keeps it: tbr_loop_set_busy_clock) */
    uint64_t stall_seen;      /* the watchdog's: the busy_since it reported a stall of, or 0 */
    tbr_stage_metrics m;
} tbr_stage;

/* The engine's watchdog (control thread, under the engine lock): logs a stage whose thread has
 * been in one round of work (a plugin call, in practice) for longer than budget_ns, once per
 * stall, and again when it returns. A plugin that never returns cannot be stopped in process
 * (docs/isolation.md); this says which one it is. */
void tbr_stage_watchdog(tbr_stage *n, uint64_t now_ns, uint64_t budget_ns);

/* Initialises the common part (loop, inbox of queue_capacity messages). TB_OK or TB_ENOMEM. */
int tbr_stage_init(tbr_stage *n, const tbr_stage_ops *ops, struct tbr_engine *e, const char *name,
                  uint32_t queue_capacity);
/* Frees the common part (after ops->destroy). */
void tbr_stage_fini(tbr_stage *n);

/* The output port called name, or NULL. */
tbr_out_port *tbr_stage_out(tbr_stage *n, const char *name);
/* Adds a link from port `from` of n to input port `port` of dst. TB_OK or TB_ENOMEM. */
int tbr_stage_link(tbr_stage *n, tbr_out_port *from, tbr_stage *dst, uint32_t port);

/* Whether every stage that n's ports feed has room in its inbox (see tbr_queue_has_room). */
bool tbr_stage_downstream_has_room(tbr_stage *n);

/* The stage thread's main loop; arg is the stage. */
void *tbr_stage_main(void *arg);

/* A routed group: the events of one output port. */
typedef struct tbr_route {
    tbr_out_port *port;
    const tb_event *const *events; /* pointers into the source batch */
    uint32_t count;
    struct tbr_ticket *cf;         /* a pipeline's contraflow ticket for these events, or NULL */
} tbr_route;

/* Sends the events of each route to every link of its port. arena owns the events' values
 * and is given away: the first message takes it, every further link gets a deep copy; if
 * nothing is sent it is freed. Each message takes a reference on ticket (may be NULL) and on
 * its route's cf.
 * Events of a port with no link are counted (err ones logged with their reason). Returns
 * TB_OK or TB_ENOMEM (the events not sent are then counted as errors). */
int tbr_stage_route(tbr_stage *n, tb_arena *arena, struct tbr_ticket *ticket, const tbr_route *routes,
                   uint32_t nroutes);

/* Counts a failed event that goes no further and logs it with its reason after what (rate
 * limited: the first ten, then every thousandth). */
void tbr_stage_log_failed(tbr_stage *n, const tb_event *e, const char *what);

#endif
