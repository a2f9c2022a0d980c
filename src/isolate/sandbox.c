/*
 * sandbox.c - confining a plugin host: see sandbox.h. Landlock through its system calls (glibc
 * has no wrappers); the structures and flags of Landlock ABIs newer than Debian's kernel headers
 * (the network rules of ABI 4, TRUNCATE of ABI 3, IOCTL_DEV of ABI 5) are defined here from the
 * kernel's stable ABI, and used only when the running kernel says it has them. seccomp through
 * libseccomp.
 */
#define _GNU_SOURCE
#include "isolate/sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/landlock.h>
#include <sched.h>
#include <seccomp.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <temblor/temblor.h>

#include "core/log.h"

/* Landlock's file-system rights by ABI version (1: bits 0-12, then one more each) */
#define LL_FS_REFER (1ull << 13)    /* ABI 2 */
#define LL_FS_TRUNCATE (1ull << 14) /* ABI 3 */
#define LL_FS_IOCTL_DEV (1ull << 15) /* ABI 5 */
/* ABI 4: TCP ports */
#define LL_NET_BIND_TCP (1ull << 0)
#define LL_NET_CONNECT_TCP (1ull << 1)
#define LL_RULE_NET_PORT 2

struct ll_ruleset_attr { /* as the kernel's, with the fields of ABI 4 */
    uint64_t handled_access_fs;
    uint64_t handled_access_net;
};

struct ll_net_port_attr {
    uint64_t allowed_access;
    uint64_t port;
} __attribute__((packed));

#define LL_READ (LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR)
#define LL_EXEC LANDLOCK_ACCESS_FS_EXECUTE
#define LL_WRITE                                                                                                    \
    (LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_REMOVE_DIR | LANDLOCK_ACCESS_FS_REMOVE_FILE |                \
     LANDLOCK_ACCESS_FS_MAKE_DIR | LANDLOCK_ACCESS_FS_MAKE_REG | LANDLOCK_ACCESS_FS_MAKE_SYM |                       \
     LANDLOCK_ACCESS_FS_MAKE_FIFO | LANDLOCK_ACCESS_FS_MAKE_SOCK)

/* What the dynamic linker, libc and the host itself read, whatever the grants. */
static const char *const system_paths[] = {"/lib", "/lib64", "/usr/lib", "/usr/lib64", "/etc/ld.so.cache",
                                           "/proc/self", "/dev/null", "/dev/urandom"};
/* Where programs are, readable and executable with a process grant (exec needs them). */
static const char *const program_paths[] = {"/bin", "/usr/bin", "/sbin", "/usr/sbin", "/usr/libexec", "/usr/local/bin"};
/* What name resolution reads, with a network grant. */
static const char *const resolver_paths[] = {"/etc/resolv.conf", "/etc/hosts", "/etc/nsswitch.conf",
                                             "/etc/gai.conf", "/etc/services"};

