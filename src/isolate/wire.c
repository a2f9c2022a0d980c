/*
 * wire.c - batches and values to and from the isolated tier's wire format (layout in
 * wire.h).
 *
 * Encoding and measuring share one walk over the value tree (measuring is writing nowhere),
 * so the size promised to the caller and the bytes written cannot disagree. Both walks, the
 * encoder's and the decoder's, keep their own stack of frames instead of recursing, so a
 * deep value costs neither the thread's stack nor a check per call.
 *
 * Ownership: nothing here allocates except from the arena the decoder is given.
 * Thread contract: reentrant, any thread.
 */
#include "isolate/wire.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "value/json.h"

/* The hot helpers are forced inline where the compiler's estimate would not do it. */
#if defined(__GNUC__)
#define ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define ALWAYS_INLINE inline
#endif

/* Whatever a codec decodes must be able to cross. */
_Static_assert(TBR_WIRE_MAX_DEPTH >= TBR_JSON_MAX_DEPTH, "the wire must carry what JSON nests");

#define MIN_VALUE_SIZE 8u   /* a head with no payload */
#define MIN_MEMBER_SIZE 16u /* a member head and a value head */
#define MIN_EVENT_SIZE (TBR_WIRE_EVENT_FIXED_SIZE + 2u * MIN_VALUE_SIZE)

/* ---------------------------------------------------------------------------------------
 * Little-endian fixed-width integers, at any alignment
 * ------------------------------------------------------------------------------------- */

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
static inline uint64_t to_le64(uint64_t x) { return __builtin_bswap64(x); }
static inline uint32_t to_le32(uint32_t x) { return __builtin_bswap32(x); }
#else
static inline uint64_t to_le64(uint64_t x) { return x; }
static inline uint32_t to_le32(uint32_t x) { return x; }
#endif

static inline void put_u64(uint8_t *p, uint64_t x) {
    x = to_le64(x);
    memcpy(p, &x, 8);
}
static inline void put_u32(uint8_t *p, uint32_t x) {
    x = to_le32(x);
    memcpy(p, &x, 4);
}
static inline uint64_t get_u64(const uint8_t *p) {
    uint64_t x;
    memcpy(&x, p, 8);
    return to_le64(x);
}
static inline uint32_t get_u32(const uint8_t *p) {
    uint32_t x;
    memcpy(&x, p, 4);
    return to_le32(x);
}

static inline size_t pad8(size_t n) { return (n + 7) & ~(size_t)7; }

/* The 8-byte head of a value or member, with the fields where tb_value keeps them. */
static inline uint64_t make_head(uint32_t type, uint32_t flags, uint32_t len) {
    return (uint64_t)type | (uint64_t)flags << 8 | (uint64_t)len << 32;
}

/* ---------------------------------------------------------------------------------------
 * Encoding
 * ------------------------------------------------------------------------------------- */

/* Where the encoder writes. The walks take a constant `write`: false only measures (out is
 * then NULL and cap SIZE_MAX), and each caller gets a copy of the walk specialised for it. */
typedef struct writer {
    uint8_t *out;
    size_t cap;
    size_t pos;
} writer;

static inline bool has_room(const writer *w, size_t need) { return need <= w->cap - w->pos; }

/* Copies n octets of src to dst and zeros up to the next multiple of 8. Most strings and
 * keys are short, and a call to memcpy per string would cost more than the copy: up to 16
 * octets are assembled in words from loads that stay inside src (overlapping when n is not
 * a power of two). */
static inline void copy_padded(uint8_t *dst, const uint8_t *src, size_t n) {
    if (n > 16) {
        put_u64(dst + pad8(n) - 8, 0); /* the copy then overwrites all but the padding */
        memcpy(dst, src, n);
    } else if (n > 8) {
        put_u64(dst, get_u64(src));
        put_u64(dst + 8, get_u64(src + n - 8) >> (8 * (16 - n)));
    } else if (n >= 4) {
        uint64_t lo = get_u32(src), hi = get_u32(src + n - 4);
        put_u64(dst, lo | hi << (8 * (n - 4)));
    } else if (n) {
        put_u64(dst, (uint64_t)src[0] | (uint64_t)src[n / 2] << (8 * (n / 2)) |
                         (uint64_t)src[n - 1] << (8 * (n - 1)));
    }
}

/* Writes a head and n octets padded to 8 (a string, bytes or a key). */
static inline void put_padded(writer *w, uint64_t head, const void *src, size_t n) {
    uint8_t *p = w->out + w->pos;
    put_u64(p, head);
    copy_padded(p + 8, src, n);
}

