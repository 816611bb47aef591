/* SPDX-License-Identifier: Apache-2.0 */
/* Stream frames and fd passing (common/stream.c). */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/rpc.h"
#include "common/stream.h"
#include "t.h"

static void
test_header_round_trip(void)
{
	uint8_t h[BR_STREAM_HEADER_LEN];
	enum br_stream_type type;
	uint32_t len;
	br_err err = BR_ERR_INIT;

	br_stream_header_pack(h, BR_STREAM_STDERR, 70000 - 4465);
	T_EQ_INT(h[0], 2);
	T_EQ_INT(h[1] | h[2] | h[3], 0);
	T_NOERR(br_stream_header_parse(h, &type, &len, &err), err);
	T_EQ_INT(type, BR_STREAM_STDERR);
	T_EQ_INT(len, 70000 - 4465);
}

static void
test_header_refusals(void)
{
	uint8_t bad_type[8] = {8, 0, 0, 0, 0, 0, 0, 1};
	uint8_t padding[8] = {1, 0, 1, 0, 0, 0, 0, 1};
	uint8_t large[8] = {1, 0, 0, 0, 0, 1, 0, 1};
	enum br_stream_type type;
	uint32_t len;
	br_err err = BR_ERR_INIT;

	T_ERR(br_stream_header_parse(bad_type, &type, &len, &err), err, BR_INVALID_ARGUMENT);
	T_OK(strstr(err.msg, "unknown frame type 8") != NULL);
	br_err_clear(&err);
	T_ERR(br_stream_header_parse(padding, &type, &len, &err), err, BR_INVALID_ARGUMENT);
	br_err_clear(&err);
	T_ERR(br_stream_header_parse(large, &type, &len, &err), err, BR_INVALID_ARGUMENT);
	T_OK(strstr(err.msg, "too large") != NULL);
}

static void
test_frames_over_a_socket(void)
{
	int sv[2];
	char buf[64];
	enum br_stream_type type;
	uint32_t len;
	br_err err = BR_ERR_INIT;

	T_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	T_NOERR(br_stream_write_frame(sv[0], BR_STREAM_STDOUT, "hello", 5, &err), err);
	T_NOERR(br_stream_write_frame(sv[0], BR_STREAM_STDIN_CLOSE, NULL, 0, &err), err);
	T_NOERR(br_stream_read_frame(sv[1], 1000, &type, buf, sizeof(buf), &len, &err), err);
	T_EQ_INT(type, BR_STREAM_STDOUT);
	T_EQ_INT(len, 5);
	T_OK(memcmp(buf, "hello", 5) == 0);
	T_NOERR(br_stream_read_frame(sv[1], 1000, &type, buf, sizeof(buf), &len, &err), err);
	T_EQ_INT(type, BR_STREAM_STDIN_CLOSE);
	T_EQ_INT(len, 0);
	/* Nothing more: the time is up. */
	T_ERR(br_stream_read_frame(sv[1], 50, &type, buf, sizeof(buf), &len, &err), err,
	      BR_DEADLINE_EXCEEDED);
	br_err_clear(&err);
	/* A frame larger than the reader's buffer is refused. */
	T_NOERR(br_stream_write_frame(sv[0], BR_STREAM_STDOUT, "0123456789", 10, &err), err);
	T_ERR(br_stream_read_frame(sv[1], 1000, &type, buf, 4, &len, &err), err,
	      BR_INVALID_ARGUMENT);
	br_err_clear(&err);
	close(sv[0]);
	close(sv[1]);
	/* The writer went: UNAVAILABLE. */
	T_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	close(sv[0]);
	T_ERR(br_stream_read_frame(sv[1], 1000, &type, buf, sizeof(buf), &len, &err), err,
	      BR_UNAVAILABLE);
	close(sv[1]);
}

static void
test_reply_frames(void)
{
	int sv[2];
	char buf[512];
	enum br_stream_type type;
	uint32_t len;
	br_err err = BR_ERR_INIT, why = BR_ERR_INIT, got = BR_ERR_INIT;
	msgpack_object result;
	br_arena *a = br_arena_new();

	T_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	br_err_set(&why, BR_FAILED_PRECONDITION, "container x is not running");
	T_NOERR(br_stream_write_reply(sv[0], &why, &err), err);
	T_NOERR(br_stream_write_reply(sv[0], NULL, &err), err);
	T_NOERR(br_stream_read_frame(sv[1], 1000, &type, buf, sizeof(buf), &len, &err), err);
	T_EQ_INT(type, BR_STREAM_REPLY);
	T_ERR(br_reply_decode(buf, len, a, &result, &got), got, BR_FAILED_PRECONDITION);
	T_EQ_STR(got.msg, "container x is not running");
	T_NOERR(br_stream_read_frame(sv[1], 1000, &type, buf, sizeof(buf), &len, &err), err);
	T_NOERR(br_reply_decode(buf, len, a, &result, &got), got);
	br_arena_free(a);
	close(sv[0]);
	close(sv[1]);
}

static void
test_fd_passing(void)
{
	int sv[2], p[2], got = -1;
	char buf[16];
	br_err err = BR_ERR_INIT;

	T_OK(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) == 0);
	T_OK(pipe(p) == 0);
	T_NOERR(br_stream_send_fd(sv[0], "hdr", 3, p[1], &err), err);
	close(p[1]);
	ssize_t n = br_stream_recv_fd(sv[1], buf, sizeof(buf), &got, &err);
	T_EQ_INT(n, 3);
	T_OK(got >= 0);
	T_OK(fcntl(got, F_GETFD) & FD_CLOEXEC);
	/* The passed fd is the pipe's write end. */
	T_EQ_INT(write(got, "x", 1), 1);
	T_EQ_INT(read(p[0], buf, 1), 1);
	T_EQ_INT(buf[0], 'x');
	close(got);
	/* A message without an fd. */
	T_EQ_INT(send(sv[0], "plain", 5, 0), 5);
	n = br_stream_recv_fd(sv[1], buf, sizeof(buf), &got, &err);
	T_EQ_INT(n, 5);
	T_EQ_INT(got, -1);
	/* A message too large for the buffer is refused, its fd closed. */
	T_NOERR(br_stream_send_fd(sv[0], "0123456789abcdefXYZ", 19, p[0], &err), err);
	T_ERR(br_stream_recv_fd(sv[1], buf, sizeof(buf), &got, &err), err, BR_INVALID_ARGUMENT);
	T_EQ_INT(got, -1);
	close(sv[0]);
	T_EQ_INT(br_stream_recv_fd(sv[1], buf, sizeof(buf), &got, &err), 0);
	close(sv[1]);
}

static void
test_socket_path(void)
{
	char *a = br_stream_socket_path("/run/berth/berth.sock");
	char *b = br_stream_socket_path("/tmp/x/gw");

	T_EQ_STR(a, "/run/berth/berth-stream.sock");
	T_EQ_STR(b, "/tmp/x/gw-stream");
	free(a);
	free(b);
}

T_MAIN(T_CASE(test_header_round_trip), T_CASE(test_header_refusals),
       T_CASE(test_frames_over_a_socket), T_CASE(test_reply_frames), T_CASE(test_fd_passing),
       T_CASE(test_socket_path))
