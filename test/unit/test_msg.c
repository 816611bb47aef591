/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of common/msg.c: the arena, the bounded pre-scan of untrusted msgpack, and the
 * schema decoder/encoder (every field type, every limit and flag, error paths).
 */
#include <limits.h>
#include <stdalign.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdint.h>

#include "common/msg.h"
#include "test/unit/t.h"

/* ---- a sample schema covering every field type ---- */

struct leaf {
	const char *digest;
	int64_t size;
};

static const struct br_field leaf_fields[] = {
        BR_FIELD(struct leaf, digest, BR_F_STR, 0, BR_F_REQUIRED | BR_F_DIGEST),
        BR_FIELD(struct leaf, size, BR_F_I64, 0, 0),
};
static const struct br_schema leaf_schema = BR_SCHEMA(struct leaf, leaf_fields);

struct sample {
	const char *name;
	const char *id;
	const char *note;
	struct br_bytes data;
	int64_t i64;
	uint64_t u64;
	uint32_t u32;
	bool flag;
	struct br_strlist tags;
	struct br_strmap labels;
	struct leaf target;
	struct br_objlist items;
};

static const struct br_field sample_fields[] = {
        BR_FIELD(struct sample, name, BR_F_STR, 16, BR_F_REQUIRED | BR_F_NONEMPTY),
        BR_FIELD(struct sample, id, BR_F_STR, 32, BR_F_ID),
        BR_FIELD(struct sample, note, BR_F_STR, 0, 0),
        BR_FIELD(struct sample, data, BR_F_BIN, 8, 0),
        BR_FIELD(struct sample, i64, BR_F_I64, 0, 0),
        BR_FIELD(struct sample, u64, BR_F_U64, 0, 0),
        BR_FIELD(struct sample, u32, BR_F_U32, 0, 0),
        BR_FIELD(struct sample, flag, BR_F_BOOL, 0, 0),
        BR_FIELD(struct sample, tags, BR_F_STRLIST, 3, 0),
        BR_FIELD(struct sample, labels, BR_F_STRMAP, 2, 0),
        BR_FIELD_SUB(struct sample, target, BR_F_OBJ, 0, 0, &leaf_schema),
        BR_FIELD_SUB(struct sample, items, BR_F_OBJLIST, 4, 0, &leaf_schema),
};
static const struct br_schema sample_schema = BR_SCHEMA(struct sample, sample_fields);

#define D1 "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define D2 "sha256:fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"

/* ---- helpers ---- */

struct packed {
	msgpack_sbuffer sb;
	msgpack_packer pk;
};

static void
packed_init(struct packed *p)
{
	msgpack_sbuffer_init(&p->sb);
	msgpack_packer_init(&p->pk, &p->sb, msgpack_sbuffer_write);
}

static void
key(msgpack_packer *pk, const char *k)
{
	br_msg_pack_str(pk, k);
}

/* Decode `p`'s bytes against the sample schema; returns rc, fills err. */
static int
decode_sample(struct packed *p, br_arena *arena, struct sample *out, br_err *err)
{
	msgpack_object obj;
	if (br_msg_unpack(p->sb.data, p->sb.size, arena, &obj, err) < 0)
		return -1;
	return br_msg_decode(&obj, &sample_schema, "p", arena, out, err);
}

/* Pack {"name":"n", <key>: <value packed by the caller>} and expect an error mentioning
 * `want`. The caller packs the value right after this returns the packer. */
static msgpack_packer *
start_one(struct packed *p, const char *k)
{
	packed_init(p);
	msgpack_pack_map(&p->pk, 2);
	key(&p->pk, "name");
	key(&p->pk, "n");
	key(&p->pk, k);
	return &p->pk;
}