/* Writes the head and payload of v that come before its items or members. TB_ENOMEM when
 * it does not fit, TB_EINVAL for an unknown type. */
static ALWAYS_INLINE int put_value_head(writer *w, const tb_value *v, const bool write) {
    size_t need;
    switch (v->type) {
    case TB_NULL:
    case TB_ARRAY:
    case TB_OBJECT:
        if (!has_room(w, 8)) return TB_ENOMEM;
        if (write) put_u64(w->out + w->pos, make_head(v->type, 0, v->type == TB_NULL ? 0 : v->len));
        w->pos += 8;
        return TB_OK;
    case TB_BOOL:
        if (!has_room(w, 8)) return TB_ENOMEM;
        if (write) {
            /* read as a byte: a plugin's bool that is neither 0 nor 1 must not be UB here */
            uint8_t b;
            memcpy(&b, &v->as.b, 1);
            put_u64(w->out + w->pos, make_head(TB_BOOL, 0, b ? 1u : 0u));
        }
        w->pos += 8;
        return TB_OK;
    case TB_I64:
    case TB_U64:
    case TB_F64:
        if (!has_room(w, 16)) return TB_ENOMEM;
        if (write) {
            put_u64(w->out + w->pos, make_head(v->type, 0, 0));
            put_u64(w->out + w->pos + 8, v->as.u); /* the union's 8 bytes, whichever member */
        }
        w->pos += 16;
        return TB_OK;
    case TB_STRING:
    case TB_BYTES:
        need = 8 + pad8(v->len);
        if (!has_room(w, need)) return TB_ENOMEM;
        if (write) {
            uint32_t flags = v->type == TB_STRING ? (v->flags & TB_VF_NO_ESCAPE) : 0u;
            put_padded(w, make_head(v->type, flags, v->len), v->as.s, v->len);
        }
        w->pos += need;
        return TB_OK;
    default: return TB_EINVAL;
    }
}

static ALWAYS_INLINE int put_member_head(writer *w, const tb_member *m, const bool write) {
    size_t need = 8 + pad8(m->key_len);
    if (!has_room(w, need)) return TB_ENOMEM;
    if (write)
        put_padded(w, (uint64_t)m->key_len | (uint64_t)(m->reserved & TB_VF_NO_ESCAPE) << 32,
                   m->key, m->key_len);
    w->pos += need;
    return TB_OK;
}

/* An open array or object of a walk, and the index of its next item or member. */
typedef struct enc_frame {
    const tb_value *container;
    uint32_t next;
} enc_frame;

static inline bool is_container(uint32_t type) { return type == TB_ARRAY || type == TB_OBJECT; }

/* Writes (or measures) value v, its items and members depth first. */
static ALWAYS_INLINE int put_value(writer *w, const tb_value *v, const bool write) {
    enc_frame stack[TBR_WIRE_MAX_DEPTH];
    unsigned depth = 0; /* the containers open around v */
    for (;;) {
        if (is_container(v->type) && depth == TBR_WIRE_MAX_DEPTH) return TB_EINVAL;
        int rc = put_value_head(w, v, write);
        if (rc) return rc;
        if (is_container(v->type) && v->len) stack[depth++] = (enc_frame){v, 0};
        /* on to the next item or member of the innermost container that has one left */
        for (;;) {
            if (depth == 0) return TB_OK;
            enc_frame *f = &stack[depth - 1];
            if (f->next == f->container->len) {
                depth--;
                continue;
            }
            if (f->container->type == TB_ARRAY) {
                v = &f->container->as.items[f->next++];
            } else {
                const tb_member *m = &f->container->as.members[f->next++];
                rc = put_member_head(w, m, write);
                if (rc) return rc;
                v = &m->value;
            }
            break;
        }
    }
}

