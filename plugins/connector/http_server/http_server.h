/*
 * http_server.h - the `http_server` plugin: one connector, on libmicrohttpd, whose files share
 * what is declared here:
 *   http_plugin.c     the descriptor and permissions
 *   http_server.c     options, lifecycle, the daemon on the instance's event loop (its epoll
 *                     fd watched, its timeout a timer), the table of requests
 *   http_request.c    requests arriving: headers and body collected, the connection suspended,
 *                     the request emitted by pull as one event with its meta
 *   http_response.c   answers: from the events pushed to the sink half, on acknowledgement,
 *                     on failure, on timeout; delivery reports for pushed batches
 *
 * A request is a stream: its id is the instance's stream base plus the request's sequence
 * number, which is also the event's id. The request waits, its connection suspended, until it
 * is answered exactly once, by the first of: events pushed for its stream, its event
 * acknowledged (answered `ack_status`) or failed (`fail_status`), or `response_timeout_ms`
 * (504).
 *
 * Ownership: the instance, its requests, their bodies and the table are host memory, freed by
 * destroy; the instance owns the daemon. libmicrohttpd owns its connections; a request is
 * freed when libmicrohttpd reports it completed (or at stop), never before it was answered.
 * Thread contract: create and destroy on a control thread; everything else, libmicrohttpd's
 * callbacks included (it runs only inside MHD_run on the instance's thread: no thread of its
 * own), on the instance's thread.
 */
#ifndef TBP_HTTP_SERVER_H
#define TBP_HTTP_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <microhttpd.h>
#include <temblor/temblor.h>

#define HS_HOST_MAX 256

typedef struct hs_server hs_server;
typedef struct hs_request hs_request;

enum {
    HS_RECEIVING = 0, /* headers and body arriving */
    HS_QUEUED,        /* complete, suspended, waiting for pull */
    HS_EMITTED,       /* its event is in the flow: waiting for an answer */
    HS_ANSWERED,      /* an answer is ready (resp) or queued; no longer in the table */
};

struct hs_request {
    hs_server *srv;
    struct MHD_Connection *conn;
    uint64_t seq;            /* the event's id; stream = srv->stream_base + seq */
    uint32_t state;          /* HS_* */
    bool too_large;          /* the body passed max_body: answered 413 */
    uint8_t *body;           /* host memory, len of cap bytes */
    size_t len, cap;
    uint64_t deadline_ns;    /* CLOCK_MONOTONIC: answered 504 after this */
    struct MHD_Response *resp; /* the answer, until the access handler queues it */
    unsigned status;
    uint32_t track;          /* the delivery slot of the push that answered it, or UINT32_MAX */
    const char *method, *url, *version; /* libmicrohttpd's, valid while the request lives */
    hs_request *prev, *next; /* the pull queue (QUEUED) */
};

/* Whether r waits for its answer: it is in the table, its connection suspended. */
static inline bool tbp_hs_waiting(const hs_request *r) { return r->state == HS_QUEUED || r->state == HS_EMITTED; }

/* A batch push answered TB_EPENDING for: reported once every answer of it was sent. */
typedef struct hs_batch {
    uint64_t token;     /* 0: free */
    uint32_t remaining; /* answers still being sent, plus one while push runs */
    int status;
} hs_batch;

struct hs_server {
    const tb_host_api *host;
    tb_context *ctx;
    char host_name[HS_HOST_MAX];
    uint16_t port;
    char where[HS_HOST_MAX + 8];
    uint32_t max_connections;
    uint64_t max_body;
    uint64_t response_timeout_ns;
    uint32_t idle_timeout_s;
    unsigned ack_status, fail_status;
    char *content_type;      /* NUL-terminated, or NULL */
    char *tls_cert, *tls_key; /* PEM text read at create, or NULL */

    struct MHD_Daemon *daemon;
    uint64_t watch_id;       /* the daemon's epoll fd */
    uint64_t timer_id;       /* the daemon's next timeout */
    uint64_t sweep_id;       /* response deadlines */
    bool quiesced;           /* drain: no new connections */
    bool stopping;

    uint32_t stream_base;
    uint64_t next_seq;
    hs_request **table;      /* requests QUEUED or EMITTED, by seq ascending */
    uint32_t ntable, table_cap;
    hs_request *queue_head, *queue_tail; /* QUEUED, in order of completion */

    hs_batch *batches;
    uint32_t nbatches, batches_cap;

    uint64_t undeliverable;
    const tb_ext_streams *streams; /* the runtime's "temblor.streams/1"; NULL: an older runtime */
    uint32_t m_requests, m_responses, m_timeouts, m_too_large, m_undeliverable, m_waiting, m_port;
};

/* ---- http_server.c ---------------------------------------------------------------------- */

/* Runs the daemon (reads, writes, resumed connections, callbacks) and re-arms its timer. */
void tbp_hs_run(hs_server *s);
/* The request of stream in the table, or NULL. */
hs_request *tbp_hs_find(hs_server *s, uint32_t stream);
/* Adds r to the table (its seq is the largest yet; it becomes QUEUED right after) / takes a
 * waiting r out (before it is answered). false when out of memory. */
bool tbp_hs_table_add(hs_server *s, hs_request *r);
void tbp_hs_table_remove(hs_server *s, hs_request *r);
void tbp_hs_count(hs_server *s, uint32_t id, int64_t delta);
void tbp_hs_gauge(hs_server *s, uint32_t id, int64_t value);
/* Tells the runtime nothing more can be written to stream (its request was answered, or an
 * answer came for a stream no request waits on), so it frees the stream's postprocessors. Not
 * while stopping: the runtime ends every stream itself then. */
void tbp_hs_stream_gone(hs_server *s, uint32_t stream);

/* ---- http_request.c --------------------------------------------------------------------- */

enum MHD_Result tbp_hs_access(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                              const char *version, const char *upload_data, size_t *upload_data_size,
                              void **con_cls);
void tbp_hs_completed(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode toe);
int TB_CALL tbp_hs_pull(void *instance, tb_batch *out);
/* Takes a QUEUED request off the pull queue. */
void tbp_hs_unqueue(hs_server *s, hs_request *r);

/* ---- http_response.c -------------------------------------------------------------------- */

/* Answers r (in the table, QUEUED or EMITTED) with status and body (copied; may be NULL with
 * len 0) of Content-Type type (NULL: none), unless headers name one; optional extra headers (an object of name -> string or array of strings), and
 * records track as the batch slot waiting for it (UINT32_MAX: none). r leaves the table and
 * its connection is resumed; the access handler queues the answer. false when out of memory
 * (r is then answered 500 without a body, which needs no memory of ours). */
bool tbp_hs_answer(hs_server *s, hs_request *r, unsigned status, const char *type, const void *body, size_t len,
                   const tb_value *headers, uint32_t track);
/* An answer was sent (ok) or could not be (the connection went): its batch slot is told. */
void tbp_hs_sent(hs_server *s, uint32_t track, bool ok);
/* Answers every request past its deadline with 504. */
void tbp_hs_sweep(hs_server *s, uint64_t now_ns);
int TB_CALL tbp_hs_push(void *instance, tb_batch *in);
void TB_CALL tbp_hs_ack(void *instance, const uint64_t *ids, uint32_t count);
void TB_CALL tbp_hs_fail(void *instance, const uint64_t *ids, uint32_t count);

extern const tb_component tbp_http_server_component;

#endif
