/*
 * test_connector_exit.c - the `exit` connector plugin (plugins/connector/exit), loaded from
 * the build's plugins directory. No engine is installed here, so the runtime records the
 * first shutdown request (tbr_host_shutdown_requested) instead of stopping anything. Covered:
 * a record's exit code, the default 0 for other events, raw JSON bytes and raw non-JSON
 * bytes, a delay run by a real timer on a real loop, events after the first ignored, events
 * with bad fields dropped and counted (the next event decides), a delay cancelled by stop or
 * destroy, and a delay without a loop.
 *
 * Thread contract: single-threaded. Ownership: each test owns its fixture and loop.
 */
#define TB_FIX_IMPLEMENTATION
#include "plugin_fix.h"

#include "host/context.h"
#include "host/loop.h"

#define MS UINT64_C(1000000)

typedef struct sink {
    tb_fix f;
    tbr_loop *loop;
    const tb_connector_vtable *vt;
} sink;

static void sink_start(sink *s, bool with_loop) {
    char err[512] = "";
    tbr_host_shutdown_reset();
    s->loop = with_loop ? tbr_loop_new() : NULL;
    if (with_loop) assert_non_null(s->loop);
    int rc = tb_fix_try_start_on(&s->f, TB_KIND_CONNECTOR, "exit", NULL, 0, s->loop, err,
                                 sizeof err);
    if (rc) fail_msg("create exit: %d: %s", rc, err);
    s->vt = &s->f.inst->component->vt.connector;
    assert_true(s->vt->flags & TB_CONNECTOR_SINK);
    assert_false(s->vt->flags & TB_CONNECTOR_SOURCE);
    tb_fix_begin(&s->f);
}

static void sink_stop(sink *s) {
    assert_int_equal(s->vt->stop(s->f.inst->state), TB_OK);
    tb_fix_stop(&s->f); /* checks the plugin gave back all its memory */
    tbr_loop_free(s->loop);
    tbr_host_shutdown_reset();
}

/* Appends a structured event whose data is json. */
static void add_value(sink *s, const char *json) {
    tb_event *e = tb_batch_push(&s->f.in);
    char err[128];
    char *text = tb_arena_dup(s->f.arena, json, strlen(json));
    assert_non_null(e);
    if (tbr_json_parse(s->f.arena, text, strlen(json), &e->data, err, sizeof err))
        fail_msg("bad test JSON %s: %s", json, err);
    e->meta = tb_object();
}

/* Appends a raw event holding the bytes of text. */
static void add_raw(sink *s, const char *text) {
    tb_event *e = tb_batch_push(&s->f.in);
    assert_non_null(e);
    e->data = tb_bytes(tb_arena_dup(s->f.arena, text, strlen(text)), strlen(text));
    e->meta = tb_object();
    e->flags = TB_EF_RAW;
}

/* Pushes the batch built so far and starts a new one; returns push's status. */
static int push(sink *s) {
    int rc = s->vt->push(s->f.inst->state, &s->f.in);
    tb_fix_begin(&s->f);
    return rc;
}

/* The exit code requested by pushing one event, JSON or (raw) bytes. */
static int code_for(const char *text, bool raw) {
    sink s;
    sink_start(&s, false);
    if (raw) add_raw(&s, text);
    else add_value(&s, text);
    assert_int_equal(push(&s), TB_OK);
    int code = tbr_host_shutdown_requested();
    sink_stop(&s);
    return code;
}

static void test_codes(void **state) {
    (void)state;
    assert_int_equal(code_for("{\"exit\": 3}", false), 3);
    assert_int_equal(code_for("{\"exit\": 0, \"other\": true}", false), 0);
    assert_int_equal(code_for("{\"exit\": 255}", false), 255);
    assert_int_equal(code_for("{\"exit\": 2.0}", false), 2);
    assert_int_equal(code_for("{\"exit\": null}", false), 0);
    assert_int_equal(code_for("{\"onramp\": \"metronome\", \"id\": 4}", false), 0);
    assert_int_equal(code_for("\"stop\"", false), 0);
    assert_int_equal(code_for("[1, 2]", false), 0);
    assert_int_equal(code_for("{\"exit\": 5, \"delay\": 0}", false), 5);
    /* raw bytes: JSON is read, anything else is a plain event */
    assert_int_equal(code_for("{\"exit\": 7}\n", true), 7);
    assert_int_equal(code_for("quit\n", true), 0);
    assert_int_equal(code_for("", true), 0);
}

/* The first event decides; the rest of the batch, and later batches, change nothing. */
static void test_first_wins(void **state) {
    sink s;
    (void)state;
    sink_start(&s, false);
    add_value(&s, "{\"exit\": 1}");
    add_value(&s, "{\"exit\": 2}");
    assert_int_equal(push(&s), TB_OK);
    assert_int_equal(tbr_host_shutdown_requested(), 1);
    tbr_host_shutdown_reset();
    add_value(&s, "{\"exit\": 3}");
    assert_int_equal(push(&s), TB_OK);
    assert_int_equal(tbr_host_shutdown_requested(), -1); /* not asked again */
    sink_stop(&s);
}