static ALWAYS_INLINE int put_batch(writer *w, const tb_batch *b, const bool write) {
    if (b->count && !b->events) return TB_EINVAL;
    if (!has_room(w, TBR_WIRE_HEADER_SIZE)) return TB_ENOMEM;
    if (write) {
        put_u32(w->out + w->pos, TBR_WIRE_MAGIC);
        put_u32(w->out + w->pos + 4, b->count);
        put_u64(w->out + w->pos + 8, b->token);
    }
    w->pos += TBR_WIRE_HEADER_SIZE;
    for (uint32_t i = 0; i < b->count; i++) {
        const tb_event *e = &b->events[i];
        if (!has_room(w, TBR_WIRE_EVENT_FIXED_SIZE)) return TB_ENOMEM;
        if (write) {
            uint8_t *p = w->out + w->pos;
            put_u64(p, e->id);
            put_u64(p + 8, e->ingest_ns);
            put_u64(p + 16,
                    (uint64_t)e->stream | (uint64_t)e->port << 32 | (uint64_t)e->flags << 48);
            put_u64(p + 24, (uint64_t)e->source);
        }
        w->pos += TBR_WIRE_EVENT_FIXED_SIZE;
        int rc = put_value(w, &e->data, write);
        if (rc) return rc;
        rc = put_value(w, &e->meta, write);
        if (rc) return rc;
    }
    return TB_OK;
}

size_t tbr_wire_value_size(const tb_value *v) {
    writer w = {NULL, SIZE_MAX, 0};
    return put_value(&w, v, false) == TB_OK ? w.pos : 0;
}

size_t tbr_wire_batch_size(const tb_batch *b) {
    writer w = {NULL, SIZE_MAX, 0};
    return put_batch(&w, b, false) == TB_OK ? w.pos : 0;
}

/* Sets *written after an encoding ended with rc: the size, or the size needed. */
static int finish_encode(int rc, size_t pos, size_t needed_if_short, size_t *written) {
    size_t n = 0;
    if (rc == TB_OK) n = pos;
    if (rc == TB_ENOMEM) {
        /* too small, or too deep past where the buffer ran out: measuring tells which */
        n = needed_if_short;
        if (n == 0) rc = TB_EINVAL;
    }
    if (written) *written = n;
    return rc;
}

int tbr_wire_encode_value(const tb_value *v, uint8_t *out, size_t cap, size_t *written) {
    writer w = {out, out ? cap : 0, 0};
    int rc = put_value(&w, v, true);
    return finish_encode(rc, w.pos, rc == TB_ENOMEM ? tbr_wire_value_size(v) : 0, written);
}

int tbr_wire_encode_batch(const tb_batch *b, uint8_t *out, size_t cap, size_t *written) {
    writer w = {out, out ? cap : 0, 0};
    int rc = put_batch(&w, b, true);
    return finish_encode(rc, w.pos, rc == TB_ENOMEM ? tbr_wire_batch_size(b) : 0, written);
}

/* ---------------------------------------------------------------------------------------
 * Decoding
 * ------------------------------------------------------------------------------------- */

/* The decoder's view of its private copy of the message. */
/* What a decoder makes of TB_VF_NO_ESCAPE hints (wire.h). */
enum { HINTS_CHECK = 0, HINTS_DROP, HINTS_TRUST };

typedef struct reader {
    const uint8_t *p;
    size_t len;
    size_t pos;
    tb_arena *arena;
    char *err;
    size_t err_size;
    int hints; /* HINTS_* */
} reader;

/* Whether a string or key flagged as needing no escape keeps the flag. */
static ALWAYS_INLINE bool keep_hint(const reader *r, const uint8_t *s, size_t n);

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static int fail_at(reader *r, size_t at, const char *fmt, ...) {
    if (r->err && r->err_size) {
        int n = snprintf(r->err, r->err_size, "byte %zu: ", at);
        if (n >= 0 && (size_t)n < r->err_size) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(r->err + n, r->err_size - (size_t)n, fmt, ap);
            va_end(ap);
        }
    }
    return TB_EINVAL;
}

static int fail_nomem(reader *r) {
    if (r->err && r->err_size) snprintf(r->err, r->err_size, "out of memory");
    return TB_ENOMEM;
}

static inline size_t left(const reader *r) { return r->len - r->pos; }

/* Nonzero when some byte of x is below 0x20, '"' or '\\': a byte JSON must escape. */
static inline uint64_t word_needs_escape(uint64_t x) {
    const uint64_t ones = 0x0101010101010101u, highs = 0x8080808080808080u;
    uint64_t q = x ^ (ones * '"'), b = x ^ (ones * '\\');
    uint64_t below = (x - ones * 0x20) & ~x;
    uint64_t quote = (q - ones) & ~q;
    uint64_t bslash = (b - ones) & ~b;
    return (below | quote | bslash) & highs;
}

/* True when none of the n octets at s needs a JSON escape. s is 8-aligned in the copy and
 * padded with zeros to a multiple of 8, so whole words can be read; the padding is made
 * spaces before the last word is looked at. Sixteen bytes at a time with SSE2 (every x86-64
 * has it), with no early exit: strings that need escapes are rare, and the loop is short. */
