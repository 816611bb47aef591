/* SPDX-License-Identifier: Apache-2.0 */
/* Streams: opening exec, attach and export on the gateway's stream socket, and their frames
 * (berth.h; the protocol is common/stream.h, docs/streams.md). */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/proto/tasks.h"
#include "common/stream.h"
#include "common/xalloc.h"
#include "libberth/internal.h"

#define OPEN_TIMEOUT_MS 180000 /* a start behind an attach runs the runtime's create */

/* Open a stream; with `rs`, the REPLY's result decoded into ret_result (strings in arena). */
static int
open_stream(const char *socket_path, const char *method, const char *ns, const void *params,
            size_t len, const struct br_schema *rs, void *ret_result, br_arena *result_arena,
            int *ret_fd, br_err *err)
{
	_cleanup_free_ char *path = br_stream_socket_path(socket_path);
	_cleanup_free_ char *reply = NULL;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	msgpack_sbuffer sb;
	enum br_stream_type type;
	uint32_t n;
	int rc;

	if (strlen(path) >= sizeof(sa.sun_path))
		return br_err_set(err, BR_INVALID_ARGUMENT, "stream socket %s: path too long",
		                  path);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return br_err_errno(err, BR_INTERNAL, errno, "socket");
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;
		close(fd);
		return br_err_errno(err, e == EACCES ? BR_PERMISSION_DENIED : BR_UNAVAILABLE, e,
		                    "cannot reach %s's stream socket at %s", BERTH_GATEWAY_NAME,
		                    path);
	}
	msgpack_sbuffer_init(&sb);
	br_request_encode_raw(&sb, method, ns ? ns : "default", NULL, 0, params, len);
	rc = br_stream_write_frame(fd, BR_STREAM_HEADER, sb.data, (uint32_t)sb.size, err);
	msgpack_sbuffer_destroy(&sb);
	reply = xmalloc(BR_STREAM_FRAME_MAX);
	if (rc == 0)
		rc = br_stream_read_frame(fd, OPEN_TIMEOUT_MS, &type, reply, BR_STREAM_FRAME_MAX,
		                          &n, err);
	if (rc < 0 && err->code == BR_UNAVAILABLE)
		br_err_set(err, BR_UNAVAILABLE,
		           "the stream closed before it opened (is the daemon behind it running?)");
	if (rc == 0 && type != BR_STREAM_REPLY)
		rc = br_err_set(err, BR_INTERNAL, "stream: expected a reply, got frame type %d",
		                (int)type);
	if (rc == 0) {
		br_arena *arena = br_arena_new();
		msgpack_object result;
		rc = br_reply_decode(reply, n, arena, &result, err);
		if (rc == 0 && rs != NULL)
			rc = br_msg_decode(&result, rs, "r", result_arena, ret_result, err);
		br_arena_free(arena);
	}
	if (rc < 0) {
		close(fd);
		return -1;
	}
	*ret_fd = fd;
	return 0;
}

int
libberth_stream_open_schema(const char *socket_path, const char *method, const char *ns,
                            const struct br_schema *ps, const void *params, int *ret_fd,
                            br_err *err)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	int rc;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	br_msg_encode(&pk, ps, params);
	rc = open_stream(socket_path, method, ns, sb.data, sb.size, NULL, NULL, NULL, ret_fd, err);
	msgpack_sbuffer_destroy(&sb);
	return rc;
}

int
libberth_stream_open_result(const char *socket_path, const char *method, const char *ns,
                            const struct br_schema *ps, const void *params,
                            const struct br_schema *rs, void *ret_result, br_arena *arena,
                            int *ret_fd, br_err *err)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	int rc;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	br_msg_encode(&pk, ps, params);
	rc = open_stream(socket_path, method, ns, sb.data, sb.size, rs, ret_result, arena, ret_fd,
	                 err);
	msgpack_sbuffer_destroy(&sb);
	return rc;
}

int
berth_stream_open(berth_client *c, const char *method, const char *ns, const void *params,
                  size_t len, int *ret_fd, berth_error *err)
{
	br_err e = BR_ERR_INIT;

	if (open_stream(c->path, method, ns, params, len, NULL, NULL, NULL, ret_fd, &e) < 0) {
		libberth_error_from_br(err, &e);
		return -1;
	}
	return 0;
}

int
berth_exec_open(berth_client *c, const char *ns, const char *id, const berth_exec_options *o,
                int *ret_fd, berth_error *err)
{
	struct br_task_exec_req req = {
	        .id = id,
	        .args = {(const char **)o->args, o->n_args},
	        .env = {(const char **)o->env, o->n_env},
	        .user = o->user,
	        .working_dir = o->working_dir,
	        .terminal = o->terminal,
	        .stdin = o->stdin,
	        .rows = o->rows,
	        .cols = o->cols,
	};
	br_err e = BR_ERR_INIT;

	if (libberth_stream_open_schema(c->path, "tasks.exec", ns, &br_task_exec_req_schema, &req,
	                                ret_fd, &e) < 0) {
		libberth_error_from_br(err, &e);
		return -1;
	}
	return 0;
}

int
berth_attach_open(berth_client *c, const char *ns, const char *id, bool stdin, uint32_t rows,
                  uint32_t cols, int *ret_fd, berth_error *err)
{
	struct br_task_attach_req req = {.id = id, .stdin = stdin, .rows = rows, .cols = cols};
	br_err e = BR_ERR_INIT;

	if (libberth_stream_open_schema(c->path, "tasks.attach", ns, &br_task_attach_req_schema,
	                                &req, ret_fd, &e) < 0) {
		libberth_error_from_br(err, &e);
		return -1;
	}
	return 0;
}

int
berth_stream_write(int fd, int type, const void *data, size_t len, berth_error *err)
{
	br_err e = BR_ERR_INIT;

	if (type < 0 || type > BR_STREAM_TYPE_MAX || len > BR_STREAM_FRAME_MAX)
		return libberth_error_set(err, BERTH_INVALID_ARGUMENT,
		                          "stream frame of type %d and %zu bytes", type, len);
	if (br_stream_write_frame(fd, (enum br_stream_type)type, data, (uint32_t)len, &e) < 0) {
		libberth_error_from_br(err, &e);
		return -1;
	}
	return 0;
}

int
berth_stream_read(int fd, int timeout_ms, int *ret_type, void *buf, size_t cap, size_t *ret_len,
                  berth_error *err)
{
	enum br_stream_type type;
	uint32_t len;
	br_err e = BR_ERR_INIT;

	if (br_stream_read_frame(fd, timeout_ms, &type, buf, cap, &len, &e) < 0) {
		libberth_error_from_br(err, &e);
		return -1;
	}
	*ret_type = (int)type;
	*ret_len = len;
	return 0;
}
