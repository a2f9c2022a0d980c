/*
 * test_passthrough.c - the passthrough operator, and the catalogue every operator plugin
 * must present to the runtime: names, kind, ports, options, unload safety.
 *
 * Thread contract: single-threaded cmocka tests.
 */
#include <stdlib.h>
#include <string.h>

#include "harness.h"

/* Every operator of the four plugins, with its plugin and its output ports. */
static const struct {
    const char *name, *plugin, *ports;
    uint32_t options;
} catalogue[] = {
    {"passthrough", "passthrough", "out,err", 0},
    {"generic::batch", "generic", "out,err", 2},
    {"generic::counter", "generic", "out,err", 0},
    {"grouper::bucket", "grouper", "out,err,overflow", 3},
    {"qos::backpressure", "qos", "out,err,overflow", 3},
    {"qos::percentile", "qos", "out,err,overflow", 4},
    {"qos::roundrobin", "qos",
     "out,err,overflow,out1,out2,out3,out4,out5,out6,out7,out8,out9,out10,out11,out12,out13,"
     "out14,out15",
     1},
};

static void test_catalogue(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof catalogue / sizeof catalogue[0]; i++) {
        const tbr_component *c = op_component(catalogue[i].name);
        assert_int_equal(c->desc.kind, TB_KIND_OPERATOR);
        assert_string_equal(c->plugin->desc.name, catalogue[i].plugin);
        assert_string_equal(c->plugin->desc.version, "0.1.0");
        assert_true(c->plugin->desc.flags & TB_PLUGIN_UNLOAD_SAFE);
        assert_int_equal(c->plugin->desc.abi_minor, TB_ABI_MINOR);
        assert_int_equal(c->desc.option_count, catalogue[i].options);
        for (uint32_t k = 0; k < c->desc.option_count; k++) {
            assert_non_null(c->options[k].doc);
            assert_true(strlen(c->options[k].doc) > 10);
        }
        char ports[512] = "";
        size_t used = 0;
        assert_non_null(c->vt.op.output_ports);
        for (uint32_t k = 0; c->vt.op.output_ports[k]; k++)
            used += (size_t)snprintf(ports + used, sizeof ports - used, "%s%s", k ? "," : "",
                                     c->vt.op.output_ports[k]);
        assert_string_equal(ports, catalogue[i].ports);
        assert_non_null(c->vt.op.create);
        assert_non_null(c->vt.op.destroy);
        assert_non_null(c->vt.op.process);
        /* every bundled operator can be reloaded while a pipeline runs it (1.2) */
        assert_non_null(c->vt.op.save);
        assert_non_null(c->vt.op.restore);
    }
}

static void test_passthrough(void **state) {
    (void)state;
    op_fix f;
    op_start(&f, "passthrough", NULL);
    op_begin(&f);
    tb_event *a = op_event(&f, "{\"x\":[1,2]}", "{\"m\":true}", 11, 100);
    a->flags = TB_EF_TRANSACTIONAL;
    op_event(&f, "\"two\"", NULL, 12, 200);
    op_event(&f, "null", NULL, 13, 300);
    assert_int_equal(op_process(&f), TB_OK);
    op_assert_ports(&f, "out,out,out");
    for (uint32_t i = 0; i < 3; i++) {
        tb_event want = f.in.events[i];
        want.port = 0;
        /* the very same event: same values (no copy), id, times, stream, source, flags */
        assert_memory_equal(&f.out.events[i], &want, sizeof want);
    }
    op_assert_json(&f.out.events[0].data, "{\"x\":[1,2]}");
    op_assert_json(&f.out.events[0].meta, "{\"m\":true}");

    /* an empty batch gives nothing */
    op_begin(&f);
    assert_int_equal(op_process(&f), TB_OK);
    assert_int_equal(f.out.count, 0);
    op_stop(&f);
}

static void test_passthrough_config(void **state) {
    (void)state;
    op_fix f;
    char err[512] = "";
    assert_int_equal(op_try_start(&f, "passthrough", "{\"x\":1}", err, sizeof err), TB_EINVAL);
    assert_non_null(strstr(err, "unknown option 'x'"));
    op_stop(&f);
}

static void passthrough_step(op_fix *f, uint32_t step) {
    tb_event *e = op_event(f, "{\"x\":[1,2]}", "{\"m\":true}", step, step * 10);
    e->flags = step % 2 ? TB_EF_TRANSACTIONAL : 0;
    op_event(f, "\"two\"", NULL, step + 100, step * 10 + 1);
    assert_int_equal(op_process(f), TB_OK);
}

/* Stateless: save says null, and a reloaded instance passes events on as before. */
static void test_passthrough_handover(void **state) {
    (void)state;
    op_fix f;
    op_start(&f, "passthrough", NULL);
    tb_arena *a = tbr_arena_new(0);
    assert_non_null(a);
    tb_value saved = op_save(&f, a);
    assert_int_equal(saved.type, TB_NULL);
    tbr_arena_free(a);
    op_stop(&f);
    op_assert_handover("passthrough", NULL, passthrough_step, 4);
}

/* Nothing to restore: whatever it is given (a newer build's state, garbage) is ignored. */
static void test_passthrough_restore_anything(void **state) {
    (void)state;
    op_assert_restore("passthrough", NULL, "null", TB_OK, NULL);
    op_assert_restore("passthrough", NULL, "\"junk\"", TB_OK, NULL);
    op_assert_restore("passthrough", NULL, "{\"count\":[{}],\"x\":-1}", TB_OK, NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_catalogue),
        cmocka_unit_test(test_passthrough),
        cmocka_unit_test(test_passthrough_config),
        cmocka_unit_test(test_passthrough_handover),
        cmocka_unit_test(test_passthrough_restore_anything),
    };
    return cmocka_run_group_tests_name("operator passthrough", tests, op_group_setup,
                                       op_group_teardown);
}
