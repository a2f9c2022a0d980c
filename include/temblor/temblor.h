/*
 * temblor.h - the temblor plugin development kit (PDK), ABI 1.
 *
 * This is the one header a plugin is compiled against. A plugin links against no symbol of
 * the runtime: everything it may call reaches it through the host function table
 * (tb_host_api), and everything the runtime calls in it is reached through the descriptor
 * returned by its one exported symbol, tb_plugin_entry.
 *
 * Stability rules (see docs/pdk.md for the whole contract):
 *  - Equal ABI major is required. A runtime loads plugins built for its minor or an older one
 *    and refuses newer minors.
 *  - Every struct that may grow starts with (or carries) a struct_size. Fields are only ever
 *    appended; a reader uses a field only if offsetof + sizeof <= struct_size. The runtime
 *    copies every plugin struct into a full-size, zero-filled one before using it, so plugins
 *    built for an older minor read as if the missing fields were NULL/0.
 *  - tb_value, tb_member, tb_event, tb_batch and tb_arena have a frozen, documented layout
 *    (ABI 1 major): the hot path reads and builds them with the inline functions below, with
 *    no call into the runtime.
 *  - Enumerations are uint32_t (or narrower fixed-width fields inside frozen structs).
 *  - Status codes: 0 (TB_OK) is success, failures are negative TB_E* codes.
 *
 * Define TB_TARGET_ABI_MINOR before including this header to build a plugin that also loads
 * into older runtimes of this major: the fields added after that minor disappear from the
 * structs, exactly as an older header would have declared them.
 */
#ifndef TEMBLOR_TEMBLOR_H
#define TEMBLOR_TEMBLOR_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------------------------
 * Versions, export and calling convention
 * ------------------------------------------------------------------------------------- */

#define TB_ABI_MAJOR 1
/* Minor 0: descriptor, components, options, kind vtables, host table, value model.
 * Minor 1: descriptor gains declared permissions and get_extension; host table gains
 *          now_ns; operators gain contraflow.
 * Minor 2: connectors and operators gain save and restore (handing a connector's position,
 *          an operator's state, to the new build when the runtime reloads the plugin). */
#define TB_ABI_MINOR 2

#ifndef TB_TARGET_ABI_MINOR
#define TB_TARGET_ABI_MINOR TB_ABI_MINOR
#endif
#if TB_TARGET_ABI_MINOR > TB_ABI_MINOR || TB_TARGET_ABI_MINOR < 0
#error "TB_TARGET_ABI_MINOR must name a minor of ABI 1 this header knows"
#endif

/* "TBLR" read as a little-endian uint32_t. */
#define TB_PLUGIN_MAGIC 0x524c4254u

/* The name of the one symbol a plugin library exports. */
#define TB_PLUGIN_ENTRY_SYMBOL "tb_plugin_entry"

#if defined(_WIN32)
#define TB_EXPORT __declspec(dllexport)
#define TB_CALL __cdecl
#else
#define TB_EXPORT __attribute__((visibility("default")))
#define TB_CALL
#endif

/*
 * TB_PLUGIN_ENTRY(name) opens the definition of the entry function. In a shared library it
 * defines the exported tb_plugin_entry; when the runtime links the same sources statically
 * (the build defines TB_STATIC_PLUGIN), it defines tb_plugin_entry__<name> instead so that
 * many plugins can live in one binary.
 */
#ifdef TB_STATIC_PLUGIN
#define TB_PLUGIN_ENTRY(name)                                                        \
    const struct tb_plugin_descriptor *TB_CALL tb_plugin_entry__##name(void);        \
    const struct tb_plugin_descriptor *TB_CALL tb_plugin_entry__##name(void)
#else
#define TB_PLUGIN_ENTRY(name)                                                        \
    TB_EXPORT const struct tb_plugin_descriptor *TB_CALL tb_plugin_entry(void);      \
    TB_EXPORT const struct tb_plugin_descriptor *TB_CALL tb_plugin_entry(void)
#endif

/* True when the struct at p (whose first-declared size field is struct_size) is large
 * enough to hold field. Use it on every host struct before reading a field added after
 * minor 0. */
#define TB_HAS_FIELD(p, type, field) \
    ((p)->struct_size >= offsetof(type, field) + sizeof(((type *)0)->field))

/* ---------------------------------------------------------------------------------------
 * Status codes
 * ------------------------------------------------------------------------------------- */

enum {
    TB_OK = 0,
    TB_ERROR = -1,     /* generic failure; the message says more */
    TB_EINVAL = -2,    /* invalid argument or configuration */
    TB_ENOMEM = -3,    /* out of memory, or over the plugin's memory limit */
    TB_EAGAIN = -4,    /* nothing now; call again when the fd/timer/wake says so */
    TB_EOF = -5,       /* the source has no more data, ever */
    TB_ENOTSUP = -6,   /* the operation or capability is not supported */
    TB_EIO = -7,       /* I/O failed; the runtime may reconnect with backoff */
    TB_ETIMEDOUT = -8, /* a deadline passed */
    TB_EPENDING = -9,  /* accepted; completion is reported later (tb_host_api.delivered) */
    TB_ECLOSED = -10   /* the peer or connection is closed */
};

/* ---------------------------------------------------------------------------------------
 * Opaque runtime handles
 * ------------------------------------------------------------------------------------- */

/* Identifies the caller to the runtime: a plugin (in init/deinit) or one instance of a
 * component. Owned by the runtime; valid from the call that hands it over until deinit or
 * destroy returns. Every host function takes it first, for logging, accounting and errors. */
typedef struct tb_context tb_context;

/* ---------------------------------------------------------------------------------------
 * The value model (frozen layout, ABI 1)
 *
 * A tb_value is 16 bytes: a type tag, flags, a length and an 8-byte payload. Strings and
 * bytes are (pointer, length) and are NOT NUL-terminated; they may point into the input
 * buffer a decoder was given (zero copy) or into the batch's arena. Arrays are a contiguous
 * run of tb_value; objects a contiguous run of tb_member in insertion order. All of it
 * belongs to the arena of the batch that carries it: a plugin never frees a value.
 * ------------------------------------------------------------------------------------- */

enum {
    TB_NULL = 0,
    TB_BOOL = 1,
    TB_I64 = 2,
    TB_U64 = 3,
    TB_F64 = 4,
    TB_STRING = 5, /* UTF-8 text */
    TB_BYTES = 6,  /* arbitrary octets */
    TB_ARRAY = 7,
    TB_OBJECT = 8
};

