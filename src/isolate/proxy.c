/* proxy.c - an isolated instance as the runtime sees it, and the supervision of its plugin
 * host (proxy.h, docs/isolation.md). */
#define _GNU_SOURCE
#include "isolate/proxy.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "host/context.h"
#include "host/loop.h"
#include "isolate/channel.h"
#include "isolate/proto.h"
#include "isolate/wire.h"
#include "plugin/signature.h"
#include "value/arena.h"
#include "value/clone.h"

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
    tbr_component comp; /* what the runtime calls: the real one's, with this file's vtable */
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

    /* requests sent ahead (codec decode, tbr_proxy_decode_submit), oldest first; generation
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

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static const char *level_name(uint32_t level) {
    static const char *const names[] = {"error", "warn", "info", "debug", "trace"};
    return names[level <= TB_LOG_TRACE ? level : TB_LOG_TRACE];
}

/* --- the host process ------------------------------------------------------------------ */

/* How a reaped host ended, in words. */
static void describe_end(const proxy *px, int status, char *out, size_t n) {
    if (WIFSIGNALED(status)) {
        int sig = WTERMSIG(status);
        snprintf(out, n, "was killed by signal %d (%s)", sig, strsignal(sig));
    } else if (WIFEXITED(status)) {
        int code = WEXITSTATUS(status);
        const char *why = code == TBR_HOST_EXIT_MEMORY     ? " (past its memory limit)"
                          : code == TBR_HOST_EXIT_PROTOCOL ? " (it could not read a request)"
                          : code == TBR_HOST_EXIT_SETUP    ? " (its setup failed)"
                          : code == 127                    ? " (the temblor binary could not be run)"
                                                           : "";
        snprintf(out, n, "exited with code %d%s", code, why);
    } else {
        snprintf(out, n, "ended (wait status %d)", status);
    }
    (void)px;
}

/* Ends the current host (killing it first when kill_it) and says how it ended in why. */
static void host_end(proxy *px, bool kill_it, char *why, size_t n) {
    if (!px->ch) return;
    if (px->watch_replies) px->host->fd_unwatch(px->ctx, px->watch_replies);
    if (px->watch_pid) px->host->fd_unwatch(px->ctx, px->watch_pid);
    px->watch_replies = px->watch_pid = 0;
    if (kill_it) kill(px->pid, SIGKILL);
    int status = 0;
    pid_t r;
    while ((r = waitpid(px->pid, &status, 0)) < 0 && errno == EINTR) {
    }
    char end[160];
    if (r == px->pid) describe_end(px, status, end, sizeof end);
    else snprintf(end, sizeof end, "could not be waited for (%s)", strerror(errno));
    if (kill_it && r == px->pid && WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) end[0] = '\0'; /* ours */
    if (why && n && end[0]) {
        size_t used = strlen(why);
        snprintf(why + used, n - used, "%s%s", used ? "; it " : "", end);
    }
    tbr_chan_close(px->ch);
    px->ch = NULL;
    close(px->pidfd);
    px->pidfd = -1;
    px->pid = 0;
}

/* Forks and execs a plugin host on a new channel. TB_OK, or TB_EIO with the reason. */
static int host_spawn(proxy *px, char *err, size_t n) {
    tbr_chan_fds fds;
    int rc = tbr_chan_create(CHANNEL_CAPACITY, &px->ch, &fds);
    if (rc) return tbr_fail_into(err, n, rc, "cannot create the channel to a plugin host: %s", strerror(errno));
    char chan[64];
    tbr_chan_fds_format(&fds, chan, sizeof chan);
    const char *exe = getenv("TEMBLOR_PLUGIN_HOST");
    if (!exe || !*exe) exe = "/proc/self/exe";
    char *argv[] = {"temblor", "--log-level", (char *)level_name(tbr_log_level()), "plugin-host", "--channel", chan, NULL};
    pid_t pid = fork();
    if (pid == 0) {
        /* the child of a threaded process: async-signal-safe calls only, until exec. A group of
         * its own: a terminal's Ctrl-C is the runtime's to handle (it drains, then stops its
         * hosts), not the hosts' to die of */
        setpgid(0, 0);
        syscall(SYS_close_range, 3u, ~0u, CLOSE_RANGE_CLOEXEC);
        if (tbr_chan_fds_keep_on_exec(&fds) == TB_OK) execv(exe, argv);
        _exit(127);
    }
    if (pid < 0) {
        int e = errno;
        tbr_chan_close(px->ch);
        px->ch = NULL;
        return tbr_fail_into(err, n, TB_EIO, "cannot start a plugin host: fork: %s", strerror(e));
    }
    px->pid = pid;
    tbr_chan_set_spin(px->ch, tbr_isolation_spin_us());
    px->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (px->pidfd >= 0) tbr_chan_watch_peer(px->ch, px->pidfd);
    return TB_OK;
}

/* --- one exchange ------------------------------------------------------------------------ */

typedef enum { EX_OK, EX_REFUSED, EX_HOST_FAILED } exchange_result;

typedef tbr_iso_in reply_view;

/* What a connector's host says between replies, passed on to the runtime as the connector
 * would have said it in process. */
static void take_note(proxy *px, const reply_view *r) {
    switch (r->head.arg) {
    case TBR_ISO_NOTE_WAKE: px->host->wake(px->ctx); break;
    case TBR_ISO_NOTE_DELIVERED: px->host->delivered(px->ctx, r->head.arg64, r->head.status); break;
    case TBR_ISO_NOTE_CIRCUIT: px->host->circuit(px->ctx, r->head.status != 0); break;
    case TBR_ISO_NOTE_METRIC: {
        /* the plugin's metric, registered here as the plugin registered it there */
        uint64_t i = r->head.seq;
        if (i >= TBR_MAX_METRICS) break;
        if (!px->metric_known[i]) {
            char name[64];
            size_t n = r->head.text_len < sizeof name - 1 ? r->head.text_len : sizeof name - 1;
            memcpy(name, r->text, n);
            name[n] = '\0';
            if (px->host->metric_register(px->ctx, name, (uint32_t)r->head.status, &px->metric_id[i]) != TB_OK) break;
            px->metric_known[i] = true;
        }
        px->host->metric_set(px->ctx, px->metric_id[i], (int64_t)r->head.arg64);
        break;
    }
    default: break;
    }
}

