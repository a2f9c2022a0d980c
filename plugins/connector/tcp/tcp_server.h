/*
 * tcp_server.h - the `tcp_server` connector's instance and connections, shared by
 * tcp_server.c (options, lifecycle, listening, accepting, closing connections) and
 * tcp_server_io.c (the source half: pull; the sink half: push).
 *
 * Every accepted connection is a stream: its id is the instance's stream base plus a counter,
 * never reused while the instance lives. Connections are kept in accept order (so in counter
 * order) for lookup by stream, and those with something to read on a ready list, served
 * round-robin by pull.
 *
 * Ownership: the instance, its connections and arrays are host memory, freed by destroy; the
 * instance owns the listening socket, and each connection its link (socket and TLS state).
 * Thread contract: create and destroy on a control thread, everything else on the instance's
 * thread.
 */
#ifndef TBP_TCP_SERVER_H
#define TBP_TCP_SERVER_H

#include <netinet/in.h>

#include "tcp.h"

typedef struct tcp_conn tcp_conn;
typedef struct tcp_server tcp_server;

struct tcp_conn {
    tcp_link link;
    tcp_server *srv;
    uint32_t stream;
    uint32_t seq;              /* stream - srv->stream_base: the order of accepting */
    uint64_t offset;           /* bytes read: the next event's id */
    char host[INET6_ADDRSTRLEN];
    uint16_t port;
    bool has_data;             /* an event of its stream was emitted: the stream must end */
    bool ended;                /* its stream end was emitted (or queued) */
    bool rd_eof;               /* the peer closed its side: the write half lingers */
    uint64_t timer_id;         /* the handshake deadline, or the linger; 0: none */
    uint64_t linger_sent;      /* link.sent when the linger timer was armed */
    tcp_conn *prev, *next;     /* on the ready list (ready is set) */
    bool ready;
};

/* A stream whose connection went away outside pull: its end is emitted by the next pull. */
typedef struct tcp_end {
    uint32_t stream;
    uint64_t offset;
} tcp_end;

struct tcp_server {
    const tb_host_api *host;
    tb_context *ctx;
    tcp_addr addr;
    char where[TCP_HOST_MAX + 8]; /* host:port configured, then as bound */
    uint32_t backlog;
    uint32_t max_connections;
    size_t buf_size;
    uint8_t *scratch;             /* buf_size bytes: every read lands here first */
    bool no_delay;
    uint64_t linger_ns;
    uint64_t handshake_ns;
    SSL_CTX *tls;                 /* NULL: plain TCP */
    tcp_track track;

    int listen_fd;                /* -1: not listening */
    uint64_t listen_watch;
    uint64_t accept_timer;        /* accepting paused after running out of descriptors */
    bool stopped;

    tcp_conn **conns;             /* open connections by seq, ascending */
    uint32_t nconns, conns_cap;
    tcp_conn *ready_head, *ready_tail;
    tcp_end *ends;
    uint32_t nends, ends_cap;
    uint32_t stream_base;
    uint32_t next_seq;

    uint64_t refused;             /* connections refused over max_connections */
    uint64_t undeliverable;       /* events the sink could not write */
    uint64_t tls_failures;        /* handshakes that failed */
    uint32_t m_accepted, m_refused, m_open, m_port, m_undeliverable;
};

/* The connection whose stream is stream, or NULL. */
tcp_conn *tbp_tcp_server_find(tcp_server *s, uint32_t stream);

/* Puts c on (or takes it off) the ready list; tbp_tcp_server_rotate moves the head to the
 * tail (fairness between connections). */
void tbp_tcp_server_ready(tcp_server *s, tcp_conn *c, bool ready);
void tbp_tcp_server_rotate(tcp_server *s);

/* The connection is gone (why: NULL when it ended normally, else logged): its stream end is
 * queued if it had data and none was emitted yet, it leaves the lists, its link is closed
 * (pending bytes fail) and it is freed. */
void tbp_tcp_server_drop(tcp_server *s, tcp_conn *c, const char *why);

/* The peer closed its side (pull read the end): the write half stays open until nothing was
 * written for linger_ms, then the connection is dropped. */
void tbp_tcp_server_linger(tcp_server *s, tcp_conn *c);

/* Listens if it does not yet (connect, or the first pull without it). */
int tbp_tcp_server_listen(tcp_server *s);

/* Metrics, ignoring those that could not be registered. */
void tbp_tcp_server_count(tcp_server *s, uint32_t id, int64_t delta);

/* The source and sink halves (tcp_server_io.c). */
int TB_CALL tbp_tcp_server_pull(void *instance, tb_batch *out);
int TB_CALL tbp_tcp_server_push(void *instance, tb_batch *in);

#endif
