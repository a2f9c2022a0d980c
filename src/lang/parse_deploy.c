/* parse_deploy.c - troy: parsing deployments, then checking them against the plugins. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lang/deploy.h"
#include "lang/eval.h"
#include "lang/parser.h"
#include "plugin/options.h"
#include "value/arena.h"

typedef struct dparser {
    tbr_parser *p;
    tbr_deployment *d;
    tbr_registry *reg;
} dparser;

static bool same(const char *a, uint32_t an, const char *b, uint32_t bn) { return an == bn && memcmp(a, b, an) == 0; }

static const char *cstr(tbr_parser *p, const char *s, size_t n) {
    char *c = tbr_alloc(p, n + 1);
    if (c) memcpy(c, s, n);
    return c;
}

/* Appends one element of size elem to the arena array *arr of *count elements. */
static void *append(tbr_parser *p, void **arr, uint32_t *count, size_t elem) {
    /* arrays here are small: grow by copying at powers of two */
    uint32_t n = *count;
    if ((n & (n - 1)) == 0) {
        void *m = tbr_alloc(p, (n ? n * 2 : 1) * elem);
        if (!m) return NULL;
        if (n) memcpy(m, *arr, n * elem);
        *arr = m;
    }
    (*count)++;
    void *slot = (char *)*arr + n * elem;
    memset(slot, 0, elem);
    return slot;
}

/* args a, b = default, ... */
static bool parse_args_def(tbr_parser *p, tbr_args_def *a) {
    memset(a, 0, sizeof *a);
    if (!tbr_accept(p, TK_ARGS)) return true;
    do {
        const tbr_token *name = tbr_expect(p, TK_IDENT, "an argument name");
        if (!name) return false;
        uint32_t n = a->count;
        const char **nm = append(p, (void **)&a->names, &n, sizeof *a->names);
        n = a->count;
        uint32_t *nl = append(p, (void **)&a->name_lens, &n, sizeof *a->name_lens);
        n = a->count;
        tbr_node **df = append(p, (void **)&a->defaults, &n, sizeof *a->defaults);
        if (!nm || !nl || !df) return false;
        *nm = name->text;
        *nl = name->len;
        if (tbr_accept(p, TK_ASSIGN) && !(*df = tbr_parse_expr_imut(p))) return false;
        a->count++;
    } while (tbr_accept(p, TK_COMMA));
    return true;
}

/* with name = expr, ... end */
static bool parse_with(tbr_parser *p, tbr_with *w) {
    memset(w, 0, sizeof *w);
    if (!tbr_accept(p, TK_WITH)) return true;
    while (!tbr_at(p, TK_END)) {
        const tbr_token *name = tbr_peek(p);
        /* `with` keys may be keywords in Tremor's files (config, codec are not, but be kind) */
        if (name->kind != TK_IDENT) return tbr_error_expected(p, "a setting name"), false;
        tbr_next(p);
        if (!tbr_expect(p, TK_ASSIGN, "'='")) return false;
        tbr_node *v = tbr_parse_expr_imut(p);
        if (!v) return false;
        uint32_t n = w->count;
        const char **nm = append(p, (void **)&w->names, &n, sizeof *w->names);
        n = w->count;
        uint32_t *nl = append(p, (void **)&w->name_lens, &n, sizeof *w->name_lens);
        n = w->count;
        tbr_node **vv = append(p, (void **)&w->values, &n, sizeof *w->values);
        n = w->count;
        tbr_span *sp = append(p, (void **)&w->spans, &n, sizeof *w->spans);
        if (!nm || !nl || !vv || !sp) return false;
        *nm = name->text;
        *nl = name->len;
        *vv = v;
        *sp = tbr_span_join(name->span, v->span);
        w->count++;
        if (!tbr_accept(p, TK_COMMA)) break;
    }
    return tbr_expect(p, TK_END, "',' or 'end' to close the with clause") != NULL;
}

static const char *parse_kind(tbr_parser *p, tbr_span *span) {
    const tbr_token *first = tbr_expect_name(p, "a connector kind such as file or stdio");
    if (!first) return NULL;
    const tbr_token *last = first;
    while (tbr_accept(p, TK_COLONCOLON))
        if (!(last = tbr_expect_name(p, "a name after '::'"))) return NULL;
    *span = tbr_span_join(first->span, last->span);
    return cstr(p, p->src->text + first->span.start, span->end - span->start);
}

/* define connector NAME from KIND [args ...] [with ... end] */
static bool define_connector(dparser *dp, tbr_connector_def **arr, uint32_t *count) {
    tbr_parser *p = dp->p;
    tbr_next(p); /* connector */
    const tbr_token *name = tbr_expect(p, TK_IDENT, "the connector's name");
    if (!name || !tbr_expect(p, TK_FROM, "'from' and the connector kind")) return false;
    for (uint32_t i = 0; i < *count; i++)
        if (same((*arr)[i].name, (*arr)[i].name_len, name->text, name->len)) {
            tbr_error(p, name->span, "connector '%.*s' is already defined", (int)name->len, name->text);
            return false;
        }
    tbr_connector_def *c = append(p, (void **)arr, count, sizeof **arr);
    if (!c) return false;
    c->name = name->text;
    c->name_len = name->len;
    if (!(c->kind = parse_kind(p, &c->span))) return false;
    /* args expressions see only constants; the with clause sees args */
    return parse_args_def(p, &c->args) && parse_with(p, &c->with);
}

