/*
 * stdio.c - the `stdio` connector: its source half reads the process's standard input and
 * emits the bytes as they arrive, as raw chunks on stream 0 (splitting them into lines is the
 * `separate` preprocessor's job); its sink half writes the bytes of every raw event to
 * standard output, or to standard error with "sink": "stderr".
 *
 * Reads go into the instance's own buffer and only the bytes read are copied into the
 * batch's arena: reads from a pipe or a terminal are mostly short, and a chunk-sized arena
 * allocation per read would hold chunk_size bytes for every few bytes of input.
 *
 * The source never blocks the runtime's thread. A regular file (or block device) on stdin is
 * read as it is: it is always ready, and epoll refuses it. Anything else (pipe, terminal,
 * socket) is opened again through /proc/self/fd/0 with O_NONBLOCK, so the flag stays off the
 * description the shell (and stdout and stderr, on a terminal) share; where that cannot be
 * done (a socket), stdin itself is switched to O_NONBLOCK. When read says EAGAIN, pull watches
 * stdin through host->fd_watch and returns TB_EAGAIN. /dev/null never says EAGAIN, so it
 * is never watched (epoll would refuse it too). O_NONBLOCK belongs to the open file
 * description, which the shell that started us shares, so stop and destroy clear it again.
 * At the end of input pull appends an empty TB_EF_STREAM_END event for stream 0 and returns
 * TB_EOF (and, with exit_on_eof, asks the runtime to shut down).
 *
 * The sink writes each batch with writev, all of it (partial writes, EINTR). stdout may be
 * non-blocking (a terminal shares its file description with stdin, which the source made
 * non-blocking), so on EAGAIN it poll()s stdout: blocking the sink's own thread is fine.
 *
 * Ownership: the instance and its read buffer are host memory; fds 0, 1 and 2 stay the
 * process's. Event bytes live in the batch's arena. Thread contract: create and destroy on
 * the control thread, every other callback on the instance's thread, as temblor.h says.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <temblor/temblor.h>

#define MAX_CHUNK (1u << 30) /* an event's bytes must fit tb_value.len */
#define MAX_IOV 64           /* iovecs per writev: well under every system's IOV_MAX */

typedef struct stdio_conn {
    const tb_host_api *host;
    tb_context *ctx;
    int out_fd;                    /* STDOUT_FILENO or STDERR_FILENO */
    const char *out_name;          /* "stdout" or "stderr", for messages */
    size_t chunk_size;
    const tb_ext_runtime *runtime; /* set only with exit_on_eof */

    /* source state, set up by the first pull so that a sink-only instance never touches
     * stdin nor holds a buffer */
    uint8_t *buf;                  /* chunk_size bytes */
    bool set_up;
    bool set_nonblock;             /* we set O_NONBLOCK on stdin and must clear it */
    int in_fd;                     /* what is read: stdin, or our own opening of it */
    uint64_t watch_id;             /* 0: stdin is not watched */
    uint64_t offset;               /* bytes read so far: the next event's id */
    bool ended;                    /* end of input reported */
} stdio_conn;

static const tb_option options[] = {
    TB_OPTION("sink", TB_OPT_STRING, "stdout", 0, "where the sink half writes: stdout or stderr"),
    TB_OPTION("chunk_size", TB_OPT_UINT, "65536", 0,
              "most bytes read from stdin into one event"),
    TB_OPTION("exit_on_eof", TB_OPT_BOOL, "false", 0,
              "ask the runtime to shut down gracefully (exit code 0) when stdin ends"),
};

static uint64_t realtime_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int TB_CALL create(const tb_create_args *args, void **out) {
    const tb_host_api *host = args->host;
    const tb_value *sink = tb_object_getz(args->config, "sink");
    uint64_t chunk = tb_config_u64(args->config, "chunk_size", 65536);
    const tb_ext_runtime *runtime = NULL;
    int out_fd;
    if (tb_value_str_eq(sink, "stdout")) {
        out_fd = STDOUT_FILENO;
    } else if (tb_value_str_eq(sink, "stderr")) {
        out_fd = STDERR_FILENO;
    } else {
        size_t len;
        const char *s = tb_value_str(sink, &len);
        return tb_fail(host, args->ctx, TB_EINVAL,
                       "sink must be \"stdout\" or \"stderr\", found \"%.*s\"", (int)len,
                       s ? s : "");
    }
    if (chunk == 0 || chunk > MAX_CHUNK)
        return tb_fail(host, args->ctx, TB_EINVAL,
                       "chunk_size must be between 1 and %u bytes, found %llu", MAX_CHUNK,
                       (unsigned long long)chunk);
    if (tb_config_bool(args->config, "exit_on_eof", false)) {
        runtime = host->get_extension(args->ctx, TB_EXT_RUNTIME);
        if (!runtime || !TB_HAS_FIELD(runtime, tb_ext_runtime, shutdown))
            return tb_fail(host, args->ctx, TB_ENOTSUP,
                           "exit_on_eof needs the host extension %s", TB_EXT_RUNTIME);
    }
    stdio_conn *s = host->alloc(args->ctx, sizeof *s);
    if (!s) return TB_ENOMEM;
    memset(s, 0, sizeof *s);
    s->host = host;
    s->ctx = args->ctx;
    s->out_fd = out_fd;
    s->out_name = out_fd == STDOUT_FILENO ? "stdout" : "stderr";
    s->chunk_size = (size_t)chunk;
    s->in_fd = STDIN_FILENO;
    s->runtime = runtime;
    *out = s;
    return TB_OK;
}

