/*
 * batch.c - generic::batch, as Tremor 0.13 has it (tremor-pipeline op/generic/batch.rs):
 * events are held until `count` of them are in, then leave on "out" as one event. With a
 * `timeout` (nanoseconds), the batch also leaves when an event arrives, or a tick comes,
 * more than `timeout` after the first held event's ingest time; a tick never emits an
 * empty batch.
 *
 * The batched event, in temblor's terms:
 *  - data: the array of the held events' data, in arrival order (what Tremor's value
 *    iterator yields for a batched event);
 *  - meta: {"batch": [{"id", "source", "stream", "ingest_ns", "meta"}, ...]}, one record per
 *    held event in the same order: Tremor keeps each event's metadata beside its value and
 *    tracks every original event id in the batch's id so acks and fails reach them all;
 *    temblor's event has one id, so the originals travel here;
 *  - id: the instance's own sequence number of batches, from 0 (Tremor gives the batch a
 *    new id of the operator's); ingest_ns: the first held event's; transactional when any
 *    held event was; source and stream: the held events' when they all share one, else 0.
 *
 * Held events outlive the batch they came in, whose arena dies when process returns, so
 * they are deep-copied into a pool of the instance's own memory and copied back into the
 * output batch's arena when emitted (vcopy.h). An event that cannot be held (too deep, out
 * of memory) goes to "err" with the reason instead.
 *
 * On a reload the new instance takes over the batch being filled (save/restore): every held
 * event in full (data, meta, id, ingest_ns, source, stream, flags), the first event's time
 * the timeout counts from, and the sequence number of the next batch:
 *   {"next_id": n, "first_ns": t,
 *    "events": [{"data", "meta", "id", "ingest_ns", "source", "stream", "flags"}, ...]}
 *
 * Thread contract: create/destroy on the control thread; process, tick, save and restore on
 * the instance's thread.
 */
#include "generic.h"

#include "vcopy.h"

/* One event waiting in the batch; its values live in the pool. */
typedef struct held {
    tb_value data;
    tb_value meta;
    uint64_t id;
    uint64_t ingest_ns;
    uint32_t source;
    uint32_t stream;
    uint16_t flags;
} held;

typedef struct batcher {
    const tb_host_api *host;
    tb_context *ctx;
    uint64_t count;      /* events per batch */
    uint64_t timeout_ns; /* with has_timeout: the longest a batch waits after its first event */
    bool has_timeout;
    held *events;        /* the batch being filled */
    uint32_t len, cap;
    uint64_t first_ns;   /* ingest time of events[0] */
    uint64_t next_id;    /* id of the next batch emitted */
    vc_pool pool;        /* the held events' values */
    uint32_t m_batches, m_events, m_errors;
} batcher;

static const tb_option options[] = {
    TB_OPTION("count", TB_OPT_UINT, NULL, TB_OPT_REQUIRED,
              "events per batch; a full batch is emitted at once"),
    TB_OPTION("timeout", TB_OPT_UINT, NULL, 0,
              "nanoseconds after the first event of a batch when it is emitted even if not full "
              "(checked as events and ticks arrive); absent: no timeout"),
};

/* --- lifecycle -------------------------------------------------------------------------------- */

static void register_metric(batcher *b, const char *name, uint32_t *id) {
    if (b->host->metric_register(b->ctx, name, TB_METRIC_COUNTER, id) != TB_OK) *id = UINT32_MAX;
}

static void count_metric(batcher *b, uint32_t id, int64_t n) {
    if (id != UINT32_MAX) b->host->metric_add(b->ctx, id, n);
}

static int TB_CALL batch_create(const tb_create_args *args, void **out) {
    const tb_host_api *host = args->host;
    uint64_t count = tb_config_u64(args->config, "count", 0);
    /* one batch is one array value, whose length is 32 bits; 0 would never fill */
    if (count == 0 || count > UINT32_MAX)
        return tb_fail(host, args->ctx, TB_EINVAL,
                       "generic::batch: count must be between 1 and %u, found %llu", UINT32_MAX,
                       (unsigned long long)count);
    batcher *b = host->alloc(args->ctx, sizeof *b);
    if (!b) return tb_fail(host, args->ctx, TB_ENOMEM, "generic::batch: out of memory");
    memset(b, 0, sizeof *b);
    b->host = host;
    b->ctx = args->ctx;
    b->count = count;
    const tb_value *timeout = tb_object_getz(args->config, "timeout");
    b->has_timeout = timeout && timeout->type != TB_NULL;
    b->timeout_ns = tb_config_u64(args->config, "timeout", 0);
    tbop_vc_pool_init(&b->pool, host, args->ctx);
    register_metric(b, "batches", &b->m_batches);
    register_metric(b, "events_batched", &b->m_events);
    register_metric(b, "events_failed", &b->m_errors);
    *out = b;
    return TB_OK;
}