/* define pipeline NAME [from ports] [into ports] [args ...] pipeline QUERY end */
static bool define_pipeline(dparser *dp, tbr_pipeline_def **arr, uint32_t *count) {
    tbr_parser *p = dp->p;
    tbr_next(p); /* pipeline */
    const tbr_token *name = tbr_expect(p, TK_IDENT, "the pipeline's name");
    if (!name) return false;
    for (uint32_t i = 0; i < *count; i++)
        if (same((*arr)[i].name, (*arr)[i].name_len, name->text, name->len)) {
            tbr_error(p, name->span, "pipeline '%.*s' is already defined", (int)name->len, name->text);
            return false;
        }
    tbr_pipeline_def *pd = append(p, (void **)arr, count, sizeof **arr);
    if (!pd) return false;
    pd->name = name->text;
    pd->name_len = name->len;
    pd->span = name->span;
    if (!(pd->query = tbr_alloc(p, sizeof *pd->query))) return false;
    pd->query->arena = NULL; /* the deployment's arena holds it */
    /* declared ports: the query's inputs and outputs (in, and out and err, by default) */
    for (int k = 0; k < 2; k++) {
        if (!tbr_accept(p, k == 0 ? TK_FROM : TK_INTO)) continue;
        tbr_query *q = pd->query;
        do {
            const tbr_token *port = tbr_expect(p, TK_IDENT, "a port name");
            if (!port) return false;
            uint32_t *nports = k == 0 ? &q->nfrom : &q->ninto, n = *nports;
            const char **names = append(p, (void **)(k == 0 ? &q->from_ports : &q->into_ports), &n, sizeof *names);
            n = *nports;
            uint32_t *lens = append(p, (void **)(k == 0 ? &q->from_lens : &q->into_lens), &n, sizeof *lens);
            if (!names || !lens) return false;
            *names = port->text;
            *lens = port->len;
            (*nports)++;
        } while (tbr_accept(p, TK_COMMA));
    }
    if (!parse_args_def(p, &pd->args) || !tbr_expect(p, TK_PIPELINE, "'pipeline' and the pipeline's query")) return false;
    if (!tbr_parse_query_body(p, pd->query, dp->reg, true)) return false;
    return tbr_expect(p, TK_END, "'end' to close the pipeline") != NULL;
}

/* name or module::name (a definition from a used module), as one string in the arena. */
static bool qualified_name(tbr_parser *p, const char **out, uint32_t *out_len) {
    const tbr_token *first = tbr_expect(p, TK_IDENT, "the definition's name");
    if (!first) return false;
    const tbr_token *last = first;
    while (tbr_accept(p, TK_COLONCOLON))
        if (!(last = tbr_expect(p, TK_IDENT, "a name after '::'"))) return false;
    if (first == last) {
        *out = first->text;
        *out_len = first->len;
        return true;
    }
    /* alias::name, written without spaces whatever the source had */
    char buf[256];
    int n = snprintf(buf, sizeof buf, "%.*s::%.*s", (int)first->len, first->text, (int)last->len, last->text);
    if (n < 0 || (size_t)n >= sizeof buf) return (tbr_error(p, first->span, "name too long"), false);
    *out = cstr(p, buf, (size_t)n);
    *out_len = (uint32_t)n;
    return *out != NULL;
}

/* create connector|pipeline NAME [from DEF] [with ... end] */
static bool create(dparser *dp, tbr_flow_def *f) {
    tbr_parser *p = dp->p;
    tbr_next(p); /* create */
    const tbr_token *what = tbr_next(p);
    if (what->kind != TK_CONNECTOR && what->kind != TK_PIPELINE) {
        p->pos--;
        tbr_error_expected(p, "connector or pipeline after 'create'");
        return false;
    }
    const tbr_token *name = tbr_expect(p, TK_IDENT, "the instance's name");
    if (!name) return false;
    for (uint32_t i = 0; i < f->ncreates; i++)
        if (same(f->creates[i].name, f->creates[i].name_len, name->text, name->len) &&
            f->creates[i].pipeline == (what->kind == TK_PIPELINE)) {
            tbr_error(p, name->span, "'%.*s' is already created in this flow", (int)name->len, name->text);
            return false;
        }
    tbr_create *c = append(p, (void **)&f->creates, &f->ncreates, sizeof *f->creates);
    if (!c) return false;
    c->pipeline = what->kind == TK_PIPELINE;
    c->name = c->def = name->text;
    c->name_len = c->def_len = name->len;
    c->span = name->span;
    if (tbr_accept(p, TK_FROM) && !qualified_name(p, &c->def, &c->def_len)) return false;
    return parse_with(p, &c->with);
}

