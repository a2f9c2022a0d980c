/* test_wire.c - the isolated tier's wire format (src/isolate/wire.h): round trips of every
 * value type and event field, exact sizes, the single copy strings point into, and a
 * decoder that refuses every truncated, corrupted or absurd message without reading out of
 * bounds (run under ASan: each decode here gets an allocation of its own for every block). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "isolate/wire.h"
#include "value/arena.h"
#include "fixed_arena.h"
#include "value_same.h"

/* ---------------------------------------------------------------------------------------
 * Helpers
 * ------------------------------------------------------------------------------------- */

/* An arena that gives every allocation a malloc of its own, exactly sized, so ASan sees a
 * read one byte past the decoder's copy of a message (a chunked arena would hide it). */
typedef struct exact_arena {
    tb_arena pub; /* first: grow casts back */
    void **blocks;
    size_t count, cap;
} exact_arena;

static void *TB_CALL exact_grow(tb_arena *a, size_t size, size_t align) {
    exact_arena *ea = (exact_arena *)a;
    assert_true(align <= 16);
    if (ea->count == ea->cap) {
        ea->cap = ea->cap ? ea->cap * 2 : 64;
        ea->blocks = realloc(ea->blocks, ea->cap * sizeof *ea->blocks);
        assert_non_null(ea->blocks);
    }
    void *p = malloc(size ? size : 1);
    if (p) ea->blocks[ea->count++] = p;
    return p;
}

static void exact_init(exact_arena *ea) {
    memset(ea, 0, sizeof *ea);
    ea->pub.grow = exact_grow; /* cur == end == NULL: every allocation grows */
}

static void exact_reset(exact_arena *ea) {
    for (size_t i = 0; i < ea->count; i++) free(ea->blocks[i]);
    ea->count = 0;
}

static void exact_free(exact_arena *ea) {
    exact_reset(ea);
    free(ea->blocks);
}

static tb_value str(const char *s) { return tb_stringz(s); }

static tb_value str_flagged(const char *s, size_t n) {
    tb_value v = tb_string(s, n);
    v.flags = TB_VF_NO_ESCAPE;
    return v;
}

static void add(tb_arena *a, tb_value *obj, const char *key, tb_value v) {
    tb_value *slot = tb_object_append(a, obj, key, strlen(key));
    assert_non_null(slot);
    *slot = v;
}

static void push(tb_arena *a, tb_value *arr, tb_value v) {
    tb_value *slot = tb_array_push(a, arr);
    assert_non_null(slot);
    *slot = v;
}

/* Encodes v (checking the size against what is written) into a malloc'd buffer. */
static uint8_t *encode_value(const tb_value *v, size_t *len) {
    size_t size = tbr_wire_value_size(v), written = 1234;
    assert_true(size >= 8);
    assert_int_equal(size % 8, 0);
    uint8_t *buf = malloc(size);
    assert_non_null(buf);
    assert_int_equal(tbr_wire_encode_value(v, buf, size, &written), TB_OK);
    assert_int_equal(written, size);
    *len = size;
    return buf;
}

static uint8_t *encode_batch(const tb_batch *b, size_t *len) {
    size_t size = tbr_wire_batch_size(b), written = 1234;
    assert_true(size >= TBR_WIRE_HEADER_SIZE);
    assert_int_equal(size % 8, 0);
    uint8_t *buf = malloc(size);
    assert_non_null(buf);
    assert_int_equal(tbr_wire_encode_batch(b, buf, size, &written), TB_OK);
    assert_int_equal(written, size);
    *len = size;
    return buf;
}

/* Round trip of one value through a fresh arena; the decoded value is checked equal. */
static void round_trip_value(const tb_value *v, tb_arena *arena, tb_value *decoded) {
    size_t len;
    char err[256] = "";
    uint8_t *buf = encode_value(v, &len);
    int rc = tbr_wire_decode_value(buf, len, arena, decoded, err, sizeof err);
    if (rc) fail_msg("decode: %d %s", rc, err);
    memset(buf, 0xa5, len); /* the decoded value must not point into the input */
    free(buf);
    assert_true(tb_test_same_value(v, decoded));
}

/* A value with something of everything, for the batch and corruption tests. */
static tb_value sample_value(tb_arena *a, int k) {
    static const uint8_t raw[] = {0, 1, 2, 0xfe, 0xff, '"', '\\'};
    tb_value obj = tb_object(), arr = tb_array(), inner = tb_object(), empty_arr = tb_array();
    add(a, &obj, "about", str_flagged("Pariatur nulla tempor", 21));
    add(a, &obj, "aint", tb_i64(-33 - k));
    add(a, &obj, "big", tb_u64(UINT64_MAX - (uint64_t)k));
    add(a, &obj, "f", tb_f64(0.5 + k));
    add(a, &obj, "yes", tb_bool(k % 2 == 0));
    add(a, &obj, "nothing", tb_null());
    push(a, &arr, str("tag1"));
    push(a, &arr, str("a \"quoted\" tag"));
    push(a, &arr, tb_bytes(raw, sizeof raw));
    push(a, &arr, empty_arr);
    push(a, &arr, tb_object());
    push(a, &arr, str(""));
    add(a, &obj, "tags", arr);
    add(a, &inner, "deeper", tb_i64(k));
    add(a, &obj, "inner", inner);
    add(a, &obj, "", str("empty key"));
    return obj;
}

