/* test_query.c - the query executor through its API: time windows driven by explicit
 * timestamps and ticks, sliding windows, each() fan-out, and runtime errors on the err port. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "lang/query.h"
#include "value/arena.h"
#include "value/json.h"

typedef struct fixture {
    tbr_source *src;
    tbr_query *q;
    tbr_pipeline *pl;
    tb_arena *arena;
    tbr_pipeline_out out;
    char printed[4096];
} fixture;

static void setup_query(fixture *f, const char *text) {
    memset(f, 0, sizeof *f);
    f->src = tbr_source_from_string("t.trickle", text, strlen(text));
    tbr_diags diags;
    tbr_diags_init(&diags, f->src);
    f->q = tbr_query_compile(f->src, NULL, &diags);
    if (!f->q) {
        char buf[2048];
        fail_msg("%s", tbr_diag_render(f->src, &diags.items[0], buf, sizeof buf));
    }
    tbr_diags_free(&diags);
    char err[256];
    f->pl = tbr_pipeline_new(f->q, NULL, err, sizeof err);
    assert_non_null(f->pl);
    f->arena = tbr_arena_new(0);
}

static void teardown_query(fixture *f) {
    tbr_pipeline_out_free(&f->out);
    tbr_pipeline_free(f->pl);
    tbr_query_free(f->q);
    tbr_source_free(f->src);
    tbr_arena_free(f->arena);
}

static void push(fixture *f, const char *json, uint64_t ns) {
    tb_event ev = {0};
    char err[128];
    assert_int_equal(tbr_json_parse(f->arena, json, strlen(json), &ev.data, err, sizeof err), TB_OK);
    ev.meta = tb_object();
    ev.ingest_ns = ns;
    assert_int_equal(tbr_pipeline_push(f->pl, "in", &ev, f->arena, &f->out), TB_OK);
}

/* Renders the outputs as "port: json" lines and clears them. */
static const char *drain(fixture *f) {
    size_t used = 0;
    f->printed[0] = '\0';
    for (size_t i = 0; i < f->out.count; i++) {
        tb_buf buf;
        tb_buf_init(&buf, f->arena);
        assert_int_equal(tbr_json_write(&f->out.items[i].event.data, &buf), TB_OK);
        used += (size_t)snprintf(f->printed + used, sizeof f->printed - used, "%s: %.*s\n", f->out.items[i].port, (int)buf.len, (const char *)buf.data);
    }
    f->out.count = 0;
    return f->printed;
}

#define SEC 1000000000ull

static void test_interval_window_closes_on_later_event_and_tick(void **s) {
    (void)s;
    fixture f;
    setup_query(&f, "define window ten_s from tumbling with interval = 10000000000 end;\n"
                    "select {\"n\": aggr::stats::count(), \"sum\": aggr::stats::sum(event.v)} from in[ten_s] into out;");
    push(&f, "{\"v\":1}", 100 * SEC);
    push(&f, "{\"v\":2}", 105 * SEC);
    assert_string_equal(drain(&f), "");
    /* an event past the window's end closes it first */
    push(&f, "{\"v\":4}", 111 * SEC);
    assert_string_equal(drain(&f), "out: {\"n\":2,\"sum\":3.0}\n");
    /* with no more events, time alone closes the window */
    assert_int_equal(tbr_pipeline_tick(f.pl, 120 * SEC, f.arena, &f.out), TB_OK);
    assert_string_equal(drain(&f), "");
    assert_int_equal(tbr_pipeline_tick(f.pl, 121 * SEC, f.arena, &f.out), TB_OK);
    assert_string_equal(drain(&f), "out: {\"n\":1,\"sum\":4.0}\n");
    teardown_query(&f);
}

static void test_sliding_window(void **s) {
    (void)s;
    fixture f;
    setup_query(&f, "define window last3 from sliding with size = 3 end;\n"
                    "select aggr::stats::sum(event) from in[last3] into out;");
    const char *expected[] = {"out: 1.0\n", "out: 3.0\n", "out: 6.0\n", "out: 9.0\n", "out: 12.0\n"};
    for (int i = 1; i <= 5; i++) {
        char ev[8];
        snprintf(ev, sizeof ev, "%d", i);
        push(&f, ev, (uint64_t)i * SEC);
        assert_string_equal(drain(&f), expected[i - 1]);
    }
    teardown_query(&f);
}

static void test_each_fans_out_groups(void **s) {
    (void)s;
    fixture f;
    setup_query(&f, "define window two from tumbling with size = 2 end;\n"
                    "select {\"tag\": group, \"n\": aggr::stats::count()} from in[two] group by each(event.tags) into out;");
    push(&f, "{\"tags\":[\"a\",\"b\"]}", 1);
    assert_string_equal(drain(&f), "");
    push(&f, "{\"tags\":[\"b\",\"c\"]}", 2);
    assert_string_equal(drain(&f), "out: {\"tag\":\"b\",\"n\":2}\n");
    push(&f, "{\"tags\":[\"a\"]}", 3);
    assert_string_equal(drain(&f), "out: {\"tag\":\"a\",\"n\":2}\n");
    teardown_query(&f);
}

static void test_runtime_errors_reach_err(void **s) {
    (void)s;
    fixture f;
    setup_query(&f, "select event.a + 1 from in into out;");
    push(&f, "{\"a\":1}", 1);
    push(&f, "{\"b\":1}", 2);
    assert_string_equal(drain(&f), "out: 2\n"
                                   "err: {\"error\":\"t.trickle:1:13: no field 'a' in event (the record has 'b')\",\"event\":{\"b\":1}}\n");
    teardown_query(&f);
}

static void test_many_groups_stay_consistent(void **s) {
    (void)s;
    fixture f;
    setup_query(&f, "define window two from tumbling with size = 2 end;\n"
                    "select {\"k\": group, \"n\": aggr::stats::count()} from in[two] group by event.k into out;");
    /* 500 groups, each filled twice: every group emits exactly once, with count 2 */
    for (int round = 0; round < 2; round++)
        for (int k = 0; k < 500; k++) {
            char ev[32];
            snprintf(ev, sizeof ev, "{\"k\":%d}", k);
            push(&f, ev, 1);
            if (round == 0) assert_int_equal(f.out.count, 0);
        }
    assert_int_equal(f.out.count, 500);
    for (size_t i = 0; i < f.out.count; i++) {
        const tb_value *n = tb_object_getz(&f.out.items[i].event.data, "n");
        assert_non_null(n);
        assert_int_equal(n->as.i, 2);
    }
    f.out.count = 0;
    teardown_query(&f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_interval_window_closes_on_later_event_and_tick),
        cmocka_unit_test(test_sliding_window),
        cmocka_unit_test(test_each_fans_out_groups),
        cmocka_unit_test(test_runtime_errors_reach_err),
        cmocka_unit_test(test_many_groups_stay_consistent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