static ALWAYS_INLINE bool escape_free(const uint8_t *s, size_t n) {
    size_t i = 0;
#if defined(__SSE2__)
    if (n >= 16) {
        const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\');
        const __m128i max_control = _mm_set1_epi8(0x1f);
        __m128i hit = _mm_setzero_si128();
        for (; n - i >= 16; i += 16) {
            __m128i x = _mm_loadu_si128((const __m128i *)(const void *)(s + i));
            hit = _mm_or_si128(hit, _mm_cmpeq_epi8(x, quote));
            hit = _mm_or_si128(hit, _mm_cmpeq_epi8(x, bslash));
            /* unsigned x <= 0x1f: min(x, 0x1f) == x */
            hit = _mm_or_si128(hit, _mm_cmpeq_epi8(_mm_min_epu8(x, max_control), x));
        }
        if (_mm_movemask_epi8(hit)) return false;
    }
#endif
    for (; n - i >= 8; i += 8)
        if (word_needs_escape(get_u64(s + i))) return false;
    if (i == n) return true;
    size_t pad = 8 - (n - i);
    uint64_t spaces = 0x2020202020202020u & ~(~(uint64_t)0 >> (8 * pad));
    return !word_needs_escape(get_u64(s + i) | spaces);
}

static ALWAYS_INLINE bool keep_hint(const reader *r, const uint8_t *s, size_t n) {
    return r->hints == HINTS_TRUST || (r->hints == HINTS_CHECK && escape_free(s, n));
}

/* Checks that the n octets at the reader's position, padded to 8, are in bounds and that
 * the padding is zero; what names them ("a string", "a key") goes into the message. */
static inline int take_padded(reader *r, size_t head_at, uint32_t n, const char *what,
                              const uint8_t **out) {
    size_t padded = pad8(n);
    if (padded > left(r))
        return fail_at(r, head_at,
                       "%s of %u bytes runs past the end of the message (%zu bytes left)", what,
                       n, left(r));
    if (padded != n) {
        size_t pad = padded - n;
        uint64_t last = get_u64(r->p + r->pos + padded - 8);
        if (last >> (64 - 8 * pad))
            return fail_at(r, r->pos + n, "the padding after %s is not zero", what);
    }
    *out = r->p + r->pos;
    r->pos += padded;
    return TB_OK;
}

typedef struct dec_frame {
    tb_value *container; /* NULL at the top */
    uint32_t next;       /* the index of its next slot to fill */
} dec_frame;

/* Reads the head and payload of one value into *dst; for a non-empty array or object,
 * allocates its slots (filled later by the caller's walk). depth is the number of
 * containers dst is nested in. */
static int take_value_head(reader *r, tb_value *dst, unsigned depth) {
    size_t at = r->pos;
    if (left(r) < 8)
        return fail_at(r, at, "a value needs at least 8 bytes, %zu left", left(r));
    uint64_t h = get_u64(r->p + at);
    uint32_t type = (uint32_t)(h & 0xff), flags = (uint32_t)(h >> 8) & 0xff;
    uint32_t reserved = (uint32_t)(h >> 16) & 0xffff, n = (uint32_t)(h >> 32);
    r->pos += 8;
    if (type > TB_OBJECT) return fail_at(r, at, "unknown value type %u", type);
    if (reserved)
        return fail_at(r, at + 2, "the reserved field of a value is 0x%x, not zero", reserved);
    if (flags && !(type == TB_STRING && flags == TB_VF_NO_ESCAPE))
        return fail_at(r, at + 1, "flags 0x%x are not allowed on a value of type %s", flags,
                       tb_type_name(type));
    *dst = tb_null();
    dst->type = (uint8_t)type;
    switch (type) {
    case TB_NULL:
        if (n) return fail_at(r, at + 4, "a null value with length %u, not 0", n);
        return TB_OK;
    case TB_BOOL:
        if (n > 1) return fail_at(r, at + 4, "a bool value of %u, not 0 or 1", n);
        dst->as.b = n != 0;
        return TB_OK;
    case TB_I64:
    case TB_U64:
    case TB_F64:
        if (n) return fail_at(r, at + 4, "a number with length %u, not 0", n);
        if (left(r) < 8)
            return fail_at(r, r->pos, "a number needs 8 bytes, %zu left", left(r));
        dst->as.u = get_u64(r->p + r->pos); /* the bits, as they were written */
        r->pos += 8;
        return TB_OK;
    case TB_STRING:
    case TB_BYTES: {
        const uint8_t *s = NULL;
        int rc = take_padded(r, at, n, type == TB_STRING ? "a string" : "a bytes value", &s);
        if (rc) return rc;
        dst->len = n;
        dst->as.bytes = s;
        /* a hint the runtime will act on when it writes JSON: kept only where it holds */
        if (flags && keep_hint(r, s, n)) dst->flags = TB_VF_NO_ESCAPE;
        return TB_OK;
    }
    case TB_ARRAY:
    case TB_OBJECT: {
        size_t slot = type == TB_ARRAY ? sizeof(tb_value) : sizeof(tb_member);
        size_t min = type == TB_ARRAY ? MIN_VALUE_SIZE : MIN_MEMBER_SIZE;
        if (depth == TBR_WIRE_MAX_DEPTH)
            return fail_at(r, at, "nesting deeper than %d arrays and objects", TBR_WIRE_MAX_DEPTH);
        /* the count must be possible in what is left before anything is allocated */
        if ((size_t)n > left(r) / min)
            return fail_at(r, at + 4, "%s of %u %s cannot fit in the %zu bytes left",
                           type == TB_ARRAY ? "an array" : "an object", n,
                           type == TB_ARRAY ? "items" : "members", left(r));
        dst->len = n;
        if (n) {
            void *slots = tb_arena_alloc(r->arena, (size_t)n * slot, 8);
            if (!slots) return fail_nomem(r);
            if (type == TB_ARRAY)
                dst->as.items = slots;
            else
                dst->as.members = slots;
        }
        return TB_OK;
    }
    default: return fail_at(r, at, "unknown value type %u", type); /* not reached */
    }
}

