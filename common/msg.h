/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Bounded msgpack and the schema codec that every wire message goes through.
 *
 * A wire message is a C struct plus a `struct br_schema` that names its fields, their types
 * and their limits. br_msg_decode() turns an untrusted msgpack map into the struct, checking
 * every type and limit and naming the offending field in the error ("p.layers[2].digest: not
 * a sha256 digest"); br_msg_encode() packs the struct back. Message structs are declared once,
 * in common/proto/, and used by both ends.
 *
 * Decoded strings and lists live in a `br_arena` that the caller owns (for a server call, the
 * call owns it and frees it after the reply). Unknown map keys are ignored so that a newer
 * peer can add fields without breaking an older one; wrong types and broken limits never are.
 *
 * All functions here are pure and may be called from any thread.
 */
#ifndef BR_COMMON_MSG_H
#define BR_COMMON_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>

#include "common/err.h"
#include "common/cleanup.h"

/* Hard limits of the wire protocol. */
#define BR_MSG_MAX_SIZE (8u << 20) /* one request or reply, envelope included */
#define BR_MSG_MAX_DEPTH 16        /* nesting of maps and arrays */
#define BR_MSG_MAX_ITEMS 65536     /* total objects in one message */
#define BR_CHUNK_MAX (1u << 20)    /* one chunk of blob data in content.write / content.read */
#define BR_STR_DEFAULT_MAX 4096    /* a string field without an explicit max */
#define BR_NS_MAX 76               /* namespace names: [a-z0-9][a-z0-9_.-]*, like containerd */
#define BR_LIST_DEFAULT_MAX 1024   /* a list or map field without an explicit max */
#define BR_LABEL_MAX 4096          /* key + value of one label, as containerd */
#define BR_LABELS_MAX 256          /* labels on one object */

/* ---- arena: many small allocations freed at once ---- */

typedef struct br_arena br_arena;

br_arena *br_arena_new(void);
/* Frees every allocation made from the arena, then the arena. Accepts NULL. */
void br_arena_free(br_arena *a);
BR_DEFINE_CLEANUP(br_arena, br_arena_free)
/* Zeroed memory that lives as long as the arena. Never NULL (aborts on OOM). */
void *br_arena_alloc(br_arena *a, size_t size);
char *br_arena_strdup(br_arena *a, const char *s);
char *br_arena_strndup(br_arena *a, const char *s, size_t n);
char *br_arena_printf(br_arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- field types ---- */

struct br_bytes {
	const uint8_t *data;
	size_t len;
};

struct br_strlist {
	const char **v; /* n strings */
	size_t n;
};

struct br_strmap {
	const char **keys; /* n keys, each with the value at the same index */
	const char **values;
	size_t n;
};

struct br_objlist {
	void *v; /* n elements, each sub->size bytes */
	size_t n;
};

enum br_ftype {
	BR_F_STR,     /* const char *: NUL-free UTF-8-agnostic string, max = byte length */
	BR_F_BIN,     /* struct br_bytes, max = byte length (default BR_CHUNK_MAX) */
	BR_F_I64,     /* int64_t */
	BR_F_U64,     /* uint64_t */
	BR_F_U32,     /* uint32_t */
	BR_F_BOOL,    /* bool */
	BR_F_STRLIST, /* struct br_strlist, max = count; each string <= BR_STR_DEFAULT_MAX */
	BR_F_STRMAP,  /* struct br_strmap, max = count; key+value <= BR_LABEL_MAX */
	BR_F_OBJ,     /* embedded struct described by `sub` */
	BR_F_OBJLIST, /* struct br_objlist of `sub` structs, max = count */
	BR_F_RAW,     /* struct br_bytes holding one packed msgpack map, written inline as that
	               * map (not as binary data): a payload passed on without a schema of its
	               * own, such as an event's; max = byte length (default BR_CHUNK_MAX) */
};

/* Field flags: what must hold beyond the type. */
enum {
	BR_F_REQUIRED = 1 << 0, /* absent (or nil) is an error */
	BR_F_NONEMPTY = 1 << 1, /* a string must not be "" */
	BR_F_DIGEST = 1 << 2,   /* a string must be "sha256:" + 64 lowercase hex */
	BR_F_ID = 1 << 3,       /* a string must match [A-Za-z0-9][A-Za-z0-9_.-]* (names, keys) */
};

struct br_schema;

struct br_field {
	const char *name;
	enum br_ftype type;
	size_t offset;
	uint32_t max; /* 0 means the type's default */
	uint32_t flags;
	const struct br_schema *sub;
};

struct br_schema {
	const char *name;
	size_t size;
	const struct br_field *fields;
	size_t nfields;
};

/* Declare schemas tersely:
 *   static const struct br_field info_fields[] = {
 *       BR_FIELD(struct br_content_info, digest, BR_F_STR, 0, BR_F_REQUIRED | BR_F_DIGEST),
 *       BR_FIELD(struct br_content_info, size, BR_F_I64, 0, 0),
 *   };
 *   const struct br_schema br_content_info_schema = BR_SCHEMA(struct br_content_info, info_fields);
 */
#define BR_FIELD(st, fld, type, max, flags)                     \
	{                                                       \
#fld, type, offsetof(st, fld), max, flags, NULL \
	}
#define BR_FIELD_SUB(st, fld, type, max, flags, sub)           \
	{                                                      \
#fld, type, offsetof(st, fld), max, flags, sub \
	}
#define BR_SCHEMA(st, fields)                                               \
	{                                                                   \
#st, sizeof(st), fields, sizeof(fields) / sizeof(fields[0]) \
	}

/* ---- bounded parsing ---- */

/*
 * Check that buf[0..len) is exactly one well-formed msgpack object within the protocol limits
 * (size, depth, total items, every declared length within the bytes that remain) before
 * msgpack-c allocates anything for it. Returns 0 or -1 with INVALID_ARGUMENT.
 */
int br_msg_check(const void *buf, size_t len, br_err *err);

/*
 * br_msg_check() then unpack `buf` into `ret_obj`, whose storage comes from `arena`. Strings
 * and binaries in the object point into `buf`, which must outlive the object.
 */
int br_msg_unpack(const void *buf, size_t len, br_arena *arena, msgpack_object *ret_obj,
                  br_err *err);

/*
 * Decode `obj` (a map, or nil for an all-default struct) into `ret` (schema->size bytes, zeroed
 * first) following `schema`. `path` prefixes field names in errors ("p"). Strings are copied
 * into `arena` and NUL-terminated. Returns 0, or -1 with INVALID_ARGUMENT naming the field.
 */
int br_msg_decode(const msgpack_object *obj, const struct br_schema *schema, const char *path,
                  br_arena *arena, void *ret, br_err *err);

/* Pack `st` as a map following `schema`. NULL strings, empty lists/maps and empty byte
 * strings are omitted; numbers and bools are always written. st == NULL packs an empty map. */
void br_msg_encode(msgpack_packer *pk, const struct br_schema *schema, const void *st);

/* Small packing helpers for hand-written maps. */
void br_msg_pack_str(msgpack_packer *pk, const char *s);
void br_msg_pack_strn(msgpack_packer *pk, const char *s, size_t n);

/* True if `s` is "sha256:" followed by exactly 64 lowercase hex digits. */
bool br_msg_is_digest(const char *s);
/* True if `s` matches [A-Za-z0-9][A-Za-z0-9_.-]{0,max-1}. */
bool br_msg_is_id(const char *s, size_t max);

#endif
