/*
 * test_ws_echo.c - the `ws` plugin's two connectors against each other on one real event loop
 * (127.0.0.1): ws_client sends, ws_server receives (one stream per connection, the metadata)
 * and answers on the stream the message came from (or the one $ws_server.stream names); text
 * and binary messages, messages of several MiB (which go out in many frames), thousands of
 * messages, two clients at once; the server stopping (a close frame with 1001: the client's
 * stream ends and the loss is reported); a client to nothing (TB_EIO); wss with a
 * self-signed certificate; a path the server refuses (the HTTP status in the error); and
 * the option checks.
 *
 * Thread contract: single-threaded. Ownership: each test owns its fixtures, loop and sockets.
 */
#define _GNU_SOURCE
#define TB_FIX_IMPLEMENTATION
#include "plugin_fix.h"
#include "ws_fix.h"

#include <sys/stat.h>

typedef struct pair {
    tbr_loop *loop;
    tb_fix srv, cli;
    msgs gs, gc;
    deliveries *ds;
} pair;

static void pump_both(pair *p) {
    ws_pump(p->loop, &p->srv, &p->gs, "ws_server");
    ws_pump(p->loop, &p->cli, &p->gc, "ws_client");
}

static void start_pair(pair *p, const char *srv_extra, const char *cli_extra, bool tls_dir) {
    char json[2048];
    (void)tls_dir;
    memset(p, 0, sizeof *p);
    p->loop = tbr_loop_new();
    p->ds = calloc(1, sizeof *p->ds);
    assert_non_null(p->ds);
    snprintf(json, sizeof json, "{\"url\":\"127.0.0.1:0\"%s%s}", srv_extra ? "," : "", srv_extra ? srv_extra : "");
    start_on(&p->srv, p->loop, "ws_server", json);
    assert_int_equal(vt(&p->srv)->connect(p->srv.inst->state), TB_OK);
    snprintf(json, sizeof json, "{\"url\":\"%s://127.0.0.1:%u/echo\"%s%s}", strstr(cli_extra ? cli_extra : "", "\"tls\"") ? "wss" : "ws",
             server_port(&p->srv), cli_extra ? "," : "", cli_extra ? cli_extra : "");
    start_on(&p->cli, p->loop, "ws_client", json);
    assert_int_equal(vt(&p->cli)->connect(p->cli.inst->state), TB_OK);
}

static void stop_pair(pair *p) {
    tbr_instance_destroy(p->cli.inst);
    p->cli.inst = NULL;
    tb_fix_stop(&p->cli);
    tb_fix_stop(&p->srv);
    tbr_loop_free(p->loop);
    msgs_free(&p->gs);
    msgs_free(&p->gc);
    free(p->ds);
}

/* A push from f, delivered at once or through a report. */
static void push_ok(pair *p, tb_fix *f, const ws_out *ev, size_t n, uint64_t token) {
    int rc = ws_push(f, ev, n, token);
    if (rc == TB_OK) return;
    assert_int_equal(rc, TB_EPENDING);
    uint64_t t0 = tbr_now_ns();
    while (delivered(f, p->ds, token) == 1) {
        if (past(t0)) fail_msg("batch %llu never reported", (unsigned long long)token);
        pump_both(p);
    }
    assert_int_equal(delivered(f, p->ds, token), TB_OK);
}

static void wait_count(pair *p, msgs *g, size_t want) {
    uint64_t t0 = tbr_now_ns();
    while (g->n < want) {
        if (past(t0)) fail_msg("only %zu of %zu events arrived", g->n, want);
        pump_both(p);
    }
}

