/*
 * bench_wire.c - a microbenchmark of the isolated tier's wire format (src/isolate/wire.h):
 * encode and decode of a batch of 256 decoded JSON events, in ns per event.
 *
 * usage: bench_wire DATA.json.xz [ROUNDS]
 *   e.g. build/tests/isolate/bench_wire ../shared/bench-data/data.json.xz
 *
 * DATA is xz of JSON lines (read through `xz -dc`). The lines are parsed with tbr_json_parse
 * and the TB_VF_NO_ESCAPE hint is set where it holds, as the json codec's decoder sets it, so
 * the decoder has to check every string as it would on the runtime's side. The batch holds
 * the records in turn up to 256 events. Each round times, for about 0.3 s each:
 *   size               tbr_wire_batch_size
 *   encode             tbr_wire_encode_batch into one buffer
 *   size+encode        both, as a caller that reserves the exact size does
 *   decode             tbr_wire_decode_batch into an arena reset per batch (64 KiB chunks)
 *   decode (no hints)  the same batch without TB_VF_NO_ESCAPE (the same work since the
 *                      decoder drops a peer's hints unchecked)
 *   json parse         tbr_json_parse of the same 256 lines (a scale to compare with, not
 *                      the json codec plugin, which is faster)
 * and prints the best round of each. No figure is asserted: it is a report, not a test.
 *
 * Ownership: main owns everything. Single-threaded.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "isolate/wire.h"
#include "value/arena.h"
#include "value/json.h"

#define BATCH 256u

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static char *read_xz(const char *path, size_t *len) {
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "xz -dc '%s'", path);
    FILE *f = popen(cmd, "r");
    if (!f) return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (n == cap) buf = realloc(buf, cap *= 2);
        size_t got = fread(buf + n, 1, cap - n, f);
        if (got == 0) break;
        n += got;
    }
    if (pclose(f) != 0 || n == 0) {
        free(buf);
        return NULL;
    }
    *len = n;
    return buf;
}

static bool plain(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == '"' || c == '\\') return false;
    }
    return true;
}

/* Sets TB_VF_NO_ESCAPE on every string and key that needs no escape. */
static void set_hints(tb_value *v) {
    if (v->type == TB_STRING && plain(v->as.s, v->len)) v->flags |= TB_VF_NO_ESCAPE;
    if (v->type == TB_ARRAY)
        for (uint32_t i = 0; i < v->len; i++) set_hints(&v->as.items[i]);
    if (v->type == TB_OBJECT)
        for (uint32_t i = 0; i < v->len; i++) {
            tb_member *m = &v->as.members[i];
            if (plain(m->key, m->key_len)) m->reserved = TB_VF_NO_ESCAPE;
            set_hints(&m->value);
        }
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: bench_wire DATA.json.xz [ROUNDS]\n");
        return 2;
    }
    int rounds = argc > 2 ? atoi(argv[2]) : 5;
    size_t text_len;
    char *text = read_xz(argv[1], &text_len);
    if (!text) {
        fprintf(stderr, "bench_wire: cannot read %s\n", argv[1]);
        return 1;
    }
    /* the lines */
    const char *line[BATCH];
    size_t line_len[BATCH], lines = 0, json_bytes = 0;
    for (const char *p = text, *end = text + text_len; p < end && lines < BATCH;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        if (n) {
            line[lines] = p;
            line_len[lines++] = n;
        }
        p += n + 1;
    }
    tb_arena *values = tbr_arena_new(1u << 20);
    tb_batch batch = {0};
    batch.arena = values;
    batch.token = 1;
    char err[256];
    for (uint32_t i = 0; i < BATCH; i++) {
        size_t k = i % lines;
        tb_event *e = tb_batch_push(&batch);
        if (tbr_json_parse(values, line[k], line_len[k], &e->data, err, sizeof err)) {
            fprintf(stderr, "bench_wire: line %zu: %s\n", k + 1, err);
            return 1;
        }
        set_hints(&e->data);
        e->id = i;
        e->ingest_ns = 1700000000000000000ull + i;
        json_bytes += line_len[k];
    }
    size_t size = tbr_wire_batch_size(&batch), written;
    uint8_t *buf = malloc(size);
    tb_arena *arena = tbr_arena_new(0);
    tb_arena *json_arena = tbr_arena_new(0);
    tb_batch out;
    tb_value scratch;
    /* the same batch without the hints, for the decoder's cost of checking them */
    tb_arena *plain_values = tbr_arena_new(1u << 20);
    tb_batch unhinted = {0};
    unhinted.arena = plain_values;
    for (uint32_t i = 0; i < BATCH; i++) {
        tb_event *e = tb_batch_push(&unhinted);
        if (tbr_json_parse(plain_values, line[i % lines], line_len[i % lines], &e->data, err,
                           sizeof err))
            return 1;
    }
    size_t unhinted_size = tbr_wire_batch_size(&unhinted);
    uint8_t *unhinted_buf = malloc(unhinted_size);
    if (tbr_wire_encode_batch(&unhinted, unhinted_buf, unhinted_size, &written)) return 1;

    enum { SIZE, ENCODE, SIZE_ENCODE, DECODE, DECODE_UNHINTED, JSON, MODES };
    static const char *const names[MODES] = {
        "size", "encode", "size+encode", "decode", "decode (no hints)", "json parse"};
    double best[MODES];
    for (int m = 0; m < MODES; m++) best[m] = 1e9;
    for (int r = 0; r < rounds; r++) {
        for (int m = 0; m < MODES; m++) {
            long n = 0;
            double t0 = now_s(), t;
            do {
                for (int k = 0; k < 8; k++, n++) {
                    int rc = 0;
                    switch (m) {
                    case SIZE: rc = tbr_wire_batch_size(&batch) == size ? 0 : 1; break;
                    case ENCODE: rc = tbr_wire_encode_batch(&batch, buf, size, &written); break;
                    case SIZE_ENCODE:
                        rc = tbr_wire_encode_batch(&batch, buf, tbr_wire_batch_size(&batch), &written);
                        break;
                    case DECODE:
                    case DECODE_UNHINTED:
                        tbr_arena_reset(arena);
                        rc = m == DECODE
                                 ? tbr_wire_decode_batch(buf, size, arena, &out, err, sizeof err)
                                 : tbr_wire_decode_batch(unhinted_buf, unhinted_size, arena, &out,
                                                         err, sizeof err);
                        break;
                    case JSON:
                        tbr_arena_reset(json_arena);
                        for (uint32_t i = 0; i < BATCH && !rc; i++)
                            rc = tbr_json_parse(json_arena, line[i % lines], line_len[i % lines],
                                                &scratch, err, sizeof err);
                        break;
                    }
                    if (rc) {
                        fprintf(stderr, "bench_wire: %s failed\n", names[m]);
                        return 1;
                    }
                }
            } while ((t = now_s() - t0) < 0.3);
            if (t / (double)n < best[m]) best[m] = t / (double)n;
        }
    }
    printf("batch of %u events: %zu bytes of JSON, %zu bytes on the wire (%.0f per event)\n",
           BATCH, json_bytes, size, (double)size / BATCH);
    for (int m = 0; m < MODES; m++)
        printf("%-18s %7.1f ns/event  %6.0f MB/s of %s\n", names[m], best[m] * 1e9 / BATCH,
               (double)(m == JSON ? json_bytes : size) / best[m] / 1e6,
               m == JSON ? "JSON (tbr_json_parse, for scale)" : "wire");
    free(unhinted_buf);
    tbr_arena_free(plain_values);
    free(buf);
    tbr_arena_free(json_arena);
    tbr_arena_free(arena);
    tbr_arena_free(values);
    free(text);
    return 0;
}
