/*
 * bench_hdr.c - compiles the runtime's HDR histogram (src/core/hdr.c) into the bench plugin
 * under the bench_hdr_* names of bench_hdr.h: the same code, no copy of it, no runtime
 * symbol referenced and none duplicated when plugins are linked statically.
 *
 * Ownership and thread contract: those of hdr.h. Note that hdr.c allocates its counts array
 * with malloc/realloc, outside the host's accounting (a few tens of KiB at the default
 * precision).
 */
#include "bench_hdr.h"

#include "core/hdr.c"
