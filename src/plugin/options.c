/* options.c - configuration against declared options: types, unknown keys, defaults. */
#include "plugin/options.h"

#include "isolate/isolation.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "value/clone.h"

const char *tbr_value_type_name(uint32_t type) { return tb_type_name(type); }

bool tbr_option_coerce(uint32_t type, const tb_value *v, tb_value *out) {
    *out = *v;
    switch (type) {
    case TB_OPT_BOOL: return v->type == TB_BOOL;
    case TB_OPT_INT:
        if (v->type == TB_I64) return true;
        if (v->type == TB_U64 && v->as.u <= (uint64_t)INT64_MAX) {
            *out = tb_i64((int64_t)v->as.u);
            return true;
        }
        return false;
    case TB_OPT_UINT:
        if (v->type == TB_U64) return true;
        if (v->type == TB_I64 && v->as.i >= 0) {
            *out = tb_u64((uint64_t)v->as.i);
            return true;
        }
        return false;
    case TB_OPT_FLOAT: {
        double d;
        if (!tb_value_as_f64(v, &d)) return false;
        *out = tb_f64(d);
        return true;
    }
    case TB_OPT_STRING: return v->type == TB_STRING;
    case TB_OPT_ARRAY: return v->type == TB_ARRAY;
    case TB_OPT_OBJECT: return v->type == TB_OBJECT;
    default: return true;
    }
}

static const tb_option *find_option(const tbr_component *c, const char *key, size_t len,
                                    uint32_t *index) {
    for (uint32_t i = 0; i < c->desc.option_count; i++) {
        const tb_option *o = &c->options[i];
        if (strlen(o->name) == len && memcmp(o->name, key, len) == 0) {
            *index = i;
            return o;
        }
    }
    return NULL;
}

int tbr_options_apply(const tbr_component *c, const tb_value *config, tb_arena *arena,
                      tb_value *out, char *err, size_t n) {
    const char *kname = tbr_kind_name(c->desc.kind), *cname = c->desc.name;
    *out = tb_object();
    if (config && config->type != TB_OBJECT && config->type != TB_NULL)
        return tbr_fail_into(err, n, TB_EINVAL, "%s '%s': configuration must be a record, found %s", kname, cname,
                    tbr_value_type_name(config->type));
    uint32_t count = config && config->type == TB_OBJECT ? config->len : 0;
    for (uint32_t i = 0; i < count; i++) {
        const tb_member *m = &config->as.members[i];
        uint32_t index;
        const tb_option *o = find_option(c, m->key, m->key_len, &index);
        if (!o && tbr_isolation_is_setting(m->key, m->key_len)) continue; /* the runtime's, not the plugin's */
        if (!o) {
            char known[512] = "";
            size_t used = 0;
            for (uint32_t k = 0; k < c->desc.option_count && used < sizeof known; k++)
                used += (size_t)snprintf(known + used, sizeof known - used, "%s%s",
                                         k ? ", " : "", c->options[k].name);
            return tbr_fail_into(err, n, TB_EINVAL, "%s '%s': unknown option '%.*s' (known options: %s)", kname,
                        cname, (int)m->key_len, m->key, c->desc.option_count ? known : "none");
        }
        tb_value v;
        if (!tbr_option_coerce(o->type, &m->value, &v))
            return tbr_fail_into(err, n, TB_EINVAL, "%s '%s': option '%s': expected %s, found %s", kname, cname,
                        o->name, tbr_option_type_name(o->type),
                        tbr_value_type_name(m->value.type));
        /* a copy, so the effective configuration outlives what it was read from */
        tb_value *slot = tb_object_set(arena, out, o->name, strlen(o->name));
        if (!slot || tbr_value_clone(arena, &v, slot)) return TB_ENOMEM;
    }
    for (uint32_t i = 0; i < c->desc.option_count; i++) {
        const tb_option *o = &c->options[i];
        if (tb_object_getz(out, o->name)) continue;
        if (o->flags & TB_OPT_REQUIRED)
            return tbr_fail_into(err, n, TB_EINVAL, "%s '%s': required option '%s' (%s) is missing", kname, cname,
                        o->name, tbr_option_type_name(o->type));
        if (!c->has_default[i]) continue;
        tb_value *slot = tb_object_append(arena, out, o->name, strlen(o->name));
        if (!slot) return TB_ENOMEM;
        *slot = c->defaults[i];
    }
    return TB_OK;
}