static void
expect_fail(struct packed *p, const char *want)
{
	br_err err = BR_ERR_INIT;
	struct sample s;
	br_arena *a = br_arena_new();
	int rc = decode_sample(p, a, &s, &err);
	T_ERR(rc, err, BR_INVALID_ARGUMENT);
	if (strstr(err.msg, want) == NULL)
		T_FAIL_("error \"%s\" does not contain \"%s\"", err.msg, want);
	br_arena_free(a);
	msgpack_sbuffer_destroy(&p->sb);
}

static void
expect_ok(struct packed *p, struct sample *s, br_arena *a)
{
	br_err err = BR_ERR_INIT;
	int rc = decode_sample(p, a, s, &err);
	T_NOERR(rc, err);
	msgpack_sbuffer_destroy(&p->sb);
}

static void
expect_check_fail(const void *buf, size_t len, const char *want)
{
	br_err err = BR_ERR_INIT;
	int rc = br_msg_check(buf, len, &err);
	T_ERR(rc, err, BR_INVALID_ARGUMENT);
	if (want != NULL && strstr(err.msg, want) == NULL)
		T_FAIL_("error \"%s\" does not contain \"%s\"", err.msg, want);
}

/* ---- arena ---- */

static void
test_arena(void)
{
	br_arena *a = br_arena_new();
	for (int i = 0; i < 5000; i++) {
		size_t n = (size_t)(i % 37) + 1;
		unsigned char *p = br_arena_alloc(a, n);
		T_OK(((uintptr_t)p % alignof(max_align_t)) == 0);
		for (size_t j = 0; j < n; j++)
			T_EQ_INT(p[j], 0);
		memset(p, 0xab, n);
	}
	unsigned char *big = br_arena_alloc(a, 1 << 20);
	T_EQ_INT(big[(1 << 20) - 1], 0);
	char *small_after_big = br_arena_alloc(a, 8);
	T_NOT_NULL(small_after_big);
	T_EQ_STR(br_arena_strdup(a, "hello"), "hello");
	T_EQ_STR(br_arena_strndup(a, "hello", 3), "hel");
	T_EQ_STR(br_arena_printf(a, "%s-%d", "x", 42), "x-42");
	char longs[1000];
	memset(longs, 'z', sizeof(longs) - 1);
	longs[sizeof(longs) - 1] = '\0';
	T_EQ_STR(br_arena_printf(a, "%s", longs), longs);
	br_arena_free(a);
	br_arena_free(NULL);
}

/* ---- round trips ---- */

static void
fill_sample(struct sample *s, struct leaf items[2], const char *tags[2], const char *keys[2],
            const char *values[2])
{
	static const uint8_t bytes[] = {0, 1, 2, 0xff};
	memset(s, 0, sizeof(*s));
	s->name = "alpine";
	s->id = "my-id_1.x";
	s->note = "";
	s->data.data = bytes;
	s->data.len = sizeof(bytes);
	s->i64 = INT64_MIN;
	s->u64 = UINT64_MAX;
	s->u32 = UINT32_MAX;
	s->flag = true;
	tags[0] = "a";
	tags[1] = "";
	s->tags.v = tags;
	s->tags.n = 2;
	keys[0] = "k1";
	keys[1] = "k2";
	values[0] = "v1";
	values[1] = "";
	s->labels.keys = keys;
	s->labels.values = values;
	s->labels.n = 2;
	s->target.digest = D1;
	s->target.size = -5;
	items[0].digest = D1;
	items[0].size = 1;
	items[1].digest = D2;
	items[1].size = INT64_MAX;
	s->items.v = items;
	s->items.n = 2;
}