/* Gives stdin back as it was found: unwatched and, if we made it non-blocking, blocking. */
static void release_stdin(stdio_conn *s) {
    if (s->watch_id) s->host->fd_unwatch(s->ctx, s->watch_id);
    s->watch_id = 0;
    if (s->set_nonblock) {
        int fl = fcntl(STDIN_FILENO, F_GETFL);
        if (fl >= 0) fcntl(STDIN_FILENO, F_SETFL, fl & ~O_NONBLOCK);
        s->set_nonblock = false;
    }
    if (s->in_fd != STDIN_FILENO) close(s->in_fd);
    s->in_fd = STDIN_FILENO;
    s->set_up = false;
}

static int TB_CALL stop(void *instance) {
    release_stdin(instance);
    return TB_OK;
}

static void TB_CALL destroy(void *instance) {
    stdio_conn *s = instance;
    release_stdin(s);
    s->host->free(s->ctx, s->buf);
    s->host->free(s->ctx, s);
}

/* Looks at what stdin is, once: only what can block is made non-blocking. */
static int setup_stdin(stdio_conn *s) {
    struct stat st;
    int fl;
    if (fstat(STDIN_FILENO, &st) != 0)
        return tb_fail(s->host, s->ctx, TB_EIO, "cannot inspect stdin: %s", strerror(errno));
    s->set_up = true;
    if (S_ISREG(st.st_mode) || S_ISBLK(st.st_mode)) return TB_OK;
    /* A terminal's stdin, stdout and stderr share one open file description: O_NONBLOCK on
     * it would make the runtime's own writes to stderr fail with EAGAIN. A fresh opening of
     * the same terminal or pipe (not possible for a socket) has a description of its own. */
    int own = open("/proc/self/fd/0", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (own >= 0) {
        s->in_fd = own;
        return TB_OK;
    }
    fl = fcntl(STDIN_FILENO, F_GETFL);
    if (fl < 0)
        return tb_fail(s->host, s->ctx, TB_EIO, "cannot read the flags of stdin: %s",
                       strerror(errno));
    if (!(fl & O_NONBLOCK)) {
        if (fcntl(STDIN_FILENO, F_SETFL, fl | O_NONBLOCK) != 0)
            return tb_fail(s->host, s->ctx, TB_EIO, "cannot make stdin non-blocking: %s",
                           strerror(errno));
        s->set_nonblock = true;
    }
    return TB_OK;
}

/* The loop is level-triggered: a readable stdin that is not pulled (the flow is paused or
 * full) would make it spin. So the watch is one-shot: the callback drops it (the runtime then
 * pulls), and pull watches again at its next EAGAIN. */
static void TB_CALL on_readable(void *user, int fd, uint32_t events) {
    stdio_conn *s = user;
    (void)fd;
    (void)events;
    s->host->fd_unwatch(s->ctx, s->watch_id);
    s->watch_id = 0;
}

static int wait_readable(stdio_conn *s) {
    if (s->watch_id) return TB_EAGAIN;
    int rc = s->host->fd_watch(s->ctx, s->in_fd, TB_FD_READ, on_readable, s, &s->watch_id);
    if (rc != TB_OK) {
        s->watch_id = 0;
        return tb_fail(s->host, s->ctx, TB_EIO, "cannot wait for stdin: fd_watch failed (%d)",
                       rc);
    }
    return TB_EAGAIN;
}

static int push_event(tb_batch *out, const void *p, size_t len, uint64_t id, uint16_t flags,
                      uint64_t now) {
    tb_event *e = tb_batch_push(out);
    if (!e) return TB_ENOMEM;
    e->data = tb_bytes(p, len);
    e->id = id;
    e->ingest_ns = now;
    e->flags = flags;
    return TB_OK;
}

static int end_of_input(stdio_conn *s, tb_batch *out, uint64_t now) {
    /* the empty stream-end event makes the runtime flush stream 0's preprocessors */
    if (push_event(out, NULL, 0, s->offset, TB_EF_RAW | TB_EF_STREAM_END, now) != TB_OK)
        return tb_fail(s->host, s->ctx, TB_ENOMEM, "out of memory for stdin's end");
    s->ended = true;
    release_stdin(s);
    if (s->runtime) s->runtime->shutdown(s->ctx, 0);
    return TB_EOF;
}

static int TB_CALL pull(void *instance, tb_batch *out) {
    stdio_conn *s = instance;
    int rc;
    if (s->ended) return TB_EOF;
    if (!s->set_up && (rc = setup_stdin(s)) != TB_OK) return rc;
    if (!s->buf && !(s->buf = s->host->alloc(s->ctx, s->chunk_size)))
        return tb_fail(s->host, s->ctx, TB_ENOMEM, "out of memory for a %zu-byte read buffer",
                       s->chunk_size);
    /* stop at the batch's capacity, but always leave room for one event */
    uint32_t limit = out->capacity > out->count ? out->capacity : out->count + 1;
    uint64_t now = realtime_ns();
    size_t taken = 0;
    while (out->count < limit && taken < TB_BATCH_BYTES) {
        ssize_t n = read(s->in_fd, s->buf, s->chunk_size);
        if (n > 0) {
            const char *p = tb_arena_dup(out->arena, s->buf, (size_t)n);
            if (!p || push_event(out, p, (size_t)n, s->offset, TB_EF_RAW, now) != TB_OK)
                return tb_fail(s->host, s->ctx, TB_ENOMEM, "out of memory for stdin's bytes");
            s->offset += (uint64_t)n;
            taken += (size_t)n;
        } else if (n == 0) {
            return end_of_input(s, out, now);
        } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
            return out->count ? TB_OK : wait_readable(s);
        } else if (errno != EINTR) {
            return tb_fail(s->host, s->ctx, TB_EIO, "cannot read stdin: %s", strerror(errno));
        }
    }
    return TB_OK;
}

