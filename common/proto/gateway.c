/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Schemas of gateway.* messages and the service routing table.
 */
#include "common/proto/gateway.h"

#include "common/rpc.h"

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

static const struct br_field namespace_fields[] = {
        S(br_namespace, name, BR_F_STR, BR_NS_MAX, 0),
        S(br_namespace, created_at, BR_F_I64, 0, 0),
};
const struct br_schema br_namespace_schema = BR_SCHEMA(struct br_namespace, namespace_fields);

static const struct br_field ns_name_fields[] = {
        S(br_namespace_name_req, name, BR_F_STR, BR_NS_MAX, BR_F_REQUIRED | BR_F_NONEMPTY),
};
const struct br_schema br_namespace_name_req_schema =
        BR_SCHEMA(struct br_namespace_name_req, ns_name_fields);

static const struct br_field ns_list_req_fields[] = {
        BR_PAGE_FIELDS(struct br_namespace_list_req),
};
const struct br_schema br_namespace_list_req_schema =
        BR_SCHEMA(struct br_namespace_list_req, ns_list_req_fields);

static const struct br_field ns_list_fields[] = {
        BR_FIELD_SUB(struct br_namespace_list_resp, items, BR_F_OBJLIST, BR_PAGE_MAX, 0,
                     &br_namespace_schema),
        S(br_namespace_list_resp, next_page_token, BR_F_STR, BR_PAGE_TOKEN_MAX, 0),
};
const struct br_schema br_namespace_list_resp_schema =
        BR_SCHEMA(struct br_namespace_list_resp, ns_list_fields);

/* Methods that only read. Anything else may change state. */
static const char *const reads[] = {
        "gateway.info",
        "namespaces.list",
        "namespaces.get",
        "content.info",
        "content.list",
        "content.read",
        "content.status",
        "content.usage",
        "content.leases.get",
        "content.leases.list",
        "content.leases.resources",
        "snapshots.stat",
        "snapshots.list",
        "snapshots.mounts",
        "snapshots.usage",
        "snapshots.leases.get",
        "snapshots.leases.list",
        "snapshots.leases.resources",
        "images.list",
        "images.get",
        "images.resolve",
        "jobs.get",
        "jobs.wait",
        "containers.list",
        "containers.get",
        "tasks.get",
        "tasks.wait",
        "tasks.logs",
        "networks.list",
        "networks.get",
};

bool
br_gateway_is_read(const char *method)
{
	for (size_t i = 0; i < sizeof(reads) / sizeof(reads[0]); i++)
		if (strcmp(reads[i], method) == 0)
			return true;
	return false;
}

bool
br_gateway_is_store(const char *method)
{
	return strncmp(method, "content.", 8) == 0 || strncmp(method, "snapshots.", 10) == 0;
}

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
