/*
 * channel.h - the shared-memory channel between the runtime and one plugin host (the isolated
 * tier, docs/isolation.md): one memfd holding a small header and two single-producer,
 * single-consumer byte rings, "requests" from the runtime to the host and "replies" from the
 * host to the runtime. It carries opaque messages (their encoding is wire.h's business). A
 * message is written in place into the ring and read in place out of it, and no system call is
 * made per message: a side blocks only when its ring is empty (or full), and its peer signals
 * it, with one eventfd write, only when it said it is about to block. A burst of messages
 * therefore costs at most one wake-up, however many messages it holds.
 *
 * SHARED LAYOUT (version 1). Both processes map the same memfd; every integer is in the
 * machine's native byte order (the two processes always run on the same machine). With P the
 * header's size (4096, or the page size if larger) and C the capacity of each ring (a power of
 * two, at least the page size, at most 1 GiB):
 *
 *     memfd offset   size  content
 *     0              P     header
 *     P              C     requests ring data (runtime -> host)
 *     P + C          C     replies ring data (host -> runtime)
 *
 * The memfd is sealed against shrinking and growing (F_SEAL_SHRINK, F_SEAL_GROW, F_SEAL_SEAL),
 * so a hostile host cannot truncate it under the runtime's mapping (which would make the
 * runtime's next access to it a SIGBUS).
 *
 *     header offset  type              field
 *     0              u64               magic, the bytes "TBRCHAN1"
 *     8              u32               version, 1
 *     12             u32               header size P
 *     16             u64               ring capacity C
 *     24             _Atomic u32 [2]   closed[side]: 1 once that side closed its end
 *                                      (side 0 is the runtime, side 1 the host)
 *     64 + 256 * d   ring control of ring d (0 requests, 1 replies), one 64-byte line each:
 *       + 0          _Atomic u64       tail: bytes ever published by the producer
 *       + 64         _Atomic u64       head: bytes ever consumed by the consumer
 *       + 128        _Atomic u32       consumer_sleeping: 1 while the consumer is (about to
 *                                      be) blocked waiting for messages
 *       + 192        _Atomic u64       space_wanted: 0, or the head position the blocked
 *                                      producer needs before its next message fits
 *
 * Head and tail are positions in a stream of bytes that never wraps (2^64 bytes); the byte at
 * position p lives at offset p mod C of the ring's data. Each message is one record at a
 * position that is a multiple of 8: a u64 record header whose low 32 bits are the payload's
 * length L and whose high 32 bits are zero, then L bytes of payload, then padding to a multiple
 * of 8. The record's size is 8 + L rounded up to 8, at most C, so a message holds at most C - 8
 * bytes. A record may run past the end of the ring's data and go on at its start: there is no
 * wrap marker. Each process maps each ring's data twice, back to back, so that such a record
 * is contiguous in its address space (and its payload one plain pointer for the reader and
 * the writer); that mapping is local to a process, not part of the layout. It was chosen over
 * wrap markers because it removes a record type a corrupt peer could abuse, and because with
 * markers a message near C bytes fits only once the ring has drained to its very start.
 *
 * C11 atomics on the header are shared between two address spaces, which is sound only
 * because they are lock-free (and so address-free) on this platform; channel.c asserts that at
 * build time. The protocol (acq = acquire, rel = release, sc = a sequentially consistent
 * fence):
 *   - Produce: write records after tail, then store tail (rel). Then sc, then if
 *     consumer_sleeping is 1, exchange it to 0 and, if it was 1, write the ring's data eventfd.
 *   - Consume: load tail (acq), read records from head, store head (rel) after each one.
 *     Then sc, then if space_wanted is not 0 and head has reached it, exchange it to 0 and, if
 *     it was not 0, write the ring's space eventfd.
 *   - Block for messages: drain the data eventfd, store consumer_sleeping = 1, sc, load tail
 *     (acq) again, and only if the ring is still empty poll the eventfd (and the peer's pidfd)
 *     with the timeout. Block for room likewise, with space_wanted and the space eventfd.
 *     Either the producer's fence orders its load of the flag after the consumer's store, or
 *     the consumer's fence orders its load of tail after the producer's store: a wake-up is
 *     never lost.
 *   - Close: store closed[side] = 1 (rel) after the last publish, then write the eventfds
 *     the peer may be blocked on. A reader takes every message published before the close,
 *     then sees TB_ECLOSED.
 *
 * TRUST. The runtime trusts nothing the host can write. It keeps its own copy of every index
 * it owns and of the capacity, and reads from shared memory only what the host publishes: the
 * replies' tail, the requests' head, the record headers, the host's closed flag and the two
 * wake-up words. A tail that moves backwards, runs more than C ahead of head or is not a
 * multiple of 8, a head that moves backwards or past what was published, a record header with
 * a length longer than what was published or with its high bits set: each marks that ring
 * broken, and from then on its calls return TB_EINVAL (or NULL) rather than read out of
 * bounds; the runtime is expected to kill that host. A record header is read exactly once
 * (volatile). A payload, however, lies in memory the host can still write while the runtime
 * reads it: a decoder must treat it as hostile input (bound every length it reads, read each
 * byte once or copy the message first). The host can also steal or fake wake-ups (the eventfds
 * are shared): that costs the runtime at most spurious wake-ups or waiting out a timeout, never
 * a hang, since every wait has a timeout and may also watch the host's pidfd.
 *
 * PEER DEATH. A process that dies mid-write leaves a reserved, unpublished record, which its
 * peer never sees. The runtime learns of the death promptly either by letting the channel watch
 * the host's pidfd (tbr_chan_watch_peer: every blocking wait polls it too) or by telling it
 * (tbr_chan_mark_peer_dead, e.g. from its own event loop watching the pidfd, or after waitpid).
 * From then on waits return at once: tbr_chan_next hands out the messages that were published
 * before the death, then TB_ECLOSED; tbr_chan_wait_space returns TB_ECLOSED. A channel is not
 * reused after its host died: the restarted host gets a new one.
 *
 * OWNERSHIP. A channel owns its mappings and its five file descriptors (the memfd and four
 * eventfds, all close-on-exec and non-blocking), and tbr_chan_close releases them. The runtime
 * passes the numbers from tbr_chan_create to the host (fork, then tbr_chan_fds_keep_on_exec,
 * then exec with tbr_chan_fds_format's text in its arguments). A message pointer from
 * tbr_chan_reserve or tbr_chan_next points into the ring and is valid until the message is
 * published or consumed.
 *
 * THREAD AND PROCESS CONTRACT. Each side holds one end (tbr_chan_create: the runtime's,
 * tbr_chan_attach: the host's). At any moment one thread may produce on the ring its side
 * produces (reserve, wait_space, publish) and one thread may consume the ring its side consumes
 * (next, consume); they may be two different threads. tbr_chan_mark_peer_dead,
 * tbr_chan_watch_peer, tbr_chan_peer_gone, tbr_chan_max_message and tbr_chan_wake_fd may be
 * called from any thread; tbr_chan_close only once no other thread uses the channel.
 */
