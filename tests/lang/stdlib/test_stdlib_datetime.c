/* test_stdlib_datetime.c - std::datetime (src/lang/stdlib/datetime.c). The moment used most:
 * 1559655782123456789 ns is Tuesday 2019-06-04 13:43:02.123456789 UTC. */
#include "stdlib_test.h"

#define T "1559655782123456789"

static void test_rfc3339_rfc2822(void **state) {
    fx *f = *state;
    OK(f, "datetime::rfc3339", "[0]", "\"1970-01-01T00:00:00+00:00\"");
    OK(f, "datetime::rfc3339", "[1667997961]", "\"1970-01-01T00:00:01.667997961+00:00\"");
    OK(f, "datetime::rfc3339", "[" T "]", "\"2019-06-04T13:43:02.123456789+00:00\"");
    OK(f, "datetime::rfc3339", "[1500000000]", "\"1970-01-01T00:00:01.500+00:00\"");
    OK(f, "datetime::rfc3339", "[1000001000]", "\"1970-01-01T00:00:01.000001+00:00\"");
    OK(f, "datetime::rfc3339", "[-1]", "\"1969-12-31T23:59:59.999999999+00:00\"");
    OK(f, "datetime::rfc3339", "[{\"timestamp\": 0, \"tz\": \"+05:30\"}]",
       "\"1970-01-01T05:30:00+05:30\"");
    OK(f, "datetime::rfc2822", "[0]", "\"Thu, 01 Jan 1970 00:00:00 +0000\"");
    OK(f, "datetime::rfc2822", "[{\"timestamp\": " T ", \"tz\": \"-0800\"}]",
       "\"Tue, 04 Jun 2019 05:43:02 -0800\"");
    ERR(f, "datetime::rfc3339", "[\"2019\"]",
        "datetime::rfc3339: expected an integer timestamp or a record with an integer "
        "timestamp, found string");
    ERR(f, "datetime::rfc2822", "[1.5]",
        "datetime::rfc2822: expected an integer timestamp or a record with an integer "
        "timestamp, found float");
}

