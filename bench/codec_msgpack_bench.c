/*
 * codec_msgpack_bench.c - temblor's own msgpack codec plugin (plugins/codec/msgpack) against
 * msgpack-c (Debian's libmsgpack-dev) on the same records in one run: the figures behind
 * writing our own codec rather than wrapping the library.
 *
 * usage: codec_msgpack_bench DATA.msgpack.xz PLUGIN_DIR [SECONDS] [ROUNDS]
 *   e.g. build/bench/codec_msgpack_bench ../shared/bench-data/data.msgpack.xz build/plugins 2 5
 *
 * DATA is xz of lines, each the base64 of one msgpack record (Tremor's bench data); the base64
 * is decoded once at load, outside every timed loop. Each round then runs every mode below for
 * SECONDS, one after the other (so the modes alternate A B C .. A B C .. and drift on a noisy
 * machine spreads over all of them), each time on batches of all the records:
 *   ours decode   the plugin, found through the registry as the runtime finds it, decoding
 *                 raw events into the event layout; the batch arena is reset per batch, and
 *                 filling the batch with the raw events is timed too (the runtime's share).
 *   mpc decode    msgpack_unpack of every record into one msgpack_zone per batch (cleared per
 *                 batch, with the arena's 64 KiB chunks): a full msgpack_object tree each.
 *   mpc next      msgpack_unpack_next, the API msgpack-c documents: it frees the previous
 *                 result's zone on every call, so each kept record gets a zone of its own.
 *   mpc+convert   mpc decode, then each tree copied into tb_values (UTF-8 checked, as our
 *                 string type requires): what using msgpack-c inside temblor would cost.
 *   ours encode   the plugin encoding the decoded values back to msgpack.
 *   mpc encode    msgpack_pack_object of the unpacked trees into one sbuffer per batch.
 * Decode figures are MB/s of msgpack input, encode figures MB/s of output; events/s for all.
 * Before timing it checks that both decoders take every record, that our encode of our decode
 * unpacks (by msgpack-c) to an object equal to msgpack-c's own decode (msgpack_object_equal),
 * and that the converted trees encode to the same bytes as our decode; else it exits 1.
 *
 * Ownership: main owns everything (records, arenas, zones, the instance and the registry) and
 * frees it before returning. Single-threaded.
 */
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_util.h"
#include "plugin/instance.h"
#include "plugin/registry.h"
#include "value/arena.h"
#include "value/utf8.h"

enum { OURS_DEC, MPC_DEC, MPC_NEXT, MPC_CONV, OURS_ENC, MPC_ENC, NMODES };
static const char *const mode_names[NMODES] = {"ours decode", "mpc decode", "mpc next",
                                                "mpc+convert", "ours encode", "mpc encode"};

/* The same chunk size for our arena and msgpack-c's zone, so neither allocator is favoured. */
#define CHUNK (64u * 1024u)

typedef struct bench {
    size_t n;                /* records */
    uint8_t **rec;           /* the msgpack bytes of each record */
    size_t *len;
    tbr_instance *codec;     /* the msgpack codec plugin's instance */
    tb_arena *arena;         /* the batch arena, reset per batch as the runtime does */
    tb_value *ours;          /* our decode of each record, kept for "ours encode" */
    msgpack_object *theirs;  /* msgpack-c's decode of each record, kept for "mpc encode" */
    msgpack_object *objs;    /* the trees of the batch being decoded */
    msgpack_unpacked *unp;   /* one result per record for "mpc next" */
    msgpack_zone *zone;      /* the per-batch zone */
    msgpack_sbuffer sb;      /* msgpack-c's output buffer, cleared per batch */
    unsigned long errors;    /* records a timed batch failed on (must stay 0) */
} bench;

