/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Registry authentication and endpoints of berth-imaged's registry client (imaged/registry.c,
 * imaged/registry_auth.c): the WWW-Authenticate and token response parsers, then a small
 * HTTP/1.1 server in a thread of the test that asks for Basic authentication, or for a bearer
 * token from a token server that wants the credentials (Basic for a user name and password,
 * a POSTed refresh_token grant for an identity token), and can declare its tokens expired. A
 * mirror path on the same server lacks the content, to check the fallback to the registry.
 */
#include <arpa/inet.h>
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
#include "common/ref.h"
#include "common/xalloc.h"
#include "imaged/registry.h"
#include "test/unit/t.h"
#include "test/unit/t_http.h"

#define MANIFEST "{\"schemaVersion\":2,\"layers\":[]}"
#define ALICE_BASIC "Basic YWxpY2U6czNjcmV0" /* alice:s3cret */

static int port;

/* A blob that breaks off half-way the first time, and whose tokens expire meanwhile. */
#define LONG_LEN 65536
static unsigned char long_blob[LONG_LEN];

/* What the server saw (lock). */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int token_requests, unauthorized, token_gen;
static int valid_from = 1; /* tokens older than "tok-<valid_from>" are expired */
static char last_scope[256], last_post[512], paths[64][256];
static size_t n_paths;

static void
respond(int fd, int status, const char *reason, const char *headers, const char *body)
{
	t_http_respond(fd, status, reason, headers, body, strlen(body));
}

/* A valid bearer token of this server: "Bearer tok-N" with N >= valid_from. */
static bool
token_valid(const char *auth)
{
	int n = 0;

	return sscanf(auth, "Bearer tok-%d", &n) == 1 && n >= valid_from;
}

static void
serve_token(int fd, const char *method, const char *path, const char *auth, const char *body)
{
	char out[128];
	const char *scope = strstr(path, "scope=");

	token_requests++;
	snprintf(last_scope, sizeof(last_scope), "%.*s", scope ? (int)strcspn(scope + 6, "&") : 0,
	         scope ? scope + 6 : "");
	snprintf(last_post, sizeof(last_post), "%s", strcmp(method, "POST") == 0 ? body : "");
	bool ok = strcmp(auth, ALICE_BASIC) == 0 ||
	          (strcmp(method, "POST") == 0 && strstr(body, "grant_type=refresh_token") &&
	           strstr(body, "refresh_token=rt-1"));
	if (!ok) {
		respond(fd, 401, "Unauthorized", NULL,
		        "{\"errors\":[{\"code\":\"UNAUTHORIZED\",\"message\":\"bad "
		        "credentials\"}]}");
		return;
	}
	snprintf(out, sizeof(out), "{\"%s\":\"tok-%d\",\"expires_in\":300}",
	         strcmp(method, "POST") == 0 ? "access_token" : "token", ++token_gen);
	respond(fd, 200, "OK", "Content-Type: application/json\r\n", out);
}

