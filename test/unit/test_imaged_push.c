/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The upload side of the registry client (imaged/registry.c, "requests"): the untrusted
 * Location and Range headers (pure parsers), query building, and requests against a small
 * HTTP/1.1 server run in a thread of the test: a body streamed in chunks arrives whole, the
 * upload headers are read back, registry error documents become errors with the right code,
 * a HEAD's 404 can be an answer and its redirect is followed, the anonymous bearer-token flow
 * answers a 401 (and its token never goes to another host), and a cancel stops a request
 * whose body is being sent. (Whole pushes to a real registry are covered by
 * test/integration/test_push.sh.)
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/ref.h"
#include "common/xalloc.h"
#include "imaged/registry.h"
#include "test/unit/t.h"
#include "test/unit/t_http.h"

/* ------------------------------------------------------------------ pure parsers */

static void
test_location(void)
{
	br_err err = BR_ERR_INIT;
	char *url = NULL;

	T_NOERR(imaged_location_resolve("http://r:5000", true, "/v2/x/blobs/uploads/u?_state=a",
	                                &url, &err),
	        err);
	T_EQ_STR(url, "http://r:5000/v2/x/blobs/uploads/u?_state=a");
	free(url);
	T_NOERR(imaged_location_resolve("https://r", false, "https://cdn.example/up/1", &url, &err),
	        err);
	T_EQ_STR(url, "https://cdn.example/up/1");
	free(url);
	T_NOERR(imaged_location_resolve("http://r", true, "http://r/v2/up", &url, &err), err);
	free(url);
	/* Plain http from an https registry, relative paths, schemes, protocol-relative URLs,
	 * spaces and control characters, hostless URLs and overlong values are refused. */
	const char *bad[] = {
	        "http://r/v2/up", "v2/up",    "ftp://r/x",  "//evil/x", "/v2/up load",
	        "/v2/up\r\nX: y", "https://", "https:///x", "",         "/v2/\x7f",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		br_err_clear(&err);
		T_ERR(imaged_location_resolve("https://r", false, bad[i], &url, &err), err,
		      BR_INVALID_ARGUMENT);
	}
	T_ERR(imaged_location_resolve("https://r", false, NULL, &url, &err), err,
	      BR_INVALID_ARGUMENT);
	char *longer = xmalloc(5000);
	longer[0] = '/';
	memset(longer + 1, 'a', 4998);
	longer[4999] = '\0';
	br_err_clear(&err);
	T_ERR(imaged_location_resolve("https://r", false, longer, &url, &err), err,
	      BR_INVALID_ARGUMENT);
	free(longer);
}

static void
test_range(void)
{
	br_err err = BR_ERR_INIT;
	int64_t next = -1;

	T_NOERR(imaged_upload_range_next("0-1023", 1024, &next, &err), err);
	T_EQ_INT(next, 1024);
	T_NOERR(imaged_upload_range_next("bytes=0-99", 1024, &next, &err), err);
	T_EQ_INT(next, 100);
	T_NOERR(imaged_upload_range_next("0-0", 1, &next, &err), err);
	T_EQ_INT(next, 1);
	const char *bad[] = {
	        "",        "0-",        "-5",     "1-5",  "0-5x",      " 0-5",
	        "0--5",    "5-0",       "0-1024", "0-+5", "bytes 0-5", "0-99999999999999999999",
	        "0-5,6-9", "bytes=1-2",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		br_err_clear(&err);
		if (imaged_upload_range_next(bad[i], 1024, &next, &err) == 0)
			T_FAIL_("Range \"%s\" was accepted (%lld)", bad[i], (long long)next);
		T_EQ_INT(err.code, BR_INVALID_ARGUMENT);
	}
	br_err_clear(&err);
	T_ERR(imaged_upload_range_next(NULL, 1024, &next, &err), err, BR_INVALID_ARGUMENT);
}

