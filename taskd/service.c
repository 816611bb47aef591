/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The method table of berth-taskd and what the handlers share: the in-memory container table
 * (one entry per record, reference-counted because workers hold entries while the loop may
 * drop them), the wire forms of containers and tasks, worker accounting, and containers.get
 * and containers.list, which answer from the table on the loop.
 */
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/metrics.h"
#include "common/xalloc.h"
#include "taskd/taskd.h"

struct container *
container_new(struct taskd *t, const char *ns, const char *id)
{
	struct container *c = xnew(struct container);
	struct container **tail = &t->containers;

	c->refs = 1;
	c->ns = xstrdup(ns);
	c->id = xstrdup(id);
	c->bundle_dir = xasprintf("%s/bundles/%s/%s", t->state_dir, ns, id);
	c->task_dir = xasprintf("%s/task", c->bundle_dir);
	c->log_dir = xasprintf("%s/logs/%s/%s", t->data_dir, ns, id);
	while (*tail != NULL)
		tail = &(*tail)->next;
	*tail = c;
	return c;
}

void
container_ref(struct container *c)
{
	c->refs++;
}

void
container_unref(struct container *c)
{
	if (c == NULL || --c->refs > 0)
		return;
	free(c->ns);
	free(c->id);
	free(c->name);
	free(c->image);
	free(c->runtime);
	free(c->net);
	free(c->snapshot_key);
	free(c->snapshotter);
	br_strv_free(c->command);
	for (size_t i = 0; i < c->n_labels; i++) {
		free(c->label_keys[i]);
		free(c->label_values[i]);
	}
	free(c->label_keys);
	free(c->label_values);
	free(c->bundle_dir);
	free(c->task_dir);
	free(c->log_dir);
	free(c->exit_reason);
	free(c);
}

struct container *
taskd_find(struct taskd *t, const char *ns, const char *id)
{
	for (struct container *c = t->containers; c != NULL; c = c->next) {
		if (strcmp(c->id, id) == 0 && strcmp(c->ns, ns) == 0)
			return c;
	}
	return NULL;
}

struct container *
taskd_find_name(struct taskd *t, const char *ns, const char *name)
{
	for (struct container *c = t->containers; c != NULL; c = c->next) {
		if (c->name != NULL && strcmp(c->name, name) == 0 && strcmp(c->ns, ns) == 0)
			return c;
	}
	return NULL;
}

/* Does `c`'s id still refer to it? Not when the id was its first name and it was renamed. */
static bool
id_refers(const struct container *c)
{
	return !c->creating && (!c->id_from_name || strcmp(c->id, c->name) == 0);
}

struct container *
taskd_get(struct taskd *t, const char *ns, const char *ref, br_err *err)
{
	struct container *c = taskd_find_name(t, ns, ref);
	size_t len = strlen(ref);

	if (c != NULL && !c->creating)
		return c;
	c = taskd_find(t, ns, ref);
	if (c != NULL && id_refers(c))
		return c;
	/* A unique prefix of an id, as docker takes one. */
	c = NULL;
	for (struct container *p = t->containers; p != NULL && len > 0; p = p->next) {
		if (strcmp(p->ns, ns) != 0 || !id_refers(p) || strncmp(p->id, ref, len) != 0)
			continue;
		if (c != NULL) {
			br_err_set(err, BR_INVALID_ARGUMENT,
			           "container \"%s\": ambiguous, a prefix of the ids \"%s\" and "
			           "\"%s\"",
			           ref, c->id, p->id);
			return NULL;
		}
		c = p;
	}
	if (c == NULL)
		br_err_set(err, BR_NOT_FOUND, "container \"%s\": not found", ref);
	return c;
}

void
taskd_remove(struct taskd *t, struct container *c)
{
	for (struct container **p = &t->containers; *p != NULL; p = &(*p)->next) {
		if (*p == c) {
			*p = c->next;
			c->next = NULL;
			container_unref(c);
			return;
		}
	}
}

const char *
container_status(const struct container *c)
{
	switch (c->task) {
	case TASK_RUNNING:
		return c->paused ? "paused" : "running";
	case TASK_STOPPED:
		return "stopped";
	default:
		return "created";
	}
}

void
container_to_wire(const struct container *c, struct br_container *ret)
{
	size_t n = 0;

	while (c->command != NULL && c->command[n] != NULL)
		n++;
	*ret = (struct br_container){
	        .id = c->id,
	        .name = c->name,
	        .image = c->image,
	        .runtime = c->runtime,
	        .net = c->net,
	        .snapshot_key = c->snapshot_key,
	        .status = container_status(c),
	        .pid = c->task == TASK_RUNNING ? c->pid : 0,
	        .exit_status = c->task == TASK_STOPPED ? c->exit_status : 0,
	        .created_at = c->created_at,
	        .command = {(const char **)c->command, n},
	        .labels = {(const char **)c->label_keys, (const char **)c->label_values,
	                   c->n_labels},
	        .oom_killed = c->task == TASK_STOPPED && c->oom_killed,
	        .exit_reason = c->task == TASK_STOPPED ? c->exit_reason : NULL,
	        .restart_policy = taskd_restart_policy_name(c->restart_policy),
	        .restart_max = c->restart_max,
	        .restart_count = c->restart_count,
	        .auto_remove = c->auto_remove,
	};
	/* Between an exit and the restart its policy decided (a task's own status stays
	 * "stopped" for tasks.wait's callers). */
	if (c->task != TASK_RUNNING && (c->restart_timer != NULL || c->restart_inflight))
		ret->status = "restarting";
}

