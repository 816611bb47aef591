/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The shim's life: create the container through the runtime, then one poll(2) loop over a
 * signalfd (SIGCHLD: reap the init and anything else reparented to this subreaper), the
 * listening socket, the client connections and the container's output pipes. When the init
 * exits, its status goes to the exit file (atomically, fsync'ed) before anything else; the
 * output is drained (bounded); only then are waiting clients told.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/log.h"
#include "taskd/shim/shim.h"

int64_t
shim_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
shim_wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int
shim_create(struct shim *s, br_err *err)
{
	char pid_file[4200];
	const char *args[] = {"create", "--bundle", s->bundle, "--pid-file", pid_file, s->id, NULL};
	int rc;

	snprintf(pid_file, sizeof(pid_file), "%s/%s", s->state_dir, BR_SHIM_INIT_PID_FILE);
	if (shim_output_open(s, err) < 0)
		return -1;
	rc = shim_runtime_run(s, args, s->stdout_w, s->stderr_w, SHIM_CREATE_TIMEOUT_MS, err);
	/* The container holds the write ends now; ours would keep the pipes from ever
	 * reaching EOF. */
	close(s->stdout_w);
	close(s->stderr_w);
	s->stdout_w = s->stderr_w = -1;
	if (rc < 0)
		return -1;
	if (br_shim_read_pid(s->state_dirfd, BR_SHIM_INIT_PID_FILE, &s->init_pid, err) < 0)
		return br_err_wrap(err, "%s create succeeded but its pid file is unusable",
		                   s->runtime);
	s->status = SHIM_CREATED;
	shim_oom_init(s);
	return 0;
}

static void
record_exit(struct shim *s, int wstatus)
{
	br_err err = BR_ERR_INIT;

	if (WIFEXITED(wstatus))
		s->exit_status = WEXITSTATUS(wstatus);
	else if (WIFSIGNALED(wstatus))
		s->exit_status = 128 + WTERMSIG(wstatus);
	else
		s->exit_status = 255;
	s->exited_at = shim_wall_ms();
	s->init_reaped = true;
	s->drain_deadline = shim_now_ms() + SHIM_DRAIN_MS;
	s->oom_killed = shim_oom_killed(s);
	if (br_shim_write_exit_oom(s->state_dirfd, s->exit_status, s->exited_at, s->oom_killed,
	                           &err) < 0)
		br_log_error("SHIM-EXIT-FILE", "container %s: %s", s->id, err.msg);
	br_log_info("SHIM-EXIT", "container %s: init %d exited with status %lld%s", s->id,
	            (int)s->init_pid, (long long)s->exit_status,
	            s->oom_killed ? " (OOM-killed)" : "");
}

void
shim_reap(struct shim *s)
{
	for (;;) {
		int wstatus;
		pid_t pid = waitpid(-1, &wstatus, WNOHANG);
		if (pid < 0 && errno == EINTR)
			continue;
		if (pid <= 0)
			return;
		if (pid == s->init_pid && !s->init_reaped)
			record_exit(s, wstatus);
	}
}

void
shim_cleanup_files(struct shim *s)
{
	unlinkat(s->state_dirfd, BR_SHIM_SOCKET, 0);
	unlinkat(s->state_dirfd, BR_SHIM_PID_FILE, 0);
}

static void
handle_signals(struct shim *s)
{
	struct signalfd_siginfo si;

	while (read(s->signal_fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo == SIGCHLD)
			continue;
		br_log_notice("SHIM-SIGNAL",
		              "ignoring signal %u: the shim stays with its container",
		              si.ssi_signo);
	}
	shim_reap(s);
}

/* After the init's exit: once the output pipes closed (or the drain time is up), the exit
 * is announced to every waiting client. */
static void
maybe_announce(struct shim *s, int64_t now)
{
	if (!s->init_reaped || s->exit_announced)
		return;
	if (shim_output_open_pipes(s) && now < s->drain_deadline)
		return;
	shim_output_drain(s);
	shim_output_close(s);
	s->status = SHIM_STOPPED;
	s->exit_announced = true;
}

static int
next_timeout(const struct shim *s, int64_t now)
{
	int64_t next = 0;

	if (s->init_reaped && !s->exit_announced)
		next = s->drain_deadline;
	for (int i = 0; i < SHIM_MAX_CONNS; i++) {
		int64_t d = s->conns[i].deadline;
		if (s->conns[i].fd >= 0 && s->conns[i].pending != CONN_IDLE && d != 0 &&
		    (next == 0 || d < next))
			next = d;
	}
	if (next == 0)
		return -1;
	return next <= now ? 0 : (int)(next - now > 60000 ? 60000 : next - now);
}

int
shim_run(struct shim *s, br_err *err)
{
	enum { P_SIG, P_LISTEN, P_OUT, P_ERR, P_CONN };
	struct pollfd pfd[P_CONN + SHIM_MAX_CONNS];

	/* A SIGCHLD may have come before the loop (an init that died at once). */
	shim_reap(s);
	while (!s->quit) {
		int64_t now = shim_now_ms();
		maybe_announce(s, now);
		shim_server_wake(s, now);
		if (s->quit)
			break;

		pfd[P_SIG] = (struct pollfd){.fd = s->signal_fd, .events = POLLIN};
		pfd[P_LISTEN] = (struct pollfd){.fd = s->listen_fd, .events = POLLIN};
		pfd[P_OUT] = (struct pollfd){.fd = s->out[0].pipe_fd, .events = POLLIN};
		pfd[P_ERR] = (struct pollfd){.fd = s->out[1].pipe_fd, .events = POLLIN};
		for (int i = 0; i < SHIM_MAX_CONNS; i++) {
			const struct shim_conn *c = &s->conns[i];
			/* A parked connection is only watched for hang-up. */
			pfd[P_CONN + i] = (struct pollfd){
			        .fd = c->fd, .events = c->pending == CONN_IDLE ? POLLIN : 0};
		}
		int rc = poll(pfd, P_CONN + SHIM_MAX_CONNS, next_timeout(s, now));
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc < 0)
			return br_err_errno(err, BR_INTERNAL, errno, "poll");
		if (pfd[P_SIG].revents)
			handle_signals(s);
		if (pfd[P_OUT].revents)
			shim_output_pump(s, 0);
		if (pfd[P_ERR].revents)
			shim_output_pump(s, 1);
		for (int i = 0; i < SHIM_MAX_CONNS; i++) {
			short ev = pfd[P_CONN + i].revents;
			if (s->conns[i].fd < 0 || ev == 0)
				continue;
			if (s->conns[i].pending != CONN_IDLE) {
				if (ev & (POLLHUP | POLLERR))
					shim_server_close_conn(s, i);
				continue;
			}
			shim_server_handle(s, i);
			if (s->quit)
				break;
		}
		if (pfd[P_LISTEN].revents)
			shim_server_accept(s);
	}
	/* Output written after the last announcement still belongs in the logs. */
	shim_output_drain(s);
	if (!s->init_reaped && s->init_pid > 0)
		br_log_warn("SHIM-ORPHAN", "container %s: leaving while init %d still runs", s->id,
		            (int)s->init_pid);
	return 0;
}
