/* SPDX-License-Identifier: Apache-2.0 */
/*
 * snapshots.usage (usage.h). A snapshot's figures are those of its own `fs` directory: for
 * overlayfs its own changes (the parents' files are theirs), for native its whole tree. A
 * committed snapshot never changes, so its figures are measured once and kept in its row
 * (columns size and inodes); active snapshots and views are measured on every call. A
 * snapshot being created is counted with no size in totals.
 */
#include "snapshotd/usage.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/db.h"
#include "common/fsutil.h"
#include "common/xalloc.h"

struct item {
	int64_t id;
	const struct snapshotd_backend *backend; /* NULL: not measurable */
	size_t ns;                               /* index in names (totals) */
	bool committed, reclaimable, measure;
	int64_t size, inodes;
	int rc; /* of the walk */
};

struct snapshotd_usage {
	const char *key; /* NULL: totals */
	struct item *items;
	size_t n, cap;
	char **names; /* namespaces, in order */
	size_t n_names;
	br_err err; /* the first walk failure */
};

static void
usage_free(struct snapshotd_usage *u)
{
	if (u == NULL)
		return;
	for (size_t i = 0; i < u->n_names; i++)
		free(u->names[i]);
	free(u->names);
	free(u->items);
	free(u);
}

static void
usage_freep(struct snapshotd_usage **u)
{
	usage_free(*u);
}

/* Add an item from a row whose columns from `col` are kind, size, inodes. */
static struct item *
add_item(struct snapshotd_store *s, struct snapshotd_usage *u, int64_t id,
         const struct snapshotd_backend *b, sqlite3_stmt *st, int col)
{
	if (u->n == u->cap) {
		u->cap = u->cap ? u->cap * 2 : 64;
		u->items = xrealloc(u->items, u->cap * sizeof(*u->items));
	}
	struct item *it = &u->items[u->n++];
	bool known = sqlite3_column_type(st, col + 1) != SQLITE_NULL &&
	             sqlite3_column_type(st, col + 2) != SQLITE_NULL;

	*it = (struct item){.id = id, .backend = b};
	it->committed = strcmp(br_db_text(st, col), "committed") == 0;
	if (it->committed && known) {
		it->size = sqlite3_column_int64(st, col + 1);
		it->inodes = sqlite3_column_int64(st, col + 2);
	} else {
		it->measure = b != NULL && !snapshotd_busy(s, id);
	}
	return it;
}

static int
begin_one(struct snapshotd_store *s, const char *ns, const struct br_snap_usage_req *req,
          struct snapshotd_usage *u, br_err *err)
{
	struct snapshotd_backend *b = snapshotd_backend_get(s, req->snapshotter, err);
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	struct snapshotd_row row;

	if (b == NULL || snapshotd_lookup_existing(s, ns, b, req->key, &row, err) < 0 ||
	    br_db_prepare(s->db, "SELECT kind, size, inodes FROM snapshots WHERE id = ?", &st,
	                  err) < 0)
		return -1;
	sqlite3_bind_int64(st, 1, row.id);
	int rc = sqlite3_step(st);
	if (rc != SQLITE_ROW)
		return br_db_error(s->db, rc, err, "snapshot \"%s\"", req->key);
	add_item(s, u, row.id, b, st, 0);
	u->key = req->key;
	return 0;
}

static int
begin_totals(struct snapshotd_store *s, struct snapshotd_usage *u, br_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	_cleanup_free_ char *busy = snapshotd_busy_json(s);
	int rc;

	if (br_db_prepare(
	            s->db,
	            SNAPSHOTD_KEEP_CTE
	            "SELECT s.id, s.namespace, s.snapshotter, s.id NOT IN (SELECT id FROM keep),"
	            " s.kind, s.size, s.inodes FROM snapshots s ORDER BY s.namespace, s.id",
	            &st, err) < 0)
		return -1;
	sqlite3_bind_int64(st, 1, br_db_now());
	sqlite3_bind_text(st, 2, busy, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *ns = br_db_text(st, 1);
		if (u->n_names == 0 || strcmp(u->names[u->n_names - 1], ns) != 0) {
			u->names = xrealloc(u->names, (u->n_names + 1) * sizeof(*u->names));
			u->names[u->n_names++] = xstrdup(ns);
		}
		struct item *it = add_item(s, u, sqlite3_column_int64(st, 0),
		                           snapshotd_backend_by_name(s, br_db_text(st, 2)), st, 4);
		it->ns = u->n_names - 1;
		it->reclaimable = sqlite3_column_int(st, 3) != 0;
	}
	if (rc != SQLITE_DONE)
		return br_db_error(s->db, rc, err, "snapshot usage");
	return 0;
}

