/*
 * call_plugin.c - the plugin behind call_bench: a codec named "callbench" whose decode and
 * encode are as small as a callee can be (one load, one compare), so that call_bench measures
 * the call and not the work.
 *
 * The build compiles this file twice (bench/CMakeLists.txt): as a MODULE that call_bench
 * loads with dlopen (through tbr_registry_load_file), and with TB_STATIC_PLUGIN into
 * call_bench itself, registered with tbr_registry_add_static(tb_plugin_entry__callbench). In
 * the static copy cb_decode also has external linkage, so call_bench can call the very same
 * function directly. It is never installed and never lands in the plugins directory.
 *
 * Thread contract: no state; every function is reentrant.
 */
#include <temblor/temblor.h>

#ifdef TB_STATIC_PLUGIN
/* external: call_bench also calls it directly */
#define CB_LINKAGE
int TB_CALL cb_decode(void *instance, tb_batch *batch);
#else
#define CB_LINKAGE static
#endif

/* A codec call on an empty batch: nothing to decode. */
CB_LINKAGE int TB_CALL cb_decode(void *instance, tb_batch *batch) {
    return batch->count ? TB_EINVAL : TB_OK;
}

static int TB_CALL cb_encode(void *instance, tb_batch *batch) {
    return batch->count ? TB_EINVAL : TB_OK;
}

static const tb_codec_vtable vtable = {
    .struct_size = sizeof(tb_codec_vtable),
    .create = tb_stateless_create,
    .destroy = tb_stateless_destroy,
    .decode = cb_decode,
    .encode = cb_encode,
};

static const tb_component component = {
    .struct_size = sizeof(tb_component),
    .kind = TB_KIND_CODEC,
    .name = "callbench",
    .description = "call_bench's callee: decodes and encodes nothing",
    .vtable = &vtable,
};

static const tb_component *const components[] = {&component};

static const tb_plugin_descriptor descriptor = {
    TB_DESCRIPTOR_HEAD,
    .flags = TB_PLUGIN_UNLOAD_SAFE,
    .name = "callbench",
    .version = "0.1.0",
    .description = "call_bench's trivial codec",
    .components = components,
    .component_count = 1,
};

TB_PLUGIN_ENTRY(callbench) { return &descriptor; }
