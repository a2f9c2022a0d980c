/*
 * proc_harness.c - the processor test harness (proc_harness.h): registry, instances,
 * batches, checks.
 *
 * Thread contract: single-threaded tests. Ownership: see proc_harness.h.
 */
#define TB_FIX_IMPLEMENTATION
#include "proc_harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "value/arena.h"
#include "value/json.h"

int pf_group_setup(void **state) { return tb_fix_group_setup(state); }
int pf_group_teardown(void **state) { return tb_fix_group_teardown(state); }

/* Processors are created for stream 3, so stream handling is not tested by accident at 0. */
int pf_try_start(pf *f, uint32_t kind, const char *name, const char *config_json, char *err, size_t n) {
    return tb_fix_try_start(f, kind, name, config_json, 3, err, n);
}

void pf_start(pf *f, uint32_t kind, const char *name, const char *config_json) {
    tb_fix_start(f, kind, name, config_json, 3);
}

void pf_stop(pf *f) { tb_fix_stop(f); }
void pf_begin(pf *f) { tb_fix_begin(f); }

tb_event *pf_chunk(pf *f, const void *p, size_t n, uint64_t ingest_ns) {
    /* an exact-size copy, so reading past the chunk is caught by AddressSanitizer */
    char *copy = tb_arena_dup(f->arena, p, n);
    assert_non_null(copy);
    tb_event *e = tb_batch_push(&f->in);
    assert_non_null(e);
    e->data = tb_bytes(copy, n);
    e->meta = tb_object();
    tb_value *k = tb_object_append(f->arena, &e->meta, "k", 1);
    assert_non_null(k);
    *k = tb_i64(1);
    e->id = f->in.count;
    e->ingest_ns = ingest_ns;
    e->stream = 3;
    e->source = 5;
    e->flags = TB_EF_RAW;
    return e;
}

tb_event *pf_text(pf *f, const char *s) { return pf_chunk(f, s, strlen(s), 0); }

int pf_process(pf *f) {
    return f->inst->component->vt.processor.process(f->inst->state, &f->in, &f->out);
}

int pf_finish(pf *f) {
    if (!f->inst->component->vt.processor.finish) return TB_OK;
    return f->inst->component->vt.processor.finish(f->inst->state, &f->out);
}

static void dump(char *out, size_t cap, const uint8_t *p, size_t n) {
    size_t used = 0;
    out[0] = 0;
    for (size_t i = 0; i < n && used + 5 < cap; i++)
        used += (size_t)snprintf(out + used, cap - used,
                                 p[i] >= 32 && p[i] < 127 && p[i] != '\\' ? "%c" : "\\x%02x", p[i]);
}

void pf_assert_bytes(const pf *f, uint32_t i, const void *p, size_t n) {
    if (i >= f->out.count) fail_msg("no output event %u (%u events)", i, f->out.count);
    const tb_event *e = &f->out.events[i];
    if (e->flags & TB_EF_ERROR) {
        size_t len = 0;
        const char *s = tb_value_str(tb_object_getz(&e->data, "error"), &len);
        fail_msg("output event %u failed: %.*s", i, (int)len, s ? s : "");
    }
    assert_true(e->flags & TB_EF_RAW);
    assert_int_equal(e->data.type, TB_BYTES);
    if (e->data.len != n || (n && memcmp(e->data.as.bytes, p, n) != 0)) {
        char got[512], want[512];
        dump(got, sizeof got, e->data.as.bytes, e->data.len);
        dump(want, sizeof want, p, n);
        fail_msg("output event %u is \"%s\", expected \"%s\"", i, got, want);
    }
}

void pf_assert_text(const pf *f, uint32_t i, const char *s) { pf_assert_bytes(f, i, s, strlen(s)); }

void pf_assert_failed(const pf *f, uint32_t i, const char *reason, const void *data, size_t n) {
    if (i >= f->out.count) fail_msg("no output event %u (%u events)", i, f->out.count);
    const tb_event *e = &f->out.events[i];
    assert_true(e->flags & TB_EF_ERROR);
    assert_false(e->flags & TB_EF_RAW);
    const tb_value *err = tb_object_getz(&e->data, "error");
    if (!tb_value_str_eq(err, reason)) {
        size_t len = 0;
        const char *s = tb_value_str(err, &len);
        fail_msg("event %u failed with \"%.*s\", expected \"%s\"", i, (int)len, s ? s : "",
                 reason);
    }
    const tb_value *d = tb_object_getz(&e->data, "data");
    assert_non_null(d);
    if (data) {
        assert_int_equal(d->type, TB_BYTES);
        assert_int_equal(d->len, n);
        if (n) assert_memory_equal(d->as.bytes, data, n);
    }
}

size_t pf_collect(const pf *f, uint8_t *buf, size_t cap) {
    size_t len = 0;
    for (uint32_t i = 0; i < f->out.count; i++) {
        const tb_event *e = &f->out.events[i];
        if (!(e->flags & TB_EF_RAW) || e->data.type != TB_BYTES) continue;
        assert_true(len + e->data.len <= cap);
        if (e->data.len) memcpy(buf + len, e->data.as.bytes, e->data.len);
        len += e->data.len;
    }
    return len;
}
