/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of common/fsutil.c: names opened below a root cannot escape it (../, absolute
 * and relative symlinks), recursive removal never follows a symlink out and stops at mount
 * points, atomic writes, bounded reads, mkdir -p and the mount point check, and disk usage
 * (checked against an independent nftw walk): hard links counted once, symlinks not
 * followed, mounts inside skipped, trees deeper than the open-directory bound.
 */
#include <fcntl.h>
#include <ftw.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/xalloc.h"
#include "test/unit/t.h"

#define T_CONTAINS(s, sub)                                                                         \
	do {                                                                                       \
		const char *t_s_ = (s), *t_sub_ = (sub);                                           \
		if (t_s_ == NULL || strstr(t_s_, t_sub_) == NULL)                                  \
			T_FAIL_("\"%s\" does not contain \"%s\"", t_s_ ? t_s_ : "(null)", t_sub_); \
	} while (0)

static char top[64];

static void
setup(void)
{
	snprintf(top, sizeof(top), "/tmp/berth-test-fsutil-XXXXXX");
	T_NOT_NULL(mkdtemp(top));
}

static void
teardown(void)
{
	br_err err = BR_ERR_INIT;
	T_NOERR(br_rm_rf_at(AT_FDCWD, top, &err), err);
	T_OK(access(top, F_OK) < 0);
}

static void
write_text(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	T_OK(fd >= 0);
	T_EQ_INT(write(fd, text, strlen(text)), (long long)strlen(text));
	close(fd);
}

static char *
read_fd_text(int fd)
{
	char buf[256];
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	T_OK(n >= 0);
	buf[n] = '\0';
	return xstrdup(buf);
}

static char *
at(const char *rel)
{
	return xasprintf("%s/%s", top, rel);
}

static void
test_openat_in_root_confined(void)
{
	br_err err = BR_ERR_INIT;

	setup();
	_cleanup_free_ char *root = at("root");
	_cleanup_free_ char *outside = at("secret");
	_cleanup_free_ char *inside = at("root/secret");
	T_EQ_INT(mkdir(root, 0755), 0);
	write_text(outside, "outside");
	write_text(inside, "inside");
	_cleanup_free_ char *abs_link = at("root/abs");
	_cleanup_free_ char *rel_link = at("root/rel");
	_cleanup_free_ char *dir_link = at("root/up");
	T_EQ_INT(symlink(outside, abs_link), 0);                 /* absolute, to the host path */
	T_EQ_INT(symlink("../../../../../secret", rel_link), 0); /* climbs past the root */
	T_EQ_INT(symlink("/", dir_link), 0);

	_cleanup_close_ int root_fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	T_OK(root_fd >= 0);
	const char *names[] = {"secret", "../secret", "/secret",        "../../../../secret",
	                       "rel",    "up/secret", "up/../../secret"};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		int fd = br_openat_in_root(root_fd, names[i], O_RDONLY, 0, &err);
		T_NOERR(fd, err);
		_cleanup_free_ char *text = read_fd_text(fd);
		if (strcmp(text, "inside") != 0)
			T_FAIL_("%s read \"%s\"", names[i], text);
		int flags = fcntl(fd, F_GETFD);
		T_OK(flags & FD_CLOEXEC);
		close(fd);
	}
	/* The absolute symlink resolves inside the root, where its target does not exist. */
	T_ERR(br_openat_in_root(root_fd, "abs", O_RDONLY, 0, &err), err, BR_NOT_FOUND);
	T_CONTAINS(err.msg, "open \"abs\"");

	/* Creating confined too: "../new" lands in the root. */
	int fd = br_openat_in_root(root_fd, "../new", O_WRONLY | O_CREAT | O_EXCL, 0600, &err);
	T_NOERR(fd, err);
	close(fd);
	_cleanup_free_ char *created = at("root/new");
	_cleanup_free_ char *escaped = at("new");
	struct stat st;
	T_EQ_INT(stat(created, &st), 0);
	T_EQ_INT(st.st_mode & 0777, 0600);
	T_OK(access(escaped, F_OK) < 0);

	/* Magic links are refused. */
	_cleanup_close_ int slash = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	T_ERR(br_openat_in_root(slash, "/proc/self/root/etc/hostname", O_RDONLY, 0, &err), err,
	      BR_INVALID_ARGUMENT);
	teardown();
}