static tb_batch sample_batch(tb_arena *a, uint32_t count) {
    tb_batch b;
    memset(&b, 0, sizeof b);
    b.arena = a;
    b.token = 0x0123456789abcdefull;
    for (uint32_t i = 0; i < count; i++) {
        tb_event *e = tb_batch_push(&b);
        assert_non_null(e);
        e->data = sample_value(a, (int)i);
        if (i % 2) {
            tb_value meta = tb_object();
            add(a, &meta, "offset", tb_u64(i * 100u));
            e->meta = meta;
        }
        e->id = 1000 + i;
        e->ingest_ns = 1700000000000000000ull + i;
        e->stream = 7 + i;
        e->port = (uint16_t)(i % 3);
        e->flags = (uint16_t)(i % 32);
        e->source = 42;
    }
    return b;
}

static void assert_same_batch(const tb_batch *a, const tb_batch *b) {
    assert_int_equal(a->count, b->count);
    assert_true(a->token == b->token);
    for (uint32_t i = 0; i < a->count; i++) {
        const tb_event *x = &a->events[i], *y = &b->events[i];
        assert_true(x->id == y->id);
        assert_true(x->ingest_ns == y->ingest_ns);
        assert_int_equal(x->stream, y->stream);
        assert_int_equal(x->port, y->port);
        assert_int_equal(x->flags, y->flags);
        assert_int_equal(x->source, y->source);
        assert_int_equal(y->reserved, 0);
        assert_true(tb_test_same_value(&x->data, &y->data));
        assert_true(tb_test_same_value(&x->meta, &y->meta));
    }
}

static void assert_err_prefix(const char *err, const char *prefix) {
    if (strncmp(err, prefix, strlen(prefix)) != 0)
        fail_msg("error \"%s\" does not start with \"%s\"", err, prefix);
}

/* ---------------------------------------------------------------------------------------
 * Round trips
 * ------------------------------------------------------------------------------------- */

static void test_scalars(void **state) {
    (void)state;
    tb_arena *a = tbr_arena_new(0);
    static const uint8_t raw[] = {0, 0xff, 0x80, '\n'};
    double nan_payload;
    uint64_t nan_bits = 0x7ff8000000abcdefull;
    memcpy(&nan_payload, &nan_bits, 8);
    tb_value values[] = {
        tb_null(), tb_bool(true), tb_bool(false), tb_i64(INT64_MIN), tb_i64(INT64_MAX),
        tb_i64(0), tb_i64(-1), tb_u64(UINT64_MAX), tb_u64(0), tb_f64(1.5), tb_f64(-0.0),
        tb_f64(INFINITY), tb_f64(-INFINITY), tb_f64(nan_payload), tb_f64(5e-324),
        str("hello"), str(""), str("exactly8"), str("nine char"), tb_bytes(raw, sizeof raw),
        tb_bytes(NULL, 0), tb_array(), tb_object(),
    };
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        tb_value d;
        round_trip_value(&values[i], a, &d);
        assert_int_equal(d.flags, 0);
        if (d.type == TB_F64) assert_true(d.as.u == values[i].as.u); /* bit for bit */
        if (d.type == TB_STRING || d.type == TB_BYTES) assert_non_null(d.as.s);
    }
    /* sizes: head only, head + 8, head + padded text */
    assert_int_equal(tbr_wire_value_size(&values[0]), 8);
    assert_int_equal(tbr_wire_value_size(&values[1]), 8);
    assert_int_equal(tbr_wire_value_size(&values[3]), 16);
    assert_int_equal(tbr_wire_value_size(&values[15]), 16);
    assert_int_equal(tbr_wire_value_size(&values[16]), 8);
    assert_int_equal(tbr_wire_value_size(&values[17]), 16);
    assert_int_equal(tbr_wire_value_size(&values[18]), 24);
    tbr_arena_free(a);
}

static void test_layout_bytes(void **state) {
    (void)state;
    /* the documented layout, byte for byte: {"k": "ab"} then [true, -2] */
    tb_arena *a = tbr_arena_new(0);
    tb_value obj = tb_object(), arr = tb_array();
    add(a, &obj, "k", str_flagged("ab", 2));
    obj.as.members[0].reserved = TB_VF_NO_ESCAPE;
    size_t len;
    uint8_t *buf = encode_value(&obj, &len);
    static const uint8_t want_obj[] = {
        8, 0, 0, 0, 1, 0, 0, 0,             /* object, 1 member */
        1, 0, 0, 0, 2, 0, 0, 0,             /* key_len 1, key flags NO_ESCAPE */
        'k', 0, 0, 0, 0, 0, 0, 0,           /* key, padded */
        5, 2, 0, 0, 2, 0, 0, 0,             /* string, NO_ESCAPE, 2 bytes */
        'a', 'b', 0, 0, 0, 0, 0, 0,
    };
    assert_int_equal(len, sizeof want_obj);
    assert_memory_equal(buf, want_obj, len);
    free(buf);
    push(a, &arr, tb_bool(true));
    push(a, &arr, tb_i64(-2));
    buf = encode_value(&arr, &len);
    static const uint8_t want_arr[] = {
        7, 0, 0, 0, 2, 0, 0, 0,             /* array, 2 items */
        1, 0, 0, 0, 1, 0, 0, 0,             /* true */
        2, 0, 0, 0, 0, 0, 0, 0,             /* i64 */
        0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    };
    assert_int_equal(len, sizeof want_arr);
    assert_memory_equal(buf, want_arr, len);
    free(buf);

    tb_batch b = {0};
    b.arena = a;
    b.token = 9;
    tb_event *e = tb_batch_push(&b);
    e->id = 1;
    e->ingest_ns = 2;
    e->stream = 3;
    e->port = 4;
    e->flags = 5;
    e->source = 6;
    buf = encode_batch(&b, &len);
    static const uint8_t want_batch[] = {
        'T', 'B', 'W', 1, 1, 0, 0, 0,       /* magic and version, 1 event */
        9, 0, 0, 0, 0, 0, 0, 0,             /* token */
        1, 0, 0, 0, 0, 0, 0, 0,             /* id */
        2, 0, 0, 0, 0, 0, 0, 0,             /* ingest_ns */
        3, 0, 0, 0, 4, 0, 5, 0,             /* stream, port, flags */
        6, 0, 0, 0, 0, 0, 0, 0,             /* source, reserved */
        0, 0, 0, 0, 0, 0, 0, 0,             /* data: null */
        0, 0, 0, 0, 0, 0, 0, 0,             /* meta: null */
    };
    assert_int_equal(len, sizeof want_batch);
    assert_memory_equal(buf, want_batch, len);
    free(buf);
    tbr_arena_free(a);
}

