/* proto.c - writing one message of the isolated tier's protocol into a channel (proto.h). */
#include "isolate/proto.h"

#include <string.h>

#include "isolate/wire.h"

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
    if (len > tbr_chan_max_message(ch)) return TB_ENOMEM;
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
