/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Jobs: long operations (pull, import, push, export), followed with jobs.get / jobs.wait /
 * jobs.cancel. A pull is a flow on the loop (imaged_job_start_flow), the others still run on
 * threads of their own; this file also has the loop's tools for flows: calls to the stores
 * (imaged_call), blocking work on libuv's pool (imaged_work), and the calls workers hand to
 * the loop (struct imaged_bridge).
 *
 * A job's record lives on the loop thread. Its thread reports steps by posting them to the
 * loop (br_loop_post), byte counts through two atomic counters and its items (layers) under
 * a small lock of their own (see "Progress" below); cancellation is an atomic
 * flag the thread checks between chunks and while it waits on the network. When the work
 * returns, the thread posts its outcome and ends; the loop joins it, records the outcome and
 * answers the jobs.wait calls waiting for it. Finished jobs are remembered for an hour (at
 * most IMAGED_JOBS_KEPT of them); jobs do not survive a restart of the daemon.
 *
 * Each job first puts its lease "job-<id>" in contentd and snapshotd, expiring after
 * imaged.job_lease_ttl_ms; a timer on the loop renews the leases of running jobs every third
 * of that. A renewal never creates a lease again (must_exist): a job whose lease is found
 * gone (expired while a store was out of reach, or deleted) fails, since what it wrote may
 * have been collected. A job that stores its image hands over to the image's lease
 * (records.c); a canceled job's lease is deleted; a failed job's lease is left to expire,
 * keeping what the job wrote for a retry to continue from.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "common/cleanup.h"
#include "common/digest.h"
#include "common/random.h"
#include "common/db.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "imaged/imaged.h"

#define WAIT_MARGIN_MS 250 /* a wait answers this long before the caller's deadline */

/*
 * Progress. Every change of a job (a step, bytes, an item's state) bumps its
 * progress_version: on the loop for steps, on the job's threads for the rest, after the
 * change itself, so that a reply that read the version before copying the job carries
 * everything that version stands for. A jobs.wait with since_version or interval_ms is a
 * waiter with one timer: first it runs until interval_ms after the call came in; then the
 * waiter is armed, answered as soon as the version is above since_version, and its timer
 * runs on to the wait's end (timeout_ms). While any waiter of a job is armed, the job is
 * `watched`: a thread that changes it queues one wake-up on the loop (notify_pending keeps
 * it to one at a time), which answers the armed waiters. A thread never waits for the loop,
 * and without followers a change costs two atomic operations.
 */
struct imaged_job_item {
	char digest[BR_DIGEST_BUF];
	int64_t size;
	int64_t done;
	enum imaged_item_state state;
};

struct imaged_waiter {
	struct imaged_waiter *next;
	struct imaged_job *job;
	br_call *call;
	uv_timer_t timer;
	bool progress;  /* asked for since_version or interval_ms */
	bool armed;     /* its interval passed: answer on the first change after `since` */
	uint64_t since; /* the version the caller saw */
	int64_t end;    /* br_now_ms() at which it answers anyway */
};

struct step {
	struct imaged_job *job;
	char *message;
};

struct outcome {
	struct imaged_job *job;
	int rc;
	br_err err;
	char *result;
};

/* ------------------------------------------------------------------ job threads' side */

static void check_waiters(struct imaged_job *job);

static void
notify_on_loop(void *arg)
{
	struct imaged_job *job = arg;

	atomic_store(&job->notify_pending, false);
	check_waiters(job);
}

/* After a change of the job: a new version, and a wake-up for the waiters watching it. */
static void
changed(struct imaged_job *job)
{
	atomic_fetch_add(&job->progress_version, 1);
	atomic_store(&job->updated_at, br_db_now());
	if (atomic_load(&job->watched) && !atomic_exchange(&job->notify_pending, true))
		br_loop_post(job->svc->loop, notify_on_loop, job);
}

/* A change made on the loop: a new version, and the armed waiters answered. */
static void
changed_on_loop(struct imaged_job *job)
{
	atomic_fetch_add(&job->progress_version, 1);
	atomic_store(&job->updated_at, br_db_now());
	check_waiters(job);
}

