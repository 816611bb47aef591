/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The RPC runtime: msgpack requests and replies over nng REQ/REP on ipc:// sockets.
 *
 * Envelope (docs/api.md):
 *   request  {"v":1, "m":"images.pull", "ns":"default", "p":{...}, "lease":"...", "deadline_ms":N}
 *   reply    {"v":1, "r":{...}}  or  {"v":1, "e":{"code":"NOT_FOUND", "msg":"image \"x\": not
 * found"}} "deadline_ms" is the time the caller still grants, in milliseconds, when the request is
 * sent; each hop subtracts what it spent. A request whose deadline passed is answered
 * DEADLINE_EXCEEDED without running the handler.
 *
 * Server side: a daemon registers a table of methods, each with the schema of its params.
 * The runtime receives on a pool of nng contexts (growing on demand up to a bound), checks and
 * decodes the envelope and the params, and runs the handler on the loop thread. The handler
 * replies exactly once, now or later (after a worker or a peer call finishes), with
 * br_call_reply() or br_call_fail(). Every server also answers "daemon.health" by itself.
 *
 * Client side: a client holds one REQ socket to one peer, dialled in the background with
 * automatic reconnection (the peer may start later, die and come back). Requests are never
 * resent by nng: a call whose connection drops fails with UNAVAILABLE. If no connection to the
 * peer exists, a call waits at most BR_RPC_CONNECT_GRACE_MS for one and then fails with
 * UNAVAILABLE naming the peer ("berth-imaged is unavailable: ..."), never hangs.
 */
#ifndef BR_COMMON_RPC_H
#define BR_COMMON_RPC_H

#include <stdbool.h>
#include <stdint.h>

#include <msgpack.h>

#include "common/err.h"
#include "common/loop.h"
#include "common/msg.h"

#define BR_RPC_VERSION 1
#define BR_RPC_CONNECT_GRACE_MS 300
#define BR_RPC_DEFAULT_TIMEOUT_MS 30000
#define BR_RPC_MAX_CONTEXTS 256 /* concurrent requests one server handles */
#define BR_METHOD_MAX 64
/* The longest deadline or wait a request may ask for; longer ones are cut to it. Every hop
 * adds such a number to its clock (br_now_ms() + deadline_ms), which must not overflow
 * whatever a caller writes, and no call of Berth usefully waits for more than a year. */
#define BR_DEADLINE_MAX_MS (366LL * 24 * 3600 * 1000)

/* A decoded request envelope. Strings point into the request's arena. */
struct br_request {
	uint32_t v;
	const char *method;
	const char *ns;        /* "" when absent; servers default it to "default" */
	const char *lease;     /* NULL when absent */
	int64_t deadline_ms;   /* remaining ms at send time; 0 = none */
	int64_t uid;           /* "uid": the caller's uid, set by the front door; -1 when absent */
	msgpack_object params; /* nil when absent */
};

/* Decode and validate an envelope (version, method name syntax, namespace syntax, limits). */
int br_request_decode(const void *buf, size_t len, br_arena *arena, struct br_request *ret,
                      br_err *err);
/* Encode a request whose params are packed from `schema`/`params`. */
void br_request_encode(msgpack_sbuffer *out, const char *method, const char *ns, const char *lease,
                       int64_t deadline_ms, const struct br_schema *schema, const void *params);
/* Encode a request carrying already-packed params (`params` may be NULL for nil). */
void br_request_encode_object(msgpack_sbuffer *out, const char *method, const char *ns,
                              const char *lease, int64_t deadline_ms, const msgpack_object *params);
/* Encode a request whose params are the msgpack bytes params[0..len) (one map). */
void br_request_encode_raw(msgpack_sbuffer *out, const char *method, const char *ns,
                           const char *lease, int64_t deadline_ms, const void *params, size_t len);
/* The front door's re-encoding of `req` for a backend: namespace `ns`, deadline `deadline_ms`,
 * and "uid": the uid of the peer the front door saw, which backends trust (their sockets are
 * root-only) to tell front-door callers from the daemons that call them directly. */
void br_request_encode_forward(msgpack_sbuffer *out, const struct br_request *req, const char *ns,
                               int64_t deadline_ms, uint32_t uid);

/* Decode a reply. On success returns 0 and sets *ret_result (nil when absent); an "e" reply
 * returns -1 with err set to the remote code and message. */
int br_reply_decode(const void *buf, size_t len, br_arena *arena, msgpack_object *ret_result,
                    br_err *err);
void br_reply_encode_result(msgpack_sbuffer *out, const struct br_schema *schema, const void *r);
/* The start of a result reply packed by hand: {"v": 1, "r": then the caller packs the result. */
void br_reply_pack_head(msgpack_packer *pk);
void br_reply_encode_error(msgpack_sbuffer *out, const br_err *err);

/* True if `ns` is a valid namespace name. */
bool br_ns_valid(const char *ns);

/* ------------------------------------------------------------------ server */

typedef struct br_rpc_server br_rpc_server;
typedef struct br_call br_call;

/* Runs on the loop thread. `call` stays valid until it is replied to. */
typedef void (*br_handler_fn)(br_call *call, void *data);

struct br_method {
	const char *name;               /* "content.info" */
	const struct br_schema *params; /* decoded before the handler runs; NULL: none expected */
	br_handler_fn fn;
};

struct br_server_opts {
	const char *name;    /* process name reported by daemon.health: "berth-contentd" */
	const char *version; /* BR_VERSION */
	int socket_mode;     /* permissions of the socket file, e.g. 0600 */
	/* Called for methods not in the table (the gateway forwards them); NULL: NOT_IMPLEMENTED.
	 */
	br_handler_fn fallback;
	/* Extra health detail: called on the loop thread for daemon.health; may be NULL. */
	void (*health)(void *data, msgpack_packer *pk_map_body, uint32_t *ret_extra_pairs);
	/* What a namespace holds, for daemon.namespace (the front door asks before it deletes a
	 * namespace): add one human-readable line per kind of thing to `ret` ("2 images"), in
	 * `arena`; nothing when the namespace holds nothing here. Loop thread; may be NULL. */
	int (*ns_usage)(void *data, const char *ns, br_arena *arena, struct br_strlist *ret,
	                br_err *err);
	/* Group to give the socket file (it must exist); NULL: leave it to root. */
	const char *socket_group;
	/* Probe the socket every second and replace the listener if it stopped accepting.
	 * nng 1.5.2's ipc listener stops for good when a connection fails its handshake with
	 * NNG_ECLOSED (a peer that connects and closes at once: a local user at the front door,
	 * or a daemon killed while its dialer was mid-handshake), so every daemon sets this. */
	bool watchdog;
	/* Connections open at once, from every caller together; 0: no limit. A connection past
	 * it gets RESOURCE_EXHAUSTED for each of its calls until others close (a few dozen such
	 * connections are kept to tell their callers why; more are closed at once). Root's
	 * connections count but are never refused: the daemons and the watchdog are root. */
	int max_connections;
	/* Calls in progress at once per peer uid, root exempt; 0: no limit. Past it a call is
	 * answered RESOURCE_EXHAUSTED without reaching its handler; other uids are unaffected. */
	int max_calls_per_uid;
};

/*
 * Listen on `url` ("ipc:///run/berth/contentd.sock"). A stale socket file left by a killed
 * process is removed first. `methods` and `data` must outlive the server. Loop thread only.
 */
int br_rpc_server_new(struct br_loop *loop, const char *url, const struct br_method *methods,
                      size_t nmethods, void *data, const struct br_server_opts *opts,
                      br_rpc_server **ret, br_err *err);

/* Serve a further table of methods, whose handlers get `data` instead of the server's (a
 * module such as the stores' leases brings its own table). Looked up after the main table.
 * `methods` and `data` must outlive the server. Loop thread, before the loop runs. At most
 * BR_RPC_MAX_METHOD_SETS tables. */
#define BR_RPC_MAX_METHOD_SETS 4
void br_rpc_server_add_methods(br_rpc_server *server, const struct br_method *methods,
                               size_t nmethods, void *data);

/* Stop receiving, fail calls still waiting for their handler's reply with UNAVAILABLE,
 * close the socket and free the server. Loop thread only. Accepts NULL. */
void br_rpc_server_free(br_rpc_server *server);

/* Add the server's call statistics to `m` (common/metrics.h; docs/metrics.md): calls, errors
 * by code and latency per method since the server started, and the calls in flight. Every
 * answered call counts, daemon.health and daemon.metrics included. Loop thread. */
struct br_metrics;
void br_rpc_server_metrics(const br_rpc_server *server, struct br_metrics *m);

/* Accessors; loop thread, until the call is replied to. */
const void *br_call_params(const br_call *call); /* the decoded params struct */
const struct br_request *br_call_request(const br_call *call);
const char *br_call_ns(const br_call *call);    /* never NULL, "default" if absent */
br_arena *br_call_arena(br_call *call);         /* freed after the reply */
int64_t br_call_deadline(const br_call *call);  /* absolute br_now_ms(), 0 = none */
uint32_t br_call_peer_uid(const br_call *call); /* from the socket, not the message */
uint32_t br_call_peer_pid(const br_call *call);
/* True when the request came through the front door (its envelope carries the caller's uid);
 * false for a daemon calling directly on the backend socket. */
bool br_call_via_front_door(const br_call *call);
/* The raw request bytes, for forwarding. */
void br_call_raw(const br_call *call, const void **ret_buf, size_t *ret_len);

/* Reply with a result packed from `schema`/`result` (NULL schema: empty map). Frees the call. */
void br_call_reply(br_call *call, const struct br_schema *schema, const void *result);
/* Reply with an error. Frees the call. */
void br_call_fail(br_call *call, const br_err *err);
void br_call_failf(br_call *call, br_code code, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
/* Reply with pre-encoded reply bytes (a whole envelope). Frees the call. */
void br_call_reply_raw(br_call *call, const void *buf, size_t len);

/* ------------------------------------------------------------------ client */

typedef struct br_rpc_client br_rpc_client;

struct br_call_opts {
	const char *ns;     /* NULL: "default" */
	const char *lease;  /* NULL: none */
	int64_t timeout_ms; /* 0: BR_RPC_DEFAULT_TIMEOUT_MS; <0: no deadline */
};

/*
 * A client for the peer at `url`; `peer` names it in errors ("berth-contentd"). Dials in the
 * background and keeps reconnecting; never fails because the peer is down. Any thread.
 */
int br_rpc_client_new(const char *url, const char *peer, br_rpc_client **ret, br_err *err);
/* Close the socket; calls in flight fail with CANCELED. Accepts NULL. Not on a thread that is
 * inside a callback of this client. */
void br_rpc_client_free(br_rpc_client *client);
/*
 * Run `uv` (the loop thread's own loop) until none of `clients` has a call in flight, or
 * `max_ms` passed, so that their completions ran. A daemon whose async calls may still be
 * waiting for replies at a stop calls it before freeing the clients: freeing a client whose
 * REQ context is still waiting for a reply can leave nng 1.5.2's socket close waiting for
 * ever. Loop thread, with the loop otherwise stopped.
 */
void br_rpc_clients_drain(uv_loop_t *uv, br_rpc_client *const *clients, size_t n, int64_t max_ms);
bool br_rpc_client_connected(br_rpc_client *client);

/*
 * Synchronous call from any thread that is NOT a loop thread (workers, the CLI, tests).
 * Params are packed from `ps`/`params`; on success the result is decoded with `rs` into
 * `ret_result` (rs->size bytes) using `arena`, which the caller owns. rs == NULL ignores the
 * result. Errors: the remote error as is; UNAVAILABLE (peer down or connection lost);
 * DEADLINE_EXCEEDED; INVALID_ARGUMENT (a malformed reply).
 */
int br_rpc_call(br_rpc_client *client, const struct br_call_opts *opts, const char *method,
                const struct br_schema *ps, const void *params, const struct br_schema *rs,
                void *ret_result, br_arena *arena, br_err *err);

/* Completion of an async call, on the loop thread. err == NULL on success; `result` is the
 * decoded struct (in the arena given to the call). */
typedef void (*br_rpc_done_fn)(void *data, const br_err *err, void *result);

/* Asynchronous call; `done` runs exactly once on `loop`'s thread (never inline). */
void br_rpc_call_async(br_rpc_client *client, struct br_loop *loop, const struct br_call_opts *opts,
                       const char *method, const struct br_schema *ps, const void *params,
                       const struct br_schema *rs, br_arena *arena, br_rpc_done_fn done,
                       void *data);

/*
 * A request packed ahead, on any thread: the envelope br_rpc_call_async would send for the
 * same arguments. br_rpc_call_async_packed then sends it from the loop, which only copies it
 * into a message: a worker that hands large requests to the loop packs them itself, so that
 * the loop does not. `out` is initialised here; free it with msgpack_sbuffer_destroy once
 * the call is started.
 */
void br_rpc_pack(msgpack_sbuffer *out, const struct br_call_opts *opts, const char *method,
                 const struct br_schema *ps, const void *params);
void br_rpc_call_async_packed(br_rpc_client *client, struct br_loop *loop,
                              const struct br_call_opts *opts, const char *method, const void *req,
                              size_t len, const struct br_schema *rs, br_arena *arena,
                              br_rpc_done_fn done, void *data);

/* Completion of a raw call: `reply` is the whole reply envelope (valid during the callback). */
typedef void (*br_rpc_raw_done_fn)(void *data, const br_err *err, const void *reply, size_t len);

/* Forward an already-encoded request envelope; `done` runs once on the loop thread. */
void br_rpc_call_raw_async(br_rpc_client *client, struct br_loop *loop, const void *req, size_t len,
                           int64_t timeout_ms, br_rpc_raw_done_fn done, void *data);

/* Release nng's global state; tests call it last so leak checkers stay quiet. */
void br_rpc_shutdown(void);

#endif
