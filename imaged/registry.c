/* SPDX-License-Identifier: Apache-2.0 */
/*
 * OCI distribution client (registry.h) over libcurl's multi interface, one transfer at a time
 * per `struct imaged_http`. A fetch is driven by its reader: imaged_fetch_read() runs
 * curl_multi_perform/poll until the write callback has delivered a chunk, and the callback
 * pauses the transfer (CURL_WRITEFUNC_PAUSE) while the previous chunk has not been taken, so
 * at most one buffer per download is held in memory.
 *
 * Plain-http registries speak HTTP/1.1 (curl 7.88 breaks h2c on reused connections); https
 * ones negotiate with ALPN. Redirects (blob storage) are followed; from an https registry only
 * to https. curl does not send the Authorization header to another host after a redirect.
 * Content encodings are never requested, so the bytes hashed are the bytes stored.
 *
 * A request goes to the registry's endpoints (registry_hosts.c) in order, to the next one when
 * a mirror is down or lacks the content (imaged_fetch_open_at). On each endpoint a 401 is
 * answered once (answer_challenge): Basic from then on, or a bearer token from the realm,
 * kept under the registry's lock with its expiry for every request of the job.
 *
 * Requests that fail in a way that may pass (a connection error, 408, 429, 5xx) are made
 * again after a back-off, and a body that breaks off is continued from the byte it broke at
 * (Range), inside the fetch, so that its reader sees one unbroken body. A request that moves
 * no byte for the stall timeout fails (DEADLINE_EXCEEDED). Mirrors are not waited for: one
 * that fails goes to the next endpoint at once; the registry itself gets the retries.
 */
#include "imaged/registry.h"
#include "imaged/registry_int.h"
#include "imaged/retry.h"

#include <pthread.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "common/base64.h"
#include "common/cleanup.h"
#include "common/json.h"
#include "common/log.h"
#include "common/loop.h"
#include "common/oci.h"
#include "common/xalloc.h"

#define FETCH_BUFFER (1u << 20) /* bytes held per download before curl is paused */
#define HEADER_VALUE_MAX 4096   /* longer header values are ignored */
#define TOKEN_MAX IMAGED_TOKEN_RESPONSE_MAX
#define TRIED_MAX 2048 /* bytes of the "tried before" part of an error */

struct imaged_fetch {
	struct imaged_registry *reg;
	const struct imaged_endpoint *ep; /* its TLS settings */
	struct imaged_endpoint *auth_ep;  /* whose authentication it carries, NULL: none */
	struct imaged_http *http;
	char *url;
	char *post; /* a form POSTed (a token request), else NULL: GET */
	char *accept;
	struct curl_slist *headers;
	const struct imaged_cancel *cancel;
	int64_t max_size, received;
	unsigned char *buf;
	size_t len, cap;
	bool handed_out; /* buf was returned by the last read */
	bool paused, done, too_large, status_known, is_error, attached;
	CURLcode result;
	long status;
	char reason[96];
	char *content_type, *docker_digest, *www_authenticate;
	uint64_t auth_gen;      /* the endpoint's authentication state the request was sent with */
	int64_t range_start;    /* asked for the body from this byte on (0: the whole body) */
	int64_t content_range;  /* start of a 206 response's Content-Range, -1 when absent */
	int64_t body_start;     /* the byte of the whole body the reader's view starts at */
	int64_t response_start; /* the byte of the whole body this response starts at */
	int64_t response_pos;   /* the byte of the whole body after what this response gave */
	size_t off;             /* bytes at the start of buf skipped (already read before) */
	int failures;           /* attempts in a row that failed (reset by progress) */
	bool gave_bytes;        /* the body moved since the last failure */
	bool retry;             /* failures may be retried (not on a mirror: the next one is) */
	char *retry_after;      /* the Retry-After header */
	char *error_body;
	size_t error_len;
	char errbuf[CURL_ERROR_SIZE];
};

/* ------------------------------------------------------------------ setup */

int
imaged_http_global_init(br_err *err)
{
	CURLcode c = curl_global_init(CURL_GLOBAL_DEFAULT);

	if (c != CURLE_OK)
		return br_err_set(err, BR_INTERNAL, "initialize libcurl: %s",
		                  curl_easy_strerror(c));
	return 0;
}

void
imaged_http_global_cleanup(void)
{
	curl_global_cleanup();
}

struct imaged_http *
imaged_http_new(void)
{
	struct imaged_http *http = xnew(struct imaged_http);

	http->multi = curl_multi_init();
	http->easy = curl_easy_init();
	http->idle_since = br_now_ms();
	if (http->multi == NULL || http->easy == NULL)
		abort(); /* out of memory */
	return http;
}

void
imaged_http_free(struct imaged_http *http)
{
	if (http == NULL)
		return;
	curl_easy_cleanup(http->easy);
	curl_multi_cleanup(http->multi);
	free(http);
}

/* ------------------------------------------------------------------ callbacks */

char *
imaged_header_value(const char *p, size_t len, size_t name_len)
{
	const char *v = p + name_len, *end = p + len;

	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
		end--;
	if ((size_t)(end - v) > HEADER_VALUE_MAX)
		return NULL;
	return xstrndup(v, (size_t)(end - v));
}

bool
imaged_header_is(const char *p, size_t len, const char *name)
{
	size_t n = strlen(name);

	return len > n && strncasecmp(p, name, n) == 0;
}

bool
imaged_header_status(const char *p, size_t len, char *reason, size_t reason_size)
{
	if (len < 5 || strncmp(p, "HTTP/", 5) != 0)
		return false;
	/* "HTTP/1.1 404 Not Found\r\n": the reason phrase is what follows the second space. */
	const char *sp = memchr(p, ' ', len);
	const char *sp2 = sp ? memchr(sp + 1, ' ', len - (size_t)(sp + 1 - p)) : NULL;
	reason[0] = '\0';
	if (sp2 != NULL) {
		_cleanup_free_ char *r = imaged_header_value(sp2, len - (size_t)(sp2 - p), 1);
		if (r != NULL)
			snprintf(reason, reason_size, "%s", r);
	}
	return true;
}

bool
imaged_header_take(const char *p, size_t len, const char *name, char **slot)
{
	if (!imaged_header_is(p, len, name))
		return false;
	free(*slot);
	*slot = imaged_header_value(p, len, strlen(name));
	return true;
}

