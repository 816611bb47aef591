/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Snapshot records and the snapshots.* operations. The table `snapshots` holds one row per
 * snapshot: a numeric id (never reused, so a directory left behind can never be mistaken
 * for a newer snapshot's), its namespace, snapshotter and key, its parent's id and its kind.
 * The row is written before the directory is created and deleted before the directory is
 * removed; reconciliation at start (snapshotd_store_open) removes directories without rows
 * and active/view rows whose directory is missing or incomplete, and so does the collection
 * (gc.c) for directories while the daemon runs. Migration 2 adds the lease tables and the
 * remembered disk usage of committed snapshots (usage.c), migration 3 the outbox table that
 * the events go to. A prepare, view or commit that names a lease holds its result in the
 * same transaction as the row, and every row written or deleted takes its event with it.
 */
#include "snapshotd/store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/db.h"
#include "common/events.h"
#include "common/fsutil.h"
#include "common/outbox.h"
#include "common/xalloc.h"

static const struct br_db_migration migrations[] = {
        {1, "CREATE TABLE snapshots ("
            "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
            "  namespace TEXT NOT NULL,"
            "  snapshotter TEXT NOT NULL,"
            "  key TEXT NOT NULL,"
            "  parent_id INTEGER REFERENCES snapshots(id),"
            "  kind TEXT NOT NULL CHECK (kind IN ('active', 'view', 'committed')),"
            "  created_at INTEGER NOT NULL,"
            "  updated_at INTEGER NOT NULL,"
            "  UNIQUE (namespace, snapshotter, key)"
            ");"
            "CREATE INDEX snapshots_parent ON snapshots (parent_id);"
            "CREATE TABLE labels ("
            "  snapshot_id INTEGER NOT NULL REFERENCES snapshots(id) ON DELETE CASCADE,"
            "  key TEXT NOT NULL,"
            "  value TEXT NOT NULL,"
            "  PRIMARY KEY (snapshot_id, key)"
            ") WITHOUT ROWID;"},
        /* Leases; and the disk usage of a committed snapshot, measured once (it never
         * changes), NULL until then. */
        {2, BR_LEASE_SCHEMA_SQL "ALTER TABLE snapshots ADD COLUMN size INTEGER;"
                                "ALTER TABLE snapshots ADD COLUMN inodes INTEGER;"},
        {3, BR_OUTBOX_SCHEMA_SQL},
};

struct snapshotd_create {
	struct snapshotd_backend *backend;
	int64_t id, parent_id;
	enum snapshotd_kind kind;
	const char *key; /* the request's */
	struct br_snap_mounts_resp mounts;
	int rc;
	br_err err;
};

static void
snapshotd_store_freep(struct snapshotd_store **s)
{
	snapshotd_store_free(*s);
}

static int
kind_parse(const char *s, enum snapshotd_kind *ret)
{
	for (int k = SNAPSHOTD_ACTIVE; k <= SNAPSHOTD_COMMITTED; k++) {
		if (strcmp(s, snapshotd_kind_name(k)) == 0) {
			*ret = k;
			return 0;
		}
	}
	return -1;
}

/* ---- sets of ids (small: what is in flight at one time) ---- */

static bool
ids_has(const int64_t *ids, size_t n, int64_t id)
{
	for (size_t i = 0; i < n; i++)
		if (ids[i] == id)
			return true;
	return false;
}

static void
ids_add(int64_t **ids, size_t *n, int64_t id)
{
	*ids = xrealloc(*ids, (*n + 1) * sizeof(**ids));
	(*ids)[(*n)++] = id;
}

static void
ids_del(int64_t *ids, size_t *n, int64_t id)
{
	for (size_t i = 0; i < *n; i++) {
		if (ids[i] == id) {
			ids[i] = ids[--*n];
			return;
		}
	}
}

/* Whether snapshot `id` is being created. Owning thread. */
bool
snapshotd_busy(const struct snapshotd_store *s, int64_t id)
{
	return ids_has(s->busy, s->n_busy, id);
}

/* "[id,id,...]" (malloc'ed) for json_each(). Owning thread. */
char *
snapshotd_busy_json(const struct snapshotd_store *s)
{
	size_t cap = 3 + s->n_busy * 21, len = 0;
	char *out = xmalloc(cap);

	out[len++] = '[';
	for (size_t i = 0; i < s->n_busy; i++)
		len += (size_t)snprintf(out + len, cap - len, "%s%" PRId64, i ? "," : "",
		                        s->busy[i]);
	snprintf(out + len, cap - len, "]");
	return out;
}

/* Mark snapshot `id`'s directory as being removed (its row is gone). Owning thread. */
void
snapshotd_removing_add(struct snapshotd_store *s, int64_t id)
{
	ids_add(&s->removing, &s->n_removing, id);
}

/* The removal of `id`'s directory is over, whatever its outcome. Owning thread. */
void
snapshotd_removing_del(struct snapshotd_store *s, int64_t id)
{
	ids_del(s->removing, &s->n_removing, id);
}

/* Whether `id`'s directory is being removed. Owning thread. */
bool
snapshotd_removing(const struct snapshotd_store *s, int64_t id)
{
	return ids_has(s->removing, s->n_removing, id);
}

/* Keys and names: 1 to BR_KEY_MAX bytes (the schema checks), without '/'. */
static int
check_name(const char *what, const char *name, br_err *err)
{
	if (name == NULL || name[0] == '\0')
		return br_err_set(err, BR_INVALID_ARGUMENT, "snapshot %s: empty", what);
	if (strchr(name, '/') != NULL)
		return br_err_set(err, BR_INVALID_ARGUMENT,
		                  "snapshot %s \"%s\": must not contain '/'", what, name);
	return 0;
}

struct snapshotd_backend *
snapshotd_backend_get(struct snapshotd_store *s, const char *name, br_err *err)
{
	if (name == NULL || name[0] == '\0')
		return s->default_backend;
	for (size_t i = 0; i < s->n_backends; i++)
		if (strcmp(s->backends[i].ops->name, name) == 0)
			return &s->backends[i];
	br_err_set(err, BR_NOT_IMPLEMENTED,
	           "snapshotter \"%s\" is not available (known: overlayfs, native)", name);
	return NULL;
}

/* Look a snapshot up: 1 found (ret filled), 0 not found, -1 error. */
static int
lookup(struct snapshotd_store *s, const char *ns, const struct snapshotd_backend *b,
       const char *key, struct snapshotd_row *ret, br_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;

	if (br_db_prepare(s->db,
	                  "SELECT id, parent_id, kind FROM snapshots"
	                  " WHERE namespace = ? AND snapshotter = ? AND key = ?",
	                  &st, err) < 0)
		return -1;
	sqlite3_bind_text(st, 1, ns, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, b->ops->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, key, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		return 0;
	if (rc != SQLITE_ROW)
		return br_db_error(s->db, rc, err, "snapshot \"%s\"", key);
	ret->id = sqlite3_column_int64(st, 0);
	ret->parent_id = sqlite3_column_int64(st, 1);
	if (kind_parse(br_db_text(st, 2), &ret->kind) < 0)
		return br_err_set(err, BR_INTERNAL, "snapshot \"%s\": unknown kind \"%s\"", key,
		                  br_db_text(st, 2));
	return 1;
}

/* Look up a snapshot that must exist and must not be busy (store.h). */
int
snapshotd_lookup_existing(struct snapshotd_store *s, const char *ns,
                          const struct snapshotd_backend *b, const char *key,
                          struct snapshotd_row *ret, br_err *err)
{
	int found = lookup(s, ns, b, key, ret, err);

	if (found < 0)
		return -1;
	if (found == 0)
		return br_err_set(err, BR_NOT_FOUND, "snapshot \"%s\": not found", key);
	if (snapshotd_busy(s, ret->id))
		return br_err_set(err, BR_UNAVAILABLE, "snapshot \"%s\": being created", key);
	return 0;
}

/* The ancestors of a snapshot whose parent is `parent_id`, nearest first, in `arena`. */
static int
load_chain(struct snapshotd_store *s, int64_t parent_id, br_arena *arena, int64_t **ret,
           size_t *ret_n, br_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	_cleanup_free_ int64_t *chain = NULL;
	size_t n = 0;

	if (br_db_prepare(s->db, "SELECT parent_id FROM snapshots WHERE id = ?", &st, err) < 0)
		return -1;
	for (int64_t id = parent_id; id != 0;) {
		if (n == SNAPSHOTD_MAX_DEPTH)
			return br_err_set(err, BR_INTERNAL,
			                  "parent chain longer than %d (corrupt metadata?)",
			                  SNAPSHOTD_MAX_DEPTH);
		chain = xrealloc(chain, (n + 1) * sizeof(*chain));
		chain[n++] = id;
		sqlite3_reset(st);
		sqlite3_bind_int64(st, 1, id);
		int rc = sqlite3_step(st);
		if (rc == SQLITE_DONE)
			return br_err_set(err, BR_INTERNAL, "parent %" PRId64 " is missing", id);
		if (rc != SQLITE_ROW)
			return br_db_error(s->db, rc, err, "parent chain");
		id = sqlite3_column_int64(st, 0);
	}
	int64_t *out = br_arena_alloc(arena, (n ? n : 1) * sizeof(*out));
	if (n > 0)
		memcpy(out, chain, n * sizeof(*out));
	*ret = out;
	*ret_n = n;
	return 0;
}

static int
replace_labels(struct snapshotd_store *s, int64_t id, const struct br_strmap *labels, br_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *del = NULL;
	_cleanup_stmt_ sqlite3_stmt *ins = NULL;

	if (br_db_prepare(s->db, "DELETE FROM labels WHERE snapshot_id = ?", &del, err) < 0)
		return -1;
	sqlite3_bind_int64(del, 1, id);
	if (br_db_step_done(s->db, del, err, "labels") < 0)
		return -1;
	if (labels->n == 0)
		return 0;
	if (br_db_prepare(s->db, "INSERT INTO labels (snapshot_id, key, value) VALUES (?, ?, ?)",
	                  &ins, err) < 0)
		return -1;
	sqlite3_bind_int64(ins, 1, id);
	return br_db_write_labels(s->db, ins, 2, labels, err);
}

/* ---- events ---- */

void
snapshotd_store_set_outbox(struct snapshotd_store *s, struct br_outbox *ob)
{
	s->outbox = ob;
	if (s->leases != NULL)
		br_lease_store_set_outbox(s->leases, ob);
}

void
snapshotd_store_kick(struct snapshotd_store *s)
{
	if (s->outbox != NULL)
		br_outbox_kick(s->outbox);
}

int
snapshotd_snapshot_removed(struct snapshotd_store *s, const char *ns, const char *snapshotter,
                           const char *key, br_err *err)
{
	struct br_event_snapshot_remove ev = {.key = key, .snapshotter = snapshotter};

	return br_event_add(s->db, ns, BR_TOPIC_SNAPSHOT_REMOVE, &br_event_snapshot_remove_schema,
	                    &ev, err);
}

/* Delete the row of snapshot `id` with its /snapshots/remove event, in one transaction of its
 * own. */
static int
delete_row(struct snapshotd_store *s, int64_t id, br_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;

	if (br_db_prepare(
	            s->db,
	            "DELETE FROM snapshots WHERE id = ? RETURNING namespace, snapshotter, key", &st,
	            err) < 0 ||
	    br_db_begin(s->db, err) < 0)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		if (snapshotd_snapshot_removed(s, br_db_text(st, 0), br_db_text(st, 1),
		                               br_db_text(st, 2), err) < 0)
			goto out_rollback;
		rc = sqlite3_step(st);
	}
	if (rc != SQLITE_DONE) {
		br_db_error(s->db, rc, err, "delete snapshot");
		goto out_rollback;
	}
	if (br_db_commit(s->db, err) < 0)
		return -1;
	snapshotd_store_kick(s);
	return 0;

out_rollback:
	br_db_rollback(s->db);
	return -1;
}

/* ---- reconciliation ---- */

/* The backend named exactly `name`, or NULL (store.h). */
struct snapshotd_backend *
snapshotd_backend_by_name(struct snapshotd_store *s, const char *name)
{
	for (size_t i = 0; i < s->n_backends; i++)
		if (strcmp(s->backends[i].ops->name, name) == 0)
			return &s->backends[i];
	return NULL;
}

/* Rows of active and view snapshots whose directory is missing or incomplete go (they
 * cannot be parents, so nothing depends on them). A committed snapshot is kept and counted:
 * its children may still be usable and removing it is an operator's decision. */
static int
reconcile_rows(struct snapshotd_store *s, struct snapshotd_reconcile_stats *stats, br_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	_cleanup_free_ int64_t *gone = NULL;
	size_t n_gone = 0;
	int rc;

	if (br_db_prepare(s->db, "SELECT id, snapshotter, kind FROM snapshots", &st, err) < 0)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t id = sqlite3_column_int64(st, 0);
		struct snapshotd_backend *b = snapshotd_backend_by_name(s, br_db_text(st, 1));
		enum snapshotd_kind kind = SNAPSHOTD_COMMITTED;

		if (b == NULL || b->ops->complete(b, id))
			continue;
		kind_parse(br_db_text(st, 2), &kind);
		if (kind == SNAPSHOTD_COMMITTED) {
			stats->committed_missing++;
			continue;
		}
		gone = xrealloc(gone, (n_gone + 1) * sizeof(*gone));
		gone[n_gone++] = id;
	}
	if (rc != SQLITE_DONE)
		return br_db_error(s->db, rc, err, "list snapshots");
	for (size_t i = 0; i < n_gone; i++) {
		if (delete_row(s, gone[i], err) < 0)
			return -1;
		stats->rows_removed++;
	}
	return 0;
}

