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
	const char *args[10] = {"create", "--bundle", s->bundle, "--pid-file", pid_file};
	int rc;

	snprintf(pid_file, sizeof(pid_file), "%s/%s", s->state_dir, BR_SHIM_INIT_PID_FILE);
	s->init_in = (struct shim_input){.fd = -1, .buf.cap = SHIM_INPUT_MAX};
	if (shim_output_open(s, err) < 0)
		return -1;
	if (s->terminal) {
		/* The container's stdio is the terminal; the pipes stay for the runtime's own
		 * words on failure. */
		rc = shim_runtime_run_terminal(s, args, 5, "console.sock", SHIM_CREATE_TIMEOUT_MS,
		                               &s->master, err);
	} else {
		args[5] = s->id;
		rc = shim_runtime_run_stdio(s, args, s->stdin_r, s->stdout_w, s->stderr_w,
		                            s->out[1].pipe_fd, SHIM_CREATE_TIMEOUT_MS, err);
	}
	/* The container holds the write ends now; ours would keep the pipes from ever
	 * reaching EOF. */
	close(s->stdout_w);
	close(s->stderr_w);
	s->stdout_w = s->stderr_w = -1;
	if (s->stdin_r >= 0)
		close(s->stdin_r);
	s->stdin_r = -1;
	if (rc < 0)
		return -1;
	if (s->terminal) {
		/* The terminal replaces the output pipes: its master is stdout. */
		shim_output_use_terminal(s);
		if (s->open_stdin)
			s->init_in = (struct shim_input){
			        .fd = s->master, .shared = true, .buf.cap = SHIM_INPUT_MAX};
	}
	if (br_shim_read_pid(s->state_dirfd, BR_SHIM_INIT_PID_FILE, &s->init_pid, err) < 0)
		return br_err_wrap(err, "%s create succeeded but its pid file is unusable",
		                   s->runtime);
	s->status = SHIM_CREATED;
	shim_oom_init(s);
	return 0;
}

int64_t
shim_exit_status(int wstatus)
{
	if (WIFEXITED(wstatus))
		return WEXITSTATUS(wstatus);
	if (WIFSIGNALED(wstatus))
		return 128 + WTERMSIG(wstatus);
	return 255;
}

static void
record_exit(struct shim *s, int wstatus)
{
	br_err err = BR_ERR_INIT;

	s->exit_status = shim_exit_status(wstatus);
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
		if (pid == s->init_pid && !s->init_reaped) {
			record_exit(s, wstatus);
		} else if (!shim_exec_reaped(s, pid, wstatus)) {
			/* Perhaps an exec whose pid we have not read yet: keep it a while. */
			static unsigned next;
			s->unclaimed[next % SHIM_UNCLAIMED_MAX].pid = pid;
			s->unclaimed[next % SHIM_UNCLAIMED_MAX].wstatus = wstatus;
			next++;
		}
	}
}

bool
shim_claim_exit(struct shim *s, pid_t pid, int *ret_wstatus)
{
	for (int i = 0; i < SHIM_UNCLAIMED_MAX; i++) {
		if (s->unclaimed[i].pid == pid && pid > 0) {
			*ret_wstatus = s->unclaimed[i].wstatus;
			s->unclaimed[i].pid = 0;
			return true;
		}
	}
	return false;
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
	shim_input_close(&s->init_in);
	s->status = SHIM_STOPPED;
	s->exit_announced = true;
	shim_streams_exit(s, -1, s->exit_status);
}

