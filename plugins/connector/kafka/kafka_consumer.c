/*
 * kafka_consumer.c - the `kafka_consumer` connector, as Tremor's: a member of a Kafka consumer
 * group (librdkafka's high-level consumer) whose source half emits every message of the
 * partitions assigned to it as one raw event. This file holds the options, the lifecycle and
 * the wake-ups; kafka_pull.c turns messages into events, kafka_offsets.c keeps the offsets.
 *
 * Delivery (mode "transactional", the default): offsets are committed only for messages every
 * sink acknowledged, and in order per partition: librdkafka's automatic commit runs every
 * commit_interval_ms, but it only commits what kafka_offsets.c *stored*, which is, per
 * partition, the lowest offset not yet acknowledged. A failed event is fetched again from its
 * offset (a seek), so delivery is at least once. Mode "performance" lets librdkafka store
 * every offset it hands out: nothing is replayed, acks are ignored (at most once).
 *
 * Never blocking the stage's thread: rd_kafka_consumer_poll is always called with timeout 0;
 * librdkafka writes a byte to a pipe the host watches when its queue turns non-empty
 * (rd_kafka_queue_io_event_enable), and a slow periodic timer is the safety net. While the
 * runtime pauses the source (a circuit breaker downstream), the partitions are paused in
 * librdkafka too, and the fd and timer callbacks serve the queue themselves so that
 * rebalances and the group's heartbeats go on.
 *
 * A reload or restart keeps no state in the runtime: the new instance joins the group again
 * and resumes from the committed offsets (no save/restore: Kafka holds the position).
 *
 * Ownership: the instance, its topic list, group id and partitions are host memory or
 * librdkafka objects freed by destroy; rd_kafka_t, queue, pipe, watch and timer live from
 * connect to stop. Thread contract: create and destroy on the control thread; everything
 * else on the instance's thread (librdkafka's callbacks included, see kafka.h).
 */
#define _GNU_SOURCE
#include "kafka.h"

#include <inttypes.h>
#include <stdio.h>

#define TICK_NS (250u * 1000000u)     /* the safety-net poll */
#define CLOSE_TIMEOUT_NS (5000000000ull) /* leaving the group at stop, at most */

static const tb_option options[] = {
    TB_OPTION("brokers", TB_OPT_ARRAY, NULL, TB_OPT_REQUIRED,
              "bootstrap brokers, each \"host:port\""),
    TB_OPTION("topics", TB_OPT_ARRAY, NULL, TB_OPT_REQUIRED,
              "topics to subscribe to (a name starting with ^ is a regular expression)"),
    TB_OPTION("group_id", TB_OPT_STRING, NULL, TB_OPT_REQUIRED,
              "the consumer group: instances with the same group_id share the partitions"),
    TB_OPTION("mode", TB_OPT_STRING, "transactional", 0,
              "transactional (commit acknowledged offsets only, replay failed events: at least "
              "once) or performance (commit what was read, ignore acks: at most once)"),
    TB_OPTION("retry_failed_events", TB_OPT_BOOL, "true", 0,
              "transactional: fetch a failed event again (false: a failed event counts as done)"),
    TB_OPTION("commit_interval_ms", TB_OPT_UINT, "5000", 0,
              "how often acknowledged offsets are committed (0: after every acknowledgement)"),
    TB_OPTION("rdkafka_options", TB_OPT_OBJECT, "{}", 0,
              "librdkafka consumer properties passed through, e.g. {\"session.timeout.ms\": 6000}"),
};

/* Set by the connector from its own options, or by its delivery guarantee. */
static const char *const reserved[] = {
    "bootstrap.servers=use the brokers option",
    "group.id=use the group_id option",
    "enable.auto.commit=use commit_interval_ms",
    "auto.commit.interval.ms=use commit_interval_ms",
    "enable.auto.offset.store=the connector stores the offsets it may commit (see mode)",
    NULL,
};

