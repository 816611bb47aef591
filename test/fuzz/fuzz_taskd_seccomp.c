/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target for user seccomp profiles (taskd/seccomp.c): a profile arrives from any
 * caller allowed to create containers and is parsed and re-emitted into the container's
 * spec by taskd. Every refusal must say why; a profile that is accepted must come out of
 * the generator as JSON that is accepted again.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "common/seccomp.h"
#include "taskd/seccomp.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	br_err err = BR_ERR_INIT;
	char *text = malloc(size + 1);
	size_t len;

	memcpy(text, data, size);
	text[size] = '\0';
	if (br_seccomp_profile_parse(text, size, "fuzz", NULL, &err) < 0) {
		if (err.code == BR_OK || err.msg[0] == '\0')
			abort();
		free(text);
		return 0;
	}
	if (strlen(text) != size) { /* NUL inside: refused by the parser already */
		free(text);
		return 0;
	}
	yajl_gen g = br_json_gen_new();
	yajl_gen_map_open(g);
	if (taskd_seccomp_gen(g, text, NULL, &err) < 0)
		abort(); /* checked above */
	yajl_gen_map_close(g);
	char *out = br_json_gen_take(g, &len);
	yajl_gen_free(g);
	const char *prefix = "{\"seccomp\":";
	if (strncmp(out, prefix, strlen(prefix)) != 0 ||
	    br_seccomp_profile_parse(out + strlen(prefix), len - strlen(prefix) - 1, "again", NULL,
	                             &err) < 0)
		abort();
	free(out);
	free(text);
	return 0;
}
