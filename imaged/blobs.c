/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Blobs in berth-contentd, as a job sees them: holding them in the job's lease, whole small
 * documents read and written in one go, a streamed ingest for layers, claims that keep two
 * jobs from writing one blob at once, and a chunked reader that serves as a layer source.
 * The first part is for threads (job threads, layer workers, libuv's pool): each call is
 * handed to the loop, which issues it, and the thread waits for its answer (struct
 * imaged_bridge; an ingest goes on filling its next chunk meanwhile). The last part does the
 * same on the loop itself, asynchronously, for flows (a pull).
 *
 * A job writes under its lease (the request envelope names it), so contentd holds the ingest
 * while it is written and the blob once committed, also when the blob was there already.
 * Ingests are named after their blob ("blob-<hex>"): a write that an interrupted job left
 * half done is found by the next job that needs the blob, which continues it from where it
 * stopped (contentd re-hashes the part it has).
 */
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/lease_owner.h"
#include "common/proto/content.h"
#include "common/proto/leases.h"
#include "common/xalloc.h"
#include "imaged/imaged.h"

#define CLAIM_POLL_MS 100

struct imaged_claim {
	struct imaged_claim *next;
	char digest[BR_DIGEST_BUF];
};

struct imaged_ingest {
	struct imaged_job *job;
	char ref[IMAGED_INGEST_REF_BUF];
	char digest[BR_DIGEST_BUF];
	int64_t size;
	unsigned char *buf;
	size_t len;
	int64_t offset; /* bytes contentd has, once the write in flight ended */
	bool started;   /* the ingest exists in contentd */
	bool exists;    /* contentd already holds the blob: writes are dropped */
	bool committed;

	/* The loop issues the writes, one at a time, while the writer fills the buffer again. */
	bool in_flight;
	struct imaged_bridge call;
	struct br_content_write_req req;
	br_arena *arena;
};

void
imaged_ingest_ref(const char *digest, char out[IMAGED_INGEST_REF_BUF])
{
	snprintf(out, IMAGED_INGEST_REF_BUF, "blob-%s", br_digest_hex(digest));
}

struct br_call_opts
imaged_content_opts(const struct imaged_job *job)
{
	return (struct br_call_opts){.ns = job->ns, .lease = job->lease, .timeout_ms = 0};
}

struct br_call_opts
imaged_snapshot_opts(const struct imaged_job *job)
{
	/* Native snapshots copy their parent's tree while preparing: allow for it. */
	return (struct br_call_opts){
	        .ns = job->ns, .lease = job->lease, .timeout_ms = 10 * 60 * 1000};
}

int
imaged_blob_exists(struct imaged_service *svc, const char *digest, bool *ret, br_err *err)
{
	struct br_content_digest_req req = {.digest = digest};
	struct br_call_opts opts = {0};
	br_err cerr = BR_ERR_INIT;
	br_arena *arena = br_arena_new();

	int rc = imaged_bridge_call(svc, svc->content, &opts, "content.info",
	                            &br_content_digest_req_schema, &req, NULL, NULL, arena, &cerr);
	br_arena_free(arena);
	if (rc < 0 && cerr.code != BR_NOT_FOUND) {
		br_err_copy(err, &cerr);
		return br_err_wrap(err, "blob %s", digest);
	}
	*ret = rc == 0;
	return 0;
}

/* leases.add of `n` resources of one type to the job's lease on `client`. */
static int
hold(struct imaged_job *job, br_rpc_client *client, const char *service, const char *type,
     const char *const *keys, size_t n, bool *ret_missing, br_err *err)
{
	struct br_call_opts opts = {.ns = job->ns};
	br_arena *arena = br_arena_new();
	int rc = 0;

	for (size_t start = 0; rc == 0 && start < n; start += BR_LEASE_RESOURCES_MAX) {
		size_t count =
		        n - start < BR_LEASE_RESOURCES_MAX ? n - start : BR_LEASE_RESOURCES_MAX;
		struct br_lease_resource *res = br_arena_alloc(arena, count * sizeof(*res));
		struct br_lease_resources_req req = {.id = job->lease, .resources = {res, count}};
		struct br_lease_missing_resp resp = {0};
		for (size_t i = 0; i < count; i++) {
			res[i].type = type;
			res[i].key = keys[start + i];
			ret_missing[start + i] = false;
		}
		rc = imaged_bridge_call(job->svc, client, &opts,
		                        br_lease_method(arena, service, "add"),
		                        &br_lease_resources_req_schema, &req,
		                        &br_lease_missing_resp_schema, &resp, arena, err);
		const struct br_lease_resource *missing = resp.missing.v;
		for (size_t m = 0; rc == 0 && m < resp.missing.n; m++)
			for (size_t i = 0; i < count; i++)
				if (strcmp(missing[m].key, keys[start + i]) == 0)
					ret_missing[start + i] = true;
	}
	br_arena_free(arena);
	return rc < 0 ? br_err_wrap(err, "hold %s in lease %s", type, job->lease) : 0;
}

int
imaged_hold_blobs(struct imaged_job *job, const char *const *digests, size_t n, bool *ret_missing,
                  br_err *err)
{
	return hold(job, job->svc->content, "content", "content", digests, n, ret_missing, err);
}

int
imaged_hold_snapshots(struct imaged_job *job, const char *const *keys, size_t n, bool *ret_missing,
                      br_err *err)
{
	return hold(job, job->svc->snapshots, "snapshots", "snapshots", keys, n, ret_missing, err);
}

/* ------------------------------------------------------------------ claims */

static bool
claimed(struct imaged_service *svc, const char *digest)
{
	for (struct imaged_claim *c = svc->claims; c != NULL; c = c->next)
		if (strcmp(c->digest, digest) == 0)
			return true;
	return false;
}

int
imaged_blob_claim(struct imaged_service *svc, const char *digest,
                  const struct imaged_cancel *cancel, br_err *err)
{
	pthread_mutex_lock(&svc->blob_lock);
	while (claimed(svc, digest)) {
		if (imaged_canceled(cancel)) {
			pthread_mutex_unlock(&svc->blob_lock);
			return br_err_set(err, BR_CANCELED, "blob %s: canceled", digest);
		}
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += CLAIM_POLL_MS * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&svc->blob_cond, &svc->blob_lock, &until);
	}
	struct imaged_claim *c = xnew(struct imaged_claim);
	snprintf(c->digest, sizeof(c->digest), "%s", digest);
	c->next = svc->claims;
	svc->claims = c;
	pthread_mutex_unlock(&svc->blob_lock);
	return 0;
}

