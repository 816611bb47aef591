/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The push job: an image record's documents and blobs, from contentd to a repository of a
 * registry, by the OCI distribution spec. Every blob (configs and layers; nondistributable
 * layers aside) is asked for first (HEAD) and skipped when the repository has it; else it is
 * mounted from another repository of the same registry that is known to hold it (the one the
 * image came from), and else uploaded: in one PUT up to imaged.push_chunk_threshold bytes,
 * in PATCHes of imaged.push_chunk_size bytes above, each following the Location and Range the
 * registry answers. Blob bytes are streamed from contentd as they are sent, never held whole.
 * Then the platform manifests go by digest, and the index or manifest the image names last,
 * under the tag, with its exact bytes so that its digest stays the same.
 *
 * Everything the push reads is held by the job's lease from the start, so a removal of the
 * image meanwhile cannot take its blobs away mid-push.
 */
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/ref.h"
#include "common/xalloc.h"
#include "imaged/imaged.h"

#define UPLOAD_MEDIA_TYPE "application/octet-stream"
#define MAX_MOUNT_SOURCES 2
#define MAX_MANIFESTS 64 /* platform manifests of one index that a push sends */

void
imaged_push_arg_free(void *arg)
{
	struct imaged_push_arg *a = arg;

	if (a == NULL)
		return;
	free(a->name);
	free(a->dest);
	free(a->platform);
	imaged_creds_fini(&a->creds);
	free(a);
}

/* A document to send: a platform manifest, or the index or manifest the tag names. */
struct push_doc {
	char digest[BR_DIGEST_BUF];
	const char *media_type;
	char *body;
	size_t len;
	struct br_oci_manifest *manifest; /* parsed, when it is a manifest */
};

struct push {
	struct imaged_job *job;
	struct imaged_registry *reg;
	struct imaged_http *http;
	struct imaged_cancel cancel;
	const char *mount_from[MAX_MOUNT_SOURCES]; /* repositories of the same registry */
	size_t n_mount_from;
	int64_t threshold, chunk_size;
	size_t item; /* the blob being sent: its index in the job's progress */
};

/* `n` more bytes of the current blob reached the registry. */
static void
sent(struct push *p, int64_t n)
{
	imaged_job_progress(p->job, n, 0);
	imaged_job_item_progress(p->job, p->item, n);
}

/* ------------------------------------------------------------------ the record */

struct get_op {
	struct imaged_service *svc;
	const char *ns, *name;
	br_arena *arena;
	struct br_image img;
	int rc;
	br_err err;
};

static void
get_on_loop(void *arg)
{
	struct get_op *op = arg;

	op->rc = imaged_store_get_image(op->svc->db, op->ns, op->name, op->arena, &op->img,
	                                &op->err);
}

static void
drop_lease_on_loop(void *arg)
{
	struct imaged_job *job = arg;

	if (!job->lease_ended)
		imaged_drop_job_lease(job->svc, job);
	job->lease_ended = true;
}

/* ------------------------------------------------------------------ blobs */

/* HEAD blobs/<digest>: whether the repository has the blob. */
static int
blob_exists(struct push *p, const char *digest, bool *ret, br_err *err)
{
	_cleanup_free_ char *path = xasprintf("blobs/%s", digest);
	struct imaged_request req = {.method = "HEAD", .path = path, .not_found_ok = true};
	struct imaged_response resp;

	if (imaged_registry_request(p->reg, p->http, &req, &p->cancel, &resp, err) < 0)
		return -1;
	*ret = resp.status != 404;
	imaged_response_fini(&resp);
	return 0;
}

/*
 * Start an upload of `digest`: a mount from one of p->mount_from first. *ret_mounted when the
 * registry mounted it (201); otherwise *ret_location is the URL of the upload session it
 * opened (a refused mount opens one too: 202).
 */
