/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Schemas of the berth-shim protocol and the small blocking client that taskd's workers and
 * the tests use to talk to a shim: connecting to its SOCK_SEQPACKET socket, one request and
 * one reply per packet, reading its start report, and the exit and pid files. This file is
 * linked into the static shim too, so it uses only libc, msgpack-c and common/msg.c.
 */
#include "common/proto/shim.h"
#include "common/stream.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "common/cleanup.h"

#define S(st, f, t, max, fl) BR_FIELD(struct st, f, t, max, fl)

static const struct br_field req_fields[] = {
        S(br_shim_req, v, BR_F_U32, 0, 0),
        S(br_shim_req, m, BR_F_STR, 32, BR_F_REQUIRED | BR_F_NONEMPTY),
        S(br_shim_req, signal, BR_F_U32, 0, 0),
        S(br_shim_req, all, BR_F_BOOL, 0, 0),
        S(br_shim_req, force, BR_F_BOOL, 0, 0),
        S(br_shim_req, timeout_ms, BR_F_I64, 0, 0),
        S(br_shim_req, exec_id, BR_F_STR, BR_SHIM_EXEC_ID_MAX, BR_F_ID),
        S(br_shim_req, terminal, BR_F_BOOL, 0, 0),
        S(br_shim_req, stdin, BR_F_BOOL, 0, 0),
        S(br_shim_req, close_stdin, BR_F_BOOL, 0, 0),
        S(br_shim_req, rows, BR_F_U32, 0, 0),
        S(br_shim_req, cols, BR_F_U32, 0, 0),
};
const struct br_schema br_shim_req_schema = BR_SCHEMA(struct br_shim_req, req_fields);

static const struct br_field reply_fields[] = {
        S(br_shim_reply, v, BR_F_U32, 0, 0),
        S(br_shim_reply, code, BR_F_STR, 32, 0),
        S(br_shim_reply, msg, BR_F_STR, BR_ERR_MSG_MAX, 0),
        S(br_shim_reply, id, BR_F_STR, 255, 0),
        S(br_shim_reply, status, BR_F_STR, 16, 0),
        S(br_shim_reply, pid, BR_F_U32, 0, 0),
        S(br_shim_reply, shim_pid, BR_F_U32, 0, 0),
        S(br_shim_reply, exited, BR_F_BOOL, 0, 0),
        S(br_shim_reply, exit_status, BR_F_I64, 0, 0),
        S(br_shim_reply, exited_at, BR_F_I64, 0, 0),
        S(br_shim_reply, exec_pid, BR_F_U32, 0, 0),
        S(br_shim_reply, oom_killed, BR_F_BOOL, 0, 0),
};
const struct br_schema br_shim_reply_schema = BR_SCHEMA(struct br_shim_reply, reply_fields);

static int64_t
mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Milliseconds left until `deadline` (monotonic ms) for poll(2); -1 when deadline is 0. */
static int
poll_timeout(int64_t deadline)
{
	if (deadline == 0)
		return -1;
	int64_t left = deadline - mono_ms();
	if (left < 0)
		return 0;
	return left > INT32_MAX ? INT32_MAX : (int)left;
}

int
br_shim_connect(const char *state_dir, br_err *err)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	_cleanup_close_ int dirfd = -1;
	_cleanup_close_ int fd = -1;
	int n;

	n = snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%s", state_dir, BR_SHIM_SOCKET);
	if (n < 0 || (size_t)n >= sizeof(sa.sun_path)) {
		/* Too long for sun_path: reach the directory through its fd. */
		dirfd = open(state_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (dirfd < 0)
			return br_err_errno(err, br_code_from_errno(errno), errno,
			                    "shim state directory %s", state_dir);
		snprintf(sa.sun_path, sizeof(sa.sun_path), "/proc/self/fd/%d/%s", dirfd,
		         BR_SHIM_SOCKET);
	}
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return br_err_errno(err, BR_INTERNAL, errno, "socket");
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		if (errno == ENOENT)
			return br_err_set(err, BR_NOT_FOUND, "shim socket %s/%s: not found",
			                  state_dir, BR_SHIM_SOCKET);
		if (errno == ECONNREFUSED)
			return br_err_set(err, BR_UNAVAILABLE,
			                  "shim socket %s/%s: nobody listens (the shim is gone)",
			                  state_dir, BR_SHIM_SOCKET);
		return br_err_errno(err, BR_UNAVAILABLE, errno, "connect to shim at %s", state_dir);
	}
	return br_steal_fd(&fd);
}

