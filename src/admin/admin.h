/*
 * admin.h - the admin interface of a running runtime: JSON requests over a Unix socket (file
 * permissions are the access control) and, optionally, HTTP on loopback with a bearer
 * token; plugins loaded, unloaded and reloaded, flows deployed, undeployed and inspected
 * (docs/admin.md has the protocol). The same thread watches plugin libraries for
 * `run --watch-plugins` and unmaps retired plugins when that is safe.
 *
 * Requests run one at a time, whichever transport brings them: each may take as long as a
 * drain (seconds), during which the others wait.
 *
 * Ownership: the admin borrows the engine (which must outlive it) and owns its thread,
 * sockets and watches. Thread contract: start and stop on the control thread;
 * tbr_admin_execute from any thread.
 */
#ifndef TBR_ADMIN_ADMIN_H
#define TBR_ADMIN_ADMIN_H

#include <stdbool.h>
#include <stddef.h>

#include "engine/engine.h"

typedef struct tbr_admin tbr_admin;
struct tbr_loop;

typedef struct tbr_admin_opts {
    const char *socket_path; /* NULL: no Unix socket */
    const char *http_addr;   /* "127.0.0.1:PORT" or "[::1]:PORT"; NULL: no HTTP */
    const char *token;       /* the bearer token HTTP requests must carry (required with HTTP) */
    bool watch_plugins;      /* reload a plugin when its library file changes */
} tbr_admin_opts;

/* Starts the admin thread. NULL with one line in err when a socket cannot be made. */
tbr_admin *tbr_admin_start(tbr_engine *e, const tbr_admin_opts *opts, char *err, size_t err_size);

/* Stops the thread (after the request under way, if any) and removes the socket. NULL is
 * ignored. */
void tbr_admin_stop(tbr_admin *a);

/* Runs one request (JSON text) and returns the response, one line of JSON, malloc'd (NULL
 * only when out of memory). Any thread; requests are serialised. */
char *tbr_admin_execute(tbr_admin *a, const char *request, size_t len);

/* Internal to src/admin/: the request handler (commands.c) and the watcher (watch.c). */
char *tbr_admin_run_command(tbr_engine *e, const char *request, size_t len);
typedef struct tbr_plugin_watch tbr_plugin_watch;
tbr_plugin_watch *tbr_plugin_watch_start(tbr_admin *a, tbr_engine *e, struct tbr_loop *loop, char *err, size_t err_size);
void tbr_plugin_watch_stop(tbr_plugin_watch *w);
/* The HTTP transport (http.c): NULL with one line in err when it cannot listen. */
typedef struct tbr_admin_http tbr_admin_http;
tbr_admin_http *tbr_admin_http_start(tbr_admin *a, const char *addr, const char *token, char *err, size_t err_size);
void tbr_admin_http_stop(tbr_admin_http *h);

#endif
