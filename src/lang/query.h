/*
 * query.h - trickle: a pipeline's query (windows, operators, scripts, streams and the selects
 * that wire them), compiled once, and a pipeline instance that runs it on events.
 *
 * A pipeline has the input port `in` and the output ports `out` and `err` (a troy pipeline
 * definition may declare others). Events are pushed into an input port; what reaches an output
 * port is appended to a tbr_pipeline_out list. Windowed selects keep their aggregate state per
 * group; everything else is per event.
 *
 * Thread contract: a compiled query is immutable; a pipeline instance is used by one thread at
 * a time. Ownership: the query owns its tree, scripts and extractors; the pipeline owns its
 * window state, script instances and operator instances; output values live in the arena
 * given to push and tick.
 */
#ifndef TBR_LANG_QUERY_H
#define TBR_LANG_QUERY_H

#include <temblor/temblor.h>

#include "lang/ast.h"
#include "lang/script.h"
#include "lang/source.h"
#include "plugin/registry.h"

typedef enum tbr_window_kind { WINDOW_TUMBLING, WINDOW_SLIDING } tbr_window_kind;

typedef struct tbr_window_def {
    const char *name;
    uint32_t name_len;
    tbr_window_kind kind;
    uint64_t size;         /* events (0: not count-based) */
    uint64_t interval_ns;  /* 0: not time-based */
    tbr_span span;
} tbr_window_def;

/* define operator NAME from module::kind [with ... end] / define script NAME ... end */
typedef struct tbr_operator_def {
    const char *name;
    uint32_t name_len;
    const char *kind;      /* "grouper::bucket", NUL-terminated */
    tb_value config;       /* the with clause (a record) */
    tbr_span span;
} tbr_operator_def;

typedef struct tbr_script_def {
    const char *name;
    uint32_t name_len;
    tbr_script *script;
    tb_value args;         /* declared arguments with their defaults (null when none) */
    bool *required;        /* per argument: it has no default and must be given */
    tbr_span span;
} tbr_script_def;

typedef enum tbr_qnode_kind { QNODE_INPUT, QNODE_OUTPUT, QNODE_STREAM, QNODE_OPERATOR, QNODE_SCRIPT } tbr_qnode_kind;

/* A node of the graph: a pipeline port, a stream, an operator or a script instance. */
typedef struct tbr_qnode {
    tbr_qnode_kind kind;
    const char *name;
    uint32_t name_len;
    uint32_t def;          /* operator or script definition index */
    tb_value config;       /* create ... with: overrides the definition's */
    tbr_span span;
} tbr_qnode;

typedef enum tbr_group_kind { GROUP_EXPR, GROUP_SET, GROUP_EACH } tbr_group_kind;
typedef struct tbr_group_def {
    tbr_group_kind kind;
    tbr_node *expr;                 /* GROUP_EXPR, GROUP_EACH */
    struct tbr_group_def *items;    /* GROUP_SET */
    uint32_t nitems;
} tbr_group_def;

typedef struct tbr_select {
    tbr_node *target;
    uint32_t from_node, into_node;
    const char *from_port, *into_port;  /* NUL-terminated */
    uint32_t *windows;     /* window definition indices, in tilt-frame order */
    uint32_t nwindows;
    tbr_node *where, *having;
    tbr_group_def *group;  /* NULL: no group by */
    tbr_node **aggrs;      /* the N_AGGR call sites of target and having */
    uint32_t naggrs;
    uint32_t nlocals;      /* locals bound by patterns in the select's expressions */
    tbr_span span;
} tbr_select;

typedef struct tbr_query {
    const tbr_source *src;
    tb_arena *arena;
    tbr_window_def *windows;
    uint32_t nwindows;
    tbr_operator_def *operators;
    uint32_t noperators;
    tbr_script_def *scripts;
    uint32_t nscripts;
    /* the pipeline's declared ports (a troy `define pipeline x from a, b into c`), set before
     * parsing; none declared means from in into out (err is always there) */
    const char **from_ports, **into_ports;
    uint32_t *from_lens, *into_lens;
    uint32_t nfrom, ninto;
    tbr_qnode *nodes;      /* input ports, output ports (err among them), then streams,
                              operators, scripts */
    uint32_t nnodes;
    tbr_select *selects;
    uint32_t nselects;
    tb_value config;       /* #!config directives */
    tbr_extractor **extractors;
    uint32_t nextractors;
} tbr_query;

/* Compiles a trickle query (src must outlive it). Operators are checked against reg (may be
 * NULL: then operator kinds are only checked when a pipeline is made). NULL with errors in
 * diags. */
tbr_query *tbr_query_compile(const tbr_source *src, tbr_registry *reg, tbr_diags *diags);
void tbr_query_free(tbr_query *q);

/* An event that reached an output port of the pipeline. */
typedef struct tbr_pipeline_event {
    const char *port;
    tb_event event;
} tbr_pipeline_event;

typedef struct tbr_pipeline_out {
    tbr_pipeline_event *items;
    size_t count, cap;
} tbr_pipeline_out;

void tbr_pipeline_out_free(tbr_pipeline_out *out);

typedef struct tbr_pipeline tbr_pipeline;

/* Instantiates q: operators through reg, scripts, window state. NULL with a message. */
tbr_pipeline *tbr_pipeline_new(const tbr_query *q, tbr_registry *reg, char *err, size_t err_size);
void tbr_pipeline_free(tbr_pipeline *pl);

/* Sets the pipeline's arguments, what `args` means in its selects (a record, copied).
 * TB_OK or TB_ENOMEM. */
int tbr_pipeline_set_args(tbr_pipeline *pl, const tb_value *args);

/* Pushes ev into input port `port` ("in"); outputs are appended to out, built in arena.
 * Returns TB_OK or TB_ENOMEM. Runtime errors become events on the err port. */
int tbr_pipeline_push(tbr_pipeline *pl, const char *port, const tb_event *ev, tb_arena *arena,
                      tbr_pipeline_out *out);

/* Whether an operator of the pipeline wants contraflow (a qos:: operator). */
bool tbr_pipeline_wants_contraflow(const tbr_pipeline *pl);

/* The name of an operator of the pipeline that plugin p provides, or NULL. */
struct tbr_plugin;
const char *tbr_pipeline_operator_using(const tbr_pipeline *pl, const struct tbr_plugin *p);

/* Whether every operator of plugin `from` the pipeline runs can move to plugin `to`: the
 * same operator there, save in the old build and restore in the new, the same output ports,
 * its configuration valid. TB_OK, or an error with one line in err. */
int tbr_pipeline_check_swap(const tbr_pipeline *pl, const struct tbr_plugin *from, const struct tbr_plugin *to, char *err,
                            size_t err_size);
/* Moves them, between two batches: each old instance saves, a new one is created from `to`
 * and restored, then the old one is destroyed (if restore fails, the old one runs on and
 * the error is returned). The pipeline's thread. */
int tbr_pipeline_swap_operators(tbr_pipeline *pl, const struct tbr_plugin *from, const struct tbr_plugin *to, char *err,
                                size_t err_size);
/* Tells every operator that wants it what became of events the pipeline passed on. */
void tbr_pipeline_contraflow(tbr_pipeline *pl, const tb_contraflow *cf);

/* Advances time to now_ns: time-based windows that ended emit, operators tick. */
int tbr_pipeline_tick(tbr_pipeline *pl, uint64_t now_ns, tb_arena *arena, tbr_pipeline_out *out);

#endif
