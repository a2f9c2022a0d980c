/*
 * test_connector_unix_socket.c - the `unix_socket_server` and `unix_socket_client`
 * connectors (plugins/connector/unix_socket), loaded from the build's plugins directory and
 * driven through their vtables on a real event loop, against real socket files in a
 * temporary directory: clients as separate streams with replies on the right connection,
 * the runtime's own client against its server, TB_EIO when nothing listens, stale and live
 * socket files, permissions, and bad peers (a client gone mid-message, binary garbage, a
 * 10 MB message read in bounded chunks, 200 connections against max_connections 50, a peer
 * that does not read its replies).
 *
 * Thread contract: single-threaded; the peers are plain non-blocking sockets of the test.
 * Ownership: each test owns its instances, sockets and the temporary directory.
 */
#define _GNU_SOURCE
#define TB_FIX_IMPLEMENTATION
#include "plugin_fix.h"

#include "conn_fix.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

static char dir[48];
static char sock_path[96];
static char json[512];

static int setup(void **state) {
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/tb-unix-XXXXXX");
    if (!mkdtemp(dir)) return -1;
    snprintf(sock_path, sizeof sock_path, "%s/s.sock", dir);
    cx_loop = tbr_loop_new();
    return cx_loop ? 0 : -1;
}

static int teardown(void **state) {
    char cmd[128];
    (void)state;
    tbr_loop_free(cx_loop);
    cx_loop = NULL;
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* The configuration {"path": sock_path, extra...}. */
static const char *conf(const char *extra) {
    snprintf(json, sizeof json, "{\"path\": \"%s\"%s%s}", sock_path, extra ? ", " : "", extra ? extra : "");
    return json;
}

/* A peer connected to path, non-blocking; -1 with errno if the connect failed. */
static int peer_at(const char *path) {
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    snprintf(a.sun_path, sizeof a.sun_path, "%s", path);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    set_nonblocking(fd);
    return fd;
}

static int peer(void) {
    int fd = peer_at(sock_path);
    assert_true(fd >= 0);
    return fd;
}

static void send_text(int fd, const char *text) {
    assert_int_equal(send(fd, text, strlen(text), MSG_NOSIGNAL), (ssize_t)strlen(text));
}

static void step(cx *c, got *g) {
    cx_turn(c, 10);
    cx_pump(c, g);
}

/* A peer connected to the server c runs, non-blocking from the start: with the backlog full
 * (somaxconn may be small) the connect says EAGAIN, and c's loop turns until it is taken. */
static int peer_of(cx *c, got *g) {
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    memcpy(a.sun_path, sock_path, strlen(sock_path) + 1);
    int fd = -1;
    CX_WAIT(fd >= 0, {
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        assert_true(fd >= 0);
        if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
            assert_int_equal(errno, EAGAIN);
            close(fd);
            fd = -1;
            step(c, g);
        }
    });
    return fd;
}

/* Reads from fd, turning the server's loop, until want bytes came; they must equal want. */
static void expect_reply(cx *srv, got *g, int fd, const char *want) {
    uint8_t buf[256];
    size_t len = 0, n = strlen(want);
    assert_true(n <= sizeof buf);
    CX_WAIT(len >= n, {
        step(srv, g);
        assert_int_equal(drain_fd(fd, buf, &len, n), 1);
    });
    assert_memory_equal(buf, want, n);
}

static bool contains(const char *hay, const char *needle) { return hay && strstr(hay, needle) != NULL; }

/* ---- streams and replies ------------------------------------------------------------- */

