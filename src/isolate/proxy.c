/* proxy.c - an isolated instance as the runtime sees it: the kinds' calls as requests to its
 * plugin host, and creation (proxy.h; the host and supervision are proxy_host.c's, a
 * connector's calls proxy_connector.c's). */
#define _GNU_SOURCE
#include "isolate/proxy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "host/context.h"
#include "host/loop.h"
#include "isolate/channel.h"
#include "isolate/proto.h"
#include "isolate/proxy_private.h"
#include "isolate/wire.h"
#include "plugin/signature.h"
#include "value/arena.h"
#include "value/clone.h"

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
int tbr_px_apply_append(proxy *px, const reply_view *r, void *user) {
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
    return tbr_px_call(st, TBR_ISO_OP_PROCESS, port, 0, in, in->count, out->arena, tbr_px_apply_append, out);
}

static int TB_CALL op_tick(void *st, uint64_t now, tb_batch *out) {
    return tbr_px_call(st, TBR_ISO_OP_TICK, 0, now, NULL, 0, out->arena, tbr_px_apply_append, out);
}

static void TB_CALL op_contraflow(void *st, const tb_contraflow *cf) {
    proxy *px = st;
    if (px->quarantined || !px->ch) return; /* a host that is down has no use for it */
    uint8_t text[12];
    memcpy(text, &cf->latency_ns, 8);
    memcpy(text + 8, &cf->port, 4);
    int status;
    char why[300] = "";
    if (tbr_px_exchange(px, TBR_ISO_OP_CONTRAFLOW, cf->kind, cf->event_id, text, sizeof text, NULL, NULL, NULL, NULL, &status,
                 why, sizeof why) == EX_HOST_FAILED)
        tbr_log(TB_LOG_WARN, px->label, "plugin host %s (it will be restarted at the next call)", why);
}

static int TB_CALL codec_decode(void *st, tb_batch *b) {
    return tbr_px_call(st, TBR_ISO_CODEC_DECODE, 0, 0, b, b->count, b->arena, apply_in_place, b);
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
    if (tbr_px_ahead(px)) {
        if (send_now(px, type, b, &seq)) return TB_EAGAIN;
    } else {
        int status;
        char why[700] = "";
        exchange_result x = tbr_px_send(px, type, 0, 0, NULL, 0, b, NULL, true, &seq, &status, why, sizeof why);
        if (x == EX_HOST_FAILED && tbr_px_note_failure(px, why, b->count)) return TB_EAGAIN; /* the call then says why */
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
        exchange_result x = tbr_px_receive(px, type, seq, b->arena, &r, &status, why, sizeof why);
        if (x == EX_OK) {
            rc = r.head.status;
            if (rc == TB_OK) rc = apply_in_place(px, &r, b);
            else tbr_px_take_error(px, &r);
            tbr_iso_done(px->ch, TBR_CHAN_REPLIES, &r);
            tbr_loop_thread_waits(false);
            return rc;
        }
        if (x == EX_HOST_FAILED && tbr_px_note_failure(px, why, b->count)) {
            tbr_loop_thread_waits(false);
            return tbr_px_quarantined(px);
        }
    }
    /* its host failed, now or since it was sent: the same batch again, on a new host */
    rc = tbr_px_call_supervised(px, type, 0, 0, b, b->count, b->arena, apply_in_place, b);
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
    return tbr_px_call(st, TBR_ISO_CODEC_ENCODE, 0, 0, b, b->count, b->arena, apply_in_place, b);
}

static int TB_CALL proc_process(void *st, const tb_batch *in, tb_batch *out) {
    return tbr_px_call(st, TBR_ISO_PROC_PROCESS, 0, 0, in, in->count, out->arena, tbr_px_apply_append, out);
}

static int TB_CALL proc_finish(void *st, tb_batch *out) {
    return tbr_px_call(st, TBR_ISO_PROC_FINISH, 0, 0, NULL, 0, out->arena, tbr_px_apply_append, out);
}

static void TB_CALL proxy_destroy(void *st) {
    proxy *px = st;
    if (px->ch) {
        reply_view r;
        int status;
        char why[300] = "";
        if (tbr_px_exchange(px, TBR_ISO_STOP, 0, 0, NULL, 0, NULL, NULL, px->arena, &r, &status, why, sizeof why) == EX_OK) {
            tbr_iso_done(px->ch, TBR_CHAN_REPLIES, &r);
            tbr_px_host_end(px, false, NULL, 0);
        } else if (why[0]) {
            tbr_log(TB_LOG_WARN, px->label, "plugin host %s while stopping", why);
        }
    }
    tbr_arena_free(px->arena);
    free(px);
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
    case TB_KIND_CONNECTOR:
        px->connector = true;
        tbr_px_connector_calls(&real->vt.connector, &px->comp.vt.connector);
        px->comp.vt.connector.create = never_create;
        px->comp.vt.connector.destroy = proxy_destroy;
        break;
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
    rc = tbr_px_host_start(px, &host_failed, why, sizeof why);
    if (rc) {
        rc = tbr_fail_into(err, n, rc, "%s: the plugin host %s: %s", label, host_failed ? "failed" : "refused", why);
        goto fail;
    }
    if (px->connector && (rc = tbr_px_conn_watch(px))) {
        tbr_px_host_end(px, true, NULL, 0);
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
        rc = tbr_px_host_spawn(px, why, sizeof why);
    else
        snprintf(why, sizeof why, "out of memory");
    if (rc == TB_OK) {
        reply_view r;
        int status = TB_OK;
        exchange_result x = tbr_px_exchange(px, TBR_ISO_DESCRIBE, 0, 0, NULL, 0, NULL, &req, a, &r, &status, why, sizeof why);
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
            tbr_px_host_end(px, false, NULL, 0);
        } else {
            rc = x == EX_REFUSED ? status : TB_EIO;
            if (x == EX_HOST_FAILED) {
                char tmp[1024];
                snprintf(tmp, sizeof tmp, "the plugin host describing it %s", why);
                snprintf(why, sizeof why, "%s", tmp);
            }
            tbr_px_host_end(px, true, NULL, 0);
        }
    }
    if (rc) tbr_fail_into(err, n, rc, "%s%s%s", strncmp(why, path, strlen(path)) ? path : "",
                          strncmp(why, path, strlen(path)) ? ": " : "", why);
    tbr_arena_free(px->arena);
    free(px);
    return rc;
}
