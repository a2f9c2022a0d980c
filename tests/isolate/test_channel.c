/* test_channel.c - the shared-memory channel (src/isolate/channel.c) between real processes:
 * each test creates a channel, forks and execs this binary again as the peer ("--child MODE
 * FDS [ARG]"), which attaches from the descriptors it inherited and plays its part (echo,
 * sink, stall, or scribbling garbage straight into the shared memory). */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "isolate/channel.h"

#define SMALL_RING ((size_t)64 << 10)
#define CHILD_TIMEOUT_MS 20000
#define WAIT_MS 10000

/* ---------------------------------------------------------------------------------------
 * Helpers shared by both processes
 * ------------------------------------------------------------------------------------- */

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void sleep_ms(unsigned ms) {
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static uint64_t xorshift(uint64_t *s) {
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

/* The payload of message seq: a byte stream only seq determines. */
static void fill(uint8_t *p, size_t len, uint64_t seq) {
    uint64_t s = seq * 0x9e3779b97f4a7c15u + 1;
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t v = xorshift(&s);
        memcpy(p + i, &v, 8);
    }
    uint64_t v = xorshift(&s);
    memcpy(p + i, &v, len - i);
}

static bool same_as_filled(const uint8_t *p, size_t len, uint64_t seq) {
    static uint8_t want[SMALL_RING * 16];
    if (len > sizeof want) return false;
    fill(want, len, seq);
    return memcmp(p, want, len) == 0;
}

static uint64_t checksum(uint64_t h, const uint8_t *p, size_t len) {
    for (size_t i = 0; i < len; i++) h = (h ^ p[i]) * 0x100000001b3u;
    return h;
}

/* Reserves and publishes one message, waiting for room for up to timeout_ms. */
static int send_copy(tbr_chan *ch, uint32_t dir, const void *src, size_t len, int timeout_ms) {
    void *p = tbr_chan_reserve(ch, dir, len);
    if (!p) {
        int rc = tbr_chan_wait_space(ch, dir, len, timeout_ms);
        if (rc != TB_OK) return rc;
        p = tbr_chan_reserve(ch, dir, len);
        if (!p) return TB_ERROR;
    }
    memcpy(p, src, len);
    return tbr_chan_publish(ch, dir);
}

/* ---------------------------------------------------------------------------------------
 * The child: attaches and plays one part
 * ------------------------------------------------------------------------------------- */

/* Echoes every request back as a reply, until the runtime closes. */
static int child_echo(tbr_chan *ch) {
    for (;;) {
        const void *msg;
        size_t len;
        int rc = tbr_chan_next(ch, TBR_CHAN_REQUESTS, CHILD_TIMEOUT_MS, &msg, &len);
        if (rc == TB_ECLOSED) return 0;
        if (rc != TB_OK) return 10;
        void *out = tbr_chan_reserve(ch, TBR_CHAN_REPLIES, len);
        if (!out) {
            if (tbr_chan_wait_space(ch, TBR_CHAN_REPLIES, len, CHILD_TIMEOUT_MS) != TB_OK) return 11;
            out = tbr_chan_reserve(ch, TBR_CHAN_REPLIES, len);
            if (!out) return 12;
        }
        memcpy(out, msg, len);
        tbr_chan_consume(ch, TBR_CHAN_REQUESTS);
        tbr_chan_publish(ch, TBR_CHAN_REPLIES);
    }
}

/* Sums every request (slowly: it naps now and then, so the runtime's producer must wait for
 * room); an empty request asks for {count, checksum} as a reply. */
static int child_sink(tbr_chan *ch) {
    uint64_t totals[2] = {0, 0xcbf29ce484222325u};
    for (;;) {
        const void *msg;
        size_t len;
        int rc = tbr_chan_next(ch, TBR_CHAN_REQUESTS, CHILD_TIMEOUT_MS, &msg, &len);
        if (rc == TB_ECLOSED) return 0;
        if (rc != TB_OK) return 20;
        if (len == 0) {
            /* TB_ECLOSED: published, but the runtime may already have read it and closed */
            rc = send_copy(ch, TBR_CHAN_REPLIES, totals, sizeof totals, CHILD_TIMEOUT_MS);
            if (rc != TB_OK && rc != TB_ECLOSED) return 21;
        } else {
            totals[0]++;
            totals[1] = checksum(totals[1], msg, len);
            if (totals[0] % 256 == 0) sleep_ms(1);
        }
        tbr_chan_consume(ch, TBR_CHAN_REQUESTS);
    }
}

/* Starts a reply, writes half of it, and never publishes: a host that dies mid-write. */
static int child_stall(tbr_chan *ch) {
    uint8_t *p = tbr_chan_reserve(ch, TBR_CHAN_REPLIES, 1000);
    if (p) memset(p, 0xab, 500);
    for (;;) pause();
    return 0;
}

/* Maps the memfd raw and writes what no honest producer or consumer would. */
static int child_garbage(const tbr_chan_fds *fds, const char *what) {
    struct stat st;
    if (fstat(fds->mem, &st) != 0) return 30;
    uint8_t *mem = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fds->mem, 0);
    if (mem == MAP_FAILED) return 31;
    uint32_t header;
    uint64_t cap;
    memcpy(&header, mem + 12, 4);
    memcpy(&cap, mem + 16, 8);
    /* the layout of channel.h: ring control d at 64 + 256 d, tail at +0, head at +64 */
    _Atomic uint64_t *req_tail = (_Atomic uint64_t *)(mem + 64);
    _Atomic uint64_t *req_head = (_Atomic uint64_t *)(mem + 64 + 64);
    _Atomic uint64_t *rep_tail = (_Atomic uint64_t *)(mem + 64 + 256);
    uint8_t *rep_data = mem + header + cap;
    uint64_t word;
    if (strcmp(what, "length") == 0) {
        word = 0x7fffffffu; /* far longer than the 8 bytes published */
        memcpy(rep_data, &word, 8);
        atomic_store(rep_tail, 16);
    } else if (strcmp(what, "high-bits") == 0) {
        word = 8 | (UINT64_C(1) << 40);
        memcpy(rep_data, &word, 8);
        atomic_store(rep_tail, 16);
    } else if (strcmp(what, "tail") == 0) {
        atomic_store(rep_tail, cap + 8); /* more than a ring ahead of head */
    } else if (strcmp(what, "misaligned") == 0) {
        word = 0;
        memcpy(rep_data, &word, 8);
        atomic_store(rep_tail, 12);
    } else if (strcmp(what, "head") == 0) {
        /* wait until the runtime filled half the requests ring, then claim to be far ahead */
        uint64_t start = now_ns();
        while (atomic_load(req_tail) < cap / 2) {
            if (now_ns() - start > (uint64_t)CHILD_TIMEOUT_MS * 1000000u) return 32;
            sleep_ms(1);
        }
        atomic_store(req_head, UINT64_C(1) << 62);
        uint64_t one = 1;
        if (write(fds->space[TBR_CHAN_REQUESTS], &one, 8) != 8) return 33;
    } else {
        return 34;
    }
    uint64_t one = 1;
    if (write(fds->data[TBR_CHAN_REPLIES], &one, 8) != 8) return 35;
    for (;;) pause();
    return 0;
}

