/*
 * crononome.c - the `crononome` connector: a structured source that emits an event each time
 * one of its cron schedules fires, as Tremor's crononome does. The data of each event is
 *     {"onramp": "crononome", "ingest_ns": <ns>, "id": <n>,
 *      "trigger": {"name": <entry name>, "payload": <entry payload, or null>}}
 * and the event's own id and ingest_ns are the same sequence number and CLOCK_REALTIME time.
 *
 * Schedules are computed in UTC (cron.c). One one-shot host timer is armed for the earliest
 * next fire of all entries; its callback marks the entries that are due and re-arms; pull
 * emits the due ones. An entry whose fires were not pulled yet (a paused or slow flow), or a
 * timer that ran late, yields one event, not a burst: missed fires coalesce.
 *
 * Ownership: the instance and its entry table are host memory; entry names and payloads
 * point into the configuration (valid until destroy) and are copied into the batch arena for
 * every event, so an event never points at the instance.
 * Thread contract: create/destroy on the control thread; start, pause, resume, stop, pull and
 * the timer callback on the instance's thread, never concurrently.
 */
#include <temblor/temblor.h>

#include <time.h>

#include "cron.h"

#define NS_PER_S 1000000000ull

typedef struct entry {
    const char *name;       /* in the configuration */
    size_t name_len;
    const tb_value *payload; /* in the configuration; NULL when not given */
    tbcron cron;
    int64_t next_s;         /* next fire, Unix seconds UTC; -1: never again */
    bool due;               /* fired, not pulled yet */
} entry;

typedef struct crononome {
    const tb_host_api *host;
    tb_context *ctx;
    entry *entries;
    uint32_t count;
    uint64_t timer; /* 0: none armed */
    uint64_t seq;
} crononome;

static uint64_t realtime_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec;
}

/* --- configuration --------------------------------------------------------------------- */

static bool key_is(const tb_member *m, const char *key) {
    return m->key_len == strlen(key) && memcmp(m->key, key, m->key_len) == 0;
}

static int read_entry(const tb_create_args *args, const tb_value *v, uint32_t index, entry *out) {
    const tb_host_api *host = args->host;
    const tb_value *name = tb_object_getz(v, "name"), *expr = tb_object_getz(v, "expr");
    char err[200];
    if (v->type != TB_OBJECT)
        return tb_fail(host, args->ctx, TB_EINVAL,
                       "crononome: entries[%u] must be a record {name, expr, payload}, found %s",
                       index, tb_type_name(v->type));
    if (!name || name->type != TB_STRING)
        return tb_fail(host, args->ctx, TB_EINVAL, "crononome: entries[%u]: 'name' %s", index,
                       name ? "must be a string" : "is missing");
    int nl = (int)(name->len > 64 ? 64 : name->len); /* for messages */
    for (uint32_t k = 0; k < v->len; k++) {
        const tb_member *m = &v->as.members[k];
        if (!key_is(m, "name") && !key_is(m, "expr") && !key_is(m, "payload"))
            return tb_fail(host, args->ctx, TB_EINVAL,
                           "crononome: entry '%.*s' (entries[%u]): unknown field '%.*s' "
                           "(known: name, expr, payload)",
                           nl, name->as.s, index, (int)(m->key_len > 64 ? 64 : m->key_len),
                           m->key);
    }
    if (!expr || expr->type != TB_STRING)
        return tb_fail(host, args->ctx, TB_EINVAL,
                       "crononome: entry '%.*s' (entries[%u]): 'expr' %s", nl, name->as.s, index,
                       expr ? "must be a string" : "is missing");
    if (tbcron_parse(expr->as.s, expr->len, &out->cron, err, sizeof err))
        return tb_fail(host, args->ctx, TB_EINVAL,
                       "crononome: entry '%.*s' (entries[%u]): bad expr \"%.*s\": %s", nl,
                       name->as.s, index, (int)(expr->len > 80 ? 80 : expr->len), expr->as.s, err);
    out->name = name->as.s;
    out->name_len = name->len;
    out->payload = tb_object_getz(v, "payload");
    out->next_s = -1;
    out->due = false;
    return TB_OK;
}

