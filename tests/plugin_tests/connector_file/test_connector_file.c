/*
 * test_connector_file.c - the `file` connector plugin (plugins/connector/file), loaded from
 * the build's plugins directory and driven through its vtable on real files in a temporary
 * directory: reading in chunks to a stream end and TB_EOF, following a file that grows, is
 * truncated and is replaced (with a real event loop for the poll timer), the write modes,
 * rotation by size, and the errors (a missing path names it).
 *
 * Thread contract: single-threaded. Ownership: each test owns its fixture (plugin_fix.h),
 * the group owns the temporary directory and removes it.
 */
#define _GNU_SOURCE
#define TB_FIX_IMPLEMENTATION
#include "plugin_fix.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "host/context.h"
#include "host/loop.h"

static char dir[64];

/* ---- files ---------------------------------------------------------------------------- */

static void path_of(char *buf, size_t n, const char *name) {
    snprintf(buf, n, "%s/%s", dir, name);
}

/* Writes (how "w") or appends (how "a") n bytes to path. */
static void put_file(const char *path, const char *how, const void *p, size_t n) {
    FILE *fp = fopen(path, how);
    assert_non_null(fp);
    assert_int_equal(fwrite(p, 1, n, fp), n);
    assert_int_equal(fclose(fp), 0);
}

/* The contents of path, NUL-terminated, in malloc memory (free it); NULL if it is missing. */
static char *slurp(const char *path, size_t *len) {
    FILE *fp = fopen(path, "rb");
    char *buf;
    size_t cap = 1024, n = 0, r;
    if (!fp) return NULL;
    buf = malloc(cap);
    assert_non_null(buf);
    while ((r = fread(buf + n, 1, cap - n - 1, fp)) > 0) {
        n += r;
        if (cap - n - 1 == 0) {
            cap *= 2;
            buf = realloc(buf, cap);
            assert_non_null(buf);
        }
    }
    fclose(fp);
    buf[n] = '\0';
    if (len) *len = n;
    return buf;
}

static void assert_file(const char *path, const char *want) {
    char *got = slurp(path, NULL);
    if (!got) fail_msg("%s is missing, wanted \"%s\"", path, want);
    assert_string_equal(got, want);
    free(got);
}

static void assert_missing(const char *path) {
    struct stat st;
    if (stat(path, &st) == 0) fail_msg("%s exists", path);
}

/* ---- instances, pulls and pushes ------------------------------------------------------ */

static const tb_connector_vtable *vt(tb_fix *f) { return &f->inst->component->vt.connector; }

static void start_json(tb_fix *f, tbr_loop *loop, const char *json) {
    char err[512] = "";
    int rc = tb_fix_try_start_on(f, TB_KIND_CONNECTOR, "file", json, 0, loop, err, sizeof err);
    if (rc) fail_msg("create file with %s: %d: %s", json, rc, err);
}