static void test_echo_text_and_binary(void **state) {
    pair p;
    (void)state;
    start_pair(&p, NULL, NULL, false);
    /* pushed while the handshake is under way: queued, sent once open */
    ws_out hello[2] = {{0, "hello", 5, -1, -1}, {0, "\x00\x01\xff", 3, 1, -1}};
    push_ok(&p, &p.cli, hello, 2, 1);
    wait_count(&p, &p.gs, 2);
    msg_got *a = &p.gs.m[0], *b = &p.gs.m[1];
    assert_int_equal(a->len, 5);
    assert_memory_equal(a->data, "hello", 5);
    assert_false(a->binary);
    assert_int_equal(b->len, 3);
    assert_memory_equal(b->data, "\x00\x01\xff", 3);
    assert_true(b->binary);
    assert_int_equal(a->stream, b->stream);
    assert_int_equal(a->id, 0);
    assert_int_equal(b->id, 1);
    assert_string_equal(a->path, "/echo");
    /* answers: by stream, then by $ws_server.stream on an event of another stream */
    ws_out back[2] = {{a->stream, "back", 4, -1, -1}, {12345, "\x01\x02", 2, 1, (int64_t)a->stream}};
    push_ok(&p, &p.srv, back, 2, 2);
    wait_count(&p, &p.gc, 2);
    assert_int_equal(p.gc.m[0].len, 4);
    assert_memory_equal(p.gc.m[0].data, "back", 4);
    assert_false(p.gc.m[0].binary);
    assert_int_equal(p.gc.m[1].len, 2);
    assert_true(p.gc.m[1].binary);
    /* an event for a stream that has no connection: counted, its batch reported failed */
    ws_out lost = {a->stream + 1000, "x", 1, -1, -1};
    int rc = ws_push(&p.srv, &lost, 1, 3);
    assert_int_equal(rc, TB_EPENDING);
    assert_int_equal(delivered(&p.srv, p.ds, 3), TB_ECLOSED);
    assert_int_equal(metric_of(&p.srv, "events_undeliverable"), 1);
    assert_int_equal(metric_of(&p.srv, "messages_in"), 2);
    assert_int_equal(metric_of(&p.srv, "messages_out"), 2);
    assert_int_equal(metric_of(&p.srv, "connections_open"), 1);
    assert_int_equal(metric_of(&p.cli, "connections"), 1);
    stop_pair(&p);
}

static void test_large_and_many(void **state) {
    pair p;
    (void)state;
    start_pair(&p, NULL, NULL, false);
    size_t big = 5u << 20;
    uint8_t *data = malloc(big);
    assert_non_null(data);
    for (size_t i = 0; i < big; i++) data[i] = (uint8_t)(i * 7 + (i >> 13));
    ws_out one = {0, data, big, 1, -1};
    push_ok(&p, &p.cli, &one, 1, 1);
    wait_count(&p, &p.gs, 1);
    assert_int_equal(p.gs.m[0].len, big);
    assert_memory_equal(p.gs.m[0].data, data, big);
    uint32_t stream = p.gs.m[0].stream;
    /* and back, also in many frames */
    one.stream = stream;
    push_ok(&p, &p.srv, &one, 1, 2);
    wait_count(&p, &p.gc, 1);
    assert_int_equal(p.gc.m[0].len, big);
    assert_memory_equal(p.gc.m[0].data, data, big);
    free(data);

    /* 3000 small messages in batches of 100, each answered */
    enum { N = 3000 };
    static char texts[N][32];
    static ws_out ev[100];
    for (int i = 0; i < N; i++) snprintf(texts[i], sizeof texts[i], "{\"n\":%d}", i);
    for (int i = 0; i < N; i += 100) {
        for (int k = 0; k < 100; k++) ev[k] = (ws_out){0, texts[i + k], strlen(texts[i + k]), -1, -1};
        push_ok(&p, &p.cli, ev, 100, 10 + (uint64_t)i);
    }
    wait_count(&p, &p.gs, 1 + N);
    for (int i = 0; i < N; i++) {
        msg_got *m = &p.gs.m[1 + i];
        assert_int_equal(m->stream, stream);
        assert_int_equal(m->id, 1 + (uint64_t)i);
        assert_int_equal(m->len, strlen(texts[i]));
        assert_memory_equal(m->data, texts[i], m->len);
    }
    for (int i = 0; i < N; i += 100) {
        for (int k = 0; k < 100; k++) ev[k] = (ws_out){stream, texts[i + k], strlen(texts[i + k]), -1, -1};
        push_ok(&p, &p.srv, ev, 100, 10000 + (uint64_t)i);
    }
    wait_count(&p, &p.gc, 1 + N);
    for (int i = 0; i < N; i++) assert_memory_equal(p.gc.m[1 + i].data, texts[i], strlen(texts[i]));
    stop_pair(&p);
}

