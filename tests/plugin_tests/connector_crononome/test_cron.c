/*
 * test_cron.c - the crononome's cron expressions (plugins/connector/crononome/cron.c), compiled
 * into this test: next-fire times from fixed instants (leap days, century years, month ends,
 * both day-of-week numberings, the classic OR and Tremor's AND of the day fields, years,
 * names, steps, shortcuts), a brute-force cross-check, and every parse error's message.
 *
 * Times are written as UTC calendar dates and converted with libc's timegm, an oracle
 * independent of cron.c's own calendar. Thread contract: single-threaded.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "cron.h"

/* Unix seconds of the UTC date "YYYY-MM-DD hh:mm:ss". */
static int64_t at(const char *date) {
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    if (sscanf(date, "%d-%d-%d %d:%d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
               &tm.tm_min, &tm.tm_sec) != 6)
        fail_msg("bad test date %s", date);
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (int64_t)timegm(&tm);
}

static const char *show(int64_t t, char *buf, size_t n) {
    struct tm tm;
    time_t tt = (time_t)t;
    if (t < 0) return "never";
    gmtime_r(&tt, &tm);
    strftime(buf, n, "%Y-%m-%d %H:%M:%S", &tm);
    return buf;
}

static tbcron parse(const char *expr) {
    tbcron c;
    char err[256];
    if (tbcron_parse(expr, strlen(expr), &c, err, sizeof err) != 0)
        fail_msg("\"%s\" does not parse: %s", expr, err);
    return c;
}

/* The next fire of expr after the date `after` is the date `expected` (NULL: never). */
static void check_next(const char *expr, const char *after, const char *expected) {
    tbcron c = parse(expr);
    int64_t got = tbcron_next(&c, at(after));
    int64_t want = expected ? at(expected) : -1;
    char a[32], b[32];
    if (got != want)
        fail_msg("\"%s\" after %s: expected %s, got %s", expr, after, show(want, a, sizeof a),
                 show(got, b, sizeof b));
}

static void test_classic(void **state) {
    (void)state;
    check_next("* * * * *", "2024-01-01 00:00:00", "2024-01-01 00:01:00");
    check_next("* * * * *", "2024-01-01 00:00:30", "2024-01-01 00:01:00");
    check_next("*/15 * * * *", "2024-01-01 12:07:00", "2024-01-01 12:15:00");
    check_next("*/15 * * * *", "2024-01-01 12:45:00", "2024-01-01 13:00:00");
    check_next("0 0 * * *", "2023-12-31 23:59:59", "2024-01-01 00:00:00");
    check_next("0 0 * * *", "2024-01-01 00:00:00", "2024-01-02 00:00:00");
    check_next("30 4 1,15 * *", "2024-01-15 04:30:00", "2024-02-01 04:30:00");
    check_next("0 8-18/4 * * *", "2024-01-01 12:00:00", "2024-01-01 16:00:00");
    check_next("0 8-18/4 * * *", "2024-01-01 16:00:00", "2024-01-02 08:00:00");
    check_next("5/20 * * * *", "2024-01-01 12:30:00", "2024-01-01 12:45:00");
    check_next("5/20 * * * *", "2024-01-01 12:45:00", "2024-01-01 13:05:00");
    check_next("0 0 31 * *", "2024-04-15 00:00:00", "2024-05-31 00:00:00");
    check_next("59 23 31 12 *", "2024-06-01 00:00:00", "2024-12-31 23:59:00");
    /* before 1970 the search starts at the epoch */
    check_next("0 0 1 1 *", "1969-12-31 23:58:20", "1970-01-01 00:00:00");
}

static void test_leap_and_centuries(void **state) {
    (void)state;
    check_next("0 0 29 2 *", "2023-03-01 00:00:00", "2024-02-29 00:00:00");
    check_next("0 0 29 2 *", "2024-02-29 00:00:00", "2028-02-29 00:00:00");
    check_next("0 0 29 2 *", "2096-03-01 00:00:00", "2104-02-29 00:00:00"); /* 2100 is not */
    check_next("0 0 29 2 *", "1999-03-01 00:00:00", "2000-02-29 00:00:00"); /* 2000 is */
    check_next("0 12 28-31 2 *", "2023-02-28 12:00:00", "2024-02-28 12:00:00");
    /* dates that do not exist never come */
    check_next("0 0 30 2 *", "2024-01-01 00:00:00", NULL);
    check_next("0 0 31 4,6,9,11 *", "2024-01-01 00:00:00", NULL);
}