/* The upload's state after each PATCH: where it goes on from. */
static void
test_advance(void)
{
	br_err err = BR_ERR_INIT;
	int64_t next = -1;

	T_NOERR(imaged_upload_advance(0, 100, NULL, &next, &err), err);
	T_EQ_INT(next, 100);
	T_NOERR(imaged_upload_advance(100, 100, "0-199", &next, &err), err);
	T_EQ_INT(next, 200);
	/* it kept part of the chunk: the rest goes again */
	T_NOERR(imaged_upload_advance(100, 100, "0-149", &next, &err), err);
	T_EQ_INT(next, 150);
	/* it kept nothing, or lost what it had: no progress, no endless loop */
	T_ERR(imaged_upload_advance(100, 100, "0-99", &next, &err), err, BR_UNAVAILABLE);
	br_err_clear(&err);
	T_ERR(imaged_upload_advance(100, 100, "0-49", &next, &err), err, BR_UNAVAILABLE);
	br_err_clear(&err);
	/* more than it was sent */
	T_ERR(imaged_upload_advance(100, 100, "0-200", &next, &err), err, BR_INVALID_ARGUMENT);
	T_EQ_INT(next, 150); /* written only on success */
}

static void
test_query(void)
{
	char *u = imaged_url_add_query("blobs/uploads/", "mount", "sha256:ab");
	T_EQ_STR(u, "blobs/uploads/?mount=sha256%3Aab");
	char *v = imaged_url_add_query(u, "from", "test/sh");
	T_EQ_STR(v, "blobs/uploads/?mount=sha256%3Aab&from=test%2Fsh");
	free(u);
	free(v);
	u = imaged_url_add_query("http://r/u?_state=x=", "digest", "a b&c");
	T_EQ_STR(u, "http://r/u?_state=x=&digest=a%20b%26c");
	free(u);
}

/* ------------------------------------------------------------------ a small registry */

static int port;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static char last_method[16], last_path[512], last_range[64], last_ctype[128], last_auth[256];
static size_t last_body_len;
static unsigned last_body_sum; /* a byte sum of the body, to check it arrived whole */
static int token_requests;

static void
send_str(int fd, const char *s)
{
	t_http_send_all(fd, s, strlen(s));
}

