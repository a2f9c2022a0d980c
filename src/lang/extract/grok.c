/*
 * grok.c - the `grok|...|` extractor: Logstash grok, as Tremor's (the grok crate).
 *
 * The pattern is a regular expression in which %{NAME} stands for a named pattern (the
 * built-in set of grok_patterns.c) and %{NAME:field} also captures what it matched as
 * "field". %{NAME=regex} and %{NAME:field=regex} define NAME inline (the definition may not
 * contain braces) and use it; it stays defined for the rest of the pattern. Plain named
 * groups `(?<name>...)` of the regex are fields too. Text like %{ that does not form such a
 * token is left to the regex as it is. A field's text after the colon is its whole name:
 * %{NUMBER:n:int} gives the field "n:int", a string, as in Tremor (no type conversion).
 *
 * The result holds the fields that took part in the match, as strings; the pattern is
 * searched anywhere in the input (anchor it with ^...$ to match the whole). When a field
 * name is used more than once (in alternatives, say), the last one in the pattern that
 * took part gives the value.
 *
 * The expanded pattern is compiled with PCRE2; like Oniguruma, which grok runs on, ^ and $
 * match at line boundaries. Errors name the offset in the pattern as written: for a
 * problem inside an expanded %{...}, the offset of that token.
 *
 * Thread contract: compile and destroy on the control thread; run on one thread at a time
 * per extractor (PCRE2's match data lives in the state).
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lang/extract/kinds.h"

/* Groups the expansion creates for %{NAME:field} are named this, then a number. */
#define ALIAS_PREFIX "_tbgrok_"
#define ALIAS_PREFIX_LEN (sizeof ALIAS_PREFIX - 1)
/* Deeper nesting than any sane pattern set needs: the sign of a definition using itself. */
#define MAX_DEPTH 32

typedef struct grok_key {
    uint32_t off, len;    /* the name in grok_state.names */
    uint32_t first, count; /* its groups: grok_state.groups[first .. first+count), ascending */
} grok_key;

typedef struct grok_state {
    pcre2_code *code;
    pcre2_match_data *md;
    grok_key *keys; /* in the order the fields first appear in the pattern */
    uint32_t nkeys;
    uint32_t *groups;
    char *names;    /* key names back to back: copied into the arena once per run */
    size_t names_len;
} grok_state;

static void grok_destroy(void *p) {
    grok_state *st = p;
    if (!st) return;
    pcre2_match_data_free(st->md);
    pcre2_code_free(st->code);
    free(st->keys);
    free(st->groups);
    free(st->names);
    free(st);
}

/* ---- expanding %{...} ------------------------------------------------------------- */

/* A part of the expanded regex and where it came from in the pattern as written. */
typedef struct segment {
    size_t start, end; /* in the expanded text */
    size_t origin;     /* offset in the pattern */
    bool literal;      /* copied as is (offsets map one to one) or expanded from a token */
} segment;

typedef struct local_def {
    const char *name, *def; /* into the pattern as written */
    size_t name_len, def_len;
} local_def;

typedef struct expander {
    char *buf;
    size_t len, cap;
    segment *segs;
    size_t nsegs, segcap;
    local_def *defs;
    size_t ndefs;
    char **aliases; /* the field names of %{NAME:field}, by group suffix number */
    size_t naliases;
    char *err;
    size_t err_size;
} expander;

typedef struct token {
    size_t len; /* of the whole %{...} */
    const char *name, *alias, *def;
    size_t name_len, alias_len, def_len; /* alias/def NULL when absent */
} token;

static void expander_free(expander *x) {
    free(x->buf);
    free(x->segs);
    free(x->defs);
    for (size_t i = 0; i < x->naliases; i++) free(x->aliases[i]);
    free(x->aliases);
}

/* p resized (doubling) to hold need elements of elem bytes; NULL when out of memory, p
 * then left as it was. */
static void *grow(void *p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return p;
    size_t n = *cap ? *cap : 16;
    while (n < need) n *= 2;
    void *q = realloc(p, n * elem);
    if (q) *cap = n;
    return q;
}

static int emit(expander *x, const char *s, size_t n) {
    char *b = grow(x->buf, &x->cap, x->len + n + 1, 1);
    if (!b) return TB_ENOMEM;
    x->buf = b;
    memcpy(x->buf + x->len, s, n);
    x->len += n;
    x->buf[x->len] = '\0';
    return TB_OK;
}