static int TB_CALL create(const tb_create_args *args, void **out) {
    const tb_host_api *host = args->host;
    const tb_value *list = tb_object_getz(args->config, "entries");
    crononome *c;
    int rc;
    if (!list || list->type != TB_ARRAY)
        return tb_fail(host, args->ctx, TB_EINVAL, "crononome: 'entries' must be an array");
    c = host->alloc(args->ctx, sizeof *c);
    if (!c) return TB_ENOMEM;
    memset(c, 0, sizeof *c);
    c->host = host;
    c->ctx = args->ctx;
    if (list->len) {
        c->entries = host->alloc(args->ctx, (size_t)list->len * sizeof *c->entries);
        if (!c->entries) {
            rc = TB_ENOMEM;
            goto fail_entries;
        }
    }
    for (c->count = 0; c->count < list->len; c->count++)
        if ((rc = read_entry(args, &list->as.items[c->count], c->count, &c->entries[c->count])))
            goto fail_entry;
    *out = c;
    return TB_OK;

fail_entry:
    host->free(args->ctx, c->entries);
fail_entries:
    host->free(args->ctx, c);
    return rc;
}

static void disarm(crononome *c) {
    if (c->timer) c->host->timer_stop(c->ctx, c->timer);
    c->timer = 0;
}

static void TB_CALL destroy(void *instance) {
    crononome *c = instance;
    disarm(c);
    c->host->free(c->ctx, c->entries);
    c->host->free(c->ctx, c);
}

/* --- scheduling ------------------------------------------------------------------------ */

static void TB_CALL on_timer(void *user, uint64_t timer_id);

/* Arms the one-shot timer for the earliest next fire of any entry (none if nothing will
 * fire again). The host's timers run on the monotonic clock, cron on the wall clock: the
 * delay is taken from the wall clock now, and an early wake-up simply re-arms. */
static int arm(crononome *c) {
    int64_t first = -1;
    disarm(c);
    for (uint32_t i = 0; i < c->count; i++) {
        int64_t n = c->entries[i].next_s;
        if (n >= 0 && (first < 0 || n < first)) first = n;
    }
    if (first < 0) return TB_OK;
    uint64_t now = realtime_ns(), now_s = now / NS_PER_S, delay = 0;
    if ((uint64_t)first > now_s) {
        uint64_t secs = (uint64_t)first - now_s; /* whole seconds, then back to the boundary */
        delay = secs > UINT64_MAX / NS_PER_S ? UINT64_MAX : secs * NS_PER_S - now % NS_PER_S;
    }
    return c->host->timer_start(c->ctx, delay, 0, on_timer, c, &c->timer);
}

static void TB_CALL on_timer(void *user, uint64_t timer_id) {
    crononome *c = user;
    int64_t now_s = (int64_t)(realtime_ns() / NS_PER_S);
    (void)timer_id;
    c->timer = 0; /* one-shot: it is spent */
    for (uint32_t i = 0; i < c->count; i++) {
        entry *e = &c->entries[i];
        if (e->next_s < 0 || e->next_s > now_s) continue; /* not yet, or never */
        e->due = true;
        /* from now, not from the fire time: fires missed by a late timer are not replayed */
        e->next_s = tbcron_next(&e->cron, now_s);
    }
    int rc = arm(c);
    if (rc)
        tb_log(c->host, c->ctx, TB_LOG_ERROR,
               "crononome: cannot re-arm the schedule timer (status %d); no further events", rc);
}

static int TB_CALL start_source(void *instance) {
    crononome *c = instance;
    int64_t now_s = (int64_t)(realtime_ns() / NS_PER_S);
    for (uint32_t i = 0; i < c->count; i++) {
        entry *e = &c->entries[i];
        e->next_s = tbcron_next(&e->cron, now_s);
        if (e->next_s < 0)
            tb_log(c->host, c->ctx, TB_LOG_WARN, "crononome: entry '%.*s' never fires",
                   (int)(e->name_len > 64 ? 64 : e->name_len), e->name);
    }
    int rc = arm(c);
    if (rc) return tb_fail(c->host, c->ctx, rc, "crononome: cannot start a timer (status %d)", rc);
    return TB_OK;
}

static int TB_CALL pause_source(void *instance) {
    disarm(instance);
    return TB_OK;
}

/* Fires that fell due while paused are emitted once, at once, as Tremor does. */
static int TB_CALL resume_source(void *instance) {
    crononome *c = instance;
    int rc = arm(c);
    if (rc) return tb_fail(c->host, c->ctx, rc, "crononome: cannot start a timer (status %d)", rc);
    return TB_OK;
}

static int TB_CALL stop_source(void *instance) {
    disarm(instance);
    return TB_OK;
}

/* --- events ---------------------------------------------------------------------------- */

/* Deep copy of src into arena a: events must not point into the configuration, which is
 * freed with the instance while they may still be in flight. */
