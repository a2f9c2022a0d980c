/*
 * test_loader.c - the plugin loader and registry against real libraries: one refusal per
 * broken plugin with its exact message, duplicates, the older-minor plugin, init/deinit
 * reference counts, memory accounting, options, timers through the host table, static
 * plugins and concurrent loading.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "host/context.h"
#include "host/loop.h"
#include "plugin/instance.h"
#include "plugin/registry.h"
#include "value/arena.h"
#include "value/json.h"

#define DIR TB_TEST_PLUGIN_DIR

typedef struct probe_counters {
    uint32_t struct_size;
    int init_calls;
    int deinit_calls;
    int timer_fires;
} probe_counters;

/* Loads DIR/file and returns the refusal line, asserting that it was refused. */
static void expect_refusal(const char *file, const char *expected_after_path) {
    char path[512], err[1024], expected[1536];
    snprintf(path, sizeof path, "%s/%s", DIR, file);
    snprintf(expected, sizeof expected, "%s: %s", path, expected_after_path);
    tbr_registry *reg = tbr_registry_new();
    tbr_registry_set_log_refusals(reg, false);
    tbr_plugin *p = (tbr_plugin *)1;
    int rc = tbr_registry_load_file(reg, path, &p, err, sizeof err);
    assert_int_not_equal(rc, TB_OK);
    assert_null(p);
    assert_string_equal(err, expected);
    const tbr_refusal *r = tbr_registry_refusal_at(reg, 0);
    assert_non_null(r);
    assert_string_equal(r->path, path);
    assert_string_equal(r->reason, expected);
    assert_null(tbr_registry_plugin_at(reg, 0));
    tbr_registry_free(reg);
}

static void refuses_text_file(void **s) {
    (void)s;
    expect_refusal("not_a_library.so", "not a loadable library: not an ELF file");
}

static void refuses_missing_file(void **s) {
    (void)s;
    expect_refusal("does_not_exist.so", "not a loadable library: No such file or directory");
}

static void refuses_library_without_entry(void **s) {
    (void)s;
    expect_refusal("no_entry.so", "no entry symbol 'tb_plugin_entry': not a temblor plugin");
}

static void refuses_null_descriptor(void **s) {
    (void)s;
    expect_refusal("entry_null.so", "tb_plugin_entry returned NULL");
}

static void refuses_bad_magic(void **s) {
    (void)s;
    expect_refusal("bad_magic.so", "bad magic: expected 0x524c4254, found 0xdeadbeef");
}

static void refuses_other_major(void **s) {
    (void)s;
    expect_refusal("abi_major.so",
                   "ABI major mismatch: built for ABI 2.0, this runtime provides ABI 1.2");
}

static void refuses_newer_minor(void **s) {
    (void)s;
    expect_refusal("newer_minor.so",
                   "built for a newer ABI: built for ABI 1.3, this runtime provides ABI 1.2; "
                   "upgrade temblor or rebuild the plugin for ABI 1.2");
}

static void refuses_impossible_size(void **s) {
    (void)s;
    char expected[160];
    snprintf(expected, sizeof expected,
             "invalid descriptor struct_size: expected %zu bytes for ABI 1.2, found 12",
             sizeof(tb_plugin_descriptor));
    expect_refusal("bad_size.so", expected);
}

static void refuses_null_required_callback(void **s) {
    (void)s;
    expect_refusal("null_callback.so", "codec 'broken': required callback 'decode' is NULL");
}

static void refuses_connector_without_halves(void **s) {
    (void)s;
    expect_refusal("no_halves.so", "connector 'broken': flags name neither a source nor a sink half");
}

static void refuses_invalid_default(void **s) {
    (void)s;
    expect_refusal("bad_default.so",
                   "codec 'broken': option 'limit': default \"lots\" is invalid for type int: "
                   "line 1, column 1: expected a value, found 'l'");
}

static void refuses_invalid_name(void **s) {
    (void)s;
    expect_refusal("bad_name.so",
                   "invalid plugin name 'Bad Name': expected [a-z0-9_-]+ of at most 64 characters");
}

