/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The docker-archive part of the import job (docs/archives.md): what `docker save` and
 * `podman save` write, manifest.json naming each image's config ("<hex>.json") and layers
 * ("<hex>.tar", the legacy "<id>/layer.tar", or "blobs/sha256/<hex>" from newer docker), with
 * links between members where layers repeat. The first pass over the archive (import.c)
 * recorded every member; here links are resolved inside the archive, the members that
 * manifest.json names are read in a second pass into contentd under the digests computed on
 * the way (a layer as found: uncompressed or gzip), and each image gets a Docker schema2
 * manifest written by us, with the layers' media types as found. The diffIDs of the config are
 * checked: an uncompressed layer's digest here, a compressed one's while it is unpacked.
 */
#include <archive.h>
#include <archive_entry.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/digest.h"
#include "common/random.h"
#include "common/json.h"
#include "common/proto/content.h"
#include "common/xalloc.h"
#include "imaged/archive.h"
#include "imaged/import.h"

#define LINK_HOPS_MAX 16
#define MT_DOCKER_LAYER_TAR "application/vnd.docker.image.rootfs.diff.tar"

/* A member that manifest.json names, once read. */
struct docker_blob {
	const char *path; /* the regular member */
	bool config;
	bool done;
	char digest[BR_DIGEST_BUF];
	int64_t size;
	int compression; /* layers: BR_OCI_COMP_* */
	char *doc;       /* a config's bytes */
	size_t doc_len;
};

struct docker_read {
	struct docker_blob *blobs;
	size_t n;
};

static const struct import_member *
find_member(const struct import_layout *lay, const char *path)
{
	for (size_t i = 0; i < lay->n_members; i++)
		if (strcmp(lay->members[i].path, path) == 0)
			return &lay->members[i];
	return NULL;
}

/* The regular member that `path` is, or leads to through links. */
static int
resolve(const struct import_layout *lay, const char *path, const char **ret, br_err *err)
{
	const char *p = path;

	for (int hops = 0; hops <= LINK_HOPS_MAX; hops++) {
		const struct import_member *m = find_member(lay, p);
		if (m == NULL)
			return br_err_set(
			        err, BR_NOT_FOUND,
			        "manifest.json names \"%.200s\", which is not in the archive",
			        path);
		if (m->target == NULL) {
			*ret = m->path;
			return 0;
		}
		p = m->target;
	}
	return br_err_set(err, BR_INVALID_ARGUMENT, "member \"%.200s\": more than %d links deep",
	                  path, LINK_HOPS_MAX);
}

static struct docker_blob *
find_blob(struct docker_read *r, const char *path)
{
	for (size_t i = 0; i < r->n; i++)
		if (strcmp(r->blobs[i].path, path) == 0)
			return &r->blobs[i];
	return NULL;
}

static int
want_blob(struct docker_read *r, const struct import_layout *lay, const char *path, bool config,
          struct docker_blob **ret, br_err *err)
{
	const char *real = NULL;

	if (resolve(lay, path, &real, err) < 0)
		return -1;
	struct docker_blob *b = find_blob(r, real);
	if (b == NULL) {
		r->blobs = xrealloc(r->blobs, (r->n + 1) * sizeof(*r->blobs));
		b = &r->blobs[r->n++];
		*b = (struct docker_blob){.path = real, .config = config};
	}
	if (b->config != config)
		return br_err_set(err, BR_INVALID_ARGUMENT,
		                  "member \"%.200s\" is named as both a config and a layer", real);
	if (ret != NULL)
		*ret = b;
	return 0;
}

/* ------------------------------------------------------------------ reading members */

/* A layer member streamed into contentd under the job's lease, hashed on the way. */
static int
write_chunk(struct imaged_job *job, const char *ref, int64_t offset, const void *data, size_t len,
            const char *digest, int64_t total, br_err *err)
{
	struct br_call_opts opts = imaged_content_opts(job);
	struct br_content_write_req req = {
	        .ref = ref,
	        .offset = offset,
	        .data = {data, len},
	        .total = total,
	        .expected = digest,
	        .commit = digest != NULL,
	};
	struct br_content_write_resp resp;
	br_arena *arena = br_arena_new();
	int rc = imaged_bridge_call(job->svc, job->svc->content, &opts, "content.write",
	                            &br_content_write_req_schema, &req,
	                            &br_content_write_resp_schema, &resp, arena, err);
	br_arena_free(arena);
	if (rc < 0 && digest != NULL && err->code == BR_ALREADY_EXISTS) {
		br_err_clear(err);
		return 0;
	}
	return rc;
}