static int add_segment(expander *x, size_t start, size_t origin, bool literal) {
    if (start == x->len) return TB_OK;
    segment *v = grow(x->segs, &x->segcap, x->nsegs + 1, sizeof *x->segs);
    if (!v) return TB_ENOMEM;
    x->segs = v;
    x->segs[x->nsegs++] = (segment){start, x->len, origin, literal};
    return TB_OK;
}

static bool name_char(char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
}

/* Reads %{NAME}, %{NAME:field}, %{NAME=def} or %{NAME:field=def} at t[0..n). */
static bool read_token(const char *t, size_t n, token *tok) {
    size_t i = 2;
    if (n < 4 || t[0] != '%' || t[1] != '{') return false;
    *tok = (token){0, t + 2, NULL, NULL, 0, 0, 0};
    while (i < n && name_char(t[i])) i++;
    tok->name_len = i - 2;
    if (!tok->name_len || i >= n) return false;
    if (t[i] == ':') {
        size_t a = ++i;
        while (i < n && t[i] != '}' && t[i] != '=' && t[i] != '{') i++;
        if (i == a || i >= n) return false;
        tok->alias = t + a;
        tok->alias_len = i - a;
    }
    if (t[i] == '=') {
        size_t d = ++i;
        while (i < n && t[i] != '}' && t[i] != '{') i++;
        if (i == d || i >= n) return false;
        tok->def = t + d;
        tok->def_len = i - d;
    }
    if (t[i] != '}') return false;
    tok->len = i + 1;
    return true;
}

/* The definition of NAME: an inline one of this pattern first, then the built-ins. */
static bool lookup(const expander *x, const char *name, size_t n, const char **def, size_t *def_len) {
    for (size_t i = x->ndefs; i-- > 0;)
        if (x->defs[i].name_len == n && memcmp(x->defs[i].name, name, n) == 0) {
            *def = x->defs[i].def;
            *def_len = x->defs[i].def_len;
            return true;
        }
    const tbr_grok_pattern *p = tbr_grok_find(name, n);
    if (!p) return false;
    *def = p->def;
    *def_len = strlen(p->def);
    return true;
}

static int expand(expander *x, const char *t, size_t n, unsigned depth, size_t origin);

/* Opens the group for tok: named after a new alias when it captures, plain otherwise. */
static int open_group(expander *x, const token *tok) {
    if (!tok->alias) return emit(x, "(?:", 3);
    char *alias = malloc(tok->alias_len + 1);
    char **a = alias ? realloc(x->aliases, (x->naliases + 1) * sizeof *a) : NULL;
    if (!a) {
        free(alias);
        return TB_ENOMEM;
    }
    memcpy(alias, tok->alias, tok->alias_len);
    alias[tok->alias_len] = '\0';
    x->aliases = a;
    x->aliases[x->naliases] = alias;
    char open[40];
    int len = snprintf(open, sizeof open, "(?<" ALIAS_PREFIX "%zu>", x->naliases++);
    return emit(x, open, (size_t)len);
}

/* Replaces one token by its definition, itself expanded, in a group. at: the token's
 * offset in the pattern as written (all errors inside it point there). */
static int expand_token(expander *x, const token *tok, unsigned depth, size_t at) {
    const char *def;
    size_t def_len;
    int shown = tok->name_len > TBR_EXTRACT_QUOTE_MAX ? TBR_EXTRACT_QUOTE_MAX : (int)tok->name_len;
    if (tok->def) {
        local_def *d = realloc(x->defs, (x->ndefs + 1) * sizeof *d);
        if (!d) return TB_ENOMEM;
        x->defs = d;
        x->defs[x->ndefs++] = (local_def){tok->name, tok->def, tok->name_len, tok->def_len};
        def = tok->def;
        def_len = tok->def_len;
    } else if (!lookup(x, tok->name, tok->name_len, &def, &def_len)) {
        return tbr_extract_fail(x->err, x->err_size, "grok: unknown pattern '%.*s' at offset %zu", shown, tok->name, at);
    }
    if (depth >= MAX_DEPTH)
        return tbr_extract_fail(x->err, x->err_size,
                                "grok: pattern '%.*s' nests more than %d levels deep (does it use itself?) at offset %zu",
                                shown, tok->name, MAX_DEPTH, at);
    int rc = open_group(x, tok);
    if (rc == TB_OK) rc = expand(x, def, def_len, depth + 1, at);
    if (rc == TB_OK) rc = emit(x, ")", 1);
    return rc;
}

