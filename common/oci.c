/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Parsers for OCI image documents and their Docker schema2 twins: manifests, indexes (manifest
 * lists) and image configs, plus platform selection and chain IDs. Every document comes from a
 * registry or an archive, so the checks that keep later code safe are strict: digests must be
 * sha256 and well formed, sizes non-negative integers, counts bounded, media types coherent
 * (a document whose own mediaType contradicts the type it was served as is refused, as are
 * documents that are both a manifest and an index). Members that do not matter to Berth are
 * ignored, as the image spec asks of readers. docs/oci.md holds the rules.
 */
#include "common/oci.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/cleanup.h"
#include "common/json.h"
#include "common/xalloc.h"

#define MEDIA_TYPE_MAX 255
#define PLATFORM_FIELD_MAX 64
#define MAX_ARGS 4096

#define MT_OCI_LAYER_ND "application/vnd.oci.image.layer.nondistributable.v1.tar"
#define MT_OCI_LAYER_ND_ZSTD "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd"
#define MT_DOCKER_LAYER "application/vnd.docker.image.rootfs.diff.tar"
#define MT_DOCKER_LAYER_ZSTD "application/vnd.docker.image.rootfs.diff.tar.zstd"
#define MT_DOCKER_LAYER_FOREIGN "application/vnd.docker.image.rootfs.foreign.diff.tar"
#define MT_DOCKER_SCHEMA1 "application/vnd.docker.distribution.manifest.v1+json"
#define MT_DOCKER_SCHEMA1_SIGNED "application/vnd.docker.distribution.manifest.v1+prettyjws"

struct media_type {
	const char *name;
	enum br_oci_kind kind;
	enum br_oci_compression compression;
	bool nondistributable;
};

static const struct media_type media_types[] = {
        {BR_MT_OCI_INDEX, BR_OCI_INDEX, 0, false},
        {BR_MT_DOCKER_LIST, BR_OCI_INDEX, 0, false},
        {BR_MT_OCI_MANIFEST, BR_OCI_MANIFEST, 0, false},
        {BR_MT_DOCKER_MANIFEST, BR_OCI_MANIFEST, 0, false},
        {BR_MT_OCI_CONFIG, BR_OCI_CONFIG, 0, false},
        {BR_MT_DOCKER_CONFIG, BR_OCI_CONFIG, 0, false},
        {BR_MT_OCI_LAYER, BR_OCI_LAYER, BR_OCI_COMP_NONE, false},
        {BR_MT_OCI_LAYER_GZIP, BR_OCI_LAYER, BR_OCI_COMP_GZIP, false},
        {BR_MT_OCI_LAYER_ZSTD, BR_OCI_LAYER, BR_OCI_COMP_ZSTD, false},
        {MT_OCI_LAYER_ND, BR_OCI_LAYER, BR_OCI_COMP_NONE, true},
        {BR_MT_OCI_LAYER_ND_GZIP, BR_OCI_LAYER, BR_OCI_COMP_GZIP, true},
        {MT_OCI_LAYER_ND_ZSTD, BR_OCI_LAYER, BR_OCI_COMP_ZSTD, true},
        {MT_DOCKER_LAYER, BR_OCI_LAYER, BR_OCI_COMP_NONE, false},
        {BR_MT_DOCKER_LAYER_GZIP, BR_OCI_LAYER, BR_OCI_COMP_GZIP, false},
        {MT_DOCKER_LAYER_ZSTD, BR_OCI_LAYER, BR_OCI_COMP_ZSTD, false},
        {MT_DOCKER_LAYER_FOREIGN, BR_OCI_LAYER, BR_OCI_COMP_NONE, true},
        {BR_MT_DOCKER_LAYER_FOREIGN, BR_OCI_LAYER, BR_OCI_COMP_GZIP, true},
};

/* Length of a media type without parameters ("; charset=utf-8") and surrounding blanks. */
static size_t
essence_len(const char *mt)
{
	size_t n = strcspn(mt, ";");

	while (n > 0 && (mt[n - 1] == ' ' || mt[n - 1] == '\t'))
		n--;
	return n;
}

