/* SPDX-License-Identifier: Apache-2.0 */
/*
 * RPC handlers of snapshots.*. Quick operations (stat, list, mounts, commit, and creating an
 * overlayfs snapshot, which is three mkdirs) run on the loop. A native snapshot's copy, every
 * directory removal and every disk usage walk run on a libuv worker between the store's begin
 * and end steps.
 *
 * The envelope's lease ("lease": id) is passed to the store, which holds what prepare, view
 * and commit create in the same transaction as the record. Keys under BR_SNAP_RESERVED_PREFIX
 * are Berth's own: a request that came through the front door may not create one.
 *
 * snapshots.remove answers once the directory is gone. If it cannot be deleted (something
 * is still mounted inside), the record is already removed, so the call still succeeds and a
 * warning names the directory; the next collection (or start) removes it.
 */
#include "snapshotd/service.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "common/db.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/xalloc.h"
#include "snapshotd/usage.h"

struct create_job {
	uv_work_t work;
	struct snapshotd_service *svc;
	br_call *call;
	struct snapshotd_create *c;
};

struct remove_job {
	uv_work_t work;
	struct snapshotd_service *svc;
	br_call *call;
	struct snapshotd_removal r;
	const char *key;
	br_err err;
	int rc;
};

static void
create_finish(struct snapshotd_service *svc, br_call *call, struct snapshotd_create *c)
{
	struct br_snap_mounts_resp resp;
	br_err err = BR_ERR_INIT;

	if (snapshotd_create_end(svc->store, c, &resp, &err) < 0) {
		br_call_fail(call, &err);
		return;
	}
	br_call_reply(call, &br_snap_mounts_resp_schema, &resp);
}

static void
create_work(uv_work_t *work)
{
	struct create_job *job = work->data;

	snapshotd_create_work(job->c);
}

static void
create_done(uv_work_t *work, int status)
{
	struct create_job *job = work->data;

	if (status == UV_ECANCELED)
		snapshotd_create_work(job->c);
	create_finish(job->svc, job->call, job->c);
	job->svc->inflight--;
	free(job);
}

/* Only Berth's daemons, calling directly, may create keys under BR_SNAP_RESERVED_PREFIX. */
static int
check_reserved(br_call *call, const char *key, br_err *err)
{
	if (br_call_via_front_door(call) &&
	    strncmp(key, BR_SNAP_RESERVED_PREFIX, strlen(BR_SNAP_RESERVED_PREFIX)) == 0)
		return br_err_set(
		        err, BR_PERMISSION_DENIED,
		        "snapshot key \"%s\": keys starting with \"" BR_SNAP_RESERVED_PREFIX
		        "\" are reserved for Berth's own snapshots",
		        key);
	return 0;
}

static void
handle_create(br_call *call, struct snapshotd_service *svc, enum snapshotd_kind kind)
{
	const struct br_snap_prepare_req *req = br_call_params(call);
	struct snapshotd_create *c = NULL;
	br_err err = BR_ERR_INIT;

	if (check_reserved(call, req->key, &err) < 0 ||
	    snapshotd_create_begin(svc->store, br_call_ns(call), req, kind,
	                           br_call_request(call)->lease, br_call_arena(call), &c,
	                           &err) < 0) {
		br_call_fail(call, &err);
		return;
	}
	if (!snapshotd_create_blocks(c)) {
		snapshotd_create_work(c);
		create_finish(svc, call, c);
		return;
	}
	struct create_job *job = xnew(struct create_job);
	job->work.data = job;
	job->svc = svc;
	job->call = call;
	job->c = c;
	svc->inflight++;
	uv_queue_work(svc->uv, &job->work, create_work, create_done);
}

static void
handle_prepare(br_call *call, void *data)
{
	handle_create(call, data, SNAPSHOTD_ACTIVE);
}

static void
handle_view(br_call *call, void *data)
{
	handle_create(call, data, SNAPSHOTD_VIEW);
}

static void
handle_mounts(br_call *call, void *data)
{
	struct snapshotd_service *svc = data;
	const struct br_snap_key_req *req = br_call_params(call);
	struct br_snap_mounts_resp resp;
	br_err err = BR_ERR_INIT;

	if (snapshotd_mounts(svc->store, br_call_ns(call), req, br_call_arena(call), &resp, &err) <
	    0) {
		br_call_fail(call, &err);
		return;
	}
	br_call_reply(call, &br_snap_mounts_resp_schema, &resp);
}

