/*
 * mock_cluster.c - for the scale-out test (kafka_scale.sh): hosts librdkafka's mock Kafka
 * cluster, which speaks the real protocol on loopback ports, so that separate processes (two
 * temblor instances in one consumer group) can use it. It creates a topic, prints the
 * cluster's bootstrap servers on the first line of stdout, then produces COUNT messages,
 * paced at RATE a second: message n is {"n": n} and goes to partition n % PARTITIONS. After
 * each message it rewrites STATUS ("produced=N", "done" at the end) through a rename. It
 * stays up until SIGTERM or SIGINT.
 *
 * usage: mock_cluster TOPIC PARTITIONS COUNT RATE STATUS
 *
 * Ownership: everything is the program's. Thread contract: one thread of its own (librdkafka
 * runs its own for the cluster and the producer).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

static volatile sig_atomic_t stopping;

static void on_signal(int sig) {
    (void)sig;
    stopping = 1;
}

static void write_status(const char *path, const char *text) {
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *fp = fopen(tmp, "w");
    if (!fp) return;
    fputs(text, fp);
    fputc('\n', fp);
    if (fclose(fp) == 0) rename(tmp, path);
}

static void sleep_ns(uint64_t ns) {
    struct timespec ts = {(time_t)(ns / 1000000000u), (long)(ns % 1000000000u)};
    while (!stopping && nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static rd_kafka_t *new_producer(const char *bootstraps) {
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (bootstraps && rd_kafka_conf_set(conf, "bootstrap.servers", bootstraps, err, sizeof err) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, "mock_cluster: %s\n", err);
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!rk) {
        fprintf(stderr, "mock_cluster: %s\n", err);
        rd_kafka_conf_destroy(conf);
    }
    return rk;
}

int main(int argc, char **argv) {
    if (argc != 6) {
        fprintf(stderr, "usage: mock_cluster TOPIC PARTITIONS COUNT RATE STATUS\n");
        return 2;
    }
    const char *topic = argv[1], *status = argv[5];
    int partitions = atoi(argv[2]);
    long count = atol(argv[3]);
    double rate = atof(argv[4]);
    int rc = 1;
    if (partitions < 1 || count < 0 || rate <= 0) {
        fprintf(stderr, "mock_cluster: bad PARTITIONS, COUNT or RATE\n");
        return 2;
    }
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);

    rd_kafka_t *keeper = new_producer(NULL); /* the cluster's bookkeeping handle */
    if (!keeper) return 1;
    rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(keeper, 1);
    if (!mc) {
        fprintf(stderr, "mock_cluster: cannot create the mock cluster\n");
        goto fail_keeper;
    }
    if (rd_kafka_mock_topic_create(mc, topic, partitions, 1) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        fprintf(stderr, "mock_cluster: cannot create topic %s\n", topic);
        goto fail_cluster;
    }
    const char *boot = rd_kafka_mock_cluster_bootstraps(mc);
    printf("%s\n", boot);
    fflush(stdout);
    write_status(status, "produced=0");

    rd_kafka_t *rk = new_producer(boot);
    if (!rk) goto fail_cluster;
    uint64_t gap = (uint64_t)(1e9 / rate);
    char text[64], line[64];
    for (long n = 0; n < count && !stopping; n++) {
        int len = snprintf(text, sizeof text, "{\"n\":%ld}", n);
        rd_kafka_resp_err_t err;
        while ((err = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION((int32_t)(n % partitions)),
                                        RD_KAFKA_V_VALUE(text, (size_t)len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                        RD_KAFKA_V_END)) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
            rd_kafka_poll(rk, 10);
        if (err) {
            fprintf(stderr, "mock_cluster: produce failed: %s\n", rd_kafka_err2str(err));
            goto fail_producer;
        }
        rd_kafka_poll(rk, 0);
        snprintf(line, sizeof line, "produced=%ld", n + 1);
        write_status(status, line);
        sleep_ns(gap);
    }
    if (rd_kafka_flush(rk, 30000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        fprintf(stderr, "mock_cluster: not every message was delivered\n");
        goto fail_producer;
    }
    write_status(status, "done");
    while (!stopping) sleep_ns(100000000u);
    rc = 0;
fail_producer:
    rd_kafka_destroy(rk);
fail_cluster:
    rd_kafka_mock_cluster_destroy(mc);
fail_keeper:
    rd_kafka_destroy(keeper);
    return rc;
}
