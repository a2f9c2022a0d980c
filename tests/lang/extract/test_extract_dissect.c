/* test_extract_dissect.c - the dissect extractor (src/lang/extract/dissect.c): the table
 * and examples of Tremor's docs, the dissect crate's tests, and its pattern errors. */
#include "extract_test.h"

static void yes(const char *pattern, const char *input, const char *expected) {
    xt_match("dissect", pattern, input, expected);
}
static void no(const char *pattern, const char *input) { xt_no_match("dissect", pattern, input); }

/* The rows of the docs' table (with their typos fixed: `% {` is `%{`). */
static void test_docs_table(void **state) {
    (void)state;
    yes("%{name}", "John", "{\"name\": \"John\"}");
    yes("%{+name} %{+name}", "John Doe", "{\"name\": \"John Doe\"}");
    yes("%{?name}, %{&name}", "John Doe, 22", "{\"John Doe\": \"22\"}");
    yes("%{name}, %{age}", ", 22", "{\"name\": \"\", \"age\": \"22\"}");
    yes("%{?first_name} %{last_name}", "John Doe", "{\"last_name\": \"Doe\"}");
    yes("%{name}, %{age:int}", "John Doe, 22", "{\"name\": \"John Doe\", \"age\": 22}");
    /* the padding row as the docs write it is refused by Tremor's code: the padding is
     * followed by a delimiter that starts with it; without that space it works */
    xt_error("dissect", "%{name} %{_} %{age}",
             "dissect: padding followed by a delimiter that starts with the padding at offset 8");
    yes("%{name} %{_}%{age}", "John   22", "{\"name\": \"John\", \"age\": \"22\"}");
}

/* The crate's documentation examples. */
static void test_crate_doc_examples(void **state) {
    (void)state;
    yes("%{a} %{b}", "John Doe", "{\"a\": \"John\", \"b\": \"Doe\"}");
    yes("%{name}, %{age}", "John Doe, 22", "{\"name\": \"John Doe\", \"age\": \"22\"}");
    yes("%{+name} %{+name}, %{age}", "John Doe, 22", "{\"name\": \"John Doe\", \"age\": \"22\"}");
    yes("%{?first_name} %{last_name}, %{age}", "John Doe, 22", "{\"last_name\": \"Doe\", \"age\": \"22\"}");
    yes("%{name}, %{_}%{age}", "John Doe,                22", "{\"name\": \"John Doe\", \"age\": \"22\"}");
    yes("%{name}, %{_(-)}%{age}", "John Doe, -----------------------22", "{\"name\": \"John Doe\", \"age\": \"22\"}");
}

/* The docs' first example; the trailing space the docs put before the closing bar would be
 * a delimiter the input lacks (whether the bars' content is trimmed is the lexer's call). */
static void test_docs_url_example(void **state) {
    (void)state;
    yes("%{protocol}://%{host}.%{.tld}", "http://example.com/",
        "{\"protocol\": \"http\", \"host\": \"example\", \".tld\": \"com/\"}");
    no("%{protocol}://%{host}.%{.tld} ", "http://example.com/");
}

/* The docs' second example does not hold with Tremor's dissect code either: the field
 * before a padding ends at the padding's first occurrence, the '-' inside the date. */
static void test_docs_padding_example(void **state) {
    (void)state;
    no("%{date}%{_(-)} %{?priority} %{&priority} %{+snot} %{+snot}",
       "2019-04-20------------------- high 3 foo bar");
    /* with the padding where it can work; note that the appended fields then join with
     * the last padding seen, "-", not with a space: Tremor's rule */
    yes("%{date} %{_(-)} %{?priority} %{&priority} %{+snot} %{+snot}",
        "2019-04-20 ------------------- high 3 foo bar",
        "{\"date\": \"2019-04-20\", \"high\": \"3\", \"snot\": \"foo-bar\"}");
}