/* /connector/NAME[/port] or /pipeline/NAME[/port] */
static bool endpoint(tbr_parser *p, tbr_endpoint *e) {
    const tbr_token *slash = tbr_expect(p, TK_SLASH, "'/' and connector or pipeline");
    if (!slash) return false;
    const tbr_token *what = tbr_next(p);
    if (what->kind != TK_CONNECTOR && what->kind != TK_PIPELINE) {
        p->pos--;
        tbr_error_expected(p, "connector or pipeline");
        return false;
    }
    e->pipeline = what->kind == TK_PIPELINE;
    const tbr_token *name;
    if (!tbr_expect(p, TK_SLASH, "'/'") || !(name = tbr_expect(p, TK_IDENT, "the instance's name"))) return false;
    e->name = name->text;
    e->name_len = name->len;
    e->span = tbr_span_join(slash->span, name->span);
    if (tbr_at(p, TK_SLASH)) {
        tbr_next(p);
        const tbr_token *port = tbr_expect(p, TK_IDENT, "a port name");
        if (!port || !(e->port = cstr(p, port->text, port->len))) return false;
        e->span = tbr_span_join(e->span, port->span);
    }
    return true;
}

static bool connect(dparser *dp, tbr_flow_def *f) {
    tbr_parser *p = dp->p;
    tbr_next(p); /* connect */
    tbr_connect *c = append(p, (void **)&f->connects, &f->nconnects, sizeof *f->connects);
    if (!c || !endpoint(p, &c->from) || !tbr_expect(p, TK_TO, "'to'") || !endpoint(p, &c->to)) return false;
    if (!c->from.pipeline && !c->to.pipeline) {
        tbr_error(p, tbr_span_join(c->from.span, c->to.span), "a connector connects to a pipeline, not to another connector");
        return false;
    }
    return true;
}

static bool parse_module(dparser *dp, const tbr_source *src, const char *alias, uint32_t alias_len, tbr_span at);
static bool check_flow(dparser *dp, const tbr_flow_def *f);

/* use path [as alias]: the standard library is built in; anything else is a module file
 * (lib/defs.troy) whose definitions become alias::name. */
static bool use_stmt(dparser *dp) {
    tbr_parser *p = dp->p;
    const tbr_token *kw = tbr_next(p);
    const tbr_token *first = tbr_expect(p, TK_IDENT, "a module path");
    if (!first) return false;
    const tbr_token *last = first;
    char rel[1024];
    size_t rlen = (size_t)snprintf(rel, sizeof rel, "%.*s", (int)first->len, first->text);
    while (tbr_accept(p, TK_COLONCOLON)) {
        if (!(last = tbr_expect(p, TK_IDENT, "a name after '::'"))) return false;
        if (rlen < sizeof rel) rlen += (size_t)snprintf(rel + rlen, sizeof rel - rlen, "/%.*s", (int)last->len, last->text);
    }
    const tbr_token *alias = last;
    if (tbr_accept(p, TK_AS) && !(alias = tbr_expect(p, TK_IDENT, "an alias"))) return false;
    if (same(first->text, first->len, "std", 3) || same(first->text, first->len, "tremor", 6)) return true;
    tbr_span at = tbr_span_join(kw->span, last->span);
    char tried[2048];
    const tbr_source *src = tbr_find_module(p, rel, ".troy", tried, sizeof tried);
    if (!src) {
        tbr_diag *d = tbr_error(p, at, "module '%.*s' not found", (int)(last->span.end - first->span.start), p->src->text + first->span.start);
        tbr_diag_hint(d, "looked for %s (set TREMOR_PATH to more directories)", tried);
        return false;
    }
    return parse_module(dp, src, alias->text, alias->len, at);
}

/* define flow NAME [args ...] flow STMTS end */
static bool define_flow(dparser *dp) {
    tbr_parser *p = dp->p;
    tbr_next(p); /* flow */
    const tbr_token *name = tbr_expect(p, TK_IDENT, "the flow's name");
    if (!name) return false;
    for (uint32_t i = 0; i < dp->d->nflows; i++)
        if (same(dp->d->flows[i].name, dp->d->flows[i].name_len, name->text, name->len)) {
            tbr_error(p, name->span, "flow '%.*s' is already defined", (int)name->len, name->text);
            return false;
        }
    tbr_flow_def *f = append(p, (void **)&dp->d->flows, &dp->d->nflows, sizeof *dp->d->flows);
    if (!f) return false;
    f->name = name->text;
    f->name_len = name->len;
    f->span = name->span;
    if (!parse_args_def(p, &f->args) || !tbr_expect(p, TK_FLOW, "'flow' and the flow's statements")) return false;
    while (!tbr_at(p, TK_END) && !tbr_at(p, TK_EOF)) {
        const tbr_token *t = tbr_peek(p);
        bool ok;
        if (t->kind == TK_DEFINE) {
            tbr_next(p);
            if (tbr_at(p, TK_CONNECTOR)) ok = define_connector(dp, &f->connectors, &f->nconnectors);
            else if (tbr_at(p, TK_PIPELINE)) ok = define_pipeline(dp, &f->pipelines, &f->npipelines);
            else ok = (tbr_error_expected(p, "connector or pipeline after 'define'"), false);
        } else if (t->kind == TK_CREATE) {
            ok = create(dp, f);
        } else if (t->kind == TK_CONNECT) {
            ok = connect(dp, f);
        } else if (t->kind == TK_USE) {
            ok = use_stmt(dp);
        } else {
            ok = (tbr_error_expected(p, "define, create, connect, use or 'end'"), false);
        }
        if (!ok) return false;
        if (!tbr_accept(p, TK_SEMI) && !tbr_at(p, TK_END)) return (tbr_error_expected(p, "';' after the statement"), false);
    }
    return tbr_expect(p, TK_END, "'end' to close the flow") != NULL;
}

