/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The minimal HTTP/1.1 server of the metrics endpoint (http.h): the parser of request heads,
 * a pure function that the fuzz target test/fuzz/fuzz_http_request.c drives, and the libuv
 * side, one uv_tcp_t listener and per connection a uv_tcp_t and a deadline timer.
 *
 * Lifetimes (libuv's rule: memory goes in the close callback). A connection holds one
 * reference for its two handles, released once both have closed, and one while its handler
 * has not answered; it is freed when both are gone, so a handler may answer a connection
 * that timed out meanwhile. The server holds one reference for its listener and one per
 * connection whose handles are open, so that a connection closing after
 * gw_http_server_free() still finds it.
 */
#include "gatewayd/http.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/log.h"
#include "common/xalloc.h"

/* How long a connection that was answered waits for its client to close (shutdown_done). */
#define GW_HTTP_LINGER_MS 2000

/* ------------------------------------------------------------------ parsing */

/* A character of a token (RFC 9110 5.6.2): method and field names. */
static bool
is_tchar(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* A byte that may appear within a line of a request head: visible ASCII, space, tab and the
 * bytes of other encodings (obs-text); no other control character. */
static bool
is_head_byte(unsigned char c)
{
	return c == '\t' || (c >= 0x20 && c != 0x7f);
}

static bool
all_tchars(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (!is_tchar((unsigned char)s[i]))
			return false;
	}
	return n > 0;
}

/* The path of a request target: origin form "/p?q", absolute form "http://host/p?q" (path
 * "/" when it has none) or "*". Sets *ret_path and *ret_len, pointing into `target`. */
static int
target_path(const char *target, size_t n, const char **ret_path, size_t *ret_len)
{
	const char *p = target, *end = target + n;

	for (size_t i = 0; i < n; i++) {
		if ((unsigned char)target[i] <= 0x20 || (unsigned char)target[i] >= 0x7f)
			return -1;
	}
	if (n == 1 && target[0] == '*') {
		*ret_path = target;
		*ret_len = 1;
		return 0;
	}
	if (target[0] != '/') {
		size_t scheme = n >= 7 && strncasecmp(target, "http://", 7) == 0    ? 7
		                : n >= 8 && strncasecmp(target, "https://", 8) == 0 ? 8
		                                                                    : 0;
		if (scheme == 0)
			return -1;
		p = target + scheme;
		while (p < end && *p != '/' && *p != '?' && *p != '#')
			p++;
		if (p == target + scheme)
			return -1; /* no host */
		if (p == end || *p != '/') {
			*ret_path = "/";
			*ret_len = 1;
			return 0;
		}
	}
	size_t len = 0;
	while (p + len < end && p[len] != '?' && p[len] != '#')
		len++;
	*ret_path = p;
	*ret_len = len;
	return 0;
}

/* "METHOD SP target SP HTTP/1.x" (the line without its end). */
static int
parse_request_line(const char *line, size_t n, struct gw_http_request *req)
{
	const char *sp1 = memchr(line, ' ', n), *sp2, *target, *version, *path;
	size_t method_len, rest, target_len, path_len;

	if (sp1 == NULL)
		return -1;
	method_len = (size_t)(sp1 - line);
	if (method_len > GW_HTTP_METHOD_MAX || !all_tchars(line, method_len))
		return -1;
	target = sp1 + 1;
	rest = n - method_len - 1;
	sp2 = memchr(target, ' ', rest);
	if (sp2 == NULL || sp2 == target)
		return -1;
	target_len = (size_t)(sp2 - target);
	version = sp2 + 1;
	if (rest - target_len - 1 != 8 || memcmp(version, "HTTP/1.", 7) != 0 ||
	    (version[7] != '0' && version[7] != '1'))
		return -1;
	if (target_path(target, target_len, &path, &path_len) < 0 || path_len > GW_HTTP_PATH_MAX)
		return -1;
	memcpy(req->method, line, method_len);
	req->method[method_len] = '\0';
	memcpy(req->path, path, path_len);
	req->path[path_len] = '\0';
	req->minor_version = version[7] - '0';
	return 0;
}

/* "name: value"; counts the Host fields in *hosts. */
static int
parse_field(const char *line, size_t n, int *hosts)
{
	const char *colon = memchr(line, ':', n);

	/* A line starting with whitespace continues the previous field (obsolete folding), and
	 * whitespace between the name and the colon is refused (RFC 9112 5.1): both have been
	 * used to smuggle fields past one parser and not another. all_tchars refuses both. */
	if (colon == NULL || !all_tchars(line, (size_t)(colon - line)))
		return -1;
	if (colon - line == 4 && strncasecmp(line, "host", 4) == 0)
		(*hosts)++;
	return 0;
}

int
gw_http_parse_request(const char *buf, size_t len, struct gw_http_request *ret)
{
	struct gw_http_request req = {0};
	size_t limit = len < GW_HTTP_HEAD_MAX ? len : GW_HTTP_HEAD_MAX, pos = 0;
	bool have_request_line = false;
	int hosts = 0;

	while (pos < limit) {
		const char *nl = memchr(buf + pos, '\n', limit - pos);
		size_t end = nl != NULL ? (size_t)(nl - buf) : limit, n = end - pos;
		const char *line = buf + pos;

		/* Refuse garbage as soon as it arrives, not when its line ends. A CR may only
		 * end a line (or the data so far, its LF still to come). */
		for (size_t i = pos; i < end; i++) {
			unsigned char c = (unsigned char)buf[i];
			if (!is_head_byte(c) && !(c == '\r' && i + 1 == end))
				return GW_HTTP_BAD;
		}
		if (nl == NULL)
			break;
		pos = end + 1;
		if (n > 0 && line[n - 1] == '\r')
			n--;
		if (!have_request_line) {
			if (n == 0)
				continue; /* empty lines before a request are ignored (RFC 9112 2.2)
				           */
			if (parse_request_line(line, n, &req) < 0)
				return GW_HTTP_BAD;
			have_request_line = true;
		} else if (n == 0) {
			if (hosts > 1 || (req.minor_version == 1 && hosts != 1))
				return GW_HTTP_BAD;
			*ret = req;
			return (int)pos;
		} else if (parse_field(line, n, &hosts) < 0) {
			return GW_HTTP_BAD;
		}
	}
	return len >= GW_HTTP_HEAD_MAX ? GW_HTTP_TOO_LARGE : GW_HTTP_INCOMPLETE;
}

/* ------------------------------------------------------------------ serving */

struct gw_http_server {
	uv_tcp_t listener;
	char *address;
	char *path;
	gw_http_handler_fn fn;
	void *data;
	struct gw_http_conn *conns; /* open ones */
	size_t n_conns;
	int refs;
	bool closing;
};

struct gw_http_conn {
	struct gw_http_server *server;
	struct gw_http_conn *prev, *next;
	uv_tcp_t tcp;
	uv_timer_t timer; /* the connection's whole life: GW_HTTP_TIMEOUT_MS */
	uv_write_t write_req;
	uv_shutdown_t shutdown_req;
	char head[GW_HTTP_HEAD_MAX];
	size_t len;
	char *response;
	int handles; /* open handles: 2 until both close callbacks ran */
	int refs;    /* the handles together, and a handler that has not answered */
	bool closing;
	bool answered; /* gw_http_respond() ran: a late read or timeout changes nothing */
	bool in_handler;
};

static void
server_unref(struct gw_http_server *server)
{
	if (--server->refs > 0)
		return;
	free(server->address);
	free(server->path);
	free(server);
}

static void
conn_unref(struct gw_http_conn *conn)
{
	if (--conn->refs > 0)
		return;
	free(conn->response);
	free(conn);
}

static void
conn_handle_closed(uv_handle_t *h)
{
	struct gw_http_conn *conn = h->data;

	if (--conn->handles > 0)
		return;
	server_unref(conn->server);
	conn_unref(conn);
}

static void
conn_close(struct gw_http_conn *conn)
{
	struct gw_http_server *server = conn->server;

	if (conn->closing)
		return;
	conn->closing = true;
	if (conn->prev != NULL)
		conn->prev->next = conn->next;
	else
		server->conns = conn->next;
	if (conn->next != NULL)
		conn->next->prev = conn->prev;
	server->n_conns--;
	uv_close((uv_handle_t *)&conn->tcp, conn_handle_closed);
	uv_close((uv_handle_t *)&conn->timer, conn_handle_closed);
}

static const char *
status_text(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 400:
		return "Bad Request";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 431:
		return "Request Header Fields Too Large";
	case 500:
		return "Internal Server Error";
	case 503:
		return "Service Unavailable";
	default:
		return "Unknown";
	}
}

