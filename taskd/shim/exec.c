/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Exec'd processes. taskd writes the process (an OCI process object) to exec-<id>.json in the
 * state directory and hands the client's stream over with the `exec` request; the shim runs
 * `RUNTIME exec --detach --process FILE --pid-file exec-<id>.pid ID` with pipes (or, for a
 * terminal, a console socket) as the process's stdio. The process is then the shim's child
 * (the shim is the subreaper and the runtime has exited), so its exit comes with the others'
 * SIGCHLD. Its output goes to its stream only: an exec's output is not the container's log, as
 * under docker. When the stream goes, the process's input ends (a terminal hangs up) and its
 * output is read and dropped, so it never blocks on a full pipe.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "taskd/shim/shim.h"

static void
close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static void
exec_free(struct shim *s, int i)
{
	struct shim_exec *e = &s->execs[i];

	shim_input_close(&e->in);
	close_fd(&e->out_fd[0]);
	close_fd(&e->out_fd[1]);
	e->master = -1;
	e->used = false;
}

/* Tell the client why its exec did not start and let the stream go. */
static void
refuse(int fd, const br_err *why)
{
	br_err ignored = BR_ERR_INIT;

	br_stream_write_reply(fd, why, &ignored);
	close(fd);
}

static int
find_slot(struct shim *s, const char *id, br_err *err)
{
	int free_slot = -1;

	for (int i = 0; i < SHIM_MAX_EXECS; i++) {
		if (!s->execs[i].used) {
			if (free_slot < 0)
				free_slot = i;
		} else if (strcmp(s->execs[i].id, id) == 0) {
			return br_err_set(err, BR_ALREADY_EXISTS, "exec \"%s\" already runs in %s",
			                  id, s->id);
		}
	}
	if (free_slot < 0)
		return br_err_set(err, BR_RESOURCE_EXHAUSTED,
		                  "container %s runs %d execs already; wait for one to end", s->id,
		                  SHIM_MAX_EXECS);
	return free_slot;
}

/* Run the runtime's exec for slot i; on success e->pid and its stdio are set. */
static int
run_exec(struct shim *s, const struct br_shim_req *req, struct shim_exec *e, br_err *err)
{
	char process[4200], pid_name[128], pid_path[4200];
	int in_p[2] = {-1, -1}, out_p[2] = {-1, -1}, err_p[2] = {-1, -1};
	int rc = -1;
	const char *args[12] = {0};
	size_t n = 0;

	snprintf(process, sizeof(process), "%s/exec-%s.json", s->state_dir, e->id);
	snprintf(pid_name, sizeof(pid_name), "exec-%s.pid", e->id);
	snprintf(pid_path, sizeof(pid_path), "%s/%s", s->state_dir, pid_name);
	args[n++] = "exec";
	args[n++] = "--detach";
	args[n++] = "--process";
	args[n++] = process;
	args[n++] = "--pid-file";
	args[n++] = pid_path;
	if (req->terminal) {
		char name[128];
		snprintf(name, sizeof(name), "exec-%s.console", e->id);
		rc = shim_runtime_run_terminal(s, args, n, name, SHIM_RUNTIME_TIMEOUT_MS,
		                               &e->master, err);
		if (rc < 0)
			goto out;
		e->out_fd[0] = e->master;
		e->in = (struct shim_input){.fd = req->stdin ? e->master : -1,
		                            .shared = true,
		                            .buf.cap = SHIM_INPUT_MAX};
		shim_console_resize(e->master, req->rows, req->cols);
	} else {
		args[n++] = s->id;
		if ((req->stdin && pipe2(in_p, O_CLOEXEC) < 0) || pipe2(out_p, O_CLOEXEC) < 0 ||
		    pipe2(err_p, O_CLOEXEC) < 0) {
			rc = br_err_errno(err, BR_INTERNAL, errno, "pipes for exec %s", e->id);
			goto out;
		}
		fcntl(err_p[0], F_SETFL, O_NONBLOCK);
		rc = shim_runtime_run_stdio(s, args, in_p[0], out_p[1], err_p[1], err_p[0],
		                            SHIM_RUNTIME_TIMEOUT_MS, err);
		if (rc < 0)
			goto out;
		fcntl(out_p[0], F_SETFL, O_NONBLOCK);
		fcntl(in_p[1] >= 0 ? in_p[1] : out_p[0], F_SETFL, O_NONBLOCK);
		e->out_fd[0] = out_p[0];
		e->out_fd[1] = err_p[0];
		out_p[0] = err_p[0] = -1;
		e->in = (struct shim_input){.fd = in_p[1], .buf.cap = SHIM_INPUT_MAX};
		in_p[1] = -1;
	}
	rc = br_shim_read_pid(s->state_dirfd, pid_name, &e->pid, err);
out:
	unlinkat(s->state_dirfd, pid_name, 0);
	unlink(process);
	for (int i = 0; i < 2; i++) {
		close_fd(&in_p[i]);
		close_fd(&out_p[i]);
		close_fd(&err_p[i]);
	}
	return rc;
}

