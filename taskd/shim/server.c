/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The shim's socket: <state>/shim.sock, AF_UNIX SOCK_SEQPACKET, mode 0600. Each packet is one
 * request, answered by one reply packet (common/proto/shim.h). Requests that must wait (wait,
 * and delete until the init is reaped) park their connection; the loop answers them when the
 * exit is announced or their deadline passes. Runtime invocations (start, kill, delete) run
 * to completion inside the request: they are short, and the shim has nothing else to do
 * meanwhile but copy output, which the pipes buffer.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/log.h"
#include "taskd/shim/shim.h"

int
shim_server_listen(struct shim *s, br_err *err)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int n = snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%s", s->state_dir, BR_SHIM_SOCKET);
	if (n < 0 || (size_t)n >= sizeof(sa.sun_path))
		snprintf(sa.sun_path, sizeof(sa.sun_path), "/proc/self/fd/%d/%s", s->state_dirfd,
		         BR_SHIM_SOCKET);

	if (unlinkat(s->state_dirfd, BR_SHIM_SOCKET, 0) < 0 && errno != ENOENT)
		return br_err_errno(err, BR_INTERNAL, errno, "remove stale %s", BR_SHIM_SOCKET);
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return br_err_errno(err, BR_INTERNAL, errno, "socket");
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    fchmodat(s->state_dirfd, BR_SHIM_SOCKET, 0600, 0) < 0 || listen(fd, 16) < 0) {
		int e = errno;
		close(fd);
		return br_err_errno(err, BR_INTERNAL, e, "listen on %s/%s", s->state_dir,
		                    BR_SHIM_SOCKET);
	}
	s->listen_fd = fd;
	return 0;
}

void
shim_server_accept(struct shim *s)
{
	int fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd < 0)
		return;
	for (int i = 0; i < SHIM_MAX_CONNS; i++) {
		if (s->conns[i].fd < 0) {
			s->conns[i] = (struct shim_conn){.fd = fd, .pending = CONN_IDLE};
			return;
		}
	}
	br_log_warn("SHIM-CONN-LIMIT", "more than %d connections; refusing one", SHIM_MAX_CONNS);
	close(fd);
}

void
shim_server_close_conn(struct shim *s, int i)
{
	if (s->conns[i].fd >= 0)
		close(s->conns[i].fd);
	s->conns[i] = (struct shim_conn){.fd = -1};
}

void
shim_state_reply(const struct shim *s, struct br_shim_reply *r)
{
	static const char *const names[] = {"created", "running", "stopped"};

	*r = (struct br_shim_reply){0};
	r->id = s->id;
	r->status = s->exit_announced ? "stopped" : names[s->status];
	r->pid = (uint32_t)s->init_pid;
	r->shim_pid = (uint32_t)getpid();
	r->exited = s->exit_announced;
	r->exit_status = s->exit_status;
	r->exited_at = s->exited_at;
	r->oom_killed = s->exit_announced && s->oom_killed;
}

