/* SPDX-License-Identifier: Apache-2.0 */
/*
 * RPC clients: one REQ socket per peer, dialled in the background with fast reconnection,
 * one nng context and aio per call.
 *
 * A call is a small state machine driven by its aio callback on nng's threads: send (which
 * nng completes once the request is handed to a connection), then receive. Requests are
 * never resent (NNG_OPT_REQ_RESENDTIME is infinite): nng 1.5.2 then fails a pending receive
 * with NNG_ECONNRESET when the connection that carried the request closes, which becomes
 * UNAVAILABLE "connection to <peer> lost during <method>". A pipe-removal callback also
 * aborts calls whose request is still queued (not sent), so that no call waits for a peer
 * that went away. With no connection at all, a call waits BR_RPC_CONNECT_GRACE_MS for one.
 *
 * nng 1.5.2's dialer stops for good when a handshake fails with NNG_ECLOSED (the peer closed
 * the connection before our header went out, as a server does that dies right after
 * accepting). So a call that finds no connection, and none came for REDIAL_AFTER_MS, replaces
 * the dialer: a healthy one reconnects within RECONNECT_MAX_MS of its peer being back, so by
 * then the peer is down (and the new dialer loses nothing) or the old dialer is dead.
 *
 * Synchronous calls block their thread on a condition variable; asynchronous ones post
 * their completion to the caller's loop, where the reply is decoded into the caller's arena.
 */
#include "common/rpc.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>

#include "common/log.h"
#include "common/xalloc.h"

#define RECONNECT_MIN_MS 10
#define RECONNECT_MAX_MS 250
#define REDIAL_AFTER_MS 1000
#define RECV_MAX_SIZE (BR_MSG_MAX_SIZE + 64 * 1024)

enum op_kind { OP_SYNC, OP_ASYNC, OP_RAW };
enum op_phase { PH_SEND, PH_RECV, PH_DONE };

struct rpc_op {
	struct rpc_op *prev, *next; /* in client->ops while not done */
	br_rpc_client *client;
	enum op_kind kind;
	enum op_phase phase;
	bool registered; /* in client->ops */
	nng_ctx ctx;
	nng_aio *aio;
	char method[BR_METHOD_MAX + 1];
	char peer[64];
	int64_t deadline; /* absolute br_now_ms(); 0: none */
	int64_t timeout_ms;
	bool failed;
	br_err err;
	nng_msg *reply;
	/* OP_SYNC */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool done;
	/* OP_ASYNC / OP_RAW */
	struct br_loop *loop;
	const struct br_schema *rs;
	br_arena *arena;
	br_rpc_done_fn done_fn;
	br_rpc_raw_done_fn raw_done_fn;
	void *data;
};

struct br_rpc_client {
	nng_socket sock;
	nng_dialer dialer;
	char *url;
	char *peer;
	atomic_int npipes;
	_Atomic int64_t quiet_since; /* br_now_ms() of the last dial or lost connection */
	pthread_mutex_t dial_lock;   /* guards dialer replacement */
	pthread_mutex_t lock;        /* guards ops, nops, closing */
	pthread_cond_t idle;         /* signalled when nops drops to 0 while closing */
	struct rpc_op *ops;
	size_t nops;
	bool closing;
};

/* ---- connection tracking ---- */

static void
on_pipe_event(nng_pipe pipe, nng_pipe_ev ev, void *arg)
{
	br_rpc_client *client = arg;

	if (ev == NNG_PIPE_EV_ADD_PRE) {
		atomic_fetch_add(&client->npipes, 1);
		return;
	}
	atomic_fetch_sub(&client->npipes, 1);
	atomic_store(&client->quiet_since, br_now_ms());
	/* Requests still queued for sending would wait for the next connection until their
	 * deadline; fail them now. Requests already sent fail in nng with NNG_ECONNRESET. */
	pthread_mutex_lock(&client->lock);
	for (struct rpc_op *op = client->ops; op != NULL; op = op->next) {
		if (op->phase == PH_SEND)
			nng_aio_abort(op->aio, NNG_ECONNRESET);
	}
	pthread_mutex_unlock(&client->lock);
}

