/*
 * unix_socket.h - the `unix_socket_server` and `unix_socket_client` connectors' instance,
 * shared by their files: unix_socket.c (options, create, destroy, the descriptor),
 * unix_server.c (binding, the stale socket file, accepting), unix_client.c (connecting),
 * unix_conn.c (one connection: its fd watch, its end, closing it), unix_read.c (the source
 * half of both) and unix_write.c (the sink half of both: writes that would block wait, in
 * the batches they came in, until the socket is writable).
 *
 * Both components keep their connections in one table of slots. A connection's stream id
 * carries its slot in the low slot_bits bits and the slot's generation above them, so the
 * sink finds the connection of a stream id in one step and never mistakes a later connection
 * in the same slot for it. The client is the table with two slots: each (re)connection is a
 * new stream.
 *
 * Ownership: the instance, its path, read buffer, slot tables and connections are host
 * memory, freed by destroy; the instance owns every fd it opened and its watches and timers.
 * Bytes waiting to be written live in the batches they came in: the runtime keeps a batch
 * for which push returned TB_EPENDING until host->delivered reports it, and the instance
 * reports every such batch before it forgets it (stop included).
 * Thread contract: as temblor.h says for connectors: create and destroy on a control thread,
 * every other callback and every fd or timer callback on the instance's thread.
 */
#ifndef TBP_UNIX_SOCKET_H
#define TBP_UNIX_SOCKET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <temblor/temblor.h>

typedef struct us_inst us_inst;
typedef struct us_conn us_conn;
typedef struct us_pending us_pending;

/* Bytes of one event still to be written to one connection: they point into the batch. */
typedef struct us_piece {
    struct us_piece *next; /* the connection's queue, oldest first */
    us_pending *batch;
    const uint8_t *p;
    size_t len;
} us_piece;

/* A pushed batch that push answered TB_EPENDING for: reported through host->delivered once
 * its last piece is written or failed. One allocation with room for a piece per event. */
struct us_pending {
    us_pending *prev, *next; /* the instance's list, to report at stop */
    uint64_t token;
    uint32_t left;           /* pieces neither written nor failed */
    uint32_t used, cap;      /* pieces[] */
    int status;              /* TB_OK, or the first failure */
    bool linked;             /* on the list: push has returned */
    us_piece pieces[];
};

struct us_conn {
    us_inst *in;
    int fd;
    uint32_t slot;
    uint32_t stream;
    uint64_t watch_id;     /* 0: not watched (the peer is gone, or never) */
    uint32_t watched;      /* TB_FD_* interest registered */
    bool read_armed;       /* a pull met EAGAIN: wait for TB_FD_READ */
    bool readable;         /* pull should read it */
    bool ended;            /* its TB_EF_STREAM_END was emitted: reads are over */
    bool hup;              /* the peer is gone altogether */
    bool write_dead;       /* writing failed: nothing more is written */
    bool throttled;        /* too much waits to be written: not read for now */
    bool emitted;          /* an event of its stream went out: its end must follow */
    bool closing;          /* given up for good (write timeout, a client's old connection):
                              pull ends its stream without reading on, then frees it */
    us_piece *out_head, *out_tail;
    size_t out_bytes;      /* waiting in out_head.. */
    uint64_t progress_ns;  /* when the peer last took bytes (or bytes began to wait) */
    bool has_cred;         /* the peer's credentials (server), for the meta */
    int32_t pid;
    uint32_t uid, gid;
};

struct us_inst {
    const tb_host_api *host;
    tb_context *ctx;
    bool server;
    char *path;               /* NUL-terminated */
    size_t buf_size;
    size_t write_buffer_size; /* per connection: above it a server stops reading it; the
                                 client opens its circuit */
    size_t circuit_bytes;     /* all connections: above it the circuit opens */
    uint64_t write_timeout_ns; /* 0: never */
    uint8_t *buf;             /* buf_size bytes: every read lands here first */
    uint64_t next_id;         /* event ids */

    /* the connections */
    us_conn **slots;          /* nslots entries, NULL when free */
    uint32_t *gens;           /* per slot: bumped each time it is taken */
    uint32_t nslots, slot_bits;
    us_conn **live;           /* the nlive connections, dense, for reading in turn */
    uint32_t nlive;
    uint32_t rr;              /* where the next pull starts reading */

    /* the sink half */
    us_pending *pending;      /* batches waiting for their pieces */
    size_t out_total;         /* bytes waiting, all connections */
    bool circuit_open;
    uint64_t timeout_timer;   /* 0: none */

