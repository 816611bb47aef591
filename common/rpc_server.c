/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The RPC server: a REP socket served by a pool of nng contexts, each with its own aio.
 *
 * A context cycles receive -> call -> send -> receive. nng completes its aio on one of its own
 * threads; the callback only records the outcome (message, peer credentials, time) and posts
 * the context to the loop, where everything else happens: envelope and params decoding,
 * dispatch to the handler, encoding of the reply and starting the send. So handlers and all
 * server state live on the loop thread alone.
 *
 * A context stays with its call until the handler replies, so the pool grows (up to
 * BR_RPC_MAX_CONTEXTS) whenever fewer than SPARE_RECEIVERS contexts are left receiving;
 * beyond that bound new requests wait in nng's pipes (back-pressure).
 *
 * Lifetime: every aio operation started holds a reference on the server, released by the
 * loop-side completion, so that the server's memory outlives completions still queued on the
 * loop after br_rpc_server_free(). A call still held by a handler when the server is freed
 * becomes an orphan: its client has been answered UNAVAILABLE, and replying to it later only
 * frees it.
 */
#include "common/rpc.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>

#include "common/cleanup.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/proto/types.h"
#include "common/rpc_server_int.h"
#include "common/xalloc.h"

#define INITIAL_CONTEXTS 8
#define SPARE_RECEIVERS 2
#define REPLY_SEND_TIMEOUT_MS 30000
#define SHUTDOWN_REPLY_TIMEOUT_MS 200
#define RECV_MAX_SIZE (BR_MSG_MAX_SIZE + 64 * 1024)
#define ID_UNKNOWN UINT32_MAX

void
br_rpc_server_unref(br_rpc_server *server)
{
	if (--server->refs > 0)
		return;
	for (size_t i = 0; i < server->nctx; i++)
		free(server->ctxs[i]);
	free(server->stats);
	free(server->url);
	free(server->socket_group);
	free(server->name);
	free(server->version);
	pthread_mutex_destroy(&server->conn_lock);
	free(server);
}

/* ---- connection accounting: nng threads ---- */

/*
 * Every connection counts from its first pipe event to its last (nng 1.5.2 reports the
 * removal of every pipe it announced, also of one closed while it was being added). One that
 * takes the count past max_connections is kept, up to REFUSED_PIPES_MAX of them, so that its
 * calls can be answered RESOURCE_EXHAUSTED rather than left to guess why the connection
 * dropped; past those it is closed at once. Root is never refused: the daemons call the front
 * door as root, and so does the watchdog's probe.
 */
static void
on_pipe_event(nng_pipe pipe, nng_pipe_ev ev, void *arg)
{
	br_rpc_server *server = arg;
	uint32_t id = (uint32_t)nng_pipe_id(pipe);
	uint64_t uid = ID_UNKNOWN;
	bool close_now = false, first_refusal = false;
	int open = 0;

	if (ev == NNG_PIPE_EV_ADD_PRE)
		nng_pipe_get_uint64(pipe, NNG_OPT_IPC_PEER_UID, &uid);
	pthread_mutex_lock(&server->conn_lock);
	if (ev == NNG_PIPE_EV_ADD_PRE) {
		int admitted = ++server->open_pipes - (int)server->nrefused;
		if (uid != 0 && admitted > server->max_connections) {
			if (server->nrefused < REFUSED_PIPES_MAX)
				server->refused[server->nrefused++] = id;
			else
				close_now = true;
			first_refusal = !server->refusing;
			server->refusing = true;
			open = server->open_pipes;
		}
	} else {
		server->open_pipes--;
		for (size_t i = 0; i < server->nrefused; i++) {
			if (server->refused[i] == id) {
				server->refused[i] = server->refused[--server->nrefused];
				break;
			}
		}
		if (server->open_pipes - (int)server->nrefused < server->max_connections)
			server->refusing = false;
	}
	pthread_mutex_unlock(&server->conn_lock);
	if (first_refusal)
		br_log_warn("RPC-CONN-LIMIT",
		            "%s: %d connections open, the limit is %d: refusing more until some "
		            "close",
		            server->url, open, server->max_connections);
	if (close_now)
		nng_pipe_close(pipe);
}

