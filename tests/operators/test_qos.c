/*
 * test_qos.c - qos::backpressure, qos::percentile and qos::roundrobin, checked against
 * Tremor 0.13's behaviour (the unit tests of op/qos/backpressure.rs, percentile.rs and
 * roundrobin.rs, replayed with temblor's contraflow) and against odd configuration.
 *
 * Time is the events' ingest_ns and the ticks' now_ns, given explicitly.
 *
 * Thread contract: single-threaded cmocka tests.
 */
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define MS 1000000ull

/* Processes one event (data its id) with id at t_ns in a batch of its own; returns the
 * port it left on. */
static const char *send(op_fix *f, uint64_t id, uint64_t t_ns) {
    op_begin(f);
    op_event(f, "\"e\"", "{\"m\":1}", id, t_ns);
    assert_int_equal(op_process(f), TB_OK);
    assert_int_equal(f->out.count, 1);
    const tb_event *e = &f->out.events[0];
    /* passed on as it came, whatever the port */
    assert_int_equal(e->id, id);
    assert_int_equal(e->ingest_ns, t_ns);
    op_assert_json(&e->meta, "{\"m\":1}");
    return op_port_name(f, e->port);
}

#define ASSERT_SEND(f, id, t, port) assert_string_equal(send(f, id, t), port)

static void ack(op_fix *f, uint64_t id, uint64_t latency_ns) {
    op_contraflow(f, TB_CF_ACK, id, latency_ns, 0);
}

/* --- qos::backpressure ------------------------------------------------------------------------ */

#define BP_CONFIG "{\"timeout\":100000000,\"steps\":[1,10,100]}"

/* Tremor's `pass_wo_error`: healthy, everything passes, marked transactional. */
static void test_bp_pass(void **state) {
    (void)state;
    op_fix f;
    op_start(&f, "qos::backpressure", BP_CONFIG);
    ASSERT_SEND(&f, 1, 1, "out");
    assert_true(f.out.events[0].flags & TB_EF_TRANSACTIONAL);
    ASSERT_SEND(&f, 2, 2, "out");
    assert_true(f.out.events[0].flags & TB_EF_TRANSACTIONAL);
    assert_int_equal(op_metric(&f, "backoff_ns"), 0);
    op_stop(&f);
}

/* Tremor's `halt_on_error`: a slow ack backs off 1 ms from the acked event's ingest time;
 * one event per backoff period goes out. */
static void test_bp_halt_on_error(void **state) {
    (void)state;
    op_fix f;
    op_start(&f, "qos::backpressure", BP_CONFIG);
    ASSERT_SEND(&f, 1, 1 * MS, "out");
    ack(&f, 1, 200 * MS);
    assert_int_equal(op_metric(&f, "backoff_ns"), 1 * MS);
    ASSERT_SEND(&f, 2, 2 * MS - 1, "overflow");
    ASSERT_SEND(&f, 3, 2 * MS, "out");
    ASSERT_SEND(&f, 4, 2 * MS + 1, "overflow");
    assert_true(f.out.events[0].flags & TB_EF_TRANSACTIONAL);
    assert_int_equal(op_metric(&f, "overflow"), 2);
    /* a timely ack ends it */
    ack(&f, 3, 100 * MS);
    ASSERT_SEND(&f, 5, 2 * MS + 2, "out");
    assert_int_equal(op_metric(&f, "backoff_ns"), 0);
    op_stop(&f);
}

/* Tremor's `walk_backoff`: up a step per bad report, staying at the last; reset by a good
 * ack. Fails and circuits opening are bad; circuits closing change nothing. */
static void test_bp_walk(void **state) {
    (void)state;
    op_fix f;
    op_start(&f, "qos::backpressure", BP_CONFIG);
    ASSERT_SEND(&f, 1, 2, "out");
    ack(&f, 1, 200 * MS);
    assert_int_equal(op_metric(&f, "backoff_ns"), 1 * MS);
    op_contraflow(&f, TB_CF_FAIL, 1, 0, 0);
    assert_int_equal(op_metric(&f, "backoff_ns"), 10 * MS);
    op_contraflow(&f, TB_CF_CIRCUIT_OPEN, 0, 0, 0);
    assert_int_equal(op_metric(&f, "backoff_ns"), 100 * MS);
    ack(&f, 1, 100 * MS + 1);
    assert_int_equal(op_metric(&f, "backoff_ns"), 100 * MS);
    op_contraflow(&f, TB_CF_CIRCUIT_CLOSE, 0, 0, 0);
    assert_int_equal(op_metric(&f, "backoff_ns"), 100 * MS);
    ack(&f, 1, 99 * MS);
    assert_int_equal(op_metric(&f, "backoff_ns"), 0);
    op_stop(&f);
}

