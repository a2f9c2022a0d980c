/*
 * harness.c - the operator test harness (harness.h): registry, instances, batches, checks.
 *
 * Thread contract: single-threaded tests.
 */
#define TB_FIX_IMPLEMENTATION
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/context.h"
#include "value/arena.h"
#include "value/json.h"

#ifndef TB_PLUGIN_DIR
#error "TB_PLUGIN_DIR must name the build's plugins directory"
#endif

int op_group_setup(void **state) { return tb_fix_group_setup(state); }
int op_group_teardown(void **state) { return tb_fix_group_teardown(state); }

const tbr_component *op_component(const char *name) { return tb_fix_component(TB_KIND_OPERATOR, name); }

int op_try_start(op_fix *f, const char *name, const char *config_json, char *err, size_t n) {
    return tb_fix_try_start(f, TB_KIND_OPERATOR, name, config_json, 0, err, n);
}

void op_start(op_fix *f, const char *name, const char *config_json) {
    tb_fix_start(f, TB_KIND_OPERATOR, name, config_json, 0);
}

void op_stop(op_fix *f) { tb_fix_stop(f); }
void op_begin(op_fix *f) { tb_fix_begin(f); }

static tb_value parse(op_fix *f, const char *json) {
    tb_value v = tb_null();
    char err[128];
    char *text = tb_arena_dup(f->arena, json, strlen(json));
    assert_non_null(text);
    if (tbr_json_parse(f->arena, text, strlen(json), &v, err, sizeof err))
        fail_msg("bad test JSON %s: %s", json, err);
    return v;
}

tb_event *op_event(op_fix *f, const char *data_json, const char *meta_json, uint64_t id,
                   uint64_t ingest_ns) {
    tb_value data = parse(f, data_json);
    tb_value meta = meta_json ? parse(f, meta_json) : tb_object();
    tb_event *e = tb_batch_push(&f->in);
    assert_non_null(e);
    e->data = data;
    e->meta = meta;
    e->id = id;
    e->ingest_ns = ingest_ns;
    e->stream = 3;
    e->source = 5;
    return e;
}

void op_batch(op_fix *f, uint64_t ingest_ns, const char *const *data, uint32_t count) {
    op_begin(f);
    for (uint32_t i = 0; i < count; i++) op_event(f, data[i], NULL, i + 1, ingest_ns);
}

int op_process(op_fix *f) {
    return f->inst->component->vt.op.process(f->inst->state, 0, &f->in, &f->out);
}

int op_tick(op_fix *f, uint64_t now_ns) {
    assert_non_null(f->inst->component->vt.op.tick);
    return f->inst->component->vt.op.tick(f->inst->state, now_ns, &f->out);
}

void op_contraflow(op_fix *f, uint32_t kind, uint64_t event_id, uint64_t latency_ns,
                   uint32_t port) {
    tb_contraflow cf = {
        .struct_size = sizeof cf,
        .kind = kind,
        .event_id = event_id,
        .latency_ns = latency_ns,
        .port = port,
    };
    assert_non_null(f->inst->component->vt.op.contraflow);
    f->inst->component->vt.op.contraflow(f->inst->state, &cf);
}

const char *op_port_name(const op_fix *f, uint16_t port) {
    const char *const *ports = f->inst->component->vt.op.output_ports;
    static const char *const dflt[] = {"out", "err", NULL};
    if (!ports) ports = dflt;
    for (uint16_t i = 0; ports[i]; i++)
        if (i == port) return ports[i];
    return "(no such port)";
}

void op_assert_ports(const op_fix *f, const char *expected) {
    char got[1024] = "";
    size_t used = 0;
    for (uint32_t i = 0; i < f->out.count && used < sizeof got; i++)
        used += (size_t)snprintf(got + used, sizeof got - used, "%s%s", i ? "," : "",
                                 op_port_name(f, f->out.events[i].port));
    if (strcmp(got, expected) != 0) fail_msg("output ports \"%s\", expected \"%s\"", got, expected);
}

void op_assert_json(const tb_value *v, const char *expected) {
    tb_arena *a = tbr_arena_new(0);
    tb_buf buf;
    assert_non_null(a);
    tb_buf_init(&buf, a);
    assert_int_equal(tbr_json_write(v, &buf), TB_OK);
    bool same = buf.len == strlen(expected) && memcmp(buf.data, expected, buf.len) == 0;
    if (!same) {
        char got[2048];
        snprintf(got, sizeof got, "%.*s", (int)buf.len, (const char *)buf.data);
        tbr_arena_free(a);
        fail_msg("value %s, expected %s", got, expected);
    }
    tbr_arena_free(a);
}

void op_assert_failed(const op_fix *f, uint32_t i, const char *reason, const char *data_json) {
    assert_true(i < f->out.count);
    const tb_event *e = &f->out.events[i];
    assert_string_equal(op_port_name(f, e->port), "err");
    assert_true(e->flags & TB_EF_ERROR);
    const tb_value *err = tb_object_getz(&e->data, "error");
    if (!tb_value_str_eq(err, reason)) {
        size_t n = 0;
        const char *s = tb_value_str(err, &n);
        fail_msg("event %u failed with \"%.*s\", expected \"%s\"", i, (int)n, s ? s : "", reason);
    }
    const tb_value *data = tb_object_getz(&e->data, "data");
    assert_non_null(data);
    op_assert_json(data, data_json);
}

int64_t op_metric(const op_fix *f, const char *name) {
    for (uint32_t i = 0; i < tbr_context_metric_count(f->inst->ctx); i++) {
        const tbr_metric *m = tbr_context_metric(f->inst->ctx, i);
        if (strcmp(m->name, name) == 0) return atomic_load(&m->value);
    }
    fail_msg("no metric '%s'", name);
    return 0;
}

bool op_circuit_open(const op_fix *f) { return tbr_context_circuit_open(f->inst->ctx); }