/* True if a request on `pipe` must be refused: it is past max_connections and still no
 * room has been made. Once there is, the connection is admitted for good. */
static bool
pipe_refused(br_rpc_server *server, nng_pipe pipe)
{
	uint32_t id = (uint32_t)nng_pipe_id(pipe);
	bool refused = false;

	if (server->max_connections == 0)
		return false;
	pthread_mutex_lock(&server->conn_lock);
	for (size_t i = 0; i < server->nrefused; i++) {
		if (server->refused[i] != id)
			continue;
		refused = server->open_pipes - (int)server->nrefused >= server->max_connections;
		if (!refused)
			server->refused[i] = server->refused[--server->nrefused];
		break;
	}
	pthread_mutex_unlock(&server->conn_lock);
	return refused;
}

/* ---- aio completion: nng thread, then loop thread ---- */

static void ctx_done_on_loop(void *arg);

static void
ctx_aio_cb(void *arg)
{
	struct srv_ctx *sc = arg;

	sc->result = nng_aio_result(sc->aio);
	if (sc->state == CTX_RECV && sc->result == 0) {
		nng_msg *msg = nng_aio_get_msg(sc->aio);
		nng_pipe pipe = nng_msg_get_pipe(msg);
		uint64_t v;
		nng_aio_set_msg(sc->aio, NULL);
		sc->msg = msg;
		sc->recv_ms = br_now_ms();
		sc->uid = sc->pid = ID_UNKNOWN;
		if (nng_pipe_get_uint64(pipe, NNG_OPT_IPC_PEER_UID, &v) == 0)
			sc->uid = (uint32_t)v;
		if (nng_pipe_get_uint64(pipe, NNG_OPT_IPC_PEER_PID, &v) == 0)
			sc->pid = (uint32_t)v;
		sc->over_limit = pipe_refused(sc->server, pipe);
	} else if (sc->state == CTX_SEND && sc->result != 0) {
		/* A failed send hands the message back. */
		nng_msg_free(nng_aio_get_msg(sc->aio));
		nng_aio_set_msg(sc->aio, NULL);
	}
	br_loop_post(sc->server->loop, ctx_done_on_loop, sc);
}

static void
ctx_start_recv(struct srv_ctx *sc)
{
	br_rpc_server *server = sc->server;

	sc->state = CTX_RECV;
	server->receiving++;
	server->refs++;
	nng_aio_set_timeout(sc->aio, NNG_DURATION_INFINITE);
	nng_ctx_recv(sc->ctx, sc->aio);
}

static int
ctx_add(br_rpc_server *server, br_err *err)
{
	struct srv_ctx *sc = xnew(struct srv_ctx);
	int rc;

	sc->server = server;
	if ((rc = nng_aio_alloc(&sc->aio, ctx_aio_cb, sc)) != 0) {
		free(sc);
		return br_err_set(err, BR_RESOURCE_EXHAUSTED, "allocate an aio: %s",
		                  nng_strerror(rc));
	}
	if ((rc = nng_ctx_open(&sc->ctx, server->sock)) != 0) {
		nng_aio_free(sc->aio);
		free(sc);
		return br_err_set(err, BR_RESOURCE_EXHAUSTED, "open a context: %s",
		                  nng_strerror(rc));
	}
	server->ctxs[server->nctx++] = sc;
	ctx_start_recv(sc);
	return 0;
}

static void
maybe_grow(br_rpc_server *server)
{
	br_err err = BR_ERR_INIT;

	while (!server->closing && server->receiving < SPARE_RECEIVERS &&
	       server->nctx < BR_RPC_MAX_CONTEXTS) {
		if (ctx_add(server, &err) < 0) {
			br_log_warn("RPC-CTX-FAIL", "%s: %s", server->url, err.msg);
			return;
		}
	}
}

static void dispatch(struct srv_ctx *sc);

