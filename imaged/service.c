/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The RPC methods of berth-imaged and the service's life cycle.
 *
 * images.pull and images.import check their parameters and start a job; images.list, get
 * and remove answer from the database on the loop thread; images.resolve reads the image's
 * config from contentd on a libuv worker (it is cached afterwards). At start the journal of
 * an earlier run (store.h) is read, and a background thread removes the extract snapshots
 * and aborts the ingests it names as soon as the peers answer, without holding up the start.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/db.h"
#include "common/log.h"
#include "common/proto/content.h"
#include "common/proto/snapshots.h"
#include "common/ref.h"
#include "common/xalloc.h"
#include "imaged/imaged.h"

#define RECONCILE_RETRY_MS 1000

BR_DEFINE_CLEANUP(struct br_ref, br_ref_free)

/* The normalized form of an image name from a request; INVALID_ARGUMENT if it is none. */
static char *
normalize(br_call *call, const char *name)
{
	struct br_ref *ref = NULL;
	br_err err = BR_ERR_INIT;

	if (br_ref_parse(name, &ref, &err) < 0) {
		br_call_fail(call, &err);
		return NULL;
	}
	char *out = br_ref_string(ref);
	br_ref_free(ref);
	return out;
}

static bool
platform_ok(br_call *call, const char *platform)
{
	struct br_oci_platform p = {0};
	br_err err = BR_ERR_INIT;

	if (platform == NULL)
		return true;
	if (br_oci_platform_parse(platform, &p, &err) < 0) {
		br_call_fail(call, &err);
		return false;
	}
	br_oci_platform_fini(&p);
	return true;
}

static void
reply_job(br_call *call, const struct imaged_job *job)
{
	struct br_job_ref out = {.id = job->id};

	br_call_reply(call, &br_job_ref_schema, &out);
}

static void
handle_pull(br_call *call, void *data)
{
	const struct br_image_pull_req *req = br_call_params(call);
	struct imaged_job *job;
	br_err err = BR_ERR_INIT;

	_cleanup_free_ char *name = normalize(call, req->ref);
	if (name == NULL || !platform_ok(call, req->platform))
		return;
	struct imaged_pull_arg *a = xnew(struct imaged_pull_arg);
	a->ref = xstrdup(req->ref);
	a->platform = req->platform ? xstrdup(req->platform) : NULL;
	if (imaged_job_start(data, br_call_ns(call), "pull", imaged_pull_run, a,
	                     imaged_pull_arg_free, &job, &err) < 0) {
		br_err_wrap(&err, "pull %s", name);
		br_call_fail(call, &err);
		return;
	}
	reply_job(call, job);
}

static void
handle_import(br_call *call, void *data)
{
	const struct br_image_import_req *req = br_call_params(call);
	struct imaged_job *job;
	br_err err = BR_ERR_INIT;
	char *name = NULL;

	if (req->name != NULL && req->name[0] != '\0' &&
	    (name = normalize(call, req->name)) == NULL)
		return;
	if (!platform_ok(call, req->platform)) {
		free(name);
		return;
	}
	struct imaged_import_arg *a = xnew(struct imaged_import_arg);
	a->digest = xstrdup(req->digest);
	a->name = name;
	a->platform = req->platform ? xstrdup(req->platform) : NULL;
	if (imaged_job_start(data, br_call_ns(call), "import", imaged_import_run, a,
	                     imaged_import_arg_free, &job, &err) < 0) {
		br_err_wrap(&err, "import %s", req->digest);
		br_call_fail(call, &err);
		return;
	}
	reply_job(call, job);
}

static void
handle_list(br_call *call, void *data)
{
	struct imaged_service *svc = data;
	struct br_image_list_resp resp = {0};
	br_err err = BR_ERR_INIT;

	if (imaged_store_list_images(svc->db, br_call_ns(call), br_call_arena(call), &resp, &err) <
	    0) {
		br_call_fail(call, &err);
		return;
	}
	br_call_reply(call, &br_image_list_resp_schema, &resp);
}