static int
upload_start(struct push *p, const char *digest, bool *ret_mounted, char **ret_location,
             br_err *err)
{
	struct imaged_response resp;

	for (size_t i = 0; i < p->n_mount_from; i++) {
		_cleanup_free_ char *q = imaged_url_add_query("blobs/uploads/", "mount", digest);
		_cleanup_free_ char *path = imaged_url_add_query(q, "from", p->mount_from[i]);
		struct imaged_request req = {.method = "POST", .path = path};
		br_err merr = BR_ERR_INIT;

		imaged_job_step(p->job, "mount %s from %s", digest, p->mount_from[i]);
		if (imaged_registry_request(p->reg, p->http, &req, &p->cancel, &resp, &merr) < 0) {
			if (merr.code == BR_CANCELED) {
				br_err_copy(err, &merr);
				return -1;
			}
			continue; /* a registry that refuses mounts outright: upload instead */
		}
		if (resp.status == 201) {
			imaged_response_fini(&resp);
			*ret_mounted = true;
			return 0;
		}
		/* Refused (202): the session it opened is used, if its Location is usable. */
		int rc = imaged_registry_location(p->reg, resp.location, ret_location, &merr);
		imaged_response_fini(&resp);
		if (rc < 0)
			continue;
		*ret_mounted = false;
		return 0;
	}
	struct imaged_request req = {.method = "POST", .path = "blobs/uploads/"};
	if (imaged_registry_request(p->reg, p->http, &req, &p->cancel, &resp, err) < 0)
		return -1;
	int rc = imaged_registry_location(p->reg, resp.location, ret_location, err);
	imaged_response_fini(&resp);
	if (rc < 0)
		return br_err_wrap(err, "POST %s/blobs/uploads/", imaged_registry_url(p->reg));
	*ret_mounted = false;
	return 0;
}

/* Send bytes [offset, offset + len) of blob `digest` with `method` to `url`. */
static int
send_part(struct push *p, const char *method, const char *url, const char *content_range,
          const char *digest, int64_t offset, int64_t len, struct imaged_response *ret, br_err *err)
{
	struct imaged_blob_reader reader = {
	        .svc = p->job->svc,
	        .ns = p->job->ns,
	        .digest = digest,
	        .cancel = &p->cancel,
	        .offset = offset,
	};
	struct imaged_request req = {
	        .method = method,
	        .url = url,
	        .content_type = UPLOAD_MEDIA_TYPE,
	        .content_range = content_range,
	        .body_len = len,
	        .body = imaged_blob_read, /* from the reader's offset on */
	        .body_data = &reader,
	};
	int rc = imaged_registry_request(p->reg, p->http, &req, &p->cancel, ret, err);

	imaged_blob_reader_fini(&reader);
	return rc;
}

/* The blob's PATCHes, from the session at *location on; *location follows the registry's
 * answers. */
static int
upload_chunks(struct push *p, const struct br_oci_descriptor *d, char **location, br_err *err)
{
	int64_t offset = 0;

	while (offset < d->size) {
		int64_t n = d->size - offset, next;
		struct imaged_response resp;
		char range[64];

		if (n > p->chunk_size)
			n = p->chunk_size;
		snprintf(range, sizeof(range), "%lld-%lld", (long long)offset,
		         (long long)(offset + n - 1));
		if (send_part(p, "PATCH", *location, range, d->digest, offset, n, &resp, err) < 0)
			return -1;
		int rc = 0;
		if (resp.location != NULL) {
			char *moved = NULL;
			rc = imaged_registry_location(p->reg, resp.location, &moved, err);
			if (rc == 0) {
				free(*location);
				*location = moved;
			}
		}
		/* The registry says how much it holds: go on from there. */
		if (rc == 0)
			rc = imaged_upload_advance(offset, n, resp.range, &next, err);
		imaged_response_fini(&resp);
		if (rc < 0)
			return br_err_wrap(err, "PATCH %s", *location);
		sent(p, next - offset);
		offset = next;
	}
	return 0;
}