static void
ctx_done_on_loop(void *arg)
{
	struct srv_ctx *sc = arg;
	br_rpc_server *server = sc->server;

	if (sc->state == CTX_RECV) {
		server->receiving--;
		if (server->closing || sc->result != 0) {
			if (sc->msg != NULL)
				nng_msg_free(sc->msg);
			sc->msg = NULL;
			if (!server->closing && sc->result != NNG_ECLOSED) {
				br_log_warn("RPC-RECV-FAIL", "%s: receive: %s", server->url,
				            nng_strerror(sc->result));
				ctx_start_recv(sc);
			}
		} else {
			dispatch(sc);
			maybe_grow(server);
		}
	} else if (sc->state == CTX_SEND) {
		if (sc->result != 0 && sc->result != NNG_ECLOSED)
			br_log_warn("RPC-SEND-FAIL", "%s: send a reply: %s", server->url,
			            nng_strerror(sc->result));
		if (!server->closing)
			ctx_start_recv(sc);
	}
	br_rpc_server_unref(server);
}

/* ---- call statistics (loop thread) ---- */

/* Methods with statistics of their own; calls to further ones are counted together under
 * "other", so that a caller inventing method names cannot grow the table (the front door
 * forwards any name of a known service). */
#define STATS_METHODS_MAX 256
/* The longest reply envelope that can be an error: a code and a message of at most
 * BR_ERR_MSG_MAX bytes. Longer pre-encoded replies are results. */
#define ERROR_REPLY_MAX (BR_ERR_MSG_MAX + 256)

struct method_stats {
	char method[BR_METHOD_MAX + 1];
	uint64_t calls;
	uint64_t errors[BR_CODE_MAX]; /* by code; [BR_OK] unused */
	struct br_histogram latency;  /* seconds from dispatch to reply */
};

static struct method_stats *
method_stats(br_rpc_server *server, const char *method)
{
	struct method_stats *st;

	for (size_t i = 0; i < server->n_stats; i++) {
		if (strcmp(server->stats[i].method, method) == 0)
			return &server->stats[i];
	}
	if (server->n_stats == STATS_METHODS_MAX - 1 && strcmp(method, "other") != 0)
		return method_stats(server, "other");
	server->stats = xrealloc(server->stats, (server->n_stats + 1) * sizeof(*server->stats));
	st = &server->stats[server->n_stats++];
	memset(st, 0, sizeof(*st));
	snprintf(st->method, sizeof(st->method), "%s", method);
	br_histogram_init(&st->latency, br_latency_bounds, BR_LATENCY_BOUNDS_N);
	return st;
}

/* Count a call as it is answered: its method, its error code if it failed, its latency. */
static void
record_call(br_call *call)
{
	const char *method = call->req.method;
	struct method_stats *st;

	if (method == NULL)
		method = "invalid"; /* the envelope did not decode */
	else if (call->unknown)
		method = "unknown";
	st = method_stats(call->server, method);
	st->calls++;
	if (call->code > BR_OK && call->code < BR_CODE_MAX)
		st->errors[call->code]++;
	br_histogram_observe(&st->latency, (double)(uv_hrtime() - call->dispatched_ns) / 1e9);
}

/* The code of a pre-encoded reply (the front door passes its backends' replies on). */
static br_code
raw_reply_code(const void *buf, size_t len)
{
	br_err err = BR_ERR_INIT;
	msgpack_object result;

	if (len > ERROR_REPLY_MAX)
		return BR_OK;
	_cleanup_(br_arena_freep) br_arena *arena = br_arena_new();
	return br_reply_decode(buf, len, arena, &result, &err) < 0 ? err.code : BR_OK;
}

void
br_rpc_server_metrics(const br_rpc_server *server, struct br_metrics *m)
{
	size_t in_flight = 0;

	for (size_t i = 0; i < server->n_stats; i++) {
		const struct method_stats *st = &server->stats[i];
		br_metrics_counter(m, "berth_rpc_calls_total", "RPC calls answered, by method.",
		                   BR_LABELS("method", st->method), (double)st->calls, NULL);
		for (int c = BR_OK + 1; c < BR_CODE_MAX; c++) {
			if (st->errors[c] == 0)
				continue;
			br_metrics_counter(m, "berth_rpc_errors_total",
			                   "RPC calls answered with an error, by method and code.",
			                   BR_LABELS("method", st->method, "code", br_code_name(c)),
			                   (double)st->errors[c], NULL);
		}
		br_metrics_histogram(m, "berth_rpc_call_duration_seconds",
		                     "Time from dispatch to reply of RPC calls, by method.",
		                     BR_LABELS("method", st->method), &st->latency, NULL);
	}
	for (size_t i = 0; i < server->nctx; i++) {
		if (server->ctxs[i]->state == CTX_CALL)
			in_flight++;
	}
	br_metrics_gauge(m, "berth_rpc_calls_in_flight", "RPC calls waiting for their reply.", NULL,
	                 (double)in_flight, NULL);
}

