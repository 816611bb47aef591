/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A minimal HTTP/1.1 server on a libuv loop, enough for one read-only endpoint (the gateway's
 * GET /metrics): one request per connection, answered, then the connection closes.
 *
 * Every connection is bounded: its request head must fit GW_HTTP_HEAD_MAX bytes (431
 * otherwise), it lives at most GW_HTTP_TIMEOUT_MS from accept to the end of the answer (a
 * slow or silent client is disconnected) and 2 s more for the client to close once answered,
 * and at most GW_HTTP_MAX_CONNECTIONS are open at once (further ones are closed on accept). A
 * request for the endpoint's path with GET goes to the handler; another path is 404, another method
 * 405, a malformed head 400. The request's body, if any, is never read.
 *
 * Threading: everything on the loop thread of `uv`.
 */
#ifndef BR_GATEWAYD_HTTP_H
#define BR_GATEWAYD_HTTP_H

#include <stddef.h>

#include <uv.h>

#include "common/err.h"

#define GW_HTTP_HEAD_MAX 8192 /* request line and header fields, blank line included */
#define GW_HTTP_METHOD_MAX 16
#define GW_HTTP_PATH_MAX 1024
#define GW_HTTP_TIMEOUT_MS 10000
#define GW_HTTP_MAX_CONNECTIONS 16

/* ---- parsing (pure; any thread) ---- */

/* What the parser keeps of a request head. */
struct gw_http_request {
	char method[GW_HTTP_METHOD_MAX + 1]; /* "GET", case as sent */
	char path[GW_HTTP_PATH_MAX + 1];     /* the target's path, without query or fragment */
	int minor_version;                   /* HTTP/1.<minor_version>: 0 or 1 */
};

enum {
	GW_HTTP_INCOMPLETE =
	        0,        /* no error so far; the blank line ending the head is still to come */
	GW_HTTP_BAD = -1, /* malformed: answer 400 */
	GW_HTTP_TOO_LARGE = -2, /* GW_HTTP_HEAD_MAX bytes without the end of the head: 431 */
};

/*
 * Parse the request head at the start of buf[0..len) (RFC 9112): a request line "METHOD SP
 * target SP HTTP/1.x" (the target in origin form "/path?query", absolute form
 * "http://host/path" or "*"), header fields "name: value", a blank line; lines end with CRLF
 * or LF, empty lines before the request line are skipped. A field folded onto the next line,
 * whitespace before a colon, control characters, an HTTP/1.1 request without exactly one Host
 * field and any request with two are malformed. Returns the length of the head (> 0) and
 * fills *ret, or one of the codes above (*ret untouched). Bytes past GW_HTTP_HEAD_MAX are
 * never looked at.
 */
int gw_http_parse_request(const char *buf, size_t len, struct gw_http_request *ret);

/* ---- serving (loop thread) ---- */

struct gw_http_server;
struct gw_http_conn;

/* A GET of the endpoint's path on `conn`: answer with gw_http_respond() exactly once, now or
 * later (the connection may have closed meanwhile; answering it then only frees it). */
typedef void (*gw_http_handler_fn)(struct gw_http_conn *conn, void *data);

/*
 * Listen on `address` ("127.0.0.1:9338", "[::1]:9338": a numeric IPv4 or IPv6 address and a
 * port) and serve `path` ("/metrics") with `fn`. Errors: INVALID_ARGUMENT for an address that
 * is not of that form, UNAVAILABLE when it cannot be bound or listened on (in use, not
 * local); both name the address. Free with gw_http_server_free().
 */
int gw_http_server_new(uv_loop_t *uv, const char *address, const char *path, gw_http_handler_fn fn,
                       void *data, struct gw_http_server **ret, br_err *err);

/* Stop listening and close every connection, answered or not. Memory is released by the
 * close callbacks, so the loop must run once more; a connection whose handler has not
 * answered yet lives until it does. Accepts NULL. */
void gw_http_server_free(struct gw_http_server *server);

/* Answer `status` (200, 404, ...) with `body[0..len)` (copied) of `content_type`, then close.
 * Consumes the handler's hold on `conn`. */
void gw_http_respond(struct gw_http_conn *conn, int status, const char *content_type,
                     const char *body, size_t len);

#endif