/* The final PUT ?digest= of an upload, with the whole blob (monolithic) or nothing. */
static int
upload_finish(struct push *p, const struct br_oci_descriptor *d, const char *location,
              bool with_body, br_err *err)
{
	_cleanup_free_ char *url = imaged_url_add_query(location, "digest", d->digest);
	struct imaged_response resp;
	int rc;

	if (with_body) {
		rc = send_part(p, "PUT", url, NULL, d->digest, 0, d->size, &resp, err);
	} else {
		struct imaged_request req = {
		        .method = "PUT", .url = url, .content_type = UPLOAD_MEDIA_TYPE};
		rc = imaged_registry_request(p->reg, p->http, &req, &p->cancel, &resp, err);
	}
	if (rc < 0)
		return -1;
	if (resp.docker_digest != NULL && strcmp(resp.docker_digest, d->digest) != 0) {
		br_err_set(err, BR_FAILED_PRECONDITION,
		           "PUT %s: the registry stored %.80s, not the blob sent", url,
		           resp.docker_digest);
		imaged_response_fini(&resp);
		return -1;
	}
	imaged_response_fini(&resp);
	if (with_body)
		sent(p, d->size);
	return 0;
}

static int
push_blob(struct push *p, const struct br_oci_descriptor *d, size_t i, size_t n, br_err *err)
{
	_cleanup_free_ char *location = NULL;
	bool exists = false, mounted = false;

	p->item = i;
	imaged_job_step(p->job, "check blob %s (%zu/%zu)", d->digest, i + 1, n);
	if (blob_exists(p, d->digest, &exists, err) < 0)
		return -1;
	if (!exists && upload_start(p, d->digest, &mounted, &location, err) < 0)
		return -1;
	if (exists || mounted) {
		/* the registry has it (in this repository, or mounted from another) */
		imaged_job_progress(p->job, d->size, 0);
		imaged_job_item_state(p->job, i, IMAGED_ITEM_EXISTS);
		return 0;
	}
	imaged_job_step(p->job, "upload blob %s (%zu/%zu)", d->digest, i + 1, n);
	imaged_job_item_state(p->job, i, IMAGED_ITEM_UPLOADING);
	int rc;
	if (d->size <= p->threshold)
		rc = upload_finish(p, d, location, true, err);
	else
		rc = upload_chunks(p, d, &location, err) < 0
		             ? -1
		             : upload_finish(p, d, location, false, err);
	if (rc == 0)
		imaged_job_item_state(p->job, i, IMAGED_ITEM_DONE);
	return rc;
}

/* ------------------------------------------------------------------ documents */

static void
docs_free(struct push_doc *docs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(docs[i].body);
		br_oci_manifest_free(docs[i].manifest);
	}
}

/* A request body from memory, given in one chunk. */
struct memory_body {
	const char *buf;
	size_t len;
	bool given;
};

static ssize_t
memory_body_read(void *data, const void **ret_buf, br_err *err)
{
	struct memory_body *b = data;

	(void)err;
	if (b->given)
		return 0;
	b->given = true;
	*ret_buf = b->buf;
	return (ssize_t)b->len;
}

/* PUT manifests/<reference> with the document's exact bytes and media type. */
static int
put_manifest(struct push *p, const struct push_doc *doc, const char *reference, br_err *err)
{
	_cleanup_free_ char *path = xasprintf("manifests/%s", reference);
	struct memory_body body = {doc->body, doc->len, false};
	struct imaged_request req = {
	        .method = "PUT",
	        .path = path,
	        .content_type = doc->media_type,
	        .body_len = (int64_t)doc->len,
	        .body = memory_body_read,
	        .body_data = &body,
	};
	struct imaged_response resp;

	if (imaged_registry_request(p->reg, p->http, &req, &p->cancel, &resp, err) < 0)
		return -1;
	if (resp.docker_digest != NULL && strcmp(resp.docker_digest, doc->digest) != 0) {
		br_err_set(err, BR_FAILED_PRECONDITION,
		           "PUT %s/%s: the registry says the manifest is %.80s, not %s",
		           imaged_registry_url(p->reg), path, resp.docker_digest, doc->digest);
		imaged_response_fini(&resp);
		return -1;
	}
	imaged_response_fini(&resp);
	return 0;
}

/* Read document `digest` from contentd. */
static int
read_doc(struct imaged_job *job, const char *digest, const char *media_type, struct push_doc *ret,
         br_err *err)
{
	if (imaged_blob_get(job->svc, digest, BR_OCI_MAX_DOC, &ret->body, &ret->len, err) < 0)
		return br_err_wrap(err, "read %s", digest);
	snprintf(ret->digest, sizeof(ret->digest), "%s", digest);
	ret->media_type = media_type;
	return 0;
}