static void
respond(int fd, const char *method, const char *path)
{
	char buf[1024];

	if (strcmp(path, "/token?service=reg&scope=repository%3At%2Fauth%3Apull%2Cpush") == 0) {
		token_requests++;
		send_str(fd, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
		             "Content-Length: 16\r\nConnection: close\r\n\r\n{\"token\":\"tok1\"}");
		return;
	}
	if (strncmp(path, "/v2/t/auth/", 11) == 0) {
		if (strcmp(last_auth, "Bearer tok1") == 0) {
			send_str(fd, "HTTP/1.1 202 Accepted\r\nLocation: /v2/t/auth/up/1\r\n"
			             "Content-Length: 0\r\nConnection: close\r\n\r\n");
			return;
		}
		snprintf(buf, sizeof(buf),
		         "HTTP/1.1 401 Unauthorized\r\nWww-Authenticate: Bearer "
		         "realm=\"http://127.0.0.1:%d/token\",service=\"reg\","
		         "scope=\"repository:t/auth:pull,push\"\r\n"
		         "Content-Length: 0\r\nConnection: close\r\n\r\n",
		         port);
		send_str(fd, buf);
		return;
	}
	if (strncmp(path, "/v2/t/denied/", 13) == 0) {
		const char *doc =
		        "{\"errors\":[{\"code\":\"DENIED\",\"message\":\"requested access to "
		        "the resource is denied\"}]}";
		snprintf(buf, sizeof(buf),
		         "HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\n"
		         "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
		         strlen(doc), doc);
		send_str(fd, buf);
		return;
	}
	if (strcmp(method, "HEAD") == 0 && strstr(path, "/missing") != NULL) {
		send_str(
		        fd,
		        "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
		return;
	}
	if (strcmp(method, "HEAD") == 0 && strstr(path, "/redirected") != NULL) {
		send_str(fd, "HTTP/1.1 307 Temporary Redirect\r\nLocation: /storage/blob\r\n"
		             "Content-Length: 0\r\nConnection: close\r\n\r\n");
		return;
	}
	if (strcmp(method, "HEAD") == 0) {
		send_str(fd,
		         "HTTP/1.1 200 OK\r\nContent-Length: 1234\r\nConnection: close\r\n\r\n");
		return;
	}
	/* An upload session: a PATCH says how much it holds, with a new Location. */
	snprintf(buf, sizeof(buf),
	         "HTTP/1.1 202 Accepted\r\nLocation: http://127.0.0.1:%d/v2/t/up/2?_state=s\r\n"
	         "Range: 0-%zu\r\nDocker-Upload-UUID: uuid-1\r\n"
	         "Docker-Content-Digest: sha256:0000000000000000000000000000000000000000000000000"
	         "000000000000000\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
	         port, last_body_len > 0 ? last_body_len - 1 : 0);
	send_str(fd, buf);
}

/* One request per connection: read the head and the body, record them, answer. */
static void
serve(int fd)
{
	char head[8192];
	size_t len = 0;
	char *end = NULL;

	while (len < sizeof(head) - 1 && end == NULL) {
		ssize_t n = read(fd, head + len, sizeof(head) - 1 - len);
		if (n <= 0)
			return;
		len += (size_t)n;
		head[len] = '\0';
		end = strstr(head, "\r\n\r\n");
	}
	if (end == NULL)
		return;
	char method[16] = "", path[512] = "", cl[32];
	sscanf(head, "%15s %511s", method, path);
	t_http_header(head, "Content-Length", cl, sizeof(cl));
	size_t want = (size_t)strtoull(cl, NULL, 10), got = len - (size_t)(end + 4 - head);
	unsigned sum = 0;
	for (char *p = end + 4; p < head + len; p++)
		sum += (unsigned char)*p;
	while (got < want) {
		char buf[65536];
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n <= 0)
			break;
		for (ssize_t i = 0; i < n; i++)
			sum += (unsigned char)buf[i];
		got += (size_t)n;
	}
	pthread_mutex_lock(&lock);
	snprintf(last_method, sizeof(last_method), "%s", method);
	snprintf(last_path, sizeof(last_path), "%s", path);
	t_http_header(head, "Content-Range", last_range, sizeof(last_range));
	t_http_header(head, "Content-Type", last_ctype, sizeof(last_ctype));
	t_http_header(head, "Authorization", last_auth, sizeof(last_auth));
	last_body_len = got;
	last_body_sum = sum;
	respond(fd, method, path);
	pthread_mutex_unlock(&lock);
}

static void
server_start(void)
{
	port = t_http_start(serve);
}

/* A registry client for repository `repo` of the test server (plain http). */
static struct imaged_registry *
registry(const char *repo, struct br_config **ret_cfg)
{
	char json[256], name[128];
	struct br_config *cfg = NULL;
	struct br_ref *ref = NULL;
	br_err err = BR_ERR_INIT;

	snprintf(json, sizeof(json),
	         "{\"imaged\": {\"registries\": [{\"host\": \"127.0.0.1:%d\", \"insecure\": "
	         "true}]}}",
	         port);
	T_NOERR(br_config_parse(json, strlen(json), "test", &cfg, &err), err);
	snprintf(name, sizeof(name), "127.0.0.1:%d/%s:v1", port, repo);
	T_NOERR(br_ref_parse(name, &ref, &err), err);
	struct imaged_registry *reg = imaged_registry_new(cfg, ref);
	br_ref_free(ref);
	*ret_cfg = cfg;
	return reg;
}

/* A body of `total` bytes given in chunks of `chunk`; byte i is (i * 7) & 0xff. */
struct pattern {
	size_t total, chunk, pos;
	unsigned char buf[4096];
	atomic_bool *cancel_after_first; /* set once the first chunk was given */
};

static ssize_t
pattern_read(void *data, const void **ret_buf, br_err *err)
{
	struct pattern *p = data;
	size_t n = p->total - p->pos;

	(void)err;
	if (n > p->chunk)
		n = p->chunk;
	for (size_t i = 0; i < n; i++)
		p->buf[i] = (unsigned char)(((p->pos + i) * 7) & 0xff);
	p->pos += n;
	*ret_buf = p->buf;
	if (p->cancel_after_first != NULL)
		atomic_store(p->cancel_after_first, true);
	return (ssize_t)n;
}