/* Value flags. */
enum {
    /* The items/members storage of this array or object holds at least
     * tb_value_capacity(v) slots (a power of two, at least TB_MIN_CAPACITY), so it may
     * grow in place. Without it the storage holds exactly len slots. */
    TB_VF_CAP_POW2 = 1u << 0,
    /* (1.1, a hint) A TB_STRING holding no byte that JSON must escape ('"', '\\', bytes
     * below 0x20), so a JSON encoder may copy it as it is. Set only by code that checked (the
     * json codec's decoder does, at no cost); never required: clear means "look". Also used
     * in tb_member.reserved, about the key (nothing else may be set there). */
    TB_VF_NO_ESCAPE = 1u << 1
};

#define TB_MIN_CAPACITY 4u

struct tb_member;

typedef struct tb_value {
    uint8_t type;      /* TB_NULL .. TB_OBJECT */
    uint8_t flags;     /* TB_VF_* */
    uint16_t reserved; /* zero */
    uint32_t len;      /* string/bytes: octets; array: items; object: members */
    union {
        bool b;
        int64_t i;
        uint64_t u;
        double f;
        const char *s;            /* TB_STRING */
        const uint8_t *bytes;     /* TB_BYTES */
        struct tb_value *items;   /* TB_ARRAY */
        struct tb_member *members; /* TB_OBJECT */
    } as;
} tb_value;

typedef struct tb_member {
    const char *key;   /* UTF-8, not NUL-terminated */
    uint32_t key_len;
    uint32_t reserved; /* zero; since 1.1 it may hold TB_VF_NO_ESCAPE, about the key */
    tb_value value;
} tb_member;

/* ---------------------------------------------------------------------------------------
 * Arenas (frozen layout, ABI 1)
 *
 * An arena is a bump allocator owned by the runtime. The inline tb_arena_alloc bumps cur;
 * only when the current chunk is full does it call grow, a runtime function that opens a
 * new chunk. Everything allocated is released at once when the runtime resets the arena
 * (after the batch is delivered or dropped). Thread contract: an arena is used by one
 * thread at a time, the one that holds its batch.
 * ------------------------------------------------------------------------------------- */

typedef struct tb_arena tb_arena;
typedef void *(TB_CALL *tb_arena_grow_fn)(tb_arena *arena, size_t size, size_t align);

struct tb_arena {
    uint8_t *cur;
    uint8_t *end;
    tb_arena_grow_fn grow;  /* returns NULL when out of memory */
    void *host_private;     /* runtime's; plugins never touch it */
};

/* Allocates size bytes aligned to align (a power of two) from the arena. Returns NULL only
 * when memory is exhausted. The memory is not zeroed. */
static inline void *tb_arena_alloc(tb_arena *a, size_t size, size_t align) {
    uintptr_t p = ((uintptr_t)a->cur + (align - 1)) & ~(uintptr_t)(align - 1);
    if (p <= (uintptr_t)a->end && size <= (uintptr_t)a->end - p) {
        a->cur = (uint8_t *)(p + size);
        return (void *)p;
    }
    return a->grow(a, size, align);
}

/* Copies len bytes into the arena. Returns NULL when out of memory. */
static inline char *tb_arena_dup(tb_arena *a, const void *src, size_t len) {
    char *p = (char *)tb_arena_alloc(a, len ? len : 1, 1);
    if (p && len) memcpy(p, src, len);
    return p;
}

/* ---------------------------------------------------------------------------------------
 * Value constructors and accessors (inline, no runtime call)
 * ------------------------------------------------------------------------------------- */

static inline tb_value tb_null(void) {
    tb_value v;
    memset(&v, 0, sizeof v);
    return v;
}
static inline tb_value tb_bool(bool b) {
    tb_value v = tb_null();
    v.type = TB_BOOL;
    v.as.b = b;
    return v;
}
static inline tb_value tb_i64(int64_t i) {
    tb_value v = tb_null();
    v.type = TB_I64;
    v.as.i = i;
    return v;
}
static inline tb_value tb_u64(uint64_t u) {
    tb_value v = tb_null();
    v.type = TB_U64;
    v.as.u = u;
    return v;
}
static inline tb_value tb_f64(double f) {
    tb_value v = tb_null();
    v.type = TB_F64;
    v.as.f = f;
    return v;
}
/* A string value that points at s (not copied): s must outlive the value's batch, which
 * holds for the arena and for a decoder's input buffer. */
static inline tb_value tb_string(const char *s, size_t len) {
    tb_value v = tb_null();
    v.type = TB_STRING;
    v.len = (uint32_t)len;
    v.as.s = s;
    return v;
}
static inline tb_value tb_stringz(const char *s) { return tb_string(s, strlen(s)); }
static inline tb_value tb_bytes(const void *p, size_t len) {
    tb_value v = tb_null();
    v.type = TB_BYTES;
    v.len = (uint32_t)len;
    v.as.bytes = (const uint8_t *)p;
    return v;
}
static inline tb_value tb_array(void) {
    tb_value v = tb_null();
    v.type = TB_ARRAY;
    return v;
}
static inline tb_value tb_object(void) {
    tb_value v = tb_null();
    v.type = TB_OBJECT;
    return v;
}

/* The number of slots the storage of an array or object is known to hold. */
static inline uint32_t tb_value_capacity(const tb_value *v) {
    uint32_t c;
    if (!(v->flags & TB_VF_CAP_POW2)) return v->len;
    if (v->len > (1u << 31)) return v->len;
    c = TB_MIN_CAPACITY;
    while (c < v->len) c <<= 1;
    return c;
}

/* Makes room for one more slot of elem bytes in the array/object storage *storage of
 * value v; returns false when out of memory. Internal to the inline builders. */
static inline bool tb__grow_slots(tb_arena *a, tb_value *v, void **storage, size_t elem) {
    uint32_t cap = tb_value_capacity(v);
    uint32_t ncap;
    void *n;
    if (v->len < cap) return true;
    if (v->len >= UINT32_MAX / 2) return false;
    /* the smallest power of two above len, so the flag's promise holds */
    ncap = TB_MIN_CAPACITY;
    while (ncap <= v->len) ncap <<= 1;
    n = tb_arena_alloc(a, (size_t)ncap * elem, 8);
    if (!n) return false;
    if (v->len) memcpy(n, *storage, (size_t)v->len * elem);
    *storage = n;
    v->flags |= TB_VF_CAP_POW2;
    return true;
}

/* Appends a null item to array arr and returns it for the caller to fill; NULL when out of
 * memory. The returned pointer is valid until the next append to arr. */
static inline tb_value *tb_array_push(tb_arena *a, tb_value *arr) {
    void *items = arr->as.items;
    tb_value *slot;
    if (!tb__grow_slots(a, arr, &items, sizeof(tb_value))) return NULL;
    arr->as.items = (tb_value *)items;
    slot = &arr->as.items[arr->len++];
    *slot = tb_null();
    return slot;
}

/* Appends member key to object obj without looking for an existing one (decoders use it:
 * on duplicate keys the later one wins in tb_object_get). The key is not copied. Returns
 * the null value slot to fill, or NULL when out of memory. */
