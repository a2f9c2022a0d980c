/*
 * dissect.c - the `dissect|...|` extractor: Logstash-style dissect patterns, as Tremor's
 * (the dissect crate). The pattern is fields `%{...}` separated by literal delimiters;
 * each field takes the input up to the next delimiter, the last one takes the rest, and
 * the whole input must be consumed.
 *
 *   %{name}        the text becomes field "name"       %{name:int} / :float / :string
 *   %{}  %{?name}  skipped (a %{?name} is remembered for a later %{&name})
 *   %{&name}       a field whose key is the text the earlier %{?name} skipped
 *   %{+name}       appended to field "name" (joined with the last padding, " " at first)
 *   %{_} %{_(xy)}  padding: any number of " " (or "xy") skipped here; it also ends the
 *                  field before it, and then needs no delimiter between two fields
 *
 * Delimiters understand \\ \n \t \r. Two fields must be separated by a delimiter (or a
 * padding); a padding may not be followed by a delimiter starting with the padding.
 *
 * Thread contract: compile and destroy on the control thread; run on one thread at a time
 * per extractor (the values skipped by %{?name} are kept in scratch space in the state).
 */
#include <stdlib.h>
#include <string.h>

#include "lang/extract/kinds.h"

enum { D_DELIM, D_FIELD, D_PAD };
enum { T_STRING, T_INT, T_FLOAT };

typedef struct dcmd {
    uint8_t kind;  /* D_* */
    uint8_t type;  /* T_*, for fields */
    bool ignore;   /* %{?name}, %{} */
    bool lookup;   /* %{&name} */
    bool add;      /* %{+name} */
    int32_t skip;  /* ignore: its slot; lookup: the slot of the same name, or -1 */
    char *text;    /* delimiter (unescaped), padding, or field name */
    size_t len;
} dcmd;

typedef struct skip_slot {
    const char *name; /* a command's text: the names of %{?name} fields, one slot each */
    size_t name_len;
    const char *val;  /* per run: what it skipped */
    size_t val_len;
    bool set;
} skip_slot;

typedef struct dissect_state {
    dcmd *cmds;
    size_t ncmds;
    skip_slot *slots;
    size_t nslots;
} dissect_state;

static void dissect_destroy(void *p) {
    dissect_state *st = p;
    if (!st) return;
    for (size_t i = 0; i < st->ncmds; i++) free(st->cmds[i].text);
    free(st->cmds);
    free(st->slots);
    free(st);
}

/* ---- compiling -------------------------------------------------------------------- */

static const char *find(const char *s, size_t n, const char *needle, size_t m) {
    if (m > n) return NULL;
    for (size_t i = 0; i + m <= n; i++)
        if (memcmp(s + i, needle, m) == 0) return s + i;
    return NULL;
}