/* Sends one request (batch b or value v as its body, either may be NULL) and, unless it has no
 * reply, waits for the reply within the call budget (a reply in pieces is reassembled in
 * arena). EX_OK with *r (release it with tbr_iso_done after use); EX_REFUSED when the request
 * cannot be sent (*status and why say why; the host is fine); EX_HOST_FAILED when the host
 * died, hung or broke the protocol: it is ended then, and why says how. */
static exchange_result exchange_send(proxy *px, uint32_t type, uint32_t arg, uint64_t arg64, const void *text,
                                     size_t tl, const tb_batch *b, const tb_value *v, bool reply, uint64_t *seq_out,
                                     int *status, char *why, size_t n) {
    uint32_t budget = tbr_isolation_call_budget_ms();
    uint64_t seq = *seq_out = ++px->seq;
    tbr_iso_msg hd = {.type = type, .seq = seq, .arg = arg, .text_len = (uint32_t)tl, .arg64 = arg64};
    int rc = tbr_iso_write(px->ch, TBR_CHAN_REQUESTS, &hd, text, b, v, (int)budget);
    if (rc == TB_EINVAL) {
        *status = TB_EINVAL;
        snprintf(why, n, "the %s cannot cross to the plugin host (nested deeper than %d)", b ? "batch" : "value",
                 TBR_WIRE_MAX_DEPTH);
        return EX_REFUSED;
    }
    if (rc == TB_ENOMEM) {
        *status = TB_ENOMEM;
        snprintf(why, n, "the %s is larger than the 1 GiB a message to a plugin host may be", b ? "batch" : "value");
        return EX_REFUSED;
    }
    if (rc) {
        snprintf(why, n, rc == TB_ETIMEDOUT ? "took no request for %u ms, so it was killed" : "stopped taking requests",
                 budget);
        host_end(px, true, why, n);
        return EX_HOST_FAILED;
    }
    /* TB_ECLOSED here may only mean the host answered and closed at once (STOP): its reply,
     * if it wrote one, is still read then */
    bool gone = tbr_chan_publish(px->ch, TBR_CHAN_REQUESTS) != TB_OK;
    if (!reply && gone) {
        why[0] = '\0';
        host_end(px, false, why, n);
        return EX_HOST_FAILED;
    }
    return EX_OK;
}

/* Waits for the reply to request seq (of type) within the call budget, passing on a
 * connector's notes meanwhile; as exchange. */
static exchange_result exchange_receive(proxy *px, uint32_t type, uint64_t seq, tb_arena *arena, reply_view *r,
                                        int *status, char *why, size_t n) {
    uint32_t budget = tbr_isolation_call_budget_ms();
    int rc;
    while ((rc = tbr_iso_read(px->ch, TBR_CHAN_REPLIES, (int)budget, arena, r)) == TB_OK && r->head.type == TBR_ISO_NOTE) {
        take_note(px, r); /* a host speaks between replies too */
        tbr_iso_done(px->ch, TBR_CHAN_REPLIES, r);
    }
    if (rc == TB_ETIMEDOUT) {
        snprintf(why, n, "did not answer within %u ms (the call budget), so it was killed", budget);
        host_end(px, true, why, n);
        return EX_HOST_FAILED;
    }
    if (rc == TB_ECLOSED) {
        why[0] = '\0';
        host_end(px, false, why, n);
        return EX_HOST_FAILED;
    }
    if (rc == TB_ENOMEM) {
        *status = TB_ENOMEM;
        snprintf(why, n, "out of memory for the plugin host's reply");
        host_end(px, true, NULL, 0); /* the rest of its pieces cannot be read: start afresh */
        return EX_REFUSED;
    }
    if (rc == TB_OK && r->head.type == type && r->head.seq == seq) return EX_OK;
    snprintf(why, n, "broke the channel's protocol, so it was killed");
    host_end(px, true, why, n);
    return EX_HOST_FAILED;
}

static exchange_result exchange(proxy *px, uint32_t type, uint32_t arg, uint64_t arg64, const void *text, size_t tl,
                                const tb_batch *b, const tb_value *v, tb_arena *arena, reply_view *r, int *status,
                                char *why, size_t n) {
    uint64_t seq;
    exchange_result x = exchange_send(px, type, arg, arg64, text, tl, b, v, r != NULL, &seq, status, why, n);
    if (x != EX_OK || !r) return x;
    return exchange_receive(px, type, seq, arena, r, status, why, n);
}

/* Hands a reply's error text to the runtime as the call's error. */
static void take_error(proxy *px, const reply_view *r) {
    char msg[TBR_ISO_MAX_TEXT + 1];
    size_t tl = r->head.text_len;
    memcpy(msg, r->text, tl); /* the host may still write it: copy once, then read the copy */
    msg[tl] = '\0';
    for (size_t i = 0; i < tl; i++)
        if ((unsigned char)msg[i] < 0x20) msg[i] = ' ';
    if (tl) px->host->set_error(px->ctx, msg);
}

/* --- starting and restarting -------------------------------------------------------------- */

/* Starts a host and sets the instance up in it. TB_OK; EX_HOST_FAILED-like failures (the host
 * died or hung during setup) come back as TB_EIO with *host_failed; a refusal (the plugin's
 * create failed, the sandbox cannot be applied) as its status. */
