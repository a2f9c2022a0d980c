/*
 * proxy_private.h - the parts of an isolated instance's proxy (proxy.h), shared by its files:
 * proxy_host.c (the plugin host process, one exchange on its channel, and the supervision:
 * restart, backoff, quarantine), proxy.c (the kinds' calls, creation) and proxy_connector.c (a
 * connector's calls and the notes its host sends between replies).
 *
 * Ownership and threads: as proxy.h says; a proxy is used by one thread at a time.
 */
#ifndef TBR_ISOLATE_PROXY_PRIVATE_H
#define TBR_ISOLATE_PROXY_PRIVATE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <temblor/temblor.h>

#include "host/context.h"
#include "isolate/channel.h"
#include "isolate/proto.h"
#include "plugin/plugin.h"

/* Each ring's capacity: small, so a steady flow stays in the caches (a batch that does not fit
 * crosses in pieces, proto.h). */
#define CHANNEL_CAPACITY ((size_t)2 << 20)
#define MAX_FAILURES 5
#define FAILURE_WINDOW_NS (60ull * 1000000000ull)
#define BACKOFF_MIN_NS (100ull * 1000000ull)
#define BACKOFF_MAX_NS (10ull * 1000000000ull)

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

typedef struct proxy {
    tbr_component comp; /* what the runtime calls: the real one's, with the proxy's vtable */
    const tbr_component *real;
    const tb_host_api *host;
    tb_context *ctx;
    char label[256];
    tb_arena *arena; /* the setup message's value */
    tb_value setup;

    /* the current host; ch NULL while none runs */
    pid_t pid;
    int pidfd;
    tbr_chan *ch;
    uint64_t seq;

    /* supervision */
    uint64_t failed_at[MAX_FAILURES]; /* the last failures' times, a ring */
    uint32_t failures;                /* ever */
    uint64_t backoff_ns;
    bool quarantined;
    char last_failure[512];

    /* requests sent ahead (a codec's, tbr_proxy_codec_submit), oldest first; generation
     * counts hosts started, so a request to a host that since died is known */
    struct {
        uint64_t seq, generation;
        const tb_event *events; /* the batch's, which identify it (the caller may move the tb_batch) */
    } inflight[2];
    uint32_t ninflight;
    uint64_t generation;

    /* the plugin's metrics, by their index in the host: their ids in the runtime's context */
    uint32_t metric_id[TBR_MAX_METRICS];
    bool metric_known[TBR_MAX_METRICS];

    /* a connector's: the runtime's watches of its host's replies and pidfd */
    bool connector;
    uint64_t watch_replies, watch_pid;
} proxy;

typedef enum { EX_OK, EX_REFUSED, EX_HOST_FAILED } exchange_result;

typedef tbr_iso_in reply_view;
/* A reply's effect on the caller's batches: TB_OK, or the status to return. */
typedef int (*apply_fn)(proxy *px, const reply_view *r, void *user);

/* proxy_host.c */
int tbr_px_host_spawn(proxy *px, char *err, size_t n);
void tbr_px_host_end(proxy *px, bool kill_it, char *why, size_t n);
int tbr_px_host_start(proxy *px, bool *host_failed, char *why, size_t n);
exchange_result tbr_px_send(proxy *px, uint32_t type, uint32_t arg, uint64_t arg64, const void *text, size_t tl,
                            const tb_batch *b, const tb_value *v, bool reply, uint64_t *seq_out, int *status, char *why,
                            size_t n);
exchange_result tbr_px_receive(proxy *px, uint32_t type, uint64_t seq, tb_arena *arena, reply_view *r, int *status,
                               char *why, size_t n);
exchange_result tbr_px_exchange(proxy *px, uint32_t type, uint32_t arg, uint64_t arg64, const void *text, size_t tl,
                                const tb_batch *b, const tb_value *v, tb_arena *arena, reply_view *r, int *status,
                                char *why, size_t n);
void tbr_px_take_note(proxy *px, const reply_view *r);
void tbr_px_take_error(proxy *px, const reply_view *r);
bool tbr_px_note_failure(proxy *px, const char *why, uint32_t events);
int tbr_px_quarantined(proxy *px);
bool tbr_px_ahead(const proxy *px);
int tbr_px_call_supervised(proxy *px, uint32_t type, uint32_t arg, uint64_t arg64, const tb_batch *b, uint32_t events,
                           tb_arena *arena, apply_fn apply, void *user);
int tbr_px_call(proxy *px, uint32_t type, uint32_t arg, uint64_t arg64, const tb_batch *b, uint32_t events,
                tb_arena *arena, apply_fn apply, void *user);

/* proxy.c */
int tbr_px_apply_append(proxy *px, const reply_view *r, void *user);

/* proxy_connector.c */
void tbr_px_connector_calls(const tb_connector_vtable *real, tb_connector_vtable *out);
int tbr_px_conn_watch(proxy *px);

#endif
