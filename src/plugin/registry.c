/* registry.c - the set of loaded plugins, refusals, and init/deinit reference counts. */
#define _GNU_SOURCE
#include "plugin/registry.h"

#include <dirent.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "host/context.h"
#include "plugin/loader.h"

struct tbr_registry {
    pthread_mutex_t lock;
    tbr_plugin **plugins;
    size_t count, cap;
    tbr_refusal **refusals; /* each allocated alone, so pointers handed out stay valid */
    size_t refusal_count, refusal_cap;
    bool quiet; /* refusals recorded, not logged */
    bool copies; /* scans load private copies */
};

tbr_registry *tbr_registry_new(void) {
    tbr_registry *reg = calloc(1, sizeof *reg);
    if (!reg) return NULL;
    pthread_mutex_init(&reg->lock, NULL);
    return reg;
}

void tbr_registry_free(tbr_registry *reg) {
    if (!reg) return;
    for (size_t i = 0; i < reg->count; i++) {
        tbr_context_free(reg->plugins[i]->ctx);
        tbr_plugin_close(reg->plugins[i]);
    }
    for (size_t i = 0; i < reg->refusal_count; i++) {
        free(reg->refusals[i]->path);
        free(reg->refusals[i]->reason);
        free(reg->refusals[i]);
    }
    free(reg->plugins);
    free(reg->refusals);
    pthread_mutex_destroy(&reg->lock);
    free(reg);
}

void tbr_registry_set_private_copies(tbr_registry *reg, bool copies) {
    pthread_mutex_lock(&reg->lock);
    reg->copies = copies;
    pthread_mutex_unlock(&reg->lock);
}

void tbr_registry_set_log_refusals(tbr_registry *reg, bool log) {
    pthread_mutex_lock(&reg->lock);
    reg->quiet = !log;
    pthread_mutex_unlock(&reg->lock);
}

/* Both under the lock. */
static void record_refusal(tbr_registry *reg, const char *path, const char *reason) {
    if (!reg->quiet) tbr_log_msg(TB_LOG_WARN, NULL, reason);
    if (reg->refusal_count == reg->refusal_cap) {
        size_t ncap = reg->refusal_cap ? reg->refusal_cap * 2 : 8;
        tbr_refusal **n = realloc(reg->refusals, ncap * sizeof *n);
        if (!n) return; /* logged above; the list just misses it */
        reg->refusals = n;
        reg->refusal_cap = ncap;
    }
    tbr_refusal *r = calloc(1, sizeof *r);
    if (r && (r->path = strdup(path)) && (r->reason = strdup(reason))) {
        reg->refusals[reg->refusal_count++] = r;
    } else if (r) {
        free(r->path);
        free(r);
    }
}

/* Why p cannot join the registry (beside the active plugins other than replacing), or NULL.
 * Under the lock. */
static const char *conflict(tbr_registry *reg, const tbr_plugin *p, const tbr_plugin *replacing, char *why,
                            size_t n) {
    for (size_t i = 0; i < reg->count; i++) {
        const tbr_plugin *q = reg->plugins[i];
        if (q == replacing || q->status != TBR_PLUGIN_ACTIVE) continue;
        if (strcmp(q->desc.name, p->desc.name) == 0) {
            snprintf(why, n, "%s: duplicate plugin name '%s': already loaded from %s; keeping that one",
                     p->path, p->desc.name, q->path);
            return why;
        }
        for (uint32_t a = 0; a < p->component_count; a++) {
            for (uint32_t b = 0; b < q->component_count; b++) {
                const tb_component *ca = &p->components[a].desc, *cb = &q->components[b].desc;
                if (ca->kind == cb->kind && strcmp(ca->name, cb->name) == 0) {
                    snprintf(why, n,
                             "%s: %s '%s' is already provided by plugin '%s' (%s); keeping that one",
                             p->path, tbr_kind_name(ca->kind), ca->name, q->desc.name, q->path);
                    return why;
                }
            }
        }
    }
    return NULL;
}

