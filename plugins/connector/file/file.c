/*
 * file.c - the `file` connector, as Tremor's: in mode "read" its source half emits the bytes
 * of the file at "path" as raw chunks (file_read.c), optionally following it like tail -F;
 * in the write modes its sink half writes raw events to it, optionally rotating it by size
 * (file_write.c). This file holds the options, the lifecycle and the opening of the file.
 *
 * The file is opened in connect, not create, so that a missing file is an I/O error the
 * runtime retries with backoff (and pull or push open it themselves if the runtime never
 * called connect). Regular files never block, so reads and writes are direct; anything that
 * could block (a FIFO, a terminal) is refused in read mode.
 *
 * Ownership: one host allocation holds the instance and its path strings, another its read
 * buffer (mode read); the instance owns its fd and timer. Thread contract: create and
 * destroy on the control thread, every other callback on the instance's thread.
 */
#define _POSIX_C_SOURCE 200809L
#include "file.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_CHUNK (1u << 30)  /* an event's bytes must fit tb_value.len */
#define MAX_KEEP 10000u       /* each rotation renames every kept file */
#define NAME_EXTRA 24         /* ".N" for any uint64_t N, and the NUL */

static const tb_option options[] = {
    TB_OPTION("path", TB_OPT_STRING, NULL, TB_OPT_REQUIRED, "the file to read or write"),
    TB_OPTION("mode", TB_OPT_STRING, "read", 0,
              "read; or write/truncate (create, truncate), append (create, append), "
              "overwrite (create, write over from the start)"),
    TB_OPTION("follow", TB_OPT_BOOL, "false", 0,
              "read: at the end wait for more, like tail -F (truncated or replaced: new stream)"),
    TB_OPTION("poll_interval_ms", TB_OPT_UINT, "100", 0,
              "read with follow: how often to look for new data at the end of the file"),
    TB_OPTION("chunk_size", TB_OPT_UINT, "65536", 0, "read: most bytes in one event"),
    TB_OPTION("rotate_size", TB_OPT_UINT, "0", 0,
              "write modes: rotate before the file would grow past this many bytes (0: never)"),
    TB_OPTION("rotate_keep", TB_OPT_UINT, "5", 0,
              "write modes: rotated files kept, path.1 (newest) to path.N (0: none)"),
};

static const struct {
    const char *name;
    uint32_t mode;
} modes[] = {
    {"read", FC_READ},         {"write", FC_WRITE},         {"truncate", FC_TRUNCATE},
    {"append", FC_APPEND},     {"overwrite", FC_OVERWRITE},
};

void tbp_file_close(fc_conn *f) {
    if (f->fd >= 0) close(f->fd);
    f->fd = -1;
}

/* Fails with the reason errno gives, closing fd. */
static int fail_fd(fc_conn *f, int fd, const char *what) {
    int e = errno;
    close(fd);
    return tb_fail(f->host, f->ctx, TB_EIO, "cannot %s %s: %s", what, f->path, strerror(e));
}

