/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Image references in the grammar of the Docker distribution project, normalized as docker and
 * containerd do (ParseNormalizedNamed): a first component that looks like a host is the domain,
 * anything else is on docker.io, and single-component names there live under "library/".
 * References come from users, archives and annotations, so every malformed form is refused
 * with a message that says what is wrong.
 */
#include "common/ref.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/xalloc.h"

#define NAME_MAX_LEN 255
#define TAG_MAX_LEN 128
#define DOMAIN_MAX_LEN 255
#define DEFAULT_DOMAIN "docker.io"
#define LEGACY_DOMAIN "index.docker.io"
#define OFFICIAL_PREFIX "library/"

static bool
is_lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool
is_alnum(char c)
{
	return is_lower_alnum(c) || (c >= 'A' && c <= 'Z');
}

/* domain-component := [a-zA-Z0-9] | [a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9] */
static bool
domain_component_valid(const char *s, size_t len)
{
	if (len == 0 || !is_alnum(s[0]) || !is_alnum(s[len - 1]))
		return false;
	for (size_t i = 0; i < len; i++)
		if (!is_alnum(s[i]) && s[i] != '-')
			return false;
	return true;
}

static bool
port_valid(const char *s)
{
	if (s[0] == '\0' || strlen(s) > 5)
		return false;
	for (const char *p = s; *p != '\0'; p++)
		if (*p < '0' || *p > '9')
			return false;
	return true;
}

/* A registry domain: "host[:port]", host being a DNS name, an IPv4 address or "[IPv6]". Any
 * thread. */
bool
br_ref_domain_valid(const char *s)
{
	size_t len = s ? strlen(s) : 0;

	if (len == 0 || len > DOMAIN_MAX_LEN)
		return false;
	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (close == NULL || close == s + 1)
			return false;
		for (const char *p = s + 1; p < close; p++)
			if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f') ||
			      (*p >= 'A' && *p <= 'F') || *p == ':'))
				return false;
		if (close[1] == '\0')
			return true;
		return close[1] == ':' && port_valid(close + 2);
	}
	const char *colon = strchr(s, ':');
	size_t host_len = colon ? (size_t)(colon - s) : len;
	if (colon != NULL && !port_valid(colon + 1))
		return false;
	size_t start = 0;
	for (size_t i = 0; i <= host_len; i++) {
		if (i == host_len || s[i] == '.') {
			if (!domain_component_valid(s + start, i - start))
				return false;
			start = i + 1;
		}
	}
	return true;
}

/* path-component := [a-z0-9]+ (separator [a-z0-9]+)*, separator := [_.] | "__" | "-"+ */
static bool
path_component_valid(const char *s, size_t len)
{
	size_t i = 0;

	while (i < len) {
		if (!is_lower_alnum(s[i]))
			return false;
		while (i < len && is_lower_alnum(s[i]))
			i++;
		if (i == len)
			return true;
		if (s[i] == '.') {
			i++;
		} else if (s[i] == '_') {
			i++;
			if (i < len && s[i] == '_')
				i++;
		} else if (s[i] == '-') {
			while (i < len && s[i] == '-')
				i++;
		} else {
			return false;
		}
		if (i == len)
			return false;
	}
	return len > 0;
}

/* Check a whole path; on failure, what is wrong (static text). */
static const char *
path_problem(const char *path)
{
	size_t start = 0, len = strlen(path);

	for (size_t i = 0; i < len; i++)
		if (path[i] >= 'A' && path[i] <= 'Z')
			return "repository name must be lowercase";
	for (size_t i = 0; i <= len; i++) {
		if (i == len || path[i] == '/') {
			if (i == start)
				return "repository name has an empty path component";
			if (!path_component_valid(path + start, i - start))
				return "invalid repository name (components are lowercase letters "
				       "and digits, separated by '.', '_', '__' or '-')";
			start = i + 1;
		}
	}
	return NULL;
}

/* tag := [A-Za-z0-9_][A-Za-z0-9_.-]{0,127} */
static bool
tag_valid(const char *s)
{
	size_t len = strlen(s);

	if (len == 0 || len > TAG_MAX_LEN || !(is_alnum(s[0]) || s[0] == '_'))
		return false;
	for (size_t i = 1; i < len; i++)
		if (!is_alnum(s[i]) && s[i] != '_' && s[i] != '.' && s[i] != '-')
			return false;
	return true;
}

