/* SPDX-License-Identifier: Apache-2.0 */
/*
 * An HTTP/1.1 proxy in front of a registry that misbehaves on request, for the transfer tests:
 *
 *   flaky_proxy --upstream HOST:PORT --port-file FILE --log FILE [options]
 *
 *   --cut-after N        a blob body (GET .../blobs/sha256:...) is cut after N bytes: the
 *                        connection is closed mid-body, once per blob (each blob's first
 *                        request)
 *   --cut-blobs K        ... or on the first K blob requests, whatever the blob
 *   --fail-status CODE   the first K requests for /v2/<name>/... are answered CODE with no
 *   --fail-count K       body (and "Retry-After: V" when given) instead of being forwarded
 *   --retry-after V
 *   --stall-blobs        a blob body stops after --cut-after bytes (0 by default) and the
 *                        connection stays open, silent, until the client goes (120 s at most)
 *   --manifest FILE      every GET .../manifests/... is answered 200 with FILE's bytes and
 *   --manifest-type T    Content-Type T (a registry that would not store such a document)
 *   --missing-blob D     GET .../blobs/D is answered 404 BLOB_UNKNOWN
 *   --slow-blobs MS      blob bodies are sent 64 KiB at a time, MS ms apart
 *   --ignore-range       Range headers are not forwarded: the registry sends whole bodies
 *
 * It listens on 127.0.0.1 (a free port, written to --port-file once it accepts), serves one
 * request per connection (Connection: close both ways), and appends one line per request to
 * --log: `<method> <path> range=<Range or -> status=<code> bytes=<body bytes sent> <action>`,
 * where action is forward, cut, fail, stall, canned or missing. It runs until killed (SIGTERM).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define HEAD_MAX (16 << 10) /* bytes of a request or response head */
#define BLOBS_MAX 256       /* distinct blobs whose first request was cut */
#define STALL_MAX_S 120     /* longest a stalled connection is held */

static struct sockaddr_in upstream;
static long cut_after = -1, cut_blobs = 0, fail_status = 0, fail_count = 0;
static const char *retry_after, *manifest_type = "application/json", *missing_blob;
static char *manifest_body;
static size_t manifest_len;
static bool stall_blobs;
static long slow_ms; /* pause per 64 KiB of a blob body */
static bool ignore_range;
static FILE *log_file;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static char *cut_paths[BLOBS_MAX];
static size_t n_cut_paths;
static long failed, blobs_cut;

static bool
send_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		p += n;
		len -= (size_t)n;
	}
	return true;
}

/* Read a head (up to and with "\r\n\r\n") into buf; the bytes read past it stay after it.
 * Returns the head's length, -1 on error or a head too long. */
