/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tasks.*: a container's process, run by one berth-shim. tasks.start rebuilds the bundle if
 * it is gone (after a reboot the state directory is empty: the rootfs is mounted again from
 * snapshotd and config.json rewritten from the record), starts a shim, which runs the
 * runtime's create, and asks it to start the task. Each running task has an exit watch: a
 * connection to its shim with a "wait" outstanding, polled by the loop, so an exit is known
 * the moment the shim announces it, without a thread per task. Kill and delete go to the
 * shim from workers.
 *
 * Events: /tasks/create and /tasks/start are emitted together when the started task is
 * recorded; /tasks/exit when its exit is, with the status and time the shim persisted (the
 * shim writes its exit file before it announces the exit to anyone); /tasks/delete when the
 * exited task is removed.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/db.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "common/proto/shim.h"
#include "common/proto/snapshots.h"
#include "common/stream.h"
#include "common/xalloc.h"
#include "taskd/shim_client.h"
#include "taskd/taskd.h"

struct exit_watch {
	uv_poll_t poll;
	int fd;
	struct taskd *t;
	struct container *c;
};

struct start_job {
	uv_work_t work;
	struct taskd *t;
	br_call *call;
	struct container *c;
	char *runtime_path;
	char *runtime_root;
	char *spec; /* for a bundle that must be rebuilt */
	const char *shim_path;
	const char *log_level;
	int rc;
	br_err err;
	uint32_t pid;
	int watch_fd;
	int attach_fd;                 /* a stream to attach between create and start, or -1 */
	struct br_shim_req attach_req; /* its attach request */
	bool restart;     /* by the restart policy: call is NULL, the old task goes first */
	uint32_t old_pid; /* restart: the old task, for its /tasks/delete */
	int64_t old_status;
	int64_t old_exited_at;
	char *request_id; /* NULL or the caller's request id */
};

struct shim_job {
	uv_work_t work;
	struct taskd *t;
	br_call *call;
	struct container *c;
	struct br_task_kill_req kill;
	char *runtime_path;
	char *runtime_root;
	int rc;
	br_err err;
};

/* ------------------------------------------------------------------ exit watch */

static void
watch_closed(uv_handle_t *h)
{
	struct exit_watch *w = h->data;
	close(w->fd);
	container_unref(w->c);
	free(w);
}

void
taskd_unwatch(struct container *c)
{
	struct exit_watch *w = c->watch;

	if (w == NULL)
		return;
	c->watch = NULL;
	uv_poll_stop(&w->poll);
	uv_close((uv_handle_t *)&w->poll, watch_closed);
}

static void
watch_event(uv_poll_t *p, int status, int events)
{
	struct exit_watch *w = p->data;
	struct container *c = w->c;
	char buf[BR_SHIM_MSG_MAX];
	ssize_t n = recv(w->fd, buf, sizeof(buf), MSG_DONTWAIT);

	if (n < 0 && (errno == EAGAIN || errno == EINTR) && status == 0)
		return;
	container_ref(c);
	if (n > 0) {
		br_arena *a = br_arena_new();
		msgpack_object obj;
		struct br_shim_reply r;
		br_err err = BR_ERR_INIT;
		if (br_msg_unpack(buf, (size_t)n, a, &obj, &err) == 0 &&
		    br_msg_decode(&obj, &br_shim_reply_schema, "", a, &r, &err) == 0 && r.exited)
			taskd_task_exited(w->t, c, r.exit_status, r.exited_at, r.oom_killed, NULL);
		else
			taskd_shim_lost(w->t, c);
		br_arena_free(a);
	} else {
		taskd_shim_lost(w->t, c);
	}
	taskd_unwatch(c);
	container_unref(c);
}

/* Start polling `fd` (a shim connection with "wait" sent) for the exit. */
static void
watch_fd(struct taskd *t, struct container *c, int fd)
{
	struct exit_watch *w = xnew(struct exit_watch);

	w->fd = fd;
	w->t = t;
	w->c = c;
	container_ref(c);
	uv_poll_init(t->uv, &w->poll, fd);
	w->poll.data = w;
	c->watch = w;
	uv_poll_start(&w->poll, UV_READABLE | UV_DISCONNECT, watch_event);
}

/* Connect to the shim and send an unbounded "wait"; the fd, or -1. Any thread. */
static int
open_wait(const char *task_dir, br_err *err)
{
	_cleanup_close_ int fd = br_shim_connect(task_dir, err);
	struct br_shim_req req = {.v = BR_SHIM_VERSION, .m = "wait"};
	msgpack_sbuffer sb;
	msgpack_packer pk;

	if (fd < 0)
		return -1;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	br_msg_encode(&pk, &br_shim_req_schema, &req);
	ssize_t n = send(fd, sb.data, sb.size, MSG_NOSIGNAL);
	msgpack_sbuffer_destroy(&sb);
	if (n < 0)
		return br_err_errno(err, BR_UNAVAILABLE, errno, "shim wait: send");
	return br_steal_fd(&fd);
}

