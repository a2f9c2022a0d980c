/*
 * sandbox.h - confining the calling process (a plugin host) to what the operator granted, before
 * any plugin code runs: no new privileges, rlimits, Landlock for the file system (and TCP ports
 * where the kernel's Landlock has network rules), seccomp for the system calls that grants
 * cover (sockets, processes). Irreversible: apply it in the process to be confined, never in
 * the runtime.
 *
 * Granted file-system access is read (files and directories below a path) or write (also
 * creating and removing below it). The dynamic linker and libc need to read the system's
 * libraries, so the host always gets read and execute on /lib, /lib64, /usr/lib, /usr/lib64,
 * /etc/ld.so.cache and /proc/self (its own memfd copies). A grant of no network refuses socket() for
 * every family (the channel to the runtime is shared memory, not a socket). A grant of no processes refuses fork, vfork, clone without
 * CLONE_THREAD (threads stay allowed) and execve.
 *
 * When the kernel lacks a feature (no Landlock, an older Landlock without network rules), mode
 * says what happens: TBR_SANDBOX_REQUIRE refuses (TB_ENOTSUP, err names the missing feature);
 * TBR_SANDBOX_DEGRADE goes on and says in report what is not enforced. Never silently.
 *
 * Ownership: the caller owns the grants. Thread contract: call it in a single-threaded process
 * (a freshly started host), before loading the plugin; Landlock and seccomp apply to the calling
 * thread and the threads it creates afterwards.
 */
#ifndef TBR_ISOLATE_SANDBOX_H
#define TBR_ISOLATE_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum tbr_sandbox_mode {
    TBR_SANDBOX_REQUIRE = 0, /* a feature the grants need is missing: refuse */
    TBR_SANDBOX_DEGRADE      /* go on without it, and say so */
} tbr_sandbox_mode;

typedef struct tbr_sandbox_grants {
    const char *const *read_paths; /* readable (files and directories below each) */
    size_t nread;
    const char *const *write_paths; /* readable and writable, creation and removal included */
    size_t nwrite;
    bool net;                       /* sockets at all */
    const uint16_t *tcp_connect;    /* with net: TCP ports it may connect to (NULL: any) */
    size_t ntcp_connect;
    const uint16_t *tcp_bind;       /* with net: TCP ports it may listen on (NULL: any) */
    size_t ntcp_bind;
    bool processes;                 /* fork and execve */
    uint64_t memory_bytes;          /* RLIMIT_AS; 0: not limited */
    uint64_t open_files;            /* RLIMIT_NOFILE; 0: not limited */
} tbr_sandbox_grants;

/* Confines the calling process to g. TB_OK with what was enforced (and what was not, with
 * TBR_SANDBOX_DEGRADE) in report; or an error with the reason in err, the process then
 * possibly half-confined (the caller exits). */
int tbr_sandbox_apply(const tbr_sandbox_grants *g, tbr_sandbox_mode mode, char *report, size_t report_size,
                      char *err, size_t err_size);

/* The Landlock ABI version of the running kernel, 0 when it has none (or it is disabled). */
int tbr_sandbox_landlock_abi(void);

#endif
