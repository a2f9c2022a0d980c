/* commands.c - the admin requests: {"cmd": "plugin.list" | "plugin.load" | "plugin.unload" |
 * "plugin.reload" | "flow.deploy" | "flow.undeploy" | "flow.list" | "flow.status" | "status",
 * ...}, each answered with {"ok": true, ...} or {"ok": false, "error": "..."}. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin/admin.h"
#include "engine/flow.h"
#include "engine/plugins.h"
#include "engine/stage.h"
#include "host/loop.h"
#include "lang/deploy.h"
#include "value/arena.h"
#include "value/json.h"

typedef struct req {
    tbr_engine *e;
    tb_arena *a;
    const tb_value *args;
    tb_value out;           /* the response object */
    char err[2048];
} req;

static tb_value copy_str(tb_arena *a, const char *s) {
    size_t n = strlen(s);
    char *c = tb_arena_alloc(a, n + 1, 1);
    if (!c) return tb_null();
    memcpy(c, s, n + 1);
    return tb_string(c, n);
}

static void put(req *r, tb_value *obj, const char *key, tb_value v) {
    tb_value *slot = tb_object_append(r->a, obj, key, strlen(key));
    if (slot) *slot = v;
}

static void put_str(req *r, tb_value *obj, const char *key, const char *s) { put(r, obj, key, copy_str(r->a, s)); }

/* A string argument, or NULL (with the error set when required). */
static const char *arg(req *r, const char *key, bool required) {
    const tb_value *v = r->args ? tb_object_getz(r->args, key) : NULL;
    if (v && v->type == TB_STRING) {
        char *s = tb_arena_alloc(r->a, v->len + 1, 1);
        if (!s) return NULL;
        memcpy(s, v->as.s, v->len);
        s[v->len] = 0;
        return s;
    }
    if (required) snprintf(r->err, sizeof r->err, "the request needs \"%s\": a string", key);
    return NULL;
}

static bool flag(req *r, const char *key) {
    const tb_value *v = r->args ? tb_object_getz(r->args, key) : NULL;
    return v && v->type == TB_BOOL && v->as.b;
}

static const char *status_name(tbr_plugin_status s) {
    return s == TBR_PLUGIN_ACTIVE ? "active" : s == TBR_PLUGIN_RETIRING ? "retiring" : "retired";
}

static tb_value plugin_record(req *r, tbr_plugin *p) {
    tbr_registry *reg = tbr_engine_registry(r->e);
    tb_value o = tb_object(), comps = tb_array();
    char abi[32], users[1024];
    snprintf(abi, sizeof abi, "%u.%u", p->desc.abi_major, p->desc.abi_minor);
    put_str(r, &o, "name", p->desc.name);
    put_str(r, &o, "version", p->desc.version);
    put_str(r, &o, "abi", abi);
    put_str(r, &o, "path", p->path);
    put_str(r, &o, "status", status_name(tbr_registry_status(reg, p)));
    put(r, &o, "unload_safe", tb_bool(p->desc.flags & TB_PLUGIN_UNLOAD_SAFE));
    put(r, &o, "linked_in", tb_bool(p->handle == NULL));
    put(r, &o, "instances", tb_u64(tbr_plugin_refs(reg, p)));
    for (uint32_t i = 0; i < p->component_count; i++) {
        char c[160];
        snprintf(c, sizeof c, "%s %s", tbr_kind_name(p->components[i].desc.kind), p->components[i].desc.name);
        tb_value *slot = tb_array_push(r->a, &comps);
        if (slot) *slot = copy_str(r->a, c);
    }
    put(r, &o, "components", comps);
    if (tbr_engine_plugin_users(r->e, p, users, sizeof users)) put_str(r, &o, "used_by", users);
    return o;
}

static int plugin_list(req *r) {
    tb_value list = tb_array();
    tbr_registry *reg = tbr_engine_registry(r->e);
    for (size_t i = 0;; i++) {
        tbr_plugin *p = tbr_registry_plugin_at(reg, i);
        if (!p) break;
        tb_value *slot = tb_array_push(r->a, &list);
        if (slot) *slot = plugin_record(r, p);
    }
    put(r, &r->out, "plugins", list);
    return TB_OK;
}

static int plugin_load(req *r) {
    const char *path = arg(r, "path", true);
    tbr_plugin *p;
    if (!path) return TB_EINVAL;
    int rc = tbr_engine_load_plugin(r->e, path, &p, r->err, sizeof r->err);
    if (rc == TB_OK) put(r, &r->out, "plugin", plugin_record(r, p));
    return rc;
}

