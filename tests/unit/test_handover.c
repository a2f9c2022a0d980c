/* test_handover.c - descriptors handed from an old connector instance to its new one
 * (src/host/handover.c): given only inside an open box, taken once, and what no one took is
 * closed with the box, so a new build without restore leaks nothing. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#include <cmocka.h>

#include "host/handover.h"

static bool is_open(int fd) { return fcntl(fd, F_GETFD) != -1 || errno != EBADF; }

static void test_outside_a_box(void **state) {
    (void)state;
    int p[2];
    assert_int_equal(pipe(p), 0);
    assert_int_equal(tbr_handover_give_fd(p[0]), 0); /* no box: the caller keeps it */
    assert_int_equal(tbr_handover_take_fd(1), -1);
    assert_true(is_open(p[0]));
    close(p[0]);
    close(p[1]);
}

static void test_taken_once_rest_closed(void **state) {
    (void)state;
    int a[2], b[2];
    assert_int_equal(pipe(a), 0);
    assert_int_equal(pipe(b), 0);
    tbr_handover box;
    tbr_handover_open(&box);
    uint64_t ha = tbr_handover_give_fd(a[0]), hb = tbr_handover_give_fd(b[0]);
    assert_true(ha != 0 && hb != 0 && ha != hb);
    assert_int_equal(tbr_handover_take_fd(ha), a[0]);
    assert_int_equal(tbr_handover_take_fd(ha), -1);      /* once */
    assert_int_equal(tbr_handover_take_fd(hb + 1), -1);  /* never given */
    tbr_handover_close(&box);
    assert_true(is_open(a[0]));  /* taken: the new instance's */
    assert_false(is_open(b[0])); /* not taken: closed with the box */
    assert_int_equal(tbr_handover_give_fd(a[1]), 0); /* the box is closed */
    close(a[0]);
    close(a[1]);
    close(b[1]);
}

static void test_handles_of_another_box(void **state) {
    (void)state;
    int p[2];
    assert_int_equal(pipe(p), 0);
    tbr_handover first;
    tbr_handover_open(&first);
    uint64_t h = tbr_handover_give_fd(p[0]);
    tbr_handover_close(&first); /* p[0] closed */
    tbr_handover second;
    tbr_handover_open(&second);
    assert_int_equal(tbr_handover_take_fd(h), -1); /* a stale handle finds nothing */
    tbr_handover_close(&second);
    assert_false(is_open(p[0]));
    close(p[1]);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_outside_a_box),
        cmocka_unit_test(test_taken_once_rest_closed),
        cmocka_unit_test(test_handles_of_another_box),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
