/* eval.c - the evaluator's dispatch: literals, strings, records, arrays, bytes, calls,
 * let, emit, drop, match and for. Paths, operators, patterns and patch live beside it. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "lang/eval_internal.h"
#include "value/clone.h"
#include "value/json.h"

static const tb_value null_value = {TB_NULL, 0, 0, 0, {.u = 0}};

void tbr_eval_env_init(tbr_eval_env *env, tb_arena *arena) {
    /* field by field: this runs per event, and the 512 bytes of the error text are written
     * only on failure, so clearing them every time would be wasted */
    env->arena = arena;
    env->state_arena = NULL;
    env->event = env->meta = env->state = NULL;
    env->args = env->group = env->window = &null_value;
    env->aggr_values = NULL;
    env->locals = NULL;
    env->nlocals = 0;
    env->rng_local = 0x2545F4914F6CDD1Dull;
    env->rng_state = &env->rng_local;
    env->emitted = tb_null();
    env->event_emitted = false;
    env->emitted_from_event = false;
    env->port = NULL;
    env->port_len = 0;
    env->error[0] = '\0';
    env->error_span = (tbr_span){0, 0};
    env->depth = 0;
}

int tbr_eval_fail(tbr_eval_env *env, tbr_span span, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(env->error, sizeof env->error, fmt, ap);
    va_end(ap);
    env->error_span = span;
    return TBR_EVAL_ERROR;
}

int tbr_eval_oom(tbr_eval_env *env, tbr_span span) { return tbr_eval_fail(env, span, "out of memory"); }

/* Whether node builds its value afresh in this evaluation (so its containers are not shared
 * with event, state or a literal). */
static bool builds_fresh(const tbr_node *n) {
    return n->kind == N_RECORD || n->kind == N_ARRAY || n->kind == N_STRING || n->kind == N_BYTES;
}

int tbr_eval_own(tbr_eval_env *env, const tbr_node *node, tb_arena *arena, tb_value *v) {
    if (v->type != TB_ARRAY && v->type != TB_OBJECT) return TBR_EVAL_OK;
    if (builds_fresh(node) && arena == env->arena) return TBR_EVAL_OK;
    tb_value copy;
    if (tbr_value_clone(arena, v, &copy)) return tbr_eval_oom(env, node->span);
    *v = copy;
    return TBR_EVAL_OK;
}

/* Evaluates a node that must produce a value: emit and drop inside an expression that needs
 * a value are errors, as in Tremor. */
static int value_of(tbr_eval_env *env, const tbr_node *n, tb_value *out) {
    int rc = tbr_eval(env, n, out);
    return rc;
}

static int eval_string(tbr_eval_env *env, const tbr_node *n, tb_value *out) {
    tb_buf buf;
    tb_buf_init(&buf, env->arena);
    for (uint32_t i = 0; i < n->u.list.count; i++) {
        tb_value part;
        int rc = value_of(env, n->u.list.items[i], &part);
        if (rc) return rc;
        bool ok;
        if (part.type == TB_STRING) {
            ok = tb_buf_append(&buf, part.as.s, part.len);
        } else {
            /* interpolated non-strings are rendered as JSON, like Tremor */
            ok = tbr_json_write(&part, &buf) == TB_OK;
        }
        if (!ok) return tbr_eval_oom(env, n->span);
    }
    *out = tb_string(buf.len ? (const char *)buf.data : "", buf.len);
    return TBR_EVAL_OK;
}

static int eval_record(tbr_eval_env *env, const tbr_node *n, tb_value *out) {
    tb_value rec = tb_object();
    if (n->u.record.count) {
        rec.as.members = tb_arena_alloc(env->arena, n->u.record.count * sizeof(tb_member), 8);
        if (!rec.as.members) return tbr_eval_oom(env, n->span);
    }
    for (uint32_t i = 0; i < n->u.record.count; i++) {
        tb_value key, v;
        int rc = value_of(env, n->u.record.keys[i], &key);
        if (rc) return rc;
        if (key.type != TB_STRING)
            return tbr_eval_fail(env, n->u.record.keys[i]->span, "a record key must be a string, found %s", tb_type_name(key.type));
        if ((rc = value_of(env, n->u.record.values[i], &v))) return rc;
        if ((rc = tbr_eval_own(env, n->u.record.values[i], env->arena, &v))) return rc;
        /* a repeated key: the later one wins, as in JSON objects */
        tb_value *existing = tb_object_get(&rec, key.as.s, key.len);
        if (existing) {
            *existing = v;
            continue;
        }
        tb_member *m = &rec.as.members[rec.len++];
        m->key = key.as.s;
        m->key_len = key.len;
        m->reserved = 0;
        m->value = v;
    }
    *out = rec;
    return TBR_EVAL_OK;
}

