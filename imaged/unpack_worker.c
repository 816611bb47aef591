/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The worker half of unpacking (unpack_int.h): threads that take tasks from the loop and move
 * bytes. A fetch reads the layer from the registry (or a foreign layer's urls) and hands it
 * to contentd chunk by chunk through the loop, filling the next chunk while one is written;
 * a stream does the same and unpacks the bytes as they pass (apply.h), so a pulled layer
 * crosses the wire once and is never read back; an unpack reads a blob that contentd holds
 * (through the loop) into the snapshot; a fix gives a stacked layer's implied directories
 * their parents' attributes. The loop found everything a task needs (the ingest's offset,
 * the snapshot's directory) before handing it over, and decides what follows from its
 * result.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/xalloc.h"
#include "imaged/unpack_int.h"

/* A registry download written to contentd and passed on: the layer source of a stream, or
 * the loop of a plain fetch. */
struct tee {
	struct unpack *u;
	const struct layer *l;
	struct imaged_fetch *fetch;
	struct imaged_ingest *ingest;
	int64_t received; /* bytes of the blob contentd has or was sent */
	bool ended;
};

/* The index of the tee's layer: its item in the job's progress. */
static size_t
tee_item(const struct tee *t)
{
	return (size_t)(t->l - t->u->layers);
}

static ssize_t
tee_read(void *data, const void **ret_buf, br_err *err)
{
	struct tee *t = data;

	if (t->ended)
		return 0;
	ssize_t n = imaged_fetch_read(t->fetch, ret_buf, err);
	if (n < 0)
		return -1;
	if (n == 0) {
		t->ended = true;
		imaged_job_item_state(t->u->job, tee_item(t), IMAGED_ITEM_VERIFYING);
		if (t->received != t->l->desc->size)
			return br_err_set(err, BR_FAILED_PRECONDITION,
			                  "GET %s: %lld bytes, but the manifest says %lld",
			                  imaged_fetch_url(t->fetch), (long long)t->received,
			                  (long long)t->l->desc->size);
		/* contentd checks the digest as it commits: before the unpack can succeed */
		return imaged_ingest_commit(t->ingest, err) < 0 ? -1 : 0;
	}
	t->received += n;
	if (t->received > t->l->desc->size)
		return br_err_set(err, BR_FAILED_PRECONDITION,
		                  "GET %s: more than the %lld bytes the manifest says",
		                  imaged_fetch_url(t->fetch), (long long)t->l->desc->size);
	if (imaged_ingest_write(t->ingest, *ret_buf, (size_t)n, err) < 0)
		return -1;
	imaged_job_progress(t->u->job, n, 0);
	imaged_job_item_progress(t->u->job, tee_item(t), n);
	return n;
}

static void
tee_close(struct tee *t)
{
	imaged_fetch_close(t->fetch);
	imaged_ingest_free(t->ingest);
	t->fetch = NULL;
	t->ingest = NULL;
}

/*
 * Open the download of layer `l` from byte `offset` on: from the registry, and for a
 * nondistributable (foreign) layer that the registry does not have, from the descriptor's
 * `urls` instead, in order, http and https ones only (the image spec: such a layer is
 * fetched like any other; its urls are where else it may be). Digest and size are checked
 * the same either way.
 */
static int
open_layer(struct unpack *u, struct imaged_http *http, const struct layer *l, int64_t offset,
           struct imaged_fetch **ret, br_err *err)
{
	_cleanup_free_ char *path = xasprintf("blobs/%s", l->desc->digest);
	size_t tried = 0;

	if (imaged_fetch_open_at(u->reg, http, path, NULL, l->desc->size, offset, &u->cancel, ret,
	                         err) == 0)
		return 0;
	if (err->code != BR_NOT_FOUND || !l->desc->nondistributable || l->desc->n_urls == 0)
		return -1;
	for (size_t i = 0; i < l->desc->n_urls; i++) {
		const char *url = l->desc->urls[i];
		if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)
			continue;
		tried++;
		br_err uerr = BR_ERR_INIT;
		if (imaged_fetch_open_url(u->reg, http, url, l->desc->size, offset, &u->cancel, ret,
		                          &uerr) == 0)
			return 0;
		br_err_copy(err, &uerr);
		if (uerr.code == BR_CANCELED)
			return -1;
	}
	if (tried == 0)
		return br_err_wrap(err, "nondistributable layer: the registry does not have it and "
		                        "none of its urls is http or https");
	return br_err_wrap(err,
	                   "nondistributable layer: the registry does not have it, nor "
	                   "its urls (%zu tried)",
	                   tried);
}

