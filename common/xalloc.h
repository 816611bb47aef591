/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Allocation that cannot fail: on out-of-memory these log and abort, because no caller can
 * recover sensibly and a half-handled ENOMEM is worse than a restart (the daemons are built
 * to be restarted). Use them for all heap memory; sizes that come from input must be bounded
 * before they get here.
 */
#ifndef BR_COMMON_XALLOC_H
#define BR_COMMON_XALLOC_H

#include <stddef.h>

void *xmalloc(size_t size);
void *xzalloc(size_t size);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* Duplicate `n` bytes of `p`. */
void *xmemdup(const void *p, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#define xnew(type) ((type *)xzalloc(sizeof(type)))

#endif
