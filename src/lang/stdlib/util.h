/*
 * util.h - helpers shared by the standard library's modules (internal to src/lang/stdlib):
 * argument checks and their error messages, a string builder with a size cap, UTF-8
 * decoding that tolerates invalid input, Unicode case mapping, JSON text as Tremor writes
 * it, object helpers that respect repeated keys, and copies of container values.
 *
 * Thread contract: reentrant; everything allocates in the arena it is given.
 */
#ifndef TBR_LANG_STDLIB_UTIL_H
#define TBR_LANG_STDLIB_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <temblor/temblor.h>

#include "lang/fn.h"

/* Recursive helpers (copies, JSON text, flatten, sort) refuse deeper nesting rather than
 * risk the stack; the JSON reader stops at 512, so decoded values always fit. */
#define SL_MAX_DEPTH 1024

/* No function builds a string or bytes value above this (the value model's limit is 4 GiB;
 * a script that asks for more is almost certainly wrong, and the batch arena would hold
 * it until the batch is done). */
#define SL_MAX_STRING ((size_t)1 << 28)

/* Defines native function name. argc is often unused (the compiler checks the arity
 * against the table's min_args and max_args before any call), args and cx now and then. */
#define SL_UNUSED __attribute__((unused))
#define SL_NATIVE(name)                                                                  \
    static int name(SL_UNUSED tbr_fn_ctx *cx, SL_UNUSED const tb_value *args,            \
                    SL_UNUSED uint32_t argc, tb_value *out)

/* An entry of a module table. */
#define SL_FN(mod, nm, lo, hi, fl, f, sig, doc_) {mod, nm, lo, hi, fl, f, sig, doc_}
#define SL_END {NULL, NULL, 0, 0, 0, NULL, NULL, NULL}

/* ---- errors ----------------------------------------------------------------------------- */

/* "fn: expected <what>, found <type>" when argno is 0 (the function's only argument), else
 * "fn: expected <what> as argument <argno> (<name>), found <type>". Returns TB_EINVAL. */
int sl_type_error(tbr_fn_ctx *cx, const char *fn, int argno, const char *name,
                  const char *what, const tb_value *found);

/* TB_OK when v has the type, else the type error for it; the expected type is named as
 * Tremor does ("a string", "an array", "a record", "binary", ...). */
int sl_want(tbr_fn_ctx *cx, const char *fn, int argno, const char *name, const tb_value *v,
            uint8_t type);
#define SL_WANT(cx, fn, argno, name, v, type)                                    \
    do {                                                                        \
        int sl_rc_ = sl_want(cx, fn, argno, name, v, type);                     \
        if (sl_rc_ != TB_OK) return sl_rc_;                                     \
    } while (0)

/* "fn: out of memory"; returns TB_ENOMEM. */
int sl_oom(tbr_fn_ctx *cx, const char *fn);

/* ---- argument access ---------------------------------------------------------------------- */

/* The octets of a string or bytes value, never NULL: an empty value may carry a NULL
 * pointer, and even NULL + 0 is undefined behaviour in C. */
static inline const char *sl_text(const tb_value *v) { return v->len && v->as.s ? v->as.s : ""; }

/* An integer value (int, or uint up to INT64_MAX) as int64; floats are not integers. */
bool sl_as_i64(const tb_value *v, int64_t *out);
/* A non-negative integer value (int >= 0 or any uint). */
bool sl_as_u64(const tb_value *v, uint64_t *out);
/* The integer result type: int, and uint only above INT64_MAX. */
tb_value sl_uint(uint64_t u);

/* ---- string builder ---------------------------------------------------------------------- */

/* Appends are sticky on failure: after one fails the rest are no-ops, and sb_finish reports
 * why, so building code needs no check per append. */
typedef struct sl_sb {
    tb_buf buf;
    bool nomem;
    bool too_large;
    bool too_deep;
} sl_sb;

