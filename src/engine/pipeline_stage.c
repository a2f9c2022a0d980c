/* pipeline_stage.c - running a compiled query on batches from the inbox. */
#define _GNU_SOURCE
#include "engine/pipeline_stage.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "engine/connector.h"
#include "engine/engine.h"
#include "engine/swap.h"
#include "engine/ticket.h"
#include "value/arena.h"

#define TICK_NS (100ull * 1000000ull)

typedef struct pipe_stage {
    tbr_stage base;
    const tbr_query *q;
    tbr_pipeline *pl;
    tbr_pipeline_out out;     /* reused for every batch */
    const char **out_qnames;  /* per output port, the query stage's name (maybe not NUL-terminated) */
    const tb_event **ptrs;    /* per output port, reused */
    tbr_route *routes;        /* one per output port, reused */
    uint32_t ptr_cap;
    uint64_t tick_timer;
    bool tick_due;
    /* contraflow to the operators that want it (qos::): a ticket per routed port travels
     * with the events and settles here once they are delivered or failed */
    bool contraflow;
    pthread_mutex_t settled_lock;
    tbr_ticket *settled;
    _Atomic bool any_settled;
    tbr_stage **sinks;        /* connector sinks downstream, whose breakers the operators hear of */
    uint32_t nsinks;
    bool circuit_open;        /* what the operators were last told */
} pipe_stage;

/* Tells the operators when a breaker downstream opens (any sink) or closes (all again). */
static void check_circuits(pipe_stage *p) {
    bool open = false;
    for (uint32_t i = 0; i < p->nsinks && !open; i++) open = tbr_connector_stage_circuit_open(p->sinks[i]);
    if (open == p->circuit_open) return;
    p->circuit_open = open;
    tb_contraflow cf = {sizeof cf, open ? TB_CF_CIRCUIT_OPEN : TB_CF_CIRCUIT_CLOSE, 0, 0, 0, 0};
    tbr_pipeline_contraflow(p->pl, &cf);
}

static void TB_CALL settle(void *owner, tbr_ticket *t) {
    pipe_stage *p = owner;
    pthread_mutex_lock(&p->settled_lock);
    t->next = p->settled;
    p->settled = t;
    atomic_store(&p->any_settled, true);
    pthread_mutex_unlock(&p->settled_lock);
    tbr_loop_wake(p->base.loop);
}

/* Tells the operators what became of the events they passed on, with their latency. */
static void deliver_contraflow(pipe_stage *p) {
    if (!atomic_load(&p->any_settled)) return;
    pthread_mutex_lock(&p->settled_lock);
    tbr_ticket *t = p->settled;
    p->settled = NULL;
    atomic_store(&p->any_settled, false);
    pthread_mutex_unlock(&p->settled_lock);
    uint64_t now = tbr_realtime_ns();
    while (t) {
        tbr_ticket *next = t->next;
        tb_contraflow cf = {sizeof cf, atomic_load(&t->status) == TB_OK ? TB_CF_ACK : TB_CF_FAIL, 0, 0, t->port, 0};
        for (uint32_t i = 0; p->pl && i < t->count; i++) {
            cf.event_id = t->ids[i];
            cf.latency_ns = t->ingest_ns[i] && t->ingest_ns[i] < now ? now - t->ingest_ns[i] : 0;
            tbr_pipeline_contraflow(p->pl, &cf);
        }
        tbr_ticket_free(t);
        t = next;
    }
}

/* Routes what the pipeline emitted (values in arena) port by port; upstream is the contraflow
 * ticket of an earlier pipeline the events came through (passed on when this one has none). */
static void route_outputs(pipe_stage *p, tb_arena *arena, tbr_ticket *ticket, tbr_ticket *upstream) {
    tbr_pipeline_out *out = &p->out;
    if (!out->count) {
        tbr_stage_route(&p->base, arena, ticket, NULL, 0); /* nothing left: frees the arena */
        return;
    }
    if (p->contraflow) upstream = NULL; /* released by the caller: our operators report instead */
    if (out->count > p->ptr_cap) {
        const tb_event **n = realloc(p->ptrs, out->count * sizeof *n);
        if (!n) {
            atomic_fetch_add(&p->base.m.errors, out->count);
            tbr_log(TB_LOG_ERROR, p->base.name, "out of memory: %zu events lost", out->count);
            tbr_arena_free(arena);
            return;
        }
        p->ptrs = n;
        p->ptr_cap = (uint32_t)out->count;
    }
    /* one route per output port, its events in order */
    tbr_route *routes = p->routes;
    uint32_t nroutes = 0, used = 0;
    for (uint32_t port = 0; port < p->base.nouts; port++) {
        tbr_route *r = &routes[nroutes];
        r->port = &p->base.outs[port];
        r->events = p->ptrs + used;
        r->count = 0;
        r->cf = upstream;
        for (size_t i = 0; i < out->count; i++)
            if (out->items[i].port == p->out_qnames[port] || !strcmp(out->items[i].port, r->port->name))
                p->ptrs[used + r->count++] = &out->items[i].event;
        used += r->count;
        if (r->count && p->contraflow) r->cf = tbr_ticket_for_events(settle, p, r->events, r->count, port);
        if (r->count) nroutes++;
    }
    tbr_stage_route(&p->base, arena, ticket, routes, nroutes);
    /* the messages hold their own references now */
    for (uint32_t i = 0; p->contraflow && i < nroutes; i++) tbr_ticket_release(routes[i].cf, TB_OK);
}

