/* log.c - the runtime's logger: one write(2) per line, level from TEMBLOR_LOG. */
#include "core/log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const level_names[] = {"error", "warn", "info", "debug", "trace"};

/* -1 until first use, when TEMBLOR_LOG is read. */
static _Atomic int current_level = -1;

bool tbr_log_parse_level(const char *name, uint32_t *out) {
    for (uint32_t i = 0; i < sizeof level_names / sizeof *level_names; i++) {
        if (strcmp(name, level_names[i]) == 0) {
            *out = i;
            return true;
        }
    }
    return false;
}

const char *tbr_log_level_name(uint32_t level) {
    return level_names[level <= TB_LOG_TRACE ? level : TB_LOG_TRACE];
}

uint32_t tbr_log_level(void) {
    int level = atomic_load_explicit(&current_level, memory_order_relaxed);
    if (level < 0) {
        uint32_t parsed = TB_LOG_INFO;
        const char *env = getenv("TEMBLOR_LOG");
        if (env && !tbr_log_parse_level(env, &parsed)) parsed = TB_LOG_INFO;
        level = (int)parsed;
        atomic_store_explicit(&current_level, level, memory_order_relaxed);
    }
    return (uint32_t)level;
}

void tbr_log_set_level(uint32_t level) {
    if (level > TB_LOG_TRACE) level = TB_LOG_TRACE;
    atomic_store_explicit(&current_level, (int)level, memory_order_relaxed);
}

void tbr_log_msg(uint32_t level, const char *origin, const char *msg) {
    char line[2048];
    int n;
    if (level > tbr_log_level()) return;
    if (level > TB_LOG_TRACE) level = TB_LOG_TRACE;
    if (origin)
        n = snprintf(line, sizeof line - 1, "%-5s [%s] %s", level_names[level], origin, msg);
    else
        n = snprintf(line, sizeof line - 1, "%-5s %s", level_names[level], msg);
    if (n < 0) return;
    if ((size_t)n > sizeof line - 2) n = (int)sizeof line - 2;
    line[n++] = '\n';
    /* best effort: a logger has nowhere to report its own failure */
    ssize_t written = write(STDERR_FILENO, line, (size_t)n);
    (void)written;
}

void tbr_log(uint32_t level, const char *origin, const char *fmt, ...) {
    char msg[1536];
    va_list ap;
    if (level > tbr_log_level()) return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    tbr_log_msg(level, origin, msg);
}

int tbr_fail_into(char *err, size_t n, int status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    if (err && n) vsnprintf(err, n, fmt, ap);
    va_end(ap);
    return status;
}

const char *tbr_status_name(int status) {
    switch (status) {
    case TB_OK: return "TB_OK";
    case TB_ERROR: return "TB_ERROR: failed";
    case TB_EINVAL: return "TB_EINVAL: invalid argument or configuration";
    case TB_ENOMEM: return "TB_ENOMEM: out of memory";
    case TB_EAGAIN: return "TB_EAGAIN: nothing now";
    case TB_EOF: return "TB_EOF: no more data";
    case TB_ENOTSUP: return "TB_ENOTSUP: not supported";
    case TB_EIO: return "TB_EIO: I/O failed";
    case TB_ETIMEDOUT: return "TB_ETIMEDOUT: timed out";
    case TB_EPENDING: return "TB_EPENDING: pending";
    case TB_ECLOSED: return "TB_ECLOSED: closed";
    default: {
        /* a plugin returned something the ABI does not define: say what, for its author */
        static _Thread_local char unknown[48];
        snprintf(unknown, sizeof unknown, "an unknown status code (%d)", status);
        return unknown;
    }
    }
}
