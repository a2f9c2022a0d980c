/* engine.c - the control thread: starts the stage threads, watches for signals, shutdown
 * requests and the end of every source, and walks the stages through the shutdown phases;
 * flows deployed and undeployed while it runs. */
#define _GNU_SOURCE
#include "engine/engine.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "engine/connector.h"
#include "engine/flow.h"
#include "engine/stage.h"
#include "host/context.h"

struct tbr_engine {
    tbr_registry *reg;
    tbr_engine_opts opts;
    /* the flows and all their stages; changed under lock by deploy and undeploy, read under
     * it by metrics and the admin interface */
    pthread_mutex_t lock;
    tbr_flow **flows;
    uint32_t nflows;
    tbr_stage **stages;
    uint32_t nstages;
    bool running;                   /* stage threads start as flows are added */
    bool shutting_down;             /* no more deploys or undeploys */
    tbr_loop *control;
    _Atomic int exit_code;          /* -1 until a shutdown is requested */
    _Atomic uint32_t sources_live;  /* connector sources that have not ended */
    _Atomic uint32_t sources_total;
    _Atomic uint32_t failed_stages;
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
    if (!e->opts.call_budget_ms) e->opts.call_budget_ms = 5000;
    atomic_init(&e->exit_code, -1);
    e->sigfd = -1;
    pthread_mutex_init(&e->lock, NULL);
    e->control = tbr_loop_new();
    if (!e->control) {
        free(e);
        return NULL;
    }
    return e;
}

/* Starts the threads of f's stages. Under the lock. */
static int start_flow(tbr_engine *e, tbr_flow *f) {
    for (uint32_t i = 0; i < f->nstages; i++) {
        tbr_stage *n = f->stages[i];
        if (pthread_create(&n->thread, NULL, tbr_stage_main, n)) {
            tbr_log(TB_LOG_ERROR, "runtime", "cannot start a thread for %s", n->name);
            return TB_ENOMEM;
        }
        n->started = true;
    }
    atomic_fetch_add(&e->sources_total, f->sources);
    atomic_fetch_add(&e->sources_live, f->sources);
    f->started = true;
    f->deployed_ns = tbr_realtime_ns();
    return TB_OK;
}

/* Frees a flow that was stopped or never started, and its document when it was the last. */
static void release_flow(tbr_engine *e, tbr_flow *f) {
    tbr_document *doc = f->doc;
    tbr_flow_free(f);
    if (!doc) return;
    pthread_mutex_lock(&e->lock);
    bool last = --doc->refs == 0;
    pthread_mutex_unlock(&e->lock);
    if (!last) return;
    tbr_deployment_free(doc->deployment);
    tbr_source_free(doc->source);
    free(doc);
}

void tbr_engine_free(tbr_engine *e) {
    if (!e) return;
    for (uint32_t i = 0; i < e->nflows; i++) release_flow(e, e->flows[i]);
    free(e->flows);
    free(e->stages);
    tbr_loop_free(e->control);
    if (e->sigfd >= 0) close(e->sigfd);
    pthread_mutex_destroy(&e->lock);
    free(e);
}

/* Takes the flows in, starting them when the engine runs. Under the lock; TB_OK or
 * TB_ENOMEM (then nothing was taken). */
static int add_flows(tbr_engine *e, tbr_flow **flows, uint32_t n) {
    uint32_t more = 0;
    for (uint32_t i = 0; i < n; i++) more += flows[i]->nstages;
    tbr_flow **fl = realloc(e->flows, (e->nflows + n) * sizeof *fl);
    if (fl) e->flows = fl;
    tbr_stage **st = realloc(e->stages, (e->nstages + more + 1) * sizeof *st);
    if (st) e->stages = st;
    if (!fl || !st) return TB_ENOMEM;
    for (uint32_t i = 0; i < n; i++) {
        e->flows[e->nflows++] = flows[i];
        for (uint32_t k = 0; k < flows[i]->nstages; k++) e->stages[e->nstages++] = flows[i]->stages[k];
    }
    return TB_OK;
}

