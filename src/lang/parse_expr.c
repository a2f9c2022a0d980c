/* parse_expr.c - expressions of tremor-script: precedence climbing over Tremor's operator
 * table, literals, strings with interpolation, records, arrays, bytes, paths, calls,
 * let, emit, drop, patch and merge. Names are resolved as they are parsed. */
#include <stdio.h>
#include <string.h>

#include "lang/aggr.h"
#include "lang/eval.h"
#include "lang/parser.h"

/* --- small builders ----------------------------------------------------------------------- */

static tbr_node *literal(tbr_parser *p, tbr_span span, tb_value v) {
    tbr_node *n = tbr_node_new(p, N_LITERAL, span);
    if (n) n->u.lit = v;
    return n;
}

/* A growable array of node pointers during parsing (copied into the arena when done). */
typedef struct nodes {
    tbr_node **items;
    uint32_t count, cap;
} nodes;

static bool nodes_push(tbr_parser *p, nodes *v, tbr_node *n) {
    if (v->count == v->cap) {
        uint32_t ncap = v->cap ? v->cap * 2 : 8;
        tbr_node **m = tbr_alloc(p, ncap * sizeof *m);
        if (!m) return false;
        if (v->count) memcpy(m, v->items, v->count * sizeof *m);
        v->items = m;
        v->cap = ncap;
    }
    v->items[v->count++] = n;
    return true;
}

static bool enter(tbr_parser *p) {
    if (++p->depth > TBR_PARSE_MAX_DEPTH) {
        tbr_error(p, tbr_peek(p)->span, "expression nested more than %d levels deep", TBR_PARSE_MAX_DEPTH);
        return false;
    }
    return true;
}

/* --- constant folding -------------------------------------------------------------------- */

static bool is_lit(const tbr_node *n) { return n && n->kind == N_LITERAL; }

tbr_node *tbr_fold(tbr_parser *p, tbr_node *n) {
    if (!n || p->failed) return n;
    bool constant = false;
    switch (n->kind) {
    case N_UNARY: constant = is_lit(n->u.bin.a); break;
    case N_BINARY: constant = is_lit(n->u.bin.a) && is_lit(n->u.bin.b); break;
    case N_STRING:
    case N_ARRAY:
        constant = true;
        for (uint32_t i = 0; i < n->u.list.count; i++) constant = constant && is_lit(n->u.list.items[i]);
        break;
    case N_RECORD:
        constant = true;
        for (uint32_t i = 0; i < n->u.record.count; i++)
            constant = constant && is_lit(n->u.record.keys[i]) && is_lit(n->u.record.values[i]);
        break;
    case N_PATH:
        /* a path into a constant (LIMITS.crit.level, A[A.key]) */
        constant = n->u.path.root == ROOT_EXPR && is_lit(n->u.path.expr);
        for (uint32_t i = 0; constant && i < n->u.path.nsegs; i++) {
            const tbr_segment *sg = &n->u.path.segs[i];
            constant = sg->kind == SEG_FIELD || (is_lit(sg->index) && (sg->kind != SEG_RANGE || is_lit(sg->end)));
        }
        break;
    case N_INVOKE:
        constant = n->u.call.native && (n->u.call.native->flags & TBR_FN_PURE);
        for (uint32_t i = 0; constant && i < n->u.call.argc; i++) constant = is_lit(n->u.call.args[i]);
        break;
    default: break;
    }
    if (!constant) return n;
    tbr_eval_env env;
    tbr_eval_env_init(&env, p->arena);
    env.rng_state = &p->rng_state;
    tb_value v;
    int rc = tbr_eval(&env, n, &v);
    if (rc == TBR_EVAL_ERROR) {
        /* a constant expression that always fails is an error found at check time */
        tbr_error(p, env.error_span.end ? env.error_span : n->span, "%s", env.error);
        return NULL;
    }
    if (rc != TBR_EVAL_OK) return n;
    tbr_node *lit = literal(p, n->span, v);
    return lit ? lit : n;
}

/* --- strings ------------------------------------------------------------------------------ */

tbr_node *tbr_parse_string(tbr_parser *p) {
    const tbr_token *open = tbr_expect(p, TK_STR_START, "a string");
    if (!open) return NULL;
    nodes parts = {0};
    for (;;) {
        const tbr_token *t = tbr_peek(p);
        if (t->kind == TK_STR_PART) {
            tbr_next(p);
            if (!nodes_push(p, &parts, literal(p, t->span, tb_string(t->text, t->len)))) return NULL;
        } else if (t->kind == TK_INTERP_START) {
            tbr_next(p);
            tbr_node *e = tbr_parse_expr_imut(p);
            if (!e || !tbr_expect(p, TK_INTERP_END, "'}' to close the interpolation")) return NULL;
            if (!nodes_push(p, &parts, e)) return NULL;
        } else {
            break;
        }
    }
    const tbr_token *close = tbr_expect(p, TK_STR_END, "the end of the string");
    if (!close) return NULL;
    tbr_span span = tbr_span_join(open->span, close->span);
    if (parts.count == 0) return literal(p, span, tb_string("", 0));
    if (parts.count == 1 && parts.items[0]->kind == N_LITERAL) {
        parts.items[0]->span = span;
        return parts.items[0];
    }
    tbr_node *n = tbr_node_new(p, N_STRING, span);
    if (!n) return NULL;
    n->u.list.items = parts.items;
    n->u.list.count = parts.count;
    return tbr_fold(p, n);
}

