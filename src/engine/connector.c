/* connector.c - a connector instance as a stage: creation, the stage operations and the
 * shutdown phases. The lifecycle, the source half and the sink half are in connector_life.c,
 * connector_source.c and connector_sink.c; the stream-processing chains in chain.c. */
#define _GNU_SOURCE
#include "engine/connector.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "engine/connector_private.h"
#include "engine/engine.h"
#include "host/context.h"
#include "value/arena.h"
#include "value/clone.h"

static _Atomic uint32_t next_source_id = 1;

/* --- stage operations ---------------------------------------------------------------------- */

static bool conn_step(tbr_stage *n) {
    conn_stage *c = as_conn(n);
    bool swapping = c->swapping || atomic_load_explicit(&n->swap, memory_order_relaxed);
    if (swapping) tbr_conn_finish_decoding(c); /* before the chain's codec may move */
    if (swapping && tbr_conn_swap_step(c)) return false;
    if (c->state == CONN_CONNECTING || c->state == CONN_IDLE) tbr_conn_try_connect(c);
    if (c->inst) {
        bool open = c->state != CONN_RUNNING || tbr_context_circuit_open(c->inst->ctx);
        if (atomic_exchange(&c->circuit_open, open) != open)
            for (uint32_t i = 0; i < c->nwatchers; i++) tbr_loop_wake(c->watchers[i]->loop);
    }
    tbr_conn_deliver_settled(c);
    if (c->npending) tbr_conn_settle_pending(c);
    if (c->inst) tbr_conn_end_sink_streams(c);
    bool more = false;
    /* while it reconnects, or its circuit is open, a sink leaves its inbox alone: the queue
     * fills and holds sources (the plugin closes its circuit itself, from a callback) */
    if ((c->state == CONN_RUNNING && !tbr_context_circuit_open(c->inst->ctx)) || c->state == CONN_FAILED)
        more = tbr_conn_drain_inbox(c);
    bool pull = (c->flags & TB_CONNECTOR_SOURCE) && c->state == CONN_RUNNING && !c->eof && !c->quiescing &&
                c->pull_ready && tbr_conn_circuit_allows(c) && tbr_stage_downstream_has_room(n);
    if (pull) more = tbr_conn_pull_once(c) || more;
    else tbr_conn_finish_decoding(c); /* a batch waits in its codec's host only while pulls follow */
    atomic_store_explicit(&n->m.streams, c->pre.nchains + c->post.nchains, memory_order_relaxed);
    return more;
}

static void conn_after_wait(tbr_stage *n, int ran) {
    conn_stage *c = as_conn(n);
    /* any callback of the instance (fd ready, timer) may have made data ready */
    if (ran > 0 || (c->inst && tbr_context_take_wake(c->inst->ctx))) c->pull_ready = true;
}

static void conn_enter_phase(tbr_stage *n, int phase) {
    conn_stage *c = as_conn(n);
    tbr_conn_finish_decoding(c);
    if (phase == TBR_PHASE_QUIESCE) {
        c->quiescing = true;
        if (c->state == CONN_RUNNING) tbr_conn_flush_source_streams(c);
    } else if (phase == TBR_PHASE_STOP) {
        tbr_conn_swap_abort(c);
        if (c->state == CONN_RUNNING && c->post.nchains) {
            /* postprocessors that batch or frame across events give up what they hold */
            tbr_msg *m = tbr_msg_new(NULL, 0);
            if (m && tbr_chain_flush(&c->post, &m->batch) == TB_OK) tbr_conn_push_extra(c, m, "flushing postprocessors at stop");
            tbr_msg_free(m, TB_OK);
        }
        if (c->state == CONN_RUNNING && c->vt->drain) {
            /* bounded: a sink that cannot flush in a second is stopped anyway */
            uint64_t until = tbr_now_ns() + 1000000000ull;
            while (c->vt->drain(c->inst->state) == TB_EAGAIN && tbr_now_ns() < until) tbr_loop_run_once(n->loop, 10);
        }
        if (c->npending) {
            uint64_t until = tbr_now_ns() + 1000000000ull;
            while (c->npending && tbr_now_ns() < until) {
                tbr_loop_run_once(n->loop, 10);
                tbr_conn_settle_pending(c);
            }
            for (uint32_t i = 0; i < c->npending; i++) tbr_conn_fail_msg_back(c, c->pending[i].msg, TB_EIO);
            c->npending = 0;
        }
        /* the last acknowledgements first: a source commits them (Kafka offsets) before it stops */
        tbr_conn_deliver_settled(c);
        if (c->state == CONN_RUNNING && c->vt->stop) c->vt->stop(c->inst->state);
        tbr_conn_deliver_settled(c);
        tbr_conn_set_state(c, CONN_STOPPED);
    }
}

