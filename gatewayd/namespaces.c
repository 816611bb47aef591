/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Namespaces, the one record the front door keeps (<root>/gatewayd/meta.db). A namespace
 * exists once it is created (namespaces.create) or first written to (any request that is not a
 * read names its namespace into existence, as containerd does); "default" always exists.
 * namespaces.delete asks every backend what the namespace holds (daemon.namespace) and refuses
 * while anything is left, naming it: "namespace \"x\" is not empty: 2 images (berth-imaged),
 * 1 container (berth-taskd)".
 *
 * A caller sees only the namespaces where it has a role (auth.c): namespaces.list leaves the
 * others out, and namespaces.get answers NOT_FOUND for them, as for a namespace that does not
 * exist, so that their names do not leak. Creating and deleting a namespace needs role admin
 * in it. Loop thread only.
 */
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/db.h"
#include "common/log.h"
#include "common/proto/events.h"
#include "common/proto/gateway.h"
#include "common/xalloc.h"
#include "gatewayd/gatewayd.h"

#define USAGE_TIMEOUT_MS 5000

static const struct br_db_migration migrations[] = {
        {1, "CREATE TABLE namespaces ("
            "  name TEXT PRIMARY KEY NOT NULL,"
            "  created_at INTEGER NOT NULL"
            ") WITHOUT ROWID;"
            "INSERT INTO namespaces (name, created_at)"
            "  VALUES ('default', CAST(strftime('%s', 'now') AS INTEGER) * 1000);"},
        /* The event log (events.c): events in the order they were appended; per source the
         * last outbox seq taken from it; what retention dropped up to. */
        {2, "CREATE TABLE events ("
            "  seq INTEGER PRIMARY KEY AUTOINCREMENT,"
            "  time INTEGER NOT NULL,"
            "  namespace TEXT NOT NULL,"
            "  topic TEXT NOT NULL,"
            "  payload BLOB NOT NULL);"
            "CREATE INDEX events_time ON events (time);"
            "CREATE TABLE event_sources ("
            "  source TEXT PRIMARY KEY NOT NULL,"
            "  last_seq INTEGER NOT NULL) WITHOUT ROWID;"
            "CREATE TABLE event_trim ("
            "  seq INTEGER NOT NULL,"
            "  time INTEGER NOT NULL);"
            "INSERT INTO event_trim VALUES (0, 0);"},
};

int
gw_namespaces_open(struct gateway *gw, const char *data_dir, br_err *err)
{
	_cleanup_free_ char *path = xasprintf("%s/meta.db", data_dir);

	return br_db_open(path, migrations, sizeof(migrations) / sizeof(migrations[0]), &gw->db,
	                  err);
}

/* Insert `name` unless it exists, with its /namespaces/create event: 1 inserted, 0 existed,
 * -1 error. */
static int
insert(struct gateway *gw, const char *name, br_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	struct br_namespace_name_req ev = {.name = name};
	int inserted;

	if (br_db_begin(gw->db, err) < 0)
		return -1;
	if (br_db_prepare(gw->db,
	                  "INSERT OR IGNORE INTO namespaces (name, created_at) VALUES (?, ?)", &st,
	                  err) < 0)
		goto fail;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, br_db_now());
	if (br_db_step_done(gw->db, st, err, "namespace \"%s\"", name) < 0)
		goto fail;
	inserted = sqlite3_changes(gw->db) > 0;
	if (inserted && gw_events_append(gw, name, BR_TOPIC_NAMESPACE_CREATE,
	                                 &br_namespace_name_req_schema, &ev, err) < 0)
		goto fail;
	if (br_db_commit(gw->db, err) < 0)
		return -1;
	if (inserted)
		gw_events_notify(gw);
	return inserted;
fail:
	br_db_rollback(gw->db);
	return -1;
}

/* Delete `name` with its /namespaces/delete event; NOT_FOUND when it is not there. */
static int
remove_namespace(struct gateway *gw, const char *name, br_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	struct br_namespace_name_req ev = {.name = name};

	if (br_db_begin(gw->db, err) < 0)
		return -1;
	if (br_db_prepare(gw->db, "DELETE FROM namespaces WHERE name = ?", &st, err) < 0)
		goto fail;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	if (br_db_step_done(gw->db, st, err, "delete namespace \"%s\"", name) < 0)
		goto fail;
	if (sqlite3_changes(gw->db) == 0) {
		br_err_set(err, BR_NOT_FOUND, "namespace \"%s\": not found", name);
		goto fail;
	}
	if (gw_events_append(gw, name, BR_TOPIC_NAMESPACE_DELETE, &br_namespace_name_req_schema,
	                     &ev, err) < 0)
		goto fail;
	if (br_db_commit(gw->db, err) < 0)
		return -1;
	gw_events_notify(gw);
	return 0;
fail:
	br_db_rollback(gw->db);
	return -1;
}