/* The backoff counts from the ingest time of the event reported on, as Tremor's insight
 * carries it; for one no longer remembered, from the latest time seen. */
static void test_bp_backoff_origin(void **state) {
    (void)state;
    op_fix f;
    op_start(&f, "qos::backpressure", "{\"timeout\":100,\"steps\":[10]}");
    ASSERT_SEND(&f, 7, 5 * MS, "out");
    for (uint64_t id = 8; id < 20; id++) ASSERT_SEND(&f, id, (id - 7) * 3 * MS + 5 * MS, "out");
    /* event 7 (ingested at 5 ms) was slow: held back until 15 ms, already past */
    ack(&f, 7, 1000);
    ASSERT_SEND(&f, 20, 42 * MS, "out");
    ASSERT_SEND(&f, 21, 43 * MS, "overflow"); /* the next period runs from 42 ms */
    ASSERT_SEND(&f, 22, 52 * MS, "out");
    /* an unknown event: from the latest time seen (52 ms) */
    op_contraflow(&f, TB_CF_FAIL, 12345, 0, 0);
    ASSERT_SEND(&f, 23, 61 * MS, "overflow");
    ASSERT_SEND(&f, 24, 62 * MS, "out");
    op_stop(&f);
}

/* Ticks end a backoff that has passed (Tremor's on_signal). */
static void test_bp_tick(void **state) {
    (void)state;
    op_fix f;
    op_start(&f, "qos::backpressure", BP_CONFIG);
    ASSERT_SEND(&f, 1, 1 * MS, "out");
    op_contraflow(&f, TB_CF_FAIL, 1, 0, 0);
    op_contraflow(&f, TB_CF_FAIL, 1, 0, 0); /* 10 ms from 1 ms */
    op_begin(&f);
    assert_int_equal(op_tick(&f, 10 * MS), TB_OK);
    assert_int_equal(f.out.count, 0);
    assert_int_equal(op_metric(&f, "backoff_ns"), 10 * MS);
    assert_int_equal(op_tick(&f, 11 * MS), TB_OK);
    assert_int_equal(op_metric(&f, "backoff_ns"), 0);
    assert_int_equal(f.out.count, 0);
    /* reset: the next failure starts at the first step again */
    ASSERT_SEND(&f, 2, 12 * MS, "out");
    op_contraflow(&f, TB_CF_FAIL, 2, 0, 0);
    assert_int_equal(op_metric(&f, "backoff_ns"), 1 * MS);
    op_stop(&f);
}

/* Tremor's `halt_on_error_cb`: method pause passes everything and opens the circuit
 * breaker instead, closing it when the backoff ends. */
static void test_bp_pause(void **state) {
    (void)state;
    op_fix f;
    op_start(&f, "qos::backpressure",
             "{\"timeout\":100000000,\"steps\":[1,10,100],\"method\":\"pause\"}");
    ASSERT_SEND(&f, 1, 1 * MS, "out");
    assert_false(op_circuit_open(&f));
    ack(&f, 1, 200 * MS);
    assert_true(op_circuit_open(&f));
    ASSERT_SEND(&f, 2, 2 * MS - 1, "out");
    ASSERT_SEND(&f, 3, 2 * MS, "out");
    ASSERT_SEND(&f, 4, 2 * MS + 1, "out");
    assert_int_equal(op_metric(&f, "overflow"), 0);
    op_contraflow(&f, TB_CF_FAIL, 4, 0, 0); /* stays open, one step up */
    assert_true(op_circuit_open(&f));
    op_begin(&f);
    assert_int_equal(op_tick(&f, 3 * MS + 1), TB_OK);
    assert_true(op_circuit_open(&f)); /* 10 ms from 2.000001 ms: not yet */
    assert_int_equal(op_tick(&f, 13 * MS), TB_OK);
    assert_false(op_circuit_open(&f));
    /* and a good ack closes it as well */
    ASSERT_SEND(&f, 5, 14 * MS, "out");
    op_contraflow(&f, TB_CF_CIRCUIT_OPEN, 0, 0, 0);
    assert_true(op_circuit_open(&f));
    ack(&f, 5, 1);
    assert_false(op_circuit_open(&f));
    op_stop(&f);
}

