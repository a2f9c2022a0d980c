/*
 * codec_roundtrip.c - drives an out-of-tree codec plugin (the kv example of the PDK)
 * through the runtime's own registry and instance code, the way the engine does, and checks
 * what it decodes and encodes byte for byte.
 *
 * The plugin library is named by the environment variable TB_KV_PLUGIN (tests/pdk/
 * out_of_tree.sh builds it against an installed PDK and runs this test with it).
 *
 * Every input line is a malloc'd copy of exactly its bytes, with no NUL after them, so a
 * decoder that reads one byte too far is caught by AddressSanitizer.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "plugin/instance.h"
#include "plugin/registry.h"
#include "value/arena.h"
#include "value/json.h"

/* --- the plugin, loaded once for the group --------------------------------------------- */

static tbr_registry *reg;
static const tbr_component *kv;

static int group_teardown(void **state) {
    (void)state;
    tbr_registry_free(reg); /* every instance is destroyed by then */
    reg = NULL;
    kv = NULL;
    return 0;
}

static int group_setup(void **state) {
    (void)state;
    const char *path = getenv("TB_KV_PLUGIN");
    char err[1024] = "";
    if (!path || !*path) {
        fprintf(stderr, "codec_roundtrip: set TB_KV_PLUGIN to the path of the kv codec library "
                        "(tests/pdk/out_of_tree.sh does)\n");
        return -1;
    }
    reg = tbr_registry_new();
    if (!reg) return -1;
    tbr_plugin *p = NULL;
    if (tbr_registry_load_file(reg, path, &p, err, sizeof err) != TB_OK || !p) {
        fprintf(stderr, "codec_roundtrip: cannot load %s: %s\n", path, err);
        return group_teardown(state), -1;
    }
    kv = tbr_registry_find(reg, TB_KIND_CODEC, "kv");
    if (!kv) {
        fprintf(stderr, "codec_roundtrip: %s provides no codec 'kv'\n", path);
        return group_teardown(state), -1;
    }
    return 0;
}

/* --- fixtures: an instance, a batch and its inputs --------------------------------------- */

#define MAX_EVENTS 16

typedef struct fixture {
    tb_arena *config_arena; /* the config value; must outlive the instance */
    tbr_instance *inst;
    tb_arena *arena;        /* the batch's */
    tb_batch batch;
    char *inputs[MAX_EVENTS]; /* exact-size copies of the input lines */
    size_t input_len[MAX_EVENTS];
} fixture;

/* Creates an instance of the kv codec with config_json (NULL: no configuration). Returns
 * the status of tbr_instance_create, with its message in err. */
static int make_instance(fixture *f, const char *config_json, char *err, size_t err_size) {
    tb_value config = tb_null();
    f->config_arena = tbr_arena_new(1024);
    assert_non_null(f->config_arena);
    if (config_json) {
        char jerr[128];
        int rc = tbr_json_parse(f->config_arena, config_json, strlen(config_json), &config,
                                jerr, sizeof jerr);
        if (rc) fail_msg("bad test config %s: %s", config_json, jerr);
    }
    return tbr_instance_create(reg, kv, "test", config_json ? &config : NULL, NULL, 0,
                               &f->inst, err, err_size);
}

static void setup_instance(fixture *f, const char *config_json, size_t chunk) {
    char err[512] = "";
    memset(f, 0, sizeof *f);
    int rc = make_instance(f, config_json, err, sizeof err);
    if (rc) fail_msg("tbr_instance_create: %d: %s", rc, err);
    assert_non_null(f->inst);
    f->arena = tbr_arena_new(chunk);
    assert_non_null(f->arena);
}

/* Fills the batch with one raw TB_BYTES event per line, as a source would. */
static void raw_batch(fixture *f, const char *const *lines, uint32_t count) {
    assert_true(count <= MAX_EVENTS);
    f->batch.events = tb_arena_alloc(f->arena, count * sizeof(tb_event), 8);
    assert_non_null(f->batch.events);
    f->batch.count = f->batch.capacity = count;
    f->batch.arena = f->arena;
    f->batch.token = 1;
    for (uint32_t i = 0; i < count; i++) {
        size_t n = strlen(lines[i]);
        f->inputs[i] = malloc(n ? n : 1);
        assert_non_null(f->inputs[i]);
        memcpy(f->inputs[i], lines[i], n);
        f->input_len[i] = n;
        tb_event *e = &f->batch.events[i];
        memset(e, 0, sizeof *e);
        e->data = tb_bytes(f->inputs[i], n);
        e->id = 100 + i;
        e->stream = 7;
        e->flags = TB_EF_RAW;
    }
}

