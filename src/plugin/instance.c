/* instance.c - create/destroy of component instances around plugin init/deinit. */
#include "plugin/instance.h"

#include <stdio.h>
#include <stdlib.h>

#include "core/log.h"
#include "host/context.h"
#include "isolate/proxy.h"
#include "plugin/options.h"
#include "value/arena.h"

typedef int(TB_CALL *create_fn)(const tb_create_args *, void **);
typedef void(TB_CALL *destroy_fn)(void *);

static void kind_calls(const tbr_component *c, create_fn *create, destroy_fn *destroy) {
    switch (c->desc.kind) {
    case TB_KIND_CONNECTOR: *create = c->vt.connector.create, *destroy = c->vt.connector.destroy; break;
    case TB_KIND_CODEC: *create = c->vt.codec.create, *destroy = c->vt.codec.destroy; break;
    case TB_KIND_OPERATOR: *create = c->vt.op.create, *destroy = c->vt.op.destroy; break;
    default: *create = c->vt.processor.create, *destroy = c->vt.processor.destroy; break;
    }
}

int tbr_instance_create(tbr_registry *reg, const tbr_component *c, const char *label,
                        const tb_value *config, struct tbr_loop *loop, uint32_t stream,
                        tbr_instance **out, char *err, size_t n) {
    *out = NULL;
    tbr_instance *inst = calloc(1, sizeof *inst);
    if (!inst || !(inst->arena = tbr_arena_new(4096))) {
        free(inst);
        if (err && n) snprintf(err, n, "out of memory");
        return TB_ENOMEM;
    }
    inst->component = c;
    inst->plugin = c->plugin;
    inst->registry = reg;
    tbr_isolation iso;
    int rc = tbr_isolation_from_config(config, c->plugin->desc.name, &iso, err, n);
    if (rc) goto fail_config;
    if (c->plugin->isolated_only) {
        /* never mapped here: nothing else can run it */
        if (config && tb_value_str_eq(tb_object_getz(config, "isolation"), "none")) {
            rc = tbr_fail_into(err, n, TB_EINVAL, "%s: plugin '%s' is from an isolated plugin path: it runs only in a "
                                                  "plugin host (isolation \"none\" is refused)", label, c->plugin->desc.name);
            goto fail_config;
        }
        iso.process = true;
    }
    inst->isolated = iso.process;
    rc = tbr_options_apply(c, config, inst->arena, &inst->config, err, n);
    if (rc) goto fail_config;
    if (inst->isolated) tbr_plugin_hold(reg, c->plugin, true);
    else rc = tbr_plugin_acquire(reg, c->plugin, err, n);
    if (rc) goto fail_config;
    inst->ctx = tbr_context_new_instance(c, label, &inst->config, loop);
    if (!inst->ctx) {
        rc = TB_ENOMEM;
        if (err && n) snprintf(err, n, "out of memory");
        goto fail_context;
    }
    create_fn create;
    destroy_fn destroy;
    kind_calls(c, &create, &destroy);
    tb_create_args args = {
        .struct_size = sizeof args,
        .host = tbr_host_api(),
        .ctx = inst->ctx,
        .plugin_state = c->plugin->state,
        .config = &inst->config,
        .stream = stream,
    };
    if (inst->isolated) {
        /* the plugin's code runs in a plugin host; this process holds a proxy */
        args.plugin_state = NULL;
        char why[1024];
        rc = tbr_proxy_create(c, &args, label, &iso, &inst->state, &inst->component, why, sizeof why);
        if (rc) {
            if (err && n) snprintf(err, n, "%s", why);
            goto fail_create;
        }
        *out = inst;
        return TB_OK;
    }
    rc = create(&args, &inst->state);
    if (rc) {
        if (err && n)
            snprintf(err, n, "%s: create failed (%d): %s", tbr_context_label(inst->ctx), rc,
                     *tbr_context_error(inst->ctx) ? tbr_context_error(inst->ctx)
                                                   : "no reason given");
        if (rc > 0) rc = TB_ERROR; /* a plugin bug: success is only ever 0 */
        goto fail_create;
    }
    *out = inst;
    return TB_OK;

fail_create:
    tbr_context_free(inst->ctx);
fail_context:
    if (inst->isolated) tbr_plugin_hold(reg, c->plugin, false);
    else tbr_plugin_release(reg, c->plugin);
fail_config:
    tbr_arena_free(inst->arena);
    free(inst);
    return rc;
}

void tbr_instance_destroy(tbr_instance *inst) {
    if (!inst) return;
    create_fn create;
    destroy_fn destroy;
    kind_calls(inst->component, &create, &destroy);
    destroy(inst->state); /* a proxy's component dies with it: inst->plugin is used after */
    tbr_context_free(inst->ctx);
    if (inst->isolated) tbr_plugin_hold(inst->registry, inst->plugin, false);
    else tbr_plugin_release(inst->registry, inst->plugin);
    tbr_arena_free(inst->arena);
    free(inst);
}
