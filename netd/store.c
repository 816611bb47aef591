/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The attachment store: one SQLite row per container network, keyed by (namespace, id), in
 * <root>/netd/meta.db. The row is the record of what netd made; the runtime part (netns
 * mount, files under <state>) is re-made from it after a reboot. Adding a row emits
 * /networks/connect and removing one /networks/disconnect, in the same transaction (the
 * outbox tables are made by br_outbox_new). Loop thread.
 */
#include <stdio.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/db.h"
#include "common/events.h"
#include "common/xalloc.h"
#include "netd/netd.h"

static const struct br_db_migration migrations[] = {
        {1, "CREATE TABLE attachments ("
            " namespace TEXT NOT NULL, id TEXT NOT NULL, mode TEXT NOT NULL,"
            " netns_path TEXT NOT NULL, hosts_path TEXT NOT NULL, resolv_path TEXT NOT NULL,"
            " created_at INTEGER NOT NULL, PRIMARY KEY (namespace, id));"},
};

int
netd_store_open(const char *data_dir, sqlite3 **ret, br_err *err)
{
	_cleanup_free_ char *path = xasprintf("%s/meta.db", data_dir);
	return br_db_open(path, migrations, sizeof(migrations) / sizeof(migrations[0]), ret, err);
}

static void
row_to_attachment(sqlite3_stmt *st, int col, br_arena *arena, struct br_net_attachment *a)
{
	a->id = br_arena_strdup(arena, br_db_text(st, col));
	a->mode = br_arena_strdup(arena, br_db_text(st, col + 1));
	a->netns_path = br_arena_strdup(arena, br_db_text(st, col + 2));
	a->hosts_path = br_arena_strdup(arena, br_db_text(st, col + 3));
	a->resolv_path = br_arena_strdup(arena, br_db_text(st, col + 4));
	a->created_at = sqlite3_column_int64(st, col + 5);
}

int
netd_store_get(sqlite3 *db, const char *ns, const char *id, br_arena *arena,
               struct br_net_attachment *ret, br_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int rc;

	if (br_db_prepare(db,
	                  "SELECT id, mode, netns_path, hosts_path, resolv_path, created_at"
	                  " FROM attachments WHERE namespace = ? AND id = ?",
	                  &st, err) < 0)
		return -1;
	sqlite3_bind_text(st, 1, ns, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		row_to_attachment(st, 0, arena, ret);
		return 0;
	}
	if (rc == SQLITE_DONE)
		return br_err_set(err, BR_NOT_FOUND, "network of container \"%s\": not found", id);
	return br_db_error(db, rc, err, "read network of container \"%s\"", id);
}

/* Run `st` and, when it changed a row (two detaches of one container may both get here),
 * emit `topic` for `a`, in one transaction. */
static int
write_with_event(sqlite3 *db, sqlite3_stmt *st, const char *ns, const char *topic,
                 const struct br_net_attachment *a, const char *what, br_err *err)
{
	struct br_event_network_attachment ev = {
	        .container_id = a->id, .network = a->mode, .netns_path = a->netns_path};

	if (br_db_begin(db, err) < 0)
		return br_err_wrap(err, "%s", what);
	if (br_db_step_done(db, st, err, "%s", what) < 0 ||
	    (sqlite3_changes(db) > 0 &&
	     br_event_add(db, ns, topic, &br_event_network_attachment_schema, &ev, err) < 0)) {
		br_db_rollback(db);
		return -1;
	}
	if (br_db_commit(db, err) < 0)
		return br_err_wrap(err, "%s", what);
	return 0;
}

int
netd_store_put(sqlite3 *db, const char *ns, const struct br_net_attachment *a, br_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	_cleanup_free_ char *what = xasprintf("record network of container \"%s\"", a->id);

	if (br_db_prepare(db,
	                  "INSERT INTO attachments (namespace, id, mode, netns_path, hosts_path,"
	                  " resolv_path, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
	                  &st, err) < 0)
		return -1;
	sqlite3_bind_text(st, 1, ns, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, a->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, a->mode, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, a->netns_path, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, a->hosts_path, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, a->resolv_path, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 7, a->created_at);
	return write_with_event(db, st, ns, BR_TOPIC_NETWORK_CONNECT, a, what, err);
}

int
netd_store_delete(sqlite3 *db, const char *ns, const struct br_net_attachment *a, br_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	_cleanup_free_ char *what = xasprintf("delete network of container \"%s\"", a->id);

	if (br_db_prepare(db, "DELETE FROM attachments WHERE namespace = ? AND id = ?", &st, err) <
	    0)
		return -1;
	sqlite3_bind_text(st, 1, ns, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, a->id, -1, SQLITE_STATIC);
	return write_with_event(db, st, ns, BR_TOPIC_NETWORK_DISCONNECT, a, what, err);
}

int
netd_store_list(sqlite3 *db, const char *ns, br_arena *arena, struct br_objlist *ret,
                const char ***ret_ns, br_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	size_t cap = 16, n = 0;
	struct br_net_attachment *items;
	const char **nss;
	int rc;

	if (br_db_prepare(db,
	                  "SELECT namespace, id, mode, netns_path, hosts_path, resolv_path,"
	                  " created_at FROM attachments WHERE ?1 IS NULL OR namespace = ?1"
	                  " ORDER BY namespace, id",
	                  &st, err) < 0)
		return -1;
	if (ns != NULL)
		sqlite3_bind_text(st, 1, ns, -1, SQLITE_STATIC);
	items = br_arena_alloc(arena, cap * sizeof(*items));
	nss = br_arena_alloc(arena, cap * sizeof(*nss));
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (n == cap) {
			struct br_net_attachment *bigger =
			        br_arena_alloc(arena, 2 * cap * sizeof(*items));
			const char **bigger_ns = br_arena_alloc(arena, 2 * cap * sizeof(*nss));
			memcpy(bigger, items, n * sizeof(*items));
			memcpy(bigger_ns, nss, n * sizeof(*nss));
			items = bigger;
			nss = bigger_ns;
			cap *= 2;
		}
		nss[n] = br_arena_strdup(arena, br_db_text(st, 0));
		row_to_attachment(st, 1, arena, &items[n]);
		n++;
	}
	if (rc != SQLITE_DONE)
		return br_db_error(db, rc, err, "list networks");
	ret->v = items;
	ret->n = n;
	if (ret_ns != NULL)
		*ret_ns = nss;
	return 0;
}
