/*
 * ws_server.h - the `ws_server` connector's instance and connections, shared by ws_server.c
 * (options, lifecycle, listening, accepting, handshakes, keep-alive, closing connections) and
 * ws_server_io.c (the source half: pull; the sink half: push).
 *
 * Every accepted connection is a stream: its id is the instance's stream base plus a counter,
 * never reused while the instance lives. Connections are kept in accept order (so in counter
 * order) for lookup by stream, and those whose messages wait to be read on a ready list,
 * served round-robin by pull.
 *
 * Ownership: the instance, its connections and arrays are host memory, freed by destroy; the
 * instance owns the listening socket, and each connection its ws_conn (socket, TLS state,
 * wslay context). Thread contract: create and destroy on a control thread, everything else on
 * the instance's thread.
 */
#ifndef TBP_WS_SERVER_H
#define TBP_WS_SERVER_H

#include <netinet/in.h>

#include "ws.h"

typedef struct ws_sconn ws_sconn;
typedef struct ws_server ws_server;

struct ws_sconn {
    ws_conn ws;                /* first */
    ws_server *srv;
    uint32_t stream;
    uint32_t seq;              /* stream - srv->stream_base: the order of accepting */
    uint64_t next_id;          /* messages emitted: the next event's id */
    char host[INET6_ADDRSTRLEN];
    uint16_t port;
    char path[WS_PATH_MAX];    /* the request target */
    bool has_data;             /* an event of its stream was emitted: the stream must end */
    bool ended;                /* its stream end was emitted (or queued) */
    uint64_t timer_id;         /* the handshake deadline, or the closing deadline; 0: none */
    ws_sconn *prev, *next;     /* on the ready list (ready is set) */
    bool ready;
    bool lingering;            /* closing: reading what the peer still sends, until it closes */
    bool half_closed;          /* our FIN was sent */
};

/* A stream whose connection went away outside pull: its end is emitted by the next pull. */
typedef struct ws_end {
    uint32_t stream;
    uint64_t id;
} ws_end;

struct ws_server {
    const tb_host_api *host;
    tb_context *ctx;
    tcp_addr addr;
    char where[TCP_HOST_MAX + 8];  /* host:port configured, then as bound */
    char path[WS_PATH_MAX];        /* the only path accepted, when has_path */
    bool has_path;
    uint32_t backlog;
    uint32_t max_connections;
    uint64_t max_message;
    uint64_t ping_ns;              /* 0: no keep-alive pings */
    uint64_t handshake_ns;
    bool no_delay;
    bool binary;                   /* answers as binary messages unless the event says otherwise */
    SSL_CTX *tls;                  /* NULL: plain TCP */
    tcp_track track;

    int listen_fd;                 /* -1: not listening */
    uint64_t listen_watch;
    uint64_t accept_timer;         /* accepting paused after running out of descriptors */
    uint64_t ping_timer;
    bool stopped;

    ws_sconn **conns;              /* open connections by seq, ascending */
    uint32_t nconns, conns_cap;
    ws_sconn *ready_head, *ready_tail;
    ws_end *ends;
    uint32_t nends, ends_cap;
    uint32_t stream_base;
    uint32_t next_seq;

    /* the batch pull is filling (for the message callback) */
    tb_batch *out;
    uint32_t limit;
    size_t taken;
    uint64_t now;

    uint64_t refused, undeliverable, bad_handshakes, protocol_errors;
    uint32_t m_accepted, m_refused, m_open, m_port, m_undeliverable, m_in, m_out, m_bad_handshakes, m_protocol;
};

/* The connection whose stream is stream, or NULL. */
ws_sconn *tbp_ws_server_find(ws_server *s, uint32_t stream);

/* Puts c on (or takes it off) the ready list; rotate moves the head to the tail. */
void tbp_ws_server_ready(ws_server *s, ws_sconn *c, bool ready);
void tbp_ws_server_rotate(ws_server *s);

/* The connection is gone (why: NULL when it ended normally, else logged): its stream end is
 * queued if it had data and none was emitted yet, it leaves the lists, its link is closed
 * (pending bytes fail) and it is freed. */
void tbp_ws_server_drop(ws_server *s, ws_sconn *c, const char *why);

/* Reading or writing found the connection finished (the close handshake is over, or a
 * protocol error was answered with a close frame): it is reported, then closed once its
 * buffered bytes are written (or after a deadline). */
void tbp_ws_server_finish(ws_server *s, ws_sconn *c);

/* Listens if it does not yet (connect, or the first pull without it). */
int tbp_ws_server_listen(ws_server *s);

/* Metrics, ignoring those that could not be registered. */
void tbp_ws_server_count(ws_server *s, uint32_t id, int64_t delta);

/* The message callback of every connection (ws_server_io.c). */
int tbp_ws_server_on_msg(void *owner, ws_conn *c, const uint8_t *p, size_t n, bool binary);

/* The source and sink halves (ws_server_io.c). */
int TB_CALL tbp_ws_server_pull(void *instance, tb_batch *out);
int TB_CALL tbp_ws_server_push(void *instance, tb_batch *in);

#endif
