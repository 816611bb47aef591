/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target for the Retry-After header values a registry sends: imaged_retry_after_ms()
 * over arbitrary bytes (cut at the first NUL, as a header value would be). A value it takes
 * is a delay of at least 0 and at most 2^32 seconds.
 */
#include <stdint.h>
#include <stdlib.h>

#include "common/xalloc.h"
#include "imaged/retry.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = xstrndup((const char *)data, size);
	int64_t ms = imaged_retry_after_ms(s, 784111777);

	if (ms < -1 || ms > (INT64_C(1) << 32) * 1000)
		abort();
	free(s);
	return 0;
}