/* An empty batch of count value events, for encode tests. */
static void value_batch(fixture *f, uint32_t count) {
    f->batch.events = tb_arena_alloc(f->arena, count * sizeof(tb_event), 8);
    assert_non_null(f->batch.events);
    memset(f->batch.events, 0, count * sizeof(tb_event));
    f->batch.count = f->batch.capacity = count;
    f->batch.arena = f->arena;
}

static void teardown_fixture(fixture *f) {
    tbr_instance_destroy(f->inst);
    tbr_arena_free(f->arena);
    tbr_arena_free(f->config_arena);
    for (int i = 0; i < MAX_EVENTS; i++) free(f->inputs[i]);
    memset(f, 0, sizeof *f);
}

static int decode(fixture *f) {
    return f->inst->component->vt.codec.decode(f->inst->state, &f->batch);
}
static int encode(fixture *f) {
    return f->inst->component->vt.codec.encode(f->inst->state, &f->batch);
}

/* --- assertions on values ----------------------------------------------------------------- */

/* The decoded record of event i, checked to be a record that decoded cleanly. */
static const tb_value *record(fixture *f, uint32_t i, uint32_t members) {
    const tb_event *e = &f->batch.events[i];
    assert_int_equal(e->flags & (TB_EF_RAW | TB_EF_ERROR), 0);
    assert_int_equal(e->data.type, TB_OBJECT);
    assert_int_equal(e->data.len, members);
    assert_int_equal(e->id, 100 + i); /* the codec leaves the rest of the event alone */
    assert_int_equal(e->stream, 7);
    return &e->data;
}

/* True when p..p+n lies inside input i. */
static bool inside(const fixture *f, uint32_t i, const char *p, size_t n) {
    const char *b = f->inputs[i];
    return p >= b && p + n <= b + f->input_len[i];
}

/* Member k of rec has key key, pointing into input i at the key's first occurrence (zero
 * copy), and returns its value. */
static const tb_value *member(const fixture *f, uint32_t i, const tb_value *rec, uint32_t k,
                              const char *key, size_t key_offset) {
    const tb_member *m = &rec->as.members[k];
    size_t n = strlen(key);
    assert_int_equal(m->key_len, n);
    assert_memory_equal(m->key, key, n);
    assert_ptr_equal(m->key, f->inputs[i] + key_offset);
    return &m->value;
}

static void assert_str(const tb_value *v, const char *s) {
    assert_int_equal(v->type, TB_STRING);
    assert_int_equal(v->len, strlen(s));
    if (v->len) assert_memory_equal(v->as.s, s, v->len);
}

/* A string value that points into input i at offset (zero copy). */
static void assert_str_at(const fixture *f, uint32_t i, const tb_value *v, const char *s,
                          size_t offset) {
    assert_str(v, s);
    assert_ptr_equal(v->as.s, f->inputs[i] + offset);
}

static void assert_i64(const tb_value *v, int64_t i) {
    assert_int_equal(v->type, TB_I64);
    assert_true(v->as.i == i);
}

static void assert_bool(const tb_value *v, bool b) {
    assert_int_equal(v->type, TB_BOOL);
    assert_int_equal(v->as.b, b);
}

/* Event i failed in decode with exactly msg, and kept its input under "data". */
static void assert_failed(const fixture *f, uint32_t i, const char *msg) {
    const tb_event *e = &f->batch.events[i];
    assert_int_equal(e->flags & TB_EF_ERROR, TB_EF_ERROR);
    assert_int_equal(e->flags & TB_EF_RAW, 0);
    assert_int_equal(e->data.type, TB_OBJECT);
    const tb_value *err = tb_object_getz(&e->data, "error");
    assert_non_null(err);
    assert_int_equal(err->type, TB_STRING);
    if (err->len != strlen(msg) || memcmp(err->as.s, msg, err->len) != 0)
        fail_msg("event %u: error \"%.*s\", expected \"%s\"", i, (int)err->len, err->as.s, msg);
    const tb_value *data = tb_object_getz(&e->data, "data");
    assert_non_null(data);
    assert_int_equal(data->type, TB_BYTES);
    assert_ptr_equal(data->as.bytes, f->inputs[i]);
    assert_int_equal(data->len, f->input_len[i]);
}