static void test_nested(void **state) {
    (void)state;
    tb_arena *a = tbr_arena_new(0);
    tb_value root = tb_object(), arr = tb_array(), a2 = tb_array(), a3 = tb_array();
    tb_value o1 = tb_object(), o2 = tb_object(), o3 = tb_object(), nest = tb_array();
    push(a, &a3, tb_i64(3));
    push(a, &a3, tb_object());
    push(a, &a2, tb_i64(2));
    push(a, &a2, a3);
    push(a, &arr, tb_i64(1));
    push(a, &arr, a2);
    add(a, &o1, "k", str("v"));
    push(a, &arr, o1);
    add(a, &root, "a", arr);
    add(a, &root, "", tb_null());
    push(a, &nest, tb_array());
    tb_value holder = tb_array();
    push(a, &holder, tb_array());
    push(a, &nest, holder);
    add(a, &o3, "d", nest);
    add(a, &o2, "c", o3);
    add(a, &root, "b", o2);
    add(a, &root, "x", tb_i64(1));
    add(a, &root, "x", tb_i64(2)); /* duplicate keys survive, in order */
    tb_value d;
    round_trip_value(&root, a, &d);
    assert_int_equal(d.len, 5);
    assert_int_equal(tb_object_getz(&d, "x")->as.i, 2);
    assert_int_equal(d.as.members[3].value.as.i, 1);
    /* decoded storage is exact: no CAP_POW2 anywhere */
    assert_int_equal(d.flags, 0);
    assert_int_equal(tb_object_getz(&d, "a")->flags, 0);
    tbr_arena_free(a);
}

/* A batch from a peer: the runtime's decoder drops its hints, true or not, unchecked; a host's
 * in-place decoder keeps the runtime's. */
static void test_batch_hints(void **state) {
    (void)state;
    tb_arena *a = tbr_arena_new(0);
    tb_event ev[1];
    memset(ev, 0, sizeof ev);
    ev[0].data = tb_object();
    tb_value *slot = tb_object_append(a, &ev[0].data, "k", 1);
    assert_non_null(slot);
    *slot = str_flagged("plain", 5);
    ev[0].data.as.members[0].reserved = TB_VF_NO_ESCAPE;
    tb_batch b = {.events = ev, .count = 1, .capacity = 1, .arena = a};
    size_t len = tbr_wire_batch_size(&b);
    uint8_t *buf = tb_arena_alloc(a, len, 8);
    assert_non_null(buf);
    assert_int_equal(tbr_wire_encode_batch(&b, buf, len, NULL), TB_OK);
    char err[128];
    tb_batch d;
    assert_int_equal(tbr_wire_decode_batch(buf, len, a, &d, err, sizeof err), TB_OK);
    assert_int_equal(d.events[0].data.as.members[0].reserved, 0);
    assert_int_equal(d.events[0].data.as.members[0].value.flags, 0);
    assert_int_equal(tbr_wire_decode_batch_in_place(buf, len, a, &d, err, sizeof err), TB_OK);
    assert_int_equal(d.events[0].data.as.members[0].reserved, TB_VF_NO_ESCAPE);
    assert_int_equal(d.events[0].data.as.members[0].value.flags, TB_VF_NO_ESCAPE);
    assert_true((const uint8_t *)d.events[0].data.as.members[0].value.as.s >= buf &&
                (const uint8_t *)d.events[0].data.as.members[0].value.as.s < buf + len); /* in place: into buf */
    /* in place needs 8-byte alignment */
    assert_int_equal(tbr_wire_decode_batch_in_place(buf + 1, len - 1, a, &d, err, sizeof err), TB_EINVAL);
    tbr_arena_free(a);
}

