/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target for the configuration file parser: br_config_parse() over arbitrary bytes.
 * A config that parses must be usable: every path helper and lookup is called on it, and
 * the whole thing freed.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct br_config *cfg = NULL;
	br_err err = BR_ERR_INIT;

	if (br_config_parse((const char *)data, size, "fuzz.json", &cfg, &err) < 0) {
		if (err.code == BR_OK || err.msg[0] == '\0')
			abort(); /* every failure must say why */
		return 0;
	}
	static const char *const daemons[] = {"contentd", "snapshotd", "imaged",
	                                      "taskd",    "netd",      "gatewayd"};
	for (size_t i = 0; i < sizeof(daemons) / sizeof(daemons[0]); i++) {
		free(br_config_data_dir(cfg, daemons[i]));
		free(br_config_state_dir(cfg, daemons[i]));
		free(br_config_socket_url(cfg, daemons[i]));
	}
	for (size_t i = 0; i < cfg->imaged.n_registries; i++)
		if (br_config_registry(cfg, cfg->imaged.registries[i].host) == NULL)
			abort();
	if (br_config_runtime_path(cfg, cfg->taskd.runtime) == NULL)
		abort(); /* the default runtime must be one of the runtimes */
	br_config_free(cfg);
	return 0;
}