static void
handle_get(br_call *call, void *data)
{
	struct imaged_service *svc = data;
	const struct br_image_name_req *req = br_call_params(call);
	struct br_image img;
	br_err err = BR_ERR_INIT;

	_cleanup_free_ char *name = normalize(call, req->name);
	if (name == NULL)
		return;
	if (imaged_store_get_image(svc->db, br_call_ns(call), name, br_call_arena(call), &img,
	                           &err) < 0) {
		br_call_fail(call, &err);
		return;
	}
	br_call_reply(call, &br_image_schema, &img);
}

static void
handle_remove(br_call *call, void *data)
{
	struct imaged_service *svc = data;
	const struct br_image_name_req *req = br_call_params(call);
	br_err err = BR_ERR_INIT;

	_cleanup_free_ char *name = normalize(call, req->name);
	if (name == NULL)
		return;
	if (imaged_store_remove_image(svc->db, br_call_ns(call), name, &err) < 0) {
		br_call_fail(call, &err);
		return;
	}
	br_log_info("IMAGE-REMOVE", "image %s removed from namespace %s", name, br_call_ns(call));
	br_call_reply(call, NULL, NULL);
}

/* ------------------------------------------------------------------ images.resolve */

struct resolve {
	uv_work_t work;
	struct imaged_service *svc;
	br_call *call;
	struct br_image img;
	struct br_oci_image_config *config; /* the worker's result */
	br_err err;
	int rc;
};

static struct br_oci_image_config *
cached_config(struct imaged_service *svc, const char *digest)
{
	for (size_t i = 0; i < IMAGED_CONFIG_CACHE; i++)
		if (svc->configs[i].config != NULL && strcmp(svc->configs[i].digest, digest) == 0)
			return svc->configs[i].config;
	return NULL;
}

static void
cache_config(struct imaged_service *svc, const char *digest, struct br_oci_image_config *c)
{
	struct imaged_config_entry *e = &svc->configs[svc->next_config];

	br_oci_config_free(e->config);
	snprintf(e->digest, sizeof(e->digest), "%s", digest);
	e->config = c;
	svc->next_config = (svc->next_config + 1) % IMAGED_CONFIG_CACHE;
}

static struct br_strlist
strlist(br_arena *arena, char **v)
{
	struct br_strlist out = {0};

	if (v == NULL)
		return out;
	while (v[out.n] != NULL)
		out.n++;
	out.v = br_arena_alloc(arena, (out.n + 1) * sizeof(char *));
	for (size_t i = 0; i < out.n; i++)
		out.v[i] = v[i];
	return out;
}

static void
reply_runtime(br_call *call, const struct br_image *img, const struct br_oci_image_config *c)
{
	br_arena *arena = br_call_arena(call);
	struct br_image_runtime out = {
	        .name = img->name,
	        .chain_id = img->chain_id,
	        .snapshotter = NULL, /* images are unpacked with snapshotd's default */
	        .user = c->user,
	        .env = strlist(arena, c->env),
	        .entrypoint = strlist(arena, c->entrypoint),
	        .cmd = strlist(arena, c->cmd),
	        .working_dir = c->working_dir,
	        .stop_signal = c->stop_signal,
	};
	br_call_reply(call, &br_image_runtime_schema, &out);
}

static void
resolve_work(uv_work_t *work)
{
	struct resolve *r = work->data;
	_cleanup_free_ char *buf = NULL;
	size_t len;

	r->rc = imaged_blob_get(r->svc->content, r->img.config_digest, BR_OCI_MAX_DOC, &buf, &len,
	                        &r->err);
	if (r->rc == 0)
		r->rc = br_oci_config_parse(buf, len, &r->config, &r->err);
	if (r->rc < 0)
		br_err_wrap(&r->err, "image \"%s\": config %s", r->img.name, r->img.config_digest);
}

