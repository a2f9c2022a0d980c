/*
 * kafka_producer.c - the `kafka_producer` connector, as Tremor's: its sink half sends every
 * event's encoded bytes as one message to `topic`, with key, headers, partition and timestamp
 * from the event's metadata ($kafka_producer, see kafka_push.c). A batch is reported
 * delivered (host->delivered) once librdkafka has a delivery report for each of its messages,
 * so a transactional source upstream commits only what Kafka acknowledged.
 *
 * Delivery reports are served by rd_kafka_poll on the stage's thread, never in librdkafka's:
 * librdkafka writes a byte to a pipe the host watches when its main queue turns non-empty
 * (rd_kafka_queue_io_event_enable), and a periodic timer is the safety net and hands a
 * waiting backlog to librdkafka as its queue empties. drain flushes in steps of at most
 * 10 ms. stop purges what is still queued, so its batches are reported failed (their source
 * replays them), never lost.
 *
 * Circuit breaker: open while librdkafka's queue is full (kafka_push.c) or while every broker
 * is down. librdkafka's error callback reports the latter (_ALL_BROKERS_DOWN): the circuit
 * opens, so the runtime pauses the sources instead of piling events into librdkafka's queue
 * until message.timeout.ms fails them. It closes when a broker is back: a message
 * acknowledged, or, when librdkafka holds no message, a metadata request answered (see
 * probe_brokers). What librdkafka already holds is delivered or failed by its delivery
 * reports as ever. The gauge brokers_reachable is 0 from the report to the answer, else 1.
 *
 * Ownership: the instance, topic and key copies and every pending record are host memory;
 * rd_kafka_t, topic handle, queue, pipe, watch and timer live from connect to stop. Thread
 * contract: create and destroy on the control thread; everything else on the instance's
 * thread (librdkafka's delivery and error callbacks included, see kafka.h), so the two
 * reasons of the circuit breaker are plain fields; the broker probe blocks that thread
 * briefly, and only while every broker is down and nothing is queued.
 */
#define _GNU_SOURCE
#include "kafka.h"

#include <inttypes.h>
#include <stdio.h>

#define TICK_MS 100u             /* the delivery-report safety net */
#define TICK_NS (TICK_MS * 1000000u)
#define PROBE_WAIT_MIN_MS 100u   /* see probe_brokers */
#define PROBE_WAIT_MAX_MS 1000u
#define PROBE_SPACING 5u
#define PROBE_MIN_TICKS (1000u / TICK_MS)
#define FLUSH_STEP_MS 10
#define STOP_FLUSH_MS 500        /* for the reports of purged messages */

static const tb_option options[] = {
    TB_OPTION("brokers", TB_OPT_ARRAY, NULL, TB_OPT_REQUIRED,
              "bootstrap brokers, each \"host:port\""),
    TB_OPTION("topic", TB_OPT_STRING, NULL, TB_OPT_REQUIRED, "the topic every message goes to"),
    TB_OPTION("key", TB_OPT_STRING, NULL, 0,
              "the key of messages whose event has no $kafka_producer.key (none: no key)"),
    TB_OPTION("rdkafka_options", TB_OPT_OBJECT, "{}", 0,
              "librdkafka producer properties passed through, e.g. {\"linger.ms\": 5, "
              "\"partitioner\": \"murmur2_random\"}"),
};

static const char *const reserved[] = {"bootstrap.servers=use the brokers option", NULL};

/* ---- every broker down: the circuit breaker's second reason ---------------------------- */

static void set_reachable(kp_producer *p, bool reachable) {
    if (p->m_reachable != UINT32_MAX) p->host->metric_set(p->ctx, p->m_reachable, reachable ? 1 : 0);
}

/* librdkafka lost every broker. Messages already in its queue stay there (it reconnects and
 * sends them, or fails them at message.timeout.ms, each through its delivery report); new
 * events are held upstream instead of piling up behind them. */
static void brokers_down(kp_producer *p, const char *reason) {
    char servers[1024] = "";
    size_t size = sizeof servers;
    if (p->brokers_down) return;
    p->brokers_down = true;
    p->probe_wait_ms = PROBE_WAIT_MIN_MS;
    p->probe_ticks = PROBE_MIN_TICKS;
    set_reachable(p, false);
    if (rd_kafka_conf_get(p->conf, "bootstrap.servers", servers, &size) != RD_KAFKA_CONF_OK) servers[0] = '\0';
    tb_log(p->host, p->ctx, TB_LOG_WARN,
           "kafka: no broker of the cluster (brokers: %s) can be reached (%s): holding the sources back "
           "until one answers",
           servers, reason);
    tbp_kafka_circuit(p);
}

void tbp_kafka_brokers_back(kp_producer *p, const char *evidence) {
    if (!p->brokers_down) return;
    p->brokers_down = false;
    set_reachable(p, true);
    tb_log(p->host, p->ctx, TB_LOG_INFO, "kafka: a broker can be reached again (%s)", evidence);
    tbp_kafka_circuit(p); /* stays open while the backlog waits */
}

