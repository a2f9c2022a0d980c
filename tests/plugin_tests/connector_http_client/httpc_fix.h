/*
 * httpc_fix.h - for the http_client tests: an http_client instance on a real event loop
 * (plugin_fix.h), the Python peer (http_peer.py) started on 127.0.0.1 and the requests it
 * logged, pushing batches with metadata, waiting for delivery reports while pumping the loop
 * (never a fixed sleep: every wait has a generous deadline for a loaded machine), pulling the
 * response events, and capturing what the runtime logs to stderr.
 *
 * Include it after plugin_fix.h with TB_FIX_IMPLEMENTATION defined, once per test program.
 * Thread contract: single-threaded. Ownership: each helper says what the caller frees.
 */
#ifndef TB_TEST_HTTPC_FIX_H
#define TB_TEST_HTTPC_FIX_H

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "host/context.h"
#include "host/loop.h"

#include "delivery_fix.h"

#ifndef HTTPC_PEER
#error "HTTPC_PEER must name http_peer.py"
#endif

#define DEADLINE_NS (30ull * 1000000000ull) /* a loaded 2-core machine under ASan is slow */

static inline const tb_connector_vtable *vt(tb_fix *f) { return &f->inst->component->vt.connector; }
static inline bool past(uint64_t t0) { return tbr_now_ns() - t0 > DEADLINE_NS; }

/* ---- the peer ------------------------------------------------------------------------------ */

typedef struct peer {
    pid_t pid;
    uint16_t port;
    char dir[64];
    char log[128];
} peer;

static inline void peer_start(peer *p) {
    char port_file[128];
    snprintf(p->dir, sizeof p->dir, "/tmp/httpc-test-XXXXXX");
    assert_non_null(mkdtemp(p->dir));
    snprintf(port_file, sizeof port_file, "%s/port", p->dir);
    snprintf(p->log, sizeof p->log, "%s/log", p->dir);
    p->pid = fork();
    assert_true(p->pid >= 0);
    if (p->pid == 0) {
        execlp("python3", "python3", HTTPC_PEER, port_file, p->log, (char *)NULL);
        _exit(127);
    }
    uint64_t t0 = tbr_now_ns();
    for (;;) {
        FILE *fp = fopen(port_file, "r");
        unsigned port = 0;
        if (fp && fscanf(fp, "%u", &port) == 1 && port) {
            fclose(fp);
            p->port = (uint16_t)port;
            return;
        }
        if (fp) fclose(fp);
        if (past(t0)) fail_msg("the Python peer never started");
        usleep(20000);
    }
}

