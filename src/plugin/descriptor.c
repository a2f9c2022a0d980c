/* descriptor.c - checks a plugin descriptor and copies it into the runtime's full-size
 * structs (the only place that reads a plugin's own structs). */
#include "plugin/plugin.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "value/arena.h"
#include "plugin/options.h"
#include "value/json.h"

#define MAX_COMPONENTS 1024u
#define MAX_OPTIONS 256u
#define MAX_PERMISSIONS 64u
#define MAX_NAME 64u

/* Size of the descriptor as ABI 1.0 declared it: it ended with deinit. */
#define DESCRIPTOR_SIZE_1_0 (offsetof(tb_plugin_descriptor, deinit) + sizeof(void (*)(void)))

const char *tbr_kind_name(uint32_t kind) {
    switch (kind) {
    case TB_KIND_CONNECTOR: return "connector";
    case TB_KIND_CODEC: return "codec";
    case TB_KIND_PREPROCESSOR: return "preprocessor";
    case TB_KIND_POSTPROCESSOR: return "postprocessor";
    case TB_KIND_OPERATOR: return "operator";
    default: return "unknown";
    }
}

const char *tbr_option_type_name(uint32_t type) {
    static const char *const names[] = {NULL,     "bool",   "int",    "uint", "float",
                                        "string", "array", "object", "any"};
    return type >= 1 && type <= TB_OPT_ANY ? names[type] : "unknown";
}

const char *tbr_permission_name(uint32_t kind) {
    static const char *const names[] = {NULL, "net-connect", "net-listen", "fs-read",
                                        "fs-write", "process"};
    return kind >= 1 && kind <= TB_PERM_PROCESS ? names[kind] : "unknown";
}

/* Names are what the language and file names can carry: [a-z0-9_] and, for plugins, '-'. */
static bool valid_name(const char *s, bool allow_dash) {
    size_t n = 0;
    if (!s || !*s) return false;
    for (; s[n]; n++) {
        char c = s[n];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
              (allow_dash && c == '-')))
            return false;
        if (n >= MAX_NAME) return false;
    }
    return true;
}

/* A component name: [a-z0-9_-]+ (not starting with '-'), optionally in modules separated
 * by "::". */
static bool valid_component_name(const char *s) {
    size_t seg = 0, n = 0;
    if (!s || !*s) return false;
    for (; s[n]; n++) {
        char c = s[n];
        if (c == ':' && s[n + 1] == ':' && seg > 0) {
            n++;
            seg = 0;
            continue;
        }
        /* '-' as in Tremor's length-prefixed and remove-empty */
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || (c == '-' && seg > 0))) return false;
        if (n >= 2 * MAX_NAME) return false;
        seg++;
    }
    return seg > 0;
}

/* The smallest vtable a plugin of ABI minor `minor` can have for kind. */
static size_t vtable_min_size(uint32_t kind, uint16_t minor) {
    if (kind == TB_KIND_OPERATOR && minor == 0) return offsetof(tb_operator_vtable, contraflow);
    if (kind == TB_KIND_OPERATOR && minor == 1) return offsetof(tb_operator_vtable, save);
    if (kind == TB_KIND_CONNECTOR && minor < 2) return offsetof(tb_connector_vtable, save);
    switch (kind) {
    case TB_KIND_CONNECTOR: return sizeof(tb_connector_vtable);
    case TB_KIND_CODEC: return sizeof(tb_codec_vtable);
    case TB_KIND_PREPROCESSOR:
    case TB_KIND_POSTPROCESSOR: return sizeof(tb_processor_vtable);
    case TB_KIND_OPERATOR: return sizeof(tb_operator_vtable);
    default: return 0;
    }
}

static size_t vtable_size(uint32_t kind) {
    switch (kind) {
    case TB_KIND_CONNECTOR: return sizeof(tb_connector_vtable);
    case TB_KIND_CODEC: return sizeof(tb_codec_vtable);
    case TB_KIND_PREPROCESSOR:
    case TB_KIND_POSTPROCESSOR: return sizeof(tb_processor_vtable);
    case TB_KIND_OPERATOR: return sizeof(tb_operator_vtable);
    default: return 0;
    }
}