/* Default steps: 50, 100, 250, 500, 1000, 5000, 10000 ms; no steps: never backs off. */
static void test_bp_steps(void **state) {
    (void)state;
    op_fix f;
    op_start(&f, "qos::backpressure", "{\"timeout\":0}");
    static const uint64_t steps[] = {50, 100, 250, 500, 1000, 5000, 10000, 10000};
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        ack(&f, 1, 1); /* 1 ns is over a timeout of 0 */
        assert_int_equal(op_metric(&f, "backoff_ns"), steps[i] * MS);
    }
    ack(&f, 1, 0);
    assert_int_equal(op_metric(&f, "backoff_ns"), 0);
    op_stop(&f);

    op_start(&f, "qos::backpressure", "{\"timeout\":0,\"steps\":[]}");
    ASSERT_SEND(&f, 1, 1, "out");
    op_contraflow(&f, TB_CF_FAIL, 1, 0, 0);
    ASSERT_SEND(&f, 2, 1, "out");
    assert_int_equal(op_metric(&f, "backoff_ns"), 0);
    op_stop(&f);
}

/* --- qos::percentile -------------------------------------------------------------------------- */

#define PERC_CONFIG "{\"timeout\":100000000}"

static int64_t pass_ppm(op_fix *f) { return op_metric(f, "pass_ppm"); }

/* Tremor's `pass_wo_error`. */
static void test_perc_pass(void **state) {
    (void)state;
    op_fix f;
    op_start(&f, "qos::percentile", PERC_CONFIG);
    ASSERT_SEND(&f, 1, 1, "out");
    assert_true(f.out.events[0].flags & TB_EF_TRANSACTIONAL);
    ASSERT_SEND(&f, 2, 2, "out");
    assert_int_equal(pass_ppm(&f), 1000000);
    op_stop(&f);
}

/* Tremor's `drop_on_timeout`: a slow ack takes step_down (0.05) off, a timely one gives
 * step_up (0.001) back. */
static void test_perc_timeout(void **state) {
    (void)state;
    op_fix f;
    op_start(&f, "qos::percentile", PERC_CONFIG);
    ASSERT_SEND(&f, 1, 1 * MS, "out");
    ack(&f, 1, 100 * MS + 1);
    assert_int_equal(pass_ppm(&f), 950000);
    ASSERT_SEND(&f, 2, 2 * MS, "out");
    ack(&f, 2, 99);
    assert_int_equal(pass_ppm(&f), 951000);
    op_contraflow(&f, TB_CF_CIRCUIT_CLOSE, 0, 0, 0); /* says nothing of deliveries */
    assert_int_equal(pass_ppm(&f), 951000);
    op_stop(&f);
}

/* Tremor's `drop_on_error`: fails take step_down off; the draw from ingest_ns decides. */
static void test_perc_error(void **state) {
    (void)state;
    op_fix f;
    op_start(&f, "qos::percentile", "{\"timeout\":100000000,\"step_down\":0.25,\"step_up\":0.1}");
    op_contraflow(&f, TB_CF_FAIL, 1, 0, 0);
    assert_int_equal(pass_ppm(&f), 750000);
    op_contraflow(&f, TB_CF_CIRCUIT_OPEN, 0, 0, 0);
    assert_int_equal(pass_ppm(&f), 500000);
    /* (2000001 mod 65535) / 65535 = 0.518 > 0.5 */
    ASSERT_SEND(&f, 1, 2000001, "overflow");
    assert_true(f.out.events[0].flags & TB_EF_TRANSACTIONAL);
    /* (65535 * 30 mod 65535) / 65535 = 0 passes */
    ASSERT_SEND(&f, 2, 65535ull * 30, "out");
    ack(&f, 2, 0);
    assert_int_equal(pass_ppm(&f), 600000);
    /* bounded: down to 0, up to 1 */
    for (int i = 0; i < 10; i++) op_contraflow(&f, TB_CF_FAIL, 1, 0, 0);
    assert_int_equal(pass_ppm(&f), 0);
    ASSERT_SEND(&f, 3, 1, "overflow");
    for (int i = 0; i < 20; i++) ack(&f, 1, 0);
    assert_int_equal(pass_ppm(&f), 1000000);
    ASSERT_SEND(&f, 4, 65534, "out");
    assert_int_equal(op_metric(&f, "overflow"), 2);
    op_stop(&f);
}