static void test_format(void **state) {
    fx *f = *state;
    OK(f, "datetime::format", "[1559655782123567892, \"%Y-%m-%d\"]", "\"2019-06-04\"");
    OK(f, "datetime::format", "[123567892, \"%Y-%m-%d\"]", "\"1970-01-01\"");
    OK(f, "datetime::format",
       "[{\"timestamp\": 123, \"tz\": \"+01:00\"}, \"%Y-%m-%dT%H:%M:%S%:z\"]",
       "\"1970-01-01T01:00:00+01:00\"");
    OK(f, "datetime::format", "[" T ", \"%a|%A|%b|%h|%B|%C|%y|%e|%j|%I|%l|%p|%P\"]",
       "\"Tue|Tuesday|Jun|Jun|June|20|19| 4|155|01| 1|PM|pm\"");
    OK(f, "datetime::format", "[" T ", \"%U|%W|%V|%G|%g|%u|%w|%s|%k\"]",
       "\"22|22|23|2019|19|2|2|1559655782|13\"");
    OK(f, "datetime::format", "[" T ", \"%D|%x|%F|%T|%X|%R|%r|%v\"]",
       "\"06/04/19|06/04/19|2019-06-04|13:43:02|13:43:02|13:43|01:43:02 PM| 4-Jun-2019\"");
    OK(f, "datetime::format", "[" T ", \"%c\"]", "\"Tue Jun  4 13:43:02 2019\"");
    OK(f, "datetime::format", "[" T ", \"%+\"]", "\"2019-06-04T13:43:02.123456789+00:00\"");
    OK(f, "datetime::format", "[" T ", \"%f|%.f|%.3f|%.6f|%.9f|%3f|%6f|%9f\"]",
       "\"123456789|.123456789|.123|.123456|.123456789|123|123456|123456789\"");
    OK(f, "datetime::format", "[0, \"[%.f][%f][%.3f]\"]", "\"[][000000000][.000]\"");
    OK(f, "datetime::format", "[" T ", \"%Z|%z|%:z|%::z|%:::z\"]",
       "\"UTC|+0000|+00:00|+00:00:00|+00\"");
    OK(f, "datetime::format", "[{\"timestamp\": 0, \"tz\": \"-09:30\"}, \"%Z|%z|%:::z|%H:%M\"]",
       "\"-09:30|-0930|-09|14:30\"");
    OK(f, "datetime::format", "[" T ", \"%-d|%-m|%_m|%0e|%-H|%%|%t|%n\"]",
       "\"4|6| 6|04|13|%|\\t|\\n\"");
    OK(f, "datetime::format", "[" T ", \"\"]", "\"\"");
    OK(f, "datetime::format", "[" T ", \"plain text \\u2665\"]", "\"plain text \\u2665\"");
    OK(f, "datetime::format", "[-9223372036854775808, \"%Y-%m-%d %H:%M:%S\"]",
       "\"1677-09-21 00:12:43\"");
    OK(f, "datetime::format", "[9223372036854775807, \"%Y-%m-%d %H:%M:%S\"]",
       "\"2262-04-11 23:47:16\"");
    ERR(f, "datetime::format", "[0, \"%Q\"]",
        "datetime::format: invalid format specifier \"%Q\" at offset 0");
    ERR(f, "datetime::format", "[0, \"%Y %\"]",
        "datetime::format: incomplete format specifier at the end");
    ERR(f, "datetime::format", "[0, \"%.3d\"]",
        "datetime::format: invalid format specifier \"%.3d\" at offset 0");
    ERR(f, "datetime::format", "[\"x\", \"%Y\"]",
        "datetime::format: expected an integer timestamp or a record with an integer "
        "timestamp as argument 1 (datetime), found string");
    ERR(f, "datetime::format", "[0, 1]",
        "datetime::format: expected a string as argument 2 (format), found int");
    ERR(f, "datetime::format", "[{\"timestamp\": 0, \"tz\": \"Europe/Berlin\"}, \"%Y\"]",
        "datetime::format: unsupported time zone \"Europe/Berlin\": only UTC and fixed offsets "
        "such as \"+01:00\" are supported (there is no time zone database)");
}

