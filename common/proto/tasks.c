/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Schemas of containers.* and tasks.* messages.
 */
#include "common/proto/tasks.h"

#define S(st, f, t, max, fl) BR_FIELD(struct st, f, t, max, fl)

static const struct br_field create_fields[] = {
        S(br_container_create_req, id, BR_F_STR, BR_CONTAINER_ID_MAX, 0),
        S(br_container_create_req, image, BR_F_STR, BR_NAME_MAX, BR_F_REQUIRED | BR_F_NONEMPTY),
        S(br_container_create_req, args, BR_F_STRLIST, 1024, 0),
        S(br_container_create_req, entrypoint, BR_F_STRLIST, 1024, 0),
        S(br_container_create_req, env, BR_F_STRLIST, 4096, 0),
        S(br_container_create_req, net, BR_F_STR, 64, 0),
        S(br_container_create_req, runtime, BR_F_STR, 64, 0),
        S(br_container_create_req, hostname, BR_F_STR, 253, 0),
        S(br_container_create_req, user, BR_F_STR, 256, 0),
        S(br_container_create_req, working_dir, BR_F_STR, BR_PATH_MAX, 0),
        S(br_container_create_req, labels, BR_F_STRMAP, BR_LABELS_MAX, 0),
        S(br_container_create_req, seccomp, BR_F_STR, BR_SECCOMP_PROFILE_MAX, 0),
        S(br_container_create_req, terminal, BR_F_BOOL, 0, 0),
        S(br_container_create_req, open_stdin, BR_F_BOOL, 0, 0),
        S(br_container_create_req, restart_policy, BR_F_STR, 32, 0),
        S(br_container_create_req, restart_max, BR_F_U32, 0, 0),
        S(br_container_create_req, auto_remove, BR_F_BOOL, 0, 0),
        S(br_container_create_req, request_id, BR_F_STR, BR_REQUEST_ID_MAX, 0),
};
const struct br_schema br_container_create_req_schema =
        BR_SCHEMA(struct br_container_create_req, create_fields);

static const struct br_field container_fields[] = {
        S(br_container, id, BR_F_STR, BR_CONTAINER_ID_MAX, 0),
        S(br_container, image, BR_F_STR, BR_NAME_MAX, 0),
        S(br_container, runtime, BR_F_STR, 64, 0),
        S(br_container, net, BR_F_STR, 64, 0),
        S(br_container, snapshot_key, BR_F_STR, BR_KEY_MAX, 0),
        S(br_container, status, BR_F_STR, 16, 0),
        S(br_container, pid, BR_F_U32, 0, 0),
        S(br_container, exit_status, BR_F_I64, 0, 0),
        S(br_container, created_at, BR_F_I64, 0, 0),
        S(br_container, command, BR_F_STRLIST, 1024, 0),
        S(br_container, labels, BR_F_STRMAP, BR_LABELS_MAX, 0),
        S(br_container, exit_reason, BR_F_STR, 64, 0),
        S(br_container, restart_policy, BR_F_STR, 32, 0),
        S(br_container, restart_max, BR_F_U32, 0, 0),
        S(br_container, restart_count, BR_F_U32, 0, 0),
        S(br_container, auto_remove, BR_F_BOOL, 0, 0),
};
const struct br_schema br_container_schema = BR_SCHEMA(struct br_container, container_fields);

static const struct br_field list_req_fields[] = {
        BR_PAGE_FIELDS(struct br_container_list_req),
};
const struct br_schema br_container_list_req_schema =
        BR_SCHEMA(struct br_container_list_req, list_req_fields);

static const struct br_field list_fields[] = {
        BR_FIELD(struct br_container_list_resp, next_page_token, BR_F_STR, BR_PAGE_TOKEN_MAX, 0),
        BR_FIELD_SUB(struct br_container_list_resp, items, BR_F_OBJLIST, BR_PAGE_MAX, 0,
                     &br_container_schema),
};
const struct br_schema br_container_list_resp_schema =
        BR_SCHEMA(struct br_container_list_resp, list_fields);

