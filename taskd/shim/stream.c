/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Clients' streams (common/stream.h) and the processes' input. A stream belongs to the init
 * (attach) or to one exec. Output goes out as frames through a bounded queue per stream; the
 * loop reads a process's output only while every stream of it has room for one more chunk, so
 * a slow client slows only the process it watches and memory stays bounded. Input frames go
 * into the process's input queue, and a client is read only while that queue has room for a
 * whole frame, so a process that does not read its input stops its client the same way.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.h"
#include "common/rpc.h"
#include "common/xalloc.h"
#include "taskd/shim/shim.h"

/* ---- byte queues ---- */

#define BUF_SLACK 64

static size_t
buf_free(const struct shim_buf *b)
{
	return b->len < b->cap ? b->cap - b->len : 0;
}

static void
buf_push(struct shim_buf *b, const void *data, size_t len)
{
	/* BUF_SLACK past the capacity holds the EXIT frame of a full queue. */
	if (b->data == NULL)
		b->data = xmalloc(b->cap + BUF_SLACK);
	if (b->off + b->len + len > b->cap + BUF_SLACK) {
		memmove(b->data, b->data + b->off, b->len);
		b->off = 0;
	}
	memcpy(b->data + b->off + b->len, data, len);
	b->len += len;
}

static void
buf_pop(struct shim_buf *b, size_t n)
{
	b->off += n;
	b->len -= n;
	if (b->len == 0)
		b->off = 0;
}

static void
buf_free_data(struct shim_buf *b)
{
	free(b->data);
	*b = (struct shim_buf){.cap = b->cap};
}

/* ---- inputs ---- */

short
shim_input_events(const struct shim_input *in)
{
	return in->fd >= 0 && in->buf.len > 0 ? POLLOUT : 0;
}

void
shim_input_close(struct shim_input *in)
{
	if (in->fd >= 0 && !in->shared)
		close(in->fd);
	in->fd = -1;
	buf_free_data(&in->buf);
}

void
shim_input_flush(struct shim_input *in)
{
	while (in->fd >= 0 && in->buf.len > 0) {
		ssize_t n = write(in->fd, in->buf.data + in->buf.off, in->buf.len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) {
			/* The process closed its input: what is left has nowhere to go. */
			shim_input_close(in);
			return;
		}
		buf_pop(&in->buf, (size_t)n);
	}
	if (in->close_when_empty && in->buf.len == 0)
		shim_input_close(in);
}

/* End of input from a client: for a terminal, the EOF character (^D) as a typed one would;
 * for a pipe, closing it once what is queued was written. */
static void
input_end(struct shim_input *in)
{
	if (in->fd < 0)
		return;
	if (in->shared) {
		static const char eot = 4;
		if (buf_free(&in->buf) > 0)
			buf_push(&in->buf, &eot, 1);
		return;
	}
	in->close_when_empty = true;
	shim_input_flush(in);
}

static struct shim_input *
input_of(struct shim *s, const struct shim_stream *st)
{
	if (!st->stdin)
		return NULL;
	if (st->exec < 0)
		return &s->init_in;
	return &s->execs[st->exec].in;
}

static int
master_of(const struct shim *s, const struct shim_stream *st)
{
	return st->exec < 0 ? s->master : s->execs[st->exec].master;
}

/* ---- streams ---- */

static void
queue_frame(struct shim_stream *st, enum br_stream_type type, const void *data, size_t len)
{
	uint8_t head[BR_STREAM_HEADER_LEN];

	br_stream_header_pack(head, type, (uint32_t)len);
	buf_push(&st->out, head, sizeof(head));
	if (len > 0)
		buf_push(&st->out, data, len);
}

int
shim_stream_add(struct shim *s, int fd, int exec, bool stdin, bool close_stdin, br_err *err)
{
	for (int i = 0; i < SHIM_MAX_STREAMS; i++) {
		struct shim_stream *st = &s->streams[i];
		if (st->fd >= 0)
			continue;
		*st = (struct shim_stream){
		        .fd = fd,
		        .exec = exec,
		        .stdin = stdin,
		        .close_stdin = close_stdin,
		        .out = {.cap = SHIM_STREAM_OUT_MAX},
		};
		/* The reply that opens the stream: an empty result. */
		msgpack_sbuffer sb;
		msgpack_sbuffer_init(&sb);
		br_reply_encode_result(&sb, NULL, NULL);
		queue_frame(st, BR_STREAM_REPLY, sb.data, sb.size);
		msgpack_sbuffer_destroy(&sb);
		return i;
	}
	return br_err_set(err, BR_RESOURCE_EXHAUSTED, "container %s has %d streams open already",
	                  s->id, SHIM_MAX_STREAMS);
}

bool
shim_streams_room(const struct shim *s, int exec)
{
	for (int i = 0; i < SHIM_MAX_STREAMS; i++) {
		const struct shim_stream *st = &s->streams[i];
		if (st->fd >= 0 && st->exec == exec && !st->done &&
		    buf_free(&st->out) < SHIM_CHUNK + BR_STREAM_HEADER_LEN)
			return false;
	}
	return true;
}

void
shim_streams_send(struct shim *s, int exec, enum br_stream_type type, const void *data, size_t len)
{
	for (int i = 0; i < SHIM_MAX_STREAMS; i++) {
		struct shim_stream *st = &s->streams[i];
		if (st->fd < 0 || st->exec != exec || st->done)
			continue;
		/* The loop reads only with room for a chunk; a frame that does not fit now is
		 * from a process read without that check (the drain at exit): drop it. */
		if (buf_free(&st->out) >= len + BR_STREAM_HEADER_LEN)
			queue_frame(st, type, data, len);
	}
}

