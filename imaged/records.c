/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Image records and the leases that follow them. A record and its leases change in one
 * transaction of imaged's database: the image's lease in contentd (the blobs of its target,
 * manifest, config and layers) and in snapshotd (its layers' snapshots) is recorded and queued
 * in the outbox with the record, and a finished job's own lease is queued for deletion after
 * them, so a store never sees the job's lease go before the image's holds what it held.
 * Removing a record queues the deletion of its leases. The stores collect what is no longer
 * held on their own.
 */
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/db.h"
#include "common/digest.h"
#include "common/log.h"
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
	int rc;
	br_err err;
};

/* The image's leases, the record, and the end of the job's lease, in one transaction. */
static int
store_tx(struct store_op *op)
{
	struct imaged_service *svc = op->svc;
	struct br_lease_owner *o = &svc->owner;
	char lease[IMAGED_LEASE_BUF];
	const char *keys[] = {"berth.image"};
	const char *values[] = {op->img->name};
	struct br_strmap labels = {keys, values, 1};
	br_err *err = &op->err;

	imaged_image_lease(op->img->name, lease);
	if (imaged_store_put_image(svc->db, op->ns, op->img, err) < 0 ||
	    br_lease_owner_put(o, "contentd", op->ns, lease, &labels, &op->blobs, err) < 0 ||
	    br_lease_owner_put(o, "snapshotd", op->ns, lease, &labels, &op->snapshots, err) < 0)
		return -1;
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
imaged_store_image(struct imaged_job *job, const struct br_image *img,
                   const struct br_oci_manifest *m, const struct br_oci_image_config *config,
                   br_err *err)
{
	br_arena *arena = br_arena_new();
	size_t nl = m->n_layers;
	struct br_lease_resource *blobs = br_arena_alloc(arena, (nl + 3) * sizeof(*blobs));
	struct br_lease_resource *snaps = br_arena_alloc(arena, (nl + 1) * sizeof(*snaps));
	struct br_image rec = *img;
	size_t n_blobs = 0;
	char top[IMAGED_KEY_BUF] = "";

	add_blob(blobs, &n_blobs, img->target.digest);
	add_blob(blobs, &n_blobs, img->manifest_digest);
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
	};
	br_loop_call(job->svc->loop, store_on_loop, &op);
	br_arena_free(arena);
	if (op.rc < 0) {
		br_err_copy(err, &op.err);
		return br_err_wrap(err, "store image \"%s\"", img->name);
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
