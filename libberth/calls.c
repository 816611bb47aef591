/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libberth's typed helpers: the calls a node agent needs most, decoded with the suite's own
 * schemas (common/proto/) and handed out as plain public structs the caller frees with one
 * function each. Every helper is a thin layer over libberth_call_schema(); what needs more than
 * one call (a pull is a job to follow, a run is a create and a start, a wait may outlast a
 * restart of taskd) is spelled out here and documented in berth.h.
 */
#include "libberth/internal.h"

#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/proto/gateway.h"
#include "common/proto/images.h"
#include "common/proto/tasks.h"
#include "common/xalloc.h"

#define JOB_WAIT_MS 1000       /* one jobs.wait */
#define TASK_WAIT_MAX_MS 30000 /* one tasks.wait */
#define CALL_MARGIN_MS 10000   /* a waiting call's deadline beyond its wait */
#define RETRY_PAUSE_MS 250     /* between tasks.wait calls while taskd is away */

/* Report a suite error through the public one; returns -1. */
static int
fail(berth_error *err, const br_err *e)
{
	libberth_error_from_br(err, e);
	return -1;
}

static int64_t
monotonic_ms(void)
{
	return br_now_ms();
}

static void
sleep_ms(int64_t ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};

	while (nanosleep(&ts, &ts) < 0)
		;
}

/* ------------------------------------------------------------------ gateway, namespaces */

int
berth_gateway_info_get(berth_client *c, berth_gateway_info **ret, berth_error *err)
{
	_cleanup_(br_arena_freep) br_arena *arena = br_arena_new();
	struct br_gateway_info wire;
	br_err e = BR_ERR_INIT;

	if (libberth_call_schema(c, NULL, "gateway.info", NULL, NULL, &br_gateway_info_schema,
	                         &wire, arena, &e) < 0)
		return fail(err, &e);
	berth_gateway_info *info = xnew(berth_gateway_info);
	info->version = libberth_strdup(wire.version);
	info->pid = wire.pid;
	info->uptime_ms = wire.uptime_ms;
	info->n_components = wire.components.n;
	info->components =
	        xcalloc(wire.components.n ? wire.components.n : 1, sizeof(*info->components));
	const struct br_component *comps = wire.components.v;
	for (size_t i = 0; i < wire.components.n; i++) {
		berth_component *to = &info->components[i];
		to->name = libberth_strdup(comps[i].name);
		to->healthy = comps[i].healthy;
		to->version = libberth_strdup(comps[i].version);
		to->pid = comps[i].pid;
		to->uptime_ms = comps[i].uptime_ms;
		to->error = libberth_strdup(comps[i].error);
	}
	*ret = info;
	return 0;
}

void
berth_gateway_info_free(berth_gateway_info *info)
{
	if (info == NULL)
		return;
	for (size_t i = 0; i < info->n_components; i++) {
		free(info->components[i].name);
		free(info->components[i].version);
		free(info->components[i].error);
	}
	free(info->components);
	free(info->version);
	free(info);
}

int
berth_namespaces_list(berth_client *c, berth_namespace_list **ret, berth_error *err)
{
	_cleanup_(br_arena_freep) br_arena *arena = br_arena_new();
	struct br_namespace_list_req req = {0};
	struct br_namespace_list_resp resp;
	struct br_objlist all;
	br_err e = BR_ERR_INIT;

	if (libberth_list_all(c, NULL, "namespaces.list", &br_namespace_list_req_schema, &req,
	                      &req.page, &br_namespace_list_resp_schema, &resp, &resp.items,
	                      &resp.next_page_token, sizeof(struct br_namespace), arena, &all,
	                      &e) < 0)
		return fail(err, &e);
	berth_namespace_list *list = xnew(berth_namespace_list);
	list->items = xcalloc(all.n ? all.n : 1, sizeof(*list->items));
	list->n = all.n;
	const struct br_namespace *v = all.v;
	for (size_t i = 0; i < all.n; i++) {
		list->items[i].name = libberth_strdup(v[i].name);
		list->items[i].created_at = v[i].created_at;
	}
	*ret = list;
	return 0;
}

void
berth_namespace_list_free(berth_namespace_list *list)
{
	if (list == NULL)
		return;
	for (size_t i = 0; i < list->n; i++)
		free(list->items[i].name);
	free(list->items);
	free(list);
}

