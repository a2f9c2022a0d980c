/*
 * test_http_client.c - the `http_client` connector (plugins/connector/http_client), loaded from
 * the build's plugins directory through the registry and driven through its vtable on a real
 * event loop, against a real HTTP server on 127.0.0.1 (http_peer.py, Python's stdlib): body
 * and headers arrive; per-event overrides of method, url and headers; batching (by size, and
 * across pushes by linger_ms); 500 twice then 200 (delivered after two retries); 400 (failed,
 * not retried); a refused connection (retried, then failed with the reason); Retry-After;
 * responses as source events (status, headers, url, $correlation, one stream each, an empty
 * body); a timeout; the circuit breaker with concurrency 1; stop failing what is pending; and
 * the configuration checks.
 *
 * Thread contract: single-threaded. Ownership: each test owns its fixture, loop and peer.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#define TB_FIX_IMPLEMENTATION
#include "plugin_fix.h"
#include "httpc_fix.h"

static peer the_peer;

static int group_setup(void **state) {
    peer_start(&the_peer);
    return tb_fix_group_setup(state);
}

static int group_teardown(void **state) {
    peer_stop(&the_peer);
    return tb_fix_group_teardown(state);
}

/* A configuration for url path on the peer, with extra options. */
static const char *conf(const char *path, const char *extra) {
    static char json[2048];
    snprintf(json, sizeof json, "{\"url\":\"http://127.0.0.1:%u%s\"%s%s}", the_peer.port, path, extra ? "," : "",
             extra ? extra : "");
    return json;
}

/* The logged requests whose path starts with prefix, in arena a. */
static tb_value requests_to(tb_arena *a, const char *prefix) {
    tb_value all = peer_requests(&the_peer, a), out = tb_array();
    for (uint32_t i = 0; i < all.len; i++)
        if (strncmp(field(&all.as.items[i], "path"), prefix, strlen(prefix)) == 0) *tb_array_push(a, &out) = all.as.items[i];
    return out;
}

static void test_body_and_headers(void **state) {
    tbr_loop *loop = tbr_loop_new();
    deliveries *ds = calloc(1, sizeof *ds);
    tb_fix f;
    (void)state;
    start_on(&f, loop, conf("/echo/1", "\"headers\":{\"X-One\":\"1\",\"X-Multi\":[\"a\",\"b\"],\"Content-Type\":\"application/json\"}"));
    assert_int_equal(push_text(&f, "{\"hello\":\"world\"}", 7), TB_EPENDING);
    assert_int_equal(wait_delivered(loop, &f, ds, 7), TB_OK);
    tb_value r = requests_to(f.arena, "/echo/1");
    assert_int_equal(r.len, 1);
    assert_string_equal(field(&r.as.items[0], "method"), "POST");
    assert_string_equal(field(&r.as.items[0], "body"), "{\"hello\":\"world\"}");
    assert_string_equal(header(&r.as.items[0], "x-one"), "1");
    assert_string_equal(header(&r.as.items[0], "x-multi"), "a, b");
    assert_string_equal(header(&r.as.items[0], "content-type"), "application/json");
    assert_string_equal(header(&r.as.items[0], "expect"), "");
    assert_non_null(strstr(header(&r.as.items[0], "user-agent"), "temblor"));
    assert_int_equal(metric_of(&f, "requests"), 1);
    assert_int_equal(metric_of(&f, "responses_2xx"), 1);
    tb_fix_stop(&f);
    tbr_loop_free(loop);
    free(ds);
}

