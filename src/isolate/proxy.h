/*
 * proxy.h - the runtime's side of an isolated instance (docs/isolation.md): an instance that
 * looks to the runtime like any plugin's (a component whose vtable the engine calls as ever),
 * and that runs the real one in a plugin host process, supervised:
 *   - every call is a request on the channel; the batch crosses in the wire format, and the
 *     reply's events come back into the caller's batch and arena;
 *   - a host that dies (signal, exit), does not answer within the call budget (killed) or
 *     breaks the protocol (killed) is logged with the reason, started again with backoff
 *     (100 ms doubling to 10 s) and sent the same call again: the runtime still holds the
 *     batch, so nothing is lost;
 *   - after 5 failures in 60 s the instance is quarantined: its calls fail at once, naming the
 *     last failure, so its events go to err (operators) or fail back to their sources.
 *
 * Codecs, preprocessors, postprocessors and operators can be isolated; connectors cannot yet
 * (tbr_proxy_create refuses them, saying so).
 *
 * Ownership: the proxy owns its host process, channel and copies of the setup; the component
 * it returns lives inside it and dies with destroy. Thread contract: create and destroy on the
 * control thread; the kind's calls on one thread at a time, as for any instance (a restart
 * sleeps and forks on that thread).
 */
#ifndef TBR_ISOLATE_PROXY_H
#define TBR_ISOLATE_PROXY_H

#include <stdbool.h>
#include <stddef.h>
#include <temblor/temblor.h>

#include "isolate/isolation.h"
#include "plugin/plugin.h"

/* Starts a plugin host for an instance of real created with args (whose config is the
 * validated configuration), isolated as iso says. TB_OK with *out_state (the proxy) and
 * *out_component (the component to call it through), or an error with one line in err. */
int tbr_proxy_create(const tbr_component *real, const tb_create_args *args, const char *label,
                     const tbr_isolation *iso, void **out_state, const tbr_component **out_component, char *err,
                     size_t err_size);

/* Asks a plugin host, confined with nothing granted, to check and describe the library at path
 * (described.h): TB_OK with the description in *out (in arena), or an error with one line in
 * err naming path. */
int tbr_proxy_describe(const char *path, tb_arena *arena, tb_value *out, char *err, size_t err_size);

/* A codec's decode (or encode) in two halves, so the caller can work while the host does it:
 * submit sends batch b (TB_OK), or declines (TB_EAGAIN: call decode instead); complete waits
 * for the reply and applies it to b (the same batch, known by its events: the tb_batch itself
 * may have moved), as decode does, supervised as decode is (a host that failed meanwhile is
 * restarted and b sent again). At most two batches are ahead at once, completed in the order
 * they were submitted; no other call of the instance may come between a submit and its
 * complete. The instance's thread. */
int tbr_proxy_codec_submit(void *state, tb_batch *b, bool encode);
int tbr_proxy_codec_complete(void *state, tb_batch *b, bool encode);

/* The pid of the proxy's current plugin host (0 while none runs), for status and tests. */
int tbr_proxy_host_pid(const void *state);

#endif
