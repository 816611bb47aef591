/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The configuration file: built-in defaults, overlaid by /etc/berth/berth.json (or the file
 * named by --config). Parsing is strict because a typo in a config file should stop a daemon
 * at start rather than be ignored: every object is walked key by key against a table of the
 * keys it may hold, so an unknown key, a wrong type or an invalid value is an error that names
 * the key's full path ("imaged.registries[0].insecre: unknown key"). JSON null for a key means
 * its default. docs/config.md describes every key.
 */
#include "common/config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/base64.h"
#include "common/cleanup.h"
#include "common/crilog.h"
#include "common/ipv4.h"
#include "common/fsutil.h"
#include "common/ipv4.h"
#include "common/json.h"
#include "common/oci.h"
#include "common/ref.h"
#include "common/rpc.h"
#include "common/xalloc.h"

#define MAX_REGISTRIES 64
#define MAX_MIRRORS 16
#define MAX_RUNTIMES 32
#define MAX_USERS 1024
#define MAX_NAME 64
#define MAX_DOWNLOADS 64
#define MAX_TIMEOUT_MS 86400000
/* sun_path holds 107 characters; the longest daemon socket name is "/snapshotd.sock". */
#define MAX_SOCKET_PATH 107
#define MAX_STATE_PATH (MAX_SOCKET_PATH - 15)

#if defined(__x86_64__)
#define HOST_PLATFORM "linux/amd64"
#elif defined(__aarch64__)
#define HOST_PLATFORM "linux/arm64"
#elif defined(__arm__)
#define HOST_PLATFORM "linux/arm/v7"
#elif defined(__i386__)
#define HOST_PLATFORM "linux/386"
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define HOST_PLATFORM "linux/ppc64le"
#elif defined(__s390x__)
#define HOST_PLATFORM "linux/s390x"
#elif defined(__riscv) && __riscv_xlen == 64
#define HOST_PLATFORM "linux/riscv64"
#else
#define HOST_PLATFORM "linux/amd64"
#endif

/* A setter for one key: `v` is the key's value (never JSON null), `path` its full path. */
typedef int (*setter_fn)(struct br_config *cfg, yajl_val v, const char *path, br_err *err);

struct field {
	const char *key;
	setter_fn set;
};

/* Walk the members of object `v` at `path` against `fields`. */
static int
walk_object(struct br_config *cfg, yajl_val v, const char *path, const struct field *fields,
            br_err *err)
{
	if (!YAJL_IS_OBJECT(v))
		return br_err_set(err, BR_INVALID_ARGUMENT, "%s: expected an object",
		                  path[0] ? path : "document");
	for (size_t i = 0; i < v->u.object.len; i++) {
		const char *key = v->u.object.keys[i];
		_cleanup_free_ char *sub = xasprintf("%s%s%s", path, path[0] ? "." : "", key);
		const struct field *f = fields;
		while (f->key != NULL && strcmp(f->key, key) != 0)
			f++;
		if (f->key == NULL)
			return br_err_set(err, BR_INVALID_ARGUMENT, "%s: unknown key", sub);
		if (YAJL_IS_NULL(v->u.object.values[i]))
			continue;
		if (f->set(cfg, v->u.object.values[i], sub, err) < 0)
			return -1;
	}
	return 0;
}

static int
want_string(yajl_val v, const char *path, const char **ret, br_err *err)
{
	if (!YAJL_IS_STRING(v))
		return br_err_set(err, BR_INVALID_ARGUMENT, "%s: expected a string", path);
	*ret = YAJL_GET_STRING(v);
	return 0;
}

/* An integer in [min, max]. */
static int
want_int(yajl_val v, const char *path, int64_t min, int64_t max, int64_t *ret, br_err *err)
{
	if (!YAJL_IS_INTEGER(v))
		return br_err_set(err, BR_INVALID_ARGUMENT, "%s: expected an integer", path);
	int64_t n = YAJL_GET_INTEGER(v);
	if (n < min || n > max)
		return br_err_set(err, BR_INVALID_ARGUMENT,
		                  "%s: %lld is out of range (%lld to %lld)", path, (long long)n,
		                  (long long)min, (long long)max);
	*ret = n;
	return 0;
}

static void
replace(char **dst, char *value)
{
	free(*dst);
	*dst = value;
}

/* An absolute path, stored without trailing slashes ("/" stays "/"). */
static int
want_abs_path(yajl_val v, const char *path, size_t max, char **ret, br_err *err)
{
	const char *s = NULL;

	if (want_string(v, path, &s, err) < 0)
		return -1;
	if (s[0] != '/')
		return br_err_set(err, BR_INVALID_ARGUMENT, "%s: \"%s\" is not an absolute path",
		                  path, BR_ERR_QUOTE(s));
	size_t len = strlen(s);
	while (len > 1 && s[len - 1] == '/')
		len--;
	if (len > max)
		return br_err_set(err, BR_INVALID_ARGUMENT,
		                  "%s: path is longer than %zu characters", path, max);
	*ret = xstrndup(s, len);
	return 0;
}

/* Names of runtimes, snapshotters, networks and groups: [A-Za-z0-9][A-Za-z0-9_.-]*. */
static bool
name_valid(const char *s)
{
	size_t len = strlen(s);

	if (len == 0 || len > MAX_NAME)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		bool alnum =
		        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
		if (!alnum && (i == 0 || (c != '_' && c != '.' && c != '-')))
			return false;
	}
	return true;
}

static int
want_name(yajl_val v, const char *path, char **ret, br_err *err)
{
	const char *s = NULL;

	if (want_string(v, path, &s, err) < 0)
		return -1;
	if (!name_valid(s))
		return br_err_set(err, BR_INVALID_ARGUMENT,
		                  "%s: \"%s\" is not a valid name (letters, digits, '_', '.', '-'; "
		                  "at most %d)",
		                  path, BR_ERR_QUOTE(s), MAX_NAME);
	*ret = xstrdup(s);
	return 0;
}

/* --- top level and log --- */

static int
set_root(struct br_config *cfg, yajl_val v, const char *path, br_err *err)
{
	char *s = NULL;

	if (want_abs_path(v, path, PATH_MAX - 256, &s, err) < 0)
		return -1;
	replace(&cfg->root, s);
	return 0;
}

static int
set_state(struct br_config *cfg, yajl_val v, const char *path, br_err *err)
{
	char *s = NULL;

	if (want_abs_path(v, path, MAX_STATE_PATH, &s, err) < 0)
		return -1;
	replace(&cfg->state, s);
	return 0;
}

static int
set_log_level(struct br_config *cfg, yajl_val v, const char *path, br_err *err)
{
	const char *s = NULL;

	if (want_string(v, path, &s, err) < 0)
		return -1;
	if (br_log_level_parse(s, &cfg->log_level) < 0)
		return br_err_set(err, BR_INVALID_ARGUMENT,
		                  "%s: \"%s\" is not one of error, warn, notice, info, debug", path,
		                  BR_ERR_QUOTE(s));
	return 0;
}

