/*
 * flaky.c - a test connector whose two halves misbehave on command, to test the engine's
 * delivery guarantees against a real plugin loaded from disk.
 *
 * Source half (transactional): emits {"seq": N} for N in [0, count) as JSON bytes, id N,
 * batch events per pull; a failed id is replayed; the source ends (TB_EOF) only once every
 * id has been acknowledged. On stop it writes "emitted=E acked=A failed=F" to `report`.
 * Sink half: appends each event's bytes to `out`. It can sleep `slow_ms` per batch (a slow
 * sink), fail push with TB_ERROR on every `fail_every`-th batch (a failing callback), crash
 * (write through a null pointer) on every `crash_every`-th batch of an instance (for the
 * isolated tier: in process that ends the runtime), or
 * lose its target: after `down_after` batches it reports the circuit open, fails pushes
 * with TB_EIO and refuses to connect for `down_ms`, then recovers.
 *
 * Variants built from this file for the reload tests: FLAKY_V2 (version 0.2.0, option
 * slow_ms renamed delay_ms, so a running configuration that sets slow_ms does not suit it),
 * FLAKY_STICKY (not unload-safe) and FLAKY_ABI2 (built for another ABI major).
 *
 * Ownership: instance memory comes from the host allocator. Thread contract: every callback
 * on the instance's thread, as the PDK says.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <temblor/temblor.h>

typedef struct flaky {
    const tb_host_api *host;
    tb_context *ctx;
    /* source */
    uint64_t count, next, acked_total, failed_total, emitted;
    uint64_t unsettled;      /* emitted, neither acknowledged nor failed yet */
    uint32_t batch;
    uint8_t *acked;          /* per id: 0 pending, 1 acked */
    uint64_t *replay;        /* failed ids to send again */
    uint64_t nreplay;
    char report[256];
    /* sink */
    char out[256];
    uint64_t slow_ms, fail_every, crash_every, down_after, down_ms, batches;
    bool went_down;
} flaky;

static const tb_option options[] = {
    TB_OPTION("count", TB_OPT_UINT, "0", 0, "events the source emits"),
    TB_OPTION("batch", TB_OPT_UINT, "64", 0, "events per pull"),
    TB_OPTION("report", TB_OPT_STRING, "", 0, "file the source's counts are written to on stop"),
    TB_OPTION("out", TB_OPT_STRING, "", 0, "file the sink appends every event to"),
#ifdef FLAKY_V2
    TB_OPTION("delay_ms", TB_OPT_UINT, "0", 0, "sink: sleep this long per batch"),
#else
    TB_OPTION("slow_ms", TB_OPT_UINT, "0", 0, "sink: sleep this long per batch"),
#endif
    TB_OPTION("fail_every", TB_OPT_UINT, "0", 0, "sink: push fails (TB_ERROR) on every n-th batch"),
    TB_OPTION("crash_every", TB_OPT_UINT, "0", 0, "sink: push crashes (segfault) on every n-th batch of an instance"),
    TB_OPTION("down_after", TB_OPT_UINT, "0", 0, "sink: lose the target after n batches (0: never)"),
    TB_OPTION("down_ms", TB_OPT_UINT, "300", 0, "sink: for this long"),
};

/* The sink's target is outside the instance, as a real server would be: it stays down when
 * the runtime restarts or reconnects the instance. Monotonic ns; 0 while it is up. */
static uint64_t target_down_until;

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void copy_str(const tb_value *config, const char *name, char *dst, size_t n) {
    size_t len;
    const char *s = tb_config_str(config, name, "", &len);
    if (len >= n) len = n - 1;
    memcpy(dst, s, len);
    dst[len] = 0;
}

static int TB_CALL create(const tb_create_args *args, void **out) {
    flaky *f = args->host->alloc(args->ctx, sizeof *f);
    if (!f) return TB_ENOMEM;
    memset(f, 0, sizeof *f);
    f->host = args->host;
    f->ctx = args->ctx;
    f->count = tb_config_u64(args->config, "count", 0);
    f->batch = (uint32_t)tb_config_u64(args->config, "batch", 64);
    f->slow_ms = tb_config_u64(args->config, "slow_ms", 0);
    f->fail_every = tb_config_u64(args->config, "fail_every", 0);
    f->crash_every = tb_config_u64(args->config, "crash_every", 0);
    f->down_after = tb_config_u64(args->config, "down_after", 0);
    f->down_ms = tb_config_u64(args->config, "down_ms", 300);
    copy_str(args->config, "report", f->report, sizeof f->report);
    copy_str(args->config, "out", f->out, sizeof f->out);
    if (f->count) {
        f->acked = f->host->alloc(f->ctx, f->count);
        f->replay = f->host->alloc(f->ctx, f->count * sizeof *f->replay);
        if (!f->acked || !f->replay) {
            f->host->free(f->ctx, f->acked);
            f->host->free(f->ctx, f->replay);
            f->host->free(f->ctx, f);
            return TB_ENOMEM;
        }
        memset(f->acked, 0, f->count);
    }
    *out = f;
    return TB_OK;
}

