/* cmd_run.c - `temblor run FILE.troy...`: compiles the deployments, builds their flows and
 * runs them until every source has ended, a plugin asks to stop, or SIGINT/SIGTERM; a
 * single script or query runs over stdin instead (cmd_lang.c). */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "engine/engine.h"
#include "lang/deploy.h"
#include "plugin/registry.h"

static void usage(FILE *out) {
    fputs("usage: temblor run [--plugin-path DIR]... [--log-level LEVEL] [--batch-size N]\n"
          "                   [--queue-capacity N] FILE.troy...\n"
          "       temblor run FILE.tremor|FILE.trickle < events.jsonl\n"
          "\n"
          "Runs the flows the deployments deploy until every source has ended and every event\n"
          "is delivered, a plugin asks to stop (the exit connector), or SIGINT/SIGTERM; then\n"
          "drains the events in flight to their sinks and exits 0.\n"
          "\n"
          "  --batch-size N       events a source is asked for per pull (1 to 65536, default 256)\n"
          "  --queue-capacity N   batches that may wait in front of a stage (1 to 65536,\n"
          "                       default 16)\n",
          out);
}

/* Takes `--batch-size N` and `--queue-capacity N` (also `--opt=N`) out of argv in place,
 * into eo. Returns the new argc, or -1 after printing a usage error. */
static int take_engine_opts(int argc, char **argv, tbr_engine_opts *eo) {
    const struct {
        const char *name;
        uint32_t *field;
    } known[] = {{"--batch-size", &eo->batch_size}, {"--queue-capacity", &eo->queue_capacity}};
    int out = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *value = NULL;
        size_t k, n = sizeof known / sizeof *known;
        for (k = 0; k < n; k++) {
            size_t len = strlen(known[k].name);
            if (strncmp(a, known[k].name, len) != 0) continue;
            if (a[len] == '=') value = a + len + 1;
            else if (a[len] == '\0') value = i + 1 < argc ? argv[++i] : "";
            else continue;
            break;
        }
        if (k == n) {
            argv[out++] = argv[i];
            continue;
        }
        char *end = NULL;
        errno = 0;
        unsigned long long v = strtoull(value, &end, 10);
        if (!*value || *end || errno || value[0] == '-' || v < 1 || v > 65536) {
            fprintf(stderr, "temblor: %s needs a whole number from 1 to 65536\n", known[k].name);
            return -1;
        }
        *known[k].field = (uint32_t)v;
    }
    return out;
}

static bool is_troy(const char *path) {
    size_t n = strlen(path);
    return n >= 5 && !strcmp(path + n - 5, ".troy");
}

int tbr_cmd_run(int argc, char **argv) {
    tbr_cli_opts opts;
    tbr_engine_opts eo = {.exit_when_done = true};
    argc = take_engine_opts(argc, argv, &eo);
    if (argc < 0) return TBR_EXIT_USAGE;
    argc = tbr_cli_parse_common(argc, argv, &opts);
    if (argc < 0) return TBR_EXIT_USAGE;
    if (opts.help || argc < 2) {
        usage(opts.help ? stdout : stderr);
        return opts.help ? TBR_EXIT_OK : TBR_EXIT_USAGE;
    }
    if (!is_troy(argv[1])) {
        if (argc != 2) {
            fputs("temblor: run takes one script or query, or any number of .troy files\n", stderr);
            return TBR_EXIT_USAGE;
        }
        return tbr_cmd_run_lang(argv[1]);
    }
    int nfiles = argc - 1, rc = TBR_EXIT_FAILURE;
    tbr_source **srcs = calloc((size_t)nfiles, sizeof *srcs);
    tbr_deployment **deps = calloc((size_t)nfiles, sizeof *deps);
    tbr_registry *reg = tbr_registry_new();
    tbr_engine *engine = NULL;
    if (!srcs || !deps || !reg) goto oom;
    tbr_registry_add_static_plugins(reg);
    tbr_registry_scan_search_path(reg, opts.plugin_dirs);
    for (int i = 0; i < nfiles; i++) {
        const char *path = argv[i + 1];
        if (!is_troy(path)) {
            fprintf(stderr, "temblor: %s: expected a deployment (.troy) like the files before it\n", path);
            goto done;
        }
        srcs[i] = tbr_source_read(path);
        if (!srcs[i]) {
            fprintf(stderr, "temblor: cannot read %s: %s\n", path, strerror(errno));
            goto done;
        }
        tbr_diags diags;
        tbr_diags_init(&diags, srcs[i]);
        deps[i] = tbr_deployment_compile(srcs[i], reg, &diags);
        if (!deps[i]) tbr_diags_print(&diags, stderr);
        tbr_diags_free(&diags);
        if (!deps[i]) goto done;
    }
    engine = tbr_engine_new(reg, &eo);
    if (!engine) goto oom;
    for (int i = 0; i < nfiles; i++) {
        char err[1024];
        if (tbr_engine_deploy(engine, deps[i], err, sizeof err)) {
            fprintf(stderr, "temblor: %s\n", err);
            goto done;
        }
    }
    rc = tbr_engine_run(engine);
    goto done;
oom:
    fputs("temblor: out of memory\n", stderr);
done:
    tbr_engine_free(engine);
    for (int i = 0; i < nfiles && deps; i++) tbr_deployment_free(deps[i]);
    for (int i = 0; i < nfiles && srcs; i++) tbr_source_free(srcs[i]);
    free(deps);
    free(srcs);
    tbr_registry_free(reg);
    return rc;
}