/* --- records, arrays, bytes -------------------------------------------------------------- */

static tbr_node *parse_record(tbr_parser *p) {
    const tbr_token *open = tbr_next(p); /* { */
    nodes keys = {0}, values = {0};
    while (!tbr_at(p, TK_RBRACE)) {
        if (!tbr_at(p, TK_STR_START)) return tbr_error_expected(p, "a string key or '}'");
        tbr_node *k = tbr_parse_string(p);
        if (!k || !tbr_expect(p, TK_COLON, "':' after the key")) return NULL;
        tbr_node *v = tbr_parse_expr_imut(p);
        if (!v || !nodes_push(p, &keys, k) || !nodes_push(p, &values, v)) return NULL;
        if (!tbr_accept(p, TK_COMMA)) break;
    }
    const tbr_token *close = tbr_expect(p, TK_RBRACE, "',' or '}'");
    if (!close) return NULL;
    tbr_node *n = tbr_node_new(p, N_RECORD, tbr_span_join(open->span, close->span));
    if (!n) return NULL;
    n->u.record.keys = keys.items;
    n->u.record.values = values.items;
    n->u.record.count = keys.count;
    return tbr_fold(p, n);
}

static tbr_node *parse_array(tbr_parser *p) {
    const tbr_token *open = tbr_next(p); /* [ */
    nodes items = {0};
    while (!tbr_at(p, TK_RBRACKET)) {
        tbr_node *v = tbr_parse_expr_imut(p);
        if (!v || !nodes_push(p, &items, v)) return NULL;
        if (!tbr_accept(p, TK_COMMA)) break;
    }
    const tbr_token *close = tbr_expect(p, TK_RBRACKET, "',' or ']'");
    if (!close) return NULL;
    tbr_node *n = tbr_node_new(p, N_ARRAY, tbr_span_join(open->span, close->span));
    if (!n) return NULL;
    n->u.list.items = items.items;
    n->u.list.count = items.count;
    return tbr_fold(p, n);
}

static tbr_node *parse_simple(tbr_parser *p);

/* << part[:bits][/type-spec], ... >>  (Erlang's bit syntax, as Tremor has it) */
static tbr_node *parse_bytes(tbr_parser *p) {
    const tbr_token *open = tbr_next(p); /* << */
    tbr_bytes_part parts[256];
    uint32_t count = 0;
    while (!tbr_at(p, TK_SHR)) {
        if (count == 256) return TBR_FAIL(p, tbr_peek(p)->span, "a bytes literal has at most 256 parts");
        tbr_bytes_part *part = &parts[count++];
        memset(part, 0, sizeof *part);
        part->big_endian = true;
        part->type = BYTES_INT;
        if (!(part->value = parse_simple(p))) return NULL;
        if (tbr_accept(p, TK_COLON)) {
            const tbr_token *bits = tbr_expect(p, TK_INT, "the size in bits");
            if (!bits) return NULL;
            if (bits->num.u == 0 || bits->num.u > 64)
                return TBR_FAIL(p, bits->span, "a bytes part is 1 to 64 bits, not %llu", (unsigned long long)bits->num.u);
            part->bits = (uint32_t)bits->num.u;
        }
        if (tbr_accept(p, TK_SLASH)) {
            /* type specifiers: binary, integer, signed, unsigned, big, little, joined by '-' */
            for (;;) {
                const tbr_token *t = tbr_expect(p, TK_IDENT, "a type specifier (binary, integer, signed, unsigned, big, little)");
                if (!t) return NULL;
                if (t->len == 6 && !memcmp(t->text, "binary", 6)) part->type = BYTES_BINARY;
                else if (t->len == 7 && !memcmp(t->text, "integer", 7)) part->type = BYTES_INT;
                else if (t->len == 6 && !memcmp(t->text, "signed", 6)) part->is_signed = true;
                else if (t->len == 8 && !memcmp(t->text, "unsigned", 8)) part->is_signed = false;
                else if (t->len == 3 && !memcmp(t->text, "big", 3)) part->big_endian = true;
                else if (t->len == 6 && !memcmp(t->text, "little", 6)) part->big_endian = false;
                else return TBR_FAIL(p, t->span, "unknown type specifier '%.*s': expected binary, integer, signed, unsigned, big or little", (int)t->len, t->text);
                if (!tbr_accept(p, TK_MINUS)) break;
            }
        }
        if (!tbr_accept(p, TK_COMMA)) break;
    }
    const tbr_token *close = tbr_expect(p, TK_SHR, "',' or '>>'");
    if (!close) return NULL;
    tbr_node *n = tbr_node_new(p, N_BYTES, tbr_span_join(open->span, close->span));
    if (!n) return NULL;
    n->u.bytes.parts = tbr_alloc(p, count * sizeof *parts);
    if (!n->u.bytes.parts && count) return NULL;
    if (count) memcpy(n->u.bytes.parts, parts, count * sizeof *parts);
    n->u.bytes.count = count;
    return n;
}

