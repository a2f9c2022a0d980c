/* test_parser.c - the parser through the trees it builds: operator precedence, paths,
 * locals, folding, strings, match, patch, and the place and text of its errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "lang/script.h"

typedef struct parsed {
    tbr_source *src;
    tbr_diags diags;
    tbr_script *s;
} parsed;

static const tbr_node *parse(parsed *ps, const char *text) {
    ps->src = tbr_source_from_string("t.tremor", text, strlen(text));
    tbr_diags_init(&ps->diags, ps->src);
    ps->s = tbr_script_compile(ps->src, &ps->diags);
    if (!ps->s) {
        char buf[1024];
        fail_msg("%s", tbr_diag_render(ps->src, &ps->diags.items[0], buf, sizeof buf));
    }
    return ps->s->body[ps->s->nbody - 1];
}

static void done(parsed *ps) {
    tbr_script_free(ps->s);
    tbr_diags_free(&ps->diags);
    tbr_source_free(ps->src);
}

static void assert_path(const tbr_node *n, tbr_root root, const char *field) {
    assert_int_equal(n->kind, N_PATH);
    assert_int_equal(n->u.path.root, root);
    assert_int_equal(n->u.path.nsegs, 1);
    assert_int_equal(n->u.path.segs[0].kind, SEG_FIELD);
    assert_int_equal(n->u.path.segs[0].key_len, strlen(field));
    assert_memory_equal(n->u.path.segs[0].key, field, strlen(field));
}

static void test_precedence(void **s) {
    (void)s;
    parsed ps;
    /* * binds tighter than +; and tighter than or */
    const tbr_node *n = parse(&ps, "event.a + event.b * event.c");
    assert_int_equal(n->kind, N_BINARY);
    assert_int_equal(n->op, OP_ADD);
    assert_path(n->u.bin.a, ROOT_EVENT, "a");
    assert_int_equal(n->u.bin.b->op, OP_MUL);
    done(&ps);
    n = parse(&ps, "event.a or event.b and event.c");
    assert_int_equal(n->op, OP_OR);
    assert_int_equal(n->u.bin.b->op, OP_AND);
    done(&ps);
    /* comparisons bind tighter than ==, shifts tighter than comparisons */
    n = parse(&ps, "event.a == event.b < event.c << 1");
    assert_int_equal(n->op, OP_EQ);
    assert_int_equal(n->u.bin.b->op, OP_LT);
    assert_int_equal(n->u.bin.b->u.bin.b->op, OP_SHL);
    done(&ps);
    /* left associative */
    n = parse(&ps, "event.a - event.b - event.c");
    assert_int_equal(n->op, OP_SUB);
    assert_int_equal(n->u.bin.a->op, OP_SUB);
    assert_path(n->u.bin.b, ROOT_EVENT, "c");
    done(&ps);
    /* unary not applies to the operand, not to the comparison */
    n = parse(&ps, "not event.a == event.b");
    assert_int_equal(n->op, OP_EQ);
    assert_int_equal(n->u.bin.a->kind, N_UNARY);
    done(&ps);
}

static void test_folding(void **s) {
    (void)s;
    parsed ps;
    const tbr_node *n = parse(&ps, "1 + 2 * 3");
    assert_int_equal(n->kind, N_LITERAL);
    assert_int_equal(n->u.lit.as.i, 7);
    done(&ps);
    n = parse(&ps, "\"a#{1 + 1}b\"");
    assert_int_equal(n->kind, N_LITERAL);
    assert_int_equal(n->u.lit.len, 3);
    assert_memory_equal(n->u.lit.as.s, "a2b", 3);
    done(&ps);
    /* with a non-constant part it stays an interpolation */
    n = parse(&ps, "\"a#{event}b\"");
    assert_int_equal(n->kind, N_STRING);
    assert_int_equal(n->u.list.count, 3);
    done(&ps);
}

