/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The collection of berth-snapshotd (gc.h). A collection is a chain of steps on the loop, each
 * started from a zero timer so that the calls waiting on the loop run between two steps:
 *
 *   1. delete the expired leases;
 *   2. select at most SNAPSHOTD_GC_BATCH snapshots outside the keep set (SNAPSHOTD_KEEP_CTE),
 *      highest id first, delete their rows in one transaction with their /snapshots/remove
 *      events, remove their directories on a worker, and again until none is left. A child
 *      is always younger than its parent and ids only grow, so children go before parents;
 *      the keep set is computed afresh at every step, so a snapshot prepared or held
 *      meanwhile is seen;
 *   3. list every backend's root on a worker, and remove on a worker the entries that have
 *      no row and are not being removed (orphans).
 *
 * Rows go before directories: a crash between the two leaves directories without rows, which
 * step 3 of the next collection (or the next start) removes. While a directory is queued or
 * being removed its id is in the store's removing set, so that no scan takes it for an
 * orphan meanwhile. A scan never removes a directory whose id a new snapshot could still get:
 * the id sequence is moved past every orphan it removes.
 */
#include "snapshotd/gc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/db.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "common/loop.h"
#include "common/xalloc.h"

enum phase { PHASE_EXPIRE, PHASE_BATCH, PHASE_SCAN };

/* A snapshot whose row went and whose directory is to go. */
struct victim {
	const struct snapshotd_backend *backend; /* NULL: an unknown snapshotter, no directory */
	int64_t id;
	bool failed; /* its directory could not be removed */
};

/* An entry found under a backend's root by the scan. */
struct entry {
	const struct snapshotd_backend *backend;
	char *name;
	int64_t id;  /* 0: the name is not an id */
	bool orphan; /* decided on the loop: to be removed */
	bool removed;
};

struct snapshotd_gc {
	struct snapshotd_store *s;
	uv_loop_t *uv;
	struct br_gc *sched;

	/* The collection running. */
	enum phase phase;
	struct br_gc_result result;
	int64_t started_ms;
	unsigned dir_failures;
	br_err first_dir_failure;
	int64_t *failed; /* ids whose directory removal failed: the scan does not retry them */
	size_t n_failed;

	/* The job on a worker: the victims of a batch, or the scan's entries. The worker
	 * writes only job_*, read on the loop once the job is done. */
	uv_work_t work;
	struct victim victims[SNAPSHOTD_GC_BATCH];
	size_t n_victims;
	struct entry *entries;
	size_t n_entries;
	unsigned job_failures;
	br_err job_failure;
};

static void step(void *arg);

/* The next step runs on the next turn of the loop, after the calls that arrived meanwhile. */
static void
schedule_step(struct snapshotd_gc *g)
{
	br_gc_step(g->sched, step, g);
}

static void
free_entries(struct snapshotd_gc *g)
{
	for (size_t i = 0; i < g->n_entries; i++)
		free(g->entries[i].name);
	free(g->entries);
	g->entries = NULL;
	g->n_entries = 0;
}

/* Fold a worker's failures into the collection's. */
static void
take_job_failures(struct snapshotd_gc *g)
{
	if (g->job_failures > 0 && g->dir_failures == 0)
		br_err_copy(&g->first_dir_failure, &g->job_failure);
	g->dir_failures += g->job_failures;
	g->job_failures = 0;
}

static void
finish(struct snapshotd_gc *g, const br_err *err)
{
	struct br_gc_result *r = &g->result;

	free_entries(g);
	free(g->failed);
	g->failed = NULL;
	g->n_failed = 0;
	r->duration_ms = br_now_ms() - g->started_ms;
	if (g->dir_failures > 0)
		br_log_warn("SNAP-GC-DIR",
		            "%u snapshot directories could not be removed; the next collection "
		            "retries: %s",
		            g->dir_failures, g->first_dir_failure.msg);
	if (r->leases + r->removed + r->orphans > 0)
		br_log_notice("SNAP-GC",
		              "collected %" PRId64 " snapshots (%" PRId64 " bytes known), %" PRId64
		              " orphan directories and %" PRId64 " expired leases in %" PRId64
		              " ms",
		              r->removed, r->bytes, r->orphans, r->leases, r->duration_ms);
	if (err != NULL)
		br_log_warn("SNAP-GC-FAILED", "collection failed: %s", err->msg);
	br_gc_finished(g->sched, r, err);
}

/* ---- step 2: a batch of snapshots ---- */

static void
remove_dirs_work(uv_work_t *work)
{
	struct snapshotd_gc *g = work->data;

	for (size_t i = 0; i < g->n_victims; i++) {
		struct victim *v = &g->victims[i];
		br_err err = BR_ERR_INIT;
		if (v->backend == NULL || v->backend->ops->remove(v->backend, v->id, &err) == 0)
			continue;
		v->failed = true;
		if (g->job_failures++ == 0)
			br_err_copy(&g->job_failure, &err);
	}
}