void
imaged_blob_release(struct imaged_service *svc, const char *digest)
{
	pthread_mutex_lock(&svc->blob_lock);
	for (struct imaged_claim **p = &svc->claims; *p != NULL; p = &(*p)->next) {
		if (strcmp((*p)->digest, digest) == 0) {
			struct imaged_claim *c = *p;
			*p = c->next;
			free(c);
			break;
		}
	}
	pthread_cond_broadcast(&svc->blob_cond);
	pthread_mutex_unlock(&svc->blob_lock);
	if (atomic_load(&svc->claim_waiting))
		br_loop_post(svc->loop, imaged_claims_retry, svc);
}

/* ------------------------------------------------------------------ claims on the loop */

struct claim_waiter {
	struct claim_waiter *next;
	struct imaged_job *job;
	char digest[BR_DIGEST_BUF];
	imaged_done_fn done;
	void *data;
	bool got; /* the claim is its now */
};

void
imaged_claims_retry(void *arg)
{
	struct imaged_service *svc = arg;
	struct claim_waiter *ready = NULL, **tail = &ready;

	/* Take out those that got their claim or were canceled, then tell them: a `done` may
	 * claim or release again. */
	pthread_mutex_lock(&svc->blob_lock);
	for (struct claim_waiter **p = &svc->claim_waiters; *p != NULL;) {
		struct claim_waiter *w = *p;
		bool canceled = imaged_job_canceled(w->job);
		if (!canceled && claimed(svc, w->digest)) {
			p = &w->next;
			continue;
		}
		if (!canceled) {
			w->got = true;
			struct imaged_claim *c = xnew(struct imaged_claim);
			snprintf(c->digest, sizeof(c->digest), "%s", w->digest);
			c->next = svc->claims;
			svc->claims = c;
		}
		*p = w->next;
		w->next = NULL;
		*tail = w;
		tail = &w->next;
	}
	atomic_store(&svc->claim_waiting, svc->claim_waiters != NULL);
	pthread_mutex_unlock(&svc->blob_lock);
	while (ready != NULL) {
		struct claim_waiter *w = ready;
		ready = w->next;
		br_err err = BR_ERR_INIT;
		if (!w->got) {
			br_err_set(&err, BR_CANCELED, "blob %s: canceled", w->digest);
			w->done(w->data, &err);
		} else {
			w->done(w->data, NULL);
		}
		free(w);
	}
}

