/*
 * http_peer.c - a plain C HTTP/1.1 client for the http_server tests, speaking over raw sockets
 * so it can also misbehave. Every scenario prints one line per finding and exits 0 when all of
 * them hold, 1 otherwise:
 *
 *   http_peer concurrent PORT N K   N connections at once, each sending K keep-alive requests
 *                                   whose bodies are {"client":i,"seq":k}; every answer must be
 *                                   200 and carry its own request's body (an echo flow)
 *   http_peer pipelined PORT K      K requests written back to back on one connection before
 *                                   reading; the answers must come in order
 *   http_peer garbage PORT          a request line that is not HTTP: answered 400 or closed
 *   http_peer cut PORT              a body announced as 100000 bytes, 10 sent, then closed
 *   http_peer hold PORT N           opens N idle connections and keeps them while sending one
 *                                   good request on another: it must still be answered
 *
 * Thread contract: one thread per connection in `concurrent`, each with its own socket.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

static uint16_t port;

static int dial(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    struct timeval tv = {.tv_sec = 30};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0) return -1;
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static bool send_all(int fd, const char *p, size_t n) {
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0) return false;
        p += w;
        n -= (size_t)w;
    }
    return true;
}

/* One connection's read side: bytes read and not yet consumed. */
typedef struct reader {
    int fd;
    char buf[65536];
    size_t len;
} reader;

/* Reads one answer: its status and body (NUL-terminated in body, at most cap-1 bytes).
 * false on a closed connection, a timeout or a malformed answer. */
static bool read_answer(reader *r, int *status, char *body, size_t cap) {
    for (;;) {
        char *end = memmem(r->buf, r->len, "\r\n\r\n", 4);
        if (end) {
            size_t head = (size_t)(end - r->buf) + 4, clen = 0;
            if (sscanf(r->buf, "HTTP/1.%*d %d", status) != 1) return false;
            char *cl = strcasestr(r->buf, "\r\ncontent-length:");
            if (cl && cl < end) clen = strtoul(cl + 17, NULL, 10);
            while (r->len < head + clen) {
                if (r->len == sizeof r->buf) return false;
                ssize_t n = recv(r->fd, r->buf + r->len, sizeof r->buf - r->len, 0);
                if (n <= 0) return false;
                r->len += (size_t)n;
            }
            size_t take = clen < cap - 1 ? clen : cap - 1;
            memcpy(body, r->buf + head, take);
            body[take] = '\0';
            memmove(r->buf, r->buf + head + clen, r->len - head - clen);
            r->len -= head + clen;
            return true;
        }
        if (r->len == sizeof r->buf) return false;
        ssize_t n = recv(r->fd, r->buf + r->len, sizeof r->buf - r->len, 0);
        if (n <= 0) return false;
        r->len += (size_t)n;
    }
}

static bool post(int fd, int client, int seq) {
    char body[64], req[256];
    int bl = snprintf(body, sizeof body, "{\"client\":%d,\"seq\":%d}", client, seq);
    int rl = snprintf(req, sizeof req,
                      "POST /c/%d HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                      "Content-Length: %d\r\n\r\n%s",
                      client, bl, body);
    return send_all(fd, req, (size_t)rl);
}

/* The answer must be 200 and name this client and seq. */
static bool check(int status, const char *body, int client, int seq) {
    char want[64];
    snprintf(want, sizeof want, "\"client\":%d,\"seq\":%d", client, seq);
    if (status == 200 && strstr(body, want)) return true;
    fprintf(stderr, "client %d seq %d: got %d %s\n", client, seq, status, body);
    return false;
}

typedef struct job {
    int client, k;
    bool ok;
} job;