/* Runs 400 events, all at the same ingest time, through an instance of config cut down to
 * half; writes their ports as '1' (out) and '0' (overflow) into bits. */
static void seeded_run(const char *config, char *bits) {
    op_fix f;
    op_start(&f, "qos::percentile", config);
    for (int i = 0; i < 10; i++) op_contraflow(&f, TB_CF_FAIL, 1, 0, 0); /* 0.5 */
    op_begin(&f);
    for (uint32_t i = 0; i < 400; i++) op_event(&f, "1", NULL, i, 1000);
    assert_int_equal(op_process(&f), TB_OK);
    assert_int_equal(f.out.count, 400);
    for (uint32_t i = 0; i < 400; i++) bits[i] = f.out.events[i].port == 0 ? '1' : '0';
    bits[400] = '\0';
    op_stop(&f);
}

/* With a seed the draw is the instance's own generator: the same seed gives the same
 * decisions, whatever the ingest times, and about the configured fraction passes. */
static void test_perc_seed(void **state) {
    (void)state;
    char a[401], b[401], c[401], d[401];
    seeded_run("{\"timeout\":1,\"seed\":42}", a);
    seeded_run("{\"timeout\":1,\"seed\":42}", b);
    seeded_run("{\"timeout\":1,\"seed\":7}", c);
    seeded_run("{\"timeout\":1}", d);
    assert_string_equal(a, b);
    assert_string_not_equal(a, c);
    size_t passed = 0;
    for (int i = 0; i < 400; i++) passed += a[i] == '1';
    assert_in_range(passed, 150, 250);
    /* without a seed, Tremor's draw: one ingest time, one decision for all */
    assert_true(strspn(d, "1") == 400 || strspn(d, "0") == 400);
}

/* --- qos::roundrobin -------------------------------------------------------------------------- */

/* Tremor's `multi_output_block`. */
static void test_rr_block(void **state) {
    (void)state;
    op_fix f;
    op_start(&f, "qos::roundrobin", "{\"outputs\":[\"out\",\"out2\"]}");
    ASSERT_SEND(&f, 1, 1000000, "out");
    ASSERT_SEND(&f, 2, 1000001, "out2");
    assert_false(f.out.events[0].flags & TB_EF_TRANSACTIONAL); /* passed on as it came */
    op_contraflow(&f, TB_CF_CIRCUIT_OPEN, 0, 0, 0);              /* port out */
    ASSERT_SEND(&f, 3, 2 * MS - 1, "out2");
    ASSERT_SEND(&f, 4, 2 * MS, "out2");
    assert_false(op_circuit_open(&f));
    op_contraflow(&f, TB_CF_CIRCUIT_CLOSE, 0, 0, 0);
    ASSERT_SEND(&f, 5, 2 * MS + 1, "out");
    ASSERT_SEND(&f, 6, 2 * MS + 2, "out2");
    op_stop(&f);
}

/* With every output's circuit open, events overflow and the operator opens its own
 * circuit breaker, closing it when an output comes back. Deliveries change nothing. */
static void test_rr_all_closed(void **state) {
    (void)state;
    op_fix f;
    op_start(&f, "qos::roundrobin", "{\"outputs\":[\"out1\",\"out3\"]}");
    const tbr_component *c = f.inst->component;
    uint32_t out1 = 3, out3 = 5;
    assert_string_equal(c->vt.op.output_ports[out1], "out1");
    assert_string_equal(c->vt.op.output_ports[out3], "out3");
    op_contraflow(&f, TB_CF_FAIL, 1, 0, out1);
    op_contraflow(&f, TB_CF_ACK, 1, UINT64_MAX, out3);
    ASSERT_SEND(&f, 1, 1, "out1");
    op_contraflow(&f, TB_CF_CIRCUIT_OPEN, 0, 0, out1);
    op_contraflow(&f, TB_CF_CIRCUIT_OPEN, 0, 0, 99); /* not an output: ignored */
    assert_false(op_circuit_open(&f));
    ASSERT_SEND(&f, 2, 2, "out3");
    ASSERT_SEND(&f, 3, 3, "out3");
    op_contraflow(&f, TB_CF_CIRCUIT_OPEN, 0, 0, out3);
    assert_true(op_circuit_open(&f));
    ASSERT_SEND(&f, 4, 4, "overflow");
    ASSERT_SEND(&f, 5, 5, "overflow");
    assert_int_equal(op_metric(&f, "overflow"), 2);
    op_contraflow(&f, TB_CF_CIRCUIT_CLOSE, 0, 0, out3);
    assert_false(op_circuit_open(&f));
    ASSERT_SEND(&f, 6, 6, "out3");
    ASSERT_SEND(&f, 7, 7, "out3");
    op_stop(&f);
}

