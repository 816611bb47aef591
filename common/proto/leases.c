/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Schemas of the stores' P.leases.* and P.gc messages.
 */
#include "common/proto/leases.h"

#define S(st, f, t, max, fl) BR_FIELD(struct st, f, t, max, fl)

static const struct br_field resource_fields[] = {
        S(br_lease_resource, type, BR_F_STR, BR_LEASE_TYPE_MAX, BR_F_REQUIRED | BR_F_NONEMPTY),
        S(br_lease_resource, key, BR_F_STR, BR_KEY_MAX, BR_F_REQUIRED | BR_F_NONEMPTY),
};
const struct br_schema br_lease_resource_schema =
        BR_SCHEMA(struct br_lease_resource, resource_fields);

static const struct br_field lease_fields[] = {
        S(br_lease, id, BR_F_STR, BR_LEASE_ID_MAX, BR_F_REQUIRED | BR_F_ID),
        S(br_lease, ns, BR_F_STR, BR_NS_MAX, 0),
        S(br_lease, created_at, BR_F_I64, 0, 0),
        S(br_lease, expire_at, BR_F_I64, 0, 0),
        S(br_lease, labels, BR_F_STRMAP, BR_LABELS_MAX, 0),
        S(br_lease, resources, BR_F_I64, 0, 0),
};
const struct br_schema br_lease_schema = BR_SCHEMA(struct br_lease, lease_fields);

static const struct br_field create_fields[] = {
        S(br_lease_create_req, id, BR_F_STR, BR_LEASE_ID_MAX, BR_F_REQUIRED | BR_F_ID),
        S(br_lease_create_req, ttl_ms, BR_F_I64, 0, 0),
        S(br_lease_create_req, labels, BR_F_STRMAP, BR_LABELS_MAX, 0),
};
const struct br_schema br_lease_create_req_schema =
        BR_SCHEMA(struct br_lease_create_req, create_fields);

static const struct br_field put_fields[] = {
        S(br_lease_put_req, id, BR_F_STR, BR_LEASE_ID_MAX, BR_F_REQUIRED | BR_F_ID),
        S(br_lease_put_req, ttl_ms, BR_F_I64, 0, 0),
        S(br_lease_put_req, labels, BR_F_STRMAP, BR_LABELS_MAX, 0),
        BR_FIELD_SUB(struct br_lease_put_req, resources, BR_F_OBJLIST, BR_LEASE_RESOURCES_MAX, 0,
                     &br_lease_resource_schema),
        S(br_lease_put_req, replace, BR_F_BOOL, 0, 0),
        S(br_lease_put_req, must_exist, BR_F_BOOL, 0, 0),
};
const struct br_schema br_lease_put_req_schema = BR_SCHEMA(struct br_lease_put_req, put_fields);

static const struct br_field id_fields[] = {
        S(br_lease_id_req, id, BR_F_STR, BR_LEASE_ID_MAX, BR_F_REQUIRED | BR_F_ID),
};
const struct br_schema br_lease_id_req_schema = BR_SCHEMA(struct br_lease_id_req, id_fields);

static const struct br_field resources_req_fields[] = {
        S(br_lease_resources_req, id, BR_F_STR, BR_LEASE_ID_MAX, BR_F_REQUIRED | BR_F_ID),
        BR_FIELD_SUB(struct br_lease_resources_req, resources, BR_F_OBJLIST, BR_LEASE_RESOURCES_MAX,
                     0, &br_lease_resource_schema),
};
const struct br_schema br_lease_resources_req_schema =
        BR_SCHEMA(struct br_lease_resources_req, resources_req_fields);

static const struct br_field missing_fields[] = {
        BR_FIELD_SUB(struct br_lease_missing_resp, missing, BR_F_OBJLIST, BR_LEASE_RESOURCES_MAX, 0,
                     &br_lease_resource_schema),
};
const struct br_schema br_lease_missing_resp_schema =
        BR_SCHEMA(struct br_lease_missing_resp, missing_fields);