static int eval_array(tbr_eval_env *env, const tbr_node *n, tb_value *out) {
    tb_value arr = tb_array();
    if (n->u.list.count) {
        arr.as.items = tb_arena_alloc(env->arena, n->u.list.count * sizeof(tb_value), 8);
        if (!arr.as.items) return tbr_eval_oom(env, n->span);
    }
    for (uint32_t i = 0; i < n->u.list.count; i++) {
        tb_value v;
        int rc = value_of(env, n->u.list.items[i], &v);
        if (rc) return rc;
        if ((rc = tbr_eval_own(env, n->u.list.items[i], env->arena, &v))) return rc;
        arr.as.items[arr.len++] = v;
    }
    *out = arr;
    return TBR_EVAL_OK;
}

static int eval_bytes(tbr_eval_env *env, const tbr_node *n, tb_value *out) {
    /* bits accumulate big-endian into whole bytes */
    tb_buf buf;
    tb_buf_init(&buf, env->arena);
    uint64_t acc = 0;
    uint32_t acc_bits = 0;
    for (uint32_t i = 0; i < n->u.bytes.count; i++) {
        const tbr_bytes_part *part = &n->u.bytes.parts[i];
        tb_value v;
        int rc = value_of(env, part->value, &v);
        if (rc) return rc;
        if (part->type == BYTES_BINARY || v.type == TB_BYTES || v.type == TB_STRING) {
            if (v.type != TB_BYTES && v.type != TB_STRING)
                return tbr_eval_fail(env, part->value->span, "a /binary part must be bytes or a string, found %s", tb_type_name(v.type));
            if (acc_bits % 8) return tbr_eval_fail(env, part->value->span, "binary data must start on a byte boundary");
            if (!tb_buf_append(&buf, v.as.bytes, v.len)) return tbr_eval_oom(env, n->span);
            continue;
        }
        int64_t iv;
        if (v.type == TB_U64) iv = (int64_t)v.as.u;
        else if (!tb_value_as_i64(&v, &iv))
            return tbr_eval_fail(env, part->value->span, "a bytes part must be an integer, found %s", tb_type_name(v.type));
        uint32_t bits = part->bits ? part->bits : 8;
        uint64_t u = (uint64_t)iv;
        if (bits < 64) {
            bool fits = part->is_signed ? (iv >= -(int64_t)(1ull << (bits - 1)) && iv < (int64_t)(1ull << (bits - 1)))
                                        : (v.type == TB_U64 || (iv >= 0 && (uint64_t)iv < (1ull << bits)));
            if (!fits) return tbr_eval_fail(env, part->value->span, "%lld does not fit in %u bits", (long long)iv, bits);
            u &= (1ull << bits) - 1;
        }
        if (!part->big_endian) {
            if (bits % 8) return tbr_eval_fail(env, part->value->span, "little-endian parts must be whole bytes");
            uint64_t swapped = 0;
            for (uint32_t b = 0; b < bits / 8; b++) swapped = (swapped << 8) | ((u >> (8 * b)) & 0xff);
            u = swapped;
        }
        for (uint32_t b = bits; b-- > 0;) {
            acc = (acc << 1) | ((u >> b) & 1);
            if (++acc_bits % 8 == 0) {
                uint8_t byte = (uint8_t)acc;
                if (!tb_buf_append(&buf, &byte, 1)) return tbr_eval_oom(env, n->span);
                acc = 0;
            }
        }
    }
    if (acc_bits % 8) return tbr_eval_fail(env, n->span, "a bytes literal must add up to whole bytes (%u bits here)", acc_bits);
    *out = tb_bytes(buf.data, buf.len);
    return TBR_EVAL_OK;
}