/* deploy flow NAME [from DEF] [with ... end] */
static bool deploy(dparser *dp) {
    tbr_parser *p = dp->p;
    tbr_next(p); /* deploy */
    if (!tbr_expect(p, TK_FLOW, "'flow'")) return false;
    const tbr_token *name = tbr_expect(p, TK_IDENT, "the deployment's name");
    if (!name) return false;
    tbr_deploy_stmt *s = append(p, (void **)&dp->d->deploys, &dp->d->ndeploys, sizeof *dp->d->deploys);
    if (!s) return false;
    s->name = s->flow = name->text;
    s->name_len = s->flow_len = name->len;
    s->span = name->span;
    if (tbr_accept(p, TK_FROM) && !qualified_name(p, &s->flow, &s->flow_len)) return false;
    return parse_with(p, &s->with);
}

static const char *qualify(tbr_parser *p, const char *alias, uint32_t alias_len, const char *name, uint32_t len, uint32_t *out_len) {
    char *q = tbr_alloc(p, alias_len + 2 + len + 1);
    if (!q) return NULL;
    memcpy(q, alias, alias_len);
    memcpy(q + alias_len, "::", 2);
    memcpy(q + alias_len + 2, name, len);
    *out_len = alias_len + 2 + len;
    return q;
}

/* Parses a module's definitions and adds them to the deployment as alias::name. */
static bool parse_module(dparser *dp, const tbr_source *src, const char *alias, uint32_t alias_len, tbr_span at) {
    tbr_parser *p = dp->p;
    if (p->module_depth >= 16) return (tbr_error(p, at, "modules use each other more than 16 deep (is there a cycle?)"), false);
    tbr_diags diags;
    tbr_diags_init(&diags, src);
    tbr_parser sub;
    tbr_parser_init(&sub, src, p->arena, &diags);
    sub.module_depth = p->module_depth + 1;
    tbr_scope top = {0};
    sub.scope = &top;
    tbr_deployment mod = {0};
    mod.src = src;
    mod.arena = p->arena;
    dparser mp = {&sub, &mod, dp->reg};
    while (!sub.failed && !tbr_at(&sub, TK_EOF)) {
        const tbr_token *t = tbr_peek(&sub);
        bool ok;
        if (t->kind == TK_DEFINE) {
            tbr_next(&sub);
            if (tbr_at(&sub, TK_FLOW)) ok = define_flow(&mp);
            else if (tbr_at(&sub, TK_CONNECTOR)) ok = define_connector(&mp, &mod.connectors, &mod.nconnectors);
            else if (tbr_at(&sub, TK_PIPELINE)) ok = define_pipeline(&mp, &mod.pipelines, &mod.npipelines);
            else ok = (tbr_error_expected(&sub, "flow, connector or pipeline after 'define'"), false);
        } else if (t->kind == TK_USE) {
            ok = use_stmt(&mp);
        } else {
            ok = (tbr_error(&sub, t->span, "a module holds definitions (define connector, pipeline or flow) and use, nothing else"), false);
        }
        if (ok && !tbr_accept(&sub, TK_SEMI) && !tbr_at(&sub, TK_EOF)) tbr_error_expected(&sub, "';' after the statement");
    }
    /* the module's flows are checked here, where names and places are the module's own */
    for (uint32_t i = 0; !sub.failed && i < mod.nflows; i++) check_flow(&mp, &mod.flows[i]);
    bool ok = !sub.failed;
    if (!ok && diags.count) {
        unsigned line, col;
        tbr_source_position(src, diags.items[0].span.start, &line, &col);
        tbr_error(p, at, "in module %.*s: %s:%u:%u: %s", (int)alias_len, alias, src->name, line, col, diags.items[0].message);
    }
    /* definitions become alias::name; a module flow's creates of module-level definitions
     * follow them */
    for (uint32_t i = 0; ok && i < mod.nconnectors; i++) {
        tbr_connector_def *c = append(p, (void **)&dp->d->connectors, &dp->d->nconnectors, sizeof *c);
        if (!c) break;
        *c = mod.connectors[i];
        c->name = qualify(p, alias, alias_len, c->name, c->name_len, &c->name_len);
    }
    for (uint32_t i = 0; ok && i < mod.npipelines; i++) {
        tbr_pipeline_def *pd = append(p, (void **)&dp->d->pipelines, &dp->d->npipelines, sizeof *pd);
        if (!pd) break;
        *pd = mod.pipelines[i];
        pd->name = qualify(p, alias, alias_len, pd->name, pd->name_len, &pd->name_len);
    }
    for (uint32_t i = 0; ok && i < mod.nflows; i++) {
        tbr_flow_def *f = append(p, (void **)&dp->d->flows, &dp->d->nflows, sizeof *f);
        if (!f) break;
        *f = mod.flows[i];
        f->imported = true;
        f->name = qualify(p, alias, alias_len, f->name, f->name_len, &f->name_len);
        for (uint32_t k = 0; k < f->ncreates; k++) {
            tbr_create *c = &f->creates[k];
            bool local = false;
            for (uint32_t j = 0; j < f->nconnectors && !c->pipeline; j++) local |= same(f->connectors[j].name, f->connectors[j].name_len, c->def, c->def_len);
            for (uint32_t j = 0; j < f->npipelines && c->pipeline; j++) local |= same(f->pipelines[j].name, f->pipelines[j].name_len, c->def, c->def_len);
            if (!local) c->def = qualify(p, alias, alias_len, c->def, c->def_len, &c->def_len);
        }
    }
    tbr_adopt_extractors(p, &sub);
    free(top.items);
    tbr_parser_fini(&sub);
    tbr_diags_free(&diags);
    return ok && !p->failed;
}

