/*
 * kv.c - an example temblor plugin, built out of tree against the installed PDK: the `kv`
 * codec, for logfmt-style lines of key=value pairs.
 *
 *     level=info user=alice count=42 ok=true msg="hello world"
 *
 * decodes to the record
 *
 *     {"level": "info", "user": "alice", "count": 42, "ok": true, "msg": "hello world"}
 *
 * It is the walkthrough of the PDK documentation, so it is commented for a reader who is
 * writing a first plugin. It uses nothing but <temblor/temblor.h> and libc, and it links
 * no symbol of the runtime: everything it needs from the runtime comes through the host
 * function table (tb_host_api) handed to create, or is an inline function of the header.
 *
 * The format, precisely:
 *  - A line is a sequence of tokens separated by the `separator` byte (a space by
 *    default). Runs of separators, and separators at either end, are ignored, so an empty
 *    line is the empty record.
 *  - A token is KEY=VALUE. KEY is every byte before the first '=' (it must not be empty).
 *  - VALUE is either quoted or bare:
 *      "..."   a string; inside it \" is a quote and \\ a backslash (no other escape is
 *              known); the separator and '=' are ordinary bytes. The closing quote must
 *              end the token.
 *      bare    every byte up to the next separator. `true` and `false` are booleans,
 *              -?[0-9]+ that fits in 64 bits is a signed integer, and anything else
 *              (including the empty value of `key=`) is a string.
 *  - With strict=true (the default) a token without '=' fails the event; with
 *    strict=false it is a key whose value is true (`debug` means debug=true).
 *  - Keys repeat as they come: the record keeps both members and tb_object_get finds the
 *    later one, as for every decoder.
 *
 * Memory: every key and every bare or escape-free quoted value points INTO the input bytes
 * (zero copy; the runtime keeps the input alive as long as the batch). Only a quoted value
 * with an escape in it is unescaped into a copy, in the batch's arena. The record's member
 * array is in the arena too. The plugin frees none of it: the runtime resets the arena
 * when the batch is done.
 */
#include <stdlib.h> /* strtod */
#include <temblor/temblor.h>

/* ---------------------------------------------------------------------------------------
 * Options
 *
 * Declared options are what `temblor plugin inspect` shows, and what the runtime checks a
 * configuration against before create is called: unknown keys and wrong types are refused
 * by the runtime, and defaults are filled in, so create may read every option that has a
 * default without checking whether it is present. A default is text: the literal string
 * for a TB_OPT_STRING option, JSON for any other type.
 * ------------------------------------------------------------------------------------- */

static const tb_option options[] = {
    TB_OPTION("separator", TB_OPT_STRING, " ", 0,
              "the byte between key=value pairs (exactly one byte, not '=' or '\"')"),
    TB_OPTION("strict", TB_OPT_BOOL, "true", 0,
              "fail a line with a token that has no '='; when false such a token is a key "
              "whose value is true"),
};

/* ---------------------------------------------------------------------------------------
 * The instance
 *
 * create runs on the control thread and returns the instance's state; every other call of
 * the instance (decode, encode) gets it back as its first argument. The runtime never runs
 * two calls of one instance at the same time, so the state needs no lock.
 * ------------------------------------------------------------------------------------- */

typedef struct kv_codec {
    const tb_host_api *host; /* valid until destroy returns */
    tb_context *ctx;         /* this instance's context, for host calls */
    uint8_t separator;
    bool strict;
} kv_codec;

