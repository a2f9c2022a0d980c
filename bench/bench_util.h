/*
 * bench_util.h - what the microbenchmarks share: a monotonic clock in seconds, and reading
 * an .xz file (the benchmark data) whole into memory.
 *
 * Ownership: bench_read_xz's buffer is the caller's (free). Thread contract: any thread.
 */
#ifndef TB_BENCH_UTIL_H
#define TB_BENCH_UTIL_H

#include <stddef.h>
#include <temblor/temblor.h>

/* CLOCK_MONOTONIC, in seconds. */
double bench_now_s(void);

/* Reads and decompresses the .xz file at path; the text (not NUL-terminated) and its length,
 * or NULL when it cannot be read or is not xz. */
char *bench_read_xz(const char *path, size_t *out_len);

/* A batch in arena a of n events: record i's bytes (rec[i], len[i]) as a raw event, as a
 * source's would be, or, when values is not NULL, values[i] as a decoded event. Exits the
 * process when out of memory (a benchmark has nothing better to do). */
tb_batch bench_make_batch(tb_arena *a, const void *const *rec, const size_t *len, size_t n, const tb_value *values);

#endif
