/* SPDX-License-Identifier: Apache-2.0 */
/*
 * RPC handlers of content.*: decode nothing themselves (the runtime hands them checked
 * params), call the store and reply. content.write runs in three steps (store.h): begin on
 * the loop, the file work on a libuv worker, end back on the loop, so the loop never waits for
 * a disk or hashes a whole file. Reads answer at most one chunk (1 MiB) and run on the loop.
 * content.leases.* are served by the store's br_lease_store (main.c adds its table);
 * content.gc by the store's scheduler.
 */
#include "contentd/service.h"

#include <inttypes.h>
#include <stdlib.h>

#include "common/metrics.h"
#include "common/xalloc.h"

struct write_job {
	uv_work_t work;
	struct contentd_service *svc;
	br_call *call;
	struct contentd_write *w;
	struct contentd_lease_ref lease; /* the envelope's, if it names one */
};

static void
handle_info(br_call *call, void *data)
{
	struct contentd_service *svc = data;
	const struct br_content_digest_req *req = br_call_params(call);
	struct br_content_info info;
	br_err err = BR_ERR_INIT;

	if (contentd_info(svc->store, req->digest, br_call_arena(call), &info, &err) < 0) {
		br_call_fail(call, &err);
		return;
	}
	br_call_reply(call, &br_content_info_schema, &info);
}

static void
handle_list(br_call *call, void *data)
{
	struct contentd_service *svc = data;
	const struct br_content_list_req *req = br_call_params(call);
	struct br_content_list_resp resp = {0};
	br_err err = BR_ERR_INIT;

	if (contentd_list(svc->store, &req->page, br_call_arena(call), &resp, &err) < 0) {
		br_call_fail(call, &err);
		return;
	}
	br_call_reply(call, &br_content_list_resp_schema, &resp);
}

static void
handle_delete(br_call *call, void *data)
{
	struct contentd_service *svc = data;
	const struct br_content_digest_req *req = br_call_params(call);
	br_err err = BR_ERR_INIT;

	if (contentd_delete(svc->store, req->digest, &err) < 0) {
		br_call_fail(call, &err);
		return;
	}
	br_call_reply(call, NULL, NULL);
}

static void
handle_status(br_call *call, void *data)
{
	struct contentd_service *svc = data;
	const struct br_content_ref_req *req = br_call_params(call);
	struct br_content_status st;
	br_err err = BR_ERR_INIT;

	if (contentd_status(svc->store, req->ref, br_call_arena(call), &st, &err) < 0) {
		br_call_fail(call, &err);
		return;
	}
	br_call_reply(call, &br_content_status_schema, &st);
}

static void
handle_abort(br_call *call, void *data)
{
	struct contentd_service *svc = data;
	const struct br_content_ref_req *req = br_call_params(call);
	br_err err = BR_ERR_INIT;

	if (contentd_abort(svc->store, req->ref, &err) < 0) {
		br_call_fail(call, &err);
		return;
	}
	br_call_reply(call, NULL, NULL);
}

static void
handle_read(br_call *call, void *data)
{
	struct contentd_service *svc = data;
	const struct br_content_read_req *req = br_call_params(call);
	struct br_content_read_resp resp;
	br_err err = BR_ERR_INIT;

	if (contentd_read(svc->store, req, br_call_arena(call), &resp, &err) < 0) {
		br_call_fail(call, &err);
		return;
	}
	br_call_reply(call, &br_content_read_resp_schema, &resp);
}

static void
write_work(uv_work_t *work)
{
	struct write_job *job = work->data;

	contentd_write_work(job->w);
}

static void
write_done(uv_work_t *work, int status)
{
	struct write_job *job = work->data;
	struct contentd_service *svc = job->svc;
	struct br_content_write_resp resp;
	br_err err = BR_ERR_INIT;

	/* Nothing cancels write jobs; should one be, the work still has to happen for the
	 * ingest to be consistent. */
	if (status == UV_ECANCELED)
		contentd_write_work(job->w);
	if (contentd_write_end(svc->store, job->w, br_call_arena(job->call), &resp, &err) < 0)
		br_call_fail(job->call, &err);
	else
		br_call_reply(job->call, &br_content_write_resp_schema, &resp);
	svc->inflight--;
	free(job);
}

