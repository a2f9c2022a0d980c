/* test_loop_handles.c - whether a watch or timer id is still live (tbr_loop_watch_active,
 * tbr_loop_timer_active in src/host/loop.c): after start, stop, firing, unwatch, and for
 * stale ids whose slot was reused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#include <cmocka.h>

#include "host/loop.h"

#define MS (UINT64_C(1000000))
#define FAR (UINT64_C(3600) * 1000 * MS) /* a delay that never comes during a test */

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

typedef struct tstate {
    tbr_loop *loop;
    int fired;
    uint64_t last_id;
    bool active_inside; /* tbr_loop_timer_active of its own id, seen in the callback */
    bool stop_inside;   /* stop its own id in the callback */
} tstate;

static void on_timer(void *user, uint64_t id) {
    tstate *t = user;
    t->fired++;
    t->last_id = id;
    t->active_inside = tbr_loop_timer_active(t->loop, id);
    if (t->stop_inside) tbr_loop_timer_stop(t->loop, id);
}

/* Runs the loop until *count reaches want, for at most max_ms. */
static void run_until(tbr_loop *loop, const int *count, int want, unsigned max_ms) {
    uint64_t deadline = tbr_now_ns() + max_ms * MS;
    while (*count < want && tbr_now_ns() < deadline) assert_true(tbr_loop_run_once(loop, 10) >= 0);
}

typedef struct fstate {
    int calls;
    uint32_t bits;
    int fd;
} fstate;

static void on_fd(void *user, int fd, uint32_t bits) {
    fstate *f = user;
    f->calls++;
    f->bits = bits;
    f->fd = fd;
    char buf[16];
    ssize_t n = read(fd, buf, sizeof buf); /* drain, so it is not ready again */
    (void)n;
}

/* ---------------------------------------------------------------------------------------
 * Timers
 * ------------------------------------------------------------------------------------- */

static void test_timer_active_until_stopped(void **state) {
    tbr_loop *loop = *state;
    tstate t = {.loop = loop};
    uint64_t id = 0;
    assert_int_equal(tbr_loop_timer_start(loop, FAR, 0, on_timer, &t, &id), TB_OK);
    assert_true(id != 0);
    assert_true(tbr_loop_timer_active(loop, id));
    assert_int_equal(tbr_loop_run_once(loop, 0), 0); /* not due: stays active */
    assert_true(tbr_loop_timer_active(loop, id));
    tbr_loop_timer_stop(loop, id);
    assert_false(tbr_loop_timer_active(loop, id));
    tbr_loop_timer_stop(loop, id); /* twice: ignored */
    assert_false(tbr_loop_timer_active(loop, id));
    assert_int_equal(tbr_loop_run_once(loop, 0), 0);
    assert_int_equal(t.fired, 0);
}

static void test_periodic_timer_active_until_stopped(void **state) {
    tbr_loop *loop = *state;
    tstate t = {.loop = loop};
    uint64_t id = 0;
    assert_int_equal(tbr_loop_timer_start(loop, FAR, 5 * MS, on_timer, &t, &id), TB_OK);
    assert_true(tbr_loop_timer_active(loop, id));
    tbr_loop_timer_stop(loop, id);
    assert_false(tbr_loop_timer_active(loop, id));
}

static void test_one_shot_inactive_after_firing(void **state) {
    tbr_loop *loop = *state;
    tstate t = {.loop = loop, .active_inside = true};
    uint64_t id = 0;
    assert_int_equal(tbr_loop_timer_start(loop, 0, 0, on_timer, &t, &id), TB_OK);
    assert_true(tbr_loop_timer_active(loop, id));
    assert_int_equal(tbr_loop_run_once(loop, 0), 1);
    assert_int_equal(t.fired, 1);
    assert_true(t.last_id == id);
    assert_false(t.active_inside); /* it has fired once: no longer live in its callback */
    assert_false(tbr_loop_timer_active(loop, id));
    tbr_loop_timer_stop(loop, id); /* stopping a fired one-shot is harmless */
    assert_false(tbr_loop_timer_active(loop, id));

    /* a one-shot with a delay, fired by a blocking run */
    tstate u = {.loop = loop, .active_inside = true};
    uint64_t id2 = 0;
    assert_int_equal(tbr_loop_timer_start(loop, 10 * MS, 0, on_timer, &u, &id2), TB_OK);
    assert_true(tbr_loop_timer_active(loop, id2));
    run_until(loop, &u.fired, 1, 3000);
    assert_int_equal(u.fired, 1);
    assert_false(tbr_loop_timer_active(loop, id2));
}

