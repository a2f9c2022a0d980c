/*
 * test_ws_bad_peers.c - `ws_server` (plugins/connector/ws) against peers that misbehave, each
 * a raw socket on 127.0.0.1 speaking HTTP and frames by hand, while a well-behaved raw peer
 * carries on beside them: garbage instead of a handshake (400), a bad Sec-WebSocket-Key (400),
 * another version (426), another method (405), a head over 8 KiB (431), a peer leaving mid-frame, a message over
 * max_message (close 1009), unmasked client frames (close 1002), a fragmented message and a
 * ping answered between its fragments, a clean close handshake, and 200 connections at once
 * against max_connections 50 (the rest refused and counted; the server serves the others).
 *
 * Thread contract: single-threaded. Ownership: each test owns its fixture, loop and sockets.
 */
#define _GNU_SOURCE
#define TB_FIX_IMPLEMENTATION
#include "plugin_fix.h"
#include "ws_fix.h"

static void start_server(tb_fix *f, tbr_loop *loop, const char *extra) {
    char json[1024];
    snprintf(json, sizeof json, "{\"url\":\"127.0.0.1:0\"%s%s}", extra ? "," : "", extra ? extra : "");
    start_on(f, loop, "ws_server", json);
    assert_int_equal(vt(f)->connect(f->inst->state), TB_OK);
}

/* Waits until the stream of the raw peer on local port has want messages; returns the index
 * of the last. */
static size_t wait_msgs(tbr_loop *loop, tb_fix *f, msgs *g, uint16_t port, size_t want) {
    uint64_t t0 = tbr_now_ns();
    for (;;) {
        size_t n = 0, last = 0;
        for (size_t i = 0; i < g->n; i++)
            if (!g->m[i].end && g->m[i].port == port) n++, last = i;
        if (n >= want) return last;
        if (past(t0)) fail_msg("the peer on port %u got %zu of %zu messages", port, n, want);
        ws_pump(loop, f, g, "ws_server");
    }
}

/* The good peer sends a message and gets it echoed: the server is fine. */
static void good_peer_round(tbr_loop *loop, tb_fix *f, msgs *g, int good, size_t nth, uint64_t token) {
    char text[32];
    snprintf(text, sizeof text, "still here %zu", nth);
    send_frame(good, true, 1, text, strlen(text), true);
    size_t i = wait_msgs(loop, f, g, local_port(good), nth);
    assert_int_equal(g->m[i].len, strlen(text));
    assert_memory_equal(g->m[i].data, text, strlen(text));
    int rc = ws_push_text(f, g->m[i].stream, text, token);
    assert_true(rc == TB_OK || rc == TB_EPENDING);
    frame_got fr = read_frame(loop, f, g, good, "ws_server");
    assert_false(fr.eof);
    assert_int_equal(fr.opcode, 1);
    assert_int_equal(fr.len, strlen(text));
    assert_memory_equal(fr.payload, text, fr.len);
    free(fr.payload);
}

/* Sends raw bytes and expects an HTTP answer with status, then the end of the connection. */
static void expect_refusal(tbr_loop *loop, tb_fix *f, msgs *g, uint16_t port, const char *req, size_t n,
                           const char *status) {
    char resp[4096];
    int fd = connect_to(port);
    send_all(fd, req, n);
    read_head(loop, f, g, fd, resp, sizeof resp);
    if (strncmp(resp, status, strlen(status)) != 0) fail_msg("wanted %s, got: %s", status, resp);
    assert_true(wait_closed(loop, f, g, fd));
    close(fd);
}