static int plugin_unload(req *r) {
    const char *name = arg(r, "name", true);
    char drained[1024];
    if (!name) return TB_EINVAL;
    tbr_plugin *p = tbr_registry_find_plugin(tbr_engine_registry(r->e), name);
    bool kept = p && p->handle && !(p->desc.flags & TB_PLUGIN_UNLOAD_SAFE);
    int rc = tbr_engine_unload_plugin(r->e, name, flag(r, "drain"), drained, sizeof drained, r->err, sizeof r->err);
    if (rc) return rc;
    tb_value flows = tb_array();
    for (char *save = NULL, *f = strtok_r(drained, ",", &save); f; f = strtok_r(NULL, ",", &save)) {
        tb_value *slot = tb_array_push(r->a, &flows);
        if (slot) *slot = copy_str(r->a, f);
    }
    put(r, &r->out, "drained", flows);
    /* an unload-safe library is unmapped as soon as no batch it touched is alive */
    put_str(r, &r->out, "library", kept ? "kept mapped (retired): the plugin is not unload-safe" : "unmapped once idle");
    return TB_OK;
}

static int plugin_reload(req *r) {
    const char *name = arg(r, "name", true);
    if (!name) return TB_EINVAL;
    tbr_reload_report rep;
    int rc = tbr_engine_reload_plugin(r->e, name, arg(r, "path", false), &rep, r->err, sizeof r->err);
    if (rc) return rc;
    put_str(r, &r->out, "from", rep.from_version);
    put_str(r, &r->out, "to", rep.to_version);
    put(r, &r->out, "stages", tb_u64(rep.stages));
    put(r, &r->out, "took_ms", tb_f64((double)rep.took_ns / 1e6));
    put(r, &r->out, "max_held_ms", tb_f64((double)rep.max_held_ns / 1e6));
    return TB_OK;
}

static int flow_deploy(req *r) {
    const char *path = arg(r, "path", true);
    if (!path) return TB_EINVAL;
    tbr_source *src = tbr_source_read(path);
    if (!src) {
        snprintf(r->err, sizeof r->err, "cannot read %s: %m", path);
        return TB_EINVAL;
    }
    tbr_diags diags;
    tbr_diags_init(&diags, src);
    tbr_deployment *d = tbr_deployment_compile(src, tbr_engine_registry(r->e), &diags);
    if (!d) {
        /* the compiler's own file:line:column messages, as `temblor check` prints them */
        char *text = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&text, &len);
        if (f) {
            tbr_diags_print(&diags, f);
            fclose(f);
        }
        while (len && text[len - 1] == '\n') text[--len] = 0;
        snprintf(r->err, sizeof r->err, "%s", text && len ? text : "the deployment does not compile");
        free(text);
        tbr_diags_free(&diags);
        tbr_source_free(src);
        return TB_EINVAL;
    }
    tbr_diags_free(&diags);
    tb_value flows = tb_array();
    for (uint32_t i = 0; i < d->ndeploys; i++) {
        char name[256];
        snprintf(name, sizeof name, "%.*s", (int)d->deploys[i].name_len, d->deploys[i].name);
        tb_value *slot = tb_array_push(r->a, &flows);
        if (slot) *slot = copy_str(r->a, name);
    }
    int rc = tbr_engine_deploy_owned(r->e, d, src, r->err, sizeof r->err);
    if (rc == TB_OK) put(r, &r->out, "flows", flows);
    return rc;
}

static int flow_undeploy(req *r) {
    const char *name = arg(r, "name", true);
    if (!name) return TB_EINVAL;
    uint64_t t0 = tbr_now_ns();
    int rc = tbr_engine_undeploy(r->e, name, r->err, sizeof r->err);
    if (rc == TB_OK) put(r, &r->out, "drained_ms", tb_f64((double)(tbr_now_ns() - t0) / 1e6));
    return rc;
}

/* The records of the engine's metrics snapshot all that belong to the stages of flow. */
static tb_value stage_metrics(req *r, const tb_value *all, const char *flow) {
    tb_value mine = tb_array();
    size_t n = strlen(flow);
    for (uint32_t i = 0; i < all->len; i++) {
        const tb_value *tags = tb_object_getz(&all->as.items[i], "tags");
        const tb_value *stage = tags ? tb_object_getz(tags, "stage") : NULL;
        if (!stage || stage->type != TB_STRING) continue;
        if (stage->len < n + 2 || memcmp(stage->as.s, flow, n) || memcmp(stage->as.s + n, "::", 2)) continue;
        tb_value *slot = tb_array_push(r->a, &mine);
        if (slot) *slot = all->as.items[i];
    }
    return mine;
}

