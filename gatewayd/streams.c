/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The stream socket (common/stream.h, docs/streams.md): beside the gateway's socket, with its
 * mode and group. Each connection's first frame is the request envelope of a stream method
 * (tasks.exec, tasks.attach, images.export); the gateway checks the caller (its SO_PEERCRED,
 * against the same roles as calls), re-encodes the envelope for backends (namespace, uid) and
 * hands the connection to the stream socket of the daemon that owns the method's service
 * (taskd's, imaged's) with SCM_RIGHTS. From then on the gateway is out of the stream's way:
 * its restart does not end it. Reading the first frame blocks (bounded by
 * BR_STREAM_OPEN_TIMEOUT_MS), so it runs on the thread pool; the rest is on the loop.
 */
#include <errno.h>
#include <grp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/log.h"
#include "common/proto/gateway.h"
#include "common/stream.h"
#include "common/xalloc.h"
#include "gatewayd/gatewayd.h"

#define GW_STREAMS_PENDING_MAX 64 /* connections still sending their first frame */

struct gw_streams {
	struct gateway *gw;
	char *path;        /* our socket */
	char *taskd_path;  /* taskd's stream socket */
	char *imaged_path; /* imaged's */
	int listen_fd;
	uv_poll_t poll;
	unsigned pending;
	bool stopping;
};

struct opening {
	uv_work_t work;
	struct gw_streams *st;
	int fd;
	struct ucred cred;
	char *frame; /* the envelope */
	uint32_t len;
	br_err err;
};

static int
listen_on(const char *path, const char *group, br_err *err)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};

	if (strlen(path) >= sizeof(sa.sun_path))
		return br_err_set(err, BR_INVALID_ARGUMENT, "stream socket %s: path too long",
		                  path);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (unlink(path) < 0 && errno != ENOENT)
		return br_err_errno(err, BR_INTERNAL, errno, "remove stale %s", path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return br_err_errno(err, BR_INTERNAL, errno, "socket");
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || chmod(path, 0660) < 0 ||
	    listen(fd, 64) < 0) {
		int e = errno;
		close(fd);
		return br_err_errno(err, BR_INTERNAL, e, "listen on %s", path);
	}
	if (group != NULL && group[0] != '\0') {
		struct group *g = getgrnam(group);
		if (g != NULL && chown(path, 0, g->gr_gid) < 0)
			br_log_warn("GW-STREAM-CHOWN", "chown %s to group \"%s\": %s, ignoring",
			            path, group, strerror(errno));
	}
	return fd;
}

/* Worker: the first frame. */
static void
read_open(uv_work_t *w)
{
	struct opening *o = w->data;
	enum br_stream_type type;

	o->frame = xmalloc(BR_STREAM_OPEN_MAX);
	if (br_stream_read_frame(o->fd, BR_STREAM_OPEN_TIMEOUT_MS, &type, o->frame,
	                         BR_STREAM_OPEN_MAX, &o->len, &o->err) < 0) {
		br_err_wrap(&o->err, "stream: the opening frame");
		return;
	}
	if (type != BR_STREAM_HEADER)
		br_err_set(&o->err, BR_INVALID_ARGUMENT,
		           "stream: the first frame must be a header (type %d), not type %d",
		           BR_STREAM_HEADER, (int)type);
}

/* The methods that are streams, and the daemon each is handed to. */
static const struct {
	const char *method;
	const char *daemon;
} stream_methods[] = {
        {"tasks.exec", "taskd"},
        {"tasks.attach", "taskd"},
        {"images.export", "imaged"},
};

/* The stream socket of the daemon that serves stream `method`, or NULL: no such stream. */
static const char *
stream_route(const struct gw_streams *st, const char *method, const char **ret_daemon)
{
	for (size_t i = 0; i < sizeof(stream_methods) / sizeof(stream_methods[0]); i++) {
		if (strcmp(stream_methods[i].method, method) != 0)
			continue;
		*ret_daemon = stream_methods[i].daemon;
		return strcmp(stream_methods[i].daemon, "imaged") == 0 ? st->imaged_path
		                                                       : st->taskd_path;
	}
	return NULL;
}

