/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target for the upload headers a registry sends to a push (imaged/registry.c): the
 * input, cut at its first NUL, is taken both as a Range header and as a Location header.
 * A Range that parses must give an offset within what was sent, and an upload that goes on
 * by it must make progress; a Location that resolves must be an absolute URL of an allowed
 * scheme without spaces or control characters.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/xalloc.h"
#include "imaged/registry.h"

#define SENT 1048576

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = xstrndup((const char *)data, size);
	br_err err = BR_ERR_INIT;
	int64_t next = -1;
	char *url = NULL;

	if (imaged_upload_range_next(s, SENT, &next, &err) == 0 && (next < 1 || next > SENT))
		abort();
	br_err_clear(&err);
	next = -1;
	if (imaged_upload_advance(SENT / 2, SENT / 2, s, &next, &err) == 0 &&
	    (next <= SENT / 2 || next > SENT))
		abort();
	for (int insecure = 0; insecure <= 1; insecure++) {
		br_err_clear(&err);
		if (imaged_location_resolve("https://r.example", insecure, s, &url, &err) < 0)
			continue;
		if (strncasecmp(url, "https://", 8) != 0 &&
		    !(insecure && strncasecmp(url, "http://", 7) == 0))
			abort();
		for (const char *p = url; *p != '\0'; p++)
			if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
				abort();
		free(url);
	}
	free(s);
	return 0;
}