/* Reads a member's head and key into m, leaving its value to be read next. */
static int take_member_head(reader *r, tb_member *m) {
    size_t at = r->pos;
    if (left(r) < 8)
        return fail_at(r, at, "a member needs at least 8 bytes, %zu left", left(r));
    uint32_t n = get_u32(r->p + at), flags = get_u32(r->p + at + 4);
    r->pos += 8;
    if (flags & ~(uint32_t)TB_VF_NO_ESCAPE)
        return fail_at(r, at + 4, "key flags 0x%x are not allowed", flags);
    const uint8_t *key = NULL;
    int rc = take_padded(r, at, n, "a key", &key);
    if (rc) return rc;
    m->key = (const char *)key;
    m->key_len = n;
    m->reserved = flags && keep_hint(r, key, n) ? TB_VF_NO_ESCAPE : 0u;
    return TB_OK;
}

/* Reads one value, its items and members depth first, into *root; the walk is the
 * encoder's (put_value). */
static int take_value(reader *r, tb_value *root) {
    dec_frame stack[TBR_WIRE_MAX_DEPTH];
    unsigned depth = 0;
    tb_value *c = NULL, *dst = root;
    uint32_t next = 0;
    for (;;) {
        int rc = take_value_head(r, dst, depth);
        if (rc) return rc;
        if (is_container(dst->type) && dst->len) {
            stack[depth++] = (dec_frame){c, next};
            c = dst;
            next = 0;
        }
        while (c && next == c->len) {
            depth--;
            c = stack[depth].container;
            next = stack[depth].next;
        }
        if (!c) return TB_OK;
        if (c->type == TB_ARRAY) {
            dst = &c->as.items[next++];
        } else {
            tb_member *m = &c->as.members[next++];
            rc = take_member_head(r, m);
            if (rc) return rc;
            dst = &m->value;
        }
    }
}

/* Copies in[0..len) into the arena, the one copy every string will point into. */
static int take_copy(reader *r, const uint8_t *in, size_t len) {
    uint8_t *copy = tb_arena_alloc(r->arena, len ? len : 1, 8);
    if (!copy) return fail_nomem(r);
    if (len) memcpy(copy, in, len);
    r->p = copy;
    r->len = len;
    r->pos = 0;
    return TB_OK;
}

static int refuse_trailing(reader *r) {
    return fail_at(r, r->pos, "%zu bytes after the end of the message", left(r));
}

int tbr_wire_decode_value(const uint8_t *in, size_t len, tb_arena *arena, tb_value *out,
                          char *err, size_t err_size) {
    reader r = {NULL, 0, 0, arena, err, err_size, HINTS_CHECK};
    tb_value v;
    if (len == 0) return fail_at(&r, 0, "an empty message, not a value");
    int rc = take_copy(&r, in, len);
    if (rc) return rc;
    if ((rc = take_value(&r, &v))) return rc;
    if (left(&r)) return refuse_trailing(&r);
    *out = v;
    return TB_OK;
}

