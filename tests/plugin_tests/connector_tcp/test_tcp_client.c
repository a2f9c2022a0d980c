/*
 * test_tcp_client.c - the `tcp_client` connector (plugins/connector/tcp), loaded from the
 * build's plugins directory and driven through its vtable on a real event loop: against a
 * plain listening socket of the test (send, receive, the server closing: stream end, then
 * TB_ECLOSED, then a reconnect on a new stream; a reset: TB_EIO), with nothing listening
 * (TB_EIO), against a server whose accept queue is full (the connect timeout; pushes buffered
 * until connected), the runtime's own tcp_server on the same loop, and the option checks.
 *
 * Thread contract: single-threaded. Ownership: each test owns its fixtures, loop and sockets.
 */
#define _GNU_SOURCE
#define TB_FIX_IMPLEMENTATION
#include "plugin_fix.h"
#include "tcp_fix.h"

static void start_client(tb_fix *f, tbr_loop *loop, uint16_t port, const char *extra) {
    char json[1024];
    snprintf(json, sizeof json, "{\"url\":\"127.0.0.1:%u\"%s%s}", port, extra ? "," : "", extra ? extra : "");
    start_on(f, loop, "tcp_client", json);
}

/* Accepts the next connection on l (blocking: the kernel has completed it), non-blocking. */
static int accept_one(int l) {
    int fd = accept(l, NULL, NULL);
    assert_true(fd >= 0);
    set_nonblocking(fd);
    return fd;
}

/* Reads from fd, pumping the client, until buf holds want bytes. */
static void read_exactly(tbr_loop *loop, tb_fix *f, got *g, int fd, uint8_t *buf, size_t want) {
    size_t len = 0;
    uint64_t t0 = tbr_now_ns();
    while (len < want) {
        ssize_t r = drain_fd(fd, buf, want, &len);
        if (r == 0 && len < want) fail_msg("the connection ended after %zu of %zu bytes", len, want);
        if (past(t0)) fail_msg("read only %zu of %zu bytes", len, want);
        if (len < want) pump(loop, f, g, "tcp_client");
    }
}

/* Pumps the client until a pull fails; returns that status. */
static int wait_pull_error(tbr_loop *loop, tb_fix *f, got *g) {
    uint64_t t0 = tbr_now_ns();
    for (;;) {
        int rc = pump(loop, f, g, "tcp_client");
        if (rc != TB_OK && rc != TB_EAGAIN) return rc;
        if (past(t0)) fail_msg("the client never reported its connection lost");
    }
}

/* A push that is delivered, at once or through a report. */
static void push_delivered(tbr_loop *loop, tb_fix *f, got *g, deliveries *ds, const char *text, uint64_t token) {
    int rc = push_text(f, 0, text, token);
    if (rc == TB_OK) return;
    assert_int_equal(rc, TB_EPENDING);
    uint64_t t0 = tbr_now_ns();
    while (delivered(f, ds, token) == 1) {
        if (past(t0)) fail_msg("batch %llu never reported", (unsigned long long)token);
        pump(loop, f, g, "tcp_client");
    }
    assert_int_equal(delivered(f, ds, token), TB_OK);
}

