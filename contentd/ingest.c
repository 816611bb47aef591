/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Ingests: resumable writes that become blobs. An ingest named <ref> is a directory
 * ingest/<ref>/ holding `data`, plus a row in the ingests table; both are created by the first
 * write (at offset 0). Each write appends one chunk at the current offset and feeds a running
 * sha256 kept in memory. After a restart that state is gone: the next write first re-hashes
 * the data file, whose size is the ingest's offset. A commit checks size and digest, fsyncs
 * the data, renames it into blobs/sha256/<hex> (RENAME_NOREPLACE, so existing content is
 * never replaced) and only then registers the blob row, in the same transaction that drops
 * the ingest row (and in which the write's lease takes the blob and lets go of the ingest).
 * A crash between the rename and the row leaves a blob file without a row, which
 * contentd_store_open() verifies and registers if a lease holds it.
 *
 * A file already at the blob's name is judged back on the owning thread, where no step of a
 * collection can interleave: with a row it is the blob (ALREADY_EXISTS); without one it is a
 * leftover (a collection removed the row and its unlink is pending, or a crash left an
 * orphan) and the ingest's data replaces it.
 */
#include "contentd/store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/db.h"
#include "common/fsutil.h"
#include "common/xalloc.h"

#define REHASH_BUF_SIZE (1u << 20)

struct contentd_ingest {
	struct contentd_ingest *next, *prev;
	char *ref;
	int64_t offset;               /* bytes in the data file */
	int64_t total;                /* expected final size, 0 = unknown */
	char expected[BR_DIGEST_BUF]; /* "" = unknown */
	int64_t started_at, updated_at;
	int64_t persisted_at; /* when offset/updated_at were last written to the row */
	br_sha256 *hash;      /* digest of data[0, offset); NULL: rebuild from the file */
	bool busy;            /* a write is between begin and end */
};

struct contentd_write {
	struct contentd_ingest *ingest;
	const struct br_content_write_req *req;
	const struct contentd_lease_ref *lease; /* NULL: none */
	int ingest_fd, blobs_fd;                /* borrowed from the store */
	const char *ref;                        /* the ingest's, immutable while it is busy */
	int64_t offset, total;
	char expected[BR_DIGEST_BUF];
	br_sha256 *hash; /* taken from the ingest for the work, given back by end */
	/* The outcome of the work. */
	int rc;
	br_err err;
	bool discard;   /* the ingest must go (mismatch, lost data) */
	bool committed; /* the data is now blobs/sha256/<hex of digest> */
	bool exists;    /* the rename found a file at that name; the data is still ingest/<ref> */
	char digest[BR_DIGEST_BUF];
};

static struct contentd_ingest *
find_ingest(struct contentd_store *s, const char *ref)
{
	for (struct contentd_ingest *i = s->ingests; i != NULL; i = i->next)
		if (strcmp(i->ref, ref) == 0)
			return i;
	return NULL;
}

static struct contentd_ingest *
add_ingest(struct contentd_store *s, const char *ref)
{
	struct contentd_ingest *i = xnew(struct contentd_ingest);

	i->ref = xstrdup(ref);
	i->next = s->ingests;
	if (s->ingests != NULL)
		s->ingests->prev = i;
	s->ingests = i;
	s->n_ingests++;
	return i;
}

static void
drop_ingest(struct contentd_store *s, struct contentd_ingest *i)
{
	if (i->prev != NULL)
		i->prev->next = i->next;
	else
		s->ingests = i->next;
	if (i->next != NULL)
		i->next->prev = i->prev;
	s->n_ingests--;
	br_sha256_free(i->hash);
	free(i->ref);
	free(i);
}

bool
contentd_ingest_exists(struct contentd_store *s, const char *ref)
{
	return find_ingest(s, ref) != NULL;
}

void
contentd_ingests_free(struct contentd_store *s)
{
	while (s->ingests != NULL)
		drop_ingest(s, s->ingests);
}

static int
row_delete(struct contentd_store *s, const char *ref, br_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;

	if (br_db_prepare(s->db, "DELETE FROM ingests WHERE ref = ?", &st, err) < 0)
		return -1;
	sqlite3_bind_text(st, 1, ref, -1, SQLITE_STATIC);
	return br_db_step_done(s->db, st, err, "ingest \"%s\": remove row", ref);
}

static int
row_update(struct contentd_store *s, struct contentd_ingest *i, br_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;

	if (br_db_prepare(
	            s->db,
	            "UPDATE ingests SET \"offset\" = ?, total = ?, expected = ?, updated_at = ?"
	            " WHERE ref = ?",
	            &st, err) < 0)
		return -1;
	sqlite3_bind_int64(st, 1, i->offset);
	sqlite3_bind_int64(st, 2, i->total);
	if (i->expected[0] != '\0')
		sqlite3_bind_text(st, 3, i->expected, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 3);
	sqlite3_bind_int64(st, 4, i->updated_at);
	sqlite3_bind_text(st, 5, i->ref, -1, SQLITE_STATIC);
	if (br_db_step_done(s->db, st, err, "ingest \"%s\": update row", i->ref) < 0)
		return -1;
	i->persisted_at = br_db_now();
	return 0;
}

/* Drop an ingest entirely: row, directory and memory. The row goes first; a directory left
 * by a failure is removed by the next start. */
static int
discard_ingest(struct contentd_store *s, struct contentd_ingest *i, br_err *err)
{
	br_err ignored = BR_ERR_INIT;
	int rc = row_delete(s, i->ref, err);

	br_rm_rf_at(s->ingest_fd, i->ref, &ignored);
	drop_ingest(s, i);
	return rc;
}

/* Size of ingest/<ref>/data, or -1 if it is missing or not a regular file. */
static int64_t
data_size(struct contentd_store *s, const char *ref)
{
	_cleanup_close_ int dfd =
	        openat(s->ingest_fd, ref, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	struct stat sb;

	if (dfd < 0 || fstatat(dfd, "data", &sb, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(sb.st_mode))
		return -1;
	return sb.st_size;
}

static int
reconcile_rows(struct contentd_store *s, struct contentd_reconcile_stats *stats, br_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	_cleanup_strv_ char **bad = NULL;
	size_t n_bad = 0;
	int rc;

	if (br_db_prepare(s->db,
	                  "SELECT ref, total, expected, \"offset\", started_at, updated_at"
	                  " FROM ingests",
	                  &st, err) < 0)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *ref = br_db_text(st, 0);
		int64_t total = sqlite3_column_int64(st, 1);
		const char *expected = br_db_text(st, 2);
		int64_t size = br_msg_is_id(ref, BR_KEY_MAX) ? data_size(s, ref) : -1;

		if (size < 0 || size > s->max_blob_size || (total > 0 && size > total) ||
		    (expected[0] != '\0' && !br_digest_valid(expected)) ||
		    s->n_ingests >= s->max_ingests) {
			bad = xrealloc(bad, (n_bad + 2) * sizeof(*bad));
			bad[n_bad++] = xstrdup(ref);
			bad[n_bad] = NULL;
			continue;
		}
		struct contentd_ingest *i = add_ingest(s, ref);
		i->total = total;
		snprintf(i->expected, sizeof(i->expected), "%s", expected);
		i->offset = size; /* the data file is the truth */
		i->started_at = sqlite3_column_int64(st, 4);
		i->updated_at = sqlite3_column_int64(st, 5);
		/* Make the row agree with the file the next time it is written. */
		i->persisted_at = sqlite3_column_int64(st, 3) == size ? i->updated_at : 0;
		stats->ingests_resumed++;
	}
	if (rc != SQLITE_DONE)
		return br_db_error(s->db, rc, err, "list ingests");
	sqlite3_finalize(br_steal_ptr(&st));

	for (size_t k = 0; k < n_bad; k++) {
		if (row_delete(s, bad[k], err) < 0)
			return -1;
		if (br_msg_is_id(bad[k], BR_KEY_MAX) && br_rm_rf_at(s->ingest_fd, bad[k], err) < 0)
			return br_err_wrap(err, "remove ingest/%s", bad[k]);
		stats->ingests_removed++;
	}
	for (struct contentd_ingest *i = s->ingests; i != NULL; i = i->next) {
		if (i->persisted_at == 0 && row_update(s, i, err) < 0)
			return -1;
	}
	return 0;
}

/* Directories under ingest/ without a row (a crash between mkdir and the row insert). */
static int
reconcile_dirs(struct contentd_store *s, struct contentd_reconcile_stats *stats, br_err *err)
{
	_cleanup_closedir_ DIR *d = NULL;
	int fd = openat(s->ingest_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct dirent *de;

	if (fd < 0 || (d = fdopendir(fd)) == NULL) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		return br_err_errno(err, BR_INTERNAL, e, "list ingest");
	}
	while ((errno = 0, de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (find_ingest(s, de->d_name) != NULL)
			continue;
		if (br_rm_rf_at(s->ingest_fd, de->d_name, err) < 0)
			return br_err_wrap(err, "remove ingest/%s", de->d_name);
		stats->ingests_removed++;
	}
	if (errno != 0)
		return br_err_errno(err, BR_INTERNAL, errno, "list ingest");
	return 0;
}

int
contentd_ingests_reconcile(struct contentd_store *s, struct contentd_reconcile_stats *stats,
                           br_err *err)
{
	if (reconcile_rows(s, stats, err) < 0 || reconcile_dirs(s, stats, err) < 0)
		return -1;
	return 0;
}

/* Start a new ingest at offset 0: directory, empty data file, row. */
static struct contentd_ingest *
create_ingest(struct contentd_store *s, const char *ref, int64_t total, const char *expected,
              br_err *err)
{
	_cleanup_close_ int dfd = -1;
	_cleanup_close_ int fd = -1;
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int64_t now = br_db_now();

	if (mkdirat(s->ingest_fd, ref, 0700) < 0) {
		if (errno != EEXIST) {
			br_err_errno(err, br_code_from_errno(errno), errno, "ingest \"%s\": create",
			             ref);
			return NULL;
		}
		/* A leftover without a row; reconciliation makes this rare. */
		if (br_rm_rf_at(s->ingest_fd, ref, err) < 0) {
			br_err_wrap(err, "ingest \"%s\": remove leftover", ref);
			return NULL;
		}
		if (mkdirat(s->ingest_fd, ref, 0700) < 0) {
			br_err_errno(err, br_code_from_errno(errno), errno, "ingest \"%s\": create",
			             ref);
			return NULL;
		}
	}
	dfd = openat(s->ingest_fd, ref, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd >= 0)
		fd = openat(dfd, "data", O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		            0600);
	if (fd < 0) {
		br_err_errno(err, br_code_from_errno(errno), errno, "ingest \"%s\": create data",
		             ref);
		goto out_remove_dir;
	}
	if (br_db_prepare(s->db,
	                  "INSERT INTO ingests (ref, total, expected, \"offset\", started_at,"
	                  " updated_at) VALUES (?, ?, ?, 0, ?, ?)",
	                  &st, err) < 0)
		goto out_remove_dir;
	sqlite3_bind_text(st, 1, ref, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, total);
	if (expected != NULL)
		sqlite3_bind_text(st, 3, expected, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 3);
	sqlite3_bind_int64(st, 4, now);
	sqlite3_bind_int64(st, 5, now);
	if (br_db_step_done(s->db, st, err, "ingest \"%s\": add row", ref) < 0)
		goto out_remove_dir;

	struct contentd_ingest *i = add_ingest(s, ref);
	i->total = total;
	snprintf(i->expected, sizeof(i->expected), "%s", expected ? expected : "");
	i->started_at = i->updated_at = i->persisted_at = now;
	i->hash = br_sha256_new();
	return i;

out_remove_dir:;
	br_err ignored = BR_ERR_INIT;
	br_rm_rf_at(s->ingest_fd, ref, &ignored);
	return NULL;
}

/* Check a write against the ingest (or the absence of one) without changing anything. */
static int
check_write(struct contentd_store *s, const struct br_content_write_req *req,
            struct contentd_ingest *i, int64_t *ret_total, const char **ret_expected, br_err *err)
{
	const char *ref = req->ref;
	int64_t current = i != NULL ? i->offset : 0;
	const char *expected =
	        req->expected != NULL && req->expected[0] != '\0' ? req->expected : NULL;
	int64_t total = req->total;

	if (req->offset < 0 || req->total < 0)
		return br_err_set(err, BR_INVALID_ARGUMENT, "ingest \"%s\": negative %s", ref,
		                  req->offset < 0 ? "offset" : "total");
	if (req->data.len > BR_CHUNK_MAX)
		return br_err_set(err, BR_INVALID_ARGUMENT,
		                  "ingest \"%s\": chunk of %zu bytes exceeds %u", ref,
		                  req->data.len, BR_CHUNK_MAX);
	if (i != NULL && i->busy)
		return br_err_set(err, BR_UNAVAILABLE,
		                  "ingest \"%s\": locked by another write in progress", ref);
	if (req->offset != current)
		return br_err_set(err, BR_FAILED_PRECONDITION,
		                  "ingest \"%s\": write at offset %lld, but the current offset is "
		                  "%lld",
		                  ref, (long long)req->offset, (long long)current);
	if (i != NULL && i->total > 0 && total > 0 && total != i->total)
		return br_err_set(err, BR_FAILED_PRECONDITION,
		                  "ingest \"%s\": total %lld differs from the total %lld it was "
		                  "started with",
		                  ref, (long long)total, (long long)i->total);
	if (i != NULL && i->expected[0] != '\0' && expected != NULL &&
	    strcmp(expected, i->expected) != 0)
		return br_err_set(err, BR_FAILED_PRECONDITION,
		                  "ingest \"%s\": expected %s differs from the %s it was started "
		                  "with",
		                  ref, expected, i->expected);
	if (total == 0 && i != NULL)
		total = i->total;
	if (expected == NULL && i != NULL && i->expected[0] != '\0')
		expected = i->expected;
	if (total > s->max_blob_size)
		return br_err_set(err, BR_RESOURCE_EXHAUSTED,
		                  "ingest \"%s\": total %lld exceeds the limit of %lld bytes", ref,
		                  (long long)total, (long long)s->max_blob_size);
	int64_t end = current + (int64_t)req->data.len;
	if (end > s->max_blob_size)
		return br_err_set(err, BR_RESOURCE_EXHAUSTED,
		                  "ingest \"%s\": %lld bytes would exceed the limit of %lld bytes",
		                  ref, (long long)end, (long long)s->max_blob_size);
	if (total > 0 && end > total)
		return br_err_set(
		        err, BR_FAILED_PRECONDITION,
		        "ingest \"%s\": write of %zu bytes at offset %lld exceeds the total "
		        "of %lld bytes",
		        ref, req->data.len, (long long)current, (long long)total);
	*ret_total = total;
	*ret_expected = expected;
	return 0;
}

int
contentd_write_begin(struct contentd_store *s, const struct br_content_write_req *req,
                     const struct contentd_lease_ref *lease, struct contentd_write **ret,
                     br_err *err)
{
	struct contentd_ingest *i = find_ingest(s, req->ref);
	const char *expected = NULL;
	int64_t total = 0;

	if (lease != NULL && br_lease_check(s->leases, lease->ns, lease->id, err) < 0)
		return -1;
	if (!br_msg_is_id(req->ref, BR_KEY_MAX))
		return br_err_set(err, BR_INVALID_ARGUMENT, "ingest \"%s\": invalid ref", req->ref);
	if (check_write(s, req, i, &total, &expected, err) < 0)
		return -1;

	if (i == NULL) {
		bool exists = false;
		if (expected != NULL && contentd_blob_exists(s, expected, &exists, err) < 0)
			return -1;
		if (exists) {
			/* "Already exists" is success to the caller, who relies on the blob: the
			 * lease holds it before the answer leaves. */
			if (lease != NULL &&
			    br_lease_hold(s->leases, lease->ns, lease->id, CONTENTD_LEASE_CONTENT,
			                  expected, err) < 0)
				return -1;
			return br_err_set(err, BR_ALREADY_EXISTS, "content %s: already exists",
			                  expected);
		}
		if (s->n_ingests >= s->max_ingests)
			return br_err_set(err, BR_RESOURCE_EXHAUSTED,
			                  "ingest \"%s\": too many ingests in progress (limit %zu)",
			                  req->ref, s->max_ingests);
	}
	/* Held before it is created: a reference to an ingest that does not exist is harmless,
	 * an ingest that a collection could take between two steps is not. */
	if (lease != NULL && br_lease_hold(s->leases, lease->ns, lease->id, CONTENTD_LEASE_INGEST,
	                                   req->ref, err) < 0)
		return -1;
	if (i == NULL) {
		i = create_ingest(s, req->ref, total, expected, err);
		if (i == NULL)
			return -1;
	} else if (total != i->total || strcmp(expected ? expected : "", i->expected) != 0) {
		/* The first write that names the total or the digest records it. */
		i->total = total;
		snprintf(i->expected, sizeof(i->expected), "%s", expected ? expected : "");
		if (row_update(s, i, err) < 0)
			return -1;
	}

	struct contentd_write *w = xnew(struct contentd_write);
	w->ingest = i;
	w->req = req;
	w->lease = lease;
	w->ingest_fd = s->ingest_fd;
	w->blobs_fd = s->blobs_fd;
	w->ref = i->ref;
	w->offset = i->offset;
	w->total = i->total;
	memcpy(w->expected, i->expected, sizeof(w->expected));
	w->hash = br_steal_ptr(&i->hash);
	i->busy = true;
	if (req->commit)
		s->commits_in_flight++;
	*ret = w;
	return 0;
}

/* Hash the data file from its start: the running digest was lost with a restart. */
static int
rehash(struct contentd_write *w, int fd)
{
	_cleanup_free_ uint8_t *buf = xmalloc(REHASH_BUF_SIZE);
	br_sha256 *h = br_sha256_new();
	int64_t off = 0;

	for (;;) {
		ssize_t r = pread(fd, buf, REHASH_BUF_SIZE, off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			br_sha256_free(h);
			return br_err_errno(&w->err, BR_INTERNAL, errno, "ingest \"%s\": re-hash",
			                    w->ref);
		}
		if (r == 0)
			break;
		br_sha256_update(h, buf, (size_t)r);
		off += r;
	}
	w->hash = h;
	if (off != w->offset) {
		/* Someone changed the file behind our back; its size is the truth. */
		int64_t was = w->offset;
		w->offset = off;
		return br_err_set(&w->err, BR_FAILED_PRECONDITION,
		                  "ingest \"%s\": write at offset %lld, but the current offset is "
		                  "%lld",
		                  w->ref, (long long)was, (long long)off);
	}
	return 0;
}

static int
append(struct contentd_write *w, int fd)
{
	const uint8_t *data = w->req->data.data;
	size_t len = w->req->data.len, done = 0;

	while (done < len) {
		ssize_t r = pwrite(fd, data + done, len - done, w->offset + (off_t)done);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = errno;
			/* Keep file and digest in step: drop what part of the chunk landed. */
			if (ftruncate(fd, w->offset) < 0) {
				br_sha256_free(w->hash);
				w->hash = NULL;
			}
			return br_err_errno(&w->err, br_code_from_errno(e), e,
			                    "ingest \"%s\": write %zu bytes at offset %lld", w->ref,
			                    len, (long long)w->offset);
		}
		done += (size_t)r;
	}
	br_sha256_update(w->hash, data, len);
	w->offset += (int64_t)len;
	return 0;
}

static int
commit(struct contentd_write *w, int dfd, int fd)
{
	char hex_name[BR_DIGEST_BUF];

	if (w->total > 0 && w->offset != w->total) {
		w->discard = true;
		return br_err_set(&w->err, BR_FAILED_PRECONDITION,
		                  "commit %s: size mismatch: expected %lld bytes, got %lld", w->ref,
		                  (long long)w->total, (long long)w->offset);
	}
	br_sha256_final(w->hash, w->digest);
	br_sha256_free(w->hash);
	w->hash = NULL;
	if (w->expected[0] != '\0' && strcmp(w->expected, w->digest) != 0) {
		w->discard = true;
		return br_err_set(&w->err, BR_FAILED_PRECONDITION,
		                  "commit %s: digest mismatch: expected %s, got %s", w->ref,
		                  w->expected, w->digest);
	}
	if (fsync(fd) < 0 || fchmod(fd, 0444) < 0)
		return br_err_errno(&w->err, br_code_from_errno(errno), errno,
		                    "commit %s: sync data", w->ref);
	snprintf(hex_name, sizeof(hex_name), "%s", br_digest_hex(w->digest));
	if (renameat2(dfd, "data", w->blobs_fd, hex_name, RENAME_NOREPLACE) < 0) {
		if (errno == EEXIST) {
			/* Whether that file is the blob or a leftover is decided on the owning
			 * thread (contentd_write_end), which sees the rows; the data stays. */
			w->exists = true;
			return -1;
		}
		return br_err_errno(&w->err, br_code_from_errno(errno), errno,
		                    "commit %s: move into blobs", w->ref);
	}
	/* The blob is in place whatever happens next; syncing the directory makes the rename
	 * durable across a power loss and cannot undo it. */
	fsync(w->blobs_fd);
	w->committed = true;
	return 0;
}

void
contentd_write_work(struct contentd_write *w)
{
	_cleanup_close_ int dfd = -1;
	_cleanup_close_ int fd = -1;

	w->rc = -1;
	dfd = openat(w->ingest_fd, w->ref, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd >= 0)
		fd = openat(dfd, "data", O_RDWR | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		/* The data is gone: the ingest cannot go on. */
		w->discard = errno == ENOENT;
		br_err_errno(&w->err, BR_INTERNAL, errno, "ingest \"%s\": open data", w->ref);
		return;
	}
	if (w->hash == NULL && rehash(w, fd) < 0)
		return;
	if (w->req->data.len > 0 && append(w, fd) < 0)
		return;
	if (w->req->commit && commit(w, dfd, fd) < 0) {
		if (w->discard)
			unlinkat(dfd, "data", 0);
		return;
	}
	w->rc = 0;
}

/* The content is stored already: the lease holds it (and lets go of the ingest), the ingest
 * goes, and the answer is ALREADY_EXISTS, which callers take for success. */
static int
already_stored(struct contentd_store *s, struct contentd_write *w, const char *ref, br_err *err)
{
	br_err ignored = BR_ERR_INIT;
	int rc = w->lease != NULL ? contentd_lease_move_to_blob(s, w->lease, ref, w->digest, err)
	                          : 0;

	discard_ingest(s, w->ingest, &ignored);
	if (rc < 0)
		return br_err_wrap(err, "commit %s", ref);
	return br_err_set(err, BR_ALREADY_EXISTS, "commit %s: content %s already exists", ref,
	                  w->digest);
}

/* Replace a file at the blob's name that has no row with the ingest's data: one unlink and
 * one rename, on the owning thread so that no collection step and no row insert comes in
 * between. 1 if another commit of the same content put its file there in the meantime. */
static int
replace_leftover(struct contentd_store *s, struct contentd_write *w, br_err *err)
{
	_cleanup_close_ int dfd =
	        openat(s->ingest_fd, w->ref, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	const char *hex = br_digest_hex(w->digest);

	if (dfd < 0)
		return br_err_errno(err, br_code_from_errno(errno), errno, "commit %s: open ingest",
		                    w->ref);
	if (unlinkat(s->blobs_fd, hex, 0) < 0 && errno != ENOENT)
		return br_err_errno(err, br_code_from_errno(errno), errno,
		                    "commit %s: remove leftover blob file", w->ref);
	if (renameat2(dfd, "data", s->blobs_fd, hex, RENAME_NOREPLACE) < 0) {
		if (errno == EEXIST)
			return 1;
		return br_err_errno(err, br_code_from_errno(errno), errno,
		                    "commit %s: move into blobs", w->ref);
	}
	fsync(s->blobs_fd);
	return 0;
}

/* Register a committed blob; the ingest goes whatever happens. */
static int
register_commit(struct contentd_store *s, struct contentd_write *w, const char *ref, br_err *err)
{
	struct contentd_ingest *i = w->ingest;
	br_err ignored = BR_ERR_INIT;
	bool exists = false;
	int rc;

	/* Two commits of the same content: the other one registered it first. */
	if (contentd_blob_exists(s, w->digest, &exists, &ignored) < 0)
		exists = false;
	if (exists)
		return already_stored(s, w, ref, err);
	rc = contentd_blob_insert(s, w->digest, w->offset, &w->req->labels, ref, w->lease, err);
	if (rc < 0 && err->code == BR_NOT_FOUND && w->lease != NULL) {
		/* The lease went away during the write: the row must still describe the file. */
		br_err lease_err = BR_ERR_INIT;
		br_err_copy(&lease_err, err);
		if (contentd_blob_insert(s, w->digest, w->offset, &w->req->labels, ref, NULL,
		                         err) == 0)
			br_err_copy(err, &lease_err);
	}
	if (rc < 0) {
		/* The file is in place; the next start registers it if a lease holds it. */
		br_err_wrap(err, "commit %s", ref);
		row_delete(s, ref, &ignored);
	}
	br_rm_rf_at(s->ingest_fd, ref, &ignored);
	drop_ingest(s, i);
	return rc;
}

int
contentd_write_end(struct contentd_store *s, struct contentd_write *w, br_arena *arena,
                   struct br_content_write_resp *ret, br_err *err)
{
	struct contentd_ingest *i = w->ingest;
	struct br_content_write_resp resp = {0};
	br_err ignored = BR_ERR_INIT;
	int rc = 0;

	i->busy = false;
	if (w->req->commit)
		s->commits_in_flight--;
	/* The ingest may be freed below: its ref is taken first. */
	resp.ref = br_arena_strdup(arena, i->ref);
	resp.offset = w->offset;
	if (w->exists) {
		bool row = false;
		rc = contentd_blob_exists(s, w->digest, &row, err);
		if (rc == 0 && !row) {
			rc = replace_leftover(s, w, err);
			w->committed = rc == 0;
		}
		if (rc == 1 || (rc == 0 && row)) {
			rc = already_stored(s, w, resp.ref, err); /* the ingest is gone */
		} else if (rc < 0) {
			/* The data is still the ingest's (its digest is rebuilt by the next
			 * write); a later commit can try again. */
			i->offset = w->offset;
			i->updated_at = br_db_now();
		}
	} else if (w->discard) {
		br_err_copy(err, &w->err);
		discard_ingest(s, i, &ignored);
		rc = -1;
	} else if (!w->committed) {
		i->hash = br_steal_ptr(&w->hash);
		i->offset = w->offset;
		i->updated_at = br_db_now();
		if (i->updated_at - i->persisted_at >= CONTENTD_PERSIST_INTERVAL_MS || w->rc < 0)
			rc = row_update(s, i, w->rc < 0 ? &ignored : err);
		if (w->rc < 0) {
			br_err_copy(err, &w->err);
			rc = -1;
		}
	}
	if (w->committed) {
		resp.digest = br_arena_strdup(arena, w->digest);
		rc = register_commit(s, w, resp.ref, err);
	}
	br_sha256_free(w->hash);
	free(w);
	if (rc < 0)
		return -1;
	*ret = resp;
	return 0;
}

int
contentd_write(struct contentd_store *s, const struct br_content_write_req *req,
               const struct contentd_lease_ref *lease, br_arena *arena,
               struct br_content_write_resp *ret, br_err *err)
{
	struct contentd_write *w = NULL;

	if (contentd_write_begin(s, req, lease, &w, err) < 0)
		return -1;
	contentd_write_work(w);
	return contentd_write_end(s, w, arena, ret, err);
}

int
contentd_status(struct contentd_store *s, const char *ref, br_arena *arena,
                struct br_content_status *ret, br_err *err)
{
	struct contentd_ingest *i = find_ingest(s, ref);

	if (i == NULL)
		return br_err_set(err, BR_NOT_FOUND, "ingest \"%s\": not found", ref);
	ret->ref = br_arena_strdup(arena, i->ref);
	ret->offset = i->offset;
	ret->total = i->total;
	ret->expected = i->expected[0] != '\0' ? br_arena_strdup(arena, i->expected) : NULL;
	ret->started_at = i->started_at;
	ret->updated_at = i->updated_at;
	return 0;
}

int
contentd_abort(struct contentd_store *s, const char *ref, br_err *err)
{
	struct contentd_ingest *i = find_ingest(s, ref);

	if (i == NULL)
		return br_err_set(err, BR_NOT_FOUND, "ingest \"%s\": not found", ref);
	if (i->busy)
		return br_err_set(err, BR_UNAVAILABLE,
		                  "ingest \"%s\": locked by a write in progress", ref);
	if (discard_ingest(s, i, err) < 0)
		return br_err_wrap(err, "abort ingest \"%s\"", ref);
	return 0;
}

int
contentd_ingests_expire(struct contentd_store *s, int64_t now, size_t max, size_t *ret_n,
                        br_err *err)
{
	struct contentd_ingest *next;
	size_t n = 0;

	for (struct contentd_ingest *i = s->ingests; i != NULL && n < max; i = next) {
		bool held = false;
		next = i->next;
		/* A write in progress is never idle, whatever its time stamp says. */
		if (i->busy || now - i->updated_at < s->ingest_expiry_ms)
			continue;
		if (contentd_lease_refers(s, CONTENTD_LEASE_INGEST, i->ref, &held, err) < 0)
			return -1;
		if (held)
			continue;
		if (discard_ingest(s, i, err) < 0)
			return -1;
		n++;
	}
	*ret_n = n;
	return 0;
}

int
contentd_ingests_usage(struct contentd_store *s, int64_t now, int64_t *ret_n, int64_t *ret_bytes,
                       int64_t *ret_reclaimable, br_err *err)
{
	int64_t bytes = 0, reclaimable = 0;

	/* The list in memory is the truth (the rows' offsets lag behind by up to a second). */
	for (struct contentd_ingest *i = s->ingests; i != NULL; i = i->next) {
		bool held = false;
		bytes += i->offset;
		if (i->busy || now - i->updated_at < s->ingest_expiry_ms)
			continue;
		if (contentd_lease_refers(s, CONTENTD_LEASE_INGEST, i->ref, &held, err) < 0)
			return -1;
		if (!held)
			reclaimable += i->offset;
	}
	*ret_n = (int64_t)s->n_ingests;
	*ret_bytes = bytes;
	*ret_reclaimable = reclaimable;
	return 0;
}
