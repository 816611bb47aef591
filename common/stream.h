/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Streams: the byte protocol of interactive I/O (tasks.exec, tasks.attach; docs/streams.md).
 *
 * A client connects to the front door's stream socket (br_stream_socket_path: beside the
 * gateway's socket) and sends one HEADER frame whose payload is an RPC request envelope
 * (common/rpc.h: {"v":1,"m":"tasks.exec","ns":"default","p":{...}}). The gateway checks the
 * caller as it checks calls and hands the connection itself (SCM_RIGHTS) to taskd with the
 * envelope re-encoded for backends (namespace and uid set); taskd checks the container and
 * hands it on to the container's shim. The first frame the client gets back is a REPLY (an RPC
 * reply envelope: a result, or an error from whichever hop refused); after a successful one the
 * client and the shim exchange frames directly, so a gateway or taskd restart never ends a
 * stream, and back-pressure is the socket's: the shim stops reading the process's output while
 * a client's buffer is full, and stops reading a client while the process's input is full.
 *
 * A frame is an 8-byte header, type (1 byte), three zero bytes, the payload's length (4 bytes,
 * big-endian), then the payload (at most BR_STREAM_FRAME_MAX bytes): the layout of docker's
 * multiplexed attach streams, with more types.
 */
#ifndef BR_COMMON_STREAM_H
#define BR_COMMON_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define BR_STREAM_HEADER_LEN 8
#define BR_STREAM_FRAME_MAX (64u << 10)
#define BR_STREAM_OPEN_MAX (64u << 10) /* the HEADER frame's envelope */
#define BR_STREAM_OPEN_TIMEOUT_MS 10000

enum br_stream_type {
	BR_STREAM_STDIN = 0,       /* client -> process: input bytes */
	BR_STREAM_STDOUT = 1,      /* process -> client (a terminal's output is all stdout) */
	BR_STREAM_STDERR = 2,      /* process -> client */
	BR_STREAM_STDIN_CLOSE = 3, /* client -> process: end of input (no payload) */
	BR_STREAM_RESIZE = 4,      /* client -> process: rows, cols (2 bytes each, big-endian) */
	BR_STREAM_EXIT = 5,        /* process -> client: exit status (4 bytes, big-endian); last */
	BR_STREAM_HEADER = 6,      /* client -> gateway: the request envelope; first */
	BR_STREAM_REPLY = 7,       /* -> client: the reply envelope; first */
	BR_STREAM_TYPE_MAX = 7,
};

/* Frame header of `type` with `len` payload bytes, into out[8]. */
void br_stream_header_pack(uint8_t out[BR_STREAM_HEADER_LEN], enum br_stream_type type,
                           uint32_t len);
/* Parse a frame header: -1 with INVALID_ARGUMENT for an unknown type, non-zero padding or a
 * payload over BR_STREAM_FRAME_MAX. */
int br_stream_header_parse(const uint8_t in[BR_STREAM_HEADER_LEN], enum br_stream_type *ret_type,
                           uint32_t *ret_len, br_err *err);

/* Write one whole frame to a blocking fd (EINTR retried; MSG_NOSIGNAL on sockets). */
int br_stream_write_frame(int fd, enum br_stream_type type, const void *data, uint32_t len,
                          br_err *err);
/*
 * Read one whole frame from a blocking fd, waiting at most `timeout_ms` (< 0: forever) for
 * each part. The payload goes to buf (cap bytes; a larger frame is INVALID_ARGUMENT).
 * Returns 0, or -1: UNAVAILABLE at end of file ("connection closed"), DEADLINE_EXCEEDED.
 */
int br_stream_read_frame(int fd, int timeout_ms, enum br_stream_type *ret_type, void *buf,
                         size_t cap, uint32_t *ret_len, br_err *err);

/* Write a REPLY frame carrying `err` (an error envelope) or, with err NULL, an empty result. */
int br_stream_write_reply(int fd, const br_err *err, br_err *ret_err);

/* Send `len` bytes in one SEQPACKET message with `fd` attached (SCM_RIGHTS). */
int br_stream_send_fd(int sock, const void *data, size_t len, int fd, br_err *err);
/* Receive one message of at most cap bytes and the fd attached to it (-1 when none; made
 * close-on-exec). Returns the message's length, 0 at end of file, -1 on error (EAGAIN is
 * UNAVAILABLE with errno kept). A message with more than one fd is refused (all closed). */
ssize_t br_stream_recv_fd(int sock, void *buf, size_t cap, int *ret_fd, br_err *err);

/* The stream socket that belongs to the gateway socket `socket_path` (heap): the same
 * directory, "<name>-stream.sock" for "<name>.sock" (or "<path>-stream" otherwise). */
char *br_stream_socket_path(const char *socket_path);

#endif
