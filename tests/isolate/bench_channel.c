/* bench_channel.c - throughput and latency of the shared-memory channel between two processes
 * (src/isolate/channel.c). Run by hand: bench_channel [seconds per figure, default 2].
 *
 * Throughput: the runtime side streams messages of one size to a host that copies each one
 * out of the ring (as a decoder would) and counts it; an empty message asks for the count
 * back. The producer fills each message with memset. The time runs from the first send to
 * the count's arrival. Latency: one 64-byte message at a time is echoed back, each round trip
 * timed with CLOCK_MONOTONIC, with both sides spinning the default time before they sleep and
 * with neither spinning (bench_channel SECONDS SPIN_US... tries the spins given instead). */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "isolate/channel.h"

#define WAIT_MS 20000

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int die(const char *what, int rc) {
    fprintf(stderr, "bench_channel: %s: %d\n", what, rc);
    exit(1);
}

static void *reserve_waiting(tbr_chan *ch, uint32_t dir, size_t len) {
    void *p = tbr_chan_reserve(ch, dir, len);
    if (p) return p;
    int rc = tbr_chan_wait_space(ch, dir, len, WAIT_MS);
    if (rc != TB_OK) die("wait_space", rc);
    p = tbr_chan_reserve(ch, dir, len);
    if (!p) die("reserve", TB_ERROR);
    return p;
}

/* ---- the host ---- */

static int host_sink(tbr_chan *ch) {
    static uint8_t scratch[1 << 20];
    uint64_t n = 0;
    for (;;) {
        const void *msg;
        size_t len;
        int rc = tbr_chan_next(ch, TBR_CHAN_REQUESTS, WAIT_MS, &msg, &len);
        if (rc == TB_ECLOSED) return 0;
        if (rc != TB_OK) return 10;
        if (len == 0) {
            memcpy(reserve_waiting(ch, TBR_CHAN_REPLIES, 8), &n, 8);
            tbr_chan_publish(ch, TBR_CHAN_REPLIES);
            n = 0;
        } else {
            memcpy(scratch, msg, len < sizeof scratch ? len : sizeof scratch);
            n++;
        }
        tbr_chan_consume(ch, TBR_CHAN_REQUESTS);
    }
}

static int host_echo(tbr_chan *ch) {
    for (;;) {
        const void *msg;
        size_t len;
        int rc = tbr_chan_next(ch, TBR_CHAN_REQUESTS, WAIT_MS, &msg, &len);
        if (rc == TB_ECLOSED) return 0;
        if (rc != TB_OK) return 10;
        memcpy(reserve_waiting(ch, TBR_CHAN_REPLIES, len), msg, len);
        tbr_chan_consume(ch, TBR_CHAN_REQUESTS);
        tbr_chan_publish(ch, TBR_CHAN_REPLIES);
    }
}

static int host_main(const char *mode, const char *fdtext, const char *spin) {
    tbr_chan_fds fds;
    tbr_chan *ch;
    if (tbr_chan_fds_parse(fdtext, &fds) != TB_OK || tbr_chan_attach(&fds, &ch) != TB_OK) return 2;
    tbr_chan_set_spin(ch, (uint32_t)atoi(spin));
    int rc = strcmp(mode, "sink") == 0 ? host_sink(ch) : host_echo(ch);
    tbr_chan_close(ch);
    return rc;
}

/* ---- the runtime ---- */

typedef struct peer {
    tbr_chan *ch;
    pid_t pid;
} peer;

static peer start_host(const char *mode, uint32_t spin) {
    peer p;
    tbr_chan_fds fds;
    int rc = tbr_chan_create(TBR_CHAN_DEFAULT_CAPACITY, &p.ch, &fds);
    if (rc != TB_OK) die("create", rc);
    tbr_chan_set_spin(p.ch, spin);
    char fdtext[64], spintext[16];
    tbr_chan_fds_format(&fds, fdtext, sizeof fdtext);
    snprintf(spintext, sizeof spintext, "%u", spin);
    p.pid = fork();
    if (p.pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (tbr_chan_fds_keep_on_exec(&fds) != TB_OK) _exit(126);
        execl("/proc/self/exe", "bench_channel", "--host", mode, fdtext, spintext, (char *)NULL);
        _exit(127);
    }
    return p;
}

