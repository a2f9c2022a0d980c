/* source.c - source texts, positions, and diagnostics rendered with a caret. */
#include "lang/source.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

tbr_source *tbr_source_from_string(const char *name, const char *text, size_t len) {
    tbr_source *src = calloc(1, sizeof *src);
    if (!src) return NULL;
    src->name = strdup(name);
    src->text = malloc(len + 1);
    if (!src->name || !src->text) {
        tbr_source_free(src);
        return NULL;
    }
    memcpy(src->text, text, len);
    src->text[len] = '\0';
    src->len = len;
    return src;
}

tbr_source *tbr_source_read(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (cap - len < 4096) {
            cap = cap ? cap * 2 : 8192;
            char *n = realloc(buf, cap);
            if (!n) {
                free(buf);
                fclose(f);
                errno = ENOMEM;
                return NULL;
            }
            buf = n;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0) break;
    }
    int failed = ferror(f);
    fclose(f);
    if (failed) {
        free(buf);
        errno = EIO;
        return NULL;
    }
    tbr_source *src = tbr_source_from_string(path, buf ? buf : "", len);
    free(buf);
    return src;
}

void tbr_source_free(tbr_source *src) {
    if (!src) return;
    free(src->name);
    free(src->text);
    free(src);
}

void tbr_source_position(const tbr_source *src, uint32_t offset, unsigned *line, unsigned *col) {
    unsigned l = 1, c = 1;
    if (offset > src->len) offset = (uint32_t)src->len;
    for (uint32_t i = 0; i < offset; i++) {
        if (src->text[i] == '\n') {
            l++;
            c = 1;
        } else if (((unsigned char)src->text[i] & 0xC0) != 0x80) {
            c++;
        }
    }
    *line = l;
    *col = c;
}

void tbr_diags_init(tbr_diags *d, const tbr_source *src) {
    memset(d, 0, sizeof *d);
    d->src = src;
}

void tbr_diags_free(tbr_diags *d) {
    free(d->items);
    d->items = NULL;
    d->count = d->cap = 0;
}

tbr_diag *tbr_diags_add(tbr_diags *d, tbr_span span, const char *fmt, ...) {
    if (d->count == d->cap) {
        size_t ncap = d->cap ? d->cap * 2 : 4;
        tbr_diag *n = realloc(d->items, ncap * sizeof *n);
        if (!n) return NULL;
        d->items = n;
        d->cap = ncap;
    }
    tbr_diag *diag = &d->items[d->count++];
    diag->span = span;
    diag->hint[0] = '\0';
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(diag->message, sizeof diag->message, fmt, ap);
    va_end(ap);
    return diag;
}

void tbr_diag_hint(tbr_diag *diag, const char *fmt, ...) {
    if (!diag) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(diag->hint, sizeof diag->hint, fmt, ap);
    va_end(ap);
}

char *tbr_diag_render(const tbr_source *src, const tbr_diag *diag, char *buf, size_t size) {
    unsigned line, col;
    tbr_source_position(src, diag->span.start, &line, &col);
    size_t used = (size_t)snprintf(buf, size, "%s:%u:%u: error: %s\n", src->name, line, col,
                                   diag->message);
    /* the line the span starts on, and a caret under the span (up to the line's end) */
    uint32_t start = diag->span.start > src->len ? (uint32_t)src->len : diag->span.start;
    uint32_t ls = start, le = start;
    while (ls > 0 && src->text[ls - 1] != '\n') ls--;
    while (le < src->len && src->text[le] != '\n') le++;
    if (used < size)
        used += (size_t)snprintf(buf + used, size - used, "    %.*s\n    ", (int)(le - ls),
                                 src->text + ls);
    for (uint32_t i = ls; i < start && used + 1 < size; i++) {
        if (((unsigned char)src->text[i] & 0xC0) == 0x80) continue;
        buf[used++] = src->text[i] == '\t' ? '\t' : ' ';
    }
    uint32_t end = diag->span.end > le ? le : diag->span.end;
    unsigned carets = 0;
    for (uint32_t i = start; i < end; i++)
        if (((unsigned char)src->text[i] & 0xC0) != 0x80) carets++;
    if (carets == 0) carets = 1;
    for (unsigned i = 0; i < carets && used + 1 < size; i++) buf[used++] = '^';
    if (used < size) used += (size_t)snprintf(buf + used, size - used, "\n");
    if (diag->hint[0] && used < size)
        used += (size_t)snprintf(buf + used, size - used, "hint: %s\n", diag->hint);
    if (used >= size && size) buf[size - 1] = '\0';
    else if (size) buf[used] = '\0';
    return buf;
}

void tbr_diags_print(const tbr_diags *d, FILE *out) {
    char buf[4096];
    for (size_t i = 0; i < d->count; i++) fputs(tbr_diag_render(d->src, &d->items[i], buf, sizeof buf), out);
}
