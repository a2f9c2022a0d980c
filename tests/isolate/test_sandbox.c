/*
 * test_sandbox.c - the plugin host's sandbox (src/isolate/sandbox.c), applied in forked children
 * (it cannot be undone): each child confines itself to some grants, tries what a plugin might,
 * and exits with the number of outcomes that were not as they should be; the parent checks it is
 * 0. Reading and writing inside and outside the granted paths, sockets without a network grant,
 * TCP connects and listens outside the granted ports, fork and exec without a process grant
 * (threads still work), and a memory limit.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "isolate/sandbox.h"

static char dir[64], readable[128], writable[128], outside[128];
static int wrong; /* in the child: outcomes not as expected */

/* expect(WHAT, ok, want_ok): counts and says an outcome that is not what was wanted. */
static void expect(const char *what, bool ok, bool want_ok) {
    if (ok == want_ok) return;
    fprintf(stderr, "sandboxed child: %s: %s (errno %s)\n", what, ok ? "allowed" : "refused", strerror(errno));
    wrong++;
}

/* Runs body in a child confined to g; the child's count of wrong outcomes, -1 if it died. */
static int in_sandbox(const tbr_sandbox_grants *g, void (*body)(void)) {
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char report[512], err[512];
        if (tbr_sandbox_apply(g, TBR_SANDBOX_REQUIRE, report, sizeof report, err, sizeof err) != 0) {
            fprintf(stderr, "sandbox refused: %s\n", err);
            _exit(100);
        }
        body();
        _exit(wrong > 99 ? 99 : wrong);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static bool can_open(const char *path, int flags) {
    int fd = open(path, flags | O_CLOEXEC, 0644);
    if (fd >= 0) close(fd);
    return fd >= 0;
}

static void files(void) {
    char path[256];
    snprintf(path, sizeof path, "%s/data.txt", readable);
    expect("read a granted file", can_open(path, O_RDONLY), true);
    expect("write into a read-only grant", can_open(path, O_WRONLY), false);
    expect("read what was not granted (/etc/passwd)", can_open("/etc/passwd", O_RDONLY), false);
    snprintf(path, sizeof path, "%s/new.txt", writable);
    expect("create in a writable grant", can_open(path, O_WRONLY | O_CREAT), true);
    expect("remove in a writable grant", unlink(path) == 0, true);
    snprintf(path, sizeof path, "%s/new.txt", outside);
    expect("create outside every grant", can_open(path, O_WRONLY | O_CREAT), false);
    expect("read the libraries (/usr/lib)", can_open("/usr/lib", O_RDONLY | O_DIRECTORY), true);
}

static void no_sockets(void) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    expect("a TCP socket without a network grant", s >= 0, false);
    s = socket(AF_UNIX, SOCK_STREAM, 0);
    expect("a Unix socket without a network grant", s >= 0, false);
}

static uint16_t granted_port, other_port;

static bool connect_to(uint16_t port) {
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = s >= 0 && connect(s, (struct sockaddr *)&a, sizeof a) == 0;
    if (s >= 0) close(s);
    return ok;
}

static void ports(void) {
    expect("connect to the granted port", connect_to(granted_port), true);
    expect("connect to another port", connect_to(other_port), false);
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    expect("listen on a port without a bind grant", bind(s, (struct sockaddr *)&a, sizeof a) == 0, false);
    close(s);
}

static void *thread_body(void *arg) { return arg; }

static void processes(void) {
    pid_t pid = fork();
    if (pid == 0) _exit(0);
    if (pid > 0) waitpid(pid, NULL, 0);
    expect("fork without a process grant", pid >= 0, false);
    char *const argv[] = {"/bin/true", NULL};
    errno = 0;
    execv("/bin/true", argv);
    expect("exec without a process grant", false, false);
    pthread_t t;
    bool started = pthread_create(&t, NULL, thread_body, NULL) == 0;
    if (started) pthread_join(t, NULL);
    expect("a thread (always allowed)", started, true);
}

