/*
 * test_connector_bench.c - the `bench` connector plugin (plugins/connector/bench), loaded from
 * the build's plugins directory and driven through its vtable: the source replays plain and
 * xz files line by line (or in chunks, or base64-decoded) for a number of iterations, for a
 * time, or at a fixed rate on a host timer; the sink counts, measures latency with warm-up and
 * coordinated-omission correction, prints its report to stdout (captured here through a
 * temporary file put in place of file descriptor 1) and asks the runtime to shut down.
 *
 * Thread contract: single-threaded. Ownership: each test owns its fixture (plugin_fix.h), its
 * temporary files and captured reports.
 */
#define _GNU_SOURCE
#define TB_FIX_IMPLEMENTATION
#include "plugin_fix.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "host/context.h"
#include "host/loop.h"

#ifndef BENCH_DATA_DIR
#error "BENCH_DATA_DIR must name the shared bench-data folder"
#endif

#define MS 1000000ull

/* ---- helpers ---------------------------------------------------------------------------- */

static const tb_connector_vtable *vt(const tb_fix *f) { return &f->inst->component->vt.connector; }

static void start(tb_fix *f, const char *json) {
    tb_fix_start(f, TB_KIND_CONNECTOR, "bench", json, 0);
}

/* Writes n bytes to a new temporary file; its name goes to path (64 bytes). */
static void temp_file(char *path, const void *data, size_t n) {
    const char *dir = getenv("TMPDIR");
    snprintf(path, 64, "%s/tb-bench-XXXXXX", dir && strlen(dir) < 40 ? dir : "/tmp");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, n), (ssize_t)n);
    close(fd);
}

static void temp_text(char *path, const char *text) { temp_file(path, text, strlen(text)); }

/* Starts an empty output batch with room for cap events. */
static void begin_out(tb_fix *f, uint32_t cap) {
    tb_fix_begin(f);
    f->out.events = tb_arena_alloc(f->arena, cap * sizeof(tb_event), 8);
    assert_non_null(f->out.events);
    f->out.capacity = cap;
}

static int pull(tb_fix *f, uint32_t cap) {
    begin_out(f, cap);
    int rc = vt(f)->pull(f->inst->state, &f->out);
    assert_true(f->out.count <= cap);
    return rc;
}

static bool bytes_are(const tb_event *e, const char *s) {
    return e->data.type == TB_BYTES && e->data.len == strlen(s) &&
           memcmp(e->data.as.bytes, s, e->data.len) == 0;
}

/* Appends n events of the given bytes and ingest_ns to the input batch. */
static void push_events(tb_fix *f, uint32_t n, const char *bytes, uint64_t ingest_ns) {
    for (uint32_t i = 0; i < n; i++) {
        tb_event *e = tb_batch_push(&f->in);
        assert_non_null(e);
        e->data = tb_bytes(bytes, strlen(bytes));
        e->flags = TB_EF_RAW;
        e->id = i;
        e->ingest_ns = ingest_ns;
    }
}

/* What the plugin writes to stdout between capture_begin and capture_end. */
typedef struct capture {
    int saved;
    FILE *tmp;
} capture;

static void capture_begin(capture *c) {
    fflush(stdout);
    c->tmp = tmpfile();
    assert_non_null(c->tmp);
    c->saved = dup(STDOUT_FILENO);
    assert_true(c->saved >= 0);
    assert_true(dup2(fileno(c->tmp), STDOUT_FILENO) >= 0);
}

/* Restores stdout and returns what was written (malloc'd, NUL-terminated), echoing it. */
static char *capture_end(capture *c) {
    fflush(stdout);
    assert_true(dup2(c->saved, STDOUT_FILENO) >= 0);
    close(c->saved);
    int fd = fileno(c->tmp);
    off_t len = lseek(fd, 0, SEEK_END);
    assert_true(len >= 0);
    char *text = malloc((size_t)len + 1);
    assert_non_null(text);
    assert_int_equal(pread(fd, text, (size_t)len, 0), (ssize_t)len);
    text[len] = '\0';
    fclose(c->tmp);
    fputs(text, stdout);
    return text;
}