static void refuses_unresolved_dependency(void **s) {
    (void)s;
    char expected[256];
    snprintf(expected, sizeof expected,
             "cannot load: libtb_gone.so: cannot open shared object file: No such file or directory");
    expect_refusal("missing_dependency.so", expected);
}

/* The binary and the runtime library export nothing a plugin could bind to. */
static void plugins_see_no_host_symbols(void **s) {
    (void)s;
    char expected[640];
    snprintf(expected, sizeof expected, "cannot load: %s/host_symbol.so: undefined symbol: tbr_log_msg",
             DIR);
    expect_refusal("host_symbol.so", expected);
}

static void refuses_duplicate_plugin_name_keeping_first(void **s) {
    (void)s;
    char a[512], b[512], err[1024], expected[1536];
    snprintf(a, sizeof a, "%s/twin_a.so", DIR);
    snprintf(b, sizeof b, "%s/twin_b.so", DIR);
    tbr_registry *reg = tbr_registry_new();
    tbr_registry_set_log_refusals(reg, false);
    tbr_plugin *first;
    assert_int_equal(tbr_registry_load_file(reg, a, &first, err, sizeof err), TB_OK);
    assert_int_not_equal(tbr_registry_load_file(reg, b, NULL, err, sizeof err), TB_OK);
    snprintf(expected, sizeof expected,
             "%s: duplicate plugin name 'twin': already loaded from %s; keeping that one", b, a);
    assert_string_equal(err, expected);
    assert_ptr_equal(tbr_registry_find_plugin(reg, "twin"), first);
    assert_non_null(tbr_registry_find(reg, TB_KIND_CODEC, "twin_codec"));
    assert_null(tbr_registry_find(reg, TB_KIND_CODEC, "other_codec"));
    tbr_registry_free(reg);
}

static void refuses_duplicate_component(void **s) {
    (void)s;
    char a[512], b[512], err[1024], expected[1536];
    snprintf(a, sizeof a, "%s/twin_a.so", DIR);
    snprintf(b, sizeof b, "%s/same_codec.so", DIR);
    tbr_registry *reg = tbr_registry_new();
    tbr_registry_set_log_refusals(reg, false);
    assert_int_equal(tbr_registry_load_file(reg, a, NULL, err, sizeof err), TB_OK);
    assert_int_not_equal(tbr_registry_load_file(reg, b, NULL, err, sizeof err), TB_OK);
    snprintf(expected, sizeof expected,
             "%s: codec 'twin_codec' is already provided by plugin 'twin' (%s); keeping that one",
             b, a);
    assert_string_equal(err, expected);
    assert_null(tbr_registry_find_plugin(reg, "same_codec"));
    tbr_registry_free(reg);
}

/* A directory full of bad libraries: the good ones load, every bad one is recorded. */
static void scan_goes_on_past_refusals(void **s) {
    (void)s;
    tbr_registry *reg = tbr_registry_new();
    tbr_registry_set_log_refusals(reg, false);
    int loaded = tbr_registry_scan_dir(reg, DIR);
    /* in name order: same_codec takes twin_codec before twin_a, which is then refused */
    assert_int_equal(loaded, 4);
    assert_non_null(tbr_registry_find_plugin(reg, "probe"));
    assert_non_null(tbr_registry_find_plugin(reg, "probe_old"));
    assert_non_null(tbr_registry_find_plugin(reg, "same_codec"));
    tbr_plugin *twin = tbr_registry_find_plugin(reg, "twin");
    assert_non_null(twin);
    assert_non_null(strstr(twin->path, "twin_b.so"));
    size_t refused = 0;
    while (tbr_registry_refusal_at(reg, refused)) refused++;
    assert_int_equal(refused, 14);
    tbr_registry_free(reg);
}