static const char *find_open(const char *s, size_t n) {
    for (size_t i = 0; i + 1 < n; i++)
        if (s[i] == '%' && s[i + 1] == '{') return s + i;
    return NULL;
}

/* Appends t[0..n) expanded. At depth 0, t is the pattern as written and every piece
 * records where it came from; deeper, everything comes from the token at origin. */
static int expand(expander *x, const char *t, size_t n, unsigned depth, size_t origin) {
    size_t i = 0, lit = 0; /* lit: start of the pending literal run */
    while (i < n) {
        const char *open = find_open(t + i, n - i);
        token tok;
        if (!open) break;
        i = (size_t)(open - t);
        if (!read_token(t + i, n - i, &tok)) {
            i += 2; /* not a token: "%{" is regex text */
            continue;
        }
        size_t start = x->len;
        int rc = emit(x, t + lit, i - lit);
        if (rc == TB_OK && depth == 0) rc = add_segment(x, start, lit, true);
        start = x->len;
        if (rc == TB_OK) rc = expand_token(x, &tok, depth, depth == 0 ? i : origin);
        if (rc == TB_OK && depth == 0) rc = add_segment(x, start, i, false);
        if (rc != TB_OK) return rc;
        i += tok.len;
        lit = i;
    }
    size_t start = x->len;
    int rc = emit(x, t + lit, n - lit);
    if (rc == TB_OK && depth == 0) rc = add_segment(x, start, lit, true);
    return rc;
}

/* The offset in the pattern as written of offset off in the expanded regex. */
static size_t original_offset(const expander *x, size_t off) {
    const segment *s = NULL;
    for (size_t i = 0; i < x->nsegs && x->segs[i].start <= off; i++) s = &x->segs[i];
    if (!s) return 0;
    if (!s->literal) return s->origin;
    size_t in = off - s->start, n = s->end - s->start;
    return s->origin + (in < n ? in : n);
}

/* ---- the fields ------------------------------------------------------------------- */

typedef struct named {
    uint32_t group;
    const char *key;
    size_t key_len;
} named;

static int cmp_named(const void *a, const void *b) {
    const named *x = a, *y = b;
    return (x->group > y->group) - (x->group < y->group);
}

/* The key of a named group: the field of an alias group, or the group's own name. */
static void key_of(const expander *x, const char *name, const char **key, size_t *key_len) {
    if (strncmp(name, ALIAS_PREFIX, ALIAS_PREFIX_LEN) == 0) {
        char *end;
        unsigned long k = strtoul(name + ALIAS_PREFIX_LEN, &end, 10);
        if (*end == '\0' && k < x->naliases) {
            *key = x->aliases[k];
            *key_len = strlen(*key);
            return;
        }
    }
    *key = name;
    *key_len = strlen(name);
}

/* Groups the named groups of the compiled regex by key, keys in order of first use. */
static int load_fields(grok_state *st, const expander *x) {
    uint32_t count = 0, entry = 0;
    PCRE2_SPTR table = NULL;
    pcre2_pattern_info(st->code, PCRE2_INFO_NAMECOUNT, &count);
    if (!count) return TB_OK;
    pcre2_pattern_info(st->code, PCRE2_INFO_NAMEENTRYSIZE, &entry);
    pcre2_pattern_info(st->code, PCRE2_INFO_NAMETABLE, &table);
    named *v = calloc(count, sizeof *v);
    size_t total = 0;
    if (!v) return TB_ENOMEM;
    for (uint32_t i = 0; i < count; i++) {
        PCRE2_SPTR e = table + (size_t)i * entry;
        v[i].group = (uint32_t)e[0] << 8 | e[1];
        key_of(x, (const char *)e + 2, &v[i].key, &v[i].key_len);
        total += v[i].key_len;
    }
    qsort(v, count, sizeof *v, cmp_named);
    st->keys = calloc(count, sizeof *st->keys);
    st->groups = calloc(count, sizeof *st->groups);
    st->names = malloc(total ? total : 1);
    if (!st->keys || !st->groups || !st->names) {
        free(v);
        return TB_ENOMEM;
    }
    /* for each new key, collect all its groups (v is in group order, so they ascend) */
    uint32_t ngroups = 0;
    for (uint32_t i = 0; i < count; i++) {
        uint32_t k = 0;
        while (k < st->nkeys && !(st->keys[k].len == v[i].key_len &&
                                  memcmp(st->names + st->keys[k].off, v[i].key, v[i].key_len) == 0))
            k++;
        if (k < st->nkeys) continue;
        grok_key *gk = &st->keys[st->nkeys++];
        gk->off = (uint32_t)st->names_len;
        gk->len = (uint32_t)v[i].key_len;
        gk->first = ngroups;
        memcpy(st->names + st->names_len, v[i].key, v[i].key_len);
        st->names_len += v[i].key_len;
        for (uint32_t j = i; j < count; j++)
            if (v[j].key_len == v[i].key_len && memcmp(v[j].key, v[i].key, v[i].key_len) == 0)
                st->groups[ngroups++] = v[j].group;
        gk->count = ngroups - gk->first;
    }
    free(v);
    return TB_OK;
}

