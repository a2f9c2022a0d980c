/* flow.c - from a troy deployment to stages and links: each `deploy flow` statement creates
 * the flow's connector and pipeline instances and wires its `connect` statements. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/connector.h"
#include "engine/engine.h"
#include "engine/flow.h"
#include "engine/pipeline_stage.h"
#include "isolate/isolation.h"
#include "value/arena.h"

typedef struct built {
    const tbr_create *create;
    tbr_stage *stage;
} built;

typedef struct flow_build {
    tbr_engine *e;
    const tbr_deployment *d;
    const tbr_flow_def *f;
    const tbr_deploy_stmt *ds;
    tb_arena *a;
    built *stages;
    uint32_t nstages;
    char *err;
    size_t err_size;
} flow_build;

static bool same(const char *a, uint32_t an, const char *b, uint32_t bn) { return an == bn && !memcmp(a, b, an); }

/* "name" or {"name": ..., "config": {...}} to a component of kind. */
static int component_ref(flow_build *b, uint32_t kind, const tb_value *v, tbr_span at, tbr_component_ref *out) {
    const tb_value *name = v && v->type == TB_OBJECT ? tb_object_getz(v, "name") : v;
    const tb_value *config = v && v->type == TB_OBJECT ? tb_object_getz(v, "config") : NULL;
    char buf[128];
    if (!name || name->type != TB_STRING)
        return tbr_deploy_error_at(b->d, at, b->err, b->err_size, "a %s is named by a string or {\"name\": ..., \"config\": {...}}",
                                   tbr_kind_name(kind));
    snprintf(buf, sizeof buf, "%.*s", (int)name->len, name->as.s);
    out->component = tbr_registry_find(tbr_engine_registry(b->e), kind, buf);
    out->config = config ? *config : tb_null();
    /* {"name": ..., "isolation": ..., "grant": ...}: the runtime's settings travel in a copy of
     * the configuration, where tbr_instance_create reads them (isolate/isolation.h) */
    bool settings = false;
    for (uint32_t i = 0; v && v->type == TB_OBJECT && i < v->len; i++)
        settings = settings || tbr_isolation_is_setting(v->as.members[i].key, v->as.members[i].key_len);
    if (settings) {
        tb_value copy = tb_object();
        const tb_value *parts[2] = {config && config->type == TB_OBJECT ? config : NULL, v};
        for (int p = 0; p < 2; p++)
            for (uint32_t i = 0; parts[p] && i < parts[p]->len; i++) {
                const tb_member *m = &parts[p]->as.members[i];
                if (p == 1 && !tbr_isolation_is_setting(m->key, m->key_len)) continue;
                tb_value *slot = tb_object_set(b->a, &copy, m->key, m->key_len);
                if (!slot) return TB_ENOMEM;
                *slot = m->value;
            }
        out->config = copy;
    }
    if (!out->component) return tbr_deploy_error_at(b->d, at, b->err, b->err_size, "unknown %s '%s'", tbr_kind_name(kind), buf);
    return TB_OK;
}

static int processors(flow_build *b, uint32_t kind, const tb_value *list, tbr_span at, tbr_component_ref **out, uint32_t *n) {
    *out = NULL;
    *n = 0;
    if (!list) return TB_OK;
    if (list->type != TB_ARRAY) return tbr_deploy_error_at(b->d, at, b->err, b->err_size, "%ss must be an array", tbr_kind_name(kind));
    *out = tb_arena_alloc(b->a, (list->len + 1) * sizeof **out, 8);
    if (!*out) return TB_ENOMEM;
    for (uint32_t i = 0; i < list->len; i++) {
        int rc = component_ref(b, kind, &list->as.items[i], at, &(*out)[i]);
        if (rc) return rc;
    }
    *n = list->len;
    return TB_OK;
}

static uint64_t ms_field(const tb_value *o, const char *name, uint64_t fallback) {
    double d;
    const tb_value *v = tb_object_getz(o, name);
    return v && tb_value_as_f64(v, &d) && d >= 0 ? (uint64_t)(d * 1e6) : fallback;
}

/* reconnect = {"retry": {"interval_ms", "growth_rate", "max_retries", "randomized",
 * "max_interval_ms"}}, or "none" (the default, as in Tremor: a connector that cannot connect,
 * or loses its connection, fails). Returns TB_OK or an error naming the place. */
