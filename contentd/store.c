/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The blob half of the content store: opening the store directory and its database, the
 * reconciliation of blob files with blob rows after a crash, and the blob queries (info,
 * list, read, delete). Ingests, which turn into blobs, are in ingest.c. Blob files are named
 * by the hex part of a digest that the schema codec has already validated, so a name taken
 * from a request can never leave blobs/sha256/.
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
#include "common/fsutil.h"
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
	for (size_t i = 0; i < labels->n; i++) {
		sqlite3_reset(st);
		sqlite3_bind_text(st, 1, digest, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, labels->keys[i], -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, labels->values[i], -1, SQLITE_STATIC);
		int rc = sqlite3_step(st);
		if (rc != SQLITE_DONE)
			return br_db_error(s->db, rc, err, "label %s", labels->keys[i]);
	}
	return 0;
}

int
contentd_blob_insert(struct contentd_store *s, const char *digest, int64_t size,
                     const struct br_strmap *labels, const char *remove_ingest_ref, br_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int64_t now = br_db_now();
	int rc;

	if (br_db_begin(s->db, err) < 0)
		return -1;
	if (br_db_prepare(
	            s->db,
	            "INSERT INTO blobs (digest, size, created_at, updated_at) VALUES (?, ?, ?, ?)",
	            &st, err) < 0)
		goto out_rollback;
	sqlite3_bind_text(st, 1, digest, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, size);
	sqlite3_bind_int64(st, 3, now);
	sqlite3_bind_int64(st, 4, now);
	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE) {
		br_db_error(s->db, rc, err, "register %s", digest);
		goto out_rollback;
	}
	if (insert_labels(s, digest, labels, err) < 0)
		goto out_rollback;
	if (remove_ingest_ref != NULL) {
		sqlite3_finalize(br_steal_ptr(&st));
		if (br_db_prepare(s->db, "DELETE FROM ingests WHERE ref = ?", &st, err) < 0)
			goto out_rollback;
		sqlite3_bind_text(st, 1, remove_ingest_ref, -1, SQLITE_STATIC);
		rc = sqlite3_step(st);
		if (rc != SQLITE_DONE) {
			br_db_error(s->db, rc, err, "remove ingest %s", remove_ingest_ref);
			goto out_rollback;
		}
	}
	sqlite3_finalize(br_steal_ptr(&st));
	return br_db_commit(s->db, err);

out_rollback:
	br_db_rollback(s->db);
	return -1;
}