void
shim_streams_exit(struct shim *s, int exec, int64_t status)
{
	uint8_t v[4] = {(uint8_t)(status >> 24), (uint8_t)(status >> 16), (uint8_t)(status >> 8),
	                (uint8_t)status};

	for (int i = 0; i < SHIM_MAX_STREAMS; i++) {
		struct shim_stream *st = &s->streams[i];
		if (st->fd < 0 || st->exec != exec || st->done)
			continue;
		queue_frame(st, BR_STREAM_EXIT, v, sizeof(v));
		st->done = true;
	}
}

void
shim_stream_close(struct shim *s, int i)
{
	struct shim_stream *st = &s->streams[i];

	if (st->fd < 0)
		return;
	close(st->fd);
	buf_free_data(&st->out);
	int exec = st->exec;
	st->fd = -1;
	/* A client that goes without STDIN_CLOSE detached (or died): the init's input stays
	 * open for the next one. An exec's ends with its client. */
	if (exec >= 0 && s->execs[exec].used && s->execs[exec].stream == i)
		shim_exec_stream_gone(s, exec);
}

void
shim_streams_flush(struct shim *s, int timeout_ms)
{
	int64_t deadline = shim_now_ms() + timeout_ms;

	for (int i = 0; i < SHIM_MAX_STREAMS; i++) {
		struct shim_stream *st = &s->streams[i];
		while (st->fd >= 0 && st->out.len > 0) {
			int64_t left = deadline - shim_now_ms();
			struct pollfd p = {.fd = st->fd, .events = POLLOUT};
			if (left <= 0 || poll(&p, 1, (int)left) <= 0)
				break;
			shim_stream_handle(s, i, POLLOUT);
		}
	}
}

short
shim_stream_events(const struct shim *s, int i)
{
	const struct shim_stream *st = &s->streams[i];
	short ev = 0;

	if (st->fd < 0)
		return 0;
	if (st->out.len > 0)
		ev |= POLLOUT;
	/* Read a client only while a whole frame of input fits where it goes (a client that
	 * sends no input is read for its resizes and its end). */
	const struct shim_input *in = input_of((struct shim *)s, st);
	if (!st->done && (in == NULL || in->fd < 0 ||
	                  buf_free(&in->buf) >= BR_STREAM_FRAME_MAX + BR_STREAM_HEADER_LEN))
		ev |= POLLIN;
	return ev;
}

int
shim_stream_input(struct shim *s, int i, const uint8_t *data, size_t len)
{
	struct shim_stream *st = &s->streams[i];
	struct shim_input *in = input_of(s, st);

	while (len > 0) {
		if (st->head_len < BR_STREAM_HEADER_LEN) {
			size_t take = BR_STREAM_HEADER_LEN - st->head_len;
			take = take < len ? take : len;
			memcpy(st->head + st->head_len, data, take);
			st->head_len += take;
			data += take;
			len -= take;
			if (st->head_len < BR_STREAM_HEADER_LEN)
				break;
			br_err err = BR_ERR_INIT;
			if (br_stream_header_parse(st->head, &st->type, &st->need, &err) < 0) {
				br_log_warn("SHIM-STREAM", "container %s: %s; closing the stream",
				            s->id, err.msg);
				return -1;
			}
			st->small_len = 0;
			if (st->type == BR_STREAM_STDIN_CLOSE) {
				if (in != NULL && st->close_stdin)
					input_end(in);
			}
		}
		size_t take = st->need < len ? st->need : len;
		if (st->type == BR_STREAM_STDIN && in != NULL && in->fd >= 0 && take > 0)
			buf_push(&in->buf, data, take);
		else if (st->type == BR_STREAM_RESIZE && take > 0) {
			size_t room = sizeof(st->small) - st->small_len;
			size_t copy = take < room ? take : room;
			memcpy(st->small + st->small_len, data, copy);
			st->small_len += copy;
		}
		st->need -= (uint32_t)take;
		data += take;
		len -= take;
		if (st->need == 0) {
			if (st->type == BR_STREAM_RESIZE && st->small_len == 4)
				shim_console_resize(master_of(s, st),
				                    (uint32_t)st->small[0] << 8 | st->small[1],
				                    (uint32_t)st->small[2] << 8 | st->small[3]);
			st->head_len = 0;
		}
	}
	if (in != NULL)
		shim_input_flush(in);
	return 0;
}

void
shim_stream_handle(struct shim *s, int i, short revents)
{
	struct shim_stream *st = &s->streams[i];

	if (revents & POLLOUT) {
		while (st->out.len > 0) {
			ssize_t n = send(st->fd, st->out.data + st->out.off, st->out.len,
			                 MSG_NOSIGNAL | MSG_DONTWAIT);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0 && errno == EAGAIN)
				break;
			if (n <= 0) {
				shim_stream_close(s, i);
				return;
			}
			buf_pop(&st->out, (size_t)n);
		}
		if (st->done && st->out.len == 0) {
			shim_stream_close(s, i);
			return;
		}
	}
	if (revents & (POLLIN | POLLHUP | POLLERR)) {
		uint8_t data[BR_STREAM_FRAME_MAX + BR_STREAM_HEADER_LEN];
		/* With input, read no more than fits where it goes. */
		struct shim_input *in = input_of(s, st);
		size_t cap = sizeof(data);
		if (in != NULL && in->fd >= 0 && buf_free(&in->buf) < cap)
			cap = buf_free(&in->buf);
		if (cap == 0)
			return;
		ssize_t n = recv(st->fd, data, cap, MSG_DONTWAIT);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			return;
		if (n <= 0 || shim_stream_input(s, i, data, (size_t)n) < 0)
			shim_stream_close(s, i);
	}
}
