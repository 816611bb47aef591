/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The import job (docs/archives.md): an archive, already stored in contentd as one blob by the
 * caller, of either format: an OCI image layout (oci-layout, index.json, blobs/sha256/<hex>) or
 * a docker-archive (manifest.json; import_docker.c), as tar, plain or gzip/zstd compressed. The
 * archive is read from contentd chunk by chunk, once for a layout and twice for a
 * docker-archive. The first pass checks every member's path (none absolute, none climbing out
 * with "..", no link leading out), records the members, keeps index.json and manifest.json and
 * copies every blobs/sha256/<hex> into contentd under the digest its path names (contentd
 * checks the digest on commit, so a blob whose content does not match its name is refused).
 * Then each image is resolved and unpacked exactly as a pull does, with contentd as the only
 * source, and recorded.
 *
 * Names in a layout come from the request, else from index.json's annotations:
 * "io.containerd.image.name", or "org.opencontainers.image.ref.name" when it is a full
 * reference. A bare tag ("v1", as skopeo writes for oci:dir:v1) cannot name an image alone,
 * and the request must give the name. Every named entry is imported unless the request names
 * one; the job's result lists the names, separated by spaces.
 */
#include <archive.h>
#include <archive_entry.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/json.h"
#include "common/proto/content.h"
#include "common/ref.h"
#include "common/xalloc.h"
#include "imaged/archive.h"
#include "imaged/import.h"

#define LAYOUT_FILE_MAX 4096
#define ANNOTATION_REF_NAME IMAGED_ANNOTATION_REF_NAME
#define ANNOTATION_IMAGE_NAME IMAGED_ANNOTATION_IMAGE_NAME

void
imaged_import_arg_free(void *arg)
{
	struct imaged_import_arg *a = arg;

	if (a == NULL)
		return;
	free(a->digest);
	free(a->name);
	free(a->platform);
	free(a);
}

struct archive_src {
	struct imaged_blob_reader reader;
	struct imaged_job *job; /* its progress (item 0 is the archive); NULL: not counted */
	br_err err;
	bool failed;
};

static la_ssize_t
archive_read_cb(struct archive *a, void *data, const void **buf)
{
	struct archive_src *src = data;
	ssize_t n = imaged_blob_read(&src->reader, buf, &src->err);

	if (n < 0) {
		src->failed = true;
		archive_set_error(a, EIO, "%s", src->err.msg);
	} else if (src->job != NULL) {
		imaged_job_item_progress(src->job, 0, n);
	}
	return n;
}

static int
archive_fail(struct archive *a, struct archive_src *src, const char *what, br_err *err)
{
	if (src->failed) {
		br_err_copy(err, &src->err);
		return -1;
	}
	const char *msg = archive_error_string(a);
	return br_err_set(err, BR_INVALID_ARGUMENT, "%s: %s", what,
	                  msg != NULL ? msg : "malformed archive");
}

/* Read a small member whole. */
static int
read_member(struct archive *a, struct archive_src *src, const char *name, size_t max, char **ret,
            size_t *ret_len, br_err *err)
{
	_cleanup_free_ char *out = xmalloc(max + 1);
	size_t len = 0;
	la_ssize_t n;

	while ((n = archive_read_data(a, out + len, max + 1 - len)) > 0) {
		len += (size_t)n;
		if (len > max)
			return br_err_set(err, BR_RESOURCE_EXHAUSTED,
			                  "%s: larger than the limit of %zu bytes", name, max);
	}
	if (n < 0)
		return archive_fail(a, src, name, err);
	out[len] = '\0';
	*ret = br_steal_ptr(&out);
	*ret_len = len;
	return 0;
}

static int copy_claimed(struct imaged_job *job, struct archive *a, struct archive_src *src,
                        const char *digest, int64_t size, br_err *err);

/* Copy blobs/sha256/<hex> into contentd unless it is there already; either way the job's
 * lease holds it. */
