/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Layer application (apply.h). Two libarchive readers form a pipeline: a decompressor (the
 * gzip or zstd filter with the "raw" format) reads the stored bytes from the caller's source
 * and hashes them into the blob digest; a tar reader reads the decompressed stream, which is
 * hashed into the diffID on its way in. An uncompressed layer skips the first reader. Both
 * hashes see every byte: after the tar's end-of-archive the rest of both streams is drained.
 *
 * Entries are written by hand with *at() calls relative to the root's fd; archive_write_disk
 * is not used because its path checks are not race-free and it follows or replaces symlinks
 * in ways that do not suit untrusted layers. Each parent directory is reached by opening one
 * component at a time with O_NOFOLLOW, files are created with O_EXCL after whatever was there
 * is removed, and link, owner and time calls never follow a symlink. Directory times are set
 * at the end, once their contents stopped changing.
 *
 * A parent that the layer uses without listing it is created 0755 root:root, except in an
 * overlay upper directory: overlayfs shows the upper directory's attributes for a merged one,
 * so there it copies the directory the lower layers show at that path (a layer holding only
 * "tmp/.wh.x" must not turn a 1777 /tmp into 0755). In a full tree an opaque directory keeps
 * exactly the paths this layer wrote below it, at every depth, and loses everything else.
 */
#include "imaged/apply.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/oci.h"
#include "common/xalloc.h"

#define TAR_CHUNK (128u << 10) /* decompressed bytes handed to the tar reader at once */
#define QUOTE_MAX 160          /* characters of an entry name quoted in an error */
#define WHITEOUT_PREFIX ".wh."
#define WHITEOUT_META_PREFIX ".wh..wh."
#define WHITEOUT_OPAQUE ".wh..wh..opq"
#define OVERLAY_OPAQUE_XATTR "trusted.overlay.opaque"

struct dir_time {
	char *path;
	struct timespec times[2];
};

/* A set of strings (the paths this layer wrote, for opaque directories in DELETE mode). */
struct path_set {
	char **slots;
	size_t cap, n;
};

struct apply {
	int root_fd;
	const char *layer;
	enum imaged_whiteouts whiteouts;
	uint64_t max_entries, max_bytes;
	bool is_root; /* owners are set and whiteout devices created only as root */

	imaged_source_fn source;
	void *source_data;
	br_sha256 *blob_hash;
	int64_t blob_size;
	bool source_eof;

	struct archive *filter; /* decompressor; NULL for an uncompressed layer */
	bool filter_eof;
	uint8_t *chunk;
	br_sha256 *diff_hash;
	int64_t tar_size;

	struct archive *tar;
	br_err stream_err; /* why a read callback failed */
	bool stream_failed;

	/* The parent directory of the last entry (an O_PATH fd), reused while the entries
	 * stay in it. Entries only ever remove children of their own parent, which leaves it
	 * valid; whiteouts in DELETE mode, which may remove any directory, drop it. */
	char *cached_parent;
	int cached_fd;

	/* The lower layers' trees (overlay mode only), nearest first, each open O_PATH. */
	const char *const *lower_dirs;
	int *lower_fds;
	size_t n_lower;

	/* Recording implied directories rather than looking them up (opts->implied). */
	bool record_implied;
	struct imaged_implied_dirs implied;
	struct path_set listed; /* directories the layer lists (recording only) */

	struct dir_time *dirs;
	size_t n_dirs, cap_dirs;
	struct path_set written;
	struct path_set pruned; /* opaque directories already pruned (DELETE mode) */

	struct imaged_apply_result res;
};

/* ------------------------------------------------------------------ errors */

/* Copy `s` into `out` with non-printable bytes escaped, cut at QUOTE_MAX characters. */
static const char *
quote(char out[QUOTE_MAX + 8], const char *s)
{
	size_t o = 0;

	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;
		if (o >= QUOTE_MAX) {
			memcpy(out + o, "...", 3);
			o += 3;
			break;
		}
		if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\')
			o += (size_t)snprintf(out + o, 5, "\\x%02x", c);
		else
			out[o++] = (char)c;
	}
	out[o] = '\0';
	return out;
}

static int __attribute__((format(printf, 5, 0)))
entry_vfail(br_err *err, br_code code, const struct apply *ap, const char *name, const char *fmt,
            va_list ap_args)
{
	char msg[512], q[QUOTE_MAX + 8];

	vsnprintf(msg, sizeof(msg), fmt, ap_args);
	return br_err_set(err, code, "layer %s: entry \"%s\": %s", ap->layer, quote(q, name), msg);
}

/* Fail naming the layer and the entry. Returns -1. */
static int __attribute__((format(printf, 5, 6)))
entry_fail(br_err *err, br_code code, const struct apply *ap, const char *name, const char *fmt,
           ...)
{
	va_list args;

	va_start(args, fmt);
	entry_vfail(err, code, ap, name, fmt, args);
	va_end(args);
	return -1;
}

/* As entry_fail, with the code and text of `errnum`. */
static int __attribute__((format(printf, 5, 6)))
entry_errno(br_err *err, int errnum, const struct apply *ap, const char *name, const char *fmt, ...)
{
	char msg[512];
	va_list args;

	va_start(args, fmt);
	vsnprintf(msg, sizeof(msg), fmt, args);
	va_end(args);
	return entry_fail(err, br_code_from_errno(errnum), ap, name, "%s: %s", msg,
	                  strerror(errnum));
}

/* The error of a failed libarchive call: what a read callback recorded (the source's error,
 * a limit, a decompression error) if anything, else libarchive's own message. */
static int
stream_error(struct apply *ap, struct archive *a, const char *what, br_err *err)
{
	if (ap->stream_failed) {
		br_err_copy(err, &ap->stream_err);
		return br_err_wrap(err, "layer %s", ap->layer);
	}
	const char *msg = a != NULL ? archive_error_string(a) : NULL;
	return br_err_set(err, BR_INVALID_ARGUMENT, "layer %s: %s: %s", ap->layer, what,
	                  msg != NULL ? msg : "malformed data");
}

/* A read of an entry's data failed: the stream's recorded error or libarchive's. */
static int
entry_stream_error(struct apply *ap, const char *name, br_err *err)
{
	char q[QUOTE_MAX + 8];

	if (ap->stream_failed) {
		br_err_copy(err, &ap->stream_err);
		return br_err_wrap(err, "layer %s: entry \"%s\"", ap->layer, quote(q, name));
	}
	const char *msg = archive_error_string(ap->tar);
	return entry_fail(err, BR_INVALID_ARGUMENT, ap, name, "read data: %s",
	                  msg != NULL ? msg : "malformed data");
}

