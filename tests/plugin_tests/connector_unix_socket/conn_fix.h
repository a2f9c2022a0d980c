/*
 * conn_fix.h - for tests: drives socket connector instances (unix_socket_*, udp_*) the way
 * the runtime does, on one real event loop (src/host/loop.c) in the test's thread: pulls
 * into fresh batches collected per stream, pushes whose batches stay alive while the plugin
 * holds them (TB_EPENDING) and are freed when host->delivered reports them, and waits that
 * poll the loop until a condition holds (generous deadlines: the machine may be loaded).
 *
 * Include after plugin_fix.h (with TB_FIX_IMPLEMENTATION) in one test program.
 * Thread contract: single-threaded. Ownership: a cx owns its instance and every batch it
 * pushed until cx_stop; a got owns the bytes it collected until got_free.
 */
#ifndef TB_TEST_CONN_FIX_H
#define TB_TEST_CONN_FIX_H

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "host/context.h"
#include "host/loop.h"
#include "value/arena.h"

#define CX_MAX_PUSHES 256
#define CX_MAX_STREAMS 512
#define CX_DEADLINE_NS 30000000000ull /* 30 s: a loaded two-core machine is slow, not stuck */

/* What the pulls of one stream brought. */
typedef struct got_stream {
    uint32_t stream;
    uint8_t *data;
    size_t len, cap;
    uint32_t events, ends, errors;
    size_t max_event;              /* bytes of the largest event */
    int64_t meta_stream;           /* $unix_socket_server.stream of the last event, or -1 */
    int64_t peer_pid;              /* $unix_socket_server.peer.pid, or -1 */
    char peer_host[64];            /* $udp_server.peer.host, or "" */
    int64_t peer_port;             /* $udp_server.peer.port, or -1 */
    char error[256];               /* the reason of the last failed event */
} got_stream;

typedef struct got {
    got_stream s[CX_MAX_STREAMS];
    uint32_t n;
    uint64_t events, ends, errors, bytes;
} got;

/* One connector instance under test and the batches it holds. */
typedef struct cx {
    tb_fix f;
    const tb_connector_vtable *vt;
    struct {
        uint64_t token;
        tb_arena *arena;
    } held[CX_MAX_PUSHES];
    uint32_t nheld;
    tb_arena *arena;  /* the batch being built */
    tb_batch batch;
    uint64_t next_token;
    uint32_t delivered_ok, delivered_failed;
    int last_failure;
} cx;

static tbr_loop *cx_loop;

static inline int cx_try_start(cx *c, const char *name, const char *json, char *err, size_t n) {
    memset(c, 0, sizeof *c);
    c->next_token = 1000;
    int rc = tb_fix_try_start_on(&c->f, TB_KIND_CONNECTOR, name, json, 0, cx_loop, err, n);
    if (rc == TB_OK) c->vt = &c->f.inst->component->vt.connector;
    return rc;
}

static inline void cx_start(cx *c, const char *name, const char *json) {
    char err[512] = "";
    int rc = cx_try_start(c, name, json, err, sizeof err);
    if (rc) fail_msg("create %s with %s: %d: %s", name, json, rc, err);
}

static inline const char *cx_error(cx *c) { return tbr_context_error(c->f.inst->ctx); }

static inline int cx_connect(cx *c) {
    tbr_context_clear_error(c->f.inst->ctx);
    return c->vt->connect(c->f.inst->state);
}

/* Takes the delivery reports: frees the batches they name, counts them. */
static inline void cx_settle(cx *c) {
    tbr_delivery d[64];
    size_t n;
    while ((n = tbr_context_take_deliveries(c->f.inst->ctx, d, 64)) > 0)
        for (size_t i = 0; i < n; i++) {
            uint32_t k;
            if (d[i].token == 0) continue; /* the plugins' priming report, see their create */
            for (k = 0; k < c->nheld && c->held[k].token != d[i].token; k++) {
            }
            if (k == c->nheld) fail_msg("a delivery report for batch %llu, which is not held", (unsigned long long)d[i].token);
            tbr_arena_free(c->held[k].arena);
            c->held[k] = c->held[--c->nheld];
            if (d[i].status == TB_OK) {
                c->delivered_ok++;
            } else {
                c->delivered_failed++;
                c->last_failure = d[i].status;
            }
        }
}

/* Stops and destroys the instance; with check, the plugin must be back at the memory it
 * had before the instance (only right when no other instance of the plugin lives). */
