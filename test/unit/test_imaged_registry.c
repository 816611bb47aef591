/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The registry client (imaged/registry.c) against a small HTTP/1.1 server run in a thread of
 * the test, which answers canned registry responses: manifests with and without a matching
 * Docker-Content-Digest, registry error documents, the anonymous bearer-token flow, a
 * redirect, a large blob read slowly through the pull interface, and blobs fetched from an
 * offset (HTTP Range) from registries that serve the range, ignore it, refuse it (416) or
 * answer with another part.
 *
 * Resumed pulls run the real berth-contentd, berth-snapshotd and berth-imaged against that
 * server, with an ingest left in contentd as an interrupted pull leaves it: part of the blob,
 * or all of it but uncommitted, right or wrong bytes. (Pulls from a real registry are covered
 * by the integration suite.)
 */
#include <archive.h>
#include <archive_entry.h>
#include <arpa/inet.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/config.h"
#include "common/digest.h"
#include "common/loop.h"
#include "common/oci.h"
#include "common/proto/content.h"
#include "common/proto/images.h"
#include "common/ref.h"
#include "imaged/registry.h"
#include "imaged/retry.h"
#include "test/unit/t.h"
#include "test/unit/t_http.h"
#include "test/unit/t_daemon.h"

#define BIG_SIZE (5u << 20)
#define MANIFEST "{\"schemaVersion\":2,\"layers\":[]}"

static int port;
static char manifest_digest[BR_DIGEST_BUF];
static unsigned char *big;
static int token_requests;
/* imaged.retry_attempts and imaged.job_stall_timeout_ms of the clients a case opens */
static int client_attempts = 1;
static int client_stall_ms = 60000;
/* Requests of the "flaky" paths answered so far, and how many of them fail. */
static int flaky_seen, flaky_failures;

/* How a blob is served to a request with "Range: bytes=N-". */
enum range_mode {
	RANGE_SERVE,     /* 206 with the rest, 416 from the end on */
	RANGE_IGNORE,    /* 200 with the whole body */
	RANGE_REFUSE,    /* 416, always */
	RANGE_ELSEWHERE, /* 206 with another part: the whole body, from byte 0 */
};

/* Documents and blobs of the images pulled by the daemons (served), and every request the
 * server answered (requests): under `lock`, shared by the server thread and the case. */
struct served {
	char path[256];
	const void *data;
	size_t len;
	bool manifest;
};
struct request {
	char path[256];
	char range[64]; /* "" without a Range header */
};
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct served served[16];
static size_t n_served;
static enum range_mode pull_ranges; /* for the served blobs */
static struct request requests[256];
static size_t n_requests;

static void
respond_str(int fd, int status, const char *reason, const char *headers, const char *body)
{
	t_http_respond(fd, status, reason, headers, body, strlen(body));
}

/* Requests for `path` that came with Range header `range` ("": without one). */
static int
count_requests(const char *path, const char *range)
{
	int n = 0;

	pthread_mutex_lock(&lock);
	for (size_t i = 0; i < n_requests; i++)
		n += strcmp(requests[i].path, path) == 0 && strcmp(requests[i].range, range) == 0;
	pthread_mutex_unlock(&lock);
	return n;
}

/* Requests for `path`, with a Range or without. */
static int
count_all_requests(const char *path)
{
	int n = 0;

	pthread_mutex_lock(&lock);
	for (size_t i = 0; i < n_requests; i++)
		n += strcmp(requests[i].path, path) == 0;
	pthread_mutex_unlock(&lock);
	return n;
}

static void
serve_blob(int fd, const char *range, enum range_mode mode, const void *data, size_t len)
{
	char hdr[256];
	long long start = -1;

	if (range[0] == '\0' || mode == RANGE_IGNORE) {
		t_http_respond(fd, 200, "OK", NULL, data, len);
		return;
	}
	if (mode == RANGE_ELSEWHERE) {
		snprintf(hdr, sizeof(hdr), "Content-Range: bytes 0-%zu/%zu\r\n", len - 1, len);
		t_http_respond(fd, 206, "Partial Content", hdr, data, len);
		return;
	}
	if (mode == RANGE_REFUSE || sscanf(range, "bytes=%lld-", &start) != 1 || start < 0 ||
	    (size_t)start >= len) {
		snprintf(hdr, sizeof(hdr), "Content-Range: bytes */%zu\r\n", len);
		respond_str(fd, 416, "Range Not Satisfiable", hdr, "");
		return;
	}
	snprintf(hdr, sizeof(hdr), "Content-Range: bytes %lld-%zu/%zu\r\n", start, len - 1, len);
	t_http_respond(fd, 206, "Partial Content", hdr, (const unsigned char *)data + start,
	               len - (size_t)start);
}

/* Headers for all that `range` asks for of `data`, then only `cut` bytes of it and the end of
 * the connection: a body that breaks off. */
static void
serve_cut(int fd, const char *range, const unsigned char *data, size_t len, size_t cut)
{
	char head[512];
	long long start = 0;
	int n;

	if (range[0] != '\0' && sscanf(range, "bytes=%lld-", &start) == 1 && start >= 0 &&
	    (size_t)start < len)
		n = snprintf(head, sizeof(head),
		             "HTTP/1.1 206 Partial Content\r\nContent-Length: %zu\r\n"
		             "Content-Range: bytes %lld-%zu/%zu\r\nConnection: close\r\n\r\n",
		             len - (size_t)start, start, len - 1, len);
	else
		n = snprintf(head, sizeof(head),
		             "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
		             len),
		start = 0;
	t_http_send_all(fd, head, (size_t)n);
	t_http_send_all(fd, data + start, cut < len - (size_t)start ? cut : len - (size_t)start);
}

/* Whether this request of a flaky path is one of those that fail. */
static bool
flaky_fails(void)
{
	pthread_mutex_lock(&lock);
	bool fail = flaky_seen++ < flaky_failures;
	pthread_mutex_unlock(&lock);
	return fail;
}

/* A document or blob of a pulled image: true when `path` is one. */
static bool
serve_image(int fd, const char *path, const char *range)
{
	pthread_mutex_lock(&lock);
	enum range_mode mode = pull_ranges;
	struct served *s = NULL;
	for (size_t i = 0; i < n_served && s == NULL; i++)
		if (strcmp(served[i].path, path) == 0)
			s = &served[i];
	pthread_mutex_unlock(&lock);
	if (s == NULL)
		return false;
	if (s->manifest)
		t_http_respond(fd, 200, "OK", "Content-Type: " BR_MT_OCI_MANIFEST "\r\n", s->data,
		               s->len);
	else
		serve_blob(fd, range, mode, s->data, s->len);
	return true;
}

