/*
 * harness.h - drives operator plugins the way the engine will: loaded from the build's
 * plugins directory by the real registry, instantiated with a JSON configuration through
 * tbr_instance_create, fed hand-built batches, their process/tick/contraflow called through
 * the component's vtable, and their output checked by port name and JSON text.
 *
 * Each batch gets a fresh arena that is freed when the next batch begins (and its JSON text
 * lives in that arena), so an operator that keeps a pointer into a batch past the call reads
 * freed memory, which AddressSanitizer reports.
 *
 * Thread contract: single-threaded tests. Ownership: a fixture owns its instance and
 * arenas until op_stop.
 */
#ifndef TB_TESTS_OPERATORS_HARNESS_H
#define TB_TESTS_OPERATORS_HARNESS_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "plugin/instance.h"
#include "plugin/registry.h"
#include "plugin_fix.h"

typedef struct tb_fix op_fix; /* the common plugin fixture: tests/support/plugin_fix.h */

/* cmocka group setup/teardown: one registry over the build's plugins directory. */
int op_group_setup(void **state);
int op_group_teardown(void **state);

const tbr_component *op_component(const char *name);

/* Creates an instance of component name with config_json (NULL: none); fails the test if
 * that fails. op_try_start returns tbr_instance_create's status, its message in err. */
void op_start(op_fix *f, const char *name, const char *config_json);
int op_try_start(op_fix *f, const char *name, const char *config_json, char *err, size_t n);
/* Destroys the instance and checks the plugin got all its memory back. */
void op_stop(op_fix *f);

/* Starts a new, empty input and output batch in a fresh arena. */
void op_begin(op_fix *f);
/* Appends an input event: data and meta as JSON (meta NULL: an empty record). */
tb_event *op_event(op_fix *f, const char *data_json, const char *meta_json, uint64_t id,
                   uint64_t ingest_ns);
/* op_begin, then one event per data text (meta empty, ids 1.., ingest ingest_ns each). */
void op_batch(op_fix *f, uint64_t ingest_ns, const char *const *data, uint32_t count);

/* Calls the vtable with the current batches. Output accumulates in f->out until the next
 * op_begin. */
int op_process(op_fix *f);
int op_tick(op_fix *f, uint64_t now_ns);
void op_contraflow(op_fix *f, uint32_t kind, uint64_t event_id, uint64_t latency_ns,
                   uint32_t port);

/* Checks. */
const char *op_port_name(const op_fix *f, uint16_t port);
/* The output's ports, comma-separated, in order: "out,overflow,out". */
void op_assert_ports(const op_fix *f, const char *expected);
/* The compact JSON text of v. */
void op_assert_json(const tb_value *v, const char *expected);
/* Output event i failed with exactly reason, on port err, keeping data_json as its data. */
void op_assert_failed(const op_fix *f, uint32_t i, const char *reason, const char *data_json);
/* A metric of the instance by name; fails the test when absent. */
int64_t op_metric(const op_fix *f, const char *name);
/* Whether the instance has opened its circuit breaker. */
bool op_circuit_open(const op_fix *f);

#endif