/* The default is the one output "out"; a port named twice gets a double share; a whole
 * batch is distributed in turn. */
static void test_rr_turns(void **state) {
    (void)state;
    op_fix f;
    op_start(&f, "qos::roundrobin", NULL);
    static const char *const data[] = {"1", "2", "3"};
    op_batch(&f, 1, data, 3);
    assert_int_equal(op_process(&f), TB_OK);
    op_assert_ports(&f, "out,out,out");
    op_stop(&f);

    op_start(&f, "qos::roundrobin", "{\"outputs\":[\"out\",\"out\",\"out15\"]}");
    static const char *const seven[] = {"1", "2", "3", "4", "5", "6", "7"};
    op_batch(&f, 1, seven, 7);
    assert_int_equal(op_process(&f), TB_OK);
    op_assert_ports(&f, "out,out,out15,out,out,out15,out");
    for (uint32_t i = 0; i < 7; i++)
        assert_memory_equal(&f.out.events[i].data, &f.in.events[i].data, sizeof(tb_value));
    /* closing "out" closes both of its shares */
    op_contraflow(&f, TB_CF_CIRCUIT_OPEN, 0, 0, 0);
    op_batch(&f, 1, seven, 3);
    assert_int_equal(op_process(&f), TB_OK);
    op_assert_ports(&f, "out15,out15,out15");
    op_stop(&f);
}

static void expect_bad_config(const char *name, const char *config, const char *needle) {
    op_fix f;
    char err[512] = "";
    assert_int_equal(op_try_start(&f, name, config, err, sizeof err), TB_EINVAL);
    if (!strstr(err, needle))
        fail_msg("%s config %s: \"%s\" lacks \"%s\"", name, config, err, needle);
    op_stop(&f);
}

static void test_qos_config(void **state) {
    (void)state;
    expect_bad_config("qos::backpressure", NULL, "required option 'timeout' (uint) is missing");
    expect_bad_config("qos::backpressure", "{\"timeout\":1,\"method\":\"drop\"}",
                      "method must be \"discard\" or \"pause\", found \"drop\"");
    expect_bad_config("qos::backpressure", "{\"timeout\":1,\"steps\":[1,\"x\"]}",
                      "steps[1] must be a non-negative integer (milliseconds), found string");
    expect_bad_config("qos::backpressure", "{\"timeout\":1,\"steps\":[-5]}",
                      "steps[0] must be a non-negative integer (milliseconds), found int");
    expect_bad_config("qos::backpressure", "{\"timeout\":1,\"steps\":5}",
                      "option 'steps': expected array");
    expect_bad_config("qos::percentile", "{\"step_up\":0.1}", "required option 'timeout'");
    expect_bad_config("qos::percentile", "{\"timeout\":1,\"step_down\":1.5}",
                      "step_up and step_down must be between 0 and 1");
    expect_bad_config("qos::percentile", "{\"timeout\":1,\"step_up\":-0.1}",
                      "step_up and step_down must be between 0 and 1");
    expect_bad_config("qos::percentile", "{\"timeout\":1,\"seed\":-1}", "option 'seed'");
    expect_bad_config("qos::roundrobin", "{\"outputs\":[]}",
                      "outputs must name at least one port");
    expect_bad_config("qos::roundrobin", "{\"outputs\":[\"round\",\"robin\"]}",
                      "outputs[0] 'round' is not a port to distribute over: expected out or "
                      "out1 .. out15");
    expect_bad_config("qos::roundrobin", "{\"outputs\":[\"out\",\"overflow\"]}",
                      "outputs[1] 'overflow' is not a port");
    expect_bad_config("qos::roundrobin", "{\"outputs\":[\"out\",1]}",
                      "outputs[1] must be a port name, found int");
    expect_bad_config("qos::roundrobin", "{\"outputs\":\"out\"}",
                      "option 'outputs': expected array");
}

