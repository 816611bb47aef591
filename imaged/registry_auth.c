/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The parsers of what a registry says about authentication (registry.h): the challenges of a
 * WWW-Authenticate header (RFC 7235: "Bearer realm=\"...\",service=\"...\", Basic
 * realm=\"...\"", several challenges separated by commas, quoted strings with escapes, a
 * token68 after a scheme) and a token server's answer ({"token": ..., "access_token": ...,
 * "expires_in": ...}). Both are untrusted input: every length and count is bounded, and
 * nothing they hold is trusted to be printable until checked.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/cleanup.h"
#include "common/json.h"
#include "common/xalloc.h"
#include "imaged/registry.h"

#define PARAM_MAX 2048 /* longer parameter values are ignored */
#define TOKEN_CHARS_MAX (64u << 10)

static bool
is_tchar(char c)
{
	return isalnum((unsigned char)c) || (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static const char *
skip_ws(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

/* Where the token starting at p ends (p itself when there is none). */
static const char *
token_end(const char *p)
{
	while (is_tchar(*p))
		p++;
	return p;
}

/*
 * A parameter's value at p: a quoted string (escapes undone) or a token. Returns where it
 * ends; *ret is a heap copy, or NULL when it is longer than PARAM_MAX or holds control
 * characters (then the parameter is ignored).
 */
static const char *
param_value(const char *p, char **ret)
{
	_cleanup_free_ char *val = xmalloc(PARAM_MAX + 1);
	size_t n = 0;
	bool ok = true;

	if (*p == '"') {
		for (p++; *p != '\0' && *p != '"'; p++) {
			if (*p == '\\' && p[1] != '\0')
				p++;
			if ((unsigned char)*p < ' ' || *p == 0x7f)
				ok = false;
			if (n < PARAM_MAX)
				val[n++] = *p;
			else
				ok = false;
		}
		if (*p == '"')
			p++;
	} else {
		const char *end = p;
		while (*end != '\0' && *end != ',' && *end != ' ' && *end != '\t')
			end++;
		if ((size_t)(end - p) > PARAM_MAX)
			ok = false;
		else
			for (const char *q = p; q < end; q++)
				if ((unsigned char)*q < ' ' || *q == 0x7f)
					ok = false;
		if (ok) {
			memcpy(val, p, (size_t)(end - p));
			n = (size_t)(end - p);
		}
		p = end;
	}
	val[n] = '\0';
	*ret = ok ? br_steal_ptr(&val) : NULL;
	return p;
}

static void
keep_param(struct imaged_challenge *c, const char *name, size_t name_len, char *value)
{
	char **slot = NULL;

	if (name_len == 5 && strncasecmp(name, "realm", 5) == 0)
		slot = &c->realm;
	else if (name_len == 7 && strncasecmp(name, "service", 7) == 0)
		slot = &c->service;
	else if (name_len == 5 && strncasecmp(name, "scope", 5) == 0)
		slot = &c->scope;
	else if (name_len == 5 && strncasecmp(name, "error", 5) == 0)
		slot = &c->error;
	if (slot == NULL || *slot != NULL) { /* unknown, or repeated: the first one holds */
		free(value);
		return;
	}
	*slot = value;
}

void
imaged_challenges_fini(struct imaged_challenge *c, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(c[i].realm);
		free(c[i].service);
		free(c[i].scope);
		free(c[i].error);
		memset(&c[i], 0, sizeof(c[i]));
	}
}

int
imaged_challenges_parse(const char *header, struct imaged_challenge ret[IMAGED_CHALLENGES_MAX],
                        size_t *ret_n, br_err *err)
{
	struct imaged_challenge out[IMAGED_CHALLENGES_MAX];
	size_t n = 0;
	const char *p = header;

	memset(out, 0, sizeof(out));
	if (strlen(header) > IMAGED_CHALLENGE_HEADER_MAX)
		return br_err_set(err, BR_INVALID_ARGUMENT,
		                  "WWW-Authenticate: longer than %d bytes",
		                  IMAGED_CHALLENGE_HEADER_MAX);
	struct imaged_challenge *cur = NULL;
	for (;;) {
		p = skip_ws(p);
		while (*p == ',' || *p == ' ' || *p == '\t')
			p++;
		if (*p == '\0')
			break;
		const char *name = p, *end = token_end(p);
		if (end == name) {
			imaged_challenges_fini(out, n);
			return br_err_set(err, BR_INVALID_ARGUMENT,
			                  "WWW-Authenticate: unexpected character at offset %zu",
			                  (size_t)(p - header));
		}
		const char *after = skip_ws(end);
		if (cur != NULL && *after == '=' && after[1] != '=') {
			/* name=value: a parameter of the current challenge */
			char *value = NULL;
			p = param_value(skip_ws(after + 1), &value);
			keep_param(cur, name, (size_t)(end - name), value);
			continue;
		}
		if (cur != NULL && *after == '=') {
			/* a token68 ("abc==") after the scheme: nothing Berth uses */
			while (*after == '=')
				after++;
			p = after;
			continue;
		}
		/* a new challenge's scheme */
		if (n == IMAGED_CHALLENGES_MAX) {
			imaged_challenges_fini(out, n);
			return br_err_set(err, BR_INVALID_ARGUMENT,
			                  "WWW-Authenticate: more than %d challenges",
			                  IMAGED_CHALLENGES_MAX);
		}
		cur = &out[n++];
		size_t len = (size_t)(end - name);
		if (len >= sizeof(cur->scheme))
			len = sizeof(cur->scheme) - 1; /* an unknown scheme, never matched */
		for (size_t i = 0; i < len; i++)
			cur->scheme[i] = (char)tolower((unsigned char)name[i]);
		cur->scheme[len] = '\0';
		p = end;
		/* a token68 right after the scheme */
		const char *t = skip_ws(p);
		const char *t_end = t;
		while (isalnum((unsigned char)*t_end) ||
		       (*t_end != '\0' && strchr("-._~+/", *t_end)))
			t_end++;
		if (t_end > t && *t_end == '=') {
			const char *q = t_end;
			while (*q == '=')
				q++;
			q = skip_ws(q);
			if (*q == '\0' || *q == ',')
				p = q;
		}
	}
	memcpy(ret, out, sizeof(out));
	*ret_n = n;
	return 0;
}

const struct imaged_challenge *
imaged_challenge_find(const struct imaged_challenge *c, size_t n, const char *scheme)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(c[i].scheme, scheme) == 0)
			return &c[i];
	return NULL;
}

