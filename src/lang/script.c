/* script.c - compiling a script and running it per event, with its state. */
#include "lang/script.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lang/eval_internal.h"
#include "lang/parser.h"
#include "value/arena.h"
#include "value/clone.h"

bool tbr_parse_script_body(tbr_parser *p, tbr_script *s, bool embedded) {
    /* a script has its own names: save the surrounding file's and start empty */
    tbr_scope saved_globals = p->globals;
    tbr_scope *saved_scope = p->scope;
    memset(&p->globals, 0, sizeof p->globals);
    tbr_scope top = {0};
    p->scope = &top;
    tbr_node **body = NULL;
    uint32_t count = 0, cap = 0;
    tbr_tok stop = embedded ? TK_END : TK_EOF;
    while (!p->failed && !tbr_at(p, stop) && !tbr_at(p, TK_EOF)) {
        bool handled;
        if (!tbr_parse_toplevel_decl(p, &handled)) break;
        if (!handled) {
            tbr_node *e = tbr_parse_expr(p);
            if (!e) break;
            if (count == cap) {
                cap = cap ? cap * 2 : 16;
                tbr_node **n = tbr_alloc(p, cap * sizeof *n);
                if (!n) break;
                if (count) memcpy(n, body, count * sizeof *n);
                body = n;
            }
            body[count++] = e;
        }
        if (!tbr_accept(p, TK_SEMI) && !tbr_at(p, stop) && !tbr_at(p, TK_EOF)) {
            const tbr_token *t = tbr_peek(p);
            if (t->kind == TK_END) tbr_error(p, t->span, "unexpected 'end': there is no match, for, fn or patch open here");
            else tbr_error_expected(p, "';' between expressions");
        }
    }
    if (!p->failed && count == 0) tbr_error(p, tbr_peek(p)->span, "a script needs at least one expression");
    s->body = body;
    s->nbody = count;
    s->nlocals = top.nlocals;
    free(top.items);
    free(p->globals.items);
    p->globals = saved_globals;
    p->scope = saved_scope;
    return !p->failed;
}

tbr_script *tbr_script_compile(const tbr_source *src, tbr_diags *diags) {
    tbr_script *s = calloc(1, sizeof *s);
    if (!s || !(s->arena = tbr_arena_new(0))) {
        free(s);
        return NULL;
    }
    s->src = src;
    tbr_parser p;
    tbr_parser_init(&p, src, s->arena, diags);
    bool ok = !p.failed && tbr_parse_script_body(&p, s, false);
    s->extractors = p.extractors;
    s->nextractors = p.nextractors;
    p.extractors = NULL;
    tbr_parser_fini(&p);
    if (!ok) {
        tbr_script_free(s);
        return NULL;
    }
    return s;
}

void tbr_script_free(tbr_script *s) {
    if (!s) return;
    for (uint32_t i = 0; i < s->nextractors; i++) tbr_extractor_free(s->extractors[i]);
    free(s->extractors);
    tbr_arena_free(s->arena);
    free(s);
}

int tbr_script_instance_init(tbr_script_instance *inst, const tbr_script *s, uint64_t seed) {
    memset(inst, 0, sizeof *inst);
    inst->script = s;
    inst->state = tb_null();
    inst->args = tb_object();
    inst->rng = seed ? seed : 0x9e3779b97f4a7c15ull;
    inst->state_arena = tbr_arena_new(0);
    inst->locals = calloc(s->nlocals ? s->nlocals : 1, sizeof *inst->locals);
    if (!inst->state_arena || !inst->locals) {
        tbr_script_instance_fini(inst);
        return TB_ENOMEM;
    }
    return TB_OK;
}

void tbr_script_instance_fini(tbr_script_instance *inst) {
    tbr_arena_free(inst->state_arena);
    free(inst->locals);
    memset(inst, 0, sizeof *inst);
}

/* State is rewritten by every `let state...`; copy what is live into a fresh arena once the
 * old one holds mostly garbage, so a long-running script's memory stays bounded. */
static void compact_state(tbr_script_instance *inst) {
    size_t used = tbr_arena_used(inst->state_arena);
    if (used < 2 * inst->state_live + 64 * 1024) return;
    tb_arena *fresh = tbr_arena_new(0);
    tb_value copy;
    if (!fresh || tbr_value_clone(fresh, &inst->state, &copy) != TB_OK) {
        tbr_arena_free(fresh);
        return; /* keep the old one; try again next time */
    }
    tbr_arena_free(inst->state_arena);
    inst->state_arena = fresh;
    inst->state = copy;
    inst->state_live = tbr_arena_used(fresh);
}

static void fail(tbr_script_result *out, const tbr_source *src, const tbr_eval_env *env) {
    unsigned line, col;
    tbr_source_position(src, env->error_span.start, &line, &col);
    out->outcome = TBR_SCRIPT_ERROR;
    snprintf(out->error, sizeof out->error, "%s:%u:%u: %s", src->name, line, col, env->error);
}

/* The value a script hands on: the event itself needs no copy, everything else that could
 * share containers with state or literals is copied into the event's arena. */
static int hand_on(tbr_eval_env *env, const tbr_node *node, tb_value *v) {
    if (node->kind == N_PATH && node->u.path.root == ROOT_EVENT) return TBR_EVAL_OK;
    return tbr_eval_own(env, node, env->arena, v);
}

void tbr_script_run(tbr_script_instance *inst, tb_arena *arena, tb_value *event, tb_value *meta,
                    tbr_script_result *out) {
    const tbr_script *s = inst->script;
    tbr_eval_env env;
    tbr_eval_env_init(&env, arena);
    env.event = event;
    env.meta = meta;
    env.state = &inst->state;
    env.state_arena = inst->state_arena;
    env.args = &inst->args;
    env.locals = inst->locals;
    env.nlocals = s->nlocals;
    env.rng_state = &inst->rng;
    for (uint32_t i = 0; i < s->nlocals; i++) inst->locals[i] = tb_null();
    out->port = NULL;
    out->port_len = 0;
    out->error[0] = '\0';
    tb_value v;
    int rc = tbr_eval_block(&env, s->body, s->nbody, &v);
    const tbr_node *last = s->body[s->nbody - 1];
    switch (rc) {
    case TBR_EVAL_OK:
        if (hand_on(&env, last, &v)) {
            fail(out, s->src, &env);
            break;
        }
        out->outcome = TBR_SCRIPT_EMIT;
        out->value = v;
        break;
    case TBR_EVAL_EMIT:
        out->outcome = TBR_SCRIPT_EMIT;
        out->port = env.port;
        out->port_len = env.port_len;
        if (env.event_emitted) {
            out->value = *event;
        } else if (env.emitted_from_event) {
            out->value = env.emitted;
        } else {
            out->value = env.emitted;
            /* an emitted value may share containers with state: copy it */
            tbr_node shared = {.kind = N_PATH, .span = last->span};
            if (tbr_eval_own(&env, &shared, arena, &out->value)) fail(out, s->src, &env);
        }
        break;
    case TBR_EVAL_DROP: out->outcome = TBR_SCRIPT_DROP; break;
    default: fail(out, s->src, &env); break;
    }
    compact_state(inst);
}
