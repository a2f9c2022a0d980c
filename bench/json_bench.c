/*
 * json_bench.c - temblor's json codec plugin (plugins/codec/json) against jansson and
 * simdjson (Debian's libjansson-dev and libsimdjson-dev) on the same records in one run: the
 * figures behind issue 5's target "JSON decode into the event layout >= 0.5 x simdjson DOM
 * parse and >= 3 x jansson". simdjson's side is C++, in json_simdjson.cpp.
 *
 * usage: json_bench DATA.json.xz PLUGIN_DIR [SECONDS] [ROUNDS] [MODE]
 *   e.g. build/bench/json_bench ../shared/bench-data/data.json.xz build/plugins 2 5
 * MODE (one of the names below, e.g. "temblor dec") times that mode alone, for a profiler.
 *
 * DATA is xz of JSON lines (Tremor's data.json.xz), decompressed once. Each round runs every
 * mode below for SECONDS, one after the other (A B C .. A B C .., so drift on a noisy machine
 * spreads over all of them), each time over all the records:
 *   temblor dec   the plugin, found through the registry as the runtime finds it, decoding a
 *                 batch of raw events (pointing at the records) into the event layout; the
 *                 batch arena (64 KiB chunks, the runtime's default) is reset per batch.
 *   jansson dec   json_loadb of every record; the trees are json_decref'd after the batch.
 *   sj dom        simdjson::dom::parser::parse of every record (padded copies made once).
 *   sj ondemand   simdjson On-Demand, reading every key and value (strings unescaped,
 *                 numbers converted) and checking that nothing trails.
 *   temblor enc   the plugin encoding the decoded values (a batch of structured events) back
 *                 to JSON in the batch arena.
 *   jansson enc   json_dumpb(JSON_COMPACT) of jansson's trees into one buffer per batch.
 *   sj to_string  simdjson::to_string (minified JSON) of the DOM documents, one std::string
 *                 per record.
 * Every figure is MB/s of the JSON input (so encode figures compare the same work: writing
 * back what those bytes held), and events/s. Before timing it checks that all three parsers
 * take every record and that temblor's and simdjson's output re-parse with jansson to values
 * json_equal to jansson's decode of the input; else it exits 1.
 *
 * Ownership: main owns everything (records, arenas, trees, the instance, the registry and
 * the simdjson handle) and frees it before returning. Single-threaded.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_util.h"
#include "json_simdjson.h"
#include "plugin/instance.h"
#include "plugin/registry.h"
#include "value/arena.h"

enum { T_DEC, J_DEC, S_DOM, S_OD, T_ENC, J_ENC, S_ENC, NMODES };
static const char *const mode_names[NMODES] = {"temblor dec", "jansson dec", "sj dom",
                                                "sj ondemand", "temblor enc", "jansson enc",
                                                "sj to_string"};

#define CHUNK (64u * 1024u) /* the runtime's default arena chunk */

typedef struct bench {
    size_t n;              /* records */
    const char **rec;      /* each record's JSON (pointing into the decompressed text) */
    size_t *len;
    size_t bytes;          /* of all records */
    tbr_instance *codec;   /* the json codec plugin's instance */
    tb_arena *arena;       /* the batch arena, reset per batch as the runtime does */
    tb_value *ours;        /* temblor's decode of each record, kept for "temblor enc" */
    json_t **jtrees;       /* jansson's decode of each record, kept for "jansson enc" */
    json_t **jbatch;       /* the trees of the batch being decoded */
    char *jbuf;            /* jansson's output buffer */
    size_t jbuf_cap;
    jb_simdjson *sj;
    unsigned long errors;  /* records a timed batch failed on (must stay 0) */
} bench;

static int codec_decode(const bench *B, tb_batch *b) {
    return B->codec->component->vt.codec.decode(B->codec->state, b);
}
static int codec_encode(const bench *B, tb_batch *b) {
    return B->codec->component->vt.codec.encode(B->codec->state, b);
}

