/* SPDX-License-Identifier: Apache-2.0 */
/*
 * berth-taskd internals: the service state owned by the loop thread, the in-memory container
 * table (loaded from meta.db, kept current by the shims' exit notifications), and the
 * functions the files of taskd share: store.c (SQLite records), events.c (the events each
 * record change emits), bundle.c (bundle directories, rootfs mounts), create.c
 * (containers.create/delete), tasks.c (tasks.*, exit watching), logs.c (tasks.logs long-poll),
 * rename.c (containers.rename), top.c and stats.c (tasks.top, tasks.stats, with cgroup.c and
 * procfs.c behind observe.h), reconcile.c (start-up repair), streams.c (exec and attach
 * streams), service.c (method table, name resolution).
 *
 * Threads: everything here runs on the loop thread unless a comment says "worker". Workers
 * (uv_queue_work) get copies of what they need, never touch the table or the database, and
 * hold a reference on their container so it outlives them.
 */
#ifndef BR_TASKD_TASKD_H
#define BR_TASKD_TASKD_H

#include <stdbool.h>
#include <stdint.h>

#include <sqlite3.h>
#include <uv.h>

#include "common/config.h"
#include "common/err.h"
#include "common/lease_owner.h"
#include "common/loop.h"
#include "common/outbox.h"
#include "common/proto/tasks.h"
#include "common/proto/volumes.h"
#include "common/rpc.h"

#define TASKD_LOGS_MAX_WAIT_MS 30000 /* tasks.logs never parks a call longer */
#define TASKD_FORCE_WAIT_MS 10000    /* containers.delete force: wait for the kill */
#define TASKD_PEER_TIMEOUT_MS 30000
#define TASKD_LEASE_WAIT_MS 5000 /* containers.delete waits this long for the lease's end */

/* A task's state as recorded. Each recorded change emits its events in the same transaction
 * (events.c), so the state also says which events were emitted for the task's run: RUNNING
 * that /tasks/create and /tasks/start were, STOPPED that /tasks/exit was. */
enum task_state {
	TASK_NONE,     /* no task: the container is "created" */
	TASK_RUNNING,  /* a shim runs it */
	TASK_STOPPED,  /* exited, not deleted */
	TASK_STARTING, /* only in records: tasks.start began and did not finish; reconcile.c
	                * settles it from the shim before taskd serves */
};

struct waiter;
struct exit_watch;
struct sup_timer;

/* What taskd does when a task exits (supervise.c; docker's restart policies). */
enum restart_policy {
	RESTART_NO,
	RESTART_ON_FAILURE,     /* a non-zero exit, at most restart_max times (0: no limit) */
	RESTART_ALWAYS,         /* every exit; also at taskd's start, even after a stop */
	RESTART_UNLESS_STOPPED, /* every exit, unless a user stopped the container */
};

struct container {
	struct container *next;
	int refs;
	char *ns;
	char *id;
	char *name; /* display name, unique in ns; the id never changes, the name may */
	/* The id was taken from the name given at create (berth create --name): it is the
	 * container's first name, and once renamed away no longer refers to it. */
	bool id_from_name;
	char *image;
	char *runtime; /* name, "runc" */
	char *net;
	char *snapshot_key;
	char *snapshotter;
	char **command;
	char **label_keys;
	char **label_values;
	size_t n_labels;
	int64_t created_at;
	int stop_signal;  /* the image's StopSignal at create; 0: SIGTERM */
	char *bundle_dir; /* <state>/taskd/bundles/<ns>/<id> */
	char *task_dir;   /* <bundle_dir>/task: the shim's state directory */
	char *log_dir;    /* <root>/taskd/logs/<ns>/<id>: the CRI log, kept across restarts */

	bool creating; /* containers.create has not finished */
	bool busy;     /* a start or delete is in flight */
	enum task_state task;
	bool paused; /* TASK_RUNNING, frozen by tasks.pause; recorded with the task */
	uint32_t pid;
	int64_t exit_status;
	int64_t exited_at;
	int64_t started_at; /* ms since the epoch, when the task was recorded running */
	bool oom_killed;    /* TASK_STOPPED: the shim saw the OOM killer strike the container */