/* The crate's dissect_all_edgecases. */
static void test_crate_edge_cases(void **state) {
    (void)state;
    yes("%{name}}%{age}", "John}22", "{\"name\": \"John\", \"age\": \"22\"}");
    yes("%{name}%%{age}", "John%22", "{\"name\": \"John\", \"age\": \"22\"}");
    no("%{name}%%{age}", "John}22");
    yes(".%{name}", ".John", "{\"name\": \"John\"}");
    no(".%{name}", "John");
    yes("foo %{name}", "foo John", "{\"name\": \"John\"}");
    yes("foo %{name} bar", "foo John bar", "{\"name\": \"John\"}");
    yes("%{name} bar", "John bar", "{\"name\": \"John\"}");
    yes("%{name}bar", "Johnbar", "{\"name\": \"John\"}");
    yes("name%{bar}", "nameJohn", "{\"bar\": \"John\"}");
    yes("%{name} %{age} %{country}", "John 22 Germany", "{\"name\": \"John\", \"age\": \"22\", \"country\": \"Germany\"}");
    yes("%{name} %{age}-%{country}", "John 22-Germany", "{\"name\": \"John\", \"age\": \"22\", \"country\": \"Germany\"}");
    yes("this is a %{name} case", "this is a John case", "{\"name\": \"John\"}");
    yes("this is a %{what} case named %{name}", "this is a test case named John",
        "{\"what\": \"test\", \"name\": \"John\"}");
    yes("this is a %{what}%{_}case named %{name}", "this is a test  case named John",
        "{\"what\": \"test\", \"name\": \"John\"}");
    yes("this is a %{arr} %{+arr}", "this is a test case", "{\"arr\": \"test case\"}");
    yes("%{name}%{_}%{_(|)}%{age}", "John 22", "{\"name\": \"John\", \"age\": \"22\"}");
    yes("%{name} cake", "John cake", "{\"name\": \"John\"}");
    no("%{name} cake", "John");
    no("%{name}%{_}%{_(|)}%{age}", "John22");
    yes("%{a}%{_}%{b}", "this    works", "{\"a\": \"this\", \"b\": \"works\"}");
    yes("%{a}%{_}", "this   ", "{\"a\": \"this\"}");
    yes("%{a}%{_}", "this", "{\"a\": \"this\"}");
}

/* The crate's other tests. */
static void test_crate_cases(void **state) {
    (void)state;
    no("%{syslog_timestamp} %{wf_host} %{syslog_program}: %{syslog_message}%{_}",
       "2019-04-26 tremor-host tremor: dissect is working fine");
    yes("%{name}%{_}|%{age}", "John|22", "{\"name\": \"John\", \"age\": \"22\"}");
    yes("this is a %{what}%{_( case)} named %{name}", "this is a test case named cake",
        "{\"what\": \"test\", \"name\": \"cake\"}");
    yes("this is a %{?what} case named %{name}", "this is a test case named cake", "{\"name\": \"cake\"}");
    yes("this is a %{?name} case named %{&name}", "this is a test case named cake", "{\"test\": \"cake\"}");
    yes("this is a %{?name} %{what} named %{&name}", "this is a test case named cake",
        "{\"what\": \"case\", \"test\": \"cake\"}");
    yes("%{?name}: %{&name:int}", "key: 42", "{\"key\": 42}");
    yes("this is a %{+arr} case named %{+arr}", "this is a test case named cake", "{\"arr\": \"test cake\"}");
    yes("%{_}this%{_}%{_(-)}works", "this     -----works", "{}");
    yes("|%{n}%{_}|", "|Jim |", "{\"n\": \"Jim\"}");
    yes("|%{n}%{_}|", "|John|", "{\"n\": \"John\"}");
    yes("%{_}%{b}", "     works", "{\"b\": \"works\"}");
    yes("%{a}%{_}", "this     ", "{\"a\": \"this\"}");
    yes("%{}, [%{log_timestamp} #%{pid}] %{log_level} -- %{}: %{message}", "foo, [12345 #12] high -- 1: log failed",
        "{\"log_timestamp\": \"12345\", \"pid\": \"12\", \"log_level\": \"high\", \"message\": \"log failed\"}");
    yes("%{}>%{+syslog_timestamp} %{+syslog_timestamp} %{+syslog_timestamp} %{syslog_hostname} "
        "%{syslog_program}: %{full_message}",
        "foo>12345 67890 12345 host program: log failed",
        "{\"syslog_timestamp\": \"12345 67890 12345\", \"syslog_hostname\": \"host\", "
        "\"syslog_program\": \"program\", \"full_message\": \"log failed\"}");
    yes("%{syslog_timestamp} %{host}%{_}[%{log_timestamp}][%{log_level}%{_}][%{logger}%{_}] %{message}",
        "12345 foo [12345 67890][high ][dummy ] too many brackets here",
        "{\"syslog_timestamp\": \"12345\", \"host\": \"foo\", \"log_timestamp\": \"12345 67890\", "
        "\"log_level\": \"high\", \"logger\": \"dummy\", \"message\": \"too many brackets here\"}");
    yes("%{syslog_timestamp} %{wf_host} %{}: %{log_timestamp} %{+log_timestamp} %{job_name}\\n",
        "12345 host foo: 12345 67890 some_job\n",
        "{\"syslog_timestamp\": \"12345\", \"wf_host\": \"host\", \"log_timestamp\": \"12345 67890\", "
        "\"job_name\": \"some_job\"}");
}