/* Create and start client->dialer. */
static int
dial(br_rpc_client *client, br_err *err)
{
	int rc;

	if ((rc = nng_dialer_create(&client->dialer, client->sock, client->url)) != 0)
		return br_err_set(err, BR_INVALID_ARGUMENT, "%s: dial %s: %s", client->peer,
		                  client->url, nng_strerror(rc));
	nng_dialer_set_ms(client->dialer, NNG_OPT_RECONNMINT, RECONNECT_MIN_MS);
	nng_dialer_set_ms(client->dialer, NNG_OPT_RECONNMAXT, RECONNECT_MAX_MS);
	if ((rc = nng_dialer_start(client->dialer, NNG_FLAG_NONBLOCK)) != 0) {
		nng_dialer_close(client->dialer);
		return br_err_set(err, BR_INTERNAL, "%s: dial %s: %s", client->peer, client->url,
		                  nng_strerror(rc));
	}
	atomic_store(&client->quiet_since, br_now_ms());
	return 0;
}

/* See the top of the file. Not on nng's threads. */
static void
redial_if_stuck(br_rpc_client *client)
{
	br_err err = BR_ERR_INIT;

	if (atomic_load(&client->npipes) > 0 ||
	    br_now_ms() - atomic_load(&client->quiet_since) < REDIAL_AFTER_MS)
		return;
	pthread_mutex_lock(&client->dial_lock);
	if (atomic_load(&client->npipes) == 0 &&
	    br_now_ms() - atomic_load(&client->quiet_since) >= REDIAL_AFTER_MS) {
		nng_dialer_close(client->dialer);
		if (dial(client, &err) < 0) {
			br_log_warn("RPC-REDIAL", "%s", err.msg);
			atomic_store(&client->quiet_since, br_now_ms());
		}
	}
	pthread_mutex_unlock(&client->dial_lock);
}