static int reconnect_of(flow_build *b, const tb_value *v, tbr_span at, tbr_retry *r) {
    *r = (tbr_retry){false, 1000000000ull, 2.0, 60000000000ull, 0, true};
    if (!v || (v->type == TB_STRING && v->len == 4 && !memcmp(v->as.s, "none", 4))) return TB_OK;
    const tb_value *retry = v->type == TB_OBJECT ? tb_object_getz(v, "retry") : NULL;
    if (!retry || retry->type != TB_OBJECT)
        return tbr_deploy_error_at(b->d, at, b->err, b->err_size,
                                   "reconnect is \"none\" or {\"retry\": {\"interval_ms\": ..., \"growth_rate\": ..., "
                                   "\"max_retries\": ..., \"randomized\": ...}}");
    r->enabled = true;
    double d;
    r->interval_ns = ms_field(retry, "interval_ms", r->interval_ns);
    r->max_interval_ns = ms_field(retry, "max_interval_ms", r->max_interval_ns);
    if (tb_value_as_f64(tb_object_getz(retry, "growth_rate"), &d) && d >= 1) r->growth = d;
    if (tb_value_as_f64(tb_object_getz(retry, "max_retries"), &d) && d >= 0) r->max_retries = (uint32_t)d;
    const tb_value *rnd = tb_object_getz(retry, "randomized");
    if (rnd && rnd->type == TB_BOOL) r->randomized = rnd->as.b;
    return TB_OK;
}

static tbr_stage *build_connector(flow_build *b, const tbr_create *c, const tb_value *given, const char *name) {
    const tbr_connector_def *def = tbr_deployment_find_connector(b->d, b->f, c->def, c->def_len);
    tb_value args, with;
    if (!def) {
        tbr_deploy_error_at(b->d, c->span, b->err, b->err_size, "no connector definition named '%.*s'", (int)c->def_len, c->def);
        return NULL;
    }
    if (tbr_args_resolve(b->d, &def->args, given, c->span, b->a, &args, b->err, b->err_size) ||
        tbr_with_eval(b->d, &def->with, &args, b->a, &with, b->err, b->err_size))
        return NULL;
    tbr_connector_spec spec = {0};
    tb_value kind = tb_stringz(def->kind);
    if (component_ref(b, TB_KIND_CONNECTOR, &kind, def->span, &spec.connector)) return NULL;
    const tb_value *config = tb_object_getz(&with, "config");
    spec.connector.config = config ? *config : tb_object();
    /* a connector that emits values needs no codec on its source side; every sink gets
     * bytes, JSON unless the definition says otherwise, as in Tremor */
    const tb_value *codec = tb_object_getz(&with, "codec");
    tb_value json = tb_stringz("json");
    if (component_ref(b, TB_KIND_CODEC, codec ? codec : &json, def->span, &spec.codec)) return NULL;
    spec.codec_named = codec != NULL;
    if (processors(b, TB_KIND_PREPROCESSOR, tb_object_getz(&with, "preprocessors"), def->span, &spec.pre, &spec.npre) ||
        processors(b, TB_KIND_POSTPROCESSOR, tb_object_getz(&with, "postprocessors"), def->span, &spec.post, &spec.npost))
        return NULL;
    if (reconnect_of(b, tb_object_getz(&with, "reconnect"), def->span, &spec.reconnect)) return NULL;
    char why[600] = "";
    tbr_stage *n = tbr_connector_stage_new(b->e, name, &spec, why, sizeof why);
    if (!n) tbr_deploy_error_at(b->d, c->span, b->err, b->err_size, "connector %s: %s", name, why);
    return n;
}

static tbr_stage *build_pipeline(flow_build *b, const tbr_create *c, const tb_value *given, const char *name) {
    const tbr_pipeline_def *def = tbr_deployment_find_pipeline(b->d, b->f, c->def, c->def_len);
    tb_value args;
    if (!def) {
        tbr_deploy_error_at(b->d, c->span, b->err, b->err_size, "no pipeline definition named '%.*s'", (int)c->def_len, c->def);
        return NULL;
    }
    if (tbr_args_resolve(b->d, &def->args, given, c->span, b->a, &args, b->err, b->err_size)) return NULL;
    char why[600] = "";
    tbr_stage *n = tbr_pipeline_stage_new(b->e, name, def->query, &args, why, sizeof why);
    if (!n) tbr_deploy_error_at(b->d, c->span, b->err, b->err_size, "%s", why);
    return n;
}

static tbr_stage *find_stage(flow_build *b, const tbr_endpoint *ep) {
    for (uint32_t i = 0; i < b->nstages; i++) {
        const tbr_create *c = b->stages[i].create;
        if (c->pipeline == ep->pipeline && same(c->name, c->name_len, ep->name, ep->name_len)) return b->stages[i].stage;
    }
    return NULL;
}