void
task_to_wire(const struct container *c, struct br_task *ret)
{
	*ret = (struct br_task){
	        .id = c->id,
	        .status = container_status(c),
	        .pid = c->pid,
	        .exit_status = c->task == TASK_STOPPED ? c->exit_status : 0,
	        .exited_at = c->task == TASK_STOPPED ? c->exited_at : 0,
	        .started_at = c->task == TASK_NONE ? 0 : c->started_at,
	        .oom_killed = c->task == TASK_STOPPED && c->oom_killed,
	        .exit_reason = c->task == TASK_STOPPED ? c->exit_reason : NULL,
	        .restart_count = c->restart_count,
	};
}

void
taskd_queue(struct taskd *t, uv_work_t *req, uv_work_cb work, uv_after_work_cb done)
{
	t->inflight++;
	uv_queue_work(t->uv, req, work, done);
}

void
taskd_work_done(struct taskd *t)
{
	t->inflight--;
}

int
taskd_runtime_paths(struct taskd *t, const struct container *c, char **ret_path, char **ret_root,
                    br_err *err)
{
	const char *path = br_config_runtime_path(t->cfg, c->runtime);

	if (path == NULL)
		return br_err_set(err, BR_FAILED_PRECONDITION, "runtime \"%s\": not configured",
		                  c->runtime);
	*ret_path = xstrdup(path);
	*ret_root = xasprintf("%s/runtime/%s/%s", t->state_dir, c->runtime, c->ns);
	return 0;
}

static void
handle_get(br_call *call, void *data)
{
	struct taskd *t = data;
	const struct br_container_id_req *req = br_call_params(call);
	struct br_container out;
	br_err err = BR_ERR_INIT;
	struct container *c = taskd_get(t, br_call_ns(call), req->id, &err);

	if (c == NULL) {
		br_call_fail(call, &err);
		return;
	}
	container_to_wire(c, &out);
	br_call_reply(call, &br_container_schema, &out);
}

/* containers.spec: the spec as recorded (what config.json holds), for berth inspect. */
static void
handle_spec(br_call *call, void *data)
{
	struct taskd *t = data;
	const struct br_container_id_req *req = br_call_params(call);
	_cleanup_free_ char *spec = NULL;
	br_err err = BR_ERR_INIT;
	struct container *c = taskd_get(t, br_call_ns(call), req->id, &err);

	if (c == NULL || taskd_store_spec(t->db, c->ns, c->id, &spec, &err) < 0) {
		br_call_fail(call, &err);
		return;
	}
	struct br_container_spec_resp out = {.spec = spec};
	br_call_reply(call, &br_container_spec_resp_schema, &out);
}

static int
by_id(const void *a, const void *b)
{
	const struct container *const *x = a, *const *y = b;

	return strcmp((*x)->id, (*y)->id);
}

/* One page of the namespace's containers, ordered by id (the token is the last id). */
static void
handle_list(br_call *call, void *data)
{
	struct taskd *t = data;
	const struct br_container_list_req *req = br_call_params(call);
	const char *ns = br_call_ns(call);
	const char *after = req->page.token != NULL ? req->page.token : "";
	uint32_t size = br_page_size(&req->page);
	struct br_container_list_resp resp = {0};
	br_arena *arena = br_call_arena(call);
	size_t n = 0, labels = 0;

	for (struct container *c = t->containers; c != NULL; c = c->next)
		n += !c->creating && strcmp(c->ns, ns) == 0 && strcmp(c->id, after) > 0;
	struct container **sorted = br_arena_alloc(arena, (n ? n : 1) * sizeof(*sorted));
	n = 0;
	for (struct container *c = t->containers; c != NULL; c = c->next)
		if (!c->creating && strcmp(c->ns, ns) == 0 && strcmp(c->id, after) > 0)
			sorted[n++] = c;
	qsort(sorted, n, sizeof(*sorted), by_id);
	struct br_container *items = br_arena_alloc(arena, (size + 1) * sizeof(*items));
	for (size_t i = 0; i < n; i++) {
		if (resp.items.n == size || labels >= BR_PAGE_LABELS_MAX) {
			resp.next_page_token = items[resp.items.n - 1].id;
			break;
		}
		container_to_wire(sorted[i], &items[resp.items.n++]);
		labels += sorted[i]->n_labels;
	}
	resp.items.v = items;
	br_call_reply(call, &br_container_list_resp_schema, &resp);
}