static int TB_CALL kv_create(const tb_create_args *args, void **out_instance) {
    const tb_host_api *host = args->host;
    size_t sep_len = 0;
    /* args->config is the validated configuration with the defaults filled in. */
    const char *sep = tb_value_str(tb_object_getz(args->config, "separator"), &sep_len);
    const tb_value *strict = tb_object_getz(args->config, "strict");

    /* What the type system of options cannot say is checked here. tb_fail records the
     * message with the host (the runtime prints it with the instance's name) and returns
     * the status for create to return. */
    if (!sep || sep_len != 1)
        return tb_fail(host, args->ctx, TB_EINVAL,
                       "option 'separator' must be exactly one byte, found %zu bytes", sep_len);
    if (sep[0] == '=' || sep[0] == '"')
        return tb_fail(host, args->ctx, TB_EINVAL,
                       "option 'separator' cannot be '%c': it is part of the syntax", sep[0]);

    /* Memory that outlives one call comes from the host allocator, so it is accounted to
     * the plugin (and limited, if the operator set a limit). */
    kv_codec *kv = host->alloc(args->ctx, sizeof *kv);
    if (!kv) return TB_ENOMEM;
    kv->host = host;
    kv->ctx = args->ctx;
    kv->separator = (uint8_t)sep[0];
    kv->strict = !strict || strict->type != TB_BOOL || strict->as.b;
    *out_instance = kv;
    return TB_OK;
}

static void TB_CALL kv_destroy(void *instance) {
    kv_codec *kv = instance;
    kv->host->free(kv->ctx, kv);
}

/* ---------------------------------------------------------------------------------------
 * Decoding
 * ------------------------------------------------------------------------------------- */

/* The outcome of decoding one line: OK, a bad line (msg says why; only this event fails),
 * or out of memory (the whole batch fails). */
enum { LINE_OK = 0, LINE_BAD = 1, LINE_NOMEM = 2 };

/* Parses p[0..n) as -?[0-9]+ into *out; false if it is not that or does not fit. */
static bool parse_i64(const char *p, size_t n, int64_t *out) {
    size_t i = 0;
    bool neg = false;
    uint64_t acc = 0, limit;
    if (n > 0 && p[0] == '-') neg = true, i = 1;
    if (i == n) return false;
    /* accumulate the magnitude; INT64_MIN's magnitude is one more than INT64_MAX's */
    limit = neg ? (uint64_t)INT64_MAX + 1u : (uint64_t)INT64_MAX;
    for (; i < n; i++) {
        unsigned d;
        if (p[i] < '0' || p[i] > '9') return false;
        d = (unsigned)(p[i] - '0');
        if (acc > (limit - d) / 10u) return false;
        acc = acc * 10u + d;
    }
    if (!neg) *out = (int64_t)acc;
    else if (acc == (uint64_t)INT64_MAX + 1u) *out = INT64_MIN;
    else *out = -(int64_t)acc;
    return true;
}

/* The value of a bare (unquoted) token: bool, integer, or a string pointing into the
 * input. */
static tb_value bare_value(const char *p, size_t n) {
    int64_t i;
    if (n == 4 && memcmp(p, "true", 4) == 0) return tb_bool(true);
    if (n == 5 && memcmp(p, "false", 5) == 0) return tb_bool(false);
    if (parse_i64(p, n, &i)) return tb_i64(i);
    return tb_string(p, n); /* zero copy: the input outlives the batch's values */
}

/* Decodes the line s[0..len) into *rec. On LINE_BAD writes the reason, naming the byte
 * offset in the line, into msg. */
