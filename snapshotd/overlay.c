/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The overlayfs backend. Each snapshot is <root>/<id>/ with `fs` (its own files: for an
 * active snapshot on parents, the overlay upperdir) and `work` (the overlay workdir). Nothing
 * is ever copied: a child's mount stacks the parents' fs directories as lowerdirs, nearest
 * parent first, exactly as containerd's overlay snapshotter does. The mount forms are those
 * documented in common/proto/snapshots.h.
 *
 * The kernel takes mount options in one page, so a deep chain can produce a lowerdir option
 * that cannot be mounted: such a chain is refused with RESOURCE_EXHAUSTED naming its depth
 * rather than handed to a caller whose mount would fail.
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

static int
overlay_init(struct snapshotd_backend *b, br_err *err)
{
	if (strpbrk(b->root, ",:") != NULL)
		return br_err_set(err, BR_INVALID_ARGUMENT,
		                  "overlayfs: directory \"%s\" contains ',' or ':', which overlay "
		                  "mount options cannot carry",
		                  b->root);
	return 0;
}

static int
overlay_create(const struct snapshotd_backend *b, int64_t id, enum snapshotd_kind kind,
               int64_t parent_id, br_err *err)
{
	_cleanup_close_ int dfd = -1;
	char name[32];
	br_err ignored = BR_ERR_INIT;

	snprintf(name, sizeof(name), "%" PRId64, id);
	if (mkdirat(b->root_fd, name, 0700) < 0)
		return br_err_errno(err, br_code_from_errno(errno), errno, "create %s/%s", b->root,
		                    name);
	dfd = openat(b->root_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	/* fs comes last: its presence marks a complete snapshot directory. */
	if (dfd < 0 || mkdirat(dfd, "work", 0711) < 0 || mkdirat(dfd, "fs", 0755) < 0) {
		br_err_errno(err, br_code_from_errno(errno), errno, "create %s/%s", b->root, name);
		snapshotd_backend_remove_dir(b, id, &ignored);
		return -1;
	}
	return 0;
}

static bool
is_dir_at(int dirfd, const char *path)
{
	struct stat sb;

	return fstatat(dirfd, path, &sb, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(sb.st_mode);
}

static bool
overlay_complete(const struct snapshotd_backend *b, int64_t id)
{
	char fs[48], work[48];

	snprintf(fs, sizeof(fs), "%" PRId64 "/fs", id);
	snprintf(work, sizeof(work), "%" PRId64 "/work", id);
	return is_dir_at(b->root_fd, fs) && is_dir_at(b->root_fd, work);
}

/* "lowerdir=<root>/<chain[0]>/fs:<root>/<chain[1]>/fs:..." in `arena`. */
static char *
lowerdir_option(const struct snapshotd_backend *b, const int64_t *chain, size_t n, br_arena *arena)
{
	size_t root_len = strlen(b->root);
	size_t cap = strlen("lowerdir=") + n * (root_len + 32);
	char *opt = br_arena_alloc(arena, cap);
	size_t len = 0;

	len += (size_t)snprintf(opt + len, cap - len, "lowerdir=");
	for (size_t i = 0; i < n; i++)
		len += (size_t)snprintf(opt + len, cap - len, "%s%s/%" PRId64 "/fs", i ? ":" : "",
		                        b->root, chain[i]);
	return opt;
}

static int
overlay_mounts(const struct snapshotd_backend *b, int64_t id, enum snapshotd_kind kind,
               const int64_t *chain, size_t n, br_arena *arena, struct br_snap_mounts_resp *ret,
               br_err *err)
{
	const char *opts[3];
	size_t n_opts = 0, total = 0;

	if (kind == SNAPSHOTD_COMMITTED)
		return br_err_set(err, BR_FAILED_PRECONDITION,
		                  "a committed snapshot has no mounts; prepare or view a child");
	if (n == 0) {
		const char *bind_opts[] = {"rbind", kind == SNAPSHOTD_ACTIVE ? "rw" : "ro"};
		snapshotd_backend_one_mount(arena, "bind",
		                            snapshotd_backend_path(b, arena, id, "fs"), bind_opts,
		                            2, ret);
		return 0;
	}
	if (kind == SNAPSHOTD_VIEW && n == 1) {
		static const char *const ro_opts[] = {"rbind", "ro"};
		snapshotd_backend_one_mount(arena, "bind",
		                            snapshotd_backend_path(b, arena, chain[0], "fs"),
		                            ro_opts, 2, ret);
		return 0;
	}
	opts[n_opts++] = lowerdir_option(b, chain, n, arena);
	if (kind == SNAPSHOTD_ACTIVE) {
		opts[n_opts++] = br_arena_printf(arena, "upperdir=%s/%" PRId64 "/fs", b->root, id);
		opts[n_opts++] = br_arena_printf(arena, "workdir=%s/%" PRId64 "/work", b->root, id);
	}
	for (size_t i = 0; i < n_opts; i++)
		total += strlen(opts[i]) + (i ? 1 : 0);
	if (total > SNAPSHOTD_OVERLAY_OPTIONS_MAX)
		return br_err_set(err, BR_RESOURCE_EXHAUSTED,
		                  "overlay mount options for a chain of %zu parent layers take %zu "
		                  "bytes, more than the limit of %d",
		                  n, total, SNAPSHOTD_OVERLAY_OPTIONS_MAX);
	snapshotd_backend_one_mount(arena, "overlay", "overlay", opts, n_opts, ret);
	return 0;
}

static int
overlay_remove(const struct snapshotd_backend *b, int64_t id, br_err *err)
{
	return snapshotd_backend_remove_dir(b, id, err);
}

const struct snapshotd_backend_ops snapshotd_overlay_ops = {
        .name = "overlayfs",
        .create_blocks = false,
        .stacks_parents = true,
        .init = overlay_init,
        .create = overlay_create,
        .mounts = overlay_mounts,
        .complete = overlay_complete,
        .remove = overlay_remove,
};