bool
imaged_header_challenge(const char *p, size_t len, char **slot)
{
	if (!imaged_header_is(p, len, "www-authenticate:"))
		return false;
	_cleanup_free_ char *v = imaged_header_value(p, len, strlen("www-authenticate:"));
	size_t have = *slot != NULL ? strlen(*slot) : 0;
	if (v != NULL && have + strlen(v) + 2 <= IMAGED_CHALLENGE_HEADER_MAX) {
		char *joined = xasprintf("%s%s%s", have ? *slot : "", have ? ", " : "", v);
		free(*slot);
		*slot = joined;
	}
	return true;
}

static void
reset_headers(struct imaged_fetch *f)
{
	free(f->content_type);
	free(f->docker_digest);
	free(f->www_authenticate);
	free(f->retry_after);
	f->content_type = f->docker_digest = f->www_authenticate = f->retry_after = NULL;
	f->content_range = -1;
	f->reason[0] = '\0';
}

/* "bytes 100-199/1000" -> 100; -1 when it is not of that form. */
static int64_t
content_range_start(const char *v)
{
	char *end = NULL;

	if (v == NULL || strncasecmp(v, "bytes ", 6) != 0)
		return -1;
	errno = 0;
	long long n = strtoll(v + 6, &end, 10);
	if (errno != 0 || end == v + 6 || *end != '-' || n < 0)
		return -1;
	return n;
}

/* Header lines of every response in a redirect chain; a status line starts a new one. */
static size_t
header_cb(char *p, size_t size, size_t n, void *data)
{
	struct imaged_fetch *f = data;
	size_t len = size * n;

	f->http->idle_since = br_now_ms();
	if (len >= 5 && strncmp(p, "HTTP/", 5) == 0) {
		reset_headers(f);
		imaged_header_status(p, len, f->reason, sizeof(f->reason));
	} else if (imaged_header_take(p, len, "content-type:", &f->content_type) ||
	           imaged_header_take(p, len, "docker-content-digest:", &f->docker_digest) ||
	           imaged_header_challenge(p, len, &f->www_authenticate) ||
	           imaged_header_take(p, len, "retry-after:", &f->retry_after)) {
		/* taken */
	} else if (imaged_header_is(p, len, "content-range:")) {
		char *v = imaged_header_value(p, len, strlen("content-range:"));
		f->content_range = content_range_start(v);
		free(v);
	}
	return len;
}

/*
 * The final response's status, once its first body byte arrived or it ended. Only a 206 whose
 * Content-Range starts at the byte asked for is the rest of the body; from then on the bytes
 * it skipped count against the size limit, which is on the whole body: a 200 to a Range
 * request (the whole body, which the caller starts over with) must fit the same limit. The
 * first response of a fetch sets where the reader's view starts; a response that continues a
 * broken body only says where its bytes are (imaged_fetch_read skips what was read).
 */
static void
learn_status(struct imaged_fetch *f)
{
	curl_easy_getinfo(f->http->easy, CURLINFO_RESPONSE_CODE, &f->status);
	f->status_known = true;
	f->is_error = f->status < 200 || f->status >= 300;
	f->response_pos = 0;
	if (f->range_start > 0 && f->status == 206 && f->content_range == f->range_start)
		f->response_pos = f->range_start;
	f->response_start = f->response_pos;
	if (f->failures == 0 && f->received == 0)
		f->body_start = f->response_pos;
}

/* Body bytes received from registries by every job of the process (for metrics). */
static _Atomic uint64_t bytes_received;

static size_t
write_cb(char *p, size_t size, size_t n, void *data)
{
	struct imaged_fetch *f = data;
	size_t len = size * n;

	if (!f->status_known)
		learn_status(f);
	if (f->is_error) {
		size_t keep = IMAGED_ERROR_BODY_MAX - f->error_len;
		if (keep > len)
			keep = len;
		if (keep > 0) {
			f->error_body = xrealloc(f->error_body, f->error_len + keep + 1);
			memcpy(f->error_body + f->error_len, p, keep);
			f->error_len += keep;
			f->error_body[f->error_len] = '\0';
		}
		return len;
	}
	if (f->max_size >= 0 && f->response_pos + (int64_t)len > f->max_size) {
		f->too_large = true;
		return 0; /* CURLE_WRITE_ERROR */
	}
	if (f->len + len > f->cap) {
		if (f->len > 0) {
			f->paused = true;
			return CURL_WRITEFUNC_PAUSE; /* curl delivers this data again later */
		}
		f->cap = len;
		f->buf = xrealloc(f->buf, f->cap);
	}
	memcpy(f->buf + f->len, p, len);
	f->len += len;
	f->response_pos += (int64_t)len;
	f->http->idle_since = br_now_ms();
	atomic_fetch_add_explicit(&bytes_received, len, memory_order_relaxed);
	return len;
}

/* ------------------------------------------------------------------ transfers */

static void
fetch_free(struct imaged_fetch *f)
{
	if (f == NULL)
		return;
	if (f->attached)
		curl_multi_remove_handle(f->http->multi, f->http->easy);
	curl_slist_free_all(f->headers);
	reset_headers(f);
	free(f->url);
	free(f->accept);
	if (f->post != NULL)
		explicit_bzero(f->post, strlen(f->post));
	free(f->post);
	free(f->buf);
	free(f->error_body);
	free(f);
}

static int
curl_setup_error(struct imaged_fetch *f, CURLcode c, br_err *err)
{
	return br_err_set(err, BR_INTERNAL, "GET %s: %s", f->url, curl_easy_strerror(c));
}

CURLcode
imaged_set_tls(CURL *e, const struct imaged_endpoint *ep)
{
	CURLcode c = CURLE_OK;

#define SET(opt, val)                                      \
	do {                                               \
		if (c == CURLE_OK)                         \
			c = curl_easy_setopt(e, opt, val); \
	} while (0)
	if (ep->ca_file != NULL) {
		SET(CURLOPT_CAINFO, ep->ca_file);
		SET(CURLOPT_CAPATH, "/etc/ssl/certs");
	}
	if (ep->skip_verify) {
		SET(CURLOPT_SSL_VERIFYPEER, 0L);
		SET(CURLOPT_SSL_VERIFYHOST, 0L);
	}
	if (ep->client_cert != NULL) {
		SET(CURLOPT_SSLCERT, ep->client_cert);
		SET(CURLOPT_SSLKEY, ep->client_key);
	}
#undef SET
	return c;
}

/* f's request headers: Accept (f->accept) and `authorization` (a whole header line, or
 * NULL), in place of any it had. */
