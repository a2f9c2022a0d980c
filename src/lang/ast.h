/*
 * ast.h - the syntax tree of tremor-script, as the parser builds it and the evaluator runs
 * it. The parser resolves as it goes: locals to slots, function names to native functions
 * or user functions, constants to literals, extractors to compiled patterns; and it folds
 * constant subexpressions. So the tree the evaluator walks is already "compiled".
 *
 * Ownership: every node, segment, case and pattern lives in the arena of the compiled
 * script (tbr_script); extractors are owned by the script and freed with it.
 * Thread contract: immutable after compilation; many threads may evaluate one tree.
 */
#ifndef TBR_LANG_AST_H
#define TBR_LANG_AST_H

#include <temblor/temblor.h>

#include "lang/extract/extract.h"
#include "lang/fn.h"
#include "lang/source.h"

typedef struct tbr_node tbr_node;
typedef struct tbr_pattern tbr_pattern;
typedef struct tbr_user_fn tbr_user_fn;

typedef enum tbr_node_kind {
    N_LITERAL,  /* u.lit */
    N_STRING,   /* u.list: parts to concatenate (interpolation) */
    N_ARRAY,    /* u.list */
    N_RECORD,   /* u.record */
    N_BYTES,    /* u.bytes */
    N_PATH,     /* u.path */
    N_UNARY,    /* op, u.bin.a */
    N_BINARY,   /* op, u.bin.a, u.bin.b */
    N_PRESENT,  /* u.bin.a: a path */
    N_ABSENT,   /* u.bin.a: a path */
    N_INVOKE,   /* u.call */
    N_RECUR,    /* u.call (args only) */
    N_LET,      /* u.let */
    N_EMIT,     /* u.emit */
    N_DROP,
    N_MATCH,    /* u.match */
    N_FOR,      /* u.match with key/value slots */
    N_PATCH,    /* u.patch */
    N_MERGE,    /* u.bin.a target, u.bin.b source */
    N_AGGR      /* u.call: an aggregate function of a windowed select (aggr, aggr_index) */
} tbr_node_kind;

typedef enum tbr_op {
    OP_NONE,
    /* unary */
    OP_NEG, OP_POS, OP_NOT,
    /* binary, by precedence from loosest */
    OP_OR, OP_XOR, OP_AND, OP_BITXOR, OP_BITAND, OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE,
    OP_SHL, OP_SHR, OP_SHR_U, OP_ADD, OP_SUB, OP_MUL, OP_DIV, OP_MOD
} tbr_op;

typedef enum tbr_root {
    ROOT_EVENT, ROOT_META, ROOT_STATE, ROOT_ARGS, ROOT_GROUP, ROOT_WINDOW, ROOT_LOCAL,
    ROOT_EXPR /* a record, array, call or parenthesised expression, then segments */
} tbr_root;

typedef enum tbr_seg_kind { SEG_FIELD, SEG_INDEX, SEG_RANGE } tbr_seg_kind;

typedef struct tbr_segment {
    tbr_seg_kind kind;
    const char *key;   /* SEG_FIELD */
    uint32_t key_len;
    tbr_node *index;   /* SEG_INDEX: any expression; SEG_RANGE: the start */
    tbr_node *end;     /* SEG_RANGE: the end (exclusive) */
    tbr_span span;
} tbr_segment;

typedef struct tbr_case {
    tbr_pattern *pattern; /* NULL for default */
    tbr_node *guard;      /* when ..., or NULL */
    tbr_node **body;      /* evaluated in order; the value of the last is the case's */
    uint32_t nbody;
    tbr_span span;
} tbr_case;

typedef enum tbr_patch_kind {
    PATCH_INSERT, PATCH_UPSERT, PATCH_UPDATE, PATCH_ERASE, PATCH_MOVE, PATCH_COPY,
    PATCH_MERGE_KEY, PATCH_MERGE, PATCH_DEFAULT_KEY, PATCH_DEFAULT
} tbr_patch_kind;

typedef struct tbr_patch_op {
    tbr_patch_kind kind;
    tbr_node *key;   /* a string expression; NULL for PATCH_MERGE and PATCH_DEFAULT */
    tbr_node *to;    /* PATCH_MOVE and PATCH_COPY: the destination key */
    tbr_node *value;
    tbr_span span;
} tbr_patch_op;

