/* test_lexer.c - the lexer: token kinds and spans, numbers, strings with interpolation and
 * escapes, heredocs, extractors, comments, and its error messages. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "lang/lexer.h"
#include "value/arena.h"

typedef struct lexed {
    tbr_source *src;
    tb_arena *arena;
    tbr_tokens toks;
    tbr_diags diags;
    int rc;
} lexed;

static void lex(lexed *l, const char *text) {
    l->src = tbr_source_from_string("t.tremor", text, strlen(text));
    l->arena = tbr_arena_new(0);
    tbr_diags_init(&l->diags, l->src);
    l->rc = tbr_lex(l->src, l->arena, &l->toks, &l->diags);
}

static void done(lexed *l) {
    tbr_tokens_free(&l->toks);
    tbr_diags_free(&l->diags);
    tbr_arena_free(l->arena);
    tbr_source_free(l->src);
}

static void expect_kinds(const lexed *l, const tbr_tok *kinds, size_t n) {
    assert_int_equal(l->toks.count, n);
    for (size_t i = 0; i < n; i++) {
        if (l->toks.items[i].kind != kinds[i])
            fail_msg("token %zu: expected %s, found %s", i, tbr_tok_describe(kinds[i]), tbr_tok_describe(l->toks.items[i].kind));
    }
}

static void test_punctuation_and_keywords(void **s) {
    (void)s;
    lexed l;
    lex(&l, "let event.a = $b; match x of case %{ a ~= re|x\\|y| } => emit => \"p\" end :: ... >>> >> << <= >= != == =>");
    assert_int_equal(l.rc, TB_OK);
    const tbr_tok kinds[] = {TK_LET, TK_EVENT, TK_DOT, TK_IDENT, TK_ASSIGN, TK_DOLLAR, TK_IDENT, TK_SEMI,
                             TK_MATCH, TK_IDENT, TK_OF, TK_CASE, TK_PCT_LBRACE, TK_IDENT, TK_TILDE_EQ, TK_IDENT,
                             TK_EXTRACTOR, TK_RBRACE, TK_FAT_ARROW, TK_EMIT, TK_FAT_ARROW, TK_STR_START,
                             TK_STR_PART, TK_STR_END, TK_END, TK_COLONCOLON, TK_ELLIPSIS, TK_SHR_U, TK_SHR,
                             TK_SHL, TK_LE, TK_GE, TK_NE, TK_EQ, TK_FAT_ARROW, TK_EOF};
    expect_kinds(&l, kinds, sizeof kinds / sizeof *kinds);
    /* the extractor's escaped pipe is unescaped, everything else kept raw for the regex */
    const tbr_token *x = &l.toks.items[16];
    assert_int_equal(x->len, 3);
    assert_memory_equal(x->text, "x|y", 3);
    done(&l);
}

static void test_numbers(void **s) {
    (void)s;
    lexed l;
    lex(&l, "0 42 1_000 0xff 1.5 2e3 1.5e-2 18446744073709551615 9223372036854775807");
    assert_int_equal(l.rc, TB_OK);
    assert_int_equal(l.toks.items[0].num.i, 0);
    assert_int_equal(l.toks.items[1].num.i, 42);
    assert_int_equal(l.toks.items[2].num.i, 1000);
    assert_int_equal(l.toks.items[3].num.i, 255);
    assert_int_equal(l.toks.items[4].kind, TK_FLOAT);
    assert_true(l.toks.items[4].num.f == 1.5);
    assert_true(l.toks.items[5].num.f == 2000.0);
    assert_true(l.toks.items[6].num.f == 0.015);
    assert_true(l.toks.items[7].is_u64);
    assert_true(l.toks.items[7].num.u == UINT64_MAX);
    assert_false(l.toks.items[8].is_u64);
    assert_int_equal(l.toks.items[8].num.i, INT64_MAX);
    done(&l);
}

static void test_string_interpolation(void **s) {
    (void)s;
    lexed l;
    lex(&l, "\"a#{ {\"k\": \"#{x}\"}.k }b\\n\"");
    assert_int_equal(l.rc, TB_OK);
    const tbr_tok kinds[] = {TK_STR_START, TK_STR_PART, TK_INTERP_START, TK_LBRACE, TK_STR_START, TK_STR_PART,
                             TK_STR_END, TK_COLON, TK_STR_START, TK_INTERP_START, TK_IDENT, TK_INTERP_END,
                             TK_STR_END, TK_RBRACE, TK_DOT, TK_IDENT, TK_INTERP_END, TK_STR_PART, TK_STR_END, TK_EOF};
    expect_kinds(&l, kinds, sizeof kinds / sizeof *kinds);
    const tbr_token *tail = &l.toks.items[17];
    assert_int_equal(tail->len, 2);
    assert_memory_equal(tail->text, "b\n", 2);
    done(&l);
}

static void test_heredoc(void **s) {
    (void)s;
    lexed l;
    lex(&l, "\"\"\"\n  x \"quoted\"\n  #{1}\n\"\"\"");
    assert_int_equal(l.rc, TB_OK);
    const tbr_tok kinds[] = {TK_STR_START, TK_STR_PART, TK_INTERP_START, TK_INT, TK_INTERP_END, TK_STR_PART, TK_STR_END, TK_EOF};
    expect_kinds(&l, kinds, sizeof kinds / sizeof *kinds);
    assert_int_equal(l.toks.items[1].len, 15);
    assert_memory_equal(l.toks.items[1].text, "  x \"quoted\"\n  ", 15);
    assert_true(l.toks.items[0].heredoc);
    done(&l);
}

static void test_comments_and_backticks(void **s) {
    (void)s;
    lexed l;
    lex(&l, "# a comment\n`from` ## doc\n#!config x");
    assert_int_equal(l.rc, TB_OK);
    assert_int_equal(l.toks.items[0].kind, TK_IDENT);
    assert_int_equal(l.toks.items[0].len, 4);
    assert_memory_equal(l.toks.items[0].text, "from", 4);
    assert_int_equal(l.toks.items[1].kind, TK_CONFIG_DIRECTIVE);
    done(&l);
}

static void expect_error(const char *text, const char *message, unsigned line, unsigned col) {
    lexed l;
    lex(&l, text);
    assert_int_equal(l.rc, TB_EINVAL);
    assert_int_equal(l.diags.count, 1);
    assert_string_equal(l.diags.items[0].message, message);
    unsigned ln, cl;
    tbr_source_position(l.src, l.diags.items[0].span.start, &ln, &cl);
    assert_int_equal(ln, line);
    assert_int_equal(cl, col);
    assert_int_equal(l.toks.items[l.toks.count - 1].kind, TK_EOF);
    done(&l);
}

static void test_errors(void **s) {
    (void)s;
    expect_error("\"abc", "unterminated string", 1, 1);
    expect_error("1 +\n \"a\nb\"", "unterminated string (use \"\"\" for text over several lines)", 2, 2);
    expect_error("\"a\\qb\"", "invalid escape '\\q' in string", 1, 3);
    expect_error("x = 12abc", "invalid number literal", 1, 5);
    expect_error("a @ b", "unexpected character '@'", 1, 3);
    expect_error("match x of case ~ re|abc", "unterminated extractor pattern: expected a closing '|'", 1, 21);
    expect_error("99999999999999999999", "integer literal out of range", 1, 1);
    expect_error("\"#{ 1 \"", "unterminated string", 1, 7);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_punctuation_and_keywords),
        cmocka_unit_test(test_numbers),
        cmocka_unit_test(test_string_interpolation),
        cmocka_unit_test(test_heredoc),
        cmocka_unit_test(test_comments_and_backticks),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
