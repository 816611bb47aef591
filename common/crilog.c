/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The CRI log format: records, the rotating writer the shim uses and the cursor reader taskd
 * uses. The writer formats a chunk's records into one buffer and writes them with as few
 * write(2) calls as it can (no fsync: a crash loses at most what the kernel had not written);
 * the reader takes only whole lines, so a record being written is never half read.
 * See crilog.h for the format and the cursor.
 */
#include "common/crilog.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/xalloc.h"

#define WRITE_BUF_MAX (64 * 1024)
#define NAME_MAX_LEN 32

/* ------------------------------------------------------------------ records */

size_t
br_crilog_format_time(int64_t ns, char *buf)
{
	time_t secs = (time_t)(ns / 1000000000);
	long frac = (long)(ns % 1000000000);
	struct tm tm;

	if (frac < 0) {
		frac += 1000000000;
		secs--;
	}
	gmtime_r(&secs, &tm);
	return (size_t)snprintf(buf, BR_CRILOG_TIME_LEN + 1, "%04d-%02d-%02dT%02d:%02d:%02d.%09ldZ",
	                        tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
	                        tm.tm_sec, frac);
}

/* Read exactly n digits at *p; -1 when they are not there. */
static int
digits(const char **p, const char *end, int n)
{
	int v = 0;

	for (int i = 0; i < n; i++, (*p)++) {
		if (*p >= end || **p < '0' || **p > '9')
			return -1;
		v = v * 10 + (**p - '0');
	}
	return v;
}

static bool
expect(const char **p, const char *end, char c)
{
	if (*p >= end || (**p != c && !(c == 'T' && (**p == 't' || **p == ' '))))
		return false;
	(*p)++;
	return true;
}

int
br_crilog_parse_time(const char *s, size_t len, int64_t *ret_ns, br_err *err)
{
	const char *p = s, *end = s + len;
	struct tm tm = {0};
	int64_t frac = 0;
	int offset_s = 0;
	int year, mon, day, hour, min, sec;

	year = digits(&p, end, 4);
	if (year < 0 || !expect(&p, end, '-') || (mon = digits(&p, end, 2)) < 1 || mon > 12 ||
	    !expect(&p, end, '-') || (day = digits(&p, end, 2)) < 1 || day > 31 ||
	    !expect(&p, end, 'T') || (hour = digits(&p, end, 2)) < 0 || hour > 23 ||
	    !expect(&p, end, ':') || (min = digits(&p, end, 2)) < 0 || min > 59 ||
	    !expect(&p, end, ':') || (sec = digits(&p, end, 2)) < 0 || sec > 60)
		goto bad;
	if (p < end && *p == '.') {
		int n = 0;
		for (p++; p < end && *p >= '0' && *p <= '9'; p++, n++)
			if (n < 9)
				frac = frac * 10 + (*p - '0');
		if (n == 0)
			goto bad;
		for (; n < 9; n++)
			frac *= 10;
	}
	if (p < end && (*p == 'Z' || *p == 'z')) {
		p++;
	} else if (p < end && (*p == '+' || *p == '-')) {
		int sign = *p++ == '-' ? -1 : 1;
		int oh = digits(&p, end, 2), om;
		if (oh < 0 || oh > 23 || !expect(&p, end, ':') || (om = digits(&p, end, 2)) < 0 ||
		    om > 59)
			goto bad;
		offset_s = sign * (oh * 3600 + om * 60);
	} else {
		goto bad;
	}
	if (p != end)
		goto bad;
	tm.tm_year = year - 1900;
	tm.tm_mon = mon - 1;
	tm.tm_mday = day;
	tm.tm_hour = hour;
	tm.tm_min = min;
	tm.tm_sec = sec;
	int64_t secs = (int64_t)timegm(&tm) - offset_s;
	/* nanoseconds in an int64: 1677 to 2262 */
	if (secs <= INT64_MIN / 1000000000 || secs >= INT64_MAX / 1000000000)
		goto bad;
	*ret_ns = secs * 1000000000 + frac;
	return 0;
bad:
	return br_err_set(err, BR_INVALID_ARGUMENT, "\"%.*s\": not an RFC 3339 time",
	                  (int)(len < 64 ? len : 64), s);
}