static void
test_round_trip_all_types(void)
{
	struct sample in, out;
	struct leaf items[2];
	const char *tags[2], *keys[2], *values[2];
	struct packed p;
	br_arena *a = br_arena_new();

	fill_sample(&in, items, tags, keys, values);
	packed_init(&p);
	br_msg_encode(&p.pk, &sample_schema, &in);
	expect_ok(&p, &out, a);

	T_EQ_STR(out.name, "alpine");
	T_EQ_STR(out.id, "my-id_1.x");
	T_EQ_STR(out.note, "");
	T_EQ_INT(out.data.len, 4);
	T_OK(memcmp(out.data.data, in.data.data, 4) == 0);
	T_EQ_INT(out.i64, INT64_MIN);
	T_OK(out.u64 == UINT64_MAX);
	T_OK(out.u32 == UINT32_MAX);
	T_OK(out.flag);
	T_EQ_INT(out.tags.n, 2);
	T_EQ_STR(out.tags.v[0], "a");
	T_EQ_STR(out.tags.v[1], "");
	T_EQ_INT(out.labels.n, 2);
	T_EQ_STR(out.labels.keys[1], "k2");
	T_EQ_STR(out.labels.values[0], "v1");
	T_EQ_STR(out.labels.values[1], "");
	T_EQ_STR(out.target.digest, D1);
	T_EQ_INT(out.target.size, -5);
	T_EQ_INT(out.items.n, 2);
	struct leaf *ol = out.items.v;
	T_EQ_STR(ol[1].digest, D2);
	T_EQ_INT(ol[1].size, INT64_MAX);
	T_EQ_INT(ol[0].size, 1);
	br_arena_free(a);
}

static void
test_encode_omits_absent(void)
{
	struct sample in = {.name = "x", .id = ""};
	struct packed p;
	br_err err = BR_ERR_INIT;
	msgpack_object obj;
	br_arena *a = br_arena_new();

	packed_init(&p);
	br_msg_encode(&p.pk, &sample_schema, &in);
	T_NOERR(br_msg_unpack(p.sb.data, p.sb.size, a, &obj, &err), err);
	T_EQ_INT(obj.type, MSGPACK_OBJECT_MAP);
	/* name + the four numbers/bools; id "" (a name field), NULL note, empty lists, the
	 * all-zero target and empty items are omitted. */
	T_EQ_INT(obj.via.map.size, 5);
	msgpack_sbuffer_destroy(&p.sb);

	/* NULL struct and NULL schema pack an empty map. */
	packed_init(&p);
	br_msg_encode(&p.pk, &sample_schema, NULL);
	T_NOERR(br_msg_unpack(p.sb.data, p.sb.size, a, &obj, &err), err);
	T_EQ_INT(obj.via.map.size, 0);
	msgpack_sbuffer_destroy(&p.sb);
	br_arena_free(a);
}

static void
test_decode_nil_and_absent(void)
{
	br_err err = BR_ERR_INIT;
	struct leaf l;
	msgpack_object nil = {.type = MSGPACK_OBJECT_NIL};
	br_arena *a = br_arena_new();

	/* nil as a whole: required fields are reported missing */
	T_ERR(br_msg_decode(&nil, &leaf_schema, "p", a, &l, &err), err, BR_INVALID_ARGUMENT);
	T_EQ_STR(err.msg, "p.digest: required field is missing");
	T_ERR(br_msg_decode(NULL, &leaf_schema, "", a, &l, &err), err, BR_INVALID_ARGUMENT);
	T_EQ_STR(err.msg, "digest: required field is missing");

	/* a field whose value is nil counts as absent */
	struct packed p;
	struct sample s;
	packed_init(&p);
	msgpack_pack_map(&p.pk, 3);
	key(&p.pk, "name");
	key(&p.pk, "n");
	key(&p.pk, "note");
	msgpack_pack_nil(&p.pk);
	key(&p.pk, "target");
	msgpack_pack_nil(&p.pk);
	expect_ok(&p, &s, a);
	T_NULL(s.note);
	T_NULL(s.target.digest);

	packed_init(&p);
	msgpack_pack_map(&p.pk, 1);
	key(&p.pk, "name");
	msgpack_pack_nil(&p.pk);
	expect_fail(&p, "p.name: required field is missing");
	br_arena_free(a);
}