	struct exit_watch *watch; /* while TASK_RUNNING and the shim answers */
	struct waiter *waiters;   /* parked tasks.wait and tasks.logs calls */
	uv_fs_event_t *fs_event;  /* on log_dir once a logs call waited */
	uint64_t log_events;      /* changes seen in log_dir, to catch wake-ups between reads */

	/* Supervision (supervise.c). The first four are recorded with the task. */
	char *exit_reason; /* NULL, or why taskd chose the exit status ("shim lost") */
	uint32_t restart_count;
	bool stopped_by_user; /* tasks.stop or tasks.kill: the policy restarts no more */
	enum restart_policy restart_policy;
	uint32_t restart_max;
	bool auto_remove;                /* deleted once its exit is recorded (run --rm) */
	bool restart_inflight;           /* a policy restart's start job runs */
	bool shim_check;                 /* the shim's connection closed: being confirmed */
	struct sup_timer *restart_timer; /* a policy restart waits out its back-off */
	int64_t restart_delay_ms;        /* the last back-off */
	bool remove_pending;             /* auto_remove waits for a follower to read the end */
	int64_t follower_seen_ms;        /* the last following tasks.logs call */
	struct sup_timer *remove_timer;  /* bounds that wait; retries a removal that failed */
};

struct taskd {
	uv_loop_t *uv;
	struct br_loop *loop;
	const struct br_config *cfg;
	sqlite3 *db;
	char *state_dir; /* <state>/taskd */
	char *data_dir;  /* <root>/taskd: the database and the containers' logs */
	char *shim_path;
	char *init_path; /* berth-init, next to the shim (run --init) */
	char *log_level;
	br_rpc_client *imaged;
	br_rpc_client *snapshotd;
	br_rpc_client *netd;
	br_rpc_client *gatewayd;     /* the event log */
	struct br_outbox *outbox;    /* lease changes for snapshotd, events for gatewayd */
	struct br_lease_owner owner; /* one lease per container: "container-<id>" */
	struct container *containers;
	unsigned inflight; /* workers queued or running */
	bool stopping;
	struct br_stream_listener *streams; /* the stream socket (streams.c) */
	uv_timer_t net_sweep;               /* netsweep.c; data is NULL until started */
};

/* ---- netsweep.c (loop thread) ---- */

#define TASKD_NET_SWEEP_MS 60000

/* Release, shortly after start and then every TASKD_NET_SWEEP_MS, the network attachments netd
 * holds for containers without a record. */
void taskd_net_sweep_start(struct taskd *t);
void taskd_net_sweep_stop(struct taskd *t);

/* ---- volumes.c (loop thread) ---- */

void taskd_volumes_create(br_call *call, void *data);
void taskd_volumes_list(br_call *call, void *data);
void taskd_volumes_get(br_call *call, void *data);
void taskd_volumes_delete(br_call *call, void *data);
/* A volume name is an id of at most BR_VOLUME_NAME_MAX bytes. */
bool taskd_volume_name_ok(const char *name);
/* The host directory a volume's mount shows (heap string). */
char *taskd_volume_data_path(const struct taskd *t, const char *ns, const char *name);
/* Create the volume when it does not exist (as `run -v NAME:/path` does); *ret_created says
 * whether it was made now. */
int taskd_volumes_ensure(struct taskd *t, const char *ns, const char *name, bool *ret_created,
                         br_err *err);
/* Record that the container mounts `names` (the rows go with the container's). */
int taskd_volumes_attach(struct taskd *t, const char *ns, const char *container_id,
                         const char *const *names, size_t n, br_err *err);
/* The number of volumes in `ns` (namespaces.delete refuses a namespace that has any). */
int taskd_volumes_usage(struct taskd *t, const char *ns, int64_t *ret_count, br_err *err);
/* Start-up repair (reconcile.c, before the loop runs): volume directories without a row. */
void taskd_volumes_reconcile(struct taskd *t);

