/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Safe JSON on top of yajl. A document is read twice: first by yajl's streaming parser, whose
 * callbacks bound the nesting depth and refuse NUL characters in strings and keys (the tree
 * API would silently cut such strings short), then by yajl_tree_parse, whose tree is walked
 * once more to refuse duplicate keys. Only then does a caller see the tree. The getters turn
 * "missing" and "wrong type" into errors that name the member's path, and the generator
 * helpers make sure that what Berth writes is valid UTF-8 JSON whatever bytes it was handed.
 */
#include "common/json.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yajl_parse.h>

#include "common/cleanup.h"
#include "common/xalloc.h"

/* What the streaming pre-scan found wrong, if anything. */
enum scan_problem {
	SCAN_OK = 0,
	SCAN_TOO_DEEP,
	SCAN_NUL,
};

struct scan {
	int depth;
	enum scan_problem problem;
};

static int
scan_string(void *ctx, const unsigned char *s, size_t len)
{
	struct scan *sc = ctx;

	if (memchr(s, '\0', len) != NULL) {
		sc->problem = SCAN_NUL;
		return 0;
	}
	return 1;
}

static int
scan_open(void *ctx)
{
	struct scan *sc = ctx;

	if (++sc->depth > BR_JSON_MAX_DEPTH) {
		sc->problem = SCAN_TOO_DEEP;
		return 0;
	}
	return 1;
}

static int
scan_close(void *ctx)
{
	struct scan *sc = ctx;

	sc->depth--;
	return 1;
}

static const yajl_callbacks scan_callbacks = {
        .yajl_string = scan_string,
        .yajl_start_map = scan_open,
        .yajl_map_key = scan_string,
        .yajl_end_map = scan_close,
        .yajl_start_array = scan_open,
        .yajl_end_array = scan_close,
};

/* Copy yajl's error text without its trailing newline. */
static void
copy_yajl_error(char *out, size_t cap, const unsigned char *msg)
{
	snprintf(out, cap, "%s", msg ? (const char *)msg : "unknown error");
	size_t n = strlen(out);
	while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == ' '))
		out[--n] = '\0';
}

static int
prescan(const char *buf, size_t len, const char *what, br_err *err)
{
	struct scan sc = {0};
	yajl_handle h = yajl_alloc(&scan_callbacks, NULL, &sc);
	yajl_status st;

	if (h == NULL)
		return br_err_set(err, BR_RESOURCE_EXHAUSTED, "%s: out of memory", what);
	st = yajl_parse(h, (const unsigned char *)buf, len);
	if (st == yajl_status_ok)
		st = yajl_complete_parse(h);
	if (st == yajl_status_ok) {
		yajl_free(h);
		return 0;
	}
	if (st == yajl_status_client_canceled) {
		size_t at = yajl_get_bytes_consumed(h);
		yajl_free(h);
		if (sc.problem == SCAN_TOO_DEEP)
			return br_err_set(err, BR_INVALID_ARGUMENT,
			                  "%s: nested deeper than %d levels (at byte %zu)", what,
			                  BR_JSON_MAX_DEPTH, at);
		return br_err_set(err, BR_INVALID_ARGUMENT,
		                  "%s: string contains a NUL character (at byte %zu)", what, at);
	}
	char msg[256];
	unsigned char *yerr = yajl_get_error(h, 0, (const unsigned char *)buf, len);
	copy_yajl_error(msg, sizeof(msg), yerr);
	yajl_free_error(h, yerr);
	size_t at = yajl_get_bytes_consumed(h);
	yajl_free(h);
	return br_err_set(err, BR_INVALID_ARGUMENT, "%s: invalid JSON at byte %zu: %s", what, at,
	                  msg);
}

