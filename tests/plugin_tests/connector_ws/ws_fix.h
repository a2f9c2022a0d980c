/*
 * ws_fix.h - for the ws connector tests: on top of the tcp tests' fixture (tcp_fix.h: instances
 * on a real event loop, metrics, delivery reports, plain sockets, certificates), a collector of
 * the messages pulls emit (one event each, with the ws metadata), pushes of messages with
 * metadata, and a raw WebSocket peer on a plain socket (handshake by hand, frames built and
 * parsed here, masked or not) for peers that misbehave.
 *
 * Include it after plugin_fix.h with TB_FIX_IMPLEMENTATION defined, once per test program.
 * Thread contract: single-threaded. Ownership: each helper says what the caller frees.
 */
#ifndef TB_TEST_WS_FIX_H
#define TB_TEST_WS_FIX_H

#include "tcp_fix.h"

/* ---- what pulls emit -------------------------------------------------------------------- */

typedef struct msg_got {
    uint32_t stream;
    uint8_t *data;
    size_t len;
    bool binary;
    bool end;
    uint64_t id;
    uint64_t meta_stream; /* $ws_server.stream */
    char path[64];
    uint64_t port;
} msg_got;

typedef struct msgs {
    msg_got *m;
    size_t n, cap;
} msgs;

static inline void msgs_free(msgs *g) {
    for (size_t i = 0; i < g->n; i++) free(g->m[i].data);
    free(g->m);
    memset(g, 0, sizeof *g);
}

/* Messages (not ends) of stream so far. */
static inline size_t msgs_of(const msgs *g, uint32_t stream) {
    size_t n = 0;
    for (size_t i = 0; i < g->n; i++) n += g->m[i].stream == stream && !g->m[i].end;
    return n;
}

static inline bool ended(const msgs *g, uint32_t stream) {
    for (size_t i = 0; i < g->n; i++)
        if (g->m[i].stream == stream && g->m[i].end) return true;
    return false;
}

/* One pull; collects every event (key: "ws_server" or "ws_client"). */
static inline int ws_pull_once(tb_fix *f, msgs *g, uint32_t cap, const char *key) {
    tb_fix_begin(f);
    f->out.events = tb_arena_alloc(f->arena, cap * sizeof(tb_event), 8);
    assert_non_null(f->out.events);
    f->out.capacity = cap;
    int rc = vt(f)->pull(f->inst->state, &f->out);
    for (uint32_t i = 0; i < f->out.count; i++) {
        const tb_event *e = &f->out.events[i];
        if (g->n == g->cap) {
            g->cap = g->cap ? g->cap * 2 : 64;
            g->m = realloc(g->m, g->cap * sizeof *g->m);
            assert_non_null(g->m);
        }
        msg_got *m = &g->m[g->n++];
        memset(m, 0, sizeof *m);
        assert_true(e->flags & TB_EF_RAW);
        assert_int_equal(e->data.type, TB_BYTES);
        m->stream = e->stream;
        m->id = e->id;
        m->end = (e->flags & TB_EF_STREAM_END) != 0;
        if (m->end) continue;
        m->len = e->data.len;
        m->data = malloc(m->len ? m->len : 1);
        assert_non_null(m->data);
        if (m->len) memcpy(m->data, e->data.as.bytes, m->len);
        const tb_value *inner = tb_object_getz(&e->meta, key);
        assert_non_null(inner);
        const tb_value *b = tb_object_getz(inner, "binary");
        assert_non_null(b);
        assert_int_equal(b->type, TB_BOOL);
        m->binary = b->as.b;
        if (strcmp(key, "ws_server") == 0) {
            const tb_value *s = tb_object_getz(inner, "stream");
            assert_non_null(s);
            assert_int_equal(s->type, TB_U64);
            m->meta_stream = s->as.u;
            assert_int_equal(m->meta_stream, e->stream);
            size_t pn;
            const char *p = tb_value_str(tb_object_getz(inner, "path"), &pn);
            assert_non_null(p);
            snprintf(m->path, sizeof m->path, "%.*s", (int)pn, p);
            const tb_value *peer = tb_object_getz(inner, "peer");
            assert_non_null(peer);
            const tb_value *port = tb_object_getz(peer, "port");
            assert_non_null(port);
            m->port = port->as.u;
        }
    }
    if (rc != TB_OK) assert_true(rc == TB_EAGAIN || f->out.count == 0);
    return rc;
}

