/*
 * flow.h - a deployed flow: the stages one `deploy flow` statement created, deployed and
 * undeployed as a unit (at start, or while the runtime runs, through the admin interface).
 *
 * A flow's stages only link to each other, so a flow drains on its own: its sources stop,
 * its messages in flight (counted in live) reach its sinks, its windows close, its stages
 * stop, while every other flow runs on.
 *
 * Ownership: the engine owns its flows; a flow owns its stages and, when deployed through
 * the admin interface, a reference on the deployment it came from (the stages read its
 * queries and scripts). Thread contract: built on the deploying thread (control or admin);
 * after start, only live and the stages' own atomics change.
 */
#ifndef TBR_ENGINE_FLOW_H
#define TBR_ENGINE_FLOW_H

#include <stdatomic.h>
#include <stdint.h>

#include "engine/stage.h"
#include "lang/deploy.h"

/* A deployment the engine keeps alive for the flows deployed from it. */
typedef struct tbr_document {
    tbr_deployment *deployment;
    tbr_source *source;
    unsigned refs; /* flows deployed from it (under the engine lock) */
} tbr_document;

typedef struct tbr_flow {
    char *name;               /* the deployed instance's name (`deploy flow NAME`) */
    char *file;               /* the deployment's file, for status */
    tbr_stage **stages;
    uint32_t nstages;
    uint32_t sources;         /* connector stages with a source half */
    _Atomic int64_t live;     /* messages of this flow alive */
    tbr_document *doc;        /* NULL: the deployment is borrowed (given at start) */
    uint64_t deployed_ns;     /* CLOCK_REALTIME */
    bool started;
} tbr_flow;

/* Builds the flows d deploys into *out (count in *nout): instances created, configuration
 * checked, links made; nothing runs. TB_OK, or an error with one line in err naming the
 * file, place and reason; on error nothing is left. */
int tbr_flows_build(struct tbr_engine *e, const tbr_deployment *d, tbr_flow ***out, uint32_t *nout, char *err,
                    size_t err_size);

/* Frees a flow whose stages are stopped (or were never started). */
void tbr_flow_free(tbr_flow *f);

#endif
