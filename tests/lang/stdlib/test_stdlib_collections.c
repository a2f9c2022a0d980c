/* test_stdlib_collections.c - std::array, std::record and std::path (array.c, record.c,
 * path.c). */
#include "fixed_arena.h"
#include "stdlib_test.h"

/* ---- array ------------------------------------------------------------------------------ */

static void test_array_len_is_empty_contains(void **state) {
    fx *f = *state;
    OK(f, "array::len", "[[\"this\", \"is\", \"a\", \"test\"]]", "4");
    OK(f, "array::len", "[[]]", "0");
    OK(f, "array::is_empty", "[[]]", "true");
    OK(f, "array::is_empty", "[[null]]", "false");
    OK(f, "array::contains", "[[\"this\", \"is\", \"a\", \"test\"], \"is\"]", "true");
    OK(f, "array::contains", "[[\"this\", \"is\"], \"i\"]", "false");
    OK(f, "array::contains", "[[], null]", "false");
    /* the language's equality: numbers across types, records in any order */
    OK(f, "array::contains", "[[1, 2.5], 1.0]", "true");
    OK(f, "array::contains", "[[{\"a\": 1, \"b\": [2]}], {\"b\": [2], \"a\": 1}]", "true");
    OK(f, "array::contains", "[[[1, 2]], [1, 2, 3]]", "false");
    ERR(f, "array::len", "[\"abc\"]", "array::len: expected an array, found string");
    ERR(f, "array::is_empty", "[{}]", "array::is_empty: expected an array, found object");
    ERR(f, "array::contains", "[1, 1]",
        "array::contains: expected an array as argument 1 (array), found int");
}

static void test_array_push_concatenate(void **state) {
    fx *f = *state;
    OK(f, "array::push", "[[\"this\", \"is\", \"a\", \"test\"], \"cake\"]",
       "[\"this\", \"is\", \"a\", \"test\", \"cake\"]");
    OK(f, "array::push", "[[], [1]]", "[[1]]");
    OK(f, "array::concatenate", "[[\"this\", \"is\"], [\"the\", \"way\"]]",
       "[\"this\", \"is\", \"the\", \"way\"]");
    OK(f, "array::concatenate", "[[\"this\", \"is\"], []]", "[\"this\", \"is\"]");
    OK(f, "array::concatenate", "[[], []]", "[]");
    ERR(f, "array::push", "[null, 1]",
        "array::push: expected an array as argument 1 (array), found null");
    ERR(f, "array::concatenate", "[[], 2]",
        "array::concatenate: expected an array as argument 2 (right), found int");
}

static void test_array_results_do_not_alias_arguments(void **state) {
    fx *f = *state;
    /* an array with spare capacity: a careless push would write into it */
    tb_value a = tb_array();
    for (int i = 0; i < 3; i++) *tb_array_push(f->arena, &a) = tb_i64(i);
    tb_value *nested = tb_array_push(f->arena, &a);
    *nested = tb_array();
    *tb_array_push(f->arena, nested) = tb_i64(9);
    tb_value args[2] = {a, tb_i64(42)}, out;
    assert_int_equal(call_n(f, "array::push", args, 2, &out), TB_OK);
    assert_int_equal(out.len, 5);
    assert_int_equal(a.len, 4);
    assert_true(out.as.items != a.as.items);
    /* nested containers are copied too: changing the result leaves the argument alone */
    assert_true(out.as.items[3].as.items != a.as.items[3].as.items);
    out.as.items[3].as.items[0] = tb_i64(-1);
    assert_true(a.as.items[3].as.items[0].as.i == 9);
}

