/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of common/ref.c: a table of references and the normalized forms docker and
 * containerd give them, and a table of malformed references with the error each one gets.
 */
#include "common/cleanup.h"
#include "common/ref.h"
#include "common/xalloc.h"
#include "test/unit/t.h"

#define T_CONTAINS(s, sub)                                                                         \
	do {                                                                                       \
		const char *t_s_ = (s), *t_sub_ = (sub);                                           \
		if (t_s_ == NULL || strstr(t_s_, t_sub_) == NULL)                                  \
			T_FAIL_("\"%s\" does not contain \"%s\"", t_s_ ? t_s_ : "(null)", t_sub_); \
	} while (0)

#define DG "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"

struct good {
	const char *in;
	const char *domain, *path, *tag, *digest;
	const char *normalized;
};

static const struct good goods[] = {
        {"busybox", "docker.io", "library/busybox", "latest", "",
         "docker.io/library/busybox:latest"},
        {"busybox:1.36", "docker.io", "library/busybox", "1.36", "",
         "docker.io/library/busybox:1.36"},
        {"library/busybox", "docker.io", "library/busybox", "latest", "",
         "docker.io/library/busybox:latest"},
        {"docker.io/busybox", "docker.io", "library/busybox", "latest", "",
         "docker.io/library/busybox:latest"},
        {"index.docker.io/library/busybox:musl", "docker.io", "library/busybox", "musl", "",
         "docker.io/library/busybox:musl"},
        {"user/repo", "docker.io", "user/repo", "latest", "", "docker.io/user/repo:latest"},
        {"a", "docker.io", "library/a", "latest", "", "docker.io/library/a:latest"},
        {"127.0.0.1:5000/test/sh:v1", "127.0.0.1:5000", "test/sh", "v1", "",
         "127.0.0.1:5000/test/sh:v1"},
        {"localhost/x@" DG, "localhost", "x", NULL, DG, "localhost/x@" DG},
        {"localhost:5000/a/b/c:tag@" DG, "localhost:5000", "a/b/c", "tag", DG,
         "localhost:5000/a/b/c:tag@" DG},
        {"busybox@" DG, "docker.io", "library/busybox", NULL, DG, "docker.io/library/busybox@" DG},
        {"localhost:5000", "docker.io", "library/localhost", "5000", "",
         "docker.io/library/localhost:5000"},
        {"quay.io/coreos/etcd:v3.5.0", "quay.io", "coreos/etcd", "v3.5.0", "",
         "quay.io/coreos/etcd:v3.5.0"},
        {"ghcr.io/a_b/c__d/e-f/g--h/i.j:T_a.g-1", "ghcr.io", "a_b/c__d/e-f/g--h/i.j", "T_a.g-1", "",
         "ghcr.io/a_b/c__d/e-f/g--h/i.j:T_a.g-1"},
        {"[::1]:5000/x:y", "[::1]:5000", "x", "y", "", "[::1]:5000/x:y"},
        {"[fe80::1]/x", "[fe80::1]", "x", "latest", "", "[fe80::1]/x:latest"},
        {"Example.COM/foo", "Example.COM", "foo", "latest", "", "Example.COM/foo:latest"},
        {"Registry/foo", "Registry", "foo", "latest", "", "Registry/foo:latest"},
        {"localhost/foo", "localhost", "foo", "latest", "", "localhost/foo:latest"},
        {"gcr.io/distroless/static-debian12:nonroot", "gcr.io", "distroless/static-debian12",
         "nonroot", "", "gcr.io/distroless/static-debian12:nonroot"},
        {"registry.example.com:443/team/app:1.0.0-rc.1", "registry.example.com:443", "team/app",
         "1.0.0-rc.1", "", "registry.example.com:443/team/app:1.0.0-rc.1"},
        {"docker.io", "docker.io", "library/docker.io", "latest", "",
         "docker.io/library/docker.io:latest"},
        {"x:_", "docker.io", "library/x", "_", "", "docker.io/library/x:_"},
};

struct bad {
	const char *in;
	br_code code;
	const char *msg; /* a substring of the error */
};

