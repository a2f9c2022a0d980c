/*
 * unix_handover.c - unix_socket_server's sockets across a reload of the plugin: save hands the
 * listening socket and every settled connection to the runtime ("temblor.handover/1"),
 * restore takes them into the new instance, so clients stay connected, their streams (and the
 * runtime's processors of those streams) go on, and the socket file is never missing.
 *
 * A connection with bytes still waiting to be written, or whose end has begun (hung up,
 * broken, given up, ended), is not handed over: stop closes it as before. Nothing moves when
 * the runtime has no handover (an older runtime, or an instance in a plugin host), or when
 * the new build numbers its streams differently (another max_connections). The saved value:
 *   {"listen": handle, "dev": N, "ino": N, "slot_bits": N, "gens": bytes,
 *    "conns": [{"fd": handle, "stream": N, "emitted": bool,
 *               "cred": [pid, uid, gid] (when the peer's credentials are known)}, ...]}
 *
 * Ownership and threads: see unix_socket.h; save and restore run on the instance's thread.
 */
#define _GNU_SOURCE
#include "unix_socket.h"

#include <unistd.h>

/* Appends key: v to obj. A slot tb_object_append returns is valid only until the next append
 * to the same object, so every member is filled as it is appended. */
static bool put(tb_arena *a, tb_value *obj, const char *key, tb_value v) {
    tb_value *slot = tb_object_append(a, obj, key, strlen(key));
    if (slot) *slot = v;
    return slot != NULL;
}

/* Whether c can move as it is: open both ways and nothing waiting to be written. */
static bool movable(const us_conn *c) {
    return c->fd >= 0 && !c->out_head && !c->ended && !c->hup && !c->write_dead && !c->closing && !c->throttled;
}

static int hand_over(us_inst *u, const tb_ext_handover *x, tb_arena *a, tb_value *conns, us_conn *c) {
    tb_value *item = tb_array_push(a, conns);
    if (!item) return TB_ENOMEM;
    *item = tb_object();
    uint64_t h = x->give_fd(u->ctx, c->fd);
    if (!h) return TB_ENOMEM;
    if (!put(a, item, "emitted", tb_bool(c->emitted)) || !put(a, item, "fd", tb_u64(h)) ||
        !put(a, item, "stream", tb_u64(c->stream)))
        return TB_ENOMEM;
    if (c->has_cred) {
        tb_value cred = tb_array();
        const uint64_t ids[3] = {(uint64_t)(uint32_t)c->pid, c->uid, c->gid};
        for (int i = 0; i < 3; i++) {
            tb_value *v = tb_array_push(a, &cred);
            if (!v) return TB_ENOMEM;
            *v = tb_u64(ids[i]);
        }
        if (!put(a, item, "cred", cred)) return TB_ENOMEM;
    }
    tbp_us_conn_release(u, c); /* the runtime holds the fd now; the stream goes on */
    return TB_OK;
}

int TB_CALL tbp_us_save(void *instance, tb_arena *a, tb_value *out) {
    us_inst *u = instance;
    const tb_ext_handover *x = u->host->get_extension(u->ctx, TB_EXT_HANDOVER);
    *out = tb_object();
    if (!x || !u->server || u->listen_fd < 0) return TB_OK; /* the new build starts afresh */
    uint64_t listen = x->give_fd(u->ctx, u->listen_fd);
    if (!listen) return TB_OK;
    tbp_us_release_listener(u);
    size_t gens_len = (size_t)u->nslots * sizeof *u->gens;
    void *copy = tb_arena_alloc(a, gens_len, 8);
    if (!copy) return TB_ENOMEM;
    memcpy(copy, u->gens, gens_len);
    if (!put(a, out, "listen", tb_u64(listen)) || !put(a, out, "dev", tb_u64((uint64_t)u->dev)) ||
        !put(a, out, "ino", tb_u64((uint64_t)u->ino)) || !put(a, out, "slot_bits", tb_u64(u->slot_bits)) ||
        !put(a, out, "gens", tb_bytes(copy, (uint32_t)gens_len)) || !put(a, out, "conns", tb_array()))
        return TB_ENOMEM;
    tb_value *conns = tb_object_getz(out, "conns"); /* the last member: no append moves it now */
    uint32_t moved = 0;
    for (uint32_t i = 0; i < u->nlive;) {
        us_conn *c = u->live[i];
        if (!movable(c)) {
            i++;
            continue;
        }
        int rc = hand_over(u, x, a, conns, c); /* c leaves live[]: i now names another one */
        if (rc != TB_OK) return rc;
        moved++;
    }
    tb_log(u->host, u->ctx, TB_LOG_INFO, "%s: handing the listening socket and %u connection%s to the new build (%u closed)",
           u->path, moved, moved == 1 ? "" : "s", u->nlive);
    return TB_OK;
}

static void adopt(us_inst *u, const tb_ext_handover *x, const tb_value *item) {
    int fd = x->take_fd(u->ctx, tb_config_u64(item, "fd", 0));
    if (fd < 0) return;
    us_conn *c = tbp_us_conn_adopt(u, fd, (uint32_t)tb_config_u64(item, "stream", 0));
    if (!c) {
        tb_log(u->host, u->ctx, TB_LOG_ERROR, "%s: closing a connection handed over: %s", u->path,
               "its slot is taken, or out of memory");
        close(fd);
        return;
    }
    c->emitted = tb_config_bool(item, "emitted", false);
    const tb_value *cred = tb_object_getz(item, "cred");
    if (cred && cred->type == TB_ARRAY && cred->len == 3) {
        c->has_cred = true;
        c->pid = (int32_t)cred->as.items[0].as.u;
        c->uid = (uint32_t)cred->as.items[1].as.u;
        c->gid = (uint32_t)cred->as.items[2].as.u;
    }
    if (tbp_us_conn_watch(u, c) != TB_OK) tbp_us_conn_give_up(u, c);
}

int TB_CALL tbp_us_restore(void *instance, const tb_value *saved) {
    us_inst *u = instance;
    const tb_ext_handover *x = u->host->get_extension(u->ctx, TB_EXT_HANDOVER);
    if (!x || !u->server || saved->type != TB_OBJECT || !tb_object_getz(saved, "listen")) return TB_OK;
    int fd = x->take_fd(u->ctx, tb_config_u64(saved, "listen", 0));
    if (fd < 0) return TB_OK;
    if (tbp_us_adopt_listener(u, fd, (dev_t)tb_config_u64(saved, "dev", 0), (ino_t)tb_config_u64(saved, "ino", 0)) !=
        TB_OK)
        return TB_OK; /* listens afresh in connect */
    /* streams are numbered by slot and generation: only the same numbering can take them */
    const tb_value *gens = tb_object_getz(saved, "gens"), *conns = tb_object_getz(saved, "conns");
    if (tb_config_u64(saved, "slot_bits", 0) != u->slot_bits || !gens || gens->type != TB_BYTES ||
        gens->len != (size_t)u->nslots * sizeof *u->gens) {
        tb_log(u->host, u->ctx, TB_LOG_WARN, "%s: took over the listening socket; its connections close (max_connections changed)",
               u->path);
        return TB_OK;
    }
    memcpy(u->gens, gens->as.bytes, gens->len);
    for (uint32_t i = 0; conns && conns->type == TB_ARRAY && i < conns->len; i++) adopt(u, x, &conns->as.items[i]);
    tb_log(u->host, u->ctx, TB_LOG_INFO, "%s: took over the listening socket and %u connection%s", u->path, u->nlive,
           u->nlive == 1 ? "" : "s");
    return TB_OK;
}
