/* engine.c - the control thread: starts the stage threads, watches for signals, shutdown
 * requests and the end of every source, and walks the stages through the shutdown phases. */
#define _GNU_SOURCE
#include "engine/engine.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "core/log.h"
#include "engine/connector.h"
#include "engine/stage.h"
#include "host/context.h"

struct tbr_engine {
    tbr_registry *reg;
    tbr_engine_opts opts;
    tbr_stage **stages;
    uint32_t nstages;
    tbr_loop *control;
    _Atomic int exit_code;          /* -1 until a shutdown is requested */
    _Atomic uint32_t sources_live;  /* connector sources that have not ended */
    uint32_t sources_total;
    _Atomic uint32_t failed_stages;
    bool stopping;
    uint64_t signal_watch;
    int sigfd;
};

static _Atomic uint64_t token_counter;
/* The engine the shutdown extension reaches (one runs per process). */
static tbr_engine *_Atomic current_engine;

uint64_t tbr_engine_next_token(void) { return atomic_fetch_add_explicit(&token_counter, 1, memory_order_relaxed) + 1; }

tbr_engine *tbr_engine_new(tbr_registry *reg, const tbr_engine_opts *opts) {
    tbr_engine *e = calloc(1, sizeof *e);
    if (!e) return NULL;
    e->reg = reg;
    e->opts = opts ? *opts : (tbr_engine_opts){0};
    if (!e->opts.batch_size) e->opts.batch_size = 256;
    if (!e->opts.queue_capacity) e->opts.queue_capacity = 16;
    if (!e->opts.drain_timeout_ns) e->opts.drain_timeout_ns = 10000000000ull;
    atomic_init(&e->exit_code, -1);
    e->sigfd = -1;
    e->control = tbr_loop_new();
    if (!e->control) {
        free(e);
        return NULL;
    }
    return e;
}

static void stage_free(tbr_stage *n) {
    n->ops->destroy(n);
    tbr_stage_fini(n);
    free(n);
}

void tbr_engine_free(tbr_engine *e) {
    if (!e) return;
    /* what is still queued (a drain that timed out) is failed while every stage it may
     * settle a ticket with is still there */
    for (uint32_t i = 0; i < e->nstages; i++) tbr_queue_drop_all(&e->stages[i]->inbox, TB_EIO);
    for (uint32_t i = 0; i < e->nstages; i++) stage_free(e->stages[i]);
    free(e->stages);
    tbr_loop_free(e->control);
    if (e->sigfd >= 0) close(e->sigfd);
    free(e);
}

int tbr_engine_add_stage(tbr_engine *e, tbr_stage *n) {
    tbr_stage **grown = realloc(e->stages, (e->nstages + 1) * sizeof *grown);
    if (!grown) {
        stage_free(n);
        return TB_ENOMEM;
    }
    grown[e->nstages++] = n;
    e->stages = grown;
    return TB_OK;
}

const tbr_engine_opts *tbr_engine_opts_of(const tbr_engine *e) { return &e->opts; }
tbr_registry *tbr_engine_registry(tbr_engine *e) { return e->reg; }
size_t tbr_engine_stage_count(const tbr_engine *e) { return e->nstages; }
tbr_stage *tbr_engine_stage_at(const tbr_engine *e, size_t i) { return i < e->nstages ? e->stages[i] : NULL; }

void tbr_engine_notify(tbr_engine *e) { tbr_loop_wake(e->control); }

void tbr_engine_request_shutdown(tbr_engine *e, int exit_code) {
    int none = -1;
    atomic_compare_exchange_strong(&e->exit_code, &none, exit_code);
    tbr_engine_notify(e);
}

void tbr_engine_source_done(tbr_engine *e) {
    atomic_fetch_sub(&e->sources_live, 1);
    tbr_engine_notify(e);
}

void tbr_engine_stage_failed(tbr_engine *e) {
    atomic_fetch_add(&e->failed_stages, 1);
    tbr_engine_notify(e);
}

static int metrics_of_current(tb_arena *arena, tb_value *out) {
    tbr_engine *e = atomic_load(&current_engine);
    return e ? tbr_engine_metrics(e, arena, out) : TB_ENOTSUP;
}

/* The last message alive was freed: if every source has ended too, the run is over. Only
 * then is the control thread woken, so a busy flow pays an atomic load per idle moment. */
static void on_msgs_idle(void) {
    tbr_engine *e = atomic_load(&current_engine);
    if (e && e->sources_total && atomic_load(&e->sources_live) == 0) tbr_engine_notify(e);
}

static void on_shutdown_request(int code) {
    tbr_engine *e = atomic_load(&current_engine);
    if (e) tbr_engine_request_shutdown(e, code);
}

static void TB_CALL on_signal(void *user, int fd, uint32_t events) {
    tbr_engine *e = user;
    struct signalfd_siginfo si;
    (void)events;
    while (read(fd, &si, sizeof si) == (ssize_t)sizeof si) {
        if (atomic_load(&e->exit_code) >= 0) {
            /* a second signal while draining: the operator wants out now */
            tbr_log(TB_LOG_WARN, "runtime", "second %s: exiting without draining", strsignal((int)si.ssi_signo));
            _exit(1);
        }
        tbr_log(TB_LOG_INFO, "runtime", "%s: draining and stopping", strsignal((int)si.ssi_signo));
        tbr_engine_request_shutdown(e, 0);
    }
}

