/* channel.c - the shared-memory channel (channel.h has the layout, the protocol and the
 * contracts). Each end keeps its own copies of the indices it owns and of the capacity, and
 * only ever reads from shared memory what the peer publishes, checking it before use. */
#define _GNU_SOURCE
#include "isolate/channel.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Both processes operate on the same atomics through different mappings: that is only
 * defined when they are lock-free (address-free), which this platform must guarantee. */
_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "_Atomic uint32_t must be lock-free");
_Static_assert(ATOMIC_LONG_LOCK_FREE == 2 && sizeof(long) == 8, "_Atomic uint64_t must be lock-free");
_Static_assert(sizeof(_Atomic uint64_t) == 8 && sizeof(_Atomic uint32_t) == 4, "plain-sized atomics");

#define CHAN_MAGIC UINT64_C(0x314e414843524254) /* "TBRCHAN1" in little-endian byte order */
#define CHAN_VERSION 1u
#define CHAN_MIN_HEADER 4096u
#define RECORD_HEADER 8u

/* One ring's control words, one cache line each, so the producer's and the consumer's
 * stores do not bounce the same line. */
typedef struct ring_ctl {
    _Alignas(64) _Atomic uint64_t tail;
    _Alignas(64) _Atomic uint64_t head;
    _Alignas(64) _Atomic uint32_t consumer_sleeping;
    _Alignas(64) _Atomic uint64_t space_wanted;
} ring_ctl;

typedef struct chan_header {
    uint64_t magic;
    uint32_t version;
    uint32_t header_size;
    uint64_t capacity;
    _Atomic uint32_t closed[2];
    ring_ctl ring[2];
} chan_header;

/* The layout documented in channel.h. */
_Static_assert(offsetof(chan_header, version) == 8, "layout");
_Static_assert(offsetof(chan_header, header_size) == 12, "layout");
_Static_assert(offsetof(chan_header, capacity) == 16, "layout");
_Static_assert(offsetof(chan_header, closed) == 24, "layout");
_Static_assert(offsetof(chan_header, ring) == 64, "layout");
_Static_assert(sizeof(ring_ctl) == 256, "layout");
_Static_assert(offsetof(ring_ctl, head) == 64, "layout");
_Static_assert(offsetof(ring_ctl, consumer_sleeping) == 128, "layout");
_Static_assert(offsetof(ring_ctl, space_wanted) == 192, "layout");
_Static_assert(sizeof(chan_header) <= CHAN_MIN_HEADER, "layout");

/* Counters written by one thread, read by any: relaxed loads and stores, no locked RMW. */
typedef _Atomic uint64_t counter;

static void count(counter *c, uint64_t n) {
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n, memory_order_relaxed);
}

/* This process's view of one ring. */
typedef struct chan_ring {
    ring_ctl *ctl;
    uint8_t *data; /* 2 * capacity bytes: the ring's data mapped twice, back to back */
    int data_fd;   /* the consumer blocks on it */
    int space_fd;  /* the producer blocks on it */
    bool produce;  /* this side is the producer (else the consumer) */
    bool broken;   /* the peer published an impossible index or length */
    /* producer */
    uint64_t tail;      /* published */
    uint64_t reserved;  /* end of the reserved records, >= tail */
    uint64_t head_seen; /* the consumer's head as last read and checked */
    uint64_t pending;   /* records reserved, not published */
    /* consumer */
    uint64_t head;
    uint64_t tail_seen; /* the producer's tail as last read and checked */
    uint64_t current;   /* size of the record tbr_chan_next handed out, 0 if none */
    bool spun_in_vain;  /* the last wait spun and no message came: spin less until one does */
    const void *current_msg;
    size_t current_len;
    /* counters */
    counter published, wakeups_sent, space_waits, consumed, sleeps;
} chan_ring;

struct tbr_chan {
    uint32_t side;
    size_t capacity;
    size_t header_size;
    chan_header *header;
    uint8_t *rings;      /* 4 * capacity bytes of address space: both double mappings */
    chan_ring ring[2];
    tbr_chan_fds fds;
    uint64_t spin_ns;
    _Atomic int peer_pidfd;
    _Atomic bool peer_dead;
};

