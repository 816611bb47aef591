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
 * Requests that fail in a way that may pass (a connection error, 408, 429, 5xx) are made
 * again after a back-off, and a body that breaks off is continued from the byte it broke at
 * (Range), inside the fetch, so that its reader sees one unbroken body. A request that moves
 * no byte for the stall timeout fails (DEADLINE_EXCEEDED).
 */
#include "imaged/registry.h"
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

#include "common/cleanup.h"
#include "common/json.h"
#include "common/log.h"
#include "common/loop.h"
#include "common/oci.h"
#include "common/xalloc.h"

#define FETCH_BUFFER (1u << 20)    /* bytes held per download before curl is paused */
#define ERROR_BODY_MAX (16u << 10) /* bytes of an error response kept for its message */
#define HEADER_VALUE_MAX 4096      /* longer header values are ignored */
#define TOKEN_MAX (1u << 20)       /* token responses */
#define POLL_MS 100                /* how often a waiting read checks for cancellation */

struct imaged_registry {
	char *host; /* where requests go: "registry-1.docker.io", "127.0.0.1:5000" */
	char *repo; /* "library/busybox" */
	char *url;  /* "https://registry-1.docker.io/v2/library/busybox" */
	bool insecure;
	char *ca_file;
	int retry_attempts;         /* imaged.retry_attempts */
	int64_t retry_max_delay_ms; /* imaged.retry_max_delay_ms */
	int64_t stall_ms;           /* imaged.job_stall_timeout_ms */
	pthread_mutex_t lock;
	char *token; /* bearer token (lock) */
};

struct imaged_http {
	CURLM *multi;
	CURL *easy;
	int64_t idle_since; /* br_now_ms() when the thread's request last moved a byte */
};

