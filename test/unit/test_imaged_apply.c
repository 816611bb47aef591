/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Layer application (imaged/apply.c) against tar streams built here with libarchive's writer:
 * ordinary entries and their attributes, gzip and zstd, both whiteout forms, digests, limits,
 * and hostile layers (".." names, absolute names, writes through symlinks, hard links out of
 * the root, device nodes). Each case unpacks into a private temporary directory that holds
 * the layer root next to an "outside" directory, so that an escape would be visible there.
 */
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "common/digest.h"
#include "common/oci.h"
#include "imaged/apply.h"
#include "test/unit/t.h"

/* ------------------------------------------------------------------ building tars */

struct tarb {
	struct archive *a;
	unsigned char *buf;
	size_t len, cap;
};

static la_ssize_t
tb_write_cb(struct archive *a, void *data, const void *buf, size_t len)
{
	struct tarb *t = data;
	if (t->len + len > t->cap) {
		t->cap = (t->len + len) * 2;
		t->buf = realloc(t->buf, t->cap);
		T_NOT_NULL(t->buf);
	}
	memcpy(t->buf + t->len, buf, len);
	t->len += len;
	return (la_ssize_t)len;
}

static void
tb_open(struct tarb *t)
{
	memset(t, 0, sizeof(*t));
	t->a = archive_write_new();
	T_OK(archive_write_set_format_pax_restricted(t->a) == ARCHIVE_OK);
	archive_write_set_bytes_in_last_block(t->a, 1);
	T_OK(archive_write_open(t->a, t, NULL, tb_write_cb, NULL) == ARCHIVE_OK);
}

static struct archive_entry *
tb_entry(const char *name, mode_t type, mode_t mode)
{
	struct archive_entry *e = archive_entry_new();
	archive_entry_set_pathname(e, name);
	archive_entry_set_filetype(e, type);
	archive_entry_set_perm(e, mode);
	archive_entry_set_mtime(e, 1500000000, 123456789);
	return e;
}

static void
tb_put(struct tarb *t, struct archive_entry *e, const void *data, size_t len)
{
	T_OK(archive_write_header(t->a, e) == ARCHIVE_OK);
	if (len > 0)
		T_EQ_INT(archive_write_data(t->a, data, len), len);
	archive_entry_free(e);
}

static void
tb_file(struct tarb *t, const char *name, const char *content, mode_t mode)
{
	struct archive_entry *e = tb_entry(name, AE_IFREG, mode);
	archive_entry_set_size(e, (la_int64_t)strlen(content));
	tb_put(t, e, content, strlen(content));
}

static void
tb_dir(struct tarb *t, const char *name, mode_t mode)
{
	tb_put(t, tb_entry(name, AE_IFDIR, mode), NULL, 0);
}

static void
tb_symlink(struct tarb *t, const char *name, const char *target)
{
	struct archive_entry *e = tb_entry(name, AE_IFLNK, 0777);
	archive_entry_set_symlink(e, target);
	tb_put(t, e, NULL, 0);
}

static void
tb_hardlink(struct tarb *t, const char *name, const char *target)
{
	struct archive_entry *e = tb_entry(name, AE_IFREG, 0644);
	archive_entry_set_hardlink(e, target);
	archive_entry_set_size(e, 0);
	tb_put(t, e, NULL, 0);
}

static void
tb_device(struct tarb *t, const char *name, mode_t type, unsigned major, unsigned minor)
{
	struct archive_entry *e = tb_entry(name, type, 0666);
	archive_entry_set_rdevmajor(e, major);
	archive_entry_set_rdevminor(e, minor);
	tb_put(t, e, NULL, 0);
}

static void
tb_close(struct tarb *t)
{
	T_OK(archive_write_close(t->a) == ARCHIVE_OK);
	archive_write_free(t->a);
	t->a = NULL;
}

/* Compress a whole buffer with libarchive's gzip or zstd filter (raw format). */
static void
compress_buf(const struct tarb *in, int filter, struct tarb *out)
{
	memset(out, 0, sizeof(*out));
	out->a = archive_write_new();
	T_OK(archive_write_set_format_raw(out->a) == ARCHIVE_OK);
	T_OK(archive_write_add_filter(out->a, filter) == ARCHIVE_OK);
	archive_write_set_bytes_in_last_block(out->a, 1);
	T_OK(archive_write_open(out->a, out, NULL, tb_write_cb, NULL) == ARCHIVE_OK);
	struct archive_entry *e = archive_entry_new();
	archive_entry_set_pathname(e, "data");
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_size(e, (la_int64_t)in->len);
	T_OK(archive_write_header(out->a, e) == ARCHIVE_OK);
	T_EQ_INT(archive_write_data(out->a, in->buf, in->len), in->len);
	archive_entry_free(e);
	tb_close(out);
}

/* ------------------------------------------------------------------ applying */

struct mem_source {
	const unsigned char *p;
	size_t len, off, chunk;
	size_t fail_at; /* fail with CANCELED once this many bytes were read; 0: never */
};

static ssize_t
mem_read(void *data, const void **ret_buf, br_err *err)
{
	struct mem_source *m = data;
	if (m->fail_at != 0 && m->off >= m->fail_at)
		return br_err_set(err, BR_CANCELED, "canceled");
	size_t n = m->len - m->off;
	if (n > m->chunk)
		n = m->chunk;
	*ret_buf = m->p + m->off;
	m->off += n;
	return (ssize_t)n;
}

struct env {
	char dir[64];
	char root[96];
	char outside[96];
	int root_fd;
};

