/*
 * test_proc_base64.c - the `base64` preprocessor (decode) and postprocessor (encode, plugin
 * base64_post): RFC 4648 vectors, every byte value, round trips, malformed input with its
 * exact err message, empty input, pass-through of events that are not raw.
 *
 * Thread contract: single-threaded cmocka tests.
 */
#include <stdlib.h>
#include <string.h>

#include "proc_harness.h"

#define PRE TB_KIND_PREPROCESSOR
#define POST TB_KIND_POSTPROCESSOR

static const char *const plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
static const char *const coded[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
#define NVEC (sizeof plain / sizeof plain[0])

static void decode_vectors(void **state) {
    (void)state;
    pf f;
    pf_start(&f, PRE, "base64", NULL);
    pf_begin(&f);
    for (size_t i = 0; i < NVEC; i++) pf_chunk(&f, coded[i], strlen(coded[i]), 100 + i);
    assert_int_equal(pf_process(&f), TB_OK);
    assert_int_equal(f.out.count, NVEC);
    for (uint32_t i = 0; i < NVEC; i++) {
        pf_assert_text(&f, i, plain[i]);
        /* identity, stream, ingest time and meta travel with the bytes */
        assert_int_equal(f.out.events[i].id, i + 1);
        assert_int_equal(f.out.events[i].stream, 3);
        assert_int_equal(f.out.events[i].source, 5);
        assert_int_equal(f.out.events[i].ingest_ns, 100 + i);
        assert_non_null(tb_object_getz(&f.out.events[i].meta, "k"));
    }
    pf_stop(&f);
}

static void encode_vectors(void **state) {
    (void)state;
    pf f;
    pf_start(&f, POST, "base64", NULL);
    pf_begin(&f);
    for (size_t i = 0; i < NVEC; i++) pf_text(&f, plain[i]);
    assert_int_equal(pf_process(&f), TB_OK);
    assert_int_equal(f.out.count, NVEC);
    for (uint32_t i = 0; i < NVEC; i++) {
        pf_assert_text(&f, i, coded[i]);
        assert_int_equal(f.out.events[i].id, i + 1);
    }
    pf_stop(&f);
}

/* Every byte value and every length mod 3, encoded then decoded, comes back unchanged. */
static void round_trip(void **state) {
    (void)state;
    uint8_t all[256];
    for (int i = 0; i < 256; i++) all[i] = (uint8_t)(255 - i);
    pf post, pre;
    pf_start(&post, POST, "base64", NULL);
    pf_start(&pre, PRE, "base64", NULL);
    for (size_t n = 0; n <= sizeof all; n += (n < 8 ? 1 : 61)) {
        pf_begin(&post);
        pf_chunk(&post, all, n, 0);
        assert_int_equal(pf_process(&post), TB_OK);
        assert_int_equal(post.out.count, 1);
        const tb_value *enc = &post.out.events[0].data;
        assert_int_equal(enc->len, (n + 2) / 3 * 4);
        pf_begin(&pre);
        pf_chunk(&pre, enc->as.bytes, enc->len, 0);
        assert_int_equal(pf_process(&pre), TB_OK);
        assert_int_equal(pre.out.count, 1);
        pf_assert_bytes(&pre, 0, all, n);
    }
    pf_stop(&pre);
    pf_stop(&post);
}

static void malformed(void **state) {
    (void)state;
    static const struct {
        const char *in, *why;
    } cases[] = {
        {"Zm9", "base64: invalid length 3: not a multiple of 4"},
        {"Zg=", "base64: invalid length 3: not a multiple of 4"},
        {"Zm!v", "base64: invalid byte 0x21 at offset 2"},
        {"Zm9v\nZm9v", "base64: invalid length 9: not a multiple of 4"},
        {"Zm9 ", "base64: invalid byte 0x20 at offset 3"},
        {"Zg=a", "base64: invalid padding at offset 2"},
        {"Zg==Zg==", "base64: invalid byte 0x3d at offset 2"},
        {"====", "base64: invalid byte 0x3d at offset 0"},
        {"Z===", "base64: invalid byte 0x3d at offset 1"},
        {"Zh==", "base64: non-zero trailing bits at offset 1"},
        {"Zm9=", "base64: non-zero trailing bits at offset 2"},
        {"Zm-_", "base64: invalid byte 0x2d at offset 2"}, /* URL-safe alphabet is not ours */
    };
    pf f;
    pf_start(&f, PRE, "base64", NULL);
    pf_begin(&f);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        pf_text(&f, cases[i].in);
        pf_text(&f, "b2s="); /* a good one after each bad one: the batch goes on */
    }
    assert_int_equal(pf_process(&f), TB_OK);
    assert_int_equal(f.out.count, 2 * (sizeof cases / sizeof cases[0]));
    for (uint32_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        pf_assert_failed(&f, 2 * i, cases[i].why, cases[i].in, strlen(cases[i].in));
        assert_int_equal(f.out.events[2 * i].id, 2 * i + 1);
        pf_assert_text(&f, 2 * i + 1, "ok");
    }
    pf_stop(&f);
}

/* Empty input: an empty batch gives nothing; an empty event decodes and encodes to empty. */
static void empty(void **state) {
    (void)state;
    pf pre, post;
    pf_start(&pre, PRE, "base64", NULL);
    pf_start(&post, POST, "base64", NULL);
    pf_begin(&pre);
    assert_int_equal(pf_process(&pre), TB_OK);
    assert_int_equal(pre.out.count, 0);
    assert_int_equal(pf_finish(&pre), TB_OK);
    assert_int_equal(pre.out.count, 0);
    pf_begin(&pre);
    pf_text(&pre, "");
    assert_int_equal(pf_process(&pre), TB_OK);
    assert_int_equal(pre.out.count, 1);
    pf_assert_text(&pre, 0, "");
    pf_begin(&post);
    assert_int_equal(pf_process(&post), TB_OK);
    assert_int_equal(post.out.count, 0);
    pf_stop(&post);
    pf_stop(&pre);
}

/* Events that are not raw (an earlier failure) pass untouched; raw events whose data is not
 * bytes fail. */
static void not_raw(void **state) {
    (void)state;
    for (int kind = PRE; kind <= POST; kind++) {
        pf f;
        pf_start(&f, (uint32_t)kind, "base64", NULL);
        pf_begin(&f);
        tb_event *e = pf_text(&f, "Zm9v");
        e->flags = TB_EF_ERROR;
        e = pf_text(&f, "x");
        e->data = tb_string("Zm9v", 4);
        assert_int_equal(pf_process(&f), TB_OK);
        assert_int_equal(f.out.count, 2);
        assert_int_equal(f.out.events[0].flags, TB_EF_ERROR);
        assert_int_equal(f.out.events[0].data.len, 4);
        assert_memory_equal(f.out.events[0].data.as.bytes, "Zm9v", 4);
        pf_assert_failed(&f, 1, "base64: event data is string, not bytes", NULL, 0);
        pf_stop(&f);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(decode_vectors), cmocka_unit_test(encode_vectors),
        cmocka_unit_test(round_trip),     cmocka_unit_test(malformed),
        cmocka_unit_test(empty),          cmocka_unit_test(not_raw),
    };
    return cmocka_run_group_tests(tests, pf_group_setup, pf_group_teardown);
}