static int compile_regex(grok_state *st, expander *x) {
    int code = 0;
    PCRE2_SIZE off = 0;
    st->code = pcre2_compile((PCRE2_SPTR)(x->buf ? x->buf : ""), x->len,
                             PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF | PCRE2_DUPNAMES | PCRE2_MULTILINE,
                             &code, &off, NULL);
    if (!st->code) {
        PCRE2_UCHAR msg[256];
        if (pcre2_get_error_message(code, msg, sizeof msg) < 0) strcpy((char *)msg, "invalid pattern");
        return tbr_extract_fail(x->err, x->err_size, "grok: %s at offset %zu", (const char *)msg,
                                original_offset(x, off));
    }
    (void)pcre2_jit_compile(st->code, PCRE2_JIT_COMPLETE); /* optional speed-up */
    st->md = pcre2_match_data_create_from_pattern(st->code, NULL);
    if (!st->md) return TB_ENOMEM;
    return load_fields(st, x);
}

static int grok_compile(const char *pattern, size_t len, void **state, char *err, size_t err_size) {
    grok_state *st = calloc(1, sizeof *st);
    if (!st) return TB_ENOMEM;
    expander x = {0};
    x.err = err;
    x.err_size = err_size;
    int rc = expand(&x, pattern, len, 0, 0);
    if (rc == TB_OK) rc = compile_regex(st, &x);
    expander_free(&x);
    if (rc != TB_OK) {
        grok_destroy(st);
        return rc;
    }
    *state = st;
    return TB_OK;
}

/* ---- matching --------------------------------------------------------------------- */

static int build(grok_state *st, const char *s, tb_arena *arena, tb_value *out) {
    const PCRE2_SIZE *ov = pcre2_get_ovector_pointer(st->md);
    const char *names = st->names_len ? tb_arena_dup(arena, st->names, st->names_len) : "";
    if (!names || !tbr_extract_record(arena, out, st->nkeys)) return TB_ENOMEM;
    for (uint32_t k = 0; k < st->nkeys; k++) {
        const grok_key *gk = &st->keys[k];
        /* the last group of this name that took part wins */
        for (uint32_t j = gk->count; j-- > 0;) {
            uint32_t g = st->groups[gk->first + j];
            if (ov[2 * g] == PCRE2_UNSET) continue;
            tb_member *m = &out->as.members[out->len++];
            m->key = names + gk->off;
            m->key_len = gk->len;
            m->reserved = 0;
            m->value = tb_string(s + ov[2 * g], ov[2 * g + 1] - ov[2 * g]);
            break;
        }
    }
    return 1;
}

static int grok_run(void *p, const char *s, size_t len, tb_arena *arena, tb_value *out) {
    grok_state *st = p;
    int rc = pcre2_match(st->code, (PCRE2_SPTR)s, len, 0, 0, st->md, NULL);
    if (rc == PCRE2_ERROR_JIT_STACKLIMIT) /* the interpreter's frames live on the heap */
        rc = pcre2_match(st->code, (PCRE2_SPTR)s, len, 0, PCRE2_NO_JIT, st->md, NULL);
    if (rc == PCRE2_ERROR_NOMEMORY) return TB_ENOMEM;
    if (rc <= 0) return 0;
    return out ? build(st, s, arena, out) : 1;
}

const tbr_extract_kind tbr_extract_grok = {"grok", grok_compile, grok_run, grok_destroy};
