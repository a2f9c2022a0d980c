/*
 * test_proc_length_prefixed.c - the `length-prefixed` preprocessor (splits frames of an
 * 8-byte big-endian length and a body, keeping partial frames across chunks) and
 * postprocessor (plugin length_prefixed_post, prepends the length): known vectors, frames
 * split at every chunk boundary, round trips, over-long frames and truncated streams with
 * their exact err messages, empty input.
 *
 * Thread contract: single-threaded cmocka tests.
 */
#include <string.h>

#include "proc_harness.h"

#define PRE TB_KIND_PREPROCESSOR
#define POST TB_KIND_POSTPROCESSOR

/* "abc", "", "x" framed */
static const uint8_t stream3[] = {0, 0, 0, 0, 0, 0, 0, 3, 'a', 'b', 'c', 0, 0, 0, 0, 0, 0, 0, 0,
                                  0, 0, 0, 0, 0, 0, 0, 1, 'x'};

static void check3(const pf *f) {
    assert_int_equal(f->out.count, 3);
    pf_assert_text(f, 0, "abc");
    pf_assert_text(f, 1, "");
    pf_assert_text(f, 2, "x");
}

static void pre_vector(void **state) {
    (void)state;
    pf f;
    pf_start(&f, PRE, "length-prefixed", NULL);
    pf_begin(&f);
    pf_chunk(&f, stream3, sizeof stream3, 77);
    assert_int_equal(pf_process(&f), TB_OK);
    check3(&f);
    /* whole frames are slices of the input: no copy */
    assert_ptr_equal(f.out.events[0].data.as.bytes, f.in.events[0].data.as.bytes + 8);
    assert_int_equal(f.out.events[2].ingest_ns, 77);
    assert_int_equal(f.out.events[2].id, 1);
    assert_int_equal(pf_finish(&f), TB_OK);
    assert_int_equal(f.out.count, 3);
    pf_stop(&f);
}

static void post_vector(void **state) {
    (void)state;
    pf f;
    pf_start(&f, POST, "length-prefixed", NULL);
    pf_begin(&f);
    pf_text(&f, "abc");
    pf_text(&f, "");
    uint8_t big[300];
    memset(big, 'z', sizeof big);
    pf_chunk(&f, big, sizeof big, 0);
    assert_int_equal(pf_process(&f), TB_OK);
    assert_int_equal(f.out.count, 3);
    pf_assert_bytes(&f, 0, "\0\0\0\0\0\0\0\3abc", 11);
    pf_assert_bytes(&f, 1, "\0\0\0\0\0\0\0\0", 8);
    assert_int_equal(f.out.events[2].data.len, 308);
    assert_memory_equal(f.out.events[2].data.as.bytes, "\0\0\0\0\0\0\1\x2c", 8);
    pf_stop(&f);
}

/* The same stream cut into two chunks at every position, in one batch and in two batches
 * (the kept bytes must outlive the first batch's arena), and fed byte by byte. */
static void split_everywhere(void **state) {
    (void)state;
    for (size_t cut = 0; cut <= sizeof stream3; cut++) {
        pf f;
        pf_start(&f, PRE, "length-prefixed", NULL);
        pf_begin(&f);
        pf_chunk(&f, stream3, cut, 0);
        pf_chunk(&f, stream3 + cut, sizeof stream3 - cut, 0);
        assert_int_equal(pf_process(&f), TB_OK);
        check3(&f);
        pf_stop(&f);

        pf_start(&f, PRE, "length-prefixed", NULL);
        pf_begin(&f);
        pf_chunk(&f, stream3, cut, 0);
        assert_int_equal(pf_process(&f), TB_OK);
        uint32_t first = f.out.count;
        uint8_t got[sizeof stream3];
        size_t got_len = pf_collect(&f, got, sizeof got);
        pf_begin(&f); /* frees the first batch's arena */
        pf_chunk(&f, stream3 + cut, sizeof stream3 - cut, 0);
        assert_int_equal(pf_process(&f), TB_OK);
        assert_int_equal(first + f.out.count, 3);
        got_len += pf_collect(&f, got + got_len, sizeof got - got_len);
        assert_int_equal(got_len, 4);
        assert_memory_equal(got, "abcx", 4);
        assert_int_equal(pf_finish(&f), TB_OK);
        pf_stop(&f);
    }
    pf f;
    pf_start(&f, PRE, "length-prefixed", NULL);
    pf_begin(&f);
    for (size_t i = 0; i < sizeof stream3; i++) pf_chunk(&f, stream3 + i, 1, 0);
    assert_int_equal(pf_process(&f), TB_OK);
    check3(&f);
    pf_stop(&f);
}

