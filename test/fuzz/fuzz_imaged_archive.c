/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target for a docker-archive's manifest.json (imaged/archive.c), the untrusted document
 * that names an archive's members: what parses must be within the limits, and every member
 * path it returns must be relative, canonical and free of "..".
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/oci.h"
#include "imaged/archive.h"

static void
check_path(const char *p)
{
	if (p == NULL || p[0] == '\0' || p[0] == '/' || strlen(p) > IMAGED_ARCHIVE_MAX_MEMBER ||
	    strstr(p, "//") != NULL || strcmp(p, "..") == 0 || strncmp(p, "../", 3) == 0 ||
	    strstr(p, "/../") != NULL)
		abort();
	size_t n = strlen(p);
	if (p[n - 1] == '/' || (n >= 3 && strcmp(p + n - 3, "/..") == 0))
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct imaged_docker_manifest *m = NULL;
	br_err err = BR_ERR_INIT;

	if (imaged_archive_docker_manifest_parse((const char *)data, size, &m, &err) < 0) {
		if (m != NULL || err.code == BR_OK)
			abort();
		return 0;
	}
	if (m->n_images == 0 || m->n_images > IMAGED_ARCHIVE_MAX_IMAGES)
		abort();
	for (size_t i = 0; i < m->n_images; i++) {
		const struct imaged_docker_image *im = &m->images[i];
		check_path(im->config);
		if (im->n_tags > IMAGED_ARCHIVE_MAX_TAGS || im->n_layers > BR_OCI_MAX_LAYERS)
			abort();
		for (size_t j = 0; j < im->n_layers; j++)
			check_path(im->layers[j]);
	}
	imaged_docker_manifest_free(m);
	return 0;
}