/* --- paths ---------------------------------------------------------------------------------- */

/* Parses .field, [index] and [start:end] after a path root. */
static tbr_node *parse_segments(tbr_parser *p, tbr_node *path) {
    tbr_segment segs[64];
    uint32_t n = 0;
    for (;;) {
        const tbr_token *t = tbr_peek(p);
        if (t->kind != TK_DOT && t->kind != TK_LBRACKET) break;
        if (n == 64) return TBR_FAIL(p, t->span, "a path has at most 64 segments");
        tbr_segment *s = &segs[n];
        memset(s, 0, sizeof *s);
        tbr_next(p);
        if (t->kind == TK_DOT) {
            const tbr_token *id = tbr_peek(p);
            if (id->kind != TK_IDENT && !(id->kind >= TK_KW_FIRST && id->kind <= TK_KW_LAST))
                return tbr_error_expected(p, "a field name after '.'");
            if (id->kind != TK_IDENT)
                return TBR_FAIL(p, id->span, "'%.*s' is a keyword: write it as `%.*s` or [\"%.*s\"]",
                                 (int)(id->span.end - id->span.start), p->src->text + id->span.start,
                                 (int)(id->span.end - id->span.start), p->src->text + id->span.start,
                                 (int)(id->span.end - id->span.start), p->src->text + id->span.start);
            tbr_next(p);
            s->kind = SEG_FIELD;
            s->key = id->text;
            s->key_len = id->len;
            s->span = tbr_span_join(t->span, id->span);
        } else {
            tbr_node *a = tbr_parse_expr_imut(p);
            if (!a) return NULL;
            s->index = a;
            s->kind = SEG_INDEX;
            if (tbr_accept(p, TK_COLON)) {
                if (!(s->end = tbr_parse_expr_imut(p))) return NULL;
                s->kind = SEG_RANGE;
            } else if (a->kind == N_LITERAL && a->u.lit.type == TB_STRING) {
                /* event["key"] is a field access like event.key */
                s->kind = SEG_FIELD;
                s->key = a->u.lit.as.s;
                s->key_len = a->u.lit.len;
            }
            const tbr_token *close = tbr_expect(p, TK_RBRACKET, "']'");
            if (!close) return NULL;
            s->span = tbr_span_join(t->span, close->span);
        }
        n++;
    }
    if (n == 0) return path;
    path->u.path.segs = tbr_alloc(p, n * sizeof *segs);
    if (!path->u.path.segs) return NULL;
    memcpy(path->u.path.segs, segs, n * sizeof *segs);
    path->u.path.nsegs = n;
    path->span = tbr_span_join(path->span, segs[n - 1].span);
    return path;
}

static tbr_node *path_node(tbr_parser *p, tbr_root root, tbr_span span) {
    tbr_node *n = tbr_node_new(p, N_PATH, span);
    if (n) n->u.path.root = root;
    return n;
}

/* A parenthesised expression, record, array or call followed by segments. */
static tbr_node *expr_path(tbr_parser *p, tbr_node *root) {
    if (!root || (!tbr_at(p, TK_DOT) && !tbr_at(p, TK_LBRACKET))) return root;
    tbr_node *n = path_node(p, ROOT_EXPR, root->span);
    if (!n) return NULL;
    n->u.path.expr = root;
    return tbr_fold(p, parse_segments(p, n));
}

/* --- calls ------------------------------------------------------------------------------------ */

static bool parse_args(tbr_parser *p, nodes *args) {
    if (!tbr_expect(p, TK_LPAREN, "'('")) return false;
    while (!tbr_at(p, TK_RPAREN)) {
        tbr_node *a = tbr_parse_expr_imut(p);
        if (!a || !nodes_push(p, args, a)) return false;
        if (!tbr_accept(p, TK_COMMA)) break;
    }
    return tbr_expect(p, TK_RPAREN, "',' or ')'") != NULL;
}

static tbr_node *parse_user_call(tbr_parser *p, const tbr_token *name, tbr_user_fn *fn);

/* aggr::..., or std::aggr::... */
static bool is_aggr_module(const char *m, size_t n) {
    if (n >= 5 && !memcmp(m, "std::", 5)) m += 5, n -= 5;
    return n >= 4 && !memcmp(m, "aggr", 4) && (n == 4 || (n > 6 && !memcmp(m + 4, "::", 2)));
}

