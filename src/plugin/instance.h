/*
 * instance.h - one instance of a component: its effective configuration, its context and
 * the plugin's own instance state, created and destroyed with the plugin's init/deinit
 * reference counted around it.
 *
 * Thread contract: create and destroy on the control thread. Ownership: the instance owns
 * its context and configuration; the registry must outlive it.
 */
#ifndef TBR_PLUGIN_INSTANCE_H
#define TBR_PLUGIN_INSTANCE_H

#include <stddef.h>

#include "plugin/plugin.h"
#include "plugin/registry.h"

struct tbr_loop;

typedef struct tbr_instance {
    const tbr_component *component; /* what to call: the plugin's, or an isolated instance's proxy */
    tbr_plugin *plugin;
    bool isolated;        /* runs in a plugin host (isolate/proxy.h) */
    tbr_registry *registry;
    tb_context *ctx;
    void *state;          /* what the component's create returned */
    tb_arena *arena;      /* owns config */
    tb_value config;      /* effective configuration */
} tbr_instance;

/* Validates config against the component's options (the settings `isolation` and `grant`,
 * isolate/isolation.h, are the runtime's: with isolation "process", or --isolate of the
 * plugin, the instance runs in a plugin host behind a proxy, and the plugin's init runs there,
 * not here), takes a reference on its plugin (init
 * on the first) and calls create. config is copied: the caller may free it on return.
 * label names the instance in logs. stream is handed to processors. Returns TB_OK, or a negative status with one line in err. */
int tbr_instance_create(tbr_registry *reg, const tbr_component *c, const char *label,
                        const tb_value *config, struct tbr_loop *loop, uint32_t stream,
                        tbr_instance **out, char *err, size_t err_size);

/* Calls destroy and drops the plugin reference (deinit after the last). NULL is ignored. */
void tbr_instance_destroy(tbr_instance *inst);

#endif