static void
abort_ingest(struct imaged_job *job, const char *ref)
{
	struct br_call_opts opts = imaged_content_opts(job);
	struct br_content_ref_req req = {.ref = ref};
	br_arena *arena = br_arena_new();
	br_err ignored = BR_ERR_INIT;

	imaged_bridge_call(job->svc, job->svc->content, &opts, "content.abort",
	                   &br_content_ref_req_schema, &req, NULL, NULL, arena, &ignored);
	br_arena_free(arena);
}

static int
compression_of(const uint8_t *p, size_t len)
{
	if (len >= 2 && p[0] == 0x1f && p[1] == 0x8b)
		return BR_OCI_COMP_GZIP;
	if (len >= 4 && p[0] == 0x28 && p[1] == 0xb5 && p[2] == 0x2f && p[3] == 0xfd)
		return BR_OCI_COMP_ZSTD;
	return BR_OCI_COMP_NONE;
}

static int
read_layer(struct imaged_job *job, struct archive *a, struct docker_blob *b, br_err *err)
{
	_cleanup_free_ uint8_t *buf = xmalloc(BR_CHUNK_MAX);
	char ref[IMAGED_JOB_ID_LEN + 16];
	char id[IMAGED_JOB_ID_LEN + 1];
	br_sha256 *h = br_sha256_new();
	int64_t offset = 0;
	la_ssize_t n;
	int rc = 0;

	br_random_hex(id, IMAGED_JOB_ID_LEN / 2);
	snprintf(ref, sizeof(ref), "archive-%s", id);
	while ((n = archive_read_data(a, buf, BR_CHUNK_MAX)) > 0) {
		if (imaged_job_canceled(job)) {
			rc = br_err_set(err, BR_CANCELED, "canceled");
			break;
		}
		if (offset == 0)
			b->compression = compression_of(buf, (size_t)n);
		br_sha256_update(h, buf, (size_t)n);
		if ((rc = write_chunk(job, ref, offset, buf, (size_t)n, NULL, 0, err)) < 0)
			break;
		offset += n;
		imaged_job_progress(job, n, 0);
	}
	if (rc == 0 && n < 0)
		rc = br_err_set(err, BR_INVALID_ARGUMENT, "member \"%.200s\": %s", b->path,
		                archive_error_string(a) ? archive_error_string(a) : "read error");
	if (rc == 0) {
		br_sha256_final(h, b->digest);
		b->size = offset;
		rc = write_chunk(job, ref, offset, buf, 0, b->digest, offset, err);
	}
	br_sha256_free(h);
	if (rc < 0 && offset > 0)
		abort_ingest(job, ref);
	return rc;
}

static int
read_config(struct imaged_job *job, struct archive *a, struct docker_blob *b, br_err *err)
{
	_cleanup_free_ char *out = xmalloc(BR_OCI_MAX_DOC + 1);
	size_t len = 0;
	la_ssize_t n;

	while ((n = archive_read_data(a, out + len, BR_OCI_MAX_DOC + 1 - len)) > 0) {
		len += (size_t)n;
		if (len > BR_OCI_MAX_DOC)
			return br_err_set(err, BR_RESOURCE_EXHAUSTED,
			                  "config \"%.200s\": larger than %u bytes", b->path,
			                  BR_OCI_MAX_DOC);
	}
	if (n < 0)
		return br_err_set(err, BR_INVALID_ARGUMENT, "member \"%.200s\": %s", b->path,
		                  archive_error_string(a) ? archive_error_string(a) : "read error");
	out[len] = '\0';
	br_digest_buf(out, len, b->digest);
	b->size = (int64_t)len;
	if (imaged_blob_put(job, out, len, b->digest, err) < 0)
		return br_err_wrap(err, "config \"%.200s\"", b->path);
	b->doc = br_steal_ptr(&out);
	b->doc_len = len;
	return 0;
}

static int
read_member(struct imaged_job *job, struct archive *a, const char *path, void *data, br_err *err)
{
	struct docker_read *r = data;
	struct docker_blob *b = find_blob(r, path);

	if (b == NULL || b->done)
		return 0;
	imaged_job_step(job, "read %s", path);
	int rc = b->config ? read_config(job, a, b, err) : read_layer(job, a, b, err);
	b->done = rc == 0;
	return rc;
}