static void TB_CALL destroy(void *instance) {
    flaky *f = instance;
    f->host->free(f->ctx, f->acked);
    f->host->free(f->ctx, f->replay);
    f->host->free(f->ctx, f);
}

static bool is_down(flaky *f) {
    if (target_down_until && now_ns() >= target_down_until) {
        target_down_until = 0;
        f->host->circuit(f->ctx, false);
    }
    return target_down_until != 0;
}

static int TB_CALL connect_(void *instance) {
    flaky *f = instance;
    if (is_down(f)) {
        f->host->set_error(f->ctx, "target unreachable (on purpose)");
        return TB_EIO;
    }
    return TB_OK;
}

static int TB_CALL stop(void *instance) {
    flaky *f = instance;
    if (!f->report[0]) return TB_OK;
    FILE *fp = fopen(f->report, "w");
    if (!fp) return TB_OK;
    fprintf(fp, "emitted=%llu acked=%llu failed=%llu\n", (unsigned long long)f->emitted,
            (unsigned long long)f->acked_total, (unsigned long long)f->failed_total);
    fclose(fp);
    return TB_OK;
}

static int emit(flaky *f, tb_batch *out, uint64_t id) {
    char text[48];
    int n = snprintf(text, sizeof text, "{\"seq\":%llu}", (unsigned long long)id);
    tb_event *e = tb_batch_push(out);
    char *copy = tb_arena_dup(out->arena, text, (size_t)n);
    if (!e || !copy) return TB_ENOMEM;
    e->data = tb_bytes(copy, (size_t)n);
    e->meta = tb_object();
    e->id = id;
    e->flags = TB_EF_RAW;
    f->emitted++;
    f->unsettled++;
    return TB_OK;
}

static int TB_CALL pull(void *instance, tb_batch *out) {
    flaky *f = instance;
    uint32_t room = out->capacity && out->capacity < f->batch ? out->capacity : f->batch;
    while (out->count < room && f->nreplay)
        if (emit(f, out, f->replay[--f->nreplay])) return TB_ENOMEM;
    while (out->count < room && f->next < f->count)
        if (emit(f, out, f->next++)) return TB_ENOMEM;
    if (out->count) return TB_OK;
    /* everything sent: end once everything is acknowledged, else wait for ack or fail */
    return f->acked_total == f->count ? TB_EOF : TB_EAGAIN;
}

static void TB_CALL ack(void *instance, const uint64_t *ids, uint32_t count) {
    flaky *f = instance;
    f->unsettled -= count < f->unsettled ? count : f->unsettled;
    for (uint32_t i = 0; i < count; i++)
        if (ids[i] < f->count && !f->acked[ids[i]]) {
            f->acked[ids[i]] = 1;
            f->acked_total++;
        }
}

static void TB_CALL fail(void *instance, const uint64_t *ids, uint32_t count) {
    flaky *f = instance;
    f->unsettled -= count < f->unsettled ? count : f->unsettled;
    for (uint32_t i = 0; i < count; i++) {
        f->failed_total++;
        if (ids[i] < f->count && !f->acked[ids[i]] && f->nreplay < f->count) f->replay[f->nreplay++] = ids[i];
    }
}

static int TB_CALL push(void *instance, tb_batch *in) {
    flaky *f = instance;
    f->batches++;
    if (f->slow_ms) {
        struct timespec ts = {(time_t)(f->slow_ms / 1000), (long)(f->slow_ms % 1000) * 1000000L};
        while (nanosleep(&ts, &ts) && errno == EINTR) {
        }
    }
    if (f->crash_every && f->batches % f->crash_every == 0) *(volatile int *)0 = 1;
    if (f->fail_every && f->batches % f->fail_every == 0) {
        f->host->set_error(f->ctx, "push failed (on purpose)");
        return TB_ERROR;
    }
    if (f->down_after && f->batches == f->down_after && !f->went_down) {
        f->went_down = true;
        target_down_until = now_ns() + f->down_ms * 1000000u;
        f->host->circuit(f->ctx, true);
    }
    if (is_down(f)) {
        f->host->set_error(f->ctx, "target went away (on purpose)");
        return TB_EIO;
    }
    if (!f->out[0]) return TB_OK;
    FILE *fp = fopen(f->out, "a");
    if (!fp) {
        f->host->set_error(f->ctx, "cannot open out");
        return TB_EIO;
    }
    for (uint32_t i = 0; i < in->count; i++) {
        const tb_event *e = &in->events[i];
        if (e->data.type == TB_BYTES) fwrite(e->data.as.s, 1, e->data.len, fp);
        fputc('\n', fp);
    }
    fclose(fp);
    return TB_OK;
}

