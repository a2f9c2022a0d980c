/*
 * http_baseline.c - the baseline of bench/run's http part: libmicrohttpd alone, answering each
 * request with its own body, run the way temblor's http_server runs it (one thread, epoll,
 * external polling). temblor's figure over this one is what the runtime adds per request: an
 * event with its meta, the stream per request, the queue to a pipeline thread and back, the
 * codec both ways, the acknowledgement.
 *
 * usage: http_baseline PORT_FILE   listens on 127.0.0.1:0, writes the port to PORT_FILE, serves
 *                                  until SIGTERM or SIGINT
 * Ownership: one buffer per request, freed when libmicrohttpd completes it. Thread contract:
 * one thread.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

typedef struct body {
    char *data;
    size_t len, cap;
    int answered;
} body;

static volatile sig_atomic_t stop;
static void on_signal(int sig) {
    (void)sig;
    stop = 1;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *data, size_t *size, void **state) {
    body *b = *state;
    (void)cls, (void)url, (void)method, (void)version;
    if (!b) {
        if (!(b = calloc(1, sizeof *b))) return MHD_NO;
        *state = b;
        return MHD_YES;
    }
    if (*size) {
        if (b->len + *size > b->cap) {
            size_t cap = b->cap ? b->cap * 2 : 4096;
            while (cap < b->len + *size) cap *= 2;
            char *n = realloc(b->data, cap);
            if (!n) return MHD_NO;
            b->data = n;
            b->cap = cap;
        }
        memcpy(b->data + b->len, data, *size);
        b->len += *size;
        *size = 0;
        return MHD_YES;
    }
    if (b->answered) return MHD_YES;
    b->answered = 1;
    struct MHD_Response *r = MHD_create_response_from_buffer(b->len, b->len ? b->data : "", MHD_RESPMEM_MUST_COPY);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    enum MHD_Result rc = MHD_queue_response(conn, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return rc;
}

static void on_done(void *cls, struct MHD_Connection *conn, void **state, enum MHD_RequestTerminationCode toe) {
    body *b = *state;
    (void)cls, (void)conn, (void)toe;
    if (b) free(b->data);
    free(b);
    *state = NULL;
}

int main(int argc, char **argv) {
    struct sockaddr_in a = {.sin_family = AF_INET};
    if (argc != 2) {
        fprintf(stderr, "usage: http_baseline PORT_FILE\n");
        return 2;
    }
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct MHD_Daemon *d = MHD_start_daemon(MHD_USE_EPOLL, 0, NULL, NULL, on_request, NULL, MHD_OPTION_SOCK_ADDR, &a,
                                            MHD_OPTION_NOTIFY_COMPLETED, on_done, NULL, MHD_OPTION_CONNECTION_LIMIT,
                                            1024u, MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "http_baseline: cannot start: %s\n", strerror(errno));
        return 1;
    }
    FILE *f = fopen(argv[1], "w");
    if (!f) return 1;
    fprintf(f, "%u\n", (unsigned)MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT)->port);
    fclose(f);
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    int efd = MHD_get_daemon_info(d, MHD_DAEMON_INFO_EPOLL_FD)->epoll_fd;
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN};
    epoll_ctl(ep, EPOLL_CTL_ADD, efd, &ev);
    while (!stop) {
        MHD_UNSIGNED_LONG_LONG ms;
        int wait = MHD_get_timeout(d, &ms) == MHD_YES ? (ms > 1000 ? 1000 : (int)ms) : 1000;
        epoll_wait(ep, &ev, 1, wait);
        MHD_run(d);
    }
    MHD_stop_daemon(d);
    return 0;
}
