/* parse_pattern.c - match and for expressions, case patterns (record, array, tuple, test,
 * binding, literal) and extractor tests. */
#include <stdlib.h>
#include <string.h>

#include "lang/parser.h"

static tbr_pattern *pattern_new(tbr_parser *p, tbr_pattern_kind kind, tbr_span span) {
    tbr_pattern *pat = tbr_alloc(p, sizeof *pat);
    if (pat) {
        pat->kind = kind;
        pat->span = span;
    }
    return pat;
}

static bool track_extractor(tbr_parser *p, tbr_extractor *x) {
    if (p->nextractors == p->extractors_cap) {
        uint32_t ncap = p->extractors_cap ? p->extractors_cap * 2 : 8;
        tbr_extractor **n = realloc(p->extractors, ncap * sizeof *n);
        if (!n) {
            tbr_extractor_free(x);
            p->oom = p->failed = true;
            return false;
        }
        p->extractors = n;
        p->extractors_cap = ncap;
    }
    p->extractors[p->nextractors++] = x;
    return true;
}

tbr_extractor *tbr_parse_test(tbr_parser *p) {
    const tbr_token *kind = tbr_expect(p, TK_IDENT, "an extractor kind such as re, glob, json, kv, dissect, cidr or grok");
    if (!kind) return NULL;
    const tbr_token *pat = tbr_expect(p, TK_EXTRACTOR, "'|pattern|' after the extractor kind");
    if (!pat) return NULL;
    char err[512];
    tbr_extractor *x = tbr_extractor_new(kind->text, kind->len, pat->text, pat->len, err, sizeof err);
    if (!x) {
        tbr_error(p, tbr_span_join(kind->span, pat->span), "%s", err);
        return NULL;
    }
    return track_extractor(p, x) ? x : NULL;
}

static tbr_pattern *parse_record_pattern(tbr_parser *p);
static tbr_pattern *parse_items_pattern(tbr_parser *p, bool tuple);

/* One pattern inside an array or tuple pattern, or a fn case. */
static tbr_pattern *parse_item_pattern(tbr_parser *p) {
    const tbr_token *t = tbr_peek(p);
    if (t->kind == TK_UNDERSCORE) {
        tbr_next(p);
        return pattern_new(p, PAT_ANY, t->span);
    }
    if (t->kind == TK_TILDE) {
        tbr_next(p);
        tbr_pattern *pat = pattern_new(p, PAT_TEST, t->span);
        if (pat && !(pat->test = tbr_parse_test(p))) return NULL;
        return pat;
    }
    if (t->kind == TK_PCT_LBRACE) return parse_record_pattern(p);
    if (t->kind == TK_PCT_LBRACKET) return parse_items_pattern(p, false);
    if (t->kind == TK_PCT_LPAREN) return parse_items_pattern(p, true);
    tbr_node *e = tbr_parse_expr_imut(p);
    if (!e) return NULL;
    tbr_pattern *pat = pattern_new(p, PAT_EXPR, e->span);
    if (pat) pat->expr = e;
    return pat;
}

/* %[ a, b ] (each must match some item) or %( a, b, ... ) (position by position). */
static tbr_pattern *parse_items_pattern(tbr_parser *p, bool tuple) {
    const tbr_token *open = tbr_next(p);
    tbr_pattern *items[128];
    uint32_t n = 0;
    bool open_tuple = false;
    tbr_tok close_kind = tuple ? TK_RPAREN : TK_RBRACKET;
    while (!tbr_at(p, close_kind)) {
        if (tuple && tbr_accept(p, TK_ELLIPSIS)) {
            open_tuple = true;
            break;
        }
        if (n == 128) return TBR_FAIL(p, tbr_peek(p)->span, "a pattern has at most 128 items");
        if (!(items[n++] = parse_item_pattern(p))) return NULL;
        if (!tbr_accept(p, TK_COMMA)) break;
    }
    const tbr_token *close = tbr_expect(p, close_kind, tuple ? "',', '...' or ')'" : "',' or ']'");
    if (!close) return NULL;
    tbr_pattern *pat = pattern_new(p, tuple ? PAT_TUPLE : PAT_ARRAY, tbr_span_join(open->span, close->span));
    if (!pat) return NULL;
    pat->items = tbr_alloc(p, n * sizeof *items);
    if (n && !pat->items) return NULL;
    if (n) memcpy(pat->items, items, n * sizeof *items);
    pat->nitems = n;
    pat->open = open_tuple;
    return pat;
}

static tbr_op cmp_op(tbr_tok k) {
    switch (k) {
    case TK_EQ: return OP_EQ;
    case TK_NE: return OP_NE;
    case TK_LT: return OP_LT;
    case TK_LE: return OP_LE;
    case TK_GT: return OP_GT;
    case TK_GE: return OP_GE;
    default: return OP_NONE;
    }
}

