/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Base64 (base64.h): small enough to write out rather than to reach for a library call with
 * its own buffer rules.
 */
#include "common/base64.h"

#include <stdbool.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/xalloc.h"

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *
br_base64_encode(const void *buf, size_t len)
{
	const unsigned char *p = buf;
	char *out = xmalloc((len + 2) / 3 * 4 + 1);
	size_t o = 0;

	for (size_t i = 0; i < len; i += 3) {
		unsigned v = (unsigned)p[i] << 16;
		if (i + 1 < len)
			v |= (unsigned)p[i + 1] << 8;
		if (i + 2 < len)
			v |= p[i + 2];
		out[o++] = alphabet[(v >> 18) & 63];
		out[o++] = alphabet[(v >> 12) & 63];
		out[o++] = i + 1 < len ? alphabet[(v >> 6) & 63] : '=';
		out[o++] = i + 2 < len ? alphabet[v & 63] : '=';
	}
	out[o] = '\0';
	return out;
}

static int
sextet(char c)
{
	const char *p = c != '\0' ? strchr(alphabet, c) : NULL;

	return p != NULL ? (int)(p - alphabet) : -1;
}

int
br_base64_decode(const char *s, size_t max, char **ret, size_t *ret_len, br_err *err)
{
	size_t len = strnlen(s, max + 1);

	if (len > max)
		return br_err_set(err, BR_INVALID_ARGUMENT,
		                  "base64 text longer than %zu characters", max);
	if (len % 4 != 0)
		return br_err_set(err, BR_INVALID_ARGUMENT, "not base64 (length %zu)", len);
	_cleanup_free_ char *out = xmalloc(len / 4 * 3 + 1);
	size_t o = 0;
	for (size_t i = 0; i < len; i += 4) {
		int a = sextet(s[i]), b = sextet(s[i + 1]), c = sextet(s[i + 2]),
		    d = sextet(s[i + 3]);
		bool last = i + 4 == len;
		bool pad2 = last && s[i + 2] == '=' && s[i + 3] == '=';
		bool pad1 = last && !pad2 && s[i + 3] == '=';
		if (a < 0 || b < 0 || (c < 0 && !pad2) || (d < 0 && !pad1 && !pad2))
			return br_err_set(err, BR_INVALID_ARGUMENT, "not base64");
		unsigned v = (unsigned)a << 18 | (unsigned)b << 12;
		out[o++] = (char)(v >> 16);
		if (!pad2) {
			v |= (unsigned)c << 6;
			out[o++] = (char)((v >> 8) & 0xff);
		}
		if (!pad1 && !pad2) {
			v |= (unsigned)d;
			out[o++] = (char)(v & 0xff);
		}
	}
	out[o] = '\0';
	if (ret_len != NULL)
		*ret_len = o;
	*ret = br_steal_ptr(&out);
	return 0;
}
