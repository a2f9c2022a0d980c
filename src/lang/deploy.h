/*
 * deploy.h - troy: deployments. Connector and pipeline definitions, flows that create
 * instances of them and connect their ports, and the flows to deploy.
 *
 *   define flow main
 *   flow
 *     define connector input from file with config = {"path": args.path}, codec = "json" end;
 *     define pipeline main pipeline select event from in into out; end;
 *     create connector input with path = "in.json" end;
 *     create pipeline main;
 *     connect /connector/input to /pipeline/main;
 *   end;
 *   deploy flow main;
 *
 * Definitions take arguments (args name = default, ...); the values of a with clause are
 * expressions over `args`, evaluated when an instance is created. Checking a deployment
 * evaluates them with the given arguments and validates connector configuration against the
 * options the connector's plugin declares.
 *
 * Thread contract: immutable after parsing. Ownership: the deployment owns its tree, its
 * pipelines' queries and scripts, and its extractors.
 */
#ifndef TBR_LANG_DEPLOY_H
#define TBR_LANG_DEPLOY_H

#include "lang/query.h"

/* Declared arguments: names, and default expressions (NULL: required). */
typedef struct tbr_args_def {
    const char **names;
    uint32_t *name_lens;
    tbr_node **defaults;
    uint32_t count;
} tbr_args_def;

/* name = expr pairs of a with clause. */
typedef struct tbr_with {
    const char **names;
    uint32_t *name_lens;
    tbr_node **values;
    tbr_span *spans;
    uint32_t count;
} tbr_with;

typedef struct tbr_connector_def {
    const char *name;
    uint32_t name_len;
    const char *kind;     /* NUL-terminated */
    tbr_args_def args;
    tbr_with with;        /* config, codec, preprocessors, postprocessors, ... */
    tbr_span span;
} tbr_connector_def;

typedef struct tbr_pipeline_def {
    const char *name;
    uint32_t name_len;
    tbr_args_def args;
    tbr_query *query;     /* in the deployment's arena */
    tbr_span span;
} tbr_pipeline_def;

typedef struct tbr_create {
    bool pipeline;        /* else a connector */
    const char *name;
    uint32_t name_len;
    const char *def;      /* the definition used */
    uint32_t def_len;
    tbr_with with;        /* argument values */
    tbr_span span;
} tbr_create;

typedef struct tbr_endpoint {
    bool pipeline;
    const char *name;
    uint32_t name_len;
    const char *port;     /* NUL-terminated; NULL for the default */
    tbr_span span;
} tbr_endpoint;

typedef struct tbr_connect {
    tbr_endpoint from, to;
} tbr_connect;

typedef struct tbr_flow_def {
    const char *name;
    uint32_t name_len;
    tbr_args_def args;
    tbr_connector_def *connectors;
    uint32_t nconnectors;
    tbr_pipeline_def *pipelines;
    uint32_t npipelines;
    tbr_create *creates;
    uint32_t ncreates;
    tbr_connect *connects;
    uint32_t nconnects;
    tbr_span span;
    bool imported;        /* from a module: checked there, against its own source */
} tbr_flow_def;

typedef struct tbr_deploy_stmt {
    const char *name;     /* the deployed instance's name */
    uint32_t name_len;
    const char *flow;     /* the flow definition */
    uint32_t flow_len;
    tbr_with with;
    tbr_span span;
} tbr_deploy_stmt;

typedef struct tbr_deployment {
    const tbr_source *src;
    tb_arena *arena;
    tbr_connector_def *connectors; /* defined at file level */
    uint32_t nconnectors;
    tbr_pipeline_def *pipelines;
    uint32_t npipelines;
    tbr_flow_def *flows;
    uint32_t nflows;
    tbr_deploy_stmt *deploys;
    uint32_t ndeploys;
    tbr_extractor **extractors;
    uint32_t nextractors;
} tbr_deployment;

/* Parses and checks a troy file: names resolve, connectors and operators exist in reg (when
 * given), constant connector configuration satisfies the plugin's options. NULL with the
 * errors in diags. */
tbr_deployment *tbr_deployment_compile(const tbr_source *src, tbr_registry *reg, tbr_diags *diags);
void tbr_deployment_free(tbr_deployment *d);

/* Evaluates a with clause against arguments (a record) into a record built in arena. Returns
 * TB_OK, or TB_EINVAL with "file:line:column: reason" in err. */
int tbr_with_eval(const tbr_deployment *d, const tbr_with *w, const tb_value *args, tb_arena *arena,
                  tb_value *out, char *err, size_t err_size);

/* The arguments of an instance: the definition's defaults, overridden by given (a record),
 * every required one present. Errors as tbr_with_eval. */
int tbr_args_resolve(const tbr_deployment *d, const tbr_args_def *def, const tb_value *given,
                     tbr_span at, tb_arena *arena, tb_value *out, char *err, size_t err_size);

/* The connector or pipeline definition called n that flow f sees (its own, then the file's),
 * or NULL. */
const tbr_connector_def *tbr_deployment_find_connector(const tbr_deployment *d, const tbr_flow_def *f, const char *n,
                                                      uint32_t len);
const tbr_pipeline_def *tbr_deployment_find_pipeline(const tbr_deployment *d, const tbr_flow_def *f, const char *n,
                                                    uint32_t len);

/* Writes "file:line:column: message" for span of d's source into err; returns TB_EINVAL. */
int tbr_deploy_error_at(const tbr_deployment *d, tbr_span span, char *err, size_t n, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

#endif
