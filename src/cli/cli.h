/*
 * cli.h - the temblor command line: subcommands and their shared options.
 *
 * Exit codes: 0 success, 1 failure (a refused plugin, an unknown name), 2 usage error.
 * Thread contract: main thread only.
 */
#ifndef TBR_CLI_CLI_H
#define TBR_CLI_CLI_H

#include <stdbool.h>
#include <stdio.h>

#define TBR_EXIT_OK 0
#define TBR_EXIT_FAILURE 1
#define TBR_EXIT_USAGE 2

/* Options every subcommand accepts. */
typedef struct tbr_cli_opts {
    const char *plugin_dirs[33]; /* --plugin-dir, NULL-terminated */
    int plugin_dir_count;
    const char *isolated_dirs[33]; /* --isolated-plugin-path: never mapped here (docs/isolation.md) */
    int isolated_dir_count;
    bool json;
    bool help;
    const char *admin;           /* --admin SOCKET: talk to a running runtime */
    bool drain;                  /* --drain (plugin unload) */
    const char *key;             /* --key FILE: a secret key (plugin sign) */
    const char *trust;           /* --trust DIR: the trust store (plugin verify, signatures) */
    const char *comment;         /* --comment TEXT: a new key's comment (plugin keygen) */
} tbr_cli_opts;

/* Takes the shared options out of argv (in place), leaving the positional arguments.
 * --signatures POLICY (or TEMBLOR_SIGNATURES) and --trust DIR set the process's plugin
 * signature policy (plugin/signature.h) for every plugin loaded afterwards. Returns the new
 * argc, or -1 after printing a usage error. */
int tbr_cli_parse_common(int argc, char **argv, tbr_cli_opts *opts);

/* Adds the plugins linked into the binary, those of the isolated plugin paths (described by
 * plugin hosts, never mapped here) and those of the search path, in that order (the first of a
 * name wins). */
struct tbr_registry;
void tbr_cli_load_plugins(struct tbr_registry *reg, const tbr_cli_opts *opts);

int tbr_cmd_version(int argc, char **argv);
int tbr_cmd_plugin(int argc, char **argv);
int tbr_cmd_check(int argc, char **argv);
int tbr_cmd_run(int argc, char **argv);
/* `plugin load|unload|reload|list` against a running runtime (argv[1] is the verb). */
int tbr_cmd_plugin_admin(int argc, char **argv, const tbr_cli_opts *opts);
/* `flow deploy|undeploy|list|status` against a running runtime. */
int tbr_cmd_flow(int argc, char **argv);
/* Runs one script (.tremor) or query (.trickle) over JSON lines on stdin. */
int tbr_cmd_run_lang(const char *path);

#endif