static void test_paths_and_locals(void **s) {
    (void)s;
    parsed ps;
    const tbr_node *n = parse(&ps, "let x = event.a[0][\"k\"]; let y = $m; x");
    assert_int_equal(ps.s->nlocals, 2);
    const tbr_node *let = ps.s->body[0];
    assert_int_equal(let->kind, N_LET);
    assert_int_equal(let->u.let.target->u.path.root, ROOT_LOCAL);
    assert_int_equal(let->u.let.target->u.path.slot, 0);
    const tbr_node *path = let->u.let.value;
    assert_int_equal(path->u.path.nsegs, 3);
    assert_int_equal(path->u.path.segs[1].kind, SEG_INDEX);
    /* ["k"] with a literal string is a field */
    assert_int_equal(path->u.path.segs[2].kind, SEG_FIELD);
    assert_path(ps.s->body[1]->u.let.value, ROOT_META, "m");
    assert_int_equal(ps.s->body[1]->u.let.target->u.path.slot, 1);
    assert_int_equal(n->u.path.root, ROOT_LOCAL);
    assert_int_equal(n->u.path.slot, 0);
    done(&ps);
}

static void test_match_and_patch(void **s) {
    (void)s;
    parsed ps;
    const tbr_node *n = parse(&ps, "match event of case %{ a == 1, present b } => 1 case r = _ when r == 2 => 2 default => 3 end");
    assert_int_equal(n->kind, N_MATCH);
    assert_int_equal(n->u.match.ncases, 3);
    assert_true(n->u.match.has_default);
    assert_int_equal(n->u.match.cases[0].pattern->kind, PAT_RECORD);
    assert_int_equal(n->u.match.cases[0].pattern->nfields, 2);
    assert_int_equal(n->u.match.cases[0].pattern->fields[0].kind, FIELD_CMP);
    assert_int_equal(n->u.match.cases[0].pattern->fields[1].kind, FIELD_PRESENT);
    assert_int_equal(n->u.match.cases[1].pattern->kind, PAT_BIND);
    assert_non_null(n->u.match.cases[1].guard);
    assert_null(n->u.match.cases[2].pattern);
    done(&ps);
    n = parse(&ps, "patch event of insert \"a\" => 1; erase \"b\"; move \"c\" => \"d\"; merge => {} end");
    assert_int_equal(n->kind, N_PATCH);
    assert_int_equal(n->u.patch.nops, 4);
    assert_int_equal(n->u.patch.ops[0].kind, PATCH_INSERT);
    assert_int_equal(n->u.patch.ops[1].kind, PATCH_ERASE);
    assert_int_equal(n->u.patch.ops[2].kind, PATCH_MOVE);
    assert_int_equal(n->u.patch.ops[3].kind, PATCH_MERGE);
    done(&ps);
}

static void expect_error(const char *text, const char *message, unsigned line, unsigned col, const char *hint) {
    tbr_source *src = tbr_source_from_string("t.tremor", text, strlen(text));
    tbr_diags diags;
    tbr_diags_init(&diags, src);
    tbr_script *sc = tbr_script_compile(src, &diags);
    assert_null(sc);
    assert_int_equal(diags.count, 1);
    assert_string_equal(diags.items[0].message, message);
    unsigned l, c;
    tbr_source_position(src, diags.items[0].span.start, &l, &c);
    assert_int_equal(l, line);
    assert_int_equal(c, col);
    assert_string_equal(diags.items[0].hint, hint);
    tbr_diags_free(&diags);
    tbr_source_free(src);
}

static void test_errors(void **s) {
    (void)s;
    expect_error("let a = ;", "expected an expression, found ';'", 1, 9, "");
    expect_error("event.a +", "expected an expression, found end of input", 1, 10, "");
    expect_error("match event of case 1 => 1", "expected 'case', 'default' or 'end', found end of input", 1, 27, "");
    expect_error("statee.x", "unknown local 'statee'", 1, 1, "did you mean 'state'?");
    expect_error("let x = 1;\nlet y = xx;\ny", "unknown local 'xx'", 2, 9, "did you mean 'x'?");
    expect_error("const A = 1;\nlet A = 2;\nA", "cannot assign to constant 'A'", 2, 5, "");
    expect_error("fn f(a) with a end;\nf(1, 2)", "f takes 1 argument, found 2", 2, 1, "");
    expect_error("event.from", "'from' is a keyword: write it as `from` or [\"from\"]", 1, 7, "");
    expect_error("emit event => 1", "expected a port name string after '=>', found integer", 1, 15, "");
    expect_error("1 +\n(2 * 3", "expected ')', found end of input", 2, 7, "");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_precedence),
        cmocka_unit_test(test_folding),
        cmocka_unit_test(test_paths_and_locals),
        cmocka_unit_test(test_match_and_patch),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