/* Appends to the report. */
static void note(char *report, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void note(char *report, size_t n, const char *fmt, ...) {
    size_t used = strnlen(report, n);
    if (used + 1 >= n) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(report + used, n - used, fmt, ap);
    va_end(ap);
}

int tbr_sandbox_landlock_abi(void) {
    long v = syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
    return v < 0 ? 0 : (int)v;
}

static uint64_t fs_rights(int abi) {
    uint64_t all = (1ull << 13) - 1; /* ABI 1 */
    if (abi >= 2) all |= LL_FS_REFER;
    if (abi >= 3) all |= LL_FS_TRUNCATE;
    if (abi >= 5) all |= LL_FS_IOCTL_DEV;
    return all;
}

/* Allows access below path. A missing path is an error only when required (a grant). */
static int allow_path(int ruleset, const char *path, uint64_t access, uint64_t handled, bool required, char *err,
                      size_t n) {
    int fd = open(path, O_PATH | O_CLOEXEC);
    if (fd < 0) {
        if (!required) return TB_OK;
        return tbr_fail_into(err, n, TB_EINVAL, "cannot grant %s: %s", path, strerror(errno));
    }
    struct landlock_path_beneath_attr attr = {.allowed_access = access & handled, .parent_fd = fd};
    /* a file (not a directory) takes only the rights that apply to files */
    struct stat st;
    if (fstat(fd, &st) == 0 && !S_ISDIR(st.st_mode))
        attr.allowed_access &= LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_WRITE_FILE |
                               LANDLOCK_ACCESS_FS_EXECUTE | LL_FS_TRUNCATE | LL_FS_IOCTL_DEV;
    long rc = syscall(SYS_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH, &attr, 0);
    int e = errno;
    close(fd);
    if (rc != 0) return tbr_fail_into(err, n, TB_ERROR, "Landlock refused the rule for %s: %s", path, strerror(e));
    return TB_OK;
}

static int allow_ports(int ruleset, const uint16_t *ports, size_t count, uint64_t access, char *err, size_t n) {
    for (size_t i = 0; i < count; i++) {
        struct ll_net_port_attr attr = {.allowed_access = access, .port = ports[i]};
        if (syscall(SYS_landlock_add_rule, ruleset, LL_RULE_NET_PORT, &attr, 0) != 0)
            return tbr_fail_into(err, n, TB_ERROR, "Landlock refused the rule for TCP port %u: %s", (unsigned)ports[i],
                        strerror(errno));
    }
    return TB_OK;
}

static int landlock(const tbr_sandbox_grants *g, tbr_sandbox_mode mode, char *report, size_t rn, char *err,
                    size_t n) {
    int abi = tbr_sandbox_landlock_abi();
    if (abi < 1) {
        if (mode == TBR_SANDBOX_REQUIRE)
            return tbr_fail_into(err, n, TB_ENOTSUP, "the kernel has no Landlock (or it is disabled): file-system grants "
                                            "cannot be enforced%s", g->net && (g->tcp_connect || g->tcp_bind) ? ", nor TCP port grants" : "");
        note(report, rn, "; NOT enforced: file-system grants%s (the kernel has no Landlock)",
             g->net && (g->tcp_connect || g->tcp_bind) ? " and TCP port grants" : "");
        return TB_OK;
    }
    bool restrict_connect = g->net && g->tcp_connect, restrict_bind = g->net && g->tcp_bind;
    bool want_net = restrict_connect || restrict_bind;
    struct ll_ruleset_attr attr = {.handled_access_fs = fs_rights(abi)};
    size_t size = sizeof attr.handled_access_fs;
    if (want_net && abi >= 4) {
        attr.handled_access_net = (restrict_connect ? LL_NET_CONNECT_TCP : 0) | (restrict_bind ? LL_NET_BIND_TCP : 0);
        size = sizeof attr;
    } else if (want_net) {
        if (mode == TBR_SANDBOX_REQUIRE)
            return tbr_fail_into(err, n, TB_ENOTSUP, "the kernel's Landlock (ABI %d) has no network rules: TCP port grants "
                                            "cannot be enforced (ABI 4 or later needed)", abi);
        note(report, rn, "; NOT enforced: TCP port grants (Landlock ABI %d has no network rules)", abi);
    }
    int ruleset = (int)syscall(SYS_landlock_create_ruleset, &attr, size, 0);
    if (ruleset < 0) return tbr_fail_into(err, n, TB_ERROR, "cannot create a Landlock ruleset: %s", strerror(errno));
    int rc = TB_OK;
    uint64_t handled = attr.handled_access_fs;
    for (size_t i = 0; rc == TB_OK && i < sizeof system_paths / sizeof *system_paths; i++)
        rc = allow_path(ruleset, system_paths[i], LL_READ | LL_EXEC, handled, false, err, n);
    for (size_t i = 0; rc == TB_OK && g->processes && i < sizeof program_paths / sizeof *program_paths; i++)
        rc = allow_path(ruleset, program_paths[i], LL_READ | LL_EXEC, handled, false, err, n);
    for (size_t i = 0; rc == TB_OK && g->net && i < sizeof resolver_paths / sizeof *resolver_paths; i++)
        rc = allow_path(ruleset, resolver_paths[i], LL_READ, handled, false, err, n);
    for (size_t i = 0; rc == TB_OK && i < g->nread; i++)
        rc = allow_path(ruleset, g->read_paths[i], LL_READ, handled, true, err, n);
    for (size_t i = 0; rc == TB_OK && i < g->nwrite; i++)
        rc = allow_path(ruleset, g->write_paths[i], LL_READ | LL_WRITE | LL_FS_REFER | LL_FS_TRUNCATE, handled, true,
                        err, n);
    if (rc == TB_OK && attr.handled_access_net & LL_NET_CONNECT_TCP)
        rc = allow_ports(ruleset, g->tcp_connect, g->ntcp_connect, LL_NET_CONNECT_TCP, err, n);
    if (rc == TB_OK && attr.handled_access_net & LL_NET_BIND_TCP)
        rc = allow_ports(ruleset, g->tcp_bind, g->ntcp_bind, LL_NET_BIND_TCP, err, n);
    if (rc == TB_OK && syscall(SYS_landlock_restrict_self, ruleset, 0) != 0)
        rc = tbr_fail_into(err, n, TB_ERROR, "cannot enforce the Landlock ruleset: %s", strerror(errno));
    close(ruleset);
    if (rc == TB_OK)
        note(report, rn, "; Landlock ABI %d: %zu path(s) readable, %zu writable%s%s", abi, g->nread, g->nwrite,
             attr.handled_access_net & LL_NET_CONNECT_TCP ? ", TCP connect to granted ports only" : "",
             attr.handled_access_net & LL_NET_BIND_TCP ? ", TCP listen on granted ports only" : "");
    return rc;
}

static int seccomp_filter(const tbr_sandbox_grants *g, char *report, size_t rn, char *err, size_t n) {
    if (g->net && g->processes) return TB_OK;
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
    if (!ctx) return tbr_fail_into(err, n, TB_ERROR, "cannot set up seccomp");
    int rc = 0;
    if (!g->net) {
        rc |= seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EACCES), SCMP_SYS(socket), 0);
        rc |= seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EACCES), SCMP_SYS(socketpair), 0);
    }
    if (!g->processes) {
        rc |= seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(fork), 0);
        rc |= seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(vfork), 0);
        rc |= seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(execve), 0);
        rc |= seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(execveat), 0);
        /* threads are clone with CLONE_THREAD; a new process is clone without it. clone3 hides
         * its flags behind a pointer: ENOSYS makes libc fall back to clone */
        rc |= seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1,
                               SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, 0));
        rc |= seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
    }
    if (rc == 0) rc = seccomp_load(ctx);
    seccomp_release(ctx);
    if (rc != 0) return tbr_fail_into(err, n, TB_ERROR, "cannot install the seccomp filter: %s", strerror(-rc));
    note(report, rn, "; seccomp:%s%s", g->net ? "" : " no sockets", g->processes ? "" : " no processes");
    return TB_OK;
}

static int limit(int resource, uint64_t value, const char *name, char *report, size_t rn, char *err, size_t n) {
    if (!value) return TB_OK;
    struct rlimit rl = {value, value};
    if (setrlimit(resource, &rl) != 0) return tbr_fail_into(err, n, TB_ERROR, "cannot set %s: %s", name, strerror(errno));
    note(report, rn, "; %s %llu", name, (unsigned long long)value);
    return TB_OK;
}

int tbr_sandbox_apply(const tbr_sandbox_grants *g, tbr_sandbox_mode mode, char *report, size_t rn, char *err,
                      size_t n) {
    if (report && rn) report[0] = '\0';
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        return tbr_fail_into(err, n, TB_ERROR, "cannot set no-new-privileges: %s", strerror(errno));
    note(report, rn, "no new privileges");
    int rc = limit(RLIMIT_AS, g->memory_bytes, "RLIMIT_AS", report, rn, err, n);
    if (rc == TB_OK) rc = limit(RLIMIT_NOFILE, g->open_files, "RLIMIT_NOFILE", report, rn, err, n);
    if (rc == TB_OK) rc = landlock(g, mode, report, rn, err, n);
    if (rc == TB_OK) rc = seccomp_filter(g, report, rn, err, n);
    return rc;
}