static void
remove_dirs_done(uv_work_t *work, int status)
{
	struct snapshotd_gc *g = work->data;

	if (status == UV_ECANCELED)
		remove_dirs_work(work);
	for (size_t i = 0; i < g->n_victims; i++) {
		snapshotd_removing_del(g->s, g->victims[i].id);
		if (g->victims[i].failed) {
			g->failed = xrealloc(g->failed, (g->n_failed + 1) * sizeof(*g->failed));
			g->failed[g->n_failed++] = g->victims[i].id;
		}
	}
	g->n_victims = 0;
	take_job_failures(g);
	schedule_step(g);
}

struct candidate {
	int64_t id;
	const struct snapshotd_backend *backend;
	int64_t size; /* known size of a committed snapshot, else 0 */
};

/* Select the next batch: snapshots outside the keep set, youngest first. */
static int
select_batch(struct snapshotd_gc *g, struct candidate *ret, size_t *ret_n, br_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	_cleanup_free_ char *busy = snapshotd_busy_json(g->s);
	size_t n = 0;
	int rc;

	if (br_db_prepare(g->s->db,
	                  SNAPSHOTD_KEEP_CTE
	                  "SELECT s.id, s.snapshotter, CASE WHEN s.kind = 'committed'"
	                  " THEN ifnull(s.size, 0) ELSE 0 END FROM snapshots s"
	                  " WHERE s.id NOT IN (SELECT id FROM keep) ORDER BY s.id DESC LIMIT ?3",
	                  &st, err) < 0)
		return -1;
	sqlite3_bind_int64(st, 1, br_db_now());
	sqlite3_bind_text(st, 2, busy, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 3, SNAPSHOTD_GC_BATCH);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW && n < SNAPSHOTD_GC_BATCH) {
		ret[n].id = sqlite3_column_int64(st, 0);
		ret[n].backend = snapshotd_backend_by_name(g->s, br_db_text(st, 1));
		ret[n].size = sqlite3_column_int64(st, 2);
		n++;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return br_db_error(g->s->db, rc, err, "select snapshots to collect");
	*ret_n = n;
	return 0;
}

/* Delete the rows of `cands` (children first; one that has gained a child is skipped) with
 * their /snapshots/remove events in one transaction, moving those deleted to g->victims. */
static int
delete_batch(struct snapshotd_gc *g, const struct candidate *cands, size_t n, br_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int64_t bytes = 0;
	size_t n_victims = 0;

	if (br_db_prepare(g->s->db,
	                  "DELETE FROM snapshots WHERE id = ?1 AND NOT EXISTS"
	                  " (SELECT 1 FROM snapshots c WHERE c.parent_id = ?1)"
	                  " RETURNING namespace, snapshotter, key",
	                  &st, err) < 0 ||
	    br_db_begin(g->s->db, err) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		sqlite3_reset(st);
		sqlite3_bind_int64(st, 1, cands[i].id);
		int rc = sqlite3_step(st);
		if (rc == SQLITE_DONE)
			continue; /* it has a child now */
		if (rc != SQLITE_ROW) {
			br_db_error(g->s->db, rc, err, "collect snapshot %" PRId64, cands[i].id);
			goto out_rollback;
		}
		if (snapshotd_snapshot_removed(g->s, br_db_text(st, 0), br_db_text(st, 1),
		                               br_db_text(st, 2), err) < 0)
			goto out_rollback;
		if ((rc = sqlite3_step(st)) != SQLITE_DONE) {
			br_db_error(g->s->db, rc, err, "collect snapshot %" PRId64, cands[i].id);
			goto out_rollback;
		}
		g->victims[n_victims++] = (struct victim){cands[i].backend, cands[i].id};
		bytes += cands[i].size;
	}
	sqlite3_reset(st);
	if (br_db_commit(g->s->db, err) < 0)
		return -1;
	if (n_victims > 0)
		snapshotd_store_kick(g->s);
	g->n_victims = n_victims;
	g->result.removed += (int64_t)n_victims;
	g->result.bytes += bytes;
	return 0;

out_rollback:
	br_db_rollback(g->s->db);
	return -1;
}

/* One batch; 0 with g->n_victims == 0 when nothing is left to collect. */
static int
collect_batch(struct snapshotd_gc *g, br_err *err)
{
	struct candidate cands[SNAPSHOTD_GC_BATCH];
	size_t n = 0;

	g->n_victims = 0;
	if (select_batch(g, cands, &n, err) < 0)
		return -1;
	if (n > 0 && delete_batch(g, cands, n, err) < 0)
		return -1;
	for (size_t i = 0; i < g->n_victims; i++)
		snapshotd_removing_add(g->s, g->victims[i].id);
	return 0;
}