/* ------------------------------------------------------------------ images */

int
berth_images_list(berth_client *c, const char *ns, berth_image_list **ret, berth_error *err)
{
	_cleanup_(br_arena_freep) br_arena *arena = br_arena_new();
	berth_call_options opts = {.ns = ns};
	struct br_image_list_req req = {0};
	struct br_image_list_resp resp;
	struct br_objlist all;
	br_err e = BR_ERR_INIT;

	if (libberth_list_all(c, &opts, "images.list", &br_image_list_req_schema, &req, &req.page,
	                      &br_image_list_resp_schema, &resp, &resp.items, &resp.next_page_token,
	                      sizeof(struct br_image), arena, &all, &e) < 0)
		return fail(err, &e);
	berth_image_list *list = xnew(berth_image_list);
	list->items = xcalloc(all.n ? all.n : 1, sizeof(*list->items));
	list->n = all.n;
	const struct br_image *v = all.v;
	for (size_t i = 0; i < all.n; i++) {
		berth_image *to = &list->items[i];
		to->name = libberth_strdup(v[i].name);
		to->digest = libberth_strdup(v[i].target.digest);
		to->platform = libberth_strdup(v[i].platform);
		to->size = v[i].size;
		to->created_at = v[i].created_at;
		to->updated_at = v[i].updated_at;
	}
	*ret = list;
	return 0;
}

void
berth_image_list_free(berth_image_list *list)
{
	if (list == NULL)
		return;
	for (size_t i = 0; i < list->n; i++) {
		free(list->items[i].name);
		free(list->items[i].digest);
		free(list->items[i].platform);
	}
	free(list->items);
	free(list);
}

/* Cancel job `id` after its caller gave up on it; what the cancel says is not the news. */
static void
cancel_job(berth_client *c, const berth_call_options *opts, const char *id)
{
	struct br_job_ref ref = {.id = id};
	br_err ignored = BR_ERR_INIT;

	libberth_call_schema(c, opts, "jobs.cancel", &br_job_ref_schema, &ref, NULL, NULL, NULL,
	                     &ignored);
}

/* Follow job `id` (a pull or a push) to its end; its result in *ret_name (may be NULL). */
static int
follow_pull(berth_client *c, const berth_call_options *opts, const char *id, int64_t until,
            char **ret_name, br_err *err)
{
	for (;;) {
		_cleanup_(br_arena_freep) br_arena *arena = br_arena_new();
		int64_t wait = JOB_WAIT_MS;
		if (until > 0) {
			int64_t left = until - monotonic_ms();
			if (left <= 0) {
				cancel_job(c, opts, id);
				return br_err_set(err, BR_DEADLINE_EXCEEDED,
				                  "deadline exceeded: job %s canceled", id);
			}
			if (left < wait)
				wait = left;
		}
		struct br_job_wait_req req = {.id = id, .timeout_ms = wait};
		berth_call_options wait_opts = *opts;
		wait_opts.timeout_ms = wait + CALL_MARGIN_MS;
		struct br_job job;
		if (libberth_call_schema(c, &wait_opts, "jobs.wait", &br_job_wait_req_schema, &req,
		                         &br_job_schema, &job, arena, err) < 0)
			return -1;
		const char *state = job.state ? job.state : "";
		if (strcmp(state, "running") == 0)
			continue;
		if (strcmp(state, "done") == 0) {
			if (ret_name != NULL)
				*ret_name = xstrdup(job.result ? job.result : "");
			return 0;
		}
		if (strcmp(state, "canceled") == 0)
			return br_err_set(err, BR_CANCELED, "canceled");
		const char *code = job.error_code ? job.error_code : "INTERNAL";
		br_code bc = br_code_from_name(code, strlen(code));
		return br_err_set(err, bc == BR_OK ? BR_INTERNAL : bc, "%s",
		                  job.error_msg && job.error_msg[0] ? job.error_msg : code);
	}
}

int
berth_image_pull(berth_client *c, const char *ns, const char *ref, const char *platform,
                 int64_t timeout_ms, char **ret_name, berth_error *err)
{
	return berth_image_pull_auth(c, ns, ref, platform, NULL, timeout_ms, ret_name, err);
}