/* ------------------------------------------------------------------ streams */

/* The next chunk of stored bytes, hashed into the blob digest. */
static ssize_t
pull_stored(struct apply *ap, const void **buf)
{
	ssize_t n;

	if (ap->source_eof)
		return 0;
	n = ap->source(ap->source_data, buf, &ap->stream_err);
	if (n < 0) {
		ap->stream_failed = true;
		return -1;
	}
	if (n == 0) {
		ap->source_eof = true;
		return 0;
	}
	if (ap->blob_hash != NULL)
		br_sha256_update(ap->blob_hash, *buf, (size_t)n);
	ap->blob_size += n;
	return n;
}

static la_ssize_t
stored_read_cb(struct archive *a, void *data, const void **buf)
{
	struct apply *ap = data;
	ssize_t n = pull_stored(ap, buf);

	if (n < 0)
		archive_set_error(a, EIO, "%s", ap->stream_err.msg);
	return n;
}

/* The next chunk of the uncompressed tar stream, hashed into the diffID. */
static ssize_t
pull_tar(struct apply *ap, const void **buf)
{
	ssize_t n;

	if (ap->filter == NULL) {
		n = pull_stored(ap, buf);
	} else if (ap->filter_eof) {
		n = 0;
	} else {
		n = archive_read_data(ap->filter, ap->chunk, TAR_CHUNK);
		if (n < 0) {
			if (!ap->stream_failed) {
				const char *msg = archive_error_string(ap->filter);
				ap->stream_failed = true;
				br_err_set(&ap->stream_err, BR_INVALID_ARGUMENT, "decompress: %s",
				           msg != NULL ? msg : "malformed data");
			}
			return -1;
		}
		if (n == 0)
			ap->filter_eof = true;
		*buf = ap->chunk;
	}
	if (n <= 0)
		return n;
	if ((uint64_t)ap->tar_size + (uint64_t)n > ap->max_bytes) {
		ap->stream_failed = true;
		br_err_set(&ap->stream_err, BR_RESOURCE_EXHAUSTED,
		           "uncompressed size exceeds the limit of %llu bytes",
		           (unsigned long long)ap->max_bytes);
		return -1;
	}
	br_sha256_update(ap->diff_hash, *buf, (size_t)n);
	ap->tar_size += n;
	return n;
}

static la_ssize_t
tar_read_cb(struct archive *a, void *data, const void **buf)
{
	struct apply *ap = data;
	ssize_t n = pull_tar(ap, buf);

	if (n < 0)
		archive_set_error(a, EIO, "%s", ap->stream_err.msg);
	return n;
}

static const char *
compression_name(int comp)
{
	switch (comp) {
	case BR_OCI_COMP_GZIP:
		return "gzip";
	case BR_OCI_COMP_ZSTD:
		return "zstd";
	default:
		return "none";
	}
}

/* Open the decompressor (unless the layer is stored uncompressed) and the tar reader. */
static int
open_streams(struct apply *ap, int compression, br_err *err)
{
	struct archive_entry *entry;
	int r;

	if (compression != BR_OCI_COMP_NONE) {
		ap->filter = archive_read_new();
		if (compression == BR_OCI_COMP_GZIP || compression < 0)
			archive_read_support_filter_gzip(ap->filter);
		if (compression == BR_OCI_COMP_ZSTD || compression < 0)
			archive_read_support_filter_zstd(ap->filter);
		archive_read_support_format_raw(ap->filter);
		if (archive_read_open(ap->filter, ap, NULL, stored_read_cb, NULL) != ARCHIVE_OK)
			return stream_error(ap, ap->filter, "read", err);
		r = archive_read_next_header(ap->filter, &entry);
		if (r == ARCHIVE_EOF)
			ap->filter_eof = true;
		else if (r < ARCHIVE_WARN)
			return stream_error(ap, ap->filter, "read", err);
		int code = archive_filter_code(ap->filter, 0);
		if ((compression == BR_OCI_COMP_GZIP && code != ARCHIVE_FILTER_GZIP) ||
		    (compression == BR_OCI_COMP_ZSTD && code != ARCHIVE_FILTER_ZSTD))
			return br_err_set(
			        err, BR_INVALID_ARGUMENT,
			        "layer %s: data is not %s-compressed as its media type says",
			        ap->layer, compression_name(compression));
		ap->chunk = xmalloc(TAR_CHUNK);
	}
	ap->tar = archive_read_new();
	archive_read_support_format_tar(ap->tar);
	archive_read_support_format_empty(ap->tar);
	if (archive_read_open(ap->tar, ap, NULL, tar_read_cb, NULL) != ARCHIVE_OK)
		return stream_error(ap, ap->tar, "read tar", err);
	return 0;
}

/* Read both streams to their ends so that the digests cover trailing bytes too. */
static int
drain_streams(struct apply *ap, br_err *err)
{
	const void *buf;
	ssize_t n;

	while ((n = pull_tar(ap, &buf)) > 0)
		;
	if (n < 0)
		return stream_error(ap, ap->filter, "decompress", err);
	while ((n = pull_stored(ap, &buf)) > 0)
		;
	if (n < 0)
		return stream_error(ap, NULL, "read", err);
	return 0;
}

/* ------------------------------------------------------------------ paths */

char *
imaged_layer_path_normalize(const char *name)
{
	size_t len = strlen(name), o = 0;
	const char *p = name;
	char *out;

	if (len > IMAGED_LAYER_MAX_PATH)
		return NULL;
	out = xmalloc(len + 1);
	while (*p != '\0') {
		while (*p == '/')
			p++;
		const char *start = p;
		while (*p != '\0' && *p != '/')
			p++;
		size_t n = (size_t)(p - start);
		if (n == 0 || (n == 1 && start[0] == '.'))
			continue;
		if (n == 2 && start[0] == '.' && start[1] == '.') {
			free(out);
			return NULL;
		}
		if (o > 0)
			out[o++] = '/';
		memcpy(out + o, start, n);
		o += n;
	}
	out[o] = '\0';
	return out;
}

static uint64_t
hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ull;

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

static bool
path_set_has(const struct path_set *set, const char *s)
{
	if (set->cap == 0)
		return false;
	for (size_t i = hash_str(s) & (set->cap - 1);; i = (i + 1) & (set->cap - 1)) {
		if (set->slots[i] == NULL)
			return false;
		if (strcmp(set->slots[i], s) == 0)
			return true;
	}
}