/* --- evaluation of with clauses and arguments ------------------------------------------------------ */

int tbr_deploy_error_at(const tbr_deployment *d, tbr_span span, char *err, size_t n, const char *fmt, ...) {
    unsigned line, col;
    char msg[640];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    tbr_source_position(d->src, span.start, &line, &col);
    snprintf(err, n, "%s:%u:%u: %s", d->src->name, line, col, msg);
    return TB_EINVAL;
}

static int fail_at(const tbr_deployment *d, tbr_span span, char *err, size_t n, const char *msg) {
    return tbr_deploy_error_at(d, span, err, n, "%s", msg);
}

int tbr_with_eval(const tbr_deployment *d, const tbr_with *w, const tb_value *args, tb_arena *arena, tb_value *out,
                  char *err, size_t n) {
    *out = tb_object();
    for (uint32_t i = 0; i < w->count; i++) {
        tbr_eval_env env;
        tbr_eval_env_init(&env, arena);
        tb_value none = tb_null();
        env.event = env.meta = &none;
        env.args = args;
        tb_value v;
        if (tbr_eval(&env, w->values[i], &v) != TBR_EVAL_OK) return fail_at(d, env.error_span, err, n, env.error);
        tb_value *slot = tb_object_set(arena, out, w->names[i], w->name_lens[i]);
        if (!slot) return TB_ENOMEM;
        *slot = v;
    }
    return TB_OK;
}

int tbr_args_resolve(const tbr_deployment *d, const tbr_args_def *def, const tb_value *given, tbr_span at, tb_arena *arena,
                     tb_value *out, char *err, size_t n) {
    *out = tb_object();
    for (uint32_t i = 0; given && i < given->len; i++) {
        const tb_member *m = &given->as.members[i];
        uint32_t k;
        for (k = 0; k < def->count; k++)
            if (same(def->names[k], def->name_lens[k], m->key, m->key_len)) break;
        if (k == def->count) {
            char msg[256];
            snprintf(msg, sizeof msg, "unknown argument '%.*s'%s", (int)m->key_len, m->key, def->count ? "" : ": the definition takes no args");
            return fail_at(d, at, err, n, msg);
        }
    }
    for (uint32_t k = 0; k < def->count; k++) {
        const tb_value *v = given ? tb_object_get(given, def->names[k], def->name_lens[k]) : NULL;
        tb_value dv;
        if (!v) {
            if (!def->defaults[k]) {
                char msg[256];
                snprintf(msg, sizeof msg, "the argument '%.*s' is required and has no default", (int)def->name_lens[k], def->names[k]);
                return fail_at(d, at, err, n, msg);
            }
            tbr_eval_env env;
            tbr_eval_env_init(&env, arena);
            tb_value none = tb_null();
            env.event = env.meta = &none;
            if (tbr_eval(&env, def->defaults[k], &dv) != TBR_EVAL_OK) return fail_at(d, env.error_span, err, n, env.error);
            v = &dv;
        }
        tb_value *slot = tb_object_append(arena, out, def->names[k], def->name_lens[k]);
        if (!slot) return TB_ENOMEM;
        *slot = *v;
    }
    return TB_OK;
}

/* --- checks ------------------------------------------------------------------------------------------------------ */

static const char *const connector_settings[] = {"config", "codec", "preprocessors", "postprocessors",
                                                 "metrics_interval_s", "reconnect", "initial_commands", NULL};

/* The declared option a refusal names ('name', quoted), with its documentation, as a hint. */
static void option_hint(const tbr_component *comp, tbr_diag *d, const char *why) {
    for (uint32_t o = 0; d && o < comp->desc.option_count; o++) {
        char quoted[80];
        snprintf(quoted, sizeof quoted, "'%s'", comp->options[o].name);
        if (strstr(why, quoted) && comp->options[o].doc[0]) {
            tbr_diag_hint(d, "%s: %s", comp->options[o].name, comp->options[o].doc);
            return;
        }
    }
}

/* The options a codec or processor reference gives ({"name": ..., "config": {...}}) satisfy
 * what its plugin declares, as when the flow is deployed. */
static bool check_component_config(dparser *dp, const tbr_component *comp, const tb_value *ref, tbr_span span) {
    const tb_value *config = ref->type == TB_OBJECT ? tb_object_getz(ref, "config") : NULL;
    tb_value empty = tb_object(), effective;
    char why[512];
    tb_arena *a = tbr_arena_new(0);
    if (!a) return false;
    bool ok = tbr_options_apply(comp, config ? config : &empty, a, &effective, why, sizeof why) == TB_OK;
    tbr_arena_free(a);
    if (ok) return true;
    option_hint(comp, tbr_error(dp->p, span, "%s", why), why);
    return false;
}