static int host_start(proxy *px, bool *host_failed, char *why, size_t n) {
    *host_failed = false;
    int rc = host_spawn(px, why, n);
    if (rc) return rc;
    px->generation++;
    reply_view r;
    int status = TB_OK;
    exchange_result x = exchange(px, TBR_ISO_SETUP, 0, 0, NULL, 0, NULL, &px->setup, px->arena, &r, &status, why, n);
    if (x == EX_REFUSED) {
        host_end(px, true, NULL, 0);
        return status;
    }
    if (x == EX_HOST_FAILED) {
        *host_failed = true;
        return TB_EIO;
    }
    char text[TBR_ISO_MAX_TEXT + 1];
    memcpy(text, r.text, r.head.text_len);
    text[r.head.text_len] = '\0';
    status = r.head.status;
    tbr_iso_done(px->ch, TBR_CHAN_REPLIES, &r);
    if (status != TB_OK) {
        snprintf(why, n, "%.*s", (int)(n > 1 ? n - 1 : 0), text);
        host_end(px, false, NULL, 0);
        return status < 0 ? status : TB_ERROR;
    }
    tbr_log(TB_LOG_DEBUG, px->label, "plugin host started (pid %d): %s", (int)px->pid, text);
    return TB_OK;
}

/* Records a failure of the host; true when the instance is now quarantined. */
static bool record_failure(proxy *px, const char *why) {
    uint64_t now = now_ns();
    px->failed_at[px->failures % MAX_FAILURES] = now;
    px->failures++;
    snprintf(px->last_failure, sizeof px->last_failure, "%s", why);
    uint64_t oldest = px->failed_at[px->failures % MAX_FAILURES];
    if (px->failures >= MAX_FAILURES && now - oldest <= FAILURE_WINDOW_NS) {
        px->quarantined = true;
        tbr_log(TB_LOG_ERROR, px->label,
                "plugin %s quarantined: its host failed %d times within %llu s (last: %s); its calls fail from now "
                "on, and the rest of the runtime goes on",
                px->real->plugin->desc.name, MAX_FAILURES, FAILURE_WINDOW_NS / 1000000000ull, why);
        return true;
    }
    return false;
}

