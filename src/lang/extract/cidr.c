/*
 * cidr.c - the `cidr|...|` extractor: the input is an IP address, as Tremor's.
 *
 * With an empty pattern any address matches, IPv4 or IPv6, and may carry a prefix length
 * ("10.0.0.0/8"); the result is {"prefix": [...], "mask": [...]}: for IPv4 four octets,
 * for IPv6 eight 16-bit groups, the prefix being the first address of the network
 * (host bits cleared) and the mask the network mask.
 *
 * With a comma-separated list of ranges ("10.22.0.0/24, 10.22.1.0/24") the input must be
 * a plain address inside one of them; the result is then that single address (mask all
 * ones). Tremor's rules for a range: a.b.c.d, or the short forms a, a.b and a.b.c (the last
 * part fills the low octet, as in its parser: "1.2" is 1.0.0.2), each with an optional /len;
 * host bits are cleared. Tremor refuses IPv6 ranges; here they work (an IPv6 input is
 * tested against the IPv6 ranges, an IPv4 one against the IPv4 ranges).
 *
 * Thread contract: compile and destroy on the control thread; run is reentrant (the state
 * is only read).
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "lang/extract/kinds.h"

typedef struct ip_net {
    uint8_t addr[16]; /* network order; IPv4 in the first four */
    unsigned bits;    /* prefix length */
    bool v6;
} ip_net;

typedef struct cidr_state {
    ip_net *ranges;
    size_t nranges; /* 0: any address */
} cidr_state;

static void cidr_destroy(void *p) {
    cidr_state *st = p;
    if (!st) return;
    free(st->ranges);
    free(st);
}

/* ---- parsing addresses ------------------------------------------------------------ */

/* A decimal number of at most max_digits digits at s[*i..n) into *v, no larger than max.
 * leading_zero: whether "01" is allowed. */
static bool parse_dec(const char *s, size_t n, size_t *i, unsigned max, unsigned max_digits, bool leading_zero,
                      unsigned *v) {
    size_t start = *i;
    unsigned x = 0;
    while (*i < n && s[*i] >= '0' && s[*i] <= '9' && *i - start < max_digits) x = x * 10 + (unsigned)(s[(*i)++] - '0');
    if (*i == start || x > max) return false;
    if (*i < n && s[*i] >= '0' && s[*i] <= '9') return false; /* too many digits */
    if (!leading_zero && *i - start > 1 && s[start] == '0') return false;
    *v = x;
    return true;
}

/* The optional "/len" at s[*i..n); absent means the full length. */
static bool parse_len(const char *s, size_t n, size_t *i, unsigned full, unsigned *bits) {
    *bits = full;
    if (*i == n) return true;
    if (s[*i] != '/') return false;
    (*i)++;
    return parse_dec(s, n, i, full, 3, true, bits) && *i == n;
}

/* A dotted quad as Rust's Ipv4Addr reads it: four parts 0-255, no leading zeros. */
static bool parse_v4(const char *s, size_t n, size_t *i, uint8_t out[4]) {
    for (int k = 0; k < 4; k++) {
        unsigned part;
        if (k && (*i >= n || s[(*i)++] != '.')) return false;
        if (!parse_dec(s, n, i, 255, 3, false, &part)) return false;
        out[k] = (uint8_t)part;
    }
    return true;
}

/* IPv6 through inet_pton, which needs a NUL-terminated copy; the longest text form
 * (with an embedded IPv4 part) is 45 characters. */
static bool parse_v6(const char *s, size_t n, uint8_t out[16]) {
    char buf[64];
    if (n == 0 || n >= sizeof buf || memchr(s, '\0', n)) return false;
    memcpy(buf, s, n);
    buf[n] = '\0';
    return inet_pton(AF_INET6, buf, out) == 1;
}

static void clear_host_bits(ip_net *net) {
    unsigned total = net->v6 ? 128 : 32;
    for (unsigned b = net->bits; b < total; b++) net->addr[b / 8] &= (uint8_t) ~(0x80u >> (b % 8));
}

/* An address with an optional /len (in_range false), or a plain address (true). */
static bool parse_input(const char *s, size_t n, bool plain, ip_net *net) {
    memset(net, 0, sizeof *net);
    const char *slash = memchr(s, '/', n);
    size_t addr_len = slash ? (size_t)(slash - s) : n;
    if (slash && plain) return false;
    size_t i = 0;
    if (parse_v4(s, addr_len, &i, net->addr) && i == addr_len) {
        net->v6 = false;
    } else if (parse_v6(s, addr_len, net->addr)) {
        net->v6 = true;
    } else {
        return false;
    }
    i = addr_len;
    if (!parse_len(s, n, &i, net->v6 ? 128 : 32, &net->bits)) return false;
    clear_host_bits(net);
    return true;
}

/* A range in Tremor's IPv4 forms (a, a.b, a.b.c, a.b.c.d, each with an optional /len,
 * the last part filling the low octet), else IPv6 with an optional /len. */
