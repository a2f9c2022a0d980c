/* chain.c - preprocessors, codec and postprocessors of a connector, per stream. */
#define _GNU_SOURCE
#include "engine/chain.h"

#include "isolate/proxy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "host/context.h"

int tbr_chain_set_init(tbr_chain_set *s, tbr_registry *reg, const char *label, struct tbr_loop *loop,
                       tbr_component_ref *procs, uint32_t nprocs, tbr_component_ref *codec, tbr_chain_dir dir,
                       char *err, size_t err_size) {
    *s = (tbr_chain_set){.reg = reg, .label = label, .loop = loop, .procs = procs, .nprocs = nprocs, .dir = dir};
    /* processors are created per stream, later; a configuration they refuse is found now,
     * when the flow is deployed, not when the first event of a stream comes */
    for (uint32_t i = 0; i < nprocs; i++) {
        tbr_instance *probe;
        char why[512];
        if (tbr_instance_create(reg, procs[i].component, label, &procs[i].config, loop, 0, &probe, why, sizeof why)) {
            snprintf(err, err_size, "%s %s: %s", tbr_kind_name(procs[i].component->desc.kind), procs[i].component->desc.name, why);
            return TB_EINVAL;
        }
        tbr_instance_destroy(probe);
    }
    if (!codec || !codec->component) return TB_OK;
    s->codec_ref = codec;
    return tbr_instance_create(reg, codec->component, label, &codec->config, loop, 0, &s->codec, err, err_size);
}

static void chain_free(tbr_chain_set *s, tbr_chain *c) {
    for (uint32_t i = 0; c->procs && i < s->nprocs; i++) tbr_instance_destroy(c->procs[i]);
    free(c->procs);
}

void tbr_chain_set_fini(tbr_chain_set *s) {
    for (uint32_t i = 0; i < s->nchains; i++) chain_free(s, &s->chains[i]);
    free(s->chains);
    tbr_stream_map_fini(&s->index);
    tbr_instance_destroy(s->codec);
    s->chains = NULL;
    s->nchains = 0;
    s->codec = NULL;
}

/* The chain of stream, created on first use; NULL (logged) when a processor refuses. */
static tbr_chain *chain_of(tbr_chain_set *s, uint32_t stream) {
    if (s->last < s->nchains && s->chains[s->last].stream == stream) return &s->chains[s->last];
    int64_t at = tbr_stream_map_get(&s->index, stream);
    if (at >= 0) return &s->chains[s->last = (uint32_t)at];
    if (s->nchains == s->cap) {
        uint32_t ncap = s->cap ? s->cap * 2 : 4;
        tbr_chain *n = realloc(s->chains, ncap * sizeof *n);
        if (!n) return NULL;
        s->chains = n;
        s->cap = ncap;
    }
    tbr_chain c = {stream, calloc(s->nprocs, sizeof(tbr_instance *))};
    if (!c.procs) return NULL;
    for (uint32_t i = 0; i < s->nprocs; i++) {
        char err[512];
        if (tbr_instance_create(s->reg, s->procs[i].component, s->label, &s->procs[i].config, s->loop, stream,
                                &c.procs[i], err, sizeof err)) {
            tbr_log(TB_LOG_ERROR, s->label, "%s", err);
            chain_free(s, &c);
            return NULL;
        }
    }
    if (!tbr_stream_map_put(&s->index, stream, s->nchains)) {
        chain_free(s, &c);
        return NULL;
    }
    s->chains[s->nchains] = c;
    return &s->chains[s->last = s->nchains++];
}

static void chain_end(tbr_chain_set *s, tbr_chain *c) {
    tbr_stream_map_remove(&s->index, c->stream);
    chain_free(s, c);
    *c = s->chains[--s->nchains];
    /* the last chain took the freed place */
    if (c != &s->chains[s->nchains]) tbr_stream_map_put(&s->index, c->stream, (uint32_t)(c - s->chains));
    s->last = 0;
}

void tbr_chain_end_stream(tbr_chain_set *s, uint32_t stream) {
    int64_t at = tbr_stream_map_get(&s->index, stream);
    if (at >= 0) chain_end(s, &s->chains[at]);
}

void tbr_chain_end_every_stream(tbr_chain_set *s) {
    while (s->nchains) chain_end(s, &s->chains[s->nchains - 1]);
}

