/* stage.c - what connector and pipeline stages share: the thread loop, links, and routing a
 * batch's events to the inboxes their ports feed. */
#define _GNU_SOURCE
#include "engine/stage.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "engine/engine.h"
#include "engine/swap.h"
#include "engine/ticket.h"
#include "value/arena.h"
#include "value/json.h"

int tbr_stage_init(tbr_stage *n, const tbr_stage_ops *ops, struct tbr_engine *e, const char *name,
                  uint32_t queue_capacity) {
    n->ops = ops;
    n->engine = e;
    n->name = strdup(name);
    n->loop = tbr_loop_new();
    if (n->loop) tbr_loop_set_busy_clock(n->loop, &n->busy_since);
    atomic_init(&n->phase, TBR_PHASE_RUN);
    atomic_init(&n->phase_done, -1);
    if (!n->name || !n->loop || tbr_queue_init(&n->inbox, queue_capacity, n->loop)) {
        free(n->name);
        tbr_loop_free(n->loop);
        n->name = NULL;
        n->loop = NULL;
        return TB_ENOMEM;
    }
    return TB_OK;
}

void tbr_stage_fini(tbr_stage *n) {
    tbr_queue_fini(&n->inbox);
    for (uint32_t i = 0; i < n->nouts; i++) free(n->outs[i].links);
    free(n->outs);
    free(n->in_ports);
    tbr_loop_free(n->loop);
    free(n->name);
}

tbr_out_port *tbr_stage_out(tbr_stage *n, const char *name) {
    for (uint32_t i = 0; i < n->nouts; i++)
        if (!strcmp(n->outs[i].name, name)) return &n->outs[i];
    return NULL;
}

int tbr_stage_link(tbr_stage *n, tbr_out_port *from, tbr_stage *dst, uint32_t port) {
    tbr_link *l = realloc(from->links, (from->nlinks + 1) * sizeof *l);
    if (!l) return TB_ENOMEM;
    l[from->nlinks++] = (tbr_link){dst, port};
    from->links = l;
    return tbr_queue_add_producer(&dst->inbox, n->loop);
}

bool tbr_stage_downstream_has_room(tbr_stage *n) {
    bool room = true;
    /* ask every queue, so each full one knows to wake this stage */
    for (uint32_t i = 0; i < n->nouts; i++)
        for (uint32_t k = 0; k < n->outs[i].nlinks; k++)
            if (!tbr_queue_has_room(&n->outs[i].links[k].dst->inbox)) room = false;
    return room;
}

void *tbr_stage_main(void *arg) {
    tbr_stage *n = arg;
    /* from now on the stage's loop is this thread's: a plugin's thread may not touch it */
    tbr_loop_set_owner(n->loop, true);
    for (;;) {
        /* a round of work starts: the watchdog measures a stall from here */
        atomic_store_explicit(&n->busy_since, tbr_now_ns(), memory_order_relaxed);
        int want = atomic_load(&n->phase);
        if (want != n->phase_now) {
            /* phases are taken in order, none skipped, whatever the engine asked last */
            while (n->phase_now < want) n->ops->enter_phase(n, ++n->phase_now);
            atomic_store(&n->phase_done, n->phase_now);
            tbr_engine_notify(n->engine);
            if (n->phase_now == TBR_PHASE_STOP) {
                tbr_stage_abandon_swap(n);
                break;
            }
        }
        bool more = n->ops->step(n);
        int ran = tbr_loop_run_once(n->loop, more ? 0 : -1);
        n->ops->after_wait(n, ran);
    }
    tbr_loop_set_owner(n->loop, false);
    atomic_store_explicit(&n->busy_since, 0, memory_order_relaxed);
    return NULL;
}

void tbr_stage_watchdog(tbr_stage *n, uint64_t now, uint64_t budget) {
    uint64_t since = atomic_load_explicit(&n->busy_since, memory_order_relaxed);
    if (n->stall_seen && n->stall_seen != since) {
        tbr_log(TB_LOG_WARN, n->name, "responsive again after %.1f s in one call", (double)(now - n->stall_seen) / 1e9);
        n->stall_seen = 0;
    }
    if (!since || now < since || now - since < budget || n->stall_seen == since) return;
    n->stall_seen = since;
    tbr_log(TB_LOG_ERROR, n->name,
            "has been in one call for %.1f s: a plugin of this stage is not returning (it cannot be stopped in process; "
            "the isolated tier can: see docs/isolation.md)",
            (double)(now - since) / 1e9);
}