static void test_overrides(void **state) {
    tbr_loop *loop = tbr_loop_new();
    deliveries *ds = calloc(1, sizeof *ds);
    tb_fix f;
    char meta[512];
    (void)state;
    start_on(&f, loop, conf("/ovr/default", "\"headers\":{\"X-One\":\"1\",\"X-Two\":\"2\"},\"batch_size\":10"));
    snprintf(meta, sizeof meta,
             "{\"http_client\":{\"request\":{\"method\":\"put\",\"url\":\"http://127.0.0.1:%u/ovr/other\","
             "\"headers\":{\"X-One\":\"override\",\"X-Two\":null,\"X-New\":[\"p\",\"q\"]}}}}",
             the_peer.port);
    out_event ev[] = {{"first", meta}, {"second", NULL}, {"third", meta}};
    assert_int_equal(push_events(&f, ev, 3, 11), TB_EPENDING);
    assert_int_equal(wait_delivered(loop, &f, ds, 11), TB_OK);
    /* three requests: overrides never share a request with events without them */
    tb_value d = requests_to(f.arena, "/ovr/default"), o = requests_to(f.arena, "/ovr/other");
    assert_int_equal(d.len, 1);
    assert_int_equal(o.len, 2);
    assert_string_equal(field(&d.as.items[0], "method"), "POST");
    assert_string_equal(field(&d.as.items[0], "body"), "second");
    assert_string_equal(header(&d.as.items[0], "x-one"), "1");
    assert_string_equal(header(&d.as.items[0], "x-two"), "2");
    for (uint32_t i = 0; i < 2; i++) {
        assert_string_equal(field(&o.as.items[i], "method"), "PUT");
        assert_string_equal(header(&o.as.items[i], "x-one"), "override");
        assert_string_equal(header(&o.as.items[i], "x-two"), "");
        assert_string_equal(header(&o.as.items[i], "x-new"), "p, q");
    }
    /* a bad override fails its batch, without restarting anything */
    out_event bad[] = {{"x", "{\"http_client\":{\"request\":{\"url\":\"ftp://nope/\"}}}"}};
    int rc = push_events(&f, bad, 1, 12);
    assert_int_equal(rc, TB_EPENDING);
    assert_int_equal(wait_delivered(loop, &f, ds, 12), TB_EINVAL);
    tb_fix_stop(&f);
    tbr_loop_free(loop);
    free(ds);
}

static void test_batching(void **state) {
    tbr_loop *loop = tbr_loop_new();
    deliveries *ds = calloc(1, sizeof *ds);
    tb_fix f;
    (void)state;
    /* by size within one push */
    start_on(&f, loop, conf("/batch/size", "\"batch_size\":3"));
    out_event ev[] = {{"a\n", NULL}, {"b\n", NULL}, {"c\n", NULL}, {"d\n", NULL}, {"e\n", NULL}};
    assert_int_equal(push_events(&f, ev, 5, 21), TB_EPENDING);
    assert_int_equal(wait_delivered(loop, &f, ds, 21), TB_OK);
    tb_value r = requests_to(f.arena, "/batch/size");
    assert_int_equal(r.len, 2);
    /* in flight at once: either may arrive first */
    bool first = strcmp(field(&r.as.items[0], "body"), "a\nb\nc\n") == 0;
    assert_string_equal(field(&r.as.items[first ? 0 : 1], "body"), "a\nb\nc\n");
    assert_string_equal(field(&r.as.items[first ? 1 : 0], "body"), "d\ne\n");
    tb_fix_stop(&f);

    /* across pushes: two batches wait for linger_ms and go as one request */
    memset(ds, 0, sizeof *ds);
    start_on(&f, loop, conf("/batch/linger", "\"batch_size\":10,\"linger_ms\":200"));
    assert_int_equal(push_text(&f, "one;", 22), TB_EPENDING);
    assert_int_equal(push_text(&f, "two;", 23), TB_EPENDING);
    assert_int_equal(delivered(&f, ds, 22), 1);
    assert_int_equal(wait_delivered(loop, &f, ds, 22), TB_OK);
    assert_int_equal(wait_delivered(loop, &f, ds, 23), TB_OK);
    r = requests_to(f.arena, "/batch/linger");
    assert_int_equal(r.len, 1);
    assert_string_equal(field(&r.as.items[0], "body"), "one;two;");

    /* batch_bytes closes a batch before it would grow past it */
    tb_fix_stop(&f);
    memset(ds, 0, sizeof *ds);
    start_on(&f, loop, conf("/batch/bytes", "\"batch_size\":100,\"batch_bytes\":8"));
    out_event small[] = {{"1234", NULL}, {"5678", NULL}, {"9", NULL}};
    assert_int_equal(push_events(&f, small, 3, 24), TB_EPENDING);
    assert_int_equal(wait_delivered(loop, &f, ds, 24), TB_OK);
    assert_int_equal(requests_to(f.arena, "/batch/bytes").len, 2);
    tb_fix_stop(&f);
    tbr_loop_free(loop);
    free(ds);
}