static char *
descriptor_platform(const struct br_oci_descriptor *d)
{
	if (d->platform == NULL)
		return xasprintf("the manifest %s", d->digest);
	return imaged_platform_string(d->platform->os, d->platform->architecture,
	                              d->platform->variant);
}

/* Append `s` to the comma-separated list *list (at most ~400 bytes of it). */
static void
list_add(char **list, const char *s)
{
	if (strlen(*list) > 400)
		return;
	char *next = xasprintf("%s%s%s", *list, (*list)[0] ? ", " : "", s);
	free(*list);
	*list = next;
}

/* Hold the config and layer blobs of `m` under the job's lease; whether all are there. */
static int
hold_manifest_blobs(struct imaged_job *job, const struct br_oci_manifest *m, bool *ret_whole,
                    br_err *err)
{
	_cleanup_free_ const char **digests = xcalloc(m->n_layers + 1, sizeof(*digests));
	_cleanup_free_ bool *missing = xcalloc(m->n_layers + 1, sizeof(*missing));
	size_t n = 0;

	digests[n++] = m->config.digest;
	for (size_t i = 0; i < m->n_layers; i++)
		if (!m->layers[i].nondistributable)
			digests[n++] = m->layers[i].digest;
	if (imaged_hold_blobs(job, digests, n, missing, err) < 0)
		return -1;
	*ret_whole = true;
	for (size_t i = 0; i < n; i++)
		if (missing[i])
			*ret_whole = false;
	return 0;
}

/*
 * The platform manifests of index `top` to push with it (all of them), read and parsed into
 * subs[]. Platforms whose manifest, config or layers were never pulled make the push fail,
 * naming them: a registry refuses an index whose manifests it does not have.
 */
static int
collect_index(struct imaged_job *job, const struct push_doc *top, const struct br_oci_index *idx,
              struct push_doc *subs, size_t *ret_n, br_err *err)
{
	_cleanup_free_ char *missing_list = xstrdup("");
	_cleanup_free_ const char **digests = NULL;
	_cleanup_free_ bool *missing = NULL;
	size_t n = idx->n_manifests;

	if (n > MAX_MANIFESTS)
		return br_err_set(err, BR_RESOURCE_EXHAUSTED,
		                  "index %s: %zu manifests, more than the %d a push sends",
		                  top->digest, n, MAX_MANIFESTS);
	digests = xcalloc(n + 1, sizeof(*digests));
	missing = xcalloc(n + 1, sizeof(*missing));
	for (size_t i = 0; i < n; i++) {
		if (br_oci_kind_of(idx->manifests[i].media_type) != BR_OCI_MANIFEST)
			return br_err_set(err, BR_NOT_IMPLEMENTED,
			                  "index %s: entry %s is a %s, and only indexes of image "
			                  "manifests are pushed",
			                  top->digest, idx->manifests[i].digest,
			                  idx->manifests[i].media_type);
		digests[i] = idx->manifests[i].digest;
	}
	if (imaged_hold_blobs(job, digests, n, missing, err) < 0)
		return -1;
	*ret_n = 0;
	for (size_t i = 0; i < n; i++) {
		const struct br_oci_descriptor *d = &idx->manifests[i];
		bool whole = false;
		_cleanup_free_ char *platform = descriptor_platform(d);
		if (!missing[i]) {
			struct push_doc *doc = &subs[(*ret_n)++];
			if (read_doc(job, d->digest, d->media_type, doc, err) < 0 ||
			    br_oci_manifest_parse(doc->body, doc->len, d->media_type,
			                          &doc->manifest, err) < 0)
				return br_err_wrap(err, "index %s: %s", top->digest, platform);
			if (hold_manifest_blobs(job, doc->manifest, &whole, err) < 0)
				return -1;
		}
		if (!whole)
			list_add(&missing_list, platform);
	}
	if (missing_list[0] != '\0')
		return br_err_set(
		        err, BR_FAILED_PRECONDITION,
		        "index %s lists platforms whose blobs were never pulled: %s; push "
		        "one platform with --platform, or pull the others first",
		        top->digest, missing_list);
	return 0;
}

