/*
 * yaml.c - the `yaml` codec: one YAML document to a temblor value and back, with libyaml.
 *
 * Decode drives libyaml's event parser over the input bytes and builds the value in the
 * batch arena (recursion bounded by YAML_MAX_DEPTH). Plain scalars are typed by the YAML 1.2
 * core schema: null (~, null, empty), bool (true/false in three casings), int (decimal,
 * 0o octal, 0x hex; int64, else uint64, else float), float (decimal/exponent, .inf, .nan);
 * quoted scalars, block scalars and !!str-tagged ones are strings. Mapping keys must be
 * scalars. Only the first document of a stream is decoded; an empty stream is null.
 * Aliases are refused. Errors fail the event with
 * "yaml codec: <libyaml problem> at line L column C" (1-based) and go to the err port.
 * Encode emits block-style YAML with libyaml's emitter (no "---", like serde_yaml): strings
 * that would read back as another type are single-quoted (double-quoted when they hold
 * control characters), floats use the shortest of
 * %.15g/%.16g/%.17g that reads back, with ".0" added to integral values, non-finite floats
 * as .inf/-.inf/.nan, bytes as a sequence of integers.
 *
 * Ownership: libyaml's parser/emitter state lives on the stack of one call and is freed
 * before it returns; every value and output byte belongs to the batch arena.
 * Thread contract: create/destroy on the control thread; decode/encode of one instance on
 * one thread at a time. No global mutable state.
 */
#include <temblor/temblor.h>

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <yaml.h>

#define YAML_MAX_DEPTH 256

/* ---------------------------------------------------------------------------------------
 * Decoding
 * ------------------------------------------------------------------------------------- */

typedef struct dec {
    yaml_parser_t parser;
    tb_arena *arena;
    int status; /* TB_EINVAL or TB_ENOMEM once failed */
    char err[200];
} dec;

static int dfail(dec *d, const char *msg, const yaml_mark_t *m) {
    d->status = TB_EINVAL;
    snprintf(d->err, sizeof d->err, "yaml codec: %s at line %lu column %lu", msg,
             (unsigned long)m->line + 1, (unsigned long)m->column + 1);
    return TB_EINVAL;
}

static int next_event(dec *d, yaml_event_t *ev) {
    if (!yaml_parser_parse(&d->parser, ev)) {
        const char *p = d->parser.problem ? d->parser.problem : "invalid YAML";
        if (d->parser.error == YAML_MEMORY_ERROR) {
            d->status = TB_ENOMEM;
            return TB_ENOMEM;
        }
        return dfail(d, p, &d->parser.problem_mark);
    }
    return TB_OK;
}

static bool eq_any(const char *s, size_t n, const char *const *list) {
    for (; *list; list++)
        if (strlen(*list) == n && memcmp(*list, s, n) == 0) return true;
    return false;
}

static bool all_digits(const char *s, size_t n, int base) {
    if (!n) return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool ok = base == 8    ? (c >= '0' && c <= '7')
                  : base == 10 ? (c >= '0' && c <= '9')
                               : ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
                                  (c >= 'A' && c <= 'F'));
        if (!ok) return false;
    }
    return true;
}

/* [-+]? ( \. [0-9]+ | [0-9]+ ( \. [0-9]* )? ) ( [eE] [-+]? [0-9]+ )? */
static bool is_float(const char *s, size_t n) {
    size_t i = 0, dig = 0;
    if (i < n && (s[i] == '-' || s[i] == '+')) i++;
    while (i < n && s[i] >= '0' && s[i] <= '9') i++, dig++;
    if (i < n && s[i] == '.') {
        i++;
        while (i < n && s[i] >= '0' && s[i] <= '9') i++, dig++;
    }
    if (!dig) return false;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        size_t ed = 0;
        i++;
        if (i < n && (s[i] == '-' || s[i] == '+')) i++;
        while (i < n && s[i] >= '0' && s[i] <= '9') i++, ed++;
        if (!ed) return false;
    }
    return i == n;
}

