/* test_loop.c - the epoll/timer/eventfd loop behind fd_watch, timer_start and wake
 * (src/host/loop.c). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "host/loop.h"

#define MS (UINT64_C(1000000))

/* ---------------------------------------------------------------------------------------
 * Helpers
 * ------------------------------------------------------------------------------------- */

static void sleep_ms(unsigned ms) {
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static int setup(void **state) {
    tbr_loop *loop = tbr_loop_new();
    if (!loop) return -1;
    *state = loop;
    return 0;
}

static int teardown(void **state) {
    tbr_loop_free(*state);
    return 0;
}

/* Runs the loop until *count reaches want or max_ms passes; returns the sum of what
 * tbr_loop_run_once reported. */
static int run_until(tbr_loop *loop, const int *count, int want, unsigned max_ms) {
    uint64_t deadline = tbr_now_ns() + max_ms * MS;
    int total = 0;
    while (*count < want && tbr_now_ns() < deadline) {
        int rc = tbr_loop_run_once(loop, 10);
        assert_true(rc >= 0);
        total += rc;
    }
    return total;
}

/* Runs the loop for about ms milliseconds, whatever happens; returns the callbacks run. */
static int run_for(tbr_loop *loop, unsigned ms) {
    uint64_t deadline = tbr_now_ns() + ms * MS;
    int total = 0;
    while (tbr_now_ns() < deadline) {
        int rc = tbr_loop_run_once(loop, 5);
        assert_true(rc >= 0);
        total += rc;
    }
    return total;
}

typedef struct tstate {
    tbr_loop *loop;
    int fired;
    uint64_t ids[64];     /* the id of each firing */
    uint64_t times[64];   /* when each firing happened */
    uint64_t stop_on_fire; /* stop this timer id when firing, if stop_set */
    bool stop_set;
    int tag;
    int *order;           /* shared log of tags, for ordering tests */
    int *order_len;
} tstate;

static void on_timer(void *user, uint64_t id) {
    tstate *t = user;
    if (t->fired < 64) {
        t->ids[t->fired] = id;
        t->times[t->fired] = tbr_now_ns();
    }
    t->fired++;
    if (t->order) t->order[(*t->order_len)++] = t->tag;
    if (t->stop_set) tbr_loop_timer_stop(t->loop, t->stop_on_fire);
}

/* ---------------------------------------------------------------------------------------
 * Timers
 * ------------------------------------------------------------------------------------- */

static void test_now_ns(void **state) {
    (void)state;
    uint64_t a = tbr_now_ns();
    uint64_t b = tbr_now_ns();
    assert_true(b >= a);
    sleep_ms(10);
    uint64_t c = tbr_now_ns();
    assert_true(c - a >= 10 * MS);
    assert_true(c - a < 5000 * MS);
    tbr_loop_free(NULL); /* ignored */
}

static void test_timer_one_shot_fires_once(void **state) {
    tbr_loop *loop = *state;
    tstate t = {.loop = loop};
    uint64_t id = 0;
    uint64_t start = tbr_now_ns();
    assert_int_equal(tbr_loop_timer_start(loop, 20 * MS, 0, on_timer, &t, &id), TB_OK);
    assert_int_equal(tbr_loop_run_once(loop, 0), 0); /* not yet */
    assert_int_equal(t.fired, 0);
    int ran = run_until(loop, &t.fired, 1, 3000);
    assert_int_equal(t.fired, 1);
    assert_int_equal(ran, 1);
    assert_true(t.ids[0] == id);
    assert_true(t.times[0] - start >= 20 * MS); /* never early */
    assert_int_equal(run_for(loop, 60), 0);
    assert_int_equal(t.fired, 1);
}

static void test_timer_zero_delay(void **state) {
    tbr_loop *loop = *state;
    tstate t = {.loop = loop};
    uint64_t id;
    assert_int_equal(tbr_loop_timer_start(loop, 0, 0, on_timer, &t, &id), TB_OK);
    assert_int_equal(tbr_loop_run_once(loop, 0), 1);
    assert_int_equal(t.fired, 1);
    assert_int_equal(tbr_loop_run_once(loop, 0), 0);
    assert_int_equal(t.fired, 1);
}

static void test_timer_blocking_wait_ends_at_timer(void **state) {
    tbr_loop *loop = *state;
    tstate t = {.loop = loop};
    uint64_t id;
    uint64_t start = tbr_now_ns();
    assert_int_equal(tbr_loop_timer_start(loop, 30 * MS, 0, on_timer, &t, &id), TB_OK);
    /* an infinite wait must still end when the timer is due */
    int ran = 0;
    while (t.fired == 0) ran += tbr_loop_run_once(loop, -1);
    assert_int_equal(ran, 1);
    uint64_t waited = tbr_now_ns() - start;
    assert_true(waited >= 30 * MS);
    assert_true(waited < 2000 * MS);
}

static void test_timer_interval_repeats(void **state) {
    tbr_loop *loop = *state;
    tstate t = {.loop = loop};
    uint64_t id;
    uint64_t start = tbr_now_ns();
    assert_int_equal(tbr_loop_timer_start(loop, 2 * MS, 5 * MS, on_timer, &t, &id), TB_OK);
    run_until(loop, &t.fired, 6, 5000);
    assert_true(t.fired >= 6);
    for (int i = 0; i < 6; i++) assert_true(t.ids[i] == id); /* the same id each time */
    /* due times are 2, 7, 12, ... ms after the start, and firings are never early */
    for (int i = 0; i < 6; i++) assert_true(t.times[i] - start >= (2 + 5 * (uint64_t)i) * MS);
    /* it keeps going until stopped */
    int before = t.fired;
    run_until(loop, &t.fired, before + 2, 5000);
    assert_true(t.fired >= before + 2);
    tbr_loop_timer_stop(loop, id);
    before = t.fired;
    assert_int_equal(run_for(loop, 40), 0);
    assert_int_equal(t.fired, before);
}

static void test_timer_interval_no_burst_after_stall(void **state) {
    tbr_loop *loop = *state;
    tstate t = {.loop = loop};
    uint64_t id;
    assert_int_equal(tbr_loop_timer_start(loop, 0, 20 * MS, on_timer, &t, &id), TB_OK);
    assert_int_equal(tbr_loop_run_once(loop, 0), 1);
    sleep_ms(150); /* about 7 periods missed */
    int ran = tbr_loop_run_once(loop, 0);
    assert_int_equal(ran, 1); /* one firing, not a catch-up burst */
    assert_int_equal(t.fired, 2);
    assert_int_equal(tbr_loop_run_once(loop, 0), 0); /* the next is a full period away */
    tbr_loop_timer_stop(loop, id);
}

static void test_timer_stop_prevents_firing(void **state) {
    tbr_loop *loop = *state;
    tstate a = {.loop = loop}, b = {.loop = loop};
    uint64_t ida, idb;
    assert_int_equal(tbr_loop_timer_start(loop, 5 * MS, 0, on_timer, &a, &ida), TB_OK);
    assert_int_equal(tbr_loop_timer_start(loop, 5 * MS, 0, on_timer, &b, &idb), TB_OK);
    assert_true(ida != idb);
    tbr_loop_timer_stop(loop, ida);
    run_until(loop, &b.fired, 1, 3000);
    assert_int_equal(b.fired, 1);
    assert_int_equal(run_for(loop, 30), 0);
    assert_int_equal(a.fired, 0);

    /* an interval timer stopped before its first firing */
    tstate c = {.loop = loop};
    uint64_t idc;
    assert_int_equal(tbr_loop_timer_start(loop, 1 * MS, 1 * MS, on_timer, &c, &idc), TB_OK);
    tbr_loop_timer_stop(loop, idc);
    assert_int_equal(run_for(loop, 30), 0);
    assert_int_equal(c.fired, 0);
}

static void test_timer_stop_inside_own_callback(void **state) {
    tbr_loop *loop = *state;
    tstate t = {.loop = loop};
    uint64_t id;
    assert_int_equal(tbr_loop_timer_start(loop, 1 * MS, 2 * MS, on_timer, &t, &id), TB_OK);
    t.stop_on_fire = id;
    t.stop_set = true;
    run_until(loop, &t.fired, 1, 3000);
    assert_int_equal(t.fired, 1);
    assert_int_equal(run_for(loop, 50), 0);
    assert_int_equal(t.fired, 1);

    /* a one-shot stopping itself: its id is already dead, nothing breaks */
    tstate o = {.loop = loop};
    assert_int_equal(tbr_loop_timer_start(loop, 0, 0, on_timer, &o, &id), TB_OK);
    o.stop_on_fire = id;
    o.stop_set = true;
    assert_int_equal(tbr_loop_run_once(loop, 0), 1);
    assert_int_equal(o.fired, 1);
    assert_int_equal(run_for(loop, 20), 0);
}

static void test_timer_stop_other_inside_callback(void **state) {
    tbr_loop *loop = *state;
    tstate a = {.loop = loop}, b = {.loop = loop};
    uint64_t ida, idb;
    /* both due in the same round: a (earlier) stops b, which must not run */
    assert_int_equal(tbr_loop_timer_start(loop, 5 * MS, 0, on_timer, &a, &ida), TB_OK);
    assert_int_equal(tbr_loop_timer_start(loop, 6 * MS, 0, on_timer, &b, &idb), TB_OK);
    a.stop_on_fire = idb;
    a.stop_set = true;
    sleep_ms(15);
    assert_int_equal(tbr_loop_run_once(loop, 0), 1);
    assert_int_equal(a.fired, 1);
    assert_int_equal(run_for(loop, 20), 0);
    assert_int_equal(b.fired, 0);
}

typedef struct spawner {
    tbr_loop *loop;
    int fired;
    tstate children[40];
    uint64_t ids[40];
} spawner;

static void on_spawn(void *user, uint64_t id) {
    (void)id;
    spawner *s = user;
    s->fired++;
    /* enough timers to make the loop grow its timer table and heap mid-callback */
    for (int i = 0; i < 40; i++) {
        s->children[i].loop = s->loop;
        assert_int_equal(tbr_loop_timer_start(s->loop, 0, 0, on_timer, &s->children[i], &s->ids[i]),
                         TB_OK);
    }
}

static void test_timer_start_inside_callback(void **state) {
    tbr_loop *loop = *state;
    spawner s = {.loop = loop};
    uint64_t id;
    assert_int_equal(tbr_loop_timer_start(loop, 0, 0, on_spawn, &s, &id), TB_OK);
    int ran = tbr_loop_run_once(loop, 0);
    assert_true(ran >= 1); /* terminates even though zero-delay timers keep being added */
    assert_int_equal(s.fired, 1);
    int total = ran;
    for (int round = 0; round < 10; round++) total += tbr_loop_run_once(loop, 5);
    assert_int_equal(total, 41);
    for (int i = 0; i < 40; i++) {
        assert_int_equal(s.children[i].fired, 1);
        assert_true(s.children[i].ids[0] == s.ids[i]);
        for (int k = 0; k < i; k++) assert_true(s.ids[k] != s.ids[i]);
    }
}

static void test_timer_order(void **state) {
    tbr_loop *loop = *state;
    enum { N = 32 };
    static tstate t[N];
    int order[N + 1], order_len = 0;
    memset(t, 0, sizeof t);
    for (int i = 0; i < N; i++) {
        int delay_ms = (i * 13) % N + 1; /* a permutation of 1..N */
        t[i] = (tstate){.loop = loop, .tag = delay_ms, .order = order, .order_len = &order_len};
        uint64_t id;
        assert_int_equal(tbr_loop_timer_start(loop, (uint64_t)delay_ms * 2 * MS, 0, on_timer, &t[i], &id),
                         TB_OK);
    }
    run_until(loop, &order_len, N, 5000);
    assert_int_equal(order_len, N);
    for (int i = 0; i < N; i++) assert_int_equal(order[i], i + 1);
}

static void test_timer_stale_ids(void **state) {
    tbr_loop *loop = *state;
    tstate a = {.loop = loop}, b = {.loop = loop};
    uint64_t ida, idb;
    assert_int_equal(tbr_loop_timer_start(loop, 0, 0, on_timer, &a, &ida), TB_OK);
    assert_int_equal(tbr_loop_run_once(loop, 0), 1);
    tbr_loop_timer_stop(loop, ida); /* fired one-shot: no-op */
    /* a new timer probably reuses the slot; the old id must not reach it */
    assert_int_equal(tbr_loop_timer_start(loop, 5 * MS, 0, on_timer, &b, &idb), TB_OK);
    assert_true(idb != ida);
    tbr_loop_timer_stop(loop, ida);
    tbr_loop_timer_stop(loop, ida ^ (UINT64_C(1) << 40)); /* another generation */
    tbr_loop_timer_stop(loop, UINT64_MAX);                 /* slot out of range */
    tbr_loop_timer_stop(loop, 12345);                      /* slot out of range */
    run_until(loop, &b.fired, 1, 3000);
    assert_int_equal(b.fired, 1);
    assert_int_equal(a.fired, 1);
    tbr_loop_timer_stop(loop, idb);
    tbr_loop_timer_stop(loop, idb); /* twice */

    /* a stopped timer's id does not stop its slot's next owner either */
    tstate c = {.loop = loop}, d = {.loop = loop};
    uint64_t idc, idd;
    assert_int_equal(tbr_loop_timer_start(loop, 1000 * MS, 0, on_timer, &c, &idc), TB_OK);
    tbr_loop_timer_stop(loop, idc);
    assert_int_equal(tbr_loop_timer_start(loop, 0, 0, on_timer, &d, &idd), TB_OK);
    tbr_loop_timer_stop(loop, idc);
    assert_int_equal(tbr_loop_run_once(loop, 0), 1);
    assert_int_equal(d.fired, 1);
    assert_int_equal(c.fired, 0);
}

static void test_timer_huge_delay_and_interval(void **state) {
    tbr_loop *loop = *state;
    tstate t = {.loop = loop}, u = {.loop = loop};
    uint64_t id, id2;
    /* "never" must not wrap around into "now" */
    assert_int_equal(tbr_loop_timer_start(loop, UINT64_MAX, 0, on_timer, &t, &id), TB_OK);
    assert_int_equal(tbr_loop_run_once(loop, 0), 0);
    assert_int_equal(run_for(loop, 20), 0);
    assert_int_equal(t.fired, 0);
    tbr_loop_timer_stop(loop, id);

    /* an interval so long that its next due time overflows: fires once only */
    assert_int_equal(tbr_loop_timer_start(loop, 0, UINT64_MAX, on_timer, &u, &id2), TB_OK);
    assert_int_equal(tbr_loop_run_once(loop, 0), 1);
    assert_int_equal(run_for(loop, 20), 0);
    assert_int_equal(u.fired, 1);
    tbr_loop_timer_stop(loop, id2);
}

static void test_timer_invalid(void **state) {
    tbr_loop *loop = *state;
    uint64_t id = 77;
    assert_int_equal(tbr_loop_timer_start(loop, 0, 0, NULL, NULL, &id), TB_EINVAL);
    assert_true(id == 77);
    assert_int_equal(tbr_loop_run_once(loop, 0), 0);
}

/* ---------------------------------------------------------------------------------------
 * File descriptors
 * ------------------------------------------------------------------------------------- */

typedef struct fstate {
    tbr_loop *loop;
    int calls;
    int fd;
    uint32_t bits;
    uint32_t all_bits;
    uint64_t unwatch_on_call; /* unwatch this id when called (0: none) */
    bool unwatch_set;
} fstate;

static void on_fd(void *user, int fd, uint32_t events) {
    fstate *s = user;
    s->calls++;
    s->fd = fd;
    s->bits = events;
    s->all_bits |= events;
    if (s->unwatch_set) tbr_loop_unwatch(s->loop, s->unwatch_on_call);
}

static void make_pipe(int p[2]) {
    assert_int_equal(pipe(p), 0);
    assert_int_equal(fcntl(p[0], F_SETFL, O_NONBLOCK), 0);
    assert_int_equal(fcntl(p[1], F_SETFL, O_NONBLOCK), 0);
}

static void test_fd_read_readiness(void **state) {
    tbr_loop *loop = *state;
    int p[2];
    make_pipe(p);
    fstate s = {.loop = loop, .fd = -1};
    uint64_t id;
    assert_int_equal(tbr_loop_watch(loop, p[0], TB_FD_READ, on_fd, &s, &id), TB_OK);
    assert_int_equal(tbr_loop_run_once(loop, 0), 0);
    assert_int_equal(tbr_loop_run_once(loop, 20), 0);
    assert_int_equal(s.calls, 0);

    assert_int_equal(write(p[1], "x", 1), 1);
    assert_int_equal(tbr_loop_run_once(loop, 1000), 1);
    assert_int_equal(s.calls, 1);
    assert_int_equal(s.fd, p[0]);
    assert_int_equal(s.bits, TB_FD_READ);

    /* level-triggered: still readable, so it is reported again */
    assert_int_equal(tbr_loop_run_once(loop, 0), 1);
    assert_int_equal(s.calls, 2);
    char c;
    assert_int_equal(read(p[0], &c, 1), 1);
    assert_int_equal(tbr_loop_run_once(loop, 0), 0);
    assert_int_equal(s.calls, 2);

    tbr_loop_unwatch(loop, id);
    assert_int_equal(write(p[1], "y", 1), 1);
    assert_int_equal(tbr_loop_run_once(loop, 20), 0);
    assert_int_equal(s.calls, 2);
    close(p[0]);
    close(p[1]);
}

static void test_fd_modify_to_write(void **state) {
    tbr_loop *loop = *state;
    int p[2];
    make_pipe(p);
    fstate s = {.loop = loop, .fd = -1};
    uint64_t id;
    /* a pipe's write end is never readable */
    assert_int_equal(tbr_loop_watch(loop, p[1], TB_FD_READ, on_fd, &s, &id), TB_OK);
    assert_int_equal(tbr_loop_run_once(loop, 20), 0);
    assert_int_equal(tbr_loop_modify(loop, id, TB_FD_WRITE), TB_OK);
    assert_int_equal(tbr_loop_run_once(loop, 1000), 1);
    assert_int_equal(s.fd, p[1]);
    assert_int_equal(s.bits, TB_FD_WRITE);
    /* and back */
    assert_int_equal(tbr_loop_modify(loop, id, TB_FD_READ), TB_OK);
    assert_int_equal(tbr_loop_run_once(loop, 20), 0);
    assert_int_equal(tbr_loop_modify(loop, id, 0), TB_OK);
    assert_int_equal(tbr_loop_run_once(loop, 20), 0);
    assert_int_equal(s.calls, 1);

    /* read and write on the read end with data: only READ */
    fstate r = {.loop = loop, .fd = -1};
    uint64_t rid;
    assert_int_equal(write(p[1], "z", 1), 1);
    assert_int_equal(tbr_loop_watch(loop, p[0], TB_FD_READ | TB_FD_WRITE, on_fd, &r, &rid), TB_OK);
    assert_int_equal(tbr_loop_run_once(loop, 1000), 1);
    assert_int_equal(r.bits, TB_FD_READ);

    tbr_loop_unwatch(loop, id);
    assert_int_equal(tbr_loop_modify(loop, id, TB_FD_WRITE), TB_EINVAL); /* stale */
    tbr_loop_unwatch(loop, rid);
    close(p[0]);
    close(p[1]);
}

static void test_fd_unwatch_inside_callback(void **state) {
    tbr_loop *loop = *state;
    int p[2];
    make_pipe(p);
    fstate s = {.loop = loop, .fd = -1};
    uint64_t id;
    assert_int_equal(tbr_loop_watch(loop, p[0], TB_FD_READ, on_fd, &s, &id), TB_OK);
    s.unwatch_on_call = id;
    s.unwatch_set = true;
    assert_int_equal(write(p[1], "x", 1), 1);
    assert_int_equal(tbr_loop_run_once(loop, 1000), 1);
    assert_int_equal(s.calls, 1);
    /* the data is still there, but nobody watches any more */
    assert_int_equal(tbr_loop_run_once(loop, 20), 0);
    assert_int_equal(s.calls, 1);
    /* the fd can be watched again afterwards */
    fstate s2 = {.loop = loop, .fd = -1};
    uint64_t id2;
    assert_int_equal(tbr_loop_watch(loop, p[0], TB_FD_READ, on_fd, &s2, &id2), TB_OK);
    assert_true(id2 != id);
    assert_int_equal(tbr_loop_run_once(loop, 1000), 1);
    assert_int_equal(s2.calls, 1);
    tbr_loop_unwatch(loop, id2);
    close(p[0]);
    close(p[1]);
}

static void test_fd_unwatch_other_inside_callback(void **state) {
    tbr_loop *loop = *state;
    int p[2], q[2];
    make_pipe(p);
    make_pipe(q);
    fstate a = {.loop = loop, .fd = -1}, b = {.loop = loop, .fd = -1};
    uint64_t ida, idb;
    assert_int_equal(tbr_loop_watch(loop, p[0], TB_FD_READ, on_fd, &a, &ida), TB_OK);
    assert_int_equal(tbr_loop_watch(loop, q[0], TB_FD_READ, on_fd, &b, &idb), TB_OK);
    a.unwatch_on_call = idb;
    a.unwatch_set = true;
    b.unwatch_on_call = ida;
    b.unwatch_set = true;
    assert_int_equal(write(p[1], "x", 1), 1);
    assert_int_equal(write(q[1], "x", 1), 1);
    sleep_ms(5);
    /* both are ready in the same round; whichever runs first removes the other */
    assert_int_equal(tbr_loop_run_once(loop, 1000), 1);
    assert_int_equal(a.calls + b.calls, 1);
    assert_true(run_for(loop, 20) >= 1);
    /* the survivor keeps firing (still readable), the victim never does */
    if (a.calls) {
        assert_true(a.calls >= 2);
        assert_int_equal(b.calls, 0);
        tbr_loop_unwatch(loop, ida);
    } else {
        assert_true(b.calls >= 2);
        assert_int_equal(a.calls, 0);
        tbr_loop_unwatch(loop, idb);
    }
    close(p[0]);
    close(p[1]);
    close(q[0]);
    close(q[1]);
}

static void test_fd_hangup_reports_error(void **state) {
    tbr_loop *loop = *state;
    int p[2];
    make_pipe(p);
    fstate s = {.loop = loop, .fd = -1};
    uint64_t id;
    assert_int_equal(tbr_loop_watch(loop, p[0], TB_FD_READ, on_fd, &s, &id), TB_OK);
    close(p[1]);
    assert_int_equal(tbr_loop_run_once(loop, 1000), 1);
    assert_true(s.bits & TB_FD_ERROR);
    tbr_loop_unwatch(loop, id);
    close(p[0]);
}

static void test_fd_invalid_and_stale(void **state) {
    tbr_loop *loop = *state;
    fstate s = {.loop = loop, .fd = -1};
    uint64_t id = 0;
    assert_int_equal(tbr_loop_watch(loop, -1, TB_FD_READ, on_fd, &s, &id), TB_EINVAL);
    int p[2];
    make_pipe(p);
    assert_int_equal(tbr_loop_watch(loop, p[0], TB_FD_READ, NULL, &s, &id), TB_EINVAL);
    /* a regular file cannot be polled */
    FILE *f = tmpfile();
    assert_non_null(f);
    assert_int_equal(tbr_loop_watch(loop, fileno(f), TB_FD_READ, on_fd, &s, &id), TB_EINVAL);
    fclose(f);
    /* a closed fd */
    int p2[2];
    make_pipe(p2);
    close(p2[0]);
    close(p2[1]);
    assert_int_equal(tbr_loop_watch(loop, p2[0], TB_FD_READ, on_fd, &s, &id), TB_EINVAL);

    /* the same fd twice */
    uint64_t ida;
    assert_int_equal(tbr_loop_watch(loop, p[0], TB_FD_READ, on_fd, &s, &ida), TB_OK);
    assert_int_equal(tbr_loop_watch(loop, p[0], TB_FD_READ, on_fd, &s, &id), TB_EINVAL);

    /* a stale id does not reach the slot's next owner */
    tbr_loop_unwatch(loop, ida);
    tbr_loop_unwatch(loop, ida); /* twice: no-op */
    fstate t = {.loop = loop, .fd = -1};
    uint64_t idb;
    assert_int_equal(tbr_loop_watch(loop, p[1], TB_FD_WRITE, on_fd, &t, &idb), TB_OK);
    assert_true(idb != ida);
    tbr_loop_unwatch(loop, ida);
    assert_int_equal(tbr_loop_modify(loop, ida, TB_FD_READ), TB_EINVAL);
    tbr_loop_unwatch(loop, UINT64_MAX);
    tbr_loop_unwatch(loop, 999);
    assert_int_equal(tbr_loop_modify(loop, 999, TB_FD_READ), TB_EINVAL);
    assert_int_equal(tbr_loop_run_once(loop, 1000), 1);
    assert_int_equal(t.calls, 1);
    assert_int_equal(t.bits, TB_FD_WRITE);
    assert_int_equal(s.calls, 0);
    tbr_loop_unwatch(loop, idb);
    close(p[0]);
    close(p[1]);
}

static void test_fd_many_watches(void **state) {
    tbr_loop *loop = *state;
    enum { N = 40 };
    int pipes[N][2];
    fstate s[N];
    uint64_t ids[N];
    for (int i = 0; i < N; i++) {
        make_pipe(pipes[i]);
        s[i] = (fstate){.loop = loop, .fd = -1};
        assert_int_equal(tbr_loop_watch(loop, pipes[i][0], TB_FD_READ, on_fd, &s[i], &ids[i]), TB_OK);
        for (int k = 0; k < i; k++) assert_true(ids[k] != ids[i]);
    }
    for (int i = 0; i < N; i += 2) assert_int_equal(write(pipes[i][1], "x", 1), 1);
    sleep_ms(5);
    assert_int_equal(tbr_loop_run_once(loop, 1000), N / 2);
    for (int i = 0; i < N; i++) {
        assert_int_equal(s[i].calls, i % 2 == 0 ? 1 : 0);
        if (i % 2 == 0) assert_int_equal(s[i].fd, pipes[i][0]);
    }
    for (int i = 0; i < N; i++) {
        tbr_loop_unwatch(loop, ids[i]);
        close(pipes[i][0]);
        close(pipes[i][1]);
    }
    assert_int_equal(tbr_loop_run_once(loop, 0), 0);
}

static void test_fd_and_timer_same_round(void **state) {
    tbr_loop *loop = *state;
    int p[2];
    make_pipe(p);
    fstate s = {.loop = loop, .fd = -1};
    tstate t = {.loop = loop};
    uint64_t wid, tid;
    assert_int_equal(tbr_loop_watch(loop, p[0], TB_FD_READ, on_fd, &s, &wid), TB_OK);
    assert_int_equal(tbr_loop_timer_start(loop, 0, 0, on_timer, &t, &tid), TB_OK);
    assert_int_equal(write(p[1], "x", 1), 1);
    assert_int_equal(tbr_loop_run_once(loop, 1000), 2);
    assert_int_equal(s.calls, 1);
    assert_int_equal(t.fired, 1);
    tbr_loop_unwatch(loop, wid);
    close(p[0]);
    close(p[1]);
}

/* ---------------------------------------------------------------------------------------
 * Wake-ups
 * ------------------------------------------------------------------------------------- */

typedef struct waker {
    tbr_loop *loop;
    unsigned delay_ms;
    uint64_t woke_at;
} waker;

static void *waker_main(void *arg) {
    waker *w = arg;
    sleep_ms(w->delay_ms);
    w->woke_at = tbr_now_ns();
    tbr_loop_wake(w->loop);
    return NULL;
}

static void test_wake_from_thread(void **state) {
    tbr_loop *loop = *state;
    waker w = {.loop = loop, .delay_ms = 50};
    pthread_t th;
    uint64_t start = tbr_now_ns();
    assert_int_equal(pthread_create(&th, NULL, waker_main, &w), 0);
    int rc = tbr_loop_run_once(loop, -1);
    uint64_t end = tbr_now_ns();
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_int_equal(rc, 0); /* a wake-up runs no callback */
    assert_true(end - start >= 45 * MS); /* it really blocked */
    assert_true(end >= w.woke_at);
    assert_true(end - start < 5000 * MS);
}

static void test_wake_before_run(void **state) {
    tbr_loop *loop = *state;
    tbr_loop_wake(loop);
    tbr_loop_wake(loop);
    tbr_loop_wake(loop); /* coalesced into one */
    uint64_t start = tbr_now_ns();
    assert_int_equal(tbr_loop_run_once(loop, -1), 0);
    assert_true(tbr_now_ns() - start < 1000 * MS);
    /* consumed: the next wait runs to its timeout */
    start = tbr_now_ns();
    assert_int_equal(tbr_loop_run_once(loop, 30), 0);
    assert_true(tbr_now_ns() - start >= 25 * MS);
}

static void test_wake_with_distant_timer(void **state) {
    tbr_loop *loop = *state;
    tstate t = {.loop = loop};
    uint64_t id;
    /* about 50 days: more milliseconds than an int holds (2^32 + 5 of them) */
    uint64_t delay = ((UINT64_C(1) << 32) + 5) * MS;
    assert_int_equal(tbr_loop_timer_start(loop, delay, 0, on_timer, &t, &id), TB_OK);
    waker w = {.loop = loop, .delay_ms = 60};
    pthread_t th;
    uint64_t start = tbr_now_ns();
    assert_int_equal(pthread_create(&th, NULL, waker_main, &w), 0);
    int rc = tbr_loop_run_once(loop, -1);
    uint64_t end = tbr_now_ns();
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_int_equal(rc, 0);
    assert_int_equal(t.fired, 0);
    assert_true(end - start >= 55 * MS); /* blocked until the wake, not a truncated wait */
    tbr_loop_timer_stop(loop, id);
}

int main(void) {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_now_ns),
        T(test_timer_one_shot_fires_once),
        T(test_timer_zero_delay),
        T(test_timer_blocking_wait_ends_at_timer),
        T(test_timer_interval_repeats),
        T(test_timer_interval_no_burst_after_stall),
        T(test_timer_stop_prevents_firing),
        T(test_timer_stop_inside_own_callback),
        T(test_timer_stop_other_inside_callback),
        T(test_timer_start_inside_callback),
        T(test_timer_order),
        T(test_timer_stale_ids),
        T(test_timer_huge_delay_and_interval),
        T(test_timer_invalid),
        T(test_fd_read_readiness),
        T(test_fd_modify_to_write),
        T(test_fd_unwatch_inside_callback),
        T(test_fd_unwatch_other_inside_callback),
        T(test_fd_hangup_reports_error),
        T(test_fd_invalid_and_stale),
        T(test_fd_many_watches),
        T(test_fd_and_timer_same_round),
        T(test_wake_from_thread),
        T(test_wake_before_run),
        T(test_wake_with_distant_timer),
    };
#undef T
    return cmocka_run_group_tests_name("loop", tests, NULL, NULL);
}