static void
serve_one(int fd)
{
	char req[8192];
	size_t len = 0;
	char method[16], path[2048], hdr[512], range[64];

	req[0] = '\0';

	while (len < sizeof(req) - 1 && strstr(req, "\r\n\r\n") == NULL) {
		ssize_t n = recv(fd, req + len, sizeof(req) - 1 - len, 0);
		if (n <= 0)
			return;
		len += (size_t)n;
		req[len] = '\0';
	}
	if (sscanf(req, "%15s %2047s", method, path) != 2)
		return;
	bool authorized = strstr(req, "Authorization: Bearer tok123") != NULL;
	t_http_header(req, "Range", range, sizeof(range));
	pthread_mutex_lock(&lock);
	if (n_requests < sizeof(requests) / sizeof(requests[0])) {
		snprintf(requests[n_requests].path, sizeof(requests[0].path), "%.255s", path);
		snprintf(requests[n_requests].range, sizeof(requests[0].range), "%s", range);
		n_requests++;
	}
	pthread_mutex_unlock(&lock);

	if (serve_image(fd, path, range)) {
		return;
	} else if (strcmp(path, "/v2/test/x/manifests/latest") == 0) {
		snprintf(hdr, sizeof(hdr),
		         "Content-Type: application/vnd.oci.image.manifest.v1+json\r\n"
		         "Docker-Content-Digest: %s\r\n",
		         manifest_digest);
		respond_str(fd, 200, "OK", hdr, MANIFEST);
	} else if (strcmp(path, "/v2/test/x/manifests/lying") == 0) {
		respond_str(fd, 200, "OK",
		            "Docker-Content-Digest: sha256:"
		            "0000000000000000000000000000000000000000000000000000000000000000\r\n",
		            MANIFEST);
	} else if (strcmp(path, "/v2/test/x/manifests/nope") == 0) {
		respond_str(fd, 404, "Not Found", "Content-Type: application/json\r\n",
		            "{\"errors\":[{\"code\":\"MANIFEST_UNKNOWN\",\"message\":\"manifest "
		            "unknown\",\"detail\":{}}]}");
	} else if (strcmp(path, "/v2/test/x/manifests/plain404") == 0) {
		respond_str(fd, 404, "Not Found", NULL, "");
	} else if (strcmp(path, "/v2/test/x/manifests/boom") == 0) {
		respond_str(fd, 503, "Service Unavailable", NULL, "down");
	} else if (strcmp(path, "/v2/test/x/manifests/busy") == 0) {
		if (flaky_fails())
			respond_str(fd, 503, "Service Unavailable", "Retry-After: 1\r\n", "busy");
		else
			respond_str(fd, 200, "OK", NULL, MANIFEST);
	} else if (strcmp(path, "/v2/test/x/manifests/limited") == 0) {
		respond_str(fd, 429, "Too Many Requests", "Retry-After: 0\r\n", "slow down");
	} else if (strcmp(path, "/v2/test/x/blobs/cut") == 0) {
		if (flaky_fails())
			serve_cut(fd, range, big, BIG_SIZE, 1u << 20);
		else
			serve_blob(fd, range, RANGE_SERVE, big, BIG_SIZE);
	} else if (strcmp(path, "/v2/test/x/blobs/cut-ignore") == 0) {
		if (flaky_fails())
			serve_cut(fd, range, big, BIG_SIZE, 1u << 20);
		else
			serve_blob(fd, range, RANGE_IGNORE, big, BIG_SIZE);
	} else if (strcmp(path, "/v2/test/x/blobs/cut-then-nothing") == 0) {
		pthread_mutex_lock(&lock);
		bool first = flaky_seen++ == 0;
		pthread_mutex_unlock(&lock);
		serve_cut(fd, range, big, BIG_SIZE, first ? 1u << 20 : 0);
	} else if (strcmp(path, "/v2/test/x/manifests/silent") == 0) {
		sleep(3);
	} else if (strcmp(path, "/v2/test/x/blobs/stall") == 0) {
		serve_cut(fd, "", big, BIG_SIZE, 1000);
		sleep(3);
	} else if (strcmp(path, "/v2/test/x/manifests/huge") == 0) {
		t_http_respond(fd, 200, "OK", NULL, big, BR_OCI_MAX_DOC + 10);
	} else if (strncmp(path, "/v2/auth/x/", 11) == 0) {
		if (!authorized) {
			snprintf(hdr, sizeof(hdr),
			         "WWW-Authenticate: Bearer realm=\"http://127.0.0.1:%d/token\","
			         "service=\"reg\",scope=\"repository:auth/x:pull\"\r\n",
			         port);
			respond_str(fd, 401, "Unauthorized", hdr,
			            "{\"errors\":[{\"code\":\"UNAUTHORIZED\",\"message\":"
			            "\"authentication "
			            "required\"}]}");
		} else {
			respond_str(fd, 200, "OK", NULL, MANIFEST);
		}
	} else if (strncmp(path, "/token?", 7) == 0) {
		token_requests++;
		if (strstr(path, "service=reg") &&
		    strstr(path, "scope=repository%3Aauth%2Fx%3Apull"))
			respond_str(fd, 200, "OK", NULL, "{\"token\":\"tok123\"}");
		else
			respond_str(fd, 400, "Bad Request", NULL, "{}");
	} else if (strcmp(path, "/v2/test/x/blobs/big") == 0) {
		serve_blob(fd, range, RANGE_IGNORE, big, BIG_SIZE);
	} else if (strcmp(path, "/v2/test/x/blobs/ranged") == 0) {
		serve_blob(fd, range, RANGE_SERVE, big, BIG_SIZE);
	} else if (strcmp(path, "/v2/test/x/blobs/refused") == 0) {
		serve_blob(fd, range, RANGE_REFUSE, big, BIG_SIZE);
	} else if (strcmp(path, "/v2/test/x/blobs/elsewhere") == 0) {
		serve_blob(fd, range, RANGE_ELSEWHERE, big, BIG_SIZE);
	} else if (strcmp(path, "/v2/test/x/blobs/moved") == 0) {
		respond_str(fd, 307, "Temporary Redirect", "Location: /v2/test/x/blobs/big\r\n",
		            "");
	} else {
		respond_str(fd, 404, "Not Found", NULL, "");
	}
}

