/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The container's output. The shim creates one pipe for stdout and one for stderr; the runtime
 * hands their write ends to the container's init at create, and the shim copies whatever
 * arrives into the container's CRI log (common/crilog.h: current.log in the log directory,
 * capped and rotated). Each container has its own shim, so a container that writes as fast as
 * it can is slowed only by its own shim's writing and bounded on disk by its cap. Without a
 * log directory (--log-dir) the output goes raw to stdout.log and stderr.log in the state
 * directory, for tests and debugging. The copy never blocks the loop: pipes are non-blocking
 * and each wake-up moves at most one buffer per pipe.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/log.h"
#include "taskd/shim/shim.h"

#define PUMP_BUF SHIM_CHUNK

static int
open_log(struct shim *s, const char *name, br_err *err)
{
	int fd = openat(s->state_dirfd, name,
	                O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0640);
	if (fd < 0)
		return br_err_errno(err, BR_INTERNAL, errno, "open %s/%s", s->state_dir, name);
	return fd;
}

int
shim_output_open(struct shim *s, br_err *err)
{
	static const char *const names[2] = {BR_SHIM_STDOUT_LOG, BR_SHIM_STDERR_LOG};
	int *write_ends[2] = {&s->stdout_w, &s->stderr_w};

	if (s->log_dir != NULL) {
		s->log_dirfd = open(s->log_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (s->log_dirfd < 0)
			return br_err_errno(err, BR_INTERNAL, errno, "open %s", s->log_dir);
		if (br_crilog_writer_open(&s->log, s->log_dirfd, s->log_max_size, s->log_max_files,
		                          err) < 0)
			return br_err_wrap(err, "log of %s", s->log_dir);
	}
	for (int i = 0; i < 2; i++) {
		int p[2];
		s->out[i].name = names[i];
		if (s->log_dir == NULL) {
			s->out[i].log_fd = open_log(s, names[i], err);
			if (s->out[i].log_fd < 0)
				return -1;
		}
		if (pipe2(p, O_CLOEXEC) < 0)
			return br_err_errno(err, BR_INTERNAL, errno, "pipe for %s", names[i]);
		/* Only the read end is ours to poll; the write end goes to the container and
		 * must stay blocking for it. */
		fcntl(p[0], F_SETFL, fcntl(p[0], F_GETFL) | O_NONBLOCK);
		s->out[i].pipe_fd = p[0];
		*write_ends[i] = p[1];
	}
	if (s->open_stdin && !s->terminal) {
		/* The container's stdin: its read end goes to the runtime's create, the write end
		 * stays here for attached clients. */
		int p[2];
		if (pipe2(p, O_CLOEXEC) < 0)
			return br_err_errno(err, BR_INTERNAL, errno, "pipe for stdin");
		fcntl(p[1], F_SETFL, fcntl(p[1], F_GETFL) | O_NONBLOCK);
		s->stdin_r = p[0];
		s->init_in.fd = p[1];
	}
	return 0;
}

void
shim_output_use_terminal(struct shim *s)
{
	for (int i = 0; i < 2; i++) {
		if (s->out[i].pipe_fd >= 0)
			close(s->out[i].pipe_fd);
		s->out[i].pipe_fd = -1;
	}
	/* A copy: reading ends at the terminal's hang-up and closes it, while the master
	 * itself stays the container's input until the exit. */
	s->out[0].pipe_fd = fcntl(s->master, F_DUPFD_CLOEXEC, 3);
}

static int64_t
wall_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void
shim_output_pump(struct shim *s, int i)
{
	static char buf[PUMP_BUF];
	struct shim_output *o = &s->out[i];
	ssize_t n, got = 0;

	if (o->pipe_fd < 0)
		return;
	/* Gather what is there (a process writing in 4 KiB pieces would otherwise cost a log
	 * write, a frame and a turn of the loop each), at most one buffer. */
	while (got < (ssize_t)sizeof(buf) &&
	       (n = read(o->pipe_fd, buf + got, sizeof(buf) - (size_t)got)) > 0)
		got += n;
	if (got == 0 && n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (got == 0) {
		close(o->pipe_fd);
		o->pipe_fd = -1;
		return;
	}
	n = got;
	shim_streams_send(s, -1, i == 0 ? BR_STREAM_STDOUT : BR_STREAM_STDERR, buf, (size_t)n);
	if (s->log_dir != NULL) {
		static bool warned;
		br_err err = BR_ERR_INIT;
		if (br_crilog_writer_append(&s->log, i == 0 ? BR_CRILOG_STDOUT : BR_CRILOG_STDERR,
		                            buf, (size_t)n, wall_ns(), &err) < 0 &&
		    !warned) {
			/* A full disk loses output, never the container: say so once. */
			br_log_warn("SHIM-LOG-WRITE", "%s: %s; output dropped", o->name, err.msg);
			warned = true;
		}
		return;
	}
	for (ssize_t done = 0; done < n;) {
		ssize_t w = write(o->log_fd, buf + done, (size_t)(n - done));
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			/* A full disk loses output, never the container: drop and say so once. */
			br_log_warn("SHIM-LOG-WRITE", "write %s: %s; output dropped", o->name,
			            strerror(errno));
			break;
		}
		done += w;
	}
}

void
shim_output_take_stderr(int fd, char *buf, size_t cap)
{
	size_t len = 0;

	buf[0] = '\0';
	while (fd >= 0 && len + 1 < cap) {
		ssize_t n = read(fd, buf + len, cap - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
}

void
shim_output_drain(struct shim *s)
{
	for (int i = 0; i < 2; i++) {
		while (s->out[i].pipe_fd >= 0) {
			struct pollfd p = {.fd = s->out[i].pipe_fd, .events = POLLIN};
			if (poll(&p, 1, 0) <= 0)
				break;
			shim_output_pump(s, i);
		}
	}
}

bool
shim_output_open_pipes(const struct shim *s)
{
	return s->out[0].pipe_fd >= 0 || s->out[1].pipe_fd >= 0;
}

void
shim_output_close(struct shim *s)
{
	for (int i = 0; i < 2; i++) {
		if (s->out[i].pipe_fd >= 0)
			close(s->out[i].pipe_fd);
		s->out[i].pipe_fd = -1;
	}
	br_crilog_writer_close(&s->log);
	if (s->master >= 0)
		close(s->master);
	s->master = -1;
}
