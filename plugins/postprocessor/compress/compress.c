/*
 * compress.c - the `compress` postprocessor: compresses each event's bytes into one
 * self-contained compressed unit, as Tremor 0.13's compress postprocessor does.
 *
 * Algorithms (option `algorithm`, required): gzip, zlib, xz (alias xz2, Tremor's name), zstd,
 * lz4 (the LZ4 frame format, magic 04 22 4D 18, like Tremor's lz4 crate) and snappy (the
 * snappy framing format with its "sNaPpY" stream identifier and masked CRC-32C per chunk,
 * like Tremor's snap::write::FrameEncoder). Option `level` where the library has levels:
 * gzip/zlib 0..9 (default: zlib's), xz 0..9 (default 6), zstd -7..22 (default 0, the
 * library's), lz4 >= 0 (default 4); snappy has none and refuses one.
 *
 * Ownership: the instance (and the library contexts it reuses from event to event) is
 * allocated with host->alloc, or by the compression libraries' own allocators, and freed in
 * destroy. Output bytes are written into the batch's arena; nothing of a batch is kept.
 *
 * Thread contract: one instance per stream; create/destroy on the control thread, process on
 * the stream's thread, never concurrently for one instance. Instances share no state.
 */
#include <temblor/temblor.h>

#include <lz4frame.h>
#include <lzma.h>
#include <snappy-c.h>
#include <zlib.h>
#include <zstd.h>

enum { ALG_GZIP, ALG_ZLIB, ALG_XZ, ALG_ZSTD, ALG_LZ4, ALG_SNAPPY };

static const char *const alg_names[] = {"gzip", "zlib", "xz", "zstd", "lz4", "snappy"};

#define SNAPPY_BLOCK 65536u

typedef struct compressor {
    const tb_host_api *host;
    tb_context *ctx;
    int alg;
    int level;
    bool z_ready;      /* z is initialised (gzip, zlib) */
    z_stream z;
    ZSTD_CCtx *zstd;
    LZ4F_cctx *lz4;
    lzma_stream xz;
    uint32_t crc_table[256]; /* CRC-32C (Castagnoli), for snappy framing */
    uint32_t metric_failed;
} compressor;

static const tb_option options[] = {
    TB_OPTION("algorithm", TB_OPT_STRING, NULL, TB_OPT_REQUIRED,
              "gzip, zlib, xz (or xz2), zstd, lz4 (frame format) or snappy (framing format)"),
    TB_OPTION("level", TB_OPT_INT, NULL, 0,
              "compression level: gzip/zlib 0..9, xz 0..9, zstd -7..22, lz4 >= 0; "
              "absent: the algorithm's default; snappy has none"),
};

static void crc32c_init(uint32_t *table) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        table[i] = c;
    }
}

static uint32_t snappy_masked_crc(const uint32_t *table, const uint8_t *p, size_t n) {
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) c = table[(c ^ p[i]) & 0xFF] ^ (c >> 8);
    c ^= 0xFFFFFFFFu;
    return ((c >> 15) | (c << 17)) + 0xA282EAD8u;
}

static void put_le24(uint8_t *p, size_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
}

static void put_le32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static int parse_algorithm(const char *s, size_t n) {
    for (int i = 0; i < (int)(sizeof alg_names / sizeof alg_names[0]); i++)
        if (strlen(alg_names[i]) == n && memcmp(alg_names[i], s, n) == 0) return i;
    if (n == 3 && memcmp(s, "xz2", 3) == 0) return ALG_XZ;
    return -1;
}

static void TB_CALL destroy(void *instance) {
    compressor *c = instance;
    if (!c) return;
    if (c->z_ready) deflateEnd(&c->z);
    ZSTD_freeCCtx(c->zstd);
    if (c->lz4) LZ4F_freeCompressionContext(c->lz4);
    lzma_end(&c->xz);
    c->host->free(c->ctx, c);
}

