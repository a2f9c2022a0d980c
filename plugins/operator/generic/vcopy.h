/*
 * vcopy.h - deep copies of values between a batch's arena and an operator's own memory.
 *
 * A batch's values die with its arena when the call that handed the batch over returns, so
 * an operator that keeps events across calls (generic::batch) copies them into a pool of
 * its own memory (host->alloc) and, when it emits them, copies them back into the output
 * batch's arena. The pool is a chain of chunks released all at once, like an arena.
 *
 * Thread contract: a pool belongs to one instance and is used by its thread only.
 * Ownership: the pool owns what it hands out until vc_pool_reset or vc_pool_free.
 */
#ifndef TBOP_GENERIC_VCOPY_H
#define TBOP_GENERIC_VCOPY_H

#include <temblor/temblor.h>

/* Values nested deeper than this are refused rather than risking the stack. */
#define VC_MAX_DEPTH 512

typedef struct vc_chunk vc_chunk;

typedef struct vc_pool {
    const tb_host_api *host;
    tb_context *ctx;
    vc_chunk *chunks; /* newest first; the first one allocates from */
    size_t used;      /* bytes handed out since the last reset */
} vc_pool;

void tbop_vc_pool_init(vc_pool *pool, const tb_host_api *host, tb_context *ctx);
/* Releases everything the pool handed out, keeping one chunk for reuse. */
void tbop_vc_pool_reset(vc_pool *pool);
/* Releases the pool's memory. */
void tbop_vc_pool_free(vc_pool *pool);

/* Copies src with all it holds into the pool as *dst. TB_OK, TB_ENOMEM, or TB_EINVAL when
 * src is nested deeper than VC_MAX_DEPTH. On failure *dst is null and what was copied stays
 * in the pool until its next reset. */
int tbop_vc_to_pool(vc_pool *pool, const tb_value *src, tb_value *dst);

/* Copies src with all it holds into arena as *dst. TB_OK, TB_ENOMEM or TB_EINVAL. */
int tbop_vc_to_arena(tb_arena *arena, const tb_value *src, tb_value *dst);

/* For saved state (an operator's save), which may not point into the plugin's memory:
 * appends member key, the key copied into arena, to object obj and returns its null slot,
 * or NULL when out of memory. */
tb_value *tbop_vc_put(tb_arena *arena, tb_value *obj, const char *key);

/* For restore: the unsigned integer member key of obj (TB_U64, or TB_I64 when not negative)
 * into *out. False when obj is not an object, or the member is absent or not one. */
bool tbop_vc_get_u64(const tb_value *obj, const char *key, uint64_t *out);

#endif
