/*
 * exit.c - the `exit` connector: a sink that stops the runtime when an event reaches it, as
 * Tremor's exit connector does (for tests and scripted runs that must end deterministically).
 *
 * The first event decides. If its data is a record, two fields are read:
 *   "exit"  - the process exit code, an integer 0-255 (default 0);
 *   "delay" - milliseconds to wait before asking (default 0: at once).
 * Any other event (a string, a record without those fields) means exit code 0 at once. An
 * event that arrives as raw bytes (a codec-less flow, TB_EF_RAW) is read as JSON through the
 * host's "temblor.json/1" extension; bytes that are not JSON count as a plain event. A field
 * that is present with a bad value ("exit": "3") makes no request: the event is logged as an
 * error, counted in the metric invalid_requests and dropped, and the next event decides. It
 * does not fail the batch, since a failed push makes the runtime restart the connector and a
 * replaying source would send the same event again. The request goes through
 * "temblor.runtime/1" shutdown: a graceful stop, which lets the events in flight drain.
 * Events after the first request are accepted and ignored.
 *
 * Ownership: the instance is host memory; values parsed from raw events live in the batch's
 * arena. Thread contract: create/destroy on the control thread; push, stop and the delay
 * timer's callback on the instance's thread, never concurrently.
 */
#include <temblor/temblor.h>

#define NS_PER_MS 1000000ull

typedef struct exit_sink {
    const tb_host_api *host;
    tb_context *ctx;
    const tb_ext_runtime *runtime;
    const tb_ext_json *json; /* NULL: raw events are not parsed */
    uint64_t timer;          /* a delayed request is pending (0: none) */
    int code;                /* the pending request's exit code */
    bool done;               /* requested, or pending: later events are ignored */
    uint32_t metric_invalid; /* UINT32_MAX: not registered */
} exit_sink;

static int TB_CALL create(const tb_create_args *args, void **out) {
    const tb_ext_runtime *runtime = args->host->get_extension(args->ctx, TB_EXT_RUNTIME);
    const tb_ext_json *json = args->host->get_extension(args->ctx, TB_EXT_JSON);
    exit_sink *x;
    if (!runtime || !TB_HAS_FIELD(runtime, tb_ext_runtime, shutdown))
        return tb_fail(args->host, args->ctx, TB_ENOTSUP,
                       "exit: this runtime does not offer \"%s\" (shutdown requests)",
                       TB_EXT_RUNTIME);
    if (json && !TB_HAS_FIELD(json, tb_ext_json, parse)) json = NULL;
    x = args->host->alloc(args->ctx, sizeof *x);
    if (!x) return TB_ENOMEM;
    memset(x, 0, sizeof *x);
    x->host = args->host;
    x->ctx = args->ctx;
    x->runtime = runtime;
    x->json = json;
    if (args->host->metric_register(args->ctx, "invalid_requests", TB_METRIC_COUNTER,
                                    &x->metric_invalid) != TB_OK)
        x->metric_invalid = UINT32_MAX; /* a missing counter is no reason to refuse to run */
    *out = x;
    return TB_OK;
}

/* A pending delayed request is dropped: the instance is destroyed without having been
 * stopped (its flow never ran). */
static void cancel(exit_sink *x) {
    if (!x->timer) return;
    x->host->timer_stop(x->ctx, x->timer);
    x->timer = 0;
    tb_log(x->host, x->ctx, TB_LOG_INFO, "exit: stopped before its delay ran out; no shutdown");
}

static void TB_CALL destroy(void *instance) {
    exit_sink *x = instance;
    cancel(x);
    x->host->free(x->ctx, x);
}

static void shutdown_now(exit_sink *x, int code);

/* The runtime stops before the delay ran out (the sources ended, or a signal): the request
 * still decides the exit code. */
static int TB_CALL stop_sink(void *instance) {
    exit_sink *x = instance;
    if (!x->timer) return TB_OK;
    x->host->timer_stop(x->ctx, x->timer);
    x->timer = 0;
    shutdown_now(x, x->code);
    return TB_OK;
}

static void shutdown_now(exit_sink *x, int code) {
    tb_log(x->host, x->ctx, TB_LOG_INFO, "exit: requesting shutdown with exit code %d", code);
    x->runtime->shutdown(x->ctx, code);
}

static void TB_CALL on_delay(void *user, uint64_t timer_id) {
    exit_sink *x = user;
    (void)timer_id;
    x->timer = 0;
    shutdown_now(x, x->code);
}

/* The value of event e: its data, or for raw bytes the JSON they hold (null if none). */
static tb_value event_value(exit_sink *x, tb_arena *arena, const tb_event *e) {
    tb_value v = tb_null();
    char err[128];
    if (!(e->flags & TB_EF_RAW)) return e->data;
    if (e->data.type != TB_BYTES || !x->json) return v;
    if (x->json->parse(arena, e->data.len ? (const char *)e->data.as.bytes : "", e->data.len, &v,
                       err, sizeof err) != TB_OK) {
        tb_log(x->host, x->ctx, TB_LOG_DEBUG, "exit: raw event is not JSON (%s): a plain event",
               err);
        return tb_null();
    }
    return v;
}

