/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The import job's parts shared by import.c (the archive's passes, the OCI image layout) and
 * import_docker.c (docker-archives). Job thread only.
 */
#ifndef BR_IMAGED_IMPORT_H
#define BR_IMAGED_IMPORT_H

#include <archive.h>

#include "imaged/imaged.h"

#define IMPORT_MAX_MEMBERS 100000

/* A member of the archive, its path canonical (imaged_archive_member). */
struct import_member {
	char *path;
	char *target; /* a link's member, canonical; NULL for a regular file */
	int64_t size;
};

/* What the first pass found. */
struct import_layout {
	const char *digest; /* the archive's blob */
	bool have_layout;   /* oci-layout */
	char *index;        /* index.json */
	size_t index_len;
	char *docker; /* manifest.json */
	size_t docker_len;
	struct import_member *members; /* regular files and links */
	size_t n_members;
	size_t blobs; /* blobs/sha256/<hex> copied */
};

/* Called for each regular member of a second pass, positioned at its data. */
typedef int (*import_member_fn)(struct imaged_job *job, struct archive *a, const char *path,
                                void *data, br_err *err);
int import_read_members(struct imaged_job *job, const struct import_layout *lay,
                        import_member_fn fn, void *data, br_err *err);

/* A reference as the user wrote it, normalized; NULL if it does not parse. */
char *import_normalize_name(const char *s);

/* Unpack manifest `m` (digest `manifest_digest`, reached through `target`) and record it as
 * image `name`; with `keep_job_lease` the job's lease stays for images still to come. */
int import_store(struct imaged_job *job, const char *name, const struct br_descriptor *target,
                 const char *manifest_digest, const struct br_oci_manifest *m,
                 const struct br_oci_image_config *config, bool keep_job_lease, br_err *err);

/* Import the images of a docker-archive (lay->docker): every tagged one, or the one
 * `want_name` picks; the result is their names, separated by spaces. */
int import_docker(struct imaged_job *job, const struct import_layout *lay, const char *want_name,
                  char **ret_result, br_err *err);

#endif