#ifndef TBR_ISOLATE_CHANNEL_H
#define TBR_ISOLATE_CHANNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <temblor/temblor.h>

/* The two rings (directions), by the index used in the layout. */
enum { TBR_CHAN_REQUESTS = 0, TBR_CHAN_REPLIES = 1 };
/* The two sides. The runtime produces requests and consumes replies; the host the opposite. */
enum { TBR_CHAN_RUNTIME = 0, TBR_CHAN_HOST = 1 };

#define TBR_CHAN_DEFAULT_CAPACITY ((size_t)4 << 20)
#define TBR_CHAN_MAX_CAPACITY ((size_t)1 << 30)
/* How long a side polls its ring (with a CPU pause hint) before it blocks in poll(2), in
 * microseconds. Blocking costs a wake-up: some 25 us on the 2-vCPU VM this was measured on
 * (bench_channel), so a round trip whose two sides both sleep takes about 50 us, one whose
 * two sides spin under 1 us. 20 us covers a peer's typical reply; it is burnt only when the
 * ring runs dry. */
#define TBR_CHAN_DEFAULT_SPIN_US 20u

typedef struct tbr_chan tbr_chan;

/* The descriptors of one channel: what the host needs to attach. data[d] is the eventfd the
 * consumer of ring d blocks on, space[d] the one its producer blocks on when the ring is full. */
