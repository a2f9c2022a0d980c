/*
 * test_codec_syslog.c - the `syslog` codec plugin (plugins/codec/syslog), loaded from the
 * build's plugins directory and driven through its vtable: Tremor's documented RFC 5424
 * and RFC 3164 vectors, the malformed fallback, encode shapes, round trips and errors with
 * their exact messages.
 *
 * Thread contract: single-threaded. Ownership: each test owns its fixture (codec_fix.h).
 */
#include "codec_fix.h"

#include <time.h>

static const char *dec_json(cf_fix *f, const char *text) {
    cf_begin(f);
    cf_raws(f, text);
    assert_int_equal(cf_decode(f), TB_OK);
    if (f->b.events[0].flags & (TB_EF_ERROR | TB_EF_RAW))
        fail_msg("%s did not decode: %s", text, cf_text(f, &f->b.events[0].data));
    return cf_text(f, &f->b.events[0].data);
}

static void test_rfc5424(void **state) {
    cf_fix f;
    (void)state;
    cf_start(&f, "syslog", NULL);
    assert_string_equal(
        dec_json(&f, "<165>1 2021-03-18T20:30:00.123Z mymachine.example.com evntslog - ID47 "
                     "[exampleSDID@32473 iut=\"3\" eventSource=\"Application\" eventID=\"1011\"] "
                     "BOMAn application event log entry..."),
        "{\"hostname\":\"mymachine.example.com\",\"severity\":\"notice\",\"facility\":\"local4\","
        "\"timestamp\":1616099400123000000,\"protocol\":\"RFC5424\",\"protocol_version\":1,"
        "\"appname\":\"evntslog\",\"msgid\":\"ID47\",\"structured_data\":{\"exampleSDID@32473\":"
        "[{\"iut\":\"3\"},{\"eventSource\":\"Application\"},{\"eventID\":\"1011\"}]},"
        "\"msg\":\"BOMAn application event log entry...\"}");
    assert_string_equal(dec_json(&f, "<191>1 2021-03-18T20:30:00.123Z - - - - - message"),
                        "{\"severity\":\"debug\",\"facility\":\"local7\",\"timestamp\":"
                        "1616099400123000000,\"protocol\":\"RFC5424\",\"protocol_version\":1,"
                        "\"msg\":\"message\"}");
    assert_string_equal(dec_json(&f, "<34>1 2003-10-11T22:14:15.003+02:00 host app 123 - -"),
                        "{\"hostname\":\"host\",\"severity\":\"crit\",\"facility\":\"auth\","
                        "\"timestamp\":1065903255003000000,\"protocol\":\"RFC5424\","
                        "\"protocol_version\":1,\"appname\":\"app\",\"procid\":\"123\"}");
    cf_stop(&f);
}

static void test_rfc3164(void **state) {
    cf_fix f;
    char expect[512];
    (void)state;
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    int year = tm.tm_year + 1900;
    struct tm jan5 = {.tm_year = year - 1900, .tm_mon = 0, .tm_mday = 5, .tm_hour = 15,
                      .tm_min = 33, .tm_sec = 3};
    long long ts = (long long)timegm(&jan5) * 1000000000LL;
    cf_start(&f, "syslog", NULL);
    snprintf(expect, sizeof expect,
             "{\"hostname\":\"74794bfb6795\",\"severity\":\"notice\",\"facility\":\"user\","
             "\"timestamp\":%lld,\"protocol\":\"RFC3164\",\"appname\":\"root\","
             "\"procid\":\"8539\",\"msg\":\"i am foobar\"}",
             ts);
    assert_string_equal(dec_json(&f, "<13>Jan  5 15:33:03 74794bfb6795 root[8539]: i am foobar"),
                        expect);
    /* malformed: everything goes into msg */
    assert_string_equal(dec_json(&f, "not a syslog message"),
                        "{\"protocol\":\"RFC3164\",\"msg\":\"not a syslog message\"}");
    assert_string_equal(dec_json(&f, "<13>hello"),
                        "{\"severity\":\"notice\",\"facility\":\"user\",\"protocol\":\"RFC3164\","
                        "\"msg\":\"hello\"}");
    cf_stop(&f);
}

static void check_encode(const char *json, const char *text) {
    cf_fix f;
    cf_start(&f, "syslog", NULL);
    cf_begin(&f);
    cf_value(&f, json);
    assert_int_equal(cf_encode(&f), TB_OK);
    assert_string_equal(cf_bytes_text(&f, &f.b.events[0]), text);
    cf_stop(&f);
}

