/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What registry.c and registry_hosts.c share of a registry: its endpoints and their
 * authentication state. Internal to berth-imaged's registry client.
 */
#ifndef BR_IMAGED_REGISTRY_INT_H
#define BR_IMAGED_REGISTRY_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "common/proto/images.h"

#define IMAGED_MAX_ENDPOINTS 17 /* the mirrors (at most 16, config.c) and the host */

/* Where requests go: a mirror or the registry itself, with its settings and what it answered
 * to authentication (under the registry's lock). */
struct imaged_endpoint {
	char *url;   /* "https://mirror:5000/prefix/v2/library/busybox" */
	char *query; /* "?ns=docker.io" for a mirror (as containerd sends), "" for the host */
	unsigned capabilities;
	bool mirror;
	bool insecure, skip_verify;
	char *ca_file, *client_cert, *client_key;
	char *username, *password, *identity_token; /* for this endpoint's host only */

	char *token;           /* bearer token (lock) */
	int64_t token_expires; /* br_now_ms() when it expires (lock) */
	uint64_t auth_gen;     /* changes whenever the token or `basic` does (lock) */
	bool basic;            /* the endpoint asked for Basic: sent up front from then on */
};

struct imaged_registry {
	char *host;         /* the registry's: "registry-1.docker.io", "127.0.0.1:5000" */
	char *repo;         /* "library/busybox" */
	char *url;          /* the registry's "https://registry-1.docker.io/v2/library/busybox" */
	bool push;          /* tokens are asked for "pull,push" */
	int retry_attempts; /* imaged.retry_attempts */
	int64_t retry_max_delay_ms; /* imaged.retry_max_delay_ms */
	int64_t stall_ms;           /* imaged.job_stall_timeout_ms */
	pthread_mutex_t lock;
	struct imaged_endpoint eps[IMAGED_MAX_ENDPOINTS];
	size_t n_eps;
};

/*
 * The registry `domain` ("docker.io", as references write it) for repository `repo` ("" for
 * the registry's base, as a login asks it), with the configured mirrors that can do one of
 * `capabilities` when `mirrors`, then the registry itself. Any thread.
 */
struct imaged_registry *imaged_registry_make(const struct br_config *cfg, const char *domain,
                                             const char *repo, const struct br_registry_auth *auth,
                                             unsigned capabilities, bool mirrors);

/* Wipe and free a secret (NULL is fine). */
static inline void
imaged_free_secret(char *s)
{
	if (s != NULL)
		explicit_bzero(s, strlen(s));
	free(s);
}

#endif
