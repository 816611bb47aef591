/* SPDX-License-Identifier: Apache-2.0 */
/*
 * General requests of the registry client for uploads (registry.h, "requests"): a method, a
 * body pulled from the caller through curl's read callback (one chunk of the caller's held at
 * a time), and the response headers of the upload protocol. They go to the registry's push
 * endpoint with its authentication and TLS settings (registry_int.h). Kept apart from the
 * fetches of registry.c, which are shaped around reading a body at the reader's pace.
 */
#include "imaged/registry.h"
#include "imaged/registry_int.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "common/cleanup.h"
#include "common/xalloc.h"

struct request_state {
	const struct imaged_request *req;
	const struct imaged_cancel *cancel;
	const char *url;
	struct imaged_response resp;
	char *www_authenticate;
	char reason[96];
	char *error_body;
	size_t error_len;
	const unsigned char *chunk; /* what the body function gave and curl has not taken */
	size_t chunk_len;
	int64_t sent;
	bool body_failed, canceled;
	br_err body_err;
	char errbuf[CURL_ERROR_SIZE];
};

void
imaged_response_fini(struct imaged_response *r)
{
	if (r == NULL)
		return;
	free(r->location);
	free(r->range);
	free(r->upload_uuid);
	free(r->docker_digest);
	*r = (struct imaged_response){.content_length = -1};
}

static void
request_reset_headers(struct request_state *s)
{
	imaged_response_fini(&s->resp);
	free(s->www_authenticate);
	s->www_authenticate = NULL;
	s->reason[0] = '\0';
}

static size_t
request_header_cb(char *p, size_t size, size_t n, void *data)
{
	struct request_state *s = data;
	size_t len = size * n;

	if (len >= 5 && strncmp(p, "HTTP/", 5) == 0) {
		request_reset_headers(s);
		imaged_header_status(p, len, s->reason, sizeof(s->reason));
	} else {
		(void)(imaged_header_take(p, len, "location:", &s->resp.location) ||
		       imaged_header_take(p, len, "range:", &s->resp.range) ||
		       imaged_header_take(p, len, "docker-upload-uuid:", &s->resp.upload_uuid) ||
		       imaged_header_take(p, len,
		                          "docker-content-digest:", &s->resp.docker_digest) ||
		       imaged_header_challenge(p, len, &s->www_authenticate));
	}
	return len;
}

/* A response body: kept (bounded) for an error's message, otherwise dropped. */
static size_t
request_write_cb(char *p, size_t size, size_t n, void *data)
{
	struct request_state *s = data;
	size_t len = size * n, keep = IMAGED_ERROR_BODY_MAX - s->error_len;

	if (keep > len)
		keep = len;
	if (keep > 0) {
		s->error_body = xrealloc(s->error_body, s->error_len + keep + 1);
		memcpy(s->error_body + s->error_len, p, keep);
		s->error_len += keep;
		s->error_body[s->error_len] = '\0';
	}
	return len;
}

/* The request body, from the caller's body function, never past req->body_len. */
static size_t
request_read_cb(char *buf, size_t size, size_t n, void *data)
{
	struct request_state *s = data;
	const struct imaged_request *req = s->req;
	size_t room = size * n;

	if (imaged_canceled(s->cancel)) {
		s->canceled = true;
		return CURL_READFUNC_ABORT;
	}
	if (s->sent >= req->body_len)
		return 0;
	if (s->chunk_len == 0) {
		const void *chunk = NULL;
		ssize_t got = req->body(req->body_data, &chunk, &s->body_err);
		if (got < 0) {
			s->body_failed = true;
			return CURL_READFUNC_ABORT;
		}
		if (got == 0) {
			br_err_set(&s->body_err, BR_FAILED_PRECONDITION,
			           "%s %s: the body ended after %lld of %lld bytes", req->method,
			           s->url, (long long)s->sent, (long long)req->body_len);
			s->body_failed = true;
			return CURL_READFUNC_ABORT;
		}
		s->chunk = chunk;
		s->chunk_len = (size_t)got;
	}
	size_t take = s->chunk_len;
	if (take > room)
		take = room;
	if ((int64_t)take > req->body_len - s->sent)
		take = (size_t)(req->body_len - s->sent);
	memcpy(buf, s->chunk, take);
	s->chunk += take;
	s->chunk_len -= take;
	s->sent += (int64_t)take;
	return take;
}

/* The endpoint pushes go to: the first that can push (the registry itself unless a mirror
 * was configured with "push"). */
static struct imaged_endpoint *
push_endpoint(struct imaged_registry *reg)
{
	for (size_t i = 0; i < reg->n_eps; i++)
		if (reg->eps[i].capabilities & BR_REGISTRY_PUSH)
			return &reg->eps[i];
	return &reg->eps[reg->n_eps - 1];
}

