/* plugins.c - load, unload, reload and retire plugins while the engine runs. */
#define _GNU_SOURCE
#include "engine/plugins.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "engine/connector.h"
#include "engine/flow.h"
#include "engine/pipeline_stage.h"
#include "engine/stage.h"
#include "engine/swap.h"
#include "host/loop.h"
#include "plugin/loader.h"
#include "plugin/options.h"
#include "value/arena.h"

/* What of stage n plugin p provides, into buf; false for nothing. */
static bool stage_uses(const tbr_stage *n, const tbr_plugin *p, char *buf, size_t size) {
    if (tbr_stage_is_connector(n)) return tbr_connector_stage_uses(n, p, buf, size);
    const char *op = tbr_pipeline_stage_operator_using(n, p);
    if (op) snprintf(buf, size, "operator %s", op);
    return op != NULL;
}

uint32_t tbr_engine_plugin_users(tbr_engine *e, const tbr_plugin *p, char *buf, size_t size) {
    uint32_t users = 0;
    size_t used = 0;
    if (size) buf[0] = 0;
    tbr_engine_lock(e);
    for (size_t i = 0; i < tbr_engine_stage_count(e); i++) {
        tbr_stage *n = tbr_engine_stage_at(e, i);
        char what[256];
        if (!stage_uses(n, p, what, sizeof what)) continue;
        users++;
        if (used < size) used += (size_t)snprintf(buf + used, size - used, "%s%s (%s)", used ? "; " : "", n->name, what);
    }
    tbr_engine_unlock(e);
    return users;
}

int tbr_engine_load_plugin(tbr_engine *e, const char *path, tbr_plugin **out, char *err, size_t n) {
    int rc = tbr_registry_load_copy(tbr_engine_registry(e), path, out, err, n);
    if (rc == TB_OK) tbr_log(TB_LOG_INFO, "runtime", "loaded plugin %s %s from %s", (*out)->desc.name, (*out)->desc.version, path);
    return rc;
}

/* p has been taken out of service: once it has no instance left, it retires (its deinit ran
 * with the last one) and the reaper unmaps it when that is safe. */
static void retire(tbr_engine *e, tbr_plugin *p) {
    tbr_registry *reg = tbr_engine_registry(e);
    if (tbr_plugin_refs(reg, p) > 0) return; /* stages still on it: reaped when they go */
    /* batches made from now on cannot hold anything of p: its instances are gone */
    p->retired_generation = tbr_arena_retire_generation();
    tbr_registry_set_status(reg, p, TBR_PLUGIN_RETIRED);
    tbr_engine_reap_plugins(e);
}

void tbr_engine_reap_plugins(tbr_engine *e) {
    tbr_registry *reg = tbr_engine_registry(e);
    tbr_plugin *gone[64];
    size_t ngone = 0;
    for (size_t i = 0; ngone < 64; i++) {
        tbr_plugin *p = tbr_registry_plugin_at(reg, i);
        if (!p) break;
        tbr_plugin_status s = tbr_registry_status(reg, p);
        if (s == TBR_PLUGIN_ACTIVE || tbr_plugin_refs(reg, p) > 0) continue;
        if (s == TBR_PLUGIN_RETIRING) {
            /* its last stage went since it was retired (a flow undeployed) */
            p->retired_generation = tbr_arena_retire_generation();
            tbr_registry_set_status(reg, p, TBR_PLUGIN_RETIRED);
        }
        bool unmappable = !p->handle || (p->desc.flags & TB_PLUGIN_UNLOAD_SAFE);
        if (unmappable && !tbr_arena_batches_alive_upto(p->retired_generation)) gone[ngone++] = p;
    }
    for (size_t i = 0; i < ngone; i++) {
        tbr_log(TB_LOG_INFO, "runtime", "unloaded plugin %s %s (%s)", gone[i]->desc.name, gone[i]->desc.version, gone[i]->path);
        tbr_registry_remove(reg, gone[i]);
    }
}