/* ---- service.c ---- */

extern const struct br_method taskd_methods[];
extern const size_t taskd_n_methods;

struct container *taskd_find(struct taskd *t, const char *ns, const char *id);
/* The container named `name` in `ns` (creating ones too), or NULL. */
struct container *taskd_find_name(struct taskd *t, const char *ns, const char *name);
/* The container a request's `ref` means, as docker resolves it: by name, then by id, then by
 * unique id prefix (an id that was a name counts only while it still is); creating ones are
 * not found. Errors: NOT_FOUND "container \"x\": not
 * found"; INVALID_ARGUMENT for a prefix of several ids. */
struct container *taskd_get(struct taskd *t, const char *ns, const char *ref, br_err *err);
struct container *container_new(struct taskd *t, const char *ns, const char *id);
void container_ref(struct container *c);
void container_unref(struct container *c);
/* Take `c` out of the table (drops the table's reference). */
void taskd_remove(struct taskd *t, struct container *c);
const char *container_status(const struct container *c);
/* Fill a wire struct pointing into `c` (valid until `c` changes). */
void container_to_wire(const struct container *c, struct br_container *ret);
void task_to_wire(const struct container *c, struct br_task *ret);
/* Run `work` on the thread pool and `done` on the loop; counts in t->inflight. */
void taskd_queue(struct taskd *t, uv_work_t *req, uv_work_cb work, uv_after_work_cb done);
void taskd_work_done(struct taskd *t);
/* The runtime's path and its root for this container's namespace (heap strings). */
int taskd_runtime_paths(struct taskd *t, const struct container *c, char **ret_path,
                        char **ret_root, br_err *err);
/* Close every handle and wait for workers (shutdown). */
void taskd_service_drain(struct taskd *t);

/* ---- events.c ---- */

#define TASKD_EVENTS_MAX 4

/* The events of one record change, in order, with payloads pointing into the container
 * (valid until the container changes). Fill with the taskd_events_* functions, then pass to
 * the store function that records the change: it adds them in the change's transaction. */
struct taskd_events {
	size_t n;
	struct taskd_event {
		const char *topic;
		const struct br_schema *schema;
		union {
			struct br_event_container container;
			struct br_event_container_delete container_delete;
			struct br_event_task_create task_create;
			struct br_event_task_start task_start;
			struct br_event_task_exit task_exit;
			struct br_event_task task;
			struct br_event_task_exec exec;
		} payload;
	} v[TASKD_EVENTS_MAX];
};

/* /containers/create with the container as it is now. */
void taskd_events_container_create(struct taskd_events *ev, const struct container *c);
/* /containers/update with the container as it is now (after a rename). */
void taskd_events_container_update(struct taskd_events *ev, const struct container *c);
/* /containers/delete */
void taskd_events_container_delete(struct taskd_events *ev, const struct container *c);
/* /tasks/create and /tasks/start of the task with init c->pid. */
void taskd_events_task_started(struct taskd_events *ev, const struct container *c);
/* /tasks/exit with c->pid, c->exit_status and c->exited_at (the shim's record, in ms). */
void taskd_events_task_exit(struct taskd_events *ev, const struct container *c);
/* /tasks/delete with the same fields, before the task's state is cleared. */
void taskd_events_task_delete(struct taskd_events *ev, const struct container *c);
/* /tasks/oom */
void taskd_events_task_oom(struct taskd_events *ev, const struct container *c);
/* /tasks/paused or /tasks/resumed, as c->paused says. */
void taskd_events_task_paused(struct taskd_events *ev, const struct container *c);
/* /tasks/exec-added and /tasks/exec-started of an exec that started as `pid` (exec_id is
 * pointed to, not copied). */
void taskd_events_exec_started(struct taskd_events *ev, const struct container *c,
                               const char *exec_id, uint32_t pid);
