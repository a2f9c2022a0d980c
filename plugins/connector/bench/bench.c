/*
 * bench.c - the `bench` connector, Tremor's benchmark connector: a load generator and a
 * measuring sink in one instance, wired source -> system under test -> sink.
 *
 * Source half: at create, reads the file `path` (xz-decompressed, with liblzma, when the name
 * ends in .xz or the data starts with the xz magic), splits it into lines ("\n" and "\r\n"
 * stripped, as Rust's lines() does) or chunk_size chunks, optionally base64-decodes each, and
 * keeps them in one buffer with an offset table. pull then replays them in order, round and
 * round, each as one TB_EF_RAW event whose bytes are copied into the batch's arena: id is the
 * sequence number (0, 1, ...), ingest_ns the host's now_ns() at the pull. It stops after
 * `iters` rounds or `stop_after_secs` (+ `warmup_secs`) seconds, whichever comes first, or
 * when the sink half has reported, and then returns TB_EOF (with the last events, if any).
 * At full speed (interval 0) a pull fills the batch to out->capacity; with an interval it
 * emits the events due on a fixed schedule (first at the first pull, then one per interval,
 * catching up after a stall) and returns TB_EAGAIN in between, woken by a host timer.
 *
 * Sink half: counts events (not TB_EF_DROPPED ones) and their bytes (the length of bytes or
 * string data), and records each event's latency, now_ns() at the push - ingest_ns, in an HDR
 * histogram (1 ns .. 100 s, growing beyond, `significant_figures` digits); events that arrive
 * during the first warmup_secs are neither counted nor measured. With an interval the
 * latencies are corrected for coordinated omission (HdrHistogram's
 * recordValueWithExpectedInterval). It reports when
 * `iters` rounds of events have arrived (warm-up ones included, so that the source's last
 * event ends the run), when stop_after_secs (+ warmup) have passed (checked at each push and
 * by a one-shot host timer armed at start), and then asks the runtime to shut down with exit
 * code 0 (extension temblor.runtime/1); or at the `stop` lifecycle callback if it has not
 * reported yet and was ever pushed to. The report goes to stdout (see report_text).
 *
 * Clock: the source stamps ingest_ns with CLOCK_MONOTONIC (tb_host_api.now_ns), not the
 * CLOCK_REALTIME the header's tb_event comment names, because the sink measures with the same
 * now_ns and a monotonic clock cannot step under a benchmark. So that the sink can measure
 * events from other sources too, a stamp above the monotonic now is read as CLOCK_REALTIME
 * when it is nearer to that clock's present (see latency_of). An event with no stamp, or one
 * in the future of its clock, is counted but not measured ("unmeasured").
 *
 * Ownership: the instance and everything it allocates (file data, offsets, liblzma's state)
 * come from the host allocator, except the histogram's counts array, which hdr.c mallocs.
 * Events' bytes are copies in the batch's arena, which the runtime owns.
 * Thread contract: create and destroy on the control thread; every other callback, and the
 * timer callbacks, on the instance's thread, one at a time, so the two halves share state
 * without locks.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <lzma.h>
#include <temblor/temblor.h>

#include "bench_hdr.h"

#define NS_PER_SEC     1000000000ull
#define HIST_HIGHEST   (100ull * NS_PER_SEC) /* as Tremor's; auto-resizes beyond */
#define FALLBACK_BATCH 64u               /* a pull with capacity 0: not the contract, but safe */
#define MIB            (1024.0 * 1024.0) /* Tremor's "MB/s" is MiB/s; kept comparable */
/* The fastest the interval timer ticks: below it, each tick emits every event due since the
 * last (the schedule is kept by the clock, not by counting ticks), sparing the host loop a
 * wake-up per event. */
#define MIN_TICK_NS 50000ull

static const double report_percentiles[] = {50.0, 90.0, 99.0, 99.9, 99.99};
static const char *const report_labels[] = {"p50", "p90", "p99", "p99.9", "p99.99"};

typedef struct bench {
    const tb_host_api *host;
    tb_context *ctx;
    const tb_ext_runtime *runtime; /* NULL when the host has no shutdown request */

    /* configuration */
    uint64_t interval_ns;
    uint64_t warmup_ns;
    uint64_t stop_after_ns; /* 0: none */
    uint64_t limit;         /* iters * elements: the source's and the sink's event count */
    bool transactional;
    bool structured;

    /* the elements: element i is data[off[i] .. off[i + 1]) */
    uint8_t *data;
    size_t *off;
    size_t n;

    /* the run's clock, started by start or the first pull or push */
    bool started;
    uint64_t warmup_end;
    uint64_t stop_at; /* 0: none */

    /* source */
    uint64_t seq;       /* events emitted, the next id */
    size_t next;        /* element of the next event */
    uint64_t sched0;    /* interval: when the first event was due */
    uint64_t src_timer; /* interval: the periodic wake-up; 0: none */
    bool src_done;
    bool warned_forever;

    /* sink */
    tbr_hdr hist;
    uint64_t received;   /* every event pushed, warm-up included */
    uint64_t count;      /* measured events */
    uint64_t bytes;      /* their bytes */
    uint64_t unmeasured; /* measured events without a usable ingest_ns */
    uint64_t record_errors;
    uint64_t first_ns, last_ns; /* the measured period */
    uint64_t acked, failed;
    uint64_t sink_timer; /* stop_after_secs deadline; 0: none */
    bool pushed;
    bool finished;
    bool handed_over; /* saved for a new build: stop leaves the report to it */
} bench;