static const char *const k_null[] = {"", "~", "null", "Null", "NULL", NULL};
static const char *const k_true[] = {"true", "True", "TRUE", NULL};
static const char *const k_false[] = {"false", "False", "FALSE", NULL};
static const char *const k_inf[] = {".inf", ".Inf", ".INF", NULL};
static const char *const k_nan[] = {".nan", ".NaN", ".NAN", NULL};

/* Resolves a plain scalar by the core schema; false if it is a string. */
static bool resolve_plain(const char *s, size_t n, tb_value *out) {
    char tmp[128];
    if (eq_any(s, n, k_null)) return *out = tb_null(), true;
    if (eq_any(s, n, k_true)) return *out = tb_bool(true), true;
    if (eq_any(s, n, k_false)) return *out = tb_bool(false), true;
    if (eq_any(s, n, k_nan)) return *out = tb_f64(NAN), true;
    if (eq_any(s, n, k_inf) || (n > 1 && s[0] == '+' && eq_any(s + 1, n - 1, k_inf)))
        return *out = tb_f64(INFINITY), true;
    if (n > 1 && s[0] == '-' && eq_any(s + 1, n - 1, k_inf)) return *out = tb_f64(-INFINITY), true;
    if (n >= sizeof tmp) return false;
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    if (n > 2 && s[0] == '0' && (s[1] == 'o' || s[1] == 'x') &&
        all_digits(s + 2, n - 2, s[1] == 'o' ? 8 : 16)) {
        unsigned long long u;
        char *end;
        errno = 0;
        u = strtoull(tmp + 2, &end, s[1] == 'o' ? 8 : 16);
        if (errno) return false;
        *out = u <= (unsigned long long)INT64_MAX ? tb_i64((int64_t)u) : tb_u64(u);
        return true;
    }
    {
        size_t i = (s[0] == '-' || s[0] == '+') ? 1 : 0;
        if (all_digits(s + i, n - i, 10)) {
            char *end;
            errno = 0;
            long long v = strtoll(tmp, &end, 10);
            if (!errno) return *out = tb_i64(v), true;
            if (s[0] != '-') {
                errno = 0;
                unsigned long long u = strtoull(tmp + i, &end, 10);
                if (!errno) return *out = tb_u64(u), true;
            }
            return *out = tb_f64(strtod(tmp, NULL)), true;
        }
    }
    if (is_float(s, n)) return *out = tb_f64(strtod(tmp, NULL)), true;
    return false;
}

static int scalar_value(dec *d, const yaml_event_t *ev, tb_value *out) {
    const char *s = (const char *)ev->data.scalar.value;
    size_t n = ev->data.scalar.length;
    const char *tag = (const char *)ev->data.scalar.tag;
    if (ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
        (!tag || strcmp(tag, "!") != 0) && !(tag && strcmp(tag, YAML_STR_TAG) == 0) &&
        resolve_plain(s, n, out))
        return TB_OK;
    char *copy = tb_arena_dup(d->arena, s, n);
    if (!copy) return d->status = TB_ENOMEM;
    *out = tb_string(copy, n);
    return TB_OK;
}

static int parse_node(dec *d, yaml_event_t *ev, tb_value *out, unsigned depth);

