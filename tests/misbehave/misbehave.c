/*
 * misbehave.c - deliberately bad plugins, one library per misbehaviour, each an operator
 * `bad_<what>::op` that passes events through until it misbehaves:
 *   segfault     writes through a null pointer at the 100th event
 *   abort        calls abort() at the 100th event
 *   hang         never returns from the call that brings the 100th event
 *   leak         takes a mebibyte of host memory every call and never gives it back
 *   overflow     writes 64 bytes into a 16-byte buffer of host memory every call
 *   status       returns a status the ABI does not define (12345) from every call
 *   thread       starts a thread of its own that calls timer_start and fd_watch, which the
 *                PDK allows only on the instance's thread; as the operator (which has no
 *                loop: they are refused as unsupported) and as a sink connector
 *                `bad_thread::sink` (which has one), at its first push
 * Built once per misbehaviour with MISBEHAVE set to one of those words (tests/misbehave/
 * CMakeLists.txt). Ownership: the instance is host memory. Thread contract: as temblor.h says,
 * except where breaking it is the point.
 */
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <temblor/temblor.h>

#define SEGFAULT 1
#define ABORT 2
#define HANG 3
#define LEAK 4
#define OVERFLOW 5
#define STATUS 6
#define THREAD 7

#define STR2(x) #x
#define STR(x) STR2(x)

typedef struct bad {
    const tb_host_api *host;
    tb_context *ctx;
    uint64_t seen;
    pthread_t thread;
    bool thread_started;
    bool thread_joined;
} bad;

#if MISBEHAVE == THREAD
static void TB_CALL never(void *user, uint64_t id) {
    (void)user;
    (void)id;
}

static void *from_another_thread(void *arg) {
    bad *b = arg;
    uint64_t id = 0;
    int rc = b->host->timer_start(b->ctx, 1000000, 0, never, NULL, &id);
    int rc2 = b->host->fd_watch(b->ctx, 0, TB_FD_READ, NULL, NULL, &id);
    tb_log(b->host, b->ctx, TB_LOG_WARN, "from my own thread: timer_start gave %d, fd_watch gave %d", rc, rc2);
    return NULL;
}
#endif

static int TB_CALL create(const tb_create_args *args, void **out) {
    bad *b = args->host->alloc(args->ctx, sizeof *b);
    if (!b) return TB_ENOMEM;
    memset(b, 0, sizeof *b);
    b->host = args->host;
    b->ctx = args->ctx;
    *out = b;
    return TB_OK;
}

static void TB_CALL destroy(void *instance) {
    bad *b = instance;
    if (b->thread_started && !b->thread_joined) pthread_join(b->thread, NULL);
    b->host->free(b->ctx, b);
}

static int TB_CALL process(void *instance, uint32_t in_port, tb_batch *in, tb_batch *out) {
    bad *b = instance;
    (void)in_port;
#if MISBEHAVE == STATUS
    (void)b, (void)in, (void)out;
    return 12345;
#else
#if MISBEHAVE == LEAK
    char *leak = b->host->alloc(b->ctx, 1u << 20);
    if (!leak) return tb_fail(b->host, b->ctx, TB_ENOMEM, "no more memory to leak");
    memset(leak, 1, 1u << 20);
#elif MISBEHAVE == OVERFLOW
    char *small = b->host->alloc(b->ctx, 16);
    if (small) {
        memset(small, 0x41, 64); /* past its end: the heap is corrupted from here */
        b->host->free(b->ctx, small);
    }
#elif MISBEHAVE == THREAD
    if (!b->thread_started && pthread_create(&b->thread, NULL, from_another_thread, b) == 0) b->thread_started = true;
#endif
    for (uint32_t i = 0; i < in->count; i++) {
        if (++b->seen == 100) {
#if MISBEHAVE == SEGFAULT
            *(volatile int *)(uintptr_t)(b->seen - 100) = 1;
#elif MISBEHAVE == ABORT
            abort();
#elif MISBEHAVE == HANG
            for (;;) pause();
#endif
        }
        tb_event *e = tb_batch_push(out);
        if (!e) return TB_ENOMEM;
        *e = in->events[i];
        e->port = 0;
    }
    return TB_OK;
#endif
}

static const tb_operator_vtable vtable = {
    .struct_size = sizeof(tb_operator_vtable),
    .create = create,
    .destroy = destroy,
    .process = process,
    .save = tb_stateless_save,
    .restore = tb_stateless_restore,
};

static const tb_component op = {
    .struct_size = sizeof(tb_component),
    .kind = TB_KIND_OPERATOR,
    .name = STR(NAME) "::op",
    .description = "passes events through, then misbehaves: " STR(NAME),
    .vtable = &vtable,
};

#if MISBEHAVE == THREAD
static int TB_CALL push(void *instance, tb_batch *in) {
    bad *b = instance;
    b->seen += in->count;
    /* the other thread's calls happen while this instance's thread is inside push: the loop
     * is running and is not theirs to touch */
    if (!b->thread_started && pthread_create(&b->thread, NULL, from_another_thread, b) == 0) {
        b->thread_started = true;
        pthread_join(b->thread, NULL);
        b->thread_joined = true;
    }
    return TB_OK;
}

static const tb_connector_vtable sink_vtable = {
    .struct_size = sizeof(tb_connector_vtable),
    .flags = TB_CONNECTOR_SINK | TB_CONNECTOR_SINK_VALUES,
    .create = create,
    .destroy = destroy,
    .push = push,
};

static const tb_component sink = {
    .struct_size = sizeof(tb_component),
    .kind = TB_KIND_CONNECTOR,
    .name = STR(NAME) "::sink",
    .description = "takes events, then calls host functions from a thread of its own",
    .vtable = &sink_vtable,
};

static const tb_component *const components[] = {&op, &sink};
#else
static const tb_component *const components[] = {&op};
#endif

static const tb_plugin_descriptor descriptor = {
    TB_DESCRIPTOR_HEAD,
    .name = STR(NAME),
    .version = "0.0.1",
    .description = "a deliberately bad plugin, for the tests",
    .components = components,
    .component_count = sizeof components / sizeof components[0],
};

TB_PLUGIN_ENTRY(NAME) { return &descriptor; }