static void test_bad_handshakes(void **state) {
    tbr_loop *loop = tbr_loop_new();
    msgs g = {0};
    tb_fix f;
    (void)state;
    start_server(&f, loop, "\"path\":\"/ws\"");
    uint16_t port = server_port(&f);
    int good = raw_client(loop, &f, &g, port, "/ws?x=1");
    good_peer_round(loop, &f, &g, good, 1, 1);
    assert_string_equal(g.m[0].path, "/ws?x=1");

    static const char garbage[] = "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 not http at all\r\n\r\n";
    expect_refusal(loop, &f, &g, port, garbage, sizeof garbage - 1, "HTTP/1.1 400 ");
    static const char bad_key[] = "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                                  "Sec-WebSocket-Key: tooshort==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    expect_refusal(loop, &f, &g, port, bad_key, sizeof bad_key - 1, "HTTP/1.1 400 ");
    static const char no_upgrade[] = "GET /ws HTTP/1.1\r\nHost: x\r\n\r\n";
    expect_refusal(loop, &f, &g, port, no_upgrade, sizeof no_upgrade - 1, "HTTP/1.1 400 ");
    static const char version[] = "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                                  "Sec-WebSocket-Key: " GOOD_KEY "\r\nSec-WebSocket-Version: 8\r\n\r\n";
    expect_refusal(loop, &f, &g, port, version, sizeof version - 1, "HTTP/1.1 426 ");
    static const char path[] = "GET /other HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                               "Sec-WebSocket-Key: " GOOD_KEY "\r\nSec-WebSocket-Version: 13\r\n\r\n";
    expect_refusal(loop, &f, &g, port, path, sizeof path - 1, "HTTP/1.1 404 ");
    static const char post[] = "POST /ws HTTP/1.1\r\nHost: x\r\n\r\n";
    expect_refusal(loop, &f, &g, port, post, sizeof post - 1, "HTTP/1.1 405 ");
    /* a head that never ends: 431 once it passes 8 KiB */
    char *huge = malloc(9000);
    assert_non_null(huge);
    memcpy(huge, "GET /ws HTTP/1.1\r\n", 18);
    for (size_t i = 18; i < 9000; i++) huge[i] = (i % 100 == 99) ? '\n' : 'a';
    expect_refusal(loop, &f, &g, port, huge, 9000, "HTTP/1.1 431 ");
    free(huge);
    assert_int_equal(metric_of(&f, "handshakes_failed"), 7);
    good_peer_round(loop, &f, &g, good, 2, 2);
    assert_int_equal(metric_of(&f, "connections_open"), 1);
    close(good);
    tb_fix_stop(&f);
    tbr_loop_free(loop);
    msgs_free(&g);
}

