/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The RPC methods of berth-imaged and the service's life cycle.
 *
 * images.pull, images.import and images.push check their parameters and start a job;
 * images.list, get, tag and remove answer from the database on the loop thread (remove queues the
 * deletion of the image's leases with the record's, so the stores free its bytes); images.resolve
 * reads the image's config from contentd on a libuv worker (it is cached afterwards). At start the
 * image leases in the stores are reconciled with the records in the background, without holding up
 * the start; what jobs of an earlier run wrote is held by their leases until they expire.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/db.h"
#include "common/events.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/proto/content.h"
#include "common/proto/snapshots.h"
#include "common/ref.h"
#include "common/xalloc.h"
#include "imaged/imaged.h"

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
	imaged_creds_set(&a->creds, &req->auth);
	if (imaged_job_start_flow(data, br_call_ns(call), "pull", imaged_pull_start, a,
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
handle_push(br_call *call, void *data)
{
	const struct br_image_push_req *req = br_call_params(call);
	struct imaged_job *job;
	br_err err = BR_ERR_INIT;

	_cleanup_free_ char *name = normalize(call, req->name);
	if (name == NULL || !platform_ok(call, req->platform))
		return;
	char *dest = NULL;
	if (req->dest != NULL && req->dest[0] != '\0' &&
	    (dest = normalize(call, req->dest)) == NULL)
		return;
	struct imaged_push_arg *a = xnew(struct imaged_push_arg);
	a->name = xstrdup(name);
	a->dest = dest != NULL ? dest : xstrdup(name);
	a->platform = req->platform ? xstrdup(req->platform) : NULL;
	imaged_creds_set(&a->creds, &req->auth);
	if (imaged_job_start(data, br_call_ns(call), "push", imaged_push_run, a,
	                     imaged_push_arg_free, &job, &err) < 0) {
		br_err_wrap(&err, "push %s", name);
		br_call_fail(call, &err);
		return;
	}
	reply_job(call, job);
}

static void
handle_tag(br_call *call, void *data)
{
	struct imaged_service *svc = data;
	const struct br_image_tag_req *req = br_call_params(call);
	struct br_image img;
	br_err err = BR_ERR_INIT;

	_cleanup_free_ char *source = normalize(call, req->source);
	if (source == NULL)
		return;
	_cleanup_free_ char *target = normalize(call, req->target);
	if (target == NULL)
		return;
	if (imaged_tag_image(svc, br_call_ns(call), source, target, br_call_arena(call), &img,
	                     &err) < 0) {
		br_call_fail(call, &err);
		return;
	}
	br_log_info("IMAGE-TAG", "image %s tagged %s in namespace %s", source, target,
	            br_call_ns(call));
	br_call_reply(call, &br_image_schema, &img);
}

static void
handle_list(br_call *call, void *data)
{
	struct imaged_service *svc = data;
	const struct br_image_list_req *req = br_call_params(call);
	struct br_image_list_resp resp = {0};
	br_err err = BR_ERR_INIT;

	if (imaged_store_list_images(svc->db, br_call_ns(call), &req->page, br_call_arena(call),
	                             &resp, &err) < 0) {
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

/* images.remove answers once the stores have dropped the image's leases (so that a
 * collection right after sees it), or after a few seconds when a store is down: the record is
 * gone either way, and the outbox keeps trying. */
#define REMOVE_WAIT_MS 5000
#define IMAGED_DRAIN_MS 3000 /* a stop waits this long for calls in flight to the stores */

static void
removed(void *arg, bool delivered)
{
	br_call_reply(arg, NULL, NULL);
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
	if (imaged_remove_image(svc, br_call_ns(call), name, &err) < 0) {
		br_call_fail(call, &err);
		return;
	}
	br_log_info("IMAGE-REMOVE", "image %s removed from namespace %s", name, br_call_ns(call));
	br_outbox_wait(svc->outbox, REMOVE_WAIT_MS, removed, call);
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
	        .snapshot = img->snapshot,
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

	r->rc = imaged_blob_get(r->svc, r->img.config_digest, BR_OCI_MAX_DOC, &buf, &len, &r->err);
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

/* ------------------------------------------------------------------ images.login */

struct login {
	uv_work_t work;
	struct imaged_service *svc;
	br_call *call;
	struct br_registry_auth auth; /* strings in the call's arena */
	const char *registry;
	br_err err;
	int rc;
};

static void
login_work(uv_work_t *work)
{
	struct login *l = work->data;

	l->rc = imaged_registry_login(l->svc->cfg, l->registry, &l->auth, NULL, &l->err);
}

static void
login_done(uv_work_t *work, int status)
{
	struct login *l = work->data;

	l->svc->inflight--;
	if (status == UV_ECANCELED)
		br_call_failf(l->call, BR_UNAVAILABLE, "berth-imaged is stopping");
	else if (l->rc < 0)
		br_call_fail(l->call, &l->err);
	else
		br_call_reply(l->call, NULL, NULL);
	free(l);
}

/* Check credentials with a registry: a GET /v2/ on a worker, as it blocks. */
static void
handle_login(br_call *call, void *data)
{
	struct imaged_service *svc = data;
	const struct br_image_login_req *req = br_call_params(call);

	if (!br_ref_domain_valid(req->registry)) {
		br_call_failf(call, BR_INVALID_ARGUMENT,
		              "login: \"%s\" is not a registry host (host or host:port)",
		              BR_ERR_QUOTE(req->registry));
		return;
	}
	if (req->auth.username != NULL && strchr(req->auth.username, ':') != NULL) {
		br_call_failf(call, BR_INVALID_ARGUMENT, "login: a user name holds no ':'");
		return;
	}
	struct login *l = xnew(struct login);
	l->svc = svc;
	l->call = call;
	l->registry = req->registry;
	l->auth = req->auth;
	l->work.data = l;
	svc->inflight++;
	uv_queue_work(svc->uv, &l->work, login_work, login_done);
}

const struct br_method imaged_methods[] = {
        {"images.pull", &br_image_pull_req_schema, handle_pull},
        {"images.import", &br_image_import_req_schema, handle_import},
        {"images.push", &br_image_push_req_schema, handle_push},
        {"images.tag", &br_image_tag_req_schema, handle_tag},
        {"images.list", &br_image_list_req_schema, handle_list},
        {"images.get", &br_image_name_req_schema, handle_get},
        {"images.remove", &br_image_name_req_schema, handle_remove},
        {"images.resolve", &br_image_name_req_schema, handle_resolve},
        {"images.login", &br_image_login_req_schema, handle_login},
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
	br_msg_pack_str(pk, "outbox");
	msgpack_pack_int64(pk, br_outbox_pending(svc->outbox));
	*ret_extra_pairs = 2;
}

int
imaged_ns_usage(void *data, const char *ns, br_arena *arena, struct br_strlist *ret, br_err *err)
{
	struct imaged_service *svc = data;
	const char **v = br_arena_alloc(arena, 2 * sizeof(*v));
	int64_t images = 0, jobs = 0;

	if (imaged_store_count_images(svc->db, ns, &images, err) < 0)
		return -1;
	for (struct imaged_job *job = svc->jobs; job != NULL; job = job->next)
		jobs += strcmp(job->ns, ns) == 0 && strcmp(job->state, "running") == 0;
	ret->n = 0;
	if (images > 0)
		v[ret->n++] = br_arena_printf(arena, "%lld image%s", (long long)images,
		                              images == 1 ? "" : "s");
	if (jobs > 0)
		v[ret->n++] = br_arena_printf(arena, "%lld running job%s", (long long)jobs,
		                              jobs == 1 ? "" : "s");
	ret->v = v;
	return 0;
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
	pthread_mutex_init(&svc->blob_lock, NULL);
	pthread_cond_init(&svc->blob_cond, NULL);
	if (imaged_store_open(path, &svc->db, err) < 0)
		return -1;
	_cleanup_free_ char *content_url = br_config_socket_url(cfg, "contentd");
	_cleanup_free_ char *snapshots_url = br_config_socket_url(cfg, "snapshotd");
	_cleanup_free_ char *gateway_url = br_config_socket_url(cfg, "gatewayd");
	if (br_rpc_client_new(content_url, "berth-contentd", &svc->content, err) < 0 ||
	    br_rpc_client_new(snapshots_url, "berth-snapshotd", &svc->snapshots, err) < 0 ||
	    br_rpc_client_new(gateway_url, "berth-gatewayd", &svc->gateway, err) < 0)
		return -1;
	const struct br_outbox_peer peers[] = {
	        {"contentd", svc->content},
	        {"snapshotd", svc->snapshots},
	        {BR_EVENTS_TARGET, svc->gateway, .events = true},
	};
	svc->outbox = br_outbox_new(loop, svc->db, "imaged", peers, 3);
	svc->owner = (struct br_lease_owner){
	        .owner = "imaged",
	        .loop = loop,
	        .db = svc->db,
	        .outbox = svc->outbox,
	        .stores = {{"contentd", "content", svc->content},
	                   {"snapshotd", "snapshots", svc->snapshots}},
	        .n_stores = 2,
	};
	return 0;
}

void
imaged_reconcile_start(struct imaged_service *svc)
{
	imaged_backfill_start(svc);
	br_lease_owner_reconcile(&svc->owner);
	imaged_jobs_renew_start(svc);
}

static void
renew_timer_closed(uv_handle_t *h)
{
}

void
imaged_service_on_stop(void *data)
{
	struct imaged_service *svc = data;

	uv_timer_stop(&svc->renew_timer);
	uv_close((uv_handle_t *)&svc->renew_timer, renew_timer_closed);
	br_lease_owner_fini(&svc->owner);
	imaged_backfill_stop(svc);
	imaged_streams_stop(svc);
	imaged_jobs_stop(svc);
}

void
imaged_service_shutdown(struct imaged_service *svc)
{
	svc->stopping = true;
	imaged_backfill_stop(svc);
	imaged_jobs_join(svc);
	while (svc->inflight > 0)
		uv_run(svc->uv, UV_RUN_ONCE);
	br_lease_owner_fini(&svc->owner);
	br_outbox_free(svc->outbox);
	svc->outbox = NULL;
	/* Let the async calls in flight (outbox, renewals, reconciliation) end before the
	 * sockets close. */
	br_rpc_client *clients[] = {svc->content, svc->snapshots, svc->gateway};
	br_rpc_clients_drain(svc->uv, clients, 3, IMAGED_DRAIN_MS);
	br_rpc_client_free(svc->content);
	br_rpc_client_free(svc->snapshots);
	br_rpc_client_free(svc->gateway);
	svc->content = svc->snapshots = svc->gateway = NULL;
}

void
imaged_service_fini(struct imaged_service *svc)
{
	imaged_jobs_free(svc);
	for (size_t i = 0; i < IMAGED_CONFIG_CACHE; i++)
		br_oci_config_free(svc->configs[i].config);
	br_db_close(svc->db);
	pthread_cond_destroy(&svc->blob_cond);
	pthread_mutex_destroy(&svc->blob_lock);
}

/* ------------------------------------------------------------------ metrics */

void
imaged_metrics(void *data, struct br_metrics *m)
{
	struct imaged_service *svc = data;
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	br_err err = BR_ERR_INIT;

	if (br_db_prepare(svc->db, "SELECT COUNT(*) FROM images", &st, &err) == 0 &&
	    sqlite3_step(st) == SQLITE_ROW)
		br_metrics_gauge(m, "berth_images", "Image records, all namespaces together.", NULL,
		                 (double)sqlite3_column_int64(st, 0), NULL);
	br_metrics_gauge(m, "berth_image_jobs_running", "Pull and import jobs running.", NULL,
	                 (double)svc->n_running, NULL);
	br_metrics_counter(m, "berth_image_pulls_total", "Pull jobs started.", NULL,
	                   (double)svc->pulls_started, NULL);
	br_metrics_counter(m, "berth_image_pull_failures_total",
	                   "Pull jobs that failed (canceled ones aside).", NULL,
	                   (double)svc->pulls_failed, NULL);
	br_metrics_counter(m, "berth_image_pull_bytes_total",
	                   "Bytes of response bodies received from registries.", NULL,
	                   (double)imaged_registry_bytes_received(), NULL);
}
