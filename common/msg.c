/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The schema codec of every wire message: an arena for decoded data, a bounded pre-scan of
 * untrusted msgpack bytes (br_msg_check) that runs before msgpack-c allocates anything, and
 * the table-driven decoder and encoder that turn a msgpack map into a C struct and back,
 * checking every type, limit and flag and naming the offending field by its full path
 * ("p.items[3].digest: not a sha256 digest").
 */
#include "common/msg.h"

#include <stdalign.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"

/* ------------------------------------------------------------------ arena */

#define ARENA_ALIGN (alignof(max_align_t))
#define ARENA_FIRST_BLOCK 1024
#define ARENA_MAX_BLOCK (64 * 1024)

struct arena_block {
	struct arena_block *next;
	size_t size;
	size_t used;
	alignas(max_align_t) unsigned char data[];
};

struct arena_finalizer {
	struct arena_finalizer *next;
	void (*fn)(void *arg);
	void *arg;
};

struct br_arena {
	struct arena_block *blocks; /* the head is the block being filled */
	struct arena_finalizer *finalizers;
	size_t next_size;
};

br_arena *
br_arena_new(void)
{
	br_arena *a = xnew(br_arena);
	a->next_size = ARENA_FIRST_BLOCK;
	return a;
}

void
br_arena_free(br_arena *a)
{
	if (a == NULL)
		return;
	while (a->finalizers != NULL) {
		struct arena_finalizer *f = a->finalizers;
		a->finalizers = f->next;
		f->fn(f->arg);
		free(f);
	}
	while (a->blocks != NULL) {
		struct arena_block *b = a->blocks;
		a->blocks = b->next;
		free(b);
	}
	free(a);
}

void *
br_arena_alloc(br_arena *a, size_t size)
{
	size_t need = (size + ARENA_ALIGN - 1) & ~(ARENA_ALIGN - 1);
	struct arena_block *b = a->blocks;

	if (need < size)
		abort(); /* overflow: sizes reaching here are bounded by the caller */
	if (b != NULL && b->size - b->used >= need) {
		void *p = b->data + b->used;
		b->used += need;
		memset(p, 0, size);
		return p;
	}
	if (need > ARENA_MAX_BLOCK / 4) {
		/* A large allocation gets its own block, kept behind the head so that the
		 * head's free space stays usable. */
		struct arena_block *big = xmalloc(sizeof(*big) + need);
		big->size = need;
		big->used = need;
		if (b != NULL) {
			big->next = b->next;
			b->next = big;
		} else {
			big->next = NULL;
			a->blocks = big;
		}
		memset(big->data, 0, size);
		return big->data;
	}
	size_t bsize = a->next_size;
	if (a->next_size < ARENA_MAX_BLOCK)
		a->next_size *= 2;
	while (bsize < need)
		bsize *= 2;
	struct arena_block *nb = xmalloc(sizeof(*nb) + bsize);
	nb->size = bsize;
	nb->used = need;
	nb->next = b;
	a->blocks = nb;
	memset(nb->data, 0, size);
	return nb->data;
}

char *
br_arena_strndup(br_arena *a, const char *s, size_t n)
{
	size_t len = strnlen(s, n);
	char *p = br_arena_alloc(a, len + 1);
	memcpy(p, s, len);
	return p;
}

char *
br_arena_strdup(br_arena *a, const char *s)
{
	return br_arena_strndup(a, s, strlen(s));
}

char *
br_arena_printf(br_arena *a, const char *fmt, ...)
{
	va_list ap;
	char small[256];
	int n;

	va_start(ap, fmt);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0)
		return br_arena_strdup(a, "");
	char *p = br_arena_alloc(a, (size_t)n + 1);
	if ((size_t)n < sizeof(small)) {
		memcpy(p, small, (size_t)n + 1);
		return p;
	}
	va_start(ap, fmt);
	vsnprintf(p, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return p;
}

/* Run fn(arg) when the arena is freed (before its memory goes). */
static void
arena_add_finalizer(br_arena *a, void (*fn)(void *), void *arg)
{
	struct arena_finalizer *f = xnew(struct arena_finalizer);
	f->fn = fn;
	f->arg = arg;
	f->next = a->finalizers;
	a->finalizers = f;
}

/* ------------------------------------------------------------------ bounded pre-scan */

