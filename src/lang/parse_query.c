/* parse_query.c - trickle: define/create of windows, operators, scripts and streams, and
 * select statements, resolved into the query's node graph as they are parsed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lang/parser.h"
#include "lang/query.h"
#include "value/arena.h"

/* Growable arrays in the parser's arena. */
#define GROW(p, arr, count, cap)                                                        \
    do {                                                                                \
        if ((count) == (cap)) {                                                         \
            uint32_t ncap_ = (cap) ? (cap) * 2 : 8;                                     \
            void *n_ = tbr_alloc((p), ncap_ * sizeof *(arr));                           \
            if (!n_) return false;                                                      \
            if (count) memcpy(n_, (arr), (count) * sizeof *(arr));                      \
            (arr) = n_;                                                                 \
            (cap) = ncap_;                                                              \
        }                                                                               \
    } while (0)

typedef struct qparser {
    tbr_parser *p;
    tbr_query *q;
    tbr_registry *reg;
    uint32_t windows_cap, operators_cap, scripts_cap, nodes_cap, selects_cap;
} qparser;

static bool same(const char *a, uint32_t an, const char *b, uint32_t bn) { return an == bn && memcmp(a, b, an) == 0; }

static const char *cstr(tbr_parser *p, const char *s, size_t n) {
    char *d = tbr_alloc(p, n + 1);
    if (d) memcpy(d, s, n);
    return d;
}

/* with name = expr, ... end  into a record; values must be constants. */
static bool parse_with(tbr_parser *p, tb_value *out) {
    *out = tb_object();
    if (!tbr_accept(p, TK_WITH)) return true;
    do {
        if (tbr_at(p, TK_END)) break;
        const tbr_token *name = tbr_expect(p, TK_IDENT, "a setting name");
        if (!name || !tbr_expect(p, TK_ASSIGN, "'='")) return false;
        tbr_node *v = tbr_parse_expr_imut(p);
        if (!v) return false;
        if (v->kind != N_LITERAL) {
            tbr_error(p, v->span, "the value of '%.*s' must be a constant", (int)name->len, name->text);
            return false;
        }
        tb_value *slot = tb_object_set(p->arena, out, name->text, name->len);
        if (!slot) return false;
        *slot = v->u.lit;
    } while (tbr_accept(p, TK_COMMA));
    return tbr_expect(p, TK_END, "',' or 'end' to close the with clause") != NULL;
}

static int find_node(const tbr_query *q, const char *name, uint32_t len) {
    for (uint32_t i = 0; i < q->nnodes; i++)
        if (same(q->nodes[i].name, q->nodes[i].name_len, name, len)) return (int)i;
    return -1;
}

static bool add_node(qparser *qp, tbr_qnode_kind kind, const tbr_token *name, uint32_t def, tb_value config) {
    tbr_query *q = qp->q;
    tbr_parser *p = qp->p;
    if (find_node(q, name->text, name->len) >= 0) {
        tbr_error(p, name->span, "'%.*s' is already defined in this pipeline", (int)name->len, name->text);
        return false;
    }
    GROW(p, q->nodes, q->nnodes, qp->nodes_cap);
    q->nodes[q->nnodes++] = (tbr_qnode){kind, name->text, name->len, def, config, name->span};
    return true;
}

static bool builtin_node(qparser *qp, tbr_qnode_kind kind, const char *name, uint32_t len) {
    tbr_query *q = qp->q;
    tbr_parser *p = qp->p;
    GROW(p, q->nodes, q->nnodes, qp->nodes_cap);
    q->nodes[q->nnodes++] = (tbr_qnode){kind, name, len, 0, tb_object(), {0, 0}};
    return true;
}

/* define window NAME from tumbling|sliding [with ... end]  (0.13), or the older
 * define tumbling|sliding window NAME [with ... end] */
