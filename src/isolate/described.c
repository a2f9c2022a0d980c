/* described.c - plugins described by a plugin host, never mapped by the runtime (described.h). */
#include "isolate/described.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "isolate/proxy.h"
#include "value/arena.h"

/* --- the description, in the host ----------------------------------------------------------- */

static bool put(tb_arena *a, tb_value *obj, const char *key, tb_value v) {
    tb_value *slot = tb_object_append(a, obj, key, strlen(key));
    if (slot) *slot = v;
    return slot != NULL;
}

static tb_value str_or_null(const char *s) { return s ? tb_stringz(s) : tb_null(); }

/* The optional calls a component has: the runtime's stubs stand in for exactly these. */
static bool put_calls(tb_arena *a, tb_value *c, const tbr_component *comp) {
    tb_value calls = tb_object();
    bool ok = true;
    switch (comp->desc.kind) {
    case TB_KIND_OPERATOR:
        ok = put(a, &calls, "tick", tb_bool(comp->vt.op.tick)) && put(a, &calls, "contraflow", tb_bool(comp->vt.op.contraflow)) &&
             put(a, &calls, "save", tb_bool(comp->vt.op.save)) && put(a, &calls, "restore", tb_bool(comp->vt.op.restore));
        break;
    case TB_KIND_PREPROCESSOR:
    case TB_KIND_POSTPROCESSOR: ok = put(a, &calls, "finish", tb_bool(comp->vt.processor.finish)); break;
    default: break;
    }
    return ok && put(a, c, "calls", calls);
}

int tbr_describe_plugin(const tbr_plugin *p, tb_arena *a, tb_value *out) {
    tb_value d = tb_object(), comps = tb_array(), perms = tb_array();
    bool ok = put(a, &d, "name", tb_stringz(p->desc.name)) && put(a, &d, "version", tb_stringz(p->desc.version)) &&
              put(a, &d, "description", str_or_null(p->desc.description)) &&
              put(a, &d, "abi_minor", tb_u64(p->desc.abi_minor)) && put(a, &d, "flags", tb_u64(p->desc.flags));
    for (uint32_t i = 0; ok && i < p->component_count; i++) {
        const tbr_component *comp = &p->components[i];
        tb_value c = tb_object(), opts = tb_array(), ports = tb_null();
        ok = put(a, &c, "kind", tb_u64(comp->desc.kind)) && put(a, &c, "name", tb_stringz(comp->desc.name)) &&
             put(a, &c, "description", str_or_null(comp->desc.description)) && put_calls(a, &c, comp);
        if (ok && comp->desc.kind == TB_KIND_CONNECTOR) ok = put(a, &c, "connector_flags", tb_u64(comp->vt.connector.flags));
        if (ok && comp->desc.kind == TB_KIND_OPERATOR && comp->vt.op.output_ports) {
            ports = tb_array();
            for (const char *const *n = comp->vt.op.output_ports; ok && *n; n++) {
                tb_value *slot = tb_array_push(a, &ports);
                if ((ok = slot != NULL)) *slot = tb_stringz(*n);
            }
        }
        if (ok) ok = put(a, &c, "ports", ports);
        for (uint32_t k = 0; ok && k < comp->desc.option_count; k++) {
            const tb_option *o = &comp->options[k];
            tb_value opt = tb_object(), *slot;
            ok = put(a, &opt, "name", tb_stringz(o->name)) && put(a, &opt, "type", tb_u64(o->type)) &&
                 put(a, &opt, "default", str_or_null(o->default_value)) && put(a, &opt, "doc", str_or_null(o->doc)) &&
                 put(a, &opt, "flags", tb_u64(o->flags)) && (slot = tb_array_push(a, &opts)) != NULL;
            if (ok) *slot = opt;
        }
        tb_value *slot;
        if (ok) ok = put(a, &c, "options", opts) && (slot = tb_array_push(a, &comps)) != NULL;
        if (ok) *slot = c;
    }
    for (uint32_t i = 0; ok && i < p->permission_count; i++) {
        const tb_permission *pm = &p->permissions[i];
        tb_value v = tb_object(), *slot;
        ok = put(a, &v, "kind", tb_u64(pm->kind)) && put(a, &v, "target", str_or_null(pm->target)) &&
             put(a, &v, "option", str_or_null(pm->option)) && put(a, &v, "reason", str_or_null(pm->reason)) &&
             (slot = tb_array_push(a, &perms)) != NULL;
        if (ok) *slot = v;
    }
    ok = ok && put(a, &d, "components", comps) && put(a, &d, "permissions", perms);
    if (ok) *out = d;
    return ok ? TB_OK : TB_ENOMEM;
}

