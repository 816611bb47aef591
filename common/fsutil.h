/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Filesystem helpers for code that works under a storage root. Paths below a root are always
 * resolved relative to the root's directory fd with openat2(RESOLVE_IN_ROOT |
 * RESOLVE_NO_MAGICLINKS), never by joining strings, so a name from an image or a request
 * cannot lead outside the root. Every fd returned is O_CLOEXEC. Any thread.
 */
#ifndef BR_COMMON_FSUTIL_H
#define BR_COMMON_FSUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/err.h"

/* mkdir -p with `mode` for the directories it creates. */
int br_mkdir_p(const char *path, mode_t mode, br_err *err);

/* Open `path` below `root_fd` with openat2(RESOLVE_IN_ROOT|RESOLVE_NO_MAGICLINKS) and
 * O_CLOEXEC added to `flags`. Returns the fd or -1. */
int br_openat_in_root(int root_fd, const char *path, int flags, mode_t mode, br_err *err);

/* Write `len` bytes to dirfd/name atomically: a temporary file in the same directory,
 * fsync, rename over `name`, fsync of the directory. */
int br_write_file_atomic(int dirfd, const char *name, const void *data, size_t len, mode_t mode,
                         br_err *err);

/* Read a whole file of at most `max` bytes (RESOURCE_EXHAUSTED if larger). The buffer is
 * NUL-terminated (not counted in *ret_len); the caller frees it. */
int br_read_file_at(int dirfd, const char *name, size_t max, char **ret, size_t *ret_len,
                    br_err *err);

/* Remove dirfd/name recursively without following symlinks and without crossing into other
 * mounts (a mount point found inside is an error: FAILED_PRECONDITION). Missing is success. */
int br_rm_rf_at(int dirfd, const char *name, br_err *err);

/*
 * Disk usage of dirfd/name and everything below it, as `du -s -x --block-size=1` counts it:
 * *ret_bytes is the sum of st_blocks * 512 and *ret_inodes the number of entries, the top
 * included, each hard-linked inode counted once. Symlinks are counted, never followed; a
 * mount found inside is skipped (neither counted nor entered), not an error. Entries that
 * vanish during the walk are skipped, so a tree that changes meanwhile gets an approximate
 * answer. At most a bounded number of directories is open at a time, however deep the tree.
 * Errors: NOT_FOUND when name is missing, errno-mapped codes otherwise; the out-parameters
 * are written only on success. Any thread.
 */
int br_disk_usage_at(int dirfd, const char *name, int64_t *ret_bytes, int64_t *ret_inodes,
                     br_err *err);

/* True if `path` is a mount point (compares st_dev/mnt id with the parent). */
bool br_is_mountpoint(const char *path);

/* Write all of buf to fd, retrying on EINTR and short writes. */
int br_write_all(int fd, const void *buf, size_t len, br_err *err);

/* mkdir -p of `path` (relative) below `root_fd`, each component resolved inside the root as
 * br_openat_in_root does (symlinks cannot lead out); made directories get `mode`. */
int br_mkdir_p_in_root(int root_fd, const char *path, mode_t mode, br_err *err);

/* True when `path` is absolute and clean as a mount target: starts with '/', is not "/"
 * itself, and has no empty, "." or ".." component and no trailing '/'. */
bool br_path_is_clean_abs(const char *path);

#endif