static void
step_on_loop(void *arg)
{
	struct step *s = arg;

	if (strcmp(s->job->state, "running") == 0) {
		free(s->job->message);
		s->job->message = s->message;
		changed_on_loop(s->job);
	} else {
		free(s->message);
	}
	free(s);
}

void
imaged_job_step(struct imaged_job *job, const char *fmt, ...)
{
	struct step *s = xnew(struct step);
	char buf[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	s->job = job;
	s->message = xstrdup(buf);
	br_log_debug("IMAGE-JOB-STEP", "job %s: %s", job->id, buf);
	br_loop_post(job->svc->loop, step_on_loop, s);
}

void
imaged_job_progress(struct imaged_job *job, int64_t done, int64_t total)
{
	if (done != 0)
		atomic_fetch_add(&job->done_bytes, done);
	if (total != 0)
		atomic_fetch_add(&job->total_bytes, total);
	if (done != 0 || total != 0)
		changed(job);
}

const char *
imaged_item_state_name(enum imaged_item_state state)
{
	switch (state) {
	case IMAGED_ITEM_WAITING:
		return "waiting";
	case IMAGED_ITEM_DOWNLOADING:
		return "downloading";
	case IMAGED_ITEM_VERIFYING:
		return "verifying";
	case IMAGED_ITEM_UNPACKING:
		return "unpacking";
	case IMAGED_ITEM_DONE:
		return "done";
	case IMAGED_ITEM_EXISTS:
		return "exists";
	case IMAGED_ITEM_UPLOADING:
		return "uploading";
	case IMAGED_ITEM_WRITING:
		return "writing";
	}
	return "waiting";
}

void
imaged_job_items_init(struct imaged_job *job, size_t n)
{
	struct imaged_job_item *items = NULL;

	if (n > BR_JOB_ITEMS_MAX)
		n = BR_JOB_ITEMS_MAX;
	if (n > 0)
		items = xcalloc(n, sizeof(*items));
	pthread_mutex_lock(&job->progress_lock);
	struct imaged_job_item *old = job->items;
	job->items = items;
	job->n_items = n;
	pthread_mutex_unlock(&job->progress_lock);
	free(old);
	changed(job);
}

void
imaged_job_item_set(struct imaged_job *job, size_t i, const char *digest, int64_t size)
{
	pthread_mutex_lock(&job->progress_lock);
	bool listed = i < job->n_items;
	if (listed) {
		struct imaged_job_item *it = &job->items[i];
		snprintf(it->digest, sizeof(it->digest), "%s", digest ? digest : "");
		it->size = size;
		it->done = 0;
		it->state = IMAGED_ITEM_WAITING;
	}
	pthread_mutex_unlock(&job->progress_lock);
	if (listed)
		changed(job);
}

void
imaged_job_item_state(struct imaged_job *job, size_t i, enum imaged_item_state state)
{
	pthread_mutex_lock(&job->progress_lock);
	bool listed = i < job->n_items && job->items[i].state != state;
	if (listed) {
		job->items[i].state = state;
		if (state == IMAGED_ITEM_DONE || state == IMAGED_ITEM_EXISTS)
			job->items[i].done = job->items[i].size;
	}
	pthread_mutex_unlock(&job->progress_lock);
	if (listed)
		changed(job);
}

void
imaged_job_item_progress(struct imaged_job *job, size_t i, int64_t done)
{
	pthread_mutex_lock(&job->progress_lock);
	bool listed = i < job->n_items && done != 0;
	if (listed)
		job->items[i].done += done;
	pthread_mutex_unlock(&job->progress_lock);
	if (listed)
		changed(job);
}

bool
imaged_job_canceled(const struct imaged_job *job)
{
	return atomic_load(&job->cancel);
}

/* The put that creates or renews a job's lease: its ttl and labels, resources kept. */
static void
job_lease_put(const struct imaged_job *job, const char *keys[2], const char *values[2],
              struct br_lease_put_req *ret)
{
	keys[0] = BR_LEASE_LABEL_OWNER;
	values[0] = "imaged";
	keys[1] = "berth.job";
	values[1] = job->id;
	*ret = (struct br_lease_put_req){
	        .id = job->lease,
	        .ttl_ms = job->svc->cfg->imaged.job_lease_ttl_ms,
	        .labels = {keys, values, 2},
	};
}

static void outcome_on_loop(void *arg);

static void *
job_main(void *arg)
{
	struct imaged_job *job = arg;
	struct outcome *o = xnew(struct outcome);

	o->job = job;
	o->rc = job->fn(job, &o->result, &o->err);
	br_loop_post(job->svc->loop, outcome_on_loop, o);
	return NULL;
}

/* ------------------------------------------------------------------ lease renewal */

/* One renewal of a job's lease in one store. The job is looked up again by id when the
 * answer comes: it may have ended, and been forgotten, in the meantime. */
struct renewal {
	struct imaged_service *svc;
	br_arena *arena;
	const char *daemon; /* "berth-contentd", for messages */
	char job_id[IMAGED_JOB_ID_LEN + 1];
};

static struct imaged_job *
job_by_id(struct imaged_service *svc, const char *id)
{
	for (struct imaged_job *job = svc->jobs; job != NULL; job = job->next) {
		if (strcmp(job->id, id) == 0)
			return job;
	}
	return NULL;
}

/*
 * A store answered that the job's lease is gone: it expired (the store was out of reach for
 * longer than its ttl) or was deleted, so what it held may have been collected and the job
 * cannot go on. Its thread is stopped as by a cancel, and outcome_on_loop records this error,
 * set here, instead of the cancel: the job fails, and its lease in the other store is left to
 * expire like any failed job's.
 */
static void
lease_lost(struct imaged_job *job, const char *daemon, const br_err *err)
{
	br_log_warn("IMAGE-JOB-LEASE", "job %s: lease %s is gone from %s (%s): failing the job",
	            job->id, job->lease, daemon, err->msg);
	if (job->error.code == BR_OK)
		br_err_set(&job->error, BR_FAILED_PRECONDITION,
		           "%s: lease %s expired or was deleted in %s before it was renewed; what "
		           "the job wrote may have been collected",
		           job->kind, job->lease, daemon);
	atomic_store(&job->cancel, true);
	br_loop_post(job->svc->loop, imaged_claims_retry, job->svc); /* its waits end */
}

static void
renewed(void *data, const br_err *err, void *result)
{
	struct renewal *r = data;
	struct imaged_job *job = job_by_id(r->svc, r->job_id);

	(void)result;
	/* A job that ended or handed its lease over expects it gone. Other errors (a store that
	 * is down) are for the job's own calls to meet. */
	if (err != NULL && job != NULL && strcmp(job->state, "running") == 0 && !job->lease_ended) {
		if (err->code == BR_NOT_FOUND)
			lease_lost(job, r->daemon, err);
		else
			br_log_debug("IMAGE-JOB-LEASE", "job %s: renew in %s: %s", job->id,
			             r->daemon, err->msg);
	}
	br_arena_free(r->arena);
	free(r);
}

/* Renew the job's lease in one store: its ttl starts again, and a lease that is gone is not
 * created again (must_exist) but reported, failing the job (renewed). */
static void
renew(struct imaged_job *job, br_rpc_client *client, const char *service, const char *daemon)
{
	struct imaged_service *svc = job->svc;
	struct renewal *r = xnew(struct renewal);
	struct br_call_opts opts = {.ns = job->ns};
	struct br_lease_put_req put;

	r->svc = svc;
	r->arena = br_arena_new();
	r->daemon = daemon;
	memcpy(r->job_id, job->id, sizeof(r->job_id));
	const char **keys = br_arena_alloc(r->arena, 2 * sizeof(*keys));
	const char **values = br_arena_alloc(r->arena, 2 * sizeof(*values));
	job_lease_put(job, keys, values, &put);
	put.id = br_arena_strdup(r->arena, job->lease);
	values[1] = br_arena_strdup(r->arena, job->id);
	put.must_exist = true;
	br_rpc_call_async(client, svc->loop, &opts, br_lease_method(r->arena, service, "put"),
	                  &br_lease_put_req_schema, &put, NULL, r->arena, renewed, r);
}

static void
renew_fired(uv_timer_t *t)
{
	struct imaged_service *svc = t->data;

	for (struct imaged_job *job = svc->jobs; job != NULL; job = job->next) {
		if (strcmp(job->state, "running") != 0 || job->lease_ended ||
		    !atomic_load(&job->lease_held))
			continue;
		renew(job, svc->content, "content", "berth-contentd");
		renew(job, svc->snapshots, "snapshots", "berth-snapshotd");
	}
}

void
imaged_jobs_renew_start(struct imaged_service *svc)
{
	uint64_t every = (uint64_t)svc->cfg->imaged.job_lease_ttl_ms / 3;

	uv_timer_init(svc->uv, &svc->renew_timer);
	svc->renew_timer.data = svc;
	uv_timer_start(&svc->renew_timer, renew_fired, every, every);
}

/* ------------------------------------------------------------------ loop side */

/* Answer `call` with the job as it is now. Loop thread. */
static void
reply_job(br_call *call, struct imaged_job *job)
{
	struct br_job out = {0};

	out.id = job->id;
	out.kind = job->kind;
	out.state = job->state;
	out.message = job->message;
	/* The version first: what is copied after it is at least that new. */
	out.progress_version = atomic_load(&job->progress_version);
	out.updated_at = atomic_load(&job->updated_at);
	out.done_bytes = atomic_load(&job->done_bytes);
	out.total_bytes = atomic_load(&job->total_bytes);
	if (job->error.code != BR_OK) {
		out.error_code = br_code_name(job->error.code);
		out.error_msg = job->error.msg;
	}
	out.result = job->result;
	out.started_at = job->started_at;
	out.ended_at = job->ended_at;

	pthread_mutex_lock(&job->progress_lock);
	size_t n = job->n_items;
	struct imaged_job_item *copy = n > 0 ? xcalloc(n, sizeof(*copy)) : NULL;
	if (n > 0)
		memcpy(copy, job->items, n * sizeof(*copy));
	pthread_mutex_unlock(&job->progress_lock);
	struct br_job_item *items = n > 0 ? xcalloc(n, sizeof(*items)) : NULL;
	for (size_t i = 0; i < n; i++) {
		items[i] = (struct br_job_item){
		        .digest = copy[i].digest,
		        .size = copy[i].size,
		        .done = copy[i].done,
		        .state = imaged_item_state_name(copy[i].state),
		};
	}
	out.layers = (struct br_objlist){items, n};
	br_call_reply(call, &br_job_schema, &out);
	free(items);
	free(copy);
}

static void
waiter_closed(uv_handle_t *h)
{
	free(h->data);
}

/* Answer a waiter with the job as it is and drop it. */
static void
waiter_finish(struct imaged_waiter *w, const br_err *err)
{
	struct imaged_job *job = w->job;

	for (struct imaged_waiter **p = &job->waiters; *p != NULL; p = &(*p)->next) {
		if (*p == w) {
			*p = w->next;
			break;
		}
	}
	if (err != NULL)
		br_call_fail(w->call, err);
	else
		reply_job(w->call, job);
	uv_timer_stop(&w->timer);
	uv_close((uv_handle_t *)&w->timer, waiter_closed);
}

static void
waiter_timeout(uv_timer_t *t)
{
	struct imaged_waiter *w = t->data;
	struct imaged_job *job = w->job;

	waiter_finish(w, NULL);
	check_waiters(job); /* `watched` may end with it */
}

static bool
waiter_changed(const struct imaged_waiter *w)
{
	return atomic_load(&w->job->progress_version) > w->since;
}

/* Answer the armed waiters of `job` that have a change to see, and keep `watched` true
 * exactly while some waiter is armed. Loop thread. */
static void
check_waiters(struct imaged_job *job)
{
	bool any = false;

	for (struct imaged_waiter *w = job->waiters, *next; w != NULL; w = next) {
		next = w->next;
		if (!w->armed)
			continue;
		if (waiter_changed(w))
			waiter_finish(w, NULL);
		else
			any = true;
	}
	atomic_store(&job->watched, any);
	/* A change between the check and the store went unannounced: look once more. */
	if (any) {
		for (struct imaged_waiter *w = job->waiters, *next; w != NULL; w = next) {
			next = w->next;
			if (w->armed && waiter_changed(w))
				waiter_finish(w, NULL);
		}
	}
}

/* A waiter's interval passed: answer it if the job changed, else arm it until its end. */
static void
waiter_interval_passed(uv_timer_t *t)
{
	struct imaged_waiter *w = t->data;

	w->armed = true;
	int64_t left = w->end - br_now_ms();
	uv_timer_start(&w->timer, waiter_timeout, (uint64_t)(left > 0 ? left : 0), 0);
	check_waiters(w->job);
}

static void
job_free(struct imaged_job *job)
{
	if (job->free_arg != NULL)
		job->free_arg(job->arg);
	free(job->ns);
	free(job->message);
	free(job->result);
	free(job->items);
	pthread_mutex_destroy(&job->progress_lock);
	free(job);
}

/* Forget finished jobs past their time, and the oldest beyond IMAGED_JOBS_KEPT. */
static void
prune(struct imaged_service *svc)
{
	int64_t now = br_db_now();
	size_t finished = 0;

	for (struct imaged_job **p = &svc->jobs; *p != NULL;) {
		struct imaged_job *job = *p;
		bool ended = strcmp(job->state, "running") != 0;
		if (ended && !job->thread_running && job->waiters == NULL &&
		    (finished >= IMAGED_JOBS_KEPT || now - job->ended_at > IMAGED_JOB_KEEP_MS)) {
			*p = job->next;
			job_free(job);
			continue;
		}
		finished += ended;
		p = &job->next;
	}
}

/* The end of a job's work: `rc` 0 with `result` (taken), or -1 with `err`. Loop thread. */
void
imaged_job_end(struct imaged_job *job, int rc, char *result, const br_err *err)
{
	struct imaged_service *svc = job->svc;

	svc->n_running--;
	job->ended_at = br_db_now();
	if (rc == 0) {
		/* Done before it noticed that its lease was lost: the image is recorded, and its
		 * own lease holds it from now on. */
		br_err_clear(&job->error);
		job->state = "done";
		job->result = result;
		result = NULL;
		free(job->message);
		job->message = xasprintf("%s done", job->kind);
		br_log_info("IMAGE-JOB-DONE", "job %s: %s %s", job->id, job->kind,
		            job->result ? job->result : "");
		/* An export's lease only held what it read: it can go now. */
		if (strcmp(job->kind, "export") == 0 && !job->lease_ended)
			imaged_drop_job_lease(svc, job);
	} else if (job->error.code != BR_OK) {
		/* Its lease was lost (lease_lost): that, not the cancel that stopped it, is why
		 * it failed. */
		job->state = "failed";
		br_log_notice("IMAGE-JOB-FAIL", "job %s: %s", job->id, job->error.msg);
	} else {
		job->state = err->code == BR_CANCELED ? "canceled" : "failed";
		job->error = *err;
		br_log_notice("IMAGE-JOB-FAIL", "job %s: %s", job->id, err->msg);
		/* A canceled job leaves nothing; a failed one leaves its work for a retry until
		 * its lease expires. */
		if ((err->code == BR_CANCELED || strcmp(job->kind, "export") == 0) &&
		    !job->lease_ended)
			imaged_drop_job_lease(svc, job);
	}
	if (strcmp(job->kind, "pull") == 0 && strcmp(job->state, "failed") == 0)
		svc->pulls_failed++;
	job->lease_ended = true;
	atomic_fetch_add(&job->progress_version, 1);
	atomic_store(&job->updated_at, job->ended_at);
	while (job->waiters != NULL)
		waiter_finish(job->waiters, NULL);
	atomic_store(&job->watched, false);
	free(result);
	prune(svc);
}

/* A job thread's outcome, on the loop. */
static void
outcome_on_loop(void *arg)
{
	struct outcome *o = arg;
	struct imaged_job *job = o->job;

	if (job->thread_running) {
		pthread_join(job->thread, NULL);
		job->thread_running = false;
	}
	imaged_job_end(job, o->rc, o->result, &o->err);
	free(o);
}

/* A new running job record, not started yet; NULL (arg freed) when none may start. */
static struct imaged_job *
job_new(struct imaged_service *svc, const char *ns, const char *kind, void *arg,
        void (*free_arg)(void *arg), br_err *err)
{
	if (svc->stopping) {
		free_arg(arg);
		br_err_set(err, BR_UNAVAILABLE, "berth-imaged is stopping");
		return NULL;
	}
	if (svc->n_running >= IMAGED_MAX_RUNNING_JOBS) {
		free_arg(arg);
		br_err_set(err, BR_RESOURCE_EXHAUSTED,
		           "%d jobs are running already; wait for one to end",
		           IMAGED_MAX_RUNNING_JOBS);
		return NULL;
	}
	struct imaged_job *job = xnew(struct imaged_job);
	job->svc = svc;
	br_random_hex(job->id, IMAGED_JOB_ID_LEN / 2);
	job->ns = xstrdup(ns);
	job->kind = kind;
	job->arg = arg;
	job->free_arg = free_arg;
	job->state = "running";
	job->message = xasprintf("%s queued", kind);
	job->started_at = br_db_now();
	snprintf(job->lease, sizeof(job->lease), "job-%s", job->id);
	atomic_init(&job->cancel, false);
	atomic_init(&job->lease_held, false);
	atomic_init(&job->done_bytes, 0);
	atomic_init(&job->total_bytes, 0);
	pthread_mutex_init(&job->progress_lock, NULL);
	atomic_init(&job->progress_version, 1);
	atomic_init(&job->updated_at, job->started_at);
	atomic_init(&job->watched, false);
	atomic_init(&job->notify_pending, false);
	return job;
}

/* The job is running: listed and counted. */
static void
job_started(struct imaged_job *job, struct imaged_job **ret)
{
	struct imaged_service *svc = job->svc;

	job->next = svc->jobs;
	svc->jobs = job;
	svc->n_running++;
	if (strcmp(job->kind, "pull") == 0)
		svc->pulls_started++;
	br_log_info("IMAGE-JOB-START", "job %s: %s started", job->id, job->kind);
	*ret = job;
}

static void flow_lease_put(struct imaged_job *job, bool snapshots);

int
imaged_job_start(struct imaged_service *svc, const char *ns, const char *kind, imaged_job_fn fn,
                 void *arg, void (*free_arg)(void *arg), struct imaged_job **ret, br_err *err)
{
	struct imaged_job *job = job_new(svc, ns, kind, arg, free_arg, err);

	if (job == NULL)
		return -1;
	job->fn = fn;
	job_started(job, ret);
	flow_lease_put(job, false); /* then its thread starts */
	return 0;
}

/* ------------------------------------------------------------------ jobs on the loop */

struct job_call {
	imaged_call_fn done;
	void *data;
	br_arena *arena;
};

static void
job_call_done(void *arg, const br_err *err, void *result)
{
	struct job_call *c = arg;

	c->done(c->data, err, result);
	br_arena_free(c->arena);
	free(c);
}

void
imaged_call(struct imaged_service *svc, br_rpc_client *client, const struct br_call_opts *opts,
            const char *method, const struct br_schema *ps, const void *params,
            const struct br_schema *rs, imaged_call_fn done, void *data)
{
	struct job_call *c = xnew(struct job_call);

	c->done = done;
	c->data = data;
	c->arena = br_arena_new();
	br_rpc_call_async(client, svc->loop, opts, method, ps, params, rs, c->arena, job_call_done,
	                  c);
}

struct job_work {
	uv_work_t req;
	struct imaged_service *svc;
	void (*work)(void *data);
	void (*done)(void *data);
	void *data;
};

static void
job_work_run(uv_work_t *req)
{
	struct job_work *w = req->data;

	w->work(w->data);
}

static void
job_work_done(uv_work_t *req, int status)
{
	struct job_work *w = req->data;

	/* Nothing cancels queued work; should it be, it still has to run for its caller. */
	if (status == UV_ECANCELED)
		w->work(w->data);
	w->svc->inflight--;
	w->done(w->data);
	free(w);
}

void
imaged_work(struct imaged_service *svc, void (*work)(void *data), void (*done)(void *data),
            void *data)
{
	struct job_work *w = xnew(struct job_work);

	w->req.data = w;
	w->svc = svc;
	w->work = work;
	w->done = done;
	w->data = data;
	svc->inflight++;
	uv_queue_work(svc->uv, &w->req, job_work_run, job_work_done);
}

static void
bridge_done(void *data, const br_err *err, void *result)
{
	struct imaged_bridge *c = data;

	pthread_mutex_lock(&c->mu);
	if (err != NULL)
		c->err = *err;
	else if (c->rs != NULL && c->ret != NULL)
		memcpy(c->ret, result, c->rs->size);
	c->done = true;
	pthread_cond_signal(&c->cv);
	pthread_mutex_unlock(&c->mu);
}

static void
bridge_issue(void *data)
{
	struct imaged_bridge *c = data;

	br_rpc_call_async_packed(c->client, c->svc->loop, &c->opts, c->method, c->packed.data,
	                         c->packed.size, c->rs, c->arena, bridge_done, c);
	msgpack_sbuffer_destroy(&c->packed);
}

void
imaged_bridge_start(struct imaged_bridge *c)
{
	pthread_mutex_init(&c->mu, NULL);
	pthread_cond_init(&c->cv, NULL);
	c->done = false;
	br_err_clear(&c->err);
	br_rpc_pack(&c->packed, &c->opts, c->method, c->ps, c->params); /* here, not on the loop */
	br_loop_post(c->svc->loop, bridge_issue, c);
}

int
imaged_bridge_wait(struct imaged_bridge *c, br_err *err)
{
	pthread_mutex_lock(&c->mu);
	while (!c->done)
		pthread_cond_wait(&c->cv, &c->mu);
	pthread_mutex_unlock(&c->mu);
	pthread_cond_destroy(&c->cv);
	pthread_mutex_destroy(&c->mu);
	if (c->err.code != BR_OK) {
		br_err_copy(err, &c->err);
		return -1;
	}
	return 0;
}

int
imaged_bridge_call(struct imaged_service *svc, br_rpc_client *client,
                   const struct br_call_opts *opts, const char *method, const struct br_schema *ps,
                   const void *params, const struct br_schema *rs, void *ret, br_arena *arena,
                   br_err *err)
{
	struct imaged_bridge c = {
	        .svc = svc,
	        .client = client,
	        .opts = *opts,
	        .method = method,
	        .ps = ps,
	        .params = params,
	        .rs = rs,
	        .ret = ret,
	        .arena = arena,
	};

	imaged_bridge_start(&c);
	return imaged_bridge_wait(&c, err);
}

/* The job's lease is in contentd (`snapshots` false) or in both: on to the next store, or to
 * the job's work: its flow, or its thread. Every job puts its lease first, before it writes or
 * relies on anything. */
static void
flow_lease_done(struct imaged_job *job, bool snapshots, const br_err *err)
{
	if (err != NULL) {
		br_err e = *err;
		br_err_wrap(&e, "lease %s", job->lease);
		br_err_wrap(&e, "%s", job->kind);
		imaged_job_end(job, -1, NULL, &e);
		return;
	}
	if (!snapshots) {
		flow_lease_put(job, true);
		return;
	}
	atomic_store(&job->lease_held, true); /* renewals may start */
	if (job->flow != NULL) {
		job->flow(job);
		return;
	}
	int rc = pthread_create(&job->thread, NULL, job_main, job);
	if (rc != 0) {
		br_err e = BR_ERR_INIT;
		br_err_errno(&e, BR_RESOURCE_EXHAUSTED, rc, "start a %s job", job->kind);
		imaged_job_end(job, -1, NULL, &e);
		return;
	}
	job->thread_running = true;
}

static void
flow_lease_content_done(void *data, const br_err *err, void *result)
{
	(void)result;
	flow_lease_done(data, false, err);
}

static void
flow_lease_snapshots_done(void *data, const br_err *err, void *result)
{
	(void)result;
	flow_lease_done(data, true, err);
}

static void
flow_lease_put(struct imaged_job *job, bool snapshots)
{
	const char *keys[2], *values[2];
	struct br_lease_put_req put;
	struct br_call_opts opts = {.ns = job->ns};
	br_arena *arena = br_arena_new();

	job_lease_put(job, keys, values, &put);
	imaged_call(job->svc, snapshots ? job->svc->snapshots : job->svc->content, &opts,
	            br_lease_method(arena, snapshots ? "snapshots" : "content", "put"),
	            &br_lease_put_req_schema, &put, NULL,
	            snapshots ? flow_lease_snapshots_done : flow_lease_content_done, job);
	br_arena_free(arena); /* the request is packed */
}

int
imaged_job_start_flow(struct imaged_service *svc, const char *ns, const char *kind,
                      imaged_flow_fn flow, void *arg, void (*free_arg)(void *arg),
                      struct imaged_job **ret, br_err *err)
{
	struct imaged_job *job = job_new(svc, ns, kind, arg, free_arg, err);

	if (job == NULL)
		return -1;
	job->flow = flow;
	job_started(job, ret);
	flow_lease_put(job, false);
	return 0;
}

static struct imaged_job *
find_job(struct imaged_service *svc, br_call *call, const char *id)
{
	for (struct imaged_job *job = svc->jobs; job != NULL; job = job->next) {
		if (strcmp(job->id, id) == 0 && strcmp(job->ns, br_call_ns(call)) == 0)
			return job;
	}
	br_call_failf(call, BR_NOT_FOUND, "job \"%s\": not found", id);
	return NULL;
}

void
imaged_handle_jobs_get(br_call *call, void *data)
{
	const struct br_job_ref *req = br_call_params(call);
	struct imaged_job *job = find_job(data, call, req->id);

	if (job == NULL)
		return;
	reply_job(call, job);
}

void
imaged_handle_jobs_wait(br_call *call, void *data)
{
	struct imaged_service *svc = data;
	const struct br_job_wait_req *req = br_call_params(call);
	struct imaged_job *job = find_job(svc, call, req->id);

	if (job == NULL)
		return;
	int64_t wait = req->timeout_ms > 0 ? req->timeout_ms : 0;
	int64_t deadline = br_call_deadline(call);
	if (deadline != 0) {
		int64_t left = deadline - br_now_ms() - WAIT_MARGIN_MS;
		if (wait > left)
			wait = left > 0 ? left : 0;
	}
	if (strcmp(job->state, "running") != 0 || wait == 0 || svc->stopping) {
		reply_job(call, job);
		return;
	}
	int64_t interval = req->interval_ms < 0 ? 0 : req->interval_ms;
	if (interval > BR_JOB_INTERVAL_MAX_MS)
		interval = BR_JOB_INTERVAL_MAX_MS;
	struct imaged_waiter *w = xnew(struct imaged_waiter);
	w->job = job;
	w->call = call;
	w->progress = req->since_version > 0 || req->interval_ms > 0;
	w->since = req->since_version;
	w->end = br_now_ms() + wait;
	uv_timer_init(svc->uv, &w->timer);
	w->timer.data = w;
	w->next = job->waiters;
	job->waiters = w;
	if (w->progress && interval < wait)
		uv_timer_start(&w->timer, waiter_interval_passed, (uint64_t)interval, 0);
	else
		uv_timer_start(&w->timer, waiter_timeout, (uint64_t)wait, 0);
}

void
imaged_handle_jobs_cancel(br_call *call, void *data)
{
	const struct br_job_ref *req = br_call_params(call);
	struct imaged_job *job = find_job(data, call, req->id);

	if (job == NULL)
		return;
	if (strcmp(job->state, "running") == 0) {
		atomic_store(&job->cancel, true);
		free(job->message);
		job->message = xstrdup("canceling");
		changed_on_loop(job);
		br_loop_post(job->svc->loop, imaged_claims_retry, job->svc); /* its waits end */
	}
	reply_job(call, job);
}

void
imaged_jobs_stop(struct imaged_service *svc)
{
	br_err err = BR_ERR_INIT;

	br_err_set(&err, BR_UNAVAILABLE, "berth-imaged is stopping");
	svc->stopping = true;
	for (struct imaged_job *job = svc->jobs; job != NULL; job = job->next) {
		atomic_store(&job->cancel, true);
		while (job->waiters != NULL)
			waiter_finish(job->waiters, &err);
	}
	br_loop_post(svc->loop, imaged_claims_retry, svc);
}

void
imaged_jobs_join(struct imaged_service *svc)
{
	/* Job threads may be waiting for the loop (br_loop_call); their outcomes arrive on it. */
	while (svc->n_running > 0)
		uv_run(svc->uv, UV_RUN_ONCE);
	for (struct imaged_job *job = svc->jobs; job != NULL; job = job->next) {
		if (job->thread_running) {
			pthread_join(job->thread, NULL);
			job->thread_running = false;
		}
	}
}

void
imaged_jobs_free(struct imaged_service *svc)
{
	while (svc->jobs != NULL) {
		struct imaged_job *job = svc->jobs;
		svc->jobs = job->next;
		job_free(job);
	}
}
