/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sha256 digests in the OCI form "sha256:<64 lowercase hex>": validation of digest strings
 * that come from registries, archives and requests, and hashing with OpenSSL's EVP interface,
 * streaming (for blobs written in chunks) or one-shot.
 */
#include "common/digest.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "common/xalloc.h"

#define SHA256_PREFIX "sha256:"
#define SHA256_PREFIX_LEN 7
#define SHA256_HEX_LEN 64
/* Digests longer than this are not shown whole in error messages. */
#define SHOW_MAX 80

struct br_sha256 {
	EVP_MD_CTX *ctx;
};

static bool
is_lower_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

/* OCI grammar: algorithm ::= component (separator component)*, component ::= [a-z0-9]+,
 * separator ::= [+._-]; encoded ::= [a-zA-Z0-9=_-]+. */
static bool
oci_digest_syntax(const char *s, size_t colon)
{
	bool need_component = true;

	for (size_t i = 0; i < colon; i++) {
		char c = s[i];
		if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
			need_component = false;
		} else if (c == '+' || c == '.' || c == '_' || c == '-') {
			if (need_component)
				return false;
			need_component = true;
		} else {
			return false;
		}
	}
	if (need_component || s[colon + 1] == '\0')
		return false;
	for (const char *p = s + colon + 1; *p != '\0'; p++) {
		char c = *p;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '=' || c == '_' || c == '-'))
			return false;
	}
	return true;
}

bool
br_digest_valid(const char *digest)
{
	if (digest == NULL || strncmp(digest, SHA256_PREFIX, SHA256_PREFIX_LEN) != 0)
		return false;
	for (int i = 0; i < SHA256_HEX_LEN; i++)
		if (!is_lower_hex(digest[SHA256_PREFIX_LEN + i]))
			return false;
	return digest[BR_DIGEST_LEN] == '\0';
}

/* See digest.h. The message quotes the digest (cut to SHOW_MAX characters). Any thread. */
int
br_digest_validate(const char *digest, br_err *err)
{
	if (digest == NULL || digest[0] == '\0')
		return br_err_set(err, BR_INVALID_ARGUMENT, "digest: empty");
	if (br_digest_valid(digest))
		return 0;
	size_t len = strlen(digest);
	const char *more = len > SHOW_MAX ? "..." : "";
	const char *colon = strchr(digest, ':');
	if (colon == NULL)
		return br_err_set(err, BR_INVALID_ARGUMENT,
		                  "digest \"%.*s%s\": not of the form <algorithm>:<hex>", SHOW_MAX,
		                  digest, more);
	size_t alg_len = (size_t)(colon - digest);
	if (alg_len == 6 && strncmp(digest, "sha256", 6) == 0)
		return br_err_set(err, BR_INVALID_ARGUMENT,
		                  "digest \"%.*s%s\": sha256 needs 64 lowercase hex characters",
		                  SHOW_MAX, digest, more);
	if (!oci_digest_syntax(digest, alg_len))
		return br_err_set(err, BR_INVALID_ARGUMENT, "digest \"%.*s%s\": malformed",
		                  SHOW_MAX, digest, more);
	return br_err_set(err, BR_NOT_IMPLEMENTED,
	                  "digest \"%.*s%s\": algorithm \"%.*s\" is not supported (only sha256)",
	                  SHOW_MAX, digest, more, (int)(alg_len > 32 ? 32 : alg_len), digest);
}

/* The part after "sha256:"; for anything else, the part after the first ':' (or all). */
const char *
br_digest_hex(const char *digest)
{
	const char *colon = strchr(digest, ':');

	return colon ? colon + 1 : digest;
}

static void __attribute__((noreturn)) openssl_failed(const char *what)
{
	/* EVP fails only on allocation failure or a broken OpenSSL install. */
	fprintf(stderr, "berth: OpenSSL %s failed\n", what);
	abort();
}

/* A new hashing state; the caller frees it with br_sha256_free. Aborts only on OOM. */
br_sha256 *
br_sha256_new(void)
{
	br_sha256 *h = xnew(br_sha256);

	h->ctx = EVP_MD_CTX_new();
	if (h->ctx == NULL)
		openssl_failed("EVP_MD_CTX_new");
	if (EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL) != 1)
		openssl_failed("EVP_DigestInit_ex");
	return h;
}

void
br_sha256_update(br_sha256 *h, const void *data, size_t len)
{
	if (len > 0 && EVP_DigestUpdate(h->ctx, data, len) != 1)
		openssl_failed("EVP_DigestUpdate");
}

static void
format_digest(const unsigned char *md, char out[BR_DIGEST_BUF])
{
	static const char hex[] = "0123456789abcdef";

	memcpy(out, SHA256_PREFIX, SHA256_PREFIX_LEN);
	for (int i = 0; i < 32; i++) {
		out[SHA256_PREFIX_LEN + 2 * i] = hex[md[i] >> 4];
		out[SHA256_PREFIX_LEN + 2 * i + 1] = hex[md[i] & 0xf];
	}
	out[BR_DIGEST_LEN] = '\0';
}

void
br_sha256_final(br_sha256 *h, char out[BR_DIGEST_BUF])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	if (EVP_DigestFinal_ex(h->ctx, md, &n) != 1 || n != 32)
		openssl_failed("EVP_DigestFinal_ex");
	format_digest(md, out);
	if (EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL) != 1)
		openssl_failed("EVP_DigestInit_ex");
}

void
br_sha256_free(br_sha256 *h)
{
	if (h == NULL)
		return;
	EVP_MD_CTX_free(h->ctx);
	free(h);
}

void
br_digest_buf(const void *data, size_t len, char out[BR_DIGEST_BUF])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	if (EVP_Digest(data, len, md, &n, EVP_sha256(), NULL) != 1 || n != 32)
		openssl_failed("EVP_Digest");
	format_digest(md, out);
}

/* Hash fd's whole content with pread (the offset stays where it was). Errors: the read's
 * errno, mapped. Blocking: call it off the loop thread for large files. */
int
br_digest_fd(int fd, char out[BR_DIGEST_BUF], br_err *err)
{
	enum { CHUNK = 128 * 1024 };
	unsigned char *buf = xmalloc(CHUNK);
	br_sha256 *h = br_sha256_new();
	off_t off = 0;

	for (;;) {
		ssize_t n = pread(fd, buf, CHUNK, off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			int e = errno;
			free(buf);
			br_sha256_free(h);
			return br_err_errno(err, br_code_from_errno(e), e, "hash: read");
		}
		if (n == 0)
			break;
		br_sha256_update(h, buf, (size_t)n);
		off += n;
	}
	br_sha256_final(h, out);
	br_sha256_free(h);
	free(buf);
	return 0;
}