/* Start the server; every case runs in its own process, so each gets its own. */
static void
start_server(void)
{
	br_err err = BR_ERR_INIT;

	big = malloc(BR_OCI_MAX_DOC + BIG_SIZE);
	T_NOT_NULL(big);
	for (size_t i = 0; i < BR_OCI_MAX_DOC + BIG_SIZE; i++)
		big[i] = (unsigned char)(i * 2654435761u >> 13);
	br_digest_buf(MANIFEST, strlen(MANIFEST), manifest_digest);
	port = t_http_start(serve_one);
	T_NOERR(imaged_http_global_init(&err), err);
}

struct client {
	struct br_config *cfg;
	struct br_ref *ref;
	struct imaged_registry *reg;
	struct imaged_http *http;
};

static void
client_open(struct client *c, const char *repo, bool insecure)
{
	char json[256], name[256];
	br_err err = BR_ERR_INIT;

	snprintf(json, sizeof(json),
	         "{\"imaged\": {\"registries\": [{\"host\": \"127.0.0.1:%d\", \"insecure\": %s}], "
	         "\"retry_attempts\": %d, \"retry_max_delay_ms\": 2000, "
	         "\"job_stall_timeout_ms\": %d}}",
	         port, insecure ? "true" : "false", client_attempts, client_stall_ms);
	T_NOERR(br_config_parse(json, strlen(json), "test", &c->cfg, &err), err);
	snprintf(name, sizeof(name), "127.0.0.1:%d/%s", port, repo);
	T_NOERR(br_ref_parse(name, &c->ref, &err), err);
	c->reg = imaged_registry_new(c->cfg, c->ref);
	c->http = imaged_http_new();
}

static void
check_msg(const br_err *err, const char *needle)
{
	if (strstr(err->msg, needle) == NULL)
		T_FAIL_("error \"%s\" does not contain \"%s\"", err->msg, needle);
}

static void
test_manifest(void)
{
	struct client c;
	char *body = NULL, *mt = NULL, digest[BR_DIGEST_BUF], want[512];
	size_t len;
	br_err err = BR_ERR_INIT;

	start_server();
	client_open(&c, "test/x", true);
	snprintf(want, sizeof(want), "http://127.0.0.1:%d/v2/test/x", port);
	T_EQ_STR(imaged_registry_url(c.reg), want);
	T_NOERR(imaged_registry_get_manifest(c.reg, c.http, "latest", NULL, &body, &len, &mt,
	                                     digest, &err),
	        err);
	T_EQ_STR(body, MANIFEST);
	T_EQ_INT(len, strlen(MANIFEST));
	T_EQ_STR(mt, BR_MT_OCI_MANIFEST);
	T_EQ_STR(digest, manifest_digest);
	free(body);
	free(mt);

	/* a digest reference must match the body */
	T_ERR(imaged_registry_get_manifest(
	              c.reg, c.http,
	              "sha256:1111111111111111111111111111111111111111111111111"
	              "111111111111111",
	              NULL, &body, &len, &mt, digest, &err),
	      err, BR_NOT_FOUND); /* the server knows no such manifest */
	T_ERR(imaged_registry_get_manifest(c.reg, c.http, "lying", NULL, &body, &len, &mt, digest,
	                                   &err),
	      err, BR_FAILED_PRECONDITION);
	check_msg(&err, "digest mismatch: the registry says sha256:0000");
}

static void
test_errors(void)
{
	struct client c;
	char *body = NULL, *mt = NULL, digest[BR_DIGEST_BUF], want[512];
	size_t len;
	br_err err = BR_ERR_INIT;

	start_server();
	client_open(&c, "test/x", true);
	T_ERR(imaged_registry_get_manifest(c.reg, c.http, "nope", NULL, &body, &len, &mt, digest,
	                                   &err),
	      err, BR_NOT_FOUND);
	snprintf(want, sizeof(want),
	         "GET http://127.0.0.1:%d/v2/test/x/manifests/nope: 404 manifest unknown", port);
	T_EQ_STR(err.msg, want);
	T_ERR(imaged_registry_get_manifest(c.reg, c.http, "plain404", NULL, &body, &len, &mt,
	                                   digest, &err),
	      err, BR_NOT_FOUND);
	check_msg(&err, "/manifests/plain404: 404 Not Found");
	T_ERR(imaged_registry_get_manifest(c.reg, c.http, "boom", NULL, &body, &len, &mt, digest,
	                                   &err),
	      err, BR_UNAVAILABLE);
	check_msg(&err, ": 503 Service Unavailable");
	T_ERR(imaged_registry_get_manifest(c.reg, c.http, "huge", NULL, &body, &len, &mt, digest,
	                                   &err),
	      err, BR_RESOURCE_EXHAUSTED);
	check_msg(&err, "response larger than");

	/* not configured insecure: https, which this server does not speak */
	struct client s;
	client_open(&s, "test/x", false);
	T_ERR(imaged_registry_get_manifest(s.reg, s.http, "latest", NULL, &body, &len, &mt, digest,
	                                   &err),
	      err, BR_UNAVAILABLE);
	snprintf(want, sizeof(want), "GET https://127.0.0.1:%d/v2/test/x/manifests/latest: ", port);
	check_msg(&err, want);

	/* nobody listens */
	struct br_ref *ref = NULL;
	T_NOERR(br_ref_parse("127.0.0.1:1/x/y", &ref, &err), err);
	struct imaged_registry *down = imaged_registry_new(c.cfg, ref); /* one attempt */
	T_ERR(imaged_registry_get_manifest(down, c.http, "latest", NULL, &body, &len, &mt, digest,
	                                   &err),
	      err, BR_UNAVAILABLE);
	check_msg(&err, "GET https://127.0.0.1:1/v2/x/y/manifests/latest: ");
	imaged_registry_free(down);
	br_ref_free(ref);
}

