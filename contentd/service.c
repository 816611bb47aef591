/* SPDX-License-Identifier: Apache-2.0 */
/*
 * RPC handlers of content.*: decode nothing themselves (the runtime hands them checked
 * params), call the store and reply. content.write runs in three steps (store.h): begin on
 * the loop, the file work on a libuv worker, end back on the loop, so the loop never waits for
 * a disk or hashes a whole file. Reads answer at most one chunk (1 MiB) and run on the loop.
 */
#include "contentd/service.h"

#include <stdlib.h>

#include "common/xalloc.h"

struct write_job {
	uv_work_t work;
	struct contentd_service *svc;
	br_call *call;
	struct contentd_write *w;
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
	struct br_content_list_resp resp = {0};
	br_err err = BR_ERR_INIT;

	if (contentd_list(svc->store, br_call_arena(call), &resp, &err) < 0) {
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
	struct contentd_write *w = NULL;
	br_err err = BR_ERR_INIT;

	if (contentd_write_begin(svc->store, req, &w, &err) < 0) {
		br_call_fail(call, &err);
		return;
	}
	struct write_job *job = xnew(struct write_job);
	job->svc = svc;
	job->call = call;
	job->w = w;
	job->work.data = job;
	svc->inflight++;
	uv_queue_work(svc->uv, &job->work, write_work, write_done);
}

const struct br_method contentd_methods[] = {
        {"content.info", &br_content_digest_req_schema, handle_info},
        {"content.list", NULL, handle_list},
        {"content.delete", &br_content_digest_req_schema, handle_delete},
        {"content.write", &br_content_write_req_schema, handle_write},
        {"content.status", &br_content_ref_req_schema, handle_status},
        {"content.abort", &br_content_ref_req_schema, handle_abort},
        {"content.read", &br_content_read_req_schema, handle_read},
};
const size_t contentd_n_methods = sizeof(contentd_methods) / sizeof(contentd_methods[0]);

void
contentd_health(void *data, msgpack_packer *pk, uint32_t *ret_extra_pairs)
{
	struct contentd_service *svc = data;

	br_msg_pack_str(pk, "ingests");
	msgpack_pack_uint64(pk, svc->store->n_ingests);
	*ret_extra_pairs = 1;
}

void
contentd_service_drain(struct contentd_service *svc)
{
	while (svc->inflight > 0)
		uv_run(svc->uv, UV_RUN_ONCE);
}
