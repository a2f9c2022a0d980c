/* parser.c - parser state, token helpers, error reporting and name scopes. */
#include "lang/parser.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int tbr_parser_init(tbr_parser *p, const tbr_source *src, tb_arena *arena, tbr_diags *diags) {
    memset(p, 0, sizeof *p);
    p->src = src;
    p->arena = arena;
    p->diags = diags;
    p->rng_state = 0x9e3779b97f4a7c15ull;
    int rc = tbr_lex(src, arena, &p->toks, diags);
    if (rc) p->failed = true;
    if (rc == TB_ENOMEM) p->oom = true;
    return rc;
}

void tbr_parser_fini(tbr_parser *p) {
    tbr_tokens_free(&p->toks);
    free(p->globals.items);
    free(p->extractors);
}

const tbr_token *tbr_next(tbr_parser *p) {
    const tbr_token *t = tbr_peek(p);
    if (p->pos + 1 < p->toks.count) p->pos++;
    return t;
}

bool tbr_accept(tbr_parser *p, tbr_tok kind) {
    if (!tbr_at(p, kind)) return false;
    tbr_next(p);
    return true;
}

tbr_diag *tbr_error(tbr_parser *p, tbr_span span, const char *fmt, ...) {
    if (p->failed) return NULL;
    p->failed = true;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return tbr_diags_add(p->diags, span, "%s", msg);
}

void *tbr_error_expected(tbr_parser *p, const char *what) {
    const tbr_token *t = tbr_peek(p);
    if (t->kind == TK_IDENT)
        tbr_error(p, t->span, "expected %s, found identifier '%.*s'", what, (int)t->len, t->text);
    else
        tbr_error(p, t->span, "expected %s, found %s", what, tbr_tok_describe(t->kind));
    return NULL;
}

const tbr_token *tbr_expect(tbr_parser *p, tbr_tok kind, const char *what) {
    if (p->failed) return NULL;
    if (tbr_at(p, kind)) return tbr_next(p);
    tbr_error_expected(p, what ? what : tbr_tok_describe(kind));
    return NULL;
}

const tbr_token *tbr_expect_name(tbr_parser *p, const char *what) {
    tbr_tok k = tbr_peek(p)->kind;
    if (k == TK_IDENT || (k >= TK_KW_FIRST && k <= TK_KW_LAST)) return tbr_next(p);
    return tbr_expect(p, TK_IDENT, what);
}

void *tbr_alloc(tbr_parser *p, size_t size) {
    void *m = tb_arena_alloc(p->arena, size ? size : 1, 8);
    if (!m) {
        if (!p->oom) tbr_diags_add(p->diags, tbr_peek(p)->span, "out of memory");
        p->oom = p->failed = true;
        return NULL;
    }
    memset(m, 0, size);
    return m;
}

tbr_node *tbr_node_new(tbr_parser *p, tbr_node_kind kind, tbr_span span) {
    tbr_node *n = tbr_alloc(p, sizeof *n);
    if (n) {
        n->kind = kind;
        n->span = span;
    }
    return n;
}

tbr_binding *tbr_scope_find(tbr_scope *s, const char *name, uint32_t len) {
    for (uint32_t i = s->count; i-- > 0;)
        if (s->items[i].len == len && memcmp(s->items[i].name, name, len) == 0) return &s->items[i];
    return NULL;
}

tbr_binding *tbr_scope_add(tbr_parser *p, tbr_scope *s, const char *name, uint32_t len) {
    if (s->count == s->cap) {
        uint32_t ncap = s->cap ? s->cap * 2 : 16;
        tbr_binding *n = realloc(s->items, ncap * sizeof *n);
        if (!n) {
            p->oom = p->failed = true;
            return NULL;
        }
        s->items = n;
        s->cap = ncap;
    }
    tbr_binding *b = &s->items[s->count++];
    memset(b, 0, sizeof *b);
    b->name = name;
    b->len = len;
    return b;
}

uint32_t tbr_local_declare(tbr_parser *p, const char *name, uint32_t len) {
    tbr_binding *b = tbr_scope_find(p->scope, name, len);
    if (b && b->kind == BIND_LOCAL) return b->slot;
    b = tbr_scope_add(p, p->scope, name, len);
    if (!b) return 0;
    b->kind = BIND_LOCAL;
    b->slot = p->scope->nlocals++;
    return b->slot;
}