/* --- the plugin, rebuilt in the runtime ------------------------------------------------------- */

/* Stand-ins for the plugin's calls. None is ever called: every instance of a described plugin
 * is isolated, and its proxy calls the host instead. */
static int TB_CALL stub_create(const tb_create_args *args, void **out) {
    (void)args;
    *out = NULL;
    return TB_ENOTSUP;
}
static void TB_CALL stub_destroy(void *i) { (void)i; }
static int TB_CALL stub_life(void *i) { return (void)i, TB_ENOTSUP; }
static int TB_CALL stub_batch(void *i, tb_batch *b) { return (void)i, (void)b, TB_ENOTSUP; }
static void TB_CALL stub_ids(void *i, const uint64_t *ids, uint32_t n) { (void)i, (void)ids, (void)n; }
static int TB_CALL stub_proc(void *i, const tb_batch *in, tb_batch *out) { return (void)i, (void)in, (void)out, TB_ENOTSUP; }
static int TB_CALL stub_op(void *i, uint32_t port, tb_batch *in, tb_batch *out) {
    return (void)i, (void)port, (void)in, (void)out, TB_ENOTSUP;
}
static int TB_CALL stub_tick(void *i, uint64_t now, tb_batch *out) { return (void)i, (void)now, (void)out, TB_ENOTSUP; }
static void TB_CALL stub_contraflow(void *i, const tb_contraflow *cf) { (void)i, (void)cf; }
static int TB_CALL stub_save(void *i, tb_arena *a, tb_value *out) { return (void)i, (void)a, (void)out, TB_ENOTSUP; }
static int TB_CALL stub_restore(void *i, const tb_value *v) { return (void)i, (void)v, TB_ENOTSUP; }

/* A NUL-terminated copy of string value v in a; NULL when v is not a string (or has a NUL). */
static const char *dupz(tb_arena *a, const tb_value *v) {
    size_t len;
    const char *s = tb_value_str(v, &len);
    if (!s || memchr(s, '\0', len)) return NULL;
    char *c = tb_arena_alloc(a, len + 1, 1);
    if (!c) return NULL;
    memcpy(c, s, len);
    c[len] = '\0';
    return c;
}

static bool has_call(const tb_value *comp, const char *name) {
    const tb_value *calls = tb_object_getz(comp, "calls");
    return calls && tb_config_bool(calls, name, false);
}

