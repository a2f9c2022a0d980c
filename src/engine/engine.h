/*
 * engine.h - the runtime that runs deployments: builds the stages of each deployed flow
 * (connector and pipeline instances) and the links between them, runs each stage on its own
 * thread, and shuts down gracefully: on SIGINT or SIGTERM, on a plugin's request (the exit
 * connector), or when every source has ended and every event has been delivered.
 *
 * Flows are deployed and undeployed as units (flow.h), before the run or while it runs (the
 * admin interface's thread); a flow's stages start as soon as it is deployed into a running
 * engine, and an undeploy drains that flow alone while the others run on.
 *
 * Ownership: the engine borrows the registry and the deployments given to tbr_engine_deploy
 * (both must outlive it), owns those given to tbr_engine_deploy_owned, and owns its flows.
 * Thread contract: tbr_engine_new, _run and _free are for the control thread; deploy,
 * undeploy, the lock and the iteration for the control thread or one other (the admin
 * thread); tbr_engine_notify, tbr_engine_request_shutdown and the metrics for any thread.
 */
#ifndef TBR_ENGINE_ENGINE_H
#define TBR_ENGINE_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lang/deploy.h"
#include "plugin/registry.h"

typedef struct tbr_engine tbr_engine;
struct tbr_stage;

typedef struct tbr_engine_opts {
    uint32_t batch_size;       /* events a source is asked for per pull (default 256) */
    uint32_t queue_capacity;   /* batches waiting in front of a stage (default 16) */
    uint64_t drain_timeout_ns; /* how long shutdown waits for events in flight (default 10 s) */
    uint32_t call_budget_ms;   /* a stage in one call longer than this is logged (default 5000) */
    bool exit_when_done;       /* stop once every source has ended and all is delivered */
} tbr_engine_opts;

tbr_engine *tbr_engine_new(tbr_registry *reg, const tbr_engine_opts *opts);
void tbr_engine_free(tbr_engine *e);

/* Builds the flows d deploys: instances created, configuration checked, links made; they run
 * from tbr_engine_run, or at once if the engine runs. Returns TB_OK, or an error with one
 * line in err naming the file, place and reason (then nothing of d is deployed: a flow name
 * deployed already is such an error). d is borrowed: it must outlive the engine. */
int tbr_engine_deploy(tbr_engine *e, const tbr_deployment *d, char *err, size_t err_size);
/* The same, but the engine takes d and src, freeing them when the last flow deployed from
 * them is undeployed (or at once, on failure). */
int tbr_engine_deploy_owned(tbr_engine *e, tbr_deployment *d, tbr_source *src, char *err, size_t err_size);

/* Drains the flow called name (its sources stop, what is in flight reaches its sinks and is
 * acknowledged, its windows close), stops and frees its stages. TB_OK; TB_ETIMEDOUT when the
 * drain timed out (the flow is gone all the same, what was in flight failed back to its
 * sources); TB_EINVAL for no such flow, or during shutdown. One line in err. */
int tbr_engine_undeploy(tbr_engine *e, const char *name, char *err, size_t err_size);

/* Whether a shutdown was asked for or is under way. */
bool tbr_engine_shutting_down(tbr_engine *e);

/* Starts every stage and runs until shutdown; returns the process exit code (0 after a
 * graceful stop, the exit connector's code, 1 when a drain timed out or nothing could run). */
int tbr_engine_run(tbr_engine *e);

/* Asks for a graceful shutdown with exit_code (the first request wins). Any thread. */
void tbr_engine_request_shutdown(tbr_engine *e, int exit_code);

/* Wakes the control thread: a stage finished a phase or a source ended. Any thread. */
void tbr_engine_notify(tbr_engine *e);

/* Engine internals the stages use. */
const tbr_engine_opts *tbr_engine_opts_of(const tbr_engine *e);
tbr_registry *tbr_engine_registry(tbr_engine *e);
/* A source ended (EOF or failed for good); the control thread checks whether all have. */
void tbr_engine_source_done(tbr_engine *e);
/* A stage was given up for good: the run will end with exit code 1. Any thread. */
void tbr_engine_stage_failed(tbr_engine *e);
/* A runtime-unique id for a batch handed to a sink (tb_batch.token). Any thread. */
uint64_t tbr_engine_next_token(void);

/* Builds the metrics of every stage into arena as an array of records (the
 * "temblor.metrics/1" shape, see the PDK header). TB_OK or TB_ENOMEM. Any thread. */
int tbr_engine_metrics(tbr_engine *e, tb_arena *arena, tb_value *out);

/* The flows and stages, for metrics, status and reloads: index < count, under the lock
 * (held briefly: never while waiting for a stage). */
struct tbr_flow;
void tbr_engine_lock(tbr_engine *e);
void tbr_engine_unlock(tbr_engine *e);
size_t tbr_engine_stage_count(const tbr_engine *e);
struct tbr_stage *tbr_engine_stage_at(const tbr_engine *e, size_t i);
size_t tbr_engine_flow_count(const tbr_engine *e);
struct tbr_flow *tbr_engine_flow_at(const tbr_engine *e, size_t i);

#endif