void
gw_namespace_touch(struct gateway *gw, const char *ns)
{
	br_err err = BR_ERR_INIT;

	if (gw->last_ns != NULL && strcmp(gw->last_ns, ns) == 0)
		return;
	if (insert(gw, ns, &err) < 0) {
		br_log_warn("GW-NAMESPACE", "%s", err.msg);
		return;
	}
	free(gw->last_ns);
	gw->last_ns = xstrdup(ns);
}

static int
get(struct gateway *gw, const char *name, br_arena *arena, struct br_namespace *ret, br_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;

	if (br_db_prepare(gw->db, "SELECT created_at FROM namespaces WHERE name = ?", &st, err) < 0)
		return -1;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		return br_err_set(err, BR_NOT_FOUND, "namespace \"%s\": not found", name);
	if (rc != SQLITE_ROW)
		return br_db_error(gw->db, rc, err, "namespace \"%s\"", name);
	ret->name = br_arena_strdup(arena, name);
	ret->created_at = sqlite3_column_int64(st, 0);
	return 0;
}

static bool
check_name(br_call *call, const char *name)
{
	if (br_ns_valid(name))
		return true;
	br_call_failf(call, BR_INVALID_ARGUMENT,
	              "invalid namespace \"%s\" (expected [a-z0-9][a-z0-9_.-]*, at most %d "
	              "characters)",
	              name, BR_NS_MAX);
	return false;
}

static void
handle_list(br_call *call, void *data)
{
	struct gateway *gw = data;
	const struct br_namespace_list_req *req = br_call_params(call);
	br_arena *arena = br_call_arena(call);
	uint32_t size = br_page_size(&req->page);
	struct br_namespace_list_resp resp = {0};
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	br_err err = BR_ERR_INIT;
	int rc;

	if (gw_authorize(gw, call) < 0)
		return;
	/* No LIMIT: the rows the caller may not see are skipped, as many as there are. */
	if (br_db_prepare(gw->db,
	                  "SELECT name, created_at FROM namespaces WHERE name > ? ORDER BY name",
	                  &st, &err) < 0) {
		br_call_fail(call, &err);
		return;
	}
	sqlite3_bind_text(st, 1, req->page.token ? req->page.token : "", -1, SQLITE_STATIC);
	struct br_namespace *items = br_arena_alloc(arena, (size + 1) * sizeof(*items));
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (!gw_may_read(gw, call, br_db_text(st, 0)))
			continue;
		if (resp.items.n == size) {
			resp.next_page_token = items[size - 1].name;
			break;
		}
		items[resp.items.n].name = br_arena_strdup(arena, br_db_text(st, 0));
		items[resp.items.n].created_at = sqlite3_column_int64(st, 1);
		resp.items.n++;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		br_db_error(gw->db, rc, &err, "list namespaces");
		br_call_fail(call, &err);
		return;
	}
	resp.items.v = items;
	br_call_reply(call, &br_namespace_list_resp_schema, &resp);
}

static void
handle_get(br_call *call, void *data)
{
	struct gateway *gw = data;
	const struct br_namespace_name_req *req = br_call_params(call);
	struct br_namespace out;
	br_err err = BR_ERR_INIT;

	if (gw_authorize(gw, call) < 0 || !check_name(call, req->name))
		return;
	if (!gw_may_read(gw, call, req->name)) {
		br_call_failf(call, BR_NOT_FOUND, "namespace \"%s\": not found", req->name);
		return;
	}
	if (get(gw, req->name, br_call_arena(call), &out, &err) < 0) {
		br_call_fail(call, &err);
		return;
	}
	br_call_reply(call, &br_namespace_schema, &out);
}

/* Creating or deleting namespace `name` needs role admin in it. */
static bool
may_administer(struct gateway *gw, br_call *call, const char *name)
{
	return gw_require(gw, call, name, BR_ROLE_ADMIN) == 0;
}

