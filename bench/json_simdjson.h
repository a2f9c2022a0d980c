/*
 * json_simdjson.h - the C face of json_simdjson.cpp, simdjson's side of json_bench: C code
 * cannot include simdjson.h, so the C++ file owns every simdjson object and json_bench.c
 * drives it through these functions.
 *
 * Ownership: jb_sj_new copies the records into simdjson's padded strings (once, outside every
 * timed loop); the handle owns them, its parsers and the documents kept for encoding, until
 * jb_sj_free. Single-threaded.
 */
#ifndef TB_BENCH_JSON_SIMDJSON_H
#define TB_BENCH_JSON_SIMDJSON_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct jb_simdjson jb_simdjson;

/* Pads copies of the n records; NULL when out of memory. */
jb_simdjson *jb_sj_new(const char *const *recs, const size_t *lens, size_t n);
void jb_sj_free(jb_simdjson *sj);

/* The simdjson version, and the kernels its DOM parser (picked at run time) and On-Demand
 * (picked at compile time) use, e.g. "DOM haswell, On-Demand haswell". */
const char *jb_sj_version(void);
const char *jb_sj_implementation(void);

/* The checks before timing: record i through the DOM parser (its document is kept for the
 * encode figure) and through On-Demand (every field walked). NULL when both accept it, else
 * simdjson's error message. */
const char *jb_sj_check(jb_simdjson *sj, size_t i);

/* The timed work, each over every record; each returns the number of failures (0). */
size_t jb_sj_dom_all(jb_simdjson *sj);      /* dom::parser::parse, one parser reused */
size_t jb_sj_ondemand_all(jb_simdjson *sj); /* ondemand::parser::iterate, every field read */
/* simdjson::to_string (minified JSON) of every kept document; returns bytes written. */
size_t jb_sj_encode_all(jb_simdjson *sj);

/* to_string of kept document i into out (cap bytes); its length (> cap: truncated). */
size_t jb_sj_encode_one(jb_simdjson *sj, size_t i, char *out, size_t cap);

#ifdef __cplusplus
}
#endif

#endif
