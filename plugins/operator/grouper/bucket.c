/*
 * bucket.c - the `grouper` operator plugin: grouper::bucket, per-class rate limiting with
 * sliding windows, as Tremor 0.13 has it (tremor-pipeline op/grouper/bucket.rs and the
 * TimeWindow of Tremor's `window` crate).
 *
 * Everything is read from the event's metadata:
 *  - $class (string, required): the bucket; an event without one goes to "err";
 *  - $dimensions (any, optional): within a class, each distinct value gets its own window
 *    (absent counts as null);
 *  - $rate (unsigned integer): events allowed per $time_range in a new window; needed only
 *    when the (class, dimensions) pair has no window yet, as in Tremor;
 *  - $time_range (milliseconds, default 1000) and $windows (slots, default 100): the shape
 *    of a new window, which slides one slot of $time_range / $windows ms at a time;
 *  - $cardinality (default 1000): when a class is first seen, how many dimension windows it
 *    keeps; beyond that the least recently used one is forgotten (Tremor's LRU cache).
 * An event that fits its window leaves on "out"; one over the limit on "overflow". Time is
 * the event's ingest_ns, never a clock, so the operator is deterministic.
 *
 * Where Tremor would misbehave, this refuses instead, to "err" with the reason (events are
 * marked with tb_event_fail): metadata of the wrong type (Tremor falls back to defaults),
 * $windows of 0 or $time_range shorter than $windows (Tremor divides by zero or loops
 * forever), $cardinality of 0 (Tremor panics).
 *
 * Memory stays bounded, which Tremor's does not (it keeps every class forever): the options
 * cap classes (least recently used evicted whole), dimension windows across all classes
 * (least recently used evicted first, also when an allocation fails), slots per window,
 * and the size of a dimensions value.
 *
 * On a reload the new instance takes over every class and window (save/restore), in their
 * order of use, so limits and evictions go on as if nothing happened:
 *   {"classes": [{"name", "cardinality"}, ...],
 *    "windows": [{"class": <index in classes>, "dimensions": <the value>, "rate", "slot_ms",
 *                 "last_tick": <ingest_ns>, "slots": [<count>, ...]}, ...]}
 * both lists most recently used first, a window's slots from the oldest to the current one.
 * Dimensions travel as values, not as this build's encoding of them.
 *
 * Thread contract: create/destroy on the control thread; process, save and restore on the
 * instance's thread. The instance is not shared.
 */
#include <temblor/temblor.h>

enum { PORT_OUT = 0, PORT_ERR = 1, PORT_OVERFLOW = 2 };

/* The encoded $dimensions of one window may not exceed this many bytes. */
#define BUCKET_MAX_KEY 4096u
/* Nor nest deeper than this. */
#define BUCKET_MAX_DEPTH 64u

/* --- intrusive lists, most recently used at the front ----------------------------------------- */

typedef struct link {
    struct link *prev, *next;
} link;

#define CONTAINER(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

static void list_init(link *head) { head->prev = head->next = head; }
static bool list_empty(const link *head) { return head->next == head; }

static void list_unlink(link *l) {
    l->prev->next = l->next;
    l->next->prev = l->prev;
}

static void list_push_front(link *head, link *l) {
    l->next = head->next;
    l->prev = head;
    head->next->prev = l;
    head->next = l;
}

static void list_touch(link *head, link *l) {
    list_unlink(l);
    list_push_front(head, l);
}

/* --- state ------------------------------------------------------------------------------------ */

/* Entries of the chained hash tables (classes, windows) start with this. */
typedef struct hentry {
    struct hentry *next; /* chain */
    uint64_t hash;
} hentry;

typedef struct htable {
    hentry **slots;
    size_t mask; /* slots - 1, slots a power of two */
    uint64_t count;
} htable;

typedef struct bclass bclass;

/* The window of one (class, dimensions) pair: Tremor's TimeWindow. */
typedef struct bdim {
    hentry h;           /* first: by (class, key) in the instance's table */
    link in_class;      /* in its class's list */
    link in_all;        /* in the instance's list of every window */
    bclass *cls;
    const uint8_t *key; /* the encoded $dimensions, stored after slots */
    uint32_t key_len;
    uint32_t size;      /* slots */
    uint32_t pos;       /* the current slot */
    uint64_t max;       /* events allowed across all slots */
    uint64_t slot_ms;   /* what one slot covers */
    uint64_t window_ms; /* slot_ms * size */
    uint64_t last_tick; /* ingest_ns when the window last moved */
    uint64_t sum;       /* events in every slot but the current one */
    uint64_t slots[];
} bdim;

struct bclass {
    hentry h;  /* first: by name in the instance's table */
    link lru;  /* in the instance's list of classes */
    link dims; /* its windows */
    uint64_t cardinality; /* windows it may keep */
    uint64_t ndims; /* windows it has */
    uint64_t ordinal; /* its index in the list save writes, while save runs */
    uint32_t name_len;
    char name[];
};

typedef struct bucket {
    const tb_host_api *host;
    tb_context *ctx;
    uint64_t max_classes, max_dimensions, max_windows;
    uint64_t seed; /* of the hash, so metadata cannot aim at one chain */

    htable classes_by_name;
    link classes;
    htable dims_by_key;
    link dims;

    uint8_t *kbuf; /* the key being encoded */
    size_t klen, kcap;

    uint32_t m_pass, m_overflow, m_errors, m_evicted, m_classes, m_dims;
} bucket;

