/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The events of containers and tasks (docs/events.md). A handler that changes a record first
 * collects the change's events here, with payloads taken from the container, and hands them to
 * the store function, which adds them to the outbox in the transaction of the change: an event
 * exists exactly when its change does. Times in payloads are ns since the epoch; the shim
 * records an exit in ms, which is what /tasks/exit and /tasks/delete carry (times 10^6).
 * Loop thread.
 */
#include <assert.h>

#include "common/events.h"
#include "taskd/taskd.h"

static struct taskd_event *
add(struct taskd_events *ev, const char *topic, const struct br_schema *schema)
{
	assert(ev->n < TASKD_EVENTS_MAX);
	struct taskd_event *e = &ev->v[ev->n++];
	e->topic = topic;
	e->schema = schema;
	return e;
}

static void
container_payload(struct taskd_event *e, const struct container *c)
{
	e->payload.container = (struct br_event_container){
	        .id = c->id,
	        .name = c->name,
	        .image = c->image,
	        .runtime = c->runtime,
	        .net = c->net,
	        .snapshot_key = c->snapshot_key,
	        .labels = {(const char **)c->label_keys, (const char **)c->label_values,
	                   c->n_labels},
	};
}

void
taskd_events_container_create(struct taskd_events *ev, const struct container *c)
{
	container_payload(add(ev, BR_TOPIC_CONTAINER_CREATE, &br_event_container_schema), c);
}

void
taskd_events_container_update(struct taskd_events *ev, const struct container *c)
{
	container_payload(add(ev, BR_TOPIC_CONTAINER_UPDATE, &br_event_container_schema), c);
}

void
taskd_events_container_delete(struct taskd_events *ev, const struct container *c)
{
	struct taskd_event *e =
	        add(ev, BR_TOPIC_CONTAINER_DELETE, &br_event_container_delete_schema);

	e->payload.container_delete = (struct br_event_container_delete){.id = c->id};
}

void
taskd_events_task_started(struct taskd_events *ev, const struct container *c)
{
	struct taskd_event *e = add(ev, BR_TOPIC_TASK_CREATE, &br_event_task_create_schema);

	e->payload.task_create = (struct br_event_task_create){
	        .container_id = c->id, .bundle = c->bundle_dir, .pid = c->pid};
	e = add(ev, BR_TOPIC_TASK_START, &br_event_task_start_schema);
	e->payload.task_start = (struct br_event_task_start){.container_id = c->id, .pid = c->pid};
}

static void
add_exit(struct taskd_events *ev, const char *topic, const struct container *c)
{
	struct taskd_event *e = add(ev, topic, &br_event_task_exit_schema);

	e->payload.task_exit = (struct br_event_task_exit){
	        .container_id = c->id,
	        .id = c->id,
	        .pid = c->pid,
	        .exit_status = c->exit_status,
	        .exited_at = c->exited_at * 1000000,
	        .reason = c->exit_reason,
	};
}

void
taskd_events_task_exit(struct taskd_events *ev, const struct container *c)
{
	add_exit(ev, BR_TOPIC_TASK_EXIT, c);
}

void
taskd_events_task_delete(struct taskd_events *ev, const struct container *c)
{
	add_exit(ev, BR_TOPIC_TASK_DELETE, c);
}

void
taskd_events_task_oom(struct taskd_events *ev, const struct container *c)
{
	struct taskd_event *e = add(ev, BR_TOPIC_TASK_OOM, &br_event_task_schema);

	e->payload.task = (struct br_event_task){.container_id = c->id};
}

void
taskd_events_task_paused(struct taskd_events *ev, const struct container *c)
{
	struct taskd_event *e = add(ev, c->paused ? BR_TOPIC_TASK_PAUSED : BR_TOPIC_TASK_RESUMED,
	                            &br_event_task_schema);

	e->payload.task = (struct br_event_task){.container_id = c->id};
}

void
taskd_events_exec_started(struct taskd_events *ev, const struct container *c, const char *exec_id,
                          uint32_t pid)
{
	struct taskd_event *e = add(ev, BR_TOPIC_TASK_EXEC_ADDED, &br_event_task_exec_schema);

	e->payload.exec = (struct br_event_task_exec){.container_id = c->id, .exec_id = exec_id};
	e = add(ev, BR_TOPIC_TASK_EXEC_STARTED, &br_event_task_exec_schema);
	e->payload.exec =
	        (struct br_event_task_exec){.container_id = c->id, .exec_id = exec_id, .pid = pid};
}

int
taskd_events_add(sqlite3 *db, const char *ns, const struct taskd_events *ev, br_err *err)
{
	for (size_t i = 0; ev != NULL && i < ev->n; i++) {
		const struct taskd_event *e = &ev->v[i];
		if (br_event_add(db, ns, e->topic, e->schema, &e->payload, err) < 0)
			return br_err_wrap(err, "event %s", e->topic);
	}
	return 0;
}
