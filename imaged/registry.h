/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The OCI distribution (Docker Registry HTTP API v2) client of berth-imaged, over libcurl.
 *
 * A `struct imaged_registry` describes one repository on one registry for the length of a job:
 * its endpoints (the configured mirrors first, then the registry itself; https, or plain
 * http only where configured `insecure`), their TLS settings (CA file, client certificate,
 * skip_verify), the credentials (the call's, else the configuration's for that host) and
 * what the endpoints answered to them: a bearer token with its expiry, reused by every
 * request of the job, or Basic authentication sent up front once a registry asked for it. It
 * may be shared by the job's threads (the authentication state is under a lock); each thread
 * makes its requests through its own `struct imaged_http` (a libcurl handle pair whose
 * connections are reused from one request to the next).
 *
 * A request goes to the first endpoint whose capabilities allow it (a manifest by tag needs
 * "resolve", a manifest by digest or a blob "pull"); a mirror that is down (transport or TLS
 * failure, 5xx) or lacks the content (404) passes the request to the next endpoint, and the
 * error of the last one names what each endpoint before it answered. Credentials are sent
 * only to the host they belong to, and never appear in an error.
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
#include "common/proto/images.h"

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
 * caller's (imaged_registry_free); `cfg` must outlive it. Any thread. The same as
 * imaged_registry_open(cfg, ref, NULL, BR_REGISTRY_PULL | BR_REGISTRY_RESOLVE).
 */
struct imaged_registry *imaged_registry_new(const struct br_config *cfg, const struct br_ref *ref);
/*
 * The same with the call's credentials `auth` (may be NULL; copied; they take precedence
 * over the configuration's) and what the job will do: `capabilities` (BR_REGISTRY_*) choose
 * the mirrors that take part and the scope of bearer tokens ("pull", or "pull,push" when
 * BR_REGISTRY_PUSH is asked for).
 */
struct imaged_registry *imaged_registry_open(const struct br_config *cfg, const struct br_ref *ref,
                                             const struct br_registry_auth *auth,
                                             unsigned capabilities);
void imaged_registry_free(struct imaged_registry *reg);

/* A call's credentials kept for the length of a job (heap copies; secrets: never in a message,
 * wiped when freed). */
struct imaged_creds {
	char *username, *password, *identity_token;
};
/* Copy what `auth` gives (none when it gives nothing). */
void imaged_creds_set(struct imaged_creds *c, const struct br_registry_auth *auth);
/* The credentials as a request's auth (borrowed from `c`). */
struct br_registry_auth imaged_creds_auth(const struct imaged_creds *c);
void imaged_creds_fini(struct imaged_creds *c);
BR_DEFINE_CLEANUP(struct imaged_registry, imaged_registry_free)
/* "http://127.0.0.1:5000/v2/test/sh", for messages. */
const char *imaged_registry_url(const struct imaged_registry *reg);
/* Bytes of response bodies (manifests, blobs, tokens) received from registries since the
 * process started, error responses aside. Any thread. */
uint64_t imaged_registry_bytes_received(void);

/*
 * The endpoints that can do `capability` (one BR_REGISTRY_* bit), in the order they are
 * tried: mirrors first, the registry itself last. Up to `max` are written to `ret`; returns
 * how many there are. Borrowed from `reg`.
 */
struct imaged_endpoint;
size_t imaged_registry_endpoints(const struct imaged_registry *reg, unsigned capability,
                                 const struct imaged_endpoint **ret, size_t max);
/* "https://mirror:5000/v2/library/busybox", for messages. */
const char *imaged_endpoint_url(const struct imaged_endpoint *ep);
bool imaged_endpoint_is_mirror(const struct imaged_endpoint *ep);

/*
 * Check credentials with `host`'s registry (no mirror): GET /v2/, answering its Basic or
 * Bearer challenge with `auth` (may be NULL: the configuration's, if any). 0 when the
 * registry accepts them (or asks for none), PERMISSION_DENIED when it refuses them, other
 * codes when it cannot be reached. Any thread but the loop's (it blocks).
 */
int imaged_registry_login(const struct br_config *cfg, const char *host,
                          const struct br_registry_auth *auth, const struct imaged_cancel *cancel,
                          br_err *err);

/* ------------------------------------------------------------------ authentication parsers */

#define IMAGED_CHALLENGES_MAX 8
#define IMAGED_CHALLENGE_HEADER_MAX 8192     /* bytes of WWW-Authenticate headers, together */
#define IMAGED_TOKEN_RESPONSE_MAX (1u << 20) /* bytes of a token server's answer */
#define IMAGED_TOKEN_MIN_LIFETIME_S 60       /* a token without expires_in lives this long */

/* One challenge of a WWW-Authenticate header; the parameters Berth uses (NULL when absent). */
struct imaged_challenge {
	char scheme[16]; /* lower case: "bearer", "basic" */
	char *realm;
	char *service;
	char *scope;
	char *error;
};
/*
 * Parse `header` (the values of every WWW-Authenticate header of a response, joined by
 * ", "), which is at most IMAGED_CHALLENGE_HEADER_MAX bytes, into at most
 * IMAGED_CHALLENGES_MAX challenges; INVALID_ARGUMENT if it is malformed. Parameter values
 * that are too long or hold control characters are left out. Release with
 * imaged_challenges_fini. Any thread.
 */
int imaged_challenges_parse(const char *header, struct imaged_challenge ret[IMAGED_CHALLENGES_MAX],
                            size_t *ret_n, br_err *err);
