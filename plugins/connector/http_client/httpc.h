/*
 * httpc.h - the `http_client` plugin: one connector, `http_client`, on libcurl's multi socket
 * interface, and what its files share:
 *   httpc_plugin.c     the descriptor, permissions, curl_global_init and the unload decision
 *   httpc_config.c     the checks of the options; header, url and method checks
 *   httpc_value.c      deep copies of values into one block (a $correlation kept across the
 *                      request), and out of it into an arena
 *   httpc_multi.c      curl's sockets and timer on the host's fd watches and timers
 *   httpc_request.c    one request: the easy handle, attempts, retries with backoff, outcome
 *   httpc_sink.c       push: events into request bodies (batching, per-event overrides),
 *                      the queue, concurrency, delivery reports, the circuit breaker
 *   httpc_source.c     responses kept for pull, and pull
 *   httpc_connector.c  the options, create, destroy, the lifecycle, metrics, the vtable
 *
 * Ownership: every struct here is host memory of the instance that holds it (allocated with
 * host->alloc through the instance's context), freed by that instance's stop or destroy; the
 * curl handles belong to the instance. Thread contract: as temblor.h says for connectors:
 * create and destroy on a control thread, everything else (fd and timer callbacks included,
 * and with them every curl callback) on the instance's thread, one call at a time. Nothing is
 * shared between instances except libcurl's global state (initialised by the plugin's init).
 */
#ifndef TBP_HTTPC_H
#define TBP_HTTPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>
#include <temblor/temblor.h>

#define HTTPC_METHOD_MAX 16            /* a method name, NUL included */
#define HTTPC_MAX_BODY (1u << 30)      /* a body must fit tb_value.len */
#define HTTPC_QUEUED_RESPONSE_BYTES (64u << 20) /* response bytes kept for pull, at most */

/* ---- configuration (httpc_config.c) ------------------------------------------------------ */

typedef struct httpc_conf {
    char *url;                       /* NUL-terminated, checked http:// or https:// */
    char method[HTTPC_METHOD_MAX];   /* upper case */
    char **headers;                  /* "Name: value" lines from the headers option */
    uint32_t nheaders;
    bool has_content_type, has_expect, has_user_agent;
    uint32_t batch_size;             /* events per request, at most */
    uint64_t batch_bytes;            /* body bytes per request, at most (0: no bound) */
    uint64_t linger_ns;              /* how long an unfilled batch waits (0: not across pushes) */
    uint32_t concurrency;            /* requests in flight (or waiting to retry), at most */
    uint32_t queue_size;             /* requests waiting for a slot before the circuit opens */
    uint32_t max_retries;
    uint64_t backoff_ms, max_backoff_ms;
    uint64_t timeout_ms;
    bool follow_redirects;
    bool responses;                  /* responses become source events */
    uint32_t max_responses;          /* responses kept for pull, at most */
    uint64_t max_response_bytes;     /* of one body; the rest is discarded */
    char *cafile, *cert, *key;       /* NULL: not set */
    bool verify;
    char *username, *password;       /* basic auth, NULL: none */
    char *bearer;                    /* bearer token, NULL: none */
} httpc_conf;

/* Reads and checks the whole configuration into *conf (zeroed by the caller). TB_OK, or
 * TB_EINVAL/TB_ENOMEM with a message naming the option and the value (anything taken so far is
 * freed). */
int tbp_httpc_conf_read(const tb_host_api *host, tb_context *ctx, const tb_value *config, httpc_conf *conf);
void tbp_httpc_conf_free(const tb_host_api *host, tb_context *ctx, httpc_conf *conf);

/* Checks a url: http:// or https:// and parsable by curl. NULL when good, else the reason
 * (a static string). */
const char *tbp_httpc_url_problem(const char *url);
/* Checks a method and writes it in upper case into out (HTTPC_METHOD_MAX bytes). false when
 * it is not a token of letters (or too long). */
bool tbp_httpc_method_norm(const char *m, size_t len, char *out);
/* Whether name[0..len) is an HTTP header name (a token) / value (no CR, LF, NUL). */
bool tbp_httpc_header_name_ok(const char *name, size_t len);
bool tbp_httpc_header_value_ok(const char *v, size_t len);
/* Case-insensitive: does the line "Name: value" name the header name[0..len)? */
bool tbp_httpc_line_names(const char *line, const char *name, size_t len);