/* Parses nodes until the closing event of the current collection. */
static int parse_children(dec *d, tb_value *out, bool mapping, unsigned depth) {
    for (;;) {
        yaml_event_t ev;
        int rc;
        if ((rc = next_event(d, &ev))) return rc;
        if (ev.type == YAML_SEQUENCE_END_EVENT || ev.type == YAML_MAPPING_END_EVENT) {
            yaml_event_delete(&ev);
            return TB_OK;
        }
        if (!mapping) {
            tb_value *slot = tb_array_push(d->arena, out);
            tb_value v;
            if (!slot) {
                yaml_event_delete(&ev);
                return d->status = TB_ENOMEM;
            }
            rc = parse_node(d, &ev, &v, depth + 1);
            yaml_event_delete(&ev);
            if (rc) return rc;
            /* the slot may have moved if a nested push grew this array: re-index */
            out->as.items[out->len - 1] = v;
            (void)slot;
            continue;
        }
        if (ev.type != YAML_SCALAR_EVENT) {
            rc = dfail(d, ev.type == YAML_ALIAS_EVENT ? "aliases are not supported"
                                                      : "mapping keys must be scalars",
                       &ev.start_mark);
            yaml_event_delete(&ev);
            return rc;
        }
        char *key = tb_arena_dup(d->arena, ev.data.scalar.value, ev.data.scalar.length);
        size_t klen = ev.data.scalar.length;
        yaml_event_delete(&ev);
        if (!key || !tb_object_append(d->arena, out, key, klen)) return d->status = TB_ENOMEM;
        if ((rc = next_event(d, &ev))) return rc;
        tb_value v;
        rc = parse_node(d, &ev, &v, depth + 1);
        yaml_event_delete(&ev);
        if (rc) return rc;
        out->as.members[out->len - 1].value = v;
    }
}

static int parse_node(dec *d, yaml_event_t *ev, tb_value *out, unsigned depth) {
    switch (ev->type) {
    case YAML_SCALAR_EVENT: return scalar_value(d, ev, out);
    case YAML_ALIAS_EVENT: return dfail(d, "aliases are not supported", &ev->start_mark);
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT:
        if (depth >= YAML_MAX_DEPTH)
            return dfail(d, "nested deeper than 256 levels", &ev->start_mark);
        *out = ev->type == YAML_SEQUENCE_START_EVENT ? tb_array() : tb_object();
        return parse_children(d, out, ev->type == YAML_MAPPING_START_EVENT, depth);
    default: return dfail(d, "unexpected event", &ev->start_mark);
    }
}

static int decode_one(dec *d, const uint8_t *p, size_t n, tb_value *out) {
    yaml_event_t ev;
    int rc;
    *out = tb_null();
    if ((rc = next_event(d, &ev))) return rc; /* stream start */
    yaml_event_delete(&ev);
    if ((rc = next_event(d, &ev))) return rc;
    if (ev.type == YAML_STREAM_END_EVENT) {
        yaml_event_delete(&ev);
        return TB_OK;
    }
    yaml_event_delete(&ev); /* document start */
    if ((rc = next_event(d, &ev))) return rc;
    rc = parse_node(d, &ev, out, 0);
    yaml_event_delete(&ev);
    if (rc) return rc;
    if ((rc = next_event(d, &ev))) return rc; /* document end */
    yaml_event_delete(&ev);
    (void)p;
    (void)n;
    return TB_OK;
}

static int TB_CALL decode(void *instance, tb_batch *batch) {
    (void)instance;
    for (uint32_t ei = 0; ei < batch->count; ei++) {
        tb_event *e = &batch->events[ei];
        dec d;
        tb_value v;
        int rc;
        if (!(e->flags & TB_EF_RAW)) continue;
        if (e->data.type != TB_BYTES) {
            e->flags &= ~(uint32_t)TB_EF_RAW;
            if (!tb_event_fail(batch, e, "yaml codec: raw event data is not bytes"))
                return TB_ENOMEM;
            continue;
        }
        memset(&d, 0, sizeof d);
        d.arena = batch->arena;
        if (!yaml_parser_initialize(&d.parser)) return TB_ENOMEM;
        yaml_parser_set_input_string(&d.parser, e->data.len ? e->data.as.bytes : (const uint8_t *)"",
                                     e->data.len);
        rc = decode_one(&d, e->data.as.bytes, e->data.len, &v);
        yaml_parser_delete(&d.parser);
        if (rc == TB_ENOMEM) return TB_ENOMEM;
        e->flags &= ~(uint32_t)TB_EF_RAW;
        if (rc) {
            if (!tb_event_fail(batch, e, d.err)) return TB_ENOMEM;
            continue;
        }
        e->data = v;
    }
    return TB_OK;
}