static void test_array_zip_unzip(void **state) {
    fx *f = *state;
    OK(f, "array::zip", "[[\"this\", \"is\", \"a\", \"test\"], [\"cake\", \"really\", \"good\", \"cake\"]]",
       "[[\"this\", \"cake\"], [\"is\", \"really\"], [\"a\", \"good\"], [\"test\", \"cake\"]]");
    OK(f, "array::zip", "[[], []]", "[]");
    OK(f, "array::unzip",
       "[[[\"this\", \"cake\"], [\"is\", \"really\"], [\"a\", \"good\"], [\"test\", \"cake\"]]]",
       "[[\"this\", \"is\", \"a\", \"test\"], [\"cake\", \"really\", \"good\", \"cake\"]]");
    OK(f, "array::unzip", "[[]]", "[[], []]");
    ERR(f, "array::zip", "[[1, 2], [1]]",
        "array::zip: Zipping two arrays requires them to have the same length, but the first "
        "array provided has 2 elements while the second one has 1 elements");
    ERR(f, "array::zip", "[[1], \"a\"]",
        "array::zip: expected an array as argument 2 (right), found string");
    ERR(f, "array::unzip", "[[[1, 2], [3]]]",
        "array::unzip: Only arrays that consist of tuples (arrays of two elements) can be "
        "unzipped but this array contained 1 elements");
    ERR(f, "array::unzip", "[[[1, 2], 3]]",
        "array::unzip: Only arrays that consist of tuples (arrays of two elements) can be "
        "unzipped but this array contained a int");
    ERR(f, "array::unzip", "[{}]", "array::unzip: expected an array, found object");
}

static void test_array_flatten_coalesce(void **state) {
    fx *f = *state;
    OK(f, "array::flatten",
       "[[[\"this\", \"cake\"], [\"is\", \"really\"], [\"a\", \"good\"], [\"test\", \"cake\"], \"!\"]]",
       "[\"this\", \"cake\", \"is\", \"really\", \"a\", \"good\", \"test\", \"cake\", \"!\"]");
    OK(f, "array::flatten", "[[1, [2, [3, [4, []]]], {\"a\": [5]}]]", "[1, 2, 3, 4, {\"a\": [5]}]");
    OK(f, "array::flatten", "[[]]", "[]");
    OK(f, "array::flatten", "[7]", "[7]"); /* any value, as in Tremor */
    OK(f, "array::coalesce", "[[\"this\", null, \"cake\", null, null, 1]]",
       "[\"this\", \"cake\", 1]");
    OK(f, "array::coalesce", "[[null, null]]", "[]");
    OK(f, "array::coalesce", "[[[null]]]", "[[null]]");
    ERR(f, "array::coalesce", "[null]", "array::coalesce: expected an array, found null");
}

static void test_array_join(void **state) {
    fx *f = *state;
    OK(f, "array::join", "[[\"this\", \"is\", \"a\", \"cake\"], \" \"]", "\"this is a cake\"");
    OK(f, "array::join", "[[], \",\"]", "\"\"");
    OK(f, "array::join", "[[\"a\"], \",\"]", "\"a\"");
    OK(f, "array::join", "[[1, 2.5, true, null, [1], {\"a\": \"b\"}, \"s\"], \"|\"]",
       "\"1|2.5|true|null|[1]|{\\\"a\\\":\\\"b\\\"}|s\"");
    OK(f, "array::join", "[[\"a\", \"b\"], \"\"]", "\"ab\"");
    ERR(f, "array::join", "[[\"a\"], 1]",
        "array::join: expected a string as argument 2 (separator), found int");
}

static void test_array_sort_reverse(void **state) {
    fx *f = *state;
    OK(f, "array::sort", "[[\"this\", \"is\", \"a\", \"test\"]]",
       "[\"a\", \"is\", \"test\", \"this\"]");
    OK(f, "array::sort", "[[3, 2, 3, 1, 4]]", "[1, 2, 3, 3, 4]");
    OK(f, "array::sort", "[[2.5, 1, -3, 18446744073709551615, 0.0]]",
       "[-3, 0.0, 1, 2.5, 18446744073709551615]");
    OK(f, "array::sort", "[[]]", "[]");
    /* mixed kinds in a fixed order: null, bool, number, string, array, record */
    OK(f, "array::sort", "[[{\"a\": 1}, [2], \"s\", 1, true, null, false, [1, 2], [1]]]",
       "[null, false, true, 1, \"s\", [1], [1, 2], [2], {\"a\": 1}]");
    /* stable: equal numbers keep their order and their types */
    OK(f, "array::sort", "[[1.0, 1, 0]]", "[0, 1.0, 1]");
    OK(f, "array::reverse", "[[\"this\", \"is\", \"a\", \"test\"]]",
       "[\"test\", \"a\", \"is\", \"this\"]");
    OK(f, "array::reverse", "[[1, 2, 3, 3, 4]]", "[4, 3, 3, 2, 1]");
    OK(f, "array::reverse", "[[]]", "[]");
    ERR(f, "array::sort", "[\"abc\"]", "array::sort: expected an array, found string");
    ERR(f, "array::reverse", "[1]", "array::reverse: expected an array, found int");
}

