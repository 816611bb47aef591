/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The berth-shim protocol: what taskd (or a test) says to the one shim that supervises a
 * container, and the state files the shim keeps so that taskd finds it again after a restart.
 *
 * Starting: taskd runs `berth-shim ID BUNDLE RUNTIME STATE_DIR` with a pipe as stdout. The
 * process detaches (double fork, new session; it is reparented and outlives taskd), runs
 * `RUNTIME create`, writes ONE br_shim_reply to that pipe (the created state, or the runtime's
 * error) and closes it. br_shim_read_report() reads it.
 *
 * Talking: <STATE_DIR>/shim.sock is an AF_UNIX SOCK_SEQPACKET socket (mode 0600). Each packet
 * is one msgpack map: a request br_shim_req, answered by one packet br_shim_reply, in order,
 * per connection. Methods:
 *
 *   state                 -> the current state
 *   start                 -> `RUNTIME start`; the state (status "running")
 *   kill {signal, all}    -> `RUNTIME kill [--all] ID SIGNAL` (signal 0: SIGTERM)
 *   pause, resume         -> `RUNTIME pause ID`, `RUNTIME resume ID` (freeze, thaw); the state
 *                            (the shim keeps no record of it: taskd does)
 *   wait {timeout_ms}     -> answered when the exit is announced, or when timeout_ms (> 0)
 *                            has passed (then `exited` is false); other requests on the same
 *                            connection wait behind it
 *   delete {force}        -> `RUNTIME delete [--force] ID`, then the final state; the shim
 *                            exits after this reply. Refused while the init runs, unless force.
 *   shutdown              -> the shim exits; refused while the init runs
 *   exec {exec_id, terminal, stdin, rows, cols} + a stream fd (SCM_RIGHTS)
 *                         -> `RUNTIME exec --detach --process <STATE_DIR>/exec-<exec_id>.json`
 *                            (written by the caller), its stdio (pipes or a pty) joined to the
 *                            stream (common/stream.h); the stream gets the REPLY frame, then
 *                            output frames and finally EXIT. The reply here says only whether
 *                            the shim took the stream (an exec that fails is told on it).
 *   attach {stdin, close_stdin, rows, cols} + a stream fd
 *                         -> the stream gets the init's output from now on (the log keeps all
 *                            of it) and, with stdin, feeds the init's stdin or terminal; EXIT
 *                            when the init's exit is announced
 *
 * An error reply carries `code` (a br_code name) and `msg`; the runtime's own message is
 * passed on verbatim ("runc create failed: unable to start container process: exec: \"nope\":
 * executable file not found in $PATH").
 *
 * State files in STATE_DIR (all written by the shim):
 *   shim.pid    the shim's pid (written before the socket exists)
 *   shim.sock   the socket above
 *   pid         the container init's pid (the runtime's --pid-file)
 *   exit        "<exit_status> <exited_at_ms>[ oom]\n", written atomically (tmp, fsync, rename)
 * before the exit is announced to anyone stdout.log, stderr.log   the container's output, appended
 *   runtime.log the runtime's own log (--log, JSON lines); shim.log the shim's diagnostics
 *
 * The helpers below are for clients; they use only libc and msgpack-c, block, and may be
 * called from any thread.
 */
#ifndef BR_COMMON_PROTO_SHIM_H
#define BR_COMMON_PROTO_SHIM_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/err.h"
#include "common/msg.h"

#define BR_SHIM_VERSION 1
#define BR_SHIM_MSG_MAX 8192 /* one request or reply packet */
#define BR_SHIM_EXEC_ID_MAX 64
#define BR_SHIM_SOCKET "shim.sock"
#define BR_SHIM_PID_FILE "shim.pid"
#define BR_SHIM_INIT_PID_FILE "pid"
#define BR_SHIM_EXIT_FILE "exit"
#define BR_SHIM_STDOUT_LOG "stdout.log"
#define BR_SHIM_STDERR_LOG "stderr.log"

