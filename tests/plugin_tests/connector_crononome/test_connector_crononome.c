/*
 * test_connector_crononome.c - the `crononome` connector plugin (plugins/connector/crononome),
 * loaded from the build's plugins directory and run on a real event loop with real timers:
 * an every-second schedule over two and a half seconds (count, shape, payload copied out of
 * the configuration), a schedule that never fires, two entries due at once pulled one per
 * batch, pause and resume, and every configuration error's message. The calendar itself is
 * tested deterministically in test_cron.c.
 *
 * Cron's resolution is one second, so these tests take a few seconds. Thread contract:
 * single-threaded. Ownership: each test owns its fixture and loop.
 */
#define TB_FIX_IMPLEMENTATION
#include "plugin_fix.h"

#include <time.h>

#include "host/context.h"
#include "host/loop.h"

#define MS UINT64_C(1000000)

typedef struct src {
    tb_fix f;
    tbr_loop *loop;
    const tb_connector_vtable *vt;
} src;

static uint64_t realtime_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void src_start(src *s, const char *config) {
    char err[512] = "";
    s->loop = tbr_loop_new();
    assert_non_null(s->loop);
    int rc = tb_fix_try_start_on(&s->f, TB_KIND_CONNECTOR, "crononome", config, 0, s->loop, err,
                                 sizeof err);
    if (rc) fail_msg("create crononome with %s: %d: %s", config, rc, err);
    s->vt = &s->f.inst->component->vt.connector;
    assert_true(s->vt->flags & TB_CONNECTOR_STRUCTURED);
    assert_int_equal(s->vt->start(s->f.inst->state), TB_OK);
}

static void src_stop(src *s) {
    assert_int_equal(s->vt->stop(s->f.inst->state), TB_OK);
    tb_fix_stop(&s->f); /* checks the plugin gave back all its memory */
    tbr_loop_free(s->loop);
}

static int src_pull(src *s, uint32_t capacity) {
    tb_fix_begin(&s->f);
    s->f.out.events = tb_arena_alloc(s->f.arena, capacity * sizeof(tb_event), 8);
    assert_non_null(s->f.out.events);
    s->f.out.capacity = capacity;
    return s->vt->pull(s->f.inst->state, &s->f.out);
}

/* Runs the loop until a pull with room for capacity events gives some, or ms pass; returns
 * the last pull's status. */
static int pull_within(src *s, uint32_t capacity, unsigned ms) {
    uint64_t end = tbr_now_ns() + ms * MS;
    int rc = src_pull(s, capacity);
    while (rc == TB_EAGAIN && tbr_now_ns() < end) {
        assert_true(tbr_loop_run_once(s->loop, 50) >= 0);
        rc = src_pull(s, capacity);
    }
    return rc;
}

/* Event e is crononome event number id for entry name, whose payload is the JSON text
 * payload (NULL: null). */
static void check_event(tb_fix *f, const tb_event *e, uint64_t id, const char *name,
                        const char *payload) {
    const tb_value *d = &e->data, *trigger, *p;
    int64_t ingest = 0, n = 0;
    assert_int_equal(d->type, TB_OBJECT);
    assert_int_equal(d->len, 4);
    assert_true(tb_value_str_eq(tb_object_getz(d, "onramp"), "crononome"));
    assert_true(tb_value_as_i64(tb_object_getz(d, "ingest_ns"), &ingest));
    assert_true(tb_value_as_i64(tb_object_getz(d, "id"), &n));
    assert_true((uint64_t)n == id && e->id == id);
    assert_true((uint64_t)ingest == e->ingest_ns);
    trigger = tb_object_getz(d, "trigger");
    assert_non_null(trigger);
    assert_int_equal(trigger->type, TB_OBJECT);
    assert_int_equal(trigger->len, 2);
    assert_true(tb_value_str_eq(tb_object_getz(trigger, "name"), name));
    p = tb_object_getz(trigger, "payload");
    assert_non_null(p);
    if (!payload) {
        assert_int_equal(p->type, TB_NULL);
        return;
    }
    tb_buf buf;
    tb_buf_init(&buf, f->arena);
    assert_int_equal(tbr_json_write(p, &buf), TB_OK);
    assert_true(tb_buf_append(&buf, "", 1));
    assert_string_equal((const char *)buf.data, payload);
    /* copied into the batch: nothing points into the instance's configuration */
    const tb_value *conf = tb_object_getz(&f->inst->config, "entries");
    for (uint32_t k = 0; k < conf->len; k++) {
        const tb_value *cp = tb_object_getz(&conf->as.items[k], "payload");
        if (cp && cp->type == TB_OBJECT && p->type == TB_OBJECT)
            assert_true(cp->as.members != p->as.members &&
                        cp->as.members[0].key != p->as.members[0].key);
    }
}

static void test_every_second(void **state) {
    src s;
    uint32_t n = 0;
    (void)state;
    src_start(&s, "{\"entries\": [{\"name\": \"tick\", \"expr\": \"* * * * * *\", "
                  "\"payload\": {\"snot\": \"badger\", \"n\": [1, 2.5, null]}}, "
                  "{\"name\": \"later\", \"expr\": \"0 0 0 1 1 * 2099\"}]}");
    uint64_t t0 = tbr_now_ns();
    while (tbr_now_ns() - t0 < 2500 * MS) {
        assert_true(tbr_loop_run_once(s.loop, 50) >= 0);
        uint64_t lo = realtime_ns();
        int rc = src_pull(&s, 8);
        if (rc == TB_EAGAIN) continue;
        assert_int_equal(rc, TB_OK);
        assert_int_equal(s.f.out.count, 1);
        const tb_event *e = &s.f.out.events[0];
        check_event(&s.f, e, n++, "tick", "{\"snot\":\"badger\",\"n\":[1,2.5,null]}");
        /* fired on a second boundary, just now */
        assert_true(e->ingest_ns >= lo && e->ingest_ns <= realtime_ns());
    }
    /* two or three second boundaries fall in two and a half seconds */
    if (n < 2 || n > 3) fail_msg("%u events from an every-second schedule in 2.5 s", n);
    src_stop(&s);
}