/* Creates an instance whose JSON configuration is printf(fmt, ...). */
static void start(tb_fix *f, tbr_loop *loop, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void start(tb_fix *f, tbr_loop *loop, const char *fmt, ...) {
    char json[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(json, sizeof json, fmt, ap);
    va_end(ap);
    start_json(f, loop, json);
}

typedef struct rec {
    uint32_t stream;
    uint64_t id;
    uint16_t flags;
    size_t at, len; /* the event's bytes: got.data[at .. at+len) */
} rec;

/* Every event pulled so far, its bytes copied out of the batch. */
typedef struct got {
    uint8_t *data;
    size_t len, cap;
    rec recs[1024];
    size_t n;
} got;

static got *got_new(void) {
    got *g = calloc(1, sizeof *g);
    assert_non_null(g);
    return g;
}

static void got_free(got *g) {
    free(g->data);
    free(g);
}

/* One pull into a fresh batch with room for cap events; records what it brought. */
static int pull_once(tb_fix *f, uint32_t cap, got *g) {
    tb_fix_begin(f);
    f->out.events = tb_arena_alloc(f->arena, cap * sizeof(tb_event), 8);
    assert_non_null(f->out.events);
    f->out.capacity = cap;
    int rc = vt(f)->pull(f->inst->state, &f->out);
    assert_true(f->out.count <= cap);
    for (uint32_t i = 0; i < f->out.count; i++) {
        const tb_event *e = &f->out.events[i];
        assert_int_equal(e->data.type, TB_BYTES);
        assert_true(e->flags & TB_EF_RAW);
        assert_true(e->ingest_ns > 0);
        assert_true(g->n < sizeof g->recs / sizeof g->recs[0]);
        if (g->len + e->data.len > g->cap) {
            g->cap = (g->len + e->data.len) * 2;
            g->data = realloc(g->data, g->cap);
            assert_non_null(g->data);
        }
        if (e->data.len) memcpy(g->data + g->len, e->data.as.bytes, e->data.len);
        g->recs[g->n++] = (rec){e->stream, e->id, e->flags, g->len, e->data.len};
        g->len += e->data.len;
    }
    return rc;
}

/* Event k was on stream with id and carried text (a stream end carries ""). */
static void assert_rec(const got *g, size_t k, uint32_t stream, uint64_t id, bool end,
                       const char *text) {
    if (k >= g->n) fail_msg("event %zu missing: %zu pulled", k, g->n);
    const rec *r = &g->recs[k];
    assert_int_equal(r->stream, stream);
    assert_int_equal(r->id, id);
    assert_int_equal(!!(r->flags & TB_EF_STREAM_END), end);
    assert_int_equal(r->len, strlen(text));
    if (r->len) assert_memory_equal(g->data + r->at, text, r->len);
}

/* Pushes one batch of raw events with the given texts; returns push's status. */
static int push_texts(tb_fix *f, const char *const *texts, size_t n) {
    tb_fix_begin(f);
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(texts[i]);
        char *copy = tb_arena_dup(f->arena, texts[i], len);
        tb_event *e = tb_batch_push(&f->in);
        assert_non_null(copy);
        assert_non_null(e);
        e->data = tb_bytes(copy, len);
        e->flags = TB_EF_RAW;
    }
    return vt(f)->push(f->inst->state, &f->in);
}

static void assert_error_has(tb_fix *f, const char *part) {
    const char *msg = tbr_context_error(f->inst->ctx);
    if (!strstr(msg, part)) fail_msg("error \"%s\" does not say \"%s\"", msg, part);
}

/* ---- reading -------------------------------------------------------------------------- */

static void test_read_chunks(void **state) {
    char path[128];
    uint8_t content[100003];
    tb_fix f;
    got *g = got_new();
    int rc = TB_OK, pulls = 0;
    (void)state;
    for (size_t i = 0; i < sizeof content; i++) content[i] = (uint8_t)(i * 7 + i / 251);
    path_of(path, sizeof path, "chunks.bin");
    put_file(path, "w", content, sizeof content);
    start(&f, NULL, "{\"path\":\"%s\",\"chunk_size\":4096}", path);
    assert_int_equal(vt(&f)->connect(f.inst->state), TB_OK);
    while (rc == TB_OK && pulls++ < 100) rc = pull_once(&f, 3, g);
    assert_int_equal(rc, TB_EOF);
    /* 25 chunks of 4096 bytes at increasing offsets, the rest, then an empty stream end */
    assert_int_equal(g->n, 26);
    for (size_t k = 0; k < 25; k++) {
        assert_int_equal(g->recs[k].id, k * 4096);
        assert_int_equal(g->recs[k].len, k < 24 ? 4096 : sizeof content - 24 * 4096);
        assert_int_equal(g->recs[k].stream, 0);
        assert_false(g->recs[k].flags & TB_EF_STREAM_END);
    }
    assert_rec(g, 25, 0, sizeof content, true, "");
    assert_int_equal(g->len, sizeof content);
    assert_memory_equal(g->data, content, sizeof content);
    /* and nothing after the end */
    assert_int_equal(pull_once(&f, 3, g), TB_EOF);
    assert_int_equal(g->n, 26);
    tb_fix_stop(&f);
    got_free(g);
}

static void test_read_empty(void **state) {
    char path[128];
    tb_fix f;
    got *g = got_new();
    (void)state;
    path_of(path, sizeof path, "empty.txt");
    put_file(path, "w", "", 0);
    start(&f, NULL, "{\"path\":\"%s\"}", path);
    /* no connect: pull opens the file itself */
    assert_int_equal(pull_once(&f, 8, g), TB_EOF);
    assert_int_equal(g->n, 1);
    assert_rec(g, 0, 0, 0, true, "");
    tb_fix_stop(&f);
    got_free(g);
}

static void test_read_reconnect_resumes(void **state) {
    char path[128];
    tb_fix f;
    got *g = got_new();
    (void)state;
    path_of(path, sizeof path, "resume.txt");
    put_file(path, "w", "abcdefghij", 10);
    start(&f, NULL, "{\"path\":\"%s\",\"chunk_size\":4}", path);
    assert_int_equal(vt(&f)->connect(f.inst->state), TB_OK);
    assert_int_equal(pull_once(&f, 1, g), TB_OK);
    /* a reconnect to the same file goes on where it was, on the same stream */
    assert_int_equal(vt(&f)->connect(f.inst->state), TB_OK);
    assert_int_equal(pull_once(&f, 8, g), TB_EOF);
    assert_int_equal(g->n, 4);
    assert_rec(g, 0, 0, 0, false, "abcd");
    assert_rec(g, 1, 0, 4, false, "efgh");
    assert_rec(g, 2, 0, 8, false, "ij");
    assert_rec(g, 3, 0, 10, true, "");
    tb_fix_stop(&f);
    got_free(g);
}

static void test_read_missing(void **state) {
    char path[128];
    tb_fix f;
    got *g = got_new();
    (void)state;
    path_of(path, sizeof path, "no/such/file.txt");
    start(&f, NULL, "{\"path\":\"%s\"}", path);
    assert_int_equal(vt(&f)->connect(f.inst->state), TB_EIO);
    assert_error_has(&f, path);
    assert_error_has(&f, "No such file or directory");
    assert_int_equal(pull_once(&f, 8, g), TB_EIO);
    assert_int_equal(g->n, 0);
    tb_fix_stop(&f);
    got_free(g);
}

static void test_read_not_regular(void **state) {
    tb_fix f;
    (void)state;
    start(&f, NULL, "{\"path\":\"%s\"}", dir);
    assert_int_equal(vt(&f)->connect(f.inst->state), TB_EINVAL);
    assert_error_has(&f, "is not a regular file");
    tb_fix_stop(&f);
}

/* Runs the loop until the poll timer has fired. */
static void wait_poll(tbr_loop *loop) {
    for (int i = 0; i < 50; i++)
        if (tbr_loop_run_once(loop, 100) > 0) return;
    fail_msg("the follow timer never fired");
}

static void test_follow(void **state) {
    char path[128], moved[128];
    tb_fix f;
    got *g = got_new();
    tbr_loop *loop = tbr_loop_new();
    (void)state;
    assert_non_null(loop);
    path_of(path, sizeof path, "follow.log");
    path_of(moved, sizeof moved, "follow.log.old");
    put_file(path, "w", "hello\n", 6);
    start(&f, loop, "{\"path\":\"%s\",\"follow\":true,\"poll_interval_ms\":10}", path);
    assert_int_equal(vt(&f)->connect(f.inst->state), TB_OK);
    assert_int_equal(pull_once(&f, 8, g), TB_OK);
    assert_int_equal(g->n, 1);
    assert_rec(g, 0, 0, 0, false, "hello\n");
    /* at the end: no stream end, no EOF, but a wait */
    assert_int_equal(pull_once(&f, 8, g), TB_EAGAIN);
    assert_int_equal(g->n, 1);

    /* it grows */
    put_file(path, "a", "world\n", 6);
    wait_poll(loop);
    assert_int_equal(pull_once(&f, 8, g), TB_OK);
    assert_int_equal(pull_once(&f, 8, g), TB_EAGAIN);
    assert_int_equal(g->n, 2);
    assert_rec(g, 1, 0, 6, false, "world\n");

    /* it is truncated in place: stream 0 ends, stream 1 reads it from the start */
    put_file(path, "w", "new\n", 4);
    wait_poll(loop);
    assert_int_equal(pull_once(&f, 8, g), TB_OK);
    assert_int_equal(pull_once(&f, 8, g), TB_EAGAIN);
    assert_int_equal(g->n, 4);
    assert_rec(g, 2, 0, 12, true, "");
    assert_rec(g, 3, 1, 0, false, "new\n");

    /* the last words of the old file, then it is replaced (rename rotation) */
    put_file(path, "a", "tail\n", 5);
    assert_int_equal(rename(path, moved), 0);
    put_file(path, "w", "rotated\n", 8);
    wait_poll(loop);
    assert_int_equal(pull_once(&f, 8, g), TB_OK);
    assert_int_equal(pull_once(&f, 8, g), TB_EAGAIN);
    assert_int_equal(g->n, 7);
    assert_rec(g, 4, 1, 4, false, "tail\n");
    assert_rec(g, 5, 1, 9, true, "");
    assert_rec(g, 6, 2, 0, false, "rotated\n");

    /* and it goes on following the new one */
    put_file(path, "a", "more\n", 5);
    wait_poll(loop);
    assert_int_equal(pull_once(&f, 8, g), TB_OK);
    assert_int_equal(g->n, 8);
    assert_rec(g, 7, 2, 8, false, "more\n");

    tb_fix_stop(&f); /* stops the pending timer before the loop goes */
    tbr_loop_free(loop);
    got_free(g);
}

static void test_follow_needs_timers(void **state) {
    char path[128];
    tb_fix f;
    got *g = got_new();
    (void)state;
    path_of(path, sizeof path, "follow_noloop.log");
    put_file(path, "w", "x", 1);
    start(&f, NULL, "{\"path\":\"%s\",\"follow\":true}", path);
    assert_int_equal(pull_once(&f, 8, g), TB_OK);
    assert_int_equal(pull_once(&f, 8, g), TB_EIO);
    assert_error_has(&f, "cannot follow");
    tb_fix_stop(&f);
    got_free(g);
}

/* ---- writing -------------------------------------------------------------------------- */

static void test_write_modes(void **state) {
    static const char *const ab[] = {"a\n", "", "b\n"};
    static const char *const cd[] = {"cd"};
    static const struct {
        const char *mode, *before, *after_one, *after_two;
    } cases[] = {
        {"write", "old content\n", "a\nb\n", "a\nb\ncd"},
        {"truncate", "old content\n", "a\nb\n", "a\nb\ncd"},
        {"append", "old\n", "old\na\nb\n", "old\na\nb\ncd"},
        {"overwrite", "0123456789", "a\nb\n456789", "a\nb\ncd6789"},
    };
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char path[128];
        tb_fix f;
        path_of(path, sizeof path, cases[i].mode);
        put_file(path, "w", cases[i].before, strlen(cases[i].before));
        start(&f, NULL, "{\"path\":\"%s\",\"mode\":\"%s\"}", path, cases[i].mode);
        assert_int_equal(vt(&f)->connect(f.inst->state), TB_OK);
        assert_int_equal(push_texts(&f, ab, 3), TB_OK);
        assert_file(path, cases[i].after_one);
        /* a reconnect never truncates again, and overwrite goes on where it was */
        assert_int_equal(vt(&f)->connect(f.inst->state), TB_OK);
        assert_int_equal(push_texts(&f, cd, 1), TB_OK);
        assert_file(path, cases[i].after_two);
        tb_fix_stop(&f);
    }
}