static void
handle_commit(br_call *call, void *data)
{
	struct snapshotd_service *svc = data;
	const struct br_snap_commit_req *req = br_call_params(call);
	br_err err = BR_ERR_INIT;

	if (check_reserved(call, req->name, &err) < 0 ||
	    snapshotd_commit(svc->store, br_call_ns(call), req, br_call_request(call)->lease,
	                     &err) < 0) {
		br_call_fail(call, &err);
		return;
	}
	br_call_reply(call, NULL, NULL);
}

static void
remove_work(uv_work_t *work)
{
	struct remove_job *job = work->data;

	job->rc = snapshotd_remove_work(&job->r, &job->err);
}

static void
remove_done(uv_work_t *work, int status)
{
	struct remove_job *job = work->data;

	if (status == UV_ECANCELED)
		remove_work(work);
	if (job->rc < 0)
		br_log_warn("SNAP-REMOVE-DIR",
		            "snapshot \"%s\" removed, its directory is left for the next "
		            "collection: %s",
		            job->key, job->err.msg);
	snapshotd_remove_end(job->svc->store, &job->r);
	br_call_reply(job->call, NULL, NULL);
	job->svc->inflight--;
	free(job);
}

static void
handle_remove(br_call *call, void *data)
{
	struct snapshotd_service *svc = data;
	const struct br_snap_key_req *req = br_call_params(call);
	struct remove_job *job = xnew(struct remove_job);
	br_err err = BR_ERR_INIT;

	if (snapshotd_remove_begin(svc->store, br_call_ns(call), req, &job->r, &err) < 0) {
		free(job);
		br_call_fail(call, &err);
		return;
	}
	job->work.data = job;
	job->svc = svc;
	job->call = call;
	job->key = req->key;
	svc->inflight++;
	uv_queue_work(svc->uv, &job->work, remove_work, remove_done);
}

static void
handle_stat(br_call *call, void *data)
{
	struct snapshotd_service *svc = data;
	const struct br_snap_key_req *req = br_call_params(call);
	struct br_snapshot_info info;
	br_err err = BR_ERR_INIT;

	if (snapshotd_stat(svc->store, br_call_ns(call), req, br_call_arena(call), &info, &err) <
	    0) {
		br_call_fail(call, &err);
		return;
	}
	br_call_reply(call, &br_snapshot_info_schema, &info);
}

static void
handle_list(br_call *call, void *data)
{
	struct snapshotd_service *svc = data;
	const struct br_snap_list_req *req = br_call_params(call);
	struct br_snap_list_resp resp = {0};
	br_err err = BR_ERR_INIT;

	if (snapshotd_list(svc->store, br_call_ns(call), req, br_call_arena(call), &resp, &err) <
	    0) {
		br_call_fail(call, &err);
		return;
	}
	br_call_reply(call, &br_snap_list_resp_schema, &resp);
}

struct usage_job {
	uv_work_t work;
	struct snapshotd_service *svc;
	br_call *call;
	struct snapshotd_usage *u;
};

static void
usage_finish(struct snapshotd_service *svc, br_call *call, struct snapshotd_usage *u)
{
	struct br_snap_usage_resp resp;
	br_err err = BR_ERR_INIT;

	if (snapshotd_usage_end(svc->store, u, br_call_arena(call), &resp, &err) < 0) {
		br_call_fail(call, &err);
		return;
	}
	br_call_reply(call, &br_snap_usage_resp_schema, &resp);
}

static void
usage_work(uv_work_t *work)
{
	struct usage_job *job = work->data;

	snapshotd_usage_work(job->u);
}

static void
usage_done(uv_work_t *work, int status)
{
	struct usage_job *job = work->data;

	if (status == UV_ECANCELED)
		usage_work(work);
	usage_finish(job->svc, job->call, job->u);
	job->svc->inflight--;
	free(job);
}

static void
handle_usage(br_call *call, void *data)
{
	struct snapshotd_service *svc = data;
	const struct br_snap_usage_req *req = br_call_params(call);
	struct snapshotd_usage *u = NULL;
	br_err err = BR_ERR_INIT;

	if (snapshotd_usage_begin(svc->store, br_call_ns(call), req, &u, &err) < 0) {
		br_call_fail(call, &err);
		return;
	}
	if (!snapshotd_usage_blocks(u)) {
		usage_finish(svc, call, u);
		return;
	}
	struct usage_job *job = xnew(struct usage_job);
	job->work.data = job;
	job->svc = svc;
	job->call = call;
	job->u = u;
	svc->inflight++;
	uv_queue_work(svc->uv, &job->work, usage_work, usage_done);
}