/* Queue the events of `ev` (NULL: none) in namespace `ns`, inside the open transaction. */
int taskd_events_add(sqlite3 *db, const char *ns, const struct taskd_events *ev, br_err *err);

/* ---- store.c ---- */

int taskd_store_open(const char *path, sqlite3 **ret, br_err *err);
/* A row in state "creating": reserved, side effects may exist. In the same transaction the
 * container's lease in snapshotd (its writable snapshot) is recorded and queued. */
int taskd_store_insert(struct taskd *t, const struct container *c, br_err *err);
/* Make the row "ready" with everything create produced, and emit /containers/create. */
int taskd_store_ready(struct taskd *t, const struct container *c, const char *spec, br_err *err);
/* Record the task state of `c` and, in the same transaction, the events `ev` (may be NULL). */
int taskd_store_set_task(struct taskd *t, const struct container *c, const struct taskd_events *ev,
                         br_err *err);
/* Delete the row and, in the same transaction, emit `ev` (may be NULL) and queue the deletion
 * of its lease, so that snapshotd collects its snapshot whenever it can. */
int taskd_store_delete(struct taskd *t, const char *ns, const char *id,
                       const struct taskd_events *ev, br_err *err);
/* "container-<id>": the lease of a container (in its namespace), in `out`. */
void taskd_lease_id(const char *id, char out[BR_LEASE_ID_MAX + 1]);
/* The lease resource of the container's snapshot (type "snapshots[/<snapshotter>]"), with
 * strings in `arena`. */
struct br_lease_resource taskd_lease_resource(const struct container *c, br_arena *arena);
/* Record c->name, the new name, and emit /containers/update in the same transaction. A name
 * taken meanwhile is ALREADY_EXISTS. */
int taskd_store_rename(struct taskd *t, const struct container *c, br_err *err);
/* The stored spec (heap), NOT_FOUND if the row is gone. */
int taskd_store_spec(sqlite3 *db, const char *ns, const char *id, char **ret, br_err *err);
/* Load every row into the table; rows still "creating" come back with c->creating set. */
int taskd_store_load(struct taskd *t, br_err *err);

/* ---- bundle.c (workers) ---- */

/* Mount the snapshot's mounts at `target` (created if missing). */
int taskd_mount_rootfs(const struct br_mount *mounts, size_t n, const char *target, br_err *err);
/* Unmount everything mounted at `target`; not mounted is success. */
int taskd_unmount_rootfs(const char *target, br_err *err);
/* Unmount the rootfs and remove the bundle directory, whatever is left in it. */
int taskd_bundle_remove(const char *bundle_dir, br_err *err);
/* `<runtime> --root ROOT delete --force ID`: for a task whose shim is gone. */
int taskd_runtime_force_delete(const char *runtime, const char *root, const char *id, br_err *err);
/* Write `data` to dir/name atomically. */
int taskd_write_file(const char *dir, const char *name, const char *data, br_err *err);

/* ---- create.c ---- */

/* RPC handlers (here and in tasks.c, logs.c): loop thread; each replies exactly once, now or
 * from a worker's completion. */
void taskd_containers_create(br_call *call, void *data);
void taskd_containers_delete(br_call *call, void *data);
/* Release what a container holds at its peers: its network, then its snapshot. Fails only
 * when netd could not detach the network; a snapshot snapshotd cannot remove now goes with
 * the container's lease (logged). Worker. */
int taskd_release_peers(struct taskd *t, const char *ns, const char *id, const char *snapshotter,
                        const char *snapshot_key, br_err *err);
/* The same for work whose caller already has its answer: a failure is logged. Worker. */
void taskd_release_peers_logged(struct taskd *t, const struct container *c);
/* Delete `c` for its auto_remove, as containers.delete does, with no caller to answer; a
 * failure calls taskd_supervise_remove_failed. */
void taskd_container_auto_remove(struct taskd *t, struct container *c);

/* ---- tasks.c ---- */

