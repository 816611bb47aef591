/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unpacking an image's layers into snapshots, shared by pull and import: the loop's half
 * (unpack_int.h; the workers' half is unpack_worker.c).
 *
 * Each layer becomes a committed snapshot "berth.layer.<chain ID>", whose parent is the
 * previous layer's. A layer is unpacked into a scratch snapshot ("berth.extract.<random>-
 * <chain ID>") that is committed only once its diffID (and blob digest) proved right. Keys in
 * that space are made by daemons only (the front door refuses them), so a layer snapshot that
 * exists was made by an imaged and is reused.
 *
 * Everything here runs on the loop and never blocks: each call to contentd and snapshotd is
 * asynchronous, and each step goes on from the completion of the one before. First every
 * layer's blob and snapshot is added to the job's lease, which answers which of them are
 * missing: from then on no collection can take what the job found, and what it writes is held
 * as it appears. Then the layers are handed out, first first, to the job's workers
 * (imaged.max_concurrent_downloads of them for a pull, imaged.max_concurrent_unpacks for an
 * import). Before a layer's blob is fetched the loop claims it (one writer per blob in this
 * daemon: two pulls sharing a layer download it once) and asks contentd what it has of it:
 * a whole blob is not fetched again, a part is continued with an HTTP Range request. A layer
 * whose blob is missing is fetched and unpacked as it arrives (the bytes go to contentd and
 * into the snapshot in one pass, never read back; contentd checks the blob digest as it
 * commits them, the unpacker the diffID); a layer whose blob is in contentd is unpacked from
 * there. With overlayfs each layer unpacks on its own, into a snapshot without a parent, side
 * by side with the others (up to imaged.max_concurrent_unpacks at once); the loop commits them
 * in chain order, stacking each onto the previous one (snapshots.commit with a parent), after
 * a worker gave the directories a layer wrote into without listing them the attributes its
 * parents show there (apply.h). A snapshotter that copies parents into a child (native)
 * unpacks a layer only once its parent is committed; layers further on are fetched into
 * contentd meanwhile.
 *
 * The first failure stops the rest: workers drop what they do, and once nothing is
 * outstanding the extract snapshots of this unpack are removed (should that fail, the job's
 * lease is all that holds them) and the caller learns why.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/digest.h"
#include "common/random.h"
#include "common/proto/content.h"
#include "common/proto/snapshots.h"
#include "common/xalloc.h"
#include "imaged/unpack_int.h"

static void advance(struct unpack *u);
static void try_commit(struct unpack *u);
static void maybe_finish(struct unpack *u);

/* ------------------------------------------------------------------ bookkeeping */

/* Record the first failure: nothing new starts, workers drop what they do. */
static void
fail(struct unpack *u, const br_err *err)
{
	if (!u->failed) {
		u->failed = true;
		u->error = *err;
		atomic_store(&u->stop, true);
	}
	maybe_finish(u);
}

static void
fail_layer(struct layer *l, const br_err *err, const char *what)
{
	struct unpack *u = l->task.u;
	br_err e = *err;

	l->state = LAYER_FAILED;
	if (what != NULL && e.code != BR_CANCELED)
		br_err_wrap(&e, "%s %s", what, l->desc->digest);
	fail(u, &e);
}

/* A call or task of `u` came back. False when the unpack failed meanwhile: the caller only
 * tidies up what is its own. */
static bool
answered(struct unpack *u)
{
	u->busy--;
	if (!u->failed && imaged_job_canceled(u->job)) {
		br_err e = BR_ERR_INIT;
		br_err_set(&e, BR_CANCELED, "canceled");
		fail(u, &e);
	}
	if (u->failed) {
		maybe_finish(u);
		return false;
	}
	return true;
}

static void
call_snapshots(struct unpack *u, const char *method, const struct br_schema *ps, const void *params,
               const struct br_schema *rs, imaged_call_fn done, void *data)
{
	struct br_call_opts opts = imaged_snapshot_opts(u->job);

	u->busy++;
	imaged_call(u->job->svc, u->job->svc->snapshots, &opts, method, ps, params, rs, done, data);
}