static inline tb_value *tb_object_append(tb_arena *a, tb_value *obj, const char *key,
                                         size_t key_len) {
    void *members = obj->as.members;
    tb_member *m;
    if (!tb__grow_slots(a, obj, &members, sizeof(tb_member))) return NULL;
    obj->as.members = (tb_member *)members;
    m = &obj->as.members[obj->len++];
    m->key = key;
    m->key_len = (uint32_t)key_len;
    m->reserved = 0;
    m->value = tb_null();
    return &m->value;
}

/* Finds key in object obj (the last one when a key repeats). NULL if absent or if obj is
 * not an object. */
static inline tb_value *tb_object_get(const tb_value *obj, const char *key, size_t key_len) {
    uint32_t i;
    if (obj->type != TB_OBJECT) return NULL;
    for (i = obj->len; i-- > 0;) {
        tb_member *m = &obj->as.members[i];
        if (m->key_len == key_len && memcmp(m->key, key, key_len) == 0) return &m->value;
    }
    return NULL;
}
static inline tb_value *tb_object_getz(const tb_value *obj, const char *key) {
    return tb_object_get(obj, key, strlen(key));
}

/* Returns the slot for key in obj, appending a null one when absent. The key is not copied.
 * NULL when out of memory. */
static inline tb_value *tb_object_set(tb_arena *a, tb_value *obj, const char *key,
                                      size_t key_len) {
    tb_value *v = tb_object_get(obj, key, key_len);
    return v ? v : tb_object_append(a, obj, key, key_len);
}

/* Text of a string value, or NULL (with *len 0) if v is not a string. */
static inline const char *tb_value_str(const tb_value *v, size_t *len) {
    if (!v || v->type != TB_STRING) {
        if (len) *len = 0;
        return NULL;
    }
    if (len) *len = v->len;
    return v->as.s;
}

/* True when string value v equals the NUL-terminated s. */
static inline bool tb_value_str_eq(const tb_value *v, const char *s) {
    size_t n = strlen(s);
    return v && v->type == TB_STRING && v->len == n && memcmp(v->as.s, s, n) == 0;
}

/* Octets of a bytes value, or NULL (with *len 0) if v is not bytes. A zero-length value may
 * have a NULL pointer. */
static inline const uint8_t *tb_value_bytes(const tb_value *v, size_t *len) {
    if (!v || v->type != TB_BYTES) {
        if (len) *len = 0;
        return NULL;
    }
    if (len) *len = v->len;
    return v->as.bytes;
}

/* The name of a value type, as temblor's messages spell it ("string", "int", ...). */
static inline const char *tb_type_name(uint32_t type) {
    static const char *const names[] = {"null",   "bool",  "int",   "uint",  "float",
                                        "string", "bytes", "array", "object"};
    return type <= TB_OBJECT ? names[type] : "unknown";
}

/* Numeric value v as int64; false if v is not a number that fits. */
static inline bool tb_value_as_i64(const tb_value *v, int64_t *out) {
    if (!v) return false;
    switch (v->type) {
    case TB_I64: *out = v->as.i; return true;
    case TB_U64:
        if (v->as.u > (uint64_t)INT64_MAX) return false;
        *out = (int64_t)v->as.u;
        return true;
    case TB_F64:
        if (!(v->as.f >= -9223372036854775808.0 && v->as.f < 9223372036854775808.0)) return false;
        if ((double)(int64_t)v->as.f != v->as.f) return false;
        *out = (int64_t)v->as.f;
        return true;
    default: return false;
    }
}

/* Numeric value v as double; false if v is not a number. */
static inline bool tb_value_as_f64(const tb_value *v, double *out) {
    if (!v) return false;
    switch (v->type) {
    case TB_I64: *out = (double)v->as.i; return true;
    case TB_U64: *out = (double)v->as.u; return true;
    case TB_F64: *out = v->as.f; return true;
    default: return false;
    }
}

/* Typed reads of a configuration record (create's args->config). The runtime has already
 * checked every option against its declared type and filled the defaults, so these only
 * fall back when an option has no default and was not set. */
static inline bool tb_config_bool(const tb_value *config, const char *name, bool fallback) {
    const tb_value *v = tb_object_getz(config, name);
    return v && v->type == TB_BOOL ? v->as.b : fallback;
}
static inline int64_t tb_config_i64(const tb_value *config, const char *name, int64_t fallback) {
    int64_t i;
    return tb_value_as_i64(tb_object_getz(config, name), &i) ? i : fallback;
}
static inline uint64_t tb_config_u64(const tb_value *config, const char *name,
                                     uint64_t fallback) {
    const tb_value *v = tb_object_getz(config, name);
    if (v && v->type == TB_U64) return v->as.u;
    if (v && v->type == TB_I64 && v->as.i >= 0) return (uint64_t)v->as.i;
    return fallback;
}
static inline double tb_config_f64(const tb_value *config, const char *name, double fallback) {
    double d;
    return tb_value_as_f64(tb_object_getz(config, name), &d) ? d : fallback;
}
/* The text of a string option (not NUL-terminated), or fallback (a C string) when absent. */
static inline const char *tb_config_str(const tb_value *config, const char *name,
                                        const char *fallback, size_t *len) {
    const char *s = tb_value_str(tb_object_getz(config, name), len);
    if (s) return s;
    if (len) *len = fallback ? strlen(fallback) : 0;
    return fallback;
}

/* ---------------------------------------------------------------------------------------
 * Events and batches (frozen layout, ABI 1)
 * ------------------------------------------------------------------------------------- */

/* Event flags. */
enum {
    TB_EF_RAW = 1u << 0,           /* data is TB_BYTES still to be preprocessed and decoded */
    TB_EF_ERROR = 1u << 1,         /* the event failed; data says why; it goes to port err */
    TB_EF_TRANSACTIONAL = 1u << 2, /* its source wants ack/fail for it */
    TB_EF_STREAM_END = 1u << 3,    /* the last event of its stream (may carry no data) */
    /* (1.1) a plugin dropped the event as it processed the batch in place (a codec meeting an
     * empty line or a comment): the runtime acknowledges it and sends it no further. Removing
     * an event from a batch instead would lose its id for acknowledgement. */
    TB_EF_DROPPED = 1u << 4
};

/* One event: 64 bytes. data and meta ($ in the language) are values in the batch's arena;
 * id is the source's own identity for the event (an offset, a sequence number), handed
 * back to the source's ack and fail callbacks; stream identifies the connection or
 * partition the event came from, so per-stream state (preprocessors) stays per stream. */
typedef struct tb_event {
    tb_value data;
    tb_value meta;
    uint64_t id;
    uint64_t ingest_ns; /* CLOCK_REALTIME nanoseconds when the source produced it */
    uint32_t stream;
    uint16_t port;      /* output port of an operator (index into its ports) */
    uint16_t flags;     /* TB_EF_* */
    uint32_t source;    /* runtime-assigned id of the producing source instance */
    uint32_t reserved;  /* zero */
} tb_event;