/* Blocks the sink's thread until stdout takes bytes again. */
static int wait_writable(stdio_conn *s) {
    struct pollfd p = {.fd = s->out_fd, .events = POLLOUT};
    while (poll(&p, 1, -1) < 0)
        if (errno != EINTR)
            return tb_fail(s->host, s->ctx, TB_EIO, "cannot wait for %s: %s", s->out_name,
                           strerror(errno));
    return TB_OK; /* POLLERR/POLLHUP: the next write reports the error */
}

/* Writes all of iov[0..cnt), which it consumes. */
static int write_all(stdio_conn *s, struct iovec *iov, int cnt) {
    while (cnt > 0) {
        ssize_t n = writev(s->out_fd, iov, cnt);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                int rc = wait_writable(s);
                if (rc != TB_OK) return rc;
                continue;
            }
            return tb_fail(s->host, s->ctx, TB_EIO, "cannot write to %s: %s", s->out_name,
                           strerror(errno));
        }
        if (n == 0)
            return tb_fail(s->host, s->ctx, TB_EIO, "cannot write to %s: it took no bytes",
                           s->out_name);
        /* skip what went out, possibly stopping inside an iovec */
        size_t left = (size_t)n;
        while (cnt > 0 && left >= iov->iov_len) {
            left -= iov->iov_len;
            iov++;
            cnt--;
        }
        if (cnt > 0) {
            iov->iov_base = (uint8_t *)iov->iov_base + left;
            iov->iov_len -= left;
        }
    }
    return TB_OK;
}

static int TB_CALL push(void *instance, tb_batch *in) {
    stdio_conn *s = instance;
    struct iovec iov[MAX_IOV];
    int cnt = 0, rc;
    uint32_t i;
    /* check first, so that a batch that cannot be written fails whole, not half written */
    for (i = 0; i < in->count; i++) {
        const tb_event *e = &in->events[i];
        if (!(e->flags & TB_EF_DROPPED) && (!(e->flags & TB_EF_RAW) || e->data.type != TB_BYTES))
            return tb_fail(s->host, s->ctx, TB_EINVAL,
                           "event %u is not raw bytes: the stdio sink needs a codec", i);
    }
    for (i = 0; i < in->count; i++) {
        const tb_event *e = &in->events[i];
        if ((e->flags & TB_EF_DROPPED) || e->data.len == 0) continue;
        iov[cnt].iov_base = (void *)e->data.as.bytes;
        iov[cnt].iov_len = e->data.len;
        if (++cnt == MAX_IOV) {
            if ((rc = write_all(s, iov, cnt)) != TB_OK) return rc;
            cnt = 0;
        }
    }
    return cnt ? write_all(s, iov, cnt) : TB_OK;
}

static const tb_connector_vtable vtable = {
    .struct_size = sizeof(tb_connector_vtable),
    .flags = TB_CONNECTOR_SOURCE | TB_CONNECTOR_SINK,
    .create = create,
    .destroy = destroy,
    .stop = stop,
    .pull = pull,
    .push = push,
};

static const tb_component component = {
    .struct_size = sizeof(tb_component),
    .kind = TB_KIND_CONNECTOR,
    .name = "stdio",
    .description = "reads standard input as raw bytes; writes raw events to stdout or stderr",
    .options = options,
    .option_count = sizeof options / sizeof options[0],
    .vtable = &vtable,
};

static const tb_component *const components[] = {&component};

static const tb_plugin_descriptor descriptor = {
    TB_DESCRIPTOR_HEAD,
    .flags = TB_PLUGIN_UNLOAD_SAFE,
    .name = "stdio",
    .version = "0.1.0",
    .description = "The stdio connector",
    .components = components,
    .component_count = 1,
};

TB_PLUGIN_ENTRY(stdio) { return &descriptor; }