/* "https://host:port" of endpoint `ep` (heap). */
static char *
endpoint_origin(const struct imaged_endpoint *ep)
{
	const char *host = strstr(ep->url, "://") + 3;
	const char *slash = strchr(host, '/');

	return xstrndup(ep->url, slash ? (size_t)(slash - ep->url) : strlen(ep->url));
}

/* Whether `url` is on endpoint `ep`'s own scheme, host and port. */
static bool
same_origin(const struct imaged_endpoint *ep, const char *url)
{
	_cleanup_free_ char *origin = endpoint_origin(ep);
	size_t n = strlen(origin);

	return strncasecmp(url, origin, n) == 0 && (url[n] == '/' || url[n] == '\0');
}

static int
request_setup(struct imaged_registry *reg, struct imaged_endpoint *ep, struct imaged_http *http,
              struct request_state *s, struct curl_slist **headers, uint64_t *ret_gen, br_err *err)
{
	const struct imaged_request *req = s->req;
	CURL *e = http->easy;
	bool plain = strncmp(s->url, "http://", 7) == 0;
	CURLcode c = CURLE_OK;

	/* No "Expect: 100-continue": registries answer the request as a whole. */
	*headers = curl_slist_append(*headers, "Expect:");
	if (req->content_type != NULL) {
		_cleanup_free_ char *h = xasprintf("Content-Type: %s", req->content_type);
		*headers = curl_slist_append(*headers, h);
	}
	if (req->content_range != NULL) {
		_cleanup_free_ char *h = xasprintf("Content-Range: %s", req->content_range);
		*headers = curl_slist_append(*headers, h);
	}
	/* The token or credentials are the registry's: never sent to another host a Location
	 * points to (blob storage), which has its own way of authorizing the upload. */
	_cleanup_free_ char *auth = imaged_auth_line(reg, ep, ret_gen);
	if (auth != NULL && same_origin(ep, s->url))
		*headers = curl_slist_append(*headers, auth);
	if (auth != NULL)
		explicit_bzero(auth, strlen(auth));

	curl_easy_reset(e);
#define SET(opt, val)                                      \
	do {                                               \
		if (c == CURLE_OK)                         \
			c = curl_easy_setopt(e, opt, val); \
	} while (0)
	SET(CURLOPT_URL, s->url);
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_PROTOCOLS_STR, "http,https");
	SET(CURLOPT_HTTP_VERSION,
	    plain ? (long)CURL_HTTP_VERSION_1_1 : (long)CURL_HTTP_VERSION_2TLS);
	SET(CURLOPT_CONNECTTIMEOUT, 30L);
	SET(CURLOPT_LOW_SPEED_LIMIT, 1L);
	SET(CURLOPT_LOW_SPEED_TIME, 300L);
	SET(CURLOPT_USERAGENT, "berth/" BR_VERSION);
	SET(CURLOPT_HTTPHEADER, *headers);
	SET(CURLOPT_WRITEFUNCTION, request_write_cb);
	SET(CURLOPT_WRITEDATA, s);
	SET(CURLOPT_HEADERFUNCTION, request_header_cb);
	SET(CURLOPT_HEADERDATA, s);
	SET(CURLOPT_ERRORBUFFER, s->errbuf);
	if (strcmp(req->method, "HEAD") == 0) {
		/* A registry may answer for a blob with a redirect to its storage, as for a GET;
		 * curl sends the Authorization header to no other host. */
		SET(CURLOPT_NOBODY, 1L);
		SET(CURLOPT_FOLLOWLOCATION, 1L);
		SET(CURLOPT_MAXREDIRS, 10L);
		SET(CURLOPT_REDIR_PROTOCOLS_STR, ep->insecure ? "http,https" : "https");
	} else {
		/* Every other method sends a body, perhaps empty (Content-Length: 0). */
		SET(CURLOPT_UPLOAD, 1L);
		SET(CURLOPT_INFILESIZE_LARGE, (curl_off_t)req->body_len);
		SET(CURLOPT_READFUNCTION, request_read_cb);
		SET(CURLOPT_READDATA, s);
		if (strcmp(req->method, "PUT") != 0)
			SET(CURLOPT_CUSTOMREQUEST, req->method);
	}
#undef SET
	if (c == CURLE_OK)
		c = imaged_set_tls(e, ep);
	if (c != CURLE_OK)
		return br_err_set(err, BR_INTERNAL, "%s %s: %s", req->method, s->url,
		                  curl_easy_strerror(c));
	return 0;
}

