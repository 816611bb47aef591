/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Filesystem helpers for code that works below a storage root: opening names confined to a
 * root with openat2(2), writing files atomically (temporary file, fsync, rename, fsync of the
 * directory), bounded whole-file reads, and a recursive removal that never follows a symlink
 * and stops at mount points, so that removing a container's or a snapshot's directory can
 * never reach into the host or into a still-mounted filesystem.
 */
#include "common/fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/xalloc.h"

/* Directories deeper than this below the removal's top are moved up to the top rather than
 * descended into, so a removal holds at most this many fds however deep the tree is. */
#define RM_MAX_OPEN_DEPTH 32

/* mkdir -p. Existing directories (or symlinks to them) are fine; anything else in the way is
 * an error naming the path. Any thread. */
int
br_mkdir_p(const char *path, mode_t mode, br_err *err)
{
	if (path == NULL || path[0] == '\0')
		return br_err_set(err, BR_INVALID_ARGUMENT, "mkdir: empty path");
	_cleanup_free_ char *p = xstrdup(path);
	size_t len = strlen(p);

	for (size_t i = 1; i <= len; i++) {
		if (p[i] != '/' && p[i] != '\0')
			continue;
		if (p[i - 1] == '/')
			continue;
		char saved = p[i];
		p[i] = '\0';
		if (mkdir(p, mode) < 0) {
			struct stat st;
			if (errno != EEXIST)
				return br_err_errno(err, br_code_from_errno(errno), errno,
				                    "mkdir \"%s\"", p);
			if (stat(p, &st) < 0)
				return br_err_errno(err, br_code_from_errno(errno), errno,
				                    "mkdir \"%s\"", p);
			if (!S_ISDIR(st.st_mode))
				return br_err_set(err, BR_ALREADY_EXISTS,
				                  "mkdir \"%s\": exists and is not a directory", p);
		}
		p[i] = saved;
	}
	return 0;
}

/* Open `path` confined to root_fd (see fsutil.h). The fd is the caller's. Errors map errno:
 * NOT_FOUND, PERMISSION_DENIED, INVALID_ARGUMENT for ELOOP/EXDEV, and so on. Any thread. */
int
br_openat_in_root(int root_fd, const char *path, int flags, mode_t mode, br_err *err)
{
	struct open_how how = {
	        .flags = (uint64_t)(unsigned int)(flags | O_CLOEXEC),
	        .mode = (flags & (O_CREAT | O_TMPFILE)) ? mode : 0,
	        .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
	};

	for (int tries = 0;; tries++) {
		int fd = (int)syscall(SYS_openat2, root_fd, path, &how, sizeof(how));
		if (fd >= 0)
			return fd;
		/* EAGAIN: a rename raced with the lookup; the kernel asks us to retry. */
		if (errno == EINTR || (errno == EAGAIN && tries < 32))
			continue;
		return br_err_errno(err, br_code_from_errno(errno), errno, "open \"%s\"", path);
	}
}