/* Event i was encoded to exactly text. */
static void assert_text(const fixture *f, uint32_t i, const char *text) {
    const tb_event *e = &f->batch.events[i];
    assert_int_equal(e->flags & (TB_EF_RAW | TB_EF_ERROR), TB_EF_RAW);
    assert_int_equal(e->data.type, TB_BYTES);
    if (e->data.len != strlen(text) || (e->data.len && memcmp(e->data.as.bytes, text, e->data.len)))
        fail_msg("event %u: encoded \"%.*s\", expected \"%s\"", i, (int)e->data.len,
                 (const char *)e->data.as.bytes, text);
}

/* --- the descriptor as the runtime holds it --------------------------------------------- */

static void test_descriptor(void **state) {
    (void)state;
    const tbr_plugin *p = kv->plugin;
    assert_string_equal(p->desc.name, "kv");
    assert_string_equal(p->desc.version, "0.1.0");
    assert_true(p->desc.flags & TB_PLUGIN_UNLOAD_SAFE);
    assert_int_equal(p->desc.abi_major, TB_ABI_MAJOR);
    assert_int_equal(p->component_count, 1);
    assert_int_equal(kv->desc.kind, TB_KIND_CODEC);
    assert_int_equal(kv->desc.option_count, 2);
    assert_string_equal(kv->options[0].name, "separator");
    assert_int_equal(kv->options[0].type, TB_OPT_STRING);
    assert_true(kv->has_default[0]);
    assert_str(&kv->defaults[0], " ");
    assert_string_equal(kv->options[1].name, "strict");
    assert_int_equal(kv->options[1].type, TB_OPT_BOOL);
    assert_true(kv->has_default[1]);
    assert_bool(&kv->defaults[1], true);
}

/* --- decode -------------------------------------------------------------------------------- */

static void test_decode_example(void **state) {
    (void)state;
    fixture f;
    setup_instance(&f, NULL, 0);
    /*                            0         1         2         3         4         5
     *                            0123456789012345678901234567890123456789012345678901234 */
    static const char *const lines[] = {"level=info user=alice count=42 ok=true msg=\"hello world\""};
    raw_batch(&f, lines, 1);
    assert_int_equal(decode(&f), TB_OK);
    const tb_value *rec = record(&f, 0, 5);
    assert_str_at(&f, 0, member(&f, 0, rec, 0, "level", 0), "info", 6);
    assert_str_at(&f, 0, member(&f, 0, rec, 1, "user", 11), "alice", 16);
    assert_i64(member(&f, 0, rec, 2, "count", 22), 42);
    assert_bool(member(&f, 0, rec, 3, "ok", 31), true);
    /* quoted without escapes: still zero copy, inside the quotes */
    assert_str_at(&f, 0, member(&f, 0, rec, 4, "msg", 39), "hello world", 44);
    /* and the lookups a pipeline would do */
    assert_true(tb_value_str_eq(tb_object_getz(rec, "user"), "alice"));
    int64_t count = 0;
    assert_true(tb_value_as_i64(tb_object_getz(rec, "count"), &count));
    assert_true(count == 42);
    teardown_fixture(&f);
}

