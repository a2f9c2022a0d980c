/*
 * ws_conn.c - one WebSocket connection, for both connectors: wslay's event API over a
 * tcp_link (plain or TLS).
 *
 * Reading. wslay pulls bytes through its recv callback: first what was read past the
 * handshake head, then the link, for at most `turn` bytes per call, so one chatty peer cannot
 * hold the thread or fill a batch alone; "would block" (the link armed its watch) and the end
 * of the turn both end wslay's loop without an error. Every whole message (wslay joins
 * fragments, unmasks, checks UTF-8 of text, and refuses past max_message with close 1009)
 * reaches the owner's on_msg. Pings are answered by wslay; a close frame is answered and ends
 * reading.
 *
 * Writing. wslay hands frames to the send callback, which appends them to a staging buffer;
 * after each batch of work the staging buffer goes to the link in one write, so a push of many
 * small messages costs one system call per connection, and what the socket does not take
 * waits in the link (which tracks batches and the circuit breaker, tcp_link.c). The callback
 * never says "would block": wslay's queue is therefore always empty after wslay_event_send,
 * and message bytes are never referenced after the push that queued them. Messages larger
 * than WS_FRAME_MAX go out in wslay's 4 KiB frames (a fragmented message) instead of one
 * frame, so wslay does not copy them whole.
 *
 * Ownership: the head and staging buffers are the connection's (host memory), and so is its
 * wslay context (wslay's own malloc). Thread contract: the instance's thread.
 */
#define _GNU_SOURCE
#include "ws.h"

#include <stdio.h>

#include <openssl/rand.h>

#define KEEP_STAGE (64u * 1024u) /* an emptied staging buffer larger than this is given back */

/* ---- staging writes ------------------------------------------------------------------------ */

static bool stage_add(ws_conn *c, const uint8_t *p, size_t n) {
    if (c->st_cap - c->st_len < n) {
        if (n > SIZE_MAX / 4 - c->st_len) return false;
        size_t ncap = c->st_cap ? c->st_cap : 4096;
        while (ncap - c->st_len < n) ncap *= 2;
        uint8_t *q = c->link.host->realloc(c->link.ctx, c->st, ncap);
        if (!q) return false;
        c->st = q;
        c->st_cap = ncap;
    }
    memcpy(c->st + c->st_len, p, n);
    c->st_len += n;
    return true;
}

/* Hands the staged bytes to the link. */
static int stage_flush(ws_conn *c) {
    int rc = TB_OK;
    if (c->st_len) {
        struct iovec iov = {c->st, c->st_len};
        rc = tbp_tcp_link_send(&c->link, &iov, 1);
        c->st_len = 0;
    }
    if (c->st_cap > KEEP_STAGE) {
        c->link.host->free(c->link.ctx, c->st);
        c->st = NULL;
        c->st_cap = 0;
    }
    return rc == TB_OK ? TB_OK : TB_EIO;
}

/* ---- wslay's callbacks --------------------------------------------------------------------- */

