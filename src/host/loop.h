/*
 * loop.h - an I/O readiness and timer loop (epoll, a timer heap and an eventfd for wake-ups),
 * behind tb_host_api's fd_watch, timer_start and wake.
 *
 * Thread contract: tbr_loop_wake may be called from any thread; everything else only from
 * the thread that runs the loop (or before it runs). Callbacks run on that thread, inside
 * tbr_loop_run_once, and may watch, unwatch, start and stop timers themselves.
 * Ownership: the loop never owns the file descriptors it watches. Watch and timer ids are
 * never 0.
 */
#ifndef TBR_HOST_LOOP_H
#define TBR_HOST_LOOP_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <temblor/temblor.h>

typedef struct tbr_loop tbr_loop;

tbr_loop *tbr_loop_new(void);
void tbr_loop_free(tbr_loop *loop);

/* Watches fd for events (TB_FD_READ/WRITE); cb gets the ready bits, TB_FD_ERROR included on
 * error or hang-up. Returns TB_OK and an id, TB_EINVAL for a bad fd, or TB_ENOMEM. */
int tbr_loop_watch(tbr_loop *loop, int fd, uint32_t events, tb_fd_fn cb, void *user,
                   uint64_t *out_id);
int tbr_loop_modify(tbr_loop *loop, uint64_t id, uint32_t events);
void tbr_loop_unwatch(tbr_loop *loop, uint64_t id);

/* Starts a timer firing after delay_ns and then every interval_ns (0: once). */
int tbr_loop_timer_start(tbr_loop *loop, uint64_t delay_ns, uint64_t interval_ns,
                         tb_timer_fn cb, void *user, uint64_t *out_id);
void tbr_loop_timer_stop(tbr_loop *loop, uint64_t id);

/* Whether a watch or timer id is still live (not unwatched, stopped or fired once). */
bool tbr_loop_watch_active(tbr_loop *loop, uint64_t id);
bool tbr_loop_timer_active(tbr_loop *loop, uint64_t id);

/* The thread that runs the loop, for checks: set by that thread when it starts running it,
 * cleared (0) when it stops. Any thread. */
void tbr_loop_set_owner(tbr_loop *loop, bool running);
/* Whether the calling thread may use the loop: no thread runs it, or this one does. */
bool tbr_loop_on_owner(const tbr_loop *loop);
/* A clock the loop keeps for a watchdog: 0 while it waits for something to do, and the
 * CLOCK_MONOTONIC time it woke otherwise (its callbacks run after that). Before it runs. */
void tbr_loop_set_busy_clock(tbr_loop *loop, _Atomic uint64_t *busy);
/* The calling thread, which runs a loop (tbr_loop_set_owner), is about to wait (true) under a
 * watchdog of its own, an isolated instance's call budget, or is back at work (false): its
 * busy clock stops, so the engine's watchdog does not report the wait as a stall. Does nothing
 * on a thread that runs no loop. */
void tbr_loop_thread_waits(bool waiting);

/* Makes a blocked or the next tbr_loop_run_once return promptly. Any thread. */
void tbr_loop_wake(tbr_loop *loop);

/* Waits up to timeout_ms (-1: until something happens) and runs the ready callbacks and the
 * due timers. Returns how many callbacks ran (a wake-up counts as 0), or a negative status. */
int tbr_loop_run_once(tbr_loop *loop, int timeout_ms);

/* CLOCK_MONOTONIC in nanoseconds. Any thread. */
uint64_t tbr_now_ns(void);
/* CLOCK_REALTIME nanoseconds: what tb_event.ingest_ns holds. Any thread. */
uint64_t tbr_realtime_ns(void);

#endif