/* Write all of buf to fd. The errno of a failed write is mapped to the error code. */
int
br_write_all(int fd, const void *buf, size_t len, br_err *err)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return br_err_errno(err, br_code_from_errno(errno), errno, "write");
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Split dirfd/name into an fd of the directory holding the file and the file's base name. */
static int
open_parent(int dirfd, const char *name, int *ret_fd, const char **ret_base, br_err *err)
{
	const char *slash = strrchr(name, '/');
	_cleanup_free_ char *dir = NULL;

	if (slash == NULL)
		dir = xstrdup(".");
	else if (slash == name)
		dir = xstrdup("/");
	else
		dir = xstrndup(name, (size_t)(slash - name));
	const char *base = slash ? slash + 1 : name;
	if (base[0] == '\0' || strcmp(base, ".") == 0 || strcmp(base, "..") == 0)
		return br_err_set(err, BR_INVALID_ARGUMENT, "\"%s\": not a file name", name);
	int fd = openat(dirfd, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return br_err_errno(err, br_code_from_errno(errno), errno, "open directory \"%s\"",
		                    dir);
	*ret_fd = fd;
	*ret_base = base;
	return 0;
}

/* Atomic replace (see fsutil.h). The file gets exactly `mode` (umask does not apply). On
 * failure the temporary file is removed and `name` is untouched. Any thread. */
int
br_write_file_atomic(int dirfd, const char *name, const void *data, size_t len, mode_t mode,
                     br_err *err)
{
	_cleanup_close_ int parent = -1;
	_cleanup_close_ int fd = -1;
	const char *base = NULL;
	char tmp[64];

	if (open_parent(dirfd, name, &parent, &base, err) < 0)
		return br_err_wrap(err, "write \"%s\"", name);
	for (int tries = 0; fd < 0; tries++) {
		uint64_t rnd = 0;
		if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd))
			rnd ^= (uint64_t)getpid() << 32 ^ (uint64_t)tries;
		snprintf(tmp, sizeof(tmp), ".berth-tmp-%016llx", (unsigned long long)rnd);
		fd = openat(parent, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		            mode);
		if (fd < 0 && (errno != EEXIST || tries >= 16))
			return br_err_errno(err, br_code_from_errno(errno), errno,
			                    "write \"%s\": create temporary file", name);
	}
	if (fchmod(fd, mode) < 0) {
		int e = errno;
		unlinkat(parent, tmp, 0);
		return br_err_errno(err, br_code_from_errno(e), e, "write \"%s\": chmod", name);
	}
	if (br_write_all(fd, data, len, err) < 0) {
		unlinkat(parent, tmp, 0);
		return br_err_wrap(err, "write \"%s\"", name);
	}
	if (fsync(fd) < 0) {
		int e = errno;
		unlinkat(parent, tmp, 0);
		return br_err_errno(err, br_code_from_errno(e), e, "write \"%s\": sync", name);
	}
	if (close(br_steal_fd(&fd)) < 0) {
		int e = errno;
		unlinkat(parent, tmp, 0);
		return br_err_errno(err, br_code_from_errno(e), e, "write \"%s\": close", name);
	}
	if (renameat(parent, tmp, parent, base) < 0) {
		int e = errno;
		unlinkat(parent, tmp, 0);
		return br_err_errno(err, br_code_from_errno(e), e, "write \"%s\": rename", name);
	}
	if (fsync(parent) < 0)
		return br_err_errno(err, br_code_from_errno(errno), errno,
		                    "write \"%s\": sync directory", name);
	return 0;
}

/* Read a whole file (see fsutil.h). NOT_FOUND when missing, RESOURCE_EXHAUSTED past `max`,
 * INVALID_ARGUMENT for a directory. Any thread. */
