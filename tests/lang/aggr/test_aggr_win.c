/*
 * test_aggr_win.c - aggr::win::*: first, last and the two collections, their copies (events
 * and windows die before the results), merges in tilt frames, empty windows.
 */
#include "aggr_test.h"

static void test_first(void **state) {
    fx *f = *state;
    EQ(f, run(f, "aggr::win::first", NULL, "[1, 2, 3]"), "1");
    EQ(f, run(f, "aggr::win::first", NULL, "[{\"a\": [1, \"x\", {\"b\": null}]}, 2]"),
       "{\"a\": [1, \"x\", {\"b\": null}]}");
    EQ(f, run(f, "aggr::win::first", NULL, "[null, 1]"), "null");
    EQ(f, run(f, "aggr::win::first", NULL, "[]"), "null");
    /* Tremor's test: 1, 2, 3 give 1; a new window of 4, 3 gives 4 */
    EQ(f, run(f, "aggr::win::first", NULL, "[4, 3]"), "4");
    /* merge: the earlier (this) state keeps its value, unless it had none */
    tw *a = tw_open(f, "aggr::win::first", NULL), *b = tw_open(f, "aggr::win::first", NULL);
    tw_feed(f, a, "[\"a1\", \"a2\"]");
    tw_feed(f, b, "[\"b1\"]");
    assert_int_equal(tw_merge_close(f, a, b), TB_OK);
    EQ(f, tw_emit(f, a), "\"a1\"");
    tw *c = tw_open(f, "aggr::win::first", NULL);
    assert_int_equal(tw_merge_close(f, c, a), TB_OK); /* a's arena is gone after this */
    EMIT_CLOSE_EQ(f, c, "\"a1\"");
    c = tw_open(f, "aggr::win::first", NULL);
    assert_int_equal(tw_merge_close(f, c, tw_open(f, "aggr::win::first", NULL)), TB_OK);
    EMIT_CLOSE_EQ(f, c, "null");
}

static void test_last(void **state) {
    fx *f = *state;
    EQ(f, run(f, "aggr::win::last", NULL, "[1, 2, 3]"), "3");
    EQ(f, run(f, "aggr::win::last", NULL, "[4, 2]"), "2");
    EQ(f, run(f, "aggr::win::last", NULL, "[1, {\"k\": [true, \"v\"]}]"), "{\"k\": [true, \"v\"]}");
    EQ(f, run(f, "aggr::win::last", NULL, "[1, null]"), "null");
    EQ(f, run(f, "aggr::win::last", NULL, "[]"), "null");
    /* merge: the later (other) state's value wins, if it has one */
    tw *a = tw_open(f, "aggr::win::last", NULL), *b = tw_open(f, "aggr::win::last", NULL);
    tw_feed(f, a, "[\"a1\", \"a2\"]");
    tw_feed(f, b, "[\"b1\", \"b2\"]");
    assert_int_equal(tw_merge_close(f, a, b), TB_OK);
    EQ(f, tw_emit(f, a), "\"b2\"");
    assert_int_equal(tw_merge_close(f, a, tw_open(f, "aggr::win::last", NULL)), TB_OK);
    EMIT_CLOSE_EQ(f, a, "\"b2\"");
}

/* last keeps one value, whatever the number of events: nothing piles up in the window's
 * arena, and its own is reset at each replacement. */
static void test_last_memory(void **state) {
    fx *f = *state;
    tw *w = tw_open(f, "aggr::win::last", NULL);
    char json[64];
    for (int i = 0; i < 5000; i++) {
        snprintf(json, sizeof json, "{\"n\": %d, \"s\": \"some text to copy\"}", i);
        assert_int_equal(tw_feed1(f, w, json), TB_OK);
    }
    assert_int_equal(tbr_arena_used(w->keep), 0);
    EMIT_CLOSE_EQ(f, w, "{\"n\": 4999, \"s\": \"some text to copy\"}");
}

static const char *const COLLECT[] = {"aggr::win::collect_flattened", "aggr::win::collect_nested"};

