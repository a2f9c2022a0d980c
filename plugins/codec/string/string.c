/*
 * string.c - the `string` codec: bytes to a UTF-8 string value and back.
 *
 * Decode points the string at the input bytes (no copy) after checking they are UTF-8;
 * bytes that are not go to the err port. Encode writes a string's bytes as they are, a bytes
 * value as is, and any other value as JSON through the host's "temblor.json/1" extension.
 */
#include <temblor/temblor.h>

typedef struct codec {
    const tb_host_api *host;
    tb_context *ctx;
    const tb_ext_json *json; /* NULL if the runtime offers none */
} codec;

/* Returns the offset of the first byte that is not valid UTF-8, or len. */
static size_t utf8_valid_prefix(const uint8_t *s, size_t len) {
    size_t i = 0;
    while (i < len) {
        uint8_t c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t n;
        uint32_t cp;
        if (c >= 0xC2 && c <= 0xDF) n = 2, cp = c & 0x1Fu;
        else if (c >= 0xE0 && c <= 0xEF) n = 3, cp = c & 0x0Fu;
        else if (c >= 0xF0 && c <= 0xF4) n = 4, cp = c & 0x07u;
        else return i;
        if (len - i < n) return i;
        for (size_t k = 1; k < n; k++) {
            if ((s[i + k] & 0xC0) != 0x80) return i;
            cp = (cp << 6) | (s[i + k] & 0x3Fu);
        }
        if ((n == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
            (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
            return i;
        i += n;
    }
    return len;
}

static int TB_CALL create(const tb_create_args *args, void **out) {
    codec *c = args->host->alloc(args->ctx, sizeof *c);
    if (!c) return TB_ENOMEM;
    c->host = args->host;
    c->ctx = args->ctx;
    c->json = args->host->get_extension(args->ctx, TB_EXT_JSON);
    *out = c;
    return TB_OK;
}

static void TB_CALL destroy(void *instance) {
    codec *c = instance;
    c->host->free(c->ctx, c);
}

static int TB_CALL decode(void *instance, tb_batch *batch) {
    (void)instance;
    for (uint32_t i = 0; i < batch->count; i++) {
        tb_event *e = &batch->events[i];
        if (!(e->flags & TB_EF_RAW)) continue;
        size_t ok = utf8_valid_prefix(e->data.as.bytes, e->data.len);
        if (ok != e->data.len) {
            char msg[96];
            snprintf(msg, sizeof msg, "string codec: invalid UTF-8 at byte %zu", ok);
            tb_event_fail(batch, e, msg);
            continue;
        }
        e->data = tb_string((const char *)e->data.as.bytes, e->data.len);
        e->flags &= (uint16_t)~TB_EF_RAW;
    }
    return TB_OK;
}

static int TB_CALL encode(void *instance, tb_batch *batch) {
    codec *c = instance;
    for (uint32_t i = 0; i < batch->count; i++) {
        tb_event *e = &batch->events[i];
        if (e->flags & TB_EF_RAW) continue;
        if (e->data.type == TB_STRING) {
            e->data = tb_bytes(e->data.as.s, e->data.len);
        } else if (e->data.type != TB_BYTES) {
            tb_buf buf;
            tb_buf_init(&buf, batch->arena);
            if (!c->json) {
                tb_event_fail(batch, e, "string codec: only strings can be encoded here");
                continue;
            }
            if (c->json->write(&e->data, &buf) != TB_OK) return TB_ENOMEM;
            e->data = tb_bytes(buf.data, buf.len);
        }
        e->flags |= TB_EF_RAW;
    }
    return TB_OK;
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
    .name = "string",
    .description = "UTF-8 text as a string value; other values are encoded as JSON",
    .vtable = &vtable,
};

static const tb_component *const components[] = {&component};

static const tb_plugin_descriptor descriptor = {
    TB_DESCRIPTOR_HEAD,
    .flags = TB_PLUGIN_UNLOAD_SAFE,
    .name = "string",
    .version = "0.1.0",
    .description = "The string codec",
    .components = components,
    .component_count = 1,
};

TB_PLUGIN_ENTRY(string) { return &descriptor; }