int
berth_image_pull_auth(berth_client *c, const char *ns, const char *ref, const char *platform,
                      const berth_registry_auth *auth, int64_t timeout_ms, char **ret_name,
                      berth_error *err)
{
	_cleanup_(br_arena_freep) br_arena *arena = br_arena_new();
	berth_call_options opts = {.ns = ns};
	struct br_image_pull_req req = {.ref = ref, .platform = platform};
	struct br_job_ref job;
	br_err e = BR_ERR_INIT;

	if (ref == NULL || timeout_ms == 0)
		return libberth_error_set(err, BERTH_INVALID_ARGUMENT,
		                          "berth_image_pull: needs a reference and a timeout");
	if (auth != NULL)
		req.auth = (struct br_registry_auth){auth->username, auth->password,
		                                     auth->identity_token};
	int64_t until = timeout_ms > 0 ? monotonic_ms() + timeout_ms : 0;
	if (libberth_call_schema(c, &opts, "images.pull", &br_image_pull_req_schema, &req,
	                         &br_job_ref_schema, &job, arena, &e) < 0 ||
	    follow_pull(c, &opts, job.id, until, ret_name, &e) < 0) {
		/* imaged may already name the operation: do not say it twice */
		_cleanup_free_ char *what = xasprintf("pull %s", BR_ERR_QUOTE(ref));
		size_t n = strlen(what);
		if (strncmp(e.msg, what, n) != 0 || e.msg[n] != ':')
			br_err_wrap(&e, "%s", what);
		return fail(err, &e);
	}
	return 0;
}

int
berth_image_push(berth_client *c, const char *ns, const char *name, const char *dest,
                 const char *platform, const berth_registry_auth *auth, int64_t timeout_ms,
                 char **ret_result, berth_error *err)
{
	_cleanup_(br_arena_freep) br_arena *arena = br_arena_new();
	berth_call_options opts = {.ns = ns};
	struct br_image_push_req req = {.name = name, .dest = dest, .platform = platform};
	if (auth != NULL)
		req.auth = (struct br_registry_auth){auth->username, auth->password,
		                                     auth->identity_token};
	struct br_job_ref job;
	br_err e = BR_ERR_INIT;

	if (name == NULL || timeout_ms == 0)
		return libberth_error_set(err, BERTH_INVALID_ARGUMENT,
		                          "berth_image_push: needs an image name and a timeout");
	int64_t until = timeout_ms > 0 ? monotonic_ms() + timeout_ms : 0;
	if (libberth_call_schema(c, &opts, "images.push", &br_image_push_req_schema, &req,
	                         &br_job_ref_schema, &job, arena, &e) < 0 ||
	    follow_pull(c, &opts, job.id, until, ret_result, &e) < 0) {
		/* imaged names the operation already ("push NAME: ..." or "push NAME to ...") */
		_cleanup_free_ char *what = xasprintf("push %s", BR_ERR_QUOTE(name));
		if (strncmp(e.msg, "push ", 5) != 0)
			br_err_wrap(&e, "%s", what);
		return fail(err, &e);
	}
	return 0;
}

int
berth_image_tag(berth_client *c, const char *ns, const char *source, const char *target,
                berth_error *err)
{
	_cleanup_(br_arena_freep) br_arena *arena = br_arena_new();
	berth_call_options opts = {.ns = ns};
	struct br_image_tag_req req = {.source = source, .target = target};
	br_err e = BR_ERR_INIT;

	if (source == NULL || target == NULL)
		return libberth_error_set(err, BERTH_INVALID_ARGUMENT,
		                          "berth_image_tag: needs a source and a target");
	if (libberth_call_schema(c, &opts, "images.tag", &br_image_tag_req_schema, &req, NULL, NULL,
	                         arena, &e) < 0) {
		br_err_wrap(&e, "tag %s %s", BR_ERR_QUOTE(source), BR_ERR_QUOTE(target));
		return fail(err, &e);
	}
	return 0;
}

/* ------------------------------------------------------------------ jobs */

