/*
 * passthrough.c - the `passthrough` operator, as Tremor 0.13 has it (tremor-pipeline
 * op/identity/passthrough.rs): every event leaves on "out" exactly as it came, data,
 * metadata, id and flags. There are no options and no state.
 *
 * The output events point at the input's values: out->arena is in->arena, so nothing is
 * copied.
 *
 * A reload hands nothing over: save describes the instance as null, and restore has nothing
 * to take from whatever it is given.
 *
 * Thread contract: create/destroy on the control thread; process, save and restore on the
 * instance's thread. The instance has no state, so process is reentrant in fact.
 */
#include <temblor/temblor.h>

enum { PORT_OUT = 0 };

static int TB_CALL process(void *instance, uint32_t in_port, tb_batch *in, tb_batch *out) {
    for (uint32_t i = 0; i < in->count; i++) {
        tb_event *e = tb_batch_push(out);
        if (!e) return TB_ENOMEM;
        *e = in->events[i];
        e->port = PORT_OUT;
    }
    return TB_OK;
}

static const char *const ports[] = {"out", "err", NULL};

static const tb_operator_vtable vtable = {
    .struct_size = sizeof(tb_operator_vtable),
    .output_ports = ports,
    .create = tb_stateless_create,
    .destroy = tb_stateless_destroy,
    .process = process,
    .save = tb_stateless_save,
    .restore = tb_stateless_restore,
};

static const tb_component component = {
    .struct_size = sizeof(tb_component),
    .kind = TB_KIND_OPERATOR,
    .name = "passthrough",
    .description = "passes every event on to out unchanged",
    .options = NULL,
    .option_count = 0,
    .vtable = &vtable,
};

static const tb_component *const components[] = {&component};

static const tb_plugin_descriptor descriptor = {
    TB_DESCRIPTOR_HEAD,
    .flags = TB_PLUGIN_UNLOAD_SAFE,
    .name = "passthrough",
    .version = "0.1.0",
    .description = "Tremor's passthrough operator",
    .components = components,
    .component_count = 1,
};

TB_PLUGIN_ENTRY(passthrough) { return &descriptor; }