static void test_encode(void **state) {
    (void)state;
    check_encode("{\"severity\":\"notice\",\"facility\":\"local4\",\"hostname\":\"h\","
                 "\"appname\":\"a\",\"msgid\":\"ID47\",\"protocol\":\"RFC5424\","
                 "\"protocol_version\":1,\"structured_data\":{\"x@1\":[{\"k\":\"v\"},{\"j\":\"w\"}]},"
                 "\"timestamp\":1616099400123000000,\"msg\":\"hi there\"}",
                 "<165>1 2021-03-18T20:30:00.123+00:00 h a - ID47 [x@1 k=\"v\" j=\"w\"] hi there");
    check_encode("{\"severity\":\"debug\",\"facility\":\"kern\"}", "<7>1 - - - - - -");
    check_encode("{\"severity\":\"err\",\"facility\":\"mail\",\"timestamp\":1000000001}",
                 "<19>1 1970-01-01T00:00:01.000000001+00:00 - - - - -");
    check_encode("{\"severity\":\"notice\",\"facility\":\"user\",\"protocol\":\"RFC3164\","
                 "\"hostname\":\"74794bfb6795\",\"appname\":\"root\",\"procid\":\"8539\","
                 "\"timestamp\":1609860783000000000,\"msg\":\"i am foobar\"}",
                 "<13>Jan  5 15:33:03 74794bfb6795 root[8539]: i am foobar");
}

static void test_roundtrip(void **state) {
    cf_fix f;
    (void)state;
    const char *in =
        "<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 "
        "[exampleSDID@32473 iut=\"3\" eventSource=\"Application\" eventID=\"1011\"]"
        "[examplePriority@32473 class=\"high\"] BOMAn application event log entry...";
    cf_start(&f, "syslog", NULL);
    const char *first = dec_json(&f, in);
    assert_int_equal(cf_encode(&f), TB_OK);
    f.b.events[0].flags = TB_EF_RAW;
    assert_int_equal(cf_decode(&f), TB_OK);
    assert_string_equal(cf_text(&f, &f.b.events[0].data), first);
    cf_stop(&f);
}

static void test_errors(void **state) {
    cf_fix f;
    (void)state;
    cf_start(&f, "syslog", NULL);
    cf_begin(&f);
    cf_raw(&f, "<13>ab\xff", 7);
    assert_int_equal(cf_decode(&f), TB_OK);
    cf_assert_failed(&f, 0, "syslog codec: invalid UTF-8 at byte 6");
    cf_begin(&f);
    cf_value(&f, "{\"severity\":\"notice\"}");
    cf_value(&f, "{\"facility\":\"user\"}");
    cf_value(&f, "{\"facility\":\"nope\",\"severity\":\"notice\"}");
    cf_value(&f, "{\"facility\":\"user\",\"severity\":\"loud\"}");
    cf_value(&f, "{\"protocol\":\"RFC5424\"}");
    cf_value(&f, "{\"protocol_version\":1}");
    cf_value(&f, "{\"protocol\":\"X\"}");
    cf_value(&f, "{\"facility\":\"user\",\"severity\":\"notice\",\"structured_data\":[]}");
    cf_value(&f, "{\"facility\":\"user\",\"severity\":\"notice\",\"structured_data\":{\"a\":1}}");
    cf_value(&f, "{\"facility\":\"user\",\"severity\":\"notice\",\"structured_data\":{\"a\":[1]}}");
    assert_int_equal(cf_encode(&f), TB_OK);
    cf_assert_failed(&f, 0, "syslog codec: facility missing");
    cf_assert_failed(&f, 1, "syslog codec: severity missing");
    cf_assert_failed(&f, 2, "syslog codec: invalid facility");
    cf_assert_failed(&f, 3, "syslog codec: invalid severity");
    cf_assert_failed(&f, 4, "syslog codec: Missing protocol version");
    cf_assert_failed(&f, 5, "syslog codec: Missing protocol type");
    cf_assert_failed(&f, 6, "syslog codec: Invalid protocol type");
    cf_assert_failed(&f, 7, "syslog codec: Invalid structured data: structured data not an object");
    cf_assert_failed(&f, 8, "syslog codec: Invalid structured data: params not an array of objects");
    cf_assert_failed(&f, 9, "syslog codec: Invalid structured data: param's key value pair not an object");
    cf_stop(&f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc5424), cmocka_unit_test(test_rfc3164),
        cmocka_unit_test(test_encode),  cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, cf_group_setup, cf_group_teardown);
}
