/*
 * test_compress.c - tests of the compress postprocessor and the decompress preprocessor,
 * loaded from the build's plugins directory by the real registry, instantiated with JSON
 * configuration through tbr_instance_create and driven through their processor vtables:
 * round trips for every algorithm (named and autodetected), the reference tools' vectors
 * (vectors.h), corrupted and truncated input to the err port, empty input, the bomb guard,
 * configuration errors, and that every instance gives its memory back.
 *
 * Each call gets a fresh arena, freed after the checks, so a plugin that keeps a pointer
 * into a batch reads freed memory under AddressSanitizer.
 *
 * Thread contract: single-threaded tests. Ownership: a proc owns its instance until
 * proc_stop; a run owns its arena until run_free.
 */
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

#include "vectors.h"

#ifndef TB_PLUGIN_DIR
#error "TB_PLUGIN_DIR must name the build's plugins directory"
#endif

static const char TEXT[] = "hello temblor\n";
static const char *const algorithms[] = {"gzip", "zlib", "xz", "zstd", "lz4", "snappy"};
#define N_ALGS (sizeof algorithms / sizeof algorithms[0])

static tbr_registry *reg;

typedef struct proc {
    tbr_instance *inst;
    size_t mem_before;
} proc;

typedef struct run {
    tb_arena *arena;
    tb_batch in, out;
} run;

static int group_setup(void **state) {
    (void)state;
    reg = tbr_registry_new();
    if (!reg) return -1;
    tbr_registry_add_static_plugins(reg);
    tbr_registry_scan_dir(reg, TB_PLUGIN_DIR);
    return 0;
}

static int group_teardown(void **state) {
    (void)state;
    tbr_registry_free(reg);
    reg = NULL;
    return 0;
}

static const tbr_component *component(uint32_t kind, const char *name) {
    const tbr_component *c = tbr_registry_find(reg, kind, name);
    if (!c) fail_msg("no component '%s' in %s", name, TB_PLUGIN_DIR);
    return c;
}

static int proc_try(proc *p, uint32_t kind, const char *name, const char *json, char *err,
                    size_t n) {
    const tbr_component *c = component(kind, name);
    tb_arena *a = tbr_arena_new(1024);
    tb_value config = tb_null();
    char jerr[128];
    assert_non_null(a);
    memset(p, 0, sizeof *p);
    p->mem_before = atomic_load(&c->plugin->mem_live);
    char *text = tb_arena_dup(a, json, strlen(json));
    if (tbr_json_parse(a, text, strlen(json), &config, jerr, sizeof jerr))
        fail_msg("bad test configuration %s: %s", json, jerr);
    int rc = tbr_instance_create(reg, c, "test", &config, NULL, 7, &p->inst, err, n);
    tbr_arena_free(a); /* the configuration is copied */
    return rc;
}

static void proc_start(proc *p, uint32_t kind, const char *name, const char *json) {
    char err[512] = "";
    int rc = proc_try(p, kind, name, json, err, sizeof err);
    if (rc) fail_msg("create %s with %s: %d: %s", name, json, rc, err);
}

static void comp_start(proc *p, const char *algorithm) {
    char json[128];
    snprintf(json, sizeof json, "{\"algorithm\":\"%s\"}", algorithm);
    proc_start(p, TB_KIND_POSTPROCESSOR, "compress", json);
}

static void decomp_start(proc *p, const char *algorithm, uint64_t max) {
    char json[160];
    if (max)
        snprintf(json, sizeof json, "{\"algorithm\":\"%s\",\"max_output_size\":%llu}", algorithm,
                 (unsigned long long)max);
    else
        snprintf(json, sizeof json, "{\"algorithm\":\"%s\"}", algorithm);
    proc_start(p, TB_KIND_PREPROCESSOR, "decompress", json);
}

static void proc_stop(proc *p) {
    const tbr_plugin *pl = p->inst->component->plugin;
    tbr_instance_destroy(p->inst);
    assert_int_equal(atomic_load(&pl->mem_live), p->mem_before);
    memset(p, 0, sizeof *p);
}

