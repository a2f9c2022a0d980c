/* loop.c - epoll for fds, a binary heap for timers, an eventfd for cross-thread wake-ups.
 * Ids carry a generation in their high half so a stale id never reaches a reused slot;
 * generations start at 1 so no id is 0, which plugins may use for "none". */
#define _GNU_SOURCE
#include "host/loop.h"

#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#define WAKE_TAG UINT64_MAX

typedef struct watch {
    int fd;          /* -1 when the slot is free */
    uint32_t gen;
    tb_fd_fn cb;
    void *user;
} watch;

typedef struct timer {
    uint64_t due;
    uint64_t interval;
    tb_timer_fn cb;
    void *user;
    uint32_t gen;
    bool active;
} timer;

typedef struct heap_entry {
    uint64_t due;
    uint32_t slot;
    uint32_t gen;
} heap_entry;

struct tbr_loop {
    int epfd;
    int wakefd;
    watch *watches;
    uint32_t watch_cap;
    timer *timers;
    uint32_t timer_cap;
    heap_entry *heap;  /* may hold stale entries of stopped timers, skipped when popped */
    uint32_t heap_len, heap_cap;
    _Atomic pid_t owner; /* the thread running the loop (its kernel id), 0: none yet or any more */
    _Atomic uint64_t *busy; /* set to 0 while the loop waits, to the time it woke otherwise */
};

uint64_t tbr_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t tbr_realtime_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t make_id(uint32_t slot, uint32_t gen) { return ((uint64_t)gen << 32) | slot; }

/* a + b, saturating: a huge delay or interval means "far away", never "now" */
static uint64_t add_sat(uint64_t a, uint64_t b) { return b > UINT64_MAX - a ? UINT64_MAX : a + b; }

tbr_loop *tbr_loop_new(void) {
    tbr_loop *loop = calloc(1, sizeof *loop);
    if (!loop) return NULL;
    loop->epfd = epoll_create1(EPOLL_CLOEXEC);
    loop->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (loop->epfd < 0 || loop->wakefd < 0) goto fail;
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = WAKE_TAG};
    if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, loop->wakefd, &ev) != 0) goto fail;
    return loop;
fail:
    if (loop->epfd >= 0) close(loop->epfd);
    if (loop->wakefd >= 0) close(loop->wakefd);
    free(loop);
    return NULL;
}

void tbr_loop_set_busy_clock(tbr_loop *loop, _Atomic uint64_t *busy) { loop->busy = busy; }

/* The calling thread's kernel id, asked of the kernel once per thread: the owner check runs
 * on every timer and fd call a plugin makes. (A forked child inherits the cache: it must exec
 * before it runs a loop, as a plugin host does.) */
static pid_t this_thread(void) {
    static _Thread_local pid_t tid;
    if (!tid) tid = gettid();
    return tid;
}

/* the busy clock of the loop this thread runs, for tbr_loop_thread_waits */
static _Thread_local _Atomic uint64_t *thread_busy;

void tbr_loop_set_owner(tbr_loop *loop, bool running) {
    atomic_store(&loop->owner, running ? this_thread() : 0);
    thread_busy = running ? loop->busy : NULL;
}

void tbr_loop_thread_waits(bool waiting) {
    if (thread_busy) atomic_store_explicit(thread_busy, waiting ? 0 : tbr_now_ns(), memory_order_relaxed);
}

bool tbr_loop_on_owner(const tbr_loop *loop) {
    pid_t owner = atomic_load_explicit(&((tbr_loop *)loop)->owner, memory_order_relaxed);
    return owner == 0 || owner == this_thread();
}

void tbr_loop_free(tbr_loop *loop) {
    if (!loop) return;
    close(loop->epfd);
    close(loop->wakefd);
    free(loop->watches);
    free(loop->timers);
    free(loop->heap);
    free(loop);
}

static uint32_t to_epoll(uint32_t events) {
    return ((events & TB_FD_READ) ? EPOLLIN : 0u) | ((events & TB_FD_WRITE) ? EPOLLOUT : 0u);
}

static watch *find_watch(tbr_loop *loop, uint64_t id) {
    uint32_t slot = (uint32_t)id, gen = (uint32_t)(id >> 32);
    if (slot >= loop->watch_cap) return NULL;
    watch *w = &loop->watches[slot];
    return w->fd >= 0 && w->gen == gen ? w : NULL;
}