static void *run_client(void *arg) {
    job *j = arg;
    reader *r = calloc(1, sizeof *r);
    char body[4096];
    int status;
    if (!r || (r->fd = dial()) < 0) {
        fprintf(stderr, "client %d: cannot connect\n", j->client);
        free(r);
        return NULL;
    }
    j->ok = true;
    for (int s = 0; s < j->k && j->ok; s++) {
        if (!post(r->fd, j->client, s) || !read_answer(r, &status, body, sizeof body)) {
            fprintf(stderr, "client %d seq %d: no answer\n", j->client, s);
            j->ok = false;
        } else {
            j->ok = check(status, body, j->client, s);
        }
    }
    close(r->fd);
    free(r);
    return NULL;
}

static int concurrent(int n, int k) {
    pthread_t *t = calloc((size_t)n, sizeof *t);
    job *jobs = calloc((size_t)n, sizeof *jobs);
    int good = 0;
    for (int i = 0; i < n; i++) {
        jobs[i].client = i;
        jobs[i].k = k;
        if (pthread_create(&t[i], NULL, run_client, &jobs[i]) != 0) return 1;
    }
    for (int i = 0; i < n; i++) {
        pthread_join(t[i], NULL);
        good += jobs[i].ok;
    }
    printf("concurrent: %d of %d clients got all %d answers right\n", good, n, k);
    free(t);
    free(jobs);
    return good == n ? 0 : 1;
}

static int pipelined(int k) {
    reader *r = calloc(1, sizeof *r);
    char body[4096];
    int status, good = 0;
    if ((r->fd = dial()) < 0) return 1;
    for (int s = 0; s < k; s++)
        if (!post(r->fd, 0, s)) return 1;
    for (int s = 0; s < k; s++)
        if (read_answer(r, &status, body, sizeof body) && check(status, body, 0, s)) good++;
    printf("pipelined: %d of %d answers in order\n", good, k);
    close(r->fd);
    free(r);
    return good == k ? 0 : 1;
}

static int garbage(void) {
    reader *r = calloc(1, sizeof *r);
    char body[4096];
    int status = 0;
    static const char junk[] = "\x16\x03\x01 this is not http at all\r\n\r\n";
    if ((r->fd = dial()) < 0) return 1;
    send_all(r->fd, junk, sizeof junk - 1);
    bool answered = read_answer(r, &status, body, sizeof body);
    printf("garbage: %s %d\n", answered ? "answered" : "closed", status);
    close(r->fd);
    free(r);
    return !answered || status == 400 ? 0 : 1;
}

static int cut(void) {
    int fd = dial();
    static const char req[] = "POST /cut HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n0123456789";
    if (fd < 0) return 1;
    bool sent = send_all(fd, req, sizeof req - 1);
    close(fd);
    printf("cut: %s\n", sent ? "sent 10 of 100000 body bytes and closed" : "could not send");
    return sent ? 0 : 1;
}

static int hold(int n) {
    int *fds = calloc((size_t)n, sizeof *fds), opened = 0, rc;
    for (int i = 0; i < n; i++)
        if ((fds[i] = dial()) >= 0) opened++;
    job j = {.client = 7, .k = 2};
    run_client(&j);
    printf("hold: %d idle connections open, a request on another %s\n", opened, j.ok ? "answered" : "NOT answered");
    rc = j.ok ? 0 : 1;
    for (int i = 0; i < n; i++)
        if (fds[i] >= 0) close(fds[i]);
    free(fds);
    return rc;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: http_peer concurrent|pipelined|garbage|cut|hold PORT [N [K]]\n");
        return 2;
    }
    port = (uint16_t)atoi(argv[2]);
    int n = argc > 3 ? atoi(argv[3]) : 1, k = argc > 4 ? atoi(argv[4]) : 1;
    if (!strcmp(argv[1], "concurrent")) return concurrent(n, k);
    if (!strcmp(argv[1], "pipelined")) return pipelined(n);
    if (!strcmp(argv[1], "garbage")) return garbage();
    if (!strcmp(argv[1], "cut")) return cut();
    if (!strcmp(argv[1], "hold")) return hold(n);
    fprintf(stderr, "unknown scenario %s\n", argv[1]);
    return 2;
}