static uint64_t
read_be(const uint8_t *p, size_t n)
{
	uint64_t v = 0;
	for (size_t i = 0; i < n; i++)
		v = (v << 8) | p[i];
	return v;
}

int
br_msg_check(const void *buf, size_t len, br_err *err)
{
	const uint8_t *p = buf;
	uint64_t remaining[BR_MSG_MAX_DEPTH + 1]; /* objects still expected per open level */
	size_t pos = 0, items = 0;
	int depth = 0;

	if (len == 0)
		return br_err_set(err, BR_INVALID_ARGUMENT, "malformed message: empty");
	if (len > BR_MSG_MAX_SIZE)
		return br_err_set(err, BR_INVALID_ARGUMENT,
		                  "message too large: %zu bytes (limit %u)", len, BR_MSG_MAX_SIZE);
	remaining[0] = 1;
	for (;;) {
		while (depth > 0 && remaining[depth] == 0)
			depth--;
		if (remaining[depth] == 0)
			break;
		remaining[depth]--;
		if (pos >= len)
			return br_err_set(err, BR_INVALID_ARGUMENT,
			                  "malformed message: truncated at byte %zu", pos);
		if (++items > BR_MSG_MAX_ITEMS)
			return br_err_set(err, BR_INVALID_ARGUMENT,
			                  "message has more than %d items", BR_MSG_MAX_ITEMS);

		size_t at = pos;
		uint8_t b = p[pos++];
		size_t lenbytes = 0; /* size of the length field that follows */
		size_t fixed = 0;    /* payload of fixed size */
		int kind = 0;        /* 0 scalar, 1 str/bin, 2 array, 3 map */
		uint64_t n = 0;

		if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3) {
			/* fixint, nil, bool */
		} else if (b >= 0x80 && b <= 0x8f) {
			kind = 3;
			n = b & 0x0f;
		} else if (b >= 0x90 && b <= 0x9f) {
			kind = 2;
			n = b & 0x0f;
		} else if (b >= 0xa0 && b <= 0xbf) {
			kind = 1;
			n = b & 0x1f;
		} else {
			switch (b) {
			case 0xc4: /* bin 8/16/32 */
			case 0xd9: /* str 8 */
				kind = 1, lenbytes = 1;
				break;
			case 0xc5:
			case 0xda:
				kind = 1, lenbytes = 2;
				break;
			case 0xc6:
			case 0xdb:
				kind = 1, lenbytes = 4;
				break;
			case 0xca:
				fixed = 4;
				break;
			case 0xcb:
				fixed = 8;
				break;
			case 0xcc:
			case 0xd0:
				fixed = 1;
				break;
			case 0xcd:
			case 0xd1:
				fixed = 2;
				break;
			case 0xce:
			case 0xd2:
				fixed = 4;
				break;
			case 0xcf:
			case 0xd3:
				fixed = 8;
				break;
			case 0xdc:
				kind = 2, lenbytes = 2;
				break;
			case 0xdd:
				kind = 2, lenbytes = 4;
				break;
			case 0xde:
				kind = 3, lenbytes = 2;
				break;
			case 0xdf:
				kind = 3, lenbytes = 4;
				break;
			case 0xc1:
				return br_err_set(
				        err, BR_INVALID_ARGUMENT,
				        "malformed message: invalid byte 0xc1 at byte %zu", at);
			default: /* 0xc7-0xc9, 0xd4-0xd8 */
				return br_err_set(err, BR_INVALID_ARGUMENT,
				                  "malformed message: extension type at byte %zu "
				                  "is not supported",
				                  at);
			}
		}
		if (lenbytes > 0) {
			if (len - pos < lenbytes)
				return br_err_set(err, BR_INVALID_ARGUMENT,
				                  "malformed message: truncated at byte %zu", pos);
			n = read_be(p + pos, lenbytes);
			pos += lenbytes;
		}
		if (fixed > 0) {
			if (len - pos < fixed)
				return br_err_set(err, BR_INVALID_ARGUMENT,
				                  "malformed message: truncated at byte %zu", pos);
			pos += fixed;
		}
		if (kind == 1) {
			if (n > len - pos)
				return br_err_set(err, BR_INVALID_ARGUMENT,
				                  "malformed message: string of %llu bytes at byte "
				                  "%zu exceeds the %zu bytes that remain",
				                  (unsigned long long)n, at, len - pos);
			pos += n;
		} else if (kind >= 2) {
			uint64_t children = kind == 3 ? 2 * n : n;
			if (children > len - pos)
				return br_err_set(
				        err, BR_INVALID_ARGUMENT,
				        "malformed message: %s of %llu entries at byte %zu "
				        "exceeds the %zu bytes that remain",
				        kind == 3 ? "map" : "array", (unsigned long long)n, at,
				        len - pos);
			if (depth + 1 > BR_MSG_MAX_DEPTH)
				return br_err_set(err, BR_INVALID_ARGUMENT,
				                  "message nested deeper than %d levels",
				                  BR_MSG_MAX_DEPTH);
			remaining[++depth] = children;
		}
	}
	if (pos != len)
		return br_err_set(err, BR_INVALID_ARGUMENT,
		                  "malformed message: %zu trailing bytes after the object",
		                  len - pos);
	return 0;
}