typedef struct tbr_chan_fds {
    int mem;
    int data[2];
    int space[2];
} tbr_chan_fds;

/* Counters of one end, to see how well wake-ups are batched. Read them on a thread that uses
 * the channel, or once no other does (each counter is written by one thread, relaxed). */
typedef struct tbr_chan_stats {
    uint64_t published;    /* messages published on the ring this side produces */
    uint64_t wakeups_sent; /* publishes that found the consumer asleep and woke it */
    uint64_t space_waits;  /* times this side's producer blocked for room */
    uint64_t consumed;     /* messages consumed from the ring this side consumes */
    uint64_t sleeps;       /* times this side's consumer blocked for messages */
} tbr_chan_stats;

/* Runtime side. Creates a channel whose two rings hold `capacity` bytes each (a power of two,
 * from the page size to TBR_CHAN_MAX_CAPACITY), maps it, and writes into *child_fds the
 * descriptors to hand to the host (still owned by the channel: close them in the parent only
 * through tbr_chan_close). Returns TB_OK and *out, TB_EINVAL for a bad capacity, TB_ENOMEM or
 * TB_EIO (errno says which call failed). Control thread. */
int tbr_chan_create(size_t capacity, tbr_chan **out, tbr_chan_fds *child_fds);

/* Host side. Maps the channel from the descriptors it inherited and checks the header (magic,
 * version, sizes). On success the channel owns the descriptors (the memfd is closed at once,
 * the mapping keeps the memory); on failure they are left to the caller. Returns TB_OK and
 * *out, TB_EINVAL for a memfd that is not a channel, TB_ENOMEM or TB_EIO. */
int tbr_chan_attach(const tbr_chan_fds *fds, tbr_chan **out);

/* Marks this side closed in the header, wakes the peer, then unmaps and closes everything.
 * Reserved but unpublished messages are dropped. NULL is fine. */
void tbr_chan_close(tbr_chan *ch);

/* Clears close-on-exec on the five descriptors, so an exec'd host inherits them. Meant for the
 * child between fork and exec (it is async-signal-safe). TB_OK or TB_EIO. */
int tbr_chan_fds_keep_on_exec(const tbr_chan_fds *fds);
/* Writes the descriptors as text ("mem,data0,data1,space0,space1") into buf. TB_OK, or
 * TB_EINVAL if size is too small (40 bytes always suffice). */
int tbr_chan_fds_format(const tbr_chan_fds *fds, char *buf, size_t size);
/* Reads what tbr_chan_fds_format wrote. TB_OK or TB_EINVAL. */
int tbr_chan_fds_parse(const char *text, tbr_chan_fds *fds);

/* The largest message the channel can carry: the capacity minus 8. */
size_t tbr_chan_max_message(const tbr_chan *ch);

/* Producer. Reserves room for a message of len bytes after those already reserved, writes its
 * record header, and returns where to write its payload (8-byte aligned; valid until published).
 * Several messages may be reserved, then published together. Returns NULL when the ring has no
 * room now, and also when dir is not the ring this side produces, when len is over
 * tbr_chan_max_message, or when the ring is broken: tbr_chan_wait_space tells which. */
void *tbr_chan_reserve(tbr_chan *ch, uint32_t dir, size_t len);

/* Producer. Reserves all the room the ring has now (at most tbr_chan_max_message, at least min
 * bytes, or nothing: NULL), for a writer that learns a message's size by writing it; *len says
 * how much. Trim it with tbr_chan_trim_last before reserving anything else. */
void *tbr_chan_reserve_free(tbr_chan *ch, uint32_t dir, size_t min, size_t *len);

/* Producer. Shortens msg, the last message reserved and not yet published, to len bytes (at
 * most what was reserved), giving the rest back. TB_OK, or TB_EINVAL when msg is not that
 * message or len is longer. */
int tbr_chan_trim_last(tbr_chan *ch, uint32_t dir, void *msg, size_t len);