static int decode_line(const kv_codec *kv, tb_arena *arena, const char *s, size_t len,
                       tb_value *rec, char *msg, size_t msg_size) {
    const char sep = (char)kv->separator;
    size_t i = 0;
    *rec = tb_object();
    for (;;) {
        size_t key_start, key_end;
        tb_value *slot;

        while (i < len && s[i] == sep) i++; /* runs of separators count as one */
        if (i == len) return LINE_OK;

        /* the key: everything up to '=' (or, for a bare flag, up to the separator) */
        key_start = i;
        while (i < len && s[i] != '=' && s[i] != sep) i++;
        key_end = i;
        if (i == len || s[i] == sep) {
            /* a token without '=' */
            if (kv->strict) {
                snprintf(msg, msg_size, "kv: expected key=value at byte %zu, found '%.*s'",
                         key_start, (int)(key_end - key_start > 32 ? 32 : key_end - key_start),
                         s + key_start);
                return LINE_BAD;
            }
            /* tb_object_append does not copy the key: it points into the input */
            slot = tb_object_append(arena, rec, s + key_start, key_end - key_start);
            if (!slot) return LINE_NOMEM;
            *slot = tb_bool(true);
            continue;
        }
        if (key_end == key_start) {
            snprintf(msg, msg_size, "kv: empty key at byte %zu", key_start);
            return LINE_BAD;
        }
        i++; /* past '=' */

        slot = tb_object_append(arena, rec, s + key_start, key_end - key_start);
        if (!slot) return LINE_NOMEM;

        if (i < len && s[i] == '"') {
            /* a quoted string: find the closing quote, counting escapes on the way */
            size_t open = i, start = i + 1, escapes = 0, end;
            for (i = start; i < len && s[i] != '"'; i++) {
                if (s[i] != '\\') continue;
                if (i + 1 < len && (s[i + 1] == '"' || s[i + 1] == '\\')) {
                    escapes++;
                    i++; /* skip the escaped byte */
                    continue;
                }
                if (i + 1 == len) { /* a trailing backslash: unterminated, below */
                    i = len;
                    break;
                }
                snprintf(msg, msg_size, "kv: unknown escape '\\%c' at byte %zu", s[i + 1], i);
                return LINE_BAD;
            }
            if (i >= len) {
                snprintf(msg, msg_size, "kv: unterminated quoted value opened at byte %zu",
                         open);
                return LINE_BAD;
            }
            end = i++; /* s[end] is the closing quote */
            if (i < len && s[i] != sep) {
                snprintf(msg, msg_size,
                         "kv: expected a separator after the closing quote at byte %zu", i);
                return LINE_BAD;
            }
            if (escapes == 0) {
                *slot = tb_string(s + start, end - start); /* zero copy */
            } else {
                /* the only copy the decoder makes: the unescaped text, in the arena */
                size_t n = 0;
                char *out = tb_arena_alloc(arena, end - start - escapes, 1);
                if (!out) return LINE_NOMEM;
                for (size_t k = start; k < end; k++) {
                    if (s[k] == '\\') k++;
                    out[n++] = s[k];
                }
                *slot = tb_string(out, n);
            }
        } else {
            size_t start = i;
            while (i < len && s[i] != sep) i++;
            *slot = bare_value(s + start, i - start);
        }
    }
}

/* The codec contract: turn every TB_EF_RAW event of the batch into its value, in place,
 * and clear TB_EF_RAW. An event that does not decode is failed with tb_event_fail (its data
 * becomes {"error": msg, "data": <the input>} and it goes to the err port); the others go
 * on. Only an error that concerns the whole batch (out of memory) is returned. */
static int TB_CALL kv_decode(void *instance, tb_batch *batch) {
    const kv_codec *kv = instance;
    for (uint32_t i = 0; i < batch->count; i++) {
        tb_event *e = &batch->events[i];
        char msg[160];
        tb_value rec;
        int rc;
        if (!(e->flags & TB_EF_RAW)) continue; /* not ours: already a value */
        if (e->data.type != TB_BYTES && e->data.type != TB_STRING) {
            tb_event_fail(batch, e, "kv: raw event data is not bytes");
            continue;
        }
        /* bytes and strings share the (pointer, length) layout */
        rc = decode_line(kv, batch->arena, (const char *)e->data.as.bytes, e->data.len, &rec,
                         msg, sizeof msg);
        if (rc == LINE_NOMEM) return TB_ENOMEM;
        if (rc == LINE_BAD) {
            /* e->data still holds the input, which tb_event_fail keeps under "data" */
            if (!tb_event_fail(batch, e, msg)) return TB_ENOMEM;
            continue;
        }
        e->data = rec;
        e->flags &= (uint16_t)~TB_EF_RAW;
    }
    return TB_OK;
}

