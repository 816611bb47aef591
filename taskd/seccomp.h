/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The seccomp filter of a container, written into the OCI spec's linux.seccomp for the
 * runtime to load (runc and crun compile it with libseccomp; Berth needs no libseccomp). By
 * default it is Berth's profile, equal in effect to containerd's and docker's: an allowlist
 * whose default answer is EPERM, arch-specific entries, argument conditions (clone without
 * namespace flags, harmless personality values, sockets other than AF_VSOCK) and syscalls
 * allowed only to a container holding a given capability. A user may run unconfined or give a
 * profile of their own (docs/tasks.md). Pure; any thread.
 */
#ifndef BR_TASKD_SECCOMP_H
#define BR_TASKD_SECCOMP_H

#include <stddef.h>

#include <yajl_gen.h>

#include "common/err.h"

/* The create request's value meaning "no filter at all". */
#define TASKD_SECCOMP_UNCONFINED "unconfined"
/*
 * Write `"seccomp": {...}` into the object `g` is generating (linux), or nothing when
 * `profile` is "unconfined". `profile` NULL or "": the default profile for the container's
 * effective capabilities `caps` (NULL-terminated "CAP_*" names); otherwise a user profile,
 * checked by br_seccomp_profile_parse (common/seccomp.h; its errors, as "seccomp profile:
 * ...", with nothing written).
 */
int taskd_seccomp_gen(yajl_gen g, const char *profile, const char *const *caps, br_err *err);

#endif