static inline void cx_stop_with(cx *c, bool check) {
    if (c->vt->stop) assert_int_equal(c->vt->stop(c->f.inst->state), TB_OK);
    cx_settle(c);
    /* every batch the plugin held was reported by its stop */
    assert_int_equal(c->nheld, 0);
    tbr_arena_free(c->arena);
    c->arena = NULL;
    if (!check) {
        tbr_instance_destroy(c->f.inst);
        c->f.inst = NULL;
    }
    tb_fix_stop(&c->f);
}

static inline void cx_stop(cx *c) { cx_stop_with(c, true); }

/* ---- pushing -------------------------------------------------------------------------- */

static inline void cx_begin(cx *c) {
    if (c->arena) tbr_arena_free(c->arena);
    c->arena = tbr_arena_new(256);
    assert_non_null(c->arena);
    memset(&c->batch, 0, sizeof c->batch);
    c->batch.arena = c->arena;
}

/* Appends a raw event of len bytes of p on stream; returns it so that meta can be set. */
static inline tb_event *cx_add(cx *c, const void *p, size_t len, uint32_t stream) {
    char *copy = tb_arena_dup(c->arena, p, len);
    tb_event *e = tb_batch_push(&c->batch);
    assert_non_null(copy);
    assert_non_null(e);
    e->data = tb_bytes(copy, len);
    e->flags = TB_EF_RAW;
    e->stream = stream;
    return e;
}

static inline tb_event *cx_add_text(cx *c, const char *text, uint32_t stream) {
    return cx_add(c, text, strlen(text), stream);
}

/* The record outer in e's meta (created empty if absent), in the batch's arena. */
static inline tb_value *cx_meta(cx *c, tb_event *e, const char *outer) {
    if (e->meta.type != TB_OBJECT) e->meta = tb_object();
    tb_value *o = tb_object_set(c->arena, &e->meta, outer, strlen(outer));
    assert_non_null(o);
    if (o->type != TB_OBJECT) *o = tb_object();
    return o;
}

/* Pushes the batch being built. A batch the plugin holds (TB_EPENDING) stays alive until it
 * is reported; any other answer frees it. */
static inline int cx_push(cx *c) {
    c->batch.token = c->next_token++;
    tbr_context_clear_error(c->f.inst->ctx);
    int rc = c->vt->push(c->f.inst->state, &c->batch);
    if (rc == TB_EPENDING) {
        assert_true(c->nheld < CX_MAX_PUSHES);
        c->held[c->nheld].token = c->batch.token;
        c->held[c->nheld++].arena = c->arena;
        c->arena = NULL;
    } else {
        tbr_arena_free(c->arena);
        c->arena = NULL;
    }
    return rc;
}

/* ---- pulling -------------------------------------------------------------------------- */

static inline got *got_new(void) {
    got *g = calloc(1, sizeof *g);
    assert_non_null(g);
    return g;
}

static inline void got_free(got *g) {
    for (uint32_t i = 0; i < g->n; i++) free(g->s[i].data);
    free(g);
}

static inline got_stream *got_find(got *g, uint32_t stream) {
    for (uint32_t i = 0; i < g->n; i++)
        if (g->s[i].stream == stream) return &g->s[i];
    return NULL;
}

static inline got_stream *got_of(got *g, uint32_t stream) {
    got_stream *s = got_find(g, stream);
    if (s) return s;
    assert_true(g->n < CX_MAX_STREAMS);
    s = &g->s[g->n++];
    memset(s, 0, sizeof *s);
    s->stream = stream;
    s->meta_stream = s->peer_pid = s->peer_port = -1;
    return s;
}

/* The stream that received text (the first one whose bytes contain it), or NULL. */
static inline got_stream *got_with(got *g, const char *text) {
    size_t n = strlen(text);
    for (uint32_t i = 0; i < g->n; i++)
        for (size_t k = 0; g->s[i].len >= n && k <= g->s[i].len - n; k++)
            if (memcmp(g->s[i].data + k, text, n) == 0) return &g->s[i];
    return NULL;
}

