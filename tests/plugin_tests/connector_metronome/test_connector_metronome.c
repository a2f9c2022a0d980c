/*
 * test_connector_metronome.c - the `metronome` connector plugin (plugins/connector/metronome),
 * loaded from the build's plugins directory and run on a real event loop with real timers:
 * the rate over a quarter second of 10 ms ticks, the event's shape, ids and times, ticks
 * coalescing when not pulled, pause and resume, configuration errors, a start without a loop,
 * and a destroy that leaves no timer behind.
 *
 * Counts are bounded loosely (a loaded machine may run timers late, never early) but tightly
 * enough to catch a wrong unit or a burst. Thread contract: single-threaded. Ownership: each
 * test owns its fixture and loop.
 */
#define TB_FIX_IMPLEMENTATION
#include "plugin_fix.h"

#include <time.h>

#include "host/context.h"
#include "host/loop.h"

#define MS UINT64_C(1000000)

typedef struct src {
    tb_fix f;
    tbr_loop *loop;
    const tb_connector_vtable *vt;
} src;

static uint64_t realtime_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Creates a metronome with config on a fresh loop (or on none) and starts it. */
static void src_start(src *s, const char *config, bool with_loop) {
    char err[512] = "";
    s->loop = with_loop ? tbr_loop_new() : NULL;
    if (with_loop) assert_non_null(s->loop);
    int rc = tb_fix_try_start_on(&s->f, TB_KIND_CONNECTOR, "metronome", config, 0, s->loop, err,
                                 sizeof err);
    if (rc) fail_msg("create metronome with %s: %d: %s", config, rc, err);
    s->vt = &s->f.inst->component->vt.connector;
    assert_true(s->vt->flags & TB_CONNECTOR_SOURCE);
    assert_true(s->vt->flags & TB_CONNECTOR_STRUCTURED);
    if (with_loop) assert_int_equal(s->vt->start(s->f.inst->state), TB_OK);
}

static void src_stop(src *s) {
    assert_int_equal(s->vt->stop(s->f.inst->state), TB_OK);
    tb_fix_stop(&s->f); /* checks the plugin gave back all its memory */
    tbr_loop_free(s->loop);
}

/* Pulls once into a fresh batch with room for capacity events. */
static int src_pull(src *s, uint32_t capacity) {
    tb_fix_begin(&s->f);
    s->f.out.events = tb_arena_alloc(s->f.arena, capacity * sizeof(tb_event), 8);
    assert_non_null(s->f.out.events);
    s->f.out.capacity = capacity;
    return s->vt->pull(s->f.inst->state, &s->f.out);
}

/* Runs the loop for ms milliseconds without pulling. */
static void run_for(tbr_loop *loop, unsigned ms) {
    uint64_t end = tbr_now_ns() + ms * MS;
    while (tbr_now_ns() < end) {
        uint64_t left = (end - tbr_now_ns()) / MS;
        assert_true(tbr_loop_run_once(loop, (int)(left ? left : 1)) >= 0);
    }
}

/* Event e is metronome event number id, produced between lo and hi (CLOCK_REALTIME). */
static void check_event(const tb_event *e, uint64_t id, uint64_t lo, uint64_t hi) {
    const tb_value *d = &e->data;
    int64_t ingest = 0, n = 0;
    assert_int_equal(d->type, TB_OBJECT);
    assert_int_equal(d->len, 3);
    assert_true(tb_value_str_eq(tb_object_getz(d, "onramp"), "metronome"));
    assert_true(tb_value_as_i64(tb_object_getz(d, "ingest_ns"), &ingest));
    assert_true(tb_value_as_i64(tb_object_getz(d, "id"), &n));
    assert_true((uint64_t)n == id);
    assert_true(e->id == id);
    assert_true((uint64_t)ingest == e->ingest_ns);
    assert_true(e->ingest_ns >= lo && e->ingest_ns <= hi);
    assert_false(e->flags & (TB_EF_RAW | TB_EF_ERROR));
    assert_int_equal(e->meta.type, TB_OBJECT);
}

static void test_ticks(void **state) {
    src s;
    uint32_t n = 0;
    (void)state;
    src_start(&s, "{\"interval\": 10}", true);
    uint64_t t0 = tbr_now_ns();
    /* nothing before the first interval has passed */
    assert_int_equal(src_pull(&s, 4), TB_EAGAIN);
    assert_int_equal(s.f.out.count, 0);
    while (tbr_now_ns() - t0 < 250 * MS) {
        assert_true(tbr_loop_run_once(s.loop, 20) >= 0);
        for (;;) {
            uint64_t lo = realtime_ns();
            int rc = src_pull(&s, 4);
            uint64_t hi = realtime_ns();
            if (rc == TB_EAGAIN) {
                assert_int_equal(s.f.out.count, 0);
                break;
            }
            assert_int_equal(rc, TB_OK);
            assert_int_equal(s.f.out.count, 1);
            check_event(&s.f.out.events[0], n++, lo, hi);
        }
    }
    uint64_t elapsed_ms = (tbr_now_ns() - t0) / MS;
    /* 25 ticks are due; timers run late under load, never early */
    if (n < 5 || n > elapsed_ms / 10 + 1)
        fail_msg("%u events in %llu ms of a 10 ms metronome", n, (unsigned long long)elapsed_ms);
    src_stop(&s);
}

