/*
 * sandbox_probe.c - an operator `sandbox_probe::op` that tries, for each event, the one thing
 * the event asks for, and reports what became of it: the isolated tier's end-to-end test
 * (sandboxed.sh) runs it in a plugin host under various grants and checks the reports.
 *
 * A request is the event's data, a record:
 *   {"try": "read", "path": "/x"}     open the file read-only and read from it
 *   {"try": "write", "path": "/x"}    create or truncate the file and write one line to it
 *   {"try": "socket"}                 socket(AF_INET, SOCK_STREAM)
 *   {"try": "connect", "port": N}     a TCP connection to 127.0.0.1:N
 *   {"try": "shell"}                  fork, exec `sh -c "exit 7"` in the child and wait for it:
 *                                     ok only when the child exited with 7
 * For each, one event leaves on port 0 (out), with the input event's identity and the data
 *   {"try": <as given>, "path" or "port": <as given>, "ok": bool, "error": "<strerror text, or
 *    another reason, or empty>", "errno": <int, 0 when none>}
 * A request that is not a record or lacks a field is answered ok false, error "bad request"; an
 * unknown "try" ok false, error "unknown request". Nothing it is given makes it crash, and every
 * descriptor it opens is closed before the event's report is built.
 *
 * Its constructor shows where its code runs (never_mapped.sh): when the environment names a
 * file in TEMBLOR_PROBE_MARK, it creates it, which only an unconfined process can; with
 * TEMBLOR_PROBE_CRASH set, it writes through a null pointer, as a hostile or broken library
 * might before any of the runtime's checks.
 *
 * Its descriptor declares the permissions these actions need, so the runtime can warn about
 * those the operator did not grant. It includes temblor.h and libc only, links nothing of the
 * runtime. Ownership: the instance is stateless (no memory); the reports live in the batch's
 * arena. Thread contract: as temblor.h says; it keeps no state, so nothing is shared.
 */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <temblor/temblor.h>

#ifndef SOCK_CLOEXEC
#define SOCK_CLOEXEC 0
#endif

/* the line a write request writes */
static const char line[] = "written by sandbox_probe\n";

/* Each try_ returns 0 when the action succeeded, or the errno that stopped it. */

static int try_read(const char *path) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return errno;
    char buf[256];
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) < 0 && errno == EINTR) {
    }
    int e = n < 0 ? errno : 0;
    close(fd);
    return e;
}

static int try_write(const char *path) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return errno;
    int e = 0;
    const char *p = line, *end = line + sizeof line - 1;
    while (p < end && !e) {
        ssize_t n = write(fd, p, (size_t)(end - p));
        if (n > 0) p += n;
        else if (n == 0) e = EIO;
        else if (errno != EINTR) e = errno;
    }
    if (close(fd) != 0 && !e) e = errno;
    return e;
}

static int try_socket(void) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return errno;
    close(fd);
    return 0;
}

static int try_connect(uint16_t port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return errno;
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int rc;
    while ((rc = connect(fd, (const struct sockaddr *)&sa, sizeof sa)) != 0 && errno == EINTR) {
    }
    int e = rc != 0 ? errno : 0;
    close(fd);
    return e;
}

/* fork, exec `sh -c "exit 7"` and wait: 0 when the shell exited with 7; the errno of a fork,
 * exec or wait that failed (a failing exec's errno comes back through a close-on-exec pipe, so
 * a refused exec is told apart from a shell that ran); or -1 with the reason in why when the
 * shell ran and ended otherwise. */