static int
compare_keys(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The first duplicated key of an object, or NULL. Small objects are compared pairwise, larger
 * ones sorted, so a document with a huge object cannot make this quadratic. */
static const char *
find_duplicate_key(yajl_val obj)
{
	size_t n = obj->u.object.len;

	if (n < 2)
		return NULL;
	if (n <= 16) {
		for (size_t i = 0; i < n; i++)
			for (size_t j = i + 1; j < n; j++)
				if (strcmp(obj->u.object.keys[i], obj->u.object.keys[j]) == 0)
					return obj->u.object.keys[i];
		return NULL;
	}
	_cleanup_free_ const char **keys = xmemdup(obj->u.object.keys, n * sizeof(*keys));
	qsort(keys, n, sizeof(*keys), compare_keys);
	for (size_t i = 1; i < n; i++)
		if (strcmp(keys[i - 1], keys[i]) == 0)
			return keys[i];
	return NULL;
}

/* The path of the member being checked, grown and cut back as the walk goes. */
struct path {
	char *s;
	size_t len, cap;
};

static size_t
path_push(struct path *p, const char *fmt, const char *key, size_t index)
{
	size_t old = p->len;
	char tmp[32];
	const char *piece = key;

	if (key == NULL) {
		snprintf(tmp, sizeof(tmp), "[%zu]", index);
		piece = tmp;
	}
	size_t n = strlen(piece) + (key != NULL && old > 0 ? 1 : 0);
	if (p->len + n + 1 > p->cap) {
		p->cap = (p->len + n + 1) * 2;
		p->s = xrealloc(p->s, p->cap);
	}
	snprintf(p->s + p->len, p->cap - p->len, fmt, key != NULL && old > 0 ? "." : "", piece);
	p->len += n;
	return old;
}

/* Walk the tree (at most BR_JSON_MAX_DEPTH deep, checked by the pre-scan) for duplicates. */
static int
check_duplicates(yajl_val v, struct path *path, const char *what, br_err *err)
{
	if (YAJL_IS_OBJECT(v)) {
		const char *dup = find_duplicate_key(v);
		if (dup != NULL) {
			path_push(path, "%s%s", dup, 0);
			return br_err_set(err, BR_INVALID_ARGUMENT, "%s: duplicate key \"%s\"",
			                  what, path->s);
		}
		for (size_t i = 0; i < v->u.object.len; i++) {
			yajl_val child = v->u.object.values[i];
			if (!YAJL_IS_OBJECT(child) && !YAJL_IS_ARRAY(child))
				continue;
			size_t old = path_push(path, "%s%s", v->u.object.keys[i], 0);
			if (check_duplicates(child, path, what, err) < 0)
				return -1;
			path->len = old;
			path->s[old] = '\0';
		}
	} else if (YAJL_IS_ARRAY(v)) {
		for (size_t i = 0; i < v->u.array.len; i++) {
			yajl_val child = v->u.array.values[i];
			if (!YAJL_IS_OBJECT(child) && !YAJL_IS_ARRAY(child))
				continue;
			size_t old = path_push(path, "%s%s", NULL, i);
			if (check_duplicates(child, path, what, err) < 0)
				return -1;
			path->len = old;
			path->s[old] = '\0';
		}
	}
	return 0;
}

/* Parse untrusted JSON. The caller owns *ret (yajl_tree_free). INVALID_ARGUMENT for anything
 * malformed, RESOURCE_EXHAUSTED when longer than max_len. Any thread. */
int
br_json_parse(const char *buf, size_t len, size_t max_len, const char *what, yajl_val *ret,
              br_err *err)
{
	char yerr[256] = "";

	if (len > max_len)
		return br_err_set(err, BR_RESOURCE_EXHAUSTED,
		                  "%s: %zu bytes, more than the limit of %zu", what, len, max_len);
	if (len == 0)
		return br_err_set(err, BR_INVALID_ARGUMENT, "%s: empty document", what);
	if (prescan(buf, len, what, err) < 0)
		return -1;
	_cleanup_free_ char *copy = xmalloc(len + 1);
	memcpy(copy, buf, len);
	copy[len] = '\0';
	yajl_val tree = yajl_tree_parse(copy, yerr, sizeof(yerr));
	if (tree == NULL) {
		char msg[256];
		copy_yajl_error(msg, sizeof(msg), (const unsigned char *)yerr);
		return br_err_set(err, BR_INVALID_ARGUMENT, "%s: invalid JSON: %s", what,
		                  msg[0] ? msg : "parse error");
	}
	struct path path = {.s = xstrdup(""), .len = 0, .cap = 1};
	int rc = check_duplicates(tree, &path, what, err);
	free(path.s);
	if (rc < 0) {
		yajl_tree_free(tree);
		return -1;
	}
	*ret = tree;
	return 0;
}

/* The member `key` of `obj`, NULL when absent or JSON null. */
static yajl_val
member(yajl_val obj, const char *key)
{
	for (size_t i = 0; i < obj->u.object.len; i++)
		if (strcmp(obj->u.object.keys[i], key) == 0)
			return YAJL_IS_NULL(obj->u.object.values[i]) ? NULL
			                                             : obj->u.object.values[i];
	return NULL;
}

/* Find `key` in `obj` for a getter: 1 found (*ret set), 0 missing and optional, -1 error. */
static int
lookup(yajl_val obj, const char *path, const char *key, bool required, yajl_val *ret, br_err *err)
{
	const char *p = path ? path : "";

	if (obj == NULL || !YAJL_IS_OBJECT(obj))
		return br_err_set(err, BR_INVALID_ARGUMENT, "%s: expected an object",
		                  p[0] ? p : "document");
	yajl_val v = member(obj, key);
	if (v == NULL) {
		if (required)
			return br_err_set(err, BR_INVALID_ARGUMENT, "%s%s%s: missing", p,
			                  p[0] ? "." : "", key);
		return 0;
	}
	*ret = v;
	return 1;
}

static int
type_error(const char *path, const char *key, const char *expected, br_err *err)
{
	const char *p = path ? path : "";

	return br_err_set(err, BR_INVALID_ARGUMENT, "%s%s%s: expected %s", p, p[0] ? "." : "", key,
	                  expected);
}

/* Getters: see json.h. JSON null counts as missing for every one of them. */
int
br_json_get_str(yajl_val obj, const char *path, const char *key, bool required, const char **ret,
                br_err *err)
{
	yajl_val v = NULL;
	int found = lookup(obj, path, key, required, &v, err);

	if (found <= 0)
		return found;
	if (!YAJL_IS_STRING(v))
		return type_error(path, key, "a string", err);
	*ret = YAJL_GET_STRING(v);
	return 0;
}

int
br_json_get_int(yajl_val obj, const char *path, const char *key, bool required, int64_t *ret,
                br_err *err)
{
	yajl_val v = NULL;
	int found = lookup(obj, path, key, required, &v, err);

	if (found <= 0)
		return found;
	if (!YAJL_IS_INTEGER(v))
		return type_error(path, key, "an integer (64-bit)", err);
	*ret = YAJL_GET_INTEGER(v);
	return 0;
}

int
br_json_get_bool(yajl_val obj, const char *path, const char *key, bool required, bool *ret,
                 br_err *err)
{
	yajl_val v = NULL;
	int found = lookup(obj, path, key, required, &v, err);

	if (found <= 0)
		return found;
	if (!YAJL_IS_TRUE(v) && !YAJL_IS_FALSE(v))
		return type_error(path, key, "a boolean", err);
	*ret = YAJL_IS_TRUE(v);
	return 0;
}

int
br_json_get_obj(yajl_val obj, const char *path, const char *key, bool required, yajl_val *ret,
                br_err *err)
{
	yajl_val v = NULL;
	int found = lookup(obj, path, key, required, &v, err);

	if (found <= 0)
		return found;
	if (!YAJL_IS_OBJECT(v))
		return type_error(path, key, "an object", err);
	*ret = v;
	return 0;
}

int
br_json_get_array(yajl_val obj, const char *path, const char *key, bool required, yajl_val *ret,
                  br_err *err)
{
	yajl_val v = NULL;
	int found = lookup(obj, path, key, required, &v, err);

	if (found <= 0)
		return found;
	if (!YAJL_IS_ARRAY(v))
		return type_error(path, key, "an array", err);
	*ret = v;
	return 0;
}

int
br_json_get_strv(yajl_val obj, const char *path, const char *key, bool required, size_t max,
                 char ***ret, br_err *err)
{
	const char *p = path ? path : "";
	yajl_val v = NULL;

	if (br_json_get_array(obj, path, key, required, &v, err) < 0)
		return -1;
	if (v == NULL)
		return 0;
	size_t n = v->u.array.len;
	if (n > max)
		return br_err_set(err, BR_RESOURCE_EXHAUSTED,
		                  "%s%s%s: %zu elements, more than the limit of %zu", p,
		                  p[0] ? "." : "", key, n, max);
	for (size_t i = 0; i < n; i++)
		if (!YAJL_IS_STRING(v->u.array.values[i]))
			return br_err_set(err, BR_INVALID_ARGUMENT,
			                  "%s%s%s[%zu]: expected a string", p, p[0] ? "." : "", key,
			                  i);
	char **vec = xcalloc(n + 1, sizeof(*vec));
	for (size_t i = 0; i < n; i++)
		vec[i] = xstrdup(YAJL_GET_STRING(v->u.array.values[i]));
	*ret = vec;
	return 0;
}

/* A new compact generator that validates UTF-8. The caller frees it with yajl_gen_free. */
yajl_gen
br_json_gen_new(void)
{
	yajl_gen g = yajl_gen_alloc(NULL);

	if (g == NULL) {
		fprintf(stderr, "berth: out of memory allocating a JSON generator\n");
		abort();
	}
	yajl_gen_config(g, yajl_gen_beautify, 0);
	yajl_gen_config(g, yajl_gen_validate_utf8, 1);
	return g;
}

/* Length of the valid UTF-8 sequence at s[0..len), 0 if it is not one. Overlong forms,
 * surrogates and code points past U+10FFFF are invalid. */
static size_t
utf8_seq_len(const unsigned char *s, size_t len)
{
	unsigned char c = s[0];
	size_t n;
	uint32_t cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		n = 2;
		cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		cp = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		cp = c & 0x07;
	} else {
		return 0;
	}
	if (len < n)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
	    (n == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return n;
}

/* Generate `s` as a JSON string; bytes that are not valid UTF-8 become U+FFFD so that the
 * output stays valid JSON (yajl would drop the whole string and leave the document broken). */
static void
gen_string(yajl_gen g, const char *s)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t len = strlen(s), i = 0;

	while (i < len) {
		size_t n = utf8_seq_len(u + i, len - i);
		if (n == 0)
			break;
		i += n;
	}
	if (i == len) {
		yajl_gen_string(g, u, len);
		return;
	}
	_cleanup_free_ unsigned char *fixed = xmalloc(len * 3 + 1);
	size_t out = 0;
	for (i = 0; i < len;) {
		size_t n = utf8_seq_len(u + i, len - i);
		if (n == 0) {
			memcpy(fixed + out, "\xef\xbf\xbd", 3);
			out += 3;
			i++;
			continue;
		}
		memcpy(fixed + out, u + i, n);
		out += n;
		i += n;
	}
	yajl_gen_string(g, fixed, out);
}

