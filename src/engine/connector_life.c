/* connector_life.c - a connector's lifecycle: connect with backoff and jitter, restarts of an
 * instance whose callbacks fail, giving up, and the state changes that open and close its
 * circuit. */
#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "engine/connector_private.h"
#include "engine/engine.h"
#include "host/context.h"
#include "value/arena.h"

static const char *const state_names[] = {"idle", "backing off", "connecting", "running", "failed", "stopped"};

void tbr_conn_set_state(conn_stage *c, conn_state s) {
    if (c->state == s) return;
    tbr_log(s == CONN_FAILED ? TB_LOG_ERROR : TB_LOG_INFO, c->base.name, "%s -> %s", state_names[c->state],
            state_names[s]);
    c->state = s;
    if (s == CONN_RUNNING) atomic_store(&c->ever_ran, true);
    bool open = s != CONN_RUNNING || (c->inst && tbr_context_circuit_open(c->inst->ctx));
    if (atomic_exchange(&c->circuit_open, open) != open)
        for (uint32_t i = 0; i < c->nwatchers; i++) tbr_loop_wake(c->watchers[i]->loop);
}

const char *tbr_conn_last_error(conn_stage *c, int rc) {
    const char *msg = c->inst ? tbr_context_error(c->inst->ctx) : "";
    return msg[0] ? msg : tbr_status_name(rc);
}

static uint64_t backoff_ns(const tbr_retry *r, uint32_t failures) {
    double d = (double)r->interval_ns * pow(r->growth, failures ? failures - 1 : 0);
    if (d > (double)r->max_interval_ns) d = (double)r->max_interval_ns;
    uint64_t ns = (uint64_t)d;
    /* jitter keeps many instances from retrying in step against a recovering peer */
    if (r->randomized && ns > 1) ns = ns / 2 + (uint64_t)((double)(ns / 2) * ((double)rand() / RAND_MAX));
    return ns;
}

static void TB_CALL retry_due(void *user, uint64_t timer_id) {
    conn_stage *c = user;
    (void)timer_id;
    c->retry_timer = 0;
    if (c->state == CONN_BACKOFF) c->state = CONN_CONNECTING;
}

static void schedule_retry(conn_stage *c) {
    uint64_t delay = backoff_ns(&c->spec.reconnect, c->failures);
    tbr_log(TB_LOG_INFO, c->base.name, "retrying in %.0f ms", (double)delay / 1e6);
    tbr_conn_set_state(c, CONN_BACKOFF);
    if (tbr_loop_timer_start(c->base.loop, delay, 0, retry_due, c, &c->retry_timer) != TB_OK)
        c->state = CONN_CONNECTING; /* no timer: retry at once rather than never */
}

void tbr_conn_source_ended(conn_stage *c) {
    if (c->eof || !(c->flags & TB_CONNECTOR_SOURCE)) return;
    c->eof = true;
    tbr_engine_source_done(c->base.engine);
}

void tbr_conn_give_up(conn_stage *c, const char *why) {
    tbr_log(TB_LOG_ERROR, c->base.name, "stopped for good: %s", why);
    atomic_store(&c->failed, true);
    tbr_engine_stage_failed(c->base.engine);
    tbr_conn_set_state(c, CONN_FAILED);
    if (c->inst && c->vt->stop) c->vt->stop(c->inst->state);
    tbr_conn_source_ended(c);
}

int tbr_conn_create_instance(conn_stage *c, char *err, size_t n) {
    tbr_instance *inst = NULL;
    int rc = tbr_instance_create(tbr_engine_registry(c->base.engine), c->spec.connector.component, c->base.name,
                                 &c->spec.connector.config, c->base.loop, 0, &inst, err, n);
    if (rc == TB_OK) tbr_conn_publish_instance(c, inst);
    return rc;
}

void tbr_conn_publish_instance(conn_stage *c, tbr_instance *inst) {
    pthread_mutex_lock(&c->inst_lock);
    c->inst = inst;
    pthread_mutex_unlock(&c->inst_lock);
    /* what to call: the plugin's vtable, or an isolated instance's proxy's */
    if (inst) c->vt = &inst->component->vt.connector;
}