/* A NUL-terminated host-memory copy of s[0..n), or NULL. */
char *tbp_httpc_strndup(const tb_host_api *host, tb_context *ctx, const char *s, size_t n);

/* ---- value blocks (httpc_value.c) --------------------------------------------------------- */

/* The bytes a self-contained copy of v needs (v itself included). */
size_t tbp_httpc_value_size(const tb_value *v);
/* Copies v into block (tbp_httpc_value_size(v) bytes, 8-aligned): the block starts with the
 * root tb_value, and everything it points to lies inside the block. */
void tbp_httpc_value_copy(const tb_value *v, void *block);

/* ---- the instance --------------------------------------------------------------------------- */

typedef struct httpc httpc;
typedef struct httpc_req httpc_req;

/* A batch a push answered TB_EPENDING for: reported through host->delivered once no request
 * holds any of its events (and the push is done). */
typedef struct httpc_token {
    uint64_t token;
    uint32_t refs;   /* the push, and each request holding events of it */
    int status;      /* TB_OK, or the first failure */
    struct httpc_token *prev, *next;
} httpc_token;

/* A socket curl asked to be watched. */
typedef struct httpc_sock {
    httpc *c;
    int fd;
    uint64_t watch_id;
    struct httpc_sock *prev, *next;
} httpc_sock;

enum {
    HTTPC_REQ_OPEN = 0, /* being filled by pushes (the open batch) */
    HTTPC_REQ_QUEUED,   /* waiting for a slot */
    HTTPC_REQ_ACTIVE,   /* in curl's hands */
    HTTPC_REQ_BACKOFF   /* waiting to retry (holds its slot) */
};

struct httpc_req {
    httpc *c;
    httpc_req *prev, *next;       /* every request of the instance */
    httpc_req *qnext;             /* the queue of requests waiting for a slot */
    uint32_t state;               /* HTTPC_REQ_* */
    CURL *easy;                   /* set up at the first attempt */
    bool in_multi;                /* easy is in c->multi */
    char method[HTTPC_METHOD_MAX];
    char *url;                    /* owned */
    char *key;                    /* what events must share to join it ("" without overrides) */
    struct curl_slist *headers;   /* owned */
    uint8_t *body;                /* owned; len bytes of cap */
    size_t len, cap;
    uint32_t nevents;
    httpc_token **tokens;         /* the batches it holds events of (one ref each) */
    uint32_t ntokens, tcap;
    void *correlation;            /* value block of the first event's $correlation, or NULL */
    uint32_t attempt;             /* attempts started */
    uint64_t retry_timer;
    /* the response of the current attempt */
    uint8_t *rbody;
    size_t rlen, rcap;
    bool truncated;
    char err[CURL_ERROR_SIZE];
};

/* A response kept for pull. */
typedef struct httpc_resp {
    struct httpc_resp *next;
    long status;
    char method[HTTPC_METHOD_MAX];
    char *req_url, *url;          /* the request's, and the final one */
    uint8_t *body;
    size_t len;
    bool truncated;
    char *headers;                /* "name\0value\0" pairs, names in lower case */
    size_t headers_len;
    uint32_t nheaders;
    void *correlation;            /* value block or NULL */
} httpc_resp;

struct httpc {
    const tb_host_api *host;
    tb_context *ctx;
    httpc_conf conf;

    CURLM *multi;                 /* NULL once stopped */
    uint64_t curl_timer;          /* the host timer behind curl's timeout, 0: none */
    httpc_sock *socks;
    bool stopped;

    httpc_req *reqs;              /* every request */
    httpc_req *open;              /* the batch being filled, or NULL */
    uint64_t linger_timer;
    httpc_req *queue, *queue_tail;
    uint32_t queued;              /* requests in the queue */
    uint32_t busy;                /* requests active or waiting to retry: the slots used */
    bool circuit_open;
    httpc_token *tokens;
    uint64_t rng;                 /* xorshift state, for jitter */

