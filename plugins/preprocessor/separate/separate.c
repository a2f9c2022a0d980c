/*
 * separate.c - the `separate` preprocessor: splits a byte stream into records at a
 * separator byte (a newline by default), as Tremor's does.
 *
 * Records wholly inside one input chunk are slices of it (no copy). A record cut by a chunk
 * boundary is kept, per stream, in the instance's own buffer until its end arrives. A record
 * longer than max_length goes to the err port and the rest of it is skipped up to the next
 * separator, so one bad line cannot take the memory of the process.
 */
#include <temblor/temblor.h>

typedef struct separate {
    const tb_host_api *host;
    tb_context *ctx;
    uint8_t separator;
    uint64_t max_length; /* 0: unlimited */
    uint8_t *partial;    /* bytes of a record cut by the last chunk boundary */
    size_t partial_len, partial_cap;
    bool skipping;       /* dropping the rest of a record over max_length */
    uint32_t metric_overlong;
} separate;

static const tb_option options[] = {
    TB_OPTION("separator", TB_OPT_STRING, "\n", 0, "the byte that ends a record"),
    TB_OPTION("max_length", TB_OPT_UINT, "8388608", 0,
              "longest record in bytes; longer ones go to the err port (0: no limit)"),
};

static int TB_CALL create(const tb_create_args *args, void **out) {
    const tb_host_api *host = args->host;
    size_t sep_len;
    const char *sep = tb_value_str(tb_object_getz(args->config, "separator"), &sep_len);
    int64_t max_length = 0;
    if (!sep || sep_len != 1)
        return tb_fail(host, args->ctx, TB_EINVAL, "separator must be exactly one byte, found %zu",
                       sep_len);
    tb_value_as_i64(tb_object_getz(args->config, "max_length"), &max_length);
    separate *s = host->alloc(args->ctx, sizeof *s);
    if (!s) return TB_ENOMEM;
    memset(s, 0, sizeof *s);
    s->host = host;
    s->ctx = args->ctx;
    s->separator = (uint8_t)sep[0];
    s->max_length = (uint64_t)max_length;
    if (host->metric_register(args->ctx, "overlong_records", TB_METRIC_COUNTER,
                              &s->metric_overlong) != TB_OK)
        s->metric_overlong = UINT32_MAX;
    *out = s;
    return TB_OK;
}

static void TB_CALL destroy(void *instance) {
    separate *s = instance;
    s->host->free(s->ctx, s->partial);
    s->host->free(s->ctx, s);
}

/* Appends one output record derived from the input event src. */
static int emit(tb_batch *out, const tb_event *src, const void *p, size_t len) {
    tb_event *e = tb_batch_push(out);
    if (!e) return TB_ENOMEM;
    e->data = tb_bytes(p, len);
    e->meta = src->meta;
    e->id = src->id;
    e->ingest_ns = src->ingest_ns;
    e->stream = src->stream;
    e->source = src->source;
    e->flags = (uint16_t)((src->flags & ~TB_EF_STREAM_END) | TB_EF_RAW);
    return TB_OK;
}

static int overlong(separate *s, tb_batch *out, const tb_event *src) {
    char msg[128];
    snprintf(msg, sizeof msg, "separate: record longer than max_length (%llu bytes)",
             (unsigned long long)s->max_length);
    if (emit(out, src, NULL, 0) != TB_OK) return TB_ENOMEM;
    tb_event_fail(out, &out->events[out->count - 1], msg);
    if (s->metric_overlong != UINT32_MAX) s->host->metric_add(s->ctx, s->metric_overlong, 1);
    return TB_OK;
}

static bool keep_partial(separate *s, const uint8_t *p, size_t n) {
    if (s->partial_len + n > s->partial_cap) {
        size_t cap = s->partial_cap ? s->partial_cap : 256;
        while (cap < s->partial_len + n) cap *= 2;
        uint8_t *np = s->host->realloc(s->ctx, s->partial, cap);
        if (!np) return false;
        s->partial = np;
        s->partial_cap = cap;
    }
    memcpy(s->partial + s->partial_len, p, n);
    s->partial_len += n;
    return true;
}

static int process_chunk(separate *s, const tb_event *src, tb_batch *out) {
    const uint8_t *p = src->data.as.bytes, *end = p + src->data.len;
    while (p < end) {
        const uint8_t *nl = memchr(p, s->separator, (size_t)(end - p));
        if (!nl) {
            /* no end in this chunk: keep the bytes for the next one */
            if (s->skipping) return TB_OK;
            if (s->max_length && s->partial_len + (size_t)(end - p) > s->max_length) {
                s->partial_len = 0;
                s->skipping = true;
                return overlong(s, out, src);
            }
            return keep_partial(s, p, (size_t)(end - p)) ? TB_OK : TB_ENOMEM;
        }
        size_t len = (size_t)(nl - p);
        if (s->skipping) {
            s->skipping = false;
        } else if (s->max_length && s->partial_len + len > s->max_length) {
            s->partial_len = 0;
            if (overlong(s, out, src) != TB_OK) return TB_ENOMEM;
        } else if (s->partial_len) {
            /* join the kept head with this tail into the batch's arena */
            uint8_t *rec = tb_arena_alloc(out->arena, s->partial_len + len + 1, 1);
            if (!rec) return TB_ENOMEM;
            memcpy(rec, s->partial, s->partial_len);
            memcpy(rec + s->partial_len, p, len);
            if (emit(out, src, rec, s->partial_len + len) != TB_OK) return TB_ENOMEM;
            s->partial_len = 0;
        } else if (emit(out, src, p, len) != TB_OK) {
            return TB_ENOMEM;
        }
        p = nl + 1;
    }
    return TB_OK;
}

static int TB_CALL process(void *instance, const tb_batch *in, tb_batch *out) {
    separate *s = instance;
    for (uint32_t i = 0; i < in->count; i++) {
        const tb_event *e = &in->events[i];
        if (!(e->flags & TB_EF_RAW) || e->data.type != TB_BYTES) continue;
        int rc = process_chunk(s, e, out);
        if (rc) return rc;
    }
    return TB_OK;
}

static int TB_CALL finish(void *instance, tb_batch *out) {
    separate *s = instance;
    if (!s->partial_len) return TB_OK;
    /* the stream ended without a final separator: the rest is the last record */
    uint8_t *rec = (uint8_t *)tb_arena_dup(out->arena, s->partial, s->partial_len);
    if (!rec) return TB_ENOMEM;
    tb_event *e = tb_batch_push(out);
    if (!e) return TB_ENOMEM;
    e->data = tb_bytes(rec, s->partial_len);
    e->flags = TB_EF_RAW;
    s->partial_len = 0;
    return TB_OK;
}

static const tb_processor_vtable vtable = {
    .struct_size = sizeof(tb_processor_vtable),
    .create = create,
    .destroy = destroy,
    .process = process,
    .finish = finish,
};

static const tb_component component = {
    .struct_size = sizeof(tb_component),
    .kind = TB_KIND_PREPROCESSOR,
    .name = "separate",
    .description = "splits a byte stream into records at a separator byte",
    .options = options,
    .option_count = sizeof options / sizeof options[0],
    .vtable = &vtable,
};

static const tb_component *const components[] = {&component};

static const tb_plugin_descriptor descriptor = {
    TB_DESCRIPTOR_HEAD,
    .flags = TB_PLUGIN_UNLOAD_SAFE,
    .name = "separate",
    .version = "0.1.0",
    .description = "The separate preprocessor",
    .components = components,
    .component_count = 1,
};

TB_PLUGIN_ENTRY(separate) { return &descriptor; }
