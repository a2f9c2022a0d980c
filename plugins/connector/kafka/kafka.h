/*
 * kafka.h - the `kafka` plugin's two connectors on librdkafka, shared by its files:
 *
 *   kafka.c           the descriptor: both components
 *   kafka_conf.c      librdkafka configurations from the options (brokers, rdkafka_options),
 *                     librdkafka's log lines through the host
 *   kafka_consumer.c  kafka_consumer: options, lifecycle, pause/resume, the wake-up fd
 *   kafka_pull.c      kafka_consumer's pull: messages to events with their metadata
 *   kafka_offsets.c   kafka_consumer's partitions: in-flight offsets, ack/fail, stores and
 *                     seeks, the rebalance callback
 *   kafka_producer.c  kafka_producer: options, lifecycle, drain, the delivery-report pump,
 *                     the circuit breaker while every broker is down
 *   kafka_push.c      kafka_producer's push: events to messages, backlog on a full queue,
 *                     delivery reports to host->delivered
 *
 * Ownership: instances, partitions and backlogs are host memory, freed by destroy (or when a
 * partition is revoked); each instance owns its rd_kafka_t, queue, pipe and timer from connect
 * to stop. Thread contract: create and destroy on the control thread (or the stage's on a
 * reload); every other callback, fd and timer callback, and every librdkafka callback that
 * matters (rebalance, delivery report, offset commit, error), on the instance's thread, since
 * they are served by rd_kafka_consumer_poll / rd_kafka_poll called there. Only the log
 * callback runs on librdkafka's own threads, and it only calls host->log (any thread).
 */
#ifndef TBP_KAFKA_H
#define TBP_KAFKA_H

#include <librdkafka/rdkafka.h>
#include <temblor/temblor.h>

/* ---- shared: configuration ------------------------------------------------------------- */

/* Builds a librdkafka configuration: bootstrap.servers from the "brokers" option, then the
 * defaults (NULL-terminated "name=value" pairs, NULL for none), then each property of
 * "rdkafka_options" (strings as they are; booleans and numbers as text). A name in
 * reserved (NULL-terminated, each "name" or "name=why") is refused with its reason. Log lines
 * go to host->log (see tbp_kafka_log_target). Returns TB_OK and *out (the caller owns it), or
 * TB_EINVAL/TB_ENOMEM with a message naming the property. */
int tbp_kafka_conf_new(const tb_host_api *host, tb_context *ctx, const tb_value *config,
                       const char *const *defaults, const char *const *reserved,
                       rd_kafka_conf_t **out);
/* rd_kafka_conf_set, with librdkafka's reason as the error: TB_OK or TB_EINVAL. */
int tbp_kafka_conf_set(const tb_host_api *host, tb_context *ctx, rd_kafka_conf_t *conf,
                       const char *name, const char *value);
/* Where librdkafka's log lines go. The log callback tbp_kafka_conf_new installs reads it at
 * the start of the configuration's opaque, so both instance structs begin with one. */
typedef struct tbp_kafka_log_target {
    const tb_host_api *host;
    tb_context *ctx;
} tbp_kafka_log_target;
/* A NUL-terminated copy of s[0..len) in host memory, or NULL when out of memory. */
char *tbp_kafka_strdup(const tb_host_api *host, tb_context *ctx, const char *s, size_t len);
/* A non-blocking pipe whose read end the host watches and whose write end librdkafka writes a
 * byte to when queue turns non-empty (rd_kafka_queue_io_event_enable). */
int tbp_kafka_wake_pipe(const tb_host_api *host, tb_context *ctx, int fds[2]);
void tbp_kafka_drain_pipe(int fd);
void tbp_kafka_close_pipe(int fds[2]);

/* ---- kafka_consumer -------------------------------------------------------------------- */

/* Event ids: the partition's key (a number given at each assignment, never 0, which is also
 * the event's stream) above the message offset. A key that is no longer assigned marks an
 * event of a revoked partition, whose acknowledgement commits nothing. */
