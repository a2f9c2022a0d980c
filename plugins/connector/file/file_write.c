/*
 * file_write.c - the `file` connector's sink half (the write modes): the bytes of every raw
 * event, written whole and in order with writev (partial writes and EINTR handled; a regular
 * file never says EAGAIN).
 *
 * With rotate_size, an event that would take a non-empty file past rotate_size first
 * rotates it: path.(N-1) -> path.N ... path.1 -> path.2, path -> path.1 (N = rotate_keep; the
 * oldest falls off), and a new, empty path is opened. Events are never split, so an event
 * larger than rotate_size makes a file of its own.
 *
 * Ownership: event bytes belong to the batch; nothing is kept after push returns. Thread
 * contract: the instance's thread.
 */
#define _POSIX_C_SOURCE 200809L
#include "file.h"

#include <errno.h>
#include <stdio.h>
#include <sys/uio.h>
#include <unistd.h>

#define MAX_IOV 64 /* iovecs per writev: well under every system's IOV_MAX */

/* Writes all of iov[0..cnt), which it consumes. */
static int write_all(fc_conn *f, struct iovec *iov, int cnt) {
    while (cnt > 0) {
        ssize_t n = writev(f->fd, iov, cnt);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0)
            return tb_fail(f->host, f->ctx, TB_EIO, "cannot write %s: %s", f->path,
                           n < 0 ? strerror(errno) : "it took no bytes");
        f->pos += (uint64_t)n;
        if (f->pos > f->size) f->size = f->pos;
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

/* rename(from, to), where a missing from is fine (fewer rotated files than kept yet). */
static int move(fc_conn *f, const char *from, const char *to) {
    if (rename(from, to) == 0 || errno == ENOENT) return TB_OK;
    return tb_fail(f->host, f->ctx, TB_EIO, "cannot rotate %s to %s: %s", from, to,
                   strerror(errno));
}

static void rotated_name(const fc_conn *f, char *buf, uint64_t n) {
    snprintf(buf, f->name_size, "%s.%llu", f->path, (unsigned long long)n);
}

static int rotate(fc_conn *f) {
    int rc;
    tbp_file_close(f);
    if (f->rotate_keep == 0) {
        if (unlink(f->path) != 0 && errno != ENOENT)
            return tb_fail(f->host, f->ctx, TB_EIO, "cannot remove %s to rotate it: %s",
                           f->path, strerror(errno));
    } else {
        /* rename replaces path.N, the oldest kept */
        for (uint64_t i = f->rotate_keep - 1; i >= 1; i--) {
            rotated_name(f, f->name_a, i);
            rotated_name(f, f->name_b, i + 1);
            if ((rc = move(f, f->name_a, f->name_b)) != TB_OK) return rc;
        }
        rotated_name(f, f->name_a, 1);
        if ((rc = move(f, f->path, f->name_a)) != TB_OK) return rc;
    }
    return tbp_file_open(f); /* path is gone: a new, empty file */
}

/* Whether len more bytes, after the pending ones not yet written, call for a rotation. */
static bool must_rotate(const fc_conn *f, uint64_t pending, uint64_t len) {
    uint64_t at = f->pos + pending;
    uint64_t before = at > f->size ? at : f->size;
    uint64_t after = at + len > f->size ? at + len : f->size;
    return f->rotate_size && f->rotatable && before > 0 && after > f->rotate_size;
}

int TB_CALL tbp_file_push(void *instance, tb_batch *in) {
    fc_conn *f = instance;
    struct iovec iov[MAX_IOV];
    uint64_t pending = 0;
    int cnt = 0, rc;
    uint32_t i;
    if (f->mode == FC_READ)
        return tb_fail(f->host, f->ctx, TB_ENOTSUP,
                       "%s is opened for reading (mode read): it has no sink", f->path);
    /* check first, so that a batch that cannot be written fails whole, not half written */
    for (i = 0; i < in->count; i++) {
        const tb_event *e = &in->events[i];
        if (!(e->flags & TB_EF_DROPPED) && (!(e->flags & TB_EF_RAW) || e->data.type != TB_BYTES))
            return tb_fail(f->host, f->ctx, TB_EINVAL,
                           "event %u is not raw bytes: the file sink needs a codec", i);
    }
    if (f->fd < 0 && (rc = tbp_file_open(f)) != TB_OK) return rc;
    for (i = 0; i < in->count; i++) {
        const tb_event *e = &in->events[i];
        if ((e->flags & TB_EF_DROPPED) || e->data.len == 0) continue;
        if (must_rotate(f, pending, e->data.len)) {
            if (cnt && (rc = write_all(f, iov, cnt)) != TB_OK) return rc;
            cnt = 0;
            pending = 0;
            if ((rc = rotate(f)) != TB_OK) return rc;
        }
        iov[cnt].iov_base = (void *)e->data.as.bytes;
        iov[cnt].iov_len = e->data.len;
        pending += e->data.len;
        if (++cnt == MAX_IOV) {
            if ((rc = write_all(f, iov, cnt)) != TB_OK) return rc;
            cnt = 0;
            pending = 0;
        }
    }
    return cnt ? write_all(f, iov, cnt) : TB_OK;
}