static void timer_fired(uv_timer_t *timer);

static void
alloc_discard(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct gw_http_conn *conn = h->data;

	*buf = uv_buf_init(conn->head, sizeof(conn->head));
}

static void
read_discard(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
	if (nread < 0)
		conn_close(stream->data);
}

/* The answer is out and our side shut. Closing now, with bytes of the client's still unread
 * (a body, the rest of an oversized head), would send a reset that can destroy the answer
 * in the client's buffers before it read it; so read and drop what comes until the client
 * closes, for GW_HTTP_LINGER_MS at most. */
static void
shutdown_done(uv_shutdown_t *req, int status)
{
	struct gw_http_conn *conn = req->data;

	if (status < 0 || conn->closing ||
	    uv_read_start((uv_stream_t *)&conn->tcp, alloc_discard, read_discard) < 0) {
		conn_close(conn);
		return;
	}
	uv_timer_start(&conn->timer, timer_fired, GW_HTTP_LINGER_MS, 0);
}

static void
write_done(uv_write_t *req, int status)
{
	struct gw_http_conn *conn = req->data;

	/* Half-close so that the client reads the whole answer before it sees the end. */
	if (status < 0 || conn->closing ||
	    uv_shutdown(&conn->shutdown_req, (uv_stream_t *)&conn->tcp, shutdown_done) < 0)
		conn_close(conn);
}