    httpc_resp *resps, *resps_tail;
    uint32_t nresps;
    size_t resp_bytes;
    uint64_t next_id;
    uint32_t next_stream;
    uint64_t dropped;             /* responses dropped as the queue was full */
    uint64_t warned;              /* problems with events logged (rate-limited) */

    struct {
        uint32_t requests, retries, failures, r2xx, r3xx, r4xx, r5xx, dropped, inflight, queued;
    } m;
};

/* Metric helpers: a no-op when registration failed (id UINT32_MAX). */
void tbp_httpc_metric_add(httpc *c, uint32_t id, int64_t delta);
void tbp_httpc_metric_set(httpc *c, uint32_t id, int64_t value);

/* ---- curl's sockets and timer (httpc_multi.c) ----------------------------------------------- */

/* Creates c->multi with the socket and timer callbacks. TB_OK or TB_ENOMEM (message set). */
int tbp_httpc_multi_open(httpc *c);
/* Removes every request's handle (the caller fails them first), cleans the multi handle up,
 * unwatches every socket and stops the timer. */
void tbp_httpc_multi_close(httpc *c);
/* Hands req's easy handle to curl. TB_OK, or an error with the reason in req->err. */
int tbp_httpc_multi_add(httpc *c, httpc_req *req);
/* Takes req's easy handle back from curl (before a retry or once finished). */
void tbp_httpc_multi_remove(httpc *c, httpc_req *req);

/* ---- requests (httpc_request.c) ------------------------------------------------------------- */

/* A new request in state OPEN for method and url (copied), with the headers of the config and
 * the overrides in over (an object, or NULL), grouping key key (copied). NULL when out of
 * memory. */
httpc_req *tbp_httpc_req_new(httpc *c, const char *method, const char *url, size_t url_len,
                             const tb_value *over_headers, const char *key, size_t key_len);
/* Appends bytes to req's body; false when out of memory. */
bool tbp_httpc_req_append(httpc *c, httpc_req *req, const uint8_t *p, size_t n);
/* Takes a reference of t for req; false when out of memory. */
bool tbp_httpc_req_hold(httpc *c, httpc_req *req, httpc_token *t);
/* Starts the next attempt of req (state ACTIVE). On failure, finishes it as failed. */
void tbp_httpc_req_start(httpc *c, httpc_req *req);
/* curl finished an attempt of req with res: classifies, retries or finishes it. */
void tbp_httpc_req_done(httpc *c, httpc_req *req, CURLcode res);
/* Finishes req with status (TB_OK or a failure): releases its batches, unlinks and frees it,
 * and hands its slot on (tbp_httpc_sink_slot_free) when it held one. */
void tbp_httpc_req_finish(httpc *c, httpc_req *req, int status);

/* ---- the sink (httpc_sink.c) ----------------------------------------------------------------- */

int TB_CALL tbp_httpc_push(void *instance, tb_batch *in);
/* Releases one reference of t with status; reports it once nothing holds it. */
void tbp_httpc_token_release(httpc *c, httpc_token *t, int status);
/* The open batch is complete: into the queue, or started when a slot is free. */
void tbp_httpc_sink_flush_open(httpc *c);
/* A request gave its slot back: start queued ones, close the circuit when the queue is short. */
void tbp_httpc_sink_slot_free(httpc *c);
/* Fails everything not yet finished (stop): the open batch, the queue, requests in flight. */
void tbp_httpc_sink_abort(httpc *c, int status);
/* Requests not finished (open, queued, in flight, waiting to retry). */
uint32_t tbp_httpc_sink_pending(const httpc *c);

/* ---- the source (httpc_source.c) ---------------------------------------------------------- */

/* Keeps req's final response (status) for pull: takes req->rbody. Drops it, counted, when
 * the queue is full. */
void tbp_httpc_source_keep(httpc *c, httpc_req *req, long status);
int TB_CALL tbp_httpc_pull(void *instance, tb_batch *out);
/* Frees every response still kept. */
void tbp_httpc_source_clear(httpc *c);

/* ---- the component (httpc_connector.c) ---------------------------------------------------- */

extern const tb_component tbp_httpc_component;

#endif