/* Open the ingest (continuing at `offset`) and the download of the rest. */
static int
tee_open(struct unpack *u, struct imaged_http *http, const struct layer *l, int64_t offset,
         struct tee *t, br_err *err)
{
	memset(t, 0, sizeof(*t));
	t->u = u;
	t->l = l;
	t->ingest = imaged_ingest_at(u->job, l->desc->digest, l->desc->size, offset);
	if (open_layer(u, http, l, offset, &t->fetch, err) < 0)
		goto fail;
	if (imaged_fetch_offset(t->fetch) != offset &&
	    imaged_ingest_restart(t->ingest, err) < 0) /* the registry sent it all */
		goto fail;
	t->received = imaged_fetch_offset(t->fetch);
	imaged_job_progress(u->job, t->received, 0);
	imaged_job_item_state(u->job, tee_item(t), IMAGED_ITEM_DOWNLOADING);
	imaged_job_item_progress(u->job, tee_item(t), t->received);
	return 0;
fail:
	tee_close(t);
	return -1;
}

/* Fetch the rest of layer `l` into contentd, from `offset` on. */
static int
download(struct unpack *u, struct imaged_http *http, const struct layer *l, int64_t offset,
         br_err *err)
{
	struct tee t;
	const void *buf;
	ssize_t n = 0;

	if (tee_open(u, http, l, offset, &t, err) < 0)
		return br_err_wrap(err, "fetch layer %s", l->desc->digest);
	while ((n = tee_read(&t, &buf, err)) > 0)
		;
	tee_close(&t);
	if (n < 0)
		return br_err_wrap(err, "fetch layer %s", l->desc->digest);
	return 0;
}

/* Unpack layer `l` into the task's directory, from `tee` or else from contentd, and check
 * what it read against the manifest and the config. */