static void test_flags(void **state) {
    (void)state;
    tb_arena *a = tbr_arena_new(0);
    tb_value d;
    /* a true NO_ESCAPE hint is kept, on strings and keys */
    tb_value s = str_flagged("plain text, no escapes", 22);
    round_trip_value(&s, a, &d);
    assert_int_equal(d.flags, TB_VF_NO_ESCAPE);
    tb_value obj = tb_object();
    add(a, &obj, "key", tb_null());
    add(a, &obj, "bad\"key", tb_null());
    obj.as.members[0].reserved = TB_VF_NO_ESCAPE;
    obj.as.members[1].reserved = TB_VF_NO_ESCAPE; /* a lie */
    round_trip_value(&obj, a, &d);
    assert_int_equal(d.as.members[0].reserved, TB_VF_NO_ESCAPE);
    assert_int_equal(d.as.members[1].reserved, 0);

    /* a false one is cleared, wherever the offending byte sits in the words */
    static const uint8_t bad[] = {'"', '\\', 0x00, 0x1f, '\n'};
    static const uint8_t fine[] = {' ', 0x7f, 0x80, 0xff, '!', '#', '[', ']'};
    char text[40];
    for (size_t n = 1; n <= 24; n++) {
        for (size_t j = 0; j < n; j++) {
            for (size_t b = 0; b < sizeof bad; b++) {
                memset(text, 'a', sizeof text);
                text[j] = (char)bad[b];
                tb_value v = str_flagged(text, n);
                round_trip_value(&v, a, &d);
                assert_int_equal(d.flags, 0);
            }
            for (size_t b = 0; b < sizeof fine; b++) {
                memset(text, 'a', sizeof text);
                text[j] = (char)fine[b];
                tb_value v = str_flagged(text, n);
                round_trip_value(&v, a, &d);
                assert_int_equal(d.flags, TB_VF_NO_ESCAPE);
            }
        }
    }

    /* CAP_POW2 and flags on other types are not written */
    tb_value arr = tb_array();
    push(a, &arr, tb_i64(1));
    assert_true(arr.flags & TB_VF_CAP_POW2);
    round_trip_value(&arr, a, &d);
    assert_int_equal(d.flags, 0);
    assert_int_equal(tb_value_capacity(&d), 1);
    tb_value bytes = tb_bytes("xy", 2);
    bytes.flags = TB_VF_NO_ESCAPE;
    size_t len;
    uint8_t *buf = encode_value(&bytes, &len);
    assert_int_equal(buf[1], 0);
    free(buf);
    tbr_arena_free(a);
}

static void test_string_lengths(void **state) {
    (void)state;
    /* every length around the encoder's word copies, from sources of exactly that size (ASan
     * sees a load past them), as strings, bytes and keys */
    tb_arena *a = tbr_arena_new(0);
    for (size_t n = 0; n <= 40; n++) {
        uint8_t *src = malloc(n ? n : 1);
        for (size_t i = 0; i < n; i++) src[i] = (uint8_t)(0x41 + i * 7 % 50);
        tb_value obj = tb_object(), d;
        tb_value *slot = tb_object_append(a, &obj, (const char *)src, n);
        *slot = tb_string((const char *)src, n);
        slot = tb_object_append(a, &obj, "b", 1);
        *slot = tb_bytes(src, n);
        assert_int_equal(tbr_wire_value_size(&obj), 8 + 2 * (8 + (n + 7) / 8 * 8) + 16 + 8 + (n + 7) / 8 * 8);
        round_trip_value(&obj, a, &d); /* the decoder checks the padding is zero */
        free(src);
    }
    tbr_arena_free(a);
}

static void test_batch_fields(void **state) {
    (void)state;
    tb_arena *a = tbr_arena_new(0);
    tb_batch b = sample_batch(a, 5);
    b.events[0].id = UINT64_MAX;
    b.events[0].ingest_ns = UINT64_MAX - 1;
    b.events[0].stream = UINT32_MAX;
    b.events[0].port = UINT16_MAX;
    b.events[0].flags = UINT16_MAX;
    b.events[0].source = UINT32_MAX - 2;
    size_t len;
    uint8_t *buf = encode_batch(&b, &len);
    tb_arena *da = tbr_arena_new(0);
    tb_batch d;
    memset(&d, 0x5a, sizeof d);
    char err[256] = "";
    assert_int_equal(tbr_wire_decode_batch(buf, len, da, &d, err, sizeof err), TB_OK);
    free(buf);
    assert_same_batch(&b, &d);
    assert_int_equal(d.capacity, d.count);
    assert_ptr_equal(d.arena, da);
    assert_null(d.reserved[0]);
    assert_null(d.reserved[1]);
    assert_true(d.events[1].meta.type == TB_OBJECT);
    /* the decoded batch grows like any other */
    assert_non_null(tb_batch_push(&d));
    assert_int_equal(d.count, 6);
    tbr_arena_free(da);
    tbr_arena_free(a);
}

static void test_empty_batch(void **state) {
    (void)state;
    tb_arena *a = tbr_arena_new(0);
    tb_batch b = {0};
    b.token = 77;
    size_t len;
    uint8_t *buf = encode_batch(&b, &len);
    assert_int_equal(len, TBR_WIRE_HEADER_SIZE);
    tb_batch d;
    char err[128];
    assert_int_equal(tbr_wire_decode_batch(buf, len, a, &d, err, sizeof err), TB_OK);
    assert_int_equal(d.count, 0);
    assert_null(d.events);
    assert_true(d.token == 77);
    free(buf);
    tbr_arena_free(a);
}

static void test_large_batch(void **state) {
    (void)state;
    tb_arena *a = tbr_arena_new(1u << 20);
    tb_batch b = sample_batch(a, 10000);
    size_t len;
    uint8_t *buf = encode_batch(&b, &len);
    tb_arena *da = tbr_arena_new(1u << 20);
    tb_batch d;
    char err[256] = "";
    assert_int_equal(tbr_wire_decode_batch(buf, len, da, &d, err, sizeof err), TB_OK);
    assert_int_equal(d.count, 10000);
    assert_same_batch(&b, &d);
    free(buf);
    tbr_arena_free(da);
    tbr_arena_free(a);
}