static const struct br_field id_fields[] = {
        S(br_container_id_req, id, BR_F_STR, BR_CONTAINER_ID_MAX, BR_F_REQUIRED | BR_F_ID),
        S(br_container_id_req, force, BR_F_BOOL, 0, 0),
        S(br_container_id_req, request_id, BR_F_STR, BR_REQUEST_ID_MAX, 0),
};
const struct br_schema br_container_id_req_schema =
        BR_SCHEMA(struct br_container_id_req, id_fields);

static const struct br_field task_fields[] = {
        S(br_task, id, BR_F_STR, BR_CONTAINER_ID_MAX, 0),
        S(br_task, status, BR_F_STR, 16, 0),
        S(br_task, pid, BR_F_U32, 0, 0),
        S(br_task, exit_status, BR_F_I64, 0, 0),
        S(br_task, exited_at, BR_F_I64, 0, 0),
        S(br_task, started_at, BR_F_I64, 0, 0),
        S(br_task, exit_reason, BR_F_STR, 64, 0),
        S(br_task, restart_count, BR_F_U32, 0, 0),
};
const struct br_schema br_task_schema = BR_SCHEMA(struct br_task, task_fields);

static const struct br_field kill_fields[] = {
        S(br_task_kill_req, id, BR_F_STR, BR_CONTAINER_ID_MAX, BR_F_REQUIRED | BR_F_ID),
        S(br_task_kill_req, signal, BR_F_U32, 0, 0),
        S(br_task_kill_req, all, BR_F_BOOL, 0, 0),
};
const struct br_schema br_task_kill_req_schema = BR_SCHEMA(struct br_task_kill_req, kill_fields);

static const struct br_field wait_fields[] = {
        S(br_task_wait_req, id, BR_F_STR, BR_CONTAINER_ID_MAX, BR_F_REQUIRED | BR_F_ID),
        S(br_task_wait_req, timeout_ms, BR_F_I64, 0, 0),
};
const struct br_schema br_task_wait_req_schema = BR_SCHEMA(struct br_task_wait_req, wait_fields);

static const struct br_field spec_resp_fields[] = {
        S(br_container_spec_resp, spec, BR_F_STR, BR_CONTAINER_SPEC_MAX, 0),
};
const struct br_schema br_container_spec_resp_schema =
        BR_SCHEMA(struct br_container_spec_resp, spec_resp_fields);

static const struct br_field stop_fields[] = {
        S(br_task_stop_req, id, BR_F_STR, BR_CONTAINER_ID_MAX, BR_F_REQUIRED | BR_F_ID),
        S(br_task_stop_req, timeout_ms, BR_F_I64, 0, 0),
};
const struct br_schema br_task_stop_req_schema = BR_SCHEMA(struct br_task_stop_req, stop_fields);

static const struct br_field logs_req_fields[] = {
        S(br_task_logs_req, id, BR_F_STR, BR_CONTAINER_ID_MAX, BR_F_REQUIRED | BR_F_ID),
        S(br_task_logs_req, stdout_offset, BR_F_I64, 0, 0),
        S(br_task_logs_req, stderr_offset, BR_F_I64, 0, 0),
        S(br_task_logs_req, wait_ms, BR_F_I64, 0, 0),
        S(br_task_logs_req, cri, BR_F_BOOL, 0, 0),
        S(br_task_logs_req, file_id, BR_F_I64, 0, 0),
        S(br_task_logs_req, file_offset, BR_F_I64, 0, 0),
        S(br_task_logs_req, tail_set, BR_F_BOOL, 0, 0),
        S(br_task_logs_req, tail, BR_F_I64, 0, 0),
        S(br_task_logs_req, since_ns, BR_F_I64, 0, 0),
};
const struct br_schema br_task_logs_req_schema =
        BR_SCHEMA(struct br_task_logs_req, logs_req_fields);

