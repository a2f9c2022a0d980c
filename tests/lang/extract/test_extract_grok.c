/* test_extract_grok.c - the grok extractor (src/lang/extract/grok.c, grok_patterns.c):
 * Tremor's test script and unit tests, the built-in patterns, inline definitions, and
 * errors with offsets into the pattern as written. */
#include "extract_test.h"
#include "lang/extract/kinds.h"

/* Tremor's test script (and docs example). */
static void test_tremor_script(void **state) {
    (void)state;
    xt_match("grok", "%{IP:client} %{WORD:method} %{URIPATHPARAM:request} %{NUMBER:bytes} %{NUMBER:duration}",
             "55.3.244.1 GET /index.html 15824 0.043",
             "{\"duration\": \"0.043\", \"bytes\": \"15824\", \"client\": \"55.3.244.1\", "
             "\"request\": \"/index.html\", \"method\": \"GET\"}");
}

#define SYSLOG_PATTERN                                                                                      \
    "^<%%{POSINT:syslog_pri}>(?:(?<syslog_version>\\d{1,3}) )?(?:%{SYSLOGTIMESTAMP:syslog_timestamp0}|"     \
    "%{TIMESTAMP_ISO8601:syslog_timestamp1}) %{SYSLOGHOST:syslog_hostname}  ?(?:%{TIMESTAMP_ISO8601:"       \
    "syslog_ingest_timestamp} )?(%{WORD:wf_pod} %{WORD:wf_datacenter} )?%{GREEDYDATA:syslog_message}"

/* Tremor's unit test: plain named groups are fields, unmatched alternatives are absent. */
static void test_tremor_syslog(void **state) {
    (void)state;
    xt_match("grok", SYSLOG_PATTERN, "<%1>123 Jul   7 10:51:24 hostname 2019-04-01T09:59:19+0010 pod dc foo bar baz",
             "{\"syslog_ingest_timestamp\": \"2019-04-01T09:59:19+0010\", \"wf_datacenter\": \"dc\", "
             "\"syslog_hostname\": \"hostname\", \"syslog_pri\": \"1\", \"wf_pod\": \"pod\", "
             "\"syslog_message\": \"foo bar baz\", \"syslog_version\": \"123\", "
             "\"syslog_timestamp0\": \"Jul   7 10:51:24\"}");
}

/* The grok module's tests in tremor-script (their expectations from before unmatched
 * groups were dropped, minus those). */
static void test_tremor_grok_module(void **state) {
    (void)state;
    xt_match("grok", "%{USERNAME}", "foobar", "{}");
    xt_match("grok", "%{USERNAME:username}", "foobar", "{\"username\": \"foobar\"}");
    xt_match("grok",
             "^<%%{POSINT:syslog_pri}> %{TIMESTAMP_ISO8601:syslog_timestamp} (?<esx_uid>[-0-9a-f]+) "
             "%{SYSLOGHOST:syslog_hostname} (?:(?<syslog_program>[\\x21-\\x39\\x3b-\\x5a\\x5c\\x5e-\\x7e]+)"
             "(?:\\[%{POSINT:syslog_pid}\\])?:?)? (?:%{TIMESTAMP_ISO8601:syslog_ingest_timestamp} )?"
             "(%{WORD:wf_pod} %{WORD:wf_datacenter} )?%{GREEDYDATA:syslog_message}",
             "<%1> 2019-04-01T09:59:19+0000 deadbeaf01234 example program_name[1234] 2019-04-01T09:59:19+0010 "
             "pod dc foo bar baz",
             "{\"syslog_program\": \"program_name\", \"esx_uid\": \"deadbeaf01234\", \"wf_datacenter\": \"dc\", "
             "\"syslog_timestamp\": \"2019-04-01T09:59:19+0000\", \"wf_pod\": \"pod\", "
             "\"syslog_message\": \"foo bar baz\", \"syslog_hostname\": \"example\", \"syslog_pid\": \"1234\", "
             "\"syslog_ingest_timestamp\": \"2019-04-01T09:59:19+0010\", \"syslog_pri\": \"1\"}");
    xt_match("grok",
             "^<%%{POSINT:syslog_pri}>(?:(?<syslog_version>\\d{1,3}))? ?(?:%{TIMESTAMP_ISO8601:"
             "syslog_ingest_timestamp} )?(%{WORD:wf_pod} %{WORD:wf_datacenter} )?%{GREEDYDATA:syslog_message}",
             "<%1> 2019-04-01T09:59:19+0010 pod dc foo bar baz",
             "{\"wf_pod\": \"pod\", \"syslog_pri\": \"1\", \"wf_datacenter\": \"dc\", "
             "\"syslog_message\": \"foo bar baz\", \"syslog_ingest_timestamp\": \"2019-04-01T09:59:19+0010\"}");
    /* nested aliases of the built-ins are fields too (SYSLOGPROG's program and pid) */
    xt_match("grok", "^%{SYSLOGHOST:syslog_hostname} ?(%{SYSLOGPROG:syslog_program}:)?%{GREEDYDATA:syslog_message}",
             "hostname.com program_name[1234]: bar baz",
             "{\"syslog_hostname\": \"hostname.com\", \"syslog_program\": \"program_name[1234]\", "
             "\"program\": \"program_name\", \"pid\": \"1234\", \"syslog_message\": \" bar baz\"}");
}