static void test_value_api(void **state) {
    (void)state;
    /* a configuration record, as a host call would carry it */
    tb_arena *a = tbr_arena_new(0);
    tb_value cfg = tb_object(), paths = tb_array();
    add(a, &cfg, "port", tb_u64(8080));
    add(a, &cfg, "host", str("0.0.0.0"));
    push(a, &paths, str("/a"));
    push(a, &paths, str("/b"));
    add(a, &cfg, "paths", paths);
    tb_value d;
    round_trip_value(&cfg, a, &d);
    assert_int_equal(tb_config_u64(&d, "port", 0), 8080);

    /* the input may sit at any address */
    size_t len;
    uint8_t *buf = encode_value(&cfg, &len);
    uint8_t *odd = malloc(len + 1);
    memcpy(odd + 1, buf, len);
    char err[128];
    assert_int_equal(tbr_wire_decode_value(odd + 1, len, a, &d, err, sizeof err), TB_OK);
    assert_true(tb_test_same_value(&cfg, &d));
    free(odd);
    free(buf);
    tbr_arena_free(a);
}

/* ---------------------------------------------------------------------------------------
 * Sizes and memory
 * ------------------------------------------------------------------------------------- */

static void test_size_and_short_buffers(void **state) {
    (void)state;
    tb_arena *a = tbr_arena_new(0);
    tb_batch b = sample_batch(a, 3);
    size_t size = tbr_wire_batch_size(&b);
    uint8_t *buf = malloc(size + 64);
    size_t written;
    for (size_t cap = 0; cap < size; cap++) {
        uint8_t *exact = malloc(cap ? cap : 1); /* ASan: no write past cap */
        written = 0;
        assert_int_equal(tbr_wire_encode_batch(&b, exact, cap, &written), TB_ENOMEM);
        assert_int_equal(written, size);
        free(exact);
    }
    assert_int_equal(tbr_wire_encode_batch(&b, NULL, 0, &written), TB_ENOMEM);
    assert_int_equal(written, size);
    assert_int_equal(tbr_wire_encode_batch(&b, buf, size + 64, &written), TB_OK);
    assert_int_equal(written, size);
    assert_int_equal(tbr_wire_encode_batch(&b, buf, size, NULL), TB_OK);

    tb_value v = sample_value(a, 1);
    size = tbr_wire_value_size(&v);
    for (size_t cap = 0; cap < size; cap++) {
        assert_int_equal(tbr_wire_encode_value(&v, buf, cap, &written), TB_ENOMEM);
        assert_int_equal(written, size);
    }
    free(buf);
    tbr_arena_free(a);
}

/* Checks that every string, bytes and key of v points into [lo, hi). */
static void assert_points_into(const tb_value *v, const uint8_t *lo, const uint8_t *hi) {
    switch (v->type) {
    case TB_STRING:
    case TB_BYTES:
        assert_true(v->as.bytes >= lo && v->as.bytes + v->len <= hi);
        break;
    case TB_ARRAY:
        for (uint32_t i = 0; i < v->len; i++) assert_points_into(&v->as.items[i], lo, hi);
        break;
    case TB_OBJECT:
        for (uint32_t i = 0; i < v->len; i++) {
            const tb_member *m = &v->as.members[i];
            assert_true((const uint8_t *)m->key >= lo && (const uint8_t *)m->key + m->key_len <= hi);
            assert_points_into(&m->value, lo, hi);
        }
        break;
    default: break;
    }
}

/* The slots a decoder must allocate for v: arrays and objects, exactly. */
static size_t slot_bytes(const tb_value *v) {
    size_t n = 0;
    if (v->type == TB_ARRAY) {
        n += v->len * sizeof(tb_value);
        for (uint32_t i = 0; i < v->len; i++) n += slot_bytes(&v->as.items[i]);
    } else if (v->type == TB_OBJECT) {
        n += v->len * sizeof(tb_member);
        for (uint32_t i = 0; i < v->len; i++) n += slot_bytes(&v->as.members[i].value);
    }
    return n;
}

static void test_one_copy(void **state) {
    (void)state;
    tb_arena *a = tbr_arena_new(0);
    tb_batch b = sample_batch(a, 20);
    size_t len;
    uint8_t *buf = encode_batch(&b, &len);
    tb_arena *da = tbr_arena_new(1u << 20); /* one chunk holds it all */
    const uint8_t *copy = (const uint8_t *)(((uintptr_t)da->cur + 7) & ~(uintptr_t)7);
    size_t before = tbr_arena_used(da);
    tb_batch d;
    char err[128];
    assert_int_equal(tbr_wire_decode_batch(buf, len, da, &d, err, sizeof err), TB_OK);
    size_t expected = len + d.count * sizeof(tb_event);
    for (uint32_t i = 0; i < d.count; i++) {
        assert_points_into(&d.events[i].data, copy, copy + len);
        assert_points_into(&d.events[i].meta, copy, copy + len);
        expected += slot_bytes(&d.events[i].data) + slot_bytes(&d.events[i].meta);
    }
    /* the copy, the events and the slots: nothing per string */
    assert_int_equal(tbr_arena_used(da) - before, expected);
    /* the copy, not the input */
    assert_memory_equal(copy, buf, len);
    free(buf);
    tbr_arena_free(da);
    tbr_arena_free(a);
}

