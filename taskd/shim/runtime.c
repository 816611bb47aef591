/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Running the OCI runtime (runc, crun) from the shim. Each invocation is a child process that
 * the shim waits for through a pidfd, with a deadline, while it collects the runtime's stderr:
 * that text, or the last error of the runtime's JSON log when stderr said nothing, is what
 * the caller reports ("runc create failed: unable to start container process: exec: ...").
 * The shim's blocked signals and ignored SIGPIPE are reset in the child, so neither the runtime
 * nor the container inherits them.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "taskd/shim/shim.h"

#define MAX_ARGS 16
#define CAPTURE_MAX 2048
#define RUNTIME_LOG "runtime.log"
#define RUNTIME_LOG_TAIL 8192

static int
pidfd_open_compat(pid_t pid)
{
#ifdef SYS_pidfd_open
	return (int)syscall(SYS_pidfd_open, pid, 0);
#else
	errno = ENOSYS;
	return -1;
#endif
}

/* In the child: restore default signal handling, wire stdio and exec. Never returns. */
static void
exec_child(const char *path, char *const *argv, int in_fd, int out_fd, int err_fd)
{
	sigset_t none;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
	if (dup2(in_fd, STDIN_FILENO) < 0 || dup2(out_fd, STDOUT_FILENO) < 0 ||
	    dup2(err_fd, STDERR_FILENO) < 0)
		_exit(126);
	execv(path, argv);
	dprintf(STDERR_FILENO, "exec %s: %s\n", path, strerror(errno));
	_exit(127);
}

/* Trim trailing whitespace and turn inner newlines into "; ". */
static void
tidy_message(char *msg, size_t cap)
{
	size_t n = strlen(msg);
	while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r' || msg[n - 1] == ' '))
		msg[--n] = '\0';
	char out[CAPTURE_MAX];
	size_t o = 0;
	for (size_t i = 0; i < n && o + 3 < sizeof(out) && o + 3 < cap; i++) {
		if (msg[i] == '\n') {
			out[o++] = ';';
			out[o++] = ' ';
		} else if (msg[i] != '\r') {
			out[o++] = msg[i];
		}
	}
	out[o] = '\0';
	memcpy(msg, out, o + 1);
}

/* Decode the JSON string starting after the opening quote at `p` into out. */
static void
json_unquote(const char *p, char *out, size_t cap)
{
	size_t o = 0;
	for (; *p != '\0' && *p != '"' && o + 1 < cap; p++) {
		if (*p != '\\') {
			out[o++] = *p;
			continue;
		}
		p++;
		switch (*p) {
		case 'n':
			out[o++] = '\n';
			break;
		case 't':
			out[o++] = '\t';
			break;
		case 'u':
			/* \u00XX: keep ASCII, drop the rest. */
			if (strlen(p) >= 5) {
				unsigned v = 0;
				if (sscanf(p + 1, "%4x", &v) == 1 && v >= 0x20 && v < 0x7f)
					out[o++] = (char)v;
				p += 4;
			}
			break;
		case '\0':
			p--;
			break;
		default:
			out[o++] = *p; /* \" \\ \/ */
			break;
		}
	}
	out[o] = '\0';
}