#define KC_OFFSET_BITS 44
#define KC_OFFSET_MASK ((UINT64_C(1) << KC_OFFSET_BITS) - 1)
#define KC_KEY_LIMIT (UINT32_C(1) << (64 - KC_OFFSET_BITS)) /* keys are 1 .. KC_KEY_LIMIT-1 */
#define KC_ID(key, offset) (((uint64_t)(key) << KC_OFFSET_BITS) | (uint64_t)(offset))

/* One message emitted and not settled yet (or settled behind an unsettled one). */
typedef struct kc_flight {
    int64_t offset;
    uint64_t pull;   /* the pull it was emitted by: one answer settles the whole pull */
    bool settled;
} kc_flight;

/* One assigned topic-partition. */
typedef struct kc_part {
    char *topic;              /* host memory, NUL-terminated */
    int32_t partition;
    uint32_t key;             /* see KC_ID; also the stream id */
    const rd_kafka_topic_t *rkt; /* librdkafka's handle of topic, once a message showed it */
    int64_t next;             /* the offset expected next; -1 before the first message */
    int64_t stored;           /* the last position stored for commit; -1 none */
    kc_flight *flight;        /* flight[head .. head+count): in offset order */
    uint32_t head, count, cap;
    bool streamed;            /* emitted an event: its stream must be ended */
    bool touched;             /* changed by the acks being handled */
    bool seek;                /* a fail asks to fetch again from next */
    bool stuck_warned;        /* see tbp_kafka_check_stuck */
    int64_t stuck_offset;
    uint64_t stuck_since;     /* monotonic ns; 0: not held back */
} kc_part;

typedef struct kc_consumer {
    tbp_kafka_log_target log; /* first: librdkafka's opaque is the instance */
    const tb_host_api *host;
    tb_context *ctx;
    rd_kafka_conf_t *conf;    /* validated in create; each connect uses a copy */
    rd_kafka_topic_partition_list_t *topics;
    char *group_id;
    bool transactional;       /* mode "transactional": commit acknowledged offsets only */
    bool retry_failed;        /* a failed event is fetched again (else it counts as done) */
    bool commit_each;         /* commit_interval_ms 0: commit after every store */
    uint32_t max_bytes;       /* of raw bytes per pull */

    rd_kafka_t *rk;           /* connect .. stop */
    rd_kafka_queue_t *queue;  /* the consumer queue */
    int pipe[2];
    uint64_t watch_id, timer_id;
    bool paused;              /* the runtime paused the source (circuit breaker) */
    bool commit_again;        /* a commit failed: the tick commits again */

    kc_part *parts;           /* the assignment */
    uint32_t nparts, parts_cap;
    uint32_t next_key;
    uint64_t pulls;           /* pulls so far: numbers kc_flight.pull */

    rd_kafka_message_t **held; /* messages polled while paused, emitted first on resume */
    uint32_t nheld, held_cap;
    uint32_t *ended;          /* streams of revoked partitions, to end at the next pull */
    uint32_t nended, ended_cap;
    uint64_t warned_errors;   /* consumer errors logged, to keep the log short */
    uint32_t m_lag, m_partitions; /* metric ids (UINT32_MAX: none) */
} kc_consumer;

int TB_CALL tbp_kafka_pull(void *instance, tb_batch *out);
void TB_CALL tbp_kafka_ack(void *instance, const uint64_t *ids, uint32_t count);
void TB_CALL tbp_kafka_fail(void *instance, const uint64_t *ids, uint32_t count);

/* librdkafka's rebalance callback (conf opaque: the kc_consumer). */
void tbp_kafka_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *partitions, void *opaque);
/* The partition of a message's topic handle and number, or NULL when not assigned. */
kc_part *tbp_kafka_part_of(kc_consumer *c, const rd_kafka_topic_t *rkt, int32_t partition);
/* Records that offset was emitted by pull number pull; false when out of memory. */
bool tbp_kafka_part_emit(kc_consumer *c, kc_part *p, int64_t offset, uint64_t pull);
/* Warns (once) about a partition whose oldest in-flight offset has had no answer for a
 * minute while later ones were acknowledged: its commits are held back, maybe forever. */
