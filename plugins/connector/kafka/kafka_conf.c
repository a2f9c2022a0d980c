/*
 * kafka_conf.c - librdkafka configurations from a connector's options, shared by both
 * connectors: "brokers" becomes bootstrap.servers, each member of "rdkafka_options" is passed
 * through as a librdkafka property (checked by librdkafka at create time, so a typo fails the
 * deployment, not the first message), and librdkafka's log lines go through the host. Also
 * the wake-up pipe both connectors hand to rd_kafka_queue_io_event_enable.
 *
 * Ownership: the configuration returned belongs to the caller. Thread contract: the conf
 * functions run in create (control thread); the log callback on any of librdkafka's threads,
 * calling only host->log, which any thread may.
 */
#define _GNU_SOURCE
#include "kafka.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <unistd.h>

#define NAME_MAX_LEN 255  /* a librdkafka property name is far shorter */
#define VALUE_MAX_LEN 4095

char *tbp_kafka_strdup(const tb_host_api *host, tb_context *ctx, const char *s, size_t len) {
    char *copy = host->alloc(ctx, len + 1);
    if (!copy) return NULL;
    if (len) memcpy(copy, s, len);
    copy[len] = '\0';
    return copy;
}

int tbp_kafka_conf_set(const tb_host_api *host, tb_context *ctx, rd_kafka_conf_t *conf,
                       const char *name, const char *value) {
    char err[512];
    if (rd_kafka_conf_set(conf, name, value, err, sizeof err) != RD_KAFKA_CONF_OK)
        return tb_fail(host, ctx, TB_EINVAL, "librdkafka property %s=\"%s\": %s", name, value, err);
    return TB_OK;
}

/* librdkafka's levels are syslog's: 0..3 errors, 4 warnings, 5..6 notices, 7 debug. */
static void on_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf) {
    const tbp_kafka_log_target *t = rd_kafka_opaque(rk);
    uint32_t lvl = level <= 3 ? TB_LOG_ERROR : level == 4 ? TB_LOG_WARN : level <= 6 ? TB_LOG_INFO : TB_LOG_DEBUG;
    if (!t) return;
    tb_log(t->host, t->ctx, lvl, "librdkafka %s: %s", fac, buf);
}

/* The text of a property value: strings as they are, booleans and numbers as librdkafka
 * reads them. */
static int value_text(const tb_host_api *host, tb_context *ctx, const char *name,
                      const tb_value *v, char *buf, size_t n) {
    size_t len;
    const char *s;
    switch (v->type) {
    case TB_STRING:
        s = tb_value_str(v, &len);
        if (len >= n || memchr(s, 0, len))
            return tb_fail(host, ctx, TB_EINVAL, "rdkafka_options.%s: the value is too long or has a NUL byte",
                           name);
        memcpy(buf, s, len);
        buf[len] = '\0';
        return TB_OK;
    case TB_BOOL: snprintf(buf, n, "%s", v->as.b ? "true" : "false"); return TB_OK;
    case TB_I64: snprintf(buf, n, "%" PRId64, v->as.i); return TB_OK;
    case TB_U64: snprintf(buf, n, "%" PRIu64, v->as.u); return TB_OK;
    case TB_F64: snprintf(buf, n, "%.17g", v->as.f); return TB_OK;
    default:
        return tb_fail(host, ctx, TB_EINVAL,
                       "rdkafka_options.%s: expected a string, a number or a boolean, found %s", name,
                       tb_type_name(v->type));
    }
}

/* The reason a reserved property is refused, or NULL when name is not reserved. */
static const char *reserved_why(const char *const *reserved, const char *name) {
    size_t n = strlen(name);
    for (; reserved && *reserved; reserved++) {
        const char *r = *reserved;
        if (strncmp(r, name, n) == 0 && (r[n] == '\0' || r[n] == '=')) return r[n] ? r + n + 1 : "";
    }
    return NULL;
}