/* ---- loading the elements --------------------------------------------------------------- */

static void *lz_alloc(void *opaque, size_t nmemb, size_t size) {
    bench *b = opaque;
    size_t total;
    if (size && nmemb > SIZE_MAX / size) return NULL;
    total = nmemb * size;
    return b->host->alloc(b->ctx, total ? total : 1);
}

static void lz_free(void *opaque, void *ptr) {
    bench *b = opaque;
    b->host->free(b->ctx, ptr);
}

static const char *lz_reason(lzma_ret r) {
    switch (r) {
    case LZMA_MEM_ERROR: return "out of memory";
    case LZMA_FORMAT_ERROR: return "not xz data";
    case LZMA_OPTIONS_ERROR: return "unsupported xz options";
    case LZMA_DATA_ERROR: return "corrupt xz data";
    case LZMA_BUF_ERROR: return "truncated xz data";
    default: return "xz decoder error";
    }
}

/* Reads the whole file at path into a host buffer. */
static int read_file(bench *b, const char *path, uint8_t **out, size_t *out_len) {
    FILE *f = fopen(path, "rb");
    struct stat st;
    size_t cap = 65536, len = 0;
    uint8_t *buf;
    if (!f)
        return tb_fail(b->host, b->ctx, TB_EINVAL, "bench: cannot open %s: %s", path,
                       strerror(errno));
    /* one byte over the size, so that the read that sees the end needs no growing */
    if (fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0 &&
        (uint64_t)st.st_size < SIZE_MAX - 1)
        cap = (size_t)st.st_size + 1;
    buf = b->host->alloc(b->ctx, cap);
    if (!buf) goto fail_nomem;
    for (;;) {
        size_t got;
        if (len == cap) {
            uint8_t *n;
            if (cap > SIZE_MAX / 2 || !(n = b->host->realloc(b->ctx, buf, cap * 2)))
                goto fail_nomem;
            buf = n;
            cap *= 2;
        }
        got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0) break;
    }
    if (ferror(f)) {
        b->host->free(b->ctx, buf);
        fclose(f);
        return tb_fail(b->host, b->ctx, TB_EINVAL, "bench: cannot read %s", path);
    }
    fclose(f);
    *out = buf;
    *out_len = len;
    return TB_OK;

fail_nomem:
    b->host->free(b->ctx, buf);
    fclose(f);
    return tb_fail(b->host, b->ctx, TB_ENOMEM, "bench: out of memory reading %s", path);
}

/* Decompresses the xz data in[0..in_len) (concatenated streams allowed) into a host buffer;
 * liblzma allocates through the host too. */
static int unxz(bench *b, const char *path, const uint8_t *in, size_t in_len, uint8_t **out,
                size_t *out_len) {
    lzma_allocator allocator = {lz_alloc, lz_free, b};
    lzma_stream s = LZMA_STREAM_INIT;
    size_t cap = in_len < SIZE_MAX / 8 ? in_len * 8 + 4096 : in_len, len = 0;
    uint8_t *buf;
    lzma_ret r;
    s.allocator = &allocator;
    r = lzma_stream_decoder(&s, UINT64_MAX, LZMA_CONCATENATED);
    if (r != LZMA_OK) {
        lzma_end(&s);
        return tb_fail(b->host, b->ctx, r == LZMA_MEM_ERROR ? TB_ENOMEM : TB_ERROR,
                       "bench: %s: cannot start the xz decoder: %s", path, lz_reason(r));
    }
    buf = b->host->alloc(b->ctx, cap);
    if (!buf) {
        r = LZMA_MEM_ERROR;
        goto fail;
    }
    s.next_in = in;
    s.avail_in = in_len;
    for (;;) {
        if (len == cap) {
            uint8_t *n;
            if (cap > SIZE_MAX / 2 || !(n = b->host->realloc(b->ctx, buf, cap * 2))) {
                r = LZMA_MEM_ERROR;
                goto fail;
            }
            buf = n;
            cap *= 2;
        }
        s.next_out = buf + len;
        s.avail_out = cap - len;
        r = lzma_code(&s, LZMA_FINISH);
        len = cap - s.avail_out;
        if (r == LZMA_STREAM_END) break;
        if (r != LZMA_OK) goto fail;
    }
    lzma_end(&s);
    *out = buf;
    *out_len = len;
    return TB_OK;

fail:
    lzma_end(&s);
    b->host->free(b->ctx, buf);
    return tb_fail(b->host, b->ctx, r == LZMA_MEM_ERROR ? TB_ENOMEM : TB_EINVAL, "bench: %s: %s",
                   path, lz_reason(r));
}

