/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The export job (docs/archives.md): image records written as one tar archive straight to a
 * client's stream (streams.c hands the connection over), never staged in the content store.
 * First the plan: the documents of every image are read from contentd and every blob the
 * archive will hold is added to the job's lease, so that nothing goes while it is written.
 * Then the stream's REPLY ({id}: the job), the tar in STDOUT frames, and EXIT 0.
 *
 * Two formats. An OCI image layout (oci-layout, index.json, blobs/sha256/<hex>): each image
 * is an entry of index.json named by io.containerd.image.name and org.opencontainers.image.
 * ref.name; an image whose target is an index exports that index and each of its platform
 * manifests whose blobs are all here (platforms never pulled stay named by the index, their
 * blobs absent, as containerd's export without --all-platforms), or with a platform only that
 * platform's manifest. A docker-archive (manifest.json, repositories, <config hex>.json,
 * <diffID hex>.tar): one platform per image, its layers uncompressed, each checked against the
 * config's diffID on the way (a compressed layer is read twice: once for its size and diffID,
 * which the tar header needs first, once to write it).
 *
 * A client that goes away (the stream's write fails) ends the job as canceled; jobs.cancel
 * and a stop end it too: writes wait at most EXPORT_SEND_WAIT_MS before looking again.
 */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/digest.h"
#include "common/stream.h"
#include "common/xalloc.h"
#include "imaged/archive.h"
#include "imaged/imaged.h"

#define EXPORT_SEND_WAIT_MS 500
#define EXPORT_MAX_BLOBS 4096

void
imaged_export_arg_free(void *arg)
{
	struct imaged_export_arg *a = arg;

	if (a == NULL)
		return;
	if (a->fd >= 0)
		close(a->fd);
	for (size_t i = 0; i < a->n_images; i++) {
		free(a->images[i].name);
		free(a->images[i].tag);
		free(a->images[i].target_media_type);
	}
	free(a->images);
	free(a->platform);
	free(a);
}
/* A blob of the archive, and the member it becomes. */
struct member {
	char digest[BR_DIGEST_BUF];
	int64_t size;
	char *path;
	char diff_id[BR_DIGEST_BUF]; /* docker: the layer's uncompressed digest, else "" */
	int compression;             /* docker layers: BR_OCI_COMP_* */
};

struct plan {
	struct member *members;
	size_t n;
	struct imaged_index_entry *entries; /* oci */
	size_t n_entries;
	struct imaged_docker_image *docker; /* docker */
	size_t n_docker;
	char **strings; /* what entries and docker point to */
	size_t n_strings;
	int64_t total;
};

static const char *
keep(struct plan *p, char *s)
{
	p->strings = xrealloc(p->strings, (p->n_strings + 1) * sizeof(char *));
	p->strings[p->n_strings++] = s;
	return s;
}

static void
plan_fini(struct plan *p)
{
	for (size_t i = 0; i < p->n; i++)
		free(p->members[i].path);
	free(p->members);
	free(p->entries);
	for (size_t i = 0; i < p->n_docker; i++) {
		free(p->docker[i].tags);
		free(p->docker[i].layers);
	}
	free(p->docker);
	for (size_t i = 0; i < p->n_strings; i++)
		free(p->strings[i]);
	free(p->strings);
}

static bool
planned(const struct plan *p, const char *path)
{
	for (size_t i = 0; i < p->n; i++)
		if (strcmp(p->members[i].path, path) == 0)
			return true;
	return false;
}

/* Add a blob as member `path` (once: images share layers). */
static int
add_member(struct plan *p, const char *digest, int64_t size, char *path, const char *diff_id,
           int compression, br_err *err)
{
	if (planned(p, path)) {
		free(path);
		return 0;
	}
	if (p->n >= EXPORT_MAX_BLOBS) {
		free(path);
		return br_err_set(err, BR_RESOURCE_EXHAUSTED, "more than %d blobs",
		                  EXPORT_MAX_BLOBS);
	}
	p->members = xrealloc(p->members, (p->n + 1) * sizeof(*p->members));
	struct member *m = &p->members[p->n++];
	*m = (struct member){.size = size, .path = path, .compression = compression};
	snprintf(m->digest, sizeof(m->digest), "%s", digest);
	snprintf(m->diff_id, sizeof(m->diff_id), "%s", diff_id ? diff_id : "");
	p->total += size > 0 ? size : 0;
	return 0;
}

static int
add_blob(struct plan *p, const char *digest, int64_t size, br_err *err)
{
	return add_member(p, digest, size, xasprintf("blobs/sha256/%s", br_digest_hex(digest)),
	                  NULL, 0, err);
}

/* Hold blob `digest` in the job's lease; *ret_have says whether contentd has it. */
static int
hold(struct imaged_job *job, const char *digest, bool *ret_have, br_err *err)
{
	bool missing = false;

	if (imaged_hold_blobs(job, &digest, 1, &missing, err) < 0)
		return -1;
	*ret_have = !missing;
	return 0;
}

/* Read a held document blob and check its size. */
static int
document(struct imaged_job *job, const char *digest, int64_t size, const char *what, char **ret,
         size_t *ret_len, br_err *err)
{
	bool have;

	if (hold(job, digest, &have, err) < 0)
		return -1;
	if (!have)
		return br_err_set(err, BR_NOT_FOUND, "%s %s is not in the content store", what,
		                  digest);
	if (imaged_blob_get(job->svc, digest, BR_OCI_MAX_DOC, ret, ret_len, err) < 0)
		return br_err_wrap(err, "%s %s", what, digest);
	if (size >= 0 && (int64_t)*ret_len != size) {
		free(*ret);
		return br_err_set(err, BR_FAILED_PRECONDITION, "%s %s: %zu bytes, %lld expected",
		                  what, digest, *ret_len, (long long)size);
	}
	return 0;
}

/* A platform manifest, its config and layers: parsed, held; *ret_complete says whether every
 * blob is here. `ret_m`/`ret_c` may be NULL. */
static int
load_manifest(struct imaged_job *job, const struct br_descriptor *d, bool *ret_complete,
              struct br_oci_manifest **ret_m, struct br_oci_image_config **ret_c, br_err *err)
{
	_cleanup_free_ char *doc = NULL, *cdoc = NULL;
	_cleanup_(br_oci_manifest_freep) struct br_oci_manifest *m = NULL;
	_cleanup_(br_oci_config_freep) struct br_oci_image_config *c = NULL;
	size_t len, clen;
	bool have;

	*ret_complete = false;
	if (hold(job, d->digest, &have, err) < 0)
		return -1;
	if (!have)
		return 0;
	if (document(job, d->digest, d->size, "manifest", &doc, &len, err) < 0 ||
	    br_oci_manifest_parse(doc, len, d->media_type, &m, err) < 0)
		return br_err_wrap(err, "manifest %s", d->digest);
	if (hold(job, m->config.digest, &have, err) < 0)
		return -1;
	if (!have)
		return 0;
	if (document(job, m->config.digest, m->config.size, "config", &cdoc, &clen, err) < 0 ||
	    br_oci_config_parse(cdoc, clen, &c, err) < 0)
		return br_err_wrap(err, "config %s", m->config.digest);
	for (size_t i = 0; i < m->n_layers; i++) {
		if (hold(job, m->layers[i].digest, &have, err) < 0)
			return -1;
		if (!have)
			return 0;
	}
	*ret_complete = true;
	if (ret_m != NULL)
		*ret_m = br_steal_ptr(&m);
	if (ret_c != NULL)
		*ret_c = br_steal_ptr(&c);
	return 0;
}

static int
add_manifest_blobs(struct plan *p, const struct br_descriptor *d, const struct br_oci_manifest *m,
                   br_err *err)
{
	if (add_blob(p, d->digest, d->size, err) < 0 ||
	    add_blob(p, m->config.digest, m->config.size, err) < 0)
		return -1;
	for (size_t i = 0; i < m->n_layers; i++)
		if (add_blob(p, m->layers[i].digest, m->layers[i].size, err) < 0)
			return -1;
	return 0;
}

/* A manifest chosen for export. */
struct chosen {
	char *media_type;
	char digest[BR_DIGEST_BUF];
	int64_t size;
	struct br_oci_platform platform; /* from the index; zero when it had none */
};

static void
chosen_fini(struct chosen *c)
{
	free(c->media_type);
	br_oci_platform_fini(&c->platform);
}

static void
set_chosen(struct chosen *c, const struct br_oci_descriptor *d)
{
	c->media_type = xstrdup(d->media_type ? d->media_type : BR_MT_OCI_MANIFEST);
	snprintf(c->digest, sizeof(c->digest), "%s", d->digest);
	c->size = d->size;
	if (d->platform != NULL) {
		c->platform.os = d->platform->os ? xstrdup(d->platform->os) : NULL;
		c->platform.architecture =
		        d->platform->architecture ? xstrdup(d->platform->architecture) : NULL;
		c->platform.variant = d->platform->variant ? xstrdup(d->platform->variant) : NULL;
	}
}

/* The index that `img` names, parsed (NULL when its target is a manifest). */
static int
load_index(struct imaged_job *job, const struct imaged_export_image *img, struct br_oci_index **ret,
           br_err *err)
{
	_cleanup_free_ char *doc = NULL;
	size_t len;

	*ret = NULL;
	if (br_oci_kind_of(img->target_media_type) != BR_OCI_INDEX)
		return 0;
	if (document(job, img->target_digest, img->target_size, "index", &doc, &len, err) < 0 ||
	    br_oci_index_parse(doc, len, img->target_media_type, ret, err) < 0)
		return br_err_wrap(err, "index %s", img->target_digest);
	return 0;
}

/* The platform manifest of `img` to export: the record's, or with `want` the index's for it. */
static int
choose_manifest(const struct imaged_export_image *img, const struct br_oci_index *idx,
                const struct br_oci_platform *want, struct chosen *ret, br_err *err)
{
	if (idx == NULL) {
		ret->media_type = xstrdup(img->target_media_type);
		snprintf(ret->digest, sizeof(ret->digest), "%s", img->target_digest);
		ret->size = img->target_size;
		return 0;
	}
	const struct br_oci_descriptor *sel = NULL;
	if (want != NULL) {
		sel = br_oci_index_select(idx, want->os, want->architecture, want->variant);
		if (sel == NULL) {
			_cleanup_free_ char *w =
			        imaged_platform_string(want->os, want->architecture, want->variant);
			return br_err_set(err, BR_NOT_FOUND, "image %s has no manifest for %s",
			                  img->name, w);
		}
	} else {
		for (size_t i = 0; i < idx->n_manifests && sel == NULL; i++)
			if (strcmp(idx->manifests[i].digest, img->manifest_digest) == 0)
				sel = &idx->manifests[i];
		if (sel == NULL)
			return br_err_set(err, BR_FAILED_PRECONDITION,
			                  "index %s does not name manifest %s", img->target_digest,
			                  img->manifest_digest);
	}
	set_chosen(ret, sel);
	return 0;
}

/* ------------------------------------------------------------------ the plan */

/* Whether an image of a single manifest, whose config is `c`, is for platform `want`. */
static bool
platform_matches(const struct br_oci_image_config *c, const struct br_oci_platform *want)
{
	return strcmp(c->os ? c->os : "", want->os) == 0 &&
	       strcmp(c->architecture ? c->architecture : "", want->architecture) == 0;
}

static int
not_for(const struct imaged_export_image *img, const struct br_oci_platform *want, br_err *err)
{
	_cleanup_free_ char *w =
	        imaged_platform_string(want->os, want->architecture, want->variant);

	return br_err_set(err, BR_NOT_FOUND, "image %s is not for %s", img->name, w);
}

/* An image of the OCI layout: its index.json entry and its blobs. */
static int
plan_oci_image(struct imaged_job *job, struct plan *p, const struct imaged_export_image *img,
               const struct br_oci_platform *want, br_err *err)
{
	_cleanup_(br_oci_index_freep) struct br_oci_index *idx = NULL;
	_cleanup_(chosen_fini) struct chosen c = {0};
	struct imaged_index_entry e = {0};
	bool complete;

	if (load_index(job, img, &idx, err) < 0)
		return -1;
	e.name = keep(p, xstrdup(img->name));
	e.ref_name = img->tag ? keep(p, xstrdup(img->tag)) : NULL;
	if (idx != NULL && want == NULL) {
		/* The whole index, and every platform that is here in full. */
		e.media_type = keep(p, xstrdup(img->target_media_type));
		e.digest = keep(p, xstrdup(img->target_digest));
		e.size = img->target_size;
		if (add_blob(p, img->target_digest, img->target_size, err) < 0)
			return -1;
		size_t platforms = 0;
		for (size_t i = 0; i < idx->n_manifests; i++) {
			const struct br_oci_descriptor *d = &idx->manifests[i];
			_cleanup_(br_oci_manifest_freep) struct br_oci_manifest *m = NULL;
			if (br_oci_kind_of(d->media_type) != BR_OCI_MANIFEST)
				continue;
			struct br_descriptor bd = {d->media_type, d->digest, d->size};
			if (load_manifest(job, &bd, &complete, &m, NULL, err) < 0)
				return -1;
			if (!complete)
				continue;
			if (add_manifest_blobs(p, &bd, m, err) < 0)
				return -1;
			platforms++;
		}
		if (platforms == 0)
			return br_err_set(
			        err, BR_FAILED_PRECONDITION,
			        "image %s: no platform of index %s is in the content store",
			        img->name, img->target_digest);
	} else {
		_cleanup_(br_oci_manifest_freep) struct br_oci_manifest *m = NULL;
		_cleanup_(br_oci_config_freep) struct br_oci_image_config *config = NULL;
		if (choose_manifest(img, idx, want, &c, err) < 0)
			return -1;
		struct br_descriptor bd = {c.media_type, c.digest, c.size};
		if (load_manifest(job, &bd, &complete, &m, &config, err) < 0)
			return -1;
		if (!complete)
			return br_err_set(
			        err, BR_NOT_FOUND,
			        "image %s: manifest %s is not in the content store in full "
			        "(pull that platform first)",
			        img->name, c.digest);
		if (idx == NULL && want != NULL && !platform_matches(config, want))
			return not_for(img, want, err);
		if (add_manifest_blobs(p, &bd, m, err) < 0)
			return -1;
		e.media_type = keep(p, xstrdup(c.media_type));
		e.digest = keep(p, xstrdup(c.digest));
		e.size = c.size;
		if (c.platform.os != NULL) {
			e.os = keep(p, xstrdup(c.platform.os));
			e.architecture = c.platform.architecture
			                         ? keep(p, xstrdup(c.platform.architecture))
			                         : NULL;
			e.variant =
			        c.platform.variant ? keep(p, xstrdup(c.platform.variant)) : NULL;
		}
	}
	p->entries = xrealloc(p->entries, (p->n_entries + 1) * sizeof(*p->entries));
	p->entries[p->n_entries++] = e;
	return 0;
}

/* An image of the docker-archive: its manifest.json entry, config and layers. */
static int
plan_docker_image(struct imaged_job *job, struct plan *p, const struct imaged_export_image *img,
                  const struct br_oci_platform *want, br_err *err)
{
	_cleanup_(br_oci_index_freep) struct br_oci_index *idx = NULL;
	_cleanup_(chosen_fini) struct chosen c = {0};
	_cleanup_(br_oci_manifest_freep) struct br_oci_manifest *m = NULL;
	_cleanup_(br_oci_config_freep) struct br_oci_image_config *config = NULL;
	bool complete;

	if (load_index(job, img, &idx, err) < 0 || choose_manifest(img, idx, want, &c, err) < 0)
		return -1;
	struct br_descriptor bd = {c.media_type, c.digest, c.size};
	if (load_manifest(job, &bd, &complete, &m, &config, err) < 0)
		return -1;
	if (!complete)
		return br_err_set(err, BR_NOT_FOUND,
		                  "image %s: manifest %s is not in the content store in full (pull "
		                  "that platform first)",
		                  img->name, c.digest);
	if (idx == NULL && want != NULL && !platform_matches(config, want))
		return not_for(img, want, err);
	if (config->n_diff_ids != m->n_layers)
		return br_err_set(err, BR_FAILED_PRECONDITION,
		                  "image %s: the config has %zu diffIDs for %zu layers", img->name,
		                  config->n_diff_ids, m->n_layers);
	struct imaged_docker_image di = {0};
	const char *hex = br_digest_hex(m->config.digest);
	di.config = (char *)keep(p, xasprintf("%s.json", hex));
	if (add_member(p, m->config.digest, m->config.size, xstrdup(di.config), NULL, -1, err) < 0)
		return -1;
	if (img->tag != NULL) {
		di.tags = xcalloc(1, sizeof(char *));
		di.tags[di.n_tags++] = (char *)keep(p, xstrdup(img->name));
	}
	di.layers = xcalloc(m->n_layers + 1, sizeof(char *));
	p->docker = xrealloc(p->docker, (p->n_docker + 1) * sizeof(*p->docker));
	p->docker[p->n_docker++] = di;
	struct imaged_docker_image *dp = &p->docker[p->n_docker - 1];
	for (size_t i = 0; i < m->n_layers; i++) {
		int comp = br_oci_layer_compression(m->layers[i].media_type);
		if (comp < 0)
			return br_err_set(err, BR_NOT_IMPLEMENTED, "layer %s: media type \"%s\"",
			                  m->layers[i].digest, m->layers[i].media_type);
		const char *path = keep(p, xasprintf("%s.tar", br_digest_hex(config->diff_ids[i])));
		dp->layers[dp->n_layers++] = (char *)path;
		/* An uncompressed layer's size is its blob's; a compressed one's is known after
		 * a first reading (-1 until then). */
		if (add_member(p, m->layers[i].digest,
		               comp == BR_OCI_COMP_NONE ? m->layers[i].size : -1, xstrdup(path),
		               config->diff_ids[i], comp, err) < 0)
			return -1;
	}
	return 0;
}

/* ------------------------------------------------------------------ writing */

/* The stream: frames to the client, a tar written into them. */
struct out {
	struct imaged_job *job;
	size_t item; /* the member being written: its index in the job's progress */
	int fd;
	br_err err; /* why a write failed */
	bool failed;
};

/* Send all of buf, looking at the job's cancel between waits. */
static int
send_all(struct out *o, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		if (imaged_job_canceled(o->job))
			return br_err_set(&o->err, BR_CANCELED, "canceled");
		ssize_t n = send(o->fd, p, len, MSG_NOSIGNAL);
		if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
			continue;
		if (n < 0 && (errno == EPIPE || errno == ECONNRESET))
			return br_err_set(&o->err, BR_CANCELED, "the client went away");
		if (n < 0)
			return br_err_errno(&o->err, BR_INTERNAL, errno, "write to the stream");
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int
send_frame(struct out *o, enum br_stream_type type, const void *data, uint32_t len)
{
	uint8_t h[BR_STREAM_HEADER_LEN];

	br_stream_header_pack(h, type, len);
	if (send_all(o, h, sizeof(h)) < 0 || send_all(o, data, len) < 0) {
		o->failed = true;
		return -1;
	}
	return 0;
}

static la_ssize_t
tar_write_cb(struct archive *a, void *data, const void *buf, size_t len)
{
	struct out *o = data;
	const char *p = buf;

	for (size_t off = 0; off < len;) {
		uint32_t n = len - off > BR_STREAM_FRAME_MAX ? BR_STREAM_FRAME_MAX
		                                             : (uint32_t)(len - off);
		if (send_frame(o, BR_STREAM_STDOUT, p + off, n) < 0) {
			archive_set_error(a, EIO, "%s", o->err.msg);
			return -1;
		}
		off += n;
	}
	return (la_ssize_t)len;
}

/* The failure of a libarchive write call: the stream's, else libarchive's. */
static int
tar_fail(struct archive *a, struct out *o, const char *what, br_err *err)
{
	if (o->failed) {
		br_err_copy(err, &o->err);
		return br_err_wrap(err, "%s", what);
	}
	const char *msg = archive_error_string(a);
	return br_err_set(err, BR_INTERNAL, "%s: %s", what, msg ? msg : "tar write failed");
}

static int
tar_header(struct archive *a, struct out *o, const char *path, int64_t size, br_err *err)
{
	struct archive_entry *e = archive_entry_new();

	archive_entry_set_pathname(e, path);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_size(e, size);
	archive_entry_set_mtime(e, 0, 0);
	int r = archive_write_header(a, e);
	archive_entry_free(e);
	if (r != ARCHIVE_OK)
		return tar_fail(a, o, path, err);
	return 0;
}

static int
tar_file(struct archive *a, struct out *o, const char *path, const void *data, size_t len,
         br_err *err)
{
	if (tar_header(a, o, path, (int64_t)len, err) < 0)
		return -1;
	if (len > 0 && archive_write_data(a, data, len) != (la_ssize_t)len)
		return tar_fail(a, o, path, err);
	return 0;
}

/* A compressed layer, decompressed from contentd: each block to `fn` (NULL: only counted and
 * hashed). Its uncompressed size and digest. */
typedef int (*block_fn)(void *data, const void *buf, size_t len, br_err *err);

struct layer_src {
	struct imaged_blob_reader reader;
	br_err err;
	bool failed;
};

static la_ssize_t
layer_read_cb(struct archive *a, void *data, const void **buf)
{
	struct layer_src *src = data;
	ssize_t n = imaged_blob_read(&src->reader, buf, &src->err);

	if (n < 0) {
		src->failed = true;
		archive_set_error(a, EIO, "%s", src->err.msg);
	}
	return n;
}

static int
decompress(struct imaged_job *job, const struct member *mb, block_fn fn, void *fn_data,
           int64_t *ret_size, char ret_digest[BR_DIGEST_BUF], br_err *err)
{
	struct imaged_cancel cancel = {{&job->cancel, NULL}};
	struct layer_src src = {
	        .reader = {.svc = job->svc, .ns = job->ns, .digest = mb->digest},
	};
	struct archive_entry *e;
	const void *buf;
	size_t len;
	la_int64_t off;
	int64_t size = 0;
	int r, rc = -1;

	src.reader.cancel = &cancel;
	br_sha256 *h = br_sha256_new();
	struct archive *a = archive_read_new();
	archive_read_support_format_raw(a);
	archive_read_support_filter_gzip(a);
	archive_read_support_filter_zstd(a);
	if (archive_read_open(a, &src, NULL, layer_read_cb, NULL) != ARCHIVE_OK ||
	    archive_read_next_header(a, &e) != ARCHIVE_OK)
		goto fail;
	while ((r = archive_read_data_block(a, &buf, &len, &off)) == ARCHIVE_OK) {
		if (off != size) {
			br_err_set(err, BR_INVALID_ARGUMENT, "layer %s: a hole in the stream",
			           mb->digest);
			goto out;
		}
		br_sha256_update(h, buf, len);
		size += (int64_t)len;
		if (fn != NULL && fn(fn_data, buf, len, err) < 0)
			goto out;
	}
	if (r != ARCHIVE_EOF)
		goto fail;
	*ret_size = size;
	br_sha256_final(h, ret_digest);
	rc = 0;
	goto out;
fail:
	if (src.failed) {
		br_err_copy(err, &src.err);
	} else {
		const char *msg = archive_error_string(a);
		br_err_set(err, BR_INVALID_ARGUMENT, "layer %s: %s", mb->digest,
		           msg ? msg : "cannot decompress");
	}
out:
	archive_read_free(a);
	br_sha256_free(h);
	imaged_blob_reader_fini(&src.reader);
	return rc;
}

struct copy {
	struct imaged_job *job;
	struct archive *a;
	struct out *o;
	const char *path;
};

static int
copy_block(void *data, const void *buf, size_t len, br_err *err)
{
	struct copy *c = data;

	if (archive_write_data(c->a, buf, len) != (la_ssize_t)len)
		return tar_fail(c->a, c->o, c->path, err);
	imaged_job_progress(c->job, (int64_t)len, 0);
	imaged_job_item_progress(c->job, c->o->item, (int64_t)len);
	return 0;
}

/* A blob as it is stored. */
static int
copy_blob(struct imaged_job *job, struct archive *a, struct out *o, const struct member *mb,
          br_err *err)
{
	struct imaged_cancel cancel = {{&job->cancel, NULL}};
	struct imaged_blob_reader r = {
	        .svc = job->svc,
	        .ns = job->ns,
	        .digest = mb->digest,
	        .cancel = &cancel,
	};
	struct copy c = {job, a, o, mb->path};
	const void *buf;
	ssize_t n;
	int64_t total = 0;
	int rc = 0;

	if (tar_header(a, o, mb->path, mb->size, err) < 0)
		return -1;
	while ((n = imaged_blob_read(&r, &buf, err)) > 0) {
		total += n;
		if (total > mb->size) {
			rc = br_err_set(err, BR_FAILED_PRECONDITION, "blob %s: larger than %lld",
			                mb->digest, (long long)mb->size);
			break;
		}
		if ((rc = copy_block(&c, buf, (size_t)n, err)) < 0)
			break;
	}
	if (n < 0)
		rc = -1;
	if (rc == 0 && total != mb->size)
		rc = br_err_set(err, BR_FAILED_PRECONDITION, "blob %s: %lld bytes, %lld expected",
		                mb->digest, (long long)total, (long long)mb->size);
	imaged_blob_reader_fini(&r);
	return rc;
}

/* A docker-archive layer: uncompressed, its diffID checked. */
static int
copy_layer(struct imaged_job *job, struct archive *a, struct out *o, struct member *mb, br_err *err)
{
	char digest[BR_DIGEST_BUF];
	int64_t size;

	if (mb->compression == BR_OCI_COMP_NONE) {
		if (strcmp(mb->digest, mb->diff_id) != 0)
			return br_err_set(err, BR_FAILED_PRECONDITION,
			                  "layer %s: uncompressed, but its diffID is %s",
			                  mb->digest, mb->diff_id);
		return copy_blob(job, a, o, mb, err);
	}
	imaged_job_step(job, "decompress layer %s", mb->digest);
	if (decompress(job, mb, NULL, NULL, &size, digest, err) < 0)
		return -1;
	if (strcmp(digest, mb->diff_id) != 0)
		return br_err_set(err, BR_FAILED_PRECONDITION,
		                  "layer %s: uncompressed it is %s, but the config says %s",
		                  mb->digest, digest, mb->diff_id);
	mb->size = size;
	struct copy c = {job, a, o, mb->path};
	if (tar_header(a, o, mb->path, size, err) < 0 ||
	    decompress(job, mb, copy_block, &c, &size, digest, err) < 0)
		return -1;
	if (size != mb->size || strcmp(digest, mb->diff_id) != 0)
		return br_err_set(err, BR_FAILED_PRECONDITION, "layer %s changed while read",
		                  mb->digest);
	return 0;
}

static const char oci_layout[] = "{\"imageLayoutVersion\":\"1.0.0\"}";

/* The documents that come first: oci-layout and index.json, or manifest.json and
 * repositories. */
static int
write_documents(struct archive *a, struct out *o, const struct plan *p, bool docker, br_err *err)
{
	_cleanup_free_ char *doc = NULL;
	size_t len;

	if (!docker) {
		doc = imaged_archive_index_json(p->entries, p->n_entries, &len);
		if (tar_file(a, o, "oci-layout", oci_layout, strlen(oci_layout), err) < 0 ||
		    tar_file(a, o, "index.json", doc, len, err) < 0)
			return -1;
		return 0;
	}
	doc = imaged_archive_docker_manifest_json(p->docker, p->n_docker, &len);
	if (tar_file(a, o, "manifest.json", doc, len, err) < 0)
		return -1;
	const char **tags = xcalloc(p->n_docker + 1, sizeof(char *));
	const char **ids = xcalloc(p->n_docker + 1, sizeof(char *));
	_cleanup_free_ char **id_bufs = xcalloc(p->n_docker + 1, sizeof(char *));
	size_t n = 0;
	for (size_t i = 0; i < p->n_docker; i++) {
		if (p->docker[i].n_tags == 0)
			continue;
		tags[n] = p->docker[i].tags[0];
		id_bufs[n] = xstrndup(p->docker[i].config, strlen(p->docker[i].config) - 5);
		ids[n] = id_bufs[n];
		n++;
	}
	_cleanup_free_ char *repos = imaged_archive_repositories_json(tags, ids, n, &len);
	int rc = tar_file(a, o, "repositories", repos, len, err);
	for (size_t i = 0; i < n; i++)
		free(id_bufs[i]);
	free(tags);
	free(ids);
	return rc;
}

static int
write_archive(struct imaged_job *job, struct out *o, struct plan *p, bool docker, br_err *err)
{
	struct archive *a = archive_write_new();
	int rc = -1;

	archive_write_set_format_pax_restricted(a);
	archive_write_set_bytes_per_block(a, 10240);
	archive_write_set_bytes_in_last_block(a, 1);
	if (archive_write_open2(a, o, NULL, tar_write_cb, NULL, NULL) != ARCHIVE_OK) {
		tar_fail(a, o, "start the archive", err);
		goto out;
	}
	if (write_documents(a, o, p, docker, err) < 0)
		goto out;
	/* The job's progress lists the members as they are stored (a docker-archive's
	 * layers with their compressed size: what they become is known once written). */
	imaged_job_items_init(job, p->n);
	for (size_t i = 0; i < p->n; i++)
		imaged_job_item_set(job, i, p->members[i].digest, p->members[i].size);
	for (size_t i = 0; i < p->n; i++) {
		struct member *mb = &p->members[i];
		imaged_job_step(job, "write %s", mb->path);
		o->item = i;
		imaged_job_item_state(job, i, IMAGED_ITEM_WRITING);
		int r = docker && mb->compression >= 0 ? copy_layer(job, a, o, mb, err)
		                                       : copy_blob(job, a, o, mb, err);
		if (r < 0)
			goto out;
		imaged_job_item_state(job, i, IMAGED_ITEM_DONE);
	}
	if (archive_write_close(a) != ARCHIVE_OK) {
		tar_fail(a, o, "end the archive", err);
		goto out;
	}
	rc = 0;
out:
	archive_write_free(a);
	return rc;
}

/* The stream's REPLY: {id} of this job. */
static int
write_reply(struct out *o, const char *id)
{
	struct br_job_ref ref = {.id = id};
	msgpack_sbuffer sb;

	msgpack_sbuffer_init(&sb);
	br_reply_encode_result(&sb, &br_job_ref_schema, &ref);
	int rc = send_frame(o, BR_STREAM_REPLY, sb.data, (uint32_t)sb.size);
	msgpack_sbuffer_destroy(&sb);
	return rc;
}

static void
platform_finip(struct br_oci_platform *p)
{
	br_oci_platform_fini(p);
}

static int export(struct imaged_job *job, struct imaged_export_arg *arg, br_err *err)
{
	_cleanup_(platform_finip) struct br_oci_platform want = {0};
	_cleanup_(plan_fini) struct plan p = {0};
	struct out o = {.job = job, .fd = arg->fd, .err = BR_ERR_INIT};
	const char *platform = arg->platform;

	if (platform == NULL && arg->docker)
		platform = job->svc->cfg->imaged.platform;
	if (platform != NULL && br_oci_platform_parse(platform, &want, err) < 0)
		return -1;
	for (size_t i = 0; i < arg->n_images; i++) {
		const struct imaged_export_image *img = &arg->images[i];
		imaged_job_step(job, "plan %s", img->name);
		int r = arg->docker ? plan_docker_image(job, &p, img, platform ? &want : NULL, err)
		                    : plan_oci_image(job, &p, img, platform ? &want : NULL, err);
		if (r < 0)
			return -1;
	}
	imaged_job_progress(job, 0, p.total);
	/* A wait on a client that does not read ends after EXPORT_SEND_WAIT_MS, to look at
	 * the cancel. */
	struct timeval tv = {.tv_sec = 0, .tv_usec = EXPORT_SEND_WAIT_MS * 1000};
	setsockopt(arg->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	int flags = fcntl(arg->fd, F_GETFL);
	if (flags >= 0 && (flags & O_NONBLOCK))
		fcntl(arg->fd, F_SETFL, flags & ~O_NONBLOCK);
	arg->replied = true;
	if (write_reply(&o, job->id) < 0) {
		br_err_copy(err, &o.err);
		return -1;
	}
	if (write_archive(job, &o, &p, arg->docker, err) < 0)
		return -1;
	uint8_t status[4] = {0, 0, 0, 0};
	if (send_frame(&o, BR_STREAM_EXIT, status, sizeof(status)) < 0) {
		br_err_copy(err, &o.err);
		return -1;
	}
	return 0;
}

int
imaged_export_run(struct imaged_job *job, char **ret_result, br_err *err)
{
	struct imaged_export_arg *a = job->arg;

	if (export(job, a, err) < 0) {
		br_err_wrap(err, "export");
		/* Before the REPLY the error is the REPLY; after it, closing the stream without
		 * EXIT tells the client to ask the job why. */
		br_err ignored = BR_ERR_INIT;
		if (!a->replied)
			br_stream_write_reply(a->fd, err, &ignored);
		shutdown(a->fd, SHUT_RDWR);
		return -1;
	}
	shutdown(a->fd, SHUT_RDWR);
	*ret_result = a->n_images == 1 ? xstrdup(a->images[0].name)
	                               : xasprintf("%zu images", a->n_images);
	return 0;
}
