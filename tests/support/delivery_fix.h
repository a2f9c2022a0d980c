/*
 * delivery_fix.h - for connector tests: the delivery reports a sink instance made through
 * host->delivered (batches it answered TB_EPENDING for), collected per test so a test can ask
 * what became of one batch token, and wait for it on a real event loop.
 *
 * Include after plugin_fix.h (and host/context.h, host/loop.h). Thread contract: the test's
 * thread. Ownership: a deliveries struct is the test's; it copies the reports it takes.
 */
#ifndef TB_TEST_DELIVERY_FIX_H
#define TB_TEST_DELIVERY_FIX_H

/* Every delivery report taken from an instance so far. */
typedef struct deliveries {
    tbr_delivery d[4096];
    size_t n;
} deliveries;

/* The delivery reported for token so far: 1 (none yet) or its status. A token reported twice
 * fails the test. */
static inline int delivered(tb_fix *f, deliveries *ds, uint64_t token) {
    tbr_delivery d[64];
    size_t n;
    while ((n = tbr_context_take_deliveries(f->inst->ctx, d, 64)) > 0)
        for (size_t i = 0; i < n; i++) {
            assert_true(ds->n < sizeof ds->d / sizeof ds->d[0]);
            ds->d[ds->n++] = d[i];
        }
    int status = 1;
    for (size_t i = 0; i < ds->n; i++)
        if (ds->d[i].token == token) {
            assert_int_equal(status, 1); /* reported once */
            status = ds->d[i].status;
        }
    return status;
}

/* Runs the loop until token is reported (30 s at most: a loaded machine under ASan is slow);
 * returns its status. */
static inline int wait_delivered(tbr_loop *loop, tb_fix *f, deliveries *ds, uint64_t token) {
    uint64_t t0 = tbr_now_ns();
    int st;
    while ((st = delivered(f, ds, token)) == 1) {
        if (tbr_now_ns() - t0 > 30ull * 1000000000ull) fail_msg("batch %llu never reported", (unsigned long long)token);
        tbr_loop_run_once(loop, 10);
    }
    return st;
}

#endif