/* Tremor's choice: a new group reads a topic from its start, rather than skipping what is
 * there (rdkafka_options may say "latest"). */
static const char *const defaults[] = {"auto.offset.reset=earliest", NULL};

static void on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque) {
    kc_consumer *c = opaque;
    (void)rk;
    tb_log(c->host, c->ctx, err == RD_KAFKA_RESP_ERR__FATAL ? TB_LOG_ERROR : TB_LOG_WARN,
           "kafka: %s: %s", rd_kafka_err2name(err), reason);
}

static void on_commit(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                      rd_kafka_topic_partition_list_t *offsets, void *opaque) {
    kc_consumer *c = opaque;
    (void)rk;
    /* _NO_OFFSET: there was nothing new to commit */
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR || err == RD_KAFKA_RESP_ERR__NO_OFFSET) {
        if (offsets && c->host->log_enabled(c->ctx, TB_LOG_DEBUG))
            for (int i = 0; i < offsets->cnt; i++)
                tb_log(c->host, c->ctx, TB_LOG_DEBUG, "committed %s[%" PRId32 "] at %" PRId64,
                       offsets->elems[i].topic, offsets->elems[i].partition, offsets->elems[i].offset);
        return;
    }
    /* during a rebalance the group refuses commits: what was stored is committed as the
     * partitions are revoked, or by the next commit */
    bool rebalancing = err == RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS || err == RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION ||
                       err == RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID;
    tb_log(c->host, c->ctx, rebalancing ? TB_LOG_INFO : TB_LOG_WARN, "offset commit failed: %s (committing again)",
           rd_kafka_err2str(err));
    c->commit_again = true;
}

static int parse_topics(kc_consumer *c, const tb_value *topics) {
    if (!topics || topics->type != TB_ARRAY || topics->len == 0)
        return tb_fail(c->host, c->ctx, TB_EINVAL, "topics must be a non-empty array of strings");
    c->topics = rd_kafka_topic_partition_list_new((int)topics->len);
    if (!c->topics) return tb_fail(c->host, c->ctx, TB_ENOMEM, "out of memory for the topic list");
    for (uint32_t i = 0; i < topics->len; i++) {
        size_t len;
        const char *s = tb_value_str(&topics->as.items[i], &len);
        char name[256];
        if (!s || len == 0 || len >= sizeof name || memchr(s, 0, len))
            return tb_fail(c->host, c->ctx, TB_EINVAL, "topics[%u] must be a topic name (1 to 255 bytes)", i);
        memcpy(name, s, len);
        name[len] = '\0';
        rd_kafka_topic_partition_list_add(c->topics, name, RD_KAFKA_PARTITION_UA);
    }
    return TB_OK;
}

static void TB_CALL destroy(void *instance);