int tbr_engine_unload_plugin(tbr_engine *e, const char *name, bool drain, char *drained, size_t dsize, char *err, size_t n) {
    tbr_registry *reg = tbr_engine_registry(e);
    tbr_plugin *p = tbr_registry_find_plugin(reg, name);
    if (dsize) drained[0] = 0;
    if (!p) {
        snprintf(err, n, "no plugin named '%s' is loaded", name);
        return TB_EINVAL;
    }
    char users[1024];
    if (tbr_engine_plugin_users(e, p, users, sizeof users)) {
        if (!drain) {
            snprintf(err, n, "plugin '%s' is in use by %s: undeploy those flows first, or unload with drain", name, users);
            return TB_EINVAL;
        }
        /* its instances drain with their flows: a flow cannot run without one of its parts */
        size_t used = 0;
        for (;;) {
            char flow[256] = "";
            tbr_engine_lock(e);
            for (size_t i = 0; i < tbr_engine_flow_count(e) && !flow[0]; i++) {
                tbr_flow *f = tbr_engine_flow_at(e, i);
                char what[256];
                for (uint32_t k = 0; k < f->nstages && !flow[0]; k++)
                    if (stage_uses(f->stages[k], p, what, sizeof what)) snprintf(flow, sizeof flow, "%s", f->name);
            }
            tbr_engine_unlock(e);
            if (!flow[0]) break;
            int rc = tbr_engine_undeploy(e, flow, err, n);
            if (rc && rc != TB_ETIMEDOUT) return rc;
            if (used < dsize) used += (size_t)snprintf(drained + used, dsize - used, "%s%s", used ? "," : "", flow);
        }
    }
    tbr_registry_set_status(reg, p, TBR_PLUGIN_RETIRING);
    bool keeps = p->handle && !(p->desc.flags & TB_PLUGIN_UNLOAD_SAFE);
    tbr_log(TB_LOG_INFO, "runtime", "unloading plugin %s %s%s", p->desc.name, p->desc.version,
            keeps ? ": it is not unload-safe, so its library stays mapped (retired)" : "");
    retire(e, p);
    return TB_OK;
}

/* Whether the new build to can take every use of from the running flows make; the first
 * reason it cannot into err. */
static bool compatible(tbr_engine *e, const tbr_plugin *from, const tbr_plugin *to, char *err, size_t n) {
    bool ok = true;
    tb_arena *a = tbr_arena_new(0);
    if (!a) {
        snprintf(err, n, "out of memory");
        return false;
    }
    tbr_engine_lock(e);
    for (size_t i = 0; ok && i < tbr_engine_stage_count(e); i++) {
        tbr_stage *st = tbr_engine_stage_at(e, i);
        if (!tbr_stage_is_connector(st)) {
            char why[768];
            if (tbr_pipeline_stage_operator_using(st, from) && tbr_pipeline_stage_check_swap(st, from, to, why, sizeof why)) {
                snprintf(err, n, "%s: %s: %s", to->path, st->name, why);
                ok = false;
            }
            continue;
        }
        for (uint32_t r = 0; ok && r < tbr_connector_stage_ref_count(st); r++) {
            const tbr_component_ref *ref = tbr_connector_stage_ref_at(st, r);
            if (!ref->component || ref->component->plugin != from) continue;
            const tbr_component *c = ref->component;
            const tbr_component *c2 = tbr_plugin_component(to, c->desc.kind, c->desc.name);
            char why[512];
            tb_value effective;
            if (!c2) {
                snprintf(err, n, "%s: the new build has no %s '%s', which %s uses", to->path, tbr_kind_name(c->desc.kind), c->desc.name,
                         st->name);
                ok = false;
            } else if (tbr_options_apply(c2, &ref->config, a, &effective, why, sizeof why)) {
                snprintf(err, n, "%s: %s's configuration of %s %s does not suit the new build: %s", to->path, st->name,
                         tbr_kind_name(c->desc.kind), c->desc.name, why);
                ok = false;
            } else if (c->desc.kind == TB_KIND_CONNECTOR) {
                uint32_t halves = tbr_connector_stage_halves(st), f2 = c2->vt.connector.flags;
                uint32_t shape = TB_CONNECTOR_STRUCTURED | TB_CONNECTOR_SINK_VALUES;
                if ((f2 & halves) != halves || (f2 & shape) != (c->vt.connector.flags & shape)) {
                    snprintf(err, n, "%s: the new build's connector %s has other halves or event shapes than %s uses", to->path,
                             c->desc.name, st->name);
                    ok = false;
                }
            }
        }
    }
    tbr_engine_unlock(e);
    tbr_arena_free(a);
    return ok;
}