static void
test_rm_rf_symlinks(void)
{
	br_err err = BR_ERR_INIT;

	setup();
	_cleanup_free_ char *keep = at("keep");
	_cleanup_free_ char *keep_file = at("keep/precious");
	T_EQ_INT(mkdir(keep, 0755), 0);
	write_text(keep_file, "x");

	_cleanup_free_ char *victim = at("victim");
	_cleanup_free_ char *sub = at("victim/a/b/c");
	T_NOERR(br_mkdir_p(sub, 0755, &err), err);
	_cleanup_free_ char *f1 = at("victim/a/file");
	_cleanup_free_ char *f2 = at("victim/a/b/c/file");
	write_text(f1, "1");
	write_text(f2, "2");
	_cleanup_free_ char *l1 = at("victim/link-to-keep");
	_cleanup_free_ char *l2 = at("victim/a/b/abs-link");
	_cleanup_free_ char *fifo = at("victim/a/fifo");
	T_EQ_INT(symlink(keep, l1), 0);
	T_EQ_INT(symlink(keep_file, l2), 0);
	T_EQ_INT(mkfifo(fifo, 0600), 0);
	/* An unreadable directory inside is still removed (we are its owner). */
	_cleanup_free_ char *locked = at("victim/a/locked");
	T_EQ_INT(mkdir(locked, 0), 0);

	_cleanup_close_ int top_fd = open(top, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	T_NOERR(br_rm_rf_at(top_fd, "victim", &err), err);
	T_OK(access(victim, F_OK) < 0);
	T_EQ_INT(access(keep_file, F_OK), 0);

	/* The name itself a symlink: only the link goes. */
	_cleanup_free_ char *top_link = at("top-link");
	T_EQ_INT(symlink(keep, top_link), 0);
	T_NOERR(br_rm_rf_at(top_fd, "top-link", &err), err);
	T_OK(access(top_link, F_OK) < 0);
	T_EQ_INT(access(keep_file, F_OK), 0);

	/* Missing is success; a plain file is removed; bad names refused. */
	T_NOERR(br_rm_rf_at(top_fd, "never-existed", &err), err);
	T_NOERR(br_rm_rf_at(top_fd, "keep/precious", &err), err);
	T_OK(access(keep_file, F_OK) < 0);
	T_ERR(br_rm_rf_at(top_fd, "", &err), err, BR_INVALID_ARGUMENT);
	T_ERR(br_rm_rf_at(top_fd, "..", &err), err, BR_INVALID_ARGUMENT);
	T_ERR(br_rm_rf_at(top_fd, "keep/.", &err), err, BR_INVALID_ARGUMENT);
	teardown();
}

static void
test_rm_rf_deep(void)
{
	br_err err = BR_ERR_INIT;

	setup();
	/* Deeper than the removal keeps fds open for, with files along the way. */
	_cleanup_close_ int fd = open(top, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	T_EQ_INT(mkdirat(fd, "deep", 0755), 0);
	int cur = openat(fd, "deep", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	for (int i = 0; i < 300; i++) {
		T_EQ_INT(mkdirat(cur, "d", 0755), 0);
		int f = openat(cur, "f", O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
		T_OK(f >= 0);
		close(f);
		if (i % 50 == 0) {
			T_EQ_INT(mkdirat(cur, "side", 0755), 0);
			T_EQ_INT(symlinkat("/etc", cur, "side/etc"), 0);
		}
		int next = openat(cur, "d", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		close(cur);
		cur = next;
		T_OK(cur >= 0);
	}
	close(cur);
	T_NOERR(br_rm_rf_at(fd, "deep", &err), err);
	T_OK(faccessat(fd, "deep", F_OK, AT_SYMLINK_NOFOLLOW) < 0);
	T_EQ_INT(access("/etc/hostname", F_OK) == 0 || access("/etc/passwd", F_OK) == 0, 1);
	teardown();
}

static void
test_rm_rf_mount_point(void)
{
	br_err err = BR_ERR_INIT;

	if (geteuid() != 0)
		T_SKIP("needs root to mount");
	/* A private mount namespace: the mount goes away with this process whatever happens. */
	if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		T_SKIP("cannot create a mount namespace");
	setup();
	_cleanup_free_ char *mnt = at("victim/sub/mnt");
	_cleanup_free_ char *inner = at("victim/sub/mnt/inner");
	T_NOERR(br_mkdir_p(mnt, 0755, &err), err);
	T_EQ_INT(mount("tmpfs", mnt, "tmpfs", 0, "size=1m"), 0);
	write_text(inner, "on the mount");
	T_OK(br_is_mountpoint(mnt));

	_cleanup_close_ int fd = open(top, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	T_ERR(br_rm_rf_at(fd, "victim", &err), err, BR_FAILED_PRECONDITION);
	T_CONTAINS(err.msg, "victim/sub/mnt\": is a mount point");
	T_EQ_INT(access(inner, F_OK), 0);

	/* The mount point itself named. */
	_cleanup_free_ char *sub = at("victim/sub");
	_cleanup_close_ int sub_fd = open(sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	T_ERR(br_rm_rf_at(sub_fd, "mnt", &err), err, BR_FAILED_PRECONDITION);

	/* A bind-mounted file, as resolv.conf in a container. */
	T_EQ_INT(umount(mnt), 0);
	_cleanup_free_ char *file = at("victim/file");
	write_text(file, "x");
	T_EQ_INT(mount("/etc/hostname", file, NULL, MS_BIND, NULL), 0);
	T_ERR(br_rm_rf_at(fd, "victim", &err), err, BR_FAILED_PRECONDITION);
	T_CONTAINS(err.msg, "is a mount point");
	T_EQ_INT(umount(file), 0);
	teardown();
}

static void
test_write_file_atomic(void)
{
	br_err err = BR_ERR_INIT;

	setup();
	_cleanup_close_ int fd = open(top, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	mode_t old = umask(077);
	T_NOERR(br_write_file_atomic(fd, "f.json", "{\"a\":1}", 7, 0644, &err), err);
	umask(old);
	char *buf = NULL;
	size_t len = 0;
	T_NOERR(br_read_file_at(fd, "f.json", 1024, &buf, &len, &err), err);
	T_EQ_STR(buf, "{\"a\":1}");
	T_EQ_INT(len, 7);
	free(buf);
	struct stat st;
	T_EQ_INT(fstatat(fd, "f.json", &st, 0), 0);
	T_EQ_INT(st.st_mode & 0777, 0644);

	/* Replace: the old content is gone, no temporary file is left. */
	T_NOERR(br_write_file_atomic(fd, "f.json", "new", 3, 0600, &err), err);
	T_NOERR(br_read_file_at(fd, "f.json", 1024, &buf, &len, &err), err);
	T_EQ_STR(buf, "new");
	free(buf);
	_cleanup_closedir_ DIR *d = opendir(top);
	int entries = 0;
	for (struct dirent *de; (de = readdir(d)) != NULL;)
		if (de->d_name[0] != '.' || strncmp(de->d_name, ".berth", 6) == 0)
			entries++;
	T_EQ_INT(entries, 1);

	/* In a subdirectory, and an empty file. */
	T_EQ_INT(mkdirat(fd, "sub", 0755), 0);
	T_NOERR(br_write_file_atomic(fd, "sub/empty", "", 0, 0640, &err), err);
	T_NOERR(br_read_file_at(fd, "sub/empty", 1024, &buf, &len, &err), err);
	T_EQ_INT(len, 0);
	T_EQ_STR(buf, "");
	free(buf);

	T_ERR(br_write_file_atomic(fd, "nodir/f", "x", 1, 0644, &err), err, BR_NOT_FOUND);
	T_CONTAINS(err.msg, "write \"nodir/f\"");
	T_ERR(br_write_file_atomic(fd, "sub/", "x", 1, 0644, &err), err, BR_INVALID_ARGUMENT);
	teardown();
}

static void
test_read_file_at(void)
{
	br_err err = BR_ERR_INIT;
	char *buf = NULL;
	size_t len = 0;

	setup();
	_cleanup_free_ char *path = at("ten");
	write_text(path, "0123456789");
	T_NOERR(br_read_file_at(AT_FDCWD, path, 10, &buf, &len, &err), err);
	T_EQ_INT(len, 10);
	free(buf);
	buf = NULL;
	T_ERR(br_read_file_at(AT_FDCWD, path, 9, &buf, &len, &err), err, BR_RESOURCE_EXHAUSTED);
	T_CONTAINS(err.msg, "10 bytes, more than the limit of 9");
	T_NULL(buf);
	_cleanup_free_ char *missing = at("missing");
	T_ERR(br_read_file_at(AT_FDCWD, missing, 9, &buf, &len, &err), err, BR_NOT_FOUND);
	T_CONTAINS(err.msg, "No such file or directory");
	T_ERR(br_read_file_at(AT_FDCWD, top, 9, &buf, &len, &err), err, BR_INVALID_ARGUMENT);
	T_CONTAINS(err.msg, "is a directory");
	/* Files that do not know their size are bounded too. */
	T_ERR(br_read_file_at(AT_FDCWD, "/proc/self/maps", 16, &buf, &len, &err), err,
	      BR_RESOURCE_EXHAUSTED);
	T_NOERR(br_read_file_at(AT_FDCWD, "/proc/self/stat", 1 << 16, &buf, &len, &err), err);
	T_OK(len > 0 && strlen(buf) == len);
	free(buf);
	teardown();
}

static void
test_mkdir_p(void)
{
	br_err err = BR_ERR_INIT;

	setup();
	_cleanup_free_ char *deep = at("a/b//c/d/");
	T_NOERR(br_mkdir_p(deep, 0700, &err), err);
	_cleanup_free_ char *d = at("a/b/c/d");
	struct stat st;
	T_EQ_INT(stat(d, &st), 0);
	T_OK(S_ISDIR(st.st_mode));
	T_EQ_INT(st.st_mode & 0777, 0700);
	T_NOERR(br_mkdir_p(deep, 0700, &err), err);

	_cleanup_free_ char *file = at("a/file");
	write_text(file, "x");
	_cleanup_free_ char *under = at("a/file/sub");
	T_ERR(br_mkdir_p(file, 0700, &err), err, BR_ALREADY_EXISTS);
	T_CONTAINS(err.msg, "exists and is not a directory");
	T_ERR(br_mkdir_p(under, 0700, &err), err, BR_ALREADY_EXISTS);
	T_CONTAINS(err.msg, "a/file\": exists and is not a directory");
	T_ERR(br_mkdir_p("", 0700, &err), err, BR_INVALID_ARGUMENT);
	teardown();
}

static void
test_is_mountpoint_and_write_all(void)
{
	T_OK(br_is_mountpoint("/"));
	T_OK(br_is_mountpoint("/proc"));
	setup();
	T_OK(!br_is_mountpoint(top));
	_cleanup_free_ char *missing = at("missing");
	T_OK(!br_is_mountpoint(missing));
	teardown();

	int p[2];
	T_EQ_INT(pipe2(p, O_CLOEXEC), 0);
	br_err err = BR_ERR_INIT;
	T_NOERR(br_write_all(p[1], "hello", 5, &err), err);
	char buf[8] = {0};
	T_EQ_INT(read(p[0], buf, sizeof(buf)), 5);
	T_EQ_STR(buf, "hello");
	close(p[0]);
	signal(SIGPIPE, SIG_IGN);
	T_ERR(br_write_all(p[1], "x", 1, &err), err, BR_UNAVAILABLE);
	close(p[1]);
}

/* ---- disk usage ---- */

/* The reference: nftw without following symlinks or crossing mounts, each inode once. */
static struct {
	dev_t dev;
	ino_t ino;
} ref_seen[4096];
static size_t ref_n;
static int64_t ref_bytes, ref_inodes;

static int
ref_visit(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	for (size_t i = 0; i < ref_n; i++)
		if (ref_seen[i].dev == sb->st_dev && ref_seen[i].ino == sb->st_ino)
			return 0;
	T_OK(ref_n < sizeof(ref_seen) / sizeof(ref_seen[0]));
	ref_seen[ref_n].dev = sb->st_dev;
	ref_seen[ref_n++].ino = sb->st_ino;
	ref_bytes += (int64_t)sb->st_blocks * 512;
	ref_inodes++;
	return 0;
}

static void
reference_usage(const char *path, int64_t *bytes, int64_t *inodes)
{
	ref_n = 0;
	ref_bytes = ref_inodes = 0;
	T_EQ_INT(nftw(path, ref_visit, 16, FTW_PHYS | FTW_MOUNT), 0);
	*bytes = ref_bytes;
	*inodes = ref_inodes;
}

static void
write_size(const char *path, size_t size)
{
	_cleanup_free_ char *buf = xmalloc(size ? size : 1);
	memset(buf, 'x', size);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	T_OK(fd >= 0);
	T_EQ_INT(write(fd, buf, size), (long long)size);
	T_EQ_INT(fsync(fd), 0);
	close(fd);
}

static void
test_disk_usage(void)
{
	br_err err = BR_ERR_INIT;
	int64_t bytes = -1, inodes = -1, want_bytes = 0, want_inodes = 0;

	if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		T_SKIP("cannot create a mount namespace");
	setup();
	_cleanup_free_ char *tree = at("tree");
	_cleanup_free_ char *d = at("tree/d");
	_cleanup_free_ char *a = at("tree/a");
	_cleanup_free_ char *a2 = at("tree/d/a-again");
	_cleanup_free_ char *c = at("tree/d/c");
	_cleanup_free_ char *sym = at("tree/passwd");
	T_NOERR(br_mkdir_p(d, 0755, &err), err);
	write_size(a, 8192);
	write_size(c, 100000);
	T_EQ_INT(link(a, a2), 0);
	T_EQ_INT(symlink("/etc/passwd", sym), 0);
	_cleanup_close_ int fd = open(top, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	/* tree, d, a (twice linked: once), c, the symlink (not its target). */
	T_NOERR(br_disk_usage_at(fd, "tree", &bytes, &inodes, &err), err);
	reference_usage(tree, &want_bytes, &want_inodes);
	T_EQ_INT(inodes, 5);
	T_EQ_INT(want_inodes, 5);
	T_EQ_INT(bytes, want_bytes);
	T_OK(bytes >= 8192 + 100000);

	/* A mount inside is skipped, mount point included, not an error. */
	_cleanup_free_ char *mnt = at("tree/d/mnt");
	_cleanup_free_ char *big = at("tree/d/mnt/big");
	T_EQ_INT(mkdir(mnt, 0755), 0);
	T_EQ_INT(mount("tmpfs", mnt, "tmpfs", 0, "size=4m"), 0);
	write_size(big, 1 << 20);
	int64_t with_mount = 0, with_mount_inodes = 0;
	T_NOERR(br_disk_usage_at(fd, "tree", &with_mount, &with_mount_inodes, &err), err);
	T_EQ_INT(with_mount_inodes, 5);
	T_EQ_INT(with_mount, bytes);
	T_EQ_INT(umount(mnt), 0);
	T_NOERR(br_disk_usage_at(fd, "tree", &with_mount, &with_mount_inodes, &err), err);
	T_EQ_INT(with_mount_inodes, 6);

	/* A file, and a symlink, measured as the top: themselves only. */
	struct stat sb;
	T_EQ_INT(stat(c, &sb), 0);
	T_NOERR(br_disk_usage_at(fd, "tree/d/c", &bytes, &inodes, &err), err);
	T_EQ_INT(inodes, 1);
	T_EQ_INT(bytes, (int64_t)sb.st_blocks * 512);
	T_NOERR(br_disk_usage_at(fd, "tree/passwd", &bytes, &inodes, &err), err);
	T_EQ_INT(inodes, 1);

	/* Missing: NOT_FOUND, and the out-parameters are left alone. */
	bytes = inodes = -7;
	T_ERR(br_disk_usage_at(fd, "nothing", &bytes, &inodes, &err), err, BR_NOT_FOUND);
	T_EQ_INT(bytes, -7);
	T_EQ_INT(inodes, -7);
	teardown();
}

/* Deeper than the bound on open directories: the walk closes and reopens directories and
 * still counts every entry once, including those read after coming back up. */
static void
test_disk_usage_deep(void)
{
	br_err err = BR_ERR_INIT;
	int64_t bytes = 0, inodes = 0, want_bytes = 0, want_inodes = 0;
	char name[64];

	setup();
	_cleanup_free_ char *deep = at("deep");
	T_EQ_INT(mkdir(deep, 0755), 0);
	int cur = open(deep, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	T_OK(cur >= 0);
	int64_t made = 1;
	for (int level = 0; level < 120; level++) {
		/* Siblings on every level, so that some come after the way down in readdir order.
		 */
		for (int i = 0; i < (level % 10 == 0 ? 12 : 1); i++) {
			snprintf(name, sizeof(name), "f%d", i);
			int f = openat(cur, name, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
			T_OK(f >= 0);
			T_EQ_INT(write(f, "data", 4), 4);
			close(f);
			made++;
		}
		if (level == 60) {
			T_EQ_INT(mkdirat(cur, "side", 0755), 0);
			made++;
		}
		T_EQ_INT(mkdirat(cur, "d", 0755), 0);
		made++;
		int next = openat(cur, "d", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		T_OK(next >= 0);
		close(cur);
		cur = next;
	}
	close(cur);
	_cleanup_close_ int fd = open(top, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	T_NOERR(br_disk_usage_at(fd, "deep", &bytes, &inodes, &err), err);
	reference_usage(deep, &want_bytes, &want_inodes);
	T_EQ_INT(want_inodes, made);
	T_EQ_INT(inodes, made);
	T_EQ_INT(bytes, want_bytes);
	T_NOERR(br_rm_rf_at(fd, "deep", &err), err);
	teardown();
}

T_MAIN(T_CASE(test_openat_in_root_confined), T_CASE(test_rm_rf_symlinks), T_CASE(test_rm_rf_deep),
       T_CASE(test_rm_rf_mount_point), T_CASE(test_write_file_atomic), T_CASE(test_read_file_at),
       T_CASE(test_mkdir_p), T_CASE(test_is_mountpoint_and_write_all), T_CASE(test_disk_usage),
       T_CASE(test_disk_usage_deep))