static void test_array_sort_with_nan(void **state) {
    fx *f = *state;
    tb_value a = J(f, "[[2, 1.5, 0]]"), out;
    tb_value *items = a.as.items[0].as.items;
    items[1] = tb_f64(NAN); /* [2, NaN, 0] */
    assert_int_equal(call_n(f, "array::sort", a.as.items, 1, &out), TB_OK);
    assert_int_equal(out.len, 3);
    assert_true(out.as.items[0].as.i == 0 && out.as.items[1].as.i == 2);
    assert_true(isnan(out.as.items[2].as.f)); /* NaN after every number */
}

static void test_array_out_of_memory(void **state) {
    (void)state;
    fixed_arena fa;
    fixed_arena_init(&fa, 64);
    char err[128] = "";
    uint64_t rng = 1;
    tbr_fn_ctx cx = {&fa.pub, err, sizeof err, &rng};
    tb_value items[8];
    for (int i = 0; i < 8; i++) items[i] = tb_i64(i);
    tb_value arr = tb_array();
    arr.as.items = items;
    arr.len = 8;
    tb_value args[2] = {arr, tb_null()}, out;
    assert_int_equal(F("array::push")->fn(&cx, args, 2, &out), TB_ENOMEM);
    assert_string_equal(err, "array::push: out of memory");
    assert_int_equal(F("array::sort")->fn(&cx, args, 1, &out), TB_ENOMEM);
    assert_string_equal(err, "array::sort: out of memory");
}

/* ---- record ----------------------------------------------------------------------------- */

static void test_record_len_is_empty_contains(void **state) {
    fx *f = *state;
    OK(f, "record::len", "[{\"this\": \"is\", \"a\": \"test\"}]", "2");
    OK(f, "record::len", "[{}]", "0");
    OK(f, "record::is_empty", "[{}]", "true");
    OK(f, "record::is_empty", "[{\"a\": null}]", "false");
    OK(f, "record::contains", "[{\"this\": \"is\", \"a\": \"test\"}, \"this\"]", "true");
    OK(f, "record::contains", "[{\"this\": \"is\", \"a\": \"test\"}, \"that\"]", "false");
    OK(f, "record::contains", "[{\"\": 1}, \"\"]", "true");
    ERR(f, "record::len", "[[]]", "record::len: expected a record, found array");
    ERR(f, "record::is_empty", "[\"x\"]", "record::is_empty: expected a record, found string");
    ERR(f, "record::contains", "[{}, 1]",
        "record::contains: expected a string as argument 2 (key), found int");
}

static void test_record_repeated_keys(void **state) {
    fx *f = *state;
    /* a decoder may leave a key twice: the last one is the field, as for tb_object_get */
    OK(f, "record::len", "[{\"a\": 1, \"b\": 2, \"a\": 3}]", "2");
    OK(f, "record::keys", "[{\"a\": 1, \"b\": 2, \"a\": 3}]", "[\"b\", \"a\"]");
    OK(f, "record::values", "[{\"a\": 1, \"b\": 2, \"a\": 3}]", "[2, 3]");
    OK(f, "record::to_array", "[{\"a\": 1, \"a\": 3}]", "[[\"a\", 3]]");
    OK(f, "record::combine", "[{\"a\": 1, \"a\": 3}, {\"b\": 1}]", "{\"a\": 3, \"b\": 1}");
    /* many keys take the hashed path */
    char json[2048];
    size_t o = (size_t)snprintf(json, sizeof json, "[{");
    for (int i = 0; i < 40; i++) o += (size_t)snprintf(json + o, sizeof json - o, "\"k%d\": %d, ", i % 30, i);
    snprintf(json + o, sizeof json - o, "\"z\": 0}]");
    OK(f, "record::len", json, "31");
    tb_value out;
    assert_int_equal(call_j(f, "record::keys", json, &out), TB_OK);
    assert_int_equal(out.len, 31);
    assert_true(tb_value_str_eq(&out.as.items[0], "k10")); /* k0..k9 repeat later */
    assert_int_equal(call_j(f, "record::values", json, &out), TB_OK);
    assert_true(out.as.items[0].as.i == 10 && out.as.items[20].as.i == 30);
}

