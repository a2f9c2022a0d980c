/*
 * test_tcp_server.c - the `tcp_server` connector (plugins/connector/tcp), loaded from the
 * build's plugins directory and driven through its vtable on a real event loop, against plain
 * C client sockets on 127.0.0.1: one stream per connection with the peer in the metadata,
 * stream ends when a peer closes, stream ids never reused, answers on the connection a stream
 * names, events for gone or unknown streams failed through delivery reports, a reader too slow
 * for what it is sent (buffered, TB_EPENDING, circuit breaker), stop, a port in use, and the
 * option checks.
 *
 * Thread contract: single-threaded. Ownership: each test owns its fixture, loop and sockets.
 */
#define _GNU_SOURCE
#define TB_FIX_IMPLEMENTATION
#include "plugin_fix.h"
#include "tcp_fix.h"

/* A server on an ephemeral port of 127.0.0.1, listening; extra is more JSON members. */
static void start_server(tb_fix *f, tbr_loop *loop, const char *extra) {
    char json[1024];
    snprintf(json, sizeof json, "{\"url\":\"127.0.0.1:0\"%s%s}", extra ? "," : "", extra ? extra : "");
    start_on(f, loop, "tcp_server", json);
    assert_int_equal(vt(f)->connect(f->inst->state), TB_OK);
    assert_true(server_port(f) > 0);
}

/* Pumps until the stream of the client on local port has want bytes. */
static stream_got *wait_bytes(tbr_loop *loop, tb_fix *f, got *g, uint16_t port, size_t want) {
    uint64_t t0 = tbr_now_ns();
    for (;;) {
        stream_got *s = got_by_port(g, port);
        if (s && s->len >= want) return s;
        if (past(t0)) fail_msg("the stream of port %u never got %zu bytes (%zu)", port, want, s ? s->len : 0);
        pump(loop, f, g, "tcp_server");
    }
}

static void wait_ended(tbr_loop *loop, tb_fix *f, got *g, stream_got *s) {
    uint64_t t0 = tbr_now_ns();
    while (!s->ended) {
        if (past(t0)) fail_msg("stream %u never ended", s->stream);
        pump(loop, f, g, "tcp_server");
    }
}

static void wait_metric(tbr_loop *loop, tb_fix *f, got *g, const char *name, int64_t want) {
    uint64_t t0 = tbr_now_ns();
    while (metric_of(f, name) != want) {
        if (past(t0)) fail_msg("metric %s is %lld, never %lld", name, (long long)metric_of(f, name), (long long)want);
        pump(loop, f, g, "tcp_server");
    }
}

/* Reads from fd (pumping the loop meanwhile) until buf holds want bytes. */
static void read_exactly(tbr_loop *loop, tb_fix *f, got *g, int fd, uint8_t *buf, size_t want) {
    size_t len = 0;
    uint64_t t0 = tbr_now_ns();
    while (len < want) {
        ssize_t r = drain_fd(fd, buf, want, &len);
        if (r == 0 && len < want) fail_msg("the connection ended after %zu of %zu bytes", len, want);
        if (past(t0)) fail_msg("read only %zu of %zu bytes", len, want);
        if (len < want) pump(loop, f, g, "tcp_server");
    }
}