/* Takes ownership of p: adds it (old, if any, becomes RETIRING), or refuses and closes it. */
static int admit(tbr_registry *reg, tbr_plugin *p, tbr_plugin *old, tbr_plugin **out, char *err, size_t n) {
    char why[1024];
    int rc = TB_OK;
    pthread_mutex_lock(&reg->lock);
    const char *bad = conflict(reg, p, old, why, sizeof why);
    if (!bad && reg->count == reg->cap) {
        size_t ncap = reg->cap ? reg->cap * 2 : 16;
        tbr_plugin **np = realloc(reg->plugins, ncap * sizeof *np);
        if (np) {
            reg->plugins = np;
            reg->cap = ncap;
        } else {
            snprintf(why, sizeof why, "%s: out of memory", p->path);
            bad = why;
        }
    }
    if (bad) {
        record_refusal(reg, p->path, bad);
        if (err && n) snprintf(err, n, "%s", bad);
        rc = TB_EINVAL;
    } else {
        reg->plugins[reg->count++] = p;
        if (old) old->status = TBR_PLUGIN_RETIRING;
        tbr_log(TB_LOG_DEBUG, NULL, "loaded plugin '%s' %s from %s", p->desc.name,
                p->desc.version, p->path);
    }
    pthread_mutex_unlock(&reg->lock);
    if (rc) {
        tbr_plugin_close(p);
        p = NULL;
    }
    if (out) *out = p;
    return rc;
}

int tbr_registry_admit(tbr_registry *reg, tbr_plugin *p, char *err, size_t n) { return admit(reg, p, NULL, NULL, err, n); }

void tbr_registry_refuse(tbr_registry *reg, const char *path, const char *reason) {
    pthread_mutex_lock(&reg->lock);
    record_refusal(reg, path, reason);
    pthread_mutex_unlock(&reg->lock);
}

int tbr_registry_add_static(tbr_registry *reg, tb_plugin_entry_fn entry) {
    char err[1024];
    tbr_plugin *p;
    int rc = tbr_plugin_open_static(entry, &p, err, sizeof err);
    if (rc) {
        pthread_mutex_lock(&reg->lock);
        record_refusal(reg, "(static)", err);
        pthread_mutex_unlock(&reg->lock);
        return rc;
    }
    return admit(reg, p, NULL, NULL, NULL, 0);
}

typedef int (*opener_fn)(const char *path, tbr_plugin **out, char *err, size_t err_size);

/* Opens path with open (checked and opened outside the lock: dlopen can be slow, and runs no
 * plugin code that could reenter the registry), then admits it or records the refusal. */
static int load_with(tbr_registry *reg, opener_fn open, const char *path, tbr_plugin **out, char *err, size_t n) {
    char why[1024];
    tbr_plugin *p;
    if (out) *out = NULL;
    int rc = open(path, &p, why, sizeof why);
    if (rc) {
        pthread_mutex_lock(&reg->lock);
        record_refusal(reg, path, why);
        pthread_mutex_unlock(&reg->lock);
        if (err && n) snprintf(err, n, "%s", why);
        return rc;
    }
    return admit(reg, p, NULL, out, err, n);
}

int tbr_registry_load_file(tbr_registry *reg, const char *path, tbr_plugin **out, char *err, size_t n) {
    return load_with(reg, tbr_plugin_open, path, out, err, n);
}

int tbr_registry_load_copy(tbr_registry *reg, const char *path, tbr_plugin **out, char *err, size_t n) {
    return load_with(reg, tbr_plugin_open_copy, path, out, err, n);
}

