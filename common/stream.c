/* SPDX-License-Identifier: Apache-2.0 */
/* Stream frames and fd passing (common/stream.h). */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/rpc.h"
#include "common/stream.h"
#include "common/xalloc.h"

/* sendmsg(2) itself: the daemons' libcommon also defines sendmsg (rpc_listener.c, around
 * nng's ipc transport), which a static berth-shim must not pull in. */
static ssize_t
raw_sendmsg(int fd, const struct msghdr *mh, int flags)
{
	return (ssize_t)syscall(SYS_sendmsg, fd, mh, flags);
}

void
br_stream_header_pack(uint8_t out[BR_STREAM_HEADER_LEN], enum br_stream_type type, uint32_t len)
{
	out[0] = (uint8_t)type;
	out[1] = out[2] = out[3] = 0;
	out[4] = (uint8_t)(len >> 24);
	out[5] = (uint8_t)(len >> 16);
	out[6] = (uint8_t)(len >> 8);
	out[7] = (uint8_t)len;
}

int
br_stream_header_parse(const uint8_t in[BR_STREAM_HEADER_LEN], enum br_stream_type *ret_type,
                       uint32_t *ret_len, br_err *err)
{
	uint32_t len = (uint32_t)in[4] << 24 | (uint32_t)in[5] << 16 | (uint32_t)in[6] << 8 | in[7];

	if (in[0] > BR_STREAM_TYPE_MAX)
		return br_err_set(err, BR_INVALID_ARGUMENT, "stream: unknown frame type %u", in[0]);
	if (in[1] != 0 || in[2] != 0 || in[3] != 0)
		return br_err_set(err, BR_INVALID_ARGUMENT, "stream: malformed frame header");
	if (len > BR_STREAM_FRAME_MAX)
		return br_err_set(err, BR_INVALID_ARGUMENT,
		                  "stream: frame of %u bytes is too large (limit %u)", len,
		                  BR_STREAM_FRAME_MAX);
	*ret_type = (enum br_stream_type)in[0];
	*ret_len = len;
	return 0;
}

int
br_stream_write_frame(int fd, enum br_stream_type type, const void *data, uint32_t len, br_err *err)
{
	uint8_t head[BR_STREAM_HEADER_LEN];
	struct iovec iov[2] = {{head, sizeof(head)}, {(void *)data, len}};
	struct msghdr mh = {.msg_iov = iov, .msg_iovlen = len ? 2 : 1};
	size_t left = sizeof(head) + len;

	br_stream_header_pack(head, type, len);
	while (left > 0) {
		ssize_t n = raw_sendmsg(fd, &mh, MSG_NOSIGNAL);
		if (n < 0 && errno == ENOTSOCK)
			n = writev(fd, mh.msg_iov, (int)mh.msg_iovlen);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return br_err_errno(err,
			                    errno == EPIPE || errno == ECONNRESET ? BR_UNAVAILABLE
			                                                          : BR_INTERNAL,
			                    errno, "stream: write");
		left -= (size_t)n;
		while (n > 0 && mh.msg_iovlen > 0) {
			size_t take =
			        (size_t)n < mh.msg_iov->iov_len ? (size_t)n : mh.msg_iov->iov_len;
			mh.msg_iov->iov_base = (char *)mh.msg_iov->iov_base + take;
			mh.msg_iov->iov_len -= take;
			n -= (ssize_t)take;
			if (mh.msg_iov->iov_len == 0) {
				mh.msg_iov++;
				mh.msg_iovlen--;
			}
		}
	}
	return 0;
}

static int
read_full(int fd, void *buf, size_t len, int timeout_ms, br_err *err)
{
	for (size_t done = 0; done < len;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int rc = poll(&p, 1, timeout_ms);
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc == 0)
			return br_err_set(err, BR_DEADLINE_EXCEEDED, "stream: no data for %d ms",
			                  timeout_ms);
		ssize_t n = read(fd, (char *)buf + done, len - done);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0)
			return br_err_errno(err, errno == ECONNRESET ? BR_UNAVAILABLE : BR_INTERNAL,
			                    errno, "stream: read");
		if (n == 0)
			return br_err_set(err, BR_UNAVAILABLE, "stream: connection closed");
		done += (size_t)n;
	}
	return 0;
}