/* Tremor's is_exclusive_to cases: the pattern is searched, not anchored. */
static void test_search(void **state) {
    (void)state;
    tbr_extractor *x = xt_compile("grok", "%{NUMBER:duration}");
    xt_run_no_match(x, "snot");
    xt_run_match(x, "snot 123 badger", "{\"duration\": \"123\"}");
    xt_run_match(x, "123", "{\"duration\": \"123\"}");
    tbr_extractor_free(x);
}

/* A field named twice: the last one that took part gives the value (Tremor would also add
 * the earlier one under a generated name like "name0"). */
static void test_repeated_field(void **state) {
    (void)state;
    xt_match("grok", "%{USERNAME:snot} %{USERNAME:snot}", "foobar badger", "{\"snot\": \"badger\"}");
    xt_match("grok", "(?:%{SYSLOGTIMESTAMP:ts}|%{TIMESTAMP_ISO8601:ts}) %{GREEDYDATA:msg}",
             "Jul   7 10:51:24 hello", "{\"ts\": \"Jul   7 10:51:24\", \"msg\": \"hello\"}");
    xt_match("grok", "(?:%{SYSLOGTIMESTAMP:ts}|%{TIMESTAMP_ISO8601:ts}) %{GREEDYDATA:msg}",
             "2019-04-01T09:59:19Z hello", "{\"ts\": \"2019-04-01T09:59:19Z\", \"msg\": \"hello\"}");
}

/* The field name is everything after the colon: no type conversion, as in Tremor. */
static void test_field_names(void **state) {
    (void)state;
    xt_match("grok", "%{NUMBER:n:int}", "42", "{\"n:int\": \"42\"}");
    xt_match("grok", "%{WORD:http.method} %{WORD:user name}", "GET bob", "{\"http.method\": \"GET\", \"user name\": \"bob\"}");
}

static void test_inline_definitions(void **state) {
    (void)state;
    xt_match("grok", "%{DIGITS:num=\\d+}-%{DIGITS:again}", "12-345", "{\"num\": \"12\", \"again\": \"345\"}");
    xt_match("grok", "%{HEX=[0-9a-f]+} %{HEX:h}", "ff 0a", "{\"h\": \"0a\"}");
    /* an inline definition overrides a built-in, also inside other built-ins */
    xt_match("grok", "%{HOUR=0[0-9]}x %{TIME:t}", "09x 07:30:00", "{\"t\": \"07:30:00\"}");
    xt_no_match("grok", "%{HOUR=0[0-9]}x %{TIME:t}", "09x 17:30:00");
}

/* Text that does not form a token is regex text. */
static void test_not_tokens(void **state) {
    (void)state;
    xt_match("grok", "x%{y", "x%{y", "{}");
    xt_match("grok", "%{:a}", "%{:a}", "{}");
    xt_match("grok", "%{WORD:a}%", "abc%", "{\"a\": \"abc\"}");
    xt_match("grok", "^%{WORD:w}$", "one", "{\"w\": \"one\"}");
    xt_match("grok", "^$", "", "{}");
    xt_match("grok", "", "anything", "{}");
}