int tbr_registry_admit_replacement(tbr_registry *reg, tbr_plugin *p, tbr_plugin *old, char *err, size_t n) {
    if (strcmp(p->desc.name, old->desc.name) != 0) {
        char why[1024];
        snprintf(why, sizeof why, "%s: provides plugin '%s', not '%s'", p->path, p->desc.name, old->desc.name);
        pthread_mutex_lock(&reg->lock);
        record_refusal(reg, p->path, why);
        pthread_mutex_unlock(&reg->lock);
        if (err && n) snprintf(err, n, "%s", why);
        tbr_plugin_close(p);
        return TB_EINVAL;
    }
    return admit(reg, p, old, NULL, err, n);
}

void tbr_registry_set_status(tbr_registry *reg, tbr_plugin *p, tbr_plugin_status status) {
    pthread_mutex_lock(&reg->lock);
    p->status = status;
    pthread_mutex_unlock(&reg->lock);
}

tbr_plugin_status tbr_registry_status(tbr_registry *reg, const tbr_plugin *p) {
    pthread_mutex_lock(&reg->lock);
    tbr_plugin_status s = p->status;
    pthread_mutex_unlock(&reg->lock);
    return s;
}

unsigned tbr_plugin_refs(tbr_registry *reg, const tbr_plugin *p) {
    pthread_mutex_lock(&reg->lock);
    unsigned refs = p->refs + p->host_refs;
    pthread_mutex_unlock(&reg->lock);
    return refs;
}

void tbr_registry_remove(tbr_registry *reg, tbr_plugin *p) {
    pthread_mutex_lock(&reg->lock);
    for (size_t i = 0; i < reg->count; i++)
        if (reg->plugins[i] == p) {
            memmove(&reg->plugins[i], &reg->plugins[i + 1], (reg->count - i - 1) * sizeof *reg->plugins);
            reg->count--;
            break;
        }
    pthread_mutex_unlock(&reg->lock);
    tbr_context_free(p->ctx);
    tbr_plugin_close(p);
}

static int by_name(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int tbr_registry_scan_dir_with(tbr_registry *reg, const char *dir, tbr_scan_load_fn load, void *user) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    char **names = NULL;
    size_t count = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len < 4 || strcmp(e->d_name + len - 3, ".so") != 0) continue;
        if (count == cap) {
            cap = cap ? cap * 2 : 16;
            char **nn = realloc(names, cap * sizeof *nn);
            if (!nn) break;
            names = nn;
        }
        if (!(names[count] = strdup(e->d_name))) break;
        count++;
    }
    closedir(d);
    if (count) qsort(names, count, sizeof *names, by_name);
    int loaded = 0;
    for (size_t i = 0; i < count; i++) {
        char path[PATH_MAX];
        if (snprintf(path, sizeof path, "%s/%s", dir, names[i]) < (int)sizeof path && load(reg, path, user) == TB_OK)
            loaded++;
        free(names[i]);
    }
    free(names);
    return loaded;
}

static int load_one(tbr_registry *reg, const char *path, void *user) {
    (void)user;
    return reg->copies ? tbr_registry_load_copy(reg, path, NULL, NULL, 0) : tbr_registry_load_file(reg, path, NULL, NULL, 0);
}

int tbr_registry_scan_dir(tbr_registry *reg, const char *dir) { return tbr_registry_scan_dir_with(reg, dir, load_one, NULL); }

void tbr_registry_scan_search_path(tbr_registry *reg, const char *const *extra_dirs) {
    const char *env = getenv("TEMBLOR_PLUGIN_PATH");
    if (env && *env) {
        char *copy = strdup(env), *save = NULL;
        for (char *dir = copy ? strtok_r(copy, ":", &save) : NULL; dir;
             dir = strtok_r(NULL, ":", &save))
            tbr_registry_scan_dir(reg, dir);
        free(copy);
    }
    for (size_t i = 0; extra_dirs && extra_dirs[i]; i++) tbr_registry_scan_dir(reg, extra_dirs[i]);
    /* the build tree keeps plugins beside the binary; an installed binary finds them under
     * its prefix */
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash && (size_t)(slash - exe) + sizeof "/plugins" < sizeof exe) {
            strcpy(slash, "/plugins");
            tbr_registry_scan_dir(reg, exe);
        }
    }
    tbr_registry_scan_dir(reg, TBR_PLUGIN_INSTALL_DIR);
}