static void
resolve_done(uv_work_t *work, int status)
{
	struct resolve *r = work->data;
	struct imaged_service *svc = r->svc;

	svc->inflight--;
	if (status == UV_ECANCELED) {
		br_call_failf(r->call, BR_UNAVAILABLE, "berth-imaged is stopping");
	} else if (r->rc < 0) {
		br_call_fail(r->call, &r->err);
	} else {
		/* r->img lives in the call's arena: cache before the reply frees it */
		cache_config(svc, r->img.config_digest, r->config);
		reply_runtime(r->call, &r->img, r->config);
		r->config = NULL;
	}
	br_oci_config_free(r->config);
	free(r);
}

static void
handle_resolve(br_call *call, void *data)
{
	struct imaged_service *svc = data;
	const struct br_image_name_req *req = br_call_params(call);
	struct br_image img;
	br_err err = BR_ERR_INIT;

	_cleanup_free_ char *name = normalize(call, req->name);
	if (name == NULL)
		return;
	if (imaged_store_get_image(svc->db, br_call_ns(call), name, br_call_arena(call), &img,
	                           &err) < 0) {
		br_call_fail(call, &err);
		return;
	}
	if (img.config_digest == NULL) {
		br_call_failf(call, BR_INTERNAL, "image \"%s\": the record has no config", name);
		return;
	}
	const struct br_oci_image_config *c = cached_config(svc, img.config_digest);
	if (c != NULL) {
		reply_runtime(call, &img, c);
		return;
	}
	struct resolve *r = xnew(struct resolve);
	r->svc = svc;
	r->call = call;
	r->img = img; /* strings in the call's arena, alive until the reply */
	r->work.data = r;
	svc->inflight++;
	uv_queue_work(svc->uv, &r->work, resolve_work, resolve_done);
}

const struct br_method imaged_methods[] = {
        {"images.pull", &br_image_pull_req_schema, handle_pull},
        {"images.import", &br_image_import_req_schema, handle_import},
        {"images.list", NULL, handle_list},
        {"images.get", &br_image_name_req_schema, handle_get},
        {"images.remove", &br_image_name_req_schema, handle_remove},
        {"images.resolve", &br_image_name_req_schema, handle_resolve},
        {"jobs.get", &br_job_ref_schema, imaged_handle_jobs_get},
        {"jobs.wait", &br_job_wait_req_schema, imaged_handle_jobs_wait},
        {"jobs.cancel", &br_job_ref_schema, imaged_handle_jobs_cancel},
};
const size_t imaged_n_methods = sizeof(imaged_methods) / sizeof(imaged_methods[0]);

void
imaged_health(void *data, msgpack_packer *pk, uint32_t *ret_extra_pairs)
{
	struct imaged_service *svc = data;

	br_msg_pack_str(pk, "jobs");
	msgpack_pack_uint64(pk, svc->n_running);
	*ret_extra_pairs = 1;
}

/* ------------------------------------------------------------------ life cycle */

int
imaged_service_init(struct imaged_service *svc, struct br_loop *loop, uv_loop_t *uv,
                    const struct br_config *cfg, const char *data_dir, br_err *err)
{
	_cleanup_free_ char *path = xasprintf("%s/meta.db", data_dir);

	memset(svc, 0, sizeof(*svc));
	svc->loop = loop;
	svc->uv = uv;
	svc->cfg = cfg;
	pthread_mutex_init(&svc->journal_lock, NULL);
	atomic_init(&svc->reconcile_stop, false);
	if (imaged_store_open(path, &svc->db, err) < 0 ||
	    imaged_store_open(path, &svc->journal_db, err) < 0 ||
	    imaged_store_pending_list(svc->db, &svc->leftovers, &svc->n_leftovers, err) < 0)
		return -1;
	_cleanup_free_ char *content_url = br_config_socket_url(cfg, "contentd");
	_cleanup_free_ char *snapshots_url = br_config_socket_url(cfg, "snapshotd");
	if (br_rpc_client_new(content_url, "berth-contentd", &svc->content, err) < 0 ||
	    br_rpc_client_new(snapshots_url, "berth-snapshotd", &svc->snapshots, err) < 0)
		return -1;
	return 0;
}