void taskd_tasks_start(br_call *call, void *data);
/* Start the task of `c` (created, not busy): answers `call` when it is not NULL; with
 * attach_fd >= 0 (taken), that stream is attached to the shim with `attach` between the
 * runtime's create and start, or told why the start failed. -1 with err when refused at once
 * (the caller keeps attach_fd then). */
struct br_shim_req;
int taskd_task_start(struct taskd *t, struct container *c, br_call *call, int attach_fd,
                     const struct br_shim_req *attach, br_err *err);
void taskd_tasks_get(br_call *call, void *data);
void taskd_tasks_kill(br_call *call, void *data);
void taskd_tasks_stop(br_call *call, void *data);
void taskd_tasks_pause(br_call *call, void *data);
void taskd_tasks_resume(br_call *call, void *data);
void taskd_tasks_wait(br_call *call, void *data);
void taskd_tasks_delete(br_call *call, void *data);
/* Worker: end a task through its shim (kill -9 of every process and a bounded wait first when
 * kill_first; then the shim's delete, after which it exits), or, when the shim is gone, with
 * `<runtime> delete --force` (runtime may be NULL: skipped). */
int taskd_task_teardown(const char *task_dir, const char *runtime, const char *root, const char *id,
                        bool kill_first, br_err *err);
/* Watch a running task's shim for its exit (connects and sends "wait"). */
void taskd_watch_exit(struct taskd *t, struct container *c);
/* Record the exit of a running (or, at start-up, starting) task: state, database and
 * /tasks/exit in one transaction (preceded by /tasks/create and /tasks/start for a task
 * whose start was never recorded), then waiters. `status` and `exited_at` (ms) are what
 * the shim persisted. Does nothing for a task that is not running: an exit is recorded, and
 * its event emitted, once. `oom_killed`: the shim saw the OOM killer strike in the container
 * (/tasks/oom first). `reason` (may be NULL) says why taskd chose the status. Then the
 * restart policy and auto_remove act (supervise.c). */
void taskd_task_exited(struct taskd *t, struct container *c, int64_t status, int64_t exited_at,
                       bool oom_killed, const char *reason);
/* Close the exit watch (shutdown, delete). */
void taskd_unwatch(struct container *c);

/* ---- logs.c ---- */

void taskd_tasks_logs(br_call *call, void *data);
/* Wake parked calls of `c`: waits when the task exited, logs on new output or exit. */
void taskd_wake_waiters(struct taskd *t, struct container *c, bool exited);
/* Park a tasks.wait call until the exit or `timeout_ms` (<= 0: the call's deadline). */
void taskd_park_wait(struct taskd *t, struct container *c, br_call *call, int64_t timeout_ms);
/* Answer every parked call now (shutdown, container removal). */
void taskd_flush_waiters(struct taskd *t, struct container *c);
/* Remove a container's log directory (any thread); a missing one is no error. */
int taskd_logs_remove(const char *log_dir, br_err *err);

/* daemon.namespace: containers of `ns`. */
int taskd_ns_usage(void *data, const char *ns, br_arena *arena, struct br_strlist *ret,
                   br_err *err);
/* The daemon's metrics hook (struct br_daemon.metrics): containers by state and the shims
 * taskd watches (docs/metrics.md). */
struct br_metrics;
void taskd_metrics(void *data, struct br_metrics *m);

/* ---- streams.c ---- */

/* Listen on <state>/taskd-stream.sock for streams the gateway hands over. */
int taskd_streams_start(struct taskd *t, br_err *err);
void taskd_streams_stop(struct taskd *t);
/* From a container's spec: whether its process has a terminal, and whether its stdin is kept
 * open (the annotation TASKD_ANNOTATION_STDIN). */
int taskd_spec_stdio(const char *spec, bool *ret_terminal, bool *ret_open_stdin, br_err *err);
/* The OCI process of an exec (heap JSON): the container's process with the request's args,
 * env added (overriding by key), user (resolved in the rootfs), cwd and terminal. */