/* The number after "\n<name> " (a report line), or fails. */
static unsigned long long field(const char *report, const char *name) {
    char key[64];
    unsigned long long v;
    snprintf(key, sizeof key, "\n%s ", name);
    const char *p = strstr(report, key);
    if (!p) fail_msg("no line '%s' in the report", name);
    if (sscanf(p + strlen(key), " %llu", &v) != 1) fail_msg("line '%s' has no number", name);
    return v;
}

/* The number after "Total count =" of the histogram's footer. */
static unsigned long long total_count(const char *report) {
    const char *p = strstr(report, "Total count");
    unsigned long long v;
    assert_non_null(p);
    assert_int_equal(sscanf(p, "Total count = %llu", &v), 1);
    return v;
}

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

/* ---- source ----------------------------------------------------------------------------- */

/* Three rounds over four lines ("\r\n" stripped, an empty line kept, no final newline), in
 * batches of five: full batches with TB_OK, the rest with TB_EOF, then TB_EOF for good. */
static void test_lines_iters(void **state) {
    static const char *const lines[] = {"alpha", "beta", "", "gamma"};
    static const uint32_t sizes[] = {5, 5, 2};
    char path[64], config[160];
    tb_fix f;
    uint64_t id = 0;
    (void)state;
    temp_text(path, "alpha\nbeta\r\n\ngamma");
    snprintf(config, sizeof config, "{\"path\":\"%s\",\"iters\":3}", path);
    start(&f, config);
    for (int k = 0; k < 3; k++) {
        uint64_t before = tbr_now_ns();
        int rc = pull(&f, 5);
        uint64_t after = tbr_now_ns();
        assert_int_equal(rc, k < 2 ? TB_OK : TB_EOF);
        assert_int_equal(f.out.count, sizes[k]);
        for (uint32_t i = 0; i < f.out.count; i++, id++) {
            const tb_event *e = &f.out.events[i];
            assert_int_equal(e->flags, TB_EF_RAW);
            assert_int_equal(e->id, id);
            assert_int_equal(e->stream, 0);
            if (!bytes_are(e, lines[id % 4]))
                fail_msg("event %llu: expected '%s'", (unsigned long long)id, lines[id % 4]);
            assert_true(e->ingest_ns >= before && e->ingest_ns <= after);
        }
    }
    assert_int_equal(id, 12);
    assert_int_equal(pull(&f, 5), TB_EOF);
    assert_int_equal(f.out.count, 0);
    tb_fix_stop(&f);
    unlink(path);
}

typedef struct collected {
    uint8_t *bytes; /* every event's bytes, concatenated */
    size_t len;
    uint64_t events;
    uint64_t iter_bytes[4];
} collected;

/* Pulls batches of 64 until EOF, checking ids and that every line is a JSON object. */
static void collect(tb_fix *f, collected *c, uint64_t per_iter) {
    int rc;
    memset(c, 0, sizeof *c);
    c->bytes = malloc(4 * 63015);
    assert_non_null(c->bytes);
    do {
        rc = pull(f, 64);
        assert_true(rc == TB_OK || rc == TB_EOF);
        if (rc == TB_OK) assert_int_equal(f->out.count, 64);
        for (uint32_t i = 0; i < f->out.count; i++, c->events++) {
            const tb_event *e = &f->out.events[i];
            tb_value v;
            char err[128];
            assert_int_equal(e->id, c->events);
            assert_int_equal(e->data.type, TB_BYTES);
            assert_true(c->events / per_iter < 4);
            c->iter_bytes[c->events / per_iter] += e->data.len;
            assert_true(c->len + e->data.len <= 4 * 63015);
            memcpy(c->bytes + c->len, e->data.as.bytes, e->data.len);
            c->len += e->data.len;
            if (tbr_json_parse(f->arena, (const char *)e->data.as.bytes, e->data.len, &v, err,
                               sizeof err))
                fail_msg("event %llu is not JSON: %s", (unsigned long long)c->events, err);
            assert_int_equal(v.type, TB_OBJECT);
        }
    } while (rc == TB_OK);
}