/* ---------------------------------------------------------------------------------------
 * Untrusted input
 * ------------------------------------------------------------------------------------- */

/* Decodes msg[0..len) from an exactly sized copy, with an exact arena. */
static int decode_exact(const uint8_t *msg, size_t len, bool batch, char *err, size_t err_size,
                        exact_arena *ea) {
    uint8_t *in = malloc(len ? len : 1);
    if (len) memcpy(in, msg, len);
    tb_batch b;
    tb_value v;
    int rc = batch ? tbr_wire_decode_batch(in, len, &ea->pub, &b, err, err_size)
                   : tbr_wire_decode_value(in, len, &ea->pub, &v, err, err_size);
    free(in);
    if (rc == TB_OK) {
        /* whatever decoded is whole: it encodes again, to the same length */
        size_t size = batch ? tbr_wire_batch_size(&b) : tbr_wire_value_size(&v);
        assert_int_equal(size, len);
    }
    return rc;
}

static void test_truncated_everywhere(void **state) {
    (void)state;
    tb_arena *a = tbr_arena_new(0);
    tb_batch b = sample_batch(a, 3);
    size_t len;
    uint8_t *buf = encode_batch(&b, &len);
    exact_arena ea;
    exact_init(&ea);
    char err[256];
    for (size_t n = 0; n < len; n++) {
        err[0] = 0;
        assert_int_equal(decode_exact(buf, n, true, err, sizeof err, &ea), TB_EINVAL);
        assert_err_prefix(err, "byte ");
        exact_reset(&ea);
    }
    assert_int_equal(decode_exact(buf, len, true, err, sizeof err, &ea), TB_OK);
    exact_reset(&ea);
    free(buf);

    tb_value v = sample_value(a, 3);
    buf = encode_value(&v, &len);
    for (size_t n = 0; n < len; n++) {
        err[0] = 0;
        assert_int_equal(decode_exact(buf, n, false, err, sizeof err, &ea), TB_EINVAL);
        assert_err_prefix(err, "byte ");
        exact_reset(&ea);
    }
    free(buf);
    exact_free(&ea);
    tbr_arena_free(a);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rng(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static void test_random_corruption(void **state) {
    (void)state;
    tb_arena *a = tbr_arena_new(0);
    tb_batch b = sample_batch(a, 4);
    size_t len;
    uint8_t *msg = encode_batch(&b, &len);
    uint8_t *work = malloc(len);
    exact_arena ea;
    exact_init(&ea);
    char err[256];
    unsigned ok = 0, refused = 0;
    for (int iter = 0; iter < 20000; iter++) {
        memcpy(work, msg, len);
        int flips = 1 + (int)(rng() % 4);
        for (int f = 0; f < flips; f++) {
            size_t at = rng() % len;
            switch (rng() % 3) {
            case 0: work[at] ^= (uint8_t)(1u << (rng() % 8)); break;
            case 1: work[at] = (uint8_t)rng(); break;
            default: work[at] = (uint8_t[]){0x00, 0xff, 0x01, 0x7f, 0x80}[rng() % 5]; break;
            }
        }
        /* sometimes cut it short too */
        size_t n = rng() % 8 == 0 ? rng() % (len + 1) : len;
        err[0] = 0;
        int rc = decode_exact(work, n, true, err, sizeof err, &ea);
        if (rc == TB_OK) {
            ok++;
        } else {
            assert_int_equal(rc, TB_EINVAL);
            assert_err_prefix(err, "byte ");
            refused++;
        }
        exact_reset(&ea);
    }
    /* both outcomes happen: flips in numbers and text decode, flips in heads do not */
    assert_true(ok > 100);
    assert_true(refused > 100);
    exact_free(&ea);
    free(work);
    free(msg);
    tbr_arena_free(a);
}

static void set_u32(uint8_t *p, uint32_t x) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(x >> (8 * i));
}

static void test_absurd_counts(void **state) {
    (void)state;
    /* a 256-byte arena that cannot grow: a decoder that allocated by the count would
     * report TB_ENOMEM, not TB_EINVAL */
    fixed_arena fa;
    char err[256];
    tb_batch b;
    tb_value v;

    uint8_t header[16] = {'T', 'B', 'W', 1};
    set_u32(header + 4, UINT32_MAX);
    fixed_arena_init(&fa, 256);
    assert_int_equal(tbr_wire_decode_batch(header, sizeof header, &fa.pub, &b, err, sizeof err), TB_EINVAL);
    assert_string_equal(err, "byte 4: 4294967295 events cannot fit in the 0 bytes left");

    /* two events claimed, room for one */
    uint8_t two[16 + 48] = {'T', 'B', 'W', 1, 2};
    fixed_arena_init(&fa, 256);
    assert_int_equal(tbr_wire_decode_batch(two, sizeof two, &fa.pub, &b, err, sizeof err), TB_EINVAL);
    assert_err_prefix(err, "byte 4: 2 events cannot fit");

    uint8_t arr[16] = {TB_ARRAY};
    set_u32(arr + 4, UINT32_MAX);
    fixed_arena_init(&fa, 256);
    assert_int_equal(tbr_wire_decode_value(arr, sizeof arr, &fa.pub, &v, err, sizeof err), TB_EINVAL);
    assert_string_equal(err, "byte 4: an array of 4294967295 items cannot fit in the 8 bytes left");
    set_u32(arr + 4, 2); /* 2 items need 16 bytes */
    fixed_arena_init(&fa, 256);
    assert_int_equal(tbr_wire_decode_value(arr, sizeof arr, &fa.pub, &v, err, sizeof err), TB_EINVAL);
    assert_err_prefix(err, "byte 4: an array of 2 items");

    uint8_t obj[24] = {TB_OBJECT};
    set_u32(obj + 4, 2); /* 2 members need 32 bytes */
    fixed_arena_init(&fa, 256);
    assert_int_equal(tbr_wire_decode_value(obj, sizeof obj, &fa.pub, &v, err, sizeof err), TB_EINVAL);
    assert_string_equal(err, "byte 4: an object of 2 members cannot fit in the 16 bytes left");

    uint8_t s[16] = {TB_STRING};
    set_u32(s + 4, UINT32_MAX);
    fixed_arena_init(&fa, 256);
    assert_int_equal(tbr_wire_decode_value(s, sizeof s, &fa.pub, &v, err, sizeof err), TB_EINVAL);
    assert_string_equal(err, "byte 0: a string of 4294967295 bytes runs past the end of the message (8 bytes left)");

    uint8_t key[32] = {TB_OBJECT, 0, 0, 0, 1};
    set_u32(key + 8, UINT32_MAX);
    fixed_arena_init(&fa, 256);
    assert_int_equal(tbr_wire_decode_value(key, sizeof key, &fa.pub, &v, err, sizeof err), TB_EINVAL);
    assert_err_prefix(err, "byte 8: a key of 4294967295 bytes runs past the end");
}

/* n arrays, each holding the next, the innermost holding null. */
static tb_value nested_arrays(tb_arena *a, unsigned n) {
    tb_value inner = tb_null();
    for (unsigned i = 0; i < n; i++) {
        tb_value arr = tb_array();
        push(a, &arr, inner);
        inner = arr;
    }
    return inner;
}

static void test_depth_limit(void **state) {
    (void)state;
    tb_arena *a = tbr_arena_new(0);
    char err[256];
    tb_value d;

    /* at the limit: both ways */
    tb_value deep = nested_arrays(a, TBR_WIRE_MAX_DEPTH);
    round_trip_value(&deep, a, &d);
    /* an empty container counts too */
    tb_value deep_empty = tb_array();
    for (unsigned i = 1; i < TBR_WIRE_MAX_DEPTH; i++) {
        tb_value o = tb_object();
        add(a, &o, "k", deep_empty);
        deep_empty = o;
    }
    round_trip_value(&deep_empty, a, &d);

    /* one past it: the encoder refuses */
    tb_value too_deep = nested_arrays(a, TBR_WIRE_MAX_DEPTH + 1);
    size_t written = 99;
    uint8_t small[64];
    assert_int_equal(tbr_wire_value_size(&too_deep), 0);
    assert_int_equal(tbr_wire_encode_value(&too_deep, small, sizeof small, &written), TB_EINVAL);
    assert_int_equal(written, 0);
    tb_value wrap = tb_array();
    push(a, &wrap, deep_empty);
    assert_int_equal(tbr_wire_value_size(&wrap), 0);
    tb_batch b = {0};
    b.arena = a;
    tb_batch_push(&b)->meta = too_deep;
    assert_int_equal(tbr_wire_batch_size(&b), 0);
    assert_int_equal(tbr_wire_encode_batch(&b, small, sizeof small, &written), TB_EINVAL);

    /* and the decoder refuses a message that nests one level more */
    size_t n = TBR_WIRE_MAX_DEPTH + 1, len = 8 * (n + 1);
    uint8_t *msg = calloc(1, len);
    for (size_t i = 0; i < n; i++) {
        msg[8 * i] = TB_ARRAY;
        msg[8 * i + 4] = 1;
    }
    assert_int_equal(tbr_wire_decode_value(msg, len, a, &d, err, sizeof err), TB_EINVAL);
    assert_string_equal(err, "byte 4096: nesting deeper than 512 arrays and objects");
    /* one level less decodes */
    assert_int_equal(tbr_wire_decode_value(msg + 8, len - 8, a, &d, err, sizeof err), TB_OK);
    free(msg);
    tbr_arena_free(a);
}

typedef struct bad_case {
    const char *what;
    uint8_t msg[64];
    size_t len;
    bool batch;
    const char *err;
} bad_case;

static void test_malformed(void **state) {
    (void)state;
    static const bad_case cases[] = {
        {"magic", {'T', 'B', 'X', 1}, 16, true, "byte 0: not a temblor wire batch (magic 0x01584254)"},
        {"version", {'T', 'B', 'W', 2}, 16, true, "byte 3: wire format version 2, this side reads version 1"},
        {"short header", {'T', 'B', 'W', 1}, 8, true, "byte 0: a batch needs a header of 16 bytes, the message has 8"},
        {"trailing", {'T', 'B', 'W', 1}, 24, true, "byte 16: 8 bytes after the end of the message"},
        {"event reserved", {'T', 'B', 'W', 1, 1, [44] = 1}, 64, true, "byte 44: the reserved field of an event is 0x1, not zero"},
        {"empty value", {0}, 0, false, "byte 0: an empty message, not a value"},
        {"short value", {0}, 4, false, "byte 0: a value needs at least 8 bytes, 4 left"},
        {"unknown type", {9}, 8, false, "byte 0: unknown value type 9"},
        {"reserved", {TB_NULL, 0, 1}, 8, false, "byte 2: the reserved field of a value is 0x1, not zero"},
        {"flag on int", {TB_I64, TB_VF_NO_ESCAPE}, 16, false, "byte 1: flags 0x2 are not allowed on a value of type int"},
        {"cap flag", {TB_ARRAY, TB_VF_CAP_POW2}, 8, false, "byte 1: flags 0x1 are not allowed on a value of type array"},
        {"bool 2", {TB_BOOL, 0, 0, 0, 2}, 8, false, "byte 4: a bool value of 2, not 0 or 1"},
        {"null len", {TB_NULL, 0, 0, 0, 1}, 8, false, "byte 4: a null value with length 1, not 0"},
        {"number len", {TB_F64, 0, 0, 0, 1}, 16, false, "byte 4: a number with length 1, not 0"},
        {"short number", {TB_U64}, 12, false, "byte 8: a number needs 8 bytes, 4 left"},
        {"padding", {TB_STRING, 0, 0, 0, 3, 0, 0, 0, 'a', 'b', 'c', 0, 0, 1}, 16, false, "byte 11: the padding after a string is not zero"},
        {"key flags", {TB_OBJECT, 0, 0, 0, 1, [12] = 4}, 24, false, "byte 12: key flags 0x4 are not allowed"},
        {"key padding", {TB_OBJECT, 0, 0, 0, 1, [8] = 1, [16] = 'k', 'x'}, 32, false, "byte 17: the padding after a key is not zero"},
        {"trailing value", {TB_NULL}, 16, false, "byte 8: 8 bytes after the end of the message"},
    };
    exact_arena ea;
    exact_init(&ea);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char err[256] = "";
        int rc = decode_exact(cases[i].msg, cases[i].len, cases[i].batch, err, sizeof err, &ea);
        if (rc != TB_EINVAL || strcmp(err, cases[i].err) != 0)
            fail_msg("%s: rc %d, \"%s\"", cases[i].what, rc, err);
        exact_reset(&ea);
    }
    /* a short error buffer is still terminated */
    char tiny[6];
    assert_int_equal(decode_exact(cases[7].msg, cases[7].len, false, tiny, sizeof tiny, &ea), TB_EINVAL);
    assert_string_equal(tiny, "byte ");
    exact_reset(&ea);
    assert_int_equal(decode_exact(cases[7].msg, cases[7].len, false, NULL, 0, &ea), TB_EINVAL);
    exact_free(&ea);
}