int
imaged_token_parse(const char *body, size_t len, char **ret_token, int64_t *ret_expires_in,
                   br_err *err)
{
	yajl_val root = NULL;
	const char *token = NULL;
	int64_t expires = 0;

	if (br_json_parse(body, len, IMAGED_TOKEN_RESPONSE_MAX, "token response", &root, err) < 0)
		return -1;
	if (!YAJL_IS_OBJECT(root)) {
		yajl_tree_free(root);
		return br_err_set(err, BR_PERMISSION_DENIED,
		                  "the token response is not a JSON object");
	}
	br_json_get_str(root, "", "token", false, &token, NULL);
	if (token == NULL || token[0] == '\0')
		br_json_get_str(root, "", "access_token", false, &token, NULL);
	bool ok = token != NULL && token[0] != '\0' && strlen(token) <= TOKEN_CHARS_MAX;
	for (const char *q = token; ok && *q != '\0'; q++)
		if ((unsigned char)*q <= ' ' || *q == 0x7f)
			ok = false;
	if (!ok) {
		yajl_tree_free(root);
		return br_err_set(err, BR_PERMISSION_DENIED,
		                  "the token response holds no usable token");
	}
	if (br_json_get_int(root, "", "expires_in", false, &expires, NULL) < 0 || expires <= 0)
		expires = 0;
	/* As docker: less than a minute means a minute; a day at most, so that a registry
	 * cannot make a job keep a token it would not honour. */
	if (expires < IMAGED_TOKEN_MIN_LIFETIME_S)
		expires = IMAGED_TOKEN_MIN_LIFETIME_S;
	if (expires > 86400)
		expires = 86400;
	*ret_token = xstrdup(token);
	*ret_expires_in = expires;
	yajl_tree_free(root);
	return 0;
}