/* A private directory with root/ (the layer root) and outside/; removed after the case. */
static void
env_setup(struct env *env)
{
	int status = 0;

	snprintf(env->dir, sizeof(env->dir), "/tmp/berth-test-apply-XXXXXX");
	T_NOT_NULL(mkdtemp(env->dir));
	fflush(NULL);
	pid_t pid = fork();
	T_OK(pid >= 0);
	if (pid != 0) {
		char cmd[128];
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", env->dir);
		if (system(cmd) != 0)
			status = 1 << 8;
		if (WIFSIGNALED(status))
			_exit(1);
		_exit(WIFEXITED(status) ? WEXITSTATUS(status) : 1);
	}
	snprintf(env->root, sizeof(env->root), "%s/root", env->dir);
	snprintf(env->outside, sizeof(env->outside), "%s/outside", env->dir);
	T_OK(mkdir(env->root, 0755) == 0);
	T_OK(mkdir(env->outside, 0755) == 0);
	env->root_fd = open(env->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	T_OK(env->root_fd >= 0);
}

static int
apply_mode(struct env *env, const struct tarb *t, int comp, enum imaged_whiteouts wh,
           struct imaged_apply_result *res, br_err *err)
{
	struct mem_source m = {.p = t->buf, .len = t->len, .chunk = 777};
	struct imaged_apply_opts opts = {
	        .layer = "sha256:test",
	        .compression = comp,
	        .whiteouts = wh,
	};
	return imaged_apply_layer(env->root_fd, mem_read, &m, &opts, res, err);
}

static int
apply(struct env *env, const struct tarb *t, struct imaged_apply_result *res, br_err *err)
{
	return apply_mode(env, t, BR_OCI_COMP_NONE, IMAGED_WHITEOUT_OVERLAY, res, err);
}

static char *
path_in(const char *dir, const char *rel)
{
	static char buf[4][512];
	static int i;
	i = (i + 1) % 4;
	snprintf(buf[i], sizeof(buf[i]), "%s/%s", dir, rel);
	return buf[i];
}

static void
check_content(const char *path, const char *want)
{
	char buf[256] = {0};
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		T_FAIL_("open %s: %s", path, strerror(errno));
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	T_OK(n >= 0);
	T_EQ_STR(buf, want);
}

static bool
exists(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0;
}

static void
check_msg(const br_err *err, const char *needle)
{
	if (strstr(err->msg, needle) == NULL)
		T_FAIL_("error \"%s\" does not contain \"%s\"", err->msg, needle);
}

/* ------------------------------------------------------------------ cases */

static void
test_normalize(void)
{
	char *s;
	const char *cases[][2] = {
	        {"a/b", "a/b"}, {"/a//./b/", "a/b"}, {"./", ""},     {"/", ""},
	        {".", ""},      {"a/./b/.", "a/b"},  {"...", "..."}, {"..a/b..", "..a/b.."},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		s = imaged_layer_path_normalize(cases[i][0]);
		T_NOT_NULL(s);
		T_EQ_STR(s, cases[i][1]);
		free(s);
	}
	T_NULL(imaged_layer_path_normalize(".."));
	T_NULL(imaged_layer_path_normalize("../x"));
	T_NULL(imaged_layer_path_normalize("a/../../x"));
	T_NULL(imaged_layer_path_normalize("/a/.."));
}

static void
test_regular_entries(void)
{
	struct env env;
	struct tarb t;
	struct imaged_apply_result res;
	br_err err = BR_ERR_INIT;
	struct stat st, st2;
	char link[64] = {0}, want[BR_DIGEST_BUF];

	env_setup(&env);
	tb_open(&t);
	tb_dir(&t, "etc/", 0755);
	tb_file(&t, "etc/hostname", "box\n", 0644);
	struct archive_entry *e = tb_entry("usr/bin/su", AE_IFREG, 04755);
	archive_entry_set_uid(e, 1000);
	archive_entry_set_gid(e, 2000);
	archive_entry_set_size(e, 3);
	archive_entry_xattr_add_entry(e, "user.note", "hi", 2);
	archive_entry_xattr_add_entry(e, "trusted.berth", "t", 1);
	archive_entry_xattr_add_entry(e, "trusted.overlay.redirect", "/etc", 4);
	tb_put(&t, e, "su\n", 3);
	tb_symlink(&t, "usr/bin/sh", "/bin/busybox");
	tb_hardlink(&t, "usr/bin/su2", "usr/bin/su");
	tb_device(&t, "run/fifo", AE_IFIFO, 0, 0);
	tb_file(&t, "./a/b/c/deep", "deep", 0600);
	tb_dir(&t, "etc/", 0700); /* the same directory again: kept, attributes updated */
	tb_close(&t);

	T_NOERR(apply(&env, &t, &res, &err), err);
	T_EQ_INT(res.entries, 8);
	T_EQ_INT(res.skipped_devices, 0);
	T_OK(res.skipped_xattrs >= 1); /* pax writes each one twice: SCHILY and LIBARCHIVE */
	T_EQ_INT(res.size, t.len);
	T_EQ_INT(res.tar_size, t.len);
	br_digest_buf(t.buf, t.len, want);
	T_EQ_STR(res.digest, want);
	T_EQ_STR(res.diff_id, want);

	check_content(path_in(env.root, "etc/hostname"), "box\n");
	T_OK(stat(path_in(env.root, "etc"), &st) == 0);
	T_EQ_INT(st.st_mode & 07777, 0700);
	T_EQ_INT(st.st_mtim.tv_sec, 1500000000); /* set after etc/hostname was written */

	T_OK(stat(path_in(env.root, "usr/bin/su"), &st) == 0);
	T_EQ_INT(st.st_mode & 07777, 04755); /* the setuid bit survives the chown */
	T_EQ_INT(st.st_uid, 1000);
	T_EQ_INT(st.st_gid, 2000);
	T_EQ_INT(st.st_mtim.tv_sec, 1500000000);
	T_EQ_INT(st.st_mtim.tv_nsec, 123456789);
	char xv[16] = {0};
	T_EQ_INT(getxattr(path_in(env.root, "usr/bin/su"), "user.note", xv, sizeof(xv)), 2);
	T_EQ_STR(xv, "hi");
	T_EQ_INT(getxattr(path_in(env.root, "usr/bin/su"), "trusted.berth", xv, sizeof(xv)), 1);
	T_OK(getxattr(path_in(env.root, "usr/bin/su"), "trusted.overlay.redirect", xv, sizeof(xv)) <
	     0);

	T_OK(stat(path_in(env.root, "usr/bin/su2"), &st2) == 0);
	T_EQ_INT(st2.st_ino, st.st_ino);
	T_OK(readlink(path_in(env.root, "usr/bin/sh"), link, sizeof(link) - 1) > 0);
	T_EQ_STR(link, "/bin/busybox");
	T_OK(lstat(path_in(env.root, "run/fifo"), &st) == 0);
	T_OK(S_ISFIFO(st.st_mode));
	check_content(path_in(env.root, "a/b/c/deep"), "deep");
	T_OK(stat(path_in(env.root, "a/b"), &st) == 0);
	T_EQ_INT(st.st_mode & 07777, 0755); /* implicit parents */
}

static void
test_compressed(void)
{
	struct env env;
	struct tarb t, gz, zst;
	struct imaged_apply_result res;
	br_err err = BR_ERR_INIT;
	char tar_digest[BR_DIGEST_BUF], gz_digest[BR_DIGEST_BUF], zst_digest[BR_DIGEST_BUF];

	env_setup(&env);
	tb_open(&t);
	tb_file(&t, "hello", "hello world\n", 0644);
	tb_close(&t);
	compress_buf(&t, ARCHIVE_FILTER_GZIP, &gz);
	compress_buf(&t, ARCHIVE_FILTER_ZSTD, &zst);
	br_digest_buf(t.buf, t.len, tar_digest);
	br_digest_buf(gz.buf, gz.len, gz_digest);
	br_digest_buf(zst.buf, zst.len, zst_digest);

	T_NOERR(apply_mode(&env, &gz, BR_OCI_COMP_GZIP, IMAGED_WHITEOUT_OVERLAY, &res, &err), err);
	T_EQ_STR(res.digest, gz_digest);
	T_EQ_STR(res.diff_id, tar_digest);
	T_EQ_INT(res.size, gz.len);
	T_EQ_INT(res.tar_size, t.len);
	check_content(path_in(env.root, "hello"), "hello world\n");

	T_NOERR(apply_mode(&env, &zst, BR_OCI_COMP_ZSTD, IMAGED_WHITEOUT_OVERLAY, &res, &err), err);
	T_EQ_STR(res.digest, zst_digest);
	T_EQ_STR(res.diff_id, tar_digest);

	/* detection */
	T_NOERR(apply_mode(&env, &gz, -1, IMAGED_WHITEOUT_OVERLAY, &res, &err), err);
	T_EQ_STR(res.diff_id, tar_digest);
	T_NOERR(apply_mode(&env, &t, -1, IMAGED_WHITEOUT_OVERLAY, &res, &err), err);
	T_EQ_STR(res.diff_id, tar_digest);

	/* the media type and the data disagree */
	int rc = apply_mode(&env, &t, BR_OCI_COMP_GZIP, IMAGED_WHITEOUT_OVERLAY, &res, &err);
	T_ERR(rc, err, BR_INVALID_ARGUMENT);
	check_msg(&err, "layer sha256:test: data is not gzip-compressed");
	rc = apply_mode(&env, &gz, BR_OCI_COMP_ZSTD, IMAGED_WHITEOUT_OVERLAY, &res, &err);
	T_ERR(rc, err, BR_INVALID_ARGUMENT);
	rc = apply_mode(&env, &gz, BR_OCI_COMP_NONE, IMAGED_WHITEOUT_OVERLAY, &res, &err);
	T_ERR(rc, err, BR_INVALID_ARGUMENT);
	check_msg(&err, "layer sha256:test");

	/* a corrupt gzip stream */
	gz.buf[gz.len / 2] ^= 0xff;
	gz.buf[gz.len / 2 + 1] ^= 0xff;
	rc = apply_mode(&env, &gz, BR_OCI_COMP_GZIP, IMAGED_WHITEOUT_OVERLAY, &res, &err);
	T_ERR(rc, err, BR_INVALID_ARGUMENT);
}

static void
test_trailing_bytes_hashed(void)
{
	struct env env;
	struct tarb t;
	struct imaged_apply_result res;
	br_err err = BR_ERR_INIT;
	char want[BR_DIGEST_BUF];

	env_setup(&env);
	tb_open(&t);
	tb_file(&t, "f", "x", 0644);
	tb_close(&t);
	/* Docker's tars end with padding past the end-of-archive blocks. */
	t.buf = realloc(t.buf, t.len + 9000);
	memset(t.buf + t.len, 0, 9000);
	t.len += 9000;
	br_digest_buf(t.buf, t.len, want);
	T_NOERR(apply(&env, &t, &res, &err), err);
	T_EQ_STR(res.diff_id, want);
	T_EQ_INT(res.tar_size, t.len);
}

static void
test_diffid_mismatch(void)
{
	struct env env;
	struct tarb t;
	struct imaged_apply_result res;
	br_err err = BR_ERR_INIT;
	char want[BR_DIGEST_BUF], other[BR_DIGEST_BUF];

	env_setup(&env);
	tb_open(&t);
	tb_file(&t, "f", "x", 0644);
	tb_close(&t);
	br_digest_buf(t.buf, t.len, want);
	br_digest_buf("other", 5, other);
	T_NOERR(apply(&env, &t, &res, &err), err);
	T_NOERR(imaged_apply_verify(&res, "sha256:l", want, want, &err), err);
	T_NOERR(imaged_apply_verify(&res, "sha256:l", NULL, want, &err), err);
	T_ERR(imaged_apply_verify(&res, "sha256:l", want, other, &err), err,
	      BR_FAILED_PRECONDITION);
	check_msg(&err, "layer sha256:l: diffID mismatch: the image config says");
	check_msg(&err, other);
	check_msg(&err, want);
	T_ERR(imaged_apply_verify(&res, "sha256:l", other, want, &err), err,
	      BR_FAILED_PRECONDITION);
	check_msg(&err, "digest mismatch");
}

static void
test_whiteouts_overlay(void)
{
	struct env env;
	struct tarb t;
	struct imaged_apply_result res;
	br_err err = BR_ERR_INIT;
	struct stat st;
	char v[8] = {0};

	env_setup(&env);
	tb_open(&t);
	tb_dir(&t, "etc/", 0755);
	tb_file(&t, "etc/.wh.gone", "", 0644);
	tb_dir(&t, "var/", 0755);
	tb_file(&t, "var/.wh..wh..opq", "", 0644);
	tb_file(&t, "var/new", "n", 0644);
	tb_file(&t, "tmp/.wh..wh.plnk", "", 0644); /* AUFS metadata: ignored */
	tb_file(&t, "opt/x", "x", 0644);
	tb_file(&t, "opt/.wh.x", "", 0644);      /* a whiteout replaces what the layer wrote */
	tb_device(&t, "dev/wh", AE_IFCHR, 0, 0); /* a whiteout already in overlay form */
	tb_close(&t);

	T_NOERR(apply(&env, &t, &res, &err), err);
	T_OK(lstat(path_in(env.root, "etc/gone"), &st) == 0);
	T_OK(S_ISCHR(st.st_mode));
	T_EQ_INT(st.st_rdev, makedev(0, 0));
	T_OK(!exists(path_in(env.root, "etc/.wh.gone")));
	T_EQ_INT(getxattr(path_in(env.root, "var"), "trusted.overlay.opaque", v, sizeof(v)), 1);
	T_EQ_STR(v, "y");
	T_OK(!exists(path_in(env.root, "var/.wh..wh..opq")));
	check_content(path_in(env.root, "var/new"), "n");
	T_OK(!exists(path_in(env.root, "tmp/.wh..wh.plnk")));
	T_OK(lstat(path_in(env.root, "opt/x"), &st) == 0);
	T_OK(S_ISCHR(st.st_mode));
	T_OK(lstat(path_in(env.root, "dev/wh"), &st) == 0);
	T_OK(S_ISCHR(st.st_mode));
	T_EQ_INT(res.skipped_devices, 0);

	/* ".wh.." names nothing */
	tb_open(&t);
	tb_file(&t, "a/.wh..", "", 0644);
	tb_close(&t);
	T_ERR(apply(&env, &t, &res, &err), err, BR_INVALID_ARGUMENT);
	check_msg(&err, "names no entry");
}

static void
test_whiteouts_delete(void)
{
	struct env env;
	struct tarb t;
	struct imaged_apply_result res;
	br_err err = BR_ERR_INIT;

	env_setup(&env);
	/* a lower layer, as a full tree */
	tb_open(&t);
	tb_file(&t, "etc/gone", "g", 0644);
	tb_file(&t, "etc/kept", "k", 0644);
	tb_file(&t, "var/old/deep/file", "o", 0644);
	tb_file(&t, "var/old2", "o", 0644);
	tb_file(&t, "srv/before", "b", 0644);
	tb_close(&t);
	T_NOERR(apply_mode(&env, &t, BR_OCI_COMP_NONE, IMAGED_WHITEOUT_DELETE, &res, &err), err);

	tb_open(&t);
	tb_file(&t, "etc/.wh.gone", "", 0644);
	tb_file(&t, "etc/.wh.never-existed", "", 0644);
	tb_file(&t, "nodir/.wh.x", "", 0644);
	tb_dir(&t, "var/", 0755);
	tb_file(&t, "var/.wh..wh..opq", "", 0644);
	tb_file(&t, "var/new", "n", 0644);
	tb_file(&t, "srv/new/file", "n", 0644); /* written before the opaque marker */
	tb_file(&t, "srv/.wh..wh..opq", "", 0644);
	tb_close(&t);
	T_NOERR(apply_mode(&env, &t, BR_OCI_COMP_NONE, IMAGED_WHITEOUT_DELETE, &res, &err), err);

	T_OK(!exists(path_in(env.root, "etc/gone")));
	check_content(path_in(env.root, "etc/kept"), "k");
	T_OK(!exists(path_in(env.root, "var/old")));
	T_OK(!exists(path_in(env.root, "var/old2")));
	check_content(path_in(env.root, "var/new"), "n");
	T_OK(!exists(path_in(env.root, "srv/before")));
	check_content(path_in(env.root, "srv/new/file"), "n");
	T_OK(!exists(path_in(env.root, "nodir")));
	char v[8];
	T_OK(getxattr(path_in(env.root, "var"), "trusted.overlay.opaque", v, sizeof(v)) < 0);
}

static void
test_dotdot_refused(void)
{
	const char *names[] = {"../escape", "a/../../escape", "a/b/../../../escape", ".."};
	struct env env;
	struct imaged_apply_result res;
	br_err err = BR_ERR_INIT;

	env_setup(&env);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		struct tarb t;
		char want[128];
		tb_open(&t);
		tb_file(&t, "ok", "fine", 0644);
		tb_file(&t, names[i], "pwned", 0644);
		tb_close(&t);
		T_ERR(apply(&env, &t, &res, &err), err, BR_INVALID_ARGUMENT);
		snprintf(want, sizeof(want),
		         "layer sha256:test: entry \"%s\": path escapes the layer root", names[i]);
		check_msg(&err, want);
		T_OK(!exists(path_in(env.dir, "escape")));
		T_OK(!exists(path_in(env.root, "escape")));
	}
}