static int
delete_blob_row(struct contentd_store *s, const char *digest, br_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;

	if (br_db_prepare(s->db, "DELETE FROM blobs WHERE digest = ?", &st, err) < 0)
		return -1;
	sqlite3_bind_text(st, 1, digest, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		return br_db_error(s->db, rc, err, "remove %s", digest);
	return 0;
}

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

static bool
is_hex64(const char *name)
{
	size_t n = 0;
	for (; name[n] != '\0'; n++) {
		char c = name[n];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return false;
	}
	return n == 64;
}

/* A blob file without a row: a crash came between its rename and its row. Register it if
 * its content matches its name, remove it otherwise. */
static int
adopt_blob_file(struct contentd_store *s, const char *name, struct contentd_reconcile_stats *stats,
                br_err *err)
{
	_cleanup_close_ int fd = -1;
	char digest[BR_DIGEST_BUF], actual[BR_DIGEST_BUF];
	br_err ignored = BR_ERR_INIT;
	struct stat sb;
	bool exists = false;

	snprintf(digest, sizeof(digest), "sha256:%s", name);
	if (contentd_blob_exists(s, digest, &exists, err) < 0)
		return -1;
	if (exists)
		return 0;
	fd = openat(s->blobs_fd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode) ||
	    br_digest_fd(fd, actual, &ignored) < 0 || strcmp(actual, digest) != 0) {
		if (unlinkat(s->blobs_fd, name, 0) < 0 && errno != ENOENT)
			return br_err_errno(err, br_code_from_errno(errno), errno,
			                    "remove invalid blob %s", name);
		stats->blobs_removed++;
		return 0;
	}
	if (fchmod(fd, 0444) < 0)
		return br_err_errno(err, BR_INTERNAL, errno, "chmod blob %s", name);
	if (contentd_blob_insert(s, digest, sb.st_size, NULL, NULL, err) < 0)
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
		if (!is_hex64(de->d_name)) {
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
contentd_store_open(const char *dir, struct contentd_reconcile_stats *ret_stats,
                    struct contentd_store **ret, br_err *err)
{
	_cleanup_(contentd_store_freep) struct contentd_store *s = xnew(struct contentd_store);
	_cleanup_free_ char *db_path = NULL;
	struct contentd_reconcile_stats stats = {0};
	int blobs_parent = -1;

	s->dir_fd = s->blobs_fd = s->ingest_fd = -1;
	s->dir = xstrdup(dir);
	s->max_blob_size = CONTENTD_MAX_BLOB_SIZE;
	s->max_ingests = CONTENTD_MAX_INGESTS;

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

	if (ret_stats != NULL)
		*ret_stats = stats;
	*ret = br_steal_ptr(&s);
	return 0;
}

void
contentd_store_free(struct contentd_store *s)
{
	if (s == NULL)
		return;
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

/* Labels of a blob as a strmap in `arena`, grown by doubling (at most BR_LABELS_MAX are
 * ever stored, as the write schema bounds them). */
static int
load_labels(struct contentd_store *s, const char *digest, br_arena *arena, struct br_strmap *ret,
            br_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	struct br_strmap m = {0};
	size_t cap = 0;
	int rc;

	if (br_db_prepare(s->db, "SELECT key, value FROM labels WHERE digest = ? ORDER BY key", &st,
	                  err) < 0)
		return -1;
	sqlite3_bind_text(st, 1, digest, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (m.n == cap) {
			size_t ncap = cap ? cap * 2 : 8;
			const char **k = br_arena_alloc(arena, ncap * sizeof(*k));
			const char **v = br_arena_alloc(arena, ncap * sizeof(*v));
			if (m.n > 0) {
				memcpy(k, m.keys, m.n * sizeof(*k));
				memcpy(v, m.values, m.n * sizeof(*v));
			}
			m.keys = k;
			m.values = v;
			cap = ncap;
		}
		m.keys[m.n] = br_arena_strdup(arena, br_db_text(st, 0));
		m.values[m.n] = br_arena_strdup(arena, br_db_text(st, 1));
		m.n++;
	}
	if (rc != SQLITE_DONE)
		return br_db_error(s->db, rc, err, "labels of %s", digest);
	*ret = m;
	return 0;
}

int
contentd_info(struct contentd_store *s, const char *digest, br_arena *arena,
              struct br_content_info *ret, br_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
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
	if (load_labels(s, digest, arena, &info.labels, err) < 0)
		return -1;
	*ret = info;
	return 0;
}

int
contentd_list(struct contentd_store *s, br_arena *arena, struct br_content_list_resp *ret,
              br_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	struct br_content_info *items = NULL;
	size_t n = 0, cap = 0;
	int rc;

	if (br_db_prepare(s->db,
	                  "SELECT digest, size, created_at, updated_at FROM blobs ORDER BY digest",
	                  &st, err) < 0)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 64;
			struct br_content_info *v = br_arena_alloc(arena, ncap * sizeof(*v));
			if (n > 0)
				memcpy(v, items, n * sizeof(*v));
			items = v;
			cap = ncap;
		}
		struct br_content_info *info = &items[n++];
		info->digest = br_arena_strdup(arena, br_db_text(st, 0));
		info->size = sqlite3_column_int64(st, 1);
		info->created_at = sqlite3_column_int64(st, 2);
		info->updated_at = sqlite3_column_int64(st, 3);
		if (load_labels(s, info->digest, arena, &info->labels, err) < 0)
			return -1;
	}
	if (rc != SQLITE_DONE)
		return br_db_error(s->db, rc, err, "list content");
	ret->items.v = items;
	ret->items.n = n;
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