static void
path_set_put(struct path_set *set, char *owned)
{
	for (size_t i = hash_str(owned) & (set->cap - 1);; i = (i + 1) & (set->cap - 1)) {
		if (set->slots[i] == NULL) {
			set->slots[i] = owned;
			set->n++;
			return;
		}
	}
}

static void
path_set_add(struct path_set *set, const char *s, size_t len)
{
	_cleanup_free_ char *key = xstrndup(s, len);

	if (path_set_has(set, key))
		return;
	if ((set->n + 1) * 2 > set->cap) {
		struct path_set grown = {.cap = set->cap ? set->cap * 2 : 256};
		grown.slots = xcalloc(grown.cap, sizeof(char *));
		for (size_t i = 0; i < set->cap; i++)
			if (set->slots[i] != NULL)
				path_set_put(&grown, set->slots[i]);
		free(set->slots);
		*set = grown;
	}
	path_set_put(set, br_steal_ptr(&key));
}

static void
path_set_fini(struct path_set *set)
{
	for (size_t i = 0; i < set->cap; i++)
		free(set->slots[i]);
	free(set->slots);
}

/* Remember that this layer wrote `path` and, implicitly, its ancestors. */
static void
mark_written(struct apply *ap, const char *path)
{
	if (ap->whiteouts != IMAGED_WHITEOUT_DELETE)
		return;
	for (const char *s = strchr(path, '/'); s != NULL; s = strchr(s + 1, '/'))
		path_set_add(&ap->written, path, (size_t)(s - path));
	path_set_add(&ap->written, path, strlen(path));
}

static void
drop_cache(struct apply *ap)
{
	free(ap->cached_parent);
	ap->cached_parent = NULL;
	if (ap->cached_fd >= 0)
		close(ap->cached_fd);
	ap->cached_fd = -1;
}

/* Times for the directory at `path`, set by finish_dirs. */
static void
remember_dir_times(struct apply *ap, const char *path, const struct timespec times[2])
{
	if (ap->n_dirs == ap->cap_dirs) {
		ap->cap_dirs = ap->cap_dirs ? ap->cap_dirs * 2 : 64;
		ap->dirs = xrealloc(ap->dirs, ap->cap_dirs * sizeof(*ap->dirs));
	}
	ap->dirs[ap->n_dirs].path = xstrdup(path);
	ap->dirs[ap->n_dirs].times[0] = times[0];
	ap->dirs[ap->n_dirs].times[1] = times[1];
	ap->n_dirs++;
}

/* ------------------------------------------------------------------ lower layers */

/* What one lower layer shows at a path. */
enum lower_view {
	LOWER_ABSENT, /* nothing there: the layers below it decide */
	LOWER_HIDDEN, /* a non-directory (file, symlink, whiteout) on the way, or nothing below
	               * an opaque directory: the layers below it are hidden there */
	LOWER_DIR,    /* a directory */
};

