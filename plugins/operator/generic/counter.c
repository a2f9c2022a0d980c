/*
 * counter.c - generic::counter, as Tremor 0.13 has it (tremor-pipeline op/generic/counter.rs):
 * every event leaves on "out" as the record {"count": n, "event": <its data>}, n counting the
 * events seen by the instance from 1, as an unsigned integer. Metadata is kept as it was.
 * There are no options.
 *
 * The record is built in the batch's arena and points at the event's data without copying
 * it: both live exactly as long as the batch.
 *
 * On a reload the count is handed over (save/restore): {"count": n}, so the new instance
 * goes on from n + 1.
 *
 * Thread contract: create/destroy on the control thread; process, save and restore on the
 * instance's thread.
 */
#include "generic.h"

#include "vcopy.h"

typedef struct counter {
    const tb_host_api *host;
    tb_context *ctx;
    uint64_t count; /* events seen so far */
} counter;

static int TB_CALL counter_create(const tb_create_args *args, void **out) {
    counter *c = args->host->alloc(args->ctx, sizeof *c);
    if (!c) return tb_fail(args->host, args->ctx, TB_ENOMEM, "generic::counter: out of memory");
    c->host = args->host;
    c->ctx = args->ctx;
    c->count = 0;
    *out = c;
    return TB_OK;
}

static void TB_CALL counter_destroy(void *instance) {
    counter *c = instance;
    c->host->free(c->ctx, c);
}

/* Wraps data into {"count": count, "event": data} in arena. */
static bool wrap(tb_arena *arena, uint64_t count, tb_value *data) {
    tb_value rec = tb_object();
    tb_value *slot = tb_object_append(arena, &rec, "count", 5);
    if (!slot) return false;
    *slot = tb_u64(count);
    if (!(slot = tb_object_append(arena, &rec, "event", 5))) return false;
    *slot = *data;
    *data = rec;
    return true;
}

static int TB_CALL counter_process(void *instance, uint32_t in_port, tb_batch *in,
                                   tb_batch *out) {
    counter *c = instance;
    for (uint32_t i = 0; i < in->count; i++) {
        tb_event *e = tb_batch_push(out);
        if (!e) return TB_ENOMEM;
        *e = in->events[i];
        e->port = GENERIC_PORT_OUT;
        /* counted before wrapping, so a failed wrap does not reuse the number */
        if (!wrap(out->arena, ++c->count, &e->data)) return TB_ENOMEM;
    }
    return TB_OK;
}

/* {"count": events seen so far}. */
static int TB_CALL counter_save(void *instance, tb_arena *arena, tb_value *out) {
    counter *c = instance;
    tb_value saved = tb_object();
    tb_value *slot = tbop_vc_put(arena, &saved, "count");
    if (!slot) return tb_fail(c->host, c->ctx, TB_ENOMEM, "generic::counter: out of memory");
    *slot = tb_u64(c->count);
    *out = saved;
    return TB_OK;
}

/* null (a build that kept no state) starts from 0; other members are a newer build's. */
static int TB_CALL counter_restore(void *instance, const tb_value *saved) {
    counter *c = instance;
    uint64_t count;
    if (saved->type == TB_NULL) return TB_OK;
    if (!tbop_vc_get_u64(saved, "count", &count))
        return tb_fail(c->host, c->ctx, TB_EINVAL,
                       "generic::counter: cannot restore from a %s without an unsigned \"count\"",
                       tb_type_name(saved->type));
    c->count = count;
    return TB_OK;
}

static const char *const ports[] = {"out", "err", NULL};

static const tb_operator_vtable vtable = {
    .struct_size = sizeof(tb_operator_vtable),
    .output_ports = ports,
    .create = counter_create,
    .destroy = counter_destroy,
    .process = counter_process,
    .save = counter_save,
    .restore = counter_restore,
};

const tb_component tbop_generic_counter = {
    .struct_size = sizeof(tb_component),
    .kind = TB_KIND_OPERATOR,
    .name = "generic::counter",
    .description = "emits each event as {\"count\": n, \"event\": event}, counting from 1",
    .options = NULL,
    .option_count = 0,
    .vtable = &vtable,
};