/* The repository `name` comes from, if it is on `dest`'s registry and not `dest` itself. */
static void
add_mount_source(struct push *p, const struct br_ref *dest, const char *name, br_arena *arena)
{
	_cleanup_(br_ref_freep) struct br_ref *ref = NULL;
	br_err ignored = BR_ERR_INIT;

	if (name == NULL || p->n_mount_from >= MAX_MOUNT_SOURCES ||
	    br_ref_parse(name, &ref, &ignored) < 0)
		return;
	if (strcmp(ref->domain, dest->domain) != 0 || strcmp(ref->path, dest->path) == 0)
		return;
	for (size_t i = 0; i < p->n_mount_from; i++)
		if (strcmp(p->mount_from[i], ref->path) == 0)
			return;
	p->mount_from[p->n_mount_from++] = br_arena_strdup(arena, ref->path);
}

/* An image without an index has one platform, the record's: a push that names a platform
 * must name that one (compared with the index matcher, so variants compare as in a pull). */
static bool
platform_matches(const struct br_image *img, const char *platform, br_err *err)
{
	struct br_oci_platform want = {0}, have = {0};
	bool match = true;

	if (img->platform == NULL || img->platform[0] == '\0')
		return true; /* nothing to compare with */
	if (br_oci_platform_parse(platform, &want, err) < 0)
		return false;
	if (br_oci_platform_parse(img->platform, &have, err) == 0) {
		struct br_oci_descriptor d = {.media_type = BR_MT_OCI_MANIFEST, .platform = &have};
		struct br_oci_index idx = {.manifests = &d, .n_manifests = 1};
		match = br_oci_index_select(&idx, want.os, want.architecture, want.variant) != NULL;
		br_oci_platform_fini(&have);
	}
	br_oci_platform_fini(&want);
	br_err_clear(err);
	if (!match)
		br_err_set(err, BR_NOT_FOUND, "%s is an image for %s, not %s", img->name,
		           img->platform, platform);
	return match;
}

/* The distinct blobs of `manifests` to send: configs and distributable layers. */
static size_t
collect_blobs(struct br_oci_manifest *const *manifests, size_t n_manifests,
              const struct br_oci_descriptor **out, int64_t *ret_total)
{
	size_t n = 0;

	*ret_total = 0;
	for (size_t i = 0; i < n_manifests; i++) {
		const struct br_oci_manifest *m = manifests[i];
		for (size_t j = 0; j <= m->n_layers; j++) {
			const struct br_oci_descriptor *d = j == 0 ? &m->config : &m->layers[j - 1];
			bool seen = d->nondistributable;
			for (size_t k = 0; k < n && !seen; k++)
				seen = strcmp(out[k]->digest, d->digest) == 0;
			if (seen)
				continue;
			out[n++] = d;
			*ret_total += d->size;
		}
	}
	return n;
}

/* What a push sends: the document the tag names (an index or a manifest) and, for an index,
 * its platform manifests. */
struct push_plan {
	struct push_doc top;
	struct br_oci_index *index; /* top, parsed, when it is an index */
	struct push_doc subs[MAX_MANIFESTS];
	size_t n_subs;
};

static void
plan_fini(struct push_plan *plan)
{
	docs_free(&plan->top, 1);
	docs_free(plan->subs, plan->n_subs);
	br_oci_index_free(plan->index);
}