/* A directory name that is a snapshot id ("1", "42"; never "0", "01", "-1"). Pure. */
bool
snapshotd_parse_id(const char *name, int64_t *ret)
{
	char *end = NULL;

	if (name[0] < '1' || name[0] > '9')
		return false;
	errno = 0;
	long long v = strtoll(name, &end, 10);
	if (errno != 0 || *end != '\0' || v <= 0)
		return false;
	*ret = v;
	return true;
}

static int
row_exists(struct snapshotd_store *s, const struct snapshotd_backend *b, int64_t id, bool *ret,
           br_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;

	if (br_db_prepare(s->db, "SELECT 1 FROM snapshots WHERE id = ? AND snapshotter = ?", &st,
	                  err) < 0)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_text(st, 2, b->ops->name, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return br_db_error(s->db, rc, err, "look up snapshot %" PRId64, id);
	*ret = rc == SQLITE_ROW;
	return 0;
}

static int
reconcile_dirs(struct snapshotd_store *s, struct snapshotd_backend *b,
               struct snapshotd_reconcile_stats *stats, br_err *err)
{
	_cleanup_closedir_ DIR *d = NULL;
	int fd = openat(b->root_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct dirent *de;

	if (fd < 0 || (d = fdopendir(fd)) == NULL) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		return br_err_errno(err, BR_INTERNAL, e, "list %s", b->root);
	}
	while ((errno = 0, de = readdir(d)) != NULL) {
		bool exists = false;
		int64_t id;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (snapshotd_parse_id(de->d_name, &id) && row_exists(s, b, id, &exists, err) < 0)
			return -1;
		if (exists)
			continue;
		br_err rm_err = BR_ERR_INIT;
		if (br_rm_rf_at(b->root_fd, de->d_name, &rm_err) < 0) {
			if (stats->dirs_failed++ == 0) {
				br_err_copy(&stats->first_failure, &rm_err);
				br_err_wrap(&stats->first_failure, "remove %s/%s", b->root,
				            de->d_name);
			}
			continue;
		}
		stats->dirs_removed++;
	}
	if (errno != 0)
		return br_err_errno(err, BR_INTERNAL, errno, "list %s", b->root);
	return 0;
}

/* ---- open and free ---- */

static int
open_backend(struct snapshotd_store *s, const struct snapshotd_backend_ops *ops, br_err *err)
{
	struct snapshotd_backend *b = &s->backends[s->n_backends];

	b->root = xasprintf("%s/%s", s->dir, ops->name);
	b->root_fd = -1;
	b->ops = ops;
	s->n_backends++;
	if (br_mkdir_p(b->root, 0700, err) < 0)
		return -1;
	b->root_fd = open(b->root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (b->root_fd < 0)
		return br_err_errno(err, br_code_from_errno(errno), errno, "open %s", b->root);
	if (ops->init != NULL && ops->init(b, err) < 0)
		return -1;
	return 0;
}

int
snapshotd_store_open(const char *dir, const char *default_snapshotter,
                     struct snapshotd_reconcile_stats *ret_stats, struct snapshotd_store **ret,
                     br_err *err)
{
	_cleanup_(snapshotd_store_freep) struct snapshotd_store *s = xnew(struct snapshotd_store);
	_cleanup_free_ char *db_path = NULL;
	struct snapshotd_reconcile_stats stats = {0};
	char real[PATH_MAX];

	if (br_mkdir_p(dir, 0700, err) < 0)
		return br_err_wrap(err, "snapshot store %s", dir);
	if (realpath(dir, real) == NULL)
		return br_err_errno(err, BR_INTERNAL, errno, "snapshot store %s", dir);
	s->dir = xstrdup(real);
	for (size_t i = 0; snapshotd_backends[i] != NULL && i < SNAPSHOTD_MAX_BACKENDS; i++) {
		if (open_backend(s, snapshotd_backends[i], err) < 0)
			return br_err_wrap(err, "snapshot store %s", s->dir);
	}
	s->default_backend = snapshotd_backend_by_name(
	        s,
	        default_snapshotter && default_snapshotter[0] ? default_snapshotter : "overlayfs");
	if (s->default_backend == NULL)
		return br_err_set(err, BR_INVALID_ARGUMENT,
		                  "snapshotd.snapshotter: unknown snapshotter \"%s\" (known: "
		                  "overlayfs, native)",
		                  default_snapshotter);

	db_path = xasprintf("%s/meta.db", s->dir);
	if (br_db_open(db_path, migrations, sizeof(migrations) / sizeof(migrations[0]), &s->db,
	               err) < 0)
		return br_err_wrap(err, "snapshot store %s", s->dir);

	if (reconcile_rows(s, &stats, err) < 0)
		return br_err_wrap(err, "snapshot store %s: reconcile", s->dir);
	for (size_t i = 0; i < s->n_backends; i++)
		if (reconcile_dirs(s, &s->backends[i], &stats, err) < 0)
			return br_err_wrap(err, "snapshot store %s: reconcile", s->dir);

	if (ret_stats != NULL)
		*ret_stats = stats;
	*ret = br_steal_ptr(&s);
	return 0;
}

void
snapshotd_store_free(struct snapshotd_store *s)
{
	if (s == NULL)
		return;
	br_lease_store_free(s->leases);
	br_db_close(s->db);
	for (size_t i = 0; i < s->n_backends; i++) {
		if (s->backends[i].root_fd >= 0)
			close(s->backends[i].root_fd);
		free(s->backends[i].root);
	}
	free(s->busy);
	free(s->removing);
	free(s->dir);
	free(s);
}

/* ---- prepare and view ---- */

static int64_t
insert_row(struct snapshotd_store *s, const char *ns, const struct snapshotd_backend *b,
           const char *key, int64_t parent_id, enum snapshotd_kind kind, br_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int64_t now = br_db_now();

	if (br_db_prepare(s->db,
	                  "INSERT INTO snapshots (namespace, snapshotter, key, parent_id, kind,"
	                  " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
	                  &st, err) < 0)
		return -1;
	sqlite3_bind_text(st, 1, ns, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, b->ops->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, key, -1, SQLITE_STATIC);
	if (parent_id != 0)
		sqlite3_bind_int64(st, 4, parent_id);
	else
		sqlite3_bind_null(st, 4);
	sqlite3_bind_text(st, 5, snapshotd_kind_name(kind), -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 6, now);
	sqlite3_bind_int64(st, 7, now);
	if (br_db_step_done(s->db, st, err, "add snapshot") < 0)
		return -1;
	return sqlite3_last_insert_rowid(s->db);
}

/* Inside the transaction of create_begin: everything but the directory. */
static int
record_snapshot(struct snapshotd_store *s, const char *ns, struct snapshotd_create *c,
                const struct br_snap_prepare_req *req, br_arena *arena, br_err *err)
{
	const char *parent = req->parent != NULL && req->parent[0] ? req->parent : NULL;
	struct snapshotd_row row;
	int64_t *chain = NULL;
	size_t n = 0;
	int found;

	found = lookup(s, ns, c->backend, req->key, &row, err);
	if (found < 0)
		return -1;
	if (found)
		return br_err_set(err, BR_ALREADY_EXISTS, "snapshot \"%s\": already exists",
		                  req->key);
	if (parent != NULL) {
		found = lookup(s, ns, c->backend, parent, &row, err);
		if (found < 0)
			return -1;
		if (!found)
			return br_err_set(err, BR_NOT_FOUND,
			                  "snapshot \"%s\": parent \"%s\": not found", req->key,
			                  parent);
		if (row.kind != SNAPSHOTD_COMMITTED)
			return br_err_set(err, BR_FAILED_PRECONDITION,
			                  "snapshot \"%s\": parent \"%s\" is %s, not committed",
			                  req->key, parent,
			                  row.kind == SNAPSHOTD_ACTIVE ? "active" : "a view");
		c->parent_id = row.id;
	}
	c->id = insert_row(s, ns, c->backend, req->key, c->parent_id, c->kind, err);
	if (c->id < 0 || replace_labels(s, c->id, &req->labels, err) < 0)
		return -1;
	struct br_event_snapshot_prepare ev = {
	        .key = req->key,
	        .parent = parent,
	        .snapshotter = c->backend->ops->name,
	        .kind = snapshotd_kind_name(c->kind),
	};
	if (br_event_add(s->db, ns, BR_TOPIC_SNAPSHOT_PREPARE, &br_event_snapshot_prepare_schema,
	                 &ev, err) < 0)
		return -1;
	if (load_chain(s, c->parent_id, arena, &chain, &n, err) < 0)
		return br_err_wrap(err, "snapshot \"%s\"", req->key);
	if (c->backend->ops->mounts(c->backend, c->id, c->kind, chain, n, arena, &c->mounts, err) <
	    0)
		return br_err_wrap(err, "snapshot \"%s\"", req->key);
	return 0;
}

/* Inside a write transaction: NOT_FOUND unless `lease` (if any) exists in `ns`. */
static int
check_lease(struct snapshotd_store *s, const char *ns, const char *lease, br_err *err)
{
	if (lease == NULL)
		return 0;
	if (s->leases == NULL)
		return br_err_set(err, BR_FAILED_PRECONDITION, "lease \"%s\": leases are not open",
		                  lease);
	return br_lease_check(s->leases, ns, lease, err);
}

/* Inside a write transaction: hold (backend b, key) in `lease` (if any). */
static int
hold(struct snapshotd_store *s, const char *ns, const char *lease,
     const struct snapshotd_backend *b, const char *key, br_err *err)
{
	char type[BR_LEASE_TYPE_MAX + 1];

	if (lease == NULL)
		return 0;
	snprintf(type, sizeof(type), "snapshots/%s", b->ops->name);
	return br_lease_hold(s->leases, ns, lease, type, key, err);
}

int
snapshotd_create_begin(struct snapshotd_store *s, const char *ns,
                       const struct br_snap_prepare_req *req, enum snapshotd_kind kind,
                       const char *lease, br_arena *arena, struct snapshotd_create **ret,
                       br_err *err)
{
	struct snapshotd_backend *b = snapshotd_backend_get(s, req->snapshotter, err);
	_cleanup_free_ struct snapshotd_create *c = NULL;

	if (b == NULL || check_name("key", req->key, err) < 0)
		return -1;
	if (req->parent != NULL && req->parent[0] && check_name("parent", req->parent, err) < 0)
		return -1;
	c = xnew(struct snapshotd_create);
	c->backend = b;
	c->kind = kind;
	c->key = req->key;
	if (br_db_begin(s->db, err) < 0)
		return -1;
	if (check_lease(s, ns, lease, err) < 0 || record_snapshot(s, ns, c, req, arena, err) < 0 ||
	    hold(s, ns, lease, b, req->key, err) < 0) {
		br_db_rollback(s->db);
		return -1;
	}
	if (br_db_commit(s->db, err) < 0)
		return -1;
	snapshotd_store_kick(s);
	ids_add(&s->busy, &s->n_busy, c->id);
	*ret = br_steal_ptr(&c);
	return 0;
}

bool
snapshotd_create_blocks(const struct snapshotd_create *c)
{
	return c->backend->ops->create_blocks;
}

void
snapshotd_create_work(struct snapshotd_create *c)
{
	c->rc = c->backend->ops->create(c->backend, c->id, c->kind, c->parent_id, &c->err);
}

int
snapshotd_create_end(struct snapshotd_store *s, struct snapshotd_create *c,
                     struct br_snap_mounts_resp *ret, br_err *err)
{
	_cleanup_free_ struct snapshotd_create *owned = c;
	br_err ignored = BR_ERR_INIT;

	ids_del(s->busy, &s->n_busy, c->id);
	if (c->rc < 0) {
		/* Nothing depends on a snapshot that never existed: drop its row. */
		delete_row(s, c->id, &ignored);
		br_err_copy(err, &c->err);
		return br_err_wrap(err, "snapshot \"%s\"", c->key);
	}
	*ret = c->mounts;
	return 0;
}

int
snapshotd_create(struct snapshotd_store *s, const char *ns, const struct br_snap_prepare_req *req,
                 enum snapshotd_kind kind, const char *lease, br_arena *arena,
                 struct br_snap_mounts_resp *ret, br_err *err)
{
	struct snapshotd_create *c = NULL;

	if (snapshotd_create_begin(s, ns, req, kind, lease, arena, &c, err) < 0)
		return -1;
	snapshotd_create_work(c);
	return snapshotd_create_end(s, c, ret, err);
}

/* ---- mounts, commit, remove ---- */

int
snapshotd_mounts(struct snapshotd_store *s, const char *ns, const struct br_snap_key_req *req,
                 br_arena *arena, struct br_snap_mounts_resp *ret, br_err *err)
{
	struct snapshotd_backend *b = snapshotd_backend_get(s, req->snapshotter, err);
	struct br_snap_mounts_resp mounts = {0};
	int64_t *chain = NULL;
	size_t n = 0;
	struct snapshotd_row row;

	if (b == NULL || snapshotd_lookup_existing(s, ns, b, req->key, &row, err) < 0)
		return -1;
	if (load_chain(s, row.parent_id, arena, &chain, &n, err) < 0 ||
	    b->ops->mounts(b, row.id, row.kind, chain, n, arena, &mounts, err) < 0)
		return br_err_wrap(err, "snapshot \"%s\"", req->key);
	*ret = mounts;
	return 0;
}

/* The parent a commit with `parent` stacks active snapshot `row` on: a committed snapshot
 * of the same snapshotter and namespace, for a snapshot prepared without one, by a backend
 * that stacks parents at mount time. (A chain too deep to mount is refused when a child
 * is prepared on it, as for any chain.) */
static int
stack_on(struct snapshotd_store *s, const char *ns, const struct snapshotd_backend *b,
         const struct br_snap_commit_req *req, const struct snapshotd_row *row,
         int64_t *ret_parent_id, br_err *err)
{
	struct snapshotd_row parent;

	if (!b->ops->stacks_parents)
		return br_err_set(
		        err, BR_FAILED_PRECONDITION,
		        "commit \"%s\" onto \"%s\": snapshotter %s copies a parent's files "
		        "into its child, so a snapshot cannot be put onto a parent after "
		        "it was made",
		        req->name, req->parent, b->ops->name);
	if (row->parent_id != 0)
		return br_err_set(err, BR_FAILED_PRECONDITION,
		                  "commit \"%s\" onto \"%s\": snapshot \"%s\" was prepared on a "
		                  "parent already",
		                  req->name, req->parent, req->key);
	if (check_name("parent", req->parent, err) < 0)
		return -1;
	int found = lookup(s, ns, b, req->parent, &parent, err);
	if (found < 0)
		return -1;
	if (!found)
		return br_err_set(err, BR_NOT_FOUND, "commit \"%s\": parent \"%s\": not found",
		                  req->name, req->parent);
	if (parent.kind != SNAPSHOTD_COMMITTED)
		return br_err_set(err, BR_FAILED_PRECONDITION,
		                  "commit \"%s\": parent \"%s\" is %s, not committed", req->name,
		                  req->parent, snapshotd_kind_name(parent.kind));
	*ret_parent_id = parent.id;
	return 0;
}

static int
commit_locked(struct snapshotd_store *s, const char *ns, const struct snapshotd_backend *b,
              const struct br_snap_commit_req *req, const char *lease, br_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	struct snapshotd_row row, other;
	int found;

	if (snapshotd_lookup_existing(s, ns, b, req->key, &row, err) < 0)
		return -1;
	if (row.kind != SNAPSHOTD_ACTIVE)
		return br_err_set(err, BR_FAILED_PRECONDITION,
		                  "commit \"%s\": snapshot \"%s\" is %s, not active", req->name,
		                  req->key, row.kind == SNAPSHOTD_VIEW ? "a view" : "committed");
	found = lookup(s, ns, b, req->name, &other, err);
	if (found < 0)
		return -1;
	if (found && other.id != row.id)
		return br_err_set(err, BR_ALREADY_EXISTS,
		                  "commit \"%s\": snapshot \"%s\": already "
		                  "exists",
		                  req->name, req->name);
	int64_t parent_id = row.parent_id;
	if (req->parent != NULL && req->parent[0] &&
	    stack_on(s, ns, b, req, &row, &parent_id, err) < 0)
		return -1;
	if (br_db_prepare(s->db,
	                  "UPDATE snapshots SET key = ?, kind = 'committed', parent_id = ?,"
	                  " updated_at = ? WHERE id = ?",
	                  &st, err) < 0)
		return -1;
	sqlite3_bind_text(st, 1, req->name, -1, SQLITE_STATIC);
	if (parent_id != 0)
		sqlite3_bind_int64(st, 2, parent_id);
	sqlite3_bind_int64(st, 3, br_db_now());
	sqlite3_bind_int64(st, 4, row.id);
	if (br_db_step_done(s->db, st, err, "commit") < 0)
		return -1;
	if (req->labels.n > 0 && replace_labels(s, row.id, &req->labels, err) < 0)
		return -1;
	_cleanup_stmt_ sqlite3_stmt *pst = NULL;
	const char *parent = NULL;
	if (parent_id != 0) {
		if (br_db_prepare(s->db, "SELECT key FROM snapshots WHERE id = ?", &pst, err) < 0)
			return -1;
		sqlite3_bind_int64(pst, 1, parent_id);
		if (sqlite3_step(pst) == SQLITE_ROW)
			parent = br_db_text(pst, 0);
	}
	struct br_event_snapshot_commit ev = {
	        .key = req->name,
	        .active = req->key,
	        .parent = parent,
	        .snapshotter = b->ops->name,
	};
	if (br_event_add(s->db, ns, BR_TOPIC_SNAPSHOT_COMMIT, &br_event_snapshot_commit_schema, &ev,
	                 err) < 0)
		return -1;
	return hold(s, ns, lease, b, req->name, err);
}

int
snapshotd_commit(struct snapshotd_store *s, const char *ns, const struct br_snap_commit_req *req,
                 const char *lease, br_err *err)
{
	struct snapshotd_backend *b = snapshotd_backend_get(s, req->snapshotter, err);

	if (b == NULL || check_name("name", req->name, err) < 0 ||
	    check_name("key", req->key, err) < 0)
		return -1;
	if (br_db_begin(s->db, err) < 0)
		return -1;
	if (check_lease(s, ns, lease, err) < 0 || commit_locked(s, ns, b, req, lease, err) < 0) {
		br_db_rollback(s->db);
		return -1;
	}
	if (br_db_commit(s->db, err) < 0)
		return -1;
	snapshotd_store_kick(s);
	return 0;
}

static int
count_children(struct snapshotd_store *s, int64_t id, int64_t *ret, br_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;

	if (br_db_prepare(s->db, "SELECT COUNT(*) FROM snapshots WHERE parent_id = ?", &st, err) <
	    0)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	int rc = sqlite3_step(st);
	if (rc != SQLITE_ROW)
		return br_db_error(s->db, rc, err, "count children");
	*ret = sqlite3_column_int64(st, 0);
	return 0;
}

int
snapshotd_remove_begin(struct snapshotd_store *s, const char *ns, const struct br_snap_key_req *req,
                       struct snapshotd_removal *ret, br_err *err)
{
	struct snapshotd_backend *b = snapshotd_backend_get(s, req->snapshotter, err);
	int64_t children = 0;
	struct snapshotd_row row;

	if (b == NULL || snapshotd_lookup_existing(s, ns, b, req->key, &row, err) < 0)
		return -1;
	if (count_children(s, row.id, &children, err) < 0)
		return -1;
	if (children > 0)
		return br_err_set(err, BR_FAILED_PRECONDITION, "snapshot \"%s\" has %" PRId64 " %s",
		                  req->key, children, children == 1 ? "child" : "children");
	if (delete_row(s, row.id, err) < 0)
		return br_err_wrap(err, "remove snapshot \"%s\"", req->key);
	snapshotd_removing_add(s, row.id);
	ret->backend = b;
	ret->id = row.id;
	return 0;
}

int
snapshotd_remove_work(const struct snapshotd_removal *r, br_err *err)
{
	return r->backend->ops->remove(r->backend, r->id, err);
}

void
snapshotd_remove_end(struct snapshotd_store *s, const struct snapshotd_removal *r)
{
	snapshotd_removing_del(s, r->id);
}

int
snapshotd_remove(struct snapshotd_store *s, const char *ns, const struct br_snap_key_req *req,
                 br_err *err)
{
	struct snapshotd_removal r;
	int rc;

	if (snapshotd_remove_begin(s, ns, req, &r, err) < 0)
		return -1;
	rc = snapshotd_remove_work(&r, err);
	snapshotd_remove_end(s, &r);
	if (rc < 0)
		return br_err_wrap(err, "remove snapshot \"%s\"", req->key);
	return 0;
}

/* ---- stat and list ---- */

static int
load_labels(struct snapshotd_store *s, int64_t id, br_arena *arena, struct br_strmap *ret,
            br_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;

	if (br_db_prepare(s->db, "SELECT key, value FROM labels WHERE snapshot_id = ? ORDER BY key",
	                  &st, err) < 0)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	return br_db_read_labels(s->db, st, arena, ret, err);
}

#define INFO_SELECT                                                                      \
	"SELECT s.id, s.key, p.key, s.kind, s.created_at, s.updated_at FROM snapshots s" \
	" LEFT JOIN snapshots p ON p.id = s.parent_id"                                   \
	" WHERE s.namespace = ? AND s.snapshotter = ?"

/* Fill `info` from a row of INFO_SELECT. */
static int
info_from_row(struct snapshotd_store *s, sqlite3_stmt *st, br_arena *arena,
              struct br_snapshot_info *info, br_err *err)
{
	const char *parent = (const char *)sqlite3_column_text(st, 2);

	info->name = br_arena_strdup(arena, br_db_text(st, 1));
	info->parent = parent != NULL ? br_arena_strdup(arena, parent) : NULL;
	info->kind = br_arena_strdup(arena, br_db_text(st, 3));
	info->created_at = sqlite3_column_int64(st, 4);
	info->updated_at = sqlite3_column_int64(st, 5);
	return load_labels(s, sqlite3_column_int64(st, 0), arena, &info->labels, err);
}

int
snapshotd_stat(struct snapshotd_store *s, const char *ns, const struct br_snap_key_req *req,
               br_arena *arena, struct br_snapshot_info *ret, br_err *err)
{
	struct snapshotd_backend *b = snapshotd_backend_get(s, req->snapshotter, err);
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	struct br_snapshot_info info = {0};

	if (b == NULL || br_db_prepare(s->db, INFO_SELECT " AND s.key = ?", &st, err) < 0)
		return -1;
	sqlite3_bind_text(st, 1, ns, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, b->ops->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, req->key, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		return br_err_set(err, BR_NOT_FOUND, "snapshot \"%s\": not found", req->key);
	if (rc != SQLITE_ROW)
		return br_db_error(s->db, rc, err, "snapshot \"%s\"", req->key);
	if (info_from_row(s, st, arena, &info, err) < 0)
		return br_err_wrap(err, "snapshot \"%s\"", req->key);
	*ret = info;
	return 0;
}

int
snapshotd_list(struct snapshotd_store *s, const char *ns, const struct br_snap_list_req *req,
               br_arena *arena, struct br_snap_list_resp *ret, br_err *err)
{
	struct snapshotd_backend *b = snapshotd_backend_get(s, req->snapshotter, err);
	uint32_t size = br_page_size(&req->page);
	const char *after = req->page.token != NULL ? req->page.token : "";
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	struct br_snapshot_info *items = NULL;
	size_t n = 0, labels = 0, label_bytes = 0;
	const char *next = NULL;
	int rc;

	if (b == NULL ||
	    br_db_prepare(s->db, INFO_SELECT " AND s.key > ? ORDER BY s.key LIMIT ?", &st, err) < 0)
		return -1;
	sqlite3_bind_text(st, 1, ns, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, b->ops->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, after, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, (int64_t)size + 1);
	items = br_arena_alloc(arena, (size + 1) * sizeof(*items));
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		/* A full page, or labels enough for one reply: the rest on the next page. */
		if (n == size || labels >= BR_PAGE_LABELS_MAX ||
		    label_bytes >= SNAPSHOTD_LIST_LABEL_BYTES_MAX) {
			next = items[n - 1].name;
			break;
		}
		struct br_snapshot_info *info = &items[n++];
		if (info_from_row(s, st, arena, info, err) < 0)
			return -1;
		labels += info->labels.n;
		for (size_t i = 0; i < info->labels.n; i++)
			label_bytes +=
			        strlen(info->labels.keys[i]) + strlen(info->labels.values[i]);
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return br_db_error(s->db, rc, err, "list snapshots");
	ret->items.v = items;
	ret->items.n = n;
	ret->next_page_token = next;
	return 0;
}

int
snapshotd_count(struct snapshotd_store *s, const char *ns, int64_t *ret, br_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;

	if (br_db_prepare(s->db, "SELECT COUNT(*) FROM snapshots WHERE namespace = ?", &st, err) <
	    0)
		return -1;
	sqlite3_bind_text(st, 1, ns, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc != SQLITE_ROW)
		return br_db_error(s->db, rc, err, "count snapshots");
	*ret = sqlite3_column_int64(st, 0);
	return 0;
}
