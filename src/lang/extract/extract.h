/*
 * extract.h - extractors: the `~ kind|pattern|` tests of the language, which both test a
 * value and, in a match case, extract structured data from it (Tremor's extractors).
 *
 * Kinds: re (PCRE2; named groups become record fields), glob, json, kv, dissect, cidr,
 * grok. An extractor is compiled once, when the script is compiled, and run per event.
 *
 * Thread contract: tbr_extractor_new and _free on the control thread; _run on one thread at
 * a time per extractor (it may keep scratch space inside). Ownership: the extractor owns
 * its compiled pattern; extracted values are built in the arena given to _run and may point
 * into the input string.
 */
#ifndef TBR_LANG_EXTRACT_EXTRACT_H
#define TBR_LANG_EXTRACT_EXTRACT_H

#include <stdbool.h>
#include <stddef.h>
#include <temblor/temblor.h>

typedef struct tbr_extractor tbr_extractor;

/* Compiles kind|pattern|. Returns NULL with a message in err (an unknown kind names the
 * known ones; a bad pattern says where, as an offset into the pattern). */
tbr_extractor *tbr_extractor_new(const char *kind, size_t kind_len, const char *pattern,
                                 size_t pattern_len, char *err, size_t err_size);

/* Tests input. Returns 1 on a match, 0 when it does not match (including an input of the
 * wrong type), or TB_ENOMEM. When out is not NULL and it matches, *out is the extracted
 * value (its type depends on the kind: a record for re, kv, dissect, grok and cidr; the
 * decoded value for json; true for glob). */
int tbr_extractor_run(tbr_extractor *x, const tb_value *input, tb_arena *arena, tb_value *out);

void tbr_extractor_free(tbr_extractor *x);

/* The kind names, NULL-terminated, for messages. */
extern const char *const tbr_extractor_kinds[];

#endif