static void test_retry_then_ok(void **state) {
    tbr_loop *loop = tbr_loop_new();
    deliveries *ds = calloc(1, sizeof *ds);
    tb_fix f;
    (void)state;
    start_on(&f, loop, conf("/flaky/k1/2", "\"backoff_ms\":20"));
    uint64_t t0 = tbr_now_ns();
    assert_int_equal(push_text(&f, "retry me", 31), TB_EPENDING);
    assert_int_equal(wait_delivered(loop, &f, ds, 31), TB_OK);
    /* backoff: at least 10 ms (half of 20, jitter) then 20 ms */
    assert_true(tbr_now_ns() - t0 >= 30000000ull);
    tb_value r = requests_to(f.arena, "/flaky/k1/");
    assert_int_equal(r.len, 3);
    for (uint32_t i = 0; i < 3; i++) assert_string_equal(field(&r.as.items[i], "body"), "retry me");
    assert_int_equal(metric_of(&f, "requests"), 3);
    assert_int_equal(metric_of(&f, "retries"), 2);
    assert_int_equal(metric_of(&f, "responses_5xx"), 2);
    assert_int_equal(metric_of(&f, "responses_2xx"), 1);
    assert_int_equal(metric_of(&f, "failures"), 0);
    /* only the final response becomes an event */
    assert_int_equal(pull_once(&f, 16), TB_OK);
    assert_int_equal(f.out.count, 2);
    assert_int_equal(pull_once(&f, 16), TB_EAGAIN);

    /* more 5xx than max_retries: failed */
    tb_fix_stop(&f);
    memset(ds, 0, sizeof *ds);
    start_on(&f, loop, conf("/flaky/k2/9", "\"backoff_ms\":5,\"max_retries\":2"));
    assert_int_equal(push_text(&f, "doomed", 32), TB_EPENDING);
    assert_int_equal(wait_delivered(loop, &f, ds, 32), TB_EIO);
    assert_int_equal(requests_to(f.arena, "/flaky/k2/").len, 3);
    assert_int_equal(metric_of(&f, "failures"), 1);
    tb_fix_stop(&f);
    tbr_loop_free(loop);
    free(ds);
}

static void test_400_not_retried(void **state) {
    tbr_loop *loop = tbr_loop_new();
    deliveries *ds = calloc(1, sizeof *ds);
    tb_fix f;
    capture cap;
    (void)state;
    start_on(&f, loop, conf("/status/400", "\"backoff_ms\":5"));
    capture_start(&cap);
    assert_int_equal(push_text(&f, "rejected", 41), TB_EPENDING);
    int st = wait_delivered(loop, &f, ds, 41);
    char *log = capture_end(&cap);
    assert_true(st < 0);
    assert_int_equal(requests_to(f.arena, "/status/400").len, 1);
    assert_int_equal(metric_of(&f, "retries"), 0);
    assert_int_equal(metric_of(&f, "failures"), 1);
    assert_int_equal(metric_of(&f, "responses_4xx"), 1);
    assert_non_null(strstr(log, "HTTP 400 (not retried): status 400"));
    free(log);
    tb_fix_stop(&f);
    tbr_loop_free(loop);
    free(ds);
}