/* Whether a broker is back. librdkafka says when every broker is down (the error callback)
 * but has no callback for one coming back, so:
 *  - while it holds messages, the first acknowledgement is the answer (tbp_kafka_delivery):
 *    free, and it proves what matters, that a message reached its leader; librdkafka keeps
 *    reconnecting by itself while it has messages to send;
 *  - while it holds none (the outage began while idle, or its messages timed out), no report
 *    will ever come and librdkafka may not even try to connect, so this probe asks a broker
 *    for the topic's metadata, which makes librdkafka connect to one. The statistics
 *    callback would not block, but it costs a JSON document every interval for the
 *    instance's whole life and still needs something to make librdkafka connect.
 * rd_kafka_metadata blocks the instance's thread for at most probe_wait_ms; it runs only in
 * this state, when the sink has nothing to send, and backs off: each probe that finds no
 * broker doubles the wait (up to PROBE_WAIT_MAX_MS, enough for a distant cluster's round
 * trip) and the next probe comes PROBE_SPACING times the wait later, at least a second:
 * the thread waits a sixth of the time at most. A connection made during a probe that timed
 * out stays up, so a later probe needs only the round trip. */
static void probe_brokers(kp_producer *p) {
    const struct rd_kafka_metadata *md;
    if (!p->rk || !p->brokers_down || rd_kafka_outq_len(p->rk) > 0) return;
    if (p->probe_ticks > 0 && --p->probe_ticks > 0) return;
    if (rd_kafka_metadata(p->rk, 0, p->rkt, &md, (int)p->probe_wait_ms) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        rd_kafka_metadata_destroy(md);
        tbp_kafka_brokers_back(p, "a broker answered a metadata request");
        return;
    }
    if (p->probe_wait_ms < PROBE_WAIT_MAX_MS) p->probe_wait_ms *= 2;
    if (p->probe_wait_ms > PROBE_WAIT_MAX_MS) p->probe_wait_ms = PROBE_WAIT_MAX_MS;
    p->probe_ticks = p->probe_wait_ms * PROBE_SPACING / TICK_MS;
    if (p->probe_ticks < PROBE_MIN_TICKS) p->probe_ticks = PROBE_MIN_TICKS;
}

/* Served by rd_kafka_poll or rd_kafka_flush, so on the instance's thread (kafka.h). */
static void on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque) {
    kp_producer *p = opaque;
    (void)rk;
    if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
        brokers_down(p, reason);
        return;
    }
    tb_log(p->host, p->ctx, err == RD_KAFKA_RESP_ERR__FATAL ? TB_LOG_ERROR : TB_LOG_WARN, "kafka: %s: %s",
           rd_kafka_err2name(err), reason);
}

static void TB_CALL destroy(void *instance);

static int TB_CALL create(const tb_create_args *args, void **out) {
    const tb_host_api *host = args->host;
    size_t topic_len, key_len;
    const char *topic = tb_config_str(args->config, "topic", NULL, &topic_len);
    const char *key = tb_config_str(args->config, "key", NULL, &key_len);
    int rc;
    kp_producer *p = host->alloc(args->ctx, sizeof *p);
    if (!p) return TB_ENOMEM;
    memset(p, 0, sizeof *p);
    p->m_reachable = UINT32_MAX;
    p->log.host = p->host = host;
    p->log.ctx = p->ctx = args->ctx;
    p->pipe[0] = p->pipe[1] = -1;
    if (!topic || topic_len == 0 || topic_len > 249 || memchr(topic, 0, topic_len)) {
        rc = tb_fail(host, p->ctx, TB_EINVAL, "topic must be a topic name (1 to 249 bytes)");
        goto fail_instance;
    }
    if (!(p->topic = tbp_kafka_strdup(host, p->ctx, topic, topic_len)) ||
        (key && !(p->key = tbp_kafka_strdup(host, p->ctx, key, key_len)))) {
        rc = TB_ENOMEM;
        goto fail_instance;
    }
    p->key_len = key_len;
    if ((rc = tbp_kafka_conf_new(host, p->ctx, args->config, NULL, reserved, &p->conf)) != TB_OK) goto fail_instance;
    rd_kafka_conf_set_opaque(p->conf, p);
    rd_kafka_conf_set_dr_msg_cb(p->conf, tbp_kafka_delivery);
    rd_kafka_conf_set_error_cb(p->conf, on_error);
    if (host->metric_register(p->ctx, "brokers_reachable", TB_METRIC_GAUGE, &p->m_reachable) != TB_OK)
        p->m_reachable = UINT32_MAX;
    *out = p;
    return TB_OK;
fail_instance:
    destroy(p);
    return rc;
}

static void TB_CALL on_wake(void *user, int fd, uint32_t events) {
    (void)events;
    tbp_kafka_drain_pipe(fd);
    tbp_kafka_pump(user);
}