/* A batch of events: the unit of every hot-path call. The runtime owns the batch, its event
 * array and its arena; a plugin reads and writes events and values in it during the call
 * that hands it over and keeps no pointer into it afterwards. */
typedef struct tb_batch {
    tb_event *events;
    uint32_t count;
    uint32_t capacity;
    tb_arena *arena;    /* where every value of these events lives */
    uint64_t token;     /* runtime identity of the batch, for tb_host_api.delivered */
    void *reserved[2];  /* zero */
} tb_batch;

/* Appends a zeroed event to the batch and returns it; NULL when out of memory. Pointers to
 * earlier events of the batch are invalidated when it grows. */
static inline tb_event *tb_batch_push(tb_batch *b) {
    tb_event *e;
    if (b->count == b->capacity) {
        uint32_t ncap = b->capacity ? b->capacity * 2 : 16;
        tb_event *n = (tb_event *)tb_arena_alloc(b->arena, (size_t)ncap * sizeof(tb_event), 8);
        if (!n) return NULL;
        if (b->count) memcpy(n, b->events, (size_t)b->count * sizeof(tb_event));
        b->events = n;
        b->capacity = ncap;
    }
    e = &b->events[b->count++];
    memset(e, 0, sizeof *e);
    return e;
}

/* Marks event e of batch b as failed with reason msg: its data becomes
 * {"error": msg, "data": <what it was>} and it goes to the err port. Returns false when
 * out of memory (the event is then still marked, with its data unchanged). */
static inline bool tb_event_fail(tb_batch *b, tb_event *e, const char *msg) {
    tb_value obj = tb_object();
    tb_value *slot;
    size_t n = strlen(msg);
    const char *copy = tb_arena_dup(b->arena, msg, n);
    e->flags |= TB_EF_ERROR;
    if (!copy || !(slot = tb_object_append(b->arena, &obj, "error", 5))) return false;
    *slot = tb_string(copy, n);
    if (!(slot = tb_object_append(b->arena, &obj, "data", 4))) return false;
    *slot = e->data;
    e->data = obj;
    e->flags &= (uint16_t)~TB_EF_RAW;
    return true;
}

