/*
 * lang_bench.c - throughput of the language alone: Tremor's throughput-logging-json records
 * (../shared/bench-data/data.json.xz) through a classify script, without connectors.
 *
 * usage: lang_bench SCRIPT DATA.json.xz [SECONDS] [ROUNDS]
 *
 * Two figures per round, each over SECONDS: "script" runs the script on events decoded
 * once up front (the evaluator alone); "decode+script" parses each record's JSON again
 * every time and then runs the script (the work of a json codec plus the script). Prints
 * events/s per round and the median, so runs on a noisy machine can still be compared.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_util.h"
#include "lang/script.h"
#include "value/arena.h"
#include "value/json.h"

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s SCRIPT DATA.json.xz [SECONDS] [ROUNDS]\n", argv[0]);
        return 2;
    }
    double seconds = argc > 3 ? atof(argv[3]) : 3.0;
    int rounds = argc > 4 ? atoi(argv[4]) : 5;
    if (rounds < 1 || rounds > 99) rounds = 5;
    size_t len;
    char *data = bench_read_xz(argv[2], &len);
    if (!data) {
        fprintf(stderr, "cannot read %s\n", argv[2]);
        return 1;
    }
    /* split into lines */
    size_t nlines = 0, cap = 1024;
    char **lines = malloc(cap * sizeof *lines);
    size_t *lens = malloc(cap * sizeof *lens);
    for (char *p = data, *end = data + len; p < end;) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        if (n) {
            if (nlines == cap) {
                cap *= 2;
                lines = realloc(lines, cap * sizeof *lines);
                lens = realloc(lens, cap * sizeof *lens);
            }
            lines[nlines] = p;
            lens[nlines++] = n;
        }
        p += n + 1;
    }
    size_t bytes = 0;
    for (size_t i = 0; i < nlines; i++) bytes += lens[i] + 1;

    tbr_source *src = tbr_source_read(argv[1]);
    if (!src) {
        fprintf(stderr, "cannot read %s\n", argv[1]);
        return 1;
    }
    tbr_diags diags;
    tbr_diags_init(&diags, src);
    tbr_script *s = tbr_script_compile(src, &diags);
    if (!s) {
        tbr_diags_print(&diags, stderr);
        return 1;
    }
    tbr_script_instance inst;
    tbr_script_instance_init(&inst, s, 1);

    /* events decoded once, kept for the script-only figure */
    tb_arena *keep = tbr_arena_new(0), *scratch = tbr_arena_new(0);
    tb_value *events = malloc(nlines * sizeof *events);
    for (size_t i = 0; i < nlines; i++) {
        char err[128];
        if (tbr_json_parse(keep, lines[i], lens[i], &events[i], err, sizeof err)) {
            fprintf(stderr, "record %zu: %s\n", i + 1, err);
            return 1;
        }
    }
    double script_eps[99], full_eps[99];
    unsigned long errors = 0;
    for (int r = 0; r < rounds; r++) {
        for (int mode = 0; mode < 2; mode++) {
            unsigned long n = 0;
            double start = bench_now_s(), elapsed;
            do {
                for (size_t i = 0; i < nlines; i++) {
                    tb_value ev, meta = tb_object();
                    if (mode == 0) {
                        ev = events[i];
                    } else {
                        char err[128];
                        tbr_json_parse(scratch, lines[i], lens[i], &ev, err, sizeof err);
                    }
                    /* the script changes $ only; the shared decoded events stay intact */
                    tbr_script_result res;
                    tbr_script_run(&inst, scratch, &ev, &meta, &res);
                    if (res.outcome == TBR_SCRIPT_ERROR) errors++;
                    n++;
                }
                tbr_arena_reset(scratch);
                elapsed = bench_now_s() - start;
            } while (elapsed < seconds);
            (mode == 0 ? script_eps : full_eps)[r] = (double)n / elapsed;
        }
        printf("round %d: script %.0f events/s, decode+script %.0f events/s (%.1f MB/s of JSON)\n", r + 1,
               script_eps[r], full_eps[r], full_eps[r] * (double)bytes / (double)nlines / 1e6);
    }
    qsort(script_eps, (size_t)rounds, sizeof *script_eps, cmp_double);
    qsort(full_eps, (size_t)rounds, sizeof *full_eps, cmp_double);
    printf("median of %d rounds: script %.0f events/s, decode+script %.0f events/s (%.1f MB/s), %zu records of %.0f bytes, %lu script errors\n",
           rounds, script_eps[rounds / 2], full_eps[rounds / 2], full_eps[rounds / 2] * (double)bytes / (double)nlines / 1e6,
           nlines, (double)bytes / (double)nlines, errors);
    tbr_script_instance_fini(&inst);
    tbr_script_free(s);
    tbr_diags_free(&diags);
    tbr_source_free(src);
    return errors ? 1 : 0;
}