static void
test_bearer_token(void)
{
	struct client c;
	char *body = NULL, *mt = NULL, digest[BR_DIGEST_BUF];
	size_t len;
	br_err err = BR_ERR_INIT;

	start_server();
	client_open(&c, "auth/x", true);
	T_NOERR(imaged_registry_get_manifest(c.reg, c.http, "latest", NULL, &body, &len, &mt,
	                                     digest, &err),
	        err);
	T_EQ_STR(body, MANIFEST);
	T_EQ_INT(token_requests, 1);
	free(body);
	free(mt);
	/* the token is kept */
	T_NOERR(imaged_registry_get_manifest(c.reg, c.http, "latest", NULL, &body, &len, &mt,
	                                     digest, &err),
	        err);
	T_EQ_INT(token_requests, 1);
}

static void
read_big(struct client *c, const char *path)
{
	struct imaged_fetch *f = NULL;
	br_err err = BR_ERR_INIT;
	const void *buf;
	ssize_t n;
	size_t got = 0, reads = 0;
	char want[BR_DIGEST_BUF], have[BR_DIGEST_BUF];
	br_sha256 *h = br_sha256_new();

	T_NOERR(imaged_fetch_open(c->reg, c->http, path, NULL, BIG_SIZE, NULL, &f, &err), err);
	while ((n = imaged_fetch_read(f, &buf, &err)) > 0) {
		br_sha256_update(h, buf, (size_t)n);
		got += (size_t)n;
		if (reads++ % 8 == 0)
			usleep(2000); /* a slow reader: the transfer pauses meanwhile */
	}
	T_NOERR(n, err);
	imaged_fetch_close(f);
	T_EQ_INT(got, BIG_SIZE);
	br_sha256_final(h, have);
	br_sha256_free(h);
	br_digest_buf(big, BIG_SIZE, want);
	T_EQ_STR(have, want);
}

static void
test_blob_streaming(void)
{
	struct client c;
	struct imaged_fetch *f = NULL;
	br_err err = BR_ERR_INIT;
	const void *buf;

	start_server();
	client_open(&c, "test/x", true);
	read_big(&c, "blobs/big");
	read_big(&c, "blobs/moved"); /* redirects are followed */

	/* a limit smaller than the body: the open or a read fails */
	ssize_t n = imaged_fetch_open(c.reg, c.http, "blobs/big", NULL, 1000, NULL, &f, &err);
	if (n == 0) {
		while ((n = imaged_fetch_read(f, &buf, &err)) > 0)
			;
		imaged_fetch_close(f);
	}
	T_ERR(n, err, BR_RESOURCE_EXHAUSTED);
	check_msg(&err, "/blobs/big: response larger than 1000 bytes");

	/* cancellation between chunks */
	atomic_bool flag;
	atomic_init(&flag, false);
	struct imaged_cancel cancel = {{&flag, NULL}};
	T_NOERR(imaged_fetch_open(c.reg, c.http, "blobs/big", NULL, -1, &cancel, &f, &err), err);
	T_OK(imaged_fetch_read(f, &buf, &err) > 0);
	atomic_store(&flag, true);
	while ((n = imaged_fetch_read(f, &buf, &err)) > 0)
		;
	T_ERR(n, err, BR_CANCELED);
	imaged_fetch_close(f);

	/* the handle is reusable after an aborted transfer */
	read_big(&c, "blobs/big");
}

/* 503 and 429 are asked again after the back-off or the Retry-After, 404 is not; a body that
 * breaks off continues from where it broke (or, from a registry that ignores Range, from its
 * start with the part already read skipped), and the reader sees every byte once. */
static void
test_retries(void)
{
	struct client c;
	char *body = NULL, *mt = NULL, digest[BR_DIGEST_BUF];
	size_t len;
	br_err err = BR_ERR_INIT;

	start_server();
	client_attempts = 4;
	client_open(&c, "test/x", true);
	flaky_seen = 0;
	flaky_failures = 2;
	int64_t t0 = br_now_ms();
	T_NOERR(imaged_registry_get_manifest(c.reg, c.http, "busy", NULL, &body, &len, &mt, digest,
	                                     &err),
	        err);
	T_OK(br_now_ms() - t0 >= 1900); /* two waits of Retry-After: 1 */
	T_EQ_INT(count_all_requests("/v2/test/x/manifests/busy"), 3);
	T_EQ_STR(body, MANIFEST);
	free(body);
	free(mt);

	T_ERR(imaged_registry_get_manifest(c.reg, c.http, "limited", NULL, &body, &len, &mt, digest,
	                                   &err),
	      err, BR_UNAVAILABLE);
	check_msg(&err, "/manifests/limited: 429 Too Many Requests (gave up after 4 attempts)");
	T_EQ_INT(count_all_requests("/v2/test/x/manifests/limited"), 4);
	T_ERR(imaged_registry_get_manifest(c.reg, c.http, "nope", NULL, &body, &len, &mt, digest,
	                                   &err),
	      err, BR_NOT_FOUND);
	T_EQ_INT(count_all_requests("/v2/test/x/manifests/nope"), 1);

	flaky_seen = 0;
	flaky_failures = 2;
	read_big(&c, "blobs/cut");
	T_EQ_INT(count_requests("/v2/test/x/blobs/cut", ""), 1);
	T_EQ_INT(count_requests("/v2/test/x/blobs/cut", "bytes=1048576-"), 1);
	T_EQ_INT(count_requests("/v2/test/x/blobs/cut", "bytes=2097152-"), 1);
	T_EQ_INT(count_all_requests("/v2/test/x/blobs/cut"), 3);

	flaky_seen = 0;
	flaky_failures = 1;
	read_big(&c, "blobs/cut-ignore");
	T_EQ_INT(count_requests("/v2/test/x/blobs/cut-ignore", "bytes=1048576-"), 1);

	/* more breaks in a row without a byte than attempts: the error says how many were made */
	flaky_seen = 0;
	struct imaged_fetch *f = NULL;
	const void *buf;
	ssize_t n;
	T_NOERR(imaged_fetch_open(c.reg, c.http, "blobs/cut-then-nothing", NULL, BIG_SIZE, NULL, &f,
	                          &err),
	        err);
	while ((n = imaged_fetch_read(f, &buf, &err)) > 0)
		;
	imaged_fetch_close(f);
	T_ERR(n, err, BR_UNAVAILABLE);
	check_msg(&err, "/blobs/cut-then-nothing: ");
	check_msg(&err, " (gave up after 4 attempts)");
	T_EQ_INT(count_requests("/v2/test/x/blobs/cut-then-nothing", "bytes=1048576-"), 3);
}

