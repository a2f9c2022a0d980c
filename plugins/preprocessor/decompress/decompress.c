/*
 * decompress.c - the `decompress` preprocessor: decompresses each event's bytes, taken as one
 * complete compressed unit (not a stream across events), as Tremor 0.13's decompress does.
 *
 * Option `algorithm`: `autodetect` (default) picks the algorithm from the magic bytes, as
 * Tremor's does (gzip 1f 8b; zlib 78 01/5e/9c/da; xz fd '7zXZ' 00; snappy framing ff or
 * "sNaPpY"; lz4 frame 04 22 4d 18; zstd 28 b5 2f fd) and passes data it does not recognise
 * (or shorter than 6 bytes) on unchanged, for the codec to judge. Or one named algorithm:
 * gzip (multi-member), zlib, xz (alias xz2: xz or legacy .lzma), zstd, lz4 (frame format),
 * snappy (framing format, not raw snappy). Empty input gives empty output.
 *
 * Data that does not decompress goes to the err port (tb_event_fail) with the algorithm and
 * the reason; so does output larger than `max_output_size` (default 100 MB), a guard against
 * decompression bombs, checked while decompressing so the limit bounds the memory taken.
 *
 * Ownership: the instance and the library contexts it reuses between events come from
 * host->alloc or the libraries' own allocators and are freed in destroy. Output is written
 * into the batch's arena; nothing of a batch is kept after process returns.
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

enum { ALG_AUTO = -1, ALG_GZIP, ALG_ZLIB, ALG_XZ, ALG_ZSTD, ALG_LZ4, ALG_SNAPPY };

static const char *const alg_names[] = {"gzip", "zlib", "xz", "zstd", "lz4", "snappy"};

/* Outcomes of one decompression besides TB_OK and TB_ENOMEM. */
enum { D_CORRUPT = 1, D_BOMB = 2 };

#define SNAPPY_BLOCK 65536u
/* Memory the xz decoder may take (the dictionary size comes from the input). */
#define XZ_MEMLIMIT ((uint64_t)256 << 20)

typedef struct decompress {
    const tb_host_api *host;
    tb_context *ctx;
    int alg;            /* ALG_*, ALG_AUTO for autodetect */
    uint64_t max_out;   /* max_output_size; 0: no limit */
    bool z_ready;
    z_stream z;
    ZSTD_DCtx *zstd;
    LZ4F_dctx *lz4;
    lzma_stream xz;
    uint32_t crc_table[256]; /* CRC-32C for snappy framing */
    uint32_t metric_failed, metric_bombs;
} decompress;

