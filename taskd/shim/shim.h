/* SPDX-License-Identifier: Apache-2.0 */
/*
 * berth-shim internals: the state of the one container a shim supervises, shared by its
 * files (runtime.c runs the OCI runtime, output.c copies the container's output to the log
 * files, server.c answers on shim.sock, stream.c serves the clients' streams (attach) and the
 * processes' input, exec.c runs exec'd processes, console.c receives a terminal from the
 * runtime, shim.c owns the poll loop, reaping and the exit).
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
#include "common/stream.h"

#define SHIM_MAX_CONNS 32
#define SHIM_CREATE_TIMEOUT_MS 120000
#define SHIM_RUNTIME_TIMEOUT_MS 60000
#define SHIM_KILL_TIMEOUT_MS 15000
#define SHIM_DRAIN_MS 2000       /* wait for the output pipes to close after the exit */
#define SHIM_DELETE_REAP_MS 5000 /* wait for the init to be reaped after a forced delete */

#define SHIM_MAX_STREAMS 16
#define SHIM_MAX_EXECS 16
#define SHIM_UNCLAIMED_MAX 16 /* exits of pids not known yet (an exec's, early) */
#define SHIM_CHUNK 65536      /* the most one turn of the loop takes of a process's output */
#define SHIM_STREAM_OUT_MAX (256u << 10) /* frames waiting for one client */
#define SHIM_INPUT_MAX (256u << 10)      /* input waiting for one process */

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

/* A byte queue with a fixed capacity, allocated on first use. */
struct shim_buf {
	char *data;
	size_t off, len, cap;
};

/* Input on its way to a process: the write end of its stdin pipe or its terminal. */
struct shim_input {
	int fd;      /* -1: none (or closed) */
	bool shared; /* fd is the pty master, also read for output: never closed here */
	bool close_when_empty;
	struct shim_buf buf;
};

/* A client's stream (common/stream.h): attached to the init (exec < 0) or to an exec. */
struct shim_stream {
	int fd; /* -1: free slot */
	int exec;
	bool stdin;       /* its STDIN frames feed the process */
	bool close_stdin; /* its STDIN_CLOSE (or its end) closes the process's input */
	bool done;        /* EXIT queued: closed once written */
	uint8_t head[BR_STREAM_HEADER_LEN];
	size_t head_len;
	enum br_stream_type type; /* of the frame being read */
	uint32_t need;            /* its payload bytes still to come */
	uint8_t small[4];         /* a RESIZE payload */
	size_t small_len;
	struct shim_buf out;
};

/* A process started by `exec`. */
struct shim_exec {
	bool used;
	char id[BR_SHIM_EXEC_ID_MAX + 1];
	pid_t pid;
	bool reaped;
	int64_t status;
	int64_t drain_deadline;
	int out_fd[2]; /* read ends of its stdout and stderr pipes; a terminal's master in [0] */
	int master;    /* the pty master, or -1 */
	struct shim_input in;
	int stream; /* its client, or -1 once gone */
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

