/* SPDX-License-Identifier: Apache-2.0 */
/*
 * gateway.* (berth-gatewayd), and the routing table of the front door.
 *
 *   gateway.info {} -> br_gateway_info: the gateway's own version and uptime, and for every
 *                      component its health (daemon.health), or the error that stands for it.
 *
 * Routing: a method "<service>.<verb>" is forwarded to the daemon that owns <service>:
 *   content -> contentd, snapshots -> snapshotd, images|jobs -> imaged,
 *   containers|tasks -> taskd, networks -> netd.  "daemon.*" is never forwarded.
 */
#ifndef BR_COMMON_PROTO_GATEWAY_H
#define BR_COMMON_PROTO_GATEWAY_H

#include "common/proto/types.h"

struct br_component {
	const char *name; /* "berth-contentd" */
	bool healthy;
	const char *version;
	uint32_t pid;
	int64_t uptime_ms;
	const char *error; /* why it is not healthy: "UNAVAILABLE: berth-imaged is unavailable" */
};
extern const struct br_schema br_component_schema;

struct br_gateway_info {
	const char *version;
	uint32_t pid;
	int64_t uptime_ms;
	struct br_objlist components; /* struct br_component */
};
extern const struct br_schema br_gateway_info_schema;

/* The daemon ("contentd") that owns `method`'s service, or NULL if none does. */
const char *br_gateway_route(const char *method);

#endif