void tbp_kafka_check_stuck(kc_consumer *c, uint64_t now_ns);
/* Forgets every partition (their streams end at the next pull). */
void tbp_kafka_drop_all(kc_consumer *c);
/* Serves the consumer queue while the runtime does not pull (paused): rebalances, errors,
 * commits; messages that still come are held. */
void tbp_kafka_serve(kc_consumer *c);

/* ---- kafka_producer -------------------------------------------------------------------- */

/* A message not yet handed to librdkafka (its queue was full): copies of its bytes. */
typedef struct kp_msg {
    const uint8_t *value, *key; /* into the record's buffer (or the instance's key option) */
    uint32_t value_len, key_len;
    bool has_key;
    int32_t partition;          /* RD_KAFKA_PARTITION_UA: the partitioner picks */
    int64_t timestamp_ms;       /* 0: now */
    rd_kafka_headers_t *headers; /* owned until produced; NULL for none */
} kp_msg;

/* One pushed batch waiting for its delivery reports. */
typedef struct kp_record {
    struct kp_record *prev, *next; /* every record of the instance */
    struct kp_record *queued;      /* the next record with a backlog */
    uint64_t token;
    uint32_t outstanding;          /* produced, no delivery report yet */
    int status;                    /* TB_OK, or the first failure */
    uint32_t total, failed;        /* messages, and those not delivered */
    rd_kafka_resp_err_t first_err; /* why the first of those was not */
    bool sealed;                   /* every message produced or failed: nothing more to send */
    kp_msg *backlog;               /* backlog[sent .. nbacklog): still to produce */
    uint32_t nbacklog, sent;
    uint8_t *bytes;                /* the backlog's values and keys */
} kp_record;

typedef struct kp_producer {
    tbp_kafka_log_target log; /* first: librdkafka's opaque is the instance */
    const tb_host_api *host;
    tb_context *ctx;
    rd_kafka_conf_t *conf;
    char *topic;
    char *key;                /* the key option, or NULL */
    size_t key_len;

    rd_kafka_t *rk;
    rd_kafka_topic_t *rkt;
    rd_kafka_queue_t *queue;  /* the main queue: delivery reports */
    int pipe[2];
    uint64_t watch_id, timer_id;

    kp_record *records, *records_tail; /* every record, oldest first */
    kp_record *queue_head, *queue_tail; /* records with a backlog, in push order */
    /* The circuit breaker has two reasons to be open; it is open while either holds. */
    bool queue_full;          /* the backlog is not empty: librdkafka's queue was full */
    bool brokers_down;        /* librdkafka reported every broker down, none answered since */
    bool circuit_open;        /* what the host was told last */
    uint32_t probe_wait_ms;   /* how long the next broker probe waits (kafka_producer.c) */
    uint32_t probe_ticks;     /* ticks until the next probe */
    uint32_t m_reachable;     /* the brokers_reachable gauge (UINT32_MAX: none) */
    uint64_t warned;          /* per-message problems logged */
} kp_producer;

int TB_CALL tbp_kafka_push(void *instance, tb_batch *in);
/* librdkafka's delivery report callback (conf opaque: the kp_producer). */
void tbp_kafka_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque);
/* Serves delivery reports and hands the backlog to librdkafka as its queue empties; closes
 * the circuit once the backlog is gone. */
void tbp_kafka_pump(kp_producer *p);
/* Fails every record still waiting with status (the instance stops): reports them. */
void tbp_kafka_fail_records(kp_producer *p, int status);
/* Tells the host when the circuit's state changed: open while queue_full or brokers_down. */
void tbp_kafka_circuit(kp_producer *p);
/* A broker answered (evidence says how): the brokers-down reason ends, if it held. */
void tbp_kafka_brokers_back(kp_producer *p, const char *evidence);

extern const tb_component tbp_kafka_consumer_component;
extern const tb_component tbp_kafka_producer_component;

#endif
