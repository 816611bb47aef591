/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Image references, parsed and normalized as the Docker/containerd tools do:
 *
 *   busybox                      -> docker.io/library/busybox:latest
 *   127.0.0.1:5000/test/sh:v1    -> domain 127.0.0.1:5000, path test/sh, tag v1
 *   localhost/x@sha256:...       -> domain localhost, path x, digest
 *
 * The first component is a domain if it contains '.' or ':' or is "localhost". Path components
 * are [a-z0-9]+ joined by '.', '_', '__' or '-'+; tags are [\w][\w.-]{0,127}; the whole name
 * is at most 255 characters. References come from users and archives: a fuzz target.
 */
#ifndef BR_COMMON_REF_H
#define BR_COMMON_REF_H

#include <stdbool.h>

#include "common/digest.h"
#include "common/err.h"
#include "common/cleanup.h"

#define BR_REF_MAX 512

struct br_ref {
	char *domain; /* "docker.io" */
	char *path;   /* "library/busybox" */
	char *tag;    /* "latest" when neither tag nor digest was given; NULL if digest only */
	char digest[BR_DIGEST_BUF]; /* "" when absent */
};

int br_ref_parse(const char *s, struct br_ref **ret, br_err *err);
void br_ref_free(struct br_ref *ref);
BR_DEFINE_CLEANUP(struct br_ref, br_ref_free)

/* The normalized name: "docker.io/library/busybox:latest", "x/y@sha256:...",
 * "x/y:tag@sha256:..." when both. Heap string. */
char *br_ref_string(const struct br_ref *ref);
/* "domain/path" without tag or digest. Heap string. */
char *br_ref_name(const struct br_ref *ref);

/* True if `s` is a registry domain as references and the config name them: "host[:port]",
 * host being a DNS name, an IPv4 address or a bracketed IPv6 address ("[::1]:5000"). */
bool br_ref_domain_valid(const char *s);

#endif