    /* messages, a few and then every thousandth */
    uint64_t unroutable, refused;

    /* the runtime's "temblor.streams/1" (NULL: an older runtime), told of each closed
     * connection unless stop is closing them all (the runtime ends every stream itself) */
    const tb_ext_streams *streams;
    bool stopping;

    /* server */
    int mode;                 /* permissions of the socket file; -1: as the umask leaves it */
    uint32_t max_connections;
    int listen_fd;            /* -1: not listening */
    uint64_t listen_watch;
    uint64_t accept_timer;    /* out of fds: accepting again later */
    dev_t dev;                /* the socket file bound, removed at stop if still ours */
    ino_t ino;

    /* client */
    bool lost;                /* the connection broke: pull and push say TB_ECLOSED */
};

/* Log with a budget: the first ten of a kind, then every thousandth. */
void tbp_us_warn_limited(us_inst *u, uint64_t *count, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* unix_conn.c: a connection made of fd (owned from now on) in a free slot; NULL when out of
 * memory or slots (fd is then closed). */
us_conn *tbp_us_conn_new(us_inst *u, int fd);
/* Frees c: unwatches and closes its fd, fails what waits to be written, frees its slot, and
 * tells the runtime its stream is over. */
void tbp_us_conn_free(us_inst *u, us_conn *c);
/* A reload (unix_handover.c): release takes c out of u with its fd open and returns the fd
 * (its stream goes on in the new instance); adopt puts a connection handed over, fd, in the
 * slot its stream names (NULL: the slot is taken or out of memory; fd stays the caller's). */
int tbp_us_conn_release(us_inst *u, us_conn *c);
us_conn *tbp_us_conn_adopt(us_inst *u, int fd, uint32_t stream);

/* Tells the runtime nothing more can be written to stream (tbp_us_conn_free's last step; also
 * an answer for a stream no connection has), so it frees the stream's postprocessors. */
void tbp_us_stream_gone(us_inst *u, uint32_t stream);
/* The connection of stream, or NULL. */
us_conn *tbp_us_conn_of_stream(us_inst *u, uint32_t stream);
/* Registers the interest c needs now (read when armed, write while bytes wait); TB_OK or
 * TB_EIO with a message. */
int tbp_us_conn_watch(us_inst *u, us_conn *c);
/* Gives c up after a hang-up, a failed write or a write timeout: what waits to be written
 * fails, nothing more is written, what is unread is left for pull, which ends the stream;
 * a client's connection is lost. Does not free c. */
void tbp_us_conn_give_up(us_inst *u, us_conn *c);
/* Frees c if it is done: its stream ended and it can no longer be written to (or the
 * instance gave it up). Returns whether it was freed. */
bool tbp_us_conn_reap(us_inst *u, us_conn *c);
/* Closes every connection (and fails what they wait to write). */
void tbp_us_conn_close_all(us_inst *u);

/* unix_write.c */
int TB_CALL tbp_us_push(void *instance, tb_batch *in);
/* Writes what waits on c until the socket would block. */
void tbp_us_flush(us_inst *u, us_conn *c);
/* Fails every piece waiting on c (status for their batches). */
void tbp_us_fail_queue(us_inst *u, us_conn *c, int status);
/* Reports every batch still waiting as failed with status and forgets it. */
void tbp_us_fail_pending(us_inst *u, int status);
/* Opens or closes the circuit and throttles or resumes c after bytes came or went. */
void tbp_us_check_bounds(us_inst *u, us_conn *c);

/* unix_read.c */
int TB_CALL tbp_us_pull(void *instance, tb_batch *out);

/* unix_server.c */
int tbp_us_listen(us_inst *u);
void tbp_us_unlisten(us_inst *u);
/* A reload: release takes the listening socket out of u, unwatched and open, leaving the
 * socket file in place, and returns it (-1: none); adopt listens on fd, handed over, whose
 * socket file is dev/ino (closed on failure: TB_EIO). */
int tbp_us_release_listener(us_inst *u);
int tbp_us_adopt_listener(us_inst *u, int fd, dev_t dev, ino_t ino);

/* unix_handover.c: the server's save and restore */
int TB_CALL tbp_us_save(void *instance, tb_arena *a, tb_value *out);
int TB_CALL tbp_us_restore(void *instance, const tb_value *saved);

/* unix_client.c */
int tbp_us_connect_client(us_inst *u);

#endif
