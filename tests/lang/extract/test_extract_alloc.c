/* test_extract_alloc.c - running an extractor allocates nothing but its result, and that
 * in the arena it is given: every malloc, calloc and realloc of the process is counted
 * while extractors run (through the sanitizer's allocation hooks under ASan, otherwise by
 * interposing glibc's allocator, so PCRE2's allocations are seen too). Under ASan the same
 * runs also prove there is no leak and no stray access. */
#include "extract_test.h"

#if defined(__SANITIZE_ADDRESS__)
#define XT_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define XT_ASAN 1
#endif
#endif

static volatile bool counting;
static volatile size_t allocations;

#ifdef XT_ASAN
/* from <sanitizer/allocator_interface.h>, declared here as not every compiler ships it */
int __sanitizer_install_malloc_and_free_hooks(void (*malloc_hook)(const volatile void *, size_t),
                                              void (*free_hook)(const volatile void *));

static void on_malloc(const volatile void *p, size_t n) {
    (void)p;
    (void)n;
    if (counting) allocations++;
}
static void on_free(const volatile void *p) { (void)p; }
static void install_counter(void) { __sanitizer_install_malloc_and_free_hooks(on_malloc, on_free); }
#else
/* glibc's documented way to replace the allocator: these four, forwarding to its own */
extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t n);
extern void __libc_free(void *p);

void *malloc(size_t n) {
    if (counting) allocations++;
    return __libc_malloc(n);
}
void *calloc(size_t n, size_t size) {
    if (counting) allocations++;
    return __libc_calloc(n, size);
}
void *realloc(void *p, size_t n) {
    if (counting) allocations++;
    return __libc_realloc(p, n);
}
void free(void *p) { __libc_free(p); }
static void install_counter(void) {}
#endif

/* Runs x on input `rounds` times, resetting the arena (whose one big chunk never needs to
 * grow) in between, and returns how many allocations happened meanwhile. Every run must
 * match. */
static size_t count_allocations(tbr_extractor *x, const char *input, int rounds) {
    tb_arena *arena = tbr_arena_new(1u << 20);
    assert_non_null(arena);
    tb_value in = tb_stringz(input), out;
    /* the first run may set up reusable scratch space (PCRE2's heap frames, say) */
    assert_int_equal(tbr_extractor_run(x, &in, arena, &out), 1);
    tbr_arena_reset(arena);
    int matched = 0;
    counting = true;
    allocations = 0;
    for (int i = 0; i < rounds; i++) {
        matched += tbr_extractor_run(x, &in, arena, &out) == 1;
        matched += tbr_extractor_run(x, &in, arena, NULL) == 1; /* a bare test */
        tbr_arena_reset(arena);
    }
    counting = false;
    size_t n = allocations;
    assert_int_equal(matched, 2 * rounds);
    tbr_arena_free(arena);
    return n;
}

/* The counter sees allocations, those made inside libpcre2 included (compiling a regex
 * allocates), so a zero below means something. */
static void test_counter_works(void **state) {
    (void)state;
    install_counter();
    void *(*volatile alloc)(size_t) = malloc;
    counting = true;
    allocations = 0;
    void *p = alloc(32);
    size_t direct = allocations;
    tbr_extractor *x = xt_compile("re", "(?P<a>x+)y");
    counting = false;
    size_t total = allocations;
    free(p);
    tbr_extractor_free(x);
    assert_int_equal(direct, 1);
    assert_true(total > direct + 1); /* the extractor, and PCRE2's code and match data */
}

/* re: the case the design is about. */
static void test_re_allocates_only_in_the_arena(void **state) {
    (void)state;
    install_counter();
    tbr_extractor *x = xt_compile("re", "^(?P<user>\\w+)@(?P<host>[\\w.]+)(?::(?P<port>\\d+))?(?P<rest>.*)$");
    const char *input = "alice@example.com:8080/some/path";
    /* the result is right, its values point into the input and its keys into the arena */
    tb_arena *arena = tbr_arena_new(0);
    tb_value in = tb_stringz(input), out;
    assert_int_equal(tbr_extractor_run(x, &in, arena, &out), 1);
    assert_int_equal(out.len, 4);
    assert_ptr_equal(out.as.members[0].value.as.s, input);
    size_t before = tbr_arena_used(arena);
    assert_int_equal(tbr_extractor_run(x, &in, arena, &out), 1);
    assert_true(tbr_arena_used(arena) > before); /* built there, */
    assert_true(tbr_arena_used(arena) - before < 256); /* and only the record and its keys */
    tbr_arena_free(arena);
    assert_int_equal(count_allocations(x, input, 2000), 0);
    tbr_extractor_free(x);
}

/* The other kinds keep to the same rule once warmed up. */
static void test_other_kinds_allocate_only_in_the_arena(void **state) {
    (void)state;
    static const struct {
        const char *kind, *pattern, *input;
    } cases[] = {
        {"glob", "*a*[0-9]?", "xxaxx7y"},
        {"json", "", "{\"a\": [1, 2.5, \"x\\n\"], \"b\": {\"c\": null}}"},
        {"kv", "%{key}=%{val}&", "a=1&b=2&c=3"},
        {"dissect", "%{a} %{+a} %{b:int} %{c:float}", "x y 42 2.5"},
        {"cidr", "10.0.0.0/8, 2001:db8::/32", "10.1.2.3"},
        {"grok", "%{IP:client} %{WORD:method} %{URIPATHPARAM:request}", "55.3.244.1 GET /index.html"},
    };
    install_counter();
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tbr_extractor *x = xt_compile(cases[i].kind, cases[i].pattern);
        size_t n = count_allocations(x, cases[i].input, 500);
        if (n) fprintf(stderr, "%s: %zu allocations\n", cases[i].kind, n);
        assert_int_equal(n, 0);
        tbr_extractor_free(x);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counter_works),
        cmocka_unit_test(test_re_allocates_only_in_the_arena),
        cmocka_unit_test(test_other_kinds_allocate_only_in_the_arena),
    };
    return cmocka_run_group_tests_name("extract_alloc", tests, NULL, NULL);
}