static void
fetch_headers(struct imaged_fetch *f, const char *authorization)
{
	curl_slist_free_all(f->headers);
	f->headers = NULL;
	if (f->accept != NULL) {
		_cleanup_free_ char *h = xasprintf("Accept: %s", f->accept);
		f->headers = curl_slist_append(f->headers, h);
	}
	if (authorization != NULL)
		f->headers = curl_slist_append(f->headers, authorization);
}

/*
 * Start a request to `url` of endpoint `ep`: GET, or POST of the form `post` (may be NULL).
 * `authorization` (may be NULL) is the whole "Authorization: ..." header line.
 */
static int transfer_begin(struct imaged_fetch *f, br_err *err);

static int
fetch_start(struct imaged_registry *reg, const struct imaged_endpoint *ep, struct imaged_http *http,
            const char *url, const char *accept, const char *authorization, const char *post,
            int64_t max_size, int64_t range_start, const struct imaged_cancel *cancel,
            struct imaged_fetch **ret, br_err *err)
{
	struct imaged_fetch *f = xnew(struct imaged_fetch);

	f->range_start = range_start;
	f->content_range = -1;
	f->reg = reg;
	f->ep = ep;
	f->http = http;
	f->url = xstrdup(url);
	f->post = post ? xstrdup(post) : NULL;
	f->max_size = max_size;
	f->cancel = cancel;
	f->cap = FETCH_BUFFER;
	f->buf = xmalloc(f->cap);
	f->accept = accept ? xstrdup(accept) : NULL;
	fetch_headers(f, authorization);
	if (transfer_begin(f, err) < 0) {
		fetch_free(f);
		return -1;
	}
	*ret = f;
	return 0;
}

/* Set up the handle for f's request (from f->range_start on) and start it. */
static int
transfer_begin(struct imaged_fetch *f, br_err *err)
{
	const struct imaged_endpoint *ep = f->ep;
	CURL *e = f->http->easy;
	bool plain = strncmp(f->url, "http://", 7) == 0;
	CURLcode c = CURLE_OK;
	char range[32];
	/* curl's own low-speed abort backs up the stall check of pump(), a little later. */
	long low_speed_s = (long)(f->reg->stall_ms / 1000) + 2;

	snprintf(range, sizeof(range), "%lld-", (long long)f->range_start);
	curl_easy_reset(e);
#define SET(opt, val)                                      \
	do {                                               \
		if (c == CURLE_OK)                         \
			c = curl_easy_setopt(e, opt, val); \
	} while (0)
	SET(CURLOPT_URL, f->url);
	if (f->post != NULL)
		SET(CURLOPT_COPYPOSTFIELDS, f->post);
	else
		SET(CURLOPT_HTTPGET, 1L);
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_PROTOCOLS_STR, "http,https");
	SET(CURLOPT_FOLLOWLOCATION, 1L);
	SET(CURLOPT_MAXREDIRS, 10L);
	SET(CURLOPT_REDIR_PROTOCOLS_STR, ep->insecure ? "http,https" : "https");
	SET(CURLOPT_HTTP_VERSION,
	    plain ? (long)CURL_HTTP_VERSION_1_1 : (long)CURL_HTTP_VERSION_2TLS);
	SET(CURLOPT_CONNECTTIMEOUT, 30L);
	SET(CURLOPT_LOW_SPEED_LIMIT, 1L);
	SET(CURLOPT_LOW_SPEED_TIME, low_speed_s);
	SET(CURLOPT_USERAGENT, "berth/" BR_VERSION);
	SET(CURLOPT_BUFFERSIZE, 256L * 1024);
	SET(CURLOPT_HTTPHEADER, f->headers);
	SET(CURLOPT_WRITEFUNCTION, write_cb);
	SET(CURLOPT_WRITEDATA, f);
	SET(CURLOPT_HEADERFUNCTION, header_cb);
	SET(CURLOPT_HEADERDATA, f);
	SET(CURLOPT_ERRORBUFFER, f->errbuf);
	if (f->range_start > 0)
		SET(CURLOPT_RANGE, range);
#undef SET
	if (c == CURLE_OK)
		c = imaged_set_tls(e, ep);
	if (c != CURLE_OK)
		return curl_setup_error(f, c, err);
	CURLMcode mc = curl_multi_add_handle(f->http->multi, e);
	if (mc != CURLM_OK)
		return br_err_set(err, BR_INTERNAL, "GET %s: %s", f->url, curl_multi_strerror(mc));
	f->attached = true;
	return 0;
}

static int
too_large_error(const struct imaged_fetch *f, br_err *err)
{
	return br_err_set(err, BR_RESOURCE_EXHAUSTED, "GET %s: response larger than %lld bytes",
	                  f->url, (long long)f->max_size);
}

/* The stall timeout passed without a byte: say what the request was waiting for. */
static int
stall_error(const struct imaged_fetch *f, br_err *err)
{
	if (!f->status_known)
		return br_err_set(err, BR_DEADLINE_EXCEEDED,
		                  "GET %s: no answer for %" PRId64
		                  " ms (imaged.job_stall_timeout_ms)",
		                  f->url, f->reg->stall_ms);
	return br_err_set(err, BR_DEADLINE_EXCEEDED,
	                  "GET %s: the body stopped after %" PRId64 " bytes: nothing for %" PRId64
	                  " ms (imaged.job_stall_timeout_ms)",
	                  f->url, f->response_pos, f->reg->stall_ms);
}

/* One round of transfer work: resume a paused transfer, or perform and wait a little. */
static int
pump(struct imaged_fetch *f, br_err *err)
{
	CURLM *m = f->http->multi;
	CURLMcode mc;
	CURLMsg *msg;
	int running, left;

	if (f->paused) {
		f->paused = false;
		CURLcode c = curl_easy_pause(f->http->easy, CURLPAUSE_CONT);
		/* Resuming delivers the held data at once, so the size limit can trip here. */
		if (c != CURLE_OK && f->too_large)
			return too_large_error(f, err);
		if (c != CURLE_OK)
			return br_err_set(err, BR_INTERNAL, "GET %s: resume: %s", f->url,
			                  curl_easy_strerror(c));
		return 0;
	}
	mc = curl_multi_perform(m, &running);
	if (mc != CURLM_OK)
		return br_err_set(err, BR_INTERNAL, "GET %s: %s", f->url, curl_multi_strerror(mc));
	while ((msg = curl_multi_info_read(m, &left)) != NULL) {
		if (msg->msg == CURLMSG_DONE && msg->easy_handle == f->http->easy) {
			f->done = true;
			f->result = msg->data.result;
		}
	}
	if (!f->done && f->reg->stall_ms > 0 &&
	    br_now_ms() - f->http->idle_since >= f->reg->stall_ms)
		return stall_error(f, err);
	if (!f->done && f->len == 0 && !f->paused) {
		mc = curl_multi_poll(m, NULL, 0, IMAGED_POLL_MS, NULL);
		if (mc != CURLM_OK)
			return br_err_set(err, BR_INTERNAL, "GET %s: %s", f->url,
			                  curl_multi_strerror(mc));
	}
	return 0;
}