/* The vtable of kind for description comp, in a: stubs where the plugin has calls. */
static const void *stub_vtable(tb_arena *a, uint32_t kind, const tb_value *comp) {
    switch (kind) {
    case TB_KIND_CONNECTOR: {
        tb_connector_vtable *v = tb_arena_alloc(a, sizeof *v, 8);
        if (!v) return NULL;
        uint32_t flags = (uint32_t)tb_config_u64(comp, "connector_flags", 0);
        *v = (tb_connector_vtable){.struct_size = sizeof *v, .flags = flags, .create = stub_create,
                                   .destroy = stub_destroy, .connect = stub_life, .start = stub_life,
                                   .pull = (flags & TB_CONNECTOR_SOURCE) ? stub_batch : NULL,
                                   .ack = stub_ids, .fail = stub_ids,
                                   .push = (flags & TB_CONNECTOR_SINK) ? stub_batch : NULL};
        return v;
    }
    case TB_KIND_CODEC: {
        tb_codec_vtable *v = tb_arena_alloc(a, sizeof *v, 8);
        if (v) *v = (tb_codec_vtable){.struct_size = sizeof *v, .create = stub_create, .destroy = stub_destroy,
                                       .decode = stub_batch, .encode = stub_batch};
        return v;
    }
    case TB_KIND_PREPROCESSOR:
    case TB_KIND_POSTPROCESSOR: {
        tb_processor_vtable *v = tb_arena_alloc(a, sizeof *v, 8);
        if (v) *v = (tb_processor_vtable){.struct_size = sizeof *v, .create = stub_create, .destroy = stub_destroy,
                                           .process = stub_proc, .finish = has_call(comp, "finish") ? stub_batch : NULL};
        return v;
    }
    case TB_KIND_OPERATOR: {
        tb_operator_vtable *v = tb_arena_alloc(a, sizeof *v, 8);
        if (!v) return NULL;
        const tb_value *ports = tb_object_getz(comp, "ports");
        const char **names = NULL;
        if (ports && ports->type == TB_ARRAY) {
            if (!(names = tb_arena_alloc(a, (ports->len + 1) * sizeof *names, 8))) return NULL;
            for (uint32_t i = 0; i < ports->len; i++)
                if (!(names[i] = dupz(a, &ports->as.items[i]))) return NULL;
            names[ports->len] = NULL;
        }
        *v = (tb_operator_vtable){.struct_size = sizeof *v, .output_ports = names, .create = stub_create,
                                  .destroy = stub_destroy, .process = stub_op,
                                  .tick = has_call(comp, "tick") ? stub_tick : NULL,
                                  .contraflow = has_call(comp, "contraflow") ? stub_contraflow : NULL,
                                  .save = has_call(comp, "save") ? stub_save : NULL,
                                  .restore = has_call(comp, "restore") ? stub_restore : NULL};
        return v;
    }
    default: return NULL;
    }
}

static const tb_value *array_of(const tb_value *obj, const char *key) {
    const tb_value *v = tb_object_getz(obj, key);
    return v && v->type == TB_ARRAY ? v : NULL;
}

/* The options of description comp as tb_option structs in a; NULL (with *count 0) for none. */
static tb_option *options_of(tb_arena *a, const tb_value *comp, uint32_t *count, bool *oom) {
    const tb_value *list = array_of(comp, "options");
    *count = list ? list->len : 0;
    if (!*count) return NULL;
    tb_option *o = tb_arena_alloc(a, *count * sizeof *o, 8);
    if (!o) return *oom = true, NULL;
    for (uint32_t i = 0; i < *count; i++) {
        const tb_value *v = &list->as.items[i];
        o[i] = (tb_option){.struct_size = sizeof *o, .type = (uint32_t)tb_config_u64(v, "type", 0),
                           .name = dupz(a, tb_object_getz(v, "name")),
                           .default_value = dupz(a, tb_object_getz(v, "default")),
                           .doc = dupz(a, tb_object_getz(v, "doc")),
                           .flags = (uint32_t)tb_config_u64(v, "flags", 0)};
    }
    return o;
}