static void test_out_of_memory(void **state) {
    (void)state;
    /* one event whose data is [1, 2, 3]: a copy of 88 bytes, 64 of event, 48 of slots */
    tb_arena *a = tbr_arena_new(0);
    tb_batch b = {0};
    b.arena = a;
    tb_event *e = tb_batch_push(&b);
    e->data = tb_array();
    for (int i = 1; i <= 3; i++) push(a, &e->data, tb_i64(i));
    size_t len;
    uint8_t *buf = encode_batch(&b, &len);
    assert_int_equal(len, 16 + 32 + 8 + 3 * 16 + 8);
    fixed_arena fa;
    char err[64];
    tb_batch d;
    memset(&d, 0x5a, sizeof d);
    tb_batch untouched = d;
    /* too small for the copy, for the events, for the slots */
    size_t sizes[] = {16, len, len + 64};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        fixed_arena_init(&fa, sizes[i]);
        assert_int_equal(tbr_wire_decode_batch(buf, len, &fa.pub, &d, err, sizeof err), TB_ENOMEM);
        assert_string_equal(err, "out of memory");
        assert_memory_equal(&d, &untouched, sizeof d);
    }
    fixed_arena_init(&fa, len + 64 + 48);
    assert_int_equal(tbr_wire_decode_batch(buf, len, &fa.pub, &d, err, sizeof err), TB_OK);
    assert_same_batch(&b, &d);
    free(buf);
    tbr_arena_free(a);
}