static inline void peer_stop(peer *p) {
    char cmd[160];
    kill(p->pid, SIGKILL);
    waitpid(p->pid, NULL, 0);
    snprintf(cmd, sizeof cmd, "rm -rf %s", p->dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", p->dir);
}

/* The requests the peer logged so far, parsed into arena a: an array of records. */
static inline tb_value peer_requests(peer *p, tb_arena *a) {
    tb_value arr = tb_array();
    FILE *fp = fopen(p->log, "r");
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    if (!fp) return arr;
    while ((n = getline(&line, &cap, fp)) > 0) {
        if (line[n - 1] != '\n') break; /* a line still being written */
        char err[128];
        char *text = tb_arena_dup(a, line, (size_t)n);
        tb_value *slot = tb_array_push(a, &arr);
        assert_non_null(slot);
        if (tbr_json_parse(a, text, (size_t)n - 1, slot, err, sizeof err)) fail_msg("bad log line %s: %s", line, err);
    }
    free(line);
    fclose(fp);
    return arr;
}

/* The string field key of record r, NUL-terminated in a static buffer ("" when absent). */
static inline const char *field(const tb_value *r, const char *key) {
    static char buf[4096];
    size_t n;
    const char *s = tb_value_str(tb_object_getz(r, key), &n);
    if (!s) return "";
    if (n >= sizeof buf) n = sizeof buf - 1;
    memcpy(buf, s, n);
    buf[n] = '\0';
    return buf;
}

/* The values of request header name (lower case) of record r joined with ", " ("" when absent). */
static inline const char *header(const tb_value *r, const char *name) {
    static char buf[1024];
    const tb_value *h = tb_object_getz(tb_object_getz(r, "headers"), name);
    buf[0] = '\0';
    if (!h || h->type != TB_ARRAY) return buf;
    size_t at = 0;
    for (uint32_t i = 0; i < h->len; i++) {
        size_t n;
        const char *s = tb_value_str(&h->as.items[i], &n);
        at += (size_t)snprintf(buf + at, sizeof buf - at, "%s%.*s", i ? ", " : "", (int)n, s ? s : "");
        if (at >= sizeof buf) break;
    }
    return buf;
}

/* ---- the instance -------------------------------------------------------------------------- */

static inline void start_on(tb_fix *f, tbr_loop *loop, const char *json) {
    char err[512] = "";
    int rc = tb_fix_try_start_on(f, TB_KIND_CONNECTOR, "http_client", json, 0, loop, err, sizeof err);
    if (rc) fail_msg("create http_client with %s: %d: %s", json, rc, err);
    assert_int_equal(vt(f)->connect(f->inst->state), TB_OK);
}

static inline int try_create(const char *json, char *err, size_t n) {
    tb_fix f;
    tbr_loop *loop = tbr_loop_new();
    int rc = tb_fix_try_start_on(&f, TB_KIND_CONNECTOR, "http_client", json, 0, loop, err, n);
    tb_fix_stop(&f);
    tbr_loop_free(loop);
    return rc;
}

static inline int64_t metric_of(tb_fix *f, const char *name) {
    uint32_t n = tbr_context_metric_count(f->inst->ctx);
    for (uint32_t i = 0; i < n; i++) {
        const tbr_metric *m = tbr_context_metric(f->inst->ctx, i);
        if (strcmp(m->name, name) == 0) return atomic_load(&m->value);
    }
    fail_msg("no metric %s", name);
    return -1;
}

/* One event to push: its bytes, and its metadata as JSON (NULL: none). */
typedef struct out_event {
    const char *data;
    const char *meta_json;
} out_event;

static inline int push_events(tb_fix *f, const out_event *ev, size_t n, uint64_t token) {
    tb_fix_begin(f);
    f->in.token = token;
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(ev[i].data);
        char *copy = tb_arena_dup(f->arena, ev[i].data, len);
        tb_value meta = tb_null();
        if (ev[i].meta_json) {
            char err[128];
            char *text = tb_arena_dup(f->arena, ev[i].meta_json, strlen(ev[i].meta_json));
            if (tbr_json_parse(f->arena, text, strlen(ev[i].meta_json), &meta, err, sizeof err))
                fail_msg("bad meta %s: %s", ev[i].meta_json, err);
        }
        tb_event *e = tb_batch_push(&f->in);
        assert_non_null(e);
        e->data = tb_bytes(copy, len);
        e->meta = meta;
        e->flags = TB_EF_RAW;
    }
    return vt(f)->push(f->inst->state, &f->in);
}

static inline int push_text(tb_fix *f, const char *text, uint64_t token) {
    out_event e = {text, NULL};
    return push_events(f, &e, 1, token);
}



/* ---- pulling responses ---------------------------------------------------------------------- */

/* One pull into a fresh batch (valid until the next tb_fix_begin); returns its status. */
static inline int pull_once(tb_fix *f, uint32_t cap) {
    tb_fix_begin(f);
    f->out.events = tb_arena_alloc(f->arena, cap * sizeof(tb_event), 8);
    assert_non_null(f->out.events);
    f->out.capacity = cap;
    int rc = vt(f)->pull(f->inst->state, &f->out);
    if (rc != TB_OK) assert_int_equal(f->out.count, 0);
    return rc;
}

/* ---- stderr, where the runtime logs ------------------------------------------------------------ */

typedef struct capture {
    int saved;
    char path[64];
} capture;

static inline void capture_start(capture *c) {
    fflush(stderr);
    snprintf(c->path, sizeof c->path, "/tmp/httpc-stderr-XXXXXX");
    int fd = mkstemp(c->path);
    assert_true(fd >= 0);
    c->saved = dup(2);
    dup2(fd, 2);
    close(fd);
}

/* Restores stderr; returns what was logged meanwhile (malloc'd, the caller frees), and echoes it. */
static inline char *capture_end(capture *c) {
    fflush(stderr);
    dup2(c->saved, 2);
    close(c->saved);
    FILE *fp = fopen(c->path, "r");
    assert_non_null(fp);
    char *text = calloc(1, 65536);
    assert_non_null(text);
    size_t n = fread(text, 1, 65535, fp);
    text[n] = '\0';
    fclose(fp);
    unlink(c->path);
    fputs(text, stderr);
    return text;
}

#endif
