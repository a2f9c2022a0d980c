/*
 * ws_server.h - the `ws_server` connector's instance and connections, shared by ws_server.c
 * (options, lifecycle, listening, accepting, handshakes, keep-alive, closing connections) and
 * ws_server_io.c (the source half: pull; the sink half: push).
 *
 * Every accepted connection is a stream of the instance's connection set (the tcp plugin's
 * tcp_conns.c): its id is the set's stream base plus a counter, never reused while the instance
 * lives; the set keeps connections in accept order for lookup by stream, and those whose
 * messages wait to be read on a ready list, served round-robin by pull. A connection's next
 * event id (its node's next_id) is the number of messages emitted from it.
 *
 * Ownership: the instance, its connections and arrays are host memory, freed by destroy; the
 * instance owns the listening socket, and each connection its ws_conn (socket, TLS state,
 * wslay context). Thread contract: create and destroy on a control thread, everything else on
 * the instance's thread.
 */
#ifndef TBP_WS_SERVER_H
#define TBP_WS_SERVER_H

#include "ws.h"

typedef struct ws_sconn ws_sconn;
typedef struct ws_server ws_server;

struct ws_sconn {
    ws_conn ws;                /* first */
    ws_server *srv;
    tcp_node node;             /* in srv->conns: stream, peer, ready list */
    char path[WS_PATH_MAX];    /* the request target */
    uint64_t timer_id;         /* the handshake deadline, or the closing deadline; 0: none */
    bool lingering;            /* closing: reading what the peer still sends, until it closes */
    bool half_closed;          /* our FIN was sent */
};

struct ws_server {
    const tb_host_api *host;
    tb_context *ctx;
    char path[WS_PATH_MAX];        /* the only path accepted, when has_path */
    bool has_path;
    uint64_t max_message;
    uint64_t ping_ns;              /* 0: no keep-alive pings */
    uint64_t handshake_ns;
    bool no_delay;
    bool binary;                   /* answers as binary messages unless the event says otherwise */
    SSL_CTX *tls;                  /* NULL: plain TCP */
    tcp_track track;
    tcp_listener listener;
    uint64_t ping_timer;
    bool stopped;
    tcp_conns conns;

    /* the batch pull is filling (for the message callback) */
    tb_batch *out;
    uint32_t limit;
    size_t taken;
    uint64_t now;

    uint64_t undeliverable, bad_handshakes, protocol_errors;
    uint32_t m_port, m_undeliverable, m_in, m_out, m_bad_handshakes, m_protocol;
};

/* The connection is gone (why: NULL when it ended normally, else logged): its stream end is
 * queued if it had data and none was emitted yet, it leaves the set, its link is closed
 * (pending bytes fail) and it is freed. */
void tbp_ws_server_drop(ws_server *s, ws_sconn *c, const char *why);

/* Reading or writing found the connection finished (the close handshake is over, or a
 * protocol error was answered with a close frame): it is reported, then closed once its
 * buffered bytes are written (or after a deadline). */
void tbp_ws_server_finish(ws_server *s, ws_sconn *c);

/* Listens if it does not yet (connect, or the first pull without it). */
int tbp_ws_server_listen(ws_server *s);

/* The message callback of every connection (ws_server_io.c). */
int tbp_ws_server_on_msg(void *owner, ws_conn *c, const uint8_t *p, size_t n, bool binary);

/* The source and sink halves (ws_server_io.c). */
int TB_CALL tbp_ws_server_pull(void *instance, tb_batch *out);
int TB_CALL tbp_ws_server_push(void *instance, tb_batch *in);

#endif
