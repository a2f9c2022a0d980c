/* main.c - the temblor binary: dispatches to subcommands. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "core/log.h"
#include "isolate/plugin_host.h"

static void usage(FILE *out) {
    fputs("usage: temblor [--log LEVEL] COMMAND [ARGS]\n"
          "\n"
          "commands:\n"
          "  plugin list                 list every plugin found, loaded or refused\n"
          "  plugin inspect NAME|FILE    show a plugin's metadata, options and permissions\n"
          "  plugin keygen|sign|verify   Ed25519 keys and signatures of plugin libraries\n"
          "  check FILE...               check scripts, queries and deployments (.tremor, .trickle,\n"
          "                              .troy); errors with file:line:column\n"
          "  run FILE.troy...            run deployments until every source has ended or\n"
          "                              SIGINT/SIGTERM (then drain in-flight events and exit);\n"
          "                              --batch-size N, --queue-capacity N tune the engine\n"
          "  run FILE                    run a script or query over JSON lines on stdin\n"
          "  plugin load|unload|reload   add, remove or replace plugins in a running runtime\n"
          "  flow deploy|undeploy|list|status\n"
          "                              start, stop and inspect flows in a running runtime\n"
          "                              (both with --admin SOCKET; see docs/admin.md)\n"
          "  version                     print the version and plugin ABI\n"
          "  help                        show this help\n"
          "\n"
          "options:\n"
          "  --log-level LEVEL   error, warn, info (default), debug or trace (also --log)\n"
          "  --plugin-path DIR   also search DIR for plugins (repeatable; also --plugin-dir)\n"
          "  --json              machine-readable output\n"
          "\n"
          "Plugins are searched in TEMBLOR_PLUGIN_PATH (colon-separated), --plugin-dir,\n"
          "the plugins directory beside the binary, and the install directory.\n",
          out);
}

int main(int argc, char **argv) {
    int i = 1;
    while (i < argc && argv[i][0] == '-') {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return TBR_EXIT_OK;
        }
        if (strcmp(argv[i], "--version") == 0) return tbr_cmd_version(0, NULL);
        if ((strcmp(argv[i], "--log") == 0 || strcmp(argv[i], "--log-level") == 0) && i + 1 < argc) {
            uint32_t level;
            if (!tbr_log_parse_level(argv[i + 1], &level)) {
                fprintf(stderr, "temblor: unknown log level '%s'\n", argv[i + 1]);
                return TBR_EXIT_USAGE;
            }
            tbr_log_set_level(level);
            i += 2;
            continue;
        }
        break; /* a subcommand's own option */
    }
    if (i >= argc) {
        usage(stderr);
        return TBR_EXIT_USAGE;
    }
    const char *cmd = argv[i];
    if (strcmp(cmd, "help") == 0) {
        usage(stdout);
        return TBR_EXIT_OK;
    }
    if (strcmp(cmd, "version") == 0) return tbr_cmd_version(argc - i, argv + i);
    if (strcmp(cmd, "plugin") == 0) return tbr_cmd_plugin(argc - i, argv + i);
    if (strcmp(cmd, "check") == 0) return tbr_cmd_check(argc - i, argv + i);
    if (strcmp(cmd, "run") == 0) return tbr_cmd_run(argc - i, argv + i);
    if (strcmp(cmd, "flow") == 0) return tbr_cmd_flow(argc - i, argv + i);
    if (strcmp(cmd, "plugin-host") == 0) return tbr_plugin_host_main(argc - i, argv + i);
    fprintf(stderr, "temblor: unknown command '%s' (see temblor --help)\n", cmd);
    return TBR_EXIT_USAGE;
}