void
taskd_watch_exit(struct taskd *t, struct container *c)
{
	br_err err = BR_ERR_INIT;
	int fd = open_wait(c->task_dir, &err);

	if (fd < 0) {
		taskd_shim_lost(t, c);
		return;
	}
	watch_fd(t, c, fd);
}

void
taskd_task_exited(struct taskd *t, struct container *c, int64_t status, int64_t exited_at,
                  bool oom_killed, const char *reason)
{
	struct taskd_events ev = {0};
	br_err err = BR_ERR_INIT;

	if (c->task != TASK_RUNNING && c->task != TASK_STARTING)
		return;
	if (c->task == TASK_STARTING)
		taskd_events_task_started(&ev, c);
	c->task = TASK_STOPPED;
	c->paused = false;
	c->exit_status = status;
	c->exited_at = exited_at;
	c->oom_killed = oom_killed;
	free(c->exit_reason);
	c->exit_reason = reason != NULL ? xstrdup(reason) : NULL;
	/* As containerd: /tasks/oom comes before the exit it caused. */
	if (oom_killed)
		taskd_events_task_oom(&ev, c);
	taskd_events_task_exit(&ev, c);
	if (taskd_store_set_task(t, c, &ev, &err) < 0)
		br_log_warn("TASK-DB", "container %s/%s: %s", c->ns, c->id, err.msg);
	br_log_info("TASK-EXIT", "container %s/%s: task %u exited with status %lld%s%s%s", c->ns,
	            c->id, c->pid, (long long)status, oom_killed ? " (OOM-killed)" : "",
	            reason ? ": " : "", reason ? reason : "");
	taskd_wake_waiters(t, c, true);
	taskd_supervise_exited(t, c);
}

/* ------------------------------------------------------------------ start */

/* Worker: the bundle as tasks.start needs it; rebuilt from the record when the state
 * directory lost it. */
static int
ensure_bundle(struct start_job *j, br_err *err)
{
	struct container *c = j->c;
	_cleanup_free_ char *rootfs = xasprintf("%s/rootfs", c->bundle_dir);
	_cleanup_free_ char *config = xasprintf("%s/config.json", c->bundle_dir);

	if (br_mkdir_p(c->bundle_dir, 0700, err) < 0)
		return -1;
	if (!br_is_mountpoint(rootfs)) {
		struct br_call_opts o = {.ns = c->ns, .timeout_ms = TASKD_PEER_TIMEOUT_MS};
		struct br_snap_key_req req = {.snapshotter = c->snapshotter,
		                              .key = c->snapshot_key};
		struct br_snap_mounts_resp mounts;
		br_arena *a = br_arena_new();
		int rc = br_rpc_call(j->t->snapshotd, &o, "snapshots.mounts",
		                     &br_snap_key_req_schema, &req, &br_snap_mounts_resp_schema,
		                     &mounts, a, err);
		if (rc == 0)
			rc = taskd_mount_rootfs(mounts.mounts.v, mounts.mounts.n, rootfs, err);
		br_arena_free(a);
		if (rc < 0)
			return br_err_wrap(err, "mount the rootfs of container \"%s\"", c->id);
	}
	if (access(config, F_OK) < 0 &&
	    taskd_write_file(c->bundle_dir, "config.json", j->spec, err) < 0)
		return -1;
	return 0;
}