/* Waits for sw on n; settles it here if the stage stopped without taking it up. */
static void wait_swap(tbr_stage *n, tbr_swap *sw) {
    while (atomic_load_explicit(&sw->status, memory_order_acquire) == TBR_SWAP_PENDING) {
        if (atomic_load(&n->phase_done) >= TBR_PHASE_STOP) {
            tbr_swap *mine = sw;
            /* the stage ended before it took the request: nobody else will settle it */
            if (atomic_compare_exchange_strong(&n->swap, &mine, NULL)) {
                snprintf(sw->why, sizeof sw->why, "%s: it stopped before it could move", n->name);
                atomic_store(&sw->status, TB_ECLOSED);
            }
        }
        nanosleep(&(struct timespec){0, 200000}, NULL);
    }
}

int tbr_engine_reload_plugin(tbr_engine *e, const char *name, const char *path, tbr_reload_report *rep, char *err,
                             size_t n) {
    tbr_registry *reg = tbr_engine_registry(e);
    memset(rep, 0, sizeof *rep);
    uint64_t t0 = tbr_now_ns();
    tbr_plugin *old = tbr_registry_find_plugin(reg, name);
    if (!old) {
        snprintf(err, n, "no plugin named '%s' is loaded", name);
        return TB_EINVAL;
    }
    if (old->isolated_only) {
        snprintf(err, n, "plugin '%s' is from an isolated plugin path: the runtime never maps it, and reloading such a "
                         "plugin in place is not supported yet (unload it, or restart the runtime)", name);
        return TB_EINVAL;
    }
    if (!path && !old->handle) {
        snprintf(err, n, "plugin '%s' is linked into the runtime: name the library of the new build", name);
        return TB_EINVAL;
    }
    char file[4096];
    snprintf(file, sizeof file, "%s", path ? path : old->path);
    tbr_plugin *fresh;
    int rc = tbr_plugin_open_copy(file, &fresh, err, n);
    if (rc) return rc; /* another ABI major, a broken library: the old build runs on */
    if (strcmp(fresh->desc.name, old->desc.name) != 0) {
        snprintf(err, n, "%s: provides plugin '%s', not '%s'", file, fresh->desc.name, old->desc.name);
        tbr_plugin_close(fresh);
        return TB_EINVAL;
    }
    if (!compatible(e, old, fresh, err, n)) {
        tbr_plugin_close(fresh);
        return TB_EINVAL;
    }
    snprintf(rep->from_version, sizeof rep->from_version, "%s", old->desc.version);
    snprintf(rep->to_version, sizeof rep->to_version, "%s", fresh->desc.version);
    /* from here new flows get the new build */
    if (tbr_registry_admit_replacement(reg, fresh, old, err, n)) return TB_EINVAL;

    /* every stage that uses the old build moves, each at its own batch boundary, together */
    tbr_engine_lock(e);
    size_t count = tbr_engine_stage_count(e);
    tbr_stage **users = calloc(count + 1, sizeof *users);
    tbr_swap *swaps = calloc(count + 1, sizeof *swaps);
    uint32_t nusers = 0;
    for (size_t i = 0; users && swaps && i < count; i++) {
        tbr_stage *st = tbr_engine_stage_at(e, i);
        char what[256];
        if (!stage_uses(st, old, what, sizeof what)) continue;
        swaps[nusers] = (tbr_swap){.from = old, .to = fresh};
        tbr_stage_request_swap(st, &swaps[nusers]);
        users[nusers++] = st;
    }
    tbr_engine_unlock(e);
    if (!users || !swaps) {
        free(users);
        free(swaps);
        snprintf(err, n, "out of memory");
        retire(e, old);
        return TB_ENOMEM;
    }
    rc = TB_OK;
    size_t used = 0;
    for (uint32_t i = 0; i < nusers; i++) {
        wait_swap(users[i], &swaps[i]);
        int st = atomic_load(&swaps[i].status);
        if (swaps[i].held_ns > rep->max_held_ns) rep->max_held_ns = swaps[i].held_ns;
        if (st == TB_OK) {
            rep->stages++;
            continue;
        }
        if (!rc) rc = st;
        if (used < n) used += (size_t)snprintf(err + used, n - used, "%s%s", used ? "; " : "", swaps[i].why);
    }
    free(users);
    free(swaps);
    rep->took_ns = tbr_now_ns() - t0;
    tbr_log(rc ? TB_LOG_WARN : TB_LOG_INFO, "runtime", "reloaded plugin %s %s -> %s from %s: %u stage%s moved in %.1f ms%s", name,
            rep->from_version, rep->to_version, file, rep->stages, rep->stages == 1 ? "" : "s", (double)rep->took_ns / 1e6,
            rc ? " (some stages stay on the old build)" : "");
    retire(e, old);
    return rc;
}