static int take_header(reader *r, uint32_t *count, uint64_t *token) {
    if (r->len < TBR_WIRE_HEADER_SIZE)
        return fail_at(r, 0, "a batch needs a header of %u bytes, the message has %zu",
                       TBR_WIRE_HEADER_SIZE, r->len);
    uint32_t magic = get_u32(r->p);
    if ((magic & 0x00ffffffu) != (TBR_WIRE_MAGIC & 0x00ffffffu))
        return fail_at(r, 0, "not a temblor wire batch (magic 0x%08x)", magic);
    if (magic >> 24 != TBR_WIRE_VERSION)
        return fail_at(r, 3, "wire format version %u, this side reads version %u", magic >> 24,
                       TBR_WIRE_VERSION);
    *count = get_u32(r->p + 4);
    *token = get_u64(r->p + 8);
    r->pos = TBR_WIRE_HEADER_SIZE;
    if ((size_t)*count > left(r) / MIN_EVENT_SIZE)
        return fail_at(r, 4, "%u events cannot fit in the %zu bytes left", *count, left(r));
    return TB_OK;
}

static int take_event(reader *r, tb_event *e) {
    size_t at = r->pos;
    if (left(r) < TBR_WIRE_EVENT_FIXED_SIZE)
        return fail_at(r, at, "an event needs %u bytes of fields, %zu left",
                       TBR_WIRE_EVENT_FIXED_SIZE, left(r));
    const uint8_t *p = r->p + at;
    uint64_t mid = get_u64(p + 16);
    uint32_t reserved = get_u32(p + 28);
    if (reserved)
        return fail_at(r, at + 28, "the reserved field of an event is 0x%x, not zero", reserved);
    e->id = get_u64(p);
    e->ingest_ns = get_u64(p + 8);
    e->stream = (uint32_t)mid;
    e->port = (uint16_t)(mid >> 32);
    e->flags = (uint16_t)(mid >> 48);
    e->source = get_u32(p + 24);
    e->reserved = 0;
    r->pos += TBR_WIRE_EVENT_FIXED_SIZE;
    int rc = take_value(r, &e->data);
    if (rc) return rc;
    return take_value(r, &e->meta);
}

static int decode_batch(const uint8_t *in, size_t len, bool copy, tb_arena *arena, tb_batch *out, char *err,
                        size_t err_size) {
    /* the runtime (copying) drops a host's hints rather than pay to check them: whoever writes
     * the strings as JSON looks at them then; a host (in place) keeps the runtime's */
    reader r = {NULL, 0, 0, arena, err, err_size, copy ? HINTS_DROP : HINTS_TRUST};
    uint32_t count = 0;
    uint64_t token = 0;
    tb_event *events = NULL;
    if (len < TBR_WIRE_HEADER_SIZE)
        return fail_at(&r, 0, "a batch needs a header of %u bytes, the message has %zu",
                       TBR_WIRE_HEADER_SIZE, len);
    int rc = TB_OK;
    if (copy) rc = take_copy(&r, in, len);
    else r.p = in, r.len = len;
    if (rc) return rc;
    if ((rc = take_header(&r, &count, &token))) return rc;
    if (count) {
        events = tb_arena_alloc(arena, (size_t)count * sizeof(tb_event), 8);
        if (!events) return fail_nomem(&r);
    }
    for (uint32_t i = 0; i < count; i++)
        if ((rc = take_event(&r, &events[i]))) return rc;
    if (left(&r)) return refuse_trailing(&r);
    memset(out, 0, sizeof *out);
    out->events = events;
    out->count = count;
    out->capacity = count;
    out->arena = arena;
    out->token = token;
    return TB_OK;
}

int tbr_wire_decode_batch(const uint8_t *in, size_t len, tb_arena *arena, tb_batch *out, char *err, size_t err_size) {
    return decode_batch(in, len, true, arena, out, err, err_size);
}

int tbr_wire_decode_batch_in_place(const uint8_t *in, size_t len, tb_arena *arena, tb_batch *out, char *err,
                                   size_t err_size) {
    if ((uintptr_t)in % 8) {
        reader r = {NULL, 0, 0, arena, err, err_size, HINTS_CHECK};
        return fail_at(&r, 0, "a message to decode in place must be 8-byte aligned");
    }
    return decode_batch(in, len, false, arena, out, err, err_size);
}
