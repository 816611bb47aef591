/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Start-up repair: taskd may have been killed at any moment, and /run may have been emptied
 * by a reboot. Before serving, every record is matched with what is on disk:
 *
 *   - a record still "creating": its bundle is removed and its snapshot and network released
 *     (on a worker, once peers may answer); the record goes; no event was emitted for it;
 *   - a running task whose shim is alive and answers: reattached (its exit is watched again);
 *     a shim that already announced the exit: stopped with that status;
 *   - a running task whose shim is dead: whatever the runtime still holds is force-deleted
 *     (killing what runs), then the task is stopped with the status of its exit file, or
 *     137 and the reason "shim lost" when there is none;
 *   - a "starting" task (taskd died inside tasks.start): as a running one when its shim is
 *     alive, with /tasks/create and /tasks/start emitted now; without a live shim the start
 *     never took effect (its task directory may hold the exit file of an earlier run, so
 *     that is not read): the container is "created" again;
 *   - a running task whose rootfs mount is missing: left alone (the container has its own
 *     mount namespace);
 *   - a bundle directory without a record: its shim (if any) deletes the task, then the
 *     rootfs is unmounted and the directory removed;
 *   - a volume directory without a record, or one a delete renamed aside: removed.
 *
 * An exit found here (announced by a live shim, or in a dead shim's exit file) is recorded
 * with its /tasks/exit in one transaction, as at run time: a task recorded "stopped" had its
 * event emitted, so an exit is emitted once however often taskd restarts.
 *
 * Runs on the main thread before the loop starts, so it may block; live shims answer within
 * milliseconds and dead ones are detected by their pid file without waiting.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/db.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "common/proto/shim.h"
#include "common/xalloc.h"
#include "taskd/shim_client.h"
#include "taskd/taskd.h"

struct undo_job {
	uv_work_t work;
	struct taskd *t;
	struct container *c;
};

static void
undo_work(uv_work_t *w)
{
	struct undo_job *j = w->data;

	taskd_release_peers_logged(j->t, j->c);
}

static void
undo_done(uv_work_t *w, int status)
{
	struct undo_job *j = w->data;
	br_err err = BR_ERR_INIT;

	taskd_work_done(j->t);
	taskd_request_forget(j->t, j->c->ns, "containers.create", j->c->id);
	if (taskd_store_delete(j->t, j->c->ns, j->c->id, NULL, &err) < 0)
		br_log_warn("TASK-DB", "container %s/%s: %s", j->c->ns, j->c->id, err.msg);
	taskd_remove(j->t, j->c);
	container_unref(j->c);
	free(j);
}

static void
undo_create(struct taskd *t, struct container *c)
{
	br_err err = BR_ERR_INIT;

	br_log_notice("TASK-RECONCILE", "container %s/%s: undoing a create that was interrupted",
	              c->ns, c->id);
	if (taskd_bundle_remove(c->bundle_dir, &err) < 0 || taskd_logs_remove(c->log_dir, &err) < 0)
		br_log_warn("TASK-BUNDLE-LEAK", "container %s/%s: %s", c->ns, c->id, err.msg);
	struct undo_job *j = xnew(struct undo_job);
	j->t = t;
	j->c = c;
	j->work.data = j;
	container_ref(c);
	taskd_queue(t, &j->work, undo_work, undo_done);
}

/* Nothing supervises what the runtime may still run for `c`: end it. */
static void
force_delete(struct taskd *t, struct container *c)
{
	_cleanup_free_ char *runtime = NULL;
	_cleanup_free_ char *root = NULL;
	br_err err = BR_ERR_INIT;

	if (taskd_runtime_paths(t, c, &runtime, &root, &err) == 0 &&
	    taskd_runtime_force_delete(runtime, root, c->id, &err) == 0)
		br_log_info("TASK-RECONCILE", "container %s/%s: removed from %s", c->ns, c->id,
		            runtime);
}

/* A task whose start taskd did not live to record runs: record it, with its events. */
static void
record_started(struct taskd *t, struct container *c)
{
	struct taskd_events ev = {0};
	br_err err = BR_ERR_INIT;

	c->task = TASK_RUNNING;
	c->exit_status = 0;
	c->exited_at = 0;
	c->started_at = br_db_now();
	taskd_events_task_started(&ev, c);
	if (taskd_store_set_task(t, c, &ev, &err) < 0)
		br_log_warn("TASK-DB", "container %s/%s: %s", c->ns, c->id, err.msg);
}

static void
reattach(struct taskd *t, struct container *c)
{
	br_arena *a = br_arena_new();
	struct br_shim_reply r;
	br_err err = BR_ERR_INIT;

	if (taskd_shim_alive(c->task_dir, a, &r)) {
		c->pid = r.pid;
		if (r.status != NULL && strcmp(r.status, "created") == 0) {
			/* taskd died between the runtime's create and start: the start was never
			 * acknowledged, so the task goes and the container is "created" again. */
			br_log_notice("TASK-RECONCILE",
			              "container %s/%s: removing a task that was never started",
			              c->ns, c->id);
			if (taskd_task_teardown(c->task_dir, NULL, NULL, c->id, false, &err) < 0)
				br_log_warn("TASK-RECONCILE", "container %s/%s: %s", c->ns, c->id,
				            err.msg);
			c->task = TASK_NONE;
			c->pid = 0;
			br_err_clear(&err);
			if (taskd_store_set_task(t, c, NULL, &err) < 0)
				br_log_warn("TASK-DB", "container %s/%s: %s", c->ns, c->id,
				            err.msg);
		} else if (r.exited) {
			taskd_task_exited(t, c, r.exit_status, r.exited_at, r.oom_killed, NULL);
		} else {
			if (c->task == TASK_STARTING)
				record_started(t, c);
			taskd_watch_exit(t, c);
			br_log_info("TASK-RECONCILE", "container %s/%s: reattached to task %u",
			            c->ns, c->id, c->pid);
		}
		br_arena_free(a);
		return;
	}
	br_arena_free(a);
	if (c->task == TASK_STARTING) {
		br_log_notice("TASK-RECONCILE",
		              "container %s/%s: the task of an unfinished start has no shim; the "
		              "container is created again",
		              c->ns, c->id);
		c->task = TASK_NONE;
		c->pid = 0;
		if (taskd_store_set_task(t, c, NULL, &err) < 0)
			br_log_warn("TASK-DB", "container %s/%s: %s", c->ns, c->id, err.msg);
		force_delete(t, c);
		return;
	}

	/* The shim is gone. Whatever the runtime still runs of the container is ended first;
	 * then its exit file, if any, has the truth. */
	force_delete(t, c);
	_cleanup_close_ int dirfd = open(c->task_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int64_t status, at;
	bool oom = false;
	if (dirfd >= 0 && br_shim_read_exit_oom(dirfd, &status, &at, &oom, &err) == 0) {
		br_log_notice("TASK-RECONCILE",
		              "container %s/%s: the task exited with status %lld while taskd was "
		              "down",
		              c->ns, c->id, (long long)status);
		taskd_task_exited(t, c, status, at, oom, NULL);
	} else {
		br_log_warn("TASK-RECONCILE",
		            "container %s/%s: the shim is gone and recorded no exit; the container "
		            "was killed, reporting exit status %d",
		            c->ns, c->id, TASKD_SHIM_LOST_STATUS);
		taskd_task_exited(t, c, TASKD_SHIM_LOST_STATUS, br_db_now(), false,
		                  TASKD_SHIM_LOST_REASON);
	}
}

/* Bundle directories of <state>/taskd/bundles/<ns>/ that no record owns. */
static void
remove_orphans(struct taskd *t, const char *ns)
{
	_cleanup_free_ char *dir = xasprintf("%s/bundles/%s", t->state_dir, ns);
	_cleanup_closedir_ DIR *d = opendir(dir);
	struct dirent *e;

	while (d != NULL && (e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.' || taskd_find(t, ns, e->d_name) != NULL)
			continue;
		_cleanup_free_ char *bundle = xasprintf("%s/%s", dir, e->d_name);
		_cleanup_free_ char *task = xasprintf("%s/task", bundle);
		br_err err = BR_ERR_INIT;
		br_log_notice("TASK-RECONCILE", "removing bundle %s: no container record", bundle);
		if (taskd_task_teardown(task, NULL, NULL, e->d_name, true, &err) < 0)
			br_log_warn("TASK-RECONCILE", "bundle %s: %s", bundle, err.msg);
		br_err_clear(&err);
		if (taskd_bundle_remove(bundle, &err) < 0)
			br_log_warn("TASK-BUNDLE-LEAK", "%s", err.msg);
	}
}

/* Containers recorded before they held leases get one now (before the owner's
 * reconciliation, which would otherwise have nothing to restore for them). */
static int
backfill_leases(struct taskd *t, br_err *err)
{
	unsigned added = 0;

	if (br_db_begin(t->db, err) < 0)
		return -1;
	for (struct container *c = t->containers; c != NULL; c = c->next) {
		char lease[BR_LEASE_ID_MAX + 1];
		bool has = false;
		taskd_lease_id(c->id, lease);
		if (br_lease_owner_has(&t->owner, "snapshotd", c->ns, lease, &has, err) < 0)
			goto fail;
		if (has)
			continue;
		br_arena *arena = br_arena_new();
		struct br_lease_resource r = taskd_lease_resource(c, arena);
		struct br_objlist list = {&r, 1};
		int rc = br_lease_owner_put(&t->owner, "snapshotd", c->ns, lease, NULL, &list, err);
		br_arena_free(arena);
		if (rc < 0)
			goto fail;
		added++;
	}
	if (br_db_commit(t->db, err) < 0)
		return -1;
	if (added > 0)
		br_log_notice("TASK-RECONCILE",
		              "%u containers recorded without a lease now hold one", added);
	return 0;
fail:
	br_db_rollback(t->db);
	return -1;
}

int
taskd_reconcile(struct taskd *t, br_err *err)
{
	_cleanup_free_ char *bundles = xasprintf("%s/bundles", t->state_dir);
	struct container *next;

	if (br_mkdir_p(bundles, 0700, err) < 0 || backfill_leases(t, err) < 0)
		return -1;
	for (struct container *c = t->containers; c != NULL; c = next) {
		next = c->next;
		if (c->creating)
			undo_create(t, c);
		else if (c->task == TASK_RUNNING || c->task == TASK_STARTING) {
			/* A `berth run --rm` that followed it may be reconnecting: it gets the
			 * time to read the end of the output before the container goes. */
			if (c->auto_remove)
				c->follower_seen_ms = br_now_ms();
			reattach(t, c);
		}
	}
	_cleanup_closedir_ DIR *d = opendir(bundles);
	struct dirent *e;
	while (d != NULL && (e = readdir(d)) != NULL) {
		if (e->d_name[0] != '.')
			remove_orphans(t, e->d_name);
	}
	taskd_volumes_reconcile(t);
	return 0;
}
