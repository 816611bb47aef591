/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Running helper programs (the OCI runtime, berth-shim, cp, ps) from a daemon.
 *
 * posix_spawn, which is safe in a threaded process (no fork of the whole address space, no
 * code of ours between fork and exec). The child starts with an empty signal mask and every
 * signal at its default disposition, whatever the daemon blocked or handled (a daemon's
 * loop blocks SIGTERM and SIGINT, and ignores SIGPIPE); its standard fds are /dev/null unless
 * the caller gives others. Every other fd of the daemon is close-on-exec, so nothing else
 * leaks into the child. Any thread.
 */
#ifndef BR_COMMON_SPAWN_H
#define BR_COMMON_SPAWN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "common/err.h"

#define BR_SPAWN_NULL (-1)    /* this standard fd of the child is /dev/null */
#define BR_SPAWN_INHERIT (-2) /* the child shares the caller's (a daemon's log, say) */

struct br_spawn {
	const char *const *argv; /* argv[0] is the program: a path, or a name when `search` */
	bool search;             /* look argv[0] up in PATH (posix_spawnp) */
	int std[3];              /* fds of the caller that become the child's 0, 1, 2, or
	                          * BR_SPAWN_NULL or BR_SPAWN_INHERIT; a fd may be given twice */
	const char *const *envp; /* the child's environment; NULL: the daemon's own */
	bool own_group;          /* the child leads a new process group, so that a caller that
	                          * gives up on it can kill it and what it started at once */
};

/* Start the child. 0 with *ret_pid, or -1: FAILED_PRECONDITION when the program does not
 * exist, INTERNAL otherwise; the message names the program. */
int br_spawn_start(const struct br_spawn *s, pid_t *ret_pid, br_err *err);

/* Wait for child `pid` to end (EINTR retried) and give its wait status. */
int br_spawn_wait(pid_t pid, int *ret_status, br_err *err);

/* Exit code of a wait status, or -1 when the child did not exit (killed by a signal). */
int br_spawn_exit_code(int status);

/*
 * Run argv (std[0] /dev/null) to its end. What it writes to the fds in `capture` (bit 1:
 * stdout, bit 2: stderr; the others are /dev/null) is collected into *ret_out, a heap string
 * of at most `max` bytes with trailing whitespace removed (more is read and dropped, and
 * *ret_truncated set; both out-parameters may be NULL). 0 with the wait status in
 * *ret_status, whatever the exit code; -1 when the program could not be started or waited for.
 */
#define BR_SPAWN_CAPTURE_STDOUT 1
#define BR_SPAWN_CAPTURE_STDERR 2
int br_spawn_run(const char *const *argv, bool search, int capture, size_t max, char **ret_out,
                 bool *ret_truncated, int *ret_status, br_err *err);

#endif