static void test_server_stops(void **state) {
    pair p;
    (void)state;
    start_pair(&p, NULL, NULL, false);
    ws_out m = {0, "one", 3, -1, -1};
    push_ok(&p, &p.cli, &m, 1, 1);
    wait_count(&p, &p.gs, 1);
    uint32_t s1 = p.gs.m[0].stream;
    ws_out back = {s1, "two", 3, -1, -1};
    push_ok(&p, &p.srv, &back, 1, 2);
    wait_count(&p, &p.gc, 1);
    uint32_t c1 = p.gc.m[0].stream;
    /* the server stops: a close frame (1001); the client's stream ends, the loss comes next */
    assert_int_equal(vt(&p.srv)->stop(p.srv.inst->state), TB_OK);
    uint64_t t0 = tbr_now_ns();
    int rc;
    while ((rc = ws_pump(p.loop, &p.cli, &p.gc, "ws_client")) == TB_EAGAIN || rc == TB_OK)
        if (past(t0)) fail_msg("the client never reported the loss");
    assert_int_equal(rc, TB_ECLOSED);
    assert_non_null(strstr(last_error(&p.cli), "the server closed the connection with status 1001"));
    assert_true(ended(&p.gc, c1));
    /* the runtime reconnects: nothing listens any more, which connect says at once */
    assert_int_equal(vt(&p.cli)->connect(p.cli.inst->state), TB_EIO);
    stop_pair(&p);
}

static void test_two_clients(void **state) {
    pair p;
    tb_fix c2;
    msgs g2 = {0};
    char json[256];
    (void)state;
    start_pair(&p, NULL, NULL, false);
    snprintf(json, sizeof json, "{\"url\":\"ws://127.0.0.1:%u/echo\"}", server_port(&p.srv));
    start_on(&c2, p.loop, "ws_client", json);
    assert_int_equal(vt(&c2)->connect(c2.inst->state), TB_OK);
    ws_out a = {0, "from a", 6, -1, -1}, b = {0, "from b", 6, -1, -1};
    push_ok(&p, &p.cli, &a, 1, 1);
    int rc = ws_push(&c2, &b, 1, 2);
    assert_true(rc == TB_OK || rc == TB_EPENDING);
    wait_count(&p, &p.gs, 2);
    assert_int_not_equal(p.gs.m[0].stream, p.gs.m[1].stream);
    /* each answered on its own connection: the message it sent, back */
    for (int i = 0; i < 2; i++) {
        ws_out back = {p.gs.m[i].stream, p.gs.m[i].data, p.gs.m[i].len, -1, -1};
        assert_true(ws_push(&p.srv, &back, 1, 10 + (uint64_t)i) <= TB_OK);
    }
    uint64_t t0 = tbr_now_ns();
    while (p.gc.n < 1 || g2.n < 1) {
        if (past(t0)) fail_msg("answers never came");
        pump_both(&p);
        ws_pump(p.loop, &c2, &g2, "ws_client");
    }
    assert_memory_equal(p.gc.m[0].data, "from a", 6);
    assert_memory_equal(g2.m[0].data, "from b", 6);
    /* c2 leaves: its stream on the server ends, the other goes on */
    tbr_instance_destroy(c2.inst);
    c2.inst = NULL;
    tb_fix_stop(&c2);
    msgs_free(&g2);
    uint32_t sb = p.gs.m[1].stream;
    t0 = tbr_now_ns();
    while (!ended(&p.gs, sb)) {
        if (past(t0)) fail_msg("the stream of the client that left never ended");
        pump_both(&p);
    }
    push_ok(&p, &p.cli, &a, 1, 20);
    wait_count(&p, &p.gs, 4);
    assert_int_equal(metric_of(&p.srv, "connections_open"), 1);
    stop_pair(&p);
}

static void test_nothing_listens_and_refused_path(void **state) {
    tbr_loop *loop = tbr_loop_new();
    tb_fix f, srv;
    msgs g = {0};
    uint16_t port;
    (void)state;
    int l = listen_any(&port);
    close(l); /* nothing listens there now */
    char json[256];
    snprintf(json, sizeof json, "{\"url\":\"ws://127.0.0.1:%u/\"}", port);
    start_on(&f, loop, "ws_client", json);
    assert_int_equal(vt(&f)->connect(f.inst->state), TB_EIO);
    assert_non_null(strstr(last_error(&f), "Connection refused"));
    tb_fix_stop(&f);

    /* a server for /only: the client's /other is refused with 404, and the error says so */
    start_on(&srv, loop, "ws_server", "{\"url\":\"127.0.0.1:0\",\"path\":\"/only\"}");
    assert_int_equal(vt(&srv)->connect(srv.inst->state), TB_OK);
    snprintf(json, sizeof json, "{\"url\":\"ws://127.0.0.1:%u/other\"}", server_port(&srv));
    start_on(&f, loop, "ws_client", json);
    assert_int_equal(vt(&f)->connect(f.inst->state), TB_OK);
    uint64_t t0 = tbr_now_ns();
    int rc;
    while ((rc = ws_pump(loop, &f, &g, "ws_client")) == TB_EAGAIN) {
        ws_pump(loop, &srv, &g, "ws_server");
        if (past(t0)) fail_msg("the refusal never came");
    }
    assert_int_equal(rc, TB_EIO);
    assert_non_null(strstr(last_error(&f), "refused the WebSocket handshake: HTTP 404 Not Found"));
    assert_int_equal(metric_of(&srv, "handshakes_failed"), 1);
    tbr_instance_destroy(f.inst);
    f.inst = NULL;
    tb_fix_stop(&f);
    tb_fix_stop(&srv);
    tbr_loop_free(loop);
    msgs_free(&g);
}

