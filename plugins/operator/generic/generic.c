/*
 * generic.c - the descriptor of the `generic` operator plugin: Tremor's generic::batch and
 * generic::counter.
 *
 * Thread contract: static data only; the entry may be called from any thread.
 */
#include "generic.h"

static const tb_component *const components[] = {&tbop_generic_batch, &tbop_generic_counter};

static const tb_plugin_descriptor descriptor = {
    TB_DESCRIPTOR_HEAD,
    .flags = TB_PLUGIN_UNLOAD_SAFE,
    .name = "generic",
    .version = "0.1.0",
    .description = "Tremor's generic operators: batch and counter",
    .components = components,
    .component_count = sizeof components / sizeof components[0],
};

TB_PLUGIN_ENTRY(generic) { return &descriptor; }
