/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Container logs in the CRI format (kubernetes' kubelet-cri-logging): one line per record,
 *
 *   2026-11-27T15:04:05.123456789Z stdout F the line's content
 *
 * time (RFC 3339, UTC, nanoseconds), stream ("stdout" | "stderr"), tag ("F" for a full line,
 * "P" for a part of a line: a line longer than the maximum, or output that did not end in a
 * newline when it was read; a reader joins P parts up to the next F) and the content without its
 * newline. A container's log is a directory with `current.log`, which the writer appends to,
 * and up to max_files - 1 older files `current.log.1` (newest) .. `current.log.N` (oldest),
 * rotated by renaming when current.log would pass max_size, so no file passes the cap and the
 * whole log stays under max_size * max_files.
 *
 * A reader's position is a cursor {file_id, offset}: the inode of the file it read last and the
 * byte after the last whole line it took. Rotation renames files, so the inode follows a file
 * to its new name and a reader continues without losing or repeating a line; the files
 * persist, so a cursor stays good across restarts of the reader. A cursor whose file was
 * rotated away resumes at the oldest file.
 *
 * The writer is used by berth-shim (one thread), the reader by taskd's workers (one call per
 * read, no shared state); br_crilog_parse_* by anyone. Nothing here is thread-safe on one
 * writer.
 */
#ifndef BR_COMMON_CRILOG_H
#define BR_COMMON_CRILOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define BR_CRILOG_CURRENT "current.log"
#define BR_CRILOG_LINE_MAX 16384       /* content bytes per record; longer lines go in P parts */
#define BR_CRILOG_FILES_MAX 64         /* upper bound of max_files */
#define BR_CRILOG_TIME_LEN 30          /* "2026-11-27T15:04:05.123456789Z" */
#define BR_CRILOG_SCAN_MAX (256 << 20) /* bytes of one file read whole by br_crilog_seek */

enum br_crilog_stream {
	BR_CRILOG_STDOUT = 0,
	BR_CRILOG_STDERR = 1,
};

/* One parsed record, pointing into the caller's buffer. */
struct br_crilog_line {
	int64_t time_ns;
	const char *time; /* the time as written */
	size_t time_len;
	enum br_crilog_stream stream;
	bool partial; /* tag P */
	const char *content;
	size_t len;
};

/* Write `ns` (since the epoch) as RFC 3339 UTC with nine fraction digits into buf (at least
 * BR_CRILOG_TIME_LEN + 1 bytes); returns the length. */
size_t br_crilog_format_time(int64_t ns, char *buf);
/* Parse an RFC 3339 time ("2026-11-27T15:04:05Z", an optional fraction, "Z" or "+hh:mm");
 * INVALID_ARGUMENT when it is not one. */
int br_crilog_parse_time(const char *s, size_t len, int64_t *ret_ns, br_err *err);
/* Parse one record (without its newline); INVALID_ARGUMENT for a malformed one. */
int br_crilog_parse_line(const char *line, size_t len, struct br_crilog_line *ret, br_err *err);

struct br_crilog_writer {
	int dirfd; /* borrowed; the log directory */
	int fd;    /* current.log, O_APPEND; -1 when closed */
	int64_t size;
	int64_t max_size;
	int max_files;
	size_t line_max; /* content bytes per record: BR_CRILOG_LINE_MAX or less for a small cap */
	char *buf;       /* records formatted and not yet written */
	size_t len, cap;
};

/* Open (or continue) current.log in dirfd. max_size >= 4096, 1 <= max_files <=
 * BR_CRILOG_FILES_MAX; files past max_files - 1 (from a larger setting) are removed. */
int br_crilog_writer_open(struct br_crilog_writer *w, int dirfd, int64_t max_size, int max_files,
                          br_err *err);
/* Append a chunk of one stream's output as records stamped `now_ns`: each line ending in a
 * newline as F, a tail without one as P, longer lines cut into P parts. Rotates before a
 * record that would take current.log past max_size. No fsync. On a write error (a full disk)
 * the chunk is dropped and -1 returned; the next call tries again. */
int br_crilog_writer_append(struct br_crilog_writer *w, enum br_crilog_stream stream,
                            const char *data, size_t len, int64_t now_ns, br_err *err);
void br_crilog_writer_close(struct br_crilog_writer *w);

struct br_crilog_cursor {
	int64_t file_id; /* inode of the file; 0: the start of the log */
	int64_t offset;
};

/* Read whole records after `from`, at most `max` bytes, continuing into newer files. On
 * success *ret_data (malloc'd, NULL when empty), *ret_len, *ret_next (the cursor after them)
 * and *ret_at_end (nothing more was there to read) are written. A missing directory is an
 * empty log. */
int br_crilog_read(int dirfd, const struct br_crilog_cursor *from, size_t max, uint8_t **ret_data,
                   size_t *ret_len, struct br_crilog_cursor *ret_next, bool *ret_at_end,
                   br_err *err);
/* The cursor where a reader of the last `tail` full lines (tail < 0: all) of the records at or
 * after `since_ns` (0: any) starts. */
int br_crilog_seek(int dirfd, int64_t tail, int64_t since_ns, struct br_crilog_cursor *ret,
                   br_err *err);

#endif
