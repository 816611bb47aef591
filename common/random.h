/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Random ids. Apart from common/digest.h so that a daemon that needs ids links no OpenSSL.
 */
#ifndef BR_COMMON_RANDOM_H
#define BR_COMMON_RANDOM_H

#include <stddef.h>

/* `n_bytes` random bytes (getrandom) as 2 * n_bytes lowercase hex digits and a NUL in `out`:
 * ids of jobs, containers, volumes, networks. Any thread. */
void br_random_hex(char *out, size_t n_bytes);

#endif