/* Runs the loop once (up to 10 ms), then pulls until the source says anything but TB_OK. */
static inline int ws_pump(tbr_loop *loop, tb_fix *f, msgs *g, const char *key) {
    int rc;
    tbr_loop_run_once(loop, 10);
    while ((rc = ws_pull_once(f, g, 256, key)) == TB_OK) {
    }
    return rc;
}

/* ---- pushing ------------------------------------------------------------------------------ */

typedef struct ws_out {
    uint32_t stream;
    const void *data;
    size_t len;
    int binary;            /* -1: no metadata; else $ws.binary */
    int64_t meta_stream;   /* -1: none; else $ws_server.stream */
} ws_out;

static inline int ws_push(tb_fix *f, const ws_out *ev, size_t n, uint64_t token) {
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
        e->meta = tb_object();
        if (ev[i].binary >= 0) {
            tb_value inner = tb_object();
            *tb_object_append(f->arena, &inner, "binary", 6) = tb_bool(ev[i].binary != 0);
            *tb_object_append(f->arena, &e->meta, "ws", 2) = inner;
        }
        if (ev[i].meta_stream >= 0) {
            tb_value inner = tb_object();
            *tb_object_append(f->arena, &inner, "stream", 6) = tb_u64((uint64_t)ev[i].meta_stream);
            *tb_object_append(f->arena, &e->meta, "ws_server", 9) = inner;
        }
    }
    return vt(f)->push(f->inst->state, &f->in);
}

static inline int ws_push_text(tb_fix *f, uint32_t stream, const char *text, uint64_t token) {
    ws_out e = {stream, text, strlen(text), -1, -1};
    return ws_push(f, &e, 1, token);
}

/* ---- a raw WebSocket peer ------------------------------------------------------------------ */

#define GOOD_KEY "dGhlIHNhbXBsZSBub25jZQ=="
#define GOOD_ACCEPT "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

/* Reads from fd (pumping the server) until buf holds an HTTP head or the peer closes; returns
 * the bytes read (NUL-terminated). */
static inline size_t read_head(tbr_loop *loop, tb_fix *f, msgs *g, int fd, char *buf, size_t cap) {
    size_t len = 0;
    uint64_t t0 = tbr_now_ns();
    for (;;) {
        ssize_t r = drain_fd(fd, (uint8_t *)buf, cap - 1, &len);
        buf[len] = '\0';
        if (strstr(buf, "\r\n\r\n") || r == 0) return len;
        if (past(t0)) fail_msg("no answer head (%zu bytes so far)", len);
        ws_pump(loop, f, g, "ws_server");
    }
}

/* A raw client on port that completed the handshake for path. */
static inline int raw_client(tbr_loop *loop, tb_fix *f, msgs *g, uint16_t port, const char *path) {
    char req[512], resp[4096];
    int fd = connect_to(port);
    snprintf(req, sizeof req,
             "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%u\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n"
             "Sec-WebSocket-Key: " GOOD_KEY "\r\nSec-WebSocket-Version: 13\r\n\r\n",
             path, port);
    send_all(fd, req, strlen(req));
    size_t n = read_head(loop, f, g, fd, resp, sizeof resp);
    if (strncmp(resp, "HTTP/1.1 101 ", 13) != 0 || !strstr(resp, "Sec-WebSocket-Accept: " GOOD_ACCEPT "\r\n"))
        fail_msg("no 101 answer: %.*s", (int)n, resp);
    /* nothing after the head: the server sends no frame first */
    assert_non_null(strstr(resp, "\r\n\r\n"));
    assert_int_equal((size_t)(strstr(resp, "\r\n\r\n") + 4 - resp), n);
    return fd;
}

/* A frame (fin, opcode), masked with a fixed key unless mask is false; returns its size in
 * out (which must hold n + 14 bytes). */