int tbp_file_open(fc_conn *f) {
    struct stat st;
    int flags = O_CLOEXEC | O_NONBLOCK; /* never wait in open, even for a FIFO at path */
    tbp_file_close(f);
    if (f->mode == FC_READ) {
        flags |= O_RDONLY;
    } else {
        flags |= O_WRONLY | O_CREAT;
        /* O_APPEND keeps writing at the end even when someone truncates the file under us
         * (copytruncate rotation) instead of leaving a hole */
        if (f->mode != FC_OVERWRITE) flags |= O_APPEND;
        if (!f->opened && (f->mode == FC_WRITE || f->mode == FC_TRUNCATE)) flags |= O_TRUNC;
    }
    int fd = open(f->path, flags, 0666);
    if (fd < 0)
        return tb_fail(f->host, f->ctx, TB_EIO, "cannot open %s: %s", f->path, strerror(errno));
    if (fstat(fd, &st) != 0) return fail_fd(f, fd, "stat");
    bool regular = S_ISREG(st.st_mode);
    /* a device is fine to write to (/dev/null), but reading a pipe or a terminal could
     * block the runtime's thread */
    if (!regular && (f->mode == FC_READ || !S_ISCHR(st.st_mode))) {
        close(fd);
        return tb_fail(f->host, f->ctx, TB_EINVAL, "%s is not a regular file", f->path);
    }
    if (!regular) {
        /* writes to a device may wait, on the sink's own thread: no EAGAIN to handle */
        int fl = fcntl(fd, F_GETFL);
        if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) != 0) return fail_fd(f, fd, "set up");
    }
    bool same = f->opened && st.st_dev == f->dev && st.st_ino == f->ino;
    if (f->mode == FC_READ) {
        if (same && (uint64_t)st.st_size >= f->offset) {
            if (lseek(fd, (off_t)f->offset, SEEK_SET) < 0) return fail_fd(f, fd, "seek in");
        } else if (f->opened) {
            f->restart = true; /* another file, or this one cut short: a new stream */
        }
    } else {
        f->size = (uint64_t)st.st_size;
        f->rotatable = regular;
        if (f->mode != FC_OVERWRITE) {
            f->pos = f->size;
        } else if (!same) {
            f->pos = 0;
        } else if (lseek(fd, (off_t)f->pos, SEEK_SET) < 0) {
            return fail_fd(f, fd, "seek in");
        }
    }
    f->fd = fd;
    f->dev = st.st_dev;
    f->ino = st.st_ino;
    f->opened = true;
    return TB_OK;
}

static int TB_CALL create(const tb_create_args *args, void **out) {
    const tb_host_api *host = args->host;
    const tb_value *config = args->config;
    size_t len, mode_len;
    const char *path = tb_config_str(config, "path", NULL, &len);
    const char *mode = tb_config_str(config, "mode", "read", &mode_len);
    uint64_t chunk = tb_config_u64(config, "chunk_size", 65536);
    uint64_t poll_ms = tb_config_u64(config, "poll_interval_ms", 100);
    uint64_t keep = tb_config_u64(config, "rotate_keep", 5);
    size_t m;
    if (!path || len == 0) return tb_fail(host, args->ctx, TB_EINVAL, "path must not be empty");
    if (memchr(path, 0, len))
        return tb_fail(host, args->ctx, TB_EINVAL, "path must not contain a NUL byte");
    for (m = 0; m < sizeof modes / sizeof modes[0]; m++)
        if (strlen(modes[m].name) == mode_len && memcmp(modes[m].name, mode, mode_len) == 0) break;
    if (m == sizeof modes / sizeof modes[0])
        return tb_fail(host, args->ctx, TB_EINVAL,
                       "mode must be read, write, truncate, append or overwrite, found \"%.*s\"",
                       (int)mode_len, mode);
    if (chunk == 0 || chunk > MAX_CHUNK)
        return tb_fail(host, args->ctx, TB_EINVAL,
                       "chunk_size must be between 1 and %u bytes, found %llu", MAX_CHUNK,
                       (unsigned long long)chunk);
    if (poll_ms == 0 || poll_ms > 3600000)
        return tb_fail(host, args->ctx, TB_EINVAL,
                       "poll_interval_ms must be between 1 and 3600000, found %llu",
                       (unsigned long long)poll_ms);
    if (keep > MAX_KEEP)
        return tb_fail(host, args->ctx, TB_EINVAL, "rotate_keep must be at most %u, found %llu",
                       MAX_KEEP, (unsigned long long)keep);

    /* one block: the instance, the path, and two buffers for path.N during rotation */
    fc_conn *f = host->alloc(args->ctx, sizeof *f + (len + 1) + 2 * (len + NAME_EXTRA));
    if (!f) return TB_ENOMEM;
    memset(f, 0, sizeof *f);
    f->host = host;
    f->ctx = args->ctx;
    f->path = (char *)(f + 1);
    memcpy(f->path, path, len);
    f->path[len] = '\0';
    f->name_size = len + NAME_EXTRA;
    f->name_a = f->path + len + 1;
    f->name_b = f->name_a + f->name_size;
    f->mode = modes[m].mode;
    f->follow = tb_config_bool(config, "follow", false);
    f->poll_ns = poll_ms * 1000000u;
    f->chunk_size = (size_t)chunk;
    f->rotate_size = tb_config_u64(config, "rotate_size", 0);
    f->rotate_keep = keep;
    f->fd = -1;
    if (f->mode == FC_READ && !(f->buf = host->alloc(args->ctx, f->chunk_size))) {
        host->free(args->ctx, f);
        return TB_ENOMEM;
    }
    *out = f;
    return TB_OK;
}