static ssize_t on_recv(wslay_event_context_ptr ws, uint8_t *buf, size_t len, int flags, void *user) {
    ws_conn *c = user;
    size_t got = 0;
    (void)flags;
    if (c->pre_off < c->pre_len) {
        size_t n = c->pre_len - c->pre_off;
        if (n > len) n = len;
        memcpy(buf, c->head + c->pre_off, n);
        c->pre_off += n;
        c->heard = true;
        return (ssize_t)n;
    }
    if (!c->turn) {
        c->rd = TB_OK; /* more may be there: the owner comes back */
        wslay_event_set_error(ws, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    if (len > c->turn) len = c->turn;
    int rc = tbp_tcp_link_read(&c->link, buf, len, &got);
    if (rc == TB_OK) {
        c->turn -= got;
        c->heard = true;
        return (ssize_t)got;
    }
    c->rd = rc;
    wslay_event_set_error(ws, rc == TB_EAGAIN ? WSLAY_ERR_WOULDBLOCK : WSLAY_ERR_CALLBACK_FAILURE);
    return -1;
}

static ssize_t on_send(wslay_event_context_ptr ws, const uint8_t *data, size_t len, int flags, void *user) {
    ws_conn *c = user;
    (void)flags;
    if (!stage_add(c, data, len)) {
        snprintf(c->link.err, sizeof c->link.err, "out of memory buffering %zu bytes", len);
        wslay_event_set_error(ws, WSLAY_ERR_CALLBACK_FAILURE);
        return -1;
    }
    return (ssize_t)len;
}

static int on_genmask(wslay_event_context_ptr ws, uint8_t *buf, size_t len, void *user) {
    (void)user;
    if (RAND_bytes(buf, (int)len) == 1) return 0;
    wslay_event_set_error(ws, WSLAY_ERR_CALLBACK_FAILURE);
    return -1;
}

static void on_msg_recv(wslay_event_context_ptr ws, const struct wslay_event_on_msg_recv_arg *a, void *user) {
    ws_conn *c = user;
    (void)ws;
    c->heard = true;
    if (a->opcode == WSLAY_PONG) {
        c->ping_out = false;
    } else if (a->opcode == WSLAY_TEXT_FRAME || a->opcode == WSLAY_BINARY_FRAME) {
        c->msgs_in++;
        if (c->msg_err) return;
        int rc = c->on_msg(c->owner, c, a->msg, a->msg_length, a->opcode == WSLAY_BINARY_FRAME);
        if (rc != TB_OK) {
            c->msg_err = rc;
            c->turn = 0;
        }
    }
}

static ssize_t frag_read(wslay_event_context_ptr ws, uint8_t *buf, size_t len,
                         const union wslay_event_msg_source *source, int *eof, void *user) {
    ws_conn *c = user;
    (void)ws;
    (void)source;
    size_t n = c->frag_len - c->frag_off;
    if (n > len) n = len;
    if (n) memcpy(buf, c->frag + c->frag_off, n);
    c->frag_off += n;
    if (c->frag_off == c->frag_len) *eof = 1;
    return (ssize_t)n;
}

static const struct wslay_event_callbacks callbacks = {
    .recv_callback = on_recv,
    .send_callback = on_send,
    .genmask_callback = on_genmask,
    .on_msg_recv_callback = on_msg_recv,
};

/* ---- the connection ------------------------------------------------------------------------ */

int tbp_ws_conn_init(ws_conn *c, const tb_host_api *host, tb_context *ctx, bool server, uint64_t max_message,
                     ws_msg_fn on_msg, void *owner) {
    memset(c, 0, sizeof *c);
    c->link.fd = -1;
    c->link.host = host;
    c->link.ctx = ctx;
    c->server = server;
    c->max_message = max_message;
    c->on_msg = on_msg;
    c->owner = owner;
    c->head = host->alloc(ctx, WS_HEAD_MAX);
    if (!c->head) return TB_ENOMEM;
    return TB_OK;
}

int tbp_ws_conn_read_head(ws_conn *c) {
    for (;;) {
        size_t got = 0;
        if (c->head_len >= WS_HEAD_MAX) return TB_EINVAL;
        int rc = tbp_tcp_link_read(&c->link, c->head + c->head_len, WS_HEAD_MAX - c->head_len, &got);
        if (rc != TB_OK) return rc;
        size_t from = c->head_len >= 3 ? c->head_len - 3 : 0;
        c->head_len += got;
        size_t end = tbp_ws_head_end(c->head + from, c->head_len - from);
        if (end) {
            c->pre_off = from + end;
            c->pre_len = c->head_len;
            c->head_len = from + end;
            return TB_OK;
        }
    }
}

int tbp_ws_conn_prepare(ws_conn *c) {
    if (c->ws) return TB_OK;
    int r = c->server ? wslay_event_context_server_init(&c->ws, &callbacks, c)
                      : wslay_event_context_client_init(&c->ws, &callbacks, c);
    if (r != 0) {
        c->ws = NULL;
        return TB_ENOMEM;
    }
    wslay_event_config_set_max_recv_msg_length(c->ws, c->max_message);
    return TB_OK;
}

int tbp_ws_conn_open(ws_conn *c) {
    int rc = tbp_ws_conn_prepare(c);
    if (rc != TB_OK) return rc;
    c->phase = WS_PHASE_OPEN;
    c->heard = true;
    return TB_OK;
}

int tbp_ws_conn_flush(ws_conn *c) {
    if (!c->ws || c->phase == WS_PHASE_HTTP) return stage_flush(c);
    int r = wslay_event_send(c->ws);
    int rc = stage_flush(c);
    if (r != 0 && rc == TB_OK && c->link.state != TCP_LINK_BROKEN) {
        tbp_tcp_link_fail(&c->link, "%s", c->link.err[0] ? c->link.err : "cannot frame a message");
        return TB_EIO;
    }
    return rc;
}

int tbp_ws_conn_read(ws_conn *c, size_t turn) {
    if (!c->ws) return TB_EAGAIN;
    c->turn = turn;
    c->rd = TB_EAGAIN; /* also when wslay does not read at all: reading is over */
    c->msg_err = TB_OK;
    int r = wslay_event_recv(c->ws);
    if (r == WSLAY_ERR_NOMEM) {
        tbp_tcp_link_fail(&c->link, "out of memory reading a message");
        c->rd = TB_EIO;
    }
    if (tbp_ws_conn_flush(c) != TB_OK && c->rd != TB_EOF) c->rd = TB_EIO;
    if (c->pre_off == c->pre_len && c->pre_len) c->pre_off = c->pre_len = 0;
    return c->msg_err ? c->msg_err : c->rd;
}

int tbp_ws_conn_send(ws_conn *c, const uint8_t *p, size_t n, bool binary) {
    int r;
    uint8_t op = binary ? WSLAY_BINARY_FRAME : WSLAY_TEXT_FRAME;
    if (c->link.state == TCP_LINK_BROKEN || c->link.state == TCP_LINK_CLOSED) return TB_EIO;
    if (c->ws && c->phase == WS_PHASE_HTTP) {
        /* before the handshake is done (a client): wslay keeps a copy until the connection opens */
        struct wslay_event_msg m = {op, p, n};
        r = wslay_event_queue_msg(c->ws, &m);
        if (r != 0) {
            tbp_tcp_link_fail(&c->link, "out of memory queueing a message of %zu bytes", n);
            return TB_EIO;
        }
        c->msgs_out++;
        return TB_EAGAIN;
    }
    if (!c->ws || c->phase != WS_PHASE_OPEN || wslay_event_get_close_sent(c->ws)) return TB_ECLOSED;
    if (n > WS_FRAME_MAX) {
        struct wslay_event_fragmented_msg m = {.opcode = op, .read_callback = frag_read};
        c->frag = p;
        c->frag_len = n;
        c->frag_off = 0;
        r = wslay_event_queue_fragmented_msg(c->ws, &m);
    } else {
        struct wslay_event_msg m = {op, p, n};
        r = wslay_event_queue_msg(c->ws, &m);
    }
    if (r == WSLAY_ERR_NO_MORE_MSG) return TB_ECLOSED;
    if (r != 0) {
        tbp_tcp_link_fail(&c->link, "out of memory queueing a message of %zu bytes", n);
        return TB_EIO;
    }
    int rc = tbp_ws_conn_flush(c);
    /* the send callback never blocks: the message went whole into the link (or the link broke) */
    c->frag = NULL;
    c->frag_len = c->frag_off = 0;
    if (rc == TB_OK) c->msgs_out++;
    return rc;
}

int tbp_ws_conn_close(ws_conn *c, uint16_t code, const char *reason) {
    if (!c->ws) return TB_OK;
    int r = wslay_event_queue_close(c->ws, code, (const uint8_t *)reason, reason ? strlen(reason) : 0);
    if (r != 0 && r != WSLAY_ERR_NO_MORE_MSG) return TB_ENOMEM;
    return tbp_ws_conn_flush(c);
}

bool tbp_ws_conn_ping(ws_conn *c) {
    if (!c->ws || c->phase != WS_PHASE_OPEN) return true;
    /* unread bytes wait in the socket while the flow is paused: the peer is there */
    bool unread = c->link.rd_wait == 0 || c->pre_off < c->pre_len;
    if (c->ping_out && !c->heard && !unread) return false;
    c->heard = false;
    c->ping_out = true;
    struct wslay_event_msg m = {WSLAY_PING, NULL, 0};
    if (wslay_event_queue_msg(c->ws, &m) == 0) tbp_ws_conn_flush(c);
    return true;
}

bool tbp_ws_conn_done(const ws_conn *c) {
    if (c->phase == WS_PHASE_CLOSING) return true;
    if (!c->ws) return false;
    return !wslay_event_get_read_enabled(c->ws) && !wslay_event_want_write(c->ws);
}

uint16_t tbp_ws_conn_code_sent(const ws_conn *c) {
    return c->ws && wslay_event_get_close_sent(c->ws) ? wslay_event_get_status_code_sent(c->ws) : 0;
}

uint16_t tbp_ws_conn_code_received(const ws_conn *c) {
    return c->ws && wslay_event_get_close_received(c->ws) ? wslay_event_get_status_code_received(c->ws) : 0;
}

void tbp_ws_conn_free(ws_conn *c, bool graceful, int status) {
    const tb_host_api *host = c->link.host;
    tb_context *ctx = c->link.ctx;
    if (c->ws) wslay_event_context_free(c->ws);
    c->ws = NULL;
    tbp_tcp_link_close(&c->link, graceful, status);
    if (host) {
        host->free(ctx, c->st);
        host->free(ctx, c->head);
    }
    c->head = c->st = NULL;
    c->st_len = c->st_cap = 0;
    c->head_len = c->pre_off = c->pre_len = 0;
}

const char *tbp_ws_code_text(uint16_t code) {
    switch (code) {
    case WSLAY_CODE_NORMAL_CLOSURE: return "normal closure";
    case WSLAY_CODE_GOING_AWAY: return "going away";
    case WSLAY_CODE_PROTOCOL_ERROR: return "protocol error";
    case WSLAY_CODE_UNSUPPORTED_DATA: return "unsupported data";
    case WSLAY_CODE_NO_STATUS_RCVD: return "no status";
    case WSLAY_CODE_INVALID_FRAME_PAYLOAD_DATA: return "invalid payload (text that is not UTF-8)";
    case WSLAY_CODE_POLICY_VIOLATION: return "policy violation";
    case WSLAY_CODE_MESSAGE_TOO_BIG: return "message too big";
    case WSLAY_CODE_INTERNAL_SERVER_ERROR: return "internal error";
    default: return "closed";
    }
}
