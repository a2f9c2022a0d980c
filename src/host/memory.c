/* memory.c - the host allocator: every block carries a header with its size so the plugin's
 * live bytes, peak and allocation count stay exact, and a limit can be enforced. */
#include <stdlib.h>

#include "core/log.h"
#include "host/context_private.h"

/* max_align_t-sized, so the memory after it keeps malloc's alignment */
typedef union header {
    size_t size;
    max_align_t align;
} header;

static _Atomic(tbr_over_limit_fn) over_limit;

void tbr_host_set_over_limit_handler(tbr_over_limit_fn fn) { atomic_store(&over_limit, fn); }

static bool charge(tbr_plugin *p, size_t size) {
    size_t live = atomic_fetch_add(&p->mem_live, size) + size;
    if (p->mem_limit && live > p->mem_limit) {
        atomic_fetch_sub(&p->mem_live, size);
        return false;
    }
    size_t peak = atomic_load(&p->mem_peak);
    while (live > peak && !atomic_compare_exchange_weak(&p->mem_peak, &peak, live)) {
    }
    return true;
}

void *TB_CALL tbr_host_alloc(tb_context *ctx, size_t size) {
    tbr_plugin *p = ctx->plugin;
    if (size > SIZE_MAX - sizeof(header)) return NULL;
    if (!charge(p, size)) {
        tbr_over_limit_fn fn = atomic_load(&over_limit);
        if (fn) fn(ctx, size, p->mem_limit);
        tbr_log(TB_LOG_WARN, ctx->label, "allocation of %zu bytes refused: over the limit of %zu",
                size, p->mem_limit);
        return NULL;
    }
    header *h = malloc(sizeof(header) + size);
    if (!h) {
        atomic_fetch_sub(&p->mem_live, size);
        return NULL;
    }
    h->size = size;
    atomic_fetch_add(&p->alloc_count, 1);
    return h + 1;
}

void TB_CALL tbr_host_free(tb_context *ctx, void *ptr) {
    if (!ptr) return;
    header *h = (header *)ptr - 1;
    atomic_fetch_sub(&ctx->plugin->mem_live, h->size);
    atomic_fetch_sub(&ctx->plugin->alloc_count, 1);
    free(h);
}

void *TB_CALL tbr_host_realloc(tb_context *ctx, void *ptr, size_t size) {
    if (!ptr) return tbr_host_alloc(ctx, size);
    if (size > SIZE_MAX - sizeof(header)) return NULL;
    tbr_plugin *p = ctx->plugin;
    header *h = (header *)ptr - 1;
    size_t old = h->size;
    if (size > old && !charge(p, size - old)) {
        tbr_over_limit_fn fn = atomic_load(&over_limit);
        if (fn) fn(ctx, size, p->mem_limit);
        return NULL;
    }
    header *n = realloc(h, sizeof(header) + size);
    if (!n) {
        if (size > old) atomic_fetch_sub(&p->mem_live, size - old);
        return NULL;
    }
    if (size < old) atomic_fetch_sub(&p->mem_live, old - size);
    n->size = size;
    return n + 1;
}