	bool terminal;   /* the init has a pty (--terminal) */
	bool open_stdin; /* the init's stdin is a pipe the shim holds (--stdin) */
	int master;      /* the init's pty master, or -1 */
	int stdin_r;     /* read end of the init's stdin pipe, for create; closed after */
	struct shim_input init_in;
	struct shim_stream streams[SHIM_MAX_STREAMS];
	struct shim_exec execs[SHIM_MAX_EXECS];
	struct {
		pid_t pid;
		int wstatus;
	} unclaimed[SHIM_UNCLAIMED_MAX];
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
/* The same with the child's stdin `in_fd` (-1: /dev/null) and, when the runtime's stderr is a
 * process's pipe (err_fd >= 0), that pipe's read end to take its message from on failure. */
int shim_runtime_run_stdio(struct shim *s, const char *const *args, int in_fd, int out_fd,
                           int err_fd, int err_read_fd, int timeout_ms, br_err *err);

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
/* Read what a failed create or exec left in its stderr pipe `fd` (the runtime's message). */
void shim_output_take_stderr(int fd, char *buf, size_t cap);
bool shim_output_open_pipes(const struct shim *s);
/* After a create with a terminal: its master replaces the output pipes (as stdout). */
void shim_output_use_terminal(struct shim *s);
void shim_output_close(struct shim *s);

/* ---- console.c ---- */

/* Run the runtime with args[0..n) followed by --console-socket SOCKET and the container's id
 * (args has room for 4 more), and receive the terminal it made for the process into
 * *ret_master. The socket is `name` in the state directory (in /tmp when that path would be
 * too long for a socket). Errors: the runtime's. */
int shim_runtime_run_terminal(struct shim *s, const char **args, size_t n, const char *name,
                              int timeout_ms, int *ret_master, br_err *err);
/* Set a terminal's size; 0 rows or cols: left as it is. */
void shim_console_resize(int master, uint32_t rows, uint32_t cols);

/* ---- stream.c ---- */

/* Take a client's stream (the REPLY frame is queued first); -1 with RESOURCE_EXHAUSTED when
 * every slot is taken (the caller still owns fd then). */
int shim_stream_add(struct shim *s, int fd, int exec, bool stdin, bool close_stdin, br_err *err);
/* Whether every stream of `exec` (-1: the init's) can take one more chunk of output. */
bool shim_streams_room(const struct shim *s, int exec);
/* Queue a frame on every stream of `exec` (-1: the init's). */
void shim_streams_send(struct shim *s, int exec, enum br_stream_type type, const void *data,
                       size_t len);
/* Queue EXIT on every stream of `exec`; they close once it is written. */
void shim_streams_exit(struct shim *s, int exec, int64_t status);
/* Write what the streams still hold (the shim is leaving), for at most `timeout_ms` in all. */
void shim_streams_flush(struct shim *s, int timeout_ms);
/* poll(2) events for stream i, and the work when they come. */
short shim_stream_events(const struct shim *s, int i);
void shim_stream_handle(struct shim *s, int i, short revents);
void shim_stream_close(struct shim *s, int i);
/* Act on input bytes from stream i's client (any split of its frames): STDIN into the
 * process's input, STDIN_CLOSE, RESIZE. -1 on a malformed frame (the caller closes). */
int shim_stream_input(struct shim *s, int i, const uint8_t *data, size_t len);
/* poll(2) events for an input, and writing what it holds when POLLOUT comes. */
short shim_input_events(const struct shim_input *in);
void shim_input_flush(struct shim_input *in);
void shim_input_close(struct shim_input *in);

/* ---- exec.c ---- */

/* Start the exec of `req` (its process in exec-<id>.json) joined to stream `fd`; its pid in
 * *ret_pid (0 when it did not start). The stream is the shim's from then on whatever happens
 * (a failed exec is told on it): returns -1 only when the shim could not take it (the caller
 * still owns fd). */
int shim_exec_start(struct shim *s, const struct br_shim_req *req, int fd, pid_t *ret_pid,
                    br_err *err);
/* A child exited: true if it was an exec's. */
bool shim_exec_reaped(struct shim *s, pid_t pid, int wstatus);
/* Copy what is readable on exec i's output j to its stream (or drop it without one). */
void shim_exec_pump(struct shim *s, int i, int j);
/* Announce the exits of execs whose output is drained (or whose drain time is up). */
void shim_exec_announce(struct shim *s, int64_t now);
/* The earliest drain deadline of an exec, 0 when none. */
int64_t shim_exec_next_deadline(const struct shim *s);
/* The stream of an exec went away: end its input (a terminal's session gets a hang-up). */
void shim_exec_stream_gone(struct shim *s, int i);

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
/* The wait status of `pid` if it was reaped before anyone claimed it (removes it). */
bool shim_claim_exit(struct shim *s, pid_t pid, int *ret_wstatus);
/* The exit status of a wait status: the code, or 128 + the signal. */
int64_t shim_exit_status(int wstatus);
/* The poll loop, until s->quit. */
int shim_run(struct shim *s, br_err *err);
/* Remove shim.sock and shim.pid; called on the way out. */
void shim_cleanup_files(struct shim *s);
int64_t shim_now_ms(void);
int64_t shim_wall_ms(void);

#endif