/* ---------------------------------------------------------------------------------------
 * Encoding
 * ------------------------------------------------------------------------------------- */

static int write_handler(void *data, unsigned char *buffer, size_t size) {
    return tb_buf_append((tb_buf *)data, buffer, size) ? 1 : 0;
}

typedef struct enc {
    yaml_emitter_t em;
    const char *err;
} enc;

static int emit(enc *w, yaml_event_t *ev) {
    if (!yaml_emitter_emit(&w->em, ev)) {
        if (!w->err) w->err = w->em.problem ? w->em.problem : "emitter failed";
        return TB_EINVAL;
    }
    return TB_OK;
}

static int emit_scalar(enc *w, const char *s, size_t n, bool plain_ok) {
    yaml_event_t ev;
    tb_value dummy;
    bool plain = plain_ok || !resolve_plain(s, n, &dummy);
    yaml_scalar_style_t style = plain ? YAML_ANY_SCALAR_STYLE : YAML_SINGLE_QUOTED_SCALAR_STYLE;
    for (size_t i = 0; i < n && !plain_ok; i++)
        if ((unsigned char)s[i] < 0x20) style = YAML_DOUBLE_QUOTED_SCALAR_STYLE;
    yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)(uintptr_t)(n ? s : ""), (int)n,
                                 plain, !plain || !plain_ok ? 1 : 0, style);
    return emit(w, &ev);
}

static size_t fmt_f64(char *tmp, size_t cap, double f) {
    int len = 0;
    if (isnan(f)) return (size_t)snprintf(tmp, cap, ".nan");
    if (isinf(f)) return (size_t)snprintf(tmp, cap, f < 0 ? "-.inf" : ".inf");
    for (int prec = 15; prec <= 17; prec++) {
        len = snprintf(tmp, cap - 2, "%.*g", prec, f);
        if (prec == 17 || strtod(tmp, NULL) == f) break;
    }
    if (!memchr(tmp, '.', (size_t)len) && !memchr(tmp, 'e', (size_t)len) &&
        !memchr(tmp, 'n', (size_t)len)) {
        tmp[len++] = '.';
        tmp[len++] = '0';
        tmp[len] = '\0';
    }
    return (size_t)len;
}

static int emit_value(enc *w, const tb_value *v, unsigned depth) {
    char tmp[48];
    yaml_event_t ev;
    int rc;
    switch (v->type) {
    case TB_NULL: return emit_scalar(w, "null", 4, true);
    case TB_BOOL: return v->as.b ? emit_scalar(w, "true", 4, true) : emit_scalar(w, "false", 5, true);
    case TB_I64: return emit_scalar(w, tmp, (size_t)snprintf(tmp, sizeof tmp, "%lld", (long long)v->as.i), true);
    case TB_U64:
        return emit_scalar(w, tmp, (size_t)snprintf(tmp, sizeof tmp, "%llu", (unsigned long long)v->as.u), true);
    case TB_F64: return emit_scalar(w, tmp, fmt_f64(tmp, sizeof tmp, v->as.f), true);
    case TB_STRING: return emit_scalar(w, v->as.s, v->len, false);
    case TB_BYTES:
    case TB_ARRAY:
        if (depth >= YAML_MAX_DEPTH) return w->err = "value nested deeper than 256 levels", TB_EINVAL;
        yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1, YAML_ANY_SEQUENCE_STYLE);
        if ((rc = emit(w, &ev))) return rc;
        for (uint32_t k = 0; k < v->len; k++) {
            if (v->type == TB_BYTES) {
                rc = emit_scalar(w, tmp, (size_t)snprintf(tmp, sizeof tmp, "%u", (unsigned)v->as.bytes[k]), true);
            } else {
                rc = emit_value(w, &v->as.items[k], depth + 1);
            }
            if (rc) return rc;
        }
        yaml_sequence_end_event_initialize(&ev);
        return emit(w, &ev);
    case TB_OBJECT:
        if (depth >= YAML_MAX_DEPTH) return w->err = "value nested deeper than 256 levels", TB_EINVAL;
        yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1, YAML_ANY_MAPPING_STYLE);
        if ((rc = emit(w, &ev))) return rc;
        for (uint32_t k = 0; k < v->len; k++) {
            const tb_member *m = &v->as.members[k];
            if ((rc = emit_scalar(w, m->key, m->key_len, false))) return rc;
            if ((rc = emit_value(w, &m->value, depth + 1))) return rc;
        }
        yaml_mapping_end_event_initialize(&ev);
        return emit(w, &ev);
    default: w->err = "value of unknown type"; return TB_EINVAL;
    }
}

