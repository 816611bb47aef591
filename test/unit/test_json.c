/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of common/json.c: what br_json_parse refuses (depth bombs, duplicate keys, NUL
 * characters, oversize, invalid UTF-8, comments), the getters and the paths they name in
 * errors, and the generator helpers' output.
 */
#include "common/cleanup.h"
#include "common/json.h"
#include "common/msg.h"
#include "common/xalloc.h"
#include "test/unit/t.h"

#define T_CONTAINS(s, sub)                                                                         \
	do {                                                                                       \
		const char *t_s_ = (s), *t_sub_ = (sub);                                           \
		if (t_s_ == NULL || strstr(t_s_, t_sub_) == NULL)                                  \
			T_FAIL_("\"%s\" does not contain \"%s\"", t_s_ ? t_s_ : "(null)", t_sub_); \
	} while (0)

static yajl_val
parse_ok(const char *s)
{
	yajl_val v = NULL;
	br_err err = BR_ERR_INIT;
	T_NOERR(br_json_parse(s, strlen(s), 1 << 20, "doc", &v, &err), err);
	T_NOT_NULL(v);
	return v;
}

static void
parse_bad_len(const char *s, size_t len, br_code code, const char *want)
{
	yajl_val v = NULL;
	br_err err = BR_ERR_INIT;
	T_ERR(br_json_parse(s, len, 1 << 20, "doc", &v, &err), err, code);
	T_NULL(v);
	T_CONTAINS(err.msg, "doc: ");
	T_CONTAINS(err.msg, want);
}

static void
parse_bad(const char *s, const char *want)
{
	parse_bad_len(s, strlen(s), BR_INVALID_ARGUMENT, want);
}

static void
test_parse_ok(void)
{
	yajl_val v = parse_ok("{\"a\": [1, 2, {\"b\": null}], \"c\": \"\\u00e9\"}");
	T_OK(YAJL_IS_OBJECT(v));
	yajl_tree_free(v);
	v = parse_ok("  3 ");
	T_OK(YAJL_IS_INTEGER(v));
	yajl_tree_free(v);
	/* Same key in different objects is fine. */
	v = parse_ok("{\"a\": {\"x\": 1}, \"b\": {\"x\": 2}, \"c\": [{\"x\": 1}, {\"x\": 2}]}");
	yajl_tree_free(v);
}

static char *
nested(char open, char close, int depth)
{
	char *s = xmalloc((size_t)depth * 2 + 1);
	memset(s, open, (size_t)depth);
	memset(s + depth, close, (size_t)depth);
	s[depth * 2] = '\0';
	return s;
}

static void
test_depth(void)
{
	_cleanup_free_ char *ok = nested('[', ']', BR_JSON_MAX_DEPTH);
	yajl_tree_free(parse_ok(ok));
	_cleanup_free_ char *over = nested('[', ']', BR_JSON_MAX_DEPTH + 1);
	parse_bad(over, "nested deeper than 64 levels");

	/* A bomb: a million levels, unterminated, and the same closed. */
	size_t n = 1000000;
	_cleanup_free_ char *bomb = xmalloc(n);
	memset(bomb, '[', n);
	parse_bad_len(bomb, n, BR_INVALID_ARGUMENT, "nested deeper than 64 levels");
	_cleanup_free_ char *closed = nested('[', ']', 500000);
	parse_bad(closed, "nested deeper");

	/* Objects count as levels too. */
	size_t depth = BR_JSON_MAX_DEPTH + 1;
	_cleanup_free_ char *objs = xmalloc(depth * 6 + depth + 1);
	size_t len = 0;
	for (size_t i = 0; i < depth; i++)
		len += (size_t)sprintf(objs + len, "{\"a\":");
	objs[len++] = '1';
	memset(objs + len, '}', depth);
	objs[len + depth] = '\0';
	parse_bad(objs, "nested deeper than 64 levels");
}

static void
test_duplicates(void)
{
	parse_bad("{\"a\": 1, \"a\": 2}", "duplicate key \"a\"");
	parse_bad("{\"a\": {\"b\": 1, \"c\": 2, \"b\": 3}}", "duplicate key \"a.b\"");
	parse_bad("{\"a\": [{}, {\"x\": 1, \"x\": 1}]}", "duplicate key \"a[1].x\"");
	/* A big object goes through the sorted check. */
	char big[4096];
	size_t len = (size_t)sprintf(big, "{");
	for (int i = 0; i < 100; i++)
		len += (size_t)sprintf(big + len, "\"k%d\": %d, ", i, i);
	sprintf(big + len, "\"k57\": 0}");
	parse_bad(big, "duplicate key \"k57\"");
	big[len - 2] = '}';
	big[len - 1] = '\0';
	yajl_tree_free(parse_ok(big));
}