static void
test_unknown_and_duplicate_keys(void)
{
	struct packed p;
	struct sample s;
	br_arena *a = br_arena_new();

	packed_init(&p);
	msgpack_pack_map(&p.pk, 3);
	key(&p.pk, "future");
	msgpack_pack_array(&p.pk, 1);
	msgpack_pack_double(&p.pk, 1.5);
	key(&p.pk, "name");
	key(&p.pk, "n");
	key(&p.pk, "namex");
	msgpack_pack_int(&p.pk, 1);
	expect_ok(&p, &s, a);
	T_EQ_STR(s.name, "n");

	packed_init(&p);
	msgpack_pack_map(&p.pk, 2);
	key(&p.pk, "name");
	key(&p.pk, "a");
	key(&p.pk, "name");
	key(&p.pk, "b");
	expect_fail(&p, "p.name: duplicate key");

	packed_init(&p);
	msgpack_pack_map(&p.pk, 2);
	key(&p.pk, "name");
	key(&p.pk, "a");
	msgpack_pack_int(&p.pk, 7);
	key(&p.pk, "b");
	expect_fail(&p, "p: map key 1: expected a string, got an integer");

	packed_init(&p);
	msgpack_pack_array(&p.pk, 0);
	expect_fail(&p, "p: expected a map, got an array");
	br_arena_free(a);
}

/* ---- strings and flags ---- */

static void
test_string_limits_and_flags(void)
{
	struct packed p;

	msgpack_pack_int(start_one(&p, "note"), 3);
	expect_fail(&p, "p.note: expected a string, got an integer");

	packed_init(&p);
	msgpack_pack_map(&p.pk, 1);
	key(&p.pk, "name");
	key(&p.pk, "0123456789abcdefX"); /* 17 > 16 */
	expect_fail(&p, "p.name: too long (17 bytes, at most 16)");

	packed_init(&p);
	msgpack_pack_map(&p.pk, 1);
	key(&p.pk, "name");
	key(&p.pk, "0123456789abcdef"); /* exactly 16 */
	{
		struct sample s;
		br_arena *a = br_arena_new();
		expect_ok(&p, &s, a);
		br_arena_free(a);
	}

	packed_init(&p);
	msgpack_pack_map(&p.pk, 1);
	key(&p.pk, "name");
	key(&p.pk, "");
	expect_fail(&p, "p.name: must not be empty");

	packed_init(&p);
	msgpack_pack_map(&p.pk, 1);
	key(&p.pk, "name");
	br_msg_pack_strn(&p.pk, "a\0b", 3);
	expect_fail(&p, "p.name: contains a NUL byte");

	/* default string limit */
	char big[BR_STR_DEFAULT_MAX + 2];
	memset(big, 'x', sizeof(big));
	br_msg_pack_strn(start_one(&p, "note"), big, BR_STR_DEFAULT_MAX + 1);
	expect_fail(&p, "p.note: too long (4097 bytes, at most 4096)");

	key(start_one(&p, "id"), "-leading-dash");
	expect_fail(&p, "p.id: not a valid name");
	key(start_one(&p, "id"), "a/b");
	expect_fail(&p, "p.id: not a valid name");
	key(start_one(&p, "id"), "..");
	expect_fail(&p, "p.id: not a valid name");
	key(start_one(&p, "id"), "");
	expect_fail(&p, "p.id: not a valid name");

	msgpack_packer *pk = start_one(&p, "target");
	msgpack_pack_map(pk, 1);
	key(pk, "digest");
	key(pk, "sha256:ABC");
	expect_fail(&p, "p.target.digest: not a sha256 digest");

	pk = start_one(&p, "target");
	msgpack_pack_map(pk, 1);
	key(pk, "size");
	msgpack_pack_int(pk, 1);
	expect_fail(&p, "p.target.digest: required field is missing");
}

/* ---- numbers ---- */