void
imaged_blob_claim_async(struct imaged_job *job, const char *digest, imaged_done_fn done, void *data)
{
	struct imaged_service *svc = job->svc;
	struct claim_waiter *w = xnew(struct claim_waiter);

	w->job = job;
	snprintf(w->digest, sizeof(w->digest), "%s", digest);
	w->done = done;
	w->data = data;
	pthread_mutex_lock(&svc->blob_lock);
	w->next = svc->claim_waiters;
	svc->claim_waiters = w;
	atomic_store(&svc->claim_waiting, true);
	pthread_mutex_unlock(&svc->blob_lock);
	br_loop_post(svc->loop, imaged_claims_retry, svc); /* never inline */
}

/* ------------------------------------------------------------------ reading */

int
imaged_blob_get(struct imaged_service *svc, const char *digest, size_t max, char **ret,
                size_t *ret_len, br_err *err)
{
	struct br_call_opts opts = {0};
	_cleanup_free_ char *out = NULL;
	size_t len = 0;

	for (;;) {
		struct br_content_read_req req = {.digest = digest, .offset = (int64_t)len};
		struct br_content_read_resp resp;
		br_arena *arena = br_arena_new();
		if (imaged_bridge_call(svc, svc->content, &opts, "content.read",
		                       &br_content_read_req_schema, &req,
		                       &br_content_read_resp_schema, &resp, arena, err) < 0) {
			br_arena_free(arena);
			return br_err_wrap(err, "read blob %s", digest);
		}
		if (resp.total < 0 || (uint64_t)resp.total > max) {
			br_arena_free(arena);
			return br_err_set(err, BR_RESOURCE_EXHAUSTED,
			                  "blob %s: %lld bytes, more than the limit of %zu", digest,
			                  (long long)resp.total, max);
		}
		if (resp.data.len == 0 || len + resp.data.len > (size_t)resp.total) {
			bool short_read = len != (size_t)resp.total;
			br_arena_free(arena);
			if (short_read)
				return br_err_set(err, BR_INTERNAL,
				                  "read blob %s: %zu of %lld bytes", digest, len,
				                  (long long)resp.total);
			break;
		}
		out = xrealloc(out, len + resp.data.len + 1);
		memcpy(out + len, resp.data.data, resp.data.len);
		len += resp.data.len;
		br_arena_free(arena);
		if (len == (size_t)resp.total)
			break;
	}
	if (out == NULL)
		out = xmalloc(1);
	out[len] = '\0';
	*ret = br_steal_ptr(&out);
	*ret_len = len;
	return 0;
}

/* Ask the loop for the chunk at `offset`, into a fresh arena; the reader goes on meanwhile. */
static void
reader_request(struct imaged_blob_reader *r, int64_t offset)
{
	r->req = (struct br_content_read_req){.digest = r->digest, .offset = offset};
	r->next_arena = br_arena_new();
	r->call = (struct imaged_bridge){
	        .svc = r->svc,
	        .client = r->svc->content,
	        .opts = {.ns = r->ns},
	        .method = "content.read",
	        .ps = &br_content_read_req_schema,
	        .params = &r->req,
	        .rs = &br_content_read_resp_schema,
	        .ret = &r->resp,
	        .arena = r->next_arena,
	};
	imaged_bridge_start(&r->call);
	r->pending = true;
}

/* The answer to the chunk asked for; its arena becomes the reader's (the last chunk's goes). */
static int
reader_wait(struct imaged_blob_reader *r, br_err *err)
{
	r->pending = false;
	int rc = imaged_bridge_wait(&r->call, err);
	br_arena_free(r->arena);
	r->arena = r->next_arena;
	r->next_arena = NULL;
	return rc;
}

