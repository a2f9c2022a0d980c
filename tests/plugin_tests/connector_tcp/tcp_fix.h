/*
 * tcp_fix.h - for the tcp connector tests: instances of tcp_server and tcp_client on a real
 * event loop (plugin_fix.h), pumping that loop and pulling until a condition holds (never a
 * fixed sleep: every wait has a generous deadline, for a loaded machine), a collector of what
 * pulls emit per stream, batches to push, plain client and listening sockets on 127.0.0.1, and
 * a self-signed certificate made with the OpenSSL API.
 *
 * Include it after plugin_fix.h with TB_FIX_IMPLEMENTATION defined, once per test program.
 * Thread contract: single-threaded. Ownership: each helper says what the caller frees.
 */
#ifndef TB_TEST_TCP_FIX_H
#define TB_TEST_TCP_FIX_H

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "host/context.h"
#include "host/loop.h"

#include "delivery_fix.h"

#define DEADLINE_NS (30ull * 1000000000ull) /* a loaded 2-core machine under ASan is slow */

static inline const tb_connector_vtable *vt(tb_fix *f) { return &f->inst->component->vt.connector; }

static inline void start_on(tb_fix *f, tbr_loop *loop, const char *name, const char *json) {
    char err[512] = "";
    int rc = tb_fix_try_start_on(f, TB_KIND_CONNECTOR, name, json, 0, loop, err, sizeof err);
    if (rc) fail_msg("create %s with %s: %d: %s", name, json, rc, err);
}

/* create's status and message, for configurations that must be refused. */
static inline int try_create(const char *name, const char *json, char *err, size_t n) {
    tb_fix f;
    tbr_loop *loop = tbr_loop_new();
    int rc = tb_fix_try_start_on(&f, TB_KIND_CONNECTOR, name, json, 0, loop, err, n);
    tb_fix_stop(&f);
    tbr_loop_free(loop);
    return rc;
}

static inline const char *last_error(tb_fix *f) { return tbr_context_error(f->inst->ctx); }

/* The value of the instance's metric name; fails the test if it has none. */
static inline int64_t metric_of(tb_fix *f, const char *name) {
    uint32_t n = tbr_context_metric_count(f->inst->ctx);
    for (uint32_t i = 0; i < n; i++) {
        const tbr_metric *m = tbr_context_metric(f->inst->ctx, i);
        if (strcmp(m->name, name) == 0) return atomic_load(&m->value);
    }
    fail_msg("no metric %s", name);
    return -1;
}

/* The port a listening tcp_server got (it publishes it as a metric). */
static inline uint16_t server_port(tb_fix *f) { return (uint16_t)metric_of(f, "port"); }

/* The plugin's live host memory. Two instances of the plugin in one test share it: destroy
 * all but the first with tbr_instance_destroy (inst = NULL) before tb_fix_stop of the first,
 * which then checks that all of them gave everything back. */
static inline size_t plugin_mem(tb_fix *f) { return atomic_load(&f->inst->component->plugin->mem_live); }

static inline bool past(uint64_t t0) { return tbr_now_ns() - t0 > DEADLINE_NS; }

/* ---- what pulls emit, per stream --------------------------------------------------------- */

typedef struct stream_got {
    uint32_t stream;
    uint8_t *data;
    size_t len, cap;
    size_t events;
    bool ended;
    char host[64];
    uint64_t port;
    bool tls;
    uint64_t next_id;
} stream_got;

typedef struct got {
    stream_got s[512];
    size_t n;
    size_t pulls;
    size_t max_batch_bytes; /* the most bytes one pull returned */
} got;

static inline got *got_new(void) {
    got *g = calloc(1, sizeof *g);
    assert_non_null(g);
    return g;
}

static inline void got_free(got *g) {
    for (size_t i = 0; i < g->n; i++) free(g->s[i].data);
    free(g);
}

static inline stream_got *got_stream(got *g, uint32_t stream) {
    for (size_t i = 0; i < g->n; i++)
        if (g->s[i].stream == stream) return &g->s[i];
    assert_true(g->n < sizeof g->s / sizeof g->s[0]);
    stream_got *s = &g->s[g->n++];
    memset(s, 0, sizeof *s);
    s->stream = stream;
    return s;
}

/* The stream whose peer port is port (the client socket's local port), or NULL. */
static inline stream_got *got_by_port(got *g, uint16_t port) {
    for (size_t i = 0; i < g->n; i++)
        if (g->s[i].port == port) return &g->s[i];
    return NULL;
}