static void run_begin(run *r) {
    memset(r, 0, sizeof *r);
    r->arena = tbr_arena_new(256); /* small chunks: output goes through grow */
    assert_non_null(r->arena);
    r->in.arena = r->out.arena = r->arena;
}

static tb_event *run_add(run *r, const void *bytes, size_t n, uint64_t id) {
    tb_event *e = tb_batch_push(&r->in);
    assert_non_null(e);
    /* a copy in the arena, so the plugin may slice it but must not keep it */
    const char *copy = tb_arena_dup(r->arena, bytes, n);
    assert_non_null(copy);
    e->data = tb_bytes(copy, n);
    e->meta = tb_object();
    e->id = id;
    e->ingest_ns = 1000 + id;
    e->stream = 7;
    e->source = 5;
    e->flags = TB_EF_RAW | TB_EF_TRANSACTIONAL;
    return e;
}

static void run_process(run *r, proc *p) {
    assert_int_equal(p->inst->component->vt.processor.process(p->inst->state, &r->in, &r->out),
                     TB_OK);
}

static void run_free(run *r) {
    tbr_arena_free(r->arena);
    memset(r, 0, sizeof *r);
}

/* Compresses bytes with p; returns a malloc'd copy of the single output event's bytes. */
static uint8_t *apply(proc *p, const void *bytes, size_t n, size_t *out_len) {
    run r;
    run_begin(&r);
    run_add(&r, bytes, n, 1);
    run_process(&r, p);
    assert_int_equal(r.out.count, 1);
    const tb_event *e = &r.out.events[0];
    if (e->flags & TB_EF_ERROR) {
        size_t mn = 0;
        const char *m = tb_value_str(tb_object_getz(&e->data, "error"), &mn);
        fail_msg("unexpected failure: %.*s", (int)mn, m ? m : "?");
    }
    assert_true(e->flags & TB_EF_RAW);
    assert_int_equal(e->data.type, TB_BYTES);
    assert_int_equal(e->id, 1);
    assert_int_equal(e->ingest_ns, 1001);
    assert_int_equal(e->stream, 7);
    assert_int_equal(e->source, 5);
    assert_true(e->flags & TB_EF_TRANSACTIONAL);
    uint8_t *copy = malloc(e->data.len + 1);
    assert_non_null(copy);
    if (e->data.len) memcpy(copy, e->data.as.bytes, e->data.len);
    *out_len = e->data.len;
    run_free(&r);
    return copy;
}

/* Runs bytes through p and checks the single output failed with a reason starting with
 * prefix, its data the input unchanged. */
static void expect_fail(proc *p, const void *bytes, size_t n, const char *prefix) {
    run r;
    run_begin(&r);
    run_add(&r, bytes, n, 9);
    run_process(&r, p);
    assert_int_equal(r.out.count, 1);
    const tb_event *e = &r.out.events[0];
    assert_true(e->flags & TB_EF_ERROR);
    assert_false(e->flags & TB_EF_RAW);
    assert_int_equal(e->id, 9);
    size_t mn = 0;
    const char *m = tb_value_str(tb_object_getz(&e->data, "error"), &mn);
    assert_non_null(m);
    if (mn < strlen(prefix) || memcmp(m, prefix, strlen(prefix)) != 0)
        fail_msg("failed with \"%.*s\", expected a reason starting \"%s\"", (int)mn, m, prefix);
    size_t dn = 0;
    const uint8_t *d = tb_value_bytes(tb_object_getz(&e->data, "data"), &dn);
    assert_int_equal(dn, n);
    if (n) assert_memory_equal(d, bytes, n);
    run_free(&r);
}

/* A payload with long repeats and noise, over several 64 KiB snappy blocks. */
static uint8_t *payload(size_t n) {
    uint8_t *p = malloc(n ? n : 1);
    uint32_t x = 12345;
    assert_non_null(p);
    for (size_t i = 0; i < n; i++) {
        x = x * 1103515245u + 12345u;
        p[i] = (i / 1000) % 3 ? (uint8_t)("temblor "[i % 8]) : (uint8_t)(x >> 16);
    }
    return p;
}