static inline size_t frame(uint8_t *out, bool fin, uint8_t opcode, const void *payload, size_t n, bool mask) {
    static const uint8_t key[4] = {0x12, 0x34, 0x56, 0x78};
    size_t i = 0;
    out[i++] = (uint8_t)((fin ? 0x80 : 0) | opcode);
    uint8_t m = mask ? 0x80 : 0;
    if (n < 126) {
        out[i++] = (uint8_t)(m | n);
    } else if (n < 65536) {
        out[i++] = m | 126;
        out[i++] = (uint8_t)(n >> 8);
        out[i++] = (uint8_t)n;
    } else {
        out[i++] = m | 127;
        for (int k = 7; k >= 0; k--) out[i++] = (uint8_t)((uint64_t)n >> (8 * k));
    }
    if (mask) {
        memcpy(out + i, key, 4);
        i += 4;
    }
    for (size_t k = 0; k < n; k++) out[i + k] = (uint8_t)(((const uint8_t *)payload)[k] ^ (mask ? key[k % 4] : 0));
    return i + n;
}

static inline void send_frame(int fd, bool fin, uint8_t opcode, const void *payload, size_t n, bool mask) {
    uint8_t *buf = malloc(n + 14);
    assert_non_null(buf);
    send_all(fd, buf, frame(buf, fin, opcode, payload, n, mask));
    free(buf);
}

/* A server frame read from fd (unmasked, as a server sends). */
typedef struct frame_got {
    bool fin;
    uint8_t opcode;
    uint8_t *payload; /* malloc'd; the caller frees */
    size_t len;
    bool eof;         /* the connection ended instead */
} frame_got;

/* Reads one frame from fd, pumping the server f. */
static inline frame_got read_frame(tbr_loop *loop, tb_fix *f, msgs *g, int fd, const char *key) {
    static uint8_t buf[1 << 20];
    static size_t len;
    static int last_fd = -1;
    frame_got fr = {0};
    uint64_t t0 = tbr_now_ns();
    if (fd != last_fd) len = 0, last_fd = fd;
    for (;;) {
        if (len >= 2) {
            size_t need = 2, n = buf[1] & 0x7f;
            assert_int_equal(buf[1] & 0x80, 0); /* a server never masks */
            if (n == 126) {
                need = 4;
                if (len >= 4) n = (size_t)buf[2] << 8 | buf[3];
            } else if (n == 127) {
                need = 10;
                if (len >= 10) {
                    n = 0;
                    for (int k = 0; k < 8; k++) n = n << 8 | buf[2 + k];
                }
            }
            assert_true(n < sizeof buf - 10);
            if (len >= need && len >= need + n) {
                fr.fin = buf[0] & 0x80;
                fr.opcode = buf[0] & 0x0f;
                fr.len = n;
                fr.payload = malloc(n ? n : 1);
                memcpy(fr.payload, buf + need, n);
                memmove(buf, buf + need + n, len - need - n);
                len -= need + n;
                return fr;
            }
        }
        ssize_t r = drain_fd(fd, buf, sizeof buf, &len);
        if (r == 0) {
            fr.eof = true;
            return fr;
        }
        if (past(t0)) fail_msg("no frame from the server (%zu bytes)", len);
        if (r < 0) ws_pump(loop, f, g, key);
    }
}

/* The status of a close frame's payload. */
static inline unsigned close_code(const frame_got *fr) {
    return fr->len >= 2 ? (unsigned)fr->payload[0] << 8 | fr->payload[1] : 0;
}

/* Whether the server closed fd (EOF or reset) within the deadline, pumping it. */
static inline bool wait_closed(tbr_loop *loop, tb_fix *f, msgs *g, int fd) {
    uint64_t t0 = tbr_now_ns();
    while (!past(t0)) {
        if (peer_closed(fd)) return true;
        ws_pump(loop, f, g, "ws_server");
    }
    return false;
}

static inline void wait_metric_ws(tbr_loop *loop, tb_fix *f, msgs *g, const char *name, int64_t want) {
    uint64_t t0 = tbr_now_ns();
    while (metric_of(f, name) != want) {
        if (past(t0)) fail_msg("metric %s is %lld, never %lld", name, (long long)metric_of(f, name), (long long)want);
        ws_pump(loop, f, g, "ws_server");
    }
}

#endif