static void test_write_creates(void **state) {
    static const char *const one[] = {"line\n"};
    char path[128];
    tb_fix f;
    (void)state;
    path_of(path, sizeof path, "created.log");
    assert_missing(path);
    start(&f, NULL, "{\"path\":\"%s\",\"mode\":\"append\"}", path);
    /* no connect: push opens the file itself */
    assert_int_equal(push_texts(&f, one, 1), TB_OK);
    assert_file(path, "line\n");
    tb_fix_stop(&f);
}

static void test_rotation(void **state) {
    static const char *const first[] = {"1111\n", "2222\n", "3333\n", "4444\n"};
    static const char *const second[] = {"5555\n", "6666\n", "7777\n"};
    char path[128], p1[136], p2[136], p3[136];
    tb_fix f;
    (void)state;
    path_of(path, sizeof path, "rot.log");
    snprintf(p1, sizeof p1, "%s.1", path);
    snprintf(p2, sizeof p2, "%s.2", path);
    snprintf(p3, sizeof p3, "%s.3", path);
    start(&f, NULL, "{\"path\":\"%s\",\"mode\":\"write\",\"rotate_size\":10,\"rotate_keep\":2}",
          path);
    assert_int_equal(vt(&f)->connect(f.inst->state), TB_OK);
    assert_int_equal(push_texts(&f, first, 4), TB_OK);
    assert_file(path, "3333\n4444\n");
    assert_file(p1, "1111\n2222\n");
    assert_missing(p2);
    assert_int_equal(push_texts(&f, second, 3), TB_OK);
    /* two files of 10 bytes each rotated away: the oldest fell off */
    assert_file(path, "7777\n");
    assert_file(p1, "5555\n6666\n");
    assert_file(p2, "3333\n4444\n");
    assert_missing(p3);
    tb_fix_stop(&f);
}