static int append_all(tb_batch *dst, const tb_event *events, uint32_t n) {
    for (uint32_t i = 0; i < n; i++) {
        tb_event *e = tb_batch_push(dst);
        if (!e) return TB_ENOMEM;
        *e = events[i];
    }
    return TB_OK;
}

/* Every event of in failed because processor k did: marked, and appended to out. */
static int fail_all(tbr_chain_set *s, tbr_chain *c, uint32_t k, int rc, tb_batch *in, tb_batch *out) {
    const char *why = tbr_context_error(c->procs[k]->ctx);
    for (uint32_t i = 0; i < in->count; i++) {
        tb_event *e = tb_batch_push(out);
        if (!e) return TB_ENOMEM;
        *e = in->events[i];
        tb_event_failf(out, e, "%s %s failed: %s", tbr_kind_name(s->procs[k].component->desc.kind),
                       s->procs[k].component->desc.name, why[0] ? why : tbr_status_name(rc));
    }
    return TB_OK;
}

/* Runs in through processors from..nprocs-1 of c; appends the result to out. */
static int run_from(tbr_chain_set *s, tbr_chain *c, uint32_t from, tb_batch *in, tb_batch *out) {
    tb_batch cur = *in;
    for (uint32_t k = from; k < s->nprocs; k++) {
        tb_batch next = {0};
        next.arena = out->arena;
        tbr_context_clear_error(c->procs[k]->ctx);
        int rc = c->procs[k]->component->vt.processor.process(c->procs[k]->state, &cur, &next);
        if (rc != TB_OK) return fail_all(s, c, k, rc, &cur, out);
        cur = next;
    }
    return append_all(out, cur.events, cur.count);
}

/* Flushes every processor of c in order, each one's remainder through those after it. end is
 * the event that ended the stream, in out's arena, or NULL (a flush at stop). */
static int finish(tbr_chain_set *s, tbr_chain *c, tb_batch *out, const tb_event *end) {
    for (uint32_t k = 0; k < s->nprocs; k++) {
        if (!c->procs[k]->component->vt.processor.finish) continue;
        tb_batch rest = {0};
        rest.arena = out->arena;
        tbr_context_clear_error(c->procs[k]->ctx);
        int rc = c->procs[k]->component->vt.processor.finish(c->procs[k]->state, &rest);
        if (rc != TB_OK) {
            tbr_log(TB_LOG_WARN, s->label, "%s finishing a stream failed: %s", s->procs[k].component->desc.name,
                    tbr_context_error(c->procs[k]->ctx));
            continue;
        }
        /* what a processor gives up at the end belongs to its stream, whatever it filled in
         * (a server answers on the connection a last, unterminated line came from) */
        for (uint32_t i = 0; i < rest.count; i++) {
            tb_event *e = &rest.events[i];
            if (!e->stream) e->stream = c->stream;
            /* an event the processor made from nothing (no id, meta or time) is the stream's last
             * record: it carries what the event ending the stream carried, so its source hears of
             * it (a transactional id) and a pipeline sees its meta (where an http request came
             * from) */
            if (end && !e->id && e->meta.type == TB_NULL && !e->ingest_ns) {
                e->id = end->id;
                e->meta = end->meta;
                e->ingest_ns = end->ingest_ns;
                e->source = end->source;
                e->flags |= (uint16_t)(end->flags & TB_EF_TRANSACTIONAL);
            }
        }
        if (rest.count && run_from(s, c, k + 1, &rest, out)) return TB_ENOMEM;
    }
    return TB_OK;
}

/* The stream whose chain e goes through. */
static uint32_t stream_key(const tbr_chain_set *s, const tb_event *e) {
    return s->own_source && e->source != s->own_source ? 0 : e->stream;
}