ssize_t
imaged_blob_read(void *data, const void **ret_buf, br_err *err)
{
	struct imaged_blob_reader *r = data;
	br_err ignored = BR_ERR_INIT;

	if (imaged_canceled(r->cancel)) {
		if (r->pending)
			reader_wait(r, &ignored);
		return br_err_set(err, BR_CANCELED, "read blob %s: canceled", r->digest);
	}
	if (!r->pending)
		reader_request(r, r->offset);
	if (reader_wait(r, err) < 0)
		return br_err_wrap(err, "read blob %s", r->digest);
	const void *buf = r->resp.data.data;
	size_t len = r->resp.data.len;
	if (len == 0)
		return 0;
	r->offset += (int64_t)len;
	/* The next chunk is on its way while the caller handles this one. */
	if (r->offset < r->resp.total)
		reader_request(r, r->offset);
	*ret_buf = buf;
	return (ssize_t)len;
}

void
imaged_blob_reader_fini(struct imaged_blob_reader *r)
{
	br_err ignored = BR_ERR_INIT;

	if (r->pending)
		reader_wait(r, &ignored);
	br_arena_free(r->arena);
	r->arena = NULL;
}

/* ------------------------------------------------------------------ writing */

/* content.abort of the ingest; NOT_FOUND means it is gone already. */
static int
ingest_abort(struct imaged_ingest *w, br_err *err)
{
	struct br_content_ref_req req = {.ref = w->ref};
	struct br_call_opts opts = imaged_content_opts(w->job);
	br_arena *arena = br_arena_new();
	br_err cerr = BR_ERR_INIT;

	int rc = imaged_bridge_call(w->job->svc, w->job->svc->content, &opts, "content.abort",
	                            &br_content_ref_req_schema, &req, NULL, NULL, arena, &cerr);
	br_arena_free(arena);
	if (rc < 0 && cerr.code != BR_NOT_FOUND) {
		br_err_copy(err, &cerr);
		return br_err_wrap(err, "abort ingest %s", w->ref);
	}
	w->started = false;
	w->offset = 0;
	return 0;
}

int
imaged_ingest_new(struct imaged_job *job, const char *digest, int64_t size,
                  struct imaged_ingest **ret, br_err *err)
{
	_cleanup_free_ struct imaged_ingest *w = xnew(struct imaged_ingest);
	struct br_call_opts opts = imaged_content_opts(job);
	struct br_content_status st;
	br_err cerr = BR_ERR_INIT;

	w->job = job;
	imaged_ingest_ref(digest, w->ref);
	snprintf(w->digest, sizeof(w->digest), "%s", digest);
	w->size = size;
	struct br_content_ref_req req = {.ref = w->ref};
	br_arena *arena = br_arena_new();
	int rc = imaged_bridge_call(job->svc, job->svc->content, &opts, "content.status",
	                            &br_content_ref_req_schema, &req, &br_content_status_schema,
	                            &st, arena, &cerr);
	if (rc == 0) {
		/* What an earlier writer left: continue it if it is this blob's. It may be all
		 * of it (the writer died before its commit): then the caller commits it rather
		 * than fetching from its end, where there is nothing. */
		bool same = st.expected != NULL && strcmp(st.expected, digest) == 0 &&
		            (st.total == 0 || st.total == size) && st.offset <= size;
		w->started = true;
		w->offset = st.offset;
		br_arena_free(arena);
		if (!same && ingest_abort(w, err) < 0)
			return -1;
	} else {
		br_arena_free(arena);
		if (cerr.code != BR_NOT_FOUND) {
			br_err_copy(err, &cerr);
			return br_err_wrap(err, "blob %s: ingest status", digest);
		}
	}
	*ret = br_steal_ptr(&w);
	return 0;
}

int64_t
imaged_ingest_offset(const struct imaged_ingest *w)
{
	return w->offset;
}

static int write_wait(struct imaged_ingest *w, br_err *err);

int
imaged_ingest_restart(struct imaged_ingest *w, br_err *err)
{
	if (write_wait(w, err) < 0)
		return -1;
	w->exists = false;
	w->len = 0;
	if (!w->started)
		return 0;
	return ingest_abort(w, err);
}

