/*
 * test_tcp_tls.c - TLS in the tcp connectors (plugins/connector/tcp): tcp_client against
 * tcp_server on one event loop, with self-signed certificates the group makes with the OpenSSL
 * API: a round trip both ways (1 MiB each way, so writes and reads go through OpenSSL's
 * "want read/write" states), certificate verification that fails (wrong CA, wrong name, the
 * system's CAs), verification off, a plain client talking to a TLS server, a handshake that
 * never comes, client certificates (mutual TLS), and files that do not fit.
 *
 * Thread contract: single-threaded. Ownership: each test owns its fixtures; the group owns the
 * temporary directory of certificates and removes it.
 */
#define _GNU_SOURCE
#define TB_FIX_IMPLEMENTATION
#include "plugin_fix.h"
#include "tcp_fix.h"

#include <ftw.h>

static char dir[64];

/* A server and (at times) a client of it, on one loop. */
typedef struct pair {
    tbr_loop *loop;
    tb_fix server, client;
    got *gs, *gc;
    bool has_client;
} pair;

static void pump_both(pair *p) {
    pump(p->loop, &p->server, p->gs, "tcp_server");
    if (p->has_client) pump(p->loop, &p->client, p->gc, "tcp_client");
}

static void start_server(pair *p, const char *tls_extra) {
    char json[1024];
    memset(p, 0, sizeof *p);
    p->loop = tbr_loop_new();
    p->gs = got_new();
    p->gc = got_new();
    snprintf(json, sizeof json,
             "{\"url\":\"127.0.0.1:0\",\"handshake_timeout_ms\":300,"
             "\"tls\":{\"cert\":\"%s/server.crt\",\"key\":\"%s/server.key\"%s}}",
             dir, dir, tls_extra ? tls_extra : "");
    start_on(&p->server, p->loop, "tcp_server", json);
    assert_int_equal(vt(&p->server)->connect(p->server.inst->state), TB_OK);
}

/* A client of the pair's server with the given tls option (JSON). */
static void start_client(pair *p, const char *tls) {
    char json[1024];
    snprintf(json, sizeof json, "{\"url\":\"127.0.0.1:%u\",\"tls\":%s}", server_port(&p->server), tls);
    start_on(&p->client, p->loop, "tcp_client", json);
    p->has_client = true;
    assert_int_equal(vt(&p->client)->connect(p->client.inst->state), TB_OK);
}

static void stop_client(pair *p) {
    if (!p->has_client) return;
    /* see plugin_mem in tcp_fix.h: the server's fixture checks both */
    tbr_instance_destroy(p->client.inst);
    p->client.inst = NULL;
    tb_fix_stop(&p->client);
    p->has_client = false;
    got_free(p->gc);
    p->gc = got_new();
}

static void stop_pair(pair *p) {
    stop_client(p);
    tb_fix_stop(&p->server);
    tbr_loop_free(p->loop);
    got_free(p->gs);
    got_free(p->gc);
}

/* Pumps both until the client's pull fails; returns that status. */
static int wait_client_error(pair *p) {
    uint64_t t0 = tbr_now_ns();
    for (;;) {
        pump(p->loop, &p->server, p->gs, "tcp_server");
        int rc = pump(p->loop, &p->client, p->gc, "tcp_client");
        if (rc != TB_OK && rc != TB_EAGAIN) return rc;
        if (past(t0)) fail_msg("the client never failed");
    }
}

static void wait_open(pair *p, int64_t want) {
    uint64_t t0 = tbr_now_ns();
    while (metric_of(&p->server, "connections_open") != want) {
        if (past(t0)) fail_msg("connections_open never became %lld", (long long)want);
        pump_both(p);
    }
}

static void expect_error(pair *p, const char *why) {
    assert_int_equal(wait_client_error(p), TB_EIO);
    if (!strstr(last_error(&p->client), why)) fail_msg("\"%s\" does not say \"%s\"", last_error(&p->client), why);
}