static char *dup_text(const char *s, size_t n) {
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

static int push(dissect_state *st, dcmd c) {
    dcmd *v = realloc(st->cmds, (st->ncmds + 1) * sizeof *v);
    if (!v) {
        free(c.text);
        return TB_ENOMEM;
    }
    st->cmds = v;
    st->cmds[st->ncmds++] = c;
    return TB_OK;
}

/* A delimiter: pattern[at..at+n) with its escapes decoded. */
static int push_delim(dissect_state *st, const char *pattern, size_t at, size_t n, char *err, size_t err_size) {
    char *s;
    size_t len;
    int rc = tbr_extract_unescape("dissect", pattern, at, n, &s, &len, err, err_size);
    if (rc) return rc;
    return push(st, (dcmd){D_DELIM, T_STRING, false, false, false, -1, s, len});
}

/* The type after the first ':' of a field, into *type. */
static int parse_type(const char *t, size_t n, size_t idx, uint8_t *type, char *err, size_t err_size) {
    if (n == 3 && memcmp(t, "int", 3) == 0) *type = T_INT;
    else if (n == 5 && memcmp(t, "float", 5) == 0) *type = T_FLOAT;
    else if (n == 6 && memcmp(t, "string", 6) == 0) *type = T_STRING;
    else {
        int shown = n > TBR_EXTRACT_QUOTE_MAX ? TBR_EXTRACT_QUOTE_MAX : (int)n;
        return tbr_extract_fail(err, err_size,
                                "dissect: invalid type '%.*s' (expected int, float or string) at offset %zu",
                                shown, t, idx);
    }
    return TB_OK;
}

/* The inside of %{...}: e[0..n), the token starting at pattern offset idx. */
static int parse_field(const char *e, size_t n, size_t idx, dcmd *c, char *err, size_t err_size) {
    const char *name = e;
    size_t name_len = n;
    *c = (dcmd){D_FIELD, T_STRING, false, false, false, -1, NULL, 0};
    if (n == 0) {
        c->ignore = true;
    } else if (e[0] == '?') {
        c->ignore = true;
        name++, name_len--;
    } else if (e[0] == '+') {
        c->add = true; /* no type: the name is all the rest, colons included */
        name++, name_len--;
    } else if (e[0] == '_') {
        c->kind = D_PAD;
        if (n == 1) {
            name = " ", name_len = 1;
        } else if (n >= 3 && e[1] == '(' && e[n - 1] == ')') {
            name = e + 2, name_len = n - 3;
        } else {
            return tbr_extract_fail(err, err_size, "dissect: invalid padding at offset %zu", idx);
        }
    } else {
        if (e[0] == '&') {
            c->lookup = true;
            name++, name_len--;
        }
        const char *colon = memchr(name, ':', name_len);
        if (colon) {
            size_t tn = name_len - (size_t)(colon + 1 - name);
            int rc = parse_type(colon + 1, tn, idx, &c->type, err, err_size);
            if (rc != TB_OK) return rc;
            name_len = (size_t)(colon - name);
        }
    }
    c->text = dup_text(name, name_len);
    c->len = name_len;
    return c->text ? TB_OK : TB_ENOMEM;
}

/* One %{...} at pattern[idx..], rest_len bytes left; advances *idx past it. */
static int parse_token(dissect_state *st, const char *pattern, size_t len, size_t *idx, bool *was_field,
                       char *err, size_t err_size) {
    const char *rest = pattern + *idx;
    size_t n = len - *idx;
    const char *close = memchr(rest, '}', n);
    if (!close) return tbr_extract_fail(err, err_size, "dissect: unterminated field at offset %zu", *idx);
    size_t i = (size_t)(close - rest);
    const char *reopen = find(rest + 2, n - 2, "%{", 2);
    if (reopen && reopen < close) return tbr_extract_fail(err, err_size, "dissect: unterminated field at offset %zu", *idx);
    dcmd c;
    int rc = parse_field(rest + 2, i - 2, *idx, &c, err, err_size);
    if (rc != TB_OK) return rc;
    const char *after = close + 1;
    size_t after_n = n - i - 1;
    if (c.kind == D_PAD) {
        /* the padding would swallow the delimiter that should end it */
        if (after_n >= c.len && memcmp(after, c.text, c.len) == 0) {
            free(c.text);
            return tbr_extract_fail(err, err_size,
                                    "dissect: padding followed by a delimiter that starts with the padding at offset %zu",
                                    *idx);
        }
        *was_field = false;
    } else {
        if (*was_field) {
            free(c.text);
            return tbr_extract_fail(err, err_size, "dissect: a delimiter is needed between two fields at offset %zu",
                                    *idx);
        }
        *was_field = true;
    }
    *idx += i + 1;
    return push(st, c);
}

static int parse(dissect_state *st, const char *pattern, size_t len, char *err, size_t err_size) {
    size_t idx = 0;
    bool was_field = false;
    while (idx < len) {
        int rc;
        if (len - idx >= 2 && pattern[idx] == '%' && pattern[idx + 1] == '{') {
            rc = parse_token(st, pattern, len, &idx, &was_field, err, err_size);
        } else {
            was_field = false;
            const char *open = find(pattern + idx, len - idx, "%{", 2);
            size_t n = open ? (size_t)(open - (pattern + idx)) : len - idx;
            rc = push_delim(st, pattern, idx, n, err, err_size);
            idx += n;
        }
        if (rc != TB_OK) return rc;
    }
    return TB_OK;
}

/* Gives each distinct %{?name} a slot, and each %{&name} the slot of its name. */
static int link_skips(dissect_state *st) {
    st->slots = calloc(st->ncmds + 1, sizeof *st->slots);
    if (!st->slots) return TB_ENOMEM;
    for (size_t i = 0; i < st->ncmds; i++) {
        dcmd *c = &st->cmds[i];
        if (c->kind != D_FIELD || (!c->ignore && !c->lookup)) continue;
        size_t s = 0;
        while (s < st->nslots && !(st->slots[s].name_len == c->len && memcmp(st->slots[s].name, c->text, c->len) == 0))
            s++;
        if (s == st->nslots && c->ignore) {
            st->slots[s].name = c->text;
            st->slots[s].name_len = c->len;
            st->nslots++;
        }
        c->skip = s < st->nslots ? (int32_t)s : -1;
    }
    return TB_OK;
}

static int dissect_compile(const char *pattern, size_t len, void **state, char *err, size_t err_size) {
    dissect_state *st = calloc(1, sizeof *st);
    if (!st) return TB_ENOMEM;
    int rc = parse(st, pattern, len, err, err_size);
    if (rc == TB_OK) rc = link_skips(st);
    if (rc != TB_OK) {
        dissect_destroy(st);
        return rc;
    }
    *state = st;
    return TB_OK;
}

/* ---- matching --------------------------------------------------------------------- */

/* Rust's i64 syntax: an optional sign and at least one digit, nothing else. */
static bool parse_i64(const char *s, size_t n, int64_t *out) {
    size_t i = 0;
    bool neg = false;
    if (i < n && (s[i] == '+' || s[i] == '-')) neg = s[i++] == '-';
    if (i == n) return false;
    uint64_t v = 0, limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    for (; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return false;
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (limit - d) / 10) return false;
        v = v * 10 + d;
    }
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return true;
}

