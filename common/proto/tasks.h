/* SPDX-License-Identifier: Apache-2.0 */
/*
 * containers.* and tasks.* (berth-taskd).
 *
 *   containers.create {id, image, args, env, net, labels, runtime, seccomp, user, working_dir,
 *                      and the run options: mounts, devices, ulimits, cap_add, cap_drop,
 *                      privileged, read_only, init, memory, memory_swap, nano_cpus,
 *                      pids_limit, ports, dns, add_hosts}               -> br_container
 *   containers.get    {id}                -> br_container
 *   containers.list   {page_size, page_token} -> {items: [br_container], next_page_token}
 *   containers.delete {id, force}         -> {}   kills a running task first when force
 *   containers.spec   {id}                -> {spec}  the OCI spec as written (JSON text)
 *   containers.rename {id, name}          -> br_container  a new display name, emits
 *                                                         /containers/update
 *   tasks.start       {id, request_id}    -> br_task      creates and starts the task (runc
 *                                                         create + start under a berth-shim)
 *   tasks.get         {id}                -> br_task
 *   tasks.kill        {id, signal, all}   -> {}
 *   tasks.wait        {id, timeout_ms}    -> br_task      returns at exit or when time is up
 *   tasks.stop        {id, timeout_ms}    -> br_task      stop signal, SIGKILL after timeout_ms;
 *                                                         answered once the exit is recorded
 *   tasks.logs        br_task_logs_req    -> br_task_logs_resp
 *   tasks.delete      {id}                -> br_task      the exited task's final state
 *   tasks.top         {id, ps_args}       -> {titles, processes}  the task's processes
 *   tasks.stats       {id}                -> br_task_stats  cgroup counters of the task
 *
 * A container is the record (image, spec, snapshot, network); a task is its running process.
 * Container ids are [A-Za-z0-9][A-Za-z0-9_.-]{0,63}; taskd generates one when `id` is empty.
 * The id names the container's runtime state, bundle, logs and lease and never changes; the
 * name (same shape, unique per namespace) is what users see and may change (containers.rename).
 * Every `id` a request carries is resolved as docker resolves a container argument: a name
 * first, then an id, then a unique id prefix (an ambiguous prefix is INVALID_ARGUMENT).
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

#include "common/proto/networks.h"
#include "common/proto/types.h"

#define BR_CONTAINER_ID_MAX 64
#define BR_SECCOMP_PROFILE_MAX (256u << 10)

/* The run options' lists (docs/tasks.md, "Run options"). */
#define BR_MOUNTS_MAX 64
#define BR_DEVICES_MAX 64
#define BR_CAPS_MAX 64
#define BR_ULIMITS_MAX 16

/* -v and --mount: type "bind" (source: an existing absolute host path), "volume" (source: a
 * volume name, created when missing), "tmpfs" (no source). target: absolute and clean. */
struct br_mount_opt {
	const char *type;
	const char *source;
	const char *target;
	bool readonly;
	int64_t tmpfs_size;  /* bytes; 0: the kernel's default (half the memory) */
	uint32_t tmpfs_mode; /* permission bits; 0: 1777 */
};
extern const struct br_schema br_mount_opt_schema;

/* --device HOST[:CTR][:PERMS]: a host device node, made in the container at CTR (default:
 * HOST) with a cgroup rule allowing PERMS (a non-empty subset of "rwm"; default "rwm"). */
struct br_device_opt {
	const char *host_path;
	const char *container_path;
	const char *permissions;
};
extern const struct br_schema br_device_opt_schema;

/* --ulimit NAME=SOFT[:HARD]: NAME as in ulimit (nofile, nproc, core, ...). */
struct br_ulimit_opt {
	const char *name;
	int64_t soft;
	int64_t hard;
};
extern const struct br_schema br_ulimit_opt_schema;

struct br_container_create_req {
	const char *id;               /* "" or NULL: the name when no container has that id, else
	                               * generated */
	const char *name;             /* "" or NULL: the id */
	const char *image;            /* name as in images.list */
	struct br_strlist args;       /* replaces the image's Cmd (Entrypoint kept) when n > 0 */
	struct br_strlist entrypoint; /* replaces the image's Entrypoint when n > 0 */
	struct br_strlist env;        /* "K=V", added to (and overriding) the image's Env */
	/* "none" | "host" | a network's name (networks.h); NULL or "": netd's default */
	const char *net;
	const char *runtime; /* "runc" | "crun"; NULL: taskd's default */
	const char *hostname;
	const char *user;
	const char *working_dir;
	struct br_strmap labels;
	/* NULL or "": taskd's default seccomp profile; "unconfined": none; else the JSON text of
	 * a profile (at most BR_SECCOMP_PROFILE_MAX bytes; docs/tasks.md). */
	const char *seccomp;
	bool terminal;   /* the process gets a terminal (the shim holds the pty's master) */
	bool open_stdin; /* the shim keeps the process's stdin open for attached clients */
	struct br_objlist mounts;  /* struct br_mount_opt */
	struct br_objlist devices; /* struct br_device_opt */
	struct br_objlist ulimits; /* struct br_ulimit_opt */
	struct br_strlist cap_add; /* capability names, with or without CAP_, or ALL */
	struct br_strlist cap_drop;
	bool privileged;     /* every capability and host device, no seccomp, no masked paths */
	bool read_only;      /* the root file system is mounted read-only */
	bool init;           /* berth-init runs as PID 1 in front of the process */
	int64_t memory;      /* bytes; 0: no limit */
	int64_t memory_swap; /* memory plus swap, bytes; 0: unset; -1: unlimited swap */
	int64_t nano_cpus;   /* CPUs * 1e9; 0: no limit */
	int64_t pids_limit;  /* 0: no limit; -1: unlimited */
	/* What taskd does when the task exits (docs/tasks.md): "" or "no", "on-failure" (a
	 * non-zero exit, at most restart_max times when restart_max > 0), "always",
	 * "unless-stopped". */
	const char *restart_policy;
	uint32_t restart_max; /* on-failure's limit; at most BR_RESTART_MAX */
	bool auto_remove;     /* taskd deletes the container once its task's exit is recorded */
	/* Idempotency (docs/api.md): a client-chosen id of this logical operation; a repeated
	 * request with the same id in the same namespace gets the first one's outcome. */
	const char *request_id;
	/* The network options, passed to networks.attach with the container's name when the
	 * container is created (and only then: a create asked again under its request id is
	 * answered with the container the first one made). */
	struct br_objlist ports;     /* struct br_net_port (at most BR_NET_PORTS_MAX): -p */
	struct br_strlist dns;       /* nameservers replacing the host's in resolv.conf */
	struct br_strlist add_hosts; /* "host:ip" lines added to /etc/hosts */
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
	const char *name;           /* the display name, unique in the namespace */
	bool oom_killed;            /* when stopped: the kernel's OOM killer ended the task */
	const char *exit_reason;    /* when stopped: "" or why taskd set the status ("shim lost") */
	const char *restart_policy; /* "no" | "on-failure" | "always" | "unless-stopped" */
	uint32_t restart_max;
	uint32_t restart_count; /* restarts done by the policy since the last start by a user */
	bool auto_remove;
};
extern const struct br_schema br_container_schema;