static void test_refused(void **state) {
    tbr_loop *loop = tbr_loop_new();
    deliveries *ds = calloc(1, sizeof *ds);
    tb_fix f;
    capture cap;
    char json[256];
    (void)state;
    /* a port nothing listens on: bound, never listened */
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    socklen_t len = sizeof a;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(getsockname(s, (struct sockaddr *)&a, &len), 0);
    snprintf(json, sizeof json, "{\"url\":\"http://127.0.0.1:%u/\",\"max_retries\":2,\"backoff_ms\":5}", ntohs(a.sin_port));
    start_on(&f, loop, json);
    capture_start(&cap);
    assert_int_equal(push_text(&f, "nobody", 51), TB_EPENDING);
    int st = wait_delivered(loop, &f, ds, 51);
    char *log = capture_end(&cap);
    assert_int_equal(st, TB_EIO);
    assert_int_equal(metric_of(&f, "requests"), 3);
    assert_int_equal(metric_of(&f, "retries"), 2);
    assert_int_equal(metric_of(&f, "failures"), 1);
    if (!strstr(log, "failed after 3 attempts: Couldn't connect to server") || !strstr(log, "Connection refused"))
        fail_msg("the log does not say why: %s", log);
    free(log);
    close(s);
    tb_fix_stop(&f);
    tbr_loop_free(loop);
    free(ds);
}

static void test_retry_after(void **state) {
    tbr_loop *loop = tbr_loop_new();
    deliveries *ds = calloc(1, sizeof *ds);
    tb_fix f;
    (void)state;
    start_on(&f, loop, conf("/retry-after/x", "\"backoff_ms\":5"));
    uint64_t t0 = tbr_now_ns();
    assert_int_equal(push_text(&f, "later", 55), TB_EPENDING);
    assert_int_equal(wait_delivered(loop, &f, ds, 55), TB_OK);
    assert_true(tbr_now_ns() - t0 >= 900000000ull); /* Retry-After: 1 beats backoff_ms 5 */
    assert_int_equal(metric_of(&f, "responses_4xx"), 1);
    tb_fix_stop(&f);
    tbr_loop_free(loop);
    free(ds);
}

/* The response meta of event e: meta.http_client.response. */
static const tb_value *response_of(const tb_event *e) {
    const tb_value *hc = tb_object_getz(&e->meta, "http_client");
    assert_non_null(hc);
    const tb_value *r = tb_object_getz(hc, "response");
    assert_non_null(r);
    return r;
}

