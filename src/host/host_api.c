/* host_api.c - the tb_host_api table: gathers the host functions and implements the small
 * ones (logging, readiness, time, extensions). */
#define _GNU_SOURCE
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "host/context_private.h"
#include "host/handover.h"
#include "host/loop.h"
#include "value/json.h"

static void TB_CALL host_log(tb_context *ctx, uint32_t level, const char *msg) {
    tbr_log_msg(level, ctx->label, msg ? msg : "");
}

static bool TB_CALL host_log_enabled(tb_context *ctx, uint32_t level) {
    (void)ctx;
    return level <= tbr_log_level();
}

/* fd_watch, fd_modify and the timers may be called on the instance's thread (or before it
 * runs, on the control thread), never from a thread of the plugin's own: the loop is not
 * thread-safe. A call from another thread is refused, and logged (the first ten of each
 * context), instead of corrupting the loop. */
static bool on_instance_thread(tb_context *ctx, const char *what) {
    if (tbr_loop_on_owner(ctx->loop)) return true;
    uint32_t n = atomic_fetch_add(&ctx->wrong_thread_calls, 1) + 1;
    if (n <= 10)
        tbr_log(TB_LOG_ERROR, ctx->label,
                "%s called from thread %d, which is not the instance's: refused (the PDK allows it only on the "
                "instance's thread; from another thread, use wake)",
                what, (int)gettid());
    return false;
}

static int TB_CALL host_fd_watch(tb_context *ctx, int fd, uint32_t events, tb_fd_fn cb,
                                 void *user, uint64_t *out_id) {
    if (!ctx->loop) return TB_ENOTSUP;
    if (!on_instance_thread(ctx, "fd_watch")) return TB_EINVAL;
    int rc = tbr_loop_watch(ctx->loop, fd, events, cb, user, out_id);
    if (rc == TB_OK) tbr_context_track(ctx, *out_id, false);
    return rc;
}

static int TB_CALL host_fd_modify(tb_context *ctx, uint64_t id, uint32_t events) {
    if (!ctx->loop) return TB_ENOTSUP;
    if (!on_instance_thread(ctx, "fd_modify")) return TB_EINVAL;
    return tbr_loop_modify(ctx->loop, id, events);
}

static void TB_CALL host_fd_unwatch(tb_context *ctx, uint64_t id) {
    if (ctx->loop && on_instance_thread(ctx, "fd_unwatch")) tbr_loop_unwatch(ctx->loop, id);
}

static int TB_CALL host_timer_start(tb_context *ctx, uint64_t delay_ns, uint64_t interval_ns,
                                    tb_timer_fn cb, void *user, uint64_t *out_id) {
    if (!ctx->loop) return TB_ENOTSUP;
    if (!on_instance_thread(ctx, "timer_start")) return TB_EINVAL;
    int rc = tbr_loop_timer_start(ctx->loop, delay_ns, interval_ns, cb, user, out_id);
    if (rc == TB_OK) tbr_context_track(ctx, *out_id, true);
    return rc;
}

static void TB_CALL host_timer_stop(tb_context *ctx, uint64_t id) {
    if (ctx->loop && on_instance_thread(ctx, "timer_stop")) tbr_loop_timer_stop(ctx->loop, id);
}

static void TB_CALL host_wake(tb_context *ctx) {
    atomic_store(&ctx->woken, true);
    if (ctx->loop) tbr_loop_wake(ctx->loop);
}

static int TB_CALL json_parse(tb_arena *arena, const char *text, size_t len, tb_value *out,
                              char *err, size_t err_size) {
    return tbr_json_parse(arena, text, len, out, err, err_size);
}

static int TB_CALL json_write(const tb_value *v, tb_buf *buf) { return tbr_json_write(v, buf); }

static const tb_ext_json json_extension = {sizeof(tb_ext_json), json_parse, json_write};

/* Shutdown requests go to the handler the engine installs; before one is installed (tests
 * that drive a plugin directly) the first request is remembered for them to read. */
static _Atomic(tbr_shutdown_fn) shutdown_handler;
static _Atomic int shutdown_requested_code = -1;