static bool word_is(const char *s, size_t n, const char *w) {
    size_t m = strlen(w);
    if (n != m) return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c >= 'A' && c <= 'Z') c = (char)(c - 'A' + 'a');
        if (c != w[i]) return false;
    }
    return true;
}

/* Rust's f64 syntax: [+-] then inf, infinity, nan (any case) or digits with an optional
 * '.', at least one digit, and an optional exponent. Anything strtod would take beyond
 * that (hex, spaces, "nan(...)") is refused first. */
static bool float_syntax(const char *s, size_t n) {
    size_t i = 0, digits = 0;
    if (i < n && (s[i] == '+' || s[i] == '-')) i++;
    if (word_is(s + i, n - i, "inf") || word_is(s + i, n - i, "infinity") || word_is(s + i, n - i, "nan"))
        return true;
    for (; i < n && s[i] >= '0' && s[i] <= '9'; i++) digits++;
    if (i < n && s[i] == '.')
        for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++) digits++;
    if (!digits) return false;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        size_t exp = 0;
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-')) i++;
        for (; i < n && s[i] >= '0' && s[i] <= '9'; i++) exp++;
        if (!exp) return false;
    }
    return i == n;
}

static bool parse_f64(const char *s, size_t n, double *out) {
    if (!float_syntax(s, n)) return false;
    char small[128];
    char *buf = n < sizeof small ? small : malloc(n + 1);
    if (!buf) return false;
    memcpy(buf, s, n);
    buf[n] = '\0';
    *out = strtod(buf, NULL);
    if (buf != small) free(buf);
    return true;
}

/* The typed value of a field's text; false when it does not convert. */
static bool convert(uint8_t type, const char *s, size_t n, tb_value *v) {
    int64_t i;
    double f;
    switch (type) {
    case T_INT:
        if (!parse_i64(s, n, &i)) return false;
        *v = tb_i64(i);
        return true;
    case T_FLOAT:
        if (!parse_f64(s, n, &f)) return false;
        *v = tb_f64(f);
        return true;
    default: *v = tb_string(s, n); return true;
    }
}

typedef struct run_ctx {
    dissect_state *st;
    tb_arena *arena;
    tb_value *out;      /* NULL for a bare test */
    const char *sep;    /* what %{+name} joins with: the last padding seen */
    size_t sep_len;
} run_ctx;

static void remove_member(tb_value *obj, tb_value *v) {
    tb_member *m = (tb_member *)((char *)v - offsetof(tb_member, value));
    size_t i = (size_t)(m - obj->as.members);
    memmove(m, m + 1, (obj->len - i - 1) * sizeof *m);
    obj->len--;
}

/* %{+name}: joins onto an existing string; replaces nothing else (Tremor drops a
 * non-string it finds there). */
