/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Forwarding: every method the gateway does not answer itself is routed by its service
 * prefix (br_gateway_route) to the daemon that owns it. The request is re-encoded with the
 * deadline the gateway grants (the smaller of the caller's and gatewayd.timeout_ms) and the
 * caller's uid (so a backend can tell front-door callers from daemons), its params passed
 * through untouched; the backend's reply envelope is passed back as is. A backend that is down
 * answers, through its client, UNAVAILABLE naming it; the gateway never waits longer than the
 * deadline. Before forwarding: the caller must be allowed at all, the service must exist, the
 * caller's role in the request's namespace must be the one the method needs
 * (br_gateway_method_role, auth.c), and a write records its namespace.
 */
#include <string.h>

#include "common/log.h"
#include "common/proto/gateway.h"
#include "gatewayd/gatewayd.h"

static void
forward_done(void *data, const br_err *err, const void *reply, size_t len)
{
	br_call *call = data;

	if (err != NULL)
		br_call_fail(call, err);
	else
		br_call_reply_raw(call, reply, len);
}

void
gw_forward(br_call *call, void *data)
{
	struct gateway *gw = data;
	const struct br_request *req = br_call_request(call);
	const char *daemon;
	struct gw_backend *backend;
	int64_t timeout = gw->cfg->gatewayd.timeout_ms;
	msgpack_sbuffer sb;

	if (gw_authorize(gw, call) < 0)
		return;
	daemon = br_gateway_route(req->method);
	backend = daemon != NULL ? gw_backend_find(gw, daemon) : NULL;
	if (backend == NULL) {
		size_t n = strcspn(req->method, ".");
		br_call_failf(call, BR_NOT_IMPLEMENTED, "unknown service \"%.*s\"", (int)n,
		              req->method);
		return;
	}
	if (gw_require(gw, call, br_call_ns(call),
	               br_gateway_method_role(req->method, &req->params)) < 0)
		return;
	if (br_call_deadline(call) != 0) {
		int64_t left = br_call_deadline(call) - br_now_ms();
		if (left < timeout)
			timeout = left;
	}
	if (timeout <= 0) {
		br_call_failf(call, BR_DEADLINE_EXCEEDED, "%s: deadline exceeded at the gateway",
		              req->method);
		return;
	}
	if (!br_gateway_is_read(req->method))
		gw_namespace_touch(gw, br_call_ns(call));
	msgpack_sbuffer_init(&sb);
	br_request_encode_forward(&sb, req, br_call_ns(call), timeout, br_call_peer_uid(call));
	br_rpc_call_raw_async(backend->client, gw->loop, sb.data, sb.size, timeout, forward_done,
	                      call);
	msgpack_sbuffer_destroy(&sb);
}