/* A field name in a record pattern: an identifier, a quoted `identifier` or a string. */
static const tbr_token *field_name(tbr_parser *p) {
    const tbr_token *t = tbr_peek(p);
    if (t->kind == TK_IDENT) return tbr_next(p);
    return tbr_error_expected(p, "a field name, 'present', 'absent' or '}'");
}

static tbr_pattern *parse_record_pattern(tbr_parser *p) {
    const tbr_token *open = tbr_next(p); /* %{ */
    tbr_field_pattern fields[128];
    uint32_t n = 0;
    while (!tbr_at(p, TK_RBRACE)) {
        if (n == 128) return TBR_FAIL(p, tbr_peek(p)->span, "a record pattern has at most 128 fields");
        tbr_field_pattern *f = &fields[n++];
        memset(f, 0, sizeof *f);
        const tbr_token *t = tbr_peek(p);
        if (t->kind == TK_PRESENT || t->kind == TK_ABSENT) {
            tbr_next(p);
            const tbr_token *name = field_name(p);
            if (!name) return NULL;
            f->kind = t->kind == TK_PRESENT ? FIELD_PRESENT : FIELD_ABSENT;
            f->key = name->text;
            f->key_len = name->len;
            f->span = tbr_span_join(t->span, name->span);
        } else {
            const tbr_token *name = field_name(p);
            if (!name) return NULL;
            f->key = name->text;
            f->key_len = name->len;
            f->span = name->span;
            /* alias = field ~= test: the extraction is kept under alias */
            if (tbr_at(p, TK_ASSIGN)) {
                tbr_next(p);
                const tbr_token *real = field_name(p);
                if (!real) return NULL;
                f->alias = f->key;
                f->alias_len = f->key_len;
                f->key = real->text;
                f->key_len = real->len;
                if (!tbr_at(p, TK_TILDE_EQ)) return tbr_error_expected(p, "'~=' and an extractor after 'alias = field'");
            }
            const tbr_token *op = tbr_next(p);
            if (op->kind == TK_TILDE_EQ) {
                tbr_tok k = tbr_peek(p)->kind;
                if (k == TK_PCT_LBRACE || k == TK_PCT_LBRACKET || k == TK_PCT_LPAREN) {
                    if (f->alias) return TBR_FAIL(p, f->span, "an alias takes an extractor, not a pattern");
                    f->kind = FIELD_PATTERN;
                    f->sub = k == TK_PCT_LBRACE ? parse_record_pattern(p) : parse_items_pattern(p, k == TK_PCT_LPAREN);
                    if (!f->sub) return NULL;
                } else {
                    f->kind = FIELD_TEST;
                    if (!(f->test = tbr_parse_test(p))) return NULL;
                }
            } else if (cmp_op(op->kind) != OP_NONE) {
                f->kind = FIELD_CMP;
                f->op = cmp_op(op->kind);
                if (!(f->expr = tbr_parse_expr_imut(p))) return NULL;
            } else {
                p->pos--;
                return tbr_error_expected(p, "'~=', a comparison (==, !=, <, <=, >, >=) after the field name");
            }
            f->span = tbr_span_join(f->span, p->toks.items[p->pos - 1].span);
        }
        if (!tbr_accept(p, TK_COMMA)) break;
    }
    const tbr_token *close = tbr_expect(p, TK_RBRACE, "',' or '}'");
    if (!close) return NULL;
    tbr_pattern *pat = pattern_new(p, PAT_RECORD, tbr_span_join(open->span, close->span));
    if (!pat) return NULL;
    pat->fields = tbr_alloc(p, n * sizeof *fields);
    if (n && !pat->fields) return NULL;
    if (n) memcpy(pat->fields, fields, n * sizeof *fields);
    pat->nfields = n;
    return pat;
}

tbr_pattern *tbr_parse_case_pattern(tbr_parser *p) {
    const tbr_token *t = tbr_peek(p);
    if (t->kind == TK_IDENT && tbr_peek_at(p, 1)->kind == TK_ASSIGN) {
        tbr_next(p);
        tbr_next(p);
        tbr_pattern *sub = tbr_parse_case_pattern(p);
        if (!sub) return NULL;
        tbr_pattern *pat = pattern_new(p, PAT_BIND, tbr_span_join(t->span, sub->span));
        if (!pat) return NULL;
        pat->sub = sub;
        pat->slot = tbr_local_declare(p, t->text, t->len);
        return pat;
    }
    return parse_item_pattern(p);
}