static int
copy_blob(struct imaged_job *job, struct archive *a, struct archive_src *src,
          struct archive_entry *e, const char *digest, br_err *err)
{
	int64_t size = archive_entry_size(e);
	struct imaged_cancel cancel = {{&job->cancel, NULL}};
	bool missing = false;
	int r;

	if (imaged_hold_blobs(job, &digest, 1, &missing, err) < 0)
		return -1;
	if (!missing)
		return 0;
	if (size < 0)
		return br_err_set(err, BR_INVALID_ARGUMENT, "blob %s: no size", digest);
	if (imaged_blob_claim(job->svc, digest, &cancel, err) < 0)
		return -1;
	r = copy_claimed(job, a, src, digest, size, err);
	imaged_blob_release(job->svc, digest);
	return r;
}

/* copy_blob's part under the blob's claim. */
static int
copy_claimed(struct imaged_job *job, struct archive *a, struct archive_src *src, const char *digest,
             int64_t size, br_err *err)
{
	struct imaged_ingest *w = NULL;
	const void *buf;
	size_t len;
	la_int64_t off;
	int64_t written = 0;
	bool have = false;
	int r;

	if (imaged_blob_exists(job->svc, digest, &have, err) < 0)
		return -1;
	if (have)
		return 0;
	if (imaged_ingest_new(job, digest, size, &w, err) < 0)
		return -1;
	/* The archive is read from its start: what an earlier import left is of no use. */
	if (imaged_ingest_offset(w) > 0 && imaged_ingest_restart(w, err) < 0) {
		imaged_ingest_free(w);
		return -1;
	}
	while ((r = archive_read_data_block(a, &buf, &len, &off)) == ARCHIVE_OK ||
	       r == ARCHIVE_WARN) {
		if (imaged_job_canceled(job)) {
			imaged_ingest_free(w);
			return br_err_set(err, BR_CANCELED, "canceled");
		}
		if (off != written) {
			imaged_ingest_free(w);
			return br_err_set(err, BR_INVALID_ARGUMENT, "blob %s: sparse member",
			                  digest);
		}
		if (imaged_ingest_write(w, buf, len, err) < 0) {
			imaged_ingest_free(w);
			return -1;
		}
		written += (int64_t)len;
		imaged_job_progress(job, (int64_t)len, 0);
	}
	if (r != ARCHIVE_EOF) {
		imaged_ingest_free(w);
		return archive_fail(a, src, digest, err);
	}
	r = imaged_ingest_commit(w, err);
	imaged_ingest_free(w);
	return r;
}

/* The canonical path of a member, NULL for one to skip (the root "./"), or -1 with err for
 * one that is absolute or climbs out. */
static int
member_path(const char *raw, char **ret, br_err *err)
{
	*ret = NULL;
	if (raw == NULL)
		return br_err_set(err, BR_INVALID_ARGUMENT, "a member without a name");
	if (raw[0] == '/')
		return br_err_set(err, BR_INVALID_ARGUMENT, "member \"%.200s\": an absolute path",
		                  raw);
	if (strlen(raw) > IMAGED_ARCHIVE_MAX_MEMBER)
		return br_err_set(err, BR_INVALID_ARGUMENT, "member \"%.200s...\": longer than %d",
		                  raw, IMAGED_ARCHIVE_MAX_MEMBER);
	*ret = imaged_archive_member(raw);
	if (*ret == NULL && strspn(raw, "./") != strlen(raw))
		return br_err_set(err, BR_INVALID_ARGUMENT,
		                  "member \"%.200s\": \"..\" leads out of the archive", raw);
	if (*ret == NULL && strstr(raw, "..") != NULL)
		return br_err_set(err, BR_INVALID_ARGUMENT,
		                  "member \"%.200s\": \"..\" leads out of the archive", raw);
	return 0;
}

typedef int (*entry_fn)(struct imaged_job *job, struct archive *a, struct archive_src *src,
                        struct archive_entry *e, const char *path, void *data, br_err *err);

static int first_pass(struct imaged_job *job, struct archive *a, struct archive_src *src,
                      struct archive_entry *e, const char *path, void *data, br_err *err);