int tbr_loop_watch(tbr_loop *loop, int fd, uint32_t events, tb_fd_fn cb, void *user,
                   uint64_t *out_id) {
    if (fd < 0 || !cb) return TB_EINVAL;
    uint32_t slot = 0;
    while (slot < loop->watch_cap && loop->watches[slot].fd >= 0) slot++;
    if (slot == loop->watch_cap) {
        uint32_t ncap = loop->watch_cap ? loop->watch_cap * 2 : 16;
        watch *n = realloc(loop->watches, ncap * sizeof *n);
        if (!n) return TB_ENOMEM;
        for (uint32_t i = loop->watch_cap; i < ncap; i++) n[i] = (watch){.fd = -1, .gen = 1};
        loop->watches = n;
        loop->watch_cap = ncap;
    }
    watch *w = &loop->watches[slot];
    uint64_t id = make_id(slot, w->gen);
    struct epoll_event ev = {.events = to_epoll(events), .data.u64 = id};
    if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) return errno == ENOMEM ? TB_ENOMEM : TB_EINVAL;
    w->fd = fd;
    w->cb = cb;
    w->user = user;
    *out_id = id;
    return TB_OK;
}

int tbr_loop_modify(tbr_loop *loop, uint64_t id, uint32_t events) {
    watch *w = find_watch(loop, id);
    if (!w) return TB_EINVAL;
    struct epoll_event ev = {.events = to_epoll(events), .data.u64 = id};
    return epoll_ctl(loop->epfd, EPOLL_CTL_MOD, w->fd, &ev) == 0 ? TB_OK : TB_EINVAL;
}

void tbr_loop_unwatch(tbr_loop *loop, uint64_t id) {
    watch *w = find_watch(loop, id);
    if (!w) return;
    epoll_ctl(loop->epfd, EPOLL_CTL_DEL, w->fd, NULL);
    w->fd = -1;
    w->gen++; /* events already fetched for the old id are now ignored */
}

static void heap_swap(heap_entry *h, uint32_t a, uint32_t b) {
    heap_entry t = h[a];
    h[a] = h[b];
    h[b] = t;
}

static int heap_push(tbr_loop *loop, heap_entry e) {
    if (loop->heap_len == loop->heap_cap) {
        uint32_t ncap = loop->heap_cap ? loop->heap_cap * 2 : 16;
        heap_entry *n = realloc(loop->heap, ncap * sizeof *n);
        if (!n) return TB_ENOMEM;
        loop->heap = n;
        loop->heap_cap = ncap;
    }
    uint32_t i = loop->heap_len++;
    loop->heap[i] = e;
    while (i > 0 && loop->heap[(i - 1) / 2].due > loop->heap[i].due) {
        heap_swap(loop->heap, i, (i - 1) / 2);
        i = (i - 1) / 2;
    }
    return TB_OK;
}

static heap_entry heap_pop(tbr_loop *loop) {
    heap_entry top = loop->heap[0];
    loop->heap[0] = loop->heap[--loop->heap_len];
    uint32_t i = 0;
    for (;;) {
        uint32_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < loop->heap_len && loop->heap[l].due < loop->heap[m].due) m = l;
        if (r < loop->heap_len && loop->heap[r].due < loop->heap[m].due) m = r;
        if (m == i) break;
        heap_swap(loop->heap, i, m);
        i = m;
    }
    return top;
}

int tbr_loop_timer_start(tbr_loop *loop, uint64_t delay_ns, uint64_t interval_ns,
                         tb_timer_fn cb, void *user, uint64_t *out_id) {
    if (!cb) return TB_EINVAL;
    uint32_t slot = 0;
    while (slot < loop->timer_cap && loop->timers[slot].active) slot++;
    if (slot == loop->timer_cap) {
        uint32_t ncap = loop->timer_cap ? loop->timer_cap * 2 : 16;
        timer *n = realloc(loop->timers, ncap * sizeof *n);
        if (!n) return TB_ENOMEM;
        for (uint32_t i = loop->timer_cap; i < ncap; i++) n[i] = (timer){.active = false, .gen = 1};
        loop->timers = n;
        loop->timer_cap = ncap;
    }
    timer *t = &loop->timers[slot];
    t->due = add_sat(tbr_now_ns(), delay_ns);
    t->interval = interval_ns;
    t->cb = cb;
    t->user = user;
    if (heap_push(loop, (heap_entry){t->due, slot, t->gen}) != TB_OK) return TB_ENOMEM;
    t->active = true;
    *out_id = make_id(slot, t->gen);
    return TB_OK;
}

