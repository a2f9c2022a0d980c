/*
 * fn.h - native functions of the language's standard library (string::len, math::floor,
 * json::decode, ...), and the registry the compiler resolves calls against.
 *
 * A native function receives its evaluated arguments and writes its result; values it
 * builds go into the call's arena (the event's batch arena), so it never frees anything.
 * A function that fails (a wrong argument type, a parse error) reports through
 * tbr_fn_error and the runtime sends the event to the err port with that reason.
 *
 * Thread contract: the registry is immutable static data; a call runs on the thread that
 * runs the script. Ownership: arguments are borrowed for the call; the result may point
 * into arguments (a substring) or into the arena.
 */
#ifndef TBR_LANG_FN_H
#define TBR_LANG_FN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <temblor/temblor.h>

/* What a call can use besides its arguments. */
typedef struct tbr_fn_ctx {
    tb_arena *arena;      /* where results are built */
    char *error;          /* the failure message, written by tbr_fn_error */
    size_t error_size;
    uint64_t *rng_state;  /* the script's random state (xorshift64*), never 0 */
} tbr_fn_ctx;

typedef int (*tbr_native_fn)(tbr_fn_ctx *cx, const tb_value *args, uint32_t argc,
                             tb_value *out);

enum {
    TBR_FN_PURE = 1u << 0 /* same arguments, same result, no effect: constant-foldable */
};

typedef struct tbr_fn {
    const char *module;   /* "string", "math", "path", ... as written after std:: */
    const char *name;     /* "len" */
    int16_t min_args;
    int16_t max_args;     /* -1: any number from min_args on */
    uint32_t flags;       /* TBR_FN_* */
    tbr_native_fn fn;
    const char *signature; /* "string::len(s) -> int" */
    const char *doc;       /* one sentence */
} tbr_fn;

/* Formats the failure message into cx and returns TB_EINVAL, for
 * `return tbr_fn_error(cx, "expected a string, found %s", ...);`. */
int tbr_fn_error(tbr_fn_ctx *cx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The next pseudo-random number of the script's generator. */
uint64_t tbr_fn_random(tbr_fn_ctx *cx);

/* Finds module::name; module may be written with or without a leading "std::". NULL when
 * there is no such function. */
const tbr_fn *tbr_fn_lookup(const char *module, size_t module_len, const char *name,
                            size_t name_len);

/* Fills out with up to max functions whose "module::name" is nearest to the one given (by
 * edit distance), for "did you mean" hints. Returns how many. */
size_t tbr_fn_suggest(const char *module, size_t module_len, const char *name, size_t name_len,
                      const tbr_fn **out, size_t max);

/* A constant of a standard library module (time::nanos::NANOS_PER_SECOND). */
typedef struct tbr_const {
    const char *module;
    const char *name;
    int64_t value;
} tbr_const;

/* Finds module::NAME among the library's constants (module as for tbr_fn_lookup). */
const tbr_const *tbr_const_lookup(const char *module, size_t module_len, const char *name, size_t name_len);
extern const tbr_const tbr_stdlib_constants[];

/* Iterates over every function: i from 0 while the result is non-NULL. */
const tbr_fn *tbr_fn_at(size_t i);

/* The module tables, each ending with an entry whose name is NULL. Defined in stdlib/. */
extern const tbr_fn tbr_stdlib_string[];
extern const tbr_fn tbr_stdlib_array[];
extern const tbr_fn tbr_stdlib_record[];
extern const tbr_fn tbr_stdlib_math[];
extern const tbr_fn tbr_stdlib_type[];
extern const tbr_fn tbr_stdlib_json[];
extern const tbr_fn tbr_stdlib_base64[];
extern const tbr_fn tbr_stdlib_re[];
extern const tbr_fn tbr_stdlib_integer[];
extern const tbr_fn tbr_stdlib_float[];
extern const tbr_fn tbr_stdlib_binary[];
extern const tbr_fn tbr_stdlib_datetime[];
extern const tbr_fn tbr_stdlib_random[];
extern const tbr_fn tbr_stdlib_path[];
extern const tbr_fn tbr_stdlib_nanos[];

#endif