static void test_decode_scalars(void **state) {
    (void)state;
    fixture f;
    setup_instance(&f, NULL, 0);
    static const char *const lines[] = {
        "max=9223372036854775807 min=-9223372036854775808",
        "over=9223372036854775808 under=-9223372036854775809",
        "zero=-0 lead=007 x=12x minus=- plus=+5 f=1.5",
        "t=true f=false T=TRUE tr=truex",
        "empty= eq=a=b q=ab\"c",
    };
    raw_batch(&f, lines, 5);
    assert_int_equal(decode(&f), TB_OK);

    const tb_value *r = record(&f, 0, 2);
    assert_i64(member(&f, 0, r, 0, "max", 0), INT64_MAX);
    assert_i64(member(&f, 0, r, 1, "min", 24), INT64_MIN);

    /* one past either end of int64 is not an integer: a string, zero copy */
    r = record(&f, 1, 2);
    assert_str_at(&f, 1, member(&f, 1, r, 0, "over", 0), "9223372036854775808", 5);
    assert_str_at(&f, 1, member(&f, 1, r, 1, "under", 25), "-9223372036854775809", 31);

    r = record(&f, 2, 6);
    assert_i64(member(&f, 2, r, 0, "zero", 0), 0);
    assert_i64(member(&f, 2, r, 1, "lead", 8), 7);
    assert_str_at(&f, 2, member(&f, 2, r, 2, "x", 17), "12x", 19);
    assert_str_at(&f, 2, member(&f, 2, r, 3, "minus", 23), "-", 29);
    assert_str_at(&f, 2, member(&f, 2, r, 4, "plus", 31), "+5", 36);
    assert_str_at(&f, 2, member(&f, 2, r, 5, "f", 39), "1.5", 41);

    r = record(&f, 3, 4);
    assert_bool(member(&f, 3, r, 0, "t", 0), true);
    assert_bool(member(&f, 3, r, 1, "f", 7), false);
    assert_str_at(&f, 3, member(&f, 3, r, 2, "T", 15), "TRUE", 17);
    assert_str_at(&f, 3, member(&f, 3, r, 3, "tr", 22), "truex", 25);

    r = record(&f, 4, 3);
    const tb_value *empty = member(&f, 4, r, 0, "empty", 0);
    assert_str(empty, "");
    assert_true(inside(&f, 4, empty->as.s, 0));
    assert_str_at(&f, 4, member(&f, 4, r, 1, "eq", 7), "a=b", 10);
    assert_str_at(&f, 4, member(&f, 4, r, 2, "q", 14), "ab\"c", 16);
    teardown_fixture(&f);
}

static void test_decode_quoted(void **state) {
    (void)state;
    fixture f;
    setup_instance(&f, NULL, 0);
    static const char *const lines[] = {
        /* 0         1         2         3         4
         * 01234567890123456789012345678901234567890123456 */
        "msg=\"say \\\"hi\\\" \\\\o/\" plain=\"a = b\" empty=\"\" n=\"42\" t=\"true\"",
    };
    raw_batch(&f, lines, 1);
    assert_int_equal(decode(&f), TB_OK);
    const tb_value *r = record(&f, 0, 5);
    /* escapes: unescaped into a copy in the batch's arena, not the input */
    const tb_value *msg = member(&f, 0, r, 0, "msg", 0);
    assert_str(msg, "say \"hi\" \\o/");
    assert_false(inside(&f, 0, msg->as.s, msg->len));
    /* without escapes: zero copy, '=' and spaces are ordinary inside quotes */
    assert_str_at(&f, 0, member(&f, 0, r, 1, "plain", 22), "a = b", 29);
    const tb_value *empty = member(&f, 0, r, 2, "empty", 36);
    assert_str(empty, "");
    assert_true(inside(&f, 0, empty->as.s, 0));
    /* quoted values are strings whatever they look like */
    assert_str_at(&f, 0, member(&f, 0, r, 3, "n", 45), "42", 48);
    assert_str_at(&f, 0, member(&f, 0, r, 4, "t", 52), "true", 55);
    teardown_fixture(&f);
}

static void test_decode_spacing(void **state) {
    (void)state;
    fixture f;
    setup_instance(&f, NULL, 0);
    static const char *const lines[] = {"  a=1    b=x  ", "", "   ", "a=1 a=2"};
    raw_batch(&f, lines, 4);
    assert_int_equal(decode(&f), TB_OK);
    const tb_value *r = record(&f, 0, 2);
    assert_i64(member(&f, 0, r, 0, "a", 2), 1);
    assert_str_at(&f, 0, member(&f, 0, r, 1, "b", 9), "x", 11);
    record(&f, 1, 0); /* an empty line is the empty record */
    record(&f, 2, 0);
    /* a repeated key: both members kept, lookups find the later */
    r = record(&f, 3, 2);
    assert_i64(tb_object_getz(r, "a"), 2);
    teardown_fixture(&f);
}