static void test_collect(void **state) {
    fx *f = *state;
    for (int i = 0; i < 2; i++) {
        EQ(f, run(f, COLLECT[i], NULL, "[1, \"a\", {\"b\": [2, null]}, [], 1.5]"),
           "[1, \"a\", {\"b\": [2, null]}, [], 1.5]");
        EQ(f, run(f, COLLECT[i], NULL, "[]"), "[]");
        EQ(f, run(f, COLLECT[i], NULL, "[null]"), "[null]");
        /* emit leaves the state: more values, a longer result */
        tw *w = tw_open(f, COLLECT[i], NULL);
        tw_feed(f, w, "[1, 2, 3]");
        EQ(f, tw_emit(f, w), "[1, 2, 3]");
        tw_feed(f, w, "[4]");
        EMIT_CLOSE_EQ(f, w, "[1, 2, 3, 4]");
    }
    /* many values */
    tw *w = tw_open(f, "aggr::win::collect_flattened", NULL);
    for (int n = 0; n < 10000; n++) {
        char json[16];
        snprintf(json, sizeof json, "%d", n);
        assert_int_equal(tw_feed1(f, w, json), TB_OK);
    }
    tb_value all = tw_emit(f, w);
    tw_close(w);
    assert_int_equal(all.type, TB_ARRAY);
    assert_int_equal(all.len, 10000);
    for (uint32_t n = 0; n < all.len; n++) assert_int_equal(all.as.items[n].as.i, n);
}

/* A tilt frame of three windows: w1 sees the events, each w1 that emits is merged into w2,
 * each w2 into w3. Returns w3's result. */
static tb_value tilt(fx *f, const char *fn) {
    /* w2a gets w1 windows [1, 2] and [3]; w2b gets [4] and an empty one */
    static const char *const w1[2][2] = {{"[1, 2]", "[3]"}, {"[4]", "[]"}};
    tw *w3 = tw_open(f, fn, NULL);
    for (int j = 0; j < 2; j++) {
        tw *w2 = tw_open(f, fn, NULL);
        for (int k = 0; k < 2; k++) {
            tw *low = tw_open(f, fn, NULL);
            tw_feed(f, low, w1[j][k]);
            assert_int_equal(tw_merge_close(f, w2, low), TB_OK);
        }
        if (j == 0) {
            /* what w2 itself emits */
            tb_value v = tw_emit(f, w2);
            EQ(f, v, strstr(fn, "flat") ? "[1, 2, 3]" : "[[1, 2], [3]]");
        }
        assert_int_equal(tw_merge_close(f, w3, w2), TB_OK);
    }
    tb_value v = tw_emit(f, w3);
    tw_close(w3);
    return v;
}

static void test_collect_tilt(void **state) {
    fx *f = *state;
    EQ(f, tilt(f, "aggr::win::collect_flattened"), "[1, 2, 3, 4]");
    EQ(f, tilt(f, "aggr::win::collect_nested"), "[[[1, 2], [3]], [[4], []]]");
    /* merged after the window's own values */
    for (int i = 0; i < 2; i++) {
        tw *a = tw_open(f, COLLECT[i], NULL), *b = tw_open(f, COLLECT[i], NULL);
        tw_feed(f, a, "[\"a\"]");
        tw_feed(f, b, "[\"b\", \"c\"]");
        assert_int_equal(tw_merge_close(f, a, b), TB_OK);
        EMIT_CLOSE_EQ(f, a, i == 0 ? "[\"a\", \"b\", \"c\"]" : "[\"a\", [\"b\", \"c\"]]");
    }
}

/* Every win function: empty windows emit, merge and finish cleanly; no value is refused. */
static void test_win_empty_and_types(void **state) {
    fx *f = *state;
    static const char *const fns[] = {"aggr::win::first", "aggr::win::last",
                                      "aggr::win::collect_flattened", "aggr::win::collect_nested"};
    static const char *const empty[] = {"null", "null", "[]", "[[]]"};
    for (int i = 0; i < 4; i++) {
        tw *w = tw_open(f, fns[i], NULL);
        tb_value v = tw_emit(f, w);
        EQ(f, v, i == 3 ? "[]" : empty[i]);
        assert_int_equal(tw_merge_close(f, w, tw_open(f, fns[i], NULL)), TB_OK);
        EMIT_CLOSE_EQ(f, w, empty[i]);
        tw_close(tw_open(f, fns[i], NULL));
        w = tw_open(f, fns[i], NULL);
        tw_feed(f, w, "[true, \"s\", -1, 18446744073709551615, 0.5, [], {}]");
        tw_close(w);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        FX_TEST(test_first),
        FX_TEST(test_last),
        FX_TEST(test_last_memory),
        FX_TEST(test_collect),
        FX_TEST(test_collect_tilt),
        FX_TEST(test_win_empty_and_types),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
