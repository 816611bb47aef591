/* SPDX-License-Identifier: Apache-2.0 */
/*
 * snapshots.* (berth-snapshotd): layered filesystems, as containerd's snapshotter API.
 *
 *   snapshots.prepare {key, parent, labels}   -> {mounts}   new active (rw) snapshot
 *   snapshots.view    {key, parent, labels}   -> {mounts}   new view (ro) snapshot
 *   snapshots.mounts  {key}                   -> {mounts}
 *   snapshots.commit  {name, key, parent, labels} -> {}     active -> committed `name`
 *   snapshots.remove  {key}                   -> {}         FAILED_PRECONDITION with children
 *   snapshots.stat    {key}                   -> br_snapshot_info
 *   snapshots.list    {page_size, page_token} -> {items: [br_snapshot_info], next_page_token}
 *   snapshots.usage   {key}                   -> br_snap_usage_resp
 *   snapshots.gc      {}                      -> br_gc_result (common/proto/leases.h)
 *   snapshots.leases.*                        leases over snapshots (common/proto/leases.h)
 *
 * Keys and names are strings of 1 to 255 bytes without '/' or NUL; digests such as chain IDs
 * are typical names. `snapshotter` selects the backend, "" meaning the configured default
 * ("overlayfs"; "native" copies).
 *
 * A request whose envelope names a lease ("lease": id) holds what it creates in that lease,
 * in the same transaction as the record: prepare and view the new key, commit the committed
 * name; an unknown lease is NOT_FOUND and nothing is created. Snapshots that no lease holds
 * (directly, or as an ancestor of a held one) are removed by the next collection.
 *
 * Mount forms returned by the overlayfs backend:
 *   active, no parent:   {type:"bind", source:<dir>/fs, options:["rbind","rw"]}
 *   active with parents: {type:"overlay", source:"overlay",
 *                         options:["lowerdir=<p1>/fs:<p2>/fs", "upperdir=<dir>/fs",
 *                                  "workdir=<dir>/work"]}
 *   view, one parent:    {type:"bind", source:<p>/fs, options:["rbind","ro"]}
 *   view, more parents:  {type:"overlay", source:"overlay", options:["lowerdir=..."]}
 * A caller that applies a layer writes straight into the active snapshot's own directory:
 * the bind source or the upperdir, which holds only this snapshot's changes.
 *
 * Events (docs/events.md), in the snapshot's namespace, each in the transaction that writes
 * or deletes its row: /snapshots/prepare for a new active snapshot or view (prepare, view),
 * /snapshots/commit when an active snapshot becomes a committed one, /snapshots/remove when
 * a row goes (snapshots.remove, a collection, a create whose directory could not be made,
 * the start-up repair of an active snapshot or view whose directory was lost).
 */
#ifndef BR_COMMON_PROTO_SNAPSHOTS_H
#define BR_COMMON_PROTO_SNAPSHOTS_H

#include "common/proto/types.h"

/*
 * Keys that start with this prefix are made only by Berth's own daemons: imaged names its
 * layers "berth.layer.<chain ID>" and its scratch snapshots "berth.extract.<...>", so a
 * snapshot under such a key can be trusted to hold what its name says. A request that came
 * through the front door may not create one (prepare or view key, commit name):
 * PERMISSION_DENIED. Removing one through the front door is allowed (an operator freeing
 * space); daemons calling snapshotd directly on its root-only socket are not restricted.
 */
#define BR_SNAP_RESERVED_PREFIX "berth."

/* The payload of /snapshots/prepare. */
struct br_event_snapshot_prepare {
	const char *key;
	const char *parent; /* absent without one */
	const char *snapshotter;
	const char *kind; /* "active" (snapshots.prepare) or "view" (snapshots.view) */
};
extern const struct br_schema br_event_snapshot_prepare_schema;

/* The payload of /snapshots/commit: `key` is the committed snapshot's key (the commit's
 * name), `active` the key it had while it was active, `parent` its parent's key (the one it
 * was prepared on, or the one the commit stacked it on; absent without one). */