/* One pass over the archive: `fn` for every member whose path is sound. */
static int
walk(struct imaged_job *job, const char *digest, entry_fn fn, void *data, br_err *err)
{
	struct archive_src src = {
	        .reader = {.svc = job->svc, .ns = job->ns, .digest = digest},
	        /* the archive's progress is that of the first pass over it */
	        .job = fn == first_pass ? job : NULL,
	};
	struct imaged_cancel cancel = {{&job->cancel, NULL}};
	struct archive_entry *e;
	size_t entries = 0;
	int r, rc = 0;

	src.reader.cancel = &cancel;
	struct archive *a = archive_read_new();
	archive_read_support_format_tar(a);
	archive_read_support_filter_gzip(a);
	archive_read_support_filter_zstd(a);
	if (archive_read_open(a, &src, NULL, archive_read_cb, NULL) != ARCHIVE_OK) {
		rc = archive_fail(a, &src, "read", err);
		goto out;
	}
	while (rc == 0 && (r = archive_read_next_header(a, &e)) != ARCHIVE_EOF) {
		if (r < ARCHIVE_WARN) {
			rc = archive_fail(a, &src, "read", err);
			break;
		}
		if (++entries > IMPORT_MAX_MEMBERS) {
			rc = br_err_set(err, BR_RESOURCE_EXHAUSTED, "more than %d members",
			                IMPORT_MAX_MEMBERS);
			break;
		}
		_cleanup_free_ char *path = NULL;
		rc = member_path(archive_entry_pathname(e), &path, err);
		if (rc == 0 && path != NULL)
			rc = fn(job, a, &src, e, path, data, err);
	}
out:
	archive_read_free(a);
	imaged_blob_reader_fini(&src.reader);
	if (rc == 0 && src.job != NULL)
		imaged_job_item_state(job, 0, IMAGED_ITEM_DONE);
	return rc;
}

/* The job's progress lists the archive while its blobs are copied (unpack.c then lists the
 * layers). */
static int
list_archive(struct imaged_job *job, const char *digest, br_err *err)
{
	struct br_call_opts opts = imaged_content_opts(job);
	struct br_content_digest_req req = {.digest = digest};
	struct br_content_info info;
	br_arena *arena = br_arena_new();

	int rc = imaged_bridge_call(job->svc, job->svc->content, &opts, "content.info",
	                            &br_content_digest_req_schema, &req, &br_content_info_schema,
	                            &info, arena, err);
	if (rc == 0) {
		imaged_job_items_init(job, 1);
		imaged_job_item_set(job, 0, digest, info.size);
		imaged_job_item_state(job, 0, IMAGED_ITEM_UNPACKING);
	} else {
		br_err_wrap(err, "archive %s", digest);
	}
	br_arena_free(arena);
	return rc;
}

static void
layout_fini(struct import_layout *lay)
{
	free(lay->index);
	free(lay->docker);
	for (size_t i = 0; i < lay->n_members; i++) {
		free(lay->members[i].path);
		free(lay->members[i].target);
	}
	free(lay->members);
}

/* Remember a member (for a docker-archive's second pass). */
static int
record(struct import_layout *lay, struct archive_entry *e, const char *path, br_err *err)
{
	const char *hard = archive_entry_hardlink(e);
	char *target = NULL;

	if (hard != NULL) {
		if (hard[0] == '/' || (target = imaged_archive_member(hard)) == NULL)
			return br_err_set(
			        err, BR_INVALID_ARGUMENT,
			        "member \"%.200s\": a link to \"%.200s\", outside the archive",
			        path, hard);
	} else if (archive_entry_filetype(e) == AE_IFLNK) {
		const char *sym = archive_entry_symlink(e);
		if (sym == NULL || (target = imaged_archive_link(path, sym)) == NULL)
			return br_err_set(
			        err, BR_INVALID_ARGUMENT,
			        "member \"%.200s\": a link to \"%.200s\", outside the archive",
			        path, sym ? sym : "");
	} else if (archive_entry_filetype(e) != AE_IFREG) {
		return 0;
	}
	lay->members = xrealloc(lay->members, (lay->n_members + 1) * sizeof(*lay->members));
	lay->members[lay->n_members++] = (struct import_member){
	        .path = xstrdup(path),
	        .target = target,
	        .size = archive_entry_size(e),
	};
	return 0;
}

