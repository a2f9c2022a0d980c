/*
 * wire.h - the isolated tier's wire format: batches and values as flat bytes, to cross the
 * shared memory between the runtime and a plugin host (docs/isolation.md).
 *
 * The encoder writes into memory the caller reserved (tbr_wire_batch_size says how much);
 * the decoder rebuilds tb_batch and tb_value in the caller's arena. Decoding trusts nothing:
 * the peer may have crashed halfway through a write, or may be hostile.
 *
 * Layout, version 1. Every integer is little-endian and fixed-width. Every record starts at
 * a multiple of 8 bytes from the start of the message and every message is a multiple of 8
 * bytes long (records align without padding of their own, except strings).
 *
 *   batch     = header event*
 *   header    = u32 magic      bytes "TBW" then the version, 1: 0x01574254 as a u32
 *               u32 count      the number of events that follow
 *               u64 token      tb_batch.token
 *   event     = u64 id         tb_event.id
 *               u64 ingest_ns  tb_event.ingest_ns
 *               u32 stream     tb_event.stream
 *               u16 port       tb_event.port
 *               u16 flags      tb_event.flags (TB_EF_*, every bit kept)
 *               u32 source     tb_event.source
 *               u32 reserved   zero
 *               value          data
 *               value          meta
 *   value     = head payload   (head: the first 8 bytes of a tb_value, as its layout has them)
 *   head      = u8  type       TB_NULL .. TB_OBJECT
 *               u8  flags      TB_VF_NO_ESCAPE on a string, else zero
 *               u16 reserved   zero
 *               u32 len        meaning by type, below
 *   payload by type:
 *     null             nothing; len 0
 *     bool             nothing; len is the value, 0 or 1
 *     i64, u64, f64    8 bytes: the integer, or the IEEE 754 bits of the double (NaN payloads
 *                      and -0.0 kept); len 0
 *     string, bytes    len octets, then zero bytes up to the next multiple of 8
 *     array            len values, in order
 *     object           len members, in order (duplicate keys kept, as decoders make them)
 *   member    = u32 key_len
 *               u32 key_flags  TB_VF_NO_ESCAPE or zero (tb_member.reserved)
 *               key_len octets of key, then zero bytes up to the next multiple of 8
 *               value
 *
 * A single value (tbr_wire_encode_value) is the value record alone, with no header: the
 * message that carries it says what it is.
 *
 * What a round trip keeps: every type, every number bit for bit, string and byte contents,
 * item and member order, event fields, the batch token, TB_VF_NO_ESCAPE on strings and
 * keys. What it does not keep: TB_VF_CAP_POW2 (decoded arrays and objects hold exactly len
 * slots, so the flag is clear), the pointers' identity (strings shared by two values are
 * written twice), tb_batch.capacity (the decoded batch's capacity is its count), and
 * reserved fields (always zero).
 *
 * The decoder refuses (TB_EINVAL, "byte N: what is wrong") a message that is truncated or
 * has bytes after its end, a wrong magic or version, an unknown type, a non-zero reserved
 * field or padding byte, a flag where none is allowed, a bool other than 0 or 1, a count or
 * a length that cannot fit in what remains of the message, and nesting deeper than
 * TBR_WIRE_MAX_DEPTH arrays and objects. Strings and keys are not checked for UTF-8, only
 * for bounds. TB_VF_NO_ESCAPE is a promise a JSON encoder acts on, so it is never taken on
 * trust from a peer: tbr_wire_decode_value checks it (no '"', '\\' or byte below 0x20) and clears
 * it where it does not hold; tbr_wire_decode_batch, the runtime's reader of a host's batches,
 * drops it unchecked (checking cost a quarter of the decode, and whoever writes the strings as
 * JSON looks at them anyway); tbr_wire_decode_batch_in_place, a host's reader of the runtime's
 * requests, keeps it.
 *
 * Memory: the decoder copies the whole message into the arena once and points strings, bytes
 * and keys into that copy. It then reads only the copy, so a peer that writes into the shared
 * memory while a message is decoded cannot change what was checked. It allocates the copy,
 * the event array and exactly one slot array per non-empty array or object: every slot stands
 * for at least 8 bytes of the message (16 for a member), so a message of N bytes makes the
 * decoder allocate at most about 3N bytes, whatever its counts claim.
 *
 * Thread contract: every function is reentrant and may be called on any thread; the arena is
 * used by one thread at a time, as always.
 */