static void
test_nul_and_utf8(void)
{
	parse_bad("{\"a\": \"x\\u0000y\"}", "string contains a NUL character");
	parse_bad("{\"a\\u0000b\": 1}", "string contains a NUL character");
	parse_bad_len("\"a\0b\"", 5, BR_INVALID_ARGUMENT, "invalid JSON");
	parse_bad("\"\xff\xfe\"", "invalid JSON");
	parse_bad("/* c */ {}", "invalid JSON");
	parse_bad("{} {}", "invalid JSON");
	parse_bad("{\"a\": 1,}", "invalid JSON");
	parse_bad_len("", 0, BR_INVALID_ARGUMENT, "empty document");
}

static void
test_size_limit(void)
{
	yajl_val v = NULL;
	br_err err = BR_ERR_INIT;
	T_ERR(br_json_parse("[1, 2, 3]", 9, 8, "doc", &v, &err), err, BR_RESOURCE_EXHAUSTED);
	T_CONTAINS(err.msg, "doc: 9 bytes, more than the limit of 8");
	T_NOERR(br_json_parse("[1, 2, 3]", 9, 9, "doc", &v, &err), err);
	yajl_tree_free(v);
}

static void
test_getters(void)
{
	yajl_val v = parse_ok("{\"s\": \"str\", \"i\": -42, \"b\": true, \"o\": {\"x\": 1},"
	                      " \"a\": [1], \"v\": [\"p\", \"q\"], \"n\": null, \"d\": 1.5,"
	                      " \"big\": 9223372036854775808, \"bad\": [\"p\", 1]}");
	br_err err = BR_ERR_INIT;
	const char *s = NULL;
	int64_t i = 0;
	bool b = false;
	yajl_val o = NULL, a = NULL;
	char **strv = NULL;

	T_NOERR(br_json_get_str(v, "root", "s", true, &s, &err), err);
	T_EQ_STR(s, "str");
	T_NOERR(br_json_get_int(v, "root", "i", true, &i, &err), err);
	T_EQ_INT(i, -42);
	T_NOERR(br_json_get_bool(v, "root", "b", true, &b, &err), err);
	T_OK(b);
	T_NOERR(br_json_get_obj(v, "root", "o", true, &o, &err), err);
	T_OK(YAJL_IS_OBJECT(o));
	T_NOERR(br_json_get_array(v, "root", "a", true, &a, &err), err);
	T_OK(YAJL_IS_ARRAY(a));
	T_NOERR(br_json_get_strv(v, "root", "v", true, 8, &strv, &err), err);
	T_EQ_STR(strv[0], "p");
	T_EQ_STR(strv[1], "q");
	T_NULL(strv[2]);
	br_strv_free(strv);

	/* Missing optional (and null) members leave the out-parameter alone. */
	s = "untouched";
	T_NOERR(br_json_get_str(v, "root", "missing", false, &s, &err), err);
	T_EQ_STR(s, "untouched");
	T_NOERR(br_json_get_str(v, "root", "n", false, &s, &err), err);
	T_EQ_STR(s, "untouched");
	strv = NULL;
	T_NOERR(br_json_get_strv(v, "root", "n", false, 8, &strv, &err), err);
	T_NULL(strv);

	/* Errors name the path. */
	T_ERR(br_json_get_str(v, "root", "missing", true, &s, &err), err, BR_INVALID_ARGUMENT);
	T_EQ_STR(err.msg, "root.missing: missing");
	T_ERR(br_json_get_str(v, "root", "n", true, &s, &err), err, BR_INVALID_ARGUMENT);
	T_EQ_STR(err.msg, "root.n: missing");
	T_ERR(br_json_get_str(v, "root", "i", true, &s, &err), err, BR_INVALID_ARGUMENT);
	T_EQ_STR(err.msg, "root.i: expected a string");
	T_ERR(br_json_get_int(v, "", "d", true, &i, &err), err, BR_INVALID_ARGUMENT);
	T_EQ_STR(err.msg, "d: expected an integer (64-bit)");
	T_ERR(br_json_get_int(v, NULL, "big", true, &i, &err), err, BR_INVALID_ARGUMENT);
	T_EQ_STR(err.msg, "big: expected an integer (64-bit)");
	T_ERR(br_json_get_bool(v, "root", "s", true, &b, &err), err, BR_INVALID_ARGUMENT);
	T_EQ_STR(err.msg, "root.s: expected a boolean");
	T_ERR(br_json_get_obj(v, "root", "a", true, &o, &err), err, BR_INVALID_ARGUMENT);
	T_EQ_STR(err.msg, "root.a: expected an object");
	T_ERR(br_json_get_array(v, "root", "o", true, &a, &err), err, BR_INVALID_ARGUMENT);
	T_EQ_STR(err.msg, "root.o: expected an array");
	T_ERR(br_json_get_strv(v, "root", "bad", true, 8, &strv, &err), err, BR_INVALID_ARGUMENT);
	T_EQ_STR(err.msg, "root.bad[1]: expected a string");
	T_ERR(br_json_get_strv(v, "root", "v", true, 1, &strv, &err), err, BR_RESOURCE_EXHAUSTED);
	T_EQ_STR(err.msg, "root.v: 2 elements, more than the limit of 1");
	T_ERR(br_json_get_str(o, "root.o", "x", true, &s, &err), err, BR_INVALID_ARGUMENT);
	T_EQ_STR(err.msg, "root.o.x: expected a string");
	/* A non-object is refused, not crashed on. */
	T_ERR(br_json_get_str(a, "root.a", "x", false, &s, &err), err, BR_INVALID_ARGUMENT);
	T_EQ_STR(err.msg, "root.a: expected an object");
	yajl_tree_free(v);
}

