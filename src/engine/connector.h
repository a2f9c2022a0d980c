/*
 * connector.h - a connector instance as a stage: its source half (pull, preprocessors per
 * stream, decode, route to out/err) and its sink half (encode, postprocessors, push, report
 * delivery), with the lifecycle around them: connect with backoff and jitter, start, pause
 * and resume on a circuit breaker downstream, restart with backoff on failing callbacks,
 * drain and stop.
 *
 * Ownership: the stage owns its connector, codec and processor instances and a copy of the
 * spec's configuration. Thread contract: built on the control thread; everything else runs
 * on the stage's thread.
 */
#ifndef TBR_ENGINE_CONNECTOR_H
#define TBR_ENGINE_CONNECTOR_H

#include "engine/stage.h"
#include "plugin/plugin.h"

typedef struct tbr_component_ref {
    const tbr_component *component; /* NULL: none */
    tb_value config;                /* null, or an object */
} tbr_component_ref;

typedef struct tbr_retry {
    bool enabled;             /* false (Tremor's reconnect = "none"): a lost connection is final */
    uint64_t interval_ns;     /* first delay */
    double growth;            /* factor per failure */
    uint64_t max_interval_ns;
    uint32_t max_retries;     /* 0: unlimited */
    bool randomized;          /* jitter: a uniform delay in [interval/2, interval] */
} tbr_retry;

typedef struct tbr_connector_spec {
    tbr_component_ref connector;
    tbr_component_ref codec;
    bool codec_named;         /* the definition names the codec (else it is json) */
    tbr_component_ref *pre, *post;
    uint32_t npre, npost;
    tbr_retry reconnect;
} tbr_connector_spec;

/* Creates the stage and its instances (the connector is created, not yet connected). NULL
 * with one line in err when a plugin refuses its configuration. */
tbr_stage *tbr_connector_stage_new(struct tbr_engine *e, const char *name, const tbr_connector_spec *spec,
                                 char *err, size_t err_size);

bool tbr_connector_stage_has_source(const tbr_stage *n);
bool tbr_connector_stage_has_sink(const tbr_stage *n);
/* Whether the source half ended (EOF or given up). Once the stage's thread has stopped. */
bool tbr_connector_stage_source_ended(const tbr_stage *n);
/* Records that sink is downstream of source n (through any pipelines): its circuit breaker
 * pauses n. Control thread, before start. TB_OK or TB_ENOMEM. */
int tbr_connector_stage_watch_circuit(tbr_stage *source, tbr_stage *sink);
/* Records that watcher (any stage) is woken when sink's circuit breaker opens or closes.
 * Control thread, before start. TB_OK or TB_ENOMEM. */
int tbr_connector_stage_add_watcher(tbr_stage *sink, tbr_stage *watcher);
/* Whether sink cannot deliver now, having delivered before (an open breaker before its first
 * connect is no news to operators). Any thread. */
bool tbr_connector_stage_circuit_open(tbr_stage *sink);

/* Called once the flow is wired: a source half whose ports feed nothing is switched off.
 * Control thread, before start. */
void tbr_connector_stage_seal(tbr_stage *n);

/* What of the stage plugin p provides ("connector file", "codec json", "preprocessor
 * separate"), written into buf; false when nothing. The reloading thread, between swaps. */
bool tbr_connector_stage_uses(const tbr_stage *n, const tbr_plugin *p, char *buf, size_t size);
/* The stage's component references, for compatibility checks: the connector, codec,
 * preprocessors and postprocessors, in that order; index < count. */
uint32_t tbr_connector_stage_ref_count(const tbr_stage *n);
const tbr_component_ref *tbr_connector_stage_ref_at(const tbr_stage *n, uint32_t i);
/* TB_CONNECTOR_SOURCE and TB_CONNECTOR_SINK as the flow uses them. */
uint32_t tbr_connector_stage_halves(const tbr_stage *n);

/* Whether n is a connector stage. */
bool tbr_stage_is_connector(const tbr_stage *n);

#endif