/* Tremor's unit test and is_exclusive_to cases. */
static void test_tremor_cases(void **state) {
    (void)state;
    yes("%{name}", "John", "{\"name\": \"John\"}");
    yes("snot%{name}", "snot", "{\"name\": \"\"}");
    yes("snot%{name}", "snot badger", "{\"name\": \" badger\"}");
    no("snot%{name}", "badger snot");
}

/* Appends join with the last padding (a space before any); a later plain field replaces. */
static void test_append_and_replace(void **state) {
    (void)state;
    yes("%{+a}-%{+a}", "x-y", "{\"a\": \"x y\"}");
    yes("%{+a}%{_(/)}%{+a}", "x//y", "{\"a\": \"x/y\"}");
    yes("%{a} %{a}", "x y", "{\"a\": \"y\"}");
    yes("%{a:int} %{+a}", "1 y", "{}"); /* Tremor drops a non-string it would append to */
}

static void test_types(void **state) {
    (void)state;
    yes("%{a:int} %{b:float} %{c:string}", "-12 2.5 x", "{\"a\": -12, \"b\": 2.5, \"c\": \"x\"}");
    yes("%{a:int}", "+7", "{\"a\": 7}");
    yes("%{a:int}", "-9223372036854775808", "{\"a\": -9223372036854775808}");
    no("%{a:int}", "9223372036854775808");
    no("%{a:int}", "1.0");
    no("%{a:int}", " 1");
    no("%{a:int}", "");
    yes("%{a:float}", "1e3", "{\"a\": 1000.0}");
    yes("%{a:float}", ".5", "{\"a\": 0.5}");
    yes("%{a:float}", "5.", "{\"a\": 5.0}");
    yes("%{a:float}", "7", "{\"a\": 7.0}");
    no("%{a:float}", "0x10");
    no("%{a:float}", "1e");
    no("%{a:float}", "abc");
    no("%{?k} %{&k:int}", "k x");
    no("%{?k} %{&k}", " x"); /* an empty key is refused */
    no("%{&k}", "x");        /* nothing was skipped under that name */
}

static void test_errors(void **state) {
    (void)state;
    xt_error("dissect", "%{test", "dissect: unterminated field at offset 0");
    xt_error("dissect", "%{test %{case}", "dissect: unterminated field at offset 0");
    xt_error("dissect", "this is %{test case", "dissect: unterminated field at offset 8");
    xt_error("dissect", "%{test}%{pattern}", "dissect: a delimiter is needed between two fields at offset 7");
    xt_error("dissect", "%{a} %{b:wakanda}",
             "dissect: invalid type 'wakanda' (expected int, float or string) at offset 5");
    xt_error("dissect", "%{a:}", "dissect: invalid type '' (expected int, float or string) at offset 0");
    xt_error("dissect", "%{a} %{_x}", "dissect: invalid padding at offset 5");
    xt_error("dissect", "%{a}%{_}  %{b}",
             "dissect: padding followed by a delimiter that starts with the padding at offset 4");
    xt_error("dissect", "%{a}%{_()}", "dissect: padding followed by a delimiter that starts with the padding at offset 4");
    xt_error("dissect", "%{a}-\\q%{b}", "dissect: invalid escape sequence '\\q' at offset 5");
    xt_error("dissect", "%{a}\\", "dissect: unterminated escape at offset 4");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_docs_table),
        cmocka_unit_test(test_crate_doc_examples),
        cmocka_unit_test(test_docs_url_example),
        cmocka_unit_test(test_docs_padding_example),
        cmocka_unit_test(test_crate_edge_cases),
        cmocka_unit_test(test_crate_cases),
        cmocka_unit_test(test_tremor_cases),
        cmocka_unit_test(test_append_and_replace),
        cmocka_unit_test(test_types),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests_name("extract_dissect", tests, NULL, NULL);
}
