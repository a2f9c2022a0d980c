/*
 * tcp.h - the `tcp` plugin: the `tcp_server` and `tcp_client` connectors, and what their files
 * share:
 *   tcp_plugin.c       the descriptor, permissions
 *   tcp_addr.c         url / host+port options, peer metadata
 *   tcp_tls.c          OpenSSL contexts from the `tls` option, error texts
 *   tcp_link.c         one non-blocking socket (plain or TLS): readiness, reads, buffered
 *                      writes, the connect and handshake state machine
 *   tcp_track.c        batches a sink answered TB_EPENDING for, and the circuit breaker
 *   tcp_conns.c        a server's connections: the table by stream, the ready list, the stream
 *                      ends queued for the next pull, admission under max_connections
 *   tcp_listen.c       a server's listening socket: listening, accepting, pausing
 *   tcp_dial.c         a client's connecting: resolving, a non-blocking connect to each address
 *                      in turn, its TLS object, the connect deadline
 *   tcp_server.c       tcp_server: options, lifecycle, listening, accepting, connections
 *   tcp_server_io.c    tcp_server: pull (one stream per connection) and push (by stream)
 *   tcp_client.c       tcp_client: options, lifecycle, pull and push
 *
 * tcp_addr.c to tcp_dial.c are the static library tbp_tcp_net, which the ws plugin links too.
 *
 * Ownership: every struct here is host memory of the instance that holds it, freed by that
 * instance's destroy; a link owns its fd and its SSL object, a listener its socket. Thread contract: as temblor.h
 * says for connectors: create and destroy on a control thread, everything else (fd and timer
 * callbacks included) on the instance's thread, one call at a time; nothing here is shared
 * between instances except OpenSSL's own thread-safe global state.
 */
#ifndef TBP_TCP_H
#define TBP_TCP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>
#include <sys/uio.h>

#include <openssl/ssl.h>
#include <temblor/temblor.h>

#define TCP_HOST_MAX 256         /* a host name or numeric address, NUL included */
#define TCP_MAX_CHUNK (1u << 30) /* an event's bytes must fit tb_value.len */

/* ---- addresses (tcp_addr.c) ------------------------------------------------------------- */

typedef struct tcp_addr {
    char host[TCP_HOST_MAX]; /* without brackets for IPv6 */
    uint16_t port;
} tcp_addr;

/* Reads the address from config: "url" ("host:port", "[v6]:port", optionally "tcp://" in
 * front), or "host" and "port". default_host is used when only "port" is set (NULL: a host is
 * required); port 0 is accepted only with allow_port_0. TB_OK or TB_EINVAL with a message. */
int tbp_tcp_addr_from_config(const tb_host_api *host, tb_context *ctx, const tb_value *config,
                             const char *default_host, bool allow_port_0, tcp_addr *out);

/* "host:port", or "[host]:port" when host holds a ':'. */
void tbp_tcp_addr_format(const char *host, uint16_t port, char *buf, size_t size);

/* The numeric host and port of a socket address. */
void tbp_tcp_sockaddr_text(const void *sa, char *host, size_t host_size, uint16_t *port);

/* meta = {key: {"peer": {"host": host, "port": port}, "tls": tls}}, built in arena; host is
 * copied once by the caller into the arena (host_copy, host_len). false when out of memory. */
bool tbp_tcp_peer_meta(tb_arena *arena, tb_value *meta, const char *key, const char *host_copy,
                       size_t host_len, uint16_t port, bool tls);

/* CLOCK_REALTIME nanoseconds, for tb_event.ingest_ns. */
uint64_t tbp_tcp_realtime_ns(void);

/* ---- metrics and rate-limited logs (inline) ------------------------------------------------- */

/* Registers metric name of type in *id, or sets it to UINT32_MAX when that fails (the metric is
 * then ignored). */
static inline void tbp_tcp_metric(const tb_host_api *host, tb_context *ctx, const char *name, uint32_t type,
                                  uint32_t *id) {
    if (host->metric_register(ctx, name, type, id) != TB_OK) *id = UINT32_MAX;
}

