/*
 * proto.h - the messages between the runtime and a plugin host over their channel (channel.h),
 * the isolated tier's protocol (docs/isolation.md, "The protocol").
 *
 * Every message starts with a tbr_iso_msg header (32 bytes, native byte order, as the channel),
 * then text_len bytes of text (an error or a report, not NUL-terminated) padded to a multiple
 * of 8, then the body to the end of the message: a wire batch or value (wire.h), or nothing.
 *
 * The runtime sends one request at a time and waits for its reply (same type, same seq),
 * except TBR_ISO_OP_CONTRAFLOW, which has none. Requests and their bodies:
 *   SETUP             value: what to load and run (plugin_host.c reads it); reply: status,
 *                     text the sandbox's report or the refusal
 *   OP_PROCESS        arg the input port, batch in; reply: batch out
 *   OP_TICK           arg64 now_ns; reply: batch out
 *   OP_CONTRAFLOW     arg kind, arg64 event id, text the 8-byte latency and 4-byte port; no reply
 *   CODEC_DECODE      batch; reply: the batch decoded (same events, in order)
 *   CODEC_ENCODE      batch; reply: the batch encoded
 *   PROC_PROCESS      batch in; reply: batch out
 *   PROC_FINISH       nothing; reply: batch out
 *   STOP              nothing; reply: empty; the host then exits 0
 *   DESCRIBE          value: the library and the policies (instead of SETUP, for a plugin the
 *                     runtime never maps, described.h); reply: the description as a value,
 *                     and the host exits
 * A connector's calls:
 *   CONN_LIFE         arg which call (TBR_ISO_CONNECT...); reply: status
 *   CONN_PULL         arg the batch's capacity; reply: status (TB_OK, TB_EAGAIN, TB_EOF or an
 *                     error) and the events pulled (with TB_EAGAIN and TB_EOF too)
 *   CONN_PUSH         batch (its token kept); reply: status (TB_EPENDING: a NOTE follows)
 *   CONN_ACK, _FAIL   value: the ids as bytes (u64 each); no reply
 *   CONN_SAVE         nothing; reply: the saved value
 *   CONN_RESTORE      value; reply: status
 * and from the host at any time, between replies, NOTE (seq 0): arg TBR_ISO_NOTE_WAKE (the
 * source has data), TBR_ISO_NOTE_DELIVERED (arg64 a pushed batch's token, status its outcome),
 * TBR_ISO_NOTE_CIRCUIT (status 1 open, 0 closed) or TBR_ISO_NOTE_STREAM_DONE (arg64 a stream
 * the sink half said is over, "temblor.streams/1"). Hosts of every kind also write, before a
 * reply, TBR_ISO_NOTE_METRIC for each metric of the plugin's that changed: text its name, status
 * its type, arg64 its value (two's complement), seq its index in the host (the order the plugin
 * registered them).
 * A reply's status is the callback's; its text, when the status is not TB_OK, what the plugin
 * gave set_error.
 *
 * A message larger than the channel carries (a batch of huge events) crosses in pieces, each a
 * channel message of its own: u32 0x47415246 ("FRAG", never a message type), u32 1 on the last
 * piece and 0 before, u64 the whole message's length, then the piece's bytes. The reader takes
 * them as they come and reassembles the message in its arena, up to 1 GiB.
 *
 * Exit codes of a plugin host that ends by itself (the runtime names them in its log).
 * Ownership and threads: plain data; see channel.h and wire.h.
 */
#ifndef TBR_ISOLATE_PROTO_H
#define TBR_ISOLATE_PROTO_H

#include <stdbool.h>
#include <stdint.h>
#include <temblor/temblor.h>

#include "isolate/channel.h"

enum {
    TBR_ISO_SETUP = 1,
    TBR_ISO_OP_PROCESS = 2,
    TBR_ISO_OP_TICK = 3,
    TBR_ISO_OP_CONTRAFLOW = 4,
    TBR_ISO_CODEC_DECODE = 5,
    TBR_ISO_CODEC_ENCODE = 6,
    TBR_ISO_PROC_PROCESS = 7,
    TBR_ISO_PROC_FINISH = 8,
    TBR_ISO_STOP = 9,
    TBR_ISO_DESCRIBE = 10,
    TBR_ISO_CONN_LIFE = 11,
    TBR_ISO_CONN_PULL = 12,
    TBR_ISO_CONN_PUSH = 13,
    TBR_ISO_CONN_ACK = 14,
    TBR_ISO_CONN_FAIL = 15,
    TBR_ISO_CONN_SAVE = 16,
    TBR_ISO_CONN_RESTORE = 17,
    TBR_ISO_NOTE = 18
};

