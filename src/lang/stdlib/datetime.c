/*
 * datetime.c - std::datetime: nanosecond timestamps formatted (format, rfc3339, rfc2822),
 * parsed (parse), given a time zone (with_timezone) and taken apart (year ... subsecond),
 * as Tremor 0.13's datetime module, with libc only.
 *
 * A datetime is an integer, UTC nanoseconds since the epoch, or a record
 * {"timestamp": nanos, "tz": zone} made by with_timezone. Zones are what can be done
 * without a time zone database: "UTC" (and "GMT", "Z", "Etc/UTC") and fixed offsets such as
 * "+01:00", "-0530" or "+09". IANA names ("Europe/Berlin") and the integer ids of
 * std::datetime::timezones are refused with a message saying so.
 *
 * Format strings are chrono's strftime dialect (Tremor documents chrono's): %Y %C %y %m
 * %b %h %B %d %e %a %A %w %u %U %W %G %g %V %j %H %k %I %l %P %p %M %S %f %.f %.3f %.6f
 * %.9f %3f %6f %9f %Z %z %:z %::z %:::z %#z %s %c %D %x %F %v %R %T %X %r %+ %t %n %%, with
 * the padding modifiers - (none), _ (spaces) and 0 (zeros). Parsing takes the same
 * specifiers, a space in the format matches any run of white space, and the whole input
 * must be used. Where chrono would refuse an incomplete parse (no time of day), parse
 * takes midnight; "Z" is accepted wherever an offset is.
 */
#include <string.h>

#include "lang/fn.h"
#include "lang/stdlib/util.h"

#define NANOS 1000000000LL

static const char *const month_names[] = {"January", "February", "March",     "April",
                                          "May",     "June",     "July",      "August",
                                          "September", "October", "November", "December"};
static const char *const day_names[] = {"Sunday",   "Monday", "Tuesday", "Wednesday",
                                        "Thursday", "Friday", "Saturday"};

/* ---- calendar ----------------------------------------------------------------------- */