/* Run the transfer to its end: 0 when an HTTP response came (s->resp.status), -1 otherwise. */
static int
request_perform(struct imaged_http *http, struct request_state *s, br_err *err)
{
	const struct imaged_request *req = s->req;
	CURLMcode mc = curl_multi_add_handle(http->multi, http->easy);
	CURLcode result = CURLE_OK;
	bool done = false;
	int running, left;
	CURLMsg *msg;

	if (mc != CURLM_OK)
		return br_err_set(err, BR_INTERNAL, "%s %s: %s", req->method, s->url,
		                  curl_multi_strerror(mc));
	while (!done && mc == CURLM_OK) {
		if (imaged_canceled(s->cancel)) {
			s->canceled = true;
			break;
		}
		mc = curl_multi_perform(http->multi, &running);
		while (mc == CURLM_OK && (msg = curl_multi_info_read(http->multi, &left)) != NULL) {
			if (msg->msg == CURLMSG_DONE && msg->easy_handle == http->easy) {
				done = true;
				result = msg->data.result;
			}
		}
		if (!done && mc == CURLM_OK)
			mc = curl_multi_poll(http->multi, NULL, 0, IMAGED_POLL_MS, NULL);
	}
	curl_multi_remove_handle(http->multi, http->easy);
	if (s->canceled)
		return br_err_set(err, BR_CANCELED, "%s %s: canceled", req->method, s->url);
	if (s->body_failed) {
		br_err_copy(err, &s->body_err);
		return br_err_wrap(err, "%s %s", req->method, s->url);
	}
	if (mc != CURLM_OK)
		return br_err_set(err, BR_INTERNAL, "%s %s: %s", req->method, s->url,
		                  curl_multi_strerror(mc));
	if (result != CURLE_OK)
		return br_err_set(err, BR_UNAVAILABLE, "%s %s: %s", req->method, s->url,
		                  s->errbuf[0] ? s->errbuf : curl_easy_strerror(result));
	curl_easy_getinfo(http->easy, CURLINFO_RESPONSE_CODE, &s->resp.status);
	curl_off_t cl = -1;
	if (curl_easy_getinfo(http->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl) == CURLE_OK)
		s->resp.content_length = cl;
	return 0;
}

/* "PUT <url>: 400 manifest invalid", from the registry's error document when it sent one. */
static int
request_error(const struct request_state *s, br_err *err)
{
	return imaged_registry_error(s->req->method, s->url, s->resp.status, s->reason,
	                             s->error_body, s->error_len, err);
}

static void
request_state_fini(struct request_state *s)
{
	request_reset_headers(s);
	free(s->error_body);
	s->error_body = NULL;
	s->error_len = 0;
}

int
imaged_registry_request(struct imaged_registry *reg, struct imaged_http *http,
                        const struct imaged_request *req, const struct imaged_cancel *cancel,
                        struct imaged_response *ret, br_err *err)
{
	struct imaged_endpoint *ep = push_endpoint(reg);
	_cleanup_free_ char *url =
	        req->url ? xstrdup(req->url) : xasprintf("%s/%s", ep->url, req->path);
	struct imaged_auth_attempt attempt = {false, false};

	if (req->body_len > 0 && req->body == NULL)
		return br_err_set(err, BR_INTERNAL, "%s %s: a body without a source", req->method,
		                  url);
	for (;;) {
		struct request_state s = {.req = req, .cancel = cancel, .url = url};
		struct curl_slist *headers = NULL;
		uint64_t gen = 0;
		s.resp.content_length = -1;
		int rc = request_setup(reg, ep, http, &s, &headers, &gen, err);
		if (rc == 0)
			rc = request_perform(http, &s, err);
		curl_slist_free_all(headers);
		if (rc < 0) {
			request_state_fini(&s);
			return -1;
		}
		long st = s.resp.status;
		/* A request with a body is not sent again: its source was read. The upload
		 * protocol starts with bodiless requests (HEAD, POST), which meet the challenge
		 * first. */
		if (st == 401 && req->body_len == 0 && same_origin(ep, url)) {
			_cleanup_free_ char *challenge =
			        s.www_authenticate ? xstrdup(s.www_authenticate) : NULL;
			request_state_fini(&s);
			if (imaged_auth_answer(reg, ep, http, challenge, gen, &attempt, cancel,
			                       err) < 0)
				return br_err_wrap(err, "%s %s", req->method, url);
			continue;
		}
		if ((st >= 200 && st < 300) || (st == 404 && req->not_found_ok)) {
			*ret = s.resp;
			s.resp = (struct imaged_response){.content_length = -1};
			request_state_fini(&s);
			return 0;
		}
		request_error(&s, err);
		request_state_fini(&s);
		return -1;
	}
}