static const struct media_type *
lookup_media_type(const char *mt)
{
	if (mt == NULL)
		return NULL;
	size_t n = essence_len(mt);
	for (size_t i = 0; i < sizeof(media_types) / sizeof(media_types[0]); i++)
		if (strlen(media_types[i].name) == n && strncmp(media_types[i].name, mt, n) == 0)
			return &media_types[i];
	return NULL;
}

enum br_oci_kind
br_oci_kind_of(const char *media_type)
{
	const struct media_type *t = lookup_media_type(media_type);

	return t ? t->kind : BR_OCI_UNKNOWN;
}

int
br_oci_layer_compression(const char *media_type)
{
	const struct media_type *t = lookup_media_type(media_type);

	return t && t->kind == BR_OCI_LAYER ? (int)t->compression : -1;
}

/* RFC 6838: type "/" subtype, each [A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*; parameters allowed. */
static bool
media_type_valid(const char *mt)
{
	size_t n = essence_len(mt);
	bool slash = false, need_first = true;

	if (n == 0 || strlen(mt) > MEDIA_TYPE_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = mt[i];
		bool alnum =
		        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
		if (c == '/' && !slash && !need_first) {
			slash = true;
			need_first = true;
		} else if (alnum) {
			need_first = false;
		} else if (need_first || strchr("!#$&^_.+-", c) == NULL) {
			return false;
		}
	}
	for (const char *p = mt + n; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
			return false;
	return slash && !need_first;
}

static char *
join_path(const char *path, const char *key)
{
	return xasprintf("%s%s%s", path, path[0] ? "." : "", key);
}

void
br_oci_platform_fini(struct br_oci_platform *p)
{
	if (p == NULL)
		return;
	free(p->os);
	free(p->architecture);
	free(p->variant);
	p->os = p->architecture = p->variant = NULL;
}

static void
descriptor_fini(struct br_oci_descriptor *d)
{
	free(d->media_type);
	br_strv_free(d->urls);
	if (d->platform != NULL) {
		br_oci_platform_fini(d->platform);
		free(d->platform);
	}
}

static int
platform_string(yajl_val obj, const char *path, const char *key, bool required, char **ret,
                br_err *err)
{
	const char *s = NULL;

	if (br_json_get_str(obj, path, key, required, &s, err) < 0)
		return -1;
	if (s == NULL)
		return 0;
	if (strlen(s) > PLATFORM_FIELD_MAX)
		return br_err_set(err, BR_INVALID_ARGUMENT, "%s%s%s: longer than %d characters",
		                  path, path[0] ? "." : "", key, PLATFORM_FIELD_MAX);
	*ret = xstrdup(s);
	return 0;
}

/* Parse a descriptor object at `path` into d (zeroed by the caller; filled even on error, so
 * the caller frees it either way). */
/* A descriptor's "urls": strings of at most BR_OCI_MAX_URL_LEN bytes, BR_OCI_MAX_URLS of them. */
static int
descriptor_urls(yajl_val urls, const char *path, struct br_oci_descriptor *d, br_err *err)
{
	size_t n = urls->u.array.len;

	if (n > BR_OCI_MAX_URLS)
		return br_err_set(err, BR_RESOURCE_EXHAUSTED,
		                  "%s.urls: %zu URLs, more than the limit of %d", path, n,
		                  BR_OCI_MAX_URLS);
	d->urls = xcalloc(n + 1, sizeof(*d->urls));
	for (size_t i = 0; i < n; i++) {
		yajl_val u = urls->u.array.values[i];
		if (!YAJL_IS_STRING(u))
			return br_err_set(err, BR_INVALID_ARGUMENT,
			                  "%s.urls[%zu]: expected a string", path, i);
		if (strlen(u->u.string) > BR_OCI_MAX_URL_LEN)
			return br_err_set(err, BR_INVALID_ARGUMENT,
			                  "%s.urls[%zu]: longer than %d bytes", path, i,
			                  BR_OCI_MAX_URL_LEN);
		d->urls[i] = xstrdup(u->u.string);
		d->n_urls++;
	}
	return 0;
}

static int
descriptor_parse(yajl_val obj, const char *path, struct br_oci_descriptor *d, br_err *err)
{
	const char *media_type = NULL, *digest = NULL;
	int64_t size = -1;
	yajl_val platform = NULL, urls = NULL;

	if (!YAJL_IS_OBJECT(obj))
		return br_err_set(err, BR_INVALID_ARGUMENT, "%s: expected an object", path);
	if (br_json_get_str(obj, path, "mediaType", true, &media_type, err) < 0 ||
	    br_json_get_str(obj, path, "digest", true, &digest, err) < 0 ||
	    br_json_get_int(obj, path, "size", true, &size, err) < 0 ||
	    br_json_get_obj(obj, path, "platform", false, &platform, err) < 0 ||
	    br_json_get_array(obj, path, "urls", false, &urls, err) < 0)
		return -1;
	if (urls != NULL && descriptor_urls(urls, path, d, err) < 0)
		return -1;
	if (!media_type_valid(media_type))
		return br_err_set(err, BR_INVALID_ARGUMENT, "%s.mediaType: \"%.*s\" is malformed",
		                  path, MEDIA_TYPE_MAX, media_type);
	d->media_type = xstrdup(media_type);
	if (br_digest_validate(digest, err) < 0)
		return br_err_wrap(err, "%s.digest", path);
	memcpy(d->digest, digest, BR_DIGEST_BUF);
	if (size < 0)
		return br_err_set(err, BR_INVALID_ARGUMENT, "%s.size: %lld is negative", path,
		                  (long long)size);
	d->size = size;
	if (platform != NULL) {
		_cleanup_free_ char *ppath = join_path(path, "platform");
		d->platform = xnew(struct br_oci_platform);
		if (platform_string(platform, ppath, "os", true, &d->platform->os, err) < 0 ||
		    platform_string(platform, ppath, "architecture", true,
		                    &d->platform->architecture, err) < 0 ||
		    platform_string(platform, ppath, "variant", false, &d->platform->variant, err) <
		            0)
			return -1;
	}
	return 0;
}

/* The checks shared by manifests and indexes: an object, schemaVersion 2, a mediaType that is
 * of `kind` and agrees with the hint, and none of the members of the other kind (a document
 * that reads as both was an attack on registries that disagreed about its type). On success
 * *ret_media_type is the document's type (heap). */
static int
document_header(yajl_val root, const char *hint, enum br_oci_kind kind, char **ret_media_type,
                br_err *err)
{
	const char *what = kind == BR_OCI_INDEX ? "an index" : "a manifest";
	const char *own = NULL;
	int64_t version = 0;

	if (!YAJL_IS_OBJECT(root))
		return br_err_set(err, BR_INVALID_ARGUMENT, "expected a JSON object");
	if (br_json_get_int(root, "", "schemaVersion", true, &version, err) < 0)
		return -1;
	if (version == 1)
		return br_err_set(err, BR_NOT_IMPLEMENTED, BR_OCI_SCHEMA1_REFUSAL);
	if (version != 2)
		return br_err_set(err, BR_INVALID_ARGUMENT, "schemaVersion %lld is not 2",
		                  (long long)version);
	if (br_json_get_str(root, "", "mediaType", false, &own, err) < 0)
		return -1;
	if (hint != NULL && hint[0] == '\0')
		hint = NULL;
	/* A generic hint ("application/json", "application/octet-stream") says nothing. */
	if (hint != NULL && br_oci_kind_of(hint) == BR_OCI_UNKNOWN)
		hint = NULL;
	if (hint != NULL && br_oci_kind_of(hint) != kind)
		return br_err_set(err, BR_INVALID_ARGUMENT, "served as \"%.*s\", which is not %s",
		                  MEDIA_TYPE_MAX, hint, what);
	if (own != NULL) {
		if (br_oci_kind_of(own) != kind)
			return br_err_set(err, BR_INVALID_ARGUMENT, "mediaType \"%.*s\" is not %s",
			                  MEDIA_TYPE_MAX, own, what);
		if (hint != NULL && (essence_len(own) != essence_len(hint) ||
		                     strncmp(own, hint, essence_len(own)) != 0))
			return br_err_set(
			        err, BR_INVALID_ARGUMENT,
			        "mediaType \"%.*s\" contradicts \"%.*s\" it was served as",
			        MEDIA_TYPE_MAX, own, MEDIA_TYPE_MAX, hint);
	}
	static const char *const index_only[] = {"manifests", NULL};
	static const char *const manifest_only[] = {"layers", "config", NULL};
	const char *const *foreign = kind == BR_OCI_INDEX ? manifest_only : index_only;
	for (size_t i = 0; i < root->u.object.len; i++)
		for (const char *const *f = foreign; *f != NULL; f++)
			if (strcmp(root->u.object.keys[i], *f) == 0)
				return br_err_set(err, BR_INVALID_ARGUMENT,
				                  "has a \"%s\" member, which %s must not have", *f,
				                  what);
	const char *mt = own ? own : hint;
	if (mt == NULL)
		mt = kind == BR_OCI_INDEX ? BR_MT_OCI_INDEX : BR_MT_OCI_MANIFEST;
	*ret_media_type = xstrndup(mt, essence_len(mt));
	return 0;
}

void
br_oci_manifest_free(struct br_oci_manifest *m)
{
	if (m == NULL)
		return;
	free(m->media_type);
	descriptor_fini(&m->config);
	for (size_t i = 0; i < m->n_layers; i++)
		descriptor_fini(&m->layers[i]);
	free(m->layers);
	free(m);
}

static int
manifest_fill(yajl_val root, const char *hint, struct br_oci_manifest *m, br_err *err)
{
	yajl_val config = NULL, layers = NULL;

	if (document_header(root, hint, BR_OCI_MANIFEST, &m->media_type, err) < 0 ||
	    br_json_get_obj(root, "", "config", true, &config, err) < 0 ||
	    descriptor_parse(config, "config", &m->config, err) < 0 ||
	    br_json_get_array(root, "", "layers", true, &layers, err) < 0)
		return -1;
	if (br_oci_kind_of(m->config.media_type) != BR_OCI_CONFIG)
		return br_err_set(err, BR_NOT_IMPLEMENTED,
		                  "config.mediaType \"%s\" is not an image config (not an image?)",
		                  m->config.media_type);
	size_t n = layers->u.array.len;
	if (n > BR_OCI_MAX_LAYERS)
		return br_err_set(err, BR_RESOURCE_EXHAUSTED,
		                  "%zu layers, more than the limit of %d", n, BR_OCI_MAX_LAYERS);
	m->layers = xcalloc(n ? n : 1, sizeof(*m->layers));
	m->n_layers = n;
	for (size_t i = 0; i < n; i++) {
		_cleanup_free_ char *path = xasprintf("layers[%zu]", i);
		struct br_oci_descriptor *d = &m->layers[i];
		if (descriptor_parse(layers->u.array.values[i], path, d, err) < 0)
			return -1;
		const struct media_type *t = lookup_media_type(d->media_type);
		if (t == NULL)
			return br_err_set(err, BR_NOT_IMPLEMENTED,
			                  "%s.mediaType \"%s\" is not a supported layer type", path,
			                  d->media_type);
		if (t->kind != BR_OCI_LAYER)
			return br_err_set(err, BR_INVALID_ARGUMENT,
			                  "%s.mediaType \"%s\" is not a layer", path,
			                  d->media_type);
		d->nondistributable = t->nondistributable;
	}
	return 0;
}

/* See oci.h. INVALID_ARGUMENT for malformed or contradictory documents, NOT_IMPLEMENTED for
 * schema 1, non-image configs and unknown layer types, RESOURCE_EXHAUSTED past the limits.
 * *ret is the caller's (br_oci_manifest_free). Any thread. */
int
br_oci_manifest_parse(const char *buf, size_t len, const char *media_type_hint,
                      struct br_oci_manifest **ret, br_err *err)
{
	yajl_val root = NULL;

	if (br_json_parse(buf, len, BR_OCI_MAX_DOC, "manifest", &root, err) < 0)
		return -1;
	_cleanup_(br_oci_manifest_freep) struct br_oci_manifest *m = xnew(struct br_oci_manifest);
	int rc = manifest_fill(root, media_type_hint, m, err);
	yajl_tree_free(root);
	if (rc < 0)
		return br_err_wrap(err, "manifest");
	*ret = br_steal_ptr(&m);
	return 0;
}

void
br_oci_index_free(struct br_oci_index *idx)
{
	if (idx == NULL)
		return;
	free(idx->media_type);
	for (size_t i = 0; i < idx->n_manifests; i++)
		descriptor_fini(&idx->manifests[i]);
	free(idx->manifests);
	free(idx);
}

static int
index_fill(yajl_val root, const char *hint, struct br_oci_index *idx, br_err *err)
{
	yajl_val manifests = NULL;

	if (document_header(root, hint, BR_OCI_INDEX, &idx->media_type, err) < 0 ||
	    br_json_get_array(root, "", "manifests", true, &manifests, err) < 0)
		return -1;
	size_t n = manifests->u.array.len;
	if (n > BR_OCI_MAX_MANIFESTS)
		return br_err_set(err, BR_RESOURCE_EXHAUSTED,
		                  "%zu manifests, more than the limit of %d", n,
		                  BR_OCI_MAX_MANIFESTS);
	idx->manifests = xcalloc(n ? n : 1, sizeof(*idx->manifests));
	idx->n_manifests = n;
	for (size_t i = 0; i < n; i++) {
		_cleanup_free_ char *path = xasprintf("manifests[%zu]", i);
		if (descriptor_parse(manifests->u.array.values[i], path, &idx->manifests[i], err) <
		    0)
			return -1;
	}
	return 0;
}

/* See oci.h. Entries may be of any well-formed media type (nested indexes, attestations);
 * br_oci_index_select only picks manifests. Errors as br_oci_manifest_parse. Any thread. */
int
br_oci_index_parse(const char *buf, size_t len, const char *media_type_hint,
                   struct br_oci_index **ret, br_err *err)
{
	yajl_val root = NULL;

	if (br_json_parse(buf, len, BR_OCI_MAX_DOC, "index", &root, err) < 0)
		return -1;
	_cleanup_(br_oci_index_freep) struct br_oci_index *idx = xnew(struct br_oci_index);
	int rc = index_fill(root, media_type_hint, idx, err);
	yajl_tree_free(root);
	if (rc < 0)
		return br_err_wrap(err, "index");
	*ret = br_steal_ptr(&idx);
	return 0;
}

void
br_oci_config_free(struct br_oci_image_config *c)
{
	if (c == NULL)
		return;
	free(c->architecture);
	free(c->os);
	free(c->variant);
	free(c->user);
	br_strv_free(c->env);
	br_strv_free(c->entrypoint);
	br_strv_free(c->cmd);
	free(c->working_dir);
	free(c->stop_signal);
	free(c->diff_ids);
	free(c);
}

static int
dup_str(yajl_val obj, const char *path, const char *key, bool required, char **ret, br_err *err)
{
	const char *s = NULL;

	if (br_json_get_str(obj, path, key, required, &s, err) < 0)
		return -1;
	if (s != NULL)
		*ret = xstrdup(s);
	return 0;
}

static int
config_section(yajl_val root, struct br_oci_image_config *c, br_err *err)
{
	yajl_val cfg = NULL;

	if (br_json_get_obj(root, "", "config", false, &cfg, err) < 0)
		return -1;
	if (cfg == NULL)
		return 0;
	if (dup_str(cfg, "config", "User", false, &c->user, err) < 0 ||
	    br_json_get_strv(cfg, "config", "Env", false, BR_OCI_MAX_ENV, &c->env, err) < 0 ||
	    br_json_get_strv(cfg, "config", "Entrypoint", false, MAX_ARGS, &c->entrypoint, err) <
	            0 ||
	    br_json_get_strv(cfg, "config", "Cmd", false, MAX_ARGS, &c->cmd, err) < 0 ||
	    dup_str(cfg, "config", "WorkingDir", false, &c->working_dir, err) < 0 ||
	    dup_str(cfg, "config", "StopSignal", false, &c->stop_signal, err) < 0)
		return -1;
	for (size_t i = 0; c->env != NULL && c->env[i] != NULL; i++) {
		const char *eq = strchr(c->env[i], '=');
		if (eq == NULL || eq == c->env[i])
			return br_err_set(err, BR_INVALID_ARGUMENT,
			                  "config.Env[%zu]: \"%.64s\" is not NAME=VALUE", i,
			                  c->env[i]);
	}
	return 0;
}

static int
config_fill(yajl_val root, struct br_oci_image_config *c, br_err *err)
{
	yajl_val rootfs = NULL, diff_ids = NULL;
	const char *type = NULL;

	if (!YAJL_IS_OBJECT(root))
		return br_err_set(err, BR_INVALID_ARGUMENT, "expected a JSON object");
	if (platform_string(root, "", "architecture", true, &c->architecture, err) < 0 ||
	    platform_string(root, "", "os", true, &c->os, err) < 0 ||
	    platform_string(root, "", "variant", false, &c->variant, err) < 0 ||
	    config_section(root, c, err) < 0 ||
	    br_json_get_obj(root, "", "rootfs", true, &rootfs, err) < 0 ||
	    br_json_get_str(rootfs, "rootfs", "type", true, &type, err) < 0 ||
	    br_json_get_array(rootfs, "rootfs", "diff_ids", true, &diff_ids, err) < 0)
		return -1;
	if (strcmp(type, "layers") != 0)
		return br_err_set(err, BR_INVALID_ARGUMENT,
		                  "rootfs.type: \"%.64s\" is not \"layers\"", type);
	size_t n = diff_ids->u.array.len;
	if (n > BR_OCI_MAX_LAYERS)
		return br_err_set(err, BR_RESOURCE_EXHAUSTED,
		                  "rootfs.diff_ids: %zu layers, more than the limit of %d", n,
		                  BR_OCI_MAX_LAYERS);
	c->diff_ids = xcalloc(n ? n : 1, sizeof(*c->diff_ids));
	for (size_t i = 0; i < n; i++) {
		yajl_val v = diff_ids->u.array.values[i];
		if (!YAJL_IS_STRING(v))
			return br_err_set(err, BR_INVALID_ARGUMENT,
			                  "rootfs.diff_ids[%zu]: expected a string", i);
		const char *digest = v->u.string;
		if (br_digest_validate(digest, err) < 0)
			return br_err_wrap(err, "rootfs.diff_ids[%zu]", i);
		memcpy(c->diff_ids[i], digest, BR_DIGEST_BUF);
	}
	c->n_diff_ids = n;
	return 0;
}

/* See oci.h. INVALID_ARGUMENT naming the member for anything malformed, RESOURCE_EXHAUSTED
 * past the limits. *ret is the caller's (br_oci_config_free). Any thread. */
int
br_oci_config_parse(const char *buf, size_t len, struct br_oci_image_config **ret, br_err *err)
{
	yajl_val root = NULL;

	if (br_json_parse(buf, len, BR_OCI_MAX_DOC, "image config", &root, err) < 0)
		return -1;
	_cleanup_(br_oci_config_freep) struct br_oci_image_config *c =
	        xnew(struct br_oci_image_config);
	int rc = config_fill(root, c, err);
	yajl_tree_free(root);
	if (rc < 0)
		return br_err_wrap(err, "image config");
	*ret = br_steal_ptr(&c);
	return 0;
}

static bool
has_member(yajl_val obj, const char *key)
{
	for (size_t i = 0; i < obj->u.object.len; i++)
		if (strcmp(obj->u.object.keys[i], key) == 0)
			return true;
	return false;
}

/* See oci.h. UNKNOWN for anything that is not JSON, ambiguous (both "manifests" and "layers"),
 * Docker schema 1, or of an unknown media type. *ret_media_type_static (if not NULL) is set to
 * one of the BR_MT_* strings when the kind is known. Any thread. */
enum br_oci_kind
br_oci_detect(const char *buf, size_t len, const char **ret_media_type_static)
{
	yajl_val root = NULL;
	enum br_oci_kind kind = BR_OCI_UNKNOWN;
	const char *mt = NULL;

	if (br_json_parse(buf, len, BR_OCI_MAX_DOC, "document", &root, NULL) < 0)
		return BR_OCI_UNKNOWN;
	if (!YAJL_IS_OBJECT(root))
		goto out;
	bool manifests = has_member(root, "manifests"), layers = has_member(root, "layers");
	yajl_val own = NULL, version = NULL;
	for (size_t i = 0; i < root->u.object.len; i++) {
		if (strcmp(root->u.object.keys[i], "mediaType") == 0)
			own = root->u.object.values[i];
		else if (strcmp(root->u.object.keys[i], "schemaVersion") == 0)
			version = root->u.object.values[i];
	}
	if ((manifests && layers) ||
	    (version != NULL && YAJL_IS_INTEGER(version) && YAJL_GET_INTEGER(version) == 1))
		goto out;
	if (own != NULL && YAJL_IS_STRING(own)) {
		const struct media_type *t = lookup_media_type(YAJL_GET_STRING(own));
		if (t == NULL || (t->kind == BR_OCI_INDEX && layers) ||
		    (t->kind == BR_OCI_MANIFEST && manifests))
			goto out;
		kind = t->kind;
		mt = t->name;
	} else if (own != NULL) {
		goto out;
	} else if (manifests) {
		kind = BR_OCI_INDEX;
		mt = BR_MT_OCI_INDEX;
	} else if (layers) {
		kind = BR_OCI_MANIFEST;
		mt = BR_MT_OCI_MANIFEST;
	} else if (has_member(root, "rootfs") && has_member(root, "architecture")) {
		kind = BR_OCI_CONFIG;
		mt = BR_MT_OCI_CONFIG;
	}
out:
	yajl_tree_free(root);
	if (kind != BR_OCI_UNKNOWN && ret_media_type_static != NULL)
		*ret_media_type_static = mt;
	return kind;
}

/* Architecture aliases as uname and distributions spell them; *ret_variant gets the variant
 * an alias implies (or stays). */
static const char *
normalize_arch(const char *arch, const char **ret_variant)
{
	static const struct {
		const char *alias, *arch, *variant;
	} aliases[] = {
	        {"x86_64", "amd64", NULL}, {"x86-64", "amd64", NULL}, {"aarch64", "arm64", NULL},
	        {"i386", "386", NULL},     {"i686", "386", NULL},     {"armhf", "arm", "v7"},
	        {"armel", "arm", "v6"},
	};
	for (size_t i = 0; i < sizeof(aliases) / sizeof(aliases[0]); i++) {
		if (strcmp(arch, aliases[i].alias) == 0) {
			if (aliases[i].variant != NULL && ret_variant != NULL &&
			    (*ret_variant == NULL || (*ret_variant)[0] == '\0'))
				*ret_variant = aliases[i].variant;
			return aliases[i].arch;
		}
	}
	return arch;
}

/* A variant as compared: "" for none, and for arm64 "v8" is the same as none. */
static const char *
compared_variant(const char *arch, const char *variant)
{
	if (variant == NULL)
		return "";
	if (strcmp(arch, "arm64") == 0 && strcmp(variant, "v8") == 0)
		return "";
	return variant;
}

/* "vN" -> N, or -1. */
static int
arm_version(const char *variant)
{
	if (variant[0] != 'v' || variant[1] < '1' || variant[1] > '9' || variant[2] != '\0')
		return -1;
	return variant[1] - '0';
}

/* See oci.h. Only manifest entries with a platform are candidates. With a variant requested,
 * an exact match wins; for arm a lower variant (v6 on v7) is the fallback, highest first.
 * With none requested, an entry without a variant wins, else the first in document order.
 * The result points into idx. Any thread. */
const struct br_oci_descriptor *
br_oci_index_select(const struct br_oci_index *idx, const char *os, const char *arch,
                    const char *variant)
{
	const struct br_oci_descriptor *best = NULL;
	int best_score = -1;
	const char *want_variant = variant;
	const char *want_arch = normalize_arch(arch, &want_variant);

	for (size_t i = 0; i < idx->n_manifests; i++) {
		const struct br_oci_descriptor *d = &idx->manifests[i];
		const struct br_oci_platform *p = d->platform;
		if (p == NULL || br_oci_kind_of(d->media_type) != BR_OCI_MANIFEST)
			continue;
		const char *have_variant = p->variant;
		const char *have_arch = normalize_arch(p->architecture, &have_variant);
		if (strcmp(p->os, os) != 0 || strcmp(have_arch, want_arch) != 0)
			continue;
		const char *have = compared_variant(have_arch, have_variant);
		int score;
		if (want_variant == NULL) {
			score = have[0] == '\0' ? 2 : 1;
		} else {
			const char *want = compared_variant(want_arch, want_variant);
			if (strcmp(have, want) == 0) {
				score = 100;
			} else if (strcmp(want_arch, "arm") == 0 && arm_version(want) > 0 &&
			           arm_version(have) > 0 && arm_version(have) < arm_version(want)) {
				score = 10 + arm_version(have);
			} else {
				continue;
			}
		}
		if (score > best_score) {
			best = d;
			best_score = score;
		}
	}
	return best;
}

static bool
platform_part_valid(const char *s, size_t len)
{
	if (len == 0 || len > PLATFORM_FIELD_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
		      c == '.'))
			return false;
	}
	return true;
}

