/*
 * source.h - a source text of the language (a file, or a string given on the command line)
 * and diagnostics that point into it.
 *
 * A diagnostic names file:line:column, shows the line with a caret under the span, and may
 * carry a hint, as Tremor's errors do:
 *
 *     query.trickle:3:12: error: unknown function 'string::lenght'
 *         select string::lenght(event) from in into out;
 *                ^^^^^^^^^^^^^^
 *     hint: did you mean string::len?
 *
 * Thread contract: a source is immutable once loaded; a diagnostic list belongs to one
 * compilation (one thread). Ownership: the source owns its text; spans are byte offsets.
 */
#ifndef TBR_LANG_SOURCE_H
#define TBR_LANG_SOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct tbr_source {
    char *name;  /* file name as given, or "<string>" */
    char *text;  /* NUL-terminated copy */
    size_t len;
} tbr_source;

/* A half-open byte range [start, end) of a source. */
typedef struct tbr_span {
    uint32_t start;
    uint32_t end;
} tbr_span;

static inline tbr_span tbr_span_join(tbr_span a, tbr_span b) {
    tbr_span s = {a.start < b.start ? a.start : b.start, a.end > b.end ? a.end : b.end};
    return s;
}

/* Reads a file; NULL with errno set when it cannot. */
tbr_source *tbr_source_read(const char *path);
/* Copies text under name. NULL when out of memory. */
tbr_source *tbr_source_from_string(const char *name, const char *text, size_t len);
void tbr_source_free(tbr_source *src);

/* 1-based line and column (in characters) of a byte offset. */
void tbr_source_position(const tbr_source *src, uint32_t offset, unsigned *line, unsigned *col);

typedef struct tbr_diag {
    tbr_span span;
    char message[512];
    char hint[1024]; /* "" when none (room for a list of every loaded component) */
} tbr_diag;

/* The errors of one compilation, in the order found. */
typedef struct tbr_diags {
    const tbr_source *src;
    tbr_diag *items;
    size_t count, cap;
} tbr_diags;

void tbr_diags_init(tbr_diags *d, const tbr_source *src);
void tbr_diags_free(tbr_diags *d);
/* Records an error at span; returns the new diagnostic (for a hint), or NULL when out of
 * memory. */
tbr_diag *tbr_diags_add(tbr_diags *d, tbr_span span, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void tbr_diag_hint(tbr_diag *diag, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Writes every diagnostic, rendered with its source line and caret, to out. */
void tbr_diags_print(const tbr_diags *d, FILE *out);
/* Renders one diagnostic into buf (truncated to size); returns buf. */
char *tbr_diag_render(const tbr_source *src, const tbr_diag *diag, char *buf, size_t size);

#endif