static br_code
code_of_status(long status)
{
	if (status == 400)
		return BR_INVALID_ARGUMENT;
	if (status == 401 || status == 403)
		return BR_PERMISSION_DENIED;
	if (status == 404)
		return BR_NOT_FOUND;
	if (status == 408 || status == 429 || status >= 500)
		return BR_UNAVAILABLE;
	return BR_INTERNAL;
}

int
imaged_registry_error(const char *method, const char *url, long status, const char *reason,
                      const char *body, size_t len, br_err *err)
{
	yajl_val root = NULL, errors = NULL;
	const char *message = NULL;

	if (body != NULL &&
	    br_json_parse(body, len, IMAGED_ERROR_BODY_MAX, "error", &root, NULL) == 0 &&
	    br_json_get_array(root, "", "errors", false, &errors, NULL) == 0 && errors != NULL &&
	    errors->u.array.len > 0 && YAJL_IS_OBJECT(errors->u.array.values[0]))
		br_json_get_str(errors->u.array.values[0], "errors[0]", "message", false, &message,
		                NULL);
	if (message == NULL || message[0] == '\0')
		message = reason[0] != '\0' ? reason : "error";
	br_err_set(err, code_of_status(status), "%s %s: %ld %s", method, url, status, message);
	if (root != NULL)
		yajl_tree_free(root);
	return -1;
}

static int
http_error(struct imaged_fetch *f, br_err *err)
{
	return imaged_registry_error("GET", f->url, f->status, f->reason, f->error_body,
	                             f->error_len, err);
}

/* A transport failure, with what to do about it when it is one of TLS. */
static int
transport_error(struct imaged_fetch *f, br_err *err)
{
	const char *what = f->errbuf[0] ? f->errbuf : curl_easy_strerror(f->result);

	switch (f->result) {
	case CURLE_PEER_FAILED_VERIFICATION:
		return br_err_set(err, BR_UNAVAILABLE,
		                  "GET %s: the server's TLS certificate is not trusted (%s); give "
		                  "the CA that signed it as ca_file of this registry in "
		                  "imaged.registries",
		                  f->url, what);
	case CURLE_SSL_CACERT_BADFILE:
		return br_err_set(err, BR_FAILED_PRECONDITION,
		                  "GET %s: the registry's ca_file cannot be used (%s)", f->url,
		                  what);
	case CURLE_SSL_CERTPROBLEM:
		return br_err_set(err, BR_FAILED_PRECONDITION,
		                  "GET %s: the registry's client_cert or client_key cannot be used "
		                  "(%s)",
		                  f->url, what);
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
		if (strncmp(f->url, "https:", 6) == 0)
			return br_err_set(
			        err, BR_UNAVAILABLE,
			        "GET %s: TLS connection failed (%s); if the registry asks "
			        "for a client certificate, configure client_cert and "
			        "client_key for it",
			        f->url, what);
		break;
	default:
		break;
	}
	return br_err_set(err, BR_UNAVAILABLE, "GET %s: %s", f->url, what);
}

/* How a finished transfer ended: 0, or -1 with the transport or HTTP error. */
static int
transfer_result(struct imaged_fetch *f, br_err *err)
{
	if (f->result != CURLE_OK) {
		if (f->too_large)
			return too_large_error(f, err);
		return transport_error(f, err);
	}
	if (!f->status_known)
		learn_status(f);
	if (f->is_error)
		return http_error(f, err);
	return 0;
}

/* Drive the transfer until the final response's status is known (or it ended). */
static int
await_status(struct imaged_fetch *f, br_err *err)
{
	while (!f->status_known && !f->done) {
		if (imaged_canceled(f->cancel))
			return br_err_set(err, BR_CANCELED, "GET %s: canceled", f->url);
		if (pump(f, err) < 0)
			return -1;
	}
	/* A body that began is the reader's, even if it already broke off: the reader takes
	 * what came and the break is resumed from there. */
	if (f->status_known && !f->is_error)
		return 0;
	if (f->done)
		return transfer_result(f, err);
	/* Collect the error document for its message. */
	while (!f->done) {
		if (imaged_canceled(f->cancel))
			return br_err_set(err, BR_CANCELED, "GET %s: canceled", f->url);
		if (pump(f, err) < 0)
			return -1;
	}
	return transfer_result(f, err);
}

/* Read a whole small body into a heap buffer (NUL-terminated). */
static int
read_all(struct imaged_fetch *f, char **ret, size_t *ret_len, br_err *err)
{
	_cleanup_free_ char *out = NULL;
	size_t len = 0;
	const void *chunk;
	ssize_t n;

	while ((n = imaged_fetch_read(f, &chunk, err)) > 0) {
		out = xrealloc(out, len + (size_t)n + 1);
		memcpy(out + len, chunk, (size_t)n);
		len += (size_t)n;
	}
	if (n < 0)
		return -1;
	if (out == NULL)
		out = xmalloc(1);
	out[len] = '\0';
	*ret = br_steal_ptr(&out);
	*ret_len = len;
	return 0;
}

/* ------------------------------------------------------------------ retries */

/* Transport failures that may pass: the network, the peer, a connection that broke. */
static bool
transport_retryable(CURLcode c)
{
	switch (c) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_PARTIAL_FILE:
	case CURLE_GOT_NOTHING:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
	case CURLE_SSL_CONNECT_ERROR:
		return true;
	default:
		return false;
	}
}

/* Whether the failure of `f` that `err` describes may pass if asked again. */
static bool
retryable(const struct imaged_fetch *f, const br_err *err)
{
	if (!f->retry || err->code != BR_UNAVAILABLE || f->too_large)
		return false;
	if (f->result != CURLE_OK)
		return transport_retryable(f->result);
	return f->status == 408 || f->status == 429 || f->status >= 500;
}