static int TB_CALL create(const tb_create_args *args, void **out) {
    const tb_host_api *host = args->host;
    const tb_value *config = args->config;
    size_t mode_len, group_len;
    const char *mode = tb_config_str(config, "mode", "transactional", &mode_len);
    const char *group = tb_config_str(config, "group_id", NULL, &group_len);
    uint64_t interval = tb_config_u64(config, "commit_interval_ms", 5000);
    char text[32];
    int rc;
    kc_consumer *c = host->alloc(args->ctx, sizeof *c);
    if (!c) return TB_ENOMEM;
    memset(c, 0, sizeof *c);
    c->log.host = c->host = host;
    c->log.ctx = c->ctx = args->ctx;
    c->pipe[0] = c->pipe[1] = -1;
    c->next_key = 1;
    c->max_bytes = TB_BATCH_BYTES;
    if (mode_len == 13 && memcmp(mode, "transactional", 13) == 0) {
        c->transactional = true;
    } else if (!(mode_len == 11 && memcmp(mode, "performance", 11) == 0)) {
        rc = tb_fail(host, c->ctx, TB_EINVAL, "mode must be transactional or performance, found \"%.*s\"",
                     (int)mode_len, mode);
        goto fail_instance;
    }
    c->retry_failed = tb_config_bool(config, "retry_failed_events", true);
    if (interval > 86400000u) {
        rc = tb_fail(host, c->ctx, TB_EINVAL, "commit_interval_ms must be at most 86400000, found %" PRIu64,
                     interval);
        goto fail_instance;
    }
    c->commit_each = interval == 0;
    if (!group || group_len == 0 || memchr(group, 0, group_len)) {
        rc = tb_fail(host, c->ctx, TB_EINVAL, "group_id must be a non-empty string");
        goto fail_instance;
    }
    if (!(c->group_id = tbp_kafka_strdup(host, c->ctx, group, group_len))) {
        rc = TB_ENOMEM;
        goto fail_instance;
    }
    if ((rc = parse_topics(c, tb_object_getz(config, "topics"))) != TB_OK) goto fail_instance;
    if ((rc = tbp_kafka_conf_new(host, c->ctx, config, defaults, reserved, &c->conf)) != TB_OK) goto fail_instance;
    snprintf(text, sizeof text, "%" PRIu64, interval);
    if ((rc = tbp_kafka_conf_set(host, c->ctx, c->conf, "group.id", c->group_id)) != TB_OK ||
        (rc = tbp_kafka_conf_set(host, c->ctx, c->conf, "enable.auto.commit", "true")) != TB_OK ||
        (rc = tbp_kafka_conf_set(host, c->ctx, c->conf, "auto.commit.interval.ms", text)) != TB_OK ||
        (rc = tbp_kafka_conf_set(host, c->ctx, c->conf, "enable.auto.offset.store",
                                 c->transactional ? "false" : "true")) != TB_OK)
        goto fail_instance;
    rd_kafka_conf_set_opaque(c->conf, c);
    rd_kafka_conf_set_rebalance_cb(c->conf, tbp_kafka_rebalance);
    rd_kafka_conf_set_offset_commit_cb(c->conf, on_commit);
    rd_kafka_conf_set_error_cb(c->conf, on_error);
    if (host->metric_register(c->ctx, "lag", TB_METRIC_GAUGE, &c->m_lag) != TB_OK) c->m_lag = UINT32_MAX;
    if (host->metric_register(c->ctx, "partitions_assigned", TB_METRIC_GAUGE, &c->m_partitions) != TB_OK)
        c->m_partitions = UINT32_MAX;
    *out = c;
    return TB_OK;
fail_instance:
    destroy(c);
    return rc;
}

static void TB_CALL on_wake(void *user, int fd, uint32_t events) {
    kc_consumer *c = user;
    (void)events;
    tbp_kafka_drain_pipe(fd);
    /* not paused: the runtime pulls after this callback, and pull polls */
    if (c->paused) tbp_kafka_serve(c);
}

/* The gauges: partitions assigned, and the lag: for each assigned partition that has emitted a
 * message, how far its high watermark (as librdkafka last heard it in a fetch: no request is
 * made) is past the next offset to read. Partitions with nothing emitted yet, or whose
 * watermark is not known, do not count. */
static void measure(kc_consumer *c) {
    int64_t lag = 0;
    for (uint32_t i = 0; i < c->nparts; i++) {
        const kc_part *p = &c->parts[i];
        int64_t low, high;
        if (p->next < 0 ||
            rd_kafka_get_watermark_offsets(c->rk, p->topic, p->partition, &low, &high) != RD_KAFKA_RESP_ERR_NO_ERROR ||
            high < 0)
            continue;
        if (high > p->next) lag += high - p->next;
    }
    if (c->m_lag != UINT32_MAX) c->host->metric_set(c->ctx, c->m_lag, lag);
    if (c->m_partitions != UINT32_MAX) c->host->metric_set(c->ctx, c->m_partitions, c->nparts);
}