/* ---- replying ---- */

/* ---- calls in progress per uid (loop thread) ---- */

static struct uid_calls *
uid_calls_find(br_rpc_server *server, uint32_t uid)
{
	for (size_t i = 0; i < server->n_uid_calls; i++) {
		if (server->uid_calls[i].uid == uid)
			return &server->uid_calls[i];
	}
	return NULL;
}

/* Count the call against its uid's max_calls_per_uid, or answer it RESOURCE_EXHAUSTED and
 * return false. One caller holding its limit of long calls (waits, subscriptions) thus
 * keeps the contexts of the others free. */
static bool
admit_call(br_call *call)
{
	br_rpc_server *server = call->server;
	struct uid_calls *uc;

	if (server->max_calls_per_uid == 0 || call->uid == 0)
		return true;
	uc = uid_calls_find(server, call->uid);
	if (uc != NULL && uc->n >= server->max_calls_per_uid) {
		br_call_failf(call, BR_RESOURCE_EXHAUSTED,
		              "%s: uid %u already has %d calls in progress at %s, the limit "
		              "per uid",
		              call->req.method, call->uid, uc->n, server->name);
		return false;
	}
	if (uc == NULL) {
		uc = &server->uid_calls[server->n_uid_calls++];
		uc->uid = call->uid;
		uc->n = 0;
	}
	uc->n++;
	call->counted = true;
	return true;
}

static void
release_call(br_call *call)
{
	struct uid_calls *uc;

	if (!call->counted || call->server == NULL)
		return; /* an orphan's server no longer counts */
	uc = uid_calls_find(call->server, call->uid);
	if (uc != NULL && --uc->n == 0)
		*uc = call->server->uid_calls[--call->server->n_uid_calls];
}

static void
call_free(br_call *call)
{
	release_call(call);
	if (call->msg != NULL)
		nng_msg_free(call->msg);
	br_arena_free(call->arena);
	free(call);
}

/* Hand a reply message to the context's aio; the context must not be busy. */
static void
ctx_send(struct srv_ctx *sc, const void *buf, size_t len, nng_duration timeout)
{
	nng_msg *msg;

	if (nng_msg_alloc(&msg, len) != 0)
		abort();
	memcpy(nng_msg_body(msg), buf, len);
	sc->call = NULL;
	sc->state = CTX_SEND;
	sc->server->refs++;
	nng_aio_set_msg(sc->aio, msg);
	nng_aio_set_timeout(sc->aio, timeout);
	nng_ctx_send(sc->ctx, sc->aio);
}

/* Send `buf` (a whole reply envelope) on the call's context and free the call. */
static void
send_reply(br_call *call, const void *buf, size_t len)
{
	msgpack_sbuffer sb = {0};

	if (call->sc == NULL) {
		call_free(call); /* an orphan: its client was answered at shutdown */
		return;
	}
	if (len > BR_MSG_MAX_SIZE) {
		br_err err = BR_ERR_INIT;
		br_err_set(&err, BR_RESOURCE_EXHAUSTED,
		           "reply to %s is too large (%zu bytes, limit %u)",
		           call->req.method ? call->req.method : "request", len, BR_MSG_MAX_SIZE);
		br_log_error("RPC-REPLY-TOO-LARGE", "%s", err.msg);
		msgpack_sbuffer_init(&sb);
		br_reply_encode_error(&sb, &err);
		buf = sb.data;
		len = sb.size;
		call->code = err.code;
	}
	record_call(call);
	ctx_send(call->sc, buf, len, REPLY_SEND_TIMEOUT_MS);
	msgpack_sbuffer_destroy(&sb);
	call_free(call);
}

