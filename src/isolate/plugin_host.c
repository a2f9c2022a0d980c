/*
 * plugin_host.c - `temblor plugin-host`: the child process that runs one isolated instance
 * (docs/isolation.md). The runtime starts it with the descriptors of a channel (channel.h) and
 * sends SETUP; the host then, in this order:
 *   1. copies the plugin's library into a memfd and checks that copy's signature under the
 *      isolated tier's policy (it can still read the library and the trust store);
 *   2. confines itself (sandbox.c) to what the operator granted;
 *   3. maps the copy, so the plugin's constructors already run confined, checks it is the
 *      plugin the runtime loaded, and creates the instance;
 * then serves the kind's calls (proto.h) until STOP, or until the runtime goes away.
 *
 * Host calls the plugin makes are served here: memory (accounted; past the limit the host
 * exits with TBR_HOST_EXIT_MEMORY, so the runtime restarts it), configuration, errors (sent
 * with the reply), logging (written to the stderr the runtime's log goes to, in its format).
 *
 * Ownership: everything lives until the process exits. Thread contract: one thread serves
 * the channel; the plugin may start its own.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/log.h"
#include "host/context.h"
#include "host/loop.h"
#include "isolate/channel.h"
#include "isolate/described.h"
#include "isolate/isolation.h"
#include "isolate/plugin_host.h"
#include "isolate/proto.h"
#include "isolate/sandbox.h"
#include "isolate/wire.h"
#include "plugin/instance.h"
#include "plugin/loader.h"
#include "plugin/registry.h"
#include "value/arena.h"

/* Address space the host may use beyond the plugin's memory limit: its channel (mapped twice),
 * libraries, stacks and the batches' arenas. */
#define HOST_AS_SLACK ((uint64_t)512 << 20)

/* The first chunk of the requests' arena, kept across requests: large enough for a batch and
 * its output, so a steady flow makes no allocation (and no page fault) per request. */
#define HOST_ARENA_CHUNK ((size_t)16 << 20)

typedef struct host {
    tbr_chan *ch;
    tbr_registry *reg;
    tbr_instance *inst;
    uint32_t kind;
    tb_arena *arena;   /* one request's batches; reset per request */
    tbr_loop *loop;    /* a connector's: its fd watches and timers run here */
    int parent;        /* the runtime's pidfd, or -1 */
    int own_callbacks; /* of a loop round: the host's own (a request arrived), not the plugin's */
    bool circuit_sent; /* the circuit state the runtime was last told */
    uint32_t metrics_sent;                /* metrics the runtime was told of */
    int64_t metric_sent[TBR_MAX_METRICS]; /* and the values it was last told */
} host;

static void on_over_limit(tb_context *ctx, size_t size, size_t limit) {
    tbr_log(TB_LOG_ERROR, tbr_context_label(ctx),
            "allocation of %zu bytes refused: over the memory limit of %zu bytes; the plugin host exits",
            size, limit);
    _exit(TBR_HOST_EXIT_MEMORY);
}

static void send_metrics(host *h);

/* Writes a reply: header, text, and the batch b or the value v (either may be NULL); before it,
 * the plugin's metrics that changed. */
static void reply(host *h, uint32_t type, uint64_t seq, int status, const char *text, const tb_batch *b,
                  const tb_value *v) {
    send_metrics(h);
    tbr_iso_msg hd = {.type = type, .status = status, .seq = seq};
    hd.text_len = (uint32_t)(text ? strnlen(text, TBR_ISO_MAX_TEXT) : 0);
    int rc = tbr_iso_write(h->ch, TBR_CHAN_REPLIES, &hd, text, b, v, -1);
    if (rc == TB_EINVAL || rc == TB_ENOMEM) {
        char why[160];
        if (rc == TB_EINVAL)
            snprintf(why, sizeof why, "the plugin's output cannot cross to the runtime (nested deeper than %d)",
                     TBR_WIRE_MAX_DEPTH);
        else
            snprintf(why, sizeof why, "the plugin's output is larger than the 1 GiB a message may be");
        hd = (tbr_iso_msg){.type = type, .status = rc, .seq = seq, .text_len = (uint32_t)strlen(why)};
        rc = tbr_iso_write(h->ch, TBR_CHAN_REPLIES, &hd, why, NULL, NULL, -1);
    }
    if (rc) _exit(rc == TB_ECLOSED ? TBR_HOST_EXIT_PARENT : TBR_HOST_EXIT_PROTOCOL);
    tbr_chan_publish(h->ch, TBR_CHAN_REPLIES);
}

