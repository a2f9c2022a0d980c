/*
 * file_read.c - the `file` connector's source half (mode "read"): the file's bytes as raw
 * chunks of at most chunk_size in the batch's arena. Each event's id is the
 * byte offset of its chunk in the file, so a replaying source could seek back to it. One file
 * is one stream: at its end comes an empty TB_EF_STREAM_END event (the runtime flushes the
 * stream's preprocessors), then TB_EOF.
 *
 * With follow, the end of the file is not the end: pull returns TB_EAGAIN and a one-shot
 * timer of poll_interval_ms makes the runtime pull again. At the end, pull also looks for a
 * file truncated in place (read again from the start) or replaced at path (rotation: the old
 * one was read to its end, the new one is opened); either ends the stream and starts the
 * next (stream + 1, ids from 0 again).
 *
 * Ownership: event bytes belong to the batch's arena. Thread contract: the instance's thread.
 */
#define _POSIX_C_SOURCE 200809L
#include "file.h"

#include <errno.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static uint64_t realtime_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int push_event(fc_conn *f, tb_batch *out, const void *p, size_t len, uint16_t flags,
                      uint64_t now) {
    tb_event *e = tb_batch_push(out);
    if (!e) return tb_fail(f->host, f->ctx, TB_ENOMEM, "out of memory reading %s", f->path);
    e->data = tb_bytes(p, len);
    e->id = f->offset;
    e->ingest_ns = now;
    e->stream = f->stream;
    e->flags = flags;
    return TB_OK;
}

static int file_size(fc_conn *f, uint64_t *size) {
    struct stat st;
    if (fstat(f->fd, &st) != 0)
        return tb_fail(f->host, f->ctx, TB_EIO, "cannot stat %s: %s", f->path, strerror(errno));
    *size = (uint64_t)st.st_size;
    return TB_OK;
}

/* Reads the next chunk into the batch's arena: in place when a whole chunk is known to be
 * there (the bulk of a file: the kernel's copy is the only one), otherwise into the
 * instance's buffer, keeping only the bytes read (the tail, or what a followed file grew
 * by), so that a short read does not hold a whole chunk of the arena. size is the file's
 * size when the pull began. */
static int read_chunk(fc_conn *f, tb_arena *a, uint64_t size, const uint8_t **out, size_t *got) {
    bool whole = size >= f->offset && size - f->offset >= f->chunk_size;
    uint8_t *p = whole ? tb_arena_alloc(a, f->chunk_size, 1) : f->buf;
    ssize_t n;
    if (!p) return tb_fail(f->host, f->ctx, TB_ENOMEM, "out of memory reading %s", f->path);
    while ((n = read(f->fd, p, f->chunk_size)) < 0 && errno == EINTR) {
    }
    if (n < 0)
        return tb_fail(f->host, f->ctx, TB_EIO, "cannot read %s: %s", f->path, strerror(errno));
    if (n > 0 && !whole && !(p = (uint8_t *)tb_arena_dup(a, p, (size_t)n)))
        return tb_fail(f->host, f->ctx, TB_ENOMEM, "out of memory reading %s", f->path);
    *out = p;
    *got = (size_t)n;
    return TB_OK;
}

static void TB_CALL on_poll(void *user, uint64_t timer_id) {
    fc_conn *f = user;
    (void)timer_id;
    f->timer_id = 0; /* fired: the runtime pulls now, and pull arms it again if need be */
}

/* Following, at the end of the file: notices a truncation or a replacement (sets restart). */
static int look_for_change(fc_conn *f) {
    struct stat cur, at_path;
    if (fstat(f->fd, &cur) != 0)
        return tb_fail(f->host, f->ctx, TB_EIO, "cannot stat %s: %s", f->path, strerror(errno));
    if ((uint64_t)cur.st_size < f->offset) {
        if (lseek(f->fd, 0, SEEK_SET) < 0)
            return tb_fail(f->host, f->ctx, TB_EIO, "cannot seek in %s: %s", f->path,
                           strerror(errno));
        f->restart = true;
        return TB_OK;
    }
    /* moved away and not replaced yet: keep the old one, which may still grow */
    if (stat(f->path, &at_path) != 0) return TB_OK;
    if (at_path.st_dev == cur.st_dev && at_path.st_ino == cur.st_ino) return TB_OK;
    return tbp_file_open(f); /* another inode: tbp_file_open sets restart */
}

int TB_CALL tbp_file_pull(void *instance, tb_batch *out) {
    fc_conn *f = instance;
    int rc;
    if (f->mode != FC_READ)
        return tb_fail(f->host, f->ctx, TB_ENOTSUP,
                       "%s is opened for writing: only mode read has a source", f->path);
    if (f->ended) return TB_EOF;
    if (f->fd < 0 && (rc = tbp_file_open(f)) != TB_OK) return rc;
    /* stop at the batch's capacity, but always leave room for one event */
    uint32_t limit = out->capacity > out->count ? out->capacity : out->count + 1;
    uint64_t now = realtime_ns(), size = 0, taken = 0;
    if ((rc = file_size(f, &size)) != TB_OK) return rc;
    while (out->count < limit && taken < TB_BATCH_BYTES) {
        const uint8_t *p = NULL;
        size_t n = 0;
        if (f->restart) {
            if ((rc = push_event(f, out, NULL, 0, TB_EF_RAW | TB_EF_STREAM_END, now)) != TB_OK)
                return rc;
            f->restart = false;
            f->stream++;
            f->offset = 0;
            if ((rc = file_size(f, &size)) != TB_OK) return rc; /* maybe another file */
            continue;
        }
        if ((rc = read_chunk(f, out->arena, size, &p, &n)) != TB_OK) return rc;
        if (n > 0) {
            if ((rc = push_event(f, out, p, n, TB_EF_RAW, now)) != TB_OK) return rc;
            f->offset += n;
            taken += n;
            continue;
        }
        if (!f->follow) {
            if ((rc = push_event(f, out, NULL, 0, TB_EF_RAW | TB_EF_STREAM_END, now)) != TB_OK)
                return rc;
            f->ended = true;
            tbp_file_close(f);
            return TB_EOF;
        }
        if ((rc = look_for_change(f)) != TB_OK) return rc;
        if (f->restart) continue;
        if (out->count) return TB_OK;
        if (!f->timer_id &&
            (rc = f->host->timer_start(f->ctx, f->poll_ns, 0, on_poll, f, &f->timer_id)) != TB_OK) {
            f->timer_id = 0;
            return tb_fail(f->host, f->ctx, TB_EIO,
                           "cannot follow %s: timer_start failed (%d)", f->path, rc);
        }
        return TB_EAGAIN;
    }
    return TB_OK;
}