/* Decodes standard base64 s[0..n) (padding optional) into a new buffer; NULL if invalid. */
static uint8_t *base64_decode(const char *s, size_t n, size_t *out_len) {
    uint8_t *out = malloc(n / 4 * 3 + 3), *o = out;
    uint32_t acc = 0;
    int bits = 0;
    if (!out) return NULL;
    for (size_t i = 0; i < n && s[i] != '='; i++) {
        char c = s[i];
        int v = c >= 'A' && c <= 'Z' ? c - 'A' : c >= 'a' && c <= 'z' ? c - 'a' + 26
              : c >= '0' && c <= '9' ? c - '0' + 52 : c == '+' ? 62 : c == '/' ? 63 : -1;
        if (v < 0) return free(out), NULL;
        acc = acc << 6 | (uint32_t)v;
        if ((bits += 6) >= 8) *o++ = (uint8_t)(acc >> (bits -= 8));
    }
    *out_len = (size_t)(o - out);
    return out;
}

/* True when s[0..n) is valid UTF-8 (ASCII bytes skipped one by one, as the plugin does). */
static bool utf8_ok(const char *s, size_t n) {
    const unsigned char *p = (const unsigned char *)s, *end = p + n;
    while (p < end) {
        size_t k = *p < 0x80 ? 1 : tbr_utf8_seq(p, end);
        if (!k) return false;
        p += k;
    }
    return true;
}

/* Copies msgpack-c's tree o into temblor's layout in arena a, keeping strings pointing into
 * the input as our decoder does, and sizing arrays and maps exactly (the cheapest
 * conversion). False on what temblor refuses: non-string keys, invalid UTF-8, ext. */
static bool to_tb(tb_arena *a, const msgpack_object *o, tb_value *out) {
    switch (o->type) {
    case MSGPACK_OBJECT_NIL: *out = tb_null(); return true;
    case MSGPACK_OBJECT_BOOLEAN: *out = tb_bool(o->via.boolean); return true;
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        *out = o->via.u64 <= INT64_MAX ? tb_i64((int64_t)o->via.u64) : tb_u64(o->via.u64);
        return true;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER: *out = tb_i64(o->via.i64); return true;
    case MSGPACK_OBJECT_FLOAT32: /* msgpack-c widens float32 into f64 already */
    case MSGPACK_OBJECT_FLOAT64: *out = tb_f64(o->via.f64); return true;
    case MSGPACK_OBJECT_STR:
        if (!utf8_ok(o->via.str.ptr, o->via.str.size)) return false;
        *out = tb_string(o->via.str.ptr, o->via.str.size);
        return true;
    case MSGPACK_OBJECT_BIN: *out = tb_bytes(o->via.bin.ptr, o->via.bin.size); return true;
    case MSGPACK_OBJECT_ARRAY: {
        tb_value v = tb_array();
        v.len = o->via.array.size;
        if (v.len && !(v.as.items = tb_arena_alloc(a, v.len * sizeof(tb_value), 8))) return false;
        for (uint32_t k = 0; k < v.len; k++)
            if (!to_tb(a, &o->via.array.ptr[k], &v.as.items[k])) return false;
        *out = v;
        return true;
    }
    case MSGPACK_OBJECT_MAP: {
        tb_value v = tb_object();
        v.len = o->via.map.size;
        if (v.len && !(v.as.members = tb_arena_alloc(a, v.len * sizeof(tb_member), 8)))
            return false;
        for (uint32_t k = 0; k < v.len; k++) {
            const msgpack_object_kv *kv = &o->via.map.ptr[k];
            tb_member *m = &v.as.members[k];
            if (kv->key.type != MSGPACK_OBJECT_STR ||
                !utf8_ok(kv->key.via.str.ptr, kv->key.via.str.size))
                return false;
            m->key = kv->key.via.str.ptr;
            m->key_len = kv->key.via.str.size;
            m->reserved = 0;
            if (!to_tb(a, &kv->val, &m->value)) return false;
        }
        *out = v;
        return true;
    }
    default: return false; /* ext: temblor's codec refuses it too */
    }
}