static int call_native(tbr_eval_env *env, const tbr_node *n, tb_value *out) {
    tb_value argv[16];
    tb_value *args = argv;
    if (n->u.call.argc > 16) {
        args = tb_arena_alloc(env->arena, n->u.call.argc * sizeof *args, 8);
        if (!args) return tbr_eval_oom(env, n->span);
    }
    for (uint32_t i = 0; i < n->u.call.argc; i++) {
        int rc = value_of(env, n->u.call.args[i], &args[i]);
        if (rc) return rc;
    }
    char msg[256] = "";
    tbr_fn_ctx cx = {env->arena, msg, sizeof msg, env->rng_state};
    int rc = n->u.call.native->fn(&cx, args, n->u.call.argc, out);
    if (rc == TB_ENOMEM) return tbr_eval_oom(env, n->span);
    if (rc) return tbr_eval_fail(env, n->span, "%s", msg[0] ? msg : "function failed");
    return TBR_EVAL_OK;
}

/* Binds args to a fresh frame of fn and runs it (with recur as a loop). */
static int call_user(tbr_eval_env *env, const tbr_node *n, tb_value *out) {
    const tbr_user_fn *fn = n->u.call.user;
    if (env->depth >= TBR_EVAL_MAX_DEPTH)
        return tbr_eval_fail(env, n->span, "recursion deeper than %d calls", TBR_EVAL_MAX_DEPTH);
    tb_value *frame = tb_arena_alloc(env->arena, (fn->nlocals ? fn->nlocals : 1) * sizeof *frame, 8);
    if (!frame) return tbr_eval_oom(env, n->span);
    for (uint32_t i = 0; i < fn->nlocals; i++) frame[i] = tb_null();
    for (uint32_t i = 0; i < fn->nparams; i++) {
        int rc = value_of(env, n->u.call.args[i], &frame[i]);
        if (rc) return rc;
    }
    if (fn->variadic) {
        tb_value rest = tb_array();
        for (uint32_t i = fn->nparams; i < n->u.call.argc; i++) {
            tb_value *slot = tb_array_push(env->arena, &rest);
            if (!slot) return tbr_eval_oom(env, n->span);
            int rc = value_of(env, n->u.call.args[i], slot);
            if (rc) return rc;
        }
        frame[fn->nparams] = rest;
    }
    tb_value *saved_locals = env->locals;
    uint32_t saved_n = env->nlocals;
    env->locals = frame;
    env->nlocals = fn->nlocals;
    env->depth++;
    int rc;
    for (unsigned iterations = 0;; iterations++) {
        if (fn->ncases) {
            tb_value argv = tb_array();
            argv.as.items = frame;
            argv.len = fn->nparams;
            bool matched = false;
            rc = TBR_EVAL_OK;
            for (uint32_t c = 0; c < fn->ncases && !matched && rc == TBR_EVAL_OK; c++) {
                const tbr_case *cs = &fn->cases[c];
                /* an extracting pattern replaces the arguments with what it extracted */
                tb_value bound;
                int m = cs->pattern ? tbr_eval_pattern(env, cs->pattern, &argv, &bound) : 1;
                if (m > 0 && cs->pattern && bound.type == TB_ARRAY && bound.len == fn->nparams)
                    for (uint32_t i = 0; i < fn->nparams; i++) frame[i] = bound.as.items[i];
                if (m < 0) {
                    rc = m;
                    break;
                }
                if (m && cs->guard) {
                    tb_value g;
                    if ((rc = value_of(env, cs->guard, &g))) break;
                    m = tbr_truthy(&g);
                }
                if (m) {
                    matched = true;
                    rc = tbr_eval_block(env, cs->body, cs->nbody, out);
                }
            }
            if (rc == TBR_EVAL_OK && !matched)
                rc = tbr_eval_fail(env, n->span, "no case of %.*s matches these arguments", (int)fn->name_len, fn->name);
        } else {
            rc = tbr_eval_block(env, fn->body, fn->nbody, out);
        }
        /* recur leaves its new arguments in the frame and asks for another round */
        if (rc != TBR_EVAL_DROP || !env->event_emitted) break;
        env->event_emitted = false;
        if (iterations >= 100000) {
            rc = tbr_eval_fail(env, n->span, "recur ran more than 100000 times");
            break;
        }
        for (uint32_t i = fn->nparams; i < fn->nlocals; i++) frame[i] = tb_null();
    }
    env->depth--;
    env->locals = saved_locals;
    env->nlocals = saved_n;
    if (rc == TBR_EVAL_EMIT || rc == TBR_EVAL_DROP)
        return tbr_eval_fail(env, n->span, "emit and drop are not allowed inside a function");
    return rc;
}