/* Producer. Gives back msg, the last message reserved and not yet published, whole. TB_OK or
 * TB_EINVAL as tbr_chan_trim_last. */
int tbr_chan_cancel_last(tbr_chan *ch, uint32_t dir, void *msg);

/* Producer. Publishes every reserved message (one release store) and wakes the consumer if it
 * said it sleeps. Returns TB_OK, TB_ECLOSED if the peer is known to be gone (nobody will read
 * them), or TB_EINVAL if dir is not the ring this side produces. */
int tbr_chan_publish(tbr_chan *ch, uint32_t dir);

/* Producer. Publishes what is reserved (a producer must not hold back messages while it waits
 * for the consumer), then waits until a message of len bytes fits, for at most timeout_ms
 * (negative: no limit; 0: do not block, but arm the wake-up so that tbr_chan_wake_fd becomes
 * readable when room returns). Returns TB_OK, TB_ETIMEDOUT, TB_ECLOSED when the peer is gone,
 * TB_EINVAL when len can never fit (over tbr_chan_max_message), the ring is broken or dir is not
 * the ring this side produces. */
int tbr_chan_wait_space(tbr_chan *ch, uint32_t dir, size_t len, int timeout_ms);

/* Consumer. Returns the oldest unconsumed message of ring dir in *msg and *len (the same one
 * again until tbr_chan_consume), waiting for one for at most timeout_ms (negative: no limit; 0:
 * do not block, but arm the wake-up so that tbr_chan_wake_fd becomes readable when a message
 * is published). Returns TB_OK; TB_ETIMEDOUT; TB_ECLOSED once the peer is gone and every
 * message it published was taken; TB_EINVAL when the ring is broken (the peer wrote an
 * impossible index or length: kill it) or dir is not the ring this side consumes. The
 * payload lies in memory the peer can write: see TRUST above. */
int tbr_chan_next(tbr_chan *ch, uint32_t dir, int timeout_ms, const void **msg, size_t *len);

/* Consumer. Releases the message tbr_chan_next returned (its room goes back to the producer,
 * which is woken if it waits for it). Does nothing if there is none. */
void tbr_chan_consume(tbr_chan *ch, uint32_t dir);

/* The eventfd an event loop may watch for ring dir: for its consumer, readable when messages
 * may have arrived; for its producer, when room may have returned. It fires only after a call
 * returned TB_ETIMEDOUT (such a call leaves the wake-up armed; with timeout 0 it returns at
 * once), and the channel drains it itself. The loop then calls again with timeout 0 until
 * TB_ETIMEDOUT; the fd may also fire spuriously. */
int tbr_chan_wake_fd(const tbr_chan *ch, uint32_t dir);

/* Makes every blocking wait also poll pidfd (a pidfd of the peer process, still owned by the
 * caller, open until the channel is closed or watch_peer(ch, -1)): once the peer exits, waits
 * return TB_ECLOSED at once. Any thread. */
void tbr_chan_watch_peer(tbr_chan *ch, int pidfd);
/* Records that the peer process is gone and wakes this side's waiting threads. Any thread. */
void tbr_chan_mark_peer_dead(tbr_chan *ch);
/* Whether the peer is known to be gone: marked dead, seen exiting through its pidfd, or
 * closed its end. Any thread. */
bool tbr_chan_peer_gone(tbr_chan *ch);

/* Sets how long, in microseconds, a waiting side polls its ring (yielding its core every 32
 * looks) before it blocks (default TBR_CHAN_DEFAULT_SPIN_US, never past the wait's timeout; 0
 * blocks at once, which saves CPU when the two processes share one core or latency does not
 * matter). A consumer whose last spin ended with no message spins a sixteenth of it, until a
 * message comes while it spins again: a busy flow never sleeps, an idle one hardly spins. Call
 * before other threads use the channel. */
void tbr_chan_set_spin(tbr_chan *ch, uint32_t microseconds);

/* Copies this end's counters. See tbr_chan_stats for when. */
void tbr_chan_get_stats(const tbr_chan *ch, tbr_chan_stats *out);

#endif