static void test_streams_per_connection(void **state) {
    enum { CLIENTS = 3, ROUNDS = 20 };
    tbr_loop *loop = tbr_loop_new();
    got *g = got_new();
    tb_fix f;
    int fd[CLIENTS];
    uint16_t port[CLIENTS];
    char want[CLIENTS][4096];
    size_t want_len[CLIENTS] = {0};
    (void)state;
    start_server(&f, loop, "\"linger_ms\":50");
    for (int k = 0; k < CLIENTS; k++) {
        fd[k] = connect_to(server_port(&f));
        port[k] = local_port(fd[k]);
    }
    /* the clients write at once, interleaved */
    for (int r = 0; r < ROUNDS; r++)
        for (int k = 0; k < CLIENTS; k++) {
            char line[64];
            int n = snprintf(line, sizeof line, "client %d line %d\n", k, r);
            send_all(fd[k], line, (size_t)n);
            memcpy(want[k] + want_len[k], line, (size_t)n);
            want_len[k] += (size_t)n;
        }
    stream_got *s[CLIENTS];
    for (int k = 0; k < CLIENTS; k++) {
        s[k] = wait_bytes(loop, &f, g, port[k], want_len[k]);
        assert_int_equal(s[k]->len, want_len[k]);
        assert_memory_equal(s[k]->data, want[k], want_len[k]);
        assert_string_equal(s[k]->host, "127.0.0.1");
        assert_false(s[k]->tls);
        assert_false(s[k]->ended);
    }
    assert_int_equal(g->n, CLIENTS); /* one stream each, all different */
    assert_int_equal(metric_of(&f, "connections_accepted"), CLIENTS);
    assert_int_equal(metric_of(&f, "connections_open"), CLIENTS);

    /* client 1 goes: its stream ends, the others do not */
    close(fd[1]);
    wait_ended(loop, &f, g, s[1]);
    assert_false(s[0]->ended);
    assert_false(s[2]->ended);
    wait_metric(loop, &f, g, "connections_open", CLIENTS - 1); /* after the linger */
    send_all(fd[0], "more\n", 5);
    send_all(fd[2], "more\n", 5);
    wait_bytes(loop, &f, g, port[0], want_len[0] + 5);
    wait_bytes(loop, &f, g, port[2], want_len[2] + 5);

    /* stream ids are never reused, however many connections come and go */
    for (int i = 0; i < 5; i++) {
        int c = connect_to(server_port(&f));
        uint16_t p = local_port(c);
        send_all(c, "x", 1);
        stream_got *n = wait_bytes(loop, &f, g, p, 1);
        close(c);
        wait_ended(loop, &f, g, n);
    }
    assert_int_equal(g->n, CLIENTS + 5);
    for (size_t i = 0; i < g->n; i++)
        for (size_t j = i + 1; j < g->n; j++) assert_int_not_equal(g->s[i].stream, g->s[j].stream);

    close(fd[0]);
    close(fd[2]);
    tb_fix_stop(&f);
    tbr_loop_free(loop);
    got_free(g);
}

/* Streams of new clients that each sent hello: their stream ids, in client order. */
static void hello_streams(tbr_loop *loop, tb_fix *f, got *g, const int *fd, int n, uint32_t *stream) {
    for (int k = 0; k < n; k++) send_all(fd[k], "hello\n", 6);
    for (int k = 0; k < n; k++) stream[k] = wait_bytes(loop, f, g, local_port(fd[k]), 6)->stream;
}

static void test_answers_by_stream(void **state) {
    enum { CLIENTS = 3, REPLIES = 30 };
    tbr_loop *loop = tbr_loop_new();
    got *g = got_new();
    deliveries *ds = calloc(1, sizeof *ds);
    tb_fix f;
    int fd[CLIENTS];
    uint32_t stream[CLIENTS];
    out_event ev[REPLIES];
    char text[REPLIES][64];
    char want[CLIENTS][2048];
    size_t want_len[CLIENTS] = {0};
    (void)state;
    assert_non_null(ds);
    start_server(&f, loop, "\"linger_ms\":0");
    for (int k = 0; k < CLIENTS; k++) fd[k] = connect_to(server_port(&f));
    hello_streams(loop, &f, g, fd, CLIENTS, stream);

    /* one batch, the answers to all three interleaved */
    for (int i = 0; i < REPLIES; i++) {
        int k = (i * 7) % CLIENTS;
        int n = snprintf(text[i], sizeof text[i], "reply %d to %d\n", i, k);
        ev[i] = (out_event){stream[k], text[i], (size_t)n};
        memcpy(want[k] + want_len[k], text[i], (size_t)n);
        want_len[k] += (size_t)n;
    }
    assert_int_equal(push_events(&f, ev, REPLIES, 10), TB_OK);
    for (int k = 0; k < CLIENTS; k++) {
        uint8_t buf[2048];
        read_exactly(loop, &f, g, fd[k], buf, want_len[k]);
        assert_memory_equal(buf, want[k], want_len[k]);
    }
    assert_int_equal(delivered(&f, ds, 10), 1); /* TB_OK at once: no report */

    /* an unknown stream: not delivered, the batch reported failed, the server unharmed */
    uint32_t unknown = stream[CLIENTS - 1] + 1000;
    assert_int_equal(push_text(&f, unknown, "lost\n", 11), TB_EPENDING);
    assert_int_equal(delivered(&f, ds, 11), TB_ECLOSED);
    assert_int_equal(metric_of(&f, "events_undeliverable"), 1);
    /* mixed: the live connection gets its bytes, the batch still fails */
    out_event mixed[] = {{stream[0], "to 0\n", 5}, {unknown, "lost\n", 5}};
    assert_int_equal(push_events(&f, mixed, 2, 12), TB_EPENDING);
    assert_int_equal(delivered(&f, ds, 12), TB_ECLOSED);
    uint8_t buf[16];
    read_exactly(loop, &f, g, fd[0], buf, 5);
    assert_memory_equal(buf, "to 0\n", 5);

    /* a connection that closed: its stream ends, then events for it fail */
    close(fd[2]);
    stream_got *s2 = got_stream(g, stream[2]);
    wait_ended(loop, &f, g, s2);
    wait_metric(loop, &f, g, "connections_open", CLIENTS - 1);
    assert_int_equal(push_text(&f, stream[2], "too late\n", 13), TB_EPENDING);
    assert_int_equal(delivered(&f, ds, 13), TB_ECLOSED);
    assert_int_equal(metric_of(&f, "events_undeliverable"), 3);
    /* and the others are still answered */
    assert_int_equal(push_text(&f, stream[1], "still here\n", 14), TB_OK);
    read_exactly(loop, &f, g, fd[1], buf, 11);
    assert_memory_equal(buf, "still here\n", 11);

    /* a dropped event or an empty one is nothing to write */
    tb_fix_begin(&f);
    tb_event *e = tb_batch_push(&f.in);
    e->data = tb_i64(1);
    e->flags = TB_EF_DROPPED;
    e = tb_batch_push(&f.in);
    e->data = tb_bytes("", 0);
    e->flags = TB_EF_RAW;
    e->stream = stream[1];
    assert_int_equal(vt(&f)->push(f.inst->state, &f.in), TB_OK);

    close(fd[0]);
    close(fd[1]);
    tb_fix_stop(&f);
    tbr_loop_free(loop);
    got_free(g);
    free(ds);
}