static void test_record_keys_values_arrays(void **state) {
    fx *f = *state;
    OK(f, "record::keys", "[{\"this\": \"is\", \"a\": \"test\"}]", "[\"this\", \"a\"]");
    OK(f, "record::keys", "[{}]", "[]");
    OK(f, "record::values", "[{\"this\": \"is\", \"a\": \"test\"}]", "[\"is\", \"test\"]");
    OK(f, "record::values", "[{}]", "[]");
    OK(f, "record::to_array", "[{\"this\": \"is\", \"a\": \"test\"}]",
       "[[\"this\", \"is\"], [\"a\", \"test\"]]");
    OK(f, "record::to_array", "[{}]", "[]");
    OK(f, "record::from_array", "[[[\"this\", \"is\"], [\"a\", \"test\"]]]",
       "{\"this\": \"is\", \"a\": \"test\"}");
    OK(f, "record::from_array", "[[]]", "{}");
    OK(f, "record::from_array", "[[[\"a\", 1], [\"b\", 2], [\"a\", 3]]]", "{\"a\": 3, \"b\": 2}");
    ERR(f, "record::keys", "[1]", "record::keys: expected a record, found int");
    ERR(f, "record::values", "[null]", "record::values: expected a record, found null");
    ERR(f, "record::to_array", "[[]]", "record::to_array: expected a record, found array");
    ERR(f, "record::from_array", "[{}]", "record::from_array: expected an array, found object");
    ERR(f, "record::from_array", "[[[\"a\", 1], [\"b\"]]]",
        "record::from_array: Only arrays that consist of tuples (arrays of two elements) can be "
        "turned into records but element 1 is an array of another length");
    ERR(f, "record::from_array", "[[\"a\"]]",
        "record::from_array: Only arrays that consist of tuples (arrays of two elements) can be "
        "turned into records but element 0 is string");
    ERR(f, "record::from_array", "[[[1, 2]]]",
        "record::from_array: The first element of the tuple needs to be a string, found int in "
        "element 0");
}

static void test_record_extract_combine_rename(void **state) {
    fx *f = *state;
    OK(f, "record::extract", "[{\"a\": 1, \"b\": 2, \"c\": 3}, [\"a\", \"c\"]]",
       "{\"a\": 1, \"c\": 3}");
    OK(f, "record::extract", "[{\"this\": \"is\", \"a\": \"test\"}, [\"this\", \"is\"]]",
       "{\"this\": \"is\"}");
    OK(f, "record::extract", "[{\"a\": 1, \"b\": 2}, [\"b\", 7, \"a\", \"b\"]]",
       "{\"a\": 1, \"b\": 2}"); /* the record's order; non-strings ignored */
    OK(f, "record::extract", "[{\"a\": 1}, []]", "{}");
    OK(f, "record::select", "[{\"a\": 1, \"b\": 2, \"c\": 3}, [\"a\", \"c\"]]",
       "{\"a\": 1, \"c\": 3}");
    OK(f, "record::combine", "[{\"a\": 1, \"b\": 2, \"c\": 4}, {\"c\": 3, \"d\": 4}]",
       "{\"a\": 1, \"b\": 2, \"c\": 3, \"d\": 4}");
    OK(f, "record::combine", "[{}, {}]", "{}");
    OK(f, "record::merge", "[{\"this\": \"is\", \"a\": \"test\"}, {\"with\": \"cake\", \"a\": \"cake\"}]",
       "{\"this\": \"is\", \"a\": \"cake\", \"with\": \"cake\"}");
    OK(f, "record::rename", "[{\"a\": 1, \"b\": 2, \"c\": 4}, {\"a\": \"A\", \"b\": \"B\"}]",
       "{\"A\": 1, \"B\": 2, \"c\": 4}");
    OK(f, "record::rename", "[{\"a\": 1, \"b\": 2}, {\"a\": 7, \"x\": \"y\"}]",
       "{\"a\": 1, \"b\": 2}"); /* non-string new names are ignored */
    OK(f, "record::rename", "[{\"a\": 1, \"b\": 2}, {\"a\": \"b\"}]", "{\"b\": 2}");
    OK(f, "record::rename", "[{\"a\": 1, \"b\": 2}, {\"a\": \"b\", \"b\": \"a\"}]",
       "{\"b\": 1, \"a\": 2}");
    ERR(f, "record::extract", "[{}, {}]",
        "record::extract: expected an array as argument 2 (array), found object");
    ERR(f, "record::extract", "[[], []]",
        "record::extract: expected a record as argument 1 (record), found array");
    ERR(f, "record::combine", "[{}, 1]",
        "record::combine: expected a record as argument 2 (right), found int");
    ERR(f, "record::merge", "[1, {}]",
        "record::merge: expected a record as argument 1 (left), found int");
    ERR(f, "record::rename", "[{}, []]",
        "record::rename: expected a record as argument 2 (changes), found array");
}

