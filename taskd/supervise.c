/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Supervision: what happens after a task's exit, and when its shim is gone.
 *
 *   - Shim lost: the exit watch's connection closes without an exit. A worker confirms that
 *     the shim's process is gone, ends whatever the runtime still runs of the container
 *     (`<runtime> delete --force` with taskd's runtime root) and reads the exit file; the
 *     exit is recorded with the shim's status, or, when it recorded none, with 137 and the
 *     reason "shim lost". A container is never left running without a shim.
 *   - Restart policy (docker's): decided by each recorded exit, never by polling. A restart
 *     waits out a back-off (100 ms, doubling up to a minute, back to 100 ms after a run of
 *     10 s), then deletes the old task and starts a new one. A stop or kill by a user ends
 *     the restarts; at taskd's start "always" containers run again, "unless-stopped" ones too
 *     unless a user stopped them.
 *   - auto_remove (run --rm): once the exit is recorded (with its /tasks/exit) and no
 *     restart follows, the container is deleted. A follower that is reading the output
 *     (`berth run`) gets to read its end first, for at most TASKD_REMOVE_DRAIN_MS; a removal
 *     that fails (netd down) is tried again.
 *
 * Loop thread, apart from the shim-lost worker.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/db.h"
#include "common/log.h"
#include "common/proto/shim.h"
#include "common/xalloc.h"
#include "taskd/shim_client.h"
#include "taskd/taskd.h"

static const char *const policy_names[] = {"no", "on-failure", "always", "unless-stopped"};

int
taskd_restart_policy_parse(const char *s)
{
	if (s == NULL || s[0] == '\0')
		return RESTART_NO;
	for (size_t i = 0; i < sizeof(policy_names) / sizeof(policy_names[0]); i++)
		if (strcmp(s, policy_names[i]) == 0)
			return (int)i;
	return -1;
}

const char *
taskd_restart_policy_name(enum restart_policy p)
{
	return policy_names[p];
}

/* ------------------------------------------------------------------ timers */

/* A one-shot timer that holds a reference on its container until it is closed. */
struct sup_timer {
	uv_timer_t handle;
	struct taskd *t;
	struct container *c;
	struct sup_timer **slot; /* the container's field that points here */
	void (*fire)(struct taskd *t, struct container *c);
};

static void
timer_closed(uv_handle_t *h)
{
	struct sup_timer *st = h->data;

	container_unref(st->c);
	free(st);
}

static void
disarm(struct sup_timer **slot)
{
	struct sup_timer *st = *slot;

	if (st == NULL)
		return;
	*slot = NULL;
	uv_timer_stop(&st->handle);
	uv_close((uv_handle_t *)&st->handle, timer_closed);
}

static void
timer_fired(uv_timer_t *h)
{
	struct sup_timer *st = h->data;
	struct taskd *t = st->t;
	struct container *c = st->c;
	void (*fire)(struct taskd *, struct container *) = st->fire;

	container_ref(c);
	disarm(st->slot);
	if (!t->stopping)
		fire(t, c);
	container_unref(c);
}

static void
arm(struct taskd *t, struct container *c, struct sup_timer **slot, int64_t ms,
    void (*fire)(struct taskd *t, struct container *c))
{
	struct sup_timer *st = xnew(struct sup_timer);

	disarm(slot);
	st->t = t;
	st->c = c;
	st->slot = slot;
	st->fire = fire;
	container_ref(c);
	uv_timer_init(t->uv, &st->handle);
	st->handle.data = st;
	*slot = st;
	uv_timer_start(&st->handle, timer_fired, (uint64_t)ms, 0);
}

void
taskd_supervise_cancel_restart(struct container *c)
{
	disarm(&c->restart_timer);
}

void
taskd_supervise_cancel(struct container *c)
{
	disarm(&c->restart_timer);
	disarm(&c->remove_timer);
	c->remove_pending = false;
}

/* ------------------------------------------------------------------ shim lost */

struct lost_job {
	uv_work_t work;
	struct taskd *t;
	struct container *c;
	char *runtime_path; /* NULL: none configured (the runtime's state cannot be ended) */
	char *runtime_root;
	bool alive; /* the shim is there after all */
	bool have_exit;
	bool oom_killed;
	int64_t status;
	int64_t exited_at;
};

static void
lost_work(uv_work_t *w)
{
	struct lost_job *j = w->data;
	struct container *c = j->c;
	_cleanup_(br_arena_freep) br_arena *a = br_arena_new();
	struct br_shim_reply r;
	br_err err = BR_ERR_INIT;

	if (taskd_shim_alive(c->task_dir, a, &r)) {
		j->alive = true;
		if (r.exited) {
			j->have_exit = true;
			j->status = r.exit_status;
			j->exited_at = r.exited_at;
		}
		return;
	}
	_cleanup_close_ int dirfd = open(c->task_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	j->have_exit = dirfd >= 0 && br_shim_read_exit_oom(dirfd, &j->status, &j->exited_at,
	                                                   &j->oom_killed, &err) == 0;
	br_err_clear(&err);
	/* Whatever still runs is killed and the runtime's state removed. */
	if (j->runtime_path != NULL &&
	    taskd_runtime_force_delete(j->runtime_path, j->runtime_root, c->id, &err) < 0)
		br_log_warn("TASK-SHIM-LOST", "container %s/%s: %s", c->ns, c->id, err.msg);
}

static void
lost_done(uv_work_t *w, int status)
{
	struct lost_job *j = w->data;
	struct taskd *t = j->t;
	struct container *c = j->c;

	taskd_work_done(t);
	c->shim_check = false;
	if (c->task != TASK_RUNNING || t->stopping)
		goto out;
	if (j->alive && !j->have_exit) {
		/* A connection lost, not the shim: watch it again. */
		taskd_watch_exit(t, c);
	} else if (j->have_exit) {
		taskd_task_exited(t, c, j->status, j->exited_at, j->oom_killed, NULL);
	} else {
		br_log_warn("TASK-SHIM-LOST",
		            "container %s/%s: its shim is gone and recorded no exit; the container "
		            "was killed, reporting exit status %d",
		            c->ns, c->id, TASKD_SHIM_LOST_STATUS);
		taskd_task_exited(t, c, TASKD_SHIM_LOST_STATUS, br_db_now(), false,
		                  TASKD_SHIM_LOST_REASON);
	}
out:
	container_unref(c);
	free(j->runtime_path);
	free(j->runtime_root);
	free(j);
}

void
taskd_shim_lost(struct taskd *t, struct container *c)
{
	br_err err = BR_ERR_INIT;

	if (c->shim_check || c->task != TASK_RUNNING)
		return;
	struct lost_job *j = xnew(struct lost_job);
	if (taskd_runtime_paths(t, c, &j->runtime_path, &j->runtime_root, &err) < 0)
		br_log_warn("TASK-SHIM-LOST", "container %s/%s: %s", c->ns, c->id, err.msg);
	j->t = t;
	j->c = c;
	j->work.data = j;
	/* Not "busy": an operation under way (a forced delete) settles the task itself, and
	 * the check then finds it no longer running. */
	c->shim_check = true;
	container_ref(c);
	taskd_queue(t, &j->work, lost_work, lost_done);
}

/* ------------------------------------------------------------------ restart, remove */

static bool
should_restart(const struct container *c, int64_t status)
{
	if (c->stopped_by_user)
		return false;
	switch (c->restart_policy) {
	case RESTART_ON_FAILURE:
		return status != 0 && (c->restart_max == 0 || c->restart_count < c->restart_max);
	case RESTART_ALWAYS:
	case RESTART_UNLESS_STOPPED:
		return true;
	default:
		return false;
	}
}

static void
restart_fire(struct taskd *t, struct container *c)
{
	if (c->stopped_by_user || c->task == TASK_RUNNING || taskd_find(t, c->ns, c->id) != c)
		return;
	if (c->busy) { /* another operation first; then the restart */
		arm(t, c, &c->restart_timer, TASKD_REMOVE_RETRY_MS, restart_fire);
		return;
	}
	c->restart_count++;
	br_log_info("TASK-RESTART", "container %s/%s: restart %u (policy %s)", c->ns, c->id,
	            c->restart_count, taskd_restart_policy_name(c->restart_policy));
	taskd_task_restart(t, c);
}

static void
schedule_restart(struct taskd *t, struct container *c)
{
	int64_t ran = c->exited_at - c->started_at;
	int64_t delay = c->restart_delay_ms * 2;

	if (c->restart_delay_ms == 0 || (c->started_at > 0 && ran >= TASKD_RESTART_RESET_MS))
		delay = TASKD_RESTART_DELAY_MIN_MS;
	if (delay > TASKD_RESTART_DELAY_MAX_MS)
		delay = TASKD_RESTART_DELAY_MAX_MS;
	c->restart_delay_ms = delay;
	arm(t, c, &c->restart_timer, delay, restart_fire);
}

static void
remove_now(struct taskd *t, struct container *c)
{
	c->remove_pending = false;
	if (c->task == TASK_RUNNING || c->restart_timer != NULL || taskd_find(t, c->ns, c->id) != c)
		return;
	if (c->busy) { /* another operation first; then the removal */
		arm(t, c, &c->remove_timer, TASKD_REMOVE_RETRY_MS, remove_now);
		return;
	}
	br_log_info("TASK-AUTO-REMOVE", "container %s/%s: removing (auto_remove)", c->ns, c->id);
	taskd_container_auto_remove(t, c);
}

static void
begin_remove(struct taskd *t, struct container *c)
{
	/* A follower seen lately is reading the output: it reads the end first. */
	if (c->follower_seen_ms != 0 && br_now_ms() - c->follower_seen_ms < TASKD_REMOVE_DRAIN_MS) {
		c->remove_pending = true;
		arm(t, c, &c->remove_timer, TASKD_REMOVE_DRAIN_MS, remove_now);
		return;
	}
	remove_now(t, c);
}

static void
decide(struct taskd *t, struct container *c, int64_t status)
{
	if (t->stopping || c->busy || c->creating)
		return;
	if (should_restart(c, status)) {
		schedule_restart(t, c);
		return;
	}
	if (c->auto_remove)
		begin_remove(t, c);
}

void
taskd_supervise_exited(struct taskd *t, struct container *c)
{
	decide(t, c, c->exit_status);
}

void
taskd_supervise_restart_failed(struct taskd *t, struct container *c)
{
	decide(t, c, 255);
}

void
taskd_supervise_remove_failed(struct taskd *t, struct container *c)
{
	if (!t->stopping)
		arm(t, c, &c->remove_timer, TASKD_REMOVE_RETRY_MS, remove_now);
}

void
taskd_supervise_drained(struct taskd *t, struct container *c)
{
	if (!c->remove_pending)
		return;
	disarm(&c->remove_timer);
	remove_now(t, c);
}

void
taskd_supervise_startup(struct taskd *t)
{
	for (struct container *c = t->containers; c != NULL; c = c->next) {
		/* Stopped, or "created" again by a restart that taskd did not live to finish
		 * (a container that never ran has no started_at). */
		bool ran = c->task == TASK_STOPPED || (c->task == TASK_NONE && c->started_at > 0);
		if (c->creating || c->busy || !ran || c->restart_timer != NULL || c->remove_pending)
			continue;
		if (c->restart_policy == RESTART_ALWAYS ||
		    (c->restart_policy == RESTART_UNLESS_STOPPED && !c->stopped_by_user)) {
			c->stopped_by_user = false;
			c->restart_delay_ms = 0;
			schedule_restart(t, c);
		} else if (c->auto_remove && c->task == TASK_STOPPED) {
			remove_now(t, c);
		}
	}
}