static void
test_integers(void)
{
	struct packed p;
	struct sample s;
	br_arena *a = br_arena_new();

	/* negative fixint into i64; positive fixint into u32/u64; int8 positive into u32 */
	packed_init(&p);
	msgpack_pack_map(&p.pk, 4);
	key(&p.pk, "name");
	key(&p.pk, "n");
	key(&p.pk, "i64");
	msgpack_pack_fix_int8(&p.pk, -3);
	key(&p.pk, "u32");
	msgpack_pack_fix_int8(&p.pk, 100);
	key(&p.pk, "u64");
	msgpack_pack_fix_uint8(&p.pk, 7);
	expect_ok(&p, &s, a);
	T_EQ_INT(s.i64, -3);
	T_EQ_INT(s.u32, 100);
	T_EQ_INT(s.u64, 7);

	msgpack_pack_uint64(start_one(&p, "u32"), (uint64_t)UINT32_MAX + 1);
	expect_fail(&p, "p.u32: out of range (4294967296, at most 4294967295)");
	msgpack_pack_int64(start_one(&p, "u32"), -1);
	expect_fail(&p, "p.u32: must not be negative");
	msgpack_pack_int64(start_one(&p, "u64"), -1);
	expect_fail(&p, "p.u64: must not be negative");
	msgpack_pack_uint64(start_one(&p, "i64"), (uint64_t)INT64_MAX + 1);
	expect_fail(&p, "p.i64: out of range");
	msgpack_pack_double(start_one(&p, "i64"), 1.0);
	expect_fail(&p, "p.i64: expected an integer, got a float");
	msgpack_pack_true(start_one(&p, "u64"));
	expect_fail(&p, "p.u64: expected an integer, got a boolean");
	msgpack_pack_int(start_one(&p, "flag"), 1);
	expect_fail(&p, "p.flag: expected a boolean, got an integer");
	br_arena_free(a);
}

/* ---- binary ---- */

static void
test_binary(void)
{
	struct packed p;
	struct sample s;
	br_arena *a = br_arena_new();

	msgpack_packer *pk = start_one(&p, "data");
	msgpack_pack_bin(pk, 9);
	msgpack_pack_bin_body(pk, "123456789", 9);
	expect_fail(&p, "p.data: too long (9 bytes, at most 8)");

	pk = start_one(&p, "data");
	msgpack_pack_array(pk, 0);
	expect_fail(&p, "p.data: expected binary data, got an array");

	/* a str is accepted as bytes */
	pk = start_one(&p, "data");
	br_msg_pack_str(pk, "abc");
	expect_ok(&p, &s, a);
	T_EQ_INT(s.data.len, 3);
	T_OK(memcmp(s.data.data, "abc", 3) == 0);
	br_arena_free(a);
}

/* ---- lists and maps ---- */

