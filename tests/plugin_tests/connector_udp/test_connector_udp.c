/*
 * test_connector_udp.c - the `udp_server` and `udp_client` connectors (plugins/connector/udp),
 * loaded from the build's plugins directory and driven through their vtables on a real event
 * loop, against real sockets on 127.0.0.1 (and ::1 where the machine has it): datagrams in
 * with their peer and replies out to it, the runtime's own client against its server, an
 * oversized datagram flagged with its reason, the client's peer refusing, events with no
 * peer, a taken port, and configurations that are refused.
 *
 * Thread contract: single-threaded; the peers are plain non-blocking sockets of the test.
 * Ownership: each test owns its instances and sockets.
 */
#define _GNU_SOURCE
#define TB_FIX_IMPLEMENTATION
#include "plugin_fix.h"

#include "conn_fix.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

static char json[512];

static int setup(void **state) {
    (void)state;
    cx_loop = tbr_loop_new();
    return cx_loop ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    tbr_loop_free(cx_loop);
    cx_loop = NULL;
    return 0;
}

/* A UDP socket of the test bound to 127.0.0.1 on a free port, non-blocking. */
static int udp_peer(uint16_t *port) {
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    *port = ntohs(a.sin_port);
    return fd;
}

/* A port that was free a moment ago (nothing listens on it now). */
static uint16_t free_port(void) {
    uint16_t port;
    close(udp_peer(&port));
    return port;
}

static void send_to(int fd, uint16_t port, const void *p, size_t len) {
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(sendto(fd, p, len, 0, (struct sockaddr *)&a, sizeof a), (ssize_t)len);
}

static void step(cx *c, got *g) {
    cx_turn(c, 10);
    cx_pump(c, g);
}

/* The next datagram on fd (non-blocking), turning c's loop until it comes; its length. */
static size_t recv_one(cx *c, got *g, int fd, uint8_t *buf, size_t cap, uint16_t *from_port) {
    struct sockaddr_in from;
    socklen_t len = sizeof from;
    ssize_t n = -1;
    CX_WAIT(n >= 0, {
        n = recvfrom(fd, buf, cap, 0, (struct sockaddr *)&from, &len);
        if (n < 0) {
            assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
            step(c, g);
        }
    });
    if (from_port) *from_port = ntohs(from.sin_port);
    return (size_t)n;
}

static bool contains(const char *hay, const char *needle) { return hay && strstr(hay, needle) != NULL; }

/* Sets $udp_server.peer = {"host": host, "port": port} on e. */
static void set_peer(cx *c, tb_event *e, const char *host, int64_t port) {
    tb_value *peer = tb_object_set(c->arena, cx_meta(c, e, "udp_server"), "peer", 4);
    assert_non_null(peer);
    *peer = tb_object();
    tb_value *h = tb_object_append(c->arena, peer, "host", 4);
    assert_non_null(h);
    *h = tb_stringz(host);
    tb_value *p = tb_object_append(c->arena, peer, "port", 4);
    assert_non_null(p);
    *p = tb_i64(port);
}

static void test_datagrams_in_and_replies(void **state) {
    cx srv;
    got *g = got_new();
    uint16_t port = free_port(), mine, other_port;
    (void)state;
    snprintf(json, sizeof json, "{\"url\": \"udp://127.0.0.1:%u\"}", port);
    cx_start(&srv, "udp_server", json);
    assert_int_equal(cx_connect(&srv), TB_OK);
    int me = udp_peer(&mine), other = udp_peer(&other_port);
    send_to(me, port, "one", 3);
    send_to(me, port, "two", 3);
    send_to(other, port, "three", 5);
    send_to(me, port, "", 0); /* an empty datagram is an event too */
    CX_WAIT(g->events == 4, step(&srv, g));
    /* one stream for the socket; each event is one datagram, carrying its peer */
    assert_int_equal(g->n, 1);
    assert_int_equal(g->s[0].stream, 0);
    assert_int_equal(g->s[0].len, 11);
    assert_memory_equal(g->s[0].data, "onetwothree", 11);
    assert_int_equal(g->s[0].ends, 0);
    assert_string_equal(g->s[0].peer_host, "127.0.0.1");
    assert_int_equal(g->s[0].peer_port, mine); /* the last one's: the empty datagram */

    /* the sink answers to the peer in each event's meta */
    cx_begin(&srv);
    set_peer(&srv, cx_add_text(&srv, "reply to me", 0), "127.0.0.1", mine);
    set_peer(&srv, cx_add_text(&srv, "reply to other", 0), "127.0.0.1", other_port);
    set_peer(&srv, cx_add_text(&srv, "again to me", 0), "127.0.0.1", mine);
    assert_int_equal(cx_push(&srv), TB_OK);
    uint8_t buf[128];
    uint16_t from;
    size_t n = recv_one(&srv, g, me, buf, sizeof buf, &from);
    assert_int_equal(from, port); /* the server's own socket answers */
    assert_int_equal(n, 11);
    assert_memory_equal(buf, "reply to me", 11);
    n = recv_one(&srv, g, me, buf, sizeof buf, NULL);
    assert_int_equal(n, 11);
    assert_memory_equal(buf, "again to me", 11);
    n = recv_one(&srv, g, other, buf, sizeof buf, NULL);
    assert_int_equal(n, 14);
    assert_memory_equal(buf, "reply to other", 14);
    close(me);
    close(other);
    cx_stop(&srv);
    got_free(g);
}