/* Decode one reply packet; an error reply becomes -1 with its code and message. */
static int
decode_reply(const void *buf, size_t len, br_arena *arena, struct br_shim_reply *ret, br_err *err)
{
	struct br_shim_reply reply;
	msgpack_object obj;

	if (br_msg_unpack(buf, len, arena, &obj, err) < 0)
		return br_err_wrap(err, "shim reply");
	if (br_msg_decode(&obj, &br_shim_reply_schema, "", arena, &reply, err) < 0)
		return br_err_wrap(err, "shim reply");
	if (reply.code != NULL && reply.code[0] != '\0') {
		br_code code = br_code_from_name(reply.code, strlen(reply.code));
		if (code == BR_OK)
			code = BR_INTERNAL;
		return br_err_set(err, code, "%s", reply.msg ? reply.msg : "shim error");
	}
	*ret = reply;
	return 0;
}

int
br_shim_call(int fd, const struct br_shim_req *req, int timeout_ms, br_arena *arena,
             struct br_shim_reply *ret, br_err *err)
{
	return br_shim_call_passing(fd, req, -1, timeout_ms, arena, ret, err);
}

int
br_shim_call_passing(int fd, const struct br_shim_req *req, int pass_fd, int timeout_ms,
                     br_arena *arena, struct br_shim_reply *ret, br_err *err)
{
	struct br_shim_req r = *req;
	msgpack_sbuffer sb;
	msgpack_packer pk;
	char buf[BR_SHIM_MSG_MAX];
	int64_t deadline = timeout_ms < 0 ? 0 : mono_ms() + timeout_ms;
	ssize_t n;

	r.v = BR_SHIM_VERSION;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	br_msg_encode(&pk, &br_shim_req_schema, &r);
	if (sb.size > BR_SHIM_MSG_MAX) {
		msgpack_sbuffer_destroy(&sb);
		return br_err_set(err, BR_INVALID_ARGUMENT, "shim request too large");
	}
	if (pass_fd >= 0) {
		int rc = br_stream_send_fd(fd, sb.data, sb.size, pass_fd, err);
		msgpack_sbuffer_destroy(&sb);
		if (rc < 0)
			return br_err_wrap(err, "shim %s", req->m);
	} else {
		do
			n = send(fd, sb.data, sb.size, MSG_NOSIGNAL);
		while (n < 0 && errno == EINTR);
		msgpack_sbuffer_destroy(&sb);
		if (n < 0)
			return br_err_errno(err, BR_UNAVAILABLE, errno, "shim %s: send", req->m);
	}

	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int rc = poll(&p, 1, poll_timeout(deadline));
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc < 0)
			return br_err_errno(err, BR_INTERNAL, errno, "shim %s: poll", req->m);
		if (rc == 0)
			return br_err_set(err, BR_DEADLINE_EXCEEDED,
			                  "shim %s: no reply within %d ms", req->m, timeout_ms);
		n = recv(fd, buf, sizeof(buf), MSG_TRUNC);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0)
			return br_err_errno(err, BR_UNAVAILABLE, errno, "shim %s: receive", req->m);
		if (n == 0)
			return br_err_set(err, BR_UNAVAILABLE,
			                  "shim %s: the shim closed the connection", req->m);
		if ((size_t)n > sizeof(buf))
			return br_err_set(err, BR_INVALID_ARGUMENT,
			                  "shim %s: reply of %zd bytes is too large", req->m, n);
		break;
	}
	if (decode_reply(buf, (size_t)n, arena, ret, err) < 0) {
		if (err != NULL && err->code == BR_INVALID_ARGUMENT)
			br_err_wrap(err, "shim %s", req->m);
		return -1;
	}
	return 0;
}

int
br_shim_call_at(const char *state_dir, const struct br_shim_req *req, int timeout_ms,
                br_arena *arena, struct br_shim_reply *ret, br_err *err)
{
	_cleanup_close_ int fd = br_shim_connect(state_dir, err);

	if (fd < 0)
		return -1;
	return br_shim_call(fd, req, timeout_ms, arena, ret, err);
}

int
br_shim_read_report(int fd, int timeout_ms, br_arena *arena, struct br_shim_reply *ret, br_err *err)
{
	char buf[BR_SHIM_MSG_MAX];
	size_t len = 0;
	int64_t deadline = timeout_ms < 0 ? 0 : mono_ms() + timeout_ms;

	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int rc = poll(&p, 1, poll_timeout(deadline));
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc < 0)
			return br_err_errno(err, BR_INTERNAL, errno, "shim report: poll");
		if (rc == 0)
			return br_err_set(err, BR_DEADLINE_EXCEEDED,
			                  "the shim did not report within %d ms", timeout_ms);
		if (len == sizeof(buf))
			return br_err_set(err, BR_INVALID_ARGUMENT, "shim report too large");
		ssize_t n = read(fd, buf + len, sizeof(buf) - len);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0)
			return br_err_errno(err, BR_INTERNAL, errno, "shim report: read");
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len == 0)
		return br_err_set(err, BR_INTERNAL,
		                  "the shim exited without a report (see its "
		                  "shim.log)");
	return decode_reply(buf, len, arena, ret, err);
}

