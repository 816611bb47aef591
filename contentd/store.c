/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The blob half of the content store: opening the store directory and its database, what
 * contentd's leases mean (the resource types and whether one exists), the reconciliation of
 * blob files with blob rows after a crash, and the blob queries (info, list, read, delete).
 * Ingests, which turn into blobs, are in ingest.c; collection and usage in gc.c. Blob files
 * are named by the hex part of a digest that the schema codec has already validated, so a
 * name taken from a request can never leave blobs/sha256/. Migration 3 adds the outbox table
 * that the store's events go to.
 */
#include "contentd/store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/db.h"
#include "common/events.h"
#include "common/fsutil.h"
#include "common/outbox.h"
#include "common/xalloc.h"

static const struct br_db_migration migrations[] = {
        {1, "CREATE TABLE blobs ("
            "  digest TEXT PRIMARY KEY NOT NULL,"
            "  size INTEGER NOT NULL,"
            "  created_at INTEGER NOT NULL,"
            "  updated_at INTEGER NOT NULL"
            ") WITHOUT ROWID;"
            "CREATE TABLE labels ("
            "  digest TEXT NOT NULL REFERENCES blobs(digest) ON DELETE CASCADE,"
            "  key TEXT NOT NULL,"
            "  value TEXT NOT NULL,"
            "  PRIMARY KEY (digest, key)"
            ") WITHOUT ROWID;"
            "CREATE TABLE ingests ("
            "  ref TEXT PRIMARY KEY NOT NULL,"
            "  total INTEGER NOT NULL DEFAULT 0,"
            "  expected TEXT,"
            "  \"offset\" INTEGER NOT NULL DEFAULT 0,"
            "  started_at INTEGER NOT NULL,"
            "  updated_at INTEGER NOT NULL"
            ") WITHOUT ROWID;"},
        {2, BR_LEASE_SCHEMA_SQL},
        {3, BR_OUTBOX_SCHEMA_SQL},
};

static void
contentd_store_freep(struct contentd_store **s)
{
	contentd_store_free(*s);
}

/* Create dir_fd/name if missing and open it as a directory (never through a symlink). */
static int
open_subdir(int dir_fd, const char *name, int *ret_fd, br_err *err)
{
	if (mkdirat(dir_fd, name, 0700) < 0 && errno != EEXIST)
		return br_err_errno(err, br_code_from_errno(errno), errno, "create %s", name);
	int fd = openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return br_err_errno(err, br_code_from_errno(errno), errno, "open %s", name);
	*ret_fd = fd;
	return 0;
}