/* Generate a string value; NULL becomes JSON null. */
void
br_json_gen_str(yajl_gen g, const char *s)
{
	if (s == NULL)
		yajl_gen_null(g);
	else
		gen_string(g, s);
}

/* "key": "value" inside an open map; nothing at all when value is NULL. */
void
br_json_gen_kv_str(yajl_gen g, const char *key, const char *value)
{
	if (value == NULL)
		return;
	gen_string(g, key);
	gen_string(g, value);
}

void
br_json_gen_kv_int(yajl_gen g, const char *key, int64_t value)
{
	gen_string(g, key);
	yajl_gen_integer(g, (long long)value);
}

void
br_json_gen_kv_bool(yajl_gen g, const char *key, bool value)
{
	gen_string(g, key);
	yajl_gen_bool(g, value);
}

/* A heap copy of what was generated so far (NUL-terminated; *ret_len, if not NULL, excludes
 * the NUL). The generator's buffer is emptied. */
char *
br_json_gen_take(yajl_gen g, size_t *ret_len)
{
	const unsigned char *buf = NULL;
	size_t len = 0;

	yajl_gen_get_buf(g, &buf, &len);
	char *s = xmalloc(len + 1);
	if (len > 0)
		memcpy(s, buf, len);
	s[len] = '\0';
	yajl_gen_clear(g);
	if (ret_len != NULL)
		*ret_len = len;
	return s;
}