static int encode_one(enc *w, const tb_value *v) {
    yaml_event_t ev;
    int rc;
    yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING);
    if ((rc = emit(w, &ev))) return rc;
    yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1);
    if ((rc = emit(w, &ev))) return rc;
    if ((rc = emit_value(w, v, 0))) return rc;
    yaml_document_end_event_initialize(&ev, 1);
    if ((rc = emit(w, &ev))) return rc;
    yaml_stream_end_event_initialize(&ev);
    return emit(w, &ev);
}

static int TB_CALL encode(void *instance, tb_batch *batch) {
    (void)instance;
    for (uint32_t ei = 0; ei < batch->count; ei++) {
        tb_event *e = &batch->events[ei];
        tb_buf buf;
        enc w;
        int rc;
        if (e->flags & TB_EF_RAW) continue;
        tb_buf_init(&buf, batch->arena);
        memset(&w, 0, sizeof w);
        if (!yaml_emitter_initialize(&w.em)) return TB_ENOMEM;
        yaml_emitter_set_output(&w.em, write_handler, &buf);
        yaml_emitter_set_unicode(&w.em, 1);
        yaml_emitter_set_width(&w.em, -1);
        rc = encode_one(&w, &e->data);
        if (!rc && !yaml_emitter_flush(&w.em)) rc = TB_EINVAL, w.err = "emitter flush failed";
        if (rc && w.em.error == YAML_WRITER_ERROR) rc = TB_ENOMEM;
        yaml_emitter_delete(&w.em);
        if (rc == TB_ENOMEM) return TB_ENOMEM;
        if (rc) {
            if (!tb_event_failf(batch, e, "yaml codec: %s", w.err)) return TB_ENOMEM;
            continue;
        }
        e->data = tb_bytes(buf.data, buf.len);
        e->flags |= TB_EF_RAW;
    }
    return TB_OK;
}

/* ---------------------------------------------------------------------------------------
 * Instances and the descriptor
 * ------------------------------------------------------------------------------------- */

static const tb_codec_vtable vtable = {
    .struct_size = sizeof(tb_codec_vtable),
    .create = tb_stateless_create,
    .destroy = tb_stateless_destroy,
    .decode = decode,
    .encode = encode,
};

static const tb_component component = {
    .struct_size = sizeof(tb_component),
    .kind = TB_KIND_CODEC,
    .name = "yaml",
    .description = "YAML (1.2 core schema) with libyaml",
    .vtable = &vtable,
};

static const tb_component *const components[] = {&component};

static const tb_plugin_descriptor descriptor = {
    TB_DESCRIPTOR_HEAD,
    .flags = TB_PLUGIN_UNLOAD_SAFE,
    .name = "yaml",
    .version = "0.1.0",
    .description = "The yaml codec",
    .components = components,
    .component_count = 1,
};

TB_PLUGIN_ENTRY(yaml) { return &descriptor; }
