/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Schemas of gateway.* messages and the service routing table.
 */
#include "common/proto/gateway.h"

#include <string.h>

#define S(st, f, t, max, fl) BR_FIELD(struct st, f, t, max, fl)

static const struct br_field component_fields[] = {
        S(br_component, name, BR_F_STR, 64, 0),     S(br_component, healthy, BR_F_BOOL, 0, 0),
        S(br_component, version, BR_F_STR, 64, 0),  S(br_component, pid, BR_F_U32, 0, 0),
        S(br_component, uptime_ms, BR_F_I64, 0, 0), S(br_component, error, BR_F_STR, 1024, 0),
};
const struct br_schema br_component_schema = BR_SCHEMA(struct br_component, component_fields);

static const struct br_field info_fields[] = {
        S(br_gateway_info, version, BR_F_STR, 64, 0),
        S(br_gateway_info, pid, BR_F_U32, 0, 0),
        S(br_gateway_info, uptime_ms, BR_F_I64, 0, 0),
        BR_FIELD_SUB(struct br_gateway_info, components, BR_F_OBJLIST, 32, 0, &br_component_schema),
};
const struct br_schema br_gateway_info_schema = BR_SCHEMA(struct br_gateway_info, info_fields);

static const struct {
	const char *service;
	const char *daemon;
} routes[] = {
        {"content", "contentd"}, {"snapshots", "snapshotd"}, {"images", "imaged"},
        {"jobs", "imaged"},      {"containers", "taskd"},    {"tasks", "taskd"},
        {"networks", "netd"},
};

const char *
br_gateway_route(const char *method)
{
	const char *dot = strchr(method, '.');
	if (dot == NULL)
		return NULL;
	size_t n = (size_t)(dot - method);
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		if (strlen(routes[i].service) == n && memcmp(routes[i].service, method, n) == 0)
			return routes[i].daemon;
	}
	return NULL;
}
