/*
 * codec_fix.h - a small fixture for codec plugin tests: loads plugins from the build's
 * plugins directory through the real registry, instantiates a codec with a JSON
 * configuration through tbr_instance_create, and drives decode/encode through its vtable
 * on batches whose arena uses small chunks (so arena growth paths run).
 *
 * Ownership: a fixture owns its instance and arena until cf_stop. Thread contract:
 * single-threaded tests. Header-only (static functions), shared by the codec tests.
 */
#ifndef TB_TESTS_CODEC_FIX_H
#define TB_TESTS_CODEC_FIX_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "plugin/instance.h"
#include "plugin/plugin.h"
#include "plugin/registry.h"
#include "value/arena.h"
#include "value/json.h"

#ifndef TB_PLUGIN_DIR
#error "TB_PLUGIN_DIR must name the build's plugins directory"
#endif

typedef struct cf_fix {
    tbr_instance *inst;
    tb_arena *arena;
    tb_batch b;
    size_t mem_before;
} cf_fix;

static tbr_registry *cf_reg;

static int cf_group_setup(void **state) {
    (void)state;
    cf_reg = tbr_registry_new();
    if (!cf_reg) return -1;
    tbr_registry_add_static_plugins(cf_reg);
    tbr_registry_scan_dir(cf_reg, TB_PLUGIN_DIR);
    return 0;
}

static int cf_group_teardown(void **state) {
    (void)state;
    tbr_registry_free(cf_reg);
    cf_reg = NULL;
    return 0;
}

static const tbr_component *cf_component(const char *name) {
    const tbr_component *c = tbr_registry_find(cf_reg, TB_KIND_CODEC, name);
    if (!c) fail_msg("no codec '%s' in %s", name, TB_PLUGIN_DIR);
    return c;
}

/* Creates the instance; returns tbr_instance_create's status with its message in err. */
static int cf_try_start(cf_fix *f, const char *name, const char *config_json, char *err,
                        size_t n) {
    const tbr_component *c = cf_component(name);
    tb_value config = tb_null();
    tb_arena *ca = tbr_arena_new(1024);
    int rc;
    memset(f, 0, sizeof *f);
    assert_non_null(ca);
    f->mem_before = atomic_load(&c->plugin->mem_live);
    if (config_json) {
        char jerr[128];
        char *text = tb_arena_dup(ca, config_json, strlen(config_json));
        if (tbr_json_parse(ca, text, strlen(config_json), &config, jerr, sizeof jerr))
            fail_msg("bad test configuration %s: %s", config_json, jerr);
    }
    rc = tbr_instance_create(cf_reg, c, "test", config_json ? &config : NULL, NULL, 0,
                             &f->inst, err, n);
    tbr_arena_free(ca); /* the instance copied its configuration */
    return rc;
}

static void cf_start(cf_fix *f, const char *name, const char *config_json) {
    char err[512] = "";
    int rc = cf_try_start(f, name, config_json, err, sizeof err);
    if (rc) fail_msg("create %s: %d: %s", name, rc, err);
}

/* A fresh, empty batch in a fresh arena of chunk_size chunks (the previous arena is freed). */
static void cf_begin_chunk(cf_fix *f, size_t chunk_size) {
    tbr_arena_free(f->arena);
    f->arena = tbr_arena_new(chunk_size);
    assert_non_null(f->arena);
    memset(&f->b, 0, sizeof f->b);
    f->b.arena = f->arena;
    f->b.token = 1;
}

/* A fresh batch in small chunks, so values and event arrays grow through the arena's grow. */
static void cf_begin(cf_fix *f) { cf_begin_chunk(f, 256); }

/* Appends a raw event whose bytes are a copy (in the batch arena) of p[0..n); returns the
 * copy, so tests can check that values point into it. */
static const uint8_t *cf_raw(cf_fix *f, const void *p, size_t n) {
    tb_event *e = tb_batch_push(&f->b);
    char *copy = tb_arena_dup(f->arena, p, n);
    assert_non_null(e);
    assert_non_null(copy);
    e->data = tb_bytes(copy, n);
    e->meta = tb_object();
    e->flags = TB_EF_RAW;
    e->id = f->b.count;
    return (const uint8_t *)copy;
}

static const uint8_t *cf_raws(cf_fix *f, const char *s) { return cf_raw(f, s, strlen(s)); }

/* Appends a structured event whose data is the JSON text parsed by the runtime's parser. */
static tb_event *cf_value(cf_fix *f, const char *json) {
    tb_event *e = tb_batch_push(&f->b);
    char err[128];
    char *text = tb_arena_dup(f->arena, json, strlen(json));
    assert_non_null(e);
    if (tbr_json_parse(f->arena, text, strlen(json), &e->data, err, sizeof err))
        fail_msg("bad test JSON %s: %s", json, err);
    e->meta = tb_object();
    return e;
}

static int cf_decode(cf_fix *f) {
    return f->inst->component->vt.codec.decode(f->inst->state, &f->b);
}

static int cf_encode(cf_fix *f) {
    return f->inst->component->vt.codec.encode(f->inst->state, &f->b);
}

/* The JSON text of v by the runtime's own writer, NUL-terminated, in the batch arena. */
static const char *cf_text(cf_fix *f, const tb_value *v) {
    tb_buf buf;
    tb_buf_init(&buf, f->arena);
    assert_int_equal(tbr_json_write(v, &buf), TB_OK);
    assert_true(tb_buf_append(&buf, "", 1));
    return (const char *)buf.data;
}

/* The bytes of a raw event as a NUL-terminated string in the arena. */
static const char *cf_bytes_text(cf_fix *f, const tb_event *e) {
    assert_int_equal(e->data.type, TB_BYTES);
    assert_true(e->flags & TB_EF_RAW);
    char *s = tb_arena_alloc(f->arena, (size_t)e->data.len + 1, 1);
    assert_non_null(s);
    if (e->data.len) memcpy(s, e->data.as.bytes, e->data.len);
    s[e->data.len] = '\0';
    return s;
}

/* Event i failed with exactly reason (and went to err). */
static void cf_assert_failed(cf_fix *f, uint32_t i, const char *reason) {
    const tb_event *e = &f->b.events[i];
    const tb_value *msg;
    if (!(e->flags & TB_EF_ERROR)) fail_msg("event %u did not fail: %s", i, cf_text(f, &e->data));
    assert_false(e->flags & TB_EF_RAW);
    msg = tb_object_getz(&e->data, "error");
    assert_non_null(msg);
    size_t n;
    const char *s = tb_value_str(msg, &n);
    assert_non_null(s);
    if (n != strlen(reason) || memcmp(s, reason, n) != 0)
        fail_msg("event %u: expected reason\n  %s\nfound\n  %.*s", i, reason, (int)n, s);
    assert_non_null(tb_object_getz(&e->data, "data"));
}

static void cf_stop(cf_fix *f) {
    const tbr_plugin *p = f->inst ? f->inst->component->plugin : NULL;
    tbr_instance_destroy(f->inst);
    tbr_arena_free(f->arena);
    if (p) assert_int_equal(atomic_load(&p->mem_live), f->mem_before);
    memset(f, 0, sizeof *f);
}

#endif