/* ------------------------------------------------------------------ images */

/* The Docker schema2 manifest of an image of the archive. */
static char *
manifest_json(const struct docker_blob *config, struct docker_blob *const *layers, size_t n,
              size_t *ret_len)
{
	yajl_gen g = br_json_gen_new();

	yajl_gen_map_open(g);
	br_json_gen_kv_int(g, "schemaVersion", 2);
	br_json_gen_kv_str(g, "mediaType", BR_MT_DOCKER_MANIFEST);
	br_json_gen_str(g, "config");
	yajl_gen_map_open(g);
	br_json_gen_kv_str(g, "mediaType", BR_MT_DOCKER_CONFIG);
	br_json_gen_kv_int(g, "size", config->size);
	br_json_gen_kv_str(g, "digest", config->digest);
	yajl_gen_map_close(g);
	br_json_gen_str(g, "layers");
	yajl_gen_array_open(g);
	for (size_t i = 0; i < n; i++) {
		yajl_gen_map_open(g);
		br_json_gen_kv_str(g, "mediaType",
		                   layers[i]->compression == BR_OCI_COMP_GZIP
		                           ? BR_MT_DOCKER_LAYER_GZIP
		                           : MT_DOCKER_LAYER_TAR);
		br_json_gen_kv_int(g, "size", layers[i]->size);
		br_json_gen_kv_str(g, "digest", layers[i]->digest);
		yajl_gen_map_close(g);
	}
	yajl_gen_array_close(g);
	yajl_gen_map_close(g);
	char *text = br_json_gen_take(g, ret_len);
	yajl_gen_free(g);
	return text;
}

/* Image `im` of the archive, its blobs read: the manifest written, the image imported under
 * each of `names`. */
static int
import_image(struct imaged_job *job, struct docker_read *r, const struct import_layout *lay,
             const struct imaged_docker_image *im, size_t index, char *const *names, size_t n_names,
             bool last, br_err *err)
{
	_cleanup_(br_oci_config_freep) struct br_oci_image_config *config = NULL;
	_cleanup_(br_oci_manifest_freep) struct br_oci_manifest *m = NULL;
	_cleanup_free_ struct docker_blob **layers = xcalloc(im->n_layers + 1, sizeof(*layers));
	struct docker_blob *cb = NULL;

	if (want_blob(r, lay, im->config, true, &cb, err) < 0)
		return -1;
	if (br_oci_config_parse(cb->doc, cb->doc_len, &config, err) < 0)
		return br_err_wrap(err, "config \"%.200s\"", im->config);
	if (config->n_diff_ids != im->n_layers)
		return br_err_set(err, BR_INVALID_ARGUMENT,
		                  "manifest.json[%zu] lists %zu layers, its config %zu diffIDs",
		                  index, im->n_layers, config->n_diff_ids);
	for (size_t i = 0; i < im->n_layers; i++) {
		if (want_blob(r, lay, im->layers[i], false, &layers[i], err) < 0)
			return -1;
		const struct docker_blob *b = layers[i];
		if (b->compression == BR_OCI_COMP_ZSTD)
			return br_err_set(err, BR_NOT_IMPLEMENTED,
			                  "layer \"%.200s\": zstd in a docker-archive",
			                  im->layers[i]);
		if (b->compression == BR_OCI_COMP_NONE &&
		    strcmp(b->digest, config->diff_ids[i]) != 0)
			return br_err_set(err, BR_FAILED_PRECONDITION,
			                  "layer \"%.200s\" is %s, but the config's diffID is %s",
			                  im->layers[i], b->digest, config->diff_ids[i]);
	}
	size_t len;
	_cleanup_free_ char *doc = manifest_json(cb, layers, im->n_layers, &len);
	char digest[BR_DIGEST_BUF];
	br_digest_buf(doc, len, digest);
	if (br_oci_manifest_parse(doc, len, BR_MT_DOCKER_MANIFEST, &m, err) < 0 ||
	    imaged_blob_put(job, doc, len, digest, err) < 0)
		return br_err_wrap(err, "manifest of manifest.json[%zu]", index);
	struct br_descriptor target = {BR_MT_DOCKER_MANIFEST, digest, (int64_t)len};
	for (size_t i = 0; i < n_names; i++) {
		if (import_store(job, names[i], &target, digest, m, config,
		                 !(last && i + 1 == n_names), err) < 0)
			return -1;
	}
	return 0;
}