static bool has_magic(const char *alg, const uint8_t *p, size_t n) {
    if (n < 4) return false;
    if (!strcmp(alg, "gzip")) return p[0] == 0x1f && p[1] == 0x8b;
    if (!strcmp(alg, "zlib")) return p[0] == 0x78;
    if (!strcmp(alg, "xz")) return n >= 6 && !memcmp(p, "\xfd" "7zXZ\0", 6);
    if (!strcmp(alg, "zstd")) return !memcmp(p, "\x28\xb5\x2f\xfd", 4);
    if (!strcmp(alg, "lz4")) return !memcmp(p, "\x04\x22\x4d\x18", 4);
    return n >= 10 && !memcmp(p, "\xff\x06\x00\x00sNaPpY", 10);
}

static void roundtrip(const char *alg, const char *comp_json, const uint8_t *data, size_t n) {
    proc c, auto_d, named_d;
    size_t clen, dlen;
    if (comp_json) proc_start(&c, TB_KIND_POSTPROCESSOR, "compress", comp_json);
    else comp_start(&c, alg);
    decomp_start(&auto_d, "autodetect", 0);
    decomp_start(&named_d, alg, 0);
    uint8_t *z = apply(&c, data, n, &clen);
    if (!has_magic(alg, z, clen)) fail_msg("%s output of %zu bytes lacks its magic", alg, n);
    uint8_t *back = apply(&auto_d, z, clen, &dlen);
    assert_int_equal(dlen, n);
    if (n) assert_memory_equal(back, data, n);
    free(back);
    back = apply(&named_d, z, clen, &dlen);
    assert_int_equal(dlen, n);
    if (n) assert_memory_equal(back, data, n);
    free(back);
    free(z);
    proc_stop(&named_d);
    proc_stop(&auto_d);
    proc_stop(&c);
}

static void test_roundtrip_every_algorithm(void **state) {
    (void)state;
    static const size_t sizes[] = {0, 4, 14, 65536, 200000};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        uint8_t *data = payload(sizes[s]);
        for (size_t a = 0; a < N_ALGS; a++) roundtrip(algorithms[a], NULL, data, sizes[s]);
        free(data);
    }
}

static void test_roundtrip_levels_and_alias(void **state) {
    (void)state;
    uint8_t *data = payload(100000);
    roundtrip("gzip", "{\"algorithm\":\"gzip\",\"level\":1}", data, 100000);
    roundtrip("zlib", "{\"algorithm\":\"zlib\",\"level\":9}", data, 100000);
    roundtrip("xz", "{\"algorithm\":\"xz2\",\"level\":0}", data, 100000);
    roundtrip("xz", "{\"algorithm\":\"xz\",\"level\":9}", data, 100000);
    roundtrip("zstd", "{\"algorithm\":\"zstd\",\"level\":-7}", data, 100000);
    roundtrip("zstd", "{\"algorithm\":\"zstd\",\"level\":19}", data, 100000);
    roundtrip("lz4", "{\"algorithm\":\"lz4\",\"level\":0}", data, 100000);
    roundtrip("lz4", "{\"algorithm\":\"lz4\",\"level\":16}", data, 100000);
    free(data);
}

static void test_known_vectors(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof vectors / sizeof vectors[0]; i++) {
        const char *names[2] = {"autodetect", vectors[i].algorithm};
        for (int k = 0; k < 2; k++) {
            proc d;
            size_t n;
            decomp_start(&d, names[k], 0);
            uint8_t *out = apply(&d, vectors[i].bytes, vectors[i].len, &n);
            if (n != strlen(TEXT) || memcmp(out, TEXT, n) != 0)
                fail_msg("vector %zu (%s) via %s gave %zu bytes", i, vectors[i].algorithm,
                         names[k], n);
            free(out);
            proc_stop(&d);
        }
    }
}

/* snap's FrameEncoder stores a block uncompressed when compression saves under 1/8: the
 * reference stream built by hand is exactly what compress must write. */