static void TB_CALL batch_destroy(void *instance) {
    batcher *b = instance;
    tbop_vc_pool_free(&b->pool);
    b->host->free(b->ctx, b->events);
    b->host->free(b->ctx, b);
}

/* --- holding events --------------------------------------------------------------------------- */

static bool grow_events(batcher *b) {
    if (b->len < b->cap) return true;
    if (b->len >= b->count) return false; /* full: only a flush makes room */
    uint64_t ncap = b->cap ? (uint64_t)b->cap * 2 : 16;
    if (ncap > b->count) ncap = b->count; /* never more than one batch */
    held *n = b->host->realloc(b->ctx, b->events, (size_t)ncap * sizeof *n);
    if (!n) return false;
    b->events = n;
    b->cap = (uint32_t)ncap;
    return true;
}

/* Copies event e into the batch. TB_OK, TB_ENOMEM or TB_EINVAL (nested too deeply). */
static int hold(batcher *b, const tb_event *e) {
    if (!grow_events(b)) return TB_ENOMEM;
    held *h = &b->events[b->len];
    int rc = tbop_vc_to_pool(&b->pool, &e->data, &h->data);
    if (!rc) rc = tbop_vc_to_pool(&b->pool, &e->meta, &h->meta);
    if (rc) return rc;
    h->id = e->id;
    h->ingest_ns = e->ingest_ns;
    h->source = e->source;
    h->stream = e->stream;
    h->flags = e->flags;
    if (b->len++ == 0) b->first_ns = e->ingest_ns;
    return TB_OK;
}

/* Whether the batch has waited more than the timeout by now_ns. A clock behind the first
 * event (out-of-order ingest times) has waited nothing. */
static bool timed_out(const batcher *b, uint64_t now_ns) {
    return b->has_timeout && now_ns > b->first_ns && now_ns - b->first_ns > b->timeout_ns;
}

/* --- emitting --------------------------------------------------------------------------------- */

static tb_value *put(tb_arena *a, tb_value *obj, const char *key) {
    return tb_object_append(a, obj, key, strlen(key));
}

/* The record {"id", "source", "stream", "ingest_ns", "meta"} of held event h. */
static int held_record(tb_arena *a, const held *h, tb_value *rec) {
    tb_value *slot;
    *rec = tb_object();
    if (!(slot = put(a, rec, "id"))) return TB_ENOMEM;
    *slot = tb_u64(h->id);
    if (!(slot = put(a, rec, "source"))) return TB_ENOMEM;
    *slot = tb_u64(h->source);
    if (!(slot = put(a, rec, "stream"))) return TB_ENOMEM;
    *slot = tb_u64(h->stream);
    if (!(slot = put(a, rec, "ingest_ns"))) return TB_ENOMEM;
    *slot = tb_u64(h->ingest_ns);
    if (!(slot = put(a, rec, "meta"))) return TB_ENOMEM;
    return tbop_vc_to_arena(a, &h->meta, slot);
}

/* Builds the batched event's data and meta in arena. */
static int build_values(const batcher *b, tb_arena *a, tb_value *data, tb_value *meta) {
    tb_value *items = tb_arena_alloc(a, (size_t)b->len * sizeof *items, 8);
    tb_value *records = tb_arena_alloc(a, (size_t)b->len * sizeof *records, 8);
    if (!items || !records) return TB_ENOMEM;
    for (uint32_t i = 0; i < b->len; i++) {
        int rc = tbop_vc_to_arena(a, &b->events[i].data, &items[i]);
        if (!rc) rc = held_record(a, &b->events[i], &records[i]);
        if (rc) return rc;
    }
    *data = tb_array();
    data->len = b->len;
    data->as.items = items;
    tb_value list = tb_array();
    list.len = b->len;
    list.as.items = records;
    *meta = tb_object();
    tb_value *slot = put(a, meta, "batch");
    if (!slot) return TB_ENOMEM;
    *slot = list;
    return TB_OK;
}

/* Emits the held events as one event on "out" and empties the batch. On failure the batch
 * is kept, to be emitted by a later call. */