int
contentd_blob_exists(struct contentd_store *s, const char *digest, bool *ret, br_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;

	if (br_db_prepare(s->db, "SELECT 1 FROM blobs WHERE digest = ?", &st, err) < 0)
		return -1;
	sqlite3_bind_text(st, 1, digest, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return br_db_error(s->db, rc, err, "look up %s", digest);
	*ret = rc == SQLITE_ROW;
	return 0;
}

int
contentd_lease_refers(struct contentd_store *s, const char *type, const char *key, bool *ret,
                      br_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;

	if (br_db_prepare(s->db,
	                  "SELECT 1 FROM lease_resources r JOIN leases l"
	                  " ON l.namespace = r.namespace AND l.id = r.lease"
	                  " WHERE r.type = ? AND r.key = ? AND (l.expire_at = 0 OR l.expire_at > ?)"
	                  " LIMIT 1",
	                  &st, err) < 0)
		return -1;
	sqlite3_bind_text(st, 1, type, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, br_db_now());
	int rc = sqlite3_step(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return br_db_error(s->db, rc, err, "leases of %s %s", type, key);
	*ret = rc == SQLITE_ROW;
	return 0;
}

static int
insert_labels(struct contentd_store *s, const char *digest, const struct br_strmap *labels,
              br_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;

	if (labels == NULL || labels->n == 0)
		return 0;
	if (br_db_prepare(s->db,
	                  "INSERT OR REPLACE INTO labels (digest, key, value) VALUES (?, ?, ?)",
	                  &st, err) < 0)
		return -1;
	sqlite3_bind_text(st, 1, digest, -1, SQLITE_STATIC);
	return br_db_write_labels(s->db, st, 2, labels, err);
}

/* The statements of contentd_blob_insert(), inside its transaction. */
static int
blob_insert_tx(struct contentd_store *s, const char *digest, int64_t size,
               const struct br_strmap *labels, const char *remove_ingest_ref,
               const struct contentd_lease_ref *lease, br_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *ins = NULL;
	_cleanup_stmt_ sqlite3_stmt *del = NULL;
	int64_t now = br_db_now();

	if (br_db_prepare(
	            s->db,
	            "INSERT INTO blobs (digest, size, created_at, updated_at) VALUES (?, ?, ?, ?)",
	            &ins, err) < 0)
		return -1;
	sqlite3_bind_text(ins, 1, digest, -1, SQLITE_STATIC);
	sqlite3_bind_int64(ins, 2, size);
	sqlite3_bind_int64(ins, 3, now);
	sqlite3_bind_int64(ins, 4, now);
	if (br_db_step_done(s->db, ins, err, "register %s", digest) < 0 ||
	    insert_labels(s, digest, labels, err) < 0)
		return -1;
	if (remove_ingest_ref != NULL) {
		if (br_db_prepare(s->db, "DELETE FROM ingests WHERE ref = ?", &del, err) < 0)
			return -1;
		sqlite3_bind_text(del, 1, remove_ingest_ref, -1, SQLITE_STATIC);
		if (br_db_step_done(s->db, del, err, "remove ingest %s", remove_ingest_ref) < 0)
			return -1;
	}
	if (lease == NULL)
		return 0;
	if (remove_ingest_ref == NULL)
		return br_lease_hold(s->leases, lease->ns, lease->id, CONTENTD_LEASE_CONTENT,
		                     digest, err);
	return contentd_lease_move_to_blob(s, lease, remove_ingest_ref, digest, err);
}

int
contentd_lease_move_to_blob(struct contentd_store *s, const struct contentd_lease_ref *lease,
                            const char *ref, const char *digest, br_err *err)
{
	const struct br_lease_resource from = {CONTENTD_LEASE_INGEST, ref};
	const struct br_lease_resource to = {CONTENTD_LEASE_CONTENT, digest};

	return br_lease_move(s->leases, lease->ns, lease->id, &from, &to, err);
}

int
contentd_blob_insert(struct contentd_store *s, const char *digest, int64_t size,
                     const struct br_strmap *labels, const char *remove_ingest_ref,
                     const struct contentd_lease_ref *lease, br_err *err)
{
	if (br_db_begin(s->db, err) < 0)
		return -1;
	if (blob_insert_tx(s, digest, size, labels, remove_ingest_ref, lease, err) < 0) {
		br_db_rollback(s->db);
		return -1;
	}
	return br_db_commit(s->db, err);
}

int
contentd_blob_deleted(struct contentd_store *s, const char *digest, br_err *err)
{
	struct br_event_content_delete ev = {.digest = digest};

	return br_event_add(s->db, BR_STORE_EVENT_NS, BR_TOPIC_CONTENT_DELETE,
	                    &br_event_content_delete_schema, &ev, err);
}

void
contentd_store_kick(struct contentd_store *s)
{
	if (s->outbox != NULL)
		br_outbox_kick(s->outbox);
}

void
contentd_store_set_outbox(struct contentd_store *s, struct br_outbox *ob)
{
	s->outbox = ob;
	br_lease_store_set_outbox(s->leases, ob);
	br_gc_set_outbox(s->gc, ob);
}

/* Delete the row of blob `digest` and announce it, in one transaction of its own. */
static int
delete_blob_row(struct contentd_store *s, const char *digest, br_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;

	if (br_db_prepare(s->db, "DELETE FROM blobs WHERE digest = ?", &st, err) < 0 ||
	    br_db_begin(s->db, err) < 0)
		return -1;
	sqlite3_bind_text(st, 1, digest, -1, SQLITE_STATIC);
	if (br_db_step_done(s->db, st, err, "remove %s", digest) < 0 ||
	    (sqlite3_changes(s->db) > 0 && contentd_blob_deleted(s, digest, err) < 0)) {
		br_db_rollback(s->db);
		return -1;
	}
	if (br_db_commit(s->db, err) < 0)
		return -1;
	contentd_store_kick(s);
	return 0;
}

/* ---- leases: what contentd's resources are ---- */

static const char *
lease_canonical_type(void *data, const struct br_lease_resource *r, br_arena *arena, br_err *err)
{
	(void)data;
	(void)arena;
	if (strcmp(r->type, CONTENTD_LEASE_CONTENT) == 0) {
		if (!br_digest_valid(r->key)) {
			br_err_set(err, BR_INVALID_ARGUMENT,
			           "type \"content\": key \"%s\" is not a sha256 digest", r->key);
			return NULL;
		}
		return CONTENTD_LEASE_CONTENT;
	}
	if (strcmp(r->type, CONTENTD_LEASE_INGEST) == 0) {
		if (!br_msg_is_id(r->key, BR_KEY_MAX)) {
			br_err_set(err, BR_INVALID_ARGUMENT,
			           "type \"ingest\": key \"%s\" is not an ingest ref", r->key);
			return NULL;
		}
		return CONTENTD_LEASE_INGEST;
	}
	br_err_set(err, BR_INVALID_ARGUMENT,
	           "type \"%s\": unknown to berth-contentd (\"content\" or \"ingest\")", r->type);
	return NULL;
}

/* Blobs and ingests belong to no namespace: `ns` does not matter. */
static int
lease_exists(void *data, const char *ns, const char *type, const char *key, bool *ret, br_err *err)
{
	struct contentd_store *s = data;

	(void)ns;
	if (strcmp(type, CONTENTD_LEASE_INGEST) == 0) {
		*ret = contentd_ingest_exists(s, key);
		return 0;
	}
	return contentd_blob_exists(s, key, ret, err);
}

static void
lease_released(void *data)
{
	struct contentd_store *s = data;

	br_gc_released(s->gc);
}

static const struct br_lease_store_ops lease_ops = {
        .canonical_type = lease_canonical_type,
        .exists = lease_exists,
        .released = lease_released,
};

/* Rows whose file is missing, is not a regular file or has another size than recorded go
 * (with the file, if any: a blob of the wrong size cannot be trusted). */
static int
reconcile_blob_rows(struct contentd_store *s, struct contentd_reconcile_stats *stats, br_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	_cleanup_strv_ char **bad = NULL;
	size_t n_bad = 0;
	int rc;

	if (br_db_prepare(s->db, "SELECT digest, size FROM blobs", &st, err) < 0)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *digest = br_db_text(st, 0);
		int64_t size = sqlite3_column_int64(st, 1);
		struct stat sb;
		bool ok = br_digest_valid(digest) &&
		          fstatat(s->blobs_fd, br_digest_hex(digest), &sb, AT_SYMLINK_NOFOLLOW) ==
		                  0 &&
		          S_ISREG(sb.st_mode) && sb.st_size == size;
		if (ok)
			continue;
		bad = xrealloc(bad, (n_bad + 2) * sizeof(*bad));
		bad[n_bad++] = xstrdup(digest);
		bad[n_bad] = NULL;
	}
	if (rc != SQLITE_DONE)
		return br_db_error(s->db, rc, err, "list blobs");
	for (size_t i = 0; i < n_bad; i++) {
		if (br_digest_valid(bad[i]))
			unlinkat(s->blobs_fd, br_digest_hex(bad[i]), 0);
		if (delete_blob_row(s, bad[i], err) < 0)
			return -1;
		stats->rows_removed++;
	}
	return 0;
}

bool
contentd_is_blob_name(const char *name)
{
	size_t n = 0;
	for (; name[n] != '\0'; n++) {
		char c = name[n];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return false;
	}
	return n == 64;
}

/* A blob file without a row: a crash came between its rename and its row, or between a
 * collection's row removal and its unlink. A blob no lease holds would be collected at once,
 * so it is removed without being read; a held one is registered if its content matches its
 * name, removed otherwise. */
static int
adopt_blob_file(struct contentd_store *s, const char *name, struct contentd_reconcile_stats *stats,
                br_err *err)
{
	_cleanup_close_ int fd = -1;
	char digest[BR_DIGEST_BUF], actual[BR_DIGEST_BUF];
	br_err ignored = BR_ERR_INIT;
	struct stat sb;
	bool exists = false, held = false;

	snprintf(digest, sizeof(digest), "sha256:%s", name);
	if (contentd_blob_exists(s, digest, &exists, err) < 0)
		return -1;
	if (exists)
		return 0;
	if (contentd_lease_refers(s, CONTENTD_LEASE_CONTENT, digest, &held, err) < 0)
		return -1;
	if (held)
		fd = openat(s->blobs_fd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (!held || fd < 0 || fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode) ||
	    br_digest_fd(fd, actual, &ignored) < 0 || strcmp(actual, digest) != 0) {
		if (unlinkat(s->blobs_fd, name, 0) < 0 && errno != ENOENT)
			return br_err_errno(err, br_code_from_errno(errno), errno,
			                    "remove blob file %s", name);
		if (held)
			stats->blobs_removed++;
		else
			stats->blobs_unheld++;
		return 0;
	}
	if (fchmod(fd, 0444) < 0)
		return br_err_errno(err, BR_INTERNAL, errno, "chmod blob %s", name);
	if (contentd_blob_insert(s, digest, sb.st_size, NULL, NULL, NULL, err) < 0)
		return -1;
	stats->blobs_registered++;
	return 0;
}

static int
reconcile_blob_files(struct contentd_store *s, struct contentd_reconcile_stats *stats, br_err *err)
{
	_cleanup_closedir_ DIR *d = NULL;
	int fd = openat(s->blobs_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct dirent *de;

	if (fd < 0 || (d = fdopendir(fd)) == NULL) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		return br_err_errno(err, BR_INTERNAL, e, "list blobs/sha256");
	}
	while ((errno = 0, de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (!contentd_is_blob_name(de->d_name)) {
			if (br_rm_rf_at(s->blobs_fd, de->d_name, err) < 0)
				return br_err_wrap(err, "remove stray blobs/sha256/%s", de->d_name);
			stats->blobs_removed++;
			continue;
		}
		if (adopt_blob_file(s, de->d_name, stats, err) < 0)
			return -1;
	}
	if (errno != 0)
		return br_err_errno(err, BR_INTERNAL, errno, "list blobs/sha256");
	return 0;
}

int
contentd_store_open(const char *dir, const struct contentd_store_opts *opts,
                    struct contentd_reconcile_stats *ret_stats, struct contentd_store **ret,
                    br_err *err)
{
	_cleanup_(contentd_store_freep) struct contentd_store *s = xnew(struct contentd_store);
	_cleanup_free_ char *db_path = NULL;
	struct contentd_reconcile_stats stats = {0};
	int blobs_parent = -1;

	s->dir_fd = s->blobs_fd = s->ingest_fd = -1;
	s->dir = xstrdup(dir);
	s->max_blob_size = CONTENTD_MAX_BLOB_SIZE;
	s->max_ingests = CONTENTD_MAX_INGESTS;
	s->uv = opts->uv;
	s->ingest_expiry_ms = opts->ingest_expiry_ms;

	if (br_mkdir_p(dir, 0700, err) < 0)
		return br_err_wrap(err, "content store %s", dir);
	s->dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->dir_fd < 0)
		return br_err_errno(err, br_code_from_errno(errno), errno, "content store %s", dir);
	if (open_subdir(s->dir_fd, "blobs", &blobs_parent, err) < 0)
		return br_err_wrap(err, "content store %s", dir);
	int rc = open_subdir(blobs_parent, "sha256", &s->blobs_fd, err);
	close(blobs_parent);
	if (rc < 0 || open_subdir(s->dir_fd, "ingest", &s->ingest_fd, err) < 0)
		return br_err_wrap(err, "content store %s", dir);

	db_path = xasprintf("%s/meta.db", dir);
	if (br_db_open(db_path, migrations, sizeof(migrations) / sizeof(migrations[0]), &s->db,
	               err) < 0)
		return br_err_wrap(err, "content store %s", dir);

	if (reconcile_blob_rows(s, &stats, err) < 0 || reconcile_blob_files(s, &stats, err) < 0 ||
	    contentd_ingests_reconcile(s, &stats, err) < 0)
		return br_err_wrap(err, "content store %s: reconcile", dir);
	/* The scheduler first: the lease store reports expiries to it. */
	if (contentd_gc_init(s, opts, err) < 0 ||
	    br_lease_store_new(s->uv, s->db, "contentd", "content", &lease_ops, s, &s->leases,
	                       err) < 0)
		return br_err_wrap(err, "content store %s", dir);

	if (ret_stats != NULL)
		*ret_stats = stats;
	*ret = br_steal_ptr(&s);
	return 0;
}

void
contentd_store_drain(struct contentd_store *s)
{
	if (s->gc == NULL)
		return;
	br_gc_stop(s->gc);
	while (br_gc_running(s->gc))
		uv_run(s->uv, UV_RUN_ONCE);
}

void
contentd_store_free(struct contentd_store *s)
{
	if (s == NULL)
		return;
	contentd_store_drain(s);
	br_lease_store_free(s->leases);
	contentd_gc_fini(s);
	contentd_ingests_free(s);
	br_db_close(s->db);
	if (s->ingest_fd >= 0)
		close(s->ingest_fd);
	if (s->blobs_fd >= 0)
		close(s->blobs_fd);
	if (s->dir_fd >= 0)
		close(s->dir_fd);
	free(s->dir);
	free(s);
}

#define LABELS_SQL "SELECT key, value FROM labels WHERE digest = ? ORDER BY key"

int
contentd_info(struct contentd_store *s, const char *digest, br_arena *arena,
              struct br_content_info *ret, br_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	_cleanup_stmt_ sqlite3_stmt *labels = NULL;
	struct br_content_info info = {0};

	if (br_db_prepare(s->db, "SELECT size, created_at, updated_at FROM blobs WHERE digest = ?",
	                  &st, err) < 0)
		return -1;
	sqlite3_bind_text(st, 1, digest, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		return br_err_set(err, BR_NOT_FOUND, "content %s: not found", digest);
	if (rc != SQLITE_ROW)
		return br_db_error(s->db, rc, err, "content %s", digest);
	info.digest = br_arena_strdup(arena, digest);
	info.size = sqlite3_column_int64(st, 0);
	info.created_at = sqlite3_column_int64(st, 1);
	info.updated_at = sqlite3_column_int64(st, 2);
	if (br_db_prepare(s->db, LABELS_SQL, &labels, err) < 0)
		return -1;
	sqlite3_bind_text(labels, 1, digest, -1, SQLITE_STATIC);
	if (br_db_read_labels(s->db, labels, arena, &info.labels, err) < 0)
		return br_err_wrap(err, "content %s", digest);
	*ret = info;
	return 0;
}

int
contentd_list(struct contentd_store *s, const struct br_page_req *req, br_arena *arena,
              struct br_content_list_resp *ret, br_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	_cleanup_stmt_ sqlite3_stmt *labels = NULL;
	uint32_t size = br_page_size(req);
	struct br_content_list_resp out = {0};
	const char *after = "";
	size_t n = 0, n_labels = 0;
	int rc;

	if (req != NULL && req->token != NULL && req->token[0] != '\0') {
		if (!br_digest_valid(req->token))
			return br_err_set(err, BR_INVALID_ARGUMENT,
			                  "p.page_token: not a token of this list");
		after = req->token;
	}
	if (br_db_prepare(s->db,
	                  "SELECT digest, size, created_at, updated_at FROM blobs"
	                  " WHERE digest > ? ORDER BY digest LIMIT ?",
	                  &st, err) < 0 ||
	    br_db_prepare(s->db, LABELS_SQL, &labels, err) < 0)
		return -1;
	sqlite3_bind_text(st, 1, after, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (int64_t)size + 1);
	struct br_content_info *items = br_arena_alloc(arena, (size + 1) * sizeof(*items));
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		/* One row more than the page tells whether another page follows. */
		if (n == size || n_labels >= BR_PAGE_LABELS_MAX) {
			out.next_page_token = items[n - 1].digest;
			break;
		}
		struct br_content_info *info = &items[n++];
		info->digest = br_arena_strdup(arena, br_db_text(st, 0));
		info->size = sqlite3_column_int64(st, 1);
		info->created_at = sqlite3_column_int64(st, 2);
		info->updated_at = sqlite3_column_int64(st, 3);
		sqlite3_reset(labels);
		sqlite3_bind_text(labels, 1, info->digest, -1, SQLITE_STATIC);
		if (br_db_read_labels(s->db, labels, arena, &info->labels, err) < 0)
			return br_err_wrap(err, "list content: %s", info->digest);
		n_labels += info->labels.n;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return br_db_error(s->db, rc, err, "list content");
	out.items.v = items;
	out.items.n = n;
	*ret = out;
	return 0;
}

int
contentd_delete(struct contentd_store *s, const char *digest, br_err *err)
{
	bool exists = false;

	if (contentd_blob_exists(s, digest, &exists, err) < 0)
		return -1;
	if (!exists)
		return br_err_set(err, BR_NOT_FOUND, "content %s: not found", digest);
	/* The file goes first: a crash before the row goes leaves a row without a file, which
	 * the next start removes; the other order could resurrect the blob. */
	if (unlinkat(s->blobs_fd, br_digest_hex(digest), 0) < 0 && errno != ENOENT)
		return br_err_errno(err, br_code_from_errno(errno), errno, "delete content %s",
		                    digest);
	if (delete_blob_row(s, digest, err) < 0)
		return br_err_wrap(err, "delete content %s", digest);
	return 0;
}

int
contentd_read(struct contentd_store *s, const struct br_content_read_req *req, br_arena *arena,
              struct br_content_read_resp *ret, br_err *err)
{
	_cleanup_close_ int fd = -1;
	bool exists = false;
	struct stat sb;

	if (req->offset < 0)
		return br_err_set(err, BR_INVALID_ARGUMENT, "read %s: negative offset %lld",
		                  req->digest, (long long)req->offset);
	if (req->size < 0)
		return br_err_set(err, BR_INVALID_ARGUMENT, "read %s: negative size %lld",
		                  req->digest, (long long)req->size);
	if (contentd_blob_exists(s, req->digest, &exists, err) < 0)
		return -1;
	if (!exists)
		return br_err_set(err, BR_NOT_FOUND, "content %s: not found", req->digest);
	fd = openat(s->blobs_fd, br_digest_hex(req->digest), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &sb) < 0)
		return br_err_errno(err, br_code_from_errno(errno), errno, "read %s", req->digest);
	if (req->offset > sb.st_size)
		return br_err_set(err, BR_INVALID_ARGUMENT,
		                  "read %s: offset %lld is past the end (%lld bytes)", req->digest,
		                  (long long)req->offset, (long long)sb.st_size);

	int64_t want = req->size == 0 || req->size > BR_CHUNK_MAX ? BR_CHUNK_MAX : req->size;
	if (want > sb.st_size - req->offset)
		want = sb.st_size - req->offset;
	uint8_t *buf = want > 0 ? br_arena_alloc(arena, (size_t)want) : NULL;
	size_t got = 0;
	while (got < (size_t)want) {
		ssize_t r = pread(fd, buf + got, (size_t)want - got, req->offset + (off_t)got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return br_err_errno(err, BR_INTERNAL, errno, "read %s", req->digest);
		if (r == 0)
			break;
		got += (size_t)r;
	}
	ret->data.data = buf;
	ret->data.len = got;
	ret->offset = req->offset;
	ret->total = sb.st_size;
	return 0;
}