struct br_task_exec_req;
int taskd_exec_process(const char *spec, const struct br_task_exec_req *req, int rootfs_fd,
                       char **ret, br_err *err);

/* ---- rename.c, top.c, stats.c ---- */

void taskd_containers_rename(br_call *call, void *data);
void taskd_tasks_top(br_call *call, void *data);
void taskd_tasks_stats(br_call *call, void *data);
/* ---- supervise.c ---- */

#define TASKD_RESTART_DELAY_MIN_MS 100
#define TASKD_RESTART_DELAY_MAX_MS 60000
#define TASKD_RESTART_RESET_MS 10000 /* a run this long resets the back-off */
#define TASKD_REMOVE_DRAIN_MS 10000  /* auto_remove waits this long for a follower */
#define TASKD_REMOVE_RETRY_MS 2000
#define TASKD_SHIM_LOST_STATUS 137 /* 128 + SIGKILL: what ending the task does */
#define TASKD_SHIM_LOST_REASON "shim lost"

/* "no" | "on-failure" | "always" | "unless-stopped", or -1. */
int taskd_restart_policy_parse(const char *s);
const char *taskd_restart_policy_name(enum restart_policy p);
/* The exit watch saw the shim's connection close without an exit: confirm the shim is gone,
 * end what the runtime still runs of the container and record the exit (the status the shim
 * persisted, else TASKD_SHIM_LOST_STATUS with reason "shim lost"). A live shim is watched
 * again. */
void taskd_shim_lost(struct taskd *t, struct container *c);
/* After an exit was recorded: restart by the policy, or remove (auto_remove). */
void taskd_supervise_exited(struct taskd *t, struct container *c);
/* Cancel a pending restart or removal (delete, stop, user start). */
void taskd_supervise_cancel(struct container *c);
/* Cancel a pending restart only (a stop or kill by a user; a pending removal stays). */
void taskd_supervise_cancel_restart(struct container *c);
/* After reconcile: restart what the policies say must run, remove what auto_remove left. */
void taskd_supervise_startup(struct taskd *t);
/* A follower (tasks.logs) read the end of an exited task's output. */
void taskd_supervise_drained(struct taskd *t, struct container *c);
/* A restart's start failed (the task is gone): the policy decides again, as for an exit
 * with status 255. */
void taskd_supervise_restart_failed(struct taskd *t, struct container *c);
/* An automatic removal failed (a peer is down): try again later. */
void taskd_supervise_remove_failed(struct taskd *t, struct container *c);

/* ---- requests.c ---- */

#define TASKD_REQUEST_TTL_MS (24LL * 3600 * 1000)
#define TASKD_REQUESTS_MAX 10000

/* The container a request id of `method` in `ns` acted on, and when (ms); 1 found, 0 not. */
int taskd_request_find(struct taskd *t, const char *ns, const char *method, const char *request_id,
                       char **ret_container, int64_t *ret_at, br_err *err);
/* Remember it (expired and surplus entries go). */
int taskd_request_record(struct taskd *t, const char *ns, const char *method,
                         const char *request_id, const char *container, br_err *err);
/* Forget the request ids of `method` that acted on `container` (its create failed...). */
void taskd_request_forget(struct taskd *t, const char *ns, const char *method,
                          const char *container);
/* NULL or "", or a valid id; else INVALID_ARGUMENT. */
int taskd_request_check(const char *request_id, br_err *err);

/* ---- tasks.c (restart) ---- */

/* Start the stopped task of `c` again for its restart policy: the old task is deleted and a
 * new one started, as tasks.start does; a failure is handled as an exit. */
void taskd_task_restart(struct taskd *t, struct container *c);
/* SIGKILL every process of a running task, with no caller to answer (a stop that came while a
 * restart was in flight). */
void taskd_task_kill_all(struct taskd *t, struct container *c);

/* ---- reconcile.c ---- */

/* Before serving: match records with shims, exit files and bundle directories. */
int taskd_reconcile(struct taskd *t, br_err *err);

#endif