/* tb_event_fail with a printf-style reason (at most 511 bytes). */
static inline bool tb_event_failf(tb_batch *b, tb_event *e, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
static inline bool tb_event_failf(tb_batch *b, tb_event *e, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return tb_event_fail(b, e, msg);
}

/* A growable byte buffer in an arena, for encoders and postprocessors that do not know the
 * output size in advance. */
typedef struct tb_buf {
    uint8_t *data;
    size_t len;
    size_t cap;
    tb_arena *arena;
} tb_buf;

static inline void tb_buf_init(tb_buf *buf, tb_arena *arena) {
    buf->data = NULL;
    buf->len = buf->cap = 0;
    buf->arena = arena;
}

/* Ensures room for n more bytes; false when out of memory. */
static inline bool tb_buf_reserve(tb_buf *buf, size_t n) {
    size_t ncap;
    uint8_t *p;
    if (buf->cap - buf->len >= n) return true;
    if (n > SIZE_MAX / 2 - buf->len) return false; /* the doubling below would overflow */
    ncap = buf->cap ? buf->cap * 2 : 256;
    while (ncap - buf->len < n) ncap *= 2;
    /* extend in place when the buffer is the arena's last allocation */
    if (buf->data && buf->data + buf->cap == buf->arena->cur &&
        (size_t)(buf->arena->end - buf->data) >= ncap) {
        buf->arena->cur = buf->data + ncap;
        buf->cap = ncap;
        return true;
    }
    p = (uint8_t *)tb_arena_alloc(buf->arena, ncap, 1);
    if (!p) return false;
    if (buf->len) memcpy(p, buf->data, buf->len);
    buf->data = p;
    buf->cap = ncap;
    return true;
}

static inline bool tb_buf_append(tb_buf *buf, const void *src, size_t n) {
    if (!tb_buf_reserve(buf, n)) return false;
    if (n) memcpy(buf->data + buf->len, src, n);
    buf->len += n;
    return true;
}

/* ---------------------------------------------------------------------------------------
 * The host function table
 *
 * Handed to the plugin's init and to every create. Owned by the runtime, valid until the
 * plugin's deinit returns. A plugin built for an older minor sees a smaller struct_size;
 * check TB_HAS_FIELD before using a field added after minor 0. Every function pointer in it
 * is non-NULL.
 * ------------------------------------------------------------------------------------- */

enum {
    TB_LOG_ERROR = 0,
    TB_LOG_WARN = 1,
    TB_LOG_INFO = 2,
    TB_LOG_DEBUG = 3,
    TB_LOG_TRACE = 4
};

enum {
    TB_METRIC_COUNTER = 0, /* monotonically increasing; metric_add */
    TB_METRIC_GAUGE = 1    /* a level; metric_set or metric_add */
};

/* Readiness bits for fd_watch. */
enum {
    TB_FD_READ = 1u << 0,
    TB_FD_WRITE = 1u << 1,
    TB_FD_ERROR = 1u << 2 /* reported only: error or hang-up */
};

/* Called on the thread that runs the instance when fd is ready (events: TB_FD_* bits). */
typedef void(TB_CALL *tb_fd_fn)(void *user, int fd, uint32_t events);
/* Called on the thread that runs the instance when the timer fires. */
typedef void(TB_CALL *tb_timer_fn)(void *user, uint64_t timer_id);

typedef struct tb_host_api {
    uint32_t struct_size;
    uint16_t abi_major;
    uint16_t abi_minor;

    /* Logging. Any thread. msg is copied; it names nothing itself: the runtime prefixes the
     * plugin and instance. */
    void(TB_CALL *log)(tb_context *ctx, uint32_t level, const char *msg);
    bool(TB_CALL *log_enabled)(tb_context *ctx, uint32_t level);

    /* The instance's configuration: an object validated against the component's declared
     * options, with defaults filled in. Owned by the runtime; valid until destroy returns.
     * For a plugin context (init), the plugin's own configuration or an empty object. Any
     * thread. */
    const tb_value *(TB_CALL *config)(tb_context *ctx);

    /* Memory accounted to the calling plugin (and limited, when the operator sets a limit).
     * Any thread. alloc returns NULL when out of memory or over the limit; realloc(NULL, n)
     * is alloc; free(NULL) does nothing. Memory must be freed through the same context's
     * plugin (any of its contexts). */
    void *(TB_CALL *alloc)(tb_context *ctx, size_t size);
    void *(TB_CALL *realloc)(tb_context *ctx, void *ptr, size_t size);
    void(TB_CALL *free)(tb_context *ctx, void *ptr);

    /* Records why the call now failing failed; the runtime reports it with the status the
     * callback returns. msg is copied. The thread of the failing callback. */
    void(TB_CALL *set_error)(tb_context *ctx, const char *msg);

    /* Metrics. register returns TB_OK and an id, or TB_EINVAL for a bad name or type; the
     * same name registered twice gives the same id. add and set are lock-free and may be
     * called from any thread. */
    int(TB_CALL *metric_register)(tb_context *ctx, const char *name, uint32_t type,
                                  uint32_t *out_id);
    void(TB_CALL *metric_add)(tb_context *ctx, uint32_t id, int64_t delta);
    void(TB_CALL *metric_set)(tb_context *ctx, uint32_t id, int64_t value);

    /* I/O readiness: the runtime polls fd and calls cb on the instance's thread when any of
     * events (TB_FD_READ/WRITE) is ready. The fd stays the plugin's; unwatch it before
     * closing it. Ids are never 0. Control thread or the instance's thread. */
    int(TB_CALL *fd_watch)(tb_context *ctx, int fd, uint32_t events, tb_fd_fn cb, void *user,
                           uint64_t *out_watch_id);
    int(TB_CALL *fd_modify)(tb_context *ctx, uint64_t watch_id, uint32_t events);
    void(TB_CALL *fd_unwatch)(tb_context *ctx, uint64_t watch_id);

    /* Timers: cb fires after delay_ns, then every interval_ns if that is not 0. Control
     * thread or the instance's thread. Ids are never 0. Stopping an unknown or fired
     * one-shot timer is a no-op. */
    int(TB_CALL *timer_start)(tb_context *ctx, uint64_t delay_ns, uint64_t interval_ns,
                              tb_timer_fn cb, void *user, uint64_t *out_timer_id);
    void(TB_CALL *timer_stop)(tb_context *ctx, uint64_t timer_id);

    /* Wakes the instance: a source that returned TB_EAGAIN from pull has data now (for
     * example from a library's own thread). Any thread, async-signal-unsafe. */
    void(TB_CALL *wake)(tb_context *ctx);

    /* Contraflow from a sink: the batch whose token is given (tb_batch.token), for which
     * push returned TB_EPENDING, was delivered (status TB_OK) or failed (negative). Any
     * thread. */
    void(TB_CALL *delivered)(tb_context *ctx, uint64_t batch_token, int status);

    /* Circuit breaker from a sink: open (true) when it cannot deliver (connection lost), so
     * the runtime pauses the sources that feed it; closed (false) when it can again. Any
     * thread. */
    void(TB_CALL *circuit)(tb_context *ctx, bool open);

    /* Optional host capabilities, by id with a revision in it ("temblor.json/1"). NULL
     * means not supported. The returned table is owned by the runtime and lives as long as
     * the host table. Any thread. */
    const void *(TB_CALL *get_extension)(tb_context *ctx, const char *id);

#if TB_TARGET_ABI_MINOR >= 1
    /* Since 1.1: CLOCK_MONOTONIC nanoseconds. Any thread. */
    uint64_t(TB_CALL *now_ns)(void);
#endif
} tb_host_api;

/* Formats and logs a message through the host. Messages longer than 1023 bytes are cut. */
static inline void tb_log(const tb_host_api *host, tb_context *ctx, uint32_t level,
                          const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;
static inline void tb_log(const tb_host_api *host, tb_context *ctx, uint32_t level,
                          const char *fmt, ...) {
    char buf[1024];
    va_list ap;
    if (!host->log_enabled(ctx, level)) return;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    host->log(ctx, level, buf);
}

/* Formats an error message through the host and returns status, for
 * `return tb_fail(host, ctx, TB_EINVAL, "...", ...);`. */
static inline int tb_fail(const tb_host_api *host, tb_context *ctx, int status,
                          const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;
static inline int tb_fail(const tb_host_api *host, tb_context *ctx, int status,
                          const char *fmt, ...) {
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    host->set_error(ctx, buf);
    return status;
}

/* Host extension "temblor.json/1": JSON text to and from values, with the runtime's own
 * parser. parse reads text[0..len) into *out, allocating in arena (strings without escapes
 * point into text); on failure it returns TB_EINVAL and writes "line:column: reason" into
 * err. write appends the JSON text of v to buf. Any thread. */
#define TB_EXT_JSON "temblor.json/1"
typedef struct tb_ext_json {
    uint32_t struct_size;
    int(TB_CALL *parse)(tb_arena *arena, const char *text, size_t len, tb_value *out,
                        char *err, size_t err_size);
    int(TB_CALL *write)(const tb_value *v, tb_buf *buf);
} tb_ext_json;

/* Host extension "temblor.runtime/1": requests to the runtime itself. shutdown asks for a
 * graceful stop, as SIGTERM does: sources stop pulling, events in flight drain to their
 * sinks, instances stop, and the process exits with exit_code (the first request wins).
 * It returns at once; the caller keeps running until the runtime stops it. Any thread. */
#define TB_EXT_RUNTIME "temblor.runtime/1"
typedef struct tb_ext_runtime {
    uint32_t struct_size;
    uint32_t reserved;
    void(TB_CALL *shutdown)(tb_context *ctx, int exit_code);
} tb_ext_runtime;

/* Host extension "temblor.metrics/1": the runtime's own metrics, for a connector that
 * publishes them (the bundled `metrics` connector). snapshot builds, in arena, an array with
 * one record per measurement, in the shape of Tremor's metrics events:
 *   {"measurement": "stage", "tags": {"stage": "flow::instance", "kind": "connector"},
 *    "fields": {"events_in": N, ...}, "timestamp": <CLOCK_REALTIME ns>}
 *   {"measurement": "port_events", "tags": {"stage": ..., "port": "out"},
 *    "fields": {"count": N}, "timestamp": ...}
 * (docs/architecture.md lists the fields).
 * Returns TB_OK, TB_ENOMEM, or TB_ENOTSUP when no engine runs. Any thread. */
#define TB_EXT_METRICS "temblor.metrics/1"
typedef struct tb_ext_metrics {
    uint32_t struct_size;
    uint32_t reserved;
    int(TB_CALL *snapshot)(tb_context *ctx, tb_arena *arena, tb_value *out);
} tb_ext_metrics;

/* Host extension "temblor.streams/1": a connector's sink half says that one of its streams is
 * over (the connection it names closed, the request it stands for was answered, an answer
 * came for a stream it no longer knows). The runtime keeps postprocessors per stream on the
 * sink side, created when a stream's first event is pushed; sink_stream_done frees that
 * stream's instances at once, without running their finish (nothing more can be written to
 * the stream). A later event of the same stream starts it afresh. Without these calls the
 * runtime frees them only when the connector stops or reconnects. The instance's thread. */
#define TB_EXT_STREAMS "temblor.streams/1"
typedef struct tb_ext_streams {
    uint32_t struct_size;
    uint32_t reserved;
    void(TB_CALL *sink_stream_done)(tb_context *ctx, uint32_t stream);
} tb_ext_streams;

/* Host extension "temblor.handover/1": file descriptors a connector's old instance hands to
 * its new one when the runtime reloads the plugin (sockets that stay open across the reload).
 * In save, give_fd puts fd in the runtime's keeping and returns a handle to write into the
 * saved value; from then on the old instance must neither use nor close fd. 0 means it cannot
 * (not within save, or out of memory): fd stays the caller's. In restore, take_fd returns the
 * fd of a handle, now the new instance's, or -1 (unknown, or taken already). After restore,
 * the runtime closes every fd handed over and not taken, so a build that does not restore
 * them leaks nothing. A plugin host (an isolated instance) hands nothing over. The
 * instance's thread. */
#define TB_EXT_HANDOVER "temblor.handover/1"
typedef struct tb_ext_handover {
    uint32_t struct_size;
    uint32_t reserved;
    uint64_t(TB_CALL *give_fd)(tb_context *ctx, int fd);
    int(TB_CALL *take_fd)(tb_context *ctx, uint64_t handle);
} tb_ext_handover;

/* ---------------------------------------------------------------------------------------
 * Declared options and permissions
 * ------------------------------------------------------------------------------------- */

enum {
    TB_OPT_BOOL = 1,
    TB_OPT_INT = 2,    /* signed 64-bit */
    TB_OPT_UINT = 3,   /* unsigned 64-bit */
    TB_OPT_FLOAT = 4,  /* double; integers are accepted */
    TB_OPT_STRING = 5,
    TB_OPT_ARRAY = 6,
    TB_OPT_OBJECT = 7,
    TB_OPT_ANY = 8
};

enum {
    TB_OPT_REQUIRED = 1u << 0 /* configuration must set it; it has no default */
};

/* One configuration option of a component. default_value is text: the literal string for
 * TB_OPT_STRING, JSON for every other type ("true", "42", "[1,2]"); NULL means no default
 * (the option is then absent unless set). Options live in an array of tb_option; the
 * runtime reads it with the stride given by the first element's struct_size. */
typedef struct tb_option {
    uint32_t struct_size;
    uint32_t type;  /* TB_OPT_* */
    const char *name;
    const char *default_value;
    const char *doc;
    uint32_t flags; /* TB_OPT_* flags */
    uint32_t reserved;
} tb_option;

#define TB_OPTION(name_, type_, default_, flags_, doc_) \
    { (uint32_t)sizeof(tb_option), (uint32_t)(type_), (name_), (default_), (doc_), (flags_), 0u }

enum {
    TB_PERM_NET_CONNECT = 1, /* outgoing connections to target (host:port, * wildcards) */
    TB_PERM_NET_LISTEN = 2,  /* listening on target (address:port) */
    TB_PERM_FS_READ = 3,     /* reading below path target */
    TB_PERM_FS_WRITE = 4,    /* writing below path target */
    TB_PERM_PROCESS = 5      /* starting processes */
};

/* One permission the plugin needs. The target is either fixed (target) or taken from the
 * configuration option named by option (for example a file connector's "path"). */
typedef struct tb_permission {
    uint32_t struct_size;
    uint32_t kind;       /* TB_PERM_* */
    const char *target;  /* NULL when option names it or when any target is needed */
    const char *option;  /* NULL, or the option whose value is the target */
    const char *reason;  /* shown to the operator */
} tb_permission;

#define TB_PERMISSION(kind_, target_, option_, reason_) \
    { (uint32_t)sizeof(tb_permission), (uint32_t)(kind_), (target_), (option_), (reason_) }

/* ---------------------------------------------------------------------------------------
 * Components and their kind interfaces
 *
 * Thread contract for every kind: create and destroy run on the control thread; every
 * other callback of one instance runs on one worker thread at a time (never two calls of
 * the same instance concurrently). Different instances may run on different threads at
 * once, so state shared between instances (plugin_state) must be thread-safe.
 * Required callbacks are marked; an optional one may be NULL and the runtime checks.
 * ------------------------------------------------------------------------------------- */

enum {
    TB_KIND_CONNECTOR = 1,
    TB_KIND_CODEC = 2,
    TB_KIND_PREPROCESSOR = 3,
    TB_KIND_POSTPROCESSOR = 4,
    TB_KIND_OPERATOR = 5
};

/* What create receives. Owned by the runtime; valid during the create call; the pointers
 * in it (host, ctx, config) stay valid until destroy returns. */
typedef struct tb_create_args {
    uint32_t struct_size;
    uint32_t reserved;
    const tb_host_api *host;
    tb_context *ctx;          /* this instance's context */
    void *plugin_state;       /* what the plugin's init returned */
    const tb_value *config;   /* validated object, defaults filled in */
    uint32_t stream;          /* preprocessors and postprocessors: the stream served */
    uint32_t reserved2;
} tb_create_args;

/* create and destroy for a component whose instances hold no state (a stateless codec,
 * processor or operator): *out_instance is a token that is never dereferenced; nothing is
 * allocated, so nothing is freed. Plug them into any vtable's create and destroy. */
static inline int TB_CALL tb_stateless_create(const tb_create_args *args, void **out_instance) {
    static const char token;
    (void)args;
    *out_instance = (void *)&token;
    return TB_OK;
}
static inline void TB_CALL tb_stateless_destroy(void *instance) { (void)instance; }
/* save and restore (ABI 1.2) for an operator or connector that has nothing to hand over to
 * a new build: its state is null, and restore takes nothing from what it is given. */
static inline int TB_CALL tb_stateless_save(void *instance, tb_arena *arena, tb_value *out) {
    (void)instance;
    (void)arena;
    *out = tb_null();
    return TB_OK;
}
static inline int TB_CALL tb_stateless_restore(void *instance, const tb_value *saved) {
    (void)instance;
    (void)saved;
    return TB_OK;
}

/* About how many bytes of raw input a source puts in one batch (see pull). */
#define TB_BATCH_BYTES (256u * 1024u)

/* Connector flags. */
enum {
    TB_CONNECTOR_SOURCE = 1u << 0,        /* has a source half: pull */
    TB_CONNECTOR_SINK = 1u << 1,          /* has a sink half: push */
    TB_CONNECTOR_TRANSACTIONAL = 1u << 2, /* its source can replay: wants ack/fail for every
                                             event (without it, ack/fail come only for events
                                             the source flags TB_EF_TRANSACTIONAL) */
    TB_CONNECTOR_STRUCTURED = 1u << 3,    /* its source emits values, not bytes: no codec */
    /* (1.1) its sink takes events as values (it discards or inspects them): the runtime
     * encodes nothing for it unless its definition names a codec */
    TB_CONNECTOR_SINK_VALUES = 1u << 4
};

typedef struct tb_connector_vtable {
    uint32_t struct_size;
    uint32_t flags; /* TB_CONNECTOR_* */

    /* Required. Creates an instance from args; TB_OK and *out_instance, or a TB_E* code
     * with a message set through host->set_error. A runtime thread that is not a worker
     * running another callback of this instance: the control or admin thread, or the
     * instance's own thread when a reload replaces it (docs/pdk.md, Threads). */
    int(TB_CALL *create)(const tb_create_args *args, void **out_instance);
    /* Required. Frees the instance; called once, after stop (or instead of it if the
     * instance never started). As create. */
    void(TB_CALL *destroy)(void *instance);

    /* Lifecycle, all optional (NULL means nothing to do, success). The instance's thread.
     * connect: establish the external connection; TB_EIO or TB_EAGAIN make the runtime
     *   retry with exponential backoff and jitter.
     * start: begin producing/consuming after connect.
     * pause/resume: stop and restart pulling (backpressure, circuit breaker).
     * drain: stop taking new data and flush what is in flight; TB_OK when drained,
     *   TB_EAGAIN to be called again.
     * stop: release external resources; the instance will only be destroyed. */
    int(TB_CALL *connect)(void *instance);
    int(TB_CALL *start)(void *instance);
    int(TB_CALL *pause)(void *instance);
    int(TB_CALL *resume)(void *instance);
    int(TB_CALL *drain)(void *instance);
    int(TB_CALL *stop)(void *instance);

    /* Source half (required with TB_CONNECTOR_SOURCE). Appends events to out with
     * tb_batch_push: raw bytes (TB_EF_RAW, data TB_BYTES in out->arena) or values
     * (TB_CONNECTOR_STRUCTURED). out arrives empty with room for the runtime's batch size
     * (out->capacity): a source should stop there, and a source of raw bytes also once it
     * holds TB_BATCH_BYTES of them (a preprocessor may split one chunk into thousands of
     * events, and a batch is what the runtime bounds). Returns TB_OK (possibly with no events;
     * the runtime pulls again as soon as the flow has room), TB_EAGAIN when nothing is
     * ready (the runtime pulls again after any of the instance's fd or timer callbacks has
     * run, or after wake), TB_EOF when the source is exhausted (events appended in the same
     * call are kept), or an error. A source that serves several streams (files,
     * connections) sets tb_event.stream and ends a stream with an event flagged
     * TB_EF_STREAM_END (its data may be empty bytes), so the runtime flushes and frees that
     * stream's preprocessors. The instance's thread. */
    int(TB_CALL *pull)(void *instance, tb_batch *out);
    /* Source half, optional: the events with these ids (tb_event.id) reached every sink
     * (ack) or failed somewhere (fail, so a transactional source replays them). ids is
     * owned by the runtime, valid during the call. The instance's thread. */
    void(TB_CALL *ack)(void *instance, const uint64_t *ids, uint32_t count);
    void(TB_CALL *fail)(void *instance, const uint64_t *ids, uint32_t count);

    /* Sink half (required with TB_CONNECTOR_SINK). Delivers in (already encoded and
     * postprocessed bytes in TB_EF_RAW events, or values for a structured sink). Returns
     * TB_OK when delivered, TB_EPENDING when it will report through host->delivered, or an
     * error (the batch failed; the runtime fails it back to its sources). The instance's
     * thread. */
    int(TB_CALL *push)(void *instance, tb_batch *in);

#if TB_TARGET_ABI_MINOR >= 2
    /* Since 1.2, optional: handover when the runtime replaces this instance by one of a new
     * build of the plugin (a reload) or restarts it. save is called on the old instance once
     * it is idle (no pull or push under way, every event it emitted acknowledged or failed,
     * fails already reported) and before stop: it describes where the instance is (a read
     * offset, a sequence number, a schedule) as a value built in arena, which the runtime
     * owns and frees after restore. restore is called on the new instance after create and
     * before connect, with that value; it should take what it understands and ignore the
     * rest (the value may come from an older or newer build). After a successful save, stop
     * must not finish what the new instance carries on (a final report, a commit of an end
     * position). TB_OK, or an error: a failing
     * save means the new instance starts afresh (logged); a failing restore refuses the new
     * build and the old one is recreated and restored instead. The instance's thread. */
    int(TB_CALL *save)(void *instance, tb_arena *arena, tb_value *out);
    int(TB_CALL *restore)(void *instance, const tb_value *saved);
#endif
} tb_connector_vtable;

typedef struct tb_codec_vtable {
    uint32_t struct_size;
    uint32_t reserved;
    /* Required: create and destroy, as for connectors (threads included). */
    int(TB_CALL *create)(const tb_create_args *args, void **out_instance);
    void(TB_CALL *destroy)(void *instance);
    /* Required. Decodes, in place, every TB_EF_RAW event of batch: data (TB_BYTES) becomes
     * the decoded value, built in batch->arena and free to point into the input bytes; the
     * TB_EF_RAW flag is cleared. Events without TB_EF_RAW are left alone. An event that
     * decodes to nothing is marked TB_EF_DROPPED (never removed from the batch). An event that
     * does not decode (including a TB_EF_RAW one whose data is not TB_BYTES) is marked with
     * tb_event_fail and decoding goes on. Returns TB_OK, or an error when the whole batch
     * failed. The instance's thread. */
    int(TB_CALL *decode)(void *instance, tb_batch *batch);
    /* Required. Encodes, in place, every event of batch that is not TB_EF_RAW (error events
     * routed to a sink included: they are records like any other): data becomes TB_BYTES in
     * batch->arena and TB_EF_RAW is set. Events already TB_EF_RAW are left alone. Failures
     * as for decode. The instance's thread. */
    int(TB_CALL *encode)(void *instance, tb_batch *batch);
} tb_codec_vtable;

/* Preprocessors (before decode) and postprocessors (after encode) share this interface:
 * bytes in, bytes out. The runtime creates one instance per stream (args->stream), so
 * state such as a partial line is per stream. */
typedef struct tb_processor_vtable {
    uint32_t struct_size;
    uint32_t reserved;
    /* Required: create and destroy, as for connectors, or on the stream's thread. */
    int(TB_CALL *create)(const tb_create_args *args, void **out_instance);
    void(TB_CALL *destroy)(void *instance);
    /* Required. For each TB_EF_RAW event of in, appends zero or more TB_EF_RAW events to
     * out (copy stream, id, meta and flags from the input event). in->arena is out->arena,
     * so output may point into the input bytes; bytes kept across calls must be copied into
     * the instance's own memory. The instance's thread. */
    int(TB_CALL *process)(void *instance, const tb_batch *in, tb_batch *out);
    /* Optional. The stream ended: append whatever is still buffered to out. An event left
     * with no id, meta or ingest time gets those of the event that ended the stream (and its
     * TB_EF_TRANSACTIONAL flag), so its source hears of it. */
    int(TB_CALL *finish)(void *instance, tb_batch *out);
} tb_processor_vtable;

/* Contraflow seen by an operator. */
enum {
    TB_CF_ACK = 1,           /* delivered */
    TB_CF_FAIL = 2,          /* failed */
    TB_CF_CIRCUIT_OPEN = 3,  /* a sink downstream cannot deliver */
    TB_CF_CIRCUIT_CLOSE = 4  /* it can again */
};

typedef struct tb_contraflow {
    uint32_t struct_size;
    uint32_t kind;           /* TB_CF_* */
    uint64_t event_id;       /* tb_event.id of the event it concerns (ACK/FAIL) */
    uint64_t latency_ns;     /* ingest to delivery (ACK/FAIL) */
    uint32_t port;           /* the output port the event left on */
    uint32_t reserved;
} tb_contraflow;

typedef struct tb_operator_vtable {
    uint32_t struct_size;
    uint32_t reserved;
    /* NULL-terminated names of the output ports; event.port indexes this list. NULL means
     * {"out", "err"}. */
    const char *const *output_ports;
    /* Required: create and destroy, as for connectors. */
    int(TB_CALL *create)(const tb_create_args *args, void **out_instance);
    void(TB_CALL *destroy)(void *instance);
    /* Required. Consumes the events of in (arriving on input port in_port, an index into
     * the ports the pipeline connected) and appends its output to out, each with
     * event.port set. out->arena is in->arena. The instance's thread. */
    int(TB_CALL *process)(void *instance, uint32_t in_port, tb_batch *in, tb_batch *out);
    /* Optional. Periodic tick (windows, timeouts) at now_ns; may emit into out. */
    int(TB_CALL *tick)(void *instance, uint64_t now_ns, tb_batch *out);
#if TB_TARGET_ABI_MINOR >= 1
    /* Since 1.1, optional. What became of events this operator passed on: acknowledged or
     * failed by their sinks (with the end-to-end latency), or a circuit breaker opening or
     * closing downstream. For quality-of-service operators (backpressure, percentile).
     * The instance's thread. */
    void(TB_CALL *contraflow)(void *instance, const struct tb_contraflow *cf);
#endif
#if TB_TARGET_ABI_MINOR >= 2
    /* Since 1.2: handover when the runtime replaces this instance by one of a new build of
     * the plugin (a reload), between two batches of the pipeline. save is called on the old
     * instance: everything it holds (buffered events, counters, windows, schedules) as a
     * value built in arena, which the runtime owns; restore on the new instance, after
     * create, with that value. The new instance is created and restored before the old one
     * is destroyed: if restore fails, the old one runs on. An operator without both cannot
     * be reloaded while a pipeline runs it (the reload is refused): a stateless operator
     * plugs in tb_stateless_save and tb_stateless_restore. Values in out must be copies in
     * arena, not pointers into the instance. The instance's thread. */
    int(TB_CALL *save)(void *instance, tb_arena *arena, tb_value *out);
    int(TB_CALL *restore)(void *instance, const tb_value *saved);
#endif
} tb_operator_vtable;

/* One thing a plugin provides: a connector, codec, processor or operator, by name. */
typedef struct tb_component {
    uint32_t struct_size;
    uint32_t kind;             /* TB_KIND_* */
    const char *name;          /* [a-z0-9_-]+ or module::name (operators: "grouper::bucket");
                                  unique per kind across loaded plugins */
    const char *description;   /* one line */
    const tb_option *options;  /* option_count elements, or NULL */
    uint32_t option_count;
    uint32_t reserved;
    const void *vtable;        /* the tb_*_vtable of kind; starts with its struct_size */
} tb_component;

/* ---------------------------------------------------------------------------------------
 * The plugin descriptor: what tb_plugin_entry returns
 * ------------------------------------------------------------------------------------- */

enum {
    /* The library may be unmapped (dlclose) after deinit: it registers no thread-local
     * destructors, atexit handlers or unique symbols, and leaves no thread behind. */
    TB_PLUGIN_UNLOAD_SAFE = 1u << 0
};

typedef struct tb_plugin_descriptor {
    /* These four fields never change, in any ABI. */
    uint32_t magic;      /* TB_PLUGIN_MAGIC */
    uint16_t abi_major;  /* TB_ABI_MAJOR */
    uint16_t abi_minor;  /* TB_TARGET_ABI_MINOR */
    uint32_t struct_size;

    uint32_t flags;           /* TB_PLUGIN_* */
    const char *name;         /* [a-z0-9_-]+, unique among loaded plugins */
    const char *version;      /* the plugin's own version, semver */
    const char *description;  /* one line */
    const tb_component *const *components;
    uint32_t component_count;
    uint32_t reserved;

    /* Optional. Called once before the first instance of any component is created
     * (reference counted by the runtime: init on first use, deinit after the last).
     * *out_state is handed to every create as plugin_state. ctx is the plugin's context.
     * On the thread of that create, with the runtime's registry lock held (never two at
     * once). */
    int(TB_CALL *init)(const tb_host_api *host, tb_context *ctx, void **out_state);
    /* Optional. The last instance is gone; free what init made. On the thread of that
     * destroy, as init. */
    void(TB_CALL *deinit)(void *state);

#if TB_TARGET_ABI_MINOR >= 1
    /* Since 1.1: what the plugin needs to be allowed to do (for sandboxed hosts). */
    const tb_permission *permissions;
    uint32_t permission_count;
    uint32_t reserved2;
    /* Since 1.1, optional: the plugin's own capabilities by id, as host get_extension. */
    const void *(TB_CALL *get_extension)(void *state, const char *id);
#endif
} tb_plugin_descriptor;

/* The descriptor initialiser's fixed head. */
#define TB_DESCRIPTOR_HEAD \
    TB_PLUGIN_MAGIC, TB_ABI_MAJOR, TB_TARGET_ABI_MINOR, (uint32_t)sizeof(tb_plugin_descriptor)

/* The type of tb_plugin_entry. It only returns a pointer to a static descriptor; it must
 * not allocate, start threads or touch the host. Any thread. */
typedef const tb_plugin_descriptor *(TB_CALL *tb_plugin_entry_fn)(void);

#ifdef __cplusplus
}
#endif

#if defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L && UINTPTR_MAX == UINT64_MAX
/* The frozen layouts on 64-bit targets. */
_Static_assert(sizeof(tb_value) == 16, "tb_value layout is frozen");
_Static_assert(sizeof(tb_member) == 32, "tb_member layout is frozen");
_Static_assert(sizeof(tb_event) == 64, "tb_event layout is frozen");
_Static_assert(sizeof(tb_batch) == 48, "tb_batch layout is frozen");
_Static_assert(sizeof(tb_arena) == 32, "tb_arena layout is frozen");
#endif

#endif /* TEMBLOR_TEMBLOR_H */