/* Hold and read the image's target into plan->top, an index parsed into plan->index. */
static int
read_target(struct imaged_job *job, const struct br_image *img, struct push_plan *plan, br_err *err)
{
	const char *target = img->target.digest, *mt = img->target.media_type;
	bool missing = false;

	if (imaged_hold_blobs(job, &target, 1, &missing, err) < 0)
		return -1;
	if (missing)
		return br_err_set(err, BR_FAILED_PRECONDITION,
		                  "%s: its %s is not in the content store", img->name, target);
	if (read_doc(job, target, mt, &plan->top, err) < 0)
		return -1;
	enum br_oci_kind kind = br_oci_kind_of(mt != NULL ? mt : "");
	if (kind != BR_OCI_INDEX && kind != BR_OCI_MANIFEST) {
		kind = br_oci_detect(plan->top.body, plan->top.len, &mt);
		plan->top.media_type = mt;
	}
	if (kind == BR_OCI_INDEX) {
		if (br_oci_index_parse(plan->top.body, plan->top.len, mt, &plan->index, err) < 0)
			return br_err_wrap(err, "index %s", target);
		return 0;
	}
	if (kind != BR_OCI_MANIFEST)
		return br_err_set(err, BR_NOT_IMPLEMENTED, "%s: neither an index nor a manifest",
		                  target);
	return 0;
}

/* Replace index plan->top by its manifest for `platform`, which the tag then names. */
static int
narrow_to_platform(struct imaged_job *job, const char *platform, struct push_plan *plan,
                   br_arena *arena, br_err *err)
{
	struct br_oci_platform want = {0};
	bool missing = false;

	if (br_oci_platform_parse(platform, &want, err) < 0)
		return -1;
	const struct br_oci_descriptor *d =
	        br_oci_index_select(plan->index, want.os, want.architecture, want.variant);
	br_oci_platform_fini(&want);
	if (d == NULL)
		return br_err_set(err, BR_NOT_FOUND, "index %s has no manifest for %s",
		                  plan->top.digest, platform);
	const char *digest = br_arena_strdup(arena, d->digest);
	const char *mt = br_arena_strdup(arena, d->media_type);
	docs_free(&plan->top, 1);
	plan->top = (struct push_doc){0};
	br_oci_index_free(plan->index);
	plan->index = NULL;
	if (imaged_hold_blobs(job, &digest, 1, &missing, err) < 0)
		return -1;
	if (missing)
		return br_err_set(err, BR_FAILED_PRECONDITION,
		                  "the manifest of %s (%s) was never pulled", platform, digest);
	return read_doc(job, digest, mt, &plan->top, err);
}

/* Decide what to send and hold all of it under the job's lease. */
static int
plan_push(struct imaged_job *job, const struct imaged_push_arg *a, const struct br_image *img,
          struct push_plan *plan, br_arena *arena, br_err *err)
{
	bool whole = false;

	if (read_target(job, img, plan, err) < 0)
		return -1;
	if (plan->index != NULL && a->platform != NULL &&
	    narrow_to_platform(job, a->platform, plan, arena, err) < 0)
		return -1;
	if (plan->index != NULL)
		return collect_index(job, &plan->top, plan->index, plan->subs, &plan->n_subs, err);
	if (a->platform != NULL && !platform_matches(img, a->platform, err))
		return -1;
	if (br_oci_manifest_parse(plan->top.body, plan->top.len, plan->top.media_type,
	                          &plan->top.manifest, err) < 0)
		return br_err_wrap(err, "manifest %s", plan->top.digest);
	if (hold_manifest_blobs(job, plan->top.manifest, &whole, err) < 0)
		return -1;
	if (!whole)
		return br_err_set(err, BR_FAILED_PRECONDITION,
		                  "manifest %s: some of its blobs are not in the content store",
		                  plan->top.digest);
	return 0;
}