/* See oci.h. Input is lowercased and architecture aliases normalized ("x86_64" -> "amd64",
 * "aarch64" -> "arm64", "armhf" -> "arm" + "v7"). INVALID_ARGUMENT when it is not
 * "os/architecture[/variant]". ret is written only on success. Any thread. */
int
br_oci_platform_parse(const char *s, struct br_oci_platform *ret, br_err *err)
{
	if (s == NULL || strlen(s) > 3 * PLATFORM_FIELD_MAX + 2)
		return br_err_set(err, BR_INVALID_ARGUMENT, "platform: missing or too long");
	_cleanup_free_ char *lower = xstrdup(s);
	for (char *p = lower; *p != '\0'; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	char *parts[4] = {NULL};
	size_t n = 0;
	for (char *p = lower, *slash; n < 4; p = slash + 1) {
		parts[n++] = p;
		slash = strchr(p, '/');
		if (slash == NULL)
			break;
		*slash = '\0';
	}
	bool ok = n >= 2 && n <= 3;
	for (size_t i = 0; ok && i < n; i++)
		ok = platform_part_valid(parts[i], strlen(parts[i]));
	if (!ok)
		return br_err_set(err, BR_INVALID_ARGUMENT,
		                  "platform \"%s\": expected os/architecture[/variant] (lowercase "
		                  "letters, digits, '_', '-', '.')",
		                  s);
	const char *variant = n == 3 ? parts[2] : NULL;
	const char *arch = normalize_arch(parts[1], &variant);
	ret->os = xstrdup(parts[0]);
	ret->architecture = xstrdup(arch);
	ret->variant = variant ? xstrdup(variant) : NULL;
	return 0;
}

/* See oci.h. n == 0 gives "" (no layers, no chain). Any thread. */
void
br_oci_chain_id(const char (*diff_ids)[BR_DIGEST_BUF], size_t n, char out[BR_DIGEST_BUF])
{
	if (n == 0) {
		out[0] = '\0';
		return;
	}
	char chain[BR_DIGEST_BUF];
	memcpy(chain, diff_ids[0], BR_DIGEST_BUF);
	for (size_t i = 1; i < n; i++) {
		char buf[2 * BR_DIGEST_BUF];
		int len = snprintf(buf, sizeof(buf), "%s %s", chain, diff_ids[i]);
		br_digest_buf(buf, (size_t)len, chain);
	}
	memcpy(out, chain, BR_DIGEST_BUF);
}

/* See oci.h. Any thread. */
bool
br_oci_is_schema1(const char *content_type, const char *buf, size_t len)
{
	yajl_val root = NULL;
	bool v1 = false;

	if (content_type != NULL) {
		size_t n = essence_len(content_type);
		if ((n == strlen(MT_DOCKER_SCHEMA1) &&
		     strncasecmp(content_type, MT_DOCKER_SCHEMA1, n) == 0) ||
		    (n == strlen(MT_DOCKER_SCHEMA1_SIGNED) &&
		     strncasecmp(content_type, MT_DOCKER_SCHEMA1_SIGNED, n) == 0))
			return true;
	}
	if (br_json_parse(buf, len, BR_OCI_MAX_DOC, "document", &root, NULL) < 0)
		return false;
	if (YAJL_IS_OBJECT(root)) {
		for (size_t i = 0; i < root->u.object.len; i++) {
			yajl_val v = root->u.object.values[i];
			if (strcmp(root->u.object.keys[i], "schemaVersion") == 0 &&
			    YAJL_IS_INTEGER(v) && YAJL_GET_INTEGER(v) == 1)
				v1 = true;
		}
	}
	yajl_tree_free(root);
	return v1;
}
