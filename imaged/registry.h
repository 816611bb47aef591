/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The OCI distribution (Docker Registry HTTP API v2) client of berth-imaged, over libcurl.
 *
 * A `struct imaged_registry` describes one repository on one registry for the length of a job:
 * its base URL (https, or plain http only for hosts configured `insecure`), CA file and the
 * bearer token obtained through the anonymous token flow on a 401. It may be shared by the
 * job's threads; each thread makes its requests through its own `struct imaged_http`
 * (a libcurl handle pair whose connections are reused from one request to the next).
 *
 * Downloads are pulled by the caller (imaged_fetch_read), so that a layer can be unpacked at
 * the pace the unpacker reads it; libcurl is paused while the caller has not taken the last
 * chunk. Every error names the URL and what the registry said ("GET
 * http://127.0.0.1:5000/v2/test/sh/manifests/nope: 404 manifest unknown"): 404 is NOT_FOUND,
 * 401/403 PERMISSION_DENIED, 408/429/5xx and transport failures UNAVAILABLE.
 *
 * Those UNAVAILABLE failures are retried inside the request, imaged.retry_attempts times at
 * most, with exponential back-off and jitter (honouring Retry-After up to
 * imaged.retry_max_delay_ms); a body that breaks off is continued with a Range request from
 * the byte the reader is at, so readers never see a retry. A request that moves no byte for
 * imaged.job_stall_timeout_ms fails with DEADLINE_EXCEEDED.
 */
#ifndef BR_IMAGED_REGISTRY_H
#define BR_IMAGED_REGISTRY_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/config.h"
#include "common/digest.h"
#include "common/err.h"
#include "common/ref.h"
#include "common/cleanup.h"

/* Manifest media types a pull accepts, in the order of preference sent in Accept. */
#define IMAGED_MANIFEST_ACCEPT                                        \
	"application/vnd.oci.image.index.v1+json, "                   \
	"application/vnd.oci.image.manifest.v1+json, "                \
	"application/vnd.docker.distribution.manifest.list.v2+json, " \
	"application/vnd.docker.distribution.manifest.v2+json"

/* Up to two flags; a job is canceled when either is set (the job's own, and its unpacker's). */
struct imaged_cancel {
	const atomic_bool *flags[2];
};

static inline bool
imaged_canceled(const struct imaged_cancel *c)
{
	return c != NULL && ((c->flags[0] != NULL && atomic_load(c->flags[0])) ||
	                     (c->flags[1] != NULL && atomic_load(c->flags[1])));
}

struct imaged_registry;
struct imaged_http;
struct imaged_fetch;

/* Call once per process before any thread uses the client (curl_global_init). */
int imaged_http_global_init(br_err *err);
void imaged_http_global_cleanup(void);

/*
 * The repository of `ref` on its registry, with the settings `cfg` has for its host (may be
 * NULL: https, system CAs). docker.io is reached at registry-1.docker.io. The registry is the
 * caller's (imaged_registry_free); `cfg` must outlive it. Any thread.
 */
struct imaged_registry *imaged_registry_new(const struct br_config *cfg, const struct br_ref *ref);
void imaged_registry_free(struct imaged_registry *reg);
BR_DEFINE_CLEANUP(struct imaged_registry, imaged_registry_free)
/* "http://127.0.0.1:5000/v2/test/sh", for messages. */
const char *imaged_registry_url(const struct imaged_registry *reg);
/* Bytes of response bodies (manifests, blobs, tokens) received from registries since the
 * process started, error responses aside. Any thread. */
uint64_t imaged_registry_bytes_received(void);

/* A connection handle for one thread. Free with imaged_http_free (accepts NULL). */
struct imaged_http *imaged_http_new(void);
void imaged_http_free(struct imaged_http *http);
BR_DEFINE_CLEANUP(struct imaged_http, imaged_http_free)

/*
 * Start GET <repository>/<path> ("manifests/latest", "blobs/sha256:...") with `accept` (may
 * be NULL) and return once the final response's status is known (redirects followed, a 401
 * answered once with a bearer token). A body larger than `max_size` (-1: no limit) fails the
 * reads with RESOURCE_EXHAUSTED. Reads check `cancel` (may be NULL) and fail with CANCELED.
 * The fetch is the caller's (imaged_fetch_close). Thread of `http`.
 */
int imaged_fetch_open(struct imaged_registry *reg, struct imaged_http *http, const char *path,
                      const char *accept, int64_t max_size, const struct imaged_cancel *cancel,
                      struct imaged_fetch **ret, br_err *err);
/*
 * The same from byte `offset` of the body on (an HTTP Range request), to resume a download:
 * imaged_fetch_offset() tells where the body really starts, `offset` when the registry
 * answered 206 with that range, 0 when it sent the whole body (a registry may ignore Range).
 * A registry that cannot serve that range (416: the caller's part is longer than its blob,
 * or a 206 that starts elsewhere) is asked again for the whole body, so the caller starts
 * over instead of failing every retry the same way. `max_size` bounds the whole body, not
 * what is left of it: a whole body sent instead of the range may be up to `max_size` bytes.
 */
int imaged_fetch_open_at(struct imaged_registry *reg, struct imaged_http *http, const char *path,
                         const char *accept, int64_t max_size, int64_t offset,
                         const struct imaged_cancel *cancel, struct imaged_fetch **ret,
                         br_err *err);
int64_t imaged_fetch_offset(const struct imaged_fetch *f);

/* Longest URL taken from a descriptor's `urls`. */
#define IMAGED_URL_MAX 2048
/*
 * As imaged_fetch_open_at, for a URL outside the registry (a foreign layer's `urls`): http
 * or https only, at most IMAGED_URL_MAX bytes, without user:password@ (INVALID_ARGUMENT
 * otherwise); no credentials are sent with it.
 */
int imaged_fetch_open_url(struct imaged_registry *reg, struct imaged_http *http, const char *url,
                          int64_t max_size, int64_t offset, const struct imaged_cancel *cancel,
                          struct imaged_fetch **ret, br_err *err);
/* The next chunk of the body (valid until the next call), 0 at its end, -1 on error. */
ssize_t imaged_fetch_read(struct imaged_fetch *f, const void **ret_buf, br_err *err);
/* Response headers (NULL when absent) and the URL, for messages. */
const char *imaged_fetch_content_type(const struct imaged_fetch *f);
const char *imaged_fetch_docker_digest(const struct imaged_fetch *f);
const char *imaged_fetch_url(const struct imaged_fetch *f);
void imaged_fetch_close(struct imaged_fetch *f);

/*
 * GET a whole document of at most `max_size` bytes into a heap buffer (NUL-terminated, not
 * counted). If `digest` is given, the body must hash to it (FAILED_PRECONDITION otherwise);
 * `ret_content_type` (may be NULL) receives the Content-Type as a heap string or NULL.
 */
int imaged_registry_get(struct imaged_registry *reg, struct imaged_http *http, const char *path,
                        const char *accept, size_t max_size, const char *digest,
                        const struct imaged_cancel *cancel, char **ret, size_t *ret_len,
                        char **ret_content_type, br_err *err);

/*
 * Fetch the manifest (or index) that `reference` (a tag or a digest) names, at most
 * BR_OCI_MAX_DOC bytes. The body's digest is computed and checked against a digest
 * reference, and against the registry's Docker-Content-Digest header when it sends one.
 * *ret_media_type is the Content-Type (or NULL), a heap string.
 */
int imaged_registry_get_manifest(struct imaged_registry *reg, struct imaged_http *http,
                                 const char *reference, const struct imaged_cancel *cancel,
                                 char **ret, size_t *ret_len, char **ret_media_type,
                                 char ret_digest[BR_DIGEST_BUF], br_err *err);

#endif
