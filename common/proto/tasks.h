/* SPDX-License-Identifier: Apache-2.0 */
/*
 * containers.* and tasks.* (berth-taskd).
 *
 *   containers.create {id, image, args, env, net, labels, runtime, seccomp} -> br_container
 *   containers.get    {id}                -> br_container
 *   containers.list   {page_size, page_token} -> {items: [br_container], next_page_token}
 *   containers.delete {id, force}         -> {}   kills a running task first when force
 *   containers.spec   {id}                -> {spec}  the OCI spec as written (JSON text)
 *   tasks.start       {id, request_id}    -> br_task      creates and starts the task (runc
 *                                                         create + start under a berth-shim)
 *   tasks.get         {id}                -> br_task
 *   tasks.kill        {id, signal, all}   -> {}
 *   tasks.wait        {id, timeout_ms}    -> br_task      returns at exit or when time is up
 *   tasks.stop        {id, timeout_ms}    -> br_task      stop signal, SIGKILL after timeout_ms;
 *                                                         answered once the exit is recorded
 *   tasks.logs        br_task_logs_req    -> br_task_logs_resp
 *   tasks.delete      {id}                -> br_task      the exited task's final state
 *
 * A container is the record (image, spec, snapshot, network); a task is its running process.
 * Container ids are [A-Za-z0-9][A-Za-z0-9_.-]{0,63}; taskd generates one when `id` is empty.
 * Status strings: "created" (no task), "running", "paused", "stopped" (exited, not deleted);
 * a container (not a task) is "restarting" between an exit and the restart its restart
 * policy decided.
 *
 * Output: the shim writes the container's stdout and stderr to its CRI log (common/crilog.h:
 * <root>/taskd/logs/<ns>/<id>/current.log, capped and rotated). tasks.logs returns the records
 * after the cursor {file_id, file_offset} ({0, 0}: the start; with a zero cursor, `tail` and
 * `since_ns` choose where to start), at most BR_CHUNK_MAX bytes, waiting up to `wait_ms` for
 * new output or the exit, so a client follows a container with one outstanding call and
 * continues with the returned cursor, across rotations and taskd restarts. With `cri` the
 * records come whole in `data` (for `berth logs`); without, their contents are split into
 * `stdout_data` and `stderr_data` as the container wrote them (for `berth run`), and the
 * cursor is also returned as stdout_offset (its offset) and stderr_offset (its file id), so a
 * client of the earlier two-offset protocol that echoes them keeps working. `exited` is true
 * once the task has exited and the returned data reaches the end of the log.
 *
 * Events (common/events.h; docs/events.md says when each is emitted). Times are ns since the
 * epoch. The payloads, after containerd's api/events/container.proto and task.proto:
 *
 *   /containers/create, /containers/update   br_event_container
 *   /containers/delete                       br_event_container_delete
 *   /tasks/create                            br_event_task_create
 *   /tasks/start                             br_event_task_start
 *   /tasks/exit, /tasks/delete               br_event_task_exit
 *   /tasks/oom, /tasks/paused, /tasks/resumed  br_event_task
 *   /tasks/exec-added, /tasks/exec-started   br_event_task_exec
 */
#ifndef BR_COMMON_PROTO_TASKS_H
#define BR_COMMON_PROTO_TASKS_H

#include "common/proto/types.h"

#define BR_CONTAINER_ID_MAX 64
#define BR_SECCOMP_PROFILE_MAX (256u << 10)

struct br_container_create_req {
	const char *id;               /* "" or NULL: generated */
	const char *image;            /* name as in images.list */
	struct br_strlist args;       /* replaces the image's Cmd (Entrypoint kept) when n > 0 */
	struct br_strlist entrypoint; /* replaces the image's Entrypoint when n > 0 */
	struct br_strlist env;        /* "K=V", added to (and overriding) the image's Env */
	const char *net;              /* "none" | "host"; NULL: netd's default */
	const char *runtime;          /* "runc" | "crun"; NULL: taskd's default */
	const char *hostname;
	const char *user;
	const char *working_dir;
	struct br_strmap labels;
	/* NULL or "": taskd's default seccomp profile; "unconfined": none; else the JSON text of
	 * a profile (at most BR_SECCOMP_PROFILE_MAX bytes; docs/tasks.md). */
	const char *seccomp;
	bool terminal;   /* the process gets a terminal (the shim holds the pty's master) */
	bool open_stdin; /* the shim keeps the process's stdin open for attached clients */
	/* What taskd does when the task exits (docs/tasks.md): "" or "no", "on-failure" (a
	 * non-zero exit, at most restart_max times when restart_max > 0), "always",
	 * "unless-stopped". */
	const char *restart_policy;
	uint32_t restart_max; /* on-failure's limit; at most BR_RESTART_MAX */
	bool auto_remove;     /* taskd deletes the container once its task's exit is recorded */
	/* Idempotency (docs/api.md): a client-chosen id of this logical operation; a repeated
	 * request with the same id in the same namespace gets the first one's outcome. */
	const char *request_id;
};
extern const struct br_schema br_container_create_req_schema;

#define BR_RESTART_MAX 1000000
#define BR_REQUEST_ID_MAX 64

