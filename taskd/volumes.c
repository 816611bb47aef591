/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Named volumes (volumes.*, docs/tasks.md "Volumes"): directories under taskd's persistent
 * root, <root>/taskd/volumes/<ns>/<name>/_data, that containers mount with `-v NAME:/path` and
 * that outlive them, as docker's local volumes. A row in `volumes` (with its labels) exists
 * exactly while the directory does: the directory is made before the row, and a delete renames
 * it aside before the row goes and removes it after. Which containers mount a volume is kept
 * in `container_volumes`, whose rows go with their container's (a foreign key), so a volume
 * that any container still names, running or not, is never removed. At start, directories
 * without a row (a create or a delete that was interrupted) are removed. /volumes/create and
 * /volumes/delete are emitted in the transactions of the changes. Loop thread, except the
 * removal of a deleted volume's files, which runs on a worker.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "common/cleanup.h"
#include "common/random.h"
#include "common/db.h"
#include "common/events.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "taskd/taskd.h"

/* The volume's directory (holding _data) and its parent, the namespace's directory. The name
 * is an id ([A-Za-z0-9][A-Za-z0-9_.-]*, never "." or ".."), checked by the caller. */
static char *
volume_dir(const struct taskd *t, const char *ns, const char *name)
{
	return xasprintf("%s/volumes/%s/%s", t->data_dir, ns, name);
}

char *
taskd_volume_data_path(const struct taskd *t, const char *ns, const char *name)
{
	return xasprintf("%s/volumes/%s/%s/_data", t->data_dir, ns, name);
}

bool
taskd_volume_name_ok(const char *name)
{
	return name != NULL && br_msg_is_id(name, BR_VOLUME_NAME_MAX);
}

/* 1 when the volume's row exists, 0 when not, -1 on a database error. */
static int
volume_exists(struct taskd *t, const char *ns, const char *name, int64_t *ret_created_at,
              br_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int rc;

	if (br_db_prepare(t->db, "SELECT created_at FROM volumes WHERE ns = ? AND name = ?", &st,
	                  err) < 0)
		return -1;
	sqlite3_bind_text(st, 1, ns, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		if (ret_created_at != NULL)
			*ret_created_at = sqlite3_column_int64(st, 0);
		return 1;
	}
	if (rc == SQLITE_DONE)
		return 0;
	return br_db_error(t->db, rc, err, "read volume \"%s\"", name);
}

/* Make the directory, then the row, its labels and /volumes/create in one transaction. */
static int
volume_create(struct taskd *t, const char *ns, const char *name, const struct br_strmap *labels,
              br_err *err)
{
	_cleanup_free_ char *data = taskd_volume_data_path(t, ns, name);
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	_cleanup_stmt_ sqlite3_stmt *lab = NULL;
	struct br_event_volume ev = {.name = name};

	if (br_mkdir_p(data, 0755, err) < 0)
		return br_err_wrap(err, "create volume \"%s\"", name);
	if (br_db_prepare(t->db, "INSERT INTO volumes (ns, name, created_at) VALUES (?, ?, ?)", &st,
	                  err) < 0 ||
	    br_db_prepare(t->db,
	                  "INSERT INTO volume_labels (ns, volume, key, value) VALUES (?, ?, ?, ?)",
	                  &lab, err) < 0)
		return -1;
	sqlite3_bind_text(st, 1, ns, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, br_db_now());
	sqlite3_bind_text(lab, 1, ns, -1, SQLITE_STATIC);
	sqlite3_bind_text(lab, 2, name, -1, SQLITE_STATIC);
	if (br_db_begin(t->db, err) < 0)
		return br_err_wrap(err, "create volume \"%s\"", name);
	if (br_db_step_done(t->db, st, err, "create volume \"%s\"", name) < 0 ||
	    br_db_write_labels(t->db, lab, 3, labels, err) < 0 ||
	    br_event_add(t->db, ns, BR_TOPIC_VOLUME_CREATE, &br_event_volume_schema, &ev, err) <
	            0) {
		br_db_rollback(t->db);
		return -1;
	}
	if (br_db_commit(t->db, err) < 0)
		return br_err_wrap(err, "create volume \"%s\"", name);
	if (t->outbox != NULL)
		br_outbox_kick(t->outbox);
	br_log_info("TASK-VOLUME", "volume %s/%s created", ns, name);
	return 0;
}

