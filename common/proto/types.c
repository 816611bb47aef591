/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Schemas of the shared wire types.
 */
#include "common/proto/types.h"

static const struct br_field mount_fields[] = {
        BR_FIELD(struct br_mount, type, BR_F_STR, 32, BR_F_REQUIRED | BR_F_NONEMPTY),
        BR_FIELD(struct br_mount, source, BR_F_STR, BR_PATH_MAX, BR_F_REQUIRED | BR_F_NONEMPTY),
        BR_FIELD(struct br_mount, options, BR_F_STRLIST, 64, 0),
};
const struct br_schema br_mount_schema = BR_SCHEMA(struct br_mount, mount_fields);

static const struct br_field descriptor_fields[] = {
        BR_FIELD(struct br_descriptor, media_type, BR_F_STR, 256, 0),
        BR_FIELD(struct br_descriptor, digest, BR_F_STR, 0, BR_F_REQUIRED | BR_F_DIGEST),
        BR_FIELD(struct br_descriptor, size, BR_F_I64, 0, 0),
};
const struct br_schema br_descriptor_schema = BR_SCHEMA(struct br_descriptor, descriptor_fields);

const struct br_schema br_empty_schema = {"struct br_empty", sizeof(struct br_empty), NULL, 0};

static const struct br_field health_fields[] = {
        BR_FIELD(struct br_health, name, BR_F_STR, 64, 0),
        BR_FIELD(struct br_health, version, BR_F_STR, 64, 0),
        BR_FIELD(struct br_health, pid, BR_F_U32, 0, 0),
        BR_FIELD(struct br_health, uptime_ms, BR_F_I64, 0, 0),
        BR_FIELD(struct br_health, status, BR_F_STR, 64, 0),
};
const struct br_schema br_health_schema = BR_SCHEMA(struct br_health, health_fields);

static const struct br_field ns_usage_fields[] = {
        BR_FIELD(struct br_ns_usage, items, BR_F_STRLIST, 64, 0),
};
const struct br_schema br_ns_usage_schema = BR_SCHEMA(struct br_ns_usage, ns_usage_fields);

static const struct br_field job_ref_fields[] = {
        BR_FIELD(struct br_job_ref, id, BR_F_STR, 64, BR_F_REQUIRED | BR_F_ID),
};
const struct br_schema br_job_ref_schema = BR_SCHEMA(struct br_job_ref, job_ref_fields);

static const struct br_field job_wait_fields[] = {
        BR_FIELD(struct br_job_wait_req, id, BR_F_STR, 64, BR_F_REQUIRED | BR_F_ID),
        BR_FIELD(struct br_job_wait_req, timeout_ms, BR_F_I64, 0, 0),
        BR_FIELD(struct br_job_wait_req, since_version, BR_F_U64, 0, 0),
        BR_FIELD(struct br_job_wait_req, interval_ms, BR_F_I64, 0, 0),
};
const struct br_schema br_job_wait_req_schema = BR_SCHEMA(struct br_job_wait_req, job_wait_fields);

static const struct br_field job_item_fields[] = {
        BR_FIELD(struct br_job_item, digest, BR_F_STR, 128, 0),
        BR_FIELD(struct br_job_item, size, BR_F_I64, 0, 0),
        BR_FIELD(struct br_job_item, done, BR_F_I64, 0, 0),
        BR_FIELD(struct br_job_item, state, BR_F_STR, 32, 0),
};
const struct br_schema br_job_item_schema = BR_SCHEMA(struct br_job_item, job_item_fields);

static const struct br_field job_fields[] = {
        BR_FIELD(struct br_job, id, BR_F_STR, 64, 0),
        BR_FIELD(struct br_job, kind, BR_F_STR, 32, 0),
        BR_FIELD(struct br_job, state, BR_F_STR, 32, 0),
        BR_FIELD(struct br_job, message, BR_F_STR, 1024, 0),
        BR_FIELD(struct br_job, done_bytes, BR_F_I64, 0, 0),
        BR_FIELD(struct br_job, total_bytes, BR_F_I64, 0, 0),
        BR_FIELD(struct br_job, error_code, BR_F_STR, 32, 0),
        BR_FIELD(struct br_job, error_msg, BR_F_STR, 1024, 0),
        BR_FIELD(struct br_job, result, BR_F_STR, BR_NAME_MAX, 0),
        BR_FIELD(struct br_job, started_at, BR_F_I64, 0, 0),
        BR_FIELD(struct br_job, ended_at, BR_F_I64, 0, 0),
        BR_FIELD_SUB(struct br_job, layers, BR_F_OBJLIST, BR_JOB_ITEMS_MAX, 0, &br_job_item_schema),
        BR_FIELD(struct br_job, progress_version, BR_F_U64, 0, 0),
        BR_FIELD(struct br_job, updated_at, BR_F_I64, 0, 0),
};
const struct br_schema br_job_schema = BR_SCHEMA(struct br_job, job_fields);

uint32_t
br_page_size(const struct br_page_req *req)
{
	if (req == NULL || req->size == 0)
		return BR_PAGE_DEFAULT;
	return req->size > BR_PAGE_MAX ? BR_PAGE_MAX : req->size;
}