static void stop_host(peer *p) {
    tbr_chan_close(p->ch);
    int status;
    while (waitpid(p->pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) die("host exit status", status);
}

static uint64_t ask_count(tbr_chan *ch) {
    reserve_waiting(ch, TBR_CHAN_REQUESTS, 0);
    tbr_chan_publish(ch, TBR_CHAN_REQUESTS);
    const void *msg;
    size_t len;
    int rc = tbr_chan_next(ch, TBR_CHAN_REPLIES, WAIT_MS, &msg, &len);
    if (rc != TB_OK || len != 8) die("count reply", rc);
    uint64_t n;
    memcpy(&n, msg, 8);
    tbr_chan_consume(ch, TBR_CHAN_REPLIES);
    return n;
}

static void throughput(size_t size, double seconds) {
    peer p = start_host("sink", TBR_CHAN_DEFAULT_SPIN_US);
    ask_count(p.ch); /* the host is up */
    uint64_t sent = 0, start = now_ns(), stop = start + (uint64_t)(seconds * 1e9);
    while ((sent & 255) != 0 || now_ns() < stop) {
        memset(reserve_waiting(p.ch, TBR_CHAN_REQUESTS, size), (int)sent, size);
        if ((++sent & 15) == 0 || size > 4096) tbr_chan_publish(p.ch, TBR_CHAN_REQUESTS);
    }
    uint64_t got = ask_count(p.ch);
    double s = (double)(now_ns() - start) / 1e9;
    tbr_chan_stats st;
    tbr_chan_get_stats(p.ch, &st);
    if (got != sent) die("count", (int)(got - sent));
    printf("%6zu-byte messages: %10.0f messages/s  %8.1f MiB/s  (%llu messages in %.2f s; "
           "%llu wake-ups of the host, %llu waits for room)\n",
           size, (double)sent / s, (double)sent * (double)size / s / 1048576.0,
           (unsigned long long)sent, s, (unsigned long long)st.wakeups_sent,
           (unsigned long long)st.space_waits);
    stop_host(&p);
}

static void echo_once(tbr_chan *ch) {
    reserve_waiting(ch, TBR_CHAN_REQUESTS, 0);
    tbr_chan_publish(ch, TBR_CHAN_REQUESTS);
    const void *msg;
    size_t len;
    int rc = tbr_chan_next(ch, TBR_CHAN_REPLIES, WAIT_MS, &msg, &len);
    if (rc != TB_OK || len != 0) die("echo reply", rc);
    tbr_chan_consume(ch, TBR_CHAN_REPLIES);
}

static int by_value(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void latency(uint32_t spin, double seconds) {
    peer p = start_host("echo", spin);
    echo_once(p.ch); /* the host is up */
    size_t cap = 1 << 22, n = 0;
    uint64_t *rtt = malloc(cap * sizeof *rtt);
    uint64_t stop = now_ns() + (uint64_t)(seconds * 1e9);
    while (n < cap && now_ns() < stop) {
        uint64_t t0 = now_ns();
        memset(reserve_waiting(p.ch, TBR_CHAN_REQUESTS, 64), 1, 64);
        tbr_chan_publish(p.ch, TBR_CHAN_REQUESTS);
        const void *msg;
        size_t len;
        int rc = tbr_chan_next(p.ch, TBR_CHAN_REPLIES, WAIT_MS, &msg, &len);
        if (rc != TB_OK) die("echo", rc);
        tbr_chan_consume(p.ch, TBR_CHAN_REPLIES);
        rtt[n++] = now_ns() - t0;
    }
    qsort(rtt, n, sizeof *rtt, by_value);
    tbr_chan_stats st;
    tbr_chan_get_stats(p.ch, &st);
    printf("ping-pong, 64 bytes, spin %4u us: %zu round trips, median %.1f us, p99 %.1f us, "
           "p99.9 %.1f us (the runtime slept %llu times)\n",
           spin, n, (double)rtt[n / 2] / 1e3, (double)rtt[n * 99 / 100] / 1e3,
           (double)rtt[n * 999 / 1000] / 1e3, (unsigned long long)st.sleeps);
    free(rtt);
    stop_host(&p);
}

int main(int argc, char **argv) {
    if (argc >= 2 && strcmp(argv[1], "--host") == 0) {
        if (argc != 5) return 2;
        return host_main(argv[2], argv[3], argv[4]);
    }
    double seconds = argc > 1 ? atof(argv[1]) : 2.0;
    if (seconds <= 0) seconds = 2.0;
    printf("channel of 2 x %zu MiB rings, %ld CPUs online\n", TBR_CHAN_DEFAULT_CAPACITY >> 20,
           sysconf(_SC_NPROCESSORS_ONLN));
    throughput(256, seconds);
    throughput(65536, seconds);
    if (argc > 2) {
        for (int i = 2; i < argc; i++) latency((uint32_t)atoi(argv[i]), seconds);
    } else {
        latency(TBR_CHAN_DEFAULT_SPIN_US, seconds);
        latency(0, seconds);
    }
    return 0;
}
