/*
 * tcp_server.h - the `tcp_server` connector's instance and connections, shared by
 * tcp_server.c (options, lifecycle, listening, accepting, closing connections) and
 * tcp_server_io.c (the source half: pull; the sink half: push).
 *
 * Every accepted connection is a stream of the instance's connection set (tcp_conns.c): its id
 * is the set's stream base plus a counter, never reused while the instance lives; the set keeps
 * connections in accept order for lookup by stream, and those with something to read on a
 * ready list, served round-robin by pull. A connection's next event id (its node's next_id) is
 * the number of bytes read from it.
 *
 * Ownership: the instance, its connections and arrays are host memory, freed by destroy; the
 * instance owns the listening socket, and each connection its link (socket and TLS state).
 * Thread contract: create and destroy on a control thread, everything else on the instance's
 * thread.
 */
#ifndef TBP_TCP_SERVER_H
#define TBP_TCP_SERVER_H

#include "tcp.h"

typedef struct tcp_conn tcp_conn;
typedef struct tcp_server tcp_server;

struct tcp_conn {
    tcp_link link;
    tcp_server *srv;
    tcp_node node;             /* in srv->conns: stream, peer, ready list */
    bool rd_eof;               /* the peer closed its side: the write half lingers */
    uint64_t timer_id;         /* the handshake deadline, or the linger; 0: none */
    uint64_t linger_sent;      /* link.sent when the linger timer was armed */
};

struct tcp_server {
    const tb_host_api *host;
    tb_context *ctx;
    size_t buf_size;
    uint8_t *scratch;             /* buf_size bytes: every read lands here first */
    bool no_delay;
    uint64_t linger_ns;
    uint64_t handshake_ns;
    SSL_CTX *tls;                 /* NULL: plain TCP */
    tcp_track track;
    tcp_listener listener;
    bool stopped;
    tcp_conns conns;

    uint64_t undeliverable;       /* events the sink could not write */
    uint64_t tls_failures;        /* handshakes that failed */
    uint32_t m_port, m_undeliverable;
};

/* The connection is gone (why: NULL when it ended normally, else logged): its stream end is
 * queued if it had data and none was emitted yet, it leaves the set, its link is closed
 * (pending bytes fail) and it is freed. */
void tbp_tcp_server_drop(tcp_server *s, tcp_conn *c, const char *why);

/* The peer closed its side (pull read the end): the write half stays open until nothing was
 * written for linger_ms, then the connection is dropped. */
void tbp_tcp_server_linger(tcp_server *s, tcp_conn *c);

/* A connection's link notes (tcp_link.h): opened, readable, broken. */
void tbp_tcp_server_note(void *owner, tcp_link *l, uint32_t notes);

/* save and restore (tcp_handover.c): the sockets move to the new build on a reload. */
int TB_CALL tbp_tcp_server_save(void *instance, tb_arena *a, tb_value *out);
int TB_CALL tbp_tcp_server_restore(void *instance, const tb_value *saved);

/* Listens if it does not yet (connect, or the first pull without it). */
int tbp_tcp_server_listen(tcp_server *s);

/* The source and sink halves (tcp_server_io.c). */
int TB_CALL tbp_tcp_server_pull(void *instance, tb_batch *out);
int TB_CALL tbp_tcp_server_push(void *instance, tb_batch *in);

#endif