/* A body that stops flowing fails the read with DEADLINE_EXCEEDED after the stall timeout. */
static void
test_stall(void)
{
	struct client c;
	struct imaged_fetch *f = NULL;
	br_err err = BR_ERR_INIT;
	const void *buf;
	ssize_t n;

	start_server();
	client_stall_ms = 1000;
	client_open(&c, "test/x", true);
	int64_t t0 = br_now_ms();
	T_NOERR(imaged_fetch_open(c.reg, c.http, "blobs/stall", NULL, BIG_SIZE, NULL, &f, &err),
	        err);
	while ((n = imaged_fetch_read(f, &buf, &err)) > 0)
		;
	imaged_fetch_close(f);
	T_ERR(n, err, BR_DEADLINE_EXCEEDED);
	check_msg(&err, "/blobs/stall: the body stopped after 1000 bytes: nothing for 1000 ms "
	                "(imaged.job_stall_timeout_ms)");
	T_OK(br_now_ms() - t0 < 2500);

	/* a registry that never answers */
	char *body = NULL, *mt = NULL, digest[BR_DIGEST_BUF];
	size_t len;
	t0 = br_now_ms();
	T_ERR(imaged_registry_get_manifest(c.reg, c.http, "silent", NULL, &body, &len, &mt, digest,
	                                   &err),
	      err, BR_DEADLINE_EXCEEDED);
	check_msg(&err, "/manifests/silent: no answer for 1000 ms (imaged.job_stall_timeout_ms)");
	T_OK(br_now_ms() - t0 < 2500);
	client_stall_ms = 60000;
}

static void *
cancel_soon(void *arg)
{
	usleep(300 * 1000);
	atomic_store((atomic_bool *)arg, true);
	return NULL;
}

/* URLs outside the registry (a foreign layer's): http and https only, no credentials. */
static void
test_fetch_url(void)
{
	struct client c;
	struct imaged_fetch *f = NULL;
	br_err err = BR_ERR_INIT;
	const void *buf;
	ssize_t n;
	size_t got = 0;
	char url[256];

	start_server();
	client_open(&c, "test/x", true);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/v2/test/x/blobs/ranged", port);
	T_NOERR(imaged_fetch_open_url(c.reg, c.http, url, BIG_SIZE, 1000, NULL, &f, &err), err);
	T_EQ_INT(imaged_fetch_offset(f), 1000);
	while ((n = imaged_fetch_read(f, &buf, &err)) > 0)
		got += (size_t)n;
	T_NOERR(n, err);
	T_EQ_INT(got, BIG_SIZE - 1000);
	imaged_fetch_close(f);
	T_ERR(imaged_fetch_open_url(c.reg, c.http, "ftp://127.0.0.1/x", -1, 0, NULL, &f, &err), err,
	      BR_INVALID_ARGUMENT);
	snprintf(url, sizeof(url), "http://me:secret@127.0.0.1:%d/v2/test/x/blobs/big", port);
	T_ERR(imaged_fetch_open_url(c.reg, c.http, url, -1, 0, NULL, &f, &err), err,
	      BR_INVALID_ARGUMENT);
	T_OK(strstr(err.msg, "secret") == NULL);
	T_EQ_INT(count_all_requests("/v2/test/x/blobs/big"), 0);
}

/* A cancel ends the wait between attempts at once. */
static void
test_cancel_backoff(void)
{
	struct client c;
	char *body = NULL, *mt = NULL, digest[BR_DIGEST_BUF];
	size_t len;
	br_err err = BR_ERR_INIT;
	atomic_bool flag;
	pthread_t t;

	start_server();
	client_attempts = 4;
	client_open(&c, "test/x", true);
	flaky_seen = 0;
	flaky_failures = 100; /* 503, Retry-After: 1 */
	atomic_init(&flag, false);
	struct imaged_cancel cancel = {{&flag, NULL}};
	T_OK(pthread_create(&t, NULL, cancel_soon, &flag) == 0);
	int64_t t0 = br_now_ms();
	T_ERR(imaged_registry_get_manifest(c.reg, c.http, "busy", &cancel, &body, &len, &mt, digest,
	                                   &err),
	      err, BR_CANCELED);
	T_OK(br_now_ms() - t0 < 700);
	T_EQ_INT(count_all_requests("/v2/test/x/manifests/busy"), 1);
	pthread_join(t, NULL);
}

/* Retry-After values (untrusted) and the back-off. */
static void
test_retry_after(void)
{
	time_t now = 784111777; /* Sun, 06 Nov 1994 08:49:37 GMT */

	T_EQ_INT(imaged_retry_after_ms("0", now), 0);
	T_EQ_INT(imaged_retry_after_ms("120", now), 120000);
	T_EQ_INT(imaged_retry_after_ms(" 7 ", now), 7000);
	T_EQ_INT(imaged_retry_after_ms("99999999999999999999999999", now),
	         (INT64_C(1) << 32) * 1000);
	T_EQ_INT(imaged_retry_after_ms("Sun, 06 Nov 1994 08:49:47 GMT", now), 10000);
	T_EQ_INT(imaged_retry_after_ms("Sunday, 06-Nov-94 08:50:37 GMT", now), 60000);
	T_EQ_INT(imaged_retry_after_ms("Sun Nov  6 08:49:39 1994", now), 2000);
	T_EQ_INT(imaged_retry_after_ms("Sat, 05 Nov 1994 08:49:37 GMT", now), 0); /* past */
	T_EQ_INT(imaged_retry_after_ms(NULL, now), -1);
	T_EQ_INT(imaged_retry_after_ms("", now), -1);
	T_EQ_INT(imaged_retry_after_ms("-5", now), -1);
	T_EQ_INT(imaged_retry_after_ms("1.5", now), -1);
	T_EQ_INT(imaged_retry_after_ms("12abc", now), -1);
	T_EQ_INT(imaged_retry_after_ms("soon", now), -1);
	char longv[200];
	memset(longv, '1', sizeof(longv) - 1);
	longv[sizeof(longv) - 1] = '\0';
	T_EQ_INT(imaged_retry_after_ms(longv, now), -1);

	/* 250 ms doubled per failure, capped, and between half and all of the step */
	for (uint64_t r = 0; r < 1000; r += 37) {
		int64_t d1 = imaged_backoff_ms(1, 30000, r), d3 = imaged_backoff_ms(3, 30000, r);
		int64_t d20 = imaged_backoff_ms(20, 30000, r), dc = imaged_backoff_ms(5, 1000, r);
		T_OK(d1 >= 125 && d1 <= 250);
		T_OK(d3 >= 500 && d3 <= 1000);
		T_OK(d20 >= 15000 && d20 <= 30000);
		T_OK(dc >= 500 && dc <= 1000);
	}
	T_EQ_INT(imaged_backoff_ms(1, 250, 125), 250);
	T_EQ_INT(imaged_backoff_ms(1, 250, 0), 125);
	T_EQ_INT(imaged_backoff_ms(1000000, 0, 5), 0);
}