static int child_main(const char *mode, const char *fdtext, const char *arg) {
    tbr_chan_fds fds;
    if (tbr_chan_fds_parse(fdtext, &fds) != TB_OK) return 2;
    if (strcmp(mode, "garbage") == 0) return child_garbage(&fds, arg ? arg : "");
    tbr_chan *ch;
    if (tbr_chan_attach(&fds, &ch) != TB_OK) return 3;
    if (arg && strcmp(arg, "nospin") == 0) tbr_chan_set_spin(ch, 0);
    int rc = 4;
    if (strcmp(mode, "echo") == 0) rc = child_echo(ch);
    else if (strcmp(mode, "sink") == 0) rc = child_sink(ch);
    else if (strcmp(mode, "stall") == 0) rc = child_stall(ch);
    tbr_chan_close(ch);
    return rc;
}

/* ---------------------------------------------------------------------------------------
 * The parent's side of a peer
 * ------------------------------------------------------------------------------------- */

typedef struct peer {
    tbr_chan *ch;
    pid_t pid;
    int pidfd;
} peer;

static pid_t spawn_child(const tbr_chan_fds *fds, const char *mode, const char *arg) {
    char fdtext[64];
    assert_int_equal(tbr_chan_fds_format(fds, fdtext, sizeof fdtext), TB_OK);
    pid_t parent = getpid();
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* a test that fails in the parent must not leave its child behind */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) _exit(125);
        if (tbr_chan_fds_keep_on_exec(fds) != TB_OK) _exit(126);
        execl("/proc/self/exe", "test_channel", "--child", mode, fdtext, arg, (char *)NULL);
        _exit(127);
    }
    return pid;
}

