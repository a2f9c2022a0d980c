/* json_write.c - tb_value to JSON text, into an arena buffer or a stdio stream. */
#include "value/json.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Output goes through a sink so the arena buffer and stdio share one writer. */
typedef struct sink {
    tb_buf *buf;
    FILE *file;
    bool failed;
} sink;

static void put(sink *s, const char *p, size_t n) {
    if (s->failed || n == 0) return;
    if (s->buf) {
        if (!tb_buf_append(s->buf, p, n)) s->failed = true;
    } else if (fwrite(p, 1, n, s->file) != n) {
        s->failed = true;
    }
}

static void puts_(sink *s, const char *p) { put(s, p, strlen(p)); }

static void put_string(sink *s, const char *p, size_t n) {
    static const char hex[] = "0123456789abcdef";
    put(s, "\"", 1);
    size_t run = 0; /* start of the pending unescaped run */
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        const char *esc = NULL;
        char u[6];
        if (c == '"') esc = "\\\"";
        else if (c == '\\') esc = "\\\\";
        else if (c == '\n') esc = "\\n";
        else if (c == '\r') esc = "\\r";
        else if (c == '\t') esc = "\\t";
        else if (c < 0x20) {
            u[0] = '\\', u[1] = 'u', u[2] = '0', u[3] = '0', u[4] = hex[c >> 4], u[5] = hex[c & 15];
        } else {
            continue;
        }
        put(s, p + run, i - run);
        if (esc) puts_(s, esc);
        else put(s, u, 6);
        run = i + 1;
    }
    put(s, p + run, n - run);
    put(s, "\"", 1);
}

static void newline(sink *s, int indent, int depth) {
    if (indent <= 0) return;
    put(s, "\n", 1);
    for (int i = 0; i < indent * depth; i++) put(s, " ", 1);
}

static void write_value(sink *s, const tb_value *v, int indent, int depth) {
    char num[40];
    switch (v->type) {
    case TB_NULL: puts_(s, "null"); break;
    case TB_BOOL: puts_(s, v->as.b ? "true" : "false"); break;
    case TB_I64: snprintf(num, sizeof num, "%" PRId64, v->as.i), puts_(s, num); break;
    case TB_U64: snprintf(num, sizeof num, "%" PRIu64, v->as.u), puts_(s, num); break;
    case TB_F64:
        if (!isfinite(v->as.f)) {
            puts_(s, "null"); /* JSON has no NaN or infinity */
        } else {
            /* the shortest text that reads back as the same double */
            for (int digits = 15; digits <= 17; digits++) {
                snprintf(num, sizeof num, "%.*g", digits, v->as.f);
                if (strtod(num, NULL) == v->as.f) break;
            }
            /* keep it a float on the way back in */
            if (!strpbrk(num, ".eE")) strcat(num, ".0");
            puts_(s, num);
        }
        break;
    case TB_STRING: put_string(s, v->as.s, v->len); break;
    case TB_BYTES:
        put(s, "[", 1);
        for (uint32_t i = 0; i < v->len; i++) {
            snprintf(num, sizeof num, i ? ",%u" : "%u", v->as.bytes[i]);
            puts_(s, num);
        }
        put(s, "]", 1);
        break;
    case TB_ARRAY:
        put(s, "[", 1);
        for (uint32_t i = 0; i < v->len; i++) {
            if (i) put(s, ",", 1);
            newline(s, indent, depth + 1);
            write_value(s, &v->as.items[i], indent, depth + 1);
        }
        if (v->len) newline(s, indent, depth);
        put(s, "]", 1);
        break;
    case TB_OBJECT:
        put(s, "{", 1);
        for (uint32_t i = 0; i < v->len; i++) {
            const tb_member *m = &v->as.members[i];
            if (i) put(s, ",", 1);
            newline(s, indent, depth + 1);
            put_string(s, m->key, m->key_len);
            put(s, indent > 0 ? ": " : ":", indent > 0 ? 2 : 1);
            write_value(s, &m->value, indent, depth + 1);
        }
        if (v->len) newline(s, indent, depth);
        put(s, "}", 1);
        break;
    default: puts_(s, "null"); break;
    }
}

int tbr_json_write(const tb_value *v, tb_buf *buf) {
    sink s = {buf, NULL, false};
    write_value(&s, v, 0, 0);
    return s.failed ? TB_ENOMEM : TB_OK;
}

void tbr_json_print(FILE *out, const tb_value *v, int indent) {
    sink s = {NULL, out, false};
    write_value(&s, v, indent, 0);
}
