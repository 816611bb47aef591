/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Schemas of content.* messages.
 */
#include "common/proto/content.h"

#define S(st, f, t, max, fl) BR_FIELD(struct st, f, t, max, fl)

static const struct br_field digest_req_fields[] = {
        S(br_content_digest_req, digest, BR_F_STR, 0, BR_F_REQUIRED | BR_F_DIGEST),
};
const struct br_schema br_content_digest_req_schema =
        BR_SCHEMA(struct br_content_digest_req, digest_req_fields);

static const struct br_field info_fields[] = {
        S(br_content_info, digest, BR_F_STR, 0, BR_F_REQUIRED | BR_F_DIGEST),
        S(br_content_info, size, BR_F_I64, 0, 0),
        S(br_content_info, created_at, BR_F_I64, 0, 0),
        S(br_content_info, updated_at, BR_F_I64, 0, 0),
        S(br_content_info, labels, BR_F_STRMAP, BR_LABELS_MAX, 0),
};
const struct br_schema br_content_info_schema = BR_SCHEMA(struct br_content_info, info_fields);

static const struct br_field list_req_fields[] = {
        BR_PAGE_FIELDS(struct br_content_list_req),
};
const struct br_schema br_content_list_req_schema =
        BR_SCHEMA(struct br_content_list_req, list_req_fields);

static const struct br_field list_resp_fields[] = {
        BR_FIELD_SUB(struct br_content_list_resp, items, BR_F_OBJLIST, BR_PAGE_MAX, 0,
                     &br_content_info_schema),
        S(br_content_list_resp, next_page_token, BR_F_STR, BR_PAGE_TOKEN_MAX, 0),
};
const struct br_schema br_content_list_resp_schema =
        BR_SCHEMA(struct br_content_list_resp, list_resp_fields);

static const struct br_field write_req_fields[] = {
        S(br_content_write_req, ref, BR_F_STR, BR_KEY_MAX, BR_F_REQUIRED | BR_F_ID),
        S(br_content_write_req, offset, BR_F_I64, 0, 0),
        S(br_content_write_req, data, BR_F_BIN, BR_CHUNK_MAX, 0),
        S(br_content_write_req, total, BR_F_I64, 0, 0),
        S(br_content_write_req, expected, BR_F_STR, 0, BR_F_DIGEST),
        S(br_content_write_req, commit, BR_F_BOOL, 0, 0),
        S(br_content_write_req, labels, BR_F_STRMAP, BR_LABELS_MAX, 0),
};
const struct br_schema br_content_write_req_schema =
        BR_SCHEMA(struct br_content_write_req, write_req_fields);

static const struct br_field write_resp_fields[] = {
        S(br_content_write_resp, ref, BR_F_STR, BR_KEY_MAX, 0),
        S(br_content_write_resp, offset, BR_F_I64, 0, 0),
        S(br_content_write_resp, digest, BR_F_STR, 0, BR_F_DIGEST),
};
const struct br_schema br_content_write_resp_schema =
        BR_SCHEMA(struct br_content_write_resp, write_resp_fields);

static const struct br_field ref_req_fields[] = {
        S(br_content_ref_req, ref, BR_F_STR, BR_KEY_MAX, BR_F_REQUIRED | BR_F_ID),
};
const struct br_schema br_content_ref_req_schema =
        BR_SCHEMA(struct br_content_ref_req, ref_req_fields);

static const struct br_field status_fields[] = {
        S(br_content_status, ref, BR_F_STR, BR_KEY_MAX, 0),
        S(br_content_status, offset, BR_F_I64, 0, 0),
        S(br_content_status, total, BR_F_I64, 0, 0),
        S(br_content_status, expected, BR_F_STR, 0, BR_F_DIGEST),
        S(br_content_status, started_at, BR_F_I64, 0, 0),
        S(br_content_status, updated_at, BR_F_I64, 0, 0),
};
const struct br_schema br_content_status_schema =
        BR_SCHEMA(struct br_content_status, status_fields);

static const struct br_field read_req_fields[] = {
        S(br_content_read_req, digest, BR_F_STR, 0, BR_F_REQUIRED | BR_F_DIGEST),
        S(br_content_read_req, offset, BR_F_I64, 0, 0),
        S(br_content_read_req, size, BR_F_I64, 0, 0),
};
const struct br_schema br_content_read_req_schema =
        BR_SCHEMA(struct br_content_read_req, read_req_fields);

static const struct br_field read_resp_fields[] = {
        S(br_content_read_resp, data, BR_F_BIN, BR_CHUNK_MAX, 0),
        S(br_content_read_resp, offset, BR_F_I64, 0, 0),
        S(br_content_read_resp, total, BR_F_I64, 0, 0),
};
const struct br_schema br_content_read_resp_schema =
        BR_SCHEMA(struct br_content_read_resp, read_resp_fields);

static const struct br_field ns_usage_fields[] = {
        S(br_content_ns_usage, ns, BR_F_STR, BR_NS_MAX, BR_F_REQUIRED | BR_F_NONEMPTY),
        S(br_content_ns_usage, leases, BR_F_I64, 0, 0),
        S(br_content_ns_usage, blobs, BR_F_I64, 0, 0),
        S(br_content_ns_usage, bytes, BR_F_I64, 0, 0),
};
const struct br_schema br_content_ns_usage_schema =
        BR_SCHEMA(struct br_content_ns_usage, ns_usage_fields);

static const struct br_field usage_fields[] = {
        S(br_content_usage, blobs, BR_F_I64, 0, 0),
        S(br_content_usage, bytes, BR_F_I64, 0, 0),
        S(br_content_usage, ingests, BR_F_I64, 0, 0),
        S(br_content_usage, ingest_bytes, BR_F_I64, 0, 0),
        S(br_content_usage, reclaimable_bytes, BR_F_I64, 0, 0),
        BR_FIELD_SUB(struct br_content_usage, namespaces, BR_F_OBJLIST, BR_CONTENT_USAGE_NS_MAX, 0,
                     &br_content_ns_usage_schema),
};
const struct br_schema br_content_usage_schema = BR_SCHEMA(struct br_content_usage, usage_fields);

static const struct br_field event_delete_fields[] = {
        S(br_event_content_delete, digest, BR_F_STR, 0, BR_F_REQUIRED | BR_F_DIGEST),
};
const struct br_schema br_event_content_delete_schema =
        BR_SCHEMA(struct br_event_content_delete, event_delete_fields);