static void run_batch(pipe_stage *p, tbr_msg *m) {
    const char *port = m->port < p->base.nin ? p->base.in_ports[m->port] : "in";
    p->out.count = 0;
    atomic_fetch_add_explicit(&p->base.m.events_in, m->batch.count, memory_order_relaxed);
    for (uint32_t i = 0; i < m->batch.count; i++) {
        if (tbr_pipeline_push(p->pl, port, &m->batch.events[i], m->batch.arena, &p->out) == TB_ENOMEM) {
            atomic_fetch_add(&p->base.m.errors, 1);
            tbr_log(TB_LOG_ERROR, p->base.name, "out of memory running an event");
        }
    }
    /* the outputs live in the message's arena: take it over, with the tickets */
    tbr_ticket *t = m->ticket, *cf = m->cf;
    m->ticket = m->cf = NULL;
    tb_arena *arena = tbr_msg_release_arena(m, TB_OK);
    route_outputs(p, arena, t, cf);
    tbr_ticket_release(t, TB_OK);
    tbr_ticket_release(cf, TB_OK);
}

static void tick(pipe_stage *p, uint64_t now) {
    tb_arena *arena = tbr_arena_new_batch(0);
    if (!arena) return;
    p->out.count = 0;
    if (tbr_pipeline_tick(p->pl, now, arena, &p->out) != TB_OK) tbr_log(TB_LOG_ERROR, p->base.name, "tick failed");
    if (p->out.count) route_outputs(p, arena, NULL, NULL);
    else tbr_arena_free(arena);
}

/* A reload asked for: the operators move between two batches (query_run.c). */
static void take_swap(pipe_stage *p) {
    tbr_swap *sw = atomic_exchange(&p->base.swap, NULL);
    if (!sw) return;
    char why[512] = "";
    uint64_t t0 = tbr_now_ns();
    int rc = tbr_pipeline_swap_operators(p->pl, sw->from, sw->to, why, sizeof why);
    sw->held_ns = tbr_now_ns() - t0;
    tbr_swap_settle(&p->base, sw, rc, "%s", why);
}

static bool pipe_step(tbr_stage *n) {
    pipe_stage *p = (pipe_stage *)n;
    if (atomic_load_explicit(&n->swap, memory_order_relaxed)) take_swap(p);
    if (p->contraflow) {
        deliver_contraflow(p);
        if (p->nsinks) check_circuits(p);
    }
    if (p->tick_due) {
        p->tick_due = false;
        tick(p, tbr_realtime_ns());
    }
    /* take work only when every stage fed has room: the backlog then waits in our inbox */
    if (!tbr_stage_downstream_has_room(n)) return false;
    tbr_msg *m = tbr_queue_take_all(&n->inbox);
    if (!m) return false;
    while (m) {
        tbr_msg *next = m->next;
        run_batch(p, m);
        tbr_queue_consumed(&n->inbox, 1);
        m = next;
    }
    return true;
}

static void pipe_after_wait(tbr_stage *n, int ran) {
    (void)n;
    (void)ran;
}

static void TB_CALL tick_due(void *user, uint64_t id) {
    (void)id;
    ((pipe_stage *)user)->tick_due = true;
}

static void pipe_enter_phase(tbr_stage *n, int phase) {
    pipe_stage *p = (pipe_stage *)n;
    if (phase == TBR_PHASE_FLUSH) {
        /* the inbox is empty by now; the end of time closes every time window */
        pipe_step(n);
        tick(p, UINT64_MAX);
    }
}