/* The client sends n bytes, the server answers on its stream with n other bytes. */
static void roundtrip(pair *p, size_t n) {
    uint8_t *up = malloc(n), *down = malloc(n);
    assert_non_null(up);
    assert_non_null(down);
    for (size_t i = 0; i < n; i++) {
        up[i] = (uint8_t)(i * 7 + 1);
        down[i] = (uint8_t)(i * 13 + 5);
    }
    size_t chunk = 65536, sent = 0;
    uint64_t token = 1, t0 = tbr_now_ns();
    while (sent < n) {
        out_event e = {0, up + sent, n - sent < chunk ? n - sent : chunk};
        int rc = push_events(&p->client, &e, 1, token++);
        assert_true(rc == TB_OK || rc == TB_EPENDING);
        sent += e.len;
        pump_both(p);
    }
    while (p->gs->n == 0 || p->gs->s[0].len < n) {
        if (past(t0)) fail_msg("the server got %zu of %zu bytes", p->gs->n ? p->gs->s[0].len : 0, n);
        pump_both(p);
    }
    assert_int_equal(p->gs->s[0].len, n);
    assert_memory_equal(p->gs->s[0].data, up, n);
    assert_true(p->gs->s[0].tls);
    for (size_t off = 0; off < n; off += chunk) {
        out_event e = {p->gs->s[0].stream, down + off, n - off < chunk ? n - off : chunk};
        int rc = push_events(&p->server, &e, 1, token++);
        assert_true(rc == TB_OK || rc == TB_EPENDING);
        pump_both(p);
    }
    while (p->gc->n == 0 || p->gc->s[0].len < n) {
        if (past(t0)) fail_msg("the client got %zu of %zu bytes", p->gc->n ? p->gc->s[0].len : 0, n);
        pump_both(p);
    }
    assert_memory_equal(p->gc->s[0].data, down, n);
    assert_true(p->gc->s[0].tls);
    free(up);
    free(down);
}

static void test_roundtrip(void **state) {
    pair p;
    char tls[512];
    (void)state;
    start_server(&p, NULL);
    /* verified against the certificate as CA, by the address in it */
    snprintf(tls, sizeof tls, "{\"cafile\":\"%s/server.crt\"}", dir);
    start_client(&p, tls);
    roundtrip(&p, 1 << 20);
    /* the client goes: the server's stream ends */
    stop_client(&p);
    uint64_t t0 = tbr_now_ns();
    while (!p.gs->s[0].ended) {
        if (past(t0)) fail_msg("the server's stream never ended");
        pump_both(&p);
    }
    /* by name, with the name to check given as domain */
    snprintf(tls, sizeof tls, "{\"cafile\":\"%s/server.crt\",\"domain\":\"localhost\"}", dir);
    got_free(p.gs);
    p.gs = got_new();
    start_client(&p, tls);
    roundtrip(&p, 1000);
    stop_pair(&p);
}

static void test_verification_fails(void **state) {
    pair p;
    char tls[512];
    (void)state;
    start_server(&p, NULL);
    /* signed by nobody the client trusts */
    snprintf(tls, sizeof tls, "{\"cafile\":\"%s/other.crt\"}", dir);
    start_client(&p, tls);
    expect_error(&p, "certificate verification failed");
    stop_client(&p);
    /* trusted, but for another name */
    snprintf(tls, sizeof tls, "{\"cafile\":\"%s/server.crt\",\"domain\":\"wrong.example\"}", dir);
    start_client(&p, tls);
    expect_error(&p, "certificate verification failed: hostname mismatch");
    stop_client(&p);
    /* the system's CAs know nothing of a self-signed certificate */
    start_client(&p, "true");
    expect_error(&p, "certificate verification failed");
    stop_client(&p);
    /* the server dropped each of them and emitted nothing, and still serves */
    wait_open(&p, 0);
    assert_int_equal(p.gs->n, 0);
    start_client(&p, "{\"verify\":false}");
    roundtrip(&p, 100);
    stop_pair(&p);
}

