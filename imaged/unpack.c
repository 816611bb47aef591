/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unpacking an image's layers into snapshots, shared by pull and import.
 *
 * Each layer becomes a committed snapshot "berth.layer.<chain ID>", whose parent is the
 * previous layer's. A layer is unpacked into a scratch snapshot ("berth.extract.<random>-
 * <chain ID>") that is committed only once its diffID (and blob digest) proved right. Keys in
 * that space are made by daemons only (the front door refuses them), so a layer snapshot that
 * exists was made by an imaged and is reused.
 *
 * First every layer's blob and snapshot is added to the job's lease, which answers which of
 * them are missing: from then on no collection can take what the job found, and what it
 * writes is held as it appears.
 *
 * Then worker threads (imaged.max_concurrent_downloads for a pull, imaged.max_concurrent_
 * unpacks for an import) take the layers, first first. A layer whose blob is missing is
 * fetched and unpacked as it arrives: the bytes go to contentd and into the snapshot in one
 * pass, never read back. contentd checks the blob digest as it commits them (at the stream's
 * end, before the unpack can succeed); the unpacker hashes the diffID. A layer whose blob is in
 * contentd is unpacked from there. With overlayfs each layer unpacks on its own, into a snapshot
 * without a parent, side by side with the others (up to imaged.max_concurrent_unpacks at once); the
 * job's thread commits them in chain order, stacking each onto the previous one (snapshots.commit
 * with a parent), after giving the directories a layer wrote into without listing them the
 * attributes its parents show there (apply.h). A snapshotter that copies parents into a child
 * (native) unpacks a layer only once its parent is committed; layers further on are fetched
 * into contentd meanwhile.
 *
 * A blob that an interrupted job left half written in contentd is continued with an HTTP
 * Range request and then unpacked from contentd. An extract snapshot whose digests turn out
 * wrong is removed. A download that breaks off within a job is continued by the registry
 * client itself (registry.h), so the unpacker reading it sees one unbroken stream and the
 * hashes run over the joined bytes.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/proto/snapshots.h"
#include "common/xalloc.h"
#include "imaged/apply.h"
#include "imaged/imaged.h"

enum layer_state {
	LAYER_PENDING = 0, /* its blob is not in contentd; nobody works on it */
	LAYER_STORED,      /* its blob is in contentd, its snapshot is still to be made */
	LAYER_WORKING,     /* a worker fetches or unpacks it */
	LAYER_READY,       /* unpacked and verified into `extract`, to be committed in order */
	LAYER_DONE,        /* blob in contentd and snapshot committed */
	LAYER_FAILED,
};

struct layer {
	const struct br_oci_descriptor *desc;
	const char *diff_id;
	char chain_id[BR_DIGEST_BUF];
	char key[IMAGED_KEY_BUF]; /* its snapshot */
	const char *parent;       /* the previous layer's snapshot key, NULL for the first */
	bool have_snapshot;
	enum layer_state state;
	char *extract;                      /* READY: the scratch snapshot it is in */
	char *extract_dir;                  /* ... and that snapshot's directory */
	struct imaged_implied_dirs implied; /* READY, stacked: directories to fix at commit */
};

struct unpack {
	struct imaged_job *job;
	struct imaged_registry *reg;
	struct layer *layers;
	size_t n;
	bool stacked;    /* layers unpack without parents and are stacked at commit */
	int max_unpacks; /* layers unpacked at once */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int unpacking; /* workers unpacking now (lock) */
	bool failed;   /* (lock) a layer failed; `error` says why */
	br_err error;
	atomic_bool stop;
	struct imaged_cancel cancel;
};

/* ------------------------------------------------------------------ downloads */

/* A registry download written to contentd and passed on: the layer source of a streamed
 * unpack, or the loop of a plain download. The job holds the blob's claim meanwhile. */
struct tee {
	struct unpack *u;
	const struct layer *l;
	struct imaged_fetch *fetch;
	struct imaged_ingest *ingest;
	int64_t received; /* bytes of the blob contentd has or was sent */
	bool ended;
	bool claimed;
	bool exists; /* the blob is in contentd (another job wrote it meanwhile, or the ingest
	              * had every byte and was committed): nothing to fetch */
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
	if (t->claimed)
		imaged_blob_release(t->u->job->svc, t->l->desc->digest);
	t->fetch = NULL;
	t->ingest = NULL;
	t->claimed = false;
}