static int
set_log_format(struct br_config *cfg, yajl_val v, const char *path, br_err *err)
{
	const char *s = NULL;

	if (want_string(v, path, &s, err) < 0)
		return -1;
	if (strcmp(s, "text") == 0)
		cfg->log_format = BR_LOG_TEXT;
	else if (strcmp(s, "json") == 0)
		cfg->log_format = BR_LOG_JSON;
	else
		return br_err_set(err, BR_INVALID_ARGUMENT, "%s: \"%s\" is not one of text, json",
		                  path, BR_ERR_QUOTE(s));
	return 0;
}

static const struct field log_fields[] = {
        {"level", set_log_level},
        {"format", set_log_format},
        {NULL, NULL},
};

static int
set_log(struct br_config *cfg, yajl_val v, const char *path, br_err *err)
{
	return walk_object(cfg, v, path, log_fields, err);
}

/* A setter for an integer key of milliseconds stored in cfg->member, within [min, max]. */
#define MS_SETTER(fn, member, min, max)                                                 \
	static int fn(struct br_config *cfg, yajl_val v, const char *path, br_err *err) \
	{                                                                               \
		int64_t n = 0;                                                          \
		if (want_int(v, path, min, max, &n, err) < 0)                           \
			return -1;                                                      \
		cfg->member = n;                                                        \
		return 0;                                                               \
	}

#define HOUR_MS (3600LL * 1000)
#define DAY_MS (24 * HOUR_MS)

MS_SETTER(set_content_gc_delay, contentd.gc_delay_ms, 0, HOUR_MS)
MS_SETTER(set_content_gc_interval, contentd.gc_interval_ms, 0, 7 * DAY_MS)
MS_SETTER(set_ingest_expiry, contentd.ingest_expiry_ms, 1000, 30 * DAY_MS)

static const struct field contentd_fields[] = {
        {"gc_delay_ms", set_content_gc_delay},
        {"gc_interval_ms", set_content_gc_interval},
        {"ingest_expiry_ms", set_ingest_expiry},
        {NULL, NULL},
};

static int
set_contentd(struct br_config *cfg, yajl_val v, const char *path, br_err *err)
{
	return walk_object(cfg, v, path, contentd_fields, err);
}

/* --- snapshotd --- */

static int
set_snapshotter(struct br_config *cfg, yajl_val v, const char *path, br_err *err)
{
	char *s = NULL;

	if (want_name(v, path, &s, err) < 0)
		return -1;
	replace(&cfg->snapshotd.snapshotter, s);
	return 0;
}

MS_SETTER(set_snap_gc_delay, snapshotd.gc_delay_ms, 0, HOUR_MS)
MS_SETTER(set_snap_gc_interval, snapshotd.gc_interval_ms, 0, 7 * DAY_MS)

static const struct field snapshotd_fields[] = {
        {"snapshotter", set_snapshotter},
        {"gc_delay_ms", set_snap_gc_delay},
        {"gc_interval_ms", set_snap_gc_interval},
        {NULL, NULL},
};

static int
set_snapshotd(struct br_config *cfg, yajl_val v, const char *path, br_err *err)
{
	return walk_object(cfg, v, path, snapshotd_fields, err);
}

/* --- imaged --- */

/* A mirror URL: "host[:port]" or "http[s]://host[:port][/path]", normalized to
 * "scheme://host[:port][/path]" with no trailing slash and no final "/v2" (requests add it).
 * NULL when it is none. */
static char *
mirror_url(const char *s, bool insecure)
{
	const char *host = s, *scheme = insecure ? "http" : "https";

	if (strncmp(s, "https://", 8) == 0) {
		host = s + 8;
		scheme = "https";
	} else if (strncmp(s, "http://", 7) == 0) {
		host = s + 7;
		scheme = "http";
	}
	const char *slash = strchr(host, '/');
	if (slash != NULL && host == s)
		return NULL;
	_cleanup_free_ char *domain = xstrndup(host, slash ? (size_t)(slash - host) : strlen(host));
	if (!br_ref_domain_valid(domain))
		return NULL;
	for (const char *p = slash; p != NULL && *p != '\0'; p++)
		if (*p <= ' ' || *p == 0x7f || *p == '?' || *p == '#')
			return NULL;
	size_t plen = slash ? strlen(slash) : 0;
	while (plen > 0 && slash[plen - 1] == '/')
		plen--;
	if (plen >= 3 && strncmp(slash + plen - 3, "/v2", 3) == 0)
		plen -= 3;
	while (plen > 0 && slash[plen - 1] == '/')
		plen--;
	return xasprintf("%s://%s%.*s", scheme, domain, (int)plen, slash ? slash : "");
}

static void
tls_fini(struct br_registry_tls *t)
{
	free(t->ca_file);
	free(t->client_cert);
	free(t->client_key);
}

static void
registry_fini(struct br_registry_config *r)
{
	free(r->host);
	tls_fini(&r->tls);
	free(r->username);
	if (r->password != NULL)
		explicit_bzero(r->password, strlen(r->password));
	free(r->password);
	for (size_t i = 0; i < r->n_mirrors; i++) {
		free(r->mirrors[i].url);
		tls_fini(&r->mirrors[i].tls);
	}
	free(r->mirrors);
}

/* The registry being filled while its object is walked (walk_object passes only cfg). */
static struct br_registry_config *
current_registry(struct br_config *cfg)
{
	return &cfg->imaged.registries[cfg->imaged.n_registries - 1];
}

static int
set_registry_host(struct br_config *cfg, yajl_val v, const char *path, br_err *err)
{
	const char *s = NULL;

	if (want_string(v, path, &s, err) < 0)
		return -1;
	if (!br_ref_domain_valid(s))
		return br_err_set(err, BR_INVALID_ARGUMENT,
		                  "%s: \"%s\" is not a registry host (host or host:port)", path,
		                  BR_ERR_QUOTE(s));
	replace(&current_registry(cfg)->host, xstrdup(s));
	return 0;
}

static int
want_bool(yajl_val v, const char *path, bool *ret, br_err *err)
{
	if (!YAJL_IS_TRUE(v) && !YAJL_IS_FALSE(v))
		return br_err_set(err, BR_INVALID_ARGUMENT, "%s: expected a boolean", path);
	*ret = YAJL_IS_TRUE(v);
	return 0;
}

static int
set_registry_insecure(struct br_config *cfg, yajl_val v, const char *path, br_err *err)
{
	return want_bool(v, path, &current_registry(cfg)->tls.insecure, err);
}

static int
set_registry_skip_verify(struct br_config *cfg, yajl_val v, const char *path, br_err *err)
{
	return want_bool(v, path, &current_registry(cfg)->tls.skip_verify, err);
}

#define TLS_PATH_SETTER(fn, member)                                                     \
	static int fn(struct br_config *cfg, yajl_val v, const char *path, br_err *err) \
	{                                                                               \
		char *s = NULL;                                                         \
		if (want_abs_path(v, path, PATH_MAX - 1, &s, err) < 0)                  \
			return -1;                                                      \
		replace(&current_registry(cfg)->tls.member, s);                         \
		return 0;                                                               \
	}

