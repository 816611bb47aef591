/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Collection and usage of the content store (docs/leases.md, "contentd"). A collection is
 * started by the store's br_gc scheduler and runs in short steps on the loop, one per turn
 * of the loop, so that a call waits at most one step:
 *
 *   1. expired leases are deleted (after this every row of lease_resources is a root);
 *   2. ingests that no lease holds and that had no write for ingest_expiry_ms are discarded;
 *   3. blobs that no lease holds go, CONTENTD_GC_BATCH per step: the rows in one
 *      transaction with their /content/delete events, then their files in the same step, so
 *      that no other call ever sees a row whose file is gone;
 *   4. files in blobs/sha256/ without a row are removed, unless a commit is in flight.
 *
 * content.usage asks the same questions without removing anything, in SQL aggregates.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/db.h"
#include "common/loop.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "contentd/store.h"

enum phase { PHASE_LEASES, PHASE_INGESTS, PHASE_BLOBS, PHASE_ORPHANS, PHASE_DONE };

struct contentd_collection {
	struct contentd_store *s;
	enum phase phase;
	struct br_gc_result result;
	int64_t started_ms;
	DIR *dir; /* the orphan scan's listing of blobs/sha256, across steps */
};

/* Blobs that an unexpired lease holds (?1: now). */
#define HELD_CONTENT_SQL                                                                           \
	"SELECT r.key FROM lease_resources r JOIN leases l"                                        \
	" ON l.namespace = r.namespace AND l.id = r.lease WHERE r.type = '" CONTENTD_LEASE_CONTENT \
	"' AND (l.expire_at = 0 OR l.expire_at > ?1)"

static void
close_dir(struct contentd_collection *c)
{
	if (c->dir != NULL)
		closedir(c->dir);
	c->dir = NULL;
}

static int
step_ingests(struct contentd_collection *c, bool *ret_more, br_err *err)
{
	size_t n = 0;

	if (contentd_ingests_expire(c->s, br_db_now(), CONTENTD_GC_BATCH, &n, err) < 0)
		return br_err_wrap(err, "expire ingests");
	c->result.ingests += (int64_t)n;
	*ret_more = n == CONTENTD_GC_BATCH;
	return 0;
}

/* Rows first, in one transaction, then the files, in the same step: between the two no
 * other call runs, and a crash leaves files without rows, which the next collection (or
 * start) removes. */
static int
step_blobs(struct contentd_collection *c, bool *ret_more, br_err *err)
{
	struct contentd_store *s = c->s;
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	_cleanup_free_ char(*gone)[BR_DIGEST_BUF] = xmalloc(CONTENTD_GC_BATCH * BR_DIGEST_BUF);
	int64_t bytes = 0;
	size_t n = 0;
	int rc;

	if (br_db_begin(s->db, err) < 0)
		return -1;
	if (br_db_prepare(s->db,
	                  "DELETE FROM blobs WHERE digest IN (SELECT digest FROM blobs"
	                  " WHERE digest NOT IN (SELECT key FROM lease_resources"
	                  " WHERE type = '" CONTENTD_LEASE_CONTENT "') LIMIT ?)"
	                  " RETURNING digest, size",
	                  &st, err) < 0)
		goto out_rollback;
	sqlite3_bind_int(st, 1, CONTENTD_GC_BATCH);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		snprintf(gone[n], BR_DIGEST_BUF, "%s", br_db_text(st, 0));
		bytes += sqlite3_column_int64(st, 1);
		n++;
	}
	if (rc != SQLITE_DONE) {
		br_db_error(s->db, rc, err, "remove unheld blobs");
		goto out_rollback;
	}
	sqlite3_finalize(br_steal_ptr(&st));
	for (size_t k = 0; k < n; k++)
		if (contentd_blob_deleted(s, gone[k], err) < 0)
			goto out_rollback;
	if (br_db_commit(s->db, err) < 0)
		return -1;
	if (n > 0)
		contentd_store_kick(s);
	for (size_t k = 0; k < n; k++) {
		/* A file that cannot go now has no row any more: the orphan scan retries. */
		if (br_digest_valid(gone[k]))
			unlinkat(s->blobs_fd, br_digest_hex(gone[k]), 0);
	}
	c->result.removed += (int64_t)n;
	c->result.bytes += bytes;
	*ret_more = n == CONTENTD_GC_BATCH;
	return 0;

out_rollback:
	br_db_rollback(s->db);
	return -1;
}

