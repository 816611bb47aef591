/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A daemon's stream socket (docs/streams.md): the gateway, having checked the caller, hands
 * each stream to the daemon that serves it as one SOCK_SEQPACKET message on
 * "<daemon>-stream.sock" beside the daemon's RPC socket (br_stream_socket_path), root only:
 * the request envelope re-encoded for backends, with the client's connection attached
 * (SCM_RIGHTS). The listener accepts those on the daemon's libuv loop and gives each
 * envelope and connection to the daemon. Loop thread.
 */
#ifndef BR_COMMON_STREAM_LISTENER_H
#define BR_COMMON_STREAM_LISTENER_H

#include <stddef.h>

#include <uv.h>

#include "common/err.h"

struct br_stream_listener;

/* One stream handed over: the envelope (`len` bytes, valid during the call) and the client's
 * connection `fd`, which the callee owns (it answers a refusal on it with
 * br_stream_write_reply, then closes it). */
typedef void (*br_stream_handoff_fn)(void *data, const char *envelope, size_t len, int fd);

/* Listen on the stream socket of the RPC socket `rpc_url` ("ipc:///run/berth/taskd.sock"). A
 * connection that sends no message, or one without a connection attached, is dropped (and
 * logged under `log_tag`). */
int br_stream_listener_start(uv_loop_t *uv, const char *rpc_url, const char *log_tag,
                             br_stream_handoff_fn fn, void *data, struct br_stream_listener **ret,
                             br_err *err);
/* Stop listening and remove the socket (the memory goes once libuv closed its handles).
 * Accepts NULL. */
void br_stream_listener_stop(struct br_stream_listener *l);

#endif