static void port_names(const tbr_stage *n, bool out, char *buf, size_t size) {
    size_t used = 0;
    buf[0] = 0;
    uint32_t count = out ? n->nouts : n->nin;
    for (uint32_t i = 0; i < count && used < size; i++)
        used += (size_t)snprintf(buf + used, size - used, "%s%s", i ? ", " : "", out ? n->outs[i].name : n->in_ports[i]);
    if (!count) snprintf(buf, size, "none");
}

static int wire(flow_build *b, const tbr_connect *cn) {
    tbr_stage *from = find_stage(b, &cn->from), *to = find_stage(b, &cn->to);
    if (!from || !to) {
        const tbr_endpoint *ep = from ? &cn->to : &cn->from;
        return tbr_deploy_error_at(b->d, ep->span, b->err, b->err_size, "no %s '%.*s' in this flow", ep->pipeline ? "pipeline" : "connector",
                                   (int)ep->name_len, ep->name);
    }
    const char *out_name = cn->from.port ? cn->from.port : "out";
    const char *in_name = cn->to.port ? cn->to.port : "in";
    tbr_out_port *out = tbr_stage_out(from, out_name);
    char known[256];
    if (!out) {
        port_names(from, true, known, sizeof known);
        return tbr_deploy_error_at(b->d, cn->from.span, b->err, b->err_size, "%s has no output port '%s' (it has: %s)", from->name, out_name,
                                   known);
    }
    int in = -1;
    for (uint32_t i = 0; i < to->nin; i++)
        if (!strcmp(to->in_ports[i], in_name)) in = (int)i;
    if (in < 0) {
        port_names(to, false, known, sizeof known);
        return tbr_deploy_error_at(b->d, cn->to.span, b->err, b->err_size, "%s has no input port '%s' (it has: %s)", to->name, in_name,
                                   known);
    }
    return tbr_stage_link(from, out, to, (uint32_t)in);
}

/* Every connector sink reachable from a connector source or a pipeline (through pipelines)
 * can pause that source, or tell that pipeline's operators that it cannot deliver. */
static int watch_circuits(tbr_stage *watcher, tbr_stage *at, uint32_t depth) {
    if (depth > 64) return TB_OK; /* a cycle through pipelines: every stage seen already */
    for (uint32_t i = 0; i < at->nouts; i++)
        for (uint32_t k = 0; k < at->outs[i].nlinks; k++) {
            tbr_stage *dst = at->outs[i].links[k].dst;
            int rc;
            if (!tbr_stage_is_connector(dst)) rc = watch_circuits(watcher, dst, depth + 1);
            else if (tbr_stage_is_connector(watcher)) rc = tbr_connector_stage_watch_circuit(watcher, dst);
            else rc = tbr_pipeline_stage_watch_circuit(watcher, dst);
            if (rc) return rc;
        }
    return TB_OK;
}

static void stage_free(tbr_stage *n) {
    n->ops->destroy(n);
    tbr_stage_fini(n);
    free(n);
}

void tbr_flow_free(tbr_flow *f) {
    if (!f) return;
    /* what is still queued (a drain that timed out) is failed while every stage it may
     * settle a ticket with is still there */
    for (uint32_t i = 0; i < f->nstages; i++) tbr_queue_drop_all(&f->stages[i]->inbox, TB_EIO);
    for (uint32_t i = 0; i < f->nstages; i++) stage_free(f->stages[i]);
    free(f->stages);
    free(f->name);
    free(f->file);
    free(f);
}

/* Adds n to f (which owns it from now on, even on failure). */
static int flow_add_stage(tbr_flow *f, tbr_stage *n) {
    tbr_stage **grown = realloc(f->stages, (f->nstages + 1) * sizeof *grown);
    if (!grown) {
        stage_free(n);
        return TB_ENOMEM;
    }
    grown[f->nstages++] = n;
    f->stages = grown;
    n->live = &f->live;
    if (tbr_stage_is_connector(n) && tbr_connector_stage_has_source(n)) f->sources++;
    return TB_OK;
}

