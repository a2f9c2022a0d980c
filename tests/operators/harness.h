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

/* Handover (1.2 save/restore), as a reload does it between two batches. */

/* Calls save on the instance with arena; fails the test unless it returns TB_OK. */
tb_value op_save(op_fix *f, tb_arena *arena);
/* Calls restore on the instance with saved; returns its status, the message it set in err. */
int op_restore(op_fix *f, const tb_value *saved, char *err, size_t n);
/* Replaces f's instance by a new one of the same component and effective configuration,
 * handed the old one's state: save on the old instance into an arena of its own, create the
 * new one, restore it, free the arena (so a restored instance that kept a pointer into the
 * saved value reads freed memory), destroy the old one. With late, the old one is destroyed
 * before restore (still after the new one's create), so a saved value that points into the
 * old instance's memory reads freed memory too. The batches in f are kept. */
void op_handover(op_fix *f, bool late);

/* One step of a scenario: puts its input into the batches op_begin has just emptied and
 * calls process, tick or contraflow (step counts from 0). */
typedef void (*op_step_fn)(op_fix *f, uint32_t step);
/* Runs steps 0 .. nsteps-1 of a scenario on one instance of name with config_json, then
 * again with a handover before step k, for every k (and once before all of them, late), and
 * fails the test unless each run gives exactly the same transcript: every output event (port,
 * id, ingest_ns, stream, source, flags, data and meta) and the circuit breaker after each
 * step. */
void op_assert_handover(const char *name, const char *config_json, op_step_fn step,
                        uint32_t nsteps);
/* A fresh instance of name with config_json given saved_json to restore: fails the test
 * unless restore returns status, and, when needle is not NULL, its message contains needle.
 * The instance is then run through a batch of one event and destroyed. */
void op_assert_restore(const char *name, const char *config_json, const char *saved_json,
                       int status, const char *needle);

#endif
