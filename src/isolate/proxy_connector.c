/* proxy_connector.c - an isolated connector's calls, and the notes its plugin host sends
 * between replies (wake, deliveries, circuit), heard from the instance's loop (proxy.h). */
#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "host/context.h"
#include "host/loop.h"
#include "isolate/channel.h"
#include "isolate/proto.h"
#include "isolate/proxy.h"
#include "isolate/proxy_private.h"
#include "isolate/wire.h"

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
            tbr_px_host_end(px, true, why, sizeof why);
            conn_host_failed(px, why);
            px->host->wake(px->ctx); /* so the runtime calls it, hears the error and restarts it */
            return;
        }
        tbr_px_take_note(px, &r);
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
    exchange_result x = tbr_px_exchange(px, type, arg, 0, NULL, 0, b, v, arena, r, &status, why, sizeof why);
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
    if (rc != TB_OK && rc != TB_EPENDING && rc != TB_EAGAIN) tbr_px_take_error(px, &r);
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
        int applied = r.body_len ? tbr_px_apply_append(px, &r, out) : TB_OK;
        if (applied) rc = applied;
    } else {
        tbr_px_take_error(px, &r);
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
    if (tbr_px_exchange(px, type, 0, 0, NULL, 0, NULL, &v, NULL, NULL, &status, why, sizeof why) == EX_HOST_FAILED) {
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
        tbr_px_take_error(px, &r);
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
    tbr_px_host_end(px, false, why, sizeof why);
    conn_host_failed(px, why);
    px->host->wake(px->ctx);
}

/* Watches the host from the instance's loop. TB_OK, or the host API's error. */
int tbr_px_conn_watch(proxy *px) {
    int rc = px->host->fd_watch(px->ctx, tbr_chan_wake_fd(px->ch, TBR_CHAN_REPLIES), TB_FD_READ, on_replies, px,
                                &px->watch_replies);
    if (!rc && px->pidfd >= 0) rc = px->host->fd_watch(px->ctx, px->pidfd, TB_FD_READ, on_host_exit, px, &px->watch_pid);
    if (!rc) drain_notes(px); /* arms the wake-up */
    return rc;
}


void tbr_px_connector_calls(const tb_connector_vtable *v, tb_connector_vtable *out) {
    *out = (tb_connector_vtable){
        .struct_size = sizeof(tb_connector_vtable), .flags = v->flags, .connect = v->connect ? conn_connect : NULL,
        .start = v->start ? conn_start : NULL, .pause = v->pause ? conn_pause : NULL,
        .resume = v->resume ? conn_resume : NULL, .drain = v->drain ? conn_drain : NULL,
        .stop = v->stop ? conn_stop : NULL, .pull = v->pull ? conn_pull : NULL, .ack = v->ack ? conn_ack : NULL,
        .fail = v->fail ? conn_fail : NULL, .push = v->push ? conn_push : NULL,
        .save = v->save ? conn_save : NULL, .restore = v->restore ? conn_restore : NULL};
}