/* recur(args): evaluates the new arguments into the current frame and unwinds to the call,
 * which runs the body again. Signalled as DROP with event_emitted set. */
static int eval_recur(tbr_eval_env *env, const tbr_node *n) {
    tb_value vals[32];
    if (n->u.call.argc > 32) return tbr_eval_fail(env, n->span, "recur takes at most 32 arguments");
    for (uint32_t i = 0; i < n->u.call.argc; i++) {
        int rc = value_of(env, n->u.call.args[i], &vals[i]);
        if (rc) return rc;
    }
    for (uint32_t i = 0; i < n->u.call.argc && i < env->nlocals; i++) env->locals[i] = vals[i];
    env->event_emitted = true;
    return TBR_EVAL_DROP;
}

static int eval_emit(tbr_eval_env *env, const tbr_node *n) {
    env->port = NULL;
    env->port_len = 0;
    if (n->u.emit.port) {
        tb_value port;
        int rc = value_of(env, n->u.emit.port, &port);
        if (rc) return rc;
        if (port.type != TB_STRING) return tbr_eval_fail(env, n->u.emit.port->span, "a port name must be a string");
        env->port = port.as.s;
        env->port_len = port.len;
    }
    if (!n->u.emit.value) {
        env->event_emitted = true;
        return TBR_EVAL_EMIT;
    }
    int rc = value_of(env, n->u.emit.value, &env->emitted);
    if (rc) return rc;
    env->event_emitted = false;
    /* `emit event` or `emit event.x`: it lives in the event's arena already */
    env->emitted_from_event = n->u.emit.value->kind == N_PATH && n->u.emit.value->u.path.root == ROOT_EVENT;
    return TBR_EVAL_EMIT;
}

static int eval_let(tbr_eval_env *env, const tbr_node *n, tb_value *out) {
    tb_value v;
    int rc = value_of(env, n->u.let.value, &v);
    if (rc) return rc;
    const tbr_node *target = n->u.let.target;
    tb_arena *arena = target->u.path.root == ROOT_STATE && env->state_arena ? env->state_arena : env->arena;
    if ((rc = tbr_eval_own(env, n->u.let.value, arena, &v))) return rc;
    if ((rc = tbr_eval_assign(env, target, v))) return rc;
    *out = v;
    return TBR_EVAL_OK;
}

static int eval_match(tbr_eval_env *env, const tbr_node *n, tb_value *out) {
    tb_value target;
    int rc = value_of(env, n->u.match.target, &target);
    if (rc) return rc;
    for (uint32_t i = 0; i < n->u.match.ncases; i++) {
        const tbr_case *c = &n->u.match.cases[i];
        int m = c->pattern ? tbr_eval_pattern(env, c->pattern, &target, NULL) : 1;
        if (m < 0) return m;
        if (m && c->guard) {
            tb_value g;
            if ((rc = value_of(env, c->guard, &g))) return rc;
            m = tbr_truthy(&g);
        }
        if (m) return tbr_eval_block(env, c->body, c->nbody, out);
    }
    /* no case and no default: Tremor's match yields null (an error would drop the event) */
    *out = tb_null();
    return TBR_EVAL_OK;
}