static int codec_decode(const bench *B, tb_batch *b) {
    return B->codec->component->vt.codec.decode(B->codec->state, b);
}
static int codec_encode(const bench *B, tb_batch *b) {
    return B->codec->component->vt.codec.encode(B->codec->state, b);
}

/* Runs one batch of mode; returns the bytes it counts (input for decode, output for encode). */
static size_t run_batch(bench *B, int mode) {
    size_t bytes = 0;
    tbr_arena_reset(B->arena);
    switch (mode) {
    case OURS_DEC: {
        tb_batch b = bench_make_batch(B->arena, (const void *const *)B->rec, B->len, B->n, NULL);
        if (codec_decode(B, &b)) B->errors += B->n;
        for (size_t i = 0; i < B->n; i++) bytes += B->len[i];
        break;
    }
    case MPC_DEC:
    case MPC_CONV:
        msgpack_zone_clear(B->zone);
        for (size_t i = 0; i < B->n; i++) {
            size_t off = 0;
            tb_value v;
            if (msgpack_unpack((const char *)B->rec[i], B->len[i], &off, B->zone, &B->objs[i]) !=
                MSGPACK_UNPACK_SUCCESS)
                B->errors++;
            else if (mode == MPC_CONV && !to_tb(B->arena, &B->objs[i], &v))
                B->errors++;
            bytes += B->len[i];
        }
        break;
    case MPC_NEXT:
        for (size_t i = 0; i < B->n; i++) {
            size_t off = 0;
            msgpack_unpacked_init(&B->unp[i]);
            if (msgpack_unpack_next(&B->unp[i], (const char *)B->rec[i], B->len[i], &off) !=
                    MSGPACK_UNPACK_SUCCESS ||
                off != B->len[i])
                B->errors++;
            bytes += B->len[i];
        }
        /* the trees live until the batch is done, as a batch's values would */
        for (size_t i = 0; i < B->n; i++) msgpack_unpacked_destroy(&B->unp[i]);
        break;
    case OURS_ENC: {
        tb_batch b = bench_make_batch(B->arena, (const void *const *)B->rec, B->len, B->n, B->ours);
        if (codec_encode(B, &b)) B->errors += B->n;
        for (uint32_t i = 0; i < b.count; i++) bytes += b.events[i].data.len;
        break;
    }
    case MPC_ENC: {
        msgpack_packer pk;
        msgpack_sbuffer_clear(&B->sb);
        msgpack_packer_init(&pk, &B->sb, msgpack_sbuffer_write);
        for (size_t i = 0; i < B->n; i++)
            if (msgpack_pack_object(&pk, B->theirs[i])) B->errors++;
        bytes = B->sb.size;
        break;
    }
    }
    return bytes;
}

/* The checks before timing (see the header comment); fills B->ours and B->theirs. Returns
 * false, having said why, when any fails. keep holds our decode; zone msgpack-c's. */