/* Ticks that nobody pulls make one event, not a burst. */
static void test_coalesce(void **state) {
    src s;
    (void)state;
    src_start(&s, "{\"interval\": 10}", true);
    run_for(s.loop, 100);
    assert_int_equal(src_pull(&s, 16), TB_OK);
    assert_int_equal(s.f.out.count, 1);
    check_event(&s.f.out.events[0], 0, 0, UINT64_MAX);
    assert_int_equal(src_pull(&s, 16), TB_EAGAIN);
    src_stop(&s);
}

static void test_pause_resume(void **state) {
    src s;
    uint64_t deadline;
    int rc = TB_EAGAIN;
    (void)state;
    src_start(&s, "{\"interval\": 10}", true);
    deadline = tbr_now_ns() + 2000 * MS;
    while (rc == TB_EAGAIN && tbr_now_ns() < deadline) {
        tbr_loop_run_once(s.loop, 20);
        rc = src_pull(&s, 1);
    }
    assert_int_equal(rc, TB_OK);
    assert_int_equal(s.vt->pause(s.f.inst->state), TB_OK);
    run_for(s.loop, 60);
    assert_int_equal(src_pull(&s, 1), TB_EAGAIN); /* no timer while paused */
    assert_int_equal(s.vt->resume(s.f.inst->state), TB_OK);
    rc = TB_EAGAIN;
    deadline = tbr_now_ns() + 2000 * MS;
    while (rc == TB_EAGAIN && tbr_now_ns() < deadline) {
        tbr_loop_run_once(s.loop, 20);
        rc = src_pull(&s, 1);
    }
    assert_int_equal(rc, TB_OK);
    check_event(&s.f.out.events[0], 1, 0, UINT64_MAX); /* the sequence goes on */
    src_stop(&s);
}

static void test_config(void **state) {
    tb_fix f;
    char err[512] = "";
    (void)state;
    assert_int_not_equal(tb_fix_try_start(&f, TB_KIND_CONNECTOR, "metronome", "{\"interval\": 0}",
                                          0, err, sizeof err),
                         TB_OK);
    assert_non_null(strstr(err, "metronome: 'interval' must be a number of milliseconds from 1"));
    tb_fix_stop(&f);
    assert_int_not_equal(tb_fix_try_start(&f, TB_KIND_CONNECTOR, "metronome", "{}", 0, err,
                                          sizeof err),
                         TB_OK);
    assert_non_null(strstr(err, "required option 'interval'"));
    tb_fix_stop(&f);
    assert_int_not_equal(tb_fix_try_start(&f, TB_KIND_CONNECTOR, "metronome",
                                          "{\"interval\": \"1s\"}", 0, err, sizeof err),
                         TB_OK);
    assert_non_null(strstr(err, "option 'interval'"));
    tb_fix_stop(&f);
    assert_int_not_equal(tb_fix_try_start(&f, TB_KIND_CONNECTOR, "metronome",
                                          "{\"interval\": 18446744073709551615}", 0, err,
                                          sizeof err),
                         TB_OK);
    assert_non_null(strstr(err, "'interval' must be"));
    tb_fix_stop(&f);
}

/* Without an event loop the host cannot run timers: start says so. */
static void test_no_loop(void **state) {
    src s;
    (void)state;
    src_start(&s, "{\"interval\": 10}", false);
    assert_int_equal(s.vt->start(s.f.inst->state), TB_ENOTSUP);
    assert_non_null(strstr(tbr_context_error(s.f.inst->ctx), "metronome: cannot start its timer"));
    assert_int_equal(src_pull(&s, 1), TB_EAGAIN);
    src_stop(&s);
}

/* destroy without stop (an instance that failed mid-flow) stops the timer too. */
static void test_destroy_running(void **state) {
    src s;
    (void)state;
    src_start(&s, "{\"interval\": 5}", true);
    run_for(s.loop, 12);
    tb_fix_stop(&s.f);
    for (int k = 0; k < 4; k++) assert_int_equal(tbr_loop_run_once(s.loop, 10), 0);
    tbr_loop_free(s.loop);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ticks),         cmocka_unit_test(test_coalesce),
        cmocka_unit_test(test_pause_resume),  cmocka_unit_test(test_config),
        cmocka_unit_test(test_no_loop),       cmocka_unit_test(test_destroy_running),
    };
    return cmocka_run_group_tests(tests, tb_fix_group_setup, tb_fix_group_teardown);
}
