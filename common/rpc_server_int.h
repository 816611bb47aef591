/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Inside the RPC server, shared by its two files: rpc_server.c (contexts, dispatch, replies,
 * accounting) and rpc_listener.c (the listening socket and what keeps it accepting). Not for
 * use outside them.
 */
#ifndef BR_COMMON_RPC_SERVER_INT_H
#define BR_COMMON_RPC_SERVER_INT_H

#include <pthread.h>

#include <nng/nng.h>

#include "common/rpc.h"

/* Connections past max_connections kept open to be told why (RESOURCE_EXHAUSTED); beyond
 * these, further ones are closed at once, so that refusing costs a bounded number of fds. */
#define REFUSED_PIPES_MAX 32

enum ctx_state { CTX_RECV, CTX_CALL, CTX_SEND };

struct srv_ctx {
	br_rpc_server *server;
	nng_ctx ctx;
	nng_aio *aio;
	enum ctx_state state;
	/* Written by the aio callback, read on the loop after the post. */
	int result;
	nng_msg *msg;
	int64_t recv_ms;
	uint32_t uid, pid;
	bool over_limit; /* the request came on a connection past max_connections */
	br_call *call;   /* while CTX_CALL */
};

struct br_rpc_server {
	struct br_loop *loop;
	nng_socket sock;
	char *url;
	char *name;
	char *version;
	struct {
		const struct br_method *methods;
		size_t n;
		void *data;
	} sets[1 + BR_RPC_MAX_METHOD_SETS];
	size_t nsets;
	void *data;
	br_handler_fn fallback;
	void (*health)(void *data, msgpack_packer *pk, uint32_t *ret_extra_pairs);
	int (*ns_usage)(void *data, const char *ns, br_arena *arena, struct br_strlist *ret,
	                br_err *err);
	int64_t started_ms;
	struct srv_ctx *ctxs[BR_RPC_MAX_CONTEXTS];
	size_t nctx;
	size_t receiving;
	int refs;
	bool closing;
	/* The listener and what recreating it needs (see the watchdog below). */
	nng_listener listener;
	int socket_mode;
	char *socket_group;
	bool watchdog;
	uv_timer_t watchdog_timer;
	bool probing;
	/* Connection accounting (on_pipe_event), on nng's threads under conn_lock. Pipes past
	 * the limit wait in `refused` until enough others close (pipe_refused). */
	pthread_mutex_t conn_lock;
	int max_connections;
	int open_pipes; /* every open connection, refused ones included */
	uint32_t refused[REFUSED_PIPES_MAX];
	size_t nrefused;
	bool refusing; /* logged that connections are being refused */
	/* Calls in progress per uid, root aside (admit_call); loop thread. At most one entry per
	 * context, so the table cannot fill. */
	int max_calls_per_uid;
	struct uid_calls {
		uint32_t uid;
		int n;
	} uid_calls[BR_RPC_MAX_CONTEXTS];
	size_t n_uid_calls;
	/* Call statistics per method, for daemon.metrics (see record_call). */
	struct method_stats *stats;
	size_t n_stats;
};

struct br_call {
	br_rpc_server *server; /* NULL once orphaned */
	struct srv_ctx *sc;    /* NULL once orphaned */
	br_arena *arena;
	nng_msg *msg; /* the request */
	struct br_request req;
	const void *params;
	const char *ns;
	int64_t deadline;
	uint32_t uid, pid;
	bool counted;           /* in the per-uid count of calls in progress */
	uint64_t dispatched_ns; /* uv_hrtime() at dispatch: the start of its latency */
	br_code code;           /* of the reply, for the statistics */
	bool unknown;           /* a method nobody serves: counted as "unknown" */
};

/* Drop a reference; the last frees the server. Loop thread. */
void br_rpc_server_unref(br_rpc_server *server);

/* Create and start the listener on server->url, with the socket's mode and group; a stale
 * socket file of a dead process is removed first. Loop thread. */
int br_rpc_server_listen(br_rpc_server *server, br_err *err);
/* Probe the socket every second and listen anew when it stopped accepting (rpc.h: watchdog).
 * Holds a reference until stopped. Loop thread. */
void br_rpc_server_watchdog_start(br_rpc_server *server);
void br_rpc_server_watchdog_stop(br_rpc_server *server);

#endif