static void
gen_strn(yajl_gen g, const char *p, size_t n)
{
	_cleanup_free_ char *s = xstrndup(p, n);
	gen_string(g, s);
}

void
br_json_gen_msgpack(yajl_gen g, const msgpack_object *o)
{
	switch (o->type) {
	case MSGPACK_OBJECT_NIL:
		yajl_gen_null(g);
		break;
	case MSGPACK_OBJECT_BOOLEAN:
		yajl_gen_bool(g, o->via.boolean);
		break;
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		if (o->via.u64 > INT64_MAX) {
			char buf[32];
			int n = snprintf(buf, sizeof(buf), "%" PRIu64, o->via.u64);
			yajl_gen_number(g, buf, (size_t)n);
		} else {
			yajl_gen_integer(g, (long long)o->via.u64);
		}
		break;
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		yajl_gen_integer(g, (long long)o->via.i64);
		break;
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64:
		yajl_gen_double(g, o->via.f64);
		break;
	case MSGPACK_OBJECT_STR:
		gen_strn(g, o->via.str.ptr, o->via.str.size);
		break;
	case MSGPACK_OBJECT_BIN:
		gen_strn(g, o->via.bin.ptr, o->via.bin.size);
		break;
	case MSGPACK_OBJECT_ARRAY:
		yajl_gen_array_open(g);
		for (uint32_t i = 0; i < o->via.array.size; i++)
			br_json_gen_msgpack(g, &o->via.array.ptr[i]);
		yajl_gen_array_close(g);
		break;
	case MSGPACK_OBJECT_MAP:
		yajl_gen_map_open(g);
		for (uint32_t i = 0; i < o->via.map.size; i++) {
			const msgpack_object *k = &o->via.map.ptr[i].key;
			if (k->type == MSGPACK_OBJECT_STR) {
				gen_strn(g, k->via.str.ptr, k->via.str.size);
			} else {
				yajl_gen kg = br_json_gen_new();
				br_json_gen_msgpack(kg, k);
				_cleanup_free_ char *ks = br_json_gen_take(kg, NULL);
				yajl_gen_free(kg);
				gen_string(g, ks);
			}
			br_json_gen_msgpack(g, &o->via.map.ptr[i].val);
		}
		yajl_gen_map_close(g);
		break;
	default:
		yajl_gen_null(g);
		break;
	}
}

void
br_json_gen_value(yajl_gen g, yajl_val v)
{
	if (YAJL_IS_OBJECT(v)) {
		yajl_gen_map_open(g);
		for (size_t i = 0; i < v->u.object.len; i++) {
			br_json_gen_str(g, v->u.object.keys[i]);
			br_json_gen_value(g, v->u.object.values[i]);
		}
		yajl_gen_map_close(g);
	} else if (YAJL_IS_ARRAY(v)) {
		yajl_gen_array_open(g);
		for (size_t i = 0; i < v->u.array.len; i++)
			br_json_gen_value(g, v->u.array.values[i]);
		yajl_gen_array_close(g);
	} else if (YAJL_IS_STRING(v)) {
		br_json_gen_str(g, v->u.string);
	} else if (YAJL_IS_NUMBER(v)) {
		/* The number's own text: no precision is lost on the way through. */
		yajl_gen_number(g, v->u.number.r, strlen(v->u.number.r));
	} else if (YAJL_IS_TRUE(v) || YAJL_IS_FALSE(v)) {
		yajl_gen_bool(g, YAJL_IS_TRUE(v));
	} else {
		yajl_gen_null(g);
	}
}