static void sleep_ns(uint64_t ns) {
    struct timespec ts = {(time_t)(ns / 1000000000ull), (long)(ns % 1000000000ull)};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

static int quarantined(proxy *px) {
    char msg[700];
    snprintf(msg, sizeof msg, "plugin %s is quarantined (its host failed %d times within a minute; last: %s)",
             px->real->plugin->desc.name, MAX_FAILURES, px->last_failure);
    px->host->set_error(px->ctx, msg);
    return TB_ERROR;
}

/* A reply's effect on the caller's batches: TB_OK, or the status to return. */
typedef int (*apply_fn)(proxy *px, const reply_view *r, void *user);

/* One call, supervised: sent to the host (started first if none runs) and applied with apply;
 * when the host fails, it is logged, restarted after the backoff and the same call sent again,
 * until it succeeds, the plugin refuses or the instance is quarantined. */
/* A host failed (why says how) with a call of events under way: logged, counted, and slept
 * off before the restart; true when the instance is quarantined instead. */
static bool note_failure(proxy *px, const char *why, uint32_t events) {
    if (record_failure(px, why)) return true;
    px->backoff_ns = px->backoff_ns ? px->backoff_ns * 2 : BACKOFF_MIN_NS;
    if (px->backoff_ns > BACKOFF_MAX_NS) px->backoff_ns = BACKOFF_MAX_NS;
    tbr_log(TB_LOG_ERROR, px->label, "plugin host of %s %s; restarting it in %llu ms and sending it the same %u event%s again",
            px->real->plugin->desc.name, why, (unsigned long long)(px->backoff_ns / 1000000u), events, events == 1 ? "" : "s");
    sleep_ns(px->backoff_ns);
    return false;
}

/* Whether a request sent ahead (tbr_proxy_decode_submit) still waits for its reply from the
 * current host: no other call may be made then, or its reply would be taken for theirs. */
static bool ahead(const proxy *px) {
    for (uint32_t i = 0; px->ch && i < px->ninflight; i++)
        if (px->inflight[i].generation == px->generation) return true;
    return false;
}

static int call_supervised(proxy *px, uint32_t type, uint32_t arg, uint64_t arg64, const tb_batch *b,
                           uint32_t events, tb_arena *arena, apply_fn apply, void *user) {
    char why[700];
    if (ahead(px)) {
        px->host->set_error(px->ctx, "a call was made while a batch sent ahead was still in its plugin host (a runtime bug)");
        return TB_EINVAL;
    }
    for (;;) {
        if (px->quarantined) return quarantined(px);
        why[0] = '\0';
        bool host_failed = false;
        int status = TB_OK;
        if (!px->ch) {
            int rc = host_start(px, &host_failed, why, sizeof why);
            if (rc && !host_failed) {
                px->host->set_error(px->ctx, why);
                return rc;
            }
        }
        if (!host_failed) {
            reply_view r;
            exchange_result x = exchange(px, type, arg, arg64, NULL, 0, b, NULL, arena, &r, &status, why, sizeof why);
            if (x == EX_REFUSED) {
                px->host->set_error(px->ctx, why);
                return status;
            }
            if (x == EX_OK) {
                status = r.head.status;
                if (status == TB_OK) status = apply(px, &r, user);
                else take_error(px, &r);
                tbr_iso_done(px->ch, TBR_CHAN_REPLIES, &r);
                if (px->backoff_ns && now_ns() - px->failed_at[(px->failures - 1) % MAX_FAILURES] > FAILURE_WINDOW_NS)
                    px->backoff_ns = 0; /* a quiet minute: the next failure restarts at once again */
                return status;
            }
        }
        if (note_failure(px, why, events)) return quarantined(px);
    }
}

/* call_supervised, with the thread's busy clock stopped: the call budget is this wait's
 * watchdog, so the engine's does not report it as a stage that stalls. */
static int call(proxy *px, uint32_t type, uint32_t arg, uint64_t arg64, const tb_batch *b, uint32_t events,
                tb_arena *arena, apply_fn apply, void *user) {
    tbr_loop_thread_waits(true);
    int rc = call_supervised(px, type, arg, arg64, b, events, arena, apply, user);
    tbr_loop_thread_waits(false);
    return rc;
}

/* --- applying replies -------------------------------------------------------------------- */

/* Decodes a reply's batch into arena; false (with the error set and the host ended, since only
 * a broken host writes such a reply) when it does not decode. */
static bool reply_batch(proxy *px, const reply_view *r, tb_arena *arena, tb_batch *out) {
    char why[200];
    /* one that came in pieces is a private copy already: no second copy */
    int rc = r->in_ring ? tbr_wire_decode_batch(r->body, r->body_len, arena, out, why, sizeof why)
                        : tbr_wire_decode_batch_in_place(r->body, r->body_len, arena, out, why, sizeof why);
    if (rc == TB_OK) return true;
    char msg[300];
    snprintf(msg, sizeof msg, "the plugin host's reply does not decode: %s", why);
    px->host->set_error(px->ctx, msg);
    return false;
}

/* Operators and processors: the reply's events are appended to the caller's out. */
static int apply_append(proxy *px, const reply_view *r, void *user) {
    tb_batch *out = user, got;
    if (!reply_batch(px, r, out->arena, &got)) return TB_EINVAL;
    for (uint32_t i = 0; i < got.count; i++) {
        tb_event *e = tb_batch_push(out);
        if (!e) return TB_ENOMEM;
        *e = got.events[i];
    }
    return TB_OK;
}

/* Codecs: the reply is the caller's batch transformed in place; only what a codec may change
 * is taken (data, meta and the raw, error and dropped flags), never an event's identity. */
static int apply_in_place(proxy *px, const reply_view *r, void *user) {
    tb_batch *b = user, got;
    if (!reply_batch(px, r, b->arena, &got)) return TB_EINVAL;
    if (got.count != b->count) {
        char msg[160];
        snprintf(msg, sizeof msg, "the plugin host returned %u events for a batch of %u", got.count, b->count);
        px->host->set_error(px->ctx, msg);
        return TB_EINVAL;
    }
    const uint16_t may = TB_EF_RAW | TB_EF_ERROR | TB_EF_DROPPED;
    for (uint32_t i = 0; i < b->count; i++) {
        tb_event *e = &b->events[i];
        e->data = got.events[i].data;
        e->meta = got.events[i].meta;
        e->flags = (uint16_t)((e->flags & ~may) | (got.events[i].flags & may));
    }
    return TB_OK;
}

/* --- the kinds' vtables --------------------------------------------------------------------- */

static int TB_CALL op_process(void *st, uint32_t port, tb_batch *in, tb_batch *out) {
    return call(st, TBR_ISO_OP_PROCESS, port, 0, in, in->count, out->arena, apply_append, out);
}

static int TB_CALL op_tick(void *st, uint64_t now, tb_batch *out) {
    return call(st, TBR_ISO_OP_TICK, 0, now, NULL, 0, out->arena, apply_append, out);
}

static void TB_CALL op_contraflow(void *st, const tb_contraflow *cf) {
    proxy *px = st;
    if (px->quarantined || !px->ch) return; /* a host that is down has no use for it */
    uint8_t text[12];
    memcpy(text, &cf->latency_ns, 8);
    memcpy(text + 8, &cf->port, 4);
    int status;
    char why[300] = "";
    if (exchange(px, TBR_ISO_OP_CONTRAFLOW, cf->kind, cf->event_id, text, sizeof text, NULL, NULL, NULL, NULL, &status,
                 why, sizeof why) == EX_HOST_FAILED)
        tbr_log(TB_LOG_WARN, px->label, "plugin host %s (it will be restarted at the next call)", why);
}

static int TB_CALL codec_decode(void *st, tb_batch *b) {
    return call(st, TBR_ISO_CODEC_DECODE, 0, 0, b, b->count, b->arena, apply_in_place, b);
}

/* Sends request type with batch b only if it fits in the ring's room now, without waiting:
 * with a request already ahead, the host may be writing that one's reply and wait for the
 * runtime to read it, while a runtime waiting for room would wait for the host. TB_OK with its
 * seq, or TB_EAGAIN (nothing sent). */
static int send_now(proxy *px, uint32_t type, const tb_batch *b, uint64_t *seq) {
    size_t cap, body;
    const size_t head = sizeof(tbr_iso_msg);
    uint8_t *m = tbr_chan_reserve_free(px->ch, TBR_CHAN_REQUESTS, head, &cap);
    if (!m) return TB_EAGAIN;
    if (tbr_wire_encode_batch(b, m + head, cap - head, &body) != TB_OK) {
        tbr_chan_cancel_last(px->ch, TBR_CHAN_REQUESTS, m);
        return TB_EAGAIN;
    }
    tbr_iso_msg hd = {.type = type, .seq = *seq = ++px->seq};
    memcpy(m, &hd, sizeof hd);
    tbr_chan_trim_last(px->ch, TBR_CHAN_REQUESTS, m, head + body);
    tbr_chan_publish(px->ch, TBR_CHAN_REQUESTS); /* a host gone is seen at its reply */
    return TB_OK;
}

static int codec_submit(proxy *px, uint32_t type, tb_batch *b) {
    if (px->quarantined || !px->ch || px->ninflight == 2 || px->connector) return TB_EAGAIN;
    uint64_t seq;
    if (ahead(px)) {
        if (send_now(px, type, b, &seq)) return TB_EAGAIN;
    } else {
        int status;
        char why[700] = "";
        exchange_result x = exchange_send(px, type, 0, 0, NULL, 0, b, NULL, true, &seq, &status, why, sizeof why);
        if (x == EX_HOST_FAILED && note_failure(px, why, b->count)) return TB_EAGAIN; /* the call then says why */
        if (x != EX_OK) return TB_EAGAIN;
    }
    px->inflight[px->ninflight].seq = seq;
    px->inflight[px->ninflight].generation = px->generation;
    px->inflight[px->ninflight].events = b->events;
    px->ninflight++;
    return TB_OK;
}

static int codec_complete(proxy *px, uint32_t type, tb_batch *b) {
    if (!px->ninflight || px->inflight[0].events != b->events) {
        px->host->set_error(px->ctx, "this batch was not sent ahead (a runtime bug)");
        return TB_EINVAL;
    }
    uint64_t seq = px->inflight[0].seq, generation = px->inflight[0].generation;
    px->inflight[0] = px->inflight[1];
    px->ninflight--;
    tbr_loop_thread_waits(true);
    int rc;
    if (px->ch && generation == px->generation) {
        reply_view r;
        int status = TB_OK;
        char why[700] = "";
        exchange_result x = exchange_receive(px, type, seq, b->arena, &r, &status, why, sizeof why);
        if (x == EX_OK) {
            rc = r.head.status;
            if (rc == TB_OK) rc = apply_in_place(px, &r, b);
            else take_error(px, &r);
            tbr_iso_done(px->ch, TBR_CHAN_REPLIES, &r);
            tbr_loop_thread_waits(false);
            return rc;
        }
        if (x == EX_HOST_FAILED && note_failure(px, why, b->count)) {
            tbr_loop_thread_waits(false);
            return quarantined(px);
        }
    }
    /* its host failed, now or since it was sent: the same batch again, on a new host */
    rc = call_supervised(px, type, 0, 0, b, b->count, b->arena, apply_in_place, b);
    tbr_loop_thread_waits(false);
    return rc;
}

int tbr_proxy_codec_submit(void *state, tb_batch *b, bool encode) {
    return codec_submit(state, encode ? TBR_ISO_CODEC_ENCODE : TBR_ISO_CODEC_DECODE, b);
}

int tbr_proxy_codec_complete(void *state, tb_batch *b, bool encode) {
    return codec_complete(state, encode ? TBR_ISO_CODEC_ENCODE : TBR_ISO_CODEC_DECODE, b);
}

static int TB_CALL codec_encode(void *st, tb_batch *b) {
    return call(st, TBR_ISO_CODEC_ENCODE, 0, 0, b, b->count, b->arena, apply_in_place, b);
}

static int TB_CALL proc_process(void *st, const tb_batch *in, tb_batch *out) {
    return call(st, TBR_ISO_PROC_PROCESS, 0, 0, in, in->count, out->arena, apply_append, out);
}

static int TB_CALL proc_finish(void *st, tb_batch *out) {
    return call(st, TBR_ISO_PROC_FINISH, 0, 0, NULL, 0, out->arena, apply_append, out);
}

static void TB_CALL proxy_destroy(void *st) {
    proxy *px = st;
    if (px->ch) {
        reply_view r;
        int status;
        char why[300] = "";
        uint32_t budget = tbr_isolation_call_budget_ms();
        (void)budget;
        if (exchange(px, TBR_ISO_STOP, 0, 0, NULL, 0, NULL, NULL, px->arena, &r, &status, why, sizeof why) == EX_OK) {
            tbr_iso_done(px->ch, TBR_CHAN_REPLIES, &r);
            host_end(px, false, NULL, 0);
        } else if (why[0]) {
            tbr_log(TB_LOG_WARN, px->label, "plugin host %s while stopping", why);
        }
    }
    tbr_arena_free(px->arena);
    free(px);
}

/* --- connectors -------------------------------------------------------------------------------
 * A connector's host is not restarted here: a failing call returns an error, and the engine
 * restarts the connector (a new proxy, a new host) with its own backoff, fails back the
 * deliveries the old instance owed, and gives up after five failures in a minute, as for a
 * connector in process. */

/* The error of every call to a connector whose host is gone. */
static int conn_dead(proxy *px) {
    char msg[700];
    snprintf(msg, sizeof msg, "plugin host of %s %s", px->real->plugin->desc.name, px->last_failure);
    px->host->set_error(px->ctx, msg);
    return TB_ERROR;
}

static void conn_host_failed(proxy *px, const char *why) {
    snprintf(px->last_failure, sizeof px->last_failure, "%s", why[0] ? why : "is gone");
    tbr_log(TB_LOG_ERROR, px->label, "plugin host of %s %s; the connector is restarted", px->real->plugin->desc.name,
            px->last_failure);
}

/* Passes on the notes the host wrote since the last call, without waiting; it leaves the
 * replies' wake-up armed, so the instance's loop hears of the next one. */
static void drain_notes(proxy *px) {
    reply_view r;
    int rc;
    while (px->ch && (rc = tbr_iso_read(px->ch, TBR_CHAN_REPLIES, 0, NULL, &r)) == TB_OK) {
        if (r.head.type != TBR_ISO_NOTE) {
            char why[80] = "broke the channel's protocol, so it was killed";
            tbr_iso_done(px->ch, TBR_CHAN_REPLIES, &r);
            host_end(px, true, why, sizeof why);
            conn_host_failed(px, why);
            px->host->wake(px->ctx); /* so the runtime calls it, hears the error and restarts it */
            return;
        }
        take_note(px, &r);
        tbr_iso_done(px->ch, TBR_CHAN_REPLIES, &r);
    }
}

/* One call to a connector's host: TB_OK with its reply in *r (release it with tbr_iso_done),
 * or the call's error (the host gone: conn_dead). */
static int conn_exchange(proxy *px, uint32_t type, uint32_t arg, const tb_batch *b, const tb_value *v, tb_arena *arena,
                         reply_view *r) {
    if (!px->ch) return conn_dead(px);
    int status = TB_OK;
    char why[700] = "";
    tbr_loop_thread_waits(true);
    exchange_result x = exchange(px, type, arg, 0, NULL, 0, b, v, arena, r, &status, why, sizeof why);
    tbr_loop_thread_waits(false);
    if (x == EX_REFUSED) {
        px->host->set_error(px->ctx, why);
        return status;
    }
    if (x == EX_HOST_FAILED) {
        conn_host_failed(px, why);
        return conn_dead(px);
    }
    return TB_OK;
}

/* A call whose reply is its status alone. */
static int conn_status(proxy *px, uint32_t type, uint32_t arg, const tb_batch *b, const tb_value *v) {
    reply_view r;
    int rc = conn_exchange(px, type, arg, b, v, NULL, &r);
    if (rc) return rc;
    rc = r.head.status;
    if (rc != TB_OK && rc != TB_EPENDING && rc != TB_EAGAIN) take_error(px, &r);
    tbr_iso_done(px->ch, TBR_CHAN_REPLIES, &r);
    drain_notes(px);
    return rc;
}

static int TB_CALL conn_connect(void *st) { return conn_status(st, TBR_ISO_CONN_LIFE, TBR_ISO_CONNECT, NULL, NULL); }
static int TB_CALL conn_start(void *st) { return conn_status(st, TBR_ISO_CONN_LIFE, TBR_ISO_START, NULL, NULL); }
static int TB_CALL conn_pause(void *st) { return conn_status(st, TBR_ISO_CONN_LIFE, TBR_ISO_PAUSE, NULL, NULL); }
static int TB_CALL conn_resume(void *st) { return conn_status(st, TBR_ISO_CONN_LIFE, TBR_ISO_RESUME, NULL, NULL); }
static int TB_CALL conn_drain(void *st) { return conn_status(st, TBR_ISO_CONN_LIFE, TBR_ISO_DRAIN, NULL, NULL); }
static int TB_CALL conn_stop(void *st) { return conn_status(st, TBR_ISO_CONN_LIFE, TBR_ISO_STOP_CALL, NULL, NULL); }
static int TB_CALL conn_push(void *st, tb_batch *in) { return conn_status(st, TBR_ISO_CONN_PUSH, 0, in, NULL); }

static int TB_CALL conn_pull(void *st, tb_batch *out) {
    proxy *px = st;
    reply_view r;
    int rc = conn_exchange(px, TBR_ISO_CONN_PULL, out->capacity, NULL, NULL, out->arena, &r);
    if (rc) return rc;
    rc = r.head.status;
    if (rc == TB_OK || rc == TB_EAGAIN || rc == TB_EOF) {
        int applied = r.body_len ? apply_append(px, &r, out) : TB_OK;
        if (applied) rc = applied;
    } else {
        take_error(px, &r);
    }
    tbr_iso_done(px->ch, TBR_CHAN_REPLIES, &r);
    drain_notes(px);
    return rc;
}

/* ack and fail: the ids cross as one bytes value; no reply. */
static void conn_ids(proxy *px, uint32_t type, const uint64_t *ids, uint32_t count) {
    if (!px->ch) return; /* the engine restarts it; its source replays what was not acknowledged */
    tb_value v = tb_bytes(ids, (size_t)count * 8);
    int status;
    char why[700] = "";
    if (exchange(px, type, 0, 0, NULL, 0, NULL, &v, NULL, NULL, &status, why, sizeof why) == EX_HOST_FAILED) {
        conn_host_failed(px, why);
        px->host->wake(px->ctx);
    }
}
static void TB_CALL conn_ack(void *st, const uint64_t *ids, uint32_t n) { conn_ids(st, TBR_ISO_CONN_ACK, ids, n); }
static void TB_CALL conn_fail(void *st, const uint64_t *ids, uint32_t n) { conn_ids(st, TBR_ISO_CONN_FAIL, ids, n); }

static int TB_CALL conn_save(void *st, tb_arena *arena, tb_value *out) {
    proxy *px = st;
    reply_view r;
    int rc = conn_exchange(px, TBR_ISO_CONN_SAVE, 0, NULL, NULL, arena, &r);
    if (rc) return rc;
    rc = r.head.status;
    if (rc == TB_OK) {
        char why[200];
        if (tbr_wire_decode_value(r.body, r.body_len, arena, out, why, sizeof why)) {
            char msg[300];
            snprintf(msg, sizeof msg, "the saved state does not decode: %s", why);
            px->host->set_error(px->ctx, msg);
            rc = TB_EINVAL;
        }
    } else {
        take_error(px, &r);
    }
    tbr_iso_done(px->ch, TBR_CHAN_REPLIES, &r);
    drain_notes(px);
    return rc;
}

static int TB_CALL conn_restore(void *st, const tb_value *saved) {
    return conn_status(st, TBR_ISO_CONN_RESTORE, 0, NULL, saved);
}

/* The instance's loop heard the host: notes to pass on. */
static void TB_CALL on_replies(void *user, int fd, uint32_t events) {
    (void)fd, (void)events;
    drain_notes(user);
}

/* The host ended between calls: the next call says so, and the engine restarts the connector. */
static void TB_CALL on_host_exit(void *user, int fd, uint32_t events) {
    proxy *px = user;
    (void)fd, (void)events;
    if (!px->ch) return;
    drain_notes(px); /* what it said before it went */
    if (!px->ch) return;
    char why[300] = "";
    host_end(px, false, why, sizeof why);
    conn_host_failed(px, why);
    px->host->wake(px->ctx);
}

/* Watches the host from the instance's loop. TB_OK, or the host API's error. */
static int conn_watch(proxy *px) {
    int rc = px->host->fd_watch(px->ctx, tbr_chan_wake_fd(px->ch, TBR_CHAN_REPLIES), TB_FD_READ, on_replies, px,
                                &px->watch_replies);
    if (!rc && px->pidfd >= 0) rc = px->host->fd_watch(px->ctx, px->pidfd, TB_FD_READ, on_host_exit, px, &px->watch_pid);
    if (!rc) drain_notes(px); /* arms the wake-up */
    return rc;
}

static int TB_CALL never_create(const tb_create_args *args, void **out) {
    (void)args, (void)out;
    return TB_ENOTSUP; /* proxies are made by tbr_proxy_create */
}

/* --- creation ------------------------------------------------------------------------------ */

static bool put(tb_arena *a, tb_value *obj, const char *key, tb_value v) {
    tb_value *slot = tb_object_set(a, obj, key, strlen(key));
    if (slot) *slot = v;
    return slot != NULL;
}

static bool put_str(tb_arena *a, tb_value *obj, const char *key, const char *s) {
    char *copy = tb_arena_dup(a, s, strlen(s));
    return copy && put(a, obj, key, tb_string(copy, strlen(s)));
}

/* Whether path is dir or below it ("/a" holds "/a" and "/a/b", not "/ab"). */
static bool below(const char *path, const char *dir) {
    size_t l = strlen(dir);
    while (l > 1 && dir[l - 1] == '/') l--;
    return !strncmp(path, dir, l) && (path[l] == '\0' || path[l] == '/' || (l == 1 && dir[0] == '/'));
}

/* Whether permission p (its target resolved) is within grants g. */
static bool granted(const tb_permission *p, const char *target, const tbr_sandbox_grants *g) {
    bool under_write = false, under_read = false;
    for (size_t i = 0; target && i < g->nwrite; i++) under_write = under_write || below(target, g->write_paths[i]);
    for (size_t i = 0; target && i < g->nread; i++) under_read = under_read || below(target, g->read_paths[i]);
    switch (p->kind) {
    case TB_PERM_FS_READ: return under_read || under_write;
    case TB_PERM_FS_WRITE: return under_write;
    case TB_PERM_NET_CONNECT: return g->net && (!g->tcp_connect || g->ntcp_connect);
    case TB_PERM_NET_LISTEN: return g->net && (!g->tcp_bind || g->ntcp_bind);
    case TB_PERM_PROCESS: return g->processes;
    default: return false;
    }
}

/* Warns of each permission the plugin declares that the grants leave out: the sandbox will
 * deny it, and the operator should know before it does. */
static void warn_ungranted(proxy *px, const tb_value *config, const tbr_sandbox_grants *g) {
    const tbr_plugin *pl = px->real->plugin;
    for (uint32_t i = 0; i < pl->permission_count; i++) {
        const tb_permission *p = &pl->permissions[i];
        char target[512] = "";
        if (p->target) snprintf(target, sizeof target, "%s", p->target);
        else if (p->option) {
            size_t len;
            const char *s = tb_value_str(tb_object_getz(config, p->option), &len);
            if (s) snprintf(target, sizeof target, "%.*s", (int)len, s);
        }
        /* a relative path is the host's working directory's, which is the runtime's */
        char resolved[4096 + 512], cwd[4096];
        bool is_path = p->kind == TB_PERM_FS_READ || p->kind == TB_PERM_FS_WRITE;
        if (is_path && target[0] && target[0] != '/' && getcwd(cwd, sizeof cwd))
            snprintf(resolved, sizeof resolved, "%s/%s", cwd, target);
        else
            snprintf(resolved, sizeof resolved, "%s", target);
        if (granted(p, resolved[0] ? resolved : NULL, g)) continue;
        tbr_log(TB_LOG_WARN, px->label, "plugin %s declares %s%s%s (%s), which is not granted: its sandbox will deny it",
                pl->desc.name, tbr_permission_name(p->kind), target[0] ? " " : "", target, p->reason ? p->reason : "");
    }
}

int tbr_proxy_create(const tbr_component *real, const tb_create_args *args, const char *label, const tbr_isolation *iso,
                     void **out_state, const tbr_component **out_component, char *err, size_t n) {
    uint32_t kind = real->desc.kind;
    proxy *px = calloc(1, sizeof *px);
    if (!px || !(px->arena = tbr_arena_new(0))) {
        free(px);
        return tbr_fail_into(err, n, TB_ENOMEM, "out of memory");
    }
    px->real = real;
    px->host = args->host;
    px->ctx = args->ctx;
    px->pidfd = -1;
    snprintf(px->label, sizeof px->label, "%s", tbr_context_label(args->ctx));

    /* the grants, checked here so a mistake is refused with the flow, not in the host */
    tbr_sandbox_grants g;
    int rc = tbr_isolation_grants(&iso->grant, px->arena, &g, err, n);
    if (rc) goto fail;
    warn_ungranted(px, args->config, &g);

    /* the setup, kept for every restart */
    tb_arena *a = px->arena;
    const tbr_plugin *pl = real->plugin;
    tb_value s = tb_object(), config, grant;
    if (tbr_value_clone(a, args->config, &config) || tbr_value_clone(a, &iso->grant, &grant) ||
        !put_str(a, &s, "path", pl->path) || !put_str(a, &s, "plugin", pl->desc.name) ||
        !put_str(a, &s, "version", pl->desc.version) || !put(a, &s, "kind", tb_u64(kind)) ||
        !put_str(a, &s, "component", real->desc.name) || !put_str(a, &s, "label", label) ||
        !put(a, &s, "stream", tb_u64(args->stream)) || !put(a, &s, "config", config) ||
        !put(a, &s, "memory_limit", tb_u64(pl->mem_limit)) ||
        !put_str(a, &s, "sandbox", tbr_isolation_sandbox_mode() == TBR_SANDBOX_DEGRADE ? "degrade" : "require") ||
        !put_str(a, &s, "signatures", tbr_signature_policy_name(tbr_isolation_signatures())) ||
        !put_str(a, &s, "trust", tbr_signature_trust_dir()) || !put(a, &s, "grant", grant)) {
        rc = tbr_fail_into(err, n, TB_ENOMEM, "out of memory");
        goto fail;
    }
    px->setup = s;

    /* the component the runtime calls */
    px->comp = *real;
    memset(&px->comp.vt, 0, sizeof px->comp.vt);
    switch (kind) {
    case TB_KIND_CONNECTOR: {
        const tb_connector_vtable *v = &real->vt.connector;
        px->connector = true;
        px->comp.vt.connector = (tb_connector_vtable){
            .struct_size = sizeof(tb_connector_vtable), .flags = v->flags, .create = never_create,
            .destroy = proxy_destroy, .connect = v->connect ? conn_connect : NULL,
            .start = v->start ? conn_start : NULL, .pause = v->pause ? conn_pause : NULL,
            .resume = v->resume ? conn_resume : NULL, .drain = v->drain ? conn_drain : NULL,
            .stop = v->stop ? conn_stop : NULL, .pull = v->pull ? conn_pull : NULL, .ack = v->ack ? conn_ack : NULL,
            .fail = v->fail ? conn_fail : NULL, .push = v->push ? conn_push : NULL,
            .save = v->save ? conn_save : NULL, .restore = v->restore ? conn_restore : NULL};
        break;
    }
    case TB_KIND_CODEC:
        px->comp.vt.codec = (tb_codec_vtable){.struct_size = sizeof(tb_codec_vtable), .create = never_create,
                                              .destroy = proxy_destroy, .decode = codec_decode, .encode = codec_encode};
        break;
    case TB_KIND_OPERATOR:
        px->comp.vt.op = (tb_operator_vtable){.struct_size = sizeof(tb_operator_vtable),
                                              .output_ports = real->vt.op.output_ports,
                                              .create = never_create,
                                              .destroy = proxy_destroy,
                                              .process = op_process,
                                              .tick = real->vt.op.tick ? op_tick : NULL,
                                              .contraflow = real->vt.op.contraflow ? op_contraflow : NULL};
        break;
    default:
        px->comp.vt.processor = (tb_processor_vtable){.struct_size = sizeof(tb_processor_vtable),
                                                      .create = never_create,
                                                      .destroy = proxy_destroy,
                                                      .process = proc_process,
                                                      .finish = real->vt.processor.finish ? proc_finish : NULL};
        break;
    }

    /* the first host now, so a plugin that cannot start is refused with its flow */
    bool host_failed;
    char why[700] = "";
    rc = host_start(px, &host_failed, why, sizeof why);
    if (rc) {
        rc = tbr_fail_into(err, n, rc, "%s: the plugin host %s: %s", label, host_failed ? "failed" : "refused", why);
        goto fail;
    }
    if (px->connector && (rc = conn_watch(px))) {
        host_end(px, true, NULL, 0);
        rc = tbr_fail_into(err, n, rc, "%s: cannot watch its plugin host from the instance's loop", label);
        goto fail;
    }
    *out_state = px;
    *out_component = &px->comp;
    return TB_OK;
fail:
    tbr_arena_free(px->arena);
    free(px);
    return rc;
}

int tbr_proxy_host_pid(const void *state) { return ((const proxy *)state)->pid; }

/* --- describing a plugin the runtime does not map ------------------------------------------------ */

int tbr_proxy_describe(const char *path, tb_arena *arena, tb_value *out, char *err, size_t n) {
    proxy *px = calloc(1, sizeof *px);
    if (!px || !(px->arena = tbr_arena_new(0))) {
        free(px);
        return tbr_fail_into(err, n, TB_ENOMEM, "%s: out of memory", path);
    }
    px->pidfd = -1;
    snprintf(px->label, sizeof px->label, "%s", path);
    tb_arena *a = px->arena;
    tb_value req = tb_object();
    int rc = TB_ENOMEM;
    char why[1024] = "";
    if (put_str(a, &req, "path", path) &&
        put_str(a, &req, "sandbox", tbr_isolation_sandbox_mode() == TBR_SANDBOX_DEGRADE ? "degrade" : "require") &&
        put_str(a, &req, "signatures", tbr_signature_policy_name(tbr_isolation_signatures())) &&
        put_str(a, &req, "trust", tbr_signature_trust_dir()))
        rc = host_spawn(px, why, sizeof why);
    else
        snprintf(why, sizeof why, "out of memory");
    if (rc == TB_OK) {
        reply_view r;
        int status = TB_OK;
        exchange_result x = exchange(px, TBR_ISO_DESCRIBE, 0, 0, NULL, 0, NULL, &req, a, &r, &status, why, sizeof why);
        if (x == EX_OK) {
            char text[TBR_ISO_MAX_TEXT + 1];
            memcpy(text, r.text, r.head.text_len);
            text[r.head.text_len] = '\0';
            rc = r.head.status;
            if (rc == TB_OK) {
                char werr[200];
                if ((rc = tbr_wire_decode_value(r.body, r.body_len, arena, out, werr, sizeof werr)))
                    snprintf(why, sizeof why, "its plugin host's description does not decode: %s", werr);
            } else {
                snprintf(why, sizeof why, "%.*s", (int)sizeof why - 1, text);
                if (rc > 0) rc = TB_ERROR;
            }
            tbr_iso_done(px->ch, TBR_CHAN_REPLIES, &r);
            host_end(px, false, NULL, 0);
        } else {
            rc = x == EX_REFUSED ? status : TB_EIO;
            if (x == EX_HOST_FAILED) {
                char tmp[1024];
                snprintf(tmp, sizeof tmp, "the plugin host describing it %s", why);
                snprintf(why, sizeof why, "%s", tmp);
            }
            host_end(px, true, NULL, 0);
        }
    }
    if (rc) tbr_fail_into(err, n, rc, "%s%s%s", strncmp(why, path, strlen(path)) ? path : "",
                          strncmp(why, path, strlen(path)) ? ": " : "", why);
    tbr_arena_free(px->arena);
    free(px);
    return rc;
}