static int append(run_ctx *rx, const dcmd *c, const char *s, size_t n) {
    tb_value *v = tb_object_get(rx->out, c->text, c->len);
    if (!v) {
        v = tbr_extract_append(rx->arena, rx->out, c->text, c->len);
        if (!v) return TB_ENOMEM;
        *v = tb_string(s, n);
        return 1;
    }
    if (v->type != TB_STRING) {
        remove_member(rx->out, v);
        return 1;
    }
    size_t total = (size_t)v->len + rx->sep_len + n;
    char *j = tb_arena_alloc(rx->arena, total ? total : 1, 1);
    if (!j) return TB_ENOMEM;
    memcpy(j, v->as.s, v->len);
    memcpy(j + v->len, rx->sep, rx->sep_len);
    memcpy(j + v->len + rx->sep_len, s, n);
    *v = tb_string(j, total);
    return 1;
}

/* Stores the text s[0..n) a field took. key/key_len: its name (the looked-up text for
 * %{&name}). Returns 1, 0 when a typed field does not convert, or TB_ENOMEM. */
static int store(run_ctx *rx, const dcmd *c, const char *key, size_t key_len, const char *s, size_t n) {
    if (c->ignore) {
        skip_slot *slot = &rx->st->slots[c->skip];
        slot->val = s;
        slot->val_len = n;
        slot->set = true;
        return 1;
    }
    tb_value typed;
    if (!convert(c->type, s, n, &typed)) return 0;
    if (!rx->out) return 1;
    if (c->add) return append(rx, c, s, n);
    /* a looked-up key is input text and stays there; a name is the pattern's: copied */
    tb_value *v = c->lookup ? tb_object_set(rx->arena, rx->out, key, key_len)
                            : tbr_extract_set(rx->arena, rx->out, key, key_len);
    if (!v) return TB_ENOMEM;
    *v = typed;
    return 1;
}

/* The key of field c: its name, or for %{&name} the text %{?name} skipped (consumed). */
static bool field_key(run_ctx *rx, const dcmd *c, const char **key, size_t *key_len) {
    if (!c->lookup) {
        *key = c->text;
        *key_len = c->len;
        return true;
    }
    if (c->skip < 0) return false;
    skip_slot *slot = &rx->st->slots[c->skip];
    if (!slot->set || slot->val_len == 0) return false;
    slot->set = false;
    *key = slot->val;
    *key_len = slot->val_len;
    return true;
}

/* Where field t ends in data[0..n): before the next delimiter, before its padding (or,
 * when the padding is absent, before the delimiter after it), or at the end. */
static bool field_end(const dissect_state *st, size_t t, const char *data, size_t n, size_t *end) {
    const dcmd *next = t + 1 < st->ncmds ? &st->cmds[t + 1] : NULL;
    if (!next) {
        *end = n;
        return true;
    }
    if (next->kind == D_PAD) {
        const char *at = find(data, n, next->text, next->len);
        if (at) {
            *end = (size_t)(at - data);
            return true;
        }
        next = t + 2 < st->ncmds ? &st->cmds[t + 2] : NULL;
        if (!next) {
            *end = n;
            return true;
        }
    }
    if (next->kind != D_DELIM) return false;
    const char *at = find(data, n, next->text, next->len);
    if (!at) return false;
    *end = (size_t)(at - data);
    return true;
}

static int dissect_run(void *p, const char *s, size_t len, tb_arena *arena, tb_value *out) {
    dissect_state *st = p;
    run_ctx rx = {st, arena, out, " ", 1};
    for (size_t i = 0; i < st->nslots; i++) st->slots[i].set = false;
    if (out) *out = tb_object();
    const char *data = s;
    size_t n = len;
    for (size_t t = 0; t < st->ncmds; t++) {
        const dcmd *c = &st->cmds[t];
        if (c->kind == D_DELIM) {
            if (n < c->len || memcmp(data, c->text, c->len) != 0) return 0;
            data += c->len, n -= c->len;
        } else if (c->kind == D_PAD) {
            rx.sep = c->text, rx.sep_len = c->len;
            while (n >= c->len && memcmp(data, c->text, c->len) == 0) data += c->len, n -= c->len;
        } else {
            const char *key;
            size_t key_len, end;
            if (!field_key(&rx, c, &key, &key_len)) return 0;
            if (!field_end(st, t, data, n, &end)) return 0;
            int rc = store(&rx, c, key, key_len, data, end);
            if (rc <= 0) return rc;
            data += end, n -= end;
        }
    }
    return n == 0;
}

const tbr_extract_kind tbr_extract_dissect = {"dissect", dissect_compile, dissect_run, dissect_destroy};