static void TB_CALL on_tick(void *user, uint64_t timer_id) {
    kc_consumer *c = user;
    (void)timer_id;
    if (c->rk) measure(c);
    if (c->paused) tbp_kafka_serve(c);
    if (c->transactional) tbp_kafka_check_stuck(c, c->host->now_ns());
    /* commit_interval_ms 0 commits at each store: a refused commit is not retried by itself */
    if (c->commit_again && c->commit_each && c->rk) {
        c->commit_again = false;
        rd_kafka_resp_err_t err = rd_kafka_commit(c->rk, NULL, 1);
        if (err && err != RD_KAFKA_RESP_ERR__NO_OFFSET)
            tb_log(c->host, c->ctx, TB_LOG_WARN, "cannot commit: %s", rd_kafka_err2str(err));
    }
}

/* Applies the runtime's pause to everything assigned now (rd_kafka_assignment). */
static void pause_assignment(kc_consumer *c, bool pause) {
    rd_kafka_topic_partition_list_t *list = NULL;
    rd_kafka_resp_err_t err;
    if (!c->rk) return;
    if ((err = rd_kafka_assignment(c->rk, &list)) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        tb_log(c->host, c->ctx, TB_LOG_WARN, "cannot read the assignment to %s it: %s",
               pause ? "pause" : "resume", rd_kafka_err2str(err));
        return;
    }
    if (list->cnt) {
        err = pause ? rd_kafka_pause_partitions(c->rk, list) : rd_kafka_resume_partitions(c->rk, list);
        if (err)
            tb_log(c->host, c->ctx, TB_LOG_WARN, "cannot %s the partitions: %s", pause ? "pause" : "resume",
                   rd_kafka_err2str(err));
    }
    rd_kafka_topic_partition_list_destroy(list);
}

static int TB_CALL stop(void *instance);

static int TB_CALL connect_(void *instance) {
    kc_consumer *c = instance;
    char err[512];
    int rc;
    rd_kafka_resp_err_t kerr;
    if (c->rk) return TB_OK;
    rd_kafka_conf_t *conf = rd_kafka_conf_dup(c->conf);
    if (!conf) return tb_fail(c->host, c->ctx, TB_ENOMEM, "out of memory for the librdkafka configuration");
    if (!(c->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err))) {
        rd_kafka_conf_destroy(conf);
        return tb_fail(c->host, c->ctx, TB_EIO, "cannot create the Kafka consumer: %s", err);
    }
    /* from now on the main queue (errors, logs, rebalances) is served by consumer_poll */
    rd_kafka_poll_set_consumer(c->rk);
    c->queue = rd_kafka_queue_get_consumer(c->rk);
    if (!c->queue) {
        rc = tb_fail(c->host, c->ctx, TB_EIO, "the Kafka consumer has no queue (no group.id?)");
        goto fail_handle;
    }
    if ((rc = tbp_kafka_wake_pipe(c->host, c->ctx, c->pipe)) != TB_OK) goto fail_handle;
    if ((rc = c->host->fd_watch(c->ctx, c->pipe[0], TB_FD_READ, on_wake, c, &c->watch_id)) != TB_OK) {
        c->watch_id = 0;
        rc = tb_fail(c->host, c->ctx, TB_EIO, "cannot watch the wake-up pipe (%d)", rc);
        goto fail_handle;
    }
    rd_kafka_queue_io_event_enable(c->queue, c->pipe[1], "1", 1);
    if ((rc = c->host->timer_start(c->ctx, TICK_NS, TICK_NS, on_tick, c, &c->timer_id)) != TB_OK) {
        c->timer_id = 0;
        rc = tb_fail(c->host, c->ctx, TB_EIO, "cannot start the poll timer (%d)", rc);
        goto fail_handle;
    }
    if ((kerr = rd_kafka_subscribe(c->rk, c->topics)) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        rc = tb_fail(c->host, c->ctx, TB_EIO, "cannot subscribe to the topics: %s", rd_kafka_err2str(kerr));
        goto fail_handle;
    }
    tb_log(c->host, c->ctx, TB_LOG_INFO, "joining consumer group %s", c->group_id);
    return TB_OK;