static void test_decode_failures(void **state) {
    (void)state;
    fixture f;
    setup_instance(&f, NULL, 0);
    static const char *const lines[] = {
        "level=info",
        "level=info oops count=1",
        "=x",
        "a=1 b=\"unterminated",
        "a=\"x\"y",
        "a=\"bad \\n escape\"",
        "a=\"trailing backslash\\",
        "bare",
        "level=warn",
    };
    raw_batch(&f, lines, 9);
    /* one bad line fails its event, not the batch */
    assert_int_equal(decode(&f), TB_OK);
    assert_str_at(&f, 0, member(&f, 0, record(&f, 0, 1), 0, "level", 0), "info", 6);
    assert_failed(&f, 1, "kv: expected key=value at byte 11, found 'oops'");
    assert_failed(&f, 2, "kv: empty key at byte 0");
    assert_failed(&f, 3, "kv: unterminated quoted value opened at byte 6");
    assert_failed(&f, 4, "kv: expected a separator after the closing quote at byte 5");
    assert_failed(&f, 5, "kv: unknown escape '\\n' at byte 7");
    assert_failed(&f, 6, "kv: unterminated quoted value opened at byte 2");
    assert_failed(&f, 7, "kv: expected key=value at byte 0, found 'bare'");
    assert_str_at(&f, 8, member(&f, 8, record(&f, 8, 1), 0, "level", 0), "warn", 6);
    teardown_fixture(&f);
}

static void test_decode_not_strict(void **state) {
    (void)state;
    fixture f;
    setup_instance(&f, "{\"strict\": false}", 0);
    static const char *const lines[] = {"level=info debug count=1 verbose", "=x"};
    raw_batch(&f, lines, 2);
    assert_int_equal(decode(&f), TB_OK);
    const tb_value *r = record(&f, 0, 4);
    assert_str_at(&f, 0, member(&f, 0, r, 0, "level", 0), "info", 6);
    assert_bool(member(&f, 0, r, 1, "debug", 11), true);
    assert_i64(member(&f, 0, r, 2, "count", 17), 1);
    assert_bool(member(&f, 0, r, 3, "verbose", 25), true);
    /* an empty key is an error in either mode */
    assert_failed(&f, 1, "kv: empty key at byte 0");
    teardown_fixture(&f);
}

static void test_decode_separator(void **state) {
    (void)state;
    fixture f;
    setup_instance(&f, "{\"separator\": \",\"}", 0);
    static const char *const lines[] = {"a=1,b=\"x,y\",c=hello world,,d=true", "a=1 b=2"};
    raw_batch(&f, lines, 2);
    assert_int_equal(decode(&f), TB_OK);
    const tb_value *r = record(&f, 0, 4);
    assert_i64(member(&f, 0, r, 0, "a", 0), 1);
    assert_str_at(&f, 0, member(&f, 0, r, 1, "b", 4), "x,y", 7);
    assert_str_at(&f, 0, member(&f, 0, r, 2, "c", 12), "hello world", 14);
    assert_bool(member(&f, 0, r, 3, "d", 27), true);
    /* with ',' between pairs, the space is part of the value */
    r = record(&f, 1, 1);
    assert_str_at(&f, 1, member(&f, 1, r, 0, "a", 0), "1 b=2", 2);
    /* and encode uses the separator too, quoting values that hold it */
    assert_int_equal(encode(&f), TB_OK);
    assert_text(&f, 0, "a=1,b=\"x,y\",c=\"hello world\",d=true");
    assert_text(&f, 1, "a=\"1 b=2\"");
    teardown_fixture(&f);
}

/* A tiny arena: every record and buffer grows through the runtime's grow callback. */
static void test_decode_large(void **state) {
    (void)state;
    fixture f;
    setup_instance(&f, NULL, 64);
    char line[4096];
    size_t used = 0;
    for (int i = 0; i < 200; i++)
        used += (size_t)snprintf(line + used, sizeof line - used, "%sk%d=%s", i ? " " : "", i,
                                 i % 3 == 0 ? "\"q \\\\x\"" : i % 3 == 1 ? "12345" : "word");
    assert_true(used < sizeof line - 1);
    const char *lines[] = {line};
    raw_batch(&f, lines, 1);
    assert_int_equal(decode(&f), TB_OK);
    const tb_value *r = record(&f, 0, 200);
    for (uint32_t i = 0; i < 200; i++) {
        char key[16];
        snprintf(key, sizeof key, "k%u", i);
        const tb_member *m = &r->as.members[i];
        assert_int_equal(m->key_len, strlen(key));
        assert_memory_equal(m->key, key, m->key_len);
        assert_true(inside(&f, 0, m->key, m->key_len));
        if (i % 3 == 0) assert_str(&m->value, "q \\x");
        else if (i % 3 == 1) assert_i64(&m->value, 12345);
        else assert_str(&m->value, "word");
    }
    /* and back to the same text */
    assert_int_equal(encode(&f), TB_OK);
    assert_text(&f, 0, line);
    teardown_fixture(&f);
}

