/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The documents of image archives (docs/archives.md), apart from the jobs that read and write
 * the archives: index.json of an OCI image layout as export writes it, and a docker-archive's
 * manifest.json and repositories, written by export and parsed (untrusted) by import. Pure
 * functions of their arguments; any thread.
 */
#ifndef BR_IMAGED_ARCHIVE_H
#define BR_IMAGED_ARCHIVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/cleanup.h"
#include "common/digest.h"
#include "common/err.h"

#define IMAGED_ARCHIVE_MAX_IMAGES 64     /* images (entries of manifest.json, index.json) */
#define IMAGED_ARCHIVE_MAX_TAGS 64       /* RepoTags of one manifest.json entry */
#define IMAGED_ARCHIVE_MAX_MEMBER 1024   /* a member's path */
#define IMAGED_ARCHIVE_MAX_DOC (4 << 20) /* manifest.json, index.json */
#define IMAGED_ANNOTATION_REF_NAME "org.opencontainers.image.ref.name"
#define IMAGED_ANNOTATION_IMAGE_NAME "io.containerd.image.name"

/* One entry of an exported index.json. */
struct imaged_index_entry {
	const char *media_type;
	const char *digest;
	int64_t size;
	const char *os, *architecture, *variant; /* the platform; os NULL: none */
	const char *name;                        /* io.containerd.image.name; NULL: none */
	const char *ref_name; /* org.opencontainers.image.ref.name (the tag); NULL: none */
};

/* index.json (schemaVersion 2, the OCI index media type) listing `entries`. Heap string. */
char *imaged_archive_index_json(const struct imaged_index_entry *entries, size_t n,
                                size_t *ret_len);

/* One image of a docker-archive's manifest.json. */
struct imaged_docker_image {
	char *config; /* member path: "<hex>.json" */
	char **tags;  /* RepoTags, "name:tag" */
	size_t n_tags;
	char **layers; /* member paths, base layer first */
	size_t n_layers;
};

struct imaged_docker_manifest {
	struct imaged_docker_image *images;
	size_t n_images;
};

/* manifest.json listing `images` (their strings are only read). Heap string. */
char *imaged_archive_docker_manifest_json(const struct imaged_docker_image *images, size_t n,
                                          size_t *ret_len);
/* repositories: {"<name>": {"<tag>": "<config hex>"}} for each tagged image. `tags[i]` is a
 * full "name:tag"; `ids[i]` the config digest's hex of its image. Heap string. */
char *imaged_archive_repositories_json(const char *const *tags, const char *const *ids, size_t n,
                                       size_t *ret_len);

/*
 * Parse a docker-archive's manifest.json (untrusted): an array of 1..IMAGED_ARCHIVE_MAX_IMAGES
 * objects with "Config" (a member path), "RepoTags" (null or up to IMAGED_ARCHIVE_MAX_TAGS
 * strings) and "Layers" (up to BR_OCI_MAX_LAYERS member paths). Every path is normalized
 * (imaged_archive_member) and must not climb out of the archive. INVALID_ARGUMENT naming what
 * is wrong, RESOURCE_EXHAUSTED past a limit. Free with imaged_docker_manifest_free.
 */
int imaged_archive_docker_manifest_parse(const char *buf, size_t len,
                                         struct imaged_docker_manifest **ret, br_err *err);
void imaged_docker_manifest_free(struct imaged_docker_manifest *m);
BR_DEFINE_CLEANUP(struct imaged_docker_manifest, imaged_docker_manifest_free)

/*
 * A member path of an archive made relative and canonical ("./a//b" is "a/b"): NULL when it
 * is absolute, names ".." anywhere, is empty or longer than IMAGED_ARCHIVE_MAX_MEMBER. Heap.
 */
char *imaged_archive_member(const char *path);
/* The member a link `target` (a hard link's or a symbolic link's) in member `member` names,
 * "dir/../x" resolved from member's directory: canonical as above, NULL when it is absolute
 * or leads out of the archive. Heap. */
char *imaged_archive_link(const char *member, const char *target);

/* The tag of image name `name` ("reg/x:v1" -> "v1"), NULL for a digest-only name. Heap. */
char *imaged_archive_tag(const char *name);

#endif