/* Runs b's events through their streams' chains into a new event list. */
static int process_streams(tbr_chain_set *s, tb_batch *b, bool stream_ends) {
    tb_batch out = {0};
    out.arena = b->arena;
    uint32_t i = 0;
    while (i < b->count) {
        const tb_event *e = &b->events[i];
        /* on the source side a failed event is done; on the sink side it is a record */
        uint16_t skip = stream_ends ? (TB_EF_ERROR | TB_EF_DROPPED) : TB_EF_DROPPED;
        if (!(e->flags & TB_EF_RAW) || (e->flags & skip)) {
            if (append_all(&out, e, 1)) return TB_ENOMEM;
            i++;
            continue;
        }
        /* a run of raw events of one stream, up to and including one that ends it */
        uint32_t j = i, key = stream_key(s, e);
        bool ends = false;
        while (j < b->count && stream_key(s, &b->events[j]) == key && (b->events[j].flags & TB_EF_RAW) &&
               !(b->events[j].flags & skip)) {
            if (stream_ends && (b->events[j++].flags & TB_EF_STREAM_END)) {
                ends = true;
                break;
            }
            if (!stream_ends) j++;
        }
        tbr_chain *c = chain_of(s, key);
        if (!c) {
            for (uint32_t k = i; k < j; k++) {
                tb_event *f = tb_batch_push(&out);
                if (!f) return TB_ENOMEM;
                *f = b->events[k];
                tb_event_failf(&out, f, "the stream's processors could not be created");
            }
            i = j;
            continue;
        }
        tb_batch run = {0};
        run.arena = b->arena;
        run.events = &b->events[i];
        run.count = run.capacity = j - i;
        /* the marker's own bytes, if any, are data like any other */
        if (ends && b->events[j - 1].data.type == TB_BYTES && b->events[j - 1].data.len == 0) run.count--;
        if (run.count && run_from(s, c, 0, &run, &out)) return TB_ENOMEM;
        if (ends) {
            if (finish(s, c, &out, &b->events[j - 1])) return TB_ENOMEM;
            chain_end(s, c);
        }
        i = j;
    }
    b->events = out.events;
    b->count = out.count;
    b->capacity = out.capacity;
    return TB_OK;
}

static int finish_every_stream(tbr_chain_set *s, tb_batch *b) {
    while (s->nchains) {
        if (finish(s, &s->chains[0], b, NULL)) return TB_ENOMEM;
        chain_end(s, &s->chains[0]);
    }
    return TB_OK;
}

/* After the codec's call returned rc: a failure of the whole batch marks every event it was to
 * handle. */
static int codec_done(tbr_chain_set *s, tb_batch *b, int rc) {
    if (rc == TB_OK) return TB_OK;
    const char *why = tbr_context_error(s->codec->ctx);
    for (uint32_t i = 0; i < b->count; i++) {
        tb_event *e = &b->events[i];
        bool raw = e->flags & TB_EF_RAW;
        if ((e->flags & (TB_EF_ERROR | TB_EF_DROPPED)) || raw != (s->dir == TBR_CHAIN_DECODE)) continue;
        tb_event_failf(b, e, "codec %s failed: %s", s->codec->component->desc.name, why[0] ? why : tbr_status_name(rc));
    }
    return rc == TB_ENOMEM ? TB_ENOMEM : TB_OK;
}

/* Calls the codec. */
static int run_codec(tbr_chain_set *s, tb_batch *b) {
    if (!s->codec || !b->count) return TB_OK;
    const tb_codec_vtable *vt = &s->codec->component->vt.codec;
    tbr_context_clear_error(s->codec->ctx);
    int rc = s->dir == TBR_CHAIN_DECODE ? vt->decode(s->codec->state, b) : vt->encode(s->codec->state, b);
    return codec_done(s, b, rc);
}

/* The processors' part of a decode. */
static int decode_processors(tbr_chain_set *s, tb_batch *b, bool finish_all) {
    if (s->nprocs) {
        if (process_streams(s, b, true)) return TB_ENOMEM;
        if (finish_all && finish_every_stream(s, b)) return TB_ENOMEM;
    } else {
        /* no processors: stream ends carry nothing to flush; an empty marker is no event */
        for (uint32_t i = 0; i < b->count; i++) {
            tb_event *e = &b->events[i];
            if ((e->flags & TB_EF_STREAM_END) && e->data.type == TB_BYTES && e->data.len == 0) e->flags |= TB_EF_DROPPED;
        }
    }
    return TB_OK;
}

int tbr_chain_decode(tbr_chain_set *s, tb_batch *b, bool finish_all) {
    int rc = decode_processors(s, b, finish_all);
    return rc ? rc : run_codec(s, b);
}

int tbr_chain_decode_submit(tbr_chain_set *s, tb_batch *b, bool finish_all, bool *submitted) {
    *submitted = false;
    int rc = decode_processors(s, b, finish_all);
    if (rc) return rc;
    if (s->codec && s->codec->isolated && b->count) {
        tbr_context_clear_error(s->codec->ctx);
        *submitted = tbr_proxy_codec_submit(s->codec->state, b, false) == TB_OK;
    }
    return TB_OK;
}