/* Clean up one journal row: NOT_FOUND means it is gone already. */
static int
clean_leftover(struct imaged_service *svc, const struct imaged_pending *p, br_err *err)
{
	struct br_call_opts opts = {.ns = p->ns};
	br_arena *arena = br_arena_new();
	int rc;

	if (strcmp(p->kind, IMAGED_PENDING_SNAPSHOT) == 0) {
		struct br_snap_key_req req = {.key = p->name};
		rc = br_rpc_call(svc->snapshots, &opts, "snapshots.remove", &br_snap_key_req_schema,
		                 &req, NULL, NULL, arena, err);
	} else {
		struct br_content_ref_req req = {.ref = p->name};
		rc = br_rpc_call(svc->content, &opts, "content.abort", &br_content_ref_req_schema,
		                 &req, NULL, NULL, arena, err);
	}
	br_arena_free(arena);
	if (rc < 0 && err->code != BR_NOT_FOUND)
		return -1;
	pthread_mutex_lock(&svc->journal_lock);
	rc = imaged_store_pending_remove(svc->journal_db, p->kind, p->ns, p->name, err);
	pthread_mutex_unlock(&svc->journal_lock);
	return rc;
}

static void *
reconcile_main(void *arg)
{
	struct imaged_service *svc = arg;
	size_t done = 0, removed = 0;

	while (done < svc->n_leftovers && !atomic_load(&svc->reconcile_stop)) {
		br_err err = BR_ERR_INIT;
		const struct imaged_pending *p = &svc->leftovers[done];
		if (clean_leftover(svc, p, &err) == 0) {
			done++;
			removed++;
			continue;
		}
		if (err.code != BR_UNAVAILABLE && err.code != BR_DEADLINE_EXCEEDED) {
			/* e.g. a snapshot someone else now uses: leave it, forget nothing */
			br_log_warn("IMAGE-RECONCILE", "clean up %s \"%s\" (namespace %s): %s",
			            p->kind, p->name, p->ns, err.msg);
			done++;
			continue;
		}
		/* a peer is not up yet: try again soon */
		for (int i = 0; i < RECONCILE_RETRY_MS / 50 && !atomic_load(&svc->reconcile_stop);
		     i++)
			usleep(50 * 1000);
	}
	if (removed > 0)
		br_log_notice(
		        "IMAGE-RECONCILE",
		        "cleaned up %zu extract snapshots and ingests left by interrupted jobs",
		        removed);
	return NULL;
}

void
imaged_reconcile_start(struct imaged_service *svc)
{
	if (svc->n_leftovers == 0)
		return;
	if (pthread_create(&svc->reconcile_thread, NULL, reconcile_main, svc) == 0)
		svc->reconcile_running = true;
	else
		br_log_warn("IMAGE-RECONCILE", "cannot start the cleanup of interrupted jobs");
}

void
imaged_service_on_stop(void *data)
{
	struct imaged_service *svc = data;

	atomic_store(&svc->reconcile_stop, true);
	imaged_jobs_stop(svc);
}

void
imaged_service_shutdown(struct imaged_service *svc)
{
	atomic_store(&svc->reconcile_stop, true);
	svc->stopping = true;
	imaged_jobs_join(svc);
	if (svc->reconcile_running) {
		pthread_join(svc->reconcile_thread, NULL);
		svc->reconcile_running = false;
	}
	while (svc->inflight > 0)
		uv_run(svc->uv, UV_RUN_ONCE);
	br_rpc_client_free(svc->content);
	br_rpc_client_free(svc->snapshots);
	svc->content = svc->snapshots = NULL;
}

void
imaged_service_fini(struct imaged_service *svc)
{
	imaged_jobs_free(svc);
	for (size_t i = 0; i < IMAGED_CONFIG_CACHE; i++)
		br_oci_config_free(svc->configs[i].config);
	imaged_pending_free(svc->leftovers, svc->n_leftovers);
	br_db_close(svc->db);
	br_db_close(svc->journal_db);
	pthread_mutex_destroy(&svc->journal_lock);
}
