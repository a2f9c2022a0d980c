/*
 * call_bench.c - the cost in nanoseconds of a call into a plugin, the figure behind issue 5's
 * claim that a plugin loaded at run time costs nothing measurable.
 *
 * usage: call_bench [ITERATIONS] [ROUNDS] [PLUGIN.so]
 *   e.g. build/bench/call_bench 100000000 7
 *
 * The callee is call_plugin.c's codec decode on an empty batch (one load, one compare),
 * compiled twice by the build: into this executable and as a loadable module (PLUGIN.so,
 * by default the one the build wrote beside this executable). Each round times ITERATIONS
 * calls of every mode, one after the other (A B C D A B C D ..):
 *   loop only   the same loop with no call (a compiler barrier instead): the floor.
 *   direct      cb_decode called by name: a direct call to a statically linked function.
 *   static      through the vtable of the static copy, registered with
 *               tbr_registry_add_static and instantiated with tbr_instance_create.
 *   dynamic     through the vtable of the module, loaded with dlopen by
 *               tbr_registry_load_file into a second registry (a name is taken once per
 *               registry) and instantiated the same way.
 * The table modes load inst->component->vt.codec.decode and inst->state on every call, as
 * the runtime's codec chain does. The callee lives in another translation unit (or library)
 * and the build has no link-time optimisation, so no call can be inlined or hoisted; the
 * return codes are accumulated and checked. Prints ns per call per round and the medians.
 *
 * Ownership: main owns both registries and instances. Single-threaded.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "plugin/instance.h"
#include "plugin/registry.h"
#include "value/arena.h"

#ifndef CALL_PLUGIN_PATH
#error "CALL_PLUGIN_PATH must name the module build of call_plugin.c"
#endif

/* From the static copy of call_plugin.c. */
int TB_CALL cb_decode(void *instance, tb_batch *batch);
const tb_plugin_descriptor *TB_CALL tb_plugin_entry__callbench(void);

enum { LOOP, DIRECT, STATIC, DYNAMIC, NMODES };
static const char *const mode_names[NMODES] = {"loop only", "direct", "static", "dynamic"};

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The loops are kept out of main (noinline) so each is compiled on its own, alike. */
__attribute__((noinline)) static int run_loop(tb_batch *b, uint64_t iters) {
    int acc = 0;
    for (uint64_t k = 0; k < iters; k++) {
        __asm__ volatile("" : : "r"(b) : "memory"); /* the compiler must assume *b changed */
        acc |= b->count ? TB_EINVAL : TB_OK;
    }
    return acc;
}

__attribute__((noinline)) static int run_direct(void *state, tb_batch *b, uint64_t iters) {
    int acc = 0;
    for (uint64_t k = 0; k < iters; k++) acc |= cb_decode(state, b);
    return acc;
}

__attribute__((noinline)) static int run_table(const tbr_instance *inst, tb_batch *b,
                                               uint64_t iters) {
    int acc = 0;
    for (uint64_t k = 0; k < iters; k++)
        acc |= inst->component->vt.codec.decode(inst->state, b);
    return acc;
}

