/*
 * udp.h - the `udp_server` and `udp_client` connectors' instance, shared by their files:
 * udp.c (options, create, destroy, the lifecycle, the descriptor), udp_addr.c (host:port to
 * a socket address and back), udp_recv.c (the source half of both) and udp_send.c (the sink
 * half of both: datagrams the socket cannot take now wait, in the batches they came in,
 * until it is writable).
 *
 * Ownership: the instance, its url, read buffer, pending batches and pieces are host
 * memory, freed by destroy (pending batches as they are reported); the instance owns its
 * socket, its watch, and nothing else. Bytes waiting to be sent live in the batches they
 * came in: the runtime keeps a batch for which push returned TB_EPENDING until
 * host->delivered reports it, and the instance reports every such batch before forgetting it.
 * Thread contract: as temblor.h says for connectors: create and destroy on a control thread,
 * every other callback and every fd callback on the instance's thread.
 */
#ifndef TBP_UDP_H
#define TBP_UDP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <temblor/temblor.h>

typedef struct udp_pending udp_pending;

/* One datagram waiting to be sent: its bytes point into the batch. */
typedef struct udp_piece {
    struct udp_piece *next;
    udp_pending *batch;
    const uint8_t *p;
    size_t len;
    socklen_t addr_len; /* 0: the client's connected peer */
    struct sockaddr_storage addr;
} udp_piece;

/* A pushed batch that push answered TB_EPENDING for; room for a piece per event. */
struct udp_pending {
    udp_pending *prev, *next;
    uint64_t token;
    uint32_t left, used, cap;
    int status;
    bool linked;
    udp_piece pieces[];
};

/* A resolved address. */
typedef struct udp_addr {
    struct sockaddr_storage ss;
    socklen_t len; /* 0: none */
} udp_addr;

typedef struct udp_inst {
    const tb_host_api *host;
    tb_context *ctx;
    bool server;
    char *url;                /* NUL-terminated, for messages */
    udp_addr addr;            /* server: where it binds; client: the peer */
    udp_addr local;           /* client: where it binds (len 0: anywhere) */
    udp_addr dflt;            /* server: where events without a peer go (len 0: nowhere) */
    size_t buf_size;
    size_t write_buffer_size;
    uint8_t *buf;             /* buf_size bytes */
    uint64_t next_id;

    int fd;                   /* -1: not open */
    int family;               /* the socket's */
    uint64_t watch_id;
    uint32_t watched;
    bool read_armed;          /* a pull met EAGAIN: wait for TB_FD_READ */
    int broken;               /* client: the peer refused (an errno): pull and push say TB_EIO */

    udp_piece *out_head, *out_tail;
    size_t out_bytes;
    udp_pending *pending;
    bool circuit_open;

    uint64_t warned;          /* messages about single datagrams: a few, then every 1000th */
} udp_inst;

/* udp_addr.c: parses "host:port", "[v6]:port" or ":port" (server: any address), with an
 * optional "udp://" in front, and resolves it (numeric hosts without asking anyone). TB_OK,
 * or TB_EINVAL with a message naming what (the option's name). */
int tbp_udp_resolve(udp_inst *u, const char *what, const char *text, size_t len, bool passive,
                    udp_addr *out);
/* Writes the numeric host of sa into buf (an IPv4-mapped IPv6 address as IPv4) and returns
 * its port. */
uint16_t tbp_udp_format(const struct sockaddr *sa, char *buf, size_t size);
/* Reads {"host": "...", "port": N} into out, in the socket's family; false if it is not one. */
bool tbp_udp_peer_of(const tb_value *peer, int family, udp_addr *out);

/* A message about one datagram, with a budget: the first ten, then every thousandth. */
void tbp_udp_warn(udp_inst *u, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Registers the interest the socket needs now (read when armed, write while datagrams wait). */
int tbp_udp_watch(udp_inst *u);

/* udp_recv.c / udp_send.c */
int TB_CALL tbp_udp_pull(void *instance, tb_batch *out);
int TB_CALL tbp_udp_push(void *instance, tb_batch *in);
/* Sends what waits until the socket would block (the fd callback). */
void tbp_udp_flush(udp_inst *u);
/* Fails every waiting datagram and reports their batches with status. */
void tbp_udp_fail_queue(udp_inst *u, int status);

#endif