static void test_wss(void **state) {
    char dir[] = "/tmp/ws_tls_XXXXXX", extra[1024], cextra[1024];
    pair p;
    (void)state;
    assert_non_null(mkdtemp(dir));
    make_cert(dir, "srv", "localhost", "DNS:localhost,IP:127.0.0.1");
    snprintf(extra, sizeof extra, "\"tls\":{\"cert\":\"%s/srv.crt\",\"key\":\"%s/srv.key\"}", dir, dir);
    snprintf(cextra, sizeof cextra, "\"tls\":{\"cafile\":\"%s/srv.crt\"}", dir);
    start_pair(&p, extra, cextra, true);
    ws_out m = {0, "secret", 6, -1, -1};
    push_ok(&p, &p.cli, &m, 1, 1);
    wait_count(&p, &p.gs, 1);
    assert_memory_equal(p.gs.m[0].data, "secret", 6);
    ws_out back = {p.gs.m[0].stream, "answer", 6, -1, -1};
    push_ok(&p, &p.srv, &back, 1, 2);
    wait_count(&p, &p.gc, 1);
    assert_memory_equal(p.gc.m[0].data, "answer", 6);
    stop_pair(&p);

    /* without the CA: verification fails, and the error says so */
    start_pair(&p, extra, "\"tls\":true", true);
    uint64_t t0 = tbr_now_ns();
    int rc;
    while ((rc = ws_pump(p.loop, &p.cli, &p.gc, "ws_client")) == TB_EAGAIN) {
        ws_pump(p.loop, &p.srv, &p.gs, "ws_server");
        if (past(t0)) fail_msg("verification never failed");
    }
    assert_int_equal(rc, TB_EIO);
    assert_non_null(strstr(last_error(&p.cli), "certificate verification failed"));
    stop_pair(&p);
    char path[512];
    snprintf(path, sizeof path, "%s/srv.crt", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/srv.key", dir);
    unlink(path);
    rmdir(dir);
}

static void test_bad_options(void **state) {
    static const struct {
        const char *name, *json, *why;
    } cases[] = {
        {"ws_server", "{\"url\":\"http://h:1\"}", "only ws:// and wss:// are understood"},
        {"ws_server", "{\"url\":\"h\"}", "url \"h\": expected host:port"},
        {"ws_server", "{\"url\":\"h:1\",\"path\":\"x\"}", "must start with '/'"},
        {"ws_server", "{\"url\":\"h:1\",\"max_message\":0}", "max_message must be between"},
        {"ws_server", "{\"url\":\"wss://h:1\"}", "a server serves wss through its tls option"},
        {"ws_client", "{\"url\":\"ws://h:0/\"}", "the port must be 1 to 65535"},
        {"ws_client", "{\"url\":\"ws://h:1/\",\"headers\":{\"X-A\":\"a\\r\\nb\"}}", "holds a line break"},
        {"ws_client", "{\"url\":\"ws://h:1/\",\"headers\":{\"X A\":\"a\"}}", "is no header name"},
        {"ws_client", "{\"url\":\"wss://h:1/\",\"tls\":false}", "is wss:// but tls is false"},
        {"ws_client", "{\"url\":\"ws://h:1/a b\"}", "the path holds a space"},
    };
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char err[512] = "";
        int rc = try_create(cases[i].name, cases[i].json, err, sizeof err);
        if (rc != TB_EINVAL || !strstr(err, cases[i].why))
            fail_msg("%s %s: %d \"%s\", wanted \"%s\"", cases[i].name, cases[i].json, rc, err, cases[i].why);
    }
}

int main(void) {
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_echo_text_and_binary),
        cmocka_unit_test(test_large_and_many),
        cmocka_unit_test(test_server_stops),
        cmocka_unit_test(test_two_clients),
        cmocka_unit_test(test_nothing_listens_and_refused_path),
        cmocka_unit_test(test_wss),
        cmocka_unit_test(test_bad_options),
    };
    return cmocka_run_group_tests(tests, tb_fix_group_setup, tb_fix_group_teardown);
}