static const char *str_of(const tb_value *setup, const char *key, char *buf, size_t size) {
    size_t len;
    const char *s = tb_value_str(tb_object_getz(setup, key), &len);
    snprintf(buf, size, "%.*s", s ? (int)len : 0, s ? s : "");
    return buf;
}

/* Loads, confines and creates, as the file comment says. TB_OK with the sandbox's report in
 * report, or the refusal in err. */
static int setup(host *h, const tb_value *s, char *report, size_t rn, char *err, size_t n) {
    char path[4096], plugin[128], version[64], component[128], label[256], trust[4096], mode[16], sig[16];
    str_of(s, "path", path, sizeof path);
    str_of(s, "plugin", plugin, sizeof plugin);
    str_of(s, "version", version, sizeof version);
    str_of(s, "component", component, sizeof component);
    str_of(s, "label", label, sizeof label);
    str_of(s, "trust", trust, sizeof trust);
    str_of(s, "sandbox", mode, sizeof mode);
    str_of(s, "signatures", sig, sizeof sig);
    h->kind = (uint32_t)tb_config_u64(s, "kind", 0);
    uint64_t limit = tb_config_u64(s, "memory_limit", 0);
    tbr_sig_policy pol;
    if (!tbr_signature_parse_policy(sig, &pol)) return tbr_fail_into(err, n, TB_EINVAL, "bad setup: signatures '%s'", sig);

    /* 1. the bytes, checked while the file and the trust store can still be read */
    tbr_plugin_copy copy = {.fd = -1};
    bool is_static = !strcmp(path, "(static)");
    char who[300];
    if (!is_static) {
        int rc = tbr_plugin_copy_checked(path, pol, trust, &copy, who, sizeof who, err, n);
        if (rc) return rc;
    }

    /* 2. the sandbox */
    tbr_sandbox_grants g;
    int rc = tbr_isolation_grants(tb_object_getz(s, "grant"), h->arena, &g, err, n);
    if (rc) goto fail;
#ifdef TBR_SANITIZED
    /* a sanitizer reserves terabytes of address space: only the accounting limits */
#else
    g.memory_bytes = limit ? limit + HOST_AS_SLACK : 0;
#endif
    rc = tbr_sandbox_apply(&g, !strcmp(mode, "degrade") ? TBR_SANDBOX_DEGRADE : TBR_SANDBOX_REQUIRE, report, rn,
                           err, n);
    if (rc) goto fail;

    /* 3. the plugin, mapped only now */
    tbr_plugin *p = NULL;
    if (is_static) {
        tbr_registry_add_static_plugins(h->reg);
        p = tbr_registry_find_plugin(h->reg, plugin);
    } else {
        rc = tbr_plugin_open_checked(&copy, &p, err, n);
        if (!rc) rc = tbr_registry_admit(h->reg, p, err, n);
        if (rc) return rc;
    }
    if (!p || strcmp(p->desc.name, plugin) || strcmp(p->desc.version, version))
        return tbr_fail_into(err, n, TB_EINVAL, "%s: is plugin '%s' %s now, not '%s' %s as the runtime loaded it", path,
                             p ? p->desc.name : "(none)", p ? p->desc.version : "", plugin, version);
    const tbr_component *c = tbr_registry_find(h->reg, h->kind, component);
    if (!c) return tbr_fail_into(err, n, TB_EINVAL, "%s: provides no %s '%s'", path, tbr_kind_name(h->kind), component);
    p->mem_limit = limit;
    if (limit) tbr_host_set_over_limit_handler(on_over_limit);
    const tb_value *config = tb_object_getz(s, "config");
    tb_value empty = tb_object();
    if (h->kind == TB_KIND_CONNECTOR) {
        /* a connector's fd watches and timers run on a loop of the host's own */
        if (!(h->loop = tbr_loop_new())) return tbr_fail_into(err, n, TB_ENOMEM, "out of memory");
        tbr_loop_set_owner(h->loop, true);
    }
    return tbr_instance_create(h->reg, c, label, config ? config : &empty, h->loop,
                               (uint32_t)tb_config_u64(s, "stream", 0), &h->inst, err, n);
fail:
    tbr_plugin_copy_discard(&copy);
    return rc;
}