int
taskd_ns_usage(void *data, const char *ns, br_arena *arena, struct br_strlist *ret, br_err *err)
{
	struct taskd *t = data;
	int64_t n = 0;

	int64_t volumes = 0;

	for (struct container *c = t->containers; c != NULL; c = c->next)
		n += strcmp(c->ns, ns) == 0;
	if (taskd_volumes_usage(t, ns, &volumes, err) < 0)
		return -1;
	ret->n = 0;
	ret->v = br_arena_alloc(arena, 2 * sizeof(*ret->v));
	if (n > 0)
		ret->v[ret->n++] =
		        br_arena_printf(arena, "%lld container%s", (long long)n, n == 1 ? "" : "s");
	if (volumes > 0)
		ret->v[ret->n++] = br_arena_printf(arena, "%lld volume%s", (long long)volumes,
		                                   volumes == 1 ? "" : "s");
	return 0;
}

const struct br_method taskd_methods[] = {
        {"containers.create", &br_container_create_req_schema, taskd_containers_create},
        {"containers.get", &br_container_id_req_schema, handle_get},
        {"containers.list", &br_container_list_req_schema, handle_list},
        {"containers.delete", &br_container_id_req_schema, taskd_containers_delete},
        {"containers.spec", &br_container_id_req_schema, handle_spec},
        {"tasks.start", &br_container_id_req_schema, taskd_tasks_start},
        {"tasks.get", &br_container_id_req_schema, taskd_tasks_get},
        {"tasks.kill", &br_task_kill_req_schema, taskd_tasks_kill},
        {"tasks.stop", &br_task_stop_req_schema, taskd_tasks_stop},
        {"tasks.pause", &br_container_id_req_schema, taskd_tasks_pause},
        {"tasks.resume", &br_container_id_req_schema, taskd_tasks_resume},
        {"tasks.wait", &br_task_wait_req_schema, taskd_tasks_wait},
        {"tasks.logs", &br_task_logs_req_schema, taskd_tasks_logs},
        {"tasks.delete", &br_container_id_req_schema, taskd_tasks_delete},
        {"containers.rename", &br_container_rename_req_schema, taskd_containers_rename},
        {"tasks.top", &br_task_top_req_schema, taskd_tasks_top},
        {"tasks.stats", &br_container_id_req_schema, taskd_tasks_stats},
        {"volumes.create", &br_volume_create_req_schema, taskd_volumes_create},
        {"volumes.list", &br_volume_list_req_schema, taskd_volumes_list},
        {"volumes.get", &br_volume_name_req_schema, taskd_volumes_get},
        {"volumes.delete", &br_volume_name_req_schema, taskd_volumes_delete},
};
const size_t taskd_n_methods = sizeof(taskd_methods) / sizeof(taskd_methods[0]);

static void
close_free(uv_handle_t *h)
{
	free(h);
}

void
taskd_service_drain(struct taskd *t)
{
	t->stopping = true;
	taskd_streams_stop(t);
	taskd_net_sweep_stop(t);
	for (struct container *c = t->containers; c != NULL; c = c->next) {
		taskd_flush_waiters(t, c);
		taskd_unwatch(c);
		taskd_supervise_cancel(c);
		if (c->fs_event != NULL) {
			uv_close((uv_handle_t *)c->fs_event, close_free);
			c->fs_event = NULL;
		}
	}
	while (t->inflight > 0)
		uv_run(t->uv, UV_RUN_ONCE);
	/* Let the close callbacks run. */
	uv_run(t->uv, UV_RUN_NOWAIT);
	while (t->containers != NULL)
		taskd_remove(t, t->containers);
}

/* ------------------------------------------------------------------ metrics */

void
taskd_metrics(void *data, struct br_metrics *m)
{
	static const char *const states[] = {"creating", "created", "running", "stopped"};
	struct taskd *t = data;
	uint64_t counts[4] = {0}, shims = 0;

	for (const struct container *c = t->containers; c != NULL; c = c->next) {
		if (c->creating)
			counts[0]++;
		else if (c->task == TASK_RUNNING)
			counts[2]++;
		else if (c->task == TASK_STOPPED)
			counts[3]++;
		else
			counts[1]++;
		/* A running task's shim is watched from start to exit; one that went away has
		 * been noticed and its task marked stopped. */
		if (c->task == TASK_RUNNING && c->watch != NULL)
			shims++;
	}
	for (size_t i = 0; i < 4; i++)
		br_metrics_gauge(m, "berth_containers", "Containers, by state.",
		                 BR_LABELS("state", states[i]), (double)counts[i], NULL);
	br_metrics_gauge(m, "berth_shims_running", "Shims taskd watches, one per running task.",
	                 NULL, (double)shims, NULL);
}