/* Check the caller and pass the stream on; -1 with err when it is refused. */
static int
hand_over(struct opening *o, br_err *err)
{
	struct gw_streams *st = o->st;
	br_arena *arena = br_arena_new();
	struct br_request req;
	msgpack_sbuffer sb;
	_cleanup_close_ int sock = -1;
	int rc = -1;

	msgpack_sbuffer_init(&sb);
	if (br_request_decode(o->frame, o->len, arena, &req, err) < 0)
		goto out;
	const char *ns = req.ns[0] != '\0' ? req.ns : "default";
	const char *daemon = NULL;
	const char *path = stream_route(st, req.method, &daemon);
	if (path == NULL) {
		br_err_set(err, BR_NOT_IMPLEMENTED,
		           "%s is no stream (tasks.exec, tasks.attach, images.export are)",
		           req.method);
		goto out;
	}
	if (gw_check_peer(st->gw, o->cred.uid, (uint32_t)o->cred.pid, ns, req.method,
	                  br_gateway_method_role(req.method, &req.params), err) < 0)
		goto out;
	br_request_encode_forward(&sb, &req, ns, 0, o->cred.uid);

	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	sock = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (sock < 0 || connect(sock, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		br_err_errno(err, BR_UNAVAILABLE, errno, "%s is not available", daemon);
		goto out;
	}
	rc = br_stream_send_fd(sock, sb.data, sb.size, o->fd, err);
	if (rc == 0)
		br_log_debug("GW-STREAM", "uid %u: %s in %s handed to %s", o->cred.uid, req.method,
		             ns, daemon);
out:
	msgpack_sbuffer_destroy(&sb);
	br_arena_free(arena);
	return rc;
}

static void
streams_free(struct gw_streams *st)
{
	free(st->path);
	free(st->taskd_path);
	free(st->imaged_path);
	free(st);
}

static void
opened(uv_work_t *w, int status)
{
	struct opening *o = w->data;
	struct gw_streams *st = o->st;
	br_err err = BR_ERR_INIT, ignored = BR_ERR_INIT;

	st->pending--;
	if (o->err.code != BR_OK) {
		/* A client that hung up or said nothing is not worth an answer. */
		if (o->err.code != BR_UNAVAILABLE)
			br_stream_write_reply(o->fd, &o->err, &ignored);
	} else if (hand_over(o, &err) < 0) {
		br_stream_write_reply(o->fd, &err, &ignored);
	}
	close(o->fd);
	free(o->frame);
	free(o);
	if (st->stopping && st->pending == 0)
		streams_free(st);
}

static void
on_accept(uv_poll_t *h, int status, int events)
{
	struct gw_streams *st = h->data;

	for (;;) {
		int fd = accept4(st->listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			return;
		struct ucred cred;
		socklen_t len = sizeof(cred);
		if (st->pending >= GW_STREAMS_PENDING_MAX ||
		    getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
			br_log_warn("GW-STREAM-LIMIT", "%u streams opening at once; refusing one",
			            st->pending);
			close(fd);
			continue;
		}
		struct opening *o = xnew(struct opening);
		o->st = st;
		o->fd = fd;
		o->cred = cred;
		o->work.data = o;
		st->pending++;
		uv_queue_work(st->gw->loop->uv, &o->work, read_open, opened);
	}
}

int
gw_streams_start(struct gateway *gw, br_err *err)
{
	_cleanup_free_ char *url = br_config_socket_url(gw->cfg, "gatewayd");
	_cleanup_free_ char *taskd_url = br_config_socket_url(gw->cfg, "taskd");
	_cleanup_free_ char *imaged_url = br_config_socket_url(gw->cfg, "imaged");
	struct gw_streams *st = xnew(struct gw_streams);

	st->gw = gw;
	st->path = br_stream_socket_path(url + strlen("ipc://"));
	st->taskd_path = br_stream_socket_path(taskd_url + strlen("ipc://"));
	st->imaged_path = br_stream_socket_path(imaged_url + strlen("ipc://"));
	st->listen_fd = listen_on(st->path, gw->cfg->gatewayd.group, err);
	if (st->listen_fd < 0) {
		streams_free(st);
		return -1;
	}
	uv_poll_init(gw->loop->uv, &st->poll, st->listen_fd);
	st->poll.data = st;
	uv_poll_start(&st->poll, UV_READABLE, on_accept);
	gw->streams = st;
	return 0;
}

static void
closed(uv_handle_t *h)
{
	struct gw_streams *st = h->data;

	close(st->listen_fd);
	st->stopping = true;
	if (st->pending == 0)
		streams_free(st);
}

void
gw_streams_stop(struct gateway *gw)
{
	struct gw_streams *st = gw->streams;

	if (st == NULL)
		return;
	gw->streams = NULL;
	unlink(st->path);
	uv_close((uv_handle_t *)&st->poll, closed);
}
