/* proxy_host.c - an isolated instance's plugin host process, one exchange on its channel, and
 * its supervision: restarts with backoff, quarantine (proxy.h, proxy_private.h). */
#define _GNU_SOURCE
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
#include "isolate/proxy.h"
#include "isolate/proxy_private.h"
#include "isolate/wire.h"

/* --- the host process ------------------------------------------------------------------ */

/* How a reaped host ended, in words. */
static void describe_end(int status, char *out, size_t n) {
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
}

/* Ends the current host (killing it first when kill_it) and says how it ended in why. */
void tbr_px_host_end(proxy *px, bool kill_it, char *why, size_t n) {
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
    if (r == px->pid) describe_end(status, end, sizeof end);
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
int tbr_px_host_spawn(proxy *px, char *err, size_t n) {
    tbr_chan_fds fds;
    int rc = tbr_chan_create(CHANNEL_CAPACITY, &px->ch, &fds);
    if (rc) return tbr_fail_into(err, n, rc, "cannot create the channel to a plugin host: %s", strerror(errno));
    char chan[64];
    tbr_chan_fds_format(&fds, chan, sizeof chan);
    const char *exe = getenv("TEMBLOR_PLUGIN_HOST");
    if (!exe || !*exe) exe = "/proc/self/exe";
    char *argv[] = {"temblor", "--log-level", (char *)tbr_log_level_name(tbr_log_level()), "plugin-host", "--channel", chan, NULL};
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


/* What a connector's host says between replies, passed on to the runtime as the connector
 * would have said it in process. */
void tbr_px_take_note(proxy *px, const reply_view *r) {
    switch (r->head.arg) {
    case TBR_ISO_NOTE_WAKE: px->host->wake(px->ctx); break;
    case TBR_ISO_NOTE_DELIVERED: px->host->delivered(px->ctx, r->head.arg64, r->head.status); break;
    case TBR_ISO_NOTE_CIRCUIT: px->host->circuit(px->ctx, r->head.status != 0); break;
    case TBR_ISO_NOTE_STREAM_DONE: {
        const tb_ext_streams *x = px->host->get_extension(px->ctx, TB_EXT_STREAMS);
        if (x) x->sink_stream_done(px->ctx, (uint32_t)r->head.arg64);
        break;
    }
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
exchange_result tbr_px_send(proxy *px, uint32_t type, uint32_t arg, uint64_t arg64, const void *text,
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
        tbr_px_host_end(px, true, why, n);
        return EX_HOST_FAILED;
    }
    /* TB_ECLOSED here may only mean the host answered and closed at once (STOP): its reply,
     * if it wrote one, is still read then */
    bool gone = tbr_chan_publish(px->ch, TBR_CHAN_REQUESTS) != TB_OK;
    if (!reply && gone) {
        why[0] = '\0';
        tbr_px_host_end(px, false, why, n);
        return EX_HOST_FAILED;
    }
    return EX_OK;
}

/* Waits for the reply to request seq (of type) within the call budget, passing on a
 * connector's notes meanwhile; as exchange. */
exchange_result tbr_px_receive(proxy *px, uint32_t type, uint64_t seq, tb_arena *arena, reply_view *r,
                                        int *status, char *why, size_t n) {
    uint32_t budget = tbr_isolation_call_budget_ms();
    int rc;
    while ((rc = tbr_iso_read(px->ch, TBR_CHAN_REPLIES, (int)budget, arena, r)) == TB_OK && r->head.type == TBR_ISO_NOTE) {
        tbr_px_take_note(px, r); /* a host speaks between replies too */
        tbr_iso_done(px->ch, TBR_CHAN_REPLIES, r);
    }
    if (rc == TB_ETIMEDOUT) {
        snprintf(why, n, "did not answer within %u ms (the call budget), so it was killed", budget);
        tbr_px_host_end(px, true, why, n);
        return EX_HOST_FAILED;
    }
    if (rc == TB_ECLOSED) {
        why[0] = '\0';
        tbr_px_host_end(px, false, why, n);
        return EX_HOST_FAILED;
    }
    if (rc == TB_ENOMEM) {
        *status = TB_ENOMEM;
        snprintf(why, n, "out of memory for the plugin host's reply");
        tbr_px_host_end(px, true, NULL, 0); /* the rest of its pieces cannot be read: start afresh */
        return EX_REFUSED;
    }
    if (rc == TB_OK && r->head.type == type && r->head.seq == seq) return EX_OK;
    snprintf(why, n, "broke the channel's protocol, so it was killed");
    tbr_px_host_end(px, true, why, n);
    return EX_HOST_FAILED;
}

exchange_result tbr_px_exchange(proxy *px, uint32_t type, uint32_t arg, uint64_t arg64, const void *text, size_t tl,
                                const tb_batch *b, const tb_value *v, tb_arena *arena, reply_view *r, int *status,
                                char *why, size_t n) {
    uint64_t seq;
    exchange_result x = tbr_px_send(px, type, arg, arg64, text, tl, b, v, r != NULL, &seq, status, why, n);
    if (x != EX_OK || !r) return x;
    return tbr_px_receive(px, type, seq, arena, r, status, why, n);
}

/* Hands a reply's error text to the runtime as the call's error. */
void tbr_px_take_error(proxy *px, const reply_view *r) {
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
int tbr_px_host_start(proxy *px, bool *host_failed, char *why, size_t n) {
    *host_failed = false;
    int rc = tbr_px_host_spawn(px, why, n);
    if (rc) return rc;
    px->generation++;
    reply_view r;
    int status = TB_OK;
    exchange_result x = tbr_px_exchange(px, TBR_ISO_SETUP, 0, 0, NULL, 0, NULL, &px->setup, px->arena, &r, &status, why, n);
    if (x == EX_REFUSED) {
        tbr_px_host_end(px, true, NULL, 0);
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
        tbr_px_host_end(px, false, NULL, 0);
        return status < 0 ? status : TB_ERROR;
    }
    tbr_log(TB_LOG_DEBUG, px->label, "plugin host started (pid %d): %s", (int)px->pid, text);
    return TB_OK;
}

/* Records a failure of the host; true when the instance is now quarantined. */
static bool record_failure(proxy *px, const char *why) {
    uint64_t now = tbr_now_ns();
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

int tbr_px_quarantined(proxy *px) {
    char msg[700];
    snprintf(msg, sizeof msg, "plugin %s is quarantined (its host failed %d times within a minute; last: %s)",
             px->real->plugin->desc.name, MAX_FAILURES, px->last_failure);
    px->host->set_error(px->ctx, msg);
    return TB_ERROR;
}


/* One call, supervised: sent to the host (started first if none runs) and applied with apply;
 * when the host fails, it is logged, restarted after the backoff and the same call sent again,
 * until it succeeds, the plugin refuses or the instance is quarantined. */
/* A host failed (why says how) with a call of events under way: logged, counted, and slept
 * off before the restart; true when the instance is quarantined instead. */
bool tbr_px_note_failure(proxy *px, const char *why, uint32_t events) {
    if (record_failure(px, why)) return true;
    px->backoff_ns = px->backoff_ns ? px->backoff_ns * 2 : BACKOFF_MIN_NS;
    if (px->backoff_ns > BACKOFF_MAX_NS) px->backoff_ns = BACKOFF_MAX_NS;
    tbr_log(TB_LOG_ERROR, px->label, "plugin host of %s %s; restarting it in %llu ms and sending it the same %u event%s again",
            px->real->plugin->desc.name, why, (unsigned long long)(px->backoff_ns / 1000000u), events, events == 1 ? "" : "s");
    sleep_ns(px->backoff_ns);
    return false;
}

/* Whether a request sent ahead (tbr_proxy_codec_submit) still waits for its reply from the
 * current host: no other call may be made then, or its reply would be taken for theirs. */
bool tbr_px_ahead(const proxy *px) {
    for (uint32_t i = 0; px->ch && i < px->ninflight; i++)
        if (px->inflight[i].generation == px->generation) return true;
    return false;
}

int tbr_px_call_supervised(proxy *px, uint32_t type, uint32_t arg, uint64_t arg64, const tb_batch *b,
                           uint32_t events, tb_arena *arena, apply_fn apply, void *user) {
    char why[700];
    if (tbr_px_ahead(px)) {
        px->host->set_error(px->ctx, "a call was made while a batch sent ahead was still in its plugin host (a runtime bug)");
        return TB_EINVAL;
    }
    for (;;) {
        if (px->quarantined) return tbr_px_quarantined(px);
        why[0] = '\0';
        bool host_failed = false;
        int status = TB_OK;
        if (!px->ch) {
            int rc = tbr_px_host_start(px, &host_failed, why, sizeof why);
            if (rc && !host_failed) {
                px->host->set_error(px->ctx, why);
                return rc;
            }
        }
        if (!host_failed) {
            reply_view r;
            exchange_result x = tbr_px_exchange(px, type, arg, arg64, NULL, 0, b, NULL, arena, &r, &status, why, sizeof why);
            if (x == EX_REFUSED) {
                px->host->set_error(px->ctx, why);
                return status;
            }
            if (x == EX_OK) {
                status = r.head.status;
                if (status == TB_OK) status = apply(px, &r, user);
                else tbr_px_take_error(px, &r);
                tbr_iso_done(px->ch, TBR_CHAN_REPLIES, &r);
                if (px->backoff_ns && tbr_now_ns() - px->failed_at[(px->failures - 1) % MAX_FAILURES] > FAILURE_WINDOW_NS)
                    px->backoff_ns = 0; /* a quiet minute: the next failure restarts at once again */
                return status;
            }
        }
        if (tbr_px_note_failure(px, why, events)) return tbr_px_quarantined(px);
    }
}

/* call_supervised, with the thread's busy clock stopped: the call budget is this wait's
 * watchdog, so the engine's does not report it as a stage that stalls. */
int tbr_px_call(proxy *px, uint32_t type, uint32_t arg, uint64_t arg64, const tb_batch *b, uint32_t events,
                tb_arena *arena, apply_fn apply, void *user) {
    tbr_loop_thread_waits(true);
    int rc = tbr_px_call_supervised(px, type, arg, arg64, b, events, arena, apply, user);
    tbr_loop_thread_waits(false);
    return rc;
}
