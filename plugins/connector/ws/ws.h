/*
 * ws.h - the `ws` plugin: the `ws_server` and `ws_client` WebSocket connectors, and what their
 * files share:
 *   ws_plugin.c      the descriptor, permissions
 *   ws_http.c        the HTTP/1.1 Upgrade handshake (RFC 6455 section 4): the request a
 *                    server reads and answers, the request a client sends and the answer it
 *                    checks, Sec-WebSocket-Key/Accept; the "url" option
 *   ws_conn.c        one WebSocket connection: a tcp_link (the tcp plugin's socket layer, plain
 *                    or TLS) carrying wslay's frames; reading messages, queueing them, pings,
 *                    the close handshake
 *   ws_server.c      ws_server: options, lifecycle, listening, accepting, handshakes
 *   ws_server_io.c   ws_server: pull (one stream per connection) and push (by stream)
 *   ws_client.c      ws_client: options, lifecycle, connecting, pull and push
 *
 * wslay does the framing only (frames, fragmentation, masking, ping/pong, close) and no I/O:
 * its recv and send callbacks read from and write to the tcp_link, so sockets stay on
 * temblor's event loop (host->fd_watch, timers) and the link buffers what a socket does not
 * take, tracks batches by position and opens the circuit breaker (tcp_track.c) as it does for
 * tcp_server. wslay allocates with malloc (its message queues and receive buffers): that
 * memory is not accounted to the plugin.
 *
 * Ownership: every struct here is host memory of the instance that holds it, freed by its
 * destroy; a ws_conn owns its link, its wslay context and its handshake buffer. Thread
 * contract: create and destroy on a control thread, everything else (fd and timer callbacks
 * included) on the instance's thread, one call at a time.
 */
#ifndef TBP_WS_H
#define TBP_WS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <wslay/wslay.h>

#include "tcp.h"

#define WS_HEAD_MAX 8192u             /* the most bytes of an HTTP handshake head */
#define WS_PATH_MAX 1024u             /* a request path, NUL included */
#define WS_KEY_LEN 24u                /* base64 of 16 bytes */
#define WS_ACCEPT_LEN 28u             /* base64 of a SHA-1 */
#define WS_FRAME_MAX (64u * 1024u)    /* messages larger than this go out in frames of 4 KiB */
#define WS_DEFAULT_MAX_MESSAGE "16777216"

/* ---- the handshake and the url (ws_http.c) ------------------------------------------------ */

/* Sec-WebSocket-Accept for key (key[0..n)): base64(SHA-1(key + GUID)), NUL-terminated in out.
 * false when OpenSSL fails. */
bool tbp_ws_accept_for(const char *key, size_t n, char out[WS_ACCEPT_LEN + 1]);

/* A fresh random Sec-WebSocket-Key, NUL-terminated. false when OpenSSL has no randomness. */
bool tbp_ws_new_key(char out[WS_KEY_LEN + 1]);

/* What a server made of a request head (head[0..n), the blank line included). */
typedef struct ws_request {
    int status;               /* 101 to upgrade, else the HTTP status to refuse with */
    const char *why;          /* a refusal's reason (static text) */
    char path[WS_PATH_MAX];   /* the request target */
    char accept[WS_ACCEPT_LEN + 1];
} ws_request;

/* Parses and checks an upgrade request; want_path NULL accepts any path. */
void tbp_ws_parse_request(const char *head, size_t n, const char *want_path, ws_request *out);

/* The index just past the blank line ending a head in p[0..n), or 0 when there is none yet. */
size_t tbp_ws_head_end(const uint8_t *p, size_t n);

/* Checks a server's answer head against the key sent. TB_OK (101 with the right accept), else
 * TB_EIO with the reason in why ("HTTP 404 Not Found", ...). */
int tbp_ws_check_response(const char *head, size_t n, const char *key, char *why, size_t why_size);

/* A parsed "url" option: "[ws://|wss://]host:port[/path]" (server: the path is ignored unless
 * the "path" option says otherwise; client: the default path is "/"). */
typedef struct ws_url {
    tcp_addr addr;
    bool tls;                 /* wss:// */
    bool has_scheme;
    char path[WS_PATH_MAX];   /* "/" when none */
} ws_url;

/* Parses url (url[0..n)). TB_OK, or TB_EINVAL with a message naming the url. */
int tbp_ws_parse_url(const tb_host_api *host, tb_context *ctx, const char *url, size_t n, bool allow_port_0,
                     ws_url *out);

/* ---- one WebSocket connection (ws_conn.c) ------------------------------------------------- */

enum {
    WS_PHASE_HTTP = 0,  /* the HTTP handshake is under way */
    WS_PHASE_OPEN,      /* messages flow */
    WS_PHASE_CLOSING,   /* a close frame was sent or a refusal answered: TCP closes once flushed */
};

typedef struct ws_conn ws_conn;