/* The message of the last "level":"error" line in the tail of runtime.log, if any. */
static void
last_log_error(int dirfd, char *out, size_t cap)
{
	_cleanup_close_ int fd = openat(dirfd, RUNTIME_LOG, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	char buf[RUNTIME_LOG_TAIL + 1];
	ssize_t n;

	out[0] = '\0';
	if (fd < 0)
		return;
	off_t size = lseek(fd, 0, SEEK_END);
	off_t from = size > RUNTIME_LOG_TAIL ? size - RUNTIME_LOG_TAIL : 0;
	n = pread(fd, buf, RUNTIME_LOG_TAIL, from);
	if (n <= 0)
		return;
	buf[n] = '\0';
	for (char *line = buf; line != NULL && *line != '\0';) {
		char *next = strchr(line, '\n');
		if (next != NULL)
			*next++ = '\0';
		char *msg = strstr(line, "\"msg\":\"");
		if (strstr(line, "\"level\":\"error\"") != NULL && msg != NULL)
			json_unquote(msg + 7, out, cap);
		line = next;
	}
}

br_code
shim_runtime_code(const char *msg)
{
	if (strstr(msg, "executable file not found") != NULL ||
	    (strstr(msg, "exec:") != NULL && strstr(msg, "no such file or directory") != NULL))
		return BR_NOT_FOUND;
	if (strstr(msg, "permission denied") != NULL)
		return BR_PERMISSION_DENIED;
	return BR_FAILED_PRECONDITION;
}

/* Collect stderr (if capturing) and wait for the child, within the deadline.
 * Returns the wait status, or -1 on timeout (the child was killed). */
static int
wait_child(pid_t pid, int capture_fd, char *captured, size_t cap, int timeout_ms)
{
	int pidfd = pidfd_open_compat(pid);
	int64_t deadline = shim_now_ms() + timeout_ms;
	size_t len = 0;
	bool exited = false, timed_out = false;
	int status = 0;

	captured[0] = '\0';
	while (pidfd >= 0 && (!exited || capture_fd >= 0)) {
		struct pollfd p[2] = {{.fd = pidfd, .events = POLLIN},
		                      {.fd = capture_fd, .events = POLLIN}};
		int64_t left = deadline - shim_now_ms();
		if (left <= 0) {
			timed_out = true;
			break;
		}
		int rc = poll(p, capture_fd >= 0 ? 2 : 1, (int)left);
		if (rc < 0 && errno != EINTR)
			break;
		if (rc <= 0)
			continue;
		if (p[0].revents != 0)
			exited = true;
		if (capture_fd >= 0 && p[1].revents != 0) {
			char chunk[512];
			ssize_t n = read(capture_fd, chunk, sizeof(chunk));
			if (n < 0 && (errno == EINTR || errno == EAGAIN))
				continue;
			if (n <= 0) {
				close(capture_fd);
				capture_fd = -1;
				continue;
			}
			size_t take = (size_t)n;
			if (take > cap - 1 - len)
				take = cap - 1 - len;
			memcpy(captured + len, chunk, take);
			len += take;
			captured[len] = '\0';
		}
		/* Once the runtime exited, whatever still holds the pipe open (a daemonized
		 * helper) must not keep us here. */
		if (exited && capture_fd >= 0) {
			struct pollfd q = {.fd = capture_fd, .events = POLLIN};
			if (poll(&q, 1, 50) <= 0) {
				close(capture_fd);
				capture_fd = -1;
			}
		}
	}
	if (capture_fd >= 0)
		close(capture_fd);
	if (pidfd >= 0)
		close(pidfd);
	if (timed_out)
		kill(pid, SIGKILL);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	return timed_out ? -1 : status;
}

int
shim_runtime_run(struct shim *s, const char *const *args, int out_fd, int err_fd, int timeout_ms,
                 br_err *err)
{
	return shim_runtime_run_stdio(s, args, -1, out_fd, err_fd, s->out[1].pipe_fd, timeout_ms,
	                              err);
}

int
shim_runtime_run_stdio(struct shim *s, const char *const *args, int in_fd, int out_fd, int err_fd,
                       int err_read_fd, int timeout_ms, br_err *err)
{
	char log_opt[4200], root_opt[4200];
	const char *argv[MAX_ARGS + 5];
	char captured[CAPTURE_MAX];
	int pipefd[2] = {-1, -1};
	size_t argc = 0;
	const char *verb = args[0];

	snprintf(log_opt, sizeof(log_opt), "--log=%s/%s", s->state_dir, RUNTIME_LOG);
	argv[argc++] = s->runtime;
	if (s->runtime_root != NULL) {
		snprintf(root_opt, sizeof(root_opt), "--root=%s", s->runtime_root);
		argv[argc++] = root_opt;
	}
	argv[argc++] = log_opt;
	argv[argc++] = "--log-format=json";
	for (size_t i = 0; args[i] != NULL && argc < MAX_ARGS + 4; i++)
		argv[argc++] = args[i];
	argv[argc] = NULL;

	bool capture = out_fd < 0 || err_fd < 0;
	if (capture && pipe2(pipefd, O_CLOEXEC) < 0)
		return br_err_errno(err, BR_INTERNAL, errno, "%s %s: pipe", s->runtime, verb);
	pid_t pid = fork();
	if (pid < 0) {
		int e = errno;
		if (capture) {
			close(pipefd[0]);
			close(pipefd[1]);
		}
		return br_err_errno(err, BR_INTERNAL, e, "%s %s: fork", s->runtime, verb);
	}
	if (pid == 0)
		exec_child(s->runtime, (char *const *)argv, in_fd >= 0 ? in_fd : s->devnull_fd,
		           out_fd >= 0 ? out_fd : s->devnull_fd, err_fd >= 0 ? err_fd : pipefd[1]);
	if (capture)
		close(pipefd[1]);

	int status =
	        wait_child(pid, capture ? pipefd[0] : -1, captured, sizeof(captured), timeout_ms);
	if (status < 0)
		return br_err_set(err, BR_DEADLINE_EXCEEDED, "%s %s: no answer within %d s, killed",
		                  s->runtime, verb, timeout_ms / 1000);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;

	/* For create and exec, the runtime's stderr is the process's pipe: what the runtime said
	 * is waiting in it. */
	if (!capture)
		shim_output_take_stderr(err_read_fd, captured, sizeof(captured));
	tidy_message(captured, sizeof(captured));
	if (captured[0] == '\0') {
		last_log_error(s->state_dirfd, captured, sizeof(captured));
		tidy_message(captured, sizeof(captured));
	}
	if (captured[0] == '\0') {
		if (WIFEXITED(status))
			snprintf(captured, sizeof(captured), "%s %s exited with status %d",
			         s->runtime, verb, WEXITSTATUS(status));
		else
			snprintf(captured, sizeof(captured), "%s %s killed by signal %d",
			         s->runtime, verb, WTERMSIG(status));
	}
	return br_err_set(err, shim_runtime_code(captured), "%s", captured);
}