/* aggr::stats::count(...): allowed only where a windowed select collects aggregates. */
static tbr_node *parse_aggr_call(tbr_parser *p, const char *module, size_t mlen, const tbr_token *name, tbr_span span) {
    const tbr_aggr_fn *fn = tbr_aggr_lookup(module, mlen, name->text, name->len);
    if (!fn) {
        tbr_diag *d = tbr_error(p, span, "unknown aggregate function '%.*s'", (int)(span.end - span.start), p->src->text + span.start);
        if (d) {
            char known[256];
            size_t used = 0;
            const tbr_aggr_fn *a;
            for (size_t i = 0; (a = tbr_aggr_at(i)) && used < sizeof known; i++)
                used += (size_t)snprintf(known + used, sizeof known - used, "%saggr::%s::%s", i ? ", " : "", a->module, a->name);
            tbr_diag_hint(d, "the aggregate functions are %s", known);
        }
        return NULL;
    }
    if (!p->aggr_sites)
        return TBR_FAIL(p, span, "aggregate function aggr::%s::%s is only allowed in the target or having clause of a select", fn->module, fn->name);
    nodes args = {0};
    if (!parse_args(p, &args)) return NULL;
    span.end = p->toks.items[p->pos - 1].span.end;
    if ((int)args.count < fn->min_args || (fn->max_args >= 0 && (int)args.count > fn->max_args))
        return TBR_FAIL(p, span, "aggr::%s::%s takes %d to %d arguments, found %u", fn->module, fn->name, fn->min_args, fn->max_args, args.count);
    tbr_node *n = tbr_node_new(p, N_AGGR, span);
    if (!n) return NULL;
    n->u.call.aggr = fn;
    n->u.call.args = args.items;
    n->u.call.argc = args.count;
    tbr_aggr_sites *sites = p->aggr_sites;
    if (sites->count == sites->cap) {
        uint32_t ncap = sites->cap ? sites->cap * 2 : 8;
        tbr_node **m = tbr_alloc(p, ncap * sizeof *m);
        if (!m) return NULL;
        if (sites->count) memcpy(m, sites->items, sites->count * sizeof *m);
        sites->items = m;
        sites->cap = ncap;
    }
    n->u.call.aggr_index = sites->count;
    sites->items[sites->count++] = n;
    return n;
}

/* module::...::name( args ): a native function, resolved through `use` aliases. */
static tbr_node *parse_module_call(tbr_parser *p, const tbr_token *first) {
    char module[256];
    size_t mlen = 0;
    const tbr_token *last = first;
    /* the first segment may be an alias bound by `use` */
    tbr_binding *alias = tbr_scope_find(&p->globals, first->text, first->len);
    if (alias && alias->kind == BIND_MODULE) {
        mlen = (size_t)snprintf(module, sizeof module, "%.*s", (int)alias->target_len, alias->target);
    } else {
        mlen = (size_t)snprintf(module, sizeof module, "%.*s", (int)first->len, first->text);
    }
    while (tbr_accept(p, TK_COLONCOLON)) {
        const tbr_token *seg = tbr_expect(p, TK_IDENT, "a name after '::'");
        if (!seg) return NULL;
        if (tbr_at(p, TK_COLONCOLON)) {
            if (mlen + 2 + seg->len >= sizeof module) return TBR_FAIL(p, seg->span, "module path too long");
            mlen += (size_t)snprintf(module + mlen, sizeof module - mlen, "::%.*s", (int)seg->len, seg->text);
        }
        last = seg;
    }
    tbr_span span = tbr_span_join(first->span, last->span);
    if (tbr_at(p, TK_LPAREN) && is_aggr_module(module, mlen)) return parse_aggr_call(p, module, mlen, last, span);
    /* a function or constant of a module file, bound as alias::name by `use` */
    {
        char qualified[320];
        int qn = snprintf(qualified, sizeof qualified, "%.*s::%.*s", (int)first->len, first->text, (int)last->len, last->text);
        tbr_binding *b = first != last && qn > 0 && (size_t)qn < sizeof qualified
                             ? tbr_scope_find(&p->globals, qualified, (uint32_t)qn)
                             : NULL;
        if (b && b->kind == BIND_FN && tbr_at(p, TK_LPAREN)) return parse_user_call(p, first, b->fn);
        if (b && b->kind == BIND_CONST) return literal(p, span, b->value);
    }
    if (!tbr_at(p, TK_LPAREN)) {
        const tbr_const *c = tbr_const_lookup(module, mlen, last->text, last->len);
        if (c) return literal(p, span, tb_i64(c->value));
    }
    if (!tbr_at(p, TK_LPAREN))
        return TBR_FAIL(p, span, "'%.*s' is not a value: no such constant; to call a function add (...)",
                         (int)(span.end - span.start), p->src->text + span.start);
    const tbr_fn *fn = tbr_fn_lookup(module, mlen, last->text, last->len);
    if (!fn) {
        tbr_diag *d = tbr_error(p, span, "unknown function '%.*s'", (int)(span.end - span.start), p->src->text + span.start);
        const tbr_fn *near[3];
        size_t k = tbr_fn_suggest(module, mlen, last->text, last->len, near, 3);
        if (k == 1) tbr_diag_hint(d, "did you mean %s::%s?", near[0]->module, near[0]->name);
        else if (k > 1) tbr_diag_hint(d, "did you mean %s::%s or %s::%s?", near[0]->module, near[0]->name, near[1]->module, near[1]->name);
        return NULL;
    }
    nodes args = {0};
    if (!parse_args(p, &args)) return NULL;
    span.end = p->toks.items[p->pos - 1].span.end;
    if ((int)args.count < fn->min_args || (fn->max_args >= 0 && (int)args.count > fn->max_args)) {
        tbr_diag *d = tbr_error(p, span, "%s::%s takes %d%s argument%s, found %u", fn->module, fn->name, fn->min_args,
                                fn->max_args < 0 ? " or more" : fn->max_args != fn->min_args ? " or more" : "",
                                fn->min_args == 1 && fn->max_args == 1 ? "" : "s", args.count);
        if (d && fn->signature) tbr_diag_hint(d, "%s", fn->signature);
        return NULL;
    }
    tbr_node *n = tbr_node_new(p, N_INVOKE, span);
    if (!n) return NULL;
    n->u.call.native = fn;
    n->u.call.args = args.items;
    n->u.call.argc = args.count;
    return tbr_fold(p, n);
}

