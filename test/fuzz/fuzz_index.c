/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target for image indexes and Docker manifest lists: br_oci_index_parse() with and
 * without hints, then platform selection for a few platforms; whatever is selected must be
 * a manifest entry of the index whose platform matches.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/oci.h"

static void
select_checked(const struct br_oci_index *idx, const char *os, const char *arch,
               const char *variant)
{
	const struct br_oci_descriptor *d = br_oci_index_select(idx, os, arch, variant);

	if (d == NULL)
		return;
	if (d < idx->manifests || d >= idx->manifests + idx->n_manifests || d->platform == NULL ||
	    strcmp(d->platform->os, os) != 0 || br_oci_kind_of(d->media_type) != BR_OCI_MANIFEST)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const hints[] = {NULL, BR_MT_OCI_INDEX, BR_MT_DOCKER_LIST};
	const char *buf = (const char *)data;

	for (size_t i = 0; i < sizeof(hints) / sizeof(hints[0]); i++) {
		struct br_oci_index *idx = NULL;
		br_err err = BR_ERR_INIT;
		if (br_oci_index_parse(buf, size, hints[i], &idx, &err) < 0)
			continue;
		if (idx->n_manifests > BR_OCI_MAX_MANIFESTS)
			abort();
		for (size_t j = 0; j < idx->n_manifests; j++)
			if (!br_digest_valid(idx->manifests[j].digest) ||
			    idx->manifests[j].size < 0)
				abort();
		select_checked(idx, "linux", "amd64", NULL);
		select_checked(idx, "linux", "arm64", "v8");
		select_checked(idx, "linux", "arm", "v7");
		select_checked(idx, "linux", "arm", NULL);
		select_checked(idx, "windows", "amd64", "");
		br_oci_index_free(idx);
	}
	return 0;
}