/* Which callbacks a kind cannot do without; NULL-terminated by name. */
static const char *missing_callback(const tbr_component *c) {
    switch (c->desc.kind) {
    case TB_KIND_CONNECTOR: {
        const tb_connector_vtable *v = &c->vt.connector;
        if (!v->create) return "create";
        if (!v->destroy) return "destroy";
        if ((v->flags & TB_CONNECTOR_SOURCE) && !v->pull) return "pull";
        if ((v->flags & TB_CONNECTOR_SINK) && !v->push) return "push";
        return NULL;
    }
    case TB_KIND_CODEC: {
        const tb_codec_vtable *v = &c->vt.codec;
        if (!v->create) return "create";
        if (!v->destroy) return "destroy";
        if (!v->decode) return "decode";
        if (!v->encode) return "encode";
        return NULL;
    }
    case TB_KIND_PREPROCESSOR:
    case TB_KIND_POSTPROCESSOR: {
        const tb_processor_vtable *v = &c->vt.processor;
        if (!v->create) return "create";
        if (!v->destroy) return "destroy";
        if (!v->process) return "process";
        return NULL;
    }
    case TB_KIND_OPERATOR: {
        const tb_operator_vtable *v = &c->vt.op;
        if (!v->create) return "create";
        if (!v->destroy) return "destroy";
        if (!v->process) return "process";
        return NULL;
    }
    default: return NULL;
    }
}

/* Parses an option's declared default into *out: literal text for strings, JSON else. */
static int parse_default(tb_arena *arena, const tb_option *o, tb_value *out, char *why,
                         size_t why_size) {
    if (o->type == TB_OPT_STRING) {
        size_t n = strlen(o->default_value);
        const char *copy = tb_arena_dup(arena, o->default_value, n);
        if (!copy) return TB_ENOMEM;
        *out = tb_string(copy, n);
        return TB_OK;
    }
    size_t n = strlen(o->default_value);
    const char *text = tb_arena_dup(arena, o->default_value, n);
    if (!text) return TB_ENOMEM;
    tb_value parsed;
    int rc = tbr_json_parse(arena, text, n, &parsed, why, why_size);
    if (rc) return rc;
    /* stored as the option's own type, as a configured value would be */
    if (!tbr_option_coerce(o->type, &parsed, out)) {
        snprintf(why, why_size, "not a %s", tbr_option_type_name(o->type));
        return TB_EINVAL;
    }
    return TB_OK;
}

