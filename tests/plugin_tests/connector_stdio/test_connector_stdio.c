/*
 * test_connector_stdio.c - the `stdio` connector plugin (plugins/connector/stdio), loaded
 * from the build's plugins directory and driven through its vtable, with a regular file,
 * /dev/null or a pipe put on fd 0 (the source) and a pipe on fd 1 or 2 (the sink) for the
 * length of each test: bytes in chunks to a stream end and TB_EOF, waiting on a pipe through
 * a real event loop without blocking, writing whole batches to a pipe that is full.
 *
 * Thread contract: single-threaded, except the reader thread that empties the sink's pipe
 * in test_sink_nonblocking. Ownership: each test owns its fixture (plugin_fix.h) and puts
 * back every fd it replaced.
 */
#define _GNU_SOURCE
#define TB_FIX_IMPLEMENTATION
#include "plugin_fix.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "host/context.h"
#include "host/loop.h"

/* ---- fds ------------------------------------------------------------------------------ */

/* Puts fd on target (0, 1 or 2); returns a copy of what was there, for put_back. */
static int put_on(int target, int fd) {
    /* what stdio buffered so far goes where it was meant to */
    fflush(stdout);
    fflush(stderr);
    int saved = dup(target);
    assert_true(saved >= 0);
    assert_int_equal(dup2(fd, target), target);
    return saved;
}

static void put_back(int target, int saved) {
    assert_int_equal(dup2(saved, target), target);
    close(saved);
}

/* A regular file holding n bytes of p, opened for reading (the file itself is unlinked). */
static int temp_file_with(const void *p, size_t n) {
    char name[] = "/tmp/tb-connector-stdio-XXXXXX";
    int fd = mkstemp(name);
    assert_true(fd >= 0);
    unlink(name);
    assert_int_equal(write(fd, p, n), (ssize_t)n);
    assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
    return fd;
}

/* Everything readable from fd until its writers are gone. */
static size_t read_all(int fd, uint8_t *buf, size_t cap) {
    size_t n = 0;
    for (;;) {
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR) continue;
        assert_true(r >= 0);
        if (r == 0 || n + (size_t)r == cap) return n + (size_t)r;
        n += (size_t)r;
    }
}

/* ---- instances, pulls and pushes ------------------------------------------------------ */

static const tb_connector_vtable *vt(tb_fix *f) { return &f->inst->component->vt.connector; }

static void start(tb_fix *f, tbr_loop *loop, const char *json) {
    char err[512] = "";
    int rc = tb_fix_try_start_on(f, TB_KIND_CONNECTOR, "stdio", json, 0, loop, err, sizeof err);
    if (rc) fail_msg("create stdio with %s: %d: %s", json ? json : "(none)", rc, err);
}

/* The bytes of every event pulled, and how many events and stream ends there were. */
typedef struct got {
    uint8_t data[1 << 18];
    size_t len;
    size_t events, ends;
} got;

/* One pull into a fresh batch with room for cap events. Checks every event: raw bytes on
 * stream 0 whose id is its offset; a stream end is empty and comes last. */
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
        assert_int_equal(e->stream, 0);
        assert_int_equal(e->id, g->len);
        assert_int_equal(g->ends, 0);
        if (e->flags & TB_EF_STREAM_END) {
            assert_int_equal(e->data.len, 0);
            assert_int_equal(i, f->out.count - 1);
            assert_int_equal(rc, TB_EOF);
            g->ends++;
        }
        assert_true(g->len + e->data.len <= sizeof g->data);
        if (e->data.len) memcpy(g->data + g->len, e->data.as.bytes, e->data.len);
        g->len += e->data.len;
        g->events++;
    }
    return rc;
}

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

static bool nonblocking(int fd) { return (fcntl(fd, F_GETFL) & O_NONBLOCK) != 0; }

/* ---- the source ----------------------------------------------------------------------- */