static void test_slow_reader(void **state) {
    enum { BATCHES = 128, SIZE = 65536 }; /* 8 MiB: twice what the kernel buffers at most */
    tbr_loop *loop = tbr_loop_new();
    got *g = got_new();
    deliveries *ds = calloc(1, sizeof *ds);
    uint8_t *want = malloc(BATCHES * SIZE), *have = malloc(BATCHES * SIZE);
    int rc[BATCHES];
    tb_fix f;
    uint32_t stream;
    (void)state;
    assert_non_null(ds);
    assert_non_null(want);
    assert_non_null(have);
    for (size_t i = 0; i < BATCHES * SIZE; i++) want[i] = (uint8_t)(i * 31 + i / 4093);
    start_server(&f, loop, "\"max_buffered\":262144");
    int fd = connect_with(server_port(&f), 4096); /* a small window: the server's writes soon block */
    hello_streams(loop, &f, g, &fd, 1, &stream);

    /* 8 MiB while the client reads nothing: never blocks, nothing lost, the breaker opens */
    bool opened = false;
    int pending = 0;
    for (int b = 0; b < BATCHES; b++) {
        out_event e = {stream, want + (size_t)b * SIZE, SIZE};
        rc[b] = push_events(&f, &e, 1, 100 + (uint64_t)b);
        assert_true(rc[b] == TB_OK || rc[b] == TB_EPENDING);
        pending += rc[b] == TB_EPENDING;
        opened = opened || tbr_context_circuit_open(f.inst->ctx);
    }
    assert_true(pending > 0);
    assert_true(opened);
    assert_int_equal(vt(&f)->drain(f.inst->state), TB_EAGAIN);

    /* the client reads it all; every pending batch is reported delivered, the breaker closes */
    read_exactly(loop, &f, g, fd, have, BATCHES * SIZE);
    assert_memory_equal(have, want, BATCHES * SIZE);
    uint64_t t0 = tbr_now_ns();
    for (int b = 0; b < BATCHES; b++) {
        if (rc[b] != TB_EPENDING) {
            assert_int_equal(delivered(&f, ds, 100 + (uint64_t)b), 1);
            continue;
        }
        while (delivered(&f, ds, 100 + (uint64_t)b) == 1) {
            if (past(t0)) fail_msg("batch %d never reported", b);
            pump(loop, &f, g, "tcp_server");
        }
        assert_int_equal(delivered(&f, ds, 100 + (uint64_t)b), TB_OK);
    }
    assert_false(tbr_context_circuit_open(f.inst->ctx));
    assert_int_equal(vt(&f)->drain(f.inst->state), TB_OK);
    /* the emptied buffer was given back */
    assert_true(plugin_mem(&f) < f.mem_before + 80 * 1024 + 64 * 1024);

    close(fd);
    tb_fix_stop(&f);
    tbr_loop_free(loop);
    got_free(g);
    free(ds);
    free(want);
    free(have);
}

