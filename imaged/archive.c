/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The documents of image archives (archive.h): index.json as export writes it, a
 * docker-archive's manifest.json and repositories written and parsed. The parser takes bytes
 * from an archive nobody vouches for, so every count and length is bounded and every member
 * path it returns is relative and stays inside the archive.
 */
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/json.h"
#include "common/oci.h"
#include "common/proto/types.h"
#include "common/ref.h"
#include "common/xalloc.h"
#include "imaged/archive.h"

char *
imaged_archive_index_json(const struct imaged_index_entry *entries, size_t n, size_t *ret_len)
{
	yajl_gen g = br_json_gen_new();

	yajl_gen_map_open(g);
	br_json_gen_kv_int(g, "schemaVersion", 2);
	br_json_gen_kv_str(g, "mediaType", BR_MT_OCI_INDEX);
	br_json_gen_str(g, "manifests");
	yajl_gen_array_open(g);
	for (size_t i = 0; i < n; i++) {
		const struct imaged_index_entry *e = &entries[i];
		yajl_gen_map_open(g);
		br_json_gen_kv_str(g, "mediaType", e->media_type);
		br_json_gen_kv_str(g, "digest", e->digest);
		br_json_gen_kv_int(g, "size", e->size);
		if (e->os != NULL) {
			br_json_gen_str(g, "platform");
			yajl_gen_map_open(g);
			br_json_gen_kv_str(g, "architecture", e->architecture);
			br_json_gen_kv_str(g, "os", e->os);
			br_json_gen_kv_str(g, "variant", e->variant);
			yajl_gen_map_close(g);
		}
		if (e->name != NULL || e->ref_name != NULL) {
			br_json_gen_str(g, "annotations");
			yajl_gen_map_open(g);
			br_json_gen_kv_str(g, IMAGED_ANNOTATION_IMAGE_NAME, e->name);
			br_json_gen_kv_str(g, IMAGED_ANNOTATION_REF_NAME, e->ref_name);
			yajl_gen_map_close(g);
		}
		yajl_gen_map_close(g);
	}
	yajl_gen_array_close(g);
	yajl_gen_map_close(g);
	char *text = br_json_gen_take(g, ret_len);
	yajl_gen_free(g);
	return text;
}

static void
gen_strs(yajl_gen g, const char *key, char *const *v, size_t n)
{
	br_json_gen_str(g, key);
	yajl_gen_array_open(g);
	for (size_t i = 0; i < n; i++)
		br_json_gen_str(g, v[i]);
	yajl_gen_array_close(g);
}

char *
imaged_archive_docker_manifest_json(const struct imaged_docker_image *images, size_t n,
                                    size_t *ret_len)
{
	yajl_gen g = br_json_gen_new();

	yajl_gen_array_open(g);
	for (size_t i = 0; i < n; i++) {
		yajl_gen_map_open(g);
		br_json_gen_kv_str(g, "Config", images[i].config);
		gen_strs(g, "RepoTags", images[i].tags, images[i].n_tags);
		gen_strs(g, "Layers", images[i].layers, images[i].n_layers);
		yajl_gen_map_close(g);
	}
	yajl_gen_array_close(g);
	char *text = br_json_gen_take(g, ret_len);
	yajl_gen_free(g);
	return text;
}

/* "name" of "name:tag" (the tag is after the last ':' that follows the last '/'). */
static size_t
repository_len(const char *tag)
{
	const char *slash = strrchr(tag, '/');
	const char *colon = strrchr(slash ? slash : tag, ':');

	return colon ? (size_t)(colon - tag) : strlen(tag);
}