static int64_t floor_div(int64_t a, int64_t b) {
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
    y -= m <= 2;
    int64_t era = floor_div(y, 400);
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d) {
    z += 719468;
    int64_t era = floor_div(z, 146097);
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static bool is_leap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

static unsigned days_in_month(int64_t y, unsigned m) {
    static const unsigned dm[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : dm[m - 1];
}

/* 0 = Sunday */
static unsigned weekday_of(int64_t days) { return (unsigned)(((days % 7) + 11) % 7); }

/* ISO 8601 weeks of year y: 53 when it starts on a Thursday, or on a Wednesday in a leap
 * year. */
static unsigned iso_weeks(int64_t y) {
    unsigned jan1 = weekday_of(days_from_civil(y, 1, 1));
    return jan1 == 4 || (jan1 == 3 && is_leap(y)) ? 53 : 52;
}

/* A moment taken apart in its zone. */
typedef struct parts {
    int64_t utc_secs; /* for %s */
    int64_t year;
    unsigned month, day, yday, hour, minute, second, wday;
    uint32_t nanos;
    int32_t offset; /* seconds east of UTC */
    bool named_utc; /* the zone is UTC by name, so %Z prints "UTC" */
} parts;

static void split(int64_t utc_nanos, int32_t offset, bool named_utc, parts *p) {
    int64_t secs = floor_div(utc_nanos, NANOS);
    int64_t local = secs + offset;
    int64_t days = floor_div(local, 86400);
    int64_t sod = local - days * 86400;
    int64_t sub = utc_nanos % NANOS; /* not utc_nanos - secs * NANOS: that overflows */
    p->utc_secs = secs;
    p->nanos = (uint32_t)(sub < 0 ? sub + NANOS : sub);
    p->offset = offset;
    p->named_utc = named_utc;
    civil_from_days(days, &p->year, &p->month, &p->day);
    p->yday = (unsigned)(days - days_from_civil(p->year, 1, 1)) + 1;
    p->wday = weekday_of(days);
    p->hour = (unsigned)(sod / 3600);
    p->minute = (unsigned)(sod / 60 % 60);
    p->second = (unsigned)(sod % 60);
}

static void iso_week(const parts *p, int64_t *iso_year, unsigned *week) {
    unsigned wd = p->wday == 0 ? 7 : p->wday; /* Monday 1 .. Sunday 7 */
    int w = ((int)p->yday - (int)wd + 10) / 7;
    *iso_year = p->year;
    if (w < 1) {
        *iso_year = p->year - 1;
        w = (int)iso_weeks(*iso_year);
    } else if (w > (int)iso_weeks(p->year)) {
        *iso_year = p->year + 1;
        w = 1;
    }
    *week = (unsigned)w;
}

/* ---- zones and datetime arguments --------------------------------------------------- */

static bool two_digits(const char *s, int *v) {
    if (s[0] < '0' || s[0] > '9' || s[1] < '0' || s[1] > '9') return false;
    *v = (s[0] - '0') * 10 + (s[1] - '0');
    return true;
}

/* "+hh", "+hhmm", "+hh:mm" (and "-"): the offset in seconds. */
static bool parse_offset_text(const char *s, size_t n, int32_t *offset) {
    int h, m = 0;
    if (n < 3 || (s[0] != '+' && s[0] != '-') || !two_digits(s + 1, &h)) return false;
    if (n == 5 && two_digits(s + 3, &m)) {
    } else if (n == 6 && s[3] == ':' && two_digits(s + 4, &m)) {
    } else if (n != 3) {
        return false;
    }
    if (h > 23 || m > 59) return false;
    *offset = (h * 3600 + m * 60) * (s[0] == '-' ? -1 : 1);
    return true;
}

static bool text_is(const char *s, size_t n, const char *z) {
    return strlen(z) == n && memcmp(s, z, n) == 0;
}

/* The offset of a zone value; an error for what this module cannot resolve. */
static int zone_offset(tbr_fn_ctx *cx, const char *fn, const tb_value *tz, int32_t *offset,
                       bool *named_utc) {
    *named_utc = false;
    if (tz->type == TB_STRING) {
        const char *s = sl_text(tz);
        size_t n = tz->len;
        if (text_is(s, n, "UTC") || text_is(s, n, "GMT") || text_is(s, n, "Z") ||
            text_is(s, n, "Etc/UTC") || text_is(s, n, "Etc/GMT") || text_is(s, n, "UCT")) {
            *offset = 0;
            *named_utc = true;
            return TB_OK;
        }
        if (parse_offset_text(s, n, offset)) return TB_OK;
        return tbr_fn_error(cx,
                            "%s: unsupported time zone \"%.*s\": only UTC and fixed offsets "
                            "such as \"+01:00\" are supported (there is no time zone database)",
                            fn, (int)(n > 64 ? 64 : n), s);
    }
    if (tz->type == TB_I64 || tz->type == TB_U64)
        return tbr_fn_error(cx,
                            "%s: time zone ids from std::datetime::timezones are not supported; "
                            "use \"UTC\" or a fixed offset such as \"+01:00\"",
                            fn);
    return sl_type_error(cx, fn, 0, "tz", "a time zone string", tz);
}

/* A datetime argument: UTC nanoseconds and the zone's offset. */
static int get_datetime(tbr_fn_ctx *cx, const char *fn, int argno, const tb_value *v,
                        int64_t *nanos, int32_t *offset, bool *named_utc) {
    *offset = 0;
    *named_utc = true;
    if (sl_as_i64(v, nanos)) return TB_OK;
    if (v->type == TB_OBJECT) {
        const tb_value *ts = tb_object_getz(v, "timestamp");
        const tb_value *tz = tb_object_getz(v, "tz");
        if (ts && sl_as_i64(ts, nanos)) {
            if (!tz) return TB_OK;
            return zone_offset(cx, fn, tz, offset, named_utc);
        }
    }
    return sl_type_error(cx, fn, argno, "datetime",
                         "an integer timestamp or a record with an integer timestamp", v);
}

/* ---- formatting ----------------------------------------------------------------------- */

/* pad: '0', ' ' or 0 (none) */
static void put_num(sl_sb *sb, int64_t v, int width, char pad) {
    char num[24];
    int len = 0;
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    do num[len++] = (char)('0' + u % 10); while ((u /= 10) > 0);
    if (v < 0) sb_putc(sb, '-');
    for (int i = len; pad && i < width; i++) sb_putc(sb, pad);
    while (len > 0) sb_putc(sb, num[--len]);
}

static void put_offset(sl_sb *sb, int32_t off, int colons) {
    int32_t a = off < 0 ? -off : off;
    sb_putc(sb, off < 0 ? '-' : '+');
    put_num(sb, a / 3600, 2, '0');
    if (colons == 3) return; /* %:::z: hours only */
    if (colons) sb_putc(sb, ':');
    put_num(sb, a / 60 % 60, 2, '0');
    if (colons == 2) {
        sb_putc(sb, ':');
        put_num(sb, a % 60, 2, '0');
    }
}

static void put_fraction(sl_sb *sb, uint32_t nanos, int digits, bool dot) {
    if (digits == 0) { /* %.f: as many digits as needed, in groups of three */
        if (nanos == 0) return;
        digits = nanos % 1000000 == 0 ? 3 : nanos % 1000 == 0 ? 6 : 9;
    }
    if (dot) sb_putc(sb, '.');
    uint32_t v = nanos;
    for (int i = digits; i < 9; i++) v /= 10;
    put_num(sb, v, digits, '0');
}

/* The specifiers that stand for a sequence of others (the same for parsing). */
static const char *composite(char c) {
    switch (c) {
    case 'c': return "%a %b %e %H:%M:%S %Y";
    case 'D':
    case 'x': return "%m/%d/%y";
    case 'F': return "%Y-%m-%d";
    case 'v': return "%e-%b-%Y";
    case 'R': return "%H:%M";
    case 'T':
    case 'X': return "%H:%M:%S";
    case 'r': return "%I:%M:%S %p";
    case '+': return "%Y-%m-%dT%H:%M:%S%.f%:z";
    default: return NULL;
    }
}

static int format_parts(tbr_fn_ctx *cx, const char *fn, const parts *p, const char *f,
                        size_t n, sl_sb *sb) {
    for (size_t i = 0; i < n && !sb_failed(sb); i++) {
        if (f[i] != '%') {
            sb_putc(sb, f[i]);
            continue;
        }
        size_t at = i++;
        char pad = 0; /* the modifier, if any */
        int colons = 0, digits = -1;
        bool dot = false;
        if (i < n && (f[i] == '-' || f[i] == '_' || f[i] == '0')) pad = f[i++];
        if (i < n && f[i] == '.') dot = true, i++;
        if (i < n && (f[i] == '3' || f[i] == '6' || f[i] == '9')) digits = f[i++] - '0';
        while (i < n && f[i] == ':' && colons < 3) colons++, i++;
        if (i < n && f[i] == '#') i++;
        if (i >= n) return tbr_fn_error(cx, "%s: incomplete format specifier at the end", fn);
        char c = f[i];
        if ((dot || digits >= 0) && c != 'f') goto bad;
        if (colons && c != 'z') goto bad;
        const char *sub = composite(c);
        if (sub) { /* its parts are fixed and valid: no error to expect from them */
            format_parts(cx, fn, p, sub, strlen(sub), sb);
            continue;
        }
        /* the default padding of each numeric field, replaced by the modifier */
#define NUM(v, w, defpad) \
    put_num(sb, (v), (w), pad == '-' ? 0 : pad == '_' ? ' ' : pad == '0' ? '0' : (defpad))
        switch (c) {
        case 'Y':
            if (p->year > 9999 && pad != '-') sb_putc(sb, '+');
            NUM(p->year, 4, '0');
            break;
        case 'C': NUM(floor_div(p->year, 100), 2, '0'); break;
        case 'y': NUM(p->year - floor_div(p->year, 100) * 100, 2, '0'); break;
        case 'm': NUM(p->month, 2, '0'); break;
        case 'b':
        case 'h': sb_put(sb, month_names[p->month - 1], 3); break;
        case 'B': sb_puts(sb, month_names[p->month - 1]); break;
        case 'd': NUM(p->day, 2, '0'); break;
        case 'e': NUM(p->day, 2, ' '); break;
        case 'a': sb_put(sb, day_names[p->wday], 3); break;
        case 'A': sb_puts(sb, day_names[p->wday]); break;
        case 'w': NUM(p->wday, 1, '0'); break;
        case 'u': NUM(p->wday == 0 ? 7 : p->wday, 1, '0'); break;
        case 'U': NUM((p->yday + 6 - p->wday) / 7, 2, '0'); break;
        case 'W': NUM((p->yday + 6 - (p->wday + 6) % 7) / 7, 2, '0'); break;
        case 'G':
        case 'g':
        case 'V': {
            int64_t iy;
            unsigned w;
            iso_week(p, &iy, &w);
            if (c == 'G') NUM(iy, 4, '0');
            else if (c == 'g') NUM(iy - floor_div(iy, 100) * 100, 2, '0');
            else NUM(w, 2, '0');
            break;
        }
        case 'j': NUM(p->yday, 3, '0'); break;
        case 'H': NUM(p->hour, 2, '0'); break;
        case 'k': NUM(p->hour, 2, ' '); break;
        case 'I': NUM(p->hour % 12 == 0 ? 12 : p->hour % 12, 2, '0'); break;
        case 'l': NUM(p->hour % 12 == 0 ? 12 : p->hour % 12, 2, ' '); break;
        case 'P': sb_puts(sb, p->hour < 12 ? "am" : "pm"); break;
        case 'p': sb_puts(sb, p->hour < 12 ? "AM" : "PM"); break;
        case 'M': NUM(p->minute, 2, '0'); break;
        case 'S': NUM(p->second, 2, '0'); break;
        case 'f':
            if (dot) put_fraction(sb, p->nanos, digits < 0 ? 0 : digits, true);
            else put_fraction(sb, p->nanos, digits < 0 ? 9 : digits, false);
            break;
        case 'Z':
            if (p->named_utc) sb_puts(sb, "UTC");
            else put_offset(sb, p->offset, 1);
            break;
        case 'z': put_offset(sb, p->offset, colons); break;
        case 's': NUM(p->utc_secs, 1, 0); break;
        case 't': sb_putc(sb, '\t'); break;
        case 'n': sb_putc(sb, '\n'); break;
        case '%': sb_putc(sb, '%'); break;
        default: goto bad;
        }
#undef NUM
        continue;
    bad:
        return tbr_fn_error(cx, "%s: invalid format specifier \"%.*s\" at offset %zu", fn,
                            (int)(i + 1 - at), f + at, at);
    }
    return TB_OK;
}

static int format_value(tbr_fn_ctx *cx, const char *fn, const tb_value *dt, const char *f,
                        size_t n, tb_value *out) {
    int64_t nanos = 0;
    int32_t offset;
    bool named;
    parts p;
    sl_sb sb;
    int rc = get_datetime(cx, fn, n == SIZE_MAX ? 0 : 1, dt, &nanos, &offset, &named);
    if (rc != TB_OK) return rc;
    if (n == SIZE_MAX) n = strlen(f); /* a built-in format */
    split(nanos, offset, named, &p);
    sb_init(&sb, cx->arena);
    rc = format_parts(cx, fn, &p, f, n, &sb);
    if (rc != TB_OK) return rc;
    return sb_finish(cx, fn, &sb, false, out);
}

SL_NATIVE(fn_format) {
    static const char fn[] = "datetime::format";
    SL_WANT(cx, fn, 2, "format", &args[1], TB_STRING);
    return format_value(cx, fn, &args[0], sl_text(&args[1]), args[1].len, out);
}

SL_NATIVE(fn_rfc3339) {
    return format_value(cx, "datetime::rfc3339", &args[0], "%Y-%m-%dT%H:%M:%S%.f%:z", SIZE_MAX,
                        out);
}

SL_NATIVE(fn_rfc2822) {
    return format_value(cx, "datetime::rfc2822", &args[0], "%a, %d %b %Y %H:%M:%S %z", SIZE_MAX,
                        out);
}

/* ---- parsing ------------------------------------------------------------------------ */

/* What a parse found; has_* say which fields the format set. */
typedef struct parsed {
    bool has_year, has_century, has_year2, has_month, has_day, has_yday, has_hour,
        has_hour12, has_ampm, has_offset, has_timestamp;
    int64_t year, timestamp;
    int century, year2;
    unsigned month, day, yday, hour, hour12, minute, second;
    bool pm;
    uint32_t nanos;
    int32_t offset;
} parsed;

typedef struct cursor {
    const char *s;
    size_t n, i;
} cursor;

static bool is_space_byte(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* Up to max decimal digits (at least one), after an optional sign when sign is set. */
static bool read_int(cursor *c, int max, bool sign, int64_t *v) {
    bool neg = false;
    int k = 0;
    int64_t x = 0;
    if (sign && c->i < c->n && (c->s[c->i] == '+' || c->s[c->i] == '-')) neg = c->s[c->i++] == '-';
    while (k < max && c->i < c->n && c->s[c->i] >= '0' && c->s[c->i] <= '9') {
        x = x * 10 + (c->s[c->i++] - '0');
        k++;
    }
    if (k == 0) return false;
    *v = neg ? -x : x;
    return true;
}

static bool read_uint(cursor *c, int max, unsigned *v) {
    int64_t x;
    if (!read_int(c, max, false, &x)) return false;
    *v = (unsigned)x;
    return true;
}

/* The fraction digits after a '.', as nanoseconds (digits past the ninth are dropped). */
static bool read_fraction(cursor *c, uint32_t *nanos) {
    uint32_t v = 0;
    int k = 0;
    while (c->i < c->n && c->s[c->i] >= '0' && c->s[c->i] <= '9') {
        if (k < 9) v = v * 10 + (uint32_t)(c->s[c->i] - '0');
        k++;
        c->i++;
    }
    if (k == 0) return false;
    for (; k < 9; k++) v *= 10;
    *nanos = v;
    return true;
}

static bool read_name(cursor *c, const char *const *names, int count, int *which) {
    /* full names first, so "March" is not read as "Mar" leaving "ch" */
    for (int pass = 0; pass < 2; pass++) {
        for (int k = 0; k < count; k++) {
            size_t len = pass == 0 ? strlen(names[k]) : 3;
            if (c->n - c->i < len) continue;
            size_t j = 0;
            for (; j < len; j++) {
                char a = c->s[c->i + j], b = names[k][j];
                if (a >= 'A' && a <= 'Z') a = (char)(a - 'A' + 'a');
                if (b >= 'A' && b <= 'Z') b = (char)(b - 'A' + 'a');
                if (a != b) break;
            }
            if (j == len) {
                c->i += len;
                *which = k;
                return true;
            }
        }
    }
    return false;
}

/* An offset "+hh", "+hhmm", "+hh:mm" or "Z". */
static bool read_offset(cursor *c, int32_t *offset) {
    if (c->i < c->n && (c->s[c->i] == 'Z' || c->s[c->i] == 'z')) {
        c->i++;
        *offset = 0;
        return true;
    }
    size_t left = c->n - c->i;
    const char *s = c->s + c->i;
    /* the longest form that fits and parses */
    if (left >= 6 && s[3] == ':' && parse_offset_text(s, 6, offset)) return c->i += 6, true;
    if (left >= 5 && parse_offset_text(s, 5, offset)) return c->i += 5, true;
    if (left >= 3 && parse_offset_text(s, 3, offset)) return c->i += 3, true;
    return false;
}

static int parse_fmt(tbr_fn_ctx *cx, const char *fn, cursor *c, const char *f, size_t n,
                     parsed *p) {
    for (size_t i = 0; i < n; i++) {
        if (is_space_byte(f[i])) { /* any run of white space, even none */
            while (c->i < c->n && is_space_byte(c->s[c->i])) c->i++;
            continue;
        }
        if (f[i] != '%') {
            if (c->i >= c->n || c->s[c->i] != f[i]) goto mismatch;
            c->i++;
            continue;
        }
        size_t at = i++;
        bool dot = false;
        int digits = -1, colons = 0;
        if (i < n && (f[i] == '-' || f[i] == '_' || f[i] == '0')) i++;
        if (i < n && f[i] == '.') dot = true, i++;
        if (i < n && (f[i] == '3' || f[i] == '6' || f[i] == '9')) digits = f[i++] - '0';
        while (i < n && f[i] == ':' && colons < 3) colons++, i++;
        if (i < n && f[i] == '#') i++;
        if (i >= n) return tbr_fn_error(cx, "%s: incomplete format specifier at the end", fn);
        char k = f[i];
        if ((dot || digits >= 0) && k != 'f') goto bad;
        if (colons && k != 'z') goto bad;
        const char *sub = composite(k);
        if (sub) {
            int rc = parse_fmt(cx, fn, c, sub, strlen(sub), p);
            if (rc != TB_OK) return rc;
            continue;
        }
        int64_t v;
        int which;
        if (k == 'e' || k == 'k' || k == 'l')
            while (c->i < c->n && c->s[c->i] == ' ') c->i++;
        switch (k) {
        case 'Y':
            if (!read_int(c, 9, true, &p->year)) goto mismatch;
            p->has_year = true;
            break;
        case 'C':
            if (!read_int(c, 2, false, &v)) goto mismatch;
            p->century = (int)v;
            p->has_century = true;
            break;
        case 'y':
            if (!read_int(c, 2, false, &v)) goto mismatch;
            p->year2 = (int)v;
            p->has_year2 = true;
            break;
        case 'm':
            if (!read_uint(c, 2, &p->month)) goto mismatch;
            p->has_month = true;
            break;
        case 'b':
        case 'h':
        case 'B':
            if (!read_name(c, month_names, 12, &which)) goto mismatch;
            p->month = (unsigned)which + 1;
            p->has_month = true;
            break;
        case 'd':
        case 'e':
            if (!read_uint(c, 2, &p->day)) goto mismatch;
            p->has_day = true;
            break;
        case 'a':
        case 'A': /* read, not checked against the date */
            if (!read_name(c, day_names, 7, &which)) goto mismatch;
            break;
        case 'w':
        case 'u':
            if (!read_int(c, 1, false, &v)) goto mismatch;
            break;
        case 'U':
        case 'W':
        case 'V':
        case 'g':
            if (!read_int(c, 2, false, &v)) goto mismatch;
            break;
        case 'G':
            if (!read_int(c, 9, true, &v)) goto mismatch;
            break;
        case 'j':
            if (!read_uint(c, 3, &p->yday)) goto mismatch;
            p->has_yday = true;
            break;
        case 'H':
        case 'k':
            if (!read_uint(c, 2, &p->hour)) goto mismatch;
            p->has_hour = true;
            break;
        case 'I':
        case 'l':
            if (!read_uint(c, 2, &p->hour12)) goto mismatch;
            p->has_hour12 = true;
            break;
        case 'P':
        case 'p': {
            static const char *const ampm[] = {"AM", "PM"};
            if (!read_name(c, ampm, 2, &which)) goto mismatch;
            p->pm = which == 1;
            p->has_ampm = true;
            break;
        }
        case 'M':
            if (!read_uint(c, 2, &p->minute)) goto mismatch;
            break;
        case 'S':
            if (!read_uint(c, 2, &p->second)) goto mismatch;
            break;
        case 'f':
            if (dot) { /* optional: nothing, or '.' and digits */
                if (c->i < c->n && c->s[c->i] == '.') {
                    c->i++;
                    if (!read_fraction(c, &p->nanos)) goto mismatch;
                }
            } else if (digits > 0) { /* %3f: that many fraction digits */
                cursor part = *c;
                part.n = c->i + (size_t)digits <= c->n ? c->i + (size_t)digits : c->n;
                if (!read_fraction(&part, &p->nanos) || part.i - c->i != (size_t)digits)
                    goto mismatch;
                c->i = part.i;
            } else { /* %f: the nanoseconds as a number */
                unsigned ns;
                if (!read_uint(c, 9, &ns)) goto mismatch;
                p->nanos = ns;
            }
            break;
        case 'z':
            if (!read_offset(c, &p->offset)) goto mismatch;
            p->has_offset = true;
            break;
        case 'Z': {
            size_t b = c->i;
            while (c->i < c->n && ((c->s[c->i] >= 'A' && c->s[c->i] <= 'Z') ||
                                   (c->s[c->i] >= 'a' && c->s[c->i] <= 'z')))
                c->i++;
            if (!text_is(c->s + b, c->i - b, "UTC") && !text_is(c->s + b, c->i - b, "GMT") &&
                !text_is(c->s + b, c->i - b, "Z")) {
                c->i = b;
                goto mismatch;
            }
            p->offset = 0;
            p->has_offset = true;
            break;
        }
        case 's':
            if (!read_int(c, 12, true, &p->timestamp)) goto mismatch;
            p->has_timestamp = true;
            break;
        case 't':
        case 'n':
            while (c->i < c->n && is_space_byte(c->s[c->i])) c->i++;
            break;
        case '%':
            if (c->i >= c->n || c->s[c->i] != '%') goto mismatch;
            c->i++;
            break;
        default: goto bad;
        }
        continue;
    bad:
        return tbr_fn_error(cx, "%s: invalid format specifier \"%.*s\" at offset %zu", fn,
                            (int)(i + 1 - at), f + at, at);
    mismatch:
        return tbr_fn_error(cx, "%s: input does not match the format at input offset %zu", fn,
                            c->i);
    }
    return TB_OK;
}

/* UTC nanoseconds of what was parsed, or an error. */
static int resolve(tbr_fn_ctx *cx, const char *fn, parsed *p, int64_t *out) {
    int64_t secs, r;
    if (p->has_timestamp) {
        secs = p->timestamp;
    } else {
        int64_t year = p->year;
        if (!p->has_year) {
            if (!p->has_year2) return tbr_fn_error(cx, "%s: the format gives no year", fn);
            /* POSIX: 69-99 are 19xx, 00-68 are 20xx, unless %C says otherwise */
            year = p->has_century ? p->century * 100 + p->year2
                                  : (p->year2 >= 69 ? 1900 : 2000) + p->year2;
        }
        if (year < -1000000 || year > 1000000)
            return tbr_fn_error(cx, "%s: year %lld out of range", fn, (long long)year);
        int64_t days;
        if (p->has_month || p->has_day) {
            if (!p->has_month || !p->has_day)
                return tbr_fn_error(cx, "%s: the format gives no %s", fn,
                                    p->has_month ? "day" : "month");
            if (p->month < 1 || p->month > 12)
                return tbr_fn_error(cx, "%s: month %u out of range", fn, p->month);
            if (p->day < 1 || p->day > days_in_month(year, p->month))
                return tbr_fn_error(cx, "%s: day %u out of range", fn, p->day);
            days = days_from_civil(year, p->month, p->day);
        } else if (p->has_yday) {
            if (p->yday < 1 || p->yday > (is_leap(year) ? 366u : 365u))
                return tbr_fn_error(cx, "%s: day of year %u out of range", fn, p->yday);
            days = days_from_civil(year, 1, 1) + p->yday - 1;
        } else {
            return tbr_fn_error(cx, "%s: the format gives no month and day", fn);
        }
        unsigned hour = p->hour;
        if (p->has_hour12) {
            if (p->hour12 < 1 || p->hour12 > 12)
                return tbr_fn_error(cx, "%s: hour %u out of range", fn, p->hour12);
            hour = p->hour12 % 12 + (p->has_ampm && p->pm ? 12 : 0);
        }
        if (hour > 23) return tbr_fn_error(cx, "%s: hour %u out of range", fn, hour);
        if (p->minute > 59) return tbr_fn_error(cx, "%s: minute %u out of range", fn, p->minute);
        /* 60 is a leap second: it counts as the next second, as chrono's timestamp does */
        if (p->second > 60) return tbr_fn_error(cx, "%s: second %u out of range", fn, p->second);
        secs = days * 86400 + hour * 3600 + p->minute * 60 + p->second - p->offset;
    }
    if (p->nanos >= NANOS) return tbr_fn_error(cx, "%s: fraction out of range", fn);
    if (__builtin_mul_overflow(secs, NANOS, &r) || __builtin_add_overflow(r, p->nanos, &r))
        return tbr_fn_error(cx, "%s: the time is outside the range of nanosecond timestamps "
                                "(1677 to 2262)",
                            fn);
    *out = r;
    return TB_OK;
}

SL_NATIVE(fn_parse) {
    static const char fn[] = "datetime::parse";
    parsed p;
    int64_t nanos = 0;
    SL_WANT(cx, fn, 1, "string", &args[0], TB_STRING);
    SL_WANT(cx, fn, 2, "format", &args[1], TB_STRING);
    cursor c = {sl_text(&args[0]), args[0].len, 0};
    memset(&p, 0, sizeof p);
    int rc = parse_fmt(cx, fn, &c, sl_text(&args[1]), args[1].len, &p);
    if (rc != TB_OK) return rc;
    if (c.i != c.n)
        return tbr_fn_error(cx, "%s: trailing input after the format at input offset %zu", fn,
                            c.i);
    rc = resolve(cx, fn, &p, &nanos);
    if (rc != TB_OK) return rc;
    *out = tb_i64(nanos);
    return TB_OK;
}

/* ---- zones and fields ------------------------------------------------------------------ */

SL_NATIVE(fn_with_timezone) {
    static const char fn[] = "datetime::with_timezone";
    int64_t nanos = 0;
    int32_t offset;
    bool named;
    if (!sl_as_i64(&args[0], &nanos))
        return sl_type_error(cx, fn, 1, "utc_nanos", "an integer", &args[0]);
    int rc = zone_offset(cx, fn, &args[1], &offset, &named);
    if (rc != TB_OK) return rc;
    tb_value rec = tb_object(), *slot;
    if (!(slot = tb_object_append(cx->arena, &rec, "timestamp", 9))) return sl_oom(cx, fn);
    *slot = tb_i64(nanos);
    if (!(slot = tb_object_append(cx->arena, &rec, "tz", 2))) return sl_oom(cx, fn);
    *slot = args[1];
    *out = rec;
    return TB_OK;
}

enum { YEAR, MONTH, ISO_WEEK, DAY_OF_MONTH, DAY_OF_YEAR, HOUR, MINUTE, SECOND, MILLIS, MICROS,
       SUBNANOS };

static int field(tbr_fn_ctx *cx, const char *fn, const tb_value *v, int which, tb_value *out) {
    int64_t nanos, iso_year;
    int32_t offset;
    bool named;
    unsigned week;
    parts p;
    int rc = get_datetime(cx, fn, 0, v, &nanos, &offset, &named);
    if (rc != TB_OK) return rc;
    split(nanos, offset, named, &p);
    int64_t r = 0;
    switch (which) {
    case YEAR: r = p.year; break;
    case MONTH: r = p.month; break;
    case ISO_WEEK: iso_week(&p, &iso_year, &week), r = week; break;
    case DAY_OF_MONTH: r = p.day; break;
    case DAY_OF_YEAR: r = p.yday; break;
    case HOUR: r = p.hour; break;
    case MINUTE: r = p.minute; break;
    case SECOND: r = p.second; break;
    case MILLIS: r = p.nanos / 1000000; break;
    case MICROS: r = p.nanos / 1000; break;
    default: r = p.nanos; break;
    }
    *out = tb_i64(r);
    return TB_OK;
}

#define FIELD_FN(name, which)                                                  \
    SL_NATIVE(fn_##name) { return field(cx, "datetime::" #name, &args[0], which, out); }
FIELD_FN(year, YEAR)
FIELD_FN(month, MONTH)
FIELD_FN(iso_week, ISO_WEEK)
FIELD_FN(day_of_month, DAY_OF_MONTH)
FIELD_FN(day_of_year, DAY_OF_YEAR)
FIELD_FN(hour, HOUR)
FIELD_FN(minute, MINUTE)
FIELD_FN(second, SECOND)
FIELD_FN(subsecond_millis, MILLIS)
FIELD_FN(subsecond_micros, MICROS)
FIELD_FN(subsecond_nanos, SUBNANOS)

#define P TBR_FN_PURE
const tbr_fn tbr_stdlib_datetime[] = {
    SL_FN("datetime", "rfc3339", 1, 1, P, fn_rfc3339, "datetime::rfc3339(datetime) -> string",
          "The datetime in RFC 3339 form, e.g. 1970-01-01T00:00:00+00:00."),
    SL_FN("datetime", "rfc2822", 1, 1, P, fn_rfc2822, "datetime::rfc2822(datetime) -> string",
          "The datetime in RFC 2822 form, e.g. Thu, 01 Jan 1970 00:00:00 +0000."),
    SL_FN("datetime", "format", 2, 2, P, fn_format, "datetime::format(datetime, format) -> string",
          "The datetime formatted with chrono's strftime specifiers."),
    SL_FN("datetime", "with_timezone", 2, 2, P, fn_with_timezone,
          "datetime::with_timezone(utc_nanos, timezone) -> record",
          "A datetime record of a UTC timestamp in a zone (UTC or a fixed offset)."),
    SL_FN("datetime", "parse", 2, 2, P, fn_parse, "datetime::parse(string, format) -> int",
          "UTC nanoseconds of a date and time read with chrono's strftime specifiers."),
    SL_FN("datetime", "year", 1, 1, P, fn_year, "datetime::year(datetime) -> int",
          "The year."),
    SL_FN("datetime", "month", 1, 1, P, fn_month, "datetime::month(datetime) -> int",
          "The month, from 1."),
    SL_FN("datetime", "iso_week", 1, 1, P, fn_iso_week, "datetime::iso_week(datetime) -> int",
          "The ISO 8601 week number, from 1."),
    SL_FN("datetime", "day_of_month", 1, 1, P, fn_day_of_month,
          "datetime::day_of_month(datetime) -> int", "The day of the month, from 1."),
    SL_FN("datetime", "day_of_year", 1, 1, P, fn_day_of_year,
          "datetime::day_of_year(datetime) -> int", "The day of the year, from 1."),
    SL_FN("datetime", "hour", 1, 1, P, fn_hour, "datetime::hour(datetime) -> int",
          "The hour, 0 to 23."),
    SL_FN("datetime", "minute", 1, 1, P, fn_minute, "datetime::minute(datetime) -> int",
          "The minute, 0 to 59."),
    SL_FN("datetime", "second", 1, 1, P, fn_second, "datetime::second(datetime) -> int",
          "The second, 0 to 59."),
    SL_FN("datetime", "subsecond_millis", 1, 1, P, fn_subsecond_millis,
          "datetime::subsecond_millis(datetime) -> int",
          "Milliseconds since the last full second."),
    SL_FN("datetime", "subsecond_micros", 1, 1, P, fn_subsecond_micros,
          "datetime::subsecond_micros(datetime) -> int",
          "Microseconds since the last full second."),
    SL_FN("datetime", "subsecond_nanos", 1, 1, P, fn_subsecond_nanos,
          "datetime::subsecond_nanos(datetime) -> int",
          "Nanoseconds since the last full second."),
    SL_END,
};