struct br_shim_req {
	uint32_t v;
	const char *m;      /* "state" | "start" | "kill" | "pause" | "resume" | "wait" | "delete" |
	                     * "shutdown" */
	uint32_t signal;    /* kill: 1..64, 0 = SIGTERM */
	bool all;           /* kill: every process of the container */
	bool force;         /* delete: also when the init still runs */
	int64_t timeout_ms; /* wait: 0 = until the exit */
	const char *exec_id; /* exec */
	bool terminal;       /* exec: a pty */
	bool stdin;          /* exec, attach: the stream feeds the process's input */
	bool close_stdin;    /* attach: the stream's end of input closes the init's stdin */
	uint32_t rows, cols; /* exec, attach: the terminal's size (0: leave it) */
};
extern const struct br_schema br_shim_req_schema;

struct br_shim_reply {
	uint32_t v;
	const char *code; /* absent on success; a br_code name otherwise */
	const char *msg;  /* the error message */
	const char *id;
	const char *status; /* "created" | "running" | "stopped" */
	uint32_t pid;       /* the container init */
	uint32_t shim_pid;
	bool exited;         /* the exit is recorded and announced */
	int64_t exit_status; /* code, or 128 + signal */
	int64_t exited_at;   /* ms since the epoch */
	uint32_t exec_pid;   /* exec: the process started (0: it did not; its stream says why) */
	bool oom_killed;     /* with exited: the OOM killer killed in the container's cgroup */
};
extern const struct br_schema br_shim_reply_schema;

/*
 * Connect to <state_dir>/shim.sock (paths longer than sun_path are reached through
 * /proc/self/fd). Returns a blocking, close-on-exec fd, or -1: UNAVAILABLE when nobody listens
 * (the shim is gone), NOT_FOUND when there is no socket file.
 */
int br_shim_connect(const char *state_dir, br_err *err);

/*
 * Send `req` on `fd` and wait at most `timeout_ms` (< 0: forever) for the reply, decoded into
 * `ret` with strings in `arena` (owned by the caller). An error reply returns -1 with the
 * shim's code and message; DEADLINE_EXCEEDED when the time is up; UNAVAILABLE when the
 * connection closes (the shim exited).
 */
int br_shim_call(int fd, const struct br_shim_req *req, int timeout_ms, br_arena *arena,
                 struct br_shim_reply *ret, br_err *err);

/* br_shim_call() with `pass_fd` attached to the request (SCM_RIGHTS): exec and attach. */
int br_shim_call_passing(int fd, const struct br_shim_req *req, int pass_fd, int timeout_ms,
                         br_arena *arena, struct br_shim_reply *ret, br_err *err);

/* One call on a fresh connection: br_shim_connect() + br_shim_call() + close. */
int br_shim_call_at(const char *state_dir, const struct br_shim_req *req, int timeout_ms,
                    br_arena *arena, struct br_shim_reply *ret, br_err *err);

/*
 * Read the shim's start report from `fd` (the read end of its stdout pipe) until EOF, for at
 * most `timeout_ms`. Returns 0 with the created state, or -1 with the shim's error (the
 * runtime's message), DEADLINE_EXCEEDED, or INTERNAL when the shim exited without a report.
 */
int br_shim_read_report(int fd, int timeout_ms, br_arena *arena, struct br_shim_reply *ret,
                        br_err *err);

/* Encode a reply (the shim's side); `out` is initialised by the caller. */
void br_shim_reply_pack(msgpack_sbuffer *out, const struct br_shim_reply *reply);

/* Write the exit file in `dirfd` atomically: "<status> <exited_at>\n" to a temporary file,
 * fsync, rename, fsync of the directory. */
int br_shim_write_exit(int dirfd, int64_t exit_status, int64_t exited_at, br_err *err);

/* Read the exit file: NOT_FOUND when absent, INVALID_ARGUMENT when malformed. */
int br_shim_read_exit(int dirfd, int64_t *ret_status, int64_t *ret_exited_at, br_err *err);

/* The same with the OOM flag: the exit file is "<status> <exited_at> oom\n" when the kernel's
 * OOM killer killed a process of the container's memory cgroup before the init was reaped. */
int br_shim_write_exit_oom(int dirfd, int64_t exit_status, int64_t exited_at, bool oom_killed,
                           br_err *err);
int br_shim_read_exit_oom(int dirfd, int64_t *ret_status, int64_t *ret_exited_at,
                          bool *ret_oom_killed, br_err *err);

/* Read a pid file ("<pid>" with optional newline) in `dirfd`: NOT_FOUND when absent. */
int br_shim_read_pid(int dirfd, const char *name, pid_t *ret_pid, br_err *err);

#endif