static const struct bad bads[] = {
        {"", BR_INVALID_ARGUMENT, "reference: empty"},
        {"Foo", BR_INVALID_ARGUMENT, "reference \"Foo\": repository name must be lowercase"},
        {"foo/Bar", BR_INVALID_ARGUMENT,
         "reference \"foo/Bar\": repository name must be lowercase"},
        {"quay.io/Foo:v1", BR_INVALID_ARGUMENT, "repository name must be lowercase"},
        {"busybox:", BR_INVALID_ARGUMENT, "reference \"busybox:\": invalid tag \"\""},
        {"busybox:-x", BR_INVALID_ARGUMENT, "invalid tag \"-x\""},
        {"busybox:.x", BR_INVALID_ARGUMENT, "invalid tag \".x\""},
        {"busybox:a+b", BR_INVALID_ARGUMENT, "invalid tag \"a+b\""},
        {"busybox:a/b", BR_INVALID_ARGUMENT, "invalid domain \"busybox:a\""},
        {"a//b", BR_INVALID_ARGUMENT, "empty path component"},
        {"a/b/", BR_INVALID_ARGUMENT, "empty path component"},
        {"localhost/", BR_INVALID_ARGUMENT, "empty path component"},
        {"-foo", BR_INVALID_ARGUMENT, "invalid repository name"},
        {"foo_", BR_INVALID_ARGUMENT, "invalid repository name"},
        {"foo..bar", BR_INVALID_ARGUMENT, "invalid repository name"},
        {"foo___bar", BR_INVALID_ARGUMENT, "invalid repository name"},
        {"foo.-bar", BR_INVALID_ARGUMENT, "invalid repository name"},
        {"x@sha256:abc", BR_INVALID_ARGUMENT,
         "reference \"x@sha256:abc\": digest \"sha256:abc\": sha256 needs 64"},
        {"x@", BR_INVALID_ARGUMENT, "digest: empty"},
        {"x@" DG "@" DG, BR_INVALID_ARGUMENT, "digest"},
        {"x@sha512:"
         "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0f"
         "f8318d2877eec2f63b931bd47417a81a538327af927da3e",
         BR_NOT_IMPLEMENTED, "algorithm \"sha512\" is not supported"},
        {"a b", BR_INVALID_ARGUMENT, "contains a space, a control character"},
        {"busybox\n", BR_INVALID_ARGUMENT, "contains a space, a control character"},
        {"caf\xc3\xa9", BR_INVALID_ARGUMENT, "non-ASCII"},
        {"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", BR_INVALID_ARGUMENT,
         "a 64-character hex string is an ID"},
        {"localhost:99999999/x", BR_INVALID_ARGUMENT, "invalid domain \"localhost:99999999\""},
        {"localhost:/x", BR_INVALID_ARGUMENT, "invalid domain"},
        {"exa_mple.com/x", BR_INVALID_ARGUMENT, "invalid domain \"exa_mple.com\""},
        {"-a.com/x", BR_INVALID_ARGUMENT, "invalid domain"},
        {"a..com/x", BR_INVALID_ARGUMENT, "invalid domain"},
        {"[::1/x", BR_INVALID_ARGUMENT, "invalid domain"},
        {"[]:5000/x", BR_INVALID_ARGUMENT, "invalid domain"},
        {":tag", BR_INVALID_ARGUMENT, "missing repository name"},
        {"@" DG, BR_INVALID_ARGUMENT, "missing repository name"},
        {"/x", BR_INVALID_ARGUMENT, "empty path component"},
};

static void
test_good(void)
{
	for (size_t i = 0; i < sizeof(goods) / sizeof(goods[0]); i++) {
		const struct good *g = &goods[i];
		struct br_ref *ref = NULL;
		br_err err = BR_ERR_INIT;
		if (br_ref_parse(g->in, &ref, &err) < 0)
			T_FAIL_("\"%s\": %s", g->in, err.msg);
		T_EQ_STR(ref->domain, g->domain);
		T_EQ_STR(ref->path, g->path);
		if (g->tag == NULL)
			T_NULL(ref->tag);
		else
			T_EQ_STR(ref->tag, g->tag);
		T_EQ_STR(ref->digest, g->digest);
		_cleanup_free_ char *s = br_ref_string(ref);
		_cleanup_free_ char *name = br_ref_name(ref);
		_cleanup_free_ char *want_name = xasprintf("%s/%s", g->domain, g->path);
		T_EQ_STR(s, g->normalized);
		T_EQ_STR(name, want_name);
		br_ref_free(ref);

		/* Normalizing is idempotent. */
		ref = NULL;
		T_NOERR(br_ref_parse(s, &ref, &err), err);
		_cleanup_free_ char *again = br_ref_string(ref);
		T_EQ_STR(again, s);
		br_ref_free(ref);
	}
	br_ref_free(NULL);
}

static void
test_bad(void)
{
	for (size_t i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
		const struct bad *b = &bads[i];
		struct br_ref *ref = NULL;
		br_err err = BR_ERR_INIT;
		if (br_ref_parse(b->in, &ref, &err) >= 0)
			T_FAIL_("\"%s\" was accepted", b->in);
		T_NULL(ref);
		if (err.code != b->code)
			T_FAIL_("\"%s\": %s (%s), expected %s", b->in, br_code_name(err.code),
			        err.msg, br_code_name(b->code));
		T_CONTAINS(err.msg, b->msg);
	}
	struct br_ref *ref = NULL;
	br_err err = BR_ERR_INIT;
	T_ERR(br_ref_parse(NULL, &ref, &err), err, BR_INVALID_ARGUMENT);
}