static bool have_bench_data(void) {
    if (access(BENCH_DATA_DIR "/data.json.xz", R_OK) == 0) return true;
    print_message("no %s/data.json.xz: skipped\n", BENCH_DATA_DIR);
    return false;
}

/* Tremor's data.json.xz: 100 JSON lines, 63,015 bytes with their 100 newlines. Twice through
 * by its .xz name, then once more from a copy without the suffix (found by its magic). */
static void test_xz_data(void **state) {
    tb_fix f;
    collected a, b;
    char path[64];
    (void)state;
    if (!have_bench_data()) skip();
    start(&f, "{\"path\":\"" BENCH_DATA_DIR "/data.json.xz\",\"iters\":2}");
    collect(&f, &a, 100);
    tb_fix_stop(&f);
    assert_int_equal(a.events, 200);
    assert_int_equal(a.iter_bytes[0], 63015 - 100);
    assert_int_equal(a.iter_bytes[1], 63015 - 100);
    assert_memory_equal(a.bytes, a.bytes + a.len / 2, a.len / 2);

    FILE *in = fopen(BENCH_DATA_DIR "/data.json.xz", "rb");
    assert_non_null(in);
    static uint8_t xz[65536];
    size_t n = fread(xz, 1, sizeof xz, in);
    fclose(in);
    assert_true(n > 0 && n < sizeof xz);
    temp_file(path, xz, n);
    char config[160];
    snprintf(config, sizeof config, "{\"source\":\"%s\",\"iters\":1}", path);
    start(&f, config);
    collect(&f, &b, 100);
    tb_fix_stop(&f);
    assert_int_equal(b.events, 100);
    assert_int_equal(b.len, a.len / 2);
    assert_memory_equal(a.bytes, b.bytes, b.len);
    free(a.bytes);
    free(b.bytes);
    unlink(path);
}

/* chunk_size splits by bytes; base64 decodes each line (padding optional, empty kept). */
static void test_chunks_and_base64(void **state) {
    char path[64], config[200];
    tb_fix f;
    (void)state;
    temp_text(path, "abcdefg");
    snprintf(config, sizeof config, "{\"path\":\"%s\",\"iters\":1,\"chunk_size\":3}", path);
    start(&f, config);
    assert_int_equal(pull(&f, 8), TB_EOF);
    assert_int_equal(f.out.count, 3);
    assert_true(bytes_are(&f.out.events[0], "abc"));
    assert_true(bytes_are(&f.out.events[1], "def"));
    assert_true(bytes_are(&f.out.events[2], "g"));
    tb_fix_stop(&f);
    unlink(path);

    temp_text(path, "YWJj\nZGVmZw==\n\naA\n");
    snprintf(config, sizeof config, "{\"path\":\"%s\",\"iters\":2,\"base64\":true}", path);
    start(&f, config);
    assert_int_equal(pull(&f, 8), TB_EOF);
    assert_int_equal(f.out.count, 8);
    assert_true(bytes_are(&f.out.events[4], "abc"));
    assert_true(bytes_are(&f.out.events[5], "defg"));
    assert_true(bytes_are(&f.out.events[6], ""));
    assert_true(bytes_are(&f.out.events[7], "h"));
    tb_fix_stop(&f);
    unlink(path);
}

/* Refused configurations name their reason and give back every byte. */
static void expect_refused(const char *config, const char *reason) {
    tb_fix f;
    char err[512] = "";
    const tbr_component *c = tb_fix_component(TB_KIND_CONNECTOR, "bench");
    size_t before = atomic_load(&c->plugin->mem_live);
    int rc = tb_fix_try_start(&f, TB_KIND_CONNECTOR, "bench", config, 0, err, sizeof err);
    if (rc == TB_OK) fail_msg("%s was accepted", config);
    if (!strstr(err, reason)) fail_msg("%s: expected '%s' in: %s", config, reason, err);
    tb_fix_stop(&f);
    assert_int_equal(atomic_load(&c->plugin->mem_live), before);
}