static int copy_options(tbr_plugin *p, tbr_component *c, const tb_component *src, char *err,
                        size_t n) {
    const char *cname = c->desc.name, *kname = tbr_kind_name(c->desc.kind);
    uint32_t count = c->desc.option_count;
    if (count == 0) return TB_OK;
    if (count > MAX_OPTIONS)
        return tbr_fail_into(err, n, TB_EINVAL, "%s '%s': option_count %u is more than the %u allowed", kname, cname,
                    count, MAX_OPTIONS);
    if (!src->options)
        return tbr_fail_into(err, n, TB_EINVAL, "%s '%s': option_count is %u but options is NULL", kname, cname,
                    count);
    uint32_t stride = src->options[0].struct_size;
    if (stride < sizeof(tb_option) || stride > 4 * sizeof(tb_option))
        return tbr_fail_into(err, n, TB_EINVAL, "%s '%s': option struct_size %u is invalid: expected %zu",
                    kname, cname, stride, sizeof(tb_option));
    c->options = calloc(count, sizeof *c->options);
    c->defaults = calloc(count, sizeof *c->defaults);
    c->has_default = calloc(count, sizeof *c->has_default);
    if (!c->options || !c->defaults || !c->has_default) return TB_ENOMEM;
    for (uint32_t i = 0; i < count; i++) {
        const tb_option *o = (const tb_option *)((const char *)src->options + (size_t)i * stride);
        if (o->struct_size != stride)
            return tbr_fail_into(err, n, TB_EINVAL, "%s '%s': option %u has struct_size %u, expected %u as the first",
                        kname, cname, i, o->struct_size, stride);
        memcpy(&c->options[i], o, sizeof(tb_option));
        tb_option *co = &c->options[i];
        if (!valid_name(co->name, false))
            return tbr_fail_into(err, n, TB_EINVAL, "%s '%s': option %u has an invalid name '%s': expected [a-z0-9_]+",
                        kname, cname, i, co->name ? co->name : "(null)");
        for (uint32_t j = 0; j < i; j++)
            if (strcmp(c->options[j].name, co->name) == 0)
                return tbr_fail_into(err, n, TB_EINVAL, "%s '%s': option '%s' is declared twice", kname, cname,
                            co->name);
        if (co->type < TB_OPT_BOOL || co->type > TB_OPT_ANY)
            return tbr_fail_into(err, n, TB_EINVAL, "%s '%s': option '%s' has unknown type %u", kname, cname,
                        co->name, co->type);
        if (co->default_value) {
            char why[160] = "";
            if ((co->flags & TB_OPT_REQUIRED))
                return tbr_fail_into(err, n, TB_EINVAL, "%s '%s': option '%s' is required and has a default",
                            kname, cname, co->name);
            int rc = parse_default(p->arena, co, &c->defaults[i], why, sizeof why);
            if (rc == TB_ENOMEM) return rc;
            if (rc)
                return tbr_fail_into(err, n, TB_EINVAL, "%s '%s': option '%s': default \"%s\" is invalid for type %s: %s",
                            kname, cname, co->name, co->default_value,
                            tbr_option_type_name(co->type), why);
            c->has_default[i] = true;
        }
        if (!co->doc) co->doc = "";
    }
    c->desc.options = c->options;
    return TB_OK;
}

static int copy_component(tbr_plugin *p, tbr_component *c, const tb_component *src,
                          uint32_t index, char *err, size_t n) {
    if (!src) return tbr_fail_into(err, n, TB_EINVAL, "component %u is NULL", index);
    if (src->struct_size < sizeof(tb_component))
        return tbr_fail_into(err, n, TB_EINVAL, "component %u: struct_size %u is invalid: expected at least %zu",
                    index, src->struct_size, sizeof(tb_component));
    memcpy(&c->desc, src, sizeof(tb_component));
    c->plugin = p;
    const char *kname = tbr_kind_name(c->desc.kind);
    size_t vsize = vtable_size(c->desc.kind);
    if (!vsize)
        return tbr_fail_into(err, n, TB_EINVAL, "component %u: unknown kind %u: expected 1..5", index, c->desc.kind);
    if (!valid_component_name(c->desc.name))
        return tbr_fail_into(err, n, TB_EINVAL, "%s %u has an invalid name '%s': expected [a-z0-9_-]+ or module::name", kname, index,
                    c->desc.name ? c->desc.name : "(null)");
    if (!c->desc.description) c->desc.description = "";
    if (!c->desc.vtable)
        return tbr_fail_into(err, n, TB_EINVAL, "%s '%s': vtable is NULL", kname, c->desc.name);
    uint32_t vs = *(const uint32_t *)c->desc.vtable;
    size_t vmin = vtable_min_size(c->desc.kind, p->desc.abi_minor);
    if (vs < vmin || vs > 4 * vsize)
        return tbr_fail_into(err, n, TB_EINVAL, "%s '%s': vtable struct_size %u is invalid: expected %zu for ABI 1.%u",
                    kname, c->desc.name, vs, vmin, p->desc.abi_minor);
    /* fields a smaller (older) vtable lacks stay zero: absent optional callbacks */
    memcpy(&c->vt, c->desc.vtable, vs < vsize ? vs : vsize);
    c->desc.vtable = &c->vt;
    const char *missing = missing_callback(c);
    if (missing)
        return tbr_fail_into(err, n, TB_EINVAL, "%s '%s': required callback '%s' is NULL", kname, c->desc.name,
                    missing);
    if (c->desc.kind == TB_KIND_CONNECTOR &&
        !(c->vt.connector.flags & (TB_CONNECTOR_SOURCE | TB_CONNECTOR_SINK)))
        return tbr_fail_into(err, n, TB_EINVAL, "connector '%s': flags name neither a source nor a sink half",
                    c->desc.name);
    return copy_options(p, c, src, err, n);
}