void tbr_loop_timer_stop(tbr_loop *loop, uint64_t id) {
    uint32_t slot = (uint32_t)id, gen = (uint32_t)(id >> 32);
    if (slot >= loop->timer_cap) return;
    timer *t = &loop->timers[slot];
    if (!t->active || t->gen != gen) return;
    t->active = false;
    t->gen++; /* its heap entry is now stale */
}

bool tbr_loop_watch_active(tbr_loop *loop, uint64_t id) { return find_watch(loop, id) != NULL; }

bool tbr_loop_timer_active(tbr_loop *loop, uint64_t id) {
    uint32_t slot = (uint32_t)id, gen = (uint32_t)(id >> 32);
    return slot < loop->timer_cap && loop->timers[slot].active && loop->timers[slot].gen == gen;
}

void tbr_loop_wake(tbr_loop *loop) {
    uint64_t one = 1;
    ssize_t n = write(loop->wakefd, &one, sizeof one);
    (void)n; /* EAGAIN: the counter is already non-zero, so the loop will wake anyway */
}

/* Runs due timers; returns how many fired. */
static int run_timers(tbr_loop *loop) {
    int fired = 0;
    uint64_t now = tbr_now_ns();
    while (loop->heap_len && loop->heap[0].due <= now) {
        heap_entry e = heap_pop(loop);
        timer *t = &loop->timers[e.slot];
        if (!t->active || t->gen != e.gen) continue;
        uint64_t id = make_id(e.slot, t->gen);
        if (t->interval) {
            /* skip missed periods rather than firing a burst to catch up */
            t->due = add_sat(t->due, t->interval);
            if (t->due <= now) t->due = add_sat(now, t->interval);
            if (heap_push(loop, (heap_entry){t->due, e.slot, t->gen}) != TB_OK) {
                /* out of memory: the timer ends, and its id with it */
                t->active = false;
                t->gen++;
            }
        } else {
            t->active = false;
            t->gen++;
        }
        /* t may move if the callback starts timers: use the copies */
        tb_timer_fn cb = loop->timers[e.slot].cb;
        void *user = loop->timers[e.slot].user;
        cb(user, id);
        fired++;
    }
    return fired;
}

static int timeout_until_next_timer(tbr_loop *loop, int timeout_ms) {
    while (loop->heap_len) {
        const heap_entry *e = &loop->heap[0];
        const timer *t = &loop->timers[e->slot];
        if (!t->active || t->gen != e->gen) {
            heap_pop(loop);
            continue;
        }
        uint64_t now = tbr_now_ns();
        uint64_t wait_ms = e->due <= now ? 0 : (e->due - now + 999999) / 1000000;
        if (wait_ms > INT_MAX) wait_ms = INT_MAX; /* an int cannot hold it: wait the most it can */
        if (timeout_ms < 0 || wait_ms < (uint64_t)timeout_ms) return (int)wait_ms;
        break;
    }
    return timeout_ms;
}

int tbr_loop_run_once(tbr_loop *loop, int timeout_ms) {
    struct epoll_event evs[64];
    int ran = run_timers(loop);
    if (ran) timeout_ms = 0;
    int wait_ms = timeout_until_next_timer(loop, timeout_ms);
    if (loop->busy && wait_ms) atomic_store_explicit(loop->busy, 0, memory_order_relaxed);
    int n = epoll_wait(loop->epfd, evs, 64, wait_ms);
    if (loop->busy && wait_ms) atomic_store_explicit(loop->busy, tbr_now_ns(), memory_order_relaxed);
    if (n < 0) return errno == EINTR ? ran : TB_EIO;
    for (int i = 0; i < n; i++) {
        if (evs[i].data.u64 == WAKE_TAG) {
            uint64_t count;
            ssize_t r = read(loop->wakefd, &count, sizeof count);
            (void)r;
            continue;
        }
        watch *w = find_watch(loop, evs[i].data.u64);
        if (!w) continue; /* unwatched by an earlier callback of this round */
        uint32_t bits = ((evs[i].events & EPOLLIN) ? TB_FD_READ : 0u) |
                        ((evs[i].events & EPOLLOUT) ? TB_FD_WRITE : 0u) |
                        ((evs[i].events & (EPOLLERR | EPOLLHUP)) ? TB_FD_ERROR : 0u);
        w->cb(w->user, w->fd, bits);
        ran++;
    }
    return ran + run_timers(loop);
}