/* --- handover on a reload --------------------------------------------------------------------- */

/* One event (data its id) at t_ns, in the batch op_begin emptied. */
static void send_one(op_fix *f, uint64_t id, uint64_t t_ns) {
    op_event(f, "\"e\"", "{\"m\":1}", id, t_ns);
    assert_int_equal(op_process(f), TB_OK);
}

/* Backoffs counted from remembered ingest times, from the latest time seen, ended by ticks
 * and by good acks. */
static void bp_step(op_fix *f, uint32_t step) {
    switch (step) {
    case 0: send_one(f, 1, 1 * MS); break;
    case 1: send_one(f, 2, 2 * MS); break;
    case 2: send_one(f, 3, 5 * MS); break;
    case 3: ack(f, 1, 200 * MS); break; /* 1 ms from event 1's 1 ms, not the latest 5 ms */
    case 4: send_one(f, 4, 1 * MS + MS / 2); break;
    case 5: send_one(f, 5, 2 * MS + MS / 2); break;
    case 6: op_contraflow(f, TB_CF_FAIL, 2, 0, 0); break; /* 10 ms from 2 ms */
    case 7: send_one(f, 6, 11 * MS); break;
    case 8: assert_int_equal(op_tick(f, 11 * MS + MS / 2), TB_OK); break;
    case 9: send_one(f, 7, 12 * MS); break;
    case 10: op_contraflow(f, TB_CF_FAIL, 999, 0, 0); break; /* 100 ms from 12 ms */
    case 11: send_one(f, 8, 105 * MS); break;
    case 12: assert_int_equal(op_tick(f, 113 * MS), TB_OK); break;
    case 13: send_one(f, 9, 114 * MS); break;
    case 14: op_contraflow(f, TB_CF_CIRCUIT_OPEN, 0, 0, 0); break;
    case 15: send_one(f, 10, 115 * MS); break;
    case 16: ack(f, 9, 1); break;
    default: send_one(f, 11, 116 * MS); break;
    }
}

static void test_bp_handover(void **state) {
    (void)state;
    op_assert_handover("qos::backpressure", BP_CONFIG, bp_step, 18);
    /* pause mode: the circuit breaker is part of what the new instance takes over */
    op_assert_handover("qos::backpressure",
                       "{\"timeout\":100000000,\"steps\":[1,10,100],\"method\":\"pause\"}", bp_step,
                       18);

    op_fix f;
    op_start(&f, "qos::backpressure", "{\"timeout\":100,\"steps\":[7],\"method\":\"pause\"}");
    ASSERT_SEND(&f, 3, 5 * MS, "out");
    op_contraflow(&f, TB_CF_FAIL, 3, 0, 0);
    tb_arena *a = tbr_arena_new(0);
    assert_non_null(a);
    tb_value saved = op_save(&f, a);
    op_assert_json(&saved, "{\"backoff\":7000000,\"next\":12000000,\"clock\":5000000,"
                           "\"recent\":[{\"id\":3,\"ingest_ns\":5000000}]}");
    tbr_arena_free(a);
    op_handover(&f, false);
    assert_int_equal(op_metric(&f, "backoff_ns"), 7 * MS); /* the gauge follows */
    assert_true(op_circuit_open(&f));
    op_stop(&f);
}

static void test_bp_restore_garbage(void **state) {
    (void)state;
    const char *b = "qos::backpressure";
    const char *why = "qos::backpressure: cannot restore from a";
    op_assert_restore(b, BP_CONFIG, "null", TB_OK, NULL);
    op_assert_restore(b, BP_CONFIG, "\"junk\"", TB_EINVAL, "from a string without");
    op_assert_restore(b, BP_CONFIG, "[1,2,3]", TB_EINVAL, why);
    op_assert_restore(b, BP_CONFIG, "{\"backoff\":1,\"next\":1,\"clock\":1}", TB_EINVAL, why);
    op_assert_restore(b, BP_CONFIG, "{\"backoff\":-1,\"next\":1,\"clock\":1,\"recent\":[]}",
                      TB_EINVAL, why);
    op_assert_restore(b, BP_CONFIG, "{\"backoff\":1,\"next\":true,\"clock\":1,\"recent\":[]}",
                      TB_EINVAL, why);
    op_assert_restore(b, BP_CONFIG, "{\"backoff\":1,\"next\":1,\"clock\":1,\"recent\":{}}",
                      TB_EINVAL, why);
    op_assert_restore(b, BP_CONFIG, "{\"backoff\":1,\"next\":1,\"clock\":1,\"recent\":[7]}",
                      TB_EINVAL, "cannot restore recent[0]");
    op_assert_restore(b, BP_CONFIG,
                      "{\"backoff\":1,\"next\":1,\"clock\":1,\"recent\":[{\"id\":1}]}", TB_EINVAL,
                      "cannot restore recent[0]");
    op_assert_restore(b, BP_CONFIG,
                      "{\"backoff\":1,\"next\":1,\"clock\":1,\"recent\":[{\"id\":1,\"ingest_ns\":2,"
                      "\"x\":3}],\"newer\":{}}",
                      TB_OK, NULL);
}