static tbr_flow *build_one(tbr_engine *e, const tbr_deployment *d, const tbr_deploy_stmt *ds, char *err, size_t err_size) {
    const tbr_flow_def *fd = NULL;
    for (uint32_t i = 0; i < d->nflows && !fd; i++)
        if (same(d->flows[i].name, d->flows[i].name_len, ds->flow, ds->flow_len)) fd = &d->flows[i];
    if (!fd) {
        tbr_deploy_error_at(d, ds->span, err, err_size, "no flow named '%.*s'", (int)ds->flow_len, ds->flow);
        return NULL;
    }
    tbr_flow *flow = calloc(1, sizeof *flow);
    flow_build b = {e, d, fd, ds, tbr_arena_new(0), calloc(fd->ncreates + 1, sizeof(built)), 0, err, err_size};
    int rc = TB_ENOMEM;
    tb_value empty = tb_object(), given, fargs;
    if (!flow || !b.a || !b.stages || !(flow->name = strndup(ds->name, ds->name_len)) ||
        !(flow->file = strdup(d->src->name)))
        goto done;
    atomic_init(&flow->live, 0);
    rc = tbr_with_eval(d, &ds->with, &empty, b.a, &given, err, err_size);
    if (!rc) rc = tbr_args_resolve(d, &fd->args, &given, ds->span, b.a, &fargs, err, err_size);
    for (uint32_t i = 0; !rc && i < fd->ncreates; i++) {
        const tbr_create *c = &fd->creates[i];
        char name[256];
        snprintf(name, sizeof name, "%.*s::%.*s", (int)ds->name_len, ds->name, (int)c->name_len, c->name);
        tb_value cargs;
        rc = tbr_with_eval(d, &c->with, &fargs, b.a, &cargs, err, err_size);
        if (rc) break;
        tbr_stage *n = c->pipeline ? build_pipeline(&b, c, &cargs, name) : build_connector(&b, c, &cargs, name);
        if (!n) {
            rc = TB_EINVAL;
            break;
        }
        rc = flow_add_stage(flow, n);
        if (rc) break;
        b.stages[b.nstages++] = (built){c, n};
    }
    for (uint32_t i = 0; !rc && i < fd->nconnects; i++) rc = wire(&b, &fd->connects[i]);
    for (uint32_t i = 0; !rc && i < b.nstages; i++)
        if (tbr_stage_is_connector(b.stages[i].stage)) tbr_connector_stage_seal(b.stages[i].stage);
    for (uint32_t i = 0; !rc && i < b.nstages; i++)
        if (!tbr_stage_is_connector(b.stages[i].stage) || tbr_connector_stage_has_source(b.stages[i].stage))
            rc = watch_circuits(b.stages[i].stage, b.stages[i].stage, 0);
    if (!rc) {
        /* sealing may have switched source halves off */
        flow->sources = 0;
        for (uint32_t i = 0; i < flow->nstages; i++)
            if (tbr_stage_is_connector(flow->stages[i]) && tbr_connector_stage_has_source(flow->stages[i])) flow->sources++;
    }
done:
    if (rc == TB_ENOMEM) snprintf(err, err_size, "out of memory deploying flow %.*s", (int)ds->name_len, ds->name);
    free(b.stages);
    tbr_arena_free(b.a);
    if (rc) {
        tbr_flow_free(flow);
        return NULL;
    }
    return flow;
}

int tbr_flows_build(tbr_engine *e, const tbr_deployment *d, tbr_flow ***out, uint32_t *nout, char *err, size_t err_size) {
    *out = NULL;
    *nout = 0;
    if (!d->ndeploys) {
        snprintf(err, err_size, "%s: nothing to run: the file deploys no flow (add `deploy flow NAME;`)", d->src->name);
        return TB_EINVAL;
    }
    tbr_flow **flows = calloc(d->ndeploys, sizeof *flows);
    if (!flows) {
        snprintf(err, err_size, "out of memory deploying %s", d->src->name);
        return TB_ENOMEM;
    }
    for (uint32_t i = 0; i < d->ndeploys; i++) {
        const tbr_deploy_stmt *ds = &d->deploys[i];
        for (uint32_t k = 0; k < i; k++)
            if (same(ds->name, ds->name_len, d->deploys[k].name, d->deploys[k].name_len)) {
                tbr_deploy_error_at(d, ds->span, err, err_size, "flow '%.*s' is deployed twice", (int)ds->name_len, ds->name);
                goto fail;
            }
        if (!(flows[i] = build_one(e, d, ds, err, err_size))) goto fail;
    }
    *out = flows;
    *nout = d->ndeploys;
    return TB_OK;
fail:
    for (uint32_t i = 0; i < d->ndeploys; i++) tbr_flow_free(flows[i]);
    free(flows);
    return TB_EINVAL;
}
