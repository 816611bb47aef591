/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Logger implementation: formats one line into a stack buffer and writes it with a single
 * write(2), so lines from several threads never interleave. Every message is escaped first
 * (escape_message), in both formats: messages quote what callers sent (names, references,
 * paths), and a log line must stay one line that says only what the daemon wrote.
 */
#include "common/log.h"

#include <stdarg.h>
#include <stdint.h>
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

/* The length of the UTF-8 sequence at `s` and its code point, or 0 if it is not valid
 * (overlong, a surrogate, past U+10FFFF, cut short). */
static size_t
utf8_decode(const unsigned char *s, uint32_t *ret_cp)
{
	size_t n;
	uint32_t cp, min;

	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2, cp = s[0] & 0x1f, min = 0x80;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3, cp = s[0] & 0x0f, min = 0x800;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4, cp = s[0] & 0x07, min = 0x10000;
	else
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80) /* also stops at the terminating NUL */
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	*ret_cp = cp;
	return n;
}

/* Characters that are valid but would break a line or reorder it on display: C1 controls
 * (U+009B starts a terminal escape like ESC [), the line and paragraph separators, and the
 * bidirectional embeddings, overrides and isolates ("Trojan Source"). */
static bool
unsafe_code_point(uint32_t cp)
{
	return (cp >= 0x80 && cp <= 0x9f) || cp == 0x2028 || cp == 0x2029 ||
	       (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069);
}

/*
 * Copy `s` into `out` so that it prints as one line and as it reads: \n, \r and \t for
 * themselves, \xHH for other control bytes (ESC, DEL) and for bytes that are not valid
 * UTF-8, \uHHHH for the characters of unsafe_code_point(). Valid UTF-8 stays as it is, and
 * so does a backslash: it cannot make a control character. Stops before an escape that does
 * not fit in `cap` (a NUL included).
 */
static void
escape_message(char *out, size_t cap, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = 0;

	while (*p != '\0') {
		char esc[16];
		size_t len;
		uint32_t cp = 0;
		size_t seq = *p >= 0x80 ? utf8_decode(p, &cp) : 0;
		if (*p == '\n' || *p == '\r' || *p == '\t') {
			esc[0] = '\\';
			esc[1] = *p == '\n' ? 'n' : *p == '\r' ? 'r' : 't';
			len = 2;
		} else if (*p < 0x20 || *p == 0x7f || (*p >= 0x80 && seq == 0)) {
			len = (size_t)snprintf(esc, sizeof(esc), "\\x%02x", *p);
			seq = 1;
		} else if (seq > 0 && unsafe_code_point(cp)) {
			len = (size_t)snprintf(esc, sizeof(esc), "\\u%04x", (unsigned)cp);
		} else {
			len = seq > 0 ? seq : 1;
			memcpy(esc, p, len);
		}
		if (n + len >= cap)
			break;
		memcpy(out + n, esc, len);
		n += len;
		p += seq > 0 ? seq : 1;
	}
	out[n] = '\0';
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
	char raw[2048];
	char msg[4096]; /* raw, escaped */
	char line[8448];
	va_list ap;
	int n;

	if ((int)level < 0 || level >= BR_LOG_LEVEL_MAX)
		level = BR_LOG_ERROR;
	va_start(ap, fmt);
	vsnprintf(raw, sizeof(raw), fmt, ap);
	va_end(ap);
	escape_message(msg, sizeof(msg), raw);

	if (log_format == BR_LOG_JSON) {
		char esc[8192];
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
