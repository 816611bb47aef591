/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target for image manifests: br_oci_manifest_parse() with no hint and with the OCI and
 * Docker media types as hints, and br_oci_detect() on the same bytes. A manifest that parses
 * must hold only valid digests, non-negative sizes and known layer types.
 */
#include <stdint.h>
#include <stdlib.h>

#include "common/oci.h"

static void
check(const struct br_oci_manifest *m)
{
	if (m->n_layers > BR_OCI_MAX_LAYERS || !br_digest_valid(m->config.digest) ||
	    m->config.size < 0 || br_oci_kind_of(m->config.media_type) != BR_OCI_CONFIG)
		abort();
	for (size_t i = 0; i < m->n_layers; i++)
		if (!br_digest_valid(m->layers[i].digest) || m->layers[i].size < 0 ||
		    br_oci_layer_compression(m->layers[i].media_type) < 0)
			abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const hints[] = {NULL, BR_MT_OCI_MANIFEST, BR_MT_DOCKER_MANIFEST};
	const char *buf = (const char *)data;

	for (size_t i = 0; i < sizeof(hints) / sizeof(hints[0]); i++) {
		struct br_oci_manifest *m = NULL;
		br_err err = BR_ERR_INIT;
		if (br_oci_manifest_parse(buf, size, hints[i], &m, &err) == 0) {
			check(m);
			br_oci_manifest_free(m);
		}
	}
	const char *mt = NULL;
	enum br_oci_kind kind = br_oci_detect(buf, size, &mt);
	if (kind != BR_OCI_UNKNOWN && (mt == NULL || br_oci_kind_of(mt) != kind))
		abort();
	return 0;
}