/* Like Oniguruma, ^ and $ work at line boundaries. */
static void test_line_anchors(void **state) {
    (void)state;
    xt_match("grok", "^%{WORD:w}$", "first line\nsecond\nthird one", "{\"w\": \"second\"}");
}

static void test_common_patterns(void **state) {
    (void)state;
    xt_match("grok", "%{COMMONAPACHELOG}",
             "127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] \"GET /apache_pb.gif HTTP/1.0\" 200 2326",
             "{\"clientip\": \"127.0.0.1\", \"ident\": \"-\", \"auth\": \"frank\", "
             "\"timestamp\": \"10/Oct/2000:13:55:36 -0700\", \"verb\": \"GET\", \"request\": \"/apache_pb.gif\", "
             "\"httpversion\": \"1.0\", \"response\": \"200\", \"bytes\": \"2326\"}");
    xt_match("grok", "%{COMBINEDAPACHELOG}",
             "127.0.0.1 - - [10/Oct/2000:13:55:36 -0700] \"GET /a?b=c HTTP/1.1\" 404 - \"http://example.com/\" "
             "\"Mozilla/5.0 (X11)\"",
             "{\"clientip\": \"127.0.0.1\", \"ident\": \"-\", \"auth\": \"-\", "
             "\"timestamp\": \"10/Oct/2000:13:55:36 -0700\", \"verb\": \"GET\", \"request\": \"/a?b=c\", "
             "\"httpversion\": \"1.1\", \"response\": \"404\", \"referrer\": \"\\\"http://example.com/\\\"\", "
             "\"agent\": \"\\\"Mozilla/5.0 (X11)\\\"\"}");
    xt_match("grok", "%{SYSLOGBASE} %{GREEDYDATA:message}",
             "Mar  3 12:01:02 web-1 sshd[4242]: Accepted publickey for bob",
             "{\"timestamp\": \"Mar  3 12:01:02\", \"logsource\": \"web-1\", \"program\": \"sshd\", "
             "\"pid\": \"4242\", \"message\": \"Accepted publickey for bob\"}");
    xt_match("grok", "%{SYSLOGLINE}", "2019-04-01T09:59:19Z host cron: ran",
             "{\"timestamp8601\": \"2019-04-01T09:59:19Z\", \"logsource\": \"host\", \"program\": \"cron\", "
             "\"message\": \"ran\"}");
    xt_match("grok", "\\[%{LOGLEVEL:level}\\] %{EMAILADDRESS:mail} %{UUID:id}",
             "[WARN] john.doe+x@mail.example.com 123e4567-e89b-12d3-a456-426614174000",
             "{\"level\": \"WARN\", \"mail\": \"john.doe+x@mail.example.com\", "
             "\"id\": \"123e4567-e89b-12d3-a456-426614174000\"}");
    xt_match("grok", "%{QS:q} %{INT:i} %{BASE16NUM:h} %{MAC:m}", "\"say \\\"hi\\\"\" -17 0x1F 00:1a:2B:3c:4D:5e",
             "{\"q\": \"\\\"say \\\\\\\"hi\\\\\\\"\\\"\", \"i\": \"-17\", \"h\": \"0x1F\", \"m\": \"00:1a:2B:3c:4D:5e\"}");
    xt_match("grok", "%{URI:u}", "https://user@example.com:8443/p/a/t/h?query=1&x=y",
             "{\"u\": \"https://user@example.com:8443/p/a/t/h?query=1&x=y\", \"port\": \"8443\"}");
    xt_match("grok", "%{HOSTPORT:hp} %{PATH:p}", "db.local:5432 /var/log/x.log",
             "{\"hp\": \"db.local:5432\", \"p\": \"/var/log/x.log\"}");
    xt_match("grok", "%{DATESTAMP_RFC2822:d}", "Mon, 21 Jan 2019 10:00:00 +0100", "{\"d\": \"Mon, 21 Jan 2019 10:00:00 +0100\"}");
    xt_match("grok", "%{WORD:w}", "\xc3\xa9t\xc3\xa9 !", "{\"w\": \"\xc3\xa9t\xc3\xa9\"}");
}