/* Dropped events and bare stream-end markers are no requests. */
static void test_skipped(void **state) {
    sink s;
    (void)state;
    sink_start(&s, false);
    add_value(&s, "{\"exit\": 9}");
    s.f.in.events[0].flags |= TB_EF_DROPPED;
    tb_event *end = tb_batch_push(&s.f.in);
    assert_non_null(end);
    end->data = tb_bytes(NULL, 0);
    end->flags = TB_EF_RAW | TB_EF_STREAM_END;
    assert_int_equal(push(&s), TB_OK);
    assert_int_equal(tbr_host_shutdown_requested(), -1);
    add_value(&s, "{\"exit\": 4}");
    assert_int_equal(push(&s), TB_OK);
    assert_int_equal(tbr_host_shutdown_requested(), 4);
    sink_stop(&s);
}

/* The instance's counter name, or -1 if it has none. */
static int64_t metric(sink *s, const char *name) {
    for (uint32_t i = 0; i < tbr_context_metric_count(s->f.inst->ctx); i++) {
        const tbr_metric *m = tbr_context_metric(s->f.inst->ctx, i);
        if (strcmp(m->name, name) == 0) return atomic_load(&m->value);
    }
    return -1;
}

/* An event with a bad field requests nothing and is counted; the batch is still delivered,
 * and the next event of the same batch decides. */
static void check_bad(const char *json) {
    sink s;
    sink_start(&s, false);
    assert_int_equal(metric(&s, "invalid_requests"), 0);
    add_value(&s, json);
    assert_int_equal(push(&s), TB_OK);
    assert_int_equal(tbr_host_shutdown_requested(), -1);
    assert_int_equal(metric(&s, "invalid_requests"), 1);
    add_value(&s, json);
    add_value(&s, "{\"exit\": 6}");
    assert_int_equal(push(&s), TB_OK);
    assert_int_equal(tbr_host_shutdown_requested(), 6);
    assert_int_equal(metric(&s, "invalid_requests"), 2);
    sink_stop(&s);
}

static void test_bad_fields(void **state) {
    (void)state;
    check_bad("{\"exit\": \"1\"}");
    check_bad("{\"exit\": 256}");
    check_bad("{\"exit\": -1}");
    check_bad("{\"exit\": 1.5}");
    check_bad("{\"exit\": true}");
    check_bad("{\"exit\": 1, \"delay\": -5}");
    check_bad("{\"delay\": \"soon\"}");
}

static void test_delay(void **state) {
    sink s;
    (void)state;
    sink_start(&s, true);
    add_value(&s, "{\"exit\": 4, \"delay\": 50}");
    uint64_t t0 = tbr_now_ns();
    assert_int_equal(push(&s), TB_OK);
    assert_int_equal(tbr_host_shutdown_requested(), -1); /* not yet */
    /* a later event does not replace the pending request */
    add_value(&s, "{\"exit\": 8}");
    assert_int_equal(push(&s), TB_OK);
    while (tbr_host_shutdown_requested() < 0 && tbr_now_ns() - t0 < 2000 * MS)
        assert_true(tbr_loop_run_once(s.loop, 10) >= 0);
    uint64_t waited = tbr_now_ns() - t0;
    assert_int_equal(tbr_host_shutdown_requested(), 4);
    if (waited < 49 * MS) fail_msg("shut down after %llu ms of a 50 ms delay",
                                   (unsigned long long)(waited / MS));
    sink_stop(&s);
}

/* stop before the delay has run out asks at once (the request still decides the exit code);
 * destroy without stop (a flow that never ran) drops it. */
static void test_delay_cancelled(void **state) {
    sink s;
    (void)state;
    sink_start(&s, true);
    add_value(&s, "{\"exit\": 4, \"delay\": 20}");
    assert_int_equal(push(&s), TB_OK);
    assert_int_equal(tbr_host_shutdown_requested(), -1);
    assert_int_equal(s.vt->stop(s.f.inst->state), TB_OK);
    assert_int_equal(tbr_host_shutdown_requested(), 4);
    for (int k = 0; k < 5; k++) assert_int_equal(tbr_loop_run_once(s.loop, 10), 0);
    sink_stop(&s);

    sink_start(&s, true);
    add_value(&s, "{\"exit\": 4, \"delay\": 20}");
    assert_int_equal(push(&s), TB_OK);
    tb_fix_stop(&s.f); /* destroy without stop */
    for (int k = 0; k < 5; k++) assert_int_equal(tbr_loop_run_once(s.loop, 10), 0);
    assert_int_equal(tbr_host_shutdown_requested(), -1);
    tbr_loop_free(s.loop);
}

/* With no loop to wait on, the request is made at once rather than never. */
static void test_delay_without_loop(void **state) {
    (void)state;
    assert_int_equal(code_for("{\"exit\": 6, \"delay\": 10}", false), 6);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_codes),         cmocka_unit_test(test_first_wins),
        cmocka_unit_test(test_skipped),       cmocka_unit_test(test_bad_fields),
        cmocka_unit_test(test_delay),         cmocka_unit_test(test_delay_cancelled),
        cmocka_unit_test(test_delay_without_loop),
    };
    return cmocka_run_group_tests(tests, tb_fix_group_setup, tb_fix_group_teardown);
}