static bool verify(bench *B, tb_arena *keep, msgpack_zone *zone) {
    tb_batch dec = bench_make_batch(keep, (const void *const *)B->rec, B->len, B->n, NULL), enc, conv;
    size_t ours_ok = 0, theirs_ok = 0, conv_ok = 0, same_in = 0, pack_same_in = 0, out = 0;
    msgpack_zone *check = msgpack_zone_new(CHUNK);
    tb_value *converted = malloc(B->n * sizeof *converted);
    bool ok = check && converted && codec_decode(B, &dec) == TB_OK;
    for (size_t i = 0; ok && i < B->n; i++) {
        size_t off = 0;
        if (!(dec.events[i].flags & (TB_EF_ERROR | TB_EF_RAW)))
            B->ours[ours_ok++] = dec.events[i].data;
        if (msgpack_unpack((const char *)B->rec[i], B->len[i], &off, zone, &B->theirs[i]) ==
            MSGPACK_UNPACK_SUCCESS)
            conv_ok += to_tb(keep, &B->theirs[i], &converted[theirs_ok++]);
    }
    printf("decoded by ours: %zu, by msgpack-c: %zu (converted: %zu)\n", ours_ok, theirs_ok,
           conv_ok);
    if (!ok || ours_ok != B->n || theirs_ok != B->n || conv_ok != B->n) goto done;
    /* our encode of our decode must unpack to msgpack-c's decode of the input, and the
     * converted trees must encode to the same bytes (so they hold what our decoder builds) */
    enc = bench_make_batch(keep, (const void *const *)B->rec, B->len, B->n, B->ours);
    conv = bench_make_batch(keep, (const void *const *)B->rec, B->len, B->n, converted);
    ok = codec_encode(B, &enc) == TB_OK && codec_encode(B, &conv) == TB_OK;
    for (size_t i = 0; ok && i < B->n; i++) {
        const tb_value *d = &enc.events[i].data, *cd = &conv.events[i].data;
        msgpack_object back;
        size_t off = 0;
        if (msgpack_unpack((const char *)d->as.bytes, d->len, &off, check, &back) !=
                MSGPACK_UNPACK_SUCCESS ||
            !msgpack_object_equal(back, B->theirs[i])) {
            fprintf(stderr, "record %zu: our encode does not round-trip\n", i + 1);
            ok = false;
        }
        if (cd->len != d->len || memcmp(cd->as.bytes, d->as.bytes, d->len) != 0) {
            fprintf(stderr, "record %zu: msgpack-c's tree converts to another value\n", i + 1);
            ok = false;
        }
        /* for the report only: which encoder reproduces the input bytes */
        msgpack_packer pk;
        msgpack_sbuffer_clear(&B->sb);
        msgpack_packer_init(&pk, &B->sb, msgpack_sbuffer_write);
        msgpack_pack_object(&pk, B->theirs[i]);
        pack_same_in += B->sb.size == B->len[i] && !memcmp(B->sb.data, B->rec[i], B->len[i]);
        same_in += d->len == B->len[i] && !memcmp(d->as.bytes, B->rec[i], B->len[i]);
        out += d->len;
    }
    if (ok)
        printf("round trip ok: ours encodes %zu bytes, byte-identical to the input for %zu of "
               "%zu records; msgpack-c's pack for %zu\n",
               out, same_in, B->n, pack_same_in);
done:
    msgpack_zone_free(check);
    free(converted);
    return ok && ours_ok == B->n && theirs_ok == B->n && conv_ok == B->n;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s DATA.msgpack.xz PLUGIN_DIR [SECONDS] [ROUNDS]\n", argv[0]);
        return 2;
    }
    double seconds = argc > 3 ? atof(argv[3]) : 2.0;
    int rounds = argc > 4 ? atoi(argv[4]) : 5;
    if (!(seconds > 0)) seconds = 2.0;
    if (rounds < 1 || rounds > 99) rounds = 5;

    size_t text_len, in_bytes = 0;
    char *text = bench_read_xz(argv[1], &text_len);
    if (!text) {
        fprintf(stderr, "cannot read %s\n", argv[1]);
        return 1;
    }
    bench B;
    memset(&B, 0, sizeof B);
    size_t cap = 0;
    for (char *p = text, *end = text + text_len; p < end;) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t line = nl ? (size_t)(nl - p) : (size_t)(end - p), n = line;
        while (n && (p[n - 1] == '\r' || p[n - 1] == ' ')) n--;
        if (n) {
            if (B.n == cap) {
                cap = cap ? cap * 2 : 128;
                B.rec = realloc(B.rec, cap * sizeof *B.rec);
                B.len = realloc(B.len, cap * sizeof *B.len);
            }
            if (!(B.rec[B.n] = base64_decode(p, n, &B.len[B.n]))) {
                fprintf(stderr, "line %zu: not base64\n", B.n + 1);
                return 1;
            }
            in_bytes += B.len[B.n++];
        }
        p += line + 1;
    }
    free(text);
    if (!B.n) {
        fprintf(stderr, "%s: no records\n", argv[1]);
        return 1;
    }

    /* the plugin, found and created as the runtime does */
    tbr_registry *reg = tbr_registry_new();
    char err[512] = "";
    tbr_registry_add_static_plugins(reg);
    tbr_registry_scan_dir(reg, argv[2]);
    const tbr_component *c = tbr_registry_find(reg, TB_KIND_CODEC, "msgpack");
    if (!c || tbr_instance_create(reg, c, "bench", NULL, NULL, 0, &B.codec, err, sizeof err)) {
        fprintf(stderr, "no msgpack codec from %s %s\n", argv[2], err);
        return 1;
    }
    B.arena = tbr_arena_new(CHUNK);
    B.ours = malloc(B.n * sizeof *B.ours);
    B.theirs = malloc(B.n * sizeof *B.theirs);
    B.objs = malloc(B.n * sizeof *B.objs);
    B.unp = malloc(B.n * sizeof *B.unp);
    B.zone = msgpack_zone_new(CHUNK);
    msgpack_sbuffer_init(&B.sb);
    tb_arena *keep = tbr_arena_new(CHUNK);
    msgpack_zone *keep_zone = msgpack_zone_new(CHUNK);
    if (!B.arena || !B.ours || !B.theirs || !B.objs || !B.unp || !B.zone || !keep ||
        !keep_zone) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    printf("%zu records, %zu bytes of msgpack (%.0f bytes each)\n", B.n, in_bytes,
           (double)in_bytes / (double)B.n);
    if (!verify(&B, keep, keep_zone)) {
        fprintf(stderr, "verification failed\n");
        return 1;
    }

    static double mbs[NMODES][99], eps[NMODES][99];
    for (int r = 0; r < rounds; r++) {
        printf("\nround %d of %d (%.1f s per mode)\n%-12s %10s %12s\n", r + 1, rounds, seconds,
               "mode", "MB/s", "events/s");
        for (int m = 0; m < NMODES; m++) {
            size_t bytes = 0, events = 0;
            double start = bench_now_s(), elapsed;
            do {
                bytes += run_batch(&B, m);
                events += B.n;
                elapsed = bench_now_s() - start;
            } while (elapsed < seconds);
            mbs[m][r] = (double)bytes / elapsed / 1e6;
            eps[m][r] = (double)events / elapsed;
            printf("%-12s %10.1f %12.0f\n", mode_names[m], mbs[m][r], eps[m][r]);
        }
    }
    printf("\nmedian of %d rounds\n%-12s %10s %12s\n", rounds, "mode", "MB/s", "events/s");
    double med[NMODES];
    for (int m = 0; m < NMODES; m++) {
        qsort(mbs[m], (size_t)rounds, sizeof(double), cmp_double);
        qsort(eps[m], (size_t)rounds, sizeof(double), cmp_double);
        med[m] = eps[m][rounds / 2];
        printf("%-12s %10.1f %12.0f\n", mode_names[m], mbs[m][rounds / 2], med[m]);
    }
    /* ratios of events/s: the same records either way, so MB/s of input ratio the same */
    printf("\ntemblor / msgpack-c (median events/s): decode %.2f, decode vs mpc next %.2f, "
           "decode vs mpc+convert %.2f, encode %.2f\n",
           med[OURS_DEC] / med[MPC_DEC], med[OURS_DEC] / med[MPC_NEXT],
           med[OURS_DEC] / med[MPC_CONV], med[OURS_ENC] / med[MPC_ENC]);
    printf("errors in timed batches: %lu\n", B.errors);

    tbr_instance_destroy(B.codec);
    tbr_registry_free(reg);
    tbr_arena_free(B.arena);
    tbr_arena_free(keep);
    msgpack_zone_free(B.zone);
    msgpack_zone_free(keep_zone);
    msgpack_sbuffer_destroy(&B.sb);
    for (size_t i = 0; i < B.n; i++) free(B.rec[i]);
    free(B.rec);
    free(B.len);
    free(B.ours);
    free(B.theirs);
    free(B.objs);
    free(B.unp);
    return B.errors ? 1 : 0;
}