static void test_encode_refuses_unknown_type(void **state) {
    (void)state;
    tb_value v = tb_null();
    v.type = 42;
    uint8_t out[32];
    size_t written = 5;
    assert_int_equal(tbr_wire_value_size(&v), 0);
    assert_int_equal(tbr_wire_encode_value(&v, out, sizeof out, &written), TB_EINVAL);
    assert_int_equal(written, 0);
    tb_batch b = {0};
    b.count = 1; /* and no events */
    assert_int_equal(tbr_wire_encode_batch(&b, out, sizeof out, &written), TB_EINVAL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scalars),
        cmocka_unit_test(test_layout_bytes),
        cmocka_unit_test(test_nested),
        cmocka_unit_test(test_flags),
        cmocka_unit_test(test_batch_hints),
        cmocka_unit_test(test_string_lengths),
        cmocka_unit_test(test_batch_fields),
        cmocka_unit_test(test_empty_batch),
        cmocka_unit_test(test_large_batch),
        cmocka_unit_test(test_value_api),
        cmocka_unit_test(test_size_and_short_buffers),
        cmocka_unit_test(test_one_copy),
        cmocka_unit_test(test_truncated_everywhere),
        cmocka_unit_test(test_random_corruption),
        cmocka_unit_test(test_absurd_counts),
        cmocka_unit_test(test_depth_limit),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_out_of_memory),
        cmocka_unit_test(test_encode_refuses_unknown_type),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