static bool define_window(qparser *qp) {
    tbr_parser *p = qp->p;
    const tbr_token *kind = NULL, *name;
    if (tbr_at(p, TK_IDENT)) {
        kind = tbr_next(p);
        if (!tbr_expect(p, TK_WINDOW, "'window'")) return false;
        if (!(name = tbr_expect(p, TK_IDENT, "the window's name"))) return false;
    } else {
        tbr_next(p); /* window */
        if (!(name = tbr_expect(p, TK_IDENT, "the window's name")) || !tbr_expect(p, TK_FROM, "'from'")) return false;
        if (!(kind = tbr_expect(p, TK_IDENT, "tumbling or sliding"))) return false;
    }
    tbr_window_def w = {name->text, name->len, WINDOW_TUMBLING, 0, 0, name->span};
    if (same(kind->text, kind->len, "sliding", 7)) w.kind = WINDOW_SLIDING;
    else if (!same(kind->text, kind->len, "tumbling", 8)) {
        tbr_error(p, kind->span, "unknown window kind '%.*s': expected tumbling or sliding", (int)kind->len, kind->text);
        return false;
    }
    for (uint32_t i = 0; i < qp->q->nwindows; i++)
        if (same(qp->q->windows[i].name, qp->q->windows[i].name_len, name->text, name->len)) {
            tbr_error(p, name->span, "window '%.*s' is already defined", (int)name->len, name->text);
            return false;
        }
    tb_value with;
    const tbr_token *with_tok = tbr_peek(p);
    if (tbr_at(p, TK_WITH)) {
        if (!parse_with(p, &with)) return false;
    } else {
        with = tb_object();
    }
    for (uint32_t i = 0; i < with.len; i++) {
        const tb_member *m = &with.as.members[i];
        int64_t v;
        bool is_size = same(m->key, m->key_len, "size", 4), is_interval = same(m->key, m->key_len, "interval", 8);
        if (!is_size && !is_interval) {
            tbr_error(p, with_tok->span, "unknown window setting '%.*s': expected size (events) or interval (nanoseconds)", (int)m->key_len, m->key);
            return false;
        }
        if (!tb_value_as_i64(&m->value, &v) || v <= 0) {
            tbr_error(p, with_tok->span, "window %s must be a positive integer", is_size ? "size" : "interval");
            return false;
        }
        if (is_size) w.size = (uint64_t)v;
        else w.interval_ns = (uint64_t)v;
    }
    if (!w.size && !w.interval_ns) {
        tbr_error(p, name->span, "window '%.*s' needs a size (events) or an interval (nanoseconds)", (int)name->len, name->text);
        return false;
    }
    if (w.size && w.interval_ns) {
        tbr_error(p, name->span, "window '%.*s' has both a size and an interval: choose one", (int)name->len, name->text);
        return false;
    }
    GROW(p, qp->q->windows, qp->q->nwindows, qp->windows_cap);
    qp->q->windows[qp->q->nwindows++] = w;
    return true;
}

/* A module::kind path, into a NUL-terminated string. */
static const char *parse_kind(tbr_parser *p, tbr_span *span) {
    const tbr_token *first = tbr_expect_name(p, "an operator kind such as grouper::bucket");
    if (!first) return NULL;
    const tbr_token *last = first;
    while (tbr_accept(p, TK_COLONCOLON))
        if (!(last = tbr_expect_name(p, "a name after '::'"))) return NULL;
    *span = tbr_span_join(first->span, last->span);
    return cstr(p, p->src->text + first->span.start, span->end - span->start);
}

static bool check_operator_kind(qparser *qp, const char *kind, tbr_span span) {
    if (!qp->reg || tbr_registry_find(qp->reg, TB_KIND_OPERATOR, kind)) return true;
    tbr_diag *d = tbr_error(qp->p, span, "unknown operator '%s'", kind);
    if (d) {
        char known[896] = "";
        size_t used = 0;
        tbr_plugin *pl;
        for (size_t i = 0; (pl = tbr_registry_plugin_at(qp->reg, i)); i++)
            for (uint32_t c = 0; c < pl->component_count && used < sizeof known; c++)
                if (pl->components[c].desc.kind == TB_KIND_OPERATOR)
                    used += (size_t)snprintf(known + used, sizeof known - used, "%s%s", used ? ", " : "", pl->components[c].desc.name);
        tbr_diag_hint(d, used ? "the operators loaded are: %s" : "no operator plugin is loaded%s", known);
    }
    return false;
}