int
berth_image_pull_start(berth_client *c, const char *ns, const char *ref, const char *platform,
                       char **ret_job_id, berth_error *err)
{
	_cleanup_(br_arena_freep) br_arena *arena = br_arena_new();
	berth_call_options opts = {.ns = ns};
	struct br_image_pull_req req = {.ref = ref, .platform = platform};
	struct br_job_ref job;
	br_err e = BR_ERR_INIT;

	if (ref == NULL || ret_job_id == NULL)
		return libberth_error_set(err, BERTH_INVALID_ARGUMENT,
		                          "berth_image_pull_start: needs a reference");
	if (libberth_call_schema(c, &opts, "images.pull", &br_image_pull_req_schema, &req,
	                         &br_job_ref_schema, &job, arena, &e) < 0) {
		br_err_wrap(&e, "pull %s", BR_ERR_QUOTE(ref));
		return fail(err, &e);
	}
	*ret_job_id = xstrdup(job.id ? job.id : "");
	return 0;
}

int
berth_job_wait(berth_client *c, const char *ns, const char *id, uint64_t since_version,
               int64_t interval_ms, int64_t timeout_ms, berth_job **ret, berth_error *err)
{
	_cleanup_(br_arena_freep) br_arena *arena = br_arena_new();
	berth_call_options opts = {.ns = ns};
	struct br_job_wait_req req = {
	        .id = id,
	        .timeout_ms = timeout_ms > 0 ? timeout_ms : 0,
	        .since_version = since_version,
	        .interval_ms = interval_ms > 0 ? interval_ms : 0,
	};
	struct br_job wire;
	br_err e = BR_ERR_INIT;

	if (id == NULL || ret == NULL)
		return libberth_error_set(err, BERTH_INVALID_ARGUMENT,
		                          "berth_job_wait: needs a job id");
	opts.timeout_ms = req.timeout_ms + CALL_MARGIN_MS;
	if (libberth_call_schema(c, &opts, "jobs.wait", &br_job_wait_req_schema, &req,
	                         &br_job_schema, &wire, arena, &e) < 0)
		return fail(err, &e);
	berth_job *job = xnew(berth_job);
	job->id = libberth_strdup(wire.id);
	job->kind = libberth_strdup(wire.kind);
	job->state = libberth_strdup(wire.state);
	job->message = libberth_strdup(wire.message);
	job->done_bytes = wire.done_bytes;
	job->total_bytes = wire.total_bytes;
	job->error_code = libberth_strdup(wire.error_code);
	job->error_message = libberth_strdup(wire.error_msg);
	job->result = libberth_strdup(wire.result);
	job->started_at = wire.started_at;
	job->ended_at = wire.ended_at;
	job->progress_version = wire.progress_version;
	job->updated_at = wire.updated_at;
	job->n_layers = wire.layers.n;
	job->layers = xcalloc(wire.layers.n ? wire.layers.n : 1, sizeof(*job->layers));
	const struct br_job_item *items = wire.layers.v;
	for (size_t i = 0; i < wire.layers.n; i++) {
		job->layers[i].digest = libberth_strdup(items[i].digest);
		job->layers[i].size = items[i].size;
		job->layers[i].done = items[i].done;
		job->layers[i].state = libberth_strdup(items[i].state);
	}
	*ret = job;
	return 0;
}

void
berth_job_free(berth_job *job)
{
	if (job == NULL)
		return;
	for (size_t i = 0; i < job->n_layers; i++) {
		free(job->layers[i].digest);
		free(job->layers[i].state);
	}
	free(job->layers);
	free(job->id);
	free(job->kind);
	free(job->state);
	free(job->message);
	free(job->error_code);
	free(job->error_message);
	free(job->result);
	free(job);
}

int
berth_job_cancel(berth_client *c, const char *ns, const char *id, berth_error *err)
{
	berth_call_options opts = {.ns = ns};
	struct br_job_ref ref = {.id = id};
	br_err e = BR_ERR_INIT;

	if (id == NULL)
		return libberth_error_set(err, BERTH_INVALID_ARGUMENT,
		                          "berth_job_cancel: needs a job id");
	if (libberth_call_schema(c, &opts, "jobs.cancel", &br_job_ref_schema, &ref, NULL, NULL,
	                         NULL, &e) < 0)
		return fail(err, &e);
	return 0;
}

/* ------------------------------------------------------------------ containers and tasks */