void
br_shim_reply_pack(msgpack_sbuffer *out, const struct br_shim_reply *reply)
{
	struct br_shim_reply r = *reply;
	msgpack_packer pk;

	r.v = BR_SHIM_VERSION;
	msgpack_packer_init(&pk, out, msgpack_sbuffer_write);
	br_msg_encode(&pk, &br_shim_reply_schema, &r);
}

int
br_shim_write_exit(int dirfd, int64_t exit_status, int64_t exited_at, br_err *err)
{
	return br_shim_write_exit_oom(dirfd, exit_status, exited_at, false, err);
}

int
br_shim_write_exit_oom(int dirfd, int64_t exit_status, int64_t exited_at, bool oom_killed,
                       br_err *err)
{
	static const char tmp[] = BR_SHIM_EXIT_FILE ".tmp";
	char line[64];
	int n = snprintf(line, sizeof(line), "%" PRId64 " %" PRId64 "%s\n", exit_status, exited_at,
	                 oom_killed ? " oom" : "");
	_cleanup_close_ int fd = -1;

	fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		return br_err_errno(err, BR_INTERNAL, errno, "create %s", tmp);
	if (write(fd, line, (size_t)n) != n)
		return br_err_errno(err, BR_INTERNAL, errno, "write %s", tmp);
	if (fsync(fd) < 0)
		return br_err_errno(err, BR_INTERNAL, errno, "fsync %s", tmp);
	if (renameat(dirfd, tmp, dirfd, BR_SHIM_EXIT_FILE) < 0)
		return br_err_errno(err, BR_INTERNAL, errno, "rename %s", tmp);
	if (fsync(dirfd) < 0)
		return br_err_errno(err, BR_INTERNAL, errno, "fsync state directory");
	return 0;
}

/* Read a small file into buf (NUL-terminated). */
static int
read_small(int dirfd, const char *name, char *buf, size_t cap, br_err *err)
{
	_cleanup_close_ int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	ssize_t n;

	if (fd < 0) {
		if (errno == ENOENT)
			return br_err_set(err, BR_NOT_FOUND, "%s: not found", name);
		return br_err_errno(err, BR_INTERNAL, errno, "open %s", name);
	}
	do
		n = read(fd, buf, cap - 1);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return br_err_errno(err, BR_INTERNAL, errno, "read %s", name);
	buf[n] = '\0';
	return 0;
}

int
br_shim_read_exit(int dirfd, int64_t *ret_status, int64_t *ret_exited_at, br_err *err)
{
	return br_shim_read_exit_oom(dirfd, ret_status, ret_exited_at, NULL, err);
}

int
br_shim_read_exit_oom(int dirfd, int64_t *ret_status, int64_t *ret_exited_at, bool *ret_oom_killed,
                      br_err *err)
{
	char buf[64];
	long long status, at;
	int end = 0;
	bool oom = false;

	if (read_small(dirfd, BR_SHIM_EXIT_FILE, buf, sizeof(buf), err) < 0)
		return -1;
	if (sscanf(buf, "%lld %lld%n", &status, &at, &end) == 2 && strcmp(buf + end, " oom\n") == 0)
		oom = true;
	else if (end == 0 || strcmp(buf + end, "\n") != 0)
		end = 0;
	if (end == 0 || status < 0 || status > 255 || at < 0)
		return br_err_set(err, BR_INVALID_ARGUMENT, "%s: malformed: \"%.40s\"",
		                  BR_SHIM_EXIT_FILE, buf);
	*ret_status = status;
	*ret_exited_at = at;
	if (ret_oom_killed != NULL)
		*ret_oom_killed = oom;
	return 0;
}

int
br_shim_read_pid(int dirfd, const char *name, pid_t *ret_pid, br_err *err)
{
	char buf[32];
	char *end;
	long pid;

	if (read_small(dirfd, name, buf, sizeof(buf), err) < 0)
		return -1;
	errno = 0;
	pid = strtol(buf, &end, 10);
	if (errno != 0 || end == buf || (*end != '\0' && *end != '\n') || pid <= 0 ||
	    pid > INT32_MAX)
		return br_err_set(err, BR_INVALID_ARGUMENT, "%s: malformed pid \"%.20s\"", name,
		                  buf);
	*ret_pid = (pid_t)pid;
	return 0;
}
