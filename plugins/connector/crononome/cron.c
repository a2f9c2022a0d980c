/*
 * cron.c - cron expressions (see cron.h): a parser into bit sets, and a next-fire search that
 * walks the calendar field by field, coarse to fine, in UTC.
 *
 * The calendar is computed here (days from 1970-01-01 and back, proleptic Gregorian) rather
 * than with timegm/gmtime_r, so the result never depends on the process's time zone or on a
 * libc extension.
 *
 * Ownership: nothing is allocated. Thread contract: reentrant, any thread.
 */
#include "cron.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

enum { F_SECOND, F_MINUTE, F_HOUR, F_MDAY, F_MONTH, F_WDAY, F_YEAR, F_COUNT };

typedef struct field_spec {
    const char *what; /* how messages name the field */
    int min, max;
} field_spec;

/* In the order F_*; day of week as the 5-field form counts (Tremor's starts at 1). */
static const field_spec specs[F_COUNT] = {
    {"second", 0, 59},
    {"minute", 0, 59},
    {"hour", 0, 23},
    {"day of month", 1, 31},
    {"month", 1, 12},
    {"day of week", 0, 7},
    {"year", TBCRON_MIN_YEAR, TBCRON_MAX_YEAR},
};

static const char *const month_names[12][2] = {
    {"jan", "january"},   {"feb", "february"}, {"mar", "march"},    {"apr", "april"},
    {"may", "may"},       {"jun", "june"},     {"jul", "july"},     {"aug", "august"},
    {"sep", "september"}, {"oct", "october"},  {"nov", "november"}, {"dec", "december"},
};

/* Index k is k days after Sunday. */
static const char *const wday_names[7][2] = {
    {"sun", "sunday"},   {"mon", "monday"}, {"tue", "tuesday"}, {"wed", "wednesday"},
    {"thu", "thursday"}, {"fri", "friday"}, {"sat", "saturday"},
};

typedef struct parser {
    bool tremor; /* 6/7 fields: seconds first, Sunday is day 1 */
    char *err;
    size_t err_size;
} parser;

/* Writes "<field>: <reason>" (field < 0: the reason alone) and returns -1. */
static int fail(parser *p, int field, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(parser *p, int field, const char *fmt, ...) {
    char reason[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    if (p->err && p->err_size) {
        if (field >= 0) snprintf(p->err, p->err_size, "%s: %s", specs[field].what, reason);
        else snprintf(p->err, p->err_size, "%s", reason);
    }
    return -1;
}

/* Tokens quoted in messages are cut, so one absurd token cannot fill the message. */
#define TOKEN(len) (int)((len) > 32 ? 32 : (len))

static bool name_is(const char *tok, size_t len, const char *name) {
    if (strlen(name) != len) return false;
    for (size_t i = 0; i < len; i++) {
        char c = tok[i];
        if (c >= 'A' && c <= 'Z') c = (char)(c - 'A' + 'a');
        if (c != name[i]) return false;
    }
    return true;
}

/* A number (at most 5 digits, more than any field needs) or, for months and days of the
 * week, a name. */
static int parse_value(parser *p, int field, const char *tok, size_t len, int *out) {
    if (len == 0) return fail(p, field, "expected a number, found nothing");
    if (tok[0] >= '0' && tok[0] <= '9') {
        int v = 0;
        for (size_t i = 0; i < len; i++) {
            if (tok[i] < '0' || tok[i] > '9' || i == 5)
                return fail(p, field, "'%.*s' is not a number", TOKEN(len), tok);
            v = v * 10 + (tok[i] - '0');
        }
        *out = v;
        return 0;
    }
    if (field == F_MONTH) {
        for (int k = 0; k < 12; k++)
            if (name_is(tok, len, month_names[k][0]) || name_is(tok, len, month_names[k][1]))
                return *out = k + 1, 0;
        return fail(p, field, "'%.*s' is neither a number nor a month name", TOKEN(len), tok);
    }
    if (field == F_WDAY) {
        for (int k = 0; k < 7; k++)
            if (name_is(tok, len, wday_names[k][0]) || name_is(tok, len, wday_names[k][1]))
                return *out = k + (p->tremor ? 1 : 0), 0;
        return fail(p, field, "'%.*s' is neither a number nor a day name", TOKEN(len), tok);
    }
    return fail(p, field, "'%.*s' is not a number", TOKEN(len), tok);
}

static int field_min(const parser *p, int field) {
    return field == F_WDAY && p->tremor ? 1 : specs[field].min;
}

static int check_range(parser *p, int field, int v) {
    int lo = field_min(p, field), hi = specs[field].max;
    if (v >= lo && v <= hi) return 0;
    if (field == F_WDAY && p->tremor && v == 0)
        return fail(p, field, "0 is out of range 1-7 (with a seconds field, Sunday is 1)");
    return fail(p, field, "%d is out of range %d-%d", v, lo, hi);
}

/* The bit of value v of field in a 192-bit set. */
static unsigned bit_of(const parser *p, int field, int v) {
    switch (field) {
    case F_WDAY: return (unsigned)(p->tremor ? v - 1 : v % 7); /* Sunday is bit 0 */
    case F_YEAR: return (unsigned)(v - TBCRON_MIN_YEAR);
    default: return (unsigned)v;
    }
}

/* One element of a list: '*', '?', a, a-b, each optionally followed by /step. */
static int parse_element(parser *p, int field, const char *tok, size_t len, uint64_t set[3]) {
    const char *slash = memchr(tok, '/', len);
    size_t base_len = slash ? (size_t)(slash - tok) : len;
    int lo, hi, step = 1;
    bool day = field == F_MDAY || field == F_WDAY;
    if (len == 0) return fail(p, field, "empty list element");
    if (slash) {
        const char *s = slash + 1;
        size_t sl = len - base_len - 1;
        if (sl == 0 || s[0] < '0' || s[0] > '9')
            return fail(p, field, "expected a step after '/', found '%.*s'", TOKEN(sl), s);
        if (parse_value(p, field, s, sl, &step)) return -1;
        if (step == 0) return fail(p, field, "a step of 0 never advances");
    }
    if ((base_len == 1 && tok[0] == '*') || (day && base_len == 1 && tok[0] == '?')) {
        lo = field_min(p, field);
        hi = specs[field].max;
    } else {
        const char *dash = base_len > 1 ? memchr(tok + 1, '-', base_len - 1) : NULL;
        size_t a_len = dash ? (size_t)(dash - tok) : base_len;
        if (parse_value(p, field, tok, a_len, &lo) || check_range(p, field, lo)) return -1;
        hi = slash ? specs[field].max : lo; /* a/n runs to the end of the field */
        if (dash) {
            if (parse_value(p, field, dash + 1, base_len - a_len - 1, &hi) ||
                check_range(p, field, hi))
                return -1;
            if (hi < lo)
                return fail(p, field, "range '%.*s' runs backwards", TOKEN(base_len), tok);
        }
    }
    for (int v = lo; v <= hi; v += step) {
        unsigned b = bit_of(p, field, v);
        set[b / 64] |= (uint64_t)1 << (b % 64);
    }
    return 0;
}

/* A comma-separated list into set. */
static int parse_field(parser *p, int field, const char *tok, size_t len, uint64_t set[3]) {
    size_t start = 0;
    set[0] = set[1] = set[2] = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && tok[i] != ',') continue;
        if (parse_element(p, field, tok + start, i - start, set)) return -1;
        start = i + 1;
    }
    return 0;
}

static bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

/* The five-field equivalents of the @ shortcuts. */
static const char *shortcut(const char *tok, size_t len) {
    static const char *const table[][2] = {
        {"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
        {"@weekly", "0 0 * * 0"}, {"@daily", "0 0 * * *"},    {"@midnight", "0 0 * * *"},
        {"@hourly", "0 * * * *"},
    };
    for (size_t k = 0; k < sizeof table / sizeof table[0]; k++)
        if (name_is(tok, len, table[k][0])) return table[k][1];
    return NULL;
}

int tbcron_parse(const char *text, size_t len, tbcron *out, char *err, size_t err_size) {
    parser p = {false, err, err_size};
    const char *tok[8];
    size_t tlen[8];
    int n = 0;
    uint64_t set[3];
    if (err && err_size) err[0] = '\0';
    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < len;) {
        if (is_space(text[i])) {
            i++;
            continue;
        }
        size_t start = i;
        while (i < len && !is_space(text[i])) i++;
        if (n < 8) {
            tok[n] = text + start;
            tlen[n] = i - start;
        }
        n++;
    }
    if (n == 1 && tok[0][0] == '@') {
        const char *equivalent = shortcut(tok[0], tlen[0]);
        if (!equivalent) return fail(&p, -1, "unknown shortcut '%.*s'", TOKEN(tlen[0]), tok[0]);
        return tbcron_parse(equivalent, strlen(equivalent), out, err, err_size);
    }
    if (n < 5 || n > 7)
        return fail(&p, -1,
                    "expected 5 fields (minute hour day-of-month month day-of-week), 6 (with "
                    "seconds first) or 7 (and a year), found %d",
                    n);
    p.tremor = n > 5;
    /* fields in the order they are written, from seconds (absent in the 5-field form) */
    int first = p.tremor ? F_SECOND : F_MINUTE;
    for (int k = 0; k < n; k++) {
        int field = first + k;
        if (parse_field(&p, field, tok[k], tlen[k], set)) return -1;
        switch (field) {
        case F_SECOND: out->seconds = set[0]; break;
        case F_MINUTE: out->minutes = set[0]; break;
        case F_HOUR: out->hours = (uint32_t)set[0]; break;
        case F_MDAY: out->mdays = (uint32_t)set[0]; break;
        case F_MONTH: out->months = (uint32_t)set[0]; break;
        case F_WDAY: out->wdays = (uint32_t)set[0]; break;
        default: memcpy(out->years, set, sizeof out->years); break;
        }
    }
    if (!p.tremor) {
        out->seconds = 1; /* classic cron fires at second 0 */
        /* crontab(5): both day fields restricted means either may match */
        if (tok[2][0] != '*' && tok[2][0] != '?' && tok[4][0] != '*' && tok[4][0] != '?')
            out->flags |= TBCRON_DAY_OR;
    }
    if (n < 7 || (tlen[6] == 1 && tok[6][0] == '*')) out->flags |= TBCRON_ANY_YEAR;
    return 0;
}