/* DESCRIBE: as setup, confined with nothing granted, then the plugin's description in *out
 * instead of an instance (described.h). */
static int describe(host *h, const tb_value *s, tb_value *out, char *err, size_t n) {
    char path[4096], trust[4096], mode[16], sig[16], who[300];
    str_of(s, "path", path, sizeof path);
    str_of(s, "trust", trust, sizeof trust);
    str_of(s, "sandbox", mode, sizeof mode);
    str_of(s, "signatures", sig, sizeof sig);
    tbr_sig_policy pol;
    if (!tbr_signature_parse_policy(sig, &pol)) return tbr_fail_into(err, n, TB_EINVAL, "bad request: signatures '%s'", sig);
    tbr_plugin_copy copy;
    int rc = tbr_plugin_copy_checked(path, pol, trust, &copy, who, sizeof who, err, n);
    if (rc) return rc;
    tbr_sandbox_grants nothing = {0};
    char report[512] = "";
    rc = tbr_sandbox_apply(&nothing, !strcmp(mode, "degrade") ? TBR_SANDBOX_DEGRADE : TBR_SANDBOX_REQUIRE, report,
                           sizeof report, err, n);
    if (rc) {
        tbr_plugin_copy_discard(&copy);
        return rc;
    }
    tbr_plugin *p;
    rc = tbr_plugin_open_checked(&copy, &p, err, n);
    return rc ? rc : tbr_describe_plugin(p, h->arena, out);
}

/* The body of a request as a batch, in h->arena, its strings left in the ring (the request is
 * consumed only after the reply is written; the runtime, which wrote it, is trusted not to
 * change it). Exits on a malformed one: the runtime never writes those. */
static void body_batch(host *h, const uint8_t *body, size_t len, tb_batch *out) {
    char why[160];
    if (tbr_wire_decode_batch_in_place(body, len, h->arena, out, why, sizeof why)) {
        tbr_log(TB_LOG_ERROR, "plugin-host", "a request's batch does not decode: %s", why);
        _exit(TBR_HOST_EXIT_PROTOCOL);
    }
}