static void
handle_write(br_call *call, void *data)
{
	struct contentd_service *svc = data;
	const struct br_content_write_req *req = br_call_params(call);
	const char *lease = br_call_request(call)->lease;
	struct write_job *job = xnew(struct write_job);
	br_err err = BR_ERR_INIT;

	job->lease.ns = br_call_ns(call);
	job->lease.id = lease;
	if (contentd_write_begin(svc->store, req, lease != NULL ? &job->lease : NULL, &job->w,
	                         &err) < 0) {
		free(job);
		br_call_fail(call, &err);
		return;
	}
	job->svc = svc;
	job->call = call;
	job->work.data = job;
	svc->inflight++;
	uv_queue_work(svc->uv, &job->work, write_work, write_done);
}

static void
handle_gc(br_call *call, void *data)
{
	struct contentd_service *svc = data;

	br_gc_handle(call, svc->store->gc);
}

static void
handle_usage(br_call *call, void *data)
{
	struct contentd_service *svc = data;
	struct br_content_usage usage;
	br_err err = BR_ERR_INIT;

	if (contentd_usage(svc->store, br_call_arena(call), &usage, &err) < 0) {
		br_call_fail(call, &err);
		return;
	}
	br_call_reply(call, &br_content_usage_schema, &usage);
}

const struct br_method contentd_methods[] = {
        {"content.info", &br_content_digest_req_schema, handle_info},
        {"content.list", &br_content_list_req_schema, handle_list},
        {"content.delete", &br_content_digest_req_schema, handle_delete},
        {"content.write", &br_content_write_req_schema, handle_write},
        {"content.status", &br_content_ref_req_schema, handle_status},
        {"content.abort", &br_content_ref_req_schema, handle_abort},
        {"content.read", &br_content_read_req_schema, handle_read},
        {"content.gc", NULL, handle_gc},
        {"content.usage", NULL, handle_usage},
};
const size_t contentd_n_methods = sizeof(contentd_methods) / sizeof(contentd_methods[0]);

void
contentd_health(void *data, msgpack_packer *pk, uint32_t *ret_extra_pairs)
{
	struct contentd_service *svc = data;

	br_msg_pack_str(pk, "ingests");
	msgpack_pack_uint64(pk, svc->store->n_ingests);
	br_msg_pack_str(pk, "gc_runs");
	msgpack_pack_uint64(pk, svc->store->gc_runs);
	*ret_extra_pairs = 2;
}

int
contentd_ns_usage(void *data, const char *ns, br_arena *arena, struct br_strlist *ret, br_err *err)
{
	struct contentd_service *svc = data;
	int64_t n = 0;

	if (br_lease_count(svc->store->leases, ns, &n, err) < 0)
		return -1;
	if (n == 0)
		return 0;
	const char **v = br_arena_alloc(arena, sizeof(*v));
	v[0] = br_arena_printf(arena, "%" PRId64 " lease%s", n, n == 1 ? "" : "s");
	ret->v = v;
	ret->n = 1;
	return 0;
}

void
contentd_service_drain(struct contentd_service *svc)
{
	contentd_store_drain(svc->store);
	while (svc->inflight > 0)
		uv_run(svc->uv, UV_RUN_ONCE);
}

/* ------------------------------------------------------------------ metrics */

void
contentd_metrics(void *data, struct br_metrics *m)
{
	struct contentd_service *svc = data;
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	br_err err = BR_ERR_INIT;

	/* A database error leaves these two out of the scrape rather than failing it. */
	if (br_db_prepare(svc->store->db, "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM blobs", &st,
	                  &err) == 0 &&
	    sqlite3_step(st) == SQLITE_ROW) {
		br_metrics_gauge(m, "berth_content_blobs", "Blobs stored.", NULL,
		                 (double)sqlite3_column_int64(st, 0), NULL);
		br_metrics_gauge(m, "berth_content_blob_bytes", "Bytes of the blobs stored.", NULL,
		                 (double)sqlite3_column_int64(st, 1), NULL);
	}
	br_metrics_gauge(m, "berth_content_ingests", "Ingests in progress.", NULL,
	                 (double)svc->store->n_ingests, NULL);
	br_gc_metrics(svc->store->gc, m);
}