static void test_config_errors(void **state) {
    char empty[64], bad64[64], notxz[64], cut[64], config[200];
    (void)state;
    temp_text(empty, "");
    temp_text(bad64, "YWJj\n!!!!\n");
    expect_refused("{\"path\":\"/nonexistent/bench.json\"}", "cannot open");
    expect_refused("{\"path\":\"/a\",\"source\":\"/b\"}", "not both");
    expect_refused("{\"significant_figures\":0}", "significant_figures");
    expect_refused("{\"significant_figures\":6}", "significant_figures");
    expect_refused("{\"chunk_size\":0}", "chunk_size");
    expect_refused("{\"iters\":-1}", "iters");
    expect_refused("{\"snot\":1}", "snot");
    snprintf(config, sizeof config, "{\"path\":\"%s\"}", empty);
    expect_refused(config, "holds no events");
    snprintf(config, sizeof config, "{\"path\":\"%s\",\"base64\":true}", bad64);
    expect_refused(config, "element 1 is not base64");

    /* an .xz name with other data, and xz data cut short */
    temp_text(notxz, "{\"plain\":true}\n");
    char renamed[80];
    snprintf(renamed, sizeof renamed, "%s.xz", notxz);
    assert_int_equal(rename(notxz, renamed), 0);
    snprintf(config, sizeof config, "{\"path\":\"%s\"}", renamed);
    expect_refused(config, "not xz data");
    unlink(renamed);
    if (have_bench_data()) {
        static uint8_t xz[65536];
        FILE *in = fopen(BENCH_DATA_DIR "/data.json.xz", "rb");
        assert_non_null(in);
        size_t n = fread(xz, 1, sizeof xz, in);
        fclose(in);
        temp_file(cut, xz, n / 2);
        snprintf(config, sizeof config, "{\"path\":\"%s\"}", cut);
        expect_refused(config, "xz data");
        unlink(cut);
    }
    unlink(empty);
    unlink(bad64);
}

/* Without a path the instance is a sink only: pulling is an error. An interval needs a host
 * timer: without a loop, pulling says so. */
static void test_source_needs_path_and_timer(void **state) {
    char path[64], config[200];
    tb_fix f;
    (void)state;
    start(&f, NULL);
    assert_int_equal(pull(&f, 4), TB_EINVAL);
    assert_non_null(strstr(tbr_context_error(f.inst->ctx), "no path"));
    tb_fix_stop(&f);

    temp_text(path, "a\nb\n");
    snprintf(config, sizeof config, "{\"path\":\"%s\",\"interval\":1000000}", path);
    start(&f, config);
    assert_int_equal(pull(&f, 4), TB_ENOTSUP);
    assert_non_null(strstr(tbr_context_error(f.inst->ctx), "timer"));
    tb_fix_stop(&f);
    unlink(path);
}

/* A fixed rate of one event per 40 ms on the host's timer: one event at once, then TB_EAGAIN
 * until the timer has fired. */
