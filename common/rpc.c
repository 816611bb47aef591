/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The RPC envelope: encoding and validating requests ({"v","m","ns","p","lease",
 * "deadline_ms"}) and replies ({"v","r"} or {"v","e":{"code","msg"}}), shared by the server
 * (rpc_server.c), the clients (rpc_client.c) and the gateway, which forwards raw envelopes.
 * Everything here is pure and callable from any thread.
 */
#include "common/rpc.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define LEASE_MAX 255

static int bad_request(br_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int
bad_request(br_err *err, const char *fmt, ...)
{
	char msg[BR_ERR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return br_err_set(err, BR_INVALID_ARGUMENT, "bad request: %s", msg);
}

bool
br_ns_valid(const char *ns)
{
	size_t n = strlen(ns);

	if (n == 0 || n > BR_NS_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = ns[i];
		bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
		if (!alnum && (i == 0 || (c != '_' && c != '.' && c != '-')))
			return false;
	}
	return true;
}

/* "<service>.<verb>": segments of [A-Za-z0-9_] starting with a letter, joined by single
 * dots, at least two segments. */
static bool
method_valid(const char *m, size_t n)
{
	bool seg_start = true;
	int dots = 0;

	if (n == 0 || n > BR_METHOD_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = m[i];
		bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
		bool digit = c >= '0' && c <= '9';
		if (seg_start) {
			if (!letter)
				return false;
			seg_start = false;
		} else if (c == '.') {
			seg_start = true;
			dots++;
		} else if (!letter && !digit && c != '_') {
			return false;
		}
	}
	return !seg_start && dots > 0;
}

static bool
key_is(const msgpack_object *k, const char *name)
{
	return k->type == MSGPACK_OBJECT_STR && k->via.str.size == strlen(name) &&
	       memcmp(k->via.str.ptr, name, k->via.str.size) == 0;
}

/* A string field of the envelope: type, NUL bytes and length. */
static int
envelope_str(const msgpack_object *v, const char *name, size_t max, br_arena *arena,
             const char **ret, br_err *err)
{
	if (v->type != MSGPACK_OBJECT_STR)
		return bad_request(err, "\"%s\" must be a string", name);
	if (v->via.str.size > max)
		return bad_request(err, "\"%s\" is too long (%u bytes, at most %zu)", name,
		                   v->via.str.size, max);
	if (memchr(v->via.str.ptr, '\0', v->via.str.size) != NULL)
		return bad_request(err, "\"%s\" contains a NUL byte", name);
	*ret = br_arena_strndup(arena, v->via.str.ptr, v->via.str.size);
	return 0;
}

int
br_request_decode(const void *buf, size_t len, br_arena *arena, struct br_request *ret, br_err *err)
{
	struct br_request r = {.ns = "", .uid = -1, .params = {.type = MSGPACK_OBJECT_NIL}};
	msgpack_object obj;
	unsigned seen = 0;

	if (br_msg_unpack(buf, len, arena, &obj, err) < 0)
		return br_err_wrap(err, "bad request");
	if (obj.type != MSGPACK_OBJECT_MAP)
		return bad_request(err, "expected a map");
	for (uint32_t i = 0; i < obj.via.map.size; i++) {
		const msgpack_object *k = &obj.via.map.ptr[i].key;
		const msgpack_object *v = &obj.via.map.ptr[i].val;
		static const char *const keys[] = {"v",     "m",           "ns", "p",
		                                   "lease", "deadline_ms", "uid"};
		unsigned which = 0;
		for (; which < sizeof(keys) / sizeof(keys[0]); which++) {
			if (key_is(k, keys[which]))
				break;
		}
		if (which == sizeof(keys) / sizeof(keys[0]))
			continue; /* unknown keys belong to a newer peer */
		if (seen & (1u << which))
			return bad_request(err, "duplicate key \"%s\"", keys[which]);
		seen |= 1u << which;
		switch (which) {
		case 0:
			if (v->type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
			    v->via.u64 != BR_RPC_VERSION)
				return bad_request(
				        err, "unsupported protocol version (\"v\" must be %d)",
				        BR_RPC_VERSION);
			r.v = BR_RPC_VERSION;
			break;
		case 1:
			if (envelope_str(v, "m", BR_METHOD_MAX, arena, &r.method, err) < 0)
				return -1;
			if (!method_valid(r.method, strlen(r.method)))
				return bad_request(err, "invalid method name \"%s\"", r.method);
			break;
		case 2:
			if (v->type == MSGPACK_OBJECT_NIL)
				break;
			if (envelope_str(v, "ns", BR_NS_MAX, arena, &r.ns, err) < 0)
				return -1;
			if (r.ns[0] != '\0' && !br_ns_valid(r.ns))
				return bad_request(err,
				                   "invalid namespace \"%s\" (expected "
				                   "[a-z0-9][a-z0-9_.-]*, at most %d characters)",
				                   r.ns, BR_NS_MAX);
			break;
		case 3:
			r.params = *v;
			break;
		case 4:
			if (v->type == MSGPACK_OBJECT_NIL)
				break;
			if (envelope_str(v, "lease", LEASE_MAX, arena, &r.lease, err) < 0)
				return -1;
			if (!br_msg_is_id(r.lease, LEASE_MAX))
				return bad_request(err, "invalid lease \"%s\"", r.lease);
			break;
		case 5:
			if (v->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
				r.deadline_ms = v->via.u64 > BR_DEADLINE_MAX_MS
				                        ? BR_DEADLINE_MAX_MS
				                        : (int64_t)v->via.u64;
			} else if (v->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
				r.deadline_ms = -1; /* passed already, however long ago */
			} else if (v->type != MSGPACK_OBJECT_NIL) {
				return bad_request(err, "\"deadline_ms\" must be an integer");
			}
			break;
		case 6:
			if (v->type != MSGPACK_OBJECT_POSITIVE_INTEGER || v->via.u64 > UINT32_MAX)
				return bad_request(err, "\"uid\" must be an integer uid");
			r.uid = (int64_t)v->via.u64;
			break;
		}
	}
	if (!(seen & 1u))
		return bad_request(err, "\"v\" is missing");
	if (r.method == NULL)
		return bad_request(err, "\"m\" (the method) is missing");
	*ret = r;
	return 0;
}

static void
pack_request_head(msgpack_packer *pk, const char *method, const char *ns, const char *lease,
                  int64_t deadline_ms, int64_t uid)
{
	uint32_t n = 3 + (ns != NULL) + (lease != NULL) + (deadline_ms != 0) + (uid >= 0);

	msgpack_pack_map(pk, n);
	br_msg_pack_str(pk, "v");
	msgpack_pack_int(pk, BR_RPC_VERSION);
	br_msg_pack_str(pk, "m");
	br_msg_pack_str(pk, method);
	if (ns != NULL) {
		br_msg_pack_str(pk, "ns");
		br_msg_pack_str(pk, ns);
	}
	if (lease != NULL) {
		br_msg_pack_str(pk, "lease");
		br_msg_pack_str(pk, lease);
	}
	if (deadline_ms != 0) {
		br_msg_pack_str(pk, "deadline_ms");
		msgpack_pack_int64(pk, deadline_ms);
	}
	if (uid >= 0) {
		br_msg_pack_str(pk, "uid");
		msgpack_pack_uint32(pk, (uint32_t)uid);
	}
	br_msg_pack_str(pk, "p");
}

void
br_request_encode(msgpack_sbuffer *out, const char *method, const char *ns, const char *lease,
                  int64_t deadline_ms, const struct br_schema *schema, const void *params)
{
	msgpack_packer pk;

	msgpack_packer_init(&pk, out, msgpack_sbuffer_write);
	pack_request_head(&pk, method, ns, lease, deadline_ms, -1);
	br_msg_encode(&pk, schema, params);
}

void
br_request_encode_object(msgpack_sbuffer *out, const char *method, const char *ns,
                         const char *lease, int64_t deadline_ms, const msgpack_object *params)
{
	msgpack_packer pk;

	msgpack_packer_init(&pk, out, msgpack_sbuffer_write);
	pack_request_head(&pk, method, ns, lease, deadline_ms, -1);
	if (params == NULL)
		msgpack_pack_nil(&pk);
	else
		msgpack_pack_object(&pk, *params);
}

void
br_request_encode_raw(msgpack_sbuffer *out, const char *method, const char *ns, const char *lease,
                      int64_t deadline_ms, const void *params, size_t len)
{
	msgpack_packer pk;

	msgpack_packer_init(&pk, out, msgpack_sbuffer_write);
	pack_request_head(&pk, method, ns, lease, deadline_ms, -1);
	if (len == 0)
		msgpack_pack_nil(&pk);
	else
		msgpack_sbuffer_write(out, params, len);
}

void
br_request_encode_forward(msgpack_sbuffer *out, const struct br_request *req, const char *ns,
                          int64_t deadline_ms, uint32_t uid)
{
	msgpack_packer pk;

	msgpack_packer_init(&pk, out, msgpack_sbuffer_write);
	pack_request_head(&pk, req->method, ns, req->lease, deadline_ms, uid);
	msgpack_pack_object(&pk, req->params);
}

int
br_reply_decode(const void *buf, size_t len, br_arena *arena, msgpack_object *ret_result,
                br_err *err)
{
	msgpack_object obj, result = {.type = MSGPACK_OBJECT_NIL};
	const msgpack_object *e = NULL;
	bool have_v = false;

	if (br_msg_unpack(buf, len, arena, &obj, err) < 0)
		return br_err_wrap(err, "malformed reply");
	if (obj.type != MSGPACK_OBJECT_MAP)
		return br_err_set(err, BR_INVALID_ARGUMENT, "malformed reply: expected a map");
	for (uint32_t i = 0; i < obj.via.map.size; i++) {
		const msgpack_object *k = &obj.via.map.ptr[i].key;
		const msgpack_object *v = &obj.via.map.ptr[i].val;
		if (key_is(k, "v")) {
			if (v->type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
			    v->via.u64 != BR_RPC_VERSION)
				return br_err_set(err, BR_INVALID_ARGUMENT,
				                  "malformed reply: unsupported protocol version");
			have_v = true;
		} else if (key_is(k, "r")) {
			result = *v;
		} else if (key_is(k, "e") && v->type != MSGPACK_OBJECT_NIL) {
			e = v;
		}
	}
	if (!have_v)
		return br_err_set(err, BR_INVALID_ARGUMENT, "malformed reply: \"v\" is missing");
	if (e != NULL) {
		const msgpack_object *code = NULL, *msg = NULL;
		if (e->type != MSGPACK_OBJECT_MAP)
			return br_err_set(err, BR_INVALID_ARGUMENT,
			                  "malformed reply: \"e\" must be a map");
		for (uint32_t i = 0; i < e->via.map.size; i++) {
			const msgpack_object *k = &e->via.map.ptr[i].key;
			const msgpack_object *v = &e->via.map.ptr[i].val;
			if (key_is(k, "code") && v->type == MSGPACK_OBJECT_STR)
				code = v;
			else if (key_is(k, "msg") && v->type == MSGPACK_OBJECT_STR)
				msg = v;
		}
		if (code == NULL)
			return br_err_set(err, BR_INVALID_ARGUMENT,
			                  "malformed reply: error without a code");
		br_code c = br_code_from_name(code->via.str.ptr, code->via.str.size);
		if (c == BR_OK)
			c = BR_INTERNAL;
		if (msg == NULL)
			return br_err_set(err, c, "%s", br_code_name(c));
		size_t n = strnlen(msg->via.str.ptr, msg->via.str.size);
		return br_err_set(err, c, "%.*s", (int)(n < BR_ERR_MSG_MAX ? n : BR_ERR_MSG_MAX),
		                  msg->via.str.ptr);
	}
	*ret_result = result;
	return 0;
}

void
br_reply_pack_head(msgpack_packer *pk)
{
	msgpack_pack_map(pk, 2);
	br_msg_pack_str(pk, "v");
	msgpack_pack_int(pk, BR_RPC_VERSION);
	br_msg_pack_str(pk, "r");
}

void
br_reply_encode_result(msgpack_sbuffer *out, const struct br_schema *schema, const void *r)
{
	msgpack_packer pk;

	msgpack_packer_init(&pk, out, msgpack_sbuffer_write);
	br_reply_pack_head(&pk);
	br_msg_encode(&pk, schema, r);
}

void
br_reply_encode_error(msgpack_sbuffer *out, const br_err *err)
{
	msgpack_packer pk;
	br_code code = err->code == BR_OK ? BR_INTERNAL : err->code;

	msgpack_packer_init(&pk, out, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 2);
	br_msg_pack_str(&pk, "v");
	msgpack_pack_int(&pk, BR_RPC_VERSION);
	br_msg_pack_str(&pk, "e");
	msgpack_pack_map(&pk, 2);
	br_msg_pack_str(&pk, "code");
	br_msg_pack_str(&pk, br_code_name(code));
	br_msg_pack_str(&pk, "msg");
	br_msg_pack_strn(&pk, err->msg, strnlen(err->msg, sizeof(err->msg)));
}