static int flow_list(req *r, bool with_stages) {
    const char *only = with_stages ? arg(r, "name", false) : NULL;
    tb_value list = tb_array();
    tbr_engine_lock(r->e);
    for (size_t i = 0; i < tbr_engine_flow_count(r->e); i++) {
        tbr_flow *f = tbr_engine_flow_at(r->e, i);
        if (only && strcmp(f->name, only)) continue;
        tb_value o = tb_object();
        put_str(r, &o, "name", f->name);
        put_str(r, &o, "file", f->file);
        put(r, &o, "stages", tb_u64(f->nstages));
        put(r, &o, "deployed_ns", tb_u64(f->deployed_ns));
        put(r, &o, "in_flight", tb_i64(atomic_load(&f->live)));
        tb_value *slot = tb_array_push(r->a, &list);
        if (slot) *slot = o;
    }
    tbr_engine_unlock(r->e);
    if (only && !list.len) {
        snprintf(r->err, sizeof r->err, "no flow named '%s' is deployed", only);
        return TB_EINVAL;
    }
    /* one snapshot (it takes the engine lock itself), shared out by the flow each record names */
    tb_value all = tb_array();
    if (with_stages && list.len && tbr_engine_metrics(r->e, r->a, &all) != TB_OK) all = tb_array();
    for (uint32_t i = 0; with_stages && i < list.len; i++) {
        const char *name = tb_value_str(tb_object_getz(&list.as.items[i], "name"), NULL);
        if (name) put(r, &list.as.items[i], "metrics", stage_metrics(r, &all, name));
    }
    put(r, &r->out, "flows", list);
    return TB_OK;
}

static int status(req *r) {
    tbr_engine_lock(r->e);
    size_t flows = tbr_engine_flow_count(r->e), stages = tbr_engine_stage_count(r->e);
    tbr_engine_unlock(r->e);
    put_str(r, &r->out, "version", TBR_VERSION);
    char abi[16];
    snprintf(abi, sizeof abi, "%d.%d", TB_ABI_MAJOR, TB_ABI_MINOR);
    put_str(r, &r->out, "abi", abi);
    put(r, &r->out, "flows", tb_u64(flows));
    put(r, &r->out, "stages", tb_u64(stages));
    put(r, &r->out, "shutting_down", tb_bool(tbr_engine_shutting_down(r->e)));
    return TB_OK;
}

static int dispatch(req *r, const char *cmd) {
    if (!strcmp(cmd, "plugin.list")) return plugin_list(r);
    if (!strcmp(cmd, "plugin.load")) return plugin_load(r);
    if (!strcmp(cmd, "plugin.unload")) return plugin_unload(r);
    if (!strcmp(cmd, "plugin.reload")) return plugin_reload(r);
    if (!strcmp(cmd, "flow.deploy")) return flow_deploy(r);
    if (!strcmp(cmd, "flow.undeploy")) return flow_undeploy(r);
    if (!strcmp(cmd, "flow.list")) return flow_list(r, false);
    if (!strcmp(cmd, "flow.status")) return flow_list(r, true);
    if (!strcmp(cmd, "status")) return status(r);
    snprintf(r->err, sizeof r->err,
             "unknown command '%s': expected plugin.list, plugin.load, plugin.unload, plugin.reload, flow.deploy, "
             "flow.undeploy, flow.list, flow.status or status",
             cmd);
    return TB_EINVAL;
}

char *tbr_admin_run_command(tbr_engine *e, const char *text, size_t len) {
    req r = {.e = e, .a = tbr_arena_new(0)};
    if (!r.a) return NULL;
    tb_value request;
    char perr[256];
    int rc = TB_EINVAL;
    r.out = tb_object();
    put(&r, &r.out, "ok", tb_bool(false));
    if (tbr_json_parse(r.a, text, len, &request, perr, sizeof perr) != TB_OK) {
        snprintf(r.err, sizeof r.err, "the request is not JSON: %s", perr);
    } else if (request.type != TB_OBJECT) {
        snprintf(r.err, sizeof r.err, "the request must be a JSON object with \"cmd\"");
    } else {
        r.args = &request;
        const char *cmd = arg(&r, "cmd", true);
        if (cmd) rc = dispatch(&r, cmd);
    }
    tb_object_getz(&r.out, "ok")->as.b = rc == TB_OK;
    if (rc != TB_OK) put_str(&r, &r.out, "error", r.err[0] ? r.err : "failed");
    tb_buf buf;
    tb_buf_init(&buf, r.a);
    char *line = NULL;
    if (tbr_json_write(&r.out, &buf) == TB_OK && (line = malloc(buf.len + 2))) {
        memcpy(line, buf.data, buf.len);
        line[buf.len] = '\n';
        line[buf.len + 1] = 0;
    }
    tbr_arena_free(r.a);
    return line;
}