/* " (gave up after 5 attempts)" at the end of the message, which keeps its "GET <url>: "
 * start. */
static void
note_attempts(br_err *err, const char *what, int attempts)
{
	size_t len = strlen(err->msg);

	snprintf(err->msg + len, sizeof(err->msg) - len, " (%s %d attempts)", what, attempts);
}

/*
 * After the attempt of `f` failed with `err`, the `*failures`th failure in a row: whether to
 * make another, once the back-off (or the registry's Retry-After, capped) has passed. false
 * leaves `err` saying why not: the failure itself (with the number of attempts made), or
 * CANCELED, or DEADLINE_EXCEEDED when the wait reaches the stall timeout.
 */
static bool
retry_wait(struct imaged_fetch *f, int *failures, br_err *err)
{
	struct imaged_registry *reg = f->reg;
	uint64_t rnd = 0;

	if (!retryable(f, err)) {
		if (*failures > 0)
			note_attempts(err, "after", *failures + 1);
		return false;
	}
	(*failures)++;
	if (*failures >= reg->retry_attempts) {
		note_attempts(err, "gave up after", *failures);
		return false;
	}
	if (getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK) != (ssize_t)sizeof(rnd))
		rnd = (uint64_t)br_now_ms();
	int64_t delay = imaged_backoff_ms(*failures, reg->retry_max_delay_ms, rnd);
	int64_t after = imaged_retry_after_ms(f->retry_after, time(NULL));
	if (after > reg->retry_max_delay_ms)
		after = reg->retry_max_delay_ms;
	if (after > delay)
		delay = after;
	br_log_info("IMAGE-PULL-RETRY", "GET %s: attempt %d of %d in %" PRId64 " ms: %s", f->url,
	            *failures + 1, reg->retry_attempts, delay, err->msg);
	for (int64_t end = br_now_ms() + delay;;) {
		int64_t now = br_now_ms();
		if (imaged_canceled(f->cancel)) {
			br_err_set(err, BR_CANCELED, "GET %s: canceled", f->url);
			return false;
		}
		if (reg->stall_ms > 0 && now - f->http->idle_since >= reg->stall_ms) {
			err->code = BR_DEADLINE_EXCEEDED;
			br_err_wrap(err,
			            "nothing received for %" PRId64
			            " ms (imaged.job_stall_timeout_ms) in %d attempts",
			            reg->stall_ms, *failures);
			return false;
		}
		if (now >= end)
			return true;
		usleep((useconds_t)((end - now < 50 ? end - now : 50) * 1000));
	}
}

/* ------------------------------------------------------------------ authentication */

char *
imaged_auth_line(struct imaged_registry *reg, struct imaged_endpoint *ep, uint64_t *ret_gen)
{
	char *out = NULL;

	pthread_mutex_lock(&reg->lock);
	if (ep->token != NULL && br_now_ms() < ep->token_expires) {
		/* an expired one is not sent: the 401 that follows gets a new one */
		out = xasprintf("Authorization: Bearer %s", ep->token);
	} else if (ep->basic && ep->username != NULL) {
		_cleanup_free_ char *plain =
		        xasprintf("%s:%s", ep->username, ep->password ? ep->password : "");
		_cleanup_free_ char *b64 = br_base64_encode(plain, strlen(plain));
		out = xasprintf("Authorization: Basic %s", b64);
		explicit_bzero(plain, strlen(plain));
		explicit_bzero(b64, strlen(b64));
	}
	*ret_gen = ep->auth_gen;
	pthread_mutex_unlock(&reg->lock);
	return out;
}

static char *
form_escape(struct imaged_http *http, const char *s)
{
	char *e = curl_easy_escape(http->easy, s ? s : "", 0);
	char *out = xstrdup(e ? e : "");

	curl_free(e);
	return out;
}

/*
 * Get a token from the challenge's realm, for `scope` (the challenge's, else the job's
 * repository): with an identity token, POST a refresh_token grant (as docker does); with a
 * user name, GET with Basic authentication; else an anonymous GET.
 */
static int
fetch_token(struct imaged_registry *reg, struct imaged_endpoint *ep, struct imaged_http *http,
            const struct imaged_challenge *ch, const struct imaged_cancel *cancel, br_err *err)
{
	_cleanup_free_ char *body = NULL, *post = NULL, *auth = NULL, *token = NULL;
	_cleanup_free_ char *scope = NULL;
	struct imaged_fetch *f = NULL;
	int64_t expires_in;
	size_t len;
	bool realm_ok =
	        ch->realm != NULL && (strncmp(ch->realm, "https://", 8) == 0 ||
	                              (ep->insecure && strncmp(ch->realm, "http://", 7) == 0));

	if (!realm_ok || strpbrk(ch->realm, " \"<>\\^`{|}") != NULL)
		return br_err_set(err, BR_PERMISSION_DENIED,
		                  "authentication required, and the challenge names no usable "
		                  "token realm (%s)",
		                  ch->realm ? ch->realm : "none");
	if (ch->scope != NULL)
		scope = xstrdup(ch->scope);
	else if (reg->repo[0] != '\0')
		scope = xasprintf("repository:%s:%s", reg->repo, reg->push ? "pull,push" : "pull");
	_cleanup_free_ char *esc_service = form_escape(http, ch->service);
	_cleanup_free_ char *esc_scope = form_escape(http, scope);
	_cleanup_free_ char *url = NULL;
	if (ep->identity_token != NULL) {
		_cleanup_free_ char *esc_token = form_escape(http, ep->identity_token);
		url = xstrdup(ch->realm);
		post = xasprintf("grant_type=refresh_token&client_id=berth&service=%s%s%s"
		                 "&refresh_token=%s",
		                 esc_service, scope ? "&scope=" : "", scope ? esc_scope : "",
		                 esc_token);
		explicit_bzero(esc_token, strlen(esc_token));
	} else {
		url = xasprintf("%s%sservice=%s%s%s", ch->realm, strchr(ch->realm, '?') ? "&" : "?",
		                esc_service, scope ? "&scope=" : "", scope ? esc_scope : "");
		if (ep->username != NULL) {
			_cleanup_free_ char *plain =
			        xasprintf("%s:%s", ep->username, ep->password ? ep->password : "");
			_cleanup_free_ char *b64 = br_base64_encode(plain, strlen(plain));
			auth = xasprintf("Authorization: Basic %s", b64);
			explicit_bzero(plain, strlen(plain));
			explicit_bzero(b64, strlen(b64));
		}
	}

	int rc = fetch_start(reg, ep, http, url, "application/json", auth, post, TOKEN_MAX, 0,
	                     cancel, &f, err);
	if (post != NULL)
		explicit_bzero(post, strlen(post));
	if (auth != NULL)
		explicit_bzero(auth, strlen(auth));
	if (rc < 0)
		return -1;
	rc = await_status(f, err);
	if (rc == 0)
		rc = read_all(f, &body, &len, err);
	bool refused = rc < 0 && (f->status == 401 || f->status == 403);
	fetch_free(f);
	if (refused && (ep->username != NULL || ep->identity_token != NULL))
		return br_err_wrap(err, "the registry refused the credentials: get a token");
	if (rc < 0)
		return br_err_wrap(err, "get a token");
	if (imaged_token_parse(body, len, &token, &expires_in, err) < 0)
		return br_err_wrap(err, "%s %s", post ? "POST" : "GET", url);
	pthread_mutex_lock(&reg->lock);
	imaged_free_secret(ep->token);
	ep->token = br_steal_ptr(&token);
	ep->token_expires = br_now_ms() + expires_in * 1000;
	ep->auth_gen++;
	pthread_mutex_unlock(&reg->lock);
	return 0;
}