/* Runs one pass of mode over every record. */
static void run_batch(bench *B, int mode) {
    tbr_arena_reset(B->arena);
    switch (mode) {
    case T_DEC: {
        tb_batch b = bench_make_batch(B->arena, (const void *const *)B->rec, B->len, B->n, NULL);
        if (codec_decode(B, &b)) B->errors += B->n;
        for (uint32_t i = 0; i < b.count; i++) B->errors += (b.events[i].flags & TB_EF_ERROR) != 0;
        break;
    }
    case J_DEC:
        for (size_t i = 0; i < B->n; i++)
            if (!(B->jbatch[i] = json_loadb(B->rec[i], B->len[i], 0, NULL))) B->errors++;
        /* the trees live until the batch is done, as a batch's values would */
        for (size_t i = 0; i < B->n; i++) json_decref(B->jbatch[i]);
        break;
    case S_DOM: B->errors += jb_sj_dom_all(B->sj); break;
    case S_OD: B->errors += jb_sj_ondemand_all(B->sj); break;
    case T_ENC: {
        tb_batch b = bench_make_batch(B->arena, (const void *const *)B->rec, B->len, B->n, B->ours);
        if (codec_encode(B, &b)) B->errors += B->n;
        break;
    }
    case J_ENC: {
        size_t off = 0;
        for (size_t i = 0; i < B->n; i++) {
            size_t k = json_dumpb(B->jtrees[i], B->jbuf + off, B->jbuf_cap - off, JSON_COMPACT);
            if (!k || k > B->jbuf_cap - off) B->errors++;
            else off += k;
        }
        break;
    }
    case S_ENC:
        if (!jb_sj_encode_all(B->sj)) B->errors++;
        break;
    }
}

/* Whether text[0..n) parses with jansson to a value equal to jansson's decode of record i. */
static bool same_as_jansson(const bench *B, size_t i, const char *text, size_t n) {
    json_error_t jerr;
    json_t *back = json_loadb(text, n, 0, &jerr);
    bool same = back && json_equal(back, B->jtrees[i]);
    json_decref(back);
    return same;
}

/* The checks before timing (see the header comment); fills B->ours and B->jtrees. Returns
 * false, having said why, when any fails. keep holds temblor's decode and encode. */
