/*
 * aggr.h - aggregate functions of trickle's select (aggr::stats::count, aggr::win::last,
 * ...): state per group and window, fed one event at a time, read when the window emits.
 *
 * The query executor owns the state memory: it allocates state_size bytes (zeroed) per
 * aggregate call site, per group, per window, and calls init before the first accumulate.
 * For tilt frames (`from in[w1, w2]`) the state of a window that just emitted is merged
 * into the state of the next, larger window.
 *
 * Thread contract: the table is static data; one state is used by one thread at a time.
 * Ownership: a state may own heap memory (fini frees it) and values it keeps must be copied
 * (events die with their batch): cx->keep is an arena owned by the state's window, reset
 * only after fini of every state in it.
 */
#ifndef TBR_LANG_AGGR_H
#define TBR_LANG_AGGR_H

#include <stddef.h>
#include <stdint.h>
#include <temblor/temblor.h>

typedef struct tbr_aggr_ctx {
    tb_arena *keep;      /* for values the state keeps until emission */
    tb_arena *out;       /* where emit builds its result */
    char *error;         /* failure message, as tbr_fn_error */
    size_t error_size;
} tbr_aggr_ctx;

typedef struct tbr_aggr_fn {
    const char *module;   /* "stats" or "win", written aggr::stats::count */
    const char *name;
    int16_t min_args;
    int16_t max_args;
    size_t state_size;
    /* args are evaluated per event, except those the function declares constant (the
     * percentile list of hdr, ...): those are given to init, evaluated once. const_args is
     * how many of the last parameters (positions max_args - const_args and up) are constant;
     * a call that omits them passes none to init. */
    int16_t const_args;
    int (*init)(tbr_aggr_ctx *cx, void *state, const tb_value *const_args, uint32_t nconst);
    int (*accumulate)(tbr_aggr_ctx *cx, void *state, const tb_value *args, uint32_t argc);
    /* Adds other (a state of the same function, same const args) into state. */
    int (*merge)(tbr_aggr_ctx *cx, void *state, const void *other);
    /* The aggregate's current value, built in cx->out; the state is unchanged. */
    int (*emit)(tbr_aggr_ctx *cx, const void *state, tb_value *out);
    /* Frees what the state owns (may be NULL). */
    void (*fini)(void *state);
    const char *signature;
    const char *doc;
} tbr_aggr_fn;

/* Finds aggr::module::name (module written "stats", "aggr::stats" or "std::aggr::stats"). */
const tbr_aggr_fn *tbr_aggr_lookup(const char *module, size_t module_len, const char *name,
                                   size_t name_len);
/* Iterates: i from 0 while non-NULL. */
const tbr_aggr_fn *tbr_aggr_at(size_t i);

#endif