static tbr_node *parse_user_call(tbr_parser *p, const tbr_token *name, tbr_user_fn *fn) {
    nodes args = {0};
    if (!parse_args(p, &args)) return NULL;
    tbr_span span = {name->span.start, p->toks.items[p->pos - 1].span.end};
    if (args.count < fn->nparams || (!fn->variadic && args.count > fn->nparams))
        return TBR_FAIL(p, span, "%.*s takes %u argument%s%s, found %u", (int)fn->name_len, fn->name, fn->nparams,
                         fn->nparams == 1 ? "" : "s", fn->variadic ? " or more" : "", args.count);
    tbr_node *n = tbr_node_new(p, N_INVOKE, span);
    if (!n) return NULL;
    n->u.call.user = fn;
    n->u.call.args = args.items;
    n->u.call.argc = args.count;
    return n;
}

/* A bare identifier: a local, a constant, a function call or a module path. */
static tbr_node *parse_ident(tbr_parser *p) {
    const tbr_token *id = tbr_next(p);
    if (tbr_at(p, TK_COLONCOLON)) return expr_path(p, parse_module_call(p, id));
    if (tbr_at(p, TK_LPAREN)) {
        tbr_binding *b = tbr_scope_find(&p->globals, id->text, id->len);
        if (b && b->kind == BIND_FN) return expr_path(p, parse_user_call(p, id, b->fn));
        tbr_diag *d = tbr_error(p, id->span, "unknown function '%.*s'", (int)id->len, id->text);
        tbr_hint_nearest_name(p, d, id->text, id->len);
        return NULL;
    }
    tbr_binding *b = tbr_scope_find(p->scope, id->text, id->len);
    if (!b) b = tbr_scope_find(&p->globals, id->text, id->len);
    if (b && b->kind == BIND_LOCAL) {
        tbr_node *n = path_node(p, ROOT_LOCAL, id->span);
        if (!n) return NULL;
        n->u.path.slot = b->slot;
        return parse_segments(p, n);
    }
    if (b && b->kind == BIND_CONST) return expr_path(p, literal(p, id->span, b->value));
    tbr_diag *d = tbr_error(p, id->span, "unknown local '%.*s'", (int)id->len, id->text);
    if (d) {
        tbr_hint_nearest_name(p, d, id->text, id->len);
        if (!d->hint[0]) tbr_diag_hint(d, "assign it first with: let %.*s = ...", (int)id->len, id->text);
    }
    return NULL;
}

/* --- patch and merge ---------------------------------------------------------------------------- */

static tbr_node *parse_patch(tbr_parser *p) {
    const tbr_token *kw = tbr_next(p); /* patch */
    tbr_node *target = tbr_parse_expr_imut(p);
    if (!target || !tbr_expect(p, TK_OF, "'of'")) return NULL;
    tbr_patch_op ops[128];
    uint32_t n = 0;
    while (!tbr_at(p, TK_END)) {
        if (n == 128) return TBR_FAIL(p, tbr_peek(p)->span, "a patch has at most 128 operations");
        tbr_patch_op *op = &ops[n++];
        memset(op, 0, sizeof *op);
        const tbr_token *t = tbr_next(p);
        op->span = t->span;
        switch (t->kind) {
        case TK_INSERT: op->kind = PATCH_INSERT; break;
        case TK_UPSERT: op->kind = PATCH_UPSERT; break;
        case TK_UPDATE: op->kind = PATCH_UPDATE; break;
        case TK_ERASE: op->kind = PATCH_ERASE; break;
        case TK_MOVE: op->kind = PATCH_MOVE; break;
        case TK_COPY: op->kind = PATCH_COPY; break;
        case TK_MERGE: op->kind = tbr_at(p, TK_FAT_ARROW) ? PATCH_MERGE : PATCH_MERGE_KEY; break;
        case TK_DEFAULT: op->kind = tbr_at(p, TK_FAT_ARROW) ? PATCH_DEFAULT : PATCH_DEFAULT_KEY; break;
        default:
            p->pos--;
            return tbr_error_expected(p, "a patch operation (insert, upsert, update, erase, move, copy, merge, default) or 'end'");
        }
        if (op->kind != PATCH_MERGE && op->kind != PATCH_DEFAULT) {
            if (!(op->key = tbr_parse_expr_imut(p))) return NULL;
        }
        if (op->kind != PATCH_ERASE) {
            if (!tbr_expect(p, TK_FAT_ARROW, "'=>'")) return NULL;
            if (op->kind == PATCH_MOVE || op->kind == PATCH_COPY) {
                if (!(op->to = tbr_parse_expr_imut(p))) return NULL;
            } else if (!(op->value = tbr_parse_expr_imut(p))) {
                return NULL;
            }
        }
        /* Tremor 0.13 separates operations with ';', earlier versions with ',' */
        if (!tbr_accept(p, TK_SEMI) && !tbr_accept(p, TK_COMMA)) break;
    }
    const tbr_token *end = tbr_expect(p, TK_END, "'end' to close the patch");
    if (!end) return NULL;
    tbr_node *node = tbr_node_new(p, N_PATCH, tbr_span_join(kw->span, end->span));
    if (!node) return NULL;
    node->u.patch.target = target;
    node->u.patch.ops = tbr_alloc(p, n * sizeof *ops);
    if (n && !node->u.patch.ops) return NULL;
    if (n) memcpy(node->u.patch.ops, ops, n * sizeof *ops);
    node->u.patch.nops = n;
    return node;
}