/* One part of a bytes literal: value, size in bits (0: natural), and how it is encoded. */
typedef enum tbr_bytes_type { BYTES_INT, BYTES_BINARY } tbr_bytes_type;
typedef struct tbr_bytes_part {
    tbr_node *value;
    uint32_t bits;
    tbr_bytes_type type;
    bool big_endian;
    bool is_signed;
} tbr_bytes_part;

struct tbr_node {
    tbr_node_kind kind;
    tbr_op op;
    tbr_span span;
    union {
        tb_value lit;
        struct {
            tbr_node **items;
            uint32_t count;
        } list;
        struct {
            tbr_node **keys;   /* string expressions */
            tbr_node **values;
            uint32_t count;
        } record;
        struct {
            tbr_bytes_part *parts;
            uint32_t count;
        } bytes;
        struct {
            tbr_root root;
            uint32_t slot;     /* ROOT_LOCAL */
            tbr_node *expr;    /* ROOT_EXPR */
            tbr_segment *segs;
            uint32_t nsegs;
        } path;
        struct {
            tbr_node *a, *b;
        } bin;
        struct {
            const tbr_fn *native;
            tbr_user_fn *user;
            tbr_node **args;
            uint32_t argc;
            const struct tbr_aggr_fn *aggr; /* N_AGGR */
            uint32_t aggr_index;            /* N_AGGR: its slot in the select's results */
        } call;
        struct {
            tbr_node *target; /* N_PATH rooted at event, $, state or a local */
            tbr_node *value;
        } let;
        struct {
            tbr_node *value;  /* NULL: the event as it is now */
            tbr_node *port;   /* NULL: "out" */
        } emit;
        struct {
            tbr_node *target;
            tbr_case *cases;
            uint32_t ncases;
            uint32_t key_slot, value_slot; /* N_FOR */
            bool has_default;
        } match;
        struct {
            tbr_node *target;
            tbr_patch_op *ops;
            uint32_t nops;
        } patch;
    } u;
};

typedef enum tbr_pattern_kind {
    PAT_ANY,    /* _ */
    PAT_EXPR,   /* equal to the value of expr */
    PAT_RECORD, /* %{ field patterns } */
    PAT_ARRAY,  /* %[ item patterns ]: every pattern matches some item */
    PAT_TUPLE,  /* %( item patterns [, ...] ): position by position */
    PAT_TEST,   /* ~ kind|pattern| */
    PAT_BIND    /* name = pattern */
} tbr_pattern_kind;

typedef enum tbr_field_kind {
    FIELD_PRESENT, FIELD_ABSENT, FIELD_TEST, FIELD_PATTERN, FIELD_CMP
} tbr_field_kind;

typedef struct tbr_field_pattern {
    tbr_field_kind kind;
    const char *key;
    uint32_t key_len;
    const char *alias;     /* FIELD_TEST with `alias = key ~= ...`: where the result goes */
    uint32_t alias_len;
    tbr_extractor *test;   /* FIELD_TEST */
    tbr_pattern *sub;      /* FIELD_PATTERN: a record, array or tuple pattern */
    tbr_op op;             /* FIELD_CMP */
    tbr_node *expr;        /* FIELD_CMP */
    tbr_span span;
} tbr_field_pattern;

struct tbr_pattern {
    tbr_pattern_kind kind;
    tbr_span span;
    tbr_node *expr;             /* PAT_EXPR */
    tbr_extractor *test;        /* PAT_TEST */
    tbr_field_pattern *fields;  /* PAT_RECORD */
    uint32_t nfields;
    tbr_pattern **items;        /* PAT_ARRAY, PAT_TUPLE */
    uint32_t nitems;
    bool open;                  /* PAT_TUPLE ending in ... */
    uint32_t slot;              /* PAT_BIND */
    tbr_pattern *sub;           /* PAT_BIND */
};

struct tbr_user_fn {
    const char *name;
    uint32_t name_len;
    uint32_t nparams;   /* the first nparams locals */
    bool variadic;      /* extra arguments in the local `args`... as an array */
    uint32_t nlocals;
    tbr_node **body;    /* fn ... with: expressions */
    uint32_t nbody;
    tbr_case *cases;    /* fn ... of: cases over the arguments as a tuple */
    uint32_t ncases;
    tbr_span span;
};

#endif