/* The end of the write in flight: what contentd answered. */
static int
write_wait(struct imaged_ingest *w, br_err *err)
{
	br_err cerr = BR_ERR_INIT;

	if (!w->in_flight)
		return 0;
	w->in_flight = false;
	int rc = imaged_bridge_wait(&w->call, &cerr);
	br_arena_free(w->arena);
	w->arena = NULL;
	if (rc < 0 && cerr.code == BR_ALREADY_EXISTS) {
		/* Refused before the first byte, or discarded at commit: the blob is there, and
		 * the job's lease holds it. */
		w->exists = true;
		w->started = false;
		return 0;
	}
	if (rc < 0) {
		br_err_copy(err, &cerr);
		return br_err_wrap(err, "store blob %s", w->digest);
	}
	w->started = true;
	return 0;
}

/* Hand what is buffered to the loop as the next write, once the one before ended (the writer
 * fills the buffer again meanwhile); with `commit` (the final write), wait for its end too. */
static int
ingest_flush(struct imaged_ingest *w, bool commit, br_err *err)
{
	if (write_wait(w, err) < 0)
		return -1;
	if (w->exists) {
		w->len = 0;
		return 0;
	}
	w->req = (struct br_content_write_req){
	        .ref = w->ref,
	        .offset = w->offset,
	        .data = {w->buf, w->len},
	        .total = w->size,
	        .expected = w->digest,
	        .commit = commit,
	};
	w->call = (struct imaged_bridge){
	        .svc = w->job->svc,
	        .client = w->job->svc->content,
	        .opts = imaged_content_opts(w->job),
	        .method = "content.write",
	        .ps = &br_content_write_req_schema,
	        .params = &w->req,
	};
	w->arena = w->call.arena = br_arena_new();
	imaged_bridge_start(&w->call); /* packs the chunk: the buffer is free again */
	w->in_flight = true;
	w->offset += (int64_t)w->len;
	w->len = 0;
	return commit ? write_wait(w, err) : 0;
}

int
imaged_ingest_write(struct imaged_ingest *w, const void *data, size_t len, br_err *err)
{
	const unsigned char *p = data;

	if (w->exists)
		return 0;
	if (w->buf == NULL)
		w->buf = xmalloc(BR_CHUNK_MAX);
	while (len > 0) {
		size_t n = BR_CHUNK_MAX - w->len;
		if (n > len)
			n = len;
		memcpy(w->buf + w->len, p, n);
		w->len += n;
		p += n;
		len -= n;
		if (w->len == BR_CHUNK_MAX && ingest_flush(w, false, err) < 0)
			return -1;
		if (w->exists)
			return 0;
	}
	return 0;
}

int
imaged_ingest_commit(struct imaged_ingest *w, br_err *err)
{
	if (ingest_flush(w, true, err) < 0)
		return -1;
	w->committed = true;
	return 0;
}

void
imaged_ingest_free(struct imaged_ingest *w)
{
	br_err ignored = BR_ERR_INIT;

	if (w == NULL)
		return;
	write_wait(w, &ignored);
	/* A canceled job leaves nothing; any other unfinished write stays for the next pull. */
	if (!w->committed && w->started && imaged_job_canceled(w->job))
		ingest_abort(w, &ignored);
	free(w->buf);
	free(w);
}

struct imaged_ingest *
imaged_ingest_at(struct imaged_job *job, const char *digest, int64_t size, int64_t offset)
{
	struct imaged_ingest *w = xnew(struct imaged_ingest);

	w->job = job;
	imaged_ingest_ref(digest, w->ref);
	snprintf(w->digest, sizeof(w->digest), "%s", digest);
	w->size = size;
	w->offset = offset;
	w->started = offset > 0;
	return w;
}

int
imaged_blob_put(struct imaged_job *job, const void *buf, size_t len, const char *digest,
                br_err *err)
{
	struct imaged_cancel cancel = {{&job->cancel, NULL}};
	struct imaged_ingest *w = NULL;
	bool missing = false, have = false;

	if (imaged_hold_blobs(job, &digest, 1, &missing, err) < 0)
		return -1;
	if (!missing)
		return 0;
	if (imaged_blob_claim(job->svc, digest, &cancel, err) < 0)
		return -1;
	int rc = imaged_blob_exists(job->svc, digest, &have, err);
	if (rc == 0 && !have) {
		rc = imaged_ingest_new(job, digest, (int64_t)len, &w, err);
		if (rc == 0 && imaged_ingest_offset(w) > 0)
			rc = imaged_ingest_restart(w, err);
		if (rc == 0)
			rc = imaged_ingest_write(w, buf, len, err);
		if (rc == 0)
			rc = imaged_ingest_commit(w, err);
		imaged_ingest_free(w);
	}
	imaged_blob_release(job->svc, digest);
	return rc;
}

