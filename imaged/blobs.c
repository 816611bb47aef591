/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Blobs in berth-contentd, as a job sees them: existence checks, whole small documents read
 * and written in one go, a streamed ingest for layers, and a chunked reader that serves as a
 * layer source. Every call is a synchronous br_rpc_call, so all of this runs on job threads
 * or libuv workers, never on the loop.
 *
 * Ingests are named "imaged-<job id>-<hex of the digest>", unique per job, and journaled
 * (store.h) from before the first write until they are committed or aborted, so that a
 * restart can abort what a killed job left behind. Content already in the store is not
 * written again: contentd refuses an ingest whose expected digest it holds with
 * ALREADY_EXISTS before anything is written, which counts as success here.
 */
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/proto/content.h"
#include "common/xalloc.h"
#include "imaged/imaged.h"

struct imaged_ingest {
	struct imaged_job *job;
	char ref[96];
	char digest[BR_DIGEST_BUF];
	int64_t size;
	unsigned char *buf;
	size_t len;
	int64_t offset; /* bytes sent to contentd */
	bool started;   /* the first write went out: the ingest exists in contentd */
	bool exists;    /* contentd already holds the blob: writes are dropped */
	bool committed;
	bool journaled;
};

struct br_call_opts
imaged_content_opts(void)
{
	return (struct br_call_opts){.ns = NULL, .timeout_ms = 0};
}

struct br_call_opts
imaged_snapshot_opts(const struct imaged_job *job)
{
	/* Native snapshots copy their parent's tree while preparing: allow for it. */
	return (struct br_call_opts){.ns = job->ns, .timeout_ms = 10 * 60 * 1000};
}

int
imaged_blob_exists(br_rpc_client *content, const char *digest, bool *ret, br_err *err)
{
	struct br_content_digest_req req = {.digest = digest};
	struct br_call_opts opts = imaged_content_opts();
	br_err cerr = BR_ERR_INIT;
	br_arena *arena = br_arena_new();

	int rc = br_rpc_call(content, &opts, "content.info", &br_content_digest_req_schema, &req,
	                     NULL, NULL, arena, &cerr);
	br_arena_free(arena);
	if (rc < 0 && cerr.code != BR_NOT_FOUND) {
		br_err_copy(err, &cerr);
		return br_err_wrap(err, "blob %s", digest);
	}
	*ret = rc == 0;
	return 0;
}

int
imaged_blob_get(br_rpc_client *content, const char *digest, size_t max, char **ret, size_t *ret_len,
                br_err *err)
{
	struct br_call_opts opts = imaged_content_opts();
	_cleanup_free_ char *out = NULL;
	size_t len = 0;

	for (;;) {
		struct br_content_read_req req = {.digest = digest, .offset = (int64_t)len};
		struct br_content_read_resp resp;
		br_arena *arena = br_arena_new();
		if (br_rpc_call(content, &opts, "content.read", &br_content_read_req_schema, &req,
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

int
imaged_ingest_new(struct imaged_job *job, const char *digest, int64_t size,
                  struct imaged_ingest **ret, br_err *err)
{
	struct imaged_ingest *w = xnew(struct imaged_ingest);

	w->job = job;
	snprintf(w->ref, sizeof(w->ref), "imaged-%s-%s", job->id, br_digest_hex(digest));
	snprintf(w->digest, sizeof(w->digest), "%s", digest);
	w->size = size;
	if (imaged_job_journal_add(job, IMAGED_PENDING_INGEST, w->ref, err) < 0) {
		free(w);
		return -1;
	}
	w->journaled = true;
	*ret = w;
	return 0;
}

/* Send what is buffered (with `commit`, the final write). */
static int
ingest_flush(struct imaged_ingest *w, bool commit, br_err *err)
{
	struct br_content_write_req req = {
	        .ref = w->ref,
	        .offset = w->offset,
	        .data = {w->buf, w->len},
	        .total = w->size,
	        .expected = w->digest,
	        .commit = commit,
	};
	struct br_call_opts opts = imaged_content_opts();
	br_arena *arena = br_arena_new();
	br_err cerr = BR_ERR_INIT;

	if (w->exists) {
		w->len = 0;
		br_arena_free(arena);
		return 0;
	}
	int rc = br_rpc_call(w->job->svc->content, &opts, "content.write",
	                     &br_content_write_req_schema, &req, NULL, NULL, arena, &cerr);
	br_arena_free(arena);
	if (rc < 0 && cerr.code == BR_ALREADY_EXISTS) {
		/* Refused before the first byte, or discarded at commit: the blob is there. */
		w->exists = true;
		w->started = false;
		w->len = 0;
		return 0;
	}
	if (rc < 0) {
		br_err_copy(err, &cerr);
		return br_err_wrap(err, "store blob %s", w->digest);
	}
	w->started = true;
	w->offset += (int64_t)w->len;
	w->len = 0;
	return 0;
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
	if (w->journaled)
		imaged_job_journal_remove(w->job, IMAGED_PENDING_INGEST, w->ref);
	w->journaled = false;
	return 0;
}

void
imaged_ingest_free(struct imaged_ingest *w)
{
	if (w == NULL)
		return;
	if (!w->committed && w->started) {
		struct br_content_ref_req req = {.ref = w->ref};
		struct br_call_opts opts = imaged_content_opts();
		br_arena *arena = br_arena_new();
		br_err ignored = BR_ERR_INIT;
		/* Best effort: what fails here is aborted by the next start (journal). */
		if (br_rpc_call(w->job->svc->content, &opts, "content.abort",
		                &br_content_ref_req_schema, &req, NULL, NULL, arena,
		                &ignored) < 0 &&
		    ignored.code != BR_NOT_FOUND)
			w->journaled = false; /* keep the journal row */
		br_arena_free(arena);
	}
	if (w->journaled)
		imaged_job_journal_remove(w->job, IMAGED_PENDING_INGEST, w->ref);
	free(w->buf);
	free(w);
}

int
imaged_blob_put(struct imaged_job *job, const void *buf, size_t len, const char *digest,
                br_err *err)
{
	struct imaged_ingest *w = NULL;
	bool have = false;

	if (imaged_blob_exists(job->svc->content, digest, &have, err) < 0)
		return -1;
	if (have)
		return 0;
	if (imaged_ingest_new(job, digest, (int64_t)len, &w, err) < 0)
		return -1;
	int rc = imaged_ingest_write(w, buf, len, err);
	if (rc == 0)
		rc = imaged_ingest_commit(w, err);
	imaged_ingest_free(w);
	return rc;
}

ssize_t
imaged_blob_read(void *data, const void **ret_buf, br_err *err)
{
	struct imaged_blob_reader *r = data;
	struct br_content_read_req req = {.digest = r->digest, .offset = r->offset};
	struct br_content_read_resp resp;
	struct br_call_opts opts = imaged_content_opts();

	if (imaged_canceled(r->cancel))
		return br_err_set(err, BR_CANCELED, "read blob %s: canceled", r->digest);
	br_arena_free(r->arena);
	r->arena = br_arena_new();
	if (br_rpc_call(r->content, &opts, "content.read", &br_content_read_req_schema, &req,
	                &br_content_read_resp_schema, &resp, r->arena, err) < 0)
		return br_err_wrap(err, "read blob %s", r->digest);
	if (resp.data.len == 0)
		return 0;
	r->offset += (int64_t)resp.data.len;
	*ret_buf = resp.data.data;
	return (ssize_t)resp.data.len;
}

void
imaged_blob_reader_fini(struct imaged_blob_reader *r)
{
	br_arena_free(r->arena);
	r->arena = NULL;
}