/* ---------------------------------------------------------------------------------------
 * Encoding
 * ------------------------------------------------------------------------------------- */

/* True when string s must be quoted to decode back as the same string: it is a run of
 * bytes that would end the token or start a quote, or it would read as a bool or an
 * integer. */
static bool needs_quotes(const kv_codec *kv, const char *s, size_t n) {
    int64_t ignored;
    for (size_t i = 0; i < n; i++)
        if (s[i] == ' ' || s[i] == '"' || s[i] == '=' || s[i] == (char)kv->separator)
            return true;
    return (n == 4 && memcmp(s, "true", 4) == 0) || (n == 5 && memcmp(s, "false", 5) == 0) ||
           parse_i64(s, n, &ignored);
}

/* Appends the text of scalar v to buf. Returns LINE_OK, LINE_BAD (msg set) or
 * LINE_NOMEM. */
static int encode_value(const kv_codec *kv, tb_buf *buf, const tb_member *m, char *msg,
                        size_t msg_size) {
    const tb_value *v = &m->value;
    char num[40];
    int n;
    switch (v->type) {
    case TB_NULL: return LINE_OK; /* `key=`: decodes back as the empty string */
    case TB_BOOL:
        return tb_buf_append(buf, v->as.b ? "true" : "false", v->as.b ? 4 : 5) ? LINE_OK
                                                                               : LINE_NOMEM;
    case TB_I64: n = snprintf(num, sizeof num, "%lld", (long long)v->as.i); break;
    case TB_U64: n = snprintf(num, sizeof num, "%llu", (unsigned long long)v->as.u); break;
    case TB_F64:
        /* the shortest of 15 or 17 digits that reads back as the same double */
        n = snprintf(num, sizeof num, "%.15g", v->as.f);
        if (strtod(num, NULL) != v->as.f) n = snprintf(num, sizeof num, "%.17g", v->as.f);
        break;
    case TB_STRING:
    case TB_BYTES: {
        const char *s = (const char *)v->as.bytes; /* same layout for both */
        size_t len = v->len, run = 0;
        if (!needs_quotes(kv, s, len))
            return tb_buf_append(buf, s, len) ? LINE_OK : LINE_NOMEM;
        if (!tb_buf_append(buf, "\"", 1)) return LINE_NOMEM;
        for (size_t i = 0; i < len; i++) {
            if (s[i] != '"' && s[i] != '\\') continue;
            /* flush the plain run before the byte, then the byte escaped */
            if (!tb_buf_append(buf, s + run, i - run) || !tb_buf_append(buf, "\\", 1))
                return LINE_NOMEM;
            run = i;
        }
        return tb_buf_append(buf, s + run, len - run) && tb_buf_append(buf, "\"", 1)
                   ? LINE_OK
                   : LINE_NOMEM;
    }
    default:
        snprintf(msg, msg_size, "kv: cannot encode the %s value of key '%.*s': only scalars fit",
                 v->type == TB_ARRAY ? "array" : "record",
                 (int)(m->key_len > 32 ? 32 : m->key_len), m->key);
        return LINE_BAD;
    }
    return n > 0 && tb_buf_append(buf, num, (size_t)n) ? LINE_OK : LINE_NOMEM;
}

