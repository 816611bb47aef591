/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Content digests. Berth addresses content by "sha256:<64 lowercase hex>" (OCI image spec);
 * other algorithms are refused with NOT_IMPLEMENTED. Hashing uses OpenSSL's EVP interface.
 * A br_sha256 is used by one thread at a time.
 */
#ifndef BR_COMMON_DIGEST_H
#define BR_COMMON_DIGEST_H

#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"

#define BR_DIGEST_LEN 71 /* "sha256:" + 64 */
#define BR_DIGEST_BUF (BR_DIGEST_LEN + 1)

/* Validate a digest string: INVALID_ARGUMENT for malformed, NOT_IMPLEMENTED for a well-formed
 * digest of another algorithm ("sha512:..."). */
int br_digest_validate(const char *digest, br_err *err);
bool br_digest_valid(const char *digest);

/* The hex part of a valid digest. */
const char *br_digest_hex(const char *digest);

typedef struct br_sha256 br_sha256;

br_sha256 *br_sha256_new(void);
void br_sha256_update(br_sha256 *h, const void *data, size_t len);
/* Write "sha256:<hex>" into out and reset the state so it can hash again. */
void br_sha256_final(br_sha256 *h, char out[BR_DIGEST_BUF]);
void br_sha256_free(br_sha256 *h);

/* One-shot helpers. */
void br_digest_buf(const void *data, size_t len, char out[BR_DIGEST_BUF]);
/* Hash a whole open file from offset 0 (does not move the fd's offset). */
int br_digest_fd(int fd, char out[BR_DIGEST_BUF], br_err *err);

#endif
