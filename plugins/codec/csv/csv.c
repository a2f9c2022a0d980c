/*
 * csv.c - the `csv` codec: one RFC 4180 CSV record per event, with Tremor 0.13's semantics.
 *
 * Decode: the event's bytes are one line (a preprocessor split the stream); it becomes an
 * array of strings, one per field, every field a string ("1234567" stays text). Quoted
 * fields may hold commas, line breaks and "" (an escaped quote). Like Tremor (the Rust csv
 * reader), the record ends at the first line break outside quotes and whatever follows is
 * discarded; a quote inside an unquoted field is kept literally. Fields without "" escapes
 * point INTO the input bytes (zero copy); fields with escapes are unescaped into the batch
 * arena. Empty input is the empty array (Tremor would drop the event; the codec interface
 * decodes in place). Failures, with tb_event_fail and "csv codec: <reason> at byte
 * <offset>": an unterminated quoted field, a character after a closing quote other than
 * ',' or the line end, invalid UTF-8.
 * Encode: an array becomes one line without a line terminator (Tremor strips it; a
 * postprocessor adds the separator): strings as they are, every other value as its JSON
 * text (via the host extension temblor.json/1), a field quoted (with "" for quotes) when it
 * holds ',', '"', CR or LF, or when it is the only field and empty. Anything but an array
 * fails the event.
 *
 * Ownership: the instance (host->alloc) holds only the host, its context and the host's
 * JSON table; every value and output byte belongs to the batch arena.
 * Thread contract: create/destroy on the control thread; decode/encode of one instance on
 * one thread at a time. No global mutable state.
 */
#include <temblor/temblor.h>

typedef struct codec {
    const tb_host_api *host;
    tb_context *ctx;
    const tb_ext_json *json;
} codec;

/* ---------------------------------------------------------------------------------------
 * Decoding
 * ------------------------------------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at p[i] (a byte >= 0x80), or 0 if it is not valid. */
static size_t utf8_seq(const uint8_t *p, size_t n, size_t i) {
    uint8_t c0 = p[i];
    size_t len;
    if (c0 >= 0xC2 && c0 <= 0xDF) len = 2;
    else if (c0 >= 0xE0 && c0 <= 0xEF) len = 3;
    else if (c0 >= 0xF0 && c0 <= 0xF4) len = 4;
    else return 0;
    if (n - i < len) return 0;
    for (size_t k = 1; k < len; k++)
        if ((p[i + k] & 0xC0) != 0x80) return 0;
    if (c0 == 0xE0 && p[i + 1] < 0xA0) return 0;
    if (c0 == 0xED && p[i + 1] > 0x9F) return 0;
    if (c0 == 0xF0 && p[i + 1] < 0x90) return 0;
    if (c0 == 0xF4 && p[i + 1] > 0x8F) return 0;
    return len;
}

typedef struct parse_err {
    size_t pos;
    char msg[80];
} parse_err;