const char *
imaged_registry_repo(const struct imaged_registry *reg)
{
	return reg->repo;
}

const char *
imaged_registry_host(const struct imaged_registry *reg)
{
	return reg->host;
}

#define LOCATION_MAX 4096

int
imaged_location_resolve(const char *origin, bool insecure, const char *location, char **ret,
                        br_err *err)
{
	size_t len;

	if (location == NULL || location[0] == '\0')
		return br_err_set(err, BR_INVALID_ARGUMENT, "the registry sent no Location");
	len = strnlen(location, LOCATION_MAX + 1);
	if (len > LOCATION_MAX)
		return br_err_set(err, BR_INVALID_ARGUMENT, "Location: longer than %d bytes",
		                  LOCATION_MAX);
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)location[i];
		if (ch <= 0x20 || ch >= 0x7f)
			return br_err_set(err, BR_INVALID_ARGUMENT,
			                  "Location: a space or control character at byte %zu", i);
	}
	if (location[0] == '/' && location[1] != '/') {
		*ret = xasprintf("%s%s", origin, location);
		return 0;
	}
	if (strncasecmp(location, "https://", 8) == 0 ||
	    (insecure && strncasecmp(location, "http://", 7) == 0)) {
		const char *host = strstr(location, "://") + 3;
		if (*host == '\0' || *host == '/')
			return br_err_set(err, BR_INVALID_ARGUMENT, "Location %s: no host",
			                  location);
		*ret = xstrdup(location);
		return 0;
	}
	return br_err_set(err, BR_INVALID_ARGUMENT, "Location %.200s: neither a path nor an %s URL",
	                  location, insecure ? "http(s)" : "https");
}

int
imaged_registry_location(struct imaged_registry *reg, const char *location, char **ret, br_err *err)
{
	const struct imaged_endpoint *ep = push_endpoint(reg);
	_cleanup_free_ char *origin = endpoint_origin(ep);

	return imaged_location_resolve(origin, ep->insecure, location, ret, err);
}

/* A decimal of at most 18 digits (no sign, no overflow) at *p; advances *p. */
static bool
range_number(const char **p, int64_t *ret)
{
	int64_t v = 0;
	int digits = 0;

	while (**p >= '0' && **p <= '9') {
		if (++digits > 18)
			return false;
		v = v * 10 + (**p - '0');
		(*p)++;
	}
	*ret = v;
	return digits > 0;
}

int
imaged_upload_range_next(const char *range, int64_t max, int64_t *ret, br_err *err)
{
	const char *p = range;
	int64_t start, end;

	if (p == NULL)
		return br_err_set(err, BR_INVALID_ARGUMENT, "the registry sent no Range");
	if (strnlen(p, 64) >= 64)
		return br_err_set(err, BR_INVALID_ARGUMENT, "Range: too long");
	if (strncasecmp(p, "bytes=", 6) == 0)
		p += 6;
	if (!range_number(&p, &start) || *p++ != '-' || !range_number(&p, &end) || *p != '\0')
		return br_err_set(err, BR_INVALID_ARGUMENT, "Range \"%s\": not START-END", range);
	if (start != 0 || end < start)
		return br_err_set(err, BR_INVALID_ARGUMENT,
		                  "Range \"%s\": an upload's range starts at 0", range);
	if (end >= max)
		return br_err_set(err, BR_INVALID_ARGUMENT,
		                  "Range \"%s\": past the %lld bytes sent", range, (long long)max);
	*ret = end + 1;
	return 0;
}

int
imaged_upload_advance(int64_t offset, int64_t len, const char *range, int64_t *ret, br_err *err)
{
	int64_t next = offset + len;

	if (range != NULL && imaged_upload_range_next(range, offset + len, &next, err) < 0)
		return -1;
	if (next <= offset)
		return br_err_set(err, BR_UNAVAILABLE,
		                  "the registry holds %lld bytes after a PATCH of bytes %lld-%lld",
		                  (long long)next, (long long)offset,
		                  (long long)(offset + len - 1));
	*ret = next;
	return 0;
}

char *
imaged_url_add_query(const char *url, const char *key, const char *value)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = strlen(value);
	_cleanup_free_ char *esc = xmalloc(3 * n + 1);
	size_t j = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)value[i];
		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' || ch == '_' || ch == '~') {
			esc[j++] = (char)ch;
		} else {
			esc[j++] = '%';
			esc[j++] = hex[ch >> 4];
			esc[j++] = hex[ch & 15];
		}
	}
	esc[j] = '\0';
	return xasprintf("%s%s%s=%s", url, strchr(url, '?') ? "&" : "?", key, esc);
}