int
br_crilog_parse_line(const char *line, size_t len, struct br_crilog_line *ret, br_err *err)
{
	const char *end = line + len;
	const char *sp = memchr(line, ' ', len);
	struct br_crilog_line l = {.time = line};

	if (sp == NULL)
		goto bad;
	l.time_len = (size_t)(sp - line);
	if (br_crilog_parse_time(line, l.time_len, &l.time_ns, err) < 0)
		return -1;
	const char *stream = sp + 1;
	if ((size_t)(end - stream) >= 8 && memcmp(stream, "stdout ", 7) == 0)
		l.stream = BR_CRILOG_STDOUT;
	else if ((size_t)(end - stream) >= 8 && memcmp(stream, "stderr ", 7) == 0)
		l.stream = BR_CRILOG_STDERR;
	else
		goto bad;
	const char *tag = stream + 7;
	if (*tag != 'F' && *tag != 'P')
		goto bad;
	l.partial = *tag == 'P';
	if (tag + 1 == end) {
		l.content = end;
	} else if (tag[1] == ' ') {
		l.content = tag + 2;
	} else {
		goto bad;
	}
	l.len = (size_t)(end - l.content);
	*ret = l;
	return 0;
bad:
	return br_err_set(err, BR_INVALID_ARGUMENT, "malformed log record");
}

/* ------------------------------------------------------------------ writer */

static void
rotated_name(char *buf, int k)
{
	snprintf(buf, NAME_MAX_LEN, BR_CRILOG_CURRENT ".%d", k);
}

static int
open_current(struct br_crilog_writer *w, br_err *err)
{
	struct stat st;

	w->fd = openat(w->dirfd, BR_CRILOG_CURRENT,
	               O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0640);
	if (w->fd < 0 || fstat(w->fd, &st) < 0)
		return br_err_errno(err, BR_INTERNAL, errno, "open " BR_CRILOG_CURRENT);
	w->size = st.st_size;
	return 0;
}

int
br_crilog_writer_open(struct br_crilog_writer *w, int dirfd, int64_t max_size, int max_files,
                      br_err *err)
{
	char name[NAME_MAX_LEN];

	if (max_size < 4096 || max_files < 1 || max_files > BR_CRILOG_FILES_MAX)
		return br_err_set(err, BR_INVALID_ARGUMENT, "log cap %lld bytes x %d files",
		                  (long long)max_size, max_files);
	*w = (struct br_crilog_writer){
	        .dirfd = dirfd, .fd = -1, .max_size = max_size, .max_files = max_files};
	w->line_max = (size_t)(max_size / 4) < BR_CRILOG_LINE_MAX ? (size_t)(max_size / 4)
	                                                          : BR_CRILOG_LINE_MAX;
	for (int k = max_files; k <= BR_CRILOG_FILES_MAX; k++) {
		rotated_name(name, k);
		unlinkat(dirfd, name, 0);
	}
	return open_current(w, err);
}

static int
flush(struct br_crilog_writer *w, br_err *err)
{
	size_t done = 0;

	while (done < w->len) {
		ssize_t n = write(w->fd, w->buf + done, w->len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			w->len = 0;
			return br_err_errno(err, BR_INTERNAL, errno, "write " BR_CRILOG_CURRENT);
		}
		done += (size_t)n;
	}
	w->len = 0;
	return 0;
}

/* current.log becomes current.log.1, each older one moves up, the oldest goes. */
static int
rotate(struct br_crilog_writer *w, br_err *err)
{
	char from[NAME_MAX_LEN], to[NAME_MAX_LEN];

	if (flush(w, err) < 0)
		return -1;
	close(w->fd);
	w->fd = -1;
	if (w->max_files == 1) {
		unlinkat(w->dirfd, BR_CRILOG_CURRENT, 0);
	} else {
		rotated_name(to, w->max_files - 1);
		unlinkat(w->dirfd, to, 0);
		for (int k = w->max_files - 2; k >= 1; k--) {
			rotated_name(from, k);
			rotated_name(to, k + 1);
			if (renameat(w->dirfd, from, w->dirfd, to) < 0 && errno != ENOENT)
				return br_err_errno(err, BR_INTERNAL, errno, "rotate %s", from);
		}
		rotated_name(to, 1);
		if (renameat(w->dirfd, BR_CRILOG_CURRENT, w->dirfd, to) < 0)
			return br_err_errno(err, BR_INTERNAL, errno, "rotate " BR_CRILOG_CURRENT);
	}
	return open_current(w, err);
}