static ssize_t
read_head(int fd, char *buf, size_t cap, size_t *ret_len)
{
	size_t len = 0;

	for (;;) {
		buf[len] = '\0';
		char *end = strstr(buf, "\r\n\r\n");
		if (end != NULL) {
			*ret_len = len;
			return end + 4 - buf;
		}
		if (len + 1 >= cap)
			return -1;
		ssize_t n = recv(fd, buf + len, cap - 1 - len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		len += (size_t)n;
	}
}

/* The value of header `name` in `head` into out ("-" when absent). */
static void
header(const char *head, const char *name, char *out, size_t size)
{
	size_t n = strlen(name);

	snprintf(out, size, "-");
	for (const char *p = strstr(head, "\r\n"); p != NULL; p = strstr(p + 2, "\r\n")) {
		if (strncasecmp(p + 2, name, n) != 0 || p[2 + n] != ':')
			continue;
		const char *v = p + 3 + n;
		while (*v == ' ')
			v++;
		snprintf(out, size, "%.*s", (int)strcspn(v, "\r\n"), v);
		return;
	}
}

/* `head` without its Connection and Keep-Alive lines (and Range ones with `no_range`), with
 * "Connection: close" added. */
static size_t
close_head(const char *head, size_t head_len, bool no_range, char *out, size_t cap)
{
	size_t o = 0;
	const char *p = head, *end = head + head_len - 2; /* the final empty line */

	while (p < end) {
		const char *eol = strstr(p, "\r\n");
		size_t l = (size_t)(eol + 2 - p);
		bool drop = p != head && (strncasecmp(p, "connection:", 11) == 0 ||
		                          strncasecmp(p, "keep-alive:", 11) == 0 ||
		                          (no_range && strncasecmp(p, "range:", 6) == 0));
		if (!drop && o + l < cap) {
			memcpy(out + o, p, l);
			o += l;
		}
		p = eol + 2;
	}
	o += (size_t)snprintf(out + o, cap - o, "Connection: close\r\n\r\n");
	return o;
}

static void
log_line(const char *method, const char *path, const char *range, int status, long long bytes,
         const char *action)
{
	pthread_mutex_lock(&lock);
	fprintf(log_file, "%s %s range=%s status=%d bytes=%lld %s\n", method, path, range, status,
	        bytes, action);
	fflush(log_file);
	pthread_mutex_unlock(&lock);
}

/* Whether this request of blob `path` is to be cut (and remember that it was). */
static bool
cut_this(const char *path)
{
	bool cut = false;

	pthread_mutex_lock(&lock);
	if (cut_blobs > 0) {
		cut = blobs_cut < cut_blobs;
		blobs_cut += cut;
	} else {
		cut = true;
		for (size_t i = 0; i < n_cut_paths; i++)
			if (strcmp(cut_paths[i], path) == 0)
				cut = false;
		if (cut && n_cut_paths < BLOBS_MAX)
			cut_paths[n_cut_paths++] = strdup(path);
	}
	pthread_mutex_unlock(&lock);
	return cut;
}

/* Hold a connection silent until the client closes it (or STALL_MAX_S). */
static void
stall(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	char b[512];

	for (int i = 0; i < STALL_MAX_S * 10; i++) {
		if (poll(&p, 1, 100) > 0 && recv(fd, b, sizeof(b), MSG_DONTWAIT) == 0)
			return;
	}
}

static void
canned(int fd, const char *method, const char *path, const char *range, int status,
       const char *reason, const char *headers, const char *body, size_t len, const char *action)
{
	char head[1024];
	int n = snprintf(head, sizeof(head),
	                 "HTTP/1.1 %d %s\r\n%sContent-Length: %zu\r\nConnection: close\r\n\r\n",
	                 status, reason, headers, len);
	send_all(fd, head, (size_t)n);
	send_all(fd, body, len);
	log_line(method, path, range, status, (long long)len, action);
}

static void
serve(int fd)
{
	char *req = malloc(HEAD_MAX), *resp = malloc(HEAD_MAX), *out = malloc(HEAD_MAX + 64);
	char method[16], path[2048], range[128];
	size_t req_len, resp_len;
	int up = -1;

	ssize_t head_len = read_head(fd, req, HEAD_MAX, &req_len);
	if (head_len < 0 || sscanf(req, "%15s %2047s", method, path) != 2)
		goto done;
	header(req, "Range", range, sizeof(range));
	bool is_blob = strcmp(method, "GET") == 0 && strstr(path, "/blobs/sha256:") != NULL;
	bool is_manifest = strcmp(method, "GET") == 0 && strstr(path, "/manifests/") != NULL;

	if (fail_status > 0 && strncmp(path, "/v2/", 4) == 0 && strlen(path) > 4) {
		pthread_mutex_lock(&lock);
		bool fail = failed < fail_count;
		failed += fail;
		pthread_mutex_unlock(&lock);
		if (fail) {
			char h[256] = "";
			if (retry_after != NULL)
				snprintf(h, sizeof(h), "Retry-After: %s\r\n", retry_after);
			canned(fd, method, path, range, (int)fail_status, "Try Again", h, "", 0,
			       "fail");
			goto done;
		}
	}
	if (is_manifest && manifest_body != NULL) {
		char h[512];
		snprintf(h, sizeof(h), "Content-Type: %s\r\n", manifest_type);
		canned(fd, method, path, range, 200, "OK", h, manifest_body, manifest_len,
		       "canned");
		goto done;
	}
	if (is_blob && missing_blob != NULL && strstr(path, missing_blob) != NULL) {
		const char *e = "{\"errors\":[{\"code\":\"BLOB_UNKNOWN\",\"message\":\"blob "
		                "unknown to registry\"}]}";
		canned(fd, method, path, range, 404, "Not Found",
		       "Content-Type: application/json\r\n", e, strlen(e), "missing");
		goto done;
	}

	up = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (up < 0 || connect(up, (struct sockaddr *)&upstream, sizeof(upstream)) < 0)
		goto done;
	size_t n = close_head(req, (size_t)head_len, ignore_range, out, HEAD_MAX + 64);
	if (!send_all(up, out, n))
		goto done;
	ssize_t rhead = read_head(up, resp, HEAD_MAX, &resp_len);
	if (rhead < 0)
		goto done;
	int status = 0;
	sscanf(resp, "HTTP/%*s %d", &status);
	n = close_head(resp, (size_t)rhead, false, out, HEAD_MAX + 64);
	if (!send_all(fd, out, n))
		goto done;

	bool ok = status == 200 || status == 206;
	bool stalling = is_blob && ok && stall_blobs;
	bool cutting = is_blob && ok && !stall_blobs && cut_after >= 0 && cut_this(path);
	long long limit = stalling ? (cut_after > 0 ? cut_after : 0) : cutting ? cut_after : -1;
	long long sent = 0;
	char *body = resp + rhead;
	size_t have = resp_len - (size_t)rhead;
	for (;;) {
		size_t give = have;
		if (limit >= 0 && sent + (long long)give > limit)
			give = (size_t)(limit - sent);
		if (give > 0 && !send_all(fd, body, give))
			break;
		if (is_blob && slow_ms > 0 && sent / 65536 != (sent + (long long)give) / 65536)
			usleep((useconds_t)slow_ms * 1000);
		sent += (long long)give;
		if (limit >= 0 && sent >= limit)
			break;
		ssize_t r = recv(up, resp, HEAD_MAX, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		body = resp;
		have = (size_t)r;
	}
	log_line(method, path, range, status, sent,
	         stalling                   ? "stall"
	         : cutting && sent >= limit ? "cut"
	                                    : "forward");
	if (stalling)
		stall(fd);
done:
	if (up >= 0)
		close(up);
	free(req);
	free(resp);
	free(out);
}

static void *
conn_main(void *arg)
{
	int fd = (int)(intptr_t)arg;

	serve(fd);
	shutdown(fd, SHUT_RDWR);
	close(fd);
	return NULL;
}

static char *
read_file(const char *path, size_t *ret_len)
{
	FILE *f = fopen(path, "re");
	char *buf = NULL;
	size_t cap = 0, len = 0;

	if (f == NULL)
		return NULL;
	for (;;) {
		if (len == cap) {
			cap = cap ? cap * 2 : 4096;
			if (cap > (4u << 20))
				break;
			buf = realloc(buf, cap);
		}
		size_t n = fread(buf + len, 1, cap - len, f);
		if (n == 0)
			break;
		len += n;
	}
	fclose(f);
	*ret_len = len;
	return buf;
}

static int
usage(void)
{
	fprintf(stderr, "usage: flaky_proxy --upstream HOST:PORT --port-file FILE --log FILE "
	                "[--cut-after N] [--cut-blobs K] [--fail-status CODE --fail-count K] "
	                "[--retry-after V] [--stall-blobs] [--manifest FILE --manifest-type T] "
	                "[--missing-blob DIGEST] [--slow-blobs MS] [--ignore-range]\n");
	return 2;
}

int
main(int argc, char **argv)
{
	const char *up = NULL, *port_file = NULL, *log_path = NULL;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(a, "--stall-blobs") == 0 || strcmp(a, "--ignore-range") == 0) {
			*(a[2] == 's' ? &stall_blobs : &ignore_range) = true;
			continue;
		}
		if (v == NULL)
			return usage();
		i++;
		if (strcmp(a, "--upstream") == 0)
			up = v;
		else if (strcmp(a, "--port-file") == 0)
			port_file = v;
		else if (strcmp(a, "--log") == 0)
			log_path = v;
		else if (strcmp(a, "--cut-after") == 0)
			cut_after = atol(v);
		else if (strcmp(a, "--cut-blobs") == 0)
			cut_blobs = atol(v);
		else if (strcmp(a, "--fail-status") == 0)
			fail_status = atol(v);
		else if (strcmp(a, "--fail-count") == 0)
			fail_count = atol(v);
		else if (strcmp(a, "--retry-after") == 0)
			retry_after = v;
		else if (strcmp(a, "--manifest-type") == 0)
			manifest_type = v;
		else if (strcmp(a, "--slow-blobs") == 0)
			slow_ms = atol(v);
		else if (strcmp(a, "--missing-blob") == 0)
			missing_blob = v;
		else if (strcmp(a, "--manifest") == 0) {
			manifest_body = read_file(v, &manifest_len);
			if (manifest_body == NULL) {
				perror(v);
				return 1;
			}
		} else
			return usage();
	}
	if (up == NULL || port_file == NULL || log_path == NULL)
		return usage();
	char host[64];
	int port = 0;
	if (sscanf(up, "%63[^:]:%d", host, &port) != 2 ||
	    inet_pton(AF_INET, host, &upstream.sin_addr) != 1)
		return usage();
	upstream.sin_family = AF_INET;
	upstream.sin_port = htons((uint16_t)port);
	log_file = fopen(log_path, "ae");
	if (log_file == NULL) {
		perror(log_path);
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);

	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof(sa);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lfd, 64) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&sa, &sl) < 0) {
		perror("listen");
		return 1;
	}
	FILE *pf = fopen(port_file, "we");
	if (pf == NULL) {
		perror(port_file);
		return 1;
	}
	fprintf(pf, "%d\n", ntohs(sa.sin_port));
	fclose(pf);

	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			perror("accept");
			return 1;
		}
		pthread_t t;
		if (pthread_create(&t, &attr, conn_main, (void *)(intptr_t)fd) != 0)
			close(fd);
	}
}