static void test_source_regular_file(void **state) {
    static uint8_t content[150001];
    got *g = calloc(1, sizeof *g);
    tb_fix f;
    int rc = TB_OK, pulls = 0;
    (void)state;
    assert_non_null(g);
    for (size_t i = 0; i < sizeof content; i++) content[i] = (uint8_t)(i * 13 + i / 509);
    int fd = temp_file_with(content, sizeof content);
    int saved = put_on(0, fd);
    /* no loop: a regular file never waits, so it is never watched */
    start(&f, NULL, "{\"chunk_size\":8192}");
    while (rc == TB_OK && pulls++ < 100) rc = pull_once(&f, 4, g);
    put_back(0, saved);
    close(fd);
    assert_int_equal(rc, TB_EOF);
    assert_int_equal(g->events, 150001 / 8192 + 1 + 1);
    assert_int_equal(g->ends, 1);
    assert_int_equal(g->len, sizeof content);
    assert_memory_equal(g->data, content, sizeof content);
    assert_int_equal(pull_once(&f, 4, g), TB_EOF); /* and nothing after */
    assert_int_equal(g->events, 150001 / 8192 + 2);
    tb_fix_stop(&f);
    free(g);
}

static void test_source_dev_null(void **state) {
    got *g = calloc(1, sizeof *g);
    tb_fix f;
    (void)state;
    assert_non_null(g);
    int fd = open("/dev/null", O_RDONLY);
    assert_true(fd >= 0);
    int saved = put_on(0, fd);
    start(&f, NULL, NULL);
    int rc = pull_once(&f, 4, g);
    bool left_nonblocking = nonblocking(0);
    put_back(0, saved);
    close(fd);
    assert_int_equal(rc, TB_EOF);
    assert_int_equal(g->events, 1);
    assert_int_equal(g->ends, 1);
    assert_false(left_nonblocking);
    tb_fix_stop(&f);
    free(g);
}

/* Runs the loop until stdin's watch has fired. */
static void wait_readable(tbr_loop *loop) {
    for (int i = 0; i < 50; i++)
        if (tbr_loop_run_once(loop, 100) > 0) return;
    fail_msg("stdin's watch never fired");
}

static void test_source_pipe(void **state) {
    got *g = calloc(1, sizeof *g);
    tbr_loop *loop = tbr_loop_new();
    tb_fix f;
    int p[2];
    (void)state;
    assert_non_null(g);
    assert_non_null(loop);
    assert_int_equal(pipe(p), 0);
    int saved = put_on(0, p[0]);
    start(&f, loop, NULL);

    assert_int_equal(write(p[1], "abc", 3), 3);
    int rc1 = pull_once(&f, 4, g);
    bool was_nonblocking = nonblocking(0);
    /* empty now: the pull waits instead of blocking the thread */
    int rc2 = pull_once(&f, 4, g);
    assert_int_equal(write(p[1], "def\n", 4), 4);
    wait_readable(loop);
    int rc3 = pull_once(&f, 4, g);
    int rc4 = pull_once(&f, 4, g);
    /* the writer goes: the stream ends */
    close(p[1]);
    wait_readable(loop);
    int rc5 = pull_once(&f, 4, g);
    bool left_nonblocking = nonblocking(0);
    put_back(0, saved);
    close(p[0]);

    assert_int_equal(rc1, TB_OK);
    /* the source reads its own opening of the pipe: the description fd 0 shares with the
     * shell (and, on a terminal, with stdout and stderr) is never made non-blocking */
    assert_false(was_nonblocking);
    assert_int_equal(rc2, TB_EAGAIN);
    assert_int_equal(rc3, TB_OK);
    assert_int_equal(rc4, TB_EAGAIN);
    assert_int_equal(rc5, TB_EOF);
    assert_int_equal(g->events, 3);
    assert_int_equal(g->ends, 1);
    assert_int_equal(g->len, 7);
    assert_memory_equal(g->data, "abcdef\n", 7);
    /* stdin is blocking again, as the shell left it */
    assert_false(left_nonblocking);
    tb_fix_stop(&f);
    tbr_loop_free(loop);
    free(g);
}