/* Parses the record in p[0..n) into *out; TB_EINVAL with *pe, or TB_ENOMEM. */
static int parse_record(tb_arena *arena, const uint8_t *p, size_t n, tb_value *out,
                        parse_err *pe) {
    tb_value arr = tb_array();
    size_t i = 0;
    if (n == 0) {
        *out = arr;
        return TB_OK;
    }
    for (;;) {
        tb_value field;
        tb_value *slot;
        if (i < n && p[i] == '"') {
            size_t open = i, start = i + 1, quotes = 0;
            i = start;
            for (;;) {
                if (i >= n) {
                    pe->pos = open;
                    snprintf(pe->msg, sizeof pe->msg, "unterminated quoted field");
                    return TB_EINVAL;
                }
                if (p[i] == '"') {
                    if (i + 1 < n && p[i + 1] == '"') {
                        quotes++;
                        i += 2;
                        continue;
                    }
                    break;
                }
                if (p[i] >= 0x80) {
                    size_t l = utf8_seq(p, n, i);
                    if (!l) {
                        pe->pos = i;
                        snprintf(pe->msg, sizeof pe->msg, "invalid UTF-8");
                        return TB_EINVAL;
                    }
                    i += l;
                } else {
                    i++;
                }
            }
            /* p[i] is the closing quote */
            if (!quotes) {
                field = tb_string((const char *)p + start, i - start);
            } else {
                size_t len = i - start - quotes, w = 0;
                char *o = tb_arena_alloc(arena, len ? len : 1, 1);
                if (!o) return TB_ENOMEM;
                for (size_t k = start; k < i; k++) {
                    o[w++] = (char)p[k];
                    if (p[k] == '"') k++;
                }
                field = tb_string(o, len);
            }
            i++;
            if (i < n && p[i] != ',' && p[i] != '\n' && p[i] != '\r') {
                pe->pos = i;
                if (p[i] > 0x20 && p[i] < 0x7f)
                    snprintf(pe->msg, sizeof pe->msg,
                             "unexpected character '%c' after a quoted field", (char)p[i]);
                else
                    snprintf(pe->msg, sizeof pe->msg,
                             "unexpected byte 0x%02x after a quoted field", (unsigned)p[i]);
                return TB_EINVAL;
            }
        } else {
            size_t start = i;
            while (i < n && p[i] != ',' && p[i] != '\n' && p[i] != '\r') {
                if (p[i] >= 0x80) {
                    size_t l = utf8_seq(p, n, i);
                    if (!l) {
                        pe->pos = i;
                        snprintf(pe->msg, sizeof pe->msg, "invalid UTF-8");
                        return TB_EINVAL;
                    }
                    i += l;
                } else {
                    i++;
                }
            }
            field = tb_string((const char *)p + start, i - start);
        }
        if (!(slot = tb_array_push(arena, &arr))) return TB_ENOMEM;
        *slot = field;
        if (i < n && p[i] == ',') {
            i++;
            continue;
        }
        break; /* end of input or of the line: the rest is discarded */
    }
    *out = arr;
    return TB_OK;
}

static int TB_CALL decode(void *instance, tb_batch *batch) {
    (void)instance;
    for (uint32_t ei = 0; ei < batch->count; ei++) {
        tb_event *e = &batch->events[ei];
        parse_err pe = {0, ""};
        tb_value v;
        int rc;
        if (!(e->flags & TB_EF_RAW)) continue;
        if (e->data.type != TB_BYTES) {
            if (!tb_event_fail(batch, e, "csv codec: raw event data is not bytes"))
                return TB_ENOMEM;
            continue;
        }
        rc = parse_record(batch->arena, e->data.len ? e->data.as.bytes : (const uint8_t *)"",
                          e->data.len, &v, &pe);
        if (rc == TB_OK) {
            e->data = v;
            e->flags &= (uint16_t)~TB_EF_RAW;
            continue;
        }
        if (rc == TB_ENOMEM) return TB_ENOMEM;
        if (!tb_event_failf(batch, e, "csv codec: %s at byte %zu", pe.msg, pe.pos))
            return TB_ENOMEM;
    }
    return TB_OK;
}

/* ---------------------------------------------------------------------------------------
 * Encoding
 * ------------------------------------------------------------------------------------- */

static bool put_field(tb_buf *b, const uint8_t *s, size_t len, bool only) {
    bool quote = only && len == 0;
    for (size_t k = 0; k < len && !quote; k++)
        quote = s[k] == ',' || s[k] == '"' || s[k] == '\r' || s[k] == '\n';
    if (!quote) return tb_buf_append(b, s, len);
    if (!tb_buf_append(b, "\"", 1)) return false;
    for (size_t k = 0; k < len;) {
        size_t run = k;
        while (run < len && s[run] != '"') run++;
        if (!tb_buf_append(b, s + k, run - k)) return false;
        if (run == len) break;
        if (!tb_buf_append(b, "\"\"", 2)) return false;
        k = run + 1;
    }
    return tb_buf_append(b, "\"", 1);
}