static void test_record_results_do_not_alias_arguments(void **state) {
    fx *f = *state;
    tb_value a = J(f, "[{\"x\": {\"y\": [1]}}]"), out;
    assert_int_equal(call_n(f, "record::values", a.as.items, 1, &out), TB_OK);
    tb_value *inner = tb_object_getz(&out.as.items[0], "y");
    assert_non_null(inner);
    inner->as.items[0] = tb_i64(5);
    const tb_value *orig = tb_object_getz(tb_object_getz(&a.as.items[0], "x"), "y");
    assert_true(orig->as.items[0].as.i == 1);
}

/* ---- path ------------------------------------------------------------------------------ */

static void test_path_try_default(void **state) {
    fx *f = *state;
    const char *base = "[{\"snot\": \"badger\"}, [\"fleek\", \"flook\"]]";
    char args[256];
    OK(f, "path::try_default", "[{\"snot\": \"badger\"}, [], \"test\"]", "{\"snot\": \"badger\"}");
#define TRY(segs, want)                                                            \
    snprintf(args, sizeof args, "[%s, %s, \"test\"]", base, segs);                 \
    OK(f, "path::try_default", args, want)
    TRY("[1, 1]", "\"flook\"");
    TRY("[0, \"snot\"]", "\"badger\"");
    TRY("[1, 0]", "\"fleek\"");
    TRY("[1, 2]", "\"test\"");
    TRY("[0, \"snot\", \"deeper\"]", "\"test\"");
    TRY("[\"snot\"]", "\"test\"");      /* a key on an array */
    TRY("[0, 0]", "\"test\"");          /* an index on a record */
    TRY("[-1]", "\"test\"");
    TRY("[1.0]", "\"test\"");
    TRY("[null]", "\"test\"");
    TRY("[18446744073709551615]", "\"test\"");
#undef TRY
    OK(f, "path::try_default", "[{\"snot\": {\"snot\": \"badger\"}}, [\"snot\", \"snot\"], 1]",
       "\"badger\"");
    OK(f, "path::try_default", "[{\"snot\": \"badger\"}, [\"snot\", \"badger\"], \"pass\"]",
       "\"pass\"");
    OK(f, "path::try_default", "[[\"snot\", \"badger\"], [\"snot\", \"badger\"], \"pass\"]",
       "\"pass\"");
    OK(f, "path::try_default", "[null, [], \"pass\"]", "\"pass\"");
    OK(f, "path::try_default", "[null, 7, [\"pass\"]]", "[\"pass\"]");
    ERR(f, "path::try_default", "[1, [], \"error\"]",
        "path::try_default: Expected record or array or literal `null` as first argument, "
        "found int");
    ERR(f, "path::try_default", "[{}, 1, \"error\"]",
        "path::try_default: Expected path segment array as second argument, found int");
    ERR(f, "path::try_default", "[[], \"x\", \"error\"]",
        "path::try_default: Expected path segment array as second argument, found string");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        FX_TEST(test_array_len_is_empty_contains),
        FX_TEST(test_array_push_concatenate),
        FX_TEST(test_array_results_do_not_alias_arguments),
        FX_TEST(test_array_zip_unzip),
        FX_TEST(test_array_flatten_coalesce),
        FX_TEST(test_array_join),
        FX_TEST(test_array_sort_reverse),
        FX_TEST(test_array_sort_with_nan),
        cmocka_unit_test(test_array_out_of_memory),
        FX_TEST(test_record_len_is_empty_contains),
        FX_TEST(test_record_repeated_keys),
        FX_TEST(test_record_keys_values_arrays),
        FX_TEST(test_record_extract_combine_rename),
        FX_TEST(test_record_results_do_not_alias_arguments),
        FX_TEST(test_path_try_default),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