static int
start_task(struct start_job *j, br_err *err)
{
	struct container *c = j->c;
	struct br_shim_reply r;
	br_arena *a = br_arena_new();
	_cleanup_close_ int bundle_fd = -1;
	int rc = -1;

	if (ensure_bundle(j, err) < 0)
		goto out;
	bundle_fd = open(c->bundle_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (bundle_fd < 0 || br_rm_rf_at(bundle_fd, "task", err) < 0 ||
	    br_mkdir_p(c->task_dir, 0700, err) < 0 || br_mkdir_p(j->runtime_root, 0700, err) < 0 ||
	    br_mkdir_p(c->log_dir, 0700, err) < 0) {
		if (bundle_fd < 0)
			br_err_errno(err, BR_INTERNAL, errno, "open %s", c->bundle_dir);
		goto out;
	}
	struct taskd_shim_spawn_opts so = {
	        .shim_path = j->shim_path,
	        .id = c->id,
	        .bundle = c->bundle_dir,
	        .runtime = j->runtime_path,
	        .runtime_root = j->runtime_root,
	        .state_dir = c->task_dir,
	        .log_level = j->log_level,
	        .log_dir = c->log_dir,
	        .log_max_size = j->t->cfg->taskd.log_max_size,
	        .log_max_files = j->t->cfg->taskd.log_max_files,
	};
	if (taskd_spec_stdio(j->spec, &so.terminal, &so.open_stdin, err) < 0)
		goto out;
	if (taskd_shim_spawn(&so, a, &r, err) < 0)
		goto out;
	j->pid = r.pid;
	if (j->attach_fd >= 0) {
		/* Attached before the start, the stream misses none of the output. */
		_cleanup_close_ int sock = br_shim_connect(c->task_dir, err);
		if (sock < 0 || br_shim_call_passing(sock, &j->attach_req, j->attach_fd,
		                                     TASKD_SHIM_CALL_TIMEOUT_MS, a, &r, err) < 0) {
			struct br_shim_req del = {.m = "delete", .force = true};
			br_err ignored = BR_ERR_INIT;
			br_shim_call_at(c->task_dir, &del, TASKD_SHIM_CALL_TIMEOUT_MS, a, &r,
			                &ignored);
			goto out;
		}
		close(j->attach_fd);
		j->attach_fd = -1;
	}
	struct br_shim_req start = {.m = "start"};
	if (br_shim_call_at(c->task_dir, &start, TASKD_SHIM_CALL_TIMEOUT_MS, a, &r, err) < 0) {
		struct br_shim_req del = {.m = "delete", .force = true};
		br_err ignored = BR_ERR_INIT;
		br_shim_call_at(c->task_dir, &del, TASKD_SHIM_CALL_TIMEOUT_MS, a, &r, &ignored);
		goto out;
	}
	j->watch_fd = open_wait(c->task_dir, err);
	if (j->watch_fd < 0)
		goto out;
	rc = 0;
out:
	br_arena_free(a);
	return rc;
}

static void
start_work(uv_work_t *w)
{
	struct start_job *j = w->data;

	if (j->restart) {
		/* The old task's shim deletes it (and exits); without one the runtime does. */
		br_err ignored = BR_ERR_INIT;
		taskd_task_teardown(j->c->task_dir, j->runtime_path, j->runtime_root, j->c->id,
		                    false, &ignored);
	}
	j->rc = start_task(j, &j->err);
}

static void
start_job_free(struct start_job *j)
{
	if (j->attach_fd >= 0) {
		/* The stream never reached the shim: it learns why the start failed. */
		br_err ignored = BR_ERR_INIT;
		br_stream_write_reply(j->attach_fd, &j->err, &ignored);
		close(j->attach_fd);
	}
	container_unref(j->c);
	free(j->runtime_path);
	free(j->runtime_root);
	free(j->spec);
	free(j->request_id);
	free(j);
}

static void
start_done(uv_work_t *w, int status)
{
	struct start_job *j = w->data;
	struct taskd *t = j->t;
	struct container *c = j->c;
	struct taskd_events ev = {0};
	br_err err = BR_ERR_INIT;

	taskd_work_done(t);
	c->busy = false;
	c->restart_inflight = false;
	if (j->rc < 0) {
		c->task = TASK_NONE;
		c->pid = 0;
		taskd_store_set_task(t, c, NULL, &err);
		br_err_wrap(&j->err, "start container \"%s\" (runtime %s)", c->id, c->runtime);
		if (j->request_id != NULL)
			taskd_request_forget(t, c->ns, "tasks.start", c->id);
		if (j->call != NULL) {
			br_call_fail(j->call, &j->err);
		} else if (j->restart) {
			br_log_warn("TASK-RESTART", "container %s/%s: %s", c->ns, c->id,
			            j->err.msg);
			taskd_supervise_restart_failed(t, c);
		}
		start_job_free(j);
		return;
	}
	if (j->restart && j->old_pid != 0) {
		/* The old task was deleted: its /tasks/delete precedes the new one's events. */
		c->pid = j->old_pid;
		c->exit_status = j->old_status;
		c->exited_at = j->old_exited_at;
		taskd_events_task_delete(&ev, c);
	} else {
		/* A start by a user begins a new series for the restart policy. */
		c->restart_count = 0;
		c->restart_delay_ms = 0;
		c->stopped_by_user = false;
	}
	c->task = TASK_RUNNING;
	c->pid = j->pid;
	c->exit_status = 0;
	c->exited_at = 0;
	c->oom_killed = false;
	c->started_at = br_db_now();
	/* The old task's /tasks/delete (above) points to its reason: freed once it is written. */
	_cleanup_free_ char *old_reason = c->exit_reason;
	c->exit_reason = NULL;
	taskd_events_task_started(&ev, c);
	if (taskd_store_set_task(t, c, &ev, &err) < 0)
		br_log_warn("TASK-DB", "container %s/%s: %s", c->ns, c->id, err.msg);
	watch_fd(t, c, j->watch_fd);
	br_log_info("TASK-START", "container %s/%s: task %u started", c->ns, c->id, c->pid);
	if (j->call != NULL) {
		struct br_task out;
		task_to_wire(c, &out);
		br_call_reply(j->call, &br_task_schema, &out);
	} else if (c->stopped_by_user) {
		/* A stop came while this restart was under way. */
		taskd_task_kill_all(t, c);
	}
	start_job_free(j);
}

/* The container for a task call, or NULL after failing the call. */
static struct container *
task_container(struct taskd *t, br_call *call, const char *id, bool need_idle)
{
	br_err err = BR_ERR_INIT;
	struct container *c = taskd_get(t, br_call_ns(call), id, &err);

	if (c == NULL) {
		br_call_fail(call, &err);
		return NULL;
	}
	if (need_idle && c->busy) {
		br_call_failf(call, BR_FAILED_PRECONDITION,
		              "container \"%s\" is busy with another operation; try again", id);
		return NULL;
	}
	return c;
}

/* Begin a start of c's task (call NULL and no attach_fd: a restart by the policy, of a
 * stopped task). The call, if any, is answered, or the attached stream told; a restart's
 * failure goes to the policy. */
static void
start_begin(struct taskd *t, struct container *c, br_call *call, const char *request_id,
            int attach_fd, const struct br_shim_req *attach)
{
	struct start_job *j = xnew(struct start_job);
	br_err err = BR_ERR_INIT;

	j->attach_fd = attach_fd;
	if (attach != NULL)
		j->attach_req = *attach;
	j->restart = call == NULL && attach_fd < 0;
	j->old_pid = c->task == TASK_STOPPED ? c->pid : 0; /* 0: no old task to delete */
	j->old_status = c->exit_status;
	j->old_exited_at = c->exited_at;
	if (taskd_runtime_paths(t, c, &j->runtime_path, &j->runtime_root, &err) < 0 ||
	    taskd_store_spec(t->db, c->ns, c->id, &j->spec, &err) < 0)
		goto fail;
	if (request_id != NULL && request_id[0] != '\0') {
		if (taskd_request_record(t, c->ns, "tasks.start", request_id, c->id, &err) < 0)
			goto fail;
		j->request_id = xstrdup(request_id);
	}
	/* Recorded "starting" before the shim exists: after a crash in between, reconcile
	 * finds either the shim (and records the task, with the events this start did not
	 * live to emit) or nothing (the container is "created" again). */
	enum task_state before = c->task;
	c->task = TASK_STARTING;
	c->pid = 0;
	if (taskd_store_set_task(t, c, NULL, &err) < 0) {
		c->task = before;
		c->pid = j->old_pid;
		goto fail;
	}
	c->task = TASK_NONE;
	c->busy = true;
	c->restart_inflight = j->restart;
	if (c->fs_event != NULL)
		taskd_flush_waiters(t, c); /* the task directory is about to be replaced */
	j->t = t;
	j->call = call;
	j->c = c;
	j->shim_path = t->shim_path;
	j->log_level = t->log_level;
	j->watch_fd = -1;
	j->attach_fd = attach_fd;
	if (attach != NULL)
		j->attach_req = *attach;
	j->work.data = j;
	container_ref(c);
	taskd_queue(t, &j->work, start_work, start_done);
	return;
fail:
	free(j->runtime_path);
	free(j->runtime_root);
	free(j->spec);
	free(j->request_id);
	free(j);
	if (attach_fd >= 0) {
		br_err ignored = BR_ERR_INIT;
		br_stream_write_reply(attach_fd, &err, &ignored);
		close(attach_fd);
	} else if (call != NULL) {
		br_call_fail(call, &err);
	} else {
		br_log_warn("TASK-RESTART", "container %s/%s: %s", c->ns, c->id, err.msg);
		taskd_supervise_restart_failed(t, c);
	}
}

void
taskd_task_restart(struct taskd *t, struct container *c)
{
	start_begin(t, c, NULL, NULL, -1, NULL);
}

int
taskd_task_start(struct taskd *t, struct container *c, br_call *call, int attach_fd,
                 const struct br_shim_req *attach, br_err *err)
{
	if (c->busy)
		return br_err_set(err, BR_FAILED_PRECONDITION,
		                  "container \"%s\" is busy with another operation; try again",
		                  c->id);
	if (c->task == TASK_RUNNING)
		return br_err_set(err, BR_FAILED_PRECONDITION,
		                  "the task of container \"%s\" is already running", c->id);
	if (c->task == TASK_STOPPED)
		return br_err_set(err, BR_FAILED_PRECONDITION,
		                  "container \"%s\" has a stopped task; delete it first", c->id);
	taskd_supervise_cancel(c);
	start_begin(t, c, call, NULL, attach_fd, attach);
	return 0;
}

/* tasks.start asked again under its request id: answer with what the first one did (1), or
 * 0 when there is nothing to answer (the first one failed, or never ran). */
static int
start_replay(struct taskd *t, br_call *call, struct container *c, const char *request_id)
{
	_cleanup_free_ char *container = NULL;
	int64_t at = 0;
	br_err err = BR_ERR_INIT;
	int found = taskd_request_find(t, c->ns, "tasks.start", request_id, &container, &at, &err);

	if (found < 0) {
		br_call_fail(call, &err);
		return 1;
	}
	if (found == 0 || strcmp(container, c->id) != 0)
		return 0;
	if (c->busy) {
		br_call_failf(call, BR_UNAVAILABLE,
		              "the start of container \"%s\" is still under way; try again", c->id);
		return 1;
	}
	if ((c->task == TASK_RUNNING || c->task == TASK_STOPPED) && c->started_at >= at) {
		br_log_info("TASK-REPLAY",
		            "container %s/%s: start request %s asked again: answered with its task",
		            c->ns, c->id, request_id);
		struct br_task out;
		task_to_wire(c, &out);
		br_call_reply(call, &br_task_schema, &out);
		return 1;
	}
	taskd_request_forget(t, c->ns, "tasks.start", c->id);
	return 0;
}

void
taskd_tasks_start(br_call *call, void *data)
{
	struct taskd *t = data;
	const struct br_container_id_req *req = br_call_params(call);
	br_err err = BR_ERR_INIT;

	if (taskd_request_check(req->request_id, &err) < 0) {
		br_call_fail(call, &err);
		return;
	}
	struct container *c = task_container(t, call, req->id, false);
	if (c == NULL)
		return;
	if (req->request_id != NULL && req->request_id[0] != '\0' &&
	    start_replay(t, call, c, req->request_id))
		return;
	if (c->busy) {
		br_call_failf(call, BR_FAILED_PRECONDITION,
		              "container \"%s\" is busy with another operation; try again", c->id);
		return;
	}
	if (c->task == TASK_RUNNING) {
		br_call_failf(call, BR_FAILED_PRECONDITION,
		              "the task of container \"%s\" is already running", c->id);
		return;
	}
	if (c->task == TASK_STOPPED) {
		br_call_failf(call, BR_FAILED_PRECONDITION,
		              "container \"%s\" has a stopped task; delete it first", c->id);
		return;
	}
	taskd_supervise_cancel(c);
	start_begin(t, c, call, req->request_id, -1, NULL);
}

/* ------------------------------------------------------------------ get, wait */

void
taskd_tasks_get(br_call *call, void *data)
{
	struct taskd *t = data;
	const struct br_container_id_req *req = br_call_params(call);
	struct container *c = task_container(t, call, req->id, false);
	struct br_task out;

	if (c == NULL)
		return;
	if (c->task == TASK_NONE) {
		br_call_failf(call, BR_NOT_FOUND, "container \"%s\" has no task", c->id);
		return;
	}
	task_to_wire(c, &out);
	br_call_reply(call, &br_task_schema, &out);
}

void
taskd_tasks_wait(br_call *call, void *data)
{
	struct taskd *t = data;
	const struct br_task_wait_req *req = br_call_params(call);
	struct container *c = task_container(t, call, req->id, false);
	struct br_task out;

	if (c == NULL)
		return;
	if (c->task == TASK_NONE && !c->busy) {
		br_call_failf(call, BR_NOT_FOUND, "container \"%s\" has no task", c->id);
		return;
	}
	if (c->task == TASK_STOPPED) {
		task_to_wire(c, &out);
		br_call_reply(call, &br_task_schema, &out);
		return;
	}
	taskd_park_wait(t, c, call, req->timeout_ms);
}

/* ------------------------------------------------------------------ kill, delete */

int
taskd_task_teardown(const char *task_dir, const char *runtime, const char *root, const char *id,
                    bool kill_first, br_err *err)
{
	br_arena *a = br_arena_new();
	struct br_shim_reply r;
	br_err probe = BR_ERR_INIT;
	int rc = 0;
	int fd = br_shim_connect(task_dir, &probe);

	if (fd < 0) {
		/* No shim: what the runtime still knows goes (killing what may run). */
		br_err ignored = BR_ERR_INIT;
		if (runtime != NULL)
			taskd_runtime_force_delete(runtime, root, id, &ignored);
		br_arena_free(a);
		return 0;
	}
	if (kill_first) {
		struct br_shim_req kill = {.m = "kill", .signal = 9, .all = true};
		struct br_shim_req wait = {.m = "wait", .timeout_ms = TASKD_FORCE_WAIT_MS};
		br_err ignored = BR_ERR_INIT;
		br_shim_call(fd, &kill, TASKD_SHIM_CALL_TIMEOUT_MS, a, &r, &ignored);
		br_shim_call(fd, &wait, TASKD_FORCE_WAIT_MS + 5000, a, &r, &ignored);
	}
	struct br_shim_req del = {.m = "delete", .force = kill_first};
	if (br_shim_call(fd, &del, TASKD_SHIM_CALL_TIMEOUT_MS, a, &r, err) < 0)
		rc = br_err_wrap(err, "delete task");
	close(fd);
	br_arena_free(a);
	return rc;
}

static void
kill_work(uv_work_t *w)
{
	struct shim_job *j = w->data;
	br_arena *a = br_arena_new();
	struct br_shim_reply r;
	struct br_shim_req req = {.m = "kill", .signal = j->kill.signal, .all = j->kill.all};

	j->rc = br_shim_call_at(j->c->task_dir, &req, TASKD_SHIM_CALL_TIMEOUT_MS, a, &r, &j->err);
	br_arena_free(a);
}

static void
kill_done(uv_work_t *w, int status)
{
	struct shim_job *j = w->data;

	taskd_work_done(j->t);
	if (j->rc < 0) {
		br_err_wrap(&j->err, "kill the task of container \"%s\"", j->c->id);
		if (j->call != NULL)
			br_call_fail(j->call, &j->err);
		else
			br_log_warn("TASK-KILL", "container %s/%s: %s", j->c->ns, j->c->id,
			            j->err.msg);
	} else if (j->call != NULL) {
		br_call_reply(j->call, NULL, NULL);
	}
	container_unref(j->c);
	free(j);
}

void
taskd_task_kill_all(struct taskd *t, struct container *c)
{
	struct shim_job *j = xnew(struct shim_job);

	j->t = t;
	j->c = c;
	j->kill = (struct br_task_kill_req){.id = c->id, .signal = SIGKILL, .all = true};
	j->work.data = j;
	container_ref(c);
	taskd_queue(t, &j->work, kill_work, kill_done);
}

/* A stop or kill by a user: the restart policy restarts the container no more (recorded, so
 * that "unless-stopped" remembers it across taskd restarts), and a pending restart is off. */
static void
stopped_by_user(struct taskd *t, struct container *c)
{
	br_err err = BR_ERR_INIT;

	taskd_supervise_cancel_restart(c);
	if (c->stopped_by_user)
		return;
	c->stopped_by_user = true;
	if (c->restart_policy != RESTART_NO && taskd_store_set_task(t, c, NULL, &err) < 0)
		br_log_warn("TASK-DB", "container %s/%s: %s", c->ns, c->id, err.msg);
}

void
taskd_tasks_kill(br_call *call, void *data)
{
	struct taskd *t = data;
	const struct br_task_kill_req *req = br_call_params(call);
	struct container *c = task_container(t, call, req->id, false);

	if (c == NULL)
		return;
	if (req->signal > 64) {
		br_call_failf(call, BR_INVALID_ARGUMENT, "signal %u is out of range (1-64)",
		              req->signal);
		return;
	}
	if (c->task != TASK_RUNNING && c->restart_policy != RESTART_NO &&
	    (c->restart_timer != NULL || c->restart_inflight)) {
		/* Restarting: the kill ends it, as docker's does. */
		stopped_by_user(t, c);
		br_call_reply(call, NULL, NULL);
		return;
	}
	if (c->task != TASK_RUNNING) {
		br_call_failf(call, BR_FAILED_PRECONDITION, "container \"%s\" has no running task",
		              c->id);
		return;
	}
	stopped_by_user(t, c);
	struct shim_job *j = xnew(struct shim_job);
	j->t = t;
	j->call = call;
	j->c = c;
	j->kill = *req;
	j->work.data = j;
	container_ref(c);
	taskd_queue(t, &j->work, kill_work, kill_done);
}

/* ------------------------------------------------------------------ stop */

struct stop_job {
	uv_work_t work;
	struct taskd *t;
	br_call *call;
	struct container *c;
	uint32_t signal;
	int64_t timeout_ms;
	bool paused;  /* the task was paused: thaw it first, so it can handle the signal */
	bool resumed; /* ... and it was thawed */
	int rc;
	br_err err;
};

/* The worker: the stop signal, a wait of timeout_ms, then SIGKILL to every process and a wait
 * for the exit. All of it happens here, in taskd, so a client that goes away midway leaves no
 * container that got the signal but never the SIGKILL. A kill refused because the init exited
 * meanwhile is no error: the wait that follows sees the exit. */
static void
stop_work(uv_work_t *w)
{
	struct stop_job *j = w->data;
	_cleanup_(br_arena_freep) br_arena *a = br_arena_new();
	struct br_shim_reply r = {0};
	br_err ignored = BR_ERR_INIT;
	_cleanup_close_ int fd = br_shim_connect(j->c->task_dir, &j->err);

	if (fd < 0) {
		j->rc = -1;
		return;
	}
	struct br_shim_req resume = {.m = "resume"};
	if (j->paused)
		j->resumed =
		        br_shim_call(fd, &resume, TASKD_SHIM_CALL_TIMEOUT_MS, a, &r, &ignored) == 0;
	struct br_shim_req term = {.m = "kill", .signal = j->signal};
	struct br_shim_req wait = {.m = "wait", .timeout_ms = j->timeout_ms};
	if (j->timeout_ms > 0 &&
	    br_shim_call(fd, &term, TASKD_SHIM_CALL_TIMEOUT_MS, a, &r, &ignored) == 0 &&
	    br_shim_call(fd, &wait, j->timeout_ms + TASKD_SHIM_CALL_TIMEOUT_MS, a, &r, &j->err) ==
	            0 &&
	    r.exited)
		return;
	br_err_clear(&j->err);
	struct br_shim_req kill = {.m = "kill", .signal = SIGKILL, .all = true};
	br_shim_call(fd, &kill, TASKD_SHIM_CALL_TIMEOUT_MS, a, &r, &ignored);
	wait.timeout_ms = TASKD_FORCE_WAIT_MS;
	if (br_shim_call(fd, &wait, TASKD_FORCE_WAIT_MS + TASKD_SHIM_CALL_TIMEOUT_MS, a, &r,
	                 &j->err) < 0)
		j->rc = -1;
	else if (!r.exited)
		j->rc = br_err_set(&j->err, BR_DEADLINE_EXCEEDED,
		                   "the task did not exit %d s after SIGKILL",
		                   TASKD_FORCE_WAIT_MS / 1000);
}

static void
stop_done(uv_work_t *w, int status)
{
	struct stop_job *j = w->data;
	struct container *c = j->c;
	struct br_task out;

	taskd_work_done(j->t);
	if (j->resumed && c->task == TASK_RUNNING && c->paused) {
		struct taskd_events ev = {0};
		br_err err = BR_ERR_INIT;
		c->paused = false;
		taskd_events_task_paused(&ev, c);
		if (taskd_store_set_task(j->t, c, &ev, &err) < 0)
			br_log_warn("TASK-DB", "container %s/%s: %s", c->ns, c->id, err.msg);
	}
	if (j->rc < 0) {
		br_err_wrap(&j->err, "stop container \"%s\"", c->id);
		br_call_fail(j->call, &j->err);
	} else if (c->task == TASK_RUNNING && !j->t->stopping) {
		/* The shim announced the exit; its watch records it shortly. */
		taskd_park_wait(j->t, c, j->call, TASKD_FORCE_WAIT_MS);
	} else {
		task_to_wire(c, &out);
		br_call_reply(j->call, &br_task_schema, &out);
	}
	container_unref(c);
	free(j);
}

void
taskd_tasks_stop(br_call *call, void *data)
{
	struct taskd *t = data;
	const struct br_task_stop_req *req = br_call_params(call);
	struct container *c = task_container(t, call, req->id, false);
	struct br_task out;

	if (c == NULL)
		return;
	if (req->timeout_ms < 0 || req->timeout_ms > BR_TASK_STOP_TIMEOUT_MAX_MS) {
		br_call_failf(call, BR_INVALID_ARGUMENT,
		              "stop timeout %lld ms is out of range (0-%d)",
		              (long long)req->timeout_ms, BR_TASK_STOP_TIMEOUT_MAX_MS);
		return;
	}
	stopped_by_user(t, c);
	if (c->restart_inflight) {
		/* The restart kills what it started (start_done); answered at that exit. */
		taskd_park_wait(t, c, call, TASKD_FORCE_WAIT_MS + TASKD_SHIM_CALL_TIMEOUT_MS);
		return;
	}
	/* Not running is stopped already: answered with the state, as docker does. */
	if (c->task != TASK_RUNNING) {
		if (c->busy) {
			br_call_failf(call, BR_FAILED_PRECONDITION,
			              "container \"%s\" is busy with another operation; try again",
			              c->id);
			return;
		}
		task_to_wire(c, &out);
		br_call_reply(call, &br_task_schema, &out);
		return;
	}
	struct stop_job *j = xnew(struct stop_job);
	j->t = t;
	j->call = call;
	j->c = c;
	j->signal = c->stop_signal > 0 ? (uint32_t)c->stop_signal : SIGTERM;
	j->timeout_ms = req->timeout_ms;
	j->paused = c->paused;
	j->work.data = j;
	container_ref(c);
	taskd_queue(t, &j->work, stop_work, stop_done);
}

/* ------------------------------------------------------------------ pause, resume */

struct pause_job {
	uv_work_t work;
	struct taskd *t;
	br_call *call;
	struct container *c;
	bool pause; /* else resume */
	int rc;
	br_err err;
};

static void
pause_work(uv_work_t *w)
{
	struct pause_job *j = w->data;
	_cleanup_(br_arena_freep) br_arena *a = br_arena_new();
	struct br_shim_reply r;
	struct br_shim_req req = {.m = j->pause ? "pause" : "resume"};

	j->rc = br_shim_call_at(j->c->task_dir, &req, TASKD_SHIM_CALL_TIMEOUT_MS, a, &r, &j->err);
}

/* The freeze or thaw is recorded with its event in one transaction; a task that exited
 * meanwhile stays stopped. */
static void
pause_done(uv_work_t *w, int status)
{
	struct pause_job *j = w->data;
	struct container *c = j->c;
	struct taskd_events ev = {0};
	struct br_task out;
	br_err err = BR_ERR_INIT;

	taskd_work_done(j->t);
	c->busy = false;
	if (j->rc < 0) {
		br_err_wrap(&j->err, "%s container \"%s\"", j->pause ? "pause" : "unpause", c->id);
		br_call_fail(j->call, &j->err);
		goto out;
	}
	if (c->task == TASK_RUNNING && c->paused != j->pause) {
		c->paused = j->pause;
		taskd_events_task_paused(&ev, c);
		if (taskd_store_set_task(j->t, c, &ev, &err) < 0) {
			c->paused = !j->pause;
			br_call_fail(j->call, &err);
			goto out;
		}
		br_log_info("TASK-PAUSE", "container %s/%s: task %u %s", c->ns, c->id, c->pid,
		            j->pause ? "paused" : "resumed");
	}
	task_to_wire(c, &out);
	br_call_reply(j->call, &br_task_schema, &out);
out:
	container_unref(c);
	free(j);
}

static void
pause_or_resume(br_call *call, struct taskd *t, bool pause)
{
	const struct br_container_id_req *req = br_call_params(call);
	struct container *c = task_container(t, call, req->id, true);

	if (c == NULL)
		return;
	if (c->task != TASK_RUNNING) {
		br_call_failf(call, BR_FAILED_PRECONDITION, "container \"%s\" is not running",
		              c->id);
		return;
	}
	if (c->paused == pause) {
		br_call_failf(call, BR_FAILED_PRECONDITION, "container \"%s\" is %s", c->id,
		              pause ? "already paused" : "not paused");
		return;
	}
	struct pause_job *j = xnew(struct pause_job);
	j->t = t;
	j->call = call;
	j->c = c;
	j->pause = pause;
	j->work.data = j;
	c->busy = true;
	container_ref(c);
	taskd_queue(t, &j->work, pause_work, pause_done);
}

void
taskd_tasks_pause(br_call *call, void *data)
{
	pause_or_resume(call, data, true);
}

void
taskd_tasks_resume(br_call *call, void *data)
{
	pause_or_resume(call, data, false);
}

static void
delete_work(uv_work_t *w)
{
	struct shim_job *j = w->data;
	j->rc = taskd_task_teardown(j->c->task_dir, j->runtime_path, j->runtime_root, j->c->id,
	                            false, &j->err);
}

static void
delete_done(uv_work_t *w, int status)
{
	struct shim_job *j = w->data;
	struct taskd *t = j->t;
	struct container *c = j->c;
	br_err err = BR_ERR_INIT;

	taskd_work_done(t);
	c->busy = false;
	if (j->rc < 0) {
		br_err_wrap(&j->err, "container \"%s\"", c->id);
		br_call_fail(j->call, &j->err);
	} else {
		/* The answer is the final state; its strings stay valid (c->id) while the task's
		 * state is cleared. */
		struct br_task out;
		struct taskd_events ev = {0};
		task_to_wire(c, &out);
		taskd_events_task_delete(&ev, c);
		c->task = TASK_NONE;
		c->pid = 0;
		/* The answer and /tasks/delete point to the reason: freed once both are out. */
		_cleanup_free_ char *old_reason = c->exit_reason;
		c->exit_reason = NULL;
		if (taskd_store_set_task(t, c, &ev, &err) < 0)
			br_log_warn("TASK-DB", "container %s/%s: %s", c->ns, c->id, err.msg);
		br_call_reply(j->call, &br_task_schema, &out);
		taskd_flush_waiters(t, c);
	}
	container_unref(c);
	free(j->runtime_path);
	free(j->runtime_root);
	free(j);
}

void
taskd_tasks_delete(br_call *call, void *data)
{
	struct taskd *t = data;
	const struct br_container_id_req *req = br_call_params(call);
	struct container *c = task_container(t, call, req->id, true);
	br_err err = BR_ERR_INIT;

	if (c == NULL)
		return;
	if (c->task == TASK_NONE) {
		br_call_failf(call, BR_NOT_FOUND, "container \"%s\" has no task", c->id);
		return;
	}
	if (c->task == TASK_RUNNING) {
		br_call_failf(call, BR_FAILED_PRECONDITION,
		              "the task of container \"%s\" is running; kill it first", c->id);
		return;
	}
	taskd_supervise_cancel(c);
	struct shim_job *j = xnew(struct shim_job);
	taskd_runtime_paths(t, c, &j->runtime_path, &j->runtime_root, &err);
	j->t = t;
	j->call = call;
	j->c = c;
	j->work.data = j;
	c->busy = true;
	container_ref(c);
	taskd_queue(t, &j->work, delete_work, delete_done);
}
