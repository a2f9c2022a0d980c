/* handover.c - descriptors handed from an old connector instance to its new one (see
 * handover.h). */
#include "host/handover.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

static _Thread_local tbr_handover *open_box;
/* handles never repeat in a process, so a stale one taken in another box finds nothing */
static _Atomic uint64_t next_handle = 1;

void tbr_handover_open(tbr_handover *box) {
    *box = (tbr_handover){0};
    open_box = box;
}

void tbr_handover_close(tbr_handover *box) {
    for (uint32_t i = 0; i < box->n; i++)
        if (box->fds[i] >= 0) close(box->fds[i]);
    free(box->fds);
    *box = (tbr_handover){0};
    if (open_box == box) open_box = NULL;
}

uint64_t tbr_handover_give_fd(int fd) {
    tbr_handover *box = open_box;
    if (!box || fd < 0) return 0;
    if (box->n == box->cap) {
        uint32_t ncap = box->cap ? box->cap * 2 : 16;
        int *n = realloc(box->fds, ncap * sizeof *n);
        if (!n) return 0;
        box->fds = n;
        box->cap = ncap;
    }
    /* one block of handles per box: the box's first handle is drawn at its first descriptor */
    if (!box->n) box->first = atomic_fetch_add(&next_handle, 1u << 20);
    if (box->n >= (1u << 20)) return 0;
    box->fds[box->n] = fd;
    return box->first + box->n++;
}

int tbr_handover_take_fd(uint64_t handle) {
    tbr_handover *box = open_box;
    if (!box || !box->n || handle < box->first || handle - box->first >= box->n) return -1;
    int fd = box->fds[handle - box->first];
    box->fds[handle - box->first] = -1;
    return fd;
}
