/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Container records in <root>/taskd/meta.db. A row is written "creating" before
 * containers.create touches any peer, so a crash in the middle leaves a row that names what
 * to undo; it becomes "ready" when the bundle is complete. The task columns keep the last
 * known task state (the shim and its exit file are the truth; reconcile.c compares). Every
 * change that others must hear of adds its events (events.c) in its own transaction, so the
 * recorded state also tells which events were emitted: that is how /tasks/exit is emitted
 * exactly once per exit, across restarts. The command and the labels are stored as JSON.
 * Loop thread only.
 */
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/db.h"
#include "common/json.h"
#include "common/xalloc.h"
#include "taskd/taskd.h"

#define JSON_FIELD_MAX (4u << 20)

static const struct br_db_migration migrations[] = {
        {1, "CREATE TABLE containers ("
            "  ns TEXT NOT NULL,"
            "  id TEXT NOT NULL,"
            "  state TEXT NOT NULL," /* creating | ready */
            "  image TEXT NOT NULL,"
            "  runtime TEXT NOT NULL,"
            "  net TEXT NOT NULL DEFAULT '',"
            "  snapshotter TEXT NOT NULL DEFAULT '',"
            "  snapshot_key TEXT NOT NULL,"
            "  spec TEXT NOT NULL DEFAULT '',"
            "  command TEXT NOT NULL DEFAULT '[]',"
            "  labels TEXT NOT NULL DEFAULT '{}',"
            "  created_at INTEGER NOT NULL,"
            "  task TEXT NOT NULL DEFAULT 'none'," /* none|running|stopped|starting */
            "  pid INTEGER NOT NULL DEFAULT 0,"
            "  exit_status INTEGER NOT NULL DEFAULT 0,"
            "  exited_at INTEGER NOT NULL DEFAULT 0,"
            "  PRIMARY KEY (ns, id));"},
        /* Each container holds its snapshot through a lease that the outbox keeps true. */
        {2, BR_OUTBOX_SCHEMA_SQL BR_LEASE_OWNER_SCHEMA_SQL},
        /* A start that was never acknowledged was recorded "running" with pid 0; it is
         * "starting" now, which is a task whose /tasks/start was not emitted. */
        {3, "UPDATE containers SET task = 'starting' WHERE task = 'running' AND pid = 0;"},
        /* The image's StopSignal as a number (0: SIGTERM), for tasks.stop. */
        {4, "ALTER TABLE containers ADD COLUMN stop_signal INTEGER NOT NULL DEFAULT 0;"},
        /* tasks.pause: a running task that is frozen. */
        {5, "ALTER TABLE containers ADD COLUMN paused INTEGER NOT NULL DEFAULT 0;"},
        /* When the task was recorded running (ms), for berth inspect. */
        {6, "ALTER TABLE containers ADD COLUMN started_at INTEGER NOT NULL DEFAULT 0;"},
        /* A display name apart from the id (berth rename), unique in its namespace; the
         * records of before are named after their ids. */
        {7, "ALTER TABLE containers ADD COLUMN name TEXT NOT NULL DEFAULT '';"
            "UPDATE containers SET name = id;"
            "CREATE UNIQUE INDEX containers_name ON containers (ns, name);"
            /* 1: the id was taken from the name given at create (taskd_get) */
            "ALTER TABLE containers ADD COLUMN id_from_name INTEGER NOT NULL DEFAULT 0;"},
        /* The OOM killer ended the task (berth inspect's State.OOMKilled); named volumes
         * (taskd/volumes.c) and which containers mount them, so that a volume in use is
         * never removed. */
        {8, "ALTER TABLE containers ADD COLUMN oom_killed INTEGER NOT NULL DEFAULT 0;"
            "CREATE TABLE volumes ("
            "  ns TEXT NOT NULL,"
            "  name TEXT NOT NULL,"
            "  labels TEXT NOT NULL DEFAULT '{}',"
            "  created_at INTEGER NOT NULL,"
            "  PRIMARY KEY (ns, name));"
            "CREATE TABLE volume_labels ("
            "  ns TEXT NOT NULL,"
            "  volume TEXT NOT NULL,"
            "  key TEXT NOT NULL,"
            "  value TEXT NOT NULL,"
            "  PRIMARY KEY (ns, volume, key),"
            "  FOREIGN KEY (ns, volume) REFERENCES volumes (ns, name) ON DELETE CASCADE);"
            "CREATE TABLE container_volumes ("
            "  ns TEXT NOT NULL,"
            "  container_id TEXT NOT NULL,"
            "  volume TEXT NOT NULL,"
            "  PRIMARY KEY (ns, container_id, volume),"
            "  FOREIGN KEY (ns, container_id) REFERENCES containers (ns, id) ON DELETE CASCADE,"
            "  FOREIGN KEY (ns, volume) REFERENCES volumes (ns, name));"
            "CREATE INDEX container_volumes_by_volume ON container_volumes (ns, volume);"},
        /* Supervision: why taskd chose an exit status, the restart policy and its count, a
         * stop by a user, run --rm; and the request ids of idempotent calls (requests.c). */
        {9, "ALTER TABLE containers ADD COLUMN exit_reason TEXT NOT NULL DEFAULT '';"
            "ALTER TABLE containers ADD COLUMN restart_policy TEXT NOT NULL DEFAULT 'no';"
            "ALTER TABLE containers ADD COLUMN restart_max INTEGER NOT NULL DEFAULT 0;"
            "ALTER TABLE containers ADD COLUMN restart_count INTEGER NOT NULL DEFAULT 0;"
            "ALTER TABLE containers ADD COLUMN stopped_by_user INTEGER NOT NULL DEFAULT 0;"
            "ALTER TABLE containers ADD COLUMN auto_remove INTEGER NOT NULL DEFAULT 0;"
            "CREATE TABLE requests ("
            "  ns TEXT NOT NULL,"
            "  method TEXT NOT NULL,"
            "  request_id TEXT NOT NULL,"
            "  container TEXT NOT NULL,"
            "  at INTEGER NOT NULL,"
            "  PRIMARY KEY (ns, method, request_id));"
            "CREATE INDEX requests_at ON requests (at);"},
};

