/* connector_swap.c - a connector stage moves to a new build of a plugin (a reload): codec and
 * processors at once, the connector instance once it is idle, its position handed over with
 * save and restore. See swap.h for the protocol. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "engine/connector_private.h"
#include "engine/engine.h"
#include "engine/swap.h"
#include "host/context.h"
#include "host/handover.h"
#include "value/arena.h"

static void TB_CALL swap_deadline_due(void *user, uint64_t timer_id) {
    conn_stage *c = user;
    (void)timer_id;
    c->swap_timer = 0; /* the step that follows this callback sees the deadline passed */
}

/* Sends on what the chains produced while their processors were handed over. */
static void send_handover(conn_stage *c, tbr_msg *pre_out, tbr_msg *post_out) {
    if (pre_out->batch.count) {
        tb_batch b = pre_out->batch;
        tb_arena *a = tbr_msg_release_arena(pre_out, TB_OK);
        b.arena = a;
        /* bytes a new preprocessor gave back at once: decoded and routed like any batch */
        if (!(c->flags & TB_CONNECTOR_STRUCTURED) && tbr_chain_decode(&c->pre, &b, false) != TB_OK)
            atomic_fetch_add(&c->base.m.errors, 1);
        tbr_conn_route_source_batch(c, &b);
    } else {
        tbr_msg_free(pre_out, TB_OK);
    }
    tbr_conn_push_extra(c, post_out, "pushing what the old postprocessors held");
    tbr_msg_free(post_out, TB_OK);
}

/* Moves codecs and processors; returns TB_OK or an error (settled by the caller). */
static int swap_chains(conn_stage *c, tbr_swap *sw, char *why, size_t n) {
    tbr_msg *pre_out = tbr_msg_new(NULL, 0), *post_out = tbr_msg_new(NULL, 0);
    if (!pre_out || !post_out) {
        tbr_msg_free(pre_out, TB_OK);
        tbr_msg_free(post_out, TB_OK);
        snprintf(why, n, "out of memory");
        return TB_ENOMEM;
    }
    int rc = tbr_chain_set_swap(&c->pre, sw->from, sw->to, &pre_out->batch, why, n);
    if (!rc) rc = tbr_chain_set_swap(&c->post, sw->from, sw->to, &post_out->batch, why, n);
    send_handover(c, pre_out, post_out);
    return rc;
}

/* Creates the connector instance from comp and restores saved into it (NULL: nothing). */
static int create_from(conn_stage *c, const tbr_component *comp, const tb_value *saved, char *why, size_t n) {
    tbr_instance *inst = NULL;
    int rc = tbr_instance_create(tbr_engine_registry(c->base.engine), comp, c->base.name, &c->spec.connector.config,
                                 c->base.loop, 0, &inst, why, n);
    if (rc) return rc;
    tbr_conn_publish_instance(c, inst);
    if (!saved || !inst->component->vt.connector.restore) return TB_OK;
    tbr_context_clear_error(inst->ctx);
    rc = inst->component->vt.connector.restore(inst->state, saved);
    if (rc) {
        snprintf(why, n, "restore failed: %s", tbr_conn_last_error(c, rc));
        tbr_conn_destroy_instance(c);
    }
    return rc;
}