static void
serve_one(int fd)
{
	char req[8192], method[16], path[2048], auth[256], clen[32], hdr[512];
	size_t len = 0;

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
	t_http_header(req, "Authorization", auth, sizeof(auth));
	t_http_header(req, "Content-Length", clen, sizeof(clen));
	char *body = strstr(req, "\r\n\r\n") + 4;
	size_t want = (size_t)atoi(clen);
	while (strlen(body) < want && len < sizeof(req) - 1) {
		ssize_t n = recv(fd, req + len, sizeof(req) - 1 - len, 0);
		if (n <= 0)
			break;
		len += (size_t)n;
		req[len] = '\0';
	}

	pthread_mutex_lock(&lock);
	if (n_paths < 64)
		snprintf(paths[n_paths++], sizeof(paths[0]), "%.255s", path);
	if (strncmp(path, "/token", 6) == 0) {
		serve_token(fd, method, path, auth, body);
	} else if (strncmp(path, "/v2/basic/", 10) == 0) {
		if (strcmp(auth, ALICE_BASIC) != 0) {
			unauthorized++;
			respond(fd, 401, "Unauthorized",
			        "WWW-Authenticate: Basic realm=\"Registry Realm\"\r\n", "");
		} else {
			respond(fd, 200, "OK", NULL, MANIFEST);
		}
	} else if (strncmp(path, "/v2/long/", 9) == 0 && token_valid(auth)) {
		char range[64], head[256];
		long from = -1;
		t_http_header(req, "Range", range, sizeof(range));
		if (sscanf(range, "bytes=%ld-", &from) != 1) {
			/* half of it, then the connection drops and every token so far expires */
			int n = snprintf(head, sizeof(head),
			                 "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", LONG_LEN);
			t_http_send_all(fd, head, (size_t)n);
			t_http_send_all(fd, long_blob, LONG_LEN / 2);
			valid_from = token_gen + 1;
		} else {
			snprintf(head, sizeof(head), "Content-Range: bytes %ld-%d/%d\r\n", from,
			         LONG_LEN - 1, LONG_LEN);
			t_http_respond(fd, 206, "Partial Content", head, long_blob + from,
			               (size_t)(LONG_LEN - from));
		}
	} else if ((strncmp(path, "/v2/late/", 9) == 0 || strncmp(path, "/v2/long/", 9) == 0) &&
	           !token_valid(auth)) {
		/* the Bearer challenge first, then one that cannot be answered */
		unauthorized++;
		snprintf(hdr, sizeof(hdr),
		         "WWW-Authenticate: Bearer realm=\"http://127.0.0.1:%d/token\","
		         "service=\"reg\"\r\n"
		         "WWW-Authenticate: Negotiate\r\n",
		         port);
		respond(fd, 401, "Unauthorized", hdr, "");
	} else if (strncmp(path, "/v2/open/", 9) == 0) {
		respond(fd, 200, "OK", NULL, MANIFEST);
	} else if (strncmp(path, "/v2/", 4) == 0) {
		if (!token_valid(auth)) {
			unauthorized++;
			/* two challenges, the Bearer one second, with a quoted comma */
			snprintf(hdr, sizeof(hdr),
			         "WWW-Authenticate: Basic realm=\"a, b\"\r\n"
			         "WWW-Authenticate: Bearer realm=\"http://127.0.0.1:%d/token\","
			         "service=\"reg\"\r\n",
			         port);
			respond(fd, 401, "Unauthorized", hdr,
			        "{\"errors\":[{\"code\":\"UNAUTHORIZED\",\"message\":"
			        "\"authentication "
			        "required\"}]}");
		} else {
			respond(fd, 200, "OK", NULL, strcmp(path, "/v2/") == 0 ? "{}" : MANIFEST);
		}
	} else {
		/* the mirror ("/mirror/v2/..."): has nothing */
		respond(fd, 404, "Not Found", "Content-Type: application/json\r\n",
		        "{\"errors\":[{\"code\":\"MANIFEST_UNKNOWN\",\"message\":\"manifest "
		        "unknown\"}]}");
	}
	pthread_mutex_unlock(&lock);
}

static void
start_server(void)
{
	br_err err = BR_ERR_INIT;

	port = t_http_start(serve_one);
	T_NOERR(imaged_http_global_init(&err), err);
}

static int
count_paths(const char *prefix)
{
	int n = 0;

	pthread_mutex_lock(&lock);
	for (size_t i = 0; i < n_paths; i++)
		n += strncmp(paths[i], prefix, strlen(prefix)) == 0;
	pthread_mutex_unlock(&lock);
	return n;
}

static int
locked_int(const int *v)
{
	pthread_mutex_lock(&lock);
	int n = *v;
	pthread_mutex_unlock(&lock);
	return n;
}

static void
check_msg(const br_err *err, const char *needle)
{
	if (strstr(err->msg, needle) == NULL)
		T_FAIL_("error \"%s\" does not contain \"%s\"", err->msg, needle);
}

static void
check_no_secret(const br_err *err)
{
	if (strstr(err->msg, "s3cret") != NULL || strstr(err->msg, "YWxpY2U6") != NULL ||
	    strstr(err->msg, "rt-1") != NULL)
		T_FAIL_("error \"%s\" shows a secret", err->msg);
}