int
imaged_auth_answer(struct imaged_registry *reg, struct imaged_endpoint *ep,
                   struct imaged_http *http, const char *header, uint64_t gen,
                   struct imaged_auth_attempt *at, const struct imaged_cancel *cancel, br_err *err)
{
	struct imaged_challenge ch[IMAGED_CHALLENGES_MAX];
	size_t n = 0;
	bool creds = ep->username != NULL || ep->identity_token != NULL;

	pthread_mutex_lock(&reg->lock);
	bool changed = ep->auth_gen != gen; /* another thread got a new token meanwhile */
	pthread_mutex_unlock(&reg->lock);
	if (changed && !at->answered && !at->followed) {
		at->followed = true;
		return 0;
	}
	if (at->answered)
		return br_err_set(err, BR_PERMISSION_DENIED, "%s",
		                  creds ? "the registry refused the credentials"
		                        : "authentication required (berth login?)");
	at->answered = true;
	if (header == NULL || imaged_challenges_parse(header, ch, &n, NULL) < 0)
		n = 0;
	const struct imaged_challenge *bearer = imaged_challenge_find(ch, n, "bearer");
	const struct imaged_challenge *basic = imaged_challenge_find(ch, n, "basic");
	int rc = 0;
	if (bearer != NULL) {
		rc = fetch_token(reg, ep, http, bearer, cancel, err);
	} else if (basic != NULL && ep->username != NULL) {
		pthread_mutex_lock(&reg->lock);
		ep->basic = true;
		ep->auth_gen++;
		pthread_mutex_unlock(&reg->lock);
	} else {
		rc = br_err_set(err, BR_PERMISSION_DENIED, "%s",
		                basic != NULL ? "authentication required (berth login?)"
		                              : "authentication required, with no challenge Berth "
		                                "can answer");
	}
	imaged_challenges_fini(ch, n);
	return rc;
}

/* ------------------------------------------------------------------ API */

int
imaged_fetch_open(struct imaged_registry *reg, struct imaged_http *http, const char *path,
                  const char *accept, int64_t max_size, const struct imaged_cancel *cancel,
                  struct imaged_fetch **ret, br_err *err)
{
	return imaged_fetch_open_at(reg, http, path, accept, max_size, 0, cancel, ret, err);
}

/*
 * Whether the registry could not give the body from `f->range_start` on: 416 (what the caller
 * has is not a part of the registry's blob: it is longer) or a 206 with another part.
 */
static bool
range_refused(const struct imaged_fetch *f, int rc)
{
	if (f->range_start == 0)
		return false;
	if (rc < 0)
		return f->status == 416;
	return f->status == 206 && f->response_start != f->range_start;
}

/*
 * One GET of `url` from endpoint `ep` (with its authentication when `auth`, answering its
 * challenge once), a refused range answered with a request for the whole body. When the
 * request was made and failed, *ret_failed gets its response (the caller's), for the retry to
 * judge; `retry` says whether such failures may be retried at all.
 */
static int
endpoint_open(struct imaged_registry *reg, struct imaged_endpoint *ep, struct imaged_http *http,
              const char *url, const char *accept, bool auth, bool retry, int64_t max_size,
              int64_t offset, const struct imaged_cancel *cancel, struct imaged_fetch **ret,
              struct imaged_fetch **ret_failed, br_err *err)
{
	struct imaged_auth_attempt attempt = {false, false};

	for (;;) {
		struct imaged_fetch *f = NULL;
		uint64_t gen = 0;
		_cleanup_free_ char *line = auth ? imaged_auth_line(reg, ep, &gen) : NULL;
		int rc = fetch_start(reg, ep, http, url, accept, line, NULL, max_size, offset,
		                     cancel, &f, err);
		if (line != NULL)
			explicit_bzero(line, strlen(line));
		if (rc < 0)
			return -1;
		f->retry = retry;
		f->auth_ep = auth ? ep : NULL;
		f->auth_gen = gen;
		rc = await_status(f, err);
		if (rc < 0 && auth && f->status == 401) {
			_cleanup_free_ char *challenge =
			        f->www_authenticate ? xstrdup(f->www_authenticate) : NULL;
			fetch_free(f);
			if (imaged_auth_answer(reg, ep, http, challenge, gen, &attempt, cancel,
			                       err) < 0)
				return br_err_wrap(err, "GET %s", url);
			continue;
		}
		if (range_refused(f, rc)) {
			/* Ask for the whole body, which the caller starts over with: asking for
			 * the same part again would only fail the same way, every retry. */
			fetch_free(f);
			offset = 0;
			continue;
		}
		if (rc < 0) {
			*ret_failed = f;
			return -1;
		}
		*ret = f;
		return 0;
	}
}

