/*
 * binary.c - the `binary` codec: raw octets as a bytes value and back (Tremor's `binary`).
 *
 * Decode leaves the input as it is: the event's data stays the TB_BYTES value pointing at
 * the input (zero copy, no validation) and TB_EF_RAW is cleared. Encode, as Tremor's codec
 * does: a bytes value is written as it is, a string as its UTF-8 octets (both zero copy);
 * any other value is written as JSON through the host's "temblor.json/1" extension, and
 * when the host offers none the event fails to the err port ("binary codec: cannot encode
 * a <type> value as bytes").
 *
 * Ownership: the instance (host->alloc) holds only the host, context and extension
 * pointers; every value belongs to the batch arena, and output points into it.
 * Thread contract: create/destroy on the control thread; decode/encode of one instance on
 * one thread at a time. The instance is never written after create.
 */
#include <temblor/temblor.h>

typedef struct codec {
    const tb_host_api *host;
    tb_context *ctx;
    const tb_ext_json *json; /* NULL if the runtime offers none */
} codec;

static const char *type_name(uint8_t t) {
    static const char *const names[] = {"null",   "bool",  "int",   "uint",  "float",
                                        "string", "bytes", "array", "object"};
    return t < sizeof names / sizeof names[0] ? names[t] : "unknown";
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
        if (e->data.type != TB_BYTES) {
            if (!tb_event_fail(batch, e, "binary codec: raw event data is not bytes"))
                return TB_ENOMEM;
            continue;
        }
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
            if (!c->json) {
                if (!tb_event_failf(batch, e, "binary codec: cannot encode a %s value as bytes",
                                    type_name(e->data.type)))
                    return TB_ENOMEM;
                continue;
            }
            tb_buf_init(&buf, batch->arena);
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
    .name = "binary",
    .description = "raw octets as a bytes value; strings as their octets, other values as JSON",
    .vtable = &vtable,
};

static const tb_component *const components[] = {&component};

static const tb_plugin_descriptor descriptor = {
    TB_DESCRIPTOR_HEAD,
    .flags = TB_PLUGIN_UNLOAD_SAFE,
    .name = "binary",
    .version = "0.1.0",
    .description = "The binary codec",
    .components = components,
    .component_count = 1,
};

TB_PLUGIN_ENTRY(binary) { return &descriptor; }