static void conn_destroy(tbr_stage *n) {
    conn_stage *c = as_conn(n);
    /* the engine emptied every inbox first, so every ticket has settled by now */
    c->state = CONN_STOPPED;
    tbr_conn_deliver_settled(c);
    if (c->has_decoding) { /* not reached: the stop phase took it in */
        c->has_decoding = false;
        tbr_arena_free(c->decoding.arena);
    }
    tbr_chain_set_fini(&c->pre);
    tbr_chain_set_fini(&c->post);
    tbr_conn_destroy_instance(c);
    free(c->pending);
    free(c->sinks);
    free(c->watchers);
    free(c->scratch_ptrs);
    free(c->scratch_ids);
    pthread_mutex_destroy(&c->settled_lock);
    pthread_mutex_destroy(&c->inst_lock);
    tbr_arena_free(c->arena);
}

/* The metrics the connector instance registered (connections, requests, ...), as fields. */
static bool conn_plugin_metrics(tbr_stage *n, tb_arena *a, tb_value *fields, const char **plugin) {
    conn_stage *c = as_conn(n);
    bool ok = true;
    pthread_mutex_lock(&c->inst_lock);
    if (c->inst) {
        *plugin = c->inst->component->plugin->desc.name;
        uint32_t count = tbr_context_metric_count(c->inst->ctx);
        for (uint32_t i = 0; i < count && ok; i++) {
            const tbr_metric *m = tbr_context_metric(c->inst->ctx, i);
            size_t len = strlen(m->name);
            const char *key = tb_arena_dup(a, m->name, len);
            tb_value *slot = key ? tb_object_append(a, fields, key, len) : NULL;
            if (slot) *slot = tb_i64(atomic_load_explicit(&m->value, memory_order_relaxed));
            ok = slot != NULL;
        }
    }
    pthread_mutex_unlock(&c->inst_lock);
    return ok;
}

static const tbr_stage_ops conn_ops = {conn_step, conn_after_wait, conn_enter_phase, conn_destroy, conn_plugin_metrics};

bool tbr_stage_is_connector(const tbr_stage *n) { return n->ops == &conn_ops; }
bool tbr_connector_stage_has_source(const tbr_stage *n) { return ((const conn_stage *)n)->flags & TB_CONNECTOR_SOURCE; }
bool tbr_connector_stage_source_ended(const tbr_stage *n) { return ((const conn_stage *)n)->eof; }
bool tbr_connector_stage_has_sink(const tbr_stage *n) { return ((const conn_stage *)n)->flags & TB_CONNECTOR_SINK; }

void tbr_connector_stage_seal(tbr_stage *n) {
    conn_stage *c = as_conn(n);
    /* a half nothing is connected to stays idle: a stdio connector used only as a sink must
     * not read stdin */
    bool linked = false;
    for (uint32_t i = 0; i < n->nouts; i++) linked = linked || n->outs[i].nlinks;
    if (!linked) c->flags &= ~(uint32_t)TB_CONNECTOR_SOURCE;
}

static int append_stage(tbr_stage ***arr, uint32_t *n, tbr_stage *x) {
    for (uint32_t i = 0; i < *n; i++)
        if ((*arr)[i] == x) return TB_OK;
    tbr_stage **grown = realloc(*arr, (*n + 1) * sizeof *grown);
    if (!grown) return TB_ENOMEM;
    grown[(*n)++] = x;
    *arr = grown;
    return TB_OK;
}

int tbr_connector_stage_add_watcher(tbr_stage *sink, tbr_stage *watcher) {
    conn_stage *si = as_conn(sink);
    return append_stage(&si->watchers, &si->nwatchers, watcher);
}

int tbr_connector_stage_watch_circuit(tbr_stage *source, tbr_stage *sink) {
    conn_stage *so = as_conn(source);
    if (append_stage(&so->sinks, &so->nsinks, sink)) return TB_ENOMEM;
    return tbr_connector_stage_add_watcher(sink, source);
}

bool tbr_connector_stage_circuit_open(tbr_stage *sink) {
    conn_stage *si = as_conn(sink);
    return atomic_load(&si->ever_ran) && atomic_load(&si->circuit_open);
}

uint32_t tbr_connector_stage_ref_count(const tbr_stage *n) {
    const conn_stage *c = (const conn_stage *)n;
    return 2 + c->spec.npre + c->spec.npost;
}

const tbr_component_ref *tbr_connector_stage_ref_at(const tbr_stage *n, uint32_t i) {
    const conn_stage *c = (const conn_stage *)n;
    if (i == 0) return &c->spec.connector;
    if (i == 1) return &c->spec.codec;
    if (i - 2 < c->spec.npre) return &c->spec.pre[i - 2];
    if (i - 2 - c->spec.npre < c->spec.npost) return &c->spec.post[i - 2 - c->spec.npre];
    return NULL;
}

uint32_t tbr_connector_stage_halves(const tbr_stage *n) {
    return ((const conn_stage *)n)->flags & (TB_CONNECTOR_SOURCE | TB_CONNECTOR_SINK);
}