static const struct br_field logs_resp_fields[] = {
        S(br_task_logs_resp, stdout_data, BR_F_BIN, BR_CHUNK_MAX, 0),
        S(br_task_logs_resp, stderr_data, BR_F_BIN, BR_CHUNK_MAX, 0),
        S(br_task_logs_resp, stdout_offset, BR_F_I64, 0, 0),
        S(br_task_logs_resp, stderr_offset, BR_F_I64, 0, 0),
        S(br_task_logs_resp, exited, BR_F_BOOL, 0, 0),
        S(br_task_logs_resp, exit_status, BR_F_I64, 0, 0),
        S(br_task_logs_resp, data, BR_F_BIN, BR_CHUNK_MAX, 0),
        S(br_task_logs_resp, file_id, BR_F_I64, 0, 0),
        S(br_task_logs_resp, file_offset, BR_F_I64, 0, 0),
};
const struct br_schema br_task_logs_resp_schema =
        BR_SCHEMA(struct br_task_logs_resp, logs_resp_fields);

/* ---- event payloads ---- */

static const struct br_field event_container_fields[] = {
        S(br_event_container, id, BR_F_STR, BR_CONTAINER_ID_MAX, 0),
        S(br_event_container, image, BR_F_STR, BR_NAME_MAX, 0),
        S(br_event_container, runtime, BR_F_STR, 64, 0),
        S(br_event_container, net, BR_F_STR, 64, 0),
        S(br_event_container, snapshot_key, BR_F_STR, BR_KEY_MAX, 0),
        S(br_event_container, labels, BR_F_STRMAP, BR_LABELS_MAX, 0),
};
const struct br_schema br_event_container_schema =
        BR_SCHEMA(struct br_event_container, event_container_fields);

static const struct br_field event_container_delete_fields[] = {
        S(br_event_container_delete, id, BR_F_STR, BR_CONTAINER_ID_MAX, 0),
};
const struct br_schema br_event_container_delete_schema =
        BR_SCHEMA(struct br_event_container_delete, event_container_delete_fields);

static const struct br_field event_task_create_fields[] = {
        S(br_event_task_create, container_id, BR_F_STR, BR_CONTAINER_ID_MAX, 0),
        S(br_event_task_create, bundle, BR_F_STR, BR_PATH_MAX, 0),
        S(br_event_task_create, pid, BR_F_U32, 0, 0),
};
const struct br_schema br_event_task_create_schema =
        BR_SCHEMA(struct br_event_task_create, event_task_create_fields);

static const struct br_field event_task_start_fields[] = {
        S(br_event_task_start, container_id, BR_F_STR, BR_CONTAINER_ID_MAX, 0),
        S(br_event_task_start, pid, BR_F_U32, 0, 0),
};
const struct br_schema br_event_task_start_schema =
        BR_SCHEMA(struct br_event_task_start, event_task_start_fields);

static const struct br_field event_task_exit_fields[] = {
        S(br_event_task_exit, container_id, BR_F_STR, BR_CONTAINER_ID_MAX, 0),
        S(br_event_task_exit, id, BR_F_STR, BR_CONTAINER_ID_MAX, 0),
        S(br_event_task_exit, pid, BR_F_U32, 0, 0),
        S(br_event_task_exit, exit_status, BR_F_I64, 0, 0),
        S(br_event_task_exit, exited_at, BR_F_I64, 0, 0),
        S(br_event_task_exit, reason, BR_F_STR, 64, 0),
};
const struct br_schema br_event_task_exit_schema =
        BR_SCHEMA(struct br_event_task_exit, event_task_exit_fields);

static const struct br_field event_task_fields[] = {
        S(br_event_task, container_id, BR_F_STR, BR_CONTAINER_ID_MAX, 0),
};
const struct br_schema br_event_task_schema = BR_SCHEMA(struct br_event_task, event_task_fields);

static const struct br_field event_task_exec_fields[] = {
        S(br_event_task_exec, container_id, BR_F_STR, BR_CONTAINER_ID_MAX, 0),
        S(br_event_task_exec, exec_id, BR_F_STR, BR_CONTAINER_ID_MAX, 0),
        S(br_event_task_exec, pid, BR_F_U32, 0, 0),
};
const struct br_schema br_event_task_exec_schema =
        BR_SCHEMA(struct br_event_task_exec, event_task_exec_fields);
