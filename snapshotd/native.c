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
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/cleanup.h"

extern char **environ;

#define CP_STDERR_MAX 512

/* Run `cp -a -T -- src dst` and wait for it; its first words of stderr go in the error. */
static int
copy_tree(const char *src, const char *dst, br_err *err)
{
	char *argv[] = {"cp", "-a", "-T", "--", (char *)src, (char *)dst, NULL};
	char out[CP_STDERR_MAX + 1];
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, defaults;
	int pipefd[2], status = 0, rc;
	size_t len = 0;
	pid_t pid;

	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return br_err_errno(err, BR_INTERNAL, errno, "copy %s: pipe", src);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, pipefd[1], 2);
	posix_spawnattr_init(&attr);
	sigemptyset(&none);
	sigemptyset(&defaults);
	sigaddset(&defaults, SIGPIPE);
	sigaddset(&defaults, SIGTERM);
	sigaddset(&defaults, SIGINT);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &defaults);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	rc = posix_spawnp(&pid, "cp", &fa, &attr, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	close(pipefd[1]);
	if (rc != 0) {
		close(pipefd[0]);
		return br_err_errno(err, BR_INTERNAL, rc, "copy %s: run cp", src);
	}
	for (;;) {
		char buf[256];
		ssize_t r = read(pipefd[0], buf, sizeof(buf));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		size_t take = (size_t)r < CP_STDERR_MAX - len ? (size_t)r : CP_STDERR_MAX - len;
		memcpy(out + len, buf, take);
		len += take;
	}
	close(pipefd[0]);
	out[len] = '\0';
	while (len > 0 && (out[len - 1] == '\n' || out[len - 1] == ' '))
		out[--len] = '\0';
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR)
			return br_err_errno(err, BR_INTERNAL, errno, "copy %s: wait for cp", src);
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return br_err_set(err, BR_INTERNAL, "copy %s: cp failed (status %d): %s", src,
		                  status, len ? out : "no message");
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
        .init = NULL,
        .create = native_create,
        .mounts = native_mounts,
        .complete = native_complete,
        .remove = native_remove,
};