TLS_PATH_SETTER(set_registry_ca_file, ca_file)
TLS_PATH_SETTER(set_registry_client_cert, client_cert)
TLS_PATH_SETTER(set_registry_client_key, client_key)

/* A user name or password: printable, bounded. The value is never quoted in a message. */
static int
want_credential(yajl_val v, const char *path, char **ret, br_err *err)
{
	const char *s = NULL;

	if (want_string(v, path, &s, err) < 0)
		return -1;
	size_t len = strlen(s);
	if (len == 0 || len > BR_REGISTRY_CREDENTIAL_MAX)
		return br_err_set(err, BR_INVALID_ARGUMENT, "%s: expected 1 to %d characters", path,
		                  BR_REGISTRY_CREDENTIAL_MAX);
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < ' ' || s[i] == 0x7f)
			return br_err_set(err, BR_INVALID_ARGUMENT, "%s: holds a control character",
			                  path);
	*ret = xstrdup(s);
	return 0;
}

static int
set_registry_username(struct br_config *cfg, yajl_val v, const char *path, br_err *err)
{
	char *s = NULL;

	if (want_credential(v, path, &s, err) < 0)
		return -1;
	if (strchr(s, ':') != NULL) {
		free(s);
		return br_err_set(err, BR_INVALID_ARGUMENT, "%s: a user name holds no ':'", path);
	}
	replace(&current_registry(cfg)->username, s);
	return 0;
}

static int
set_registry_password(struct br_config *cfg, yajl_val v, const char *path, br_err *err)
{
	char *s = NULL;

	if (want_credential(v, path, &s, err) < 0)
		return -1;
	replace(&current_registry(cfg)->password, s);
	return 0;
}

/* "auth": base64 of "user:password", as in docker's config.json. */
static int
set_registry_auth(struct br_config *cfg, yajl_val v, const char *path, br_err *err)
{
	struct br_registry_config *r = current_registry(cfg);
	const char *s = NULL;
	_cleanup_free_ char *plain = NULL;

	if (want_string(v, path, &s, err) < 0)
		return -1;
	if (br_base64_decode(s, 4 * BR_REGISTRY_CREDENTIAL_MAX, &plain, NULL, err) < 0)
		return br_err_wrap(err, "%s", path);
	char *colon = strchr(plain, ':');
	if (colon == NULL || colon == plain || colon[1] == '\0') {
		explicit_bzero(plain, strlen(plain));
		return br_err_set(err, BR_INVALID_ARGUMENT,
		                  "%s: expected the base64 encoding of \"user:password\"", path);
	}
	*colon = '\0';
	replace(&r->username, xstrdup(plain));
	replace(&r->password, xstrdup(colon + 1));
	explicit_bzero(colon + 1, strlen(colon + 1));
	return 0;
}

/* ["pull", "resolve", "push"]: at least one, each once. */
static int
want_capabilities(yajl_val v, const char *path, unsigned *ret, br_err *err)
{
	static const char *const names[] = {"pull", "resolve", "push"};
	unsigned caps = 0;

	if (!YAJL_IS_ARRAY(v))
		return br_err_set(err, BR_INVALID_ARGUMENT, "%s: expected an array", path);
	if (v->u.array.len == 0 || v->u.array.len > 3)
		return br_err_set(err, BR_INVALID_ARGUMENT,
		                  "%s: expected one to three of \"pull\", \"resolve\", \"push\"",
		                  path);
	for (size_t i = 0; i < v->u.array.len; i++) {
		yajl_val c = v->u.array.values[i];
		const char *name = YAJL_IS_STRING(c) ? YAJL_GET_STRING(c) : NULL;
		size_t k = 0;
		while (name != NULL && k < 3 && strcmp(names[k], name) != 0)
			k++;
		if (name == NULL || k == 3)
			return br_err_set(err, BR_INVALID_ARGUMENT,
			                  "%s[%zu]: expected \"pull\", \"resolve\" or \"push\"",
			                  path, i);
		if (caps & (1u << k))
			return br_err_set(err, BR_INVALID_ARGUMENT, "%s[%zu]: \"%s\" given twice",
			                  path, i, names[k]);
		caps |= 1u << k;
	}
	*ret = caps;
	return 0;
}

/* A mirror object's keys: url, capabilities and its own TLS settings. */
static int
parse_mirror_object(yajl_val v, const char *path, struct br_registry_mirror *m, br_err *err)
{
	const char *url = NULL;
	bool caps_given = false;

	for (size_t i = 0; i < v->u.object.len; i++) {
		const char *key = v->u.object.keys[i];
		yajl_val x = v->u.object.values[i];
		_cleanup_free_ char *sub = xasprintf("%s.%s", path, key);
		char *s = NULL;
		int rc = 0;

		if (YAJL_IS_NULL(x))
			continue;
		if (strcmp(key, "url") == 0) {
			rc = want_string(x, sub, &url, err);
		} else if (strcmp(key, "capabilities") == 0) {
			rc = want_capabilities(x, sub, &m->capabilities, err);
			caps_given = true;
		} else if (strcmp(key, "insecure") == 0) {
			rc = want_bool(x, sub, &m->tls.insecure, err);
		} else if (strcmp(key, "skip_verify") == 0) {
			rc = want_bool(x, sub, &m->tls.skip_verify, err);
		} else if (strcmp(key, "ca_file") == 0 || strcmp(key, "client_cert") == 0 ||
		           strcmp(key, "client_key") == 0) {
			rc = want_abs_path(x, sub, PATH_MAX - 1, &s, err);
			if (rc == 0)
				replace(key[0] == 'c' && key[1] == 'a'    ? &m->tls.ca_file
				        : strcmp(key, "client_cert") == 0 ? &m->tls.client_cert
				                                          : &m->tls.client_key,
				        s);
		} else {
			return br_err_set(err, BR_INVALID_ARGUMENT, "%s: unknown key", sub);
		}
		if (rc < 0)
			return -1;
	}
	if (url == NULL)
		return br_err_set(err, BR_INVALID_ARGUMENT, "%s.url: missing", path);
	m->url = mirror_url(url, m->tls.insecure);
	if (m->url == NULL)
		return br_err_set(err, BR_INVALID_ARGUMENT,
		                  "%s.url: \"%s\" is not a mirror (host[:port] or "
		                  "http[s]://host[:port][/path])",
		                  path, BR_ERR_QUOTE(url));
	if (!caps_given)
		m->capabilities = BR_REGISTRY_PULL | BR_REGISTRY_RESOLVE;
	return 0;
}

