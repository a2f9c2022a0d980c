/*
 * httpc_connector.c - the `http_client` connector: create (options checked, multi handle
 * made), the lifecycle, metrics, and the vtable. HTTP has no connection to establish up front
 * (curl connects, keeps and reuses connections per request), so connect only makes sure a
 * multi handle exists (again, after a stop), drain sends the open batch and waits for every
 * request to finish or fail (TB_EAGAIN meanwhile), and stop fails whatever is still pending,
 * reporting those batches failed (never silently lost).
 *
 * Ownership: the instance is host memory, freed by destroy with everything it holds. Thread
 * contract: create and destroy on a control thread, everything else on the instance's thread.
 */
#include <stdio.h>

#include "httpc.h"

void tbp_httpc_metric_add(httpc *c, uint32_t id, int64_t delta) {
    if (id != UINT32_MAX) c->host->metric_add(c->ctx, id, delta);
}

void tbp_httpc_metric_set(httpc *c, uint32_t id, int64_t value) {
    if (id != UINT32_MAX) c->host->metric_set(c->ctx, id, value);
}

static const tb_option options[] = {
    TB_OPTION("url", TB_OPT_STRING, NULL, TB_OPT_REQUIRED,
              "where requests go: an http:// or https:// url (an event's $http_client.request.url overrides it)"),
    TB_OPTION("method", TB_OPT_STRING, "POST", 0, "the request method (an event's $http_client.request.method overrides it)"),
    TB_OPTION("headers", TB_OPT_OBJECT, "{}", 0,
              "request headers: {\"name\": \"value\" or [\"value\", ...]}; an event's $http_client.request.headers overrides by name"),
    TB_OPTION("batch_size", TB_OPT_UINT, "1", 0, "events joined into one request body, at most"),
    TB_OPTION("batch_bytes", TB_OPT_UINT, "1048576", 0,
              "body bytes of a batched request, at most (an event alone may be larger; 0: no bound)"),
    TB_OPTION("linger_ms", TB_OPT_UINT, "0", 0,
              "how long a batch that is not full waits for events of later pushes (0: it goes at the end of each push)"),
    TB_OPTION("concurrency", TB_OPT_UINT, "4", 0, "requests in flight (or waiting to retry) at once, at most"),
    TB_OPTION("queue_size", TB_OPT_UINT, "16", 0,
              "requests waiting for a free slot before the circuit breaker pauses the sources"),
    TB_OPTION("max_retries", TB_OPT_UINT, "3", 0, "retries of a request after a 5xx, a 429 or a transport error"),
    TB_OPTION("backoff_ms", TB_OPT_UINT, "100", 0, "the wait before the first retry; it doubles with every retry"),
    TB_OPTION("max_backoff_ms", TB_OPT_UINT, "10000", 0, "the longest wait between two attempts (Retry-After included)"),
    TB_OPTION("timeout_ms", TB_OPT_UINT, "30000", 0, "an attempt (connect, send, response) not done in this time has failed"),
    TB_OPTION("follow_redirects", TB_OPT_BOOL, "false", 0, "follow 3xx redirects (at most 10); without it a 3xx fails the request"),
    TB_OPTION("responses", TB_OPT_BOOL, "true", 0,
              "every final response becomes an event of the source half; false: none is made"),
    TB_OPTION("max_responses", TB_OPT_UINT, "1024", 0,
              "responses kept until pulled; more are dropped and counted (responses_dropped)"),
    TB_OPTION("max_response_bytes", TB_OPT_UINT, "16777216", 0,
              "bytes of a response body kept; the rest is discarded and the event says truncated"),
    TB_OPTION("tls", TB_OPT_ANY, "true", 0,
              "for https: true (verify against the system's CAs) or {\"cafile\", \"cert\", \"key\", \"verify\"}"),
    TB_OPTION("auth", TB_OPT_ANY, NULL, 0,
              "{\"basic\": {\"username\", \"password\"}} or {\"bearer\": \"token\"}"),
};
static void metric(httpc *c, const char *name, uint32_t type, uint32_t *id) {
    if (c->host->metric_register(c->ctx, name, type, id) != TB_OK) *id = UINT32_MAX;
}

