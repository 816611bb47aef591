/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Logger implementation: formats one line into a stack buffer and writes it with a single
 * write(2), so lines from several threads never interleave.
 */
#include "common/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum br_log_level br_log_level_current = BR_LOG_INFO;
static enum br_log_format log_format = BR_LOG_TEXT;
static char log_name[64] = "berth";

static const char *const level_names[BR_LOG_LEVEL_MAX] = {
        "error", "warn", "notice", "info", "debug",
};

void
br_log_init(const char *name, enum br_log_level level, enum br_log_format format)
{
	snprintf(log_name, sizeof(log_name), "%s", name);
	br_log_level_current = level;
	log_format = format;
}

int
br_log_level_parse(const char *s, enum br_log_level *ret_level)
{
	for (int i = 0; i < BR_LOG_LEVEL_MAX; i++) {
		if (strcmp(s, level_names[i]) == 0) {
			*ret_level = (enum br_log_level)i;
			return 0;
		}
	}
	return -1;
}

/* Append `s` to `out` as the inside of a JSON string. */
static size_t
json_escape(char *out, size_t cap, const char *s)
{
	size_t n = 0;
	for (; *s != '\0' && n + 7 < cap; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\') {
			out[n++] = '\\';
			out[n++] = (char)c;
		} else if (c < 0x20) {
			n += (size_t)snprintf(out + n, cap - n, "\\u%04x", c);
		} else {
			out[n++] = (char)c;
		}
	}
	out[n] = '\0';
	return n;
}

void
br_log_write(enum br_log_level level, const char *id, const char *fmt, ...)
{
	char msg[2048];
	char line[4600];
	va_list ap;
	int n;

	if ((int)level < 0 || level >= BR_LOG_LEVEL_MAX)
		level = BR_LOG_ERROR;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);

	if (log_format == BR_LOG_JSON) {
		char esc[4200];
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		json_escape(esc, sizeof(esc), msg);
		n = snprintf(line, sizeof(line),
		             "{\"ts\":%lld.%03ld,\"proc\":\"%s\",\"pid\":%d,\"level\":\"%s\","
		             "\"id\":\"%s\","
		             "\"msg\":\"%s\"}\n",
		             (long long)ts.tv_sec, ts.tv_nsec / 1000000, log_name, (int)getpid(),
		             level_names[level], id, esc);
	} else {
		n = snprintf(line, sizeof(line), "%s[%d]: %s %s: %s\n", log_name, (int)getpid(),
		             level_names[level], id, msg);
	}
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line)) {
		n = sizeof(line) - 1;
		line[n - 1] = '\n';
	}
	ssize_t w = write(STDERR_FILENO, line, (size_t)n);
	(void)w;
}
