/*
 * plugin.h - a plugin as the runtime holds it once its descriptor has been checked.
 *
 * The runtime never reads a plugin's own structs after loading: tbr_plugin_from_descriptor
 * copies the descriptor, every component, vtable, option and permission into full-size,
 * zero-filled structs of this runtime's ABI minor. A plugin built for an older minor thus
 * reads as if the fields it lacks were NULL/0, and no later code checks a struct_size.
 *
 * Ownership: a tbr_plugin owns those copies, its parsed option defaults (in its arena) and
 * its library handle; the registry owns the tbr_plugin. Thread contract: immutable after
 * loading, except refs/state (under the registry lock) and the atomic memory accounting.
 */
#ifndef TBR_PLUGIN_PLUGIN_H
#define TBR_PLUGIN_PLUGIN_H

#include <stdatomic.h>
#include <stddef.h>
#include <temblor/temblor.h>

struct tbr_plugin;

typedef struct tbr_component {
    tb_component desc; /* full-size copy; desc.options points at options below */
    union {
        uint32_t struct_size;
        tb_connector_vtable connector;
        tb_codec_vtable codec;
        tb_processor_vtable processor; /* preprocessor and postprocessor */
        tb_operator_vtable op;
    } vt;                  /* full-size copy of the kind's vtable */
    tb_option *options;    /* option_count full-size copies */
    tb_value *defaults;    /* option_count parsed defaults; TB_NULL type where none */
    bool *has_default;     /* option_count */
    struct tbr_plugin *plugin;
} tbr_component;

/* Where a plugin is in its life (under the registry lock). */
typedef enum tbr_plugin_status {
    TBR_PLUGIN_ACTIVE,     /* found by name: new instances come from it */
    TBR_PLUGIN_RETIRING,   /* replaced or being unloaded: its instances are moving or draining */
    TBR_PLUGIN_RETIRED     /* no instance left, deinit ran; kept mapped (not unload-safe, or
                              events it touched still in flight) */
} tbr_plugin_status;

typedef struct tbr_plugin {
    char *path;            /* the library file, or "(static)" */
    void *handle;          /* dlopen handle; NULL for a statically linked plugin */
    int copy_fd;           /* a private copy's memfd (opened through /proc/self/fd), or -1 */
    tbr_plugin_status status;
    uint32_t retired_generation; /* batch arenas of this generation or earlier may hold its
                                    values (see tbr_arena_retire_generation) */
    tb_plugin_descriptor desc;   /* full-size copy */
    tbr_component *components;
    uint32_t component_count;
    tb_permission *permissions;
    uint32_t permission_count;
    tb_arena *arena;       /* owns parsed option defaults */
    tb_arena *described;   /* a plugin a host described (isolate/described.h): owns the rebuilt
                              descriptor's strings and tables; NULL otherwise */
    bool isolated_only;    /* never mapped here: every instance runs in a plugin host */

    /* init/deinit reference count and what init returned; under the registry lock */
    unsigned refs;
    unsigned host_refs;    /* isolated instances: they run the plugin in hosts, not here */
    void *state;
    struct tb_context *ctx;

    /* memory accounted through tb_host_api.alloc and friends */
    _Atomic size_t mem_live;
    _Atomic size_t mem_peak;
    _Atomic size_t alloc_count;
    size_t mem_limit;      /* 0: unlimited */
} tbr_plugin;

/* Kind names as the language and the CLI spell them ("connector", "codec", ...); "unknown"
 * for anything else. */
const char *tbr_kind_name(uint32_t kind);
/* Option type names ("bool", "int", ...). */
const char *tbr_option_type_name(uint32_t type);
/* Permission kind names ("net-connect", ...). */
const char *tbr_permission_name(uint32_t kind);

/* Checks a descriptor and builds the runtime's copy of it. On failure returns TB_EINVAL
 * (or TB_ENOMEM) and writes one line saying what was expected and what was found, without
 * the file name, into err. Control thread or any loading thread. */
int tbr_plugin_from_descriptor(const tb_plugin_descriptor *d, const char *path,
                               tbr_plugin **out, char *err, size_t err_size);

/* Frees a plugin's copies (not its library handle, which the caller closes). */
void tbr_plugin_free(tbr_plugin *p);

/* The component of p of kind called name, or NULL. */
const tbr_component *tbr_plugin_component(const tbr_plugin *p, uint32_t kind, const char *name);

/* The kinds the plugin provides, as a bit set of (1u << TB_KIND_*). */
uint32_t tbr_plugin_kinds(const tbr_plugin *p);

#endif
