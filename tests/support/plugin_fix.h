/*
 * plugin_fix.h - for tests: the common core of the plugin test harnesses. One registry over
 * the build's plugins directory (TB_PLUGIN_DIR), instances created from a JSON configuration
 * through tbr_instance_create, a fresh small-chunk arena per batch (so a plugin that keeps a
 * pointer into an old batch reads freed memory, which AddressSanitizer reports), and a check
 * at stop that the instance gave back all the host memory it took.
 *
 * The struct is for every file; the functions (and the registry they share) are compiled
 * where TB_FIX_IMPLEMENTATION is defined before the include: one harness .c file per test
 * program.
 * Thread contract: single-threaded tests. Ownership: a fixture owns its instance and arenas
 * until tb_fix_stop.
 */
#ifndef TB_TEST_PLUGIN_FIX_H
#define TB_TEST_PLUGIN_FIX_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "plugin/instance.h"
#include "plugin/registry.h"
#include "value/arena.h"
#include "value/json.h"

typedef struct tb_fix {
    tbr_instance *inst;
    tb_arena *config_arena;
    tb_arena *arena; /* the current batch's; in.arena == out.arena == arena */
    tb_batch in, out;
    size_t mem_before; /* the plugin's live bytes before the instance */
} tb_fix;

#ifdef TB_FIX_IMPLEMENTATION

#ifndef TB_PLUGIN_DIR
#error "TB_PLUGIN_DIR must name the build's plugins directory"
#endif

static tbr_registry *tb_fix_registry;

/* cmocka group setup/teardown: plugins linked into the runtime first, as the engine does,
 * then the build's plugins directory. */
static inline int tb_fix_group_setup(void **state) {
    (void)state;
    tb_fix_registry = tbr_registry_new();
    if (!tb_fix_registry) return -1;
    tbr_registry_add_static_plugins(tb_fix_registry);
    tbr_registry_scan_dir(tb_fix_registry, TB_PLUGIN_DIR);
    return 0;
}

static inline int tb_fix_group_teardown(void **state) {
    (void)state;
    tbr_registry_free(tb_fix_registry);
    tb_fix_registry = NULL;
    return 0;
}

/* The component kind/name, or a test failure naming it. */
static inline const tbr_component *tb_fix_component(uint32_t kind, const char *name) {
    const tbr_component *c = tbr_registry_find(tb_fix_registry, kind, name);
    if (!c) fail_msg("no %s '%s' in %s", tbr_kind_name(kind), name, TB_PLUGIN_DIR);
    return c;
}

/* Creates an instance (stream is handed to processors) whose fd and timer registrations go to
 * loop (NULL: they fail with TB_ENOTSUP); returns create's status. */
static inline int tb_fix_try_start_on(tb_fix *f, uint32_t kind, const char *name, const char *config_json,
                                      uint32_t stream, struct tbr_loop *loop, char *err, size_t n) {
    const tbr_component *c = tb_fix_component(kind, name);
    tb_value config = tb_null();
    memset(f, 0, sizeof *f);
    f->mem_before = atomic_load(&c->plugin->mem_live);
    f->config_arena = tbr_arena_new(1024);
    assert_non_null(f->config_arena);
    if (config_json) {
        char jerr[128];
        /* the text is copied: configuration must not point into the caller's literal */
        char *text = tb_arena_dup(f->config_arena, config_json, strlen(config_json));
        assert_non_null(text);
        if (tbr_json_parse(f->config_arena, text, strlen(config_json), &config, jerr, sizeof jerr))
            fail_msg("bad test configuration %s: %s", config_json, jerr);
    }
    return tbr_instance_create(tb_fix_registry, c, "test", config_json ? &config : NULL, loop, stream,
                               &f->inst, err, n);
}

static inline int tb_fix_try_start(tb_fix *f, uint32_t kind, const char *name, const char *config_json,
                                   uint32_t stream, char *err, size_t n) {
    return tb_fix_try_start_on(f, kind, name, config_json, stream, NULL, err, n);
}

static inline void tb_fix_start(tb_fix *f, uint32_t kind, const char *name, const char *config_json,
                                uint32_t stream) {
    char err[512] = "";
    int rc = tb_fix_try_start(f, kind, name, config_json, stream, err, sizeof err);
    if (rc) fail_msg("create %s with %s: %d: %s", name, config_json ? config_json : "(none)", rc, err);
    assert_non_null(f->inst);
}

static inline void tb_fix_stop(tb_fix *f) {
    const tbr_plugin *p = f->inst ? f->inst->component->plugin : NULL;
    tbr_instance_destroy(f->inst);
    tbr_arena_free(f->arena);
    tbr_arena_free(f->config_arena);
    /* everything the instance took from the host allocator went back */
    if (p) assert_int_equal(atomic_load(&p->mem_live), f->mem_before);
    memset(f, 0, sizeof *f);
}

/* Starts a new batch: a fresh arena with small chunks, so values and event arrays grow
 * through the arena's grow callback. */
static inline void tb_fix_begin(tb_fix *f) {
    tbr_arena_free(f->arena);
    f->arena = tbr_arena_new(256);
    assert_non_null(f->arena);
    memset(&f->in, 0, sizeof f->in);
    memset(&f->out, 0, sizeof f->out);
    f->in.arena = f->out.arena = f->arena;
    f->in.token = 1;
    f->out.token = 2;
}

#endif /* TB_FIX_IMPLEMENTATION */
#endif