/* CONN_LIFE's arg: which of a connector's lifecycle calls. */
enum { TBR_ISO_CONNECT = 1, TBR_ISO_START, TBR_ISO_PAUSE, TBR_ISO_RESUME, TBR_ISO_DRAIN, TBR_ISO_STOP_CALL };

/* NOTE's arg: what a connector in a host told its host, for the runtime to tell its own. */
enum {
    TBR_ISO_NOTE_WAKE = 1,
    TBR_ISO_NOTE_DELIVERED = 2,
    TBR_ISO_NOTE_CIRCUIT = 3,
    TBR_ISO_NOTE_METRIC = 4,
    TBR_ISO_NOTE_STREAM_DONE = 5
};

typedef struct tbr_iso_msg {
    uint32_t type;     /* TBR_ISO_* */
    int32_t status;    /* replies: the callback's status */
    uint64_t seq;      /* the request's number, echoed by its reply */
    uint32_t arg;      /* OP_PROCESS: input port; OP_CONTRAFLOW: kind */
    uint32_t text_len; /* bytes of text after the header, before the padding */
    uint64_t arg64;    /* OP_TICK: now_ns; OP_CONTRAFLOW: event id */
} tbr_iso_msg;

_Static_assert(sizeof(tbr_iso_msg) == 32, "the message header is 32 bytes");

#define TBR_ISO_PAD8(n) (((n) + 7u) & ~(size_t)7u)
/* The most text a message carries (longer errors are cut). */
#define TBR_ISO_MAX_TEXT 4096u

/* (clear of 1, 66 and 77, the sanitizers' exit codes, so a report names the right cause) */
enum {
    TBR_HOST_EXIT_USAGE = 90,    /* started wrongly (not by the runtime) */
    TBR_HOST_EXIT_SETUP = 91,    /* the channel or the setup message was unusable */
    TBR_HOST_EXIT_MEMORY = 92,   /* the plugin went past its memory limit */
    TBR_HOST_EXIT_PROTOCOL = 93, /* a request it could not read */
    TBR_HOST_EXIT_PARENT = 94    /* the runtime went away */
};

/* Reserves and writes a message into ring dir of ch: the header hd (its text_len says how much
 * of text), and the batch b or the value v encoded as its body (both NULL: none). It is left
 * reserved, for tbr_chan_publish. Waits for room for at most timeout_ms (negative: no limit).
 * TB_OK; TB_EINVAL when the body cannot be encoded (nested too deeply); TB_ENOMEM when the
 * message is larger than the channel can carry; TB_ETIMEDOUT or TB_ECLOSED from the wait. */
int tbr_iso_write(tbr_chan *ch, uint32_t dir, const tbr_iso_msg *hd, const char *text, const tb_batch *b,
                  const tb_value *v, int timeout_ms);

/* One message read: its header (copied out of shared memory), and where its text and body
 * are: in the ring (in_ring; valid until tbr_iso_done) or, for one that came in pieces, in the
 * reader's arena. */
typedef struct tbr_iso_in {
    tbr_iso_msg head;
    const char *text;
    const uint8_t *body;
    size_t body_len;
    bool in_ring;
} tbr_iso_in;

/* Reads the next message of ring dir, waiting for at most timeout_ms per piece (negative: no
 * limit), reassembling one sent in pieces in arena. TB_OK; the errors of tbr_chan_next; TB_EINVAL
 * for a message too short for its header, text longer than TBR_ISO_MAX_TEXT or pieces that do
 * not add up; TB_ENOMEM when arena cannot hold a reassembled one. */
int tbr_iso_read(tbr_chan *ch, uint32_t dir, int timeout_ms, tb_arena *arena, tbr_iso_in *in);

/* Releases a message tbr_iso_read returned (consumes it when it is in the ring). */
void tbr_iso_done(tbr_chan *ch, uint32_t dir, tbr_iso_in *in);

#endif