static int
apply(struct task *t, struct tee *tee, br_err *err)
{
	struct unpack *u = t->u;
	struct layer *l = t->l;
	struct imaged_apply_result res;
	struct imaged_apply_opts opts = {
	        .layer = l->desc->digest,
	        .compression = br_oci_layer_compression(l->desc->media_type),
	        .whiteouts = t->whiteouts,
	        .lower_dirs = t->lower_dirs,
	        .n_lower_dirs = t->n_lower_dirs,
	        .implied = u->stacked ? &l->implied : NULL,
	        .blob_checked = true, /* by contentd, as it stores the bytes or did */
	};
	int rc;

	int root_fd = open(t->dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (root_fd < 0)
		return br_err_errno(err, br_code_from_errno(errno), errno, "open snapshot %s at %s",
		                    l->extract, t->dir);
	if (tee != NULL) {
		rc = imaged_apply_layer(root_fd, tee_read, tee, &opts, &res, err);
	} else {
		struct imaged_blob_reader reader = {
		        .svc = u->job->svc,
		        .ns = u->job->ns,
		        .digest = l->desc->digest,
		        .cancel = &u->cancel,
		};
		rc = imaged_apply_layer(root_fd, imaged_blob_read, &reader, &opts, &res, err);
		imaged_blob_reader_fini(&reader);
	}
	close(root_fd);
	imaged_job_item_state(u->job, (size_t)(l - u->layers), IMAGED_ITEM_VERIFYING);
	if (rc == 0)
		rc = imaged_apply_verify(&res, l->desc->digest, NULL, l->diff_id, err);
	if (rc == 0 && res.size != l->desc->size)
		rc = br_err_set(err, BR_FAILED_PRECONDITION,
		                "layer %s: %lld bytes, but the manifest says %lld", l->desc->digest,
		                (long long)res.size, (long long)l->desc->size);
	if (rc < 0)
		imaged_implied_dirs_fini(&l->implied);
	return rc;
}

/* A stream: the layer unpacked as it downloads, or, when contentd has part of it, the rest
 * downloaded first and the whole unpacked from contentd. */
static int
stream(struct task *t, struct imaged_http *http, br_err *err)
{
	struct tee tee;
	int rc;

	if (t->offset > 0) {
		if (download(t->u, http, t->l, t->offset, err) < 0)
			return -1;
		imaged_job_item_state(t->u->job, (size_t)(t->l - t->u->layers),
		                      IMAGED_ITEM_UNPACKING);
		return apply(t, NULL, err);
	}
	if (tee_open(t->u, http, t->l, 0, &tee, err) < 0)
		return br_err_wrap(err, "fetch layer %s", t->l->desc->digest);
	rc = apply(t, &tee, err); /* the blob committed at the stream's end */
	tee_close(&tee);
	return rc;
}

static int
fix(struct task *t, br_err *err)
{
	int root_fd = open(t->dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	if (root_fd < 0)
		return br_err_errno(err, br_code_from_errno(errno), errno, "open snapshot %s at %s",
		                    t->l->extract, t->dir);
	int rc = imaged_apply_implied_dirs(root_fd, &t->l->implied, t->lower_dirs, t->n_lower_dirs,
	                                   t->l->desc->digest, err);
	close(root_fd);
	return rc;
}

static void
run(struct task *t, struct imaged_http *http)
{
	br_err_clear(&t->err);
	switch (t->kind) {
	case TASK_FETCH:
		t->rc = download(t->u, http, t->l, t->offset, &t->err);
		break;
	case TASK_STREAM:
		t->rc = stream(t, http, &t->err);
		break;
	case TASK_UNPACK:
		t->rc = apply(t, NULL, &t->err);
		break;
	case TASK_FIX:
		t->rc = fix(t, &t->err);
		break;
	}
}

static void *
worker_main(void *arg)
{
	struct unpack *u = arg;
	struct imaged_http *http = u->reg != NULL ? imaged_http_new() : NULL;

	pthread_mutex_lock(&u->lock);
	for (;;) {
		while (!u->quit && u->queue == NULL)
			pthread_cond_wait(&u->cond, &u->lock);
		struct task *t = u->queue;
		if (t == NULL)
			break; /* quit, and nothing left */
		u->queue = t->next;
		if (u->queue == NULL)
			u->queue_tail = &u->queue;
		pthread_mutex_unlock(&u->lock);
		run(t, http);
		br_loop_post(u->job->svc->loop, unpack_task_done, t);
		pthread_mutex_lock(&u->lock);
	}
	pthread_mutex_unlock(&u->lock);
	imaged_http_free(http);
	return NULL;
}

void
unpack_workers_start(struct unpack *u)
{
	pthread_mutex_init(&u->lock, NULL);
	pthread_cond_init(&u->cond, NULL);
	u->queue = NULL;
	u->queue_tail = &u->queue;
	u->quit = false;
	size_t want = u->n_workers < 64 ? u->n_workers : 64;
	while (u->n_threads < want &&
	       pthread_create(&u->threads[u->n_threads], NULL, worker_main, u) == 0)
		u->n_threads++;
}

void
unpack_task_queue(struct unpack *u, struct task *t)
{
	t->next = NULL;
	pthread_mutex_lock(&u->lock);
	*u->queue_tail = t;
	u->queue_tail = &t->next;
	pthread_cond_signal(&u->cond);
	pthread_mutex_unlock(&u->lock);
}

void
unpack_workers_stop(struct unpack *u)
{
	pthread_mutex_lock(&u->lock);
	u->quit = true;
	pthread_cond_broadcast(&u->cond);
	pthread_mutex_unlock(&u->lock);
	for (size_t i = 0; i < u->n_threads; i++)
		pthread_join(u->threads[i], NULL);
	u->n_threads = 0;
	pthread_cond_destroy(&u->cond);
	pthread_mutex_destroy(&u->lock);
}