static int copy_permissions(tbr_plugin *p, const tb_plugin_descriptor *d, char *err, size_t n) {
    if (p->desc.permission_count == 0) {
        p->desc.permissions = NULL;
        return TB_OK;
    }
    uint32_t count = p->desc.permission_count;
    if (count > MAX_PERMISSIONS)
        return tbr_fail_into(err, n, TB_EINVAL, "permission_count %u is more than the %u allowed", count,
                    MAX_PERMISSIONS);
    if (!d->permissions)
        return tbr_fail_into(err, n, TB_EINVAL, "permission_count is %u but permissions is NULL", count);
    uint32_t stride = d->permissions[0].struct_size;
    if (stride < sizeof(tb_permission) || stride > 4 * sizeof(tb_permission))
        return tbr_fail_into(err, n, TB_EINVAL, "permission struct_size %u is invalid: expected %zu", stride,
                    sizeof(tb_permission));
    p->permissions = calloc(count, sizeof *p->permissions);
    if (!p->permissions) return TB_ENOMEM;
    for (uint32_t i = 0; i < count; i++) {
        const tb_permission *s =
            (const tb_permission *)((const char *)d->permissions + (size_t)i * stride);
        memcpy(&p->permissions[i], s, sizeof(tb_permission));
        if (s->struct_size != stride)
            return tbr_fail_into(err, n, TB_EINVAL, "permission %u has struct_size %u, expected %u as the first", i,
                        s->struct_size, stride);
        if (s->kind < TB_PERM_NET_CONNECT || s->kind > TB_PERM_PROCESS)
            return tbr_fail_into(err, n, TB_EINVAL, "permission %u has unknown kind %u: expected 1..5", i, s->kind);
        if (!p->permissions[i].reason) p->permissions[i].reason = "";
    }
    p->permission_count = count;
    p->desc.permissions = p->permissions;
    return TB_OK;
}

