/*
 * length_prefixed.c - the `length-prefixed` preprocessor, as Tremor's: splits a byte stream
 * into frames, each an unsigned 64-bit big-endian length followed by that many bytes (what the
 * `length-prefixed` postprocessor writes). A length above what one event can hold (4 GiB) is
 * refused like an over-long frame.
 *
 * State is per stream (one instance per stream): a frame or a length prefix cut by a chunk
 * boundary is kept in the instance's own memory (host->alloc) until the rest arrives. Frames
 * wholly inside one chunk are slices of it (no copy). A frame longer than max_length goes to
 * the err port and its bytes are skipped (the length is known, so framing is kept), so one
 * bad length cannot take the memory of the process. A stream that ends inside a frame or a
 * prefix (finish) yields one err event carrying the bytes it had. Zero-length frames are
 * empty events (chain `remove_empty` to drop them).
 *
 * Ownership: the instance and its partial buffer are the plugin's until destroy; output is
 * in the batch's arena or points into the input bytes (in->arena is out->arena).
 * Thread contract: create/destroy on the control (or stream) thread; process and finish on
 * the instance's thread, one call at a time. No shared state between instances.
 */
#include <temblor/temblor.h>

#define PREFIX 8 /* bytes of the big-endian length */

typedef struct lp_pre {
    const tb_host_api *host;
    tb_context *ctx;
    uint64_t max_length; /* 0: no limit other than an event's 4 GiB */
    uint8_t prefix[PREFIX]; /* a length prefix cut by a chunk boundary */
    size_t prefix_len;   /* 0..7 while reading a prefix; PREFIX while reading a body */
    uint64_t need;       /* length of the body being read (prefix_len == PREFIX) */
    uint64_t skip;       /* bytes of an over-long body still to be dropped */
    uint8_t *partial;    /* body bytes cut by a chunk boundary */
    size_t partial_len, partial_cap;
    uint32_t metric_overlong;
} lp_pre;

static const tb_option options[] = {
    TB_OPTION("max_length", TB_OPT_UINT, "8388608", 0,
              "longest frame in bytes; longer ones go to the err port and are skipped "
              "(0: no limit)"),
};

static int TB_CALL create(const tb_create_args *args, void **out) {
    lp_pre *s = args->host->alloc(args->ctx, sizeof *s);
    if (!s) return TB_ENOMEM;
    memset(s, 0, sizeof *s);
    s->host = args->host;
    s->ctx = args->ctx;
    s->max_length = tb_config_u64(args->config, "max_length", 8388608);
    if (s->host->metric_register(s->ctx, "overlong_frames", TB_METRIC_COUNTER,
                                 &s->metric_overlong) != TB_OK)
        s->metric_overlong = UINT32_MAX;
    *out = s;
    return TB_OK;
}

static void TB_CALL destroy(void *instance) {
    lp_pre *s = instance;
    s->host->free(s->ctx, s->partial);
    s->host->free(s->ctx, s);
}

/* Appends one output frame derived from the input event src. */
static tb_event *emit(tb_batch *out, const tb_event *src, const void *p, size_t len) {
    tb_event *e = tb_batch_push(out);
    if (!e) return NULL;
    *e = *src;
    e->data = tb_bytes(p, len);
    e->flags = (uint16_t)((src->flags & ~TB_EF_STREAM_END) | TB_EF_RAW);
    return e;
}

