/* cmd_run.c - `temblor run FILE.troy...`: compiles the deployments, builds their flows and
 * runs them until every source has ended, a plugin asks to stop, or SIGINT/SIGTERM; a
 * single script or query runs over stdin instead (cmd_lang.c). */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin/admin.h"
#include "cli/cli.h"
#include "core/log.h"
#include "engine/engine.h"
#include "isolate/isolation.h"
#include "lang/deploy.h"
#include "plugin/registry.h"

static void usage(FILE *out) {
    fputs("usage: temblor run [--plugin-path DIR]... [--log-level LEVEL] [--batch-size N]\n"
          "                   [--queue-capacity N] [--admin SOCKET] [--admin-http ADDR\n"
          "                   --admin-token-file FILE] [--watch-plugins] FILE.troy...\n"
          "       temblor run FILE.tremor|FILE.trickle < events.jsonl\n"
          "\n"
          "Runs the flows the deployments deploy until every source has ended and every event\n"
          "is delivered, a plugin asks to stop (the exit connector), or SIGINT/SIGTERM; then\n"
          "drains the events in flight to their sinks and exits 0.\n"
          "\n"
          "  --batch-size N       events a source is asked for per pull (1 to 65536, default 256)\n"
          "  --queue-capacity N   batches that may wait in front of a stage (1 to 65536,\n"
          "                       default 16)\n"
          "  --call-budget-ms N   log a stage whose plugin call has not returned after N ms\n"
          "                       (1 to 65536, default 5000)\n"
          "  --memory-limit PLUGIN=SIZE  refuse a plugin's host allocations past SIZE bytes\n"
          "                       (K, M, G: powers of 1024; repeatable)\n"
          "  --admin SOCKET       serve the admin interface on this Unix socket (mode 0600):\n"
          "                       temblor plugin ... / temblor flow ... --admin SOCKET; the\n"
          "                       runtime then runs until a signal, even with no flow\n"
          "  --admin-http ADDR    also serve it over HTTP on a loopback ADDR (127.0.0.1:PORT),\n"
          "                       for requests carrying the token of --admin-token-file FILE\n"
          "                       (or TEMBLOR_ADMIN_TOKEN)\n"
          "  --watch-plugins      reload a plugin as soon as its library file is rewritten\n"
          "                       (a rebuild); runs until a signal\n"
          "  --signatures POLICY  require, warn or off (default; also TEMBLOR_SIGNATURES): what a\n"
          "                       plugin library without a good signature by a trusted key gets\n"
          "  --trust DIR          the trusted public keys (*.pub; also TEMBLOR_TRUST)\n"
          "  --isolate PLUGIN     run every instance of PLUGIN in a plugin host process (as\n"
          "                       isolation = \"process\" does for one instance; repeatable)\n"
          "  --grant PLUGIN=KIND[:TARGET]  allow PLUGIN's hosts fs-read:PATH, fs-write:PATH,\n"
          "                       net-connect:HOST:PORT, net-listen:ADDR:PORT or process\n"
          "                       (nothing by default; repeatable)\n"
          "  --sandbox MODE       require (default): refuse to run a plugin host the kernel\n"
          "                       cannot confine; degrade: run it and log what is not enforced\n"
          "  --isolated-signatures POLICY  the signature policy plugin hosts check their\n"
          "                       library under (default: that of --signatures)\n"
          "See docs/isolation.md for the isolated tier.\n"
          "See docs/admin.md.\n",
          out);
}

/* Takes `--batch-size N`, `--queue-capacity N` and `--call-budget-ms N` (also `--opt=N`) out of argv in place,
 * into eo. Returns the new argc, or -1 after printing a usage error. */
