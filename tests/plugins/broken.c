/*
 * broken.c - one source for the plugins the loader must refuse (and a few it must accept).
 * The build compiles it once per case with -DCASE_<NAME>; each case breaks exactly one
 * rule of the ABI so its test can assert the exact refusal.
 */
#include <temblor/temblor.h>

#ifdef CASE_HOST_SYMBOL
/* A runtime-internal function: plugins must not see it (the binary exports nothing). */
void tbr_log_msg(uint32_t level, const char *origin, const char *msg);
#endif
#ifdef CASE_MISSING_DEPENDENCY
/* Lives in libtb_gone.so, which is not on the loader's path at run time. */
int tb_gone_answer(void);
#endif

static int TB_CALL create(const tb_create_args *args, void **out) {
    (void)args;
    *out = NULL;
#ifdef CASE_HOST_SYMBOL
    tbr_log_msg(0, "x", "reached the runtime");
#endif
#ifdef CASE_MISSING_DEPENDENCY
    return tb_gone_answer();
#else
    return TB_OK;
#endif
}
static void TB_CALL destroy(void *instance) { (void)instance; }

#ifndef CASE_NO_HALVES
static int TB_CALL transcode(void *instance, tb_batch *batch) {
    (void)instance;
    (void)batch;
    return TB_OK;
}
static const tb_codec_vtable codec_vtable = {
    .struct_size = sizeof(tb_codec_vtable),
    .create = create,
    .destroy = destroy,
#ifndef CASE_NULL_CALLBACK
    .decode = transcode,
#endif
    .encode = transcode,
};
#endif

#ifdef CASE_NO_HALVES
static int TB_CALL pull(void *instance, tb_batch *out) {
    (void)instance;
    (void)out;
    return TB_EAGAIN;
}
static const tb_connector_vtable connector_vtable = {
    .struct_size = sizeof(tb_connector_vtable),
    .flags = 0, /* neither TB_CONNECTOR_SOURCE nor TB_CONNECTOR_SINK */
    .create = create,
    .destroy = destroy,
    .pull = pull,
};
#endif

#ifdef CASE_BAD_DEFAULT
static const tb_option options[] = {
    TB_OPTION("limit", TB_OPT_INT, "lots", 0, "a number with a default that is not one"),
};
#endif

#ifndef PLUGIN_NAME
#define PLUGIN_NAME "broken"
#endif
#ifndef CODEC_NAME
#define CODEC_NAME "broken"
#endif

static const tb_component component = {
    .struct_size = sizeof(tb_component),
#ifdef CASE_NO_HALVES
    .kind = TB_KIND_CONNECTOR,
    .vtable = &connector_vtable,
#else
    .kind = TB_KIND_CODEC,
    .vtable = &codec_vtable,
#endif
    .name = CODEC_NAME,
    .description = "a codec that is broken on purpose",
#ifdef CASE_BAD_DEFAULT
    .options = options,
    .option_count = 1,
#endif
};

static const tb_component *const components[] = {&component};

static const tb_plugin_descriptor descriptor = {
#if defined(CASE_BAD_MAGIC)
    0xdeadbeefu, TB_ABI_MAJOR, TB_ABI_MINOR, (uint32_t)sizeof(tb_plugin_descriptor),
#elif defined(CASE_ABI_MAJOR)
    TB_PLUGIN_MAGIC, 2, 0, (uint32_t)sizeof(tb_plugin_descriptor),
#elif defined(CASE_NEWER_MINOR)
    TB_PLUGIN_MAGIC, TB_ABI_MAJOR, TB_ABI_MINOR + 1, (uint32_t)sizeof(tb_plugin_descriptor) + 16,
#elif defined(CASE_BAD_SIZE)
    TB_PLUGIN_MAGIC, TB_ABI_MAJOR, TB_ABI_MINOR, 12,
#else
    TB_DESCRIPTOR_HEAD,
#endif
#ifdef CASE_BAD_NAME
    .name = "Bad Name",
#else
    .name = PLUGIN_NAME,
#endif
    .version = "0.0.1",
    .description = "a plugin that is broken on purpose",
    .components = components,
    .component_count = 1,
};

#if defined(CASE_NO_ENTRY)
/* exports something, but not the entry */
TB_EXPORT int not_the_entry(void);
TB_EXPORT int not_the_entry(void) { return descriptor.component_count; }
#elif defined(CASE_ENTRY_NULL)
TB_PLUGIN_ENTRY(broken) { return descriptor.magic ? NULL : &descriptor; }
#else
TB_PLUGIN_ENTRY(broken) { return &descriptor; }
#endif
