/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Request ids: containers.create and tasks.start are not idempotent by nature (a second create
 * finds the name taken, a second start finds the task running), yet a client that lost its
 * connection cannot know whether its call ran. It may send a `request_id` of its choosing
 * with the call; taskd remembers, per namespace, method and request id, which container the
 * call acted on and when, so that the same request asked again is answered with what the
 * first one did (docs/api.md). The memory is the `requests` table of meta.db: entries expire
 * after TASKD_REQUEST_TTL_MS and at most TASKD_REQUESTS_MAX are kept, the oldest going first.
 * Loop thread only.
 */
#include <stdlib.h>
#include <string.h>

#include "common/db.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "taskd/taskd.h"

int
taskd_request_check(const char *request_id, br_err *err)
{
	if (request_id == NULL || request_id[0] == '\0' ||
	    br_msg_is_id(request_id, BR_REQUEST_ID_MAX))
		return 0;
	return br_err_set(err, BR_INVALID_ARGUMENT,
	                  "request id \"%.80s\": expected [A-Za-z0-9][A-Za-z0-9_.-]{0,63}",
	                  request_id);
}

int
taskd_request_find(struct taskd *t, const char *ns, const char *method, const char *request_id,
                   char **ret_container, int64_t *ret_at, br_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;

	if (br_db_prepare(t->db,
	                  "SELECT container, at FROM requests WHERE ns = ? AND method = ? AND "
	                  "request_id = ? AND at >= ?",
	                  &st, err) < 0)
		return -1;
	sqlite3_bind_text(st, 1, ns, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, method, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, request_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, br_db_now() - TASKD_REQUEST_TTL_MS);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		return 0;
	if (rc != SQLITE_ROW)
		return br_db_error(t->db, rc, err, "read request \"%s\"", request_id);
	*ret_container = xstrdup(br_db_text(st, 0));
	*ret_at = sqlite3_column_int64(st, 1);
	return 1;
}

int
taskd_request_record(struct taskd *t, const char *ns, const char *method, const char *request_id,
                     const char *container, br_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *prune = NULL;
	_cleanup_stmt_ sqlite3_stmt *st = NULL;

	if (br_db_prepare(t->db,
	                  "DELETE FROM requests WHERE at < ? OR rowid IN (SELECT rowid FROM "
	                  "requests ORDER BY at DESC LIMIT -1 OFFSET ?)",
	                  &prune, err) < 0 ||
	    br_db_prepare(t->db,
	                  "INSERT OR REPLACE INTO requests (ns, method, request_id, container, at) "
	                  "VALUES (?, ?, ?, ?, ?)",
	                  &st, err) < 0)
		return -1;
	sqlite3_bind_int64(prune, 1, br_db_now() - TASKD_REQUEST_TTL_MS);
	sqlite3_bind_int(prune, 2, TASKD_REQUESTS_MAX - 1);
	sqlite3_bind_text(st, 1, ns, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, method, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, request_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, container, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, br_db_now());
	if (br_db_begin(t->db, err) < 0)
		return -1;
	if (br_db_step_done(t->db, prune, err, "expire request ids") < 0 ||
	    br_db_step_done(t->db, st, err, "record request \"%s\"", request_id) < 0) {
		br_db_rollback(t->db);
		return -1;
	}
	return br_db_commit(t->db, err);
}

void
taskd_request_forget(struct taskd *t, const char *ns, const char *method, const char *container)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	br_err err = BR_ERR_INIT;

	if (br_db_prepare(t->db,
	                  "DELETE FROM requests WHERE ns = ? AND method = ? AND container = ?", &st,
	                  &err) < 0) {
		br_log_warn("TASK-DB", "forget requests of %s/%s: %s", ns, container, err.msg);
		return;
	}
	sqlite3_bind_text(st, 1, ns, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, method, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, container, -1, SQLITE_STATIC);
	if (br_db_step_done(t->db, st, &err, "forget requests") < 0)
		br_log_warn("TASK-DB", "forget requests of %s/%s: %s", ns, container, err.msg);
}