/* A registry for `repo` on the test server, configured by `extra` (keys of its section). */
static struct imaged_registry *
open_registry(const char *repo, const char *extra, const struct br_registry_auth *auth,
              unsigned caps, struct br_config **ret_cfg)
{
	char json[1024], name[256];
	struct br_ref *ref = NULL;
	br_err err = BR_ERR_INIT;

	snprintf(json, sizeof(json),
	         "{\"imaged\": {\"registries\": [{\"host\": \"127.0.0.1:%d\", \"insecure\": "
	         "true%s%s}]}}",
	         port, extra ? ", " : "", extra ? extra : "");
	T_NOERR(br_config_parse(json, strlen(json), "test", ret_cfg, &err), err);
	snprintf(name, sizeof(name), "127.0.0.1:%d/%s", port, repo);
	T_NOERR(br_ref_parse(name, &ref, &err), err);
	struct imaged_registry *reg = imaged_registry_open(*ret_cfg, ref, auth, caps);
	br_ref_free(ref);
	return reg;
}

static int
get_manifest(struct imaged_registry *reg, struct imaged_http *http, const char *reference,
             br_err *err)
{
	char *body = NULL, *mt = NULL, digest[BR_DIGEST_BUF];
	size_t len;
	int rc = imaged_registry_get_manifest(reg, http, reference, NULL, &body, &len, &mt, digest,
	                                      err);
	free(body);
	free(mt);
	return rc;
}

/* ------------------------------------------------------------------ parsers */

static void
test_challenges(void)
{
	struct imaged_challenge c[IMAGED_CHALLENGES_MAX];
	size_t n = 0;
	br_err err = BR_ERR_INIT;

	T_NOERR(imaged_challenges_parse("Bearer realm=\"https://auth.docker.io/token\","
	                                "service=\"registry.docker.io\","
	                                "scope=\"repository:library/busybox:pull\"",
	                                c, &n, &err),
	        err);
	T_EQ_INT(n, 1);
	T_EQ_STR(c[0].scheme, "bearer");
	T_EQ_STR(c[0].realm, "https://auth.docker.io/token");
	T_EQ_STR(c[0].service, "registry.docker.io");
	T_EQ_STR(c[0].scope, "repository:library/busybox:pull");
	imaged_challenges_fini(c, n);

	/* several challenges, quoted commas and escapes, tokens, odd spacing and case */
	T_NOERR(imaged_challenges_parse("Basic realm=\"a, \\\"b\\\"\" , BEARER  realm = "
	                                "https://t/x?y=1 ,service=svc, error=\"invalid_token\", "
	                                "Negotiate abc==, Foo",
	                                c, &n, &err),
	        err);
	T_EQ_INT(n, 4);
	T_EQ_STR(c[0].scheme, "basic");
	T_EQ_STR(c[0].realm, "a, \"b\"");
	T_EQ_STR(c[1].scheme, "bearer");
	T_EQ_STR(c[1].realm, "https://t/x?y=1");
	T_EQ_STR(c[1].service, "svc");
	T_EQ_STR(c[1].error, "invalid_token");
	T_NULL(c[1].scope);
	T_EQ_STR(c[2].scheme, "negotiate");
	T_EQ_STR(c[3].scheme, "foo");
	T_OK(imaged_challenge_find(c, n, "bearer") == &c[1]);
	T_NULL(imaged_challenge_find(c, n, "digest"));
	imaged_challenges_fini(c, n);

	/* a repeated parameter: the first holds; an unterminated quote ends the header */
	T_NOERR(imaged_challenges_parse("Bearer realm=\"x\",realm=\"y\",service=\"unterminated", c,
	                                &n, &err),
	        err);
	T_EQ_STR(c[0].realm, "x");
	T_EQ_STR(c[0].service, "unterminated");
	imaged_challenges_fini(c, n);

	/* a control character in a value leaves the value out */
	T_NOERR(imaged_challenges_parse("Bearer realm=\"a\x01z\"", c, &n, &err), err);
	T_NULL(c[0].realm);
	imaged_challenges_fini(c, n);

	T_NOERR(imaged_challenges_parse("", c, &n, &err), err);
	T_EQ_INT(n, 0);
	T_ERR(imaged_challenges_parse("Bearer realm=\"x\" \"stray\"", c, &n, &err), err,
	      BR_INVALID_ARGUMENT);
	T_ERR(imaged_challenges_parse("a, b, c, d, e, f, g, h, i", c, &n, &err), err,
	      BR_INVALID_ARGUMENT);
	check_msg(&err, "more than 8 challenges");
	char *long_header = malloc(IMAGED_CHALLENGE_HEADER_MAX + 2);
	memset(long_header, 'a', IMAGED_CHALLENGE_HEADER_MAX + 1);
	long_header[IMAGED_CHALLENGE_HEADER_MAX + 1] = '\0';
	T_ERR(imaged_challenges_parse(long_header, c, &n, &err), err, BR_INVALID_ARGUMENT);
	free(long_header);
}