static void
test_generator(void)
{
	yajl_gen g = br_json_gen_new();
	yajl_gen_map_open(g);
	br_json_gen_kv_str(g, "name", "a \"quoted\"\n\x01 value");
	br_json_gen_kv_str(g, "skipped", NULL);
	br_json_gen_kv_int(g, "n", -9007199254740993LL);
	br_json_gen_kv_bool(g, "yes", true);
	br_json_gen_kv_str(g, "bad\xff", "caf\xc3\xa9 \xc3");
	br_json_gen_str(g, "list");
	yajl_gen_array_open(g);
	br_json_gen_str(g, NULL);
	br_json_gen_str(g, "");
	yajl_gen_array_close(g);
	yajl_gen_map_close(g);
	size_t len = 0;
	_cleanup_free_ char *out = br_json_gen_take(g, &len);
	yajl_gen_free(g);
	T_EQ_STR(out, "{\"name\":\"a \\\"quoted\\\"\\n\\u0001 value\",\"n\":-9007199254740993,"
	              "\"yes\":true,\"bad\xef\xbf\xbd\":\"caf\xc3\xa9 \xef\xbf\xbd\","
	              "\"list\":[null,\"\"]}");
	T_EQ_INT(len, strlen(out));

	/* What was generated parses back. */
	yajl_val v = parse_ok(out);
	const char *s = NULL;
	br_err err = BR_ERR_INIT;
	T_NOERR(br_json_get_str(v, "", "name", true, &s, &err), err);
	T_EQ_STR(s, "a \"quoted\"\n\x01 value");
	yajl_tree_free(v);

	/* take empties the buffer. */
	g = br_json_gen_new();
	br_json_gen_str(g, "x");
	_cleanup_free_ char *first = br_json_gen_take(g, NULL);
	_cleanup_free_ char *second = br_json_gen_take(g, &len);
	T_EQ_STR(first, "\"x\"");
	T_EQ_STR(second, "");
	T_EQ_INT(len, 0);
	yajl_gen_free(g);
}

static void
test_gen_msgpack(void)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_unpacked u;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 6);
	br_msg_pack_str(&pk, "s");
	br_msg_pack_str(&pk, "a\"b\n\xff");
	br_msg_pack_str(&pk, "n");
	msgpack_pack_int64(&pk, -3);
	br_msg_pack_str(&pk, "u");
	msgpack_pack_uint64(&pk, UINT64_MAX);
	br_msg_pack_str(&pk, "b");
	msgpack_pack_true(&pk);
	br_msg_pack_str(&pk, "l");
	msgpack_pack_array(&pk, 2);
	msgpack_pack_nil(&pk);
	msgpack_pack_map(&pk, 0);
	msgpack_pack_int(&pk, 7); /* a key that is not a string */
	msgpack_pack_int(&pk, 8);
	msgpack_unpacked_init(&u);
	T_EQ_INT(msgpack_unpack_next(&u, sb.data, sb.size, NULL), MSGPACK_UNPACK_SUCCESS);
	yajl_gen g = br_json_gen_new();
	br_json_gen_msgpack(g, &u.data);
	char *s = br_json_gen_take(g, NULL);
	T_EQ_STR(s, "{\"s\":\"a\\\"b\\n\xef\xbf\xbd\",\"n\":-3,\"u\":18446744073709551615,"
	            "\"b\":true,\"l\":[null,{}],\"7\":8}");
	free(s);
	yajl_gen_free(g);
	msgpack_unpacked_destroy(&u);
	msgpack_sbuffer_destroy(&sb);
}

T_MAIN(T_CASE(test_parse_ok), T_CASE(test_depth), T_CASE(test_duplicates),
       T_CASE(test_nul_and_utf8), T_CASE(test_size_limit), T_CASE(test_getters),
       T_CASE(test_generator), T_CASE(test_gen_msgpack))