static void test_periodic_timer_active_after_firing(void **state) {
    tbr_loop *loop = *state;
    tstate t = {.loop = loop};
    uint64_t id = 0;
    assert_int_equal(tbr_loop_timer_start(loop, 0, 5 * MS, on_timer, &t, &id), TB_OK);
    assert_int_equal(tbr_loop_run_once(loop, 0), 1);
    assert_int_equal(t.fired, 1);
    assert_true(t.active_inside); /* still live in its own callback */
    assert_true(tbr_loop_timer_active(loop, id));
    run_until(loop, &t.fired, 3, 3000);
    assert_true(t.fired >= 3);
    assert_true(t.last_id == id);
    assert_true(tbr_loop_timer_active(loop, id));
    tbr_loop_timer_stop(loop, id);
    assert_false(tbr_loop_timer_active(loop, id));
}

static void test_periodic_timer_stopped_in_callback(void **state) {
    tbr_loop *loop = *state;
    tstate t = {.loop = loop, .stop_inside = true};
    uint64_t id = 0;
    assert_int_equal(tbr_loop_timer_start(loop, 0, 1 * MS, on_timer, &t, &id), TB_OK);
    assert_int_equal(tbr_loop_run_once(loop, 0), 1);
    assert_false(tbr_loop_timer_active(loop, id));
    for (int i = 0; i < 5; i++) assert_true(tbr_loop_run_once(loop, 3) >= 0);
    assert_int_equal(t.fired, 1);
}

static void test_timer_stale_ids(void **state) {
    tbr_loop *loop = *state;
    tstate t = {.loop = loop};
    uint64_t a = 0, b = 0, c = 0;

    /* stopped, then its slot reused */
    assert_int_equal(tbr_loop_timer_start(loop, FAR, 0, on_timer, &t, &a), TB_OK);
    tbr_loop_timer_stop(loop, a);
    assert_int_equal(tbr_loop_timer_start(loop, FAR, 0, on_timer, &t, &b), TB_OK);
    assert_int_equal((uint32_t)a, (uint32_t)b); /* the same slot... */
    assert_true(a != b);                         /* ...under another id */
    assert_false(tbr_loop_timer_active(loop, a));
    assert_true(tbr_loop_timer_active(loop, b));
    tbr_loop_timer_stop(loop, a); /* the stale id must not stop b */
    assert_true(tbr_loop_timer_active(loop, b));
    tbr_loop_timer_stop(loop, b);

    /* fired once, then its slot reused */
    assert_int_equal(tbr_loop_timer_start(loop, 0, 0, on_timer, &t, &a), TB_OK);
    assert_int_equal(tbr_loop_run_once(loop, 0), 1);
    assert_int_equal(tbr_loop_timer_start(loop, FAR, 0, on_timer, &t, &c), TB_OK);
    assert_int_equal((uint32_t)a, (uint32_t)c);
    assert_true(a != c && b != c);
    assert_false(tbr_loop_timer_active(loop, a));
    assert_false(tbr_loop_timer_active(loop, b));
    assert_true(tbr_loop_timer_active(loop, c));

    /* ids that were never handed out */
    assert_false(tbr_loop_timer_active(loop, 0));
    assert_false(tbr_loop_timer_active(loop, (UINT64_C(1) << 32) | 5u)); /* unused slot, first gen */
    assert_false(tbr_loop_timer_active(loop, c + (UINT64_C(1) << 32))); /* a later generation */
    assert_false(tbr_loop_timer_active(loop, (c & ~UINT64_C(0xffffffff)) | 1000u)); /* no slot */
    tbr_loop_timer_stop(loop, c);
    assert_false(tbr_loop_timer_active(loop, c));
}

static void test_timer_active_on_empty_loop(void **state) {
    tbr_loop *loop = *state;
    /* no timer table yet */
    assert_false(tbr_loop_timer_active(loop, 0));
    assert_false(tbr_loop_timer_active(loop, (UINT64_C(1) << 32)));
    assert_false(tbr_loop_watch_active(loop, 0));
    assert_false(tbr_loop_watch_active(loop, (UINT64_C(1) << 32)));
}

/* ---------------------------------------------------------------------------------------
 * Watches
 * ------------------------------------------------------------------------------------- */

static void test_watch_active_until_unwatched(void **state) {
    tbr_loop *loop = *state;
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    fstate f = {0};
    uint64_t id = 0;
    assert_int_equal(tbr_loop_watch(loop, fds[0], TB_FD_READ, on_fd, &f, &id), TB_OK);
    assert_true(id != 0);
    assert_true(tbr_loop_watch_active(loop, id));

    assert_int_equal(write(fds[1], "x", 1), 1);
    assert_int_equal(tbr_loop_run_once(loop, 1000), 1);
    assert_int_equal(f.calls, 1);
    assert_int_equal(f.fd, fds[0]);
    assert_true(f.bits & TB_FD_READ);
    assert_true(tbr_loop_watch_active(loop, id)); /* readiness does not end a watch */

    assert_int_equal(tbr_loop_modify(loop, id, TB_FD_READ), TB_OK);
    assert_true(tbr_loop_watch_active(loop, id));

    tbr_loop_unwatch(loop, id);
    assert_false(tbr_loop_watch_active(loop, id));
    tbr_loop_unwatch(loop, id); /* twice: ignored */
    assert_false(tbr_loop_watch_active(loop, id));
    assert_int_equal(tbr_loop_modify(loop, id, TB_FD_READ), TB_EINVAL);

    /* no callback after unwatch */
    assert_int_equal(write(fds[1], "y", 1), 1);
    assert_int_equal(tbr_loop_run_once(loop, 20), 0);
    assert_int_equal(f.calls, 1);
    close(fds[0]);
    close(fds[1]);
}