static void pipe_destroy(tbr_stage *n) {
    pipe_stage *p = (pipe_stage *)n;
    /* the engine emptied every inbox first: whatever settled here is only freed now */
    tbr_pipeline *pl = p->pl;
    p->pl = NULL;
    deliver_contraflow(p);
    p->pl = pl;
    pthread_mutex_destroy(&p->settled_lock);
    free(p->sinks);
    tbr_pipeline_free(p->pl);
    tbr_pipeline_out_free(&p->out);
    /* the port names are ours (tbr_stage_fini frees the arrays) */
    for (uint32_t i = 0; i < n->nin; i++) free((char *)n->in_ports[i]);
    for (uint32_t i = 0; i < n->nouts; i++) free((char *)n->outs[i].name);
    free(p->ptrs);
    free(p->out_qnames);
    free(p->routes);
}

static const tbr_stage_ops pipe_ops = {pipe_step, pipe_after_wait, pipe_enter_phase, pipe_destroy, NULL};

int tbr_pipeline_stage_watch_circuit(tbr_stage *pipeline, tbr_stage *sink) {
    pipe_stage *p = (pipe_stage *)pipeline;
    for (uint32_t i = 0; i < p->nsinks; i++)
        if (p->sinks[i] == sink) return TB_OK;
    tbr_stage **grown = realloc(p->sinks, (p->nsinks + 1) * sizeof *grown);
    if (!grown) return TB_ENOMEM;
    grown[p->nsinks++] = sink;
    p->sinks = grown;
    return tbr_connector_stage_add_watcher(sink, pipeline);
}

int tbr_pipeline_stage_in_port(const tbr_stage *n, const char *name) {
    for (uint32_t i = 0; i < n->nin; i++)
        if (!strcmp(n->in_ports[i], name)) return (int)i;
    return -1;
}

tbr_stage *tbr_pipeline_stage_new(struct tbr_engine *e, const char *name, const tbr_query *q,
                                  const tb_value *args, char *err, size_t err_size) {
    pipe_stage *p = calloc(1, sizeof *p);
    if (!p || tbr_stage_init(&p->base, &pipe_ops, e, name, tbr_engine_opts_of(e)->queue_capacity)) {
        free(p);
        snprintf(err, err_size, "%s: out of memory", name);
        return NULL;
    }
    p->q = q;
    p->base.kind = "pipeline";
    pthread_mutex_init(&p->settled_lock, NULL);
    char why[512] = "";
    p->pl = tbr_pipeline_new(q, tbr_engine_registry(e), why, sizeof why);
    if (!p->pl) {
        snprintf(err, err_size, "pipeline %s: %s", name, why);
        goto fail;
    }
    if (tbr_pipeline_set_args(p->pl, args)) goto oom;
    p->contraflow = tbr_pipeline_wants_contraflow(p->pl);
    /* ports from the query's stages: inputs, then outputs (err among them) */
    uint32_t nin = 0, nout = 0;
    for (uint32_t i = 0; i < q->nnodes; i++) {
        nin += q->nodes[i].kind == QNODE_INPUT;
        nout += q->nodes[i].kind == QNODE_OUTPUT;
    }
    p->base.in_ports = calloc(nin ? nin : 1, sizeof *p->base.in_ports);
    p->base.outs = calloc(nout ? nout : 1, sizeof *p->base.outs);
    p->out_qnames = calloc(nout ? nout : 1, sizeof *p->out_qnames);
    p->routes = calloc(nout ? nout : 1, sizeof *p->routes);
    if (!p->base.in_ports || !p->base.outs || !p->out_qnames || !p->routes) goto oom;
    for (uint32_t i = 0; i < q->nnodes; i++) {
        const tbr_qnode *qn = &q->nodes[i];
        if (qn->kind != QNODE_INPUT && qn->kind != QNODE_OUTPUT) continue;
        char *pname = strndup(qn->name, qn->name_len);
        if (!pname) goto oom;
        if (qn->kind == QNODE_INPUT) p->base.in_ports[p->base.nin++] = pname;
        else {
            p->out_qnames[p->base.nouts] = qn->name;
            p->base.outs[p->base.nouts++].name = pname;
        }
    }
    if (tbr_loop_timer_start(p->base.loop, TICK_NS, TICK_NS, tick_due, p, &p->tick_timer)) goto oom;
    return &p->base;
oom:
    snprintf(err, err_size, "%s: out of memory", name);
fail:
    pipe_destroy(&p->base);
    tbr_stage_fini(&p->base);
    free(p);
    return NULL;
}

const char *tbr_pipeline_stage_operator_using(const tbr_stage *n, const tbr_plugin *p) {
    return tbr_pipeline_operator_using(((const pipe_stage *)n)->pl, p);
}

int tbr_pipeline_stage_check_swap(const tbr_stage *n, const tbr_plugin *from, const tbr_plugin *to, char *err, size_t size) {
    return tbr_pipeline_check_swap(((const pipe_stage *)n)->pl, from, to, err, size);
}
