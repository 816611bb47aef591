/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Bundles on disk: <state>/taskd/bundles/<ns>/<id>/{config.json, rootfs/, task/}. The rootfs
 * is the container's snapshot mounted as snapshotd describes it (containerd's Mount: type,
 * source, options); options that are mount flags become flags, the rest the data string.
 * Also the one runtime invocation taskd makes itself: a forced delete for a task whose shim
 * is gone. Everything here blocks: workers, or start-up before the loop runs.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/spawn.h"
#include "common/fsutil.h"
#include "common/xalloc.h"
#include "taskd/taskd.h"

#define MOUNT_DATA_MAX 4095 /* the kernel copies one page of options */

struct mount_flag {
	const char *name;
	bool clear;
	unsigned long flag;
};

static const struct mount_flag mount_flags[] = {
        {"ro", false, MS_RDONLY},
        {"rw", true, MS_RDONLY},
        {"bind", false, MS_BIND},
        {"rbind", false, MS_BIND | MS_REC},
        {"nosuid", false, MS_NOSUID},
        {"suid", true, MS_NOSUID},
        {"nodev", false, MS_NODEV},
        {"dev", true, MS_NODEV},
        {"noexec", false, MS_NOEXEC},
        {"exec", true, MS_NOEXEC},
        {"sync", false, MS_SYNCHRONOUS},
        {"async", true, MS_SYNCHRONOUS},
        {"noatime", false, MS_NOATIME},
        {"atime", true, MS_NOATIME},
        {"nodiratime", false, MS_NODIRATIME},
        {"relatime", false, MS_RELATIME},
        {"strictatime", false, MS_STRICTATIME},
        {"defaults", false, 0},
};

/* Split options into flags and a data string. */
static int
parse_options(const struct br_strlist *opts, unsigned long *ret_flags, char *data, size_t cap,
              br_err *err)
{
	unsigned long flags = 0;
	size_t len = 0;

	data[0] = '\0';
	for (size_t i = 0; i < opts->n; i++) {
		const char *o = opts->v[i];
		bool known = false;
		for (size_t j = 0; j < sizeof(mount_flags) / sizeof(mount_flags[0]); j++) {
			if (strcmp(o, mount_flags[j].name) == 0) {
				if (mount_flags[j].clear)
					flags &= ~mount_flags[j].flag;
				else
					flags |= mount_flags[j].flag;
				known = true;
				break;
			}
		}
		if (known)
			continue;
		size_t olen = strlen(o);
		if (len + olen + 2 > cap)
			return br_err_set(err, BR_INVALID_ARGUMENT,
			                  "mount options are longer than the kernel's limit of %zu "
			                  "bytes (too many layers?)",
			                  cap - 1);
		if (len > 0)
			data[len++] = ',';
		memcpy(data + len, o, olen + 1);
		len += olen;
	}
	*ret_flags = flags;
	return 0;
}

static int
mount_one(const struct br_mount *m, const char *target, br_err *err)
{
	char data[MOUNT_DATA_MAX + 1];
	unsigned long flags = 0;
	bool bind = strcmp(m->type, "bind") == 0;

	if (parse_options(&m->options, &flags, data, sizeof(data), err) < 0)
		return br_err_wrap(err, "mount %s at %s", m->type, target);
	if (bind)
		flags |= MS_BIND;
	/* A bind mount ignores MS_RDONLY until it is remounted. */
	if (mount(m->source, target, bind ? NULL : m->type, flags & ~(bind ? MS_RDONLY : 0),
	          data[0] && !bind ? data : NULL) < 0)
		return br_err_errno(err, br_code_from_errno(errno), errno, "mount %s %s at %s",
		                    m->type, m->source, target);
	if (bind && (flags & MS_RDONLY) &&
	    mount(NULL, target, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | (flags & MS_REC), NULL) <
	            0) {
		int e = errno;
		umount2(target, MNT_DETACH);
		return br_err_errno(err, BR_INTERNAL, e, "remount %s read-only", target);
	}
	return 0;
}

int
taskd_mount_rootfs(const struct br_mount *mounts, size_t n, const char *target, br_err *err)
{
	if (n == 0)
		return br_err_set(err, BR_INTERNAL, "the snapshot has no mounts");
	if (mkdir(target, 0755) < 0 && errno != EEXIST)
		return br_err_errno(err, BR_INTERNAL, errno, "create %s", target);
	for (size_t i = 0; i < n; i++) {
		if (mount_one(&mounts[i], target, err) < 0) {
			br_err ignored = BR_ERR_INIT;
			taskd_unmount_rootfs(target, &ignored);
			return -1;
		}
	}
	return 0;
}

int
taskd_unmount_rootfs(const char *target, br_err *err)
{
	for (int i = 0; i < 16 && br_is_mountpoint(target); i++) {
		if (umount2(target, UMOUNT_NOFOLLOW) == 0)
			continue;
		if (errno == EBUSY && umount2(target, MNT_DETACH | UMOUNT_NOFOLLOW) == 0)
			continue;
		if (errno == EINVAL || errno == ENOENT)
			return 0;
		return br_err_errno(err, BR_INTERNAL, errno, "unmount %s", target);
	}
	return 0;
}

int
taskd_bundle_remove(const char *bundle_dir, br_err *err)
{
	_cleanup_free_ char *rootfs = xasprintf("%s/rootfs", bundle_dir);
	_cleanup_free_ char *parent = xstrdup(bundle_dir);
	char *slash = strrchr(parent, '/');

	if (taskd_unmount_rootfs(rootfs, err) < 0)
		return br_err_wrap(err, "remove bundle %s", bundle_dir);
	if (slash == NULL)
		return br_err_set(err, BR_INTERNAL, "bundle %s: not an absolute path", bundle_dir);
	*slash = '\0';
	_cleanup_close_ int dirfd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		return errno == ENOENT ? 0
		                       : br_err_errno(err, BR_INTERNAL, errno, "open %s", parent);
	if (br_rm_rf_at(dirfd, slash + 1, err) < 0)
		return br_err_wrap(err, "remove bundle %s", bundle_dir);
	return 0;
}

int
taskd_runtime_force_delete(const char *runtime, const char *root, const char *id, br_err *err)
{
	_cleanup_free_ char *root_opt = xasprintf("--root=%s", root);
	const char *argv[] = {runtime, root_opt, "delete", "--force", id, NULL};
	int status;

	if (br_spawn_run(argv, false, 0, 0, NULL, NULL, &status, err) < 0)
		return br_err_wrap(err, "%s delete", runtime);
	if (br_spawn_exit_code(status) != 0)
		return br_err_set(err, BR_INTERNAL, "%s delete --force %s failed (status %d)",
		                  runtime, id, br_spawn_exit_code(status));
	return 0;
}

int
taskd_write_file(const char *dir, const char *name, const char *data, br_err *err)
{
	_cleanup_close_ int dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (dirfd < 0)
		return br_err_errno(err, BR_INTERNAL, errno, "open %s", dir);
	return br_write_file_atomic(dirfd, name, data, strlen(data), 0600, err);
}
