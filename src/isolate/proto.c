/* proto.c - writing and reading one message of the isolated tier's protocol (proto.h). */
#include "isolate/proto.h"

#include <stdlib.h>
#include <string.h>

#include "isolate/wire.h"

/* A piece of a message too large for the channel: the magic (never a message type), whether
 * it is the last piece, the whole message's length, then the piece's bytes. */
#define FRAGMENT_MAGIC 0x47415246u /* "FRAG" */
#define FRAGMENT_HEAD 16u
/* The largest message reassembled from pieces. */
#define MAX_ASSEMBLED ((uint64_t)1 << 30)

/* The header and text of a message at m (head bytes). */
static void put_head(uint8_t *m, const tbr_iso_msg *hd, const char *text, size_t head) {
    memcpy(m, hd, sizeof *hd);
    size_t tl = hd->text_len;
    if (tl) memcpy(m + sizeof *hd, text, tl);
    memset(m + sizeof *hd + tl, 0, head - sizeof *hd - tl);
}

static int encode(const tb_batch *b, const tb_value *v, uint8_t *out, size_t cap, size_t *written) {
    return b ? tbr_wire_encode_batch(b, out, cap, written) : tbr_wire_encode_value(v, out, cap, written);
}

/* Sends the message at msg (len bytes, larger than the channel carries) in pieces, each
 * published at once, so the reader takes them as they come. */
static int write_pieces(tbr_chan *ch, uint32_t dir, const uint8_t *msg, size_t len, int timeout_ms) {
    size_t piece_max = (tbr_chan_max_message(ch) - FRAGMENT_HEAD) & ~(size_t)7;
    for (size_t off = 0; off < len;) {
        size_t n = len - off < piece_max ? len - off : piece_max;
        uint8_t *m;
        while (!(m = tbr_chan_reserve(ch, dir, FRAGMENT_HEAD + n))) {
            int rc = tbr_chan_wait_space(ch, dir, FRAGMENT_HEAD + n, timeout_ms);
            if (rc) return rc;
        }
        uint32_t magic = FRAGMENT_MAGIC, last = off + n == len;
        uint64_t total = len;
        memcpy(m, &magic, 4);
        memcpy(m + 4, &last, 4);
        memcpy(m + 8, &total, 8);
        memcpy(m + FRAGMENT_HEAD, msg + off, n);
        tbr_chan_publish(ch, dir);
        off += n;
    }
    return TB_OK;
}

int tbr_iso_write(tbr_chan *ch, uint32_t dir, const tbr_iso_msg *hd, const char *text, const tb_batch *b,
                  const tb_value *v, int timeout_ms) {
    size_t head = sizeof *hd + TBR_ISO_PAD8((size_t)hd->text_len), body = 0, cap;
    uint8_t *m;
    if (b || v) {
        /* most often it fits in the room the ring has: encode straight into it, and measure
         * only when it does not */
        if ((m = tbr_chan_reserve_free(ch, dir, head, &cap))) {
            int rc = encode(b, v, m + head, cap - head, &body);
            if (rc == TB_OK) {
                put_head(m, hd, text, head);
                return tbr_chan_trim_last(ch, dir, m, head + body);
            }
            tbr_chan_cancel_last(ch, dir, m);
            if (rc != TB_ENOMEM) return TB_EINVAL;
        } else {
            body = b ? tbr_wire_batch_size(b) : tbr_wire_value_size(v);
            if (!body) return TB_EINVAL;
        }
    }
    size_t len = head + body;
    if (len > tbr_chan_max_message(ch)) {
        if (len > MAX_ASSEMBLED) return TB_ENOMEM;
        uint8_t *whole = malloc(len);
        if (!whole) return TB_ENOMEM;
        put_head(whole, hd, text, head);
        int rc = body && encode(b, v, whole + head, body, NULL) != TB_OK ? TB_EINVAL
                                                                          : write_pieces(ch, dir, whole, len, timeout_ms);
        free(whole);
        return rc;
    }
    while (!(m = tbr_chan_reserve(ch, dir, len))) {
        int rc = tbr_chan_wait_space(ch, dir, len, timeout_ms);
        if (rc) return rc;
    }
    put_head(m, hd, text, head);
    if (body && encode(b, v, m + head, body, NULL) != TB_OK) {
        tbr_chan_cancel_last(ch, dir, m);
        return TB_EINVAL;
    }
    return TB_OK;
}

/* Reassembles a message sent in pieces, the first at msg, into arena. */
static int read_pieces(tbr_chan *ch, uint32_t dir, int timeout_ms, tb_arena *arena, const uint8_t *msg, size_t len,
                       const uint8_t **out, size_t *out_len) {
    uint64_t total;
    memcpy(&total, msg + 8, 8);
    if (!arena || total > MAX_ASSEMBLED || total < sizeof(tbr_iso_msg)) return TB_EINVAL;
    uint8_t *whole = tb_arena_alloc(arena, (size_t)total, 8);
    if (!whole) return TB_ENOMEM;
    size_t got = 0;
    for (;;) {
        uint32_t magic, last;
        uint64_t t;
        memcpy(&magic, msg, 4);
        memcpy(&last, msg + 4, 4);
        memcpy(&t, msg + 8, 8);
        size_t n = len - FRAGMENT_HEAD;
        if (magic != FRAGMENT_MAGIC || t != total || n > total - got) return TB_EINVAL;
        memcpy(whole + got, msg + FRAGMENT_HEAD, n);
        got += n;
        tbr_chan_consume(ch, dir);
        if (last) break;
        const void *next;
        int rc = tbr_chan_next(ch, dir, timeout_ms, &next, &len);
        if (rc) return rc;
        msg = next;
        if (len < FRAGMENT_HEAD) return TB_EINVAL;
    }
    if (got != total) return TB_EINVAL;
    *out = whole;
    *out_len = (size_t)total;
    return TB_OK;
}

int tbr_iso_read(tbr_chan *ch, uint32_t dir, int timeout_ms, tb_arena *arena, tbr_iso_in *in) {
    const void *msg;
    size_t len;
    int rc = tbr_chan_next(ch, dir, timeout_ms, &msg, &len);
    if (rc) return rc;
    const uint8_t *m = msg;
    uint32_t first = 0;
    if (len >= 4) memcpy(&first, m, 4);
    in->in_ring = first != FRAGMENT_MAGIC;
    if (!in->in_ring) {
        if (len < FRAGMENT_HEAD) return TB_EINVAL;
        if ((rc = read_pieces(ch, dir, timeout_ms, arena, m, len, &m, &len))) return rc;
    }
    if (len < sizeof in->head) return TB_EINVAL;
    memcpy(&in->head, m, sizeof in->head); /* read once: what is checked is what is used */
    size_t head = sizeof in->head + TBR_ISO_PAD8((size_t)in->head.text_len);
    if (in->head.text_len > TBR_ISO_MAX_TEXT || head > len) return TB_EINVAL;
    in->text = (const char *)m + sizeof in->head;
    in->body = m + head;
    in->body_len = len - head;
    return TB_OK;
}

void tbr_iso_done(tbr_chan *ch, uint32_t dir, tbr_iso_in *in) {
    if (in->in_ring) tbr_chan_consume(ch, dir);
    in->in_ring = false;
}
