/* SPDX-License-Identifier: Apache-2.0 */
/*
 * JSON with yajl, made safe for untrusted documents. br_json_parse() refuses documents that
 * are too large, nest deeper than BR_JSON_MAX_DEPTH (yajl frees trees recursively), contain
 * duplicate keys in one object (yajl keeps the first, other readers the last, so the two
 * could read one document differently) or NUL characters in strings. Typed getters report
 * missing or mistyped members with the member's path.
 *
 * Writing goes through yajl_gen with UTF-8 validation on; br_json_gen_* add the checks that
 * yajl_gen lacks. Any thread.
 */
#ifndef BR_COMMON_JSON_H
#define BR_COMMON_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>
#include <yajl_gen.h>
#include <yajl_tree.h>

#include "common/err.h"

#define BR_JSON_MAX_DEPTH 64

/* Parse `buf` (not NUL-terminated) of at most `max_len` bytes. `what` names the document in
 * errors ("manifest sha256:..."). The tree is freed with yajl_tree_free(). */
int br_json_parse(const char *buf, size_t len, size_t max_len, const char *what, yajl_val *ret,
                  br_err *err);

/* Getters: look up `key` in object `obj`. They return -1 with INVALID_ARGUMENT naming
 * "<path>.<key>" when the member has the wrong type, or when it is missing and `required`. A
 * missing optional member returns 0 and leaves the out-parameter untouched. For every getter a
 * member whose value is JSON null counts as missing. */
int br_json_get_str(yajl_val obj, const char *path, const char *key, bool required,
                    const char **ret, br_err *err);
int br_json_get_int(yajl_val obj, const char *path, const char *key, bool required, int64_t *ret,
                    br_err *err);
int br_json_get_bool(yajl_val obj, const char *path, const char *key, bool required, bool *ret,
                     br_err *err);
int br_json_get_obj(yajl_val obj, const char *path, const char *key, bool required, yajl_val *ret,
                    br_err *err);
int br_json_get_array(yajl_val obj, const char *path, const char *key, bool required, yajl_val *ret,
                      br_err *err);
/* An array of strings as a NULL-terminated, heap-allocated vector (free with br_strv_free);
 * JSON null is treated as missing. At most `max` elements. */
int br_json_get_strv(yajl_val obj, const char *path, const char *key, bool required, size_t max,
                     char ***ret, br_err *err);

/* A generator with UTF-8 validation and 2-space-free compact output. Free with yajl_gen_free. */
yajl_gen br_json_gen_new(void);
void br_json_gen_str(yajl_gen g, const char *s);
void br_json_gen_kv_str(yajl_gen g, const char *key, const char *value); /* skips NULL value */
void br_json_gen_kv_int(yajl_gen g, const char *key, int64_t value);
void br_json_gen_kv_bool(yajl_gen g, const char *key, bool value);
/* Generate a parsed value (a tree of br_json_parse) as it is. */
void br_json_gen_value(yajl_gen g, yajl_val v);
/* Take the generated buffer as a heap string (NUL-terminated). */
char *br_json_gen_take(yajl_gen g, size_t *ret_len);
/* Generate a msgpack object as JSON: maps with string keys become objects (other keys are
 * written as their JSON text), binary data a string of its bytes made valid UTF-8,
 * extension types null. For payloads without a schema (an event's). */
void br_json_gen_msgpack(yajl_gen g, const msgpack_object *o);

#endif