/* ---- step 3: orphan directories ---- */

/* Worker: list every backend's root into g->entries. */
static void
scan_work(uv_work_t *work)
{
	struct snapshotd_gc *g = work->data;
	size_t cap = 0;

	for (size_t b = 0; b < g->s->n_backends; b++) {
		const struct snapshotd_backend *backend = &g->s->backends[b];
		int fd = openat(backend->root_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		_cleanup_closedir_ DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
		struct dirent *de;

		if (d == NULL) {
			int e = errno;
			if (fd >= 0)
				close(fd);
			if (g->job_failures++ == 0)
				br_err_errno(&g->job_failure, BR_INTERNAL, e, "list %s",
				             backend->root);
			continue;
		}
		while ((de = readdir(d)) != NULL) {
			if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
				continue;
			if (g->n_entries == cap) {
				cap = cap ? cap * 2 : 64;
				g->entries = xrealloc(g->entries, cap * sizeof(*g->entries));
			}
			struct entry *e = &g->entries[g->n_entries++];
			*e = (struct entry){.backend = backend, .name = xstrdup(de->d_name)};
			if (!snapshotd_parse_id(e->name, &e->id))
				e->id = 0;
		}
	}
}

/* Worker: remove the entries decided to be orphans. */
static void
remove_orphans_work(uv_work_t *work)
{
	struct snapshotd_gc *g = work->data;

	for (size_t i = 0; i < g->n_entries; i++) {
		struct entry *e = &g->entries[i];
		br_err err = BR_ERR_INIT;
		if (!e->orphan)
			continue;
		if (br_rm_rf_at(e->backend->root_fd, e->name, &err) == 0) {
			e->removed = true;
			continue;
		}
		if (g->job_failures++ == 0) {
			br_err_copy(&g->job_failure, &err);
			br_err_wrap(&g->job_failure, "remove %s/%s", e->backend->root, e->name);
		}
	}
}

static void
remove_orphans_done(uv_work_t *work, int status)
{
	struct snapshotd_gc *g = work->data;

	if (status == UV_ECANCELED)
		remove_orphans_work(work);
	for (size_t i = 0; i < g->n_entries; i++) {
		if (g->entries[i].orphan && g->entries[i].id != 0)
			snapshotd_removing_del(g->s, g->entries[i].id);
		if (g->entries[i].removed)
			g->result.orphans++;
	}
	take_job_failures(g);
	finish(g, NULL);
}

static int
cmp_id(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

static bool
failed_before(const struct snapshotd_gc *g, int64_t id)
{
	for (size_t i = 0; i < g->n_failed; i++)
		if (g->failed[i] == id)
			return true;
	return false;
}

/* The ids of the rows of backend `b`, sorted, in *ret (the caller frees). */
static int
row_ids(struct snapshotd_gc *g, const struct snapshotd_backend *b, int64_t **ret, size_t *ret_n,
        br_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	_cleanup_free_ int64_t *ids = NULL;
	size_t n = 0, cap = 0;
	int rc;

	if (br_db_prepare(g->s->db, "SELECT id FROM snapshots WHERE snapshotter = ? ORDER BY id",
	                  &st, err) < 0)
		return -1;
	sqlite3_bind_text(st, 1, b->ops->name, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (n == cap) {
			cap = cap ? cap * 2 : 256;
			ids = xrealloc(ids, cap * sizeof(*ids));
		}
		ids[n++] = sqlite3_column_int64(st, 0);
	}
	if (rc != SQLITE_DONE)
		return br_db_error(g->s->db, rc, err, "list snapshot ids");
	*ret = br_steal_ptr(&ids);
	*ret_n = n;
	return 0;
}

/* Move the id sequence to at least `id`, so that no new snapshot gets an orphan's id. */
static int
sequence_past(struct snapshotd_gc *g, int64_t id, br_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *up = NULL;
	_cleanup_stmt_ sqlite3_stmt *ins = NULL;

	if (br_db_prepare(
	            g->s->db,
	            "UPDATE sqlite_sequence SET seq = ?1 WHERE name = 'snapshots' AND seq < ?1",
	            &up, err) < 0 ||
	    br_db_prepare(
	            g->s->db,
	            "INSERT INTO sqlite_sequence (name, seq) SELECT 'snapshots', ?1"
	            " WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'snapshots')",
	            &ins, err) < 0 ||
	    br_db_begin(g->s->db, err) < 0)
		return -1;
	sqlite3_bind_int64(up, 1, id);
	sqlite3_bind_int64(ins, 1, id);
	if (br_db_step_done(g->s->db, up, err, "snapshot id sequence") < 0 ||
	    br_db_step_done(g->s->db, ins, err, "snapshot id sequence") < 0) {
		br_db_rollback(g->s->db);
		return -1;
	}
	return br_db_commit(g->s->db, err);
}

/* Loop, once the scan listed the roots: decide which entries are orphans. */
static int
pick_orphans(struct snapshotd_gc *g, size_t *ret_n, br_err *err)
{
	int64_t max_id = 0;
	size_t n = 0;

	for (size_t b = 0; b < g->s->n_backends; b++) {
		const struct snapshotd_backend *backend = &g->s->backends[b];
		_cleanup_free_ int64_t *ids = NULL;
		size_t n_ids = 0;

		if (row_ids(g, backend, &ids, &n_ids, err) < 0)
			return -1;
		for (size_t i = 0; i < g->n_entries; i++) {
			struct entry *e = &g->entries[i];
			if (e->backend != backend)
				continue;
			if (e->id != 0 && (snapshotd_removing(g->s, e->id) ||
			                   snapshotd_busy(g->s, e->id) || failed_before(g, e->id) ||
			                   (n_ids > 0 && bsearch(&e->id, ids, n_ids, sizeof(*ids),
			                                         cmp_id) != NULL)))
				continue;
			e->orphan = true;
			n++;
			if (e->id > max_id)
				max_id = e->id;
		}
	}
	if (max_id > 0 && sequence_past(g, max_id, err) < 0)
		return -1;
	for (size_t i = 0; i < g->n_entries; i++)
		if (g->entries[i].orphan && g->entries[i].id != 0)
			snapshotd_removing_add(g->s, g->entries[i].id);
	*ret_n = n;
	return 0;
}

static void
scan_done(uv_work_t *work, int status)
{
	struct snapshotd_gc *g = work->data;
	br_err err = BR_ERR_INIT;
	size_t n = 0;

	if (status == UV_ECANCELED)
		scan_work(work);
	take_job_failures(g);
	if (br_gc_stopping(g->sched)) {
		finish(g, NULL);
		return;
	}
	if (pick_orphans(g, &n, &err) < 0) {
		finish(g, &err);
		return;
	}
	if (n == 0) {
		finish(g, NULL);
		return;
	}
	uv_queue_work(g->uv, &g->work, remove_orphans_work, remove_orphans_done);
}

/* ---- the steps ---- */

static void
step(void *arg)
{
	struct snapshotd_gc *g = arg;
	br_err err = BR_ERR_INIT;

	if (br_gc_stopping(g->sched)) {
		finish(g, NULL);
		return;
	}
	switch (g->phase) {
	case PHASE_EXPIRE:
		if (g->s->leases != NULL &&
		    br_lease_expire(g->s->leases, &g->result.leases, &err) < 0)
			break;
		g->phase = PHASE_BATCH;
		schedule_step(g);
		return;
	case PHASE_BATCH:
		if (collect_batch(g, &err) < 0)
			break;
		if (g->n_victims > 0) {
			uv_queue_work(g->uv, &g->work, remove_dirs_work, remove_dirs_done);
			return;
		}
		g->phase = PHASE_SCAN;
		uv_queue_work(g->uv, &g->work, scan_work, scan_done);
		return;
	case PHASE_SCAN:
		break;
	}
	finish(g, err.code != BR_OK ? &err : NULL);
}

static void
run(void *data, struct br_gc *gc)
{
	struct snapshotd_gc *g = data;

	(void)gc;
	g->phase = PHASE_EXPIRE;
	memset(&g->result, 0, sizeof(g->result));
	g->started_ms = br_now_ms();
	g->dir_failures = 0;
	br_err_clear(&g->first_dir_failure);
	schedule_step(g);
}

struct snapshotd_gc *
snapshotd_gc_new(struct snapshotd_store *s, uv_loop_t *uv, int64_t delay_ms, int64_t interval_ms)
{
	struct snapshotd_gc *g = xnew(struct snapshotd_gc);

	g->s = s;
	g->uv = uv;
	g->work.data = g;
	g->sched = br_gc_new(uv, s->db, "snapshotd", delay_ms, interval_ms, run, g);
	return g;
}

struct br_gc *
snapshotd_gc_scheduler(struct snapshotd_gc *g)
{
	return g->sched;
}

void
snapshotd_gc_released(void *data)
{
	struct snapshotd_gc *g = data;

	br_gc_released(g->sched);
}

void
snapshotd_gc_stop(struct snapshotd_gc *g)
{
	br_gc_stop(g->sched);
}

bool
snapshotd_gc_running(const struct snapshotd_gc *g)
{
	return br_gc_running(g->sched);
}

void
snapshotd_gc_free(struct snapshotd_gc *g)
{
	if (g == NULL)
		return;
	br_gc_free(g->sched);
	free_entries(g);
	free(g->failed);
	free(g);
}