static void test_ip_patterns(void **state) {
    (void)state;
    static const char *const v6[] = {
        "2001:db8::1", "::1", "::", "fe80::1%eth0", "2001:0db8:85a3:0000:0000:8a2e:0370:7334", "::ffff:192.0.2.128",
        "1::", "1:2:3:4:5:6:7::", "1:2:3:4:5:6::8",
    };
    tbr_extractor *x = xt_compile("grok", "^%{IPV6:ip}$");
    for (size_t i = 0; i < sizeof v6 / sizeof v6[0]; i++) {
        char want[128];
        snprintf(want, sizeof want, "{\"ip\": \"%s\"}", v6[i]);
        xt_run_match(x, v6[i], want);
    }
    xt_run_no_match(x, "1:2:3:4:5:6:7:8:9");
    xt_run_no_match(x, "12345::1");
    xt_run_no_match(x, "1.2.3.4");
    tbr_extractor_free(x);
    x = xt_compile("grok", "^%{IPV4:ip}$");
    xt_run_match(x, "255.255.255.255", "{\"ip\": \"255.255.255.255\"}");
    xt_run_match(x, "0.0.0.0", "{\"ip\": \"0.0.0.0\"}");
    xt_run_no_match(x, "256.1.1.1");
    xt_run_no_match(x, "1.2.3");
    tbr_extractor_free(x);
    xt_match("grok", "%{IP:a} %{IP:b}", "10.0.0.1 ::1", "{\"a\": \"10.0.0.1\", \"b\": \"::1\"}");
}

/* Every built-in pattern compiles, alone and with a field. */
static void test_all_builtins_compile(void **state) {
    (void)state;
    assert_true(tbr_grok_pattern_count() >= 60);
    for (size_t i = 0; i < tbr_grok_pattern_count(); i++) {
        const tbr_grok_pattern *p = tbr_grok_pattern_at(i);
        char pattern[128];
        snprintf(pattern, sizeof pattern, "%%{%s:field}", p->name);
        tbr_extractor_free(xt_compile("grok", pattern));
        assert_ptr_equal(tbr_grok_find(p->name, strlen(p->name)), p);
        if (i) assert_true(strcmp(tbr_grok_pattern_at(i - 1)->name, p->name) < 0); /* sorted */
    }
    assert_null(tbr_grok_find("NOPE", 4));
    assert_null(tbr_grok_find("WOR", 3));
    assert_null(tbr_grok_pattern_at(tbr_grok_pattern_count()));
}

static void test_errors(void **state) {
    (void)state;
    xt_error("grok", "%{NOPE:x}", "grok: unknown pattern 'NOPE' at offset 0");
    xt_error("grok", "%{2}", "grok: unknown pattern '2' at offset 0");
    xt_error("grok", "abc %{WORD:w} %{MISSING}", "grok: unknown pattern 'MISSING' at offset 14");
    /* regex errors point into the pattern as written ... */
    xt_error("grok", "%{WORD:w} (", "grok: missing closing parenthesis at offset 11");
    xt_error("grok", "%{WORD:w} x{2,1}", "grok: numbers out of order in {} quantifier at offset 15");
    /* ... or at the token whose expansion holds them */
    xt_error("grok", "ab %{BAD=(}", "grok: missing closing parenthesis at offset 3");
    xt_error("grok", "(?<n>a)(?<n>", "grok: missing closing parenthesis at offset 12");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tremor_script),
        cmocka_unit_test(test_tremor_syslog),
        cmocka_unit_test(test_tremor_grok_module),
        cmocka_unit_test(test_search),
        cmocka_unit_test(test_repeated_field),
        cmocka_unit_test(test_field_names),
        cmocka_unit_test(test_inline_definitions),
        cmocka_unit_test(test_not_tokens),
        cmocka_unit_test(test_line_anchors),
        cmocka_unit_test(test_common_patterns),
        cmocka_unit_test(test_ip_patterns),
        cmocka_unit_test(test_all_builtins_compile),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests_name("extract_grok", tests, NULL, NULL);
}