static void test_client_to_server(void **state) {
    cx srv, cli;
    got *gs = got_new(), *gc = got_new();
    uint16_t port = free_port();
    (void)state;
    snprintf(json, sizeof json, "{\"url\": \"127.0.0.1:%u\"}", port);
    cx_start(&srv, "udp_server", json);
    assert_int_equal(cx_connect(&srv), TB_OK);
    const tbr_plugin *plugin = srv.f.inst->component->plugin;
    size_t base = srv.f.mem_before;
    cx_start(&cli, "udp_client", json);
    assert_int_equal(cx_connect(&cli), TB_OK);
    cx_begin(&cli);
    cx_add_text(&cli, "ping 1", 0);
    cx_add_text(&cli, "ping 2", 0);
    assert_int_equal(cx_push(&cli), TB_OK);
    CX_WAIT(gs->events == 2, {
        cx_turn(&srv, 10);
        cx_pump(&srv, gs);
    });
    assert_memory_equal(gs->s[0].data, "ping 1ping 2", 12);
    /* the server answers through the peer its source recorded */
    cx_begin(&srv);
    set_peer(&srv, cx_add_text(&srv, "pong", 0), gs->s[0].peer_host, gs->s[0].peer_port);
    assert_int_equal(cx_push(&srv), TB_OK);
    CX_WAIT(gc->events == 1, {
        cx_turn(&cli, 10);
        cx_pump(&cli, gc);
    });
    assert_int_equal(gc->s[0].len, 4);
    assert_memory_equal(gc->s[0].data, "pong", 4);
    cx_stop_with(&cli, false);
    cx_stop_with(&srv, false);
    assert_int_equal(atomic_load(&plugin->mem_live), base);
    got_free(gs);
    got_free(gc);
}

static void test_oversized_datagram(void **state) {
    cx srv;
    got *g = got_new();
    uint16_t port = free_port(), mine;
    uint8_t big[1000];
    (void)state;
    memset(big, 'x', sizeof big);
    snprintf(json, sizeof json, "{\"url\": \"127.0.0.1:%u\", \"buf_size\": 16}", port);
    cx_start(&srv, "udp_server", json);
    assert_int_equal(cx_connect(&srv), TB_OK);
    int me = udp_peer(&mine);
    send_to(me, port, "0123456789abcdef", 16); /* exactly buf_size: whole */
    send_to(me, port, big, sizeof big);
    send_to(me, port, "small", 5);
    CX_WAIT(g->events == 3, step(&srv, g));
    /* the long one is an error event with the reason and the first buf_size bytes; nothing
     * of it leaks into the next */
    assert_int_equal(g->errors, 1);
    assert_true(contains(g->s[0].error, "datagram of 1000 bytes truncated to buf_size (16 bytes)"));
    assert_int_equal(g->s[0].len, 16 + 16 + 5);
    assert_memory_equal(g->s[0].data, "0123456789abcdefxxxxxxxxxxxxxxxxsmall", 37);
    close(me);
    cx_stop(&srv);
    got_free(g);
}