/* containers.rename: `name` must be free in the namespace (else ALREADY_EXISTS naming the
 * container that has it) and differ from the current one. */
struct br_container_rename_req {
	const char *id;
	const char *name;
};
extern const struct br_schema br_container_rename_req_schema;

/* tasks.top: the processes of a running (or paused) task. Without ps_args taskd reads /proc
 * and answers with docker's default columns UID PID PPID C STIME TTY TIME CMD; with ps_args it
 * runs the host's `ps` with them and keeps the rows whose PID column names a process of the
 * task (INVALID_ARGUMENT when ps fails or prints no PID column). */
#define BR_TOP_ARGS_MAX 32
#define BR_TOP_ARG_MAX 256
#define BR_TOP_COLUMNS_MAX 64
#define BR_TOP_PROCESSES_MAX 4096
#define BR_TOP_CELL_MAX 4096
struct br_task_top_req {
	const char *id;
	struct br_strlist ps_args;
};
extern const struct br_schema br_task_top_req_schema;

struct br_task_top_row {
	struct br_strlist cells; /* one per title */
};
struct br_task_top_resp {
	struct br_strlist titles;
	struct br_objlist processes; /* struct br_task_top_row, in pid order */
};
extern const struct br_schema br_task_top_resp_schema;

/* tasks.stats: what the task's cgroup and its init's network namespace count now. Counters are
 * cumulative; a client derives rates (CPU %) from two readings and their read_ns. */
struct br_task_stats {
	const char *id;
	const char *name;
	int64_t read_ns;       /* CLOCK_MONOTONIC of the host when read */
	uint32_t cgroup;       /* 1 or 2: the hierarchy the counters come from */
	uint32_t online_cpus;  /* of the host */
	uint64_t cpu_usage_ns; /* CPU time of every process, ever */
	uint64_t memory_usage; /* bytes in use, less the inactive page cache (as docker) */
	uint64_t memory_limit; /* the cgroup's limit, or the host's memory when lower or unset */
	uint64_t pids;         /* processes (and threads) now */
	uint64_t pids_limit;   /* 0: none */
	uint64_t block_read;   /* bytes read from block devices */
	uint64_t block_write;
	bool network;    /* the task has a network namespace of its own */
	uint64_t net_rx; /* bytes received on its interfaces but lo */
	uint64_t net_tx;
};
extern const struct br_schema br_task_stats_schema;

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
	bool oom_killed; /* when stopped: the kernel's OOM killer ended the task */
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

/* Streams (common/stream.h, docs/streams.md): the params of the HEADER frame's envelope. */
#define BR_EXEC_ID_MAX 64
struct br_task_exec_req {
	const char *id;          /* the container */
	const char *exec_id;     /* "" or NULL: generated */
	struct br_strlist args;  /* the command, n >= 1 */
	struct br_strlist env;   /* "K=V", added to (and overriding) the container's */
	const char *user;        /* NULL: the container's */
	const char *working_dir; /* NULL: the container's */
	bool terminal;           /* a pty; its output is all stdout */
	bool stdin;              /* the client sends input; without it stdin is /dev/null */
	uint32_t rows, cols;     /* the terminal's first size (0: unset) */
};
extern const struct br_schema br_task_exec_req_schema;

/* Attach to the init's I/O: its output from now on (and to the log as always), and with
 * `stdin`, input into its stdin (the container must have been created with open_stdin) or
 * terminal. `close_stdin` ends the container's stdin when this client ends its input (run -i).
 * With `start`, a created container's task is started with the stream attached between the
 * runtime's create and start, so that no output is missed (run -i/-t, start -a). */
struct br_task_attach_req {
	const char *id;
	bool stdin;
	bool close_stdin;
	bool start;
	uint32_t rows, cols;
};
extern const struct br_schema br_task_attach_req_schema;

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
	const char *name;    /* the display name */
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