/* define operator NAME from module::kind [with ... end]  (0.13), or define module::kind operator NAME */
static bool define_operator(qparser *qp) {
    tbr_parser *p = qp->p;
    tbr_operator_def d = {0};
    const tbr_token *name;
    if (tbr_at(p, TK_IDENT)) {
        if (!(d.kind = parse_kind(p, &d.span)) || !tbr_expect(p, TK_OPERATOR, "'operator'")) return false;
        if (!(name = tbr_expect(p, TK_IDENT, "the operator's name"))) return false;
    } else {
        tbr_next(p); /* operator */
        if (!(name = tbr_expect(p, TK_IDENT, "the operator's name")) || !tbr_expect(p, TK_FROM, "'from'")) return false;
        if (!(d.kind = parse_kind(p, &d.span))) return false;
    }
    if (!check_operator_kind(qp, d.kind, d.span)) return false;
    d.name = name->text;
    d.name_len = name->len;
    if (!parse_with(p, &d.config)) return false;
    for (uint32_t i = 0; i < qp->q->noperators; i++)
        if (same(qp->q->operators[i].name, qp->q->operators[i].name_len, name->text, name->len)) {
            tbr_error(p, name->span, "operator '%.*s' is already defined", (int)name->len, name->text);
            return false;
        }
    GROW(p, qp->q->operators, qp->q->noperators, qp->operators_cap);
    qp->q->operators[qp->q->noperators++] = d;
    return true;
}

/* define script NAME [args a [= default], ...] script ... end */
static bool define_script(qparser *qp) {
    tbr_parser *p = qp->p;
    tbr_next(p); /* script */
    const tbr_token *name = tbr_expect(p, TK_IDENT, "the script's name");
    if (!name) return false;
    tbr_script_def d = {name->text, name->len, NULL, tb_object(), NULL, name->span};
    bool required[64];
    if (tbr_accept(p, TK_ARGS)) {
        do {
            const tbr_token *arg = tbr_expect(p, TK_IDENT, "an argument name");
            if (!arg) return false;
            if (d.args.len == 64) {
                tbr_error(p, arg->span, "a script has at most 64 arguments");
                return false;
            }
            uint32_t index = d.args.len;
            tb_value *slot = tb_object_set(p->arena, &d.args, arg->text, arg->len);
            if (!slot) return false;
            /* an argument without a default must be given by create ... with */
            required[index] = true;
            if (tbr_accept(p, TK_ASSIGN)) {
                required[index] = false;
                tbr_node *v = tbr_parse_expr_imut(p);
                if (!v) return false;
                if (v->kind != N_LITERAL) {
                    tbr_error(p, v->span, "the default of '%.*s' must be a constant", (int)arg->len, arg->text);
                    return false;
                }
                *slot = v->u.lit;
            }
        } while (tbr_accept(p, TK_COMMA));
    }
    if (d.args.len) {
        if (!(d.required = tbr_alloc(p, d.args.len * sizeof *d.required))) return false;
        memcpy(d.required, required, d.args.len * sizeof *d.required);
    }
    if (!tbr_expect(p, TK_SCRIPT, "'script' and the script's body")) return false;
    tbr_script *s = tbr_alloc(p, sizeof *s);
    if (!s) return false;
    s->src = p->src;
    if (!tbr_parse_script_body(p, s, true) || !tbr_expect(p, TK_END, "'end' to close the script")) return false;
    d.script = s;
    for (uint32_t i = 0; i < qp->q->nscripts; i++)
        if (same(qp->q->scripts[i].name, qp->q->scripts[i].name_len, name->text, name->len)) {
            tbr_error(p, name->span, "script '%.*s' is already defined", (int)name->len, name->text);
            return false;
        }
    GROW(p, qp->q->scripts, qp->q->nscripts, qp->scripts_cap);
    qp->q->scripts[qp->q->nscripts++] = d;
    return true;
}

/* create stream NAME | create operator NAME [from DEF] [with ... end] | create script ... */
static bool create(qparser *qp) {
    tbr_parser *p = qp->p;
    tbr_next(p); /* create */
    const tbr_token *what = tbr_next(p);
    const tbr_token *name = tbr_expect(p, TK_IDENT, "a name");
    if (!name) return false;
    if (what->kind == TK_STREAM) return add_node(qp, QNODE_STREAM, name, 0, tb_object());
    if (what->kind != TK_OPERATOR && what->kind != TK_SCRIPT) {
        tbr_error(p, what->span, "expected stream, operator or script after 'create'");
        return false;
    }
    const tbr_token *def = name;
    if (tbr_accept(p, TK_FROM) && !(def = tbr_expect(p, TK_IDENT, "the definition's name"))) return false;
    tb_value config;
    if (!parse_with(p, &config)) return false;
    if (what->kind == TK_OPERATOR) {
        for (uint32_t i = 0; i < qp->q->noperators; i++)
            if (same(qp->q->operators[i].name, qp->q->operators[i].name_len, def->text, def->len))
                return add_node(qp, QNODE_OPERATOR, name, i, config);
        tbr_error(p, def->span, "no operator definition named '%.*s': define it first with define operator %.*s from module::kind",
                  (int)def->len, def->text, (int)def->len, def->text);
        return false;
    }
    for (uint32_t i = 0; i < qp->q->nscripts; i++) {
        const tbr_script_def *sd = &qp->q->scripts[i];
        if (!same(sd->name, sd->name_len, def->text, def->len)) continue;
        /* every argument without a default must be given */
        for (uint32_t a = 0; a < sd->args.len; a++) {
            const tb_member *m = &sd->args.as.members[a];
            if (sd->required[a] && !tb_object_get(&config, m->key, m->key_len)) {
                tbr_error(p, name->span, "script '%.*s' needs the argument '%.*s': create script %.*s with %.*s = ... end",
                          (int)def->len, def->text, (int)m->key_len, m->key, (int)name->len, name->text, (int)m->key_len, m->key);
                return false;
            }
        }
        return add_node(qp, QNODE_SCRIPT, name, i, config);
    }
    tbr_error(p, def->span, "no script definition named '%.*s'", (int)def->len, def->text);
    return false;
}