static int eval_for(tbr_eval_env *env, const tbr_node *n, tb_value *out) {
    tb_value target;
    int rc = value_of(env, n->u.match.target, &target);
    if (rc) return rc;
    if (target.type != TB_ARRAY && target.type != TB_OBJECT)
        return tbr_eval_fail(env, n->u.match.target->span, "for needs an array or a record, found %s", tb_type_name(target.type));
    tb_value result = tb_array();
    for (uint32_t i = 0; i < target.len; i++) {
        if (target.type == TB_ARRAY) {
            env->locals[n->u.match.key_slot] = tb_i64(i);
            env->locals[n->u.match.value_slot] = target.as.items[i];
        } else {
            const tb_member *m = &target.as.members[i];
            env->locals[n->u.match.key_slot] = tb_string(m->key, m->key_len);
            env->locals[n->u.match.value_slot] = m->value;
        }
        for (uint32_t c = 0; c < n->u.match.ncases; c++) {
            const tbr_case *cs = &n->u.match.cases[c];
            if (cs->guard) {
                tb_value g;
                if ((rc = value_of(env, cs->guard, &g))) return rc;
                if (!tbr_truthy(&g)) continue;
            }
            tb_value v;
            if ((rc = tbr_eval_block(env, cs->body, cs->nbody, &v))) return rc;
            if ((rc = tbr_eval_own(env, cs->body[cs->nbody - 1], env->arena, &v))) return rc;
            tb_value *slot = tb_array_push(env->arena, &result);
            if (!slot) return tbr_eval_oom(env, n->span);
            *slot = v;
            break;
        }
    }
    *out = result;
    return TBR_EVAL_OK;
}

int tbr_eval(tbr_eval_env *env, const tbr_node *n, tb_value *out) {
    int rc;
    switch (n->kind) {
    case N_LITERAL: *out = n->u.lit; return TBR_EVAL_OK;
    case N_STRING: return eval_string(env, n, out);
    case N_RECORD: return eval_record(env, n, out);
    case N_ARRAY: return eval_array(env, n, out);
    case N_BYTES: return eval_bytes(env, n, out);
    case N_PATH: return tbr_eval_path(env, n, out, false, NULL);
    case N_PRESENT:
    case N_ABSENT: {
        bool missing = false;
        tb_value ignored;
        rc = tbr_eval_path(env, n->u.bin.a, &ignored, true, &missing);
        if (rc) return rc;
        *out = tb_bool(n->kind == N_PRESENT ? !missing : missing);
        return TBR_EVAL_OK;
    }
    case N_UNARY: {
        tb_value a;
        if ((rc = value_of(env, n->u.bin.a, &a))) return rc;
        return tbr_eval_unary(env, n, &a, out);
    }
    case N_BINARY: {
        tb_value a, b;
        if ((rc = value_of(env, n->u.bin.a, &a))) return rc;
        /* and/or short-circuit */
        if (n->op == OP_AND || n->op == OP_OR) {
            if (a.type != TB_BOOL)
                return tbr_eval_fail(env, n->u.bin.a->span, "%s needs booleans, found %s", n->op == OP_AND ? "and" : "or", tb_type_name(a.type));
            if (a.as.b == (n->op == OP_OR)) {
                *out = a;
                return TBR_EVAL_OK;
            }
        }
        if ((rc = value_of(env, n->u.bin.b, &b))) return rc;
        return tbr_eval_binary(env, n, &a, &b, out);
    }
    case N_INVOKE: return n->u.call.native ? call_native(env, n, out) : call_user(env, n, out);
    case N_RECUR: return eval_recur(env, n);
    case N_LET: return eval_let(env, n, out);
    case N_EMIT: return eval_emit(env, n);
    case N_DROP: env->event_emitted = false; return TBR_EVAL_DROP;
    case N_MATCH: return eval_match(env, n, out);
    case N_FOR: return eval_for(env, n, out);
    case N_PATCH: return tbr_eval_patch(env, n, out);
    case N_MERGE: return tbr_eval_merge(env, n, out);
    case N_AGGR:
        if (!env->aggr_values) return tbr_eval_fail(env, n->span, "aggregate functions need a window");
        *out = env->aggr_values[n->u.call.aggr_index];
        return TBR_EVAL_OK;
    }
    return tbr_eval_fail(env, n->span, "internal error: unknown node");
}

int tbr_eval_block(tbr_eval_env *env, tbr_node *const *body, uint32_t count, tb_value *out) {
    *out = tb_null();
    for (uint32_t i = 0; i < count; i++) {
        int rc = tbr_eval(env, body[i], out);
        if (rc) return rc;
    }
    return TBR_EVAL_OK;
}