static const struct br_field list_req_fields[] = {
        BR_PAGE_FIELDS(struct br_lease_list_req),
        S(br_lease_list_req, all_namespaces, BR_F_BOOL, 0, 0),
        S(br_lease_list_req, labels, BR_F_STRMAP, 16, 0),
};
const struct br_schema br_lease_list_req_schema =
        BR_SCHEMA(struct br_lease_list_req, list_req_fields);

static const struct br_field list_resp_fields[] = {
        BR_FIELD_SUB(struct br_lease_list_resp, items, BR_F_OBJLIST, BR_PAGE_MAX, 0,
                     &br_lease_schema),
        S(br_lease_list_resp, next_page_token, BR_F_STR, BR_PAGE_TOKEN_MAX, 0),
};
const struct br_schema br_lease_list_resp_schema =
        BR_SCHEMA(struct br_lease_list_resp, list_resp_fields);

static const struct br_field page_req_fields[] = {
        S(br_lease_page_req, id, BR_F_STR, BR_LEASE_ID_MAX, BR_F_REQUIRED | BR_F_ID),
        BR_PAGE_FIELDS(struct br_lease_page_req),
};
const struct br_schema br_lease_page_req_schema =
        BR_SCHEMA(struct br_lease_page_req, page_req_fields);

static const struct br_field resources_resp_fields[] = {
        BR_FIELD_SUB(struct br_lease_resources_resp, items, BR_F_OBJLIST, BR_PAGE_MAX, 0,
                     &br_lease_resource_schema),
        S(br_lease_resources_resp, next_page_token, BR_F_STR, BR_PAGE_TOKEN_MAX, 0),
};
const struct br_schema br_lease_resources_resp_schema =
        BR_SCHEMA(struct br_lease_resources_resp, resources_resp_fields);

static const struct br_field gc_fields[] = {
        S(br_gc_result, leases, BR_F_I64, 0, 0),  S(br_gc_result, removed, BR_F_I64, 0, 0),
        S(br_gc_result, ingests, BR_F_I64, 0, 0), S(br_gc_result, orphans, BR_F_I64, 0, 0),
        S(br_gc_result, bytes, BR_F_I64, 0, 0),   S(br_gc_result, duration_ms, BR_F_I64, 0, 0),
};
const struct br_schema br_gc_result_schema = BR_SCHEMA(struct br_gc_result, gc_fields);

static const struct br_field event_lease_create_fields[] = {
        S(br_event_lease_create, id, BR_F_STR, BR_LEASE_ID_MAX, BR_F_REQUIRED | BR_F_ID),
        S(br_event_lease_create, daemon, BR_F_STR, 32, 0),
        S(br_event_lease_create, expire_at, BR_F_I64, 0, 0),
        S(br_event_lease_create, labels, BR_F_STRMAP, BR_LABELS_MAX, 0),
};
const struct br_schema br_event_lease_create_schema =
        BR_SCHEMA(struct br_event_lease_create, event_lease_create_fields);

static const struct br_field event_lease_delete_fields[] = {
        S(br_event_lease_delete, id, BR_F_STR, BR_LEASE_ID_MAX, BR_F_REQUIRED | BR_F_ID),
        S(br_event_lease_delete, daemon, BR_F_STR, 32, 0),
        S(br_event_lease_delete, expired, BR_F_BOOL, 0, 0),
};
const struct br_schema br_event_lease_delete_schema =
        BR_SCHEMA(struct br_event_lease_delete, event_lease_delete_fields);

static const struct br_field event_gc_run_fields[] = {
        S(br_event_gc_run, daemon, BR_F_STR, 32, BR_F_REQUIRED | BR_F_NONEMPTY),
        S(br_event_gc_run, removed, BR_F_I64, 0, 0),
        S(br_event_gc_run, bytes, BR_F_I64, 0, 0),
        S(br_event_gc_run, leases, BR_F_I64, 0, 0),
        S(br_event_gc_run, ingests, BR_F_I64, 0, 0),
        S(br_event_gc_run, orphans, BR_F_I64, 0, 0),
        S(br_event_gc_run, duration_ms, BR_F_I64, 0, 0),
        S(br_event_gc_run, error, BR_F_STR, BR_ERR_MSG_MAX, 0),
};
const struct br_schema br_event_gc_run_schema =
        BR_SCHEMA(struct br_event_gc_run, event_gc_run_fields);
