/* SPDX-License-Identifier: Apache-2.0 */
/*
 * berth-shim internals: the state of the one container a shim supervises, shared by its
 * files (runtime.c runs the OCI runtime, output.c copies the container's output to the log
 * files, server.c answers on shim.sock, shim.c owns the poll loop, reaping and the exit).
 * The shim is one thread; nothing here is thread-safe.
 */
#ifndef BR_TASKD_SHIM_SHIM_H
#define BR_TASKD_SHIM_SHIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/crilog.h"
#include "common/err.h"
#include "common/proto/shim.h"

#define SHIM_MAX_CONNS 32
#define SHIM_CREATE_TIMEOUT_MS 120000
#define SHIM_RUNTIME_TIMEOUT_MS 60000
#define SHIM_KILL_TIMEOUT_MS 15000
#define SHIM_DRAIN_MS 2000       /* wait for the output pipes to close after the exit */
#define SHIM_DELETE_REAP_MS 5000 /* wait for the init to be reaped after a forced delete */

enum shim_status {
	SHIM_CREATED,
	SHIM_RUNNING,
	SHIM_STOPPED,
};

enum conn_pending {
	CONN_IDLE,
	CONN_WAIT,   /* a wait request, answered at the exit or its deadline */
	CONN_DELETE, /* a delete, answered once the init is reaped (or at the deadline) */
};

struct shim_conn {
	int fd; /* -1: free slot */
	enum conn_pending pending;
	int64_t deadline; /* monotonic ms; 0: none */
};

struct shim_output {
	int pipe_fd; /* read end of the container's stdout or stderr; -1 once closed */
	int log_fd;  /* without a log dir: stdout.log / stderr.log, O_APPEND; else -1 */
	const char *name;
};

struct shim {
	const char *id;
	const char *bundle;
	const char *runtime;
	const char *runtime_root; /* --root for the runtime; NULL: its default */
	const char *state_dir;
	int state_dirfd;
	const char *log_dir; /* the CRI log directory; NULL: raw files in the state dir */
	int log_dirfd;
	int64_t log_max_size;
	int log_max_files;
	struct br_crilog_writer log;

	enum shim_status status;
	pid_t init_pid;
	bool init_reaped;    /* the init's exit is known and in the exit file */
	bool exit_announced; /* output drained, waiters answered */
	int64_t exit_status;
	int64_t exited_at;
	int64_t drain_deadline; /* while the output pipes drain after the exit */
	char *oom_file;         /* the memory cgroup's oom_kill counter; NULL: unknown */
	int64_t oom_base;       /* its value after create; -1: unreadable */
	bool oom_killed;        /* the count grew by the time the init was reaped */

	int signal_fd;
	int listen_fd;
	int devnull_fd;
	int stdout_w, stderr_w; /* write ends for the runtime's create; closed after it */
	struct shim_output out[2];
	struct shim_conn conns[SHIM_MAX_CONNS];
	bool quit;
};

/* ---- runtime.c ---- */

/*
 * Run `<runtime> --log <state>/runtime.log --log-format json ARGS...` and wait for it, at most
 * `timeout_ms`. The child's stdin is /dev/null; with out_fd/err_fd >= 0 those become its
 * stdout and stderr (the container's pipes, for create), otherwise stdout is /dev/null and
 * stderr is captured. A non-zero exit returns -1 with the runtime's message (its stderr, or
 * the last error of its JSON log), coded by shim_runtime_code().
 */
int shim_runtime_run(struct shim *s, const char *const *args, int out_fd, int err_fd,
                     int timeout_ms, br_err *err);

/* The br_code for a runtime failure message: NOT_FOUND for an executable that is not found,
 * PERMISSION_DENIED for "permission denied", FAILED_PRECONDITION otherwise. */
br_code shim_runtime_code(const char *msg);

/* ---- oom.c ---- */

/* After create: find the init's memory cgroup and read its oom_kill count (s->oom_*). */
void shim_oom_init(struct shim *s);
/* After the init is reaped: whether the count grew since shim_oom_init. */
bool shim_oom_killed(const struct shim *s);

/* ---- output.c ---- */

/* Open the log files and create the two pipes whose write ends the runtime passes to the
 * container (s->stdout_w, s->stderr_w). */
int shim_output_open(struct shim *s, br_err *err);
/* Copy what is readable on out[i] to its log; closes the pipe at EOF. Never blocks. */
void shim_output_pump(struct shim *s, int i);
/* Copy everything readable now on both pipes, without waiting. */
void shim_output_drain(struct shim *s);
/* Read what a failed create left in the stderr pipe (the runtime's own message). */
void shim_output_take_stderr(struct shim *s, char *buf, size_t cap);
bool shim_output_open_pipes(const struct shim *s);
void shim_output_close(struct shim *s);

/* ---- server.c ---- */

int shim_server_listen(struct shim *s, br_err *err);
void shim_server_accept(struct shim *s);
/* Handle what is readable on connection `i`. */
void shim_server_handle(struct shim *s, int i);
/* Answer pending waits (and deletes) after the exit was announced, or whose deadline passed. */
void shim_server_wake(struct shim *s, int64_t now);
void shim_server_close_conn(struct shim *s, int i);
/* Fill a reply with the current state. */
void shim_state_reply(const struct shim *s, struct br_shim_reply *r);
/* Send a packed reply on connection `i` (closes it on failure). */
void shim_server_send(struct shim *s, int i, const struct br_shim_reply *r);
void shim_server_send_error(struct shim *s, int i, const br_err *err);

/* ---- shim.c ---- */

/* Create the container: `<runtime> create`, then read the init's pid. */
int shim_create(struct shim *s, br_err *err);
/* Reap every child that exited; records the init's exit (exit file first). */
void shim_reap(struct shim *s);
/* The poll loop, until s->quit. */
int shim_run(struct shim *s, br_err *err);
/* Remove shim.sock and shim.pid; called on the way out. */
void shim_cleanup_files(struct shim *s);
int64_t shim_now_ms(void);
int64_t shim_wall_ms(void);

#endif