int
taskd_volumes_ensure(struct taskd *t, const char *ns, const char *name, bool *ret_created,
                     br_err *err)
{
	int rc = volume_exists(t, ns, name, NULL, err);

	if (rc < 0)
		return -1;
	if (rc == 0 && volume_create(t, ns, name, NULL, err) < 0)
		return -1;
	if (ret_created != NULL)
		*ret_created = rc == 0;
	return 0;
}

int
taskd_volumes_attach(struct taskd *t, const char *ns, const char *container_id,
                     const char *const *names, size_t n, br_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;

	if (n == 0)
		return 0;
	if (br_db_prepare(t->db,
	                  "INSERT OR IGNORE INTO container_volumes (ns, container_id, volume) "
	                  "VALUES (?, ?, ?)",
	                  &st, err) < 0)
		return -1;
	if (br_db_begin(t->db, err) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		sqlite3_reset(st);
		sqlite3_bind_text(st, 1, ns, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, container_id, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, names[i], -1, SQLITE_STATIC);
		if (br_db_step_done(t->db, st, err, "record the use of volume \"%s\"", names[i]) <
		    0) {
			br_db_rollback(t->db);
			return -1;
		}
	}
	return br_db_commit(t->db, err);
}

/* The volume as the wire has it, strings in `arena`; NOT_FOUND when there is none. */
static int
volume_get(struct taskd *t, const char *ns, const char *name, br_arena *arena,
           struct br_volume *ret, br_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *lab = NULL;
	_cleanup_stmt_ sqlite3_stmt *users = NULL;
	struct br_volume v = {.driver = "local"};
	int rc = volume_exists(t, ns, name, &v.created_at, err);

	if (rc < 0)
		return -1;
	if (rc == 0)
		return br_err_set(err, BR_NOT_FOUND, "volume \"%s\": not found", name);
	v.name = br_arena_strdup(arena, name);
	_cleanup_free_ char *path = taskd_volume_data_path(t, ns, name);
	v.mountpoint = br_arena_strdup(arena, path);
	if (br_db_prepare(t->db,
	                  "SELECT key, value FROM volume_labels WHERE ns = ? AND volume = ? "
	                  "ORDER BY key",
	                  &lab, err) < 0)
		return -1;
	sqlite3_bind_text(lab, 1, ns, -1, SQLITE_STATIC);
	sqlite3_bind_text(lab, 2, name, -1, SQLITE_STATIC);
	if (br_db_read_labels(t->db, lab, arena, &v.labels, err) < 0)
		return -1;
	if (br_db_prepare(t->db,
	                  "SELECT container_id FROM container_volumes WHERE ns = ? AND volume = ? "
	                  "ORDER BY container_id LIMIT ?",
	                  &users, err) < 0)
		return -1;
	sqlite3_bind_text(users, 1, ns, -1, SQLITE_STATIC);
	sqlite3_bind_text(users, 2, name, -1, SQLITE_STATIC);
	sqlite3_bind_int(users, 3, BR_VOLUME_USERS_MAX);
	_cleanup_free_ const char **ids = NULL;
	while ((rc = sqlite3_step(users)) == SQLITE_ROW) {
		ids = xrealloc(ids, (v.containers.n + 1) * sizeof(*ids));
		ids[v.containers.n++] = br_arena_strdup(arena, br_db_text(users, 0));
	}
	if (rc != SQLITE_DONE)
		return br_db_error(t->db, rc, err, "read the users of volume \"%s\"", name);
	if (v.containers.n > 0) {
		v.containers.v = br_arena_alloc(arena, v.containers.n * sizeof(*ids));
		memcpy(v.containers.v, ids, v.containers.n * sizeof(*ids));
	}
	*ret = v;
	return 0;
}