/* The cases of a match or for, up to 'end'. */
static tbr_case *parse_cases(tbr_parser *p, bool mutable_exprs, bool for_loop, uint32_t *count, bool *has_default) {
    tbr_case cases[256];
    uint32_t n = 0;
    *has_default = false;
    while (!tbr_at(p, TK_END)) {
        const tbr_token *t = tbr_peek(p);
        if (n == 256) return TBR_FAIL(p, t->span, "at most 256 cases");
        tbr_case *c = &cases[n];
        memset(c, 0, sizeof *c);
        c->span = t->span;
        if (t->kind == TK_DEFAULT) {
            if (for_loop) return TBR_FAIL(p, t->span, "a for comprehension has no default case");
            if (*has_default) return TBR_FAIL(p, t->span, "a second default case");
            tbr_next(p);
            *has_default = true;
        } else if (t->kind == TK_CASE) {
            tbr_next(p);
            if (*has_default) return TBR_FAIL(p, t->span, "a case after the default case can never match");
            if (!for_loop && !(c->pattern = tbr_parse_case_pattern(p))) return NULL;
        } else {
            return tbr_error_expected(p, "'case', 'default' or 'end'");
        }
        if (tbr_accept(p, TK_WHEN) && !(c->guard = tbr_parse_expr_imut(p))) return NULL;
        if (!tbr_expect(p, TK_FAT_ARROW, "'=>'")) return NULL;
        if (!(c->body = tbr_parse_block(p, &c->nbody, mutable_exprs))) return NULL;
        n++;
    }
    if (n == 0) return TBR_FAIL(p, tbr_peek(p)->span, "at least one case is needed before 'end'");
    tbr_case *out = tbr_alloc(p, n * sizeof *cases);
    if (!out) return NULL;
    memcpy(out, cases, n * sizeof *cases);
    *count = n;
    return out;
}

tbr_node *tbr_parse_match(tbr_parser *p, bool mutable_exprs) {
    const tbr_token *kw = tbr_next(p); /* match */
    tbr_node *target = tbr_parse_expr_imut(p);
    if (!target || !tbr_expect(p, TK_OF, "'of'")) return NULL;
    tbr_node *n = tbr_node_new(p, N_MATCH, kw->span);
    if (!n) return NULL;
    n->u.match.target = target;
    if (!(n->u.match.cases = parse_cases(p, mutable_exprs, false, &n->u.match.ncases, &n->u.match.has_default))) return NULL;
    const tbr_token *end = tbr_expect(p, TK_END, "'end' to close the match");
    if (!end) return NULL;
    n->span = tbr_span_join(kw->span, end->span);
    return n;
}

/* for target of case (k, v) [when guard] => block ... end */
tbr_node *tbr_parse_for(tbr_parser *p, bool mutable_exprs) {
    const tbr_token *kw = tbr_next(p); /* for */
    tbr_node *target = tbr_parse_expr_imut(p);
    if (!target || !tbr_expect(p, TK_OF, "'of'")) return NULL;
    tbr_node *n = tbr_node_new(p, N_FOR, kw->span);
    if (!n) return NULL;
    n->u.match.target = target;
    /* every case names the same two locals: read them from the first */
    if (!tbr_at(p, TK_CASE)) return tbr_error_expected(p, "'case (key, value)'");
    tbr_case cases[64];
    uint32_t count = 0;
    while (tbr_at(p, TK_CASE)) {
        const tbr_token *c = tbr_next(p);
        if (count == 64) return TBR_FAIL(p, c->span, "a for has at most 64 cases");
        if (!tbr_expect(p, TK_LPAREN, "'(' and the key and value names")) return NULL;
        const tbr_token *k = tbr_expect(p, TK_IDENT, "the name for the key or index");
        if (!k || !tbr_expect(p, TK_COMMA, "','")) return NULL;
        const tbr_token *v = tbr_expect(p, TK_IDENT, "the name for the value");
        if (!v || !tbr_expect(p, TK_RPAREN, "')'")) return NULL;
        uint32_t ks = tbr_local_declare(p, k->text, k->len), vs = tbr_local_declare(p, v->text, v->len);
        if (count == 0) {
            n->u.match.key_slot = ks;
            n->u.match.value_slot = vs;
        } else if (ks != n->u.match.key_slot || vs != n->u.match.value_slot) {
            return TBR_FAIL(p, tbr_span_join(k->span, v->span), "every case of a for must use the same key and value names");
        }
        tbr_case *cs = &cases[count];
        memset(cs, 0, sizeof *cs);
        cs->span = c->span;
        if (tbr_accept(p, TK_WHEN) && !(cs->guard = tbr_parse_expr_imut(p))) return NULL;
        if (!tbr_expect(p, TK_FAT_ARROW, "'=>'")) return NULL;
        if (!(cs->body = tbr_parse_block(p, &cs->nbody, mutable_exprs))) return NULL;
        count++;
    }
    const tbr_token *end = tbr_expect(p, TK_END, "'case' or 'end' to close the for");
    if (!end) return NULL;
    n->u.match.cases = tbr_alloc(p, count * sizeof *cases);
    if (!n->u.match.cases) return NULL;
    memcpy(n->u.match.cases, cases, count * sizeof *cases);
    n->u.match.ncases = count;
    n->span = tbr_span_join(kw->span, end->span);
    return n;
}