/* Reads meta.<key>.peer.{host,port} and meta.<key>.tls into s. */
static inline void take_meta(stream_got *s, const tb_value *meta, const char *key) {
    const tb_value *inner = tb_object_getz(meta, key);
    assert_non_null(inner);
    const tb_value *peer = tb_object_getz(inner, "peer");
    assert_non_null(peer);
    size_t n;
    const char *h = tb_value_str(tb_object_getz(peer, "host"), &n);
    assert_non_null(h);
    assert_true(n < sizeof s->host);
    memcpy(s->host, h, n);
    s->host[n] = '\0';
    const tb_value *port = tb_object_getz(peer, "port");
    assert_non_null(port);
    assert_int_equal(port->type, TB_U64);
    s->port = port->as.u;
    const tb_value *tls = tb_object_getz(inner, "tls");
    assert_non_null(tls);
    assert_int_equal(tls->type, TB_BOOL);
    s->tls = tls->as.b;
}

/* One pull into a fresh batch of cap events; checks and collects every event: raw bytes, ids
 * the byte offset in the stream, nothing after a stream's end, the metadata under key. */
static inline int pull_once(tb_fix *f, got *g, uint32_t cap, const char *key) {
    tb_fix_begin(f);
    f->out.events = tb_arena_alloc(f->arena, cap * sizeof(tb_event), 8);
    assert_non_null(f->out.events);
    f->out.capacity = cap;
    int rc = vt(f)->pull(f->inst->state, &f->out);
    size_t bytes = 0;
    g->pulls++;
    assert_true(f->out.count <= cap);
    for (uint32_t i = 0; i < f->out.count; i++) {
        const tb_event *e = &f->out.events[i];
        stream_got *s = got_stream(g, e->stream);
        assert_true(e->flags & TB_EF_RAW);
        assert_int_equal(e->data.type, TB_BYTES);
        assert_false(s->ended);
        assert_int_equal(e->id, s->next_id);
        assert_true(e->ingest_ns > 0);
        if (e->flags & TB_EF_STREAM_END) {
            assert_int_equal(e->data.len, 0);
            s->ended = true;
            continue;
        }
        take_meta(s, &e->meta, key);
        if (s->len + e->data.len > s->cap) {
            s->cap = (s->len + e->data.len) * 2;
            s->data = realloc(s->data, s->cap);
            assert_non_null(s->data);
        }
        memcpy(s->data + s->len, e->data.as.bytes, e->data.len);
        s->len += e->data.len;
        s->next_id += e->data.len;
        s->events++;
        bytes += e->data.len;
    }
    if (bytes > g->max_batch_bytes) g->max_batch_bytes = bytes;
    if (rc != TB_OK) assert_true(rc == TB_EAGAIN || f->out.count == 0);
    return rc;
}

/* Runs the loop once (up to 10 ms), then pulls until the source says anything but TB_OK;
 * returns the last pull's status. */
static inline int pump(tbr_loop *loop, tb_fix *f, got *g, const char *key) {
    int rc;
    tbr_loop_run_once(loop, 10);
    while ((rc = pull_once(f, g, 256, key)) == TB_OK) {
    }
    return rc;
}

/* ---- pushing --------------------------------------------------------------------------- */

typedef struct out_event {
    uint32_t stream;
    const void *data;
    size_t len;
} out_event;

/* Pushes a batch of the given events (bytes copied into the batch's arena) with token. */
static inline int push_events(tb_fix *f, const out_event *ev, size_t n, uint64_t token) {
    tb_fix_begin(f);
    f->in.token = token;
    for (size_t i = 0; i < n; i++) {
        char *copy = tb_arena_dup(f->arena, ev[i].data, ev[i].len);
        tb_event *e = tb_batch_push(&f->in);
        assert_non_null(copy);
        assert_non_null(e);
        e->data = tb_bytes(copy, ev[i].len);
        e->stream = ev[i].stream;
        e->flags = TB_EF_RAW;
    }
    return vt(f)->push(f->inst->state, &f->in);
}

static inline int push_text(tb_fix *f, uint32_t stream, const char *text, uint64_t token) {
    out_event e = {stream, text, strlen(text)};
    return push_events(f, &e, 1, token);
}


/* ---- plain sockets ------------------------------------------------------------------------ */