static int
set_registry_mirrors(struct br_config *cfg, yajl_val v, const char *path, br_err *err)
{
	struct br_registry_config *r = current_registry(cfg);

	if (!YAJL_IS_ARRAY(v))
		return br_err_set(err, BR_INVALID_ARGUMENT, "%s: expected an array", path);
	size_t n = v->u.array.len;
	if (n > MAX_MIRRORS)
		return br_err_set(err, BR_INVALID_ARGUMENT, "%s: more than %d mirrors", path,
		                  MAX_MIRRORS);
	for (size_t i = 0; i < r->n_mirrors; i++) {
		free(r->mirrors[i].url);
		tls_fini(&r->mirrors[i].tls);
	}
	free(r->mirrors);
	r->mirrors = xcalloc(n + 1, sizeof(*r->mirrors));
	r->n_mirrors = 0;
	for (size_t i = 0; i < n; i++) {
		yajl_val m = v->u.array.values[i];
		struct br_registry_mirror *out = &r->mirrors[r->n_mirrors++];
		_cleanup_free_ char *sub = xasprintf("%s[%zu]", path, i);
		if (YAJL_IS_OBJECT(m)) {
			if (parse_mirror_object(m, sub, out, err) < 0)
				return -1;
		} else if (YAJL_IS_STRING(m)) {
			out->url = mirror_url(YAJL_GET_STRING(m), false);
			out->capabilities = BR_REGISTRY_PULL | BR_REGISTRY_RESOLVE;
			out->tls.insecure = out->url != NULL && strncmp(out->url, "http:", 5) == 0;
			if (out->url == NULL)
				return br_err_set(err, BR_INVALID_ARGUMENT,
				                  "%s: \"%s\" is not a mirror (host[:port] or "
				                  "http[s]://host[:port][/path])",
				                  sub, BR_ERR_QUOTE(YAJL_GET_STRING(m)));
		} else {
			return br_err_set(err, BR_INVALID_ARGUMENT,
			                  "%s: expected a string or an object", sub);
		}
		if (strncmp(out->url, "http:", 5) == 0)
			out->tls.insecure = true;
		if ((out->tls.client_cert == NULL) != (out->tls.client_key == NULL))
			return br_err_set(err, BR_INVALID_ARGUMENT,
			                  "%s: client_cert and client_key go together", sub);
	}
	return 0;
}

static const struct field registry_fields[] = {
        {"host", set_registry_host},
        {"insecure", set_registry_insecure},
        {"skip_verify", set_registry_skip_verify},
        {"ca_file", set_registry_ca_file},
        {"client_cert", set_registry_client_cert},
        {"client_key", set_registry_client_key},
        {"username", set_registry_username},
        {"password", set_registry_password},
        {"auth", set_registry_auth},
        {"mirrors", set_registry_mirrors},
        {NULL, NULL},
};

static bool
has_key(yajl_val obj, const char *key)
{
	for (size_t i = 0; YAJL_IS_OBJECT(obj) && i < obj->u.object.len; i++)
		if (strcmp(obj->u.object.keys[i], key) == 0 &&
		    !YAJL_IS_NULL(obj->u.object.values[i]))
			return true;
	return false;
}

/* What one registry's keys must agree on once all are read. */
static int
registry_check(const struct br_registry_config *r, yajl_val obj, const char *sub, br_err *err)
{
	if (r->host == NULL)
		return br_err_set(err, BR_INVALID_ARGUMENT, "%s.host: missing", sub);
	if (has_key(obj, "auth") && (has_key(obj, "username") || has_key(obj, "password")))
		return br_err_set(err, BR_INVALID_ARGUMENT,
		                  "%s.auth: give either auth or username and password", sub);
	if ((r->username == NULL) != (r->password == NULL))
		return br_err_set(err, BR_INVALID_ARGUMENT, "%s.%s: missing", sub,
		                  r->username == NULL ? "username" : "password");
	if ((r->tls.client_cert == NULL) != (r->tls.client_key == NULL))
		return br_err_set(err, BR_INVALID_ARGUMENT,
		                  "%s.%s: missing (client_cert and client_key go together)", sub,
		                  r->tls.client_cert == NULL ? "client_cert" : "client_key");
	return 0;
}

static int
set_registries(struct br_config *cfg, yajl_val v, const char *path, br_err *err)
{
	if (!YAJL_IS_ARRAY(v))
		return br_err_set(err, BR_INVALID_ARGUMENT, "%s: expected an array", path);
	if (v->u.array.len > MAX_REGISTRIES)
		return br_err_set(err, BR_INVALID_ARGUMENT, "%s: more than %d registries", path,
		                  MAX_REGISTRIES);
	for (size_t i = 0; i < cfg->imaged.n_registries; i++)
		registry_fini(&cfg->imaged.registries[i]);
	free(cfg->imaged.registries);
	cfg->imaged.registries = xcalloc(v->u.array.len + 1, sizeof(*cfg->imaged.registries));
	cfg->imaged.n_registries = 0;
	for (size_t i = 0; i < v->u.array.len; i++) {
		_cleanup_free_ char *sub = xasprintf("%s[%zu]", path, i);
		cfg->imaged.n_registries++;
		if (walk_object(cfg, v->u.array.values[i], sub, registry_fields, err) < 0)
			return -1;
		const struct br_registry_config *r = current_registry(cfg);
		if (registry_check(r, v->u.array.values[i], sub, err) < 0)
			return -1;
		for (size_t j = 0; j + 1 < cfg->imaged.n_registries; j++)
			if (strcmp(cfg->imaged.registries[j].host, r->host) == 0)
				return br_err_set(err, BR_INVALID_ARGUMENT,
				                  "%s.host: \"%s\" is already configured in "
				                  "%s[%zu]",
				                  sub, r->host, path, j);
	}
	return 0;
}

/* A per-job count of parallel work (downloads, unpacks): 1 to MAX_DOWNLOADS. */
static int
set_job_count(int *field, yajl_val v, const char *path, br_err *err)
{
	int64_t n = 0;

	if (want_int(v, path, 1, MAX_DOWNLOADS, &n, err) < 0)
		return -1;
	*field = (int)n;
	return 0;
}

static int
set_max_downloads(struct br_config *cfg, yajl_val v, const char *path, br_err *err)
{
	return set_job_count(&cfg->imaged.max_concurrent_downloads, v, path, err);
}

static int
set_max_unpacks(struct br_config *cfg, yajl_val v, const char *path, br_err *err)
{
	return set_job_count(&cfg->imaged.max_concurrent_unpacks, v, path, err);
}

static int
set_platform(struct br_config *cfg, yajl_val v, const char *path, br_err *err)
{
	struct br_oci_platform p;
	const char *s = NULL;

	if (want_string(v, path, &s, err) < 0)
		return -1;
	if (br_oci_platform_parse(s, &p, err) < 0)
		return br_err_wrap(err, "%s", path);
	char *canon = p.variant ? xasprintf("%s/%s/%s", p.os, p.architecture, p.variant)
	                        : xasprintf("%s/%s", p.os, p.architecture);
	br_oci_platform_fini(&p);
	replace(&cfg->imaged.platform, canon);
	return 0;
}

