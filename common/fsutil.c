/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Filesystem helpers for code that works below a storage root: opening names confined to a
 * root with openat2(2), writing files atomically (temporary file, fsync, rename, fsync of the
 * directory), bounded whole-file reads, and a recursive removal that never follows a symlink
 * and stops at mount points, so that removing a container's or a snapshot's directory can
 * never reach into the host or into a still-mounted filesystem, and a disk usage walk held to
 * the same rules.
 */
#include "common/fsutil.h"

#include <dirent.h>
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
#include <sys/sysmacros.h>
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

/* ---- disk usage ---- */

#define DU_STATX_MASK (STATX_TYPE | STATX_INO | STATX_NLINK | STATX_BLOCKS)

/* One directory on the walk's path. Only the deepest RM_MAX_OPEN_DEPTH are open; the walk
 * reopens the others when it comes back to them and skips what it had read. */
struct du_frame {
	DIR *d;             /* NULL while closed */
	char *name;         /* its name in its parent; NULL for the top */
	uint64_t ino;       /* to recognise it when reopened */
	unsigned long read; /* entries read so far */
};

/* State of one br_disk_usage_at call. */
struct du {
	int top_fd; /* the top directory, to reopen closed frames from */
	uint32_t dev_major, dev_minor;
	int64_t bytes, inodes;
	uint64_t *links; /* open-addressing set of hard-linked inodes seen (0: empty slot) */
	size_t n_links, cap_links;
	bool zero_ino_seen;
	struct du_frame *frames;
	size_t depth, cap, first_open; /* frames[first_open..depth) are open */
	const char *top_name;          /* for errors */
};

static size_t
ino_slot(uint64_t ino, size_t mask)
{
	ino *= 0x9e3779b97f4a7c15ULL;
	return (size_t)(ino ^ (ino >> 32)) & mask;
}

/* Record `ino`; true if it was recorded before. */
static bool
du_link_seen(struct du *du, uint64_t ino)
{
	if (ino == 0) {
		bool seen = du->zero_ino_seen;
		du->zero_ino_seen = true;
		return seen;
	}
	if ((du->n_links + 1) * 2 > du->cap_links) {
		size_t cap = du->cap_links ? du->cap_links * 2 : 256;
		uint64_t *links = xcalloc(cap, sizeof(*links));
		for (size_t i = 0; i < du->cap_links; i++) {
			if (du->links[i] == 0)
				continue;
			size_t j = ino_slot(du->links[i], cap - 1);
			while (links[j] != 0)
				j = (j + 1) & (cap - 1);
			links[j] = du->links[i];
		}
		free(du->links);
		du->links = links;
		du->cap_links = cap;
	}
	size_t i = ino_slot(ino, du->cap_links - 1);
	for (; du->links[i] != 0; i = (i + 1) & (du->cap_links - 1))
		if (du->links[i] == ino)
			return true;
	du->links[i] = ino;
	du->n_links++;
	return false;
}

static void
du_count(struct du *du, const struct statx *stx)
{
	if (!S_ISDIR(stx->stx_mode) && stx->stx_nlink > 1 && du_link_seen(du, stx->stx_ino))
		return;
	du->bytes += (int64_t)stx->stx_blocks * 512;
	du->inodes++;
}

/* True if fd is the directory `ino` on the walk's filesystem. */
static bool
du_same_dir(const struct du *du, int fd, uint64_t ino)
{
	struct stat sb;

	return fstat(fd, &sb) == 0 && S_ISDIR(sb.st_mode) && (uint64_t)sb.st_ino == ino &&
	       major(sb.st_dev) == du->dev_major && minor(sb.st_dev) == du->dev_minor;
}

static bool
gone_errno(int e)
{
	return e == ENOENT || e == ENOTDIR || e == ELOOP;
}

/* Open frame k again: from `hint_fd` (an fd that may be it, consumed; -1: none), else down
 * from the top by name. 1: open, 0: it is gone (renamed or removed), -1: error. */