/* post then pre, with the stream between cut into chunks of every size from 1 up. */
static void round_trip(void **state) {
    (void)state;
    uint8_t big[1000];
    for (size_t i = 0; i < sizeof big; i++) big[i] = (uint8_t)(i * 7);
    const struct {
        const void *p;
        size_t n;
    } recs[] = {{"one", 3}, {"", 0}, {big, sizeof big}, {"\0\0\0\4", 4}, {"z", 1}};
    const uint32_t n = sizeof recs / sizeof recs[0];
    static uint8_t stream[2048];
    pf post;
    pf_start(&post, POST, "length-prefixed", NULL);
    pf_begin(&post);
    for (uint32_t i = 0; i < n; i++) pf_chunk(&post, recs[i].p, recs[i].n, 0);
    assert_int_equal(pf_process(&post), TB_OK);
    size_t len = pf_collect(&post, stream, sizeof stream);
    assert_int_equal(len, 8 * n + 3 + 1000 + 4 + 1);
    for (size_t chunk = 1; chunk <= len; chunk += (chunk < 16 ? 1 : 97)) {
        pf pre;
        pf_start(&pre, PRE, "length-prefixed", NULL);
        pf_begin(&pre);
        for (size_t at = 0; at < len; at += chunk)
            pf_chunk(&pre, stream + at, len - at < chunk ? len - at : chunk, 0);
        assert_int_equal(pf_process(&pre), TB_OK);
        assert_int_equal(pf_finish(&pre), TB_OK);
        assert_int_equal(pre.out.count, n);
        for (uint32_t i = 0; i < n; i++) pf_assert_bytes(&pre, i, recs[i].p, recs[i].n);
        pf_stop(&pre);
    }
    pf_stop(&post);
}

/* A frame over max_length goes to err and is skipped (even across chunks); framing holds. */
static void overlong(void **state) {
    (void)state;
    static const uint8_t s[] = {0, 0, 0, 0, 0, 0, 0, 5, 'h', 'e', 'l', 'l', 'o',
                                0, 0, 0, 0, 0, 0, 0, 2, 'o', 'k'};
    for (size_t cut = 0; cut <= sizeof s; cut++) {
        pf f;
        pf_start(&f, PRE, "length-prefixed", "{\"max_length\":4}");
        pf_begin(&f);
        pf_chunk(&f, s, cut, 0);
        pf_chunk(&f, s + cut, sizeof s - cut, 0);
        assert_int_equal(pf_process(&f), TB_OK);
        assert_int_equal(f.out.count, 2);
        pf_assert_failed(&f, 0,
                         "length-prefixed: frame of 5 bytes is longer than max_length (4 bytes)",
                         "", 0);
        pf_assert_text(&f, 1, "ok");
        assert_int_equal(pf_finish(&f), TB_OK);
        assert_int_equal(f.out.count, 2);
        pf_stop(&f);
    }
    /* the stream ends inside the skipped frame: reported once */
    pf f;
    pf_start(&f, PRE, "length-prefixed", "{\"max_length\":4}");
    pf_begin(&f);
    pf_chunk(&f, s, 10, 0);
    assert_int_equal(pf_process(&f), TB_OK);
    assert_int_equal(pf_finish(&f), TB_OK);
    assert_int_equal(f.out.count, 1);
    pf_stop(&f);
}