int tbr_plugin_from_descriptor(const tb_plugin_descriptor *d, const char *path,
                               tbr_plugin **out, char *err, size_t n) {
    *out = NULL;
    if (d->magic != TB_PLUGIN_MAGIC)
        return tbr_fail_into(err, n, TB_EINVAL, "bad magic: expected 0x%08x, found 0x%08x", TB_PLUGIN_MAGIC, d->magic);
    if (d->abi_major != TB_ABI_MAJOR)
        return tbr_fail_into(err, n, TB_EINVAL,
                    "ABI major mismatch: built for ABI %u.%u, this runtime provides ABI %d.%d",
                    d->abi_major, d->abi_minor, TB_ABI_MAJOR, TB_ABI_MINOR);
    if (d->abi_minor > TB_ABI_MINOR)
        return tbr_fail_into(err, n, TB_EINVAL,
                    "built for a newer ABI: built for ABI %u.%u, this runtime provides ABI "
                    "%d.%d; upgrade temblor or rebuild the plugin for ABI %d.%d",
                    d->abi_major, d->abi_minor, TB_ABI_MAJOR, TB_ABI_MINOR, TB_ABI_MAJOR,
                    TB_ABI_MINOR);
    size_t need = d->abi_minor == 0 ? DESCRIPTOR_SIZE_1_0 : sizeof(tb_plugin_descriptor);
    if (d->struct_size < need || d->struct_size > sizeof(tb_plugin_descriptor))
        return tbr_fail_into(err, n, TB_EINVAL,
                    "invalid descriptor struct_size: expected %zu bytes for ABI %u.%u, found %u",
                    need, d->abi_major, d->abi_minor, d->struct_size);

    tbr_plugin *p = calloc(1, sizeof *p);
    if (!p) return TB_ENOMEM;
    p->copy_fd = -1;
    int rc = TB_ENOMEM;
    p->path = strdup(path);
    p->arena = tbr_arena_new(4096);
    if (!p->path || !p->arena) goto fail;
    /* fields past the plugin's struct_size stay zero: the older minor's defaults */
    memcpy(&p->desc, d, d->struct_size);
    p->desc.struct_size = sizeof(tb_plugin_descriptor);

    rc = TB_EINVAL;
    if (!valid_name(p->desc.name, true)) {
        tbr_fail_into(err, n, TB_EINVAL, "invalid plugin name '%s': expected [a-z0-9_-]+ of at most %u characters",
             p->desc.name ? p->desc.name : "(null)", MAX_NAME);
        goto fail;
    }
    if (!p->desc.version || !*p->desc.version) {
        tbr_fail_into(err, n, TB_EINVAL, "plugin '%s' has no version", p->desc.name);
        goto fail;
    }
    if (!p->desc.description) p->desc.description = "";
    if (p->desc.component_count == 0 || p->desc.component_count > MAX_COMPONENTS) {
        tbr_fail_into(err, n, TB_EINVAL, "plugin '%s': component_count %u is invalid: expected 1..%u", p->desc.name,
             p->desc.component_count, MAX_COMPONENTS);
        goto fail;
    }
    if (!p->desc.components) {
        tbr_fail_into(err, n, TB_EINVAL, "plugin '%s': components is NULL", p->desc.name);
        goto fail;
    }
    p->components = calloc(p->desc.component_count, sizeof *p->components);
    if (!p->components) {
        rc = TB_ENOMEM;
        goto fail;
    }
    for (uint32_t i = 0; i < p->desc.component_count; i++) {
        p->component_count = i + 1; /* so tbr_plugin_free sees what was filled */
        rc = copy_component(p, &p->components[i], d->components[i], i, err, n);
        if (rc) goto fail;
        for (uint32_t j = 0; j < i; j++) {
            if (p->components[j].desc.kind == p->components[i].desc.kind &&
                strcmp(p->components[j].desc.name, p->components[i].desc.name) == 0) {
                rc = tbr_fail_into(err, n, TB_EINVAL, "%s '%s' is declared twice",
                          tbr_kind_name(p->components[i].desc.kind), p->components[i].desc.name);
                goto fail;
            }
        }
    }
    p->desc.components = NULL; /* the copies are in p->components */
    rc = copy_permissions(p, d, err, n);
    if (rc) goto fail;
    *out = p;
    return TB_OK;

fail:
    if (rc == TB_ENOMEM && err && n) snprintf(err, n, "out of memory");
    tbr_plugin_free(p);
    return rc;
}

const tbr_component *tbr_plugin_component(const tbr_plugin *p, uint32_t kind, const char *name) {
    for (uint32_t i = 0; i < p->component_count; i++)
        if (p->components[i].desc.kind == kind && strcmp(p->components[i].desc.name, name) == 0) return &p->components[i];
    return NULL;
}

void tbr_plugin_free(tbr_plugin *p) {
    if (!p) return;
    for (uint32_t i = 0; i < p->component_count; i++) {
        free(p->components[i].options);
        free(p->components[i].defaults);
        free(p->components[i].has_default);
    }
    free(p->components);
    free(p->permissions);
    tbr_arena_free(p->arena);
    tbr_arena_free(p->described);
    free(p->path);
    free(p);
}

uint32_t tbr_plugin_kinds(const tbr_plugin *p) {
    uint32_t kinds = 0;
    for (uint32_t i = 0; i < p->component_count; i++) kinds |= 1u << p->components[i].desc.kind;
    return kinds;
}