static size_t edit_distance(const char *a, size_t an, const char *b, size_t bn) {
    size_t row[65];
    if (an > 64 || bn > 64) return (size_t)-1;
    for (size_t j = 0; j <= bn; j++) row[j] = j;
    for (size_t i = 1; i <= an; i++) {
        size_t prev = row[0];
        row[0] = i;
        for (size_t j = 1; j <= bn; j++) {
            size_t cur = row[j];
            size_t sub = prev + (a[i - 1] != b[j - 1]);
            size_t del = row[j] + 1, ins = row[j - 1] + 1;
            row[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
            prev = cur;
        }
    }
    return row[bn];
}

void tbr_hint_nearest_name(tbr_parser *p, tbr_diag *diag, const char *name, uint32_t len) {
    static const char *const roots[] = {"event", "state", "args", "group", "window"};
    const char *best = NULL;
    size_t best_len = 0, best_d = (size_t)-1;
    tbr_scope *scopes[2] = {p->scope, &p->globals};
    for (int s = 0; s < 2; s++) {
        if (!scopes[s]) continue;
        for (uint32_t i = 0; i < scopes[s]->count; i++) {
            const tbr_binding *b = &scopes[s]->items[i];
            size_t d = edit_distance(name, len, b->name, b->len);
            if (d < best_d) best = b->name, best_len = b->len, best_d = d;
        }
    }
    for (size_t i = 0; i < sizeof roots / sizeof *roots; i++) {
        size_t d = edit_distance(name, len, roots[i], strlen(roots[i]));
        if (d < best_d) best = roots[i], best_len = strlen(roots[i]), best_d = d;
    }
    /* only close names help: at most a third of the name may differ */
    if (best && best_d <= (len + 2) / 3) tbr_diag_hint(diag, "did you mean '%.*s'?", (int)best_len, best);
}

/* Reads the module file for segments a::b::c (a/b/c + ext) from the directory of the
 * file being parsed, then TREMOR_PATH and TEMBLOR_PATH. The source lives in the arena, so
 * what is parsed from it lives as long as the script. */
tbr_source *tbr_find_module(tbr_parser *p, const char *rel, const char *ext, char *tried, size_t tried_size) {
    char dirs[4096];
    const char *name = p->src->name;
    const char *slash = strrchr(name, '/');
    int n = slash ? snprintf(dirs, sizeof dirs, "%.*s", (int)(slash - name), name) : snprintf(dirs, sizeof dirs, ".");
    const char *envs[] = {getenv("TREMOR_PATH"), getenv("TEMBLOR_PATH")};
    for (int i = 0; i < 2; i++)
        if (envs[i] && *envs[i] && (size_t)n < sizeof dirs) n += snprintf(dirs + n, sizeof dirs - (size_t)n, ":%s", envs[i]);
    size_t used = 0;
    tried[0] = '\0';
    for (char *save = NULL, *dir = strtok_r(dirs, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s%s", dir, rel, ext);
        if (used < tried_size) used += (size_t)snprintf(tried + used, tried_size - used, "%s%s", used ? ", " : "", path);
        tbr_source *file = tbr_source_read(path);
        if (!file) continue;
        /* copy into the arena: the module's tokens and names must live as long as the script */
        tbr_source *src = tbr_alloc(p, sizeof *src);
        char *text = tbr_alloc(p, file->len + 1), *pname = tbr_alloc(p, strlen(path) + 1);
        if (src && text && pname) {
            memcpy(text, file->text, file->len);
            strcpy(pname, path);
            src->text = text;
            src->len = file->len;
            src->name = pname;
        }
        tbr_source_free(file);
        return src && text && pname ? src : NULL;
    }
    return NULL;
}


void tbr_adopt_extractors(tbr_parser *p, tbr_parser *sub) {
    for (uint32_t i = 0; i < sub->nextractors; i++) {
        if (p->nextractors == p->extractors_cap) {
            uint32_t ncap = p->extractors_cap ? p->extractors_cap * 2 : 8;
            tbr_extractor **nx = realloc(p->extractors, ncap * sizeof *nx);
            if (!nx) {
                tbr_extractor_free(sub->extractors[i]);
                continue;
            }
            p->extractors = nx;
            p->extractors_cap = ncap;
        }
        p->extractors[p->nextractors++] = sub->extractors[i];
    }
    sub->nextractors = 0;
}