/* The first pass: record members, keep the documents, copy the blobs. */
static int
first_pass(struct imaged_job *job, struct archive *a, struct archive_src *src,
           struct archive_entry *e, const char *path, void *data, br_err *err)
{
	struct import_layout *lay = data;

	if (record(lay, e, path, err) < 0)
		return -1;
	if (archive_entry_filetype(e) != AE_IFREG || archive_entry_hardlink(e) != NULL)
		return 0;
	if (strcmp(path, "oci-layout") == 0) {
		_cleanup_free_ char *doc = NULL;
		size_t len;
		yajl_val root = NULL;
		const char *version = NULL;
		int rc = read_member(a, src, "oci-layout", LAYOUT_FILE_MAX, &doc, &len, err);
		if (rc == 0)
			rc = br_json_parse(doc, len, LAYOUT_FILE_MAX, "oci-layout", &root, err);
		if (rc == 0)
			rc = br_json_get_str(root, "oci-layout", "imageLayoutVersion", true,
			                     &version, err);
		if (root != NULL)
			yajl_tree_free(root);
		lay->have_layout = rc == 0;
		return rc;
	}
	if (strcmp(path, "index.json") == 0) {
		free(lay->index);
		lay->index = NULL;
		return read_member(a, src, "index.json", BR_OCI_MAX_DOC, &lay->index,
		                   &lay->index_len, err);
	}
	if (strcmp(path, "manifest.json") == 0) {
		free(lay->docker);
		lay->docker = NULL;
		return read_member(a, src, "manifest.json", IMAGED_ARCHIVE_MAX_DOC, &lay->docker,
		                   &lay->docker_len, err);
	}
	if (strncmp(path, "blobs/sha256/", 13) == 0) {
		_cleanup_free_ char *d = xasprintf("sha256:%s", path + 13);
		if (!br_digest_valid(d))
			return br_err_set(err, BR_INVALID_ARGUMENT,
			                  "member \"%.200s\" is not named by a sha256 digest",
			                  path);
		imaged_job_step(job, "copy blob %s", d);
		lay->blobs++;
		return copy_blob(job, a, src, e, d, err);
	}
	return 0;
}

struct second {
	import_member_fn fn;
	void *data;
};

static int
second_pass(struct imaged_job *job, struct archive *a, struct archive_src *src,
            struct archive_entry *e, const char *path, void *data, br_err *err)
{
	struct second *s = data;

	if (archive_entry_filetype(e) != AE_IFREG || archive_entry_hardlink(e) != NULL)
		return 0;
	if (s->fn(job, a, path, s->data, err) < 0) {
		if (src->failed) {
			br_err_copy(err, &src->err);
			return -1;
		}
		return -1;
	}
	return 0;
}

int
import_read_members(struct imaged_job *job, const struct import_layout *lay, import_member_fn fn,
                    void *data, br_err *err)
{
	struct second s = {fn, data};

	return walk(job, lay->digest, second_pass, &s, err);
}

/* The annotations of index.json's manifests[i] that name an image. */
static void
entry_names(yajl_val root, size_t i, const char **ret_ref_name, const char **ret_image_name)
{
	yajl_val manifests = NULL, ann = NULL;

	*ret_ref_name = *ret_image_name = NULL;
	if (br_json_get_array(root, "", "manifests", false, &manifests, NULL) < 0 ||
	    manifests == NULL || i >= manifests->u.array.len ||
	    !YAJL_IS_OBJECT(manifests->u.array.values[i]))
		return;
	if (br_json_get_obj(manifests->u.array.values[i], "", "annotations", false, &ann, NULL) <
	            0 ||
	    ann == NULL)
		return;
	br_json_get_str(ann, "", ANNOTATION_REF_NAME, false, ret_ref_name, NULL);
	br_json_get_str(ann, "", ANNOTATION_IMAGE_NAME, false, ret_image_name, NULL);
}