#define PERC_SEEDED "{\"timeout\":100000000,\"seed\":42,\"step_down\":0.1,\"step_up\":0.05}"

/* Fractions going down and up, decided by the seeded generator or by ingest time. */
static void perc_step(op_fix *f, uint32_t step) {
    switch (step % 4) {
    case 0:
        for (uint32_t i = 0; i < 3; i++) op_contraflow(f, TB_CF_FAIL, i, 0, 0);
        break;
    case 1:
    case 3:
        for (uint32_t i = 0; i < 12; i++)
            op_event(f, "1", NULL, step * 100 + i, step * 7919 + i * 4099);
        assert_int_equal(op_process(f), TB_OK);
        break;
    default: ack(f, step, step % 8 == 2 ? 1 : 200 * MS); break;
    }
}

static void test_perc_handover(void **state) {
    (void)state;
    op_assert_handover("qos::percentile", PERC_SEEDED, perc_step, 16);
    op_assert_handover("qos::percentile", "{\"timeout\":100000000,\"step_down\":0.1}", perc_step,
                       16);

    op_fix f;
    op_start(&f, "qos::percentile", PERC_SEEDED);
    op_contraflow(&f, TB_CF_FAIL, 1, 0, 0);
    tb_arena *a = tbr_arena_new(0);
    assert_non_null(a);
    tb_value saved = op_save(&f, a);
    op_assert_json(&saved, "{\"perc\":0.9,\"rng\":42}");
    tbr_arena_free(a);
    op_handover(&f, false);
    assert_int_equal(pass_ppm(&f), 900000); /* the gauge follows */
    op_stop(&f);
}

static void test_perc_restore_garbage(void **state) {
    (void)state;
    const char *p = "qos::percentile";
    const char *why = "qos::percentile: cannot restore from a";
    op_assert_restore(p, PERC_SEEDED, "null", TB_OK, NULL);
    op_assert_restore(p, PERC_SEEDED, "\"junk\"", TB_EINVAL, "from a string without");
    op_assert_restore(p, PERC_SEEDED, "0.5", TB_EINVAL, why);
    op_assert_restore(p, PERC_SEEDED, "{\"perc\":0.5}", TB_EINVAL, why);
    op_assert_restore(p, PERC_SEEDED, "{\"perc\":1.5,\"rng\":1}", TB_EINVAL, why);
    op_assert_restore(p, PERC_SEEDED, "{\"perc\":-0.1,\"rng\":1}", TB_EINVAL, why);
    op_assert_restore(p, PERC_SEEDED, "{\"perc\":\"half\",\"rng\":1}", TB_EINVAL, why);
    op_assert_restore(p, PERC_SEEDED, "{\"perc\":0.5,\"rng\":-1}", TB_EINVAL, why);
    op_assert_restore(p, PERC_SEEDED, "{\"perc\":0,\"rng\":1,\"later\":[]}", TB_OK, NULL);
}

/* Turns across batches, circuits opening and closing, all of them closed. */
static void rr_step(op_fix *f, uint32_t step) {
    static const char *const data[] = {"1", "2", "3"};
    const uint32_t out = 0, out1 = 3, out2 = 4;
    switch (step % 8) {
    case 1: op_contraflow(f, TB_CF_CIRCUIT_OPEN, 0, 0, out2); return;
    case 3: op_contraflow(f, TB_CF_CIRCUIT_OPEN, 0, 0, out); return;
    case 4: op_contraflow(f, TB_CF_CIRCUIT_OPEN, 0, 0, out1); return; /* none left */
    case 6: op_contraflow(f, TB_CF_CIRCUIT_CLOSE, 0, 0, step % 16 == 6 ? out2 : out); return;
    case 7: op_contraflow(f, TB_CF_CIRCUIT_CLOSE, 0, 0, out1); return;
    default:
        for (uint32_t i = 0; i < 1 + step % 3; i++) op_event(f, data[i], NULL, step * 10 + i, step);
        assert_int_equal(op_process(f), TB_OK);
        return;
    }
}