static void memory(void) {
    void *big = malloc((size_t)512 << 20);
    expect("512 MiB under a 256 MiB limit", big != NULL, false);
    free(big);
    void *small = malloc((size_t)1 << 20);
    expect("1 MiB under a 256 MiB limit", small != NULL, true);
    free(small);
}

static int listener(uint16_t *port) {
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    socklen_t len = sizeof a;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(s, 8), 0);
    assert_int_equal(getsockname(s, (struct sockaddr *)&a, &len), 0);
    *port = ntohs(a.sin_port);
    return s;
}

static void test_files(void **state) {
    (void)state;
    if (tbr_sandbox_landlock_abi() < 1) skip(); /* say so: the kernel cannot confine files */
    const char *r[] = {readable}, *w[] = {writable};
    tbr_sandbox_grants g = {.read_paths = r, .nread = 1, .write_paths = w, .nwrite = 1, .net = true, .processes = true};
    assert_int_equal(in_sandbox(&g, files), 0);
}

static void test_no_network(void **state) {
    (void)state;
    tbr_sandbox_grants g = {.processes = true};
    assert_int_equal(in_sandbox(&g, no_sockets), 0);
}

static void test_ports(void **state) {
    (void)state;
    if (tbr_sandbox_landlock_abi() < 4) skip(); /* say so: the kernel cannot enforce ports */
    int a = listener(&granted_port), b = listener(&other_port);
    static const uint16_t none[1];
    uint16_t allowed[] = {granted_port};
    tbr_sandbox_grants g = {.net = true, .tcp_connect = allowed, .ntcp_connect = 1, .tcp_bind = none, .processes = true};
    assert_int_equal(in_sandbox(&g, ports), 0);
    close(a);
    close(b);
}

static void test_processes(void **state) {
    (void)state;
    tbr_sandbox_grants g = {.net = true};
    assert_int_equal(in_sandbox(&g, processes), 0);
}

/* An address-space limit cannot coexist with a sanitizer's shadow memory (terabytes reserved). */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define SANITIZED 1
#endif
#endif

static void test_memory(void **state) {
    (void)state;
#ifdef SANITIZED
    skip();
#endif
    tbr_sandbox_grants g = {.net = true, .processes = true, .memory_bytes = (uint64_t)256 << 20};
    assert_int_equal(in_sandbox(&g, memory), 0);
}

static void test_missing_grant(void **state) {
    (void)state;
    const char *r[] = {"/nonexistent/granted/path"};
    tbr_sandbox_grants g = {.read_paths = r, .nread = 1, .net = true, .processes = true};
    char report[512], err[512];
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        int rc = tbr_sandbox_apply(&g, TBR_SANDBOX_REQUIRE, report, sizeof report, err, sizeof err);
        _exit(rc != 0 && strstr(err, "cannot grant /nonexistent/granted/path") ? 0 : 1);
    }
    int status;
    waitpid(pid, &status, 0);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static int setup(void **state) {
    (void)state;
    strcpy(dir, "/tmp/tb-sandbox-XXXXXX");
    if (!mkdtemp(dir)) return -1;
    snprintf(readable, sizeof readable, "%s/ro", dir);
    snprintf(writable, sizeof writable, "%s/rw", dir);
    snprintf(outside, sizeof outside, "%s/elsewhere", dir);
    if (mkdir(readable, 0755) || mkdir(writable, 0755) || mkdir(outside, 0755)) return -1;
    char path[256];
    snprintf(path, sizeof path, "%s/data.txt", readable);
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    fputs("granted\n", f);
    fclose(f);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_files),     cmocka_unit_test(test_no_network), cmocka_unit_test(test_ports),
        cmocka_unit_test(test_processes), cmocka_unit_test(test_memory),     cmocka_unit_test(test_missing_grant),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