/* Writes record rec as one line into buf. */
static int encode_record(const kv_codec *kv, tb_buf *buf, const tb_value *rec, char *msg,
                         size_t msg_size) {
    for (uint32_t i = 0; i < rec->len; i++) {
        const tb_member *m = &rec->as.members[i];
        int rc;
        /* keys are written bare, so they cannot hold what ends a key or a token */
        bool bad_key = m->key_len == 0;
        for (uint32_t k = 0; k < m->key_len && !bad_key; k++)
            bad_key = m->key[k] == '=' || m->key[k] == (char)kv->separator;
        if (bad_key) {
            snprintf(msg, msg_size, "kv: key '%.*s' cannot be written: it is empty or holds '=' "
                     "or the separator", (int)(m->key_len > 32 ? 32 : m->key_len), m->key);
            return LINE_BAD;
        }
        if ((i > 0 && !tb_buf_append(buf, &kv->separator, 1)) ||
            !tb_buf_append(buf, m->key, m->key_len) || !tb_buf_append(buf, "=", 1))
            return LINE_NOMEM;
        rc = encode_value(kv, buf, m, msg, msg_size);
        if (rc != LINE_OK) return rc;
    }
    return LINE_OK;
}

/* The codec contract: turn every event that is not TB_EF_RAW into bytes (TB_BYTES in the
 * batch's arena) and set TB_EF_RAW. Events that cannot be encoded fail on their own. */
static int TB_CALL kv_encode(void *instance, tb_batch *batch) {
    const kv_codec *kv = instance;
    for (uint32_t i = 0; i < batch->count; i++) {
        tb_event *e = &batch->events[i];
        char msg[160];
        tb_buf buf;
        int rc;
        if (e->flags & TB_EF_RAW) continue; /* already bytes */
        if (e->data.type != TB_OBJECT) {
            static const char *const names[] = {"null",   "bool",  "int",   "uint", "float",
                                                "string", "bytes", "array", "record"};
            snprintf(msg, sizeof msg, "kv: can only encode a record, found %s",
                     e->data.type <= TB_OBJECT ? names[e->data.type] : "an unknown type");
            if (!tb_event_fail(batch, e, msg)) return TB_ENOMEM;
            continue;
        }
        /* tb_buf grows in the arena, so the bytes live exactly as long as the batch */
        tb_buf_init(&buf, batch->arena);
        rc = encode_record(kv, &buf, &e->data, msg, sizeof msg);
        if (rc == LINE_NOMEM) return TB_ENOMEM;
        if (rc == LINE_BAD) {
            if (!tb_event_fail(batch, e, msg)) return TB_ENOMEM;
            continue;
        }
        e->data = tb_bytes(buf.data, buf.len); /* data is NULL for an empty record */
        e->flags |= TB_EF_RAW;
    }
    return TB_OK;
}

/* ---------------------------------------------------------------------------------------
 * What the plugin provides
 *
 * Everything from here on is static, constant data: the runtime copies it when it loads the
 * library, and tb_plugin_entry only returns a pointer to it (it must not allocate or call
 * the host). Each struct_size lets a newer runtime tell which fields this build knows.
 * ------------------------------------------------------------------------------------- */

static const tb_codec_vtable vtable = {
    .struct_size = sizeof(tb_codec_vtable),
    .create = kv_create,
    .destroy = kv_destroy,
    .decode = kv_decode,
    .encode = kv_encode,
};

static const tb_component component = {
    .struct_size = sizeof(tb_component),
    .kind = TB_KIND_CODEC,
    .name = "kv", /* what a pipeline names: codec "kv" */
    .description = "key=value pairs (logfmt) to a record and back",
    .options = options,
    .option_count = sizeof options / sizeof options[0],
    .vtable = &vtable,
};

static const tb_component *const components[] = {&component};

static const tb_plugin_descriptor descriptor = {
    TB_DESCRIPTOR_HEAD, /* magic, ABI version and struct_size, always first */
    /* no thread, no atexit, no thread-local destructor: the runtime may dlclose us */
    .flags = TB_PLUGIN_UNLOAD_SAFE,
    .name = "kv",
    .version = "0.1.0",
    .description = "Example plugin: the kv (logfmt) codec",
    .components = components,
    .component_count = sizeof components / sizeof components[0],
    /* no init/deinit: the codec keeps no state shared between its instances */
};

/* The one exported symbol. */
TB_PLUGIN_ENTRY(kv) { return &descriptor; }
