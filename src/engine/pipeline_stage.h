/*
 * pipeline_stage.h - a pipeline instance as a stage: takes batches from its inbox, runs each
 * event through the compiled query, and routes what reaches its output ports; ticks its
 * time windows and operators every 100 ms and closes every window when the engine flushes.
 *
 * Ownership: the stage owns its pipeline instance; the query belongs to the deployment.
 * Thread contract: built on the control thread; runs on its own.
 */
#ifndef TBR_ENGINE_PIPELINE_STAGE_H
#define TBR_ENGINE_PIPELINE_STAGE_H

#include "engine/stage.h"
#include "lang/query.h"

/* The stage of a pipeline running q with arguments args (a record; copied). NULL with one
 * line in err when the pipeline cannot be instantiated. */
tbr_stage *tbr_pipeline_stage_new(struct tbr_engine *e, const char *name, const tbr_query *q,
                                  const tb_value *args, char *err, size_t err_size);

/* Records that sink is downstream of pipeline (through any pipelines): its operators that take
 * contraflow hear when its circuit breaker opens and closes. Control thread, before start. */
int tbr_pipeline_stage_watch_circuit(tbr_stage *pipeline, tbr_stage *sink);

/* The input or output port of a pipeline stage called name: its index, or -1. */
/* The name of an operator of the pipeline that plugin p provides, or NULL. Any thread (the
 * operators are fixed once the pipeline is built). */
const char *tbr_pipeline_stage_operator_using(const tbr_stage *n, const tbr_plugin *p);

/* Whether the pipeline's operators of plugin from can move to plugin to (see
 * tbr_pipeline_check_swap). The reloading thread. */
int tbr_pipeline_stage_check_swap(const tbr_stage *n, const tbr_plugin *from, const tbr_plugin *to, char *err, size_t size);

int tbr_pipeline_stage_in_port(const tbr_stage *n, const char *name);

#endif