static void test_rotation_edges(void **state) {
    static const char *const big[] = {"0123456789ABC", "x", "y"};
    char path[128], p1[136];
    tb_fix f;
    (void)state;
    path_of(path, sizeof path, "rot0.log");
    snprintf(p1, sizeof p1, "%s.1", path);
    /* keep none; an event larger than rotate_size makes a file of its own, never split */
    start(&f, NULL, "{\"path\":\"%s\",\"mode\":\"append\",\"rotate_size\":10,\"rotate_keep\":0}",
          path);
    assert_int_equal(push_texts(&f, big, 1), TB_OK);
    assert_file(path, "0123456789ABC");
    assert_int_equal(push_texts(&f, big + 1, 2), TB_OK);
    assert_file(path, "xy");
    assert_missing(p1);
    tb_fix_stop(&f);
}

static void test_write_errors(void **state) {
    static const char *const one[] = {"data\n"};
    char path[128];
    tb_fix f;
    (void)state;
    /* a missing directory names the path */
    path_of(path, sizeof path, "missing-dir/out.log");
    start(&f, NULL, "{\"path\":\"%s\",\"mode\":\"truncate\"}", path);
    assert_int_equal(vt(&f)->connect(f.inst->state), TB_EIO);
    assert_error_has(&f, path);
    assert_error_has(&f, "No such file or directory");
    tb_fix_stop(&f);

    /* an event that is not raw bytes fails the batch before anything is written */
    path_of(path, sizeof path, "notraw.log");
    start(&f, NULL, "{\"path\":\"%s\",\"mode\":\"truncate\"}", path);
    tb_fix_begin(&f);
    tb_event *e = tb_batch_push(&f.in);
    e->data = tb_bytes("ok", 2);
    e->flags = TB_EF_RAW;
    e = tb_batch_push(&f.in);
    e->data = tb_i64(42);
    assert_int_equal(vt(&f)->push(f.inst->state, &f.in), TB_EINVAL);
    assert_error_has(&f, "event 1 is not raw bytes");
    /* dropped events are skipped, whatever they hold */
    e->flags = TB_EF_DROPPED;
    assert_int_equal(vt(&f)->push(f.inst->state, &f.in), TB_OK);
    assert_file(path, "ok");
    /* a writer has no source */
    got *g = got_new();
    assert_int_equal(pull_once(&f, 8, g), TB_ENOTSUP);
    got_free(g);
    tb_fix_stop(&f);

    /* a reader has no sink */
    start(&f, NULL, "{\"path\":\"%s\"}", path);
    assert_int_equal(push_texts(&f, one, 1), TB_ENOTSUP);
    assert_file(path, "ok");
    tb_fix_stop(&f);
}