static void test_rr_handover(void **state) {
    (void)state;
    op_assert_handover("qos::roundrobin", "{\"outputs\":[\"out\",\"out2\",\"out1\",\"out2\"]}",
                       rr_step, 32);

    op_fix f;
    op_start(&f, "qos::roundrobin", "{\"outputs\":[\"out\",\"out2\",\"out2\"]}");
    ASSERT_SEND(&f, 1, 1, "out");
    op_contraflow(&f, TB_CF_CIRCUIT_OPEN, 0, 0, 4);
    tb_arena *a = tbr_arena_new(0);
    assert_non_null(a);
    tb_value saved = op_save(&f, a);
    op_assert_json(&saved, "{\"next\":1,\"down\":[\"out2\"]}"); /* named once */
    tbr_arena_free(a);
    op_contraflow(&f, TB_CF_CIRCUIT_OPEN, 0, 0, 0);
    assert_true(op_circuit_open(&f));
    op_handover(&f, false);
    assert_true(op_circuit_open(&f)); /* no output left: the new one's is open too */
    ASSERT_SEND(&f, 2, 2, "overflow");
    op_contraflow(&f, TB_CF_CIRCUIT_CLOSE, 0, 0, 4);
    assert_false(op_circuit_open(&f));
    ASSERT_SEND(&f, 3, 3, "out2");
    op_stop(&f);
}

static void test_rr_restore_garbage(void **state) {
    (void)state;
    const char *r = "qos::roundrobin";
    const char *cfg = "{\"outputs\":[\"out\",\"out1\"]}";
    const char *why = "qos::roundrobin: cannot restore from a";
    op_assert_restore(r, cfg, "null", TB_OK, NULL);
    op_assert_restore(r, cfg, "\"junk\"", TB_EINVAL, "from a string without");
    op_assert_restore(r, cfg, "{\"next\":0}", TB_EINVAL, why);
    op_assert_restore(r, cfg, "{\"next\":\"0\",\"down\":[]}", TB_EINVAL, why);
    op_assert_restore(r, cfg, "{\"next\":0,\"down\":\"out\"}", TB_EINVAL, why);
    op_assert_restore(r, cfg, "{\"next\":2,\"down\":[]}", TB_EINVAL,
                      "cannot restore turn 2 of 2 outputs");
    op_assert_restore(r, cfg, "{\"next\":0,\"down\":[3]}", TB_EINVAL,
                      "cannot restore down[0]: expected a port name, found int");
    /* ports it does not distribute over are ignored */
    op_assert_restore(r, cfg, "{\"next\":1,\"down\":[\"out7\",\"err\",\"nope\",\"out1\"],\"x\":1}",
                      TB_OK, NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bp_pass),        cmocka_unit_test(test_bp_halt_on_error),
        cmocka_unit_test(test_bp_walk),        cmocka_unit_test(test_bp_backoff_origin),
        cmocka_unit_test(test_bp_tick),        cmocka_unit_test(test_bp_pause),
        cmocka_unit_test(test_bp_steps),       cmocka_unit_test(test_perc_pass),
        cmocka_unit_test(test_perc_timeout),   cmocka_unit_test(test_perc_error),
        cmocka_unit_test(test_perc_seed),      cmocka_unit_test(test_rr_block),
        cmocka_unit_test(test_rr_all_closed),  cmocka_unit_test(test_rr_turns),
        cmocka_unit_test(test_qos_config),
        cmocka_unit_test(test_bp_handover),    cmocka_unit_test(test_bp_restore_garbage),
        cmocka_unit_test(test_perc_handover),  cmocka_unit_test(test_perc_restore_garbage),
        cmocka_unit_test(test_rr_handover),    cmocka_unit_test(test_rr_restore_garbage),
    };
    return cmocka_run_group_tests_name("operator qos", tests, op_group_setup, op_group_teardown);
}
