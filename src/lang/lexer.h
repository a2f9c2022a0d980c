/*
 * lexer.h - tokens of troy, trickle and tremor-script (one lexer for the three, as in
 * Tremor), produced for a whole source at once.
 *
 * Strings are lexed into parts so the parser sees interpolation: STR_START, then any mix of
 * STR_PART (text with escapes already decoded) and INTERP_START expr-tokens INTERP_END,
 * then STR_END. Heredocs ("""...""") use the same parts. `<<` and `>>` are always shift
 * tokens; the parser reads them as a bytes literal where an operand is expected.
 * An extractor `~ kind|pattern|` yields TILDE, IDENT and EXTRACTOR (the raw pattern).
 *
 * Thread contract: one lexing per thread. Ownership: token texts point into the source or,
 * for decoded string parts, into the arena given.
 */
#ifndef TBR_LANG_LEXER_H
#define TBR_LANG_LEXER_H

#include <temblor/temblor.h>

#include "lang/source.h"

typedef enum tbr_tok {
    TK_EOF = 0,
    TK_IDENT,
    TK_INT,
    TK_FLOAT,
    TK_STR_START,
    TK_STR_PART,
    TK_INTERP_START,
    TK_INTERP_END,
    TK_STR_END,
    TK_EXTRACTOR,
    TK_CONFIG_DIRECTIVE, /* #!config */
    /* punctuation */
    TK_LPAREN, TK_RPAREN, TK_LBRACKET, TK_RBRACKET, TK_LBRACE, TK_RBRACE,
    TK_PCT_LBRACE, TK_PCT_LBRACKET, TK_PCT_LPAREN, /* %{ %[ %( */
    TK_COMMA, TK_SEMI, TK_COLON, TK_COLONCOLON, TK_DOT, TK_ELLIPSIS,
    TK_FAT_ARROW, TK_ASSIGN, TK_EQ, TK_NE, TK_LT, TK_LE, TK_GT, TK_GE,
    TK_SHL, TK_SHR, TK_SHR_U, TK_PLUS, TK_MINUS, TK_STAR, TK_SLASH, TK_PERCENT,
    TK_AMP, TK_CARET, TK_TILDE, TK_TILDE_EQ, TK_DOLLAR, TK_BANG, TK_UNDERSCORE,
    /* keywords */
    TK_KW_FIRST,
    TK_LET = TK_KW_FIRST, TK_CONST, TK_FN, TK_OF, TK_MATCH, TK_CASE, TK_WHEN, TK_DEFAULT,
    TK_END, TK_EMIT, TK_DROP, TK_PATCH, TK_INSERT, TK_UPSERT, TK_UPDATE, TK_ERASE, TK_MOVE,
    TK_COPY, TK_MERGE, TK_FOR, TK_AND, TK_OR, TK_XOR, TK_NOT, TK_PRESENT, TK_ABSENT,
    TK_TRUE, TK_FALSE, TK_NULL, TK_USE, TK_AS, TK_WITH, TK_MOD, TK_INTRINSIC, TK_RECUR,
    TK_EVENT, TK_STATE, TK_ARGS, TK_GROUP, TK_WINDOW, TK_SELECT, TK_FROM, TK_WHERE,
    TK_INTO, TK_HAVING, TK_BY, TK_DEFINE, TK_CREATE, TK_STREAM, TK_OPERATOR, TK_SCRIPT,
    TK_PIPELINE, TK_CONNECTOR, TK_FLOW, TK_DEPLOY, TK_CONNECT, TK_TO, TK_SET, TK_EACH,
    TK_KW_LAST = TK_EACH,
    TK_COUNT
} tbr_tok;

typedef struct tbr_token {
    tbr_tok kind;
    tbr_span span;
    const char *text; /* IDENT (backticks removed), STR_PART (decoded), EXTRACTOR (raw) */
    uint32_t len;
    union {
        int64_t i;     /* TK_INT (a literal above INT64_MAX sets is_u64) */
        uint64_t u;
        double f;      /* TK_FLOAT */
    } num;
    bool is_u64;
    bool heredoc;      /* STR_START/STR_END of a """ string */
} tbr_token;

typedef struct tbr_tokens {
    tbr_token *items;
    size_t count;
} tbr_tokens;

/* Lexes all of src. Returns TB_OK, or TB_EINVAL after adding the first lexical error to
 * diags (the tokens up to it are kept, ending with EOF), or TB_ENOMEM. */
int tbr_lex(const tbr_source *src, tb_arena *arena, tbr_tokens *out, tbr_diags *diags);
void tbr_tokens_free(tbr_tokens *t);

/* How a token kind is written, for messages: "'=>'", "keyword 'end'", "identifier". */
const char *tbr_tok_describe(tbr_tok kind);

#endif