int
br_rpc_client_new(const char *url, const char *peer, br_rpc_client **ret, br_err *err)
{
	int rc;

	br_rpc_client *client = xnew(br_rpc_client);
	client->url = xstrdup(url);
	client->peer = xstrdup(peer);
	atomic_init(&client->npipes, 0);
	pthread_mutex_init(&client->lock, NULL);
	pthread_mutex_init(&client->dial_lock, NULL);
	pthread_cond_init(&client->idle, NULL);

	if ((rc = nng_req0_open(&client->sock)) != 0) {
		br_err_set(err, BR_INTERNAL, "%s: open socket: %s", peer, nng_strerror(rc));
		goto fail_socket;
	}
	/* Never resend: a request may not be idempotent. Must precede every context. */
	nng_socket_set_ms(client->sock, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
	nng_socket_set_size(client->sock, NNG_OPT_RECVMAXSZ, RECV_MAX_SIZE);
	nng_pipe_notify(client->sock, NNG_PIPE_EV_ADD_PRE, on_pipe_event, client);
	nng_pipe_notify(client->sock, NNG_PIPE_EV_REM_POST, on_pipe_event, client);
	if (dial(client, err) < 0)
		goto fail_dialer;
	*ret = client;
	return 0;

fail_dialer:
	nng_close(client->sock);
fail_socket:
	pthread_cond_destroy(&client->idle);
	pthread_mutex_destroy(&client->dial_lock);
	pthread_mutex_destroy(&client->lock);
	free(client->url);
	free(client->peer);
	free(client);
	return -1;
}

void
br_rpc_client_free(br_rpc_client *client)
{
	if (client == NULL)
		return;
	pthread_mutex_lock(&client->lock);
	client->closing = true;
	pthread_mutex_unlock(&client->lock);

	/* Drop the connection first: a call waiting for its reply then fails as it does when
	 * a peer goes away (NNG_ECONNRESET), a path nng 1.5.2 handles well, whereas aborting
	 * such a receive and closing the socket can leave nng_close waiting for ever. */
	pthread_mutex_lock(&client->dial_lock);
	nng_dialer_close(client->dialer);
	pthread_mutex_unlock(&client->dial_lock);
	pthread_mutex_lock(&client->lock);
	for (struct rpc_op *op = client->ops; op != NULL; op = op->next)
		nng_aio_abort(op->aio, NNG_ECANCELED);
	while (client->nops > 0)
		pthread_cond_wait(&client->idle, &client->lock);
	pthread_mutex_unlock(&client->lock);

	nng_close(client->sock);

	pthread_cond_destroy(&client->idle);
	pthread_mutex_destroy(&client->dial_lock);
	pthread_mutex_destroy(&client->lock);
	free(client->url);
	free(client->peer);
	free(client);
}

bool
br_rpc_client_connected(br_rpc_client *client)
{
	return atomic_load(&client->npipes) > 0;
}

static size_t
in_flight(br_rpc_client *client)
{
	pthread_mutex_lock(&client->lock);
	size_t n = client->nops;
	pthread_mutex_unlock(&client->lock);
	return n;
}

static void
drain_tick(uv_timer_t *t)
{
	(void)t; /* only wakes uv_run */
}

static void
drain_timer_closed(uv_handle_t *h)
{
	(void)h;
}

void
br_rpc_clients_drain(uv_loop_t *uv, br_rpc_client *const *clients, size_t n, int64_t max_ms)
{
	uv_timer_t timer; /* keeps uv_run from blocking past the bound */
	int64_t until = br_now_ms() + max_ms;

	uv_timer_init(uv, &timer);
	for (;;) {
		size_t busy = 0;
		for (size_t i = 0; i < n; i++)
			busy += clients[i] != NULL ? in_flight(clients[i]) : 0;
		int64_t left = until - br_now_ms();
		if (busy == 0 || left <= 0)
			break;
		uv_timer_start(&timer, drain_tick, (uint64_t)(left < 20 ? left : 20), 0);
		uv_run(uv, UV_RUN_ONCE);
	}
	uv_timer_stop(&timer);
	uv_close((uv_handle_t *)&timer, drain_timer_closed);
	uv_run(uv, UV_RUN_NOWAIT); /* the close callback, and completions just posted */
}

/* ---- the call state machine ---- */

static void
op_set_error(struct rpc_op *op, int rv)
{
	br_rpc_client *client = op->client;

	op->failed = true;
	if (rv == NNG_ETIMEDOUT && op->phase == PH_SEND && atomic_load(&client->npipes) == 0) {
		br_err_set(&op->err, BR_UNAVAILABLE, "%s is unavailable (%s: not connected)",
		           client->peer, client->url);
	} else if (rv == NNG_ETIMEDOUT) {
		br_err_set(&op->err, BR_DEADLINE_EXCEEDED,
		           "%s on %s: deadline exceeded after %lld ms", op->method, client->peer,
		           (long long)op->timeout_ms);
	} else if (client->closing) {
		br_err_set(&op->err, BR_CANCELED, "%s on %s: canceled (client closed)", op->method,
		           client->peer);
	} else if (rv == NNG_ECONNRESET) {
		br_err_set(&op->err, BR_UNAVAILABLE, "connection to %s lost during %s",
		           client->peer, op->method);
	} else {
		br_err_set(&op->err, BR_UNAVAILABLE, "%s on %s: %s", op->method, client->peer,
		           nng_strerror(rv));
	}
}

static void op_complete_on_loop(void *arg);

/* The call ended (rv is nng's result). Runs on an nng thread, or on the caller's thread for
 * a call that never started. */
static void
op_finish(struct rpc_op *op, int rv)
{
	br_rpc_client *client = op->client;

	if (rv != 0 && !op->failed)
		op_set_error(op, rv);
	pthread_mutex_lock(&client->lock);
	op->phase = PH_DONE;
	if (op->registered) {
		if (op->prev != NULL)
			op->prev->next = op->next;
		else
			client->ops = op->next;
		if (op->next != NULL)
			op->next->prev = op->prev;
		op->prev = op->next = NULL;
		op->registered = false;
		client->nops--;
		if (client->closing && client->nops == 0)
			pthread_cond_broadcast(&client->idle);
	}
	pthread_mutex_unlock(&client->lock);

	if (op->kind == OP_SYNC) {
		pthread_mutex_lock(&op->mu);
		op->done = true;
		pthread_cond_signal(&op->cv);
		pthread_mutex_unlock(&op->mu);
	} else {
		br_loop_post(op->loop, op_complete_on_loop, op);
	}
}

static nng_duration
remaining_ms(const struct rpc_op *op)
{
	if (op->deadline == 0)
		return NNG_DURATION_INFINITE;
	int64_t left = op->deadline - br_now_ms();
	return left > 0 ? (nng_duration)(left > INT32_MAX ? INT32_MAX : left) : 0;
}

static void
op_aio_cb(void *arg)
{
	struct rpc_op *op = arg;
	br_rpc_client *client = op->client;
	int rv = nng_aio_result(op->aio);

	if (op->phase == PH_SEND) {
		if (rv != 0) {
			nng_msg_free(nng_aio_get_msg(op->aio)); /* a failed send hands it back */
			nng_aio_set_msg(op->aio, NULL);
			op_finish(op, rv);
			return;
		}
		nng_duration t = remaining_ms(op);
		pthread_mutex_lock(&client->lock);
		bool closing = client->closing;
		if (!closing)
			op->phase = PH_RECV;
		pthread_mutex_unlock(&client->lock);
		if (closing || t == 0) {
			op_finish(op, closing ? NNG_ECANCELED : NNG_ETIMEDOUT);
			return;
		}
		nng_aio_set_timeout(op->aio, t);
		nng_ctx_recv(op->ctx, op->aio);
		return;
	}
	if (rv == 0) {
		op->reply = nng_aio_get_msg(op->aio);
		nng_aio_set_msg(op->aio, NULL);
	}
	op_finish(op, rv);
}

static struct rpc_op *
op_new(br_rpc_client *client, enum op_kind kind, const char *method, int64_t timeout_ms)
{
	struct rpc_op *op = xnew(struct rpc_op);

	op->client = client;
	op->kind = kind;
	op->phase = PH_SEND;
	snprintf(op->method, sizeof(op->method), "%s", method ? method : "request");
	snprintf(op->peer, sizeof(op->peer), "%s", client->peer);
	if (timeout_ms == 0)
		timeout_ms = BR_RPC_DEFAULT_TIMEOUT_MS;
	op->timeout_ms = timeout_ms;
	op->deadline = timeout_ms > 0 ? br_now_ms() + timeout_ms : 0;
	if (kind == OP_SYNC) {
		pthread_mutex_init(&op->mu, NULL);
		pthread_cond_init(&op->cv, NULL);
	}
	return op;
}

static void
op_free(struct rpc_op *op)
{
	if (op->aio != NULL)
		nng_aio_free(op->aio); /* waits for a callback still returning */
	if (op->ctx.id != 0)
		nng_ctx_close(op->ctx);
	if (op->reply != NULL)
		nng_msg_free(op->reply);
	if (op->kind == OP_SYNC) {
		pthread_cond_destroy(&op->cv);
		pthread_mutex_destroy(&op->mu);
	}
	free(op);
}

/* Prepare the op, register it and send `buf`. Always ends in op_finish(), now or later.
 * The op is registered (visible to the pipe callback and to br_rpc_client_free) only once
 * its context and aio exist. */
static void
op_start(struct rpc_op *op, const void *buf, size_t len)
{
	br_rpc_client *client = op->client;
	nng_msg *msg = NULL;
	int rc;

	if (len > BR_MSG_MAX_SIZE) {
		op->failed = true;
		br_err_set(&op->err, BR_INVALID_ARGUMENT,
		           "%s on %s: request too large (%zu bytes, limit %u)", op->method,
		           client->peer, len, BR_MSG_MAX_SIZE);
		op_finish(op, -1);
		return;
	}
	if ((rc = nng_ctx_open(&op->ctx, client->sock)) != 0) {
		op->ctx.id = 0;
		op_finish(op, rc);
		return;
	}
	nng_ctx_set_ms(op->ctx, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
	if ((rc = nng_aio_alloc(&op->aio, op_aio_cb, op)) != 0) {
		op->aio = NULL;
		op_finish(op, rc);
		return;
	}
	redial_if_stuck(client);
	nng_duration t = remaining_ms(op);
	if (t == 0) {
		op_finish(op, NNG_ETIMEDOUT);
		return;
	}
	/* Not connected: wait only a short grace for a connection. */
	if (atomic_load(&client->npipes) == 0 &&
	    (t == NNG_DURATION_INFINITE || t > BR_RPC_CONNECT_GRACE_MS))
		t = BR_RPC_CONNECT_GRACE_MS;

	pthread_mutex_lock(&client->lock);
	bool closing = client->closing;
	if (!closing) {
		op->next = client->ops;
		if (client->ops != NULL)
			client->ops->prev = op;
		client->ops = op;
		client->nops++;
		op->registered = true;
	}
	pthread_mutex_unlock(&client->lock);
	if (closing) {
		op_finish(op, NNG_ECANCELED);
		return;
	}
	if (nng_msg_alloc(&msg, len) != 0)
		abort();
	memcpy(nng_msg_body(msg), buf, len);
	nng_aio_set_msg(op->aio, msg);
	nng_aio_set_timeout(op->aio, t);
	nng_ctx_send(op->ctx, op->aio);
}

/* Decode the reply envelope and, with `rs`, the result into a struct from `arena`. */
static int
decode_reply(const struct rpc_op *op, const struct br_schema *rs, br_arena *arena,
             void **ret_result, br_err *err)
{
	msgpack_object result;

	if (br_reply_decode(nng_msg_body(op->reply), nng_msg_len(op->reply), arena, &result, err) <
	    0) {
		if (err->code == BR_INVALID_ARGUMENT &&
		    strncmp(err->msg, "malformed reply", 15) == 0)
			br_err_wrap(err, "%s on %s", op->method, op->peer);
		return -1;
	}
	if (rs == NULL) {
		*ret_result = NULL;
		return 0;
	}
	void *st = br_arena_alloc(arena, rs->size);
	if (br_msg_decode(&result, rs, "r", arena, st, err) < 0)
		return br_err_wrap(err, "malformed reply to %s", op->method);
	*ret_result = st;
	return 0;
}

static void
op_complete_on_loop(void *arg)
{
	struct rpc_op *op = arg;
	br_err err = BR_ERR_INIT;

	/* The client may be gone by now: only the op is used here. */
	op->client = NULL;
	if (op->kind == OP_RAW) {
		if (op->failed)
			op->raw_done_fn(op->data, &op->err, NULL, 0);
		else
			op->raw_done_fn(op->data, NULL, nng_msg_body(op->reply),
			                nng_msg_len(op->reply));
		op_free(op);
		return;
	}
	if (op->failed) {
		op->done_fn(op->data, &op->err, NULL);
		op_free(op);
		return;
	}
	void *result = NULL;
	if (decode_reply(op, op->rs, op->arena, &result, &err) < 0)
		op->done_fn(op->data, &err, NULL);
	else
		op->done_fn(op->data, NULL, result);
	op_free(op);
}

/* ---- public calls ---- */

static void
encode_request(msgpack_sbuffer *sb, const struct br_call_opts *opts, const char *method,
               const struct br_schema *ps, const void *params, int64_t timeout_ms)
{
	const char *ns = opts && opts->ns ? opts->ns : "default";
	const char *lease = opts ? opts->lease : NULL;

	msgpack_sbuffer_init(sb);
	br_request_encode(sb, method, ns, lease, timeout_ms > 0 ? timeout_ms : 0, ps, params);
}

int
br_rpc_call(br_rpc_client *client, const struct br_call_opts *opts, const char *method,
            const struct br_schema *ps, const void *params, const struct br_schema *rs,
            void *ret_result, br_arena *arena, br_err *err)
{
	msgpack_sbuffer sb;
	struct rpc_op *op = op_new(client, OP_SYNC, method, opts ? opts->timeout_ms : 0);

	encode_request(&sb, opts, method, ps, params, op->timeout_ms);
	op_start(op, sb.data, sb.size);
	msgpack_sbuffer_destroy(&sb);

	pthread_mutex_lock(&op->mu);
	while (!op->done)
		pthread_cond_wait(&op->cv, &op->mu);
	pthread_mutex_unlock(&op->mu);

	if (op->failed) {
		br_err_copy(err, &op->err);
		op_free(op);
		return -1;
	}
	br_arena *tmp = arena != NULL ? NULL : br_arena_new();
	void *result = NULL;
	int rc = decode_reply(op, rs, arena != NULL ? arena : tmp, &result, err);
	if (rc == 0 && rs != NULL && ret_result != NULL)
		memcpy(ret_result, result, rs->size);
	op_free(op);
	br_arena_free(tmp);
	return rc < 0 ? -1 : 0;
}

void
br_rpc_call_async(br_rpc_client *client, struct br_loop *loop, const struct br_call_opts *opts,
                  const char *method, const struct br_schema *ps, const void *params,
                  const struct br_schema *rs, br_arena *arena, br_rpc_done_fn done, void *data)
{
	msgpack_sbuffer sb;

	br_rpc_pack(&sb, opts, method, ps, params);
	br_rpc_call_async_packed(client, loop, opts, method, sb.data, sb.size, rs, arena, done,
	                         data);
	msgpack_sbuffer_destroy(&sb);
}

void
br_rpc_pack(msgpack_sbuffer *out, const struct br_call_opts *opts, const char *method,
            const struct br_schema *ps, const void *params)
{
	int64_t timeout_ms = opts ? opts->timeout_ms : 0;

	if (timeout_ms == 0)
		timeout_ms = BR_RPC_DEFAULT_TIMEOUT_MS;
	encode_request(out, opts, method, ps, params, timeout_ms);
}

void
br_rpc_call_async_packed(br_rpc_client *client, struct br_loop *loop,
                         const struct br_call_opts *opts, const char *method, const void *req,
                         size_t len, const struct br_schema *rs, br_arena *arena,
                         br_rpc_done_fn done, void *data)
{
	struct rpc_op *op = op_new(client, OP_ASYNC, method, opts ? opts->timeout_ms : 0);

	op->loop = loop;
	op->rs = rs;
	op->arena = arena;
	op->done_fn = done;
	op->data = data;
	op_start(op, req, len);
}

/* The method named in an encoded request, for error messages; "request" if unreadable. */
static void
request_method(const void *req, size_t len, char *out, size_t cap)
{
	br_arena *a = br_arena_new();
	struct br_request r;
	br_err err = BR_ERR_INIT;

	if (br_request_decode(req, len, a, &r, &err) == 0)
		snprintf(out, cap, "%s", r.method);
	else
		snprintf(out, cap, "request");
	br_arena_free(a);
}

void
br_rpc_call_raw_async(br_rpc_client *client, struct br_loop *loop, const void *req, size_t len,
                      int64_t timeout_ms, br_rpc_raw_done_fn done, void *data)
{
	struct rpc_op *op = op_new(client, OP_RAW, NULL, timeout_ms);

	request_method(req, len, op->method, sizeof(op->method));
	op->loop = loop;
	op->raw_done_fn = done;
	op->data = data;
	op_start(op, req, len);
}

void
br_rpc_shutdown(void)
{
	nng_fini();
}