static bool keep_partial(lp_pre *s, const uint8_t *p, size_t n) {
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

static int process_chunk(lp_pre *s, const tb_event *src, tb_batch *out) {
    const uint8_t *p = src->data.as.bytes, *end = p + src->data.len;
    while (p < end) {
        size_t avail = (size_t)(end - p);
        if (s->skip) {
            size_t n = avail < s->skip ? avail : s->skip;
            s->skip -= n;
            p += n;
            continue;
        }
        if (s->prefix_len < PREFIX) {
            size_t n = PREFIX - s->prefix_len;
            if (n > avail) n = avail;
            memcpy(s->prefix + s->prefix_len, p, n);
            s->prefix_len += n;
            p += n;
            if (s->prefix_len < PREFIX) return TB_OK; /* the rest of the prefix comes later */
            s->need = 0;
            for (int k = 0; k < PREFIX; k++) s->need = s->need << 8 | s->prefix[k];
            if ((s->max_length && s->need > s->max_length) || s->need > UINT32_MAX) {
                tb_event *e = emit(out, src, NULL, 0);
                if (!e) return TB_ENOMEM;
                bool limit = s->max_length && s->need > s->max_length;
                if (!(limit ? tb_event_failf(out, e,
                                             "length-prefixed: frame of %llu bytes is longer than "
                                             "max_length (%llu bytes)",
                                             (unsigned long long)s->need, (unsigned long long)s->max_length)
                            : tb_event_failf(out, e,
                                             "length-prefixed: frame of %llu bytes is larger than an event "
                                             "can hold",
                                             (unsigned long long)s->need)))
                    return TB_ENOMEM;
                if (s->metric_overlong != UINT32_MAX)
                    s->host->metric_add(s->ctx, s->metric_overlong, 1);
                s->skip = s->need;
                s->prefix_len = 0;
                continue;
            }
            if (s->need == 0) {
                /* an empty frame: nothing to wait for */
                if (!emit(out, src, p, 0)) return TB_ENOMEM;
                s->prefix_len = 0;
                continue;
            }
            avail = (size_t)(end - p);
            if (!avail) return TB_OK;
        }
        /* reading a body of s->need bytes, s->partial_len of which are kept */
        size_t want = s->need - s->partial_len;
        if (avail < want) return keep_partial(s, p, avail) ? TB_OK : TB_ENOMEM;
        if (s->partial_len) {
            /* join the kept head with this tail into the batch's arena */
            uint8_t *rec = tb_arena_alloc(out->arena, s->need, 1);
            if (!rec) return TB_ENOMEM;
            memcpy(rec, s->partial, s->partial_len);
            memcpy(rec + s->partial_len, p, want);
            if (!emit(out, src, rec, s->need)) return TB_ENOMEM;
            s->partial_len = 0;
        } else if (!emit(out, src, p, want)) {
            return TB_ENOMEM;
        }
        p += want;
        s->prefix_len = 0;
    }
    return TB_OK;
}

static int TB_CALL process(void *instance, const tb_batch *in, tb_batch *out) {
    lp_pre *s = instance;
    for (uint32_t i = 0; i < in->count; i++) {
        const tb_event *src = &in->events[i];
        if (!(src->flags & TB_EF_RAW)) {
            /* not ours (an error event, say): passed on untouched */
            tb_event *e = tb_batch_push(out);
            if (!e) return TB_ENOMEM;
            *e = *src;
            continue;
        }
        if (src->data.type != TB_BYTES) {
            tb_event *e = tb_batch_push(out);
            if (!e) return TB_ENOMEM;
            *e = *src;
            if (!tb_event_failf(out, e, "length-prefixed: event data is %s, not bytes",
                                tb_type_name(src->data.type)))
                return TB_ENOMEM;
            continue;
        }
        int rc = process_chunk(s, src, out);
        if (rc) return rc;
    }
    return TB_OK;
}

static int TB_CALL finish(void *instance, tb_batch *out) {
    lp_pre *s = instance;
    const char *what;
    size_t have, of;
    const uint8_t *bytes;
    if (s->skip) {
        /* the stream ended inside an over-long frame: already reported */
        s->skip = 0;
        s->prefix_len = 0;
        return TB_OK;
    }
    if (s->prefix_len == 0) return TB_OK;
    if (s->prefix_len < PREFIX) {
        what = "length prefix";
        have = s->prefix_len;
        of = PREFIX;
        bytes = s->prefix;
    } else {
        what = "frame";
        have = s->partial_len;
        of = s->need;
        bytes = s->partial;
    }
    uint8_t *copy = (uint8_t *)tb_arena_dup(out->arena, bytes, have);
    if (!copy) return TB_ENOMEM;
    tb_event *e = tb_batch_push(out);
    if (!e) return TB_ENOMEM;
    e->data = tb_bytes(copy, have);
    e->flags = TB_EF_RAW;
    if (!tb_event_failf(out, e, "length-prefixed: stream ended inside a %s: %zu of %zu bytes",
                        what, have, of))
        return TB_ENOMEM;
    s->prefix_len = 0;
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
    .name = "length-prefixed",
    .description = "splits a byte stream into frames of an 8-byte big-endian length and body "
                   "(Tremor's length-prefixed)",
    .options = options,
    .option_count = sizeof options / sizeof options[0],
    .vtable = &vtable,
};

static const tb_component *const components[] = {&component};

static const tb_plugin_descriptor descriptor = {
    TB_DESCRIPTOR_HEAD,
    .flags = TB_PLUGIN_UNLOAD_SAFE,
    .name = "length-prefixed",
    .version = "0.1.0",
    .description = "The length_prefixed preprocessor",
    .components = components,
    .component_count = 1,
};

TB_PLUGIN_ENTRY(length_prefixed) { return &descriptor; }