static void search_path_from_environment(void **s) {
    (void)s;
    setenv("TEMBLOR_PLUGIN_PATH", "/nonexistent:" DIR, 1);
    tbr_registry *reg = tbr_registry_new();
    tbr_registry_set_log_refusals(reg, false);
    tbr_registry_scan_search_path(reg, NULL);
    tbr_plugin *p = tbr_registry_find_plugin(reg, "probe");
    assert_non_null(p);
    assert_string_equal(p->path, DIR "/probe.so");
    tbr_registry_free(reg);
    unsetenv("TEMBLOR_PLUGIN_PATH");
}

static tbr_plugin *load(tbr_registry *reg, const char *file) {
    char path[512], err[1024];
    tbr_plugin *p = NULL;
    snprintf(path, sizeof path, "%s/%s", DIR, file);
    int rc = tbr_registry_load_file(reg, path, &p, err, sizeof err);
    if (rc) fail_msg("%s", err);
    return p;
}

static const probe_counters *counters_of(tbr_plugin *p) {
    assert_non_null(p->desc.get_extension);
    const probe_counters *c = p->desc.get_extension(p->state, "temblor.test.probe/1");
    assert_non_null(c);
    assert_int_equal(c->struct_size, sizeof(probe_counters));
    return c;
}

/* A config record {target: "x", ...extra} built in arena. */
static tb_value config_with(tb_arena *a, const char *json) {
    tb_value v;
    char err[256];
    int rc = tbr_json_parse(a, json, strlen(json), &v, err, sizeof err);
    if (rc) fail_msg("bad test JSON: %s", err);
    return v;
}

static void older_minor_plugin_loads_with_defaults(void **s) {
    (void)s;
    tbr_registry *reg = tbr_registry_new();
    tbr_plugin *p = load(reg, "probe_old.so");
    assert_int_equal(p->desc.abi_major, 1);
    assert_int_equal(p->desc.abi_minor, 0);
    /* the copy is full size; the fields 1.1 added read as absent */
    assert_int_equal(p->desc.struct_size, sizeof(tb_plugin_descriptor));
    assert_null(p->desc.permissions);
    assert_int_equal(p->permission_count, 0);
    assert_null(p->desc.get_extension);
    assert_non_null(p->desc.init);
    /* and it runs: init, create, destroy, deinit */
    tb_arena *a = tbr_arena_new(0);
    tb_value cfg = config_with(a, "{\"target\":\"t\"}");
    tbr_instance *inst;
    char err[512];
    const tbr_component *c = tbr_registry_find(reg, TB_KIND_CODEC, "probe_old");
    assert_non_null(c);
    assert_int_equal(tbr_instance_create(reg, c, "old", &cfg, NULL, 0, &inst, err, sizeof err), TB_OK);
    assert_int_equal(p->refs, 1);
    tbr_instance_destroy(inst);
    assert_int_equal(p->refs, 0);
    assert_int_equal(atomic_load(&p->mem_live), 0);
    tbr_arena_free(a);
    tbr_registry_free(reg);
}

static void current_plugin_metadata(void **s) {
    (void)s;
    tbr_registry *reg = tbr_registry_new();
    tbr_plugin *p = load(reg, "probe.so");
    assert_string_equal(p->desc.name, "probe");
    assert_string_equal(p->desc.version, "1.2.3");
    assert_int_equal(p->desc.abi_minor, TB_ABI_MINOR);
    assert_int_equal(p->permission_count, 2);
    assert_int_equal(p->permissions[0].kind, TB_PERM_NET_CONNECT);
    assert_string_equal(p->permissions[0].target, "127.0.0.1:*");
    assert_int_equal(p->permissions[1].kind, TB_PERM_FS_READ);
    assert_string_equal(p->permissions[1].option, "path");
    assert_int_equal(tbr_plugin_kinds(p), 1u << TB_KIND_CODEC);
    const tbr_component *c = &p->components[0];
    assert_int_equal(c->desc.option_count, 9);
    assert_string_equal(c->options[5].name, "tags");
    assert_true(c->has_default[5]);
    assert_int_equal(c->defaults[5].type, TB_ARRAY);
    assert_int_equal(c->defaults[5].len, 2);
    assert_false(c->has_default[4]); /* path: no default */
    tbr_registry_free(reg);
}