static void test_responses(void **state) {
    tbr_loop *loop = tbr_loop_new();
    deliveries *ds = calloc(1, sizeof *ds);
    tb_fix f;
    char meta[512], want[128];
    (void)state;
    start_on(&f, loop, conf("/headers", NULL));
    snprintf(meta, sizeof meta, "{\"correlation\":{\"id\":42,\"tags\":[\"x\",\"y\"]}}");
    out_event ev[] = {{"q", meta}};
    assert_int_equal(pull_once(&f, 16), TB_EAGAIN);
    assert_int_equal(push_events(&f, ev, 1, 61), TB_EPENDING);
    assert_int_equal(wait_delivered(loop, &f, ds, 61), TB_OK);
    assert_int_equal(pull_once(&f, 16), TB_OK);
    assert_int_equal(f.out.count, 2);
    const tb_event *e = &f.out.events[0], *end = &f.out.events[1];
    assert_true(e->flags & TB_EF_RAW);
    assert_false(e->flags & TB_EF_STREAM_END);
    assert_int_equal(e->data.type, TB_BYTES);
    assert_int_equal(e->data.len, 7);
    assert_memory_equal(e->data.as.bytes, "headers", 7);
    const tb_value *r = response_of(e);
    assert_int_equal(tb_object_getz(r, "status")->as.u, 200);
    const tb_value *h = tb_object_getz(r, "headers");
    assert_true(tb_value_str_eq(tb_object_getz(h, "x-test"), "a"));
    const tb_value *cookies = tb_object_getz(h, "set-cookie");
    assert_non_null(cookies);
    assert_int_equal(cookies->type, TB_ARRAY);
    assert_int_equal(cookies->len, 2);
    assert_true(tb_value_str_eq(&cookies->as.items[0], "a=1"));
    assert_true(tb_value_str_eq(&cookies->as.items[1], "b=2"));
    assert_true(tb_value_str_eq(tb_object_getz(h, "content-length"), "7"));
    snprintf(want, sizeof want, "http://127.0.0.1:%u/headers", the_peer.port);
    assert_true(tb_value_str_eq(tb_object_getz(r, "url"), want));
    const tb_value *req = tb_object_getz(tb_object_getz(&e->meta, "http_client"), "request");
    assert_true(tb_value_str_eq(tb_object_getz(req, "method"), "POST"));
    assert_true(tb_value_str_eq(tb_object_getz(req, "url"), want));
    const tb_value *corr = tb_object_getz(&e->meta, "correlation");
    assert_non_null(corr);
    int64_t id = 0;
    assert_true(tb_value_as_i64(tb_object_getz(corr, "id"), &id));
    assert_int_equal(id, 42);
    assert_true(tb_value_str_eq(&tb_object_getz(corr, "tags")->as.items[1], "y"));
    /* the stream ends with the response */
    assert_true(end->flags & TB_EF_STREAM_END);
    assert_int_equal(end->stream, e->stream);
    assert_int_equal(end->data.len, 0);
    uint32_t first_stream = e->stream;
    uint64_t first_id = e->id;

    /* an empty body, a stream of its own with the next id */
    tb_fix_stop(&f);
    memset(ds, 0, sizeof *ds);
    start_on(&f, loop, conf("/empty", NULL));
    assert_int_equal(push_text(&f, "q", 62), TB_EPENDING);
    assert_int_equal(push_text(&f, "q", 63), TB_EPENDING);
    assert_int_equal(wait_delivered(loop, &f, ds, 62), TB_OK);
    assert_int_equal(wait_delivered(loop, &f, ds, 63), TB_OK);
    assert_int_equal(pull_once(&f, 16), TB_OK);
    assert_int_equal(f.out.count, 4);
    assert_int_equal(f.out.events[0].data.len, 0);
    assert_int_equal(f.out.events[0].data.type, TB_BYTES);
    assert_false(f.out.events[0].flags & TB_EF_STREAM_END);
    assert_int_equal(tb_object_getz(response_of(&f.out.events[0]), "status")->as.u, 200);
    assert_int_not_equal(f.out.events[0].stream, f.out.events[2].stream);
    assert_true(f.out.events[2].id > f.out.events[0].id);
    (void)first_stream;
    (void)first_id;

    /* a failed request's last answer is an event too (with its status); responses false: none */
    tb_fix_stop(&f);
    memset(ds, 0, sizeof *ds);
    start_on(&f, loop, conf("/status/404", "\"responses\":false"));
    assert_int_equal(push_text(&f, "q", 64), TB_EPENDING);
    assert_true(wait_delivered(loop, &f, ds, 64) < 0);
    assert_int_equal(pull_once(&f, 16), TB_EAGAIN);

    /* max_responses: the rest is dropped and counted */
    tb_fix_stop(&f);
    memset(ds, 0, sizeof *ds);
    start_on(&f, loop, conf("/status/404", "\"max_responses\":2,\"max_retries\":0"));
    for (uint64_t t = 70; t < 75; t++) assert_int_equal(push_text(&f, "q", t), TB_EPENDING);
    for (uint64_t t = 70; t < 75; t++) assert_true(wait_delivered(loop, &f, ds, t) < 0);
    assert_int_equal(metric_of(&f, "responses_dropped"), 3);
    assert_int_equal(pull_once(&f, 16), TB_OK);
    assert_int_equal(f.out.count, 4);
    assert_int_equal(tb_object_getz(response_of(&f.out.events[0]), "status")->as.u, 404);
    tb_fix_stop(&f);
    tbr_loop_free(loop);
    free(ds);
}

