/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Schemas of snapshots.* messages.
 */
#include "common/proto/snapshots.h"

#define S(st, f, t, max, fl) BR_FIELD(struct st, f, t, max, fl)

static const struct br_field prepare_fields[] = {
        S(br_snap_prepare_req, snapshotter, BR_F_STR, 64, 0),
        S(br_snap_prepare_req, key, BR_F_STR, BR_KEY_MAX, BR_F_REQUIRED | BR_F_NONEMPTY),
        S(br_snap_prepare_req, parent, BR_F_STR, BR_KEY_MAX, 0),
        S(br_snap_prepare_req, labels, BR_F_STRMAP, BR_LABELS_MAX, 0),
};
const struct br_schema br_snap_prepare_req_schema =
        BR_SCHEMA(struct br_snap_prepare_req, prepare_fields);

static const struct br_field mounts_fields[] = {
        BR_FIELD_SUB(struct br_snap_mounts_resp, mounts, BR_F_OBJLIST, 16, 0, &br_mount_schema),
};
const struct br_schema br_snap_mounts_resp_schema =
        BR_SCHEMA(struct br_snap_mounts_resp, mounts_fields);

static const struct br_field key_fields[] = {
        S(br_snap_key_req, snapshotter, BR_F_STR, 64, 0),
        S(br_snap_key_req, key, BR_F_STR, BR_KEY_MAX, BR_F_REQUIRED | BR_F_NONEMPTY),
};
const struct br_schema br_snap_key_req_schema = BR_SCHEMA(struct br_snap_key_req, key_fields);

static const struct br_field commit_fields[] = {
        S(br_snap_commit_req, snapshotter, BR_F_STR, 64, 0),
        S(br_snap_commit_req, name, BR_F_STR, BR_KEY_MAX, BR_F_REQUIRED | BR_F_NONEMPTY),
        S(br_snap_commit_req, key, BR_F_STR, BR_KEY_MAX, BR_F_REQUIRED | BR_F_NONEMPTY),
        S(br_snap_commit_req, parent, BR_F_STR, BR_KEY_MAX, 0),
        S(br_snap_commit_req, labels, BR_F_STRMAP, BR_LABELS_MAX, 0),
};
const struct br_schema br_snap_commit_req_schema =
        BR_SCHEMA(struct br_snap_commit_req, commit_fields);

static const struct br_field info_fields[] = {
        S(br_snapshot_info, name, BR_F_STR, BR_KEY_MAX, 0),
        S(br_snapshot_info, parent, BR_F_STR, BR_KEY_MAX, 0),
        S(br_snapshot_info, kind, BR_F_STR, 16, 0),
        S(br_snapshot_info, created_at, BR_F_I64, 0, 0),
        S(br_snapshot_info, updated_at, BR_F_I64, 0, 0),
        S(br_snapshot_info, labels, BR_F_STRMAP, BR_LABELS_MAX, 0),
};
const struct br_schema br_snapshot_info_schema = BR_SCHEMA(struct br_snapshot_info, info_fields);

static const struct br_field list_req_fields[] = {
        S(br_snap_list_req, snapshotter, BR_F_STR, 64, 0),
        BR_PAGE_FIELDS(struct br_snap_list_req),
};
const struct br_schema br_snap_list_req_schema =
        BR_SCHEMA(struct br_snap_list_req, list_req_fields);

static const struct br_field list_resp_fields[] = {
        BR_FIELD_SUB(struct br_snap_list_resp, items, BR_F_OBJLIST, BR_PAGE_MAX, 0,
                     &br_snapshot_info_schema),
        S(br_snap_list_resp, next_page_token, BR_F_STR, BR_PAGE_TOKEN_MAX, 0),
};
const struct br_schema br_snap_list_resp_schema =
        BR_SCHEMA(struct br_snap_list_resp, list_resp_fields);

static const struct br_field usage_req_fields[] = {
        S(br_snap_usage_req, snapshotter, BR_F_STR, 64, 0),
        S(br_snap_usage_req, key, BR_F_STR, BR_KEY_MAX, 0),
};
const struct br_schema br_snap_usage_req_schema =
        BR_SCHEMA(struct br_snap_usage_req, usage_req_fields);

static const struct br_field ns_usage_fields[] = {
        S(br_snap_ns_usage, ns, BR_F_STR, BR_NS_MAX, 0),
        S(br_snap_ns_usage, snapshots, BR_F_I64, 0, 0),
        S(br_snap_ns_usage, size, BR_F_I64, 0, 0),
};
const struct br_schema br_snap_ns_usage_schema =
        BR_SCHEMA(struct br_snap_ns_usage, ns_usage_fields);

static const struct br_field usage_resp_fields[] = {
        S(br_snap_usage_resp, size, BR_F_I64, 0, 0),
        S(br_snap_usage_resp, inodes, BR_F_I64, 0, 0),
        S(br_snap_usage_resp, snapshots, BR_F_I64, 0, 0),
        S(br_snap_usage_resp, reclaimable_size, BR_F_I64, 0, 0),
        BR_FIELD_SUB(struct br_snap_usage_resp, namespaces, BR_F_OBJLIST,
                     BR_SNAP_USAGE_NAMESPACES_MAX, 0, &br_snap_ns_usage_schema),
};
const struct br_schema br_snap_usage_resp_schema =
        BR_SCHEMA(struct br_snap_usage_resp, usage_resp_fields);

static const struct br_field event_prepare_fields[] = {
        S(br_event_snapshot_prepare, key, BR_F_STR, BR_KEY_MAX, BR_F_REQUIRED | BR_F_NONEMPTY),
        S(br_event_snapshot_prepare, parent, BR_F_STR, BR_KEY_MAX, 0),
        S(br_event_snapshot_prepare, snapshotter, BR_F_STR, 64, 0),
        S(br_event_snapshot_prepare, kind, BR_F_STR, 16, 0),
};
const struct br_schema br_event_snapshot_prepare_schema =
        BR_SCHEMA(struct br_event_snapshot_prepare, event_prepare_fields);

static const struct br_field event_commit_fields[] = {
        S(br_event_snapshot_commit, key, BR_F_STR, BR_KEY_MAX, BR_F_REQUIRED | BR_F_NONEMPTY),
        S(br_event_snapshot_commit, active, BR_F_STR, BR_KEY_MAX, 0),
        S(br_event_snapshot_commit, parent, BR_F_STR, BR_KEY_MAX, 0),
        S(br_event_snapshot_commit, snapshotter, BR_F_STR, 64, 0),
};
const struct br_schema br_event_snapshot_commit_schema =
        BR_SCHEMA(struct br_event_snapshot_commit, event_commit_fields);

static const struct br_field event_remove_fields[] = {
        S(br_event_snapshot_remove, key, BR_F_STR, BR_KEY_MAX, BR_F_REQUIRED | BR_F_NONEMPTY),
        S(br_event_snapshot_remove, snapshotter, BR_F_STR, 64, 0),
};
const struct br_schema br_event_snapshot_remove_schema =
        BR_SCHEMA(struct br_event_snapshot_remove, event_remove_fields);
