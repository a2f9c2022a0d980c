/*
 * test_tcp_bad_peers.c - the `tcp_server` connector (plugins/connector/tcp) against peers that
 * misbehave, on a real event loop with C client sockets on 127.0.0.1: every byte value passed
 * on untouched, clients that disconnect mid-message (closing, or resetting) while another
 * carries on, a 10 MiB line (read in bounded chunks, bounded batches, bounded memory), and 200
 * connections opened at once against max_connections 50 (the rest refused and counted, the
 * server serving the others and accepting again once there is room).
 *
 * Thread contract: single-threaded. Ownership: each test owns its fixture, loop and sockets.
 */
#define _GNU_SOURCE
#define TB_FIX_IMPLEMENTATION
#include "plugin_fix.h"
#include "tcp_fix.h"

static void start_server(tb_fix *f, tbr_loop *loop, const char *extra) {
    char json[1024];
    snprintf(json, sizeof json, "{\"url\":\"127.0.0.1:0\"%s%s}", extra ? "," : "", extra ? extra : "");
    start_on(f, loop, "tcp_server", json);
    assert_int_equal(vt(f)->connect(f->inst->state), TB_OK);
}

static stream_got *wait_bytes(tbr_loop *loop, tb_fix *f, got *g, uint16_t port, size_t want) {
    uint64_t t0 = tbr_now_ns();
    for (;;) {
        stream_got *s = got_by_port(g, port);
        if (s && s->len >= want) return s;
        if (past(t0)) fail_msg("the stream of port %u never got %zu bytes (%zu)", port, want, s ? s->len : 0);
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

/* The server answers text on the client's stream and the client reads it back. */
static void answered(tbr_loop *loop, tb_fix *f, got *g, int fd, uint32_t stream, const char *text) {
    size_t n = strlen(text), len = 0;
    uint8_t buf[256];
    assert_int_equal(push_text(f, stream, text, 99), TB_OK);
    uint64_t t0 = tbr_now_ns();
    while (len < n) {
        drain_fd(fd, buf, sizeof buf, &len);
        if (past(t0)) fail_msg("no answer");
        if (len < n) pump(loop, f, g, "tcp_server");
    }
    assert_memory_equal(buf, text, n);
}

static void test_garbage_bytes(void **state) {
    enum { SIZE = 256 * 100 };
    static uint8_t junk[SIZE];
    tbr_loop *loop = tbr_loop_new();
    got *g = got_new();
    tb_fix f;
    (void)state;
    for (size_t i = 0; i < SIZE; i++) junk[i] = (uint8_t)(i * 101 + i / 256); /* NUL, 0xff, half UTF-8 */
    start_server(&f, loop, NULL);
    int bad = connect_to(server_port(&f));
    int good = connect_to(server_port(&f));
    send_all(bad, junk, SIZE);
    send_all(good, "{\"fine\":true}\n", 14);
    stream_got *sb = wait_bytes(loop, &f, g, local_port(bad), SIZE);
    stream_got *sg = wait_bytes(loop, &f, g, local_port(good), 14);
    /* the connector passes bytes: making sense of them is the preprocessors' and codec's job */
    assert_int_equal(sb->len, SIZE);
    assert_memory_equal(sb->data, junk, SIZE);
    assert_memory_equal(sg->data, "{\"fine\":true}\n", 14);
    answered(loop, &f, g, good, sg->stream, "ok\n");
    close(bad);
    close(good);
    tb_fix_stop(&f);
    tbr_loop_free(loop);
    got_free(g);
}

static void test_disconnect_mid_message(void **state) {
    tbr_loop *loop = tbr_loop_new();
    got *g = got_new();
    tb_fix f;
    (void)state;
    start_server(&f, loop, "\"linger_ms\":0");
    int quitter = connect_to(server_port(&f));
    int resetter = connect_to(server_port(&f));
    int stayer = connect_to(server_port(&f));
    uint16_t qport = local_port(quitter), rport = local_port(resetter);
    send_all(stayer, "first half of a line ", 21);
    send_all(quitter, "{\"cut\": \"in the mid", 19);
    send_all(resetter, "{\"reset\": tr", 12);
    stream_got *sq = wait_bytes(loop, &f, g, qport, 19);
    stream_got *sr = wait_bytes(loop, &f, g, rport, 12);
    stream_got *ss = wait_bytes(loop, &f, g, local_port(stayer), 21);
    /* one closes mid-message: its stream ends with what it sent, for the preprocessors to
     * flush; another resets its connection: its stream ends too */
    close(quitter);
    struct linger lg = {1, 0};
    setsockopt(resetter, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close(resetter);
    uint64_t t0 = tbr_now_ns();
    while (!sq->ended || !sr->ended) {
        if (past(t0)) fail_msg("the streams of the peers that left never ended");
        pump(loop, &f, g, "tcp_server");
    }
    assert_memory_equal(sq->data, "{\"cut\": \"in the mid", 19);
    wait_metric(loop, &f, g, "connections_open", 1);
    /* the one that stays is unaffected: its line goes on and it is answered */
    assert_false(ss->ended);
    send_all(stayer, "and the rest\n", 13);
    wait_bytes(loop, &f, g, local_port(stayer), 34);
    assert_memory_equal(ss->data, "first half of a line and the rest\n", 34);
    answered(loop, &f, g, stayer, ss->stream, "still here\n");
    close(stayer);
    tb_fix_stop(&f);
    tbr_loop_free(loop);
    got_free(g);
}

static void test_10mb_line(void **state) {
    enum { SIZE = 10 * 1024 * 1024, BUF = 65536 };
    uint8_t *line = malloc(SIZE);
    tbr_loop *loop = tbr_loop_new();
    got *g = got_new();
    tb_fix f;
    char extra[64];
    (void)state;
    assert_non_null(line);
    for (size_t i = 0; i < SIZE; i++) line[i] = (uint8_t)('a' + i % 26); /* no newline anywhere */
    snprintf(extra, sizeof extra, "\"buf_size\":%d", BUF);
    start_server(&f, loop, extra);
    int fd = connect_to(server_port(&f));
    uint16_t port = local_port(fd);
    size_t sent = 0, peak = 0, base = plugin_mem(&f);
    uint64_t t0 = tbr_now_ns();
    stream_got *s = NULL;
    while (!s || s->len < SIZE) {
        if (sent < SIZE) {
            ssize_t w = send(fd, line + sent, SIZE - sent, MSG_NOSIGNAL);
            if (w > 0) sent += (size_t)w;
            else assert_true(errno == EAGAIN || errno == EINTR);
        }
        pump(loop, &f, g, "tcp_server");
        size_t mem = plugin_mem(&f);
        if (mem > peak) peak = mem;
        s = got_by_port(g, port);
        if (past(t0)) fail_msg("got %zu of %d bytes", s ? s->len : 0, SIZE);
    }
    assert_int_equal(s->len, SIZE);
    assert_memory_equal(s->data, line, SIZE);
    /* chunks of at most buf_size, batches of about TB_BATCH_BYTES at most, and the server's
     * own memory did not grow with the line */
    assert_true(s->events >= SIZE / BUF);
    assert_true(g->max_batch_bytes <= TB_BATCH_BYTES + BUF);
    if (peak > base + 64 * 1024) fail_msg("the server's memory grew by %zu bytes", peak - base);
    close(fd);
    tb_fix_stop(&f);
    tbr_loop_free(loop);
    got_free(g);
    free(line);
}

static void test_many_connections(void **state) {
    enum { CLIENTS = 200, MAX = 50, MORE = 10 };
    tbr_loop *loop = tbr_loop_new();
    got *g = got_new();
    tb_fix f;
    int fd[CLIENTS + MORE];
    char extra[96];
    (void)state;
    snprintf(extra, sizeof extra, "\"max_connections\":%d,\"backlog\":512,\"linger_ms\":0", MAX);
    start_server(&f, loop, extra);
    for (int i = 0; i < CLIENTS; i++) fd[i] = connect_to(server_port(&f));
    wait_metric(loop, &f, g, "connections_refused", CLIENTS - MAX);
    assert_int_equal(metric_of(&f, "connections_accepted"), MAX);
    assert_int_equal(metric_of(&f, "connections_open"), MAX);

    /* the refused ones see their connection closed; the others are served */
    bool refused[CLIENTS];
    int nrefused = 0;
    uint64_t t0 = tbr_now_ns();
    for (int i = 0; i < CLIENTS; i++) refused[i] = false;
    while (nrefused < CLIENTS - MAX) {
        for (int i = 0; i < CLIENTS; i++)
            if (!refused[i] && peer_closed(fd[i])) {
                refused[i] = true;
                nrefused++;
            }
        if (past(t0)) fail_msg("only %d connections saw their refusal", nrefused);
        tbr_loop_run_once(loop, 10);
    }
    int served[MAX], nserved = 0;
    for (int i = 0; i < CLIENTS; i++) {
        if (refused[i]) {
            close(fd[i]);
            continue;
        }
        assert_true(nserved < MAX);
        char msg[32];
        int n = snprintf(msg, sizeof msg, "client %d\n", i);
        send_all(fd[i], msg, (size_t)n);
        served[nserved++] = i;
    }
    assert_int_equal(nserved, MAX);
    for (int k = 0; k < nserved; k++) {
        char msg[32];
        int n = snprintf(msg, sizeof msg, "client %d\n", served[k]);
        stream_got *s = wait_bytes(loop, &f, g, local_port(fd[served[k]]), (size_t)n);
        assert_memory_equal(s->data, msg, (size_t)n);
    }
    assert_int_equal(g->n, MAX);
    stream_got *first = got_by_port(g, local_port(fd[served[0]]));
    answered(loop, &f, g, fd[served[0]], first->stream, "served\n");

    /* room again once some leave */
    for (int k = 0; k < MORE; k++) close(fd[served[MAX - 1 - k]]);
    wait_metric(loop, &f, g, "connections_open", MAX - MORE);
    for (int k = 0; k < MORE; k++) fd[CLIENTS + k] = connect_to(server_port(&f));
    wait_metric(loop, &f, g, "connections_accepted", MAX + MORE);
    assert_int_equal(metric_of(&f, "connections_refused"), CLIENTS - MAX);
    for (int k = 0; k < MORE; k++) {
        send_all(fd[CLIENTS + k], "late\n", 5);
        wait_bytes(loop, &f, g, local_port(fd[CLIENTS + k]), 5);
    }
    for (int k = 0; k < MAX - MORE; k++) close(fd[served[k]]);
    for (int k = 0; k < MORE; k++) close(fd[CLIENTS + k]);
    tb_fix_stop(&f);
    tbr_loop_free(loop);
    got_free(g);
}

int main(void) {
    signal(SIGPIPE, SIG_IGN); /* as the runtime does */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_garbage_bytes),
        cmocka_unit_test(test_disconnect_mid_message),
        cmocka_unit_test(test_10mb_line),
        cmocka_unit_test(test_many_connections),
    };
    return cmocka_run_group_tests(tests, tb_fix_group_setup, tb_fix_group_teardown);
}