static void test_days_of_week(void **state) {
    (void)state;
    /* 2024-06-01 is a Saturday */
    check_next("0 9 * * mon-fri", "2024-06-01 10:00:00", "2024-06-03 09:00:00");
    check_next("0 9 * * 1-5", "2024-06-01 10:00:00", "2024-06-03 09:00:00");
    check_next("0 9 * * MON-Fri", "2024-06-03 09:00:00", "2024-06-04 09:00:00");
    check_next("0 0 * * 0", "2024-06-01 00:00:00", "2024-06-02 00:00:00");
    check_next("0 0 * * 7", "2024-06-01 00:00:00", "2024-06-02 00:00:00");
    check_next("0 0 * * sunday", "2024-06-01 00:00:00", "2024-06-02 00:00:00");
    check_next("0 0 * * 5-7", "2024-06-03 00:00:00", "2024-06-07 00:00:00");
    /* classic cron: both day fields restricted, either one matches (13th or a Friday) */
    check_next("0 0 13 * 5", "2024-09-01 00:00:00", "2024-09-06 00:00:00");
    check_next("0 0 13 * 5", "2024-09-06 00:00:00", "2024-09-13 00:00:00");
    check_next("0 0 13 * 5", "2024-09-13 00:00:00", "2024-09-20 00:00:00");
    /* ... but a day field starting with '*' restricts together with the other one */
    check_next("0 0 */2 * 1", "2024-06-01 00:00:00", "2024-06-03 00:00:00");
    check_next("0 0 */2 * 1", "2024-06-03 00:00:00", "2024-06-17 00:00:00");
    /* Tremor's six fields: Sunday is 1, Friday 6, and both day fields must match */
    check_next("0 0 0 13 * 6", "2024-01-01 00:00:00", "2024-09-13 00:00:00");
    check_next("0 0 0 13 * FRI", "2024-09-13 00:00:00", "2024-12-13 00:00:00");
    check_next("0 0 12 * * 2", "2024-06-01 00:00:00", "2024-06-03 12:00:00");
    check_next("0 0 12 ? * Mon", "2024-06-01 00:00:00", "2024-06-03 12:00:00");
    check_next("0 0 0 * * 1", "2024-06-01 00:00:00", "2024-06-02 00:00:00");
    check_next("0 0 0 * * 7", "2024-06-01 00:00:00", "2024-06-08 00:00:00"); /* Saturday */
}

static void test_seconds_and_years(void **state) {
    (void)state;
    check_next("* * * * * *", "2024-01-01 00:00:00", "2024-01-01 00:00:01");
    check_next("*/10 * * * * *", "2024-01-01 12:00:05", "2024-01-01 12:00:10");
    check_next("*/10 * * * * *", "2024-01-01 12:59:55", "2024-01-01 13:00:00");
    check_next("30 15 10 * * *", "2024-01-01 10:15:30", "2024-01-02 10:15:30");
    check_next("0 0 0 * * *", "2024-12-31 12:00:00", "2025-01-01 00:00:00");
    check_next("0 0 0 1 1 * 2030", "2024-01-01 00:00:00", "2030-01-01 00:00:00");
    check_next("0 0 0 1 1 * 2030", "2030-01-01 00:00:00", NULL);
    check_next("0 0 0 1 1 * 2026/2", "2024-06-01 00:00:00", "2026-01-01 00:00:00");
    check_next("0 0 0 1 1 * 2026/2", "2026-01-01 00:00:00", "2028-01-01 00:00:00");
    check_next("0 0 0 1 1 * *", "2024-06-01 00:00:00", "2025-01-01 00:00:00");
    check_next("* * * * * * 1970", "2024-01-01 00:00:00", NULL); /* Tremor's "never" */
    check_next("0 30 9 * jan,jul *", "2024-02-01 00:00:00", "2024-07-01 09:30:00");
    check_next("0 0 1 January *", "2024-02-01 00:00:00", "2025-01-01 00:00:00");
    check_next("@hourly", "2024-01-01 12:30:00", "2024-01-01 13:00:00");
    check_next("@daily", "2024-01-01 12:30:00", "2024-01-02 00:00:00");
    check_next("@weekly", "2024-06-01 12:00:00", "2024-06-02 00:00:00");
    check_next("@monthly", "2024-06-01 12:00:00", "2024-07-01 00:00:00");
    check_next("@yearly", "2024-06-01 12:00:00", "2025-01-01 00:00:00");
    check_next("  0\t0  1 1 *  ", "2024-06-01 12:00:00", "2025-01-01 00:00:00");
    /* nothing after year 9999 */
    tbcron c = parse("* * * * *");
    assert_true(tbcron_next(&c, INT64_MAX) == -1);
}

/* Whether broken-down UTC time tm matches c, field by field: the brute-force oracle. */
static bool matches(const tbcron *c, const struct tm *tm) {
    bool md = (c->mdays >> tm->tm_mday) & 1, wd = (c->wdays >> tm->tm_wday) & 1;
    bool day = c->flags & TBCRON_DAY_OR ? md || wd : md && wd;
    return ((c->seconds >> tm->tm_sec) & 1) && ((c->minutes >> tm->tm_min) & 1) &&
           ((c->hours >> tm->tm_hour) & 1) && ((c->months >> (tm->tm_mon + 1)) & 1) && day;
}

