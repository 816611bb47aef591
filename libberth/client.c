/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libberth's connection and raw calls. A berth_client is the suite's own RPC client
 * (common/rpc_client.c: one nng REQ socket dialled in the background, reconnecting by
 * itself) plus the socket's path. berth_connect() first tries the socket once with a plain
 * connect(2), so that a gateway that is not running fails at once and by name instead of
 * after the RPC client's grace period.
 *
 * A raw call sends the params bytes as they are and hands back the reply's result map as
 * bytes. The RPC runtime completes raw calls on a loop (br_loop), so each call runs a small
 * private libuv loop on the caller's thread until its completion arrives: calls on one client
 * from several threads never wait for each other (the CLI's signal thread sends tasks.kill
 * while the main thread waits in tasks.logs).
 */
#include "libberth/internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/loop.h"
#include "common/xalloc.h"

/* The public codes are the suite's codes, value for value. */
_Static_assert(BERTH_OK == (int)BR_OK, "code values");
_Static_assert(BERTH_INVALID_ARGUMENT == (int)BR_INVALID_ARGUMENT, "code values");
_Static_assert(BERTH_NOT_FOUND == (int)BR_NOT_FOUND, "code values");
_Static_assert(BERTH_ALREADY_EXISTS == (int)BR_ALREADY_EXISTS, "code values");
_Static_assert(BERTH_FAILED_PRECONDITION == (int)BR_FAILED_PRECONDITION, "code values");
_Static_assert(BERTH_UNAVAILABLE == (int)BR_UNAVAILABLE, "code values");
_Static_assert(BERTH_DEADLINE_EXCEEDED == (int)BR_DEADLINE_EXCEEDED, "code values");
_Static_assert(BERTH_CANCELED == (int)BR_CANCELED, "code values");
_Static_assert(BERTH_PERMISSION_DENIED == (int)BR_PERMISSION_DENIED, "code values");
_Static_assert(BERTH_RESOURCE_EXHAUSTED == (int)BR_RESOURCE_EXHAUSTED, "code values");
_Static_assert(BERTH_NOT_IMPLEMENTED == (int)BR_NOT_IMPLEMENTED, "code values");
_Static_assert(BERTH_INTERNAL == (int)BR_INTERNAL, "code values");
_Static_assert(BERTH_INTERNAL + 1 == (int)BR_CODE_MAX, "every code has a public name");
_Static_assert(BERTH_ERROR_MESSAGE_MAX == BR_ERR_MSG_MAX, "message size");

/* ------------------------------------------------------------------ errors */

const char *
berth_code_name(berth_code code)
{
	if ((int)code < 0 || (int)code >= BR_CODE_MAX)
		return "INTERNAL";
	return br_code_name((br_code)code);
}

berth_code
berth_code_from_name(const char *name)
{
	if (name == NULL)
		return BERTH_INTERNAL;
	return (berth_code)br_code_from_name(name, strlen(name));
}

void
libberth_error_from_br(berth_error *dst, const br_err *src)
{
	if (dst == NULL || src == NULL)
		return;
	dst->code = (int)src->code >= 0 && src->code < BR_CODE_MAX ? (berth_code)src->code
	                                                           : BERTH_INTERNAL;
	snprintf(dst->message, sizeof(dst->message), "%s", src->msg);
}

void
libberth_error_to_br(br_err *dst, const berth_error *src)
{
	if (dst == NULL || src == NULL)
		return;
	dst->code = (br_code)src->code;
	snprintf(dst->msg, sizeof(dst->msg), "%s", src->message);
}

int
libberth_error_set(berth_error *err, berth_code code, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL)
		return -1;
	err->code = code;
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
	return -1;
}

void
berth_free(void *p)
{
	free(p);
}

const char *
berth_version(void)
{
	return BERTH_VERSION;
}

char *
libberth_strdup(const char *s)
{
	return s != NULL ? xstrdup(s) : NULL;
}

/* ------------------------------------------------------------------ connection */

/* The socket path berth_connect uses for `given`, in `buf`. */
static const char *
resolve_path(const char *given, char *buf, size_t cap)
{
	const char *path = given;

	if (path == NULL) {
		path = getenv("BERTH_SOCKET");
		if (path == NULL || path[0] == '\0')
			path = BERTH_DEFAULT_SOCKET;
	}
	if (strncmp(path, "ipc://", 6) == 0)
		path += 6;
	snprintf(buf, cap, "%s", path);
	return buf;
}

/* connect(2) to the gateway's socket and close again: tells "not running" apart from the
 * rest long before an RPC would. */