static void test_interval_source(void **state) {
    char path[64], config[200], err[256];
    tb_fix f;
    tbr_loop *loop = tbr_loop_new();
    uint64_t events = 0, eagain = 0, t0;
    int rc;
    (void)state;
    assert_non_null(loop);
    temp_text(path, "a\nb\nc\nd\n");
    snprintf(config, sizeof config, "{\"path\":\"%s\",\"iters\":1,\"interval\":40000000}", path);
    if (tb_fix_try_start_on(&f, TB_KIND_CONNECTOR, "bench", config, 0, loop, err, sizeof err))
        fail_msg("create: %s", err);
    t0 = tbr_now_ns();
    assert_int_equal(pull(&f, 16), TB_OK);
    assert_int_equal(f.out.count, 1);
    events = 1;
    do {
        rc = pull(&f, 16);
        if (rc == TB_EAGAIN) {
            assert_int_equal(f.out.count, 0);
            eagain++;
            assert_true(tbr_loop_run_once(loop, 1000) >= 0);
            continue;
        }
        assert_true(rc == TB_OK || rc == TB_EOF);
        for (uint32_t i = 0; i < f.out.count; i++, events++)
            assert_int_equal(f.out.events[i].id, events);
    } while (rc != TB_EOF);
    assert_int_equal(events, 4);
    assert_true(eagain >= 3);
    assert_true(tbr_now_ns() - t0 >= 3 * 40 * MS);
    tb_fix_stop(&f);
    tbr_loop_free(loop);
    unlink(path);
}

/* stop_after_secs at full speed: full batches for a second, then TB_EOF. */
static void test_stop_after_secs_source(void **state) {
    char path[64], config[200];
    tb_fix f;
    uint64_t events = 0, t0;
    int rc;
    (void)state;
    temp_text(path, "{\"a\":1}\n{\"b\":2}\n");
    snprintf(config, sizeof config, "{\"path\":\"%s\",\"stop_after_secs\":1}", path);
    start(&f, config);
    t0 = tbr_now_ns();
    assert_int_equal(vt(&f)->start(f.inst->state), TB_OK);
    while ((rc = pull(&f, 256)) == TB_OK) {
        assert_int_equal(f.out.count, 256);
        assert_int_equal(f.out.events[0].id, events);
        events += 256;
    }
    assert_int_equal(rc, TB_EOF);
    uint64_t took = tbr_now_ns() - t0;
    assert_true(took >= 1000 * MS);
    assert_true(took < 5000 * MS);
    assert_true(events > 1000);
    assert_int_equal(pull(&f, 256), TB_EOF);
    tb_fix_stop(&f);
    unlink(path);
}

/* ---- sink ------------------------------------------------------------------------------- */

/* Events ingested 1 ms before they are pushed: the report counts them and their bytes, and its
 * percentiles are 1 ms within the histogram's precision (3 digits) and the test's own delay. */
static void test_sink_report_latency(void **state) {
    tb_fix f;
    capture c;
    (void)state;
    tbr_host_shutdown_reset();
    start(&f, "{\"significant_figures\":3}");
    for (int k = 0; k < 3; k++) {
        tb_fix_begin(&f);
        push_events(&f, 100, "0123456789", tbr_now_ns() - MS);
        assert_int_equal(vt(&f)->push(f.inst->state, &f.in), TB_OK);
    }
    capture_begin(&c);
    assert_int_equal(vt(&f)->stop(f.inst->state), TB_OK);
    char *report = capture_end(&c);
    assert_int_equal(field(report, "events"), 300);
    assert_int_equal(field(report, "bytes"), 3000);
    assert_int_equal(field(report, "unmeasured"), 0);
    assert_int_equal(total_count(report), 300);
    unsigned long long p50 = field(report, "p50"), p99 = field(report, "p99.99"),
                       max = field(report, "max");
    assert_true(p50 >= MS && p50 <= MS + MS / 5);
    assert_true(p99 >= p50 && max >= p99);
    assert_non_null(strstr(report, "1/(1-Percentile)"));
    assert_non_null(strstr(report, "Throughput (events):"));
    assert_non_null(strstr(report, "MB/s"));
    /* the stop callback reports; only the sink's own end asks for a shutdown */
    assert_int_equal(tbr_host_shutdown_requested(), -1);
    free(report);
    tb_fix_stop(&f);
}

/* iters on the sink: two rounds of a four-line file are eight events; the report comes with
 * the push that brings the eighth, then the runtime is asked to stop with exit code 0; later
 * pushes and stop print nothing more, and the source is over too. */
