/* test_extract_cidr.c - the cidr extractor (src/lang/extract/cidr.c): Tremor's unit test
 * and test scripts, ranges in IPv4 and IPv6, and its pattern errors. */
#include "extract_test.h"

#define ONES4 "[255, 255, 255, 255]"
#define ONES6 "[65535, 65535, 65535, 65535, 65535, 65535, 65535, 65535]"

/* Tremor's unit test, without ranges. */
static void test_tremor_any_address(void **state) {
    (void)state;
    xt_match("cidr", "", "192.168.1.0", "{\"prefix\": [192, 168, 1, 0], \"mask\": " ONES4 "}");
    xt_match("cidr", "", "192.168.1.0/24", "{\"prefix\": [192, 168, 1, 0], \"mask\": [255, 255, 255, 0]}");
    xt_match("cidr", "", "2001:4860:4860:0000:0000:0000:0000:8888",
             "{\"prefix\": [8193, 18528, 18528, 0, 0, 0, 0, 34952], \"mask\": " ONES6 "}");
}

/* Tremor's unit test and test scripts (cidr, cidr_multi), with ranges. */
static void test_tremor_ranges(void **state) {
    (void)state;
    tbr_extractor *x = xt_compile("cidr", "10.22.0.0/24, 10.22.1.0/24");
    xt_run_match(x, "10.22.0.254", "{\"prefix\": [10, 22, 0, 254], \"mask\": " ONES4 "}");
    xt_run_match(x, "10.22.1.7", "{\"prefix\": [10, 22, 1, 7], \"mask\": " ONES4 "}");
    xt_run_no_match(x, "99.98.97.96");
    xt_run_no_match(x, "10.22.2.1");
    tbr_extractor_free(x);
    xt_match("cidr", "", "192.168.1.1", "{\"prefix\": [192, 168, 1, 1], \"mask\": " ONES4 "}");
    xt_match("cidr", "10.22.0.0/24", "10.22.0.254", "{\"prefix\": [10, 22, 0, 254], \"mask\": " ONES4 "}");
    xt_no_match("cidr", "10.41.0.0/24, 11.41.0.0/24", "10.22.0.254");
}

/* The prefix is the network's first address; the mask follows the length. */
static void test_prefix_lengths(void **state) {
    (void)state;
    xt_match("cidr", "", "192.168.1.77/24", "{\"prefix\": [192, 168, 1, 0], \"mask\": [255, 255, 255, 0]}");
    xt_match("cidr", "", "10.1.2.3/0", "{\"prefix\": [0, 0, 0, 0], \"mask\": [0, 0, 0, 0]}");
    xt_match("cidr", "", "172.16.5.4/12", "{\"prefix\": [172, 16, 0, 0], \"mask\": [255, 240, 0, 0]}");
    xt_match("cidr", "", "2001:db8::1/32",
             "{\"prefix\": [8193, 3512, 0, 0, 0, 0, 0, 0], \"mask\": [65535, 65535, 0, 0, 0, 0, 0, 0]}");
    xt_match("cidr", "", "::1", "{\"prefix\": [0, 0, 0, 0, 0, 0, 0, 1], \"mask\": " ONES6 "}");
    xt_match("cidr", "", "::ffff:1.2.3.4",
             "{\"prefix\": [0, 0, 0, 0, 0, 65535, 258, 772], \"mask\": " ONES6 "}");
}

/* What is not an address does not match. */
static void test_not_addresses(void **state) {
    (void)state;
    static const char *const bad[] = {
        "snot", "1", "123", "1.2.3", "1.2.3.4.5", "256.1.1.1", "01.2.3.4", " 1.2.3.4", "1.2.3.4 ",
        "1.2.3.4/", "1.2.3.4/33", "1.2.3.4/8/8", "1.2.3.4/-1", "::1/129", "fe80::1%eth0", "", "1..2.3",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) xt_no_match("cidr", "", bad[i]);
    /* with ranges the input must be a plain address */
    xt_no_match("cidr", "10.0.0.0/8", "10.1.0.0/16");
}

/* Tremor's short forms for a range: the last part is the low octet. */
static void test_short_range_forms(void **state) {
    (void)state;
    xt_match("cidr", "0/24", "0.0.0.9", "{\"prefix\": [0, 0, 0, 9], \"mask\": " ONES4 "}");
    xt_match("cidr", "1.2", "1.0.0.2", "{\"prefix\": [1, 0, 0, 2], \"mask\": " ONES4 "}");
    xt_no_match("cidr", "1.2", "1.2.0.0");
    xt_match("cidr", "1.2.3", "1.2.0.3", "{\"prefix\": [1, 2, 0, 3], \"mask\": " ONES4 "}");
    xt_match("cidr", "1.0/16", "1.0.200.3", "{\"prefix\": [1, 0, 200, 3], \"mask\": " ONES4 "}");
    /* host bits in a range are cleared */
    xt_match("cidr", "10.22.0.99/24", "10.22.0.1", "{\"prefix\": [10, 22, 0, 1], \"mask\": " ONES4 "}");
}

/* IPv6 ranges (Tremor refuses them; here they work): each family against its own. */
static void test_ipv6_ranges(void **state) {
    (void)state;
    tbr_extractor *x = xt_compile("cidr", "2001:db8::/32, 10.0.0.0/8");
    xt_run_match(x, "2001:db8::1", "{\"prefix\": [8193, 3512, 0, 0, 0, 0, 0, 1], \"mask\": " ONES6 "}");
    xt_run_match(x, "10.9.8.7", "{\"prefix\": [10, 9, 8, 7], \"mask\": " ONES4 "}");
    xt_run_no_match(x, "2001:db9::1");
    xt_run_no_match(x, "::ffff:10.9.8.7");
    tbr_extractor_free(x);
    xt_no_match("cidr", "::/0", "1.2.3.4");
    xt_match("cidr", "::/0", "::", "{\"prefix\": [0, 0, 0, 0, 0, 0, 0, 0], \"mask\": " ONES6 "}");
}

static void test_errors(void **state) {
    (void)state;
    xt_error("cidr", "snot", "cidr: could not parse CIDR 'snot' at offset 0");
    xt_error("cidr", "10.0.0.0/33", "cidr: could not parse CIDR '10.0.0.0/33' at offset 0");
    xt_error("cidr", "10.0.0.0/24,  nope ", "cidr: could not parse CIDR 'nope' at offset 14");
    xt_error("cidr", "10.0.0.0/24,", "cidr: could not parse CIDR '' at offset 12");
    xt_error("cidr", " ", "cidr: could not parse CIDR '' at offset 1");
    xt_error("cidr", "1.2.", "cidr: could not parse CIDR '1.2.' at offset 0");
    xt_error("cidr", "256.0.0.0", "cidr: could not parse CIDR '256.0.0.0' at offset 0");
    xt_error("cidr", "2001:db8::/129", "cidr: could not parse CIDR '2001:db8::/129' at offset 0");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tremor_any_address),
        cmocka_unit_test(test_tremor_ranges),
        cmocka_unit_test(test_prefix_lengths),
        cmocka_unit_test(test_not_addresses),
        cmocka_unit_test(test_short_range_forms),
        cmocka_unit_test(test_ipv6_ranges),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests_name("extract_cidr", tests, NULL, NULL);
}