static const tb_option options[] = {
    TB_OPTION("max_classes", TB_OPT_UINT, "1000", 0,
              "classes tracked at once; the least recently used is forgotten beyond it"),
    TB_OPTION("max_dimensions", TB_OPT_UINT, "100000", 0,
              "dimension windows tracked across all classes; the least recently used is "
              "forgotten beyond it"),
    TB_OPTION("max_windows", TB_OPT_UINT, "1000", 0,
              "the largest $windows an event may ask for; more goes to err"),
};

/* --- metrics ---------------------------------------------------------------------------------- */

static void metric_register(bucket *b, const char *name, uint32_t type, uint32_t *id) {
    if (b->host->metric_register(b->ctx, name, type, id) != TB_OK) *id = UINT32_MAX;
}

static void metric_add(bucket *b, uint32_t id, int64_t n) {
    if (id != UINT32_MAX) b->host->metric_add(b->ctx, id, n);
}

static void metric_set(bucket *b, uint32_t id, uint64_t v) {
    if (id != UINT32_MAX) b->host->metric_set(b->ctx, id, (int64_t)v);
}

/* --- hash tables ------------------------------------------------------------------------------ */

/* FNV-1a, started from the instance's seed. */
static uint64_t hash_bytes(uint64_t h, const void *p, size_t n) {
    const uint8_t *s = p;
    h ^= 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) {
        h ^= s[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

static bool table_init(bucket *b, htable *t, size_t slots) {
    t->slots = b->host->alloc(b->ctx, slots * sizeof *t->slots);
    if (!t->slots) return false;
    memset(t->slots, 0, slots * sizeof *t->slots);
    t->mask = slots - 1;
    t->count = 0;
    return true;
}

/* Doubles the table once it holds more than one entry per slot. Growth only speeds lookups
 * up: when memory is short the table stays as it is. */
static void table_grow(bucket *b, htable *t) {
    if (t->count <= t->mask || t->mask >= SIZE_MAX / 2 / sizeof *t->slots) return;
    size_t ncap = (t->mask + 1) * 2;
    hentry **n = b->host->alloc(b->ctx, ncap * sizeof *n);
    if (!n) return;
    memset(n, 0, ncap * sizeof *n);
    for (size_t i = 0; i <= t->mask; i++)
        for (hentry *e = t->slots[i], *next; e; e = next) {
            next = e->next;
            e->next = n[e->hash & (ncap - 1)];
            n[e->hash & (ncap - 1)] = e;
        }
    b->host->free(b->ctx, t->slots);
    t->slots = n;
    t->mask = ncap - 1;
}

static void table_insert(bucket *b, htable *t, hentry *e, uint64_t hash) {
    e->hash = hash;
    e->next = t->slots[hash & t->mask];
    t->slots[hash & t->mask] = e;
    t->count++;
    table_grow(b, t);
}

static void table_remove(htable *t, hentry *e) {
    hentry **p = &t->slots[e->hash & t->mask];
    while (*p != e) p = &(*p)->next;
    *p = e->next;
    t->count--;
}

/* Frees every entry and the table. */
static void table_free(bucket *b, htable *t) {
    if (!t->slots) return;
    for (size_t i = 0; i <= t->mask; i++)
        for (hentry *e = t->slots[i], *next; e; e = next) {
            next = e->next;
            b->host->free(b->ctx, e);
        }
    b->host->free(b->ctx, t->slots);
    t->slots = NULL;
}

/* --- windows ---------------------------------------------------------------------------------- */

static void window_clear(bdim *d) {
    memset(d->slots, 0, (size_t)d->size * sizeof d->slots[0]);
    d->sum = 0;
    d->pos = 0;
}

/* Moves the window one slot on: the oldest slot is dropped and becomes the current one. */
static void window_step(bdim *d) {
    uint64_t last = d->slots[d->pos];
    d->pos = (d->pos + 1) % d->size;
    d->sum = d->sum - d->slots[d->pos] + last;
    d->slots[d->pos] = 0;
}

/* Counts one event at now_ns if the window allows it. Like Tremor's TimeWindow::inc_t: the
 * window moves one slot per whole slot_ms elapsed since it last moved (only once more than
 * a slot has passed), and is emptied once more than the whole window has. An event older
 * than the last move counts in the current slot (Tremor's unsigned arithmetic would wrap
 * and empty the window instead). */
static bool window_inc(bdim *d, uint64_t now_ns) {
    uint64_t delta = now_ns > d->last_tick ? (now_ns - d->last_tick) / 1000000u : 0;
    if (delta > d->window_ms) {
        window_clear(d);
        d->last_tick = now_ns;
    } else if (delta > d->slot_ms) {
        while (delta > d->slot_ms) {
            delta -= d->slot_ms;
            window_step(d);
        }
        d->last_tick = now_ns;
    }
    if (d->sum + d->slots[d->pos] >= d->max) return false;
    d->slots[d->pos]++;
    return true;
}

/* --- lifecycle -------------------------------------------------------------------------------- */

static int TB_CALL bucket_create(const tb_create_args *args, void **out) {
    const tb_host_api *host = args->host;
    uint64_t max_classes = tb_config_u64(args->config, "max_classes", 1000);
    uint64_t max_dimensions = tb_config_u64(args->config, "max_dimensions", 100000);
    uint64_t max_windows = tb_config_u64(args->config, "max_windows", 1000);
    if (!max_classes || !max_dimensions || !max_windows)
        return tb_fail(host, args->ctx, TB_EINVAL,
                       "grouper::bucket: max_classes, max_dimensions and max_windows must be at "
                       "least 1");
    /* a window's slots are one allocation with a 32-bit count */
    if (max_windows > UINT32_MAX / sizeof(uint64_t))
        return tb_fail(host, args->ctx, TB_EINVAL,
                       "grouper::bucket: max_windows must be at most %zu, found %llu",
                       (size_t)(UINT32_MAX / sizeof(uint64_t)), (unsigned long long)max_windows);
    bucket *b = host->alloc(args->ctx, sizeof *b);
    if (!b) return tb_fail(host, args->ctx, TB_ENOMEM, "grouper::bucket: out of memory");
    memset(b, 0, sizeof *b);
    b->host = host;
    b->ctx = args->ctx;
    b->max_classes = max_classes;
    b->max_dimensions = max_dimensions;
    b->max_windows = max_windows;
    b->seed = (uint64_t)(uintptr_t)b;
    if (TB_HAS_FIELD(host, tb_host_api, now_ns)) b->seed ^= host->now_ns();
    list_init(&b->classes);
    list_init(&b->dims);
    if (!table_init(b, &b->classes_by_name, 16) || !table_init(b, &b->dims_by_key, 64)) {
        table_free(b, &b->classes_by_name);
        host->free(args->ctx, b);
        return tb_fail(host, args->ctx, TB_ENOMEM, "grouper::bucket: out of memory");
    }
    metric_register(b, "pass", TB_METRIC_COUNTER, &b->m_pass);
    metric_register(b, "overflow", TB_METRIC_COUNTER, &b->m_overflow);
    metric_register(b, "errors", TB_METRIC_COUNTER, &b->m_errors);
    metric_register(b, "evicted", TB_METRIC_COUNTER, &b->m_evicted);
    metric_register(b, "classes", TB_METRIC_GAUGE, &b->m_classes);
    metric_register(b, "dimensions", TB_METRIC_GAUGE, &b->m_dims);
    *out = b;
    return TB_OK;
}

static void TB_CALL bucket_destroy(void *instance) {
    bucket *b = instance;
    table_free(b, &b->dims_by_key);
    table_free(b, &b->classes_by_name);
    b->host->free(b->ctx, b->kbuf);
    b->host->free(b->ctx, b);
}

/* --- windows by (class, key) ------------------------------------------------------------------ */

static uint64_t dim_hash(const bucket *b, const bclass *c, const uint8_t *key, size_t len) {
    return hash_bytes(b->seed ^ (c->h.hash * 0x9e3779b97f4a7c15ull), key, len);
}

static bdim *dim_find(bucket *b, const bclass *c, uint64_t h, const uint8_t *key, size_t len) {
    const htable *t = &b->dims_by_key;
    for (hentry *e = t->slots[h & t->mask]; e; e = e->next) {
        bdim *d = (bdim *)e;
        if (e->hash == h && d->cls == c && d->key_len == len && memcmp(d->key, key, len) == 0)
            return d;
    }
    return NULL;
}

static void dim_free(bucket *b, bdim *d) {
    table_remove(&b->dims_by_key, &d->h);
    list_unlink(&d->in_class);
    list_unlink(&d->in_all);
    d->cls->ndims--;
    b->host->free(b->ctx, d);
}

static void dim_remove(bucket *b, bdim *d) {
    dim_free(b, d);
    metric_add(b, b->m_evicted, 1);
}

/* Forgets the least recently used window of all; false when there is none. */
static bool evict_oldest_dim(bucket *b) {
    if (list_empty(&b->dims)) return false;
    dim_remove(b, CONTAINER(b->dims.prev, bdim, in_all));
    return true;
}

/* Makes d, allocated with room for d->size slots and the key in b->kbuf after them, the most
 * recently used window of class c, under hash h. */
static void dim_link(bucket *b, bclass *c, bdim *d, uint64_t h) {
    uint8_t *key = (uint8_t *)d->slots + (size_t)d->size * sizeof d->slots[0];
    memcpy(key, b->kbuf, b->klen);
    d->cls = c;
    d->key = key;
    d->key_len = (uint32_t)b->klen;
    list_push_front(&c->dims, &d->in_class);
    list_push_front(&b->dims, &d->in_all);
    c->ndims++;
    table_insert(b, &b->dims_by_key, &d->h, h);
}

/* The shape of a new window, read from the event's metadata. */
typedef struct shape {
    uint64_t rate, time_range, windows;
} shape;

/* A new window for the key in b->kbuf in class c, making room first: the class's own limit,
 * then the instance's. NULL when out of memory with nothing left to forget. */
static bdim *dim_new(bucket *b, bclass *c, uint64_t h, const shape *s) {
    if (c->ndims >= c->cardinality) dim_remove(b, CONTAINER(c->dims.prev, bdim, in_class));
    if (b->dims_by_key.count >= b->max_dimensions) evict_oldest_dim(b);
    size_t slots = (size_t)s->windows * sizeof(uint64_t);
    bdim *d;
    /* when memory is short (a limit on the plugin), older windows make way for the new */
    while (!(d = b->host->alloc(b->ctx, sizeof *d + slots + b->klen)))
        if (!evict_oldest_dim(b)) return NULL;
    memset(d, 0, sizeof *d + slots);
    d->size = (uint32_t)s->windows;
    d->max = s->rate;
    d->slot_ms = s->time_range / s->windows;
    d->window_ms = d->slot_ms * s->windows;
    dim_link(b, c, d, h);
    return d;
}

/* --- classes by name -------------------------------------------------------------------------- */

static bclass *class_find(bucket *b, uint64_t h, const char *name, size_t len) {
    const htable *t = &b->classes_by_name;
    for (hentry *e = t->slots[h & t->mask]; e; e = e->next) {
        bclass *c = (bclass *)e;
        if (e->hash == h && c->name_len == len && memcmp(c->name, name, len) == 0) return c;
    }
    return NULL;
}

/* Forgets class c with all its windows (counted as evicted when evict is set). */
static void class_free(bucket *b, bclass *c, bool evict) {
    while (!list_empty(&c->dims)) {
        bdim *d = CONTAINER(c->dims.next, bdim, in_class);
        if (evict) dim_remove(b, d);
        else dim_free(b, d);
    }
    table_remove(&b->classes_by_name, &c->h);
    list_unlink(&c->lru);
    b->host->free(b->ctx, c);
}

static void class_remove(bucket *b, bclass *c) { class_free(b, c, true); }

/* Makes c, named, the most recently used class, under hash h. */
static void class_link(bucket *b, bclass *c, uint64_t h) {
    list_init(&c->dims);
    list_push_front(&b->classes, &c->lru);
    table_insert(b, &b->classes_by_name, &c->h, h);
}

static bclass *class_new(bucket *b, uint64_t h, const char *name, size_t len,
                         uint64_t cardinality) {
    if (b->classes_by_name.count >= b->max_classes)
        class_remove(b, CONTAINER(b->classes.prev, bclass, lru));
    bclass *c;
    while (!(c = b->host->alloc(b->ctx, sizeof *c + len)))
        if (!evict_oldest_dim(b)) return NULL;
    memset(c, 0, sizeof *c);
    c->cardinality = cardinality;
    c->name_len = (uint32_t)len;
    memcpy(c->name, name, len);
    class_link(b, c, h);
    return c;
}

/* --- the dimensions key ----------------------------------------------------------------------- */

/* Appends n bytes to the key; TB_EINVAL past BUCKET_MAX_KEY. */
static int key_put(bucket *b, const void *p, size_t n) {
    if (n > BUCKET_MAX_KEY - b->klen) return TB_EINVAL;
    if (b->klen + n > b->kcap) {
        uint8_t *k = b->host->realloc(b->ctx, b->kbuf, BUCKET_MAX_KEY);
        if (!k) return TB_ENOMEM;
        b->kbuf = k;
        b->kcap = BUCKET_MAX_KEY;
    }
    if (n) memcpy(b->kbuf + b->klen, p, n);
    b->klen += n;
    return TB_OK;
}

static int key_tag_u64(bucket *b, char tag, uint64_t u) {
    uint8_t buf[9];
    buf[0] = (uint8_t)tag;
    for (int i = 0; i < 8; i++) buf[1 + i] = (uint8_t)(u >> (8 * i));
    return key_put(b, buf, sizeof buf);
}

/* A tag and a length-prefixed run: the prefix keeps the encoding unambiguous. */
static int key_run(bucket *b, char tag, const void *p, uint32_t n) {
    int rc = key_tag_u64(b, tag, n);
    return rc ? rc : key_put(b, p, n);
}

/* Encodes v so that two values get the same key exactly when Tremor's JSON encoding of
 * them (its key) is the same: integers by value whatever their signedness, floats by
 * their bits, objects in their member order. */
static int key_value(bucket *b, const tb_value *v, unsigned depth) {
    int rc;
    if (depth > BUCKET_MAX_DEPTH) return TB_EINVAL;
    switch (v->type) {
    case TB_BOOL: return key_put(b, v->as.b ? "t" : "f", 1);
    case TB_I64: return key_tag_u64(b, 'i', (uint64_t)v->as.i);
    case TB_U64: return key_tag_u64(b, v->as.u > (uint64_t)INT64_MAX ? 'u' : 'i', v->as.u);
    case TB_F64: {
        uint64_t bits;
        memcpy(&bits, &v->as.f, sizeof bits);
        return key_tag_u64(b, 'd', bits);
    }
    case TB_STRING: return key_run(b, 's', v->as.s, v->len);
    case TB_BYTES: return key_run(b, 'b', v->as.bytes, v->len);
    case TB_ARRAY:
        if ((rc = key_tag_u64(b, 'a', v->len))) return rc;
        for (uint32_t i = 0; i < v->len; i++)
            if ((rc = key_value(b, &v->as.items[i], depth + 1))) return rc;
        return TB_OK;
    case TB_OBJECT:
        if ((rc = key_tag_u64(b, 'o', v->len))) return rc;
        for (uint32_t i = 0; i < v->len; i++) {
            const tb_member *m = &v->as.members[i];
            if ((rc = key_run(b, 'k', m->key, m->key_len))) return rc;
            if ((rc = key_value(b, &m->value, depth + 1))) return rc;
        }
        return TB_OK;
    default: return key_put(b, "n", 1); /* null, and absent */
    }
}

/* --- metadata --------------------------------------------------------------------------------- */

/* Reads the unsigned integer $name into *out: dflt when absent or null (required: then it
 * is an error). On error writes the reason into why and returns false. */
static bool meta_u64(const tb_value *meta, const char *name, bool required, uint64_t dflt,
                     uint64_t *out, char *why, size_t n) {
    const tb_value *v = tb_object_getz(meta, name);
    if (!v || v->type == TB_NULL) {
        if (required) snprintf(why, n, "grouper::bucket: $%s is missing", name);
        *out = dflt;
        return !required;
    }
    if (v->type == TB_U64) {
        *out = v->as.u;
        return true;
    }
    if (v->type == TB_I64 && v->as.i >= 0) {
        *out = (uint64_t)v->as.i;
        return true;
    }
    snprintf(why, n, "grouper::bucket: $%s must be a non-negative integer, found %s", name,
             v->type == TB_I64 ? "a negative int" : tb_type_name(v->type));
    return false;
}

static bool read_shape(const bucket *b, const tb_value *meta, shape *s, char *why, size_t n) {
    if (!meta_u64(meta, "rate", true, 0, &s->rate, why, n) ||
        !meta_u64(meta, "time_range", false, 1000, &s->time_range, why, n) ||
        !meta_u64(meta, "windows", false, 100, &s->windows, why, n))
        return false;
    if (s->windows == 0 || s->windows > b->max_windows) {
        snprintf(why, n, "grouper::bucket: $windows must be between 1 and %llu, found %llu",
                 (unsigned long long)b->max_windows, (unsigned long long)s->windows);
        return false;
    }
    if (s->time_range < s->windows) {
        snprintf(why, n,
                 "grouper::bucket: $time_range (%llu ms) must be at least $windows (%llu): a "
                 "window slot cannot be shorter than 1 ms",
                 (unsigned long long)s->time_range, (unsigned long long)s->windows);
        return false;
    }
    return true;
}

/* --- process ---------------------------------------------------------------------------------- */

typedef enum verdict { PASS, OVERFLOW, REFUSED, NOMEM } verdict;

static bclass *lookup_class(bucket *b, const tb_value *meta, char *why, size_t n) {
    size_t len;
    const tb_value *cv = tb_object_getz(meta, "class");
    const char *name = tb_value_str(cv, &len);
    if (!name) {
        if (!cv || cv->type == TB_NULL) snprintf(why, n, "grouper::bucket: $class is missing");
        else snprintf(why, n, "grouper::bucket: $class must be a string, found %s",
                      tb_type_name(cv->type));
        return NULL;
    }
    uint64_t h = hash_bytes(b->seed, name, len);
    bclass *c = class_find(b, h, name, len);
    if (c) {
        list_touch(&b->classes, &c->lru);
        return c;
    }
    uint64_t cardinality;
    if (!meta_u64(meta, "cardinality", false, 1000, &cardinality, why, n)) return NULL;
    if (cardinality == 0) {
        snprintf(why, n, "grouper::bucket: $cardinality must be at least 1");
        return NULL;
    }
    if (!(c = class_new(b, h, name, len, cardinality)))
        snprintf(why, n, "grouper::bucket: out of memory tracking class");
    return c;
}

static verdict judge(bucket *b, const tb_event *e, char *why, size_t n) {
    bclass *c = lookup_class(b, &e->meta, why, n);
    if (!c) return REFUSED;
    const tb_value *dims = tb_object_getz(&e->meta, "dimensions");
    static const tb_value null_value;
    b->klen = 0;
    int rc = key_value(b, dims ? dims : &null_value, 0);
    if (rc == TB_EINVAL) {
        snprintf(why, n, "grouper::bucket: $dimensions is too large: at most %u bytes and %u "
                         "levels deep", BUCKET_MAX_KEY, BUCKET_MAX_DEPTH);
        return REFUSED;
    }
    if (rc) return NOMEM;
    uint64_t h = dim_hash(b, c, b->kbuf, b->klen);
    bdim *d = dim_find(b, c, h, b->kbuf, b->klen);
    if (d) {
        list_touch(&c->dims, &d->in_class);
        list_touch(&b->dims, &d->in_all);
    } else {
        shape s;
        if (!read_shape(b, &e->meta, &s, why, n)) return REFUSED;
        if (!(d = dim_new(b, c, h, &s))) return NOMEM;
    }
    return window_inc(d, e->ingest_ns) ? PASS : OVERFLOW;
}

static int TB_CALL bucket_process(void *instance, uint32_t in_port, tb_batch *in, tb_batch *out) {
    bucket *b = instance;
    char why[256];
    for (uint32_t i = 0; i < in->count; i++) {
        tb_event *o = tb_batch_push(out);
        if (!o) return TB_ENOMEM;
        *o = in->events[i];
        verdict v = judge(b, o, why, sizeof why);
        if (v == NOMEM) snprintf(why, sizeof why, "grouper::bucket: out of memory");
        switch (v) {
        case PASS:
            o->port = PORT_OUT;
            metric_add(b, b->m_pass, 1);
            break;
        case OVERFLOW:
            o->port = PORT_OVERFLOW;
            metric_add(b, b->m_overflow, 1);
            break;
        case NOMEM:
        case REFUSED:
            o->port = PORT_ERR;
            tb_event_fail(out, o, why);
            metric_add(b, b->m_errors, 1);
            break;
        }
    }
    metric_set(b, b->m_classes, b->classes_by_name.count);
    metric_set(b, b->m_dims, b->dims_by_key.count);
    return TB_OK;
}

/* --- handover on a reload --------------------------------------------------------------------- */

/* Appends member key to obj, the key copied into arena: saved state may not point into the
 * plugin's memory. NULL when out of memory. */
static tb_value *save_put(tb_arena *a, tb_value *obj, const char *key) {
    size_t n = strlen(key);
    const char *copy = tb_arena_dup(a, key, n);
    return copy ? tb_object_append(a, obj, copy, n) : NULL;
}

static bool key_read_u64(const uint8_t **p, const uint8_t *end, uint64_t *u) {
    if (end - *p < 8) return false;
    *u = 0;
    for (int i = 0; i < 8; i++) *u |= (uint64_t)(*p)[i] << (8 * i);
    *p += 8;
    return true;
}

/* A length-prefixed run of the key, copied into arena. */
static int key_read_run(tb_arena *a, const uint8_t **p, const uint8_t *end, const char **out,
                        uint32_t *len) {
    uint64_t n;
    if (!key_read_u64(p, end, &n) || n > (uint64_t)(end - *p)) return TB_EINVAL;
    if (!(*out = tb_arena_dup(a, *p, (size_t)n))) return TB_ENOMEM;
    *len = (uint32_t)n;
    *p += n;
    return TB_OK;
}

/* Decodes the key key_value wrote, from *p on, back into a value in arena: the dimensions as
 * Tremor's key has them (an integer that fits int64 comes back signed). */
static int key_decode(tb_arena *a, const uint8_t **p, const uint8_t *end, tb_value *out,
                      unsigned depth) {
    uint64_t u;
    int rc;
    if (depth > BUCKET_MAX_DEPTH || *p >= end) return TB_EINVAL;
    char tag = (char)*(*p)++;
    switch (tag) {
    case 'n': *out = tb_null(); return TB_OK;
    case 't': *out = tb_bool(true); return TB_OK;
    case 'f': *out = tb_bool(false); return TB_OK;
    case 'i':
    case 'u':
    case 'd':
        if (!key_read_u64(p, end, &u)) return TB_EINVAL;
        if (tag == 'u') *out = tb_u64(u);
        else if (tag == 'i') *out = tb_i64((int64_t)u);
        else {
            double f;
            memcpy(&f, &u, sizeof f);
            *out = tb_f64(f);
        }
        return TB_OK;
    case 's':
    case 'b': {
        const char *run;
        uint32_t len;
        if ((rc = key_read_run(a, p, end, &run, &len))) return rc;
        *out = tag == 's' ? tb_string(run, len) : tb_bytes(run, len);
        return TB_OK;
    }
    case 'a':
    case 'o': {
        /* every item takes a byte at least, which bounds the count */
        if (!key_read_u64(p, end, &u) || u > (uint64_t)(end - *p)) return TB_EINVAL;
        *out = tag == 'a' ? tb_array() : tb_object();
        for (uint64_t i = 0; i < u; i++) {
            tb_value *slot;
            if (tag == 'a') {
                slot = tb_array_push(a, out);
            } else {
                const char *key;
                uint32_t len;
                if (*p >= end || *(*p)++ != 'k') return TB_EINVAL;
                if ((rc = key_read_run(a, p, end, &key, &len))) return rc;
                slot = tb_object_append(a, out, key, len);
            }
            if (!slot) return TB_ENOMEM;
            if ((rc = key_decode(a, p, end, slot, depth + 1))) return rc;
        }
        return TB_OK;
    }
    default: return TB_EINVAL;
    }
}

static int save_class(tb_arena *a, const bclass *c, tb_value *rec) {
    tb_value *slot;
    const char *name = tb_arena_dup(a, c->name, c->name_len);
    *rec = tb_object();
    if (!name || !(slot = save_put(a, rec, "name"))) return TB_ENOMEM;
    *slot = tb_string(name, c->name_len);
    if (!(slot = save_put(a, rec, "cardinality"))) return TB_ENOMEM;
    *slot = tb_u64(c->cardinality);
    return TB_OK;
}

static int save_window(tb_arena *a, const bdim *d, tb_value *rec) {
    tb_value *slot;
    *rec = tb_object();
    if (!(slot = save_put(a, rec, "class"))) return TB_ENOMEM;
    *slot = tb_u64(d->cls->ordinal);
    if (!(slot = save_put(a, rec, "dimensions"))) return TB_ENOMEM;
    const uint8_t *p = d->key;
    int rc = key_decode(a, &p, d->key + d->key_len, slot, 0);
    if (rc) return rc;
    if (p != d->key + d->key_len) return TB_EINVAL;
    static const char *const names[] = {"rate", "slot_ms", "last_tick"};
    const uint64_t values[] = {d->max, d->slot_ms, d->last_tick};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (!(slot = save_put(a, rec, names[i]))) return TB_ENOMEM;
        *slot = tb_u64(values[i]);
    }
    if (!(slot = save_put(a, rec, "slots"))) return TB_ENOMEM;
    tb_value *items = tb_arena_alloc(a, (size_t)d->size * sizeof *items, 8);
    if (!items) return TB_ENOMEM;
    /* from the oldest slot, the one after the current, round to the current one */
    for (uint32_t k = 0; k < d->size; k++) items[k] = tb_u64(d->slots[(d->pos + 1 + k) % d->size]);
    *slot = tb_array();
    slot->len = d->size;
    slot->as.items = items;
    return TB_OK;
}

/* The list of classes (or windows) in arena, most recently used first, from head. */
static int save_list(tb_arena *a, bucket *b, bool windows, tb_value *list) {
    uint64_t n = windows ? b->dims_by_key.count : b->classes_by_name.count;
    const link *head = windows ? &b->dims : &b->classes;
    *list = tb_array();
    if (n == 0) return TB_OK;
    if (n > UINT32_MAX) return TB_ENOMEM; /* more than an array holds */
    tb_value *items = tb_arena_alloc(a, (size_t)n * sizeof *items, 8);
    if (!items) return TB_ENOMEM;
    uint32_t i = 0;
    for (const link *l = head->next; l != head; l = l->next, i++) {
        int rc;
        if (windows) {
            rc = save_window(a, CONTAINER(l, bdim, in_all), &items[i]);
        } else {
            bclass *c = CONTAINER(l, bclass, lru);
            c->ordinal = i;
            rc = save_class(a, c, &items[i]);
        }
        if (rc) return rc;
    }
    list->len = i;
    list->as.items = items;
    return TB_OK;
}

static int TB_CALL bucket_save(void *instance, tb_arena *arena, tb_value *out) {
    bucket *b = instance;
    tb_value saved = tb_object();
    tb_value *slot;
    int rc = TB_ENOMEM;
    /* classes first: the windows refer to them by their index */
    if (!(slot = save_put(arena, &saved, "classes"))) goto fail_save;
    if ((rc = save_list(arena, b, false, slot))) goto fail_save;
    rc = TB_ENOMEM;
    if (!(slot = save_put(arena, &saved, "windows"))) goto fail_save;
    if ((rc = save_list(arena, b, true, slot))) goto fail_save;
    *out = saved;
    return TB_OK;
fail_save:
    return tb_fail(b->host, b->ctx, rc, "grouper::bucket: cannot save: %s",
                   rc == TB_ENOMEM ? "out of memory" : "a window's key does not decode");
}

/* An unsigned integer (TB_U64, or TB_I64 when not negative) into *out. */
static bool saved_u64(const tb_value *v, uint64_t *out) {
    if (v && v->type == TB_U64) {
        *out = v->as.u;
        return true;
    }
    if (v && v->type == TB_I64 && v->as.i >= 0) {
        *out = (uint64_t)v->as.i;
        return true;
    }
    return false;
}

/* A window as saved, read and checked. */
typedef struct saved_window {
    uint64_t cls, rate, slot_ms, last_tick;
    const tb_value *dimensions;
    const tb_value *slots; /* an array of 1 .. max_windows counts */
} saved_window;

/* Reads saved window rec of a list of nclasses classes into *w; false when a member is
 * missing, of the wrong type or out of what a window can be. */
static bool read_window(const bucket *b, const tb_value *rec, uint64_t nclasses,
                        saved_window *w) {
    w->dimensions = tb_object_getz(rec, "dimensions");
    w->slots = tb_object_getz(rec, "slots");
    if (!w->dimensions || !saved_u64(tb_object_getz(rec, "class"), &w->cls) ||
        w->cls >= nclasses || !saved_u64(tb_object_getz(rec, "rate"), &w->rate) ||
        !saved_u64(tb_object_getz(rec, "slot_ms"), &w->slot_ms) ||
        !saved_u64(tb_object_getz(rec, "last_tick"), &w->last_tick))
        return false;
    /* the shapes read_shape allows: 1 .. max_windows slots of 1 ms at least */
    const tb_value *s = w->slots;
    if (!s || s->type != TB_ARRAY || s->len == 0 || s->len > b->max_windows || w->slot_ms == 0 ||
        w->slot_ms > UINT64_MAX / s->len)
        return false;
    uint64_t sum = 0, u;
    for (uint32_t i = 0; i < s->len; i++) {
        if (!saved_u64(&s->as.items[i], &u) || u > UINT64_MAX - sum) return false;
        sum += u;
    }
    return true;
}

/* Forgets every class and window, counting nothing as evicted. */
static void forget_all(bucket *b) {
    while (!list_empty(&b->classes)) class_free(b, CONTAINER(b->classes.next, bclass, lru), false);
}

/* Adds the class of saved record rec as the most recently used one into *out. */
static int restore_class(bucket *b, const tb_value *rec, bclass **out) {
    size_t len;
    const char *name = tb_value_str(tb_object_getz(rec, "name"), &len);
    if (!len) name = ""; /* an empty string may come with a null pointer */
    uint64_t h = hash_bytes(b->seed, name, len);
    if (class_find(b, h, name, len)) return TB_EINVAL;
    bclass *c = b->host->alloc(b->ctx, sizeof *c + len);
    if (!c) return TB_ENOMEM;
    memset(c, 0, sizeof *c);
    saved_u64(tb_object_getz(rec, "cardinality"), &c->cardinality);
    c->name_len = (uint32_t)len;
    memcpy(c->name, name, len);
    class_link(b, c, h);
    *out = c;
    return TB_OK;
}

/* Adds window w of class c as the most recently used one. TB_EINVAL (with the reason in why)
 * when it does not fit. */
static int restore_window(bucket *b, bclass *c, const saved_window *w, char *why, size_t n) {
    b->klen = 0;
    int rc = key_value(b, w->dimensions, 0);
    if (rc == TB_EINVAL) snprintf(why, n, "its dimensions are too large");
    if (rc) return rc;
    uint64_t h = dim_hash(b, c, b->kbuf, b->klen);
    if (dim_find(b, c, h, b->kbuf, b->klen)) {
        snprintf(why, n, "it repeats the dimensions of another window of its class");
        return TB_EINVAL;
    }
    if (c->ndims >= c->cardinality) {
        snprintf(why, n, "its class has more windows than its cardinality");
        return TB_EINVAL;
    }
    uint32_t size = w->slots->len;
    size_t slots = (size_t)size * sizeof(uint64_t);
    bdim *d = b->host->alloc(b->ctx, sizeof *d + slots + b->klen);
    if (!d) return TB_ENOMEM;
    memset(d, 0, sizeof *d + slots);
    d->size = size;
    d->max = w->rate;
    d->slot_ms = w->slot_ms;
    d->window_ms = w->slot_ms * size;
    d->last_tick = w->last_tick;
    /* saved from the oldest to the current slot: the current one is the last */
    for (uint32_t k = 0; k < size; k++) {
        saved_u64(&w->slots->as.items[k], &d->slots[k]);
        if (k + 1 < size) d->sum += d->slots[k];
    }
    d->pos = size - 1;
    dim_link(b, c, d, h);
    return TB_OK;
}

/* Takes over what bucket_save wrote: null (a build that kept no state) starts empty; members
 * this build does not know are ignored. The lists are checked before the instance changes;
 * what only inserting finds (a class or window twice, running out of memory) leaves it
 * empty. */
static int TB_CALL bucket_restore(void *instance, const tb_value *saved) {
    bucket *b = instance;
    if (saved->type == TB_NULL) return TB_OK;
    const tb_value *classes = tb_object_getz(saved, "classes");
    const tb_value *windows = tb_object_getz(saved, "windows");
    if (!classes || classes->type != TB_ARRAY || !windows || windows->type != TB_ARRAY)
        return tb_fail(b->host, b->ctx, TB_EINVAL,
                       "grouper::bucket: cannot restore from a %s without arrays \"classes\" "
                       "and \"windows\"",
                       tb_type_name(saved->type));
    if (classes->len > b->max_classes || windows->len > b->max_dimensions)
        return tb_fail(b->host, b->ctx, TB_EINVAL,
                       "grouper::bucket: cannot restore %u classes and %u windows with "
                       "max_classes %llu and max_dimensions %llu",
                       classes->len, windows->len, (unsigned long long)b->max_classes,
                       (unsigned long long)b->max_dimensions);
    for (uint32_t i = 0; i < classes->len; i++) {
        const tb_value *rec = &classes->as.items[i];
        uint64_t cardinality;
        if (!tb_value_str(tb_object_getz(rec, "name"), NULL) ||
            !saved_u64(tb_object_getz(rec, "cardinality"), &cardinality) || cardinality == 0)
            return tb_fail(b->host, b->ctx, TB_EINVAL,
                           "grouper::bucket: cannot restore classes[%u]: expected a record of a "
                           "string name and a cardinality of 1 at least",
                           i);
    }
    saved_window w;
    for (uint32_t i = 0; i < windows->len; i++)
        if (!read_window(b, &windows->as.items[i], classes->len, &w))
            return tb_fail(b->host, b->ctx, TB_EINVAL,
                           "grouper::bucket: cannot restore windows[%u]: expected a record of "
                           "class (an index in classes), dimensions, rate, slot_ms, last_tick "
                           "and 1 to max_windows slots",
                           i);

    bclass **by_index = NULL;
    char why[128] = "";
    const char *what = "classes";
    int rc = TB_OK;
    uint32_t i = 0;
    forget_all(b);
    if (classes->len && !(by_index = b->host->alloc(b->ctx, classes->len * sizeof *by_index))) {
        rc = TB_ENOMEM;
        goto fail_insert;
    }
    /* least recently used first, each pushed in front of those before */
    for (i = classes->len; i-- > 0;) {
        if ((rc = restore_class(b, &classes->as.items[i], &by_index[i]))) {
            if (rc == TB_EINVAL) snprintf(why, sizeof why, "its name repeats another's");
            goto fail_insert;
        }
    }
    what = "windows";
    for (i = windows->len; i-- > 0;) {
        read_window(b, &windows->as.items[i], classes->len, &w);
        if ((rc = restore_window(b, by_index[w.cls], &w, why, sizeof why))) goto fail_insert;
    }
    b->host->free(b->ctx, by_index);
    metric_set(b, b->m_classes, b->classes_by_name.count);
    metric_set(b, b->m_dims, b->dims_by_key.count);
    return TB_OK;
fail_insert:
    forget_all(b);
    b->host->free(b->ctx, by_index);
    if (rc == TB_ENOMEM) return tb_fail(b->host, b->ctx, rc, "grouper::bucket: out of memory");
    return tb_fail(b->host, b->ctx, rc, "grouper::bucket: cannot restore %s[%u]: %s", what, i,
                   why);
}

static const char *const ports[] = {"out", "err", "overflow", NULL};

static const tb_operator_vtable vtable = {
    .struct_size = sizeof(tb_operator_vtable),
    .output_ports = ports,
    .create = bucket_create,
    .destroy = bucket_destroy,
    .process = bucket_process,
    .save = bucket_save,
    .restore = bucket_restore,
};

static const tb_component component = {
    .struct_size = sizeof(tb_component),
    .kind = TB_KIND_OPERATOR,
    .name = "grouper::bucket",
    .description = "rate limits events per $class and $dimensions with sliding windows",
    .options = options,
    .option_count = sizeof options / sizeof options[0],
    .vtable = &vtable,
};

static const tb_component *const components[] = {&component};

static const tb_plugin_descriptor descriptor = {
    TB_DESCRIPTOR_HEAD,
    .flags = TB_PLUGIN_UNLOAD_SAFE,
    .name = "grouper",
    .version = "0.1.0",
    .description = "Tremor's grouper operators: bucket",
    .components = components,
    .component_count = 1,
};

TB_PLUGIN_ENTRY(grouper) { return &descriptor; }