static tbr_node *parse_merge(tbr_parser *p) {
    const tbr_token *kw = tbr_next(p); /* merge */
    tbr_node *target = tbr_parse_expr_imut(p);
    if (!target || !tbr_expect(p, TK_OF, "'of'")) return NULL;
    tbr_node *source = tbr_parse_expr_imut(p);
    if (!source) return NULL;
    const tbr_token *end = tbr_expect(p, TK_END, "'end' to close the merge");
    if (!end) return NULL;
    tbr_node *n = tbr_node_new(p, N_MERGE, tbr_span_join(kw->span, end->span));
    if (!n) return NULL;
    n->u.bin.a = target;
    n->u.bin.b = source;
    return n;
}

/* --- primaries ------------------------------------------------------------------------------------- */

static tbr_node *parse_simple(tbr_parser *p) {
    if (!enter(p)) return NULL;
    const tbr_token *t = tbr_peek(p);
    tbr_node *n = NULL;
    switch (t->kind) {
    case TK_INT:
        tbr_next(p);
        n = literal(p, t->span, t->is_u64 ? tb_u64(t->num.u) : tb_i64(t->num.i));
        break;
    case TK_FLOAT: tbr_next(p); n = literal(p, t->span, tb_f64(t->num.f)); break;
    case TK_TRUE: tbr_next(p); n = literal(p, t->span, tb_bool(true)); break;
    case TK_FALSE: tbr_next(p); n = literal(p, t->span, tb_bool(false)); break;
    case TK_NULL: tbr_next(p); n = literal(p, t->span, tb_null()); break;
    case TK_STR_START: n = tbr_parse_string(p); break;
    case TK_LBRACE: n = expr_path(p, parse_record(p)); break;
    case TK_LBRACKET: n = expr_path(p, parse_array(p)); break;
    case TK_SHL: n = parse_bytes(p); break;
    case TK_LPAREN: {
        tbr_next(p);
        tbr_node *inner = tbr_parse_expr_imut(p);
        const tbr_token *close = inner ? tbr_expect(p, TK_RPAREN, "')'") : NULL;
        if (close) n = expr_path(p, inner);
        break;
    }
    case TK_PATCH: n = expr_path(p, parse_patch(p)); break;
    case TK_MERGE: n = expr_path(p, parse_merge(p)); break;
    case TK_EVENT: tbr_next(p); n = parse_segments(p, path_node(p, ROOT_EVENT, t->span)); break;
    case TK_STATE: tbr_next(p); n = parse_segments(p, path_node(p, ROOT_STATE, t->span)); break;
    case TK_GROUP: tbr_next(p); n = parse_segments(p, path_node(p, ROOT_GROUP, t->span)); break;
    case TK_WINDOW: tbr_next(p); n = parse_segments(p, path_node(p, ROOT_WINDOW, t->span)); break;
    case TK_ARGS: {
        tbr_next(p);
        tbr_binding *va = p->scope->fn && p->scope->fn->variadic ? tbr_scope_find(p->scope, "args", 4) : NULL;
        tbr_node *root = path_node(p, va ? ROOT_LOCAL : ROOT_ARGS, t->span);
        if (root && va) root->u.path.slot = va->slot;
        n = parse_segments(p, root);
        break;
    }
    case TK_DOLLAR: {
        tbr_next(p);
        tbr_node *root = path_node(p, ROOT_META, t->span);
        if (!root) break;
        /* $field is $.field */
        if (tbr_at(p, TK_IDENT) && tbr_peek(p)->span.start == t->span.end) {
            const tbr_token *id = tbr_next(p);
            root->u.path.segs = tbr_alloc(p, sizeof(tbr_segment));
            if (!root->u.path.segs) break;
            root->u.path.segs[0] = (tbr_segment){.kind = SEG_FIELD, .key = id->text, .key_len = id->len, .span = id->span};
            root->u.path.nsegs = 1;
            root->span = tbr_span_join(t->span, id->span);
            /* further segments are appended by a second pass */
            if (tbr_at(p, TK_DOT) || tbr_at(p, TK_LBRACKET)) {
                tbr_node *rest = path_node(p, ROOT_META, root->span);
                if (!rest || !parse_segments(p, rest)) break;
                uint32_t total = 1 + rest->u.path.nsegs;
                tbr_segment *all = tbr_alloc(p, total * sizeof *all);
                if (!all) break;
                all[0] = root->u.path.segs[0];
                memcpy(all + 1, rest->u.path.segs, rest->u.path.nsegs * sizeof *all);
                root->u.path.segs = all;
                root->u.path.nsegs = total;
                root->span = rest->span;
            }
            n = root;
        } else {
            n = parse_segments(p, root);
        }
        break;
    }
    case TK_IDENT: n = parse_ident(p); break;
    case TK_RECUR: {
        tbr_next(p);
        if (!p->scope->fn) {
            tbr_error(p, t->span, "recur is only allowed inside a function");
            break;
        }
        nodes args = {0};
        if (!parse_args(p, &args)) break;
        if (args.count != p->scope->fn->nparams && !p->scope->fn->variadic) {
            tbr_error(p, t->span, "recur takes %u argument%s, as %.*s does, found %u", p->scope->fn->nparams,
                      p->scope->fn->nparams == 1 ? "" : "s", (int)p->scope->fn->name_len, p->scope->fn->name, args.count);
            break;
        }
        n = tbr_node_new(p, N_RECUR, t->span);
        if (n) {
            n->u.call.user = p->scope->fn;
            n->u.call.args = args.items;
            n->u.call.argc = args.count;
        }
        break;
    }
    case TK_MATCH: n = tbr_parse_match(p, false); break;
    case TK_FOR: n = tbr_parse_for(p, false); break;
    default: tbr_error_expected(p, "an expression"); break;
    }
    p->depth--;
    return n;
}

