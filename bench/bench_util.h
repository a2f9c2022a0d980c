/*
 * bench_util.h - what the microbenchmarks share: a monotonic clock in seconds, and reading
 * an .xz file (the benchmark data) whole into memory.
 *
 * Ownership: bench_read_xz's buffer is the caller's (free). Thread contract: any thread.
 */
#ifndef TB_BENCH_UTIL_H
#define TB_BENCH_UTIL_H

#include <stddef.h>

/* CLOCK_MONOTONIC, in seconds. */
double bench_now_s(void);

/* Reads and decompresses the .xz file at path; the text (not NUL-terminated) and its length,
 * or NULL when it cannot be read or is not xz. */
char *bench_read_xz(const char *path, size_t *out_len);

#endif