/* tbcron_next agrees with stepping second by second, over a spread of start times. */
static void test_brute_force(void **state) {
    static const char *const exprs[] = {
        "* * * * *",       "*/7 * * * *",     "13 */3 * * *",    "0 0 * * 1",
        "0 0 1,15 * 3",    "17 5 * * *",      "*/20 * * * * *",  "5 4 3 * * *",
        "0 0 12 * * 1,7",  "0 0 0 1-3,28-31 * *", "0 */5 1-3 * * *", "59 59 23 * * *",
    };
    static const char *const starts[] = {
        "2024-02-28 23:59:58", "2023-12-31 23:00:00", "2024-06-30 11:59:59",
        "2025-03-01 00:00:00", "2024-10-27 01:30:00",
    };
    (void)state;
    for (size_t i = 0; i < sizeof exprs / sizeof exprs[0]; i++) {
        tbcron c = parse(exprs[i]);
        for (size_t k = 0; k < sizeof starts / sizeof starts[0]; k++) {
            int64_t from = at(starts[k]), want = -1;
            for (int64_t t = from + 1; t <= from + 8 * 86400; t++) {
                struct tm tm;
                time_t tt = (time_t)t;
                gmtime_r(&tt, &tm);
                if (matches(&c, &tm)) {
                    want = t;
                    break;
                }
            }
            int64_t got = tbcron_next(&c, from);
            char a[32], b[32];
            if (want < 0) fail_msg("%s fires too rarely for the brute force", exprs[i]);
            if (got != want)
                fail_msg("\"%s\" after %s: brute force %s, tbcron_next %s", exprs[i], starts[k],
                         show(want, a, sizeof a), show(got, b, sizeof b));
        }
    }
}

static void check_error(const char *expr, const char *message) {
    tbcron c;
    char err[256];
    if (tbcron_parse(expr, strlen(expr), &c, err, sizeof err) == 0)
        fail_msg("\"%s\" parsed; expected the error %s", expr, message);
    if (strcmp(err, message) != 0)
        fail_msg("\"%s\": expected the error\n  %s\ngot\n  %s", expr, message, err);
}

static void test_errors(void **state) {
    (void)state;
    check_error("61 * * * *", "minute: 61 is out of range 0-59");
    check_error("* 24 * * *", "hour: 24 is out of range 0-23");
    check_error("* * 0 * *", "day of month: 0 is out of range 1-31");
    check_error("* * * 13 *", "month: 13 is out of range 1-12");
    check_error("* * * foo *", "month: 'foo' is neither a number nor a month name");
    check_error("* * * * 8", "day of week: 8 is out of range 0-7");
    check_error("* * * * funday", "day of week: 'funday' is neither a number nor a day name");
    check_error("0 0 0 * * 0",
                "day of week: 0 is out of range 1-7 (with a seconds field, Sunday is 1)");
    check_error("60 * * * * *", "second: 60 is out of range 0-59");
    check_error("* * * * * * 1969", "year: 1969 is out of range 1970-2099");
    check_error("*/0 * * * *", "minute: a step of 0 never advances");
    check_error("*/x * * * *", "minute: expected a step after '/', found 'x'");
    check_error("5-1 * * * *", "minute: range '5-1' runs backwards");
    check_error("1,,2 * * * *", "minute: empty list element");
    check_error("1, * * * *", "minute: empty list element");
    check_error("? * * * *", "minute: '?' is not a number");
    check_error("-5 * * * *", "minute: '-5' is not a number");
    check_error("1- * * * *", "minute: expected a number, found nothing");
    check_error("123456 * * * *", "minute: '123456' is not a number");
    check_error("* * * *", "expected 5 fields (minute hour day-of-month month day-of-week), 6 "
                           "(with seconds first) or 7 (and a year), found 4");
    check_error("", "expected 5 fields (minute hour day-of-month month day-of-week), 6 (with "
                    "seconds first) or 7 (and a year), found 0");
    check_error("* * * * * * * *", "expected 5 fields (minute hour day-of-month month "
                                   "day-of-week), 6 (with seconds first) or 7 (and a year), "
                                   "found 8");
    check_error("@often", "unknown shortcut '@often'");
    /* a long token is quoted cut short */
    check_error("* * * * * * abcdefghijklmnopqrstuvwxyzabcdefghijklmnop",
                "year: 'abcdefghijklmnopqrstuvwxyzabcdef' is not a number");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_classic),
        cmocka_unit_test(test_leap_and_centuries),
        cmocka_unit_test(test_days_of_week),
        cmocka_unit_test(test_seconds_and_years),
        cmocka_unit_test(test_brute_force),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