struct imaged_fetch {
	struct imaged_registry *reg;
	struct imaged_http *http;
	char *url;
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
	int64_t range_start;    /* asked for the body from this byte on (0: the whole body) */
	int64_t content_range;  /* start of a 206 response's Content-Range, -1 when absent */
	int64_t body_start;     /* the byte of the whole body the reader's view starts at */
	int64_t response_start; /* the byte of the whole body this response starts at */
	int64_t response_pos;   /* the byte of the whole body after what this response gave */
	size_t off;             /* bytes at the start of buf skipped (already read before) */
	int failures;           /* attempts in a row that failed (reset by progress) */
	bool gave_bytes;        /* the body moved since the last failure */
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

struct imaged_registry *
imaged_registry_new(const struct br_config *cfg, const struct br_ref *ref)
{
	const struct br_registry_config *rc = cfg ? br_config_registry(cfg, ref->domain) : NULL;
	struct imaged_registry *reg = xnew(struct imaged_registry);

	reg->host = xstrdup(strcmp(ref->domain, "docker.io") == 0 ? "registry-1.docker.io"
	                                                          : ref->domain);
	reg->repo = xstrdup(ref->path);
	reg->insecure = rc != NULL && rc->insecure;
	reg->ca_file = rc != NULL && rc->ca_file != NULL ? xstrdup(rc->ca_file) : NULL;
	reg->url =
	        xasprintf("%s://%s/v2/%s", reg->insecure ? "http" : "https", reg->host, reg->repo);
	reg->retry_attempts = cfg ? cfg->imaged.retry_attempts : 5;
	reg->retry_max_delay_ms = cfg ? cfg->imaged.retry_max_delay_ms : 30 * 1000;
	reg->stall_ms = cfg ? cfg->imaged.job_stall_timeout_ms : 5 * 60 * 1000;
	pthread_mutex_init(&reg->lock, NULL);
	return reg;
}

void
imaged_registry_free(struct imaged_registry *reg)
{
	if (reg == NULL)
		return;
	free(reg->host);
	free(reg->repo);
	free(reg->url);
	free(reg->ca_file);
	free(reg->token);
	pthread_mutex_destroy(&reg->lock);
	free(reg);
}

const char *
imaged_registry_url(const struct imaged_registry *reg)
{
	return reg->url;
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

static char *
header_value(const char *p, size_t len, size_t name_len)
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

static bool
header_is(const char *p, size_t len, const char *name)
{
	size_t n = strlen(name);

	return len > n && strncasecmp(p, name, n) == 0;
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
		/* "HTTP/1.1 404 Not Found\r\n": keep the reason phrase. */
		const char *sp = memchr(p, ' ', len);
		const char *sp2 = sp ? memchr(sp + 1, ' ', len - (size_t)(sp + 1 - p)) : NULL;
		if (sp2 != NULL) {
			char *r = header_value(sp2, len - (size_t)(sp2 - p), 1);
			if (r != NULL)
				snprintf(f->reason, sizeof(f->reason), "%s", r);
			free(r);
		}
	} else if (header_is(p, len, "content-type:")) {
		free(f->content_type);
		f->content_type = header_value(p, len, strlen("content-type:"));
	} else if (header_is(p, len, "docker-content-digest:")) {
		free(f->docker_digest);
		f->docker_digest = header_value(p, len, strlen("docker-content-digest:"));
	} else if (header_is(p, len, "www-authenticate:")) {
		free(f->www_authenticate);
		f->www_authenticate = header_value(p, len, strlen("www-authenticate:"));
	} else if (header_is(p, len, "retry-after:")) {
		free(f->retry_after);
		f->retry_after = header_value(p, len, strlen("retry-after:"));
	} else if (header_is(p, len, "content-range:")) {
		char *v = header_value(p, len, strlen("content-range:"));
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
		size_t keep = ERROR_BODY_MAX - f->error_len;
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
	free(f->buf);
	free(f->error_body);
	free(f);
}

static int transfer_begin(struct imaged_fetch *f, br_err *err);

static int
curl_setup_error(struct imaged_fetch *f, CURLcode c, br_err *err)
{
	return br_err_set(err, BR_INTERNAL, "GET %s: %s", f->url, curl_easy_strerror(c));
}

/* Start GET `url`; with `auth`, the registry's bearer token (if it has one) is sent. */
static int
fetch_start(struct imaged_registry *reg, struct imaged_http *http, const char *url,
            const char *accept, bool auth, int64_t max_size, int64_t range_start,
            const struct imaged_cancel *cancel, struct imaged_fetch **ret, br_err *err)
{
	struct imaged_fetch *f = xnew(struct imaged_fetch);

	f->range_start = range_start;
	f->content_range = -1;
	f->reg = reg;
	f->http = http;
	f->url = xstrdup(url);
	f->max_size = max_size;
	f->cancel = cancel;
	f->cap = FETCH_BUFFER;
	f->buf = xmalloc(f->cap);
	if (accept != NULL) {
		_cleanup_free_ char *h = xasprintf("Accept: %s", accept);
		f->headers = curl_slist_append(f->headers, h);
	}
	if (auth) {
		pthread_mutex_lock(&reg->lock);
		if (reg->token != NULL) {
			_cleanup_free_ char *h = xasprintf("Authorization: Bearer %s", reg->token);
			f->headers = curl_slist_append(f->headers, h);
		}
		pthread_mutex_unlock(&reg->lock);
	}
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
	struct imaged_registry *reg = f->reg;
	CURL *e = f->http->easy;
	bool plain = strncmp(f->url, "http://", 7) == 0;
	CURLcode c = CURLE_OK;
	char range[32];
	/* curl's own low-speed abort backs up the stall check of pump(), a little later. */
	long low_speed_s = (long)(reg->stall_ms / 1000) + 2;

	snprintf(range, sizeof(range), "%lld-", (long long)f->range_start);
	curl_easy_reset(e);
#define SET(opt, val)                                      \
	do {                                               \
		if (c == CURLE_OK)                         \
			c = curl_easy_setopt(e, opt, val); \
	} while (0)
	SET(CURLOPT_URL, f->url);
	SET(CURLOPT_HTTPGET, 1L);
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_PROTOCOLS_STR, "http,https");
	SET(CURLOPT_FOLLOWLOCATION, 1L);
	SET(CURLOPT_MAXREDIRS, 10L);
	SET(CURLOPT_REDIR_PROTOCOLS_STR, reg->insecure ? "http,https" : "https");
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
	if (reg->ca_file != NULL) {
		/* The file's CAs in addition to the system's. */
		SET(CURLOPT_CAINFO, reg->ca_file);
		SET(CURLOPT_CAPATH, "/etc/ssl/certs");
	}
#undef SET
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
		mc = curl_multi_poll(m, NULL, 0, POLL_MS, NULL);
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

/* "GET <url>: 404 manifest unknown", from the registry's error document when it sent one. */
static int
http_error(struct imaged_fetch *f, br_err *err)
{
	yajl_val root = NULL, errors = NULL;
	const char *message = NULL;

	if (f->error_body != NULL &&
	    br_json_parse(f->error_body, f->error_len, ERROR_BODY_MAX, "error", &root, NULL) == 0) {
		if (br_json_get_array(root, "", "errors", false, &errors, NULL) == 0 &&
		    errors != NULL && errors->u.array.len > 0 &&
		    YAJL_IS_OBJECT(errors->u.array.values[0]))
			br_json_get_str(errors->u.array.values[0], "errors[0]", "message", false,
			                &message, NULL);
	}
	if (message == NULL || message[0] == '\0')
		message = f->reason[0] != '\0' ? f->reason : "error";
	br_err_set(err, code_of_status(f->status), "GET %s: %ld %s", f->url, f->status, message);
	if (root != NULL)
		yajl_tree_free(root);
	return -1;
}

/* How a finished transfer ended: 0, or -1 with the transport or HTTP error. */
static int
transfer_result(struct imaged_fetch *f, br_err *err)
{
	if (f->result != CURLE_OK) {
		if (f->too_large)
			return too_large_error(f, err);
		return br_err_set(err, BR_UNAVAILABLE, "GET %s: %s", f->url,
		                  f->errbuf[0] ? f->errbuf : curl_easy_strerror(f->result));
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
	if (err->code != BR_UNAVAILABLE || f->too_large)
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

/* ------------------------------------------------------------------ bearer tokens */

/* The value of `key` in a challenge: Bearer realm="...",service="...",scope="..." */
static char *
challenge_param(const char *challenge, const char *key)
{
	const char *p = challenge;
	size_t klen = strlen(key);

	if (strncasecmp(p, "Bearer ", 7) != 0)
		return NULL;
	p += 7;
	while (*p != '\0') {
		while (*p == ' ' || *p == ',')
			p++;
		const char *eq = strchr(p, '=');
		if (eq == NULL)
			return NULL;
		bool match = (size_t)(eq - p) == klen && strncasecmp(p, key, klen) == 0;
		p = eq + 1;
		_cleanup_free_ char *val = xmalloc(strlen(p) + 1);
		size_t n = 0;
		if (*p == '"') {
			for (p++; *p != '\0' && *p != '"'; p++) {
				if (*p == '\\' && p[1] != '\0')
					p++;
				val[n++] = *p;
			}
			if (*p == '"')
				p++;
		} else {
			while (*p != '\0' && *p != ',')
				val[n++] = *p++;
		}
		val[n] = '\0';
		if (match)
			return br_steal_ptr(&val);
	}
	return NULL;
}

/* Anonymous token flow: GET realm?service=...&scope=... and keep the token it answers. */
static int
fetch_token(struct imaged_registry *reg, struct imaged_http *http, const char *challenge,
            const struct imaged_cancel *cancel, br_err *err)
{
	_cleanup_free_ char *realm = challenge_param(challenge, "realm");
	_cleanup_free_ char *service = challenge_param(challenge, "service");
	_cleanup_free_ char *scope = challenge_param(challenge, "scope");
	_cleanup_free_ char *body = NULL;
	struct imaged_fetch *f = NULL;
	yajl_val root = NULL;
	const char *token = NULL;
	size_t len;

	if (realm == NULL || (strncmp(realm, "https://", 8) != 0 &&
	                      !(reg->insecure && strncmp(realm, "http://", 7) == 0)))
		return br_err_set(err, BR_PERMISSION_DENIED,
		                  "%s: authentication required, and the challenge names no usable "
		                  "token realm (%s)",
		                  reg->url, challenge);
	if (scope == NULL)
		scope = xasprintf("repository:%s:pull", reg->repo);
	char *esc_service = curl_easy_escape(http->easy, service ? service : "", 0);
	char *esc_scope = curl_easy_escape(http->easy, scope, 0);
	_cleanup_free_ char *url =
	        xasprintf("%s%sservice=%s&scope=%s", realm, strchr(realm, '?') ? "&" : "?",
	                  esc_service ? esc_service : "", esc_scope ? esc_scope : "");
	curl_free(esc_service);
	curl_free(esc_scope);

	if (fetch_start(reg, http, url, "application/json", false, TOKEN_MAX, 0, cancel, &f, err) <
	    0)
		return -1;
	int rc = await_status(f, err);
	if (rc == 0)
		rc = read_all(f, &body, &len, err);
	fetch_free(f);
	if (rc < 0)
		return br_err_wrap(err, "get a token");
	if (br_json_parse(body, len, TOKEN_MAX, "token response", &root, err) < 0)
		return br_err_wrap(err, "GET %s", url);
	br_json_get_str(root, "", "token", false, &token, NULL);
	if (token == NULL || token[0] == '\0')
		br_json_get_str(root, "", "access_token", false, &token, NULL);
	if (token == NULL || token[0] == '\0' || strpbrk(token, "\r\n") != NULL) {
		yajl_tree_free(root);
		return br_err_set(err, BR_PERMISSION_DENIED, "GET %s: the answer holds no token",
		                  url);
	}
	pthread_mutex_lock(&reg->lock);
	free(reg->token);
	reg->token = xstrdup(token);
	pthread_mutex_unlock(&reg->lock);
	yajl_tree_free(root);
	return 0;
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
 * One request for `url` (with the registry's token when `auth`), a 401 answered once with a
 * bearer token and a refused range with a request for the whole body. When the request was
 * made and failed, *ret_failed gets its response (the caller's), for the retry to judge.
 */
static int
open_once(struct imaged_registry *reg, struct imaged_http *http, const char *url,
          const char *accept, bool auth, int64_t max_size, int64_t offset,
          const struct imaged_cancel *cancel, struct imaged_fetch **ret,
          struct imaged_fetch **ret_failed, br_err *err)
{
	bool token_tried = false;

	for (;;) {
		struct imaged_fetch *f = NULL;
		if (fetch_start(reg, http, url, accept, auth, max_size, offset, cancel, &f, err) <
		    0)
			return -1;
		int rc = await_status(f, err);
		if (rc < 0 && auth && f->status == 401 && !token_tried &&
		    f->www_authenticate != NULL &&
		    strncasecmp(f->www_authenticate, "Bearer ", 7) == 0) {
			_cleanup_free_ char *challenge = xstrdup(f->www_authenticate);
			fetch_free(f);
			token_tried = true;
			if (fetch_token(reg, http, challenge, cancel, err) < 0)
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

/* open_once, made again while it fails in a way that may pass (retry_wait). */
static int
open_retrying(struct imaged_registry *reg, struct imaged_http *http, const char *url,
              const char *accept, bool auth, int64_t max_size, int64_t offset,
              const struct imaged_cancel *cancel, struct imaged_fetch **ret, br_err *err)
{
	int failures = 0;

	http->idle_since = br_now_ms();
	for (;;) {
		struct imaged_fetch *f = NULL, *failed = NULL;
		if (open_once(reg, http, url, accept, auth, max_size, offset, cancel, &f, &failed,
		              err) == 0) {
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

int
imaged_fetch_open_at(struct imaged_registry *reg, struct imaged_http *http, const char *path,
                     const char *accept, int64_t max_size, int64_t offset,
                     const struct imaged_cancel *cancel, struct imaged_fetch **ret, br_err *err)
{
	_cleanup_free_ char *url = xasprintf("%s/%s", reg->url, path);

	return open_retrying(reg, http, url, accept, true, max_size, offset, cancel, ret, err);
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
	return open_retrying(reg, http, url, NULL, false, max_size, offset, cancel, ret, err);
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
	if (transfer_begin(f, err) < 0)
		return -1;
	return await_status(f, err);
}

/*
 * f's body broke off (err says how): continue it from the first byte the reader has not had,
 * with a Range request; a registry that sends the whole body instead (or cannot serve the
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
		if (!retry_wait(f, &f->failures, err))
			return -1;
		int rc = restart(f, f->body_start + f->received, err);
		if (range_refused(f, rc))
			rc = restart(f, 0, err);
		if (rc == 0)
			return 0;
	}
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