static void
test_token_response(void)
{
	char *token = NULL;
	int64_t expires = 0;
	br_err err = BR_ERR_INIT;

#define PARSE(s) imaged_token_parse(s, strlen(s), &token, &expires, &err)
	T_NOERR(PARSE("{\"token\":\"abc\",\"expires_in\":300}"), err);
	T_EQ_STR(token, "abc");
	T_EQ_INT(expires, 300);
	free(token);
	T_NOERR(PARSE("{\"token\":\"\",\"access_token\":\"def\"}"), err);
	T_EQ_STR(token, "def");
	T_EQ_INT(expires, IMAGED_TOKEN_MIN_LIFETIME_S); /* the default */
	free(token);
	T_NOERR(PARSE("{\"token\":\"a\",\"expires_in\":5}"), err);
	T_EQ_INT(expires, 60); /* at least a minute, as docker */
	free(token);
	T_NOERR(PARSE("{\"token\":\"a\",\"expires_in\":99999999}"), err);
	T_EQ_INT(expires, 86400);
	free(token);
	T_NOERR(PARSE("{\"token\":\"a\",\"expires_in\":\"soon\"}"), err);
	T_EQ_INT(expires, 60);
	free(token);
	T_ERR(PARSE("{}"), err, BR_PERMISSION_DENIED);
	T_ERR(PARSE("{\"token\":\"a b\"}"), err, BR_PERMISSION_DENIED);
	T_ERR(PARSE("{\"token\":\"a\\r\\nX-Injected: 1\"}"), err, BR_PERMISSION_DENIED);
	T_ERR(PARSE("{\"token\":7}"), err, BR_PERMISSION_DENIED);
	T_ERR(PARSE("[\"token\"]"), err, BR_PERMISSION_DENIED);
	T_ERR(PARSE("not json"), err, BR_INVALID_ARGUMENT);
#undef PARSE
}

/* ------------------------------------------------------------------ flows */

static void
test_bearer_with_credentials(void)
{
	struct br_config *cfg = NULL;
	struct br_registry_auth alice = {.username = "alice", .password = "s3cret"};
	br_err err = BR_ERR_INIT;

	start_server();
	struct imaged_http *http = imaged_http_new();
	struct imaged_registry *reg =
	        open_registry("priv/x", NULL, &alice, BR_REGISTRY_PULL | BR_REGISTRY_RESOLVE, &cfg);
	T_NOERR(get_manifest(reg, http, "latest", &err), err);
	T_EQ_INT(locked_int(&token_requests), 1);
	T_EQ_STR(last_scope, "repository%3Apriv%2Fx%3Apull"); /* the challenge names none */

	/* one token for every later request of the job */
	for (int i = 0; i < 5; i++)
		T_NOERR(get_manifest(reg, http, "latest", &err), err);
	T_EQ_INT(locked_int(&token_requests), 1);
	T_EQ_INT(locked_int(&unauthorized), 1);

	/* the registry no longer honours it: one new token, and on */
	pthread_mutex_lock(&lock);
	valid_from = 2;
	pthread_mutex_unlock(&lock);
	T_NOERR(get_manifest(reg, http, "latest", &err), err);
	T_EQ_INT(locked_int(&token_requests), 2);
	T_NOERR(get_manifest(reg, http, "latest", &err), err);
	T_EQ_INT(locked_int(&token_requests), 2);
	imaged_registry_free(reg);
	br_config_free(cfg);

	/* a push job asks for pull and push */
	reg = open_registry("priv/x", NULL, &alice, BR_REGISTRY_PUSH, &cfg);
	T_NOERR(get_manifest(reg, http, "latest", &err), err);
	T_EQ_STR(last_scope, "repository%3Apriv%2Fx%3Apull%2Cpush");
	imaged_registry_free(reg);
	br_config_free(cfg);

	/* credentials from the configuration, as an auth string */
	reg = open_registry("priv/x", "\"auth\": \"YWxpY2U6czNjcmV0\"", NULL,
	                    BR_REGISTRY_PULL | BR_REGISTRY_RESOLVE, &cfg);
	T_NOERR(get_manifest(reg, http, "latest", &err), err);
	imaged_registry_free(reg);
	br_config_free(cfg);

	/* the call's credentials come before the configuration's */
	struct br_registry_auth wrong = {.username = "alice", .password = "nope"};
	reg = open_registry("priv/x", "\"username\": \"alice\", \"password\": \"s3cret\"", &wrong,
	                    BR_REGISTRY_PULL | BR_REGISTRY_RESOLVE, &cfg);
	T_ERR(get_manifest(reg, http, "latest", &err), err, BR_PERMISSION_DENIED);
	check_msg(&err, "the registry refused the credentials");
	check_no_secret(&err);
	imaged_registry_free(reg);
	br_config_free(cfg);

	/* none at all: the anonymous token request is refused too */
	reg = open_registry("priv/x", NULL, NULL, BR_REGISTRY_PULL, &cfg);
	T_ERR(get_manifest(reg, http, "latest", &err), err, BR_PERMISSION_DENIED);
	imaged_registry_free(reg);
	br_config_free(cfg);
	imaged_http_free(http);
}