/* Handover on a reload. The runtime promises to save only once every event emitted is
 * settled: a save before that fails, which the tests catch. */
static int TB_CALL save(void *instance, tb_arena *a, tb_value *out) {
    flaky *f = instance;
    if (f->unsettled)
        return tb_fail(f->host, f->ctx, TB_EINVAL, "flaky: save called with %llu events unsettled",
                       (unsigned long long)f->unsettled);
    static const char *const keys[] = {"next", "emitted", "acked_total", "failed_total"};
    const uint64_t values[] = {f->next, f->emitted, f->acked_total, f->failed_total};
    *out = tb_object();
    for (size_t i = 0; i < 4; i++) {
        tb_value *slot = tb_object_append(a, out, keys[i], strlen(keys[i]));
        if (!slot) return TB_ENOMEM;
        *slot = tb_u64(values[i]);
    }
    tb_value *acked = tb_object_append(a, out, "acked", 5), *replay = tb_object_append(a, out, "replay", 6);
    if (!acked || !replay) return TB_ENOMEM;
    /* copies: the saved value outlives this instance */
    size_t rbytes = f->nreplay * sizeof *f->replay;
    const void *ac = f->count ? tb_arena_dup(a, f->acked, f->count) : "";
    const void *rc = rbytes ? tb_arena_dup(a, f->replay, rbytes) : "";
    if (!ac || !rc) return TB_ENOMEM;
    *acked = tb_bytes(ac, f->count);
    *replay = tb_bytes(rc, rbytes);
    return TB_OK;
}

static int TB_CALL restore(void *instance, const tb_value *saved) {
    flaky *f = instance;
    const tb_value *acked = tb_object_getz(saved, "acked"), *replay = tb_object_getz(saved, "replay");
    if (!acked || acked->type != TB_BYTES || acked->len != f->count || !replay || replay->type != TB_BYTES)
        return tb_fail(f->host, f->ctx, TB_EINVAL, "flaky: the saved state is for another count");
    f->next = tb_config_u64(saved, "next", 0);
    f->emitted = tb_config_u64(saved, "emitted", 0);
    f->acked_total = tb_config_u64(saved, "acked_total", 0);
    f->failed_total = tb_config_u64(saved, "failed_total", 0);
    if (f->count) memcpy(f->acked, acked->as.bytes, f->count);
    f->nreplay = replay->len / sizeof *f->replay;
    if (f->nreplay) memcpy(f->replay, replay->as.bytes, replay->len);
    return TB_OK;
}

static const tb_connector_vtable vtable = {
    .struct_size = sizeof(tb_connector_vtable),
    .flags = TB_CONNECTOR_SOURCE | TB_CONNECTOR_SINK | TB_CONNECTOR_TRANSACTIONAL,
    .create = create,
    .destroy = destroy,
    .connect = connect_,
    .stop = stop,
    .pull = pull,
    .ack = ack,
    .fail = fail,
    .push = push,
    .save = save,
    .restore = restore,
};

static const tb_component component = {
    .struct_size = sizeof(tb_component),
    .kind = TB_KIND_CONNECTOR,
    .name = "flaky",
    .description = "a test connector that fails on command",
    .options = options,
    .option_count = sizeof options / sizeof options[0],
    .vtable = &vtable,
};

static const tb_component *const components[] = {&component};

static const tb_plugin_descriptor descriptor = {
#ifdef FLAKY_ABI2
    TB_PLUGIN_MAGIC, 2, 0, (uint32_t)sizeof(tb_plugin_descriptor),
#else
    TB_DESCRIPTOR_HEAD,
#endif
#ifndef FLAKY_STICKY
    .flags = TB_PLUGIN_UNLOAD_SAFE,
#endif
    .name = "flaky",
#ifdef FLAKY_V2
    .version = "0.2.0",
#else
    .version = "0.1.0",
#endif
    .description = "Engine test connector",
    .components = components,
    .component_count = 1,
};

TB_PLUGIN_ENTRY(flaky) { return &descriptor; }