static void
test_limits(void)
{
	struct br_ref *ref = NULL;
	br_err err = BR_ERR_INIT;

	/* A tag of 128 characters is fine, 129 is not. */
	char tag[140];
	memset(tag, 'a', sizeof(tag));
	tag[128] = '\0';
	_cleanup_free_ char *ok = xasprintf("x:%s", tag);
	T_NOERR(br_ref_parse(ok, &ref, &err), err);
	br_ref_free(ref);
	tag[128] = 'a';
	tag[129] = '\0';
	_cleanup_free_ char *long_tag = xasprintf("x:%s", tag);
	ref = NULL;
	T_ERR(br_ref_parse(long_tag, &ref, &err), err, BR_INVALID_ARGUMENT);
	T_CONTAINS(err.msg, "invalid tag");

	/* The normalized name may have 255 characters, not 256. */
	char path[300];
	size_t n = 255 - strlen("docker.io/");
	memset(path, 'b', n);
	path[1] = '/';
	path[n] = '\0';
	ref = NULL;
	T_NOERR(br_ref_parse(path, &ref, &err), err);
	_cleanup_free_ char *name = br_ref_name(ref);
	T_EQ_INT(strlen(name), 255);
	br_ref_free(ref);
	path[n] = 'b';
	path[n + 1] = '\0';
	ref = NULL;
	T_ERR(br_ref_parse(path, &ref, &err), err, BR_INVALID_ARGUMENT);
	T_CONTAINS(err.msg, "repository name is longer than 255 characters");

	char huge[BR_REF_MAX + 2];
	memset(huge, 'c', sizeof(huge));
	huge[BR_REF_MAX + 1] = '\0';
	T_ERR(br_ref_parse(huge, &ref, &err), err, BR_INVALID_ARGUMENT);
	T_CONTAINS(err.msg, "longer than 512 characters");
	T_OK(strlen(err.msg) < 200);
}

/* A message about a long input quotes its start and length, so that the reason still fits: a
 * 5,000-character reference, a 500-character one with a bad tag, and the same once a caller
 * wrapped it in "pull <reference>" as the CLI does. */
static void
test_long_input(void)
{
	struct br_ref *ref = NULL;
	br_err err = BR_ERR_INIT;
	char *huge = xmalloc(5001);
	memset(huge, 'c', 5000);
	huge[5000] = '\0';

	T_ERR(br_ref_parse(huge, &ref, &err), err, BR_INVALID_ARGUMENT);
	T_CONTAINS(err.msg, "...(5000 characters)\": longer than 512 characters");
	T_OK(strlen(err.msg) < 200);
	br_err_wrap(&err, "pull %s", BR_ERR_QUOTE(huge));
	const char *reason = "longer than 512 characters";
	T_OK(strlen(err.msg) > strlen(reason));
	T_EQ_STR(err.msg + strlen(err.msg) - strlen(reason), reason);

	memcpy(huge + 490, ":-bad", 6);
	T_ERR(br_ref_parse(huge, &ref, &err), err, BR_INVALID_ARGUMENT);
	T_CONTAINS(err.msg, "...(495 characters)\": invalid tag \"-bad\" (letters");
	T_OK(strlen(err.msg) < BR_ERR_MSG_MAX - 1);
	free(huge);

	/* Short strings are quoted whole; a cut never splits a UTF-8 character. */
	char buf[BR_ERR_QUOTE_BUF];
	T_EQ_STR(br_err_quote(buf, "busybox"), "busybox");
	T_EQ_STR(br_err_quote(buf, NULL), "(null)");
	char utf8[80];
	memset(utf8, 'a', 63);
	memcpy(utf8 + 63, "\xc3\xa9\xc3\xa9", 5); /* "éé" across the 64-byte cut */
	T_EQ_STR(br_err_quote(buf, utf8), "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	                                  "aaaaaaa...(65 characters)");
}

static void
test_domain_valid(void)
{
	const char *good[] = {"docker.io",  "127.0.0.1:5000",      "localhost", "[::1]",
	                      "[::1]:5000", "a-b.example.com:443", "Registry"};
	const char *bad[] = {"",       "a_b.com",      "-a.com",  "a-.com", "a..com", ".a.com",
	                     "a.com:", "a.com:123456", "a.com:x", "[::1",   "[]",     "[::g]",
	                     "[::1]x", "https://a",    "a.com/x", NULL};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		if (!br_ref_domain_valid(good[i]))
			T_FAIL_("\"%s\" refused", good[i]);
	for (size_t i = 0; bad[i] != NULL; i++)
		if (br_ref_domain_valid(bad[i]))
			T_FAIL_("\"%s\" accepted", bad[i]);
	T_OK(!br_ref_domain_valid(NULL));
}

T_MAIN(T_CASE(test_good), T_CASE(test_bad), T_CASE(test_limits), T_CASE(test_long_input),
       T_CASE(test_domain_valid))