static int take_engine_opts(int argc, char **argv, tbr_engine_opts *eo) {
    const struct {
        const char *name;
        uint32_t *field;
    } known[] = {{"--batch-size", &eo->batch_size},
                 {"--queue-capacity", &eo->queue_capacity},
                 {"--call-budget-ms", &eo->call_budget_ms}};
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

/* Takes the admin options out of argv in place, into ao (token read from its file). Returns
 * the new argc, or -1 after printing a usage error. */
static int take_admin_opts(int argc, char **argv, tbr_admin_opts *ao, char *token, size_t token_size) {
    int out = 0;
    const char *token_file = NULL;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char **target = !strcmp(a, "--admin") ? &ao->socket_path
                              : !strcmp(a, "--admin-http") ? &ao->http_addr
                              : !strcmp(a, "--admin-token-file") ? &token_file
                                                                   : NULL;
        if (target) {
            if (i + 1 >= argc) {
                fprintf(stderr, "temblor: %s needs a value\n", a);
                return -1;
            }
            *target = argv[++i];
        } else if (!strcmp(a, "--watch-plugins")) {
            ao->watch_plugins = true;
        } else {
            argv[out++] = argv[i];
        }
    }
    const char *env = getenv("TEMBLOR_ADMIN_TOKEN");
    if (token_file) {
        FILE *f = fopen(token_file, "r");
        size_t n = f ? fread(token, 1, token_size - 1, f) : 0;
        if (f) fclose(f);
        if (!f) {
            fprintf(stderr, "temblor: --admin-token-file %s: %s\n", token_file, strerror(errno));
            return -1;
        }
        token[n] = 0;
        while (n && (token[n - 1] == '\n' || token[n - 1] == '\r' || token[n - 1] == ' ')) token[--n] = 0;
        ao->token = token;
    } else if (env) {
        ao->token = env;
    }
    if (ao->http_addr && !ao->token) {
        fprintf(stderr, "temblor: --admin-http needs a token: --admin-token-file FILE or TEMBLOR_ADMIN_TOKEN\n");
        return -1;
    }
    return out;
}

static bool is_troy(const char *path) {
    size_t n = strlen(path);
    return n >= 5 && !strcmp(path + n - 5, ".troy");
}

/* `--memory-limit PLUGIN=SIZE` (repeatable): SIZE in bytes, or with K, M or G (powers of 1024). */
typedef struct memory_limit {
    const char *plugin;
    size_t plugin_len;
    size_t bytes;
} memory_limit;

static int take_memory_limits(int argc, char **argv, memory_limit *limits, int *nlimits, int max) {
    int out = 0;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--memory-limit") != 0) {
            argv[out++] = argv[i];
            continue;
        }
        const char *v = i + 1 < argc ? argv[++i] : "", *eq = strchr(v, '=');
        char *end = NULL;
        errno = 0;
        unsigned long long n = eq ? strtoull(eq + 1, &end, 10) : 0;
        unsigned long long unit = 1;
        if (end && *end) unit = !strcmp(end, "K") ? 1ull << 10 : !strcmp(end, "M") ? 1ull << 20 : !strcmp(end, "G") ? 1ull << 30 : 0;
        if (!eq || eq == v || !end || end == eq + 1 || errno || !unit || !n || n > SIZE_MAX / unit || *nlimits == max) {
            fprintf(stderr, "temblor: --memory-limit needs PLUGIN=SIZE (bytes, or with K, M or G), at most %d of them; "
                            "found '%s'\n", max, v);
            return -1;
        }
        limits[*nlimits] = (memory_limit){v, (size_t)(eq - v), (size_t)(n * unit)};
        (*nlimits)++;
    }
    return out;
}

/* Sets each limit on its plugin; false (after saying which) for a plugin not loaded. */
static bool apply_memory_limits(tbr_registry *reg, const memory_limit *limits, int n) {
    for (int i = 0; i < n; i++) {
        char name[128];
        snprintf(name, sizeof name, "%.*s", (int)limits[i].plugin_len, limits[i].plugin);
        tbr_plugin *p = tbr_registry_find_plugin(reg, name);
        if (!p) {
            fprintf(stderr, "temblor: --memory-limit: no plugin named '%s' is loaded (see temblor plugin list)\n", name);
            return false;
        }
        p->mem_limit = limits[i].bytes;
    }
    return true;
}

/* The isolated tier's options (docs/isolation.md): `--isolate PLUGIN` and `--grant
 * PLUGIN=KIND[:TARGET]` (repeatable), `--sandbox require|degrade`, `--isolated-signatures
 * POLICY`. The plugins named by --isolate go into isolated[] (up to max) to be checked once
 * loaded. Returns the new argc, or -1 after printing a usage error. */