/* Whether a flow called name runs. Under the lock. */
static tbr_flow *find_flow(tbr_engine *e, const char *name, uint32_t *index) {
    for (uint32_t i = 0; i < e->nflows; i++)
        if (!strcmp(e->flows[i]->name, name)) {
            if (index) *index = i;
            return e->flows[i];
        }
    return NULL;
}

static int deploy(tbr_engine *e, const tbr_deployment *d, tbr_document *doc, char *err, size_t n) {
    tbr_flow **flows;
    uint32_t count;
    int rc = tbr_flows_build(e, d, &flows, &count, err, n);
    if (rc) return rc;
    pthread_mutex_lock(&e->lock);
    for (uint32_t i = 0; i < count && !rc; i++) {
        if (e->shutting_down) {
            snprintf(err, n, "the runtime is shutting down: nothing more is deployed");
            rc = TB_EINVAL;
        } else if (find_flow(e, flows[i]->name, NULL)) {
            snprintf(err, n, "%s: a flow named '%s' is deployed already: undeploy it first", d->src->name, flows[i]->name);
            rc = TB_EINVAL;
        }
    }
    if (!rc) rc = add_flows(e, flows, count);
    for (uint32_t i = 0; !rc && i < count; i++) {
        flows[i]->doc = doc;
        if (doc) doc->refs++;
        if (e->running && start_flow(e, flows[i])) {
            /* the flows are in: shutdown stops and frees them like any other */
            snprintf(err, n, "cannot start the threads of flow %s", flows[i]->name);
            tbr_engine_request_shutdown(e, 1);
        }
    }
    pthread_mutex_unlock(&e->lock);
    if (rc == TB_ENOMEM) snprintf(err, n, "out of memory deploying %s", d->src->name);
    if (rc)
        for (uint32_t i = 0; i < count; i++) tbr_flow_free(flows[i]);
    else if (e->running)
        for (uint32_t i = 0; i < count; i++) tbr_log(TB_LOG_INFO, "runtime", "deployed flow %s from %s", flows[i]->name, d->src->name);
    free(flows);
    return rc;
}

int tbr_engine_deploy(tbr_engine *e, const tbr_deployment *d, char *err, size_t n) { return deploy(e, d, NULL, err, n); }

int tbr_engine_deploy_owned(tbr_engine *e, tbr_deployment *d, tbr_source *src, char *err, size_t n) {
    tbr_document *doc = calloc(1, sizeof *doc);
    if (!doc) {
        snprintf(err, n, "out of memory");
        tbr_deployment_free(d);
        tbr_source_free(src);
        return TB_ENOMEM;
    }
    *doc = (tbr_document){d, src, 0};
    /* the flows hold it from the moment they are in; one extra reference covers the call */
    doc->refs = 1;
    int rc = deploy(e, d, doc, err, n);
    pthread_mutex_lock(&e->lock);
    bool last = --doc->refs == 0;
    pthread_mutex_unlock(&e->lock);
    if (last) {
        tbr_deployment_free(d);
        tbr_source_free(src);
        free(doc);
    }
    return rc;
}

const tbr_engine_opts *tbr_engine_opts_of(const tbr_engine *e) { return &e->opts; }
tbr_registry *tbr_engine_registry(tbr_engine *e) { return e->reg; }
void tbr_engine_lock(tbr_engine *e) { pthread_mutex_lock(&e->lock); }
void tbr_engine_unlock(tbr_engine *e) { pthread_mutex_unlock(&e->lock); }
size_t tbr_engine_stage_count(const tbr_engine *e) { return e->nstages; }
tbr_stage *tbr_engine_stage_at(const tbr_engine *e, size_t i) { return i < e->nstages ? e->stages[i] : NULL; }
size_t tbr_engine_flow_count(const tbr_engine *e) { return e->nflows; }
tbr_flow *tbr_engine_flow_at(const tbr_engine *e, size_t i) { return i < e->nflows ? e->flows[i] : NULL; }

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