void tbr_conn_destroy_instance(conn_stage *c) {
    tbr_instance *inst = c->inst;
    tbr_conn_publish_instance(c, NULL);
    tbr_instance_destroy(inst);
}

/* A callback failed: restart the instance with backoff, unless it keeps failing. */
void tbr_conn_supervise(conn_stage *c, const char *what, int rc) {
    char why[600];
    snprintf(why, sizeof why, "%s failed: %s", what, tbr_conn_last_error(c, rc));
    tbr_log(TB_LOG_ERROR, c->base.name, "%s", why);
    uint64_t now = tbr_now_ns();
    uint32_t recent = 0;
    for (uint32_t i = 0; i < c->nrestarts && i < RESTART_LIMIT; i++)
        if (now - c->restarts[i] < RESTART_WINDOW_NS) recent++;
    if (recent >= RESTART_LIMIT) {
        tbr_conn_give_up(c, "it failed more than 5 times in a minute");
        return;
    }
    c->restarts[c->nrestarts++ % RESTART_LIMIT] = now;
    if (c->vt->stop) c->vt->stop(c->inst->state);
    /* deliveries the old instance owed will never be reported: fail them back now, so a
     * transactional source replays them, rather than at stop */
    for (uint32_t i = 0; i < c->npending; i++) tbr_conn_fail_msg_back(c, c->pending[i].msg, TB_EIO);
    c->npending = 0;
    /* the old instance's streams (its connections) are gone: what their preprocessors hold
     * goes on, and their postprocessors are freed (a new instance may reuse the ids) */
    tbr_conn_flush_source_streams(c);
    tbr_chain_end_every_stream(&c->post);
    tbr_conn_destroy_instance(c);
    char err[512];
    if (tbr_conn_create_instance(c, err, sizeof err) != TB_OK) {
        tbr_conn_give_up(c, err);
        return;
    }
    c->pull_ready = true;
    c->failures++;
    tbr_log(TB_LOG_WARN, c->base.name, "restarting (restart %u)", c->nrestarts);
    schedule_retry(c);
}

/* The external connection broke (a callback said TB_EIO or TB_ECLOSED): not a fault of the
 * instance, so it is kept and reconnected with backoff; its circuit is open meanwhile. */
void tbr_conn_connection_lost(conn_stage *c, const char *what, int rc) {
    tbr_log(TB_LOG_WARN, c->base.name, "%s: connection lost: %s", what, tbr_conn_last_error(c, rc));
    if (!c->spec.reconnect.enabled) {
        tbr_conn_give_up(c, "its connection is lost and reconnect is \"none\"");
        return;
    }
    c->failures = 1;
    schedule_retry(c);
}

/* Connects and starts; on a transient failure, schedules the next try. */
void tbr_conn_try_connect(conn_stage *c) {
    int rc = TB_OK;
    if (c->vt->connect) {
        tbr_context_clear_error(c->inst->ctx);
        rc = c->vt->connect(c->inst->state);
    }
    if (rc == TB_EIO || rc == TB_EAGAIN) {
        c->failures++;
        tbr_log(TB_LOG_WARN, c->base.name, "connect failed: %s", tbr_conn_last_error(c, rc));
        if (!c->spec.reconnect.enabled) tbr_conn_give_up(c, "it cannot connect and reconnect is \"none\"");
        else if (c->spec.reconnect.max_retries && c->failures > c->spec.reconnect.max_retries) tbr_conn_give_up(c, "no retries left");
        else schedule_retry(c);
        return;
    }
    if (rc == TB_OK && c->vt->start) rc = c->vt->start(c->inst->state);
    if (rc != TB_OK) {
        tbr_conn_supervise(c, "connect", rc);
        return;
    }
    c->failures = 0;
    c->pull_ready = true;
    c->paused = false;
    tbr_conn_set_state(c, CONN_RUNNING);
}