/* Every challenge counts, whichever header carries it: a fetch and an upload request alike. */
static void
test_challenge_headers_joined(void)
{
	struct br_config *cfg = NULL;
	struct br_registry_auth alice = {.username = "alice", .password = "s3cret"};
	br_err err = BR_ERR_INIT;

	start_server();
	struct imaged_http *http = imaged_http_new();
	struct imaged_registry *reg = open_registry("late/x", NULL, &alice, BR_REGISTRY_PUSH, &cfg);
	struct imaged_request req = {.method = "HEAD", .path = "manifests/latest"};
	struct imaged_response resp = {0};
	T_NOERR(imaged_registry_request(reg, http, &req, NULL, &resp, &err), err);
	T_EQ_INT(resp.status, 200);
	imaged_response_fini(&resp);
	imaged_registry_free(reg);
	br_config_free(cfg);

	reg = open_registry("late/y", NULL, &alice, BR_REGISTRY_PULL, &cfg);
	T_NOERR(get_manifest(reg, http, "latest", &err), err);
	imaged_registry_free(reg);
	br_config_free(cfg);
	imaged_http_free(http);
}

/* A download that breaks off is continued with a Range request carrying a token renewed when
 * the one it started with expired meanwhile. */
static void
test_resume_renews_token(void)
{
	struct br_config *cfg = NULL;
	struct br_registry_auth alice = {.username = "alice", .password = "s3cret"};
	char digest[BR_DIGEST_BUF], *body = NULL;
	br_err err = BR_ERR_INIT;
	size_t len = 0;

	for (size_t i = 0; i < LONG_LEN; i++)
		long_blob[i] = (unsigned char)(i * 7 + i / 251);
	br_digest_buf(long_blob, LONG_LEN, digest);
	start_server();
	int tokens0 = locked_int(&token_requests);
	struct imaged_http *http = imaged_http_new();
	struct imaged_registry *reg = open_registry("long/x", NULL, &alice, BR_REGISTRY_PULL, &cfg);
	char *path = xasprintf("blobs/%s", digest);
	T_NOERR(imaged_registry_get(reg, http, path, NULL, LONG_LEN, digest, NULL, &body, &len,
	                            NULL, &err),
	        err);
	T_EQ_INT(len, LONG_LEN);
	T_OK(memcmp(body, long_blob, LONG_LEN) == 0);
	T_EQ_INT(locked_int(&token_requests) - tokens0, 2); /* the first, and the renewed one */
	free(body);
	free(path);
	imaged_registry_free(reg);
	br_config_free(cfg);
	imaged_http_free(http);
}

struct worker {
	struct imaged_registry *reg;
	int failures;
};

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	struct imaged_http *http = imaged_http_new();
	br_err err = BR_ERR_INIT;

	for (int i = 0; i < 10; i++)
		if (get_manifest(w->reg, http, "latest", &err) < 0)
			w->failures++;
	imaged_http_free(http);
	return NULL;
}