static int TB_CALL create(const tb_create_args *args, void **out) {
    const tb_host_api *host = args->host;
    size_t n = 0;
    const char *name = tb_config_str(args->config, "algorithm", NULL, &n);
    if (!name) return tb_fail(host, args->ctx, TB_EINVAL, "compress: algorithm is required");
    int alg = parse_algorithm(name, n);
    if (alg < 0)
        return tb_fail(host, args->ctx, TB_EINVAL,
                       "compress: unknown compression algorithm '%.*s' (expected gzip, zlib, "
                       "xz, zstd, lz4 or snappy)",
                       (int)(n > 64 ? 64 : n), name);
    const tb_value *lv = tb_object_getz(args->config, "level");
    bool has_level = lv && lv->type != TB_NULL;
    int64_t level = 0;
    if (has_level && !tb_value_as_i64(lv, &level))
        return tb_fail(host, args->ctx, TB_EINVAL, "compress: level must be an integer");
    switch (alg) {
    case ALG_GZIP:
    case ALG_ZLIB:
        if (!has_level) level = Z_DEFAULT_COMPRESSION;
        else if (level < 0 || level > 9)
            return tb_fail(host, args->ctx, TB_EINVAL,
                           "compress: %s supports compression levels 0 to 9 but %lld was given",
                           alg_names[alg], (long long)level);
        break;
    case ALG_XZ:
        if (!has_level) level = 6;
        else if (level < 0 || level > 9)
            return tb_fail(host, args->ctx, TB_EINVAL,
                           "compress: xz supports compression levels 0 to 9 but %lld was given",
                           (long long)level);
        break;
    case ALG_ZSTD:
        if (!has_level) level = 0;
        else if (level < -7 || level > 22)
            return tb_fail(host, args->ctx, TB_EINVAL,
                           "compress: zstd supports compression levels -7 to 22 but %lld was "
                           "given",
                           (long long)level);
        break;
    case ALG_LZ4:
        if (!has_level) level = 4;
        else if (level < 0)
            return tb_fail(host, args->ctx, TB_EINVAL,
                           "compress: lz4 compression level cannot be less than 0 but %lld was "
                           "given",
                           (long long)level);
        if (level > LZ4F_compressionLevel_max()) level = LZ4F_compressionLevel_max();
        break;
    default: /* snappy */
        if (has_level)
            return tb_fail(host, args->ctx, TB_EINVAL,
                           "compress: compression level not supported for snappy");
        break;
    }

    compressor *c = host->alloc(args->ctx, sizeof *c);
    if (!c) return TB_ENOMEM;
    memset(c, 0, sizeof *c);
    c->host = host;
    c->ctx = args->ctx;
    c->alg = alg;
    c->level = (int)level;
    lzma_stream init = LZMA_STREAM_INIT;
    c->xz = init;

    switch (alg) {
    case ALG_GZIP:
    case ALG_ZLIB:
        /* gzip: window bits + 16 writes the gzip header and trailer */
        if (deflateInit2(&c->z, c->level, Z_DEFLATED, alg == ALG_GZIP ? 15 + 16 : 15, 8,
                         Z_DEFAULT_STRATEGY) != Z_OK) {
            destroy(c);
            return tb_fail(host, args->ctx, TB_ENOMEM, "compress: %s: cannot initialise zlib",
                           alg_names[alg]);
        }
        c->z_ready = true;
        break;
    case ALG_ZSTD:
        c->zstd = ZSTD_createCCtx();
        if (!c->zstd) {
            destroy(c);
            return TB_ENOMEM;
        }
        break;
    case ALG_LZ4:
        if (LZ4F_isError(LZ4F_createCompressionContext(&c->lz4, LZ4F_VERSION))) {
            c->lz4 = NULL;
            destroy(c);
            return TB_ENOMEM;
        }
        break;
    case ALG_SNAPPY: crc32c_init(c->crc_table); break;
    default: break;
    }
    if (host->metric_register(args->ctx, "compress_failures", TB_METRIC_COUNTER,
                              &c->metric_failed) != TB_OK)
        c->metric_failed = UINT32_MAX;
    *out = c;
    return TB_OK;
}

/* Reserves bound bytes at the end of the arena for output; give back the unused tail with
 * shrink_output once the real size is known. */
static uint8_t *reserve_output(tb_arena *a, size_t bound) {
    return tb_arena_alloc(a, bound ? bound : 1, 1);
}

static void shrink_output(tb_arena *a, uint8_t *p, size_t bound, size_t used) {
    /* the block is still the arena's last allocation: hand the tail back */
    if (p + (bound ? bound : 1) == a->cur) a->cur = p + (used ? used : 1);
}