static void test_roundtrip_and_reconnect(void **state) {
    tbr_loop *loop = tbr_loop_new();
    got *g = got_new();
    deliveries *ds = calloc(1, sizeof *ds);
    tb_fix f;
    uint16_t port;
    uint8_t buf[64];
    char want[128];
    (void)state;
    assert_non_null(ds);
    int l = listen_any(&port);
    start_client(&f, loop, port, NULL);
    assert_int_equal(vt(&f)->connect(f.inst->state), TB_OK);
    int peer = accept_one(l);

    /* events to the server */
    push_delivered(loop, &f, g, ds, "hello\n", 1);
    push_delivered(loop, &f, g, ds, "world\n", 2);
    read_exactly(loop, &f, g, peer, buf, 12);
    assert_memory_equal(buf, "hello\nworld\n", 12);

    /* what the server sends, as one stream with the server in the metadata */
    send_all(peer, "answer 1\nanswer 2\n", 18);
    uint64_t t0 = tbr_now_ns();
    while (g->n == 0 || g->s[0].len < 18) {
        if (past(t0)) fail_msg("the answer never came");
        pump(loop, &f, g, "tcp_client");
    }
    stream_got *s = &g->s[0];
    assert_memory_equal(s->data, "answer 1\nanswer 2\n", 18);
    assert_string_equal(s->host, "127.0.0.1");
    assert_int_equal(s->port, port);
    assert_false(s->tls);
    uint32_t first = s->stream;

    /* the server closes: the stream ends, then the pull says the connection is closed */
    close(peer);
    assert_int_equal(wait_pull_error(loop, &f, g), TB_ECLOSED);
    assert_true(g->s[0].ended);
    snprintf(want, sizeof want, "127.0.0.1:%u: the server closed the connection", port);
    if (!strstr(last_error(&f), want)) fail_msg("\"%s\" does not say \"%s\"", last_error(&f), want);
    /* and so does a push, until the runtime reconnects */
    assert_int_equal(push_text(&f, 0, "lost\n", 3), TB_ECLOSED);

    /* the runtime's reconnect: connect again, a new stream */
    assert_int_equal(vt(&f)->connect(f.inst->state), TB_OK);
    peer = accept_one(l);
    push_delivered(loop, &f, g, ds, "again\n", 4);
    read_exactly(loop, &f, g, peer, buf, 6);
    assert_memory_equal(buf, "again\n", 6);
    send_all(peer, "back\n", 5);
    t0 = tbr_now_ns();
    while (g->n < 2 || g->s[1].len < 5) {
        if (past(t0)) fail_msg("the second connection's data never came");
        pump(loop, &f, g, "tcp_client");
    }
    assert_int_not_equal(g->s[1].stream, first);
    assert_memory_equal(g->s[1].data, "back\n", 5);

    /* a reset: TB_EIO with the reason */
    struct linger lg = {1, 0};
    setsockopt(peer, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close(peer);
    assert_int_equal(wait_pull_error(loop, &f, g), TB_EIO);
    if (!strstr(last_error(&f), "Connection reset")) fail_msg("\"%s\" does not say why", last_error(&f));
    assert_true(g->s[1].ended);

    close(l);
    tb_fix_stop(&f);
    tbr_loop_free(loop);
    got_free(g);
    free(ds);
}

static void test_nothing_listens(void **state) {
    tbr_loop *loop = tbr_loop_new();
    got *g = got_new();
    tb_fix f;
    uint16_t port;
    char want[128];
    (void)state;
    close(listen_any(&port)); /* a port nothing listens on */
    start_client(&f, loop, port, NULL);
    int rc = vt(&f)->connect(f.inst->state);
    /* on one machine the refusal is known at once; were it not, the next pull would say it */
    if (rc == TB_OK) rc = wait_pull_error(loop, &f, g);
    assert_int_equal(rc, TB_EIO);
    snprintf(want, sizeof want, "127.0.0.1:%u", port);
    if (!strstr(last_error(&f), want) || !strstr(last_error(&f), "Connection refused"))
        fail_msg("\"%s\" does not name %s and the refusal", last_error(&f), want);
    tb_fix_stop(&f);
    /* a push before any connect connects, and fails the same way */
    start_client(&f, loop, port, NULL);
    rc = push_text(&f, 0, "x", 1);
    if (rc == TB_EPENDING) rc = wait_pull_error(loop, &f, g);
    assert_int_equal(rc, TB_EIO);
    tb_fix_stop(&f);
    tbr_loop_free(loop);
    got_free(g);
}

/* A listener whose accept queue is full: the kernel drops further SYNs, so a connect to it
 * stays under way (until the queue has room and a SYN is retransmitted). */
static int full_listener(uint16_t *port, int *fillers, int n) {
    struct sockaddr_in a = {.sin_family = AF_INET};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_int_equal(bind(l, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(l, 0), 0);
    set_nonblocking(l);
    *port = local_port(l);
    a.sin_port = htons(*port);
    for (int i = 0; i < n; i++) {
        fillers[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        connect(fillers[i], (struct sockaddr *)&a, sizeof a);
    }
    return l;
}

static void test_connect_under_way(void **state) {
    enum { FILLERS = 4 };
    tbr_loop *loop = tbr_loop_new();
    got *g = got_new();
    deliveries *ds = calloc(1, sizeof *ds);
    tb_fix f;
    uint16_t port;
    int fillers[FILLERS];
    (void)state;
    assert_non_null(ds);

    /* a connect that never completes fails after connect_timeout_ms */
    int l = full_listener(&port, fillers, FILLERS);
    start_client(&f, loop, port, "\"connect_timeout_ms\":200");
    assert_int_equal(vt(&f)->connect(f.inst->state), TB_OK);
    assert_int_equal(wait_pull_error(loop, &f, g), TB_EIO);
    if (!strstr(last_error(&f), "connecting timed out")) fail_msg("\"%s\" does not say it timed out", last_error(&f));
    tb_fix_stop(&f);

    /* pushes while connecting are buffered, and delivered once the connection is made */
    start_client(&f, loop, port, NULL);
    assert_int_equal(vt(&f)->connect(f.inst->state), TB_OK);
    assert_int_equal(push_text(&f, 0, "early\n", 7), TB_EPENDING);
    assert_int_equal(vt(&f)->drain(f.inst->state), TB_EAGAIN);
    assert_int_equal(delivered(&f, ds, 7), 1);
    /* make room: the client's next SYN (retransmitted after about a second) gets in */
    uint64_t t0 = tbr_now_ns();
    int peer = -1;
    uint8_t buf[8];
    size_t len = 0;
    while (delivered(&f, ds, 7) == 1 || len < 6) {
        int c = accept4(l, NULL, NULL, SOCK_NONBLOCK);
        if (c >= 0) {
            if (peer >= 0) close(peer);
            peer = c; /* the last one accepted is the client's */
        }
        if (peer >= 0) drain_fd(peer, buf, sizeof buf, &len);
        if (past(t0)) fail_msg("the buffered push was never delivered");
        pump(loop, &f, g, "tcp_client");
    }
    assert_int_equal(delivered(&f, ds, 7), TB_OK);
    assert_int_equal(len, 6);
    assert_memory_equal(buf, "early\n", 6);
    assert_int_equal(vt(&f)->drain(f.inst->state), TB_OK);

    close(peer);
    for (int i = 0; i < FILLERS; i++) close(fillers[i]);
    close(l);
    tb_fix_stop(&f);
    tbr_loop_free(loop);
    got_free(g);
    free(ds);
}

static void test_against_tcp_server(void **state) {
    tbr_loop *loop = tbr_loop_new();
    got *gs = got_new(), *gc = got_new();
    deliveries *ds = calloc(1, sizeof *ds);
    tb_fix server, client;
    (void)state;
    assert_non_null(ds);
    start_on(&server, loop, "tcp_server", "{\"url\":\"127.0.0.1:0\"}");
    assert_int_equal(vt(&server)->connect(server.inst->state), TB_OK);
    start_client(&client, loop, server_port(&server), NULL);
    assert_int_equal(vt(&client)->connect(client.inst->state), TB_OK);
    push_delivered(loop, &client, gc, ds, "ping\n", 1);
    uint64_t t0 = tbr_now_ns();
    while (gs->n == 0 || gs->s[0].len < 5) {
        if (past(t0)) fail_msg("the server never got the ping");
        pump(loop, &server, gs, "tcp_server");
        pump(loop, &client, gc, "tcp_client");
    }
    assert_memory_equal(gs->s[0].data, "ping\n", 5);
    /* the server answers on the stream the ping came from */
    assert_int_equal(push_text(&server, gs->s[0].stream, "pong\n", 2), TB_OK);
    while (gc->n == 0 || gc->s[0].len < 5) {
        if (past(t0)) fail_msg("the client never got the pong");
        pump(loop, &server, gs, "tcp_server");
        pump(loop, &client, gc, "tcp_client");
    }
    assert_memory_equal(gc->s[0].data, "pong\n", 5);
    /* the server stops: the client's stream ends and the connection is reported lost */
    assert_int_equal(vt(&server)->stop(server.inst->state), TB_OK);
    int rc = wait_pull_error(loop, &client, gc);
    assert_true(rc == TB_ECLOSED || rc == TB_EIO);
    assert_true(gc->s[0].ended);
    /* memory is counted per plugin, and the server's grew after the client started: destroy
     * the client alone, then check that both gave everything back when the server goes */
    tbr_instance_destroy(client.inst);
    client.inst = NULL;
    tb_fix_stop(&client);
    tb_fix_stop(&server);
    tbr_loop_free(loop);
    got_free(gs);
    got_free(gc);
    free(ds);
}

static void test_bad_options(void **state) {
    static const struct {
        const char *json, *why;
    } cases[] = {
        {"{}", "url (\"host:port\") or host and port is required"},
        {"{\"url\":\"127.0.0.1:0\"}", "the port must be 1 to 65535"},
        {"{\"port\":80}", "host is required with port"},
        {"{\"host\":\"h\",\"port\":0}", "port must be 1 to 65535"},
        {"{\"url\":\"h:1\",\"buf_size\":0}", "buf_size must be between"},
        {"{\"url\":\"h:1\",\"connect_timeout_ms\":0}", "connect_timeout_ms must be between"},
        {"{\"url\":\"h:1\",\"tls\":5}", "tls must be true, false or a record"},
        {"{\"url\":\"h:1\",\"tls\":{\"cert\":\"c.pem\"}}", "tls.cert and tls.key go together"},
        {"{\"url\":\"h:1\",\"tls\":{\"cafile\":\"/nonexistent/ca.pem\"}}", "tls.cafile /nonexistent/ca.pem: "},
        {"{\"url\":\"h:1\",\"tls\":{\"verify\":\"no\"}}", "tls.verify must be true or false"},
        {"{\"url\":\"h:1\",\"tls\":{\"domain\":\"\"}}", "tls.domain must be a name"},
        {"{\"url\":\"h:1\",\"tls\":{\"ca\":\"x\"}}", "tls has no option \"ca\""},
    };
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char err[512] = "";
        int rc = try_create("tcp_client", cases[i].json, err, sizeof err);
        if (rc != TB_EINVAL) fail_msg("%s: %d (%s), expected TB_EINVAL", cases[i].json, rc, err);
        if (!strstr(err, cases[i].why)) fail_msg("%s: \"%s\" does not say \"%s\"", cases[i].json, err, cases[i].why);
    }
    static const char *const good[] = {"{\"url\":\"tcp://localhost:4242\"}", "{\"host\":\"::1\",\"port\":1}",
                                       "{\"url\":\"[::1]:4242\",\"tls\":false}", "{\"url\":\"h:1\",\"tls\":true}",
                                       "{\"url\":\"h:1\",\"tls\":{\"verify\":false,\"domain\":\"example.org\"}}"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        char err[512] = "";
        int rc = try_create("tcp_client", good[i], err, sizeof err);
        if (rc != TB_OK) fail_msg("%s refused: %s", good[i], err);
    }
}

int main(void) {
    signal(SIGPIPE, SIG_IGN); /* as the runtime does */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_and_reconnect),
        cmocka_unit_test(test_nothing_listens),
        cmocka_unit_test(test_connect_under_way),
        cmocka_unit_test(test_against_tcp_server),
        cmocka_unit_test(test_bad_options),
    };
    return cmocka_run_group_tests(tests, tb_fix_group_setup, tb_fix_group_teardown);
}