static void init_and_deinit_are_reference_counted(void **s) {
    (void)s;
    tbr_registry *reg = tbr_registry_new();
    tbr_plugin *p = load(reg, "probe.so");
    const probe_counters *cnt = counters_of(p);
    int inits = cnt->init_calls, deinits = cnt->deinit_calls;
    const tbr_component *c = tbr_registry_find(reg, TB_KIND_CODEC, "probe");
    tb_arena *a = tbr_arena_new(0);
    tb_value cfg = config_with(a, "{\"target\":\"t\"}");
    tbr_instance *one, *two;
    char err[512];
    assert_int_equal(tbr_instance_create(reg, c, "one", &cfg, NULL, 0, &one, err, sizeof err), TB_OK);
    assert_int_equal(cnt->init_calls, inits + 1);
    /* init's state is accounted to the plugin: the struct and its 1000-byte scratch */
    assert_true(atomic_load(&p->mem_live) >= 1000);
    assert_int_equal(tbr_instance_create(reg, c, "two", &cfg, NULL, 0, &two, err, sizeof err), TB_OK);
    assert_int_equal(cnt->init_calls, inits + 1);
    assert_int_equal(p->refs, 2);
    tbr_instance_destroy(one);
    assert_int_equal(cnt->deinit_calls, deinits);
    tbr_instance_destroy(two);
    assert_int_equal(cnt->deinit_calls, deinits + 1);
    assert_int_equal(atomic_load(&p->mem_live), 0);
    assert_int_equal(atomic_load(&p->alloc_count), 0);
    assert_true(atomic_load(&p->mem_peak) >= 1000);
    tbr_arena_free(a);
    tbr_registry_free(reg);
}

static void expect_config_error(tbr_registry *reg, const char *json, const char *expected) {
    const tbr_component *c = tbr_registry_find(reg, TB_KIND_CODEC, "probe");
    tb_arena *a = tbr_arena_new(0);
    tb_value cfg = config_with(a, json);
    tbr_instance *inst = (tbr_instance *)1;
    char err[512];
    assert_int_not_equal(tbr_instance_create(reg, c, "x", &cfg, NULL, 0, &inst, err, sizeof err), TB_OK);
    assert_null(inst);
    assert_string_equal(err, expected);
    assert_int_equal(c->plugin->refs, 0);
    tbr_arena_free(a);
}

static void configuration_is_checked_against_options(void **s) {
    (void)s;
    tbr_registry *reg = tbr_registry_new();
    tbr_plugin *p = load(reg, "probe.so");
    const probe_counters *cnt = counters_of(p);
    expect_config_error(reg, "{}", "codec 'probe': required option 'target' (string) is missing");
    expect_config_error(reg, "{\"target\":\"t\",\"colour\":1}",
                        "codec 'probe': unknown option 'colour' (known options: timer_ms, "
                        "fail_create, ratio, offset, path, tags, extra, anything, target)");
    expect_config_error(reg, "{\"target\":\"t\",\"ratio\":\"high\"}",
                        "codec 'probe': option 'ratio': expected float, found string");
    expect_config_error(reg, "{\"target\":\"t\",\"timer_ms\":-1}",
                        "codec 'probe': option 'timer_ms': expected uint, found int");
    expect_config_error(reg, "[1]", "codec 'probe': configuration must be a record, found array");
    /* a create that fails reports the plugin's message and leaves init undone again */
    int deinits = cnt->deinit_calls;
    expect_config_error(reg, "{\"target\":\"t\",\"fail_create\":true}",
                        "codec probe/x: create failed (-2): asked to fail by fail_create");
    assert_int_equal(cnt->deinit_calls, deinits + 1);
    assert_int_equal(atomic_load(&p->mem_live), 0);
    tbr_registry_free(reg);
}

