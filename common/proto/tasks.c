/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Schemas of containers.* and tasks.* messages.
 */
#include "common/proto/tasks.h"

#define S(st, f, t, max, fl) BR_FIELD(struct st, f, t, max, fl)

static const struct br_field mount_opt_fields[] = {
        S(br_mount_opt, type, BR_F_STR, 16, BR_F_REQUIRED | BR_F_NONEMPTY),
        S(br_mount_opt, source, BR_F_STR, BR_PATH_MAX, 0),
        S(br_mount_opt, target, BR_F_STR, BR_PATH_MAX, BR_F_REQUIRED | BR_F_NONEMPTY),
        S(br_mount_opt, readonly, BR_F_BOOL, 0, 0),
        S(br_mount_opt, tmpfs_size, BR_F_I64, 0, 0),
        S(br_mount_opt, tmpfs_mode, BR_F_U32, 0, 0),
};
const struct br_schema br_mount_opt_schema = BR_SCHEMA(struct br_mount_opt, mount_opt_fields);

static const struct br_field device_opt_fields[] = {
        S(br_device_opt, host_path, BR_F_STR, BR_PATH_MAX, BR_F_REQUIRED | BR_F_NONEMPTY),
        S(br_device_opt, container_path, BR_F_STR, BR_PATH_MAX, 0),
        S(br_device_opt, permissions, BR_F_STR, 3, 0),
};
const struct br_schema br_device_opt_schema = BR_SCHEMA(struct br_device_opt, device_opt_fields);

static const struct br_field ulimit_opt_fields[] = {
        S(br_ulimit_opt, name, BR_F_STR, 16, BR_F_REQUIRED | BR_F_NONEMPTY),
        S(br_ulimit_opt, soft, BR_F_I64, 0, 0),
        S(br_ulimit_opt, hard, BR_F_I64, 0, 0),
};
const struct br_schema br_ulimit_opt_schema = BR_SCHEMA(struct br_ulimit_opt, ulimit_opt_fields);

static const struct br_field create_fields[] = {
        S(br_container_create_req, id, BR_F_STR, BR_CONTAINER_ID_MAX, 0),
        S(br_container_create_req, name, BR_F_STR, BR_CONTAINER_ID_MAX, 0),
        S(br_container_create_req, image, BR_F_STR, BR_NAME_MAX, BR_F_REQUIRED | BR_F_NONEMPTY),
        S(br_container_create_req, args, BR_F_STRLIST, 1024, 0),
        S(br_container_create_req, entrypoint, BR_F_STRLIST, 1024, 0),
        S(br_container_create_req, env, BR_F_STRLIST, 4096, 0),
        S(br_container_create_req, net, BR_F_STR, BR_NETWORK_NAME_MAX, 0),
        S(br_container_create_req, runtime, BR_F_STR, 64, 0),
        S(br_container_create_req, hostname, BR_F_STR, 253, 0),
        S(br_container_create_req, user, BR_F_STR, 256, 0),
        S(br_container_create_req, working_dir, BR_F_STR, BR_PATH_MAX, 0),
        S(br_container_create_req, labels, BR_F_STRMAP, BR_LABELS_MAX, 0),
        S(br_container_create_req, seccomp, BR_F_STR, BR_SECCOMP_PROFILE_MAX, 0),
        S(br_container_create_req, terminal, BR_F_BOOL, 0, 0),
        S(br_container_create_req, open_stdin, BR_F_BOOL, 0, 0),
        BR_FIELD_SUB(struct br_container_create_req, mounts, BR_F_OBJLIST, BR_MOUNTS_MAX, 0,
                     &br_mount_opt_schema),
        BR_FIELD_SUB(struct br_container_create_req, devices, BR_F_OBJLIST, BR_DEVICES_MAX, 0,
                     &br_device_opt_schema),
        BR_FIELD_SUB(struct br_container_create_req, ulimits, BR_F_OBJLIST, BR_ULIMITS_MAX, 0,
                     &br_ulimit_opt_schema),
        S(br_container_create_req, cap_add, BR_F_STRLIST, BR_CAPS_MAX, 0),
        S(br_container_create_req, cap_drop, BR_F_STRLIST, BR_CAPS_MAX, 0),
        S(br_container_create_req, privileged, BR_F_BOOL, 0, 0),
        S(br_container_create_req, read_only, BR_F_BOOL, 0, 0),
        S(br_container_create_req, init, BR_F_BOOL, 0, 0),
        S(br_container_create_req, memory, BR_F_I64, 0, 0),
        S(br_container_create_req, memory_swap, BR_F_I64, 0, 0),
        S(br_container_create_req, nano_cpus, BR_F_I64, 0, 0),
        S(br_container_create_req, pids_limit, BR_F_I64, 0, 0),
        S(br_container_create_req, restart_policy, BR_F_STR, 32, 0),
        S(br_container_create_req, restart_max, BR_F_U32, 0, 0),
        S(br_container_create_req, auto_remove, BR_F_BOOL, 0, 0),
        S(br_container_create_req, request_id, BR_F_STR, BR_REQUEST_ID_MAX, 0),
        BR_FIELD_SUB(struct br_container_create_req, ports, BR_F_OBJLIST, BR_NET_PORTS_MAX, 0,
                     &br_net_port_schema),
        S(br_container_create_req, dns, BR_F_STRLIST, BR_NET_DNS_MAX, 0),
        S(br_container_create_req, add_hosts, BR_F_STRLIST, BR_NET_HOSTS_MAX, 0),
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
        S(br_container, name, BR_F_STR, BR_CONTAINER_ID_MAX, 0),
        S(br_container, oom_killed, BR_F_BOOL, 0, 0),
        S(br_container, exit_reason, BR_F_STR, 64, 0),
        S(br_container, restart_policy, BR_F_STR, 32, 0),
        S(br_container, restart_max, BR_F_U32, 0, 0),
        S(br_container, restart_count, BR_F_U32, 0, 0),
        S(br_container, auto_remove, BR_F_BOOL, 0, 0),
};
const struct br_schema br_container_schema = BR_SCHEMA(struct br_container, container_fields);

