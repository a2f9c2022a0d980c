/*
 * cron.h - cron expressions: parsing, and the next time one fires, in UTC.
 *
 * Two dialects, told apart by the number of fields:
 *  - 5 fields, classic (Vixie) cron: minute hour day-of-month month day-of-week. Fires at
 *    second 0. Day of week 0-7, Sunday being 0 and 7. When both day fields are restricted
 *    (neither starts with '*'), a day matches if EITHER matches, as crontab(5) says.
 *  - 6 or 7 fields, Tremor's (its `cron` crate): second minute hour day-of-month month
 *    day-of-week [year]. Day of week 1-7 with Sunday 1; years 1970-2099; both day fields must
 *    match.
 * Every field takes '*', numbers, ranges a-b, lists a,b,c and steps: a-b/n, a/n (a to the
 * field's end) and '*' followed by /n. Months and days of week also take English names (jan,
 * january, mon, monday; any case); the day fields take '?' for '*'. Shortcuts: @yearly
 * (@annually), @monthly, @weekly, @daily (@midnight), @hourly.
 *
 * Ownership: a tbcron is a plain value, no pointers. Thread contract: reentrant, any thread.
 * The names carry the plugin's prefix because a statically linked build puts every plugin's
 * non-static symbols into one binary.
 */
#ifndef TB_CRONONOME_CRON_H
#define TB_CRONONOME_CRON_H

#include <stddef.h>
#include <stdint.h>

enum {
    TBCRON_DAY_OR = 1u << 0,   /* a day matches when day-of-month OR day-of-week matches */
    TBCRON_ANY_YEAR = 1u << 1  /* no year restriction: years[] is not used */
};

#define TBCRON_MIN_YEAR 1970
#define TBCRON_MAX_YEAR 2099

typedef struct tbcron {
    uint64_t seconds;  /* bit n: second n (0-59) */
    uint64_t minutes;  /* bit n: minute n (0-59) */
    uint32_t hours;    /* bit n: hour n (0-23) */
    uint32_t mdays;    /* bit n: day of month n (1-31) */
    uint32_t months;   /* bit n: month n (1-12) */
    uint32_t wdays;    /* bit n: n days after Sunday (0-6) */
    uint32_t flags;    /* TBCRON_* */
    uint32_t reserved;
    uint64_t years[3]; /* bit n: year TBCRON_MIN_YEAR + n */
} tbcron;

/* Parses text[0..len) into *out. Returns 0, or -1 with "<field>: <reason>" (or a reason
 * about the whole expression) in err, always NUL-terminated when err_size > 0. */
int tbcron_parse(const char *text, size_t len, tbcron *out, char *err, size_t err_size);

/* The first time strictly after `after` (Unix seconds, UTC) at which c fires, or -1 when it
 * never fires again (a year list in the past, or a date that does not exist such as
 * 30 February: the search gives up after one 400-year Gregorian cycle). */
int64_t tbcron_next(const tbcron *c, int64_t after);

#endif
