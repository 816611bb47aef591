/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target for the request heads the metrics endpoint reads from the network:
 * gw_http_parse_request() (gatewayd/http.c) over arbitrary bytes. Besides not crashing, what
 * the server's incremental reading relies on must hold: a head is never longer than what was
 * given nor than GW_HTTP_HEAD_MAX; what the parser keeps is well formed (a token method, a
 * path without query); and reading more never changes an answer, so a shorter prefix of the
 * input is either undecided (INCOMPLETE) or decided the same way.
 *
 * gatewayd's objects are not linked here (the rest of them need its main.o): the parser's
 * file is compiled into the target instead. It needs only libuv and common/.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gatewayd/http.c"

static int
parse(const uint8_t *data, size_t size, struct gw_http_request *req)
{
	/* A copy of exactly `size` bytes, so that a read past them is caught by ASan. */
	char *buf = xmemdup(data, size ? size : 1);
	int rc = gw_http_parse_request(buf, size, req);
	free(buf);
	return rc;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct gw_http_request req, half;
	int rc = parse(data, size, &req);

	if (rc > 0) {
		if ((size_t)rc > size || rc > GW_HTTP_HEAD_MAX)
			abort();
		if (!all_tchars(req.method, strlen(req.method)) || req.method[0] == '\0')
			abort();
		if (strpbrk(req.path, "?# ") != NULL ||
		    (req.path[0] != '/' && strcmp(req.path, "*") != 0))
			abort();
		if (req.minor_version != 0 && req.minor_version != 1)
			abort();
		/* The head alone parses to itself. */
		struct gw_http_request again;
		if (parse(data, (size_t)rc, &again) != rc || strcmp(again.path, req.path) != 0 ||
		    strcmp(again.method, req.method) != 0)
			abort();
	} else if (rc != GW_HTTP_INCOMPLETE && rc != GW_HTTP_BAD && rc != GW_HTTP_TOO_LARGE) {
		abort();
	}
	if (rc == GW_HTTP_TOO_LARGE && size < GW_HTTP_HEAD_MAX)
		abort();

	/* Half of it: undecided, or decided as the whole was. */
	int rh = parse(data, size / 2, &half);
	if (rh == GW_HTTP_BAD && rc != GW_HTTP_BAD)
		abort();
	if (rh > 0 && rh != rc)
		abort();
	/* Past GW_HTTP_HEAD_MAX bytes, nothing more is looked at. */
	if (size / 2 >= GW_HTTP_HEAD_MAX ? rh != rc : rh == GW_HTTP_TOO_LARGE)
		abort();
	return 0;
}
