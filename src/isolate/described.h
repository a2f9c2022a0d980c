/*
 * described.h - plugins the runtime never maps (docs/isolation.md, "Plugins the runtime never
 * loads"). A library in an isolated plugin path (--isolated-plugin-path DIR) is opened only by
 * plugin hosts: a first host, confined with nothing granted, checks its signature under the
 * isolated tier's policy, maps it and describes it (name, version, components, options, ports,
 * optional calls, permissions) as a value; the runtime rebuilds a plugin from that description
 * whose every call is a stub, and every instance of its components runs in a plugin host of
 * its own. Its constructors, its entry function and all its code thus run only confined.
 *
 * Ownership: a described plugin owns its rebuilt descriptor (tbr_plugin.described); the
 * registry owns the plugin. Thread contract: the control thread, at start.
 */
#ifndef TBR_ISOLATE_DESCRIBED_H
#define TBR_ISOLATE_DESCRIBED_H

#include <stddef.h>
#include <temblor/temblor.h>

#include "plugin/plugin.h"
#include "plugin/registry.h"

/* Host side: the description of p, built in arena (strings point into p). TB_OK or
 * TB_ENOMEM. */
int tbr_describe_plugin(const tbr_plugin *p, tb_arena *arena, tb_value *out);

/* Runtime side: rebuilds a plugin from the description desc of the library at path, checked as
 * any descriptor is. TB_OK with *out (isolated_only, no library mapped), or TB_EINVAL with one
 * line in err. */
int tbr_described_plugin(const tb_value *desc, const char *path, tbr_plugin **out, char *err, size_t err_size);

/* Describes every "*.so" in dir, in name order, each through a plugin host, and admits them.
 * Refusals are recorded (and logged) as for any library. Returns how many were admitted; a
 * missing directory is not an error. */
int tbr_isolated_scan_dir(tbr_registry *reg, const char *dir);

#endif