void sb_init(sl_sb *sb, tb_arena *arena);
void sb_put(sl_sb *sb, const void *p, size_t n);
void sb_putc(sl_sb *sb, char c);
void sb_puts(sl_sb *sb, const char *s);
void sb_put_cp(sl_sb *sb, uint32_t cp);
void sb_put_i64(sl_sb *sb, int64_t i);
void sb_put_u64(sl_sb *sb, uint64_t u);
/* A float the way Rust prints it: the shortest text that reads back to the same double,
 * "1.0" for integral values, exponent form outside 1e-5 <= |x| < 1e16; "NaN", "inf". */
void sb_put_f64(sl_sb *sb, double f);
bool sb_failed(const sl_sb *sb);
/* Makes *out a string (or bytes when as_bytes) of what was built, or reports the failure. */
int sb_finish(tbr_fn_ctx *cx, const char *fn, sl_sb *sb, bool as_bytes, tb_value *out);

/* ---- UTF-8 ------------------------------------------------------------------------------- */

/* The code point reported for an invalid unit. */
#define SL_BAD_CP 0xFFFFFFFFu

/* The length (>= 1) of the unit starting at s[i] (i < n): a well-formed UTF-8 sequence with
 * its code point in *cp, or a maximal invalid subpart (as Unicode and Rust's
 * from_utf8_lossy define it) with *cp = SL_BAD_CP. Strings with invalid bytes thus count,
 * slice and reverse by units and never by half characters. */
size_t sl_utf8_next(const char *s, size_t n, size_t i, uint32_t *cp);
bool sl_utf8_valid(const char *s, size_t n);

/* Unicode White_Space. */
bool sl_is_space(uint32_t cp);
/* Simple one-to-one case mappings for Latin, Greek, Cyrillic, Armenian, Georgian, some
 * symbols and the fullwidth forms; other scripts are returned unchanged. */
uint32_t sl_lower(uint32_t cp);
uint32_t sl_upper(uint32_t cp);
/* Full mappings (ß -> "SS", İ -> "i̇"), appended to sb. */
void sl_put_upper(sl_sb *sb, uint32_t cp);
void sl_put_lower(sl_sb *sb, uint32_t cp);

/* ---- JSON -------------------------------------------------------------------------------- */

/* Appends the JSON text of v: compact when indent is 0, else indented by that many spaces
 * per level with ": " after keys (serde's pretty style). Floats as sb_put_f64, non-finite
 * ones as null; bytes as an array of numbers; a repeated key is written once (its last
 * value). Deeper than SL_MAX_DEPTH sets sb->too_deep. */
void sl_json(sl_sb *sb, const tb_value *v, int indent);

/* ---- objects and copies ------------------------------------------------------------------ */

/* Which members of obj are the ones tb_object_get finds (a repeated key is shadowed by its
 * last occurrence): live[i] != 0. NULL when out of memory; a NULL obj->len 0 gives a
 * non-NULL empty map. */
const uint8_t *sl_live_members(tb_arena *a, const tb_value *obj);
/* The number of distinct keys of obj, given its live map. */
uint32_t sl_live_count(const tb_value *obj, const uint8_t *live);

/* An object under construction with a hash index, so setting a key is O(1) and the result
 * never holds a key twice. Keys are not copied. */
typedef struct sl_obj {
    tb_value v;
    uint32_t *index; /* member number + 1, 0 = free; capacity mask + 1 slots */
    uint32_t mask;
    tb_arena *arena;
} sl_obj;

bool sl_obj_init(sl_obj *o, tb_arena *a, uint32_t expect);
/* The slot of key (the existing one, keeping its position, or a new null one at the end);
 * NULL when out of memory. */
tb_value *sl_obj_set(sl_obj *o, const char *key, size_t key_len);

/* The value of key, or NULL. */
tb_value *sl_obj_get(const sl_obj *o, const char *key, size_t key_len);

/* Copies src into *dst for a result: strings and bytes are shared (they are immutable),
 * arrays and objects get storage of their own at every level so that a later in-place
 * update of the result or of the argument cannot show through the other. Returns TB_OK,
 * or reports "out of memory" / "value nested too deeply" for fn. */
int sl_copy(tbr_fn_ctx *cx, const char *fn, const tb_value *src, tb_value *dst);

#endif