MS_SETTER(set_job_lease_ttl, imaged.job_lease_ttl_ms, 3000, 7 * DAY_MS)
MS_SETTER(set_retry_max_delay, imaged.retry_max_delay_ms, 0, 10 * 60 * 1000)
MS_SETTER(set_job_stall_timeout, imaged.job_stall_timeout_ms, 100, DAY_MS)

static int
set_retry_attempts(struct br_config *cfg, yajl_val v, const char *path, br_err *err)
{
	int64_t n = 0;

	if (want_int(v, path, 1, 100, &n, err) < 0)
		return -1;
	cfg->imaged.retry_attempts = (int)n;
	return 0;
}

/* Push: blobs up to push_chunk_threshold bytes go in one PUT, larger ones in PATCHes of
 * push_chunk_size bytes (a registry's proxy may cap one request's body). */
static int
set_push_chunk_threshold(struct br_config *cfg, yajl_val v, const char *path, br_err *err)
{
	return want_int(v, path, 0, 1LL << 40, &cfg->imaged.push_chunk_threshold, err);
}

static int
set_push_chunk_size(struct br_config *cfg, yajl_val v, const char *path, br_err *err)
{
	return want_int(v, path, 4096, 1LL << 30, &cfg->imaged.push_chunk_size, err);
}

static const struct field imaged_fields[] = {
        {"registries", set_registries},
        {"max_concurrent_downloads", set_max_downloads},
        {"max_concurrent_unpacks", set_max_unpacks},
        {"platform", set_platform},
        {"job_lease_ttl_ms", set_job_lease_ttl},
        {"push_chunk_threshold", set_push_chunk_threshold},
        {"push_chunk_size", set_push_chunk_size},
        {"retry_attempts", set_retry_attempts},
        {"retry_max_delay_ms", set_retry_max_delay},
        {"job_stall_timeout_ms", set_job_stall_timeout},
        {NULL, NULL},
};

static int
set_imaged(struct br_config *cfg, yajl_val v, const char *path, br_err *err)
{
	return walk_object(cfg, v, path, imaged_fields, err);
}

/* --- taskd --- */

static int
set_runtime(struct br_config *cfg, yajl_val v, const char *path, br_err *err)
{
	char *s = NULL;

	if (want_name(v, path, &s, err) < 0)
		return -1;
	replace(&cfg->taskd.runtime, s);
	return 0;
}

static void
add_runtime(struct br_config *cfg, const char *name, char *path)
{
	for (size_t i = 0; i < cfg->taskd.n_runtimes; i++) {
		if (strcmp(cfg->taskd.runtimes[i].name, name) == 0) {
			replace(&cfg->taskd.runtimes[i].path, path);
			return;
		}
	}
	size_t n = cfg->taskd.n_runtimes;
	cfg->taskd.runtimes = xrealloc(cfg->taskd.runtimes, (n + 1) * sizeof(*cfg->taskd.runtimes));
	cfg->taskd.runtimes[n].name = xstrdup(name);
	cfg->taskd.runtimes[n].path = path;
	cfg->taskd.n_runtimes = n + 1;
}

/* Entries are merged over the built-in ones: a file names only what it adds or changes. */
static int
set_runtimes(struct br_config *cfg, yajl_val v, const char *path, br_err *err)
{
	if (!YAJL_IS_OBJECT(v))
		return br_err_set(err, BR_INVALID_ARGUMENT, "%s: expected an object", path);
	for (size_t i = 0; i < v->u.object.len; i++) {
		const char *name = v->u.object.keys[i];
		_cleanup_free_ char *sub = xasprintf("%s.%s", path, name);
		char *bin = NULL;
		if (!name_valid(name))
			return br_err_set(err, BR_INVALID_ARGUMENT,
			                  "%s: \"%s\" is not a valid runtime name", sub, name);
		if (want_abs_path(v->u.object.values[i], sub, PATH_MAX - 1, &bin, err) < 0)
			return -1;
		add_runtime(cfg, name, bin);
		if (cfg->taskd.n_runtimes > MAX_RUNTIMES)
			return br_err_set(err, BR_INVALID_ARGUMENT, "%s: more than %d runtimes",
			                  path, MAX_RUNTIMES);
	}
	return 0;
}

static int
set_shim(struct br_config *cfg, yajl_val v, const char *path, br_err *err)
{
	char *s = NULL;

	if (want_abs_path(v, path, PATH_MAX - 1, &s, err) < 0)
		return -1;
	replace(&cfg->taskd.shim, s);
	return 0;
}

static int
set_log_max_size(struct br_config *cfg, yajl_val v, const char *path, br_err *err)
{
	/* At least 4 KiB so a record fits; at most 1 GiB so `logs --tail` can scan a file. */
	return want_int(v, path, 4096, 1 << 30, &cfg->taskd.log_max_size, err);
}

static int
set_log_max_files(struct br_config *cfg, yajl_val v, const char *path, br_err *err)
{
	int64_t n = 0;

	if (want_int(v, path, 1, BR_CRILOG_FILES_MAX, &n, err) < 0)
		return -1;
	cfg->taskd.log_max_files = (int)n;
	return 0;
}

static const struct field taskd_fields[] = {
        {"runtime", set_runtime},
        {"runtimes", set_runtimes},
        {"shim", set_shim},
        {"log_max_size", set_log_max_size},
        {"log_max_files", set_log_max_files},
        {NULL, NULL},
};

static int
set_taskd(struct br_config *cfg, yajl_val v, const char *path, br_err *err)
{
	if (walk_object(cfg, v, path, taskd_fields, err) < 0)
		return -1;
	if (br_config_runtime_path(cfg, cfg->taskd.runtime) == NULL)
		return br_err_set(err, BR_INVALID_ARGUMENT,
		                  "%s.runtime: \"%s\" is not a key of %s.runtimes", path,
		                  cfg->taskd.runtime, path);
	return 0;
}

/* --- netd --- */

static int
set_network(struct br_config *cfg, yajl_val v, const char *path, br_err *err)
{
	char *s = NULL;

	if (want_name(v, path, &s, err) < 0)
		return -1;
	replace(&cfg->netd.network, s);
	return 0;
}

static int
set_cni_bin_dir(struct br_config *cfg, yajl_val v, const char *path, br_err *err)
{
	char *s = NULL;

	if (want_abs_path(v, path, PATH_MAX - 256, &s, err) < 0)
		return -1;
	replace(&cfg->netd.cni_bin_dir, s);
	return 0;
}

static int
set_cni_conf_dir(struct br_config *cfg, yajl_val v, const char *path, br_err *err)
{
	char *s = NULL;

	if (want_abs_path(v, path, PATH_MAX - 256, &s, err) < 0)
		return -1;
	replace(&cfg->netd.cni_conf_dir, s);
	return 0;
}

/* A network device name: a name of at most `max` bytes (IFNAMSIZ - 1 for a whole name). */
static int
want_ifname(yajl_val v, const char *path, size_t max, char **ret, br_err *err)
{
	char *s = NULL;

	if (want_name(v, path, &s, err) < 0)
		return -1;
	if (strlen(s) > max) {
		br_err_set(err, BR_INVALID_ARGUMENT,
		           "%s: \"%s\" is longer than %zu bytes (a network device's name)", path, s,
		           max);
		free(s);
		return -1;
	}
	*ret = s;
	return 0;
}