int
snapshotd_usage_begin(struct snapshotd_store *s, const char *ns,
                      const struct br_snap_usage_req *req, struct snapshotd_usage **ret,
                      br_err *err)
{
	_cleanup_(usage_freep) struct snapshotd_usage *u = xnew(struct snapshotd_usage);

	if (req->key != NULL && req->key[0] != '\0') {
		if (begin_one(s, ns, req, u, err) < 0)
			return -1;
	} else if (begin_totals(s, u, err) < 0) {
		return -1;
	}
	*ret = br_steal_ptr(&u);
	return 0;
}

bool
snapshotd_usage_blocks(const struct snapshotd_usage *u)
{
	for (size_t i = 0; i < u->n; i++)
		if (u->items[i].measure)
			return true;
	return false;
}

void
snapshotd_usage_work(struct snapshotd_usage *u)
{
	for (size_t i = 0; i < u->n; i++) {
		struct item *it = &u->items[i];
		char name[32];
		br_err err = BR_ERR_INIT;

		if (!it->measure)
			continue;
		snprintf(name, sizeof(name), "%" PRId64 "/fs", it->id);
		it->rc = br_disk_usage_at(it->backend->root_fd, name, &it->size, &it->inodes, &err);
		if (it->rc < 0 && u->err.code == BR_OK)
			br_err_copy(&u->err, &err);
	}
}

/* Keep the figures of the committed snapshots just measured. Only an optimisation: a
 * failure here costs a walk at the next call, so it is not reported. */
static void
remember(struct snapshotd_store *s, const struct snapshotd_usage *u)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	br_err ignored = BR_ERR_INIT;
	bool any = false;

	for (size_t i = 0; i < u->n; i++)
		any = any || (u->items[i].measure && u->items[i].committed && u->items[i].rc == 0);
	if (!any ||
	    br_db_prepare(s->db,
	                  "UPDATE snapshots SET size = ?, inodes = ? WHERE id = ?"
	                  " AND kind = 'committed'",
	                  &st, &ignored) < 0 ||
	    br_db_begin(s->db, &ignored) < 0)
		return;
	for (size_t i = 0; i < u->n; i++) {
		const struct item *it = &u->items[i];
		if (!it->measure || !it->committed || it->rc < 0)
			continue;
		sqlite3_reset(st);
		sqlite3_bind_int64(st, 1, it->size);
		sqlite3_bind_int64(st, 2, it->inodes);
		sqlite3_bind_int64(st, 3, it->id);
		if (br_db_step_done(s->db, st, &ignored, "remember usage") < 0) {
			br_db_rollback(s->db);
			return;
		}
	}
	br_db_commit(s->db, &ignored);
}

static void
totals(const struct snapshotd_usage *u, br_arena *arena, struct br_snap_usage_resp *ret)
{
	size_t n_listed = u->n_names < BR_SNAP_USAGE_NAMESPACES_MAX ? u->n_names
	                                                            : BR_SNAP_USAGE_NAMESPACES_MAX;
	struct br_snap_ns_usage *per_ns =
	        br_arena_alloc(arena, (n_listed ? n_listed : 1) * sizeof(*per_ns));

	for (size_t i = 0; i < n_listed; i++)
		per_ns[i].ns = br_arena_strdup(arena, u->names[i]);
	for (size_t i = 0; i < u->n; i++) {
		const struct item *it = &u->items[i];
		int64_t size = it->rc < 0 ? 0 : it->size;
		ret->snapshots++;
		ret->size += size;
		ret->inodes += it->rc < 0 ? 0 : it->inodes;
		if (it->reclaimable)
			ret->reclaimable_size += size;
		if (it->ns < n_listed) {
			per_ns[it->ns].snapshots++;
			per_ns[it->ns].size += size;
		}
	}
	ret->namespaces.v = per_ns;
	ret->namespaces.n = n_listed;
}

int
snapshotd_usage_end(struct snapshotd_store *s, struct snapshotd_usage *u, br_arena *arena,
                    struct br_snap_usage_resp *ret, br_err *err)
{
	_cleanup_(usage_freep) struct snapshotd_usage *owned = u;
	struct br_snap_usage_resp out = {0};

	remember(s, u);
	if (u->key != NULL) {
		if (u->items[0].rc < 0) {
			br_err_copy(err, &u->err);
			return br_err_wrap(err, "snapshot \"%s\": usage", u->key);
		}
		out.size = u->items[0].size;
		out.inodes = u->items[0].inodes;
	} else {
		totals(u, arena, &out);
	}
	*ret = out;
	return 0;
}

int
snapshotd_usage(struct snapshotd_store *s, const char *ns, const struct br_snap_usage_req *req,
                br_arena *arena, struct br_snap_usage_resp *ret, br_err *err)
{
	struct snapshotd_usage *u = NULL;

	if (snapshotd_usage_begin(s, ns, req, &u, err) < 0)
		return -1;
	snapshotd_usage_work(u);
	return snapshotd_usage_end(s, u, arena, ret, err);
}