static void
test_get_with_digest(void)
{
	struct client c;
	char *body = NULL, *ct = NULL, want[BR_DIGEST_BUF];
	size_t len;
	br_err err = BR_ERR_INIT;

	start_server();
	client_open(&c, "test/x", true);
	br_digest_buf(big, BIG_SIZE, want);
	T_NOERR(imaged_registry_get(c.reg, c.http, "blobs/big", NULL, BIG_SIZE, want, NULL, &body,
	                            &len, &ct, &err),
	        err);
	T_EQ_INT(len, BIG_SIZE);
	free(body);
	free(ct);
	T_ERR(imaged_registry_get(c.reg, c.http, "blobs/big", NULL, BIG_SIZE, manifest_digest, NULL,
	                          &body, &len, NULL, &err),
	      err, BR_FAILED_PRECONDITION);
	check_msg(&err, "digest mismatch: expected sha256:");
}

/* Read `path` from byte `offset` on with limit `max` to its end: 0, or -1 with err. The body
 * must start at byte `want_start` of `big` and be the rest of it. */
static int
read_from(struct client *c, const char *path, int64_t max, int64_t offset, int64_t want_start,
          br_err *err)
{
	struct imaged_fetch *f = NULL;
	const void *buf;
	ssize_t n;
	size_t got = 0;
	char want[BR_DIGEST_BUF], have[BR_DIGEST_BUF];

	if (imaged_fetch_open_at(c->reg, c->http, path, NULL, max, offset, NULL, &f, err) < 0)
		return -1;
	T_EQ_INT(imaged_fetch_offset(f), want_start);
	br_sha256 *h = br_sha256_new();
	while ((n = imaged_fetch_read(f, &buf, err)) > 0) {
		br_sha256_update(h, buf, (size_t)n);
		got += (size_t)n;
	}
	imaged_fetch_close(f);
	br_sha256_final(h, have);
	br_sha256_free(h);
	if (n < 0)
		return -1;
	T_EQ_INT(got, BIG_SIZE - (size_t)want_start);
	br_digest_buf(big + want_start, BIG_SIZE - (size_t)want_start, want);
	T_EQ_STR(have, want);
	return 0;
}

static void
test_fetch_at(void)
{
	struct client c;
	br_err err = BR_ERR_INIT;
	char range[64];

	start_server();
	client_open(&c, "test/x", true);

	/* a registry that serves the range: the rest of the body */
	T_NOERR(read_from(&c, "blobs/ranged", BIG_SIZE, 1000, 1000, &err), err);
	T_EQ_INT(count_requests("/v2/test/x/blobs/ranged", "bytes=1000-"), 1);

	/* one that ignores Range sends the whole body, which the limit on the whole body allows */
	T_NOERR(read_from(&c, "blobs/big", BIG_SIZE, 1000, 0, &err), err);
	T_EQ_INT(count_requests("/v2/test/x/blobs/big", "bytes=1000-"), 1);

	/* nothing from the end on (416): the whole body is asked for, once */
	T_NOERR(read_from(&c, "blobs/ranged", BIG_SIZE, BIG_SIZE, 0, &err), err);
	snprintf(range, sizeof(range), "bytes=%u-", BIG_SIZE);
	T_EQ_INT(count_requests("/v2/test/x/blobs/ranged", range), 1);
	T_EQ_INT(count_requests("/v2/test/x/blobs/ranged", ""), 1);

	/* 416 to any range, or a 206 with another part: the same */
	T_NOERR(read_from(&c, "blobs/refused", BIG_SIZE, 1000, 0, &err), err);
	T_EQ_INT(count_requests("/v2/test/x/blobs/refused", "bytes=1000-"), 1);
	T_EQ_INT(count_requests("/v2/test/x/blobs/refused", ""), 1);
	T_NOERR(read_from(&c, "blobs/elsewhere", BIG_SIZE, 1000, 0, &err), err);
	T_EQ_INT(count_requests("/v2/test/x/blobs/elsewhere", "bytes=1000-"), 1);
	T_EQ_INT(count_requests("/v2/test/x/blobs/elsewhere", ""), 1);

	/* the limit is on the whole body, however it comes */
	T_ERR(read_from(&c, "blobs/ranged", BIG_SIZE - 1, 1000, 1000, &err), err,
	      BR_RESOURCE_EXHAUSTED);
	check_msg(&err, "/blobs/ranged: response larger than 5242879 bytes");
	T_ERR(read_from(&c, "blobs/big", BIG_SIZE - 1, 1000, 0, &err), err, BR_RESOURCE_EXHAUSTED);
	check_msg(&err, "/blobs/big: response larger than 5242879 bytes");

	/* a registry error other than 416 is not retried */
	T_ERR(read_from(&c, "blobs/none", BIG_SIZE, 1000, 0, &err), err, BR_NOT_FOUND);
	T_EQ_INT(count_all_requests("/v2/test/x/blobs/none"), 1);
}

/* ------------------------------------------------------------------ resumed pulls */

enum { CONTENTD, SNAPSHOTD, IMAGED, N_PEERS };
static const char *peer_names[N_PEERS] = {"contentd", "snapshotd", "imaged"};

/* The three daemons of a pull, on one private root, imaged configured for the test server. */
struct stores {
	char dir[64];
	char config[512];
	struct t_daemon d[N_PEERS];
};

