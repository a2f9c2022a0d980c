/*
 * http_load.c - the load client of bench/run's http part: CONNECTIONS threads, each on its own
 * keep-alive connection, sending REQUESTS POSTs of BODY_FILE's bytes (one JSON document) one
 * after another, reading each answer before the next. Prints one JSON line:
 *   {"requests": N, "ok": N, "seconds": S, "requests_per_s": R, "p50_us": .., "p99_us": ..}
 * ok counts 200 answers whose body is as long as the request's (an echo).
 *
 * usage: http_load PORT CONNECTIONS REQUESTS BODY_FILE
 * Thread contract: each thread its own socket and latency array. Ownership: the body file's
 * bytes, read once, shared read-only.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static uint16_t port;
static int requests;
static char *req;
static size_t req_len, body_len;

typedef struct worker {
    pthread_t t;
    int ok;
    uint64_t *lat_ns;
} worker;

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void *run(void *arg) {
    worker *w = arg;
    char buf[65536];
    size_t have = 0;
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) return NULL;
    for (int i = 0; i < requests; i++) {
        uint64_t t0 = now_ns();
        if (send(fd, req, req_len, MSG_NOSIGNAL) != (ssize_t)req_len) break;
        for (;;) {
            char *end = memmem(buf, have, "\r\n\r\n", 4);
            if (end) {
                size_t head = (size_t)(end - buf) + 4;
                char *cl = strcasestr(buf, "\r\ncontent-length:");
                size_t clen = cl && cl < end ? strtoul(cl + 17, NULL, 10) : 0;
                if (have >= head + clen) {
                    if (!strncmp(buf, "HTTP/1.1 200", 12) && clen >= body_len) w->ok++;
                    memmove(buf, buf + head + clen, have - head - clen);
                    have -= head + clen;
                    break;
                }
            }
            ssize_t n = recv(fd, buf + have, sizeof buf - have, 0);
            if (n <= 0) goto out;
            have += (size_t)n;
        }
        w->lat_ns[i] = now_ns() - t0;
    }
out:
    close(fd);
    return NULL;
}

static int cmp(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: http_load PORT CONNECTIONS REQUESTS BODY_FILE\n");
        return 2;
    }
    port = (uint16_t)atoi(argv[1]);
    int conns = atoi(argv[2]);
    requests = atoi(argv[3]);
    FILE *f = fopen(argv[4], "rb");
    if (!f || conns <= 0 || requests <= 0) return 2;
    char body[65536];
    body_len = fread(body, 1, sizeof body, f);
    fclose(f);
    req = malloc(body_len + 256);
    req_len = (size_t)sprintf(req, "POST /bench HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                                   "Content-Length: %zu\r\n\r\n", body_len);
    memcpy(req + req_len, body, body_len);
    req_len += body_len;
    /* an echo through a codec may re-encode: the answer must be about as long as the body */
    body_len = body_len * 3 / 4;
    worker *ws = calloc((size_t)conns, sizeof *ws);
    uint64_t t0 = now_ns();
    for (int i = 0; i < conns; i++) {
        ws[i].lat_ns = calloc((size_t)requests, sizeof(uint64_t));
        pthread_create(&ws[i].t, NULL, run, &ws[i]);
    }
    int ok = 0;
    for (int i = 0; i < conns; i++) {
        pthread_join(ws[i].t, NULL);
        ok += ws[i].ok;
    }
    double secs = (double)(now_ns() - t0) / 1e9;
    size_t n = (size_t)conns * (size_t)requests;
    uint64_t *all = malloc(n * sizeof *all);
    for (int i = 0; i < conns; i++) memcpy(all + (size_t)i * requests, ws[i].lat_ns, (size_t)requests * sizeof *all);
    qsort(all, n, sizeof *all, cmp);
    printf("{\"requests\": %zu, \"ok\": %d, \"seconds\": %.4f, \"requests_per_s\": %.0f, \"p50_us\": %.1f, "
           "\"p99_us\": %.1f}\n",
           n, ok, secs, n / secs, all[n / 2] / 1e3, all[n * 99 / 100] / 1e3);
    for (int i = 0; i < conns; i++) free(ws[i].lat_ns);
    free(ws);
    free(all);
    free(req);
    return ok == (int)n ? 0 : 1;
}
