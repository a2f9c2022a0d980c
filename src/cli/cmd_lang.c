/* cmd_lang.c - `temblor check FILE` and `temblor run FILE` for the language: check compiles
 * and reports every error with its place; run feeds JSON lines from stdin through a script
 * and writes what it emits to stdout (deployments run through cmd_run.c). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "lang/deploy.h"
#include "lang/query.h"
#include "lang/script.h"
#include "plugin/registry.h"
#include "value/arena.h"
#include "value/json.h"

static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static tbr_source *load(const char *path) {
    tbr_source *src = tbr_source_read(path);
    if (!src) fprintf(stderr, "temblor: cannot read %s: %s\n", path, strerror(errno));
    return src;
}

static tbr_script *compile(const char *path, tbr_source **src_out) {
    tbr_source *src = load(path);
    if (!src) return NULL;
    tbr_diags diags;
    tbr_diags_init(&diags, src);
    tbr_script *s = tbr_script_compile(src, &diags);
    if (!s) {
        tbr_diags_print(&diags, stderr);
        tbr_source_free(src);
        src = NULL;
    }
    tbr_diags_free(&diags);
    *src_out = src;
    return s;
}

static int unsupported(const char *path) {
    fprintf(stderr, "temblor: %s: expected a script (.tremor), a query (.trickle) or, for check, a deployment (.troy)\n", path);
    return TBR_EXIT_FAILURE;
}

/* The plugins a query's operators come from: the binary's and the search path's. */
static tbr_registry *plugins(void) {
    tbr_registry *reg = tbr_registry_new();
    if (!reg) return NULL;
    tbr_registry_add_static_plugins(reg);
    tbr_registry_scan_search_path(reg, NULL);
    return reg;
}

static tbr_query *compile_query(const char *path, tbr_registry *reg, tbr_source **src_out) {
    tbr_source *src = load(path);
    if (!src) return NULL;
    tbr_diags diags;
    tbr_diags_init(&diags, src);
    tbr_query *q = tbr_query_compile(src, reg, &diags);
    if (!q) {
        tbr_diags_print(&diags, stderr);
        tbr_source_free(src);
        src = NULL;
    }
    tbr_diags_free(&diags);
    *src_out = src;
    return q;
}

