/*
 * file.h - the `file` connector's instance, shared by its three files: file.c (options,
 * lifecycle, opening), file_read.c (the source half) and file_write.c (the sink half).
 *
 * Ownership: the instance and its path strings are host memory, freed by destroy; the
 * instance owns its fd and its timer. Thread contract: as temblor.h says for connectors:
 * create and destroy on the control thread, everything else on the instance's thread.
 */
#ifndef TBP_FILE_H
#define TBP_FILE_H

#include <sys/types.h>

#include <temblor/temblor.h>

enum {
    FC_READ,      /* the source half reads the file */
    FC_WRITE,     /* create, truncate (Tremor's "write") */
    FC_TRUNCATE,  /* the same, by its other name */
    FC_APPEND,    /* create, append */
    FC_OVERWRITE  /* create, write over the old bytes from the start */
};

typedef struct fc_conn {
    const tb_host_api *host;
    tb_context *ctx;
    char *path;            /* NUL-terminated copy of the option */
    char *name_a, *name_b; /* room for path.N, used by rotation */
    size_t name_size;      /* of each */
    uint32_t mode;         /* FC_* */
    bool follow;
    uint64_t poll_ns;
    size_t chunk_size;
    uint64_t rotate_size;  /* 0: never */
    uint64_t rotate_keep;

    int fd;                /* -1: closed */
    bool opened;           /* opened before: a reopen never truncates and may resume */
    dev_t dev;             /* identity of the open file, to resume the same one */
    ino_t ino;

    /* source half */
    uint8_t *buf;          /* chunk_size bytes for short reads (mode read only) */
    uint64_t offset;       /* bytes of the current file read: the next event's id */
    uint32_t stream;       /* one per file read: it changes when the file is replaced */
    bool restart;          /* end the current stream, go on with the next from offset 0 */
    bool ended;            /* end of file reported (not following) */
    uint64_t timer_id;     /* 0: no poll timer pending */

    /* sink half */
    uint64_t pos;          /* where the next write lands */
    uint64_t size;         /* the file's size */
    bool rotatable;        /* a regular file (never rotate /dev/null) */
} fc_conn;

/* Opens (or reopens) the file as the mode says: TB_OK, or TB_EIO/TB_EINVAL with a message
 * naming the path. A reopen of the same file resumes where the instance was; in read mode
 * a different file sets restart. */
int tbp_file_open(fc_conn *f);
/* Closes the fd if open. */
void tbp_file_close(fc_conn *f);

/* The source and sink halves (tb_connector_vtable.pull and push). */
int TB_CALL tbp_file_pull(void *instance, tb_batch *out);
int TB_CALL tbp_file_push(void *instance, tb_batch *in);

#endif
