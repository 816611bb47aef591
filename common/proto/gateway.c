/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Schemas of gateway.* messages, the service routing table and the role each method needs.
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
        "images.export",
        "jobs.get",
        "jobs.wait",
        "containers.list",
        "containers.get",
        "containers.spec",
        "tasks.get",
        "tasks.wait",
        "tasks.logs",
        "tasks.top",
        "tasks.stats",
        "networks.list",
        "networks.get",
        "networks.attachment",
        "networks.attachments",
        "volumes.list",
        "volumes.get",
        "events.subscribe",
};

bool
br_gateway_is_read(const char *method)
{
	for (size_t i = 0; i < sizeof(reads) / sizeof(reads[0]); i++)
		if (strcmp(reads[i], method) == 0)
			return true;
	return false;
}

/* The services whose writes a user may make: images and the jobs that make them (images.login
 * too: it only checks the caller's own credentials with a registry), containers and their
 * tasks, volumes. The stores' leases, networks and namespaces are the administrator's; the
 * writes of the stores themselves are root's (br_gateway_is_store_write). */
static const char *const user_services[] = {"images.", "jobs.", "containers.", "tasks.",
                                            "volumes."};

static bool
has_prefix(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

static bool
has_suffix(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* The value of key `name` in the map `params`, or NULL. */
static const msgpack_object *
param(const msgpack_object *params, const char *name)
{
	size_t len = strlen(name);

	if (params == NULL || params->type != MSGPACK_OBJECT_MAP)
		return NULL;
	for (uint32_t i = 0; i < params->via.map.size; i++) {
		const msgpack_object *k = &params->via.map.ptr[i].key;
		if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == len &&
		    memcmp(k->via.str.ptr, name, len) == 0)
			return &params->via.map.ptr[i].val;
	}
	return NULL;
}

/* True if the answer to `method` reports on every namespace, not the request's own. */
static bool
spans_namespaces(const char *method, const msgpack_object *params)
{
	if (strcmp(method, "content.usage") == 0)
		return true;
	if (strcmp(method, "snapshots.usage") == 0) {
		const msgpack_object *key = param(params, "key");
		return key == NULL || key->type != MSGPACK_OBJECT_STR || key->via.str.size == 0;
	}
	if (has_suffix(method, ".leases.list")) {
		const msgpack_object *all = param(params, "all_namespaces");
		return all != NULL && all->type == MSGPACK_OBJECT_BOOLEAN && all->via.boolean;
	}
	return false;
}

static bool
str_is(const msgpack_object *o, const char *s)
{
	return o != NULL && o->type == MSGPACK_OBJECT_STR && o->via.str.size == strlen(s) &&
	       memcmp(o->via.str.ptr, s, o->via.str.size) == 0;
}

/* True if a containers.create reaches into the host beyond its own confinement: privileged,
 * host devices, or a bind mount of a host path. Any of these makes the container as strong
 * as root on the host, so it is the administrator's to ask (named volumes and tmpfs mounts
 * stay the user's). Malformed params answer false: taskd refuses them anyway. */
static bool
touches_host(const char *method, const msgpack_object *params)
{
	const msgpack_object *privileged, *devices, *mounts;

	if (strcmp(method, "containers.create") != 0)
		return false;
	privileged = param(params, "privileged");
	if (privileged != NULL && privileged->type == MSGPACK_OBJECT_BOOLEAN &&
	    privileged->via.boolean)
		return true;
	devices = param(params, "devices");
	if (devices != NULL && devices->type == MSGPACK_OBJECT_ARRAY && devices->via.array.size > 0)
		return true;
	mounts = param(params, "mounts");
	for (uint32_t i = 0;
	     mounts != NULL && mounts->type == MSGPACK_OBJECT_ARRAY && i < mounts->via.array.size;
	     i++)
		if (str_is(param(&mounts->via.array.ptr[i], "type"), "bind"))
			return true;
	return false;
}

enum br_role
br_gateway_method_role(const char *method, const msgpack_object *params)
{
	if (br_gateway_is_root_only(method) || spans_namespaces(method, params) ||
	    touches_host(method, params))
		return BR_ROLE_ADMIN;
	if (br_gateway_is_read(method))
		return BR_ROLE_READ;
	for (size_t i = 0; i < sizeof(user_services) / sizeof(user_services[0]); i++) {
		if (has_prefix(method, user_services[i]))
			return BR_ROLE_USER;
	}
	return BR_ROLE_ADMIN;
}

bool
br_gateway_is_store_write(const char *method)
{
	if (!has_prefix(method, "content.") && !has_prefix(method, "snapshots."))
		return false;
	return !br_gateway_is_read(method) && strstr(method, ".leases.") == NULL;
}

bool
br_gateway_is_root_only(const char *method)
{
	return strcmp(method, "events.publish") == 0 || br_gateway_is_store_write(method);
}

static const struct {
	const char *service;
	const char *daemon;
} routes[] = {
        {"content", "contentd"}, {"snapshots", "snapshotd"}, {"images", "imaged"},
        {"jobs", "imaged"},      {"containers", "taskd"},    {"tasks", "taskd"},
        {"networks", "netd"},    {"volumes", "taskd"},
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