static const struct br_field rename_fields[] = {
        S(br_container_rename_req, id, BR_F_STR, BR_CONTAINER_ID_MAX, BR_F_REQUIRED | BR_F_ID),
        S(br_container_rename_req, name, BR_F_STR, BR_CONTAINER_ID_MAX,
          BR_F_REQUIRED | BR_F_NONEMPTY | BR_F_ID),
};
const struct br_schema br_container_rename_req_schema =
        BR_SCHEMA(struct br_container_rename_req, rename_fields);

static const struct br_field top_req_fields[] = {
        S(br_task_top_req, id, BR_F_STR, BR_CONTAINER_ID_MAX, BR_F_REQUIRED | BR_F_ID),
        S(br_task_top_req, ps_args, BR_F_STRLIST, BR_TOP_ARGS_MAX, 0),
};
const struct br_schema br_task_top_req_schema = BR_SCHEMA(struct br_task_top_req, top_req_fields);

static const struct br_field top_row_fields[] = {
        S(br_task_top_row, cells, BR_F_STRLIST, BR_TOP_COLUMNS_MAX, 0),
};
static const struct br_schema top_row_schema = BR_SCHEMA(struct br_task_top_row, top_row_fields);

static const struct br_field top_resp_fields[] = {
        S(br_task_top_resp, titles, BR_F_STRLIST, BR_TOP_COLUMNS_MAX, 0),
        BR_FIELD_SUB(struct br_task_top_resp, processes, BR_F_OBJLIST, BR_TOP_PROCESSES_MAX, 0,
                     &top_row_schema),
};
const struct br_schema br_task_top_resp_schema =
        BR_SCHEMA(struct br_task_top_resp, top_resp_fields);

static const struct br_field stats_fields[] = {
        S(br_task_stats, id, BR_F_STR, BR_CONTAINER_ID_MAX, 0),
        S(br_task_stats, name, BR_F_STR, BR_CONTAINER_ID_MAX, 0),
        S(br_task_stats, read_ns, BR_F_I64, 0, 0),
        S(br_task_stats, cgroup, BR_F_U32, 0, 0),
        S(br_task_stats, online_cpus, BR_F_U32, 0, 0),
        S(br_task_stats, cpu_usage_ns, BR_F_U64, 0, 0),
        S(br_task_stats, memory_usage, BR_F_U64, 0, 0),
        S(br_task_stats, memory_limit, BR_F_U64, 0, 0),
        S(br_task_stats, pids, BR_F_U64, 0, 0),
        S(br_task_stats, pids_limit, BR_F_U64, 0, 0),
        S(br_task_stats, block_read, BR_F_U64, 0, 0),
        S(br_task_stats, block_write, BR_F_U64, 0, 0),
        S(br_task_stats, network, BR_F_BOOL, 0, 0),
        S(br_task_stats, net_rx, BR_F_U64, 0, 0),
        S(br_task_stats, net_tx, BR_F_U64, 0, 0),
};
const struct br_schema br_task_stats_schema = BR_SCHEMA(struct br_task_stats, stats_fields);

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
        S(br_task, oom_killed, BR_F_BOOL, 0, 0),
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

static const struct br_field exec_fields[] = {
        S(br_task_exec_req, id, BR_F_STR, BR_CONTAINER_ID_MAX, BR_F_REQUIRED | BR_F_ID),
        S(br_task_exec_req, exec_id, BR_F_STR, BR_EXEC_ID_MAX, 0),
        S(br_task_exec_req, args, BR_F_STRLIST, 1024, BR_F_REQUIRED | BR_F_NONEMPTY),
        S(br_task_exec_req, env, BR_F_STRLIST, 4096, 0),
        S(br_task_exec_req, user, BR_F_STR, 256, 0),
        S(br_task_exec_req, working_dir, BR_F_STR, BR_PATH_MAX, 0),
        S(br_task_exec_req, terminal, BR_F_BOOL, 0, 0),
        S(br_task_exec_req, stdin, BR_F_BOOL, 0, 0),
        S(br_task_exec_req, rows, BR_F_U32, 0, 0),
        S(br_task_exec_req, cols, BR_F_U32, 0, 0),
};
const struct br_schema br_task_exec_req_schema = BR_SCHEMA(struct br_task_exec_req, exec_fields);

static const struct br_field attach_fields[] = {
        S(br_task_attach_req, id, BR_F_STR, BR_CONTAINER_ID_MAX, BR_F_REQUIRED | BR_F_ID),
        S(br_task_attach_req, stdin, BR_F_BOOL, 0, 0),
        S(br_task_attach_req, close_stdin, BR_F_BOOL, 0, 0),
        S(br_task_attach_req, start, BR_F_BOOL, 0, 0),
        S(br_task_attach_req, rows, BR_F_U32, 0, 0),
        S(br_task_attach_req, cols, BR_F_U32, 0, 0),
};
const struct br_schema br_task_attach_req_schema =
        BR_SCHEMA(struct br_task_attach_req, attach_fields);

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
        S(br_event_container, name, BR_F_STR, BR_CONTAINER_ID_MAX, 0),
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