static int
add_record(struct br_crilog_writer *w, const char *stamp, size_t stamp_len,
           enum br_crilog_stream stream, bool partial, const char *content, size_t len, br_err *err)
{
	size_t need = stamp_len + 10 + len + 1; /* " stdout F " and the newline */

	if (w->fd < 0 && open_current(w, err) < 0)
		return -1;
	if (w->size > 0 && w->size + (int64_t)need > w->max_size && rotate(w, err) < 0)
		return -1;
	if (w->len + need > w->cap) {
		if (w->len > 0 && flush(w, err) < 0)
			return -1;
		if (need > w->cap) {
			w->cap = need > WRITE_BUF_MAX ? need : WRITE_BUF_MAX;
			w->buf = xrealloc(w->buf, w->cap);
		}
	}
	char *p = w->buf + w->len;
	memcpy(p, stamp, stamp_len);
	p += stamp_len;
	memcpy(p, stream == BR_CRILOG_STDOUT ? " stdout " : " stderr ", 8);
	p += 8;
	*p++ = partial ? 'P' : 'F';
	*p++ = ' ';
	memcpy(p, content, len);
	p += len;
	*p++ = '\n';
	w->len += need;
	w->size += (int64_t)need;
	return 0;
}

int
br_crilog_writer_append(struct br_crilog_writer *w, enum br_crilog_stream stream, const char *data,
                        size_t len, int64_t now_ns, br_err *err)
{
	char stamp[BR_CRILOG_TIME_LEN + 1];
	size_t stamp_len = br_crilog_format_time(now_ns, stamp);

	while (len > 0) {
		const char *nl = memchr(data, '\n', len < w->line_max ? len : w->line_max);
		size_t take, content;
		bool partial;
		if (nl != NULL) {
			content = (size_t)(nl - data);
			take = content + 1;
			partial = false;
		} else {
			content = take = len < w->line_max ? len : w->line_max;
			partial = true;
		}
		if (add_record(w, stamp, stamp_len, stream, partial, data, content, err) < 0)
			return -1;
		data += take;
		len -= take;
	}
	return flush(w, err);
}

void
br_crilog_writer_close(struct br_crilog_writer *w)
{
	br_err ignored = BR_ERR_INIT;

	if (w->fd >= 0) {
		flush(w, &ignored);
		close(w->fd);
	}
	w->fd = -1;
	free(w->buf);
	w->buf = NULL;
	w->len = w->cap = 0;
}

/* ------------------------------------------------------------------ reader */

struct log_file {
	char name[NAME_MAX_LEN];
	int64_t ino;
};

/* The files, oldest first; returns how many. */
static size_t
list_files(int dirfd, struct log_file *files)
{
	size_t n = 0;
	struct stat st;

	for (int k = BR_CRILOG_FILES_MAX; k >= 0; k--) {
		char name[NAME_MAX_LEN];
		if (k == 0)
			snprintf(name, sizeof(name), BR_CRILOG_CURRENT);
		else
			rotated_name(name, k);
		if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
			continue;
		memcpy(files[n].name, name, sizeof(name));
		files[n].ino = (int64_t)st.st_ino;
		n++;
	}
	return n;
}

/* Open a listed file; 1 when it is no longer that file (rotated meanwhile: list again). */
static int
open_listed(int dirfd, const struct log_file *f, int *ret_fd, int64_t *ret_size, br_err *err)
{
	struct stat st;
	int fd = openat(dirfd, f->name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0)
		return errno == ENOENT ? 1
		                       : br_err_errno(err, BR_INTERNAL, errno, "open %s", f->name);
	if (fstat(fd, &st) < 0 || (int64_t)st.st_ino != f->ino) {
		close(fd);
		return 1;
	}
	*ret_fd = fd;
	*ret_size = st.st_size;
	return 0;
}

static ssize_t
pread_full(int fd, uint8_t *buf, size_t len, int64_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pread(fd, buf + done, len - done, off + (int64_t)done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			break;
		done += (size_t)n;
	}
	return (ssize_t)done;
}