static void
test_absolute_inside(void)
{
	struct env env;
	struct tarb t;
	struct imaged_apply_result res;
	br_err err = BR_ERR_INIT;

	env_setup(&env);
	tb_open(&t);
	tb_file(&t, "/abs/path", "inside", 0644);
	tb_file(&t, "//double//slash", "inside2", 0644);
	char outside_abs[256];
	snprintf(outside_abs, sizeof(outside_abs), "%s/pwned", env.outside);
	tb_file(&t, outside_abs, "inside3", 0644);
	tb_close(&t);
	T_NOERR(apply(&env, &t, &res, &err), err);
	check_content(path_in(env.root, "abs/path"), "inside");
	check_content(path_in(env.root, "double/slash"), "inside2");
	check_content(path_in(env.root, outside_abs + 1), "inside3");
	T_OK(!exists(path_in(env.outside, "pwned")));
}

static void
test_symlink_not_followed(void)
{
	struct env env;
	struct tarb t;
	struct imaged_apply_result res;
	br_err err = BR_ERR_INIT;
	char through_root[256];

	env_setup(&env);
	/* evil -> / followed by a name through it that, if followed, would land in outside/ */
	snprintf(through_root, sizeof(through_root), "evil%s/pwned", env.outside);
	tb_open(&t);
	tb_symlink(&t, "evil", "/");
	tb_file(&t, through_root, "pwned", 0644);
	tb_close(&t);
	T_ERR(apply(&env, &t, &res, &err), err, BR_INVALID_ARGUMENT);
	check_msg(&err, "\"evil\" is a symlink, and entries are never written through symlinks");
	T_OK(!exists(path_in(env.outside, "pwned")));

	/* the same through a relative link, and as a directory entry */
	tb_open(&t);
	tb_symlink(&t, "rel", "../outside");
	tb_dir(&t, "rel/sub/", 0755);
	tb_close(&t);
	T_ERR(apply(&env, &t, &res, &err), err, BR_INVALID_ARGUMENT);
	check_msg(&err, "entry \"rel/sub/\": \"rel\" is a symlink");
	T_OK(!exists(path_in(env.outside, "sub")));

	/* a file entry that replaces a symlink replaces it, without writing to its target */
	int fd = open(path_in(env.outside, "target"), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	T_OK(fd >= 0);
	T_OK(write(fd, "orig", 4) == 4);
	close(fd);
	tb_open(&t);
	tb_symlink(&t, "s", "../outside/target");
	tb_file(&t, "s", "new", 0644);
	tb_symlink(&t, "d", "../outside");
	tb_dir(&t, "d", 0700);
	tb_file(&t, "d/inside", "i", 0644);
	tb_close(&t);
	T_NOERR(apply(&env, &t, &res, &err), err);
	check_content(path_in(env.outside, "target"), "orig");
	check_content(path_in(env.root, "s"), "new");
	check_content(path_in(env.root, "d/inside"), "i");
	T_OK(!exists(path_in(env.outside, "inside")));
	struct stat st;
	T_OK(stat(env.outside, &st) == 0);
	T_EQ_INT(st.st_mode & 07777, 0755);
}

static void
test_hardlinks_stay_inside(void)
{
	struct env env;
	struct tarb t;
	struct imaged_apply_result res;
	br_err err = BR_ERR_INIT;
	struct stat st, outside_st;
	char abs_target[256];

	env_setup(&env);
	int fd = open(path_in(env.outside, "secret"), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	T_OK(fd >= 0);
	close(fd);
	T_OK(stat(path_in(env.outside, "secret"), &outside_st) == 0);

	tb_open(&t);
	tb_hardlink(&t, "hl", "../../etc/passwd");
	tb_close(&t);
	T_ERR(apply(&env, &t, &res, &err), err, BR_INVALID_ARGUMENT);
	check_msg(&err,
	          "entry \"hl\": hard link target \"../../etc/passwd\" escapes the layer root");

	tb_open(&t);
	tb_hardlink(&t, "hl", "../outside/secret");
	tb_close(&t);
	T_ERR(apply(&env, &t, &res, &err), err, BR_INVALID_ARGUMENT);
	check_msg(&err, "escapes the layer root");

	/* an absolute target is read inside the root, where it does not exist */
	snprintf(abs_target, sizeof(abs_target), "%s/secret", env.outside);
	tb_open(&t);
	tb_hardlink(&t, "hl", abs_target);
	tb_close(&t);
	T_ERR(apply(&env, &t, &res, &err), err, BR_INVALID_ARGUMENT);
	check_msg(&err, "is not in the layer");
	T_OK(!exists(path_in(env.root, "hl")));

	tb_open(&t);
	tb_hardlink(&t, "hl", "/etc/passwd");
	tb_close(&t);
	T_ERR(apply(&env, &t, &res, &err), err, BR_INVALID_ARGUMENT);
	check_msg(&err, "entry \"hl\": hard link target \"/etc/passwd\" is not in the layer");

	/* through a symlink inside the layer: not followed */
	tb_open(&t);
	tb_symlink(&t, "out", "../outside");
	tb_hardlink(&t, "hl", "out/secret");
	tb_close(&t);
	T_ERR(apply(&env, &t, &res, &err), err, BR_INVALID_ARGUMENT);
	check_msg(&err, "\"out\" is a symlink");

	/* once the layer has etc/passwd, the absolute target means that file */
	tb_open(&t);
	tb_file(&t, "etc/passwd", "root:x:0:0::/root:/bin/sh\n", 0644);
	tb_hardlink(&t, "hl", "/etc/passwd");
	tb_close(&t);
	T_NOERR(apply(&env, &t, &res, &err), err);
	T_OK(stat(path_in(env.root, "hl"), &st) == 0);
	struct stat inside;
	T_OK(stat(path_in(env.root, "etc/passwd"), &inside) == 0);
	T_EQ_INT(st.st_ino, inside.st_ino);
	T_OK(st.st_ino != outside_st.st_ino);
	T_OK(stat(path_in(env.outside, "secret"), &st) == 0);
	T_EQ_INT(st.st_nlink, 1);

	/* a link to a directory */
	tb_open(&t);
	tb_dir(&t, "dir", 0755);
	tb_hardlink(&t, "hl2", "dir");
	tb_close(&t);
	T_ERR(apply(&env, &t, &res, &err), err, BR_INVALID_ARGUMENT);
	check_msg(&err, "is a directory");
}

static void
test_devices_skipped(void)
{
	struct env env;
	struct tarb t;
	struct imaged_apply_result res;
	br_err err = BR_ERR_INIT;

	env_setup(&env);
	tb_open(&t);
	tb_device(&t, "dev/null", AE_IFCHR, 1, 3);
	tb_device(&t, "dev/sda", AE_IFBLK, 8, 0);
	tb_device(&t, "dev/zero-block", AE_IFBLK, 0, 0);
	tb_file(&t, "after", "a", 0644);
	tb_close(&t);
	T_NOERR(apply(&env, &t, &res, &err), err);
	T_EQ_INT(res.skipped_devices, 3);
	T_OK(!exists(path_in(env.root, "dev/null")));
	T_OK(!exists(path_in(env.root, "dev/sda")));
	T_OK(!exists(path_in(env.root, "dev/zero-block")));
	check_content(path_in(env.root, "after"), "a");
}

static void
test_replacements(void)
{
	struct env env;
	struct tarb t;
	struct imaged_apply_result res;
	br_err err = BR_ERR_INIT;
	struct stat st;

	env_setup(&env);
	tb_open(&t);
	tb_file(&t, "x", "file", 0644);
	tb_dir(&t, "x", 0755); /* a directory replaces the file */
	tb_file(&t, "x/in", "in", 0644);
	tb_file(&t, "y/in", "in", 0644);
	tb_file(&t, "y", "file", 0644); /* a file replaces the directory and its contents */
	tb_file(&t, "z/in", "in", 0644);
	tb_file(&t, "z", "file", 0644);
	tb_file(&t, "z2", "z2", 0644); /* the cached parent "z" is gone: the walk starts over */
	tb_close(&t);
	T_NOERR(apply(&env, &t, &res, &err), err);
	T_OK(stat(path_in(env.root, "x"), &st) == 0 && S_ISDIR(st.st_mode));
	check_content(path_in(env.root, "x/in"), "in");
	check_content(path_in(env.root, "y"), "file");
	check_content(path_in(env.root, "z"), "file");

	/* an entry below a regular file */
	tb_open(&t);
	tb_file(&t, "f", "file", 0644);
	tb_file(&t, "f/g", "g", 0644);
	tb_close(&t);
	T_ERR(apply(&env, &t, &res, &err), err, BR_INVALID_ARGUMENT);
	check_msg(&err, "entry \"f/g\": \"f\" is not a directory");
}

static void
test_limits(void)
{
	struct env env;
	struct tarb t;
	struct imaged_apply_result res;
	br_err err = BR_ERR_INIT;
	char big[6000];

	env_setup(&env);
	tb_open(&t);
	for (int i = 0; i < 5; i++) {
		char name[16];
		snprintf(name, sizeof(name), "f%d", i);
		tb_file(&t, name, "0123456789", 0644);
	}
	tb_close(&t);
	struct mem_source m = {.p = t.buf, .len = t.len, .chunk = 4096};
	struct imaged_apply_opts opts = {.layer = "sha256:lim", .max_entries = 3};
	T_ERR(imaged_apply_layer(env.root_fd, mem_read, &m, &opts, &res, &err), err,
	      BR_RESOURCE_EXHAUSTED);
	check_msg(&err, "layer sha256:lim: more than 3 entries");

	m.off = 0;
	opts.max_entries = 0;
	opts.max_bytes = 2048;
	T_ERR(imaged_apply_layer(env.root_fd, mem_read, &m, &opts, &res, &err), err,
	      BR_RESOURCE_EXHAUSTED);
	check_msg(&err, "layer sha256:lim: uncompressed size exceeds the limit of 2048 bytes");

	/* a name longer than the limit */
	memset(big, 'a', sizeof(big));
	big[sizeof(big) - 1] = '\0';
	for (size_t i = 100; i < sizeof(big) - 1; i += 100)
		big[i] = '/';
	tb_open(&t);
	tb_file(&t, big, "x", 0644);
	tb_close(&t);
	T_ERR(apply(&env, &t, &res, &err), err, BR_INVALID_ARGUMENT);
	check_msg(&err, "name longer than 4096 bytes");
}

static void
test_source_errors(void)
{
	struct env env;
	struct tarb t;
	struct imaged_apply_result res;
	br_err err = BR_ERR_INIT;
	char data[20000];

	env_setup(&env);
	memset(data, 'd', sizeof(data) - 1);
	data[sizeof(data) - 1] = '\0';
	tb_open(&t);
	tb_file(&t, "big", data, 0644);
	tb_file(&t, "after", "a", 0644);
	tb_close(&t);
	struct mem_source m = {.p = t.buf, .len = t.len, .chunk = 1000, .fail_at = 5000};
	struct imaged_apply_opts opts = {.layer = "sha256:src"};
	T_ERR(imaged_apply_layer(env.root_fd, mem_read, &m, &opts, &res, &err), err, BR_CANCELED);
	check_msg(&err, "layer sha256:src");
	check_msg(&err, "canceled");

	/* truncated stream */
	m = (struct mem_source){.p = t.buf, .len = 3000, .chunk = 1000};
	T_ERR(imaged_apply_layer(env.root_fd, mem_read, &m, &opts, &res, &err), err,
	      BR_INVALID_ARGUMENT);
	check_msg(&err, "layer sha256:src");

	/* garbage, with detection */
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (char)(i * 7919 % 251);
	m = (struct mem_source){.p = (unsigned char *)data, .len = sizeof(data), .chunk = 999};
	opts.compression = -1;
	T_ERR(imaged_apply_layer(env.root_fd, mem_read, &m, &opts, &res, &err), err,
	      BR_INVALID_ARGUMENT);

	/* empty input is an empty layer */
	m = (struct mem_source){.p = (unsigned char *)data, .len = 0, .chunk = 999};
	opts.compression = BR_OCI_COMP_NONE;
	T_NOERR(imaged_apply_layer(env.root_fd, mem_read, &m, &opts, &res, &err), err);
	T_EQ_INT(res.entries, 0);
}

/* Every path below `dir`, depth first in name order, one per line: "a\na/b\n". */
static void
list_tree(const char *dir, const char *prefix, char *out, size_t cap)
{
	struct dirent **names;
	int n = scandir(dir, &names, NULL, alphasort);
	T_OK(n >= 0);
	for (int i = 0; i < n; i++) {
		const char *d = names[i]->d_name;
		char rel[256], sub[512];
		struct stat st;
		if (strcmp(d, ".") != 0 && strcmp(d, "..") != 0) {
			snprintf(rel, sizeof(rel), "%s%s", prefix, d);
			size_t len = strlen(out);
			snprintf(out + len, cap - len, "%s\n", rel);
			snprintf(sub, sizeof(sub), "%s/%s", dir, d);
			T_OK(lstat(sub, &st) == 0);
			if (S_ISDIR(st.st_mode)) {
				strcat(rel, "/");
				list_tree(sub, rel, out, cap);
			}
		}
		free(names[i]);
	}
	free(names);
}

/* A full tree with content below opaque/ at depths 1 to 4, then a layer that makes opaque/
 * opaque and writes opaque/sub/ and opaque/sub/deeper/file, its marker first or last. */
static void
check_opaque_nested(bool marker_first)
{
	struct env env;
	struct tarb t;
	struct imaged_apply_result res;
	br_err err = BR_ERR_INIT;
	char tree[512] = {0};
	struct stat st;

	env_setup(&env);
	tb_open(&t);
	tb_file(&t, "opaque/old1", "1", 0644);
	tb_file(&t, "opaque/sub/old", "2", 0644);
	tb_file(&t, "opaque/sub/deeper/old2", "3", 0644);
	tb_file(&t, "opaque/gone/a/b/old3", "4", 0644);
	tb_file(&t, "other/keep", "k", 0644);
	tb_close(&t);
	T_NOERR(apply_mode(&env, &t, BR_OCI_COMP_NONE, IMAGED_WHITEOUT_DELETE, &res, &err), err);

	tb_open(&t);
	if (marker_first)
		tb_file(&t, "opaque/.wh..wh..opq", "", 0644);
	tb_dir(&t, "opaque/sub/", 0700); /* listed; opaque/sub/deeper/ is only implied */
	tb_file(&t, "opaque/sub/deeper/file", "new", 0644);
	if (!marker_first)
		tb_file(&t, "opaque/.wh..wh..opq", "", 0644);
	tb_close(&t);
	T_NOERR(apply_mode(&env, &t, BR_OCI_COMP_NONE, IMAGED_WHITEOUT_DELETE, &res, &err), err);

	list_tree(path_in(env.root, "opaque"), "", tree, sizeof(tree));
	T_EQ_STR(tree, "sub\nsub/deeper\nsub/deeper/file\n");
	check_content(path_in(env.root, "opaque/sub/deeper/file"), "new");
	T_OK(stat(path_in(env.root, "opaque/sub"), &st) == 0);
	T_EQ_INT(st.st_mode & 07777, 0700);
	check_content(path_in(env.root, "other/keep"), "k");
}

static void
test_opaque_delete_nested_marker_first(void)
{
	check_opaque_nested(true);
}

static void
test_opaque_delete_nested_marker_last(void)
{
	check_opaque_nested(false);
}

/* Markers repeated, nested and interleaved with entries: each keeps what the layer wrote. */
static void
test_opaque_delete_repeated(void)
{
	struct env env;
	struct tarb t;
	struct imaged_apply_result res;
	br_err err = BR_ERR_INIT;
	char tree[512] = {0};

	env_setup(&env);
	tb_open(&t);
	tb_file(&t, "o/old", "o", 0644);
	tb_file(&t, "o/sub/old", "o", 0644);
	tb_file(&t, "o/sub/deeper/old", "o", 0644);
	tb_file(&t, "o/x/old", "o", 0644);
	tb_close(&t);
	T_NOERR(apply_mode(&env, &t, BR_OCI_COMP_NONE, IMAGED_WHITEOUT_DELETE, &res, &err), err);

	tb_open(&t);
	tb_file(&t, "o/sub/deeper/file", "f", 0644);
	tb_file(&t, "o/sub/.wh..wh..opq", "", 0644);
	tb_file(&t, "o/x/y/.wh..wh..opq", "", 0644); /* the marker alone keeps o/x/y */
	tb_file(&t, "o/.wh..wh..opq", "", 0644);
	tb_file(&t, "o/new", "n", 0644);
	tb_file(&t, "o/.wh..wh..opq", "", 0644);
	tb_file(&t, "o/sub/.wh..wh..opq", "", 0644);
	tb_close(&t);
	T_NOERR(apply_mode(&env, &t, BR_OCI_COMP_NONE, IMAGED_WHITEOUT_DELETE, &res, &err), err);
	list_tree(path_in(env.root, "o"), "", tree, sizeof(tree));
	T_EQ_STR(tree, "new\nsub\nsub/deeper\nsub/deeper/file\nx\nx/y\n");
}

/* A lower directory as an overlay lower layer would hold it. */
static void
make_lower_dir(const char *lower, const char *rel, mode_t mode, uid_t uid, gid_t gid)
{
	const char *path = path_in(lower, rel);
	T_OK(mkdir(path, 0700) == 0);
	T_OK(chown(path, uid, gid) == 0);
	T_OK(chmod(path, mode) == 0);
}

static int
apply_overlay_lowers(int root_fd, const struct tarb *t, const char *const *lowers, size_t n_lowers,
                     br_err *err)
{
	struct imaged_apply_result res;
	struct mem_source m = {.p = t->buf, .len = t->len, .chunk = 777};
	struct imaged_apply_opts opts = {
	        .layer = "sha256:test",
	        .compression = BR_OCI_COMP_NONE,
	        .whiteouts = IMAGED_WHITEOUT_OVERLAY,
	        .lower_dirs = lowers,
	        .n_lower_dirs = n_lowers,
	};
	return imaged_apply_layer(root_fd, mem_read, &m, &opts, &res, err);
}

static void
check_dir(const char *path, mode_t mode, uid_t uid, gid_t gid)
{
	struct stat st;
	if (lstat(path, &st) < 0)
		T_FAIL_("lstat %s: %s", path, strerror(errno));
	T_OK(S_ISDIR(st.st_mode));
	if ((st.st_mode & 07777) != mode || st.st_uid != uid || st.st_gid != gid)
		T_FAIL_("%s: %04o %u:%u, expected %04o %u:%u", path, st.st_mode & 07777, st.st_uid,
		        st.st_gid, mode, uid, gid);
}

/* Lower directories for the implied-parent tests: a sticky tmp with its own times, a home
 * with a private user directory, a set-group-id srv. */
static void
implied_lowers(const char *lower)
{
	make_lower_dir(lower, "tmp", 01777, 0, 0);
	const struct timespec tmp_times[2] = {{1400000000, 0}, {1400000000, 5}};
	T_OK(utimensat(AT_FDCWD, path_in(lower, "tmp"), tmp_times, 0) == 0);
	make_lower_dir(lower, "home", 0755, 0, 0);
	make_lower_dir(lower, "home/user", 0750, 1000, 1000);
	make_lower_dir(lower, "srv", 02770, 0, 50);
}

/* Entries that write into those directories without listing them. */
static void
implied_entries(struct tarb *t)
{
	tb_file(t, "tmp/.wh.x", "", 0644);
	tb_file(t, "home/user/file", "f", 0644);
	tb_file(t, "srv/f", "f", 0644);
}

static void
test_implicit_parent_from_lower(void)
{
	struct env env;
	struct tarb t;
	br_err err = BR_ERR_INIT;
	struct stat st;
	char lower[128];

	if (geteuid() != 0)
		T_SKIP("needs root to chown");
	env_setup(&env);
	snprintf(lower, sizeof(lower), "%s/lower", env.dir);
	T_OK(mkdir(lower, 0755) == 0);
	implied_lowers(lower);

	tb_open(&t);
	implied_entries(&t);
	tb_dir(&t, "srv/", 0711); /* listed after it was implied: the listing wins */
	tb_close(&t);

	/* without lower directories: as before */
	T_OK(mkdir(path_in(env.dir, "upper0"), 0755) == 0);
	int upper0_fd = open(path_in(env.dir, "upper0"), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	T_OK(upper0_fd >= 0);
	T_NOERR(apply_overlay_lowers(upper0_fd, &t, NULL, 0, &err), err);
	close(upper0_fd);
	check_dir(path_in(env.dir, "upper0/tmp"), 0755, 0, 0);
	check_dir(path_in(env.dir, "upper0/home/user"), 0755, 0, 0);

	const char *lowers[] = {lower};
	T_NOERR(apply_overlay_lowers(env.root_fd, &t, lowers, 1, &err), err);
	check_dir(path_in(env.root, "tmp"), 01777, 0, 0);
	T_OK(lstat(path_in(env.root, "tmp/x"), &st) == 0 && S_ISCHR(st.st_mode));
	T_OK(stat(path_in(env.root, "tmp"), &st) == 0);
	T_EQ_INT(st.st_mtim.tv_sec, 1400000000); /* set after tmp/x was written */
	T_EQ_INT(st.st_mtim.tv_nsec, 5);
	check_dir(path_in(env.root, "home"), 0755, 0, 0);
	check_dir(path_in(env.root, "home/user"), 0750, 1000, 1000);
	check_content(path_in(env.root, "home/user/file"), "f");
	check_dir(path_in(env.root, "srv"), 0711, 0, 0);
	T_OK(stat(path_in(env.root, "srv"), &st) == 0);
	T_EQ_INT(st.st_mtim.tv_sec, 1500000000);

	/* a lower directory that cannot be opened fails the layer */
	const char *missing[] = {path_in(env.dir, "no-such-lower")};
	T_ERR(apply_overlay_lowers(env.root_fd, &t, missing, 1, &err), err, BR_NOT_FOUND);
	check_msg(&err, "open lower directory");
}

static void
test_implicit_parent_lower_symlink(void)
{
	struct env env;
	struct tarb t;
	br_err err = BR_ERR_INIT;
	char lower[128];

	if (geteuid() != 0)
		T_SKIP("needs root to chown");
	env_setup(&env);
	snprintf(lower, sizeof(lower), "%s/lower", env.dir);
	T_OK(mkdir(lower, 0755) == 0);
	make_lower_dir(lower, "tmp", 01777, 0, 0);
	make_lower_dir(lower, "home", 0755, 0, 0);
	make_lower_dir(lower, "home/user", 0750, 1000, 1000);
	T_OK(symlink("tmp", path_in(lower, "lnk")) == 0);
	T_OK(symlink("/tmp", path_in(lower, "abs")) == 0);
	T_OK(symlink("home", path_in(lower, "mid")) == 0);

	tb_open(&t);
	tb_file(&t, "lnk/.wh.x", "", 0644);
	tb_file(&t, "abs/f", "f", 0644);
	tb_file(&t, "mid/user/f", "f", 0644);
	tb_close(&t);
	const char *lowers[] = {lower};
	T_NOERR(apply_overlay_lowers(env.root_fd, &t, lowers, 1, &err), err);
	check_dir(path_in(env.root, "lnk"), 0755, 0, 0);
	check_dir(path_in(env.root, "abs"), 0755, 0, 0);
	check_dir(path_in(env.root, "mid"), 0755, 0, 0);
	check_dir(path_in(env.root, "mid/user"), 0755, 0, 0);
}

/* Several lower layers: the nearest that has anything at the path decides, as in overlayfs. */
static void
test_implicit_parent_lower_stack(void)
{
	struct env env;
	struct tarb t;
	br_err err = BR_ERR_INIT;
	char near[128], far[128];

	if (geteuid() != 0)
		T_SKIP("needs root to chown and to write whiteouts");
	env_setup(&env);
	snprintf(near, sizeof(near), "%s/near", env.dir);
	snprintf(far, sizeof(far), "%s/far", env.dir);
	T_OK(mkdir(near, 0755) == 0);
	T_OK(mkdir(far, 0755) == 0);
	make_lower_dir(near, "opt", 0711, 7, 7);
	make_lower_dir(far, "opt", 0700, 8, 8);
	make_lower_dir(far, "etc", 0750, 9, 9); /* only in the far layer */
	T_OK(mknod(path_in(near, "srv"), S_IFCHR | 0000, makedev(0, 0)) == 0); /* a whiteout */
	make_lower_dir(far, "srv", 0700, 9, 9);
	make_lower_dir(near, "var", 0751, 0, 0);
	T_OK(setxattr(path_in(near, "var"), "trusted.overlay.opaque", "y", 1, 0) == 0);
	make_lower_dir(far, "var", 0755, 0, 0);
	make_lower_dir(far, "var/lib", 0700, 9, 9); /* hidden by the opaque var */

	tb_open(&t);
	tb_file(&t, "opt/f", "f", 0644);
	tb_file(&t, "etc/f", "f", 0644);
	tb_file(&t, "srv/f", "f", 0644);
	tb_file(&t, "var/lib/f", "f", 0644);
	tb_close(&t);
	const char *lowers[] = {near, far};
	T_NOERR(apply_overlay_lowers(env.root_fd, &t, lowers, 2, &err), err);
	check_dir(path_in(env.root, "opt"), 0711, 7, 7);
	check_dir(path_in(env.root, "etc"), 0750, 9, 9);
	check_dir(path_in(env.root, "srv"), 0755, 0, 0);
	check_dir(path_in(env.root, "var"), 0751, 0, 0);
	check_dir(path_in(env.root, "var/lib"), 0755, 0, 0);
}

/* A layer unpacked before its parents are known records its implied directories; once the
 * parents are there, they take the parents' attributes, as if the lowers had been known. */
static void
test_implicit_parent_recorded(void)
{
	struct env env;
	struct tarb t;
	br_err err = BR_ERR_INIT;
	struct stat st;
	char lower[128];

	if (geteuid() != 0)
		T_SKIP("needs root to chown");
	env_setup(&env);
	snprintf(lower, sizeof(lower), "%s/lower", env.dir);
	T_OK(mkdir(lower, 0755) == 0);
	implied_lowers(lower);
	make_lower_dir(lower, "gone", 0700, 0, 0);

	tb_open(&t);
	implied_entries(&t);
	tb_dir(&t, "srv/", 0711); /* listed after it was implied: not recorded */
	tb_file(&t, "gone/f", "f", 0644);
	tb_file(&t, ".wh.gone", "", 0644); /* implied, then replaced by a whiteout */
	tb_file(&t, "new/f", "f", 0644);   /* implied, and nothing below shows it */
	tb_close(&t);

	struct imaged_implied_dirs implied = {0};
	struct imaged_apply_result res;
	struct mem_source m = {.p = t.buf, .len = t.len, .chunk = 777};
	struct imaged_apply_opts opts = {
	        .layer = "sha256:test",
	        .compression = BR_OCI_COMP_NONE,
	        .whiteouts = IMAGED_WHITEOUT_OVERLAY,
	        .implied = &implied,
	};
	T_NOERR(imaged_apply_layer(env.root_fd, mem_read, &m, &opts, &res, &err), err);
	T_EQ_INT(implied.n, 5); /* tmp home home/user gone new */
	T_EQ_STR(implied.paths[0], "tmp");
	T_EQ_STR(implied.paths[1], "home");
	T_EQ_STR(implied.paths[2], "home/user");
	check_dir(path_in(env.root, "tmp"), 0755, 0, 0); /* until its parents are known */
	check_dir(path_in(env.root, "srv"), 0711, 0, 0);

	const char *lowers[] = {lower};
	T_NOERR(imaged_apply_implied_dirs(env.root_fd, &implied, lowers, 1, "sha256:test", &err),
	        err);
	check_dir(path_in(env.root, "tmp"), 01777, 0, 0);
	T_OK(stat(path_in(env.root, "tmp"), &st) == 0);
	T_EQ_INT(st.st_mtim.tv_sec, 1400000000);
	T_EQ_INT(st.st_mtim.tv_nsec, 5);
	check_dir(path_in(env.root, "home"), 0755, 0, 0);
	check_dir(path_in(env.root, "home/user"), 0750, 1000, 1000);
	check_dir(path_in(env.root, "srv"), 0711, 0, 0);
	check_dir(path_in(env.root, "new"), 0755, 0, 0);
	T_OK(lstat(path_in(env.root, "gone"), &st) == 0 && S_ISCHR(st.st_mode));

	/* a lower directory that cannot be opened is an error naming it */
	const char *missing[] = {path_in(env.dir, "no-such-lower")};
	T_ERR(imaged_apply_implied_dirs(env.root_fd, &implied, missing, 1, "sha256:test", &err),
	      err, BR_NOT_FOUND);
	check_msg(&err, "open lower directory");
	imaged_implied_dirs_fini(&implied);
}

T_MAIN(T_CASE(test_normalize), T_CASE(test_regular_entries), T_CASE(test_compressed),
       T_CASE(test_trailing_bytes_hashed), T_CASE(test_diffid_mismatch),
       T_CASE(test_whiteouts_overlay), T_CASE(test_whiteouts_delete), T_CASE(test_dotdot_refused),
       T_CASE(test_absolute_inside), T_CASE(test_symlink_not_followed),
       T_CASE(test_hardlinks_stay_inside), T_CASE(test_devices_skipped), T_CASE(test_replacements),
       T_CASE(test_limits), T_CASE(test_source_errors),
       T_CASE(test_opaque_delete_nested_marker_first),
       T_CASE(test_opaque_delete_nested_marker_last), T_CASE(test_opaque_delete_repeated),
       T_CASE(test_implicit_parent_from_lower), T_CASE(test_implicit_parent_lower_symlink),
       T_CASE(test_implicit_parent_lower_stack), T_CASE(test_implicit_parent_recorded))