static void ask_phase(tbr_stage *const *stages, uint32_t n, int phase) {
    for (uint32_t i = 0; i < n; i++) {
        atomic_store(&stages[i]->phase, phase);
        tbr_loop_wake(stages[i]->loop);
    }
}

/* Waits until every stage of stages has completed phase and (unless stopping) the messages
 * counted in live are gone, or until the deadline; returns whether it got there in time.
 * The control thread waits in its loop (signals still count), another thread sleeps. */
static bool wait_for(tbr_engine *e, tbr_stage *const *stages, uint32_t n, _Atomic int64_t *live, int phase,
                     uint64_t deadline, bool on_control) {
    for (;;) {
        bool done = true;
        for (uint32_t i = 0; i < n && done; i++) done = atomic_load(&stages[i]->phase_done) >= phase;
        if (done && (phase == TBR_PHASE_STOP || atomic_load(live) == 0)) return true;
        if (tbr_now_ns() >= deadline) return false;
        if (on_control) tbr_loop_run_once(e->control, 10);
        else nanosleep(&(struct timespec){0, 500000}, NULL);
    }
}

/* Walks stages through the phases: sources stop, in-flight events reach their sinks, windows
 * close, all stop; then joins their threads. Returns whether the drain finished in time. */
static bool drain(tbr_engine *e, tbr_stage *const *stages, uint32_t n, _Atomic int64_t *live, bool on_control) {
    uint64_t deadline = tbr_now_ns() + e->opts.drain_timeout_ns;
    bool drained = true;
    ask_phase(stages, n, TBR_PHASE_QUIESCE);
    drained = wait_for(e, stages, n, live, TBR_PHASE_QUIESCE, deadline, on_control) && drained;
    ask_phase(stages, n, TBR_PHASE_FLUSH);
    drained = wait_for(e, stages, n, live, TBR_PHASE_FLUSH, deadline, on_control) && drained;
    if (!drained)
        tbr_log(TB_LOG_WARN, "runtime", "drain timed out with %lld batches in flight", (long long)atomic_load(live));
    ask_phase(stages, n, TBR_PHASE_STOP);
    for (uint32_t i = 0; i < n; i++)
        if (stages[i]->started) pthread_join(stages[i]->thread, NULL);
    return drained;
}

int tbr_engine_undeploy(tbr_engine *e, const char *name, char *err, size_t n) {
    pthread_mutex_lock(&e->lock);
    uint32_t at = 0;
    tbr_flow *f = e->shutting_down ? NULL : find_flow(e, name, &at);
    if (!f) {
        if (e->shutting_down) snprintf(err, n, "the runtime is shutting down: every flow is being undeployed");
        else snprintf(err, n, "no flow named '%s' is deployed", name);
        pthread_mutex_unlock(&e->lock);
        return TB_EINVAL;
    }
    /* out of the lists first: metrics, status and reloads no longer see its stages */
    memmove(&e->flows[at], &e->flows[at + 1], (e->nflows - at - 1) * sizeof *e->flows);
    e->nflows--;
    uint32_t kept = 0;
    for (uint32_t i = 0; i < e->nstages; i++) {
        bool mine = false;
        for (uint32_t k = 0; k < f->nstages && !mine; k++) mine = e->stages[i] == f->stages[k];
        if (!mine) e->stages[kept++] = e->stages[i];
    }
    e->nstages = kept;
    pthread_mutex_unlock(&e->lock);

    tbr_log(TB_LOG_INFO, "runtime", "undeploying flow %s: draining", f->name);
    uint64_t t0 = tbr_now_ns();
    bool drained = !f->started || drain(e, f->stages, f->nstages, &f->live, false);
    /* its sources that had not ended no longer keep the runtime waiting for them */
    uint32_t ended_here = 0;
    for (uint32_t i = 0; i < f->nstages; i++)
        if (tbr_stage_is_connector(f->stages[i]) && tbr_connector_stage_has_source(f->stages[i]) &&
            !tbr_connector_stage_source_ended(f->stages[i]))
            ended_here++;
    if (f->started) {
        atomic_fetch_sub(&e->sources_live, ended_here);
        atomic_fetch_sub(&e->sources_total, f->sources);
    }
    if (drained) tbr_log(TB_LOG_INFO, "runtime", "undeployed flow %s (drained in %.1f ms)", f->name, (double)(tbr_now_ns() - t0) / 1e6);
    else snprintf(err, n, "flow %s: the drain timed out; what was still in flight was failed back to its sources", f->name);
    release_flow(e, f);
    tbr_engine_notify(e);
    return drained ? TB_OK : TB_ETIMEDOUT;
}

