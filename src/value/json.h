/*
 * json.h - JSON text to tb_value and back, for configuration, the admin interface and the
 * host extension "temblor.json/1".
 *
 * Written by hand because it decodes straight into temblor's value layout: strings without
 * escapes point into the input text (zero copy), everything else goes to the caller's
 * arena. RFC 8259, with integers kept exact (int64, or uint64 above INT64_MAX).
 *
 * Thread contract: reentrant; any thread.
 */
#ifndef TBR_VALUE_JSON_H
#define TBR_VALUE_JSON_H

#include <stddef.h>
#include <temblor/temblor.h>

/* Nesting deeper than this is refused rather than risking the stack. */
#define TBR_JSON_MAX_DEPTH 512

/* Parses text[0..len) into *out, allocating in arena. The text must outlive *out.
 * Returns TB_OK, TB_EINVAL with "line L, column C: reason" in err (always NUL-terminated
 * when err_size > 0), or TB_ENOMEM. */
int tbr_json_parse(tb_arena *arena, const char *text, size_t len, tb_value *out, char *err,
                   size_t err_size);

/* Appends the compact JSON text of v to buf. Byte values are written as arrays of numbers.
 * Returns TB_OK or TB_ENOMEM. */
int tbr_json_write(const tb_value *v, tb_buf *buf);

/* Writes v as JSON to a stdio stream, indented by indent spaces per level when indent > 0. */
void tbr_json_print(FILE *out, const tb_value *v, int indent);

#endif