char *
imaged_archive_repositories_json(const char *const *tags, const char *const *ids, size_t n,
                                 size_t *ret_len)
{
	yajl_gen g = br_json_gen_new();
	bool *done = xcalloc(n ? n : 1, sizeof(bool));

	/* One object per repository, each of its tags inside (keys must not repeat). */
	yajl_gen_map_open(g);
	for (size_t i = 0; i < n; i++) {
		if (done[i])
			continue;
		size_t rl = repository_len(tags[i]);
		_cleanup_free_ char *repo = xstrndup(tags[i], rl);
		br_json_gen_str(g, repo);
		yajl_gen_map_open(g);
		for (size_t j = i; j < n; j++) {
			if (done[j] || repository_len(tags[j]) != rl ||
			    strncmp(tags[j], repo, rl) != 0)
				continue;
			done[j] = true;
			const char *t = tags[j][rl] == ':' ? tags[j] + rl + 1 : "latest";
			br_json_gen_kv_str(g, t, ids[j]);
		}
		yajl_gen_map_close(g);
	}
	yajl_gen_map_close(g);
	free(done);
	char *text = br_json_gen_take(g, ret_len);
	yajl_gen_free(g);
	return text;
}

/* `path` relative and canonical; a ".." goes up a directory when `up`, else it is refused. NULL
 * when it is absolute, climbs out, is empty or longer than IMAGED_ARCHIVE_MAX_MEMBER. */
static char *
canonical(const char *path, bool up)
{
	size_t len = strlen(path);

	if (len == 0 || path[0] == '/')
		return NULL;
	char *out = xmalloc(len + 1);
	size_t o = 0;
	for (const char *p = path; *p != '\0';) {
		size_t c = strcspn(p, "/");
		if (c == 2 && p[0] == '.' && p[1] == '.') {
			if (!up || o == 0) {
				free(out);
				return NULL;
			}
			while (o > 0 && out[o - 1] != '/')
				o--;
			if (o > 0)
				o--;
		} else if (c > 0 && !(c == 1 && p[0] == '.')) {
			if (o > 0)
				out[o++] = '/';
			memcpy(out + o, p, c);
			o += c;
		}
		p += c;
		if (*p == '/')
			p++;
	}
	out[o] = '\0';
	if (o == 0 || o > IMAGED_ARCHIVE_MAX_MEMBER) {
		free(out);
		return NULL;
	}
	return out;
}

char *
imaged_archive_member(const char *path)
{
	return strlen(path) > IMAGED_ARCHIVE_MAX_MEMBER ? NULL : canonical(path, false);
}

char *
imaged_archive_link(const char *member, const char *target)
{
	if (target[0] == '/')
		return NULL;
	const char *slash = strrchr(member, '/');
	_cleanup_free_ char *joined =
	        slash ? xasprintf("%.*s/%s", (int)(slash - member), member, target)
	              : xstrdup(target);
	return canonical(joined, true);
}

char *
imaged_archive_tag(const char *name)
{
	struct br_ref *ref = NULL;
	char *tag = NULL;

	if (br_ref_parse(name, &ref, NULL) < 0)
		return NULL;
	if (ref->tag != NULL)
		tag = xstrdup(ref->tag);
	br_ref_free(ref);
	return tag;
}

/* ------------------------------------------------------------------ manifest.json */

void
imaged_docker_manifest_free(struct imaged_docker_manifest *m)
{
	if (m == NULL)
		return;
	for (size_t i = 0; i < m->n_images; i++) {
		struct imaged_docker_image *im = &m->images[i];
		free(im->config);
		for (size_t j = 0; j < im->n_tags; j++)
			free(im->tags[j]);
		free(im->tags);
		for (size_t j = 0; j < im->n_layers; j++)
			free(im->layers[j]);
		free(im->layers);
	}
	free(m->images);
	free(m);
}

static int
member_of(yajl_val v, const char *what, size_t i, char **ret, br_err *err)
{
	if (!YAJL_IS_STRING(v))
		return br_err_set(err, BR_INVALID_ARGUMENT, "manifest.json[%zu].%s: not a string",
		                  i, what);
	char *m = imaged_archive_member(v->u.string);
	if (m == NULL)
		return br_err_set(
		        err, BR_INVALID_ARGUMENT,
		        "manifest.json[%zu].%s: \"%.200s\" is not a path inside the archive", i,
		        what, v->u.string);
	*ret = m;
	return 0;
}