/* One pass over a listing; 1: a file changed under us, list again. */
static int
read_pass(int dirfd, const struct br_crilog_cursor *from, size_t max, uint8_t *buf, size_t *ret_len,
          struct br_crilog_cursor *ret_next, bool *ret_at_end, br_err *err)
{
	struct log_file files[BR_CRILOG_FILES_MAX + 1];
	size_t n = list_files(dirfd, files), idx = 0, len = 0;
	struct br_crilog_cursor at = {0, 0};

	*ret_len = 0;
	*ret_next = *from;
	*ret_at_end = true;
	if (n == 0)
		return 0;
	if (from->file_id != 0) {
		for (size_t i = 0; i < n; i++) {
			if (files[i].ino == from->file_id) {
				idx = i;
				at = *from;
				break;
			}
		}
	}
	/* A cursor whose file is gone (rotated past the cap) resumes at the oldest file. */
	if (at.file_id == 0)
		at = (struct br_crilog_cursor){files[0].ino, 0};
	for (;;) {
		_cleanup_close_ int fd = -1;
		int64_t size = 0;
		int rc = open_listed(dirfd, &files[idx], &fd, &size, err);
		if (rc != 0)
			return rc;
		if (at.offset > size)
			at.offset = 0; /* not the file the cursor knew */
		size_t want = (size_t)(size - at.offset) < max - len ? (size_t)(size - at.offset)
		                                                     : max - len;
		ssize_t got = pread_full(fd, buf + len, want, at.offset);
		if (got < 0)
			return br_err_errno(err, BR_INTERNAL, errno, "read %s", files[idx].name);
		size_t whole = (size_t)got;
		while (whole > 0 && buf[len + whole - 1] != '\n')
			whole--;
		if (whole == 0 && (size_t)got == max - len && len == 0)
			whole = (size_t)got; /* no newline in a whole read: not a record, pass it */
		len += whole;
		at.offset += (int64_t)whole;
		*ret_len = len;
		*ret_next = at;
		if (at.offset < size) {
			*ret_at_end = false;
			return 0;
		}
		if (idx + 1 == n)
			return 0;
		/* That file is complete: a newer one exists only once it was rotated. */
		idx++;
		at = (struct br_crilog_cursor){files[idx].ino, 0};
		*ret_next = at;
		if (len == max) {
			*ret_at_end = false;
			return 0;
		}
	}
}

int
br_crilog_read(int dirfd, const struct br_crilog_cursor *from, size_t max, uint8_t **ret_data,
               size_t *ret_len, struct br_crilog_cursor *ret_next, bool *ret_at_end, br_err *err)
{
	uint8_t *buf = xmalloc(max > 0 ? max : 1);

	for (int attempt = 0; attempt < 8; attempt++) {
		size_t len = 0;
		struct br_crilog_cursor next;
		bool at_end;
		int rc =
		        dirfd < 0 ? 0 : read_pass(dirfd, from, max, buf, &len, &next, &at_end, err);
		if (dirfd < 0) {
			len = 0;
			next = *from;
			at_end = true;
		}
		if (rc < 0) {
			free(buf);
			return -1;
		}
		if (rc > 0)
			continue;
		if (len == 0) {
			free(buf);
			buf = NULL;
		}
		*ret_data = buf;
		*ret_len = len;
		*ret_next = next;
		*ret_at_end = at_end;
		return 0;
	}
	free(buf);
	return br_err_set(err, BR_UNAVAILABLE, "the log kept rotating while it was read");
}

/* Read a listed file whole (at most BR_CRILOG_SCAN_MAX bytes, its end). */
static int
slurp(int dirfd, const struct log_file *f, uint8_t **ret, size_t *ret_len, int64_t *ret_base,
      br_err *err)
{
	_cleanup_close_ int fd = -1;
	int64_t size = 0;
	int rc = open_listed(dirfd, f, &fd, &size, err);

	if (rc != 0)
		return rc;
	int64_t base = size > BR_CRILOG_SCAN_MAX ? size - BR_CRILOG_SCAN_MAX : 0;
	uint8_t *buf = xmalloc((size_t)(size - base) + 1);
	ssize_t got = pread_full(fd, buf, (size_t)(size - base), base);
	if (got < 0) {
		free(buf);
		return br_err_errno(err, BR_INTERNAL, errno, "read %s", f->name);
	}
	*ret = buf;
	*ret_len = (size_t)got;
	*ret_base = base;
	return 0;
}