static void
test_lists_and_maps(void)
{
	struct packed p;

	msgpack_packer *pk = start_one(&p, "tags");
	msgpack_pack_array(pk, 4);
	for (int i = 0; i < 4; i++)
		key(pk, "t");
	expect_fail(&p, "p.tags: too many items (4, at most 3)");

	pk = start_one(&p, "tags");
	msgpack_pack_array(pk, 2);
	key(pk, "ok");
	msgpack_pack_int(pk, 5);
	expect_fail(&p, "p.tags[1]: expected a string, got an integer");

	pk = start_one(&p, "tags");
	msgpack_pack_map(pk, 0);
	expect_fail(&p, "p.tags: expected an array of strings, got a map");

	pk = start_one(&p, "labels");
	msgpack_pack_map(pk, 3);
	for (int i = 0; i < 3; i++) {
		char k[4] = {'k', (char)('0' + i), 0};
		key(pk, k);
		key(pk, "v");
	}
	expect_fail(&p, "p.labels: too many entries (3, at most 2)");

	pk = start_one(&p, "labels");
	msgpack_pack_map(pk, 2);
	key(pk, "a");
	key(pk, "1");
	key(pk, "a");
	key(pk, "2");
	expect_fail(&p, "p.labels[\"a\"]: duplicate key");

	pk = start_one(&p, "labels");
	msgpack_pack_map(pk, 1);
	key(pk, "a");
	msgpack_pack_int(pk, 1);
	expect_fail(&p, "p.labels[\"a\"]: expected a string, got an integer");

	pk = start_one(&p, "labels");
	msgpack_pack_map(pk, 1);
	key(pk, "");
	key(pk, "v");
	expect_fail(&p, "empty key");

	char big[BR_LABEL_MAX];
	memset(big, 'v', sizeof(big));
	pk = start_one(&p, "labels");
	msgpack_pack_map(pk, 1);
	key(pk, "key");
	br_msg_pack_strn(pk, big, BR_LABEL_MAX - 2); /* 3 + 4094 = 4097 */
	expect_fail(&p, "p.labels[\"key\"]: key and value too long (4097 bytes, at most 4096)");

	pk = start_one(&p, "items");
	msgpack_pack_array(pk, 5);
	for (int i = 0; i < 5; i++)
		msgpack_pack_map(pk, 0);
	expect_fail(&p, "p.items: too many items (5, at most 4)");

	pk = start_one(&p, "items");
	msgpack_pack_array(pk, 4);
	for (int i = 0; i < 3; i++) {
		msgpack_pack_map(pk, 1);
		key(pk, "digest");
		key(pk, D1);
	}
	msgpack_pack_map(pk, 1);
	key(pk, "digest");
	key(pk, "sha256:0123");
	expect_fail(&p, "p.items[3].digest: not a sha256 digest");

	pk = start_one(&p, "items");
	msgpack_pack_array(pk, 1);
	msgpack_pack_nil(pk);
	expect_fail(&p, "p.items[0]: expected a map, got nil");

	pk = start_one(&p, "target");
	key(pk, "x");
	expect_fail(&p, "p.target: expected a map, got a string");
}

/* A list field without an explicit max uses BR_LIST_DEFAULT_MAX. */
struct deflist {
	struct br_strlist v;
};
static const struct br_field deflist_fields[] = {
        BR_FIELD(struct deflist, v, BR_F_STRLIST, 0, BR_F_DIGEST),
};
static const struct br_schema deflist_schema = BR_SCHEMA(struct deflist, deflist_fields);

static void
test_default_list_limit_and_element_flags(void)
{
	struct packed p;
	br_err err = BR_ERR_INIT;
	msgpack_object obj;
	struct deflist out;
	br_arena *a = br_arena_new();

	packed_init(&p);
	msgpack_pack_map(&p.pk, 1);
	key(&p.pk, "v");
	msgpack_pack_array(&p.pk, BR_LIST_DEFAULT_MAX + 1);
	for (int i = 0; i < BR_LIST_DEFAULT_MAX + 1; i++)
		key(&p.pk, D1);
	T_NOERR(br_msg_unpack(p.sb.data, p.sb.size, a, &obj, &err), err);
	T_ERR(br_msg_decode(&obj, &deflist_schema, "r", a, &out, &err), err, BR_INVALID_ARGUMENT);
	T_EQ_STR(err.msg, "r.v: too many items (1025, at most 1024)");
	msgpack_sbuffer_destroy(&p.sb);

	packed_init(&p);
	msgpack_pack_map(&p.pk, 1);
	key(&p.pk, "v");
	msgpack_pack_array(&p.pk, 2);
	key(&p.pk, D1);
	key(&p.pk, "nope");
	T_NOERR(br_msg_unpack(p.sb.data, p.sb.size, a, &obj, &err), err);
	T_ERR(br_msg_decode(&obj, &deflist_schema, "r", a, &out, &err), err, BR_INVALID_ARGUMENT);
	T_EQ_STR(err.msg, "r.v[1]: not a sha256 digest: \"nope\"");
	msgpack_sbuffer_destroy(&p.sb);
	br_arena_free(a);
}

/* ---- the pre-scan ---- */

