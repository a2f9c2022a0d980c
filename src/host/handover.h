/*
 * handover.h - the file descriptors a connector's old instance hands to its new one across a
 * reload (the "temblor.handover/1" extension). The engine opens a box around save and
 * restore; give_fd puts descriptors in the open box, take_fd takes them out, and closing the
 * box closes what no instance took.
 *
 * Ownership: the box owns the descriptors in it. Thread contract: one box per thread at a
 * time (the stage's thread, which calls save, create and restore in turn); the extension
 * reaches the box open on the calling thread.
 */
#ifndef TBR_HOST_HANDOVER_H
#define TBR_HOST_HANDOVER_H

#include <stdint.h>

typedef struct tbr_handover {
    int *fds;           /* -1: taken */
    uint32_t n, cap;
    uint64_t first;     /* the handle of fds[0]; handles of one box are consecutive */
} tbr_handover;

/* Opens box on this thread: give_fd and take_fd use it until it is closed. */
void tbr_handover_open(tbr_handover *box);
/* Closes the descriptors no one took, and the box. */
void tbr_handover_close(tbr_handover *box);

/* The extension's functions (host_api.c offers them). */
uint64_t tbr_handover_give_fd(int fd);
int tbr_handover_take_fd(uint64_t handle);

#endif