static int TB_CALL connect_(void *instance) {
    httpc *c = instance;
    c->stopped = false;
    return tbp_httpc_multi_open(c);
}

static int TB_CALL drain(void *instance) {
    httpc *c = instance;
    tbp_httpc_sink_flush_open(c);
    return tbp_httpc_sink_pending(c) ? TB_EAGAIN : TB_OK;
}

static int TB_CALL stop(void *instance) {
    httpc *c = instance;
    uint32_t pending = tbp_httpc_sink_pending(c);
    if (pending)
        tb_log(c->host, c->ctx, TB_LOG_WARN, "stopping with %u request%s unfinished: their batches are reported failed",
               pending, pending == 1 ? "" : "s");
    c->stopped = true;
    tbp_httpc_sink_abort(c, TB_ECLOSED);
    tbp_httpc_multi_close(c);
    return TB_OK;
}

static int TB_CALL create(const tb_create_args *args, void **out) {
    const tb_host_api *host = args->host;
    httpc *c = host->alloc(args->ctx, sizeof *c);
    int rc;
    if (!c) return tb_fail(host, args->ctx, TB_ENOMEM, "out of memory");
    memset(c, 0, sizeof *c);
    c->host = host;
    c->ctx = args->ctx;
    if ((rc = tbp_httpc_conf_read(host, args->ctx, args->config, &c->conf)) != TB_OK) {
        host->free(args->ctx, c);
        return rc;
    }
    if ((rc = tbp_httpc_multi_open(c)) != TB_OK) {
        tbp_httpc_conf_free(host, args->ctx, &c->conf);
        host->free(args->ctx, c);
        return rc;
    }
    c->rng = (host->now_ns() ^ (uint64_t)(uintptr_t)c) | 1u;
    c->next_stream = 1;
    metric(c, "requests", TB_METRIC_COUNTER, &c->m.requests);
    metric(c, "retries", TB_METRIC_COUNTER, &c->m.retries);
    metric(c, "failures", TB_METRIC_COUNTER, &c->m.failures);
    metric(c, "responses_2xx", TB_METRIC_COUNTER, &c->m.r2xx);
    metric(c, "responses_3xx", TB_METRIC_COUNTER, &c->m.r3xx);
    metric(c, "responses_4xx", TB_METRIC_COUNTER, &c->m.r4xx);
    metric(c, "responses_5xx", TB_METRIC_COUNTER, &c->m.r5xx);
    metric(c, "responses_dropped", TB_METRIC_COUNTER, &c->m.dropped);
    metric(c, "inflight", TB_METRIC_GAUGE, &c->m.inflight);
    metric(c, "queued", TB_METRIC_GAUGE, &c->m.queued);
    *out = c;
    return TB_OK;
}

static void TB_CALL destroy(void *instance) {
    httpc *c = instance;
    if (!c->stopped || c->multi || c->reqs) stop(c);
    tbp_httpc_source_clear(c);
    tbp_httpc_conf_free(c->host, c->ctx, &c->conf);
    c->host->free(c->ctx, c);
}

static const tb_connector_vtable vtable = {
    .struct_size = sizeof(tb_connector_vtable),
    .flags = TB_CONNECTOR_SOURCE | TB_CONNECTOR_SINK,
    .create = create,
    .destroy = destroy,
    .connect = connect_,
    .drain = drain,
    .stop = stop,
    .pull = tbp_httpc_pull,
    .push = tbp_httpc_push,
};

const tb_component tbp_httpc_component = {
    .struct_size = sizeof(tb_component),
    .kind = TB_KIND_CONNECTOR,
    .name = "http_client",
    .description = "sends each event (or a batch of them) as an HTTP request, with retries; emits the responses",
    .options = options,
    .option_count = sizeof options / sizeof options[0],
    .vtable = &vtable,
};