static void test_timeout(void **state) {
    tbr_loop *loop = tbr_loop_new();
    deliveries *ds = calloc(1, sizeof *ds);
    tb_fix f;
    capture cap;
    (void)state;
    start_on(&f, loop, conf("/slow/3000", "\"timeout_ms\":200,\"max_retries\":1,\"backoff_ms\":5"));
    uint64_t t0 = tbr_now_ns();
    capture_start(&cap);
    assert_int_equal(push_text(&f, "wait", 81), TB_EPENDING);
    int st = wait_delivered(loop, &f, ds, 81);
    char *log = capture_end(&cap);
    assert_int_equal(st, TB_EIO);
    uint64_t took = tbr_now_ns() - t0;
    assert_true(took >= 400000000ull && took < 2500000000ull);
    assert_non_null(strstr(log, "Timeout was reached"));
    assert_int_equal(metric_of(&f, "retries"), 1);
    free(log);
    tb_fix_stop(&f);
    tbr_loop_free(loop);
    free(ds);
}

static void test_circuit_and_concurrency(void **state) {
    tbr_loop *loop = tbr_loop_new();
    deliveries *ds = calloc(1, sizeof *ds);
    tb_fix f;
    (void)state;
    start_on(&f, loop, conf("/slow/150", "\"concurrency\":1,\"queue_size\":2"));
    assert_int_equal(push_text(&f, "1", 91), TB_EPENDING);
    assert_false(tbr_context_circuit_open(f.inst->ctx));
    assert_int_equal(push_text(&f, "2", 92), TB_EPENDING);
    assert_false(tbr_context_circuit_open(f.inst->ctx));
    assert_int_equal(push_text(&f, "3", 93), TB_EPENDING);
    assert_true(tbr_context_circuit_open(f.inst->ctx)); /* one in flight, two waiting */
    assert_int_equal(metric_of(&f, "inflight"), 1);
    assert_int_equal(metric_of(&f, "queued"), 2);
    assert_int_equal(wait_delivered(loop, &f, ds, 91), TB_OK);
    assert_false(tbr_context_circuit_open(f.inst->ctx)); /* one waiting: half the queue */
    assert_int_equal(wait_delivered(loop, &f, ds, 92), TB_OK);
    assert_int_equal(wait_delivered(loop, &f, ds, 93), TB_OK);
    /* one at a time, in order */
    tb_value r = requests_to(f.arena, "/slow/150");
    assert_int_equal(r.len, 3);
    for (uint32_t i = 0; i < 3; i++) {
        char want[2] = {(char)('1' + i), 0};
        assert_string_equal(field(&r.as.items[i], "body"), want);
    }
    assert_int_equal(vt(&f)->drain(f.inst->state), TB_OK);

    /* drain waits for what is in flight; stop fails what is left */
    assert_int_equal(push_text(&f, "4", 94), TB_EPENDING);
    assert_int_equal(push_text(&f, "5", 95), TB_EPENDING);
    assert_int_equal(vt(&f)->drain(f.inst->state), TB_EAGAIN);
    assert_int_equal(wait_delivered(loop, &f, ds, 94), TB_OK);
    assert_int_equal(vt(&f)->stop(f.inst->state), TB_OK);
    assert_int_equal(delivered(&f, ds, 95), TB_ECLOSED);
    assert_int_equal(push_text(&f, "6", 96), TB_ECLOSED);
    /* and connect brings it back */
    assert_int_equal(vt(&f)->connect(f.inst->state), TB_OK);
    assert_int_equal(push_text(&f, "7", 97), TB_EPENDING);
    assert_int_equal(wait_delivered(loop, &f, ds, 97), TB_OK);
    tb_fix_stop(&f);
    tbr_loop_free(loop);
    free(ds);
}