static void test_client_refused_and_connect_errors(void **state) {
    cx cli, srv, two;
    got *g = got_new();
    uint16_t port = free_port(), taken;
    (void)state;
    /* nothing listens at port: the first datagram goes, the ICMP answer breaks the client */
    snprintf(json, sizeof json, "{\"url\": \"127.0.0.1:%u\"}", port);
    cx_start(&cli, "udp_client", json);
    const tbr_plugin *plugin = cli.f.inst->component->plugin;
    size_t base = cli.f.mem_before;
    assert_int_equal(cx_connect(&cli), TB_OK);
    int rc = TB_OK;
    /* the sink finds out: the runtime then reconnects with backoff */
    CX_WAIT(rc == TB_EIO, {
        cx_begin(&cli);
        cx_add_text(&cli, "anyone?", 0);
        rc = cx_push(&cli);
        assert_true(rc == TB_OK || rc == TB_EIO);
        cx_turn(&cli, 10);
    });
    assert_true(contains(cx_error(&cli), "refused"));
    assert_int_equal(cx_pull(&cli, g, 16), TB_EIO);
    /* connect makes a fresh socket: it works again; and the source alone finds the refusal
     * too (the loop is not turned, so no callback sees it first) */
    assert_int_equal(cx_connect(&cli), TB_OK);
    cx_begin(&cli);
    cx_add_text(&cli, "hello", 0);
    assert_int_equal(cx_push(&cli), TB_OK);
    rc = TB_OK;
    CX_WAIT(rc == TB_EIO, {
        rc = cx_pull(&cli, g, 16);
        assert_true(rc == TB_EAGAIN || rc == TB_EIO);
        if (rc == TB_EAGAIN) usleep(1000);
    });
    assert_true(contains(cx_error(&cli), "refused"));
    assert_int_equal(cx_connect(&cli), TB_OK);

    /* a port already taken: binding is an I/O error, for the server and a client's bind */
    int holder = udp_peer(&taken);
    snprintf(json, sizeof json, "{\"url\": \"127.0.0.1:%u\"}", taken);
    cx_start(&srv, "udp_server", json);
    assert_int_equal(cx_connect(&srv), TB_EIO);
    assert_true(contains(cx_error(&srv), "in use"));
    snprintf(json, sizeof json, "{\"url\": \"127.0.0.1:%u\", \"bind\": \"127.0.0.1:%u\"}", port, taken);
    cx_start(&two, "udp_client", json);
    assert_int_equal(cx_connect(&two), TB_EIO);
    assert_true(contains(cx_error(&two), "cannot bind"));
    /* and a push before a working connect is one too */
    cx_begin(&two);
    cx_add_text(&two, "x", 0);
    assert_int_equal(cx_push(&two), TB_EIO);
    close(holder);
    cx_stop_with(&two, false);
    cx_stop_with(&srv, false);
    cx_stop_with(&cli, false);
    assert_int_equal(atomic_load(&plugin->mem_live), base);
    got_free(g);
}

static void test_events_without_a_peer(void **state) {
    cx srv, dflt;
    got *g = got_new();
    uint16_t port = free_port(), mine;
    (void)state;
    int me = udp_peer(&mine);
    snprintf(json, sizeof json, "{\"url\": \"127.0.0.1:%u\"}", port);
    cx_start(&srv, "udp_server", json);
    const tbr_plugin *plugin = srv.f.inst->component->plugin;
    size_t base = srv.f.mem_before;
    assert_int_equal(cx_connect(&srv), TB_OK);
    /* no peer and no default_peer; a peer that is not an address: the batch fails, reported,
     * the server is fine */
    cx_begin(&srv);
    cx_add_text(&srv, "to nobody", 0);
    assert_int_equal(cx_push(&srv), TB_EPENDING);
    cx_settle(&srv);
    assert_int_equal(srv.delivered_failed, 1);
    cx_begin(&srv);
    set_peer(&srv, cx_add_text(&srv, "to garbage", 0), "not an address", 9);
    set_peer(&srv, cx_add_text(&srv, "to me", 0), "127.0.0.1", mine);
    assert_int_equal(cx_push(&srv), TB_EPENDING);
    cx_settle(&srv);
    assert_int_equal(srv.delivered_failed, 2);
    uint8_t buf[64];
    assert_int_equal(recv_one(&srv, g, me, buf, sizeof buf, NULL), 5);
    assert_memory_equal(buf, "to me", 5);

    /* with default_peer, events without a peer go there */
    snprintf(json, sizeof json, "{\"url\": \"127.0.0.1:%u\", \"default_peer\": \"127.0.0.1:%u\"}", free_port(), mine);
    cx_start(&dflt, "udp_server", json);
    assert_int_equal(cx_connect(&dflt), TB_OK);
    cx_begin(&dflt);
    cx_add_text(&dflt, "by default", 0);
    assert_int_equal(cx_push(&dflt), TB_OK);
    assert_int_equal(recv_one(&dflt, g, me, buf, sizeof buf, NULL), 10);
    assert_memory_equal(buf, "by default", 10);
    close(me);
    cx_stop_with(&dflt, false);
    cx_stop_with(&srv, false);
    assert_int_equal(atomic_load(&plugin->mem_live), base);
    got_free(g);
}

