/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Image records and the leases that follow them. A record and its leases change in one
 * transaction of imaged's database: the image's lease in contentd (the blobs of its target,
 * manifest, config and layers) and in snapshotd (its layers' snapshots) is recorded and queued
 * in the outbox with the record, and a finished job's own lease is queued for deletion after
 * them, so a store never sees the job's lease go before the image's holds what it held.
 * Removing a record queues the deletion of its leases. A tag is a record of the same image
 * under another name, with leases of its own that hold what the source's hold. The stores
 * collect what is no longer held on their own.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/db.h"
#include "common/digest.h"
#include "common/log.h"
#include "common/msg.h"
#include "common/proto/leases.h"
#include "common/xalloc.h"
#include "imaged/imaged.h"

void
imaged_image_lease(const char *name, char out[IMAGED_LEASE_BUF])
{
	char digest[BR_DIGEST_BUF];

	br_digest_buf(name, strlen(name), digest);
	snprintf(out, IMAGED_LEASE_BUF, "image-%s", br_digest_hex(digest));
}

struct store_op {
	struct imaged_service *svc;
	struct imaged_job *job;
	const char *ns;
	const struct br_image *img;
	struct br_objlist blobs, snapshots;
	bool keep_job_lease; /* more images of the same job follow */
	int rc;
	br_err err;
};

/* Record and queue the image leases of `name` in both stores. Inside a transaction. */
static int
put_image_leases(struct imaged_service *svc, const char *ns, const char *name,
                 const struct br_objlist *blobs, const struct br_objlist *snapshots, br_err *err)
{
	char lease[IMAGED_LEASE_BUF];
	const char *keys[] = {"berth.image"};
	const char *values[] = {name};
	struct br_strmap labels = {keys, values, 1};

	imaged_image_lease(name, lease);
	if (br_lease_owner_put(&svc->owner, "contentd", ns, lease, &labels, blobs, err) < 0 ||
	    br_lease_owner_put(&svc->owner, "snapshotd", ns, lease, &labels, snapshots, err) < 0)
		return -1;
	return 0;
}

/* The image's leases, the record, and the end of the job's lease, in one transaction. */
static int
store_tx(struct store_op *op)
{
	struct imaged_service *svc = op->svc;
	struct br_lease_owner *o = &svc->owner;
	br_err *err = &op->err;

	if (imaged_store_put_image(svc->db, op->ns, op->img, err) < 0 ||
	    put_image_leases(svc, op->ns, op->img->name, &op->blobs, &op->snapshots, err) < 0)
		return -1;
	if (op->keep_job_lease)
		return 0;
	if (br_lease_owner_drop(o, "contentd", op->ns, op->job->lease, err) < 0 ||
	    br_lease_owner_drop(o, "snapshotd", op->ns, op->job->lease, err) < 0)
		return -1;
	return 0;
}

static void
store_on_loop(void *arg)
{
	struct store_op *op = arg;
	struct imaged_service *svc = op->svc;

	op->rc = br_db_begin(svc->db, &op->err);
	if (op->rc == 0 && store_tx(op) < 0) {
		br_db_rollback(svc->db);
		op->rc = -1;
	}
	if (op->rc == 0)
		op->rc = br_db_commit(svc->db, &op->err);
	if (op->rc == 0) {
		if (!op->keep_job_lease)
			op->job->lease_ended = true; /* renewing it now would create it again */
		br_outbox_kick(svc->outbox);
	}
}

/* Append `digest` to the content resources unless it is there already. */
static void
add_blob(struct br_lease_resource *v, size_t *n, const char *digest)
{
	if (digest == NULL || digest[0] == '\0')
		return;
	for (size_t i = 0; i < *n; i++)
		if (strcmp(v[i].key, digest) == 0)
			return;
	v[(*n)++] = (struct br_lease_resource){"content", digest};
}

int
imaged_store_image(struct imaged_job *job, const char *name, const struct br_descriptor *target,
                   const char *manifest_digest, const char *chain_id,
                   const struct br_oci_manifest *m, const struct br_oci_image_config *config,
                   bool keep_job_lease, br_err *err)
{
	if (imaged_job_canceled(job))
		return br_err_set(err, BR_CANCELED, "canceled");
	imaged_job_step(job, "store image %s", name);
	int64_t size = m->config.size;
	for (size_t i = 0; i < m->n_layers; i++)
		size += m->layers[i].size;
	_cleanup_free_ char *platform_s =
	        imaged_platform_string(config->os, config->architecture, config->variant);
	struct br_image rec = {
	        .name = name,
	        .target = *target,
	        .manifest_digest = manifest_digest,
	        .config_digest = m->config.digest,
	        .chain_id = chain_id,
	        .platform = platform_s,
	        .size = size,
	};
	br_arena *arena = br_arena_new();
	size_t nl = m->n_layers;
	struct br_lease_resource *blobs = br_arena_alloc(arena, (nl + 3) * sizeof(*blobs));
	struct br_lease_resource *snaps = br_arena_alloc(arena, (nl + 1) * sizeof(*snaps));
	size_t n_blobs = 0;
	char top[IMAGED_KEY_BUF] = "";

	add_blob(blobs, &n_blobs, rec.target.digest);
	add_blob(blobs, &n_blobs, rec.manifest_digest);
	add_blob(blobs, &n_blobs, m->config.digest);
	for (size_t i = 0; i < nl; i++) {
		char chain[BR_DIGEST_BUF];
		char *key = br_arena_alloc(arena, IMAGED_KEY_BUF);
		add_blob(blobs, &n_blobs, m->layers[i].digest);
		br_oci_chain_id(config->diff_ids, i + 1, chain);
		imaged_layer_key(chain, key);
		snaps[i] = (struct br_lease_resource){"snapshots", key};
		snprintf(top, sizeof(top), "%s", key);
	}
	rec.snapshot = top;
	struct store_op op = {
	        .svc = job->svc,
	        .job = job,
	        .ns = job->ns,
	        .img = &rec,
	        .blobs = {blobs, n_blobs},
	        .snapshots = {snaps, nl},
	        .keep_job_lease = keep_job_lease,
	};
	if (br_loop_on_thread(job->svc->loop))
		store_on_loop(&op);
	else
		br_loop_call(job->svc->loop, store_on_loop, &op);
	br_arena_free(arena);
	if (op.rc < 0) {
		br_err_copy(err, &op.err);
		return br_err_wrap(err, "store image \"%s\"", rec.name);
	}
	return 0;
}

int
imaged_remove_image(struct imaged_service *svc, const char *ns, const char *name, br_err *err)
{
	char lease[IMAGED_LEASE_BUF];

	imaged_image_lease(name, lease);
	if (br_db_begin(svc->db, err) < 0)
		return -1;
	if (imaged_store_remove_image(svc->db, ns, name, err) < 0 ||
	    br_lease_owner_delete(&svc->owner, "contentd", ns, lease, err) < 0 ||
	    br_lease_owner_delete(&svc->owner, "snapshotd", ns, lease, err) < 0) {
		br_db_rollback(svc->db);
		return -1;
	}
	if (br_db_commit(svc->db, err) < 0)
		return -1;
	br_outbox_kick(svc->outbox);
	return 0;
}

/* ---- tags ---- */

/* The resources that lease `id` of `ns` in store `daemon` holds, as recorded (owned_leases),
 * in `arena`; an empty list when it is not recorded. Inside a transaction. */
static int
recorded_resources(struct imaged_service *svc, const char *daemon, const char *ns, const char *id,
                   br_arena *arena, struct br_objlist *ret, br_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	struct br_lease_put_req put;
	msgpack_object obj;

	if (br_db_prepare(
	            svc->db,
	            "SELECT put FROM owned_leases WHERE target = ? AND namespace = ? AND id = ?",
	            &st, err) < 0)
		return -1;
	sqlite3_bind_text(st, 1, daemon, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, ns, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, id, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		*ret = (struct br_objlist){0};
		return 0;
	}
	if (rc != SQLITE_ROW)
		return br_db_error(svc->db, rc, err, "lease %s", id);
	size_t len = (size_t)sqlite3_column_bytes(st, 0);
	void *buf = br_arena_alloc(arena, len + 1);
	memcpy(buf, sqlite3_column_blob(st, 0), len);
	if (br_msg_unpack(buf, len, arena, &obj, err) < 0 ||
	    br_msg_decode(&obj, &br_lease_put_req_schema, "put", arena, &put, err) < 0)
		return br_err_wrap(err, "recorded lease %s of %s", id, daemon);
	*ret = put.resources;
	return 0;
}

/* The labels of `src` with berth.source set to where the image came from: the source's own
 * berth.source if it has one, else its name. In `arena`. */
static struct br_strmap
tag_labels(const struct br_image *src, br_arena *arena)
{
	const char *origin = src->name;
	size_t n = src->labels.n;
	const char **keys = br_arena_alloc(arena, (n + 1) * sizeof(*keys));
	const char **values = br_arena_alloc(arena, (n + 1) * sizeof(*values));
	size_t k = 0;

	for (size_t i = 0; i < n; i++) {
		if (strcmp(src->labels.keys[i], IMAGED_LABEL_SOURCE) == 0) {
			origin = src->labels.values[i];
			continue;
		}
		keys[k] = src->labels.keys[i];
		values[k++] = src->labels.values[i];
	}
	keys[k] = IMAGED_LABEL_SOURCE;
	values[k++] = origin;
	return (struct br_strmap){keys, values, k};
}

/* The record and the leases of the tag, inside a transaction. */
static int
tag_tx(struct imaged_service *svc, const char *ns, const char *source, const char *target,
       br_arena *arena, struct br_image *ret, br_err *err)
{
	char lease[IMAGED_LEASE_BUF];
	struct br_objlist blobs, snaps;
	struct br_image img;

	if (imaged_store_get_image(svc->db, ns, source, arena, &img, err) < 0)
		return -1;
	imaged_image_lease(source, lease);
	if (recorded_resources(svc, "contentd", ns, lease, arena, &blobs, err) < 0 ||
	    recorded_resources(svc, "snapshotd", ns, lease, arena, &snaps, err) < 0)
		return -1;
	if (blobs.n == 0) {
		/* A record from before leases whose backfill has not run: hold what it names. */
		struct br_lease_resource *b = br_arena_alloc(arena, 3 * sizeof(*b));
		size_t n = 0;
		add_blob(b, &n, img.target.digest);
		add_blob(b, &n, img.manifest_digest);
		add_blob(b, &n, img.config_digest);
		blobs = (struct br_objlist){b, n};
	}
	if (snaps.n == 0 && img.snapshot != NULL && img.snapshot[0] != '\0') {
		struct br_lease_resource *sn = br_arena_alloc(arena, sizeof(*sn));
		*sn = (struct br_lease_resource){"snapshots", img.snapshot};
		snaps = (struct br_objlist){sn, 1};
	}
	img.labels = tag_labels(&img, arena);
	img.name = target;
	if (imaged_store_put_image(svc->db, ns, &img, err) < 0 ||
	    put_image_leases(svc, ns, target, &blobs, &snaps, err) < 0)
		return -1;
	*ret = img;
	return 0;
}

int
imaged_tag_image(struct imaged_service *svc, const char *ns, const char *source, const char *target,
                 br_arena *arena, struct br_image *ret, br_err *err)
{
	struct br_image img;

	if (strcmp(source, target) == 0)
		return imaged_store_get_image(svc->db, ns, source, arena, ret, err);
	if (br_db_begin(svc->db, err) < 0)
		return -1;
	if (tag_tx(svc, ns, source, target, arena, &img, err) < 0) {
		br_db_rollback(svc->db);
		return -1;
	}
	if (br_db_commit(svc->db, err) < 0)
		return -1;
	br_outbox_kick(svc->outbox);
	/* As stored: created_at and updated_at. */
	return imaged_store_get_image(svc->db, ns, target, arena, ret, err);
}

void
imaged_drop_job_lease(struct imaged_service *svc, const struct imaged_job *job)
{
	br_err err = BR_ERR_INIT;

	if (br_db_begin(svc->db, &err) == 0) {
		if (br_lease_owner_drop(&svc->owner, "contentd", job->ns, job->lease, &err) < 0 ||
		    br_lease_owner_drop(&svc->owner, "snapshotd", job->ns, job->lease, &err) < 0)
			br_db_rollback(svc->db);
		else
			br_db_commit(svc->db, &err);
	}
	if (err.code != BR_OK) {
		/* The lease expires on its own. */
		br_log_warn("IMAGE-LEASE", "job %s: drop lease %s: %s", job->id, job->lease,
		            err.msg);
		return;
	}
	br_outbox_kick(svc->outbox);
}

/* ---- records from before leases ----
 *
 * Image records written before leases existed are held by nothing, and the stores would
 * collect their bytes. At start, each gets its image leases in two steps: at once, from the
 * record, its target, manifest and config blobs and its top layer snapshot (snapshotd keeps the
 * parents); then, once contentd answers, the layer blobs its manifest names. The list of such
 * records (lease_backfill) only shrinks once the second step is done, so a stop in between
 * resumes at the next start.
 */

struct backfill_item {
	const char *ns, *name, *manifest; /* in the run's arena */
	const char **layers;              /* the manifest's layer blobs, once read */
	size_t n_layers;
};

struct imaged_backfill_run {
	struct imaged_service *svc;
	uv_work_t work;
	atomic_bool stop;
	br_arena *arena; /* the loop's until the work is queued, then the worker's */
	struct backfill_item *items;
	size_t n;
	struct backfill_item *current; /* handed to the loop by backfill_apply */
};

static void
add_resource(struct br_lease_resource *v, size_t *n, const char *type, const char *key)
{
	if (key != NULL && key[0] != '\0')
		v[(*n)++] = (struct br_lease_resource){type, key};
}

/* The leases of `img` with the blobs its record names, plus `layers`. Inside a transaction. */
static int
backfill_put(struct imaged_service *svc, const char *ns, const struct br_image *img,
             const char *const *layers, size_t n_layers, br_arena *arena, br_err *err)
{
	struct br_lease_resource *blobs = br_arena_alloc(arena, (n_layers + 3) * sizeof(*blobs));
	struct br_lease_resource snap[1];
	size_t n_blobs = 0, n_snaps = 0;

	add_blob(blobs, &n_blobs, img->target.digest);
	add_blob(blobs, &n_blobs, img->manifest_digest);
	add_blob(blobs, &n_blobs, img->config_digest);
	for (size_t i = 0; i < n_layers; i++)
		add_blob(blobs, &n_blobs, layers[i]);
	add_resource(snap, &n_snaps, "snapshots", img->snapshot);
	struct br_objlist b = {blobs, n_blobs}, sn = {snap, n_snaps};
	return put_image_leases(svc, ns, img->name, &b, &sn, err);
}

/* Loop thread: the second step for r->current, if its record is still the one read. */
static void
backfill_apply(void *arg)
{
	struct imaged_backfill_run *r = arg;
	struct imaged_service *svc = r->svc;
	const struct backfill_item *it = r->current;
	br_arena *arena = br_arena_new();
	br_err err = BR_ERR_INIT;
	struct br_image img;
	int rc = br_db_begin(svc->db, &err);

	if (rc == 0) {
		rc = imaged_store_get_image(svc->db, it->ns, it->name, arena, &img, &err);
		if (rc == 0 && img.manifest_digest != NULL &&
		    strcmp(img.manifest_digest, it->manifest) == 0)
			rc = backfill_put(svc, it->ns, &img, it->layers, it->n_layers, arena, &err);
		else if (rc < 0 && err.code == BR_NOT_FOUND)
			rc = 0; /* removed meanwhile: its leases went with it */
		if (rc == 0)
			rc = imaged_store_backfill_done(svc->db, it->ns, it->name, &err);
		if (rc < 0)
			br_db_rollback(svc->db);
		else
			rc = br_db_commit(svc->db, &err);
	}
	if (rc < 0)
		br_log_warn("IMAGE-BACKFILL", "image \"%s\" (%s): %s; the next start retries",
		            it->name, it->ns, err.msg);
	else
		br_outbox_kick(svc->outbox);
	br_arena_free(arena);
}

/* Read the manifest of `it` from contentd, waiting while contentd is unavailable. False when
 * stopping or when the manifest cannot be read (logged). */
static bool
read_layers(struct imaged_backfill_run *r, struct backfill_item *it)
{
	_cleanup_free_ char *buf = NULL;
	size_t len = 0;
	br_err err = BR_ERR_INIT;

	while (!atomic_load(&r->stop)) {
		br_err_clear(&err);
		if (imaged_blob_get(r->svc, it->manifest, BR_OCI_MAX_DOC, &buf, &len, &err) == 0)
			break;
		if (err.code != BR_UNAVAILABLE && err.code != BR_DEADLINE_EXCEEDED) {
			br_log_warn(
			        "IMAGE-BACKFILL",
			        "image \"%s\" (%s): manifest %s: %s; only what the record names is "
			        "held",
			        it->name, it->ns, it->manifest, err.msg);
			return true; /* nothing more can be learnt: finish with what is known */
		}
		for (int i = 0; i < 10 && !atomic_load(&r->stop); i++)
			usleep(100 * 1000);
	}
	if (atomic_load(&r->stop))
		return false;
	_cleanup_(br_oci_manifest_freep) struct br_oci_manifest *m = NULL;
	if (br_oci_manifest_parse(buf, len, NULL, &m, &err) < 0) {
		br_log_warn("IMAGE-BACKFILL", "image \"%s\" (%s): manifest %s: %s", it->name,
		            it->ns, it->manifest, err.msg);
		return true;
	}
	it->layers = br_arena_alloc(r->arena, (m->n_layers + 1) * sizeof(*it->layers));
	for (size_t i = 0; i < m->n_layers; i++)
		it->layers[i] = br_arena_strdup(r->arena, m->layers[i].digest);
	it->n_layers = m->n_layers;
	return true;
}

static void
backfill_work(uv_work_t *work)
{
	struct imaged_backfill_run *r = work->data;

	for (size_t i = 0; i < r->n; i++) {
		if (!read_layers(r, &r->items[i]))
			return;
		r->current = &r->items[i];
		br_loop_call(r->svc->loop, backfill_apply, r);
	}
}

static void
backfill_done(uv_work_t *work, int status)
{
	struct imaged_backfill_run *r = work->data;

	r->svc->inflight--;
	r->svc->backfill = NULL;
	br_arena_free(r->arena);
	free(r);
}

/* The first step, in one transaction; 0 with nothing to do. */
static int
backfill_first(struct imaged_backfill_run *r, br_err *err)
{
	struct imaged_service *svc = r->svc;
	struct imaged_backfill *rows;
	size_t n;

	if (imaged_store_backfill_list(svc->db, r->arena, &rows, &n, err) < 0)
		return -1;
	if (n == 0)
		return 0;
	r->items = br_arena_alloc(r->arena, n * sizeof(*r->items));
	if (br_db_begin(svc->db, err) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		struct br_image img;
		if (imaged_store_get_image(svc->db, rows[i].ns, rows[i].name, r->arena, &img, err) <
		            0 ||
		    backfill_put(svc, rows[i].ns, &img, NULL, 0, r->arena, err) < 0) {
			br_db_rollback(svc->db);
			return -1;
		}
		r->items[r->n++] = (struct backfill_item){
		        .ns = rows[i].ns,
		        .name = rows[i].name,
		        .manifest = img.manifest_digest != NULL ? img.manifest_digest : "",
		};
	}
	if (br_db_commit(svc->db, err) < 0)
		return -1;
	br_outbox_kick(svc->outbox);
	return 0;
}

void
imaged_backfill_start(struct imaged_service *svc)
{
	struct imaged_backfill_run *r = xnew(struct imaged_backfill_run);
	br_err err = BR_ERR_INIT;

	r->svc = svc;
	r->arena = br_arena_new();
	atomic_init(&r->stop, false);
	if (backfill_first(r, &err) < 0 || r->n == 0) {
		if (err.code != BR_OK)
			br_log_error("IMAGE-BACKFILL", "%s; the next start retries", err.msg);
		br_arena_free(r->arena);
		free(r);
		return;
	}
	br_log_notice("IMAGE-BACKFILL", "%zu image records from before leases: holding their bytes",
	              r->n);
	r->work.data = r;
	svc->backfill = r;
	svc->inflight++;
	uv_queue_work(svc->uv, &r->work, backfill_work, backfill_done);
}

void
imaged_backfill_stop(struct imaged_service *svc)
{
	if (svc->backfill != NULL)
		atomic_store(&svc->backfill->stop, true);
}