static void test_protocol_errors(void **state) {
    tbr_loop *loop = tbr_loop_new();
    msgs g = {0};
    tb_fix f;
    (void)state;
    start_server(&f, loop, "\"max_message\":1000");
    uint16_t port = server_port(&f);
    int good = raw_client(loop, &f, &g, port, "/");
    good_peer_round(loop, &f, &g, good, 1, 1);

    /* a message over max_message: close 1009, then the connection ends; its stream too */
    int big = raw_client(loop, &f, &g, port, "/");
    send_frame(big, true, 2, "ok", 2, true);
    size_t i = wait_msgs(loop, &f, &g, local_port(big), 1);
    uint32_t big_stream = g.m[i].stream;
    assert_true(g.m[i].binary);
    static uint8_t payload[2000];
    send_frame(big, true, 2, payload, sizeof payload, true);
    frame_got fr = read_frame(loop, &f, &g, big, "ws_server");
    assert_false(fr.eof);
    assert_int_equal(fr.opcode, 8);
    assert_int_equal(close_code(&fr), 1009);
    free(fr.payload);
    assert_true(wait_closed(loop, &f, &g, big));
    close(big);
    while (!ended(&g, big_stream)) ws_pump(loop, &f, &g, "ws_server");

    /* fragments adding up to more than max_message: 1009 too */
    int frag = raw_client(loop, &f, &g, port, "/");
    send_frame(frag, false, 1, payload, 600, true);
    send_frame(frag, true, 0, payload, 600, true);
    fr = read_frame(loop, &f, &g, frag, "ws_server");
    assert_int_equal(fr.opcode, 8);
    assert_int_equal(close_code(&fr), 1009);
    free(fr.payload);
    assert_true(wait_closed(loop, &f, &g, frag));
    close(frag);

    /* an unmasked client frame: close 1002 */
    int unmasked = raw_client(loop, &f, &g, port, "/");
    send_frame(unmasked, true, 1, "naked", 5, false);
    fr = read_frame(loop, &f, &g, unmasked, "ws_server");
    assert_int_equal(fr.opcode, 8);
    assert_int_equal(close_code(&fr), 1002);
    free(fr.payload);
    assert_true(wait_closed(loop, &f, &g, unmasked));
    close(unmasked);

    /* text that is not UTF-8: close 1007 */
    int notutf = raw_client(loop, &f, &g, port, "/");
    send_frame(notutf, true, 1, "\xff\xfe", 2, true);
    fr = read_frame(loop, &f, &g, notutf, "ws_server");
    assert_int_equal(fr.opcode, 8);
    assert_int_equal(close_code(&fr), 1007);
    free(fr.payload);
    assert_true(wait_closed(loop, &f, &g, notutf));
    close(notutf);
    wait_metric_ws(loop, &f, &g, "protocol_errors", 4);

    /* leaving mid-frame: the connection ends without an event for the half message */
    int mid = raw_client(loop, &f, &g, port, "/");
    send_frame(mid, true, 1, "whole", 5, true);
    size_t k = wait_msgs(loop, &f, &g, local_port(mid), 1);
    uint32_t mid_stream = g.m[k].stream;
    uint8_t half[64];
    size_t n = frame(half, true, 1, "abcdefghijklmnopqrstuvwxyz", 26, true);
    send_all(mid, half, n / 2);
    ws_pump(loop, &f, &g, "ws_server");
    close(mid);
    uint64_t t0 = tbr_now_ns();
    while (!ended(&g, mid_stream)) {
        if (past(t0)) fail_msg("the stream of the peer that left never ended");
        ws_pump(loop, &f, &g, "ws_server");
    }
    assert_int_equal(msgs_of(&g, mid_stream), 1);

    /* a fragmented message with a ping between its fragments: the pong comes at once, the
     * message whole */
    send_frame(good, false, 1, "frag", 4, true);
    send_frame(good, true, 9, "p?", 2, true);
    fr = read_frame(loop, &f, &g, good, "ws_server");
    assert_int_equal(fr.opcode, 10);
    assert_int_equal(fr.len, 2);
    assert_memory_equal(fr.payload, "p?", 2);
    free(fr.payload);
    send_frame(good, false, 0, "men", 3, true);
    send_frame(good, true, 0, "ted", 3, true);
    i = wait_msgs(loop, &f, &g, local_port(good), 2);
    assert_int_equal(g.m[i].len, 10);
    assert_memory_equal(g.m[i].data, "fragmented", 10);
    good_peer_round(loop, &f, &g, good, 3, 3);

    /* the close handshake: the peer's close (1000) is answered with 1000, then TCP closes */
    send_frame(good, true, 8, "\x03\xe8" "bye", 5, true);
    fr = read_frame(loop, &f, &g, good, "ws_server");
    assert_int_equal(fr.opcode, 8);
    assert_int_equal(close_code(&fr), 1000);
    free(fr.payload);
    assert_true(wait_closed(loop, &f, &g, good));
    close(good);
    wait_metric_ws(loop, &f, &g, "connections_open", 0);
    assert_int_equal(metric_of(&f, "protocol_errors"), 4);
    tb_fix_stop(&f);
    tbr_loop_free(loop);
    msgs_free(&g);
}