/* "found 300" for numbers, "found string" for the rest. */
static void describe(const tb_value *v, char *buf, size_t n) {
    int64_t i;
    if (tb_value_as_i64(v, &i)) snprintf(buf, n, "%lld", (long long)i);
    else if (v->type == TB_F64) snprintf(buf, n, "%g", v->as.f);
    else snprintf(buf, n, "%s", tb_type_name(v->type));
}

/* Reads the request of value v into *code and *delay_ms; a field that is absent or null
 * keeps its default. False, with the reason in why, when a field holds a bad value. */
static bool read_request(const tb_value *v, int *code, uint64_t *delay_ms, char *why, size_t n) {
    const tb_value *f;
    int64_t i;
    char found[48];
    *code = 0;
    *delay_ms = 0;
    if (v->type != TB_OBJECT) return true;
    if ((f = tb_object_getz(v, "exit")) && f->type != TB_NULL) {
        if (!tb_value_as_i64(f, &i) || i < 0 || i > 255) {
            describe(f, found, sizeof found);
            snprintf(why, n, "'exit' must be an exit code, an integer from 0 to 255; found %s",
                     found);
            return false;
        }
        *code = (int)i;
    }
    if ((f = tb_object_getz(v, "delay")) && f->type != TB_NULL) {
        if (!tb_value_as_i64(f, &i) || i < 0) {
            describe(f, found, sizeof found);
            snprintf(why, n,
                     "'delay' must be a number of milliseconds, an integer from 0; found %s",
                     found);
            return false;
        }
        *delay_ms = (uint64_t)i;
    }
    return true;
}

static void request(exit_sink *x, int code, uint64_t delay_ms) {
    int rc;
    x->done = true;
    if (delay_ms == 0) {
        shutdown_now(x, code);
        return;
    }
    x->code = code;
    uint64_t ns = delay_ms > UINT64_MAX / NS_PER_MS ? UINT64_MAX : delay_ms * NS_PER_MS;
    rc = x->host->timer_start(x->ctx, ns, 0, on_delay, x, &x->timer);
    if (rc) {
        /* better early than never: the flow asked to end */
        x->timer = 0;
        tb_log(x->host, x->ctx, TB_LOG_WARN,
               "exit: cannot wait %llu ms (timer status %d); shutting down now",
               (unsigned long long)delay_ms, rc);
        shutdown_now(x, code);
        return;
    }
    tb_log(x->host, x->ctx, TB_LOG_INFO, "exit: shutting down with exit code %d in %llu ms",
           code, (unsigned long long)delay_ms);
}

static int TB_CALL push(void *instance, tb_batch *in) {
    exit_sink *x = instance;
    for (uint32_t k = 0; k < in->count && !x->done; k++) {
        const tb_event *e = &in->events[k];
        int code;
        uint64_t delay_ms;
        char why[160];
        if (e->flags & TB_EF_DROPPED) continue;
        /* the marker that closes a stream is no event of its own */
        if ((e->flags & TB_EF_STREAM_END) && (e->data.type == TB_NULL || e->data.len == 0))
            continue;
        tb_value v = event_value(x, in->arena, e);
        if (!read_request(&v, &code, &delay_ms, why, sizeof why)) {
            tb_log(x->host, x->ctx, TB_LOG_ERROR, "exit: ignoring an event: %s", why);
            if (x->metric_invalid != UINT32_MAX)
                x->host->metric_add(x->ctx, x->metric_invalid, 1);
            continue;
        }
        request(x, code, delay_ms);
    }
    return TB_OK;
}

static const tb_connector_vtable vtable = {
    .struct_size = sizeof(tb_connector_vtable),
    .flags = TB_CONNECTOR_SINK | TB_CONNECTOR_SINK_VALUES,
    .create = create,
    .destroy = destroy,
    .stop = stop_sink,
    .push = push,
};

static const tb_component component = {
    .struct_size = sizeof(tb_component),
    .kind = TB_KIND_CONNECTOR,
    .name = "exit",
    .description = "stops the runtime when an event arrives ({\"exit\": code, \"delay\": ms})",
    .vtable = &vtable,
};

static const tb_component *const components[] = {&component};

static const tb_plugin_descriptor descriptor = {
    TB_DESCRIPTOR_HEAD,
    .flags = TB_PLUGIN_UNLOAD_SAFE,
    .name = "exit",
    .version = "0.1.0",
    .description = "The exit connector",
    .components = components,
    .component_count = 1,
};

TB_PLUGIN_ENTRY(exit) { return &descriptor; }
