/*
 * roundrobin.c - qos::roundrobin, as Tremor 0.13 has it (tremor-pipeline
 * op/qos/roundrobin.rs): distributes events over its outputs in turn, skipping an output
 * whose circuit breaker is open.
 *
 * Tremor names the outputs in its `outputs` option (default ["out"]) with any names. A
 * temblor operator declares its output ports up front, so this one has a fixed set: "out"
 * and "out1" .. "out15" to distribute over, plus "err" and "overflow"; `outputs` picks
 * which of them take part and in what order (a port may be named twice for a double
 * share, as in Tremor).
 *
 * Each event goes to the next output in turn whose circuit is closed; when every output's
 * circuit is open it goes to "overflow", as in Tremor. A circuit opening downstream of a
 * port (contraflow TB_CF_CIRCUIT_OPEN naming the port) takes it out of the turn, closing
 * puts it back. When the last output closes, the operator opens its own circuit breaker
 * (host->circuit: the runtime pauses the sources feeding it), and closes it when one comes
 * back, as Tremor triggers and restores its circuit upstream. Deliveries (acks, fails) do
 * not matter here, and events are passed on as they are.
 *
 * On a reload the new instance takes over (save/restore) where the turn is and which ports
 * have their circuit open downstream, by name: {"next": i, "down": ["out2", ...]}; with none
 * left open it opens its own circuit breaker, as the old one had.
 *
 * Thread contract: create/destroy on the control thread; process, contraflow, save and
 * restore on the instance's thread.
 */
#include "qos.h"

/* The ports: out, err, overflow, then out1 .. out15. */
static const char *const ports[] = {"out",   "err",   "overflow", "out1",  "out2",  "out3",
                                    "out4",  "out5",  "out6",     "out7",  "out8",  "out9",
                                    "out10", "out11", "out12",    "out13", "out14", "out15",
                                    NULL};

/* Outputs an instance may distribute over (entries of `outputs`). */
#define RR_MAX_OUTPUTS 64u

typedef struct rr_output {
    uint16_t port;
    bool up; /* takes events: the circuit downstream of its port is closed */
} rr_output;

typedef struct roundrobin {
    const tb_host_api *host;
    tb_context *ctx;
    rr_output outputs[RR_MAX_OUTPUTS];
    uint32_t count;
    uint32_t next; /* where the next turn starts */
    uint32_t m_overflow;
} roundrobin;

static const tb_option options[] = {
    TB_OPTION("outputs", TB_OPT_ARRAY, "[\"out\"]", 0,
              "the ports to distribute over, in turn: out, out1 .. out15"),
};

/* The port a distribution output is called by, or -1 (err and overflow are not ones). */
static int port_of(const char *name, size_t len) {
    for (int i = 0; ports[i]; i++) {
        if (i == QOS_PORT_ERR || i == QOS_PORT_OVERFLOW) continue;
        if (strlen(ports[i]) == len && memcmp(ports[i], name, len) == 0) return i;
    }
    return -1;
}

static int read_outputs(roundrobin *r, const tb_value *outputs) {
    if (!outputs || outputs->type != TB_ARRAY || outputs->len == 0)
        return tb_fail(r->host, r->ctx, TB_EINVAL,
                       "qos::roundrobin: outputs must name at least one port");
    if (outputs->len > RR_MAX_OUTPUTS)
        return tb_fail(r->host, r->ctx, TB_EINVAL,
                       "qos::roundrobin: outputs may name at most %u ports, found %u",
                       RR_MAX_OUTPUTS, outputs->len);
    for (uint32_t i = 0; i < outputs->len; i++) {
        size_t len;
        const tb_value *v = &outputs->as.items[i];
        const char *name = tb_value_str(v, &len);
        if (!name)
            return tb_fail(r->host, r->ctx, TB_EINVAL,
                           "qos::roundrobin: outputs[%u] must be a port name, found %s", i,
                           tb_type_name(v->type));
        int port = port_of(name, len);
        if (port < 0)
            return tb_fail(r->host, r->ctx, TB_EINVAL,
                           "qos::roundrobin: outputs[%u] '%.*s' is not a port to distribute "
                           "over: expected out or out1 .. out15",
                           i, (int)len, name);
        r->outputs[i].port = (uint16_t)port;
        r->outputs[i].up = true;
    }
    r->count = outputs->len;
    return TB_OK;
}

static void TB_CALL rr_destroy(void *instance) {
    roundrobin *r = instance;
    r->host->free(r->ctx, r);
}

static int TB_CALL rr_create(const tb_create_args *args, void **out) {
    roundrobin *r = args->host->alloc(args->ctx, sizeof *r);
    if (!r) return tb_fail(args->host, args->ctx, TB_ENOMEM, "qos::roundrobin: out of memory");
    memset(r, 0, sizeof *r);
    r->host = args->host;
    r->ctx = args->ctx;
    int rc = read_outputs(r, tb_object_getz(args->config, "outputs"));
    if (rc) {
        rr_destroy(r);
        return rc;
    }
    tbop_qos_metric_register(r->host, r->ctx, "overflow", TB_METRIC_COUNTER, &r->m_overflow);
    *out = r;
    return TB_OK;
}