static int flush(batcher *b, tb_batch *out) {
    tb_value data, meta;
    int rc = build_values(b, out->arena, &data, &meta);
    if (rc) return rc;
    tb_event *e = tb_batch_push(out);
    if (!e) return TB_ENOMEM;
    e->data = data;
    e->meta = meta;
    e->id = b->next_id++;
    e->ingest_ns = b->first_ns;
    e->port = GENERIC_PORT_OUT;
    e->source = b->events[0].source;
    e->stream = b->events[0].stream;
    for (uint32_t i = 0; i < b->len; i++) {
        const held *h = &b->events[i];
        if (h->flags & TB_EF_TRANSACTIONAL) e->flags |= TB_EF_TRANSACTIONAL;
        if (h->source != e->source) e->source = 0;
        if (h->stream != e->stream) e->stream = 0;
    }
    count_metric(b, b->m_batches, 1);
    count_metric(b, b->m_events, b->len);
    b->len = 0;
    tbop_vc_pool_reset(&b->pool);
    return TB_OK;
}

/* Passes event e on to "err" with reason. */
static int reject(batcher *b, tb_batch *out, const tb_event *e, const char *reason) {
    tb_event *o = tb_batch_push(out);
    if (!o) return TB_ENOMEM;
    *o = *e;
    o->port = GENERIC_PORT_ERR;
    tb_event_fail(out, o, reason);
    count_metric(b, b->m_errors, 1);
    return TB_OK;
}

static int TB_CALL batch_process(void *instance, uint32_t in_port, tb_batch *in, tb_batch *out) {
    batcher *b = instance;
    for (uint32_t i = 0; i < in->count; i++) {
        const tb_event *e = &in->events[i];
        /* a full batch left by a flush that ran out of memory goes first */
        int rc = b->len == b->count ? flush(b, out) : TB_OK;
        if (rc) return rc;
        rc = hold(b, e);
        if (rc == TB_EINVAL) {
            rc = reject(b, out, e, "generic::batch: cannot hold the event: its value is nested "
                                   "more than 512 levels deep");
        } else if (rc == TB_ENOMEM) {
            rc = reject(b, out, e, "generic::batch: cannot hold the event: out of memory");
        } else if (b->len == b->count || timed_out(b, e->ingest_ns)) {
            rc = flush(b, out);
        }
        if (rc) return rc;
    }
    return TB_OK;
}

static int TB_CALL batch_tick(void *instance, uint64_t now_ns, tb_batch *out) {
    batcher *b = instance;
    if (b->len == 0 || !timed_out(b, now_ns)) return TB_OK;
    return flush(b, out);
}

/* --- handover on a reload --------------------------------------------------------------------- */

/* Held event h as a record in arena, every value copied. */
static int save_held(tb_arena *a, const held *h, tb_value *rec) {
    tb_value *slot;
    *rec = tb_object();
    if (!(slot = tbop_vc_put(a, rec, "data"))) return TB_ENOMEM;
    int rc = tbop_vc_to_arena(a, &h->data, slot);
    if (rc) return rc;
    if (!(slot = tbop_vc_put(a, rec, "meta"))) return TB_ENOMEM;
    if ((rc = tbop_vc_to_arena(a, &h->meta, slot))) return rc;
    static const char *const names[] = {"id", "ingest_ns", "source", "stream", "flags"};
    const uint64_t values[] = {h->id, h->ingest_ns, h->source, h->stream, h->flags};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (!(slot = tbop_vc_put(a, rec, names[i]))) return TB_ENOMEM;
        *slot = tb_u64(values[i]);
    }
    return TB_OK;
}

static int TB_CALL batch_save(void *instance, tb_arena *arena, tb_value *out) {
    batcher *b = instance;
    tb_value saved = tb_object(), events = tb_array();
    tb_value *slot;
    int rc = TB_ENOMEM;
    if (b->len) {
        events.as.items = tb_arena_alloc(arena, (size_t)b->len * sizeof(tb_value), 8);
        if (!events.as.items) goto fail_copy;
        for (; events.len < b->len; events.len++)
            if ((rc = save_held(arena, &b->events[events.len], &events.as.items[events.len])))
                goto fail_copy;
    }
    rc = TB_ENOMEM;
    if (!(slot = tbop_vc_put(arena, &saved, "next_id"))) goto fail_copy;
    *slot = tb_u64(b->next_id);
    if (!(slot = tbop_vc_put(arena, &saved, "first_ns"))) goto fail_copy;
    *slot = tb_u64(b->first_ns);
    if (!(slot = tbop_vc_put(arena, &saved, "events"))) goto fail_copy;
    *slot = events;
    *out = saved;
    return TB_OK;
fail_copy:
    /* held values were copied into the pool once, so they copy again unless memory is out */
    return tb_fail(b->host, b->ctx, rc, "generic::batch: cannot save the batch: %s",
                   rc == TB_ENOMEM ? "out of memory" : "a value is nested too deeply");
}