static void test_snappy_frame_matches_reference(void **state) {
    (void)state;
    proc c;
    size_t n;
    comp_start(&c, "snappy");
    uint8_t *out = apply(&c, TEXT, strlen(TEXT), &n);
    assert_int_equal(n, sizeof vec_snappy_uncompressed);
    assert_memory_equal(out, vec_snappy_uncompressed, n);
    free(out);
    proc_stop(&c);
}

static void test_corrupted_to_err(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof vectors / sizeof vectors[0]; i++) {
        const char *alg = vectors[i].algorithm;
        size_t n = vectors[i].len;
        uint8_t *bad = malloc(n);
        char prefix[64];
        proc d;
        assert_non_null(bad);
        snprintf(prefix, sizeof prefix, "decompress: %s: invalid data", alg);
        decomp_start(&d, "autodetect", 0);
        /* a damaged body (past the magic and headers) */
        memcpy(bad, vectors[i].bytes, n);
        for (size_t k = n / 2; k < n / 2 + 4 && k < n; k++) bad[k] ^= 0x5a;
        expect_fail(&d, bad, n, prefix);
        /* truncated */
        expect_fail(&d, vectors[i].bytes, n - 3, prefix);
        /* the instance still works after failures */
        size_t on;
        uint8_t *ok = apply(&d, vectors[i].bytes, n, &on);
        assert_int_equal(on, strlen(TEXT));
        free(ok);
        proc_stop(&d);
        /* a named algorithm fed something else */
        decomp_start(&d, alg, 0);
        expect_fail(&d, "this is not compressed at all", 29, prefix);
        proc_stop(&d);
        free(bad);
    }
}

static void test_batch_keeps_order_and_metadata(void **state) {
    (void)state;
    proc d;
    run r;
    decomp_start(&d, "autodetect", 0);
    run_begin(&r);
    run_add(&r, vec_zstd, sizeof vec_zstd, 1);
    run_add(&r, vec_gzip, 10, 2); /* truncated */
    tb_event *plain = run_add(&r, "{\"a\":1}", 7, 3);
    tb_event *skipped = tb_batch_push(&r.in); /* not raw: not a processor's business */
    assert_non_null(skipped);
    skipped->data = tb_null();
    run_add(&r, vec_lz4, sizeof vec_lz4, 4);
    const uint8_t *plain_bytes = plain->data.as.bytes;
    run_process(&r, &d);
    assert_int_equal(r.out.count, 4);
    assert_int_equal(r.out.events[0].id, 1);
    assert_int_equal(r.out.events[0].data.len, strlen(TEXT));
    assert_true(r.out.events[1].flags & TB_EF_ERROR);
    assert_int_equal(r.out.events[1].id, 2);
    /* unrecognised data passes on unchanged, without a copy */
    assert_int_equal(r.out.events[2].id, 3);
    assert_ptr_equal(r.out.events[2].data.as.bytes, plain_bytes);
    assert_int_equal(r.out.events[3].id, 4);
    assert_memory_equal(r.out.events[3].data.as.bytes, TEXT, strlen(TEXT));
    run_free(&r);
    proc_stop(&d);
}

static void test_empty_input(void **state) {
    (void)state;
    for (size_t a = 0; a < N_ALGS; a++) {
        proc d;
        size_t n;
        decomp_start(&d, algorithms[a], 0);
        uint8_t *out = apply(&d, "", 0, &n);
        assert_int_equal(n, 0);
        free(out);
        proc_stop(&d);
    }
    /* autodetect: short data is not compressed data */
    proc d;
    size_t n;
    decomp_start(&d, "autodetect", 0);
    uint8_t *out = apply(&d, "\x1f\x8b", 2, &n);
    assert_int_equal(n, 2);
    free(out);
    proc_stop(&d);
}

