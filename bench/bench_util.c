/* bench_util.c - the clock and the .xz reader the microbenchmarks share. */
#include "bench_util.h"

#include <lzma.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

double bench_now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Grows *buf to at least need bytes (doubling); false when out of memory (*buf is kept). */
static int grow(void **buf, size_t *cap, size_t need) {
    if (need <= *cap) return 1;
    size_t ncap = *cap ? *cap : 4096;
    while (ncap < need) ncap *= 2;
    void *n = realloc(*buf, ncap);
    if (!n) return 0;
    *buf = n;
    *cap = ncap;
    return 1;
}

char *bench_read_xz(const char *path, size_t *out_len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    void *in = NULL;
    size_t in_cap = 0, in_len = 0, got;
    do {
        if (!grow(&in, &in_cap, in_len + 65536)) {
            fclose(f);
            free(in);
            return NULL;
        }
        got = fread((uint8_t *)in + in_len, 1, in_cap - in_len, f);
        in_len += got;
    } while (got > 0);
    fclose(f);
    lzma_stream strm = LZMA_STREAM_INIT;
    if (lzma_stream_decoder(&strm, UINT64_MAX, 0) != LZMA_OK) {
        free(in);
        return NULL;
    }
    void *out = NULL;
    size_t cap = 0, len = 0;
    strm.next_in = in;
    strm.avail_in = in_len;
    lzma_ret rc = LZMA_OK;
    while (rc == LZMA_OK) {
        if (!grow(&out, &cap, len + 65536)) break;
        strm.next_out = (uint8_t *)out + len;
        strm.avail_out = cap - len;
        rc = lzma_code(&strm, LZMA_FINISH);
        len = cap - strm.avail_out;
    }
    lzma_end(&strm);
    free(in);
    if (rc != LZMA_STREAM_END) {
        free(out);
        return NULL;
    }
    *out_len = len;
    return out;
}

tb_batch bench_make_batch(tb_arena *a, const void *const *rec, const size_t *len, size_t n, const tb_value *values) {
    tb_batch b;
    memset(&b, 0, sizeof b);
    b.arena = a;
    for (size_t i = 0; i < n; i++) {
        tb_event *e = tb_batch_push(&b);
        if (!e) {
            fputs("out of memory\n", stderr);
            exit(1);
        }
        e->data = values ? values[i] : tb_bytes(rec[i], len[i]);
        e->meta = tb_object();
        e->flags = values ? 0 : TB_EF_RAW;
        e->id = i;
    }
    return b;
}
