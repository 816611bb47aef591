/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Random ids (common/random.h).
 */
#include "common/random.h"

#include <sys/random.h>
#include <sys/types.h>

void
br_random_hex(char *out, size_t n_bytes)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char b[64];

	while (n_bytes > 0) {
		size_t n = n_bytes < sizeof(b) ? n_bytes : sizeof(b), got = 0;
		while (got < n) {
			ssize_t r = getrandom(b + got, n - got, 0);
			if (r > 0)
				got += (size_t)r;
		}
		for (size_t i = 0; i < n; i++) {
			*out++ = hex[b[i] >> 4];
			*out++ = hex[b[i] & 15];
		}
		n_bytes -= n;
	}
	*out = '\0';
}