static void test_many_connections(void **state) {
    enum { N = 200, MAX = 50 };
    tbr_loop *loop = tbr_loop_new();
    msgs g = {0};
    tb_fix f;
    int fds[N];
    (void)state;
    start_server(&f, loop, "\"max_connections\":50,\"backlog\":256");
    uint16_t port = server_port(&f);
    char req[512];
    snprintf(req, sizeof req,
             "GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             "Sec-WebSocket-Key: " GOOD_KEY "\r\nSec-WebSocket-Version: 13\r\n\r\n");
    for (int i = 0; i < N; i++) {
        fds[i] = connect_to(port);
        send_all(fds[i], req, strlen(req));
    }
    /* MAX get their 101; the others are closed without a word */
    int upgraded = 0, closed = 0;
    bool done[N] = {false};
    uint64_t t0 = tbr_now_ns();
    while (upgraded + closed < N) {
        if (past(t0)) fail_msg("%d upgraded, %d closed of %d", upgraded, closed, N);
        ws_pump(loop, &f, &g, "ws_server");
        for (int i = 0; i < N; i++) {
            if (done[i]) continue;
            char buf[512];
            ssize_t r = recv(fds[i], buf, sizeof buf - 1, 0);
            if (r > 0) {
                buf[r] = '\0';
                assert_non_null(strstr(buf, "101 Switching Protocols"));
                upgraded++;
                done[i] = true;
            } else if (r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
                closed++;
                done[i] = true;
            }
        }
    }
    assert_int_equal(upgraded, MAX);
    assert_int_equal(metric_of(&f, "connections_refused"), N - MAX);
    assert_int_equal(metric_of(&f, "connections_open"), MAX);
    /* every upgraded peer sends a message and gets its own back */
    int first = -1;
    for (int i = 0; i < N; i++) {
        if (!done[i]) continue;
        char text[32];
        snprintf(text, sizeof text, "peer %d", i);
        if (send(fds[i], "", 0, MSG_NOSIGNAL) < 0) continue;
        uint8_t fb[64];
        size_t fl = frame(fb, true, 1, text, strlen(text), true);
        if (send(fds[i], fb, fl, MSG_NOSIGNAL) != (ssize_t)fl) continue; /* a refused one */
        if (first < 0) first = i;
    }
    assert_true(first >= 0);
    t0 = tbr_now_ns();
    while (g.n < MAX) {
        if (past(t0)) fail_msg("%zu of %d messages", g.n, MAX);
        ws_pump(loop, &f, &g, "ws_server");
    }
    for (size_t i = 0; i < g.n; i++) {
        int rc = ws_push(&f, &(ws_out){g.m[i].stream, g.m[i].data, g.m[i].len, -1, -1}, 1, 100 + i);
        assert_true(rc == TB_OK || rc == TB_EPENDING);
    }
    int answered = 0;
    for (int i = 0; i < N; i++) {
        char want[32];
        snprintf(want, sizeof want, "peer %d", i);
        for (size_t k = 0; k < g.n; k++) {
            if (g.m[k].len != strlen(want) || memcmp(g.m[k].data, want, g.m[k].len) != 0) continue;
            frame_got fr = read_frame(loop, &f, &g, fds[i], "ws_server");
            assert_false(fr.eof);
            assert_int_equal(fr.len, strlen(want));
            assert_memory_equal(fr.payload, want, fr.len);
            free(fr.payload);
            answered++;
        }
    }
    assert_int_equal(answered, MAX);
    for (int i = 0; i < N; i++) close(fds[i]);
    wait_metric_ws(loop, &f, &g, "connections_open", 0);
    /* room again: a new connection is served */
    int again = raw_client(loop, &f, &g, port, "/");
    close(again);
    tb_fix_stop(&f);
    tbr_loop_free(loop);
    msgs_free(&g);
}

static void test_ping_timeout(void **state) {
    tbr_loop *loop = tbr_loop_new();
    msgs g = {0};
    tb_fix f;
    (void)state;
    start_server(&f, loop, "\"ping_interval_ms\":100");
    uint16_t port = server_port(&f);
    int quiet = raw_client(loop, &f, &g, port, "/");
    /* it never answers the pings: dropped after an interval without a word from it */
    frame_got fr = read_frame(loop, &f, &g, quiet, "ws_server");
    assert_int_equal(fr.opcode, 9);
    free(fr.payload);
    assert_true(wait_closed(loop, &f, &g, quiet));
    close(quiet);
    assert_true(metric_of(&f, "protocol_errors") >= 1);
    tb_fix_stop(&f);
    tbr_loop_free(loop);
    msgs_free(&g);
}

int main(void) {
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_handshakes),
        cmocka_unit_test(test_protocol_errors),
        cmocka_unit_test(test_many_connections),
        cmocka_unit_test(test_ping_timeout),
    };
    return cmocka_run_group_tests(tests, tb_fix_group_setup, tb_fix_group_teardown);
}
