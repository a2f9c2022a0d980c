/*
 * registry.h - the plugins a runtime knows: loaded ones, and refused ones with the reason.
 *
 * Plugins come from the search path (TEMBLOR_PLUGIN_PATH, directories named in
 * configuration, the build or install directory) and from the binary itself (static
 * plugins). The first plugin of a name wins; a later one of the same name, or one providing
 * a component another plugin already provides, is refused with a message naming both.
 *
 * A plugin is ACTIVE (found by name), RETIRING (replaced by a new build or being unloaded:
 * its instances move over or drain) or RETIRED (no instance left, kept mapped). Lookups by
 * name see only active plugins; iteration sees all.
 *
 * Thread contract: every function may be called from any thread (one mutex guards the
 * registry). Ownership: the registry owns its plugins; pointers it returns stay valid until
 * tbr_registry_remove or tbr_registry_free.
 */
#ifndef TBR_PLUGIN_REGISTRY_H
#define TBR_PLUGIN_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>

#include "plugin/plugin.h"

typedef struct tbr_registry tbr_registry;

/* A library that was looked at and refused. */
typedef struct tbr_refusal {
    char *path;
    char *reason; /* one line, starting with the path */
} tbr_refusal;

tbr_registry *tbr_registry_new(void);
/* Releases every plugin (deinit is not called: release all instances first). */
void tbr_registry_free(tbr_registry *reg);

/* Whether refusals are also logged as warnings (the default) or only recorded, for callers
 * that report them themselves. */
void tbr_registry_set_log_refusals(tbr_registry *reg, bool log);

/* Whether libraries found by scanning are loaded through private copies (as
 * tbr_registry_load_copy does): their files may then be rewritten in place while they run,
 * which would crash a process that maps the file itself. For --watch-plugins. */
void tbr_registry_set_private_copies(tbr_registry *reg, bool copies);

/* Adds the plugins linked into this binary (from the build's static plugin table). */
void tbr_registry_add_static_plugins(tbr_registry *reg);
int tbr_registry_add_static(tbr_registry *reg, tb_plugin_entry_fn entry);

/* Loads one library. TB_OK with *out (may be NULL) set, or a negative status after recording
 * and logging the refusal; err, if given, receives the refusal line. */
int tbr_registry_load_file(tbr_registry *reg, const char *path, tbr_plugin **out, char *err,
                           size_t err_size);

/* Loads a private copy of the library at path (see tbr_plugin_open_copy) and admits it, as
 * tbr_registry_load_file. For libraries loaded while the runtime runs. */
int tbr_registry_load_copy(tbr_registry *reg, const char *path, tbr_plugin **out, char *err,
                           size_t err_size);

/* Admits p, a plugin opened by the caller (tbr_plugin_open_copy), in place of old (active,
 * same name): old becomes RETIRING, and p may provide the components old provides. On
 * refusal p is closed. TB_OK, or TB_EINVAL with one line in err. */
int tbr_registry_admit_replacement(tbr_registry *reg, tbr_plugin *p, tbr_plugin *old, char *err,
                                   size_t err_size);

/* Admits p, a plugin the caller opened (a plugin host's checked copy), as loading does: TB_OK,
 * or a refusal (p is then closed) with one line in err. */
int tbr_registry_admit(tbr_registry *reg, tbr_plugin *p, char *err, size_t err_size);
/* Records (and logs, unless told not to) that the library at path was refused, for reason. */
void tbr_registry_refuse(tbr_registry *reg, const char *path, const char *reason);
/* Sets p's status (see above). */
void tbr_registry_set_status(tbr_registry *reg, tbr_plugin *p, tbr_plugin_status status);
tbr_plugin_status tbr_registry_status(tbr_registry *reg, const tbr_plugin *p);

/* Takes p out of the registry and closes it (unmapping its library when it is unload-safe).
 * p must have no instance left. */
void tbr_registry_remove(tbr_registry *reg, tbr_plugin *p);

/* How many instances of p's components exist (the init/deinit reference count). */
unsigned tbr_plugin_refs(tbr_registry *reg, const tbr_plugin *p);

/* Loads every "*.so" in dir, in name order. Returns how many loaded; refusals are recorded.
 * A missing directory is not an error. */
int tbr_registry_scan_dir(tbr_registry *reg, const char *dir);
/* The same walk with another way to load each library (a plugin host describing it,
 * isolate/described.h): load returns TB_OK for one it admitted, and records its refusals. */
typedef int (*tbr_scan_load_fn)(tbr_registry *reg, const char *path, void *user);
int tbr_registry_scan_dir_with(tbr_registry *reg, const char *dir, tbr_scan_load_fn load, void *user);

/* Scans TEMBLOR_PLUGIN_PATH (colon-separated), then extra_dirs (NULL-terminated, may be
 * NULL), then the directory "plugins" beside the executable and the install directory. */
void tbr_registry_scan_search_path(tbr_registry *reg, const char *const *extra_dirs);

/* Lookups among active plugins. NULL when absent. */
const tbr_component *tbr_registry_find(tbr_registry *reg, uint32_t kind, const char *name);
tbr_plugin *tbr_registry_find_plugin(tbr_registry *reg, const char *name);

/* Snapshot iteration: i from 0 while the result is non-NULL. */
tbr_plugin *tbr_registry_plugin_at(tbr_registry *reg, size_t i);
const tbr_refusal *tbr_registry_refusal_at(tbr_registry *reg, size_t i);

/* Takes a reference on the plugin, running its init on the first one. Returns TB_OK or
 * init's status, with its message in err. Control thread. */
int tbr_plugin_acquire(tbr_registry *reg, tbr_plugin *p, char *err, size_t err_size);
/* Takes (hold) or drops a reference for an isolated instance, which runs the plugin in a host
 * process: it keeps the plugin loaded, and never runs its init or deinit here. */
void tbr_plugin_hold(tbr_registry *reg, tbr_plugin *p, bool hold);
/* Drops a reference; the last one runs deinit. Control thread. */
void tbr_plugin_release(tbr_registry *reg, tbr_plugin *p);

#endif