void
gw_http_respond(struct gw_http_conn *conn, int status, const char *content_type, const char *body,
                size_t len)
{
	bool held = conn->in_handler;
	char head[256];

	conn->in_handler = false;
	if (!conn->answered && !conn->closing) {
		conn->answered = true;
		uv_read_stop((uv_stream_t *)&conn->tcp);
		int n = snprintf(head, sizeof(head),
		                 "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
		                 "%sConnection: close\r\n\r\n",
		                 status, status_text(status), content_type, len,
		                 status == 405 ? "Allow: GET\r\n" : "");
		size_t head_len = n > 0 && (size_t)n < sizeof(head) ? (size_t)n : 0;
		conn->response = xmalloc(head_len + len + 1);
		memcpy(conn->response, head, head_len);
		if (len > 0)
			memcpy(conn->response + head_len, body, len);
		uv_buf_t buf = uv_buf_init(conn->response, (unsigned)(head_len + len));
		if (head_len == 0 ||
		    uv_write(&conn->write_req, (uv_stream_t *)&conn->tcp, &buf, 1, write_done) < 0)
			conn_close(conn);
	}
	if (held)
		conn_unref(conn);
}

static void
respond_text(struct gw_http_conn *conn, int status, const char *text)
{
	gw_http_respond(conn, status, "text/plain; charset=utf-8", text, strlen(text));
}

static void
timer_fired(uv_timer_t *timer)
{
	struct gw_http_conn *conn = timer->data;

	if (!conn->answered)
		br_log_debug("GW-HTTP-TIMEOUT",
		             "%s: a connection did not finish within %d ms, closing",
		             conn->server->address, GW_HTTP_TIMEOUT_MS);
	conn_close(conn);
}

static void
alloc_head(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct gw_http_conn *conn = h->data;

	*buf = uv_buf_init(conn->head + conn->len, (unsigned)(sizeof(conn->head) - conn->len));
}

/* A complete head: route it. */
static void
dispatch(struct gw_http_conn *conn, const struct gw_http_request *req)
{
	struct gw_http_server *server = conn->server;

	uv_read_stop((uv_stream_t *)&conn->tcp);
	if (strcmp(req->path, server->path) != 0) {
		respond_text(conn, 404, "not found\n");
	} else if (strcmp(req->method, "GET") != 0) {
		respond_text(conn, 405, "only GET is served here\n");
	} else {
		conn->in_handler = true;
		conn->refs++;
		server->fn(conn, server->data);
	}
}

static void
read_head(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
	struct gw_http_conn *conn = stream->data;
	struct gw_http_request req;
	int rc;

	if (nread == 0 || conn->answered || conn->in_handler)
		return;
	if (nread < 0) {
		conn_close(conn); /* end of stream or error before a whole head: nobody to answer */
		return;
	}
	conn->len += (size_t)nread;
	rc = gw_http_parse_request(conn->head, conn->len, &req);
	if (rc > 0)
		dispatch(conn, &req);
	else if (rc == GW_HTTP_BAD)
		respond_text(conn, 400, "malformed request\n");
	else if (rc == GW_HTTP_TOO_LARGE)
		respond_text(conn, 431, "request head too large\n");
}

