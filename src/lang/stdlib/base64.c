/*
 * base64.c - std::base64: binary to base64 text and back (RFC 4648, standard alphabet,
 * padded), as Tremor 0.13 defines them.
 *
 * encode also takes a string (its UTF-8 bytes) where Tremor takes only binary: a
 * convenience with no other reading. decode accepts the text with or without its padding
 * but nothing else: no line breaks, no URL-safe alphabet, no bits set past the data.
 */
#include "lang/fn.h"
#include "lang/stdlib/util.h"

static const char alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

SL_NATIVE(fn_encode) {
    static const char fn[] = "base64::encode";
    const uint8_t *p;
    size_t n;
    if (args[0].type == TB_STRING) {
        p = (const uint8_t *)sl_text(&args[0]);
        n = args[0].len;
    } else {
        SL_WANT(cx, fn, 0, "input", &args[0], TB_BYTES);
        p = (const uint8_t *)sl_text(&args[0]);
        n = args[0].len;
    }
    size_t olen = (n + 2) / 3 * 4;
    if (olen > SL_MAX_STRING)
        return tbr_fn_error(cx, "%s: the result would be larger than %zu bytes", fn,
                            (size_t)SL_MAX_STRING);
    char *o = tb_arena_alloc(cx->arena, olen ? olen : 1, 1);
    if (!o) return sl_oom(cx, fn);
    size_t j = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < n) v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < n) v |= p[i + 2];
        o[j++] = alphabet[(v >> 18) & 63];
        o[j++] = alphabet[(v >> 12) & 63];
        o[j++] = i + 1 < n ? alphabet[(v >> 6) & 63] : '=';
        o[j++] = i + 2 < n ? alphabet[v & 63] : '=';
    }
    *out = tb_string(o, olen);
    return TB_OK;
}

static int sextet(unsigned char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

SL_NATIVE(fn_decode) {
    static const char fn[] = "base64::decode";
    SL_WANT(cx, fn, 0, "input", &args[0], TB_STRING);
    const char *s = sl_text(&args[0]);
    size_t n = args[0].len;
    /* padding: a multiple of four ending in at most two '=', or none at all */
    size_t data = n;
    if (n % 4 == 0 && n >= 4) {
        if (s[n - 1] == '=') data--;
        if (s[n - 2] == '=') data--;
    }
    if (data % 4 == 1)
        return tbr_fn_error(cx, "%s: invalid base64 length %zu", fn, n);
    uint8_t *o = tb_arena_alloc(cx->arena, data / 4 * 3 + 3, 1);
    if (!o) return sl_oom(cx, fn);
    size_t j = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < data; i++) {
        int v = sextet((unsigned char)s[i]);
        if (v < 0) return tbr_fn_error(cx, "%s: invalid base64 byte at offset %zu", fn, i);
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            o[j++] = (uint8_t)(acc >> bits);
        }
    }
    /* the bits left over must be zero, or the text is not what an encoder writes */
    if (bits > 0 && (acc & ((1u << bits) - 1)) != 0)
        return tbr_fn_error(cx, "%s: invalid trailing bits at offset %zu", fn, data - 1);
    *out = tb_bytes(o, j);
    return TB_OK;
}

#define P TBR_FN_PURE
const tbr_fn tbr_stdlib_base64[] = {
    SL_FN("base64", "encode", 1, 1, P, fn_encode, "base64::encode(input) -> string",
          "The base64 text of binary (or of a string's bytes)."),
    SL_FN("base64", "decode", 1, 1, P, fn_decode, "base64::decode(input) -> binary",
          "The bytes of a base64 text."),
    SL_END,
};