static int
set_default_bridge(struct br_config *cfg, yajl_val v, const char *path, br_err *err)
{
	char *s = NULL;

	if (want_ifname(v, path, 15, &s, err) < 0)
		return -1;
	replace(&cfg->netd.default_bridge, s);
	return 0;
}

/* New networks' bridges are the prefix and a number of up to three digits. */
static int
set_bridge_prefix(struct br_config *cfg, yajl_val v, const char *path, br_err *err)
{
	char *s = NULL;

	if (want_ifname(v, path, 12, &s, err) < 0)
		return -1;
	replace(&cfg->netd.bridge_prefix, s);
	return 0;
}

static int
want_subnet(yajl_val v, const char *path, int max_prefix, char **ret, br_err *err)
{
	const char *s = NULL;
	struct br_ipv4_net net;

	if (want_string(v, path, &s, err) < 0 || br_ipv4_parse_net(s, path, &net, err) < 0)
		return -1;
	if (net.prefix > max_prefix)
		return br_err_set(err, BR_INVALID_ARGUMENT, "%s: \"%s\" is smaller than a /%d",
		                  path, s, max_prefix);
	*ret = xstrdup(s);
	return 0;
}

static int
set_default_subnet(struct br_config *cfg, yajl_val v, const char *path, br_err *err)
{
	char *s = NULL;

	if (want_subnet(v, path, 30, &s, err) < 0)
		return -1;
	replace(&cfg->netd.default_subnet, s);
	return 0;
}

static int
set_subnet_pool(struct br_config *cfg, yajl_val v, const char *path, br_err *err)
{
	char *s = NULL;

	if (want_subnet(v, path, 24, &s, err) < 0)
		return -1;
	replace(&cfg->netd.subnet_pool, s);
	return 0;
}

static const struct field netd_fields[] = {
        {"network", set_network},
        {"cni_bin_dir", set_cni_bin_dir},
        {"cni_conf_dir", set_cni_conf_dir},
        {"default_bridge", set_default_bridge},
        {"default_subnet", set_default_subnet},
        {"subnet_pool", set_subnet_pool},
        {"bridge_prefix", set_bridge_prefix},
        {NULL, NULL},
};

static int
set_netd(struct br_config *cfg, yajl_val v, const char *path, br_err *err)
{
	return walk_object(cfg, v, path, netd_fields, err);
}

/* --- gatewayd --- */

static int
set_socket(struct br_config *cfg, yajl_val v, const char *path, br_err *err)
{
	char *s = NULL;

	if (want_abs_path(v, path, MAX_SOCKET_PATH, &s, err) < 0)
		return -1;
	if (strcmp(s, "/") == 0) {
		free(s);
		return br_err_set(err, BR_INVALID_ARGUMENT, "%s: \"/\" is not a socket path", path);
	}
	replace(&cfg->gatewayd.socket, s);
	return 0;
}

/* "" means: leave the socket's group alone. */
static int
set_group(struct br_config *cfg, yajl_val v, const char *path, br_err *err)
{
	char *s = NULL;

	if (YAJL_IS_STRING(v) && YAJL_GET_STRING(v)[0] == '\0') {
		replace(&cfg->gatewayd.group, xstrdup(""));
		return 0;
	}
	if (want_name(v, path, &s, err) < 0)
		return -1;
	replace(&cfg->gatewayd.group, s);
	return 0;
}

static int
set_users(struct br_config *cfg, yajl_val v, const char *path, br_err *err)
{
	if (!YAJL_IS_ARRAY(v))
		return br_err_set(err, BR_INVALID_ARGUMENT, "%s: expected an array", path);
	size_t n = v->u.array.len;
	if (n > MAX_USERS)
		return br_err_set(err, BR_INVALID_ARGUMENT, "%s: more than %d users", path,
		                  MAX_USERS);
	_cleanup_free_ uint32_t *users = xcalloc(n ? n : 1, sizeof(*users));
	for (size_t i = 0; i < n; i++) {
		_cleanup_free_ char *sub = xasprintf("%s[%zu]", path, i);
		int64_t uid = 0;
		/* (uid_t)-1 is "no user" to the kernel's own interfaces. */
		if (want_int(v->u.array.values[i], sub, 0, UINT32_MAX - 1, &uid, err) < 0)
			return -1;
		users[i] = (uint32_t)uid;
	}
	free(cfg->gatewayd.users);
	cfg->gatewayd.users = br_steal_ptr(&users);
	cfg->gatewayd.n_users = n;
	return 0;
}

static int
set_timeout(struct br_config *cfg, yajl_val v, const char *path, br_err *err)
{
	int64_t n = 0;

	if (want_int(v, path, 1, MAX_TIMEOUT_MS, &n, err) < 0)
		return -1;
	cfg->gatewayd.timeout_ms = (int)n;
	return 0;
}

const char *
br_role_name(enum br_role role)
{
	switch (role) {
	case BR_ROLE_READ:
		return "read";
	case BR_ROLE_USER:
		return "user";
	case BR_ROLE_ADMIN:
		return "admin";
	case BR_ROLE_NONE:
		break;
	}
	return "none";
}

static void
access_rule_fini(struct br_access_rule *r)
{
	br_strv_free(r->namespaces);
	r->namespaces = NULL;
}