static const tb_option options[] = {
    TB_OPTION("algorithm", TB_OPT_STRING, "autodetect", 0,
              "autodetect (by magic bytes; unknown data passes unchanged), gzip, zlib, xz (or "
              "xz2), zstd, lz4 (frame format) or snappy (framing format)"),
    TB_OPTION("max_output_size", TB_OPT_UINT, "104857600", 0,
              "largest decompressed event in bytes; larger ones go to the err port (0: no "
              "limit but the 4 GiB of one event)"),
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

static int parse_algorithm(const char *s, size_t n) {
    if (n == 10 && memcmp(s, "autodetect", 10) == 0) return ALG_AUTO;
    for (int i = 0; i < (int)(sizeof alg_names / sizeof alg_names[0]); i++)
        if (strlen(alg_names[i]) == n && memcmp(alg_names[i], s, n) == 0) return i;
    if (n == 3 && memcmp(s, "xz2", 3) == 0) return ALG_XZ;
    return -2;
}

static void TB_CALL destroy(void *instance) {
    decompress *d = instance;
    if (!d) return;
    if (d->z_ready) inflateEnd(&d->z);
    ZSTD_freeDCtx(d->zstd);
    if (d->lz4) LZ4F_freeDecompressionContext(d->lz4);
    lzma_end(&d->xz);
    d->host->free(d->ctx, d);
}

static int TB_CALL create(const tb_create_args *args, void **out) {
    const tb_host_api *host = args->host;
    size_t n = 0;
    const char *name = tb_config_str(args->config, "algorithm", "autodetect", &n);
    int alg = parse_algorithm(name, n);
    if (alg == -2)
        return tb_fail(host, args->ctx, TB_EINVAL,
                       "decompress: unknown compression algorithm '%.*s' (expected autodetect, "
                       "gzip, zlib, xz, zstd, lz4 or snappy)",
                       (int)(n > 64 ? 64 : n), name);
    decompress *d = host->alloc(args->ctx, sizeof *d);
    if (!d) return TB_ENOMEM;
    memset(d, 0, sizeof *d);
    d->host = host;
    d->ctx = args->ctx;
    d->alg = alg;
    d->max_out = tb_config_u64(args->config, "max_output_size", (uint64_t)100 * 1024 * 1024);
    lzma_stream init = LZMA_STREAM_INIT;
    d->xz = init;
    /* contexts for every algorithm autodetect may meet, or just the named one */
    if (alg == ALG_AUTO || alg == ALG_GZIP || alg == ALG_ZLIB) {
        if (inflateInit2(&d->z, 15) != Z_OK) {
            destroy(d);
            return tb_fail(host, args->ctx, TB_ENOMEM, "decompress: cannot initialise zlib");
        }
        d->z_ready = true;
    }
    if (alg == ALG_AUTO || alg == ALG_ZSTD) {
        if (!(d->zstd = ZSTD_createDCtx())) {
            destroy(d);
            return TB_ENOMEM;
        }
    }
    if (alg == ALG_AUTO || alg == ALG_LZ4) {
        if (LZ4F_isError(LZ4F_createDecompressionContext(&d->lz4, LZ4F_VERSION))) {
            d->lz4 = NULL;
            destroy(d);
            return TB_ENOMEM;
        }
    }
    if (alg == ALG_AUTO || alg == ALG_SNAPPY) crc32c_init(d->crc_table);
    if (host->metric_register(args->ctx, "decompress_failures", TB_METRIC_COUNTER,
                              &d->metric_failed) != TB_OK)
        d->metric_failed = UINT32_MAX;
    if (host->metric_register(args->ctx, "decompress_bombs", TB_METRIC_COUNTER,
                              &d->metric_bombs) != TB_OK)
        d->metric_bombs = UINT32_MAX;
    *out = d;
    return TB_OK;
}

/* The most output bytes one event may hold: max_output_size, and a tb_value's 32-bit len. */
static size_t out_limit(const decompress *d) {
    uint64_t m = d->max_out && d->max_out < UINT32_MAX ? d->max_out : UINT32_MAX;
    return (size_t)m;
}

/* Makes room in b for more output and sets *avail to what may be written: never past
 * limit + 1 bytes in all, so one byte over the limit shows a bomb without taking more. hint
 * is the expected total size, when the format says it. */
static int room(tb_buf *b, size_t limit, size_t hint, size_t *avail) {
    size_t cap_limit = limit + 1;
    if (b->len >= cap_limit) return D_BOMB;
    if (b->cap == b->len) {
        size_t want = b->len ? b->len : 4096;
        if (!b->len && hint > want) want = hint + 1;
        if (want > cap_limit - b->len) want = cap_limit - b->len;
        if (!tb_buf_reserve(b, want)) return TB_ENOMEM;
    }
    *avail = b->cap - b->len;
    if (*avail > cap_limit - b->len) *avail = cap_limit - b->len;
    return TB_OK;
}

static int corrupt(char *err, size_t n, const char *what, const char *detail) {
    snprintf(err, n, "%s%s", what, detail);
    return D_CORRUPT;
}

static int run_zlib(decompress *d, bool gzip, const uint8_t *in, size_t n, tb_buf *b,
                    size_t limit, char *err, size_t en) {
    if (inflateReset2(&d->z, gzip ? 15 + 16 : 15) != Z_OK)
        return corrupt(err, en, "cannot reset the decompressor", "");
    d->z.next_in = (Bytef *)(uintptr_t)in;
    d->z.avail_in = (uInt)n; /* n fits: a tb_value's length is 32 bits */
    for (;;) {
        size_t avail;
        int rc = room(b, limit, 0, &avail);
        if (rc) return rc;
        if (avail > UINT_MAX) avail = UINT_MAX;
        d->z.next_out = b->data + b->len;
        d->z.avail_out = (uInt)avail;
        int zr = inflate(&d->z, Z_NO_FLUSH);
        b->len += avail - d->z.avail_out;
        if (zr == Z_STREAM_END) {
            if (!d->z.avail_in) return TB_OK;
            /* more input: another gzip member, or trailing garbage */
            if (gzip && d->z.avail_in >= 2 && d->z.next_in[0] == 0x1f && d->z.next_in[1] == 0x8b) {
                if (inflateReset(&d->z) != Z_OK)
                    return corrupt(err, en, "cannot reset the decompressor", "");
                continue;
            }
            snprintf(err, en, "invalid data: %u bytes of trailing data after the %s stream",
                     d->z.avail_in, gzip ? "gzip" : "zlib");
            return D_CORRUPT;
        }
        if (zr == Z_OK) continue;
        if (zr == Z_BUF_ERROR) {
            if (!d->z.avail_in) return corrupt(err, en, "invalid data: truncated input", "");
            if (d->z.avail_out) return corrupt(err, en, "invalid data: no progress", "");
            continue;
        }
        if (zr == Z_NEED_DICT)
            return corrupt(err, en, "invalid data: needs a preset dictionary", "");
        if (zr == Z_MEM_ERROR) return TB_ENOMEM;
        return corrupt(err, en, "invalid data: ", d->z.msg ? d->z.msg : "corrupt stream");
    }
}

static const char *lzma_reason(lzma_ret r) {
    switch (r) {
    case LZMA_FORMAT_ERROR: return "not in the xz or lzma format";
    case LZMA_OPTIONS_ERROR: return "unsupported options";
    case LZMA_DATA_ERROR: return "corrupt data";
    case LZMA_BUF_ERROR: return "truncated input";
    case LZMA_MEMLIMIT_ERROR: return "needs more than 256 MiB of decoder memory";
    case LZMA_UNSUPPORTED_CHECK: return "unsupported integrity check";
    default: return "decoder failure";
    }
}

static int run_xz(decompress *d, const uint8_t *in, size_t n, tb_buf *b, size_t limit,
                  char *err, size_t en) {
    /* re-initialising the same lzma_stream reuses its memory from the last event */
    lzma_ret r = lzma_auto_decoder(&d->xz, XZ_MEMLIMIT, LZMA_CONCATENATED);
    if (r == LZMA_MEM_ERROR) return TB_ENOMEM;
    if (r != LZMA_OK) return corrupt(err, en, "invalid data: ", lzma_reason(r));
    d->xz.next_in = in;
    d->xz.avail_in = n;
    for (;;) {
        size_t avail;
        int rc = room(b, limit, 0, &avail);
        if (rc) return rc;
        d->xz.next_out = b->data + b->len;
        d->xz.avail_out = avail;
        r = lzma_code(&d->xz, LZMA_FINISH);
        b->len += avail - d->xz.avail_out;
        if (r == LZMA_STREAM_END) return TB_OK;
        if (r == LZMA_OK) continue;
        if (r == LZMA_MEM_ERROR) return TB_ENOMEM;
        return corrupt(err, en, "invalid data: ", lzma_reason(r));
    }
}

static int run_zstd(decompress *d, const uint8_t *in, size_t n, tb_buf *b, size_t limit,
                    char *err, size_t en) {
    unsigned long long size = ZSTD_getFrameContentSize(in, n);
    size_t hint = 0;
    if (size == ZSTD_CONTENTSIZE_ERROR)
        return corrupt(err, en, "invalid data: not a zstd frame", "");
    if (size != ZSTD_CONTENTSIZE_UNKNOWN) {
        if (size > limit) return D_BOMB; /* the header says so: refuse before decoding */
        hint = (size_t)size;
    }
    ZSTD_DCtx_reset(d->zstd, ZSTD_reset_session_only);
    ZSTD_inBuffer ib = {in, n, 0};
    for (;;) {
        size_t avail;
        int rc = room(b, limit, hint, &avail);
        if (rc) return rc;
        ZSTD_outBuffer ob = {b->data + b->len, avail, 0};
        size_t r = ZSTD_decompressStream(d->zstd, &ob, &ib);
        b->len += ob.pos;
        if (ZSTD_isError(r)) return corrupt(err, en, "invalid data: ", ZSTD_getErrorName(r));
        if (ib.pos == ib.size) {
            if (r == 0) return TB_OK;
            if (ob.pos < ob.size) return corrupt(err, en, "invalid data: truncated input", "");
        }
    }
}

static int run_lz4(decompress *d, const uint8_t *in, size_t n, tb_buf *b, size_t limit,
                   char *err, size_t en) {
    LZ4F_resetDecompressionContext(d->lz4);
    LZ4F_frameInfo_t info;
    memset(&info, 0, sizeof info);
    size_t pos = n;
    size_t r = LZ4F_getFrameInfo(d->lz4, &info, in, &pos);
    size_t hint = 0;
    if (LZ4F_isError(r)) return corrupt(err, en, "invalid data: ", LZ4F_getErrorName(r));
    if (info.contentSize) {
        if (info.contentSize > limit) return D_BOMB;
        hint = (size_t)info.contentSize;
    }
    for (;;) {
        size_t avail;
        int rc = room(b, limit, hint, &avail);
        if (rc) return rc;
        size_t dst = avail, src = n - pos;
        r = LZ4F_decompress(d->lz4, b->data + b->len, &dst, in + pos, &src, NULL);
        pos += src;
        b->len += dst;
        if (LZ4F_isError(r)) return corrupt(err, en, "invalid data: ", LZ4F_getErrorName(r));
        if (pos == n) {
            if (r == 0) return TB_OK;
            if (dst < avail) return corrupt(err, en, "invalid data: truncated input", "");
        }
    }
}

static int run_snappy(decompress *d, const uint8_t *in, size_t n, tb_buf *b, size_t limit,
                      char *err, size_t en) {
    size_t pos = 0;
    bool ident = false;
    while (pos < n) {
        if (n - pos < 4) return corrupt(err, en, "invalid data: truncated chunk header", "");
        uint8_t type = in[pos];
        size_t clen = (size_t)in[pos + 1] | (size_t)in[pos + 2] << 8 | (size_t)in[pos + 3] << 16;
        pos += 4;
        if (clen > n - pos) return corrupt(err, en, "invalid data: truncated chunk", "");
        const uint8_t *body = in + pos;
        pos += clen;
        if (type == 0xff) {
            if (clen != 6 || memcmp(body, "sNaPpY", 6) != 0)
                return corrupt(err, en, "invalid data: bad stream identifier", "");
            ident = true;
            continue;
        }
        if (!ident)
            return corrupt(err, en, "invalid data: missing the sNaPpY stream identifier", "");
        if (type >= 0x80) continue; /* padding and reserved skippable chunks */
        if (type > 0x01) {
            snprintf(err, en, "invalid data: reserved unskippable chunk type 0x%02x", type);
            return D_CORRUPT;
        }
        if (clen < 4) return corrupt(err, en, "invalid data: chunk too short", "");
        uint32_t crc = (uint32_t)body[0] | (uint32_t)body[1] << 8 | (uint32_t)body[2] << 16 |
                       (uint32_t)body[3] << 24;
        const char *data = (const char *)body + 4;
        size_t dlen = clen - 4, ulen = dlen;
        if (type == 0x00 && snappy_uncompressed_length(data, dlen, &ulen) != SNAPPY_OK)
            return corrupt(err, en, "invalid data: bad compressed chunk", "");
        if (ulen > SNAPPY_BLOCK)
            return corrupt(err, en, "invalid data: chunk larger than 65536 bytes", "");
        if (ulen > limit - b->len) return D_BOMB;
        if (!tb_buf_reserve(b, ulen ? ulen : 1)) return TB_ENOMEM;
        uint8_t *dst = b->data + b->len;
        if (type == 0x00) {
            if (snappy_uncompress(data, dlen, (char *)dst, &ulen) != SNAPPY_OK)
                return corrupt(err, en, "invalid data: bad compressed chunk", "");
        } else {
            memcpy(dst, data, dlen);
        }
        if (snappy_masked_crc(d->crc_table, dst, ulen) != crc)
            return corrupt(err, en, "invalid data: checksum mismatch", "");
        b->len += ulen;
    }
    if (!ident) return corrupt(err, en, "invalid data: missing the sNaPpY stream identifier", "");
    return TB_OK;
}

/* The algorithm Tremor's autodetect picks for data, or ALG_AUTO to pass it on unchanged. */
static int detect(const uint8_t *p, size_t n) {
    if (n < 6) return ALG_AUTO;
    if (p[0] == 0x1f && p[1] == 0x8b) return ALG_GZIP;
    if (p[0] == 0x78 && (p[1] == 0x01 || p[1] == 0x5e || p[1] == 0x9c || p[1] == 0xda))
        return ALG_ZLIB;
    if (memcmp(p, "\xfd" "7zXZ\0", 6) == 0) return ALG_XZ;
    if (p[0] == 0xff || memcmp(p, "sNaPpY", 6) == 0) return ALG_SNAPPY;
    if (memcmp(p, "\x04\x22\x4d\x18", 4) == 0) return ALG_LZ4;
    if (memcmp(p, "\x28\xb5\x2f\xfd", 4) == 0) return ALG_ZSTD;
    return ALG_AUTO;
}

static int run(decompress *d, int alg, const uint8_t *in, size_t n, tb_buf *b, char *err,
               size_t en) {
    size_t limit = out_limit(d);
    int rc;
    switch (alg) {
    case ALG_GZIP:
    case ALG_ZLIB: rc = run_zlib(d, alg == ALG_GZIP, in, n, b, limit, err, en); break;
    case ALG_XZ: rc = run_xz(d, in, n, b, limit, err, en); break;
    case ALG_ZSTD: rc = run_zstd(d, in, n, b, limit, err, en); break;
    case ALG_LZ4: rc = run_lz4(d, in, n, b, limit, err, en); break;
    default: rc = run_snappy(d, in, n, b, limit, err, en); break;
    }
    if (rc == TB_OK && b->len > limit) rc = D_BOMB;
    return rc;
}

static int TB_CALL process(void *instance, const tb_batch *in, tb_batch *out) {
    decompress *d = instance;
    for (uint32_t i = 0; i < in->count; i++) {
        const tb_event *src = &in->events[i];
        if (!(src->flags & TB_EF_RAW) || src->data.type != TB_BYTES) continue;
        tb_event copy = *src; /* src may move when out grows */
        const uint8_t *bytes = copy.data.as.bytes;
        size_t n = copy.data.len;
        int alg = d->alg == ALG_AUTO ? detect(bytes, n) : d->alg;
        char err[256] = "";
        int rc = TB_OK;
        tb_value data = copy.data; /* empty or unrecognised input: passed on as it is */
        if (n && alg != ALG_AUTO) {
            tb_buf b;
            tb_buf_init(&b, out->arena);
            rc = run(d, alg, bytes, n, &b, err, sizeof err);
            if (rc == TB_ENOMEM) return TB_ENOMEM;
            /* give the unused tail of the buffer back when it is the arena's last block */
            if (b.data && b.data + b.cap == out->arena->cur) out->arena->cur = b.data + b.len;
            if (rc == TB_OK) data = tb_bytes(b.len ? b.data : NULL, b.len);
            if (rc == D_BOMB) {
                snprintf(err, sizeof err, "output exceeds max_output_size (%llu bytes)",
                         (unsigned long long)out_limit(d));
                if (d->metric_bombs != UINT32_MAX) d->host->metric_add(d->ctx, d->metric_bombs, 1);
            }
        }
        tb_event *e = tb_batch_push(out);
        if (!e) return TB_ENOMEM;
        *e = copy;
        e->port = 0;
        e->flags = (uint16_t)(copy.flags | TB_EF_RAW);
        if (rc == TB_OK) {
            e->data = data;
        } else {
            if (!tb_event_failf(out, e, "decompress: %s: %s", alg_names[alg], err))
                return TB_ENOMEM;
            if (d->metric_failed != UINT32_MAX) d->host->metric_add(d->ctx, d->metric_failed, 1);
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
    .kind = TB_KIND_PREPROCESSOR,
    .name = "decompress",
    .description = "decompresses each event's bytes, the algorithm detected or named",
    .options = options,
    .option_count = sizeof options / sizeof options[0],
    .vtable = &vtable,
};

static const tb_component *const components[] = {&component};

static const tb_plugin_descriptor descriptor = {
    TB_DESCRIPTOR_HEAD,
    .flags = TB_PLUGIN_UNLOAD_SAFE,
    .name = "decompress",
    .version = "0.1.0",
    .description = "The decompress preprocessor",
    .components = components,
    .component_count = 1,
};

TB_PLUGIN_ENTRY(decompress) { return &descriptor; }