/*
 * An ingest that has every byte of its blob (its writer died between the last write and the
 * commit) needs no download, and a request for the bytes after its end would be answered
 * 416: commit it. Bytes that do not hash to the digest are dropped with the ingest by
 * contentd (FAILED_PRECONDITION), and the ingest starts over. 1 when the blob is stored, 0
 * when the ingest is empty again.
 */
static int
commit_whole(struct imaged_ingest *w, br_err *err)
{
	br_err cerr = BR_ERR_INIT;

	if (imaged_ingest_commit(w, &cerr) == 0)
		return 1;
	if (cerr.code != BR_FAILED_PRECONDITION) {
		br_err_copy(err, &cerr);
		return -1;
	}
	return imaged_ingest_restart(w, err) < 0 ? -1 : 0;
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

/*
 * Claim layer `l`'s blob, and unless it is in contentd (t->exists: it appeared meanwhile, or
 * its ingest was whole and is now committed) open its ingest, continuing what contentd has of
 * it, and the registry download of the rest. t->received > 0 says contentd had part of it:
 * then the layer is better unpacked from contentd once whole.
 */
static int
tee_open(struct unpack *u, struct imaged_http *http, const struct layer *l, struct tee *t,
         br_err *err)
{
	struct imaged_service *svc = u->job->svc;
	bool have = false;

	memset(t, 0, sizeof(*t));
	t->u = u;
	t->l = l;
	if (imaged_blob_claim(svc, l->desc->digest, &u->cancel, err) < 0)
		return -1;
	t->claimed = true;
	if (imaged_blob_exists(svc->content, l->desc->digest, &have, err) < 0)
		goto fail;
	if (have) {
		t->exists = true;
		return 0;
	}
	if (imaged_ingest_new(u->job, l->desc->digest, l->desc->size, &t->ingest, err) < 0)
		goto fail;
	int64_t offset = imaged_ingest_offset(t->ingest);
	if (offset > 0 && offset == l->desc->size) {
		int rc = commit_whole(t->ingest, err);
		if (rc < 0)
			goto fail;
		if (rc > 0) {
			t->exists = true;
			imaged_job_progress(u->job, l->desc->size, 0);
			return 0;
		}
		offset = 0;
	}
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

/* Fetch layer `l` into contentd without unpacking it. */
static int
download(struct unpack *u, struct imaged_http *http, const struct layer *l, br_err *err)
{
	struct tee t;
	const void *buf;
	ssize_t n = 0;

	if (tee_open(u, http, l, &t, err) < 0)
		return br_err_wrap(err, "fetch layer %s", l->desc->digest);
	if (!t.exists)
		while ((n = tee_read(&t, &buf, err)) > 0)
			;
	tee_close(&t);
	if (n < 0)
		return br_err_wrap(err, "fetch layer %s", l->desc->digest);
	return 0;
}

/* ------------------------------------------------------------------ snapshots */

static int
snapshot_call(struct unpack *u, const char *method, const struct br_schema *ps, const void *params,
              const struct br_schema *rs, void *ret, br_arena *arena, br_err *err)
{
	struct br_call_opts opts = imaged_snapshot_opts(u->job);

	return br_rpc_call(u->job->svc->snapshots, &opts, method, ps, params, rs, ret, arena, err);
}

/* Remove a scratch snapshot now; if that fails, the job's lease is all that holds it and
 * the store collects it once the lease goes. */
static void
snapshot_remove(struct unpack *u, const char *key)
{
	struct br_snap_key_req req = {.key = key};
	br_arena *arena = br_arena_new();
	br_err ignored = BR_ERR_INIT;

	snapshot_call(u, "snapshots.remove", &br_snap_key_req_schema, &req, NULL, NULL, arena,
	              &ignored);
	br_arena_free(arena);
}

/* The lowerdir= entries of an overlay mount's options, nearest first, in `arena`. */
static void
lower_dirs(const struct br_mount *m, br_arena *arena, const char *const **ret, size_t *ret_n)
{
	for (size_t i = 0; i < m->options.n; i++) {
		const char *o = m->options.v[i];
		if (strncmp(o, "lowerdir=", 9) != 0)
			continue;
		char *list = br_arena_strdup(arena, o + 9);
		size_t n = 1;
		for (const char *p = list; *p != '\0'; p++)
			n += *p == ':';
		const char **v = br_arena_alloc(arena, n * sizeof(*v));
		char *save = NULL;
		n = 0;
		for (char *tok = strtok_r(list, ":", &save); tok != NULL;
		     tok = strtok_r(NULL, ":", &save))
			v[n++] = tok;
		*ret = v;
		*ret_n = n;
		return;
	}
}

/* ------------------------------------------------------------------ unpacking */

/* The directory a layer is unpacked into, from the mounts of its extract snapshot: the bind
 * source (a full tree: whiteouts delete; or, stacked, the layer's own directory: whiteouts
 * as overlayfs reads them, implied parents recorded) or the overlay upperdir (whiteouts as
 * overlayfs reads them; its lower directories give implied parents their attributes). */
static int
writable_dir(const struct unpack *u, const struct br_snap_mounts_resp *resp, const char *key,
             br_arena *arena, const char **ret_dir, struct imaged_apply_opts *opts, br_err *err)
{
	const struct br_mount *m = resp->mounts.v;

	if (resp->mounts.n != 1)
		return br_err_set(err, BR_INTERNAL, "snapshot %s: %zu mounts, expected one", key,
		                  resp->mounts.n);
	if (strcmp(m->type, "bind") == 0) {
		*ret_dir = m->source;
		opts->whiteouts = u->stacked ? IMAGED_WHITEOUT_OVERLAY : IMAGED_WHITEOUT_DELETE;
		return 0;
	}
	if (strcmp(m->type, "overlay") == 0) {
		for (size_t i = 0; i < m->options.n; i++) {
			if (strncmp(m->options.v[i], "upperdir=", 9) == 0) {
				*ret_dir = m->options.v[i] + 9;
				opts->whiteouts = IMAGED_WHITEOUT_OVERLAY;
				lower_dirs(m, arena, &opts->lower_dirs, &opts->n_lower_dirs);
				return 0;
			}
		}
		return br_err_set(err, BR_INTERNAL, "snapshot %s: overlay mount without upperdir",
		                  key);
	}
	return br_err_set(err, BR_NOT_IMPLEMENTED,
	                  "snapshot %s: unpacking into a \"%s\" mount is not supported", key,
	                  m->type);
}

/* Unpack layer `l` into a new extract snapshot (its own when stacked, else on its committed
 * parent) and verify it: READY for its commit. With `tee`, the layer streams from the
 * registry (and into contentd); else it is read from contentd. Worker thread. */
static int
extract(struct unpack *u, struct layer *l, struct tee *tee, br_err *err)
{
	char rnd[IMAGED_JOB_ID_LEN + 1];
	struct br_snap_mounts_resp mounts;
	struct imaged_apply_result res;
	const char *dir = NULL;
	int rc;

	imaged_random_id(rnd);
	char *key = xasprintf(IMAGED_EXTRACT_PREFIX "%s-%s", rnd, l->chain_id);
	struct br_snap_prepare_req prep = {.key = key, .parent = u->stacked ? NULL : l->parent};
	br_arena *arena = br_arena_new();
	if (snapshot_call(u, "snapshots.prepare", &br_snap_prepare_req_schema, &prep,
	                  &br_snap_mounts_resp_schema, &mounts, arena, err) < 0) {
		br_arena_free(arena);
		free(key);
		return br_err_wrap(err, "prepare snapshot for layer %s", l->desc->digest);
	}
	struct imaged_apply_opts opts = {
	        .layer = l->desc->digest,
	        .compression = br_oci_layer_compression(l->desc->media_type),
	        .implied = u->stacked ? &l->implied : NULL,
	        .blob_checked = true, /* by contentd, as it stores the bytes or did */
	};
	rc = writable_dir(u, &mounts, key, arena, &dir, &opts, err);
	int root_fd = rc < 0 ? -1 : open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (rc == 0 && root_fd < 0)
		rc = br_err_errno(err, br_code_from_errno(errno), errno, "open snapshot %s at %s",
		                  key, dir);
	if (rc == 0) {
		struct imaged_blob_reader reader = {
		        .content = u->job->svc->content,
		        .ns = u->job->ns,
		        .digest = l->desc->digest,
		        .cancel = &u->cancel,
		};
		if (tee != NULL)
			rc = imaged_apply_layer(root_fd, tee_read, tee, &opts, &res, err);
		else
			rc = imaged_apply_layer(root_fd, imaged_blob_read, &reader, &opts, &res,
			                        err);
		imaged_blob_reader_fini(&reader);
		close(root_fd);
	}
	imaged_job_item_state(u->job, (size_t)(l - u->layers), IMAGED_ITEM_VERIFYING);
	if (rc == 0)
		rc = imaged_apply_verify(&res, l->desc->digest, NULL, l->diff_id, err);
	if (rc == 0 && res.size != l->desc->size)
		rc = br_err_set(err, BR_FAILED_PRECONDITION,
		                "layer %s: %lld bytes, but the manifest says %lld", l->desc->digest,
		                (long long)res.size, (long long)l->desc->size);
	if (rc == 0) {
		l->extract = key;
		l->extract_dir = xstrdup(dir);
	} else {
		imaged_implied_dirs_fini(&l->implied);
		snapshot_remove(u, key);
		free(key);
	}
	br_arena_free(arena);
	return rc;
}

/*
 * Give the directories that stacked layer `l` wrote into without listing them the attributes
 * its parents show there: the parents' directories are those of a view of the parent, which
 * is removed again. Only layers with such directories pay for the view.
 */
static int
fix_implied(struct unpack *u, struct layer *l, br_err *err)
{
	char rnd[IMAGED_JOB_ID_LEN + 1];
	struct br_snap_mounts_resp mounts;
	const char *const *lowers = NULL;
	size_t n_lowers = 0;
	int rc = 0;

	imaged_random_id(rnd);
	_cleanup_free_ char *key = xasprintf(IMAGED_EXTRACT_PREFIX "%s-parents", rnd);
	struct br_snap_prepare_req view = {.key = key, .parent = l->parent};
	br_arena *arena = br_arena_new();
	if (snapshot_call(u, "snapshots.view", &br_snap_prepare_req_schema, &view,
	                  &br_snap_mounts_resp_schema, &mounts, arena, err) < 0) {
		br_arena_free(arena);
		return br_err_wrap(err, "view the parents of layer %s", l->desc->digest);
	}
	const struct br_mount *m = mounts.mounts.v;
	if (mounts.mounts.n == 1 && strcmp(m->type, "bind") == 0) {
		lowers = (const char *const *)&m->source;
		n_lowers = 1;
	} else if (mounts.mounts.n == 1 && strcmp(m->type, "overlay") == 0) {
		lower_dirs(m, arena, &lowers, &n_lowers);
	} else {
		rc = br_err_set(err, BR_INTERNAL, "snapshot %s: unexpected mounts", key);
	}
	int root_fd = -1;
	if (rc == 0) {
		root_fd = open(l->extract_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (root_fd < 0)
			rc = br_err_errno(err, br_code_from_errno(errno), errno,
			                  "open snapshot %s at %s", l->extract, l->extract_dir);
	}
	if (rc == 0)
		rc = imaged_apply_implied_dirs(root_fd, &l->implied, lowers, n_lowers,
		                               l->desc->digest, err);
	if (root_fd >= 0)
		close(root_fd);
	br_arena_free(arena);
	snapshot_remove(u, key);
	return rc;
}

/* Commit layer `l`'s extract snapshot as the layer's key, in chain order. Job thread. */
static int
commit_layer(struct unpack *u, struct layer *l, br_err *err)
{
	bool onto_parent = u->stacked && l->parent != NULL;
	int rc = 0;

	if (onto_parent && l->implied.n > 0)
		rc = fix_implied(u, l, err);
	if (rc == 0) {
		struct br_snap_commit_req commit = {
		        .name = l->key,
		        .key = l->extract,
		        .parent = onto_parent ? l->parent : NULL,
		};
		br_err cerr = BR_ERR_INIT;
		br_arena *arena = br_arena_new();
		rc = snapshot_call(u, "snapshots.commit", &br_snap_commit_req_schema, &commit, NULL,
		                   NULL, arena, &cerr);
		br_arena_free(arena);
		if (rc < 0 && cerr.code == BR_ALREADY_EXISTS) {
			rc = 0; /* another job committed the same layer first; the lease holds it */
			snapshot_remove(u, l->extract);
		} else if (rc < 0) {
			br_err_copy(err, &cerr);
			br_err_wrap(err, "commit snapshot %s", l->key);
		}
	}
	if (rc < 0)
		snapshot_remove(u, l->extract);
	free(l->extract);
	free(l->extract_dir);
	l->extract = l->extract_dir = NULL;
	imaged_implied_dirs_fini(&l->implied);
	return rc;
}

/* ------------------------------------------------------------------ workers */

enum action {
	ACT_FETCH,  /* fetch the blob into contentd only */
	ACT_STREAM, /* fetch it and unpack it as it arrives */
	ACT_UNPACK, /* unpack it from contentd */
};

/* Whether layer i may be unpacked now. Lock held. */
static bool
may_unpack(const struct unpack *u, size_t i)
{
	if (u->unpacking >= u->max_unpacks)
		return false;
	return u->stacked || i == 0 || u->layers[i - 1].state == LAYER_DONE;
}

/* The first layer there is work for, and what; NULL if none now. Lock held. */
static struct layer *
pick(struct unpack *u, enum action *ret)
{
	for (size_t i = 0; i < u->n; i++) {
		struct layer *l = &u->layers[i];
		if (l->state == LAYER_PENDING) {
			*ret = !l->have_snapshot && may_unpack(u, i) ? ACT_STREAM : ACT_FETCH;
			return l;
		}
		if (l->state == LAYER_STORED && may_unpack(u, i)) {
			*ret = ACT_UNPACK;
			return l;
		}
	}
	return NULL;
}

/* Whether a layer is left that a worker could take later. Lock held. */
static bool
work_left(const struct unpack *u)
{
	for (size_t i = 0; i < u->n; i++)
		if (u->layers[i].state == LAYER_PENDING || u->layers[i].state == LAYER_STORED)
			return true;
	return false;
}

/* Fetch layer `l` and unpack it as it arrives; a blob that contentd holds (whole or in part)
 * is completed there and unpacked from it. */
static int
stream_layer(struct unpack *u, struct imaged_http *http, struct layer *l, br_err *err)
{
	struct tee tee;
	int rc;

	if (tee_open(u, http, l, &tee, err) < 0)
		return br_err_wrap(err, "fetch layer %s", l->desc->digest);
	if (tee.exists || tee.received > 0) {
		const void *buf;
		ssize_t n = 0;
		if (!tee.exists)
			while ((n = tee_read(&tee, &buf, err)) > 0)
				;
		tee_close(&tee);
		if (n < 0)
			return br_err_wrap(err, "fetch layer %s", l->desc->digest);
		imaged_job_item_state(u->job, (size_t)(l - u->layers), IMAGED_ITEM_UNPACKING);
		return extract(u, l, NULL, err);
	}
	rc = extract(u, l, &tee, err);
	tee_close(&tee);
	return rc;
}

static int
run_action(struct unpack *u, struct imaged_http *http, struct layer *l, enum action act,
           br_err *err)
{
	switch (act) {
	case ACT_FETCH:
		return download(u, http, l, err);
	case ACT_STREAM:
		return stream_layer(u, http, l, err);
	case ACT_UNPACK:
		imaged_job_item_state(u->job, (size_t)(l - u->layers), IMAGED_ITEM_UNPACKING);
		return extract(u, l, NULL, err);
	}
	return br_err_set(err, BR_INTERNAL, "unknown action %d", (int)act);
}

/* A worker: take the first layer there is work for, until none is left or one failed. */
static void *
worker_main(void *arg)
{
	struct unpack *u = arg;
	struct imaged_http *http = u->reg != NULL ? imaged_http_new() : NULL;

	pthread_mutex_lock(&u->lock);
	while (!u->failed && !atomic_load(&u->stop)) {
		enum action act;
		struct layer *l = pick(u, &act);
		if (l == NULL) {
			if (!work_left(u))
				break;
			pthread_cond_wait(&u->cond,
			                  &u->lock); /* for a parent, or a free unpacker */
			continue;
		}
		l->state = LAYER_WORKING;
		if (act != ACT_FETCH)
			u->unpacking++;
		pthread_mutex_unlock(&u->lock);

		br_err err = BR_ERR_INIT;
		int rc = run_action(u, http, l, act, &err);

		pthread_mutex_lock(&u->lock);
		if (act != ACT_FETCH)
			u->unpacking--;
		size_t i = (size_t)(l - u->layers);
		if (rc < 0) {
			l->state = LAYER_FAILED;
			if (!u->failed) { /* the first failure is the one to tell; it stops the rest
				           */
				u->failed = true;
				u->error = err;
				atomic_store(&u->stop, true);
			}
		} else if (act != ACT_FETCH) {
			l->state = LAYER_READY;
		} else if (l->have_snapshot) {
			l->state = LAYER_DONE;
			imaged_job_item_state(u->job, i, IMAGED_ITEM_DONE);
		} else {
			l->state = LAYER_STORED;
			imaged_job_item_state(u->job, i, IMAGED_ITEM_WAITING);
		}
		pthread_cond_broadcast(&u->cond);
	}
	pthread_mutex_unlock(&u->lock);
	imaged_http_free(http);
	return NULL;
}

/* Wait for layer i to be READY or DONE, and commit it. Job thread. */
static int
settle_layer(struct unpack *u, size_t i, br_err *err)
{
	struct layer *l = &u->layers[i];

	pthread_mutex_lock(&u->lock);
	while (!u->failed && l->state != LAYER_READY && l->state != LAYER_DONE &&
	       !imaged_job_canceled(u->job)) {
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += 200 * 1000000L; /* a cancel is noticed within this */
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&u->cond, &u->lock, &until);
	}
	enum layer_state state = l->state;
	bool failed = u->failed;
	if (failed)
		br_err_copy(err, &u->error);
	pthread_mutex_unlock(&u->lock);
	if (failed)
		return -1;
	if (state == LAYER_DONE)
		return 0;
	if (state != LAYER_READY)
		return br_err_set(err, BR_CANCELED, "canceled");
	imaged_job_step(u->job, "unpack layer %s (%zu/%zu)", l->desc->digest, i + 1, u->n);
	int rc = commit_layer(u, l, err);
	pthread_mutex_lock(&u->lock);
	l->state = rc == 0 ? LAYER_DONE : LAYER_FAILED;
	pthread_cond_broadcast(&u->cond); /* a child may be unpacked now (native) */
	pthread_mutex_unlock(&u->lock);
	if (rc == 0)
		imaged_job_item_state(u->job, i, IMAGED_ITEM_DONE);
	return rc;
}

static int
check_layers(const struct br_oci_manifest *m, const struct br_oci_image_config *config, br_err *err)
{
	if (config->n_diff_ids != m->n_layers)
		return br_err_set(
		        err, BR_INVALID_ARGUMENT,
		        "the image config lists %zu diffIDs for the manifest's %zu layers",
		        config->n_diff_ids, m->n_layers);
	for (size_t i = 0; i < m->n_layers; i++) {
		const struct br_oci_descriptor *d = &m->layers[i];
		if (br_oci_layer_compression(d->media_type) < 0)
			return br_err_set(
			        err, BR_NOT_IMPLEMENTED,
			        "layer %s: media type \"%s\" is not a supported layer type",
			        d->digest, d->media_type ? d->media_type : "");
	}
	return 0;
}

/* Hold every layer's blob and snapshot in the job's lease and learn which exist. */
static int
survey(struct unpack *u, br_err *err)
{
	const char **digests = xcalloc(u->n, sizeof(*digests));
	const char **keys = xcalloc(u->n, sizeof(*keys));
	bool *blob_missing = xcalloc(u->n, sizeof(bool));
	bool *snap_missing = xcalloc(u->n, sizeof(bool));
	int64_t to_fetch = 0;
	int rc;

	for (size_t i = 0; i < u->n; i++) {
		digests[i] = u->layers[i].desc->digest;
		keys[i] = u->layers[i].key;
	}
	rc = imaged_hold_blobs(u->job, digests, u->n, blob_missing, err);
	if (rc == 0)
		rc = imaged_hold_snapshots(u->job, keys, u->n, snap_missing, err);
	for (size_t i = 0; rc == 0 && i < u->n; i++) {
		struct layer *l = &u->layers[i];
		l->have_snapshot = !snap_missing[i];
		if (!blob_missing[i]) {
			l->state = l->have_snapshot ? LAYER_DONE : LAYER_STORED;
			if (l->have_snapshot)
				imaged_job_item_state(u->job, i, IMAGED_ITEM_EXISTS);
		} else if (u->reg == NULL) {
			rc = br_err_set(err, BR_NOT_FOUND, "layer %s: blob not found",
			                l->desc->digest);
		} else {
			to_fetch += l->desc->size;
		}
	}
	free(digests);
	free(keys);
	free(blob_missing);
	free(snap_missing);
	if (rc == 0)
		imaged_job_progress(u->job, 0, to_fetch);
	return rc;
}

/* Workers for the layers that need one: a pull's downloads, or an import's unpackers. */
static size_t
start_workers(struct unpack *u, pthread_t *threads, size_t max_threads)
{
	const struct br_config *cfg = u->job->svc->cfg;
	size_t want = (size_t)(u->reg != NULL ? cfg->imaged.max_concurrent_downloads
	                                      : cfg->imaged.max_concurrent_unpacks);
	size_t work = 0, n = 0;

	for (size_t i = 0; i < u->n; i++)
		work += u->layers[i].state == LAYER_PENDING || u->layers[i].state == LAYER_STORED;
	want = want < work ? want : work;
	want = want < max_threads ? want : max_threads;
	while (n < want && pthread_create(&threads[n], NULL, worker_main, u) == 0)
		n++;
	return n;
}

int
imaged_unpack(struct imaged_job *job, struct imaged_registry *reg, const struct br_oci_manifest *m,
              const struct br_oci_image_config *config, char ret_chain_id[BR_DIGEST_BUF],
              br_err *err)
{
	const struct br_config *cfg = job->svc->cfg;
	struct unpack u = {
	        .job = job,
	        .reg = reg,
	        .n = m->n_layers,
	        .stacked = strcmp(cfg->snapshotd.snapshotter, "overlayfs") == 0,
	        .max_unpacks = cfg->imaged.max_concurrent_unpacks,
	};
	pthread_t threads[64];
	size_t n_threads = 0;
	int rc = 0;

	if (check_layers(m, config, err) < 0)
		return -1;
	if (m->n_layers == 0)
		return br_err_set(err, BR_INVALID_ARGUMENT, "the image has no layers");
	u.layers = xcalloc(u.n, sizeof(*u.layers));
	for (size_t i = 0; i < u.n; i++) {
		struct layer *l = &u.layers[i];
		l->desc = &m->layers[i];
		l->diff_id = config->diff_ids[i];
		br_oci_chain_id(config->diff_ids, i + 1, l->chain_id);
		imaged_layer_key(l->chain_id, l->key);
		l->parent = i > 0 ? u.layers[i - 1].key : NULL;
	}
	imaged_job_items_init(job, u.n);
	for (size_t i = 0; i < u.n; i++)
		imaged_job_item_set(job, i, m->layers[i].digest, m->layers[i].size);
	pthread_mutex_init(&u.lock, NULL);
	pthread_cond_init(&u.cond, NULL);
	u.cancel.flags[0] = &job->cancel;
	u.cancel.flags[1] = &u.stop;

	rc = survey(&u, err);
	if (rc == 0)
		n_threads = start_workers(&u, threads, sizeof(threads) / sizeof(threads[0]));
	for (size_t i = 0; rc == 0 && i < u.n; i++)
		rc = settle_layer(&u, i, err);
	pthread_mutex_lock(&u.lock);
	atomic_store(&u.stop, true);
	pthread_cond_broadcast(&u.cond);
	pthread_mutex_unlock(&u.lock);
	for (size_t t = 0; t < n_threads; t++)
		pthread_join(threads[t], NULL);
	for (size_t i = 0; i < u.n; i++) { /* unpacked, not committed: the job failed */
		struct layer *l = &u.layers[i];
		if (l->extract != NULL)
			snapshot_remove(&u, l->extract);
		free(l->extract);
		free(l->extract_dir);
		imaged_implied_dirs_fini(&l->implied);
	}
	if (rc == 0)
		memcpy(ret_chain_id, u.layers[u.n - 1].chain_id, BR_DIGEST_BUF);
	pthread_cond_destroy(&u.cond);
	pthread_mutex_destroy(&u.lock);
	free(u.layers);
	return rc;
}

/* ------------------------------------------------------------------ names */

void
imaged_layer_key(const char *chain_id, char out[IMAGED_KEY_BUF])
{
	snprintf(out, IMAGED_KEY_BUF, IMAGED_LAYER_PREFIX "%s", chain_id);
}

char *
imaged_platform_string(const char *os, const char *arch, const char *variant)
{
	if (variant != NULL && variant[0] != '\0')
		return xasprintf("%s/%s/%s", os ? os : "", arch ? arch : "", variant);
	return xasprintf("%s/%s", os ? os : "", arch ? arch : "");
}
