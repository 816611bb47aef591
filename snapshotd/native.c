/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The native backend: each snapshot is a plain directory <root>/<id>/fs holding the whole
 * tree. A new snapshot on a parent starts as a full copy of the parent's tree, made by
 * `cp -a` (which keeps owners, modes, times, xattrs, hard links, devices and sockets) into
 * fs.partial and renamed to fs once complete; every mount is a bind mount. It needs no
 * kernel support beyond bind mounts, at the price of space and time per snapshot.
 */
#include "snapshotd/backend.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/spawn.h"

#define CP_STDERR_MAX 512

/* Run `cp -a -T -- src dst` and wait for it; its first words of stderr go in the error. */
static int
copy_tree(const char *src, const char *dst, br_err *err)
{
	const char *argv[] = {"cp", "-a", "-T", "--", src, dst, NULL};
	_cleanup_free_ char *out = NULL;
	int status;

	if (br_spawn_run(argv, true, BR_SPAWN_CAPTURE_STDERR, CP_STDERR_MAX, &out, NULL, &status,
	                 err) < 0)
		return br_err_wrap(err, "copy %s", src);
	if (br_spawn_exit_code(status) != 0)
		return br_err_set(err, BR_INTERNAL, "copy %s: cp failed (status %d): %s", src,
		                  status, out[0] ? out : "no message");
	return 0;
}

static int
native_create(const struct snapshotd_backend *b, int64_t id, enum snapshotd_kind kind,
              int64_t parent_id, br_err *err)
{
	_cleanup_close_ int dfd = -1;
	char name[32], src[4096], dst[4096];
	br_err ignored = BR_ERR_INIT;

	snprintf(name, sizeof(name), "%" PRId64, id);
	if (mkdirat(b->root_fd, name, 0700) < 0)
		return br_err_errno(err, br_code_from_errno(errno), errno, "create %s/%s", b->root,
		                    name);
	dfd = openat(b->root_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0) {
		br_err_errno(err, br_code_from_errno(errno), errno, "open %s/%s", b->root, name);
		goto out_remove;
	}
	if (parent_id == 0) {
		if (mkdirat(dfd, "fs", 0755) < 0) {
			br_err_errno(err, br_code_from_errno(errno), errno, "create %s/%s/fs",
			             b->root, name);
			goto out_remove;
		}
		return 0;
	}
	snprintf(src, sizeof(src), "%s/%" PRId64 "/fs", b->root, parent_id);
	snprintf(dst, sizeof(dst), "%s/%s/fs.partial", b->root, name);
	if (copy_tree(src, dst, err) < 0)
		goto out_remove;
	/* fs appears only once the copy is whole. */
	if (renameat(dfd, "fs.partial", dfd, "fs") < 0) {
		br_err_errno(err, br_code_from_errno(errno), errno, "rename %s", dst);
		goto out_remove;
	}
	return 0;

out_remove:
	snapshotd_backend_remove_dir(b, id, &ignored);
	return -1;
}

static bool
native_complete(const struct snapshotd_backend *b, int64_t id)
{
	char fs[48];
	struct stat sb;

	snprintf(fs, sizeof(fs), "%" PRId64 "/fs", id);
	return fstatat(b->root_fd, fs, &sb, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(sb.st_mode);
}

static int
native_mounts(const struct snapshotd_backend *b, int64_t id, enum snapshotd_kind kind,
              const int64_t *chain, size_t n, br_arena *arena, struct br_snap_mounts_resp *ret,
              br_err *err)
{
	const char *opts[] = {"rbind", kind == SNAPSHOTD_ACTIVE ? "rw" : "ro"};

	if (kind == SNAPSHOTD_COMMITTED)
		return br_err_set(err, BR_FAILED_PRECONDITION,
		                  "a committed snapshot has no mounts; prepare or view a child");
	snapshotd_backend_one_mount(arena, "bind", snapshotd_backend_path(b, arena, id, "fs"), opts,
	                            2, ret);
	return 0;
}

static int
native_remove(const struct snapshotd_backend *b, int64_t id, br_err *err)
{
	return snapshotd_backend_remove_dir(b, id, err);
}

const struct snapshotd_backend_ops snapshotd_native_ops = {
        .name = "native",
        .create_blocks = true,
        .stacks_parents = false,
        .init = NULL,
        .create = native_create,
        .mounts = native_mounts,
        .complete = native_complete,
        .remove = native_remove,
};