/* $BERTH_BUILD, else the build directory of this binary (<build>/test/unit/<name>). */
static void
build_dir(char *out, size_t size)
{
	const char *b = getenv("BERTH_BUILD");
	char exe[PATH_MAX];

	if (b != NULL && b[0] != '\0') {
		snprintf(out, size, "%s", b);
		return;
	}
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	T_OK(n > 0);
	exe[n] = '\0';
	snprintf(out, size, "%s", dirname(dirname(dirname(exe))));
}

/* Start the test server and the daemons (the directory's guard first: it forks, and the
 * server's thread must be in the process that runs the case). */
static void
stores_start(struct stores *s)
{
	char build[PATH_MAX];
	br_err err = BR_ERR_INIT;

	memset(s, 0, sizeof(*s));
	build_dir(build, sizeof(build));
	snprintf(s->dir, sizeof(s->dir), "/tmp/berth-test-imaged-registry-XXXXXX");
	T_NOT_NULL(mkdtemp(s->dir));
	t_guard_dir(s->dir);
	start_server();
	/* Collections only when asked: the ingests left here must stay until pulled. */
	snprintf(s->config, sizeof(s->config),
	         "{\"imaged\": {\"registries\": [{\"host\": \"127.0.0.1:%d\", \"insecure\": "
	         "true}]},"
	         " \"contentd\": {\"gc_delay_ms\": 3600000, \"gc_interval_ms\": 0},"
	         " \"snapshotd\": {\"gc_delay_ms\": 3600000, \"gc_interval_ms\": 0}}\n",
	         port);
	for (int i = 0; i < N_PEERS; i++) {
		struct t_daemon *d = &s->d[i];
		d->name = peer_names[i];
		d->config_json = s->config;
		snprintf(d->dir, sizeof(d->dir), "%s", s->dir);
		snprintf(d->bin, sizeof(d->bin), "%.480s/berth-%s", build, d->name);
		snprintf(d->url, sizeof(d->url), "ipc://%s/state/%s.sock", s->dir, d->name);
		T_NOERR(br_rpc_client_new(d->url, d->name, &d->client, &err), err);
		d->arena = br_arena_new();
		if (access(d->bin, X_OK) < 0)
			T_FAIL_("%s not found: build it, or point BERTH_BUILD at the build "
			        "directory",
			        d->bin);
	}
	for (int i = 0; i < N_PEERS; i++)
		t_daemon_start(&s->d[i]);
}

static void
stores_stop(struct stores *s)
{
	for (int i = N_PEERS - 1; i >= 0; i--)
		t_daemon_stop(&s->d[i]);
	for (int i = 0; i < N_PEERS; i++) {
		br_rpc_client_free(s->d[i].client);
		br_arena_free(s->d[i].arena);
	}
	br_rpc_shutdown();
}

/* An image of one uncompressed layer (a file `tag` of `size` bytes), served as
 * 127.0.0.1:<port>/test/pull:<tag>. */
struct image {
	char tag[32];
	unsigned char *layer;
	size_t layer_len;
	char layer_digest[BR_DIGEST_BUF];
	char layer_path[128]; /* what the registry is asked for */
};

static void
serve_add(const char *path, const void *data, size_t len, bool manifest)
{
	pthread_mutex_lock(&lock);
	T_OK(n_served < sizeof(served) / sizeof(served[0]));
	snprintf(served[n_served].path, sizeof(served[0].path), "%s", path);
	served[n_served].data = data;
	served[n_served].len = len;
	served[n_served].manifest = manifest;
	n_served++;
	pthread_mutex_unlock(&lock);
}

static void
set_pull_ranges(enum range_mode mode)
{
	pthread_mutex_lock(&lock);
	pull_ranges = mode;
	pthread_mutex_unlock(&lock);
}

static void
image_serve(struct image *img, const char *tag, size_t size)
{
	size_t cap = size + 64 * 1024, used = 0;
	char path[256], cfg_digest[BR_DIGEST_BUF];
	unsigned char *data = malloc(size);

	T_NOT_NULL(data);
	memset(img, 0, sizeof(*img));
	snprintf(img->tag, sizeof(img->tag), "%s", tag);
	for (size_t i = 0; i < size; i++)
		data[i] = (unsigned char)(i * 2654435761u >> 13) ^
		          (unsigned char)tag[i % strlen(tag)];
	img->layer = malloc(cap);
	T_NOT_NULL(img->layer);
	struct archive *a = archive_write_new();
	T_OK(archive_write_set_format_pax_restricted(a) == ARCHIVE_OK);
	T_OK(archive_write_open_memory(a, img->layer, cap, &used) == ARCHIVE_OK);
	struct archive_entry *e = archive_entry_new();
	archive_entry_set_pathname(e, tag);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_size(e, (la_int64_t)size);
	T_OK(archive_write_header(a, e) == ARCHIVE_OK);
	T_EQ_INT(archive_write_data(a, data, size), size);
	archive_entry_free(e);
	T_OK(archive_write_close(a) == ARCHIVE_OK);
	archive_write_free(a);
	free(data);
	img->layer_len = used;
	br_digest_buf(img->layer, img->layer_len, img->layer_digest);

	char *config = NULL, *manifest = NULL;
	T_OK(asprintf(&config,
	              "{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{\"type\":"
	              "\"layers\",\"diff_ids\":[\"%s\"]}}",
	              img->layer_digest) > 0);
	br_digest_buf(config, strlen(config), cfg_digest);
	T_OK(asprintf(&manifest,
	              "{\"schemaVersion\":2,\"mediaType\":\"" BR_MT_OCI_MANIFEST "\","
	              "\"config\":{\"mediaType\":\"" BR_MT_OCI_CONFIG "\",\"digest\":\"%s\","
	              "\"size\":%zu},\"layers\":[{\"mediaType\":\"" BR_MT_OCI_LAYER "\","
	              "\"digest\":\"%s\",\"size\":%zu}]}",
	              cfg_digest, strlen(config), img->layer_digest, img->layer_len) > 0);
	snprintf(path, sizeof(path), "/v2/test/pull/manifests/%s", tag);
	serve_add(path, manifest, strlen(manifest), true);
	snprintf(path, sizeof(path), "/v2/test/pull/blobs/%s", cfg_digest);
	serve_add(path, config, strlen(config), false);
	snprintf(img->layer_path, sizeof(img->layer_path), "/v2/test/pull/blobs/%s",
	         img->layer_digest);
	serve_add(img->layer_path, img->layer, img->layer_len, false);
}