static void
handle_create(br_call *call, void *data)
{
	struct gateway *gw = data;
	const struct br_namespace_name_req *req = br_call_params(call);
	struct br_namespace out;
	br_err err = BR_ERR_INIT;

	if (gw_authorize(gw, call) < 0 || !check_name(call, req->name) ||
	    !may_administer(gw, call, req->name))
		return;
	int rc = insert(gw, req->name, &err);
	if (rc == 0)
		rc = br_err_set(&err, BR_ALREADY_EXISTS, "namespace \"%s\": already exists",
		                req->name);
	if (rc < 0 || get(gw, req->name, br_call_arena(call), &out, &err) < 0) {
		br_call_fail(call, &err);
		return;
	}
	br_log_info("GW-NAMESPACE", "namespace %s created", req->name);
	br_call_reply(call, &br_namespace_schema, &out);
}

/* A namespaces.delete waiting for the backends' daemon.namespace. */
struct deletion {
	struct gateway *gw;
	br_call *call;
	const char *name;
	struct br_ns_usage usage[GW_N_BACKENDS];
	br_err errors[GW_N_BACKENDS];
	int pending;
};

struct deletion_slot {
	struct deletion *del;
	int index;
};

static void
deletion_finish(struct deletion *del)
{
	br_arena *arena = br_call_arena(del->call);
	struct gateway *gw = del->gw;
	char *held = br_arena_strdup(arena, "");
	br_err err = BR_ERR_INIT;

	for (int i = 0; i < GW_N_BACKENDS; i++) {
		if (del->errors[i].code != BR_OK) {
			br_err_copy(&err, &del->errors[i]);
			br_err_wrap(&err, "delete namespace \"%s\": cannot tell what it holds",
			            del->name);
			br_call_fail(del->call, &err);
			free(del);
			return;
		}
		for (size_t k = 0; k < del->usage[i].items.n; k++)
			held = br_arena_printf(arena, "%s%s%s (%s)", held, held[0] ? ", " : "",
			                       del->usage[i].items.v[k], gw->backends[i].proc_name);
	}
	if (held[0] != '\0') {
		br_call_failf(del->call, BR_FAILED_PRECONDITION,
		              "namespace \"%s\" is not empty: %s", del->name, held);
		free(del);
		return;
	}
	if (remove_namespace(gw, del->name, &err) < 0) {
		br_call_fail(del->call, &err);
	} else {
		free(gw->last_ns);
		gw->last_ns = NULL;
		br_log_info("GW-NAMESPACE", "namespace %s deleted", del->name);
		br_call_reply(del->call, NULL, NULL);
	}
	free(del);
}

static void
usage_done(void *data, const br_err *err, void *result)
{
	struct deletion_slot *slot = data;
	struct deletion *del = slot->del;

	if (err != NULL)
		br_err_copy(&del->errors[slot->index], err);
	else
		del->usage[slot->index] = *(const struct br_ns_usage *)result;
	free(slot);
	if (--del->pending == 0)
		deletion_finish(del);
}

static void
handle_delete(br_call *call, void *data)
{
	struct gateway *gw = data;
	const struct br_namespace_name_req *req = br_call_params(call);
	struct br_namespace out;
	br_err err = BR_ERR_INIT;

	if (gw_authorize(gw, call) < 0 || !check_name(call, req->name) ||
	    !may_administer(gw, call, req->name))
		return;
	if (strcmp(req->name, "default") == 0) {
		br_call_failf(call, BR_FAILED_PRECONDITION,
		              "namespace \"default\" cannot be deleted");
		return;
	}
	if (get(gw, req->name, br_call_arena(call), &out, &err) < 0) {
		br_call_fail(call, &err);
		return;
	}
	struct deletion *del = xnew(struct deletion);
	struct br_call_opts opts = {.ns = req->name, .timeout_ms = USAGE_TIMEOUT_MS};
	del->gw = gw;
	del->call = call;
	del->name = req->name;
	del->pending = GW_N_BACKENDS;
	for (int i = 0; i < GW_N_BACKENDS; i++) {
		struct deletion_slot *slot = xnew(struct deletion_slot);
		slot->del = del;
		slot->index = i;
		br_rpc_call_async(gw->backends[i].client, gw->loop, &opts, "daemon.namespace", NULL,
		                  NULL, &br_ns_usage_schema, br_call_arena(call), usage_done, slot);
	}
}

const struct br_method gw_namespace_methods[] = {
        {"namespaces.list", &br_namespace_list_req_schema, handle_list},
        {"namespaces.get", &br_namespace_name_req_schema, handle_get},
        {"namespaces.create", &br_namespace_name_req_schema, handle_create},
        {"namespaces.delete", &br_namespace_name_req_schema, handle_delete},
};
const size_t gw_n_namespace_methods =
        sizeof(gw_namespace_methods) / sizeof(gw_namespace_methods[0]);