/* The names image `im` is imported under: --name, else its RepoTags normalized. */
static int
image_names(const struct imaged_docker_image *im, size_t index, char ***ret, size_t *ret_n,
            br_err *err)
{
	char **names = xcalloc(im->n_tags + 1, sizeof(char *));
	size_t n = 0;

	for (size_t i = 0; i < im->n_tags; i++) {
		char *name = import_normalize_name(im->tags[i]);
		if (name == NULL) {
			for (size_t j = 0; j < n; j++)
				free(names[j]);
			free(names);
			return br_err_set(
			        err, BR_INVALID_ARGUMENT,
			        "manifest.json[%zu].RepoTags: \"%.200s\" is not a reference", index,
			        im->tags[i]);
		}
		names[n++] = name;
	}
	*ret = names;
	*ret_n = n;
	return 0;
}

static void
free_names(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

int
import_docker(struct imaged_job *job, const struct import_layout *lay, const char *want_name,
              char **ret_result, br_err *err)
{
	_cleanup_(imaged_docker_manifest_freep) struct imaged_docker_manifest *dm = NULL;
	struct docker_read r = {0};
	bool *chosen = NULL;
	_cleanup_free_ char *result = NULL;
	int rc = -1;

	if (imaged_archive_docker_manifest_parse(lay->docker, lay->docker_len, &dm, err) < 0)
		return -1;
	chosen = xcalloc(dm->n_images, sizeof(bool));
	/* Which images: all that are named, or the one --name picks. */
	size_t n_chosen = 0;
	for (size_t i = 0; i < dm->n_images; i++) {
		char **names;
		size_t n;
		if (image_names(&dm->images[i], i, &names, &n, err) < 0)
			goto out;
		for (size_t j = 0; j < n && want_name != NULL; j++)
			if (strcmp(names[j], want_name) == 0)
				chosen[i] = true;
		if (want_name == NULL)
			chosen[i] = n > 0;
		free_names(names, n);
		n_chosen += chosen[i];
	}
	if (want_name != NULL && n_chosen == 0 && dm->n_images == 1) {
		chosen[0] = true;
		n_chosen = 1;
	}
	if (n_chosen == 0) {
		if (want_name != NULL)
			br_err_set(err, BR_NOT_FOUND,
			           "manifest.json lists %zu images and none is tagged \"%s\"",
			           dm->n_images, want_name);
		else
			br_err_set(err, BR_INVALID_ARGUMENT,
			           "manifest.json tags no image: give the name to import it under");
		goto out;
	}
	for (size_t i = 0; i < dm->n_images; i++) {
		if (!chosen[i])
			continue;
		const struct imaged_docker_image *im = &dm->images[i];
		if (want_blob(&r, lay, im->config, true, NULL, err) < 0)
			goto out;
		for (size_t j = 0; j < im->n_layers; j++)
			if (want_blob(&r, lay, im->layers[j], false, NULL, err) < 0)
				goto out;
	}
	if (import_read_members(job, lay, read_member, &r, err) < 0)
		goto out;
	for (size_t i = 0; i < r.n; i++) {
		if (!r.blobs[i].done) {
			br_err_set(err, BR_NOT_FOUND, "member \"%.200s\" could not be read again",
			           r.blobs[i].path);
			goto out;
		}
	}
	size_t done = 0;
	for (size_t i = 0; i < dm->n_images; i++) {
		if (!chosen[i])
			continue;
		char **names;
		size_t n;
		if (want_name != NULL) {
			names = xcalloc(1, sizeof(char *));
			names[0] = xstrdup(want_name);
			n = 1;
		} else if (image_names(&dm->images[i], i, &names, &n, err) < 0) {
			goto out;
		}
		done++;
		int r2 = import_image(job, &r, lay, &dm->images[i], i, names, n, done == n_chosen,
		                      err);
		for (size_t j = 0; j < n && r2 == 0; j++) {
			char *joined =
			        result ? xasprintf("%s %s", result, names[j]) : xstrdup(names[j]);
			free(result);
			result = joined;
		}
		free_names(names, n);
		if (r2 < 0)
			goto out;
	}
	*ret_result = br_steal_ptr(&result);
	rc = 0;
out:
	for (size_t i = 0; i < r.n; i++)
		free(r.blobs[i].doc);
	free(r.blobs);
	free(chosen);
	return rc;
}
