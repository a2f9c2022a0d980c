/* parse_script.c - the top level of a script: use, const, fn, intrinsic and expressions. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lang/parser.h"

/* Parses module src and binds its functions and constants in p as alias::name. */
static bool load_module(tbr_parser *p, const tbr_source *src, const char *alias, uint32_t alias_len, tbr_span at) {
    if (p->module_depth >= 16) {
        tbr_error(p, at, "modules use each other more than 16 deep (is there a cycle?)");
        return false;
    }
    tbr_diags diags;
    tbr_diags_init(&diags, src);
    tbr_parser sub;
    tbr_parser_init(&sub, src, p->arena, &diags);
    sub.module_depth = p->module_depth + 1;
    tbr_scope top = {0};
    sub.scope = &top;
    while (!sub.failed && !tbr_at(&sub, TK_EOF)) {
        bool handled;
        if (!tbr_parse_toplevel_decl(&sub, &handled)) break;
        if (!handled) {
            tbr_error(&sub, tbr_peek(&sub)->span, "a module holds definitions (fn, const, use), not expressions");
            break;
        }
        if (!tbr_accept(&sub, TK_SEMI) && !tbr_at(&sub, TK_EOF)) tbr_error_expected(&sub, "';' between definitions");
    }
    bool ok = !sub.failed;
    if (!ok && diags.count) {
        char buf[1024];
        unsigned line, col;
        tbr_source_position(src, diags.items[0].span.start, &line, &col);
        snprintf(buf, sizeof buf, "%s:%u:%u: %s", src->name, line, col, diags.items[0].message);
        tbr_error(p, at, "in module %.*s: %s", (int)alias_len, alias, buf);
    }
    for (uint32_t i = 0; ok && i < sub.globals.count; i++) {
        const tbr_binding *b = &sub.globals.items[i];
        if (b->kind != BIND_FN && b->kind != BIND_CONST) continue;
        char *q = tbr_alloc(p, alias_len + 2 + b->len + 1);
        if (!q) break;
        memcpy(q, alias, alias_len);
        memcpy(q + alias_len, "::", 2);
        memcpy(q + alias_len + 2, b->name, b->len);
        tbr_binding *nb = tbr_scope_add(p, &p->globals, q, alias_len + 2 + b->len);
        if (!nb) break;
        *nb = *b;
        nb->name = q;
        nb->len = alias_len + 2 + b->len;
    }
    tbr_adopt_extractors(p, &sub);
    free(top.items);
    tbr_parser_fini(&sub);
    tbr_diags_free(&diags);
    return ok && !p->failed;
}

/* use std::string [as s];  binds the alias s (or string) to the module path. A module that
 * is not the standard library is a file: use lib::helpers; reads lib/helpers.tremor and
 * makes its functions and constants available as helpers::name. */
static bool parse_use(tbr_parser *p) {
    const tbr_token *kw = tbr_next(p);
    const tbr_token *first = tbr_expect(p, TK_IDENT, "a module path after 'use'");
    if (!first) return false;
    const tbr_token *last = first;
    char rel[1024];
    size_t rlen = (size_t)snprintf(rel, sizeof rel, "%.*s", (int)first->len, first->text);
    while (tbr_accept(p, TK_COLONCOLON)) {
        if (!(last = tbr_expect(p, TK_IDENT, "a name after '::'"))) return false;
        if (rlen < sizeof rel) rlen += (size_t)snprintf(rel + rlen, sizeof rel - rlen, "/%.*s", (int)last->len, last->text);
    }
    const tbr_token *alias = last;
    if (tbr_accept(p, TK_AS) && !(alias = tbr_expect(p, TK_IDENT, "a name after 'as'"))) return false;
    tbr_span at = tbr_span_join(kw->span, last->span);
    bool std = (first->len == 3 && !memcmp(first->text, "std", 3)) || (first->len == 6 && !memcmp(first->text, "tremor", 6));
    if (!std) {
        char tried[2048];
        const tbr_source *src = tbr_find_module(p, rel, ".tremor", tried, sizeof tried);
        if (!src) {
            tbr_diag *d = tbr_error(p, at, "module '%.*s' not found", (int)(last->span.end - first->span.start), p->src->text + first->span.start);
            tbr_diag_hint(d, "looked for %s (set TREMOR_PATH to more directories)", tried);
            return false;
        }
        return load_module(p, src, alias->text, alias->len, at);
    }
    tbr_binding *b = tbr_scope_add(p, &p->globals, alias->text, alias->len);
    if (!b) return false;
    b->kind = BIND_MODULE;
    b->target = p->src->text + first->span.start;
    b->target_len = last->span.end - first->span.start;
    return true;
}