/* --- operators --------------------------------------------------------------------------------------- */

static tbr_node *parse_unary(tbr_parser *p) {
    const tbr_token *t = tbr_peek(p);
    tbr_op op = t->kind == TK_MINUS ? OP_NEG : t->kind == TK_PLUS ? OP_POS : (t->kind == TK_NOT || t->kind == TK_BANG) ? OP_NOT : OP_NONE;
    if (op != OP_NONE) {
        if (!enter(p)) return NULL;
        tbr_next(p);
        tbr_node *a = parse_unary(p);
        p->depth--;
        if (!a) return NULL;
        /* a negative literal is a literal: -9223372036854775808 must fit */
        if (op == OP_NEG && a->kind == N_LITERAL && a->u.lit.type == TB_U64 && a->u.lit.as.u == (uint64_t)INT64_MAX + 1) {
            a->u.lit = tb_i64(INT64_MIN);
            a->span = tbr_span_join(t->span, a->span);
            return a;
        }
        tbr_node *n = tbr_node_new(p, N_UNARY, tbr_span_join(t->span, a->span));
        if (!n) return NULL;
        n->op = op;
        n->u.bin.a = a;
        return tbr_fold(p, n);
    }
    if (t->kind == TK_PRESENT || t->kind == TK_ABSENT) {
        tbr_next(p);
        tbr_node *path = parse_simple(p);
        if (!path) return NULL;
        if (path->kind != N_PATH) return TBR_FAIL(p, path->span, "%s needs a path, such as event.field", t->kind == TK_PRESENT ? "present" : "absent");
        tbr_node *n = tbr_node_new(p, t->kind == TK_PRESENT ? N_PRESENT : N_ABSENT, tbr_span_join(t->span, path->span));
        if (n) n->u.bin.a = path;
        return n;
    }
    return parse_simple(p);
}

/* Binary operators by level, loosest first, as Tremor's grammar orders them. */
static tbr_op binop_at(tbr_tok kind, int level) {
    switch (level) {
    case 0: return kind == TK_OR ? OP_OR : OP_NONE;
    case 1: return kind == TK_XOR ? OP_XOR : OP_NONE;
    case 2: return kind == TK_AND ? OP_AND : OP_NONE;
    case 3: return kind == TK_CARET ? OP_BITXOR : OP_NONE;
    case 4: return kind == TK_AMP ? OP_BITAND : OP_NONE;
    case 5: return kind == TK_EQ ? OP_EQ : kind == TK_NE ? OP_NE : OP_NONE;
    case 6: return kind == TK_LT ? OP_LT : kind == TK_LE ? OP_LE : kind == TK_GT ? OP_GT : kind == TK_GE ? OP_GE : OP_NONE;
    case 7: return kind == TK_SHL ? OP_SHL : kind == TK_SHR ? OP_SHR : kind == TK_SHR_U ? OP_SHR_U : OP_NONE;
    case 8: return kind == TK_PLUS ? OP_ADD : kind == TK_MINUS ? OP_SUB : OP_NONE;
    case 9: return kind == TK_STAR ? OP_MUL : kind == TK_SLASH ? OP_DIV : kind == TK_PERCENT ? OP_MOD : OP_NONE;
    default: return OP_NONE;
    }
}

static tbr_node *parse_level(tbr_parser *p, int level) {
    if (level == 10) return parse_unary(p);
    tbr_node *left = parse_level(p, level + 1);
    while (left) {
        tbr_op op = binop_at(tbr_peek(p)->kind, level);
        if (op == OP_NONE) break;
        tbr_next(p);
        tbr_node *right = parse_level(p, level + 1);
        if (!right) return NULL;
        tbr_node *n = tbr_node_new(p, N_BINARY, tbr_span_join(left->span, right->span));
        if (!n) return NULL;
        n->op = op;
        n->u.bin.a = left;
        n->u.bin.b = right;
        left = tbr_fold(p, n);
    }
    return left;
}