/* endpoint_open, made again while it fails in a way that may pass (retry_wait). */
static int
endpoint_open_retrying(struct imaged_registry *reg, struct imaged_endpoint *ep,
                       struct imaged_http *http, const char *url, const char *accept, bool auth,
                       bool retry, int64_t max_size, int64_t offset,
                       const struct imaged_cancel *cancel, struct imaged_fetch **ret, br_err *err)
{
	int failures = 0;

	http->idle_since = br_now_ms();
	for (;;) {
		struct imaged_fetch *f = NULL, *failed = NULL;
		if (endpoint_open(reg, ep, http, url, accept, auth, retry, max_size, offset, cancel,
		                  &f, &failed, err) == 0) {
			*ret = f;
			return 0;
		}
		if (failed == NULL)
			return -1;
		bool again = retry_wait(failed, &failures, err);
		fetch_free(failed);
		if (!again)
			return -1;
	}
}

/* What a request needs: "manifests/<tag>" resolves a tag; a digest or a blob is a pull. */
static unsigned
capability_of(const char *path)
{
	if (strncmp(path, "manifests/", 10) == 0 && !br_digest_valid(path + 10))
		return BR_REGISTRY_RESOLVE;
	if (path[0] == '\0')
		return BR_REGISTRY_PUSH; /* the base: the registry itself only */
	return BR_REGISTRY_PULL;
}

/* Whether a mirror's failure passes the request on: down, or without the content. */
static bool
falls_back(br_code code)
{
	return code == BR_UNAVAILABLE || code == BR_NOT_FOUND;
}

int
imaged_fetch_open_at(struct imaged_registry *reg, struct imaged_http *http, const char *path,
                     const char *accept, int64_t max_size, int64_t offset,
                     const struct imaged_cancel *cancel, struct imaged_fetch **ret, br_err *err)
{
	unsigned cap = capability_of(path);
	_cleanup_free_ char *tried = NULL;

	for (size_t i = 0; i < reg->n_eps; i++) {
		struct imaged_endpoint *ep = &reg->eps[i];
		bool last = i + 1 == reg->n_eps;
		br_err e = BR_ERR_INIT;
		if (!last && (ep->capabilities & cap) == 0)
			continue;
		_cleanup_free_ char *url = xasprintf("%s/%s%s", ep->url, path, ep->query);
		/* A mirror is asked once: when it fails, the next endpoint is. */
		if (endpoint_open_retrying(reg, ep, http, url, accept, true, last, max_size, offset,
		                           cancel, ret, &e) == 0)
			return 0;
		if (last || !falls_back(e.code) || imaged_canceled(cancel)) {
			br_err_set(err, e.code, "%s", e.msg);
			if (tried != NULL)
				br_err_wrap(err, "tried %s, then %s", tried,
				            last ? "the registry" : "the next mirror");
			return -1;
		}
		/* "mirror http://m/v2/x (<its error>)" for the final message */
		size_t have = tried ? strlen(tried) : 0;
		if (have < TRIED_MAX) {
			char *next = xasprintf("%s%smirror %s (%s)", have ? tried : "",
			                       have ? ", " : "", ep->url, e.msg);
			free(tried);
			tried = next;
		}
	}
	return br_err_set(err, BR_INTERNAL, "%s: no endpoint", reg->url);
}

int
imaged_fetch_open_url(struct imaged_registry *reg, struct imaged_http *http, const char *url,
                      int64_t max_size, int64_t offset, const struct imaged_cancel *cancel,
                      struct imaged_fetch **ret, br_err *err)
{
	if (strncmp(url, "https://", 8) != 0 && strncmp(url, "http://", 7) != 0)
		return br_err_set(err, BR_INVALID_ARGUMENT, "%s: only http and https URLs are used",
		                  BR_ERR_QUOTE(url));
	if (strlen(url) > IMAGED_URL_MAX)
		return br_err_set(err, BR_INVALID_ARGUMENT, "%s: URL longer than %d bytes",
		                  BR_ERR_QUOTE(url), IMAGED_URL_MAX);
	/* Credentials in a URL would end up in logs and messages; an image has no business
	 * carrying them anyway. */
	const char *authority = strstr(url, "://") + 3;
	if (memchr(authority, '@', strcspn(authority, "/?#")) != NULL)
		return br_err_set(err, BR_INVALID_ARGUMENT,
		                  "a URL with credentials in it is not used");
	/* no credentials, no settings of the registry's: a host of its own */
	static struct imaged_endpoint elsewhere;
	return endpoint_open_retrying(reg, &elsewhere, http, url, NULL, false, true, max_size,
	                              offset, cancel, ret, err);
}

/*
 * Start the request of `f` again for the body from byte `from` on (0: all of it), in place:
 * the reader goes on with the same fetch.
 */
static int
restart(struct imaged_fetch *f, int64_t from, br_err *err)
{
	if (f->attached)
		curl_multi_remove_handle(f->http->multi, f->http->easy);
	f->attached = false;
	reset_headers(f);
	f->done = f->paused = f->too_large = f->status_known = f->is_error = false;
	f->handed_out = false;
	f->result = CURLE_OK;
	f->status = 0;
	f->len = f->off = 0;
	free(f->error_body);
	f->error_body = NULL;
	f->error_len = 0;
	f->errbuf[0] = '\0';
	f->range_start = from;
	if (f->auth_ep != NULL) {
		/* The endpoint's authentication as it is now: a token may have been renewed (or
		 * have expired) since the request was first sent. */
		char *line = imaged_auth_line(f->reg, f->auth_ep, &f->auth_gen);
		fetch_headers(f, line);
		imaged_free_secret(line);
	}
	if (transfer_begin(f, err) < 0)
		return -1;
	return await_status(f, err);
}

/*
 * f's body broke off (err says how): continue it from the first byte the reader has not had,
 * with a Range request (and the endpoint's authentication as it is now: a token that expired
 * meanwhile is renewed); a registry that sends the whole body instead (or cannot serve the
 * range) is read from its start, and what the reader had is skipped. 0 once a response flows
 * again; -1 when the failure is not worth repeating or the attempts are spent.
 */
static int
resume(struct imaged_fetch *f, br_err *err)
{
	if (f->gave_bytes) {
		f->failures = 0; /* it moved since it last failed */
		f->gave_bytes = false;
	}
	for (;;) {
		struct imaged_auth_attempt attempt = {false, false};
		int64_t from = f->body_start + f->received;
		if (!retry_wait(f, &f->failures, err))
			return -1;
		int rc = restart(f, from, err);
		if (rc < 0 && f->auth_ep != NULL && f->status == 401) {
			/* The token it carried expired meanwhile: a new one (on the same handle,
			 * which the token request takes for a moment), and again. */
			_cleanup_free_ char *challenge =
			        f->www_authenticate ? xstrdup(f->www_authenticate) : NULL;
			if (f->attached)
				curl_multi_remove_handle(f->http->multi, f->http->easy);
			f->attached = false;
			if (imaged_auth_answer(f->reg, f->auth_ep, f->http, challenge, f->auth_gen,
			                       &attempt, f->cancel, err) < 0)
				return br_err_wrap(err, "GET %s", f->url);
			rc = restart(f, from, err);
		}
		if (range_refused(f, rc))
			rc = restart(f, 0, err);
		if (rc == 0)
			return 0;
	}
}

