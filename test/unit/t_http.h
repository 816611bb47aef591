/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A small HTTP/1.1 server for unit tests of HTTP clients (the registry client): a thread of
 * the test accepts connections on 127.0.0.1 one at a time and hands each to the test's
 * `serve(fd)`, which reads the request and answers with canned responses; the connection is
 * closed after it (no keep-alive); a TLS client gets its connection closed. Every case runs in its
 * own process (t.h), so each gets its own server.
 *
 *   int port = t_http_start(serve);
 *   t_http_respond(fd, 404, "Not Found", "Content-Type: text/plain\r\n", "gone", 4);
 *   t_http_header(request, "Range", value, sizeof(value));
 */
#ifndef BR_TEST_UNIT_T_HTTP_H
#define BR_TEST_UNIT_T_HTTP_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "test/unit/t.h"

static int t_http_listen_fd = -1;

static void *
t_http_main(void *arg)
{
	void (*serve)(int fd) = (void (*)(int))arg;

	for (;;) {
		int fd = accept(t_http_listen_fd, NULL, NULL);
		if (fd < 0)
			return NULL;
		/* A client that speaks TLS to this plain server (a record starting 0x16) is hung
		 * up on at once: it would otherwise wait for the server's hello until its connect
		 * timeout, and the server for the end of a request head that never comes. */
		unsigned char first = 0;
		if (recv(fd, &first, 1, MSG_PEEK) == 1 && first != 0x16)
			serve(fd);
		shutdown(fd, SHUT_WR);
		close(fd);
	}
}

/* Listen on a free port of 127.0.0.1 and serve each connection with `serve`; the port. */
static inline int
t_http_start(void (*serve)(int fd))
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof(sa);
	pthread_t t;

	t_http_listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	T_OK(t_http_listen_fd >= 0);
	T_OK(bind(t_http_listen_fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	T_OK(listen(t_http_listen_fd, 16) == 0);
	T_OK(getsockname(t_http_listen_fd, (struct sockaddr *)&sa, &sl) == 0);
	T_OK(pthread_create(&t, NULL, t_http_main, (void *)serve) == 0);
	pthread_detach(t);
	return ntohs(sa.sin_port);
}

/* Send all of buf (a client that went away ends it quietly). */
static inline void
t_http_send_all(int fd, const void *buf, size_t len)
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

/* A whole response: the status line, Content-Length, `headers` (each ending in CRLF, may be
 * NULL) and the body. */
static inline void
t_http_respond(int fd, int status, const char *reason, const char *headers, const void *body,
               size_t len)
{
	char head[2048];
	int n = snprintf(head, sizeof(head),
	                 "HTTP/1.1 %d %s\r\nContent-Length: %zu\r\nConnection: close\r\n%s\r\n",
	                 status, reason, len, headers ? headers : "");

	t_http_send_all(fd, head, (size_t)n);
	t_http_send_all(fd, body, len);
}

/* The value of header `name` of request `req` (its head, NUL-terminated) into `out`, "" when
 * it has none. */
static inline void
t_http_header(const char *req, const char *name, char *out, size_t size)
{
	size_t n = strlen(name);

	out[0] = '\0';
	for (const char *p = strstr(req, "\r\n"); p != NULL; p = strstr(p + 2, "\r\n")) {
		if (strncasecmp(p + 2, name, n) != 0 || p[2 + n] != ':')
			continue;
		const char *v = p + 3 + n;
		while (*v == ' ')
			v++;
		snprintf(out, size, "%.*s", (int)strcspn(v, "\r\n"), v);
		return;
	}
}

#endif