void
shim_server_send(struct shim *s, int i, const struct br_shim_reply *r)
{
	msgpack_sbuffer sb;
	ssize_t n;

	msgpack_sbuffer_init(&sb);
	br_shim_reply_pack(&sb, r);
	do
		n = send(s->conns[i].fd, sb.data, sb.size, MSG_NOSIGNAL | MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	msgpack_sbuffer_destroy(&sb);
	s->conns[i].pending = CONN_IDLE;
	s->conns[i].deadline = 0;
	if (n < 0)
		shim_server_close_conn(s, i);
}

void
shim_server_send_error(struct shim *s, int i, const br_err *err)
{
	struct br_shim_reply r = {
	        .code = br_code_name(err->code),
	        .msg = err->msg,
	        .id = s->id,
	};
	shim_server_send(s, i, &r);
}

static void
reply_state(struct shim *s, int i)
{
	struct br_shim_reply r;
	shim_state_reply(s, &r);
	shim_server_send(s, i, &r);
}

static int
do_start(struct shim *s, br_err *err)
{
	const char *args[] = {"start", s->id, NULL};

	if (s->init_reaped)
		return br_err_set(err, BR_FAILED_PRECONDITION, "container %s has exited", s->id);
	if (s->status != SHIM_CREATED)
		return br_err_set(err, BR_FAILED_PRECONDITION, "container %s is already started",
		                  s->id);
	if (shim_runtime_run(s, args, -1, -1, SHIM_RUNTIME_TIMEOUT_MS, err) < 0)
		return -1;
	s->status = SHIM_RUNNING;
	return 0;
}

static int
do_kill(struct shim *s, const struct br_shim_req *req, br_err *err)
{
	char sig[16];
	const char *args[6];
	size_t n = 0;

	if (req->signal > 64)
		return br_err_set(err, BR_INVALID_ARGUMENT, "signal %u is out of range (1-64)",
		                  req->signal);
	if (s->init_reaped)
		return br_err_set(err, BR_FAILED_PRECONDITION, "container %s is not running",
		                  s->id);
	snprintf(sig, sizeof(sig), "%u", req->signal ? req->signal : (unsigned)SIGTERM);
	args[n++] = "kill";
	if (req->all)
		args[n++] = "--all";
	args[n++] = s->id;
	args[n++] = sig;
	args[n] = NULL;
	if (shim_runtime_run(s, args, -1, -1, SHIM_KILL_TIMEOUT_MS, err) < 0) {
		/* The init may have died between our check and the runtime's. */
		if (strstr(err->msg, "not running") != NULL)
			err->code = BR_FAILED_PRECONDITION;
		return -1;
	}
	return 0;
}

/* `RUNTIME pause ID` or `RUNTIME resume ID`: freeze or thaw every process of the container. */
static int
do_freeze(struct shim *s, const char *verb, br_err *err)
{
	const char *args[] = {verb, s->id, NULL};

	if (s->init_reaped || s->status != SHIM_RUNNING)
		return br_err_set(err, BR_FAILED_PRECONDITION, "container %s is not running",
		                  s->id);
	return shim_runtime_run(s, args, -1, -1, SHIM_RUNTIME_TIMEOUT_MS, err);
}

static int
do_delete(struct shim *s, const struct br_shim_req *req, br_err *err)
{
	const char *args[5];
	size_t n = 0;

	if (s->status == SHIM_RUNNING && !s->init_reaped && !req->force)
		return br_err_set(err, BR_FAILED_PRECONDITION,
		                  "container %s is running; kill it first or force", s->id);
	args[n++] = "delete";
	if (req->force || (s->status == SHIM_RUNNING && !s->init_reaped))
		args[n++] = "--force";
	args[n++] = s->id;
	args[n] = NULL;
	if (shim_runtime_run(s, args, -1, -1, SHIM_RUNTIME_TIMEOUT_MS, err) < 0) {
		/* Already gone from the runtime's state: what delete wanted. */
		if (strstr(err->msg, "does not exist") == NULL)
			return -1;
		br_err_clear(err);
	}
	return 0;
}

/* attach: the client's stream gets the init's output from now on and, with stdin, feeds its
 * input. */
static int
do_attach(struct shim *s, const struct br_shim_req *req, int fd, br_err *err)
{
	if (s->exit_announced)
		return br_err_set(err, BR_FAILED_PRECONDITION, "container %s is not running",
		                  s->id);
	/* Input only where the container has some (created with open_stdin). */
	bool stdin = req->stdin && s->init_in.fd >= 0;
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	if (shim_stream_add(s, fd, -1, stdin, req->close_stdin, err) < 0)
		return -1;
	shim_console_resize(s->master, req->rows, req->cols);
	return 0;
}

static void
dispatch(struct shim *s, int i, const struct br_shim_req *req, int *fd)
{
	br_err err = BR_ERR_INIT;
	const char *m = req->m;

	if (strcmp(m, "exec") == 0 || strcmp(m, "attach") == 0) {
		if (*fd < 0) {
			br_err_set(&err, BR_INVALID_ARGUMENT, "%s: no stream attached", m);
			goto fail;
		}
		pid_t exec_pid = 0;
		if ((m[0] == 'e' ? shim_exec_start(s, req, *fd, &exec_pid, &err)
		                 : do_attach(s, req, *fd, &err)) < 0)
			goto fail;
		*fd = -1; /* the shim's now */
		struct br_shim_reply r;
		shim_state_reply(s, &r);
		r.exec_pid = (uint32_t)exec_pid;
		shim_server_send(s, i, &r);
	} else if (strcmp(m, "state") == 0) {
		reply_state(s, i);
	} else if (strcmp(m, "start") == 0) {
		if (do_start(s, &err) < 0)
			goto fail;
		br_log_info("SHIM-START", "container %s started", s->id);
		reply_state(s, i);
	} else if (strcmp(m, "kill") == 0) {
		if (do_kill(s, req, &err) < 0)
			goto fail;
		reply_state(s, i);
	} else if (strcmp(m, "pause") == 0 || strcmp(m, "resume") == 0) {
		if (do_freeze(s, m, &err) < 0)
			goto fail;
		reply_state(s, i);
	} else if (strcmp(m, "wait") == 0) {
		if (s->exit_announced) {
			reply_state(s, i);
			return;
		}
		s->conns[i].pending = CONN_WAIT;
		s->conns[i].deadline = req->timeout_ms > 0 ? shim_now_ms() + req->timeout_ms : 0;
	} else if (strcmp(m, "delete") == 0) {
		if (do_delete(s, req, &err) < 0)
			goto fail;
		br_log_info("SHIM-DELETE", "container %s deleted", s->id);
		if (s->exit_announced || s->init_pid <= 0) {
			reply_state(s, i);
			s->quit = true;
			return;
		}
		s->conns[i].pending = CONN_DELETE;
		s->conns[i].deadline = shim_now_ms() + SHIM_DELETE_REAP_MS;
	} else if (strcmp(m, "shutdown") == 0) {
		if (!s->init_reaped && s->init_pid > 0) {
			br_err_set(&err, BR_FAILED_PRECONDITION,
			           "container %s is still running; delete it instead", s->id);
			goto fail;
		}
		reply_state(s, i);
		s->quit = true;
	} else {
		br_err_set(&err, BR_NOT_IMPLEMENTED, "shim: unknown method \"%.32s\"", m);
		goto fail;
	}
	return;
fail:
	shim_server_send_error(s, i, &err);
}

void
shim_server_handle(struct shim *s, int i)
{
	char buf[BR_SHIM_MSG_MAX];
	struct br_shim_req req;
	msgpack_object obj;
	br_err err = BR_ERR_INIT;
	int fd = -1;
	ssize_t n;

	n = br_stream_recv_fd(s->conns[i].fd, buf, sizeof(buf), &fd, &err);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n < 0 && err.code == BR_INVALID_ARGUMENT) {
		shim_server_send_error(s, i, &err);
		return;
	}
	if (n <= 0) {
		shim_server_close_conn(s, i);
		return;
	}
	br_arena *arena = br_arena_new();
	if (br_msg_unpack(buf, (size_t)n, arena, &obj, &err) < 0 ||
	    br_msg_decode(&obj, &br_shim_req_schema, "", arena, &req, &err) < 0)
		shim_server_send_error(s, i, &err);
	else
		dispatch(s, i, &req, &fd);
	br_arena_free(arena);
	if (fd >= 0)
		close(fd);
}

void
shim_server_wake(struct shim *s, int64_t now)
{
	for (int i = 0; i < SHIM_MAX_CONNS; i++) {
		struct shim_conn *c = &s->conns[i];
		if (c->fd < 0 || c->pending == CONN_IDLE)
			continue;
		bool due = s->exit_announced || (c->deadline != 0 && now >= c->deadline);
		if (!due)
			continue;
		if (c->pending == CONN_DELETE)
			s->quit = true;
		reply_state(s, i);
	}
}