/* A job's download threads share the registry and its one token. */
static void
test_token_shared_by_threads(void)
{
	struct br_config *cfg = NULL;
	struct br_registry_auth alice = {.username = "alice", .password = "s3cret"};
	struct worker w[4];
	pthread_t t[4];
	br_err err = BR_ERR_INIT;

	start_server();
	struct imaged_http *http = imaged_http_new();
	struct imaged_registry *reg =
	        open_registry("priv/x", NULL, &alice, BR_REGISTRY_PULL | BR_REGISTRY_RESOLVE, &cfg);
	T_NOERR(get_manifest(reg, http, "latest", &err), err); /* the job resolves first */
	for (int i = 0; i < 4; i++) {
		w[i] = (struct worker){.reg = reg};
		T_OK(pthread_create(&t[i], NULL, worker_main, &w[i]) == 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		T_EQ_INT(w[i].failures, 0);
	}
	T_EQ_INT(locked_int(&token_requests), 1);
	T_EQ_INT(locked_int(&unauthorized), 1);
	imaged_registry_free(reg);
	br_config_free(cfg);
	imaged_http_free(http);
}

static void
test_identity_token(void)
{
	struct br_config *cfg = NULL;
	struct br_registry_auth id = {.identity_token = "rt-1"};
	br_err err = BR_ERR_INIT;

	start_server();
	struct imaged_http *http = imaged_http_new();
	struct imaged_registry *reg = open_registry("priv/x", NULL, &id, BR_REGISTRY_PULL, &cfg);
	T_ERR(get_manifest(reg, http,
	                   "sha256:1111111111111111111111111111111111111111111111111"
	                   "111111111111111",
	                   &err),
	      err, BR_FAILED_PRECONDITION);
	/* the manifest is not that digest, but the token flow ran: a POSTed refresh grant */
	check_msg(&err, "digest mismatch");
	T_OK(strstr(last_post, "grant_type=refresh_token") != NULL);
	T_OK(strstr(last_post, "service=reg") != NULL);
	T_OK(strstr(last_post, "client_id=berth") != NULL);
	T_OK(strstr(last_post, "scope=repository%3Apriv%2Fx%3Apull") != NULL);
	check_no_secret(&err);
	imaged_registry_free(reg);
	br_config_free(cfg);
	imaged_http_free(http);
}

static void
test_basic(void)
{
	struct br_config *cfg = NULL;
	struct br_registry_auth alice = {.username = "alice", .password = "s3cret"};
	br_err err = BR_ERR_INIT;

	start_server();
	struct imaged_http *http = imaged_http_new();
	struct imaged_registry *reg = open_registry("basic/x", NULL, &alice,
	                                            BR_REGISTRY_PULL | BR_REGISTRY_RESOLVE, &cfg);
	T_NOERR(get_manifest(reg, http, "latest", &err), err);
	T_EQ_INT(locked_int(&unauthorized), 1);
	/* sent up front from then on */
	T_NOERR(get_manifest(reg, http, "latest", &err), err);
	T_NOERR(get_manifest(reg, http, "v2", &err), err);
	T_EQ_INT(locked_int(&unauthorized), 1);
	T_EQ_INT(locked_int(&token_requests), 0);
	imaged_registry_free(reg);
	br_config_free(cfg);

	struct br_registry_auth wrong = {.username = "alice", .password = "guess"};
	reg = open_registry("basic/x", NULL, &wrong, BR_REGISTRY_PULL | BR_REGISTRY_RESOLVE, &cfg);
	T_ERR(get_manifest(reg, http, "latest", &err), err, BR_PERMISSION_DENIED);
	check_msg(&err, "the registry refused the credentials");
	if (strstr(err.msg, "guess") != NULL)
		T_FAIL_("error \"%s\" shows the password", err.msg);
	imaged_registry_free(reg);
	br_config_free(cfg);

	reg = open_registry("basic/x", NULL, NULL, BR_REGISTRY_PULL | BR_REGISTRY_RESOLVE, &cfg);
	T_ERR(get_manifest(reg, http, "latest", &err), err, BR_PERMISSION_DENIED);
	check_msg(&err, "authentication required (berth login?)");
	imaged_registry_free(reg);
	br_config_free(cfg);
	imaged_http_free(http);
}

static void
test_login(void)
{
	char json[256];
	struct br_config *cfg = NULL;
	struct br_registry_auth alice = {.username = "alice", .password = "s3cret"};
	struct br_registry_auth wrong = {.username = "alice", .password = "guess"};
	br_err err = BR_ERR_INIT;
	char host[64];

	start_server();
	snprintf(json, sizeof(json),
	         "{\"imaged\": {\"registries\": [{\"host\": \"127.0.0.1:%d\", \"insecure\": "
	         "true}]}}",
	         port);
	T_NOERR(br_config_parse(json, strlen(json), "test", &cfg, &err), err);
	snprintf(host, sizeof(host), "127.0.0.1:%d", port);
	T_NOERR(imaged_registry_login(cfg, host, &alice, NULL, &err), err);
	T_EQ_INT(count_paths("/v2/"), 2); /* the challenge, then with the token */
	T_EQ_STR(last_scope, "");         /* a login asks for no repository */
	T_ERR(imaged_registry_login(cfg, host, &wrong, NULL, &err), err, BR_PERMISSION_DENIED);
	check_msg(&err, "refused the credentials");
	T_ERR(imaged_registry_login(cfg, host, NULL, NULL, &err), err, BR_PERMISSION_DENIED);
	br_config_free(cfg);
}

static void
test_mirror_fallback(void)
{
	struct br_config *cfg = NULL;
	char extra[512], mirror[128], want[256];
	br_err err = BR_ERR_INIT;

	start_server();
	struct imaged_http *http = imaged_http_new();
	/* a mirror without the image, one that is down, then the registry */
	snprintf(extra, sizeof(extra),
	         "\"mirrors\": [\"http://127.0.0.1:%d/mirror/v2\", \"http://127.0.0.1:1\"]", port);
	struct imaged_registry *reg =
	        open_registry("open/x", extra, NULL, BR_REGISTRY_PULL | BR_REGISTRY_RESOLVE, &cfg);
	const struct imaged_endpoint *eps[4];
	T_EQ_INT(imaged_registry_endpoints(reg, BR_REGISTRY_RESOLVE, eps, 4), 3);
	snprintf(mirror, sizeof(mirror), "http://127.0.0.1:%d/mirror/v2/open/x", port);
	T_EQ_STR(imaged_endpoint_url(eps[0]), mirror);
	T_OK(imaged_endpoint_is_mirror(eps[0]));
	T_OK(!imaged_endpoint_is_mirror(eps[2]));
	T_EQ_INT(imaged_registry_endpoints(reg, BR_REGISTRY_PUSH, eps, 4), 1);
	T_NOERR(get_manifest(reg, http, "latest", &err), err);
	/* the mirror was asked first, with the registry named as containerd does */
	snprintf(want, sizeof(want), "/mirror/v2/open/x/manifests/latest?ns=127.0.0.1:%d", port);
	T_EQ_INT(count_paths(want), 1);
	T_EQ_INT(count_paths("/v2/open/x/manifests/latest"), 1);
	imaged_registry_free(reg);
	br_config_free(cfg);

	/* everything fails: each endpoint is named */
	snprintf(extra, sizeof(extra), "\"mirrors\": [\"http://127.0.0.1:%d/mirror\"]", port);
	reg = open_registry("nothing/x", extra, NULL, BR_REGISTRY_PULL | BR_REGISTRY_RESOLVE, &cfg);
	T_ERR(get_manifest(reg, http, "latest", &err), err, BR_PERMISSION_DENIED);
	snprintf(want, sizeof(want), "tried mirror http://127.0.0.1:%d/mirror/v2/nothing/x (GET ",
	         port);
	check_msg(&err, want);
	check_msg(&err, "404 manifest unknown), then the registry: ");
	imaged_registry_free(reg);
	br_config_free(cfg);

	/* a mirror only for pulls is not asked to resolve a tag */
	snprintf(extra, sizeof(extra),
	         "\"mirrors\": [{\"url\": \"http://127.0.0.1:%d/pullonly\", "
	         "\"capabilities\": [\"pull\"]}]",
	         port);
	reg = open_registry("open/x", extra, NULL, BR_REGISTRY_PULL | BR_REGISTRY_RESOLVE, &cfg);
	T_NOERR(get_manifest(reg, http, "latest", &err), err);
	T_EQ_INT(count_paths("/pullonly/"), 0);
	imaged_registry_free(reg);
	br_config_free(cfg);
	imaged_http_free(http);
}

T_MAIN(T_CASE(test_challenges), T_CASE(test_token_response), T_CASE(test_bearer_with_credentials),
       T_CASE(test_token_shared_by_threads), T_CASE(test_identity_token), T_CASE(test_basic),
       T_CASE(test_login), T_CASE(test_mirror_fallback), T_CASE(test_challenge_headers_joined),
       T_CASE(test_resume_renews_token))
