/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The one error type of Berth. A fallible function takes `br_err *err` as its last argument,
 * returns a negative number or NULL on failure and fills `err` with a stable code and a
 * human message. Each layer that passes an error up adds its own context in front of the
 * message ("pull 127.0.0.1:5000/x: fetch layer sha256:...: HTTP 404"), so the user reads the
 * whole chain. Codes are part of the wire API (docs/api.md) and never change meaning.
 *
 * The message lives inside the struct, so an error needs no cleanup and can sit on the stack.
 */
#ifndef BR_COMMON_ERR_H
#define BR_COMMON_ERR_H

#include <stddef.h>

typedef enum br_code {
	BR_OK = 0,
	BR_INVALID_ARGUMENT,
	BR_NOT_FOUND,
	BR_ALREADY_EXISTS,
	BR_FAILED_PRECONDITION,
	BR_UNAVAILABLE,
	BR_DEADLINE_EXCEEDED,
	BR_CANCELED,
	BR_PERMISSION_DENIED,
	BR_RESOURCE_EXHAUSTED,
	BR_NOT_IMPLEMENTED,
	BR_INTERNAL,
	BR_CODE_MAX
} br_code;

#define BR_ERR_MSG_MAX 1024

typedef struct br_err {
	br_code code;
	char msg[BR_ERR_MSG_MAX];
} br_err;

#define BR_ERR_INIT       \
	{                 \
		BR_OK,    \
		{         \
			0 \
		}         \
	}

/* Fill `err` (if not NULL) with `code` and a printf-style message. Returns -1 so that a caller
 * can write `return br_err_set(err, BR_NOT_FOUND, "image %s: not found", name);`. */
int br_err_set(br_err *err, br_code code, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

/* As br_err_set, then append ": <strerror(errnum)>". */
int br_err_errno(br_err *err, br_code code, int errnum, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

/* Prepend context to an error already set: "<context>: <old message>". Keeps the code.
 * Returns -1. The message is truncated (with "...") if the chain outgrows BR_ERR_MSG_MAX. */
int br_err_wrap(br_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* How much of a caller's string a message quotes: a longer one is cut there, so that a
 * 5,000-character input cannot push the reason out of the BR_ERR_MSG_MAX message. */
#define BR_ERR_QUOTE_MAX 64
#define BR_ERR_QUOTE_BUF (BR_ERR_QUOTE_MAX + 32)

/* `s` as a message should quote it: `s` itself when it has at most BR_ERR_QUOTE_MAX bytes,
 * else its first BR_ERR_QUOTE_MAX bytes (not splitting a UTF-8 character) and
 * "...(N characters)". Returns `s` or `buf` (BR_ERR_QUOTE_BUF bytes, the caller's), "(null)"
 * for NULL. Use it for every unbounded string that came from a user, a peer or a file:
 * `br_err_set(err, BR_INVALID_ARGUMENT, "reference \"%s\": %s", BR_ERR_QUOTE(s), why)`.
 * Any thread. */
const char *br_err_quote(char *buf, const char *s);

/* br_err_quote with a buffer of its own that lives until the end of the enclosing block: for
 * use as an argument of br_err_set, br_err_wrap or xasprintf. */
#define BR_ERR_QUOTE(s) br_err_quote((char[BR_ERR_QUOTE_BUF]){0}, (s))

/* Reset to BR_OK with an empty message. */
void br_err_clear(br_err *err);

/* Copy `src` into `dst` (either may be NULL). */
void br_err_copy(br_err *dst, const br_err *src);

/* Stable wire names: "INVALID_ARGUMENT", ... "OK" for BR_OK. Never NULL. */
const char *br_code_name(br_code code);

/* Parse a wire name; unknown names map to BR_INTERNAL (a newer peer's code is still an error). */
br_code br_code_from_name(const char *name, size_t len);

/* The errno that best matches `code`, for the few places that speak errno. */
int br_code_to_errno(br_code code);

/* The BR code that best matches an errno (ENOENT -> NOT_FOUND, EEXIST -> ALREADY_EXISTS, ...). */
br_code br_code_from_errno(int errnum);

#endif
