/*
 * parser.h - the recursive-descent parser shared by the three languages, and the scope it
 * resolves names in as it parses (locals, constants, functions, module aliases).
 *
 * Internal to src/lang/: the public entry points are in script.h (and, later, query.h and
 * deploy.h). Thread contract: one parse per thread. Ownership: nodes go to the arena; the
 * parser owns its scope tables until tbr_parser_fini.
 */
#ifndef TBR_LANG_PARSER_H
#define TBR_LANG_PARSER_H

#include "lang/ast.h"
#include "lang/lexer.h"
#include "plugin/registry.h"

/* A name bound in the current scope. */
typedef struct tbr_binding {
    const char *name;
    uint32_t len;
    enum { BIND_LOCAL, BIND_CONST, BIND_FN, BIND_MODULE } kind;
    uint32_t slot;          /* BIND_LOCAL */
    tb_value value;         /* BIND_CONST */
    tbr_user_fn *fn;        /* BIND_FN */
    const char *target;     /* BIND_MODULE: the module path it stands for ("std::string") */
    uint32_t target_len;
} tbr_binding;

typedef struct tbr_scope {
    tbr_binding *items;
    uint32_t count, cap;
    uint32_t nlocals;       /* slots handed out in this function or script */
    tbr_user_fn *fn;        /* the function being parsed, or NULL at script level */
} tbr_scope;

typedef struct tbr_parser {
    const tbr_source *src;
    tbr_tokens toks;
    size_t pos;
    tb_arena *arena;
    tbr_diags *diags;
    bool failed;          /* an error was reported: stop at the next check */
    bool oom;
    tbr_scope globals;    /* constants, functions, module aliases of the file */
    tbr_scope *scope;     /* the locals of the script or function being parsed */
    tbr_extractor **extractors; /* compiled extractors, owned by the script */
    uint32_t nextractors, extractors_cap;
    int depth;            /* nesting, bounded against stack exhaustion */
    int module_depth;     /* modules using modules, bounded against cycles */
    /* in a select's target or having: where aggregate calls are collected (else NULL, and
     * an aggregate call is an error) */
    struct tbr_aggr_sites *aggr_sites;
    uint64_t rng_state;   /* for folding (pure functions never use it) */
} tbr_parser;

#define TBR_PARSE_MAX_DEPTH 256

int tbr_parser_init(tbr_parser *p, const tbr_source *src, tb_arena *arena, tbr_diags *diags);
void tbr_parser_fini(tbr_parser *p);

/* Token access. */
static inline const tbr_token *tbr_peek(const tbr_parser *p) { return &p->toks.items[p->pos]; }
static inline const tbr_token *tbr_peek_at(const tbr_parser *p, size_t ahead) {
    size_t i = p->pos + ahead;
    return &p->toks.items[i < p->toks.count ? i : p->toks.count - 1];
}
static inline bool tbr_at(const tbr_parser *p, tbr_tok kind) { return tbr_peek(p)->kind == kind; }
const tbr_token *tbr_next(tbr_parser *p);
bool tbr_accept(tbr_parser *p, tbr_tok kind);
/* Consumes kind or reports "expected WHAT, found ..." (what: NULL means the kind's name). */
const tbr_token *tbr_expect(tbr_parser *p, tbr_tok kind, const char *what);

/* Consumes an identifier or a keyword used as a name (connector kinds such as null). */
const tbr_token *tbr_expect_name(tbr_parser *p, const char *what);

/* Reports an error at span (only the first error of a parse is kept, as later ones are
 * usually consequences). Returns NULL for `return tbr_error(...)` in node parsers. */
tbr_diag *tbr_error(tbr_parser *p, tbr_span span, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* `return TBR_FAIL(p, span, fmt, ...);` in a parser function returning a pointer. */
#define TBR_FAIL(p, span, ...) (tbr_error((p), (span), __VA_ARGS__), (void *)0)

/* Reports "expected WHAT, found <the current token>". */
void *tbr_error_expected(tbr_parser *p, const char *what);

/* Arena allocation that records out-of-memory. */
void *tbr_alloc(tbr_parser *p, size_t size);
tbr_node *tbr_node_new(tbr_parser *p, tbr_node_kind kind, tbr_span span);

/* Scopes. */
tbr_binding *tbr_scope_find(tbr_scope *s, const char *name, uint32_t len);
tbr_binding *tbr_scope_add(tbr_parser *p, tbr_scope *s, const char *name, uint32_t len);
/* The slot of local name, declaring it when absent. */
uint32_t tbr_local_declare(tbr_parser *p, const char *name, uint32_t len);
/* Adds "did you mean" to diag from the names in scope nearest to name. */
void tbr_hint_nearest_name(tbr_parser *p, tbr_diag *diag, const char *name, uint32_t len);

/* Finds and reads the module file rel + ext ("lib/helpers" + ".tremor") in the directory of
 * the file being parsed, then TREMOR_PATH and TEMBLOR_PATH. The source is copied into the
 * parser's arena. NULL when not found, with the paths tried in tried. */
tbr_source *tbr_find_module(tbr_parser *p, const char *rel, const char *ext, char *tried, size_t tried_size);

/* Moves the extractors a module's parser compiled into p (whose owner frees them). */
void tbr_adopt_extractors(tbr_parser *p, tbr_parser *sub);

/* Expressions (parse_expr.c). */
tbr_node *tbr_parse_expr(tbr_parser *p);          /* Expr: let, emit, drop, match, for, ... */
tbr_node *tbr_parse_expr_imut(tbr_parser *p);     /* ComplexExprImut */
tbr_node *tbr_parse_string(tbr_parser *p);        /* a string literal, maybe interpolated */
tbr_node **tbr_parse_block(tbr_parser *p, uint32_t *count, bool mutable_exprs);
/* Folds node when it is constant (all operands literal, pure). */
tbr_node *tbr_fold(tbr_parser *p, tbr_node *node);

/* Patterns and cases (parse_pattern.c). */
tbr_node *tbr_parse_match(tbr_parser *p, bool mutable_exprs);
tbr_node *tbr_parse_for(tbr_parser *p, bool mutable_exprs);
tbr_pattern *tbr_parse_case_pattern(tbr_parser *p);
tbr_extractor *tbr_parse_test(tbr_parser *p); /* ident EXTRACTOR, after ~ */

/* Aggregate call sites of one select. */
typedef struct tbr_aggr_sites {
    tbr_node **items;
    uint32_t count, cap;
} tbr_aggr_sites;

/* Parses a script's declarations and expressions into s (its own scope), up to the end of
 * the source, or, when embedded, up to (not including) the 'end' that closes it. */
struct tbr_script;
bool tbr_parse_script_body(tbr_parser *p, struct tbr_script *s, bool embedded);

/* Parses a query's statements into q, up to the end of the source or, when embedded (a troy
 * pipeline), up to the 'end' that closes it. The query's arena must be the parser's. */
struct tbr_query;
bool tbr_parse_query_body(tbr_parser *p, struct tbr_query *q, tbr_registry *reg, bool embedded);

/* Top level (parse_script.c): const, fn, use, expressions. */
bool tbr_parse_toplevel_decl(tbr_parser *p, bool *handled);

#endif