static void
test_check_truncated_and_garbage(void)
{
	struct sample in;
	struct leaf items[2];
	const char *tags[2], *keys[2], *values[2];
	struct packed p;
	br_err err = BR_ERR_INIT;

	fill_sample(&in, items, tags, keys, values);
	packed_init(&p);
	br_msg_encode(&p.pk, &sample_schema, &in);
	T_NOERR(br_msg_check(p.sb.data, p.sb.size, &err), err);
	/* every strict prefix is rejected */
	for (size_t n = 0; n < p.sb.size; n++)
		expect_check_fail(p.sb.data, n, NULL);
	/* trailing bytes */
	msgpack_pack_nil(&p.pk);
	expect_check_fail(p.sb.data, p.sb.size, "trailing bytes");
	msgpack_sbuffer_destroy(&p.sb);

	expect_check_fail("\xc1", 1, "invalid byte 0xc1");
	expect_check_fail("\xd4\x01\x00", 3, "extension type");
	expect_check_fail("\xc7\x01\x01\x00", 4, "extension type");
	expect_check_fail("", 0, "empty");
	expect_check_fail("\x92\x01", 2, "array of 2 entries at byte 0 exceeds");
	expect_check_fail("\x91\x91", 2, "array of 1 entries at byte 1 exceeds the 0 bytes");
	expect_check_fail("\xcb\x00\x00", 3, "truncated");
	expect_check_fail("\xda\x00", 2, "truncated");

	/* a deterministic garbage sweep never crashes and never accepts trailing junk */
	uint32_t x = 12345;
	for (int round = 0; round < 20000; round++) {
		uint8_t buf[32];
		size_t n = 1 + (size_t)(round % 31);
		for (size_t i = 0; i < n; i++) {
			x = x * 1103515245u + 12345u;
			buf[i] = (uint8_t)(x >> 16);
		}
		br_arena *a = br_arena_new();
		msgpack_object obj;
		if (br_msg_unpack(buf, n, a, &obj, &err) == 0) {
			struct sample s;
			(void)br_msg_decode(&obj, &sample_schema, "p", a, &s, &err);
		}
		br_arena_free(a);
	}
}

static void
test_check_huge_declared_lengths(void)
{
	/* str32, bin32, array32, map32 declaring 4 GiB - 1 with a few bytes present */
	expect_check_fail("\xdb\xff\xff\xff\xff"
	                  "abc",
	                  8, "exceeds the 3 bytes that remain");
	expect_check_fail("\xc6\xff\xff\xff\xff"
	                  "abc",
	                  8, "exceeds");
	expect_check_fail("\xdd\xff\xff\xff\xff\x01\x02", 7, "array of 4294967295 entries");
	expect_check_fail("\xdf\xff\xff\xff\xff\x01\x02", 7, "map of 4294967295 entries");
	/* a map needs two objects per entry */
	expect_check_fail("\x82\x01\x02\x03", 4, "map of 2 entries");
	/* fixarray of 15 with 14 elements */
	expect_check_fail("\x9f\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01", 15,
	                  "array of 15 entries");
}

static void
test_check_depth(void)
{
	uint8_t buf[64];
	br_err err = BR_ERR_INIT;

	/* 16 nested single-element arrays around a nil: depth 16, allowed */
	for (int i = 0; i < BR_MSG_MAX_DEPTH; i++)
		buf[i] = 0x91;
	buf[BR_MSG_MAX_DEPTH] = 0xc0;
	T_NOERR(br_msg_check(buf, BR_MSG_MAX_DEPTH + 1, &err), err);
	br_arena *a = br_arena_new();
	msgpack_object obj;
	T_NOERR(br_msg_unpack(buf, BR_MSG_MAX_DEPTH + 1, a, &obj, &err), err);
	br_arena_free(a);

	for (int i = 0; i <= BR_MSG_MAX_DEPTH; i++)
		buf[i] = 0x91;
	buf[BR_MSG_MAX_DEPTH + 1] = 0xc0;
	expect_check_fail(buf, BR_MSG_MAX_DEPTH + 2, "nested deeper than 16 levels");

	/* maps nest too */
	for (int i = 0; i <= BR_MSG_MAX_DEPTH; i++) {
		buf[2 * i] = 0x81;
		buf[2 * i + 1] = 0x00;
	}
	buf[2 * (BR_MSG_MAX_DEPTH + 1)] = 0xc0;
	expect_check_fail(buf, 2 * (BR_MSG_MAX_DEPTH + 1) + 1, "nested deeper");
}