static void
handle_gc(br_call *call, void *data)
{
	struct snapshotd_service *svc = data;

	if (svc->gc == NULL) {
		br_call_failf(call, BR_UNAVAILABLE, "snapshots.gc: no collector");
		return;
	}
	br_gc_handle(call, snapshotd_gc_scheduler(svc->gc));
}

const struct br_method snapshotd_methods[] = {
        {"snapshots.prepare", &br_snap_prepare_req_schema, handle_prepare},
        {"snapshots.view", &br_snap_prepare_req_schema, handle_view},
        {"snapshots.mounts", &br_snap_key_req_schema, handle_mounts},
        {"snapshots.commit", &br_snap_commit_req_schema, handle_commit},
        {"snapshots.remove", &br_snap_key_req_schema, handle_remove},
        {"snapshots.stat", &br_snap_key_req_schema, handle_stat},
        {"snapshots.list", &br_snap_list_req_schema, handle_list},
        {"snapshots.usage", &br_snap_usage_req_schema, handle_usage},
        {"snapshots.gc", NULL, handle_gc},
};
const size_t snapshotd_n_methods = sizeof(snapshotd_methods) / sizeof(snapshotd_methods[0]);

static void
add_count(br_arena *arena, struct br_strlist *list, int64_t n, const char *one, const char *many)
{
	const char **v = br_arena_alloc(arena, (list->n + 1) * sizeof(*v));

	if (n == 0)
		return;
	if (list->n > 0)
		memcpy(v, list->v, list->n * sizeof(*v));
	v[list->n++] = br_arena_printf(arena, "%" PRId64 " %s", n, n == 1 ? one : many);
	list->v = v;
}

int
snapshotd_ns_usage(void *data, const char *ns, br_arena *arena, struct br_strlist *ret, br_err *err)
{
	struct snapshotd_service *svc = data;
	struct br_strlist out = {0};
	int64_t snapshots = 0, leases = 0;

	if (snapshotd_count(svc->store, ns, &snapshots, err) < 0 ||
	    (svc->store->leases != NULL &&
	     br_lease_count(svc->store->leases, ns, &leases, err) < 0))
		return -1;
	add_count(arena, &out, snapshots, "snapshot", "snapshots");
	add_count(arena, &out, leases, "lease", "leases");
	*ret = out;
	return 0;
}

void
snapshotd_service_stop(void *data)
{
	struct snapshotd_service *svc = data;

	if (svc->gc != NULL)
		snapshotd_gc_stop(svc->gc);
}

void
snapshotd_service_drain(struct snapshotd_service *svc)
{
	snapshotd_service_stop(svc);
	while (svc->inflight > 0 || (svc->gc != NULL && snapshotd_gc_running(svc->gc)))
		uv_run(svc->uv, UV_RUN_ONCE);
}

/* ------------------------------------------------------------------ metrics */

void
snapshotd_metrics(void *data, struct br_metrics *m)
{
	static const char *const kinds[] = {"active", "view", "committed"};
	struct snapshotd_service *svc = data;
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int64_t counts[3] = {0}, bytes = 0;
	br_err err = BR_ERR_INIT;

	/* Sizes are those snapshots.usage measured: a committed snapshot is measured once and
	 * kept, so the bytes are a lower bound that grows as snapshots get measured. */
	if (br_db_prepare(
	            svc->store->db,
	            "SELECT kind, COUNT(*), COALESCE(SUM(size), 0) FROM snapshots GROUP BY kind",
	            &st, &err) < 0)
		return;
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *kind = (const char *)sqlite3_column_text(st, 0);
		for (size_t i = 0; i < 3; i++) {
			if (kind != NULL && strcmp(kind, kinds[i]) == 0)
				counts[i] = sqlite3_column_int64(st, 1);
		}
		bytes += sqlite3_column_int64(st, 2);
	}
	for (size_t i = 0; i < 3; i++)
		br_metrics_gauge(m, "berth_snapshots", "Snapshots, by kind.",
		                 BR_LABELS("kind", kinds[i]), (double)counts[i], NULL);
	br_metrics_gauge(m, "berth_snapshot_measured_bytes",
	                 "Disk usage of the snapshots measured so far (snapshots.usage).", NULL,
	                 (double)bytes, NULL);
	if (svc->gc != NULL)
		br_gc_metrics(snapshotd_gc_scheduler(svc->gc), m);
}