/* --- configuration ------------------------------------------------------------------------- */

static void expect_bad_config(const char *config_json, const char *needle) {
    fixture f;
    char err[512] = "";
    memset(&f, 0, sizeof f);
    int rc = make_instance(&f, config_json, err, sizeof err);
    assert_int_equal(rc, TB_EINVAL);
    assert_null(f.inst);
    if (!strstr(err, needle)) fail_msg("config %s: error \"%s\" lacks \"%s\"", config_json, err, needle);
    teardown_fixture(&f);
}

static void test_bad_config(void **state) {
    (void)state;
    /* refused by the plugin's create */
    expect_bad_config("{\"separator\": \"ab\"}", "must be exactly one byte, found 2 bytes");
    expect_bad_config("{\"separator\": \"\"}", "must be exactly one byte, found 0 bytes");
    expect_bad_config("{\"separator\": \"=\"}", "cannot be '='");
    /* refused by the runtime against the declared options */
    expect_bad_config("{\"strict\": \"no\"}", "option 'strict': expected bool, found string");
    expect_bad_config("{\"sep\": \",\"}", "unknown option 'sep' (known options: separator, strict)");
}

/* --- encode -------------------------------------------------------------------------------- */

static tb_value *put(fixture *f, tb_value *obj, const char *key) {
    tb_value *slot = tb_object_append(f->arena, obj, key, strlen(key));
    assert_non_null(slot);
    return slot;
}

static void test_encode(void **state) {
    (void)state;
    fixture f;
    setup_instance(&f, NULL, 0);
    value_batch(&f, 7);

    tb_value rec = tb_object();
    *put(&f, &rec, "level") = tb_stringz("info");
    *put(&f, &rec, "n") = tb_i64(-42);
    *put(&f, &rec, "big") = tb_u64(UINT64_MAX);
    *put(&f, &rec, "ok") = tb_bool(true);
    *put(&f, &rec, "no") = tb_bool(false);
    *put(&f, &rec, "msg") = tb_stringz("hello world");
    *put(&f, &rec, "q") = tb_stringz("say \"hi\" \\o/");
    *put(&f, &rec, "eq") = tb_stringz("a=b");
    *put(&f, &rec, "num") = tb_stringz("42");   /* would decode as an int: quoted */
    *put(&f, &rec, "t") = tb_stringz("false"); /* would decode as a bool: quoted */
    *put(&f, &rec, "path") = tb_stringz("C:\\x"); /* a backslash alone needs no quotes */
    *put(&f, &rec, "empty") = tb_stringz("");
    *put(&f, &rec, "nil") = tb_null();
    *put(&f, &rec, "half") = tb_f64(0.5);
    *put(&f, &rec, "tenth") = tb_f64(0.1);
    *put(&f, &rec, "third") = tb_f64(1.0 / 3.0);
    f.batch.events[0].data = rec;

    f.batch.events[1].data = tb_object(); /* the empty record is the empty line */

    f.batch.events[2].data = tb_stringz("not a record");

    tb_value nested = tb_object();
    *put(&f, &nested, "a") = tb_i64(1);
    *put(&f, &nested, "list") = tb_array();
    f.batch.events[3].data = nested;

    tb_value bad_key = tb_object();
    *put(&f, &bad_key, "a b") = tb_i64(1);
    f.batch.events[4].data = bad_key;

    /* already bytes: encode leaves it alone */
    static const char raw[] = "left=alone";
    f.batch.events[5].data = tb_bytes(raw, sizeof raw - 1);
    f.batch.events[5].flags = TB_EF_RAW;

    f.batch.events[6].data = tb_i64(5);

    assert_int_equal(encode(&f), TB_OK);
    assert_text(&f, 0,
                "level=info n=-42 big=18446744073709551615 ok=true no=false msg=\"hello world\" "
                "q=\"say \\\"hi\\\" \\\\o/\" eq=\"a=b\" num=\"42\" t=\"false\" path=C:\\x empty= "
                "nil= half=0.5 tenth=0.1 third=0.33333333333333331");
    assert_text(&f, 1, "");
    const tb_value *err = tb_object_getz(&f.batch.events[2].data, "error");
    assert_int_equal(f.batch.events[2].flags, TB_EF_ERROR);
    assert_true(tb_value_str_eq(err, "kv: can only encode a record, found string"));
    assert_true(tb_value_str_eq(tb_object_getz(&f.batch.events[2].data, "data"), "not a record"));
    assert_int_equal(f.batch.events[3].flags, TB_EF_ERROR);
    assert_true(tb_value_str_eq(tb_object_getz(&f.batch.events[3].data, "error"),
                                "kv: cannot encode the array value of key 'list': only scalars fit"));
    assert_int_equal(f.batch.events[4].flags, TB_EF_ERROR);
    assert_true(tb_value_str_eq(tb_object_getz(&f.batch.events[4].data, "error"),
                                "kv: key 'a b' cannot be written: it is empty or holds '=' or "
                                "the separator"));
    assert_ptr_equal(f.batch.events[5].data.as.bytes, raw);
    assert_text(&f, 5, "left=alone");
    assert_int_equal(f.batch.events[6].flags, TB_EF_ERROR);
    assert_true(tb_value_str_eq(tb_object_getz(&f.batch.events[6].data, "error"),
                                "kv: can only encode a record, found int"));
    teardown_fixture(&f);
}