static int try_shell(char *why, size_t size) {
    int p[2];
    if (pipe(p) != 0) return errno;
    int e = 0;
    if (fcntl(p[0], F_SETFD, FD_CLOEXEC) != 0 || fcntl(p[1], F_SETFD, FD_CLOEXEC) != 0) e = errno;
    pid_t pid = e ? -1 : fork();
    if (pid == 0) {
        /* the child: async-signal-safe calls only */
        execl("/bin/sh", "sh", "-c", "exit 7", (char *)NULL);
        e = errno;
        ssize_t ignored = write(p[1], &e, sizeof e);
        (void)ignored;
        _exit(127);
    }
    if (pid < 0 && !e) e = errno;
    close(p[1]);
    if (pid < 0) {
        close(p[0]);
        return e;
    }
    int exec_errno = 0;
    ssize_t n;
    while ((n = read(p[0], &exec_errno, sizeof exec_errno)) < 0 && errno == EINTR) {
    }
    close(p[0]);
    int status = 0;
    pid_t r;
    while ((r = waitpid(pid, &status, 0)) < 0 && errno == EINTR) {
    }
    if (r < 0) return errno;
    if (n == (ssize_t)sizeof exec_errno && exec_errno) return exec_errno;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 7) return 0;
    if (WIFEXITED(status)) snprintf(why, size, "the shell exited with %d, not 7", WEXITSTATUS(status));
    else if (WIFSIGNALED(status)) snprintf(why, size, "the shell was killed by signal %d", WTERMSIG(status));
    else snprintf(why, size, "the shell ended with status %d", status);
    return -1;
}

/* The path of a request as a C string in buf; false when it is missing, not a string, empty,
 * too long or holds a NUL. */
static bool path_of(const tb_value *v, char *buf, size_t size) {
    size_t len;
    const char *s = tb_value_str(v, &len);
    if (!s || !len || len >= size || memchr(s, '\0', len)) return false;
    memcpy(buf, s, len);
    buf[len] = '\0';
    return true;
}

static bool port_of(const tb_value *v, uint16_t *port) {
    int64_t i;
    if (!tb_value_as_i64(v, &i) || i < 1 || i > 65535) return false;
    *port = (uint16_t)i;
    return true;
}

/* What became of one request. */
typedef struct outcome {
    bool ok;
    int err;       /* errno, 0 when none */
    char why[160]; /* the error's text; empty when ok */
} outcome;

/* Does what request asks, and says in *o what became of it. */
static void attempt(const tb_value *request, outcome *o) {
    const tb_value *what = tb_object_getz(request, "try"); /* NULL unless request is a record */
    char path[4096];
    uint16_t port;
    int e;
    o->why[0] = '\0';
    if (tb_value_str_eq(what, "read") && path_of(tb_object_getz(request, "path"), path, sizeof path))
        e = try_read(path);
    else if (tb_value_str_eq(what, "write") && path_of(tb_object_getz(request, "path"), path, sizeof path))
        e = try_write(path);
    else if (tb_value_str_eq(what, "socket"))
        e = try_socket();
    else if (tb_value_str_eq(what, "connect") && port_of(tb_object_getz(request, "port"), &port))
        e = try_connect(port);
    else if (tb_value_str_eq(what, "shell"))
        e = try_shell(o->why, sizeof o->why);
    else {
        /* a "try" this probe knows, without the field it needs, is as bad as none */
        bool known =
            tb_value_str_eq(what, "read") || tb_value_str_eq(what, "write") || tb_value_str_eq(what, "connect");
        bool unknown = what && what->type == TB_STRING && !known;
        snprintf(o->why, sizeof o->why, "%s", unknown ? "unknown request" : "bad request");
        e = -1;
    }
    o->ok = e == 0;
    o->err = e > 0 ? e : 0;
    if (e > 0 && strerror_r(e, o->why, sizeof o->why) != 0) snprintf(o->why, sizeof o->why, "error %d", e);
}

/* Sets key of rec to v; false when out of memory. */
static bool put(tb_arena *a, tb_value *rec, const char *key, tb_value v) {
    tb_value *slot = tb_object_append(a, rec, key, strlen(key));
    if (slot) *slot = v;
    return slot != NULL;
}

/* v as given, its text copied into the arena when it is a string. */
static bool copied(tb_arena *a, const tb_value *v, tb_value *out) {
    if (v->type != TB_STRING) {
        *out = *v; /* numbers need no copy; anything else already lives in this batch's arena */
        return true;
    }
    char *s = tb_arena_dup(a, v->as.s, v->len);
    if (!s) return false;
    *out = tb_string(s, v->len);
    return true;
}