static void test_bomb_guard(void **state) {
    (void)state;
    const size_t big = 4u << 20; /* 4 MiB of zeros compresses to a few KiB */
    uint8_t *zeros = calloc(1, big);
    assert_non_null(zeros);
    for (size_t a = 0; a < N_ALGS; a++) {
        proc c, d, exact;
        size_t clen, n;
        char prefix[128];
        comp_start(&c, algorithms[a]);
        uint8_t *z = apply(&c, zeros, big, &clen);
        assert_true(clen < big / 16);
        snprintf(prefix, sizeof prefix,
                 "decompress: %s: output exceeds max_output_size (65536 bytes)", algorithms[a]);
        decomp_start(&d, "autodetect", 65536);
        expect_fail(&d, z, clen, prefix);
        proc_stop(&d);
        decomp_start(&d, algorithms[a], 65536);
        expect_fail(&d, z, clen, prefix);
        proc_stop(&d);
        /* exactly at the limit is fine */
        decomp_start(&exact, algorithms[a], big);
        uint8_t *back = apply(&exact, z, clen, &n);
        assert_int_equal(n, big);
        assert_memory_equal(back, zeros, big);
        free(back);
        proc_stop(&exact);
        free(z);
        proc_stop(&c);
    }
    /* zstd and lz4 headers that announce too much are refused before decoding; gzip, whose
     * header does not say, is stopped one byte over the limit */
    proc d;
    decomp_start(&d, "autodetect", 13);
    expect_fail(&d, vec_zstd, sizeof vec_zstd, "decompress: zstd: output exceeds");
    expect_fail(&d, vec_gzip, sizeof vec_gzip, "decompress: gzip: output exceeds");
    expect_fail(&d, vec_snappy, sizeof vec_snappy, "decompress: snappy: output exceeds");
    proc_stop(&d);
    free(zeros);
}

static void test_bad_configuration(void **state) {
    (void)state;
    static const struct {
        uint32_t kind;
        const char *name, *json, *message;
    } cases[] = {
        {TB_KIND_POSTPROCESSOR, "compress", "{}", "algorithm"},
        {TB_KIND_POSTPROCESSOR, "compress", "{\"algorithm\":\"br\"}", "unknown compression"},
        {TB_KIND_POSTPROCESSOR, "compress", "{\"algorithm\":\"gzi\"}", "unknown compression"},
        {TB_KIND_POSTPROCESSOR, "compress", "{\"algorithm\":\"xz\",\"level\":10}", "0 to 9"},
        {TB_KIND_POSTPROCESSOR, "compress", "{\"algorithm\":\"zstd\",\"level\":23}", "-7 to 22"},
        {TB_KIND_POSTPROCESSOR, "compress", "{\"algorithm\":\"zstd\",\"level\":-8}", "-7 to 22"},
        {TB_KIND_POSTPROCESSOR, "compress", "{\"algorithm\":\"lz4\",\"level\":-1}", "less than 0"},
        {TB_KIND_POSTPROCESSOR, "compress", "{\"algorithm\":\"gzip\",\"level\":10}", "0 to 9"},
        {TB_KIND_POSTPROCESSOR, "compress", "{\"algorithm\":\"snappy\",\"level\":1}",
         "not supported for snappy"},
        {TB_KIND_PREPROCESSOR, "decompress", "{\"algorithm\":\"rar\"}", "unknown compression"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        proc p;
        char err[512] = "";
        int rc = proc_try(&p, cases[i].kind, cases[i].name, cases[i].json, err, sizeof err);
        if (rc == TB_OK) fail_msg("%s accepted %s", cases[i].name, cases[i].json);
        if (!strstr(err, cases[i].message))
            fail_msg("%s %s: \"%s\" does not mention \"%s\"", cases[i].name, cases[i].json, err,
                     cases[i].message);
        assert_null(p.inst);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_every_algorithm),
        cmocka_unit_test(test_roundtrip_levels_and_alias),
        cmocka_unit_test(test_known_vectors),
        cmocka_unit_test(test_snappy_frame_matches_reference),
        cmocka_unit_test(test_corrupted_to_err),
        cmocka_unit_test(test_batch_keeps_order_and_metadata),
        cmocka_unit_test(test_empty_input),
        cmocka_unit_test(test_bomb_guard),
        cmocka_unit_test(test_bad_configuration),
    };
    return cmocka_run_group_tests_name("compress", tests, group_setup, group_teardown);
}