/* Serves one request, and releases it; false after STOP. */
static bool serve(host *h, tbr_iso_in *req) {
    const tbr_iso_msg *m = &req->head;
    const uint8_t *text = (const uint8_t *)req->text, *body = req->body;
    size_t blen = req->body_len;
    const tbr_component *c = h->inst->component;
    void *st = h->inst->state;
    tb_batch in = {0}, out = {.arena = h->arena};
    int rc = TB_OK;
    tbr_context_clear_error(h->inst->ctx);
    switch (m->type) {
    case TBR_ISO_OP_PROCESS:
        body_batch(h, body, blen, &in);
        rc = c->vt.op.process(st, m->arg, &in, &out);
        break;
    case TBR_ISO_OP_TICK:
        rc = c->vt.op.tick ? c->vt.op.tick(st, m->arg64, &out) : TB_OK;
        break;
    case TBR_ISO_OP_CONTRAFLOW: {
        tb_contraflow cf = {.struct_size = sizeof cf, .kind = m->arg, .event_id = m->arg64};
        if (m->text_len >= 12) {
            memcpy(&cf.latency_ns, text, 8);
            memcpy(&cf.port, text + 8, 4);
        }
        tbr_iso_done(h->ch, TBR_CHAN_REQUESTS, req);
        if (c->vt.op.contraflow) c->vt.op.contraflow(st, &cf);
        return true; /* no reply */
    }
    case TBR_ISO_CODEC_DECODE:
    case TBR_ISO_CODEC_ENCODE:
        body_batch(h, body, blen, &out);
        rc = m->type == TBR_ISO_CODEC_DECODE ? c->vt.codec.decode(st, &out) : c->vt.codec.encode(st, &out);
        break;
    case TBR_ISO_PROC_PROCESS:
        body_batch(h, body, blen, &in);
        rc = c->vt.processor.process(st, &in, &out);
        break;
    case TBR_ISO_PROC_FINISH:
        rc = c->vt.processor.finish ? c->vt.processor.finish(st, &out) : TB_OK;
        break;
    case TBR_ISO_CONN_LIFE: {
        const tb_connector_vtable *v = &c->vt.connector;
        int(TB_CALL * call)(void *) = m->arg == TBR_ISO_CONNECT  ? v->connect
                                      : m->arg == TBR_ISO_START  ? v->start
                                      : m->arg == TBR_ISO_PAUSE  ? v->pause
                                      : m->arg == TBR_ISO_RESUME ? v->resume
                                      : m->arg == TBR_ISO_DRAIN  ? v->drain
                                      : m->arg == TBR_ISO_STOP_CALL ? v->stop
                                                                    : NULL;
        rc = call ? call(st) : TB_OK;
        break;
    }
    case TBR_ISO_CONN_PULL: {
        uint32_t cap = m->arg ? m->arg : 256;
        out.events = tb_arena_alloc(h->arena, (size_t)cap * sizeof *out.events, 8);
        out.capacity = out.events ? cap : 0;
        rc = c->vt.connector.pull(st, &out);
        /* events pulled come back with TB_EAGAIN and TB_EOF too */
        reply(h, m->type, m->seq, rc, rc && rc != TB_EAGAIN && rc != TB_EOF ? tbr_context_error(h->inst->ctx) : NULL,
              rc == TB_OK || rc == TB_EAGAIN || rc == TB_EOF ? &out : NULL, NULL);
        tbr_iso_done(h->ch, TBR_CHAN_REQUESTS, req);
        return true;
    }
    case TBR_ISO_CONN_PUSH:
        body_batch(h, body, blen, &in);
        rc = c->vt.connector.push(st, &in);
        break;
    case TBR_ISO_CONN_ACK:
    case TBR_ISO_CONN_FAIL: {
        tb_value ids;
        char why[160];
        if (tbr_wire_decode_value(body, blen, h->arena, &ids, why, sizeof why) || ids.type != TB_BYTES || ids.len % 8)
            _exit(TBR_HOST_EXIT_PROTOCOL);
        tbr_iso_done(h->ch, TBR_CHAN_REQUESTS, req);
        void(TB_CALL * cb)(void *, const uint64_t *, uint32_t) =
            m->type == TBR_ISO_CONN_ACK ? c->vt.connector.ack : c->vt.connector.fail;
        if (cb && ids.len) cb(st, (const uint64_t *)(const void *)ids.as.bytes, ids.len / 8); /* 8-aligned in the arena */
        return true; /* no reply */
    }
    case TBR_ISO_CONN_SAVE: {
        tb_value saved = tb_null();
        rc = c->vt.connector.save ? c->vt.connector.save(st, h->arena, &saved) : TB_ENOTSUP;
        reply(h, m->type, m->seq, rc, rc ? tbr_context_error(h->inst->ctx) : NULL, NULL, rc ? NULL : &saved);
        tbr_iso_done(h->ch, TBR_CHAN_REQUESTS, req);
        return true;
    }
    case TBR_ISO_CONN_RESTORE: {
        tb_value saved;
        char why[160];
        if (tbr_wire_decode_value(body, blen, h->arena, &saved, why, sizeof why)) _exit(TBR_HOST_EXIT_PROTOCOL);
        rc = c->vt.connector.restore ? c->vt.connector.restore(st, &saved) : TB_OK;
        reply(h, m->type, m->seq, rc, rc ? tbr_context_error(h->inst->ctx) : NULL, NULL, NULL);
        tbr_iso_done(h->ch, TBR_CHAN_REQUESTS, req);
        return true;
    }
    case TBR_ISO_STOP:
        tbr_iso_done(h->ch, TBR_CHAN_REQUESTS, req);
        tbr_instance_destroy(h->inst);
        h->inst = NULL;
        reply(h, m->type, m->seq, TB_OK, NULL, NULL, NULL);
        return false;
    default:
        tbr_log(TB_LOG_ERROR, "plugin-host", "unknown request type %u", m->type);
        _exit(TBR_HOST_EXIT_PROTOCOL);
    }
    reply(h, m->type, m->seq, rc, rc ? tbr_context_error(h->inst->ctx) : NULL, rc ? NULL : &out, NULL);
    tbr_iso_done(h->ch, TBR_CHAN_REQUESTS, req); /* the request's bytes are no longer used */
    return true;
}

