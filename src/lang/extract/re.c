/*
 * re.c - the `re|...|` extractor: a regular expression (PCRE2) searched anywhere in the
 * input; on a match its named groups become the fields of the result record.
 *
 * Tremor uses Rust's regex crate; PCRE2 is configured to agree with it where the common
 * syntax overlaps: Unicode-aware classes (UTF + UCP), `$` only at the very end unless (?m)
 * (DOLLAR_ENDONLY), and inputs that are not valid UTF-8 are still searched rather than
 * refused (MATCH_INVALID_UTF). A named group that did not take part in the match is left
 * out of the record, as Tremor does; one that matched the empty string is "".
 *
 * Thread contract: compile and destroy on the control thread; run on one thread at a time
 * per extractor, because the match data (PCRE2's scratch space) lives in the state, which
 * is what lets a run allocate nothing but its result.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdlib.h>
#include <string.h>

#include "lang/extract/kinds.h"

typedef struct re_field {
    uint32_t group;   /* capture group number */
    uint32_t key_off; /* the name's offset in re_state.keys */
    uint32_t key_len;
} re_field;

typedef struct re_state {
    pcre2_code *code;
    pcre2_match_data *md;
    re_field *fields; /* the named groups, in group order */
    uint32_t nfields;
    char *keys;       /* all names back to back: copied into the arena once per run */
    size_t keys_len;
} re_state;

static void re_destroy(void *p) {
    re_state *st = p;
    if (!st) return;
    pcre2_match_data_free(st->md);
    pcre2_code_free(st->code);
    free(st->fields);
    free(st->keys);
    free(st);
}

static int cmp_group(const void *a, const void *b) {
    const re_field *x = a, *y = b;
    return (x->group > y->group) - (x->group < y->group);
}

/* Reads PCRE2's name table (entries of a big-endian group number followed by the
 * NUL-terminated name) into the field list, ordered by group. */
static int load_names(re_state *st) {
    uint32_t count = 0, entry = 0;
    PCRE2_SPTR table = NULL;
    pcre2_pattern_info(st->code, PCRE2_INFO_NAMECOUNT, &count);
    if (!count) return TB_OK;
    pcre2_pattern_info(st->code, PCRE2_INFO_NAMEENTRYSIZE, &entry);
    pcre2_pattern_info(st->code, PCRE2_INFO_NAMETABLE, &table);
    st->fields = calloc(count, sizeof *st->fields);
    st->keys = malloc((size_t)count * entry);
    if (!st->fields || !st->keys) return TB_ENOMEM;
    for (uint32_t i = 0; i < count; i++) {
        PCRE2_SPTR e = table + (size_t)i * entry;
        const char *name = (const char *)e + 2;
        size_t n = strlen(name);
        st->fields[i].group = (uint32_t)e[0] << 8 | e[1];
        st->fields[i].key_off = (uint32_t)st->keys_len;
        st->fields[i].key_len = (uint32_t)n;
        memcpy(st->keys + st->keys_len, name, n);
        st->keys_len += n;
    }
    st->nfields = count;
    /* the table is sorted by name; a record reads better in the pattern's order */
    qsort(st->fields, count, sizeof *st->fields, cmp_group);
    return TB_OK;
}

static int re_compile(const char *pattern, size_t len, void **state, char *err, size_t err_size) {
    re_state *st = calloc(1, sizeof *st);
    if (!st) return TB_ENOMEM;
    int code = 0;
    PCRE2_SIZE off = 0;
    st->code = pcre2_compile((PCRE2_SPTR)pattern, len,
                             PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF | PCRE2_DOLLAR_ENDONLY,
                             &code, &off, NULL);
    if (!st->code) {
        PCRE2_UCHAR msg[256];
        if (pcre2_get_error_message(code, msg, sizeof msg) < 0) strcpy((char *)msg, "invalid pattern");
        re_destroy(st);
        return tbr_extract_fail(err, err_size, "re: %s at offset %zu", (const char *)msg, (size_t)off);
    }
    /* JIT is an optimisation only: without it (no support on this CPU) matching still works */
    (void)pcre2_jit_compile(st->code, PCRE2_JIT_COMPLETE);
    st->md = pcre2_match_data_create_from_pattern(st->code, NULL);
    if (!st->md || load_names(st) != TB_OK) {
        re_destroy(st);
        return TB_ENOMEM;
    }
    *state = st;
    return TB_OK;
}

/* Searches s; returns PCRE2's count (>0), PCRE2_ERROR_NOMATCH or another error. */
static int search(re_state *st, const char *s, size_t len) {
    int rc = pcre2_match(st->code, (PCRE2_SPTR)s, len, 0, 0, st->md, NULL);
    /* the JIT's default stack is small; the interpreter keeps its frames on the heap (in
     * the match data, reused across runs), so a pattern too deep for one fits the other */
    if (rc == PCRE2_ERROR_JIT_STACKLIMIT)
        rc = pcre2_match(st->code, (PCRE2_SPTR)s, len, 0, PCRE2_NO_JIT, st->md, NULL);
    return rc;
}

static int build(re_state *st, const char *s, tb_arena *arena, tb_value *out) {
    const PCRE2_SIZE *ov = pcre2_get_ovector_pointer(st->md);
    const char *keys = st->keys_len ? tb_arena_dup(arena, st->keys, st->keys_len) : "";
    if (!keys || !tbr_extract_record(arena, out, st->nfields)) return TB_ENOMEM;
    for (uint32_t i = 0; i < st->nfields; i++) {
        const re_field *f = &st->fields[i];
        PCRE2_SIZE a = ov[2 * f->group], b = ov[2 * f->group + 1];
        if (a == PCRE2_UNSET) continue; /* an optional group that did not take part */
        tb_member *m = &out->as.members[out->len++];
        m->key = keys + f->key_off;
        m->key_len = f->key_len;
        m->reserved = 0;
        m->value = tb_string(s + a, b - a);
    }
    return 1;
}

static int re_run(void *p, const char *s, size_t len, tb_arena *arena, tb_value *out) {
    re_state *st = p;
    int rc = search(st, s, len);
    if (rc == PCRE2_ERROR_NOMEMORY) return TB_ENOMEM;
    /* no match, and also the limits PCRE2 has and Rust's regex does not (match limit):
     * the safe reading of "could not find a match" is "does not match" */
    if (rc <= 0) return 0;
    return out ? build(st, s, arena, out) : 1;
}

const tbr_extract_kind tbr_extract_re = {"re", re_compile, re_run, re_destroy};