int
berth_containers_list(berth_client *c, const char *ns, berth_container_list **ret, berth_error *err)
{
	_cleanup_(br_arena_freep) br_arena *arena = br_arena_new();
	berth_call_options opts = {.ns = ns};
	struct br_container_list_req req = {0};
	struct br_container_list_resp resp;
	struct br_objlist all;
	br_err e = BR_ERR_INIT;

	if (libberth_list_all(c, &opts, "containers.list", &br_container_list_req_schema, &req,
	                      &req.page, &br_container_list_resp_schema, &resp, &resp.items,
	                      &resp.next_page_token, sizeof(struct br_container), arena, &all,
	                      &e) < 0)
		return fail(err, &e);
	berth_container_list *list = xnew(berth_container_list);
	list->items = xcalloc(all.n ? all.n : 1, sizeof(*list->items));
	list->n = all.n;
	const struct br_container *v = all.v;
	for (size_t i = 0; i < all.n; i++) {
		berth_container *to = &list->items[i];
		to->id = libberth_strdup(v[i].id);
		to->image = libberth_strdup(v[i].image);
		to->runtime = libberth_strdup(v[i].runtime);
		to->status = libberth_strdup(v[i].status);
		to->pid = v[i].pid;
		to->exit_status = v[i].exit_status;
		to->created_at = v[i].created_at;
		to->n_command = v[i].command.n;
		to->command = xcalloc(v[i].command.n + 1, sizeof(char *));
		for (size_t j = 0; j < v[i].command.n; j++)
			to->command[j] = xstrdup(v[i].command.v[j]);
	}
	*ret = list;
	return 0;
}

void
berth_container_list_free(berth_container_list *list)
{
	if (list == NULL)
		return;
	for (size_t i = 0; i < list->n; i++) {
		berth_container *it = &list->items[i];
		free(it->id);
		free(it->image);
		free(it->runtime);
		free(it->status);
		for (size_t j = 0; j < it->n_command; j++)
			free(it->command[j]);
		free(it->command);
	}
	free(list->items);
	free(list);
}

void
libberth_request_id(char out[33])
{
	static const char hex[] = "0123456789abcdef";
	uint8_t rnd[16] = {0};

	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		int64_t mix = (int64_t)ts.tv_nsec ^ ((int64_t)ts.tv_sec << 20) ^ getpid();
		memcpy(rnd, &mix, sizeof(mix));
	}
	for (size_t i = 0; i < sizeof(rnd); i++) {
		out[2 * i] = hex[rnd[i] >> 4];
		out[2 * i + 1] = hex[rnd[i] & 15];
	}
	out[32] = '\0';
}

static bool transient(br_code code);

int
libberth_call_retrying(berth_client *c, const berth_call_options *opts, const char *method,
                       const struct br_schema *ps, const void *params, const struct br_schema *rs,
                       void *ret, br_arena *arena, br_err *err)
{
	int64_t since = monotonic_ms();

	for (;;) {
		if (libberth_call_schema(c, opts, method, ps, params, rs, ret, arena, err) == 0)
			return 0;
		if (!transient(err->code) || monotonic_ms() - since >= LIBBERTH_RETRY_MS)
			return -1;
		br_err_clear(err);
		sleep_ms(RETRY_PAUSE_MS);
	}
}

int
berth_container_create(berth_client *c, const char *ns, const berth_run_options *o, char **ret_id,
                       berth_error *err)
{
	_cleanup_(br_arena_freep) br_arena *arena = br_arena_new();
	berth_call_options opts = {.ns = ns};
	struct br_container container;
	br_err e = BR_ERR_INIT;

	if (o == NULL || o->image == NULL)
		return libberth_error_set(err, BERTH_INVALID_ARGUMENT,
		                          "berth_container_create: needs an image");
	struct br_container_create_req req = {
	        .id = o->id,
	        .image = o->image,
	        .args = {(const char **)o->args, o->args ? o->n_args : 0},
	        .entrypoint = {(const char **)o->entrypoint, o->entrypoint ? o->n_entrypoint : 0},
	        .env = {(const char **)o->env, o->env ? o->n_env : 0},
	        .net = o->net,
	        .runtime = o->runtime,
	        .hostname = o->hostname,
	        .user = o->user,
	        .working_dir = o->working_dir,
	};
	char rid[33];
	libberth_request_id(rid);
	req.request_id = rid;
	if (libberth_call_retrying(c, &opts, "containers.create", &br_container_create_req_schema,
	                           &req, &br_container_schema, &container, arena, &e) < 0)
		return fail(err, &e);
	if (ret_id != NULL)
		*ret_id = xstrdup(container.id ? container.id : "");
	return 0;
}