static void test_stop_closes_everything(void **state) {
    tbr_loop *loop = tbr_loop_new();
    got *g = got_new();
    tb_fix f;
    uint32_t stream;
    (void)state;
    start_server(&f, loop, NULL);
    uint16_t port = server_port(&f);
    int fd = connect_to(port);
    hello_streams(loop, &f, g, &fd, 1, &stream);
    assert_int_equal(vt(&f)->stop(f.inst->state), TB_OK);
    uint64_t t0 = tbr_now_ns();
    while (!peer_closed(fd)) {
        if (past(t0)) fail_msg("stop left the connection open");
        tbr_loop_run_once(loop, 10);
    }
    /* nobody listens any more */
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    int c = socket(AF_INET, SOCK_STREAM, 0);
    assert_int_not_equal(connect(c, (struct sockaddr *)&a, sizeof a), 0);
    close(c);
    close(fd);
    tb_fix_stop(&f);
    tbr_loop_free(loop);
    got_free(g);
}

static void test_port_in_use(void **state) {
    tbr_loop *loop = tbr_loop_new();
    tb_fix f;
    uint16_t port;
    char json[128], want[128];
    (void)state;
    int l = listen_any(&port);
    snprintf(json, sizeof json, "{\"host\":\"127.0.0.1\",\"port\":%u}", port);
    start_on(&f, loop, "tcp_server", json);
    /* an I/O error: the runtime retries it with backoff when reconnect says so */
    assert_int_equal(vt(&f)->connect(f.inst->state), TB_EIO);
    snprintf(want, sizeof want, "cannot listen on 127.0.0.1:%u: Address already in use", port);
    if (!strstr(last_error(&f), want)) fail_msg("\"%s\" does not say \"%s\"", last_error(&f), want);
    close(l);
    /* the port is free now: the retry listens */
    assert_int_equal(vt(&f)->connect(f.inst->state), TB_OK);
    assert_int_equal(server_port(&f), port);
    tb_fix_stop(&f);
    tbr_loop_free(loop);
}

static void test_bad_options(void **state) {
    static const struct {
        const char *json, *why;
    } cases[] = {
        {"{}", "url (\"host:port\") or port is required"},
        {"{\"url\":\"127.0.0.1\"}", "expected host:port"},
        {"{\"url\":\"127.0.0.1:65536\"}", "the port must be 0 to 65535"},
        {"{\"url\":\"127.0.0.1:x\"}", "the port must be"},
        {"{\"url\":\"http://127.0.0.1:80\"}", "only tcp:// is understood"},
        {"{\"url\":\"::1:80\"}", "in brackets"},
        {"{\"url\":\":80\"}", "the host is empty"},
        {"{\"url\":\"127.0.0.1:1\",\"port\":2}", "either url or host and port"},
        {"{\"port\":70000}", "port must be 0 to 65535"},
        {"{\"port\":1,\"max_connections\":0}", "max_connections must be between"},
        {"{\"port\":1,\"buf_size\":0}", "buf_size must be between"},
        {"{\"port\":1,\"backlog\":0}", "backlog must be between"},
        {"{\"port\":1,\"max_buffered\":0}", "max_buffered"},
        {"{\"port\":1,\"tls\":{\"cert\":\"/nonexistent/server.crt\",\"key\":\"/nonexistent/server.key\"}}",
         "tls.cert /nonexistent/server.crt: "},
        {"{\"port\":1,\"tls\":{\"cert\":\"a.crt\"}}", "tls needs both cert and key"},
        {"{\"port\":1,\"tls\":{\"cert\":\"a\",\"key\":\"b\",\"bogus\":1}}", "tls has no option \"bogus\""},
        {"{\"port\":1,\"tls\":{\"cert\":1,\"key\":\"b\"}}", "tls.cert must be a string"},
    };
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char err[512] = "";
        int rc = try_create("tcp_server", cases[i].json, err, sizeof err);
        if (rc != TB_EINVAL) fail_msg("%s: %d (%s), expected TB_EINVAL", cases[i].json, rc, err);
        if (!strstr(err, cases[i].why)) fail_msg("%s: \"%s\" does not say \"%s\"", cases[i].json, err, cases[i].why);
    }
    /* what is accepted */
    static const char *const good[] = {"{\"url\":\"tcp://127.0.0.1:0\"}", "{\"url\":\"[::1]:0\"}",
                                       "{\"port\":0}", "{\"host\":\"localhost\",\"port\":4242}"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        char err[512] = "";
        int rc = try_create("tcp_server", good[i], err, sizeof err);
        if (rc != TB_OK) fail_msg("%s refused: %s", good[i], err);
    }
}

int main(void) {
    signal(SIGPIPE, SIG_IGN); /* as the runtime does */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_streams_per_connection),
        cmocka_unit_test(test_answers_by_stream),
        cmocka_unit_test(test_slow_reader),
        cmocka_unit_test(test_stop_closes_everything),
        cmocka_unit_test(test_port_in_use),
        cmocka_unit_test(test_bad_options),
    };
    return cmocka_run_group_tests(tests, tb_fix_group_setup, tb_fix_group_teardown);
}
