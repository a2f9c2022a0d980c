/*
 * extract_test.h - helpers shared by the extractor tests: compile or expect a compile
 * error, run on a string and compare with the expected value written as JSON.
 *
 * Comparison is strict about types (an int is not a float) and ignores the order of
 * record members, as Tremor's records are maps. Every helper makes and frees its own
 * arena, so each check stands alone.
 */
#ifndef TB_TEST_EXTRACT_TEST_H
#define TB_TEST_EXTRACT_TEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lang/extract/extract.h"
#include "value/arena.h"
#include "value/json.h"

static inline bool xt_same(const tb_value *a, const tb_value *b) {
    if (a->type != b->type) return false;
    switch (a->type) {
    case TB_NULL: return true;
    case TB_BOOL: return a->as.b == b->as.b;
    case TB_I64: return a->as.i == b->as.i;
    case TB_U64: return a->as.u == b->as.u;
    case TB_F64: return memcmp(&a->as.f, &b->as.f, sizeof a->as.f) == 0;
    case TB_STRING:
    case TB_BYTES: return a->len == b->len && (!a->len || memcmp(a->as.s, b->as.s, a->len) == 0);
    case TB_ARRAY:
        if (a->len != b->len) return false;
        for (uint32_t i = 0; i < a->len; i++)
            if (!xt_same(&a->as.items[i], &b->as.items[i])) return false;
        return true;
    case TB_OBJECT:
        if (a->len != b->len) return false;
        for (uint32_t i = 0; i < a->len; i++) {
            const tb_member *m = &a->as.members[i];
            /* each key once, and found with the same value on the other side */
            if (tb_object_get(a, m->key, m->key_len) != &m->value) return false;
            const tb_value *o = tb_object_get(b, m->key, m->key_len);
            if (!o || !xt_same(&m->value, o)) return false;
        }
        return true;
    default: return false;
    }
}

static inline tbr_extractor *xt_compile(const char *kind, const char *pattern) {
    char err[256];
    tbr_extractor *x = tbr_extractor_new(kind, strlen(kind), pattern, strlen(pattern), err, sizeof err);
    if (!x) fprintf(stderr, "%s|%s| did not compile: %s\n", kind, pattern, err);
    assert_non_null(x);
    return x;
}

/* Expects kind|pattern| to be refused with exactly message. */
static inline void xt_error(const char *kind, const char *pattern, const char *message) {
    char err[256] = "unset";
    tbr_extractor *x = tbr_extractor_new(kind, strlen(kind), pattern, strlen(pattern), err, sizeof err);
    if (x) fprintf(stderr, "%s|%s| compiled, expected: %s\n", kind, pattern, message);
    assert_null(x);
    assert_string_equal(err, message);
}

/* Runs x on the string input[0..len) and expects a match whose value is the JSON text
 * expected. */
static inline void xt_run_match_n(tbr_extractor *x, const char *input, size_t len, const char *expected) {
    tb_arena *arena = tbr_arena_new(0);
    assert_non_null(arena);
    tb_value in = tb_string(input, len), out, want;
    char err[128];
    assert_int_equal(tbr_json_parse(arena, expected, strlen(expected), &want, err, sizeof err), TB_OK);
    int rc = tbr_extractor_run(x, &in, arena, &out);
    if (rc != 1) fprintf(stderr, "no match on '%.*s' (rc %d), expected %s\n", (int)len, input, rc, expected);
    assert_int_equal(rc, 1);
    if (!xt_same(&out, &want)) {
        fprintf(stderr, "on '%.*s'\n  got:      ", (int)len, input);
        tbr_json_print(stderr, &out, 0);
        fprintf(stderr, "\n  expected: %s\n", expected);
        fail();
    }
    /* a bare test (no result wanted) agrees, and needs no arena */
    assert_int_equal(tbr_extractor_run(x, &in, NULL, NULL), 1);
    tbr_arena_free(arena);
}

static inline void xt_run_match(tbr_extractor *x, const char *input, const char *expected) {
    xt_run_match_n(x, input, strlen(input), expected);
}

static inline void xt_run_no_match(tbr_extractor *x, const char *input) {
    tb_arena *arena = tbr_arena_new(0);
    assert_non_null(arena);
    tb_value in = tb_stringz(input), out;
    int rc = tbr_extractor_run(x, &in, arena, &out);
    if (rc != 0) {
        fprintf(stderr, "unexpected match on '%s': ", input);
        if (rc == 1) tbr_json_print(stderr, &out, 0);
        fprintf(stderr, "\n");
    }
    assert_int_equal(rc, 0);
    assert_int_equal(tbr_extractor_run(x, &in, NULL, NULL), 0);
    tbr_arena_free(arena);
}

/* One-shot forms: compile, run once, free. */
static inline void xt_match(const char *kind, const char *pattern, const char *input, const char *expected) {
    tbr_extractor *x = xt_compile(kind, pattern);
    xt_run_match(x, input, expected);
    tbr_extractor_free(x);
}

static inline void xt_no_match(const char *kind, const char *pattern, const char *input) {
    tbr_extractor *x = xt_compile(kind, pattern);
    xt_run_no_match(x, input);
    tbr_extractor_free(x);
}

#endif
