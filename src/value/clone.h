/*
 * clone.h - deep copies of values into an arena, for values that must outlive what they
 * were read from (configuration kept by an instance).
 *
 * Thread contract: reentrant; any thread. Ownership: the copy lives in the arena given.
 */
#ifndef TBR_VALUE_CLONE_H
#define TBR_VALUE_CLONE_H

#include <temblor/temblor.h>

/* Copies src, with every string, byte run, key, item and member, into arena as *dst.
 * Returns TB_OK or TB_ENOMEM. */
int tbr_value_clone(tb_arena *arena, const tb_value *src, tb_value *dst);

#endif