static void test_bad_options(void **state) {
    static const char *const bad[] = {
        "{\"path\":\"/tmp/x\",\"mode\":\"sideways\"}",
        "{\"path\":\"\"}",
        "{\"path\":\"/tmp/x\",\"chunk_size\":0}",
        "{\"path\":\"/tmp/x\",\"poll_interval_ms\":0}",
    };
    static const char *const why[] = {"mode must be", "path must not be empty", "chunk_size",
                                      "poll_interval_ms"};
    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        tb_fix f;
        char err[512] = "";
        int rc = tb_fix_try_start(&f, TB_KIND_CONNECTOR, "file", bad[i], 0, err, sizeof err);
        assert_int_equal(rc, TB_EINVAL);
        if (!strstr(err, why[i])) fail_msg("error \"%s\" does not say \"%s\"", err, why[i]);
        tb_fix_stop(&f);
    }
    /* path is required */
    tb_fix f;
    char err[512] = "";
    assert_int_not_equal(tb_fix_try_start(&f, TB_KIND_CONNECTOR, "file", "{}", 0, err, sizeof err),
                         TB_OK);
    tb_fix_stop(&f);
}

/* ---- the group ------------------------------------------------------------------------ */

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int group_setup(void **state) {
    snprintf(dir, sizeof dir, "%s", "/tmp/tb-connector-file-XXXXXX");
    if (!mkdtemp(dir)) return -1;
    return tb_fix_group_setup(state);
}

static int group_teardown(void **state) {
    nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
    return tb_fix_group_teardown(state);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_read_chunks),
        cmocka_unit_test(test_read_empty),
        cmocka_unit_test(test_read_reconnect_resumes),
        cmocka_unit_test(test_read_missing),
        cmocka_unit_test(test_read_not_regular),
        cmocka_unit_test(test_follow),
        cmocka_unit_test(test_follow_needs_timers),
        cmocka_unit_test(test_write_modes),
        cmocka_unit_test(test_write_creates),
        cmocka_unit_test(test_rotation),
        cmocka_unit_test(test_rotation_edges),
        cmocka_unit_test(test_write_errors),
        cmocka_unit_test(test_bad_options),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
