/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target for CRI log records (common/crilog.h): br_crilog_parse_line() over each line of
 * arbitrary bytes, as taskd and the CLI read a log file. A record that parses must point
 * inside its line, and its time must format and parse back to the same instant.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/crilog.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;

	for (size_t start = 0; start < size;) {
		const char *nl = memchr(s + start, '\n', size - start);
		size_t end = nl != NULL ? (size_t)(nl - s) : size;
		struct br_crilog_line l;
		br_err err = BR_ERR_INIT;
		if (br_crilog_parse_line(s + start, end - start, &l, &err) == 0) {
			if (l.content < s + start || l.content + l.len != s + end)
				abort();
			if (l.time_ns >= 0) {
				char buf[BR_CRILOG_TIME_LEN + 1];
				int64_t again = 0;
				size_t n = br_crilog_format_time(l.time_ns, buf);
				if (br_crilog_parse_time(buf, n, &again, &err) < 0 ||
				    again != l.time_ns)
					abort();
			}
		}
		start = end + 1;
	}
	return 0;
}