static int b64_digit(uint8_t c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

/* Standard base64 (padding optional) of in[0..len) into out, which may be in itself: each
 * quantum is read before its at most three bytes are written behind it. */
static bool b64_decode(const uint8_t *in, size_t len, uint8_t *out, size_t *out_len) {
    size_t pads = 0, i, o = 0;
    while (len && in[len - 1] == '=') len--, pads++;
    if (pads > 2 || len % 4 == 1 || (pads && (len + pads) % 4)) return false;
    for (i = 0; i < len; i += 4) {
        size_t k, m = len - i < 4 ? len - i : 4;
        uint32_t v = 0;
        for (k = 0; k < 4; k++) {
            int d = k < m ? b64_digit(in[i + k]) : 0;
            if (d < 0) return false;
            v = v << 6 | (uint32_t)d;
        }
        out[o++] = (uint8_t)(v >> 16);
        if (m > 2) out[o++] = (uint8_t)(v >> 8);
        if (m > 3) out[o++] = (uint8_t)v;
    }
    *out_len = o;
    return true;
}

/* Splits buf[0..len) (the instance's from now on) into elements, in place. */
static int split(bench *b, const char *path, uint8_t *buf, size_t len, uint64_t chunk,
                 bool base64) {
    size_t n = 0, i, w = 0;
    const uint8_t *p = buf, *end = buf + len;
    b->data = buf;
    if (chunk) {
        n = (size_t)(len / chunk + (len % chunk != 0));
    } else {
        while (p < end) {
            const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
            p = nl ? nl + 1 : end;
            n++;
        }
    }
    if (n == 0) return tb_fail(b->host, b->ctx, TB_EINVAL, "bench: %s holds no events", path);
    if (n > SIZE_MAX / sizeof *b->off - 1 ||
        !(b->off = b->host->alloc(b->ctx, (n + 1) * sizeof *b->off)))
        return tb_fail(b->host, b->ctx, TB_ENOMEM, "bench: out of memory for %zu events", n);
    b->n = n;
    if (chunk) {
        for (i = 0; i < n; i++) b->off[i] = (size_t)(i * chunk);
        b->off[n] = len;
    } else {
        /* lines move down over the newlines they lose */
        for (i = 0, p = buf; i < n; i++) {
            const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
            size_t l = (size_t)((nl ? nl : end) - p);
            if (l && p[l - 1] == '\r') l--;
            memmove(buf + w, p, l);
            b->off[i] = w;
            w += l;
            p = nl ? nl + 1 : end;
        }
        b->off[n] = w;
    }
    if (base64) {
        for (i = 0, w = 0; i < n; i++) {
            size_t start = b->off[i], l = b->off[i + 1] - start, got;
            if (!b64_decode(buf + start, l, buf + w, &got))
                return tb_fail(b->host, b->ctx, TB_EINVAL, "bench: %s: element %zu is not base64",
                               path, i);
            b->off[i] = w;
            w += got;
        }
        b->off[n] = w;
    }
    return TB_OK;
}

static int load(bench *b, const char *path, uint64_t chunk, bool base64) {
    static const uint8_t xz_magic[6] = {0xfd, '7', 'z', 'X', 'Z', 0x00};
    size_t plen = strlen(path), len = 0;
    uint8_t *raw = NULL;
    int rc = read_file(b, path, &raw, &len);
    if (rc) return rc;
    if ((plen >= 3 && strcmp(path + plen - 3, ".xz") == 0) ||
        (len >= sizeof xz_magic && memcmp(raw, xz_magic, sizeof xz_magic) == 0)) {
        uint8_t *plain = NULL;
        rc = unxz(b, path, raw, len, &plain, &len);
        b->host->free(b->ctx, raw);
        if (rc) return rc;
        raw = plain;
    }
    /* from here on raw is b->data, freed by destroy */
    return split(b, path, raw, len, chunk, base64);
}

/* ---- life cycle ------------------------------------------------------------------------- */

static void stop_timers(bench *b) {
    if (b->src_timer) b->host->timer_stop(b->ctx, b->src_timer);
    if (b->sink_timer) b->host->timer_stop(b->ctx, b->sink_timer);
    b->src_timer = b->sink_timer = 0;
}

static void TB_CALL destroy(void *instance) {
    bench *b = instance;
    stop_timers(b);
    tbr_hdr_fini(&b->hist);
    b->host->free(b->ctx, b->off);
    b->host->free(b->ctx, b->data);
    b->host->free(b->ctx, b);
}

static int TB_CALL create(const tb_create_args *args, void **out) {
    const tb_host_api *host = args->host;
    const tb_value *cfg = args->config;
    size_t path_len = 0, old_len = 0;
    const char *path = tb_config_str(cfg, "path", NULL, &path_len);
    const char *old = tb_config_str(cfg, "source", NULL, &old_len);
    uint64_t secs, sigfigs = tb_config_u64(cfg, "significant_figures", 2);
    uint64_t chunk = tb_config_u64(cfg, "chunk_size", 0);
    uint64_t iters = tb_config_u64(cfg, "iters", UINT64_MAX);
    bool has_chunk = tb_object_getz(cfg, "chunk_size") != NULL;
    bench *b;
    int rc;

    if (!TB_HAS_FIELD(host, tb_host_api, now_ns))
        return tb_fail(host, args->ctx, TB_ENOTSUP, "bench: the host has no now_ns (ABI 1.1)");
    if (path && old)
        return tb_fail(host, args->ctx, TB_EINVAL,
                       "bench: set path or source (its older name), not both");
    if (!path) path = old, path_len = old_len;
    if (sigfigs < 1 || sigfigs > 5)
        return tb_fail(host, args->ctx, TB_EINVAL,
                       "bench: significant_figures must be 1 to 5, not %llu",
                       (unsigned long long)sigfigs);
    if (has_chunk && chunk == 0)
        return tb_fail(host, args->ctx, TB_EINVAL, "bench: chunk_size must be at least 1");

    b = host->alloc(args->ctx, sizeof *b);
    if (!b) return TB_ENOMEM;
    memset(b, 0, sizeof *b);
    b->host = host;
    b->ctx = args->ctx;
    b->interval_ns = tb_config_u64(cfg, "interval", 0);
    b->transactional = tb_config_bool(cfg, "is_transactional", false);
    b->structured = tb_config_bool(cfg, "structured", false);
    secs = tb_config_u64(cfg, "warmup_secs", 0);
    b->warmup_ns = secs > UINT64_MAX / NS_PER_SEC / 2 ? UINT64_MAX / 2 : secs * NS_PER_SEC;
    secs = tb_config_u64(cfg, "stop_after_secs", 0);
    b->stop_after_ns = secs > UINT64_MAX / NS_PER_SEC / 2 ? UINT64_MAX / 2 : secs * NS_PER_SEC;
    b->runtime = host->get_extension(args->ctx, TB_EXT_RUNTIME);
    if (b->runtime && !TB_HAS_FIELD(b->runtime, tb_ext_runtime, shutdown)) b->runtime = NULL;

    rc = tbr_hdr_init(&b->hist, 1, HIST_HIGHEST, (int)sigfigs);
    if (rc) {
        tb_fail(host, args->ctx, rc, "bench: out of memory for the latency histogram");
        goto fail;
    }
    tbr_hdr_set_auto_resize(&b->hist, true);

    if (path) {
        /* the configured text is not NUL-terminated */
        char *zpath = host->alloc(args->ctx, path_len + 1);
        if (!zpath) {
            rc = TB_ENOMEM;
            goto fail;
        }
        memcpy(zpath, path, path_len);
        zpath[path_len] = '\0';
        rc = load(b, zpath, chunk, tb_config_bool(cfg, "base64", false));
        host->free(args->ctx, zpath);
        if (rc) goto fail;
    }
    /* iters counts rounds over the file: without one, it cannot stop anything */
    b->limit = UINT64_MAX;
    if (iters != UINT64_MAX && b->n)
        b->limit = iters > UINT64_MAX / b->n ? UINT64_MAX : iters * b->n;
    *out = b;
    return TB_OK;

fail:
    destroy(b);
    return rc;
}

/* Starts the run's clock once: warm-up and stop_after_secs count from here. */
static void begin(bench *b, uint64_t now) {
    if (b->started) return;
    b->started = true;
    b->warmup_end = now + b->warmup_ns;
    b->stop_at = b->stop_after_ns ? now + b->warmup_ns + b->stop_after_ns : 0;
}

static void report(bench *b);

/* The sink's end: the report, then (when asked) the runtime's shutdown. */
static void finish(bench *b, bool shutdown) {
    if (b->finished) return;
    b->finished = true;
    stop_timers(b);
    report(b);
    if (!shutdown) return;
    if (b->runtime)
        b->runtime->shutdown(b->ctx, 0);
    else
        tb_log(b->host, b->ctx, TB_LOG_WARN,
               "bench: done, but the host cannot be asked to shut down");
}

static void TB_CALL on_deadline(void *user, uint64_t timer_id) {
    bench *b = user;
    (void)timer_id;
    b->sink_timer = 0; /* one-shot: fired */
    /* a bench used only as a load generator has nothing to report */
    if (b->pushed) finish(b, true);
}

static int TB_CALL start(void *instance) {
    bench *b = instance;
    uint64_t now = b->host->now_ns();
    begin(b, now);
    /* the sink must report at the deadline even when no event arrives any more; without a
     * loop (a host that drives the instance by hand) pushes check it instead */
    if (b->stop_at && !b->sink_timer &&
        b->host->timer_start(b->ctx, b->stop_at > now ? b->stop_at - now : 1, 0, on_deadline, b,
                             &b->sink_timer) != TB_OK)
        b->sink_timer = 0;
    return TB_OK;
}

static int TB_CALL stop(void *instance) {
    bench *b = instance;
    stop_timers(b);
    if (b->pushed && !b->handed_over) finish(b, false);
    return TB_OK;
}

/* ---- source ----------------------------------------------------------------------------- */

static void TB_CALL on_tick(void *user, uint64_t timer_id) {
    /* nothing to do: the runtime pulls after a timer callback, and pull counts what is due */
    (void)user;
    (void)timer_id;
}

static int source_end(bench *b) {
    b->src_done = true;
    if (b->src_timer) b->host->timer_stop(b->ctx, b->src_timer);
    b->src_timer = 0;
    return TB_EOF;
}

static int TB_CALL pull(void *instance, tb_batch *out) {
    bench *b = instance;
    uint64_t now, room, left;
    uint16_t flags = (uint16_t)(TB_EF_RAW | (b->transactional ? TB_EF_TRANSACTIONAL : 0));
    tb_arena *arena = out->arena;
    bool last;

    if (b->src_done) return TB_EOF;
    if (!b->n)
        return tb_fail(b->host, b->ctx, TB_EINVAL,
                       "bench: no path configured: the source has nothing to replay");
    now = b->host->now_ns();
    begin(b, now);
    if (b->finished || (b->stop_at && now >= b->stop_at) || b->seq >= b->limit)
        return source_end(b);
    if (!b->warned_forever && !b->stop_at && b->limit == UINT64_MAX) {
        b->warned_forever = true;
        tb_log(b->host, b->ctx, TB_LOG_WARN,
               "bench: neither iters nor stop_after_secs is set: replaying forever");
    }

    room = out->capacity > out->count ? out->capacity - out->count : 0;
    if (out->capacity == 0) room = FALLBACK_BATCH;
    if (b->interval_ns) {
        uint64_t due;
        if (!b->src_timer) {
            uint64_t tick = b->interval_ns < MIN_TICK_NS ? MIN_TICK_NS : b->interval_ns;
            int rc = b->host->timer_start(b->ctx, tick, tick, on_tick, b, &b->src_timer);
            if (rc) {
                b->src_timer = 0;
                return tb_fail(b->host, b->ctx, rc, "bench: interval needs a host timer (%d)", rc);
            }
            if (b->seq == 0) b->sched0 = now;
        }
        /* events due on the fixed schedule so far, minus those already emitted */
        due = (now - b->sched0) / b->interval_ns + 1;
        due = due > b->seq ? due - b->seq : 0;
        if (due == 0) return TB_EAGAIN;
        if (due < room) room = due;
    }
    left = b->limit - b->seq;
    last = left <= room;
    if (last) room = left;

    for (uint64_t k = 0; k < room; k++) {
        size_t i = b->next, len = b->off[i + 1] - b->off[i];
        tb_event *e = tb_batch_push(out);
        uint8_t *p = e ? tb_arena_alloc(arena, len ? len : 1, 1) : NULL;
        if (!p) {
            if (e) out->count--;
            if (k) return TB_OK; /* what fitted goes; the next pull goes on from there */
            return tb_fail(b->host, b->ctx, TB_ENOMEM, "bench: out of memory in the batch arena");
        }
        memcpy(p, b->data + b->off[i], len);
        e->data = tb_bytes(p, len);
        e->flags = flags;
        e->id = b->seq++;
        e->ingest_ns = now;
        if (++b->next == b->n) b->next = 0;
    }
    return last ? source_end(b) : TB_OK;
}

static void TB_CALL on_ack(void *instance, const uint64_t *ids, uint32_t count) {
    bench *b = instance;
    (void)ids;
    b->acked += count;
}

static void TB_CALL on_fail(void *instance, const uint64_t *ids, uint32_t count) {
    bench *b = instance;
    (void)ids;
    b->failed += count;
}

/* ---- sink ------------------------------------------------------------------------------- */

/* The latency of an event stamped t that arrives at now (monotonic): from the bench's own
 * monotonic stamps, or from a CLOCK_REALTIME stamp (what the runtime gives events whose source
 * left ingest_ns 0), told apart by which clock's present t is nearer to; *rt caches the
 * realtime clock for the batch. False for no stamp or one in the future. */
static bool latency_of(uint64_t t, uint64_t now, uint64_t *rt, uint64_t *out) {
    struct timespec ts;
    if (!t) return false;
    if (t <= now) {
        *out = now - t;
        return true;
    }
    if (!*rt) {
        if (clock_gettime(CLOCK_REALTIME, &ts) != 0) return false;
        *rt = (uint64_t)ts.tv_sec * NS_PER_SEC + (uint64_t)ts.tv_nsec;
    }
    if (t > *rt || *rt - t >= t - now) return false;
    *out = *rt - t;
    return true;
}

static int TB_CALL push(void *instance, tb_batch *in) {
    bench *b = instance;
    uint64_t now, rt = 0;
    bool measuring, counted = false;
    if (b->finished) return TB_OK;
    now = b->host->now_ns();
    begin(b, now);
    b->pushed = true;
    measuring = now >= b->warmup_end;
    for (uint32_t i = 0; i < in->count && b->received < b->limit; i++) {
        const tb_event *e = &in->events[i];
        uint64_t latency = 0;
        bool has = false;
        if (e->flags & TB_EF_DROPPED) continue;
        b->received++;
        if (!measuring) continue;
        if (e->data.type == TB_BYTES || e->data.type == TB_STRING) b->bytes += e->data.len;
        has = latency_of(e->ingest_ns, now, &rt, &latency);
        if (!b->count) b->first_ns = now - latency;
        b->count++;
        if (!has)
            b->unmeasured++;
        else if (tbr_hdr_record_corrected(&b->hist, latency, b->interval_ns) != TB_OK)
            b->record_errors++;
        counted = true;
    }
    if (counted) b->last_ns = now;
    if (b->received >= b->limit || (b->stop_at && now >= b->stop_at)) finish(b, true);
    return TB_OK;
}

/* ---- the report ------------------------------------------------------------------------- */

static double seconds(const bench *b) {
    return b->count && b->last_ns > b->first_ns ? (double)(b->last_ns - b->first_ns) / 1e9 : 0.0;
}

static double per_sec(uint64_t n, double secs) { return secs > 0 ? (double)n / secs : 0.0; }

/*
 * The text report, in three parts:
 *  - the counts: events, bytes, the measured period in seconds (from the emission of the
 *    first measured event to the arrival of the last), events without a usable ingest_ns;
 *  - HdrHistogram's percentile distribution of the latencies in ns ("Value Percentile
 *    TotalCount 1/(1-Percentile)" rows, then #[Mean/StdDeviation] and #[Max/Total count]),
 *    the format HdrHistogram's plotter reads and Tremor prints, then a table of p50, p90,
 *    p99, p99.9, p99.99 and max;
 *  - throughput over the period, as Tremor words it: MB/s (MiB) and k events/s.
 */
static void report_text(bench *b, FILE *f) {
    const tbr_hdr *h = &b->hist;
    double secs = seconds(b);
    fprintf(f, "\n---- bench report ----\n");
    fprintf(f, "events      %llu\n", (unsigned long long)b->count);
    fprintf(f, "bytes       %llu\n", (unsigned long long)b->bytes);
    fprintf(f, "seconds     %.9f\n", secs);
    fprintf(f, "unmeasured  %llu\n", (unsigned long long)b->unmeasured);
    if (b->transactional)
        fprintf(f, "acked       %llu\nfailed      %llu\n", (unsigned long long)b->acked,
                (unsigned long long)b->failed);
    if (b->record_errors)
        fprintf(f, "lost        %llu (latency samples the histogram could not take)\n",
                (unsigned long long)b->record_errors);
    fprintf(f, "\n");
    if (tbr_hdr_total_count(h) == 0) {
        fprintf(f, "(no latency samples)\n");
    } else {
        tbr_hdr_iter it;
        fprintf(f, "# latency in ns: arrival at the sink - ingest_ns");
        if (b->interval_ns)
            fprintf(f, "; corrected for coordinated omission at a %llu ns interval",
                    (unsigned long long)b->interval_ns);
        fprintf(f, "\n%12s %14s %10s %14s\n\n", "Value", "Percentile", "TotalCount",
                "1/(1-Percentile)");
        tbr_hdr_iter_percentiles(&it, h, 2);
        while (tbr_hdr_iter_next(&it)) {
            double q = it.percentile / 100.0;
            if (q < 1.0)
                fprintf(f, "%12llu %14.12f %10llu %14.2f\n", (unsigned long long)it.value, q,
                        (unsigned long long)it.cumulative, 1.0 / (1.0 - q));
            else
                fprintf(f, "%12llu %14.12f %10llu %14s\n", (unsigned long long)it.value, q,
                        (unsigned long long)it.cumulative, "inf");
        }
        fprintf(f, "#[Mean    = %14.3f, StdDeviation   = %14.3f]\n", tbr_hdr_mean(h),
                tbr_hdr_stdev(h));
        fprintf(f, "#[Max     = %14llu, Total count    = %14llu]\n\n",
                (unsigned long long)tbr_hdr_max(h), (unsigned long long)tbr_hdr_total_count(h));
        fprintf(f, "%-10s %14s\n", "percentile", "latency_ns");
        for (size_t i = 0; i < sizeof report_percentiles / sizeof *report_percentiles; i++)
            fprintf(f, "%-10s %14llu\n", report_labels[i],
                    (unsigned long long)tbr_hdr_value_at_percentile(h, report_percentiles[i]));
        fprintf(f, "%-10s %14llu\n", "max", (unsigned long long)tbr_hdr_max(h));
    }
    fprintf(f, "\nThroughput   (data): %.1f MB/s\n", per_sec(b->bytes, secs) / MIB);
    fprintf(f, "Throughput (events): %.1fk events/s\n", per_sec(b->count, secs) / 1000.0);
}

/* structured = true: the same as one JSON object on one line. */
static void report_json(bench *b, FILE *f) {
    const tbr_hdr *h = &b->hist;
    double secs = seconds(b);
    tbr_hdr_iter it;
    bool first = true;
    fprintf(f, "{\"events\":%llu,\"bytes\":%llu,\"seconds\":%.9f,\"unmeasured\":%llu,",
            (unsigned long long)b->count, (unsigned long long)b->bytes, secs,
            (unsigned long long)b->unmeasured);
    if (b->transactional)
        fprintf(f, "\"acked\":%llu,\"failed\":%llu,", (unsigned long long)b->acked,
                (unsigned long long)b->failed);
    fprintf(f,
            "\"interval_ns\":%llu,\"latency_ns\":{\"samples\":%llu,\"min\":%llu,\"mean\":%.3f,"
            "\"stdev\":%.3f,\"max\":%llu",
            (unsigned long long)b->interval_ns, (unsigned long long)tbr_hdr_total_count(h),
            (unsigned long long)tbr_hdr_min(h), tbr_hdr_mean(h), tbr_hdr_stdev(h),
            (unsigned long long)tbr_hdr_max(h));
    for (size_t i = 0; i < sizeof report_percentiles / sizeof *report_percentiles; i++)
        fprintf(f, ",\"%s\":%llu", report_labels[i],
                (unsigned long long)tbr_hdr_value_at_percentile(h, report_percentiles[i]));
    fprintf(f,
            "},\"throughput\":{\"events_per_second\":%.3f,\"bytes_per_second\":%.3f,"
            "\"mb_per_second\":%.3f},\"quantiles\":[",
            per_sec(b->count, secs), per_sec(b->bytes, secs), per_sec(b->bytes, secs) / MIB);
    tbr_hdr_iter_percentiles(&it, h, 2);
    while (tbr_hdr_iter_next(&it)) {
        fprintf(f, "%s{\"value\":%llu,\"quantile_to\":%.12f,\"count\":%llu}", first ? "" : ",",
                (unsigned long long)it.value, it.percentile / 100.0,
                (unsigned long long)it.cumulative);
        first = false;
    }
    fprintf(f, "]}\n");
}

/* Writes the report to stdout in one piece (the stream locked, then flushed), where Tremor's
 * goes: it is the benchmark's result, not a log message. */
static void report(bench *b) {
    flockfile(stdout);
    if (b->structured)
        report_json(b, stdout);
    else
        report_text(b, stdout);
    fflush(stdout);
    funlockfile(stdout);
    tb_log(b->host, b->ctx, TB_LOG_INFO, "bench: done: %llu events, %llu bytes",
           (unsigned long long)b->count, (unsigned long long)b->bytes);
}

/* ---- handover (a reload) ---------------------------------------------------------------- */

/* The counters a run is made of, saved by name so a build that adds one still restores the
 * others. */
#define BENCH_COUNTERS(X)                                                                      \
    X(seq) X(next) X(sched0) X(warmup_end) X(stop_at) X(received) X(count) X(bytes)            \
    X(unmeasured) X(record_errors) X(first_ns) X(last_ns) X(acked) X(failed)

static bool put_u64(tb_arena *a, tb_value *o, const char *key, uint64_t v) {
    tb_value *slot = tb_object_append(a, o, key, strlen(key));
    if (slot) *slot = tb_u64(v);
    return slot != NULL;
}

/* Where the run is: the source's position and schedule, the sink's counts and histogram. */
static int TB_CALL save(void *instance, tb_arena *a, tb_value *out) {
    bench *b = instance;
    tb_value o = tb_object();
    bool ok = true;
#define SAVE(f) ok = ok && put_u64(a, &o, #f, (uint64_t)b->f);
    BENCH_COUNTERS(SAVE)
#undef SAVE
    ok = ok && put_u64(a, &o, "started", b->started) && put_u64(a, &o, "src_done", b->src_done) &&
         put_u64(a, &o, "pushed", b->pushed) && put_u64(a, &o, "finished", b->finished) &&
         put_u64(a, &o, "hist_highest", b->hist.highest) &&
         put_u64(a, &o, "hist_total", b->hist.total_count) && put_u64(a, &o, "hist_max", b->hist.max_value) &&
         put_u64(a, &o, "hist_min", b->hist.min_non_zero_value);
    size_t bytes = b->hist.counts_len * sizeof *b->hist.counts;
    uint8_t *copy = ok ? tb_arena_alloc(a, bytes ? bytes : 1, 8) : NULL;
    tb_value *slot = copy ? tb_object_append(a, &o, "hist_counts", 11) : NULL;
    if (!slot) return TB_ENOMEM;
    memcpy(copy, b->hist.counts, bytes);
    *slot = tb_bytes(copy, bytes);
    *out = o;
    b->handed_over = true;
    return TB_OK;
}

static int TB_CALL restore(void *instance, const tb_value *saved) {
    bench *b = instance;
#define RESTORE(f) b->f = (__typeof__(b->f))tb_config_u64(saved, #f, (uint64_t)b->f);
    BENCH_COUNTERS(RESTORE)
#undef RESTORE
    if (b->n && b->next >= b->n) b->next = 0; /* another file: start it over */
    b->started = tb_config_u64(saved, "started", 0) != 0;
    b->src_done = tb_config_u64(saved, "src_done", 0) != 0;
    b->pushed = tb_config_u64(saved, "pushed", 0) != 0;
    b->finished = tb_config_u64(saved, "finished", 0) != 0; /* its report is out already */
    const tb_value *counts = tb_object_getz(saved, "hist_counts");
    uint64_t highest = tb_config_u64(saved, "hist_highest", 0);
    if (!counts || counts->type != TB_BYTES || !highest) return TB_OK;
    /* a histogram grown to the saved range has the saved layout */
    tbr_hdr grown;
    if (tbr_hdr_init(&grown, b->hist.lowest, highest, b->hist.sigfigs) != TB_OK)
        return tb_fail(b->host, b->ctx, TB_ENOMEM, "bench: out of memory restoring the histogram");
    if (grown.counts_len * sizeof *grown.counts != counts->len) {
        tbr_hdr_fini(&grown);
        tb_log(b->host, b->ctx, TB_LOG_WARN, "bench: the saved histogram has another layout: latencies start afresh");
        return TB_OK;
    }
    memcpy(grown.counts, counts->as.bytes, counts->len);
    grown.total_count = tb_config_u64(saved, "hist_total", 0);
    grown.max_value = tb_config_u64(saved, "hist_max", 0);
    grown.min_non_zero_value = tb_config_u64(saved, "hist_min", UINT64_MAX);
    grown.auto_resize = true;
    tbr_hdr_fini(&b->hist);
    b->hist = grown;
    return TB_OK;
}

/* ---- descriptor ------------------------------------------------------------------------- */

static const tb_option options[] = {
    TB_OPTION("path", TB_OPT_STRING, NULL, 0,
              "file to replay, one event per line; xz-compressed when it ends in .xz or starts "
              "with the xz magic"),
    TB_OPTION("source", TB_OPT_STRING, NULL, 0,
              "older name of path (Tremor 0.12); set one of them"),
    TB_OPTION("interval", TB_OPT_UINT, "0", 0,
              "nanoseconds between two events (fixed rate, latencies corrected for coordinated "
              "omission); 0: full speed"),
    TB_OPTION(
        "iters", TB_OPT_UINT, NULL, 0,
        "rounds over the file after which the source ends and the sink reports; absent: no limit"),
    TB_OPTION(
        "stop_after_secs", TB_OPT_UINT, "0", 0,
        "seconds after the warm-up after which the source ends and the sink reports; 0: no limit"),
    TB_OPTION("warmup_secs", TB_OPT_UINT, "0", 0,
              "seconds from the start during which the sink counts and measures nothing"),
    TB_OPTION("significant_figures", TB_OPT_UINT, "2", 0,
              "decimal digits of precision of the latency histogram, 1 to 5"),
    TB_OPTION("chunk_size", TB_OPT_UINT, NULL, 0,
              "split the file into chunks of this many bytes instead of lines"),
    TB_OPTION("base64", TB_OPT_BOOL, "false", 0,
              "base64-decode every line (or chunk) before replaying it"),
    TB_OPTION(
        "is_transactional", TB_OPT_BOOL, "false", 0,
        "flag emitted events TB_EF_TRANSACTIONAL; the acks and fails reported back are counted"),
    TB_OPTION("structured", TB_OPT_BOOL, "false", 0,
              "print the report as one line of JSON instead of text"),
};

static const tb_permission permissions[] = {
    TB_PERMISSION(TB_PERM_FS_READ, NULL, "path", "reads the file it replays"),
    TB_PERMISSION(TB_PERM_FS_READ, NULL, "source", "reads the file it replays"),
};

static const tb_connector_vtable vtable = {
    .struct_size = sizeof(tb_connector_vtable),
    .flags = TB_CONNECTOR_SOURCE | TB_CONNECTOR_SINK,
    .create = create,
    .destroy = destroy,
    .start = start,
    .stop = stop,
    .pull = pull,
    .ack = on_ack,
    .fail = on_fail,
    .push = push,
    .save = save,
    .restore = restore,
};

static const tb_component component = {
    .struct_size = sizeof(tb_component),
    .kind = TB_KIND_CONNECTOR,
    .name = "bench",
    .description =
        "replays a file as fast as possible or at a fixed rate; measures throughput and latency",
    .options = options,
    .option_count = sizeof options / sizeof *options,
    .vtable = &vtable,
};

static const tb_component *const components[] = {&component};

static const tb_plugin_descriptor descriptor = {
    TB_DESCRIPTOR_HEAD,
    .flags = TB_PLUGIN_UNLOAD_SAFE,
    .name = "bench",
    .version = "0.1.0",
    .description = "The bench connector: Tremor's benchmark load generator and measuring sink",
    .components = components,
    .component_count = 1,
    .permissions = permissions,
    .permission_count = sizeof permissions / sizeof *permissions,
};

TB_PLUGIN_ENTRY(bench) { return &descriptor; }
