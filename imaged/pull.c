/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The pull job, a flow on the loop (imaged.h): resolve a reference on its registry (index ->
 * the platform's manifest -> config), store those documents in contentd, unpack the layers
 * (unpack.c), then write the image record. Each fetch from the registry runs on libuv's pool
 * (it blocks: retries, redirects, a slow registry) with the checks and the parsing of what it
 * got; storing the documents and the record is the loop's. The registry object (registry.c) tries
 * the configured mirrors before the registry itself, request by request: a tag is resolved by the
 * first endpoint that can resolve and has it, and each document and layer is fetched from the first
 * that has it. Every document is checked against the digest that names it before it is parsed or
 * stored; nothing is visible as an image until the record is written at the end.
 */
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/ref.h"
#include "common/xalloc.h"
#include "imaged/imaged.h"

void
imaged_pull_arg_free(void *arg)
{
	struct imaged_pull_arg *a = arg;

	if (a == NULL)
		return;
	free(a->ref);
	free(a->platform);
	imaged_creds_fini(&a->creds);
	free(a);
}

/* The kind of a fetched document: its Content-Type, else its own shape. */
static enum br_oci_kind
document_kind(const char *content_type, const char *body, size_t len, const char **ret_mt)
{
	enum br_oci_kind kind = content_type ? br_oci_kind_of(content_type) : BR_OCI_UNKNOWN;

	if (kind == BR_OCI_INDEX || kind == BR_OCI_MANIFEST) {
		*ret_mt = content_type;
		return kind;
	}
	return br_oci_detect(body, len, ret_mt);
}

/* "linux/amd64, linux/arm64/v8" of an index, for the message of a failed selection. */
static char *
platforms_of(const struct br_oci_index *idx)
{
	char *out = xstrdup("");

	for (size_t i = 0; i < idx->n_manifests && strlen(out) < 400; i++) {
		const struct br_oci_platform *p = idx->manifests[i].platform;
		if (p == NULL)
			continue;
		_cleanup_free_ char *s = imaged_platform_string(p->os, p->architecture, p->variant);
		char *next = xasprintf("%s%s%s", out, out[0] ? ", " : "", s);
		free(out);
		out = next;
	}
	return out;
}

static int
select_platform(const struct br_oci_index *idx, const struct br_oci_platform *want,
                const char *what, const struct br_oci_descriptor **ret, br_err *err)
{
	const struct br_oci_descriptor *d =
	        br_oci_index_select(idx, want->os, want->architecture, want->variant);

	if (d == NULL) {
		_cleanup_free_ char *want_s =
		        imaged_platform_string(want->os, want->architecture, want->variant);
		_cleanup_free_ char *have = platforms_of(idx);
		return br_err_set(err, BR_NOT_FOUND, "%s has no manifest for %s (it has: %s)", what,
		                  want_s, have[0] ? have : "none with a platform");
	}
	*ret = d;
	return 0;
}

/* An image without an index has one platform, the config's: when the request named a
 * platform, it must be that one. */
static bool
config_matches(const struct br_oci_image_config *c, const struct br_oci_platform *want,
               const char *name, br_err *err)
{
	struct br_oci_index idx = {0};
	struct br_oci_platform have = {c->os, c->architecture, c->variant};
	struct br_oci_descriptor d = {.media_type = BR_MT_OCI_MANIFEST, .platform = &have};

	if (c->os == NULL || c->architecture == NULL)
		return true; /* nothing to compare with */
	/* Reuse the index matcher so that variants and aliases compare alike. */
	idx.manifests = &d;
	idx.n_manifests = 1;
	if (br_oci_index_select(&idx, want->os, want->architecture, want->variant) != NULL)
		return true;
	_cleanup_free_ char *w =
	        imaged_platform_string(want->os, want->architecture, want->variant);
	_cleanup_free_ char *h = imaged_platform_string(c->os, c->architecture, c->variant);
	br_err_set(err, BR_NOT_FOUND, "%s is an image for %s, not %s", name, h, w);
	return false;
}

/* A pull on its way: what its steps found so far. A fetch (on the pool) fills in its part and
 * `rc`/`err`; the loop reads them once the fetch is back. */
struct pull {
	struct imaged_job *job;
	const struct imaged_pull_arg *a;
	struct br_ref *ref;
	char *name;
	struct imaged_registry *reg;
	struct imaged_http *http;
	struct imaged_cancel cancel;
	struct br_oci_platform want;

	/* the document the last fetch got */
	char *body, *ctype;
	size_t len;
	char digest[BR_DIGEST_BUF];
	int rc;
	br_err err;

	enum br_oci_kind kind; /* of the target */
	char *target_mt;
	char target_digest[BR_DIGEST_BUF];
	int64_t target_size;
	struct br_oci_index *idx;
	const struct br_oci_descriptor *platform_desc; /* in idx */
	struct br_oci_manifest *m;
	char manifest_digest[BR_DIGEST_BUF];
	struct br_oci_image_config *config;
};

static void
pull_free(struct pull *p)
{
	br_ref_free(p->ref);
	free(p->name);
	imaged_registry_free(p->reg);
	imaged_http_free(p->http);
	br_oci_platform_fini(&p->want);
	free(p->body);
	free(p->ctype);
	free(p->target_mt);
	br_oci_index_free(p->idx);
	br_oci_manifest_free(p->m);
	br_oci_config_free(p->config);
	free(p);
}

/* The end of the pull, and of its job. */
static void
pull_end(struct pull *p, const br_err *err)
{
	struct imaged_job *job = p->job;
	br_err e = BR_ERR_INIT;
	char *result = NULL;

	if (err != NULL) {
		e = *err;
		br_err_wrap(&e, "pull %s", p->name != NULL ? p->name : p->a->ref);
	} else {
		result = br_steal_ptr(&p->name);
	}
	pull_free(p);
	imaged_job_end(job, err != NULL ? -1 : 0, result, err != NULL ? &e : NULL);
}

/* Whether the pull goes on after a step that ended with `err` (NULL: fine); if not, the pull
 * ended, with that error or because the job was canceled. */
static bool
going_on(struct pull *p, const br_err *err)
{
	br_err e = BR_ERR_INIT;

	if (err == NULL && imaged_job_canceled(p->job)) {
		br_err_set(&e, BR_CANCELED, "canceled");
		err = &e;
	}
	if (err != NULL) {
		pull_end(p, err);
		return false;
	}
	return true;
}

/* After a fetch on the pool. */
static bool
fetched(struct pull *p)
{
	return going_on(p, p->rc < 0 ? &p->err : NULL);
}

static void
document_reset(struct pull *p)
{
	free(p->body);
	free(p->ctype);
	p->body = p->ctype = NULL;
	p->len = 0;
}

/* ---- the last steps: layers, then the record ---- */

static void
unpacked(void *data, const br_err *err, const char *chain_id)
{
	struct pull *p = data;
	br_err serr = BR_ERR_INIT;
	struct br_descriptor target = {
	        .media_type = p->target_mt,
	        .digest = p->target_digest,
	        .size = p->target_size,
	};

	if (!going_on(p, err))
		return;
	if (imaged_store_image(p->job, p->name, &target, p->manifest_digest, chain_id, p->m,
	                       p->config, false, &serr) < 0) {
		pull_end(p, &serr);
		return;
	}
	pull_end(p, NULL);
}

static void
config_stored(void *data, const br_err *err)
{
	struct pull *p = data;

	if (!going_on(p, err))
		return;
	document_reset(p);
	imaged_unpack_start(p->job, p->reg, p->m, p->config, unpacked, p);
}

/* ---- the config ---- */

static void
config_work(void *data)
{
	struct pull *p = data;
	const struct br_oci_descriptor *d = &p->m->config;
	_cleanup_free_ char *path = xasprintf("blobs/%s", d->digest);

	p->rc = -1;
	if (imaged_registry_get(p->reg, p->http, path, NULL, BR_OCI_MAX_DOC, d->digest, &p->cancel,
	                        &p->body, &p->len, NULL, &p->err) < 0) {
		br_err_wrap(&p->err, "fetch config");
		return;
	}
	if ((int64_t)p->len != d->size) {
		br_err_set(&p->err, BR_FAILED_PRECONDITION,
		           "config %s: %zu bytes, but the manifest says %lld", d->digest, p->len,
		           (long long)d->size);
		return;
	}
	if (br_oci_config_parse(p->body, p->len, &p->config, &p->err) < 0) {
		br_err_wrap(&p->err, "config %s", d->digest);
		return;
	}
	if (p->kind == BR_OCI_MANIFEST && p->a->platform != NULL &&
	    !config_matches(p->config, &p->want, p->name, &p->err))
		return;
	p->rc = 0;
}

static void
config_done(void *data)
{
	struct pull *p = data;

	if (!fetched(p))
		return;
	imaged_blob_put_async(p->job, p->body, p->len, p->m->config.digest, config_stored, p);
}

/* Fetch the image config named by the manifest, check and store it. */
static void
fetch_config(struct pull *p)
{
	const struct br_oci_descriptor *d = &p->m->config;
	br_err err = BR_ERR_INIT;

	document_reset(p);
	imaged_job_step(p->job, "fetch config %s", d->digest);
	if (d->size > (int64_t)BR_OCI_MAX_DOC) {
		br_err_set(&err, BR_RESOURCE_EXHAUSTED,
		           "config %s: %lld bytes, more than the limit of %u", d->digest,
		           (long long)d->size, BR_OCI_MAX_DOC);
		pull_end(p, &err);
		return;
	}
	imaged_work(p->job->svc, config_work, config_done, p);
}

static void
manifest_stored(void *data, const br_err *err)
{
	struct pull *p = data;

	if (!going_on(p, err))
		return;
	fetch_config(p);
}

/* ---- the platform's manifest of an index ---- */

static void
manifest_work(void *data)
{
	struct pull *p = data;
	const struct br_oci_descriptor *d = p->platform_desc;

	p->rc = -1;
	if (imaged_registry_get_manifest(p->reg, p->http, d->digest, &p->cancel, &p->body, &p->len,
	                                 &p->ctype, p->digest, &p->err) < 0)
		return;
	if ((int64_t)p->len != d->size) {
		br_err_set(&p->err, BR_FAILED_PRECONDITION,
		           "manifest %s: %zu bytes, but the index says %lld", d->digest, p->len,
		           (long long)d->size);
		return;
	}
	if (br_oci_manifest_parse(p->body, p->len, d->media_type, &p->m, &p->err) < 0) {
		br_err_wrap(&p->err, "manifest %s", p->digest);
		return;
	}
	memcpy(p->manifest_digest, p->digest, BR_DIGEST_BUF);
	p->rc = 0;
}

static void
manifest_done(void *data)
{
	struct pull *p = data;

	if (!fetched(p))
		return;
	imaged_blob_put_async(p->job, p->body, p->len, p->manifest_digest, manifest_stored, p);
}

static void
target_stored(void *data, const br_err *err)
{
	struct pull *p = data;

	if (!going_on(p, err))
		return;
	if (p->kind == BR_OCI_INDEX) {
		document_reset(p);
		imaged_job_step(p->job, "fetch manifest %s", p->platform_desc->digest);
		imaged_work(p->job->svc, manifest_work, manifest_done, p);
		return;
	}
	fetch_config(p);
}

/* ---- the reference: an index or a manifest ---- */

static void
resolve_work(void *data)
{
	struct pull *p = data;
	const char *reference = p->ref->digest[0] ? p->ref->digest : p->ref->tag;
	const char *mt = NULL;

	p->rc = -1;
	if (imaged_registry_get_manifest(p->reg, p->http, reference, &p->cancel, &p->body, &p->len,
	                                 &p->ctype, p->digest, &p->err) < 0)
		return;
	if (br_oci_is_schema1(p->ctype, p->body, p->len)) {
		br_err_set(&p->err, BR_NOT_IMPLEMENTED, "%s: the registry answered %s (%s)",
		           reference, BR_OCI_SCHEMA1_REFUSAL,
		           p->ctype ? p->ctype : "no Content-Type");
		return;
	}
	p->kind = document_kind(p->ctype, p->body, p->len, &mt);
	p->target_mt = xstrdup(mt ? mt : "");
	memcpy(p->target_digest, p->digest, BR_DIGEST_BUF);
	p->target_size = (int64_t)p->len;
	if (p->kind == BR_OCI_INDEX) {
		if (br_oci_index_parse(p->body, p->len, mt, &p->idx, &p->err) < 0) {
			br_err_wrap(&p->err, "index %s", p->digest);
			return;
		}
		if (select_platform(p->idx, &p->want, p->name, &p->platform_desc, &p->err) < 0)
			return;
	} else if (p->kind == BR_OCI_MANIFEST) {
		if (br_oci_manifest_parse(p->body, p->len, mt, &p->m, &p->err) < 0) {
			br_err_wrap(&p->err, "manifest %s", p->digest);
			return;
		}
		memcpy(p->manifest_digest, p->digest, BR_DIGEST_BUF);
	} else {
		br_err_set(&p->err, BR_NOT_IMPLEMENTED,
		           "%s: the registry answered a document that is neither an image index "
		           "nor an image manifest (Content-Type %s)",
		           reference, p->ctype ? p->ctype : "none");
		return;
	}
	p->rc = 0;
}

static void
resolve_done(void *data)
{
	struct pull *p = data;

	if (!fetched(p))
		return;
	imaged_blob_put_async(p->job, p->body, p->len, p->target_digest, target_stored, p);
}

void
imaged_pull_start(struct imaged_job *job)
{
	const struct br_config *cfg = job->svc->cfg;
	struct pull *p = xnew(struct pull);
	br_err err = BR_ERR_INIT;

	p->job = job;
	p->a = job->arg;
	p->cancel.flags[0] = &job->cancel;
	if (br_ref_parse(p->a->ref, &p->ref, &err) < 0) {
		pull_end(p, &err);
		return;
	}
	p->name = br_ref_string(p->ref);
	if (br_oci_platform_parse(p->a->platform ? p->a->platform : cfg->imaged.platform, &p->want,
	                          &err) < 0) {
		pull_end(p, &err);
		return;
	}
	struct br_registry_auth auth = imaged_creds_auth(&p->a->creds);
	p->reg = imaged_registry_open(cfg, p->ref, &auth, BR_REGISTRY_PULL | BR_REGISTRY_RESOLVE);
	p->http = imaged_http_new();
	imaged_job_step(job, "resolve %s", p->name);
	imaged_work(job->svc, resolve_work, resolve_done, p);
}
