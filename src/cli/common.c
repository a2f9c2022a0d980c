/* common.c - options shared by the subcommands. */
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "isolate/described.h"
#include "plugin/registry.h"
#include "core/log.h"
#include "plugin/signature.h"

/* The value of option a at argv[i + 1], or NULL after saying what it needs. */
static const char *value_of(int argc, char **argv, int i, const char *needs) {
    if (i + 1 < argc) return argv[i + 1];
    fprintf(stderr, "temblor: %s needs %s\n", argv[i], needs);
    return NULL;
}

int tbr_cli_parse_common(int argc, char **argv, tbr_cli_opts *opts) {
    int out = 0;
    tbr_sig_policy policy = TBR_SIG_OFF;
    const char *env = getenv("TEMBLOR_SIGNATURES");
    memset(opts, 0, sizeof *opts);
    if (env && *env && !tbr_signature_parse_policy(env, &policy)) {
        fprintf(stderr, "temblor: TEMBLOR_SIGNATURES must be require, warn or off, found '%s'\n", env);
        return -1;
    }
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--key") || !strcmp(a, "--trust") || !strcmp(a, "--comment") || !strcmp(a, "--signatures")) {
            const char *v = value_of(argc, argv, i, !strcmp(a, "--key")       ? "a secret key file"
                                                    : !strcmp(a, "--trust")   ? "a trust store directory"
                                                    : !strcmp(a, "--comment") ? "a comment"
                                                                              : "require, warn or off");
            if (!v) return -1;
            if (!strcmp(a, "--key")) opts->key = v;
            else if (!strcmp(a, "--trust")) opts->trust = v;
            else if (!strcmp(a, "--comment")) opts->comment = v;
            else if (!tbr_signature_parse_policy(v, &policy)) {
                fprintf(stderr, "temblor: --signatures must be require, warn or off, found '%s'\n", v);
                return -1;
            }
            i++;
        } else if (strcmp(a, "--json") == 0) {
            opts->json = true;
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            opts->help = true;
        } else if (strcmp(a, "--log-level") == 0 || strcmp(a, "--log") == 0) {
            uint32_t level;
            if (i + 1 >= argc || !tbr_log_parse_level(argv[i + 1], &level)) {
                fprintf(stderr, "temblor: %s needs one of error, warn, info, debug, trace\n", a);
                return -1;
            }
            tbr_log_set_level(level);
            i++;
        } else if (strcmp(a, "--admin") == 0) {
            if (i + 1 >= argc) {
                fprintf(stderr, "temblor: --admin needs the path of a running runtime's admin socket\n");
                return -1;
            }
            opts->admin = argv[++i];
        } else if (strcmp(a, "--drain") == 0) {
            opts->drain = true;
        } else if (strcmp(a, "--plugin-dir") == 0 || strcmp(a, "--plugin-path") == 0) {
            if (i + 1 >= argc) {
                fprintf(stderr, "temblor: %s needs a directory\n", a);
                return -1;
            }
            if (opts->plugin_dir_count == 32) {
                fprintf(stderr, "temblor: at most 32 --plugin-dir options\n");
                return -1;
            }
            opts->plugin_dirs[opts->plugin_dir_count++] = argv[++i];
        } else if (strcmp(a, "--isolated-plugin-path") == 0) {
            if (i + 1 >= argc || opts->isolated_dir_count == 32) {
                fprintf(stderr, "temblor: %s needs a directory (at most 32 of them)\n", a);
                return -1;
            }
            opts->isolated_dirs[opts->isolated_dir_count++] = argv[++i];
        } else if (a[0] == '-' && a[1] != '\0' && i > 0) {
            fprintf(stderr, "temblor: unknown option '%s'\n", a);
            return -1;
        } else {
            argv[out++] = argv[i];
        }
    }
    tbr_signature_set_policy(policy, opts->trust);
    return out;
}

void tbr_cli_load_plugins(tbr_registry *reg, const tbr_cli_opts *opts) {
    tbr_registry_add_static_plugins(reg);
    for (int i = 0; i < opts->isolated_dir_count; i++) tbr_isolated_scan_dir(reg, opts->isolated_dirs[i]);
    tbr_registry_scan_search_path(reg, opts->plugin_dirs);
}