static int
parse_image(yajl_val obj, size_t i, struct imaged_docker_image *im, br_err *err)
{
	yajl_val config = NULL, tags = NULL, layers = NULL;

	if (!YAJL_IS_OBJECT(obj))
		return br_err_set(err, BR_INVALID_ARGUMENT, "manifest.json[%zu]: not an object", i);
	for (size_t k = 0; k < obj->u.object.len; k++) {
		const char *key = obj->u.object.keys[k];
		if (strcmp(key, "Config") == 0)
			config = obj->u.object.values[k];
		else if (strcmp(key, "RepoTags") == 0)
			tags = obj->u.object.values[k];
		else if (strcmp(key, "Layers") == 0)
			layers = obj->u.object.values[k];
	}
	if (config == NULL)
		return br_err_set(err, BR_INVALID_ARGUMENT, "manifest.json[%zu]: no Config", i);
	if (member_of(config, "Config", i, &im->config, err) < 0)
		return -1;
	if (tags != NULL && !YAJL_IS_NULL(tags)) {
		if (!YAJL_IS_ARRAY(tags))
			return br_err_set(err, BR_INVALID_ARGUMENT,
			                  "manifest.json[%zu].RepoTags: not an array", i);
		if (tags->u.array.len > IMAGED_ARCHIVE_MAX_TAGS)
			return br_err_set(err, BR_RESOURCE_EXHAUSTED,
			                  "manifest.json[%zu].RepoTags: more than %d", i,
			                  IMAGED_ARCHIVE_MAX_TAGS);
		im->tags = xcalloc(tags->u.array.len + 1, sizeof(char *));
		for (size_t j = 0; j < tags->u.array.len; j++) {
			yajl_val t = tags->u.array.values[j];
			if (!YAJL_IS_STRING(t) || t->u.string[0] == '\0' ||
			    strlen(t->u.string) > BR_NAME_MAX)
				return br_err_set(err, BR_INVALID_ARGUMENT,
				                  "manifest.json[%zu].RepoTags[%zu]: not a name", i,
				                  j);
			im->tags[im->n_tags++] = xstrdup(t->u.string);
		}
	}
	if (layers == NULL || !YAJL_IS_ARRAY(layers))
		return br_err_set(err, BR_INVALID_ARGUMENT,
		                  "manifest.json[%zu]: Layers is missing or not an array", i);
	if (layers->u.array.len > BR_OCI_MAX_LAYERS)
		return br_err_set(err, BR_RESOURCE_EXHAUSTED,
		                  "manifest.json[%zu].Layers: more than %d", i, BR_OCI_MAX_LAYERS);
	im->layers = xcalloc(layers->u.array.len + 1, sizeof(char *));
	for (size_t j = 0; j < layers->u.array.len; j++) {
		char what[32];
		snprintf(what, sizeof(what), "Layers[%zu]", j);
		if (member_of(layers->u.array.values[j], what, i, &im->layers[j], err) < 0)
			return -1;
		im->n_layers++;
	}
	return 0;
}

int
imaged_archive_docker_manifest_parse(const char *buf, size_t len,
                                     struct imaged_docker_manifest **ret, br_err *err)
{
	yajl_val root = NULL;
	struct imaged_docker_manifest *m = NULL;
	int rc = -1;

	if (br_json_parse(buf, len, IMAGED_ARCHIVE_MAX_DOC, "manifest.json", &root, err) < 0)
		return -1;
	if (!YAJL_IS_ARRAY(root)) {
		br_err_set(err, BR_INVALID_ARGUMENT, "manifest.json: not an array");
		goto out;
	}
	if (root->u.array.len == 0) {
		br_err_set(err, BR_INVALID_ARGUMENT, "manifest.json lists no images");
		goto out;
	}
	if (root->u.array.len > IMAGED_ARCHIVE_MAX_IMAGES) {
		br_err_set(err, BR_RESOURCE_EXHAUSTED, "manifest.json lists more than %d images",
		           IMAGED_ARCHIVE_MAX_IMAGES);
		goto out;
	}
	m = xnew(struct imaged_docker_manifest);
	m->images = xcalloc(root->u.array.len, sizeof(*m->images));
	for (size_t i = 0; i < root->u.array.len; i++) {
		m->n_images++;
		if (parse_image(root->u.array.values[i], i, &m->images[i], err) < 0)
			goto out;
	}
	*ret = m;
	m = NULL;
	rc = 0;
out:
	imaged_docker_manifest_free(m);
	yajl_tree_free(root);
	return rc;
}