/* Compresses in[0..n) into the arena; *out and *out_len on success, else a message in err. */
static int run(compressor *c, tb_arena *a, const uint8_t *in, size_t n, uint8_t **out,
               size_t *out_len, char *err, size_t err_size) {
    size_t bound = 0, len = 0;
    uint8_t *p = NULL;
    switch (c->alg) {
    case ALG_GZIP:
    case ALG_ZLIB: {
        if (deflateReset(&c->z) != Z_OK) {
            snprintf(err, err_size, "cannot reset the compressor");
            return TB_ERROR;
        }
        bound = (size_t)deflateBound(&c->z, (uLong)n) + 32; /* + gzip header, to be safe */
        if (!(p = reserve_output(a, bound))) return TB_ENOMEM;
        c->z.next_in = (Bytef *)(uintptr_t)in;
        c->z.next_out = p;
        size_t left_in = n, left_out = bound;
        int rc;
        do {
            uInt take = left_in > UINT_MAX ? UINT_MAX : (uInt)left_in;
            uInt room = left_out > UINT_MAX ? UINT_MAX : (uInt)left_out;
            c->z.avail_in = take;
            c->z.avail_out = room;
            rc = deflate(&c->z, take == left_in ? Z_FINISH : Z_NO_FLUSH);
            left_in -= take - c->z.avail_in;
            left_out -= room - c->z.avail_out;
        } while (rc == Z_OK);
        if (rc != Z_STREAM_END) {
            snprintf(err, err_size, "%s", c->z.msg ? c->z.msg : "deflate failed");
            return TB_ERROR;
        }
        len = bound - left_out;
        break;
    }
    case ALG_XZ: {
        bound = lzma_stream_buffer_bound(n);
        if (!bound) {
            snprintf(err, err_size, "input too large");
            return TB_ERROR;
        }
        if (!(p = reserve_output(a, bound))) return TB_ENOMEM;
        /* re-initialising the same lzma_stream reuses its memory from the last event */
        lzma_ret r = lzma_easy_encoder(&c->xz, (uint32_t)c->level, LZMA_CHECK_CRC64);
        if (r != LZMA_OK) {
            snprintf(err, err_size, "cannot initialise the encoder (liblzma error %d)", (int)r);
            return r == LZMA_MEM_ERROR ? TB_ENOMEM : TB_ERROR;
        }
        c->xz.next_in = in;
        c->xz.avail_in = n;
        c->xz.next_out = p;
        c->xz.avail_out = bound;
        do r = lzma_code(&c->xz, LZMA_FINISH);
        while (r == LZMA_OK);
        if (r != LZMA_STREAM_END) {
            snprintf(err, err_size, "encoding failed (liblzma error %d)", (int)r);
            return TB_ERROR;
        }
        len = bound - c->xz.avail_out;
        break;
    }
    case ALG_ZSTD: {
        bound = ZSTD_compressBound(n);
        if (!(p = reserve_output(a, bound))) return TB_ENOMEM;
        size_t r = ZSTD_compressCCtx(c->zstd, p, bound, in, n, c->level);
        if (ZSTD_isError(r)) {
            snprintf(err, err_size, "%s", ZSTD_getErrorName(r));
            return TB_ERROR;
        }
        len = r;
        break;
    }
    case ALG_LZ4: {
        LZ4F_preferences_t prefs;
        memset(&prefs, 0, sizeof prefs);
        prefs.compressionLevel = c->level;
        prefs.frameInfo.contentSize = n; /* lets the decompressor size its output */
        bound = LZ4F_HEADER_SIZE_MAX + LZ4F_compressBound(n, &prefs) +
                LZ4F_compressBound(0, &prefs);
        if (!(p = reserve_output(a, bound))) return TB_ENOMEM;
        size_t r = LZ4F_compressBegin(c->lz4, p, bound, &prefs);
        if (!LZ4F_isError(r)) {
            len = r;
            r = LZ4F_compressUpdate(c->lz4, p + len, bound - len, in, n, NULL);
        }
        if (!LZ4F_isError(r)) {
            len += r;
            r = LZ4F_compressEnd(c->lz4, p + len, bound - len, NULL);
        }
        if (LZ4F_isError(r)) {
            snprintf(err, err_size, "%s", LZ4F_getErrorName(r));
            return TB_ERROR;
        }
        len += r;
        break;
    }
    default: { /* snappy framing format */
        size_t blocks = n / SNAPPY_BLOCK + 1;
        bound = 10 + blocks * (8 + snappy_max_compressed_length(SNAPPY_BLOCK));
        if (!(p = reserve_output(a, bound))) return TB_ENOMEM;
        static const uint8_t ident[10] = {0xff, 0x06, 0x00, 0x00, 's', 'N', 'a', 'P', 'p', 'Y'};
        memcpy(p, ident, sizeof ident);
        len = sizeof ident;
        for (size_t off = 0; off < n; off += SNAPPY_BLOCK) {
            size_t take = n - off < SNAPPY_BLOCK ? n - off : SNAPPY_BLOCK;
            uint8_t *chunk = p + len;
            size_t clen = bound - len - 8;
            if (snappy_compress((const char *)in + off, take, (char *)chunk + 8, &clen) !=
                SNAPPY_OK) {
                snprintf(err, err_size, "snappy_compress failed");
                return TB_ERROR;
            }
            put_le32(chunk + 4, snappy_masked_crc(c->crc_table, in + off, take));
            if (clen >= take - take / 8) {
                /* not worth it: an uncompressed chunk, as snap's FrameEncoder does */
                chunk[0] = 0x01;
                memcpy(chunk + 8, in + off, take);
                clen = take;
            } else {
                chunk[0] = 0x00;
            }
            put_le24(chunk + 1, clen + 4);
            len += 8 + clen;
        }
        break;
    }
    }
    shrink_output(a, p, bound, len);
    *out = p;
    *out_len = len;
    return TB_OK;
}

