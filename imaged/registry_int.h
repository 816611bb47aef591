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

#include <curl/curl.h>

#include "common/config.h"
#include "common/err.h"
#include "common/proto/images.h"
#include "imaged/registry.h"

#define IMAGED_MAX_ENDPOINTS 17           /* the mirrors (at most 16, config.c) and the host */
#define IMAGED_POLL_MS 100                /* how often a waiting transfer checks for cancellation */
#define IMAGED_ERROR_BODY_MAX (16u << 10) /* bytes of an error response kept for its message */

/* A thread's connections (registry.h): a libcurl handle pair reused from one request to the
 * next. */
struct imaged_http {
	CURLM *multi;
	CURL *easy;
	int64_t idle_since; /* br_now_ms() when the thread's request last moved a byte */
};

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

/* ---- shared by the fetches (registry.c) and the upload requests (registry_request.c) ---- */

/* The Authorization header line for a request to `ep` (NULL: none yet), and the
 * authentication state it was made from. */
char *imaged_auth_line(struct imaged_registry *reg, struct imaged_endpoint *ep, uint64_t *ret_gen);

/* What one request did about 401s: at most one answer of its own, and at most once the
 * state another thread obtained meanwhile, so that a request is sent at most three times. */
struct imaged_auth_attempt {
	bool answered;
	bool followed;
};

/*
 * Answer a 401 (its WWW-Authenticate `header`, may be NULL) to a request sent with
 * authentication state `gen`: a token from the Bearer challenge, or Basic authentication from
 * now on. 0 to send the request again; -1 when there is nothing more to try (the error says
 * why).
 */
int imaged_auth_answer(struct imaged_registry *reg, struct imaged_endpoint *ep,
                       struct imaged_http *http, const char *header, uint64_t gen,
                       struct imaged_auth_attempt *at, const struct imaged_cancel *cancel,
                       br_err *err);

/* "<METHOD> <url>: 404 manifest unknown": the first message of the registry's error document
 * (`body`, may be NULL), else the reason phrase. Returns -1. */
int imaged_registry_error(const char *method, const char *url, long status, const char *reason,
                          const char *body, size_t len, br_err *err);

/* The value of a response header line `p` (`len` bytes, its name `name_len` bytes with the
 * colon), trimmed (heap; NULL when longer than HEADER_VALUE_MAX); whether line `p` is header
 * `name` ("content-type:", any case). */
char *imaged_header_value(const char *p, size_t len, size_t name_len);
bool imaged_header_is(const char *p, size_t len, const char *name);

/*
 * The header lines every registry response callback reads alike. Each returns whether line
 * `p` was its kind and, if so, took it in:
 *   - imaged_header_status: a status line ("HTTP/1.1 404 Not Found"), which starts a new
 *     response (the caller resets what it kept): its reason phrase into `reason`;
 *   - imaged_header_take: header `name` (with the colon), its value replacing *slot;
 *   - imaged_header_challenge: WWW-Authenticate, added to the list *slot (several headers
 *     are one list of challenges, joined by commas; IMAGED_CHALLENGE_HEADER_MAX in all).
 */
bool imaged_header_status(const char *p, size_t len, char *reason, size_t reason_size);
bool imaged_header_take(const char *p, size_t len, const char *name, char **slot);
bool imaged_header_challenge(const char *p, size_t len, char **slot);

/* The TLS settings of endpoint `ep` on handle `e`: its CA file in addition to the system's,
 * verification off only where configured, its client certificate. */
CURLcode imaged_set_tls(CURL *e, const struct imaged_endpoint *ep);

/* Wipe and free a secret (NULL is fine). */
static inline void
imaged_free_secret(char *s)
{
	if (s != NULL)
		explicit_bzero(s, strlen(s));
	free(s);
}

#endif