/* ------------------------------------------------------------------ holding and storing on the
 * loop */

struct hold_op {
	struct imaged_job *job;
	bool snapshots;
	const char *const *keys;
	size_t n;
	bool *missing;
	size_t start, count;
	imaged_done_fn done;
	void *data;
};

static void hold_next(struct hold_op *h);

static void
hold_end(struct hold_op *h, const br_err *err)
{
	imaged_done_fn done = h->done;
	void *data = h->data;

	free(h);
	done(data, err);
}

static void
hold_answered(void *data, const br_err *err, void *result)
{
	struct hold_op *h = data;
	const struct br_lease_missing_resp *resp = result;

	if (err != NULL) {
		br_err e = *err;
		br_err_wrap(&e, "hold %s in lease %s", h->snapshots ? "snapshots" : "content",
		            h->job->lease);
		hold_end(h, &e);
		return;
	}
	const struct br_lease_resource *missing = resp->missing.v;
	for (size_t m = 0; m < resp->missing.n; m++)
		for (size_t i = h->start; i < h->start + h->count; i++)
			if (strcmp(missing[m].key, h->keys[i]) == 0)
				h->missing[i] = true;
	h->start += h->count;
	hold_next(h);
}

static void
hold_next(struct hold_op *h)
{
	if (h->start >= h->n) {
		hold_end(h, NULL);
		return;
	}
	struct imaged_service *svc = h->job->svc;
	const char *service = h->snapshots ? "snapshots" : "content";
	struct br_call_opts opts = {.ns = h->job->ns};
	br_arena *arena = br_arena_new();
	size_t left = h->n - h->start;

	h->count = left < BR_LEASE_RESOURCES_MAX ? left : BR_LEASE_RESOURCES_MAX;
	struct br_lease_resource *res = br_arena_alloc(arena, h->count * sizeof(*res));
	for (size_t i = 0; i < h->count; i++) {
		res[i].type = service;
		res[i].key = h->keys[h->start + i];
		h->missing[h->start + i] = false;
	}
	struct br_lease_resources_req req = {.id = h->job->lease, .resources = {res, h->count}};
	imaged_call(svc, h->snapshots ? svc->snapshots : svc->content, &opts,
	            br_lease_method(arena, service, "add"), &br_lease_resources_req_schema, &req,
	            &br_lease_missing_resp_schema, hold_answered, h);
	br_arena_free(arena); /* packed */
}

void
imaged_hold_async(struct imaged_job *job, bool snapshots, const char *const *keys, size_t n,
                  bool *ret_missing, imaged_done_fn done, void *data)
{
	struct hold_op *h = xnew(struct hold_op);

	h->job = job;
	h->snapshots = snapshots;
	h->keys = keys;
	h->n = n;
	h->missing = ret_missing;
	h->done = done;
	h->data = data;
	hold_next(h);
}

/* Storing a document: held in the job's lease; if missing, claimed, then written from its
 * start (a partial ingest of it is dropped first) in chunks, the last one committing. */
struct put_op {
	struct imaged_job *job;
	const unsigned char *buf;
	size_t len;
	char digest[BR_DIGEST_BUF];
	const char *keys[1];
	bool missing[1];
	bool claimed;
	size_t offset;
	char ref[IMAGED_INGEST_REF_BUF];
	imaged_done_fn done;
	void *data;
};

static void
put_end(struct put_op *p, const br_err *err)
{
	imaged_done_fn done = p->done;
	void *data = p->data;
	br_err e = BR_ERR_INIT;

	if (err != NULL) {
		e = *err;
		if (e.code != BR_CANCELED)
			br_err_wrap(&e, "store blob %s", p->digest);
	}
	if (p->claimed)
		imaged_blob_release(p->job->svc, p->digest);
	free(p);
	done(data, err != NULL ? &e : NULL);
}

