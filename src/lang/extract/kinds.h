/*
 * kinds.h - internal to the extractors: the small vtable each kind implements, and the
 * helpers they share (error messages, building result records in the arena).
 *
 * extract.c dispatches tbr_extractor_new/_run/_free over these vtables; every kind lives in
 * its own file (re.c, glob.c, json.c, kv.c, dissect.c, cidr.c, grok.c).
 *
 * Thread contract: as extract.h. compile and destroy run on the control thread; run on one
 * thread at a time per compiled state, which is why a kind may keep scratch space in it.
 * Ownership: compile copies whatever it keeps of the pattern; run builds its result in the
 * arena, free to point into the input string, never into the compiled state (a result may
 * outlive the script that produced it for as long as its batch lives).
 */
#ifndef TBR_LANG_EXTRACT_KINDS_H
#define TBR_LANG_EXTRACT_KINDS_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <temblor/temblor.h>

typedef struct tbr_extract_kind {
    const char *name;
    /* Compiles pattern[0..len) into *state (NULL is a valid state for a kind that keeps
     * none). Returns TB_OK, TB_EINVAL with "kind: reason at offset N" in err, or
     * TB_ENOMEM. */
    int (*compile)(const char *pattern, size_t len, void **state, char *err, size_t err_size);
    /* Tests the string s[0..len). Returns 1 (match), 0 (no match) or TB_ENOMEM. When out is
     * NULL only the test is wanted and nothing need be built (arena may then be NULL). */
    int (*run)(void *state, const char *s, size_t len, tb_arena *arena, tb_value *out);
    /* Frees a state compile returned; NULL is ignored. */
    void (*destroy)(void *state);
} tbr_extract_kind;

extern const tbr_extract_kind tbr_extract_re;
extern const tbr_extract_kind tbr_extract_glob;
extern const tbr_extract_kind tbr_extract_json;
extern const tbr_extract_kind tbr_extract_kv;
extern const tbr_extract_kind tbr_extract_dissect;
extern const tbr_extract_kind tbr_extract_cidr;
extern const tbr_extract_kind tbr_extract_grok;

#if defined(__GNUC__) || defined(__clang__)
#define TBR_EXTRACT_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#define TBR_EXTRACT_PRINTF(fmt, args)
#endif

/* Writes a formatted message into err (always NUL-terminated when err_size > 0) and
 * returns TB_EINVAL, so a compile can `return tbr_extract_fail(...)`. */
int tbr_extract_fail(char *err, size_t err_size, const char *fmt, ...) TBR_EXTRACT_PRINTF(3, 4);

/* Decodes the escapes (\\ \n \t \r) of pattern[at..at+n) into a new malloc'd string, as
 * the kv and dissect patterns write separators. Returns TB_OK with *out and *out_len, TB_ENOMEM,
 * or TB_EINVAL with "kind: ... at offset N" in err. */
int tbr_extract_unescape(const char *kind, const char *pattern, size_t at, size_t n, char **out, size_t *out_len,
                         char *err, size_t err_size);

/* An empty record whose storage already holds cap members, so filling it up to cap
 * allocates nothing more. false when out of memory. */
bool tbr_extract_record(tb_arena *arena, tb_value *obj, uint32_t cap);

/* Appends member key (copied into the arena, since keys usually come from the compiled
 * pattern) to obj and returns its value slot; NULL when out of memory. */
tb_value *tbr_extract_append(tb_arena *arena, tb_value *obj, const char *key, size_t key_len);

/* Same, but reuses the member when key is already there (a later value replaces an earlier
 * one in place, as inserting into Tremor's maps does). */
tb_value *tbr_extract_set(tb_arena *arena, tb_value *obj, const char *key, size_t key_len);

/* Quoting of pattern text inside messages: at most this many bytes of it are shown. */
#define TBR_EXTRACT_QUOTE_MAX 64

/* The built-in grok patterns (grok_patterns.c): a name and its PCRE2 definition, which may
 * refer to other patterns as %{NAME} or %{NAME:field}. */
typedef struct tbr_grok_pattern {
    const char *name;
    const char *def;
} tbr_grok_pattern;

/* The built-in pattern called name[0..len), or NULL. */
const tbr_grok_pattern *tbr_grok_find(const char *name, size_t len);
/* All of them, for listing and tests: i from 0 below tbr_grok_pattern_count(). */
size_t tbr_grok_pattern_count(void);
const tbr_grok_pattern *tbr_grok_pattern_at(size_t i);

#endif