/* ---------------------------------------------------------------------------------------
 * Small helpers
 * ------------------------------------------------------------------------------------- */

static uint64_t record_size(uint64_t len) {
    return RECORD_HEADER + ((len + 7) & ~(uint64_t)7);
}

static size_t header_size_here(void) {
    long page = sysconf(_SC_PAGESIZE);
    return page > (long)CHAN_MIN_HEADER ? (size_t)page : CHAN_MIN_HEADER;
}

static bool valid_capacity(uint64_t capacity, size_t page) {
    return capacity >= page && capacity <= TBR_CHAN_MAX_CAPACITY && (capacity & (capacity - 1)) == 0;
}

static void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ volatile("yield");
#endif
}

static void signal_fd(int fd) {
    uint64_t one = 1;
    /* EAGAIN means the counter is already huge, so the fd is readable anyway */
    ssize_t n = write(fd, &one, sizeof one);
    (void)n;
}

static void drain_fd(int fd) {
    uint64_t value;
    ssize_t n = read(fd, &value, sizeof value);
    (void)n;
}

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* A deadline of UINT64_MAX means none; timeout 0 gives a deadline already passed. */
static uint64_t deadline_after(int timeout_ms) {
    if (timeout_ms < 0) return UINT64_MAX;
    return now_ns() + (uint64_t)timeout_ms * 1000000u;
}

/* Milliseconds left for poll(2), rounded up so that a wait never ends early; -1 for none. */
static int remaining_ms(uint64_t deadline) {
    if (deadline == UINT64_MAX) return -1;
    uint64_t now = now_ns();
    if (now >= deadline) return 0;
    uint64_t ms = (deadline - now + 999999u) / 1000000u;
    return ms > INT32_MAX ? INT32_MAX : (int)ms;
}

/* Until when a waiter may poll its ring before it blocks: the spin, cut to the deadline; a
 * sixteenth of it after a spin that ended with no message (the flow is idle: spinning then
 * only burns a core). */
static uint64_t spin_until(const tbr_chan *ch, uint64_t deadline, bool vain) {
    uint64_t now = now_ns();
    if (ch->spin_ns == 0 || now >= deadline) return 0; /* timeout 0: look once, no spin */
    uint64_t until = now + (vain ? ch->spin_ns / 16 : ch->spin_ns);
    return until < deadline ? until : deadline;
}

/* Whether a spinning waiter should stop: it looks at the clock only every 32 rounds, and then
 * yields its core to any thread that is ready to run (on a machine with fewer cores than busy
 * threads, the peer it waits for may be one of them). */
static bool spin_over(uint32_t round, uint64_t until) {
    if (until == 0) return true;
    if (round & 31) return false;
    if (now_ns() >= until) return true;
    sched_yield();
    return false;
}

static chan_ring *producer_ring(tbr_chan *ch, uint32_t dir) {
    if (!ch || dir > TBR_CHAN_REPLIES || !ch->ring[dir].produce) return NULL;
    return &ch->ring[dir];
}

static chan_ring *consumer_ring(tbr_chan *ch, uint32_t dir) {
    if (!ch || dir > TBR_CHAN_REPLIES || ch->ring[dir].produce) return NULL;
    return &ch->ring[dir];
}

bool tbr_chan_peer_gone(tbr_chan *ch) {
    if (atomic_load_explicit(&ch->peer_dead, memory_order_acquire)) return true;
    return atomic_load_explicit(&ch->header->closed[!ch->side], memory_order_acquire) != 0;
}

/* Blocks on fd (and the peer's pidfd, if watched) for at most ms. A readable pidfd means the
 * peer exited. */
static void block_on(tbr_chan *ch, int fd, int ms) {
    struct pollfd p[2] = {{.fd = fd, .events = POLLIN}, {.fd = -1, .events = POLLIN}};
    int pidfd = atomic_load_explicit(&ch->peer_pidfd, memory_order_relaxed);
    nfds_t n = 1;
    if (pidfd >= 0) {
        p[1].fd = pidfd;
        n = 2;
    }
    if (poll(p, n, ms) > 0 && n == 2 && (p[1].revents & (POLLIN | POLLHUP | POLLERR)))
        atomic_store_explicit(&ch->peer_dead, true, memory_order_release);
}