static int TB_CALL process(void *instance, const tb_batch *in, tb_batch *out) {
    compressor *c = instance;
    for (uint32_t i = 0; i < in->count; i++) {
        const tb_event *src = &in->events[i];
        if (!(src->flags & TB_EF_RAW) || src->data.type != TB_BYTES) continue;
        char err[256] = "";
        uint8_t *bytes = NULL;
        size_t len = 0;
        int rc = run(c, out->arena, src->data.as.bytes, src->data.len, &bytes, &len, err,
                     sizeof err);
        if (rc == TB_ENOMEM) return TB_ENOMEM;
        if (rc == TB_OK && len > UINT32_MAX) {
            snprintf(err, sizeof err, "output of %zu bytes is too large for one event", len);
            rc = TB_ERROR;
        }
        /* src may move when out grows (in->arena is out->arena, but not the event array) */
        tb_event copy = *src;
        tb_event *e = tb_batch_push(out);
        if (!e) return TB_ENOMEM;
        *e = copy;
        e->port = 0;
        e->flags = (uint16_t)(copy.flags | TB_EF_RAW);
        if (rc == TB_OK) {
            e->data = tb_bytes(bytes, len);
        } else {
            if (!tb_event_failf(out, e, "compress: %s: %s", alg_names[c->alg], err))
                return TB_ENOMEM;
            if (c->metric_failed != UINT32_MAX) c->host->metric_add(c->ctx, c->metric_failed, 1);
        }
    }
    return TB_OK;
}

static const tb_processor_vtable vtable = {
    .struct_size = sizeof(tb_processor_vtable),
    .create = create,
    .destroy = destroy,
    .process = process,
    .finish = NULL,
};

static const tb_component component = {
    .struct_size = sizeof(tb_component),
    .kind = TB_KIND_POSTPROCESSOR,
    .name = "compress",
    .description = "compresses each event's bytes (gzip, zlib, xz, zstd, lz4, snappy)",
    .options = options,
    .option_count = sizeof options / sizeof options[0],
    .vtable = &vtable,
};

static const tb_component *const components[] = {&component};

static const tb_plugin_descriptor descriptor = {
    TB_DESCRIPTOR_HEAD,
    .flags = TB_PLUGIN_UNLOAD_SAFE,
    .name = "compress",
    .version = "0.1.0",
    .description = "The compress postprocessor",
    .components = components,
    .component_count = 1,
};

TB_PLUGIN_ENTRY(compress) { return &descriptor; }