/* Signals arrive through a signalfd on the control loop; every thread blocks them. */
static int watch_signals(tbr_engine *e) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    if (pthread_sigmask(SIG_BLOCK, &set, NULL)) return TB_EIO;
    e->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (e->sigfd < 0) return TB_EIO;
    return tbr_loop_watch(e->control, e->sigfd, TB_FD_READ, on_signal, e, &e->signal_watch);
}

static void ask_phase(tbr_engine *e, int phase) {
    for (uint32_t i = 0; i < e->nstages; i++) {
        atomic_store(&e->stages[i]->phase, phase);
        tbr_loop_wake(e->stages[i]->loop);
    }
}

/* Waits until every stage has completed phase and (unless stopping) nothing is in flight,
 * or until the deadline; returns whether it got there in time. */
static bool wait_for(tbr_engine *e, int phase, uint64_t deadline) {
    for (;;) {
        bool done = true;
        for (uint32_t i = 0; i < e->nstages && done; i++) done = atomic_load(&e->stages[i]->phase_done) >= phase;
        if (done && (phase == TBR_PHASE_STOP || atomic_load(&tbr_msgs_in_flight) == 0)) return true;
        if (tbr_now_ns() >= deadline) return false;
        tbr_loop_run_once(e->control, 10);
    }
}

static bool all_sources_done(tbr_engine *e) {
    return e->opts.exit_when_done && e->sources_total && atomic_load(&e->sources_live) == 0 &&
           atomic_load(&tbr_msgs_in_flight) == 0;
}

int tbr_engine_run(tbr_engine *e) {
    if (!e->nstages) {
        tbr_log(TB_LOG_ERROR, "runtime", "nothing to run");
        return 1;
    }
    /* a sink whose reader went away gets EPIPE from write, not a dead process */
    signal(SIGPIPE, SIG_IGN);
    if (watch_signals(e)) tbr_log(TB_LOG_WARN, "runtime", "cannot watch SIGINT/SIGTERM: %s", strerror(errno));
    atomic_store(&current_engine, e);
    tbr_host_set_shutdown_handler(on_shutdown_request);
    tbr_host_set_metrics_provider(metrics_of_current);
    atomic_store(&tbr_msgs_idle_hook, on_msgs_idle);
    for (uint32_t i = 0; i < e->nstages; i++)
        if (tbr_stage_is_connector(e->stages[i]) && tbr_connector_stage_has_source(e->stages[i])) e->sources_total++;
    atomic_store(&e->sources_live, e->sources_total);
    tbr_log(TB_LOG_INFO, "runtime", "running %u stages", e->nstages);
    uint32_t started = 0;
    for (; started < e->nstages; started++) {
        tbr_stage *n = e->stages[started];
        if (pthread_create(&n->thread, NULL, tbr_stage_main, n)) {
            tbr_log(TB_LOG_ERROR, "runtime", "cannot start a thread for %s", n->name);
            tbr_engine_request_shutdown(e, 1);
            break;
        }
        n->started = true;
    }
    while (atomic_load(&e->exit_code) < 0 && !all_sources_done(e)) tbr_loop_run_once(e->control, 100);
    /* a natural end leaves the exit code open: an exit connector reached while draining, or
     * stopped before its delay ran out, still decides it */

    /* drain: sources stop, in-flight events reach their sinks, windows close, all stop */
    uint64_t deadline = tbr_now_ns() + e->opts.drain_timeout_ns;
    bool drained = true;
    ask_phase(e, TBR_PHASE_QUIESCE);
    drained = wait_for(e, TBR_PHASE_QUIESCE, deadline) && drained;
    ask_phase(e, TBR_PHASE_FLUSH);
    drained = wait_for(e, TBR_PHASE_FLUSH, deadline) && drained;
    if (!drained)
        tbr_log(TB_LOG_WARN, "runtime", "drain timed out with %lld batches in flight",
                (long long)atomic_load(&tbr_msgs_in_flight));
    ask_phase(e, TBR_PHASE_STOP);
    for (uint32_t i = 0; i < e->nstages; i++)
        if (e->stages[i]->started) pthread_join(e->stages[i]->thread, NULL);
    tbr_host_set_shutdown_handler(NULL);
    tbr_host_set_metrics_provider(NULL);
    atomic_store(&tbr_msgs_idle_hook, (tbr_msgs_idle_fn)NULL);
    atomic_store(&current_engine, NULL);
    int code = atomic_load(&e->exit_code);
    if (code < 0) code = 0;
    uint32_t failed = atomic_load(&e->failed_stages);
    if (failed) tbr_log(TB_LOG_ERROR, "runtime", "%u stage%s failed for good", failed, failed == 1 ? "" : "s");
    return code ? code : (drained && !failed ? 0 : 1);
}
