/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Standard base64 (RFC 4648, with padding), for the "auth" strings of registry credentials
 * ("user:password" encoded, as docker's config.json and Berth's configuration hold them).
 */
#ifndef BR_COMMON_BASE64_H
#define BR_COMMON_BASE64_H

#include <stddef.h>

#include "common/err.h"

/* The encoding of `len` bytes, a NUL-terminated heap string. Never fails. */
char *br_base64_encode(const void *buf, size_t len);

/*
 * Decode `s` (padding required, no whitespace) into a NUL-terminated heap buffer; inputs
 * longer than `max` characters fail. INVALID_ARGUMENT for anything that is not base64; the
 * message never quotes the input, which may be a secret. *ret_len may be NULL.
 */
int br_base64_decode(const char *s, size_t max, char **ret, size_t *ret_len, br_err *err);

#endif