/* The connector instance is idle: save, stop, replace, restore; connect comes next. */
static void replace_instance(conn_stage *c, tbr_swap *sw) {
    const tbr_component *old = c->spec.connector.component;
    const tbr_component *fresh = tbr_plugin_component(sw->to, TB_KIND_CONNECTOR, old->desc.name);
    tb_arena *sa = tbr_arena_new(0);
    tb_value saved = tb_null();
    bool have = false;
    char why[512] = "";
    /* sockets the old instance hands to the new one; what no instance takes is closed */
    tbr_handover box;
    tbr_handover_open(&box);
    if (c->inst && c->state == CONN_RUNNING && c->vt->drain) {
        /* what the sink instance buffers is written before it goes */
        uint64_t until = tbr_now_ns() + 1000000000ull;
        while (c->vt->drain(c->inst->state) == TB_EAGAIN && tbr_now_ns() < until) tbr_loop_run_once(c->base.loop, 10);
    }
    if (c->inst && c->vt->save && sa) {
        tbr_context_clear_error(c->inst->ctx);
        int rc = c->vt->save(c->inst->state, sa, &saved);
        if (rc == TB_OK) have = true;
        else tbr_log(TB_LOG_WARN, c->base.name, "save failed, the new build starts afresh: %s", tbr_conn_last_error(c, rc));
    }
    if (c->inst) {
        if (c->state == CONN_RUNNING && c->vt->stop) c->vt->stop(c->inst->state);
        tbr_conn_destroy_instance(c);
    }
    int rc = fresh ? create_from(c, fresh, have ? &saved : NULL, why, sizeof why) : TB_EINVAL;
    if (!fresh) snprintf(why, sizeof why, "the new build has no connector '%s'", old->desc.name);
    if (rc == TB_OK) {
        c->spec.connector.component = fresh; /* c->vt is the new instance's (publish set it) */
        /* the halves stay as the flow wired them (a reload never adds one); the rest is the
         * new build's */
        uint32_t halves = TB_CONNECTOR_SOURCE | TB_CONNECTOR_SINK;
        c->flags = (c->vt->flags & ~halves) | (c->flags & halves);
        sw->held_ns = tbr_now_ns() - c->swap_t0;
        tbr_swap_settle(&c->base, sw, TB_OK, NULL);
    } else {
        char back[512] = "";
        sw->held_ns = tbr_now_ns() - c->swap_t0;
        /* the old build runs on, from where it was */
        if (create_from(c, old, have ? &saved : NULL, back, sizeof back)) {
            tbr_handover_close(&box);
            tbr_swap_settle(&c->base, sw, rc, "%s; recreating the old build failed too: %s", why, back);
            tbr_conn_give_up(c, back);
            tbr_arena_free(sa);
            return;
        }
        tbr_swap_settle(&c->base, sw, rc, "%s; the old build runs on", why);
    }
    tbr_handover_close(&box);
    tbr_arena_free(sa);
    c->failures = 0;
    c->paused = false;
    c->pull_ready = true;
    if (c->state != CONN_FAILED) tbr_conn_set_state(c, CONN_CONNECTING);
}

static void begin(conn_stage *c, tbr_swap *sw) {
    char why[512] = "";
    c->swap_t0 = tbr_now_ns();
    int rc = swap_chains(c, sw, why, sizeof why);
    sw->held_ns = tbr_now_ns() - c->swap_t0;
    if (rc != TB_OK) {
        tbr_swap_settle(&c->base, sw, TB_EINVAL, "%s", why);
        return;
    }
    if (c->spec.connector.component->plugin != sw->from) {
        tbr_swap_settle(&c->base, sw, TB_OK, NULL);
        return;
    }
    /* hold traffic: no pull and no push until what is in flight has settled */
    c->swapping = sw;
    c->swap_deadline = c->swap_t0 + tbr_engine_opts_of(c->base.engine)->drain_timeout_ns;
    if (tbr_loop_timer_start(c->base.loop, c->swap_deadline - c->swap_t0, 0, swap_deadline_due, c, &c->swap_timer) != TB_OK)
        c->swap_timer = 0;
    tbr_log(TB_LOG_INFO, c->base.name, "moving to %s %s: holding traffic until what is in flight settles", sw->to->desc.name,
            sw->to->desc.version);
}

bool tbr_conn_swap_step(conn_stage *c) {
    if (!c->swapping) {
        tbr_swap *sw = atomic_exchange(&c->base.swap, NULL);
        if (sw) begin(c, sw);
        if (!c->swapping) return false;
    }
    tbr_conn_deliver_settled(c);
    if (c->npending) tbr_conn_settle_pending(c);
    bool idle = c->outstanding == 0 && c->npending == 0;
    if (!idle && tbr_now_ns() < c->swap_deadline) return true;
    tbr_swap *sw = c->swapping;
    c->swapping = NULL;
    if (c->swap_timer) tbr_loop_timer_stop(c->base.loop, c->swap_timer);
    c->swap_timer = 0;
    sw->held_ns = tbr_now_ns() - c->swap_t0;
    if (!idle) {
        c->pull_ready = true;
        tbr_swap_settle(&c->base, sw, TB_ETIMEDOUT,
                        "%u batches it emitted and %u deliveries were still unsettled after %.0f s; the old build runs on",
                        c->outstanding, c->npending, (double)tbr_engine_opts_of(c->base.engine)->drain_timeout_ns / 1e9);
        return false;
    }
    replace_instance(c, sw);
    return false;
}

void tbr_conn_swap_abort(conn_stage *c) {
    if (!c->swapping) return;
    tbr_swap *sw = c->swapping;
    c->swapping = NULL;
    if (c->swap_timer) tbr_loop_timer_stop(c->base.loop, c->swap_timer);
    c->swap_timer = 0;
    sw->held_ns = tbr_now_ns() - c->swap_t0;
    tbr_swap_settle(&c->base, sw, TB_ECLOSED, "the flow stopped while the connector waited to move; the old build ran to the end");
}