/* --- the calendar ---------------------------------------------------------------------- */

static bool is_leap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

static int month_days(int64_t y, int m) {
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

/* Days from 1970-01-01 to y-m-d, for y >= 1970 (counted in 400-year eras from March 1st of
 * year 0, so February's length falls at the end of each counted year). */
static int64_t days_from_civil(int64_t y, int m, int d) {
    y -= m <= 2;
    int64_t era = y / 400, yoe = y - era * 400;
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* The inverse of days_from_civil, for days >= 0. */
static void civil_from_days(int64_t days, int64_t *y, int *m, int *d) {
    int64_t z = days + 719468, era = z / 146097, doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100), mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static bool year_ok(const tbcron *c, int64_t y) {
    if (c->flags & TBCRON_ANY_YEAR) return true;
    if (y < TBCRON_MIN_YEAR || y > TBCRON_MAX_YEAR) return false;
    unsigned b = (unsigned)(y - TBCRON_MIN_YEAR);
    return (c->years[b / 64] >> (b % 64)) & 1;
}

static bool day_ok(const tbcron *c, int64_t y, int m, int d) {
    int wday = (int)((days_from_civil(y, m, d) + 4) % 7); /* 1970-01-01 was a Thursday */
    bool md = (c->mdays >> d) & 1, wd = (c->wdays >> wday) & 1;
    return c->flags & TBCRON_DAY_OR ? md || wd : md && wd;
}

/* The smallest n in [from, max] whose bit is set in set, or -1. */
static int next_bit(uint64_t set, int from, int max) {
    for (int n = from; n <= max; n++)
        if ((set >> n) & 1) return n;
    return -1;
}

/* The last year the search may look at. */
static int64_t last_year(const tbcron *c, int64_t from_year) {
    if (c->flags & TBCRON_ANY_YEAR) return from_year + 400; /* the calendar repeats after 400 */
    for (int b = TBCRON_MAX_YEAR - TBCRON_MIN_YEAR; b >= 0; b--)
        if ((c->years[b / 64] >> (b % 64)) & 1) return TBCRON_MIN_YEAR + b;
    return -1;
}

/* A candidate time, broken down. Moving it to the next unit zeroes the finer ones. */
typedef struct moment {
    int64_t y;
    int m, d, hh, mi, ss;
} moment;

static void next_month(moment *t) {
    t->d = 1;
    t->hh = t->mi = t->ss = 0;
    if (++t->m > 12) t->m = 1, t->y++;
}

static void next_day(moment *t) {
    if (t->d + 1 > month_days(t->y, t->m)) {
        next_month(t);
        return;
    }
    t->d++;
    t->hh = t->mi = t->ss = 0;
}

static void next_hour(moment *t) {
    if (t->hh + 1 > 23) {
        next_day(t);
        return;
    }
    t->hh++;
    t->mi = t->ss = 0;
}

static void next_minute(moment *t) {
    if (t->mi + 1 > 59) {
        next_hour(t);
        return;
    }
    t->mi++;
    t->ss = 0;
}

int64_t tbcron_next(const tbcron *c, int64_t after) {
    /* beyond year 9999 nothing is scheduled; this also keeps the arithmetic far from overflow */
    if (after >= 253402300799) return -1;
    int64_t start = after < 0 ? 0 : after + 1;
    moment t;
    civil_from_days(start / 86400, &t.y, &t.m, &t.d);
    t.hh = (int)(start % 86400 / 3600);
    t.mi = (int)(start % 3600 / 60);
    t.ss = (int)(start % 60);
    int64_t limit = last_year(c, t.y);
    /* Coarse to fine: a field that does not match moves the candidate to the start of the
     * next unit of that field and the search starts over from the year. */
    while (t.y <= limit) {
        if (!year_ok(c, t.y)) {
            t.y++, t.m = 1, t.d = 1, t.hh = t.mi = t.ss = 0;
            continue;
        }
        if (!((c->months >> t.m) & 1)) {
            next_month(&t);
            continue;
        }
        if (!day_ok(c, t.y, t.m, t.d)) {
            next_day(&t);
            continue;
        }
        int h = next_bit(c->hours, t.hh, 23);
        if (h < 0) {
            next_day(&t);
            continue;
        }
        if (h > t.hh) t.hh = h, t.mi = t.ss = 0;
        int n = next_bit(c->minutes, t.mi, 59);
        if (n < 0) {
            next_hour(&t);
            continue;
        }
        if (n > t.mi) t.mi = n, t.ss = 0;
        int s = next_bit(c->seconds, t.ss, 59);
        if (s < 0) {
            next_minute(&t);
            continue;
        }
        return days_from_civil(t.y, t.m, t.d) * 86400 + t.hh * 3600 + t.mi * 60 + s;
    }
    return -1;
}
