/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Leases and garbage collection of the stores (berth-contentd and berth-snapshotd), served by
 * each store under its own service prefix P ("content" or "snapshots"):
 *
 *   P.leases.create    {id, ttl_ms, labels}                    -> br_lease
 *   P.leases.put       {id, ttl_ms, labels, resources, replace, must_exist}
 *                                                              -> {missing}
 *   P.leases.get       {id}                                    -> br_lease
 *   P.leases.delete    {id}                                    -> {}
 *   P.leases.list      {page_size, page_token, all_namespaces, labels} -> br_lease_list_resp
 *   P.leases.add       {id, resources}                         -> {missing}
 *   P.leases.remove    {id, resources}                         -> {}
 *   P.leases.resources {id, page_size, page_token}             -> br_lease_resources_resp
 *   P.gc               {}                                      -> br_gc_result
 *   P.usage            {}                                      -> store-specific (content.h,
 *                                                                 snapshots.h)
 *
 * A lease is a named set of references to a store's resources, per namespace, with an
 * optional expiry (`ttl_ms` from now; 0: never). The resources held by unexpired leases are
 * the only roots of collection: P.gc (and the store's own scheduler) removes every resource
 * that no lease holds. A reference may name a resource that does not exist (yet): it keeps
 * whatever appears under that name. Resource types: contentd "content" (key: a digest) and
 * "ingest" (key: an ingest ref); snapshotd "snapshots/<snapshotter>" (key: a snapshot key;
 * "snapshots" alone means the default snapshotter).
 *
 * `create` fails with ALREADY_EXISTS for an existing id. `put` is the owners' idempotent
 * verb: it creates the lease or updates it (ttl and labels replaced) and adds the resources,
 * or with `replace` makes the lease hold exactly them; `missing` names those that do not
 * exist at that moment; a put of what the lease holds already changes no reference and
 * schedules no collection. `add` answers the same. A `put` with `must_exist` is a renewal: it
 * updates a live lease like any put but never creates one, answering NOT_FOUND (and changing
 * nothing) when the lease is unknown or has expired, so that its owner learns that what the
 * lease held may have been collected rather than carrying on with a new, empty lease.
 * `delete`, `remove` of what is not held, and `add` of what is held already are no-ops
 * (`delete` of an unknown lease is NOT_FOUND). A request envelope that names a lease
 * ("lease": id) adds what the request creates to it; the lease must exist (NOT_FOUND
 * otherwise).
 *
 * Events (docs/events.md), from each store for its own leases, in the transaction of the
 * change: /leases/create when a lease comes to exist (create, or a put of an unknown lease),
 * /leases/delete when it goes (delete, or the collection that drops it once expired; an
 * expired lease replaced by a create or put of the same id is announced deleted first), both
 * in the lease's namespace; /gc/run when a collection ended, in BR_STORE_EVENT_NS.
 */
#ifndef BR_COMMON_PROTO_LEASES_H
#define BR_COMMON_PROTO_LEASES_H

#include "common/proto/types.h"

#define BR_LEASE_ID_MAX 255
#define BR_LEASE_TYPE_MAX 64
#define BR_LEASE_RESOURCES_MAX 1024        /* resources in one request or one page */
#define BR_LEASE_LABEL_OWNER "berth.owner" /* the daemon that keeps the lease true */
/* The namespace of the stores' events about what belongs to no namespace: blobs
 * (/content/delete) and collections (/gc/run), which span every namespace. Events need a
 * namespace and "default" always exists; subscribers that want these follow it. */
#define BR_STORE_EVENT_NS "default"

struct br_lease_resource {
	const char *type; /* "content", "ingest", "snapshots/overlayfs" */
	const char *key;
};
extern const struct br_schema br_lease_resource_schema;

struct br_lease {
	const char *id;
	const char *ns;
	int64_t created_at; /* ms since the epoch */
	int64_t expire_at;  /* ms since the epoch; 0: never */
	struct br_strmap labels;
	int64_t resources; /* how many it holds */
};
extern const struct br_schema br_lease_schema;

struct br_lease_create_req {
	const char *id;
	int64_t ttl_ms; /* 0: never expires */
	struct br_strmap labels;
};
extern const struct br_schema br_lease_create_req_schema;

struct br_lease_put_req {
	const char *id;
	int64_t ttl_ms;
	struct br_strmap labels;
	struct br_objlist resources; /* struct br_lease_resource */
	bool replace;                /* hold exactly `resources` */
	bool must_exist;             /* renew only: NOT_FOUND if unknown or expired */
};
extern const struct br_schema br_lease_put_req_schema;

struct br_lease_id_req {
	const char *id;
};
extern const struct br_schema br_lease_id_req_schema;

struct br_lease_resources_req {
	const char *id;
	struct br_objlist resources; /* struct br_lease_resource */
};
extern const struct br_schema br_lease_resources_req_schema;

/* Reply of add and put: the resources named that do not exist now. */
struct br_lease_missing_resp {
	struct br_objlist missing; /* struct br_lease_resource */
};
extern const struct br_schema br_lease_missing_resp_schema;

struct br_lease_list_req {
	struct br_page_req page;
	bool all_namespaces;     /* every namespace, not only the request's */
	struct br_strmap labels; /* only leases carrying all of these */
};
extern const struct br_schema br_lease_list_req_schema;

struct br_lease_list_resp {
	struct br_objlist items; /* struct br_lease, ordered by (ns, id) */
	const char *next_page_token;
};
extern const struct br_schema br_lease_list_resp_schema;

struct br_lease_page_req {
	const char *id;
	struct br_page_req page;
};
extern const struct br_schema br_lease_page_req_schema;

struct br_lease_resources_resp {
	struct br_objlist items; /* struct br_lease_resource, ordered by (type, key) */
	const char *next_page_token;
};
extern const struct br_schema br_lease_resources_resp_schema;

/* P.gc: what one collection did. */
struct br_gc_result {
	int64_t leases;      /* expired leases dropped */
	int64_t removed;     /* blobs or snapshots removed */
	int64_t ingests;     /* expired ingests removed (contentd) */
	int64_t orphans;     /* files or directories without a record removed */
	int64_t bytes;       /* bytes freed, where known (blob sizes) */
	int64_t duration_ms; /* wall time of the collection */
};
extern const struct br_schema br_gc_result_schema;

/* The payload of /leases/create. */
struct br_event_lease_create {
	const char *id;
	const char *daemon; /* the store: "contentd" or "snapshotd" */
	int64_t expire_at;  /* ms since the epoch; 0: never */
	struct br_strmap labels;
};
extern const struct br_schema br_event_lease_create_schema;

/* The payload of /leases/delete. */
struct br_event_lease_delete {
	const char *id;
	const char *daemon;
	bool expired; /* dropped because it expired, not by a delete */
};
extern const struct br_schema br_event_lease_delete_schema;

/* The payload of /gc/run: one collection of one store, what br_gc_result says, and why it
 * ended early if it failed. */
struct br_event_gc_run {
	const char *daemon;
	int64_t removed; /* blobs or snapshots */
	int64_t bytes;
	int64_t leases;  /* expired leases dropped */
	int64_t ingests; /* contentd: expired ingests discarded */
	int64_t orphans; /* files or directories without a record */
	int64_t duration_ms;
	const char *error; /* absent unless the collection failed */
};
extern const struct br_schema br_event_gc_run_schema;

#endif