int tbr_cmd_check(int argc, char **argv) {
    if (argc < 2 || (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")))) {
        fputs("usage: temblor check FILE...\n", argc < 2 ? stderr : stdout);
        return argc < 2 ? TBR_EXIT_USAGE : TBR_EXIT_OK;
    }
    int rc = TBR_EXIT_OK;
    tbr_registry *reg = NULL;
    for (int i = 1; i < argc; i++) {
        if (ends_with(argv[i], ".troy")) {
            tbr_source *src = load(argv[i]);
            if (!src) {
                rc = TBR_EXIT_FAILURE;
                continue;
            }
            if (!reg) reg = plugins();
            tbr_diags diags;
            tbr_diags_init(&diags, src);
            tbr_deployment *d = tbr_deployment_compile(src, reg, &diags);
            if (d) printf("%s: ok\n", argv[i]);
            else {
                tbr_diags_print(&diags, stderr);
                rc = TBR_EXIT_FAILURE;
            }
            tbr_deployment_free(d);
            tbr_diags_free(&diags);
            tbr_source_free(src);
            continue;
        }
        if (ends_with(argv[i], ".trickle")) {
            tbr_source *src;
            if (!reg) reg = plugins();
            tbr_query *q = compile_query(argv[i], reg, &src);
            if (!q) {
                rc = TBR_EXIT_FAILURE;
                continue;
            }
            printf("%s: ok\n", argv[i]);
            tbr_query_free(q);
            tbr_source_free(src);
            continue;
        }
        if (!ends_with(argv[i], ".tremor")) {
            rc = unsupported(argv[i]);
            continue;
        }
        tbr_source *src;
        tbr_script *s = compile(argv[i], &src);
        if (!s) {
            rc = TBR_EXIT_FAILURE;
            continue;
        }
        printf("%s: ok\n", argv[i]);
        tbr_script_free(s);
        tbr_source_free(src);
    }
    tbr_registry_free(reg);
    return rc;
}

/* One line of input: {"event": ..., "meta": ...} is not special; every line is the event. */
static void run_line(tbr_script_instance *inst, tb_arena *arena, char *line, size_t len, size_t lineno) {
    tb_value event, meta = tb_object();
    char err[256];
    if (tbr_json_parse(arena, line, len, &event, err, sizeof err) != TB_OK) {
        fprintf(stderr, "stdin:%zu: invalid JSON: %s\n", lineno, err);
        return;
    }
    tbr_script_result r;
    tbr_script_run(inst, arena, &event, &meta, &r);
    switch (r.outcome) {
    case TBR_SCRIPT_EMIT:
        if (r.port && !(r.port_len == 3 && !memcmp(r.port, "out", 3))) {
            fprintf(stdout, "%.*s: ", (int)r.port_len, r.port);
        }
        tbr_json_print(stdout, &r.value, 0);
        fputc('\n', stdout);
        break;
    case TBR_SCRIPT_DROP: break;
    case TBR_SCRIPT_ERROR: fprintf(stderr, "error: %s\n", r.error); break;
    }
}

static uint64_t realtime_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void print_outputs(tbr_pipeline_out *out) {
    for (size_t i = 0; i < out->count; i++) {
        const tbr_pipeline_event *pe = &out->items[i];
        FILE *f = strcmp(pe->port, "err") == 0 ? stderr : stdout;
        if (strcmp(pe->port, "out") != 0) fprintf(f, "%s: ", pe->port);
        tbr_json_print(f, &pe->event.data, 0);
        fputc('\n', f);
    }
    out->count = 0;
}

/* A query over JSON lines: each line is pushed into `in`; `out` goes to stdout, `err` to stderr,
 * other ports to stdout prefixed with their name. */
static int run_query(const char *path) {
    tbr_registry *reg = plugins();
    tbr_source *src;
    tbr_query *q = compile_query(path, reg, &src);
    if (!q) {
        tbr_registry_free(reg);
        return TBR_EXIT_FAILURE;
    }
    char err[512];
    tbr_pipeline *pl = tbr_pipeline_new(q, reg, err, sizeof err);
    int rc = TBR_EXIT_OK;
    tb_arena *arena = tbr_arena_new(0);
    if (!pl || !arena) {
        fprintf(stderr, "temblor: %s: %s\n", path, pl ? "out of memory" : err);
        rc = TBR_EXIT_FAILURE;
    } else {
        tbr_pipeline_out out = {0};
        char *line = NULL;
        size_t cap = 0, lineno = 0;
        ssize_t n;
        while ((n = getline(&line, &cap, stdin)) >= 0) {
            lineno++;
            while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) n--;
            if (n == 0) continue;
            tb_event ev = {0};
            char jerr[256];
            if (tbr_json_parse(arena, line, (size_t)n, &ev.data, jerr, sizeof jerr) != TB_OK) {
                fprintf(stderr, "stdin:%zu: invalid JSON: %s\n", lineno, jerr);
                continue;
            }
            ev.meta = tb_object();
            ev.id = lineno;
            ev.ingest_ns = realtime_ns();
            if (tbr_pipeline_push(pl, "in", &ev, arena, &out) != TB_OK) {
                fprintf(stderr, "temblor: out of memory\n");
                rc = TBR_EXIT_FAILURE;
                break;
            }
            tbr_pipeline_tick(pl, ev.ingest_ns, arena, &out);
            print_outputs(&out);
            tbr_arena_reset(arena);
        }
        free(line);
        tbr_pipeline_out_free(&out);
    }
    tbr_arena_free(arena);
    tbr_pipeline_free(pl);
    tbr_query_free(q);
    tbr_source_free(src);
    tbr_registry_free(reg);
    return rc;
}

int tbr_cmd_run_lang(const char *path) {
    if (ends_with(path, ".trickle")) return run_query(path);
    if (!ends_with(path, ".tremor")) return unsupported(path);
    tbr_source *src;
    tbr_script *s = compile(path, &src);
    if (!s) return TBR_EXIT_FAILURE;
    tbr_script_instance inst;
    tb_arena *arena = tbr_arena_new(0);
    int rc = TBR_EXIT_OK;
    if (!arena || tbr_script_instance_init(&inst, s, 0) != TB_OK) {
        fprintf(stderr, "temblor: out of memory\n");
        rc = TBR_EXIT_FAILURE;
    } else {
        char *line = NULL;
        size_t cap = 0, lineno = 0;
        ssize_t n;
        while ((n = getline(&line, &cap, stdin)) >= 0) {
            lineno++;
            while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) n--;
            if (n == 0) continue;
            run_line(&inst, arena, line, (size_t)n, lineno);
            tbr_arena_reset(arena);
        }
        free(line);
        tbr_script_instance_fini(&inst);
    }
    tbr_arena_free(arena);
    tbr_script_free(s);
    tbr_source_free(src);
    return rc;
}
