/*
 * script.h - tremor-script: compile a source once, run it per event.
 *
 * A script's result follows Tremor: `emit` and `drop` end it; otherwise the value of its
 * last expression is what it emits (so a script that transforms the event ends with
 * `event`). Runtime errors (a missing field, a type mismatch) end the script with an error
 * naming the place, and the runtime sends the event to the err port.
 *
 * Thread contract: a compiled script is immutable and may be shared; an instance (its state,
 * random generator and locals) is used by one thread at a time. Ownership: the script owns
 * its tree and extractors; an instance owns its state arena; run results live in the arena
 * given to tbr_script_run (and, for state, in the instance).
 */
#ifndef TBR_LANG_SCRIPT_H
#define TBR_LANG_SCRIPT_H

#include <temblor/temblor.h>

#include "lang/ast.h"
#include "lang/source.h"

typedef struct tbr_script {
    const tbr_source *src;
    tb_arena *arena;          /* the tree */
    tbr_node **body;
    uint32_t nbody;
    uint32_t nlocals;
    tbr_extractor **extractors;
    uint32_t nextractors;
} tbr_script;

/* Compiles src (which must outlive the script). NULL with the errors in diags. */
tbr_script *tbr_script_compile(const tbr_source *src, tbr_diags *diags);
void tbr_script_free(tbr_script *s);

typedef struct tbr_script_instance {
    const tbr_script *script;
    tb_value state;
    tb_arena *state_arena;
    size_t state_live;        /* arena use right after the last compaction */
    tb_value args;
    uint64_t rng;
    tb_value *locals;
} tbr_script_instance;

int tbr_script_instance_init(tbr_script_instance *inst, const tbr_script *s, uint64_t seed);
void tbr_script_instance_fini(tbr_script_instance *inst);

typedef enum tbr_script_outcome {
    TBR_SCRIPT_EMIT,   /* value on port (NULL port: "out") */
    TBR_SCRIPT_DROP,
    TBR_SCRIPT_ERROR   /* error: "file:line:column: message" */
} tbr_script_outcome;

typedef struct tbr_script_result {
    tbr_script_outcome outcome;
    tb_value value;
    const char *port;
    uint32_t port_len;
    char error[768];
} tbr_script_result;

/* Runs the script on one event. event and meta are updated in place (and may be replaced);
 * values built go into arena. */
void tbr_script_run(tbr_script_instance *inst, tb_arena *arena, tb_value *event, tb_value *meta,
                    tbr_script_result *out);

#endif
