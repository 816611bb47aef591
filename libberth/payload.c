/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Reading event payloads without a msgpack library of one's own: JSON text of any msgpack
 * value, and the lookup of one top-level field. The bytes are checked against the protocol's
 * limits (br_msg_check: size, depth, item count, declared lengths) before anything is
 * unpacked, so a payload from anywhere is safe to pass. Pure functions; any thread.
 */
#include "libberth/internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/xalloc.h"

/* A growing NUL-terminated string. */
struct text {
	char *buf;
	size_t len, cap;
};

static void
put(struct text *t, const char *s, size_t n)
{
	if (t->len + n + 1 > t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 256;
		while (cap < t->len + n + 1)
			cap *= 2;
		t->buf = xrealloc(t->buf, cap);
		t->cap = cap;
	}
	memcpy(t->buf + t->len, s, n);
	t->len += n;
	t->buf[t->len] = '\0';
}

static void
puts_(struct text *t, const char *s)
{
	put(t, s, strlen(s));
}

/* Length of the valid UTF-8 sequence at s[0..n), or 0 if it is not one (overlongs,
 * surrogates and code points past U+10FFFF are not). */
static size_t
utf8_len(const unsigned char *s, size_t n)
{
	if (s[0] < 0x80)
		return 1;
	size_t len;
	uint32_t cp;
	if ((s[0] & 0xe0) == 0xc0) {
		len = 2;
		cp = s[0] & 0x1f;
	} else if ((s[0] & 0xf0) == 0xe0) {
		len = 3;
		cp = s[0] & 0x0f;
	} else if ((s[0] & 0xf8) == 0xf0) {
		len = 4;
		cp = s[0] & 0x07;
	} else {
		return 0;
	}
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	static const uint32_t min[5] = {0, 0, 0x80, 0x800, 0x10000};
	if (cp < min[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

/* A JSON string of s[0..n): quotes, escapes, U+FFFD for bytes that are not UTF-8. */
static void
put_string(struct text *t, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;

	put(t, "\"", 1);
	for (size_t i = 0; i < n;) {
		unsigned char ch = p[i];
		char esc[8];
		if (ch == '"' || ch == '\\') {
			esc[0] = '\\';
			esc[1] = (char)ch;
			put(t, esc, 2);
			i++;
		} else if (ch < 0x20) {
			switch (ch) {
			case '\n':
				puts_(t, "\\n");
				break;
			case '\r':
				puts_(t, "\\r");
				break;
			case '\t':
				puts_(t, "\\t");
				break;
			case '\b':
				puts_(t, "\\b");
				break;
			case '\f':
				puts_(t, "\\f");
				break;
			default:
				snprintf(esc, sizeof(esc), "\\u%04x", ch);
				puts_(t, esc);
			}
			i++;
		} else {
			size_t len = utf8_len(p + i, n - i);
			if (len == 0) {
				puts_(t, "\\ufffd");
				i++;
			} else {
				put(t, s + i, len);
				i += len;
			}
		}
	}
	put(t, "\"", 1);
}

static void
put_base64(struct text *t, const unsigned char *p, size_t n)
{
	static const char digits[] =
	        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

	put(t, "\"", 1);
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t)p[i + 1] << 8;
		if (i + 2 < n)
			v |= p[i + 2];
		char out[4] = {digits[(v >> 18) & 63], digits[(v >> 12) & 63],
		               i + 1 < n ? digits[(v >> 6) & 63] : '=',
		               i + 2 < n ? digits[v & 63] : '='};
		put(t, out, 4);
	}
	put(t, "\"", 1);
}

static void put_value(struct text *t, const msgpack_object *o);

static void
put_key(struct text *t, const msgpack_object *k)
{
	if (k->type == MSGPACK_OBJECT_STR) {
		put_string(t, k->via.str.ptr, k->via.str.size);
		return;
	}
	struct text inner = {0};
	put_value(&inner, k);
	put_string(t, inner.buf, inner.len);
	free(inner.buf);
}

static void
put_value(struct text *t, const msgpack_object *o)
{
	char num[64];

	switch (o->type) {
	case MSGPACK_OBJECT_NIL:
		puts_(t, "null");
		return;
	case MSGPACK_OBJECT_BOOLEAN:
		puts_(t, o->via.boolean ? "true" : "false");
		return;
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		snprintf(num, sizeof(num), "%llu", (unsigned long long)o->via.u64);
		puts_(t, num);
		return;
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		snprintf(num, sizeof(num), "%lld", (long long)o->via.i64);
		puts_(t, num);
		return;
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64:
		if (!isfinite(o->via.f64)) {
			puts_(t, "null");
			return;
		}
		snprintf(num, sizeof(num), "%.17g", o->via.f64);
		puts_(t, num);
		return;
	case MSGPACK_OBJECT_STR:
		put_string(t, o->via.str.ptr, o->via.str.size);
		return;
	case MSGPACK_OBJECT_BIN:
		put_base64(t, (const unsigned char *)o->via.bin.ptr, o->via.bin.size);
		return;
	case MSGPACK_OBJECT_ARRAY:
		put(t, "[", 1);
		for (uint32_t i = 0; i < o->via.array.size; i++) {
			if (i > 0)
				put(t, ",", 1);
			put_value(t, &o->via.array.ptr[i]);
		}
		put(t, "]", 1);
		return;
	case MSGPACK_OBJECT_MAP:
		put(t, "{", 1);
		for (uint32_t i = 0; i < o->via.map.size; i++) {
			if (i > 0)
				put(t, ",", 1);
			put_key(t, &o->via.map.ptr[i].key);
			put(t, ":", 1);
			put_value(t, &o->via.map.ptr[i].val);
		}
		put(t, "}", 1);
		return;
	default: /* extension types never pass br_msg_check */
		puts_(t, "null");
		return;
	}
}

int
berth_payload_json(const void *payload, size_t len, char **ret_json, berth_error *err)
{
	_cleanup_(br_arena_freep) br_arena *arena = br_arena_new();
	msgpack_object obj;
	br_err e = BR_ERR_INIT;

	if (ret_json == NULL)
		return libberth_error_set(err, BERTH_INVALID_ARGUMENT,
		                          "berth_payload_json: ret_json is NULL");
	if (payload == NULL || len == 0)
		return libberth_error_set(err, BERTH_INVALID_ARGUMENT, "payload: empty");
	if (br_msg_unpack(payload, len, arena, &obj, &e) < 0) {
		br_err_wrap(&e, "payload");
		libberth_error_from_br(err, &e);
		return -1;
	}
	struct text t = {0};
	put_value(&t, &obj);
	*ret_json = t.buf;
	return 0;
}

/* The value of top-level key `key` in the event's payload map, or NULL. */
static const msgpack_object *
lookup(const berth_event *ev, const char *key, br_arena *arena)
{
	msgpack_object obj;
	br_err ignored = BR_ERR_INIT;
	size_t klen = strlen(key);

	if (ev == NULL || ev->payload == NULL || ev->payload_len == 0 ||
	    br_msg_unpack(ev->payload, ev->payload_len, arena, &obj, &ignored) < 0 ||
	    obj.type != MSGPACK_OBJECT_MAP)
		return NULL;
	for (uint32_t i = 0; i < obj.via.map.size; i++) {
		const msgpack_object *k = &obj.via.map.ptr[i].key;
		if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == klen &&
		    memcmp(k->via.str.ptr, key, klen) == 0)
			return &obj.via.map.ptr[i].val;
	}
	return NULL;
}

int
berth_event_string(const berth_event *ev, const char *key, char *buf, size_t cap)
{
	_cleanup_(br_arena_freep) br_arena *arena = br_arena_new();
	const msgpack_object *v = lookup(ev, key, arena);

	if (v == NULL || v->type != MSGPACK_OBJECT_STR)
		return 0;
	if (cap > 0) {
		size_t n = v->via.str.size < cap - 1 ? v->via.str.size : cap - 1;
		memcpy(buf, v->via.str.ptr, n);
		buf[n] = '\0';
	}
	return 1;
}

int
berth_event_int(const berth_event *ev, const char *key, int64_t *ret)
{
	_cleanup_(br_arena_freep) br_arena *arena = br_arena_new();
	const msgpack_object *v = lookup(ev, key, arena);

	if (v == NULL)
		return 0;
	if (v->type == MSGPACK_OBJECT_POSITIVE_INTEGER && v->via.u64 <= INT64_MAX) {
		*ret = (int64_t)v->via.u64;
		return 1;
	}
	if (v->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
		*ret = v->via.i64;
		return 1;
	}
	return 0;
}