tbr_node *tbr_parse_expr_imut(tbr_parser *p) {
    if (p->failed) return NULL;
    if (tbr_at(p, TK_MATCH)) return tbr_parse_match(p, false);
    if (tbr_at(p, TK_FOR)) return tbr_parse_for(p, false);
    if (!enter(p)) return NULL;
    tbr_node *n = parse_level(p, 0);
    p->depth--;
    return n;
}

/* --- let, emit, drop ---------------------------------------------------------------------------------- */

static tbr_node *parse_let(tbr_parser *p) {
    const tbr_token *kw = tbr_next(p); /* let */
    const tbr_token *first = tbr_peek(p);
    /* `let x = ...` declares x after its value is parsed, so `let x = x + 1` needs an x */
    if (first->kind == TK_IDENT && tbr_peek_at(p, 1)->kind == TK_ASSIGN) {
        tbr_binding *g = tbr_scope_find(&p->globals, first->text, first->len);
        if (g && g->kind == BIND_CONST)
            return TBR_FAIL(p, first->span, "cannot assign to constant '%.*s'", (int)first->len, first->text);
        tbr_next(p);
        tbr_next(p);
        tbr_node *value = tbr_parse_expr(p);
        if (!value) return NULL;
        tbr_node *target = path_node(p, ROOT_LOCAL, first->span);
        if (!target) return NULL;
        target->u.path.slot = tbr_local_declare(p, first->text, first->len);
        tbr_node *n = tbr_node_new(p, N_LET, tbr_span_join(kw->span, value->span));
        if (!n) return NULL;
        n->u.let.target = target;
        n->u.let.value = value;
        return n;
    }
    tbr_node *target = parse_simple(p);
    if (!target) return NULL;
    if (target->kind != N_PATH || target->u.path.root == ROOT_EXPR)
        return TBR_FAIL(p, target->span, "cannot assign to this: let needs a path into event, $, state or a local");
    if (target->u.path.root == ROOT_ARGS || target->u.path.root == ROOT_GROUP || target->u.path.root == ROOT_WINDOW)
        return TBR_FAIL(p, target->span, "cannot assign to %s: it is read-only",
                         target->u.path.root == ROOT_ARGS ? "args" : target->u.path.root == ROOT_GROUP ? "group" : "window");
    for (uint32_t i = 0; i < target->u.path.nsegs; i++)
        if (target->u.path.segs[i].kind == SEG_RANGE)
            return TBR_FAIL(p, target->u.path.segs[i].span, "cannot assign to a range");
    if (!tbr_expect(p, TK_ASSIGN, "'='")) return NULL;
    tbr_node *value = tbr_parse_expr(p);
    if (!value) return NULL;
    tbr_node *n = tbr_node_new(p, N_LET, tbr_span_join(kw->span, value->span));
    if (!n) return NULL;
    n->u.let.target = target;
    n->u.let.value = value;
    return n;
}

/* Tokens after which `emit` has no value. */
static bool ends_expression(tbr_tok k) {
    return k == TK_SEMI || k == TK_END || k == TK_CASE || k == TK_DEFAULT || k == TK_EOF || k == TK_COMMA || k == TK_FAT_ARROW;
}

static tbr_node *parse_emit(tbr_parser *p) {
    const tbr_token *kw = tbr_next(p); /* emit */
    tbr_node *n = tbr_node_new(p, N_EMIT, kw->span);
    if (!n) return NULL;
    if (!ends_expression(tbr_peek(p)->kind)) {
        if (!(n->u.emit.value = tbr_parse_expr_imut(p))) return NULL;
        n->span = tbr_span_join(n->span, n->u.emit.value->span);
    }
    if (tbr_accept(p, TK_FAT_ARROW)) {
        if (!tbr_at(p, TK_STR_START)) return tbr_error_expected(p, "a port name string after '=>'");
        if (!(n->u.emit.port = tbr_parse_string(p))) return NULL;
        n->span = tbr_span_join(n->span, n->u.emit.port->span);
    }
    return n;
}

tbr_node *tbr_parse_expr(tbr_parser *p) {
    if (p->failed) return NULL;
    const tbr_token *t = tbr_peek(p);
    switch (t->kind) {
    case TK_LET: return parse_let(p);
    case TK_EMIT: return parse_emit(p);
    case TK_DROP: tbr_next(p); return tbr_node_new(p, N_DROP, t->span);
    case TK_MATCH: return tbr_parse_match(p, true);
    case TK_FOR: return tbr_parse_for(p, true);
    default: return tbr_parse_expr_imut(p);
    }
}

tbr_node **tbr_parse_block(tbr_parser *p, uint32_t *count, bool mutable_exprs) {
    nodes body = {0};
    for (;;) {
        tbr_node *e = mutable_exprs ? tbr_parse_expr(p) : tbr_parse_expr_imut(p);
        if (!e || !nodes_push(p, &body, e)) return NULL;
        /* mutable blocks use ';' (Tremor 0.13), immutable ones ',' */
        if (!tbr_accept(p, mutable_exprs ? TK_SEMI : TK_COMMA)) break;
        tbr_tok k = tbr_peek(p)->kind;
        if (k == TK_CASE || k == TK_DEFAULT || k == TK_END) break; /* a trailing separator */
    }
    *count = body.count;
    return body.items;
}

