/* SPDX-License-Identifier: Apache-2.0 */
#include "common/stream_listener.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/log.h"
#include "common/stream.h"
#include "common/xalloc.h"

#define STREAM_MSG_MAX (BR_STREAM_OPEN_MAX + 1024)

struct br_stream_listener {
	uv_loop_t *uv;
	char *path;
	const char *log_tag;
	br_stream_handoff_fn fn;
	void *data;
	int listen_fd;
	uv_poll_t poll;
};

/* A connection from the gateway, until its one message came. */
struct incoming {
	uv_poll_t poll;
	struct br_stream_listener *l;
	int sock;
};

static void
incoming_closed(uv_handle_t *h)
{
	struct incoming *in = h->data;

	close(in->sock);
	free(in);
}

static void
on_message(uv_poll_t *h, int status, int events)
{
	struct incoming *in = h->data;
	struct br_stream_listener *l = in->l;
	_cleanup_free_ char *buf = xmalloc(STREAM_MSG_MAX);
	br_err err = BR_ERR_INIT;
	int fd = -1;
	ssize_t n = br_stream_recv_fd(in->sock, buf, STREAM_MSG_MAX, &fd, &err);

	if (n < 0 && errno == EAGAIN)
		return;
	uv_poll_stop(h);
	uv_close((uv_handle_t *)h, incoming_closed);
	if (n <= 0 || fd < 0) {
		if (fd >= 0)
			close(fd);
		if (n < 0)
			br_log_warn(l->log_tag, "%s", err.msg);
		return;
	}
	l->fn(l->data, buf, (size_t)n, fd);
}

static void
on_accept(uv_poll_t *h, int status, int events)
{
	struct br_stream_listener *l = h->data;

	for (;;) {
		int sock = accept4(l->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (sock < 0)
			return;
		struct incoming *in = xnew(struct incoming);
		in->l = l;
		in->sock = sock;
		uv_poll_init(l->uv, &in->poll, sock);
		in->poll.data = in;
		uv_poll_start(&in->poll, UV_READABLE, on_message);
	}
}

int
br_stream_listener_start(uv_loop_t *uv, const char *rpc_url, const char *log_tag,
                         br_stream_handoff_fn fn, void *data, struct br_stream_listener **ret,
                         br_err *err)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct br_stream_listener *l = xnew(struct br_stream_listener);
	const char *path = strncmp(rpc_url, "ipc://", 6) == 0 ? rpc_url + 6 : rpc_url;

	l->uv = uv;
	l->log_tag = log_tag;
	l->fn = fn;
	l->data = data;
	l->path = br_stream_socket_path(path);
	if (strlen(l->path) >= sizeof(sa.sun_path)) {
		br_err_set(err, BR_INVALID_ARGUMENT, "stream socket %s: path too long", l->path);
		goto fail;
	}
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", l->path);
	unlink(l->path);
	l->listen_fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (l->listen_fd < 0 || bind(l->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    chmod(l->path, 0600) < 0 || listen(l->listen_fd, 64) < 0) {
		br_err_errno(err, BR_INTERNAL, errno, "listen on %s", l->path);
		if (l->listen_fd >= 0)
			close(l->listen_fd);
		goto fail;
	}
	uv_poll_init(uv, &l->poll, l->listen_fd);
	l->poll.data = l;
	uv_poll_start(&l->poll, UV_READABLE, on_accept);
	*ret = l;
	return 0;
fail:
	free(l->path);
	free(l);
	return -1;
}

static void
listener_closed(uv_handle_t *h)
{
	struct br_stream_listener *l = h->data;

	close(l->listen_fd);
	free(l->path);
	free(l);
}

void
br_stream_listener_stop(struct br_stream_listener *l)
{
	if (l == NULL)
		return;
	unlink(l->path);
	uv_close((uv_handle_t *)&l->poll, listener_closed);
}