struct br_event_snapshot_commit {
	const char *key;
	const char *active;
	const char *parent;
	const char *snapshotter;
};
extern const struct br_schema br_event_snapshot_commit_schema;

/* The payload of /snapshots/remove. */
struct br_event_snapshot_remove {
	const char *key;
	const char *snapshotter;
};
extern const struct br_schema br_event_snapshot_remove_schema;

/* Namespaces listed in a snapshots.usage total; the totals count every namespace. */
#define BR_SNAP_USAGE_NAMESPACES_MAX 1024

struct br_snap_prepare_req {
	const char *snapshotter;
	const char *key;
	const char *parent; /* NULL or "": no parent */
	struct br_strmap labels;
};
extern const struct br_schema br_snap_prepare_req_schema;

struct br_snap_mounts_resp {
	struct br_objlist mounts; /* struct br_mount */
};
extern const struct br_schema br_snap_mounts_resp_schema;

struct br_snap_key_req {
	const char *snapshotter;
	const char *key;
};
extern const struct br_schema br_snap_key_req_schema;

struct br_snap_commit_req {
	const char *snapshotter;
	const char *name;
	const char *key;
	/* A committed snapshot to stack the new one on; only for an active snapshot prepared
	 * without a parent, by a snapshotter whose snapshots hold their own changes alone
	 * (overlayfs): a layer unpacked on its own, in parallel with its parents, then put in
	 * its place in the chain. NULL: the snapshot keeps the parent it was prepared on. */
	const char *parent;
	struct br_strmap labels;
};
extern const struct br_schema br_snap_commit_req_schema;

struct br_snapshot_info {
	const char *name; /* key for active/view, name for committed */
	const char *parent;
	const char *kind; /* "active" | "view" | "committed" */
	int64_t created_at;
	int64_t updated_at;
	struct br_strmap labels;
};
extern const struct br_schema br_snapshot_info_schema;

/* snapshots.list: the request namespace's snapshots of one snapshotter, paged (see
 * BR_PAGE_FIELDS), ordered by name; the page token is the last name of the previous page. */
struct br_snap_list_req {
	const char *snapshotter;
	struct br_page_req page;
};
extern const struct br_schema br_snap_list_req_schema;

struct br_snap_list_resp {
	struct br_objlist items;     /* struct br_snapshot_info */
	const char *next_page_token; /* absent on the last page */
};
extern const struct br_schema br_snap_list_resp_schema;

/*
 * snapshots.usage. With a key: the disk usage of that snapshot's own directory (overlayfs:
 * its own changes, not its parents'; native: its whole tree), in `size` and `inodes`; the
 * other fields are 0. Without a key: totals over every namespace and snapshotter (the
 * request's namespace and snapshotter are ignored): `snapshots`, `size`, `inodes`,
 * `reclaimable_size` (what a collection would remove now: snapshots that no unexpired lease
 * holds, directly or as an ancestor) and per namespace `namespaces`, ordered by name (at
 * most BR_SNAP_USAGE_NAMESPACES_MAX listed). Sizes are bytes allocated on disk (st_blocks);
 * hard links inside one snapshot are counted once; a committed snapshot is measured once and
 * its figures kept, active snapshots and views are measured on every call.
 */
struct br_snap_usage_req {
	const char *snapshotter; /* with a key: its snapshotter ("": the default) */
	const char *key;         /* NULL or "": totals */
};
extern const struct br_schema br_snap_usage_req_schema;

struct br_snap_ns_usage {
	const char *ns;
	int64_t snapshots;
	int64_t size;
};
extern const struct br_schema br_snap_ns_usage_schema;

struct br_snap_usage_resp {
	int64_t size;   /* bytes */
	int64_t inodes; /* files, directories, links, ... */
	int64_t snapshots;
	int64_t reclaimable_size;
	struct br_objlist namespaces; /* struct br_snap_ns_usage */
};
extern const struct br_schema br_snap_usage_resp_schema;

#endif