void
br_call_reply(br_call *call, const struct br_schema *schema, const void *result)
{
	msgpack_sbuffer sb;

	msgpack_sbuffer_init(&sb);
	br_reply_encode_result(&sb, schema, result);
	send_reply(call, sb.data, sb.size);
	msgpack_sbuffer_destroy(&sb);
}

void
br_call_fail(br_call *call, const br_err *err)
{
	msgpack_sbuffer sb;
	const char *method = call->req.method ? call->req.method : "(bad request)";

	/* The dispatcher is where errors get logged: loudly when they are ours. */
	if (err->code == BR_INTERNAL || err->code == BR_OK)
		br_log_error("RPC-INTERNAL", "%s: %s", method, err->msg);
	else
		br_log_debug("RPC-FAIL", "%s: %s: %s", method, br_code_name(err->code), err->msg);
	msgpack_sbuffer_init(&sb);
	br_reply_encode_error(&sb, err);
	call->code = err->code == BR_OK ? BR_INTERNAL : err->code;
	send_reply(call, sb.data, sb.size);
	msgpack_sbuffer_destroy(&sb);
}

void
br_call_failf(br_call *call, br_code code, const char *fmt, ...)
{
	br_err err = {.code = code};
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err.msg, sizeof(err.msg), fmt, ap);
	va_end(ap);
	br_call_fail(call, &err);
}

void
br_call_reply_raw(br_call *call, const void *buf, size_t len)
{
	if (call->sc != NULL)
		call->code = raw_reply_code(buf, len);
	send_reply(call, buf, len);
}

/* ---- dispatch (loop thread) ---- */

/* daemon.health: the br_health fields, then whatever pairs the daemon's hook packs. */
static void
reply_health(br_call *call)
{
	br_rpc_server *server = call->server;
	msgpack_sbuffer sb, extra;
	msgpack_packer pk, pk_extra;
	uint32_t nextra = 0;

	msgpack_sbuffer_init(&extra);
	msgpack_packer_init(&pk_extra, &extra, msgpack_sbuffer_write);
	if (server->health != NULL)
		server->health(server->data, &pk_extra, &nextra);

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	br_reply_pack_head(&pk);
	msgpack_pack_map(&pk, 5 + nextra);
	br_msg_pack_str(&pk, "name");
	br_msg_pack_str(&pk, server->name);
	br_msg_pack_str(&pk, "version");
	br_msg_pack_str(&pk, server->version);
	br_msg_pack_str(&pk, "pid");
	msgpack_pack_uint32(&pk, (uint32_t)getpid());
	br_msg_pack_str(&pk, "uptime_ms");
	msgpack_pack_int64(&pk, br_now_ms() - server->started_ms);
	br_msg_pack_str(&pk, "status");
	br_msg_pack_str(&pk, "ok");
	if (nextra > 0 && extra.size > 0)
		msgpack_sbuffer_write(&sb, extra.data, extra.size);
	send_reply(call, sb.data, sb.size);
	msgpack_sbuffer_destroy(&sb);
	msgpack_sbuffer_destroy(&extra);
}

/* daemon.namespace: what the request's namespace holds here, from the daemon's hook. */
static void
reply_ns_usage(br_call *call)
{
	br_rpc_server *server = call->server;
	struct br_ns_usage usage = {0};
	br_err err = BR_ERR_INIT;

	if (server->ns_usage != NULL &&
	    server->ns_usage(server->data, call->ns, call->arena, &usage.items, &err) < 0) {
		br_call_fail(call, &err);
		return;
	}
	br_call_reply(call, &br_ns_usage_schema, &usage);
}

static const struct br_method *
find_method(const br_rpc_server *server, const char *name, void **ret_data)
{
	for (size_t s = 0; s < server->nsets; s++) {
		for (size_t i = 0; i < server->sets[s].n; i++) {
			if (strcmp(server->sets[s].methods[i].name, name) == 0) {
				*ret_data = server->sets[s].data;
				return &server->sets[s].methods[i];
			}
		}
	}
	return NULL;
}