static void test_streams_and_replies(void **state) {
    cx srv;
    got *g = got_new();
    (void)state;
    cx_start(&srv, "unix_socket_server", conf("\"permissions\": \"0600\""));
    assert_int_equal(cx_connect(&srv), TB_OK);
    struct stat st;
    assert_int_equal(stat(sock_path, &st), 0);
    assert_true(S_ISSOCK(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 0600);

    int a = peer(), b = peer(), c = peer();
    send_text(a, "alpha\n");
    send_text(b, "bravo\n");
    send_text(c, "charlie\n");
    CX_WAIT(got_with(g, "alpha") && got_with(g, "bravo") && got_with(g, "charlie"), step(&srv, g));
    got_stream *sa = got_with(g, "alpha"), *sb = got_with(g, "bravo"), *sc = got_with(g, "charlie");
    /* three connections, three streams, each with only its own bytes */
    assert_true(sa->stream != sb->stream && sb->stream != sc->stream && sa->stream != sc->stream);
    assert_int_equal(sa->len, 6);
    assert_int_equal(sb->len, 6);
    assert_int_equal(sc->len, 8);
    assert_int_equal(sa->meta_stream, sa->stream);
    assert_int_equal(sb->meta_stream, sb->stream);
    assert_int_equal(sa->peer_pid, getpid());

    /* replies: by stream id, and by $unix_socket_server.stream, which wins over the stream */
    uint32_t to_a = sa->stream, to_b = sb->stream, to_c = sc->stream;
    cx_begin(&srv);
    cx_add_text(&srv, "to-a\n", to_a);
    tb_event *e = cx_add_text(&srv, "to-b\n", to_a);
    *tb_object_set(srv.arena, cx_meta(&srv, e, "unix_socket_server"), "stream", 6) = tb_u64(to_b);
    cx_add_text(&srv, "to-c\n", to_c);
    cx_add_text(&srv, "to-a again\n", to_a);
    assert_int_equal(cx_push(&srv), TB_OK);
    expect_reply(&srv, g, a, "to-a\nto-a again\n");
    expect_reply(&srv, g, b, "to-b\n");
    expect_reply(&srv, g, c, "to-c\n");

    /* one goes: its stream ends, the others are fine */
    close(a);
    CX_WAIT(got_find(g, to_a)->ends == 1, step(&srv, g));
    send_text(b, "again\n");
    CX_WAIT(got_find(g, to_b)->len == 12, step(&srv, g));
    assert_int_equal(got_find(g, to_b)->ends, 0);
    assert_int_equal(got_find(g, to_c)->ends, 0);

    /* a reply to the closed connection fails its batch, reported, and nothing else breaks */
    cx_begin(&srv);
    cx_add_text(&srv, "too late\n", to_a);
    assert_int_equal(cx_push(&srv), TB_EPENDING);
    cx_settle(&srv);
    assert_int_equal(srv.delivered_failed, 1);
    assert_int_equal(srv.last_failure, TB_ECLOSED);
    /* an event that lost its stream and meta on the way (a preprocessor's last record at a
     * stream's end comes with stream 0) matches no connection: no stream id is 0 */
    cx_begin(&srv);
    cx_add_text(&srv, "lost\n", 0);
    assert_int_equal(cx_push(&srv), TB_EPENDING);
    cx_settle(&srv);
    assert_int_equal(srv.delivered_failed, 2);
    assert_true(to_a != 0 && to_b != 0 && to_c != 0);
    cx_begin(&srv);
    cx_add_text(&srv, "still here\n", to_c);
    assert_int_equal(cx_push(&srv), TB_OK);
    expect_reply(&srv, g, c, "still here\n");

    close(b);
    close(c);
    cx_stop(&srv);
    /* the socket file went with the server */
    assert_int_not_equal(stat(sock_path, &st), 0);
    got_free(g);
}

/* ---- the runtime's own client against its server ------------------------------------- */

static void step2(cx *srv, got *gs, cx *cli, got *gc) {
    cx_turn(srv, 10);
    cx_settle(cli);
    cx_pump(srv, gs);
    cx_pump(cli, gc);
}

static void test_client_to_server(void **state) {
    cx srv, cli;
    got *gs = got_new(), *gc = got_new();
    (void)state;
    cx_start(&srv, "unix_socket_server", conf(NULL));
    assert_int_equal(cx_connect(&srv), TB_OK);
    /* two instances of one plugin: its memory is checked once both are gone */
    const tbr_plugin *plugin = srv.f.inst->component->plugin;
    size_t base = srv.f.mem_before;
    cx_start(&cli, "unix_socket_client", conf(NULL));
    assert_int_equal(cx_connect(&cli), TB_OK);
    assert_int_equal(cx_connect(&cli), TB_OK); /* connected already: nothing to do */

    cx_begin(&cli);
    cx_add_text(&cli, "hello ", 0);
    cx_add_text(&cli, "server\n", 0);
    assert_int_equal(cx_push(&cli), TB_OK);
    CX_WAIT(got_with(gs, "hello server\n"), step2(&srv, gs, &cli, gc));
    uint32_t stream = got_with(gs, "hello server\n")->stream;

    cx_begin(&srv);
    cx_add_text(&srv, "hello client\n", stream);
    assert_int_equal(cx_push(&srv), TB_OK);
    CX_WAIT(got_with(gc, "hello client\n"), step2(&srv, gs, &cli, gc));
    uint32_t first = got_with(gc, "hello client\n")->stream;

    /* the server goes: the client's stream ends, then the connection is lost */
    cx_stop_with(&srv, false);
    int rc = TB_OK;
    CX_WAIT(rc == TB_ECLOSED, {
        cx_turn(&cli, 10);
        rc = cx_pump(&cli, gc);
    });
    assert_int_equal(got_find(gc, first)->ends, 1);
    cx_begin(&cli);
    cx_add_text(&cli, "anyone?\n", 0);
    assert_int_equal(cx_push(&cli), TB_ECLOSED);
    /* nothing listens: connecting is an I/O error, which the runtime retries with backoff */
    assert_int_equal(cx_connect(&cli), TB_EIO);
    assert_true(contains(cx_error(&cli), sock_path));

    /* a new server: the client connects again, on a new stream */
    cx_start(&srv, "unix_socket_server", conf(NULL));
    assert_int_equal(cx_connect(&srv), TB_OK);
    assert_int_equal(cx_connect(&cli), TB_OK);
    cx_begin(&cli);
    cx_add_text(&cli, "back\n", 0);
    assert_int_equal(cx_push(&cli), TB_OK);
    CX_WAIT(got_with(gs, "back\n"), step2(&srv, gs, &cli, gc));
    cx_begin(&srv);
    cx_add_text(&srv, "welcome back\n", got_with(gs, "back\n")->stream);
    assert_int_equal(cx_push(&srv), TB_OK);
    CX_WAIT(got_with(gc, "welcome back\n"), step2(&srv, gs, &cli, gc));
    assert_int_not_equal(got_with(gc, "welcome back\n")->stream, first);

    cx_stop_with(&cli, false);
    cx_stop_with(&srv, false);
    assert_int_equal(atomic_load(&plugin->mem_live), base);
    got_free(gs);
    got_free(gc);
}

static void test_client_eio_when_nothing_listens(void **state) {
    cx cli;
    (void)state;
    cx_start(&cli, "unix_socket_client", conf(NULL));
    assert_int_equal(cx_connect(&cli), TB_EIO);
    assert_true(contains(cx_error(&cli), "No such file"));
    /* a socket file nobody accepts on */
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof a.sun_path, "%s", sock_path);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    close(fd);
    assert_int_equal(cx_connect(&cli), TB_EIO);
    assert_true(contains(cx_error(&cli), "refused"));
    /* and the sink says the connection is closed */
    cx_begin(&cli);
    cx_add_text(&cli, "x", 0);
    assert_int_equal(cx_push(&cli), TB_ECLOSED);
    cx_stop(&cli);
}