static void TB_CALL on_tick(void *user, uint64_t timer_id) {
    (void)timer_id;
    tbp_kafka_pump(user);
    probe_brokers(user);
}

static int TB_CALL stop(void *instance);

static int TB_CALL connect_(void *instance) {
    kp_producer *p = instance;
    char err[512];
    int rc;
    if (p->rk) return TB_OK;
    rd_kafka_conf_t *conf = rd_kafka_conf_dup(p->conf);
    if (!conf) return tb_fail(p->host, p->ctx, TB_ENOMEM, "out of memory for the librdkafka configuration");
    if (!(p->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err))) {
        rd_kafka_conf_destroy(conf);
        return tb_fail(p->host, p->ctx, TB_EIO, "cannot create the Kafka producer: %s", err);
    }
    if (!(p->rkt = rd_kafka_topic_new(p->rk, p->topic, NULL))) {
        rc = tb_fail(p->host, p->ctx, TB_EIO, "cannot create topic %s: %s", p->topic,
                     rd_kafka_err2str(rd_kafka_last_error()));
        goto fail_handle;
    }
    set_reachable(p, true); /* until librdkafka says otherwise */
    p->queue = rd_kafka_queue_get_main(p->rk);
    if ((rc = tbp_kafka_wake_pipe(p->host, p->ctx, p->pipe)) != TB_OK) goto fail_handle;
    if ((rc = p->host->fd_watch(p->ctx, p->pipe[0], TB_FD_READ, on_wake, p, &p->watch_id)) != TB_OK) {
        p->watch_id = 0;
        rc = tb_fail(p->host, p->ctx, TB_EIO, "cannot watch the wake-up pipe (%d)", rc);
        goto fail_handle;
    }
    rd_kafka_queue_io_event_enable(p->queue, p->pipe[1], "1", 1);
    if ((rc = p->host->timer_start(p->ctx, TICK_NS, TICK_NS, on_tick, p, &p->timer_id)) != TB_OK) {
        p->timer_id = 0;
        rc = tb_fail(p->host, p->ctx, TB_EIO, "cannot start the poll timer (%d)", rc);
        goto fail_handle;
    }
    return TB_OK;
fail_handle:
    stop(p);
    return rc;
}

/* Done once nothing waits: no backlog, no message without its report. */
static int TB_CALL drain(void *instance) {
    kp_producer *p = instance;
    if (!p->rk) return TB_OK;
    tbp_kafka_pump(p);
    if (!p->queue_head) rd_kafka_flush(p->rk, FLUSH_STEP_MS); /* serves the reports too */
    return !p->records && rd_kafka_outq_len(p->rk) == 0 ? TB_OK : TB_EAGAIN;
}

static int TB_CALL stop(void *instance) {
    kp_producer *p = instance;
    if (p->timer_id) p->host->timer_stop(p->ctx, p->timer_id);
    if (p->watch_id) p->host->fd_unwatch(p->ctx, p->watch_id);
    p->timer_id = p->watch_id = 0;
    if (p->rk) {
        if (p->queue) rd_kafka_queue_io_event_enable(p->queue, -1, NULL, 0);
        /* what is not delivered now is reported failed, for its source to replay */
        rd_kafka_purge(p->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_flush(p->rk, STOP_FLUSH_MS);
    }
    if (p->queue) rd_kafka_queue_destroy(p->queue);
    if (p->rkt) rd_kafka_topic_destroy(p->rkt);
    if (p->rk) rd_kafka_destroy(p->rk);
    p->queue = NULL;
    p->rkt = NULL;
    p->rk = NULL;
    /* after the handle: no delivery report can come for a record any more */
    tbp_kafka_fail_records(p, TB_ECLOSED);
    p->queue_full = p->brokers_down = false; /* a reconnect starts afresh */
    tbp_kafka_circuit(p);
    tbp_kafka_close_pipe(p->pipe);
    return TB_OK;
}

static void TB_CALL destroy(void *instance) {
    kp_producer *p = instance;
    if (!p) return;
    stop(p);
    if (p->conf) rd_kafka_conf_destroy(p->conf);
    p->host->free(p->ctx, p->topic);
    p->host->free(p->ctx, p->key);
    p->host->free(p->ctx, p);
}

static const tb_connector_vtable vtable = {
    .struct_size = sizeof(tb_connector_vtable),
    .flags = TB_CONNECTOR_SINK,
    .create = create,
    .destroy = destroy,
    .connect = connect_,
    .drain = drain,
    .stop = stop,
    .push = tbp_kafka_push,
};

const tb_component tbp_kafka_producer_component = {
    .struct_size = sizeof(tb_component),
    .kind = TB_KIND_CONNECTOR,
    .name = "kafka_producer",
    .description = "sends events to a Kafka topic; a batch is delivered once Kafka acknowledged "
                   "every message",
    .options = options,
    .option_count = sizeof options / sizeof options[0],
    .vtable = &vtable,
};
