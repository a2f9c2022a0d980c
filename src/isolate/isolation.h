/*
 * isolation.h - which tier an instance runs in, and what its plugin host is granted: the
 * settings `isolation` and `grant` an instance's configuration may carry beside the plugin's
 * own options (docs/isolation.md), and the defaults for every instance of a plugin that
 * `temblor run --isolate PLUGIN` and `--grant PLUGIN=...` set.
 *
 * In configuration:
 *     "isolation": "process" | "none"
 *     "grant": {
 *       "fs-read":     ["/path", ...],         read below each path
 *       "fs-write":    ["/path", ...],         read, write, create and remove below each
 *       "net-connect": ["host:port", ...],     sockets; TCP connect to these ports ("*" any)
 *       "net-listen":  ["addr:port", ...],     sockets; TCP bind to these ports ("*" any)
 *       "process":     true                    fork and exec
 *     }
 * Nothing is granted by default. Landlock filters ports, not hosts: the host part is kept for
 * the operator's reading and not enforced (docs/isolation.md says so).
 *
 * Ownership: a tbr_isolation's arrays live in the arena given to the parser (or, for the
 * defaults, in the module's own memory until tbr_isolation_defaults_clear). Thread contract:
 * the parsers are reentrant; the defaults are set on the control thread before flows start
 * and read from any thread.
 */
#ifndef TBR_ISOLATE_ISOLATION_H
#define TBR_ISOLATE_ISOLATION_H

#include <stdbool.h>
#include <stddef.h>
#include <temblor/temblor.h>

#include "isolate/sandbox.h"
#include "plugin/signature.h"

typedef struct tbr_isolation {
    bool process;             /* run the instance in a plugin host */
    bool grant_given;         /* the configuration had a "grant" (else the plugin's default) */
    tb_value grant;           /* the "grant" object as given (null: nothing granted) */
} tbr_isolation;

/* True for the names an instance's configuration reserves for these settings; the options a
 * plugin declares never see them. */
bool tbr_isolation_is_setting(const char *key, size_t len);

/* Reads the settings of config (an object, or null) into *out, with the defaults of plugin
 * where config says nothing. TB_OK, or TB_EINVAL with one line in err naming the setting. */
int tbr_isolation_from_config(const tb_value *config, const char *plugin, tbr_isolation *out, char *err,
                              size_t err_size);

/* Checks a "grant" object and fills *g with arrays allocated in arena (paths point into the
 * value). TB_OK, or TB_EINVAL with one line in err. */
int tbr_isolation_grants(const tb_value *grant, tb_arena *arena, tbr_sandbox_grants *g, char *err, size_t err_size);

/* Defaults for every instance of a plugin: --isolate PLUGIN and --grant PLUGIN=KIND:TARGET
 * (KIND one of fs-read, fs-write, net-connect, net-listen, process). TB_OK or TB_EINVAL with
 * the reason in err. Control thread, before flows start. */
int tbr_isolation_default_isolate(const char *plugin);
int tbr_isolation_default_grant(const char *spec, char *err, size_t err_size);
bool tbr_isolation_default_process(const char *plugin);
void tbr_isolation_defaults_clear(void);

/* The plugin host's sandbox mode for every host (--sandbox require|degrade; require by
 * default). */
void tbr_isolation_set_sandbox_mode(tbr_sandbox_mode mode);
tbr_sandbox_mode tbr_isolation_sandbox_mode(void);

/* How long a plugin host may take over one call before it is taken for hung and killed
 * (--call-budget-ms; 5000 by default). */
void tbr_isolation_set_call_budget_ms(uint32_t ms);
uint32_t tbr_isolation_call_budget_ms(void);

/* How long each side of an isolated instance's channel spins (yielding) before it blocks, in
 * microseconds: TEMBLOR_ISOLATE_SPIN_US (0 to 100000), else 2000 (a sixteenth of it after a
 * spin in vain). */
uint32_t tbr_isolation_spin_us(void);

/* The signature policy a plugin host checks its library under (--isolated-signatures; by
 * default the runtime's own, --signatures). */
void tbr_isolation_set_signatures(tbr_sig_policy policy);
tbr_sig_policy tbr_isolation_signatures(void);

#endif