static void test_parse(void **state) {
    fx *f = *state;
    OK(f, "datetime::parse", "[\"2019-06-17T13:15:40.752Z\", \"%Y-%m-%dT%H:%M:%S%.3fZ\"]",
       "1560777340752000000");
    OK(f, "datetime::parse", "[\"1983 Apr 13 12:09:14.274 +0000\", \"%Y %b %d %H:%M:%S%.3f %z\"]",
       "419083754274000000");
    OK(f, "datetime::parse", "[\"1560777212\", \"%s\"]", "1560777212000000000");
    OK(f, "datetime::parse",
       "[\"2019-06-04T13:43:02.123456789+02:00\", \"%Y-%m-%dT%H:%M:%S%.f%:z\"]",
       "1559648582123456789");
    OK(f, "datetime::parse", "[\"1970-01-01T00:00:00Z\", \"%Y-%m-%dT%H:%M:%S%.f%:z\"]", "0");
    OK(f, "datetime::parse", "[\"Thu, 01 Jan 1970 00:00:00 +0000\", \"%a, %d %b %Y %H:%M:%S %z\"]",
       "0");
    OK(f, "datetime::parse", "[\"2020-02-29\", \"%Y-%m-%d\"]", "1582934400000000000");
    OK(f, "datetime::parse", "[\"01:30 PM 2020-01-01\", \"%I:%M %p %Y-%m-%d\"]",
       "1577885400000000000");
    OK(f, "datetime::parse", "[\"12:00 am 2020-01-01\", \"%I:%M %p %Y-%m-%d\"]",
       "1577836800000000000");
    OK(f, "datetime::parse", "[\"2020-060\", \"%Y-%j\"]", "1582934400000000000");
    OK(f, "datetime::parse", "[\"29  February 2020\", \"%d %B %Y\"]", "1582934400000000000");
    OK(f, "datetime::parse", "[\"06/04/19 13:43:02\", \"%D %T\"]", "1559655782000000000");
    OK(f, "datetime::parse", "[\"1969-12-31 23:59:59.5\", \"%F %T%.f\"]", "-500000000");
    OK(f, "datetime::parse", "[\"2019-06-04 13:43:02 UTC\", \"%F %T %Z\"]", "1559655782000000000");
    /* a round trip through format */
    tb_value fmt[2] = {tb_i64(1559655782123456789), STR("%+")}, text;
    assert_int_equal(call_n(f, "datetime::format", fmt, 2, &text), TB_OK);
    tb_value back[2] = {text, STR("%+")}, want = tb_i64(1559655782123456789);
    OK_V(f, "datetime::parse", back, 2, &want);

    ERR(f, "datetime::parse", "[\"2019-02-29\", \"%Y-%m-%d\"]", "datetime::parse: day 29 out of range");
    ERR(f, "datetime::parse", "[\"2019-13-01\", \"%Y-%m-%d\"]", "datetime::parse: month 13 out of range");
    ERR(f, "datetime::parse", "[\"2019-06-04 24:00\", \"%Y-%m-%d %H:%M\"]",
        "datetime::parse: hour 24 out of range");
    ERR(f, "datetime::parse", "[\"2019-06-04x\", \"%Y-%m-%d\"]",
        "datetime::parse: trailing input after the format at input offset 10");
    ERR(f, "datetime::parse", "[\"abc\", \"%Y\"]",
        "datetime::parse: input does not match the format at input offset 0");
    ERR(f, "datetime::parse", "[\"2019\", \"%Y\"]", "datetime::parse: the format gives no month and day");
    ERR(f, "datetime::parse", "[\"06-04\", \"%m-%d\"]", "datetime::parse: the format gives no year");
    ERR(f, "datetime::parse", "[\"2019\", \"%Q\"]",
        "datetime::parse: invalid format specifier \"%Q\" at offset 0");
    ERR(f, "datetime::parse", "[\"3000-01-01\", \"%Y-%m-%d\"]",
        "datetime::parse: the time is outside the range of nanosecond timestamps (1677 to 2262)");
    ERR(f, "datetime::parse", "[\"2019-06-04 CET\", \"%Y-%m-%d %Z\"]",
        "datetime::parse: input does not match the format at input offset 11");
    ERR(f, "datetime::parse", "[1, \"%Y\"]",
        "datetime::parse: expected a string as argument 1 (string), found int");
    ERR(f, "datetime::parse", "[\"1\", null]",
        "datetime::parse: expected a string as argument 2 (format), found null");
}

static void test_with_timezone(void **state) {
    fx *f = *state;
    OK(f, "datetime::with_timezone", "[0, \"UTC\"]", "{\"timestamp\": 0, \"tz\": \"UTC\"}");
    OK(f, "datetime::with_timezone", "[5, \"+01:00\"]", "{\"timestamp\": 5, \"tz\": \"+01:00\"}");
    OK(f, "datetime::with_timezone", "[5, \"-0130\"]", "{\"timestamp\": 5, \"tz\": \"-0130\"}");
    OK(f, "datetime::with_timezone", "[5, \"+09\"]", "{\"timestamp\": 5, \"tz\": \"+09\"}");
    ERR(f, "datetime::with_timezone", "[0, \"Europe/Berlin\"]",
        "datetime::with_timezone: unsupported time zone \"Europe/Berlin\": only UTC and fixed "
        "offsets such as \"+01:00\" are supported (there is no time zone database)");
    ERR(f, "datetime::with_timezone", "[0, \"+24:00\"]",
        "datetime::with_timezone: unsupported time zone \"+24:00\": only UTC and fixed offsets "
        "such as \"+01:00\" are supported (there is no time zone database)");
    ERR(f, "datetime::with_timezone", "[0, 42]",
        "datetime::with_timezone: time zone ids from std::datetime::timezones are not "
        "supported; use \"UTC\" or a fixed offset such as \"+01:00\"");
    ERR(f, "datetime::with_timezone", "[\"0\", \"UTC\"]",
        "datetime::with_timezone: expected an integer as argument 1 (utc_nanos), found string");
    ERR(f, "datetime::with_timezone", "[0, null]",
        "datetime::with_timezone: expected a time zone string, found null");
}

