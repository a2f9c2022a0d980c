/*
 * extract.c - the extractor interface (extract.h): picks the kind by name, then dispatches
 * compile, run and free to that kind's vtable (kinds.h). Also the helpers the kinds share.
 *
 * Thread contract: as extract.h. tbr_extractor_new and _free on the control thread; _run on
 * one thread at a time per extractor. The kind table is immutable static data.
 */
#include "lang/extract/extract.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lang/extract/kinds.h"

struct tbr_extractor {
    const tbr_extract_kind *kind;
    void *state;
};

/* In the order the unknown-kind message lists them. */
static const tbr_extract_kind *const kinds[] = {
    &tbr_extract_re,      &tbr_extract_glob, &tbr_extract_json, &tbr_extract_kv,
    &tbr_extract_dissect, &tbr_extract_cidr, &tbr_extract_grok,
};
#define KIND_COUNT (sizeof kinds / sizeof kinds[0])

const char *const tbr_extractor_kinds[] = {"re", "glob", "json", "kv", "dissect", "cidr", "grok", NULL};

int tbr_extract_fail(char *err, size_t err_size, const char *fmt, ...) {
    if (err && err_size) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, err_size, fmt, ap);
        va_end(ap);
    }
    return TB_EINVAL;
}

bool tbr_extract_record(tb_arena *arena, tb_value *obj, uint32_t cap) {
    *obj = tb_object();
    if (!cap) return true;
    obj->as.members = tb_arena_alloc(arena, (size_t)cap * sizeof(tb_member), 8);
    /* no TB_VF_CAP_POW2: the spare slots are ours to fill directly, and an append past
     * them through the PDK helpers reallocates, which stays correct */
    return obj->as.members != NULL;
}

tb_value *tbr_extract_append(tb_arena *arena, tb_value *obj, const char *key, size_t key_len) {
    const char *copy = tb_arena_dup(arena, key, key_len);
    return copy ? tb_object_append(arena, obj, copy, key_len) : NULL;
}

tb_value *tbr_extract_set(tb_arena *arena, tb_value *obj, const char *key, size_t key_len) {
    tb_value *v = tb_object_get(obj, key, key_len);
    return v ? v : tbr_extract_append(arena, obj, key, key_len);
}

/* Tremor lower-cases the kind before looking it up, so `RE|...|` works too. */
static bool kind_is(const char *name, const char *kind, size_t kind_len) {
    size_t n = strlen(name);
    if (n != kind_len) return false;
    for (size_t i = 0; i < n; i++) {
        char c = kind[i];
        if (c >= 'A' && c <= 'Z') c = (char)(c - 'A' + 'a');
        if (c != name[i]) return false;
    }
    return true;
}

static const tbr_extract_kind *find_kind(const char *kind, size_t kind_len) {
    for (size_t i = 0; i < KIND_COUNT; i++)
        if (kind_is(kinds[i]->name, kind, kind_len)) return kinds[i];
    return NULL;
}

static void unknown_kind(const char *kind, size_t kind_len, char *err, size_t err_size) {
    char names[96] = "";
    size_t used = 0;
    for (size_t i = 0; i < KIND_COUNT; i++) {
        int n = snprintf(names + used, sizeof names - used, "%s%s", i ? ", " : "", kinds[i]->name);
        if (n < 0 || (size_t)n >= sizeof names - used) break;
        used += (size_t)n;
    }
    int shown = kind_len > TBR_EXTRACT_QUOTE_MAX ? TBR_EXTRACT_QUOTE_MAX : (int)kind_len;
    tbr_extract_fail(err, err_size, "unknown extractor '%.*s%s': expected one of %s", shown,
                     kind ? kind : "", kind_len > (size_t)shown ? "..." : "", names);
}

tbr_extractor *tbr_extractor_new(const char *kind, size_t kind_len, const char *pattern,
                                 size_t pattern_len, char *err, size_t err_size) {
    if (err && err_size) err[0] = '\0';
    const tbr_extract_kind *k = kind ? find_kind(kind, kind_len) : NULL;
    if (!k) {
        unknown_kind(kind, kind ? kind_len : 0, err, err_size);
        return NULL;
    }
    tbr_extractor *x = malloc(sizeof *x);
    if (!x) {
        tbr_extract_fail(err, err_size, "out of memory");
        return NULL;
    }
    x->kind = k;
    x->state = NULL;
    int rc = k->compile(pattern ? pattern : "", pattern ? pattern_len : 0, &x->state, err, err_size);
    if (rc != TB_OK) {
        if (rc == TB_ENOMEM) tbr_extract_fail(err, err_size, "out of memory");
        free(x);
        return NULL;
    }
    return x;
}

int tbr_extractor_run(tbr_extractor *x, const tb_value *input, tb_arena *arena, tb_value *out) {
    /* Tremor's extractors only ever look at strings: anything else simply does not match */
    if (!x || !input || input->type != TB_STRING) return 0;
    if (out && !arena) return 0; /* a result needs somewhere to live: misuse, not a match */
    return x->kind->run(x->state, input->len ? input->as.s : "", input->len, arena, out);
}

void tbr_extractor_free(tbr_extractor *x) {
    if (!x) return;
    x->kind->destroy(x->state);
    free(x);
}

int tbr_extract_unescape(const char *kind, const char *pattern, size_t at, size_t n, char **out, size_t *out_len,
                         char *err, size_t err_size) {
    char *s = malloc(n + 1);
    size_t len = 0;
    if (!s) return TB_ENOMEM;
    for (size_t i = at; i < at + n; i++) {
        char c = pattern[i];
        if (c == '\\') {
            if (i + 1 >= at + n) {
                free(s);
                return tbr_extract_fail(err, err_size, "%s: unterminated escape at offset %zu", kind, i);
            }
            char e = pattern[++i];
            switch (e) {
            case '\\': c = '\\'; break;
            case 'n': c = '\n'; break;
            case 't': c = '\t'; break;
            case 'r': c = '\r'; break;
            default:
                free(s);
                return tbr_extract_fail(err, err_size, "%s: invalid escape sequence '\\%c' at offset %zu", kind, e, i - 1);
            }
        }
        s[len++] = c;
    }
    s[len] = '\0';
    *out = s;
    *out_len = len;
    return TB_OK;
}
