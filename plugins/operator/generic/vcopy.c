/*
 * vcopy.c - deep copies of values into an operator's own pool and back into an arena.
 *
 * One recursive copy serves both directions; only the allocator differs. Strings, bytes and
 * keys are copied too, since they may point into the input buffer a decoder was given or
 * into the batch's arena. Copied arrays and objects hold exactly len slots (no capacity
 * flag), which every reader of the value model accepts. The last two helpers serve save and
 * restore (a reload's handover), which build and read records of named members.
 *
 * Thread contract: as vcopy.h says: one instance's thread.
 */
#include "vcopy.h"

#include <stdlib.h>

/* A chunk of the pool: the header, then the memory handed out. */
struct vc_chunk {
    vc_chunk *next;
    size_t size; /* bytes after the header */
    size_t off;  /* bytes handed out */
    max_align_t align[];
};

#define VC_CHUNK_SIZE 8192u

typedef void *(*vc_alloc_fn)(void *user, size_t size, size_t align);

void tbop_vc_pool_init(vc_pool *pool, const tb_host_api *host, tb_context *ctx) {
    pool->host = host;
    pool->ctx = ctx;
    pool->chunks = NULL;
    pool->used = 0;
}

void tbop_vc_pool_reset(vc_pool *pool) {
    vc_chunk *keep = NULL;
    vc_chunk *c = pool->chunks;
    while (c) {
        vc_chunk *next = c->next;
        /* keep one chunk of the usual size, so a steady flow allocates nothing */
        if (!keep && c->size == VC_CHUNK_SIZE) {
            keep = c;
            keep->off = 0;
        } else {
            pool->host->free(pool->ctx, c);
        }
        c = next;
    }
    if (keep) keep->next = NULL;
    pool->chunks = keep;
    pool->used = 0;
}

void tbop_vc_pool_free(vc_pool *pool) {
    vc_chunk *c = pool->chunks;
    while (c) {
        vc_chunk *next = c->next;
        pool->host->free(pool->ctx, c);
        c = next;
    }
    pool->chunks = NULL;
    pool->used = 0;
}

static void *pool_alloc(void *user, size_t size, size_t align) {
    vc_pool *pool = user;
    vc_chunk *c = pool->chunks;
    if (c) {
        size_t off = (c->off + (align - 1)) & ~(align - 1);
        if (off <= c->size && size <= c->size - off) {
            c->off = off + size;
            pool->used += size;
            return (char *)c->align + off;
        }
    }
    /* a new chunk: the usual size, or exactly the request when it is bigger */
    size_t want = size > VC_CHUNK_SIZE ? size : VC_CHUNK_SIZE;
    if (want > SIZE_MAX - sizeof(vc_chunk)) return NULL;
    vc_chunk *n = pool->host->alloc(pool->ctx, sizeof(vc_chunk) + want);
    if (!n) return NULL;
    n->size = want;
    n->off = size;
    if (want == VC_CHUNK_SIZE || !c) {
        n->next = c;
        pool->chunks = n;
    } else {
        /* an outsized chunk is full at once: keep allocating from the current one */
        n->next = c->next;
        c->next = n;
    }
    pool->used += size;
    return n->align;
}

static void *arena_alloc(void *user, size_t size, size_t align) {
    return tb_arena_alloc(user, size, align);
}

/* Copies len bytes; a zero-length run still gets one byte, so the pointer is never NULL. */
static const void *copy_bytes(vc_alloc_fn alloc, void *user, const void *src, size_t len) {
    char *p = alloc(user, len ? len : 1, 1);
    if (p && len) memcpy(p, src, len);
    return p;
}

static int copy_value(vc_alloc_fn alloc, void *user, const tb_value *src, tb_value *dst,
                      unsigned depth);

static int copy_array(vc_alloc_fn alloc, void *user, const tb_value *src, tb_value *dst,
                      unsigned depth) {
    tb_value *items = NULL;
    if (src->len) {
        items = alloc(user, (size_t)src->len * sizeof *items, 8);
        if (!items) return TB_ENOMEM;
        for (uint32_t i = 0; i < src->len; i++) {
            int rc = copy_value(alloc, user, &src->as.items[i], &items[i], depth + 1);
            if (rc) return rc;
        }
    }
    *dst = tb_array();
    dst->len = src->len;
    dst->as.items = items;
    return TB_OK;
}

static int copy_object(vc_alloc_fn alloc, void *user, const tb_value *src, tb_value *dst,
                       unsigned depth) {
    tb_member *members = NULL;
    if (src->len) {
        members = alloc(user, (size_t)src->len * sizeof *members, 8);
        if (!members) return TB_ENOMEM;
        for (uint32_t i = 0; i < src->len; i++) {
            const tb_member *m = &src->as.members[i];
            members[i].key = copy_bytes(alloc, user, m->key, m->key_len);
            if (!members[i].key) return TB_ENOMEM;
            members[i].key_len = m->key_len;
            members[i].reserved = 0;
            int rc = copy_value(alloc, user, &m->value, &members[i].value, depth + 1);
            if (rc) return rc;
        }
    }
    *dst = tb_object();
    dst->len = src->len;
    dst->as.members = members;
    return TB_OK;
}

static int copy_value(vc_alloc_fn alloc, void *user, const tb_value *src, tb_value *dst,
                      unsigned depth) {
    *dst = tb_null();
    if (depth > VC_MAX_DEPTH) return TB_EINVAL;
    switch (src->type) {
    case TB_STRING: {
        const char *s = copy_bytes(alloc, user, src->as.s, src->len);
        if (!s) return TB_ENOMEM;
        *dst = tb_string(s, src->len);
        return TB_OK;
    }
    case TB_BYTES: {
        const void *b = copy_bytes(alloc, user, src->as.bytes, src->len);
        if (!b) return TB_ENOMEM;
        *dst = tb_bytes(b, src->len);
        return TB_OK;
    }
    case TB_ARRAY: return copy_array(alloc, user, src, dst, depth);
    case TB_OBJECT: return copy_object(alloc, user, src, dst, depth);
    case TB_BOOL:
    case TB_I64:
    case TB_U64:
    case TB_F64:
        /* scalars carry no pointer: copy the payload, drop stray flags */
        *dst = *src;
        dst->flags = 0;
        dst->reserved = 0;
        return TB_OK;
    default:
        /* null, or a type this ABI does not define: null is the safe reading */
        return TB_OK;
    }
}

int tbop_vc_to_pool(vc_pool *pool, const tb_value *src, tb_value *dst) {
    int rc = copy_value(pool_alloc, pool, src, dst, 0);
    if (rc) *dst = tb_null();
    return rc;
}

int tbop_vc_to_arena(tb_arena *arena, const tb_value *src, tb_value *dst) {
    int rc = copy_value(arena_alloc, arena, src, dst, 0);
    if (rc) *dst = tb_null();
    return rc;
}

tb_value *tbop_vc_put(tb_arena *arena, tb_value *obj, const char *key) {
    size_t n = strlen(key);
    const char *copy = tb_arena_dup(arena, key, n);
    return copy ? tb_object_append(arena, obj, copy, n) : NULL;
}

bool tbop_vc_get_u64(const tb_value *obj, const char *key, uint64_t *out) {
    const tb_value *v = tb_object_getz(obj, key);
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