#ifndef TBR_ISOLATE_WIRE_H
#define TBR_ISOLATE_WIRE_H

#include <stddef.h>
#include <stdint.h>
#include <temblor/temblor.h>

#define TBR_WIRE_VERSION 1u
/* "TBW" and the version, read as a little-endian u32. */
#define TBR_WIRE_MAGIC (0x00574254u | (TBR_WIRE_VERSION << 24))
/* Bytes of the batch header and of an event's fixed fields. */
#define TBR_WIRE_HEADER_SIZE 16u
#define TBR_WIRE_EVENT_FIXED_SIZE 32u
/* The most arrays and objects a value may be nested in, for the encoder and the decoder:
 * the same as the JSON and msgpack codecs, so whatever they decode can cross. Both walk
 * values with a stack of this many frames of their own (8 KiB), not by recursion. */
#define TBR_WIRE_MAX_DEPTH 512

/* The exact number of bytes tbr_wire_encode_value writes for v, or 0 when v cannot be
 * encoded (an unknown type, or nesting deeper than TBR_WIRE_MAX_DEPTH). */
size_t tbr_wire_value_size(const tb_value *v);

/* The exact number of bytes tbr_wire_encode_batch writes for b, or 0 when b cannot be
 * encoded (as for a value, in any event's data or meta). */
size_t tbr_wire_batch_size(const tb_batch *b);

/* Encodes value v into out[0..cap). Returns TB_OK with the size in *written; TB_ENOMEM when
 * cap is too small, with the size needed in *written; TB_EINVAL when v cannot be encoded
 * (see tbr_wire_value_size), with 0 in *written. written may be NULL. On failure out holds
 * an unspecified part of the encoding. Nothing is allocated. */
int tbr_wire_encode_value(const tb_value *v, uint8_t *out, size_t cap, size_t *written);

/* Encodes batch b (its token and its count events) into out[0..cap), as
 * tbr_wire_encode_value does a value. The arena of b is not touched. A caller may skip
 * tbr_wire_batch_size (about a third of the cost of encoding) by encoding straight into the
 * free space it has, and measuring only when that returns TB_ENOMEM. */
int tbr_wire_encode_batch(const tb_batch *b, uint8_t *out, size_t cap, size_t *written);

/* Decodes the one value record in[0..len) into *out, allocating in arena: the copy of the
 * message, and the slots of arrays and objects. The decoded value lives as long as the
 * arena's allocations; in may be reused as soon as this returns. Returns TB_OK; TB_EINVAL
 * with "byte N: reason" in err when the message is malformed; TB_ENOMEM ("out of memory")
 * when the arena is exhausted. err is always NUL-terminated on failure when err_size > 0.
 * On failure *out is untouched, and what was allocated stays in the arena until it is
 * reset. */
int tbr_wire_decode_value(const uint8_t *in, size_t len, tb_arena *arena, tb_value *out,
                          char *err, size_t err_size);

/* Decodes the batch message in[0..len) into *out, as tbr_wire_decode_value does a value:
 * out->events (count slots, capacity count) and every value live in arena, out->arena is
 * arena, out->token the message's token and out->reserved zero. What the fields mean (an
 * id, a source, a port within range) is the caller's to check, as for any plugin's output. */
int tbr_wire_decode_batch(const uint8_t *in, size_t len, tb_arena *arena, tb_batch *out,
                          char *err, size_t err_size);

/* tbr_wire_decode_batch without the copy: strings, bytes and keys point into in, which must be
 * 8-byte aligned and stay unchanged while the batch is used. Every check is made all the same.
 * For a reader that trusts the writer not to change the message under it: a plugin host
 * reading the runtime's requests, never the runtime reading a host's replies. */
int tbr_wire_decode_batch_in_place(const uint8_t *in, size_t len, tb_arena *arena, tb_batch *out, char *err,
                                   size_t err_size);

#endif