/* Both entries fire at the same second; a batch with room for one takes them in turn. */
static void test_capacity(void **state) {
    src s;
    (void)state;
    src_start(&s, "{\"entries\": [{\"name\": \"a\", \"expr\": \"* * * * * *\"}, "
                  "{\"name\": \"b\", \"expr\": \"* * * * * *\", \"payload\": 7}]}");
    assert_int_equal(pull_within(&s, 1, 3000), TB_OK);
    assert_int_equal(s.f.out.count, 1);
    check_event(&s.f, &s.f.out.events[0], 0, "a", NULL);
    assert_int_equal(src_pull(&s, 1), TB_OK);
    assert_int_equal(s.f.out.count, 1);
    check_event(&s.f, &s.f.out.events[0], 1, "b", "7");
    assert_int_equal(src_pull(&s, 1), TB_EAGAIN);
    src_stop(&s);
}

/* A schedule with no future fire arms nothing and emits nothing. */
static void test_never(void **state) {
    src s;
    (void)state;
    src_start(&s, "{\"entries\": [{\"name\": \"past\", \"expr\": \"* * * * * * 1970\"}]}");
    assert_int_equal(tbr_loop_run_once(s.loop, 30), 0); /* no timer to run */
    assert_int_equal(src_pull(&s, 4), TB_EAGAIN);
    src_stop(&s);
    src_start(&s, "{\"entries\": []}");
    assert_int_equal(src_pull(&s, 4), TB_EAGAIN);
    src_stop(&s);
}

static void test_pause_resume(void **state) {
    src s;
    (void)state;
    src_start(&s, "{\"entries\": [{\"name\": \"tick\", \"expr\": \"* * * * * *\"}]}");
    assert_int_equal(s.vt->pause(s.f.inst->state), TB_OK);
    uint64_t end = tbr_now_ns() + 1300 * MS;
    while (tbr_now_ns() < end) assert_int_equal(tbr_loop_run_once(s.loop, 50), 0);
    assert_int_equal(src_pull(&s, 4), TB_EAGAIN);
    /* the fire missed while paused comes at once, once */
    assert_int_equal(s.vt->resume(s.f.inst->state), TB_OK);
    assert_int_equal(pull_within(&s, 4, 300), TB_OK);
    assert_int_equal(s.f.out.count, 1);
    check_event(&s.f, &s.f.out.events[0], 0, "tick", NULL);
    src_stop(&s);
}

static void check_config_error(const char *config, const char *message) {
    tb_fix f;
    char err[512] = "";
    if (tb_fix_try_start(&f, TB_KIND_CONNECTOR, "crononome", config, 0, err, sizeof err) == TB_OK)
        fail_msg("crononome accepted %s", config);
    if (!strstr(err, message)) fail_msg("%s: expected\n  %s\nin\n  %s", config, message, err);
    tb_fix_stop(&f);
}

static void test_config_errors(void **state) {
    (void)state;
    check_config_error("{\"entries\": [{\"name\": \"ok\", \"expr\": \"* * * * *\"}, "
                       "{\"name\": \"nightly\", \"expr\": \"0 61 * * *\"}]}",
                       "crononome: entry 'nightly' (entries[1]): bad expr \"0 61 * * *\": "
                       "hour: 61 is out of range 0-23");
    check_config_error("{\"entries\": [{\"name\": \"x\", \"expr\": \"0 0 0 * * sun-sat/0\"}]}",
                       "crononome: entry 'x' (entries[0]): bad expr \"0 0 0 * * sun-sat/0\": "
                       "day of week: a step of 0 never advances");
    check_config_error("{\"entries\": [{\"expr\": \"* * * * *\"}]}",
                       "crononome: entries[0]: 'name' is missing");
    check_config_error("{\"entries\": [{\"name\": 3, \"expr\": \"* * * * *\"}]}",
                       "crononome: entries[0]: 'name' must be a string");
    check_config_error("{\"entries\": [{\"name\": \"x\"}]}",
                       "crononome: entry 'x' (entries[0]): 'expr' is missing");
    check_config_error("{\"entries\": [{\"name\": \"x\", \"expr\": [1]}]}",
                       "crononome: entry 'x' (entries[0]): 'expr' must be a string");
    check_config_error("{\"entries\": [{\"name\": \"x\", \"expr\": \"* * * * *\", \"paylod\": 1}]}",
                       "crononome: entry 'x' (entries[0]): unknown field 'paylod' "
                       "(known: name, expr, payload)");
    check_config_error("{\"entries\": [\"* * * * *\"]}",
                       "crononome: entries[0] must be a record {name, expr, payload}, "
                       "found string");
    check_config_error("{}", "required option 'entries'");
    check_config_error("{\"entries\": {}}", "option 'entries'");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_second), cmocka_unit_test(test_capacity),
        cmocka_unit_test(test_never),        cmocka_unit_test(test_pause_resume),
        cmocka_unit_test(test_config_errors),
    };
    return cmocka_run_group_tests(tests, tb_fix_group_setup, tb_fix_group_teardown);
}