static void test_sink_iters_shutdown(void **state) {
    char path[64], config[200];
    tb_fix f;
    capture c;
    char *out;
    (void)state;
    tbr_host_shutdown_reset();
    temp_text(path, "a\nb\nc\nd\n");
    snprintf(config, sizeof config, "{\"path\":\"%s\",\"iters\":2}", path);
    start(&f, config);
    capture_begin(&c);
    tb_fix_begin(&f);
    push_events(&f, 5, "xy", tbr_now_ns());
    assert_int_equal(vt(&f)->push(f.inst->state, &f.in), TB_OK);
    out = capture_end(&c);
    assert_string_equal(out, "");
    free(out);
    assert_int_equal(tbr_host_shutdown_requested(), -1);

    capture_begin(&c);
    tb_fix_begin(&f);
    push_events(&f, 5, "xy", tbr_now_ns());
    assert_int_equal(vt(&f)->push(f.inst->state, &f.in), TB_OK);
    out = capture_end(&c);
    assert_int_equal(field(out, "events"), 8);
    assert_int_equal(field(out, "bytes"), 16);
    free(out);
    assert_int_equal(tbr_host_shutdown_requested(), 0);

    capture_begin(&c);
    tb_fix_begin(&f);
    push_events(&f, 5, "xy", tbr_now_ns());
    assert_int_equal(vt(&f)->push(f.inst->state, &f.in), TB_OK);
    assert_int_equal(vt(&f)->stop(f.inst->state), TB_OK);
    out = capture_end(&c);
    assert_string_equal(out, "");
    free(out);
    assert_int_equal(pull(&f, 4), TB_EOF);
    tbr_host_shutdown_reset();
    tb_fix_stop(&f);
    unlink(path);
}

/* Events arriving during the warm-up second are neither counted nor measured. */
static void test_sink_warmup(void **state) {
    tb_fix f;
    capture c;
    (void)state;
    start(&f, "{\"warmup_secs\":1}");
    tb_fix_begin(&f);
    push_events(&f, 10, "warm", tbr_now_ns());
    assert_int_equal(vt(&f)->push(f.inst->state, &f.in), TB_OK);
    sleep_ms(1100);
    tb_fix_begin(&f);
    push_events(&f, 5, "hot!!", tbr_now_ns() - 2 * MS);
    assert_int_equal(vt(&f)->push(f.inst->state, &f.in), TB_OK);
    capture_begin(&c);
    assert_int_equal(vt(&f)->stop(f.inst->state), TB_OK);
    char *report = capture_end(&c);
    assert_int_equal(field(report, "events"), 5);
    assert_int_equal(field(report, "bytes"), 25);
    assert_int_equal(total_count(report), 5);
    assert_true(field(report, "p50") >= 2 * MS);
    free(report);
    tb_fix_stop(&f);
}

/* With an interval of 0.1 ms, one event 1 ms late stands for the ten samples a fixed-rate
 * client would have taken meanwhile (1 ms, 0.9 ms, ... 0.1 ms). */
static void test_sink_coordinated_omission(void **state) {
    tb_fix f;
    capture c;
    (void)state;
    start(&f, "{\"interval\":100000,\"significant_figures\":3}");
    tb_fix_begin(&f);
    push_events(&f, 1, "late", tbr_now_ns() - MS);
    assert_int_equal(vt(&f)->push(f.inst->state, &f.in), TB_OK);
    capture_begin(&c);
    assert_int_equal(vt(&f)->stop(f.inst->state), TB_OK);
    char *report = capture_end(&c);
    assert_int_equal(field(report, "events"), 1);
    unsigned long long samples = total_count(report);
    assert_true(samples == 10 || samples == 11); /* 11 if the push took over 0.1 ms */
    assert_true(field(report, "max") >= MS);
    assert_true(field(report, "p50") < MS);
    assert_non_null(strstr(report, "coordinated omission"));
    free(report);
    tb_fix_stop(&f);
}