/* The report on request: {"try", "path"/"port" when given, "ok", "error", "errno"}. */
static bool report(tb_arena *a, const tb_value *request, const outcome *o, tb_value *out) {
    tb_value rec = tb_object(), v;
    static const char *const echoed[] = {"try", "path", "port"};
    for (size_t k = 0; k < sizeof echoed / sizeof *echoed; k++) {
        const tb_value *given = tb_object_getz(request, echoed[k]);
        if (!given && k > 0) continue;
        if (!given) v = tb_null();
        else if (!copied(a, given, &v)) return false;
        if (!put(a, &rec, echoed[k], v)) return false;
    }
    size_t wl = strlen(o->why);
    char *why = tb_arena_dup(a, o->why, wl);
    if (!why || !put(a, &rec, "ok", tb_bool(o->ok)) || !put(a, &rec, "error", tb_string(why, wl)) ||
        !put(a, &rec, "errno", tb_i64(o->err)))
        return false;
    *out = rec;
    return true;
}

static int TB_CALL process(void *instance, uint32_t in_port, tb_batch *in, tb_batch *out) {
    (void)instance;
    (void)in_port;
    for (uint32_t i = 0; i < in->count; i++) {
        outcome o;
        attempt(&in->events[i].data, &o);
        tb_value data;
        if (!report(out->arena, &in->events[i].data, &o, &data)) return TB_ENOMEM;
        tb_event *e = tb_batch_push(out);
        if (!e) return TB_ENOMEM;
        *e = in->events[i];
        e->data = data;
        e->port = 0;
    }
    return TB_OK;
}

static const tb_operator_vtable vtable = {
    .struct_size = sizeof(tb_operator_vtable),
    .create = tb_stateless_create,
    .destroy = tb_stateless_destroy,
    .process = process,
    .save = tb_stateless_save,
    .restore = tb_stateless_restore,
};

static const tb_component op = {
    .struct_size = sizeof(tb_component),
    .kind = TB_KIND_OPERATOR,
    .name = "sandbox_probe::op",
    .description = "tries what each event asks (read, write, socket, connect, shell) and reports the outcome",
    .vtable = &vtable,
};

static const tb_component *const components[] = {&op};

static const tb_permission permissions[] = {
    TB_PERMISSION(TB_PERM_FS_READ, NULL, NULL, "reads the files its requests name"),
    TB_PERMISSION(TB_PERM_FS_WRITE, NULL, NULL, "writes the files its requests name"),
    TB_PERMISSION(TB_PERM_NET_CONNECT, NULL, NULL, "opens sockets and connects to the ports its requests name"),
    TB_PERMISSION(TB_PERM_PROCESS, NULL, NULL, "runs a shell"),
};

static const tb_plugin_descriptor descriptor = {
    TB_DESCRIPTOR_HEAD,
    .name = "sandbox_probe",
    .version = "0.0.1",
    .description = "tries what the sandbox should allow or deny, for the isolated tier's tests",
    .components = components,
    .component_count = sizeof components / sizeof components[0],
    .permissions = permissions,
    .permission_count = sizeof permissions / sizeof permissions[0],
};

/* Runs when the library is mapped, before anything of temblor's: where it runs is the point. */
__attribute__((constructor)) static void on_load(void) {
    const char *mark = getenv("TEMBLOR_PROBE_MARK");
    if (mark && *mark) {
        int fd = open(mark, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd >= 0) {
            char text[64];
            int n = snprintf(text, sizeof text, "constructor ran in pid %ld\n", (long)getpid());
            if (n > 0 && write(fd, text, (size_t)n) < 0) n = 0;
            close(fd);
        }
    }
    if (getenv("TEMBLOR_PROBE_CRASH")) *(volatile int *)0 = 1;
}

TB_PLUGIN_ENTRY(sandbox_probe) { return &descriptor; }