static bool copy_value(tb_arena *a, const tb_value *src, tb_value *dst) {
    *dst = *src;
    dst->flags = 0; /* the copy's storage is exactly sized */
    switch (src->type) {
    case TB_STRING:
    case TB_BYTES:
        dst->as.s = tb_arena_dup(a, src->as.s, src->len);
        return dst->as.s != NULL;
    case TB_ARRAY:
        dst->as.items = tb_arena_alloc(a, (size_t)src->len * sizeof(tb_value) + 1, 8);
        if (!dst->as.items) return false;
        for (uint32_t i = 0; i < src->len; i++)
            if (!copy_value(a, &src->as.items[i], &dst->as.items[i])) return false;
        return true;
    case TB_OBJECT:
        dst->as.members = tb_arena_alloc(a, (size_t)src->len * sizeof(tb_member) + 1, 8);
        if (!dst->as.members) return false;
        for (uint32_t i = 0; i < src->len; i++) {
            const tb_member *m = &src->as.members[i];
            tb_member *n = &dst->as.members[i];
            n->key = tb_arena_dup(a, m->key, m->key_len);
            n->key_len = m->key_len;
            n->reserved = 0;
            if (!n->key || !copy_value(a, &m->value, &n->value)) return false;
        }
        return true;
    default: return true;
    }
}

static bool put(tb_arena *a, tb_value *obj, const char *key, tb_value v) {
    tb_value *slot = tb_object_append(a, obj, key, strlen(key));
    if (slot) *slot = v;
    return slot != NULL;
}

static int emit(crononome *c, const entry *en, tb_batch *out) {
    tb_arena *a = out->arena;
    uint64_t now = realtime_ns();
    tb_value trigger = tb_object(), data = tb_object(), payload = tb_null();
    const char *name = tb_arena_dup(a, en->name, en->name_len);
    tb_event *e;
    if (!name || (en->payload && !copy_value(a, en->payload, &payload))) return TB_ENOMEM;
    if (!put(a, &trigger, "name", tb_string(name, en->name_len)) ||
        !put(a, &trigger, "payload", payload) ||
        !put(a, &data, "onramp", tb_stringz("crononome")) ||
        !put(a, &data, "ingest_ns", tb_i64((int64_t)now)) ||
        !put(a, &data, "id", tb_i64((int64_t)c->seq)) || !put(a, &data, "trigger", trigger) ||
        !(e = tb_batch_push(out)))
        return TB_ENOMEM;
    e->data = data;
    e->meta = tb_object();
    e->id = c->seq++;
    e->ingest_ns = now;
    return TB_OK;
}

/* Emits the due entries, in configuration order, up to the batch's capacity. */
static int TB_CALL pull(void *instance, tb_batch *out) {
    crononome *c = instance;
    bool emitted = false;
    for (uint32_t i = 0; i < c->count; i++) {
        if (!c->entries[i].due) continue;
        if (out->capacity && out->count >= out->capacity) break; /* the rest on the next pull */
        int rc = emit(c, &c->entries[i], out);
        if (rc) return rc;
        c->entries[i].due = false;
        emitted = true;
    }
    return emitted ? TB_OK : TB_EAGAIN;
}

/* --- the descriptor -------------------------------------------------------------------- */

static const tb_option options[] = {
    TB_OPTION("entries", TB_OPT_ARRAY, NULL, TB_OPT_REQUIRED,
              "schedules: [{\"name\": string, \"expr\": cron expression (UTC), \"payload\": any}]"),
};

static const tb_connector_vtable vtable = {
    .struct_size = sizeof(tb_connector_vtable),
    .flags = TB_CONNECTOR_SOURCE | TB_CONNECTOR_STRUCTURED,
    .create = create,
    .destroy = destroy,
    .start = start_source,
    .pause = pause_source,
    .resume = resume_source,
    .stop = stop_source,
    .pull = pull,
};

static const tb_component component = {
    .struct_size = sizeof(tb_component),
    .kind = TB_KIND_CONNECTOR,
    .name = "crononome",
    .description = "emits an event each time one of its cron schedules fires (UTC)",
    .options = options,
    .option_count = sizeof options / sizeof options[0],
    .vtable = &vtable,
};

static const tb_component *const components[] = {&component};

static const tb_plugin_descriptor descriptor = {
    TB_DESCRIPTOR_HEAD,
    .flags = TB_PLUGIN_UNLOAD_SAFE,
    .name = "crononome",
    .version = "0.1.0",
    .description = "The crononome connector",
    .components = components,
    .component_count = 1,
};

TB_PLUGIN_ENTRY(crononome) { return &descriptor; }