static int
step_orphans(struct contentd_collection *c, bool *ret_more, br_err *err)
{
	struct contentd_store *s = c->s;
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	char digest[BR_DIGEST_BUF];

	/*
	 * A commit renames its file into blobs/sha256/ on a worker and writes the row only
	 * later, back on the loop (contentd_write_end): until then its file looks exactly like
	 * an orphan. So the scan runs only while no commit is between write_begin and
	 * write_end, checked again at every step since one may begin between two steps; a scan
	 * cut short is completed by a later collection.
	 */
	*ret_more = false;
	if (s->commits_in_flight > 0) {
		close_dir(c);
		return 0;
	}
	if (c->dir == NULL) {
		int fd = openat(s->blobs_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0 || (c->dir = fdopendir(fd)) == NULL) {
			int e = errno;
			if (fd >= 0)
				close(fd);
			return br_err_errno(err, BR_INTERNAL, e, "list blobs/sha256");
		}
	}
	if (br_db_prepare(s->db, "SELECT 1 FROM blobs WHERE digest = ?", &st, err) < 0)
		return -1;
	for (int k = 0; k < CONTENTD_GC_BATCH; k++) {
		struct dirent *de;
		errno = 0;
		de = readdir(c->dir);
		if (de == NULL) {
			int e = errno;
			close_dir(c);
			if (e != 0)
				return br_err_errno(err, BR_INTERNAL, e, "list blobs/sha256");
			return 0;
		}
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (contentd_is_blob_name(de->d_name)) {
			snprintf(digest, sizeof(digest), "sha256:%.64s", de->d_name);
			sqlite3_reset(st);
			sqlite3_bind_text(st, 1, digest, -1, SQLITE_STATIC);
			int rc = sqlite3_step(st);
			if (rc == SQLITE_ROW)
				continue;
			if (rc != SQLITE_DONE)
				return br_db_error(s->db, rc, err, "look up %s", digest);
		}
		/* A directory stays (EISDIR) for the start-up reconciliation to remove. */
		if (unlinkat(s->blobs_fd, de->d_name, 0) == 0)
			c->result.orphans++;
	}
	*ret_more = true;
	return 0;
}

static void
finish(struct contentd_collection *c, const br_err *err)
{
	struct contentd_store *s = c->s;
	struct br_gc_result *r = &c->result;

	close_dir(c);
	r->duration_ms = br_now_ms() - c->started_ms;
	s->gc_runs++;
	if (err != NULL)
		br_log_warn("CONTENT-GC",
		            "collection failed after %" PRId64 " blobs (%" PRId64
		            " bytes), %" PRId64 " ingests and %" PRId64 " orphan files removed: %s",
		            r->removed, r->bytes, r->ingests, r->orphans, err->msg);
	else if (r->leases + r->removed + r->ingests + r->orphans > 0)
		br_log_info("CONTENT-GC",
		            "collected: %" PRId64 " expired leases, %" PRId64 " blobs (%" PRId64
		            " bytes), %" PRId64 " expired ingests, %" PRId64
		            " orphan files in %" PRId64 " ms",
		            r->leases, r->removed, r->bytes, r->ingests, r->orphans,
		            r->duration_ms);
	br_gc_finished(s->gc, r, err);
}

/* One step of the collection (a br_gc_step): the next runs on the next turn of the loop,
 * after the calls that arrived during this one. */
static void
step(void *arg)
{
	struct contentd_collection *c = arg;
	struct contentd_store *s = c->s;
	br_err err = BR_ERR_INIT;
	bool more = false;
	int rc = 0;

	if (br_gc_stopping(s->gc)) {
		finish(c, NULL);
		return;
	}
	switch (c->phase) {
	case PHASE_LEASES:
		rc = br_lease_expire(s->leases, &c->result.leases, &err);
		break;
	case PHASE_INGESTS:
		rc = step_ingests(c, &more, &err);
		break;
	case PHASE_BLOBS:
		rc = step_blobs(c, &more, &err);
		break;
	case PHASE_ORPHANS:
		rc = step_orphans(c, &more, &err);
		break;
	case PHASE_DONE:
		break;
	}
	if (rc < 0) {
		finish(c, &err);
		return;
	}
	if (!more && c->phase != PHASE_DONE)
		c->phase++;
	if (c->phase == PHASE_DONE)
		finish(c, NULL);
	else
		br_gc_step(s->gc, step, c);
}