static bool parse_const(tbr_parser *p) {
    tbr_next(p); /* const */
    const tbr_token *name = tbr_expect(p, TK_IDENT, "the constant's name");
    if (!name || !tbr_expect(p, TK_ASSIGN, "'='")) return false;
    if (tbr_scope_find(&p->globals, name->text, name->len)) {
        tbr_error(p, name->span, "'%.*s' is already defined", (int)name->len, name->text);
        return false;
    }
    tbr_node *v = tbr_parse_expr_imut(p);
    if (!v) return false;
    if (v->kind != N_LITERAL) {
        tbr_error(p, v->span, "a constant must be computable when the script is compiled");
        return false;
    }
    tbr_binding *b = tbr_scope_add(p, &p->globals, name->text, name->len);
    if (!b) return false;
    b->kind = BIND_CONST;
    b->value = v->u.lit;
    return true;
}

/* fn name(a, b[, ...]) with exprs end  |  fn name(a, b) of case (..) => .. default => .. end */
static bool parse_fn(tbr_parser *p) {
    const tbr_token *kw = tbr_next(p); /* fn */
    const tbr_token *name = tbr_expect(p, TK_IDENT, "the function's name");
    if (!name) return false;
    if (tbr_scope_find(&p->globals, name->text, name->len)) {
        tbr_error(p, name->span, "'%.*s' is already defined", (int)name->len, name->text);
        return false;
    }
    tbr_user_fn *fn = tbr_alloc(p, sizeof *fn);
    if (!fn) return false;
    fn->name = name->text;
    fn->name_len = name->len;
    fn->span = tbr_span_join(kw->span, name->span);
    tbr_scope fs = {0};
    fs.fn = fn;
    tbr_scope *outer = p->scope;
    p->scope = &fs;
    bool ok = false;
    if (!tbr_expect(p, TK_LPAREN, "'('")) goto done;
    while (!tbr_at(p, TK_RPAREN)) {
        if (tbr_accept(p, TK_ELLIPSIS)) {
            fn->variadic = true;
            break;
        }
        const tbr_token *param = tbr_expect(p, TK_IDENT, "a parameter name or ')'");
        if (!param) goto done;
        if (tbr_scope_find(&fs, param->text, param->len)) {
            tbr_error(p, param->span, "parameter '%.*s' is declared twice", (int)param->len, param->text);
            goto done;
        }
        tbr_local_declare(p, param->text, param->len);
        fn->nparams++;
        if (!tbr_accept(p, TK_COMMA)) break;
    }
    if (!tbr_expect(p, TK_RPAREN, "',' or ')'")) goto done;
    if (fn->variadic) tbr_local_declare(p, "args", 4); /* the extra arguments, as an array */
    /* bound before the body is parsed, so the body may call itself */
    tbr_binding *b = tbr_scope_add(p, &p->globals, name->text, name->len);
    if (!b) goto done;
    b->kind = BIND_FN;
    b->fn = fn;
    if (tbr_accept(p, TK_WITH)) {
        fn->body = tbr_parse_block(p, &fn->nbody, true);
        if (!fn->body) goto done;
    } else if (tbr_accept(p, TK_OF)) {
        /* cases over the arguments: case (pattern, pattern) [when ...] => ... */
        tbr_case cases[64];
        uint32_t n = 0;
        bool seen_default = false;
        /* the cases end with a default, as Tremor's grammar has it */
        while (!p->failed) {
            if (tbr_at(p, TK_END)) {
                tbr_error_expected(p, "'case' or 'default'");
                goto done;
            }
            const tbr_token *t = tbr_peek(p);
            if (n == 64) {
                tbr_error(p, t->span, "a function has at most 64 cases");
                goto done;
            }
            tbr_case *c = &cases[n];
            memset(c, 0, sizeof *c);
            c->span = t->span;
            if (tbr_accept(p, TK_DEFAULT)) {
                seen_default = true;
            } else if (tbr_accept(p, TK_CASE)) {
                if (!tbr_at(p, TK_LPAREN)) {
                    tbr_error_expected(p, "'(' and one pattern per argument");
                    goto done;
                }
                /* (a, b) is read as a tuple pattern over the arguments */
                const tbr_token *open = tbr_next(p);
                tbr_pattern *tuple = tbr_alloc(p, sizeof *tuple);
                if (!tuple) goto done;
                tuple->kind = PAT_TUPLE;
                tbr_pattern *items[32];
                uint32_t k = 0;
                while (!tbr_at(p, TK_RPAREN) && k < 32) {
                    if (!(items[k++] = tbr_parse_case_pattern(p))) goto done;
                    if (!tbr_accept(p, TK_COMMA)) break;
                }
                const tbr_token *close = tbr_expect(p, TK_RPAREN, "',' or ')'");
                if (!close) goto done;
                if (k != fn->nparams) {
                    tbr_error(p, tbr_span_join(open->span, close->span), "%u patterns for %u parameters", k, fn->nparams);
                    goto done;
                }
                tuple->items = tbr_alloc(p, k * sizeof *items);
                if (k && !tuple->items) goto done;
                if (k) memcpy(tuple->items, items, k * sizeof *items);
                tuple->nitems = k;
                tuple->span = tbr_span_join(open->span, close->span);
                c->pattern = tuple;
            } else {
                tbr_error_expected(p, "'case' or 'default'");
                goto done;
            }
            if (tbr_accept(p, TK_WHEN) && !(c->guard = tbr_parse_expr_imut(p))) goto done;
            if (!tbr_expect(p, TK_FAT_ARROW, "'=>'")) goto done;
            if (!(c->body = tbr_parse_block(p, &c->nbody, true))) goto done;
            n++;
            if (seen_default) break;
        }
        fn->cases = tbr_alloc(p, n * sizeof *cases);
        if (!fn->cases) goto done;
        memcpy(fn->cases, cases, n * sizeof *cases);
        fn->ncases = n;
    } else {
        tbr_error_expected(p, "'with' or 'of' after the parameters");
        goto done;
    }
    if (!tbr_expect(p, TK_END, "'end' to close the function")) goto done;
    fn->nlocals = fs.nlocals;
    ok = true;
done:
    p->scope = outer;
    free(fs.items);
    return ok;
}

/* intrinsic fn name(args) as module::name: the standard library's own declarations; the
 * native function is bound to name. */
static bool parse_intrinsic(tbr_parser *p) {
    const tbr_token *kw = tbr_next(p);
    if (!tbr_expect(p, TK_FN, "'fn'")) return false;
    while (!tbr_at(p, TK_AS) && !tbr_at(p, TK_EOF)) tbr_next(p);
    if (!tbr_expect(p, TK_AS, "'as'")) return false;
    while (tbr_at(p, TK_IDENT) || tbr_at(p, TK_COLONCOLON)) tbr_next(p);
    (void)kw;
    return true;
}

bool tbr_parse_toplevel_decl(tbr_parser *p, bool *handled) {
    *handled = true;
    switch (tbr_peek(p)->kind) {
    case TK_USE: return parse_use(p);
    case TK_CONST: return parse_const(p);
    case TK_FN: return parse_fn(p);
    case TK_INTRINSIC: return parse_intrinsic(p);
    case TK_MOD:
        tbr_error(p, tbr_peek(p)->span, "inline modules (mod ... end) are not supported yet: put the definitions at the top level");
        return false;
    default: *handled = false; return true;
    }
}