void imaged_challenges_fini(struct imaged_challenge *c, size_t n);
/* The first challenge of `scheme` (lower case), or NULL. */
const struct imaged_challenge *imaged_challenge_find(const struct imaged_challenge *c, size_t n,
                                                     const char *scheme);
/*
 * A token server's answer: the token ("token", else "access_token"; printable, no spaces)
 * as a heap string, and its lifetime in seconds ("expires_in", IMAGED_TOKEN_MIN_LIFETIME_S
 * when absent or shorter, a day at most). PERMISSION_DENIED when it holds no usable token,
 * INVALID_ARGUMENT when it is not JSON.
 */
int imaged_token_parse(const char *body, size_t len, char **ret_token, int64_t *ret_expires_in,
                       br_err *err);

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

/* ------------------------------------------------------------------ requests (push)
 *
 * General requests for the upload side of the protocol: any method, a body streamed from the
 * caller, and the response headers an upload needs. Redirects are followed for HEAD only (a
 * body cannot be sent twice). A 401 with a Bearer challenge to a request without a body is answered
 * once with a token, as for fetches; one with a body fails with PERMISSION_DENIED (callers start an
 * upload with a POST, which gets the token first).
 */

/* The next chunk of a request body (valid until the next call), 0 at its end, -1 on error:
 * the shape of imaged_blob_read(). */
typedef ssize_t (*imaged_body_fn)(void *data, const void **ret_buf, br_err *err);

struct imaged_request {
	const char *method;        /* "HEAD", "POST", "PATCH", "PUT" */
	const char *path;          /* under the repository URL ("blobs/uploads/"), or NULL */
	const char *url;           /* or an absolute URL (a resolved Location) */
	const char *content_type;  /* NULL: none */
	const char *content_range; /* "0-1023" (a PATCH), NULL: none */
	int64_t body_len;          /* bytes `body` must give; 0: no body */
	imaged_body_fn body;
	void *body_data;
	bool not_found_ok; /* a 404 is an answer (HEAD of a blob), not an error */
};

/* What a request's response said; strings are heap copies, NULL when the header was absent
 * or longer than 4096 bytes. */
struct imaged_response {
	long status;
	char *location;         /* Location */
	char *range;            /* Range, an upload's progress: "0-1023" */
	char *upload_uuid;      /* Docker-Upload-UUID */
	char *docker_digest;    /* Docker-Content-Digest */
	int64_t content_length; /* -1 when absent */
};
void imaged_response_fini(struct imaged_response *r);

/*
 * Send `req` and wait for the whole response (checking `cancel`, may be NULL: CANCELED).
 * 0 with `ret` filled for a 2xx answer (and a 404 when req->not_found_ok); otherwise -1
 * with an error naming the method, URL and what the registry said ("PUT http://...: 400
 * manifest invalid"): 401/403 PERMISSION_DENIED, 404 NOT_FOUND, 400 INVALID_ARGUMENT,
 * 408/429/5xx and transport failures UNAVAILABLE; a body function's error as it is. `ret` is
 * written only on success; release it with imaged_response_fini. Thread of `http`.
 */
int imaged_registry_request(struct imaged_registry *reg, struct imaged_http *http,
                            const struct imaged_request *req, const struct imaged_cancel *cancel,
                            struct imaged_response *ret, br_err *err);

/* The repository's name on its registry ("test/sh"). */
const char *imaged_registry_repo(const struct imaged_registry *reg);
/* The registry's host as requests reach it ("127.0.0.1:5000", "registry-1.docker.io"). */
const char *imaged_registry_host(const struct imaged_registry *reg);

/*
 * The absolute URL of a Location header `location` sent by the registry at `origin`
 * ("http://127.0.0.1:5000"): a path ("/v2/x/blobs/uploads/<uuid>?_state=...") is taken on
 * the origin; an absolute URL must be https, or http when `insecure`. Anything else (a
 * relative path, control characters or spaces, more than 4096 bytes) is INVALID_ARGUMENT: the
 * header is untrusted. Pure.
 */
int imaged_location_resolve(const char *origin, bool insecure, const char *location, char **ret,
                            br_err *err);
/* The same against `reg`'s origin and settings. */
int imaged_registry_location(struct imaged_registry *reg, const char *location, char **ret,
                             br_err *err);

/*
 * The offset an upload goes on from, by its Range header ("0-1023", or "bytes=0-1023": the
 * registry holds bytes 0 to 1023, so 1024): the end + 1, at most `max`. A range that does not
 * start at 0, is not two decimal numbers, ends before it starts, or goes past `max - 1` is
 * INVALID_ARGUMENT. Pure.
 */
int imaged_upload_range_next(const char *range, int64_t max, int64_t *ret, br_err *err);

/*
 * Where a chunked upload goes on after a PATCH of bytes [offset, offset + len) was answered
 * with Range `range` (NULL: the registry took it all): the end of what the registry holds,
 * plus one. A registry may keep less than it was sent; the caller sends the rest again.
 * INVALID_ARGUMENT for a range imaged_upload_range_next() refuses; UNAVAILABLE when the
 * registry holds no more than it did before this PATCH (going on would never end). Pure.
 */
int imaged_upload_advance(int64_t offset, int64_t len, const char *range, int64_t *ret,
                          br_err *err);

/* `url` with query parameter `key`=`value` (escaped) appended, after "?" or "&". Pure. */
char *imaged_url_add_query(const char *url, const char *key, const char *value);

#endif
