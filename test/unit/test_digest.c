/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of common/digest.c: FIPS 180-2 test vectors one-shot, streamed in pieces and from
 * a file, state reset after final, and validation of good, malformed and other-algorithm
 * digest strings.
 */
#include <fcntl.h>

#include "common/cleanup.h"
#include "common/digest.h"
#include "common/random.h"
#include "common/xalloc.h"
#include "test/unit/t.h"

#define EMPTY "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define ABC "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
#define TWO_BLOCKS_IN "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"
#define TWO_BLOCKS "sha256:248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
#define MILLION_A "sha256:cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"

#define T_CONTAINS(s, sub)                                                                         \
	do {                                                                                       \
		const char *t_s_ = (s), *t_sub_ = (sub);                                           \
		if (t_s_ == NULL || strstr(t_s_, t_sub_) == NULL)                                  \
			T_FAIL_("\"%s\" does not contain \"%s\"", t_s_ ? t_s_ : "(null)", t_sub_); \
	} while (0)

static void
test_vectors(void)
{
	char out[BR_DIGEST_BUF];

	br_digest_buf("", 0, out);
	T_EQ_STR(out, EMPTY);
	br_digest_buf("abc", 3, out);
	T_EQ_STR(out, ABC);
	br_digest_buf(TWO_BLOCKS_IN, strlen(TWO_BLOCKS_IN), out);
	T_EQ_STR(out, TWO_BLOCKS);
	_cleanup_free_ char *a = xmalloc(1000000);
	memset(a, 'a', 1000000);
	br_digest_buf(a, 1000000, out);
	T_EQ_STR(out, MILLION_A);
	T_EQ_INT(strlen(out), BR_DIGEST_LEN);
}

static void
test_streaming(void)
{
	char out[BR_DIGEST_BUF];
	br_sha256 *h = br_sha256_new();

	/* A million 'a' in uneven pieces. */
	char chunk[7919];
	memset(chunk, 'a', sizeof(chunk));
	size_t left = 1000000;
	for (size_t piece = 1; left > 0; piece = piece * 3 % sizeof(chunk) + 1) {
		size_t n = piece < left ? piece : left;
		br_sha256_update(h, chunk, n);
		left -= n;
	}
	br_sha256_final(h, out);
	T_EQ_STR(out, MILLION_A);

	/* final resets: the same state hashes again from scratch. */
	const char *in = TWO_BLOCKS_IN;
	for (size_t i = 0; i < strlen(in); i++)
		br_sha256_update(h, in + i, 1);
	br_sha256_final(h, out);
	T_EQ_STR(out, TWO_BLOCKS);
	br_sha256_update(h, NULL, 0);
	br_sha256_final(h, out);
	T_EQ_STR(out, EMPTY);
	br_sha256_free(h);
	br_sha256_free(NULL);
}

static void
test_fd(void)
{
	char path[] = "/tmp/berth-test-digest-XXXXXX";
	int fd = mkostemp(path, O_CLOEXEC);
	T_OK(fd >= 0);
	unlink(path);
	_cleanup_free_ char *a = xmalloc(1000000);
	memset(a, 'a', 1000000);
	T_EQ_INT(write(fd, a, 1000000), 1000000);
	T_EQ_INT(lseek(fd, 17, SEEK_SET), 17);

	char out[BR_DIGEST_BUF];
	br_err err = BR_ERR_INIT;
	T_NOERR(br_digest_fd(fd, out, &err), err);
	T_EQ_STR(out, MILLION_A);
	T_EQ_INT(lseek(fd, 0, SEEK_CUR), 17);
	close(fd);

	T_ERR(br_digest_fd(fd, out, &err), err, BR_INTERNAL);
	T_CONTAINS(err.msg, "Bad file descriptor");
}

static void
bad(const char *digest, br_code code, const char *want)
{
	br_err err = BR_ERR_INIT;
	T_ERR(br_digest_validate(digest, &err), err, code);
	T_CONTAINS(err.msg, want);
	T_OK(!br_digest_valid(digest));
}

static void
test_validate(void)
{
	br_err err = BR_ERR_INIT;

	T_NOERR(br_digest_validate(ABC, &err), err);
	T_OK(br_digest_valid(ABC));
	T_EQ_STR(br_digest_hex(ABC), ABC + 7);

	bad(NULL, BR_INVALID_ARGUMENT, "digest: empty");
	bad("", BR_INVALID_ARGUMENT, "digest: empty");
	bad("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", BR_INVALID_ARGUMENT,
	    "not of the form <algorithm>:<hex>");
	bad("sha256:BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD",
	    BR_INVALID_ARGUMENT, "sha256 needs 64 lowercase hex characters");
	bad("sha256:ba7816bf", BR_INVALID_ARGUMENT, "sha256 needs 64 lowercase hex");
	bad(ABC "0", BR_INVALID_ARGUMENT, "sha256 needs 64 lowercase hex");
	bad("sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ag",
	    BR_INVALID_ARGUMENT, "sha256 needs");
	bad("sha256:", BR_INVALID_ARGUMENT, "sha256 needs");
	bad(":abc", BR_INVALID_ARGUMENT, "malformed");
	bad("SHA256:abc", BR_INVALID_ARGUMENT, "malformed");
	bad("sha512:", BR_INVALID_ARGUMENT, "malformed");
	bad("sha512:ab/cd", BR_INVALID_ARGUMENT, "malformed");
	bad("sha512:"
	    "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0f"
	    "f8318d2877eec2f63b931bd47417a81a538327af927da3e",
	    BR_NOT_IMPLEMENTED, "algorithm \"sha512\" is not supported (only sha256)");
	bad("multihash+base58:QmRZxt2b1FVZPNqd8hsiykDL3TdBDeTSPX9Kv46HmX4Gx8", BR_NOT_IMPLEMENTED,
	    "algorithm \"multihash+base58\" is not supported");

	/* Long junk is shown cut short. */
	char long_digest[400];
	memset(long_digest, 'x', sizeof(long_digest) - 1);
	long_digest[sizeof(long_digest) - 1] = '\0';
	T_ERR(br_digest_validate(long_digest, &err), err, BR_INVALID_ARGUMENT);
	T_OK(strlen(err.msg) < 200);
}

static void
test_random_hex(void)
{
	char a[2 * 100 + 1], b[2 * 100 + 1];

	memset(a, 'x', sizeof(a));
	br_random_hex(a, 100); /* more than one draw's worth */
	br_random_hex(b, 100);
	T_EQ_INT(strlen(a), 200);
	T_EQ_INT(strspn(a, "0123456789abcdef"), 200);
	T_OK(strcmp(a, b) != 0);
	br_random_hex(a, 0);
	T_EQ_STR(a, "");
}

T_MAIN(T_CASE(test_vectors), T_CASE(test_streaming), T_CASE(test_fd), T_CASE(test_validate),
       T_CASE(test_random_hex))
