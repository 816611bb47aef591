/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Seccomp profiles given by users (`berth run --security-opt seccomp=FILE`, the create
 * request's `seccomp`), in the OCI spec's linux.seccomp format. Any thread.
 */
#ifndef BR_COMMON_SECCOMP_H
#define BR_COMMON_SECCOMP_H

#include <stddef.h>

#include "common/err.h"
#include "common/json.h"
#include "common/proto/tasks.h"

/*
 * Parse and check a profile: JSON of at most BR_SECCOMP_PROFILE_MAX bytes, an object whose
 * "defaultAction" is an SCMP_ACT_* string, whose optional "architectures" is a list of at most
 * 16 strings and whose optional "syscalls" is a list of at most 4096 objects, each with 1 to
 * 1024 non-empty "names" and an SCMP_ACT_* "action". Errors read "<what>: <member>: <what is
 * wrong>": INVALID_ARGUMENT, or RESOURCE_EXHAUSTED for a document too large. On success
 * *ret (when ret is not NULL) is the tree, to be freed with yajl_tree_free().
 */
int br_seccomp_profile_parse(const char *json, size_t len, const char *what, yajl_val *ret,
                             br_err *err);

#endif