static int
next_timeout(const struct shim *s, int64_t now)
{
	int64_t next = 0;

	if (s->init_reaped && !s->exit_announced)
		next = s->drain_deadline;
	int64_t exec_next = shim_exec_next_deadline(s);
	if (exec_next != 0 && (next == 0 || exec_next < next))
		next = exec_next;
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

/* What each pollfd of the loop stands for. */
enum poll_kind { P_SIG, P_LISTEN, P_OUT, P_IN, P_CONN, P_STREAM, P_EXEC_OUT, P_EXEC_IN };

#define POLL_MAX (2 + 2 + 1 + SHIM_MAX_CONNS + SHIM_MAX_STREAMS + SHIM_MAX_EXECS * 3)

struct poll_set {
	struct pollfd pfd[POLL_MAX];
	struct {
		enum poll_kind kind;
		int i, j;
	} what[POLL_MAX];
	int n;
};

static void
poll_add(struct poll_set *p, int fd, short events, enum poll_kind kind, int i, int j)
{
	p->pfd[p->n] = (struct pollfd){.fd = events || kind == P_CONN ? fd : -1, .events = events};
	p->what[p->n].kind = kind;
	p->what[p->n].i = i;
	p->what[p->n].j = j;
	p->n++;
}

static void
poll_build(struct shim *s, struct poll_set *p)
{
	p->n = 0;
	poll_add(p, s->signal_fd, POLLIN, P_SIG, 0, 0);
	poll_add(p, s->listen_fd, POLLIN, P_LISTEN, 0, 0);
	/* A process's output is read only while each of its clients has room for it. */
	bool room = shim_streams_room(s, -1);
	for (int j = 0; j < 2; j++)
		poll_add(p, s->out[j].pipe_fd, room && s->out[j].pipe_fd >= 0 ? POLLIN : 0, P_OUT,
		         j, 0);
	poll_add(p, s->init_in.fd, shim_input_events(&s->init_in), P_IN, 0, 0);
	for (int i = 0; i < SHIM_MAX_CONNS; i++) {
		const struct shim_conn *c = &s->conns[i];
		/* A parked connection is only watched for hang-up. */
		if (c->fd >= 0)
			poll_add(p, c->fd, c->pending == CONN_IDLE ? POLLIN : 0, P_CONN, i, 0);
	}
	for (int i = 0; i < SHIM_MAX_STREAMS; i++) {
		short ev = shim_stream_events(s, i);
		if (ev)
			poll_add(p, s->streams[i].fd, ev, P_STREAM, i, 0);
	}
	for (int i = 0; i < SHIM_MAX_EXECS; i++) {
		struct shim_exec *e = &s->execs[i];
		if (!e->used)
			continue;
		bool exec_room = shim_streams_room(s, i);
		for (int j = 0; j < 2; j++)
			if (e->out_fd[j] >= 0 && exec_room)
				poll_add(p, e->out_fd[j], POLLIN, P_EXEC_OUT, i, j);
		short ev = shim_input_events(&e->in);
		if (ev)
			poll_add(p, e->in.fd, ev, P_EXEC_IN, i, 0);
	}
}

int
shim_run(struct shim *s, br_err *err)
{
	static struct poll_set p;

	/* A SIGCHLD may have come before the loop (an init that died at once). */
	shim_reap(s);
	while (!s->quit) {
		int64_t now = shim_now_ms();
		maybe_announce(s, now);
		shim_exec_announce(s, now);
		shim_server_wake(s, now);
		if (s->quit)
			break;

		poll_build(s, &p);
		int rc = poll(p.pfd, (nfds_t)p.n, next_timeout(s, now));
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc < 0)
			return br_err_errno(err, BR_INTERNAL, errno, "poll");
		bool accept = false;
		for (int k = 0; k < p.n && !s->quit; k++) {
			short ev = p.pfd[k].revents;
			int i = p.what[k].i, j = p.what[k].j;
			if (ev == 0)
				continue;
			switch (p.what[k].kind) {
			case P_SIG:
				handle_signals(s);
				break;
			case P_LISTEN:
				accept = true;
				break;
			case P_OUT:
				shim_output_pump(s, i);
				break;
			case P_IN:
				shim_input_flush(&s->init_in);
				break;
			case P_CONN:
				if (s->conns[i].fd < 0)
					break;
				if (s->conns[i].pending != CONN_IDLE) {
					if (ev & (POLLHUP | POLLERR))
						shim_server_close_conn(s, i);
					break;
				}
				shim_server_handle(s, i);
				break;
			case P_STREAM:
				/* The slot may have changed hands during this round. */
				if (s->streams[i].fd == p.pfd[k].fd)
					shim_stream_handle(s, i, ev);
				break;
			case P_EXEC_OUT:
				if (s->execs[i].used && s->execs[i].out_fd[j] == p.pfd[k].fd)
					shim_exec_pump(s, i, j);
				break;
			case P_EXEC_IN:
				if (s->execs[i].used && s->execs[i].in.fd == p.pfd[k].fd)
					shim_input_flush(&s->execs[i].in);
				break;
			}
		}
		if (accept && !s->quit)
			shim_server_accept(s);
	}
	/* Output written after the last announcement still belongs in the logs, and what the
	 * clients have not read yet (the exit's frame among it) goes out before we do. */
	shim_output_drain(s);
	shim_streams_flush(s, SHIM_DRAIN_MS);
	if (!s->init_reaped && s->init_pid > 0)
		br_log_warn("SHIM-ORPHAN", "container %s: leaving while init %d still runs", s->id,
		            (int)s->init_pid);
	return 0;
}