static int
du_reopen(struct du *du, size_t k, int hint_fd, br_err *err)
{
	struct du_frame *f = &du->frames[k];
	int fd = hint_fd;

	if (fd >= 0 && !du_same_dir(du, fd, f->ino)) {
		close(fd);
		fd = -1;
	}
	if (fd < 0) {
		/* A new open file description (not a dup): a directory's read offset is shared
		 * by its dups. */
		fd = openat(du->top_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		for (size_t i = 1; fd >= 0 && i <= k; i++) {
			int next = openat(fd, du->frames[i].name,
			                  O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			int e = errno;
			close(fd);
			fd = next;
			errno = e;
			if (fd >= 0 && !du_same_dir(du, fd, du->frames[i].ino)) {
				close(fd);
				fd = -1;
				errno = ENOENT;
			}
		}
		if (fd < 0)
			return gone_errno(errno)
			               ? 0
			               : br_err_errno(err, br_code_from_errno(errno), errno,
			                              "disk usage of \"%s\": reopen", du->top_name);
	}
	f->d = fdopendir(fd);
	if (f->d == NULL) {
		int e = errno;
		close(fd);
		return br_err_errno(err, br_code_from_errno(e), e, "disk usage of \"%s\"",
		                    du->top_name);
	}
	for (unsigned long i = 0; i < f->read && readdir(f->d) != NULL; i++)
		;
	du->first_open = k;
	return 1;
}

/* Push directory `fd` (consumed) named `name` onto the walk; close the shallowest open frame
 * when more than RM_MAX_OPEN_DEPTH are open. */
static int
du_push(struct du *du, int fd, const char *name, uint64_t ino, br_err *err)
{
	DIR *d = fdopendir(fd);

	if (d == NULL) {
		int e = errno;
		close(fd);
		return br_err_errno(err, br_code_from_errno(e), e, "disk usage of \"%s\": open %s",
		                    du->top_name, name ? name : ".");
	}
	if (du->depth == du->cap) {
		du->cap = du->cap ? du->cap * 2 : 16;
		du->frames = xrealloc(du->frames, du->cap * sizeof(*du->frames));
	}
	du->frames[du->depth++] = (struct du_frame){d, name ? xstrdup(name) : NULL, ino, 0};
	if (du->depth - du->first_open > RM_MAX_OPEN_DEPTH) {
		closedir(du->frames[du->first_open].d);
		du->frames[du->first_open++].d = NULL;
	}
	return 0;
}

/* Pop the deepest frame; if its parent was closed, reopen it (through "..", checked). */
static int
du_pop(struct du *du, br_err *err)
{
	struct du_frame *f = &du->frames[--du->depth];
	int up = -1;

	if (du->depth > 0 && du->frames[du->depth - 1].d == NULL && f->d != NULL)
		up = openat(dirfd(f->d), "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (f->d != NULL)
		closedir(f->d);
	free(f->name);
	if (du->first_open > du->depth)
		du->first_open = du->depth;
	while (du->depth > 0 && du->frames[du->depth - 1].d == NULL) {
		int rc = du_reopen(du, du->depth - 1, up, err);
		up = -1;
		if (rc != 0)
			return rc < 0 ? -1 : 0;
		/* It is gone: so is the rest of it. */
		free(du->frames[--du->depth].name);
		du->first_open = du->depth;
	}
	return 0;
}

/* Count one entry of the deepest frame; push it if it is a directory to enter. */
static int
du_entry(struct du *du, const char *name, br_err *err)
{
	DIR *d = du->frames[du->depth - 1].d;
	struct statx stx;

	if (statx(dirfd(d), name, AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT, DU_STATX_MASK, &stx) < 0) {
		if (errno == ENOENT)
			return 0;
		return br_err_errno(err, br_code_from_errno(errno), errno,
		                    "disk usage of \"%s\": stat %s", du->top_name, name);
	}
	if (is_mount_root(&stx) || stx.stx_dev_major != du->dev_major ||
	    stx.stx_dev_minor != du->dev_minor)
		return 0; /* another filesystem: not ours to count */
	du_count(du, &stx);
	if (!S_ISDIR(stx.stx_mode))
		return 0;
	int fd = openat(dirfd(d), name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return gone_errno(errno)
		               ? 0
		               : br_err_errno(err, br_code_from_errno(errno), errno,
		                              "disk usage of \"%s\": open %s", du->top_name, name);
	if (!du_same_dir(du, fd, stx.stx_ino)) {
		close(fd); /* replaced or mounted over since the stat */
		return 0;
	}
	return du_push(du, fd, name, stx.stx_ino, err);
}

static int
du_walk(struct du *du, uint64_t top_ino, br_err *err)
{
	int fd = openat(du->top_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return br_err_errno(err, br_code_from_errno(errno), errno, "disk usage of \"%s\"",
		                    du->top_name);
	if (du_push(du, fd, NULL, top_ino, err) < 0)
		return -1;
	while (du->depth > 0) {
		struct du_frame *f = &du->frames[du->depth - 1];
		errno = 0;
		struct dirent *de = readdir(f->d);
		if (de == NULL) {
			if (errno != 0)
				return br_err_errno(err, br_code_from_errno(errno), errno,
				                    "disk usage of \"%s\": read a directory",
				                    du->top_name);
			if (du_pop(du, err) < 0)
				return -1;
			continue;
		}
		f->read++;
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (du_entry(du, de->d_name, err) < 0)
			return -1;
	}
	return 0;
}

static void
du_fini(struct du *du)
{
	for (size_t i = 0; i < du->depth; i++) {
		if (du->frames[i].d != NULL)
			closedir(du->frames[i].d);
		free(du->frames[i].name);
	}
	free(du->frames);
	free(du->links);
	if (du->top_fd >= 0)
		close(du->top_fd);
}

/* Disk usage (see fsutil.h). Any thread. */
int
br_disk_usage_at(int dirfd, const char *name, int64_t *ret_bytes, int64_t *ret_inodes, br_err *err)
{
	struct statx stx;
	struct du du = {.top_fd = -1, .top_name = name};
	int rc = 0;

	if (statx(dirfd, name, AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT, DU_STATX_MASK, &stx) < 0)
		return br_err_errno(err, br_code_from_errno(errno), errno, "disk usage of \"%s\"",
		                    name);
	du.dev_major = stx.stx_dev_major;
	du.dev_minor = stx.stx_dev_minor;
	du_count(&du, &stx);
	if (S_ISDIR(stx.stx_mode)) {
		du.top_fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (du.top_fd < 0)
			rc = br_err_errno(err, br_code_from_errno(errno), errno,
			                  "disk usage of \"%s\"", name);
		else
			rc = du_walk(&du, stx.stx_ino, err);
	}
	du_fini(&du);
	if (rc < 0)
		return -1;
	*ret_bytes = du.bytes;
	*ret_inodes = du.inodes;
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

bool
br_path_is_clean_abs(const char *path)
{
	if (path == NULL || path[0] != '/' || path[1] == '\0')
		return false;
	for (const char *p = path; *p != '\0';) {
		const char *comp = p + 1, *end = strchr(comp, '/');
		size_t len = end ? (size_t)(end - comp) : strlen(comp);
		if (len == 0 || (len == 1 && comp[0] == '.') ||
		    (len == 2 && comp[0] == '.' && comp[1] == '.'))
			return false;
		p = comp + len;
	}
	return true;
}

int
br_mkdir_p_in_root(int root_fd, const char *path, mode_t mode, br_err *err)
{
	_cleanup_free_ char *copy = xstrdup(path);
	size_t len = strlen(copy);

	for (size_t i = 0; i <= len; i++) {
		if (copy[i] != '/' && copy[i] != '\0')
			continue;
		if (i == 0 || copy[i - 1] == '/')
			continue;
		char saved = copy[i];
		copy[i] = '\0';
		/* The parent resolved inside the root; the last component made in it. */
		char *slash = strrchr(copy, '/');
		_cleanup_close_ int parent =
		        slash ? (*slash = '\0',
		                 br_openat_in_root(root_fd, copy, O_PATH | O_DIRECTORY, 0, err))
		              : fcntl(root_fd, F_DUPFD_CLOEXEC, 0);
		if (slash)
			*slash = '/';
		if (parent < 0)
			return slash ? -1 : br_err_errno(err, BR_INTERNAL, errno, "dup");
		const char *name = slash ? slash + 1 : copy;
		if (mkdirat(parent, name, mode) < 0 && errno != EEXIST)
			return br_err_errno(err, br_code_from_errno(errno), errno, "mkdir \"%s\"",
			                    copy);
		copy[i] = saved;
	}
	return 0;
}