/* Blobs, then platform manifests, then what the tag names, under `reference`. */
static int
send_plan(struct push *p, const struct push_plan *plan, const char *reference, br_arena *arena,
          br_err *err)
{
	struct br_oci_manifest *manifests[MAX_MANIFESTS];
	size_t n_manifests = 0, max_blobs = 0;
	int64_t total = 0;

	if (plan->index == NULL)
		manifests[n_manifests++] = plan->top.manifest;
	for (size_t i = 0; i < plan->n_subs; i++)
		manifests[n_manifests++] = plan->subs[i].manifest;
	for (size_t i = 0; i < n_manifests; i++)
		max_blobs += manifests[i]->n_layers + 1;
	const struct br_oci_descriptor **blobs = br_arena_alloc(arena, max_blobs * sizeof(*blobs));
	size_t n_blobs = collect_blobs(manifests, n_manifests, blobs, &total);

	imaged_job_progress(p->job, 0, total);
	imaged_job_items_init(p->job, n_blobs);
	for (size_t i = 0; i < n_blobs; i++)
		imaged_job_item_set(p->job, i, blobs[i]->digest, blobs[i]->size);
	for (size_t i = 0; i < n_blobs; i++)
		if (push_blob(p, blobs[i], i, n_blobs, err) < 0)
			return -1;
	for (size_t i = 0; i < plan->n_subs; i++) {
		const struct push_doc *doc = &plan->subs[i];
		imaged_job_step(p->job, "push manifest %s (%zu/%zu)", doc->digest, i + 1,
		                plan->n_subs);
		if (put_manifest(p, doc, doc->digest, err) < 0)
			return -1;
	}
	imaged_job_step(p->job, "push %s %s", plan->index != NULL ? "index" : "manifest",
	                reference);
	return put_manifest(p, &plan->top, reference, err);
}

static int
push(struct imaged_job *job, const struct imaged_push_arg *a, const struct br_ref *dest,
     char **ret_result, br_err *err)
{
	struct imaged_service *svc = job->svc;
	_cleanup_(br_arena_freep) br_arena *arena = br_arena_new();
	struct push_plan plan = {0};
	struct push p = {
	        .job = job,
	        .cancel = {{&job->cancel, NULL}},
	        .threshold = svc->cfg->imaged.push_chunk_threshold,
	        .chunk_size = svc->cfg->imaged.push_chunk_size,
	};
	int rc = -1;

	imaged_job_step(job, "read image %s", a->name);
	struct get_op get = {.svc = svc, .ns = job->ns, .name = a->name, .arena = arena};
	br_loop_call(svc->loop, get_on_loop, &get);
	if (get.rc < 0) {
		br_err_copy(err, &get.err);
		return -1;
	}
	const struct br_image *img = &get.img;
	if (plan_push(job, a, img, &plan, arena, err) < 0)
		goto out;
	if (dest->digest[0] != '\0' && strcmp(dest->digest, plan.top.digest) != 0) {
		br_err_set(err, BR_INVALID_ARGUMENT,
		           "the destination names %s, but the image pushed is %s", dest->digest,
		           plan.top.digest);
		goto out;
	}
	struct br_registry_auth auth = imaged_creds_auth(&a->creds);
	p.reg = imaged_registry_open(svc->cfg, dest, &auth, BR_REGISTRY_PUSH);
	p.http = imaged_http_new();
	add_mount_source(&p, dest, img->name, arena);
	for (size_t i = 0; i < img->labels.n; i++)
		if (strcmp(img->labels.keys[i], IMAGED_LABEL_SOURCE) == 0)
			add_mount_source(&p, dest, img->labels.values[i], arena);
	if (send_plan(&p, &plan, dest->tag != NULL ? dest->tag : plan.top.digest, arena, err) < 0)
		goto out;
	*ret_result = xasprintf("%s/%s%s%s@%s", dest->domain, dest->path, dest->tag ? ":" : "",
	                        dest->tag ? dest->tag : "", plan.top.digest);
	rc = 0;
out:
	plan_fini(&plan);
	imaged_http_free(p.http);
	imaged_registry_free(p.reg);
	return rc;
}

int
imaged_push_run(struct imaged_job *job, char **ret_result, br_err *err)
{
	const struct imaged_push_arg *a = job->arg;
	_cleanup_(br_ref_freep) struct br_ref *dest = NULL;

	if (br_ref_parse(a->dest, &dest, err) < 0)
		return br_err_wrap(err, "push %s", a->name);
	int rc = push(job, a, dest, ret_result, err);
	/* The job's lease held what the push read; nothing is left for it to hold. */
	if (!imaged_job_canceled(job))
		br_loop_call(job->svc->loop, drop_lease_on_loop, job);
	if (rc < 0) {
		if (strcmp(a->name, a->dest) == 0)
			return br_err_wrap(err, "push %s", a->name);
		return br_err_wrap(err, "push %s to %s", a->name, a->dest);
	}
	return 0;
}