/* IDENT [/ port]: a node of the graph. */
static bool stream_port(qparser *qp, uint32_t *node, const char **port, bool from) {
    tbr_parser *p = qp->p;
    const tbr_token *name = tbr_expect(p, TK_IDENT, from ? "the stream to select from (in, or a stream, operator or script)" : "the stream to select into (out, err, or a stream, operator or script)");
    if (!name) return false;
    int n = find_node(qp->q, name->text, name->len);
    if (n < 0) {
        tbr_diag *d = tbr_error(p, name->span, "unknown stream '%.*s'", (int)name->len, name->text);
        if (d) tbr_diag_hint(d, "create it first with: create stream %.*s", (int)name->len, name->text);
        return false;
    }
    const tbr_qnode *qn = &qp->q->nodes[n];
    if (from && qn->kind == QNODE_OUTPUT) {
        tbr_error(p, name->span, "cannot select from '%.*s': it is an output of the pipeline", (int)name->len, name->text);
        return false;
    }
    if (!from && qn->kind == QNODE_INPUT) {
        tbr_error(p, name->span, "cannot select into '%.*s': it is an input of the pipeline", (int)name->len, name->text);
        return false;
    }
    *node = (uint32_t)n;
    *port = NULL;
    if (tbr_accept(p, TK_SLASH)) {
        const tbr_token *pt = tbr_expect(p, TK_IDENT, "a port name after '/'");
        if (!pt || !(*port = cstr(p, pt->text, pt->len))) return false;
        /* an operator's output ports are known from its plugin: check them now */
        const tbr_component *c = from && qn->kind == QNODE_OPERATOR && qp->reg
                                     ? tbr_registry_find(qp->reg, TB_KIND_OPERATOR, qp->q->operators[qn->def].kind)
                                     : NULL;
        if (c) {
            static const char *const defaults[] = {"out", "err", NULL};
            const char *const *ports = c->vt.op.output_ports ? c->vt.op.output_ports : defaults;
            char known[896] = "";
            size_t used = 0;
            bool found = false;
            for (size_t i = 0; ports[i]; i++) {
                found = found || strcmp(ports[i], *port) == 0;
                if (used < sizeof known) used += (size_t)snprintf(known + used, sizeof known - used, "%s%s", i ? ", " : "", ports[i]);
            }
            if (!found) {
                tbr_diag *d = tbr_error(p, pt->span, "unknown port '%s' of operator '%.*s'", *port, (int)name->len, name->text);
                tbr_diag_hint(d, "its ports are: %s", known);
                return false;
            }
        }
    }
    return true;
}

static bool parse_group(qparser *qp, tbr_group_def *g) {
    tbr_parser *p = qp->p;
    memset(g, 0, sizeof *g);
    if (tbr_at(p, TK_SET) || tbr_at(p, TK_EACH)) {
        bool set = tbr_next(p)->kind == TK_SET;
        if (!tbr_expect(p, TK_LPAREN, "'('")) return false;
        if (!set) {
            g->kind = GROUP_EACH;
            if (!(g->expr = tbr_parse_expr_imut(p))) return false;
            return tbr_expect(p, TK_RPAREN, "')'") != NULL;
        }
        g->kind = GROUP_SET;
        tbr_group_def items[32];
        uint32_t n = 0;
        do {
            if (n == 32) {
                tbr_error(p, tbr_peek(p)->span, "at most 32 group dimensions");
                return false;
            }
            if (!parse_group(qp, &items[n++])) return false;
        } while (tbr_accept(p, TK_COMMA));
        if (!tbr_expect(p, TK_RPAREN, "',' or ')'")) return false;
        g->items = tbr_alloc(p, n * sizeof *items);
        if (!g->items) return false;
        memcpy(g->items, items, n * sizeof *items);
        g->nitems = n;
        return true;
    }
    g->kind = GROUP_EXPR;
    return (g->expr = tbr_parse_expr_imut(p)) != NULL;
}