void tbr_stage_log_failed(tbr_stage *n, const tb_event *e, const char *what) {
    uint64_t count = atomic_fetch_add(&n->m.errors, 1) + 1;
    /* the first ten, then every thousandth: a broken input must not flood the log */
    if (count > 10 && count % 1000) return;
    tb_arena *a = tbr_arena_new(4096);
    if (!a) return;
    tb_buf buf;
    tb_buf_init(&buf, a);
    const tb_value *why = e->data.type == TB_OBJECT ? tb_object_getz(&e->data, "error") : NULL;
    if (why && why->type == TB_STRING) tb_buf_append(&buf, why->as.s, why->len);
    else tbr_json_write(&e->data, &buf);
    tbr_log(TB_LOG_WARN, n->name, "%s (%llu so far): %.*s", what, (unsigned long long)count, (int)(buf.len > 400 ? 400 : buf.len), buf.data ? (const char *)buf.data : "");
    tbr_arena_free(a);
}

int tbr_stage_route(tbr_stage *n, tb_arena *arena, tbr_ticket *ticket, const tbr_route *routes,
                   uint32_t nroutes) {
    tbr_msg *ready[16], **sends = ready;
    uint32_t nsends = 0, cap = 16;
    int rc = TB_OK;
    bool arena_given = false;
    for (uint32_t r = 0; r < nroutes; r++) {
        const tbr_route *rt = &routes[r];
        if (!rt->count) continue;
        if (rt->port) atomic_fetch_add_explicit(&rt->port->events, rt->count, memory_order_relaxed);
        if (!rt->port || !rt->port->nlinks) {
            bool err = rt->port && !strcmp(rt->port->name, "err");
            for (uint32_t i = 0; i < rt->count; i++) {
                if (err) tbr_stage_log_failed(n, rt->events[i], "event failed, and its err port is not connected");
                else atomic_fetch_add(&n->m.dropped, 1);
            }
            continue;
        }
        for (uint32_t l = 0; l < rt->port->nlinks; l++) {
            bool deep = arena_given;
            tbr_msg *m = tbr_msg_new(deep ? NULL : arena, rt->count);
            if (!m) {
                rc = TB_ENOMEM;
                if (!deep) arena_given = true; /* tbr_msg_new freed it */
                break;
            }
            arena_given = true;
            for (uint32_t i = 0; i < rt->count && rc == TB_OK; i++) rc = tbr_msg_add(m, rt->events[i], deep);
            m->port = rt->port->links[l].port;
            if ((m->live = n->live)) atomic_fetch_add_explicit(m->live, 1, memory_order_relaxed);
            m->ticket = tbr_ticket_ref(ticket);
            m->cf = tbr_ticket_ref(rt->cf);
            if (nsends == cap) {
                tbr_msg **grown = malloc(2 * cap * sizeof *grown);
                if (!grown) {
                    tbr_msg_free(m, TB_ENOMEM);
                    rc = TB_ENOMEM;
                    break;
                }
                memcpy(grown, sends, nsends * sizeof *grown);
                if (sends != ready) free(sends);
                sends = grown;
                cap *= 2;
            }
            sends[nsends++] = m;
            /* remember the destination through next until the copies are all made */
            m->next = (tbr_msg *)(void *)rt->port->links[l].dst;
            atomic_fetch_add_explicit(&n->m.events_out, rt->count, memory_order_relaxed);
        }
        if (rc) break;
    }
    /* sent only now: the first message owns the arena the copies were read from */
    for (uint32_t i = 0; i < nsends; i++) {
        tbr_stage *dst = (tbr_stage *)(void *)sends[i]->next;
        if (rc == TB_OK) tbr_queue_push(&dst->inbox, sends[i]);
        else tbr_msg_free(sends[i], rc);
    }
    if (sends != ready) free(sends);
    if (!arena_given) tbr_arena_free(arena);
    if (rc) {
        atomic_fetch_add(&n->m.errors, 1);
        tbr_log(TB_LOG_ERROR, n->name, "out of memory routing a batch: it is failed back to its source");
    }
    return rc;
}

void tbr_stage_request_swap(tbr_stage *n, tbr_swap *sw) {
    atomic_store(&sw->status, TBR_SWAP_PENDING);
    atomic_store(&n->swap, sw);
    tbr_loop_wake(n->loop);
}

void tbr_swap_settle(tbr_stage *n, tbr_swap *sw, int status, const char *fmt, ...) {
    if (status != TB_OK && fmt) {
        int used = snprintf(sw->why, sizeof sw->why, "%s: ", n->name);
        va_list ap;
        va_start(ap, fmt);
        if (used > 0 && (size_t)used < sizeof sw->why) vsnprintf(sw->why + used, sizeof sw->why - (size_t)used, fmt, ap);
        va_end(ap);
    }
    atomic_store_explicit(&sw->status, status, memory_order_release);
    tbr_engine_notify(n->engine);
}

void tbr_stage_abandon_swap(tbr_stage *n) {
    tbr_swap *sw = atomic_exchange(&n->swap, NULL);
    if (sw) tbr_swap_settle(n, sw, TB_ECLOSED, "the stage stopped before it could move to the new build");
}
