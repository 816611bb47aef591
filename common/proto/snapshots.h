/* SPDX-License-Identifier: Apache-2.0 */
/*
 * snapshots.* (berth-snapshotd): layered filesystems, as containerd's snapshotter API.
 *
 *   snapshots.prepare {key, parent, labels}   -> {mounts}   new active (rw) snapshot
 *   snapshots.view    {key, parent, labels}   -> {mounts}   new view (ro) snapshot
 *   snapshots.mounts  {key}                   -> {mounts}
 *   snapshots.commit  {name, key, labels}     -> {}         active -> committed `name`
 *   snapshots.remove  {key}                   -> {}         FAILED_PRECONDITION with children
 *   snapshots.stat    {key}                   -> br_snapshot_info
 *   snapshots.list    {}                      -> {items: [br_snapshot_info]}
 *
 * Keys and names are strings of 1 to 255 bytes without '/' or NUL; digests such as chain IDs
 * are typical names. `snapshotter` selects the backend,
 * "" meaning the configured default ("overlayfs"; "native" copies).
 *
 * Mount forms returned by the overlayfs backend:
 *   active, no parent:  {type:"bind", source:<dir>/fs, options:["rbind","rw"]}
 *   active with parents:{type:"overlay", source:"overlay",
 *                        options:["lowerdir=<p1>/fs:<p2>/fs", "upperdir=<dir>/fs",
 * "workdir=<dir>/work"]} view, one parent:   {type:"bind", source:<p>/fs, options:["rbind","ro"]}
 *   view, more parents: {type:"overlay", source:"overlay", options:["lowerdir=..."]}
 * A caller that applies a layer writes straight into the active snapshot's own directory:
 * the bind source or the upperdir, which holds only this snapshot's changes.
 */
#ifndef BR_COMMON_PROTO_SNAPSHOTS_H
#define BR_COMMON_PROTO_SNAPSHOTS_H

#include "common/proto/types.h"

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

struct br_snap_list_req {
	const char *snapshotter;
};
extern const struct br_schema br_snap_list_req_schema;

struct br_snap_list_resp {
	struct br_objlist items; /* struct br_snapshot_info */
};
extern const struct br_schema br_snap_list_resp_schema;

#endif