static bool select_stmt(qparser *qp) {
    tbr_parser *p = qp->p;
    const tbr_token *kw = tbr_next(p); /* select */
    tbr_select s = {0};
    tbr_aggr_sites sites = {0};
    tbr_scope scope = {0};
    tbr_scope *saved = p->scope;
    p->scope = &scope;
    bool ok = false;
    p->aggr_sites = &sites;
    if (!(s.target = tbr_parse_expr_imut(p))) goto done;
    p->aggr_sites = NULL;
    if (!tbr_expect(p, TK_FROM, "'from'") || !stream_port(qp, &s.from_node, &s.from_port, true)) goto done;
    if (tbr_accept(p, TK_LBRACKET)) {
        uint32_t w[16], n = 0;
        do {
            const tbr_token *wn = tbr_expect(p, TK_IDENT, "a window name");
            if (!wn) goto done;
            uint32_t i;
            for (i = 0; i < qp->q->nwindows; i++)
                if (same(qp->q->windows[i].name, qp->q->windows[i].name_len, wn->text, wn->len)) break;
            if (i == qp->q->nwindows) {
                tbr_error(p, wn->span, "unknown window '%.*s': define it first with define window %.*s from tumbling with size = ... end",
                          (int)wn->len, wn->text, (int)wn->len, wn->text);
                goto done;
            }
            if (n == 16) {
                tbr_error(p, wn->span, "at most 16 windows in a tilt frame");
                goto done;
            }
            w[n++] = i;
        } while (tbr_accept(p, TK_COMMA));
        if (!tbr_expect(p, TK_RBRACKET, "',' or ']'")) goto done;
        s.windows = tbr_alloc(p, n * sizeof *w);
        if (!s.windows) goto done;
        memcpy(s.windows, w, n * sizeof *w);
        s.nwindows = n;
    }
    if (tbr_accept(p, TK_WHERE) && !(s.where = tbr_parse_expr_imut(p))) goto done;
    if (tbr_accept(p, TK_GROUP)) {
        if (!tbr_expect(p, TK_BY, "'by' after 'group'")) goto done;
        if (!(s.group = tbr_alloc(p, sizeof *s.group)) || !parse_group(qp, s.group)) goto done;
    }
    /* Tremor writes having after into; the order (having before into) works too */
    p->aggr_sites = &sites;
    if (tbr_accept(p, TK_HAVING) && !(s.having = tbr_parse_expr_imut(p))) goto done;
    p->aggr_sites = NULL;
    if (!tbr_expect(p, TK_INTO, "'into'") || !stream_port(qp, &s.into_node, &s.into_port, false)) goto done;
    p->aggr_sites = &sites;
    if (!s.having && tbr_accept(p, TK_HAVING) && !(s.having = tbr_parse_expr_imut(p))) goto done;
    p->aggr_sites = NULL;
    if (sites.count && !s.nwindows) {
        tbr_diag *d = tbr_error(p, sites.items[0]->span, "aggregate functions need a window");
        tbr_diag_hint(d, "select from a window: define window w from tumbling with size = 10 end; ... from %s[w]",
                      qp->q->nodes[s.from_node].name);
        goto done;
    }
    s.aggrs = sites.items;
    s.naggrs = sites.count;
    s.nlocals = scope.nlocals;
    s.span = kw->span;
    GROW(p, qp->q->selects, qp->q->nselects, qp->selects_cap);
    qp->q->selects[qp->q->nselects++] = s;
    ok = true;
done:
    p->aggr_sites = NULL;
    p->scope = saved;
    free(scope.items);
    return ok;
}

static bool config_directive(qparser *qp) {
    tbr_parser *p = qp->p;
    tbr_next(p);
    const tbr_token *name = tbr_expect(p, TK_IDENT, "a setting name after #!config");
    if (!name || !tbr_expect(p, TK_ASSIGN, "'='")) return false;
    tbr_node *v = tbr_parse_expr_imut(p);
    if (!v) return false;
    if (v->kind != N_LITERAL) {
        tbr_error(p, v->span, "a #!config value must be a constant");
        return false;
    }
    tb_value *slot = tb_object_set(p->arena, &qp->q->config, name->text, name->len);
    if (!slot) return false;
    *slot = v->u.lit;
    return true;
}