/* Reads the header of saved event record rec into *h (values not yet copied); false when a
 * member is missing or out of range. */
static bool read_held(const tb_value *rec, held *h) {
    uint64_t id, ingest_ns, source, stream, flags;
    if (!tbop_vc_get_u64(rec, "id", &id) || !tbop_vc_get_u64(rec, "ingest_ns", &ingest_ns) ||
        !tbop_vc_get_u64(rec, "source", &source) || !tbop_vc_get_u64(rec, "stream", &stream) ||
        !tbop_vc_get_u64(rec, "flags", &flags))
        return false;
    if (source > UINT32_MAX || stream > UINT32_MAX || flags > UINT16_MAX) return false;
    if (!tb_object_getz(rec, "data") || !tb_object_getz(rec, "meta")) return false;
    h->id = id;
    h->ingest_ns = ingest_ns;
    h->source = (uint32_t)source;
    h->stream = (uint32_t)stream;
    h->flags = (uint16_t)flags;
    return true;
}

/* Takes over what batch_save wrote: null (a build that kept no state) leaves the batch
 * empty; members this build does not know are ignored. Everything is checked before the
 * instance changes; on running out of memory midway the batch is left empty. */
static int TB_CALL batch_restore(void *instance, const tb_value *saved) {
    batcher *b = instance;
    uint64_t next_id, first_ns;
    held h;
    if (saved->type == TB_NULL) return TB_OK;
    const tb_value *events = tb_object_getz(saved, "events");
    if (!tbop_vc_get_u64(saved, "next_id", &next_id) ||
        !tbop_vc_get_u64(saved, "first_ns", &first_ns) || !events || events->type != TB_ARRAY)
        return tb_fail(b->host, b->ctx, TB_EINVAL,
                       "generic::batch: cannot restore from a %s without unsigned \"next_id\" "
                       "and \"first_ns\" and an array \"events\"",
                       tb_type_name(saved->type));
    if (events->len > b->count)
        return tb_fail(b->host, b->ctx, TB_EINVAL,
                       "generic::batch: cannot restore a batch of %u events with count %llu",
                       events->len, (unsigned long long)b->count);
    for (uint32_t i = 0; i < events->len; i++)
        if (events->as.items[i].type != TB_OBJECT || !read_held(&events->as.items[i], &h))
            return tb_fail(b->host, b->ctx, TB_EINVAL,
                           "generic::batch: cannot restore events[%u]: expected a record of data, "
                           "meta, id, ingest_ns, source, stream and flags (in range)",
                           i);

    b->len = 0;
    tbop_vc_pool_reset(&b->pool);
    if (events->len > b->cap) {
        held *n = b->host->realloc(b->ctx, b->events, (size_t)events->len * sizeof *n);
        if (!n) return tb_fail(b->host, b->ctx, TB_ENOMEM, "generic::batch: out of memory");
        b->events = n;
        b->cap = events->len;
    }
    for (uint32_t i = 0; i < events->len; i++) {
        const tb_value *rec = &events->as.items[i];
        held *dst = &b->events[i];
        read_held(rec, dst);
        int rc = tbop_vc_to_pool(&b->pool, tb_object_getz(rec, "data"), &dst->data);
        if (!rc) rc = tbop_vc_to_pool(&b->pool, tb_object_getz(rec, "meta"), &dst->meta);
        if (rc) {
            tbop_vc_pool_reset(&b->pool);
            return tb_fail(b->host, b->ctx, rc, "generic::batch: cannot restore events[%u]: %s",
                           i, rc == TB_ENOMEM ? "out of memory" : "nested too deeply");
        }
    }
    b->len = events->len;
    b->first_ns = first_ns;
    b->next_id = next_id;
    return TB_OK;
}

static const char *const ports[] = {"out", "err", NULL};

static const tb_operator_vtable vtable = {
    .struct_size = sizeof(tb_operator_vtable),
    .output_ports = ports,
    .create = batch_create,
    .destroy = batch_destroy,
    .process = batch_process,
    .tick = batch_tick,
    .save = batch_save,
    .restore = batch_restore,
};

const tb_component tbop_generic_batch = {
    .struct_size = sizeof(tb_component),
    .kind = TB_KIND_OPERATOR,
    .name = "generic::batch",
    .description = "collects events into one event whose data is the array of theirs",
    .options = options,
    .option_count = sizeof options / sizeof options[0],
    .vtable = &vtable,
};