static bool verify(bench *B, tb_arena *keep) {
    tb_batch dec = bench_make_batch(keep, (const void *const *)B->rec, B->len, B->n, NULL), enc;
    size_t ours_ok = 0, jansson_ok = 0, sj_ok = 0, out = 0, same_in = 0, sj_same = 0;
    bool ok = codec_decode(B, &dec) == TB_OK;
    for (size_t i = 0; ok && i < B->n; i++) {
        const tb_event *e = &dec.events[i];
        json_error_t jerr;
        const char *sj_err = jb_sj_check(B->sj, i);
        if (e->flags & (TB_EF_ERROR | TB_EF_RAW)) {
            const tb_value *why = tb_object_getz(&e->data, "error");
            size_t wl = 0;
            const char *w = why ? tb_value_str(why, &wl) : NULL;
            fprintf(stderr, "record %zu: temblor: %.*s\n", i + 1, (int)wl, w ? w : "?");
        } else {
            B->ours[ours_ok++] = e->data;
        }
        if ((B->jtrees[i] = json_loadb(B->rec[i], B->len[i], 0, &jerr))) jansson_ok++;
        else fprintf(stderr, "record %zu: jansson: %s\n", i + 1, jerr.text);
        if (sj_err) fprintf(stderr, "record %zu: simdjson: %s\n", i + 1, sj_err);
        else sj_ok++;
    }
    printf("accepted by temblor: %zu, jansson: %zu, simdjson (DOM and On-Demand): %zu of %zu\n",
           ours_ok, jansson_ok, sj_ok, B->n);
    if (!ok || ours_ok != B->n || jansson_ok != B->n || sj_ok != B->n) return false;
    /* temblor's (and simdjson's) output must read back as what jansson read from the input */
    enc = bench_make_batch(keep, (const void *const *)B->rec, B->len, B->n, B->ours);
    ok = codec_encode(B, &enc) == TB_OK;
    for (size_t i = 0; ok && i < B->n; i++) {
        const tb_value *d = &enc.events[i].data;
        char sbuf[4096];
        size_t sn = jb_sj_encode_one(B->sj, i, sbuf, sizeof sbuf);
        if (d->type != TB_BYTES || !same_as_jansson(B, i, (const char *)d->as.bytes, d->len)) {
            fprintf(stderr, "record %zu: temblor's encode does not re-parse to an equal value\n",
                    i + 1);
            ok = false;
            break;
        }
        if (sn > sizeof sbuf || !same_as_jansson(B, i, sbuf, sn)) {
            fprintf(stderr, "record %zu: simdjson's to_string does not re-parse equal\n", i + 1);
            ok = false;
        }
        out += d->len;
        same_in += d->len == B->len[i] && !memcmp(d->as.bytes, B->rec[i], B->len[i]);
        sj_same += sn == B->len[i] && !memcmp(sbuf, B->rec[i], sn);
    }
    if (ok)
        printf("round trip ok: temblor encodes %zu bytes, byte-identical to the input for %zu of "
               "%zu records (simdjson's to_string: %zu)\n",
               out, same_in, B->n, sj_same);
    return ok;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The ratios of the medians, against the targets, and the medians of the per-round
 * decode ratios (rdom, rjan are sorted here). */
static void print_ratios(const double *med, double *rdom, double *rjan, int rounds) {
    double dom = med[T_DEC] / med[S_DOM], jan = med[T_DEC] / med[J_DEC];
    printf("\nratios of medians, temblor / other\n");
    printf("decode / simdjson DOM        %5.2f  (target >= 0.50: %s)\n", dom,
           dom >= 0.5 ? "met" : "missed");
    printf("decode / jansson             %5.2f  (target >= 3.00: %s)\n", jan,
           jan >= 3.0 ? "met" : "missed");
    printf("decode / simdjson On-Demand  %5.2f\n", med[T_DEC] / med[S_OD]);
    printf("encode / simdjson to_string  %5.2f\n", med[T_ENC] / med[S_ENC]);
    printf("encode / jansson             %5.2f\n", med[T_ENC] / med[J_ENC]);
    qsort(rdom, (size_t)rounds, sizeof(double), cmp_double);
    qsort(rjan, (size_t)rounds, sizeof(double), cmp_double);
    printf("per-round decode ratios: / simdjson DOM median %.2f (%.2f to %.2f), / jansson "
           "median %.2f (%.2f to %.2f)\n",
           rdom[rounds / 2], rdom[0], rdom[rounds - 1], rjan[rounds / 2], rjan[0],
           rjan[rounds - 1]);
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s DATA.json.xz PLUGIN_DIR [SECONDS] [ROUNDS] [MODE]\n", argv[0]);
        return 2;
    }
    int only = -1; /* the one mode to time, or -1 for all */
    for (int m = 0; argc > 5 && m < NMODES; m++)
        if (strcmp(argv[5], mode_names[m]) == 0) only = m;
    if (argc > 5 && only < 0) {
        fprintf(stderr, "unknown mode '%s'\n", argv[5]);
        return 2;
    }
    double seconds = argc > 3 ? atof(argv[3]) : 2.0;
    int rounds = argc > 4 ? atoi(argv[4]) : 5;
    if (!(seconds > 0)) seconds = 2.0;
    if (rounds < 1 || rounds > 99) rounds = 5;

    size_t text_len, cap = 0;
    char *text = bench_read_xz(argv[1], &text_len);
    if (!text) {
        fprintf(stderr, "cannot read %s\n", argv[1]);
        return 1;
    }
    bench B;
    memset(&B, 0, sizeof B);
    for (char *p = text, *end = text + text_len; p < end;) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t line = nl ? (size_t)(nl - p) : (size_t)(end - p), n = line;
        while (n && p[n - 1] == '\r') n--;
        if (n) {
            if (B.n == cap) {
                cap = cap ? cap * 2 : 128;
                B.rec = realloc(B.rec, cap * sizeof *B.rec);
                B.len = realloc(B.len, cap * sizeof *B.len);
            }
            B.rec[B.n] = p;
            B.len[B.n++] = n;
            B.bytes += n;
        }
        p += line + 1;
    }
    if (!B.n) {
        fprintf(stderr, "%s: no records\n", argv[1]);
        return 1;
    }

    /* the plugin, found and created as the runtime does */
    tbr_registry *reg = tbr_registry_new();
    char err[512] = "";
    tbr_registry_add_static_plugins(reg);
    tbr_registry_scan_dir(reg, argv[2]);
    const tbr_component *c = tbr_registry_find(reg, TB_KIND_CODEC, "json");
    if (!c || tbr_instance_create(reg, c, "bench", NULL, NULL, 0, &B.codec, err, sizeof err)) {
        fprintf(stderr, "no json codec from %s %s\n", argv[2], err);
        return 1;
    }
    B.arena = tbr_arena_new(CHUNK);
    B.ours = malloc(B.n * sizeof *B.ours);
    B.jtrees = calloc(B.n, sizeof *B.jtrees);
    B.jbatch = calloc(B.n, sizeof *B.jbatch);
    B.jbuf_cap = B.bytes * 2 + 4096;
    B.jbuf = malloc(B.jbuf_cap);
    B.sj = jb_sj_new(B.rec, B.len, B.n);
    tb_arena *keep = tbr_arena_new(CHUNK);
    if (!B.arena || !B.ours || !B.jtrees || !B.jbatch || !B.jbuf || !B.sj || !keep) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    printf("%zu records, %zu bytes of JSON (%.0f bytes each); jansson %s, simdjson %s (%s)\n",
           B.n, B.bytes, (double)B.bytes / (double)B.n, JANSSON_VERSION, jb_sj_version(),
           jb_sj_implementation());
    if (!verify(&B, keep)) {
        fprintf(stderr, "verification failed\n");
        return 1;
    }

    static double mbs[NMODES][99], eps[NMODES][99], rdom[99], rjan[99];
    for (int r = 0; r < rounds; r++) {
        printf("\nround %d of %d (%.1f s per mode)\n%-13s %10s %12s\n", r + 1, rounds, seconds,
               "mode", "MB/s", "events/s");
        for (int m = 0; m < NMODES; m++) {
            if (only >= 0 && m != only) continue;
            size_t events = 0;
            double start = bench_now_s(), elapsed;
            do {
                run_batch(&B, m);
                events += B.n;
                elapsed = bench_now_s() - start;
            } while (elapsed < seconds);
            eps[m][r] = (double)events / elapsed;
            mbs[m][r] = eps[m][r] * (double)B.bytes / (double)B.n / 1e6;
            printf("%-13s %10.1f %12.0f\n", mode_names[m], mbs[m][r], eps[m][r]);
        }
        if (only >= 0) continue;
        /* ratios within a round: modes seconds apart share the machine's mood */
        rdom[r] = eps[T_DEC][r] / eps[S_DOM][r];
        rjan[r] = eps[T_DEC][r] / eps[J_DEC][r];
        printf("temblor decode / simdjson DOM %.2f, / jansson %.2f\n", rdom[r], rjan[r]);
    }
    printf("\nmedian of %d rounds (MB/s of JSON input)\n%-13s %10s %12s\n", rounds, "mode",
           "MB/s", "events/s");
    double med[NMODES];
    for (int m = 0; m < NMODES; m++) {
        if (only >= 0 && m != only) continue;
        qsort(mbs[m], (size_t)rounds, sizeof(double), cmp_double);
        qsort(eps[m], (size_t)rounds, sizeof(double), cmp_double);
        med[m] = eps[m][rounds / 2];
        printf("%-13s %10.1f %12.0f\n", mode_names[m], mbs[m][rounds / 2], med[m]);
    }
    if (only < 0) print_ratios(med, rdom, rjan, rounds);
    printf("errors in timed batches: %lu\n", B.errors);

    tbr_instance_destroy(B.codec);
    tbr_registry_free(reg);
    tbr_arena_free(B.arena);
    tbr_arena_free(keep);
    for (size_t i = 0; i < B.n; i++) json_decref(B.jtrees[i]);
    jb_sj_free(B.sj);
    free(B.rec);
    free(B.len);
    free(B.ours);
    free(B.jtrees);
    free(B.jbatch);
    free(B.jbuf);
    free(text);
    return B.errors ? 1 : 0;
}
