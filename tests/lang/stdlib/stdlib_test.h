/*
 * stdlib_test.h - shared fixture and helpers of the standard library's tests: functions are
 * called through tbr_fn_lookup, arguments are written as a JSON array, results are compared
 * with expected JSON strictly (same types: 3 is an int, 3.0 a float; records in order).
 */
#ifndef TB_TEST_STDLIB_TEST_H
#define TB_TEST_STDLIB_TEST_H

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lang/fn.h"
#include "value/arena.h"
#include "value/json.h"
#include "value_same.h"

typedef struct fx {
    tb_arena *arena;
    uint64_t rng;
    char err[512];
    tbr_fn_ctx cx;
} fx;

static inline int fx_setup(void **state) {
    fx *f = calloc(1, sizeof *f);
    if (!f) return -1;
    f->arena = tbr_arena_new(4096);
    if (!f->arena) {
        free(f);
        return -1;
    }
    f->rng = 0x853c49e6748fea9bu;
    f->cx.arena = f->arena;
    f->cx.error = f->err;
    f->cx.error_size = sizeof f->err;
    f->cx.rng_state = &f->rng;
    *state = f;
    return 0;
}

static inline int fx_teardown(void **state) {
    fx *f = *state;
    tbr_arena_free(f->arena);
    free(f);
    return 0;
}

/* A value from JSON text (fails the test on a parse error). */
static inline tb_value J(fx *f, const char *json) {
    tb_value v;
    char err[128];
    if (tbr_json_parse(f->arena, json, strlen(json), &v, err, sizeof err) != TB_OK)
        fail_msg("bad JSON in test: %s: %s", json, err);
    return v;
}

/* The function named "module::name" (fails the test when absent). */
static inline const tbr_fn *F(const char *qualified) {
    const char *sep = strstr(qualified, "::");
    if (!sep) fail_msg("not a qualified name: %s", qualified);
    const tbr_fn *fn = tbr_fn_lookup(qualified, (size_t)(sep - qualified), sep + 2,
                                     strlen(sep + 2));
    if (!fn) fail_msg("no function %s", qualified);
    return fn;
}

/* Calls qualified with argc arguments, checking the arity against the table. */
static inline int call_n(fx *f, const char *qualified, const tb_value *args, uint32_t argc,
                  tb_value *out) {
    const tbr_fn *fn = F(qualified);
    if ((int)argc < fn->min_args || (fn->max_args >= 0 && (int)argc > fn->max_args))
        fail_msg("%s called with %u arguments", qualified, argc);
    f->err[0] = '\0';
    memset(out, 0xA5, sizeof *out); /* no stale success */
    return fn->fn(&f->cx, args, argc, out);
}

/* Calls qualified with the items of the JSON array args_json as arguments. */
static inline int call_j(fx *f, const char *qualified, const char *args_json, tb_value *out) {
    tb_value a = J(f, args_json);
    assert_int_equal(a.type, TB_ARRAY);
    return call_n(f, qualified, a.as.items, a.len, out);
}

/* Strict equality from tests/support. */
#define same_value tb_test_same_value

/* JSON text of v for messages (bytes show as arrays; types are lost, so messages also
 * name the type). */
static inline const char *show(fx *f, const tb_value *v) {
    tb_buf buf;
    tb_buf_init(&buf, f->arena);
    if (v->type > TB_OBJECT) return "<garbage>";
    if (tbr_json_write(v, &buf) != TB_OK || !tb_buf_append(&buf, "", 1)) return "<oom>";
    return (const char *)buf.data;
}

static inline void check_ok_v(fx *f, const char *file, int line, const char *qualified,
                       const tb_value *args, uint32_t argc, const tb_value *want) {
    tb_value out;
    int rc = call_n(f, qualified, args, argc, &out);
    if (rc != TB_OK) fail_msg("%s:%d: %s failed (%d): %s", file, line, qualified, rc, f->err);
    if (!same_value(&out, want))
        fail_msg("%s:%d: %s returned %s %s, expected %s %s", file, line, qualified,
                 tb_type_name(out.type), show(f, &out), tb_type_name(want->type), show(f, want));
}

static inline void check_ok(fx *f, const char *file, int line, const char *qualified,
                     const char *args_json, const char *want_json) {
    tb_value a = J(f, args_json), want = J(f, want_json);
    assert_int_equal(a.type, TB_ARRAY);
    check_ok_v(f, file, line, qualified, a.as.items, a.len, &want);
}

static inline void check_err_v(fx *f, const char *file, int line, const char *qualified,
                        const tb_value *args, uint32_t argc, const char *want_msg) {
    tb_value out;
    int rc = call_n(f, qualified, args, argc, &out);
    if (rc == TB_OK)
        fail_msg("%s:%d: %s succeeded with %s, expected the error: %s", file, line, qualified,
                 show(f, &out), want_msg);
    if (strcmp(f->err, want_msg) != 0)
        fail_msg("%s:%d: %s failed with\n  \"%s\"\nexpected\n  \"%s\"", file, line, qualified,
                 f->err, want_msg);
}

static inline void check_err(fx *f, const char *file, int line, const char *qualified,
                      const char *args_json, const char *want_msg) {
    tb_value a = J(f, args_json);
    assert_int_equal(a.type, TB_ARRAY);
    check_err_v(f, file, line, qualified, a.as.items, a.len, want_msg);
}

/* OK(f, "string::len", "[\"abc\"]", "3"): the call succeeds with exactly that value. */
#define OK(f, fn, args, want) check_ok(f, __FILE__, __LINE__, fn, args, want)
/* ERR(f, "string::len", "[1]", "string::len: ..."): the call fails with exactly that message. */
#define ERR(f, fn, args, msg) check_err(f, __FILE__, __LINE__, fn, args, msg)
#define OK_V(f, fn, args, argc, want) check_ok_v(f, __FILE__, __LINE__, fn, args, argc, want)
#define ERR_V(f, fn, args, argc, msg) check_err_v(f, __FILE__, __LINE__, fn, args, argc, msg)

/* A string value over a literal that may hold NULs or invalid bytes. */
#define STR(lit) tb_string((lit), sizeof(lit) - 1)
#define BYTES(lit) tb_bytes((lit), sizeof(lit) - 1)

#define FX_TEST(t) cmocka_unit_test_setup_teardown(t, fx_setup, fx_teardown)

#endif