char *
import_normalize_name(const char *s)
{
	struct br_ref *ref = NULL;

	if (s == NULL || br_ref_parse(s, &ref, NULL) < 0)
		return NULL;
	char *out = br_ref_string(ref);
	br_ref_free(ref);
	return out;
}

/* A ref.name annotation that is a whole reference rather than a bare tag. */
static bool
is_full_reference(const char *s)
{
	return strpbrk(s, "/:@") != NULL;
}

/* The index.json entry to import and the name to import it under: the one `want_name`
 * names, or the archive's only one. */
static int
choose_entry(const struct import_layout *lay, const struct br_oci_index *idx, const char *want_name,
             size_t *ret_entry, char **ret_name, br_err *err)
{
	yajl_val root = NULL;
	_cleanup_free_ char *name = NULL;
	size_t chosen = idx->n_manifests;

	if (idx->n_manifests == 0)
		return br_err_set(err, BR_INVALID_ARGUMENT, "index.json lists no manifests");
	if (br_json_parse(lay->index, lay->index_len, BR_OCI_MAX_DOC, "index.json", &root, err) < 0)
		return -1;
	if (want_name != NULL) {
		name = xstrdup(want_name);
		struct br_ref *ref = NULL;
		br_ref_parse(want_name, &ref, NULL);
		for (size_t i = 0; i < idx->n_manifests && chosen == idx->n_manifests; i++) {
			const char *ref_name, *image_name;
			entry_names(root, i, &ref_name, &image_name);
			_cleanup_free_ char *a = import_normalize_name(image_name);
			_cleanup_free_ char *b = ref_name && is_full_reference(ref_name)
			                                 ? import_normalize_name(ref_name)
			                                 : NULL;
			if ((a && strcmp(a, want_name) == 0) || (b && strcmp(b, want_name) == 0) ||
			    (ref_name && ref && ref->tag && strcmp(ref_name, ref->tag) == 0))
				chosen = i;
		}
		br_ref_free(ref);
		if (chosen == idx->n_manifests && idx->n_manifests == 1)
			chosen = 0;
		if (chosen == idx->n_manifests) {
			yajl_tree_free(root);
			return br_err_set(err, BR_NOT_FOUND,
			                  "index.json lists %zu images and none is named \"%s\"",
			                  idx->n_manifests, want_name);
		}
	} else {
		chosen = 0;
		const char *ref_name, *image_name;
		entry_names(root, 0, &ref_name, &image_name);
		if (image_name != NULL) {
			name = import_normalize_name(image_name);
		} else if (ref_name != NULL && is_full_reference(ref_name)) {
			name = import_normalize_name(ref_name);
		} else if (ref_name != NULL) {
			br_err_set(
			        err, BR_INVALID_ARGUMENT,
			        "index.json names the image only by the tag \"%.128s\": give the "
			        "name to import it under",
			        ref_name);
			yajl_tree_free(root);
			return -1;
		}
		if (name == NULL) {
			yajl_tree_free(root);
			return br_err_set(
			        err, BR_INVALID_ARGUMENT,
			        "index.json gives the image no usable name: give the name "
			        "to import it under");
		}
	}
	yajl_tree_free(root);
	*ret_entry = chosen;
	*ret_name = br_steal_ptr(&name);
	return 0;
}

/* Read a document blob from contentd and check its size against its descriptor. */
static int
get_document(struct imaged_job *job, const struct br_oci_descriptor *d, const char *what,
             char **ret, size_t *ret_len, br_err *err)
{
	if (imaged_blob_get(job->svc, d->digest, BR_OCI_MAX_DOC, ret, ret_len, err) < 0) {
		if (err != NULL && err->code == BR_NOT_FOUND)
			return br_err_set(err, BR_NOT_FOUND, "%s %s is not in the archive", what,
			                  d->digest);
		return -1;
	}
	if ((int64_t)*ret_len != d->size) {
		free(*ret);
		return br_err_set(err, BR_FAILED_PRECONDITION,
		                  "%s %s: %zu bytes, but %lld expected", what, d->digest, *ret_len,
		                  (long long)d->size);
	}
	return 0;
}

