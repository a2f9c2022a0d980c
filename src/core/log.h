/*
 * log.h - the runtime's logger.
 *
 * Thread contract: every function may be called from any thread; a line is written with
 * one write(2), so lines from different threads never interleave.
 */
#ifndef TBR_CORE_LOG_H
#define TBR_CORE_LOG_H

#include <stdint.h>
#include <temblor/temblor.h>

/* Sets the most verbose level written (TB_LOG_*); the default is TB_LOG_INFO, or
 * TEMBLOR_LOG=error|warn|info|debug|trace from the environment. */
void tbr_log_set_level(uint32_t level);
uint32_t tbr_log_level(void);

/* The name of a level ("error" ... "trace"; "trace" past it), as tbr_log_parse_level reads it. */
const char *tbr_log_level_name(uint32_t level);

/* Parses a level name; returns false for an unknown one. */
bool tbr_log_parse_level(const char *name, uint32_t *out);

/* Writes one line "LEVEL [origin] message" to stderr; origin may be NULL. */
void tbr_log(uint32_t level, const char *origin, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void tbr_log_msg(uint32_t level, const char *origin, const char *msg);

#define tbr_error(...) tbr_log(TB_LOG_ERROR, NULL, __VA_ARGS__)
#define tbr_warn(...) tbr_log(TB_LOG_WARN, NULL, __VA_ARGS__)
#define tbr_info(...) tbr_log(TB_LOG_INFO, NULL, __VA_ARGS__)
#define tbr_debug(...) tbr_log(TB_LOG_DEBUG, NULL, __VA_ARGS__)

/* The name of a TB_* status code ("TB_EIO: I/O failed"), for messages; never NULL. */
const char *tbr_status_name(int status);

/* Writes the message (printf-style) into err[0..n) and returns status, for
 * `return tbr_fail_into(err, n, TB_EINVAL, "...", ...);` where a function reports a refusal to
 * its caller in a buffer. err may be NULL (n 0). */
int tbr_fail_into(char *err, size_t n, int status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

#endif