/* The next request, in *req. Exits when the runtime is gone or the request is malformed. */
static void next_request(host *h, tbr_iso_in *req) {
    int rc = tbr_iso_read(h->ch, TBR_CHAN_REQUESTS, -1, h->arena, req);
    if (rc) _exit(rc == TB_ECLOSED ? TBR_HOST_EXIT_PARENT : TBR_HOST_EXIT_PROTOCOL);
}

/* Tells the runtime what the connector told this host (wake, deliveries, circuit). */
static void note(host *h, uint32_t what, uint64_t token, int status) {
    tbr_iso_msg hd = {.type = TBR_ISO_NOTE, .status = status, .arg = what, .arg64 = token};
    int rc = tbr_iso_write(h->ch, TBR_CHAN_REPLIES, &hd, NULL, NULL, NULL, -1);
    if (rc) _exit(rc == TB_ECLOSED ? TBR_HOST_EXIT_PARENT : TBR_HOST_EXIT_PROTOCOL);
    tbr_chan_publish(h->ch, TBR_CHAN_REPLIES);
}

/* Tells the runtime of the plugin's metrics that are new or changed since it was last told. */
static void send_metrics(host *h) {
    if (!h->inst) return;
    tb_context *ctx = h->inst->ctx;
    uint32_t n = tbr_context_metric_count(ctx);
    for (uint32_t i = 0; i < n; i++) {
        const tbr_metric *m = tbr_context_metric(ctx, i);
        int64_t v = atomic_load_explicit(&((tbr_metric *)m)->value, memory_order_relaxed);
        if (i < h->metrics_sent && v == h->metric_sent[i]) continue;
        h->metric_sent[i] = v;
        tbr_iso_msg hd = {.type = TBR_ISO_NOTE, .status = (int32_t)m->type, .seq = i, .arg = TBR_ISO_NOTE_METRIC,
                          .arg64 = (uint64_t)v, .text_len = (uint32_t)strnlen(m->name, sizeof m->name)};
        int rc = tbr_iso_write(h->ch, TBR_CHAN_REPLIES, &hd, m->name, NULL, NULL, -1);
        if (rc) _exit(rc == TB_ECLOSED ? TBR_HOST_EXIT_PARENT : TBR_HOST_EXIT_PROTOCOL);
    }
    h->metrics_sent = n;
}


static void send_notes(host *h) {
    if (!h->inst || h->kind != TB_KIND_CONNECTOR) return;
    tb_context *ctx = h->inst->ctx;
    send_metrics(h);
    tbr_chan_publish(h->ch, TBR_CHAN_REPLIES);
    if (tbr_context_take_wake(ctx)) note(h, TBR_ISO_NOTE_WAKE, 0, 0);
    tbr_delivery d[64];
    size_t k;
    while ((k = tbr_context_take_deliveries(ctx, d, 64)))
        for (size_t i = 0; i < k; i++) note(h, TBR_ISO_NOTE_DELIVERED, d[i].token, d[i].status);
    uint32_t done[64];
    while ((k = tbr_context_take_streams_done(ctx, done, 64)))
        for (size_t i = 0; i < k; i++) note(h, TBR_ISO_NOTE_STREAM_DONE, done[i], 0);
    bool open = tbr_context_circuit_open(ctx);
    if (open != h->circuit_sent) {
        h->circuit_sent = open;
        note(h, TBR_ISO_NOTE_CIRCUIT, 0, open);
    }
}

static void TB_CALL on_request(void *user, int fd, uint32_t events) {
    host *h = user;
    (void)fd, (void)events;
    h->own_callbacks++; /* the loop woke: the requests are read after it */
}

static void TB_CALL on_parent_gone(void *user, int fd, uint32_t events) {
    (void)user, (void)fd, (void)events;
    _exit(TBR_HOST_EXIT_PARENT);
}

/* A connector's host: requests and the connector's own fd watches and timers, on one loop.
 * Returns after STOP. */