static int write_record(codec *c, tb_buf *b, const tb_value *arr) {
    for (uint32_t k = 0; k < arr->len; k++) {
        const tb_value *it = &arr->as.items[k];
        bool only = arr->len == 1;
        if (k && !tb_buf_append(b, ",", 1)) return TB_ENOMEM;
        if (it->type == TB_STRING) {
            if (!put_field(b, (const uint8_t *)it->as.s, it->len, only)) return TB_ENOMEM;
        } else {
            /* the JSON text, written after the record so far, then moved into place */
            tb_buf tmp;
            int rc;
            tb_buf_init(&tmp, b->arena);
            rc = c->json->write(it, &tmp);
            if (rc) return rc;
            if (!put_field(b, tmp.data, tmp.len, only)) return TB_ENOMEM;
        }
    }
    return TB_OK;
}

static int TB_CALL encode(void *instance, tb_batch *batch) {
    codec *c = instance;
    for (uint32_t ei = 0; ei < batch->count; ei++) {
        tb_event *e = &batch->events[ei];
        tb_buf buf;
        int rc;
        if (e->flags & TB_EF_RAW) continue;
        if (e->data.type != TB_ARRAY) {
            if (!tb_event_failf(batch, e,
                                "csv codec: only an array can be encoded as a CSV record, "
                                "not a value of type %s",
                                tb_type_name(e->data.type)))
                return TB_ENOMEM;
            continue;
        }
        tb_buf_init(&buf, batch->arena);
        rc = write_record(c, &buf, &e->data);
        if (rc == TB_ENOMEM) return TB_ENOMEM;
        if (rc) {
            if (!tb_event_fail(batch, e, "csv codec: a field could not be written as JSON"))
                return TB_ENOMEM;
            continue;
        }
        e->data = tb_bytes(buf.data ? buf.data : (const uint8_t *)"", buf.len);
        e->flags |= TB_EF_RAW;
    }
    return TB_OK;
}

/* ---------------------------------------------------------------------------------------
 * Instances and the descriptor
 * ------------------------------------------------------------------------------------- */

static int TB_CALL create(const tb_create_args *args, void **out) {
    const tb_ext_json *json = args->host->get_extension(args->ctx, TB_EXT_JSON);
    codec *c;
    if (!json || !TB_HAS_FIELD(json, tb_ext_json, write))
        return tb_fail(args->host, args->ctx, TB_ENOTSUP,
                       "csv codec: the host does not provide %s", TB_EXT_JSON);
    c = args->host->alloc(args->ctx, sizeof *c);
    if (!c) return TB_ENOMEM;
    c->host = args->host;
    c->ctx = args->ctx;
    c->json = json;
    *out = c;
    return TB_OK;
}

static void TB_CALL destroy(void *instance) {
    codec *c = instance;
    c->host->free(c->ctx, c);
}

static const tb_codec_vtable vtable = {
    .struct_size = sizeof(tb_codec_vtable),
    .create = create,
    .destroy = destroy,
    .decode = decode,
    .encode = encode,
};

static const tb_component component = {
    .struct_size = sizeof(tb_component),
    .kind = TB_KIND_CODEC,
    .name = "csv",
    .description = "CSV (RFC 4180): one record per event, as an array of strings",
    .vtable = &vtable,
};

static const tb_component *const components[] = {&component};

static const tb_plugin_descriptor descriptor = {
    TB_DESCRIPTOR_HEAD,
    .flags = TB_PLUGIN_UNLOAD_SAFE,
    .name = "csv",
    .version = "0.1.0",
    .description = "The csv codec",
    .components = components,
    .component_count = 1,
};

TB_PLUGIN_ENTRY(csv) { return &descriptor; }