/* The callbench codec's instance in reg, or NULL having said why. */
static tbr_instance *instantiate(tbr_registry *reg, const char *what) {
    char err[512] = "";
    tbr_instance *inst = NULL;
    const tbr_component *c = tbr_registry_find(reg, TB_KIND_CODEC, "callbench");
    if (!c || tbr_instance_create(reg, c, what, NULL, NULL, 0, &inst, err, sizeof err)) {
        fprintf(stderr, "no %s callbench codec %s\n", what, err);
        return NULL;
    }
    return inst;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    double iters_d = argc > 1 ? atof(argv[1]) : 1e8;
    int rounds = argc > 2 ? atoi(argv[2]) : 7;
    const char *path = argc > 3 ? argv[3] : CALL_PLUGIN_PATH;
    if (!(iters_d >= 1)) iters_d = 1e8;
    if (rounds < 1 || rounds > 99) rounds = 7;
    uint64_t iters = (uint64_t)iters_d;

    tbr_registry *sreg = tbr_registry_new(), *dreg = tbr_registry_new();
    char err[512] = "";
    tbr_plugin *dyn = NULL;
    if (!sreg || !dreg || tbr_registry_add_static(sreg, tb_plugin_entry__callbench) != TB_OK) {
        fprintf(stderr, "cannot register the static callbench plugin\n");
        return 1;
    }
    if (tbr_registry_load_file(dreg, path, &dyn, err, sizeof err) != TB_OK || !dyn) {
        fprintf(stderr, "cannot load %s: %s\n", path, err);
        return 1;
    }
    tbr_instance *si = instantiate(sreg, "static"), *di = instantiate(dreg, "dynamic");
    if (!si || !di) return 1;
    if (si->component->plugin->handle != NULL || di->component->plugin->handle == NULL ||
        si->component->vt.codec.decode != cb_decode) {
        fprintf(stderr, "the static and dynamic copies are not what they should be\n");
        return 1;
    }

    tb_arena *arena = tbr_arena_new(0);
    tb_batch b;
    memset(&b, 0, sizeof b);
    b.arena = arena;
    /* Intel's branch target buffer keeps the low 32 bits of a target: one in another 4 GiB
     * region than the calling code (a module mapped near the libraries, far from a PIE
     * executable) costs more on such CPUs, so say where each copy is. */
    uintptr_t site = (uintptr_t)run_table, st = (uintptr_t)si->component->vt.codec.decode,
              dt = (uintptr_t)di->component->vt.codec.decode;
    printf("%llu calls per mode per round; call site %p; static decode at %p (%s 4 GiB region), "
           "dynamic at %p (%s 4 GiB region) from %s\n",
           (unsigned long long)iters, (void *)site, (void *)st,
           st >> 32 == site >> 32 ? "same" : "another", (void *)dt,
           dt >> 32 == site >> 32 ? "same" : "another", path);

    static double ns[NMODES][99];
    int acc = 0;
    printf("\n%-7s", "round");
    for (int m = 0; m < NMODES; m++) printf(" %10s", mode_names[m]);
    printf("   (ns per call)\n");
    for (int r = 0; r < rounds; r++) {
        printf("%-7d", r + 1);
        for (int m = 0; m < NMODES; m++) {
            double start = now_s();
            switch (m) {
            case LOOP: acc |= run_loop(&b, iters); break;
            case DIRECT: acc |= run_direct(si->state, &b, iters); break;
            case STATIC: acc |= run_table(si, &b, iters); break;
            case DYNAMIC: acc |= run_table(di, &b, iters); break;
            }
            ns[m][r] = (now_s() - start) * 1e9 / (double)iters;
            printf(" %10.3f", ns[m][r]);
        }
        printf("\n");
        fflush(stdout);
    }
    double med[NMODES];
    printf("%-7s", "median");
    for (int m = 0; m < NMODES; m++) {
        qsort(ns[m], (size_t)rounds, sizeof(double), cmp_double);
        med[m] = ns[m][rounds / 2];
        printf(" %10.3f", med[m]);
    }
    printf("\n\nabove the loop (median ns per call): direct %.3f, static table %.3f, "
           "dynamic table %.3f; dynamic - static %+.3f ns, dynamic / static %.3f\n",
           med[DIRECT] - med[LOOP], med[STATIC] - med[LOOP], med[DYNAMIC] - med[LOOP],
           med[DYNAMIC] - med[STATIC], med[DYNAMIC] / med[STATIC]);

    tbr_instance_destroy(si);
    tbr_instance_destroy(di);
    tbr_registry_free(sreg);
    tbr_registry_free(dreg);
    tbr_arena_free(arena);
    if (acc != TB_OK) {
        fprintf(stderr, "a call returned %d\n", acc);
        return 1;
    }
    return 0;
}