int
shim_exec_start(struct shim *s, const struct br_shim_req *req, int fd, pid_t *ret_pid, br_err *err)
{
	br_err why = BR_ERR_INIT;

	*ret_pid = 0;
	if (req->exec_id == NULL || req->exec_id[0] == '\0')
		return br_err_set(err, BR_INVALID_ARGUMENT, "exec: no exec_id");
	int i = find_slot(s, req->exec_id, err);
	if (i < 0)
		return -1;
	/* The stream is ours from here: whatever goes wrong is told on it. */
	struct shim_exec *e = &s->execs[i];
	*e = (struct shim_exec){.used = true, .out_fd = {-1, -1}, .master = -1, .stream = -1};
	snprintf(e->id, sizeof(e->id), "%s", req->exec_id);
	e->in.fd = -1;
	if (s->init_reaped || s->status != SHIM_RUNNING) {
		br_err_set(&why, BR_FAILED_PRECONDITION, "container %s is not running", s->id);
		goto refused;
	}
	if (run_exec(s, req, e, &why) < 0)
		goto refused;
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	e->stream = shim_stream_add(s, fd, i, req->stdin, true, &why);
	if (e->stream < 0) {
		/* No slot for its client: the process runs unobserved until it ends. */
		exec_free(s, i);
		goto refused;
	}
	int wstatus;
	if (shim_claim_exit(s, e->pid, &wstatus))
		shim_exec_reaped(s, e->pid, wstatus);
	br_log_info("SHIM-EXEC", "container %s: exec %s started as pid %d", s->id, e->id,
	            (int)e->pid);
	*ret_pid = e->pid;
	return 0;
refused:
	if (e->used && e->stream < 0 && e->pid == 0)
		exec_free(s, i);
	br_log_info("SHIM-EXEC", "container %s: exec %s: %s", s->id, req->exec_id, why.msg);
	refuse(fd, &why);
	return 0;
}

bool
shim_exec_reaped(struct shim *s, pid_t pid, int wstatus)
{
	for (int i = 0; i < SHIM_MAX_EXECS; i++) {
		struct shim_exec *e = &s->execs[i];
		if (!e->used || e->pid != pid || e->reaped)
			continue;
		e->reaped = true;
		e->status = shim_exit_status(wstatus);
		e->drain_deadline = shim_now_ms() + SHIM_DRAIN_MS;
		return true;
	}
	return false;
}

void
shim_exec_pump(struct shim *s, int i, int j)
{
	static char buf[SHIM_CHUNK];
	struct shim_exec *e = &s->execs[i];
	int fd = e->out_fd[j];
	size_t got = 0;

	if (fd < 0)
		return;
	/* Gather what is there into one frame: processes that write in small pieces (a
	 * 4 KiB stdio buffer) would otherwise cost a frame and a round of the loop each. */
	ssize_t n;
	while (got < sizeof(buf) && (n = read(fd, buf + got, sizeof(buf) - got)) > 0)
		got += (size_t)n;
	if (got > 0) {
		shim_streams_send(s, i, j == 0 ? BR_STREAM_STDOUT : BR_STREAM_STDERR, buf, got);
		return;
	}
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		/* EOF, or EIO from a terminal whose other side is closed. */
		if (fd == e->master) {
			shim_input_close(&e->in);
			e->master = -1;
		}
		close_fd(&e->out_fd[j]);
	}
}

void
shim_exec_announce(struct shim *s, int64_t now)
{
	for (int i = 0; i < SHIM_MAX_EXECS; i++) {
		struct shim_exec *e = &s->execs[i];
		if (!e->used || !e->reaped)
			continue;
		bool open = e->out_fd[0] >= 0 || e->out_fd[1] >= 0;
		if (open && now < e->drain_deadline)
			continue;
		br_log_info("SHIM-EXEC-EXIT",
		            "container %s: exec %s (pid %d) exited with status %lld", s->id, e->id,
		            (int)e->pid, (long long)e->status);
		shim_streams_exit(s, i, e->status);
		exec_free(s, i);
	}
}

int64_t
shim_exec_next_deadline(const struct shim *s)
{
	int64_t next = 0;

	for (int i = 0; i < SHIM_MAX_EXECS; i++) {
		const struct shim_exec *e = &s->execs[i];
		if (e->used && e->reaped && (next == 0 || e->drain_deadline < next))
			next = e->drain_deadline;
	}
	return next;
}

void
shim_exec_stream_gone(struct shim *s, int i)
{
	struct shim_exec *e = &s->execs[i];

	e->stream = -1;
	if (e->master >= 0) {
		/* The session's terminal goes: its processes get SIGHUP, as when a terminal
		 * window closes. */
		shim_input_close(&e->in);
		close_fd(&e->out_fd[0]);
		e->master = -1;
	} else {
		shim_input_close(&e->in);
	}
}
