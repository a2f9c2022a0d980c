/*
 * json.c - the `json||` extractor: matches when the input is a JSON text (RFC 8259; any
 * value at the top, so "2" and "[]" match) and extracts the decoded value. Like Tremor it
 * takes no pattern: whatever is between the bars is ignored. Duplicate keys are kept as
 * the decoder builds them, the later one winning on lookup, as in Tremor.
 *
 * Thread contract: stateless; run is reentrant.
 */
#include "lang/extract/kinds.h"
#include "value/arena.h"
#include "value/json.h"

static int json_compile(const char *pattern, size_t len, void **state, char *err, size_t err_size) {
    (void)pattern;
    (void)len;
    (void)err;
    (void)err_size;
    *state = NULL;
    return TB_OK;
}

static int json_run(void *st, const char *s, size_t len, tb_arena *arena, tb_value *out) {
    (void)st;
    tb_value scratch;
    tb_arena *own = NULL;
    /* a bare test (out NULL) may come without an arena: decode into a private one */
    if (!arena) {
        own = tbr_arena_new(0);
        if (!own) return TB_ENOMEM;
        arena = own;
    }
    int rc = tbr_json_parse(arena, s, len, out ? out : &scratch, NULL, 0);
    tbr_arena_free(own);
    if (rc == TB_ENOMEM) return TB_ENOMEM;
    return rc == TB_OK;
}

static void json_destroy(void *st) { (void)st; }

const tbr_extract_kind tbr_extract_json = {"json", json_compile, json_run, json_destroy};