/* A 64-bit length beyond what one event can hold is refused even without max_length. */
static void beyond_an_event(void **state) {
    (void)state;
    static const uint8_t s[] = {0, 0, 0, 2, 0, 0, 0, 0, 'x'};
    pf f;
    pf_start(&f, PRE, "length-prefixed", "{\"max_length\":0}");
    pf_begin(&f);
    pf_chunk(&f, s, sizeof s, 0);
    assert_int_equal(pf_process(&f), TB_OK);
    assert_int_equal(f.out.count, 1);
    pf_assert_failed(&f, 0, "length-prefixed: frame of 8589934592 bytes is larger than an event can hold", "", 0);
    pf_stop(&f);
}

static void truncated(void **state) {
    (void)state;
    pf f;
    pf_start(&f, PRE, "length-prefixed", NULL);
    pf_begin(&f);
    pf_chunk(&f, "\0\0", 2, 0);
    assert_int_equal(pf_process(&f), TB_OK);
    assert_int_equal(f.out.count, 0);
    assert_int_equal(pf_finish(&f), TB_OK);
    assert_int_equal(f.out.count, 1);
    pf_assert_failed(&f, 0, "length-prefixed: stream ended inside a length prefix: 2 of 8 bytes",
                     "\0\0", 2);
    assert_int_equal(pf_finish(&f), TB_OK); /* nothing left */
    assert_int_equal(f.out.count, 1);

    pf_begin(&f);
    pf_chunk(&f, "\0\0\0\0\0\0\0\5ab", 10, 0);
    assert_int_equal(pf_process(&f), TB_OK);
    pf_begin(&f);
    assert_int_equal(pf_finish(&f), TB_OK);
    assert_int_equal(f.out.count, 1);
    pf_assert_failed(&f, 0, "length-prefixed: stream ended inside a frame: 2 of 5 bytes", "ab",
                     2);

    pf_begin(&f);
    pf_chunk(&f, "\0\0\0\0\0\0\0\5", 8, 0);
    assert_int_equal(pf_process(&f), TB_OK);
    assert_int_equal(pf_finish(&f), TB_OK);
    pf_assert_failed(&f, 0, "length-prefixed: stream ended inside a frame: 0 of 5 bytes", "", 0);
    pf_stop(&f);
}

static void empty_and_not_raw(void **state) {
    (void)state;
    for (int kind = PRE; kind <= POST; kind++) {
        pf f;
        pf_start(&f, (uint32_t)kind, "length-prefixed", NULL);
        pf_begin(&f);
        assert_int_equal(pf_process(&f), TB_OK);
        assert_int_equal(f.out.count, 0);
        pf_begin(&f);
        tb_event *e = pf_text(&f, "abc");
        e->flags = TB_EF_ERROR;
        e = pf_text(&f, "x");
        e->data = tb_bool(true);
        if (kind == PRE) pf_text(&f, ""); /* an empty chunk: no frame, no state */
        assert_int_equal(pf_process(&f), TB_OK);
        assert_int_equal(f.out.count, 2);
        assert_int_equal(f.out.events[0].flags, TB_EF_ERROR);
        assert_int_equal(f.out.events[0].data.len, 3);
        pf_assert_failed(&f, 1, "length-prefixed: event data is bool, not bytes", NULL, 0);
        assert_int_equal(pf_finish(&f), TB_OK);
        assert_int_equal(f.out.count, 2);
        pf_stop(&f);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pre_vector), cmocka_unit_test(post_vector),
        cmocka_unit_test(split_everywhere), cmocka_unit_test(round_trip),
        cmocka_unit_test(overlong), cmocka_unit_test(beyond_an_event), cmocka_unit_test(truncated),
        cmocka_unit_test(empty_and_not_raw),
    };
    return cmocka_run_group_tests(tests, pf_group_setup, pf_group_teardown);
}