int
br_read_file_at(int dirfd, const char *name, size_t max, char **ret, size_t *ret_len, br_err *err)
{
	_cleanup_close_ int fd = openat(dirfd, name, O_RDONLY | O_NOCTTY | O_CLOEXEC);
	struct stat st;

	if (fd < 0)
		return br_err_errno(err, br_code_from_errno(errno), errno, "%s", name);
	if (max > SIZE_MAX / 4)
		max = SIZE_MAX / 4;
	if (fstat(fd, &st) < 0)
		return br_err_errno(err, br_code_from_errno(errno), errno, "%s", name);
	if (S_ISDIR(st.st_mode))
		return br_err_set(err, BR_INVALID_ARGUMENT, "%s: is a directory", name);
	if (S_ISREG(st.st_mode) && (uint64_t)st.st_size > max)
		return br_err_set(err, BR_RESOURCE_EXHAUSTED,
		                  "%s: %lld bytes, more than the limit of %zu", name,
		                  (long long)st.st_size, max);

	size_t cap = S_ISREG(st.st_mode) ? (size_t)st.st_size + 1 : 4096;
	size_t len = 0;
	_cleanup_free_ char *buf = xmalloc(cap + 1);
	for (;;) {
		if (len == cap) {
			if (cap > max)
				return br_err_set(err, BR_RESOURCE_EXHAUSTED,
				                  "%s: more than the limit of %zu bytes", name,
				                  max);
			cap = cap * 2 > max + 1 ? max + 1 : cap * 2;
			buf = xrealloc(buf, cap + 1);
		}
		ssize_t n = read(fd, buf + len, cap - len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return br_err_errno(err, br_code_from_errno(errno), errno, "read %s", name);
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len > max)
		return br_err_set(err, BR_RESOURCE_EXHAUSTED,
		                  "%s: more than the limit of %zu bytes", name, max);
	buf[len] = '\0';
	*ret = br_steal_ptr(&buf);
	if (ret_len != NULL)
		*ret_len = len;
	return 0;
}

/* State of one br_rm_rf_at call. */
struct rm {
	int top_fd;         /* the directory being removed */
	uint32_t dev_major; /* its device: entries elsewhere are other mounts */
	uint32_t dev_minor;
	unsigned long moved; /* directories moved up to the top (see RM_MAX_OPEN_DEPTH) */
};

static bool
is_mount_root(const struct statx *stx)
{
	return (stx->stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) &&
	       (stx->stx_attributes & STATX_ATTR_MOUNT_ROOT);
}

static int rm_contents(struct rm *rm, int fd, const char *path, int depth, br_err *err);

/* Remove the directory fd/name (known to be a directory) and all below it. */
static int
rm_subdir(struct rm *rm, int fd, const char *name, const char *path, int depth, br_err *err)
{
	struct statx stx;

	if (statx(fd, name, AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT, STATX_TYPE, &stx) < 0) {
		if (errno == ENOENT)
			return 0;
		return br_err_errno(err, br_code_from_errno(errno), errno, "stat \"%s\"", path);
	}
	if (is_mount_root(&stx) || stx.stx_dev_major != rm->dev_major ||
	    stx.stx_dev_minor != rm->dev_minor)
		return br_err_set(err, BR_FAILED_PRECONDITION,
		                  "remove \"%s\": is a mount point (unmount it first)", path);
	if (!S_ISDIR(stx.stx_mode)) {
		if (unlinkat(fd, name, 0) < 0 && errno != ENOENT)
			return br_err_errno(err, br_code_from_errno(errno), errno, "remove \"%s\"",
			                    path);
		return 0;
	}
	if (unlinkat(fd, name, AT_REMOVEDIR) == 0 || errno == ENOENT)
		return 0;
	if (errno != ENOTEMPTY && errno != EEXIST)
		return br_err_errno(err, br_code_from_errno(errno), errno, "remove \"%s\"", path);
	if (depth >= RM_MAX_OPEN_DEPTH) {
		char moved[64];
		snprintf(moved, sizeof(moved), ".berth-rm-%lu", rm->moved++);
		if (renameat2(fd, name, rm->top_fd, moved, RENAME_NOREPLACE) < 0)
			return br_err_errno(err, br_code_from_errno(errno), errno,
			                    "remove \"%s\": move up", path);
		return 0;
	}
	_cleanup_close_ int child =
	        openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (child < 0)
		return br_err_errno(err, br_code_from_errno(errno), errno, "open \"%s\"", path);
	if (rm_contents(rm, child, path, depth + 1, err) < 0)
		return -1;
	if (unlinkat(fd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
		return br_err_errno(err, br_code_from_errno(errno), errno, "remove \"%s\"", path);
	return 0;
}

/* Empty the directory open as fd. */
static int
rm_contents(struct rm *rm, int fd, const char *path, int depth, br_err *err)
{
	int dfd = fcntl(fd, F_DUPFD_CLOEXEC, 3);

	if (dfd < 0)
		return br_err_errno(err, br_code_from_errno(errno), errno, "open \"%s\"", path);
	_cleanup_closedir_ DIR *d = fdopendir(dfd);
	if (d == NULL) {
		close(dfd);
		return br_err_errno(err, br_code_from_errno(errno), errno, "open \"%s\"", path);
	}
	unsigned long moved_before;
	do {
		moved_before = rm->moved;
		rewinddir(d);
		for (;;) {
			errno = 0;
			struct dirent *de = readdir(d);
			if (de == NULL) {
				if (errno != 0)
					return br_err_errno(err, br_code_from_errno(errno), errno,
					                    "read \"%s\"", path);
				break;
			}
			const char *name = de->d_name;
			if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
				continue;
			_cleanup_free_ char *sub = xasprintf("%s/%s", path, name);
			if (de->d_type != DT_DIR && de->d_type != DT_UNKNOWN) {
				if (unlinkat(fd, name, 0) == 0 || errno == ENOENT)
					continue;
				if (errno == EBUSY)
					return br_err_set(err, BR_FAILED_PRECONDITION,
					                  "remove \"%s\": is a mount point "
					                  "(unmount it first)",
					                  sub);
				return br_err_errno(err, br_code_from_errno(errno), errno,
				                    "remove \"%s\"", sub);
			}
			if (rm_subdir(rm, fd, name, sub, depth, err) < 0)
				return -1;
		}
		/* Only the top receives moved directories; read it again until none come. */
	} while (depth == 0 && rm->moved != moved_before);
	return 0;
}

/* Recursive removal (see fsutil.h): FAILED_PRECONDITION naming the first mount point found,
 * INVALID_ARGUMENT for "", "." and "..", errno-mapped codes otherwise. Any thread. */
int
br_rm_rf_at(int dirfd, const char *name, br_err *err)
{
	struct statx stx;
	const char *base = strrchr(name, '/') ? strrchr(name, '/') + 1 : name;

	if (name[0] == '\0' || strcmp(base, ".") == 0 || strcmp(base, "..") == 0)
		return br_err_set(err, BR_INVALID_ARGUMENT, "remove \"%s\": not a removable name",
		                  name);
	if (statx(dirfd, name, AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT, STATX_TYPE, &stx) < 0) {
		if (errno == ENOENT)
			return 0;
		return br_err_errno(err, br_code_from_errno(errno), errno, "remove \"%s\"", name);
	}
	if (is_mount_root(&stx))
		return br_err_set(err, BR_FAILED_PRECONDITION,
		                  "remove \"%s\": is a mount point (unmount it first)", name);
	if (!S_ISDIR(stx.stx_mode)) {
		if (unlinkat(dirfd, name, 0) < 0 && errno != ENOENT)
			return br_err_errno(err, br_code_from_errno(errno), errno, "remove \"%s\"",
			                    name);
		return 0;
	}
	_cleanup_close_ int fd =
	        openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		return br_err_errno(err, br_code_from_errno(errno), errno, "remove \"%s\"", name);
	}
	struct rm rm = {
	        .top_fd = fd,
	        .dev_major = stx.stx_dev_major,
	        .dev_minor = stx.stx_dev_minor,
	};
	if (rm_contents(&rm, fd, name, 0, err) < 0)
		return -1;
	if (unlinkat(dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
		return br_err_errno(err, br_code_from_errno(errno), errno, "remove \"%s\"", name);
	return 0;
}

/* True if path is the root of a mount (bind mounts included). False on any error. */
bool
br_is_mountpoint(const char *path)
{
	struct statx stx, parent;

	if (statx(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT, STATX_TYPE | STATX_INO,
	          &stx) < 0)
		return false;
	if (stx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT)
		return (stx.stx_attributes & STATX_ATTR_MOUNT_ROOT) != 0;
	/* Kernels before 5.8: a different device than the parent, or the root itself. */
	_cleanup_free_ char *up = xasprintf("%s/..", path);
	if (statx(AT_FDCWD, up, AT_NO_AUTOMOUNT, STATX_INO, &parent) < 0)
		return false;
	if (stx.stx_dev_major != parent.stx_dev_major || stx.stx_dev_minor != parent.stx_dev_minor)
		return true;
	return stx.stx_ino == parent.stx_ino;
}