/* The br_gc_run_fn: start at the first step, on the next turn of the loop. */
static void
run(void *data, struct br_gc *gc)
{
	struct contentd_store *s = data;
	struct contentd_collection *c = s->collection;

	memset(&c->result, 0, sizeof(c->result));
	c->phase = PHASE_LEASES;
	c->started_ms = br_now_ms();
	br_gc_step(gc, step, c);
}

int
contentd_gc_init(struct contentd_store *s, const struct contentd_store_opts *opts, br_err *err)
{
	struct contentd_collection *c = xnew(struct contentd_collection);

	(void)err;
	c->s = s;
	s->collection = c;
	s->gc = br_gc_new(opts->uv, s->db, "contentd", opts->gc_delay_ms, opts->gc_interval_ms, run,
	                  s);
	return 0;
}

void
contentd_gc_fini(struct contentd_store *s)
{
	struct contentd_collection *c = s->collection;

	if (c == NULL)
		return;
	br_gc_free(s->gc);
	s->gc = NULL;
	close_dir(c);
	free(c);
	s->collection = NULL;
}

/* ---- usage ---- */

static int
blob_totals(struct contentd_store *s, int64_t now, struct br_content_usage *u, br_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;

	if (br_db_prepare(s->db,
	                  "SELECT COUNT(*), COALESCE(SUM(size), 0), COALESCE(SUM(CASE WHEN digest"
	                  " NOT IN (" HELD_CONTENT_SQL ") THEN size ELSE 0 END), 0) FROM blobs",
	                  &st, err) < 0)
		return -1;
	sqlite3_bind_int64(st, 1, now);
	int rc = sqlite3_step(st);
	if (rc != SQLITE_ROW)
		return br_db_error(s->db, rc, err, "usage of blobs");
	u->blobs = sqlite3_column_int64(st, 0);
	u->bytes = sqlite3_column_int64(st, 1);
	u->reclaimable_bytes = sqlite3_column_int64(st, 2);
	return 0;
}

/* Per namespace with an unexpired lease: its leases, and the distinct stored blobs they
 * hold with their sizes. */
static int
namespace_totals(struct contentd_store *s, int64_t now, br_arena *arena, struct br_content_usage *u,
                 br_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	struct br_content_ns_usage *items =
	        br_arena_alloc(arena, BR_CONTENT_USAGE_NS_MAX * sizeof(*items));
	size_t n = 0;
	int rc;

	if (br_db_prepare(s->db,
	                  "WITH live AS (SELECT namespace, id FROM leases"
	                  "   WHERE expire_at = 0 OR expire_at > ?1),"
	                  " held AS (SELECT DISTINCT r.namespace, r.key FROM lease_resources r"
	                  "   JOIN live l ON l.namespace = r.namespace AND l.id = r.lease"
	                  "   WHERE r.type = '" CONTENTD_LEASE_CONTENT "')"
	                  " SELECT n.namespace, n.leases, COUNT(b.digest), COALESCE(SUM(b.size), 0)"
	                  " FROM (SELECT namespace, COUNT(*) AS leases FROM live"
	                  "   GROUP BY namespace) n"
	                  " LEFT JOIN held h ON h.namespace = n.namespace"
	                  " LEFT JOIN blobs b ON b.digest = h.key"
	                  " GROUP BY n.namespace ORDER BY n.namespace LIMIT ?2",
	                  &st, err) < 0)
		return -1;
	sqlite3_bind_int64(st, 1, now);
	sqlite3_bind_int(st, 2, BR_CONTENT_USAGE_NS_MAX);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		items[n].ns = br_arena_strdup(arena, br_db_text(st, 0));
		items[n].leases = sqlite3_column_int64(st, 1);
		items[n].blobs = sqlite3_column_int64(st, 2);
		items[n].bytes = sqlite3_column_int64(st, 3);
		n++;
	}
	if (rc != SQLITE_DONE)
		return br_db_error(s->db, rc, err, "usage per namespace");
	u->namespaces.v = items;
	u->namespaces.n = n;
	return 0;
}

int
contentd_usage(struct contentd_store *s, br_arena *arena, struct br_content_usage *ret, br_err *err)
{
	struct br_content_usage u = {0};
	int64_t now = br_db_now(), ingest_reclaimable = 0;

	if (blob_totals(s, now, &u, err) < 0 || namespace_totals(s, now, arena, &u, err) < 0 ||
	    contentd_ingests_usage(s, now, &u.ingests, &u.ingest_bytes, &ingest_reclaimable, err) <
	            0)
		return br_err_wrap(err, "content.usage");
	u.reclaimable_bytes += ingest_reclaimable;
	*ret = u;
	return 0;
}