/* Adds delta to metric id, unless it could not be registered. */
static inline void tbp_tcp_count(const tb_host_api *host, tb_context *ctx, uint32_t id, int64_t delta) {
    if (id != UINT32_MAX) host->metric_add(ctx, id, delta);
}

/* Whether the nth occurrence of something a peer can cause at will is logged: the first ten,
 * then every thousandth, so that a flood does not flood the log too. */
static inline bool tbp_tcp_worth_logging(uint64_t n) { return n <= 10 || n % 1000 == 0; }

/* ---- TLS (tcp_tls.c) -------------------------------------------------------------------- */

/* The SSL_CTX for a server from the "tls" option ({"cert", "key", optional "cafile"}), or
 * NULL in *out when tls is absent or null. TB_OK, or TB_EINVAL/TB_ENOMEM with a message. */
int tbp_tcp_tls_server_ctx(const tb_host_api *host, tb_context *ctx, const tb_value *tls,
                           SSL_CTX **out);

/* The client's TLS settings from the "tls" option: false/absent (none), true (verify against
 * the system's CAs and the host name) or {"cafile", "domain", "cert", "key", "verify"}.
 * *out is NULL without TLS; server_name receives the name to send and verify (the host, or
 * "domain"). */
int tbp_tcp_tls_client_ctx(const tb_host_api *host, tb_context *ctx, const tb_value *tls,
                           const char *default_name, SSL_CTX **out, char *server_name,
                           size_t name_size, bool *verify);

/* A new SSL object of c for one connection: server side, or client side sending name (SNI,
 * unless it is an address) and, with verify, checking the certificate against it. NULL with
 * the reason in err. */
SSL *tbp_tcp_tls_new(SSL_CTX *c, bool server, const char *name, bool verify, char *err,
                     size_t err_size);

/* The reason for OpenSSL's last failure on this thread (its error queue, emptied), or
 * fallback. */
void tbp_tcp_tls_error(char *buf, size_t size, const char *fallback);

/* ---- delivery tracking and the circuit breaker (tcp_track.c) ------------------------------ */

typedef struct tcp_batch {
    uint64_t token;     /* 0: free slot */
    uint32_t remaining; /* the push, and links still holding bytes of the batch */
    int status;         /* TB_OK, or the first failure */
} tcp_batch;

typedef struct tcp_track {
    const tb_host_api *host;
    tb_context *ctx;
    tcp_batch *batches;
    uint32_t nbatches;   /* slots in use or free */
    uint32_t cap;
    uint32_t live;       /* slots in use */
    size_t max_buffered; /* a link holding more unsent bytes opens the circuit */
    uint32_t over;       /* links over max_buffered */
} tcp_track;

void tbp_tcp_track_init(tcp_track *t, const tb_host_api *host, tb_context *ctx, size_t max_buffered);
void tbp_tcp_track_fini(tcp_track *t);
/* A slot for the batch with token, held by the push until tbp_tcp_track_finish_push (links
 * then mark it with tbp_tcp_link_mark); UINT32_MAX when out of memory. */
uint32_t tbp_tcp_track_open(tcp_track *t, uint64_t token);
/* One more link holds bytes of batch slot. */
void tbp_tcp_track_hold(tcp_track *t, uint32_t slot);
/* A link is done with batch slot, with status: reported through host->delivered once nothing
 * holds any of it. */
void tbp_tcp_track_release(tcp_track *t, uint32_t slot, int status);
/* The push is done with slot; status is TB_OK or why some of its events failed. Returns
 * TB_OK when everything was written and nothing failed (the slot is freed, nothing is
 * reported), else TB_EPENDING: the batch is reported through host->delivered, at once when no
 * link holds bytes of it. */
int tbp_tcp_track_finish_push(tcp_track *t, uint32_t slot, int status);
/* The push failed as a whole and says so with its status: the slot is forgotten without a
 * report (unless a link still holds some of it, which then reports it failed). */
void tbp_tcp_track_drop(tcp_track *t, uint32_t slot);
/* A link went over (true) or back under (false) its bound: the circuit opens with the first
 * and closes with the last. */