/* A whole message arrived (binary or text). Returns TB_OK, or TB_ENOMEM: reading stops. */
typedef int (*ws_msg_fn)(void *owner, ws_conn *c, const uint8_t *p, size_t n, bool binary);

struct ws_conn {
    tcp_link link;                 /* first: a tcp_note_fn's link is its ws_conn */
    wslay_event_context_ptr ws;    /* NULL until the handshake is done */
    uint32_t phase;                /* WS_PHASE_* */
    bool server;
    uint64_t max_message;

    /* the handshake head, read until its blank line (host memory, WS_HEAD_MAX bytes) */
    uint8_t *head;
    size_t head_len;
    /* bytes read past the head: wslay reads them first */
    size_t pre_off, pre_len;       /* head[pre_off, pre_len) */

    ws_msg_fn on_msg;
    void *owner;
    size_t turn;                   /* bytes wslay may still read in this turn */
    int rd;                        /* what the last read met: TB_OK (turn used up), TB_EAGAIN,
                                      TB_EOF, TB_EIO */
    int msg_err;                   /* on_msg failed */
    bool heard;                    /* something arrived since the last ping */
    bool ping_out;                 /* a ping waits for its answer */

    /* frames wslay wrote, for the link in one piece (host memory) */
    uint8_t *st;
    size_t st_len, st_cap;

    /* a large message going out in frames: its bytes (valid during the push) */
    const uint8_t *frag;
    size_t frag_len, frag_off;

    uint64_t msgs_in, msgs_out;
};

/* Sets the connection's fields other than its link (which the caller opens); the handshake
 * buffer is allocated here. TB_OK or TB_ENOMEM. */
int tbp_ws_conn_init(ws_conn *c, const tb_host_api *host, tb_context *ctx, bool server, uint64_t max_message,
                     ws_msg_fn on_msg, void *owner);

/* Reads the handshake head: TB_OK once head[0..head_len) holds it (what came after it is kept
 * for wslay), TB_EAGAIN (the watch is armed), TB_EOF, TB_EIO (link.err says why), TB_EINVAL
 * (the head is larger than WS_HEAD_MAX). */
int tbp_ws_conn_read_head(ws_conn *c);

/* Makes the wslay context before the handshake is done (a client, so that pushes meanwhile
 * are queued in it). TB_OK or TB_ENOMEM. */
int tbp_ws_conn_prepare(ws_conn *c);

/* The handshake is done: messages may flow (the caller then flushes what was queued). TB_OK
 * or TB_ENOMEM. */
int tbp_ws_conn_open(ws_conn *c);

/* Reads frames for at most turn bytes, calling on_msg for every whole message, and writes what
 * wslay answers (pongs, a close reply). Returns c->rd: TB_OK (the turn is used up: more may be
 * there), TB_EAGAIN (nothing more now; the watch is armed), TB_EOF (the peer closed the TCP
 * connection), TB_EIO (the link broke); or on_msg's failure. After it, see tbp_ws_conn_done. */
int tbp_ws_conn_read(ws_conn *c, size_t turn);

/* Queues one message (text unless binary) and writes it to the link. TB_OK, TB_EAGAIN (the
 * handshake is under way and the context prepared: the message is copied and waits for
 * tbp_ws_conn_flush after the opening), TB_ECLOSED (a close frame was sent: no message may
 * follow) or TB_EIO (the link broke; link.err). */
int tbp_ws_conn_send(ws_conn *c, const uint8_t *p, size_t n, bool binary);

/* Queues a close frame with code and reason and writes it; the connection is then closing. */
int tbp_ws_conn_close(ws_conn *c, uint16_t code, const char *reason);

/* Writes what wslay holds (TB_OK or TB_EIO). */
int tbp_ws_conn_flush(ws_conn *c);

/* Keep-alive: false when the last ping went unanswered and nothing arrived since (the peer is
 * gone), else sends a ping and returns true. */
bool tbp_ws_conn_ping(ws_conn *c);

/* The close handshake is over, or the protocol failed: once the link holds no unsent byte the
 * TCP connection should close. */
bool tbp_ws_conn_done(const ws_conn *c);

/* The close status wslay sent (0: none) and received (0: none). */
uint16_t tbp_ws_conn_code_sent(const ws_conn *c);
uint16_t tbp_ws_conn_code_received(const ws_conn *c);

/* Closes the link (graceful: a TLS close_notify attempt), failing batches still waiting on it
 * with status, and frees the wslay context and the head buffer. */
void tbp_ws_conn_free(ws_conn *c, bool graceful, int status);

/* The text of a close status ("message too big" for 1009). */
const char *tbp_ws_code_text(uint16_t code);

/* ---- metadata ----------------------------------------------------------------------------- */

/* A boolean at meta.<key>.<field>, or false. */
bool tbp_ws_meta_bool(const tb_value *meta, const char *key, const char *field, bool *out);

/* ---- the components ------------------------------------------------------------------------- */

extern const tb_component tbp_ws_server_component;
extern const tb_component tbp_ws_client_component;

#endif
