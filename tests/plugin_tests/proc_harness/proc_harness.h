/*
 * proc_harness.h - drives preprocessor and postprocessor plugins the way the engine does:
 * loaded from the build's plugins directory by the real registry, instantiated through
 * tbr_instance_create (one instance per stream), fed hand-built batches of raw chunks through
 * the component's process/finish, their output checked byte for byte.
 *
 * This folder has no CMakeLists.txt on purpose: it is not a test of its own, the proc_*
 * tests compile it in.
 *
 * Each batch gets a fresh arena, freed when the next batch begins, so a processor that keeps
 * a pointer into a batch past the call reads freed memory, which AddressSanitizer reports.
 *
 * Thread contract: single-threaded tests. Ownership: a fixture owns its instance and arenas
 * until pf_stop, which also checks that the plugin got back all the memory it allocated.
 */
#ifndef TB_TESTS_PROC_HARNESS_H
#define TB_TESTS_PROC_HARNESS_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "plugin/instance.h"
#include "plugin/registry.h"
#include "plugin_fix.h"

typedef struct tb_fix pf; /* the common plugin fixture: tests/support/plugin_fix.h */

/* cmocka group setup/teardown: one registry over the build's plugins directory. */
int pf_group_setup(void **state);
int pf_group_teardown(void **state);

/* Creates an instance of the processor of kind (TB_KIND_PREPROCESSOR/POSTPROCESSOR) named
 * name with config_json (NULL: none), for stream 3; fails the test if that fails.
 * pf_try_start returns tbr_instance_create's status with its message in err. */
void pf_start(pf *f, uint32_t kind, const char *name, const char *config_json);
int pf_try_start(pf *f, uint32_t kind, const char *name, const char *config_json, char *err,
                 size_t n);
void pf_stop(pf *f);

/* Starts a new, empty input and output batch in a fresh arena. */
void pf_begin(pf *f);
/* Appends a raw input event whose bytes are a copy of p[0..n) (id: its index + 1, ingest_ns
 * given, meta {"k":1}). */
tb_event *pf_chunk(pf *f, const void *p, size_t n, uint64_t ingest_ns);
/* pf_chunk with a NUL-terminated text. */
tb_event *pf_text(pf *f, const char *s);

int pf_process(pf *f);
int pf_finish(pf *f); /* TB_OK when the processor has no finish */

/* Output event i is a raw event with exactly bytes p[0..n). */
void pf_assert_bytes(const pf *f, uint32_t i, const void *p, size_t n);
void pf_assert_text(const pf *f, uint32_t i, const char *s);
/* Output event i failed with exactly reason; if data is not NULL, its data is those bytes. */
void pf_assert_failed(const pf *f, uint32_t i, const char *reason, const void *data, size_t n);
/* Concatenates the bytes of every raw output event into buf (at most cap); returns the
 * length. */
size_t pf_collect(const pf *f, uint8_t *buf, size_t cap);

#endif
