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

/* --- handover --------------------------------------------------------------------------------- */

tb_value op_save(op_fix *f, tb_arena *arena) {
    const tbr_component *c = f->inst->component;
    tb_value saved = tb_null();
    assert_non_null(c->vt.op.save);
    tbr_context_clear_error(f->inst->ctx);
    int rc = c->vt.op.save(f->inst->state, arena, &saved);
    if (rc) fail_msg("%s: save: %d: %s", c->desc.name, rc, tbr_context_error(f->inst->ctx));
    return saved;
}

int op_restore(op_fix *f, const tb_value *saved, char *err, size_t n) {
    const tbr_component *c = f->inst->component;
    assert_non_null(c->vt.op.restore);
    tbr_context_clear_error(f->inst->ctx);
    int rc = c->vt.op.restore(f->inst->state, saved);
    const char *msg = tbr_context_error(f->inst->ctx);
    snprintf(err, n, "%s", msg ? msg : "");
    return rc;
}

void op_handover(op_fix *f, bool late) {
    tbr_instance *old = f->inst, *fresh = NULL;
    tb_arena *arena = tbr_arena_new(256); /* small chunks: the value grows through them */
    char err[512] = "";
    assert_non_null(arena);
    tb_value saved = op_save(f, arena);
    int rc = tbr_instance_create(old->registry, old->component, "test-reloaded", &old->config,
                                 NULL, 0, &fresh, err, sizeof err);
    if (rc) fail_msg("create the new instance: %d: %s", rc, err);
    if (late) tbr_instance_destroy(old);
    f->inst = fresh;
    rc = op_restore(f, &saved, err, sizeof err);
    if (rc) fail_msg("%s: restore: %d: %s", fresh->component->desc.name, rc, err);
    tbr_arena_free(arena);
    if (!late) tbr_instance_destroy(old);
}

/* A growing text. */
typedef struct op_text {
    char *s;
    size_t len, cap;
} op_text;

static void text_add(op_text *t, const char *s, size_t n) {
    if (t->cap - t->len <= n) {
        size_t cap = t->cap ? t->cap : 1024;
        while (cap - t->len <= n) cap *= 2;
        t->s = realloc(t->s, cap);
        assert_non_null(t->s);
        t->cap = cap;
    }
    memcpy(t->s + t->len, s, n);
    t->len += n;
    t->s[t->len] = '\0';
}

static void text_addf(op_text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void text_addf(op_text *t, const char *fmt, ...) {
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    assert_true(n >= 0 && (size_t)n < sizeof buf);
    text_add(t, buf, (size_t)n);
}

static void text_add_json(op_text *t, const tb_value *v) {
    tb_arena *a = tbr_arena_new(0);
    tb_buf buf;
    assert_non_null(a);
    tb_buf_init(&buf, a);
    assert_int_equal(tbr_json_write(v, &buf), TB_OK);
    text_add(t, (const char *)buf.data, buf.len);
    tbr_arena_free(a);
}

/* The output of the step just run, and the circuit breaker after it. */
static void describe_step(op_text *t, const op_fix *f, uint32_t step) {
    text_addf(t, "step %u: circuit %s\n", step, op_circuit_open(f) ? "open" : "closed");
    for (uint32_t i = 0; i < f->out.count; i++) {
        const tb_event *e = &f->out.events[i];
        text_addf(t, "  %s id=%llu ingest=%llu stream=%u source=%u flags=%u data=",
                  op_port_name(f, e->port), (unsigned long long)e->id,
                  (unsigned long long)e->ingest_ns, e->stream, e->source, e->flags);
        text_add_json(t, &e->data);
        text_add(t, " meta=", 6);
        text_add_json(t, &e->meta);
        text_add(t, "\n", 1);
    }
}

enum { HANDOVER_NONE = -1, HANDOVER_EVERY = -2 };

/* The transcript of a run with a handover before step `at` (or none, or before every one). */
static char *run_scenario(const char *name, const char *config_json, op_step_fn step,
                          uint32_t nsteps, int64_t at) {
    op_fix f;
    op_text t = {0};
    op_start(&f, name, config_json);
    for (uint32_t k = 0; k < nsteps; k++) {
        if (at == HANDOVER_EVERY) op_handover(&f, true);
        else if (at == (int64_t)k) op_handover(&f, false);
        op_begin(&f);
        step(&f, k);
        describe_step(&t, &f, k);
    }
    op_stop(&f); /* both instances' memory went back */
    return t.s;
}

void op_assert_handover(const char *name, const char *config_json, op_step_fn step,
                        uint32_t nsteps) {
    char *want = run_scenario(name, config_json, step, nsteps, HANDOVER_NONE);
    for (int64_t at = HANDOVER_EVERY; at < (int64_t)nsteps; at++) {
        if (at == HANDOVER_NONE) continue;
        char *got = run_scenario(name, config_json, step, nsteps, at);
        if (strcmp(got, want) != 0) {
            /* the first line that differs: the transcripts are long */
            size_t at_line = 0, line = 1;
            for (size_t i = 0; want[i] == got[i]; i++)
                if (want[i] == '\n') at_line = i + 1, line++;
            const char *w = want + at_line, *g = got + at_line;
            char when[64] = "before every step";
            if (at != HANDOVER_EVERY)
                snprintf(when, sizeof when, "before step %lld", (long long)at);
            int wn = (int)strcspn(w, "\n"), gn = (int)strcspn(g, "\n");
            print_error("with a handover %s, transcript line %zu differs:\n"
                        "uninterrupted: %.*s\nhanded over:   %.*s\n",
                        when, line, wn > 800 ? 800 : wn, *w ? w : "(end)", gn > 800 ? 800 : gn,
                        *g ? g : "(end)");
            free(got);
            free(want);
            fail_msg("%s: the handover changed the output", name);
        }
        free(got);
    }
    free(want);
}

void op_assert_restore(const char *name, const char *config_json, const char *saved_json,
                       int status, const char *needle) {
    op_fix f;
    char err[512] = "";
    op_start(&f, name, config_json);
    op_begin(&f);
    tb_value saved = parse(&f, saved_json);
    int rc = op_restore(&f, &saved, err, sizeof err);
    if (rc != status)
        fail_msg("%s: restore %s: %d (%s), expected %d", name, saved_json, rc, err, status);
    if (needle && !strstr(err, needle))
        fail_msg("%s: restore %s: \"%s\" lacks \"%s\"", name, saved_json, err, needle);
    /* whatever restore made of it, the instance still runs and frees all it holds */
    op_begin(&f);
    op_event(&f, "1", "{\"class\":\"c\",\"rate\":1}", 1, 1);
    assert_int_equal(op_process(&f), TB_OK);
    op_stop(&f);
}