int tbr_chain_decode_complete(tbr_chain_set *s, tb_batch *b, bool submitted) {
    if (!submitted) return run_codec(s, b);
    return codec_done(s, b, tbr_proxy_codec_complete(s->codec->state, b, false));
}

int tbr_chain_flush(tbr_chain_set *s, tb_batch *b) { return finish_every_stream(s, b); }

int tbr_chain_encode_submit(tbr_chain_set *s, tb_batch *b, bool *submitted) {
    *submitted = false;
    if (!s->codec || !s->codec->isolated || !b->count) return TB_OK;
    tbr_context_clear_error(s->codec->ctx);
    *submitted = tbr_proxy_codec_submit(s->codec->state, b, true) == TB_OK;
    return TB_OK;
}

int tbr_chain_encode_complete(tbr_chain_set *s, tb_batch *b, bool submitted) {
    if (!submitted) return tbr_chain_encode(s, b);
    int rc = codec_done(s, b, tbr_proxy_codec_complete(s->codec->state, b, true));
    if (rc == TB_OK && s->nprocs) rc = process_streams(s, b, false);
    return rc;
}

int tbr_chain_encode(tbr_chain_set *s, tb_batch *b) {
    int rc = run_codec(s, b);
    if (rc == TB_OK && s->nprocs) rc = process_streams(s, b, false);
    return rc;
}

bool tbr_chain_set_uses(const tbr_chain_set *s, const tbr_plugin *p) {
    if (s->codec_ref && s->codec_ref->component->plugin == p) return true;
    for (uint32_t i = 0; i < s->nprocs; i++)
        if (s->procs[i].component->plugin == p) return true;
    return false;
}

/* The component of `to` that takes the place of c. */
static const tbr_component *counterpart(const tbr_plugin *to, const tbr_component *c, char *err, size_t n) {
    const tbr_component *found = tbr_plugin_component(to, c->desc.kind, c->desc.name);
    if (!found) snprintf(err, n, "the new build has no %s '%s'", tbr_kind_name(c->desc.kind), c->desc.name);
    return found;
}

/* Replaces processor k of chain c by an instance of comp, handing over what the old one
 * buffers. */
static int swap_processor(tbr_chain_set *s, tbr_chain *c, uint32_t k, const tbr_component *comp, tb_batch *out, char *err,
                          size_t n) {
    tbr_instance *fresh, *old = c->procs[k];
    int rc = tbr_instance_create(s->reg, comp, s->label, &s->procs[k].config, s->loop, c->stream, &fresh, err, n);
    if (rc) return rc;
    tb_batch rest = {0};
    rest.arena = out->arena;
    if (old->component->vt.processor.finish) {
        tbr_context_clear_error(old->ctx);
        if (old->component->vt.processor.finish(old->state, &rest) != TB_OK)
            tbr_log(TB_LOG_WARN, s->label, "%s: handing over its buffered data failed: %s", comp->desc.name, tbr_context_error(old->ctx));
    }
    tbr_instance_destroy(old);
    c->procs[k] = fresh;
    if (!rest.count) return TB_OK;
    /* decoding, the old instance's remainder is input the new one has not seen yet; encoding,
     * it is the end of what the old one produced */
    return run_from(s, c, s->dir == TBR_CHAIN_DECODE ? k : k + 1, &rest, out) ? TB_ENOMEM : TB_OK;
}

int tbr_chain_set_swap(tbr_chain_set *s, const tbr_plugin *from, const tbr_plugin *to, tb_batch *out, char *err, size_t n) {
    if (s->codec && s->codec->component->plugin == from) {
        const tbr_component *comp = counterpart(to, s->codec->component, err, n);
        tbr_instance *fresh;
        if (!comp || tbr_instance_create(s->reg, comp, s->label, &s->codec_ref->config, s->loop, 0, &fresh, err, n)) return TB_EINVAL;
        tbr_instance_destroy(s->codec);
        s->codec = fresh;
        s->codec_ref->component = comp;
    }
    for (uint32_t k = 0; k < s->nprocs; k++) {
        if (s->procs[k].component->plugin != from) continue;
        const tbr_component *comp = counterpart(to, s->procs[k].component, err, n);
        if (!comp) return TB_EINVAL;
        for (uint32_t i = 0; i < s->nchains; i++) {
            int rc = swap_processor(s, &s->chains[i], k, comp, out, err, n);
            if (rc) return rc;
        }
        /* streams that start from now on get the new build */
        s->procs[k].component = comp;
    }
    return TB_OK;
}