static inline void set_nonblocking(int fd) {
    int fl = fcntl(fd, F_GETFL);
    assert_int_equal(fcntl(fd, F_SETFL, fl | O_NONBLOCK), 0);
}

/* A client socket connected to 127.0.0.1:port (blocking connect: the kernel completes it
 * into the listener's backlog), then made non-blocking; rcvbuf 0 leaves SO_RCVBUF as it is. */
static inline int connect_with(uint16_t port, int rcvbuf) {
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    /* before connect, so that the window the peer sees is small from the start */
    if (rcvbuf) assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf), 0);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) fail_msg("connect to %u: %s", port, strerror(errno));
    set_nonblocking(fd);
    return fd;
}

static inline int connect_to(uint16_t port) { return connect_with(port, 0); }

static inline uint16_t local_port(int fd) {
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    return ntohs(a.sin_port);
}

/* A listening socket on 127.0.0.1 with a free port. */
static inline int listen_any(uint16_t *port) {
    struct sockaddr_in a = {.sin_family = AF_INET};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(fd, 64), 0);
    *port = local_port(fd);
    return fd;
}

static inline void send_all(int fd, const void *p, size_t n) {
    const uint8_t *b = p;
    uint64_t t0 = tbr_now_ns();
    while (n) {
        ssize_t w = send(fd, b, n, MSG_NOSIGNAL);
        if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
            struct pollfd pf = {.fd = fd, .events = POLLOUT};
            poll(&pf, 1, 10);
            if (past(t0)) fail_msg("send never finished");
            continue;
        }
        if (w <= 0) fail_msg("send: %s", strerror(errno));
        b += w;
        n -= (size_t)w;
    }
}

/* Appends what fd has now to buf (non-blocking). Returns 0 at the end of the stream, -1 when
 * nothing is there, or the bytes read. */
static inline ssize_t drain_fd(int fd, uint8_t *buf, size_t cap, size_t *len) {
    ssize_t total = -1;
    for (;;) {
        if (*len == cap) return total < 0 ? 1 : total;
        ssize_t r = recv(fd, buf + *len, cap - *len, 0);
        if (r > 0) {
            *len += (size_t)r;
            total = total < 0 ? r : total + r;
            continue;
        }
        if (r == 0) return total < 0 ? 0 : total;
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return total;
        return 0; /* reset: an end too */
    }
}

/* Whether fd's peer closed it (EOF or reset) right now, reading away what is there. */
static inline bool peer_closed(int fd) {
    uint8_t buf[4096];
    for (;;) {
        ssize_t r = recv(fd, buf, sizeof buf, 0);
        if (r > 0) continue;
        if (r == 0) return true;
        if (errno == EINTR) continue;
        return errno != EAGAIN && errno != EWOULDBLOCK;
    }
}

/* ---- a self-signed certificate --------------------------------------------------------------- */

/* Writes a self-signed P-256 certificate for CN=cn with the given subjectAltName (also a CA,
 * so it can be its own trust anchor) and its key to dir/<name>.crt and dir/<name>.key. */
static inline void make_cert(const char *dir, const char *name, const char *cn, const char *san) {
    char path[512];
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    assert_non_null(key);
    assert_non_null(x);
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), (long)(tbr_now_ns() & 0x7fffffff));
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 7 * 86400);
    assert_int_equal(X509_set_pubkey(x, key), 1);
    X509_NAME *n = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(x, n);
    X509V3_CTX v3;
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
    const struct {
        int nid;
        const char *value;
    } exts[] = {{NID_subject_alt_name, san},
                {NID_basic_constraints, "critical,CA:TRUE"},
                {NID_key_usage, "critical,digitalSignature,keyCertSign"}};
    for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++) {
        X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &v3, exts[i].nid, exts[i].value);
        assert_non_null(ext);
        X509_add_ext(x, ext, -1);
        X509_EXTENSION_free(ext);
    }
    assert_true(X509_sign(x, key, EVP_sha256()) > 0);
    snprintf(path, sizeof path, "%s/%s.crt", dir, name);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    assert_int_equal(PEM_write_X509(fp, x), 1);
    fclose(fp);
    snprintf(path, sizeof path, "%s/%s.key", dir, name);
    fp = fopen(path, "w");
    assert_non_null(fp);
    assert_int_equal(PEM_write_PrivateKey(fp, key, NULL, NULL, 0, NULL, NULL), 1);
    fclose(fp);
    X509_free(x);
    EVP_PKEY_free(key);
}

#endif