static int take_isolation_opts(int argc, char **argv, const char **isolated, int *nisolated, int max) {
    int out = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        bool known = !strcmp(a, "--isolate") || !strcmp(a, "--grant") || !strcmp(a, "--sandbox") ||
                     !strcmp(a, "--isolated-signatures");
        if (!known) {
            argv[out++] = argv[i];
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "temblor: %s needs a value\n", a);
            return -1;
        }
        const char *v = argv[++i];
        char err[512];
        if (!strcmp(a, "--isolate")) {
            if (*nisolated == max || tbr_isolation_default_isolate(v)) {
                fprintf(stderr, "temblor: --isolate: at most %d plugins\n", max);
                return -1;
            }
            isolated[(*nisolated)++] = v;
        } else if (!strcmp(a, "--grant")) {
            if (tbr_isolation_default_grant(v, err, sizeof err)) {
                fprintf(stderr, "temblor: %s\n", err);
                return -1;
            }
        } else if (!strcmp(a, "--sandbox")) {
            if (strcmp(v, "require") && strcmp(v, "degrade")) {
                fprintf(stderr, "temblor: --sandbox must be require or degrade, not '%s'\n", v);
                return -1;
            }
            tbr_isolation_set_sandbox_mode(!strcmp(v, "degrade") ? TBR_SANDBOX_DEGRADE : TBR_SANDBOX_REQUIRE);
        } else {
            tbr_sig_policy pol;
            if (!tbr_signature_parse_policy(v, &pol)) {
                fprintf(stderr, "temblor: --isolated-signatures must be require, warn or off, not '%s'\n", v);
                return -1;
            }
            tbr_isolation_set_signatures(pol);
        }
    }
    return out;
}

int tbr_cmd_run(int argc, char **argv) {
    tbr_cli_opts opts;
    tbr_engine_opts eo = {.exit_when_done = true};
    tbr_admin_opts ao = {0};
    char token[512];
    memory_limit limits[32];
    int nlimits = 0, nisolated = 0;
    const char *isolated[32];
    argc = take_engine_opts(argc, argv, &eo);
    tbr_isolation_set_call_budget_ms(eo.call_budget_ms);
    if (argc >= 0) argc = take_memory_limits(argc, argv, limits, &nlimits, 32);
    if (argc >= 0) argc = take_isolation_opts(argc, argv, isolated, &nisolated, 32);
    if (argc >= 0) argc = take_admin_opts(argc, argv, &ao, token, sizeof token);
    if (argc < 0) return TBR_EXIT_USAGE;
    argc = tbr_cli_parse_common(argc, argv, &opts);
    if (argc < 0) return TBR_EXIT_USAGE;
    bool serve = ao.socket_path || ao.http_addr || ao.watch_plugins;
    if (opts.help || (argc < 2 && !serve)) {
        usage(opts.help ? stdout : stderr);
        return opts.help ? TBR_EXIT_OK : TBR_EXIT_USAGE;
    }
    /* a runtime that takes flows and plugins at run time runs until it is told to stop */
    if (serve) eo.exit_when_done = false;
    if (argc >= 2 && !is_troy(argv[1])) {
        if (argc != 2) {
            fputs("temblor: run takes one script or query, or any number of .troy files\n", stderr);
            return TBR_EXIT_USAGE;
        }
        return tbr_cmd_run_lang(argv[1]);
    }
    int nfiles = argc - 1, rc = TBR_EXIT_FAILURE;
    tbr_source **srcs = calloc((size_t)nfiles + 1, sizeof *srcs);
    tbr_deployment **deps = calloc((size_t)nfiles + 1, sizeof *deps);
    tbr_registry *reg = tbr_registry_new();
    tbr_engine *engine = NULL;
    tbr_admin *admin = NULL;
    if (!srcs || !deps || !reg) goto oom;
    /* a library rebuilt in place (cp, some build tools) must not change under a running copy */
    tbr_registry_set_private_copies(reg, ao.watch_plugins);
    tbr_cli_load_plugins(reg, &opts);
    if (!apply_memory_limits(reg, limits, nlimits)) goto done;
    for (int i = 0; i < nisolated; i++)
        if (!tbr_registry_find_plugin(reg, isolated[i])) {
            fprintf(stderr, "temblor: --isolate: no plugin named '%s' is loaded (see temblor plugin list)\n", isolated[i]);
            goto done;
        }
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
    if (serve) {
        char err[1024] = "";
        if (!(admin = tbr_admin_start(engine, &ao, err, sizeof err))) {
            fprintf(stderr, "temblor: %s\n", err);
            goto done;
        }
    }
    rc = tbr_engine_run(engine);
    /* after the run: a request under way finishes (it fails if it needed the flows) */
    tbr_admin_stop(admin);
    admin = NULL;
    goto done;
oom:
    fputs("temblor: out of memory\n", stderr);
done:
    tbr_admin_stop(admin);
    tbr_engine_free(engine);
    for (int i = 0; i < nfiles && deps; i++) tbr_deployment_free(deps[i]);
    for (int i = 0; i < nfiles && srcs; i++) tbr_source_free(srcs[i]);
    free(deps);
    free(srcs);
    tbr_registry_free(reg);
    return rc;
}