static void
zone_free(void *zone)
{
	msgpack_zone_free(zone);
}

int
br_msg_unpack(const void *buf, size_t len, br_arena *arena, msgpack_object *ret_obj, br_err *err)
{
	msgpack_object obj;
	size_t off = 0;

	if (br_msg_check(buf, len, err) < 0)
		return -1;
	msgpack_zone *zone = msgpack_zone_new(MSGPACK_ZONE_CHUNK_SIZE);
	if (zone == NULL)
		abort();
	arena_add_finalizer(arena, zone_free, zone);
	msgpack_unpack_return rc = msgpack_unpack(buf, len, &off, zone, &obj);
	if (rc != MSGPACK_UNPACK_SUCCESS || off != len)
		return br_err_set(err, BR_INVALID_ARGUMENT, "malformed message (msgpack error %d)",
		                  (int)rc);
	*ret_obj = obj;
	return 0;
}

/* ------------------------------------------------------------------ decoding */

#define PATH_MAX_LEN 512

struct decoder {
	br_arena *arena;
	br_err *err;
	char path[PATH_MAX_LEN];
	size_t pathlen;
};

/* Append to the current path; returns the previous length for path_pop(). */
static size_t path_push(struct decoder *d, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));

static size_t
path_push(struct decoder *d, const char *fmt, ...)
{
	size_t old = d->pathlen;
	va_list ap;

	if (d->pathlen < sizeof(d->path) - 1) {
		va_start(ap, fmt);
		int n = vsnprintf(d->path + d->pathlen, sizeof(d->path) - d->pathlen, fmt, ap);
		va_end(ap);
		if (n > 0)
			d->pathlen += (size_t)n;
		if (d->pathlen >= sizeof(d->path))
			d->pathlen = sizeof(d->path) - 1;
	}
	return old;
}

static void
path_pop(struct decoder *d, size_t old)
{
	d->pathlen = old;
	d->path[old] = '\0';
}

/* Push a field name: ".name", or "name" at the root. */
static size_t
path_push_field(struct decoder *d, const char *name)
{
	return path_push(d, d->pathlen > 0 ? ".%s" : "%s", name);
}