static unsigned
pattern_sum(size_t total)
{
	unsigned sum = 0;
	for (size_t i = 0; i < total; i++)
		sum += (unsigned)(((i * 7) & 0xff));
	return sum;
}

static void
test_patch_streams_body_and_reads_headers(void)
{
	struct br_config *cfg;
	struct imaged_registry *reg = registry("t/up", &cfg);
	struct imaged_http *http = imaged_http_new();
	struct pattern body = {.total = 300000, .chunk = 4096};
	struct imaged_response resp;
	br_err err = BR_ERR_INIT;
	char *url = NULL;

	T_NOERR(imaged_registry_location(reg, "/v2/t/up/1?_state=a", &url, &err), err);
	struct imaged_request req = {
	        .method = "PATCH",
	        .url = url,
	        .content_type = "application/octet-stream",
	        .content_range = "0-299999",
	        .body_len = 300000,
	        .body = pattern_read,
	        .body_data = &body,
	};
	T_NOERR(imaged_registry_request(reg, http, &req, NULL, &resp, &err), err);
	T_EQ_INT(resp.status, 202);
	T_EQ_STR(last_method, "PATCH");
	T_EQ_STR(last_path, "/v2/t/up/1?_state=a");
	T_EQ_STR(last_range, "0-299999");
	T_EQ_STR(last_ctype, "application/octet-stream");
	T_EQ_INT(last_body_len, 300000);
	T_EQ_INT(last_body_sum, pattern_sum(300000));
	T_EQ_STR(resp.range, "0-299999");
	T_EQ_STR(resp.upload_uuid, "uuid-1");
	T_NOT_NULL(resp.docker_digest);
	int64_t next = 0;
	T_NOERR(imaged_upload_range_next(resp.range, 300000, &next, &err), err);
	T_EQ_INT(next, 300000);
	char *moved = NULL;
	T_NOERR(imaged_registry_location(reg, resp.location, &moved, &err), err);
	T_OK(strstr(moved, "/v2/t/up/2?_state=s") != NULL);
	free(moved);
	imaged_response_fini(&resp);

	/* A body function that ends early fails the request, naming it. */
	struct pattern shorter = {.total = 1000, .chunk = 4096};
	req.body_data = &shorter;
	req.body_len = 2000;
	br_err_clear(&err);
	T_ERR(imaged_registry_request(reg, http, &req, NULL, &resp, &err), err,
	      BR_FAILED_PRECONDITION);
	T_OK(strstr(err.msg, "ended after 1000 of 2000 bytes") != NULL);
	free(url);
	imaged_http_free(http);
	imaged_registry_free(reg);
	br_config_free(cfg);
}

static void
test_head_and_errors(void)
{
	struct br_config *cfg;
	struct imaged_registry *reg = registry("t/denied", &cfg);
	struct imaged_registry *ok = registry("t/blobs", &cfg);
	struct imaged_http *http = imaged_http_new();
	struct imaged_response resp;
	br_err err = BR_ERR_INIT;

	struct imaged_request head = {.method = "HEAD", .path = "blobs/missing"};
	T_ERR(imaged_registry_request(ok, http, &head, NULL, &resp, &err), err, BR_NOT_FOUND);
	T_OK(strstr(err.msg, "HEAD http://127.0.0.1:") != NULL);
	head.not_found_ok = true;
	T_NOERR(imaged_registry_request(ok, http, &head, NULL, &resp, &err), err);
	T_EQ_INT(resp.status, 404);
	imaged_response_fini(&resp);
	head.path = "blobs/there";
	T_NOERR(imaged_registry_request(ok, http, &head, NULL, &resp, &err), err);
	T_EQ_INT(resp.status, 200);
	T_EQ_INT(resp.content_length, 1234);
	imaged_response_fini(&resp);
	/* A blob whose HEAD redirects to its storage is there. */
	head.path = "blobs/redirected";
	T_NOERR(imaged_registry_request(ok, http, &head, NULL, &resp, &err), err);
	T_EQ_INT(resp.status, 200);
	T_EQ_STR(last_path, "/storage/blob");
	imaged_response_fini(&resp);

	struct imaged_request post = {.method = "POST", .path = "blobs/uploads/"};
	br_err_clear(&err);
	T_ERR(imaged_registry_request(reg, http, &post, NULL, &resp, &err), err,
	      BR_PERMISSION_DENIED);
	T_OK(strstr(err.msg, "POST http://127.0.0.1:") != NULL);
	T_OK(strstr(err.msg, "/v2/t/denied/blobs/uploads/: 403 requested access to the resource "
	                     "is denied") != NULL);

	/* Nothing listens there: UNAVAILABLE, naming the URL. */
	struct imaged_request gone = {.method = "HEAD", .url = "http://127.0.0.1:1/v2/x/blobs/y"};
	br_err_clear(&err);
	T_ERR(imaged_registry_request(reg, http, &gone, NULL, &resp, &err), err, BR_UNAVAILABLE);
	T_OK(strstr(err.msg, "HEAD http://127.0.0.1:1/v2/x/blobs/y") != NULL);
	imaged_http_free(http);
	imaged_registry_free(reg);
	imaged_registry_free(ok);
	br_config_free(cfg);
}