static void
test_check_items_and_size(void)
{
	br_err err = BR_ERR_INIT;
	size_t n = BR_MSG_MAX_ITEMS; /* array + n nils = n + 1 items */
	uint8_t *buf = malloc(5 + n);
	buf[0] = 0xdd;
	buf[1] = (uint8_t)(n >> 24);
	buf[2] = (uint8_t)(n >> 16);
	buf[3] = (uint8_t)(n >> 8);
	buf[4] = (uint8_t)n;
	memset(buf + 5, 0xc0, n);
	expect_check_fail(buf, 5 + n, "more than 65536 items");
	buf[2] = (uint8_t)((n - 1) >> 16);
	buf[3] = (uint8_t)((n - 1) >> 8);
	buf[4] = (uint8_t)(n - 1);
	T_NOERR(br_msg_check(buf, 5 + n - 1, &err), err);
	free(buf);

	size_t big = BR_MSG_MAX_SIZE + 1;
	buf = malloc(big);
	buf[0] = 0xc6; /* bin32 of big - 5 */
	size_t bl = big - 5;
	buf[1] = (uint8_t)(bl >> 24);
	buf[2] = (uint8_t)(bl >> 16);
	buf[3] = (uint8_t)(bl >> 8);
	buf[4] = (uint8_t)bl;
	memset(buf + 5, 0, bl);
	expect_check_fail(buf, big, "message too large: 8388609 bytes (limit 8388608)");
	T_NOERR(br_msg_check(buf + 1, 0, &err) == -1 ? 0 : -1, err); /* empty is an error */
	free(buf);
}

/* ---- predicates ---- */

static void
test_predicates(void)
{
	T_OK(br_msg_is_digest(D1));
	T_OK(!br_msg_is_digest(NULL));
	T_OK(!br_msg_is_digest("sha256:"));
	T_OK(!br_msg_is_digest(D1 "0"));
	T_OK(!br_msg_is_digest(
	        "sha512:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"));
	T_OK(!br_msg_is_digest(
	        "sha256:0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef"));

	T_OK(br_msg_is_id("a", 1));
	T_OK(br_msg_is_id("abc", 3));
	T_OK(!br_msg_is_id("abcd", 3));
	T_OK(br_msg_is_id("A9_.-z", 64));
	T_OK(!br_msg_is_id("", 64));
	T_OK(!br_msg_is_id(".a", 64));
	T_OK(!br_msg_is_id("_a", 64));
	T_OK(!br_msg_is_id("a b", 64));
	T_OK(!br_msg_is_id("a/b", 64));
	T_OK(!br_msg_is_id(NULL, 64));
}

T_MAIN(T_CASE(test_arena), T_CASE(test_round_trip_all_types), T_CASE(test_encode_omits_absent),
       T_CASE(test_decode_nil_and_absent), T_CASE(test_unknown_and_duplicate_keys),
       T_CASE(test_string_limits_and_flags), T_CASE(test_integers), T_CASE(test_binary),
       T_CASE(test_lists_and_maps), T_CASE(test_default_list_limit_and_element_flags),
       T_CASE(test_check_truncated_and_garbage), T_CASE(test_check_huge_declared_lengths),
       T_CASE(test_check_depth), T_CASE(test_check_items_and_size), T_CASE(test_predicates))
