/* SPDX-License-Identifier: Apache-2.0 */
/*
 * RPC handlers of snapshots.*. Quick operations (stat, list, mounts, commit, and creating an
 * overlayfs snapshot, which is three mkdirs) run on the loop. A native snapshot's copy and
 * every directory removal run on a libuv worker between the store's begin and end steps.
 *
 * snapshots.remove answers once the directory is gone. If it cannot be deleted (something
 * is still mounted inside), the record is already removed, so the call still succeeds and a
 * warning names the directory; the next start removes it.
 */
#include "snapshotd/service.h"

#include <inttypes.h>
#include <stdlib.h>

#include "common/log.h"
#include "common/xalloc.h"

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

static void
handle_create(br_call *call, struct snapshotd_service *svc, enum snapshotd_kind kind)
{
	const struct br_snap_prepare_req *req = br_call_params(call);
	struct snapshotd_create *c = NULL;
	br_err err = BR_ERR_INIT;

	if (snapshotd_create_begin(svc->store, br_call_ns(call), req, kind, br_call_arena(call), &c,
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

	if (snapshotd_commit(svc->store, br_call_ns(call), req, &err) < 0) {
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
		            "snapshot \"%s\" removed, its directory is left for the next start: %s",
		            job->key, job->err.msg);
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

const struct br_method snapshotd_methods[] = {
        {"snapshots.prepare", &br_snap_prepare_req_schema, handle_prepare},
        {"snapshots.view", &br_snap_prepare_req_schema, handle_view},
        {"snapshots.mounts", &br_snap_key_req_schema, handle_mounts},
        {"snapshots.commit", &br_snap_commit_req_schema, handle_commit},
        {"snapshots.remove", &br_snap_key_req_schema, handle_remove},
        {"snapshots.stat", &br_snap_key_req_schema, handle_stat},
        {"snapshots.list", &br_snap_list_req_schema, handle_list},
};
const size_t snapshotd_n_methods = sizeof(snapshotd_methods) / sizeof(snapshotd_methods[0]);

void
snapshotd_service_drain(struct snapshotd_service *svc)
{
	while (svc->inflight > 0)
		uv_run(svc->uv, UV_RUN_ONCE);
}