/* One rule of gatewayd.access: {"uid": N | "gid": N, "namespaces": [...], "role": "..."}. */
static int
parse_access_rule(yajl_val v, const char *path, struct br_access_rule *r, br_err *err)
{
	bool have_id = false, have_ns = false, have_role = false;

	if (!YAJL_IS_OBJECT(v))
		return br_err_set(err, BR_INVALID_ARGUMENT, "%s: expected an object", path);
	for (size_t i = 0; i < v->u.object.len; i++) {
		const char *key = v->u.object.keys[i];
		yajl_val val = v->u.object.values[i];
		_cleanup_free_ char *sub = xasprintf("%s.%s", path, key);
		if (strcmp(key, "uid") == 0 || strcmp(key, "gid") == 0) {
			int64_t id = 0;
			if (have_id)
				return br_err_set(err, BR_INVALID_ARGUMENT,
				                  "%s: give either \"uid\" or \"gid\", not both",
				                  path);
			if (want_int(val, sub, 0, UINT32_MAX - 1, &id, err) < 0)
				return -1;
			r->by_gid = key[0] == 'g';
			r->id = (uint32_t)id;
			have_id = true;
		} else if (strcmp(key, "namespaces") == 0) {
			if (!YAJL_IS_ARRAY(val) || val->u.array.len == 0 ||
			    val->u.array.len > MAX_USERS)
				return br_err_set(
				        err, BR_INVALID_ARGUMENT,
				        "%s: expected an array of 1 to %d namespace names", sub,
				        MAX_USERS);
			size_t n = val->u.array.len;
			r->namespaces = xcalloc(n + 1, sizeof(char *));
			for (size_t j = 0; j < n; j++) {
				_cleanup_free_ char *item = xasprintf("%s[%zu]", sub, j);
				const char *ns = NULL;
				if (want_string(val->u.array.values[j], item, &ns, err) < 0)
					return -1;
				if (strcmp(ns, "*") != 0 && !br_ns_valid(ns))
					return br_err_set(
					        err, BR_INVALID_ARGUMENT,
					        "%s: \"%s\" is neither a namespace name nor \"*\"",
					        item, ns);
				r->namespaces[j] = xstrdup(ns);
			}
			have_ns = true;
		} else if (strcmp(key, "role") == 0) {
			const char *role = NULL;
			if (want_string(val, sub, &role, err) < 0)
				return -1;
			if (strcmp(role, "admin") == 0)
				r->role = BR_ROLE_ADMIN;
			else if (strcmp(role, "user") == 0)
				r->role = BR_ROLE_USER;
			else if (strcmp(role, "read") == 0)
				r->role = BR_ROLE_READ;
			else
				return br_err_set(err, BR_INVALID_ARGUMENT,
				                  "%s: \"%s\" is not a role (admin, user or read)",
				                  sub, role);
			have_role = true;
		} else {
			return br_err_set(err, BR_INVALID_ARGUMENT, "%s: unknown key", sub);
		}
	}
	if (!have_id || !have_ns || !have_role)
		return br_err_set(
		        err, BR_INVALID_ARGUMENT,
		        "%s: a rule needs \"uid\" or \"gid\", \"namespaces\" and \"role\"", path);
	return 0;
}

static int
set_access(struct br_config *cfg, yajl_val v, const char *path, br_err *err)
{
	if (!YAJL_IS_ARRAY(v))
		return br_err_set(err, BR_INVALID_ARGUMENT, "%s: expected an array", path);
	size_t n = v->u.array.len;
	if (n > MAX_USERS)
		return br_err_set(err, BR_INVALID_ARGUMENT, "%s: more than %d rules", path,
		                  MAX_USERS);
	struct br_access_rule *rules = xcalloc(n ? n : 1, sizeof(*rules));
	for (size_t i = 0; i < n; i++) {
		_cleanup_free_ char *sub = xasprintf("%s[%zu]", path, i);
		if (parse_access_rule(v->u.array.values[i], sub, &rules[i], err) < 0) {
			for (size_t j = 0; j <= i; j++)
				access_rule_fini(&rules[j]);
			free(rules);
			return -1;
		}
	}
	for (size_t i = 0; i < cfg->gatewayd.n_access; i++)
		access_rule_fini(&cfg->gatewayd.access[i]);
	free(cfg->gatewayd.access);
	cfg->gatewayd.access = rules;
	cfg->gatewayd.n_access = n;
	return 0;
}

#define INT_SETTER(fn, member, min, max)                                                \
	static int fn(struct br_config *cfg, yajl_val v, const char *path, br_err *err) \
	{                                                                               \
		int64_t n = 0;                                                          \
		if (want_int(v, path, min, max, &n, err) < 0)                           \
			return -1;                                                      \
		cfg->member = (int)n;                                                   \
		return 0;                                                               \
	}

INT_SETTER(set_max_connections, gatewayd.max_connections, 1, 65536)
INT_SETTER(set_max_calls_per_uid, gatewayd.max_calls_per_uid, 1, BR_RPC_MAX_CONTEXTS)

static int
set_events_max_count(struct br_config *cfg, yajl_val v, const char *path, br_err *err)
{
	return want_int(v, path, 1, INT64_C(1) << 40, &cfg->gatewayd.events_max_count, err);
}

static int
set_events_max_age(struct br_config *cfg, yajl_val v, const char *path, br_err *err)
{
	int64_t s = 0;

	if (want_int(v, path, 0, 10 * 365 * 86400LL, &s, err) < 0)
		return -1;
	cfg->gatewayd.events_max_age_ms = s * 1000;
	return 0;
}

static const struct field events_fields[] = {
        {"max_count", set_events_max_count},
        {"max_age_s", set_events_max_age},
        {NULL, NULL},
};

static int
set_events(struct br_config *cfg, yajl_val v, const char *path, br_err *err)
{
	return walk_object(cfg, v, path, events_fields, err);
}

/* "HOST:PORT" with a numeric IPv4 or [IPv6] host; "" turns the endpoint off. */
static int
set_metrics_address(struct br_config *cfg, yajl_val v, const char *path, br_err *err)
{
	const char *s = NULL;

	if (want_string(v, path, &s, err) < 0)
		return -1;
	if (s[0] == '\0') {
		replace(&cfg->gatewayd.metrics_address, NULL);
		return 0;
	}
	const char *colon = strrchr(s, ':');
	char *end = NULL;
	long port = colon ? strtol(colon + 1, &end, 10) : -1;
	if (colon == NULL || colon == s || end == colon + 1 || *end != '\0' || port < 1 ||
	    port > 65535 || strlen(s) > 64)
		return br_err_set(
		        err, BR_INVALID_ARGUMENT,
		        "%s: \"%s\" is not HOST:PORT (\"127.0.0.1:9338\", \"[::1]:9338\")", path,
		        s);
	replace(&cfg->gatewayd.metrics_address, xstrdup(s));
	return 0;
}

static const struct field gatewayd_fields[] = {
        {"socket", set_socket},
        {"group", set_group},
        {"users", set_users},
        {"access", set_access},
        {"timeout_ms", set_timeout},
        {"max_connections", set_max_connections},
        {"max_calls_per_uid", set_max_calls_per_uid},
        {"events", set_events},
        {"metrics_address", set_metrics_address},
        {NULL, NULL},
};

static int
set_gatewayd(struct br_config *cfg, yajl_val v, const char *path, br_err *err)
{
	return walk_object(cfg, v, path, gatewayd_fields, err);
}

static const struct field top_fields[] = {
        {"root", set_root},
        {"state", set_state},
        {"log", set_log},
        {"contentd", set_contentd},
        {"snapshotd", set_snapshotd},
        {"imaged", set_imaged},
        {"taskd", set_taskd},
        {"netd", set_netd},
        {"gatewayd", set_gatewayd},
        {NULL, NULL},
};