static void
call_content(struct unpack *u, const char *method, const struct br_schema *ps, const void *params,
             const struct br_schema *rs, imaged_call_fn done, void *data)
{
	struct br_call_opts opts = imaged_content_opts(u->job);

	u->busy++;
	imaged_call(u->job->svc, u->job->svc->content, &opts, method, ps, params, rs, done, data);
}

static void
removed(void *data, const br_err *err, void *result)
{
	struct unpack *u = data;

	(void)err; /* if it failed, the job's lease is all that holds it */
	(void)result;
	u->busy--;
	maybe_finish(u);
}

/* Remove a scratch snapshot (an extract, a view); errors are left to the lease. */
static void
remove_snapshot(struct unpack *u, const char *key)
{
	struct br_snap_key_req req = {.key = key};

	call_snapshots(u, "snapshots.remove", &br_snap_key_req_schema, &req, NULL, removed, u);
}

static void
hand_out(struct layer *l)
{
	struct unpack *u = l->task.u;

	u->busy++;
	unpack_task_queue(u, &l->task);
}

static void
release_claim(struct layer *l)
{
	if (l->claimed)
		imaged_blob_release(l->task.u->job->svc, l->desc->digest);
	l->claimed = false;
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

/* ------------------------------------------------------------------ a layer's way to a worker */

static void
parse_mounts(struct layer *l, const struct br_snap_mounts_resp *resp, br_err *err)
{
	struct unpack *u = l->task.u;
	const struct br_mount *m = resp->mounts.v;
	struct task *t = &l->task;

	t->lower_dirs = NULL;
	t->n_lower_dirs = 0;
	if (resp->mounts.n != 1) {
		br_err_set(err, BR_INTERNAL, "snapshot %s: %zu mounts, expected one", l->extract,
		           resp->mounts.n);
		return;
	}
	if (strcmp(m->type, "bind") == 0) {
		/* A full tree, whiteouts delete; or, stacked, the layer's own directory. */
		l->extract_dir = xstrdup(m->source);
		t->whiteouts = u->stacked ? IMAGED_WHITEOUT_OVERLAY : IMAGED_WHITEOUT_DELETE;
		return;
	}
	if (strcmp(m->type, "overlay") == 0) {
		for (size_t i = 0; i < m->options.n; i++) {
			if (strncmp(m->options.v[i], "upperdir=", 9) == 0) {
				l->extract_dir = xstrdup(m->options.v[i] + 9);
				t->whiteouts = IMAGED_WHITEOUT_OVERLAY;
				l->mounts = br_arena_new();
				lower_dirs(m, l->mounts, &t->lower_dirs, &t->n_lower_dirs);
				return;
			}
		}
		br_err_set(err, BR_INTERNAL, "snapshot %s: overlay mount without upperdir",
		           l->extract);
		return;
	}
	br_err_set(err, BR_NOT_IMPLEMENTED,
	           "snapshot %s: unpacking into a \"%s\" mount is not supported", l->extract,
	           m->type);
}

/* The snapshot to unpack into exists: hand the layer to a worker. */
static void
prepared(void *data, const br_err *err, void *result)
{
	struct layer *l = data;
	struct unpack *u = l->task.u;
	br_err perr = BR_ERR_INIT;

	if (err != NULL) {
		free(l->extract);
		l->extract = NULL;
	} else {
		parse_mounts(l, result, &perr);
	}
	if (!answered(u))
		return;
	if (err != NULL) {
		fail_layer(l, err, "prepare snapshot for layer");
		return;
	}
	if (perr.code != BR_OK) {
		fail_layer(l, &perr, NULL);
		return;
	}
	l->task.dir = l->extract_dir;
	hand_out(l);
}

/* Prepare layer `l`'s extract snapshot: its own when stacked, else on its committed parent. */
static void
prepare(struct layer *l)
{
	struct unpack *u = l->task.u;
	char rnd[IMAGED_JOB_ID_LEN + 1];

	br_random_hex(rnd, IMAGED_JOB_ID_LEN / 2);
	l->extract = xasprintf(IMAGED_EXTRACT_PREFIX "%s-%s", rnd, l->chain_id);
	struct br_snap_prepare_req req = {.key = l->extract,
	                                  .parent = u->stacked ? NULL : l->parent};
	call_snapshots(u, "snapshots.prepare", &br_snap_prepare_req_schema, &req,
	               &br_snap_mounts_resp_schema, prepared, l);
}

/* A fetch is set up (l->offset is what contentd has): off to a worker, through a snapshot
 * for a stream. */
static void
start_fetch(struct layer *l)
{
	l->task.offset = l->offset;
	if (l->task.kind == TASK_STREAM)
		prepare(l);
	else
		hand_out(l);
}

/* The blob is in contentd already: fetched, or to be unpacked from there. */
static void
blob_present(struct layer *l)
{
	struct unpack *u = l->task.u;
	size_t i = (size_t)(l - u->layers);

	release_claim(l);
	imaged_job_progress(u->job, l->desc->size, 0);
	if (l->task.kind == TASK_FETCH) {
		u->working--;
		l->state = l->have_snapshot ? LAYER_DONE : LAYER_STORED;
		imaged_job_item_state(u->job, i,
		                      l->have_snapshot ? IMAGED_ITEM_DONE : IMAGED_ITEM_WAITING);
		advance(u);
		return;
	}
	l->task.kind = TASK_UNPACK;
	imaged_job_item_state(u->job, i, IMAGED_ITEM_UNPACKING);
	prepare(l);
}

/* A call of a layer's set-up came back: the layer, or NULL when the unpack failed meanwhile
 * (then the layer's claim is released). */
static struct layer *
setup_answer(void *data)
{
	struct layer *l = data;

	if (!answered(l->task.u)) {
		release_claim(l);
		return NULL;
	}
	return l;
}

/* The set-up of a fetch failed: the claim goes, and the unpack fails. */
static void
setup_fail(struct layer *l, const br_err *err)
{
	release_claim(l);
	fail_layer(l, err, "fetch layer");
}

static void
aborted(void *data, const br_err *err, void *result)
{
	struct layer *l = setup_answer(data);

	(void)result;
	if (l == NULL)
		return;
	if (err != NULL && err->code != BR_NOT_FOUND) {
		setup_fail(l, err);
		return;
	}
	l->offset = 0;
	start_fetch(l);
}

/* Drop what contentd has of the blob's ingest, and fetch it from its start. */
static void
abort_ingest(struct layer *l)
{
	struct unpack *u = l->task.u;
	char ref[IMAGED_INGEST_REF_BUF];
	imaged_ingest_ref(l->desc->digest, ref);
	struct br_content_ref_req req = {.ref = ref};

	call_content(u, "content.abort", &br_content_ref_req_schema, &req, NULL, aborted, l);
}

/* An ingest that had every byte, committed: the blob is there; or its bytes were wrong
 * (FAILED_PRECONDITION, contentd dropped the ingest): fetch it again. */
static void
whole_committed(void *data, const br_err *err, void *result)
{
	struct layer *l = setup_answer(data);

	(void)result;
	if (l == NULL)
		return;
	if (err == NULL || err->code == BR_ALREADY_EXISTS)
		blob_present(l);
	else if (err->code == BR_FAILED_PRECONDITION)
		abort_ingest(l);
	else
		setup_fail(l, err);
}

/* What contentd has of the blob's ingest ("blob-<hex>"): a part to continue, all of it (an
 * earlier writer died before its commit), another blob's bytes, or nothing. */
static void
ingest_status(void *data, const br_err *err, void *result)
{
	struct layer *l = setup_answer(data);
	const struct br_content_status *st = result;

	if (l == NULL)
		return;
	if (err != NULL && err->code != BR_NOT_FOUND) {
		setup_fail(l, err);
		return;
	}
	if (err != NULL) {
		l->offset = 0;
		start_fetch(l);
		return;
	}
	int64_t size = l->desc->size;
	bool same = st->expected != NULL && strcmp(st->expected, l->desc->digest) == 0 &&
	            (st->total == 0 || st->total == size) && st->offset <= size;
	if (!same) {
		abort_ingest(l);
		return;
	}
	if (st->offset > 0 && st->offset == size) {
		char ref[IMAGED_INGEST_REF_BUF];
		imaged_ingest_ref(l->desc->digest, ref);
		struct br_content_write_req req = {
		        .ref = ref,
		        .offset = size,
		        .total = size,
		        .expected = l->desc->digest,
		        .commit = true,
		};
		call_content(l->task.u, "content.write", &br_content_write_req_schema, &req, NULL,
		             whole_committed, l);
		return;
	}
	l->offset = st->offset;
	start_fetch(l);
}

static void
blob_info(void *data, const br_err *err, void *result)
{
	struct layer *l = setup_answer(data);

	(void)result;
	if (l == NULL)
		return;
	if (err == NULL) {
		blob_present(l); /* another job stored it meanwhile */
		return;
	}
	if (err->code != BR_NOT_FOUND) {
		setup_fail(l, err);
		return;
	}
	char ref[IMAGED_INGEST_REF_BUF];
	imaged_ingest_ref(l->desc->digest, ref);
	struct br_content_ref_req req = {.ref = ref};
	call_content(l->task.u, "content.status", &br_content_ref_req_schema, &req,
	             &br_content_status_schema, ingest_status, l);
}

/* The blob is this job's to write: is it there yet? */
static void
blob_claimed(void *data, const br_err *err)
{
	struct layer *l = data;
	struct unpack *u = l->task.u;

	if (err == NULL)
		l->claimed = true;
	if (setup_answer(l) == NULL)
		return;
	if (err != NULL) {
		fail_layer(l, err, "fetch layer");
		return;
	}
	struct br_content_digest_req req = {.digest = l->desc->digest};
	struct br_call_opts opts = {0};
	u->busy++;
	imaged_call(u->job->svc, u->job->svc->content, &opts, "content.info",
	            &br_content_digest_req_schema, &req, NULL, blob_info, l);
}

/* Start work `kind` on layer `l`. */
static void
start_layer(struct unpack *u, struct layer *l, enum task_kind kind)
{
	l->state = LAYER_WORKING;
	l->task.kind = kind;
	l->task.offset = 0;
	u->working++;
	if (kind != TASK_FETCH)
		u->unpacking++;
	if (kind == TASK_UNPACK) {
		imaged_job_item_state(u->job, (size_t)(l - u->layers), IMAGED_ITEM_UNPACKING);
		prepare(l);
		return;
	}
	u->busy++;
	imaged_blob_claim_async(u->job, l->desc->digest, blob_claimed, l);
}

/* Whether layer i may be unpacked now. */
static bool
may_unpack(const struct unpack *u, size_t i)
{
	if (u->unpacking >= u->max_unpacks)
		return false;
	return u->stacked || i == 0 || u->layers[i - 1].state == LAYER_DONE;
}

/* Hand out work while workers are free: the first layer there is work for, and what. */
static void
schedule(struct unpack *u)
{
	if (u->failed)
		return;
	while ((size_t)u->working < u->n_workers) {
		struct layer *pick = NULL;
		enum task_kind kind = TASK_FETCH;
		for (size_t i = 0; i < u->n && pick == NULL; i++) {
			struct layer *l = &u->layers[i];
			if (l->state == LAYER_PENDING) {
				pick = l;
				kind = !l->have_snapshot && may_unpack(u, i) ? TASK_STREAM
				                                             : TASK_FETCH;
			} else if (l->state == LAYER_STORED && may_unpack(u, i)) {
				pick = l;
				kind = TASK_UNPACK;
			}
		}
		if (pick == NULL)
			break;
		start_layer(u, pick, kind);
	}
}

/* Move on: commit what is next in line, hand out work. */
static void
advance(struct unpack *u)
{
	try_commit(u);
	schedule(u);
	if (u->busy == 0 && u->next_commit < u->n && !u->failed) {
		/* Nothing out and nothing startable: a bug, not a wait. */
		br_err e = BR_ERR_INIT;
		br_err_set(&e, BR_INTERNAL, "unpack: layer %zu of %zu can neither start nor end",
		           u->next_commit + 1, u->n);
		fail(u, &e);
	}
}

/* ------------------------------------------------------------------ back from a worker */

static void commit(struct layer *l);

void
unpack_task_done(void *arg)
{
	struct task *t = arg;
	struct layer *l = t->l;
	struct unpack *u = t->u;
	size_t i = (size_t)(l - u->layers);

	if (t->kind == TASK_FETCH || t->kind == TASK_STREAM)
		release_claim(l);
	if (t->kind != TASK_FIX) {
		u->working--;
		if (t->kind != TASK_FETCH)
			u->unpacking--;
	}
	if (t->kind == TASK_FIX) {
		remove_snapshot(u, l->view);
		free(l->view);
		l->view = NULL;
		br_arena_free(l->view_arena);
		l->view_arena = NULL;
	}
	if (t->rc < 0) {
		l->state = LAYER_FAILED;
		if (!u->failed)
			fail(u, &t->err);
	} else if (t->kind == TASK_FETCH) {
		l->state = l->have_snapshot ? LAYER_DONE : LAYER_STORED;
		imaged_job_item_state(u->job, i,
		                      l->have_snapshot ? IMAGED_ITEM_DONE : IMAGED_ITEM_WAITING);
	} else if (t->kind != TASK_FIX) {
		l->state = LAYER_READY;
	}
	if (!answered(u))
		return;
	if (t->kind == TASK_FIX) {
		commit(l);
		return;
	}
	advance(u);
}

/* ------------------------------------------------------------------ committing in order */

static void
committed(void *data, const br_err *err, void *result)
{
	struct layer *l = data;
	struct unpack *u = l->task.u;

	(void)result;
	if (err == NULL || err->code == BR_ALREADY_EXISTS) {
		/* Committed, the extract key is gone; or another job committed the same layer
		 * first (the lease holds it), and the extract goes. */
		if (err != NULL)
			remove_snapshot(u, l->extract);
		free(l->extract);
		l->extract = NULL;
		l->state = LAYER_DONE;
	}
	if (!answered(u))
		return;
	if (err != NULL && err->code != BR_ALREADY_EXISTS) {
		br_err e = *err;
		br_err_wrap(&e, "commit snapshot %s", l->key);
		fail_layer(l, &e, NULL);
		return;
	}
	imaged_job_item_state(u->job, (size_t)(l - u->layers), IMAGED_ITEM_DONE);
	imaged_implied_dirs_fini(&l->implied);
	advance(u); /* native: its child may unpack now */
}

static void
commit(struct layer *l)
{
	struct unpack *u = l->task.u;
	bool onto_parent = u->stacked && l->parent != NULL;
	struct br_snap_commit_req req = {
	        .name = l->key,
	        .key = l->extract,
	        .parent = onto_parent ? l->parent : NULL,
	};

	call_snapshots(u, "snapshots.commit", &br_snap_commit_req_schema, &req, NULL, committed, l);
}

/* The parents are in view: a worker gives the implied directories their attributes. */
static void
viewed(void *data, const br_err *err, void *result)
{
	struct layer *l = data;
	struct unpack *u = l->task.u;
	const struct br_snap_mounts_resp *resp = result;
	struct task *t = &l->task;
	bool usable = false;

	if (err != NULL) {
		free(l->view);
		l->view = NULL;
	} else if (resp->mounts.n == 1) {
		const struct br_mount *m = resp->mounts.v;
		l->view_arena = br_arena_new();
		if (strcmp(m->type, "bind") == 0) {
			const char **v = br_arena_alloc(l->view_arena, sizeof(*v));
			v[0] = br_arena_strdup(l->view_arena, m->source);
			t->lower_dirs = v;
			t->n_lower_dirs = 1;
			usable = true;
		} else if (strcmp(m->type, "overlay") == 0) {
			t->n_lower_dirs = 0;
			lower_dirs(m, l->view_arena, &t->lower_dirs, &t->n_lower_dirs);
			usable = t->n_lower_dirs > 0;
		}
	}
	if (!answered(u))
		return;
	if (err != NULL) {
		fail_layer(l, err, "view the parents of layer");
		return;
	}
	if (!usable) {
		br_err e = BR_ERR_INIT;
		br_err_set(&e, BR_INTERNAL, "snapshot %s: unexpected mounts", l->view);
		fail_layer(l, &e, NULL);
		return;
	}
	t->kind = TASK_FIX;
	t->dir = l->extract_dir;
	hand_out(l);
}

/* Put layer `l` (READY, its turn) in its place: first, when stacked, its implied
 * directories take the attributes its parents show (only layers that have such directories
 * pay for the view of their parents). */
static void
start_commit(struct layer *l)
{
	struct unpack *u = l->task.u;
	char rnd[IMAGED_JOB_ID_LEN + 1];

	l->state = LAYER_COMMITTING;
	imaged_job_step(u->job, "unpack layer %s (%zu/%zu)", l->desc->digest,
	                (size_t)(l - u->layers) + 1, u->n);
	if (!u->stacked || l->parent == NULL || l->implied.n == 0) {
		commit(l);
		return;
	}
	br_random_hex(rnd, IMAGED_JOB_ID_LEN / 2);
	l->view = xasprintf(IMAGED_EXTRACT_PREFIX "%s-parents", rnd);
	struct br_snap_prepare_req req = {.key = l->view, .parent = l->parent};
	call_snapshots(u, "snapshots.view", &br_snap_prepare_req_schema, &req,
	               &br_snap_mounts_resp_schema, viewed, l);
}

static void
try_commit(struct unpack *u)
{
	if (u->failed)
		return;
	while (u->next_commit < u->n && u->layers[u->next_commit].state == LAYER_DONE)
		u->next_commit++;
	if (u->next_commit == u->n) {
		maybe_finish(u);
		return;
	}
	struct layer *l = &u->layers[u->next_commit];
	if (l->state == LAYER_READY)
		start_commit(l);
}

/* ------------------------------------------------------------------ the end */

/* The end, on its own turn of the loop: whatever called maybe_finish may still look at `u`. */
static void
finish(void *arg)
{
	struct unpack *u = arg;
	char chain_id[BR_DIGEST_BUF] = "";

	unpack_workers_stop(u);
	for (size_t i = 0; i < u->n; i++) {
		struct layer *l = &u->layers[i];
		free(l->extract);
		free(l->extract_dir);
		free(l->view);
		br_arena_free(l->mounts);
		br_arena_free(l->view_arena);
		imaged_implied_dirs_fini(&l->implied);
	}
	if (!u->failed)
		memcpy(chain_id, u->layers[u->n - 1].chain_id, BR_DIGEST_BUF);
	u->done(u->done_data, u->failed ? &u->error : NULL, chain_id);
	free(u->layers);
	free(u);
}

/* Once nothing is outstanding: the end, after removing the extract snapshots of a failure. */
static void
maybe_finish(struct unpack *u)
{
	if (u->finished || u->busy > 0)
		return;
	if (!u->failed && u->next_commit < u->n)
		return;
	if (u->failed && !u->cleaned) {
		u->cleaned = true;
		for (size_t i = 0; i < u->n; i++) {
			struct layer *l = &u->layers[i];
			if (l->extract != NULL)
				remove_snapshot(u, l->extract);
			if (l->view != NULL)
				remove_snapshot(u, l->view);
		}
		if (u->busy > 0)
			return;
	}
	u->finished = true;
	br_loop_post(u->job->svc->loop, finish, u);
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

/* ------------------------------------------------------------------ the start */

/* The layers whose blob and snapshot the job's lease now holds; which exist. */
struct survey {
	struct unpack *u;
	const char **digests;
	const char **keys;
	bool *blob_missing;
	bool *snap_missing;
};

static void
survey_free(struct survey *s)
{
	free(s->digests);
	free(s->keys);
	free(s->blob_missing);
	free(s->snap_missing);
	free(s);
}

static void
snapshots_held(void *data, const br_err *err)
{
	struct survey *s = data;
	struct unpack *u = s->u;
	int64_t to_fetch = 0;

	if (!answered(u)) {
		survey_free(s);
		return;
	}
	if (err != NULL) {
		fail(u, err);
		survey_free(s);
		return;
	}
	for (size_t i = 0; i < u->n; i++) {
		struct layer *l = &u->layers[i];
		l->have_snapshot = !s->snap_missing[i];
		if (!s->blob_missing[i]) {
			l->state = l->have_snapshot ? LAYER_DONE : LAYER_STORED;
			if (l->have_snapshot)
				imaged_job_item_state(u->job, i, IMAGED_ITEM_EXISTS);
		} else if (u->reg == NULL) {
			br_err e = BR_ERR_INIT;
			br_err_set(&e, BR_NOT_FOUND, "layer %s: blob not found", l->desc->digest);
			survey_free(s);
			fail(u, &e);
			return;
		} else {
			l->state = LAYER_PENDING;
			to_fetch += l->desc->size;
		}
	}
	survey_free(s);
	imaged_job_progress(u->job, 0, to_fetch);

	size_t work = 0;
	for (size_t i = 0; i < u->n; i++)
		work += u->layers[i].state == LAYER_PENDING || u->layers[i].state == LAYER_STORED;
	if (u->n_workers > work)
		u->n_workers = work;
	unpack_workers_start(u);
	if (work > 0 && u->n_threads == 0) {
		br_err e = BR_ERR_INIT;
		br_err_set(&e, BR_RESOURCE_EXHAUSTED, "unpack: no worker thread could be started");
		fail(u, &e);
		return;
	}
	if (u->n_threads < u->n_workers)
		u->n_workers = u->n_threads;
	advance(u);
}

static void
blobs_held(void *data, const br_err *err)
{
	struct survey *s = data;
	struct unpack *u = s->u;

	if (!answered(u)) {
		survey_free(s);
		return;
	}
	if (err != NULL) {
		fail(u, err);
		survey_free(s);
		return;
	}
	u->busy++;
	imaged_hold_async(u->job, true, s->keys, u->n, s->snap_missing, snapshots_held, s);
}

static void
start_on_loop(void *arg)
{
	struct unpack *u = arg;
	struct survey *s = xnew(struct survey);

	s->u = u;
	s->digests = xcalloc(u->n, sizeof(*s->digests));
	s->keys = xcalloc(u->n, sizeof(*s->keys));
	s->blob_missing = xcalloc(u->n, sizeof(bool));
	s->snap_missing = xcalloc(u->n, sizeof(bool));
	for (size_t i = 0; i < u->n; i++) {
		s->digests[i] = u->layers[i].desc->digest;
		s->keys[i] = u->layers[i].key;
	}
	u->busy++;
	imaged_hold_async(u->job, false, s->digests, u->n, s->blob_missing, blobs_held, s);
}

void
imaged_unpack_start(struct imaged_job *job, struct imaged_registry *reg,
                    const struct br_oci_manifest *m, const struct br_oci_image_config *config,
                    imaged_unpack_fn done, void *data)
{
	const struct br_config *cfg = job->svc->cfg;
	struct unpack *u = xnew(struct unpack);
	br_err err = BR_ERR_INIT;

	u->job = job;
	u->reg = reg;
	u->n = m->n_layers;
	u->stacked = strcmp(cfg->snapshotd.snapshotter, "overlayfs") == 0;
	u->max_unpacks = cfg->imaged.max_concurrent_unpacks;
	u->n_workers = (size_t)(reg != NULL ? cfg->imaged.max_concurrent_downloads
	                                    : cfg->imaged.max_concurrent_unpacks);
	u->done = done;
	u->done_data = data;
	u->cancel.flags[0] = &job->cancel;
	u->cancel.flags[1] = &u->stop;
	atomic_init(&u->stop, false);
	if (check_layers(m, config, &err) == 0 && m->n_layers == 0)
		br_err_set(&err, BR_INVALID_ARGUMENT, "the image has no layers");
	if (err.code != BR_OK) {
		u->failed = true;
		u->error = err;
		u->finished = true;
		u->n = 0;
		u->n_workers = 0;
		unpack_workers_start(u); /* none: finish stops them alike */
		br_loop_post(job->svc->loop, finish, u);
		return;
	}
	u->layers = xcalloc(u->n, sizeof(*u->layers));
	for (size_t i = 0; i < u->n; i++) {
		struct layer *l = &u->layers[i];
		l->desc = &m->layers[i];
		l->diff_id = config->diff_ids[i];
		br_oci_chain_id(config->diff_ids, i + 1, l->chain_id);
		imaged_layer_key(l->chain_id, l->key);
		l->parent = i > 0 ? u->layers[i - 1].key : NULL;
		l->task.u = u;
		l->task.l = l;
	}
	imaged_job_items_init(job, u->n);
	for (size_t i = 0; i < u->n; i++)
		imaged_job_item_set(job, i, m->layers[i].digest, m->layers[i].size);
	br_loop_post(job->svc->loop, start_on_loop, u);
}

/* imaged_unpack for a job thread: the unpack runs on the loop, the thread waits for it. */
struct unpack_wait {
	struct imaged_job *job;
	struct imaged_registry *reg;
	const struct br_oci_manifest *m;
	const struct br_oci_image_config *config;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool done;
	br_err err;
	char chain_id[BR_DIGEST_BUF];
};

static void
waited(void *data, const br_err *err, const char *chain_id)
{
	struct unpack_wait *w = data;

	pthread_mutex_lock(&w->mu);
	if (err != NULL)
		w->err = *err;
	else
		memcpy(w->chain_id, chain_id, BR_DIGEST_BUF);
	w->done = true;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

static void
wait_start(void *arg)
{
	struct unpack_wait *w = arg;

	imaged_unpack_start(w->job, w->reg, w->m, w->config, waited, w);
}

int
imaged_unpack(struct imaged_job *job, struct imaged_registry *reg, const struct br_oci_manifest *m,
              const struct br_oci_image_config *config, char ret_chain_id[BR_DIGEST_BUF],
              br_err *err)
{
	struct unpack_wait w = {.job = job, .reg = reg, .m = m, .config = config};

	pthread_mutex_init(&w.mu, NULL);
	pthread_cond_init(&w.cv, NULL);
	br_loop_post(job->svc->loop, wait_start, &w);
	pthread_mutex_lock(&w.mu);
	while (!w.done)
		pthread_cond_wait(&w.cv, &w.mu);
	pthread_mutex_unlock(&w.mu);
	pthread_cond_destroy(&w.cv);
	pthread_mutex_destroy(&w.mu);
	if (w.err.code != BR_OK) {
		br_err_copy(err, &w.err);
		return -1;
	}
	memcpy(ret_chain_id, w.chain_id, BR_DIGEST_BUF);
	return 0;
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