static void test_plain_client_to_tls_server(void **state) {
    pair p;
    char tls[512];
    (void)state;
    start_server(&p, NULL);
    /* garbage where a ClientHello should be */
    int fd = connect_to(server_port(&p.server));
    send_all(fd, "GET / HTTP/1.0\r\n\r\n", 18);
    uint64_t t0 = tbr_now_ns();
    while (!peer_closed(fd)) {
        if (past(t0)) fail_msg("the server kept a connection that does not speak TLS");
        pump_both(&p);
    }
    close(fd);
    /* nothing at all: dropped after handshake_timeout_ms */
    fd = connect_to(server_port(&p.server));
    t0 = tbr_now_ns();
    while (!peer_closed(fd)) {
        if (past(t0)) fail_msg("a silent connection was never dropped");
        pump_both(&p);
    }
    close(fd);
    wait_open(&p, 0);
    assert_int_equal(p.gs->n, 0);
    snprintf(tls, sizeof tls, "{\"cafile\":\"%s/server.crt\"}", dir);
    start_client(&p, tls);
    roundtrip(&p, 100);
    stop_pair(&p);
}

static void test_mutual_tls(void **state) {
    pair p;
    char extra[512], tls[1024];
    (void)state;
    snprintf(extra, sizeof extra, ",\"cafile\":\"%s/client.crt\"", dir);
    start_server(&p, extra);
    /* with the certificate the server requires */
    snprintf(tls, sizeof tls, "{\"cafile\":\"%s/server.crt\",\"cert\":\"%s/client.crt\",\"key\":\"%s/client.key\"}", dir,
             dir, dir);
    start_client(&p, tls);
    roundtrip(&p, 5000);
    stop_client(&p);
    /* without one: refused (with TLS 1.3 the client learns it at its first read) */
    snprintf(tls, sizeof tls, "{\"cafile\":\"%s/server.crt\"}", dir);
    start_client(&p, tls);
    assert_int_equal(wait_client_error(&p), TB_EIO);
    stop_client(&p);
    /* with a certificate of another CA: refused too */
    snprintf(tls, sizeof tls, "{\"cafile\":\"%s/server.crt\",\"cert\":\"%s/other.crt\",\"key\":\"%s/other.key\"}", dir,
             dir, dir);
    start_client(&p, tls);
    assert_int_equal(wait_client_error(&p), TB_EIO);
    stop_client(&p);
    wait_open(&p, 0);
    assert_int_equal(p.gs->n, 1); /* only the first client's stream */
    stop_pair(&p);
}

static void test_bad_files(void **state) {
    char json[1024], err[512] = "";
    (void)state;
    /* a key that does not belong to the certificate */
    snprintf(json, sizeof json, "{\"port\":0,\"tls\":{\"cert\":\"%s/server.crt\",\"key\":\"%s/other.key\"}}", dir, dir);
    assert_int_equal(try_create("tcp_server", json, err, sizeof err), TB_EINVAL);
    if (!strstr(err, "tls.key ") || !strstr(err, "other.key") || !strstr(err, "mismatch")) fail_msg("\"%s\"", err);
    /* a certificate that is not one */
    snprintf(json, sizeof json, "{\"port\":0,\"tls\":{\"cert\":\"%s/server.key\",\"key\":\"%s/server.key\"}}", dir, dir);
    assert_int_equal(try_create("tcp_server", json, err, sizeof err), TB_EINVAL);
    if (!strstr(err, "tls.cert")) fail_msg("\"%s\"", err);
    /* the client's too */
    snprintf(json, sizeof json, "{\"url\":\"h:1\",\"tls\":{\"cert\":\"%s/client.crt\",\"key\":\"%s/nonexistent.key\"}}", dir,
             dir);
    assert_int_equal(try_create("tcp_client", json, err, sizeof err), TB_EINVAL);
    if (!strstr(err, "tls.key")) fail_msg("\"%s\"", err);
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int group_setup(void **state) {
    snprintf(dir, sizeof dir, "%s", "/tmp/tb-connector-tcp-tls-XXXXXX");
    if (!mkdtemp(dir)) return -1;
    make_cert(dir, "server", "localhost", "DNS:localhost,IP:127.0.0.1");
    make_cert(dir, "other", "other", "DNS:other.example");
    make_cert(dir, "client", "client", "DNS:client.example");
    return tb_fix_group_setup(state);
}

static int group_teardown(void **state) {
    nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
    return tb_fix_group_teardown(state);
}

int main(void) {
    signal(SIGPIPE, SIG_IGN); /* as the runtime does: OpenSSL writes with write(2) */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_verification_fails),
        cmocka_unit_test(test_plain_client_to_tls_server),
        cmocka_unit_test(test_mutual_tls),
        cmocka_unit_test(test_bad_files),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