static const char *const task_names[] = {"none", "running", "stopped", "starting"};

int
taskd_store_open(const char *path, sqlite3 **ret, br_err *err)
{
	return br_db_open(path, migrations, sizeof(migrations) / sizeof(migrations[0]), ret, err);
}

static char *
command_json(char *const *command)
{
	yajl_gen g = br_json_gen_new();
	yajl_gen_array_open(g);
	for (size_t i = 0; command != NULL && command[i] != NULL; i++)
		br_json_gen_str(g, command[i]);
	yajl_gen_array_close(g);
	char *s = br_json_gen_take(g, NULL);
	yajl_gen_free(g);
	return s;
}

static char *
labels_json(const struct container *c)
{
	yajl_gen g = br_json_gen_new();
	yajl_gen_map_open(g);
	for (size_t i = 0; i < c->n_labels; i++)
		br_json_gen_kv_str(g, c->label_keys[i], c->label_values[i]);
	yajl_gen_map_close(g);
	char *s = br_json_gen_take(g, NULL);
	yajl_gen_free(g);
	return s;
}

/* What a write transaction does besides its statement: the lease changes that follow it. */
typedef int (*also_fn)(struct taskd *t, const struct container *c, const char *ns, const char *id,
                       br_err *err);

/* Run one prepared statement to completion inside its own write transaction, with `also`
 * (may be NULL) and the events `ev` (may be NULL) in the same transaction; kick the outbox
 * after the commit. The caller keeps `st` and finalizes it. */
static int
exec_write(struct taskd *t, sqlite3_stmt *st, also_fn also, const struct container *c,
           const char *ns, const char *id, const struct taskd_events *ev, const char *what,
           br_err *err)
{
	sqlite3 *db = t->db;

	if (br_db_begin(db, err) < 0)
		return br_err_wrap(err, "%s", what);
	if (br_db_step_done(db, st, err, "%s", what) < 0) {
		br_db_rollback(db);
		return -1;
	}
	if ((also != NULL && also(t, c, ns, id, err) < 0) ||
	    taskd_events_add(db, ns, ev, err) < 0) {
		br_db_rollback(db);
		return br_err_wrap(err, "%s", what);
	}
	if (br_db_commit(db, err) < 0)
		return br_err_wrap(err, "%s", what);
	if ((also != NULL || (ev != NULL && ev->n > 0)) && t->outbox != NULL)
		br_outbox_kick(t->outbox);
	return 0;
}

