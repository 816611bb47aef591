/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The registry client (imaged/registry.c) against a small HTTP/1.1 server run in a thread of
 * the test, which answers canned registry responses: manifests with and without a matching
 * Docker-Content-Digest, registry error documents, the anonymous bearer-token flow, a
 * redirect, and a large blob read slowly through the pull interface. (Pulls from a real
 * registry are covered by the integration suite.)
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/config.h"
#include "common/digest.h"
#include "common/oci.h"
#include "common/ref.h"
#include "imaged/registry.h"
#include "test/unit/t.h"

#define BIG_SIZE (5u << 20)
#define MANIFEST "{\"schemaVersion\":2,\"layers\":[]}"

static int listen_fd = -1;
static int port;
static char manifest_digest[BR_DIGEST_BUF];
static unsigned char *big;
static int token_requests;

static void
send_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		if (n <= 0)
			return;
		p += n;
		len -= (size_t)n;
	}
}

static void
respond(int fd, int status, const char *reason, const char *headers, const void *body, size_t len)
{
	char head[2048];
	int n = snprintf(head, sizeof(head),
	                 "HTTP/1.1 %d %s\r\nContent-Length: %zu\r\nConnection: close\r\n%s\r\n",
	                 status, reason, len, headers ? headers : "");
	send_all(fd, head, (size_t)n);
	send_all(fd, body, len);
}

static void
respond_str(int fd, int status, const char *reason, const char *headers, const char *body)
{
	respond(fd, status, reason, headers, body, strlen(body));
}

static void
serve_one(int fd)
{
	char req[8192];
	size_t len = 0;
	char method[16], path[2048], hdr[512];

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

	if (strcmp(path, "/v2/test/x/manifests/latest") == 0) {
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
	} else if (strcmp(path, "/v2/test/x/manifests/huge") == 0) {
		respond(fd, 200, "OK", NULL, big, BR_OCI_MAX_DOC + 10);
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
		respond(fd, 200, "OK", NULL, big, BIG_SIZE);
	} else if (strcmp(path, "/v2/test/x/blobs/moved") == 0) {
		respond_str(fd, 307, "Temporary Redirect", "Location: /v2/test/x/blobs/big\r\n",
		            "");
	} else {
		respond_str(fd, 404, "Not Found", NULL, "");
	}
}

static void *
server_main(void *arg)
{
	for (;;) {
		int fd = accept(listen_fd, NULL, NULL);
		if (fd < 0)
			return NULL;
		serve_one(fd);
		shutdown(fd, SHUT_WR);
		close(fd);
	}
	return arg;
}

/* Start the server; every case runs in its own process, so each gets its own. */
static void
start_server(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof(sa);
	pthread_t t;
	br_err err = BR_ERR_INIT;

	big = malloc(BR_OCI_MAX_DOC + BIG_SIZE);
	T_NOT_NULL(big);
	for (size_t i = 0; i < BR_OCI_MAX_DOC + BIG_SIZE; i++)
		big[i] = (unsigned char)(i * 2654435761u >> 13);
	br_digest_buf(MANIFEST, strlen(MANIFEST), manifest_digest);
	listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	T_OK(listen_fd >= 0);
	T_OK(bind(listen_fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	T_OK(listen(listen_fd, 16) == 0);
	T_OK(getsockname(listen_fd, (struct sockaddr *)&sa, &sl) == 0);
	port = ntohs(sa.sin_port);
	T_OK(pthread_create(&t, NULL, server_main, NULL) == 0);
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
	         "{\"imaged\": {\"registries\": [{\"host\": \"127.0.0.1:%d\", \"insecure\": %s}]}}",
	         port, insecure ? "true" : "false");
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
	struct imaged_registry *down = imaged_registry_new(NULL, ref);
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

T_MAIN(T_CASE(test_manifest), T_CASE(test_errors), T_CASE(test_bearer_token),
       T_CASE(test_blob_streaming), T_CASE(test_get_with_digest))