/* A codec or processor reference: "name" or {"name": ..., "config": {...}}. */
static bool check_component(dparser *dp, uint32_t kind, const tb_value *ref, tbr_span span) {
    const tb_value *name = ref;
    if (ref->type == TB_OBJECT) name = tb_object_getz(ref, "name");
    if (!name || name->type != TB_STRING) {
        tbr_error(dp->p, span, "a %s is named by a string or {\"name\": ..., \"config\": {...}}", tbr_kind_name(kind));
        return false;
    }
    if (!dp->reg) return true;
    char buf[128];
    snprintf(buf, sizeof buf, "%.*s", (int)name->len, name->as.s);
    const tbr_component *comp = tbr_registry_find(dp->reg, kind, buf);
    if (comp) return check_component_config(dp, comp, ref, span);
    tbr_diag *diag = tbr_error(dp->p, span, "unknown %s '%s'", tbr_kind_name(kind), buf);
    char known[896] = "";
    size_t used = 0;
    tbr_plugin *pl;
    for (size_t i = 0; (pl = tbr_registry_plugin_at(dp->reg, i)); i++)
        for (uint32_t c = 0; c < pl->component_count && used < sizeof known; c++)
            if (pl->components[c].desc.kind == kind)
                used += (size_t)snprintf(known + used, sizeof known - used, "%s%s", used ? ", " : "", pl->components[c].desc.name);
    tbr_diag_hint(diag, used ? "the %ss loaded are: %s" : "no %s plugin is loaded%s", tbr_kind_name(kind), known);
    return false;
}

/* Checks one connector instance: its kind, settings, codec, processors and configuration. */
static bool check_connector(dparser *dp, const tbr_connector_def *c, const tb_value *given, tbr_span at) {
    tbr_parser *p = dp->p;
    const tbr_component *comp = dp->reg ? tbr_registry_find(dp->reg, TB_KIND_CONNECTOR, c->kind) : NULL;
    if (dp->reg && !comp) {
        tb_value name = tb_stringz(c->kind);
        return check_component(dp, TB_KIND_CONNECTOR, &name, c->span);
    }
    tb_arena *a = tbr_arena_new(0);
    char err[768];
    tb_value args, with;
    bool ok = false;
    if (!a) return false;
    int rc = tbr_args_resolve(dp->d, &c->args, given, at, a, &args, err, sizeof err);
    if (!rc) rc = tbr_with_eval(dp->d, &c->with, &args, a, &with, err, sizeof err);
    if (rc) {
        /* the message already names the place */
        tbr_error(p, at, "%s", strchr(err, ' ') ? strchr(err, ' ') + 1 : err);
        goto done;
    }
    for (uint32_t i = 0; i < c->with.count; i++) {
        size_t k;
        for (k = 0; connector_settings[k]; k++)
            if (same(c->with.names[i], c->with.name_lens[i], connector_settings[k], (uint32_t)strlen(connector_settings[k]))) break;
        if (!connector_settings[k]) {
            tbr_error(p, c->with.spans[i], "unknown connector setting '%.*s': expected config, codec, preprocessors, postprocessors, metrics_interval_s or reconnect",
                      (int)c->with.name_lens[i], c->with.names[i]);
            goto done;
        }
    }
    for (uint32_t i = 0; i < c->with.count; i++) {
        const tb_value *v = tb_object_get(&with, c->with.names[i], c->with.name_lens[i]);
        tbr_span span = c->with.spans[i];
        if (same(c->with.names[i], c->with.name_lens[i], "codec", 5) && !check_component(dp, TB_KIND_CODEC, v, span)) goto done;
        bool pre = same(c->with.names[i], c->with.name_lens[i], "preprocessors", 13);
        bool post = same(c->with.names[i], c->with.name_lens[i], "postprocessors", 14);
        if (pre || post) {
            if (v->type != TB_ARRAY) {
                tbr_error(p, span, "%s must be an array", pre ? "preprocessors" : "postprocessors");
                goto done;
            }
            for (uint32_t k = 0; k < v->len; k++)
                if (!check_component(dp, pre ? TB_KIND_PREPROCESSOR : TB_KIND_POSTPROCESSOR, &v->as.items[k], span)) goto done;
        }
        if (comp && same(c->with.names[i], c->with.name_lens[i], "config", 6)) {
            tb_value effective;
            char why[512];
            if (tbr_options_apply(comp, v, a, &effective, why, sizeof why)) {
                /* the option's own documentation helps most */
                option_hint(comp, tbr_error(p, span, "%s", why), why);
                goto done;
            }
        }
    }
    if (comp && !tb_object_getz(&with, "config")) {
        tb_value effective, empty = tb_object();
        char why[512];
        if (tbr_options_apply(comp, &empty, a, &effective, why, sizeof why)) {
            tbr_error(p, c->span, "%s", why);
            goto done;
        }
    }
    ok = true;
done:
    tbr_arena_free(a);
    return ok;
}