static uint64_t realtime_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Events without a usable ingest_ns (none, or one in the sink's future) are counted but not
 * measured; dropped events are not counted at all; a CLOCK_REALTIME stamp (the runtime's, for
 * other sources) is measured against that clock. */
static void test_sink_unmeasured(void **state) {
    tb_fix f;
    capture c;
    (void)state;
    start(&f, NULL);
    tb_fix_begin(&f);
    push_events(&f, 2, "abc", 0);
    push_events(&f, 1, "abc", tbr_now_ns() + 1000 * MS);
    push_events(&f, 1, "abc", realtime_ns() + 1000 * MS);
    push_events(&f, 1, "abc", tbr_now_ns());
    push_events(&f, 1, "abc", realtime_ns() - 3 * MS);
    push_events(&f, 1, "gone", tbr_now_ns());
    f.in.events[6].flags |= TB_EF_DROPPED;
    assert_int_equal(vt(&f)->push(f.inst->state, &f.in), TB_OK);
    capture_begin(&c);
    assert_int_equal(vt(&f)->stop(f.inst->state), TB_OK);
    char *report = capture_end(&c);
    assert_int_equal(field(report, "events"), 6);
    assert_int_equal(field(report, "bytes"), 18);
    assert_int_equal(field(report, "unmeasured"), 4);
    assert_int_equal(total_count(report), 2);
    assert_true(field(report, "max") >= 3 * MS && field(report, "max") < 1000 * MS);
    assert_true(field(report, "p50") < 3 * MS);
    free(report);
    tb_fix_stop(&f);
}

/* stop_after_secs on the sink: the deadline timer armed at start reports and asks for the
 * shutdown even though no event arrives after the first. */
static void test_sink_deadline(void **state) {
    char err[256];
    tb_fix f;
    capture c;
    tbr_loop *loop = tbr_loop_new();
    (void)state;
    assert_non_null(loop);
    tbr_host_shutdown_reset();
    if (tb_fix_try_start_on(&f, TB_KIND_CONNECTOR, "bench", "{\"stop_after_secs\":1}", 0, loop, err,
                            sizeof err))
        fail_msg("create: %s", err);
    uint64_t t0 = tbr_now_ns();
    assert_int_equal(vt(&f)->start(f.inst->state), TB_OK);
    tb_fix_begin(&f);
    push_events(&f, 3, "abcd", tbr_now_ns());
    assert_int_equal(vt(&f)->push(f.inst->state, &f.in), TB_OK);
    capture_begin(&c);
    while (tbr_host_shutdown_requested() < 0 && tbr_now_ns() - t0 < 5000 * MS)
        tbr_loop_run_once(loop, 100);
    char *report = capture_end(&c);
    assert_int_equal(tbr_host_shutdown_requested(), 0);
    assert_true(tbr_now_ns() - t0 >= 1000 * MS);
    assert_int_equal(field(report, "events"), 3);
    free(report);
    tbr_host_shutdown_reset();
    tb_fix_stop(&f);
    tbr_loop_free(loop);
}

/* structured = true: the report is one JSON object. */
static void test_structured_report(void **state) {
    tb_fix f;
    capture c;
    tb_value v;
    char err[128];
    int64_t n;
    (void)state;
    start(&f, "{\"structured\":true}");
    tb_fix_begin(&f);
    push_events(&f, 4, "json", tbr_now_ns() - MS);
    assert_int_equal(vt(&f)->push(f.inst->state, &f.in), TB_OK);
    capture_begin(&c);
    assert_int_equal(vt(&f)->stop(f.inst->state), TB_OK);
    char *report = capture_end(&c);
    if (tbr_json_parse(f.arena, report, strlen(report), &v, err, sizeof err))
        fail_msg("report is not JSON: %s", err);
    assert_true(tb_value_as_i64(tb_object_getz(&v, "events"), &n) && n == 4);
    assert_true(tb_value_as_i64(tb_object_getz(&v, "bytes"), &n) && n == 16);
    const tb_value *lat = tb_object_getz(&v, "latency_ns");
    assert_non_null(lat);
    assert_true(tb_value_as_i64(tb_object_getz(lat, "samples"), &n) && n == 4);
    assert_true(tb_value_as_i64(tb_object_getz(lat, "p50"), &n) && n >= (int64_t)MS);
    const tb_value *q = tb_object_getz(&v, "quantiles");
    assert_non_null(q);
    assert_int_equal(q->type, TB_ARRAY);
    assert_true(q->len >= 2);
    assert_non_null(tb_object_getz(tb_object_getz(&v, "throughput"), "events_per_second"));
    free(report);
    tb_fix_stop(&f);
}

/* is_transactional flags the events; acks and fails are reported. */
static void test_transactional(void **state) {
    char path[64], config[200];
    tb_fix f;
    capture c;
    static const uint64_t ids[] = {0, 1, 2};
    (void)state;
    temp_text(path, "a\nb\nc\n");
    snprintf(config, sizeof config, "{\"path\":\"%s\",\"iters\":1,\"is_transactional\":true}",
             path);
    start(&f, config);
    assert_int_equal(pull(&f, 8), TB_EOF);
    assert_int_equal(f.out.count, 3);
    for (uint32_t i = 0; i < 3; i++)
        assert_int_equal(f.out.events[i].flags, TB_EF_RAW | TB_EF_TRANSACTIONAL);
    vt(&f)->ack(f.inst->state, ids, 2);
    (vt(&f)->fail)(f.inst->state, ids + 2, 1); /* parenthesised: cmocka defines fail() */
    tb_fix_begin(&f);
    push_events(&f, 1, "a", tbr_now_ns());
    assert_int_equal(vt(&f)->push(f.inst->state, &f.in), TB_OK);
    capture_begin(&c);
    assert_int_equal(vt(&f)->stop(f.inst->state), TB_OK);
    char *report = capture_end(&c);
    assert_int_equal(field(report, "acked"), 2);
    assert_int_equal(field(report, "failed"), 1);
    free(report);
    tb_fix_stop(&f);
    unlink(path);
}

/* The descriptor: a source and sink, unload-safe, every option typed and documented. */
static void test_descriptor(void **state) {
    const tbr_component *c = tb_fix_component(TB_KIND_CONNECTOR, "bench");
    (void)state;
    assert_int_equal(c->vt.connector.flags, TB_CONNECTOR_SOURCE | TB_CONNECTOR_SINK);
    assert_true(c->plugin->desc.flags & TB_PLUGIN_UNLOAD_SAFE);
    assert_true(c->desc.option_count >= 10);
    for (uint32_t i = 0; i < c->desc.option_count; i++) {
        assert_non_null(c->options[i].name);
        assert_non_null(c->options[i].doc);
        assert_true(strlen(c->options[i].doc) > 10);
        assert_true(c->options[i].type >= TB_OPT_BOOL && c->options[i].type <= TB_OPT_STRING);
    }
    assert_int_equal(c->plugin->permission_count, 2);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lines_iters),
        cmocka_unit_test(test_xz_data),
        cmocka_unit_test(test_chunks_and_base64),
        cmocka_unit_test(test_config_errors),
        cmocka_unit_test(test_source_needs_path_and_timer),
        cmocka_unit_test(test_interval_source),
        cmocka_unit_test(test_stop_after_secs_source),
        cmocka_unit_test(test_sink_report_latency),
        cmocka_unit_test(test_sink_iters_shutdown),
        cmocka_unit_test(test_sink_warmup),
        cmocka_unit_test(test_sink_coordinated_omission),
        cmocka_unit_test(test_sink_unmeasured),
        cmocka_unit_test(test_sink_deadline),
        cmocka_unit_test(test_structured_report),
        cmocka_unit_test(test_transactional),
        cmocka_unit_test(test_descriptor),
    };
    return cmocka_run_group_tests(tests, tb_fix_group_setup, tb_fix_group_teardown);
}