static void
on_connection(uv_stream_t *listener, int status)
{
	struct gw_http_server *server = listener->data;
	struct gw_http_conn *conn;

	if (status < 0) {
		br_log_warn("GW-HTTP-ACCEPT", "%s: %s", server->address, uv_strerror(status));
		return;
	}
	conn = xnew(struct gw_http_conn);
	conn->server = server;
	conn->handles = 2;
	conn->refs = 1;
	server->refs++;
	uv_tcp_init(listener->loop, &conn->tcp);
	uv_timer_init(listener->loop, &conn->timer);
	conn->tcp.data = conn->timer.data = conn;
	conn->write_req.data = conn->shutdown_req.data = conn;
	conn->next = server->conns;
	if (server->conns != NULL)
		server->conns->prev = conn;
	server->conns = conn;
	server->n_conns++;
	if (uv_accept(listener, (uv_stream_t *)&conn->tcp) < 0) {
		conn_close(conn);
		return;
	}
	/* Accepted and closed at once: not accepting would leave it in the backlog, where
	 * libuv offers it again and again. */
	if (server->n_conns > GW_HTTP_MAX_CONNECTIONS) {
		br_log_debug("GW-HTTP-BUSY", "%s: %d connections open already, closing a new one",
		             server->address, GW_HTTP_MAX_CONNECTIONS);
		conn_close(conn);
		return;
	}
	uv_timer_start(&conn->timer, timer_fired, GW_HTTP_TIMEOUT_MS, 0);
	if (uv_read_start((uv_stream_t *)&conn->tcp, alloc_head, read_head) < 0)
		conn_close(conn);
}

/* "1.2.3.4:80" or "[::1]:80" into a socket address. */
static int
parse_address(const char *address, struct sockaddr_storage *ret, br_err *err)
{
	const char *colon = strrchr(address, ':');
	char host[64];
	size_t n;
	char *end = NULL;
	long port;

	if (colon == NULL)
		goto bad;
	port = strtol(colon + 1, &end, 10);
	if (end == colon + 1 || *end != '\0' || port < 1 || port > 65535)
		goto bad;
	n = (size_t)(colon - address);
	if (n >= 2 && address[0] == '[' && address[n - 1] == ']') {
		if (n - 2 >= sizeof(host))
			goto bad;
		memcpy(host, address + 1, n - 2);
		host[n - 2] = '\0';
		if (uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)ret) < 0)
			goto bad;
		return 0;
	}
	if (n >= sizeof(host))
		goto bad;
	memcpy(host, address, n);
	host[n] = '\0';
	if (uv_ip4_addr(host, (int)port, (struct sockaddr_in *)ret) < 0)
		goto bad;
	return 0;
bad:
	return br_err_set(err, BR_INVALID_ARGUMENT,
	                  "listen on %s: not a numeric IPv4 or [IPv6] address and a port", address);
}

static void
listener_closed(uv_handle_t *h)
{
	server_unref(h->data);
}

int
gw_http_server_new(uv_loop_t *uv, const char *address, const char *path, gw_http_handler_fn fn,
                   void *data, struct gw_http_server **ret, br_err *err)
{
	struct sockaddr_storage sa = {0};
	struct gw_http_server *server;
	int rc;

	if (parse_address(address, &sa, err) < 0)
		return -1;
	server = xnew(struct gw_http_server);
	server->address = xstrdup(address);
	server->path = xstrdup(path);
	server->fn = fn;
	server->data = data;
	server->refs = 1; /* the listener's */
	uv_tcp_init(uv, &server->listener);
	server->listener.data = server;
	if ((rc = uv_tcp_bind(&server->listener, (const struct sockaddr *)&sa, 0)) < 0 ||
	    (rc = uv_listen((uv_stream_t *)&server->listener, 64, on_connection)) < 0) {
		br_err_set(err, BR_UNAVAILABLE, "listen on %s: %s", address, uv_strerror(rc));
		server->closing = true;
		uv_close((uv_handle_t *)&server->listener, listener_closed);
		return -1;
	}
	*ret = server;
	return 0;
}

void
gw_http_server_free(struct gw_http_server *server)
{
	if (server == NULL || server->closing)
		return;
	server->closing = true;
	while (server->conns != NULL)
		conn_close(server->conns);
	uv_close((uv_handle_t *)&server->listener, listener_closed);
}