static void test_watch_stale_ids(void **state) {
    tbr_loop *loop = *state;
    int fds[2], other[2];
    assert_int_equal(pipe(fds), 0);
    assert_int_equal(pipe(other), 0);
    fstate f = {0};
    uint64_t a = 0, b = 0, c = 0;
    assert_int_equal(tbr_loop_watch(loop, fds[0], TB_FD_READ, on_fd, &f, &a), TB_OK);
    tbr_loop_unwatch(loop, a);
    /* the same fd watched again: the same slot under another id */
    assert_int_equal(tbr_loop_watch(loop, fds[0], TB_FD_READ, on_fd, &f, &b), TB_OK);
    assert_int_equal((uint32_t)a, (uint32_t)b);
    assert_true(a != b);
    assert_false(tbr_loop_watch_active(loop, a));
    assert_true(tbr_loop_watch_active(loop, b));
    tbr_loop_unwatch(loop, a); /* the stale id must not end b */
    assert_true(tbr_loop_watch_active(loop, b));
    assert_int_equal(tbr_loop_modify(loop, a, TB_FD_READ), TB_EINVAL);

    /* another fd in the freed slot */
    tbr_loop_unwatch(loop, b);
    assert_int_equal(tbr_loop_watch(loop, other[0], TB_FD_READ, on_fd, &f, &c), TB_OK);
    assert_int_equal((uint32_t)c, (uint32_t)a);
    assert_true(c != a && c != b);
    assert_false(tbr_loop_watch_active(loop, a));
    assert_false(tbr_loop_watch_active(loop, b));
    assert_true(tbr_loop_watch_active(loop, c));
    assert_false(tbr_loop_watch_active(loop, c + (UINT64_C(1) << 32)));
    assert_false(tbr_loop_watch_active(loop, (c & ~UINT64_C(0xffffffff)) | 1000u));
    assert_false(tbr_loop_watch_active(loop, 0));

    /* an event for the stale id does not reach anyone: only c's fd is ready */
    assert_int_equal(write(fds[1], "x", 1), 1);
    assert_int_equal(tbr_loop_run_once(loop, 20), 0);
    assert_int_equal(f.calls, 0);
    assert_int_equal(write(other[1], "x", 1), 1);
    assert_int_equal(tbr_loop_run_once(loop, 1000), 1);
    assert_int_equal(f.calls, 1);
    assert_int_equal(f.fd, other[0]);

    tbr_loop_unwatch(loop, c);
    assert_false(tbr_loop_watch_active(loop, c));
    close(fds[0]);
    close(fds[1]);
    close(other[0]);
    close(other[1]);
}

static void test_watch_refused_gives_no_live_id(void **state) {
    tbr_loop *loop = *state;
    fstate f = {0};
    uint64_t id = 0;
    assert_int_equal(tbr_loop_watch(loop, -1, TB_FD_READ, on_fd, &f, &id), TB_EINVAL);
    assert_int_equal(id, 0);
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    uint64_t good = 0, dup = 0;
    assert_int_equal(tbr_loop_watch(loop, fds[0], TB_FD_READ, on_fd, &f, &good), TB_OK);
    /* the same fd twice: epoll refuses it, the slot stays free and good stays live */
    assert_int_equal(tbr_loop_watch(loop, fds[0], TB_FD_READ, on_fd, &f, &dup), TB_EINVAL);
    assert_int_equal(dup, 0);
    assert_true(tbr_loop_watch_active(loop, good));
    assert_false(tbr_loop_watch_active(loop, good + 1)); /* the next slot, never used */
    tbr_loop_unwatch(loop, good);
    close(fds[0]);
    close(fds[1]);
}

int main(void) {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_timer_active_until_stopped),
        T(test_periodic_timer_active_until_stopped),
        T(test_one_shot_inactive_after_firing),
        T(test_periodic_timer_active_after_firing),
        T(test_periodic_timer_stopped_in_callback),
        T(test_timer_stale_ids),
        T(test_timer_active_on_empty_loop),
        T(test_watch_active_until_unwatched),
        T(test_watch_stale_ids),
        T(test_watch_refused_gives_no_live_id),
    };
#undef T
    return cmocka_run_group_tests_name("loop_handles", tests, NULL, NULL);
}