static int
open_lowers(struct apply *ap, br_err *err)
{
	if (ap->n_lower == 0)
		return 0;
	ap->lower_fds = xmalloc(ap->n_lower * sizeof(*ap->lower_fds));
	for (size_t i = 0; i < ap->n_lower; i++) {
		ap->lower_fds[i] = open(ap->lower_dirs[i], O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (ap->lower_fds[i] < 0) {
			int e = errno;
			ap->n_lower = i; /* what close_lowers closes */
			return br_err_errno(err, br_code_from_errno(e), e,
			                    "layer %s: open lower directory %s", ap->layer,
			                    ap->lower_dirs[i]);
		}
	}
	return 0;
}

static void
close_lowers(struct apply *ap)
{
	for (size_t i = 0; i < ap->n_lower; i++)
		close(ap->lower_fds[i]);
	free(ap->lower_fds);
}

/*
 * Look `path` (not empty) up in the lower tree `lower_fd`, one component at a time with
 * O_NOFOLLOW, as overlayfs would merge it: a directory is LOWER_DIR (*ret_st filled in).
 * Returns -1 with errno set when a component cannot be opened for another reason.
 */
static int
lower_probe(int lower_fd, const char *path, struct stat *ret_st)
{
	_cleanup_close_ int fd = -1;
	bool below_opaque = false;
	const char *p = path;

	while (*p != '\0') {
		const char *end = strchrnul(p, '/');
		_cleanup_free_ char *comp = xstrndup(p, (size_t)(end - p));
		int next = openat(fd >= 0 ? fd : lower_fd, comp,
		                  O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (next < 0) {
			if (errno == ENOENT)
				return below_opaque ? LOWER_HIDDEN : LOWER_ABSENT;
			if (errno == ENOTDIR || errno == ELOOP)
				return LOWER_HIDDEN;
			return -1;
		}
		if (fd >= 0)
			close(fd);
		fd = next;
		char v;
		if (fgetxattr(fd, OVERLAY_OPAQUE_XATTR, &v, 1) == 1 && v == 'y')
			below_opaque = true;
		p = *end == '/' ? end + 1 : end;
	}
	if (fd < 0) {
		errno = EINVAL; /* the root itself is never looked up */
		return -1;
	}
	if (fstat(fd, ret_st) < 0)
		return -1;
	return LOWER_DIR;
}

/*
 * The directory the lower layers show at `path` (nearest first; the first one that has
 * anything there decides). Returns 1 with *ret_st filled in, 0 if they show none, -1 on error.
 */
static int
lower_lookup(struct apply *ap, const char *name, const char *path, struct stat *ret_st, br_err *err)
{
	for (size_t i = 0; i < ap->n_lower; i++) {
		int view = lower_probe(ap->lower_fds[i], path, ret_st);
		if (view < 0)
			return entry_errno(err, errno, ap, name,
			                   "look up \"%s\" in lower directory %s", path,
			                   ap->lower_dirs[i]);
		if (view == LOWER_DIR)
			return 1;
		if (view == LOWER_HIDDEN)
			return 0;
	}
	return 0;
}

/* Give the directory `dfd`, at `path`, the mode and owner of the lower directory `lower`. */
static int
copy_lower_attrs(struct apply *ap, const char *name, int dfd, const char *path,
                 const struct stat *lower, br_err *err)
{
	if (ap->is_root && fchown(dfd, lower->st_uid, lower->st_gid) < 0)
		return entry_errno(err, errno, ap, name, "chown \"%s\" %u:%u", path, lower->st_uid,
		                   lower->st_gid);
	if (fchmod(dfd, lower->st_mode & 07777) < 0)
		return entry_errno(err, errno, ap, name, "chmod \"%s\"", path);
	return 0;
}

/*
 * Create the directory `comp` in `fd`, at `path` below the root: a parent the layer writes
 * into without listing it. In an overlay upper directory it takes the mode (set-id and
 * sticky bits included), owner and times of the directory the lower layers show there;
 * otherwise, or if they show none, it stays 0755 root:root. When recording, the lowers are
 * not known yet: the path is noted for imaged_apply_implied_dirs.
 */
static int
make_implicit_dir(struct apply *ap, const char *name, int fd, const char *comp, const char *path,
                  br_err *err)
{
	struct stat lower;
	int found = 0;

	if (mkdirat(fd, comp, 0755) < 0) {
		if (errno == EEXIST)
			return 0;
		return entry_errno(err, errno, ap, name, "create directory \"%s\"", path);
	}
	if (ap->record_implied) {
		struct imaged_implied_dirs *d = &ap->implied;
		if ((d->n & (d->n - 1)) == 0) /* 0, 1, 2, 4...: full; double */
			d->paths = xrealloc(d->paths, (d->n ? d->n * 2 : 1) * sizeof(*d->paths));
		d->paths[d->n++] = xstrdup(path);
		return 0;
	}
	if (ap->whiteouts == IMAGED_WHITEOUT_OVERLAY)
		found = lower_lookup(ap, name, path, &lower, err);
	if (found <= 0)
		return found;
	_cleanup_close_ int dfd = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0)
		return entry_errno(err, errno, ap, name, "open directory \"%s\"", path);
	if (copy_lower_attrs(ap, name, dfd, path, &lower, err) < 0)
		return -1;
	const struct timespec times[2] = {lower.st_atim, lower.st_mtim};
	remember_dir_times(ap, path, times);
	return 0;
}

/* ------------------------------------------------------------------ walking */

/*
 * Open the directory `dir` ("" for the root) below the root as an O_PATH fd, one component at
 * a time without following symlinks. Missing directories are created (make_implicit_dir) when
 * `create`, else they are NOT_FOUND. Returns an fd the caller closes. `name` is the entry,
 * for errors.
 */
static int
walk(struct apply *ap, const char *name, const char *dir, bool create, br_err *err)
{
	_cleanup_close_ int fd = openat(ap->root_fd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	const char *p = dir;

	if (fd < 0)
		return entry_errno(err, errno, ap, name, "open the layer root");
	while (*p != '\0') {
		const char *end = strchrnul(p, '/');
		size_t prefix = (size_t)(end - dir);
		_cleanup_free_ char *comp = xstrndup(p, (size_t)(end - p));
		int next = openat(fd, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (next < 0 && errno == ENOENT && create) {
			_cleanup_free_ char *path = xstrndup(dir, prefix);
			if (make_implicit_dir(ap, name, fd, comp, path, err) < 0)
				return -1;
			next = openat(fd, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		}
		if (next < 0) {
			int e = errno;
			struct stat st;
			if ((e == ENOTDIR || e == ELOOP) &&
			    fstatat(fd, comp, &st, AT_SYMLINK_NOFOLLOW) == 0) {
				if (S_ISLNK(st.st_mode))
					return entry_fail(err, BR_INVALID_ARGUMENT, ap, name,
					                  "\"%.*s\" is a symlink, and entries are "
					                  "never written through symlinks",
					                  (int)prefix, dir);
				return entry_fail(err, BR_INVALID_ARGUMENT, ap, name,
				                  "\"%.*s\" is not a directory", (int)prefix, dir);
			}
			if (e == ENOENT)
				return entry_fail(err, BR_NOT_FOUND, ap, name,
				                  "\"%.*s\" does not exist", (int)prefix, dir);
			return entry_errno(err, e, ap, name, "open \"%.*s\"", (int)prefix, dir);
		}
		close(fd);
		fd = next;
		p = *end == '/' ? end + 1 : end;
	}
	return br_steal_fd(&fd);
}

/* The parent directory of an entry, created if missing; the fd belongs to the cache. */
static int
parent_fd(struct apply *ap, const char *name, const char *parent, br_err *err)
{
	if (ap->cached_parent != NULL && strcmp(ap->cached_parent, parent) == 0)
		return ap->cached_fd;
	drop_cache(ap);
	int fd = walk(ap, name, parent, true, err);
	if (fd < 0)
		return -1;
	ap->cached_parent = xstrdup(parent);
	ap->cached_fd = fd;
	return fd;
}

/* Make room for an entry at pfd/base: an existing directory stays if a directory is wanted
 * (*ret_kept_dir), anything else there is removed. */
static int
make_room(struct apply *ap, const char *name, int pfd, const char *base, bool want_dir,
          bool *ret_kept_dir, br_err *err)
{
	struct stat st;

	if (ret_kept_dir != NULL)
		*ret_kept_dir = false;
	if (fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno == ENOENT)
			return 0;
		return entry_errno(err, errno, ap, name, "stat");
	}
	if (S_ISDIR(st.st_mode)) {
		if (want_dir) {
			if (ret_kept_dir != NULL)
				*ret_kept_dir = true;
			return 0;
		}
		/* Only pfd's child goes: the cached parent (pfd itself) stays valid. */
		if (br_rm_rf_at(pfd, base, err) < 0) {
			char q[QUOTE_MAX + 8];
			return br_err_wrap(err, "layer %s: entry \"%s\"", ap->layer,
			                   quote(q, name));
		}
		return 0;
	}
	if (unlinkat(pfd, base, 0) < 0 && errno != ENOENT)
		return entry_errno(err, errno, ap, name, "remove the existing file");
	return 0;
}

/* ------------------------------------------------------------------ attributes */

static void
entry_times(struct archive_entry *e, struct timespec ts[2])
{
	ts[1].tv_sec = 0;
	ts[1].tv_nsec = UTIME_OMIT;
	if (archive_entry_mtime_is_set(e)) {
		ts[1].tv_sec = archive_entry_mtime(e);
		ts[1].tv_nsec = archive_entry_mtime_nsec(e);
		if (ts[1].tv_nsec < 0 || ts[1].tv_nsec > 999999999)
			ts[1].tv_nsec = 0;
	}
	ts[0] = ts[1];
	if (archive_entry_atime_is_set(e)) {
		ts[0].tv_sec = archive_entry_atime(e);
		ts[0].tv_nsec = archive_entry_atime_nsec(e);
		if (ts[0].tv_nsec < 0 || ts[0].tv_nsec > 999999999)
			ts[0].tv_nsec = 0;
	}
}

static int
entry_owner(struct apply *ap, const char *name, struct archive_entry *e, uid_t *ret_uid,
            gid_t *ret_gid, br_err *err)
{
	la_int64_t uid = archive_entry_uid(e), gid = archive_entry_gid(e);

	if (uid < 0 || uid >= 0xffffffffLL || gid < 0 || gid >= 0xffffffffLL)
		return entry_fail(err, BR_INVALID_ARGUMENT, ap, name,
		                  "owner %lld:%lld is out of range", (long long)uid,
		                  (long long)gid);
	*ret_uid = (uid_t)uid;
	*ret_gid = (gid_t)gid;
	return 0;
}

/* Extended attributes restored from a layer: user.*, trusted.* (but not trusted.overlay.*,
 * which would let a layer steer overlayfs) and file capabilities. Others (security.selinux,
 * ACLs stored as system.*) belong to the host's policy and are skipped. */
static bool
xattr_allowed(const char *name)
{
	if (strncmp(name, "user.", 5) == 0 || strcmp(name, "security.capability") == 0)
		return true;
	return strncmp(name, "trusted.", 8) == 0 && strncmp(name, "trusted.overlay.", 16) != 0;
}

/* Owner, mode, extended attributes and (unless deferred) times of a file or directory open
 * as `fd`, in the order that keeps them: chown clears set-id bits and capabilities. */
static int
set_attrs_fd(struct apply *ap, const char *name, int fd, struct archive_entry *e, bool times,
             br_err *err)
{
	const char *xname;
	const void *value;
	size_t size;
	uid_t uid;
	gid_t gid;

	if (entry_owner(ap, name, e, &uid, &gid, err) < 0)
		return -1;
	if (ap->is_root && fchown(fd, uid, gid) < 0)
		return entry_errno(err, errno, ap, name, "chown %u:%u", uid, gid);
	if (fchmod(fd, archive_entry_mode(e) & 07777) < 0)
		return entry_errno(err, errno, ap, name, "chmod");
	archive_entry_xattr_reset(e);
	while (archive_entry_xattr_next(e, &xname, &value, &size) == ARCHIVE_OK) {
		if (xname == NULL || !xattr_allowed(xname)) {
			ap->res.skipped_xattrs++;
			continue;
		}
		if (fsetxattr(fd, xname, value, size, 0) < 0)
			return entry_errno(err, errno, ap, name, "set extended attribute %s",
			                   xname);
	}
	if (times) {
		struct timespec ts[2];
		entry_times(e, ts);
		if (futimens(fd, ts) < 0)
			return entry_errno(err, errno, ap, name, "set times");
	}
	return 0;
}

/* Owner and times of a symlink, FIFO or device at pfd/base, never following a symlink. */
static int
set_attrs_at(struct apply *ap, const char *name, int pfd, const char *base, struct archive_entry *e,
             bool mode, br_err *err)
{
	struct timespec ts[2];
	uid_t uid;
	gid_t gid;

	if (entry_owner(ap, name, e, &uid, &gid, err) < 0)
		return -1;
	if (ap->is_root && fchownat(pfd, base, uid, gid, AT_SYMLINK_NOFOLLOW) < 0)
		return entry_errno(err, errno, ap, name, "chown %u:%u", uid, gid);
	/* Only for what this function just created and is not a symlink. */
	if (mode && fchmodat(pfd, base, archive_entry_mode(e) & 07777, 0) < 0)
		return entry_errno(err, errno, ap, name, "chmod");
	entry_times(e, ts);
	if (utimensat(pfd, base, ts, AT_SYMLINK_NOFOLLOW) < 0)
		return entry_errno(err, errno, ap, name, "set times");
	return 0;
}

/* ------------------------------------------------------------------ entries */

static int
write_all_at(int fd, const void *buf, size_t len, off_t off)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = pwrite(fd, p, len, off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
		off += n;
	}
	return 0;
}

static int
write_file(struct apply *ap, const char *name, int pfd, const char *base, struct archive_entry *e,
           br_err *err)
{
	int64_t size = archive_entry_size_is_set(e) ? archive_entry_size(e) : 0;
	const void *buf;
	size_t len;
	la_int64_t off;
	int r;

	if (size < 0)
		return entry_fail(err, BR_INVALID_ARGUMENT, ap, name, "negative size");
	if (make_room(ap, name, pfd, base, false, NULL, err) < 0)
		return -1;
	_cleanup_close_ int fd =
	        openat(pfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return entry_errno(err, errno, ap, name, "create");
	while ((r = archive_read_data_block(ap->tar, &buf, &len, &off)) != ARCHIVE_EOF) {
		if (r < ARCHIVE_WARN)
			return entry_stream_error(ap, name, err);
		if (off < 0 || (uint64_t)off > (uint64_t)size || len > (uint64_t)(size - off))
			return entry_fail(err, BR_INVALID_ARGUMENT, ap, name,
			                  "data beyond the entry's size of %lld bytes",
			                  (long long)size);
		if (len > 0 && write_all_at(fd, buf, len, off) < 0)
			return entry_errno(err, errno, ap, name, "write");
	}
	if (ftruncate(fd, size) < 0)
		return entry_errno(err, errno, ap, name, "truncate");
	return set_attrs_fd(ap, name, fd, e, true, err);
}

static int
write_dir(struct apply *ap, const char *name, const char *path, int pfd, const char *base,
          struct archive_entry *e, br_err *err)
{
	bool kept;

	if (make_room(ap, name, pfd, base, true, &kept, err) < 0)
		return -1;
	if (!kept && mkdirat(pfd, base, 0700) < 0)
		return entry_errno(err, errno, ap, name, "create directory");
	_cleanup_close_ int fd = openat(pfd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return entry_errno(err, errno, ap, name, "open directory");
	if (set_attrs_fd(ap, name, fd, e, false, err) < 0)
		return -1;
	struct timespec times[2];
	entry_times(e, times);
	remember_dir_times(ap, path, times);
	if (ap->record_implied)
		path_set_add(&ap->listed, path, strlen(path));
	return 0;
}

static int
write_symlink(struct apply *ap, const char *name, int pfd, const char *base,
              struct archive_entry *e, br_err *err)
{
	const char *target = archive_entry_symlink(e);

	if (target == NULL || target[0] == '\0')
		return entry_fail(err, BR_INVALID_ARGUMENT, ap, name, "symlink without a target");
	if (strlen(target) > IMAGED_LAYER_MAX_PATH)
		return entry_fail(err, BR_INVALID_ARGUMENT, ap, name,
		                  "symlink target longer than %d bytes", IMAGED_LAYER_MAX_PATH);
	if (make_room(ap, name, pfd, base, false, NULL, err) < 0)
		return -1;
	if (symlinkat(target, pfd, base) < 0)
		return entry_errno(err, errno, ap, name, "create symlink");
	return set_attrs_at(ap, name, pfd, base, e, false, err);
}

static int
write_hardlink(struct apply *ap, const char *name, const char *path, int pfd, const char *base,
               const char *link, br_err *err)
{
	char q[QUOTE_MAX + 8];
	struct stat st;

	if (strlen(link) > IMAGED_LAYER_MAX_PATH)
		return entry_fail(err, BR_INVALID_ARGUMENT, ap, name,
		                  "hard link target longer than %d bytes", IMAGED_LAYER_MAX_PATH);
	_cleanup_free_ char *target = imaged_layer_path_normalize(link);
	if (target == NULL)
		return entry_fail(err, BR_INVALID_ARGUMENT, ap, name,
		                  "hard link target \"%s\" escapes the layer root", quote(q, link));
	if (target[0] == '\0')
		return entry_fail(err, BR_INVALID_ARGUMENT, ap, name,
		                  "hard link to the layer root");
	if (strcmp(target, path) == 0)
		return 0; /* a link to itself: nothing to do */
	char *slash = strrchr(target, '/');
	const char *tbase = slash != NULL ? slash + 1 : target;
	if (slash != NULL)
		*slash = '\0';
	br_err werr = BR_ERR_INIT;
	_cleanup_close_ int tfd = walk(ap, name, slash != NULL ? target : "", false, &werr);
	if (tfd < 0 && werr.code != BR_NOT_FOUND) {
		br_err_copy(err, &werr);
		return -1;
	}
	if (tfd < 0 || fstatat(tfd, tbase, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return entry_fail(err, BR_INVALID_ARGUMENT, ap, name,
		                  "hard link target \"%s\" is not in the layer", quote(q, link));
	if (S_ISDIR(st.st_mode))
		return entry_fail(err, BR_INVALID_ARGUMENT, ap, name,
		                  "hard link target \"%s\" is a directory", quote(q, link));
	if (make_room(ap, name, pfd, base, false, NULL, err) < 0)
		return -1;
	if (linkat(tfd, tbase, pfd, base, 0) < 0)
		return entry_errno(err, errno, ap, name, "link to \"%s\"", quote(q, link));
	return 0;
}

static int
write_special(struct apply *ap, const char *name, int pfd, const char *base,
              struct archive_entry *e, br_err *err)
{
	mode_t type = archive_entry_filetype(e);

	if (type == AE_IFIFO) {
		if (make_room(ap, name, pfd, base, false, NULL, err) < 0)
			return -1;
		if (mkfifoat(pfd, base, 0600) < 0)
			return entry_errno(err, errno, ap, name, "create FIFO");
		return set_attrs_at(ap, name, pfd, base, e, true, err);
	}
	/* A 0/0 character device is an overlay whiteout; other devices are never created:
	 * a container gets its devices from the runtime, and a device node in an untrusted
	 * image could open the host's disks to it. */
	if (type != AE_IFCHR || archive_entry_rdevmajor(e) != 0 ||
	    archive_entry_rdevminor(e) != 0) {
		ap->res.skipped_devices++;
		return 0;
	}
	if (make_room(ap, name, pfd, base, false, NULL, err) < 0)
		return -1;
	if (ap->whiteouts == IMAGED_WHITEOUT_DELETE)
		return 0; /* a whiteout in a full tree: the removal is all it means */
	if (mknodat(pfd, base, S_IFCHR | 0000, makedev(0, 0)) < 0)
		return entry_errno(err, errno, ap, name, "create whiteout");
	return 0;
}

/*
 * Prune the directory at `path` (a full tree): remove each child this layer did not write and
 * push onto `todo` each child directory it did write, whose own children are pruned in turn.
 */
static int
prune_one(struct apply *ap, const char *name, const char *path, char ***todo, size_t *n_todo,
          size_t *cap_todo, br_err *err)
{
	char q[QUOTE_MAX + 8];
	struct stat st;

	_cleanup_close_ int pathfd = walk(ap, name, path, false, err);
	if (pathfd < 0)
		return -1;
	_cleanup_close_ int fd = openat(pathfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return entry_errno(err, errno, ap, name, "open directory \"%s\"", path);
	int dupfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (dupfd < 0)
		return entry_errno(err, errno, ap, name, "dup");
	_cleanup_closedir_ DIR *d = fdopendir(dupfd);
	if (d == NULL) {
		close(dupfd);
		return entry_errno(err, errno, ap, name, "read directory \"%s\"", path);
	}
	for (;;) {
		errno = 0;
		struct dirent *de = readdir(d);
		if (de == NULL) {
			if (errno != 0)
				return entry_errno(err, errno, ap, name, "read directory \"%s\"",
				                   path);
			return 0;
		}
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		char *child = path[0] != '\0' ? xasprintf("%s/%s", path, de->d_name)
		                              : xstrdup(de->d_name);
		if (!path_set_has(&ap->written, child)) {
			free(child);
			if (br_rm_rf_at(fd, de->d_name, err) < 0)
				return br_err_wrap(err, "layer %s: entry \"%s\"", ap->layer,
				                   quote(q, name));
			continue;
		}
		if (fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			free(child);
			return entry_errno(err, errno, ap, name, "stat \"%s/%s\"", path,
			                   de->d_name);
		}
		if (!S_ISDIR(st.st_mode)) {
			free(child);
			continue;
		}
		if (*n_todo == *cap_todo) {
			*cap_todo *= 2;
			*todo = xrealloc(*todo, *cap_todo * sizeof(**todo));
		}
		(*todo)[(*n_todo)++] = child;
	}
}

/*
 * ".wh..wh..opq" in a full tree: below `dir`, keep exactly the paths this layer wrote (and
 * so their ancestors) and remove everything else, at every depth. Whatever the order in the
 * tar, the result is the same: entries before the marker are kept here, entries after it are
 * written into what is left. The directories are visited from a list rather than by
 * recursion, so that a deep tree does not hold one fd per level.
 */
static int
prune_opaque(struct apply *ap, const char *name, const char *dir, br_err *err)
{
	size_t n_todo = 0, cap_todo = 16;
	char **todo = xmalloc(cap_todo * sizeof(*todo));
	int rc = 0;

	drop_cache(ap);
	todo[n_todo++] = xstrdup(dir);
	while (rc == 0 && n_todo > 0) {
		_cleanup_free_ char *path = todo[--n_todo];
		rc = prune_one(ap, name, path, &todo, &n_todo, &cap_todo, err);
	}
	while (n_todo > 0)
		free(todo[--n_todo]);
	free(todo);
	return rc;
}

/* True if `dir` or one of its ancestors was pruned already: everything below it since was
 * written by this layer, so pruning again would remove nothing. */
static bool
pruned_already(struct apply *ap, const char *dir)
{
	if (path_set_has(&ap->pruned, "") || path_set_has(&ap->pruned, dir))
		return true;
	for (const char *s = strchr(dir, '/'); s != NULL; s = strchr(s + 1, '/')) {
		_cleanup_free_ char *ancestor = xstrndup(dir, (size_t)(s - dir));
		if (path_set_has(&ap->pruned, ancestor))
			return true;
	}
	return false;
}

/* ".wh..wh..opq" in directory `dir`: hide everything below it from lower layers. */
static int
apply_opaque(struct apply *ap, const char *name, const char *dir, br_err *err)
{
	_cleanup_close_ int pathfd = walk(ap, name, dir, true, err);
	if (pathfd < 0)
		return -1;
	if (ap->whiteouts == IMAGED_WHITEOUT_OVERLAY) {
		_cleanup_close_ int fd = openat(pathfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0)
			return entry_errno(err, errno, ap, name, "open directory");
		if (fsetxattr(fd, OVERLAY_OPAQUE_XATTR, "y", 1, 0) < 0)
			return entry_errno(err, errno, ap, name, "mark directory opaque");
		return 0;
	}
	/* The marker says this layer has the directory: a marker further up keeps it. */
	if (dir[0] != '\0')
		mark_written(ap, dir);
	if (pruned_already(ap, dir))
		return 0;
	if (prune_opaque(ap, name, dir, err) < 0)
		return -1;
	path_set_add(&ap->pruned, dir, strlen(dir));
	return 0;
}

/* ".wh.NAME" in directory `dir`: NAME was deleted. */
static int
apply_whiteout(struct apply *ap, const char *name, const char *dir, const char *base, br_err *err)
{
	const char *victim = base + strlen(WHITEOUT_PREFIX);

	if (strcmp(base, WHITEOUT_OPAQUE) == 0)
		return apply_opaque(ap, name, dir, err);
	if (strncmp(base, WHITEOUT_META_PREFIX, strlen(WHITEOUT_META_PREFIX)) == 0)
		return 0; /* other AUFS metadata (.wh..wh.plnk, ...): ignored, as containerd does */
	if (victim[0] == '\0' || strcmp(victim, ".") == 0 || strcmp(victim, "..") == 0)
		return entry_fail(err, BR_INVALID_ARGUMENT, ap, name,
		                  "whiteout of \"%s\" names no entry", victim);
	if (ap->whiteouts == IMAGED_WHITEOUT_OVERLAY) {
		int pfd = parent_fd(ap, name, dir, err);
		if (pfd < 0)
			return -1;
		if (make_room(ap, name, pfd, victim, false, NULL, err) < 0)
			return -1;
		if (mknodat(pfd, victim, S_IFCHR | 0000, makedev(0, 0)) < 0)
			return entry_errno(err, errno, ap, name, "create whiteout");
		return 0;
	}
	br_err werr = BR_ERR_INIT;
	_cleanup_close_ int fd = walk(ap, name, dir, false, &werr);
	if (fd < 0) {
		if (werr.code == BR_NOT_FOUND)
			return 0; /* nothing there to delete */
		br_err_copy(err, &werr);
		return -1;
	}
	drop_cache(ap);
	if (br_rm_rf_at(fd, victim, err) < 0) {
		char q[QUOTE_MAX + 8];
		return br_err_wrap(err, "layer %s: entry \"%s\"", ap->layer, quote(q, name));
	}
	return 0;
}

static int
apply_entry(struct apply *ap, struct archive_entry *e, br_err *err)
{
	const char *name = archive_entry_pathname(e);
	const char *link = archive_entry_hardlink(e);
	int rc;

	if (name == NULL)
		return br_err_set(err, BR_INVALID_ARGUMENT,
		                  "layer %s: entry %llu: the name cannot be read", ap->layer,
		                  (unsigned long long)ap->res.entries);
	if (strlen(name) > IMAGED_LAYER_MAX_PATH)
		return entry_fail(err, BR_INVALID_ARGUMENT, ap, name, "name longer than %d bytes",
		                  IMAGED_LAYER_MAX_PATH);
	_cleanup_free_ char *path = imaged_layer_path_normalize(name);
	if (path == NULL)
		return entry_fail(err, BR_INVALID_ARGUMENT, ap, name,
		                  "path escapes the layer root");
	if (path[0] == '\0')
		return 0; /* the root itself: its attributes belong to the snapshot */
	_cleanup_free_ char *parent = xstrdup(path);
	char *slash = strrchr(parent, '/');
	const char *base = slash != NULL ? slash + 1 : parent;
	if (slash != NULL)
		*slash = '\0';
	const char *dir = slash != NULL ? parent : "";

	if (strncmp(base, WHITEOUT_PREFIX, strlen(WHITEOUT_PREFIX)) == 0)
		return apply_whiteout(ap, name, dir, base, err);

	int pfd = parent_fd(ap, name, dir, err);
	if (pfd < 0)
		return -1;
	if (link != NULL) {
		rc = write_hardlink(ap, name, path, pfd, base, link, err);
	} else {
		switch (archive_entry_filetype(e)) {
		case AE_IFREG:
			rc = write_file(ap, name, pfd, base, e, err);
			break;
		case AE_IFDIR:
			rc = write_dir(ap, name, path, pfd, base, e, err);
			break;
		case AE_IFLNK:
			rc = write_symlink(ap, name, pfd, base, e, err);
			break;
		case AE_IFIFO:
		case AE_IFCHR:
		case AE_IFBLK:
			rc = write_special(ap, name, pfd, base, e, err);
			break;
		default:
			return entry_fail(err, BR_INVALID_ARGUMENT, ap, name,
			                  "unsupported entry type 0%o",
			                  (unsigned)archive_entry_filetype(e));
		}
	}
	if (rc < 0)
		return -1;
	mark_written(ap, path);
	return 0;
}

/* Directory times, set once nothing more is written into them, in the order they were
 * recorded: a directory listed twice, or created as an implicit parent and listed later,
 * takes the times of its last listing, as it takes its mode and owner. A directory that a
 * later entry removed or replaced is skipped. */
static int
finish_dirs(struct apply *ap, br_err *err)
{
	for (size_t i = 0; i < ap->n_dirs; i++) {
		struct dir_time *d = &ap->dirs[i];
		br_err ignored = BR_ERR_INIT;
		_cleanup_close_ int pathfd = walk(ap, d->path, d->path, false, &ignored);
		if (pathfd < 0)
			continue;
		_cleanup_close_ int fd = openat(pathfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0)
			continue;
		if (futimens(fd, d->times) < 0)
			return entry_errno(err, errno, ap, d->path, "set times");
	}
	return 0;
}

static int
apply_run(struct apply *ap, int compression, br_err *err)
{
	struct archive_entry *entry;
	int r;

	if (open_lowers(ap, err) < 0 || open_streams(ap, compression, err) < 0)
		return -1;
	for (;;) {
		r = archive_read_next_header(ap->tar, &entry);
		if (r == ARCHIVE_EOF)
			break;
		if (r < ARCHIVE_WARN)
			return stream_error(ap, ap->tar, "read tar", err);
		if (++ap->res.entries > ap->max_entries)
			return br_err_set(err, BR_RESOURCE_EXHAUSTED,
			                  "layer %s: more than %llu entries", ap->layer,
			                  (unsigned long long)ap->max_entries);
		if (apply_entry(ap, entry, err) < 0)
			return -1;
	}
	if (finish_dirs(ap, err) < 0 || drain_streams(ap, err) < 0)
		return -1;
	if (ap->blob_hash != NULL)
		br_sha256_final(ap->blob_hash, ap->res.digest);
	br_sha256_final(ap->diff_hash, ap->res.diff_id);
	ap->res.size = ap->blob_size;
	ap->res.tar_size = ap->tar_size;
	return 0;
}

int
imaged_apply_layer(int root_fd, imaged_source_fn source, void *source_data,
                   const struct imaged_apply_opts *opts, struct imaged_apply_result *ret,
                   br_err *err)
{
	struct apply ap = {
	        .root_fd = root_fd,
	        .layer = opts->layer != NULL ? opts->layer : "(unnamed)",
	        .whiteouts = opts->whiteouts,
	        .max_entries = opts->max_entries ? opts->max_entries : IMAGED_LAYER_MAX_ENTRIES,
	        .max_bytes = opts->max_bytes ? opts->max_bytes : IMAGED_LAYER_MAX_BYTES,
	        .is_root = geteuid() == 0,
	        .source = source,
	        .source_data = source_data,
	        .blob_hash = opts->blob_checked ? NULL : br_sha256_new(),
	        .diff_hash = br_sha256_new(),
	        .cached_fd = -1,
	};
	if (opts->whiteouts == IMAGED_WHITEOUT_OVERLAY) {
		ap.lower_dirs = opts->lower_dirs;
		ap.n_lower = opts->n_lower_dirs;
		ap.record_implied = opts->implied != NULL;
	}
	int rc = apply_run(&ap, opts->compression, err);

	if (rc == 0)
		*ret = ap.res;
	if (rc == 0 && ap.record_implied) {
		/* Those listed later in the layer took the listing's attributes. */
		size_t kept = 0;
		for (size_t i = 0; i < ap.implied.n; i++) {
			if (path_set_has(&ap.listed, ap.implied.paths[i]))
				free(ap.implied.paths[i]);
			else
				ap.implied.paths[kept++] = ap.implied.paths[i];
		}
		ap.implied.n = kept;
		*opts->implied = ap.implied;
		ap.implied = (struct imaged_implied_dirs){0};
	}
	imaged_implied_dirs_fini(&ap.implied);
	path_set_fini(&ap.listed);
	if (ap.tar != NULL)
		archive_read_free(ap.tar);
	if (ap.filter != NULL)
		archive_read_free(ap.filter);
	free(ap.chunk);
	br_sha256_free(ap.blob_hash);
	br_sha256_free(ap.diff_hash);
	drop_cache(&ap);
	for (size_t i = 0; i < ap.n_dirs; i++)
		free(ap.dirs[i].path);
	free(ap.dirs);
	path_set_fini(&ap.written);
	path_set_fini(&ap.pruned);
	close_lowers(&ap);
	return rc;
}

void
imaged_implied_dirs_fini(struct imaged_implied_dirs *dirs)
{
	for (size_t i = 0; i < dirs->n; i++)
		free(dirs->paths[i]);
	free(dirs->paths);
	dirs->paths = NULL;
	dirs->n = 0;
}

int
imaged_apply_implied_dirs(int root_fd, const struct imaged_implied_dirs *dirs,
                          const char *const *lower_dirs, size_t n_lower, const char *layer,
                          br_err *err)
{
	struct apply ap = {
	        .root_fd = root_fd,
	        .layer = layer,
	        .whiteouts = IMAGED_WHITEOUT_OVERLAY,
	        .is_root = geteuid() == 0,
	        .lower_dirs = lower_dirs,
	        .n_lower = n_lower,
	        .cached_fd = -1,
	};
	int rc = open_lowers(&ap, err);

	for (size_t i = 0; rc == 0 && i < dirs->n; i++) {
		const char *path = dirs->paths[i];
		br_err ignored = BR_ERR_INIT;
		struct stat lower;
		_cleanup_close_ int pathfd = walk(&ap, path, path, false, &ignored);
		if (pathfd < 0)
			continue; /* replaced or removed by a later entry */
		_cleanup_close_ int fd = openat(pathfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0)
			continue;
		int found = lower_lookup(&ap, path, path, &lower, err);
		if (found < 0) {
			rc = -1;
			break;
		}
		if (found == 0)
			continue;
		const struct timespec times[2] = {lower.st_atim, lower.st_mtim};
		if (copy_lower_attrs(&ap, path, fd, path, &lower, err) < 0)
			rc = -1;
		else if (futimens(fd, times) < 0)
			rc = entry_errno(err, errno, &ap, path, "set times");
	}
	close_lowers(&ap);
	return rc;
}

int
imaged_apply_verify(const struct imaged_apply_result *res, const char *layer, const char *digest,
                    const char *diff_id, br_err *err)
{
	if (digest != NULL && strcmp(res->digest, digest) != 0)
		return br_err_set(err, BR_FAILED_PRECONDITION,
		                  "layer %s: digest mismatch: the manifest says %s, the data is %s",
		                  layer, digest, res->digest);
	if (strcmp(res->diff_id, diff_id) != 0)
		return br_err_set(err, BR_FAILED_PRECONDITION,
		                  "layer %s: diffID mismatch: the image config says %s, the "
		                  "layer's content is %s",
		                  layer, diff_id, res->diff_id);
	return 0;
}