static bool parse_rule_v4(const char *s, size_t n, ip_net *net) {
    unsigned parts[4];
    size_t i = 0;
    int k = 0;
    while (k < 4) {
        if (!parse_dec(s, n, &i, 255, 3, true, &parts[k])) return false;
        k++;
        if (i < n && s[i] == '.' && k < 4) {
            i++;
            if (i == n) return false; /* "1.2." */
            continue;
        }
        break;
    }
    memset(net, 0, sizeof *net);
    for (int j = 0; j < k - 1; j++) net->addr[j] = (uint8_t)parts[j];
    net->addr[3] = (uint8_t)parts[k - 1];
    if (!parse_len(s, n, &i, 32, &net->bits)) return false;
    clear_host_bits(net);
    return true;
}

static bool parse_rule(const char *s, size_t n, ip_net *net) {
    if (parse_rule_v4(s, n, net)) return true;
    memset(net, 0, sizeof *net);
    const char *slash = memchr(s, '/', n);
    size_t addr_len = slash ? (size_t)(slash - s) : n, i = addr_len;
    if (!parse_v6(s, addr_len, net->addr)) return false;
    net->v6 = true;
    if (!parse_len(s, n, &i, 128, &net->bits)) return false;
    clear_host_bits(net);
    return true;
}

/* ---- compiling -------------------------------------------------------------------- */

static bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

static int cidr_compile(const char *pattern, size_t len, void **state, char *err, size_t err_size) {
    cidr_state *st = calloc(1, sizeof *st);
    if (!st) return TB_ENOMEM;
    size_t cap = 1;
    for (size_t i = 0; i < len; i++) cap += pattern[i] == ',';
    if (len) st->ranges = calloc(cap, sizeof *st->ranges);
    if (len && !st->ranges) {
        free(st);
        return TB_ENOMEM;
    }
    /* empty means any address; otherwise every comma-separated part (trimmed) is a range */
    for (size_t at = 0; len && at <= len;) {
        const char *comma = memchr(pattern + at, ',', len - at);
        size_t end = comma ? (size_t)(comma - pattern) : len, a = at, b = end;
        while (a < b && is_space(pattern[a])) a++;
        while (b > a && is_space(pattern[b - 1])) b--;
        if (!parse_rule(pattern + a, b - a, &st->ranges[st->nranges])) {
            int shown = b - a > TBR_EXTRACT_QUOTE_MAX ? TBR_EXTRACT_QUOTE_MAX : (int)(b - a);
            cidr_destroy(st);
            return tbr_extract_fail(err, err_size, "cidr: could not parse CIDR '%.*s' at offset %zu", shown,
                                    pattern + a, a);
        }
        st->nranges++;
        at = end + 1;
    }
    *state = st;
    return TB_OK;
}

/* ---- matching --------------------------------------------------------------------- */

static bool in_net(const ip_net *net, const ip_net *ip) {
    if (net->v6 != ip->v6) return false;
    for (unsigned b = 0; b < net->bits; b++) {
        uint8_t m = (uint8_t)(0x80u >> (b % 8));
        if ((net->addr[b / 8] & m) != (ip->addr[b / 8] & m)) return false;
    }
    return true;
}

/* One array of n numbers from the bytes: octets (IPv4) or big-endian 16-bit groups. */
static bool put_array(tb_arena *arena, tb_value *slot, const uint8_t *bytes, bool v6) {
    uint32_t n = v6 ? 8 : 4;
    tb_value *items = tb_arena_alloc(arena, n * sizeof *items, 8);
    if (!items) return false;
    for (uint32_t k = 0; k < n; k++)
        items[k] = tb_i64(v6 ? (int64_t)((unsigned)bytes[2 * k] << 8 | bytes[2 * k + 1]) : (int64_t)bytes[k]);
    *slot = tb_array();
    slot->len = n;
    slot->as.items = items;
    return true;
}

static int build(const ip_net *ip, tb_arena *arena, tb_value *out) {
    uint8_t mask[16] = {0};
    for (unsigned b = 0; b < ip->bits; b++) mask[b / 8] |= (uint8_t)(0x80u >> (b % 8));
    if (!tbr_extract_record(arena, out, 2)) return TB_ENOMEM;
    /* the keys are string literals: static, so nothing to copy */
    tb_member *m = out->as.members;
    m[0] = (tb_member){"prefix", 6, 0, tb_null()};
    m[1] = (tb_member){"mask", 4, 0, tb_null()};
    out->len = 2;
    if (!put_array(arena, &m[0].value, ip->addr, ip->v6) || !put_array(arena, &m[1].value, mask, ip->v6))
        return TB_ENOMEM;
    return 1;
}

static int cidr_run(void *p, const char *s, size_t len, tb_arena *arena, tb_value *out) {
    cidr_state *st = p;
    ip_net ip;
    if (!parse_input(s, len, st->nranges > 0, &ip)) return 0;
    if (st->nranges) {
        size_t i = 0;
        while (i < st->nranges && !in_net(&st->ranges[i], &ip)) i++;
        if (i == st->nranges) return 0;
    }
    return out ? build(&ip, arena, out) : 1;
}

const tbr_extract_kind tbr_extract_cidr = {"cidr", cidr_compile, cidr_run, cidr_destroy};