void
br_rpc_server_add_methods(br_rpc_server *server, const struct br_method *methods, size_t nmethods,
                          void *data)
{
	if (server->nsets >= sizeof(server->sets) / sizeof(server->sets[0]))
		abort(); /* a programming error: raise BR_RPC_MAX_METHOD_SETS */
	server->sets[server->nsets].methods = methods;
	server->sets[server->nsets].n = nmethods;
	server->sets[server->nsets].data = data;
	server->nsets++;
}

static void
dispatch(struct srv_ctx *sc)
{
	br_rpc_server *server = sc->server;
	br_call *call = xnew(br_call);
	br_err err = BR_ERR_INIT;

	call->server = server;
	call->sc = sc;
	call->arena = br_arena_new();
	call->msg = sc->msg;
	call->uid = sc->uid;
	call->pid = sc->pid;
	call->ns = "default";
	call->dispatched_ns = uv_hrtime();
	sc->msg = NULL;
	sc->call = call;
	sc->state = CTX_CALL;

	if (br_request_decode(nng_msg_body(call->msg), nng_msg_len(call->msg), call->arena,
	                      &call->req, &err) < 0) {
		br_log_info("RPC-BAD-REQUEST", "%s: from pid %u: %s", server->url, call->pid,
		            err.msg);
		br_call_fail(call, &err);
		return;
	}
	const struct br_request *req = &call->req;
	if (req->ns[0] != '\0')
		call->ns = req->ns;
	if (req->deadline_ms != 0)
		call->deadline = sc->recv_ms + req->deadline_ms;
	if (req->deadline_ms < 0 || (call->deadline != 0 && br_now_ms() >= call->deadline)) {
		br_call_failf(call, BR_DEADLINE_EXCEEDED,
		              "%s: deadline exceeded before the request was handled", req->method);
		return;
	}
	if (sc->over_limit) {
		br_call_failf(call, BR_RESOURCE_EXHAUSTED,
		              "%s: too many connections to %s (the limit is %d); try again later",
		              req->method, server->name, server->max_connections);
		return;
	}
	if (!admit_call(call))
		return;
	if (strcmp(req->method, "daemon.health") == 0) {
		reply_health(call);
		return;
	}
	if (strcmp(req->method, "daemon.namespace") == 0) {
		reply_ns_usage(call);
		return;
	}
	void *data = server->data;
	const struct br_method *m = find_method(server, req->method, &data);
	if (m == NULL) {
		if (server->fallback != NULL) {
			server->fallback(call, server->data);
			return;
		}
		call->unknown = true;
		br_call_failf(call, BR_NOT_IMPLEMENTED, "unknown method \"%s\"", req->method);
		return;
	}
	if (m->params != NULL) {
		void *params = br_arena_alloc(call->arena, m->params->size);
		if (br_msg_decode(&req->params, m->params, "p", call->arena, params, &err) < 0) {
			br_err_wrap(&err, "%s", req->method);
			br_call_fail(call, &err);
			return;
		}
		call->params = params;
	} else if (req->params.type != MSGPACK_OBJECT_NIL &&
	           req->params.type != MSGPACK_OBJECT_MAP) {
		br_call_failf(call, BR_INVALID_ARGUMENT, "%s: p: expected a map", req->method);
		return;
	}
	m->fn(call, data);
}

/* ---- accessors ---- */

const void *
br_call_params(const br_call *call)
{
	return call->params;
}

const struct br_request *
br_call_request(const br_call *call)
{
	return &call->req;
}

const char *
br_call_ns(const br_call *call)
{
	return call->ns;
}

br_arena *
br_call_arena(br_call *call)
{
	return call->arena;
}

int64_t
br_call_deadline(const br_call *call)
{
	return call->deadline;
}

uint32_t
br_call_peer_uid(const br_call *call)
{
	return call->uid;
}

uint32_t
br_call_peer_pid(const br_call *call)
{
	return call->pid;
}

bool
br_call_via_front_door(const br_call *call)
{
	return call->req.uid >= 0;
}

void
br_call_raw(const br_call *call, const void **ret_buf, size_t *ret_len)
{
	*ret_buf = nng_msg_body(call->msg);
	*ret_len = nng_msg_len(call->msg);
}

/* ---- setup and teardown ---- */