void
taskd_lease_id(const char *id, char out[BR_LEASE_ID_MAX + 1])
{
	snprintf(out, BR_LEASE_ID_MAX + 1, "container-%s", id);
}

struct br_lease_resource
taskd_lease_resource(const struct container *c, br_arena *arena)
{
	const char *type = c->snapshotter != NULL && c->snapshotter[0] != '\0'
	                           ? br_arena_printf(arena, "snapshots/%s", c->snapshotter)
	                           : "snapshots";
	return (struct br_lease_resource){type, c->snapshot_key};
}

static int
hold_snapshot(struct taskd *t, const struct container *c, const char *ns, const char *id,
              br_err *err)
{
	char lease[BR_LEASE_ID_MAX + 1];
	br_arena *arena = br_arena_new();
	struct br_lease_resource r = taskd_lease_resource(c, arena);
	struct br_objlist resources = {&r, 1};

	taskd_lease_id(id, lease);
	int rc = br_lease_owner_put(&t->owner, "snapshotd", ns, lease, NULL, &resources, err);
	br_arena_free(arena);
	return rc;
}

static int
release_snapshot(struct taskd *t, const struct container *c, const char *ns, const char *id,
                 br_err *err)
{
	char lease[BR_LEASE_ID_MAX + 1];

	taskd_lease_id(id, lease);
	return br_lease_owner_delete(&t->owner, "snapshotd", ns, lease, err);
}

int
taskd_store_insert(struct taskd *t, const struct container *c, br_err *err)
{
	sqlite3 *db = t->db;
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	_cleanup_free_ char *labels = labels_json(c);

	if (br_db_prepare(
	            db,
	            "INSERT INTO containers (ns, id, state, image, runtime, snapshotter, "
	            "snapshot_key, labels, created_at, name, id_from_name, restart_policy, "
	            "restart_max, auto_remove) VALUES (?, ?, 'creating', ?, ?, ?, ?, ?, ?, ?, ?, "
	            "?, ?, ?)",
	            &st, err) < 0)
		return -1;
	sqlite3_bind_text(st, 1, c->ns, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, c->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, c->image, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, c->runtime, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, c->snapshotter ? c->snapshotter : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, c->snapshot_key, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 7, labels, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 8, c->created_at);
	sqlite3_bind_text(st, 9, c->name, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 10, c->id_from_name);
	sqlite3_bind_text(st, 11, taskd_restart_policy_name(c->restart_policy), -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 12, c->restart_max);
	sqlite3_bind_int(st, 13, c->auto_remove);
	if (exec_write(t, st, hold_snapshot, c, c->ns, c->id, NULL, "record container", err) < 0) {
		if (err != NULL && err->code == BR_ALREADY_EXISTS)
			return br_err_set(err, BR_ALREADY_EXISTS,
			                  "container \"%s\" (name \"%s\"): already exists", c->id,
			                  c->name);
		return -1;
	}
	return 0;
}

int
taskd_store_ready(struct taskd *t, const struct container *c, const char *spec, br_err *err)
{
	sqlite3 *db = t->db;
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	_cleanup_free_ char *command = command_json(c->command);

	if (br_db_prepare(db,
	                  "UPDATE containers SET state = 'ready', image = ?, net = ?, "
	                  "snapshotter = ?, spec = ?, command = ?, stop_signal = ? "
	                  "WHERE ns = ? AND id = ?",
	                  &st, err) < 0)
		return -1;
	sqlite3_bind_text(st, 1, c->image, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, c->net ? c->net : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, c->snapshotter ? c->snapshotter : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, spec, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, command, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 6, c->stop_signal);
	sqlite3_bind_text(st, 7, c->ns, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 8, c->id, -1, SQLITE_STATIC);
	struct taskd_events ev = {0};
	taskd_events_container_create(&ev, c);
	return exec_write(t, st, hold_snapshot, c, c->ns, c->id, &ev, "record container", err);
}