static inline void got_record(got *g, const tb_event *e) {
    got_stream *s = got_of(g, e->stream);
    const tb_value *data = &e->data;
    if (e->flags & TB_EF_ERROR) {
        size_t n;
        const char *why = tb_value_str(tb_object_getz(&e->data, "error"), &n);
        snprintf(s->error, sizeof s->error, "%.*s", (int)n, why ? why : "");
        data = tb_object_getz(&e->data, "data");
        assert_non_null(data);
        s->errors++;
        g->errors++;
    } else {
        assert_true(e->flags & TB_EF_RAW);
    }
    assert_int_equal(data->type, TB_BYTES);
    if (data->len > s->max_event) s->max_event = data->len;
    if (s->len + data->len > s->cap) {
        size_t cap = s->cap ? s->cap : 4096;
        while (cap < s->len + data->len) cap *= 2;
        s->data = realloc(s->data, cap);
        assert_non_null(s->data);
        s->cap = cap;
    }
    if (data->len) memcpy(s->data + s->len, data->as.bytes, data->len);
    s->len += data->len;
    g->bytes += data->len;
    s->events++;
    g->events++;
    if (e->flags & TB_EF_STREAM_END) {
        assert_int_equal(data->len, 0);
        s->ends++;
        g->ends++;
    }
    const tb_value *m = tb_object_getz(&e->meta, "unix_socket_server");
    if (m) {
        int64_t v;
        if (tb_value_as_i64(tb_object_getz(m, "stream"), &v)) s->meta_stream = v;
        const tb_value *peer = tb_object_getz(m, "peer");
        if (peer && tb_value_as_i64(tb_object_getz(peer, "pid"), &v)) s->peer_pid = v;
    }
    m = tb_object_getz(&e->meta, "udp_server");
    if (m) {
        const tb_value *peer = tb_object_getz(m, "peer");
        size_t n;
        const char *h = tb_value_str(tb_object_getz(peer, "host"), &n);
        int64_t v;
        if (h) snprintf(s->peer_host, sizeof s->peer_host, "%.*s", (int)n, h);
        if (tb_value_as_i64(tb_object_getz(peer, "port"), &v)) s->peer_port = v;
    }
}

/* One pull into a fresh batch with room for cap events; every event is recorded in g. */
static inline int cx_pull(cx *c, got *g, uint32_t cap) {
    tb_fix_begin(&c->f);
    c->f.out.events = tb_arena_alloc(c->f.arena, cap * sizeof(tb_event), 8);
    assert_non_null(c->f.out.events);
    c->f.out.capacity = cap;
    tbr_context_clear_error(c->f.inst->ctx);
    int rc = c->vt->pull(c->f.inst->state, &c->f.out);
    if (rc == TB_OK || rc == TB_EAGAIN || rc == TB_EOF) {
        assert_true(c->f.out.count <= cap);
        if (rc == TB_EAGAIN) assert_int_equal(c->f.out.count, 0);
        for (uint32_t i = 0; i < c->f.out.count; i++) got_record(g, &c->f.out.events[i]);
    }
    return rc;
}

/* Pulls as the runtime does while the answer is TB_OK; returns the last answer. */
static inline int cx_pump(cx *c, got *g) {
    int rc = TB_OK;
    for (int i = 0; i < 10000 && rc == TB_OK; i++) rc = cx_pull(c, g, 64);
    return rc;
}

/* One turn of the loop (at most ms), then the delivery reports. */
static inline void cx_turn(cx *c, int ms) {
    assert_true(tbr_loop_run_once(cx_loop, ms) >= 0);
    if (c) cx_settle(c);
}

/* Polls until cond holds, running step between looks; fails the test after the deadline. */
#define CX_WAIT(cond, step)                                                              \
    do {                                                                                 \
        uint64_t deadline_ = tbr_now_ns() + CX_DEADLINE_NS;                              \
        while (!(cond)) {                                                                \
            if (tbr_now_ns() > deadline_) fail_msg("timed out waiting for: %s", #cond);  \
            step;                                                                        \
        }                                                                                \
    } while (0)

/* ---- plain sockets for the peers -------------------------------------------------------- */

static inline void set_nonblocking(int fd) {
    int fl = fcntl(fd, F_GETFL);
    assert_true(fl >= 0);
    assert_int_equal(fcntl(fd, F_SETFL, fl | O_NONBLOCK), 0);
}

/* Reads what is there from a non-blocking fd into buf at *len (cap bytes); returns 0 at
 * EOF, -1 with errno on an error, else 1. */
static inline int drain_fd(int fd, uint8_t *buf, size_t *len, size_t cap) {
    for (;;) {
        if (*len == cap) return 1;
        ssize_t n = read(fd, buf + *len, cap - *len);
        if (n > 0) {
            *len += (size_t)n;
            continue;
        }
        if (n == 0) return 0;
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return 1;
        return -1;
    }
}

#endif