fail_handle:
    stop(c);
    return rc;
}

static void release_held(kc_consumer *c) {
    for (uint32_t i = 0; i < c->nheld; i++) rd_kafka_message_destroy(c->held[i]);
    c->nheld = 0;
}

/* Leaves the group: the revocation this causes stores what is acknowledged, and librdkafka
 * commits it as it unassigns. Bounded, so a dead cluster cannot hold the runtime's stop. */
static bool close_consumer(kc_consumer *c) {
    rd_kafka_error_t *error = rd_kafka_consumer_close_queue(c->rk, c->queue);
    if (error) {
        tb_log(c->host, c->ctx, TB_LOG_WARN, "cannot leave the consumer group: %s", rd_kafka_error_string(error));
        rd_kafka_error_destroy(error);
        return false;
    }
    uint64_t until = c->host->now_ns() + CLOSE_TIMEOUT_NS;
    while (!rd_kafka_consumer_closed(c->rk)) {
        if (c->host->now_ns() > until) {
            tb_log(c->host, c->ctx, TB_LOG_WARN, "leaving the consumer group timed out");
            return false;
        }
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c->rk, 100);
        if (m) rd_kafka_message_destroy(m); /* not emitted: whoever gets the partition reads it */
    }
    return true;
}

static int TB_CALL stop(void *instance) {
    kc_consumer *c = instance;
    if (c->timer_id) c->host->timer_stop(c->ctx, c->timer_id);
    if (c->watch_id) c->host->fd_unwatch(c->ctx, c->watch_id);
    c->timer_id = c->watch_id = 0;
    release_held(c);
    if (c->rk) {
        bool closed = false;
        if (c->queue) {
            rd_kafka_queue_io_event_enable(c->queue, -1, NULL, 0);
            closed = close_consumer(c);
        }
        tbp_kafka_drop_all(c);
        c->nended = 0; /* no more pulls: nothing to end */
        if (c->queue) rd_kafka_queue_destroy(c->queue);
        rd_kafka_destroy_flags(c->rk, closed ? 0 : RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
    }
    c->queue = NULL;
    c->rk = NULL;
    tbp_kafka_close_pipe(c->pipe);
    return TB_OK;
}

static void TB_CALL destroy(void *instance) {
    kc_consumer *c = instance;
    if (!c) return;
    stop(c);
    if (c->conf) rd_kafka_conf_destroy(c->conf);
    if (c->topics) rd_kafka_topic_partition_list_destroy(c->topics);
    c->host->free(c->ctx, c->group_id);
    c->host->free(c->ctx, c->parts);
    c->host->free(c->ctx, c->held);
    c->host->free(c->ctx, c->ended);
    c->host->free(c->ctx, c);
}

static int TB_CALL pause_(void *instance) {
    kc_consumer *c = instance;
    c->paused = true;
    pause_assignment(c, true);
    return TB_OK;
}

static int TB_CALL resume(void *instance) {
    kc_consumer *c = instance;
    c->paused = false;
    pause_assignment(c, false);
    return TB_OK;
}

static const tb_connector_vtable vtable = {
    .struct_size = sizeof(tb_connector_vtable),
    .flags = TB_CONNECTOR_SOURCE | TB_CONNECTOR_TRANSACTIONAL,
    .create = create,
    .destroy = destroy,
    .connect = connect_,
    .pause = pause_,
    .resume = resume,
    .stop = stop,
    .pull = tbp_kafka_pull,
    .ack = tbp_kafka_ack,
    .fail = tbp_kafka_fail,
};

const tb_component tbp_kafka_consumer_component = {
    .struct_size = sizeof(tb_component),
    .kind = TB_KIND_CONNECTOR,
    .name = "kafka_consumer",
    .description = "a member of a Kafka consumer group: messages as raw events, offsets "
                   "committed once acknowledged",
    .options = options,
    .option_count = sizeof options / sizeof options[0],
    .vtable = &vtable,
};
