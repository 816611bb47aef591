/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Scope-bound cleanup. A local declared `_cleanup_free_ char *p = NULL;` is freed when it goes
 * out of scope, so most functions become a flat run of early returns. Initialise every such
 * local at its declaration (NULL, or -1 for fds) and hand ownership out with br_steal_ptr() /
 * br_steal_fd(), which return the value and reset the variable.
 */
#ifndef BR_COMMON_CLEANUP_H
#define BR_COMMON_CLEANUP_H

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static inline void
br_freep(void *p)
{
	free(*(void **)p);
}

static inline void
br_closep(int *fd)
{
	if (*fd >= 0) {
		int saved = errno;
		close(*fd);
		errno = saved;
	}
}

static inline void
br_fclosep(FILE **f)
{
	if (*f != NULL)
		fclose(*f);
}

static inline void
br_closedirp(DIR **d)
{
	if (*d != NULL)
		closedir(*d);
}

/* Free a NULL-terminated array of strings and the array itself. */
static inline void
br_strv_free(char **v)
{
	if (v == NULL)
		return;
	for (char **s = v; *s != NULL; s++)
		free(*s);
	free(v);
}

static inline void
br_strv_freep(char ***v)
{
	br_strv_free(*v);
}

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _cleanup_free_ _cleanup_(br_freep)
#define _cleanup_close_ _cleanup_(br_closep)
#define _cleanup_fclose_ _cleanup_(br_fclosep)
#define _cleanup_closedir_ _cleanup_(br_closedirp)
#define _cleanup_strv_ _cleanup_(br_strv_freep)

/* Define a cleanup function `name##p` for a type freed by `fn(T *)` (which must accept NULL). */
#define BR_DEFINE_CLEANUP(type, fn)        \
	static inline void fn##p(type **p) \
	{                                  \
		fn(*p);                    \
	}

static inline void *
br_steal_ptr_impl(void **p)
{
	void *v = *p;
	*p = NULL;
	return v;
}
#define br_steal_ptr(p) br_steal_ptr_impl((void **)(p))

static inline int
br_steal_fd(int *fd)
{
	int v = *fd;
	*fd = -1;
	return v;
}

#endif
