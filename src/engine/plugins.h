/*
 * plugins.h - plugins loaded, unloaded and replaced while the engine runs.
 *
 * Load: a private copy of the library is checked and admitted as at start; its kinds serve
 * flows deployed from then on. Unload: refused while a flow uses the plugin, unless asked to
 * drain, when those flows are undeployed (drained) first; once no instance is left the
 * plugin's deinit has run, and its library is unmapped if it declares itself unload-safe and
 * no batch it may have touched is alive, or else kept mapped and listed as retired. Reload:
 * the new build is loaded beside the old one, checked against every running use (same ABI
 * major, every component in use still there, every running configuration valid against its
 * options, the same connector halves), then each stage moves to it at a batch boundary (see
 * swap.h) and the old build retires as for unload.
 *
 * Thread contract: one thread at a time (the admin thread, or the control thread before the
 * run). Ownership: the engine's registry owns every plugin.
 */
#ifndef TBR_ENGINE_PLUGINS_H
#define TBR_ENGINE_PLUGINS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/engine.h"

typedef struct tbr_reload_report {
    char from_version[64], to_version[64];
    uint32_t stages;          /* stages that moved */
    uint64_t took_ns;         /* from the request to the last stage moved */
    uint64_t max_held_ns;     /* the longest a connector held its traffic */
} tbr_reload_report;

/* Writes "flow::instance (codec json); ..." for every stage using p into buf; returns how
 * many stages use it. */
uint32_t tbr_engine_plugin_users(tbr_engine *e, const tbr_plugin *p, char *buf, size_t size);

/* Loads the library at path (a private copy). TB_OK and *out, or an error with one line. */
int tbr_engine_load_plugin(tbr_engine *e, const char *path, tbr_plugin **out, char *err, size_t err_size);

/* Unloads the active plugin called name; with drain, the flows using it are undeployed first
 * (their names written into drained, comma-separated). TB_OK, or an error with one line. */
int tbr_engine_unload_plugin(tbr_engine *e, const char *name, bool drain, char *drained, size_t drained_size, char *err,
                             size_t err_size);

/* Replaces the active plugin called name by the build at path (NULL: the file it was loaded
 * from). TB_OK with *report filled; an error with one line when the new build is refused
 * (the old one runs on) or some stage could not move (named; those stages run on the old
 * build, which then stays until they go). */
int tbr_engine_reload_plugin(tbr_engine *e, const char *name, const char *path, tbr_reload_report *report, char *err,
                             size_t err_size);

/* Unmaps retired plugins whose batches are all gone (see the file comment). Call now and
 * then. */
void tbr_engine_reap_plugins(tbr_engine *e);

#endif