void
taskd_volumes_create(br_call *call, void *data)
{
	struct taskd *t = data;
	const struct br_volume_create_req *req = br_call_params(call);
	const char *ns = br_call_ns(call);
	const char *name = req->name;
	char generated[33];
	struct br_volume v;
	br_err err = BR_ERR_INIT;
	int rc;

	if (name == NULL || name[0] == '\0') {
		/* docker names an anonymous volume with 64 hex digits; 32 are as unique. */
		br_random_hex(generated, 16);
		name = generated;
	}
	if (!taskd_volume_name_ok(name)) {
		br_call_failf(call, BR_INVALID_ARGUMENT,
		              "volume name \"%.140s\": expected [A-Za-z0-9][A-Za-z0-9_.-]{0,127}",
		              name);
		return;
	}
	/* As docker: creating a volume that exists answers it. */
	rc = volume_exists(t, ns, name, NULL, &err);
	if (rc < 0 || (rc == 0 && volume_create(t, ns, name, &req->labels, &err) < 0) ||
	    volume_get(t, ns, name, br_call_arena(call), &v, &err) < 0) {
		br_call_fail(call, &err);
		return;
	}
	br_call_reply(call, &br_volume_schema, &v);
}

void
taskd_volumes_get(br_call *call, void *data)
{
	struct taskd *t = data;
	const struct br_volume_name_req *req = br_call_params(call);
	struct br_volume v;
	br_err err = BR_ERR_INIT;

	if (volume_get(t, br_call_ns(call), req->name, br_call_arena(call), &v, &err) < 0) {
		br_call_fail(call, &err);
		return;
	}
	br_call_reply(call, &br_volume_schema, &v);
}

void
taskd_volumes_list(br_call *call, void *data)
{
	struct taskd *t = data;
	const struct br_volume_list_req *req = br_call_params(call);
	const char *ns = br_call_ns(call);
	uint32_t size = br_page_size(&req->page);
	br_arena *arena = br_call_arena(call);
	struct br_volume_list_resp resp = {0};
	struct br_volume *items = br_arena_alloc(arena, (size + 1) * sizeof(*items));
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	br_err err = BR_ERR_INIT;
	size_t labels = 0;
	int rc;

	/* One more than the page, to know whether another follows. */
	if (br_db_prepare(t->db,
	                  "SELECT name FROM volumes WHERE ns = ? AND name > ? ORDER BY name "
	                  "LIMIT ?",
	                  &st, &err) < 0) {
		br_call_fail(call, &err);
		return;
	}
	sqlite3_bind_text(st, 1, ns, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, req->page.token ? req->page.token : "", -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, (int64_t)size + 1);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (resp.items.n == size || labels >= BR_PAGE_LABELS_MAX) {
			resp.next_page_token = items[resp.items.n - 1].name;
			break;
		}
		_cleanup_free_ char *name = xstrdup(br_db_text(st, 0));
		if (volume_get(t, ns, name, arena, &items[resp.items.n], &err) < 0) {
			br_call_fail(call, &err);
			return;
		}
		labels += items[resp.items.n++].labels.n;
	}
	if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
		br_db_error(t->db, rc, &err, "list volumes");
		br_call_fail(call, &err);
		return;
	}
	resp.items.v = items;
	br_call_reply(call, &br_volume_list_resp_schema, &resp);
}

struct remove_job {
	uv_work_t work;
	struct taskd *t;
	br_call *call;
	char *path; /* the renamed-aside directory */
	int rc;
	br_err err;
};

static void
remove_work(uv_work_t *w)
{
	struct remove_job *j = w->data;
	j->rc = br_rm_rf_at(AT_FDCWD, j->path, &j->err);
}

static void
remove_done(uv_work_t *w, int status)
{
	struct remove_job *j = w->data;

	taskd_work_done(j->t);
	/* The volume is gone either way; what is left is the next start's to remove. */
	if (j->rc < 0)
		br_log_warn("TASK-VOLUME-LEAK", "remove %s: %s", j->path, j->err.msg);
	br_call_reply(j->call, NULL, NULL);
	free(j->path);
	free(j);
}