static void test_source_pipe_stop_restores(void **state) {
    got *g = calloc(1, sizeof *g);
    tbr_loop *loop = tbr_loop_new();
    tb_fix f;
    int p[2];
    (void)state;
    assert_non_null(g);
    assert_non_null(loop);
    assert_int_equal(pipe(p), 0);
    int saved = put_on(0, p[0]);
    start(&f, loop, NULL);
    int rc = pull_once(&f, 4, g);
    bool was_nonblocking = nonblocking(0);
    assert_int_equal(vt(&f)->stop(f.inst->state), TB_OK);
    bool left_nonblocking = nonblocking(0);
    put_back(0, saved);
    close(p[0]);
    close(p[1]);
    assert_int_equal(rc, TB_EAGAIN);
    assert_int_equal(g->events, 0);
    assert_false(was_nonblocking);
    assert_false(left_nonblocking);
    tb_fix_stop(&f);
    tbr_loop_free(loop);
    free(g);
}

static void test_source_pipe_without_loop(void **state) {
    got *g = calloc(1, sizeof *g);
    tb_fix f;
    int p[2];
    (void)state;
    assert_non_null(g);
    assert_int_equal(pipe(p), 0);
    int saved = put_on(0, p[0]);
    start(&f, NULL, NULL);
    /* nothing to wait with: an error, never a block or a silent hang */
    int rc = pull_once(&f, 4, g);
    put_back(0, saved);
    close(p[0]);
    close(p[1]);
    assert_int_equal(rc, TB_EIO);
    assert_non_null(strstr(tbr_context_error(f.inst->ctx), "cannot wait for stdin"));
    tb_fix_stop(&f);
    free(g);
}

static void test_source_exit_on_eof(void **state) {
    got *g = calloc(1, sizeof *g);
    tb_fix f;
    (void)state;
    assert_non_null(g);
    tbr_host_shutdown_reset();
    int fd = temp_file_with("last words", 10);
    int saved = put_on(0, fd);
    start(&f, NULL, "{\"exit_on_eof\":true}");
    int rc = pull_once(&f, 4, g);
    put_back(0, saved);
    close(fd);
    assert_int_equal(rc, TB_EOF);
    assert_int_equal(g->len, 10);
    assert_int_equal(tbr_host_shutdown_requested(), 0);
    tbr_host_shutdown_reset();
    tb_fix_stop(&f);
    free(g);
}

/* ---- the sink ------------------------------------------------------------------------- */

static void test_sink_stdout_and_stderr(void **state) {
    static const char *const texts[] = {"hello ", "", "world\n"};
    static const struct {
        const char *json;
        int fd, other;
    } cases[] = {
        {NULL, 1, 2},
        {"{\"sink\":\"stdout\"}", 1, 2},
        {"{\"sink\":\"stderr\"}", 2, 1},
    };
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint8_t buf[256];
        tb_fix f;
        int p[2], q[2];
        assert_int_equal(pipe(p), 0);
        assert_int_equal(pipe(q), 0);
        start(&f, NULL, cases[i].json);
        int saved = put_on(cases[i].fd, p[1]);
        int saved_other = put_on(cases[i].other, q[1]);
        int rc1 = push_texts(&f, texts, 3);
        /* a dropped event is not written, whatever it holds */
        tb_fix_begin(&f);
        tb_event *e = tb_batch_push(&f.in);
        e->data = tb_bytes("dropped", 7);
        e->flags = TB_EF_RAW | TB_EF_DROPPED;
        e = tb_batch_push(&f.in);
        e->data = tb_i64(1);
        e->flags = TB_EF_DROPPED;
        int rc2 = vt(&f)->push(f.inst->state, &f.in);
        int rc3 = push_texts(&f, texts + 2, 1);
        put_back(cases[i].other, saved_other);
        put_back(cases[i].fd, saved);
        close(p[1]);
        close(q[1]);
        size_t n = read_all(p[0], buf, sizeof buf);
        size_t n_other = read_all(q[0], buf + n, sizeof buf - n);
        close(p[0]);
        close(q[0]);
        assert_int_equal(rc1, TB_OK);
        assert_int_equal(rc2, TB_OK);
        assert_int_equal(rc3, TB_OK);
        assert_int_equal(n, 18);
        assert_memory_equal(buf, "hello world\nworld\n", 18);
        assert_int_equal(n_other, 0);
        tb_fix_stop(&f);
    }
}

typedef struct reader {
    int fd;
    uint8_t *buf;
    size_t cap, len;
} reader;

