/* SPDX-License-Identifier: Apache-2.0 */
/*
 * gateway.* (berth-gatewayd), and the routing table of the front door.
 *
 *   gateway.info {} -> br_gateway_info: the gateway's own version and uptime, and for every
 *                      component its health (daemon.health), or the error that stands for it.
 *
 *   namespaces.list   {page_size, page_token} -> {items: [br_namespace], next_page_token}
 *   namespaces.create {name}                  -> br_namespace
 *   namespaces.get    {name}                  -> br_namespace
 *   namespaces.delete {name}                  -> {}   FAILED_PRECONDITION while it holds
 *                                                      anything (daemon.namespace of each
 *                                                      backend)
 *
 * Routing: a method "<service>.<verb>" is forwarded to the daemon that owns <service>:
 *   content -> contentd, snapshots -> snapshotd, images|jobs -> imaged,
 *   containers|tasks -> taskd, networks -> netd.  "daemon.*" is never forwarded.
 * Every method is a read or a write: br_gateway_is_read() knows the reads; a write names its
 * namespace into existence. Each method needs a role in the request's namespace
 * (br_gateway_method_role; docs/gateway.md has the table).
 */
#ifndef BR_COMMON_PROTO_GATEWAY_H
#define BR_COMMON_PROTO_GATEWAY_H

#include "common/config.h"
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

struct br_namespace {
	const char *name;
	int64_t created_at; /* ms since the epoch */
};
extern const struct br_schema br_namespace_schema;

struct br_namespace_name_req {
	const char *name;
};
extern const struct br_schema br_namespace_name_req_schema;

struct br_namespace_list_req {
	struct br_page_req page;
};
extern const struct br_schema br_namespace_list_req_schema;

struct br_namespace_list_resp {
	struct br_objlist items; /* struct br_namespace, ordered by name */
	const char *next_page_token;
};
extern const struct br_schema br_namespace_list_resp_schema;

/* The daemon ("contentd") that owns `method`'s service, or NULL if none does. */
const char *br_gateway_route(const char *method);

/* True if `method` only reads (lists, gets, waits, reads blobs); false for anything that may
 * create, change or delete. Unknown methods count as writes. Pure. */
bool br_gateway_is_read(const char *method);

/*
 * The least role a caller needs in the request's namespace to call `method` through the
 * front door; `params` is the request's "p" (NULL or nil when absent). Pure.
 *   read:  what only reads: lists, gets, waits, logs, blob reads, events.subscribe,
 *          gateway.info, namespaces.list|get.
 *   user:  the writes of images.*, jobs.*, containers.* and tasks.*.
 *   admin: every other write (the leases of content.* and snapshots.*;
 *          networks.attach|detach; namespaces.create|delete), the views that report every
 *          namespace (content.usage, snapshots.usage of the whole store, a leases.list with
 *          all_namespaces), and whatever this table does not know.
 * Methods for root alone (br_gateway_is_root_only: events.publish and the writes of the
 * stores) also answer admin here.
 */
enum br_role br_gateway_method_role(const char *method, const msgpack_object *params);

/*
 * True for the writes of the stores themselves: every content.* and snapshots.* method that
 * is not a read and not one of their leases.* (content.write|delete|abort|gc,
 * snapshots.prepare|view|commit|remove|gc, and verbs this table does not know). Blobs are
 * stored once for every namespace and a planted blob or snapshot could poison later pulls,
 * so no role in one namespace may write them. Leases stay with the roles: a lease belongs to
 * its namespace and can only keep, never remove, what another namespace holds. Pure.
 */
bool br_gateway_is_store_write(const char *method);

/* True for the methods only root may call whatever its role: events.publish, which only the
 * daemons' outboxes call (an event is a record of what a daemon did), and the writes of the
 * stores (br_gateway_is_store_write). Pure. */
bool br_gateway_is_root_only(const char *method);

#endif