/* What an interrupted pull leaves in contentd: the layer's ingest ("blob-<hex>") holding
 * `len` bytes, `data` (NULL: the layer's own), not committed. */
static void
leave_ingest(struct stores *s, const struct image *img, const void *data, size_t len)
{
	const unsigned char *p = data != NULL ? data : img->layer;
	char ref[128];
	br_err err = BR_ERR_INIT;

	snprintf(ref, sizeof(ref), "blob-%s", br_digest_hex(img->layer_digest));
	for (size_t off = 0; off < len;) {
		size_t n = len - off > BR_CHUNK_MAX ? BR_CHUNK_MAX : len - off;
		struct br_content_write_req req = {
		        .ref = ref,
		        .offset = (int64_t)off,
		        .data = {p + off, n},
		        .total = (int64_t)img->layer_len,
		        .expected = img->layer_digest,
		};
		T_NOERR(br_rpc_call(s->d[CONTENTD].client, NULL, "content.write",
		                    &br_content_write_req_schema, &req, NULL, NULL,
		                    s->d[CONTENTD].arena, &err),
		        err);
		off += n;
	}
}

/* Pull the image (images.pull, then jobs.wait until it ends): it must succeed, with the layer
 * stored and its ingest gone. */
static void
pull_ok(struct stores *s, const struct image *img)
{
	struct t_daemon *d = &s->d[IMAGED];
	char name[128], ref[128];
	struct br_image_pull_req req = {.ref = name};
	struct br_job_ref job_ref;
	struct br_job job = {0};
	br_err err = BR_ERR_INIT;

	snprintf(name, sizeof(name), "127.0.0.1:%d/test/pull:%s", port, img->tag);
	T_NOERR(br_rpc_call(d->client, NULL, "images.pull", &br_image_pull_req_schema, &req,
	                    &br_job_ref_schema, &job_ref, d->arena, &err),
	        err);
	for (int i = 0; i < 30 && (job.state == NULL || strcmp(job.state, "running") == 0); i++) {
		struct br_job_wait_req w = {.id = job_ref.id, .timeout_ms = 1000};
		T_NOERR(br_rpc_call(d->client, NULL, "jobs.wait", &br_job_wait_req_schema, &w,
		                    &br_job_schema, &job, d->arena, &err),
		        err);
	}
	if (strcmp(job.state, "done") != 0)
		T_FAIL_("pull %s: %s: %s %s", name, job.state, job.error_code ? job.error_code : "",
		        job.error_msg ? job.error_msg : "");
	/* the job's record lists the layer, done with all its bytes */
	T_EQ_INT(job.layers.n, 1);
	const struct br_job_item *layer = job.layers.v;
	T_EQ_STR(layer->digest, img->layer_digest);
	T_EQ_STR(layer->state, "done");
	T_EQ_INT(layer->size, (int64_t)img->layer_len);
	T_EQ_INT(layer->done, layer->size);

	struct br_content_digest_req info = {.digest = img->layer_digest};
	T_NOERR(br_rpc_call(s->d[CONTENTD].client, NULL, "content.info",
	                    &br_content_digest_req_schema, &info, NULL, NULL, s->d[CONTENTD].arena,
	                    &err),
	        err);
	snprintf(ref, sizeof(ref), "blob-%s", br_digest_hex(img->layer_digest));
	struct br_content_ref_req status = {.ref = ref};
	T_ERR(br_rpc_call(s->d[CONTENTD].client, NULL, "content.status", &br_content_ref_req_schema,
	                  &status, NULL, NULL, s->d[CONTENTD].arena, &err),
	      err, BR_NOT_FOUND);
}

/* An ingest that has every byte (its writer died before the commit) is committed, not
 * fetched from its end, which a registry answers 416; one whose bytes are wrong starts over. */
static void
test_pull_whole_ingest(void)
{
	struct stores s;
	struct image right, wrong;

	stores_start(&s);
	set_pull_ranges(RANGE_SERVE);
	image_serve(&right, "right", 300 * 1024);
	leave_ingest(&s, &right, NULL, right.layer_len);
	pull_ok(&s, &right);
	T_EQ_INT(count_all_requests(right.layer_path), 0);

	image_serve(&wrong, "wrong", 300 * 1024);
	unsigned char *junk = calloc(1, wrong.layer_len);
	T_NOT_NULL(junk);
	leave_ingest(&s, &wrong, junk, wrong.layer_len);
	free(junk);
	pull_ok(&s, &wrong);
	T_EQ_INT(count_all_requests(wrong.layer_path), 1);
	T_EQ_INT(count_requests(wrong.layer_path, ""), 1);
	stores_stop(&s);
}

/* Part of the blob in contentd: the rest is asked for with a Range; a registry that ignores
 * it, refuses it or answers with another part sends the whole blob, and the ingest starts
 * over in contentd. */
static void
test_pull_resume(void)
{
	struct stores s;
	struct image img[4];
	const enum range_mode modes[4] = {RANGE_SERVE, RANGE_IGNORE, RANGE_REFUSE, RANGE_ELSEWHERE};
	const char *tags[4] = {"serve", "ignore", "refuse", "elsewhere"};
	char range[64];

	stores_start(&s);
	for (int i = 0; i < 4; i++) {
		image_serve(&img[i], tags[i], 300 * 1024);
		size_t have = img[i].layer_len / 3;
		leave_ingest(&s, &img[i], NULL, have);
		set_pull_ranges(modes[i]);
		pull_ok(&s, &img[i]);
		snprintf(range, sizeof(range), "bytes=%zu-", have);
		T_EQ_INT(count_requests(img[i].layer_path, range), 1);
		/* the whole blob asked for again: only when the range was refused or misplaced */
		T_EQ_INT(count_requests(img[i].layer_path, ""),
		         modes[i] == RANGE_REFUSE || modes[i] == RANGE_ELSEWHERE);
	}
	stores_stop(&s);
}

T_MAIN(T_CASE(test_manifest), T_CASE(test_errors), T_CASE(test_bearer_token),
       T_CASE(test_blob_streaming), T_CASE(test_get_with_digest), T_CASE(test_fetch_at),
       T_CASE(test_pull_whole_ingest), T_CASE(test_pull_resume), T_CASE(test_retries),
       T_CASE(test_stall), T_CASE(test_cancel_backoff), T_CASE(test_fetch_url),
       T_CASE(test_retry_after))