static bool statement(qparser *qp) {
    tbr_parser *p = qp->p;
    const tbr_token *t = tbr_peek(p);
    switch (t->kind) {
    case TK_DEFINE: {
        tbr_next(p);
        tbr_tok k = tbr_peek(p)->kind;
        if (k == TK_WINDOW) return define_window(qp);
        if (k == TK_OPERATOR) return define_operator(qp);
        if (k == TK_SCRIPT) return define_script(qp);
        if (k == TK_IDENT) {
            /* older forms: define tumbling window w / define grouper::bucket operator b */
            if (tbr_peek_at(p, 1)->kind == TK_WINDOW) return define_window(qp);
            return define_operator(qp);
        }
        tbr_error_expected(p, "window, operator or script after 'define'");
        return false;
    }
    case TK_CREATE: return create(qp);
    case TK_SELECT: return select_stmt(qp);
    case TK_CONFIG_DIRECTIVE: return config_directive(qp);
    case TK_USE: {
        /* use of modules, for the expressions of selects (scripts have their own) */
        bool handled;
        return tbr_parse_toplevel_decl(p, &handled);
    }
    default: tbr_error_expected(p, "define, create, select or use"); return false;
    }
}

bool tbr_parse_query_body(tbr_parser *p, tbr_query *q, tbr_registry *reg, bool embedded) {
    qparser qp = {.p = p, .q = q, .reg = reg};
    tbr_scope top = {0};
    tbr_scope *saved_scope = p->scope;
    tbr_scope saved_globals = p->globals;
    memset(&p->globals, 0, sizeof p->globals);
    p->scope = &top;
    q->src = p->src;
    q->config = tb_object();
    bool ok = !p->failed;
    if (!q->nfrom) ok = ok && builtin_node(&qp, QNODE_INPUT, "in", 2);
    for (uint32_t i = 0; ok && i < q->nfrom; i++) ok = builtin_node(&qp, QNODE_INPUT, q->from_ports[i], q->from_lens[i]);
    if (!q->ninto) ok = ok && builtin_node(&qp, QNODE_OUTPUT, "out", 3);
    for (uint32_t i = 0; ok && i < q->ninto; i++) ok = builtin_node(&qp, QNODE_OUTPUT, q->into_ports[i], q->into_lens[i]);
    if (ok && find_node(q, "err", 3) < 0) ok = builtin_node(&qp, QNODE_OUTPUT, "err", 3);
    tbr_tok stop = embedded ? TK_END : TK_EOF;
    while (ok && !tbr_at(p, stop) && !tbr_at(p, TK_EOF)) {
        bool directive = tbr_at(p, TK_CONFIG_DIRECTIVE);
        if (!(ok = statement(&qp))) break;
        if (directive) continue; /* a directive ends at its line, without ';' */
        if (!tbr_accept(p, TK_SEMI) && !tbr_at(p, stop) && !tbr_at(p, TK_EOF)) {
            tbr_error_expected(p, "';' after the statement");
            ok = false;
        }
    }
    if (ok && !p->failed && q->nselects == 0) tbr_error(p, tbr_peek(p)->span, "a query needs at least one select");
    free(top.items);
    free(p->globals.items);
    p->globals = saved_globals;
    p->scope = saved_scope;
    return ok && !p->failed;
}

tbr_query *tbr_query_compile(const tbr_source *src, tbr_registry *reg, tbr_diags *diags) {
    tbr_query *q = calloc(1, sizeof *q);
    if (!q || !(q->arena = tbr_arena_new(0))) {
        free(q);
        return NULL;
    }
    tbr_parser p;
    tbr_parser_init(&p, src, q->arena, diags);
    bool ok = !p.failed && tbr_parse_query_body(&p, q, reg, false);
    q->extractors = p.extractors;
    q->nextractors = p.nextractors;
    p.extractors = NULL;
    tbr_parser_fini(&p);
    if (!ok) {
        tbr_query_free(q);
        return NULL;
    }
    return q;
}

void tbr_query_free(tbr_query *q) {
    if (!q) return;
    for (uint32_t i = 0; i < q->nextractors; i++) tbr_extractor_free(q->extractors[i]);
    free(q->extractors);
    tbr_arena_free(q->arena);
    free(q);
}