static peer start_peer(size_t capacity, const char *mode, const char *arg, bool watch) {
    peer p = {.pidfd = -1};
    tbr_chan_fds fds;
    assert_int_equal(tbr_chan_create(capacity, &p.ch, &fds), TB_OK);
    p.pid = spawn_child(&fds, mode, arg);
    if (watch) {
        p.pidfd = (int)syscall(SYS_pidfd_open, p.pid, 0);
        assert_true(p.pidfd >= 0);
        tbr_chan_watch_peer(p.ch, p.pidfd);
    }
    return p;
}

/* Closes the channel, reaps the child and returns its exit status (or 128 + its signal). */
static int stop_peer(peer *p) {
    tbr_chan_close(p->ch);
    int status = 0;
    while (waitpid(p->pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (p->pidfd >= 0) close(p->pidfd);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static int kill_peer(peer *p) {
    kill(p->pid, SIGKILL);
    return stop_peer(p);
}

/* Sends count messages of sizes size_of(i) through an echo child and checks every reply,
 * keeping at most a ring's worth of records in flight (so neither side ever waits for room
 * while the other waits for it). Returns how many records straddled the ring's end. */
typedef size_t (*size_fn)(uint64_t seq, uint64_t *rng);

static uint64_t echo_run(tbr_chan *ch, size_t capacity, uint64_t count, size_fn size_of) {
    size_t *sizes = malloc(count * sizeof *sizes);
    assert_non_null(sizes);
    uint64_t rng = 88172645463325252u;
    for (uint64_t i = 0; i < count; i++) sizes[i] = size_of(i, &rng);
    uint64_t sent = 0, received = 0, in_flight = 0, position = 0, straddled = 0;
    while (received < count) {
        while (sent < count && in_flight + 8 + ((sizes[sent] + 7) & ~(size_t)7) <= capacity) {
            uint64_t rec = 8 + ((sizes[sent] + 7) & ~(uint64_t)7);
            uint8_t *p = tbr_chan_reserve(ch, TBR_CHAN_REQUESTS, sizes[sent]);
            assert_non_null(p);
            fill(p, sizes[sent], sent);
            if ((position & (capacity - 1)) + rec > capacity) straddled++;
            position += rec;
            in_flight += rec;
            sent++;
            if (sent % 64 == 0) assert_int_equal(tbr_chan_publish(ch, TBR_CHAN_REQUESTS), TB_OK);
        }
        assert_int_equal(tbr_chan_publish(ch, TBR_CHAN_REQUESTS), TB_OK);
        int timeout = WAIT_MS;
        const void *msg;
        size_t len;
        while (received < count && tbr_chan_next(ch, TBR_CHAN_REPLIES, timeout, &msg, &len) == TB_OK) {
            assert_int_equal(len, sizes[received]);
            assert_true(same_as_filled(msg, len, received));
            tbr_chan_consume(ch, TBR_CHAN_REPLIES);
            in_flight -= 8 + ((len + 7) & ~(size_t)7);
            received++;
            timeout = 0;
        }
        assert_true(timeout == 0 || received == count); /* a reply came within WAIT_MS */
    }
    free(sizes);
    return straddled;
}

/* ---------------------------------------------------------------------------------------
 * Tests
 * ------------------------------------------------------------------------------------- */

static size_t small_size(uint64_t seq, uint64_t *rng) {
    return 1 + xorshift(rng) % 64;
}

static void test_many_small_messages_both_ways(void **state) {
    peer p = start_peer(TBR_CHAN_DEFAULT_CAPACITY, "echo", NULL, true);
    echo_run(p.ch, TBR_CHAN_DEFAULT_CAPACITY, 300000, small_size);
    tbr_chan_stats st;
    tbr_chan_get_stats(p.ch, &st);
    assert_int_equal(st.published, 300000);
    assert_int_equal(st.consumed, 300000);
    print_message("  300000 small messages each way: %llu wake-ups sent, %llu sleeps\n",
                  (unsigned long long)st.wakeups_sent, (unsigned long long)st.sleeps);
    assert_int_equal(stop_peer(&p), 0);
}

static size_t random_size(uint64_t seq, uint64_t *rng) {
    uint64_t r = xorshift(rng);
    switch (r % 20) {
    case 0: return (size_t)((r >> 8) % (SMALL_RING - 7)); /* up to the largest message */
    case 1: case 2: case 3: return (size_t)((r >> 8) % 8192);
    default: return (size_t)((r >> 8) % 600);
    }
}

static void test_random_sizes_across_the_wrap(void **state) {
    peer p = start_peer(SMALL_RING, "echo", NULL, true);
    uint64_t straddled = echo_run(p.ch, SMALL_RING, 30000, random_size);
    print_message("  30000 messages of 0..%zu bytes, %llu of them across the ring's end\n",
                  SMALL_RING - 8, (unsigned long long)straddled);
    assert_true(straddled >= 100);
    assert_int_equal(stop_peer(&p), 0);
}

static void test_largest_message_and_one_over(void **state) {
    peer p = start_peer(SMALL_RING, "echo", NULL, true);
    size_t max = tbr_chan_max_message(p.ch);
    assert_int_equal(max, SMALL_RING - 8);
    /* a small message first, so the largest one starts mid-ring and runs across the end */
    size_t sizes[] = {20, max, 3, max, 0, max};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        uint8_t *w = tbr_chan_reserve(p.ch, TBR_CHAN_REQUESTS, sizes[i]);
        assert_non_null(w);
        fill(w, sizes[i], i);
        assert_int_equal(tbr_chan_publish(p.ch, TBR_CHAN_REQUESTS), TB_OK);
        const void *msg;
        size_t len;
        assert_int_equal(tbr_chan_next(p.ch, TBR_CHAN_REPLIES, WAIT_MS, &msg, &len), TB_OK);
        assert_int_equal(len, sizes[i]);
        assert_true(same_as_filled(msg, len, i));
        tbr_chan_consume(p.ch, TBR_CHAN_REPLIES);
    }
    /* one byte more can never fit: refused at once, not waited for */
    assert_null(tbr_chan_reserve(p.ch, TBR_CHAN_REQUESTS, max + 1));
    assert_int_equal(tbr_chan_wait_space(p.ch, TBR_CHAN_REQUESTS, max + 1, WAIT_MS), TB_EINVAL);
    assert_null(tbr_chan_reserve(p.ch, TBR_CHAN_REQUESTS, SIZE_MAX));
    assert_int_equal(tbr_chan_wait_space(p.ch, TBR_CHAN_REQUESTS, SIZE_MAX, WAIT_MS), TB_EINVAL);
    /* and the wrong direction is refused too */
    assert_null(tbr_chan_reserve(p.ch, TBR_CHAN_REPLIES, 8));
    const void *msg;
    size_t len;
    assert_int_equal(tbr_chan_next(p.ch, TBR_CHAN_REQUESTS, 0, &msg, &len), TB_EINVAL);
    assert_int_equal(stop_peer(&p), 0);
}

static void test_producer_waits_for_room(void **state) {
    peer p = start_peer(SMALL_RING, "sink", "nospin", true);
    tbr_chan_set_spin(p.ch, 0);
    static uint8_t buf[16384];
    uint64_t rng = 7, sum = 0xcbf29ce484222325u, n = 4000;
    for (uint64_t i = 0; i < n; i++) {
        size_t len = 1 + (size_t)(xorshift(&rng) % sizeof buf);
        fill(buf, len, i);
        sum = checksum(sum, buf, len);
        uint64_t t0 = now_ns();
        assert_int_equal(send_copy(p.ch, TBR_CHAN_REQUESTS, buf, len, 3000), TB_OK);
        assert_true(now_ns() - t0 < UINT64_C(2500) * 1000000u); /* woken, not timed out */
    }
    assert_int_equal(send_copy(p.ch, TBR_CHAN_REQUESTS, buf, 0, WAIT_MS), TB_OK);
    const void *msg;
    size_t len;
    assert_int_equal(tbr_chan_next(p.ch, TBR_CHAN_REPLIES, WAIT_MS, &msg, &len), TB_OK);
    assert_int_equal(len, 16);
    uint64_t totals[2];
    memcpy(totals, msg, sizeof totals);
    tbr_chan_consume(p.ch, TBR_CHAN_REPLIES);
    assert_int_equal(totals[0], n);
    assert_true(totals[1] == sum);
    tbr_chan_stats st;
    tbr_chan_get_stats(p.ch, &st);
    print_message("  %llu messages, the producer blocked for room %llu times\n",
                  (unsigned long long)n, (unsigned long long)st.space_waits);
    assert_true(st.space_waits > 0);
    assert_int_equal(stop_peer(&p), 0);
}

/* Round trips in which the runtime's consumer goes to sleep (spin 0) and must be woken. A lost
 * wake-up would not fail the call, only delay it: a wait that ends by its timeout looks once
 * more and finds the message. So each round trip must end well before its timeout. When the
 * other side spins, its reply lands within microseconds, inside the window between a
 * consumer's last look and its going to sleep, which is where a wake-up gets lost. */
static void ping_pong(uint32_t runtime_spin, const char *host_spin) {
    peer p = start_peer(SMALL_RING, "echo", host_spin, true);
    tbr_chan_set_spin(p.ch, runtime_spin);
    enum { ROUNDS = 20000, TIMEOUT_MS = 3000 };
    uint64_t slowest = 0;
    for (uint64_t i = 0; i < ROUNDS; i++) {
        uint64_t *w = tbr_chan_reserve(p.ch, TBR_CHAN_REQUESTS, 8);
        assert_non_null(w);
        *w = i;
        uint64_t t0 = now_ns();
        assert_int_equal(tbr_chan_publish(p.ch, TBR_CHAN_REQUESTS), TB_OK);
        const void *msg;
        size_t len;
        assert_int_equal(tbr_chan_next(p.ch, TBR_CHAN_REPLIES, TIMEOUT_MS, &msg, &len), TB_OK);
        uint64_t took = now_ns() - t0;
        if (took > slowest) slowest = took;
        assert_true(took < (uint64_t)(TIMEOUT_MS - 500) * 1000000u); /* woken, not timed out */
        assert_int_equal(len, 8);
        assert_int_equal(*(const uint64_t *)msg, i);
        tbr_chan_consume(p.ch, TBR_CHAN_REPLIES);
    }
    tbr_chan_stats st;
    tbr_chan_get_stats(p.ch, &st);
    print_message("  runtime spin %u, host %s: %d round trips, the runtime slept %llu times and "
                  "woke the host %llu times; slowest %.1f ms\n",
                  runtime_spin, host_spin ? host_spin : "spins", ROUNDS,
                  (unsigned long long)st.sleeps, (unsigned long long)st.wakeups_sent,
                  (double)slowest / 1e6);
    if (runtime_spin == 0) assert_true(st.sleeps > 0);
    if (host_spin) assert_true(st.wakeups_sent > 0);
    assert_int_equal(stop_peer(&p), 0);
}

static void test_ping_pong_through_sleep(void **state) {
    ping_pong(0, "nospin");
    ping_pong(0, NULL);
    ping_pong(TBR_CHAN_DEFAULT_SPIN_US, "nospin");
}

static void *kill_later(void *arg) {
    sleep_ms(100);
    kill(*(pid_t *)arg, SIGKILL);
    return NULL;
}

/* The host dies mid-write (a reply reserved, half written) while the runtime waits for it,
 * with no timeout at all: the pidfd ends the wait. */
static void test_killed_peer_ends_wait_for_reply(void **state) {
    peer p = start_peer(SMALL_RING, "stall", NULL, true);
    pthread_t killer;
    assert_int_equal(pthread_create(&killer, NULL, kill_later, &p.pid), 0);
    uint64_t start = now_ns();
    const void *msg;
    size_t len;
    assert_int_equal(tbr_chan_next(p.ch, TBR_CHAN_REPLIES, -1, &msg, &len), TB_ECLOSED);
    uint64_t waited_ms = (now_ns() - start) / 1000000u;
    pthread_join(killer, NULL);
    print_message("  TB_ECLOSED %llu ms after the wait began (kill at 100 ms)\n",
                  (unsigned long long)waited_ms);
    assert_true(waited_ms < 5000);
    assert_true(tbr_chan_peer_gone(p.ch));
    assert_non_null(tbr_chan_reserve(p.ch, TBR_CHAN_REQUESTS, 8));
    assert_int_equal(tbr_chan_publish(p.ch, TBR_CHAN_REQUESTS), TB_ECLOSED);
    assert_int_equal(tbr_chan_wait_space(p.ch, TBR_CHAN_REQUESTS, 8, -1), TB_ECLOSED);
    assert_int_equal(kill_peer(&p), 128 + SIGKILL);
}

/* The host stops reading requests and is killed while the runtime waits for room. */
static void test_killed_peer_ends_wait_for_room(void **state) {
    peer p = start_peer(SMALL_RING, "stall", NULL, true);
    static uint8_t buf[4096];
    while (tbr_chan_reserve(p.ch, TBR_CHAN_REQUESTS, sizeof buf)) {
    }
    pthread_t killer;
    assert_int_equal(pthread_create(&killer, NULL, kill_later, &p.pid), 0);
    uint64_t start = now_ns();
    assert_int_equal(tbr_chan_wait_space(p.ch, TBR_CHAN_REQUESTS, sizeof buf, WAIT_MS * 3), TB_ECLOSED);
    uint64_t waited_ms = (now_ns() - start) / 1000000u;
    pthread_join(killer, NULL);
    assert_true(waited_ms < 5000);
    assert_int_equal(tbr_chan_publish(p.ch, TBR_CHAN_REQUESTS), TB_ECLOSED);
    assert_int_equal(kill_peer(&p), 128 + SIGKILL);
}

/* Without a watched pidfd: the wait times out, and once the runtime marks the peer dead
 * (as its supervisor would, after waitpid), every call says TB_ECLOSED at once. The replies
 * the host published before it died are still handed out first. */
static void test_killed_peer_without_pidfd(void **state) {
    peer p = start_peer(SMALL_RING, "echo", NULL, false);
    const void *msg;
    size_t len;
    /* one round trip, so the host is surely up and echoing */
    assert_non_null(tbr_chan_reserve(p.ch, TBR_CHAN_REQUESTS, 0));
    assert_int_equal(tbr_chan_publish(p.ch, TBR_CHAN_REQUESTS), TB_OK);
    assert_int_equal(tbr_chan_next(p.ch, TBR_CHAN_REPLIES, WAIT_MS, &msg, &len), TB_OK);
    tbr_chan_consume(p.ch, TBR_CHAN_REPLIES);
    for (uint64_t i = 0; i < 3; i++) {
        uint64_t *w = tbr_chan_reserve(p.ch, TBR_CHAN_REQUESTS, 8);
        assert_non_null(w);
        *w = i;
    }
    assert_int_equal(tbr_chan_publish(p.ch, TBR_CHAN_REQUESTS), TB_OK);
    sleep_ms(500); /* it echoes three messages in microseconds */
    kill(p.pid, SIGKILL);
    int status;
    assert_int_equal(waitpid(p.pid, &status, 0), p.pid);
    uint64_t start = now_ns();
    assert_false(tbr_chan_peer_gone(p.ch));
    tbr_chan_mark_peer_dead(p.ch);
    assert_true(tbr_chan_peer_gone(p.ch));
    for (uint64_t i = 0; i < 3; i++) {
        assert_int_equal(tbr_chan_next(p.ch, TBR_CHAN_REPLIES, WAIT_MS, &msg, &len), TB_OK);
        assert_int_equal(*(const uint64_t *)msg, i);
        tbr_chan_consume(p.ch, TBR_CHAN_REPLIES);
    }
    assert_int_equal(tbr_chan_next(p.ch, TBR_CHAN_REPLIES, WAIT_MS, &msg, &len), TB_ECLOSED);
    assert_int_equal(tbr_chan_wait_space(p.ch, TBR_CHAN_REQUESTS, 8, WAIT_MS), TB_ECLOSED);
    assert_true((now_ns() - start) / 1000000u < 1000);
    tbr_chan_close(p.ch);
}

/* A wait that ends by its timeout, while the host lives and says nothing. */
static void test_wait_times_out(void **state) {
    peer p = start_peer(SMALL_RING, "stall", NULL, true);
    const void *msg;
    size_t len;
    uint64_t start = now_ns();
    assert_int_equal(tbr_chan_next(p.ch, TBR_CHAN_REPLIES, 150, &msg, &len), TB_ETIMEDOUT);
    uint64_t waited_ms = (now_ns() - start) / 1000000u;
    assert_true(waited_ms >= 150 && waited_ms < 5000);
    assert_int_equal(tbr_chan_next(p.ch, TBR_CHAN_REPLIES, 0, &msg, &len), TB_ETIMEDOUT);
    assert_int_equal(kill_peer(&p), 128 + SIGKILL);
}

/* A host that writes garbage into the replies ring: the runtime refuses it, every time. */
static void expect_garbage_refused(const char *what) {
    peer p = start_peer(SMALL_RING, "garbage", what, true);
    const void *msg;
    size_t len;
    assert_int_equal(tbr_chan_next(p.ch, TBR_CHAN_REPLIES, WAIT_MS, &msg, &len), TB_EINVAL);
    assert_int_equal(tbr_chan_next(p.ch, TBR_CHAN_REPLIES, WAIT_MS, &msg, &len), TB_EINVAL);
    assert_int_equal(kill_peer(&p), 128 + SIGKILL);
}

static void test_garbage_length_refused(void **state) {
    expect_garbage_refused("length");
}

static void test_garbage_header_bits_refused(void **state) {
    expect_garbage_refused("high-bits");
}

static void test_garbage_tail_refused(void **state) {
    expect_garbage_refused("tail");
}

static void test_misaligned_tail_refused(void **state) {
    expect_garbage_refused("misaligned");
}

/* A host that claims to have consumed more than was ever published. */
static void test_garbage_head_refused(void **state) {
    peer p = start_peer(SMALL_RING, "garbage", "head", true);
    uint64_t start = now_ns();
    int rc = TB_OK;
    while (rc == TB_OK) {
        void *w = tbr_chan_reserve(p.ch, TBR_CHAN_REQUESTS, 1000);
        if (w) {
            memset(w, 1, 1000);
            assert_int_equal(tbr_chan_publish(p.ch, TBR_CHAN_REQUESTS), TB_OK);
            continue;
        }
        rc = tbr_chan_wait_space(p.ch, TBR_CHAN_REQUESTS, 1000, WAIT_MS);
        assert_true(now_ns() - start < (uint64_t)WAIT_MS * 1000000u);
    }
    assert_int_equal(rc, TB_EINVAL);
    assert_null(tbr_chan_reserve(p.ch, TBR_CHAN_REQUESTS, 8));
    assert_int_equal(tbr_chan_wait_space(p.ch, TBR_CHAN_REQUESTS, 8, 0), TB_EINVAL);
    assert_int_equal(kill_peer(&p), 128 + SIGKILL);
}

/* The host closes its end cleanly: the runtime takes what was published, then TB_ECLOSED. */
static void test_clean_close_by_the_host(void **state) {
    tbr_chan *rt, *host;
    tbr_chan_fds fds;
    assert_int_equal(tbr_chan_create(SMALL_RING, &rt, &fds), TB_OK);
    /* both ends in one process here: attach takes duplicates, as an exec'd host would own */
    tbr_chan_fds dup_fds = {dup(fds.mem), {dup(fds.data[0]), dup(fds.data[1])},
                            {dup(fds.space[0]), dup(fds.space[1])}};
    assert_int_equal(tbr_chan_attach(&dup_fds, &host), TB_OK);
    uint32_t *w = tbr_chan_reserve(host, TBR_CHAN_REPLIES, 4);
    assert_non_null(w);
    *w = 42;
    assert_int_equal(tbr_chan_publish(host, TBR_CHAN_REPLIES), TB_OK);
    tbr_chan_close(host);
    const void *msg;
    size_t len;
    assert_int_equal(tbr_chan_next(rt, TBR_CHAN_REPLIES, WAIT_MS, &msg, &len), TB_OK);
    assert_int_equal(*(const uint32_t *)msg, 42);
    tbr_chan_consume(rt, TBR_CHAN_REPLIES);
    assert_int_equal(tbr_chan_next(rt, TBR_CHAN_REPLIES, WAIT_MS, &msg, &len), TB_ECLOSED);
    assert_true(tbr_chan_peer_gone(rt));
    tbr_chan_close(rt);
}

static void test_bad_arguments(void **state) {
    tbr_chan *ch;
    tbr_chan_fds fds;
    assert_int_equal(tbr_chan_create(3000, &ch, &fds), TB_EINVAL);
    assert_int_equal(tbr_chan_create(1024, &ch, &fds), TB_EINVAL);
    assert_int_equal(tbr_chan_create((size_t)2 << 30, &ch, &fds), TB_EINVAL);
    assert_int_equal(tbr_chan_fds_parse("1,2,3,4", &fds), TB_EINVAL);
    assert_int_equal(tbr_chan_fds_parse("1,2,3,4,5,6", &fds), TB_EINVAL);
    assert_int_equal(tbr_chan_fds_parse("1,2,x,4,5", &fds), TB_EINVAL);
    assert_int_equal(tbr_chan_fds_parse("7,8,9,10,11", &fds), TB_OK);
    assert_int_equal(fds.space[1], 11);
    /* a memfd that is not a channel */
    int fd = memfd_create("not-a-channel", MFD_CLOEXEC);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, 4096 + 2 * 65536), 0);
    tbr_chan_fds bogus = {fd, {-1, -1}, {-1, -1}};
    assert_int_equal(tbr_chan_attach(&bogus, &ch), TB_EINVAL);
    close(fd);
}

int main(int argc, char **argv) {
    if (argc >= 4 && strcmp(argv[1], "--child") == 0)
        return child_main(argv[2], argv[3], argc > 4 ? argv[4] : NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_many_small_messages_both_ways),
        cmocka_unit_test(test_random_sizes_across_the_wrap),
        cmocka_unit_test(test_largest_message_and_one_over),
        cmocka_unit_test(test_producer_waits_for_room),
        cmocka_unit_test(test_ping_pong_through_sleep),
        cmocka_unit_test(test_killed_peer_ends_wait_for_reply),
        cmocka_unit_test(test_killed_peer_ends_wait_for_room),
        cmocka_unit_test(test_killed_peer_without_pidfd),
        cmocka_unit_test(test_wait_times_out),
        cmocka_unit_test(test_garbage_length_refused),
        cmocka_unit_test(test_garbage_header_bits_refused),
        cmocka_unit_test(test_garbage_tail_refused),
        cmocka_unit_test(test_misaligned_tail_refused),
        cmocka_unit_test(test_garbage_head_refused),
        cmocka_unit_test(test_clean_close_by_the_host),
        cmocka_unit_test(test_bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