/* ---------------------------------------------------------------------------------------
 * Creating, attaching, closing
 * ------------------------------------------------------------------------------------- */

static int errno_status(void) {
    return errno == ENOMEM || errno == EMFILE || errno == ENFILE ? TB_ENOMEM : TB_EIO;
}

/* Maps each ring's data twice, back to back, inside one reservation of address space. */
static int map_rings(tbr_chan *ch, int memfd) {
    size_t cap = ch->capacity;
    void *base = mmap(NULL, 4 * cap, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (base == MAP_FAILED) return errno_status();
    ch->rings = base;
    for (int d = 0; d < 2; d++) {
        uint8_t *view = ch->rings + (size_t)d * 2 * cap;
        off_t offset = (off_t)(ch->header_size + (size_t)d * cap);
        for (int copy = 0; copy < 2; copy++) {
            void *at = view + (size_t)copy * cap;
            if (mmap(at, cap, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, memfd, offset) == MAP_FAILED)
                return errno_status();
        }
        ch->ring[d].data = view;
    }
    return TB_OK;
}

static void init_ring_views(tbr_chan *ch) {
    for (uint32_t d = 0; d < 2; d++) {
        chan_ring *r = &ch->ring[d];
        r->ctl = &ch->header->ring[d];
        r->data_fd = ch->fds.data[d];
        r->space_fd = ch->fds.space[d];
        /* the runtime produces requests (0), the host replies (1) */
        r->produce = (d == ch->side);
    }
}

static tbr_chan *chan_alloc(uint32_t side) {
    tbr_chan *ch = calloc(1, sizeof *ch);
    if (!ch) return NULL;
    ch->side = side;
    ch->fds = (tbr_chan_fds){-1, {-1, -1}, {-1, -1}};
    ch->spin_ns = (uint64_t)TBR_CHAN_DEFAULT_SPIN_US * 1000u;
    atomic_init(&ch->peer_pidfd, -1);
    atomic_init(&ch->peer_dead, false);
    return ch;
}

static void close_fd(int *fd) {
    if (*fd >= 0) close(*fd);
    *fd = -1;
}

static void chan_free(tbr_chan *ch) {
    if (ch->rings) munmap(ch->rings, 4 * ch->capacity);
    if (ch->header) munmap(ch->header, ch->header_size);
    close_fd(&ch->fds.mem);
    for (int d = 0; d < 2; d++) {
        close_fd(&ch->fds.data[d]);
        close_fd(&ch->fds.space[d]);
    }
    free(ch);
}

static int make_memfd(size_t size) {
    int fd = memfd_create("temblor-channel", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0) return -1;
    if (ftruncate(fd, (off_t)size) != 0 ||
        fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

int tbr_chan_create(size_t capacity, tbr_chan **out, tbr_chan_fds *child_fds) {
    size_t header_size = header_size_here();
    if (!out || !child_fds || !valid_capacity(capacity, header_size)) return TB_EINVAL;
    tbr_chan *ch = chan_alloc(TBR_CHAN_RUNTIME);
    if (!ch) return TB_ENOMEM;
    ch->capacity = capacity;
    ch->header_size = header_size;
    int rc = TB_OK;

    ch->fds.mem = make_memfd(header_size + 2 * capacity);
    if (ch->fds.mem < 0) goto fail_errno;
    for (int d = 0; d < 2; d++) {
        ch->fds.data[d] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        ch->fds.space[d] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (ch->fds.data[d] < 0 || ch->fds.space[d] < 0) goto fail_errno;
    }
    void *header = mmap(NULL, header_size, PROT_READ | PROT_WRITE, MAP_SHARED, ch->fds.mem, 0);
    if (header == MAP_FAILED) goto fail_errno;
    ch->header = header;
    rc = map_rings(ch, ch->fds.mem);
    if (rc != TB_OK) goto fail;

    /* a new memfd reads as zeros: every index, flag and closed word starts at 0 */
    ch->header->magic = CHAN_MAGIC;
    ch->header->version = CHAN_VERSION;
    ch->header->header_size = (uint32_t)header_size;
    ch->header->capacity = capacity;
    init_ring_views(ch);
    *child_fds = ch->fds;
    *out = ch;
    return TB_OK;

fail_errno:
    rc = errno_status();
fail:
    chan_free(ch);
    return rc;
}

/* Reads and checks the header the runtime wrote (the host trusts the runtime, but a wrong
 * descriptor must fail cleanly, not map garbage). */
static int read_header(tbr_chan *ch, int memfd) {
    struct stat st;
    if (fstat(memfd, &st) != 0) return errno_status();
    if ((size_t)st.st_size < ch->header_size) return TB_EINVAL;
    void *header = mmap(NULL, ch->header_size, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
    if (header == MAP_FAILED) return errno_status();
    ch->header = header;
    const chan_header *h = ch->header;
    if (h->magic != CHAN_MAGIC || h->version != CHAN_VERSION || h->header_size != ch->header_size ||
        !valid_capacity(h->capacity, ch->header_size) ||
        (uint64_t)st.st_size != ch->header_size + 2 * h->capacity)
        return TB_EINVAL;
    ch->capacity = (size_t)h->capacity;
    return TB_OK;
}

int tbr_chan_attach(const tbr_chan_fds *fds, tbr_chan **out) {
    if (!fds || !out || fds->mem < 0) return TB_EINVAL;
    tbr_chan *ch = chan_alloc(TBR_CHAN_HOST);
    if (!ch) return TB_ENOMEM;
    ch->header_size = header_size_here();
    int rc = read_header(ch, fds->mem);
    if (rc == TB_OK) rc = map_rings(ch, fds->mem);
    if (rc != TB_OK) {
        chan_free(ch); /* its fds are still -1: the caller's are left alone */
        return rc;
    }
    /* the mappings keep the memory; the memfd itself is no longer needed */
    close(fds->mem);
    ch->fds = *fds;
    ch->fds.mem = -1;
    init_ring_views(ch);
    *out = ch;
    return TB_OK;
}

void tbr_chan_close(tbr_chan *ch) {
    if (!ch) return;
    if (ch->header) {
        atomic_store_explicit(&ch->header->closed[ch->side], 1, memory_order_release);
        /* wake the peer wherever it blocks: on messages from us, on room from us */
        uint32_t peer_consumes = ch->side, peer_produces = !ch->side;
        signal_fd(ch->fds.data[peer_consumes]);
        signal_fd(ch->fds.space[peer_produces]);
    }
    chan_free(ch);
}

int tbr_chan_fds_keep_on_exec(const tbr_chan_fds *fds) {
    int all[5] = {fds->mem, fds->data[0], fds->data[1], fds->space[0], fds->space[1]};
    for (int i = 0; i < 5; i++) {
        int flags = fcntl(all[i], F_GETFD);
        if (flags < 0 || fcntl(all[i], F_SETFD, flags & ~FD_CLOEXEC) != 0) return TB_EIO;
    }
    return TB_OK;
}

int tbr_chan_fds_format(const tbr_chan_fds *fds, char *buf, size_t size) {
    int n = snprintf(buf, size, "%d,%d,%d,%d,%d", fds->mem, fds->data[0], fds->data[1],
                     fds->space[0], fds->space[1]);
    return n >= 0 && (size_t)n < size ? TB_OK : TB_EINVAL;
}

int tbr_chan_fds_parse(const char *text, tbr_chan_fds *fds) {
    int *all[5] = {&fds->mem, &fds->data[0], &fds->data[1], &fds->space[0], &fds->space[1]};
    const char *p = text;
    for (int i = 0; i < 5; i++) {
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (end == p || errno || v < 0 || v > INT32_MAX) return TB_EINVAL;
        if (*end != (i < 4 ? ',' : '\0')) return TB_EINVAL;
        *all[i] = (int)v;
        p = end + 1;
    }
    return TB_OK;
}

/* ---------------------------------------------------------------------------------------
 * Producing
 * ------------------------------------------------------------------------------------- */

/* Reads the consumer's head. It may only move forward, and never past what was published. */
static void refresh_head(chan_ring *r) {
    uint64_t head = atomic_load_explicit(&r->ctl->head, memory_order_acquire);
    if (head - r->head_seen > r->tail - r->head_seen) {
        r->broken = true;
        return;
    }
    r->head_seen = head;
}

/* Whether a record of rec bytes fits after what is reserved; reads the consumer's head again
 * only when the last one seen says it does not. */
static bool has_room(const tbr_chan *ch, chan_ring *r, uint64_t rec) {
    if (r->reserved - r->head_seen + rec <= ch->capacity) return true;
    refresh_head(r);
    return !r->broken && r->reserved - r->head_seen + rec <= ch->capacity;
}

void *tbr_chan_reserve(tbr_chan *ch, uint32_t dir, size_t len) {
    chan_ring *r = producer_ring(ch, dir);
    if (!r || r->broken || len > tbr_chan_max_message(ch)) return NULL;
    uint64_t rec = record_size(len);
    if (!has_room(ch, r, rec)) return NULL;
    uint8_t *at = r->data + (r->reserved & (ch->capacity - 1));
    *(uint64_t *)at = (uint64_t)len; /* high 32 bits zero */
    r->reserved += rec;
    r->pending++;
    return at + RECORD_HEADER;
}

void *tbr_chan_reserve_free(tbr_chan *ch, uint32_t dir, size_t min, size_t *len) {
    chan_ring *r = producer_ring(ch, dir);
    *len = 0;
    if (!r || r->broken) return NULL;
    refresh_head(r);
    uint64_t used = r->reserved - r->head_seen;
    if (r->broken || used + RECORD_HEADER >= ch->capacity) return NULL;
    uint64_t free_len = (ch->capacity - used - RECORD_HEADER) & ~(uint64_t)7;
    if (free_len > tbr_chan_max_message(ch)) free_len = tbr_chan_max_message(ch);
    if (free_len < min) return NULL;
    void *at = tbr_chan_reserve(ch, dir, (size_t)free_len);
    if (at) *len = (size_t)free_len;
    return at;
}

int tbr_chan_trim_last(tbr_chan *ch, uint32_t dir, void *msg, size_t len) {
    chan_ring *r = producer_ring(ch, dir);
    if (!r || !r->pending) return TB_EINVAL;
    uint8_t *head = (uint8_t *)msg - RECORD_HEADER;
    uint64_t old_len = *(uint64_t *)head, old_rec = record_size(old_len);
    /* it must be the last record reserved */
    if (r->data + ((r->reserved - old_rec) & (ch->capacity - 1)) != head || len > old_len) return TB_EINVAL;
    *(uint64_t *)head = (uint64_t)len;
    r->reserved -= old_rec - record_size(len);
    return TB_OK;
}

int tbr_chan_cancel_last(tbr_chan *ch, uint32_t dir, void *msg) {
    int rc = tbr_chan_trim_last(ch, dir, msg, 0);
    if (rc) return rc;
    chan_ring *r = producer_ring(ch, dir);
    r->reserved -= record_size(0);
    r->pending--;
    return TB_OK;
}

static void publish_reserved(chan_ring *r) {
    if (r->reserved == r->tail) return;
    r->tail = r->reserved;
    atomic_store_explicit(&r->ctl->tail, r->tail, memory_order_release);
    count(&r->published, r->pending);
    r->pending = 0;
    /* pairs with the fence of a consumer going to sleep: it sees our tail, or we its flag */
    atomic_thread_fence(memory_order_seq_cst);
    if (atomic_load_explicit(&r->ctl->consumer_sleeping, memory_order_relaxed) &&
        atomic_exchange_explicit(&r->ctl->consumer_sleeping, 0, memory_order_relaxed)) {
        signal_fd(r->data_fd);
        count(&r->wakeups_sent, 1);
    }
}

int tbr_chan_publish(tbr_chan *ch, uint32_t dir) {
    chan_ring *r = producer_ring(ch, dir);
    if (!r) return TB_EINVAL;
    publish_reserved(r);
    return tbr_chan_peer_gone(ch) ? TB_ECLOSED : TB_OK;
}

/* One look at the ring for a producer that waits: TB_OK (room), TB_EINVAL (broken),
 * TB_ECLOSED (peer gone) or TB_EAGAIN (wait on). */
static int check_room(tbr_chan *ch, chan_ring *r, uint64_t rec) {
    if (tbr_chan_peer_gone(ch)) return TB_ECLOSED;
    if (has_room(ch, r, rec)) return TB_OK;
    return r->broken ? TB_EINVAL : TB_EAGAIN;
}

int tbr_chan_wait_space(tbr_chan *ch, uint32_t dir, size_t len, int timeout_ms) {
    chan_ring *r = producer_ring(ch, dir);
    if (!r || r->broken || len > tbr_chan_max_message(ch)) return TB_EINVAL;
    publish_reserved(r);
    uint64_t rec = record_size(len);
    uint64_t deadline = deadline_after(timeout_ms);
    int rc = check_room(ch, r, rec);
    uint64_t until = rc == TB_EAGAIN ? spin_until(ch, deadline, false) : 0;
    for (uint32_t i = 1; rc == TB_EAGAIN && !spin_over(i, until); i++) {
        cpu_relax();
        rc = check_room(ch, r, rec);
    }
    while (rc == TB_EAGAIN) {
        drain_fd(r->space_fd);
        /* the head at which rec fits; > 0 since it does not fit now */
        atomic_store_explicit(&r->ctl->space_wanted, r->reserved + rec - ch->capacity,
                              memory_order_relaxed);
        /* pairs with the consumer's fence after it stores head: we see it, or it our want */
        atomic_thread_fence(memory_order_seq_cst);
        rc = check_room(ch, r, rec);
        if (rc != TB_EAGAIN) {
            atomic_store_explicit(&r->ctl->space_wanted, 0, memory_order_relaxed);
            break;
        }
        int ms = remaining_ms(deadline);
        if (ms == 0) return TB_ETIMEDOUT; /* stays armed: the wake fd fires when room returns */
        count(&r->space_waits, 1);
        block_on(ch, r->space_fd, ms);
        rc = check_room(ch, r, rec);
    }
    return rc;
}

/* ---------------------------------------------------------------------------------------
 * Consuming
 * ------------------------------------------------------------------------------------- */

/* Reads the producer's tail. It may only move forward, never more than a ring ahead of head,
 * and always by whole 8-byte-aligned records. */
static void refresh_tail(const tbr_chan *ch, chan_ring *r) {
    uint64_t tail = atomic_load_explicit(&r->ctl->tail, memory_order_acquire);
    uint64_t room_left = ch->capacity - (r->tail_seen - r->head);
    if (tail - r->tail_seen > room_left || (tail & 7)) {
        r->broken = true;
        return;
    }
    r->tail_seen = tail;
}

/* Hands out the record at head if one is published: TB_OK, TB_EAGAIN (none), TB_EINVAL. */
static int take_record(const tbr_chan *ch, chan_ring *r, const void **msg, size_t *len) {
    if (r->broken) return TB_EINVAL;
    if (r->tail_seen == r->head) {
        refresh_tail(ch, r);
        if (r->broken) return TB_EINVAL;
        if (r->tail_seen == r->head) return TB_EAGAIN;
    }
    const uint8_t *at = r->data + (r->head & (ch->capacity - 1));
    /* read once: the peer may rewrite it between a check and a second read */
    uint64_t word = *(const volatile uint64_t *)at;
    uint64_t length = word & UINT32_MAX;
    if ((word >> 32) != 0 || record_size(length) > r->tail_seen - r->head) {
        r->broken = true;
        return TB_EINVAL;
    }
    r->current = record_size(length);
    r->current_msg = at + RECORD_HEADER;
    r->current_len = (size_t)length;
    *msg = r->current_msg;
    *len = r->current_len;
    return TB_OK;
}

/* One look for a consumer that waits: a record, TB_EINVAL, TB_ECLOSED or TB_EAGAIN. Messages
 * published before the peer went away are still handed out. */
static int check_record(tbr_chan *ch, chan_ring *r, const void **msg, size_t *len) {
    int rc = take_record(ch, r, msg, len);
    if (rc != TB_EAGAIN || !tbr_chan_peer_gone(ch)) return rc;
    /* the peer's last publish happens before its close; look once more after seeing it */
    rc = take_record(ch, r, msg, len);
    return rc == TB_EAGAIN ? TB_ECLOSED : rc;
}

int tbr_chan_next(tbr_chan *ch, uint32_t dir, int timeout_ms, const void **msg, size_t *len) {
    chan_ring *r = consumer_ring(ch, dir);
    if (!r || !msg || !len) return TB_EINVAL;
    if (r->current) {
        *msg = r->current_msg;
        *len = r->current_len;
        return TB_OK;
    }
    uint64_t deadline = deadline_after(timeout_ms);
    int rc = check_record(ch, r, msg, len);
    uint64_t until = rc == TB_EAGAIN ? spin_until(ch, deadline, r->spun_in_vain) : 0;
    for (uint32_t i = 1; rc == TB_EAGAIN && !spin_over(i, until); i++) {
        cpu_relax();
        rc = check_record(ch, r, msg, len);
    }
    if (until) r->spun_in_vain = rc == TB_EAGAIN;
    while (rc == TB_EAGAIN) {
        drain_fd(r->data_fd);
        atomic_store_explicit(&r->ctl->consumer_sleeping, 1, memory_order_relaxed);
        /* pairs with the producer's fence after it stores tail: we see it, or it our flag */
        atomic_thread_fence(memory_order_seq_cst);
        rc = check_record(ch, r, msg, len);
        if (rc != TB_EAGAIN) {
            atomic_store_explicit(&r->ctl->consumer_sleeping, 0, memory_order_relaxed);
            break;
        }
        int ms = remaining_ms(deadline);
        if (ms == 0) return TB_ETIMEDOUT; /* stays armed: the wake fd fires on the next publish */
        count(&r->sleeps, 1);
        block_on(ch, r->data_fd, ms);
        rc = check_record(ch, r, msg, len);
    }
    return rc;
}

void tbr_chan_consume(tbr_chan *ch, uint32_t dir) {
    chan_ring *r = consumer_ring(ch, dir);
    if (!r || !r->current) return;
    r->head += r->current;
    r->current = 0;
    count(&r->consumed, 1);
    atomic_store_explicit(&r->ctl->head, r->head, memory_order_release);
    /* pairs with the fence of a producer going to sleep: it sees our head, or we its want */
    atomic_thread_fence(memory_order_seq_cst);
    uint64_t want = atomic_load_explicit(&r->ctl->space_wanted, memory_order_relaxed);
    if (want != 0 && (int64_t)(r->head - want) >= 0 &&
        atomic_exchange_explicit(&r->ctl->space_wanted, 0, memory_order_relaxed) != 0)
        signal_fd(r->space_fd);
}

/* ---------------------------------------------------------------------------------------
 * Peers, settings, counters
 * ------------------------------------------------------------------------------------- */

size_t tbr_chan_max_message(const tbr_chan *ch) {
    return ch->capacity - RECORD_HEADER;
}

int tbr_chan_wake_fd(const tbr_chan *ch, uint32_t dir) {
    if (!ch || dir > TBR_CHAN_REPLIES) return -1;
    const chan_ring *r = &ch->ring[dir];
    return r->produce ? r->space_fd : r->data_fd;
}

void tbr_chan_watch_peer(tbr_chan *ch, int pidfd) {
    atomic_store_explicit(&ch->peer_pidfd, pidfd, memory_order_relaxed);
}

void tbr_chan_mark_peer_dead(tbr_chan *ch) {
    atomic_store_explicit(&ch->peer_dead, true, memory_order_release);
    /* wake this side's threads wherever they block: on messages, on room */
    uint32_t we_consume = !ch->side, we_produce = ch->side;
    signal_fd(ch->fds.data[we_consume]);
    signal_fd(ch->fds.space[we_produce]);
}

void tbr_chan_set_spin(tbr_chan *ch, uint32_t microseconds) {
    ch->spin_ns = (uint64_t)microseconds * 1000u;
}

void tbr_chan_get_stats(const tbr_chan *ch, tbr_chan_stats *out) {
    const chan_ring *p = &ch->ring[ch->side], *c = &ch->ring[!ch->side];
    *out = (tbr_chan_stats){
        .published = atomic_load_explicit(&p->published, memory_order_relaxed),
        .wakeups_sent = atomic_load_explicit(&p->wakeups_sent, memory_order_relaxed),
        .space_waits = atomic_load_explicit(&p->space_waits, memory_order_relaxed),
        .consumed = atomic_load_explicit(&c->consumed, memory_order_relaxed),
        .sleeps = atomic_load_explicit(&c->sleeps, memory_order_relaxed),
    };
}