const tbr_component *tbr_registry_find(tbr_registry *reg, uint32_t kind, const char *name) {
    const tbr_component *found = NULL;
    pthread_mutex_lock(&reg->lock);
    for (size_t i = 0; i < reg->count && !found; i++) {
        tbr_plugin *p = reg->plugins[i];
        if (p->status != TBR_PLUGIN_ACTIVE) continue;
        for (uint32_t c = 0; c < p->component_count; c++) {
            if (p->components[c].desc.kind == kind && strcmp(p->components[c].desc.name, name) == 0) {
                found = &p->components[c];
                break;
            }
        }
    }
    pthread_mutex_unlock(&reg->lock);
    return found;
}

tbr_plugin *tbr_registry_find_plugin(tbr_registry *reg, const char *name) {
    tbr_plugin *found = NULL;
    pthread_mutex_lock(&reg->lock);
    for (size_t i = 0; i < reg->count && !found; i++)
        if (reg->plugins[i]->status == TBR_PLUGIN_ACTIVE && strcmp(reg->plugins[i]->desc.name, name) == 0)
            found = reg->plugins[i];
    pthread_mutex_unlock(&reg->lock);
    return found;
}

tbr_plugin *tbr_registry_plugin_at(tbr_registry *reg, size_t i) {
    pthread_mutex_lock(&reg->lock);
    tbr_plugin *p = i < reg->count ? reg->plugins[i] : NULL;
    pthread_mutex_unlock(&reg->lock);
    return p;
}

const tbr_refusal *tbr_registry_refusal_at(tbr_registry *reg, size_t i) {
    pthread_mutex_lock(&reg->lock);
    const tbr_refusal *r = i < reg->refusal_count ? reg->refusals[i] : NULL;
    pthread_mutex_unlock(&reg->lock);
    return r;
}

int tbr_plugin_acquire(tbr_registry *reg, tbr_plugin *p, char *err, size_t n) {
    int rc = TB_OK;
    pthread_mutex_lock(&reg->lock);
    if (p->refs == 0) {
        if (!p->ctx) p->ctx = tbr_context_new_plugin(p);
        if (!p->ctx) {
            rc = TB_ENOMEM;
            if (err && n) snprintf(err, n, "plugin '%s': out of memory", p->desc.name);
        } else if (p->desc.init) {
            void *state = NULL;
            tbr_context_clear_error(p->ctx);
            rc = p->desc.init(tbr_host_api(), p->ctx, &state);
            if (rc == TB_OK) p->state = state;
            else if (err && n)
                snprintf(err, n, "plugin '%s': init failed (%d): %s", p->desc.name, rc,
                         tbr_context_error(p->ctx));
        }
    }
    if (rc == TB_OK) p->refs++;
    pthread_mutex_unlock(&reg->lock);
    return rc;
}

void tbr_plugin_hold(tbr_registry *reg, tbr_plugin *p, bool hold) {
    pthread_mutex_lock(&reg->lock);
    if (hold) p->host_refs++;
    else if (p->host_refs > 0) p->host_refs--;
    pthread_mutex_unlock(&reg->lock);
}

void tbr_plugin_release(tbr_registry *reg, tbr_plugin *p) {
    pthread_mutex_lock(&reg->lock);
    if (p->refs > 0 && --p->refs == 0) {
        if (p->desc.deinit) p->desc.deinit(p->state);
        p->state = NULL;
    }
    pthread_mutex_unlock(&reg->lock);
}

/* Generated by the build from TEMBLOR_STATIC_PLUGINS: NULL-terminated. */
extern const tb_plugin_entry_fn tbr_static_plugins[];

void tbr_registry_add_static_plugins(tbr_registry *reg) {
    for (size_t i = 0; tbr_static_plugins[i]; i++) tbr_registry_add_static(reg, tbr_static_plugins[i]);
}