void tbp_tcp_track_over(tcp_track *t, bool over);

/* ---- one socket (tcp_link.c) ------------------------------------------------------------ */

enum {
    TCP_LINK_CLOSED = 0,
    TCP_LINK_CONNECTING, /* a client's connect is under way */
    TCP_LINK_HANDSHAKE,  /* the TLS handshake is under way */
    TCP_LINK_OPEN,
    TCP_LINK_BROKEN      /* failed: why is in err; the fd is closed */
};

/* What a link's readiness callback tells its owner (bits). */
enum {
    TCP_NOTE_READABLE = 1u << 0, /* a read may give data, an end or an error now */
    TCP_NOTE_OPENED = 1u << 1,   /* connected, handshake done */
    TCP_NOTE_BROKEN = 1u << 2,   /* the link failed (state BROKEN, err says why) */
    TCP_NOTE_FLUSHED = 1u << 3   /* some buffered bytes went out */
};

typedef struct tcp_link tcp_link;
/* Called last in a link's fd callback with TCP_NOTE_* bits; it may close and free the link. */
typedef void (*tcp_note_fn)(void *owner, tcp_link *link, uint32_t notes);

typedef struct tcp_mark {
    uint64_t end;  /* the batch's last byte on this link is before this position */
    uint32_t slot; /* its tcp_track slot */
} tcp_mark;

struct tcp_link {
    const tb_host_api *host;
    tb_context *ctx;
    tcp_track *track;
    tcp_note_fn note;
    void *owner;
    int fd;             /* -1 when closed */
    SSL *ssl;           /* NULL: plain TCP */
    uint32_t state;     /* TCP_LINK_* */
    uint64_t watch_id;  /* 0: not watched */
    uint32_t watching;  /* the TB_FD_* interest registered */
    uint32_t rd_wait;   /* what the reader waits for (TB_FD_*), 0: not waiting */
    uint32_t wr_wait;   /* what the writer waits for */
    uint32_t hs_wait;   /* what connect or the handshake waits for */
    bool hup;           /* error or hang-up reported: no watch any more, nothing blocks */
    bool over;          /* counted in track->over */
    int ssl_retry;      /* an SSL_write to repeat with exactly this length (0: none) */

    /* unsent bytes: out[head, head + len) of cap */
    uint8_t *out;
    size_t head, len, cap;
    uint64_t queued;    /* bytes ever handed to the link */
    uint64_t sent;      /* bytes ever written */
    tcp_mark *marks;    /* batches waiting for their bytes to go, in order (a ring) */
    uint32_t mhead, mcount, mcap;

    char err[256];      /* why it broke */
};

/* A reload: takes a plain link's socket out of it, unwatched and open (nothing may be left
 * unsent), and returns it; l is closed. */
int tbp_tcp_link_release(tcp_link *l);

/* Sets up l around a connected or connecting socket fd (which it then owns) with ssl (owned
 * too, NULL for plain TCP). state is TCP_LINK_CONNECTING, TCP_LINK_HANDSHAKE or TCP_LINK_OPEN.
 * Registers the watch the state needs. TB_OK, or TB_EIO (fd and ssl closed, err says why). */
int tbp_tcp_link_open(tcp_link *l, const tb_host_api *host, tb_context *ctx, tcp_track *track,
                      tcp_note_fn note, void *owner, int fd, SSL *ssl, uint32_t state);

/* Unwatches and closes the socket (with a TLS close_notify attempt when graceful), fails the
 * batches still waiting on it with status, frees the buffers. The link may be opened again. */
void tbp_tcp_link_close(tcp_link *l, bool graceful, int status);

/* Marks l broken with the reason (printf-style), closing it as tbp_tcp_link_close with
 * status TB_ECLOSED. */