int
taskd_store_set_task(struct taskd *t, const struct container *c, const struct taskd_events *ev,
                     br_err *err)
{
	sqlite3 *db = t->db;
	_cleanup_stmt_ sqlite3_stmt *st = NULL;

	if (br_db_prepare(
	            db,
	            "UPDATE containers SET task = ?, pid = ?, exit_status = ?, exited_at = ?, "
	            "paused = ?, started_at = ?, oom_killed = ?, exit_reason = ?, "
	            "restart_count = ?, stopped_by_user = ? WHERE ns = ? AND id = ?",
	            &st, err) < 0)
		return -1;
	sqlite3_bind_text(st, 1, task_names[c->task], -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, c->pid);
	sqlite3_bind_int64(st, 3, c->exit_status);
	sqlite3_bind_int64(st, 4, c->exited_at);
	sqlite3_bind_int(st, 5, c->task == TASK_RUNNING && c->paused);
	sqlite3_bind_int64(st, 6, c->started_at);
	sqlite3_bind_int(st, 7, c->task == TASK_STOPPED && c->oom_killed);
	sqlite3_bind_text(st, 8, c->exit_reason ? c->exit_reason : "", -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 9, c->restart_count);
	sqlite3_bind_int(st, 10, c->stopped_by_user);
	sqlite3_bind_text(st, 11, c->ns, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 12, c->id, -1, SQLITE_STATIC);
	return exec_write(t, st, NULL, c, c->ns, c->id, ev, "record task state", err);
}

