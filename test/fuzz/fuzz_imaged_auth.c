/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target for what registries say about authentication: the first byte chooses the
 * parser, the rest is its input. 0: a WWW-Authenticate header (cut at the first NUL, as a
 * header value would be) through imaged_challenges_parse(); every parameter value kept must
 * be free of control characters and bounded. 1: a token server's answer through
 * imaged_token_parse(); a token kept must be printable without spaces, its lifetime within
 * a minute and a day.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"
#include "imaged/registry.h"

static void
check_value(const char *v)
{
	if (v == NULL)
		return;
	if (strlen(v) > 2048)
		abort();
	for (const char *p = v; *p != '\0'; p++)
		if ((unsigned char)*p < ' ' || *p == 0x7f)
			abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	br_err err = BR_ERR_INIT;

	if (size == 0)
		return 0;
	if (data[0] % 2 == 0) {
		char *s = xstrndup((const char *)data + 1, size - 1);
		struct imaged_challenge c[IMAGED_CHALLENGES_MAX];
		size_t n = 0;
		if (imaged_challenges_parse(s, c, &n, &err) == 0) {
			if (n > IMAGED_CHALLENGES_MAX)
				abort();
			for (size_t i = 0; i < n; i++) {
				if (strlen(c[i].scheme) >= sizeof(c[i].scheme))
					abort();
				check_value(c[i].realm);
				check_value(c[i].service);
				check_value(c[i].scope);
				check_value(c[i].error);
			}
			imaged_challenges_fini(c, n);
		}
		free(s);
	} else {
		char *token = NULL;
		int64_t expires = 0;
		if (imaged_token_parse((const char *)data + 1, size - 1, &token, &expires, &err) ==
		    0) {
			if (token[0] == '\0' || expires < IMAGED_TOKEN_MIN_LIFETIME_S ||
			    expires > 86400)
				abort();
			for (const char *p = token; *p != '\0'; p++)
				if ((unsigned char)*p <= ' ' || *p == 0x7f)
					abort();
			free(token);
		}
	}
	return 0;
}