static void expect_refused(const char *json, const char *want) {
    char err[512] = "";
    int rc = try_create(json, err, sizeof err);
    if (rc != TB_EINVAL || !strstr(err, want)) fail_msg("%s: %d \"%s\" does not say \"%s\"", json, rc, err, want);
}

static void test_bad_config(void **state) {
    (void)state;
    expect_refused("{\"url\":\"ftp://example.org/\"}", "url \"ftp://example.org/\": the scheme must be http:// or https://");
    expect_refused("{\"url\":\"http://\"}", "url \"http://\"");
    expect_refused("{\"url\":\"http://x/\",\"method\":\"PO ST\"}", "method \"PO ST\"");
    expect_refused("{\"url\":\"http://x/\",\"headers\":{\"X\":1}}", "headers.X: a header value must be a string or an array of strings, found int");
    expect_refused("{\"url\":\"http://x/\",\"headers\":{\"bad name\":\"v\"}}", "headers: \"bad name\" is not a header name");
    expect_refused("{\"url\":\"http://x/\",\"headers\":{\"X\":\"a\\nb\"}}", "must not hold CR, LF or NUL");
    expect_refused("{\"url\":\"http://x/\",\"concurrency\":0}", "concurrency must be between 1 and 1024, found 0");
    expect_refused("{\"url\":\"http://x/\",\"tls\":{\"cafile\":\"/nonexistent/ca.pem\"}}", "tls.cafile \"/nonexistent/ca.pem\": No such file");
    expect_refused("{\"url\":\"http://x/\",\"tls\":{\"verfy\":false}}", "tls: unknown field \"verfy\"");
    expect_refused("{\"url\":\"http://x/\",\"auth\":{\"basic\":{\"password\":\"p\"}}}", "auth.basic.username is required");
    expect_refused("{\"url\":\"http://x/\",\"backoff_ms\":500,\"max_backoff_ms\":100}", "max_backoff_ms (100) must not be below backoff_ms (500)");
    char err[512];
    assert_int_equal(try_create("{\"url\":\"https://example.org:8443/x?y=1\",\"method\":\"put\",\"auth\":{\"basic\":{\"username\":\"u\"}}}", err, sizeof err), TB_OK);
}

static void test_basic_auth(void **state) {
    tbr_loop *loop = tbr_loop_new();
    deliveries *ds = calloc(1, sizeof *ds);
    tb_fix f;
    (void)state;
    start_on(&f, loop, conf("/auth", "\"auth\":{\"basic\":{\"username\":\"user\",\"password\":\"pass\"}},\"method\":\"PATCH\""));
    assert_int_equal(push_text(&f, "x", 101), TB_EPENDING);
    assert_int_equal(wait_delivered(loop, &f, ds, 101), TB_OK);
    tb_value r = requests_to(f.arena, "/auth");
    assert_int_equal(r.len, 1);
    assert_string_equal(field(&r.as.items[0], "method"), "PATCH");
    assert_string_equal(header(&r.as.items[0], "authorization"), "Basic dXNlcjpwYXNz");
    tb_fix_stop(&f);
    tbr_loop_free(loop);
    free(ds);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_body_and_headers),
        cmocka_unit_test(test_overrides),
        cmocka_unit_test(test_batching),
        cmocka_unit_test(test_retry_then_ok),
        cmocka_unit_test(test_400_not_retried),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_retry_after),
        cmocka_unit_test(test_responses),
        cmocka_unit_test(test_timeout),
        cmocka_unit_test(test_circuit_and_concurrency),
        cmocka_unit_test(test_bad_config),
        cmocka_unit_test(test_basic_auth),
    };
    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