int
taskd_store_delete(struct taskd *t, const char *ns, const char *id, const struct taskd_events *ev,
                   br_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;

	if (br_db_prepare(t->db, "DELETE FROM containers WHERE ns = ? AND id = ?", &st, err) < 0)
		return -1;
	sqlite3_bind_text(st, 1, ns, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
	return exec_write(t, st, release_snapshot, NULL, ns, id, ev, "delete container record",
	                  err);
}

int
taskd_store_rename(struct taskd *t, const struct container *c, br_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	struct taskd_events ev = {0};

	if (br_db_prepare(t->db, "UPDATE containers SET name = ? WHERE ns = ? AND id = ?", &st,
	                  err) < 0)
		return -1;
	sqlite3_bind_text(st, 1, c->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, c->ns, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, c->id, -1, SQLITE_STATIC);
	taskd_events_container_update(&ev, c);
	if (exec_write(t, st, NULL, c, c->ns, c->id, &ev, "rename container", err) < 0) {
		if (err != NULL && err->code == BR_ALREADY_EXISTS)
			return br_err_set(err, BR_ALREADY_EXISTS,
			                  "container name \"%s\" is already in use", c->name);
		return -1;
	}
	return 0;
}

int
taskd_store_spec(sqlite3 *db, const char *ns, const char *id, char **ret, br_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;

	if (br_db_prepare(db, "SELECT spec FROM containers WHERE ns = ? AND id = ?", &st, err) < 0)
		return -1;
	sqlite3_bind_text(st, 1, ns, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*ret = xstrdup(br_db_text(st, 0));
		return 0;
	}
	if (rc == SQLITE_DONE)
		return br_err_set(err, BR_NOT_FOUND, "container \"%s\": not found", id);
	return br_db_error(db, rc, err, "read container \"%s\"", id);
}

/* Decode the stored command and labels of one row into `c`. */
static int
decode_json_fields(struct container *c, const char *command, const char *labels, br_err *err)
{
	yajl_val v = NULL;

	if (br_json_parse(command, strlen(command), JSON_FIELD_MAX, "stored command", &v, err) < 0)
		return -1;
	if (!YAJL_IS_ARRAY(v)) {
		yajl_tree_free(v);
		return br_err_set(err, BR_INTERNAL, "stored command is not an array");
	}
	c->command = xcalloc(v->u.array.len + 1, sizeof(char *));
	for (size_t i = 0; i < v->u.array.len; i++) {
		const char *s = YAJL_GET_STRING(v->u.array.values[i]);
		c->command[i] = xstrdup(s ? s : "");
	}
	yajl_tree_free(v);

	if (br_json_parse(labels, strlen(labels), JSON_FIELD_MAX, "stored labels", &v, err) < 0)
		return -1;
	if (!YAJL_IS_OBJECT(v)) {
		yajl_tree_free(v);
		return br_err_set(err, BR_INTERNAL, "stored labels are not an object");
	}
	size_t n = v->u.object.len;
	c->label_keys = xcalloc(n + 1, sizeof(char *));
	c->label_values = xcalloc(n + 1, sizeof(char *));
	for (size_t i = 0; i < n; i++) {
		const char *s = YAJL_GET_STRING(v->u.object.values[i]);
		c->label_keys[c->n_labels] = xstrdup(v->u.object.keys[i]);
		c->label_values[c->n_labels++] = xstrdup(s ? s : "");
	}
	yajl_tree_free(v);
	return 0;
}

int
taskd_store_load(struct taskd *t, br_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int rc;

	if (br_db_prepare(t->db,
	                  "SELECT ns, id, state, image, runtime, net, snapshotter, snapshot_key, "
	                  "command, labels, created_at, task, pid, exit_status, exited_at, "
	                  "stop_signal, paused, started_at, name, id_from_name, oom_killed, "
	                  "exit_reason, restart_policy, restart_max, restart_count, "
	                  "stopped_by_user, auto_remove "
	                  "FROM containers ORDER BY created_at",
	                  &st, err) < 0)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct container *c = container_new(t, br_db_text(st, 0), br_db_text(st, 1));
		c->creating = strcmp(br_db_text(st, 2), "creating") == 0;
		c->image = xstrdup(br_db_text(st, 3));
		c->runtime = xstrdup(br_db_text(st, 4));
		c->net = xstrdup(br_db_text(st, 5));
		c->snapshotter = xstrdup(br_db_text(st, 6));
		c->snapshot_key = xstrdup(br_db_text(st, 7));
		if (decode_json_fields(c, br_db_text(st, 8), br_db_text(st, 9), err) < 0)
			return br_err_wrap(err, "container \"%s\"", c->id);
		c->created_at = sqlite3_column_int64(st, 10);
		const char *task = br_db_text(st, 11);
		c->task = strcmp(task, "running") == 0    ? TASK_RUNNING
		          : strcmp(task, "stopped") == 0  ? TASK_STOPPED
		          : strcmp(task, "starting") == 0 ? TASK_STARTING
		                                          : TASK_NONE;
		c->pid = (uint32_t)sqlite3_column_int64(st, 12);
		c->exit_status = sqlite3_column_int64(st, 13);
		c->exited_at = sqlite3_column_int64(st, 14);
		c->stop_signal = sqlite3_column_int(st, 15);
		c->paused = c->task == TASK_RUNNING && sqlite3_column_int(st, 16) != 0;
		c->started_at = sqlite3_column_int64(st, 17);
		c->name = xstrdup(br_db_text(st, 18)[0] != '\0' ? br_db_text(st, 18) : c->id);
		c->id_from_name = sqlite3_column_int(st, 19) != 0;
		c->oom_killed = sqlite3_column_int(st, 20) != 0;
		const char *reason = br_db_text(st, 21);
		c->exit_reason = reason[0] != '\0' ? xstrdup(reason) : NULL;
		int policy = taskd_restart_policy_parse(br_db_text(st, 22));
		c->restart_policy = policy < 0 ? RESTART_NO : (enum restart_policy)policy;
		c->restart_max = (uint32_t)sqlite3_column_int64(st, 23);
		c->restart_count = (uint32_t)sqlite3_column_int64(st, 24);
		c->stopped_by_user = sqlite3_column_int(st, 25) != 0;
		c->auto_remove = sqlite3_column_int(st, 26) != 0;
	}
	if (rc != SQLITE_DONE)
		return br_db_error(t->db, rc, err, "load containers");
	return 0;
}
