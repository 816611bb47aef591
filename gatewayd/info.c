/* SPDX-License-Identifier: Apache-2.0 */
/*
 * gateway.info: the gateway's own version and uptime, and the health of every backend,
 * asked concurrently with a short deadline so that one component that is down or stuck
 * cannot delay the answer by more than INFO_TIMEOUT_MS. Any caller with a role in some
 * namespace may ask, whichever namespace its request names: the answer tells how the
 * components are (versions, pids, health), nothing of what any namespace holds.
 */
#include <stdio.h>
#include <unistd.h>

#include "common/proto/gateway.h"
#include "common/xalloc.h"
#include "gatewayd/gatewayd.h"

#define INFO_TIMEOUT_MS 1000

struct info_req {
	br_call *call;
	struct gateway *gw;
	struct br_component components[GW_N_BACKENDS];
	struct br_health health[GW_N_BACKENDS];
	int pending;
};

struct info_slot {
	struct info_req *req;
	int index;
};

static void
info_finish(struct info_req *req)
{
	struct br_gateway_info info = {
	        .version = BR_VERSION,
	        .pid = (uint32_t)getpid(),
	        .uptime_ms = br_now_ms() - req->gw->started_ms,
	        .components = {req->components, GW_N_BACKENDS},
	};
	br_call_reply(req->call, &br_gateway_info_schema, &info);
	free(req);
}

static void
health_done(void *data, const br_err *err, void *result)
{
	struct info_slot *slot = data;
	struct info_req *req = slot->req;
	struct br_component *c = &req->components[slot->index];
	br_arena *arena = br_call_arena(req->call);

	if (err != NULL) {
		c->healthy = false;
		c->error = br_arena_printf(arena, "%s: %s", br_code_name(err->code), err->msg);
	} else {
		const struct br_health *h = result;
		c->healthy = true;
		c->version = h->version;
		c->pid = h->pid;
		c->uptime_ms = h->uptime_ms;
	}
	free(slot);
	if (--req->pending == 0)
		info_finish(req);
}

void
gw_info(br_call *call, void *data)
{
	struct gateway *gw = data;
	struct info_req *req;
	struct br_call_opts opts = {.timeout_ms = INFO_TIMEOUT_MS};

	if (gw_authorize(gw, call) < 0)
		return;
	req = xnew(struct info_req);
	req->call = call;
	req->gw = gw;
	req->pending = GW_N_BACKENDS;
	for (int i = 0; i < GW_N_BACKENDS; i++) {
		struct info_slot *slot = xnew(struct info_slot);
		slot->req = req;
		slot->index = i;
		req->components[i].name = gw->backends[i].proc_name;
		br_rpc_call_async(gw->backends[i].client, gw->loop, &opts, "daemon.health", NULL,
		                  NULL, &br_health_schema, br_call_arena(call), health_done, slot);
	}
}