static int set_brokers(const tb_host_api *host, tb_context *ctx, rd_kafka_conf_t *conf,
                       const tb_value *brokers) {
    char list[VALUE_MAX_LEN + 1];
    size_t at = 0;
    if (!brokers || brokers->type != TB_ARRAY || brokers->len == 0)
        return tb_fail(host, ctx, TB_EINVAL, "brokers must be a non-empty array of \"host:port\" strings");
    for (uint32_t i = 0; i < brokers->len; i++) {
        size_t len;
        const char *s = tb_value_str(&brokers->as.items[i], &len);
        if (!s || len == 0 || memchr(s, ',', len) || memchr(s, 0, len))
            return tb_fail(host, ctx, TB_EINVAL, "brokers[%u] must be a \"host:port\" string", i);
        if (at + len + 2 > sizeof list) return tb_fail(host, ctx, TB_EINVAL, "brokers: the list is too long");
        if (at) list[at++] = ',';
        memcpy(list + at, s, len);
        at += len;
    }
    list[at] = '\0';
    return tbp_kafka_conf_set(host, ctx, conf, "bootstrap.servers", list);
}

int tbp_kafka_conf_new(const tb_host_api *host, tb_context *ctx, const tb_value *config,
                       const char *const *defaults, const char *const *reserved,
                       rd_kafka_conf_t **out) {
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    const tb_value *opts = tb_object_getz(config, "rdkafka_options");
    int rc;
    if (!conf) return tb_fail(host, ctx, TB_ENOMEM, "out of memory for the librdkafka configuration");
    if ((rc = set_brokers(host, ctx, conf, tb_object_getz(config, "brokers"))) != TB_OK) goto fail_conf;
    for (; defaults && *defaults; defaults++) {
        char pair[NAME_MAX_LEN + VALUE_MAX_LEN + 2];
        char *eq;
        snprintf(pair, sizeof pair, "%s", *defaults);
        if (!(eq = strchr(pair, '='))) continue;
        *eq = '\0';
        if ((rc = tbp_kafka_conf_set(host, ctx, conf, pair, eq + 1)) != TB_OK) goto fail_conf;
    }
    if (opts && opts->type == TB_OBJECT) {
        for (uint32_t i = 0; i < opts->len; i++) {
            const tb_member *m = &opts->as.members[i];
            char name[NAME_MAX_LEN + 1], value[VALUE_MAX_LEN + 1];
            const char *why;
            if (m->key_len == 0 || m->key_len > NAME_MAX_LEN || memchr(m->key, 0, m->key_len)) {
                rc = tb_fail(host, ctx, TB_EINVAL, "rdkafka_options: a property name is empty or too long");
                goto fail_conf;
            }
            memcpy(name, m->key, m->key_len);
            name[m->key_len] = '\0';
            if ((why = reserved_why(reserved, name))) {
                rc = tb_fail(host, ctx, TB_EINVAL, "rdkafka_options: %s is set by the connector%s%s", name,
                             *why ? ": " : "", why);
                goto fail_conf;
            }
            if ((rc = value_text(host, ctx, name, &m->value, value, sizeof value)) != TB_OK) goto fail_conf;
            if ((rc = tbp_kafka_conf_set(host, ctx, conf, name, value)) != TB_OK) goto fail_conf;
        }
    }
    rd_kafka_conf_set_log_cb(conf, on_log);
    *out = conf;
    return TB_OK;
fail_conf:
    rd_kafka_conf_destroy(conf);
    return rc;
}

int tbp_kafka_wake_pipe(const tb_host_api *host, tb_context *ctx, int fds[2]) {
    if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) {
        fds[0] = fds[1] = -1;
        return tb_fail(host, ctx, TB_EIO, "cannot create the wake-up pipe: %s", strerror(errno));
    }
    return TB_OK;
}

void tbp_kafka_drain_pipe(int fd) {
    char buf[256];
    while (read(fd, buf, sizeof buf) > 0) {
    }
}

void tbp_kafka_close_pipe(int fds[2]) {
    for (int i = 0; i < 2; i++) {
        if (fds[i] >= 0) close(fds[i]);
        fds[i] = -1;
    }
}