static bool all_sources_done(tbr_engine *e) {
    return e->opts.exit_when_done && atomic_load(&e->sources_total) && atomic_load(&e->sources_live) == 0 &&
           atomic_load(&tbr_msgs_in_flight) == 0;
}

/* The watchdog's round (control thread): stages stuck in one call are logged. */
static void TB_CALL watchdog(void *user, uint64_t timer_id) {
    tbr_engine *e = user;
    (void)timer_id;
    uint64_t now = tbr_now_ns(), budget = (uint64_t)e->opts.call_budget_ms * 1000000u;
    pthread_mutex_lock(&e->lock);
    for (uint32_t i = 0; i < e->nstages; i++) tbr_stage_watchdog(e->stages[i], now, budget);
    pthread_mutex_unlock(&e->lock);
}

int tbr_engine_run(tbr_engine *e) {
    if (!e->nstages && e->opts.exit_when_done) {
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
    pthread_mutex_lock(&e->lock);
    tbr_log(TB_LOG_INFO, "runtime", "running %u stages", e->nstages);
    e->running = true;
    for (uint32_t i = 0; i < e->nflows; i++)
        if (start_flow(e, e->flows[i])) {
            tbr_engine_request_shutdown(e, 1);
            break;
        }
    pthread_mutex_unlock(&e->lock);
    uint64_t every = (uint64_t)e->opts.call_budget_ms * 1000000u / 4, watchdog_id = 0;
    if (every > 1000000000u) every = 1000000000u;
    if (tbr_loop_timer_start(e->control, every, every, watchdog, e, &watchdog_id) != TB_OK)
        tbr_log(TB_LOG_WARN, "runtime", "no watchdog: stages stuck in a call will not be reported");
    while (atomic_load(&e->exit_code) < 0 && !all_sources_done(e)) tbr_loop_run_once(e->control, 100);
    /* a natural end leaves the exit code open: an exit connector reached while draining, or
     * stopped before its delay ran out, still decides it */

    /* from here the set of flows is fixed: every one of them drains together */
    pthread_mutex_lock(&e->lock);
    e->shutting_down = true;
    uint32_t n = e->nstages;
    tbr_stage **stages = malloc((n + 1) * sizeof *stages);
    if (stages && n) memcpy(stages, e->stages, n * sizeof *stages);
    pthread_mutex_unlock(&e->lock);
    /* an undeploy under way drains its own flow; it took it out of the list already */
    bool drained = stages ? drain(e, stages, n, &tbr_msgs_in_flight, true) : drain(e, e->stages, n, &tbr_msgs_in_flight, true);
    free(stages);
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

bool tbr_engine_shutting_down(tbr_engine *e) {
    pthread_mutex_lock(&e->lock);
    bool s = e->shutting_down;
    pthread_mutex_unlock(&e->lock);
    return s || atomic_load(&e->exit_code) >= 0;
}