/* decode then encode gives back the same text for lines already in canonical form */
static void test_roundtrip(void **state) {
    (void)state;
    fixture f;
    setup_instance(&f, NULL, 0);
    static const char *const lines[] = {
        "level=info user=alice count=42 ok=true msg=\"hello world\"",
        "a=-9223372036854775808 b=\"say \\\"hi\\\" \\\\o/\" c= d=\"42\" e=\"true\" f=x\\y",
        "",
        "bad line",
    };
    raw_batch(&f, lines, 4);
    assert_int_equal(decode(&f), TB_OK);
    assert_failed(&f, 3, "kv: expected key=value at byte 0, found 'bad'");
    assert_int_equal(encode(&f), TB_OK);
    for (uint32_t i = 0; i < 3; i++) assert_text(&f, i, lines[i]);
    /* the failed event is an error record now, which encodes like any record */
    assert_int_equal(f.batch.events[3].flags & TB_EF_ERROR, TB_EF_ERROR);
    teardown_fixture(&f);
}

/* Two instances of one plugin with different configurations at once. */
static void test_two_instances(void **state) {
    (void)state;
    fixture a, b;
    /* relative to what an earlier failed test may have left behind */
    unsigned refs = kv->plugin->refs;
    size_t live = atomic_load(&kv->plugin->mem_live);
    setup_instance(&a, NULL, 0);
    setup_instance(&b, "{\"separator\": \";\", \"strict\": false}", 0);
    assert_int_equal(kv->plugin->refs, refs + 2);
    static const char *const lines[] = {"x=1;y"};
    raw_batch(&a, lines, 1);
    raw_batch(&b, lines, 1);
    assert_int_equal(decode(&a), TB_OK);
    assert_int_equal(decode(&b), TB_OK);
    assert_str_at(&a, 0, member(&a, 0, record(&a, 0, 1), 0, "x", 0), "1;y", 2);
    const tb_value *r = record(&b, 0, 2);
    assert_i64(member(&b, 0, r, 0, "x", 0), 1);
    assert_bool(member(&b, 0, r, 1, "y", 4), true);
    teardown_fixture(&a);
    teardown_fixture(&b);
    assert_int_equal(kv->plugin->refs, refs);
    /* everything the instances took from the host allocator went back */
    assert_int_equal(atomic_load(&kv->plugin->mem_live), live);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_descriptor),     cmocka_unit_test(test_decode_example),
        cmocka_unit_test(test_decode_scalars), cmocka_unit_test(test_decode_quoted),
        cmocka_unit_test(test_decode_spacing), cmocka_unit_test(test_decode_failures),
        cmocka_unit_test(test_decode_not_strict), cmocka_unit_test(test_decode_separator),
        cmocka_unit_test(test_decode_large),   cmocka_unit_test(test_bad_config),
        cmocka_unit_test(test_encode),         cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_two_instances),
    };
    return cmocka_run_group_tests_name("pdk codec_roundtrip (kv)", tests, group_setup,
                                       group_teardown);
}