void tbp_tcp_link_fail(tcp_link *l, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Reads at most cap bytes into buf: TB_OK with *got > 0; TB_EAGAIN (the watch is armed:
 * TCP_NOTE_READABLE comes later); TB_EOF (the peer closed its side); TB_EIO (the link is
 * broken: err says why). Only in state OPEN. */
int tbp_tcp_link_read(tcp_link *l, void *buf, size_t cap, size_t *got);

/* Hands iov[0..cnt) to the link: written at once when it can be, the rest copied into the
 * link's buffer (in order) and written as the socket allows. TB_OK, or TB_EIO: the link broke
 * (err says why, out of memory included). Before the link is open everything is buffered. */
int tbp_tcp_link_send(tcp_link *l, const struct iovec *iov, int cnt);

/* The batch in track slot waits for what l holds now: a mark at l->queued (joined with the
 * last one if it is the same slot). Nothing when l holds no unsent byte. false when out of
 * memory (the caller counts the batch as failed). */
bool tbp_tcp_link_mark(tcp_link *l, uint32_t slot);

/* Ends the write side once nothing is buffered: shutdown(SHUT_WR) for plain TCP (the peer
 * reads an end while it can still send); nothing for TLS, whose close_notify comes with the
 * close. Only in state OPEN with nothing buffered; returns whether the FIN went out. */
bool tbp_tcp_link_shutdown_write(tcp_link *l);

/* Writes what is buffered as far as the socket takes it (the instance's drain and the fd
 * callback). TB_OK (possibly with bytes left), or TB_EIO. */
int tbp_tcp_link_flush(tcp_link *l);

/* Reads one chunk of at most chunk bytes from l into scratch (chunk bytes of the instance's)
 * and copies what was read into arena a. Returns as tbp_tcp_link_read, or TB_ENOMEM; *data
 * points at the bytes in the arena. */
int tbp_tcp_read_chunk(tcp_link *l, tb_arena *a, uint8_t *scratch, size_t chunk, const uint8_t **data,
                       size_t *got);

/* ---- a server's connections (tcp_conns.c) ------------------------------------------------- */

/* A server's connection as the set knows it: embedded in the plugin's connection struct, which
 * conn points back to. Every accepted connection is a stream whose id is the set's stream base
 * plus seq, a counter never reused while the set lives. */
typedef struct tcp_node tcp_node;
struct tcp_node {
    void *conn;                  /* the plugin's connection holding this node */
    uint32_t stream;
    uint32_t seq;                /* stream - stream_base: the order of accepting */
    uint64_t next_id;            /* the next event's id on the stream (its end's too) */
    char host[INET6_ADDRSTRLEN]; /* the peer, numeric */
    uint16_t port;
    bool has_data;               /* an event of its stream was emitted: the stream must end */
    bool ended;                  /* its stream end was emitted (or queued) */
    bool ready;                  /* on the ready list */
    tcp_node *prev, *next;       /* on the ready list */
};

/* A stream whose connection went away outside pull: its end is emitted by the next pull. */
typedef struct tcp_end {
    uint32_t stream;
    uint64_t id;
} tcp_end;

/* The open connections of a server, kept in accept order (so by seq) for lookup by stream;
 * those with something to read on a ready list, served round-robin by pull; and the stream
 * ends a pull still has to emit. It counts connections_accepted, connections_refused and
 * connections_open. Ownership: the arrays are host memory of the instance, freed by
 * tbp_tcp_conns_fini; the nodes belong to the plugin's connections. Thread contract: the
 * instance's thread (init and fini: where create and destroy run). */
typedef struct tcp_conns {
    const tb_host_api *host;
    tb_context *ctx;
    tcp_node **table;            /* open connections by seq, ascending */
    uint32_t n, cap;
    tcp_node *ready_head, *ready_tail;
    tcp_end *ends;
    uint32_t nends, ends_cap;
    uint32_t stream_base;
    uint32_t next_seq;
    uint32_t max;                /* max_connections */
    uint64_t refused;            /* connections refused over max */
    uint32_t m_accepted, m_refused, m_open;
    const tb_ext_streams *streams; /* the runtime's "temblor.streams/1"; NULL: an older runtime */
    bool stopping;               /* while stop closes them all: the runtime ends every stream
                                    itself, and destroy's thread may not be the instance's */
} tcp_conns;

/* Sets up an empty set of at most max connections, its stream base drawn from the clock and
 * salt (the instance's address), and registers its three metrics, in that order. */
void tbp_tcp_conns_init(tcp_conns *set, const tb_host_api *host, tb_context *ctx, uint32_t max,
                        const void *salt);

/* A reload (tcp_handover.c): detach takes node out of the set without ending its stream (its
 * connection goes on in the new instance); adopt puts a connection handed over in the set with
 * the stream it had (seq), in ascending order of seq below next_seq. false: out of memory or
 * out of order. */
void tbp_tcp_conns_detach(tcp_conns *set, tcp_node *node);
bool tbp_tcp_conns_adopt(tcp_conns *set, tcp_node *node, void *conn, uint32_t seq, const char *host, uint16_t port);

/* Tells the runtime that nothing more can be written to stream (its connection closed, or an
 * answer came for a stream no connection has), so it frees that stream's postprocessors. */
void tbp_tcp_conns_stream_gone(tcp_conns *set, uint32_t stream);

/* The same for a client: its connection's stream, when a reconnect begins a new one. */
void tbp_tcp_sink_stream_done(const tb_host_api *host, tb_context *ctx, uint32_t stream);

/* Frees the arrays; the connections must be gone already. */
void tbp_tcp_conns_fini(tcp_conns *set);

/* true when the set has room for the connection accepted as fd from host:port; else the
 * connection is refused: fd is closed, counted, and logged (the first ten, then every
 * thousandth), and false is returned. */
bool tbp_tcp_conns_admit(tcp_conns *set, int fd, const char *host, uint16_t port);

/* Makes room in the table for one more connection; false when out of memory. */
bool tbp_tcp_conns_reserve(tcp_conns *set);

/* Numbers node (zeroed by the caller) for a new connection: its stream, the peer (host is
 * copied), conn the struct holding it. It joins the set with tbp_tcp_conns_insert. */
void tbp_tcp_conns_number(tcp_conns *set, tcp_node *node, void *conn, const char *host, uint16_t port);

/* Adds a numbered node to the table (tbp_tcp_conns_reserve made room) and counts it. */
void tbp_tcp_conns_insert(tcp_conns *set, tcp_node *node);

/* The connection (its node's conn) whose stream is stream, or NULL. */
void *tbp_tcp_conns_find(tcp_conns *set, uint32_t stream);

/* Puts node on (or takes it off) the ready list; tbp_tcp_conns_rotate moves the head to the
 * tail (fairness between connections). */
void tbp_tcp_conns_ready(tcp_conns *set, tcp_node *node, bool ready);
void tbp_tcp_conns_rotate(tcp_conns *set);

/* The connection is gone (why: NULL when it ended normally, else logged at INFO): its stream
 * end is queued if it had data and none was emitted yet, it leaves the ready list and the
 * table and is counted. The caller then closes and frees its connection. */
void tbp_tcp_conns_remove(tcp_conns *set, tcp_node *node, const char *why);

/* Emits the queued stream ends into out while it holds fewer than limit events, as empty raw
 * TB_EF_STREAM_END events stamped now. TB_OK, or TB_ENOMEM (with a message). */
int tbp_tcp_conns_emit_ends(tcp_conns *set, tb_batch *out, uint32_t limit, uint64_t now);

/* The stream of node ends here, in out (pull read its end or an error): nothing when it had no
 * data or has ended already. TB_OK, or TB_ENOMEM (with a message). */
int tbp_tcp_conns_end_here(tcp_conns *set, tb_batch *out, tcp_node *node, uint64_t now);

/* ---- a server's listening socket (tcp_listen.c) -------------------------------------------- */

/* Reads the "backlog" (1 to 65535, default 128) and "max_connections" (1 to 1000000, default
 * 1024) options of a server, in that order. TB_OK, or TB_EINVAL with a message. */
int tbp_tcp_listen_config(const tb_host_api *host, tb_context *ctx, const tb_value *config, uint32_t *backlog,
                          uint32_t *max_connections);

/* A connection accepted as fd (non-blocking, close-on-exec; the callee owns it) from the peer
 * host:port (numeric). */
typedef void (*tcp_accept_fn)(void *owner, int fd, const char *host, uint16_t port);

/* A listening socket and its watch. Accepting runs in the fd callback, at most 64 connections
 * a call; out of descriptors or memory, accepting pauses for 100 ms. Ownership: the listener
 * owns its socket. Thread contract: the instance's thread. */
typedef struct tcp_listener {
    const tb_host_api *host;
    tb_context *ctx;
    tcp_addr addr;
    char where[TCP_HOST_MAX + 8]; /* host:port configured, then as bound */
    uint32_t backlog;
    int fd;                       /* -1: not listening */
    uint64_t watch;
    uint64_t pause_timer;         /* accepting paused after running out of descriptors */
    tcp_accept_fn accepted;
    void *owner;
} tcp_listener;

/* A reload (tcp_handover.c): release takes the listening socket out of l, unwatched and
 * open, and returns it (-1: none); adopt makes l listen on fd, a socket handed over (closed
 * on failure). */
int tbp_tcp_listen_release(tcp_listener *l);
int tbp_tcp_listen_adopt(tcp_listener *l, int fd);

/* Sets up a listener, not listening, for addr. */
void tbp_tcp_listen_init(tcp_listener *l, const tb_host_api *host, tb_context *ctx, const tcp_addr *addr,
                         uint32_t backlog, tcp_accept_fn accepted, void *owner);

/* Resolves the address (on this thread), listens on the first of its addresses that takes it
 * and watches the socket. TB_OK, or TB_EIO with a message ("cannot listen on ..."). */
int tbp_tcp_listen_open(tcp_listener *l);

/* After tbp_tcp_listen_open: where becomes the address as bound, the port is set in metric
 * port_metric (UINT32_MAX: none) and "listening on" is logged. */
void tbp_tcp_listen_announce(tcp_listener *l, uint32_t port_metric, bool tls);

/* Stops accepting and closes the socket (nothing when not listening). */
void tbp_tcp_listen_close(tcp_listener *l);

/* ---- a client's connecting (tcp_dial.c) ---------------------------------------------------- */

/* Where and how a client connects, and its connect deadline. Ownership: the dialer owns tls
 * (freed by tbp_tcp_dial_fini). Thread contract: the instance's thread (fini: where destroy
 * runs). */
typedef struct tcp_dial {
    const tb_host_api *host;
    tb_context *ctx;
    tcp_addr addr;
    bool no_delay;                 /* TCP_NODELAY */
    uint64_t timeout_ns;           /* connect_timeout_ms */
    SSL_CTX *tls;                  /* NULL: plain TCP */
    char server_name[TCP_HOST_MAX];
    bool verify;
    uint64_t timer_id;             /* the connect deadline; 0: none */
} tcp_dial;

/* Resolves the address (on this thread: a numeric one needs no lookup) and starts a
 * non-blocking connect to each of its addresses in turn, looking once without waiting whether
 * it failed already (a refusal on this machine is known at once); with TLS, makes the
 * connection's SSL object. On TB_OK, *fd (owned by the caller), *ssl (NULL for plain TCP, owned
 * too) and *state (TCP_LINK_CONNECTING, TCP_LINK_HANDSHAKE or TCP_LINK_OPEN) are what
 * tbp_tcp_link_open takes; else TB_EIO with a message naming where. */
int tbp_tcp_dial_start(tcp_dial *d, const char *where, int *fd, SSL **ssl, uint32_t *state);

/* Starts the connect deadline: fn(user) after timeout_ns (without a timer, the kernel's own
 * connect timeout still applies). tbp_tcp_dial_disarm stops it; fn must clear timer_id. */
void tbp_tcp_dial_arm(tcp_dial *d, tb_timer_fn fn, void *user);
void tbp_tcp_dial_disarm(tcp_dial *d);

/* Stops the deadline and frees the SSL_CTX. */
void tbp_tcp_dial_fini(tcp_dial *d);

/* ---- the components (tcp_server.c, tcp_client.c) ------------------------------------------ */

extern const tb_component tbp_tcp_server_component;
extern const tb_component tbp_tcp_client_component;

#endif