int tbr_described_plugin(const tb_value *desc, const char *path, tbr_plugin **out, char *err, size_t n) {
    *out = NULL;
    tb_arena *a = tbr_arena_new(0);
    tb_plugin_descriptor *d = a ? tb_arena_alloc(a, sizeof *d, 8) : NULL;
    if (!d || desc->type != TB_OBJECT) {
        tbr_arena_free(a);
        return tbr_fail_into(err, n, d ? TB_EINVAL : TB_ENOMEM, "%s: %s", path, d ? "the description is not a record" : "out of memory");
    }
    const tb_value *comps = array_of(desc, "components"), *perms = array_of(desc, "permissions");
    uint64_t minor = tb_config_u64(desc, "abi_minor", 0);
    memset(d, 0, sizeof *d);
    d->magic = TB_PLUGIN_MAGIC;
    d->abi_major = TB_ABI_MAJOR;
    d->struct_size = sizeof *d;
    d->abi_minor = (uint16_t)(minor > TB_ABI_MINOR ? 0xffff : minor); /* refused below, with the number */
    d->flags = (uint32_t)tb_config_u64(desc, "flags", 0) & TB_PLUGIN_UNLOAD_SAFE;
    d->name = dupz(a, tb_object_getz(desc, "name"));
    d->version = dupz(a, tb_object_getz(desc, "version"));
    d->description = dupz(a, tb_object_getz(desc, "description"));
    d->component_count = comps ? comps->len : 0;
    bool oom = false;
    tb_component **list = tb_arena_alloc(a, (d->component_count + 1) * sizeof *list, 8);
    oom = !list;
    for (uint32_t i = 0; !oom && i < d->component_count; i++) {
        const tb_value *cv = &comps->as.items[i];
        tb_component *c = tb_arena_alloc(a, sizeof *c, 8);
        if (!(list[i] = c)) {
            oom = true;
            break;
        }
        uint32_t kind = (uint32_t)tb_config_u64(cv, "kind", 0);
        *c = (tb_component){.struct_size = sizeof *c, .kind = kind, .name = dupz(a, tb_object_getz(cv, "name")),
                            .description = dupz(a, tb_object_getz(cv, "description"))};
        c->options = options_of(a, cv, &c->option_count, &oom);
        c->vtable = stub_vtable(a, kind, cv); /* NULL for an unknown kind: refused below */
    }
    d->components = (const tb_component *const *)list;
    if (perms && perms->len) {
        tb_permission *p = tb_arena_alloc(a, perms->len * sizeof *p, 8);
        oom = oom || !p;
        for (uint32_t i = 0; p && i < perms->len; i++) {
            const tb_value *pv = &perms->as.items[i];
            p[i] = (tb_permission){.struct_size = sizeof *p, .kind = (uint32_t)tb_config_u64(pv, "kind", 0),
                                   .target = dupz(a, tb_object_getz(pv, "target")),
                                   .option = dupz(a, tb_object_getz(pv, "option")),
                                   .reason = dupz(a, tb_object_getz(pv, "reason"))};
        }
        d->permissions = p;
        d->permission_count = perms->len;
    }
    if (oom) {
        tbr_arena_free(a);
        return tbr_fail_into(err, n, TB_ENOMEM, "%s: out of memory", path);
    }
    char why[768];
    tbr_plugin *p;
    int rc = tbr_plugin_from_descriptor(d, path, &p, why, sizeof why);
    if (rc) {
        tbr_arena_free(a);
        return tbr_fail_into(err, n, rc, "%s: as its plugin host describes it: %s", path, why);
    }
    p->described = a;
    p->isolated_only = true;
    *out = p;
    return TB_OK;
}

/* --- an isolated plugin path ------------------------------------------------------------------ */

/* Describes one library through a plugin host and admits it, or records why not. */
static int describe_one(tbr_registry *reg, const char *path, void *user) {
    (void)user;
    char err[1024];
    tb_arena *a = tbr_arena_new(0);
    tb_value desc;
    tbr_plugin *p = NULL;
    int rc = a ? tbr_proxy_describe(path, a, &desc, err, sizeof err) : TB_ENOMEM;
    if (!a) snprintf(err, sizeof err, "%.1000s: out of memory", path);
    if (!rc) rc = tbr_described_plugin(&desc, path, &p, err, sizeof err);
    tbr_arena_free(a);
    if (rc) {
        tbr_registry_refuse(reg, path, err);
        return rc;
    }
    return tbr_registry_admit(reg, p, NULL, 0);
}

int tbr_isolated_scan_dir(tbr_registry *reg, const char *dir) {
    return tbr_registry_scan_dir_with(reg, dir, describe_one, NULL);
}