static void defaults_and_coercions_fill_the_config(void **s) {
    (void)s;
    tbr_registry *reg = tbr_registry_new();
    load(reg, "probe.so");
    const tbr_component *c = tbr_registry_find(reg, TB_KIND_CODEC, "probe");
    tb_arena *a = tbr_arena_new(0);
    tb_value cfg = config_with(a, "{\"target\":\"t\",\"ratio\":2,\"anything\":[null]}");
    tbr_instance *inst;
    char err[512];
    assert_int_equal(tbr_instance_create(reg, c, "x", &cfg, NULL, 0, &inst, err, sizeof err), TB_OK);
    const tb_value *v = tb_object_getz(&inst->config, "ratio");
    assert_int_equal(v->type, TB_F64);
    assert_true(v->as.f == 2.0);
    v = tb_object_getz(&inst->config, "offset");
    assert_int_equal(v->type, TB_I64);
    assert_int_equal(v->as.i, -3);
    v = tb_object_getz(&inst->config, "timer_ms");
    assert_int_equal(v->type, TB_U64);
    assert_int_equal(v->as.u, 0);
    assert_int_equal(tb_object_getz(&inst->config, "tags")->len, 2);
    assert_int_equal(tb_object_getz(&inst->config, "anything")->type, TB_ARRAY);
    assert_null(tb_object_getz(&inst->config, "path"));
    /* the host table hands the plugin the same effective configuration */
    assert_ptr_equal(tbr_host_api()->config(inst->ctx), &inst->config);
    tbr_instance_destroy(inst);
    tbr_arena_free(a);
    tbr_registry_free(reg);
}

static void timers_fire_through_the_host_table(void **s) {
    (void)s;
    tbr_registry *reg = tbr_registry_new();
    tbr_plugin *p = load(reg, "probe.so");
    const probe_counters *cnt = counters_of(p);
    tbr_loop *loop = tbr_loop_new();
    const tbr_component *c = tbr_registry_find(reg, TB_KIND_CODEC, "probe");
    tb_arena *a = tbr_arena_new(0);
    tb_value cfg = config_with(a, "{\"target\":\"t\",\"timer_ms\":2}");
    tbr_instance *inst;
    char err[512];
    assert_int_equal(tbr_instance_create(reg, c, "t", &cfg, loop, 0, &inst, err, sizeof err), TB_OK);
    int start = cnt->timer_fires;
    uint64_t deadline = tbr_now_ns() + 5000000000ull;
    while (cnt->timer_fires < start + 3 && tbr_now_ns() < deadline) tbr_loop_run_once(loop, 100);
    assert_true(cnt->timer_fires >= start + 3);
    const tbr_metric *m = tbr_context_metric(inst->ctx, 0);
    assert_non_null(m);
    assert_string_equal(m->name, "timer_fires");
    assert_int_equal(atomic_load(&m->value), cnt->timer_fires - start);
    tbr_instance_destroy(inst);
    /* the timer stopped with the instance */
    int after = cnt->timer_fires;
    tbr_loop_run_once(loop, 20);
    assert_int_equal(cnt->timer_fires, after);
    tbr_loop_free(loop);
    tbr_arena_free(a);
    tbr_registry_free(reg);
}

/* A plugin linked into the binary goes through the same checks. */
static int TB_CALL st_create(const tb_create_args *args, void **out) {
    (void)args;
    *out = NULL;
    return TB_OK;
}
static void TB_CALL st_destroy(void *p) { (void)p; }
static int TB_CALL st_process(void *p, const tb_batch *in, tb_batch *out) {
    (void)p, (void)in, (void)out;
    return TB_OK;
}
static const tb_processor_vtable st_vtable = {sizeof(tb_processor_vtable), 0, st_create,
                                              st_destroy, st_process, NULL};
static const tb_component st_component = {sizeof(tb_component), TB_KIND_POSTPROCESSOR, "st",
                                          "static test", NULL, 0, 0, &st_vtable};
static const tb_component *const st_components[] = {&st_component};
static const tb_plugin_descriptor st_descriptor = {
    TB_DESCRIPTOR_HEAD, .name = "static-test", .version = "1.0.0", .components = st_components,
    .component_count = 1};