static void
platform_finip(struct br_oci_platform *p)
{
	br_oci_platform_fini(p);
}

int
import_store(struct imaged_job *job, const char *name, const struct br_descriptor *target,
             const char *manifest_digest, const struct br_oci_manifest *m,
             const struct br_oci_image_config *config, bool keep_job_lease, br_err *err)
{
	char chain_id[BR_DIGEST_BUF];

	if (imaged_unpack(job, NULL, m, config, chain_id, err) < 0)
		return br_err_wrap(err, "%s", name);
	return imaged_store_image(job, name, target, manifest_digest, chain_id, m, config,
	                          keep_job_lease, err);
}

/* Import index.json entry `d` as `name`: an index selects `want`'s platform. */
static int
import_entry(struct imaged_job *job, const struct br_oci_descriptor *d, const char *name,
             const struct br_oci_platform *want, bool keep_job_lease, br_err *err)
{
	_cleanup_(br_oci_index_freep) struct br_oci_index *sub = NULL;
	_cleanup_(br_oci_manifest_freep) struct br_oci_manifest *m = NULL;
	_cleanup_(br_oci_config_freep) struct br_oci_image_config *config = NULL;
	_cleanup_free_ char *doc = NULL, *cdoc = NULL;
	size_t len, clen;
	struct br_descriptor target = {
	        .media_type = d->media_type,
	        .digest = d->digest,
	        .size = d->size,
	};

	if (br_oci_kind_of(d->media_type) == BR_OCI_INDEX) {
		const struct br_oci_descriptor *sel;
		if (get_document(job, d, "index", &doc, &len, err) < 0)
			return -1;
		if (br_oci_index_parse(doc, len, d->media_type, &sub, err) < 0)
			return br_err_wrap(err, "index %s", d->digest);
		sel = br_oci_index_select(sub, want->os, want->architecture, want->variant);
		if (sel == NULL) {
			_cleanup_free_ char *w =
			        imaged_platform_string(want->os, want->architecture, want->variant);
			return br_err_set(err, BR_NOT_FOUND, "index %s has no manifest for %s",
			                  d->digest, w);
		}
		d = sel;
		free(doc);
		doc = NULL;
	} else if (br_oci_kind_of(d->media_type) != BR_OCI_MANIFEST) {
		return br_err_set(err, BR_NOT_IMPLEMENTED,
		                  "index.json entry %s: media type \"%s\" is not an image",
		                  d->digest, d->media_type ? d->media_type : "");
	}
	if (get_document(job, d, "manifest", &doc, &len, err) < 0)
		return -1;
	if (br_oci_manifest_parse(doc, len, d->media_type, &m, err) < 0)
		return br_err_wrap(err, "manifest %s", d->digest);
	if (get_document(job, &m->config, "config", &cdoc, &clen, err) < 0)
		return -1;
	if (br_oci_config_parse(cdoc, clen, &config, err) < 0)
		return br_err_wrap(err, "config %s", m->config.digest);
	return import_store(job, name, &target, d->digest, m, config, keep_job_lease, err);
}

/* The name of index.json entry i from its annotations, NULL when it has none usable. */
static char *
annotated_name(const struct import_layout *lay, size_t i)
{
	yajl_val root = NULL;
	const char *ref_name, *image_name;
	char *name = NULL;

	if (br_json_parse(lay->index, lay->index_len, BR_OCI_MAX_DOC, "index.json", &root, NULL) <
	    0)
		return NULL;
	entry_names(root, i, &ref_name, &image_name);
	if (image_name != NULL)
		name = import_normalize_name(image_name);
	else if (ref_name != NULL && is_full_reference(ref_name))
		name = import_normalize_name(ref_name);
	yajl_tree_free(root);
	return name;
}