const tbr_connector_def *tbr_deployment_find_connector(const tbr_deployment *d, const tbr_flow_def *f, const char *n, uint32_t len) {
    for (uint32_t i = 0; i < f->nconnectors; i++)
        if (same(f->connectors[i].name, f->connectors[i].name_len, n, len)) return &f->connectors[i];
    for (uint32_t i = 0; i < d->nconnectors; i++)
        if (same(d->connectors[i].name, d->connectors[i].name_len, n, len)) return &d->connectors[i];
    return NULL;
}

const tbr_pipeline_def *tbr_deployment_find_pipeline(const tbr_deployment *d, const tbr_flow_def *f, const char *n, uint32_t len) {
    for (uint32_t i = 0; i < f->npipelines; i++)
        if (same(f->pipelines[i].name, f->pipelines[i].name_len, n, len)) return &f->pipelines[i];
    for (uint32_t i = 0; i < d->npipelines; i++)
        if (same(d->pipelines[i].name, d->pipelines[i].name_len, n, len)) return &d->pipelines[i];
    return NULL;
}

/* Appends name to the list in buf ("a, b"). */
static void list_add(char *buf, size_t size, const char *name, uint32_t len) {
    size_t used = strlen(buf);
    snprintf(buf + used, size - used, "%s%.*s", used ? ", " : "", (int)len, name);
}

/* The port an endpoint names exists: a connector's out and err (with a source half) or in
 * (with a sink half); a pipeline's declared input or output ports (err is always there). */
static bool check_port(dparser *dp, const tbr_flow_def *f, const tbr_create *c, const tbr_endpoint *e, bool from) {
    const char *port = e->port ? e->port : (from ? "out" : "in");
    uint32_t plen = (uint32_t)strlen(port);
    char known[896] = "";
    bool found = false;
    if (e->pipeline) {
        const tbr_pipeline_def *def = tbr_deployment_find_pipeline(dp->d, f, c->def, c->def_len);
        if (!def || !def->query) return true;
        for (uint32_t i = 0; i < def->query->nnodes; i++) {
            const tbr_qnode *qn = &def->query->nodes[i];
            if (qn->kind != (from ? QNODE_OUTPUT : QNODE_INPUT)) continue;
            list_add(known, sizeof known, qn->name, qn->name_len);
            found = found || same(qn->name, qn->name_len, port, plen);
        }
    } else {
        const tbr_connector_def *def = tbr_deployment_find_connector(dp->d, f, c->def, c->def_len);
        const tbr_component *comp = def && dp->reg ? tbr_registry_find(dp->reg, TB_KIND_CONNECTOR, def->kind) : NULL;
        if (!comp) return true; /* checked without plugins: ports are known only to the plugin */
        uint32_t flags = comp->vt.connector.flags;
        if (from && (flags & TB_CONNECTOR_SOURCE)) {
            list_add(known, sizeof known, "out", 3);
            list_add(known, sizeof known, "err", 3);
            found = !strcmp(port, "out") || !strcmp(port, "err");
        }
        if (!from && (flags & TB_CONNECTOR_SINK)) {
            list_add(known, sizeof known, "in", 2);
            found = !strcmp(port, "in");
        }
    }
    if (found) return true;
    tbr_diag *d = tbr_error(dp->p, e->span, "%s '%.*s' has no %s port '%s'", e->pipeline ? "pipeline" : "connector", (int)e->name_len,
                            e->name, from ? "output" : "input", port);
    tbr_diag_hint(d, known[0] ? "its %s ports are: %s" : "it has no %s port%s", from ? "output" : "input", known);
    return false;
}