static void put_write(struct put_op *p);

static void
put_written(void *data, const br_err *err, void *result)
{
	struct put_op *p = data;

	(void)result;
	if (err != NULL && err->code == BR_ALREADY_EXISTS) {
		put_end(p, NULL); /* there already; the lease holds it */
		return;
	}
	if (err != NULL) {
		put_end(p, err);
		return;
	}
	if (p->offset >= p->len) {
		put_end(p, NULL); /* committed */
		return;
	}
	put_write(p);
}

static void
put_write(struct put_op *p)
{
	size_t n = p->len - p->offset;

	if (imaged_job_canceled(p->job)) {
		br_err e = BR_ERR_INIT;
		br_err_set(&e, BR_CANCELED, "canceled");
		put_end(p, &e);
		return;
	}
	if (n > BR_CHUNK_MAX)
		n = BR_CHUNK_MAX;
	struct br_content_write_req req = {
	        .ref = p->ref,
	        .offset = (int64_t)p->offset,
	        .data = {p->buf + p->offset, n},
	        .total = (int64_t)p->len,
	        .expected = p->digest,
	        .commit = p->offset + n == p->len,
	};
	struct br_call_opts opts = imaged_content_opts(p->job);
	p->offset += n;
	imaged_call(p->job->svc, p->job->svc->content, &opts, "content.write",
	            &br_content_write_req_schema, &req, NULL, put_written, p);
}

static void
put_aborted(void *data, const br_err *err, void *result)
{
	struct put_op *p = data;

	(void)result;
	if (err != NULL && err->code != BR_NOT_FOUND) {
		put_end(p, err);
		return;
	}
	put_write(p);
}

/* What contentd has of the blob's ingest: nothing (write it), or a part, dropped first. */
static void
put_status(void *data, const br_err *err, void *result)
{
	struct put_op *p = data;

	(void)result;
	if (err != NULL && err->code != BR_NOT_FOUND) {
		put_end(p, err);
		return;
	}
	if (err != NULL) {
		put_write(p);
		return;
	}
	struct br_content_ref_req req = {.ref = p->ref};
	struct br_call_opts opts = imaged_content_opts(p->job);
	imaged_call(p->job->svc, p->job->svc->content, &opts, "content.abort",
	            &br_content_ref_req_schema, &req, NULL, put_aborted, p);
}

static void
put_info(void *data, const br_err *err, void *result)
{
	struct put_op *p = data;

	(void)result;
	if (err == NULL) {
		put_end(p, NULL); /* another job stored it meanwhile */
		return;
	}
	if (err->code != BR_NOT_FOUND) {
		put_end(p, err);
		return;
	}
	struct br_content_ref_req req = {.ref = p->ref};
	struct br_call_opts opts = imaged_content_opts(p->job);
	imaged_call(p->job->svc, p->job->svc->content, &opts, "content.status",
	            &br_content_ref_req_schema, &req, &br_content_status_schema, put_status, p);
}

static void
put_claimed(void *data, const br_err *err)
{
	struct put_op *p = data;

	if (err != NULL) {
		put_end(p, err);
		return;
	}
	p->claimed = true;
	struct br_content_digest_req req = {.digest = p->digest};
	struct br_call_opts opts = {0};
	imaged_call(p->job->svc, p->job->svc->content, &opts, "content.info",
	            &br_content_digest_req_schema, &req, NULL, put_info, p);
}

static void
put_held(void *data, const br_err *err)
{
	struct put_op *p = data;

	if (err != NULL) {
		put_end(p, err);
		return;
	}
	if (!p->missing[0]) {
		put_end(p, NULL);
		return;
	}
	imaged_blob_claim_async(p->job, p->digest, put_claimed, p);
}

void
imaged_blob_put_async(struct imaged_job *job, const void *buf, size_t len, const char *digest,
                      imaged_done_fn done, void *data)
{
	struct put_op *p = xnew(struct put_op);

	p->job = job;
	p->buf = buf;
	p->len = len;
	snprintf(p->digest, sizeof(p->digest), "%s", digest);
	imaged_ingest_ref(digest, p->ref);
	p->keys[0] = p->digest;
	p->done = done;
	p->data = data;
	imaged_hold_async(job, false, p->keys, 1, p->missing, put_held, p);
}