struct br_container {
	const char *id;
	const char *image;
	const char *runtime;
	const char *net;
	const char *snapshot_key;
	const char *status;  /* "created" | "running" | "paused" | "stopped" */
	uint32_t pid;        /* while running */
	int64_t exit_status; /* when stopped */
	int64_t created_at;
	struct br_strlist command; /* the process args as run */
	struct br_strmap labels;
	const char *exit_reason;    /* when stopped: "" or why taskd set the status ("shim lost") */
	const char *restart_policy; /* "no" | "on-failure" | "always" | "unless-stopped" */
	uint32_t restart_max;
	uint32_t restart_count; /* restarts done by the policy since the last start by a user */
	bool auto_remove;
};
extern const struct br_schema br_container_schema;

struct br_container_list_req {
	struct br_page_req page;
};
extern const struct br_schema br_container_list_req_schema;

struct br_container_list_resp {
	struct br_objlist items; /* struct br_container, ordered by id */
	const char *next_page_token;
};
extern const struct br_schema br_container_list_resp_schema;

struct br_container_id_req {
	const char *id;
	bool force;
	const char *request_id; /* tasks.start: as containers.create's (docs/api.md) */
};
extern const struct br_schema br_container_id_req_schema;

struct br_task {
	const char *id;
	const char *status;
	uint32_t pid;
	int64_t exit_status;
	int64_t exited_at;       /* ms since the epoch, 0 while running */
	int64_t started_at;      /* ms since the epoch, 0 without a task (or recorded before 0.1) */
	const char *exit_reason; /* when stopped: "" or why taskd set the status ("shim lost") */
	uint32_t restart_count;
};
extern const struct br_schema br_task_schema;

/* containers.spec {id} -> {spec}: the OCI runtime spec taskd wrote (config.json), as JSON. */
#define BR_CONTAINER_SPEC_MAX (4u << 20)
struct br_container_spec_resp {
	const char *spec;
};
extern const struct br_schema br_container_spec_resp_schema;

struct br_task_kill_req {
	const char *id;
	uint32_t signal; /* 0: SIGTERM */
	bool all;
};
extern const struct br_schema br_task_kill_req_schema;

struct br_task_wait_req {
	const char *id;
	int64_t timeout_ms;
};
extern const struct br_schema br_task_wait_req_schema;

/* tasks.stop: the container's stop signal (the image's StopSignal, else SIGTERM), then, if the
 * task still runs after timeout_ms (0: at once; at most BR_TASK_STOP_TIMEOUT_MAX_MS), SIGKILL
 * to all its processes. Answered with the task once its exit is recorded. */
#define BR_TASK_STOP_TIMEOUT_MAX_MS (3600 * 1000)
struct br_task_stop_req {
	const char *id;
	int64_t timeout_ms;
};
extern const struct br_schema br_task_stop_req_schema;

struct br_task_logs_req {
	const char *id;
	int64_t stdout_offset;
	int64_t stderr_offset;
	int64_t wait_ms; /* 0: return at once */
	bool cri;        /* records whole in `data` */
	int64_t file_id; /* the cursor */
	int64_t file_offset;
	bool tail_set; /* with a zero cursor: start at the last `tail` full lines */
	int64_t tail;
	int64_t since_ns; /* with a zero cursor: start at the first record at or after it */
};
extern const struct br_schema br_task_logs_req_schema;

struct br_task_logs_resp {
	struct br_bytes stdout_data;
	struct br_bytes stderr_data;
	int64_t stdout_offset; /* offsets after the returned data */
	int64_t stderr_offset;
	bool exited;
	int64_t exit_status;
	struct br_bytes data; /* with `cri`: whole CRI records */
	int64_t file_id;      /* the cursor after the returned data */
	int64_t file_offset;
};
extern const struct br_schema br_task_logs_resp_schema;

/* /containers/create and /containers/update: the container as recorded. */
struct br_event_container {
	const char *id;
	const char *image;   /* the resolved name */
	const char *runtime; /* "runc" */
	const char *net;     /* the network mode netd gave it */
	const char *snapshot_key;
	struct br_strmap labels;
};
extern const struct br_schema br_event_container_schema;

/* /containers/delete */
struct br_event_container_delete {
	const char *id;
};
extern const struct br_schema br_event_container_delete_schema;

/* /tasks/create: the runtime created the task's init (under its shim). */
struct br_event_task_create {
	const char *container_id;
	const char *bundle; /* the OCI bundle directory */
	uint32_t pid;       /* the init's pid */
};
extern const struct br_schema br_event_task_create_schema;

/* /tasks/start */
struct br_event_task_start {
	const char *container_id;
	uint32_t pid;
};
extern const struct br_schema br_event_task_start_schema;

/* /tasks/exit (the process exited) and /tasks/delete (the exited task was removed). */
struct br_event_task_exit {
	const char *container_id;
	const char *id; /* the process: the container id for the task's init */
	uint32_t pid;
	int64_t exit_status; /* the exit code, or 128 + the signal that killed it */
	int64_t exited_at;   /* ns since the epoch, as the shim recorded it */
	const char *reason;  /* "" or why taskd set the status ("shim lost") */
};
extern const struct br_schema br_event_task_exit_schema;

/* /tasks/oom, /tasks/paused, /tasks/resumed */
struct br_event_task {
	const char *container_id;
};
extern const struct br_schema br_event_task_schema;

/* /tasks/exec-added and /tasks/exec-started (pid: exec-started only). */
struct br_event_task_exec {
	const char *container_id;
	const char *exec_id;
	uint32_t pid;
};
extern const struct br_schema br_event_task_exec_schema;

#endif