static bool
line_is_full(const uint8_t *line, size_t len)
{
	struct br_crilog_line l;
	br_err ignored = BR_ERR_INIT;

	return br_crilog_parse_line((const char *)line, len, &l, &ignored) == 0 && !l.partial;
}

/* Where the last `tail` full lines begin: 1 and *ret when found in files[0..n), 0 when the
 * log has fewer (start at the beginning). */
static int
seek_tail(int dirfd, const struct log_file *files, size_t n, int64_t tail,
          struct br_crilog_cursor *ret, br_err *err)
{
	int64_t count = 0;

	for (size_t i = n; i-- > 0;) {
		uint8_t *buf = NULL;
		size_t len = 0;
		int64_t base = 0;
		int rc = slurp(dirfd, &files[i], &buf, &len, &base, err);
		if (rc != 0)
			return rc < 0 ? -1 : 2;
		while (len > 0 && buf[len - 1] != '\n')
			len--; /* a record being written */
		size_t end = len;
		while (end > 0) {
			size_t start = end - 1;
			while (start > 0 && buf[start - 1] != '\n')
				start--;
			if (line_is_full(buf + start, end - 1 - start) && ++count > tail) {
				*ret = (struct br_crilog_cursor){files[i].ino, base + (int64_t)end};
				free(buf);
				return 1;
			}
			end = start;
		}
		free(buf);
	}
	return 0;
}

/* Where the first record at or after since_ns is; the end of the log when none is. */
static int
seek_since(int dirfd, const struct log_file *files, size_t n, int64_t since_ns,
           struct br_crilog_cursor *ret, br_err *err)
{
	for (size_t i = 0; i < n; i++) {
		uint8_t *buf = NULL;
		size_t len = 0;
		int64_t base = 0;
		int rc = slurp(dirfd, &files[i], &buf, &len, &base, err);
		if (rc != 0)
			return rc < 0 ? -1 : 2;
		for (size_t start = 0; start < len;) {
			uint8_t *nl = memchr(buf + start, '\n', len - start);
			if (nl == NULL)
				break;
			size_t end = (size_t)(nl - buf);
			struct br_crilog_line l;
			br_err ignored = BR_ERR_INIT;
			if (br_crilog_parse_line((const char *)buf + start, end - start, &l,
			                         &ignored) == 0 &&
			    l.time_ns >= since_ns) {
				*ret = (struct br_crilog_cursor){files[i].ino,
				                                 base + (int64_t)start};
				free(buf);
				return 1;
			}
			start = end + 1;
		}
		*ret = (struct br_crilog_cursor){files[i].ino, base + (int64_t)len};
		free(buf);
	}
	return 0;
}

int
br_crilog_seek(int dirfd, int64_t tail, int64_t since_ns, struct br_crilog_cursor *ret, br_err *err)
{
	for (int attempt = 0; attempt < 8; attempt++) {
		struct log_file files[BR_CRILOG_FILES_MAX + 1];
		size_t n = dirfd < 0 ? 0 : list_files(dirfd, files);
		struct br_crilog_cursor by_tail = {0, 0}, by_since = {0, 0};
		size_t tail_idx = 0, since_idx = 0;
		int rc = 0;

		if (n == 0) {
			*ret = (struct br_crilog_cursor){0, 0};
			return 0;
		}
		by_tail = by_since = (struct br_crilog_cursor){files[0].ino, 0};
		if (tail >= 0)
			rc = seek_tail(dirfd, files, n, tail, &by_tail, err);
		if (rc >= 0 && rc != 2 && since_ns > 0)
			rc = seek_since(dirfd, files, n, since_ns, &by_since, err);
		if (rc < 0)
			return -1;
		if (rc == 2)
			continue;
		for (size_t i = 0; i < n; i++) {
			if (files[i].ino == by_tail.file_id)
				tail_idx = i;
			if (files[i].ino == by_since.file_id)
				since_idx = i;
		}
		/* Both bounds hold: start at the later of the two. */
		if (since_idx > tail_idx ||
		    (since_idx == tail_idx && by_since.offset > by_tail.offset))
			*ret = by_since;
		else
			*ret = by_tail;
		return 0;
	}
	return br_err_set(err, BR_UNAVAILABLE, "the log kept rotating while it was read");
}
