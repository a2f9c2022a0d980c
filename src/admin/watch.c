/* watch.c - `run --watch-plugins`: inotify on the directories of the loaded plugin libraries;
 * a library rewritten (closed after writing, or renamed into place) is reloaded a moment
 * later, once the writes have settled, so `make` in a plugin's directory is the whole loop. */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "admin/admin.h"
#include "core/log.h"
#include "host/loop.h"
#include "plugin/registry.h"

/* How long after the last write a library is reloaded: a linker writes in several steps. */
#define SETTLE_NS 150000000ull
#define MAX_DIRS 64
#define MAX_PENDING 32

struct tbr_plugin_watch {
    tbr_admin *admin;
    tbr_engine *engine;
    tbr_loop *loop;
    int fd;
    uint64_t fd_watch, settle_timer, rescan_timer;
    struct {
        int wd;
        char dir[PATH_MAX];
    } dirs[MAX_DIRS];
    int ndirs;
    char pending[MAX_PENDING][PATH_MAX]; /* library files written since the last reload */
    int npending;
};

static void watch_dir(tbr_plugin_watch *w, const char *dir) {
    for (int i = 0; i < w->ndirs; i++)
        if (!strcmp(w->dirs[i].dir, dir)) return;
    if (w->ndirs == MAX_DIRS) return;
    int wd = inotify_add_watch(w->fd, dir, IN_CLOSE_WRITE | IN_MOVED_TO);
    if (wd < 0) {
        tbr_log(TB_LOG_WARN, "watch", "cannot watch %s: %s", dir, strerror(errno));
        return;
    }
    w->dirs[w->ndirs].wd = wd;
    snprintf(w->dirs[w->ndirs].dir, PATH_MAX, "%s", dir);
    w->ndirs++;
    tbr_log(TB_LOG_INFO, "watch", "watching %s for rebuilt plugins", dir);
}

/* Watches the directory of every plugin loaded from a file (plugins loaded later too). */
static void rescan(tbr_plugin_watch *w) {
    tbr_registry *reg = tbr_engine_registry(w->engine);
    for (size_t i = 0;; i++) {
        tbr_plugin *p = tbr_registry_plugin_at(reg, i);
        if (!p) break;
        if (!p->handle || tbr_registry_status(reg, p) != TBR_PLUGIN_ACTIVE) continue;
        char dir[PATH_MAX];
        snprintf(dir, sizeof dir, "%s", p->path);
        char *slash = strrchr(dir, '/');
        if (slash == dir) slash[1] = 0;
        else if (slash) *slash = 0;
        else snprintf(dir, sizeof dir, ".");
        watch_dir(w, dir);
    }
}

static void TB_CALL on_rescan(void *user, uint64_t id) {
    (void)id;
    rescan(user);
}

/* The active plugin loaded from path, by name into name; false when none. */
static bool plugin_at_path(tbr_plugin_watch *w, const char *path, char *name, size_t n) {
    tbr_registry *reg = tbr_engine_registry(w->engine);
    for (size_t i = 0;; i++) {
        tbr_plugin *p = tbr_registry_plugin_at(reg, i);
        if (!p) return false;
        if (p->handle && tbr_registry_status(reg, p) == TBR_PLUGIN_ACTIVE && !strcmp(p->path, path)) {
            snprintf(name, n, "%s", p->desc.name);
            return true;
        }
    }
}

static void TB_CALL on_settled(void *user, uint64_t id) {
    tbr_plugin_watch *w = user;
    (void)id;
    w->settle_timer = 0;
    for (int i = 0; i < w->npending; i++) {
        char name[256], req[PATH_MAX + 512];
        if (!plugin_at_path(w, w->pending[i], name, sizeof name)) continue;
        tbr_log(TB_LOG_INFO, "watch", "%s changed: reloading plugin %s", w->pending[i], name);
        snprintf(req, sizeof req, "{\"cmd\":\"plugin.reload\",\"name\":\"%s\"}", name);
        char *resp = tbr_admin_execute(w->admin, req, strlen(req));
        if (resp && !strncmp(resp, "{\"ok\":true", 10)) tbr_log(TB_LOG_INFO, "watch", "plugin %s reloaded: %.*s", name, (int)strlen(resp) - 1, resp);
        else tbr_log(TB_LOG_ERROR, "watch", "plugin %s not reloaded: %.*s", name, resp ? (int)strlen(resp) - 1 : 0, resp ? resp : "");
        free(resp);
    }
    w->npending = 0;
}

static void note_written(tbr_plugin_watch *w, const char *path) {
    for (int i = 0; i < w->npending; i++)
        if (!strcmp(w->pending[i], path)) goto settle;
    if (w->npending < MAX_PENDING) snprintf(w->pending[w->npending++], PATH_MAX, "%s", path);
settle:
    /* every write pushes the reload back: it happens once the writing has stopped */
    if (w->settle_timer) tbr_loop_timer_stop(w->loop, w->settle_timer);
    if (tbr_loop_timer_start(w->loop, SETTLE_NS, 0, on_settled, w, &w->settle_timer)) w->settle_timer = 0;
}

static void TB_CALL on_inotify(void *user, int fd, uint32_t events) {
    tbr_plugin_watch *w = user;
    (void)events;
    char buf[16384] __attribute__((aligned(__alignof__(struct inotify_event))));
    for (;;) {
        ssize_t got = read(fd, buf, sizeof buf);
        if (got <= 0) return;
        for (char *p = buf; p < buf + got;) {
            const struct inotify_event *ev = (const struct inotify_event *)p;
            p += sizeof *ev + ev->len;
            if (!ev->len) continue;
            for (int i = 0; i < w->ndirs; i++) {
                if (w->dirs[i].wd != ev->wd) continue;
                char path[PATH_MAX];
                if (snprintf(path, sizeof path, "%s/%s", w->dirs[i].dir, ev->name) < (int)sizeof path) note_written(w, path);
            }
        }
    }
}

tbr_plugin_watch *tbr_plugin_watch_start(tbr_admin *a, tbr_engine *e, tbr_loop *loop, char *err, size_t n) {
    tbr_plugin_watch *w = calloc(1, sizeof *w);
    if (!w) return NULL;
    *w = (tbr_plugin_watch){.admin = a, .engine = e, .loop = loop};
    w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (w->fd < 0) {
        snprintf(err, n, "--watch-plugins: inotify: %s", strerror(errno));
        free(w);
        return NULL;
    }
    rescan(w);
    if (tbr_loop_watch(loop, w->fd, TB_FD_READ, on_inotify, w, &w->fd_watch) ||
        tbr_loop_timer_start(loop, 1000000000ull, 1000000000ull, on_rescan, w, &w->rescan_timer)) {
        snprintf(err, n, "--watch-plugins: out of memory");
        close(w->fd);
        free(w);
        return NULL;
    }
    return w;
}

void tbr_plugin_watch_stop(tbr_plugin_watch *w) {
    if (!w) return;
    close(w->fd);
    free(w);
}