void tbr_host_set_shutdown_handler(tbr_shutdown_fn fn) { atomic_store(&shutdown_handler, fn); }

int tbr_host_shutdown_requested(void) { return atomic_load(&shutdown_requested_code); }

void tbr_host_shutdown_reset(void) { atomic_store(&shutdown_requested_code, -1); }

static void TB_CALL runtime_shutdown(tb_context *ctx, int exit_code) {
    int none = -1;
    if (exit_code < 0) exit_code = 1;
    atomic_compare_exchange_strong(&shutdown_requested_code, &none, exit_code);
    tbr_log_msg(TB_LOG_INFO, ctx ? ctx->label : "runtime", "shutdown requested");
    tbr_shutdown_fn fn = atomic_load(&shutdown_handler);
    if (fn) fn(exit_code);
}

static const tb_ext_runtime runtime_extension = {sizeof(tb_ext_runtime), 0, runtime_shutdown};

static _Atomic(tbr_metrics_fn) metrics_provider;

void tbr_host_set_metrics_provider(tbr_metrics_fn fn) { atomic_store(&metrics_provider, fn); }

static int TB_CALL metrics_snapshot(tb_context *ctx, tb_arena *arena, tb_value *out) {
    (void)ctx;
    tbr_metrics_fn fn = atomic_load(&metrics_provider);
    *out = tb_array();
    return fn ? fn(arena, out) : TB_ENOTSUP;
}

static const tb_ext_metrics metrics_extension = {sizeof(tb_ext_metrics), 0, metrics_snapshot};

/* Refused from another thread as the loop's calls are: the list is the instance thread's. */
static void TB_CALL sink_stream_done(tb_context *ctx, uint32_t stream) {
    if (!ctx->loop || on_instance_thread(ctx, "sink_stream_done")) tbr_host_sink_stream_done(ctx, stream);
}

static const tb_ext_streams streams_extension = {sizeof(tb_ext_streams), 0, sink_stream_done};

static uint64_t TB_CALL give_fd(tb_context *ctx, int fd) {
    (void)ctx;
    return tbr_handover_give_fd(fd);
}

static int TB_CALL take_fd(tb_context *ctx, uint64_t handle) {
    (void)ctx;
    return tbr_handover_take_fd(handle);
}

static const tb_ext_handover handover_extension = {sizeof(tb_ext_handover), 0, give_fd, take_fd};

static const void *TB_CALL host_get_extension(tb_context *ctx, const char *id) {
    (void)ctx;
    if (id && strcmp(id, TB_EXT_JSON) == 0) return &json_extension;
    if (id && strcmp(id, TB_EXT_RUNTIME) == 0) return &runtime_extension;
    if (id && strcmp(id, TB_EXT_METRICS) == 0) return &metrics_extension;
    if (id && strcmp(id, TB_EXT_STREAMS) == 0) return &streams_extension;
    if (id && strcmp(id, TB_EXT_HANDOVER) == 0) return &handover_extension;
    return NULL;
}

static uint64_t TB_CALL host_now_ns(void) { return tbr_now_ns(); }

static const tb_host_api host_api = {
    .struct_size = sizeof(tb_host_api),
    .abi_major = TB_ABI_MAJOR,
    .abi_minor = TB_ABI_MINOR,
    .log = host_log,
    .log_enabled = host_log_enabled,
    .config = tbr_host_config,
    .alloc = tbr_host_alloc,
    .realloc = tbr_host_realloc,
    .free = tbr_host_free,
    .set_error = tbr_host_set_error,
    .metric_register = tbr_host_metric_register,
    .metric_add = tbr_host_metric_add,
    .metric_set = tbr_host_metric_set,
    .fd_watch = host_fd_watch,
    .fd_modify = host_fd_modify,
    .fd_unwatch = host_fd_unwatch,
    .timer_start = host_timer_start,
    .timer_stop = host_timer_stop,
    .wake = host_wake,
    .delivered = tbr_host_delivered,
    .circuit = tbr_host_circuit,
    .get_extension = host_get_extension,
    .now_ns = host_now_ns,
};

const tb_host_api *tbr_host_api(void) { return &host_api; }