static int
probe_socket(const char *path, br_err *err)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};

	if (path[0] == '\0')
		return br_err_set(err, BR_INVALID_ARGUMENT,
		                  "cannot reach " BERTH_GATEWAY_NAME ": empty socket path");
	if (strlen(path) >= sizeof(sa.sun_path))
		return br_err_set(err, BR_INVALID_ARGUMENT,
		                  "cannot reach " BERTH_GATEWAY_NAME " at %s: socket path too long",
		                  path);
	strcpy(sa.sun_path, path);
	_cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return br_err_errno(err, BR_INTERNAL, errno, "socket");
	int rc;
	do
		rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	while (rc < 0 && errno == EINTR);
	if (rc < 0)
		return br_err_errno(err, BR_UNAVAILABLE, errno,
		                    "cannot reach " BERTH_GATEWAY_NAME " at %s", path);
	/* Complete the SP handshake (a REQ peer's header) before closing: nng 1.5.2's ipc
	 * listener stops accepting after a connection that closes without one. */
	static const unsigned char header[8] = {0, 'S', 'P', 0, 0, 0x30, 0, 0};
	unsigned char reply[8];
	size_t off = 0;
	while (off < sizeof(header)) {
		ssize_t n = send(fd, header + off, sizeof(header) - off, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return br_err_errno(err, BR_UNAVAILABLE, errno,
			                    "cannot reach " BERTH_GATEWAY_NAME " at %s", path);
		off += (size_t)n;
	}
	struct timeval tv = {.tv_sec = 1};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	ssize_t n;
	do
		n = recv(fd, reply, sizeof(reply), MSG_WAITALL);
	while (n < 0 && errno == EINTR);
	return 0;
}

int
berth_connect(const char *socket_path, berth_client **ret, berth_error *err)
{
	char buf[4096];
	const char *path = resolve_path(socket_path, buf, sizeof(buf));
	br_err e = BR_ERR_INIT;

	if (ret == NULL)
		return libberth_error_set(err, BERTH_INVALID_ARGUMENT,
		                          "berth_connect: ret is NULL");
	if (probe_socket(path, &e) < 0) {
		libberth_error_from_br(err, &e);
		return -1;
	}
	_cleanup_free_ char *url = xasprintf("ipc://%s", path);
	br_rpc_client *rpc = NULL;
	if (br_rpc_client_new(url, BERTH_GATEWAY_NAME, &rpc, &e) < 0) {
		libberth_error_from_br(err, &e);
		return -1;
	}
	berth_client *c = xnew(berth_client);
	c->path = xstrdup(path);
	c->rpc = rpc;
	*ret = c;
	return 0;
}

const char *
berth_socket_path(const berth_client *c)
{
	return c->path;
}

void
berth_close(berth_client *c)
{
	if (c == NULL)
		return;
	br_rpc_client_free(c->rpc);
	free(c->path);
	free(c);
}

/* ------------------------------------------------------------------ raw calls */

/* One raw call in flight: filled on the private loop's thread, which is the caller's. */
struct raw_call {
	bool done;
	br_err err;
	bool failed;
	void *result; /* the "r" map, packed, malloc'd */
	size_t len;
};

/* Keep the "r" member of the reply envelope as packed bytes ({} when absent). */
static void
raw_done(void *data, const br_err *err, const void *reply, size_t len)
{
	struct raw_call *rc = data;
	_cleanup_(br_arena_freep) br_arena *arena = br_arena_new();
	msgpack_object result;

	rc->done = true;
	if (err != NULL) {
		rc->failed = true;
		br_err_copy(&rc->err, err);
		return;
	}
	if (br_reply_decode(reply, len, arena, &result, &rc->err) < 0) {
		rc->failed = true;
		return;
	}
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	if (result.type == MSGPACK_OBJECT_NIL)
		msgpack_pack_map(&pk, 0);
	else
		msgpack_pack_object(&pk, result);
	rc->result = xmemdup(sb.data, sb.size);
	rc->len = sb.size;
	msgpack_sbuffer_destroy(&sb);
}

/* True if buf[0..len) is one msgpack map within the protocol's limits. */
static int
check_params(const void *params, size_t len, br_err *err)
{
	const unsigned char *p = params;

	if (br_msg_check(params, len, err) < 0)
		return br_err_wrap(err, "params");
	if (!((p[0] >= 0x80 && p[0] <= 0x8f) || p[0] == 0xde || p[0] == 0xdf))
		return br_err_set(err, BR_INVALID_ARGUMENT, "params: not a msgpack map");
	return 0;
}

/* Run one raw call of `req` (an encoded envelope) to completion on a private loop. */
static int
run_raw(berth_client *c, const msgpack_sbuffer *req, int64_t timeout_ms, void **ret_reply,
        size_t *ret_len, br_err *err)
{
	uv_loop_t uv;
	struct br_loop loop;
	struct raw_call rc = {0};
	int r;

	if ((r = uv_loop_init(&uv)) < 0)
		return br_err_set(err, BR_INTERNAL, "create a loop: %s", uv_strerror(r));
	if (br_loop_init(&loop, &uv, err) < 0) {
		uv_loop_close(&uv);
		return -1;
	}
	br_rpc_call_raw_async(c->rpc, &loop, req->data, req->size, timeout_ms, raw_done, &rc);
	while (!rc.done)
		uv_run(&uv, UV_RUN_ONCE);
	br_loop_fini(&loop);
	uv_loop_close(&uv);
	if (rc.failed) {
		br_err_copy(err, &rc.err);
		return -1;
	}
	*ret_reply = rc.result;
	*ret_len = rc.len;
	return 0;
}