static void test_fields(void **state) {
    fx *f = *state;
    OK(f, "datetime::year", "[0]", "1970");
    OK(f, "datetime::month", "[0]", "1");
    OK(f, "datetime::iso_week", "[0]", "1");
    OK(f, "datetime::day_of_month", "[0]", "1");
    OK(f, "datetime::day_of_year", "[0]", "1");
    OK(f, "datetime::hour", "[0]", "0");
    OK(f, "datetime::minute", "[0]", "0");
    OK(f, "datetime::second", "[0]", "0");
    OK(f, "datetime::subsecond_millis", "[1000000]", "1");
    OK(f, "datetime::subsecond_micros", "[1000000]", "1000");
    OK(f, "datetime::subsecond_nanos", "[1000000]", "1000000");
    OK(f, "datetime::year", "[" T "]", "2019");
    OK(f, "datetime::month", "[" T "]", "6");
    OK(f, "datetime::iso_week", "[" T "]", "23");
    OK(f, "datetime::day_of_month", "[" T "]", "4");
    OK(f, "datetime::day_of_year", "[" T "]", "155");
    OK(f, "datetime::hour", "[" T "]", "13");
    OK(f, "datetime::minute", "[" T "]", "43");
    OK(f, "datetime::second", "[" T "]", "2");
    OK(f, "datetime::subsecond_millis", "[" T "]", "123");
    OK(f, "datetime::subsecond_micros", "[" T "]", "123456");
    OK(f, "datetime::subsecond_nanos", "[" T "]", "123456789");
    /* 2021-01-01 is a Friday in ISO week 53 of 2020; 2020-12-31 too */
    OK(f, "datetime::iso_week", "[1609459200000000000]", "53");
    OK(f, "datetime::iso_week", "[1609372800000000000]", "53");
    OK(f, "datetime::format", "[1609459200000000000, \"%G-W%V-%u\"]", "\"2020-W53-5\"");
    /* in a zone: the local fields */
    OK(f, "datetime::hour", "[{\"timestamp\": 0, \"tz\": \"-05:00\"}]", "19");
    OK(f, "datetime::day_of_month", "[{\"timestamp\": 0, \"tz\": \"-05:00\"}]", "31");
    OK(f, "datetime::year", "[{\"timestamp\": 0, \"tz\": \"-05:00\"}]", "1969");
    OK(f, "datetime::hour", "[{\"timestamp\": 0}]", "0");
    /* before the epoch */
    OK(f, "datetime::second", "[-1]", "59");
    OK(f, "datetime::subsecond_nanos", "[-1]", "999999999");
    ERR(f, "datetime::year", "[\"x\"]",
        "datetime::year: expected an integer timestamp or a record with an integer timestamp, "
        "found string");
    ERR(f, "datetime::hour", "[{\"tz\": \"UTC\"}]",
        "datetime::hour: expected an integer timestamp or a record with an integer timestamp, "
        "found object");
    ERR(f, "datetime::minute", "[18446744073709551615]",
        "datetime::minute: expected an integer timestamp or a record with an integer timestamp, "
        "found uint");
    ERR(f, "datetime::month", "[{\"timestamp\": 0, \"tz\": 3}]",
        "datetime::month: time zone ids from std::datetime::timezones are not supported; use "
        "\"UTC\" or a fixed offset such as \"+01:00\"");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        FX_TEST(test_rfc3339_rfc2822),
        FX_TEST(test_format),
        FX_TEST(test_parse),
        FX_TEST(test_with_timezone),
        FX_TEST(test_fields),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