static bool
is_hex64(const char *s)
{
	if (strlen(s) != 64)
		return false;
	for (int i = 0; i < 64; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

void
br_ref_free(struct br_ref *ref)
{
	if (ref == NULL)
		return;
	free(ref->domain);
	free(ref->path);
	free(ref->tag);
	free(ref);
}

/* Parse and normalize a reference (see ref.h). INVALID_ARGUMENT saying what is wrong;
 * NOT_IMPLEMENTED for a digest of another algorithm than sha256. *ret is the caller's
 * (br_ref_free). Any thread. */
int
br_ref_parse(const char *s, struct br_ref **ret, br_err *err)
{
	if (s == NULL || s[0] == '\0')
		return br_err_set(err, BR_INVALID_ARGUMENT, "reference: empty");
	size_t len = strlen(s);
	if (len > BR_REF_MAX)
		return br_err_set(err, BR_INVALID_ARGUMENT,
		                  "reference \"%s\": longer than %d characters", BR_ERR_QUOTE(s),
		                  BR_REF_MAX);
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] >= 0x7f)
			return br_err_set(err, BR_INVALID_ARGUMENT,
			                  "reference: contains a space, a control character or "
			                  "a non-ASCII character (at byte %zu)",
			                  i);
	if (is_hex64(s))
		return br_err_set(err, BR_INVALID_ARGUMENT,
		                  "reference \"%s\": a 64-character hex string is an ID, not a "
		                  "repository name",
		                  s);

	_cleanup_(br_ref_freep) struct br_ref *ref = xnew(struct br_ref);
	_cleanup_free_ char *name = NULL;
	const char *at = strchr(s, '@');
	if (at != NULL) {
		if (br_digest_validate(at + 1, err) < 0)
			return br_err_wrap(err, "reference \"%s\"", BR_ERR_QUOTE(s));
		memcpy(ref->digest, at + 1, BR_DIGEST_BUF);
		name = xstrndup(s, (size_t)(at - s));
	} else {
		name = xstrdup(s);
	}
	char *colon = strrchr(name, ':');
	char *slash = strrchr(name, '/');
	if (colon != NULL && (slash == NULL || colon > slash)) {
		*colon = '\0';
		if (!tag_valid(colon + 1))
			return br_err_set(
			        err, BR_INVALID_ARGUMENT,
			        "reference \"%s\": invalid tag \"%s\" (letters, digits, "
			        "'_', '.', '-', at most %d, not starting with '.' or '-')",
			        BR_ERR_QUOTE(s), BR_ERR_QUOTE(colon + 1), TAG_MAX_LEN);
		ref->tag = xstrdup(colon + 1);
	}
	if (name[0] == '\0')
		return br_err_set(err, BR_INVALID_ARGUMENT,
		                  "reference \"%s\": missing repository name", BR_ERR_QUOTE(s));

	/* The first component is a domain if it looks like a host (see ref.h). */
	const char *remainder = name;
	char *first_slash = strchr(name, '/');
	if (first_slash != NULL) {
		size_t n = (size_t)(first_slash - name);
		bool has_upper = false, has_dot_colon = false;
		for (size_t i = 0; i < n; i++) {
			has_upper |= name[i] >= 'A' && name[i] <= 'Z';
			has_dot_colon |= name[i] == '.' || name[i] == ':';
		}
		if (has_dot_colon || has_upper || (n == 9 && strncmp(name, "localhost", 9) == 0)) {
			ref->domain = xstrndup(name, n);
			remainder = first_slash + 1;
		}
	}
	if (ref->domain == NULL || strcmp(ref->domain, LEGACY_DOMAIN) == 0) {
		free(ref->domain);
		ref->domain = xstrdup(DEFAULT_DOMAIN);
	}
	if (!br_ref_domain_valid(ref->domain))
		return br_err_set(err, BR_INVALID_ARGUMENT,
		                  "reference \"%s\": invalid domain \"%s\"", BR_ERR_QUOTE(s),
		                  BR_ERR_QUOTE(ref->domain));
	if (strcmp(ref->domain, DEFAULT_DOMAIN) == 0 && strchr(remainder, '/') == NULL)
		ref->path = xasprintf(OFFICIAL_PREFIX "%s", remainder);
	else
		ref->path = xstrdup(remainder);
	const char *problem = path_problem(remainder);
	if (problem != NULL)
		return br_err_set(err, BR_INVALID_ARGUMENT, "reference \"%s\": %s", BR_ERR_QUOTE(s),
		                  problem);
	if (strlen(ref->domain) + 1 + strlen(ref->path) > NAME_MAX_LEN)
		return br_err_set(err, BR_INVALID_ARGUMENT,
		                  "reference \"%s\": repository name is longer than %d "
		                  "characters",
		                  BR_ERR_QUOTE(s), NAME_MAX_LEN);
	if (ref->tag == NULL && ref->digest[0] == '\0')
		ref->tag = xstrdup("latest");
	*ret = br_steal_ptr(&ref);
	return 0;
}

/* "domain/path[:tag][@digest]"; heap string for the caller. */
char *
br_ref_string(const struct br_ref *ref)
{
	return xasprintf("%s/%s%s%s%s%s", ref->domain, ref->path, ref->tag ? ":" : "",
	                 ref->tag ? ref->tag : "", ref->digest[0] ? "@" : "", ref->digest);
}

/* "domain/path"; heap string for the caller. */
char *
br_ref_name(const struct br_ref *ref)
{
	return xasprintf("%s/%s", ref->domain, ref->path);
}