void
taskd_volumes_delete(br_call *call, void *data)
{
	struct taskd *t = data;
	const struct br_volume_name_req *req = br_call_params(call);
	const char *ns = br_call_ns(call);
	struct br_volume v;
	br_err err = BR_ERR_INIT;
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	struct br_event_volume ev = {.name = req->name};

	if (volume_get(t, ns, req->name, br_call_arena(call), &v, &err) < 0) {
		br_call_fail(call, &err);
		return;
	}
	if (v.containers.n > 0) {
		br_call_failf(call, BR_FAILED_PRECONDITION,
		              "volume \"%s\" is in use by container \"%s\"%s; remove the container "
		              "first",
		              req->name, v.containers.v[0],
		              v.containers.n > 1 ? " and others" : "");
		return;
	}
	_cleanup_free_ char *dir = volume_dir(t, ns, req->name);
	char suffix[33];
	br_random_hex(suffix, 16);
	char *aside = xasprintf("%s/volumes/%s/.deleting-%s", t->data_dir, ns, suffix);
	if (rename(dir, aside) < 0 && errno != ENOENT) {
		br_err_errno(&err, BR_INTERNAL, errno, "delete volume \"%s\": rename %s", req->name,
		             dir);
		free(aside);
		br_call_fail(call, &err);
		return;
	}
	if (br_db_prepare(t->db, "DELETE FROM volumes WHERE ns = ? AND name = ?", &st, &err) < 0 ||
	    br_db_begin(t->db, &err) < 0)
		goto undo;
	sqlite3_bind_text(st, 1, ns, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, req->name, -1, SQLITE_STATIC);
	if (br_db_step_done(t->db, st, &err, "delete volume \"%s\"", req->name) < 0 ||
	    br_event_add(t->db, ns, BR_TOPIC_VOLUME_DELETE, &br_event_volume_schema, &ev, &err) <
	            0) {
		br_db_rollback(t->db);
		goto undo;
	}
	if (br_db_commit(t->db, &err) < 0)
		goto undo;
	if (t->outbox != NULL)
		br_outbox_kick(t->outbox);
	br_log_info("TASK-VOLUME", "volume %s/%s deleted", ns, req->name);

	struct remove_job *j = xnew(struct remove_job);
	j->t = t;
	j->call = call;
	j->path = aside;
	j->work.data = j;
	taskd_queue(t, &j->work, remove_work, remove_done);
	return;
undo:
	if (rename(aside, dir) < 0 && errno != ENOENT)
		br_log_warn("TASK-VOLUME", "volume %s/%s: could not move %s back: %s", ns,
		            req->name, aside, strerror(errno));
	free(aside);
	br_call_fail(call, &err);
}

int
taskd_volumes_usage(struct taskd *t, const char *ns, int64_t *ret_count, br_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;

	if (br_db_prepare(t->db, "SELECT count(*) FROM volumes WHERE ns = ?", &st, err) < 0)
		return -1;
	sqlite3_bind_text(st, 1, ns, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_ROW)
		return br_db_error(t->db, sqlite3_errcode(t->db), err, "count volumes");
	*ret_count = sqlite3_column_int64(st, 0);
	return 0;
}

/* Start-up repair of one namespace's volume directory: what a delete renamed aside and did not
 * finish removing, and a directory whose row was never committed, go. */
static void
reconcile_ns(struct taskd *t, const char *ns_dir, const char *ns)
{
	_cleanup_closedir_ DIR *d = opendir(ns_dir);
	struct dirent *e;

	while (d != NULL && (e = readdir(d)) != NULL) {
		br_err err = BR_ERR_INIT;
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		bool aside = strncmp(e->d_name, ".deleting-", 10) == 0;
		if (!aside && (!taskd_volume_name_ok(e->d_name) ||
		               volume_exists(t, ns, e->d_name, NULL, &err) != 0))
			continue;
		br_log_notice("TASK-RECONCILE", "removing %s/%s: %s", ns_dir, e->d_name,
		              aside ? "left by an interrupted volume delete"
		                    : "a volume directory without a record");
		if (br_rm_rf_at(dirfd(d), e->d_name, &err) < 0)
			br_log_warn("TASK-VOLUME-LEAK", "%s/%s: %s", ns_dir, e->d_name, err.msg);
	}
}

void
taskd_volumes_reconcile(struct taskd *t)
{
	_cleanup_free_ char *root = xasprintf("%s/volumes", t->data_dir);
	_cleanup_closedir_ DIR *d = opendir(root);
	struct dirent *e;

	while (d != NULL && (e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		_cleanup_free_ char *ns_dir = xasprintf("%s/%s", root, e->d_name);
		reconcile_ns(t, ns_dir, e->d_name);
	}
}