static int fail(struct decoder *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int
fail(struct decoder *d, const char *fmt, ...)
{
	char msg[BR_ERR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (d->pathlen > 0)
		return br_err_set(d->err, BR_INVALID_ARGUMENT, "%s: %s", d->path, msg);
	return br_err_set(d->err, BR_INVALID_ARGUMENT, "%s", msg);
}

static const char *
type_name(msgpack_object_type t)
{
	switch (t) {
	case MSGPACK_OBJECT_NIL:
		return "nil";
	case MSGPACK_OBJECT_BOOLEAN:
		return "a boolean";
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		return "an integer";
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64:
		return "a float";
	case MSGPACK_OBJECT_STR:
		return "a string";
	case MSGPACK_OBJECT_BIN:
		return "binary data";
	case MSGPACK_OBJECT_ARRAY:
		return "an array";
	case MSGPACK_OBJECT_MAP:
		return "a map";
	default:
		return "an extension";
	}
}

static int
expect(struct decoder *d, const msgpack_object *v, msgpack_object_type t, const char *what)
{
	if (v->type != t)
		return fail(d, "expected %s, got %s", what, type_name(v->type));
	return 0;
}

/* Validate and copy one string value; `max` is its byte limit. */
static int
decode_string(struct decoder *d, const msgpack_object *v, uint32_t max, uint32_t flags,
              const char **ret)
{
	if (expect(d, v, MSGPACK_OBJECT_STR, "a string") < 0)
		return -1;
	const char *s = v->via.str.ptr;
	uint32_t n = v->via.str.size;
	if (n > max)
		return fail(d, "too long (%u bytes, at most %u)", n, max);
	if (n > 0 && memchr(s, '\0', n) != NULL)
		return fail(d, "contains a NUL byte");
	if ((flags & BR_F_NONEMPTY) && n == 0)
		return fail(d, "must not be empty");
	char *copy = br_arena_alloc(d->arena, (size_t)n + 1);
	if (n > 0)
		memcpy(copy, s, n);
	if ((flags & BR_F_DIGEST) && !br_msg_is_digest(copy))
		return fail(d, "not a sha256 digest: \"%.80s\"", copy);
	if ((flags & BR_F_ID) && !br_msg_is_id(copy, max))
		return fail(d, "not a valid name: \"%.80s\" (expected [A-Za-z0-9][A-Za-z0-9_.-]*)",
		            copy);
	*ret = copy;
	return 0;
}

/* Range-check an integer object into [min, max]. */
static int
decode_int(struct decoder *d, const msgpack_object *v, int64_t min, uint64_t max, int64_t *ret_s,
           uint64_t *ret_u)
{
	if (v->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
		if (v->via.u64 > max)
			return fail(d, "out of range (%llu, at most %llu)",
			            (unsigned long long)v->via.u64, (unsigned long long)max);
		*ret_u = v->via.u64;
		*ret_s = (int64_t)v->via.u64;
		return 0;
	}
	if (v->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
		if (min >= 0)
			return fail(d, "must not be negative (%lld)", (long long)v->via.i64);
		if (v->via.i64 < min)
			return fail(d, "out of range (%lld, at least %lld)", (long long)v->via.i64,
			            (long long)min);
		*ret_s = v->via.i64;
		*ret_u = (uint64_t)v->via.i64;
		return 0;
	}
	return fail(d, "expected an integer, got %s", type_name(v->type));
}

static int decode_struct(struct decoder *d, const struct br_schema *schema,
                         const msgpack_object *obj, void *dst);

static int
decode_strlist(struct decoder *d, const struct br_field *f, const msgpack_object *v,
               struct br_strlist *out)
{
	uint32_t max = f->max ? f->max : BR_LIST_DEFAULT_MAX;

	if (expect(d, v, MSGPACK_OBJECT_ARRAY, "an array of strings") < 0)
		return -1;
	uint32_t n = v->via.array.size;
	if (n > max)
		return fail(d, "too many items (%u, at most %u)", n, max);
	const char **items = br_arena_alloc(d->arena, (n ? n : 1) * sizeof(*items));
	for (uint32_t i = 0; i < n; i++) {
		size_t old = path_push(d, "[%u]", i);
		if (decode_string(d, &v->via.array.ptr[i], BR_STR_DEFAULT_MAX, f->flags,
		                  &items[i]) < 0)
			return -1;
		path_pop(d, old);
	}
	out->v = items;
	out->n = n;
	return 0;
}

static int
decode_strmap(struct decoder *d, const struct br_field *f, const msgpack_object *v,
              struct br_strmap *out)
{
	uint32_t max = f->max ? f->max : BR_LIST_DEFAULT_MAX;

	if (expect(d, v, MSGPACK_OBJECT_MAP, "a map of strings") < 0)
		return -1;
	uint32_t n = v->via.map.size;
	if (n > max)
		return fail(d, "too many entries (%u, at most %u)", n, max);
	const char **keys = br_arena_alloc(d->arena, (n ? n : 1) * sizeof(*keys));
	const char **values = br_arena_alloc(d->arena, (n ? n : 1) * sizeof(*values));
	for (uint32_t i = 0; i < n; i++) {
		const msgpack_object *k = &v->via.map.ptr[i].key;
		const msgpack_object *val = &v->via.map.ptr[i].val;
		if (k->type != MSGPACK_OBJECT_STR)
			return fail(d, "key %u: expected a string, got %s", i, type_name(k->type));
		size_t old = path_push(d, "[\"%.*s\"]",
		                       (int)(k->via.str.size > 64 ? 64 : k->via.str.size),
		                       k->via.str.ptr);
		if (k->via.str.size == 0)
			return fail(d, "empty key");
		if (decode_string(d, k, BR_LABEL_MAX, f->flags & BR_F_ID, &keys[i]) < 0)
			return -1;
		if (decode_string(d, val, BR_LABEL_MAX, 0, &values[i]) < 0)
			return -1;
		size_t total = strlen(keys[i]) + strlen(values[i]);
		if (total > BR_LABEL_MAX)
			return fail(d, "key and value too long (%zu bytes, at most %d)", total,
			            BR_LABEL_MAX);
		for (uint32_t j = 0; j < i; j++) {
			if (strcmp(keys[j], keys[i]) == 0)
				return fail(d, "duplicate key");
		}
		path_pop(d, old);
	}
	out->keys = keys;
	out->values = values;
	out->n = n;
	return 0;
}

static int
decode_objlist(struct decoder *d, const struct br_field *f, const msgpack_object *v,
               struct br_objlist *out)
{
	uint32_t max = f->max ? f->max : BR_LIST_DEFAULT_MAX;

	if (expect(d, v, MSGPACK_OBJECT_ARRAY, "an array of maps") < 0)
		return -1;
	uint32_t n = v->via.array.size;
	if (n > max)
		return fail(d, "too many items (%u, at most %u)", n, max);
	char *items = br_arena_alloc(d->arena, (n ? n : 1) * f->sub->size);
	for (uint32_t i = 0; i < n; i++) {
		size_t old = path_push(d, "[%u]", i);
		const msgpack_object *e = &v->via.array.ptr[i];
		if (expect(d, e, MSGPACK_OBJECT_MAP, "a map") < 0)
			return -1;
		if (decode_struct(d, f->sub, e, items + (size_t)i * f->sub->size) < 0)
			return -1;
		path_pop(d, old);
	}
	out->v = items;
	out->n = n;
	return 0;
}

/* A map kept packed, as it came (its limits were checked with the whole message). */
static int
decode_raw(struct decoder *d, const struct br_field *f, const msgpack_object *v, void *dst)
{
	uint32_t max = f->max ? f->max : BR_CHUNK_MAX;
	struct br_bytes *b = dst;
	msgpack_sbuffer sb;
	msgpack_packer pk;

	if (expect(d, v, MSGPACK_OBJECT_MAP, "a map") < 0)
		return -1;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_object(&pk, *v);
	if (sb.size > max) {
		size_t n = sb.size;
		msgpack_sbuffer_destroy(&sb);
		return fail(d, "too long (%zu bytes packed, at most %u)", n, max);
	}
	uint8_t *copy = br_arena_alloc(d->arena, sb.size);
	memcpy(copy, sb.data, sb.size);
	b->data = copy;
	b->len = sb.size;
	msgpack_sbuffer_destroy(&sb);
	return 0;
}

static int
decode_field(struct decoder *d, const struct br_field *f, const msgpack_object *v, void *dst)
{
	int64_t s;
	uint64_t u;

	switch (f->type) {
	case BR_F_STR:
		return decode_string(d, v, f->max ? f->max : BR_STR_DEFAULT_MAX, f->flags, dst);
	case BR_F_BIN: {
		uint32_t max = f->max ? f->max : BR_CHUNK_MAX;
		if (v->type != MSGPACK_OBJECT_BIN && v->type != MSGPACK_OBJECT_STR)
			return fail(d, "expected binary data, got %s", type_name(v->type));
		uint32_t n = v->via.bin.size;
		if (n > max)
			return fail(d, "too long (%u bytes, at most %u)", n, max);
		struct br_bytes *b = dst;
		b->len = n;
		b->data = NULL;
		if (n > 0) {
			uint8_t *copy = br_arena_alloc(d->arena, n);
			memcpy(copy, v->via.bin.ptr, n);
			b->data = copy;
		}
		return 0;
	}
	case BR_F_I64:
		if (decode_int(d, v, INT64_MIN, INT64_MAX, &s, &u) < 0)
			return -1;
		*(int64_t *)dst = s;
		return 0;
	case BR_F_U64:
		if (decode_int(d, v, 0, UINT64_MAX, &s, &u) < 0)
			return -1;
		*(uint64_t *)dst = u;
		return 0;
	case BR_F_U32:
		if (decode_int(d, v, 0, UINT32_MAX, &s, &u) < 0)
			return -1;
		*(uint32_t *)dst = (uint32_t)u;
		return 0;
	case BR_F_BOOL:
		if (expect(d, v, MSGPACK_OBJECT_BOOLEAN, "a boolean") < 0)
			return -1;
		*(bool *)dst = v->via.boolean;
		return 0;
	case BR_F_STRLIST:
		return decode_strlist(d, f, v, dst);
	case BR_F_STRMAP:
		return decode_strmap(d, f, v, dst);
	case BR_F_OBJ:
		if (expect(d, v, MSGPACK_OBJECT_MAP, "a map") < 0)
			return -1;
		return decode_struct(d, f->sub, v, dst);
	case BR_F_OBJLIST:
		return decode_objlist(d, f, v, dst);
	case BR_F_RAW:
		return decode_raw(d, f, v, dst);
	}
	return fail(d, "unknown field type %d in schema", (int)f->type);
}

static int
decode_struct(struct decoder *d, const struct br_schema *schema, const msgpack_object *obj,
              void *dst)
{
	uint8_t seen_small[64];
	uint8_t *seen = seen_small;

	memset(dst, 0, schema->size);
	if (schema->nfields > sizeof(seen_small))
		seen = br_arena_alloc(d->arena, schema->nfields);
	else
		memset(seen_small, 0, sizeof(seen_small));

	if (obj->type != MSGPACK_OBJECT_NIL) {
		if (expect(d, obj, MSGPACK_OBJECT_MAP, "a map") < 0)
			return -1;
		for (uint32_t i = 0; i < obj->via.map.size; i++) {
			const msgpack_object *k = &obj->via.map.ptr[i].key;
			const msgpack_object *v = &obj->via.map.ptr[i].val;
			if (k->type != MSGPACK_OBJECT_STR)
				return fail(d, "map key %u: expected a string, got %s", i,
				            type_name(k->type));
			const struct br_field *f = NULL;
			size_t fi = 0;
			for (; fi < schema->nfields; fi++) {
				const char *name = schema->fields[fi].name;
				if (strlen(name) == k->via.str.size &&
				    memcmp(name, k->via.str.ptr, k->via.str.size) == 0) {
					f = &schema->fields[fi];
					break;
				}
			}
			if (f == NULL)
				continue; /* unknown keys are a newer peer's fields */
			size_t old = path_push_field(d, f->name);
			if (seen[fi])
				return fail(d, "duplicate key");
			seen[fi] = 1;
			if (v->type != MSGPACK_OBJECT_NIL) {
				seen[fi] = 2;
				if (decode_field(d, f, v, (char *)dst + f->offset) < 0)
					return -1;
			}
			path_pop(d, old);
		}
	}
	for (size_t fi = 0; fi < schema->nfields; fi++) {
		if ((schema->fields[fi].flags & BR_F_REQUIRED) && seen[fi] != 2) {
			path_push_field(d, schema->fields[fi].name);
			return fail(d, "required field is missing");
		}
	}
	return 0;
}

int
br_msg_decode(const msgpack_object *obj, const struct br_schema *schema, const char *path,
              br_arena *arena, void *ret, br_err *err)
{
	struct decoder d = {.arena = arena, .err = err};
	msgpack_object nil = {.type = MSGPACK_OBJECT_NIL};

	path_push(&d, "%s", path ? path : "");
	return decode_struct(&d, schema, obj ? obj : &nil, ret);
}

/* ------------------------------------------------------------------ encoding */

static bool
all_zero(const void *p, size_t n)
{
	const unsigned char *c = p;
	for (size_t i = 0; i < n; i++) {
		if (c[i] != 0)
			return false;
	}
	return true;
}

/* Whether a field is written: absent values (NULL strings, empty lists, maps and byte
 * strings, all-zero embedded structs that are not required) are omitted; so is "" in a
 * digest or name field, which could never be valid there. */
static bool
field_present(const struct br_field *f, const void *src)
{
	switch (f->type) {
	case BR_F_STR: {
		const char *s = *(const char *const *)src;
		if (s == NULL)
			return false;
		return !(s[0] == '\0' && (f->flags & (BR_F_DIGEST | BR_F_ID)));
	}
	case BR_F_BIN:
	case BR_F_RAW:
		return ((const struct br_bytes *)src)->len > 0;
	case BR_F_STRLIST:
		return ((const struct br_strlist *)src)->n > 0;
	case BR_F_STRMAP:
		return ((const struct br_strmap *)src)->n > 0;
	case BR_F_OBJ:
		return (f->flags & BR_F_REQUIRED) || !all_zero(src, f->sub->size);
	case BR_F_OBJLIST:
		return ((const struct br_objlist *)src)->n > 0;
	default:
		return true;
	}
}

static void
encode_field(msgpack_packer *pk, const struct br_field *f, const void *src)
{
	switch (f->type) {
	case BR_F_STR:
		br_msg_pack_str(pk, *(const char *const *)src);
		break;
	case BR_F_BIN: {
		const struct br_bytes *b = src;
		msgpack_pack_bin(pk, b->len);
		msgpack_pack_bin_body(pk, b->data, b->len);
		break;
	}
	case BR_F_I64:
		msgpack_pack_int64(pk, *(const int64_t *)src);
		break;
	case BR_F_U64:
		msgpack_pack_uint64(pk, *(const uint64_t *)src);
		break;
	case BR_F_U32:
		msgpack_pack_uint32(pk, *(const uint32_t *)src);
		break;
	case BR_F_BOOL:
		if (*(const bool *)src)
			msgpack_pack_true(pk);
		else
			msgpack_pack_false(pk);
		break;
	case BR_F_STRLIST: {
		const struct br_strlist *l = src;
		msgpack_pack_array(pk, l->n);
		for (size_t i = 0; i < l->n; i++)
			br_msg_pack_str(pk, l->v[i]);
		break;
	}
	case BR_F_STRMAP: {
		const struct br_strmap *m = src;
		msgpack_pack_map(pk, m->n);
		for (size_t i = 0; i < m->n; i++) {
			br_msg_pack_str(pk, m->keys[i]);
			br_msg_pack_str(pk, m->values[i]);
		}
		break;
	}
	case BR_F_OBJ:
		br_msg_encode(pk, f->sub, src);
		break;
	case BR_F_OBJLIST: {
		const struct br_objlist *l = src;
		msgpack_pack_array(pk, l->n);
		for (size_t i = 0; i < l->n; i++)
			br_msg_encode(pk, f->sub, (const char *)l->v + i * f->sub->size);
		break;
	}
	case BR_F_RAW: {
		const struct br_bytes *b = src;
		pk->callback(pk->data, (const char *)b->data, b->len);
		break;
	}
	}
}

void
br_msg_encode(msgpack_packer *pk, const struct br_schema *schema, const void *st)
{
	uint32_t n = 0;

	if (schema == NULL || st == NULL) {
		msgpack_pack_map(pk, 0);
		return;
	}
	for (size_t i = 0; i < schema->nfields; i++) {
		const struct br_field *f = &schema->fields[i];
		if (field_present(f, (const char *)st + f->offset))
			n++;
	}
	msgpack_pack_map(pk, n);
	for (size_t i = 0; i < schema->nfields; i++) {
		const struct br_field *f = &schema->fields[i];
		const void *src = (const char *)st + f->offset;
		if (!field_present(f, src))
			continue;
		br_msg_pack_str(pk, f->name);
		encode_field(pk, f, src);
	}
}

void
br_msg_pack_strn(msgpack_packer *pk, const char *s, size_t n)
{
	msgpack_pack_str(pk, n);
	msgpack_pack_str_body(pk, s, n);
}

void
br_msg_pack_str(msgpack_packer *pk, const char *s)
{
	if (s == NULL) {
		msgpack_pack_nil(pk);
		return;
	}
	br_msg_pack_strn(pk, s, strlen(s));
}

/* ------------------------------------------------------------------ predicates */

bool
br_msg_is_digest(const char *s)
{
	if (s == NULL || strncmp(s, "sha256:", 7) != 0)
		return false;
	s += 7;
	for (int i = 0; i < 64; i++) {
		char c = s[i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return false;
	}
	return s[64] == '\0';
}

static bool
is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

bool
br_msg_is_id(const char *s, size_t max)
{
	if (max == 0)
		max = BR_STR_DEFAULT_MAX;
	if (s == NULL || !is_alnum(s[0]))
		return false;
	size_t i = 1;
	for (; s[i] != '\0'; i++) {
		char c = s[i];
		if (!is_alnum(c) && c != '_' && c != '.' && c != '-')
			return false;
		if (i >= max)
			return false;
	}
	return i <= max;
}