static void
test_token_flow(void)
{
	struct br_config *cfg;
	struct imaged_registry *reg = registry("t/auth", &cfg);
	struct imaged_http *http = imaged_http_new();
	struct imaged_response resp;
	br_err err = BR_ERR_INIT;

	struct imaged_request post = {.method = "POST", .path = "blobs/uploads/"};
	T_NOERR(imaged_registry_request(reg, http, &post, NULL, &resp, &err), err);
	T_EQ_INT(resp.status, 202);
	T_EQ_INT(token_requests, 1);
	T_EQ_STR(last_auth, "Bearer tok1");
	T_EQ_STR(resp.location, "/v2/t/auth/up/1");
	imaged_response_fini(&resp);

	/* The token goes to the registry's own origin only, never to another host that a
	 * Location names (here "localhost" for the same server). */
	char other[128];
	snprintf(other, sizeof(other), "http://localhost:%d/v2/t/elsewhere/up/1", port);
	struct imaged_request patch = {.method = "PATCH", .url = other};
	T_NOERR(imaged_registry_request(reg, http, &patch, NULL, &resp, &err), err);
	T_EQ_STR(last_path, "/v2/t/elsewhere/up/1");
	T_EQ_STR(last_auth, "");
	imaged_response_fini(&resp);
	imaged_http_free(http);
	imaged_registry_free(reg);
	br_config_free(cfg);
}

static void
test_cancel_while_sending(void)
{
	struct br_config *cfg;
	struct imaged_registry *reg = registry("t/up", &cfg);
	struct imaged_http *http = imaged_http_new();
	atomic_bool flag = false;
	struct imaged_cancel cancel = {{&flag, NULL}};
	struct pattern body = {.total = 1 << 20, .chunk = 1024, .cancel_after_first = &flag};
	struct imaged_response resp;
	br_err err = BR_ERR_INIT;

	struct imaged_request put = {
	        .method = "PUT",
	        .path = "blobs/uploads/x?digest=sha256%3Aab",
	        .body_len = 1 << 20,
	        .body = pattern_read,
	        .body_data = &body,
	};
	T_ERR(imaged_registry_request(reg, http, &put, &cancel, &resp, &err), err, BR_CANCELED);
	T_OK(body.pos < (size_t)(1 << 20));
	imaged_http_free(http);
	imaged_registry_free(reg);
	br_config_free(cfg);
}

static void
setup(void)
{
	br_err err = BR_ERR_INIT;
	if (imaged_http_global_init(&err) < 0)
		T_FAIL_("%s", err.msg);
	server_start();
}

static void
test_requests(void)
{
	setup();
	test_patch_streams_body_and_reads_headers();
	test_head_and_errors();
	test_token_flow();
	test_cancel_while_sending();
}

T_MAIN(T_CASE(test_location), T_CASE(test_range), T_CASE(test_advance), T_CASE(test_query),
       T_CASE(test_requests))