int
berth_task_start(berth_client *c, const char *ns, const char *id, uint32_t *ret_pid,
                 berth_error *err)
{
	_cleanup_(br_arena_freep) br_arena *arena = br_arena_new();
	berth_call_options opts = {.ns = ns};
	char rid[33];
	libberth_request_id(rid);
	struct br_container_id_req req = {.id = id, .request_id = rid};
	struct br_task task;
	br_err e = BR_ERR_INIT;

	if (libberth_call_retrying(c, &opts, "tasks.start", &br_container_id_req_schema, &req,
	                           &br_task_schema, &task, arena, &e) < 0)
		return fail(err, &e);
	if (ret_pid != NULL)
		*ret_pid = task.pid;
	return 0;
}

int
berth_run(berth_client *c, const char *ns, const berth_run_options *opts, char **ret_id,
          berth_error *err)
{
	char *id = NULL;

	if (berth_container_create(c, ns, opts, &id, err) < 0)
		return -1;
	if (berth_task_start(c, ns, id, NULL, err) < 0) {
		berth_container_delete(c, ns, id, true, NULL);
		free(id);
		return -1;
	}
	if (ret_id != NULL)
		*ret_id = id;
	else
		free(id);
	return 0;
}

int
berth_task_kill(berth_client *c, const char *ns, const char *id, int signal, bool all,
                berth_error *err)
{
	berth_call_options opts = {.ns = ns};
	br_err e = BR_ERR_INIT;

	if (signal < 0)
		return libberth_error_set(err, BERTH_INVALID_ARGUMENT, "signal %d out of range",
		                          signal);
	struct br_task_kill_req req = {.id = id, .signal = (uint32_t)signal, .all = all};
	if (libberth_call_schema(c, &opts, "tasks.kill", &br_task_kill_req_schema, &req, NULL, NULL,
	                         NULL, &e) < 0)
		return fail(err, &e);
	return 0;
}

/* A transient failure: the gateway or taskd restarting. Waiting calls are asked again. */
static bool
transient(br_code code)
{
	return code == BR_UNAVAILABLE || code == BR_DEADLINE_EXCEEDED || code == BR_CANCELED;
}

int
berth_task_wait(berth_client *c, const char *ns, const char *id, int64_t timeout_ms,
                berth_task_exit *ret, berth_error *err)
{
	int64_t until = timeout_ms >= 0 ? monotonic_ms() + timeout_ms : 0;
	br_err e = BR_ERR_INIT;

	for (;;) {
		_cleanup_(br_arena_freep) br_arena *arena = br_arena_new();
		int64_t wait = TASK_WAIT_MAX_MS;
		if (timeout_ms >= 0) {
			int64_t left = until - monotonic_ms();
			if (left < 0)
				left = 0;
			if (left < wait)
				wait = left;
		}
		struct br_task_wait_req req = {.id = id, .timeout_ms = wait};
		berth_call_options opts = {.ns = ns, .timeout_ms = wait + CALL_MARGIN_MS};
		struct br_task task;
		if (libberth_call_schema(c, &opts, "tasks.wait", &br_task_wait_req_schema, &req,
		                         &br_task_schema, &task, arena, &e) < 0) {
			if (!transient(e.code) || (timeout_ms >= 0 && monotonic_ms() >= until))
				return fail(err, &e);
			sleep_ms(RETRY_PAUSE_MS);
			continue;
		}
		if (task.status != NULL && strcmp(task.status, "stopped") == 0) {
			if (ret != NULL)
				*ret = (berth_task_exit){.exit_status = task.exit_status,
				                         .exited_at = task.exited_at};
			return 0;
		}
		if (timeout_ms >= 0 && monotonic_ms() >= until)
			return libberth_error_set(
			        err, BERTH_DEADLINE_EXCEEDED,
			        "wait for container \"%s\": still running after %lld ms", id,
			        (long long)timeout_ms);
	}
}

int
berth_container_delete(berth_client *c, const char *ns, const char *id, bool force,
                       berth_error *err)
{
	berth_call_options opts = {.ns = ns};
	struct br_container_id_req req = {.id = id, .force = force};
	br_err e = BR_ERR_INIT;

	if (libberth_call_schema(c, &opts, "containers.delete", &br_container_id_req_schema, &req,
	                         NULL, NULL, NULL, &e) < 0)
		return fail(err, &e);
	return 0;
}