/* The built-in defaults (docs/config.md). The caller frees with br_config_free. Any thread. */
struct br_config *
br_config_new_default(void)
{
	struct br_config *cfg = xnew(struct br_config);

	cfg->root = xstrdup("/var/lib/berth");
	cfg->state = xstrdup("/run/berth");
	cfg->log_level = BR_LOG_INFO;
	cfg->log_format = BR_LOG_TEXT;
	cfg->contentd.gc_delay_ms = 1000;
	cfg->contentd.gc_interval_ms = HOUR_MS;
	cfg->contentd.ingest_expiry_ms = DAY_MS;
	cfg->snapshotd.snapshotter = xstrdup("overlayfs");
	cfg->snapshotd.gc_delay_ms = 1000;
	cfg->snapshotd.gc_interval_ms = HOUR_MS;
	cfg->imaged.max_concurrent_downloads = 3;
	cfg->imaged.max_concurrent_unpacks = 3;
	cfg->imaged.job_lease_ttl_ms = 15 * 60 * 1000;
	cfg->imaged.push_chunk_threshold = 64LL << 20;
	cfg->imaged.push_chunk_size = 16LL << 20;
	cfg->imaged.retry_attempts = 5;
	cfg->imaged.retry_max_delay_ms = 30 * 1000;
	cfg->imaged.job_stall_timeout_ms = 5 * 60 * 1000;
	cfg->imaged.platform = xstrdup(HOST_PLATFORM);
	cfg->taskd.runtime = xstrdup("runc");
	add_runtime(cfg, "runc", xstrdup("/usr/sbin/runc"));
	add_runtime(cfg, "crun", xstrdup("/usr/bin/crun"));
	cfg->taskd.log_max_size = 10 << 20;
	cfg->taskd.log_max_files = 3;
	cfg->netd.network = xstrdup("berth");
	cfg->netd.default_bridge = xstrdup("berth0");
	cfg->netd.default_subnet = xstrdup("10.87.0.0/16");
	cfg->netd.subnet_pool = xstrdup("10.91.0.0/16");
	cfg->netd.bridge_prefix = xstrdup("berth");
	cfg->netd.cni_bin_dir = xstrdup("/usr/lib/cni");
	cfg->netd.cni_conf_dir = xstrdup("/etc/berth/cni");
	cfg->gatewayd.group = xstrdup("berth");
	cfg->gatewayd.timeout_ms = 30000;
	cfg->gatewayd.max_connections = 1024;
	cfg->gatewayd.max_calls_per_uid = 64;
	cfg->gatewayd.events_max_count = 100000;
	cfg->gatewayd.events_max_age_ms = 7 * DAY_MS;
	return cfg;
}

/* Parse a JSON document over the defaults. INVALID_ARGUMENT (naming `origin` and the key's
 * path) for malformed JSON, unknown keys, wrong types and invalid values; RESOURCE_EXHAUSTED
 * past BR_CONFIG_MAX_SIZE. *ret is the caller's (br_config_free). Any thread. */
int
br_config_parse(const char *buf, size_t len, const char *origin, struct br_config **ret,
                br_err *err)
{
	yajl_val tree = NULL;

	if (br_json_parse(buf, len, BR_CONFIG_MAX_SIZE, origin, &tree, err) < 0)
		return -1;
	struct br_config *cfg = br_config_new_default();
	int rc = walk_object(cfg, tree, "", top_fields, err);
	yajl_tree_free(tree);
	if (rc < 0) {
		br_config_free(cfg);
		return br_err_wrap(err, "%s", origin);
	}
	*ret = cfg;
	return 0;
}

/* Load a file (see config.h). NOT_FOUND when an explicitly named file is missing, the errors
 * of br_config_parse otherwise. Any thread. */
int
br_config_load(const char *path, struct br_config **ret, br_err *err)
{
	const char *file = path ? path : BR_CONFIG_DEFAULT_PATH;
	_cleanup_free_ char *buf = NULL;
	size_t len = 0;
	br_err read_err = BR_ERR_INIT;

	if (br_read_file_at(AT_FDCWD, file, BR_CONFIG_MAX_SIZE, &buf, &len, &read_err) < 0) {
		if (path == NULL && read_err.code == BR_NOT_FOUND) {
			*ret = br_config_new_default();
			return 0;
		}
		br_err_copy(err, &read_err);
		return br_err_wrap(err, "config");
	}
	return br_config_parse(buf, len, file, ret, err);
}

/* Free a config and everything it holds; accepts NULL. */
void
br_config_free(struct br_config *cfg)
{
	if (cfg == NULL)
		return;
	free(cfg->root);
	free(cfg->state);
	free(cfg->snapshotd.snapshotter);
	for (size_t i = 0; i < cfg->imaged.n_registries; i++)
		registry_fini(&cfg->imaged.registries[i]);
	free(cfg->imaged.registries);
	free(cfg->imaged.platform);
	free(cfg->taskd.runtime);
	for (size_t i = 0; i < cfg->taskd.n_runtimes; i++) {
		free(cfg->taskd.runtimes[i].name);
		free(cfg->taskd.runtimes[i].path);
	}
	free(cfg->taskd.runtimes);
	free(cfg->taskd.shim);
	free(cfg->netd.network);
	free(cfg->netd.cni_bin_dir);
	free(cfg->netd.cni_conf_dir);
	free(cfg->netd.default_bridge);
	free(cfg->netd.default_subnet);
	free(cfg->netd.subnet_pool);
	free(cfg->netd.bridge_prefix);
	free(cfg->gatewayd.socket);
	free(cfg->gatewayd.group);
	free(cfg->gatewayd.users);
	for (size_t i = 0; i < cfg->gatewayd.n_access; i++)
		access_rule_fini(&cfg->gatewayd.access[i]);
	free(cfg->gatewayd.access);
	free(cfg->gatewayd.metrics_address);
	free(cfg);
}

static char *
join(const char *dir, const char *name)
{
	size_t len = strlen(dir);

	return xasprintf("%s%s%s", dir, len > 0 && dir[len - 1] == '/' ? "" : "/", name);
}

/* Path helpers (config.h); heap strings for the caller. Any thread. */
char *
br_config_data_dir(const struct br_config *cfg, const char *daemon)
{
	return join(cfg->root, daemon);
}

char *
br_config_state_dir(const struct br_config *cfg, const char *daemon)
{
	return join(cfg->state, daemon);
}

char *
br_config_socket_url(const struct br_config *cfg, const char *daemon)
{
	_cleanup_free_ char *path = NULL;

	if (strcmp(daemon, "gatewayd") == 0) {
		path = cfg->gatewayd.socket ? xstrdup(cfg->gatewayd.socket)
		                            : join(cfg->state, "berth.sock");
	} else {
		_cleanup_free_ char *file = xasprintf("%s.sock", daemon);
		path = join(cfg->state, file);
	}
	return xasprintf("ipc://%s", path);
}

/* The registry section for `host`, or NULL. Borrowed from cfg. */
const struct br_registry_config *
br_config_registry(const struct br_config *cfg, const char *host)
{
	for (size_t i = 0; i < cfg->imaged.n_registries; i++)
		if (strcmp(cfg->imaged.registries[i].host, host) == 0)
			return &cfg->imaged.registries[i];
	return NULL;
}

/* The binary of runtime `name`, or NULL. Borrowed from cfg. */
const char *
br_config_runtime_path(const struct br_config *cfg, const char *name)
{
	if (name == NULL)
		return NULL;
	for (size_t i = 0; i < cfg->taskd.n_runtimes; i++)
		if (strcmp(cfg->taskd.runtimes[i].name, name) == 0)
			return cfg->taskd.runtimes[i].path;
	return NULL;
}