/* The port of the next open output in turn, moving the turn on; overflow when none is. */
static uint16_t next_port(roundrobin *r) {
    for (uint32_t n = 0; n < r->count; n++) {
        uint32_t i = (r->next + n) % r->count;
        if (r->outputs[i].up) {
            r->next = (i + 1) % r->count;
            return r->outputs[i].port;
        }
    }
    return QOS_PORT_OVERFLOW;
}

static int TB_CALL rr_process(void *instance, uint32_t in_port, tb_batch *in, tb_batch *out) {
    roundrobin *r = instance;
    for (uint32_t i = 0; i < in->count; i++) {
        uint16_t port = next_port(r);
        if (port == QOS_PORT_OVERFLOW) tbop_qos_metric_add(r->host, r->ctx, r->m_overflow, 1);
        if (!tbop_qos_forward(out, &in->events[i], port, false)) return TB_ENOMEM;
    }
    return TB_OK;
}

static bool any_open(const roundrobin *r) {
    for (uint32_t i = 0; i < r->count; i++)
        if (r->outputs[i].up) return true;
    return false;
}

static void TB_CALL rr_contraflow(void *instance, const tb_contraflow *cf) {
    roundrobin *r = instance;
    if (cf->kind != TB_CF_CIRCUIT_OPEN && cf->kind != TB_CF_CIRCUIT_CLOSE) return;
    bool were = any_open(r);
    for (uint32_t i = 0; i < r->count; i++)
        if (r->outputs[i].port == cf->port) r->outputs[i].up = cf->kind == TB_CF_CIRCUIT_CLOSE;
    bool are = any_open(r);
    /* our own circuit follows whether any output is left */
    if (were != are) r->host->circuit(r->ctx, !are);
}

/* --- handover on a reload --------------------------------------------------------------------- */

static int TB_CALL rr_save(void *instance, tb_arena *arena, tb_value *out) {
    roundrobin *r = instance;
    tb_value saved = tb_object(), down = tb_array();
    tb_value *slot;
    bool listed[sizeof ports / sizeof ports[0]] = {false};
    for (uint32_t i = 0; i < r->count; i++) {
        uint16_t port = r->outputs[i].port;
        /* a port named twice is down for both of its shares: list it once */
        if (r->outputs[i].up || listed[port]) continue;
        listed[port] = true;
        size_t len = strlen(ports[port]);
        const char *name = tb_arena_dup(arena, ports[port], len);
        if (!name || !(slot = tb_array_push(arena, &down))) goto fail_nomem;
        *slot = tb_string(name, len);
    }
    if (!(slot = tbop_qos_put(arena, &saved, "next"))) goto fail_nomem;
    *slot = tb_u64(r->next);
    if (!(slot = tbop_qos_put(arena, &saved, "down"))) goto fail_nomem;
    *slot = down;
    *out = saved;
    return TB_OK;
fail_nomem:
    return tb_fail(r->host, r->ctx, TB_ENOMEM, "qos::roundrobin: out of memory");
}

/* Takes over what rr_save wrote: null (a build that kept no state) starts at the first
 * output with every one open; ports it does not distribute over, and members this build
 * does not know, are ignored. */
static int TB_CALL rr_restore(void *instance, const tb_value *saved) {
    roundrobin *r = instance;
    uint64_t next;
    if (saved->type == TB_NULL) return TB_OK;
    const tb_value *down = tb_object_getz(saved, "down");
    if (!tbop_qos_get_u64(saved, "next", &next) || !down || down->type != TB_ARRAY)
        return tb_fail(r->host, r->ctx, TB_EINVAL,
                       "qos::roundrobin: cannot restore from a %s without an unsigned \"next\" "
                       "and an array \"down\"",
                       tb_type_name(saved->type));
    if (next >= r->count)
        return tb_fail(r->host, r->ctx, TB_EINVAL,
                       "qos::roundrobin: cannot restore turn %llu of %u outputs",
                       (unsigned long long)next, r->count);
    for (uint32_t i = 0; i < down->len; i++)
        if (down->as.items[i].type != TB_STRING)
            return tb_fail(r->host, r->ctx, TB_EINVAL,
                           "qos::roundrobin: cannot restore down[%u]: expected a port name, found "
                           "%s",
                           i, tb_type_name(down->as.items[i].type));
    bool were = any_open(r);
    for (uint32_t i = 0; i < r->count; i++) r->outputs[i].up = true;
    for (uint32_t i = 0; i < down->len; i++) {
        int port = port_of(down->as.items[i].as.s, down->as.items[i].len);
        for (uint32_t k = 0; port >= 0 && k < r->count; k++)
            if (r->outputs[k].port == port) r->outputs[k].up = false;
    }
    r->next = (uint32_t)next;
    bool are = any_open(r);
    if (were != are) r->host->circuit(r->ctx, !are);
    return TB_OK;
}

static const tb_operator_vtable vtable = {
    .struct_size = sizeof(tb_operator_vtable),
    .output_ports = ports,
    .create = rr_create,
    .destroy = rr_destroy,
    .process = rr_process,
    .contraflow = rr_contraflow,
    .save = rr_save,
    .restore = rr_restore,
};

const tb_component tbop_qos_roundrobin = {
    .struct_size = sizeof(tb_component),
    .kind = TB_KIND_OPERATOR,
    .name = "qos::roundrobin",
    .description = "distributes events over its outputs in turn, skipping closed circuits",
    .options = options,
    .option_count = sizeof options / sizeof options[0],
    .vtable = &vtable,
};