static void serve_connector(host *h) {
    uint64_t id;
    if (tbr_loop_watch(h->loop, tbr_chan_wake_fd(h->ch, TBR_CHAN_REQUESTS), TB_FD_READ, on_request, h, &id) ||
        (h->parent >= 0 && tbr_loop_watch(h->loop, h->parent, TB_FD_READ, on_parent_gone, h, &id)))
        _exit(TBR_HOST_EXIT_SETUP);
    for (;;) {
        tbr_iso_in req;
        int rc;
        while ((rc = tbr_iso_read(h->ch, TBR_CHAN_REQUESTS, 0, h->arena, &req)) == TB_OK) {
            if (!serve(h, &req)) return;
            send_notes(h);
            tbr_arena_reset(h->arena);
        }
        if (rc != TB_ETIMEDOUT) _exit(rc == TB_ECLOSED ? TBR_HOST_EXIT_PARENT : TBR_HOST_EXIT_PROTOCOL);
        send_notes(h);
        h->own_callbacks = 0;
        int ran = tbr_loop_run_once(h->loop, -1); /* the wake-up is armed: a request ends the wait */
        /* the runtime pulls a source again after any of its callbacks ran: tell it they did */
        if (ran > h->own_callbacks) note(h, TBR_ISO_NOTE_WAKE, 0, 0);
        send_notes(h);
    }
}

int tbr_plugin_host_main(int argc, char **argv) {
    if (argc != 3 || strcmp(argv[1], "--channel")) {
        fprintf(stderr, "temblor plugin-host: started by the runtime for an isolated instance "
                        "(docs/isolation.md), not by hand\n");
        return TBR_HOST_EXIT_USAGE;
    }
    tbr_chan_fds fds;
    host h = {0};
    if (tbr_chan_fds_parse(argv[2], &fds) || tbr_chan_attach(&fds, &h.ch)) {
        fprintf(stderr, "temblor plugin-host: --channel %s is not a channel\n", argv[2]);
        return TBR_HOST_EXIT_SETUP;
    }
    tbr_chan_set_spin(h.ch, tbr_isolation_spin_us());
    /* every wait also ends when the runtime does */
    int parent = (int)syscall(SYS_pidfd_open, getppid(), 0);
    if (parent >= 0) tbr_chan_watch_peer(h.ch, parent);
    h.parent = parent;
    if (!(h.reg = tbr_registry_new()) || !(h.arena = tbr_arena_new(HOST_ARENA_CHUNK))) return TBR_HOST_EXIT_SETUP;
    tbr_registry_set_log_refusals(h.reg, false);

    tbr_iso_in req;
    tb_value s;
    char err[2048] = "", report[1024] = "";
    tb_arena *setup_arena = tbr_arena_new(0);
    if (!setup_arena) _exit(TBR_HOST_EXIT_SETUP);
    next_request(&h, &req);
    if ((req.head.type != TBR_ISO_SETUP && req.head.type != TBR_ISO_DESCRIBE) ||
        tbr_wire_decode_value(req.body, req.body_len, setup_arena, &s, err, sizeof err) || s.type != TB_OBJECT)
        _exit(TBR_HOST_EXIT_SETUP);
    tbr_iso_done(h.ch, TBR_CHAN_REQUESTS, &req);
    if (req.head.type == TBR_ISO_DESCRIBE) {
        tb_value d;
        int rc = describe(&h, &s, &d, err, sizeof err);
        reply(&h, TBR_ISO_DESCRIBE, req.head.seq, rc, rc ? err : NULL, NULL, rc ? NULL : &d);
        tbr_chan_close(h.ch);
        return rc ? TBR_HOST_EXIT_SETUP : 0;
    }
    int rc = setup(&h, &s, report, sizeof report, err, sizeof err);
    reply(&h, TBR_ISO_SETUP, req.head.seq, rc, rc ? err : report, NULL, NULL);
    if (rc) {
        tbr_chan_close(h.ch);
        return TBR_HOST_EXIT_SETUP;
    }
    if (h.kind == TB_KIND_CONNECTOR) {
        serve_connector(&h);
    } else {
        do {
            tbr_arena_reset(h.arena);
            next_request(&h, &req);
        } while (serve(&h, &req));
    }
    tbr_chan_close(h.ch);
    return 0;
}