bool tbr_connector_stage_uses(const tbr_stage *n, const tbr_plugin *p, char *buf, size_t size) {
    size_t used = 0;
    buf[0] = 0;
    for (uint32_t i = 0; i < tbr_connector_stage_ref_count(n); i++) {
        const tbr_component_ref *r = tbr_connector_stage_ref_at(n, i);
        if (!r->component || r->component->plugin != p) continue;
        /* the default json codec of a connector that uses none is no use of json */
        if (i == 1 && !tbr_chain_set_uses(&((const conn_stage *)n)->pre, p) && !tbr_chain_set_uses(&((const conn_stage *)n)->post, p))
            continue;
        if (used < size)
            used += (size_t)snprintf(buf + used, size - used, "%s%s %s", used ? ", " : "", tbr_kind_name(r->component->desc.kind),
                                     r->component->desc.name);
    }
    return used > 0;
}

/* The codec of the sink half: none for a sink that takes values, unless one was named. */
static tbr_component_ref *sink_codec(conn_stage *c) {
    return (c->flags & TB_CONNECTOR_SINK_VALUES) && !c->spec.codec_named ? NULL : &c->spec.codec;
}

/* Copies a component reference's configuration into the stage's arena. */
static int own_ref(tb_arena *a, tbr_component_ref *r) { return tbr_value_clone(a, &r->config, &r->config); }

tbr_stage *tbr_connector_stage_new(struct tbr_engine *e, const char *name, const tbr_connector_spec *spec,
                                 char *err, size_t err_size) {
    conn_stage *c = calloc(1, sizeof *c);
    if (!c) goto oom;
    if (tbr_stage_init(&c->base, &conn_ops, e, name, tbr_engine_opts_of(e)->queue_capacity)) {
        free(c);
        goto oom;
    }
    pthread_mutex_init(&c->settled_lock, NULL);
    pthread_mutex_init(&c->inst_lock, NULL);
    c->base.kind = "connector";
    c->spec = *spec;
    c->spec.pre = c->spec.post = NULL;
    c->spec.npre = c->spec.npost = 0;
    c->arena = tbr_arena_new(0);
    c->vt = &spec->connector.component->vt.connector;
    c->flags = c->vt->flags;
    c->source_id = atomic_fetch_add(&next_source_id, 1);
    atomic_init(&c->circuit_open, true);
    if (!c->arena) goto fail_oom;
    c->spec.pre = tb_arena_alloc(c->arena, (spec->npre + 1) * sizeof *spec->pre, 8);
    c->spec.post = tb_arena_alloc(c->arena, (spec->npost + 1) * sizeof *spec->post, 8);
    if (!c->spec.pre || !c->spec.post) goto fail_oom;
    if (spec->npre) memcpy(c->spec.pre, spec->pre, spec->npre * sizeof *spec->pre);
    if (spec->npost) memcpy(c->spec.post, spec->post, spec->npost * sizeof *spec->post);
    c->spec.npre = spec->npre;
    c->spec.npost = spec->npost;
    bool ok = !own_ref(c->arena, &c->spec.connector) && !own_ref(c->arena, &c->spec.codec);
    for (uint32_t i = 0; ok && i < c->spec.npre; i++) ok = !own_ref(c->arena, &c->spec.pre[i]);
    for (uint32_t i = 0; ok && i < c->spec.npost; i++) ok = !own_ref(c->arena, &c->spec.post[i]);
    if (!ok) goto fail_oom;

    static const char *const out_names[] = {"out", "err"};
    static const char *in_name = "in";
    c->base.outs = calloc(2, sizeof *c->base.outs);
    c->base.in_ports = malloc(sizeof *c->base.in_ports);
    if (!c->base.outs || !c->base.in_ports) goto fail_oom;
    if (c->flags & TB_CONNECTOR_SOURCE) {
        c->base.outs[0].name = out_names[0];
        c->base.outs[1].name = out_names[1];
        c->base.nouts = 2;
    }
    c->base.in_ports[0] = in_name;
    c->base.nin = (c->flags & TB_CONNECTOR_SINK) ? 1 : 0;

    if (tbr_conn_create_instance(c, err, err_size) != TB_OK) goto fail;
    tbr_registry *reg = tbr_engine_registry(e);
    if (tbr_chain_set_init(&c->pre, reg, c->base.name, c->base.loop, c->spec.pre, c->spec.npre, &c->spec.codec, TBR_CHAIN_DECODE,
                           err, err_size) ||
        tbr_chain_set_init(&c->post, reg, c->base.name, c->base.loop, c->spec.post, c->spec.npost, sink_codec(c), TBR_CHAIN_ENCODE,
                           err, err_size))
        goto fail;
    c->post.own_source = c->source_id;
    return &c->base;
fail_oom:
    snprintf(err, err_size, "%s: out of memory", name);
fail:
    conn_destroy(&c->base);
    tbr_stage_fini(&c->base);
    free(c);
    return NULL;
oom:
    snprintf(err, err_size, "%s: out of memory", name);
    return NULL;
}
