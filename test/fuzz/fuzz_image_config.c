/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target for image configs: br_oci_config_parse() over arbitrary bytes. A config that
 * parses must have valid diff IDs (their chain ID is computed) and well-formed environment.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/oci.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct br_oci_image_config *c = NULL;
	br_err err = BR_ERR_INIT;

	if (br_oci_config_parse((const char *)data, size, &c, &err) < 0)
		return 0;
	if (c->os == NULL || c->architecture == NULL || c->n_diff_ids > BR_OCI_MAX_LAYERS)
		abort();
	for (size_t i = 0; i < c->n_diff_ids; i++)
		if (!br_digest_valid(c->diff_ids[i]))
			abort();
	for (size_t i = 0; c->env != NULL && c->env[i] != NULL; i++)
		if (strchr(c->env[i], '=') == NULL)
			abort();
	char chain[BR_DIGEST_BUF];
	br_oci_chain_id((const char(*)[BR_DIGEST_BUF])c->diff_ids, c->n_diff_ids, chain);
	if (c->n_diff_ids > 0 && !br_digest_valid(chain))
		abort();
	br_oci_config_free(c);
	return 0;
}