int
imaged_registry_login(const struct br_config *cfg, const char *host,
                      const struct br_registry_auth *auth, const struct imaged_cancel *cancel,
                      br_err *err)
{
	_cleanup_(imaged_registry_freep) struct imaged_registry *reg =
	        imaged_registry_make(cfg, host, "", auth, BR_REGISTRY_PULL, false);
	_cleanup_(imaged_http_freep) struct imaged_http *http = imaged_http_new();
	_cleanup_free_ char *body = NULL;
	size_t len;

	return imaged_registry_get(reg, http, "", NULL, 64u << 10, NULL, cancel, &body, &len, NULL,
	                           err);
}

ssize_t
imaged_fetch_read(struct imaged_fetch *f, const void **ret_buf, br_err *err)
{
	if (f->handed_out) {
		f->len = f->off = 0;
		f->handed_out = false;
	}
	/* Nothing moves between reads (the transfer is pumped by them): the time since the
	 * last one was the reader's, not the registry's. */
	f->http->idle_since = br_now_ms();
	for (;;) {
		if (f->len > f->off) {
			/* Where buf[off] is in the whole body, against what the reader needs. */
			int64_t at = f->response_pos - (int64_t)(f->len - f->off);
			int64_t want = f->body_start + f->received;
			if (at > want)
				return br_err_set(err, BR_INTERNAL,
				                  "GET %s: the response skipped bytes %" PRId64
				                  " to %" PRId64,
				                  f->url, want, at);
			if (at < want) {
				int64_t skip = want - at;
				f->off += skip < (int64_t)(f->len - f->off) ? (size_t)skip
				                                            : f->len - f->off;
				continue;
			}
			*ret_buf = f->buf + f->off;
			f->handed_out = true;
			f->gave_bytes = true;
			f->received += (int64_t)(f->len - f->off);
			return (ssize_t)(f->len - f->off);
		}
		f->len = f->off = 0;
		if (f->done) {
			if (transfer_result(f, err) == 0)
				return 0;
			if (resume(f, err) < 0)
				return -1;
			continue;
		}
		if (imaged_canceled(f->cancel))
			return br_err_set(err, BR_CANCELED, "GET %s: canceled", f->url);
		if (pump(f, err) < 0)
			return -1;
	}
}

const char *
imaged_fetch_content_type(const struct imaged_fetch *f)
{
	return f->content_type;
}

const char *
imaged_fetch_docker_digest(const struct imaged_fetch *f)
{
	return f->docker_digest;
}

const char *
imaged_fetch_url(const struct imaged_fetch *f)
{
	return f->url;
}

int64_t
imaged_fetch_offset(const struct imaged_fetch *f)
{
	return f->body_start;
}

void
imaged_fetch_close(struct imaged_fetch *f)
{
	fetch_free(f);
}

int
imaged_registry_get(struct imaged_registry *reg, struct imaged_http *http, const char *path,
                    const char *accept, size_t max_size, const char *digest,
                    const struct imaged_cancel *cancel, char **ret, size_t *ret_len,
                    char **ret_content_type, br_err *err)
{
	struct imaged_fetch *f = NULL;
	_cleanup_free_ char *body = NULL;
	size_t len;
	char got[BR_DIGEST_BUF];

	if (imaged_fetch_open(reg, http, path, accept, (int64_t)max_size, cancel, &f, err) < 0)
		return -1;
	if (read_all(f, &body, &len, err) < 0) {
		fetch_free(f);
		return -1;
	}
	if (digest != NULL) {
		br_digest_buf(body, len, got);
		if (strcmp(got, digest) != 0) {
			br_err_set(err, BR_FAILED_PRECONDITION,
			           "GET %s: digest mismatch: expected %s, got %s", f->url, digest,
			           got);
			fetch_free(f);
			return -1;
		}
	}
	if (ret_content_type != NULL)
		*ret_content_type = f->content_type ? xstrdup(f->content_type) : NULL;
	fetch_free(f);
	*ret = br_steal_ptr(&body);
	*ret_len = len;
	return 0;
}

int
imaged_registry_get_manifest(struct imaged_registry *reg, struct imaged_http *http,
                             const char *reference, const struct imaged_cancel *cancel, char **ret,
                             size_t *ret_len, char **ret_media_type, char ret_digest[BR_DIGEST_BUF],
                             br_err *err)
{
	_cleanup_free_ char *path = xasprintf("manifests/%s", reference);
	_cleanup_free_ char *body = NULL;
	struct imaged_fetch *f = NULL;
	char got[BR_DIGEST_BUF];
	size_t len;

	if (imaged_fetch_open(reg, http, path, IMAGED_MANIFEST_ACCEPT, BR_OCI_MAX_DOC, cancel, &f,
	                      err) < 0)
		return -1;
	if (read_all(f, &body, &len, err) < 0) {
		fetch_free(f);
		return -1;
	}
	br_digest_buf(body, len, got);
	const char *header = f->docker_digest;
	if (br_digest_valid(reference) && strcmp(reference, got) != 0) {
		br_err_set(err, BR_FAILED_PRECONDITION,
		           "GET %s: digest mismatch: expected %s, got %s", f->url, reference, got);
		fetch_free(f);
		return -1;
	}
	if (header != NULL && br_digest_valid(header) && strcmp(header, got) != 0) {
		br_err_set(err, BR_FAILED_PRECONDITION,
		           "GET %s: digest mismatch: the registry says %s, the manifest is %s",
		           f->url, header, got);
		fetch_free(f);
		return -1;
	}
	*ret_media_type = f->content_type ? xstrdup(f->content_type) : NULL;
	fetch_free(f);
	memcpy(ret_digest, got, BR_DIGEST_BUF);
	*ret = br_steal_ptr(&body);
	*ret_len = len;
	return 0;
}

uint64_t
imaged_registry_bytes_received(void)
{
	return atomic_load_explicit(&bytes_received, memory_order_relaxed);
}