static void test_ipv6(void **state) {
    cx srv;
    got *g = got_new();
    (void)state;
    int fd = socket(AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
    socklen_t len = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        if (fd >= 0) close(fd);
        got_free(g);
        skip(); /* no IPv6 loopback here */
    }
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    uint16_t mine = ntohs(a.sin6_port);
    int probe = socket(AF_INET6, SOCK_DGRAM, 0);
    struct sockaddr_in6 b = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
    assert_int_equal(bind(probe, (struct sockaddr *)&b, sizeof b), 0);
    len = sizeof b;
    assert_int_equal(getsockname(probe, (struct sockaddr *)&b, &len), 0);
    close(probe);
    uint16_t port = ntohs(b.sin6_port);
    snprintf(json, sizeof json, "{\"url\": \"[::1]:%u\"}", port);
    cx_start(&srv, "udp_server", json);
    assert_int_equal(cx_connect(&srv), TB_OK);
    b.sin6_port = htons(port);
    assert_int_equal(sendto(fd, "six", 3, 0, (struct sockaddr *)&b, sizeof b), 3);
    CX_WAIT(g->events == 1, step(&srv, g));
    assert_string_equal(g->s[0].peer_host, "::1");
    assert_int_equal(g->s[0].peer_port, mine);
    cx_begin(&srv);
    set_peer(&srv, cx_add_text(&srv, "back", 0), g->s[0].peer_host, g->s[0].peer_port);
    assert_int_equal(cx_push(&srv), TB_OK);
    uint8_t buf[16];
    ssize_t n = -1;
    CX_WAIT(n == 4, {
        n = recv(fd, buf, sizeof buf, 0);
        step(&srv, g);
    });
    assert_memory_equal(buf, "back", 4);
    close(fd);
    cx_stop(&srv);
    got_free(g);
}

static void test_bad_configuration(void **state) {
    cx c;
    char err[512];
    (void)state;
    struct {
        const char *name, *config, *says;
    } cases[] = {
        {"udp_server", "{\"url\": \"127.0.0.1\"}", "host:port"},
        {"udp_server", "{\"url\": \"127.0.0.1:99999\"}", "host:port"},
        {"udp_server", "{\"url\": \"127.0.0.1:http\"}", "host:port"},
        {"udp_client", "{\"url\": \":9000\"}", "host:port"},
        {"udp_client", "{\"url\": \"[::1:9000\"}", "host:port"},
        {"udp_server", "{\"url\": \"127.0.0.1:9000\", \"buf_size\": 0}", "buf_size"},
        {"udp_server", "{\"url\": \"127.0.0.1:9000\", \"buf_size\": 70000}", "buf_size"},
        {"udp_server", "{\"url\": \"127.0.0.1:9000\", \"default_peer\": \"nowhere\"}", "default_peer"},
        {"udp_client", "{\"url\": \"127.0.0.1:9000\", \"bind\": \"[::1]:0\"}", "family"},
        {"udp_client", "{\"url\": \"\"}", "empty"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        err[0] = '\0';
        assert_int_equal(cx_try_start(&c, cases[i].name, cases[i].config, err, sizeof err), TB_EINVAL);
        if (!contains(err, cases[i].says)) fail_msg("%s: \"%s\" does not say %s", cases[i].config, err, cases[i].says);
        tb_fix_stop(&c.f);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_datagrams_in_and_replies, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_to_server, setup, teardown),
        cmocka_unit_test_setup_teardown(test_oversized_datagram, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_refused_and_connect_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_events_without_a_peer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ipv6, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_configuration, setup, teardown),
    };
    return cmocka_run_group_tests(tests, tb_fix_group_setup, tb_fix_group_teardown);
}