static const tb_plugin_descriptor st_bad = {
    TB_PLUGIN_MAGIC, 3, 0, sizeof(tb_plugin_descriptor), .name = "x", .version = "1"};
static const tb_plugin_descriptor *TB_CALL st_entry(void) { return &st_descriptor; }
static const tb_plugin_descriptor *TB_CALL st_bad_entry(void) { return &st_bad; }

static void static_plugins_are_checked_too(void **s) {
    (void)s;
    tbr_registry *reg = tbr_registry_new();
    tbr_registry_set_log_refusals(reg, false);
    assert_int_equal(tbr_registry_add_static(reg, st_entry), TB_OK);
    tbr_plugin *p = tbr_registry_find_plugin(reg, "static-test");
    assert_non_null(p);
    assert_string_equal(p->path, "(static)");
    assert_null(p->handle);
    assert_non_null(tbr_registry_find(reg, TB_KIND_POSTPROCESSOR, "st"));
    assert_int_not_equal(tbr_registry_add_static(reg, st_bad_entry), TB_OK);
    assert_string_equal(tbr_registry_refusal_at(reg, 0)->reason,
                        "(static): ABI major mismatch: built for ABI 3.0, this runtime provides ABI 1.2");
    tbr_registry_free(reg);
}

static void *load_all(void *reg) {
    tbr_registry_scan_dir(reg, DIR);
    return NULL;
}

/* Four threads load the same directory at once: each name ends up loaded exactly once. */
static void concurrent_loading_is_safe(void **s) {
    (void)s;
    tbr_registry *reg = tbr_registry_new();
    tbr_registry_set_log_refusals(reg, false);
    pthread_t t[4];
    for (int i = 0; i < 4; i++) assert_int_equal(pthread_create(&t[i], NULL, load_all, reg), 0);
    for (int i = 0; i < 4; i++) pthread_join(t[i], NULL);
    size_t loaded = 0;
    tbr_plugin *p;
    while ((p = tbr_registry_plugin_at(reg, loaded))) {
        for (size_t j = 0; j < loaded; j++)
            assert_string_not_equal(tbr_registry_plugin_at(reg, j)->desc.name, p->desc.name);
        loaded++;
    }
    /* the same four names as a single scan; which twin wins may vary with timing */
    assert_int_equal(loaded, 4);
    assert_non_null(tbr_registry_find_plugin(reg, "probe"));
    assert_non_null(tbr_registry_find_plugin(reg, "probe_old"));
    tbr_registry_free(reg);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(refuses_text_file),
        cmocka_unit_test(refuses_missing_file),
        cmocka_unit_test(refuses_library_without_entry),
        cmocka_unit_test(refuses_null_descriptor),
        cmocka_unit_test(refuses_bad_magic),
        cmocka_unit_test(refuses_other_major),
        cmocka_unit_test(refuses_newer_minor),
        cmocka_unit_test(refuses_impossible_size),
        cmocka_unit_test(refuses_null_required_callback),
        cmocka_unit_test(refuses_connector_without_halves),
        cmocka_unit_test(refuses_invalid_default),
        cmocka_unit_test(refuses_invalid_name),
        cmocka_unit_test(refuses_unresolved_dependency),
        cmocka_unit_test(plugins_see_no_host_symbols),
        cmocka_unit_test(refuses_duplicate_plugin_name_keeping_first),
        cmocka_unit_test(refuses_duplicate_component),
        cmocka_unit_test(scan_goes_on_past_refusals),
        cmocka_unit_test(search_path_from_environment),
        cmocka_unit_test(older_minor_plugin_loads_with_defaults),
        cmocka_unit_test(current_plugin_metadata),
        cmocka_unit_test(init_and_deinit_are_reference_counted),
        cmocka_unit_test(configuration_is_checked_against_options),
        cmocka_unit_test(defaults_and_coercions_fill_the_config),
        cmocka_unit_test(timers_fire_through_the_host_table),
        cmocka_unit_test(static_plugins_are_checked_too),
        cmocka_unit_test(concurrent_loading_is_safe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
