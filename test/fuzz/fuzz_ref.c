/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target for image references: br_ref_parse() over arbitrary bytes (cut at the first
 * NUL, as a C string would be). A reference that parses must normalize idempotently: its
 * string form parses again to the same string.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/ref.h"
#include "common/xalloc.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = xstrndup((const char *)data, size);
	struct br_ref *ref = NULL;
	br_err err = BR_ERR_INIT;

	if (br_ref_parse(s, &ref, &err) == 0) {
		char *normalized = br_ref_string(ref);
		char *name = br_ref_name(ref);
		struct br_ref *again = NULL;
		if (strlen(name) > 255 || br_ref_parse(normalized, &again, &err) < 0)
			abort();
		char *twice = br_ref_string(again);
		if (strcmp(normalized, twice) != 0)
			abort();
		free(twice);
		br_ref_free(again);
		free(name);
		free(normalized);
		br_ref_free(ref);
	}
	free(s);
	return 0;
}