static int TB_CALL connect_(void *instance) { return tbp_file_open(instance); }

static int TB_CALL stop(void *instance) {
    fc_conn *f = instance;
    if (f->timer_id) f->host->timer_stop(f->ctx, f->timer_id);
    f->timer_id = 0;
    tbp_file_close(f);
    return TB_OK;
}

static void TB_CALL destroy(void *instance) {
    fc_conn *f = instance;
    stop(f);
    f->host->free(f->ctx, f->buf);
    f->host->free(f->ctx, f);
}

/* Handover on a reload: where the instance is in which file, so the new build resumes there
 * as a reconnect would (reading on from the offset in the same stream; writing on at the
 * end, never truncating again). */
#define FILE_POSITION(X) X(opened) X(dev) X(ino) X(offset) X(pos) X(size) X(stream) X(ended)

static int TB_CALL save(void *instance, tb_arena *a, tb_value *out) {
    fc_conn *f = instance;
    *out = tb_object();
#define SAVE(field)                                                          \
    {                                                                        \
        tb_value *slot_ = tb_object_append(a, out, #field, sizeof #field - 1); \
        if (!slot_) return TB_ENOMEM;                                        \
        *slot_ = tb_u64((uint64_t)f->field);                                 \
    }
    FILE_POSITION(SAVE)
#undef SAVE
    tb_value *path = tb_object_append(a, out, "path", 4);
    char *copy = path ? tb_arena_dup(a, f->path, strlen(f->path)) : NULL;
    if (!copy) return TB_ENOMEM;
    *path = tb_string(copy, strlen(f->path));
    return TB_OK;
}

static int TB_CALL restore(void *instance, const tb_value *saved) {
    fc_conn *f = instance;
    /* another path configured: nothing to resume */
    if (!tb_value_str_eq(tb_object_getz(saved, "path"), f->path)) return TB_OK;
#define RESTORE(field) f->field = (__typeof__(f->field))tb_config_u64(saved, #field, (uint64_t)f->field);
    FILE_POSITION(RESTORE)
#undef RESTORE
    return TB_OK;
}

static const tb_connector_vtable vtable = {
    .struct_size = sizeof(tb_connector_vtable),
    .flags = TB_CONNECTOR_SOURCE | TB_CONNECTOR_SINK,
    .create = create,
    .destroy = destroy,
    .connect = connect_,
    .stop = stop,
    .pull = tbp_file_pull,
    .push = tbp_file_push,
    .save = save,
    .restore = restore,
};

static const tb_component component = {
    .struct_size = sizeof(tb_component),
    .kind = TB_KIND_CONNECTOR,
    .name = "file",
    .description = "reads a file as raw bytes (optionally following it), or writes one",
    .options = options,
    .option_count = sizeof options / sizeof options[0],
    .vtable = &vtable,
};

static const tb_component *const components[] = {&component};

static const tb_permission permissions[] = {
    TB_PERMISSION(TB_PERM_FS_READ, NULL, "path", "mode read reads the file"),
    TB_PERMISSION(TB_PERM_FS_WRITE, NULL, "path",
                  "the write modes write the file, and rotation renames it to path.N"),
};

static const tb_plugin_descriptor descriptor = {
    TB_DESCRIPTOR_HEAD,
    .flags = TB_PLUGIN_UNLOAD_SAFE,
    .name = "file",
    .version = "0.1.0",
    .description = "The file connector",
    .components = components,
    .component_count = 1,
    .permissions = permissions,
    .permission_count = sizeof permissions / sizeof permissions[0],
};

TB_PLUGIN_ENTRY(file) { return &descriptor; }