int
br_rpc_server_new(struct br_loop *loop, const char *url, const struct br_method *methods,
                  size_t nmethods, void *data, const struct br_server_opts *opts,
                  br_rpc_server **ret, br_err *err)
{
	int rc;

	br_rpc_server *server = xnew(br_rpc_server);
	server->loop = loop;
	server->url = xstrdup(url);
	server->name = xstrdup(opts && opts->name ? opts->name : "berth");
	server->version = xstrdup(opts && opts->version ? opts->version : BR_VERSION);
	server->sets[0].methods = methods;
	server->sets[0].n = nmethods;
	server->sets[0].data = data;
	server->nsets = 1;
	server->data = data;
	server->fallback = opts ? opts->fallback : NULL;
	server->health = opts ? opts->health : NULL;
	server->ns_usage = opts ? opts->ns_usage : NULL;
	server->started_ms = br_now_ms();
	server->refs = 1;
	server->socket_mode = opts && opts->socket_mode ? opts->socket_mode : 0600;
	server->socket_group = opts && opts->socket_group ? xstrdup(opts->socket_group) : NULL;
	server->max_connections = opts && opts->max_connections > 0 ? opts->max_connections : 0;
	server->max_calls_per_uid =
	        opts && opts->max_calls_per_uid > 0 ? opts->max_calls_per_uid : 0;
	pthread_mutex_init(&server->conn_lock, NULL);
	/* server->watchdog is set once its timer exists: a failed start frees no timer. */

	if ((rc = nng_rep0_open(&server->sock)) != 0) {
		br_rpc_server_unref(server);
		return br_err_set(err, BR_INTERNAL, "listen on %s: open socket: %s", url,
		                  nng_strerror(rc));
	}
	nng_socket_set_size(server->sock, NNG_OPT_RECVMAXSZ, RECV_MAX_SIZE);
	if (server->max_connections > 0) {
		nng_pipe_notify(server->sock, NNG_PIPE_EV_ADD_PRE, on_pipe_event, server);
		nng_pipe_notify(server->sock, NNG_PIPE_EV_REM_POST, on_pipe_event, server);
	}
	for (int i = 0; i < INITIAL_CONTEXTS; i++) {
		if (ctx_add(server, err) < 0) {
			br_rpc_server_free(server);
			return br_err_wrap(err, "listen on %s", url);
		}
	}
	if (br_rpc_server_listen(server, err) < 0) {
		br_rpc_server_free(server);
		return -1;
	}
	if (opts && opts->watchdog && strncmp(url, "ipc://", 6) == 0)
		br_rpc_server_watchdog_start(server);
	*ret = server;
	return 0;
}

void
br_rpc_server_free(br_rpc_server *server)
{
	struct srv_ctx *answering[BR_RPC_MAX_CONTEXTS];
	size_t nanswering = 0;
	br_err err = BR_ERR_INIT;
	msgpack_sbuffer sb;

	if (server == NULL)
		return;
	server->closing = true;

	/* Answer the calls still waiting for their handler. The handler keeps its call (the
	 * params stay readable); replying to it later only frees it. */
	br_err_set(&err, BR_UNAVAILABLE, "%s is shutting down", server->name);
	msgpack_sbuffer_init(&sb);
	br_reply_encode_error(&sb, &err);
	for (size_t i = 0; i < server->nctx; i++) {
		struct srv_ctx *sc = server->ctxs[i];
		if (sc->state != CTX_CALL || sc->call == NULL)
			continue;
		sc->call->sc = NULL;
		sc->call->server = NULL;
		ctx_send(sc, sb.data, sb.size, SHUTDOWN_REPLY_TIMEOUT_MS);
		answering[nanswering++] = sc;
	}
	msgpack_sbuffer_destroy(&sb);
	for (size_t i = 0; i < nanswering; i++)
		nng_aio_wait(answering[i]->aio);

	br_rpc_server_watchdog_stop(server);
	nng_close(server->sock);
	for (size_t i = 0; i < server->nctx; i++) {
		/* Waits for a callback in progress; none runs afterwards. Completions already
		 * posted to the loop find `closing` and only drop their reference. */
		nng_aio_free(server->ctxs[i]->aio);
		server->ctxs[i]->aio = NULL;
	}
	br_rpc_server_unref(server);
}