static bool check_flow(dparser *dp, const tbr_flow_def *f) {
    tbr_parser *p = dp->p;
    /* the flow's own arguments, with their defaults, are what `args` means in its creates;
     * a required one is checked with null */
    tb_arena *fa = tbr_arena_new(0);
    tb_value flow_args = tb_object();
    if (!fa) return false;
    for (uint32_t k = 0; k < f->args.count; k++) {
        tb_value v = tb_null();
        if (f->args.defaults[k]) {
            tbr_eval_env env;
            tbr_eval_env_init(&env, fa);
            tb_value none = tb_null();
            env.event = env.meta = &none;
            if (tbr_eval(&env, f->args.defaults[k], &v) != TBR_EVAL_OK) {
                tbr_error(p, env.error_span, "%s", env.error);
                tbr_arena_free(fa);
                return false;
            }
        }
        tb_value *slot = tb_object_append(fa, &flow_args, f->args.names[k], f->args.name_lens[k]);
        if (!slot) {
            tbr_arena_free(fa);
            return false;
        }
        *slot = v;
    }
    for (uint32_t i = 0; i < f->ncreates; i++) {
        const tbr_create *c = &f->creates[i];
        tb_arena *a = tbr_arena_new(0);
        char err[768];
        tb_value given;
        if (!a) {
            tbr_arena_free(fa);
            return false;
        }
        int rc = tbr_with_eval(dp->d, &c->with, &flow_args, a, &given, err, sizeof err);
        bool ok = rc == TB_OK;
        if (!ok) tbr_error(p, c->span, "%s", strchr(err, ' ') ? strchr(err, ' ') + 1 : err);
        if (ok && !c->pipeline) {
            const tbr_connector_def *def = tbr_deployment_find_connector(dp->d, f, c->def, c->def_len);
            if (!def) {
                tbr_error(p, c->span, "no connector definition named '%.*s'", (int)c->def_len, c->def);
                ok = false;
            } else {
                ok = check_connector(dp, def, &given, c->span);
            }
        } else if (ok) {
            const tbr_pipeline_def *def = tbr_deployment_find_pipeline(dp->d, f, c->def, c->def_len);
            tb_value args;
            if (!def) {
                tbr_error(p, c->span, "no pipeline definition named '%.*s'", (int)c->def_len, c->def);
                ok = false;
            } else if (tbr_args_resolve(dp->d, &def->args, &given, c->span, a, &args, err, sizeof err)) {
                tbr_error(p, c->span, "%s", strchr(err, ' ') ? strchr(err, ' ') + 1 : err);
                ok = false;
            }
        }
        tbr_arena_free(a);
        if (!ok) {
            tbr_arena_free(fa);
            return false;
        }
    }
    tbr_arena_free(fa);
    for (uint32_t i = 0; i < f->nconnects; i++) {
        const tbr_endpoint *ends[2] = {&f->connects[i].from, &f->connects[i].to};
        for (int k = 0; k < 2; k++) {
            const tbr_endpoint *e = ends[k];
            uint32_t c;
            for (c = 0; c < f->ncreates; c++)
                if (f->creates[c].pipeline == e->pipeline && same(f->creates[c].name, f->creates[c].name_len, e->name, e->name_len)) break;
            if (c == f->ncreates) {
                tbr_diag *d = tbr_error(p, e->span, "no %s '%.*s' is created in flow '%.*s'", e->pipeline ? "pipeline" : "connector",
                                        (int)e->name_len, e->name, (int)f->name_len, f->name);
                tbr_diag_hint(d, "create it first with: create %s %.*s;", e->pipeline ? "pipeline" : "connector", (int)e->name_len, e->name);
                return false;
            }
            if (!check_port(dp, f, &f->creates[c], e, k == 0)) return false;
        }
    }
    return true;
}

tbr_deployment *tbr_deployment_compile(const tbr_source *src, tbr_registry *reg, tbr_diags *diags) {
    tbr_deployment *d = calloc(1, sizeof *d);
    if (!d || !(d->arena = tbr_arena_new(0))) {
        free(d);
        return NULL;
    }
    d->src = src;
    tbr_parser p;
    tbr_parser_init(&p, src, d->arena, diags);
    tbr_scope top = {0};
    p.scope = &top;
    dparser dp = {&p, d, reg};
    bool ok = !p.failed;
    while (ok && !tbr_at(&p, TK_EOF)) {
        const tbr_token *t = tbr_peek(&p);
        if (t->kind == TK_DEFINE) {
            tbr_next(&p);
            if (tbr_at(&p, TK_FLOW)) ok = define_flow(&dp);
            else if (tbr_at(&p, TK_CONNECTOR)) ok = define_connector(&dp, &d->connectors, &d->nconnectors);
            else if (tbr_at(&p, TK_PIPELINE)) ok = define_pipeline(&dp, &d->pipelines, &d->npipelines);
            else ok = (tbr_error_expected(&p, "flow, connector or pipeline after 'define'"), false);
        } else if (t->kind == TK_DEPLOY) {
            ok = deploy(&dp);
        } else if (t->kind == TK_USE) {
            ok = use_stmt(&dp);
        } else {
            ok = (tbr_error_expected(&p, "define, deploy or use"), false);
        }
        if (ok && !tbr_accept(&p, TK_SEMI) && !tbr_at(&p, TK_EOF)) ok = (tbr_error_expected(&p, "';' after the statement"), false);
    }
    for (uint32_t i = 0; ok && i < d->ndeploys; i++) {
        const tbr_deploy_stmt *s = &d->deploys[i];
        uint32_t f;
        for (f = 0; f < d->nflows; f++)
            if (same(d->flows[f].name, d->flows[f].name_len, s->flow, s->flow_len)) break;
        if (f == d->nflows) {
            tbr_error(&p, s->span, "no flow named '%.*s' to deploy", (int)s->flow_len, s->flow);
            ok = false;
        }
    }
    for (uint32_t i = 0; ok && i < d->nflows; i++)
        if (!d->flows[i].imported) ok = check_flow(&dp, &d->flows[i]);
    if (ok && !p.failed && d->ndeploys == 0) tbr_error(&p, tbr_peek(&p)->span, "nothing is deployed: add deploy flow NAME;");
    ok = ok && !p.failed;
    d->extractors = p.extractors;
    d->nextractors = p.nextractors;
    p.extractors = NULL;
    free(top.items);
    tbr_parser_fini(&p);
    if (!ok) {
        tbr_deployment_free(d);
        return NULL;
    }
    return d;
}

void tbr_deployment_free(tbr_deployment *d) {
    if (!d) return;
    for (uint32_t i = 0; i < d->nextractors; i++) tbr_extractor_free(d->extractors[i]);
    free(d->extractors);
    tbr_arena_free(d->arena);
    free(d);
}