int
br_stream_read_frame(int fd, int timeout_ms, enum br_stream_type *ret_type, void *buf, size_t cap,
                     uint32_t *ret_len, br_err *err)
{
	uint8_t head[BR_STREAM_HEADER_LEN];

	if (read_full(fd, head, sizeof(head), timeout_ms, err) < 0 ||
	    br_stream_header_parse(head, ret_type, ret_len, err) < 0)
		return -1;
	if (*ret_len > cap)
		return br_err_set(err, BR_INVALID_ARGUMENT,
		                  "stream: frame of %u bytes is too large (limit %zu)", *ret_len,
		                  cap);
	return read_full(fd, buf, *ret_len, timeout_ms, err);
}

int
br_stream_write_reply(int fd, const br_err *err, br_err *ret_err)
{
	msgpack_sbuffer sb;
	int rc;

	msgpack_sbuffer_init(&sb);
	if (err != NULL)
		br_reply_encode_error(&sb, err);
	else
		br_reply_encode_result(&sb, NULL, NULL);
	rc = br_stream_write_frame(fd, BR_STREAM_REPLY, sb.data, (uint32_t)sb.size, ret_err);
	msgpack_sbuffer_destroy(&sb);
	return rc;
}

int
br_stream_send_fd(int sock, const void *data, size_t len, int fd, br_err *err)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = {(void *)data, len};
	struct msghdr mh = {
	        .msg_iov = &iov,
	        .msg_iovlen = 1,
	        .msg_control = u.buf,
	        .msg_controllen = sizeof(u.buf),
	};
	struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
	ssize_t n;

	memset(u.buf, 0, sizeof(u.buf));
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	do
		n = raw_sendmsg(sock, &mh, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return br_err_errno(err, BR_UNAVAILABLE, errno, "pass a stream on");
	return 0;
}

ssize_t
br_stream_recv_fd(int sock, void *buf, size_t cap, int *ret_fd, br_err *err)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * 4)];
		struct cmsghdr align;
	} u;
	struct iovec iov = {buf, cap};
	struct msghdr mh = {
	        .msg_iov = &iov,
	        .msg_iovlen = 1,
	        .msg_control = u.buf,
	        .msg_controllen = sizeof(u.buf),
	};
	ssize_t n;
	int nfds = 0;

	*ret_fd = -1;
	do
		n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		int e = errno;
		br_err_errno(err, e == EAGAIN ? BR_UNAVAILABLE : BR_INTERNAL, e,
		             "receive a stream");
		errno = e;
		return -1;
	}
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm != NULL; cm = CMSG_NXTHDR(&mh, cm)) {
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		size_t k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < k; i++) {
			int fd;
			memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
			if (nfds++ == 0)
				*ret_fd = fd;
			else
				close(fd);
		}
	}
	if (nfds > 1) {
		close(*ret_fd);
		*ret_fd = -1;
		return br_err_set(err, BR_INVALID_ARGUMENT, "a stream message carried %d fds",
		                  nfds);
	}
	if (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) {
		if (*ret_fd >= 0)
			close(*ret_fd);
		*ret_fd = -1;
		return br_err_set(err, BR_INVALID_ARGUMENT, "a stream message was too large");
	}
	return n;
}

char *
br_stream_socket_path(const char *socket_path)
{
	size_t len = strlen(socket_path);

	if (len > 5 && strcmp(socket_path + len - 5, ".sock") == 0)
		return xasprintf("%.*s-stream.sock", (int)(len - 5), socket_path);
	return xasprintf("%s-stream", socket_path);
}