/* An OCI image layout: the entry `want_name` picks or the only one, else every named one. */
static int
import_layout(struct imaged_job *job, const struct import_layout *lay, const char *want_name,
              const struct br_oci_platform *want, char **ret_result, br_err *err)
{
	_cleanup_(br_oci_index_freep) struct br_oci_index *idx = NULL;
	_cleanup_free_ char *result = NULL;

	if (br_oci_index_parse(lay->index, lay->index_len, NULL, &idx, err) < 0)
		return br_err_wrap(err, "index.json");
	if (idx->n_manifests > IMAGED_ARCHIVE_MAX_IMAGES)
		return br_err_set(err, BR_RESOURCE_EXHAUSTED,
		                  "index.json lists more than %d images",
		                  IMAGED_ARCHIVE_MAX_IMAGES);
	if (want_name != NULL || idx->n_manifests <= 1) {
		size_t entry = 0;
		_cleanup_free_ char *name = NULL;
		if (choose_entry(lay, idx, want_name, &entry, &name, err) < 0 ||
		    import_entry(job, &idx->manifests[entry], name, want, false, err) < 0)
			return -1;
		*ret_result = br_steal_ptr(&name);
		return 0;
	}
	char **names = xcalloc(idx->n_manifests, sizeof(char *));
	size_t named = 0, done = 0;
	int rc = 0;
	for (size_t i = 0; i < idx->n_manifests; i++)
		named += (names[i] = annotated_name(lay, i)) != NULL;
	if (named == 0)
		rc = br_err_set(err, BR_INVALID_ARGUMENT,
		                "index.json lists %zu images and names none: give the name of "
		                "one to import",
		                idx->n_manifests);
	for (size_t i = 0; i < idx->n_manifests && rc == 0; i++) {
		if (names[i] == NULL)
			continue;
		done++;
		rc = import_entry(job, &idx->manifests[i], names[i], want, done < named, err);
		if (rc == 0) {
			char *joined =
			        result ? xasprintf("%s %s", result, names[i]) : xstrdup(names[i]);
			free(result);
			result = joined;
		}
	}
	for (size_t i = 0; i < idx->n_manifests; i++)
		free(names[i]);
	free(names);
	if (rc < 0)
		return -1;
	*ret_result = br_steal_ptr(&result);
	return 0;
}

static int
import(struct imaged_job *job, const struct imaged_import_arg *a, char **ret_result, br_err *err)
{
	const struct br_config *cfg = job->svc->cfg;
	struct import_layout lay = {.digest = a->digest};
	_cleanup_(platform_finip) struct br_oci_platform want = {0};
	int rc;

	if (br_oci_platform_parse(a->platform ? a->platform : cfg->imaged.platform, &want, err) < 0)
		return -1;
	bool missing = false;
	const char *archive = a->digest;
	if (imaged_hold_blobs(job, &archive, 1, &missing, err) < 0)
		return -1;
	if (missing)
		return br_err_set(err, BR_NOT_FOUND, "archive %s: not found in the content store",
		                  a->digest);
	imaged_job_step(job, "read archive %s", a->digest);
	if (list_archive(job, a->digest, err) < 0)
		return -1;
	rc = walk(job, a->digest, first_pass, &lay, err);
	if (rc == 0 && lay.index != NULL && lay.have_layout)
		rc = import_layout(job, &lay, a->name, &want, ret_result, err);
	else if (rc == 0 && lay.docker != NULL)
		rc = import_docker(job, &lay, a->name, ret_result, err);
	else if (rc == 0)
		rc = br_err_set(err, BR_INVALID_ARGUMENT,
		                "neither an OCI image layout nor a docker-archive: %s is missing",
		                lay.index == NULL ? "index.json (or manifest.json)" : "oci-layout");
	layout_fini(&lay);
	return rc;
}

int
imaged_import_run(struct imaged_job *job, char **ret_result, br_err *err)
{
	const struct imaged_import_arg *a = job->arg;

	if (import(job, a, ret_result, err) < 0)
		return br_err_wrap(err, "import %s", a->digest);
	return 0;
}