static void *read_thread(void *arg) {
    reader *r = arg;
    usleep(50 * 1000); /* let the pipe fill up first, so that the sink meets EAGAIN */
    r->len = read_all(r->fd, r->buf, r->cap);
    return NULL;
}

static void test_sink_nonblocking(void **state) {
    enum { EVENTS = 100, SIZE = 7919 }; /* 792 KB: many times a pipe's buffer */
    uint8_t *want = malloc(EVENTS * SIZE);
    reader r = {0};
    pthread_t th;
    tb_fix f;
    int p[2];
    (void)state;
    assert_non_null(want);
    for (size_t i = 0; i < EVENTS * SIZE; i++) want[i] = (uint8_t)(i % 251);
    r.cap = EVENTS * SIZE + 1;
    r.buf = malloc(r.cap);
    assert_non_null(r.buf);
    assert_int_equal(pipe(p), 0);
    assert_int_equal(fcntl(p[1], F_SETFL, O_NONBLOCK), 0);
    r.fd = p[0];
    start(&f, NULL, NULL);
    tb_fix_begin(&f);
    for (size_t i = 0; i < EVENTS; i++) {
        tb_event *e = tb_batch_push(&f.in);
        assert_non_null(e);
        e->data = tb_bytes(want + i * SIZE, SIZE);
        e->flags = TB_EF_RAW;
    }
    assert_int_equal(pthread_create(&th, NULL, read_thread, &r), 0);
    int saved = put_on(1, p[1]);
    int rc = vt(&f)->push(f.inst->state, &f.in);
    put_back(1, saved);
    close(p[1]);
    assert_int_equal(pthread_join(th, NULL), 0);
    close(p[0]);
    assert_int_equal(rc, TB_OK);
    assert_int_equal(r.len, EVENTS * SIZE);
    assert_memory_equal(r.buf, want, EVENTS * SIZE);
    tb_fix_stop(&f);
    free(r.buf);
    free(want);
}

static void test_sink_not_raw(void **state) {
    uint8_t buf[64];
    tb_fix f;
    int p[2];
    (void)state;
    assert_int_equal(pipe(p), 0);
    start(&f, NULL, NULL);
    tb_fix_begin(&f);
    tb_event *e = tb_batch_push(&f.in);
    e->data = tb_bytes("fine", 4);
    e->flags = TB_EF_RAW;
    e = tb_batch_push(&f.in);
    e->data = tb_stringz("structured");
    int saved = put_on(1, p[1]);
    int rc = vt(&f)->push(f.inst->state, &f.in);
    put_back(1, saved);
    close(p[1]);
    size_t n = read_all(p[0], buf, sizeof buf);
    close(p[0]);
    /* the batch fails whole: not even the good event went out */
    assert_int_equal(rc, TB_EINVAL);
    assert_int_equal(n, 0);
    assert_non_null(strstr(tbr_context_error(f.inst->ctx), "event 1 is not raw bytes"));
    tb_fix_stop(&f);
}

static void test_bad_options(void **state) {
    static const char *const bad[] = {"{\"sink\":\"nowhere\"}", "{\"chunk_size\":0}"};
    static const char *const why[] = {"sink must be \"stdout\" or \"stderr\", found \"nowhere\"",
                                      "chunk_size must be between"};
    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        tb_fix f;
        char err[512] = "";
        int rc = tb_fix_try_start(&f, TB_KIND_CONNECTOR, "stdio", bad[i], 0, err, sizeof err);
        assert_int_equal(rc, TB_EINVAL);
        if (!strstr(err, why[i])) fail_msg("error \"%s\" does not say \"%s\"", err, why[i]);
        tb_fix_stop(&f);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_source_regular_file),
        cmocka_unit_test(test_source_dev_null),
        cmocka_unit_test(test_source_pipe),
        cmocka_unit_test(test_source_pipe_stop_restores),
        cmocka_unit_test(test_source_pipe_without_loop),
        cmocka_unit_test(test_source_exit_on_eof),
        cmocka_unit_test(test_sink_stdout_and_stderr),
        cmocka_unit_test(test_sink_nonblocking),
        cmocka_unit_test(test_sink_not_raw),
        cmocka_unit_test(test_bad_options),
    };
    return cmocka_run_group_tests(tests, tb_fix_group_setup, tb_fix_group_teardown);
}
