/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The error type: formatting, context chaining and the stable code names of the wire API.
 */
#include "common/err.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *const code_names[BR_CODE_MAX] = {
        [BR_OK] = "OK",
        [BR_INVALID_ARGUMENT] = "INVALID_ARGUMENT",
        [BR_NOT_FOUND] = "NOT_FOUND",
        [BR_ALREADY_EXISTS] = "ALREADY_EXISTS",
        [BR_FAILED_PRECONDITION] = "FAILED_PRECONDITION",
        [BR_UNAVAILABLE] = "UNAVAILABLE",
        [BR_DEADLINE_EXCEEDED] = "DEADLINE_EXCEEDED",
        [BR_CANCELED] = "CANCELED",
        [BR_PERMISSION_DENIED] = "PERMISSION_DENIED",
        [BR_RESOURCE_EXHAUSTED] = "RESOURCE_EXHAUSTED",
        [BR_NOT_IMPLEMENTED] = "NOT_IMPLEMENTED",
        [BR_INTERNAL] = "INTERNAL",
};

/* Mark a truncated message so that a reader knows the chain was cut. */
static void
mark_truncated(char *msg)
{
	size_t n = strlen(msg);
	if (n == BR_ERR_MSG_MAX - 1)
		memcpy(msg + n - 3, "...", 3);
}

int
br_err_set(br_err *err, br_code code, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL)
		return -1;
	err->code = code;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	mark_truncated(err->msg);
	return -1;
}

int
br_err_errno(br_err *err, br_code code, int errnum, const char *fmt, ...)
{
	va_list ap;
	size_t n;

	if (err == NULL)
		return -1;
	err->code = code;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	n = strlen(err->msg);
	snprintf(err->msg + n, sizeof(err->msg) - n, ": %s", strerror(errnum));
	mark_truncated(err->msg);
	return -1;
}

int
br_err_wrap(br_err *err, const char *fmt, ...)
{
	char prefix[BR_ERR_MSG_MAX];
	char old[BR_ERR_MSG_MAX];
	va_list ap;

	if (err == NULL)
		return -1;
	if (err->code == BR_OK)
		err->code = BR_INTERNAL;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	memcpy(old, err->msg, sizeof(old));
	/* Assemble "<prefix>: <old>" by hand, cutting at the buffer's end. */
	size_t n = strlen(prefix);
	memcpy(err->msg, prefix, n + 1);
	if (old[0] != '\0' && n + 2 < sizeof(err->msg)) {
		size_t rest = sizeof(err->msg) - n - 3;
		size_t olen = strnlen(old, rest);
		memcpy(err->msg + n, ": ", 2);
		memcpy(err->msg + n + 2, old, olen);
		err->msg[n + 2 + olen] = '\0';
	}
	mark_truncated(err->msg);
	return -1;
}

/* See err.h. Counts characters as UTF-8 lead bytes, so that the count is what a reader sees. */
const char *
br_err_quote(char *buf, const char *s)
{
	if (s == NULL)
		return "(null)";
	size_t len = strnlen(s, BR_ERR_QUOTE_MAX + 1);
	if (len <= BR_ERR_QUOTE_MAX)
		return s;
	size_t cut = BR_ERR_QUOTE_MAX;
	while (cut > 0 && ((unsigned char)s[cut] & 0xc0) == 0x80)
		cut--;
	size_t chars = 0;
	for (const char *p = s; *p != '\0'; p++)
		chars += ((unsigned char)*p & 0xc0) != 0x80;
	memcpy(buf, s, cut);
	snprintf(buf + cut, BR_ERR_QUOTE_BUF - cut, "...(%zu characters)", chars);
	return buf;
}

void
br_err_clear(br_err *err)
{
	if (err == NULL)
		return;
	err->code = BR_OK;
	err->msg[0] = '\0';
}

void
br_err_copy(br_err *dst, const br_err *src)
{
	if (dst == NULL || src == NULL)
		return;
	dst->code = src->code;
	memcpy(dst->msg, src->msg, sizeof(dst->msg));
}

const char *
br_code_name(br_code code)
{
	if ((int)code < 0 || code >= BR_CODE_MAX)
		return "INTERNAL";
	return code_names[code];
}

br_code
br_code_from_name(const char *name, size_t len)
{
	for (int c = 0; c < BR_CODE_MAX; c++) {
		if (strlen(code_names[c]) == len && memcmp(code_names[c], name, len) == 0)
			return (br_code)c;
	}
	return BR_INTERNAL;
}

int
br_code_to_errno(br_code code)
{
	switch (code) {
	case BR_OK:
		return 0;
	case BR_INVALID_ARGUMENT:
		return EINVAL;
	case BR_NOT_FOUND:
		return ENOENT;
	case BR_ALREADY_EXISTS:
		return EEXIST;
	case BR_FAILED_PRECONDITION:
		return EBUSY;
	case BR_UNAVAILABLE:
		return ECONNREFUSED;
	case BR_DEADLINE_EXCEEDED:
		return ETIMEDOUT;
	case BR_CANCELED:
		return ECANCELED;
	case BR_PERMISSION_DENIED:
		return EPERM;
	case BR_RESOURCE_EXHAUSTED:
		return ENOSPC;
	case BR_NOT_IMPLEMENTED:
		return ENOSYS;
	default:
		return EIO;
	}
}

br_code
br_code_from_errno(int errnum)
{
	switch (errnum) {
	case 0:
		return BR_OK;
	case EINVAL:
	case ENAMETOOLONG:
	case ELOOP:
	case EXDEV:
		return BR_INVALID_ARGUMENT;
	case ENOENT:
	case ENOTDIR:
	case ESRCH:
		return BR_NOT_FOUND;
	case EEXIST:
		return BR_ALREADY_EXISTS;
	case EBUSY:
	case ENOTEMPTY:
		return BR_FAILED_PRECONDITION;
	case ECONNREFUSED:
	case ECONNRESET:
	case EPIPE:
		return BR_UNAVAILABLE;
	case ETIMEDOUT:
		return BR_DEADLINE_EXCEEDED;
	case ECANCELED:
	case EINTR:
		return BR_CANCELED;
	case EPERM:
	case EACCES:
		return BR_PERMISSION_DENIED;
	case ENOSPC:
	case EDQUOT:
	case EMFILE:
	case ENFILE:
	case ENOMEM:
		return BR_RESOURCE_EXHAUSTED;
	case ENOSYS:
	case EOPNOTSUPP:
		return BR_NOT_IMPLEMENTED;
	default:
		return BR_INTERNAL;
	}
}
