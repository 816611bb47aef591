/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The pull job: resolve a reference on its registry (index -> the platform's manifest ->
 * config), store those documents in contentd, unpack the layers (unpack.c), then write the
 * image record. The registry object (registry.c) tries the configured mirrors before the
 * registry itself, request by request: a tag is resolved by the first endpoint that can
 * resolve and has it, and each document and layer is fetched from the first that has it. Every
 * document is checked against the digest that names it before it is parsed or stored; nothing is
 * visible as an image until the record is written at the end.
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

/* Fetch the image config named by the manifest, check and store it. */
static int
fetch_config(struct imaged_job *job, struct imaged_registry *reg, struct imaged_http *http,
             const struct imaged_cancel *cancel, const struct br_oci_descriptor *d,
             struct br_oci_image_config **ret, br_err *err)
{
	_cleanup_free_ char *path = xasprintf("blobs/%s", d->digest);
	_cleanup_free_ char *body = NULL;
	size_t len;

	imaged_job_step(job, "fetch config %s", d->digest);
	if (d->size > (int64_t)BR_OCI_MAX_DOC)
		return br_err_set(err, BR_RESOURCE_EXHAUSTED,
		                  "config %s: %lld bytes, more than the limit of %u", d->digest,
		                  (long long)d->size, BR_OCI_MAX_DOC);
	if (imaged_registry_get(reg, http, path, NULL, BR_OCI_MAX_DOC, d->digest, cancel, &body,
	                        &len, NULL, err) < 0)
		return br_err_wrap(err, "fetch config");
	if ((int64_t)len != d->size)
		return br_err_set(err, BR_FAILED_PRECONDITION,
		                  "config %s: %zu bytes, but the manifest says %lld", d->digest,
		                  len, (long long)d->size);
	if (br_oci_config_parse(body, len, ret, err) < 0)
		return br_err_wrap(err, "config %s", d->digest);
	if (imaged_blob_put(job, body, len, d->digest, err) < 0) {
		br_oci_config_free(*ret);
		*ret = NULL;
		return -1;
	}
	return 0;
}

static void
platform_finip(struct br_oci_platform *p)
{
	br_oci_platform_fini(p);
}

static int
pull(struct imaged_job *job, const struct imaged_pull_arg *a, const char *name,
     const struct br_ref *ref, br_err *err)
{
	const struct br_config *cfg = job->svc->cfg;
	struct imaged_cancel cancel = {{&job->cancel, NULL}};
	struct br_registry_auth auth = imaged_creds_auth(&a->creds);
	_cleanup_(imaged_registry_freep) struct imaged_registry *reg =
	        imaged_registry_open(cfg, ref, &auth, BR_REGISTRY_PULL | BR_REGISTRY_RESOLVE);
	_cleanup_(imaged_http_freep) struct imaged_http *http = imaged_http_new();
	_cleanup_(br_oci_index_freep) struct br_oci_index *idx = NULL;
	_cleanup_(br_oci_manifest_freep) struct br_oci_manifest *m = NULL;
	_cleanup_(br_oci_config_freep) struct br_oci_image_config *config = NULL;
	_cleanup_free_ char *body = NULL, *ctype = NULL;
	_cleanup_free_ char *target_mt = NULL;
	_cleanup_(platform_finip) struct br_oci_platform want = {0};
	char target_digest[BR_DIGEST_BUF], digest[BR_DIGEST_BUF], chain_id[BR_DIGEST_BUF];
	const char *mt = NULL;
	size_t len;

	if (br_oci_platform_parse(a->platform ? a->platform : cfg->imaged.platform, &want, err) < 0)
		return -1;
	imaged_job_step(job, "resolve %s", name);
	const char *reference = ref->digest[0] ? ref->digest : ref->tag;
	if (imaged_registry_get_manifest(reg, http, reference, &cancel, &body, &len, &ctype, digest,
	                                 err) < 0)
		return -1;
	if (br_oci_is_schema1(ctype, body, len))
		return br_err_set(err, BR_NOT_IMPLEMENTED, "%s: the registry answered %s (%s)",
		                  reference, BR_OCI_SCHEMA1_REFUSAL,
		                  ctype ? ctype : "no Content-Type");
	enum br_oci_kind kind = document_kind(ctype, body, len, &mt);
	target_mt = xstrdup(mt ? mt : "");
	memcpy(target_digest, digest, sizeof(digest));
	struct br_descriptor target = {
	        .media_type = target_mt,
	        .digest = target_digest,
	        .size = (int64_t)len,
	};

	if (kind == BR_OCI_INDEX) {
		const struct br_oci_descriptor *d = NULL;
		if (br_oci_index_parse(body, len, mt, &idx, err) < 0)
			return br_err_wrap(err, "index %s", digest);
		if (select_platform(idx, &want, name, &d, err) < 0)
			return -1;
		if (imaged_blob_put(job, body, len, digest, err) < 0)
			return -1;
		free(body);
		free(ctype);
		body = ctype = NULL;
		imaged_job_step(job, "fetch manifest %s", d->digest);
		if (imaged_registry_get_manifest(reg, http, d->digest, &cancel, &body, &len, &ctype,
		                                 digest, err) < 0)
			return -1;
		if ((int64_t)len != d->size)
			return br_err_set(err, BR_FAILED_PRECONDITION,
			                  "manifest %s: %zu bytes, but the index says %lld",
			                  d->digest, len, (long long)d->size);
		mt = d->media_type;
	} else if (kind != BR_OCI_MANIFEST) {
		return br_err_set(err, BR_NOT_IMPLEMENTED,
		                  "%s: the registry answered a document that is neither an image "
		                  "index nor an image manifest (Content-Type %s)",
		                  reference, ctype ? ctype : "none");
	}
	if (br_oci_manifest_parse(body, len, mt, &m, err) < 0)
		return br_err_wrap(err, "manifest %s", digest);
	if (imaged_blob_put(job, body, len, digest, err) < 0)
		return -1;
	if (fetch_config(job, reg, http, &cancel, &m->config, &config, err) < 0)
		return -1;
	if (kind == BR_OCI_MANIFEST && a->platform != NULL &&
	    !config_matches(config, &want, name, err))
		return -1;
	if (imaged_unpack(job, reg, m, config, chain_id, err) < 0)
		return -1;

	return imaged_store_image(job, name, &target, digest, chain_id, m, config, false, err);
}

int
imaged_pull_run(struct imaged_job *job, char **ret_result, br_err *err)
{
	const struct imaged_pull_arg *a = job->arg;
	_cleanup_(br_ref_freep) struct br_ref *ref = NULL;

	if (br_ref_parse(a->ref, &ref, err) < 0)
		return br_err_wrap(err, "pull %s", a->ref);
	_cleanup_free_ char *name = br_ref_string(ref);
	if (pull(job, a, name, ref, err) < 0)
		return br_err_wrap(err, "pull %s", name);
	*ret_result = br_steal_ptr(&name);
	return 0;
}