/* berth_call_with in the suite's error type. */
static int
call_raw(berth_client *c, const char *method, const berth_call_options *opts, const void *params,
         size_t len, void **ret_reply, size_t *ret_len, br_err *err)
{
	if (c == NULL || method == NULL || ret_reply == NULL || ret_len == NULL)
		return br_err_set(err, BR_INVALID_ARGUMENT,
		                  "berth_call: client, method and ret_* are required");
	if (params == NULL)
		len = 0;
	if (len > 0 && check_params(params, len, err) < 0)
		return br_err_wrap(err, "%s", method);
	const char *ns = opts != NULL && opts->ns != NULL ? opts->ns : "default";
	const char *lease = opts != NULL ? opts->lease : NULL;
	int64_t timeout_ms = opts != NULL ? opts->timeout_ms : 0;
	if (timeout_ms == 0)
		timeout_ms = BR_RPC_DEFAULT_TIMEOUT_MS;

	msgpack_sbuffer req;
	msgpack_sbuffer_init(&req);
	br_request_encode_raw(&req, method, ns, lease, timeout_ms > 0 ? timeout_ms : 0, params,
	                      len);
	int rc = run_raw(c, &req, timeout_ms, ret_reply, ret_len, err);
	msgpack_sbuffer_destroy(&req);
	return rc;
}

int
berth_call_with(berth_client *c, const char *method, const berth_call_options *opts,
                const void *params, size_t len, void **ret_reply, size_t *ret_len, berth_error *err)
{
	br_err e = BR_ERR_INIT;

	if (call_raw(c, method, opts, params, len, ret_reply, ret_len, &e) < 0) {
		libberth_error_from_br(err, &e);
		return -1;
	}
	return 0;
}

int
berth_call(berth_client *c, const char *method, const char *ns, const void *params, size_t len,
           int64_t timeout_ms, void **ret_reply, size_t *ret_len, berth_error *err)
{
	berth_call_options opts = {.ns = ns, .timeout_ms = timeout_ms};

	return berth_call_with(c, method, &opts, params, len, ret_reply, ret_len, err);
}

/* ------------------------------------------------------------------ typed calls */

int
libberth_call_schema(berth_client *c, const berth_call_options *opts, const char *method,
                     const struct br_schema *ps, const void *params, const struct br_schema *rs,
                     void *ret, br_arena *arena, br_err *err)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	_cleanup_free_ void *reply = NULL;
	size_t len = 0;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	br_msg_encode(&pk, ps, params);
	int rc = call_raw(c, method, opts, sb.data, sb.size, &reply, &len, err);
	msgpack_sbuffer_destroy(&sb);
	if (rc < 0)
		return -1;
	if (rs == NULL)
		return 0;
	_cleanup_(br_arena_freep) br_arena *tmp = arena != NULL ? NULL : br_arena_new();
	br_arena *a = arena != NULL ? arena : tmp;
	msgpack_object obj;
	void *st = br_arena_alloc(a, rs->size);
	if (br_msg_unpack(reply, len, a, &obj, err) < 0 ||
	    br_msg_decode(&obj, rs, "r", a, st, err) < 0)
		return br_err_wrap(err, "malformed reply to %s", method);
	if (ret != NULL)
		memcpy(ret, st, rs->size);
	return 0;
}

int
libberth_list_all(berth_client *c, const berth_call_options *opts, const char *method,
                  const struct br_schema *ps, const void *req, struct br_page_req *page,
                  const struct br_schema *rs, void *resp, const struct br_objlist *items,
                  const char *const *next_token, size_t item_size, br_arena *arena,
                  struct br_objlist *ret, br_err *err)
{
	char *all = NULL;
	size_t n = 0, cap = 0;

	page->size = BR_PAGE_MAX;
	page->token = NULL;
	for (;;) {
		if (libberth_call_schema(c, opts, method, ps, req, rs, resp, arena, err) < 0)
			return -1;
		if (n + items->n > cap) {
			size_t ncap = cap * 2 > n + items->n ? cap * 2 : n + items->n + 64;
			char *grown = br_arena_alloc(arena, ncap * item_size);
			if (n > 0)
				memcpy(grown, all, n * item_size);
			all = grown;
			cap = ncap;
		}
		if (items->n > 0)
			memcpy(all + n * item_size, items->v, items->n * item_size);
		n += items->n;
		if (*next_token == NULL || (*next_token)[0] == '\0' || items->n == 0)
			break;
		page->token = *next_token;
	}
	ret->v = all;
	ret->n = n;
	return 0;
}