/* ---- the socket file ------------------------------------------------------------------ */

static void test_socket_file(void **state) {
    cx one, two, three;
    got *g = got_new();
    struct stat st;
    (void)state;
    /* a stale socket file (its server died) is replaced */
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof a.sun_path, "%s", sock_path);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    close(fd);
    cx_start(&one, "unix_socket_server", conf("\"permissions\": \"660\""));
    assert_int_equal(cx_connect(&one), TB_OK);
    assert_int_equal(stat(sock_path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0660);

    /* a live server's path is refused, and the live server is not disturbed */
    cx_start(&two, "unix_socket_server", conf(NULL));
    assert_int_equal(cx_connect(&two), TB_EIO);
    assert_true(contains(cx_error(&two), "another server is listening"));
    cx_stop_with(&two, false); /* it never bound: the file stays */
    assert_int_equal(stat(sock_path, &st), 0);
    int p = peer();
    send_text(p, "still served\n");
    CX_WAIT(got_with(g, "still served\n"), step(&one, g));
    close(p);

    /* anything but a socket is never replaced */
    char file[160];
    snprintf(file, sizeof file, "%s/plain", dir);
    FILE *f = fopen(file, "w");
    assert_non_null(f);
    fputs("keep me", f);
    fclose(f);
    snprintf(json, sizeof json, "{\"path\": \"%s\"}", file);
    cx_start(&three, "unix_socket_server", json);
    assert_int_equal(cx_connect(&three), TB_EIO);
    assert_true(contains(cx_error(&three), "not a socket"));
    cx_stop_with(&three, false);
    assert_int_equal(stat(file, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(st.st_size, 7);

    cx_stop(&one);
    assert_int_not_equal(stat(sock_path, &st), 0);
    got_free(g);
}

static void test_bad_configuration(void **state) {
    cx c;
    char err[512];
    char long_path[300];
    (void)state;
    memset(long_path, 'a', sizeof long_path);
    long_path[0] = '/';
    long_path[150] = '\0';
    snprintf(json, sizeof json, "{\"path\": \"%s\"}", long_path);
    struct {
        const char *name, *config, *says;
    } cases[] = {
        {"unix_socket_server", json, "at most 107"},
        {"unix_socket_client", json, "at most 107"},
        {"unix_socket_server", "{\"path\": \"/tmp/x\", \"permissions\": \"rw-------\"}", "octal"},
        {"unix_socket_server", "{\"path\": \"/tmp/x\", \"permissions\": \"17777\"}", "octal"},
        {"unix_socket_server", "{\"path\": \"/tmp/x\", \"buf_size\": 0}", "buf_size"},
        {"unix_socket_server", "{\"path\": \"/tmp/x\", \"max_connections\": 0}", "max_connections"},
        {"unix_socket_client", "{\"path\": \"/tmp/x\", \"write_buffer_size\": 0}", "write_buffer_size"},
        {"unix_socket_server", "{\"path\": \"\"}", "empty"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        err[0] = '\0';
        assert_int_equal(cx_try_start(&c, cases[i].name, cases[i].config, err, sizeof err), TB_EINVAL);
        if (!contains(err, cases[i].says)) fail_msg("%s: \"%s\" does not say %s", cases[i].config, err, cases[i].says);
        tb_fix_stop(&c.f);
    }
}

/* ---- bad peers ------------------------------------------------------------------------ */

static void test_disconnect_mid_message_and_garbage(void **state) {
    cx srv;
    got *g = got_new();
    uint8_t junk[65536];
    (void)state;
    for (size_t i = 0; i < sizeof junk; i++) junk[i] = (uint8_t)(i * 7 + (i >> 8)); /* NULs, bad UTF-8 */
    cx_start(&srv, "unix_socket_server", conf("\"buf_size\": 1000"));
    assert_int_equal(cx_connect(&srv), TB_OK);
    int a = peer(), b = peer(), c = peer();
    send_text(b, "b-first\n");
    send_text(a, "{\"half\": \"a message cut");
    close(a); /* gone mid-message */
    size_t sent = 0;
    CX_WAIT(sent == sizeof junk && got_with(g, "b-first\n") && got_with(g, "a message cut"), {
        ssize_t n = send(c, junk + sent, sizeof junk - sent, MSG_NOSIGNAL);
        if (n > 0) sent += (size_t)n;
        step(&srv, g);
    });
    got_stream *sa = got_with(g, "a message cut");
    CX_WAIT(sa->ends == 1, step(&srv, g));
    assert_int_equal(sa->len, strlen("{\"half\": \"a message cut"));
    /* the garbage arrives as sent, in chunks of at most buf_size, on its own stream */
    uint32_t sb = got_with(g, "b-first\n")->stream;
    got_stream *scs = NULL;
    CX_WAIT(g->bytes >= strlen("b-first\n") + sa->len + sizeof junk, step(&srv, g));
    assert_int_equal(g->n, 3);
    for (uint32_t i = 0; i < g->n; i++)
        if (g->s[i].stream != sa->stream && g->s[i].stream != sb) scs = &g->s[i];
    assert_non_null(scs);
    assert_int_equal(scs->len, sizeof junk);
    assert_memory_equal(scs->data, junk, sizeof junk);
    assert_true(scs->max_event <= 1000);
    /* the others are unaffected */
    send_text(b, "b-second\n");
    CX_WAIT(got_find(g, sb)->len == 17, step(&srv, g));
    cx_begin(&srv);
    cx_add_text(&srv, "ok b\n", sb);
    assert_int_equal(cx_push(&srv), TB_OK);
    expect_reply(&srv, g, b, "ok b\n");
    close(b);
    close(c);
    cx_stop(&srv);
    got_free(g);
}

static void test_ten_megabytes_in_bounded_chunks(void **state) {
    cx srv;
    got *g = got_new();
    const size_t total = 10u << 20;
    uint8_t *msg = malloc(total);
    (void)state;
    assert_non_null(msg);
    for (size_t i = 0; i < total; i++) msg[i] = (uint8_t)('a' + i % 26);
    msg[total - 1] = '\n';
    cx_start(&srv, "unix_socket_server", conf(NULL));
    assert_int_equal(cx_connect(&srv), TB_OK);
    const tbr_plugin *plugin = srv.f.inst->component->plugin;
    size_t base = atomic_load(&plugin->mem_live), most = base;
    int p = peer();
    size_t sent = 0;
    CX_WAIT(sent == total && g->bytes == total, {
        ssize_t n = send(p, msg + sent, total - sent, MSG_NOSIGNAL);
        if (n > 0) sent += (size_t)n;
        step(&srv, g);
        size_t live = atomic_load(&plugin->mem_live);
        if (live > most) most = live;
    });
    close(p);
    CX_WAIT(g->ends == 1, step(&srv, g));
    assert_int_equal(g->n, 1);
    assert_int_equal(g->s[0].len, total);
    assert_memory_equal(g->s[0].data, msg, total);
    /* read in chunks of buf_size (8192 by default), and the plugin held no more memory for it */
    assert_true(g->s[0].max_event <= 8192);
    assert_true(g->s[0].events >= total / 8192);
    assert_true(most - base < 64 * 1024);
    cx_stop(&srv);
    free(msg);
    got_free(g);
}

static void test_two_hundred_connections(void **state) {
    enum { N = 200, MAX = 50 };
    cx srv;
    got *g = got_new();
    int fds[N + 10];
    bool over[N + 10] = {false};
    char text[32];
    (void)state;
    cx_start(&srv, "unix_socket_server", conf("\"max_connections\": 50"));
    assert_int_equal(cx_connect(&srv), TB_OK);
    for (int i = 0; i < N; i++) {
        fds[i] = peer_of(&srv, g);
        snprintf(text, sizeof text, "hello %d\n", i);
        send_text(fds[i], text);
    }
    /* 50 are served; 150 are closed by the server at once */
    int closed = 0;
    CX_WAIT(g->n == MAX && closed == N - MAX, {
        step(&srv, g);
        for (int i = 0; i < N; i++) {
            uint8_t buf[64];
            size_t len = 0;
            if (!over[i] && drain_fd(fds[i], buf, &len, sizeof buf) != 1) {
                over[i] = true;
                closed++;
            }
        }
    });
    /* nothing more than 50, even after a while */
    for (int k = 0; k < 20; k++) step(&srv, g);
    assert_int_equal(g->n, MAX);
    /* every served one gets its own reply */
    for (int i = 0; i < N; i++) {
        if (over[i]) continue;
        snprintf(text, sizeof text, "hello %d\n", i);
        got_stream *s = got_with(g, text);
        assert_non_null(s);
        snprintf(text, sizeof text, "reply %d\n", i);
        cx_begin(&srv);
        cx_add_text(&srv, text, s->stream);
        assert_int_equal(cx_push(&srv), TB_OK);
        expect_reply(&srv, g, fds[i], text);
    }
    /* ten served ones go; ten new ones are served in their place */
    int gone = 0;
    for (int i = 0; i < N && gone < 10; i++)
        if (!over[i]) {
            close(fds[i]);
            fds[i] = -1;
            over[i] = true;
            gone++;
        }
    CX_WAIT(g->ends == 10, step(&srv, g));
    for (int i = N; i < N + 10; i++) {
        fds[i] = peer_of(&srv, g);
        snprintf(text, sizeof text, "late %d\n", i);
        send_text(fds[i], text);
    }
    CX_WAIT(g->n == MAX + 10, step(&srv, g));
    for (int i = N; i < N + 10; i++) {
        snprintf(text, sizeof text, "late %d\n", i);
        assert_non_null(got_with(g, text));
    }
    for (int i = 0; i < N + 10; i++)
        if (fds[i] >= 0) close(fds[i]);
    cx_stop(&srv);
    got_free(g);
}

/* A peer that does not read its replies: its connection is no longer read (others are),
 * the circuit opens, and everything is delivered once it reads. */
static void test_peer_that_does_not_read(void **state) {
    cx srv;
    got *g = got_new();
    static uint8_t chunk[65536];
    const int batches = 32; /* 2 MiB: far more than the socket buffers hold */
    uint8_t *back = malloc((size_t)batches * sizeof chunk);
    (void)state;
    assert_non_null(back);
    cx_start(&srv, "unix_socket_server", conf("\"write_buffer_size\": 4096, \"write_timeout_ms\": 0"));
    assert_int_equal(cx_connect(&srv), TB_OK);
    int slow = peer(), other = peer();
    send_text(slow, "slow\n");
    send_text(other, "other\n");
    CX_WAIT(got_with(g, "slow\n") && got_with(g, "other\n"), step(&srv, g));
    uint32_t ss = got_with(g, "slow\n")->stream, so = got_with(g, "other\n")->stream;
    int pending = 0;
    for (int k = 0; k < batches; k++) {
        for (size_t i = 0; i < sizeof chunk; i++) chunk[i] = (uint8_t)(k * 31 + i);
        cx_begin(&srv);
        cx_add(&srv, chunk, sizeof chunk, ss);
        int rc = cx_push(&srv);
        assert_true(rc == TB_OK || rc == TB_EPENDING);
        pending += rc == TB_EPENDING;
    }
    assert_true(pending > 0);
    assert_true(tbr_context_circuit_open(srv.f.inst->ctx));
    /* the slow peer is not read while its replies wait; the other one is */
    send_text(slow, "more from slow\n");
    send_text(other, "more from other\n");
    CX_WAIT(got_with(g, "more from other\n"), step(&srv, g));
    for (int k = 0; k < 20; k++) step(&srv, g);
    assert_null(got_with(g, "more from slow\n"));
    /* it reads: everything arrives in order, every batch is reported delivered */
    size_t len = 0, want = (size_t)batches * sizeof chunk;
    CX_WAIT(len == want && srv.nheld == 0, {
        step(&srv, g);
        assert_int_equal(drain_fd(slow, back, &len, want), 1);
    });
    for (int k = 0; k < batches; k++)
        for (size_t i = 0; i < sizeof chunk; i += 997)
            assert_int_equal(back[(size_t)k * sizeof chunk + i], (uint8_t)(k * 31 + i));
    assert_int_equal(srv.delivered_ok, pending);
    assert_int_equal(srv.delivered_failed, 0);
    assert_false(tbr_context_circuit_open(srv.f.inst->ctx));
    CX_WAIT(got_with(g, "more from slow\n"), step(&srv, g));
    assert_int_equal(got_with(g, "more from slow\n")->stream, ss);
    assert_int_equal(got_with(g, "more from other\n")->stream, so);
    close(slow);
    close(other);
    cx_stop(&srv);
    free(back);
    got_free(g);
}

/* A peer that takes nothing for write_timeout_ms is given up: its batches fail, its stream
 * ends, and the server serves others. */
static void test_write_timeout(void **state) {
    cx srv;
    got *g = got_new();
    static uint8_t chunk[65536];
    (void)state;
    cx_start(&srv, "unix_socket_server", conf("\"write_buffer_size\": 4096, \"write_timeout_ms\": 200"));
    assert_int_equal(cx_connect(&srv), TB_OK);
    int stuck = peer();
    send_text(stuck, "stuck\n");
    CX_WAIT(got_with(g, "stuck\n"), step(&srv, g));
    uint32_t s = got_with(g, "stuck\n")->stream;
    int pending = 0;
    for (int k = 0; k < 16; k++) {
        cx_begin(&srv);
        cx_add(&srv, chunk, sizeof chunk, s);
        pending += cx_push(&srv) == TB_EPENDING;
    }
    assert_true(pending > 0);
    CX_WAIT(srv.nheld == 0 && got_find(g, s)->ends == 1, step(&srv, g));
    assert_int_equal(srv.delivered_failed, pending);
    assert_false(tbr_context_circuit_open(srv.f.inst->ctx));
    /* the peer sees the end once it reads */
    static uint8_t sink[1 << 21];
    size_t len = 0;
    int r = 1;
    CX_WAIT(r != 1, {
        step(&srv, g);
        len = 0;
        r = drain_fd(stuck, sink, &len, sizeof sink);
    });
    int fresh = peer();
    send_text(fresh, "fresh\n");
    CX_WAIT(got_with(g, "fresh\n"), step(&srv, g));
    close(stuck);
    close(fresh);
    cx_stop(&srv);
    got_free(g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_streams_and_replies, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_to_server, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_eio_when_nothing_listens, setup, teardown),
        cmocka_unit_test_setup_teardown(test_socket_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_configuration, setup, teardown),
        cmocka_unit_test_setup_teardown(test_disconnect_mid_message_and_garbage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ten_megabytes_in_bounded_chunks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_two_hundred_connections, setup, teardown),
        cmocka_unit_test_setup_teardown(test_peer_that_does_not_read, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_timeout, setup, teardown),
    };
    return cmocka_run_group_tests(tests, tb_fix_group_setup, tb_fix_group_teardown);
}
